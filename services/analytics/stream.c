// SPDX-License-Identifier: Apache-2.0
// GET /api/analytics/stream: Server-Sent Events over the HTTP library's streaming responses. Each
// client has a cursor, the change number of the last message it was sent; every sse_interval_ms
// one thread (the pusher) writes each client, in change order, an `event: event` message for every
// event changed past its cursor and an `event: summary` message when the totals changed past it,
// each with `id: <change number>`. A client that reconnects with Last-Event-ID gets what changed
// after that id (an id this process did not issue, e.g. one from another replica, gets
// everything). Change numbers start at the start time in microseconds, so they keep rising across
// restarts. An idle client gets a comment line every sse_heartbeat_s (which is also how a client
// that left is noticed); the number of clients is capped (503 beyond). A round writes at most
// SSE_ROUND_MAX_BYTES per client; a client that does not read its backlog is dropped by the
// library (the write fails) and comes back with its Last-Event-ID. On drain the library ends
// every stream; the pusher then lets go of them.
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "boxoffice/base.h"
#include "boxoffice/json.h"
#include "boxoffice/log.h"
#include "boxoffice/metrics.h"
#include "boxoffice/service.h"
#include "analytics.h"

#define SSE_ROUND_MAX_BYTES (256 * 1024) /* written to one client per round, at most */
#define SSE_RETRY_MS        1000         /* EventSource's reconnect delay after a break */

struct client {
    bool used;
    uint64_t cursor;
    int64_t last_send_ms;
    int64_t next_round_ms; /* at most one round per sse_interval_ms */
    struct bx_stream *stream;
};

static struct {
    pthread_t thread;
    bool running;
    pthread_mutex_t mu; /* clients */
    pthread_cond_t cv;
    bool quit;
    struct client *clients;
    size_t n_clients, max_clients;
    struct bx_metric *gauge, *sent;
} sse = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* A growing text buffer (malloc'd). */
struct text {
    char *p;
    size_t len, cap;
};

static bool text_add(struct text *t, const char *s, size_t n) {
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 4096;
        while (cap < t->len + n + 1) {
            cap *= 2;
        }
        char *p = realloc(t->p, cap);
        if (p == NULL) {
            return false;
        }
        t->p = p;
        t->cap = cap;
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
    return true;
}

/* The cached JSON of an event or of the summary at its change number (pusher thread only, read
 * lock held: only this thread writes the caches). */
static const char *event_json(struct an_event *ev, int64_t now_s, size_t *len) {
    if (ev->json == NULL || ev->json_seq != ev->seq) {
        free(ev->json);
        json_t *v = an_render_event(ev, now_s);
        ev->json = v ? json_dumps(v, JSON_COMPACT) : NULL;
        ev->json_len = ev->json ? strlen(ev->json) : 0;
        ev->json_seq = ev->seq;
        json_decref(v);
    }
    *len = ev->json_len;
    return ev->json;
}

static const char *summary_json(int64_t now_s, size_t *len) {
    if (an_state.summary_json == NULL || an_state.summary_json_seq != an_state.summary_seq) {
        free(an_state.summary_json);
        json_t *v = an_render_summary(now_s);
        an_state.summary_json = v ? json_dumps(v, JSON_COMPACT) : NULL;
        an_state.summary_len = an_state.summary_json ? strlen(an_state.summary_json) : 0;
        an_state.summary_json_seq = an_state.summary_seq;
        json_decref(v);
    }
    *len = an_state.summary_len;
    return an_state.summary_json;
}

static bool add_message(struct text *t, uint64_t id, const char *type, const char *data,
                        size_t len) {
    char head[96];
    int n =
        snprintf(head, sizeof head, "id: %llu\nevent: %s\ndata: ", (unsigned long long)id, type);
    return data != NULL && text_add(t, head, (size_t)n) && text_add(t, data, len) &&
           text_add(t, "\n\n", 2);
}

/* Appends to t the messages for everything changed after *cursor, oldest change first, while t
 * stays under budget bytes; advances *cursor past what was added. Returns the messages added. */
static size_t compose(struct text *t, uint64_t *cursor, size_t budget) {
    size_t added = 0;
    int64_t now_s = bx_now_unix_s();
    pthread_rwlock_rdlock(&an_state.lock);
    if (*cursor > an_state.seq) {
        *cursor = 0; /* not an id of ours: everything */
    }
    /* the changed events, newest first, then walked oldest first */
    struct an_event *ev = an_state.newest, *last = NULL;
    size_t changed = 0;
    while (ev != NULL && ev->seq > *cursor) {
        last = ev;
        ev = ev->older;
        changed++;
    }
    bool summary_due = an_state.summary_seq > *cursor;
    for (ev = last; changed > 0 || summary_due; changed--) {
        bool summary_first = summary_due && (changed == 0 || an_state.summary_seq < ev->seq);
        size_t len = 0;
        const char *data;
        uint64_t id;
        const char *type;
        if (summary_first) {
            data = summary_json(now_s, &len);
            id = an_state.summary_seq;
            type = "summary";
            changed++; /* the event is still to come */
        } else {
            data = event_json(ev, now_s, &len);
            id = ev->seq;
            type = "event";
        }
        if (t->len + len + 128 > budget && added > 0) {
            break; /* the rest in a later round */
        }
        if (!add_message(t, id, type, data, len)) {
            break;
        }
        added++;
        *cursor = id;
        if (summary_first) {
            summary_due = false;
        } else {
            ev = ev->newer;
        }
    }
    pthread_rwlock_unlock(&an_state.lock);
    return added;
}

static uint64_t last_event_id(struct bx_req *req) {
    const char *h = bx_req_header(req, "Last-Event-ID");
    int64_t v = 0;
    if (h == NULL || bx_parse_i64(h, 0, INT64_MAX, &v) != 0) {
        return 0;
    }
    return (uint64_t)v;
}

static struct client *take_slot(void) {
    for (size_t i = 0; i < sse.max_clients; i++) {
        if (!sse.clients[i].used) {
            return &sse.clients[i];
        }
    }
    return NULL;
}

static void drop(struct client *c) {
    bx_stream_close(c->stream);
    c->stream = NULL;
    c->used = false;
    sse.n_clients--;
    bx_metric_set(sse.gauge, (int64_t)sse.n_clients);
}

/* One round for a client (sse.mu held). */
static void serve(struct client *c, int64_t now_ms, bool stopping) {
    if (stopping) {
        drop(c);
        return;
    }
    if (now_ms < c->next_round_ms) {
        return;
    }
    c->next_round_ms = now_ms + analytics.sse_interval_ms;
    struct text t = {0};
    uint64_t cursor = c->cursor;
    size_t n = compose(&t, &cursor, SSE_ROUND_MAX_BYTES);
    if (n == 0 && now_ms - c->last_send_ms >= analytics.sse_heartbeat_s * 1000) {
        text_add(&t, ": heartbeat\n\n", 13);
    }
    if (t.len > 0) {
        if (t.p == NULL || bx_stream_write(c->stream, t.p, t.len) != 0) {
            drop(c); /* gone, draining, or not reading: it reconnects with its Last-Event-ID */
        } else {
            c->cursor = cursor;
            c->last_send_ms = now_ms;
            bx_metric_add(sse.sent, (int64_t)n);
        }
    }
    free(t.p);
}

enum bx_err an_stream_get(struct bx_req *req) {
    pthread_mutex_lock(&sse.mu);
    struct client *c = sse.quit || bx_service_stopping() ? NULL : take_slot();
    if (c == NULL) {
        pthread_mutex_unlock(&sse.mu);
        bx_resp_header(req, "Retry-After", "5");
        return bx_req_fail(req, BX_UNAVAILABLE, NULL, "Too many stream clients; retry later.");
    }
    bx_resp_header(req, "Cache-Control", "no-store");
    bx_resp_header(req, "X-Accel-Buffering", "no");
    struct bx_stream *s = bx_req_stream(req, 200, "text/event-stream");
    char hello[32];
    int n = snprintf(hello, sizeof hello, "retry: %d\n\n", SSE_RETRY_MS);
    if (s == NULL || bx_stream_write(s, hello, (size_t)n) != 0) {
        if (s != NULL) {
            bx_stream_close(s);
        }
        pthread_mutex_unlock(&sse.mu);
        return s == NULL ? bx_req_fail(req, BX_INTERNAL, NULL, "cannot start the stream")
                         : BX_OK; /* draining: the stream ends at once */
    }
    *c = (struct client){
        .used = true, .cursor = last_event_id(req), .last_send_ms = bx_now_mono_ms(), .stream = s};
    sse.n_clients++;
    bx_metric_set(sse.gauge, (int64_t)sse.n_clients);
    pthread_cond_signal(&sse.cv); /* its first messages now, not in a round */
    pthread_mutex_unlock(&sse.mu);
    return BX_OK;
}

static void *pusher_main(void *arg) {
    (void)arg;
    pthread_mutex_lock(&sse.mu);
    for (;;) {
        bool stopping = sse.quit || bx_service_stopping();
        int64_t now_ms = bx_now_mono_ms();
        for (size_t i = 0; i < sse.max_clients; i++) {
            if (sse.clients[i].used) {
                serve(&sse.clients[i], now_ms, stopping);
            }
        }
        if (sse.quit && sse.n_clients == 0) {
            break;
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        int64_t ns = until.tv_nsec + (stopping ? 20 : analytics.sse_interval_ms) * 1000000L;
        until.tv_sec += ns / 1000000000L;
        until.tv_nsec = (long)(ns % 1000000000L);
        pthread_cond_timedwait(&sse.cv, &sse.mu, &until);
    }
    pthread_mutex_unlock(&sse.mu);
    return NULL;
}

enum bx_err an_stream_start(struct bx_error *err) {
    sse.max_clients = (size_t)analytics.sse_clients_max;
    sse.clients = calloc(sse.max_clients, sizeof *sse.clients);
    if (sse.clients == NULL) {
        return bx_error_set(err, BX_INTERNAL, NULL, "out of memory");
    }
    sse.gauge = bx_metrics_gauge("boxoffice_analytics_stream_clients", "open stream clients");
    sse.sent = bx_metrics_counter("boxoffice_analytics_stream_messages_total",
                                  "stream messages sent (heartbeats not counted)");
    if (pthread_create(&sse.thread, NULL, pusher_main, NULL) != 0) {
        free(sse.clients);
        sse.clients = NULL;
        return bx_error_set(err, BX_INTERNAL, NULL, "cannot start the stream thread");
    }
    sse.running = true;
    return BX_OK;
}

void an_stream_stop(void) {
    if (!sse.running) {
        return;
    }
    pthread_mutex_lock(&sse.mu);
    sse.quit = true;
    pthread_cond_signal(&sse.cv);
    pthread_mutex_unlock(&sse.mu);
    pthread_join(sse.thread, NULL); /* it lets go of every stream first */
    sse.running = false;
    free(sse.clients);
    sse.clients = NULL;
}
