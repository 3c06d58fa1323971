// SPDX-License-Identifier: Apache-2.0
// fuzz_validators: the small checks that stand between hostile ids, query parameters and fields
// and the stores. Each input, as a C string, goes through all of them:
//   lib/base.c   bx_valid_id, bx_valid_utf8, bx_parse_i64      against independent references
//   lib/json.c   bx_time_parse_rfc3339                          against an independent reference
//   lib/err.c, lib/auth.c   bx_err_from_name, bx_role_parse     round trips
//   copies (static or bound to a service's globals, so not linkable; taken 2026-11-25):
//     services/catalog/util.c  catalog_valid_timezone, catalog_valid_currency
//     services/users/accounts.c  users_email_normalize, valid_phone
// bx_idempotency_key needs a live request: fuzz_http_request calls the real one.
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "boxoffice/auth.h"
#include "boxoffice/base.h"
#include "boxoffice/err.h"
#include "boxoffice/json.h"
#include "fuzz_common.h"

#define INPUT_MAX_BYTES 4096

/* ---- copies: services/catalog/util.c */

/* catalog's zone check is bx_tz_name_valid (lib/base.c) plus "the zone file exists" */
static bool catalog_valid_timezone(const char *tz) {
    if (!bx_tz_name_valid(tz)) {
        return false;
    }
    if (strcmp(tz, "UTC") == 0) {
        return true;
    }
    char path[BX_TZ_NAME_MAX + 32];
    snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", tz);
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool catalog_valid_currency(const char *c) {
    return strlen(c) == 3 && c[0] >= 'A' && c[0] <= 'Z' && c[1] >= 'A' && c[1] <= 'Z' &&
           c[2] >= 'A' && c[2] <= 'Z';
}

/* ---- copies: services/users/accounts.c, services/users/users.h */

#define USERS_EMAIL_MAX 254

static int users_email_normalize(const char *in, char out[USERS_EMAIL_MAX + 1]) {
    while (*in == ' ' || *in == '\t') {
        in++;
    }
    size_t n = strlen(in);
    while (n > 0 && (in[n - 1] == ' ' || in[n - 1] == '\t')) {
        n--;
    }
    if (n < 3 || n > USERS_EMAIL_MAX) {
        return -1;
    }
    size_t at = 0, ats = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c <= ' ' || c == 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == ',') {
            return -1;
        }
        if (c == '@') {
            at = i;
            ats++;
        }
        out[i] = (char)tolower(c);
    }
    out[n] = '\0';
    const char *domain = out + at + 1;
    if (ats != 1 || at == 0 || at == n - 1 || strchr(domain, '.') == NULL || domain[0] == '.' ||
        out[n - 1] == '.' || strstr(domain, "..") != NULL) {
        return -1;
    }
    return 0;
}

static bool valid_phone(const char *s) {
    int digits = 0;
    for (const char *p = s; *p; p++) {
        if (isdigit((unsigned char)*p)) {
            digits++;
        } else if (!(*p == '+' && p == s) && *p != ' ' && *p != '-' && *p != '(' && *p != ')') {
            return false;
        }
    }
    return digits >= 3 && digits <= 15;
}

/* ---- independent references */

static bool ref_valid_id(const char *s) {
    size_t n = strlen(s);
    return n >= 1 && n <= 64 &&
           strspn(s, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-") == n;
}

/* Well-formed UTF-8 by the Unicode standard's table 3-7, byte ranges per lead byte. */
static bool ref_utf8(const unsigned char *s) {
    while (*s) {
        unsigned char c = *s;
        size_t n;
        unsigned char lo = 0x80, hi = 0xbf;
        if (c < 0x80) {
            n = 1;
        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 2;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 3;
            lo = c == 0xe0 ? 0xa0 : 0x80;
            hi = c == 0xed ? 0x9f : 0xbf;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 4;
            lo = c == 0xf0 ? 0x90 : 0x80;
            hi = c == 0xf4 ? 0x8f : 0xbf;
        } else {
            return false;
        }
        for (size_t i = 1; i < n; i++) {
            unsigned char b = s[i];
            if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xbf)) {
                return false;
            }
        }
        s += n;
    }
    return true;
}

static bool ref_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out) {
    bool neg = false;
    const char *p = s;
    if (*p == '+' || *p == '-') {
        neg = *p == '-';
        p++;
    }
    if (*p == '\0') {
        return false;
    }
    uint64_t mag = 0;
    const uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; *p; p++) {
        if (*p < '0' || *p > '9') {
            return false;
        }
        uint64_t d = (uint64_t)(*p - '0');
        if (mag > (limit - d) / 10) {
            return false;
        }
        mag = mag * 10 + d;
    }
    int64_t v = neg ? (mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag) : (int64_t)mag;
    if (v < min || v > max) {
        return false;
    }
    *out = v;
    return true;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* n digits at s into *out. */
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

/* docs/json.md: RFC 3339 with 'T'/'t', 'Z'/'z' or +hh:mm/-hh:mm, up to 9 fraction digits,
 * year >= 1970, :60 counted as :59. */
static bool ref_rfc3339(const char *s, int64_t *out) {
    int64_t y, mo, d, h, mi, sec, oh = 0, om = 0;
    if (strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
        s[7] != '-' || !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
        !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
        !digits(s + 17, 2, &sec)) {
        return false;
    }
    const char *p = s + 19;
    if (*p == '.') {
        size_t n = strspn(p + 1, "0123456789");
        if (n < 1 || n > 9) {
            return false;
        }
        p += 1 + n;
    }
    int sign = 0;
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        sign = 0;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && digits(p + 1, 2, &oh) && p[3] == ':' &&
               digits(p + 4, 2, &om)) {
        sign = *p == '+' ? 1 : -1;
    } else {
        return false;
    }
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    static const int64_t dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > dim[mo - 1] + (mo == 2 && leap) || h > 23 ||
        mi > 59 || sec > 60 || oh > 23 || om > 59) {
        return false;
    }
    if (sec == 60) {
        sec = 59;
    }
    *out =
        days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - sign * (oh * 3600 + om * 60);
    return true;
}

static const struct {
    int64_t min, max;
} ranges[] = {{INT64_MIN, INT64_MAX}, {0, INT64_MAX}, {1, 100}, {-5, 5}, {0, 32}};

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > INPUT_MAX_BYTES) {
        return 0;
    }
    char *s = fuzz_cstr(data, size);

    FUZZ_CHECK(bx_valid_id(s) == ref_valid_id(s), "bx_valid_id(\"%s\") = %d", s, bx_valid_id(s));

    bool utf8 = bx_valid_utf8(s);
    FUZZ_CHECK(utf8 == ref_utf8((const unsigned char *)s), "bx_valid_utf8 says %d", utf8);
    json_t *js = json_string(s); /* jansson checks UTF-8 the same way */
    FUZZ_CHECK(utf8 == (js != NULL), "bx_valid_utf8 says %d, jansson %d", utf8, js != NULL);
    json_decref(js);

    for (size_t i = 0; i < BX_ARRAY_LEN(ranges); i++) {
        int64_t got = 0, want = 0;
        int rc = bx_parse_i64(s, ranges[i].min, ranges[i].max, &got);
        bool ok = ref_parse_i64(s, ranges[i].min, ranges[i].max, &want);
        FUZZ_CHECK((rc == 0) == ok && (!ok || got == want),
                   "bx_parse_i64(\"%s\", %lld, %lld) = %d (%lld), expected %d (%lld)", s,
                   (long long)ranges[i].min, (long long)ranges[i].max, rc, (long long)got, ok,
                   (long long)want);
    }

    int64_t t = 0, want_t = 0;
    int trc = bx_time_parse_rfc3339(s, &t);
    bool tok = ref_rfc3339(s, &want_t);
    FUZZ_CHECK((trc == 0) == tok && (!tok || t == want_t),
               "bx_time_parse_rfc3339(\"%s\") = %d (%lld), expected %d (%lld)", s, trc,
               (long long)t, tok, (long long)want_t);

    enum bx_err e = bx_err_from_name(s);
    FUZZ_CHECK(e == BX_ERR_COUNT || strcmp(bx_err_name(e), s) == 0, "bx_err_from_name(\"%s\")", s);
    enum bx_role role;
    FUZZ_CHECK(bx_role_parse(s, &role) != 0 || strcmp(bx_role_name(role), s) == 0,
               "bx_role_parse(\"%s\")", s);

    /* catalog stores a venue's zone when catalog_valid_timezone accepts it; ticketgen renders
     * its tickets only when tg_tz_name_valid does. A zone catalog accepts and ticketgen refuses
     * is an event whose tickets can never be issued. */
    if (catalog_valid_timezone(s)) {
        FUZZ_CHECK(strlen(s) <= BX_TZ_NAME_MAX && s[0] != '/' && strstr(s, "..") == NULL &&
                       strstr(s, "//") == NULL,
                   "timezone \"%s\" accepted", s);
        /* ticketgen renders with tg_tz_name_valid = bx_tz_name_valid: the same rule */
        FUZZ_CHECK(bx_tz_name_valid(s), "catalog accepts the zone \"%s\", ticketgen refuses it", s);
    }

    if (catalog_valid_currency(s)) {
        FUZZ_CHECK(strlen(s) == 3 && isupper((unsigned char)s[0]), "currency \"%s\"", s);
    }
    char email[USERS_EMAIL_MAX + 1];
    if (users_email_normalize(s, email) == 0) {
        const char *at = strchr(email, '@');
        FUZZ_CHECK(strlen(email) >= 3 && strlen(email) <= USERS_EMAIL_MAX && at != NULL &&
                       at != email && strchr(at + 1, '@') == NULL && strchr(at, '.') != NULL,
                   "email \"%s\" normalized to \"%s\"", s, email);
        for (const char *p = email; *p; p++) {
            FUZZ_CHECK(!isupper((unsigned char)*p) && (unsigned char)*p > ' ',
                       "email \"%s\" normalized to \"%s\"", s, email);
        }
    }
    if (valid_phone(s)) {
        size_t nd = 0;
        for (const char *p = s; *p; p++) {
            nd += isdigit((unsigned char)*p) != 0;
        }
        FUZZ_CHECK(nd >= 3 && nd <= 15, "phone \"%s\"", s);
    }
    free(s);
    return 0;
}
