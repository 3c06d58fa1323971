// SPDX-License-Identifier: Apache-2.0
// The outbound client against the test service: bounded retries with backoff for idempotent
// methods only, timeouts, connection failures, response headers, and the asynchronous pool
// (many requests at once, completion callbacks, the in-flight cap).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "boxoffice/base.h"
#include "boxoffice/httpc.h"
#include "harness.h"

#define POOL_REQUESTS 40

static char base[64];
static _Atomic int pool_done, pool_ok;

static enum bx_err get(const char *path, const char *method, unsigned attempts, int64_t timeout_ms,
                       struct bx_httpc_response *r) {
    char url[256];
    snprintf(url, sizeof url, "%s%s", base, path);
    struct bx_httpc_request req = {
        .method = method, .url = url, .max_attempts = attempts, .timeout_ms = timeout_ms};
    return bx_httpc_do(&req, r);
}

static void on_done(void *arg, enum bx_err e, struct bx_httpc_response *resp) {
    (void)arg;
    if (e == BX_OK && resp->status == 200 && strstr(resp->body, "\"slept_ms\":200")) {
        atomic_fetch_add(&pool_ok, 1);
    }
    atomic_fetch_add(&pool_done, 1);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s TESTSERVER-BIN\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    char dir[] = "/tmp/bx-httpc-XXXXXX";
    BX_ASSERT(mkdtemp(dir) != NULL);
    char log[128], e0[64], e1[160];
    snprintf(log, sizeof log, "%s/testserver.log", dir);
    uint16_t port = harness_free_port();
    snprintf(base, sizeof base, "http://127.0.0.1:%u", (unsigned)port);
    snprintf(e0, sizeof e0, "BOXOFFICE_TESTSERVER_PORT=%u", (unsigned)port);
    snprintf(e1, sizeof e1, "BOXOFFICE_AUTH_KEYS=%s/keys", dir);
    const char *env[] = {e0, e1, "BOXOFFICE_LOG_LEVEL=warn", NULL};
    pid_t pid = harness_spawn(argv[1], env, log);
    bool up = harness_wait_ok(port, "/healthz", 20000);
    CHECK(up, "test service up");
    struct bx_httpc_response r;
    if (up) {
        CHECK(get("/flaky?key=a&fail=2", "GET", 3, 5000, &r) == BX_OK && r.status == 200 &&
                  strstr(r.body, "\"calls\":3") != NULL,
              "GET retried twice after 503s, third attempt succeeds");
        CHECK(bx_httpc_header(&r, "content-type") != NULL &&
                  strncmp(bx_httpc_header(&r, "Content-Type"), "application/json", 16) == 0,
              "response headers readable case-insensitively");
        bx_httpc_response_free(&r);
        CHECK(get("/flaky?key=b&fail=5", "GET", 3, 5000, &r) == BX_OK && r.status == 503,
              "retries are bounded: 3 attempts, then the last 503 is returned");
        bx_httpc_response_free(&r);
        CHECK(get("/flaky?key=b&fail=5", "GET", 1, 5000, &r) == BX_OK && r.status == 503 &&
                  strstr(r.body, "flaky call 4") != NULL,
              "exactly 3 calls were made before (this is call 4)");
        bx_httpc_response_free(&r);
        CHECK(get("/flaky?key=c&fail=1", "POST", 3, 5000, &r) == BX_OK && r.status == 503,
              "POST is never retried");
        bx_httpc_response_free(&r);
        CHECK(get("/slow?ms=2000", "GET", 1, 300, &r) == BX_UPSTREAM_TIMEOUT,
              "a slow answer past the timeout -> BX_UPSTREAM_TIMEOUT");
        bx_httpc_response_free(&r);

        struct bx_httpc_pool *pool = bx_httpc_pool_new(POOL_REQUESTS);
        BX_ASSERT(pool != NULL);
        char url[128];
        snprintf(url, sizeof url, "%s/slow?ms=200", base);
        struct bx_httpc_request req = {.method = "GET", .url = url, .timeout_ms = 10000};
        int submitted = 0;
        for (int i = 0; i < POOL_REQUESTS; i++) {
            submitted += bx_httpc_pool_submit(pool, &req, on_done, NULL) == BX_OK;
        }
        CHECK(submitted == POOL_REQUESTS, "pool accepted %d requests", submitted);
        CHECK(bx_httpc_pool_submit(pool, &req, on_done, NULL) == BX_UNAVAILABLE,
              "pool refuses past its in-flight cap");
        int64_t deadline = bx_now_mono_ms() + 30000;
        while (atomic_load(&pool_done) < POOL_REQUESTS && bx_now_mono_ms() < deadline) {
            usleep(20 * 1000);
        }
        CHECK(atomic_load(&pool_ok) == POOL_REQUESTS, "all %d pooled requests completed with 200",
              atomic_load(&pool_ok));
        bx_httpc_pool_free(pool);
    }
    int st = harness_stop(pid, SIGTERM, 15000);
    CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "test service stopped cleanly");
    CHECK(get("/healthz", "GET", 2, 1000, &r) == BX_BAD_GATEWAY,
          "nothing listening -> BX_BAD_GATEWAY after bounded retries");
    bx_httpc_response_free(&r);
    if (harness_failures) {
        harness_tail(log, 20);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", dir);
    }
    return harness_finish("test_httpc");
}
