// SPDX-License-Identifier: Apache-2.0
// Opens a key-value store by its URL's scheme ("lmdb:...", "dynamodb://..."): the one table that
// names the backends, so service code never does. Also the argument checks and URL query parsing
// that every backend shares (kv/internal.h).
#include "boxoffice/kv.h"

#include <string.h>

#include "boxoffice/base.h"
#include "kv/internal.h"

#define SCHEME_MAX_BYTES 16

static const struct bx_kv_ops *const backends[] = {&bx_kv_lmdb, &bx_kv_dynamodb};

enum bx_err bx_kv_open(const char *url, struct bx_kv *out, struct bx_error *err) {
    BX_ASSERT(url != NULL && out != NULL && err != NULL);
    out->ops = NULL;
    out->ctx = NULL;
    size_t scheme_len = strcspn(url, ":");
    if (url[scheme_len] != ':' || scheme_len == 0 || scheme_len >= SCHEME_MAX_BYTES) {
        return bx_error_set(err, BX_BAD_REQUEST, NULL,
                            "store URL \"%.80s\" has no scheme (lmdb:DIR or dynamodb://TABLE)",
                            url);
    }
    for (size_t i = 0; i < BX_ARRAY_LEN(backends); i++) {
        const struct bx_kv_ops *ops = backends[i];
        if (strlen(ops->scheme) == scheme_len && strncmp(ops->scheme, url, scheme_len) == 0) {
            void *ctx = NULL;
            enum bx_err e = ops->open(url, &ctx, err);
            if (e != BX_OK) {
                BX_ASSERT(ctx == NULL);
                return e;
            }
            BX_ASSERT(ctx != NULL);
            out->ops = ops;
            out->ctx = ctx;
            return BX_OK;
        }
    }
    return bx_error_set(err, BX_BAD_REQUEST, NULL, "unknown store scheme \"%.*s\" (lmdb, dynamodb)",
                        (int)scheme_len, url);
}

void bx_kv_close(struct bx_kv *kv) {
    if (kv == NULL || kv->ops == NULL) {
        return;
    }
    kv->ops->close(kv->ctx);
    kv->ops = NULL;
    kv->ctx = NULL;
}

enum bx_err bx_kv_check_key(const char *key) {
    if (key == NULL) {
        return BX_INVALID_FIELD;
    }
    size_t n = strnlen(key, BX_KV_KEY_MAX_BYTES + 1);
    if (n < 1 || n > BX_KV_KEY_MAX_BYTES || !bx_kv_utf8_valid(key, n)) {
        return BX_INVALID_FIELD;
    }
    return BX_OK;
}

bool bx_kv_utf8_valid(const void *p, size_t n) {
    const unsigned char *s = p;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            lo = c == 0xE0 ? 0xA0 : 0x80; /* no overlong forms */
            hi = c == 0xED ? 0x9F : 0xBF; /* no surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            lo = c == 0xF0 ? 0x90 : 0x80; /* no overlong forms */
            hi = c == 0xF4 ? 0x8F : 0xBF; /* nothing past U+10FFFF */
        } else {
            return false;
        }
        if (n - i < len || s[i + 1] < lo || s[i + 1] > hi) {
            return false;
        }
        for (size_t k = 2; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) {
                return false;
            }
        }
        i += len;
    }
    return true;
}

enum bx_err bx_kv_check_put(const char *key, const void *value, size_t len,
                            enum bx_kv_put_mode mode, int64_t expires_at_s) {
    if (bx_kv_check_key(key) != BX_OK || len > BX_KV_VALUE_MAX_BYTES ||
        (value == NULL && len > 0) || expires_at_s < 0) {
        return BX_INVALID_FIELD;
    }
    switch (mode) {
    case BX_KV_PUT_ANY:
    case BX_KV_PUT_IF_ABSENT:
    case BX_KV_PUT_IF_VERSION:
        return BX_OK;
    }
    return BX_INVALID_FIELD;
}

/* Decodes src[0, n) into out (NUL-terminated); -1 when it does not fit or is malformed. */
static int decode(const char *src, size_t n, char *out, size_t out_size) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        if (c == '%') {
            if (i + 2 >= n) {
                return -1;
            }
            int hi = bx_hex_value(src[i + 1]);
            int lo = bx_hex_value(src[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) { /* %00 would cut the value short */
                return -1;
            }
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (o + 1 >= out_size) {
            return -1;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

int bx_kv_query_next(const char **cursor, char name[static BX_KV_QUERY_NAME_MAX_BYTES],
                     char value[static BX_KV_QUERY_VALUE_MAX_BYTES]) {
    const char *p = *cursor;
    while (*p == '&') {
        p++;
    }
    if (*p == '\0') {
        *cursor = p;
        return 0;
    }
    size_t n = strcspn(p, "&");
    const char *eq = memchr(p, '=', n);
    size_t name_len = eq != NULL ? (size_t)(eq - p) : n;
    const char *v = eq != NULL ? eq + 1 : p + n;
    size_t value_len = (size_t)(p + n - v);
    *cursor = p + n;
    if (name_len == 0 || decode(p, name_len, name, BX_KV_QUERY_NAME_MAX_BYTES) != 0 ||
        decode(v, value_len, value, BX_KV_QUERY_VALUE_MAX_BYTES) != 0) {
        return -1;
    }
    return 1;
}
