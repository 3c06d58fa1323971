// SPDX-License-Identifier: Apache-2.0
// Tests for lib/err.c: the one error table. Every code has a distinct non-empty wire name, a real
// HTTP status and a message; names round-trip; the mappings API.md promises to clients hold.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "boxoffice/err.h"

static void test_every_code_has_status_name_and_message(void **state) {
    (void)state;
    for (int i = 0; i < BX_ERR_COUNT; i++) {
        enum bx_err e = (enum bx_err)i;
        unsigned status = bx_err_status(e);
        assert_in_range(status, 200, 599);
        const char *name = bx_err_name(e);
        assert_non_null(name);
        assert_true(strlen(name) > 0);
        for (const char *p = name; *p; p++) {
            assert_true((*p >= 'a' && *p <= 'z') || *p == '_');
        }
        assert_non_null(bx_err_message(e));
        assert_true(strlen(bx_err_message(e)) > 0);
        /* only BX_OK is a success status */
        if (e == BX_OK) {
            assert_int_equal(status, 200);
        } else {
            assert_true(status >= 400);
        }
    }
}

static void test_wire_names_unique(void **state) {
    (void)state;
    for (int i = 0; i < BX_ERR_COUNT; i++) {
        for (int j = i + 1; j < BX_ERR_COUNT; j++) {
            assert_string_not_equal(bx_err_name((enum bx_err)i), bx_err_name((enum bx_err)j));
        }
    }
}

static void test_from_name_round_trip(void **state) {
    (void)state;
    for (int i = 0; i < BX_ERR_COUNT; i++) {
        enum bx_err e = (enum bx_err)i;
        assert_int_equal(bx_err_from_name(bx_err_name(e)), e);
    }
    assert_int_equal(bx_err_from_name("no_such_code"), BX_ERR_COUNT);
    assert_int_equal(bx_err_from_name(""), BX_ERR_COUNT);
    assert_int_equal(bx_err_from_name("SOLD_OUT"), BX_ERR_COUNT);
}

static void test_out_of_range_is_internal(void **state) {
    (void)state;
    assert_int_equal(bx_err_status(BX_ERR_COUNT), 500);
    assert_string_equal(bx_err_name(BX_ERR_COUNT), "internal");
    assert_string_equal(bx_err_message(BX_ERR_COUNT), bx_err_message(BX_INTERNAL));
    assert_int_equal(bx_err_status((enum bx_err) - 1), 500);
}

struct mapping {
    enum bx_err code;
    unsigned status;
    const char *wire;
};

static void test_api_md_mappings(void **state) {
    (void)state;
    static const struct mapping want[] = {
        {BX_OK, 200, "ok"},
        {BX_INVALID_JSON, 400, "invalid_json"},
        {BX_INVALID_FIELD, 422, "invalid_field"},
        {BX_UNAUTHORIZED, 401, "unauthorized"},
        {BX_FORBIDDEN, 403, "forbidden"},
        {BX_NOT_FOUND, 404, "not_found"},
        {BX_CONFLICT, 409, "conflict"},
        {BX_EMAIL_TAKEN, 409, "email_taken"},
        {BX_SOLD_OUT, 409, "sold_out"},
        {BX_NOT_ON_SALE, 409, "not_on_sale"},
        {BX_HOLD_EXPIRED, 409, "hold_expired"},
        {BX_LIMIT_EXCEEDED, 422, "limit_exceeded"},
        {BX_IDEMPOTENCY_MISMATCH, 422, "idempotency_mismatch"},
        {BX_PAYLOAD_TOO_LARGE, 413, "payload_too_large"},
        {BX_RATE_LIMITED, 429, "rate_limited"},
        {BX_HEADERS_TOO_LARGE, 431, "headers_too_large"},
        {BX_BAD_GATEWAY, 502, "bad_gateway"},
        {BX_UNAVAILABLE, 503, "unavailable"},
        {BX_UPSTREAM_TIMEOUT, 504, "upstream_timeout"},
        {BX_METHOD_NOT_ALLOWED, 405, "method_not_allowed"},
        {BX_INTERNAL, 500, "internal"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_int_equal(bx_err_status(want[i].code), want[i].status);
        assert_string_equal(bx_err_name(want[i].code), want[i].wire);
        assert_int_equal(bx_err_from_name(want[i].wire), want[i].code);
    }
}

static void test_error_set(void **state) {
    (void)state;
    struct bx_error e;
    memset(&e, 'x', sizeof e);
    assert_int_equal(bx_error_set(&e, BX_SOLD_OUT, NULL, NULL), BX_SOLD_OUT);
    assert_int_equal(e.code, BX_SOLD_OUT);
    assert_string_equal(e.field, "");
    assert_string_equal(e.message, "");

    assert_int_equal(
        bx_error_set(&e, BX_INVALID_FIELD, "quantity", "must be between %d and %d", 1, 10),
        BX_INVALID_FIELD);
    assert_string_equal(e.field, "quantity");
    assert_string_equal(e.message, "must be between 1 and 10");

    /* over-long field and message are truncated, never overflow */
    char big[400];
    memset(big, 'f', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    bx_error_set(&e, BX_INVALID_FIELD, big, "%s", big);
    assert_int_equal(strlen(e.field), sizeof e.field - 1);
    assert_int_equal(strlen(e.message), sizeof e.message - 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_code_has_status_name_and_message),
        cmocka_unit_test(test_wire_names_unique),
        cmocka_unit_test(test_from_name_round_trip),
        cmocka_unit_test(test_out_of_range_is_internal),
        cmocka_unit_test(test_api_md_mappings),
        cmocka_unit_test(test_error_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
