// SPDX-License-Identifier: Apache-2.0
// fuzz_http_request: the whole request path of lib/http.c, in-process. bx_http_start serves a
// small route table shaped like the services' ({param}, {*}, every auth level, JSON bodies, query
// parameters, Idempotency-Key, X-Forwarded-For, a suspended handler, a stream) on 127.0.0.1 with
// a free port, once. Each input is sent as raw bytes on a new loopback connection (then the write
// half is shut), and the answer is read (see read_answer). Checks: handlers see consistent
// requests; our answers carry a valid X-Request-Id (the client's when it is valid); error answers
// are JSON error bodies; after every input a keep-alive connection still gets 200 from /healthz.
// Limits are set small (BODY_MAX_BYTES, HEADER_MAX_BYTES) so the fuzzer reaches 413/431 with
// inputs of a few KiB; the service defaults are larger but configurable the same way.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "boxoffice/auth.h"
#include "boxoffice/base.h"
#include "boxoffice/http.h"
#include "boxoffice/idempotency.h"
#include "boxoffice/json.h"
#include "boxoffice/log.h"
#include "fuzz_common.h"
#include "schemas.h"

#define BODY_MAX_BYTES    4096
#define HEADER_MAX_BYTES  2048
#define ANSWER_TIMEOUT_MS 5000
#define QUIET_MS          20 /* after a whole response: more (pipelined) answers or the close */
#define FIN_GAP_MS        2  /* between the last request byte and the FIN (see the input loop) */
#define ANSWER_MAX_BYTES  (256 * 1024) /* what is read of one answer; the rest is drained */
#define ASYNC_QUEUE_MAX   64
#define Q_MAX_BYTES       200
#define PEER              "127.0.0.1"

static struct bx_http_server *server;
static uint16_t port;
static struct bx_keyring keyring;
static int healthz_fd = -1;
static uint64_t inputs, lingering; /* connections still open after the answer (see read_answer) */

/* ---- the suspended route's worker: answers from another thread, as the gateway does */

static pthread_mutex_t async_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t async_cv = PTHREAD_COND_INITIALIZER;
static struct bx_req *async_queue[ASYNC_QUEUE_MAX];
static size_t async_len;
static bool async_stop;
static pthread_t async_thread;

static void *async_worker(void *arg) {
    (void)arg;
    pthread_mutex_lock(&async_mu);
    for (;;) {
        while (async_len == 0 && !async_stop) {
            pthread_cond_wait(&async_cv, &async_mu);
        }
        if (async_len == 0) {
            break;
        }
        struct bx_req *req = async_queue[--async_len];
        pthread_mutex_unlock(&async_mu);
        bx_respond_json(req, 200, json_pack("{s:b}", "async", 1));
        bx_req_resume(req);
        pthread_mutex_lock(&async_mu);
    }
    pthread_mutex_unlock(&async_mu);
    return NULL;
}

/* ---- handler-side checks: a violation aborts in the server thread, which libFuzzer reports */

static void check_req(struct bx_req *req) {
    size_t n = strlen(req->request_id);
    FUZZ_CHECK(n >= 1 && n <= BX_REQUEST_ID_MAX - 1 &&
                   strspn(req->request_id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                           "0123456789-_.:") == n,
               "request id \"%s\"", req->request_id);
    FUZZ_CHECK(req->path != NULL && req->path[0] == '/', "path");
    FUZZ_CHECK(req->body_len <= BODY_MAX_BYTES && (req->body_len == 0) == (req->body == NULL) &&
                   (req->body == NULL || req->body[req->body_len] == '\0'),
               "body of %zu bytes", req->body_len);
    for (size_t i = 0; i < req->n_params; i++) {
        const char *v = req->param_values[i];
        bool rest = strcmp(req->param_names[i], "*") == 0;
        FUZZ_CHECK(v != NULL && (rest || (v[0] != '\0' && strchr(v, '/') == NULL)),
                   "param %s = \"%s\"", req->param_names[i], v ? v : "(null)");
    }
    /* docs/http.md: the last X-Forwarded-For hop when the peer is trusted, else the peer. */
    const char *client = bx_req_client(req);
    const char *remote = bx_req_remote(req);
    const char *xff = bx_req_header(req, "X-Forwarded-For");
    FUZZ_CHECK(strcmp(remote, PEER) == 0, "remote \"%s\"", remote);
    FUZZ_CHECK(client != NULL &&
                   (xff == NULL ? strcmp(client, PEER) == 0
                                : strcmp(client, PEER) == 0 ||
                                      (client[0] != '\0' && client[0] != ' ' &&
                                       strchr(client, ',') == NULL && strstr(xff, client) != NULL)),
               "client \"%s\" from X-Forwarded-For \"%s\"", client ? client : "(null)",
               xff ? xff : "(none)");
}

/* The Idempotency-Key rule (include/boxoffice/idempotency.h) against bx_idempotency_key. */
static enum bx_err check_idempotency(struct bx_req *req, bool required) {
    const char *raw = bx_req_header(req, "Idempotency-Key");
    const char *key = NULL;
    enum bx_err e = bx_idempotency_key(req, required, &key);
    size_t n = raw ? strlen(raw) : 0;
    bool printable = raw != NULL && n >= 1 && n <= BX_IDEMPOTENCY_KEY_MAX;
    for (size_t i = 0; printable && i < n; i++) {
        printable = raw[i] >= 0x20 && raw[i] < 0x7f;
    }
    if (raw == NULL) {
        FUZZ_CHECK(key == NULL && e == (required ? BX_INVALID_FIELD : BX_OK), "absent key: %s",
                   bx_err_name(e));
    } else {
        FUZZ_CHECK(printable ? e == BX_OK && key == raw : e == BX_INVALID_FIELD && key == NULL,
                   "Idempotency-Key \"%s\": %s", raw, bx_err_name(e));
    }
    FUZZ_CHECK(e == BX_OK || strcmp(req->error.field, "Idempotency-Key") == 0, "field \"%s\"",
               req->error.field);
    char hash[65];
    bx_idempotency_body_hash(req, hash);
    FUZZ_CHECK(strlen(hash) == 64, "body hash");
    FUZZ_CHECK(bx_idempotency_caller(req) != NULL, "caller");
    return e;
}

static const struct bx_json_schema *schema_named(const char *name) {
    for (size_t i = 0; i < fuzz_n_schemas; i++) {
        if (strcmp(fuzz_schemas[i].name, name) == 0) {
            return fuzz_schemas[i].schema;
        }
    }
    FUZZ_CHECK(false, "no schema %s", name);
    return NULL;
}

/* Decodes the body with the named schema (copied from a service) and answers 201 or its error. */
static enum bx_err decode_and_answer(struct bx_req *req, const char *schema_name) {
    const struct bx_json_schema *schema = schema_named(schema_name);
    void *out = bx_arena_alloc(&req->arena, schema->struct_size);
    if (out == NULL) {
        return bx_req_fail(req, BX_PAYLOAD_TOO_LARGE, NULL, NULL);
    }
    struct bx_error err;
    enum bx_err e = bx_json_decode(req->body, req->body_len, schema, out, &req->arena, NULL, &err);
    if (e != BX_OK) {
        req->error = err;
        return e;
    }
    return bx_respond_json(req, 201, json_pack("{s:s}", "decoded", schema_name));
}

/* ---- routes */

static enum bx_err h_hold_create(struct bx_req *req) {
    check_req(req);
    FUZZ_CHECK(req->authenticated, "BX_AUTH_USER route without a token");
    enum bx_err e = check_idempotency(req, true);
    return e != BX_OK ? e : decode_and_answer(req, "booking.hold");
}

static enum bx_err h_id(struct bx_req *req) {
    check_req(req);
    const char *id = bx_req_param(req, "id");
    FUZZ_CHECK(id != NULL, "no {id}");
    if (!bx_valid_id(id)) {
        return bx_req_fail(req, BX_NOT_FOUND, NULL, "No such hold.");
    }
    if (req->method == BX_DELETE) {
        return bx_respond(req, 204, NULL, NULL, 0);
    }
    return bx_respond_json(req, 200, json_pack("{s:s,s:s}", "id", id, "sub", req->claims.sub));
}

static enum bx_err h_events_list(struct bx_req *req) {
    check_req(req);
    const char *limit = bx_req_query(req, "limit");
    const char *from = bx_req_query(req, "from");
    const char *q = bx_req_query(req, "q");
    const char *cursor = bx_req_query(req, "cursor");
    int64_t n = 20, t = 0;
    if (limit != NULL && bx_parse_i64(limit, 1, 100, &n) != 0) {
        return bx_req_fail(req, BX_INVALID_FIELD, "limit", "limit must be 1 to 100.");
    }
    if (from != NULL && bx_time_parse_rfc3339(from, &t) != 0) {
        return bx_req_fail(req, BX_INVALID_FIELD, "from", "from must be an RFC 3339 time.");
    }
    if (q != NULL && (strlen(q) > Q_MAX_BYTES || !bx_valid_utf8(q))) {
        return bx_req_fail(req, BX_INVALID_FIELD, "q", "q must be UTF-8 of at most %d bytes.",
                           Q_MAX_BYTES);
    }
    if (cursor != NULL && !bx_valid_id(cursor)) {
        return bx_req_fail(req, BX_INVALID_FIELD, "cursor", "cursor is not valid.");
    }
    return bx_respond_json(
        req, 200,
        json_pack("{s:I,s:I,s:s?}", "limit", (json_int_t)n, "from", (json_int_t)t, "q", q));
}

static enum bx_err h_event_get(struct bx_req *req) {
    check_req(req);
    const char *id = bx_req_param(req, "id");
    if (!bx_valid_id(id)) {
        return bx_req_fail(req, BX_NOT_FOUND, NULL, NULL);
    }
    return bx_respond_json(req, 200,
                           json_pack("{s:s,s:b}", "id", id, "signed_in", req->authenticated));
}

static enum bx_err h_tier_patch(struct bx_req *req) {
    check_req(req);
    FUZZ_CHECK(req->authenticated && req->claims.role == BX_ROLE_ADMIN, "admin route");
    FUZZ_CHECK(bx_req_param(req, "id") && bx_req_param(req, "tier_id"), "params");
    return decode_and_answer(req, "catalog.tier");
}

static enum bx_err h_register(struct bx_req *req) {
    check_req(req);
    enum bx_err e = check_idempotency(req, false);
    return e != BX_OK ? e : decode_and_answer(req, "users.register");
}

static enum bx_err h_checkin(struct bx_req *req) {
    check_req(req);
    FUZZ_CHECK(req->authenticated && req->claims.role != BX_ROLE_CUSTOMER, "staff route");
    return decode_and_answer(req, "ticketgen.checkin");
}

static enum bx_err h_async(struct bx_req *req) {
    check_req(req);
    bx_req_suspend(req);
    pthread_mutex_lock(&async_mu);
    bool queued = async_len < ASYNC_QUEUE_MAX;
    if (queued) {
        async_queue[async_len++] = req;
        pthread_cond_signal(&async_cv);
    }
    pthread_mutex_unlock(&async_mu);
    if (!queued) {
        bx_respond_error(req, &(struct bx_error){.code = BX_UNAVAILABLE});
        bx_req_resume(req);
    }
    return BX_OK;
}

static enum bx_err h_stream(struct bx_req *req) {
    check_req(req);
    bx_resp_header(req, "Cache-Control", "no-store");
    struct bx_stream *s = bx_req_stream(req, 200, "text/event-stream");
    if (s == NULL) {
        return bx_req_fail(req, BX_INTERNAL, NULL, NULL);
    }
    static const char event[] = "data: {\"n\":1}\n\n";
    bx_stream_write(s, event, sizeof event - 1);
    bx_stream_close(s);
    return BX_OK;
}

static enum bx_err h_rest(struct bx_req *req) {
    check_req(req);
    const char *rest = bx_req_param(req, "*");
    FUZZ_CHECK(rest != NULL, "no {*}");
    for (size_t i = 0; i < BX_RESP_HEADERS_MAX + 2; i++) {
        bx_resp_header(req, "X-Fuzz", "1"); /* past the limit: dropped, not overflowed */
    }
    FUZZ_CHECK(req->n_resp_headers <= BX_RESP_HEADERS_MAX, "%zu headers", req->n_resp_headers);
    return bx_respond(req, 200, "text/plain", rest, strlen(rest));
}

static const struct bx_route routes[] = {
    {BX_POST, "/api/holds", h_hold_create, BX_AUTH_USER},
    {BX_GET, "/api/holds/{id}", h_id, BX_AUTH_USER},
    {BX_DELETE, "/api/holds/{id}", h_id, BX_AUTH_USER},
    {BX_GET, "/api/events", h_events_list, BX_AUTH_NONE},
    {BX_GET, "/api/events/{id}", h_event_get, BX_AUTH_OPTIONAL},
    {BX_PATCH, "/api/events/{id}/tiers/{tier_id}", h_tier_patch, BX_AUTH_ADMIN},
    {BX_POST, "/api/users", h_register, BX_AUTH_NONE},
    {BX_POST, "/api/checkins", h_checkin, BX_AUTH_STAFF},
    {BX_GET, "/api/async", h_async, BX_AUTH_NONE},
    {BX_GET, "/api/stream", h_stream, BX_AUTH_NONE},
    {BX_ANY, "/api/{*}", h_rest, BX_AUTH_NONE},
    {BX_GET, "/static/{*}", h_rest, BX_AUTH_NONE},
};

/* ---- the client side */

static int connect_server(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    FUZZ_CHECK(fd >= 0, "socket: %s", strerror(errno));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    FUZZ_CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "connect: %s", strerror(errno));
    return fd;
}

/* A header's value in a response head (head .. end), case-insensitive name; NULL when absent. */
static const char *find_header(const char *head, const char *end, const char *name, size_t *len) {
    size_t nlen = strlen(name);
    for (const char *p = head; p < end;) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (eol == NULL) {
            eol = end;
        }
        if ((size_t)(eol - p) > nlen && p[nlen] == ':' && strncasecmp(p, name, nlen) == 0) {
            const char *v = p + nlen + 1;
            while (v < eol && *v == ' ') {
                v++;
            }
            *len = (size_t)(eol - v);
            return v;
        }
        p = eol + 2;
    }
    return NULL;
}

/* True when ans holds at least one whole response (Content-Length or chunked framing). */
static bool first_response_complete(const char *ans, size_t len, bool head) {
    const char *head_end = memmem(ans, len, "\r\n\r\n", 4);
    if (head_end == NULL) {
        return false;
    }
    const char *body = head_end + 4;
    size_t have = len - (size_t)(body - ans), cl_len = 0, te_len = 0;
    const char *cl = find_header(ans, head_end, "Content-Length", &cl_len);
    const char *te = find_header(ans, head_end, "Transfer-Encoding", &te_len);
    if (head || (len >= 12 && (ans[9] == '1' || memcmp(ans + 9, "204", 3) == 0))) {
        return true;
    }
    if (te != NULL) {
        return memmem(body, have, "\r\n0\r\n\r\n", 7) != NULL ||
               (have >= 5 && memcmp(body, "0\r\n\r\n", 5) == 0);
    }
    char num[24];
    int64_t n = 0;
    snprintf(num, sizeof num, "%.*s", (int)(cl_len < 20 ? cl_len : 20), cl ? cl : "");
    return cl != NULL && bx_parse_i64(num, 0, INT64_MAX, &n) == 0 && (uint64_t)n <= have;
}

/* Reads the answer into buf (up to cap; the rest is drained) until the server closes. As the
 * server may keep the connection open after answering (see FIN_GAP_MS), it also stops QUIET_MS
 * after a whole first response, and after ANSWER_TIMEOUT_MS in any case; *lingered tells. */
static size_t read_answer(int fd, char *buf, size_t cap, bool head, bool *lingered) {
    size_t len = 0;
    int64_t deadline = bx_now_mono_ms() + ANSWER_TIMEOUT_MS;
    *lingered = false;
    for (;;) {
        int64_t left = deadline - bx_now_mono_ms();
        int wait_ms = first_response_complete(buf, len, head) ? QUIET_MS : (int)left;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&pfd, 1, wait_ms < left ? wait_ms : (int)left) <= 0) {
            *lingered = true;
            return len;
        }
        char drain[4096];
        char *to = len < cap ? buf + len : drain;
        size_t room = len < cap ? cap - len : sizeof drain;
        ssize_t n = recv(fd, to, room, 0);
        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
            return len; /* closed (or reset after an early answer) */
        }
        if (n > 0 && to == buf + len) {
            len += (size_t)n;
        }
    }
}

static bool valid_request_id(const char *s, size_t n) {
    if (n < 1 || n > BX_REQUEST_ID_MAX - 1) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:", s[i]) ||
            s[i] == '\0') {
            return false;
        }
    }
    return true;
}

/* The X-Request-Id the first request carries, when its head is simple enough to read without a
 * full HTTP parser (CRLF lines only, each "token: value", the header once); *n is -1 otherwise,
 * 0 when it has none. *trailing_ws: the value was followed by spaces or tabs. */
static const char *sent_request_id(const char *in, size_t size, ssize_t *n, bool *trailing_ws) {
    *n = -1;
    *trailing_ws = false;
    const char *end = memmem(in, size, "\r\n\r\n", 4);
    if (end == NULL || memchr(in, '\0', (size_t)(end - in)) != NULL) {
        return NULL;
    }
    const char *found = NULL;
    size_t found_len = 0;
    int count = 0;
    const char *line = memmem(in, (size_t)(end - in), "\r\n", 2);
    if (line == NULL) {
        return NULL;
    }
    for (const char *p = in; p < end; p++) {
        if ((*p == '\r' && p[1] != '\n') || (*p == '\n' && (p == in || p[-1] != '\r'))) {
            return NULL; /* a bare CR or LF: leave it to libmicrohttpd */
        }
    }
    for (const char *p = line + 2; p < end;) {
        const char *eol = memmem(p, (size_t)(end + 2 - p), "\r\n", 2);
        size_t name_len = strspn(p, "!#$%&'*+.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
                                    "ABCDEFGHIJKLMNOPQRSTUVWXYZ-");
        if (name_len == 0 || p + name_len >= eol || p[name_len] != ':') {
            return NULL; /* folded, no name, no colon: libmicrohttpd's reading may differ */
        }
        if (name_len == 12 && strncasecmp(p, "X-Request-Id:", 13) == 0) {
            const char *v = p + 13;
            while (v < eol && (*v == ' ' || *v == '\t')) {
                v++;
            }
            const char *ve = eol;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) {
                ve--;
            }
            found = v;
            found_len = (size_t)(ve - v);
            *trailing_ws = ve != eol;
            count++;
        }
        p = eol + 2;
    }
    if (count == 1) {
        *n = (ssize_t)found_len;
        return found;
    }
    if (count == 0) {
        *n = 0;
    }
    return NULL;
}

/* Checks the first response of the answer when it is ours (it has an X-Request-Id). */
static void check_answer(const uint8_t *in, size_t size, const char *ans, size_t len) {
    const char *head_end = memmem(ans, len, "\r\n\r\n", 4);
    if (len < 12 || memcmp(ans, "HTTP/1.", 7) != 0 || head_end == NULL) {
        return;
    }
    unsigned status = (unsigned)((ans[9] - '0') * 100 + (ans[10] - '0') * 10 + (ans[11] - '0'));
    size_t rid_len = 0, ct_len = 0, cl_len = 0;
    const char *rid = find_header(ans, head_end, "X-Request-Id", &rid_len);
    if (rid == NULL) {
        return; /* libmicrohttpd's own answer (a malformed request line, 414, 431 ...) */
    }
    FUZZ_CHECK(valid_request_id(rid, rid_len), "answered with X-Request-Id \"%.*s\"", (int)rid_len,
               rid);
    ssize_t sent_len;
    bool trailing_ws;
    const char *sent = sent_request_id((const char *)in, size, &sent_len, &trailing_ws);
    bool generated = rid_len == 36 && rid[14] == '7'; /* a UUIDv7 */
    if (sent_len > 0 && valid_request_id(sent, (size_t)sent_len)) {
        bool echoed = rid_len == (size_t)sent_len && memcmp(rid, sent, rid_len) == 0;
        /* Known finding F3 (docs/fuzzing.md): whitespace after a header value is kept, so an id
         * followed by a space or tab is replaced by a generated one. */
        bool f3 = !echoed && trailing_ws && generated && fuzz_known(3);
        FUZZ_CHECK(echoed || f3, "sent X-Request-Id \"%.*s\", answered with \"%.*s\"",
                   (int)sent_len, sent, (int)rid_len, rid);
    } else if (sent_len >= 0) {
        FUZZ_CHECK(generated, "a generated request id should be a UUIDv7: %.*s", (int)rid_len, rid);
    }
    const char *ct = find_header(ans, head_end, "Content-Type", &ct_len);
    const char *cl = find_header(ans, head_end, "Content-Length", &cl_len);
    bool head = size >= 5 && memcmp(in, "HEAD ", 5) == 0;
    if (ct == NULL || cl == NULL || head || ct_len < 16 ||
        memcmp(ct, "application/json", 16) != 0) {
        return;
    }
    char num[24];
    int64_t body_len = 0;
    snprintf(num, sizeof num, "%.*s", (int)(cl_len < 20 ? cl_len : 20), cl);
    const char *body = head_end + 4;
    if (bx_parse_i64(num, 0, INT64_MAX, &body_len) != 0 ||
        (size_t)body_len > len - (size_t)(body - ans)) {
        return; /* cut short: the connection ended early */
    }
    if (status >= 400) {
        bool ok = fuzz_error_body_valid(body, (size_t)body_len, status);
        bool f1 = !ok && body_len == 2 && memcmp(body, "{}", 2) == 0 && fuzz_known(1);
        FUZZ_CHECK(ok || f1, "a %u answer with the body %.*s", status, (int)body_len, body);
    } else {
        json_t *doc = json_loadb(body, (size_t)body_len, 0, NULL);
        FUZZ_CHECK(doc != NULL, "a %u answer with the JSON body %.*s", status, (int)body_len, body);
        json_decref(doc);
    }
}

/* GET /healthz on the keep-alive connection (reopened when the server closed it). */
static bool healthz_once(void) {
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: fuzz\r\n\r\n";
    if (healthz_fd < 0) {
        healthz_fd = connect_server();
    }
    if (send(healthz_fd, req, sizeof req - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof req - 1)) {
        return false;
    }
    char buf[1024];
    size_t len = 0;
    int64_t deadline = bx_now_mono_ms() + ANSWER_TIMEOUT_MS;
    while (len < sizeof buf - 1) {
        int64_t left = deadline - bx_now_mono_ms();
        struct pollfd pfd = {.fd = healthz_fd, .events = POLLIN};
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) {
            return false;
        }
        ssize_t n = recv(healthz_fd, buf + len, sizeof buf - 1 - len, 0);
        if (n <= 0) {
            return false;
        }
        len += (size_t)n;
        buf[len] = '\0';
        const char *body = strstr(buf, "\r\n\r\n");
        if (body != NULL && strlen(body + 4) >= 15) {
            return strncmp(buf, "HTTP/1.1 200", 12) == 0 &&
                   strcmp(body + 4, "{\"status\":\"ok\"}") == 0;
        }
    }
    return false;
}

static void check_healthz(void) {
    if (healthz_once()) {
        return;
    }
    if (healthz_fd >= 0) {
        close(healthz_fd);
        healthz_fd = -1;
    }
    FUZZ_CHECK(healthz_once(), "the server stopped answering GET /healthz after this input");
}

static void stop_server(void) {
    fprintf(stderr,
            "fuzz_http_request: %llu inputs, %llu left their connection open after the "
            "answer (see read_answer)\n",
            (unsigned long long)inputs, (unsigned long long)lingering);
    pthread_mutex_lock(&async_mu);
    async_stop = true;
    pthread_cond_signal(&async_cv);
    pthread_mutex_unlock(&async_mu);
    pthread_join(async_thread, NULL);
    if (healthz_fd >= 0) {
        close(healthz_fd);
    }
    bx_http_stop(server);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_init_sodium();
    enum bx_log_level level = BX_LOG_ERROR;
    const char *env = getenv("BX_FUZZ_LOG_LEVEL");
    if (env != NULL && bx_log_level_parse(env, &level) != 0) {
        level = BX_LOG_ERROR;
    }
    bx_log_init("fuzz", level);
    fuzz_key(&keyring.keys[0], "kfuzz-a", 0x11); /* the key of fuzz_token and the corpus */
    atomic_store(&keyring.n_keys, 1);
    struct bx_http_config cfg = {
        .bind_addr = PEER,
        .port = 0,
        .threads = 2,
        .max_connections = 64,
        .max_body_bytes = BODY_MAX_BYTES,
        .max_header_bytes = HEADER_MAX_BYTES,
        .idle_timeout_s = 10,
        .trusted_proxies = "10.0.0.0/8,127.0.0.1",
    };
    struct bx_http_handlers h = {
        .routes = routes,
        .n_routes = BX_ARRAY_LEN(routes),
        .keyring = &keyring,
    };
    struct bx_error err;
    FUZZ_CHECK(bx_http_start(&cfg, &h, &server, &err) == BX_OK, "bx_http_start: %s", err.message);
    port = bx_http_port(server);
    FUZZ_CHECK(pthread_create(&async_thread, NULL, async_worker, NULL) == 0, "worker thread");
    atexit(stop_server);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int fd = connect_server();
    size_t off = 0;
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    while (off < size && poll(&pfd, 1, ANSWER_TIMEOUT_MS) > 0) {
        ssize_t n = send(fd, data + off, size - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            break; /* the server closed early (413, 431): read what it said */
        }
        off += n > 0 ? (size_t)n : 0;
    }
    /* libmicrohttpd 0.9.75 (epoll) misses a FIN that arrives with the last request bytes about
     * half the time and keeps the connection until the idle timeout; a FIN that comes once it
     * has read them (or started answering) it sees. */
    struct pollfd rd = {.fd = fd, .events = POLLIN};
    poll(&rd, 1, FIN_GAP_MS);
    shutdown(fd, SHUT_WR);
    char *ans = malloc(ANSWER_MAX_BYTES);
    FUZZ_CHECK(ans != NULL, "out of memory");
    bool head = size >= 5 && memcmp(data, "HEAD ", 5) == 0, lingered = false;
    size_t len = read_answer(fd, ans, ANSWER_MAX_BYTES, head, &lingered);
    close(fd);
    inputs++;
    lingering += lingered;
    check_answer(data, size, ans, len);
    free(ans);
    check_healthz();
    return 0;
}
