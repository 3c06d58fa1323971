// SPDX-License-Identifier: Apache-2.0
// Assertion failure, clocks, randomness, UUIDv7 and small string helpers.
#include "boxoffice/base.h"

#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

_Noreturn void bx_assert_fail(const char *expr, const char *file, int line) {
    fprintf(stderr, "{\"level\":\"fatal\",\"msg\":\"assertion failed: %s\",\"at\":\"%s:%d\"}\n",
            expr, file, line);
    fflush(stderr);
    abort();
}

static int64_t clock_ns(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t bx_now_mono_ms(void) {
    return clock_ns(CLOCK_MONOTONIC) / 1000000;
}

int64_t bx_now_mono_us(void) {
    return clock_ns(CLOCK_MONOTONIC) / 1000;
}

int64_t bx_now_unix_s(void) {
    return clock_ns(CLOCK_REALTIME) / 1000000000;
}

int64_t bx_now_unix_ms(void) {
    return clock_ns(CLOCK_REALTIME) / 1000000;
}

void bx_format_rfc3339(int64_t unix_s, char out[static 21]) {
    time_t t = (time_t)unix_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

size_t bx_hash_slot(const void *data, size_t len, size_t slots) {
    BX_ASSERT(slots > 0);
    unsigned char h[8];
    crypto_generichash(h, sizeof h, data, len, NULL, 0);
    uint64_t v;
    memcpy(&v, h, sizeof v);
    return (size_t)(v % slots);
}

void bx_random_bytes(void *out, size_t n) {
    randombytes_buf(out, n);
}

#define UUID_POOL_BYTES 4096

/* Random bytes for ids, drawn from the OS source 4 KiB at a time per thread: one system call per
 * 256 ids instead of one per id (ids are made on every request). */
static void id_random(unsigned char *out, size_t n) {
    static _Thread_local unsigned char pool[UUID_POOL_BYTES];
    static _Thread_local size_t left;
    BX_ASSERT(n <= UUID_POOL_BYTES);
    if (left < n) {
        randombytes_buf(pool, sizeof pool);
        left = sizeof pool;
    }
    memcpy(out, pool + sizeof pool - left, n);
    sodium_memzero(pool + sizeof pool - left, n);
    left -= n;
}

void bx_uuid7(char out[static 37]) {
    unsigned char b[16];
    uint64_t ms = (uint64_t)bx_now_unix_ms();
    id_random(b, sizeof b);
    for (int i = 0; i < 6; i++) {
        b[i] = (unsigned char)(ms >> (40 - 8 * i));
    }
    b[6] = (unsigned char)(0x70 | (b[6] & 0x0f));
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3f));
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            out[o++] = '-';
        }
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
}

size_t bx_strlcpy(char *out, const char *src, size_t out_size) {
    size_t len = strlen(src);
    if (out_size > 0) {
        size_t n = len < out_size - 1 ? len : out_size - 1;
        memcpy(out, src, n);
        out[n] = '\0';
    }
    return len;
}

int bx_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out) {
    if (s == NULL || *s == '\0') {
        return -1;
    }
    for (const char *p = s; *p; p++) {
        if (!((*p >= '0' && *p <= '9') || (p == s && (*p == '-' || *p == '+')))) {
            return -1;
        }
    }
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
        return -1;
    }
    *out = (int64_t)v;
    return 0;
}

/* The bytes an id may hold: [0-9A-Za-z_-] (a table: ids are checked on hot paths, e.g. every
 * field of every analytics message). */
const bool bx_id_char[256] = {
    ['-'] = true, ['_'] = true, ['0'] = true, ['1'] = true, ['2'] = true, ['3'] = true,
    ['4'] = true, ['5'] = true, ['6'] = true, ['7'] = true, ['8'] = true, ['9'] = true,
    ['A'] = true, ['B'] = true, ['C'] = true, ['D'] = true, ['E'] = true, ['F'] = true,
    ['G'] = true, ['H'] = true, ['I'] = true, ['J'] = true, ['K'] = true, ['L'] = true,
    ['M'] = true, ['N'] = true, ['O'] = true, ['P'] = true, ['Q'] = true, ['R'] = true,
    ['S'] = true, ['T'] = true, ['U'] = true, ['V'] = true, ['W'] = true, ['X'] = true,
    ['Y'] = true, ['Z'] = true, ['a'] = true, ['b'] = true, ['c'] = true, ['d'] = true,
    ['e'] = true, ['f'] = true, ['g'] = true, ['h'] = true, ['i'] = true, ['j'] = true,
    ['k'] = true, ['l'] = true, ['m'] = true, ['n'] = true, ['o'] = true, ['p'] = true,
    ['q'] = true, ['r'] = true, ['s'] = true, ['t'] = true, ['u'] = true, ['v'] = true,
    ['w'] = true, ['x'] = true, ['y'] = true, ['z'] = true,
};

bool bx_valid_id(const char *id) {
    size_t n = 0;
    while (n <= 64 && bx_id_char[(unsigned char)id[n]]) {
        n++;
    }
    return id[n] == '\0' && n > 0 && n <= 64;
}

size_t bx_utf8_next(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    size_t n = *p < 0x80           ? 1
               : (*p >> 5) == 0x6  ? 2
               : (*p >> 4) == 0xe  ? 3
               : (*p >> 3) == 0x1e ? 4
                                   : 0;
    if (*p == 0 || n == 0 || (n == 2 && *p < 0xc2)) {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) { /* also stops at the terminating NUL */
            return 0;
        }
    }
    if ((n == 3 && p[0] == 0xe0 && p[1] < 0xa0) || (n == 3 && p[0] == 0xed && p[1] >= 0xa0) ||
        (n == 4 && p[0] == 0xf0 && p[1] < 0x90) ||
        (n == 4 && (p[0] > 0xf4 || (p[0] == 0xf4 && p[1] >= 0x90)))) {
        return 0; /* overlong, surrogate or past U+10FFFF */
    }
    return n;
}

bool bx_valid_utf8(const char *s) {
    while (*s) {
        size_t n = bx_utf8_next(s);
        if (n == 0) {
            return false;
        }
        s += n;
    }
    return true;
}

void bx_utf8_sanitize(char *s) {
    while (*s) {
        size_t n = bx_utf8_next(s);
        if (n == 0) {
            *s = '?';
            n = 1;
        }
        s += n;
    }
}

int bx_base64url_decode(unsigned char *out, size_t cap, const char *in, size_t len,
                        size_t *out_len) {
    /* libsodium 1.0.18 reads any byte >= 0x80 as '_' (it compares signed chars): check the
     * alphabet ourselves, so one value has one spelling */
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_')) {
            return -1;
        }
    }
    const char *end = NULL;
    if (sodium_base642bin(out, cap, in, len, NULL, out_len, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        end != in + len) {
        return -1;
    }
    return 0;
}

bool bx_tz_name_valid(const char *zone) {
    size_t n = strlen(zone);
    if (n == 0 || n > BX_TZ_NAME_MAX || zone[0] == '/' || zone[n - 1] == '/' ||
        strstr(zone, "..") != NULL || strstr(zone, "//") != NULL) {
        return false;
    }
    for (const char *p = zone; *p; p++) {
        char c = *p;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '/' || c == '_' || c == '-' || c == '+')) {
            return false;
        }
    }
    return true;
}

int bx_hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

int64_t bx_days_from_civil(int64_t y, int64_t m, int64_t d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}
