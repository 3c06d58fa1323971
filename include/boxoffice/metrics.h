// SPDX-License-Identifier: Apache-2.0
// Process metrics in Prometheus text format: requests by route and status, a latency histogram per
// route, in-flight requests, plus counters and gauges a service registers at start. Updates are
// lock-free atomics; rendering takes a snapshot.
#ifndef BOXOFFICE_METRICS_H
#define BOXOFFICE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define BX_METRICS_ROUTES_MAX   96
#define BX_METRICS_STATUSES_MAX 24
#define BX_METRICS_CUSTOM_MAX   64
#define BX_METRICS_BUCKETS      12

struct bx_metric; /* a registered counter or gauge */

/* Declares the route labels (index = route index); call once before serving. */
void bx_metrics_init(const char *service, const char *const *route_labels, size_t n_routes);
/* Records one finished request on route index (n_routes means "unmatched"). */
void bx_metrics_observe(size_t route, unsigned status, int64_t duration_us);
void bx_metrics_inflight_add(int64_t delta);
int64_t bx_metrics_inflight(void);

/* Registers a counter or gauge (call at start, not per request). NULL when the table is full. */
struct bx_metric *bx_metrics_counter(const char *name, const char *help);
struct bx_metric *bx_metrics_gauge(const char *name, const char *help);
void bx_metric_add(struct bx_metric *m, int64_t delta);
void bx_metric_set(struct bx_metric *m, int64_t value);

/* Renders everything; returns a malloc'd string the caller frees. */
char *bx_metrics_render(size_t *len_out);

#endif
