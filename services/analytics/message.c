// SPDX-License-Identifier: Apache-2.0
// One booking-events message (docs/events.md, version 1) parsed and checked in one pass over its
// bytes, without allocation: the topic carries hundreds of thousands of them per second and a
// general JSON parser (a tree of allocated nodes per message) would cost more than the rest of the
// pipeline. Strict where it matters: the value is one JSON object of at most AN_MESSAGE_MAX_BYTES,
// valid JSON throughout (nesting capped, control characters refused, UTF-8 checked), each known
// member at most once with its type, range and format; unknown members are skipped (a compatible
// addition keeps version 1). Anything else is malformed: counted and skipped by the caller.
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "boxoffice/base.h"
#include "analytics.h"

#define KEY_MAX_BYTES   32 /* longer keys are none of ours: skipped */
#define FIELD_MAX_BYTES 64 /* every string we keep is an id, a type, a time or a currency */
_Static_assert(FIELD_MAX_BYTES + 1 == AN_ID_MAX, "an id field fills an an_msg id");

struct cursor {
    const char *p, *end;
    bool high; /* a byte >= 0x80 was seen: check UTF-8 at the end */
};

static void skip_ws(struct cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) {
        c->p++;
    }
}

static int hex_value(char h) {
    if (h >= '0' && h <= '9') {
        return h - '0';
    }
    if (h >= 'a' && h <= 'f') {
        return h - 'a' + 10;
    }
    if (h >= 'A' && h <= 'F') {
        return h - 'A' + 10;
    }
    return -1;
}

/* A plain string byte: printable ASCII but the quote and the backslash. */
static bool plain(unsigned char ch) {
    return ch >= 0x20 && ch < 0x80 && ch != '"' && ch != '\\';
}

/* A string at c->p (the opening quote). With out, its text goes there (ASCII only: an escape of a
 * code point past 0x7f, or a raw byte past it, stores a '\x01' that no field accepts); *overflow
 * is set when it does not fit in size - 1 bytes. Without out it is only checked. */
static bool parse_string(struct cursor *c, char *out, size_t size, bool *overflow) {
    BX_ASSERT(c->p < c->end && *c->p == '"');
    c->p++;
    if (overflow != NULL) {
        *overflow = false;
    }
    /* the common case: a run of plain bytes up to the closing quote, copied at once */
    const char *run = c->p;
    while (c->p < c->end && plain((unsigned char)*c->p)) {
        c->p++;
    }
    size_t n = (size_t)(c->p - run);
    if (out != NULL) {
        if (n < size) {
            memcpy(out, run, n);
        } else {
            memcpy(out, run, size - 1);
            n = size - 1;
            *overflow = true;
        }
    }
    while (c->p < c->end) {
        unsigned char ch = (unsigned char)*c->p++;
        if (ch == '"') {
            if (out != NULL) {
                out[n] = '\0';
            }
            return true;
        }
        if (ch < 0x20) {
            return false;
        }
        if (ch >= 0x80) {
            c->high = true;
            ch = 0x01;
        } else if (ch == '\\') {
            if (c->p >= c->end) {
                return false;
            }
            char e = *c->p++;
            switch (e) {
            case '"':
            case '\\':
            case '/':
                ch = (unsigned char)e;
                break;
            case 'b':
                ch = '\b';
                break;
            case 'f':
                ch = '\f';
                break;
            case 'n':
                ch = '\n';
                break;
            case 'r':
                ch = '\r';
                break;
            case 't':
                ch = '\t';
                break;
            case 'u': {
                if (c->end - c->p < 4) {
                    return false;
                }
                int v = 0;
                for (int i = 0; i < 4; i++) {
                    int h = hex_value(c->p[i]);
                    if (h < 0) {
                        return false;
                    }
                    v = v * 16 + h;
                }
                c->p += 4;
                ch = v < 0x80 && v > 0 ? (unsigned char)v : 0x01;
                break;
            }
            default:
                return false;
            }
        }
        if (out != NULL) {
            if (n + 1 < size) {
                out[n++] = (char)ch;
            } else {
                *overflow = true;
            }
        }
    }
    return false; /* unterminated */
}

/* A JSON number; *is_int and *v when it is a whole number that fits an int64. */
static bool parse_number(struct cursor *c, bool *is_int, int64_t *v) {
    const char *start = c->p;
    bool neg = false;
    *is_int = true;
    if (c->p < c->end && *c->p == '-') {
        neg = true;
        c->p++;
    }
    if (c->p >= c->end || *c->p < '0' || *c->p > '9') {
        return false;
    }
    uint64_t acc = 0;
    bool fits = true;
    if (*c->p == '0') {
        c->p++;
    } else {
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            unsigned d = (unsigned)(*c->p - '0');
            if (acc > (UINT64_MAX - d) / 10) {
                fits = false;
            } else {
                acc = acc * 10 + d;
            }
            c->p++;
        }
    }
    if (c->p < c->end && *c->p == '.') {
        *is_int = false;
        c->p++;
        if (c->p >= c->end || *c->p < '0' || *c->p > '9') {
            return false;
        }
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            c->p++;
        }
    }
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        *is_int = false;
        c->p++;
        if (c->p < c->end && (*c->p == '+' || *c->p == '-')) {
            c->p++;
        }
        if (c->p >= c->end || *c->p < '0' || *c->p > '9') {
            return false;
        }
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            c->p++;
        }
    }
    if (*is_int) {
        if (!fits || acc > (uint64_t)INT64_MAX) {
            *is_int = false;
        } else {
            *v = neg ? -(int64_t)acc : (int64_t)acc;
        }
    }
    return c->p > start;
}

static bool literal(struct cursor *c, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0) {
        return false;
    }
    c->p += n;
    return true;
}

/* Any JSON value, checked and skipped. */
static bool skip_value(struct cursor *c, int depth) {
    if (depth > AN_JSON_DEPTH_MAX) {
        return false;
    }
    skip_ws(c);
    if (c->p >= c->end) {
        return false;
    }
    char ch = *c->p;
    if (ch == '"') {
        return parse_string(c, NULL, 0, NULL);
    }
    if (ch == '{' || ch == '[') {
        char close = ch == '{' ? '}' : ']';
        c->p++;
        skip_ws(c);
        if (c->p < c->end && *c->p == close) {
            c->p++;
            return true;
        }
        for (;;) {
            skip_ws(c);
            if (ch == '{') {
                if (c->p >= c->end || *c->p != '"' || !parse_string(c, NULL, 0, NULL)) {
                    return false;
                }
                skip_ws(c);
                if (c->p >= c->end || *c->p != ':') {
                    return false;
                }
                c->p++;
            }
            if (!skip_value(c, depth + 1)) {
                return false;
            }
            skip_ws(c);
            if (c->p < c->end && *c->p == ',') {
                c->p++;
                continue;
            }
            if (c->p < c->end && *c->p == close) {
                c->p++;
                return true;
            }
            return false;
        }
    }
    if (ch == 't') {
        return literal(c, "true");
    }
    if (ch == 'f') {
        return literal(c, "false");
    }
    if (ch == 'n') {
        return literal(c, "null");
    }
    bool is_int;
    int64_t v;
    return parse_number(c, &is_int, &v);
}

static bool digits(const char *s, int n, int64_t *out) {
    int64_t v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* "2026-11-25T18:30:49.123Z" (UTC, 0-9 fraction digits) → Unix milliseconds. */
static bool parse_time_ms(const char *s, int64_t *out) {
    size_t n = strlen(s);
    int64_t y, mo, d, h, mi, sec;
    if (n < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
        s[n - 1] != 'Z' || !digits(s, 4, &y) || !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) ||
        !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &sec)) {
        return false;
    }
    static const int8_t month_days[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > month_days[mo - 1] ||
        (mo == 2 && d == 29 && !leap) || h > 23 || mi > 59 || sec > 59) {
        return false;
    }
    int64_t ms = 0;
    if (n > 20) {
        size_t frac = n - 21; /* the digits between '.' and 'Z' */
        if (s[19] != '.' || frac < 1 || frac > 9) {
            return false;
        }
        int64_t f;
        if (!digits(s + 20, (int)frac, &f)) {
            return false;
        }
        for (size_t i = frac; i < 3; i++) {
            f *= 10;
        }
        for (size_t i = 3; i < frac; i++) {
            f /= 10;
        }
        ms = f;
    }
    *out = ((bx_days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60000 + sec * 1000 + ms;
    return true;
}

enum field {
    F_ID,
    F_TYPE,
    F_VERSION,
    F_OCCURRED_AT,
    F_EVENT_ID,
    F_TIER_ID,
    F_HOLD_ID,
    F_ORDER_ID,
    F_USER_ID,
    F_QUANTITY,
    F_AMOUNT_CENTS,
    F_CURRENCY,
    F_COUNT,
    F_UNKNOWN = F_COUNT,
};

#define FIELD(name)                                                                                \
    { name, sizeof name - 1 }
static const struct {
    const char *name;
    size_t len;
} fields[F_COUNT] = {
    [F_ID] = FIELD("id"),
    [F_TYPE] = FIELD("type"),
    [F_VERSION] = FIELD("version"),
    [F_OCCURRED_AT] = FIELD("occurred_at"),
    [F_EVENT_ID] = FIELD("event_id"),
    [F_TIER_ID] = FIELD("tier_id"),
    [F_HOLD_ID] = FIELD("hold_id"),
    [F_ORDER_ID] = FIELD("order_id"),
    [F_USER_ID] = FIELD("user_id"),
    [F_QUANTITY] = FIELD("quantity"),
    [F_AMOUNT_CENTS] = FIELD("amount_cents"),
    [F_CURRENCY] = FIELD("currency"),
};

static const char *const type_names[] = {
    [AN_HOLD_CREATED] = "hold.created",       [AN_HOLD_RELEASED] = "hold.released",
    [AN_HOLD_EXPIRED] = "hold.expired",       [AN_ORDER_CONFIRMED] = "order.confirmed",
    [AN_ORDER_CANCELLED] = "order.cancelled",
};

static enum field field_of(const char *key, size_t n) {
    /* (length, first letter) tells the names apart: one comparison at most */
    for (int f = 0; f < F_COUNT; f++) {
        if (fields[f].len == n && fields[f].name[0] == key[0]) {
            return memcmp(key, fields[f].name, n) == 0 ? (enum field)f : F_UNKNOWN;
        }
    }
    return F_UNKNOWN;
}

/* A member name at c->p, as the field it names: compared where it lies when it has no escapes. */
static bool parse_key(struct cursor *c, enum field *f) {
    const char *s = c->p + 1, *q = s;
    while (q < c->end && plain((unsigned char)*q)) {
        q++;
    }
    if (q < c->end && *q == '"') {
        *f = field_of(s, (size_t)(q - s));
        c->p = q + 1;
        return true;
    }
    char key[KEY_MAX_BYTES + 1];
    bool overflow = false;
    if (!parse_string(c, key, sizeof key, &overflow)) {
        return false;
    }
    *f = overflow ? F_UNKNOWN : field_of(key, strlen(key));
    return true;
}

#define FAIL(reason)                                                                               \
    do {                                                                                           \
        *why = (reason);                                                                           \
        return false;                                                                              \
    } while (0)

/* A string member value into buf (FIELD_MAX_BYTES). */
static bool string_field(struct cursor *c, char *buf, const char **why) {
    if (c->p >= c->end || *c->p != '"') {
        FAIL("a string member is not a string");
    }
    bool overflow = false;
    if (!parse_string(c, buf, FIELD_MAX_BYTES + 1, &overflow)) {
        FAIL("not valid JSON (a string)");
    }
    if (overflow) {
        FAIL("a string member is too long");
    }
    return true;
}

/* An id member value into out (AN_ID_MAX): one pass that copies and checks when it has no
 * escapes, which is how every producer writes them. */
static bool id_field(struct cursor *c, char *out, const char **why) {
    if (c->p >= c->end || *c->p != '"') {
        FAIL("a string member is not a string");
    }
    const char *s = c->p + 1;
    size_t room = (size_t)(c->end - s), n = 0;
    while (n < room && n <= FIELD_MAX_BYTES && bx_id_char[(unsigned char)s[n]]) {
        n++;
    }
    if (n < room && s[n] == '"' && n >= 1 && n <= FIELD_MAX_BYTES) {
        memcpy(out, s, n);
        out[n] = '\0';
        c->p = s + n + 1;
        return true;
    }
    if (!string_field(c, out, why)) { /* escapes, or not an id after all */
        return false;
    }
    if (!bx_valid_id(out)) {
        FAIL("an id is not 1-64 of [0-9A-Za-z_-]");
    }
    return true;
}

static bool int_field(struct cursor *c, int64_t *v, const char **why) {
    bool is_int = false;
    if (!parse_number(c, &is_int, v)) {
        FAIL("an integer member is not a number");
    }
    if (!is_int) {
        FAIL("an integer member is not a whole number in range");
    }
    return true;
}

bool an_msg_parse(const char *value, size_t len, struct an_msg *out, const char **why) {
    if (value == NULL || len == 0) {
        FAIL("empty value");
    }
    if (len > AN_MESSAGE_MAX_BYTES) {
        FAIL("value too large");
    }
    struct cursor c = {.p = value, .end = value + len};
    uint32_t seen = 0; /* every member of out is required: all are set when this succeeds */
    char buf[FIELD_MAX_BYTES + 1];
    int64_t version = 0;
    bool order_id_null = true;
    skip_ws(&c);
    if (c.p >= c.end || *c.p != '{') {
        FAIL("not a JSON object");
    }
    c.p++;
    skip_ws(&c);
    bool empty = c.p < c.end && *c.p == '}';
    if (empty) {
        c.p++;
    }
    while (!empty) {
        skip_ws(&c);
        if (c.p >= c.end || *c.p != '"') {
            FAIL("not valid JSON (a member name)");
        }
        enum field f;
        if (!parse_key(&c, &f)) {
            FAIL("not valid JSON (a member name)");
        }
        skip_ws(&c);
        if (c.p >= c.end || *c.p != ':') {
            FAIL("not valid JSON (a colon)");
        }
        c.p++;
        skip_ws(&c);
        if (f != F_UNKNOWN) {
            if (seen & (1u << f)) {
                FAIL("a member appears twice");
            }
            seen |= 1u << f;
        }
        switch (f) {
        case F_ID:
        case F_EVENT_ID:
        case F_TIER_ID:
        case F_HOLD_ID:
        case F_USER_ID: {
            char *to = f == F_ID         ? out->id
                       : f == F_EVENT_ID ? out->event_id
                       : f == F_TIER_ID  ? out->tier_id
                                         : buf;
            if (!id_field(&c, to, why)) {
                return false;
            }
            break;
        }
        case F_ORDER_ID:
            if (literal(&c, "null")) {
                order_id_null = true;
                break;
            }
            if (!id_field(&c, buf, why)) {
                return false;
            }
            order_id_null = false;
            break;
        case F_TYPE: {
            if (!string_field(&c, buf, why)) {
                return false;
            }
            int t = -1;
            for (int i = 0; i < (int)BX_ARRAY_LEN(type_names); i++) {
                if (strcmp(buf, type_names[i]) == 0) {
                    t = i;
                }
            }
            if (t < 0) {
                FAIL("unknown type");
            }
            out->type = (enum an_type)t;
            break;
        }
        case F_OCCURRED_AT:
            if (!string_field(&c, buf, why)) {
                return false;
            }
            if (!parse_time_ms(buf, &out->occurred_ms)) {
                FAIL("occurred_at is not an RFC 3339 UTC time");
            }
            break;
        case F_CURRENCY:
            if (!string_field(&c, buf, why)) {
                return false;
            }
            if (strlen(buf) != 3 || buf[0] < 'A' || buf[0] > 'Z' || buf[1] < 'A' || buf[1] > 'Z' ||
                buf[2] < 'A' || buf[2] > 'Z') {
                FAIL("currency is not an ISO 4217 code");
            }
            memcpy(out->currency, buf, 4);
            break;
        case F_VERSION:
            if (!int_field(&c, &version, why)) {
                return false;
            }
            break;
        case F_QUANTITY:
            if (!int_field(&c, &out->quantity, why)) {
                return false;
            }
            if (out->quantity < 1 || out->quantity > AN_QUANTITY_MAX) {
                FAIL("quantity out of range");
            }
            break;
        case F_AMOUNT_CENTS:
            if (!int_field(&c, &out->amount_cents, why)) {
                return false;
            }
            if (out->amount_cents < 0 || out->amount_cents > AN_AMOUNT_MAX) {
                FAIL("amount_cents out of range");
            }
            break;
        case F_UNKNOWN:
            if (!skip_value(&c, 1)) {
                FAIL("not valid JSON (a value)");
            }
            break;
        }
        skip_ws(&c);
        if (c.p < c.end && *c.p == ',') {
            c.p++;
            continue;
        }
        if (c.p < c.end && *c.p == '}') {
            c.p++;
            break;
        }
        FAIL("not valid JSON (after a member)");
    }
    skip_ws(&c);
    if (c.p != c.end) {
        FAIL("not valid JSON (content after the object)");
    }
    if (c.high) {
        /* the text must be UTF-8; bx_valid_utf8 wants a string: the value has no NUL inside
         * (a raw control byte was refused above) */
        char copy[AN_MESSAGE_MAX_BYTES + 1];
        memcpy(copy, value, len);
        copy[len] = '\0';
        if (memchr(value, '\0', len) != NULL || !bx_valid_utf8(copy)) {
            FAIL("not valid UTF-8");
        }
    }
    if (seen != (1u << F_COUNT) - 1) {
        FAIL("a required member is missing");
    }
    if (version != 1) {
        FAIL("unsupported version");
    }
    if ((out->type == AN_ORDER_CONFIRMED || out->type == AN_ORDER_CANCELLED) && order_id_null) {
        FAIL("an order message without order_id");
    }
    return true;
}
