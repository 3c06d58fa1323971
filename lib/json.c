// SPDX-License-Identifier: Apache-2.0
// Strict JSON parse (jansson plus a nesting pre-scan) and schema-driven decode into structs.
// Invariant: a decode either fills every field it reports present and returns BX_OK, or returns an
// error naming the first offending field; handlers never see a half-validated struct.
#include "boxoffice/json.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "boxoffice/base.h"

/* Rejects nesting deeper than BX_JSON_DEPTH_MAX before jansson builds anything. */
static int depth_ok(const char *s, size_t len) {
    int depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_string) {
            if (c == '\\') {
                i++;
            } else if (c == '"') {
                in_string = false;
            }
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            if (++depth > BX_JSON_DEPTH_MAX) {
                return 0;
            }
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return 1;
}

enum bx_err bx_json_parse(const char *body, size_t len, bool want_object, json_t **out,
                          struct bx_error *err) {
    *out = NULL;
    if (body == NULL || len == 0) {
        return bx_error_set(err, BX_INVALID_JSON, NULL, "The request body is empty.");
    }
    if (!depth_ok(body, len)) {
        return bx_error_set(err, BX_INVALID_JSON, NULL, "JSON nesting is deeper than %d.",
                            BX_JSON_DEPTH_MAX);
    }
    json_error_t je;
    size_t flags = JSON_REJECT_DUPLICATES | (want_object ? 0 : JSON_DECODE_ANY);
    json_t *v = json_loadb(body, len, flags, &je);
    if (v == NULL) {
        return bx_error_set(err, BX_INVALID_JSON, NULL, "Invalid JSON at line %d column %d: %s",
                            je.line, je.column, je.text);
    }
    if (want_object && !json_is_object(v)) {
        json_decref(v);
        return bx_error_set(err, BX_INVALID_JSON, NULL, "The request body must be a JSON object.");
    }
    *out = v;
    return BX_OK;
}

static int64_t utf8_length(const char *s) {
    int64_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p & 0xc0) != 0x80) {
            n++;
        }
    }
    return n;
}

static int two(const char *s, int *out) {
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9') {
        return -1;
    }
    *out = (s[0] - '0') * 10 + (s[1] - '0');
    return 0;
}

int bx_time_parse_rfc3339(const char *s, int64_t *out) {
    int y1, y2, mo, d, h, mi, sec;
    size_t len = strlen(s);
    if (len < 20 || len > 35) {
        return -1;
    }
    if (two(s, &y1) || two(s + 2, &y2) || s[4] != '-' || two(s + 5, &mo) || s[7] != '-' ||
        two(s + 8, &d) || (s[10] != 'T' && s[10] != 't') || two(s + 11, &h) || s[13] != ':' ||
        two(s + 14, &mi) || s[16] != ':' || two(s + 17, &sec)) {
        return -1;
    }
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        const char *start = p;
        while (*p >= '0' && *p <= '9') {
            p++;
        }
        if (p == start || p - start > 9) {
            return -1;
        }
    }
    int offset_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (two(p + 1, &oh) || p[3] != ':' || two(p + 4, &om) || oh > 23 || om > 59) {
            return -1;
        }
        offset_s = (oh * 3600 + om * 60) * (*p == '+' ? 1 : -1);
        p += 6;
    } else {
        return -1;
    }
    if (*p != '\0') {
        return -1;
    }
    int year = y1 * 100 + y2;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (year < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 ||
        sec > 60) {
        return -1;
    }
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (mo == 2 && d == 29 && !leap) {
        return -1;
    }
    struct tm tm = {.tm_year = year - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = sec > 59 ? 59 : sec};
    time_t t = timegm(&tm);
    *out = (int64_t)t - offset_s;
    return 0;
}

static enum bx_err field_error(struct bx_error *err, const char *prefix, const char *name,
                               const char *what) {
    char field[sizeof err->field];
    snprintf(field, sizeof field, "%s%s", prefix, name);
    return bx_error_set(err, BX_INVALID_FIELD, field, "%s %s", field, what);
}

static enum bx_err decode_object(json_t *obj, const struct bx_json_schema *schema, void *out,
                                 struct bx_arena *arena, struct bx_json_result *res,
                                 struct bx_error *err, const char *prefix);

static enum bx_err decode_field(const struct bx_json_field *f, json_t *v, void *out,
                                struct bx_arena *arena, struct bx_error *err, const char *prefix) {
    unsigned char *dst = (unsigned char *)out + f->offset;
    char msg[96];
    switch (f->kind) {
    case BX_JSON_STRING:
    case BX_JSON_TIME:
    case BX_JSON_ENUM: {
        if (!json_is_string(v)) {
            return field_error(err, prefix, f->name, "must be a string.");
        }
        const char *s = json_string_value(v);
        if (strlen(s) != json_string_length(v)) {
            return field_error(err, prefix, f->name, "must not contain NUL characters.");
        }
        if (f->kind == BX_JSON_TIME) {
            int64_t t;
            if (bx_time_parse_rfc3339(s, &t) != 0) {
                return field_error(err, prefix, f->name,
                                   "must be an RFC 3339 time like 2026-12-01T19:30:00Z.");
            }
            memcpy(dst, &t, sizeof t);
            return BX_OK;
        }
        if (f->kind == BX_JSON_ENUM) {
            for (int i = 0; f->choices != NULL && f->choices[i] != NULL; i++) {
                if (strcmp(s, f->choices[i]) == 0) {
                    memcpy(dst, &i, sizeof i);
                    return BX_OK;
                }
            }
            return field_error(err, prefix, f->name, "is not one of the allowed values.");
        }
        int64_t n = utf8_length(s);
        if (n < f->min || (f->max > 0 && n > f->max)) {
            snprintf(msg, sizeof msg, "must be %lld to %lld characters long.", (long long)f->min,
                     (long long)f->max);
            return field_error(err, prefix, f->name, msg);
        }
        char *copy = bx_arena_strndup(arena, s, json_string_length(v));
        if (copy == NULL) {
            return bx_error_set(err, BX_PAYLOAD_TOO_LARGE, NULL, NULL);
        }
        memcpy(dst, &copy, sizeof copy);
        return BX_OK;
    }
    case BX_JSON_INT: {
        if (!json_is_integer(v)) {
            return field_error(err, prefix, f->name, "must be an integer.");
        }
        int64_t n = (int64_t)json_integer_value(v);
        if (n < f->min || n > f->max) {
            snprintf(msg, sizeof msg, "must be between %lld and %lld.", (long long)f->min,
                     (long long)f->max);
            return field_error(err, prefix, f->name, msg);
        }
        memcpy(dst, &n, sizeof n);
        return BX_OK;
    }
    case BX_JSON_BOOL: {
        if (!json_is_boolean(v)) {
            return field_error(err, prefix, f->name, "must be true or false.");
        }
        bool b = json_is_true(v);
        memcpy(dst, &b, sizeof b);
        return BX_OK;
    }
    case BX_JSON_ARRAY:
    case BX_JSON_STRINGS: {
        if (!json_is_array(v)) {
            return field_error(err, prefix, f->name, "must be an array.");
        }
        size_t count = json_array_size(v);
        int64_t max = f->max > 0 ? f->max : BX_JSON_ARRAY_MAX;
        if ((int64_t)count < f->min || (int64_t)count > max) {
            snprintf(msg, sizeof msg, "must have %lld to %lld items.", (long long)f->min,
                     (long long)max);
            return field_error(err, prefix, f->name, msg);
        }
        BX_ASSERT(f->kind != BX_JSON_ARRAY || f->items != NULL); /* a schema mistake */
        size_t item_size = f->kind == BX_JSON_ARRAY ? f->items->struct_size : sizeof(char *);
        void *items = count ? bx_arena_zalloc(arena, item_size * count) : NULL;
        if (count && items == NULL) {
            return bx_error_set(err, BX_PAYLOAD_TOO_LARGE, NULL, NULL);
        }
        for (size_t i = 0; i < count; i++) {
            json_t *item = json_array_get(v, i);
            char sub[sizeof err->field];
            snprintf(sub, sizeof sub, "%s%s[%zu]", prefix, f->name, i);
            if (f->kind == BX_JSON_ARRAY) {
                if (!json_is_object(item)) {
                    return bx_error_set(err, BX_INVALID_FIELD, sub, "%s must be an object.", sub);
                }
                char sub_prefix[sizeof err->field];
                snprintf(sub_prefix, sizeof sub_prefix, "%s.", sub);
                struct bx_json_result r;
                enum bx_err e = decode_object(item, f->items, (char *)items + i * item_size, arena,
                                              &r, err, sub_prefix);
                if (e != BX_OK) {
                    return e;
                }
            } else {
                struct bx_json_field sf = {.name = "",
                                           .kind = BX_JSON_STRING,
                                           .offset = i * item_size,
                                           .min = 0,
                                           .max = f->item_max};
                enum bx_err e = decode_field(&sf, item, items, arena, err, sub);
                if (e != BX_OK) {
                    return e;
                }
            }
        }
        memcpy(dst, &items, sizeof items);
        memcpy((unsigned char *)out + f->count_offset, &count, sizeof count);
        return BX_OK;
    }
    }
    return bx_error_set(err, BX_INTERNAL, NULL, "unknown field kind");
}

static enum bx_err decode_object(json_t *obj, const struct bx_json_schema *schema, void *out,
                                 struct bx_arena *arena, struct bx_json_result *res,
                                 struct bx_error *err, const char *prefix) {
    BX_ASSERT(schema->n_fields <= BX_JSON_FIELDS_MAX);
    memset(out, 0, schema->struct_size);
    res->present = 0;
    res->nulls = 0;
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        size_t i = 0;
        while (i < schema->n_fields && strcmp(schema->fields[i].name, key) != 0) {
            i++;
        }
        if (i == schema->n_fields) {
            char field[64];
            snprintf(field, sizeof field, "%.60s", key);
            return field_error(err, prefix, field, "is not a known field.");
        }
        const struct bx_json_field *f = &schema->fields[i];
        res->present |= BX_JSON_BIT(i);
        if (json_is_null(v)) {
            if (!f->nullable) {
                return field_error(err, prefix, f->name, "must not be null.");
            }
            res->nulls |= BX_JSON_BIT(i);
            continue;
        }
        enum bx_err e = decode_field(f, v, out, arena, err, prefix);
        if (e != BX_OK) {
            return e;
        }
    }
    for (size_t i = 0; i < schema->n_fields; i++) {
        if (schema->fields[i].required && !(res->present & BX_JSON_BIT(i))) {
            return field_error(err, prefix, schema->fields[i].name, "is required.");
        }
    }
    return BX_OK;
}

enum bx_err bx_json_decode_value(json_t *obj, const struct bx_json_schema *schema, void *out,
                                 struct bx_arena *arena, struct bx_json_result *res,
                                 struct bx_error *err) {
    struct bx_json_result local;
    if (res == NULL) {
        res = &local;
    }
    if (!json_is_object(obj)) {
        return bx_error_set(err, BX_INVALID_JSON, NULL, "The request body must be a JSON object.");
    }
    return decode_object(obj, schema, out, arena, res, err, "");
}

enum bx_err bx_json_decode(const char *body, size_t len, const struct bx_json_schema *schema,
                           void *out, struct bx_arena *arena, struct bx_json_result *res,
                           struct bx_error *err) {
    json_t *v = NULL;
    enum bx_err e = bx_json_parse(body, len, true, &v, err);
    if (e == BX_OK) {
        e = bx_json_decode_value(v, schema, out, arena, res, err);
    }
    json_decref(v);
    return e;
}

char *bx_json_dump(json_t *v, struct bx_arena *arena, size_t *len_out) {
    size_t n = json_dumpb(v, NULL, 0, JSON_COMPACT);
    if (n == 0) {
        return NULL;
    }
    char *buf = bx_arena_alloc(arena, n + 1);
    if (buf == NULL) {
        return NULL;
    }
    json_dumpb(v, buf, n, JSON_COMPACT);
    buf[n] = '\0';
    if (len_out != NULL) {
        *len_out = n;
    }
    return buf;
}
