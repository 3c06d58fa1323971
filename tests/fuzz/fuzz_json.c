// SPDX-License-Identifier: Apache-2.0
// fuzz_json: lib/json.c on hostile request bodies. Each input is parsed (bx_json_parse, both with
// and without want_object) and decoded (bx_json_decode_value) against every schema in schemas.c.
// Beyond memory errors it checks the promises of docs/json.md against an independent reading of
// the same rules: a body decodes exactly when the spec says it should, a decoded struct holds only
// in-range values, an error renders as a JSON error body, and a tiny arena only ever adds a 413.
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "boxoffice/base.h"
#include "boxoffice/json.h"
#include "fuzz_common.h"
#include "schemas.h"

#define TINY_ARENA_BYTES 512 /* an arena this small runs out on most bodies: 413, never worse */
#define TIME_MIN_S       (-86400)       /* 1970-01-01 with the largest offset */
#define TIME_MAX_S       253402387200LL /* 9999-12-31T23:59:59-23:59 */

static int64_t code_points(const char *s) {
    int64_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        n += (*p & 0xc0) != 0x80;
    }
    return n;
}

static size_t json_depth(json_t *v) {
    size_t max = 0;
    if (json_is_object(v)) {
        const char *key;
        json_t *m;
        json_object_foreach(v, key, m) {
            size_t d = json_depth(m);
            max = d > max ? d : max;
        }
        return max + 1;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *m;
        json_array_foreach(v, i, m) {
            size_t d = json_depth(m);
            max = d > max ? d : max;
        }
        return max + 1;
    }
    return 0;
}

/* A JSON string without NUL characters, as a C string; NULL otherwise. */
static const char *plain_string(json_t *v) {
    if (!json_is_string(v)) {
        return NULL;
    }
    const char *s = json_string_value(v);
    return strlen(s) == json_string_length(v) ? s : NULL;
}

static bool ref_object(json_t *obj, const struct bx_json_schema *schema);

/* docs/json.md's rule for one non-null value of field f. */
static bool ref_value(const struct bx_json_field *f, json_t *v) {
    const char *s = NULL;
    switch (f->kind) {
    case BX_JSON_STRING:
        if ((s = plain_string(v)) == NULL) {
            return false;
        }
        return code_points(s) >= f->min && (f->max == 0 || code_points(s) <= f->max);
    case BX_JSON_TIME: {
        int64_t t;
        return (s = plain_string(v)) != NULL && bx_time_parse_rfc3339(s, &t) == 0;
    }
    case BX_JSON_ENUM:
        if ((s = plain_string(v)) == NULL) {
            return false;
        }
        for (size_t i = 0; f->choices[i] != NULL; i++) {
            if (strcmp(s, f->choices[i]) == 0) {
                return true;
            }
        }
        return false;
    case BX_JSON_INT:
        return json_is_integer(v) && json_integer_value(v) >= f->min &&
               json_integer_value(v) <= f->max;
    case BX_JSON_BOOL:
        return json_is_boolean(v);
    case BX_JSON_ARRAY:
    case BX_JSON_STRINGS: {
        int64_t max = f->max > 0 ? f->max : BX_JSON_ARRAY_MAX;
        if (!json_is_array(v) || (int64_t)json_array_size(v) < f->min ||
            (int64_t)json_array_size(v) > max) {
            return false;
        }
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item) {
            if (f->kind == BX_JSON_ARRAY ? !json_is_object(item) || !ref_object(item, f->items)
                                         : (s = plain_string(item)) == NULL ||
                                               (f->item_max > 0 && code_points(s) > f->item_max)) {
                return false;
            }
        }
        return true;
    }
    }
    return false;
}

/* docs/json.md: known members only, null only where nullable, every required member present. */
static bool ref_object(json_t *obj, const struct bx_json_schema *schema) {
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        size_t i = 0;
        while (i < schema->n_fields && strcmp(schema->fields[i].name, key) != 0) {
            i++;
        }
        if (i == schema->n_fields) {
            return false;
        }
        const struct bx_json_field *f = &schema->fields[i];
        if (json_is_null(v) ? !f->nullable : !ref_value(f, v)) {
            return false;
        }
    }
    for (size_t i = 0; i < schema->n_fields; i++) {
        if (schema->fields[i].required && json_object_get(obj, schema->fields[i].name) == NULL) {
            return false;
        }
    }
    return true;
}

static bool all_zero(const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (p[i] != 0) {
            return false;
        }
    }
    return true;
}

static size_t field_size(const struct bx_json_field *f) {
    switch (f->kind) {
    case BX_JSON_STRING:
    case BX_JSON_ARRAY:
    case BX_JSON_STRINGS:
        return sizeof(void *);
    case BX_JSON_INT:
    case BX_JSON_TIME:
        return sizeof(int64_t);
    case BX_JSON_BOOL:
        return sizeof(bool);
    case BX_JSON_ENUM:
        return sizeof(int);
    }
    return 0;
}

static void check_struct(const struct bx_json_schema *schema, const unsigned char *out, json_t *obj,
                         const struct bx_json_result *res, const char *name);

/* The decoded value of a present, non-null field equals what the document holds. */
static void check_field(const struct bx_json_field *f, const unsigned char *dst, json_t *v,
                        const char *name) {
    switch (f->kind) {
    case BX_JSON_STRING: {
        char *s;
        memcpy(&s, dst, sizeof s);
        FUZZ_CHECK(s != NULL && strcmp(s, json_string_value(v)) == 0, "%s.%s: decoded string", name,
                   f->name);
        FUZZ_CHECK(code_points(s) >= f->min && (f->max == 0 || code_points(s) <= f->max),
                   "%s.%s: %lld code points outside %lld..%lld", name, f->name,
                   (long long)code_points(s), (long long)f->min, (long long)f->max);
        FUZZ_CHECK(bx_valid_utf8(s), "%s.%s: decoded string is not UTF-8", name, f->name);
        break;
    }
    case BX_JSON_INT:
    case BX_JSON_TIME: {
        int64_t n;
        memcpy(&n, dst, sizeof n);
        if (f->kind == BX_JSON_INT) {
            FUZZ_CHECK(n == json_integer_value(v) && n >= f->min && n <= f->max,
                       "%s.%s: decoded %lld", name, f->name, (long long)n);
        } else {
            int64_t t = 0;
            FUZZ_CHECK(bx_time_parse_rfc3339(json_string_value(v), &t) == 0 && t == n &&
                           n >= TIME_MIN_S && n <= TIME_MAX_S,
                       "%s.%s: decoded time %lld", name, f->name, (long long)n);
        }
        break;
    }
    case BX_JSON_BOOL: {
        unsigned char b;
        memcpy(&b, dst, 1);
        FUZZ_CHECK(b == (json_is_true(v) ? 1 : 0), "%s.%s: decoded bool %u", name, f->name, b);
        break;
    }
    case BX_JSON_ENUM: {
        int i, n = 0;
        memcpy(&i, dst, sizeof i);
        while (f->choices[n] != NULL) {
            n++;
        }
        FUZZ_CHECK(i >= 0 && i < n && strcmp(f->choices[i], json_string_value(v)) == 0,
                   "%s.%s: decoded enum %d", name, f->name, i);
        break;
    }
    case BX_JSON_ARRAY:
    case BX_JSON_STRINGS: {
        void *items;
        size_t count;
        memcpy(&items, dst, sizeof items);
        memcpy(&count, dst - f->offset + f->count_offset, sizeof count);
        FUZZ_CHECK(count == json_array_size(v) && (count == 0 || items != NULL),
                   "%s.%s: %zu items decoded", name, f->name, count);
        for (size_t i = 0; i < count; i++) {
            json_t *item = json_array_get(v, i);
            if (f->kind == BX_JSON_ARRAY) {
                const unsigned char *p = (const unsigned char *)items + i * f->items->struct_size;
                check_struct(f->items, p, item, NULL, name);
            } else {
                char *s = ((char **)items)[i];
                FUZZ_CHECK(s != NULL && strcmp(s, json_string_value(item)) == 0 &&
                               (f->item_max == 0 || code_points(s) <= f->item_max),
                           "%s.%s[%zu]: decoded string", name, f->name, i);
            }
        }
        break;
    }
    }
}

/* res is NULL for the items of an array (their bits are not reported). */
static void check_struct(const struct bx_json_schema *schema, const unsigned char *out, json_t *obj,
                         const struct bx_json_result *res, const char *name) {
    for (size_t i = 0; i < schema->n_fields; i++) {
        const struct bx_json_field *f = &schema->fields[i];
        json_t *v = json_object_get(obj, f->name);
        if (res != NULL) {
            FUZZ_CHECK(((res->present & BX_JSON_BIT(i)) != 0) == (v != NULL), "%s.%s: present bit",
                       name, f->name);
            FUZZ_CHECK(((res->nulls & BX_JSON_BIT(i)) != 0) == json_is_null(v), "%s.%s: null bit",
                       name, f->name);
        }
        FUZZ_CHECK(v != NULL || !f->required, "%s.%s: required but absent", name, f->name);
        if (v == NULL || json_is_null(v)) {
            FUZZ_CHECK(all_zero(out + f->offset, field_size(f)), "%s.%s: absent but set", name,
                       f->name);
        } else {
            check_field(f, out + f->offset, v, name);
        }
    }
}

/* A member named "" is reported with an empty field (and no "field" in the body). */
static bool has_empty_name(json_t *v) {
    const char *key;
    json_t *m;
    size_t i;
    if (json_is_object(v)) {
        json_object_foreach(v, key, m) {
            if (key[0] == '\0' || has_empty_name(m)) {
                return true;
            }
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, m) {
            if (has_empty_name(m)) {
                return true;
            }
        }
    }
    return false;
}

static void check_error(enum bx_err e, const struct bx_error *err, json_t *obj, const char *name) {
    FUZZ_CHECK(err->code == e, "%s: returned %s but err says %s", name, bx_err_name(e),
               bx_err_name(err->code));
    FUZZ_CHECK(e != BX_INVALID_FIELD || err->field[0] != '\0' || has_empty_name(obj),
               "%s: 422 without a field", name);
    fuzz_check_error_body(err);
}

static void decode_all(json_t *obj) {
    for (size_t s = 0; s < fuzz_n_schemas; s++) {
        const struct bx_json_schema *schema = fuzz_schemas[s].schema;
        const char *name = fuzz_schemas[s].name;
        unsigned char *out = malloc(schema->struct_size);
        struct bx_arena arena;
        bx_arena_init(&arena, 0);
        struct bx_json_result res;
        struct bx_error err;
        memset(&err, 0, sizeof err);
        enum bx_err e = bx_json_decode_value(obj, schema, out, &arena, &res, &err);
        bool valid = ref_object(obj, schema);
        FUZZ_CHECK((e == BX_OK) == valid, "%s: decode says %s (%s: %s), the spec says %s", name,
                   bx_err_name(e), err.field, err.message, valid ? "valid" : "invalid");
        if (e == BX_OK) {
            check_struct(schema, out, obj, &res, name);
        } else {
            FUZZ_CHECK(e == BX_INVALID_FIELD, "%s: decode gave %s", name, bx_err_name(e));
            check_error(e, &err, obj, name);
        }

        /* The same decode in an arena that runs out: the same answer, or 413. */
        _Alignas(max_align_t) unsigned char tiny_buf[TINY_ARENA_BYTES];
        struct bx_arena tiny;
        bx_arena_init_inline(&tiny, tiny_buf, sizeof tiny_buf, sizeof tiny_buf);
        struct bx_error terr;
        memset(&terr, 0, sizeof terr);
        enum bx_err te = bx_json_decode_value(obj, schema, out, &tiny, NULL, &terr);
        FUZZ_CHECK(te == e || te == BX_PAYLOAD_TOO_LARGE,
                   "%s: %s in a small arena but %s in a large one", name, bx_err_name(te),
                   bx_err_name(e));
        FUZZ_CHECK(te != e || strcmp(terr.field, err.field) == 0,
                   "%s: field %s in a small arena, %s in a large one", name, terr.field, err.field);
        if (te != BX_OK) {
            check_error(te, &terr, obj, name);
        }
        bx_arena_reset(&tiny);
        bx_arena_reset(&arena);
        free(out);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_init_sodium();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *body = (const char *)data;
    struct bx_error err;
    json_t *any = NULL, *obj = NULL;
    enum bx_err e_any = bx_json_parse(body, size, false, &any, &err);
    if (e_any != BX_OK) {
        check_error(e_any, &err, NULL, "parse");
    }
    enum bx_err e_obj = bx_json_parse(body, size, true, &obj, &err);
    if (e_obj != BX_OK) {
        check_error(e_obj, &err, NULL, "parse(object)");
    }
    FUZZ_CHECK(e_any == BX_OK || e_any == BX_INVALID_JSON, "parse gave %s", bx_err_name(e_any));
    FUZZ_CHECK(e_obj == BX_OK || e_obj == BX_INVALID_JSON, "parse gave %s", bx_err_name(e_obj));
    FUZZ_CHECK((e_obj == BX_OK) == (e_any == BX_OK && json_is_object(any)),
               "want_object disagrees: %s vs %s", bx_err_name(e_obj), bx_err_name(e_any));

    /* jansson alone with the same flags: bx_json_parse adds only the depth limit. */
    json_t *plain =
        size > 0 ? json_loadb(body, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL) : NULL;
    bool depth_ok = plain != NULL && json_depth(plain) <= BX_JSON_DEPTH_MAX;
    FUZZ_CHECK((e_any == BX_OK) == depth_ok, "parse says %s; jansson %s, depth %zu",
               bx_err_name(e_any), plain ? "accepts" : "refuses", plain ? json_depth(plain) : 0);
    json_decref(plain);

    if (json_is_object(any) || json_is_array(any)) {
        /* What we accept we can write back, and it reads the same (bx_json_dump writes objects
         * and arrays only: it serves bx_respond_json). */
        struct bx_arena arena;
        bx_arena_init(&arena, 0);
        size_t len = 0;
        char *dump = bx_json_dump(any, &arena, &len);
        FUZZ_CHECK(dump != NULL && strlen(dump) == len, "bx_json_dump failed");
        json_t *again = json_loadb(dump, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
        FUZZ_CHECK(again != NULL && json_equal(any, again), "dump does not read back: %s", dump);
        json_decref(again);
        bx_arena_reset(&arena);
    }
    if (obj != NULL) {
        decode_all(obj);
    }
    json_decref(any);
    json_decref(obj);
    return 0;
}
