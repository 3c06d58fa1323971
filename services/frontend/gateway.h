// SPDX-License-Identifier: Apache-2.0
// The frontend's two jobs: the /api gateway (proxy by route table to the owning service) and the
// static web UI.
#ifndef BOXOFFICE_FRONTEND_GATEWAY_H
#define BOXOFFICE_FRONTEND_GATEWAY_H

#include <stdbool.h>
#include <stdint.h>

#include "boxoffice/http.h"
#include "boxoffice/httpc.h"

enum upstream { UP_CATALOG, UP_USERS, UP_BOOKING, UP_TICKETGEN, UP_ANALYTICS, UP_COUNT };

struct frontend {
    const char *web_dir;
    const char *upstream_url[UP_COUNT];
    int64_t upstream_timeout_ms;
    int64_t max_inflight;
    int64_t rate_per_s, rate_burst; /* per client, /api only; 0: no limit */
    int64_t max_streams;
    struct bx_httpc_pool *pool;
};

/* security.c: headers every page and answer of the gateway carries (CSP without unsafe-inline,
 * nosniff, frame-ancestors 'none', Referrer-Policy, ...). */
void frontend_security_headers(struct bx_req *req);
/* Token bucket per client address (bx_req_client): true when the request may go on; otherwise
 * *retry_after_s says when a token is back. */
bool frontend_rate_allow(struct frontend *fe, struct bx_req *req, int64_t *retry_after_s);

enum bx_err gateway_proxy(struct bx_req *req);
/* stream.c: a GET that accepts text/event-stream is relayed as a stream. */
bool gateway_wants_stream(struct bx_req *req);
enum bx_err gateway_stream(struct bx_req *req, const char *url, const char *const *headers);
enum bx_err static_get(struct bx_req *req);

#endif
