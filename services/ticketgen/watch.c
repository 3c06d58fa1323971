// SPDX-License-Identifier: Apache-2.0
// Service-mode triggers and the rendering workers.
//  - File store: an inotify watch on <root>/orders (IN_CLOSE_WRITE, IN_MOVED_TO: the backend puts
//    by rename), set up before the startup rescan so no document falls between the two; a rescan
//    every BOXOFFICE_TICKETGEN_RESCAN_S, and at once when the kernel's event queue overflowed or
//    the watch was lost. Dot-files (the backend's temporary names) are ignored.
//  - S3 store: the same rescan is the poll (S3 notifications go to Lambda, not to this process).
// A rescan lists orders/ page by page and heads each document; a (key, etag) pair already seen
// here or recorded in the order's kv record is skipped, and a cancelled order that was processed
// is never headed again (cancellation is final). So a rescan costs one list call per 1000 orders
// and one head per open order, and nothing written while the service was down is missed.
// Workers: BOXOFFICE_TICKETGEN_WORKERS threads, each with its own renderer; an order key always
// goes to the same worker (hash), so one order is never processed twice at once in a process.
// Queues are bounded (TG_QUEUE_MAX): a full queue makes the watcher wait (backpressure).
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boxoffice/base.h"
#include "boxoffice/log.h"
#include "ticketgen.h"

#define SEEN_SLOTS   (1 << 16) /* remembered (key, etag) pairs; a miss costs one kv read */
#define POLL_MS      500       /* the longest a thread waits before looking at the stop flag */
#define INOTIFY_BUF  (64 * 1024)
#define LIST_PAGE    BX_OBJECTS_LIST_MAX
#define WATCH_EVENTS (IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF)

struct queue {
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    char *keys[TG_QUEUE_MAX]; /* owned; a ring */
    size_t head, n;
};

struct worker {
    pthread_t thread;
    struct queue q;
    struct tg_renderer *r;
    bool started;
};

static struct {
    struct worker *workers;
    size_t n_workers;
    pthread_t watcher;
    bool watcher_started;
    atomic_bool stop;
    int fd, wd; /* inotify, -1 when not watching */
    char dir[1024];
    /* direct-mapped tables of 64-bit hashes: seen[(key, etag)] and final[key] (cancelled, done) */
    _Atomic uint64_t seen[SEEN_SLOTS], final[SEEN_SLOTS];
} W = {.fd = -1, .wd = -1};

static uint64_t hash2(const char *a, const char *b) {
    crypto_generichash_state st;
    uint64_t h = 0;
    crypto_generichash_init(&st, NULL, 0, sizeof h);
    crypto_generichash_update(&st, (const unsigned char *)a, strlen(a) + 1);
    if (b != NULL) {
        crypto_generichash_update(&st, (const unsigned char *)b, strlen(b) + 1);
    }
    crypto_generichash_final(&st, (unsigned char *)&h, sizeof h);
    return h | 1; /* 0 marks an empty slot */
}

static bool table_has(_Atomic uint64_t *t, uint64_t h) {
    return atomic_load_explicit(&t[h % SEEN_SLOTS], memory_order_relaxed) == h;
}

static void table_put(_Atomic uint64_t *t, uint64_t h) {
    atomic_store_explicit(&t[h % SEEN_SLOTS], h, memory_order_relaxed);
}

/* ---- queues */

static size_t worker_of(const char *key) {
    return (size_t)(hash2(key, NULL) % W.n_workers);
}

/* Queues key for its worker unless it is already waiting there; waits while the queue is full.
 * False when stopping. */
static bool enqueue(const char *key) {
    struct queue *q = &W.workers[worker_of(key)].q;
    pthread_mutex_lock(&q->mu);
    for (size_t i = 0; i < q->n; i++) {
        if (strcmp(q->keys[(q->head + i) % TG_QUEUE_MAX], key) == 0) {
            pthread_mutex_unlock(&q->mu);
            return true;
        }
    }
    while (q->n == TG_QUEUE_MAX && !atomic_load(&W.stop)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&q->not_full, &q->mu, &ts);
    }
    char *copy = atomic_load(&W.stop) ? NULL : strdup(key);
    if (copy != NULL) {
        q->keys[(q->head + q->n) % TG_QUEUE_MAX] = copy;
        q->n++;
        bx_metric_add(tg.m_queue, 1);
        pthread_cond_signal(&q->not_empty);
    }
    pthread_mutex_unlock(&q->mu);
    return copy != NULL;
}

static char *dequeue(struct queue *q) {
    pthread_mutex_lock(&q->mu);
    while (q->n == 0 && !atomic_load(&W.stop)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += POLL_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&q->not_empty, &q->mu, &ts);
    }
    char *key = NULL;
    if (q->n > 0 && !atomic_load(&W.stop)) {
        key = q->keys[q->head];
        q->keys[q->head] = NULL;
        q->head = (q->head + 1) % TG_QUEUE_MAX;
        q->n--;
        bx_metric_add(tg.m_queue, -1);
        pthread_cond_signal(&q->not_full);
    }
    pthread_mutex_unlock(&q->mu);
    return key;
}

static void *worker_main(void *arg) {
    struct worker *w = arg;
    char *key;
    while ((key = dequeue(&w->q)) != NULL) {
        struct bx_object_info info;
        struct bx_error err = {0};
        memset(&info, 0, sizeof info);
        if (tg.objects.ops->head(tg.objects.ctx, key, &info, &err) == BX_OK &&
            info.etag[0] != '\0' && table_has(W.seen, hash2(key, info.etag))) {
            free(key); /* this version was handled already (a repeated event) */
            continue;
        }
        char etag[sizeof info.etag];
        bool final = false;
        enum tg_outcome out = tg_process_key(w->r, key, etag, sizeof etag, &final);
        if (out != TG_RETRY && etag[0] != '\0') {
            table_put(W.seen, hash2(key, etag)); /* a rejected version is not read again */
        }
        if (final) {
            table_put(W.final, hash2(key, NULL)); /* cancelled: rescans need not head it again */
        }
        free(key);
    }
    return NULL;
}

/* ---- rescans */

/* "<order id>.json"; anything else in orders/ (dot-files: temporary names) is not ours. */
static bool is_order_name(const char *name) {
    char key[BX_OBJECT_KEY_MAX_BYTES + 1], id[TG_ID_MAX];
    return name[0] != '.' &&
           (size_t)snprintf(key, sizeof key, TG_ORDER_KEY_PREFIX "%s", name) < sizeof key &&
           tg_order_key_id(key, id);
}

/* Decides whether one listed key needs processing; queues it if so. False when stopping. */
static bool consider(const char *key) {
    if (table_has(W.final, hash2(key, NULL))) {
        return true;
    }
    struct bx_object_info info;
    struct bx_error err = {0};
    memset(&info, 0, sizeof info);
    enum bx_err e = tg.objects.ops->head(tg.objects.ctx, key, &info, &err);
    if (e != BX_OK) {
        if (e != BX_NOT_FOUND) {
            bx_warn("rescan: head %s: %s", key, bx_err_name(e));
        }
        return true;
    }
    uint64_t h = hash2(key, info.etag);
    if (info.etag[0] != '\0' && table_has(W.seen, h)) {
        return true;
    }
    char id[TG_ID_MAX];
    struct tg_order_rec rec;
    if (info.etag[0] != '\0' && tg_order_key_id(key, id) && tg_order_get(id, &rec) == BX_OK &&
        strcmp(rec.etag, info.etag) == 0) {
        table_put(W.seen, h); /* processed before (maybe by an earlier run) */
        if (rec.cancelled) {
            table_put(W.final, hash2(key, NULL));
        }
        return true;
    }
    return enqueue(key);
}

static void rescan(void) {
    int64_t t0 = bx_now_mono_ms();
    char after[BX_OBJECT_KEY_MAX_BYTES + 1] = "";
    size_t listed = 0;
    for (;;) {
        struct bx_object_list l = {0};
        struct bx_error err = {0};
        enum bx_err e = tg.objects.ops->list(tg.objects.ctx, TG_ORDER_KEY_PREFIX,
                                             after[0] ? after : NULL, LIST_PAGE, &l, &err);
        if (e != BX_OK) {
            bx_warn("rescan: listing %s failed: %s", TG_ORDER_KEY_PREFIX,
                    err.message[0] ? err.message : bx_err_name(e));
            return;
        }
        bool more = l.truncated && l.n > 0;
        for (size_t i = 0; i < l.n && !atomic_load(&W.stop); i++) {
            char id[TG_ID_MAX];
            if (tg_order_key_id(l.keys[i], id) && !consider(l.keys[i])) {
                break;
            }
        }
        listed += l.n;
        if (l.n > 0) {
            bx_strlcpy(after, l.keys[l.n - 1], sizeof after);
        }
        bx_objects_list_free(&l);
        if (!more || atomic_load(&W.stop)) {
            break;
        }
    }
    bx_debug("rescan: %zu order document(s) listed in %lld ms", listed,
             (long long)(bx_now_mono_ms() - t0));
}

/* ---- inotify */

static int mkdir_p(const char *dir) {
    char buf[sizeof W.dir];
    if (bx_strlcpy(buf, dir, sizeof buf) >= sizeof buf) {
        return -1;
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0700) != 0 && errno != EEXIST) {
                return -1;
            }
            *p = '/';
        }
    }
    return mkdir(buf, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

static void watch_add(void) {
    if (W.fd < 0 || W.wd >= 0) {
        return;
    }
    mkdir_p(W.dir);
    W.wd = inotify_add_watch(W.fd, W.dir, WATCH_EVENTS);
    if (W.wd < 0) {
        bx_warn("inotify on %s: %s (rescans every %llds still find new orders)", W.dir,
                strerror(errno), (long long)tg.rescan_s);
    }
}

/* Reads pending events; queues order documents. True when a rescan is needed now. */
static bool drain_events(void) {
    _Alignas(struct inotify_event) char buf[INOTIFY_BUF];
    bool need_rescan = false;
    for (;;) {
        ssize_t n = read(W.fd, buf, sizeof buf);
        if (n <= 0) {
            return need_rescan; /* EAGAIN: nothing more for now */
        }
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            p += sizeof *ev + ev->len;
            if (ev->mask & IN_Q_OVERFLOW) {
                bx_warn("inotify queue overflowed: rescanning");
                need_rescan = true;
            }
            if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
                W.wd = -1; /* the directory went away: watch again, then rescan */
                need_rescan = true;
                continue;
            }
            if (ev->len == 0 || !is_order_name(ev->name)) {
                continue;
            }
            char key[BX_OBJECT_KEY_MAX_BYTES + 1];
            if ((size_t)snprintf(key, sizeof key, TG_ORDER_KEY_PREFIX "%s", ev->name) <
                    sizeof key &&
                bx_object_key_valid(key)) {
                enqueue(key);
            }
        }
    }
}

static void *watcher_main(void *arg) {
    (void)arg;
    watch_add(); /* before the first rescan: anything written after it is seen by one of them */
    rescan();
    int64_t next = bx_now_mono_ms() + tg.rescan_s * 1000;
    while (!atomic_load(&W.stop)) {
        bool now = false;
        if (W.fd >= 0) {
            struct pollfd p = {.fd = W.fd, .events = POLLIN};
            if (poll(&p, 1, POLL_MS) > 0) {
                now = drain_events();
            }
            if (W.wd < 0) {
                watch_add();
            }
        } else {
            usleep(POLL_MS * 1000);
        }
        if (now || bx_now_mono_ms() >= next) {
            rescan();
            next = bx_now_mono_ms() + tg.rescan_s * 1000;
        }
    }
    return NULL;
}

enum bx_err tg_watch_start(struct bx_error *err) {
    W.n_workers = (size_t)tg.workers;
    BX_ASSERT(W.n_workers >= 1 && W.n_workers <= TG_WORKERS_MAX);
    W.workers = calloc(W.n_workers, sizeof *W.workers);
    if (W.workers == NULL) {
        return bx_error_set(err, BX_INTERNAL, NULL, "out of memory");
    }
    for (size_t i = 0; i < W.n_workers; i++) { /* all queues exist before anything can fail */
        struct worker *w = &W.workers[i];
        pthread_mutex_init(&w->q.mu, NULL);
        pthread_cond_init(&w->q.not_empty, NULL);
        pthread_cond_init(&w->q.not_full, NULL);
    }
    for (size_t i = 0; i < W.n_workers; i++) {
        if ((W.workers[i].r = tg_renderer_new(tg.paper, tg.zoneinfo_dir, err)) == NULL) {
            tg_watch_stop();
            return err->code;
        }
    }
    const char *root = bx_objects_file_root(&tg.objects);
    if (root != NULL) {
        snprintf(W.dir, sizeof W.dir, "%s/orders", root);
        W.fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (W.fd < 0) {
            bx_warn("inotify_init1: %s (rescans every %llds still find new orders)",
                    strerror(errno), (long long)tg.rescan_s);
        }
    }
    for (size_t i = 0; i < W.n_workers; i++) {
        if (pthread_create(&W.workers[i].thread, NULL, worker_main, &W.workers[i]) != 0) {
            tg_watch_stop();
            return bx_error_set(err, BX_INTERNAL, NULL, "cannot start a worker thread");
        }
        W.workers[i].started = true;
    }
    if (pthread_create(&W.watcher, NULL, watcher_main, NULL) != 0) {
        tg_watch_stop();
        return bx_error_set(err, BX_INTERNAL, NULL, "cannot start the watcher thread");
    }
    W.watcher_started = true;
    bx_info("watching %s: %s, rescan every %llds, %zu worker(s)", tg.objects_url,
            W.fd >= 0 ? "inotify" : "polling", (long long)tg.rescan_s, W.n_workers);
    return BX_OK;
}

void tg_watch_stop(void) {
    atomic_store(&W.stop, true);
    if (W.watcher_started) {
        pthread_join(W.watcher, NULL);
        W.watcher_started = false;
    }
    for (size_t i = 0; W.workers != NULL && i < W.n_workers; i++) {
        struct worker *w = &W.workers[i];
        pthread_mutex_lock(&w->q.mu);
        pthread_cond_broadcast(&w->q.not_empty);
        pthread_cond_broadcast(&w->q.not_full);
        pthread_mutex_unlock(&w->q.mu);
        if (w->started) {
            pthread_join(w->thread, NULL); /* finishes the order it is on */
        }
        for (size_t k = 0; k < w->q.n; k++) {
            free(w->q.keys[(w->q.head + k) % TG_QUEUE_MAX]);
        }
        tg_renderer_free(w->r);
        pthread_mutex_destroy(&w->q.mu);
        pthread_cond_destroy(&w->q.not_empty);
        pthread_cond_destroy(&w->q.not_full);
    }
    free(W.workers);
    W.workers = NULL;
    if (W.fd >= 0) {
        close(W.fd);
        W.fd = -1;
    }
}
