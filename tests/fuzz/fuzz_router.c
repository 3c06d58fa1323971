// SPDX-License-Identifier: Apache-2.0
// fuzz_router: bx_route_match and bx_method_parse (lib/router.c) over the route tables of every
// service (copied from services/*/main.c, 2026-11-25) plus tables at the parameter limit. Input:
// "<METHOD> <path>", as a request line would carry them. Every answer (route index, 404 versus
// 405, each {param} and {*} value) is compared with an independent reading of docs/http.md that
// splits pattern and path into segments.
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "boxoffice/base.h"
#include "boxoffice/http.h"
#include "fuzz_common.h"

#define PATH_MAX_BYTES 4096 /* BX_URI_MAX_BYTES: longer URIs never reach the router */
#define SEGMENTS_MAX   (PATH_MAX_BYTES + 1)

static enum bx_err nop(struct bx_req *req) {
    (void)req;
    return BX_OK;
}

static const struct bx_route catalog[] = {
    {BX_POST, "/api/venues", nop, BX_AUTH_ADMIN},
    {BX_GET, "/api/venues", nop, BX_AUTH_NONE},
    {BX_GET, "/api/venues/{id}", nop, BX_AUTH_NONE},
    {BX_PATCH, "/api/venues/{id}", nop, BX_AUTH_ADMIN},
    {BX_GET, "/api/events", nop, BX_AUTH_NONE},
    {BX_GET, "/api/events/changes", nop, BX_AUTH_NONE},
    {BX_POST, "/api/events", nop, BX_AUTH_ADMIN},
    {BX_GET, "/api/events/{id}", nop, BX_AUTH_OPTIONAL},
    {BX_PATCH, "/api/events/{id}", nop, BX_AUTH_ADMIN},
    {BX_POST, "/api/events/{id}/tiers", nop, BX_AUTH_ADMIN},
    {BX_PATCH, "/api/events/{id}/tiers/{tier_id}", nop, BX_AUTH_ADMIN},
    {BX_POST, "/api/events/{id}/publish", nop, BX_AUTH_ADMIN},
    {BX_POST, "/api/events/{id}/cancel", nop, BX_AUTH_ADMIN},
};

static const struct bx_route booking[] = {
    {BX_POST, "/api/holds", nop, BX_AUTH_USER},
    {BX_GET, "/api/holds/{id}", nop, BX_AUTH_USER},
    {BX_DELETE, "/api/holds/{id}", nop, BX_AUTH_USER},
    {BX_POST, "/api/orders", nop, BX_AUTH_USER},
    {BX_GET, "/api/orders", nop, BX_AUTH_USER},
    {BX_GET, "/api/orders/{id}", nop, BX_AUTH_USER},
    {BX_POST, "/api/orders/{id}/cancel", nop, BX_AUTH_USER},
    {BX_GET, "/api/events/{id}/availability", nop, BX_AUTH_NONE},
};

static const struct bx_route users[] = {
    {BX_POST, "/api/users", nop, BX_AUTH_NONE},
    {BX_GET, "/api/users/me", nop, BX_AUTH_USER},
    {BX_PATCH, "/api/users/me", nop, BX_AUTH_USER},
    {BX_POST, "/api/users/me/password", nop, BX_AUTH_USER},
    {BX_POST, "/api/users/{id}/role", nop, BX_AUTH_ADMIN},
    {BX_POST, "/api/sessions", nop, BX_AUTH_NONE},
    {BX_DELETE, "/api/sessions/current", nop, BX_AUTH_USER},
    {BX_GET, "/api/auth/jwks", nop, BX_AUTH_NONE},
    {BX_GET, "/api/auth/revocations", nop, BX_AUTH_NONE},
};

static const struct bx_route ticketgen_analytics[] = {
    {BX_GET, "/api/orders/{id}/tickets", nop, BX_AUTH_USER},
    {BX_GET, "/api/tickets/keys", nop, BX_AUTH_NONE},
    {BX_GET, "/api/tickets/{file}", nop, BX_AUTH_USER},
    {BX_POST, "/api/checkins", nop, BX_AUTH_STAFF},
    {BX_GET, "/api/analytics/summary", nop, BX_AUTH_ADMIN},
    {BX_GET, "/api/analytics/events/{id}", nop, BX_AUTH_ADMIN},
    {BX_GET, "/api/analytics/stream", nop, BX_AUTH_ADMIN},
};

/* The gateway's table, after the server's built-ins (which are matched first). */
static const struct bx_route frontend[] = {
    {BX_GET, "/healthz", nop, BX_AUTH_NONE}, {BX_GET, "/readyz", nop, BX_AUTH_NONE},
    {BX_GET, "/metrics", nop, BX_AUTH_NONE}, {BX_ANY, "/api/{*}", nop, BX_AUTH_NONE},
    {BX_GET, "/{*}", nop, BX_AUTH_NONE},
};

/* At and past BX_ROUTE_PARAMS_MAX, {*} after parameters, and {*} alone. */
static const struct bx_route limits[] = {
    {BX_PUT, "/p/{a}/{b}/{c}/{d}", nop, BX_AUTH_NONE},
    {BX_PUT, "/p/{a}/{b}/{c}/{d}/{e}", nop, BX_AUTH_NONE},
    {BX_OPTIONS, "/q/{a}/{b}/{c}/{*}", nop, BX_AUTH_NONE},
    {BX_OPTIONS, "/q/{a}/{b}/{c}/{d}/{*}", nop, BX_AUTH_NONE},
    {BX_HEAD, "/static/{*}", nop, BX_AUTH_NONE},
    {BX_DELETE, "/{x}/{*}", nop, BX_AUTH_NONE},
    {BX_ANY, "/{*}", nop, BX_AUTH_NONE},
};

static const struct {
    const struct bx_route *routes;
    size_t n;
} tables[] = {
    {catalog, BX_ARRAY_LEN(catalog)},   {booking, BX_ARRAY_LEN(booking)},
    {users, BX_ARRAY_LEN(users)},       {ticketgen_analytics, BX_ARRAY_LEN(ticketgen_analytics)},
    {frontend, BX_ARRAY_LEN(frontend)}, {limits, BX_ARRAY_LEN(limits)},
};

static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};

struct segs {
    size_t n;
    const char *at[SEGMENTS_MAX];
    size_t len[SEGMENTS_MAX];
};

/* "/a//b/" -> "a", "", "b", "": the segments after the leading '/'; false when too many. */
static bool split(const char *s, struct segs *out) {
    out->n = 0;
    const char *p = s + 1;
    for (;;) {
        if (out->n == SEGMENTS_MAX) {
            return false;
        }
        size_t n = strcspn(p, "/");
        out->at[out->n] = p;
        out->len[out->n++] = n;
        if (p[n] == '\0') {
            return true;
        }
        p += n + 1;
    }
}

static bool seg_is(const struct segs *s, size_t i, const char *lit) {
    return s->len[i] == strlen(lit) && memcmp(s->at[i], lit, s->len[i]) == 0;
}

static bool seg_is_param(const struct segs *s, size_t i) {
    return s->len[i] >= 2 && s->at[i][0] == '{' && s->at[i][s->len[i] - 1] == '}';
}

struct ref_params {
    size_t n;
    char name[BX_ROUTE_PARAMS_MAX][32];
    const char *value[BX_ROUTE_PARAMS_MAX];
    size_t value_len[BX_ROUTE_PARAMS_MAX];
};

/* docs/http.md: literals compare whole, {name} takes one non-empty segment, a final {*} takes
 * zero or more segments, at most BX_ROUTE_PARAMS_MAX parameters counting {*}. */
static bool ref_match(const char *pattern, const char *path, struct ref_params *out) {
    static struct segs ps, ss;
    if (path[0] != '/' || !split(pattern, &ps) || !split(path, &ss)) {
        return false;
    }
    bool rest = seg_is(&ps, ps.n - 1, "{*}");
    size_t fixed = rest ? ps.n - 1 : ps.n;
    if (rest ? ss.n < fixed : ss.n != fixed) {
        return false;
    }
    out->n = 0;
    for (size_t i = 0; i < fixed; i++) {
        if (seg_is_param(&ps, i)) {
            if (ss.len[i] == 0 || out->n == BX_ROUTE_PARAMS_MAX) {
                return false;
            }
            snprintf(out->name[out->n], sizeof out->name[0], "%.*s", (int)ps.len[i] - 2,
                     ps.at[i] + 1);
            out->value[out->n] = ss.at[i];
            out->value_len[out->n++] = ss.len[i];
        } else if (ps.len[i] != ss.len[i] || memcmp(ps.at[i], ss.at[i], ps.len[i]) != 0) {
            return false;
        }
    }
    if (rest) {
        if (out->n == BX_ROUTE_PARAMS_MAX) {
            return false;
        }
        /* the rest: segments fixed.. joined by '/', or "" when there are none */
        bx_strlcpy(out->name[out->n], "*", sizeof out->name[0]);
        out->value[out->n] = ss.n > fixed ? ss.at[fixed] : "";
        out->value_len[out->n++] = ss.n > fixed ? strlen(ss.at[fixed]) : 0;
    }
    return true;
}

static enum bx_method ref_method(const char *m) {
    for (size_t i = 0; i < BX_ARRAY_LEN(methods); i++) {
        if (strcmp(m, methods[i]) == 0) {
            return (enum bx_method)i;
        }
    }
    return BX_ANY;
}

static void check_table(const struct bx_route *routes, size_t n, enum bx_method method,
                        const char *path) {
    int want = -1;
    bool want_405 = false;
    struct ref_params rp;
    memset(&rp, 0, sizeof rp);
    for (size_t i = 0; i < n && want < 0; i++) {
        struct ref_params p;
        if (!ref_match(routes[i].pattern, path, &p)) {
            continue;
        }
        enum bx_method rm = routes[i].method;
        if (rm == BX_ANY || rm == method || (rm == BX_GET && method == BX_HEAD)) {
            want = (int)i;
            rp = p;
        } else {
            want_405 = true;
        }
    }
    struct bx_req req;
    memset(&req, 0, sizeof req);
    bx_arena_init(&req.arena, 0);
    bool matched_405 = false, again_405 = false;
    int got = bx_route_match(routes, n, method, path, &req, &matched_405);
    int again = bx_route_match(routes, n, method, path, NULL, &again_405);
    FUZZ_CHECK(got == want && again == want, "%s %s: route %d (without req %d), expected %d (%s)",
               bx_method_name(method), path, got, again, want,
               want >= 0 ? routes[want].pattern : "");
    FUZZ_CHECK(matched_405 == want_405 && again_405 == want_405, "%s %s: 405 %d, expected %d",
               bx_method_name(method), path, matched_405, want_405);
    if (got >= 0) {
        FUZZ_CHECK(req.n_params == rp.n, "%s %s: %zu params, expected %zu (%s)",
                   bx_method_name(method), path, req.n_params, rp.n, routes[got].pattern);
        for (size_t i = 0; i < rp.n; i++) {
            const char *v = bx_req_param(&req, rp.name[i]);
            FUZZ_CHECK(v != NULL && strlen(v) == rp.value_len[i] &&
                           memcmp(v, rp.value[i], rp.value_len[i]) == 0,
                       "%s %s: param %s is \"%s\", expected \"%.*s\" (%s)", bx_method_name(method),
                       path, rp.name[i], v ? v : "(null)", (int)rp.value_len[i], rp.value[i],
                       routes[got].pattern);
        }
    }
    bx_arena_reset(&req.arena);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > PATH_MAX_BYTES) {
        return 0;
    }
    char *line = fuzz_cstr(data, size);
    char *sp = strchr(line, ' ');
    const char *method_name = "GET", *path = line;
    if (sp != NULL) {
        *sp = '\0';
        method_name = line;
        path = sp + 1;
    }
    enum bx_method m = bx_method_parse(method_name);
    FUZZ_CHECK(m == ref_method(method_name), "method %s parsed as %s", method_name,
               bx_method_name(m));
    FUZZ_CHECK(m == BX_ANY || strcmp(bx_method_name(m), method_name) == 0, "method name %s",
               method_name);
    for (size_t t = 0; t < BX_ARRAY_LEN(tables); t++) {
        check_table(tables[t].routes, tables[t].n, m, path);
    }
    free(line);
    return 0;
}
