// SPDX-License-Identifier: Apache-2.0
// The key-value interface (users, sessions, revocations): get, conditional put, conditional
// delete, with an optional expiry per item. Backends are chosen by URL scheme: LMDB on a laptop
// ("lmdb:var/users"), DynamoDB in production ("dynamodb://TABLE?region=R[&endpoint=URL]").
// Invariants every backend keeps (checked by tests/conformance/test_kv.c on each of them):
//  - versions start at 1 and grow by one on every successful put of the key;
//  - BX_KV_PUT_IF_ABSENT succeeds for exactly one of any number of concurrent writers;
//  - BX_KV_PUT_IF_VERSION succeeds only when the stored version equals the expected one;
//  - an item whose expires_at_s has passed is never returned (it reads as absent) and may be
//    overwritten by BX_KV_PUT_IF_ABSENT.
#ifndef BOXOFFICE_KV_H
#define BOXOFFICE_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boxoffice/err.h"

#define BX_KV_KEY_MAX_BYTES   511 /* longest key: LMDB's maximum key size */
#define BX_KV_VALUE_MAX_BYTES (256 * 1024)

enum bx_kv_put_mode {
    BX_KV_PUT_ANY,        /* create or overwrite */
    BX_KV_PUT_IF_ABSENT,  /* create only; BX_CONFLICT when a live item exists */
    BX_KV_PUT_IF_VERSION, /* overwrite only at expected_version; BX_CONFLICT otherwise (also
                             when the item is absent) */
};

struct bx_kv_ops {
    const char *scheme; /* "lmdb", "dynamodb" */
    /* url is the whole configured URL ("lmdb:var/users"). */
    enum bx_err (*open)(const char *url, void **ctx_out, struct bx_error *err);
    void (*close)(void *ctx);
    /* BX_OK with *value_out malloc'd (NUL-terminated, caller frees) and its version; BX_NOT_FOUND
     * when absent or expired; BX_UNAVAILABLE when the backend cannot be reached. */
    enum bx_err (*get)(void *ctx, const char *key, char **value_out, size_t *len_out,
                       uint64_t *version_out);
    /* expires_at_s: Unix seconds after which the item reads as absent; 0 for never. */
    enum bx_err (*put)(void *ctx, const char *key, const void *value, size_t len,
                       enum bx_kv_put_mode mode, uint64_t expected_version, int64_t expires_at_s,
                       uint64_t *version_out);
    /* expected_version 0: delete whatever is there. BX_NOT_FOUND when absent; BX_CONFLICT when
     * the version differs. */
    enum bx_err (*del)(void *ctx, const char *key, uint64_t expected_version);
    /* Cheap reachability check for /readyz. */
    enum bx_err (*ping)(void *ctx);
};

extern const struct bx_kv_ops bx_kv_lmdb, bx_kv_dynamodb;

/* An open store: the ops chosen by the URL's scheme and the backend's context. */
struct bx_kv {
    const struct bx_kv_ops *ops;
    void *ctx;
};

/* Picks the backend by scheme and opens it. */
enum bx_err bx_kv_open(const char *url, struct bx_kv *out, struct bx_error *err);
void bx_kv_close(struct bx_kv *kv);

#endif
