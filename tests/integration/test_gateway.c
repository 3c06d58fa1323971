// SPDX-License-Identifier: Apache-2.0
// The frontend gateway against real upstreams: a round trip through the route table to the test
// service (path, query, body, Authorization and request id carried), 502 JSON when an upstream
// refuses connections, 504 JSON when it never answers, static files (ETag, 304, gzip, long caching
// of fingerprinted names), security headers, event streams relayed as they come, the per-client
// rate limit (429 with Retry-After), and a clean SIGTERM.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "boxoffice/base.h"
#include "harness.h"

#define RESP_MAX 16384

static uint16_t fe_port;

static int get(const char *path, const char *extra, char *resp) {
    char req[2048];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n%sConnection: close\r\n\r\n", path,
             extra ? extra : "");
    harness_raw(fe_port, req, strlen(req), resp, RESP_MAX, 10000);
    return harness_status(resp);
}

static bool has_header(const char *resp, const char *line) {
    const char *end = strstr(resp, "\r\n\r\n");
    const char *at = strstr(resp, line);
    return at != NULL && (end == NULL || at < end);
}

/* The value of header name in a raw response, copied into out ("" when absent). */
static void header_value(const char *resp, const char *name, char *out, size_t size) {
    char key[96];
    snprintf(key, sizeof key, "\r\n%s: ", name);
    const char *at = strstr(resp, key);
    out[0] = '\0';
    if (at != NULL) {
        at += strlen(key);
        size_t n = strcspn(at, "\r");
        snprintf(out, size, "%.*s", (int)(n < size ? n : size - 1), at);
    }
}

static bool json_error(const char *resp, const char *code) {
    char want[96];
    snprintf(want, sizeof want, "{\"error\":{\"code\":\"%s\"", code);
    return strncmp(harness_body(resp), want, strlen(want)) == 0;
}

static void test_static_and_headers(void) {
    static char resp[RESP_MAX];
    CHECK(get("/", NULL, resp) == 200 &&
              has_header(resp, "Content-Security-Policy: default-src 'self'") &&
              strstr(resp, "frame-ancestors 'none'") != NULL &&
              strstr(resp, "unsafe-inline") == NULL &&
              has_header(resp, "X-Content-Type-Options: nosniff") &&
              has_header(resp, "Referrer-Policy: no-referrer"),
          "pages carry CSP (no unsafe-inline, frame-ancestors 'none'), nosniff, Referrer-Policy");
    char etag[80];
    header_value(resp, "ETag", etag, sizeof etag);
    CHECK(etag[0] == '"' && has_header(resp, "Cache-Control: no-cache"),
          "index.html has an ETag and is revalidated (%s)", etag);
    char extra[160];
    snprintf(extra, sizeof extra, "If-None-Match: %s\r\n", etag);
    CHECK(get("/", extra, resp) == 304 && harness_body(resp)[0] == '\0',
          "If-None-Match with its ETag -> 304, no body");
    CHECK(get("/app.js", "Accept-Encoding: gzip, br\r\n", resp) == 200 &&
              has_header(resp, "Content-Encoding: gzip") &&
              has_header(resp, "Content-Type: text/javascript") &&
              has_header(resp, "Vary: Accept-Encoding"),
          "text is sent gzipped to clients that accept it");
    CHECK(get("/app.js", NULL, resp) == 200 && !has_header(resp, "Content-Encoding") &&
              strstr(harness_body(resp), "function") != NULL,
          "and plain to those that do not");
    CHECK(get("/app.0123abcd.js", NULL, resp) == 200 &&
              has_header(resp, "Cache-Control: public, max-age=31536000, immutable"),
          "fingerprinted names are cached for a year");
    CHECK(get("/api/orders/o-2", NULL, resp) == 200 &&
              has_header(resp, "X-Content-Type-Options: nosniff") &&
              has_header(resp, "Content-Security-Policy:"),
          "API answers carry the security headers too");
}

static void test_stream_relay(void) {
    static char resp[RESP_MAX];
    int st = get("/api/orders/stream?n=4&ms=30", "Accept: text/event-stream\r\n", resp);
    CHECK(st == 200 && has_header(resp, "Content-Type: text/event-stream") &&
              strstr(harness_body(resp), "id: 0\ndata: 0") != NULL &&
              strstr(harness_body(resp), "id: 3\ndata: 3") != NULL,
          "an event stream is relayed through the gateway, every event");
    st = get("/api/orders/stream?n=abc&ms=1", "Accept: text/event-stream\r\n", resp);
    CHECK(st == 422 && json_error(resp, "invalid_field"),
          "an upstream error answer to a stream request is passed on whole");
}

static void test_rate_limit(const char *bin, const char *web, uint16_t upstream) {
    uint16_t port = harness_free_port();
    char e[4][300], log[300];
    snprintf(e[0], sizeof e[0], "BOXOFFICE_FRONTEND_PORT=%u", (unsigned)port);
    snprintf(e[1], sizeof e[1], "BOXOFFICE_BOOKING_URL=http://127.0.0.1:%u", (unsigned)upstream);
    snprintf(e[2], sizeof e[2], "BOXOFFICE_WEB_DIR=%s", web);
    snprintf(log, sizeof log, "/tmp/bx-gw-rate-%u.log", (unsigned)port);
    const char *env[] = {e[0],
                         e[1],
                         e[2],
                         "BOXOFFICE_RATE_LIMIT_RPS=1",
                         "BOXOFFICE_RATE_LIMIT_BURST=3",
                         "BOXOFFICE_LOG_LEVEL=warn",
                         NULL};
    pid_t fe = harness_spawn(bin, env, log);
    bool up = harness_wait_ok(port, "/healthz", 20000);
    uint16_t saved = fe_port;
    fe_port = port;
    static char resp[RESP_MAX];
    int ok = 0, limited = 0;
    char retry[16] = "";
    for (int i = 0; up && i < 6; i++) {
        int st = get("/api/orders/o-3", NULL, resp);
        ok += st == 200;
        if (st == 429 && json_error(resp, "rate_limited")) {
            limited++;
            header_value(resp, "Retry-After", retry, sizeof retry);
        }
    }
    int64_t retry_s = 0;
    CHECK(ok == 3 && limited == 3 && bx_parse_i64(retry, 1, 3600, &retry_s) == 0,
          "a burst of 3 passes, the rest get 429 rate_limited with Retry-After (%d, %d, %s)", ok,
          limited, retry);
    CHECK(get("/", NULL, resp) == 200, "static files are not rate limited");
    usleep(1100 * 1000);
    CHECK(get("/api/orders/o-3", NULL, resp) == 200, "a second later a token is back");
    fe_port = saved;
    harness_stop(fe, SIGTERM, 15000);
    unlink(log);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s FRONTEND-BIN TESTSERVER-BIN WEB-DIR\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    char dir[] = "/tmp/bx-gw-XXXXXX";
    BX_ASSERT(mkdtemp(dir) != NULL);
    char keys[256], fe_log[256], ts_log[256];
    snprintf(keys, sizeof keys, "%s/keys", dir);
    snprintf(fe_log, sizeof fe_log, "%s/frontend.log", dir);
    snprintf(ts_log, sizeof ts_log, "%s/testserver.log", dir);

    /* A listener that never accepts: connections complete in the backlog and then hang. */
    int silent = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    BX_ASSERT(bind(silent, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(silent, 16) == 0);
    socklen_t sl = sizeof sa;
    getsockname(silent, (struct sockaddr *)&sa, &sl);
    uint16_t silent_port = ntohs(sa.sin_port);
    uint16_t closed_port = harness_free_port(); /* nothing listens there */
    uint16_t ts_port = harness_free_port();
    fe_port = harness_free_port();

    char e[8][300];
    snprintf(e[0], sizeof e[0], "BOXOFFICE_TESTSERVER_PORT=%u", (unsigned)ts_port);
    snprintf(e[1], sizeof e[1], "BOXOFFICE_AUTH_KEYS=%s", keys);
    const char *ts_env[] = {e[0], e[1], "BOXOFFICE_LOG_LEVEL=warn", NULL};
    pid_t ts = harness_spawn(argv[2], ts_env, ts_log);

    snprintf(e[2], sizeof e[2], "BOXOFFICE_FRONTEND_PORT=%u", (unsigned)fe_port);
    snprintf(e[3], sizeof e[3], "BOXOFFICE_CATALOG_URL=http://127.0.0.1:%u", (unsigned)closed_port);
    snprintf(e[4], sizeof e[4], "BOXOFFICE_USERS_URL=http://127.0.0.1:%u", (unsigned)silent_port);
    snprintf(e[5], sizeof e[5], "BOXOFFICE_BOOKING_URL=http://127.0.0.1:%u", (unsigned)ts_port);
    /* a web directory of our own, so these checks do not depend on the real UI's files */
    char web[300], file[400];
    snprintf(web, sizeof web, "%s/web", dir);
    BX_ASSERT(mkdir(web, 0755) == 0);
    snprintf(file, sizeof file, "%s/index.html", web);
    FILE *f = fopen(file, "w");
    BX_ASSERT(f != NULL);
    fputs("<!doctype html><html><head><script type=\"module\" src=\"/app.js\"></script>"
          "</head><body>boxoffice</body></html>\n",
          f);
    fclose(f);
    const char *scripts[] = {"app.js", "app.0123abcd.js"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(file, sizeof file, "%s/%s", web, scripts[i]);
        f = fopen(file, "w");
        BX_ASSERT(f != NULL);
        for (int k = 0; k < 64; k++) {
            fprintf(f, "export function f%d(x) { return x + %d; }\n", k, k);
        }
        fclose(f);
    }
    (void)argv[3]; /* the real web/ is served by the stack and UI tests */
    snprintf(e[6], sizeof e[6], "BOXOFFICE_WEB_DIR=%s", web);
    const char *fe_env[] = {e[2],
                            e[3],
                            e[4],
                            e[5],
                            e[6],
                            "BOXOFFICE_UPSTREAM_TIMEOUT_MS=700",
                            "BOXOFFICE_RATE_LIMIT_RPS=0",
                            "BOXOFFICE_LOG_LEVEL=warn",
                            NULL};
    pid_t fe = harness_spawn(argv[1], fe_env, fe_log);

    bool up =
        harness_wait_ok(ts_port, "/healthz", 20000) && harness_wait_ok(fe_port, "/healthz", 20000);
    CHECK(up, "frontend and test upstream are up");
    static char resp[RESP_MAX];
    if (up) {
        int st = get("/api/orders/o-1?q=x%20y",
                     "Authorization: Bearer abc\r\nX-Request-Id: rid-7\r\n", resp);
        const char *b = harness_body(resp);
        CHECK(st == 200 && strstr(b, "\"id\":\"o-1\"") && strstr(b, "\"request_id\":\"rid-7\"") &&
                  strstr(b, "\"q\":\"x y\"") && strstr(b, "\"has_authorization\":true"),
              "GET round trip through the gateway carries path, query, auth and request id: %s", b);
        CHECK(strstr(resp, "X-Request-Id: rid-7\r\n") != NULL, "request id returned to the client");

        const char body[] = "{\"name\":\"Ada\",\"quantity\":3}";
        char req[512];
        snprintf(req, sizeof req,
                 "POST /api/holds HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                 sizeof body - 1, body);
        harness_raw(fe_port, req, strlen(req), resp, RESP_MAX, 10000);
        CHECK(harness_status(resp) == 201 && strstr(harness_body(resp), "\"quantity\":3") &&
                  strstr(resp, "Content-Type: application/json"),
              "POST body proxied, upstream 201 and content type passed back");
        snprintf(req, sizeof req,
                 "POST /api/holds HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                 "Content-Length: 3\r\nConnection: close\r\n\r\n{{{");
        harness_raw(fe_port, req, strlen(req), resp, RESP_MAX, 10000);
        CHECK(harness_status(resp) == 400 && json_error(resp, "invalid_json"),
              "upstream 400 passed through unchanged");

        CHECK(get("/api/events", NULL, resp) == 502 && json_error(resp, "bad_gateway"),
              "upstream refusing connections -> 502 JSON");
        CHECK(get("/api/users/me", NULL, resp) == 504 && json_error(resp, "upstream_timeout"),
              "upstream never answering -> 504 JSON");
        CHECK(get("/api/nothing-here", NULL, resp) == 404 && json_error(resp, "not_found"),
              "unknown /api path -> 404 JSON");
        CHECK(get("/", NULL, resp) == 200 && strstr(resp, "Content-Type: text/html") &&
                  strstr(harness_body(resp), "<html") != NULL,
              "web UI index served");
        CHECK(get("/../CMakeLists.txt", NULL, resp) == 404, "path traversal refused");
        CHECK(get("/.git/config", NULL, resp) == 404, "hidden files refused");
        CHECK(get("/readyz", NULL, resp) == 200, "frontend ready");
        test_static_and_headers();
        test_stream_relay();
        test_rate_limit(argv[1], web, ts_port);
    }
    int fst = harness_stop(fe, SIGTERM, 15000);
    CHECK(fst != -1 && WIFEXITED(fst) && WEXITSTATUS(fst) == 0, "frontend SIGTERM -> exit 0");
    int tst = harness_stop(ts, SIGTERM, 15000);
    CHECK(tst != -1 && WIFEXITED(tst) && WEXITSTATUS(tst) == 0, "upstream SIGTERM -> exit 0");
    close(silent);
    if (harness_failures) {
        harness_tail(fe_log, 20);
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", dir);
    }
    return harness_finish("test_gateway");
}
