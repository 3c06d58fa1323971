// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the key-value backends (not part of the public interface): argument checks
// against kv.h's limits, the one definition of "expired", and URL query parsing.
#ifndef BOXOFFICE_BACKENDS_KV_INTERNAL_H
#define BOXOFFICE_BACKENDS_KV_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boxoffice/kv.h"

/* Longest name and value of one URL query parameter (after percent-decoding). */
#define BX_KV_QUERY_NAME_MAX_BYTES  32
#define BX_KV_QUERY_VALUE_MAX_BYTES 512

/* BX_INVALID_FIELD unless key is valid UTF-8 of 1 to BX_KV_KEY_MAX_BYTES bytes. */
enum bx_err bx_kv_check_key(const char *key);

/* True when p[0, n) is well-formed UTF-8 (no overlong forms, surrogates or code points past
 * U+10FFFF); NUL bytes count as well-formed. */
bool bx_kv_utf8_valid(const void *p, size_t n);

/* Checks every argument of a put against kv.h's limits: the key, len <= BX_KV_VALUE_MAX_BYTES,
 * a known mode, expires_at_s >= 0. */
enum bx_err bx_kv_check_put(const char *key, const void *value, size_t len,
                            enum bx_kv_put_mode mode, int64_t expires_at_s);

/* The one rule for expiry, used by every backend: an item reads as absent once now_s has passed
 * its expires_at_s; 0 means never. */
static inline bool bx_kv_expired(int64_t expires_at_s, int64_t now_s) {
    return expires_at_s > 0 && expires_at_s < now_s;
}

/* Iterates "name=value&name=value" (the part after '?'), percent-decoding both. *cursor starts at
 * the query and advances; returns 1 with a parameter, 0 at the end, -1 when a parameter is too
 * long or malformed. */
int bx_kv_query_next(const char **cursor, char name[static BX_KV_QUERY_NAME_MAX_BYTES],
                     char value[static BX_KV_QUERY_VALUE_MAX_BYTES]);

#endif
