// SPDX-License-Identifier: Apache-2.0
// Catalog helpers: timezone and currency checks, transactions bound to a request, Idempotency-Key
// records (one row per scope, caller and key, written in the same transaction as the create, so a
// retried create either replays the first answer or creates nothing), and the write generation
// the list cache keys on.
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "boxoffice/base.h"
#include "boxoffice/idempotency.h"
#include "catalog.h"

#define IDEMPOTENCY_KEY_MAX 128

bool catalog_valid_timezone(const char *tz) {
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

bool catalog_valid_currency(const char *c) {
    return strlen(c) == 3 && c[0] >= 'A' && c[0] <= 'Z' && c[1] >= 'A' && c[1] <= 'Z' &&
           c[2] >= 'A' && c[2] <= 'Z';
}

enum bx_err catalog_tx(struct bx_req *req, enum bx_db_tx_mode mode, bx_db_tx_fn fn, void *arg) {
    struct bx_error err = {0};
    /* every {id} and {tier_id} of a catalog route is one of our ids, or names nothing */
    for (size_t i = 0; i < req->n_params; i++) {
        if (!bx_valid_id(req->param_values[i])) {
            return bx_req_fail(req, BX_NOT_FOUND, NULL, "No such %s.",
                               strcmp(req->param_names[i], "tier_id") == 0 ? "tier" : "resource");
        }
    }
    enum bx_err e = bx_db_run(&catalog.db, mode, fn, arg, &err);
    if (e != BX_OK) {
        if (e == BX_RETRY) {
            e = BX_UNAVAILABLE;
            bx_error_set(&err, e, NULL, "The catalog is busy; retry.");
        }
        req->error = err;
        req->error.code = e;
    }
    return e;
}

static _Atomic uint64_t generation = 1;

uint64_t catalog_generation(void) {
    return atomic_load(&generation);
}

void catalog_bump(void) {
    atomic_fetch_add(&generation, 1);
}

enum bx_err catalog_idempotency_check(struct bx_req *req, const char *scope, bool *replayed) {
    const char *key;
    *replayed = false;
    enum bx_err e = bx_idempotency_key(req, false, &key);
    return e != BX_OK ? e : bx_idempotency_check(&catalog.db, req, scope, key, replayed);
}

enum bx_err catalog_idempotency_save(struct bx_db_tx *tx, struct bx_req *req, const char *scope,
                                     unsigned status, const char *body, struct bx_error *err) {
    const char *key = bx_req_header(req, "Idempotency-Key");
    char hash[65];
    bx_idempotency_body_hash(req, hash);
    bool saved;
    enum bx_err e = bx_idempotency_save(tx, scope, bx_idempotency_caller(req), key, hash, status,
                                        body, &saved, err);
    if (e == BX_OK && !saved) {
        e = bx_error_set(err, BX_CONFLICT, NULL, "A concurrent request used this Idempotency-Key.");
    }
    return e;
}
