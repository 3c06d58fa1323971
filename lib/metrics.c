// SPDX-License-Identifier: Apache-2.0
// Prometheus text metrics: per-route request counters by status and latency histograms, in-flight
// gauge, and registered counters/gauges. All updates are relaxed atomics on fixed tables.
#include "boxoffice/metrics.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boxoffice/base.h"

static const int64_t bucket_us[BX_METRICS_BUCKETS] = {
    500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000};

struct status_count {
    _Atomic unsigned status; /* 0: free */
    _Atomic uint64_t count;
};

struct route_metrics {
    const char *label;
    struct status_count statuses[BX_METRICS_STATUSES_MAX];
    _Atomic uint64_t buckets[BX_METRICS_BUCKETS + 1];
    _Atomic uint64_t sum_us;
    _Atomic uint64_t count;
};

struct bx_metric {
    char name[64];
    char help[128];
    bool gauge;
    _Atomic int64_t value;
};

static char service_name[32] = "boxoffice";
static struct route_metrics routes[BX_METRICS_ROUTES_MAX + 1];
static size_t n_routes;
static _Atomic int64_t inflight;
static struct bx_metric custom[BX_METRICS_CUSTOM_MAX];
static _Atomic size_t n_custom;

void bx_metrics_init(const char *service, const char *const *route_labels, size_t n) {
    BX_ASSERT(n <= BX_METRICS_ROUTES_MAX);
    if (service != NULL) {
        bx_strlcpy(service_name, service, sizeof service_name);
    }
    memset(routes, 0, sizeof routes);
    for (size_t i = 0; i < n; i++) {
        routes[i].label = route_labels[i];
    }
    routes[n].label = "unmatched";
    n_routes = n;
}

void bx_metrics_observe(size_t route, unsigned status, int64_t duration_us) {
    if (route > n_routes) {
        route = n_routes;
    }
    struct route_metrics *r = &routes[route];
    for (size_t i = 0; i < BX_METRICS_STATUSES_MAX; i++) {
        unsigned s = atomic_load_explicit(&r->statuses[i].status, memory_order_relaxed);
        if (s == 0) {
            unsigned expected = 0;
            if (!atomic_compare_exchange_strong(&r->statuses[i].status, &expected, status) &&
                expected != status) {
                continue;
            }
            s = status;
        }
        if (s == status) {
            atomic_fetch_add_explicit(&r->statuses[i].count, 1, memory_order_relaxed);
            break;
        }
    }
    size_t b = 0;
    while (b < BX_METRICS_BUCKETS && duration_us > bucket_us[b]) {
        b++;
    }
    atomic_fetch_add_explicit(&r->buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&r->sum_us, (uint64_t)(duration_us > 0 ? duration_us : 0),
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&r->count, 1, memory_order_relaxed);
}

void bx_metrics_inflight_add(int64_t delta) {
    atomic_fetch_add_explicit(&inflight, delta, memory_order_relaxed);
}

int64_t bx_metrics_inflight(void) {
    return atomic_load(&inflight);
}

static struct bx_metric *register_metric(const char *name, const char *help, bool gauge) {
    size_t i = atomic_fetch_add(&n_custom, 1);
    if (i >= BX_METRICS_CUSTOM_MAX) {
        atomic_store(&n_custom, BX_METRICS_CUSTOM_MAX);
        return NULL;
    }
    struct bx_metric *m = &custom[i];
    bx_strlcpy(m->name, name, sizeof m->name);
    bx_strlcpy(m->help, help, sizeof m->help);
    m->gauge = gauge;
    atomic_store(&m->value, 0);
    return m;
}

struct bx_metric *bx_metrics_counter(const char *name, const char *help) {
    return register_metric(name, help, false);
}

struct bx_metric *bx_metrics_gauge(const char *name, const char *help) {
    return register_metric(name, help, true);
}

void bx_metric_add(struct bx_metric *m, int64_t delta) {
    if (m != NULL) {
        atomic_fetch_add_explicit(&m->value, delta, memory_order_relaxed);
    }
}

void bx_metric_set(struct bx_metric *m, int64_t value) {
    if (m != NULL) {
        atomic_store_explicit(&m->value, value, memory_order_relaxed);
    }
}

struct buf {
    char *data;
    size_t len, cap;
    bool failed;
};

static void append(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void append(struct buf *b, const char *fmt, ...) {
    if (b->failed) {
        return;
    }
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = true;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n;
        char *p = realloc(b->data, cap);
        if (p == NULL) {
            b->failed = true;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
}

char *bx_metrics_render(size_t *len_out) {
    struct buf b = {.data = malloc(8192), .cap = 8192};
    if (b.data == NULL) {
        return NULL;
    }
    b.data[0] = '\0';
    append(&b, "# HELP bx_http_requests_total HTTP requests by route and status.\n"
               "# TYPE bx_http_requests_total counter\n");
    for (size_t r = 0; r <= n_routes; r++) {
        for (size_t i = 0; i < BX_METRICS_STATUSES_MAX; i++) {
            unsigned s = atomic_load(&routes[r].statuses[i].status);
            if (s == 0) {
                break;
            }
            append(&b,
                   "bx_http_requests_total{service=\"%s\",route=\"%s\",status=\"%u\"} %" PRIu64
                   "\n",
                   service_name, routes[r].label, s, atomic_load(&routes[r].statuses[i].count));
        }
    }
    append(&b, "# HELP bx_http_request_duration_seconds Request latency by route.\n"
               "# TYPE bx_http_request_duration_seconds histogram\n");
    for (size_t r = 0; r <= n_routes; r++) {
        uint64_t count = atomic_load(&routes[r].count);
        if (count == 0) {
            continue;
        }
        uint64_t cum = 0;
        for (size_t i = 0; i <= BX_METRICS_BUCKETS; i++) {
            cum += atomic_load(&routes[r].buckets[i]);
            if (i < BX_METRICS_BUCKETS) {
                append(&b,
                       "bx_http_request_duration_seconds_bucket{service=\"%s\",route=\"%s\","
                       "le=\"%g\"} %" PRIu64 "\n",
                       service_name, routes[r].label, (double)bucket_us[i] / 1e6, cum);
            } else {
                append(&b,
                       "bx_http_request_duration_seconds_bucket{service=\"%s\",route=\"%s\","
                       "le=\"+Inf\"} %" PRIu64 "\n",
                       service_name, routes[r].label, cum);
            }
        }
        append(&b,
               "bx_http_request_duration_seconds_sum{service=\"%s\",route=\"%s\"} %.6f\n"
               "bx_http_request_duration_seconds_count{service=\"%s\",route=\"%s\"} %" PRIu64 "\n",
               service_name, routes[r].label, (double)atomic_load(&routes[r].sum_us) / 1e6,
               service_name, routes[r].label, count);
    }
    append(&b,
           "# HELP bx_http_requests_in_flight Requests being handled.\n"
           "# TYPE bx_http_requests_in_flight gauge\n"
           "bx_http_requests_in_flight{service=\"%s\"} %" PRId64 "\n",
           service_name, atomic_load(&inflight));
    size_t n = atomic_load(&n_custom);
    for (size_t i = 0; i < n && i < BX_METRICS_CUSTOM_MAX; i++) {
        append(&b, "# HELP %s %s\n# TYPE %s %s\n%s{service=\"%s\"} %" PRId64 "\n", custom[i].name,
               custom[i].help, custom[i].name, custom[i].gauge ? "gauge" : "counter",
               custom[i].name, service_name, atomic_load(&custom[i].value));
    }
    if (b.failed) {
        free(b.data);
        return NULL;
    }
    if (len_out != NULL) {
        *len_out = b.len;
    }
    return b.data;
}
