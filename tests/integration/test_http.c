// SPDX-License-Identifier: Apache-2.0
// The shared HTTP server, end to end over real sockets against the test service: JSON errors for
// malformed bodies, oversized bodies and headers, unknown routes and methods; request ids; auth
// levels with real Ed25519 tokens; metrics; 1,000 concurrent keep-alive connections; and a clean
// drain on SIGTERM that finishes an in-flight request and exits 0.
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "boxoffice/auth.h"
#include "boxoffice/base.h"
#include "harness.h"

#define CONNECTIONS 1000
#define RESP_MAX    8192

static uint16_t port;
static char tmpdir[] = "/tmp/bx-http-XXXXXX";
static char log_path[600];

static int exchange(const char *req, char *resp, size_t size) {
    harness_raw(port, req, strlen(req), resp, size, 5000);
    return harness_status(resp);
}

static bool body_has(const char *resp, const char *needle) {
    return strstr(harness_body(resp), needle) != NULL;
}

static bool is_json_error(const char *resp, const char *code) {
    char want[96];
    snprintf(want, sizeof want, "{\"error\":{\"code\":\"%s\"", code);
    return strncmp(harness_body(resp), want, strlen(want)) == 0 &&
           strstr(resp, "Content-Type: application/json") != NULL;
}

static void post(const char *path, const char *body, char *resp, size_t size) {
    char req[4096];
    snprintf(req, sizeof req,
             "POST %s HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
             path, strlen(body), body);
    exchange(req, resp, size);
}

static void test_json_errors(void) {
    char resp[RESP_MAX];
    post("/echo", "{\"name\":\"Ada\",\"quantity\":2,\"tags\":[\"vip\"]}", resp, sizeof resp);
    CHECK(harness_status(resp) == 201 && body_has(resp, "\"name\":\"Ada\""), "valid body -> 201");
    post("/echo", "{\"name\":\"Ada\",", resp, sizeof resp);
    CHECK(harness_status(resp) == 400 && is_json_error(resp, "invalid_json"),
          "malformed JSON -> 400 invalid_json");
    post("/echo", "{\"name\":\"A\",\"name\":\"B\",\"quantity\":1}", resp, sizeof resp);
    CHECK(harness_status(resp) == 400 && is_json_error(resp, "invalid_json"),
          "duplicate key -> 400 invalid_json");
    post("/echo", "[1,2]", resp, sizeof resp);
    CHECK(harness_status(resp) == 400 && is_json_error(resp, "invalid_json"),
          "non-object top level -> 400");
    post("/echo", "{\"name\":\"Ada\",\"quantity\":2,\"admin\":true}", resp, sizeof resp);
    CHECK(harness_status(resp) == 422 && is_json_error(resp, "invalid_field") &&
              body_has(resp, "\"field\":\"admin\""),
          "unknown field -> 422 naming it");
    post("/echo", "{\"name\":\"Ada\",\"quantity\":11}", resp, sizeof resp);
    CHECK(harness_status(resp) == 422 && body_has(resp, "\"field\":\"quantity\""),
          "out-of-range field -> 422 naming it");
}

static void test_limits(void) {
    char resp[RESP_MAX];
    /* Declared oversized body: answered before the body is read. */
    const char *big = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                      "Content-Length: 2000000\r\n\r\n{";
    CHECK(exchange(big, resp, sizeof resp) == 413 && is_json_error(resp, "payload_too_large"),
          "oversized body (Content-Length) -> 413 JSON");
    /* Chunked oversized body: counted while it arrives. */
    size_t chunk = 64 * 1024, chunks = 20;
    size_t len = 256 + chunks * (chunk + 16);
    char *req = malloc(len);
    BX_ASSERT(req != NULL);
    int off = snprintf(req, len,
                       "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                       "Content-Type: application/json\r\n\r\n");
    for (size_t i = 0; i < chunks; i++) {
        off += snprintf(req + off, len - (size_t)off, "%zx\r\n", chunk);
        memset(req + off, ' ', chunk);
        off += (int)chunk;
        off += snprintf(req + off, len - (size_t)off, "\r\n");
    }
    off += snprintf(req + off, len - (size_t)off, "0\r\n\r\n");
    harness_raw(port, req, (size_t)off, resp, sizeof resp, 10000);
    free(req);
    CHECK(harness_status(resp) == 413 && is_json_error(resp, "payload_too_large"),
          "oversized chunked body -> 413 JSON");
    /* Past BOXOFFICE_HTTP_MAX_HEADER_BYTES (8 KiB) but inside libmicrohttpd's pool: our JSON. */
    static char hdr[80 * 1024];
    int n = snprintf(hdr, sizeof hdr, "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: ");
    memset(hdr + n, 'a', 12000);
    snprintf(hdr + n + 12000, sizeof hdr - (size_t)n - 12000, "\r\n\r\n");
    CHECK(exchange(hdr, resp, sizeof resp) == 431 && is_json_error(resp, "headers_too_large"),
          "oversized headers -> 431 JSON");
    /* Far past the pool: libmicrohttpd refuses it itself (431, its own body); the server lives. */
    memset(hdr + n, 'a', 70000);
    snprintf(hdr + n + 70000, sizeof hdr - (size_t)n - 70000, "\r\n\r\n");
    CHECK(exchange(hdr, resp, sizeof resp) == 431, "huge headers -> 431");
    CHECK(exchange("GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", resp,
                   sizeof resp) == 200,
          "server still healthy after hostile headers");
    CHECK(exchange("GET /nope HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", resp,
                   sizeof resp) == 404 &&
              is_json_error(resp, "not_found"),
          "unknown route -> 404 JSON");
    CHECK(exchange("DELETE /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", resp,
                   sizeof resp) == 405 &&
              is_json_error(resp, "method_not_allowed"),
          "wrong method -> 405 JSON");
}

static void test_request_id_and_metrics(void) {
    char resp[RESP_MAX];
    exchange(
        "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: abc-123\r\nConnection: close\r\n\r\n",
        resp, sizeof resp);
    CHECK(strstr(resp, "X-Request-Id: abc-123\r\n") != NULL, "X-Request-Id is echoed");
    exchange(
        "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: bad id!\r\nConnection: close\r\n\r\n",
        resp, sizeof resp);
    CHECK(strstr(resp, "X-Request-Id: ") != NULL && strstr(resp, "bad id!") == NULL,
          "an invalid X-Request-Id is replaced by a generated one");
    exchange("GET /readyz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", resp, sizeof resp);
    CHECK(harness_status(resp) == 200, "/readyz -> 200");
    exchange("GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", resp, sizeof resp);
    CHECK(harness_status(resp) == 200 &&
              strstr(resp, "bx_http_requests_total{service=\"testserver\",route=\"POST /echo\","
                           "status=\"201\"} 1\n") != NULL &&
              strstr(resp, "bx_http_request_duration_seconds_bucket") != NULL &&
              strstr(resp, "bx_http_requests_in_flight") != NULL,
          "/metrics counts requests by route and status, with histogram and in-flight");
}

static void mint(const struct bx_key *key, enum bx_role role, int64_t exp_delta, char *out,
                 size_t size) {
    struct bx_claims c = {.role = role, .iat = bx_now_unix_s(), .exp = bx_now_unix_s() + exp_delta};
    bx_strlcpy(c.sub, "user-1", sizeof c.sub);
    bx_strlcpy(c.jti, "jti-1", sizeof c.jti);
    BX_ASSERT(bx_token_sign(key, &c, out, size) == BX_OK);
}

static int auth_get(const char *path, const char *token, char *resp, size_t size) {
    char req[2048];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n%s%s%sConnection: close\r\n\r\n", path,
             token ? "Authorization: Bearer " : "", token ? token : "", token ? "\r\n" : "");
    return exchange(req, resp, size);
}

static void test_auth(const struct bx_key *key) {
    char resp[RESP_MAX], customer[1024], admin[1024], expired[1024], staff[1024];
    mint(key, BX_ROLE_CUSTOMER, 600, customer, sizeof customer);
    mint(key, BX_ROLE_ADMIN, 600, admin, sizeof admin);
    mint(key, BX_ROLE_STAFF, 600, staff, sizeof staff);
    mint(key, BX_ROLE_ADMIN, -10, expired, sizeof expired);
    CHECK(auth_get("/auth/user", NULL, resp, sizeof resp) == 401 &&
              is_json_error(resp, "unauthorized"),
          "no token -> 401 JSON");
    CHECK(auth_get("/auth/user", customer, resp, sizeof resp) == 200 &&
              body_has(resp, "\"role\":\"customer\""),
          "customer token on a user route -> 200");
    CHECK(auth_get("/auth/admin", customer, resp, sizeof resp) == 403 &&
              is_json_error(resp, "forbidden"),
          "customer token on an admin route -> 403");
    CHECK(auth_get("/auth/staff", staff, resp, sizeof resp) == 200, "staff on a staff route");
    CHECK(auth_get("/auth/staff", admin, resp, sizeof resp) == 200, "admin on a staff route");
    CHECK(auth_get("/auth/admin", admin, resp, sizeof resp) == 200, "admin on an admin route");
    CHECK(auth_get("/auth/admin", expired, resp, sizeof resp) == 401, "expired token -> 401");
    admin[strlen(admin) - 3] = admin[strlen(admin) - 3] == 'A' ? 'B' : 'A';
    CHECK(auth_get("/auth/admin", admin, resp, sizeof resp) == 401, "tampered token -> 401");
    CHECK(auth_get("/auth/optional", NULL, resp, sizeof resp) == 200 &&
              body_has(resp, "\"authenticated\":false"),
          "optional auth without a token -> 200 anonymous");
}

/* 1,000 keep-alive connections open at once, two requests each on the same connection. */
static void test_many_connections(void) {
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < CONNECTIONS + 64) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    static int fds[CONNECTIONS];
    static size_t got[CONNECTIONS];
    static char bufs[CONNECTIONS][512];
    int opened = 0;
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    for (int i = 0; i < CONNECTIONS; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&sa, sizeof sa) != 0) {
            break;
        }
        opened++;
    }
    CHECK(opened == CONNECTIONS, "opened %d of %d connections", opened, CONNECTIONS);
    const char req[] = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
    int total_ok = 0;
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < opened; i++) {
            got[i] = 0;
            if (send(fds[i], req, sizeof req - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof req - 1)) {
                got[i] = SIZE_MAX;
            }
        }
        int done = 0;
        /* generous: make test runs this beside chromium and the fuzzers on two cores */
        int64_t deadline = bx_now_mono_ms() + 90000;
        static struct pollfd pfd[CONNECTIONS];
        while (done < opened && bx_now_mono_ms() < deadline) {
            int n = 0;
            static int idx[CONNECTIONS];
            for (int i = 0; i < opened; i++) {
                if (got[i] != SIZE_MAX &&
                    (got[i] == 0 || !strstr(bufs[i], "{\"status\":\"ok\"}"))) {
                    pfd[n] = (struct pollfd){.fd = fds[i], .events = POLLIN};
                    idx[n++] = i;
                }
            }
            done = opened - n;
            if (n == 0 || poll(pfd, (nfds_t)n, 200) <= 0) {
                continue;
            }
            for (int k = 0; k < n; k++) {
                if (!(pfd[k].revents & (POLLIN | POLLHUP | POLLERR))) {
                    continue;
                }
                int i = idx[k];
                ssize_t r = recv(fds[i], bufs[i] + got[i], sizeof bufs[i] - 1 - got[i], 0);
                if (r <= 0) {
                    got[i] = SIZE_MAX; /* closed: counted as a failure */
                    continue;
                }
                got[i] += (size_t)r;
                bufs[i][got[i]] = '\0';
            }
        }
        int ok = 0;
        for (int i = 0; i < opened; i++) {
            if (got[i] != SIZE_MAX && harness_status(bufs[i]) == 200 &&
                strstr(bufs[i], "{\"status\":\"ok\"}") != NULL) {
                ok++;
            }
            memset(bufs[i], 0, 16);
        }
        CHECK(ok == opened, "round %d: %d of %d keep-alive connections answered 200", round + 1, ok,
              opened);
        total_ok += ok;
    }
    for (int i = 0; i < opened; i++) {
        close(fds[i]);
    }
    CHECK(total_ok == 2 * CONNECTIONS, "1,000 concurrent keep-alive connections held");
}

/* Streaming responses: chunked SSE from a producer thread; a client that goes away ends its
 * producer. */
static void test_streams(void) {
    static char resp[RESP_MAX];
    exchange("GET /stream?n=5&ms=20 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", resp,
             RESP_MAX);
    CHECK(harness_status(resp) == 200 && strstr(resp, "text/event-stream") != NULL &&
              strstr(resp, "chunked") != NULL && body_has(resp, "data: 0") &&
              body_has(resp, "id: 4\ndata: 4"),
          "a stream delivers every event, chunked, then ends");
    struct harness_res r = harness_call(port, "GET", "/stream/stats", NULL, NULL, NULL);
    json_int_t before = json_integer_value(json_object_get(r.body, "finished"));
    harness_res_drop(&r);
    /* an endless heartbeat stream: read a little, hang up */
    char buf[512];
    const char *forever = "GET /stream?n=0&ms=20 HTTP/1.1\r\nHost: t\r\n\r\n";
    harness_raw(port, forever, strlen(forever), buf, sizeof buf, 300);
    CHECK(strstr(buf, "heartbeat") != NULL, "an endless stream sends heartbeats");
    bool ended = false;
    for (int i = 0; i < 100 && !ended; i++) {
        r = harness_call(port, "GET", "/stream/stats", NULL, NULL, NULL);
        ended = json_integer_value(json_object_get(r.body, "finished")) > before;
        harness_res_drop(&r);
        usleep(50 * 1000);
    }
    CHECK(ended, "the producer of a stream whose client went away is told to stop");
}

static void *stream_forever(void *arg) {
    char *resp = arg;
    exchange("GET /stream?n=0&ms=50 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", resp,
             RESP_MAX);
    return NULL;
}

static void *slow_request(void *arg) {
    char *resp = arg;
    exchange("GET /slow?ms=1500 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", resp, RESP_MAX);
    return NULL;
}

static void test_drain(pid_t pid) {
    static char resp[RESP_MAX], streamed[RESP_MAX];
    pthread_t t, ts;
    pthread_create(&t, NULL, slow_request, resp);
    struct harness_res r = harness_call(port, "GET", "/stream/stats", NULL, NULL, NULL);
    json_int_t started = json_integer_value(json_object_get(r.body, "started"));
    harness_res_drop(&r);
    pthread_create(&ts, NULL, stream_forever, streamed);
    for (int i = 0; i < 200; i++) { /* the stream is open before the drain begins */
        r = harness_call(port, "GET", "/stream/stats", NULL, NULL, NULL);
        bool open = json_integer_value(json_object_get(r.body, "started")) > started;
        harness_res_drop(&r);
        if (open) {
            break;
        }
        usleep(20 * 1000);
    }
    usleep(400 * 1000);
    int status = harness_stop(pid, SIGTERM, 15000);
    pthread_join(t, NULL);
    pthread_join(ts, NULL);
    CHECK(harness_status(streamed) == 200 && body_has(streamed, "heartbeat"),
          "an open stream is ended by the drain, not cut off (%.200s)", streamed);
    CHECK(harness_status(resp) == 200 && body_has(resp, "\"slept_ms\":1500"),
          "in-flight request finished during drain");
    CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "SIGTERM -> drained and exited 0 (status %d)", status);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s PATH-TO-boxoffice-testserver\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    BX_ASSERT(mkdtemp(tmpdir) != NULL);
    char keys[600];
    snprintf(keys, sizeof keys, "%s/keys", tmpdir);
    struct bx_key key;
    BX_ASSERT(bx_keyring_generate(keys, &key) == BX_OK);
    snprintf(log_path, sizeof log_path, "%s/testserver.log", tmpdir);
    port = harness_free_port();
    char port_env[64], keys_env[700];
    snprintf(port_env, sizeof port_env, "BOXOFFICE_TESTSERVER_PORT=%u", (unsigned)port);
    snprintf(keys_env, sizeof keys_env, "BOXOFFICE_AUTH_KEYS=%s", keys);
    const char *env[] = {port_env, keys_env, "BOXOFFICE_LOG_LEVEL=warn",
                         "BOXOFFICE_HTTP_MAX_CONNECTIONS=2048", NULL};
    pid_t pid = harness_spawn(argv[1], env, log_path);
    bool up = harness_wait_ok(port, "/healthz", 20000);
    CHECK(up, "testserver answers /healthz on port %u", (unsigned)port);
    if (up) {
        test_json_errors();
        test_limits();
        test_request_id_and_metrics();
        test_auth(&key);
        test_many_connections();
        test_streams();
        test_drain(pid);
    } else {
        harness_stop(pid, SIGKILL, 5000);
    }
    if (harness_failures) {
        harness_tail(log_path, 30);
    }
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", tmpdir);
    }
    return harness_finish("test_http");
}
