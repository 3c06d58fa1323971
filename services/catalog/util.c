// SPDX-License-Identifier: Apache-2.0
// Catalog helpers: timezone and currency checks, transactions bound to a request, Idempotency-Key
// records (one row per scope, caller and key, written in the same transaction as the create, so a
// retried create either replays the first answer or creates nothing), and the write generation
// the list cache keys on.
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "boxoffice/base.h"
#include "catalog.h"

#define TZ_NAME_MAX         64
#define IDEMPOTENCY_KEY_MAX 128

bool catalog_valid_timezone(const char *tz) {
    size_t n = strlen(tz);
    if (n == 0 || n > TZ_NAME_MAX || tz[0] == '/' || strstr(tz, "..") != NULL) {
        return false;
    }
    for (const char *p = tz; *p; p++) {
        char c = *p;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '/' || c == '_' || c == '-' || c == '+')) {
            return false;
        }
    }
    if (strcmp(tz, "UTC") == 0) {
        return true;
    }
    char path[TZ_NAME_MAX + 32];
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
        if (!catalog_valid_id(req->param_values[i])) {
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

bool catalog_valid_id(const char *id) {
    size_t n = 0;
    for (; id[n] != '\0'; n++) {
        char c = id[n];
        if (n == 64 || !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                         (c >= 'A' && c <= 'Z') || c == '-' || c == '_')) {
            return false;
        }
    }
    return n > 0;
}

bool catalog_valid_utf8(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t n = *p < 0x80           ? 1
                   : (*p >> 5) == 0x6  ? 2
                   : (*p >> 4) == 0xe  ? 3
                   : (*p >> 3) == 0x1e ? 4
                                       : 0;
        if (n == 0 || (n == 2 && *p < 0xc2)) {
            return false;
        }
        for (size_t i = 1; i < n; i++) {
            if ((p[i] & 0xc0) != 0x80) {
                return false;
            }
        }
        if ((n == 3 && p[0] == 0xe0 && p[1] < 0xa0) || (n == 3 && p[0] == 0xed && p[1] >= 0xa0) ||
            (n == 4 && p[0] == 0xf0 && p[1] < 0x90) ||
            (n == 4 && (p[0] > 0xf4 || (p[0] == 0xf4 && p[1] >= 0x90)))) {
            return false; /* overlong, surrogate or past U+10FFFF */
        }
        p += n;
    }
    return true;
}

static _Atomic uint64_t generation = 1;

uint64_t catalog_generation(void) {
    return atomic_load(&generation);
}

void catalog_bump(void) {
    atomic_fetch_add(&generation, 1);
}

static void body_hash(struct bx_req *req, char out[65]) {
    unsigned char h[32];
    crypto_generichash(h, sizeof h, (const unsigned char *)(req->body ? req->body : ""),
                       req->body_len, NULL, 0);
    sodium_bin2hex(out, 65, h, sizeof h);
}

static const char *caller(struct bx_req *req) {
    return req->authenticated ? req->claims.sub : "";
}

struct idem_lookup {
    struct bx_req *req;
    const char *scope, *key;
    struct bx_db_rows rows;
};

static enum bx_err idem_lookup_tx(struct bx_db_tx *tx, void *arg, struct bx_error *err) {
    struct idem_lookup *l = arg;
    struct bx_db_value p[] = {BX_DB_S(l->scope), BX_DB_S(caller(l->req)), BX_DB_S(l->key),
                              BX_DB_I(bx_now_unix_s() - CATALOG_IDEMPOTENCY_TTL_S)};
    return bx_db_exec(tx,
                      "SELECT body_hash, status, response FROM idempotency WHERE scope = $1"
                      " AND caller = $2 AND key = $3 AND created_at >= $4",
                      p, BX_ARRAY_LEN(p), &l->req->arena, &l->rows, NULL, err);
}

enum bx_err catalog_idempotency_check(struct bx_req *req, const char *scope, bool *replayed) {
    *replayed = false;
    const char *key = bx_req_header(req, "Idempotency-Key");
    if (key == NULL) {
        return BX_OK;
    }
    size_t n = strlen(key);
    bool printable = n > 0 && n <= IDEMPOTENCY_KEY_MAX;
    for (size_t i = 0; printable && i < n; i++) {
        printable = key[i] >= 0x20 && key[i] < 0x7f;
    }
    if (!printable) {
        return bx_req_fail(req, BX_INVALID_FIELD, "Idempotency-Key",
                           "Idempotency-Key must be 1 to %d printable ASCII characters.",
                           IDEMPOTENCY_KEY_MAX);
    }
    struct idem_lookup l = {.req = req, .scope = scope, .key = key};
    enum bx_err e = catalog_tx(req, BX_DB_READ, idem_lookup_tx, &l);
    if (e != BX_OK || l.rows.n_rows == 0) {
        return e;
    }
    char hash[65];
    body_hash(req, hash);
    if (strcmp(bx_db_cell(&l.rows, 0, 0)->s, hash) != 0) {
        return bx_req_fail(req, BX_IDEMPOTENCY_MISMATCH, "Idempotency-Key",
                           "This Idempotency-Key was used with a different request body.");
    }
    const char *body = bx_db_cell(&l.rows, 0, 2)->s;
    *replayed = true;
    bx_resp_header(req, "Idempotent-Replayed", "true");
    return bx_respond(req, (unsigned)bx_db_cell(&l.rows, 0, 1)->i,
                      "application/json; charset=utf-8", body, strlen(body));
}

enum bx_err catalog_idempotency_save(struct bx_db_tx *tx, struct bx_req *req, const char *scope,
                                     unsigned status, const char *body, struct bx_error *err) {
    const char *key = bx_req_header(req, "Idempotency-Key");
    if (key == NULL) {
        return BX_OK;
    }
    char hash[65];
    body_hash(req, hash);
    int64_t now = bx_now_unix_s();
    struct bx_db_value del[] = {BX_DB_S(scope), BX_DB_S(caller(req)), BX_DB_S(key),
                                BX_DB_I(now - CATALOG_IDEMPOTENCY_TTL_S)};
    /* an expired record under the same key gives way */
    enum bx_err e = bx_db_exec(tx,
                               "DELETE FROM idempotency WHERE scope = $1 AND caller = $2 AND"
                               " key = $3 AND created_at < $4",
                               del, BX_ARRAY_LEN(del), NULL, NULL, NULL, err);
    if (e != BX_OK) {
        return e;
    }
    struct bx_db_value p[] = {BX_DB_S(scope),  BX_DB_S(caller(req)), BX_DB_S(key), BX_DB_S(hash),
                              BX_DB_I(status), BX_DB_S(body),        BX_DB_I(now)};
    return bx_db_exec(tx,
                      "INSERT INTO idempotency (scope, caller, key, body_hash, status, response,"
                      " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                      p, BX_ARRAY_LEN(p), NULL, NULL, NULL, err);
}
