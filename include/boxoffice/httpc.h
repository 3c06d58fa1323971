// SPDX-License-Identifier: Apache-2.0
// Outbound HTTP over libcurl: every call has a connect and a total timeout; idempotent calls are
// retried a bounded number of times with jittered exponential backoff. A pool runs many requests
// at once on one thread (curl multi) for asynchronous callers such as the gateway.
#ifndef BOXOFFICE_HTTPC_H
#define BOXOFFICE_HTTPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boxoffice/err.h"

#define BX_HTTPC_HEADERS_MAX            32
#define BX_HTTPC_DEFAULT_MAX_BODY_BYTES (8 * 1024 * 1024)
#define BX_HTTPC_ATTEMPTS_MAX           5

struct bx_httpc_request {
    const char *method; /* "GET" */
    const char *url;
    const char *const *headers; /* "Name: value" strings, NULL-terminated; may be NULL */
    const void *body;
    size_t body_len;
    int64_t connect_timeout_ms; /* 0: 2000 */
    int64_t timeout_ms;         /* total per attempt; 0: 10000 */
    unsigned max_attempts;      /* 0 or 1: no retry; retries only for GET/HEAD/PUT/DELETE */
    size_t max_body_bytes;      /* response cap; 0: BX_HTTPC_DEFAULT_MAX_BODY_BYTES */
};

struct bx_httpc_response {
    long status;
    char *body; /* malloc'd, NUL-terminated */
    size_t body_len;
    char *headers[BX_HTTPC_HEADERS_MAX]; /* "Name: value", malloc'd */
    size_t n_headers;
};

/* The CA bundle for TLS from SSL_CERT_FILE (as OpenSSL tools read it), or NULL for libcurl's
 * built-in default. Every libcurl handle of ours sets CURLOPT_CAINFO from it, so a host whose
 * bundle lives elsewhere (Amazon Linux in a Lambda) works. */
const char *bx_httpc_ca_file(void);
/* BX_OK with out->status set for any HTTP answer; BX_UPSTREAM_TIMEOUT, BX_BAD_GATEWAY (could not
 * connect, or a reply too large or malformed). */
enum bx_err bx_httpc_do(const struct bx_httpc_request *req, struct bx_httpc_response *out);
const char *bx_httpc_header(const struct bx_httpc_response *r, const char *name);
void bx_httpc_response_free(struct bx_httpc_response *r);

/* Asynchronous pool. done runs on the pool's thread; it owns nothing of resp after return. */
typedef void (*bx_httpc_done_fn)(void *arg, enum bx_err e, struct bx_httpc_response *resp);
struct bx_httpc_pool;
struct bx_httpc_pool *bx_httpc_pool_new(size_t max_inflight);
/* Copies what it needs from req. BX_UNAVAILABLE when max_inflight are already running. */
enum bx_err bx_httpc_pool_submit(struct bx_httpc_pool *p, const struct bx_httpc_request *req,
                                 bx_httpc_done_fn done, void *arg);
/* Finishes what is queued with BX_UNAVAILABLE and joins the thread. */
void bx_httpc_pool_free(struct bx_httpc_pool *p);

#endif
