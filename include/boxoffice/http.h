// SPDX-License-Identifier: Apache-2.0
// HTTP/1.1 server over libmicrohttpd. A service hands it one static route table (method, path
// pattern with {params}, handler, auth level); the server adds /healthz, /readyz and /metrics,
// assigns request ids, enforces body/header/connection limits, verifies bearer tokens, answers
// errors as JSON from the one error enum and writes one access-log line per request.
// Threads: epoll with a pool of >= 2 threads (one epoll thread collapses under hundreds of
// keep-alive connections in libmicrohttpd 0.9.75).
#ifndef BOXOFFICE_HTTP_H
#define BOXOFFICE_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boxoffice/arena.h"
#include "boxoffice/auth.h"
#include "boxoffice/err.h"

#define BX_ROUTE_PARAMS_MAX              4
#define BX_REQUEST_ID_MAX                64
#define BX_RESP_HEADERS_MAX              16
#define BX_URI_MAX_BYTES                 4096
#define BX_HTTP_DEFAULT_MAX_BODY_BYTES   (1024 * 1024)
#define BX_HTTP_DEFAULT_MAX_HEADER_BYTES (8 * 1024)

enum bx_method { BX_GET, BX_HEAD, BX_POST, BX_PUT, BX_PATCH, BX_DELETE, BX_OPTIONS, BX_ANY };

enum bx_auth {
    BX_AUTH_NONE,     /* anyone; a token, if sent, is ignored */
    BX_AUTH_OPTIONAL, /* anyone; a valid token fills req->claims (an invalid one is a 401) */
    BX_AUTH_USER,     /* any signed-in role */
    BX_AUTH_STAFF,    /* staff or admin */
    BX_AUTH_ADMIN,
};

struct bx_req;

/* A handler answers with bx_respond_* and returns BX_OK, or returns an error (see bx_req_fail)
 * that the server turns into a JSON error body. */
typedef enum bx_err (*bx_handler_fn)(struct bx_req *req);

/* pattern: literal segments and {name} segments (one non-empty segment each); a last segment
 * "{*}" matches the rest of the path, zero or more segments. */
struct bx_route {
    enum bx_method method;
    const char *pattern;
    bx_handler_fn handler;
    enum bx_auth auth;
};

struct bx_resp_header {
    const char *name, *value;
};

struct bx_req {
    /* Request, read-only for handlers. */
    enum bx_method method;
    const char *method_name;
    const char *path;    /* decoded path, without the query */
    const char *raw_uri; /* as sent: path and query, not decoded */
    const char *body;    /* NUL-terminated copy of the body, NULL when empty */
    size_t body_len;
    char request_id[BX_REQUEST_ID_MAX];
    const struct bx_route *route;
    const char *param_names[BX_ROUTE_PARAMS_MAX];
    const char *param_values[BX_ROUTE_PARAMS_MAX];
    size_t n_params;
    bool authenticated;
    struct bx_claims claims;
    const char *token; /* the bearer token when authenticated */
    void *ctx;         /* the service's context */
    struct bx_arena arena;
    struct bx_error error; /* filled by bx_req_fail */

    /* Response, set through bx_respond_*. */
    unsigned status; /* 0 until a response is set */
    const char *content_type;
    const char *resp_body;
    size_t resp_len;
    struct bx_resp_header resp_headers[BX_RESP_HEADERS_MAX];
    size_t n_resp_headers;

    void *internal; /* server state */
};

/* Lookups (NULL when absent). Header names are case-insensitive. */
const char *bx_req_header(struct bx_req *req, const char *name);
const char *bx_req_query(struct bx_req *req, const char *name);
const char *bx_req_param(const struct bx_req *req, const char *name);
/* Remote address as text ("127.0.0.1"), "" when unknown. */
const char *bx_req_remote(struct bx_req *req);
/* The client's address: X-Forwarded-For (as set by our gateway) when the direct peer is one of
 * the trusted proxies (bx_http_config.trusted_proxies), else the direct peer. */
const char *bx_req_client(struct bx_req *req);

/* Sets req->error and returns code: `return bx_req_fail(req, BX_INVALID_FIELD, "quantity",
 * "must be between 1 and %d", max);` */
enum bx_err bx_req_fail(struct bx_req *req, enum bx_err code, const char *field, const char *fmt,
                        ...) __attribute__((format(printf, 4, 5)));

/* Response setters. body is copied into the request arena unless it already lives there. */
enum bx_err bx_respond(struct bx_req *req, unsigned status, const char *content_type,
                       const void *body, size_t len);
/* Takes ownership of v (json_decref'd here); v == NULL answers 500. */
enum bx_err bx_respond_json(struct bx_req *req, unsigned status, json_t *v);
enum bx_err bx_respond_error(struct bx_req *req, const struct bx_error *e);
/* Adds a response header (both strings copied into the arena); ignored past the limit. */
void bx_resp_header(struct bx_req *req, const char *name, const char *value);

/* Asynchronous handlers: bx_req_suspend in the handler (then return BX_OK without a response);
 * later, from any thread, set the response with bx_respond_* and call bx_req_resume once. */
void bx_req_suspend(struct bx_req *req);
void bx_req_resume(struct bx_req *req);

/* Streaming responses (Server-Sent Events, proxied streams): instead of bx_respond_*, a handler
 * (or, for a suspended request, any thread before bx_req_resume) calls bx_req_stream; headers set
 * with bx_resp_header before it are sent. The body is then produced from any thread with
 * bx_stream_write and ended with bx_stream_close, which the producer must call exactly once.
 * Chunked transfer encoding; the connection waits (suspended, no thread held) while the producer
 * has nothing to say. A client that went away, a server that is draining, or a client too slow to
 * take BX_STREAM_BUFFER_MAX_BYTES of backlog makes bx_stream_write return -1: stop producing and
 * close. Producers should write something (an SSE comment) every few seconds: that is also how a
 * vanished client is noticed. */
#define BX_STREAM_BUFFER_MAX_BYTES (1024 * 1024)
struct bx_stream;
struct bx_stream *bx_req_stream(struct bx_req *req, unsigned status, const char *content_type);
int bx_stream_write(struct bx_stream *s, const void *data, size_t len);
void bx_stream_close(struct bx_stream *s);
/* Renders the JSON error body for e into the arena. */
char *bx_error_body(struct bx_arena *arena, const struct bx_error *e, const char *request_id,
                    size_t *len_out);

/* Route matching, exposed for tests: returns the index of the route, or -1 with *path_matched
 * true when some route matched the path with another method (a 405). */
int bx_route_match(const struct bx_route *routes, size_t n, enum bx_method method, const char *path,
                   struct bx_req *req, bool *path_matched);
enum bx_method bx_method_parse(const char *s);
const char *bx_method_name(enum bx_method m);

struct bx_http_config {
    const char *bind_addr; /* "127.0.0.1", "0.0.0.0", "::" */
    uint16_t port;         /* 0: pick a free port (see bx_http_port) */
    unsigned threads;      /* >= 2 */
    unsigned max_connections;
    size_t max_body_bytes;
    size_t max_header_bytes;
    unsigned idle_timeout_s;
    /* From a connection's start, or the end of its last request, the next request (headers and
     * body) must be in within this many seconds, however it trickles (libmicrohttpd's idle timeout
     * restarts with every byte: alone it lets a slowloris client hold a connection forever). This
     * also bounds how long a keep-alive connection may sit idle. 0: idle_timeout_s. */
    unsigned request_timeout_s;
    /* Comma-separated peers whose X-Forwarded-For is believed: addresses or IPv4 CIDR ranges
     * ("127.0.0.1,::1,10.0.0.0/8"). */
    const char *trusted_proxies;
};

struct bx_http_handlers {
    const struct bx_route *routes;
    size_t n_routes;
    void *ctx;
    /* /readyz: true when the service's dependencies are reachable; why explains otherwise. */
    bool (*ready)(void *ctx, char *why, size_t why_size);
    /* Token checks after the signature: true when jti was revoked (NULL: nothing revoked). */
    bool (*is_revoked)(void *ctx, const char *jti);
    const struct bx_keyring *keyring; /* NULL: routes needing auth answer 401 */
};

struct bx_http_server;

enum bx_err bx_http_start(const struct bx_http_config *cfg, const struct bx_http_handlers *h,
                          struct bx_http_server **out, struct bx_error *err);
uint16_t bx_http_port(const struct bx_http_server *s);
/* Stops accepting new connections and waits up to timeout_ms for in-flight requests to finish;
 * returns true when they all did. */
bool bx_http_drain(struct bx_http_server *s, int64_t timeout_ms);
void bx_http_stop(struct bx_http_server *s);

#endif
