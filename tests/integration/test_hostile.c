// SPDX-License-Identifier: Apache-2.0
// The malformed-request battery (ctest integration.hostile): the whole stack started by
// scripts/run.sh on free ports in a temporary BOXOFFICE_VAR, then raw HTTP to the gateway:
// - every body-taking route gets invalid UTF-8, lone surrogates, \u0000 and raw NUL, huge
//   numbers, duplicate keys, nesting past 32 (and a 100,000-deep one), non-object tops, broken
//   syntax, unknown fields, every field with a wrong type, oversized (10 KB) and out of range, a
//   2 MB body, and bad Idempotency-Keys;
// - every route with an id gets path traversal (../, %2e%2e, %2f), %00, bad escapes, very long ids;
// - every list gets bad limit, cursor (garbage, tampered, another list's), from/to, after, since;
// - headers: oversized, bad and duplicate Content-Length, Content-Length with chunked, an unknown
//   Transfer-Encoding, a body shorter than announced, a garbage request line;
// - a slowloris client (headers, then a body, one byte a second) against a gateway with a 3 s idle
//   timeout, while other clients are served.
// Each answer must be a 4xx JSON error (the exact code and field where API.md names one), never a
// 5xx or a dropped connection, and nothing may change: the state a client can read (venues,
// events, the change feed, availability, orders, profiles, the ticket revocation list) is compared
// before and after each group. At the end no service may have died, logged a 5xx or a sanitizer
// report. docs/security-tests.md lists the cases and what they found.
//   test_hostile BUILD_DIR SOURCE_DIR
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "boxoffice/auth.h"
#include "boxoffice/base.h"
#include "harness.h"

#define STOP_TIMEOUT_MS    60000
#define READY_WAIT_MS      90000
#define POLL_MS            200
#define CALL_TIMEOUT_MS    15000
#define RESP_MAX_BYTES     (256 * 1024)
#define SNAPSHOT_MAX_BYTES (1024 * 1024)
#define PATH_MAX_BYTES     8192
#define OVERSIZED_BYTES    10240             /* a "10 KB name" */
#define HUGE_BODY_BYTES    (2 * 1024 * 1024) /* over the 1 MiB body limit */
#define DEEP_NESTING       100000
#define JSON_DEPTH_MAX     32 /* API.md */
#define IDEM_KEY_MAX       128
#define SHORT_IDLE_S       3 /* the slow-client gateway's BOXOFFICE_HTTP_IDLE_TIMEOUT_S */
#define SLOW_SLACK_S       5 /* allowance beyond the idle timeout before we call it a hang */
#define SLOW_CLIENTS       8
#define SLOW_RUN_S         (SHORT_IDLE_S * 3 + SLOW_SLACK_S)
#define PASSWORD           "hostile-password-1"

/* ------------------------------------------------------------------ the stack (scripts/run.sh) */

enum svc {
    FRONTEND = HS_FRONTEND,
    CATALOG = HS_CATALOG,
    USERS = HS_USERS,
    BOOKING = HS_BOOKING,
    TICKETGEN = HS_TICKETGEN,
    ANALYTICS = HS_ANALYTICS,
    DEVKAFKA = HS_DEVKAFKA,
    N_SVC = HS_N
};
#define svc_log harness_stack_names
static struct harness_stack stack = {.launcher = -1};

static char *const var_dir = stack.var_dir;
static char slow_log[320];
static uint16_t *const ports = stack.ports;
static pid_t slow_gw_pid = -1;
static uint16_t gw, slow_gw; /* the stack's gateway; a second one with a short idle timeout */

/* A second gateway in front of the same services, with a short idle timeout: the slow clients'
 * target (the stack's own gateway keeps the 60 s default). */
static bool slow_gateway_start(const char *build_dir, const char *src_dir) {
    static char env[11][400];
    const char *envp[12];
    slow_gw = harness_free_port();
    snprintf(env[0], sizeof env[0], "BOXOFFICE_FRONTEND_PORT=%u", (unsigned)slow_gw);
    snprintf(env[1], sizeof env[1], "BOXOFFICE_HTTP_IDLE_TIMEOUT_S=%d", SHORT_IDLE_S);
    snprintf(env[2], sizeof env[2], "BOXOFFICE_WEB_DIR=%s/web", src_dir);
    snprintf(env[3], sizeof env[3], "BOXOFFICE_CATALOG_URL=http://127.0.0.1:%u",
             (unsigned)ports[CATALOG]);
    snprintf(env[4], sizeof env[4], "BOXOFFICE_USERS_URL=http://127.0.0.1:%u",
             (unsigned)ports[USERS]);
    snprintf(env[5], sizeof env[5], "BOXOFFICE_BOOKING_URL=http://127.0.0.1:%u",
             (unsigned)ports[BOOKING]);
    snprintf(env[6], sizeof env[6], "BOXOFFICE_TICKETGEN_URL=http://127.0.0.1:%u",
             (unsigned)ports[TICKETGEN]);
    snprintf(env[7], sizeof env[7], "BOXOFFICE_ANALYTICS_URL=http://127.0.0.1:%u",
             (unsigned)ports[ANALYTICS]);
    snprintf(env[8], sizeof env[8], "BOXOFFICE_RATE_LIMIT_RPS=0");
    snprintf(env[9], sizeof env[9], "BOXOFFICE_HTTP_REQUEST_TIMEOUT_S=%d", SHORT_IDLE_S + 1);
    snprintf(env[10], sizeof env[10], "BOXOFFICE_LOG_LEVEL=info");
    for (int i = 0; i < 11; i++) {
        envp[i] = env[i];
    }
    envp[11] = NULL;
    char bin[600];
    snprintf(bin, sizeof bin, "%s/bin/boxoffice-frontend", build_dir);
    snprintf(slow_log, sizeof slow_log, "%s/log/frontend-short-idle.log", var_dir);
    slow_gw_pid = harness_spawn(bin, envp, slow_log);
    return harness_wait_ok(slow_gw, "/readyz", 30000);
}

/* Every service the launcher started is still running. */
static bool all_alive(void) {
    bool ok = stack.launcher > 0 && waitpid(stack.launcher, NULL, WNOHANG) == 0;
    for (int s = 0; s < N_SVC; s++) {
        char p[400], buf[32] = "";
        snprintf(p, sizeof p, "%s/run/%s.pid", var_dir, svc_log[s]);
        FILE *f = fopen(p, "r");
        bool alive = f != NULL && fgets(buf, sizeof buf, f) != NULL &&
                     kill((pid_t)strtol(buf, NULL, 10), 0) == 0;
        if (f != NULL) {
            fclose(f);
        }
        CHECK(alive, "%s is still running", svc_log[s]);
        ok = ok && alive;
    }
    return ok;
}

/* Lines of a log holding needle (printed, at most 5); returns how many. */
static int grep_log(const char *path, const char *needle) {
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }
    static char line[65536];
    int n = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strstr(line, needle) != NULL) {
            if (n++ < 5) {
                printf("    | %.300s", line);
            }
        }
    }
    fclose(f);
    return n;
}

/* ------------------------------------------------------------------ raw HTTP */

struct ans {
    int status;   /* 0: no answer */
    bool json;    /* Content-Type: application/json */
    json_t *body; /* parsed body, NULL when not JSON */
    const char *code, *field;
    size_t got;
};

static char resp_buf[RESP_MAX_BYTES];

static void ans_drop(struct ans *a) {
    json_decref(a->body);
    a->body = NULL;
}

static struct ans exchange(uint16_t port, const char *req, size_t len, int64_t timeout_ms) {
    struct ans a = {0};
    a.got = harness_raw(port, req, len, resp_buf, sizeof resp_buf, timeout_ms);
    a.status = harness_status(resp_buf);
    const char *end = strstr(resp_buf, "\r\n\r\n");
    if (end != NULL) {
        for (const char *p = strstr(resp_buf, "\r\n"); p != NULL && p < end;
             p = strstr(p + 2, "\r\n")) {
            if (strncasecmp(p + 2, "Content-Type: application/json", 30) == 0) {
                a.json = true;
            }
        }
        const char *body = end + 4;
        a.body = json_loadb(body, a.got - (size_t)(body - resp_buf), 0, NULL);
        a.code = harness_str(a.body, "error.code");
        a.field = harness_str(a.body, "error.field");
    }
    return a;
}

/* method path with headers ("Name: value\r\n"..., may be NULL) and a body of body_len bytes
 * (no Content-Length at all when body is NULL). */
static struct ans send_to(uint16_t port, const char *method, const char *path, const char *token,
                          const char *headers, const void *body, size_t body_len) {
    size_t cap = strlen(path) + (headers ? strlen(headers) : 0) + BX_TOKEN_MAX_BYTES + 512 +
                 (body ? body_len : 0);
    char *req = malloc(cap);
    BX_ASSERT(req != NULL);
    int n = snprintf(req, cap,
                     "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                     "Content-Type: application/json\r\n%s%s%s%s",
                     method, path, token ? "Authorization: Bearer " : "", token ? token : "",
                     token ? "\r\n" : "", headers ? headers : "");
    BX_ASSERT(n > 0 && (size_t)n < cap);
    size_t len = (size_t)n;
    if (body != NULL) {
        len += (size_t)snprintf(req + len, cap - len, "Content-Length: %zu\r\n", body_len);
    }
    len += (size_t)snprintf(req + len, cap - len, "\r\n");
    if (body != NULL) {
        memcpy(req + len, body, body_len);
        len += body_len;
    }
    struct ans a = exchange(port, req, len, CALL_TIMEOUT_MS);
    free(req);
    return a;
}

static struct ans send_req(const char *method, const char *path, const char *token,
                           const char *headers, const void *body, size_t body_len) {
    return send_to(gw, method, path, token, headers, body, body_len);
}

/* The answer is the JSON error status/code (and field unless NULL); else a FAIL naming what came.
 */
/* Known gaps (docs/security-tests.md, "Known gaps"): behaviour of libmicrohttpd below our code,
 * or fixes not made yet. Each is checked and printed on every run as GAP, and counted in the
 * summary, but does not fail the test; a gap that closes prints ok. */
static int gaps;
#define GAP(cond, ...)                                                                             \
    do {                                                                                           \
        if (cond) {                                                                                \
            CHECK(true, __VA_ARGS__);                                                              \
        } else {                                                                                   \
            gaps++;                                                                                \
            fprintf(stderr, "GAP  ");                                                              \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
        }                                                                                          \
    } while (0)

static bool expect(struct ans *a, int status, const char *code, const char *field, const char *fmt,
                   ...) __attribute__((format(printf, 5, 6)));
static bool expect(struct ans *a, int status, const char *code, const char *field, const char *fmt,
                   ...) {
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    bool ok = a->status == status && a->json && a->code != NULL && strcmp(a->code, code) == 0 &&
              (field == NULL || (a->field != NULL && strcmp(a->field, field) == 0));
    if (ok) {
        CHECK(true, "%s: %d %s%s%s", what, status, code, field ? " " : "", field ? field : "");
    } else {
        char seen[200];
        if (a->status == 0) {
            snprintf(seen, sizeof seen, "no answer (%zu bytes, connection dropped or timed out)",
                     a->got);
        } else if (!a->json || a->code == NULL) {
            const char *b = harness_body(resp_buf);
            snprintf(seen, sizeof seen, "%d, not a JSON error: %.80s", a->status, b);
        } else {
            snprintf(seen, sizeof seen, "%d %s%s%s", a->status, a->code, a->field ? " " : "",
                     a->field ? a->field : "");
        }
        CHECK(false, "%s: want %d %s%s%s, got %s", what, status, code, field ? " " : "",
              field ? field : "", seen);
    }
    ans_drop(a);
    return ok;
}

/* Any 4xx JSON error (for cases API.md gives no exact code for); one of two statuses if given. */
static bool expect_4xx(struct ans *a, int s1, int s2, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static bool expect_4xx(struct ans *a, int s1, int s2, const char *fmt, ...) {
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    bool status_ok = s1 ? (a->status == s1 || a->status == s2) : a->status / 100 == 4;
    bool ok = status_ok && a->json && a->code != NULL;
    CHECK(ok, "%s: %s 4xx JSON error (got %d %s%s)", what, s1 ? "the expected" : "a", a->status,
          a->json ? "JSON " : "non-JSON ", a->code ? a->code : harness_body(resp_buf));
    ans_drop(a);
    return ok;
}

/* ------------------------------------------------------------------ state a client can read */

static char admin_tok[BX_TOKEN_MAX_BYTES + 1], owner_tok[BX_TOKEN_MAX_BYTES + 1];
static char admin_password[128];
static char owner_id[64], target_id[64], venue_id[64], venue2_id[64], event_id[64], event2_id[64];
static char tier_id[64], draft_id[64], hold_id[64], order_id[64], order2_id[64], ticket_id[64];
static char venues_cursor[512], events_cursor[512], orders_cursor[512];

static struct harness_res api(const char *method, const char *path, const char *token,
                              const char *header, const char *body) {
    return harness_call(gw, method, path, token, header, body);
}

/* The readable state, as one string (malloc'd). */
static char *snapshot(void) {
    char p[16][600];
    const char *tok[16];
    int n = 0;
#define SNAP(tk, ...) (snprintf(p[n], sizeof p[n], __VA_ARGS__), tok[n++] = (tk))
    SNAP(NULL, "/api/venues?limit=100");
    SNAP(NULL, "/api/venues/%s", venue_id);
    SNAP(NULL, "/api/events?limit=100");
    SNAP(NULL, "/api/events/changes");
    SNAP(admin_tok, "/api/events/%s", event_id);
    SNAP(admin_tok, "/api/events/%s", draft_id);
    SNAP(NULL, "/api/events/%s/availability", event_id);
    SNAP(admin_tok, "/api/orders?limit=100");
    SNAP(owner_tok, "/api/holds/%s", hold_id);
    SNAP(owner_tok, "/api/users/me");
    SNAP(admin_tok, "/api/users/me");
    SNAP(NULL, "/api/tickets/keys");
    SNAP(owner_tok, "/api/orders/%s/tickets", order_id);
#undef SNAP
    char *out = malloc(SNAPSHOT_MAX_BYTES);
    BX_ASSERT(out != NULL);
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        struct harness_res r = api("GET", p[i], tok[i], NULL, NULL);
        char *text = r.body ? json_dumps(r.body, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        int w = snprintf(out + len, SNAPSHOT_MAX_BYTES - len, "GET %s -> %ld %s\n", p[i], r.status,
                         text ? text : "(no JSON)");
        free(text);
        harness_res_drop(&r);
        BX_ASSERT(w > 0 && len + (size_t)w < SNAPSHOT_MAX_BYTES);
        len += (size_t)w;
    }
    return out;
}

/* Compares with before (and frees it); prints the first line that changed. */
static void unchanged(char *before, const char *group) {
    char *after = snapshot();
    bool same = strcmp(before, after) == 0;
    CHECK(same, "%s: nothing a client can read changed", group);
    if (!same) {
        const char *a = before, *b = after;
        while (*a && *b) {
            const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
            size_t la = ea ? (size_t)(ea - a) : strlen(a), lb = eb ? (size_t)(eb - b) : strlen(b);
            if (la != lb || memcmp(a, b, la) != 0) {
                printf("    before: %.*s\n    after:  %.*s\n", (int)(la < 600 ? la : 600), a,
                       (int)(lb < 600 ? lb : 600), b);
                break;
            }
            a += la + (ea != NULL);
            b += lb + (eb != NULL);
        }
    }
    free(before);
    free(after);
}

/* ------------------------------------------------------------------ setup */

static bool login(const char *email, const char *password, char *token, char *id_out) {
    json_t *b = json_pack("{s:s, s:s}", "email", email, "password", password);
    char *text = json_dumps(b, JSON_COMPACT);
    struct harness_res r = api("POST", "/api/sessions", NULL, NULL, text);
    free(text);
    json_decref(b);
    const char *t = harness_str(r.body, "token"), *id = harness_str(r.body, "user.id");
    bool ok = r.status == 201 && t != NULL && strlen(t) <= BX_TOKEN_MAX_BYTES;
    if (ok) {
        bx_strlcpy(token, t, BX_TOKEN_MAX_BYTES + 1);
        if (id_out != NULL && id != NULL) {
            bx_strlcpy(id_out, id, 64);
        }
    }
    harness_res_drop(&r);
    return ok;
}

static bool created(struct harness_res r, char *id_out) {
    const char *id = harness_str(r.body, "id");
    bool ok = (r.status == 201 || r.status == 200) && id != NULL;
    if (ok) {
        bx_strlcpy(id_out, id, 64);
    }
    harness_res_drop(&r);
    return ok;
}

static bool make_event(const char *title, bool publish, char *id_out) {
    char body[1024], path[256];
    snprintf(body, sizeof body,
             "{\"title\":\"%s\",\"category\":\"test\",\"venue_id\":\"%s\","
             "\"starts_at\":\"2031-05-01T19:00:00Z\",\"ends_at\":\"2031-05-01T22:00:00Z\","
             "\"tiers\":[{\"name\":\"GA\",\"price_cents\":1500,\"currency\":\"EUR\","
             "\"capacity\":100,\"max_per_order\":10}]}",
             title, venue_id);
    struct harness_res r = api("POST", "/api/events", admin_tok, NULL, body);
    if (publish && r.status == 201 && tier_id[0] == '\0') {
        const char *t = harness_str(json_array_get(json_object_get(r.body, "tiers"), 0), "id");
        bx_strlcpy(tier_id, t ? t : "", sizeof tier_id);
    }
    if (!created(r, id_out)) {
        return false;
    }
    if (!publish) {
        return true;
    }
    snprintf(path, sizeof path, "/api/events/%s/publish", id_out);
    r = api("POST", path, admin_tok, NULL, NULL);
    bool ok = r.status == 200;
    harness_res_drop(&r);
    return ok;
}

static bool make_hold(char *id_out) {
    char body[256];
    snprintf(body, sizeof body, "{\"event_id\":\"%s\",\"tier_id\":\"%s\",\"quantity\":1}", event_id,
             tier_id);
    return created(api("POST", "/api/holds", owner_tok, NULL, body), id_out);
}

static bool make_order(char *id_out) {
    char hold[64], body[128], key[128];
    if (!make_hold(hold)) {
        return false;
    }
    snprintf(body, sizeof body, "{\"hold_id\":\"%s\"}", hold);
    snprintf(key, sizeof key, "Idempotency-Key: setup-%s", hold);
    return created(api("POST", "/api/orders", owner_tok, key, body), id_out);
}

static bool next_cursor(const char *path, const char *token, char *out, size_t size) {
    struct harness_res r = api("GET", path, token, NULL, NULL);
    const char *c = harness_str(r.body, "next_cursor");
    bool ok = r.status == 200 && c != NULL && strlen(c) < size;
    if (ok) {
        bx_strlcpy(out, c, size);
    }
    harness_res_drop(&r);
    return ok;
}

static bool setup(void) {
    char pw_path[320];
    snprintf(pw_path, sizeof pw_path, "%s/admin-password", var_dir);
    FILE *f = fopen(pw_path, "r");
    bool ok = f != NULL && fgets(admin_password, sizeof admin_password, f) != NULL;
    if (f != NULL) {
        fclose(f);
    }
    admin_password[strcspn(admin_password, "\r\n")] = '\0';
    ok = ok && login("admin@boxoffice.local", admin_password, admin_tok, NULL);
    CHECK(ok, "the demo admin logs in");
    const char *reg = "{\"email\":\"%s\",\"password\":\"" PASSWORD "\",\"name\":\"Hostile\"}";
    char body[512];
    snprintf(body, sizeof body, reg, "owner@hostile.test");
    ok = ok && created(api("POST", "/api/users", NULL, NULL, body), owner_id) &&
         login("owner@hostile.test", PASSWORD, owner_tok, NULL);
    snprintf(body, sizeof body, reg, "target@hostile.test");
    ok = ok && created(api("POST", "/api/users", NULL, NULL, body), target_id);
    CHECK(ok, "a customer and a role target register; the customer logs in");
    const char *vb = "{\"name\":\"%s\",\"address\":\"1 Fuzz Street\",\"city\":\"Bristol\","
                     "\"country\":\"GB\",\"timezone\":\"Europe/London\"}";
    snprintf(body, sizeof body, vb, "Hostile Hall");
    ok = ok && created(api("POST", "/api/venues", admin_tok, NULL, body), venue_id);
    snprintf(body, sizeof body, vb, "Hostile Annex");
    ok = ok && created(api("POST", "/api/venues", admin_tok, NULL, body), venue2_id);
    CHECK(ok, "the admin creates two venues");
    ok = ok && make_event("Hostile Night", true, event_id) &&
         make_event("Hostile Matinee", true, event2_id) &&
         make_event("Hostile Draft", false, draft_id);
    CHECK(ok, "the admin creates two published events and a draft");
    ok = ok && make_hold(hold_id) && make_order(order_id) && make_order(order2_id);
    CHECK(ok, "the customer holds a seat and confirms two orders");
    if (!ok) {
        return false;
    }
    char path[256];
    snprintf(path, sizeof path, "/api/orders/%s", order_id);
    struct harness_res r = api("GET", path, owner_tok, NULL, NULL);
    const char *t = harness_str(json_array_get(json_object_get(r.body, "tickets"), 0), "id");
    bx_strlcpy(ticket_id, t ? t : "", sizeof ticket_id);
    harness_res_drop(&r);
    /* the tickets: their document reaches ticketgen asynchronously */
    snprintf(path, sizeof path, "/api/orders/%s/tickets", order_id);
    int64_t deadline = bx_now_mono_ms() + READY_WAIT_MS;
    bool ready = false;
    while (!ready && bx_now_mono_ms() < deadline) {
        r = api("GET", path, owner_tok, NULL, NULL);
        const char *s = harness_str(json_array_get(json_object_get(r.body, "items"), 0), "status");
        ready = r.status == 200 && s != NULL && strcmp(s, "ready") == 0;
        harness_res_drop(&r);
        if (!ready) {
            usleep(POLL_MS * 1000);
        }
    }
    CHECK(ready && ticket_id[0] != '\0', "the order's ticket becomes ready");
    ok = ready && next_cursor("/api/venues?limit=1", NULL, venues_cursor, sizeof venues_cursor) &&
         next_cursor("/api/events?limit=1", NULL, events_cursor, sizeof events_cursor) &&
         next_cursor("/api/orders?limit=1", owner_tok, orders_cursor, sizeof orders_cursor);
    CHECK(ok, "real cursors of the venue, event and order lists");
    return ok;
}

/* ------------------------------------------------------------------ body batteries */

enum kind { STR, INT, TIME, ENUM };

struct field {
    const char *name; /* as the error names it; its "@name@" marks the value in the template */
    enum kind kind;
    const char *value; /* a valid JSON value; <ids> are filled in */
    bool nullable, empty_ok;
    long long min, max; /* INT: the valid range */
};

#define FIELDS_MAX 16

struct body_route {
    const char *method, *path; /* <ids> filled in */
    int who;                   /* 0 anonymous, 1 the customer, 2 the admin */
    const char *tmpl;          /* the body, fields as @name@ */
    bool creates;              /* takes Idempotency-Key (API.md: every POST that creates) */
    bool key_required;         /* POST /api/orders */
    struct field f[FIELDS_MAX];
};

#define S(n, v)                                                                                    \
    { n, STR, v, false, false, 0, 0 }
#define SN(n, v)                                                                                   \
    { n, STR, v, true, false, 0, 0 }
#define SE(n, v)                                                                                   \
    { n, STR, v, false, true, 0, 0 }
#define SNE(n, v)                                                                                  \
    { n, STR, v, true, true, 0, 0 }
#define T(n, v)                                                                                    \
    { n, TIME, v, false, false, 0, 0 }
#define TN(n, v)                                                                                   \
    { n, TIME, v, true, false, 0, 0 }
#define E(n, v)                                                                                    \
    { n, ENUM, v, false, false, 0, 0 }
#define I(n, v, lo, hi)                                                                            \
    { n, INT, v, false, false, lo, hi }
#define IN(n, v, lo, hi)                                                                           \
    { n, INT, v, true, false, lo, hi }
#define VENUE_TMPL                                                                                 \
    "{\"name\":@name@,\"address\":@address@,\"city\":@city@,\"country\":@country@,"                \
    "\"timezone\":@timezone@}"
#define VENUE_FIELDS                                                                               \
    S("name", "\"Nope Hall\""), S("address", "\"9 Nope Road\""), S("city", "\"Nowhere\""),         \
        E("country", "\"GB\""), E("timezone", "\"Europe/London\"")
#define TIER_TMPL                                                                                  \
    "{\"name\":@name@,\"price_cents\":@price_cents@,\"currency\":@currency@,"                      \
    "\"capacity\":@capacity@,\"max_per_order\":@max_per_order@}"
#define TIER_FIELDS                                                                                \
    S("name", "\"Nope tier\""), I("price_cents", "100", 0, 100000000000LL),                        \
        E("currency", "\"EUR\""), I("capacity", "200", 1, 1000000),                                \
        I("max_per_order", "5", 1, 100)

/* Every route that takes a body, each with a body that would be accepted as it is: the batteries
 * break one thing at a time, so any acceptance is a change the snapshots see. */
static const struct body_route body_routes[] = {
    {"POST",
     "/api/users",
     0,
     "{\"email\":@email@,\"password\":@password@,\"name\":@name@}",
     true,
     false,
     {E("email", "\"never@hostile.test\""), S("password", "\"" PASSWORD "\""),
      S("name", "\"Never\"")}},
    {"POST",
     "/api/sessions",
     0,
     "{\"email\":@email@,\"password\":@password@}",
     false,
     false,
     {E("email", "\"owner@hostile.test\""), S("password", "\"" PASSWORD "\"")}},
    {"PATCH",
     "/api/users/me",
     1,
     "{\"name\":@name@,\"phone\":@phone@}",
     false,
     false,
     {S("name", "\"Renamed\""), SN("phone", "\"+44 20 7946 0000\"")}},
    {"POST",
     "/api/users/me/password",
     1,
     "{\"old_password\":@old_password@,\"new_password\":@new_password@}",
     false,
     false,
     {S("old_password", "\"" PASSWORD "\""), S("new_password", "\"another-password-2\"")}},
    {"POST",
     "/api/users/<target>/role",
     2,
     "{\"role\":@role@}",
     false,
     false,
     {E("role", "\"staff\"")}},
    {"POST", "/api/venues", 2, VENUE_TMPL, true, false, {VENUE_FIELDS}},
    {"PATCH", "/api/venues/<venue>", 2, VENUE_TMPL, false, false, {VENUE_FIELDS}},
    {"POST",
     "/api/events",
     2,
     "{\"title\":@title@,\"description\":@description@,\"category\":@category@,"
     "\"venue_id\":@venue_id@,\"starts_at\":@starts_at@,\"ends_at\":@ends_at@,"
     "\"sales_start\":@sales_start@,\"sales_end\":@sales_end@,\"image_url\":@image_url@,"
     "\"max_tickets_per_user\":@max_tickets_per_user@,\"tiers\":[{\"name\":@tiers[0].name@,"
     "\"price_cents\":@tiers[0].price_cents@,\"currency\":@tiers[0].currency@,"
     "\"capacity\":@tiers[0].capacity@,\"max_per_order\":@tiers[0].max_per_order@}]}",
     true,
     false,
     {S("title", "\"Never\""), SNE("description", "\"\""), S("category", "\"test\""),
      E("venue_id", "\"<venue>\""), T("starts_at", "\"2031-06-01T19:00:00Z\""),
      T("ends_at", "\"2031-06-01T22:00:00Z\""), TN("sales_start", "\"2031-01-01T00:00:00Z\""),
      TN("sales_end", "\"2031-06-01T18:00:00Z\""),
      SN("image_url", "\"https://img.example/never.png\""),
      IN("max_tickets_per_user", "4", 1, 1000), S("tiers[0].name", "\"GA\""),
      I("tiers[0].price_cents", "100", 0, 100000000000LL), E("tiers[0].currency", "\"EUR\""),
      I("tiers[0].capacity", "10", 1, 1000000), I("tiers[0].max_per_order", "5", 1, 100)}},
    {"PATCH",
     "/api/events/<event>",
     2,
     "{\"title\":@title@,\"description\":@description@,\"category\":@category@,"
     "\"starts_at\":@starts_at@,\"ends_at\":@ends_at@,\"image_url\":@image_url@,"
     "\"max_tickets_per_user\":@max_tickets_per_user@}",
     false,
     false,
     {S("title", "\"Renamed\""), SNE("description", "\"\""), S("category", "\"other\""),
      T("starts_at", "\"2031-05-01T18:00:00Z\""), T("ends_at", "\"2031-05-01T23:00:00Z\""),
      SN("image_url", "\"https://img.example/x.png\""), IN("max_tickets_per_user", "8", 1, 1000)}},
    {"POST", "/api/events/<event>/tiers", 2, TIER_TMPL, true, false, {TIER_FIELDS}},
    {"PATCH", "/api/events/<event>/tiers/<tier>", 2, TIER_TMPL, false, false, {TIER_FIELDS}},
    {"POST",
     "/api/holds",
     1,
     "{\"event_id\":@event_id@,\"tier_id\":@tier_id@,\"quantity\":@quantity@}",
     true,
     false,
     {E("event_id", "\"<event>\""), E("tier_id", "\"<tier>\""), I("quantity", "1", 1, 10000)}},
    {"POST", "/api/orders", 1, "{\"hold_id\":@hold_id@}", true, true, {E("hold_id", "\"<hold>\"")}},
    {"POST",
     "/api/checkins",
     2,
     "{\"payload\":@payload@}",
     false,
     false,
     {SE("payload", "\"BX1.not-a-ticket\"")}},
};
#define N_BODY_ROUTES (sizeof body_routes / sizeof body_routes[0])

/* template with <ids> replaced (into a malloc'd string). */
static char *fill_ids(const char *t) {
    const struct {
        const char *name, *value;
    } subst[] = {{"<venue>", venue_id},   {"<event>", event_id},  {"<tier>", tier_id},
                 {"<draft>", draft_id},   {"<hold>", hold_id},    {"<order>", order_id},
                 {"<ticket>", ticket_id}, {"<target>", target_id}};
    size_t cap = strlen(t) * 2 + 1024, n = 0;
    char *out = malloc(cap);
    BX_ASSERT(out != NULL);
    for (const char *p = t; *p != '\0';) {
        const char *value = NULL;
        size_t skip = 1;
        for (size_t i = 0; i < sizeof subst / sizeof subst[0] && value == NULL; i++) {
            size_t l = strlen(subst[i].name);
            if (strncmp(p, subst[i].name, l) == 0) {
                value = subst[i].value;
                skip = l;
            }
        }
        size_t vl = value ? strlen(value) : 1;
        if (n + vl + 1 > cap) {
            cap = (n + vl + 1) * 2;
            out = realloc(out, cap);
            BX_ASSERT(out != NULL);
        }
        memcpy(out + n, value ? value : p, vl);
        n += vl;
        p += skip;
    }
    out[n] = '\0';
    return out;
}

struct buf {
    char *p;
    size_t len, cap;
};

static void buf_add(struct buf *b, const void *data, size_t len) {
    if (b->len + len + 1 > b->cap) {
        b->cap = (b->len + len + 1) * 2;
        b->p = realloc(b->p, b->cap);
        BX_ASSERT(b->p != NULL);
    }
    memcpy(b->p + b->len, data, len);
    b->len += len;
    b->p[b->len] = '\0';
}

/* The route's body with field `which` (-1: none) set to the raw bytes val[0..val_len). */
static struct buf build(const struct body_route *r, int which, const char *val, size_t val_len) {
    struct buf b = {0};
    for (const char *p = r->tmpl; *p != '\0';) {
        if (*p != '@') {
            const char *next = strchr(p, '@');
            size_t l = next ? (size_t)(next - p) : strlen(p);
            buf_add(&b, p, l);
            p += l;
            continue;
        }
        const char *end = strchr(p + 1, '@');
        BX_ASSERT(end != NULL);
        size_t l = (size_t)(end - p - 1);
        bool found = false;
        for (int i = 0; i < FIELDS_MAX && r->f[i].name != NULL && !found; i++) {
            if (strlen(r->f[i].name) == l && strncmp(r->f[i].name, p + 1, l) == 0) {
                found = true;
                if (i == which) {
                    buf_add(&b, val, val_len);
                } else {
                    char *v = fill_ids(r->f[i].value);
                    buf_add(&b, v, strlen(v));
                    free(v);
                }
            }
        }
        BX_ASSERT(found);
        p = end + 1;
    }
    return b;
}

static const char *token_of(int who) {
    return who == 0 ? NULL : who == 1 ? owner_tok : admin_tok;
}

static char *route_path(const struct body_route *r) {
    return fill_ids(r->path);
}

/* A key for each call, so that no call can replay another's stored answer. */
static char *fresh_key_header(const struct body_route *r) {
    static char h[128];
    static unsigned counter;
    if (!r->key_required) {
        return NULL;
    }
    snprintf(h, sizeof h, "Idempotency-Key: hostile-%u-%lld\r\n", ++counter,
             (long long)bx_now_unix_ms());
    return h;
}

static struct ans send_body(const struct body_route *r, const char *extra_headers, const void *body,
                            size_t len) {
    char *path = route_path(r);
    char headers[1024] = "";
    const char *k = fresh_key_header(r);
    snprintf(headers, sizeof headers, "%s%s", k ? k : "", extra_headers ? extra_headers : "");
    struct ans a = send_req(r->method, path, token_of(r->who), headers, body, len);
    free(path);
    return a;
}

static int first_of(const struct body_route *r, bool want_int) {
    for (int i = 0; i < FIELDS_MAX && r->f[i].name != NULL; i++) {
        if ((r->f[i].kind == INT) == want_int) {
            return i;
        }
    }
    return -1;
}

static char *nested(int depth) {
    char *s = malloc((size_t)depth * 2 + 2);
    BX_ASSERT(s != NULL);
    memset(s, '[', (size_t)depth);
    s[depth] = '1';
    memset(s + depth + 1, ']', (size_t)depth);
    s[2 * depth + 1] = '\0';
    return s;
}

static void body_battery(const struct body_route *r) {
    char label[160];
    snprintf(label, sizeof label, "%s %s", r->method, r->path);
    char *before = snapshot();
    struct buf valid = build(r, -1, NULL, 0);
    int fs = first_of(r, false), fi = first_of(r, true);
    BX_ASSERT(fs >= 0);
    const char *sname = r->f[fs].name;
    int fnum = fi >= 0 ? fi : fs;

    /* 400 invalid_json: bytes and escapes that are not JSON text */
    static const struct {
        const char *what;
        const char *bytes;
        size_t len;
    } bad_strings[] = {
        {"invalid UTF-8 (ff fe)", "\"\xff\xfe\"", 4},
        {"overlong UTF-8 (c0 af)", "\"\xc0\xaf\"", 4},
        {"a UTF-8 encoded surrogate (ed a0 80)", "\"\xed\xa0\x80\"", 5},
        {"a truncated UTF-8 sequence (e2 82)", "\"\xe2\x82\"", 4},
        {"a lone high surrogate escape", "\"\\ud800\"", 8},
        {"a lone low surrogate escape", "\"\\udc00\"", 8},
        {"a reversed surrogate pair", "\"\\udc00\\ud800\"", 14},
        {"\\u0000", "\"a\\u0000b\"", 10},
        {"a raw NUL byte", "\"a\0b\"", 5},
        {"a raw control character (0x01)", "\"a\x01z\"", 5},
    };
    for (size_t i = 0; i < sizeof bad_strings / sizeof bad_strings[0]; i++) {
        struct buf b = build(r, fs, bad_strings[i].bytes, bad_strings[i].len);
        struct ans a = send_body(r, NULL, b.p, b.len);
        expect(&a, 400, "invalid_json", NULL, "%s: %s in %s", label, bad_strings[i].what, sname);
        free(b.p);
    }
    static const char *const huge_numbers[] = {"1e400", "-1e400", "99999999999999999999",
                                               "-99999999999999999999", "1" /* 400 digits below */};
    for (size_t i = 0; i < sizeof huge_numbers / sizeof huge_numbers[0]; i++) {
        char digits[402];
        const char *v = huge_numbers[i];
        if (i == 4) {
            memset(digits, '9', 400);
            digits[400] = '\0';
            v = digits;
        }
        struct buf b = build(r, fnum, v, strlen(v));
        struct ans a = send_body(r, NULL, b.p, b.len);
        expect(&a, 400, "invalid_json", NULL, "%s: the number %.24s%s in %s", label, v,
               strlen(v) > 24 ? "..." : "", r->f[fnum].name);
        free(b.p);
    }
    {
        /* the same member twice, both times valid */
        struct buf b = {0};
        char *v = fill_ids(r->f[0].value);
        buf_add(&b, "{\"", 2);
        buf_add(&b, r->f[0].name, strlen(r->f[0].name));
        buf_add(&b, "\":", 2);
        buf_add(&b, v, strlen(v));
        buf_add(&b, ",", 1);
        buf_add(&b, valid.p + 1, valid.len - 1);
        free(v);
        if (strchr(r->f[0].name, '[') == NULL) {
            struct ans a = send_body(r, NULL, b.p, b.len);
            expect(&a, 400, "invalid_json", NULL, "%s: duplicate member %s", label, r->f[0].name);
        }
        free(b.p);
    }
    {
        char *deep = nested(JSON_DEPTH_MAX); /* inside the body's object: depth 33 */
        struct buf b = build(r, fs, deep, strlen(deep));
        struct ans a = send_body(r, NULL, b.p, b.len);
        expect(&a, 400, "invalid_json", NULL, "%s: nesting %d deep", label, JSON_DEPTH_MAX + 1);
        free(b.p);
        free(deep);
        deep = nested(JSON_DEPTH_MAX - 1); /* depth 32: valid JSON, a wrong type */
        b = build(r, fs, deep, strlen(deep));
        a = send_body(r, NULL, b.p, b.len);
        expect(&a, 422, "invalid_field", sname, "%s: nesting %d deep (allowed) is a wrong type",
               label, JSON_DEPTH_MAX);
        free(b.p);
        free(deep);
        deep = nested(DEEP_NESTING);
        a = send_body(r, NULL, deep, strlen(deep));
        expect(&a, 400, "invalid_json", NULL, "%s: a body nested %d deep", label, DEEP_NESTING);
        free(deep);
    }
    /* not one JSON object */
    struct buf with_bom = {0}, twice = {0}, truncated = {0}, trailing = {0}, in_array = {0};
    buf_add(&with_bom, "\xef\xbb\xbf", 3);
    buf_add(&with_bom, valid.p, valid.len);
    buf_add(&twice, valid.p, valid.len);
    buf_add(&twice, valid.p, valid.len);
    buf_add(&truncated, valid.p, valid.len - 1);
    buf_add(&trailing, valid.p, valid.len);
    buf_add(&trailing, " x", 2);
    buf_add(&in_array, "[", 1);
    buf_add(&in_array, valid.p, valid.len);
    buf_add(&in_array, "]", 1);
    const struct {
        const char *what, *text;
    } not_object[] = {
        {"an empty body", ""},
        {"whitespace", " \r\n\t "},
        {"an array", "[]"},
        {"the valid body in an array", in_array.p},
        {"a string", "\"{}\""},
        {"a number", "1"},
        {"null", "null"},
        {"true", "true"},
        {"a truncated body", truncated.p},
        {"trailing garbage", trailing.p},
        {"two objects", twice.p},
        {"a byte order mark", with_bom.p},
        {"single quotes", "{'a':1}"},
        {"a trailing comma", "{\"a\":1,}"},
        {"a comment", "{/* hi */}"},
        {"NaN", "{\"a\":NaN}"},
        {"Infinity", "{\"a\":Infinity}"},
        {"a hex number", "{\"a\":0x10}"},
        {"a bare word", "{a:1}"},
    };
    for (size_t i = 0; i < sizeof not_object / sizeof not_object[0]; i++) {
        struct ans a = send_body(r, NULL, not_object[i].text, strlen(not_object[i].text));
        expect(&a, 400, "invalid_json", NULL, "%s: %s", label, not_object[i].what);
    }
    free(with_bom.p);
    free(twice.p);
    free(truncated.p);
    free(trailing.p);
    free(in_array.p);

    /* 422 invalid_field naming the field */
    static const char *const unknown[] = {"zz_unknown", "__proto__", "",    "id",
                                          "status",     "user_id",   "role"};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        bool known = false;
        for (int k = 0; k < FIELDS_MAX && r->f[k].name != NULL; k++) {
            known = known || strcmp(r->f[k].name, unknown[i]) == 0;
        }
        if (known) {
            continue;
        }
        struct buf b = {0};
        buf_add(&b, valid.p, valid.len - 1);
        char extra[96];
        snprintf(extra, sizeof extra, ",\"%s\":\"admin\"}", unknown[i]);
        buf_add(&b, extra, strlen(extra));
        struct ans a = send_body(r, NULL, b.p, b.len);
        /* a member named "": the error cannot name it better than by leaving field out */
        expect(&a, 422, "invalid_field", unknown[i][0] ? unknown[i] : NULL,
               "%s: the unknown field \"%s\"", label, unknown[i]);
        free(b.p);
    }
    char *oversized = malloc(OVERSIZED_BYTES + 3);
    BX_ASSERT(oversized != NULL);
    oversized[0] = '"';
    memset(oversized + 1, 'a', OVERSIZED_BYTES);
    oversized[OVERSIZED_BYTES + 1] = '"';
    oversized[OVERSIZED_BYTES + 2] = '\0';
    for (int i = 0; i < FIELDS_MAX && r->f[i].name != NULL; i++) {
        const struct field *f = &r->f[i];
        const char *wrong_str[] = {"12345", "true", "[]", "{}", "[\"a\"]", NULL};
        const char *wrong_int[] = {"\"1\"", "1.5", "true", "[]", "{}", "[1]", NULL};
        const char *const *wrong = f->kind == INT ? wrong_int : wrong_str;
        for (int w = 0; wrong[w] != NULL; w++) {
            struct buf b = build(r, i, wrong[w], strlen(wrong[w]));
            struct ans a = send_body(r, NULL, b.p, b.len);
            expect(&a, 422, "invalid_field", f->name, "%s: %s = %s", label, f->name, wrong[w]);
            free(b.p);
        }
        if (!f->nullable) {
            struct buf b = build(r, i, "null", 4);
            struct ans a = send_body(r, NULL, b.p, b.len);
            expect(&a, 422, "invalid_field", f->name, "%s: %s = null", label, f->name);
            free(b.p);
        }
        if (f->kind == INT) {
            /* just outside the range, negative and zero (when not allowed), the int64 ends */
            char v[6][32];
            int nv = 0;
            snprintf(v[nv++], sizeof v[0], "%lld", f->min - 1);
            snprintf(v[nv++], sizeof v[0], "%lld", f->max + 1);
            if (f->min - 1 > -1) {
                snprintf(v[nv++], sizeof v[0], "-1");
            }
            if (f->min - 1 > 0) {
                snprintf(v[nv++], sizeof v[0], "0");
            }
            snprintf(v[nv++], sizeof v[0], "9223372036854775807");
            snprintf(v[nv++], sizeof v[0], "-9223372036854775808");
            for (int k = 0; k < nv; k++) {
                struct buf b = build(r, i, v[k], strlen(v[k]));
                struct ans a = send_body(r, NULL, b.p, b.len);
                expect(&a, 422, "invalid_field", f->name, "%s: %s = %s (allowed %lld to %lld)",
                       label, f->name, v[k], f->min, f->max);
                free(b.p);
            }
        } else {
            struct buf b = build(r, i, oversized, OVERSIZED_BYTES + 2);
            struct ans a = send_body(r, NULL, b.p, b.len);
            expect(&a, 422, "invalid_field", f->name, "%s: %s of %d KB", label, f->name,
                   OVERSIZED_BYTES / 1024);
            free(b.p);
            if (!f->empty_ok) {
                b = build(r, i, "\"\"", 2);
                a = send_body(r, NULL, b.p, b.len);
                expect(&a, 422, "invalid_field", f->name, "%s: %s empty", label, f->name);
                free(b.p);
            }
            if (f->kind == TIME) {
                static const char *const bad_times[] = {
                    "\"yesterday\"", "\"2031-02-30T19:00:00Z\"", "\"2031-06-01\"",
                    "\"2031-06-01T25:00:00Z\"", "\"2031-06-01 19:00:00\""};
                for (size_t k = 0; k < sizeof bad_times / sizeof bad_times[0]; k++) {
                    b = build(r, i, bad_times[k], strlen(bad_times[k]));
                    a = send_body(r, NULL, b.p, b.len);
                    expect(&a, 422, "invalid_field", f->name, "%s: %s = %s", label, f->name,
                           bad_times[k]);
                    free(b.p);
                }
            }
        }
    }
    free(oversized);

    /* 413: a 2 MB body (the connection may close after it) */
    {
        struct buf b = {0};
        char head[128];
        snprintf(head, sizeof head, "{\"%s\":\"", sname);
        buf_add(&b, head, strlen(head));
        char *fill = malloc(HUGE_BODY_BYTES);
        BX_ASSERT(fill != NULL);
        memset(fill, 'a', HUGE_BODY_BYTES);
        buf_add(&b, fill, HUGE_BODY_BYTES);
        free(fill);
        buf_add(&b, "\"}", 2);
        struct ans a = send_body(r, NULL, b.p, b.len);
        expect(&a, 413, "payload_too_large", NULL, "%s: a body of %d MB", label,
               HUGE_BODY_BYTES / (1024 * 1024));
        free(b.p);
    }

    /* Idempotency-Key: at most 128 printable ASCII characters, checked before the body */
    if (r->creates) {
        char long_key[IDEM_KEY_MAX + 40];
        memset(long_key, 'k', IDEM_KEY_MAX + 1);
        long_key[IDEM_KEY_MAX + 1] = '\0';
        const struct {
            const char *what, *value;
        } keys[] = {
            {"of 129 characters", long_key},
            {"with a control character (0x01)", "ab\x01"
                                                "cd"},
            {"with a tab", "ab\tcd"},
            {"with DEL (0x7f)", "ab\x7f"
                                "cd"},
            {"with non-ASCII UTF-8", "cl\xc3\xa9"},
            {"with a raw 0xff byte", "k\xff"},
        };
        struct buf bad_body = {0};
        buf_add(&bad_body, valid.p, valid.len - 1);
        buf_add(&bad_body, ",\"zz_unknown\":1}", 16);
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            char h[256];
            snprintf(h, sizeof h, "Idempotency-Key: %s\r\n", keys[i].value);
            for (int body_ok = 1; body_ok >= 0; body_ok--) {
                char *path = route_path(r);
                struct ans a =
                    send_req(r->method, path, token_of(r->who), h, body_ok ? valid.p : bad_body.p,
                             body_ok ? valid.len : bad_body.len);
                free(path);
                expect(&a, 422, "invalid_field", "Idempotency-Key", "%s: an Idempotency-Key %s%s",
                       label, keys[i].what, body_ok ? "" : " and an invalid body");
            }
        }
        if (r->key_required) {
            char *path = route_path(r);
            struct ans a = send_req(r->method, path, token_of(r->who), NULL, valid.p, valid.len);
            expect(&a, 422, "invalid_field", "Idempotency-Key", "%s: no Idempotency-Key", label);
            a = send_req(r->method, path, token_of(r->who), "Idempotency-Key: \r\n", valid.p,
                         valid.len);
            expect(&a, 422, "invalid_field", "Idempotency-Key", "%s: an empty Idempotency-Key",
                   label);
            free(path);
        }
        free(bad_body.p);
    }
    free(valid.p);
    unchanged(before, label);
}

/* After the batteries, the things no snapshot shows: the never-registered email is free, the
 * customer's password and the target's role are as they were, and logins work (not throttled). */
static void body_aftermath(void) {
    struct harness_res r =
        api("POST", "/api/users", NULL, NULL,
            "{\"email\":\"never@hostile.test\",\"password\":\"" PASSWORD "\",\"name\":\"Never\"}");
    CHECK(r.status == 201, "never@hostile.test was not registered by any hostile body (got %ld)",
          r.status);
    harness_res_drop(&r);
    /* API.md: every POST that creates accepts Idempotency-Key; same key and body replay the
     * first answer, the same key with another body is 422 idempotency_mismatch */
    const char *key = "Idempotency-Key: hostile-register-1";
    const char *body_a =
        "{\"email\":\"idem-a@hostile.test\",\"password\":\"" PASSWORD "\",\"name\":\"A\"}";
    const char *body_b =
        "{\"email\":\"idem-b@hostile.test\",\"password\":\"" PASSWORD "\",\"name\":\"B\"}";
    struct harness_res first = api("POST", "/api/users", NULL, key, body_a);
    struct harness_res again = api("POST", "/api/users", NULL, key, body_a);
    const char *id1 = harness_str(first.body, "id"), *id2 = harness_str(again.body, "id");
    CHECK(first.status == 201 && again.status == 201 && id1 != NULL && id2 != NULL &&
              strcmp(id1, id2) == 0,
          "POST /api/users twice with one Idempotency-Key and body: the first 201 replayed "
          "(got %ld then %ld)",
          first.status, again.status);
    harness_res_drop(&first);
    harness_res_drop(&again);
    r = api("POST", "/api/users", NULL, key, body_b);
    CHECK(harness_err_is(&r, 422, "idempotency_mismatch", NULL),
          "POST /api/users with that key and another body: 422 idempotency_mismatch (got %ld)",
          r.status);
    harness_res_drop(&r);
    char t[BX_TOKEN_MAX_BYTES + 1];
    CHECK(login("owner@hostile.test", PASSWORD, t, NULL),
          "the customer still logs in with the original password");
    char tt[BX_TOKEN_MAX_BYTES + 1];
    bool ok = login("target@hostile.test", PASSWORD, tt, NULL);
    r = api("GET", "/api/users/me", tt, NULL, NULL);
    const char *role = harness_str(r.body, "role");
    CHECK(ok && role != NULL && strcmp(role, "customer") == 0,
          "the role target is still a customer (%s)", role ? role : "?");
    harness_res_drop(&r);
}

/* ------------------------------------------------------------------ ids in paths */

struct id_route {
    const char *method, *path; /* <ID> is replaced by each variant, other <ids> filled in */
    const char *real;          /* the id a variant may wrap: "venue", "event", ... */
    int who;
    const char *body;
};

static const char *real_id(const char *which) {
    return strcmp(which, "venue") == 0    ? venue_id
           : strcmp(which, "event") == 0  ? event_id
           : strcmp(which, "draft") == 0  ? draft_id
           : strcmp(which, "tier") == 0   ? tier_id
           : strcmp(which, "hold") == 0   ? hold_id
           : strcmp(which, "order") == 0  ? order_id
           : strcmp(which, "ticket") == 0 ? ticket_id
                                          : target_id;
}

static const struct id_route id_routes[] = {
    {"GET", "/api/venues/<ID>", "venue", 0, NULL},
    {"PATCH", "/api/venues/<ID>", "venue", 2, "{\"city\":\"Hacked\"}"},
    {"GET", "/api/events/<ID>", "event", 0, NULL},
    {"PATCH", "/api/events/<ID>", "event", 2, "{\"title\":\"Hacked\"}"},
    {"POST", "/api/events/<ID>/tiers", "event", 2,
     "{\"name\":\"Hacked\",\"price_cents\":1,\"currency\":\"EUR\",\"capacity\":1}"},
    {"PATCH", "/api/events/<event>/tiers/<ID>", "tier", 2, "{\"name\":\"Hacked\"}"},
    {"POST", "/api/events/<ID>/publish", "draft", 2, NULL},
    {"POST", "/api/events/<ID>/cancel", "event", 2, NULL},
    {"GET", "/api/events/<ID>/availability", "event", 0, NULL},
    {"GET", "/api/holds/<ID>", "hold", 1, NULL},
    {"DELETE", "/api/holds/<ID>", "hold", 1, NULL},
    {"GET", "/api/orders/<ID>", "order", 1, NULL},
    {"POST", "/api/orders/<ID>/cancel", "order", 1, NULL},
    {"GET", "/api/orders/<ID>/tickets", "order", 1, NULL},
    {"GET", "/api/tickets/<ID>.pdf", "ticket", 1, NULL},
    {"GET", "/api/tickets/<ID>/payload", "ticket", 1, NULL},
    {"GET", "/api/analytics/events/<ID>", "event", 2, NULL},
    {"POST", "/api/users/<ID>/role", "target", 2, "{\"role\":\"admin\"}"},
};

static void id_battery(void) {
    char *before = snapshot();
    char long_id[301], very_long[5001];
    memset(long_id, 'a', 300);
    long_id[300] = '\0';
    memset(very_long, 'b', 5000);
    very_long[5000] = '\0';
    for (size_t ri = 0; ri < sizeof id_routes / sizeof id_routes[0]; ri++) {
        const struct id_route *r = &id_routes[ri];
        const char *real = real_id(r->real);
        struct {
            char id[5200];
            int s1, s2; /* acceptable statuses */
            const char *code;
        } v[24];
        int n = 0;
#define V(s1_, s2_, code_, ...)                                                                    \
    (snprintf(v[n].id, sizeof v[n].id, __VA_ARGS__), v[n].s1 = (s1_), v[n].s2 = (s2_),             \
     v[n].code = (code_), n++)
        V(404, 0, "not_found", "..%%2f..%%2f..%%2fetc%%2fpasswd");
        V(404, 0, "not_found", "%%2e%%2e");
        V(404, 0, "not_found", "%%2e%%2e%%2f%%2e%%2e%%2fusers%%2fme");
        V(404, 0, "not_found", "%s%%2f..%%2f%s", real, real);
        V(404, 0, "not_found", "../../../../etc/passwd");
        /* a NUL names no resource: 404, or 400 for the request; never the id before it */
        V(404, 400, NULL, "%s%%00", real);
        V(404, 400, NULL, "%s%%00garbage", real);
        V(404, 400, NULL, "%%00%s", real);
        V(404, 0, "not_found", "%s%%20", real);
        V(404, 0, "not_found", "%s;x", real);
        V(404, 0, "not_found", "%%27%%20OR%%20%%271%%27%%3D%%271");
        V(404, 0, "not_found", "%%e2%%80%%ae%s", real);
        V(404, 0, "not_found", "%%ff%%fe");
        V(404, 400, NULL, "%%");
        V(404, 400, NULL, "%%zz");
        V(404, 0, "not_found", "%s", long_id);
        V(414, 0, "uri_too_long", "%s", very_long);
#undef V
        for (int i = 0; i < n; i++) {
            char *tmpl = fill_ids(r->path);
            char path[PATH_MAX_BYTES];
            const char *at = strstr(tmpl, "<ID>");
            BX_ASSERT(at != NULL);
            snprintf(path, sizeof path, "%.*s%s%s", (int)(at - tmpl), tmpl, v[i].id, at + 4);
            free(tmpl);
            struct ans a = send_req(r->method, path, token_of(r->who), NULL, r->body,
                                    r->body ? strlen(r->body) : 0);
            char shown[80];
            snprintf(shown, sizeof shown, "%.40s%s", v[i].id, strlen(v[i].id) > 40 ? "..." : "");
            if (v[i].code != NULL) {
                expect(&a, v[i].s1, v[i].code, NULL, "%s %s with id %s", r->method, r->path, shown);
            } else {
                expect_4xx(&a, v[i].s1, v[i].s2, "%s %s with id %s", r->method, r->path, shown);
            }
        }
    }
    unchanged(before, "ids in paths");
}

/* ------------------------------------------------------------------ query parameters */

static void query_battery(void) {
    char *before = snapshot();
    /* well-formed cursors for positions no answer ever gave: "a cursor this server did not
     * issue" (API.md) even though each decodes */
    char forged[3][128];
    const char *cursors[3] = {venues_cursor, events_cursor, orders_cursor};
    const char *plain[2] = {"vn1:zzzzzzzz", "ev1:0:zzzzzzzz"};
    for (int i = 0; i < 2; i++) {
        sodium_bin2base64(forged[i], sizeof forged[i], (const unsigned char *)plain[i],
                          strlen(plain[i]), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    }
    bx_strlcpy(forged[2], "o_zzzzzzzz", sizeof forged[2]);
    char long_cursor[2001];
    memset(long_cursor, 'c', 2000);
    long_cursor[2000] = '\0';
    static const char *const bad_limits[] = {
        "0",    "101", "abc",   "-1",    "1.5",  "", "99999999999999999999",
        "0x10", "1e1", "%2010", "10%00", "10abc"};
    const struct {
        const char *path;
        int who;
        int cursor; /* index into cursors, -1: none */
    } lists[] = {
        {"/api/events", 0, 1},
        {"/api/venues", 0, 0},
        {"/api/orders", 1, 2},
    };
    for (size_t l = 0; l < sizeof lists / sizeof lists[0]; l++) {
        char path[PATH_MAX_BYTES];
        const char *tk = token_of(lists[l].who);
        for (size_t i = 0; i < sizeof bad_limits / sizeof bad_limits[0]; i++) {
            snprintf(path, sizeof path, "%s?limit=%s", lists[l].path, bad_limits[i]);
            struct ans a = send_req("GET", path, tk, NULL, NULL, 0);
            if (strstr(bad_limits[i], "%00") != NULL) { /* any %00 in a URI: 400 bad_request */
                expect(&a, 400, "bad_request", NULL, "GET %s", path);
            } else {
                expect(&a, 422, "invalid_field", "limit", "GET %s", path);
            }
        }
        int c = lists[l].cursor;
        const char *other = cursors[(c + 1) % 3];
        const char *bad_cursors[] = {"zzz", "", forged[c], other, long_cursor, "%00", "..%2f..%2f"};
        const char *names[] = {"garbage",        "empty",           "well-formed but never issued",
                               "another list's", "2000 characters", "NUL",
                               "traversal"};
        for (size_t i = 0; i < sizeof bad_cursors / sizeof bad_cursors[0]; i++) {
            snprintf(path, sizeof path, "%s?cursor=%s", lists[l].path, bad_cursors[i]);
            struct ans a = send_req("GET", path, tk, NULL, NULL, 0);
            if (strcmp(names[i], "NUL") == 0) {
                expect(&a, 400, "bad_request", NULL, "GET %s?cursor= (%s cursor)", lists[l].path,
                       names[i]);
            } else if (strcmp(names[i], "well-formed but never issued") == 0) {
                /* cursors are not signed: a forged one reads like any other (filters still apply,
                 * nothing leaks) */
                GAP(a.status == 422, "GET %s?cursor= (%s cursor): 422 (got %d)", lists[l].path,
                    names[i], a.status);
                ans_drop(&a);
            } else {
                expect(&a, 422, "invalid_field", "cursor", "GET %s?cursor= (%s cursor)",
                       lists[l].path, names[i]);
            }
        }
    }
    static const char *const bad_times[] = {
        "yesterday", "2031-13-01T00:00:00Z", "2031-01-01", "2031-01-01T25:00:00Z", "%00", "1e400"};
    for (size_t i = 0; i < sizeof bad_times / sizeof bad_times[0]; i++) {
        for (int w = 0; w < 2; w++) {
            char path[256];
            snprintf(path, sizeof path, "/api/events?%s=%s", w ? "to" : "from", bad_times[i]);
            struct ans a = send_req("GET", path, NULL, NULL, NULL, 0);
            if (strstr(bad_times[i], "%00") != NULL) {
                expect(&a, 400, "bad_request", NULL, "GET %s", path);
            } else {
                expect(&a, 422, "invalid_field", w ? "to" : "from", "GET %s", path);
            }
        }
    }
    const struct {
        const char *path, *field;
        int who;
    } others[] = {
        {"/api/events/changes?after=abc", "after", 0},
        {"/api/events/changes?after=-1", "after", 0},
        {"/api/events/changes?after=99999999999999999999", "after", 0},
        {"/api/auth/revocations?since=abc", "since", 0},
        {"/api/auth/revocations?since=-5", "since", 0},
        {"/api/auth/revocations?since=99999999999999999999", "since", 0},
        {"/api/orders?event_id=..%2f..%2fx", "event_id", 1},
        {"/api/orders?user_id=..%2fx", "user_id", 2},
        {"/api/events?q=%ff%fe", "q", 0},
    };
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        struct ans a = send_req("GET", others[i].path, token_of(others[i].who), NULL, NULL, 0);
        expect(&a, 422, "invalid_field", others[i].field, "GET %s", others[i].path);
    }
    unchanged(before, "query parameters");
}

/* ------------------------------------------------------------------ headers and framing */

static struct ans raw_to(uint16_t port, const char *req, size_t len, int64_t timeout_ms) {
    return exchange(port, req, len, timeout_ms);
}

static int connect_to(uint16_t port);
static bool peer_closed(int fd);

/* Sends req, reads one full answer (by Content-Length), then waits up to CLOSE_WAIT_MS for the
 * server to close; *closed tells whether it did. */
#define CLOSE_WAIT_MS 2000
static struct ans answer_then_close(uint16_t port, const char *req, size_t len, bool *closed) {
    struct ans a = {0};
    *closed = false;
    resp_buf[0] = '\0';
    int fd = connect_to(port);
    if (fd < 0) {
        return a;
    }
    size_t sent = 0, got = 0;
    int64_t deadline = bx_now_mono_ms() + CALL_TIMEOUT_MS;
    bool complete = false;
    while (!complete && bx_now_mono_ms() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN | (sent < len ? POLLOUT : 0)};
        if (poll(&p, 1, 50) <= 0) {
            continue;
        }
        if ((p.revents & POLLOUT) && sent < len) {
            ssize_t w = send(fd, req + sent, len - sent, MSG_NOSIGNAL);
            sent = w > 0 ? sent + (size_t)w : w < 0 && errno != EAGAIN ? len : sent;
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = recv(fd, resp_buf + got, sizeof resp_buf - 1 - got, 0);
            if (r <= 0) {
                *closed = true;
                break;
            }
            got += (size_t)r;
            resp_buf[got] = '\0';
            const char *end = strstr(resp_buf, "\r\n\r\n");
            const char *cl = strcasestr(resp_buf, "\r\nContent-Length:");
            complete = end != NULL && cl != NULL && cl < end &&
                       (size_t)(end + 4 - resp_buf) + (size_t)strtol(cl + 17, NULL, 10) <= got;
        }
    }
    for (int64_t until = bx_now_mono_ms() + CLOSE_WAIT_MS; !*closed && bx_now_mono_ms() < until;) {
        usleep(50 * 1000);
        *closed = peer_closed(fd);
    }
    close(fd);
    /* parse what came, as exchange() does */
    a.got = got;
    a.status = harness_status(resp_buf);
    const char *end = strstr(resp_buf, "\r\n\r\n");
    if (end != NULL) {
        a.json = strcasestr(resp_buf, "\r\nContent-Type: application/json") != NULL;
        a.body = json_loadb(end + 4, got - (size_t)(end + 4 - resp_buf), 0, NULL);
        a.code = harness_str(a.body, "error.code");
        a.field = harness_str(a.body, "error.field");
    }
    return a;
}

static void header_battery(void) {
    char *before = snapshot();
    static char req[80 * 1024];
    const char *venue_body = "{\"name\":\"Framing Hall\",\"address\":\"1 Wire St\","
                             "\"city\":\"Leeds\",\"country\":\"GB\",\"timezone\":\"UTC\"}";
    size_t vb = strlen(venue_body);
    int n;
    struct ans a;

    /* oversized header blocks */
    char big[9001];
    memset(big, 'h', 9000);
    big[9000] = '\0';
    n = snprintf(req, sizeof req, "GET /api/venues HTTP/1.1\r\nHost: t\r\nX-Big: %s\r\n\r\n", big);
    a = raw_to(gw, req, (size_t)n, CALL_TIMEOUT_MS);
    expect(&a, 431, "headers_too_large", NULL, "a 9 KB header");
    n = snprintf(req, sizeof req, "GET /api/venues HTTP/1.1\r\nHost: t\r\n");
    for (int i = 0; i < 400; i++) {
        n += snprintf(req + n, sizeof req - (size_t)n, "X-Many-%03d: vvvvvvvvvv\r\n", i);
    }
    n += snprintf(req + n, sizeof req - (size_t)n, "\r\n");
    a = raw_to(gw, req, (size_t)n, CALL_TIMEOUT_MS);
    /* 400 header lines fill libmicrohttpd's pool (its per-header overhead) before our check
     * runs: its own HTML 431, the documented case of docs/http.md */
    CHECK(a.status == 431, "400 headers (9.6 KB): 431 (got %d%s)", a.status,
          a.json ? "" : "; libmicrohttpd's HTML body, documented");
    ans_drop(&a);
    /* beyond libmicrohttpd's pool it answers itself, in HTML (documented in docs/http.md) */
    char huge[30001];
    memset(huge, 'h', 30000);
    huge[30000] = '\0';
    n = snprintf(req, sizeof req, "GET /api/venues HTTP/1.1\r\nHost: t\r\nX-Huge: %s\r\n\r\n",
                 huge);
    a = raw_to(gw, req, (size_t)n, CALL_TIMEOUT_MS);
    CHECK(a.status == 431, "a 30 KB header: 431 (got %d; body from libmicrohttpd, documented)",
          a.status);
    ans_drop(&a);
    n = snprintf(req, sizeof req, "GET /api/venues/%s HTTP/1.1\r\nHost: t\r\n\r\n", huge);
    a = raw_to(gw, req, (size_t)n, CALL_TIMEOUT_MS);
    CHECK(a.status == 414 || a.status == 431,
          "a 30 KB request target: 414 or 431 (got %d; libmicrohttpd's body, documented)",
          a.status);
    ans_drop(&a);

    /* Content-Length */
    const struct {
        const char *what, *header;
        int status;
        const char *code;
    } lengths[] = {
        {"Content-Length: abc", "Content-Length: abc\r\n", 400, NULL},
        {"Content-Length: -1", "Content-Length: -1\r\n", 400, NULL},
        {"Content-Length: +N", "Content-Length: +%zu\r\n", 400, NULL},
        {"Content-Length: 99999999999999999999", "Content-Length: 99999999999999999999\r\n", 413,
         "payload_too_large"},
        {"two different Content-Lengths", "Content-Length: %zu\r\nContent-Length: 5\r\n", 400,
         NULL},
        {"Content-Length: N, 5", "Content-Length: %zu, 5\r\n", 400, NULL},
    };
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        char h[160];
        snprintf(h, sizeof h, lengths[i].header, vb);
        n = snprintf(req, sizeof req,
                     "POST /api/venues HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\n"
                     "Content-Type: application/json\r\n%s\r\n%s",
                     admin_tok, h, venue_body);
        a = raw_to(gw, req, (size_t)n, CALL_TIMEOUT_MS);
        if (strstr(lengths[i].what, "two different") != NULL) {
            expect_4xx(&a, lengths[i].status, 0, "POST /api/venues with %s", lengths[i].what);
        } else {
            /* libmicrohttpd answers these itself, before our code runs: the status is right, the
             * body is its HTML page (a known gap) */
            CHECK(a.status == lengths[i].status, "POST /api/venues with %s: %d (got %d)",
                  lengths[i].what, lengths[i].status, a.status);
            GAP(a.json, "POST /api/venues with %s: a JSON error body (libmicrohttpd's HTML)",
                lengths[i].what);
            ans_drop(&a);
        }
    }
    /* both Content-Length and chunked: served by the chunked framing or refused, and the
     * connection closed after the answer either way (RFC 9112 6.3) */
    {
        char chunked[512];
        const char *b422 = "{\"zz_unknown\":1}";
        int cl = snprintf(chunked, sizeof chunked, "%zx\r\n%s\r\n0\r\n\r\n", strlen(b422), b422);
        n = snprintf(req, sizeof req,
                     "POST /api/venues HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\n"
                     "Content-Type: application/json\r\nContent-Length: 3\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n%.*s",
                     admin_tok, cl, chunked);
        bool closed = false;
        a = answer_then_close(gw, req, (size_t)n, &closed);
        expect_4xx(&a, 0, 0, "POST /api/venues with Content-Length and chunked");
        CHECK(closed, "the connection is closed after a request with Content-Length and chunked");
    }
    /* an unknown transfer coding: refused at once (on the short-idle gateway, so a server that
     * waits instead shows within SHORT_IDLE_S) */
    n = snprintf(req, sizeof req,
                 "POST /api/venues HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\n"
                 "Content-Type: application/json\r\nTransfer-Encoding: gzip\r\n\r\n%s",
                 admin_tok, venue_body);
    a = raw_to(slow_gw, req, (size_t)n, (SHORT_IDLE_S + SLOW_SLACK_S) * 1000);
    CHECK(a.status == 400 || a.status == 501,
          "POST /api/venues with Transfer-Encoding: gzip: 400 or 501 (got %d%s)", a.status,
          a.status == 0 ? ": no answer, the server waited for a body it cannot frame" : "");
    ans_drop(&a);
    /* a garbage request line */
    a = raw_to(gw, "GARBAGE\r\n\r\n", 11, CALL_TIMEOUT_MS);
    GAP(a.status == 400, "a garbage request line: 400 (got %d%s; libmicrohttpd closes)", a.status,
        a.status == 0 ? ": the connection was closed without an answer" : "");
    ans_drop(&a);
    /* a URI over BX_URI_MAX_BYTES but within the pool: our JSON 414 */
    n = snprintf(req, sizeof req, "GET /api/venues?q=%.*s HTTP/1.1\r\nHost: t\r\n\r\n", 5000, huge);
    a = raw_to(gw, req, (size_t)n, CALL_TIMEOUT_MS);
    expect(&a, 414, "uri_too_long", NULL, "a 5 KB request target");
    unchanged(before, "headers and framing");
}

/* ------------------------------------------------------------------ slow clients */

static int connect_to(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    BX_ASSERT(fd >= 0);
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

/* True when the server has closed fd (EOF or reset); an answer counts as closing if it ends. */
static bool peer_closed(int fd) {
    char b[4096];
    for (;;) {
        ssize_t r = recv(fd, b, sizeof b, 0);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
            return true;
        }
        if (r < 0) {
            return false;
        }
    }
}

/* SLOW_CLIENTS clients send a request one byte a second (headers, or a body after complete
 * headers); the gateway must close each within its idle timeout plus SLOW_SLACK_S, and answer
 * a normal request every second meanwhile. An idle connection is the control. */
static void slow_clients(void) {
    char *before = snapshot();
    int fds[SLOW_CLIENTS + 1];
    int64_t closed_after[SLOW_CLIENTS + 1];
    char body_head[1024];
    snprintf(body_head, sizeof body_head,
             "POST /api/venues HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\n"
             "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n",
             admin_tok);
    const char *header_head = "GET /api/venues HTTP/1.1\r\nHost: t\r\nX-Slow: ";
    for (int i = 0; i <= SLOW_CLIENTS; i++) {
        fds[i] = connect_to(slow_gw);
        closed_after[i] = -1;
        CHECK(fds[i] >= 0, "slow client %d connects", i);
        if (fds[i] >= 0 && i < SLOW_CLIENTS) {
            /* half trickle header bytes from the first; half send full headers, then the body
             * one byte a second */
            const char *head = i % 2 ? body_head : "G";
            (void)!send(fds[i], head, strlen(head), MSG_NOSIGNAL);
        }
    }
    /* fds[SLOW_CLIENTS] sends nothing at all: the idle control */
    int64_t t0 = bx_now_mono_ms();
    int served = 0, asked = 0;
    size_t sent_header[SLOW_CLIENTS] = {0};
    for (int s = 0; s < SLOW_RUN_S; s++) {
        for (int i = 0; i <= SLOW_CLIENTS; i++) {
            if (fds[i] < 0 || closed_after[i] >= 0) {
                continue;
            }
            if (peer_closed(fds[i])) {
                closed_after[i] = bx_now_mono_ms() - t0;
                continue;
            }
            if (i < SLOW_CLIENTS) {
                char c;
                if (i % 2) {
                    c = '{';
                } else {
                    size_t k = 1 + sent_header[i]++;
                    c = k < strlen(header_head) ? header_head[k] : 'a';
                }
                (void)!send(fds[i], &c, 1, MSG_NOSIGNAL);
            }
        }
        struct harness_res r = harness_call(slow_gw, "GET", "/api/venues", NULL, NULL, NULL);
        asked++;
        served += r.status == 200;
        harness_res_drop(&r);
        int64_t next = t0 + (s + 1) * 1000;
        int64_t now = bx_now_mono_ms();
        if (next > now) {
            usleep((useconds_t)(next - now) * 1000);
        }
    }
    CHECK(served == asked, "the short-idle gateway served %d of %d normal requests meanwhile",
          served, asked);
    int64_t bound = (SHORT_IDLE_S + SLOW_SLACK_S) * 1000;
    for (int i = 0; i <= SLOW_CLIENTS; i++) {
        const char *what = i == SLOW_CLIENTS ? "an idle connection (control)"
                           : i % 2           ? "a body sent one byte a second"
                                             : "headers sent one byte a second";
        bool ok = closed_after[i] >= 0 && closed_after[i] <= bound;
        CHECK(ok, "client %d, %s: closed within the %d s idle timeout + %d s (%s)", i, what,
              SHORT_IDLE_S, SLOW_SLACK_S,
              closed_after[i] < 0 ? "still open when the test gave up" : "closed");
        if (fds[i] >= 0) {
            close(fds[i]);
        }
    }
    /* a body shorter than its Content-Length, then silence: closed at the idle timeout */
    int fd = connect_to(slow_gw);
    if (fd >= 0) {
        char req[1200];
        int n = snprintf(req, sizeof req, "%s{\"name\":", body_head);
        (void)!send(fd, req, (size_t)n, MSG_NOSIGNAL);
        int64_t start = bx_now_mono_ms();
        bool closed = false;
        while (!closed && bx_now_mono_ms() - start < bound) {
            usleep(100 * 1000);
            closed = peer_closed(fd);
        }
        CHECK(closed, "a body shorter than its Content-Length is dropped at the idle timeout");
        close(fd);
    }
    unchanged(before, "slow clients");
}

/* ------------------------------------------------------------------ main */

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s BUILD_DIR SOURCE_DIR\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    bool started =
        (harness_stack_start(&stack, "hostile", argv[1], argv[2]) && (gw = ports[FRONTEND]) != 0);
    CHECK(started, "the stack starts through scripts/run.sh (var %s, gateway :%u)", var_dir,
          (unsigned)gw);
    bool slow_ok = started && slow_gateway_start(argv[1], argv[2]);
    CHECK(slow_ok, "a second gateway with BOXOFFICE_HTTP_IDLE_TIMEOUT_S=%d starts", SHORT_IDLE_S);
    if (slow_ok && setup()) {
        for (size_t i = 0; i < N_BODY_ROUTES; i++) {
            body_battery(&body_routes[i]);
        }
        body_aftermath();
        id_battery();
        query_battery();
        header_battery();
        slow_clients();
        all_alive();
        for (int s = 0; s < N_SVC; s++) {
            char p[400];
            snprintf(p, sizeof p, "%s/log/%s.log", var_dir, svc_log[s]);
            int n5 = grep_log(p, "\"status\":5");
            CHECK(n5 == 0, "%s logged no 5xx answer (%d)", svc_log[s], n5);
            int nsan = grep_log(p, "Sanitizer") + grep_log(p, "runtime error:");
            CHECK(nsan == 0, "%s logged no sanitizer report (%d)", svc_log[s], nsan);
        }
        int n5 = grep_log(slow_log, "\"status\":5");
        CHECK(n5 == 0, "the short-idle gateway logged no 5xx answer (%d)", n5);
    }
    if (harness_failures > 0) {
        harness_stack_logs(&stack, 15);
    }
    if (slow_gw_pid > 0) {
        int st = harness_stop(slow_gw_pid, SIGTERM, STOP_TIMEOUT_MS);
        CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
              "the short-idle gateway stops cleanly");
    }
    bool stopped = harness_stack_stop(&stack);
    CHECK(stopped, "the launcher stops every service cleanly (exit 0)");
    if (harness_failures == 0) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", var_dir);
        if (system(cmd) != 0) {
            printf("could not remove %s\n", var_dir);
        }
    } else {
        printf("kept %s for inspection\n", var_dir);
    }
    fprintf(stderr, "known gaps not closed (docs/security-tests.md): %d\n", gaps);
    return harness_finish("integration.hostile");
}
