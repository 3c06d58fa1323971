// SPDX-License-Identifier: Apache-2.0
// The HTTP server: libmicrohttpd with epoll and a thread pool, one struct conn_req per request
// (allocated when the URI arrives, freed when the response completes), limits checked before the
// body is read, auth before the handler, JSON errors for everything the server itself refuses.
// Invariant: every request that reaches dispatch gets exactly one queued response.
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "boxoffice/base.h"
#include "boxoffice/http.h"
#include "boxoffice/json.h"
#include "boxoffice/log.h"
#include "boxoffice/metrics.h"
#include "boxoffice/worker.h"

#define BUILTIN_HEALTHZ   0
#define BUILTIN_READYZ    1
#define BUILTIN_METRICS   2
#define BUILTINS          3
#define TOKEN_CACHE_SLOTS 4096
/* libmicrohttpd zeroes a connection's whole memory pool on every keep-alive request, so the pool
 * is sized just above the header limit (bench/http.sh measured 28% of CPU in memset with 96 KiB):
 * headers up to max_header_bytes get our JSON 431, larger ones libmicrohttpd's own 431. */
#define MHD_MEMORY_MARGIN_BYTES    (8 * 1024)
#define MHD_MEMORY_LIMIT_MIN_BYTES (12 * 1024)
#define REQ_ARENA_INLINE_BYTES     2048

enum async_state { ASYNC_NONE, ASYNC_WAITING, ASYNC_SUSPENDED, ASYNC_READY };

struct bx_stream;

struct conn_req;

/* A TCP connection, for the request-read deadline: from its start, or the end of its last
 * request, the next request must be in whole within request_timeout_s. libmicrohttpd's idle
 * timeout restarts with every byte, so alone it lets a client trickling a byte a second (slowloris)
 * hold a connection forever. */
struct conn_track {
    struct MHD_Connection *conn;
    int64_t since_us; /* when the current request's reading began (at the latest) */
    bool busy;        /* a request is in our hands (handler, suspended, streaming): not reading */
    bool cut;
    int refs; /* the connection's and its current request's (under conns_mu) */
    struct conn_track *prev, *next;
};

struct bx_http_server {
    struct MHD_Daemon *daemon;
    pthread_mutex_t conns_mu;
    struct conn_track *conns;   /* every open connection */
    struct bx_worker *watchdog; /* cuts connections whose request takes past request_timeout_s */
    pthread_mutex_t streams_mu;
    struct bx_stream *streams; /* open streams, ended at drain */
    struct bx_http_config cfg;
    struct bx_http_handlers h;
    struct bx_token_cache *tokens;
    uint16_t port;
    _Atomic bool draining;
    _Atomic int64_t inflight;
    char **labels; /* metrics labels: routes then builtins */
};

struct conn_req {
    struct bx_req req;
    struct bx_http_server *srv;
    struct MHD_Connection *conn;
    int64_t start_us;
    char *body;
    size_t body_len, body_cap;
    bool started, dispatched, body_too_large, uri_too_long, responded;
    size_t metrics_route;
    pthread_mutex_t lock;
    enum async_state async;
    struct bx_stream *stream; /* a streaming response (bx_req_stream) */
    struct conn_track *track; /* its connection's (NULL if none) */
    alignas(max_align_t) unsigned char arena_buf[REQ_ARENA_INLINE_BYTES];
};

/* A streaming response. Two references: the producer's (dropped by bx_stream_close) and the
 * connection's (dropped when MHD frees the response, or at once if it was never queued). */
struct bx_stream {
    pthread_mutex_t mu;
    struct bx_http_server *srv;
    struct MHD_Connection *conn; /* NULL once the connection is done */
    char *buf;
    size_t len, cap;
    uint64_t sent;
    bool closed;    /* the producer is done: end the body after the backlog */
    bool gone;      /* the client went away or the response was freed: writes fail */
    bool suspended; /* the connection waits for data */
    int refs;
    struct bx_stream *prev, *next; /* in srv->streams */
};

static const struct bx_route builtin_routes[BUILTINS] = {
    [BUILTIN_HEALTHZ] = {BX_GET, "/healthz", NULL, BX_AUTH_NONE},
    [BUILTIN_READYZ] = {BX_GET, "/readyz", NULL, BX_AUTH_NONE},
    [BUILTIN_METRICS] = {BX_GET, "/metrics", NULL, BX_AUTH_NONE},
};

const char *bx_req_header(struct bx_req *req, const char *name) {
    struct conn_req *cr = req->internal;
    const char *v = MHD_lookup_connection_value(cr->conn, MHD_HEADER_KIND, name);
    size_t n = v != NULL ? strlen(v) : 0;
    if (n == 0 || (v[n - 1] != ' ' && v[n - 1] != '\t')) {
        return v;
    }
    /* RFC 9110 5.5: whitespace around a field value is not part of it (libmicrohttpd strips the
     * leading only); a trimmed copy, so "Idempotency-Key: k " is the key "k" */
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t')) {
        n--;
    }
    return bx_arena_strndup(&req->arena, v, n);
}

const char *bx_req_query(struct bx_req *req, const char *name) {
    struct conn_req *cr = req->internal;
    return MHD_lookup_connection_value(cr->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *bx_req_remote(struct bx_req *req) {
    struct conn_req *cr = req->internal;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(cr->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci == NULL || ci->client_addr == NULL) {
        return "";
    }
    char *out = bx_arena_alloc(&req->arena, INET6_ADDRSTRLEN);
    if (out == NULL) {
        return "";
    }
    const struct sockaddr *sa = ci->client_addr;
    const void *src = sa->sa_family == AF_INET6
                          ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
                          : (const void *)&((const struct sockaddr_in *)sa)->sin_addr;
    if (inet_ntop(sa->sa_family, src, out, INET6_ADDRSTRLEN) == NULL) {
        return "";
    }
    return out;
}

/* True when peer (an address as text) is entry: an exact address, or an IPv4 CIDR "a.b.c.d/n". */
static bool peer_matches(const char *peer, const char *entry, size_t n) {
    char buf[64];
    if (n == 0 || n >= sizeof buf) {
        return false;
    }
    memcpy(buf, entry, n);
    buf[n] = '\0';
    char *slash = strchr(buf, '/');
    if (slash == NULL) {
        return strcmp(buf, peer) == 0;
    }
    *slash = '\0';
    int64_t bits;
    struct in_addr net, addr;
    if (bx_parse_i64(slash + 1, 0, 32, &bits) != 0 || inet_pton(AF_INET, buf, &net) != 1 ||
        inet_pton(AF_INET, peer, &addr) != 1) {
        return false;
    }
    uint32_t mask = bits == 0 ? 0 : htonl((uint32_t)(0xffffffffu << (32 - bits)));
    return (net.s_addr & mask) == (addr.s_addr & mask);
}

const char *bx_req_client(struct bx_req *req) {
    struct conn_req *cr = req->internal;
    const char *peer = bx_req_remote(req);
    const char *list = cr->srv->cfg.trusted_proxies;
    const char *fwd = bx_req_header(req, "X-Forwarded-For");
    if (fwd == NULL || list == NULL || peer[0] == '\0') {
        return peer;
    }
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (peer_matches(peer, p, n)) {
            /* the last hop is the one our trusted proxy added */
            const char *last = strrchr(fwd, ',');
            last = last ? last + 1 : fwd;
            while (*last == ' ') {
                last++;
            }
            return *last ? last : peer;
        }
        p += n + (end ? 1 : 0);
    }
    return peer;
}

enum bx_err bx_req_fail(struct bx_req *req, enum bx_err code, const char *field, const char *fmt,
                        ...) {
    req->error.code = code;
    bx_strlcpy(req->error.field, field ? field : "", sizeof req->error.field);
    req->error.message[0] = '\0';
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(req->error.message, sizeof req->error.message, fmt, ap);
        va_end(ap);
    }
    return code;
}

enum bx_err bx_respond(struct bx_req *req, unsigned status, const char *content_type,
                       const void *body, size_t len) {
    char *copy = bx_arena_alloc(&req->arena, len + 1);
    if (copy == NULL) {
        return BX_INTERNAL;
    }
    if (len > 0) {
        memcpy(copy, body, len);
    }
    copy[len] = '\0';
    req->status = status;
    req->content_type = content_type;
    req->resp_body = copy;
    req->resp_len = len;
    return BX_OK;
}

enum bx_err bx_respond_json(struct bx_req *req, unsigned status, json_t *v) {
    if (v == NULL) {
        return bx_req_fail(req, BX_INTERNAL, NULL, "could not build the response");
    }
    size_t len = 0;
    char *body = bx_json_dump(v, &req->arena, &len);
    json_decref(v);
    if (body == NULL) {
        return bx_req_fail(req, BX_INTERNAL, NULL, "could not encode the response");
    }
    req->status = status;
    req->content_type = "application/json; charset=utf-8";
    req->resp_body = body;
    req->resp_len = len;
    return BX_OK;
}

char *bx_error_body(struct bx_arena *arena, const struct bx_error *e, const char *request_id,
                    size_t *len_out) {
    (void)request_id;
    /* a message may quote client bytes (a decoded path, a JSON key) or be cut mid-character:
     * JSON wants UTF-8, and the body must name the code whatever the message holds */
    char message[sizeof e->message], field[sizeof e->field];
    bx_strlcpy(message, e->message[0] ? e->message : bx_err_message(e->code), sizeof message);
    bx_strlcpy(field, e->field, sizeof field);
    bx_utf8_sanitize(message);
    bx_utf8_sanitize(field);
    json_t *err = json_pack("{s:s,s:s}", "code", bx_err_name(e->code), "message", message);
    if (err != NULL && field[0] != '\0') {
        json_object_set_new(err, "field", json_string(field));
    }
    json_t *doc = json_pack("{s:o*}", "error", err);
    char *body = doc ? bx_json_dump(doc, arena, len_out) : NULL;
    json_decref(doc);
    return body;
}

enum bx_err bx_respond_error(struct bx_req *req, const struct bx_error *e) {
    size_t len = 0;
    char *body = bx_error_body(&req->arena, e, req->request_id, &len);
    if (body == NULL) {
        static const char fallback[] =
            "{\"error\":{\"code\":\"internal\",\"message\":\"Internal error.\"}}";
        body = (char *)fallback;
        len = sizeof fallback - 1;
    }
    req->status = bx_err_status(e->code);
    req->content_type = "application/json; charset=utf-8";
    req->resp_body = body;
    req->resp_len = len;
    return BX_OK;
}

void bx_resp_header(struct bx_req *req, const char *name, const char *value) {
    if (req->n_resp_headers == BX_RESP_HEADERS_MAX) {
        return;
    }
    struct bx_resp_header *h = &req->resp_headers[req->n_resp_headers];
    h->name = bx_arena_strdup(&req->arena, name);
    h->value = bx_arena_strdup(&req->arena, value);
    if (h->name != NULL && h->value != NULL) {
        req->n_resp_headers++;
    }
}

static enum bx_err fail_code(struct bx_req *req, enum bx_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum bx_err fail_code(struct bx_req *req, enum bx_err code, const char *fmt, ...) {
    struct bx_error e = {.code = code};
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e.message, sizeof e.message, fmt, ap);
        va_end(ap);
    }
    return bx_respond_error(req, &e);
}

static void stream_unref(struct bx_stream *s) {
    pthread_mutex_lock(&s->mu);
    bool last = --s->refs == 0;
    pthread_mutex_unlock(&s->mu);
    if (!last) {
        return;
    }
    struct bx_http_server *srv = s->srv;
    pthread_mutex_lock(&srv->streams_mu);
    if (s->prev != NULL) {
        s->prev->next = s->next;
    } else {
        srv->streams = s->next;
    }
    if (s->next != NULL) {
        s->next->prev = s->prev;
    }
    pthread_mutex_unlock(&srv->streams_mu);
    pthread_mutex_destroy(&s->mu);
    free(s->buf);
    free(s);
}

/* Wakes a connection waiting for data; s->mu held. */
static void stream_wake(struct bx_stream *s) {
    if (s->suspended && s->conn != NULL) {
        s->suspended = false;
        MHD_resume_connection(s->conn);
    }
}

struct bx_stream *bx_req_stream(struct bx_req *req, unsigned status, const char *content_type) {
    struct conn_req *cr = req->internal;
    struct bx_stream *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    s->srv = cr->srv;
    s->conn = cr->conn;
    s->refs = 2;
    s->closed = atomic_load(&cr->srv->draining);
    pthread_mutex_lock(&cr->srv->streams_mu);
    s->next = cr->srv->streams;
    if (s->next != NULL) {
        s->next->prev = s;
    }
    cr->srv->streams = s;
    pthread_mutex_unlock(&cr->srv->streams_mu);
    req->status = status;
    req->content_type = content_type ? bx_arena_strdup(&req->arena, content_type) : NULL;
    cr->stream = s;
    return s;
}

int bx_stream_write(struct bx_stream *s, const void *data, size_t len) {
    pthread_mutex_lock(&s->mu);
    int rc = -1;
    if (!s->gone && !s->closed && s->len + len <= BX_STREAM_BUFFER_MAX_BYTES) {
        if (s->len + len > s->cap) {
            size_t cap = s->cap ? s->cap : 4096;
            while (cap < s->len + len) {
                cap *= 2;
            }
            char *p = realloc(s->buf, cap);
            if (p != NULL) {
                s->buf = p;
                s->cap = cap;
            }
        }
        if (s->len + len <= s->cap) {
            memcpy(s->buf + s->len, data, len);
            s->len += len;
            rc = 0;
            stream_wake(s);
        }
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void bx_stream_close(struct bx_stream *s) {
    pthread_mutex_lock(&s->mu);
    s->closed = true;
    stream_wake(s);
    pthread_mutex_unlock(&s->mu);
    stream_unref(s);
}

/* MHD asks for the next bytes of a stream (on a server thread). */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    struct bx_stream *s = cls;
    pthread_mutex_lock(&s->mu);
    ssize_t n;
    if (s->len > 0) {
        size_t k = s->len < max ? s->len : max;
        memcpy(buf, s->buf, k);
        memmove(s->buf, s->buf + k, s->len - k);
        s->len -= k;
        s->sent += k;
        n = (ssize_t)k;
    } else if (s->closed || s->gone) {
        n = MHD_CONTENT_READER_END_OF_STREAM;
    } else {
        /* nothing to say yet: park the connection until a write or close wakes it */
        s->suspended = true;
        MHD_suspend_connection(s->conn);
        n = 0;
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* MHD is done with the response: the client got the end, or went away. */
static void stream_free(void *cls) {
    struct bx_stream *s = cls;
    pthread_mutex_lock(&s->mu);
    s->gone = true;
    s->conn = NULL;
    s->suspended = false;
    pthread_mutex_unlock(&s->mu);
    stream_unref(s);
}

static enum MHD_Result queue(struct conn_req *cr) {
    struct bx_req *req = &cr->req;
    BX_ASSERT(!cr->responded);
    if (req->status == 0) {
        fail_code(req, BX_INTERNAL, "The handler produced no response.");
    }
    struct MHD_Response *r;
    if (cr->stream != NULL) {
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, cr->stream,
                                              stream_free);
        if (r == NULL) {
            stream_free(cr->stream);
        }
        cr->stream = NULL; /* the response owns the connection's reference now */
    } else {
        r = MHD_create_response_from_buffer(req->resp_len, (void *)req->resp_body,
                                            MHD_RESPMEM_PERSISTENT);
    }
    if (r == NULL) {
        return MHD_NO;
    }
    if (req->content_type != NULL) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, req->content_type);
    }
    MHD_add_response_header(r, "X-Request-Id", req->request_id);
    for (size_t i = 0; i < req->n_resp_headers; i++) {
        MHD_add_response_header(r, req->resp_headers[i].name, req->resp_headers[i].value);
    }
    if (atomic_load(&cr->srv->draining) || cr->body_too_large) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    }
    enum MHD_Result ret = MHD_queue_response(cr->conn, req->status, r);
    MHD_destroy_response(r);
    cr->responded = true;
    return ret;
}

void bx_req_suspend(struct bx_req *req) {
    struct conn_req *cr = req->internal;
    pthread_mutex_lock(&cr->lock);
    BX_ASSERT(cr->async == ASYNC_NONE);
    cr->async = ASYNC_WAITING;
    pthread_mutex_unlock(&cr->lock);
}

void bx_req_resume(struct bx_req *req) {
    struct conn_req *cr = req->internal;
    pthread_mutex_lock(&cr->lock);
    enum async_state was = cr->async;
    BX_ASSERT(was == ASYNC_WAITING || was == ASYNC_SUSPENDED);
    cr->async = ASYNC_READY;
    if (was == ASYNC_SUSPENDED) {
        MHD_resume_connection(cr->conn);
    }
    pthread_mutex_unlock(&cr->lock);
}

static bool valid_request_id(const char *s) {
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        if (n >= BX_REQUEST_ID_MAX - 1 ||
            !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':')) {
            return false;
        }
    }
    return n > 0;
}

struct header_scan {
    size_t bytes;
    unsigned content_lengths, transfer_encodings;
    bool unknown_coding; /* a Transfer-Encoding other than chunked: we cannot frame the body */
};

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value) {
    (void)kind;
    struct header_scan *h = cls;
    h->bytes += strlen(key) + (value ? strlen(value) : 0) + 4;
    h->content_lengths += strcasecmp(key, "Content-Length") == 0;
    if (strcasecmp(key, "Transfer-Encoding") == 0) {
        h->transfer_encodings++;
        h->unknown_coding = h->unknown_coding || value == NULL || strcasecmp(value, "chunked") != 0;
    }
    return MHD_YES;
}

/* A NUL in the decoded path or query would cut it short where we read it as a C string
 * ("/api/venues/<id>%00x" would name the venue): such a URI names nothing we serve. */
static bool has_encoded_nul(const char *raw_uri) {
    for (const char *p = raw_uri; (p = strchr(p, '%')) != NULL; p++) {
        if (p[1] == '0' && p[2] == '0') {
            return true;
        }
    }
    return false;
}

static enum bx_err authenticate(struct conn_req *cr, enum bx_auth level) {
    struct bx_req *req = &cr->req;
    const char *authz = bx_req_header(req, MHD_HTTP_HEADER_AUTHORIZATION);
    if (authz == NULL) {
        if (level == BX_AUTH_OPTIONAL) {
            return BX_OK;
        }
        return bx_req_fail(req, BX_UNAUTHORIZED, NULL, "A bearer token is required.");
    }
    if (strncasecmp(authz, "Bearer ", 7) != 0 || cr->srv->h.keyring == NULL) {
        return bx_req_fail(req, BX_UNAUTHORIZED, NULL, "A bearer token is required.");
    }
    const char *token = authz + 7;
    while (*token == ' ') {
        token++;
    }
    const char *why = NULL;
    if (bx_token_verify_cached(cr->srv->tokens, cr->srv->h.keyring, token, bx_now_unix_s(),
                               &req->claims, &why) != BX_OK) {
        bx_log(BX_LOG_DEBUG, req->request_id, "token rejected: %s", why ? why : "?");
        return bx_req_fail(req, BX_UNAUTHORIZED, NULL, "The token is invalid or expired.");
    }
    if (cr->srv->h.is_revoked != NULL && cr->srv->h.is_revoked(cr->srv->h.ctx, req->claims.jti)) {
        return bx_req_fail(req, BX_UNAUTHORIZED, NULL, "The token was revoked.");
    }
    req->authenticated = true;
    req->token = token;
    bool allowed = level <= BX_AUTH_USER ||
                   (level == BX_AUTH_STAFF &&
                    (req->claims.role == BX_ROLE_STAFF || req->claims.role == BX_ROLE_ADMIN)) ||
                   (level == BX_AUTH_ADMIN && req->claims.role == BX_ROLE_ADMIN);
    if (!allowed) {
        return bx_req_fail(req, BX_FORBIDDEN, NULL, "Your role does not allow this.");
    }
    return BX_OK;
}

static void run_builtin(struct conn_req *cr, int which) {
    struct bx_req *req = &cr->req;
    struct bx_http_server *srv = cr->srv;
    if (which == BUILTIN_HEALTHZ) {
        static const char ok[] = "{\"status\":\"ok\"}";
        bx_respond(req, 200, "application/json; charset=utf-8", ok, sizeof ok - 1);
    } else if (which == BUILTIN_READYZ) {
        char why[160] = "";
        if (atomic_load(&srv->draining)) {
            fail_code(req, BX_UNAVAILABLE, "The service is shutting down.");
        } else if (srv->h.ready != NULL && !srv->h.ready(srv->h.ctx, why, sizeof why)) {
            fail_code(req, BX_UNAVAILABLE, "Not ready: %s", why[0] ? why : "dependencies");
        } else {
            static const char ok[] = "{\"status\":\"ok\"}";
            bx_respond(req, 200, "application/json; charset=utf-8", ok, sizeof ok - 1);
        }
    } else {
        size_t len = 0;
        char *text = bx_metrics_render(&len);
        if (text == NULL) {
            fail_code(req, BX_INTERNAL, NULL);
            return;
        }
        bx_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
        free(text);
    }
}

/* Runs the request; returns true when the handler suspended it. */
static bool dispatch(struct conn_req *cr) {
    struct bx_req *req = &cr->req;
    struct bx_http_server *srv = cr->srv;
    cr->dispatched = true;
    cr->metrics_route = srv->h.n_routes + BUILTINS;
    if (cr->uri_too_long) {
        fail_code(req, BX_URI_TOO_LONG, NULL);
        return false;
    }
    if (cr->body_too_large) {
        fail_code(req, BX_PAYLOAD_TOO_LARGE, "The request body is larger than %zu bytes.",
                  srv->cfg.max_body_bytes);
        return false;
    }
    bool path_matched = false;
    int b = bx_route_match(builtin_routes, BUILTINS, req->method, req->path, NULL, &path_matched);
    if (b >= 0) {
        cr->metrics_route = srv->h.n_routes + (size_t)b;
        run_builtin(cr, b);
        return false;
    }
    bool builtin_path = path_matched;
    int i =
        bx_route_match(srv->h.routes, srv->h.n_routes, req->method, req->path, req, &path_matched);
    if (i < 0) {
        if (path_matched || builtin_path) {
            fail_code(req, BX_METHOD_NOT_ALLOWED, "%s is not allowed on %s.", req->method_name,
                      req->path);
        } else {
            fail_code(req, BX_NOT_FOUND, "No route for %s.", req->path);
        }
        return false;
    }
    const struct bx_route *route = &srv->h.routes[i];
    req->route = route;
    cr->metrics_route = (size_t)i;
    enum bx_err e = BX_OK;
    if (route->auth != BX_AUTH_NONE) {
        e = authenticate(cr, route->auth);
    }
    if (e == BX_OK) {
        e = route->handler(req);
    }
    pthread_mutex_lock(&cr->lock);
    bool waiting = cr->async == ASYNC_WAITING;
    if (waiting && e == BX_OK) {
        cr->async = ASYNC_SUSPENDED;
        MHD_suspend_connection(cr->conn);
        pthread_mutex_unlock(&cr->lock);
        return true;
    }
    pthread_mutex_unlock(&cr->lock);
    BX_ASSERT(!waiting || e != BX_OK || cr->async == ASYNC_READY);
    if (e != BX_OK && req->status == 0) {
        struct bx_error err = req->error;
        if (err.code != e) {
            err.code = e;
            err.field[0] = '\0';
            err.message[0] = '\0';
        }
        if (e == BX_INTERNAL) {
            bx_log(BX_LOG_ERROR, req->request_id, "internal error on %s %s: %s", req->method_name,
                   req->path, err.message);
        }
        bx_respond_error(req, &err);
    }
    return false;
}

/* ---- the request-read deadline (slowloris) ---- */

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe) {
    struct bx_http_server *srv = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        struct conn_track *t = calloc(1, sizeof *t);
        *socket_context = t;
        if (t == NULL) {
            return; /* not watched: the idle timeout still applies */
        }
        t->conn = conn;
        t->since_us = bx_now_mono_us();
        t->refs = 1;
        pthread_mutex_lock(&srv->conns_mu);
        t->next = srv->conns;
        if (t->next != NULL) {
            t->next->prev = t;
        }
        srv->conns = t;
        pthread_mutex_unlock(&srv->conns_mu);
        return;
    }
    struct conn_track *t = *socket_context; /* closed: before libmicrohttpd closes the socket */
    *socket_context = NULL;
    if (t == NULL) {
        return;
    }
    pthread_mutex_lock(&srv->conns_mu);
    if (t->prev != NULL) {
        t->prev->next = t->next;
    } else {
        srv->conns = t->next;
    }
    if (t->next != NULL) {
        t->next->prev = t->prev;
    }
    t->conn = NULL;
    bool last = --t->refs == 0; /* a request may still hold it until on_completed */
    pthread_mutex_unlock(&srv->conns_mu);
    if (last) {
        free(t);
    }
}

/* The request's hold on its connection's track (on_uri), dropped in on_completed. */
static struct conn_track *track_hold(struct bx_http_server *srv, struct MHD_Connection *conn) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct conn_track *t = ci != NULL ? ci->socket_context : NULL;
    if (t != NULL) {
        pthread_mutex_lock(&srv->conns_mu);
        t->refs++;
        pthread_mutex_unlock(&srv->conns_mu);
    }
    return t;
}

static void track_release(struct bx_http_server *srv, struct conn_track *t) {
    if (t == NULL) {
        return;
    }
    pthread_mutex_lock(&srv->conns_mu);
    bool last = --t->refs == 0;
    pthread_mutex_unlock(&srv->conns_mu);
    if (last) {
        free(t);
    }
}

/* The request is read (busy true) or answered (busy false, the next one's clock starts). */
static void track_set_busy(struct bx_http_server *srv, struct conn_track *t, bool busy) {
    if (t == NULL) {
        return;
    }
    pthread_mutex_lock(&srv->conns_mu);
    t->busy = busy;
    t->since_us = bx_now_mono_us();
    pthread_mutex_unlock(&srv->conns_mu);
}

/* Every half second: a connection still reading a request past the deadline has its socket shut
 * down; libmicrohttpd then sees the error and closes it (the socket is open while it is listed). */
static int64_t watchdog_round(void *arg) {
    struct bx_http_server *srv = arg;
    int64_t limit_us = (int64_t)srv->cfg.request_timeout_s * 1000000, now = bx_now_mono_us();
    pthread_mutex_lock(&srv->conns_mu);
    for (struct conn_track *t = srv->conns; t != NULL; t = t->next) {
        if (!t->busy && !t->cut && t->conn != NULL && now - t->since_us > limit_us) {
            const union MHD_ConnectionInfo *ci =
                MHD_get_connection_info(t->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
            if (ci != NULL) {
                shutdown(ci->connect_fd, SHUT_RDWR);
            }
            t->cut = true;
        }
    }
    pthread_mutex_unlock(&srv->conns_mu);
    return 500;
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn) {
    struct bx_http_server *srv = cls;
    struct conn_req *cr = calloc(1, sizeof *cr);
    if (cr == NULL) {
        return NULL;
    }
    cr->srv = srv;
    cr->conn = conn;
    cr->start_us = bx_now_mono_us();
    pthread_mutex_init(&cr->lock, NULL);
    bx_arena_init_inline(&cr->req.arena, cr->arena_buf, sizeof cr->arena_buf, 0);
    cr->req.internal = cr;
    cr->req.ctx = srv->h.ctx;
    size_t len = strnlen(uri, BX_URI_MAX_BYTES + 1);
    if (len > BX_URI_MAX_BYTES) {
        cr->uri_too_long = true;
        len = BX_URI_MAX_BYTES;
    }
    cr->req.raw_uri = bx_arena_strndup(&cr->req.arena, uri, len);
    cr->track = track_hold(srv, conn);
    atomic_fetch_add(&srv->inflight, 1);
    bx_metrics_inflight_add(1);
    return cr;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)conn;
    (void)toe;
    struct bx_http_server *srv = cls;
    struct conn_req *cr = *con_cls;
    if (cr == NULL) {
        return;
    }
    *con_cls = NULL;
    track_set_busy(srv, cr->track, false); /* the next request's clock starts now */
    track_release(srv, cr->track);
    cr->track = NULL;
    int64_t dur = bx_now_mono_us() - cr->start_us;
    if (cr->responded) {
        bx_metrics_observe(cr->metrics_route, cr->req.status, dur);
        if (bx_log_level_get() <= BX_LOG_INFO) {
            bx_log_access(cr->req.request_id, cr->req.method_name ? cr->req.method_name : "?",
                          cr->req.path ? cr->req.path : "?", cr->req.status, dur, cr->req.resp_len,
                          cr->started ? bx_req_remote(&cr->req) : "");
        }
    }
    if (cr->stream != NULL) {
        stream_free(cr->stream); /* created but never queued: the connection's reference */
        cr->stream = NULL;
    }
    atomic_fetch_sub(&srv->inflight, 1);
    bx_metrics_inflight_add(-1);
    free(cr->body);
    bx_arena_reset(&cr->req.arena);
    pthread_mutex_destroy(&cr->lock);
    free(cr);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
    (void)version;
    struct bx_http_server *srv = cls;
    struct conn_req *cr = *con_cls;
    if (cr == NULL) {
        return MHD_NO; /* on_uri could not allocate */
    }
    struct bx_req *req = &cr->req;
    if (!cr->started) {
        cr->started = true;
        req->method = bx_method_parse(method);
        req->method_name = bx_arena_strdup(&req->arena, method);
        req->path = bx_arena_strdup(&req->arena, url);
        if (req->method_name == NULL || req->path == NULL) {
            return MHD_NO;
        }
        const char *rid = bx_req_header(req, "X-Request-Id"); /* trimmed */
        if (rid != NULL && valid_request_id(rid)) {
            bx_strlcpy(req->request_id, rid, sizeof req->request_id);
        } else {
            bx_uuid7(req->request_id);
        }
        struct header_scan hs = {0};
        MHD_get_connection_values(conn, MHD_HEADER_KIND, scan_header, &hs);
        size_t header_bytes = hs.bytes;
        /* framing a proxy and we could read differently (request smuggling), or a URI with a NUL:
         * refuse, and close the connection after answering */
        const char *framing = hs.content_lengths > 1 ? "more than one Content-Length"
                              : hs.content_lengths > 0 && hs.transfer_encodings > 0
                                  ? "both Content-Length and Transfer-Encoding"
                              : hs.transfer_encodings > 1 ? "more than one Transfer-Encoding"
                              : hs.unknown_coding         ? "a Transfer-Encoding other than chunked"
                              : has_encoded_nul(req->raw_uri) ? "a NUL byte (%00) in the URI"
                                                              : NULL;
        if (framing != NULL) {
            cr->dispatched = true;
            cr->metrics_route = srv->h.n_routes + BUILTINS;
            fail_code(req, BX_BAD_REQUEST, "The request has %s.", framing);
            cr->body_too_large = true; /* close the connection after answering */
            return queue(cr);
        }
        if (header_bytes > srv->cfg.max_header_bytes) {
            cr->dispatched = true;
            cr->metrics_route = srv->h.n_routes + BUILTINS;
            fail_code(req, BX_HEADERS_TOO_LARGE, "The request headers exceed %zu bytes.",
                      srv->cfg.max_header_bytes);
            cr->body_too_large = true; /* close the connection after answering */
            return queue(cr);
        }
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        int64_t declared = 0;
        if (cl != NULL && bx_parse_i64(cl, 0, INT64_MAX, &declared) == 0 &&
            (uint64_t)declared > srv->cfg.max_body_bytes) {
            cr->body_too_large = true;
            dispatch(cr);
            return queue(cr);
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (bx_now_mono_us() - cr->start_us > (int64_t)srv->cfg.request_timeout_s * 1000000) {
            return MHD_NO; /* a body trickling in past the deadline: close */
        }
        if (cr->body_too_large || cr->responded) {
            return MHD_YES;
        }
        if (cr->body_len + n > srv->cfg.max_body_bytes) {
            cr->body_too_large = true;
            free(cr->body);
            cr->body = NULL;
            cr->body_len = 0;
            return MHD_YES;
        }
        if (cr->body_len + n + 1 > cr->body_cap) {
            size_t cap = cr->body_cap ? cr->body_cap : 1024;
            while (cap < cr->body_len + n + 1) {
                cap *= 2;
            }
            char *p = realloc(cr->body, cap);
            if (p == NULL) {
                return MHD_NO;
            }
            cr->body = p;
            cr->body_cap = cap;
        }
        memcpy(cr->body + cr->body_len, upload_data, n);
        cr->body_len += n;
        cr->body[cr->body_len] = '\0';
        return MHD_YES;
    }
    if (cr->responded) {
        return MHD_YES;
    }
    if (!cr->dispatched) {
        track_set_busy(srv, cr->track, true); /* all of it is in: ours now */
        req->body = cr->body_len ? cr->body : NULL;
        req->body_len = cr->body_len;
        if (dispatch(cr)) {
            return MHD_YES; /* suspended; called again after bx_req_resume */
        }
        return queue(cr);
    }
    pthread_mutex_lock(&cr->lock);
    bool ready = cr->async == ASYNC_READY;
    pthread_mutex_unlock(&cr->lock);
    if (!ready) {
        return MHD_YES;
    }
    return queue(cr);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) {
        msg[--n] = '\0';
    }
    bx_log(BX_LOG_WARN, NULL, "libmicrohttpd: %s", msg);
}

static char *route_label(const struct bx_route *r) {
    size_t n = strlen(r->pattern) + 16;
    char *s = malloc(n);
    if (s != NULL) {
        snprintf(s, n, "%s %s", bx_method_name(r->method), r->pattern);
    }
    return s;
}

enum bx_err bx_http_start(const struct bx_http_config *cfg, const struct bx_http_handlers *h,
                          struct bx_http_server **out, struct bx_error *err) {
    BX_ASSERT(cfg->threads >= 2);
    BX_ASSERT(h->n_routes + BUILTINS <= BX_METRICS_ROUTES_MAX);
    struct bx_http_server *srv = calloc(1, sizeof *srv);
    if (srv == NULL) {
        return bx_error_set(err, BX_INTERNAL, NULL, "out of memory");
    }
    pthread_mutex_init(&srv->streams_mu, NULL);
    pthread_mutex_init(&srv->conns_mu, NULL);
    srv->cfg = *cfg;
    if (srv->cfg.request_timeout_s == 0) {
        srv->cfg.request_timeout_s = cfg->idle_timeout_s;
    }
    srv->h = *h;
    srv->tokens = bx_token_cache_new(TOKEN_CACHE_SLOTS);
    size_t n_labels = h->n_routes + BUILTINS;
    srv->labels = calloc(n_labels, sizeof *srv->labels);
    if (srv->tokens == NULL || srv->labels == NULL) {
        bx_http_stop(srv);
        return bx_error_set(err, BX_INTERNAL, NULL, "out of memory");
    }
    for (size_t i = 0; i < h->n_routes; i++) {
        BX_ASSERT(h->routes[i].handler != NULL && h->routes[i].pattern[0] == '/');
        srv->labels[i] = route_label(&h->routes[i]);
    }
    for (size_t i = 0; i < BUILTINS; i++) {
        srv->labels[h->n_routes + i] = route_label(&builtin_routes[i]);
    }
    bx_metrics_init(NULL, (const char *const *)srv->labels, n_labels);

    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    unsigned flags =
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC;
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, cfg->bind_addr, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(cfg->port);
    } else if (inet_pton(AF_INET6, cfg->bind_addr, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(cfg->port);
        flags |= MHD_USE_IPv6;
    } else {
        bx_http_stop(srv);
        return bx_error_set(err, BX_INVALID_FIELD, "bind", "'%s' is not an IP address",
                            cfg->bind_addr);
    }
    size_t mem_limit = cfg->max_header_bytes + MHD_MEMORY_MARGIN_BYTES;
    if (mem_limit < MHD_MEMORY_LIMIT_MIN_BYTES) {
        mem_limit = MHD_MEMORY_LIMIT_MIN_BYTES;
    }
    /* The external logger goes first so that MHD's own start-up messages reach it too. */
    srv->daemon = MHD_start_daemon(
        flags, cfg->port, NULL, NULL, on_request, srv,                    /* handler */
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv,                         /* logging */
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,                     /* address */
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)cfg->threads,          /* >= 2 */
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)cfg->max_connections,  /* limits */
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)cfg->idle_timeout_s, /* idle */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, mem_limit,                    /* headers */
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)1024,               /* bursts */
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv,                         /* start */
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,                   /* finish */
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,                 /* deadline */
        MHD_OPTION_END);
    if (srv->daemon == NULL) {
        bx_http_stop(srv);
        return bx_error_set(err, BX_UNAVAILABLE, NULL, "cannot listen on %s:%u", cfg->bind_addr,
                            (unsigned)cfg->port);
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di != NULL ? di->port : cfg->port;
    if ((srv->watchdog = bx_worker_start(watchdog_round, srv, err)) == NULL) {
        bx_http_stop(srv);
        return err->code;
    }
    *out = srv;
    return BX_OK;
}

uint16_t bx_http_port(const struct bx_http_server *s) {
    return s->port;
}

bool bx_http_drain(struct bx_http_server *s, int64_t timeout_ms) {
    atomic_store(&s->draining, true);
    /* streams end now (their producers' writes fail), so their connections finish */
    pthread_mutex_lock(&s->streams_mu);
    for (struct bx_stream *st = s->streams; st != NULL; st = st->next) {
        pthread_mutex_lock(&st->mu);
        st->closed = true;
        stream_wake(st);
        pthread_mutex_unlock(&st->mu);
    }
    pthread_mutex_unlock(&s->streams_mu);
    if (s->daemon != NULL) {
        MHD_socket fd = MHD_quiesce_daemon(s->daemon);
        if (fd != MHD_INVALID_SOCKET) {
            close(fd);
        }
    }
    int64_t deadline = bx_now_mono_ms() + timeout_ms;
    while (atomic_load(&s->inflight) > 0) {
        if (bx_now_mono_ms() >= deadline) {
            return false;
        }
        usleep(10 * 1000);
    }
    return true;
}

void bx_http_stop(struct bx_http_server *s) {
    if (s == NULL) {
        return;
    }
    bx_worker_stop(s->watchdog); /* before the daemon: it looks at its connections */
    s->watchdog = NULL;
    if (s->daemon != NULL) {
        MHD_stop_daemon(s->daemon);
    }
    if (s->labels != NULL) {
        for (size_t i = 0; i < s->h.n_routes + BUILTINS; i++) {
            free(s->labels[i]);
        }
        free(s->labels);
    }
    bx_token_cache_free(s->tokens);
    pthread_mutex_destroy(&s->streams_mu);
    pthread_mutex_destroy(&s->conns_mu);
    free(s);
}
