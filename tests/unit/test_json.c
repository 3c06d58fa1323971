// SPDX-License-Identifier: Apache-2.0
// Tests for lib/json.c: good bodies decoded into structs with every field kind, hostile bodies
// rejected, and the split API.md promises: malformed JSON → BX_INVALID_JSON (400), a JSON object
// with a bad field → BX_INVALID_FIELD (422) naming the field.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boxoffice/json.h"

/* ---- The schema under test: an event with tiers, shaped like POST /api/events. ---- */

struct tier {
    char *name;
    int64_t price_cents;
    int currency;
    int64_t capacity;
};

struct event {
    char *title;
    char *description;
    int category;
    int64_t starts_at;
    bool published;
    int64_t max_tickets_per_user;
    char *image_url;
    struct tier *tiers;
    size_t n_tiers;
    char **tags;
    size_t n_tags;
};

enum {
    F_TITLE,
    F_DESCRIPTION,
    F_CATEGORY,
    F_STARTS_AT,
    F_PUBLISHED,
    F_MAX_PER_USER,
    F_IMAGE_URL,
    F_TIERS,
    F_TAGS,
    F_COUNT
};

static const char *const currencies[] = {"EUR", "USD", NULL};
static const char *const categories[] = {"music", "sport", "theatre", NULL};

static const struct bx_json_field tier_fields[] = {
    {.name = "name",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct tier, name),
     .required = true,
     .min = 1,
     .max = 20},
    {.name = "price_cents",
     .kind = BX_JSON_INT,
     .offset = offsetof(struct tier, price_cents),
     .required = true,
     .min = 0,
     .max = 1000000},
    {.name = "currency",
     .kind = BX_JSON_ENUM,
     .offset = offsetof(struct tier, currency),
     .required = true,
     .choices = currencies},
    {.name = "capacity",
     .kind = BX_JSON_INT,
     .offset = offsetof(struct tier, capacity),
     .required = true,
     .min = 1,
     .max = 100000},
};
static const struct bx_json_schema tier_schema = {
    .fields = tier_fields,
    .n_fields = sizeof tier_fields / sizeof tier_fields[0],
    .struct_size = sizeof(struct tier),
};

static const struct bx_json_field event_fields[F_COUNT] = {
    [F_TITLE] = {.name = "title",
                 .kind = BX_JSON_STRING,
                 .offset = offsetof(struct event, title),
                 .required = true,
                 .min = 1,
                 .max = 10},
    [F_DESCRIPTION] = {.name = "description",
                       .kind = BX_JSON_STRING,
                       .offset = offsetof(struct event, description),
                       .min = 0,
                       .max = 200},
    [F_CATEGORY] = {.name = "category",
                    .kind = BX_JSON_ENUM,
                    .offset = offsetof(struct event, category),
                    .required = true,
                    .choices = categories},
    [F_STARTS_AT] = {.name = "starts_at",
                     .kind = BX_JSON_TIME,
                     .offset = offsetof(struct event, starts_at),
                     .required = true},
    [F_PUBLISHED] = {.name = "published",
                     .kind = BX_JSON_BOOL,
                     .offset = offsetof(struct event, published)},
    [F_MAX_PER_USER] = {.name = "max_tickets_per_user",
                        .kind = BX_JSON_INT,
                        .offset = offsetof(struct event, max_tickets_per_user),
                        .nullable = true,
                        .min = 1,
                        .max = 100},
    [F_IMAGE_URL] = {.name = "image_url",
                     .kind = BX_JSON_STRING,
                     .offset = offsetof(struct event, image_url),
                     .nullable = true,
                     .max = 100},
    [F_TIERS] = {.name = "tiers",
                 .kind = BX_JSON_ARRAY,
                 .offset = offsetof(struct event, tiers),
                 .required = true,
                 .min = 1,
                 .max = 3,
                 .items = &tier_schema,
                 .count_offset = offsetof(struct event, n_tiers)},
    [F_TAGS] = {.name = "tags",
                .kind = BX_JSON_STRINGS,
                .offset = offsetof(struct event, tags),
                .min = 0,
                .max = 4,
                .count_offset = offsetof(struct event, n_tags),
                .item_max = 5},
};
static const struct bx_json_schema event_schema = {
    .fields = event_fields,
    .n_fields = F_COUNT,
    .struct_size = sizeof(struct event),
};

/* A whole int64 range, for range edges. */
struct num {
    int64_t n;
};
static const struct bx_json_field num_fields[] = {
    {.name = "n",
     .kind = BX_JSON_INT,
     .offset = offsetof(struct num, n),
     .required = true,
     .min = INT64_MIN,
     .max = INT64_MAX},
};
static const struct bx_json_schema num_schema = {
    .fields = num_fields, .n_fields = 1, .struct_size = sizeof(struct num)};

/* A valid event; tests splice one member in front of these to vary a single field. */
#define TIER_OK "{\"name\":\"Floor\",\"price_cents\":4500,\"currency\":\"EUR\",\"capacity\":100}"
#define REST_OK                                                                                    \
    "\"category\":\"music\",\"starts_at\":\"2026-12-01T19:30:00Z\",\"tiers\":[" TIER_OK "]"

struct fixture {
    struct bx_arena arena;
    struct bx_error err;
    struct bx_json_result res;
    struct event ev;
};

static int setup(void **state) {
    struct fixture *f = calloc(1, sizeof *f);
    if (f == NULL) {
        return -1;
    }
    bx_arena_init(&f->arena, 0);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fixture *f = *state;
    bx_arena_reset(&f->arena);
    free(f);
    return 0;
}

static enum bx_err decode_n(struct fixture *f, const char *body, size_t len) {
    memset(&f->err, 0, sizeof f->err);
    memset(&f->res, 0xff, sizeof f->res);
    enum bx_err e = bx_json_decode(body, len, &event_schema, &f->ev, &f->arena, &f->res, &f->err);
    assert_int_equal(f->err.code, e); /* the error struct always carries the returned code */
    return e;
}

static enum bx_err decode(struct fixture *f, const char *body) {
    return decode_n(f, body, strlen(body));
}

/* Decodes body and checks it fails with BX_INVALID_FIELD naming field. */
static void expect_field(struct fixture *f, const char *body, const char *field) {
    enum bx_err e = decode(f, body);
    if (e != BX_INVALID_FIELD || strcmp(f->err.field, field) != 0) {
        fail_msg("body %s: got %s field '%s' (%s), want invalid_field '%s'", body, bx_err_name(e),
                 f->err.field, f->err.message, field);
    }
    assert_int_equal(bx_err_status(e), 422);
    /* the message names the field too, for humans */
    assert_non_null(strstr(f->err.message, field));
}

/* Decodes body (len bytes) and checks it fails with BX_INVALID_JSON. */
static void expect_json_n(struct fixture *f, const char *body, size_t len) {
    enum bx_err e = decode_n(f, body, len);
    if (e != BX_INVALID_JSON) {
        fail_msg("body %.*s: got %s field '%s', want invalid_json", (int)len, body, bx_err_name(e),
                 f->err.field);
    }
    assert_int_equal(bx_err_status(e), 400);
    assert_string_equal(f->err.field, "");
}

static void expect_json(struct fixture *f, const char *body) {
    expect_json_n(f, body, strlen(body));
}

/* ---- Good bodies ---- */

static void test_decode_every_kind(void **state) {
    struct fixture *f = *state;
    const char *body =
        "{\"title\":\"Concert\",\"description\":\"Loud.\",\"category\":\"theatre\","
        "\"starts_at\":\"2026-12-01T19:30:00Z\",\"published\":true,"
        "\"max_tickets_per_user\":6,\"image_url\":\"https://x/y.png\","
        "\"tiers\":[" TIER_OK ",{\"name\":\"Balcony\",\"price_cents\":0,\"currency\":\"USD\","
        "\"capacity\":100000}],"
        "\"tags\":[\"rock\",\"live\",\"\"]}";
    assert_int_equal(decode(f, body), BX_OK);
    struct event *ev = &f->ev;
    assert_string_equal(ev->title, "Concert");
    assert_string_equal(ev->description, "Loud.");
    assert_int_equal(ev->category, 2);
    assert_int_equal(ev->starts_at, 1796153400);
    assert_true(ev->published);
    assert_int_equal(ev->max_tickets_per_user, 6);
    assert_string_equal(ev->image_url, "https://x/y.png");
    assert_int_equal(ev->n_tiers, 2);
    assert_string_equal(ev->tiers[0].name, "Floor");
    assert_int_equal(ev->tiers[0].price_cents, 4500);
    assert_int_equal(ev->tiers[0].currency, 0);
    assert_int_equal(ev->tiers[0].capacity, 100);
    assert_string_equal(ev->tiers[1].name, "Balcony");
    assert_int_equal(ev->tiers[1].price_cents, 0);
    assert_int_equal(ev->tiers[1].currency, 1);
    assert_int_equal(ev->tiers[1].capacity, 100000);
    assert_int_equal(ev->n_tags, 3);
    assert_string_equal(ev->tags[0], "rock");
    assert_string_equal(ev->tags[1], "live");
    assert_string_equal(ev->tags[2], "");
    assert_int_equal(f->res.present, BX_JSON_BIT(F_COUNT) - 1);
    assert_int_equal(f->res.nulls, 0);
}

static void test_presence_and_nulls(void **state) {
    struct fixture *f = *state;
    /* optional fields absent: zero, and their bits clear */
    f->ev.published = true;
    f->ev.description = "stale";
    assert_int_equal(decode(f, "{\"title\":\"A\"," REST_OK "}"), BX_OK);
    assert_int_equal(f->res.present, BX_JSON_BIT(F_TITLE) | BX_JSON_BIT(F_CATEGORY) |
                                         BX_JSON_BIT(F_STARTS_AT) | BX_JSON_BIT(F_TIERS));
    assert_int_equal(f->res.nulls, 0);
    assert_null(f->ev.description);
    assert_false(f->ev.published);
    assert_null(f->ev.tags);
    assert_int_equal(f->ev.n_tags, 0);
    assert_int_equal(f->ev.max_tickets_per_user, 0);

    /* nullable fields given null: present and null, value zero */
    assert_int_equal(
        decode(f, "{\"max_tickets_per_user\":null,\"image_url\":null,\"title\":\"A\"," REST_OK "}"),
        BX_OK);
    assert_true(f->res.present & BX_JSON_BIT(F_MAX_PER_USER));
    assert_true(f->res.present & BX_JSON_BIT(F_IMAGE_URL));
    assert_int_equal(f->res.nulls, BX_JSON_BIT(F_MAX_PER_USER) | BX_JSON_BIT(F_IMAGE_URL));
    assert_int_equal(f->ev.max_tickets_per_user, 0);
    assert_null(f->ev.image_url);

    /* nullable given a value: present, not null */
    assert_int_equal(decode(f, "{\"max_tickets_per_user\":1,\"title\":\"A\"," REST_OK "}"), BX_OK);
    assert_true(f->res.present & BX_JSON_BIT(F_MAX_PER_USER));
    assert_int_equal(f->res.nulls, 0);
    assert_int_equal(f->ev.max_tickets_per_user, 1);

    /* a NULL res is allowed */
    memset(&f->err, 0, sizeof f->err);
    const char *body = "{\"title\":\"A\"," REST_OK "}";
    assert_int_equal(
        bx_json_decode(body, strlen(body), &event_schema, &f->ev, &f->arena, NULL, &f->err), BX_OK);
}

static void test_string_length_in_code_points(void **state) {
    struct fixture *f = *state;
    /* title: 1 to 10 code points, whatever their byte length */
    assert_int_equal(decode(f, "{\"title\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                               "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"," REST_OK "}"),
                     BX_OK); /* ten é: 20 bytes */
    assert_int_equal(strlen(f->ev.title), 20);
    assert_int_equal(decode(f, "{\"title\":\"\xf0\x9f\x8e\xb8\xf0\x9f\x8e\xb8\xf0\x9f\x8e\xb8"
                               "\xf0\x9f\x8e\xb8\xf0\x9f\x8e\xb8\xf0\x9f\x8e\xb8\xf0\x9f\x8e\xb8"
                               "\xf0\x9f\x8e\xb8\xf0\x9f\x8e\xb8\xf0\x9f\x8e\xb8\"," REST_OK "}"),
                     BX_OK); /* ten 4-byte emoji: 40 bytes */
    /* an escaped surrogate pair is one code point */
    assert_int_equal(decode(f, "{\"title\":\"\\ud834\\udd1e123456789\"," REST_OK "}"), BX_OK);
    assert_string_equal(f->ev.title, "\xf0\x9d\x84\x9e"
                                     "123456789");
    assert_int_equal(decode(f, "{\"title\":\"0123456789\"," REST_OK "}"), BX_OK);
    assert_int_equal(decode(f, "{\"title\":\"\\u00e9\"," REST_OK "}"), BX_OK);
    assert_string_equal(f->ev.title, "\xc3\xa9");

    expect_field(f, "{\"title\":\"01234567890\"," REST_OK "}", "title");
    expect_field(f,
                 "{\"title\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                 "\xc3\xa9\xc3\xa9\xc3\xa9\"," REST_OK "}",
                 "title"); /* eleven é */
    expect_field(f, "{\"title\":\"\"," REST_OK "}", "title");
}

static void test_int_range(void **state) {
    struct fixture *f = *state;
    assert_int_equal(decode(f, "{\"max_tickets_per_user\":100,\"title\":\"A\"," REST_OK "}"),
                     BX_OK);
    assert_int_equal(f->ev.max_tickets_per_user, 100);
    expect_field(f, "{\"max_tickets_per_user\":0,\"title\":\"A\"," REST_OK "}",
                 "max_tickets_per_user");
    expect_field(f, "{\"max_tickets_per_user\":101,\"title\":\"A\"," REST_OK "}",
                 "max_tickets_per_user");
    expect_field(f, "{\"max_tickets_per_user\":-1,\"title\":\"A\"," REST_OK "}",
                 "max_tickets_per_user");
    expect_field(f, "{\"max_tickets_per_user\":5.0,\"title\":\"A\"," REST_OK "}",
                 "max_tickets_per_user");
    expect_field(f, "{\"max_tickets_per_user\":1e1,\"title\":\"A\"," REST_OK "}",
                 "max_tickets_per_user");
    expect_field(f, "{\"max_tickets_per_user\":\"5\",\"title\":\"A\"," REST_OK "}",
                 "max_tickets_per_user");

    /* the edges of int64 decode exactly */
    struct num n;
    const char *max = "{\"n\":9223372036854775807}";
    assert_int_equal(bx_json_decode(max, strlen(max), &num_schema, &n, &f->arena, NULL, &f->err),
                     BX_OK);
    assert_true(n.n == INT64_MAX);
    const char *min = "{\"n\":-9223372036854775808}";
    assert_int_equal(bx_json_decode(min, strlen(min), &num_schema, &n, &f->arena, NULL, &f->err),
                     BX_OK);
    assert_true(n.n == INT64_MIN);
    /* one past is out of range for JSON numbers here: malformed, 400 */
    const char *over = "{\"n\":9223372036854775808}";
    assert_int_equal(bx_json_decode(over, strlen(over), &num_schema, &n, &f->arena, NULL, &f->err),
                     BX_INVALID_JSON);
}

static void test_bool_enum_time(void **state) {
    struct fixture *f = *state;
    assert_int_equal(decode(f, "{\"published\":false,\"title\":\"A\"," REST_OK "}"), BX_OK);
    assert_false(f->ev.published);
    assert_true(f->res.present & BX_JSON_BIT(F_PUBLISHED));
    expect_field(f, "{\"published\":1,\"title\":\"A\"," REST_OK "}", "published");
    expect_field(f, "{\"published\":\"true\",\"title\":\"A\"," REST_OK "}", "published");
    expect_field(f, "{\"published\":null,\"title\":\"A\"," REST_OK "}", "published");

    assert_int_equal(decode(f, "{\"title\":\"A\",\"category\":\"music\",\"starts_at\":"
                               "\"2026-12-01T19:30:00Z\",\"tiers\":[" TIER_OK "]}"),
                     BX_OK);
    assert_int_equal(f->ev.category, 0);
    assert_int_equal(decode(f, "{\"title\":\"A\",\"category\":\"sport\",\"starts_at\":"
                               "\"2026-12-01T19:30:00Z\",\"tiers\":[" TIER_OK "]}"),
                     BX_OK);
    assert_int_equal(f->ev.category, 1);
    static const char *const bad_cat[] = {"\"Music\"", "\"musi\"", "\"music \"",
                                          "0",         "\"\"",     "[\"music\"]"};
    for (size_t i = 0; i < sizeof bad_cat / sizeof bad_cat[0]; i++) {
        char body[512];
        snprintf(body, sizeof body,
                 "{\"title\":\"A\",\"category\":%s,\"starts_at\":\"2026-12-01T19:30:00Z\","
                 "\"tiers\":[" TIER_OK "]}",
                 bad_cat[i]);
        expect_field(f, body, "category");
    }

    static const struct {
        const char *s;
        int64_t t;
    } good_time[] = {
        {"2026-12-01T19:30:00+01:00", 1796149800}, {"2026-12-01T19:30:00-05:30", 1796173200},
        {"2026-12-01T19:30:00.123Z", 1796153400},  {"2026-12-01t19:30:00z", 1796153400},
        {"2024-02-29T00:00:00Z", 1709164800},      {"1970-01-01T00:00:00Z", 0},
        {"2016-12-31T23:59:60Z", 1483228799},
    };
    for (size_t i = 0; i < sizeof good_time / sizeof good_time[0]; i++) {
        char body[512];
        snprintf(body, sizeof body,
                 "{\"title\":\"A\",\"category\":\"music\",\"starts_at\":\"%s\","
                 "\"tiers\":[" TIER_OK "]}",
                 good_time[i].s);
        assert_int_equal(decode(f, body), BX_OK);
        assert_int_equal(f->ev.starts_at, good_time[i].t);
    }
    static const char *const bad_time[] = {
        "2026-12-01T19:30:00",
        "2026-12-01 19:30:00Z",
        "2026-12-01",
        "2026-02-30T00:00:00Z",
        "2025-02-29T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z",
        "2026-12-00T00:00:00Z",
        "2026-12-01T24:00:00Z",
        "2026-12-01T19:60:00Z",
        "2026-12-01T19:30:61Z",
        "2026-12-01T19:30:00.Z",
        "2026-12-01T19:30:00+0100",
        "2026-12-01T19:30:00+24:00",
        "1969-12-31T23:59:59Z",
        "2026-12-01T19:30:00Zjunk",
        "2026-12-01T19:30:00.1234567890Z",
        "",
        "tomorrow",
        "2026-12-01T19:30:00+01:0",
        "+2026-12-01T19:30:00Z",
    };
    for (size_t i = 0; i < sizeof bad_time / sizeof bad_time[0]; i++) {
        char body[512];
        snprintf(body, sizeof body,
                 "{\"title\":\"A\",\"category\":\"music\",\"starts_at\":\"%s\","
                 "\"tiers\":[" TIER_OK "]}",
                 bad_time[i]);
        expect_field(f, body, "starts_at");
        int64_t t = 42;
        assert_int_equal(bx_time_parse_rfc3339(bad_time[i], &t), -1);
    }
    expect_field(f,
                 "{\"title\":\"A\",\"category\":\"music\",\"starts_at\":1796153400,"
                 "\"tiers\":[" TIER_OK "]}",
                 "starts_at");
}

static void test_nested_array_field_names(void **state) {
    struct fixture *f = *state;
    const char *head = "{\"title\":\"A\",\"category\":\"music\",\"starts_at\":\"2026-12-01T19:30:"
                       "00Z\",\"tiers\":[";
    static const struct {
        const char *tiers, *field;
    } cases[] = {
        {TIER_OK ",{\"name\":\"B\",\"price_cents\":-1,\"currency\":\"EUR\",\"capacity\":1}",
         "tiers[1].price_cents"},
        {TIER_OK ",{\"name\":\"B\",\"price_cents\":\"1\",\"currency\":\"EUR\",\"capacity\":1}",
         "tiers[1].price_cents"},
        {TIER_OK ",{\"name\":\"B\",\"price_cents\":1,\"currency\":\"GBP\",\"capacity\":1}",
         "tiers[1].currency"},
        {TIER_OK "," TIER_OK ",{\"name\":\"B\",\"price_cents\":1,\"currency\":\"EUR\"}",
         "tiers[2].capacity"},
        {"{\"name\":\"\",\"price_cents\":1,\"currency\":\"EUR\",\"capacity\":1}", "tiers[0].name"},
        {"{\"name\":\"B\",\"price_cents\":1,\"currency\":\"EUR\",\"capacity\":1,\"colour\":1}",
         "tiers[0].colour"},
        {"{\"name\":null,\"price_cents\":1,\"currency\":\"EUR\",\"capacity\":1}", "tiers[0].name"},
        {TIER_OK ",42", "tiers[1]"},
        {TIER_OK ",[]", "tiers[1]"},
        {TIER_OK ",null", "tiers[1]"},
        {"", "tiers"},
        {TIER_OK "," TIER_OK "," TIER_OK "," TIER_OK, "tiers"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[1024];
        snprintf(body, sizeof body, "%s%s]}", head, cases[i].tiers);
        expect_field(f, body, cases[i].field);
    }
    expect_field(f,
                 "{\"title\":\"A\",\"category\":\"music\",\"starts_at\":\"2026-12-01T19:30:00Z\","
                 "\"tiers\":{}}",
                 "tiers");
    expect_field(f,
                 "{\"title\":\"A\",\"category\":\"music\",\"starts_at\":\"2026-12-01T19:30:00Z\","
                 "\"tiers\":null}",
                 "tiers");
}

static void test_array_of_strings(void **state) {
    struct fixture *f = *state;
    assert_int_equal(decode(f, "{\"tags\":[],\"title\":\"A\"," REST_OK "}"), BX_OK);
    assert_int_equal(f->ev.n_tags, 0);
    assert_true(f->res.present & BX_JSON_BIT(F_TAGS));
    assert_int_equal(
        decode(f, "{\"tags\":[\"a\",\"bb\",\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\",\"d\"],"
                  "\"title\":\"A\"," REST_OK "}"),
        BX_OK);
    assert_int_equal(f->ev.n_tags, 4);
    assert_string_equal(f->ev.tags[1], "bb");
    assert_string_equal(f->ev.tags[3], "d");
    expect_field(f, "{\"tags\":[\"a\",\"toolong\"],\"title\":\"A\"," REST_OK "}", "tags[1]");
    expect_field(f, "{\"tags\":[1],\"title\":\"A\"," REST_OK "}", "tags[0]");
    expect_field(f, "{\"tags\":[\"a\",null],\"title\":\"A\"," REST_OK "}", "tags[1]");
    expect_field(f, "{\"tags\":[\"a\",{}],\"title\":\"A\"," REST_OK "}", "tags[1]");
    expect_field(f, "{\"tags\":[\"a\",\"b\",\"c\",\"d\",\"e\"],\"title\":\"A\"," REST_OK "}",
                 "tags");
    expect_field(f, "{\"tags\":\"a\",\"title\":\"A\"," REST_OK "}", "tags");
}

static void test_unknown_missing_wrong_type(void **state) {
    struct fixture *f = *state;
    expect_field(f, "{\"title\":\"A\",\"colour\":\"red\"," REST_OK "}", "colour");
    assert_non_null(strstr(f->err.message, "not a known field"));
    /* unknown fields are reported even when their value is null or an object */
    expect_field(f, "{\"title\":\"A\",\"x\":null," REST_OK "}", "x");
    expect_field(f, "{\"title\":\"A\",\"x\":{\"y\":1}," REST_OK "}", "x");
    /* names are case-sensitive */
    expect_field(f, "{\"Title\":\"A\"," REST_OK "}", "Title");
    /* a very long unknown name is clipped, not overflowed */
    char body[1024];
    char name[300];
    memset(name, 'q', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    snprintf(body, sizeof body, "{\"%s\":1,\"title\":\"A\"," REST_OK "}", name);
    assert_int_equal(decode(f, body), BX_INVALID_FIELD);
    assert_true(strlen(f->err.field) > 0);
    assert_true(strlen(f->err.field) < sizeof f->err.field);
    assert_int_equal(strncmp(f->err.field, name, strlen(f->err.field)), 0);

    /* missing required fields, top level and nested */
    expect_field(
        f,
        "{\"category\":\"music\",\"starts_at\":\"2026-12-01T19:30:00Z\",\"tiers\":[" TIER_OK "]}",
        "title");
    expect_field(f,
                 "{\"title\":\"A\",\"starts_at\":\"2026-12-01T19:30:00Z\",\"tiers\":[" TIER_OK "]}",
                 "category");
    expect_field(f,
                 "{\"title\":\"A\",\"category\":\"music\",\"starts_at\":\"2026-12-01T19:30:00Z\"}",
                 "tiers");
    expect_field(f, "{}", "title");
    assert_non_null(strstr(f->err.message, "required"));

    /* wrong types, and null for a non-nullable field */
    expect_field(f, "{\"title\":7," REST_OK "}", "title");
    expect_field(f, "{\"title\":true," REST_OK "}", "title");
    expect_field(f, "{\"title\":[\"A\"]," REST_OK "}", "title");
    expect_field(f, "{\"title\":{}," REST_OK "}", "title");
    expect_field(f, "{\"title\":null," REST_OK "}", "title");
    expect_field(f, "{\"title\":\"A\",\"description\":3," REST_OK "}", "description");
}

/* ---- Hostile bodies: all 400 invalid_json ---- */

static void test_invalid_utf8(void **state) {
    struct fixture *f = *state;
    static const char *const bodies[] = {
        "{\"title\":\"\xff\"," REST_OK "}",             /* never valid */
        "{\"title\":\"\xc3\"," REST_OK "}",             /* truncated sequence */
        "{\"title\":\"\xe2\x82\"," REST_OK "}",         /* truncated sequence */
        "{\"title\":\"\xc0\xaf\"," REST_OK "}",         /* overlong '/' */
        "{\"title\":\"\xe0\x80\xaf\"," REST_OK "}",     /* overlong '/' */
        "{\"title\":\"\xed\xa0\x80\"," REST_OK "}",     /* UTF-8 encoded surrogate */
        "{\"title\":\"\xf4\x90\x80\x80\"," REST_OK "}", /* past U+10FFFF */
        "{\"title\":\"\x80\"," REST_OK "}",             /* lone continuation byte */
        "{\"t\xff\":1}",                                /* in a member name */
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        expect_json(f, bodies[i]);
    }
}

static void test_lone_surrogates(void **state) {
    struct fixture *f = *state;
    expect_json(f, "{\"title\":\"\\ud800\"," REST_OK "}");
    expect_json(f, "{\"title\":\"\\udc00\"," REST_OK "}");
    expect_json(f, "{\"title\":\"\\ud800x\"," REST_OK "}");
    expect_json(f, "{\"title\":\"\\ud800\\u0041\"," REST_OK "}");
    expect_json(f, "{\"title\":\"\\udd1e\\ud834\"," REST_OK "}"); /* pair in the wrong order */
    expect_json(f, "{\"\\ud800\":1}");
}

static void test_duplicate_keys(void **state) {
    struct fixture *f = *state;
    expect_json(f, "{\"title\":\"A\",\"title\":\"B\"," REST_OK "}");
    expect_json(f, "{\"title\":\"A\"," REST_OK ",\"title\":\"A\"}");
    /* inside a nested object */
    expect_json(f, "{\"title\":\"A\",\"category\":\"music\",\"starts_at\":\"2026-12-01T19:30:00Z\","
                   "\"tiers\":[{\"name\":\"x\",\"name\":\"y\",\"price_cents\":1,"
                   "\"currency\":\"EUR\",\"capacity\":1}]}");
    /* the same name spelled with an escape is still the same name */
    expect_json(f, "{\"title\":\"A\",\"\\u0074itle\":\"B\"," REST_OK "}");
}

/* Builds depth levels of nested objects {"a":{"a":...{}...}} into buf. */
static size_t nested_objects(char *buf, size_t size, int depth) {
    size_t n = 0;
    for (int i = 0; i < depth - 1; i++) {
        n += (size_t)snprintf(buf + n, size - n, "{\"a\":");
    }
    n += (size_t)snprintf(buf + n, size - n, "{}");
    for (int i = 0; i < depth - 1; i++) {
        n += (size_t)snprintf(buf + n, size - n, "}");
    }
    assert_true(n < size);
    return n;
}

/* Builds {"a":[[...[]...]]} with depth levels in all (the object is one) into buf. */
static size_t nested_arrays(char *buf, size_t size, int depth) {
    size_t n = (size_t)snprintf(buf, size, "{\"a\":");
    for (int i = 0; i < depth - 1; i++) {
        buf[n++] = '[';
    }
    for (int i = 0; i < depth - 1; i++) {
        buf[n++] = ']';
    }
    buf[n++] = '}';
    assert_true(n < size);
    return n;
}

static void test_nesting_depth(void **state) {
    struct fixture *f = *state;
    char buf[512];
    json_t *v = NULL;
    struct bx_error err;

    size_t n = nested_objects(buf, sizeof buf, BX_JSON_DEPTH_MAX);
    assert_int_equal(bx_json_parse(buf, n, true, &v, &err), BX_OK);
    assert_non_null(v);
    json_decref(v);

    n = nested_objects(buf, sizeof buf, BX_JSON_DEPTH_MAX + 1);
    assert_int_equal(bx_json_parse(buf, n, true, &v, &err), BX_INVALID_JSON);
    assert_null(v);
    expect_json_n(f, buf, n);

    /* arrays count as levels too */
    n = nested_arrays(buf, sizeof buf, BX_JSON_DEPTH_MAX + 1);
    assert_int_equal(bx_json_parse(buf, n, true, &v, &err), BX_INVALID_JSON);
    assert_null(v);
    n = nested_arrays(buf, sizeof buf, BX_JSON_DEPTH_MAX);
    assert_int_equal(bx_json_parse(buf, n, true, &v, &err), BX_OK);
    json_decref(v);
    /* far deeper than jansson's own limit still answers 400, not a crash */
    char deep[8192];
    memset(deep, '[', sizeof deep);
    expect_json_n(f, deep, sizeof deep);

    /* brackets inside strings are not nesting */
    char s[256];
    size_t k = 0;
    k += (size_t)snprintf(s + k, sizeof s - k, "{\"title\":\"");
    for (int i = 0; i < 40; i++) {
        s[k++] = '{';
    }
    k += (size_t)snprintf(s + k, sizeof s - k, "\\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}");
    assert_int_equal(bx_json_parse(s, k, true, &v, &err), BX_OK);
    json_decref(v);
}

static void test_huge_numbers(void **state) {
    struct fixture *f = *state;
    expect_json(f, "{\"max_tickets_per_user\":1e400,\"title\":\"A\"," REST_OK "}");
    expect_json(f, "{\"max_tickets_per_user\":-1e400,\"title\":\"A\"," REST_OK "}");
    expect_json(f, "{\"max_tickets_per_user\":99999999999999999999,\"title\":\"A\"," REST_OK "}");
    expect_json(f, "{\"max_tickets_per_user\":-99999999999999999999,\"title\":\"A\"," REST_OK "}");
    /* also where the value would be an unknown field: the parse fails first */
    expect_json(f, "{\"zzz\":1e400}");
    /* not JSON numbers at all */
    expect_json(f, "{\"max_tickets_per_user\":NaN,\"title\":\"A\"," REST_OK "}");
    expect_json(f, "{\"max_tickets_per_user\":Infinity,\"title\":\"A\"," REST_OK "}");
    expect_json(f, "{\"max_tickets_per_user\":0x10,\"title\":\"A\"," REST_OK "}");
    expect_json(f, "{\"max_tickets_per_user\":012,\"title\":\"A\"," REST_OK "}");
    expect_json(f, "{\"max_tickets_per_user\":+1,\"title\":\"A\"," REST_OK "}");
}

static void test_top_level_and_empty(void **state) {
    struct fixture *f = *state;
    static const char *const bodies[] = {
        "[]",
        "[{\"title\":\"A\"}]",
        "\"x\"",
        "1",
        "null",
        "true",
        " ",
        "\n\t",
        "{",
        "}",
        "{\"title\":\"A\"",
        "{\"title\":\"A\",}",
        "{'title':'A'}",
        "{title:\"A\"}",
        "{} {}",
        "{}x",
        "{}]",
        "/* c */{}",
        "{\"title\":\"A\" // c\n}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        expect_json(f, bodies[i]);
    }
    expect_json_n(f, "", 0);
    expect_json_n(f, NULL, 0);
    expect_json_n(f, "{}", 0); /* the length is what counts */

    /* bx_json_parse without want_object takes any value */
    json_t *v = NULL;
    struct bx_error err;
    assert_int_equal(bx_json_parse("[1,2]", 5, false, &v, &err), BX_OK);
    assert_true(json_is_array(v));
    json_decref(v);
    assert_int_equal(bx_json_parse("7", 1, false, &v, &err), BX_OK);
    assert_true(json_is_integer(v));
    json_decref(v);
    assert_int_equal(bx_json_parse("[1,2]", 5, true, &v, &err), BX_INVALID_JSON);
    assert_null(v);

    /* decode_value on a non-object is malformed input too */
    v = json_array();
    assert_int_equal(bx_json_decode_value(v, &event_schema, &f->ev, &f->arena, NULL, &err),
                     BX_INVALID_JSON);
    json_decref(v);
}

static void test_nul(void **state) {
    struct fixture *f = *state;
    expect_json(f, "{\"title\":\"A\\u0000B\"," REST_OK "}");
    expect_json(f, "{\"title\\u0000\":\"A\"," REST_OK "}");
    /* a raw NUL byte inside the body */
    static const char raw[] = "{\"title\":\"A\0B\"," REST_OK "}";
    expect_json_n(f, raw, sizeof raw - 1);
    static const char after[] = "{\"title\":\"A\"," REST_OK "}\0";
    expect_json_n(f, after, sizeof after - 1);
    /* raw control characters are not allowed in strings */
    expect_json(f, "{\"title\":\"A\nB\"," REST_OK "}");

    /* a value built in C (not parsed) with an embedded NUL is still refused, naming the field */
    json_t *v = NULL;
    struct bx_error err;
    const char *body = "{" REST_OK "}";
    assert_int_equal(bx_json_parse(body, strlen(body), true, &v, &err), BX_OK);
    assert_int_equal(json_object_set_new(v, "title", json_stringn("A\0B", 3)), 0);
    assert_int_equal(bx_json_decode_value(v, &event_schema, &f->ev, &f->arena, NULL, &err),
                     BX_INVALID_FIELD);
    assert_string_equal(err.field, "title");
    json_decref(v);
}

/* ---- The 400 / 422 split in one table ---- */

static void test_status_split(void **state) {
    struct fixture *f = *state;
    static const struct {
        const char *body;
        enum bx_err want;
    } cases[] = {
        {"{\"title\":\"A\"," REST_OK "}", BX_OK},
        {"{\"title\":\"A\"," REST_OK ",}", BX_INVALID_JSON},
        {"{\"title\":\"A\",\"title\":\"A\"," REST_OK "}", BX_INVALID_JSON},
        {"{\"title\":\"\\ud800\"," REST_OK "}", BX_INVALID_JSON},
        {"{\"title\":\"\xfe\"," REST_OK "}", BX_INVALID_JSON},
        {"[{\"title\":\"A\"," REST_OK "}]", BX_INVALID_JSON},
        {"{\"title\":\"A\",\"max_tickets_per_user\":1e400," REST_OK "}", BX_INVALID_JSON},
        {"{\"title\":\"A\",\"bogus\":1," REST_OK "}", BX_INVALID_FIELD},
        {"{\"title\":\"\"," REST_OK "}", BX_INVALID_FIELD},
        {"{\"title\":1," REST_OK "}", BX_INVALID_FIELD},
        {"{\"title\":\"A\",\"max_tickets_per_user\":1000," REST_OK "}", BX_INVALID_FIELD},
        {"{" REST_OK "}", BX_INVALID_FIELD},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        enum bx_err e = decode(f, cases[i].body);
        if (e != cases[i].want) {
            fail_msg("case %zu %s: got %s, want %s", i, cases[i].body, bx_err_name(e),
                     bx_err_name(cases[i].want));
        }
        if (e == BX_INVALID_FIELD) {
            assert_true(strlen(f->err.field) > 0);
        }
    }
}

static void test_dump(void **state) {
    struct fixture *f = *state;
    json_t *v = json_pack("{s:s,s:I,s:b}", "title", "\xc3\xa9", "n", (json_int_t)-5, "ok", 1);
    assert_non_null(v);
    size_t len = 0;
    char *s = bx_json_dump(v, &f->arena, &len);
    json_decref(v);
    assert_non_null(s);
    assert_int_equal(len, strlen(s));
    /* compact and parseable again */
    assert_null(strchr(s, ' '));
    json_t *back = NULL;
    struct bx_error err;
    assert_int_equal(bx_json_parse(s, len, true, &back, &err), BX_OK);
    assert_string_equal(json_string_value(json_object_get(back, "title")), "\xc3\xa9");
    assert_int_equal(json_integer_value(json_object_get(back, "n")), -5);
    assert_true(json_is_true(json_object_get(back, "ok")));
    json_decref(back);
}

int main(void) {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_decode_every_kind),
        T(test_presence_and_nulls),
        T(test_string_length_in_code_points),
        T(test_int_range),
        T(test_bool_enum_time),
        T(test_nested_array_field_names),
        T(test_array_of_strings),
        T(test_unknown_missing_wrong_type),
        T(test_invalid_utf8),
        T(test_lone_surrogates),
        T(test_duplicate_keys),
        T(test_nesting_depth),
        T(test_huge_numbers),
        T(test_top_level_and_empty),
        T(test_nul),
        T(test_status_split),
        T(test_dump),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
