// SPDX-License-Identifier: Apache-2.0
// A service built only for tests: the shared library's server with a few routes that exercise
// JSON decoding, auth levels, params, a slow handler (for drain tests) and gateway round trips.
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boxoffice/base.h"
#include "boxoffice/json.h"
#include "boxoffice/service.h"

#define SLOW_MAX_MS 5000

struct echo_body {
    char *name;
    int64_t quantity;
    char **tags;
    size_t n_tags;
};

static const struct bx_json_field echo_fields[] = {
    {.name = "name",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct echo_body, name),
     .required = true,
     .min = 1,
     .max = 50},
    {.name = "quantity",
     .kind = BX_JSON_INT,
     .offset = offsetof(struct echo_body, quantity),
     .required = true,
     .min = 1,
     .max = 10},
    {.name = "tags",
     .kind = BX_JSON_STRINGS,
     .offset = offsetof(struct echo_body, tags),
     .count_offset = offsetof(struct echo_body, n_tags),
     .max = 5,
     .item_max = 20},
};

static const struct bx_json_schema echo_schema = {echo_fields, BX_ARRAY_LEN(echo_fields),
                                                  sizeof(struct echo_body)};

static enum bx_err echo(struct bx_req *req) {
    struct echo_body b;
    struct bx_error err;
    if (bx_json_decode(req->body, req->body_len, &echo_schema, &b, &req->arena, NULL, &err) !=
        BX_OK) {
        req->error = err;
        return err.code;
    }
    json_t *tags = json_array();
    for (size_t i = 0; i < b.n_tags; i++) {
        json_array_append_new(tags, json_string(b.tags[i]));
    }
    return bx_respond_json(req, 201,
                           json_pack("{s:s,s:I,s:o}", "name", b.name, "quantity",
                                     (json_int_t)b.quantity, "tags", tags));
}

static enum bx_err whoami(struct bx_req *req) {
    return bx_respond_json(req, 200,
                           json_pack("{s:s,s:s,s:b}", "sub", req->claims.sub, "role",
                                     bx_role_name(req->claims.role), "authenticated",
                                     req->authenticated));
}

static enum bx_err slow(struct bx_req *req) {
    int64_t ms = 0;
    const char *q = bx_req_query(req, "ms");
    if (q == NULL || bx_parse_i64(q, 0, SLOW_MAX_MS, &ms) != 0) {
        return bx_req_fail(req, BX_INVALID_FIELD, "ms", "ms must be 0 to %d", SLOW_MAX_MS);
    }
    usleep((useconds_t)(ms * 1000));
    return bx_respond_json(req, 200, json_pack("{s:I}", "slept_ms", (json_int_t)ms));
}

static enum bx_err order_get(struct bx_req *req) {
    const char *q = bx_req_query(req, "q");
    const char *authz = bx_req_header(req, "Authorization");
    return bx_respond_json(req, 200,
                           json_pack("{s:s,s:s,s:s?,s:b,s:s}", "id", bx_req_param(req, "id"),
                                     "request_id", req->request_id, "q", q, "has_authorization",
                                     authz != NULL, "method", req->method_name));
}

/* GET /stream?n=N&ms=M: N Server-Sent Events M ms apart from a producer thread, then the end;
 * n=0 streams a heartbeat every M ms until the client goes away. GET /stream/stats counts the
 * producers started and finished (a vanished client must end its producer). */
static _Atomic int streams_finished, streams_started;

struct producer {
    struct bx_stream *s;
    int64_t n, ms;
};

static void *produce(void *arg) {
    struct producer *p = arg;
    for (int64_t i = 0; p->n == 0 || i < p->n; i++) {
        char line[64];
        int len = p->n == 0 ? snprintf(line, sizeof line, ": heartbeat %lld\n\n", (long long)i)
                            : snprintf(line, sizeof line, "id: %lld\ndata: %lld\n\n", (long long)i,
                                       (long long)i);
        if (bx_stream_write(p->s, line, (size_t)len) != 0) {
            break; /* the client went away, or the server drains */
        }
        usleep((useconds_t)(p->ms * 1000));
    }
    bx_stream_close(p->s);
    atomic_fetch_add(&streams_finished, 1);
    free(p);
    return NULL;
}

static enum bx_err stream(struct bx_req *req) {
    int64_t n = 0, ms = 0;
    const char *qn = bx_req_query(req, "n"), *qms = bx_req_query(req, "ms");
    if (qn == NULL || qms == NULL || bx_parse_i64(qn, 0, 1000, &n) != 0 ||
        bx_parse_i64(qms, 1, SLOW_MAX_MS, &ms) != 0) {
        return bx_req_fail(req, BX_INVALID_FIELD, "n", "n (0-1000) and ms (1-5000) are required");
    }
    struct producer *p = calloc(1, sizeof *p);
    bx_resp_header(req, "Cache-Control", "no-store");
    p->s = p ? bx_req_stream(req, 200, "text/event-stream") : NULL;
    if (p == NULL || p->s == NULL) {
        free(p);
        return bx_req_fail(req, BX_INTERNAL, NULL, "out of memory");
    }
    p->n = n;
    p->ms = ms;
    pthread_t t;
    if (pthread_create(&t, NULL, produce, p) != 0) {
        bx_stream_close(p->s);
        free(p);
        return BX_OK; /* the stream simply ends */
    }
    pthread_detach(t);
    atomic_fetch_add(&streams_started, 1);
    return BX_OK;
}

static enum bx_err stream_stats(struct bx_req *req) {
    return bx_respond_json(req, 200,
                           json_pack("{s:i,s:i}", "finished", atomic_load(&streams_finished),
                                     "started", atomic_load(&streams_started)));
}

#define FLAKY_KEYS 16

/* GET /flaky?key=K&fail=N: answers 503 to the first N calls for key K, then 200 with the count. */
static struct {
    char key[32];
    int64_t calls;
} flaky_table[FLAKY_KEYS];
static pthread_mutex_t flaky_lock = PTHREAD_MUTEX_INITIALIZER;

static enum bx_err flaky(struct bx_req *req) {
    const char *key = bx_req_query(req, "key");
    int64_t fail = 0;
    if (key == NULL || strlen(key) >= sizeof flaky_table[0].key ||
        bx_parse_i64(bx_req_query(req, "fail") ? bx_req_query(req, "fail") : "", 0, 10, &fail)) {
        return bx_req_fail(req, BX_INVALID_FIELD, "key", "key and fail (0-10) are required");
    }
    pthread_mutex_lock(&flaky_lock);
    size_t i = 0;
    while (i < FLAKY_KEYS && flaky_table[i].key[0] && strcmp(flaky_table[i].key, key) != 0) {
        i++;
    }
    if (i == FLAKY_KEYS) {
        pthread_mutex_unlock(&flaky_lock);
        return bx_req_fail(req, BX_LIMIT_EXCEEDED, "key", "too many keys");
    }
    bx_strlcpy(flaky_table[i].key, key, sizeof flaky_table[i].key);
    int64_t calls = ++flaky_table[i].calls;
    pthread_mutex_unlock(&flaky_lock);
    if (calls <= fail) {
        return bx_req_fail(req, BX_UNAVAILABLE, NULL, "flaky call %lld", (long long)calls);
    }
    return bx_respond_json(req, 200, json_pack("{s:I}", "calls", (json_int_t)calls));
}

static const struct bx_route routes[] = {
    {BX_GET, "/flaky", flaky, BX_AUTH_NONE},
    {BX_POST, "/flaky", flaky, BX_AUTH_NONE},
    {BX_POST, "/echo", echo, BX_AUTH_NONE},
    {BX_GET, "/slow", slow, BX_AUTH_NONE},
    {BX_GET, "/stream", stream, BX_AUTH_NONE},
    {BX_GET, "/stream/stats", stream_stats, BX_AUTH_NONE},
    {BX_GET, "/auth/optional", whoami, BX_AUTH_OPTIONAL},
    {BX_GET, "/auth/user", whoami, BX_AUTH_USER},
    {BX_GET, "/auth/staff", whoami, BX_AUTH_STAFF},
    {BX_GET, "/auth/admin", whoami, BX_AUTH_ADMIN},
    {BX_GET, "/api/orders/stream", stream, BX_AUTH_NONE}, /* for the gateway's stream relay */
    {BX_GET, "/api/orders/{id}", order_get, BX_AUTH_NONE},
    {BX_POST, "/api/holds", echo, BX_AUTH_NONE},
};

static const struct bx_service service = {
    .name = "testserver",
    .summary = "test-only service exercising the shared library",
    .default_port = 0,
    .routes = routes,
    .n_routes = BX_ARRAY_LEN(routes),
    .needs_auth_keys = true,
};

int main(int argc, char **argv) {
    return bx_service_main(&service, argc, argv);
}
