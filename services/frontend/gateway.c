// SPDX-License-Identifier: Apache-2.0
// The /api gateway: a route table maps each API path to its owning service; the request goes out
// on the shared asynchronous client pool while the connection is suspended, so a slow upstream
// never blocks a server thread. Upstream down → 502 JSON, too slow → 504 JSON. Every answer carries
// the security headers; each client address has a token bucket (429 with Retry-After past it);
// event streams are relayed by stream.c.
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "boxoffice/base.h"
#include "boxoffice/log.h"
#include "gateway.h"

#define FORWARD_HEADERS_MAX        12
#define GATEWAY_RESPONSE_MAX_BYTES (4 * 1024 * 1024) /* well under the request arena limit */

static enum bx_err unused(struct bx_req *req) {
    (void)req;
    return BX_INTERNAL;
}

/* First match wins: the availability route belongs to booking, the rest of /api/events to
 * catalog; an order's tickets to ticketgen, the rest of /api/orders to booking. */
static const struct bx_route api_routes[] = {
    {BX_ANY, "/api/events/{id}/availability", unused, BX_AUTH_NONE},
    {BX_ANY, "/api/events/{*}", unused, BX_AUTH_NONE},
    {BX_ANY, "/api/venues/{*}", unused, BX_AUTH_NONE},
    {BX_ANY, "/api/users/{*}", unused, BX_AUTH_NONE},
    {BX_ANY, "/api/sessions/{*}", unused, BX_AUTH_NONE},
    {BX_ANY, "/api/auth/{*}", unused, BX_AUTH_NONE},
    {BX_ANY, "/api/holds/{*}", unused, BX_AUTH_NONE},
    {BX_ANY, "/api/orders/{id}/tickets", unused, BX_AUTH_NONE},
    {BX_ANY, "/api/orders/{*}", unused, BX_AUTH_NONE},
    {BX_ANY, "/api/tickets/{*}", unused, BX_AUTH_NONE},
    {BX_ANY, "/api/checkins/{*}", unused, BX_AUTH_NONE},
    {BX_ANY, "/api/analytics/{*}", unused, BX_AUTH_NONE},
};

static const enum upstream api_owner[] = {
    UP_BOOKING, UP_CATALOG,   UP_CATALOG, UP_USERS,     UP_USERS,     UP_USERS,
    UP_BOOKING, UP_TICKETGEN, UP_BOOKING, UP_TICKETGEN, UP_TICKETGEN, UP_ANALYTICS,
};

_Static_assert(BX_ARRAY_LEN(api_routes) == BX_ARRAY_LEN(api_owner), "one owner per route");

/* Request headers passed to the upstream; the rest stay at the gateway. */
static const char *const forwarded[] = {
    "Authorization", "Content-Type", "Accept",        "Idempotency-Key",
    "If-None-Match", "If-Match",     "Last-Event-ID",
};

/* Response headers passed back to the client. */
static const char *const returned[] = {
    "ETag",  "Cache-Control",       "Retry-After",   "Location",
    "Allow", "Content-Disposition", "Last-Modified", "Idempotent-Replayed",
};

static void on_done(void *arg, enum bx_err e, struct bx_httpc_response *resp) {
    struct bx_req *req = arg;
    if (e != BX_OK) {
        struct bx_error err = {.code = e};
        if (e == BX_UNAVAILABLE) {
            bx_strlcpy(err.message, "The gateway is shutting down.", sizeof err.message);
        }
        bx_respond_error(req, &err);
    } else {
        const char *ct = bx_httpc_header(resp, "Content-Type");
        bx_respond(req, (unsigned)resp->status,
                   ct ? bx_arena_strdup(&req->arena, ct) : "application/octet-stream",
                   resp->body ? resp->body : "", resp->body_len);
        for (size_t i = 0; i < BX_ARRAY_LEN(returned); i++) {
            const char *v = bx_httpc_header(resp, returned[i]);
            if (v != NULL) {
                bx_resp_header(req, returned[i], v);
            }
        }
    }
    bx_req_resume(req);
}

enum bx_err gateway_proxy(struct bx_req *req) {
    struct frontend *fe = req->ctx;
    frontend_security_headers(req);
    int64_t retry_after = 1;
    if (!frontend_rate_allow(fe, req, &retry_after)) {
        char ra[24];
        snprintf(ra, sizeof ra, "%lld", (long long)retry_after);
        bx_resp_header(req, "Retry-After", ra);
        return bx_req_fail(req, BX_RATE_LIMITED, NULL,
                           "Too many requests from this address; retry in %lld s.",
                           (long long)retry_after);
    }
    bool path_matched = false;
    int i = bx_route_match(api_routes, BX_ARRAY_LEN(api_routes), BX_ANY, req->path, NULL,
                           &path_matched);
    if (i < 0) {
        return bx_req_fail(req, BX_NOT_FOUND, NULL, "No API route for %s.", req->path);
    }
    const char *base = fe->upstream_url[api_owner[i]];
    char *url = bx_arena_printf(&req->arena, "%s%s", base, req->raw_uri);
    const char *headers[FORWARD_HEADERS_MAX + 1];
    size_t n = 0;
    for (size_t h = 0; h < BX_ARRAY_LEN(forwarded); h++) {
        const char *v = bx_req_header(req, forwarded[h]);
        if (v != NULL) {
            headers[n++] = bx_arena_printf(&req->arena, "%s: %s", forwarded[h], v);
        }
    }
    headers[n++] = bx_arena_printf(&req->arena, "X-Request-Id: %s", req->request_id);
    headers[n++] = bx_arena_printf(&req->arena, "X-Forwarded-For: %s", bx_req_client(req));
    headers[n] = NULL;
    for (size_t h = 0; h < n; h++) {
        if (headers[h] == NULL) {
            return bx_req_fail(req, BX_INTERNAL, NULL, "out of request memory");
        }
    }
    if (url == NULL) {
        return bx_req_fail(req, BX_INTERNAL, NULL, "out of request memory");
    }
    if (gateway_wants_stream(req)) {
        return gateway_stream(req, url, headers);
    }
    struct bx_httpc_request out = {
        .method = req->method_name,
        .url = url,
        .headers = headers,
        .body = req->body,
        .body_len = req->body_len,
        .connect_timeout_ms = 1000,
        .timeout_ms = fe->upstream_timeout_ms,
        .max_attempts = 1,
        .max_body_bytes = GATEWAY_RESPONSE_MAX_BYTES,
    };
    bx_req_suspend(req);
    enum bx_err e = bx_httpc_pool_submit(fe->pool, &out, on_done, req);
    if (e != BX_OK) {
        struct bx_error err = {.code = BX_UNAVAILABLE};
        bx_strlcpy(err.message, "The gateway is at capacity; retry shortly.", sizeof err.message);
        bx_respond_error(req, &err);
        bx_resp_header(req, "Retry-After", "1");
        bx_req_resume(req);
    }
    return BX_OK;
}
