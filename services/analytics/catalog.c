// SPDX-License-Identifier: Apache-2.0
// What analytics needs of catalog: each event's title (for top_events) and capacity, the sum of
// its tiers' (for sell_through). One thread asks catalog's public GET /api/events/{id} for events
// it has not asked about yet (woken when the consumer meets a new event), and again every
// catalog_refresh_s (capacities change when tiers are added or edited). A failed call is retried
// after CATALOG_RETRY_MS, doubling up to the refresh interval; an event catalog does not show (a
// draft, a deleted one) keeps no title and no sell-through until a later refresh finds it. Nothing
// of this is checkpointed: it is a cache of catalog, rebuilt after a restart. The thread keeps
// event ids, never pointers: a reload of the state frees the events.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boxoffice/base.h"
#include "boxoffice/httpc.h"
#include "boxoffice/log.h"
#include "boxoffice/service.h"
#include "analytics.h"

#define CATALOG_FETCH_BATCH    32
#define CATALOG_RETRY_MS       5000
#define CATALOG_IDLE_WAIT_MS   1000
#define CATALOG_BODY_MAX_BYTES (1024 * 1024)
#define CATALOG_TIERS_MAX      200

static struct {
    pthread_t thread;
    bool running;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool quit, kicked;
} cat = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

void an_catalog_kick(void) {
    pthread_mutex_lock(&cat.mu);
    cat.kicked = true;
    pthread_cond_signal(&cat.cv);
    pthread_mutex_unlock(&cat.mu);
}

struct fetched {
    char id[AN_ID_MAX];
    enum { FETCH_FAILED, FETCH_MISSING, FETCH_OK } outcome;
    char *title; /* malloc'd */
    int64_t capacity;
};

/* GET the event from catalog. */
static void fetch(struct fetched *f) {
    char url[1200];
    snprintf(url, sizeof url, "%s/api/events/%s", analytics.catalog_url, f->id);
    const char *headers[] = {"X-Request-Id: analytics-catalog", NULL};
    struct bx_httpc_request hr = {.method = "GET",
                                  .url = url,
                                  .headers = headers,
                                  .timeout_ms = AN_CATALOG_TIMEOUT_MS,
                                  .max_attempts = 2,
                                  .max_body_bytes = CATALOG_BODY_MAX_BYTES};
    struct bx_httpc_response resp;
    f->outcome = FETCH_FAILED;
    if (bx_httpc_do(&hr, &resp) != BX_OK) {
        return;
    }
    if (resp.status == 404) {
        f->outcome = FETCH_MISSING;
    } else if (resp.status == 200) {
        json_t *doc = json_loadb(resp.body, resp.body_len, 0, NULL);
        const char *title = json_string_value(json_object_get(doc, "title"));
        json_t *tiers = json_object_get(doc, "tiers");
        int64_t capacity = 0;
        bool ok = title != NULL && strlen(title) <= AN_TITLE_MAX_BYTES && json_is_array(tiers) &&
                  json_array_size(tiers) <= CATALOG_TIERS_MAX;
        for (size_t i = 0; ok && i < json_array_size(tiers); i++) {
            json_t *c = json_object_get(json_array_get(tiers, i), "capacity");
            ok = json_is_integer(c) && json_integer_value(c) >= 0 &&
                 json_integer_value(c) <= INT32_MAX;
            capacity += ok ? (int64_t)json_integer_value(c) : 0;
        }
        if (ok && (f->title = strdup(title)) != NULL) {
            f->capacity = capacity;
            f->outcome = FETCH_OK;
        } else {
            bx_warn("analytics: catalog's event %s was malformed", f->id);
        }
        json_decref(doc);
    }
    bx_httpc_response_free(&resp);
}

/* Ids of events due for a fetch (read lock). */
static size_t due(struct fetched *out, size_t max, int64_t now_ms) {
    size_t n = 0;
    pthread_rwlock_rdlock(&an_state.lock);
    for (uint32_t i = 0; i < an_state.n_events && n < max; i++) {
        const struct an_event *ev = an_state.events[i];
        bool stale =
            ev->catalog_ms == 0 || now_ms - ev->catalog_ms >= analytics.catalog_refresh_s * 1000;
        if (stale && now_ms >= ev->catalog_retry_ms) {
            memset(&out[n], 0, sizeof out[n]);
            memcpy(out[n].id, ev->id, sizeof ev->id);
            n++;
        }
    }
    pthread_rwlock_unlock(&an_state.lock);
    return n;
}

static void store(struct fetched *f, size_t n, int64_t now_ms) {
    pthread_rwlock_wrlock(&an_state.lock);
    an_state_round();
    for (size_t i = 0; i < n; i++) {
        struct an_event *ev = an_state_event(f[i].id, false);
        if (ev == NULL) {
            continue; /* reloaded meanwhile; it comes round again */
        }
        if (f[i].outcome == FETCH_FAILED) {
            /* 5 s, 10 s, 20 s ... up to the refresh interval */
            int64_t wait = CATALOG_RETRY_MS
                           << (ev->catalog_failures < 16 ? ev->catalog_failures : 16);
            if (wait > analytics.catalog_refresh_s * 1000) {
                wait = analytics.catalog_refresh_s * 1000;
            }
            ev->catalog_failures++;
            ev->catalog_retry_ms = now_ms + wait;
            continue;
        }
        ev->catalog_ms = now_ms;
        ev->catalog_retry_ms = 0;
        ev->catalog_failures = 0;
        char *title = f[i].outcome == FETCH_OK ? f[i].title : NULL;
        int64_t capacity = f[i].outcome == FETCH_OK ? f[i].capacity : -1;
        bool title_changed = (title == NULL) != (ev->title == NULL) ||
                             (title != NULL && strcmp(title, ev->title) != 0);
        if (title_changed) {
            free(ev->title);
            ev->title = title;
            f[i].title = NULL;
            an_state_touch_summary();
        }
        if (title_changed || capacity != ev->capacity) {
            ev->capacity = capacity;
            an_state_touch(ev);
        }
    }
    pthread_rwlock_unlock(&an_state.lock);
    for (size_t i = 0; i < n; i++) {
        free(f[i].title);
    }
}

static void *catalog_main(void *arg) {
    (void)arg;
    static struct fetched batch[CATALOG_FETCH_BATCH];
    pthread_mutex_lock(&cat.mu);
    while (!cat.quit) {
        cat.kicked = false;
        pthread_mutex_unlock(&cat.mu);
        size_t n = due(batch, CATALOG_FETCH_BATCH, bx_now_mono_ms());
        for (size_t i = 0; i < n && !bx_service_stopping(); i++) {
            fetch(&batch[i]);
        }
        store(batch, n, bx_now_mono_ms());
        pthread_mutex_lock(&cat.mu);
        if (n == CATALOG_FETCH_BATCH || cat.kicked) {
            continue; /* more may be due */
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += CATALOG_IDLE_WAIT_MS / 1000;
        while (!cat.quit && !cat.kicked && pthread_cond_timedwait(&cat.cv, &cat.mu, &until) == 0) {
        }
    }
    pthread_mutex_unlock(&cat.mu);
    return NULL;
}

enum bx_err an_catalog_start(struct bx_error *err) {
    if (pthread_create(&cat.thread, NULL, catalog_main, NULL) != 0) {
        return bx_error_set(err, BX_INTERNAL, NULL, "cannot start the catalog thread");
    }
    cat.running = true;
    return BX_OK;
}

void an_catalog_stop(void) {
    if (!cat.running) {
        return;
    }
    pthread_mutex_lock(&cat.mu);
    cat.quit = true;
    pthread_cond_signal(&cat.cv);
    pthread_mutex_unlock(&cat.mu);
    pthread_join(cat.thread, NULL);
    cat.running = false;
}
