// SPDX-License-Identifier: Apache-2.0
// Strict JSON parsing and validating decode into C structs. A body is parsed once (jansson, with
// duplicate keys rejected, nesting capped, UTF-8 checked) and then mapped field by field through a
// static schema: type, length, range and enum checks, unknown fields rejected. Handlers never see
// raw JSON. Malformed input → BX_INVALID_JSON (400); a bad field → BX_INVALID_FIELD (422) naming
// it.
#ifndef BOXOFFICE_JSON_H
#define BOXOFFICE_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boxoffice/arena.h"
#include "boxoffice/err.h"

#define BX_JSON_DEPTH_MAX  32
#define BX_JSON_FIELDS_MAX 64
#define BX_JSON_ARRAY_MAX  1000

enum bx_json_kind {
    BX_JSON_STRING,  /* char * in the arena; min/max: length in code points */
    BX_JSON_INT,     /* int64_t; min/max: value range */
    BX_JSON_BOOL,    /* bool */
    BX_JSON_ENUM,    /* int: index into choices (NULL-terminated) */
    BX_JSON_TIME,    /* int64_t Unix seconds from an RFC 3339 string */
    BX_JSON_ARRAY,   /* array of objects decoded with items: pointer at offset, size_t at
                        count_offset; min/max: item count */
    BX_JSON_STRINGS, /* array of strings: char ** at offset, size_t at count_offset; min/max:
                        item count; item_max: max length of each */
};

struct bx_json_field {
    const char *name;
    enum bx_json_kind kind;
    size_t offset;
    bool required;
    bool nullable; /* null accepted: the field stays zero and its bit is set in nulls */
    int64_t min, max;
    const char *const *choices;
    const struct bx_json_schema *items;
    size_t count_offset;
    int64_t item_max;
};

struct bx_json_schema {
    const struct bx_json_field *fields;
    size_t n_fields; /* at most BX_JSON_FIELDS_MAX */
    size_t struct_size;
};

struct bx_json_result {
    uint64_t present; /* bit i: fields[i] appeared (null or not) */
    uint64_t nulls;   /* bit i: fields[i] was null */
};

/* Parses body strictly into a JSON value (owned by the caller, json_decref). Top level must be an
 * object when want_object. */
enum bx_err bx_json_parse(const char *body, size_t len, bool want_object, json_t **out,
                          struct bx_error *err);

/* Decodes an object into out (struct_size bytes, zeroed first) with strings in the arena. */
enum bx_err bx_json_decode_value(json_t *obj, const struct bx_json_schema *schema, void *out,
                                 struct bx_arena *arena, struct bx_json_result *res,
                                 struct bx_error *err);

/* bx_json_parse then bx_json_decode_value. */
enum bx_err bx_json_decode(const char *body, size_t len, const struct bx_json_schema *schema,
                           void *out, struct bx_arena *arena, struct bx_json_result *res,
                           struct bx_error *err);

/* Checks RFC 3339 ("2026-12-01T19:30:00Z", offsets and fractions accepted) → Unix seconds. */
int bx_time_parse_rfc3339(const char *s, int64_t *out);

/* Serialises v compactly into the arena (NULL on failure). */
char *bx_json_dump(json_t *v, struct bx_arena *arena, size_t *len_out);

#define BX_JSON_BIT(i) ((uint64_t)1 << (i))

#endif
