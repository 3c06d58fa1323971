// SPDX-License-Identifier: Apache-2.0
// Idempotency-Key records over bx_db (see include/boxoffice/idempotency.h). The save is an
// INSERT ... ON CONFLICT DO NOTHING after an expired record under the same key was removed, so of
// two concurrent creates with one key exactly one records its answer and the other learns it lost.
#include <sodium.h>
#include <string.h>

#include "boxoffice/base.h"
#include "boxoffice/idempotency.h"

enum bx_err bx_idempotency_key(struct bx_req *req, bool required, const char **key_out) {
    const char *key = bx_req_header(req, "Idempotency-Key");
    *key_out = NULL;
    if (key == NULL) {
        return required ? bx_req_fail(req, BX_INVALID_FIELD, "Idempotency-Key",
                                      "An Idempotency-Key header is required.")
                        : BX_OK;
    }
    size_t n = strlen(key);
    bool printable = n > 0 && n <= BX_IDEMPOTENCY_KEY_MAX;
    for (size_t i = 0; printable && i < n; i++) {
        printable = key[i] >= 0x20 && key[i] < 0x7f;
    }
    if (!printable) {
        return bx_req_fail(req, BX_INVALID_FIELD, "Idempotency-Key",
                           "Idempotency-Key must be 1 to %d printable ASCII characters.",
                           BX_IDEMPOTENCY_KEY_MAX);
    }
    *key_out = key;
    return BX_OK;
}

void bx_idempotency_body_hash(const struct bx_req *req, char out[65]) {
    unsigned char h[32];
    crypto_generichash(h, sizeof h, (const unsigned char *)(req->body ? req->body : ""),
                       req->body_len, NULL, 0);
    sodium_bin2hex(out, 65, h, sizeof h);
}

const char *bx_idempotency_caller(const struct bx_req *req) {
    return req->authenticated ? req->claims.sub : "";
}

struct lookup {
    struct bx_req *req;
    const char *scope, *key;
    struct bx_db_rows rows;
};

static enum bx_err lookup_tx(struct bx_db_tx *tx, void *arg, struct bx_error *err) {
    struct lookup *l = arg;
    struct bx_db_value p[] = {BX_DB_S(l->scope), BX_DB_S(bx_idempotency_caller(l->req)),
                              BX_DB_S(l->key), BX_DB_I(bx_now_unix_s() - BX_IDEMPOTENCY_TTL_S)};
    return bx_db_exec(tx,
                      "SELECT body_hash, status, response FROM idempotency WHERE scope = $1"
                      " AND caller = $2 AND key = $3 AND created_at >= $4",
                      p, BX_ARRAY_LEN(p), &l->req->arena, &l->rows, NULL, err);
}

enum bx_err bx_idempotency_check(struct bx_db *db, struct bx_req *req, const char *scope,
                                 const char *key, bool *replayed) {
    *replayed = false;
    if (key == NULL) {
        return BX_OK;
    }
    struct lookup l = {.req = req, .scope = scope, .key = key};
    struct bx_error err = {0};
    enum bx_err e = bx_db_run(db, BX_DB_READ, lookup_tx, &l, &err);
    if (e != BX_OK) {
        return bx_req_fail(req, e == BX_RETRY ? BX_UNAVAILABLE : e, NULL, "%s",
                           err.message[0] ? err.message : "The database is unavailable; retry.");
    }
    if (l.rows.n_rows == 0) {
        return BX_OK;
    }
    char hash[65];
    bx_idempotency_body_hash(req, hash);
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

enum bx_err bx_idempotency_save(struct bx_db_tx *tx, const char *scope, const char *caller,
                                const char *key, const char *body_hash, unsigned status,
                                const char *body, bool *saved_out, struct bx_error *err) {
    if (saved_out != NULL) {
        *saved_out = true;
    }
    if (key == NULL) {
        return BX_OK;
    }
    int64_t now = bx_now_unix_s();
    struct bx_db_value del[] = {BX_DB_S(scope), BX_DB_S(caller), BX_DB_S(key),
                                BX_DB_I(now - BX_IDEMPOTENCY_TTL_S)};
    /* an expired record under the same key gives way */
    enum bx_err e = bx_db_exec(tx,
                               "DELETE FROM idempotency WHERE scope = $1 AND caller = $2 AND"
                               " key = $3 AND created_at < $4",
                               del, BX_ARRAY_LEN(del), NULL, NULL, NULL, err);
    if (e != BX_OK) {
        return e;
    }
    struct bx_db_value p[] = {BX_DB_S(scope),  BX_DB_S(caller), BX_DB_S(key), BX_DB_S(body_hash),
                              BX_DB_I(status), BX_DB_S(body),   BX_DB_I(now)};
    int64_t changes = 0;
    e = bx_db_exec(tx,
                   "INSERT INTO idempotency (scope, caller, key, body_hash, status, response,"
                   " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                   " ON CONFLICT (scope, caller, key) DO NOTHING",
                   p, BX_ARRAY_LEN(p), NULL, NULL, &changes, err);
    if (e == BX_OK && saved_out != NULL) {
        *saved_out = changes == 1;
    }
    return e;
}
