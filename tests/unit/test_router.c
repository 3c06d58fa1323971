// SPDX-License-Identifier: Apache-2.0
// Tests for lib/router.c: literal segments, {param} segments, a final {*}, 405 versus 404 through
// path_matched, HEAD answered by GET routes, strict trailing slashes and empty segments, and the
// BX_ROUTE_PARAMS_MAX limit.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "boxoffice/http.h"

static enum bx_err h_dummy(struct bx_req *req) {
    (void)req;
    return BX_OK;
}

static const struct bx_route routes[] = {
    {BX_GET, "/api/events", h_dummy, BX_AUTH_NONE},                              /* 0 */
    {BX_POST, "/api/events", h_dummy, BX_AUTH_ADMIN},                            /* 1 */
    {BX_GET, "/api/events/{id}", h_dummy, BX_AUTH_NONE},                         /* 2 */
    {BX_PATCH, "/api/events/{id}", h_dummy, BX_AUTH_ADMIN},                      /* 3 */
    {BX_GET, "/api/events/{id}/availability", h_dummy, BX_AUTH_NONE},            /* 4 */
    {BX_POST, "/api/events/{event_id}/tiers/{tier_id}", h_dummy, BX_AUTH_ADMIN}, /* 5 */
    {BX_DELETE, "/api/holds/{id}", h_dummy, BX_AUTH_USER},                       /* 6 */
    {BX_GET, "/static/{*}", h_dummy, BX_AUTH_NONE},                              /* 7 */
    {BX_ANY, "/any", h_dummy, BX_AUTH_NONE},                                     /* 8 */
    {BX_GET, "/healthz", h_dummy, BX_AUTH_NONE},                                 /* 9 */
    {BX_GET, "/", h_dummy, BX_AUTH_NONE},                                        /* 10 */
};
#define N_ROUTES (sizeof routes / sizeof routes[0])

struct fixture {
    struct bx_req req;
};

static int setup(void **state) {
    struct fixture *f = calloc(1, sizeof *f);
    if (f == NULL) {
        return -1;
    }
    bx_arena_init(&f->req.arena, 0);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fixture *f = *state;
    bx_arena_reset(&f->req.arena);
    free(f);
    return 0;
}

/* Matches and returns the route index; path_matched goes to *pm when pm != NULL. */
static int route(struct bx_req *req, enum bx_method m, const char *path, bool *pm) {
    bool matched = true; /* must be overwritten */
    req->n_params = 0;
    int i = bx_route_match(routes, N_ROUTES, m, path, req, &matched);
    if (pm != NULL) {
        *pm = matched;
    }
    return i;
}

static void test_literal(void **state) {
    struct bx_req *req = &((struct fixture *)*state)->req;
    bool pm;
    assert_int_equal(route(req, BX_GET, "/api/events", &pm), 0);
    assert_int_equal(req->n_params, 0);
    assert_int_equal(route(req, BX_POST, "/api/events", &pm), 1);
    assert_int_equal(route(req, BX_GET, "/healthz", &pm), 9);
    assert_int_equal(route(req, BX_GET, "/", &pm), 10);
    /* literal segments compare whole, case-sensitively */
    assert_int_equal(route(req, BX_GET, "/api/event", &pm), -1);
    assert_false(pm);
    assert_int_equal(route(req, BX_GET, "/api/eventsX", &pm), -1);
    assert_false(pm);
    assert_int_equal(route(req, BX_GET, "/API/events", &pm), -1);
    assert_false(pm);
    assert_int_equal(route(req, BX_GET, "/healthz/x", &pm), -1);
    assert_int_equal(route(req, BX_GET, "healthz", &pm), -1);
    assert_int_equal(route(req, BX_GET, "", &pm), -1);
}

static void test_params(void **state) {
    struct bx_req *req = &((struct fixture *)*state)->req;
    bool pm;
    assert_int_equal(route(req, BX_GET, "/api/events/ev-42", &pm), 2);
    assert_int_equal(req->n_params, 1);
    assert_string_equal(bx_req_param(req, "id"), "ev-42");
    assert_null(bx_req_param(req, "event_id"));

    assert_int_equal(route(req, BX_GET, "/api/events/e1/availability", &pm), 4);
    assert_string_equal(bx_req_param(req, "id"), "e1");

    assert_int_equal(route(req, BX_POST, "/api/events/e7/tiers/t9", &pm), 5);
    assert_int_equal(req->n_params, 2);
    assert_string_equal(bx_req_param(req, "event_id"), "e7");
    assert_string_equal(bx_req_param(req, "tier_id"), "t9");

    /* a {param} is exactly one segment */
    assert_int_equal(route(req, BX_GET, "/api/events/a/b", &pm), -1);
    assert_false(pm);
    assert_int_equal(route(req, BX_POST, "/api/events/e7/tiers", &pm), -1);
    assert_false(pm);
}

static void test_rest(void **state) {
    struct bx_req *req = &((struct fixture *)*state)->req;
    bool pm;
    assert_int_equal(route(req, BX_GET, "/static/app.js", &pm), 7);
    assert_string_equal(bx_req_param(req, "*"), "app.js");
    assert_int_equal(route(req, BX_GET, "/static/css/a/b.css", &pm), 7);
    assert_string_equal(bx_req_param(req, "*"), "css/a/b.css");
    /* zero segments */
    assert_int_equal(route(req, BX_GET, "/static", &pm), 7);
    assert_string_equal(bx_req_param(req, "*"), "");
    assert_int_equal(route(req, BX_GET, "/static/", &pm), 7);
    assert_string_equal(bx_req_param(req, "*"), "");
    /* the rest starts at a segment boundary */
    assert_int_equal(route(req, BX_GET, "/staticfoo", &pm), -1);
    assert_false(pm);
    assert_int_equal(route(req, BX_GET, "/stati", &pm), -1);
}

static void test_405_vs_404(void **state) {
    struct bx_req *req = &((struct fixture *)*state)->req;
    bool pm;
    /* the path exists with other methods: 405 */
    assert_int_equal(route(req, BX_DELETE, "/api/events", &pm), -1);
    assert_true(pm);
    assert_int_equal(route(req, BX_PUT, "/api/events/e1", &pm), -1);
    assert_true(pm);
    assert_int_equal(route(req, BX_GET, "/api/holds/h1", &pm), -1);
    assert_true(pm);
    assert_int_equal(route(req, BX_POST, "/static/x", &pm), -1);
    assert_true(pm);
    /* no route has the path: 404 */
    assert_int_equal(route(req, BX_GET, "/api/nothing", &pm), -1);
    assert_false(pm);
    assert_int_equal(route(req, BX_DELETE, "/api/holds", &pm), -1);
    assert_false(pm);
    /* a match resets path_matched even if an earlier route only matched the path */
    assert_int_equal(route(req, BX_PATCH, "/api/events/e1", &pm), 3);
    /* unknown methods parse to BX_ANY and only match BX_ANY routes */
    assert_int_equal(bx_method_parse("BREW"), BX_ANY);
    assert_int_equal(route(req, BX_ANY, "/api/events", &pm), -1);
    assert_true(pm);
    assert_int_equal(route(req, BX_ANY, "/any", &pm), 8);
    assert_int_equal(route(req, BX_DELETE, "/any", &pm), 8);
    assert_int_equal(route(req, BX_GET, "/any", &pm), 8);
}

static void test_head_matches_get(void **state) {
    struct bx_req *req = &((struct fixture *)*state)->req;
    bool pm;
    assert_int_equal(route(req, BX_HEAD, "/api/events", &pm), 0);
    assert_int_equal(route(req, BX_HEAD, "/api/events/e3", &pm), 2);
    assert_string_equal(bx_req_param(req, "id"), "e3");
    /* HEAD does not match non-GET routes */
    assert_int_equal(route(req, BX_HEAD, "/api/holds/h1", &pm), -1);
    assert_true(pm);
    /* and GET is not answered by a HEAD-only idea of the path */
    assert_int_equal(route(req, BX_HEAD, "/nope", &pm), -1);
    assert_false(pm);
}

static void test_trailing_slash_and_empty_segments(void **state) {
    struct bx_req *req = &((struct fixture *)*state)->req;
    bool pm;
    assert_int_equal(route(req, BX_GET, "/api/events/", &pm), -1);
    assert_false(pm);
    assert_int_equal(route(req, BX_GET, "/healthz/", &pm), -1);
    assert_int_equal(route(req, BX_GET, "/api/events/e1/", &pm), -1);
    assert_false(pm);
    /* an empty segment never fills a {param} and never equals a literal */
    assert_int_equal(route(req, BX_GET, "/api/events//availability", &pm), -1);
    assert_false(pm);
    assert_int_equal(route(req, BX_GET, "/api//events", &pm), -1);
    assert_int_equal(route(req, BX_GET, "//api/events", &pm), -1);
    assert_int_equal(route(req, BX_POST, "/api/events//tiers/t1", &pm), -1);
    assert_int_equal(route(req, BX_POST, "/api/events/e1/tiers/", &pm), -1);
    assert_false(pm);
    assert_int_equal(route(req, BX_GET, "//", &pm), -1);
}

static void test_match_without_req(void **state) {
    (void)state;
    bool pm = true;
    assert_int_equal(bx_route_match(routes, N_ROUTES, BX_GET, "/api/events/x", NULL, &pm), 2);
    assert_false(pm);
    assert_int_equal(bx_route_match(routes, N_ROUTES, BX_GET, "/zzz", NULL, &pm), -1);
    assert_false(pm);
    assert_int_equal(bx_route_match(routes, 0, BX_GET, "/", NULL, &pm), -1);
    assert_false(pm);
}

static void test_params_limit(void **state) {
    struct bx_req *req = &((struct fixture *)*state)->req;
    static const struct bx_route many[] = {
        {BX_GET, "/a/{p1}/{p2}/{p3}/{p4}", h_dummy, BX_AUTH_NONE},
        {BX_GET, "/b/{p1}/{p2}/{p3}/{p4}/{p5}", h_dummy, BX_AUTH_NONE},
        {BX_GET, "/c/{p1}/{p2}/{p3}/{p4}/{*}", h_dummy, BX_AUTH_NONE},
    };
    _Static_assert(BX_ROUTE_PARAMS_MAX == 4, "the patterns above assume 4 params at most");
    bool pm;
    req->n_params = 0;
    assert_int_equal(bx_route_match(many, 3, BX_GET, "/a/1/2/3/4", req, &pm), 0);
    assert_int_equal(req->n_params, BX_ROUTE_PARAMS_MAX);
    assert_string_equal(bx_req_param(req, "p1"), "1");
    assert_string_equal(bx_req_param(req, "p4"), "4");

    /* A pattern needing more params than a request can hold never matches, with or without a
     * req, rather than matching with params silently missing. */
    req->n_params = 0;
    assert_int_equal(bx_route_match(many, 3, BX_GET, "/b/1/2/3/4/5", req, &pm), -1);
    assert_int_equal(bx_route_match(many, 3, BX_GET, "/b/1/2/3/4/5", NULL, &pm), -1);
    assert_int_equal(bx_route_match(many, 3, BX_GET, "/c/1/2/3/4/rest", req, &pm), -1);
    assert_int_equal(bx_route_match(many, 3, BX_GET, "/c/1/2/3/4/rest", NULL, &pm), -1);
}

static void test_method_names(void **state) {
    (void)state;
    static const char *const names[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        enum bx_method m = bx_method_parse(names[i]);
        assert_int_not_equal(m, BX_ANY);
        assert_string_equal(bx_method_name(m), names[i]);
    }
    assert_int_equal(bx_method_parse("get"), BX_ANY); /* methods are case-sensitive */
    assert_int_equal(bx_method_parse(""), BX_ANY);
    assert_int_equal(bx_method_parse("*"), BX_ANY);
    assert_string_equal(bx_method_name((enum bx_method)99), "?");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_literal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_params, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_405_vs_404, setup, teardown),
        cmocka_unit_test_setup_teardown(test_head_matches_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trailing_slash_and_empty_segments, setup, teardown),
        cmocka_unit_test(test_match_without_req),
        cmocka_unit_test_setup_teardown(test_params_limit, setup, teardown),
        cmocka_unit_test(test_method_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
