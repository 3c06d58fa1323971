// SPDX-License-Identifier: Apache-2.0
// Idempotency-Key records in a service's bx_db: one row per scope, caller and key, written in the
// same transaction as the create it answers, so a retried create either replays the first answer
// or creates nothing. Keys are at most 128 printable ASCII characters, scoped to the caller (the
// token's subject), checked before the body is validated, and kept at least 24 h. A service
// creates the table with BX_IDEMPOTENCY_TABLE_SQL in one of its migrations.
#ifndef BOXOFFICE_IDEMPOTENCY_H
#define BOXOFFICE_IDEMPOTENCY_H

#include <stdbool.h>

#include "boxoffice/db.h"
#include "boxoffice/http.h"

#define BX_IDEMPOTENCY_KEY_MAX 128
#define BX_IDEMPOTENCY_TTL_S   (24 * 3600)
#define BX_IDEMPOTENCY_TABLE_SQL                                                                   \
    "CREATE TABLE idempotency (scope TEXT NOT NULL, caller TEXT NOT NULL, key TEXT NOT NULL,"      \
    " body_hash TEXT NOT NULL, status BIGINT NOT NULL, response TEXT NOT NULL,"                    \
    " created_at BIGINT NOT NULL, PRIMARY KEY (scope, caller, key))"

/* The request's Idempotency-Key: BX_OK with *key_out NULL when absent (a 422 for a missing key
 * when required, naming the header), BX_INVALID_FIELD for a malformed key. */
enum bx_err bx_idempotency_key(struct bx_req *req, bool required, const char **key_out);

/* Looks the key up: BX_OK with *replayed true when the stored first response was set on req
 * again (header Idempotent-Replayed: true); BX_IDEMPOTENCY_MISMATCH when the key was used with
 * another body; BX_OK and nothing replayed when the key is new or absent. Errors are set on req. */
enum bx_err bx_idempotency_check(struct bx_db *db, struct bx_req *req, const char *scope,
                                 const char *key, bool *replayed);

/* Inside the create's transaction: records the response under key for caller (key NULL: no-op).
 * *saved_out (may be NULL) is false when a concurrent request with the same key won: the caller
 * must then not apply its create and checks again after its transaction. */
enum bx_err bx_idempotency_save(struct bx_db_tx *tx, const char *scope, const char *caller,
                                const char *key, const char *body_hash, unsigned status,
                                const char *body, bool *saved_out, struct bx_error *err);

/* BLAKE2b-256 of the request body in hex, what bx_idempotency_save compares. */
void bx_idempotency_body_hash(const struct bx_req *req, char out[65]);

/* The caller a key is scoped to: the token's subject, "" for anonymous requests. */
const char *bx_idempotency_caller(const struct bx_req *req);

#endif
