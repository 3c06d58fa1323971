// SPDX-License-Identifier: Apache-2.0
// Background workers (see include/boxoffice/worker.h). A kick that arrives while a round runs is
// remembered, so the next round starts at once: no wake-up is ever lost.
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "boxoffice/base.h"
#include "boxoffice/worker.h"

struct bx_worker {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    bool kicked;
    _Atomic bool quit;
    bx_worker_round_fn round;
    void *arg;
};

static struct timespec deadline_after(int64_t ms) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static void *worker_main(void *arg) {
    struct bx_worker *w = arg;
    while (!atomic_load(&w->quit)) {
        int64_t wait_ms = w->round(w->arg);
        pthread_mutex_lock(&w->mu);
        if (wait_ms > 0 && !w->kicked) {
            struct timespec until = deadline_after(wait_ms);
            while (!w->kicked && !atomic_load(&w->quit) &&
                   pthread_cond_timedwait(&w->cv, &w->mu, &until) == 0) {
            }
        }
        w->kicked = false;
        pthread_mutex_unlock(&w->mu);
    }
    return NULL;
}

struct bx_worker *bx_worker_start(bx_worker_round_fn round, void *arg, struct bx_error *err) {
    struct bx_worker *w = calloc(1, sizeof *w);
    if (w == NULL) {
        bx_error_set(err, BX_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    w->round = round;
    w->arg = arg;
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        free(w);
        bx_error_set(err, BX_INTERNAL, NULL, "cannot start a worker thread");
        return NULL;
    }
    return w;
}

void bx_worker_kick(struct bx_worker *w) {
    if (w == NULL) {
        return;
    }
    pthread_mutex_lock(&w->mu);
    w->kicked = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

bool bx_worker_stopping(struct bx_worker *w) {
    return w != NULL && atomic_load(&w->quit);
}

void bx_worker_stop(struct bx_worker *w) {
    if (w == NULL) {
        return;
    }
    pthread_mutex_lock(&w->mu);
    atomic_store(&w->quit, true);
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}
