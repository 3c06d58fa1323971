// SPDX-License-Identifier: Apache-2.0
// Holds: POST /api/holds reserves seats of a tier for hold_ttl_s, GET shows one, DELETE gives the
// seats back. Checks run in the order API.md fixes: fields (422), event and tier exist (404),
// per-order limit (422) here; per-user cap (422), on sale (409) and seats (409) in the batch,
// under the tier's lock.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boxoffice/base.h"
#include "boxoffice/idempotency.h"
#include "boxoffice/json.h"
#include "booking.h"

#define HOLD_QUANTITY_FIELD_MAX                                                                    \
    10000 /* past any per-order limit: limit_exceeded, not a 422 field */

char *booking_hold_json(const char *id, const char *event_id, const char *tier_id, int64_t quantity,
                        int64_t amount_cents, const char *currency, int64_t expires_at,
                        const char *status) {
    char at[21];
    bx_format_rfc3339(expires_at, at);
    char *out = NULL;
    /* ids are bx_valid_id, currency three letters, status a fixed word: nothing to escape */
    if (asprintf(&out,
                 "{\"id\":\"%s\",\"event_id\":\"%s\",\"tier_id\":\"%s\",\"quantity\":%lld,"
                 "\"amount_cents\":%lld,\"currency\":\"%s\",\"expires_at\":\"%s\","
                 "\"status\":\"%s\"}",
                 id, event_id, tier_id, (long long)quantity, (long long)amount_cents, currency, at,
                 status) < 0) {
        return NULL;
    }
    return out;
}

enum bx_err booking_release_hold_tx(struct bx_db_tx *tx, const char *hold_id, const char *user_id,
                                    const char *event_id, const char *tier_id, int64_t quantity,
                                    int64_t amount_cents, const char *currency, const char *status,
                                    int64_t now_ms, struct bx_error *err) {
    struct bx_db_value p[] = {BX_DB_S(hold_id), BX_DB_S(status)};
    int64_t changed = 0;
    enum bx_err e =
        bx_db_exec(tx, "UPDATE holds SET status = $2 WHERE id = $1 AND status = 'active'", p, 2,
                   NULL, NULL, &changed, err);
    if (e != BX_OK) {
        return e;
    }
    if (changed != 1) {
        /* every change of a hold's status happens under its tier's lock, which we hold */
        return bx_error_set(err, BX_RETRY, NULL, "hold %s changed under its tier's lock", hold_id);
    }
    struct bx_db_value u[] = {BX_DB_I(quantity), BX_DB_S(event_id), BX_DB_S(tier_id)};
    e = bx_db_exec(tx, "UPDATE inventory SET held = held - $1 WHERE event_id = $2 AND tier_id = $3",
                   u, 3, NULL, NULL, NULL, err);
    if (e != BX_OK) {
        return e;
    }
    return booking_outbox_add(tx, strcmp(status, "expired") == 0 ? "hold.expired" : "hold.released",
                              event_id, tier_id, hold_id, NULL, user_id, quantity, amount_cents,
                              currency, now_ms, err);
}

struct hold_body {
    char *event_id, *tier_id;
    int64_t quantity;
};

static const struct bx_json_field hold_fields[] = {
    {.name = "event_id",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct hold_body, event_id),
     .required = true,
     .min = 1,
     .max = 64},
    {.name = "tier_id",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct hold_body, tier_id),
     .required = true,
     .min = 1,
     .max = 64},
    {.name = "quantity",
     .kind = BX_JSON_INT,
     .offset = offsetof(struct hold_body, quantity),
     .required = true,
     .min = 1,
     .max = HOLD_QUANTITY_FIELD_MAX},
};

static const struct bx_json_schema hold_schema = {hold_fields, BX_ARRAY_LEN(hold_fields),
                                                  sizeof(struct hold_body)};

enum bx_err booking_new_op(struct bx_req *req, enum booking_op_kind kind, struct booking_op **out) {
    *out = NULL;
    if (!bx_valid_id(req->claims.sub)) {
        /* our users service issues ids; messages and rows rely on it */
        return bx_req_fail(req, BX_FORBIDDEN, NULL, "This token's subject is not a customer id.");
    }
    struct booking_op *op = bx_arena_zalloc(&req->arena, sizeof *op);
    if (op == NULL) {
        return bx_req_fail(req, BX_INTERNAL, NULL, "out of memory");
    }
    op->kind = kind;
    op->req = req;
    op->user_id = req->claims.sub;
    op->admin = req->claims.role == BX_ROLE_ADMIN;
    *out = op;
    return BX_OK;
}

enum bx_err holds_create(struct bx_req *req) {
    const char *key;
    bool replayed;
    enum bx_err e = bx_idempotency_key(req, false, &key);
    if (e != BX_OK ||
        (e = bx_idempotency_check(&booking.db, req, "holds", key, &replayed)) != BX_OK ||
        replayed) {
        return e;
    }
    struct hold_body b;
    struct bx_error err = {0};
    if ((e = bx_json_decode(req->body, req->body_len, &hold_schema, &b, &req->arena, NULL, &err)) !=
        BX_OK) {
        req->error = err;
        return e;
    }
    struct booking_event ev;
    struct booking_tier tiers[BOOKING_TIERS_MAX];
    size_t n = 0;
    if ((e = booking_event_get_cached(b.event_id, &ev, tiers, &n, req->request_id, &err)) !=
        BX_OK) {
        req->error = err;
        return e;
    }
    const struct booking_tier *t = NULL;
    for (int pass = 0; pass < 2 && t == NULL; pass++) {
        /* a tier catalog added since booking last looked: ask once before saying 404 */
        if (pass == 1 &&
            (!bx_valid_id(b.tier_id) ||
             booking_event_refresh(b.event_id, req->request_id, &err) != BX_OK ||
             booking_event_get(b.event_id, &ev, tiers, &n, req->request_id, &err) != BX_OK)) {
            break;
        }
        for (size_t i = 0; i < n && t == NULL; i++) {
            t = strcmp(tiers[i].id, b.tier_id) == 0 ? &tiers[i] : NULL;
        }
    }
    if (t == NULL) {
        return bx_req_fail(req, BX_NOT_FOUND, "tier_id", "This event has no such tier.");
    }
    if (b.quantity > t->max_per_order) {
        return bx_req_fail(req, BX_LIMIT_EXCEEDED, "quantity",
                           "At most %lld tickets of this tier per order.",
                           (long long)t->max_per_order);
    }
    struct booking_op *op;
    if ((e = booking_new_op(req, OP_HOLD, &op)) != BX_OK) {
        return e;
    }
    bx_strlcpy(op->event_id, b.event_id, sizeof op->event_id);
    bx_strlcpy(op->tier_id, b.tier_id, sizeof op->tier_id);
    op->quantity = b.quantity;
    op->idem_key = key;
    bx_idempotency_body_hash(req, op->body_hash);
    bx_req_suspend(req);
    booking_submit(op);
    return BX_OK;
}

#define HOLD_COLUMNS                                                                               \
    "id, event_id, tier_id, quantity, amount_cents, currency, expires_at, status, user_id"

struct hold_read {
    const char *id;
    struct bx_arena *arena;
    struct bx_db_rows rows;
};

static enum bx_err hold_read_tx(struct bx_db_tx *tx, void *arg, struct bx_error *err) {
    struct hold_read *h = arg;
    struct bx_db_value p[] = {BX_DB_S(h->id)};
    return bx_db_exec(tx, "SELECT " HOLD_COLUMNS " FROM holds WHERE id = $1", p, 1, h->arena,
                      &h->rows, NULL, err);
}

/* The caller's hold (admins: any); 404 when it does not exist or is someone else's. */
static enum bx_err hold_of_caller(struct bx_req *req, struct hold_read *h) {
    h->id = bx_req_param(req, "id");
    h->arena = &req->arena;
    if (!bx_valid_id(h->id)) {
        return bx_req_fail(req, BX_NOT_FOUND, NULL, "No such hold.");
    }
    enum bx_err e = booking_tx(req, BX_DB_READ, hold_read_tx, h);
    if (e != BX_OK) {
        return e;
    }
    if (h->rows.n_rows == 0 || (strcmp(bx_db_cell(&h->rows, 0, 8)->s, req->claims.sub) != 0 &&
                                req->claims.role != BX_ROLE_ADMIN)) {
        return bx_req_fail(req, BX_NOT_FOUND, NULL, "No such hold.");
    }
    return BX_OK;
}

enum bx_err holds_get(struct bx_req *req) {
    struct hold_read h;
    enum bx_err e = hold_of_caller(req, &h);
    if (e != BX_OK) {
        return e;
    }
    const struct bx_db_rows *r = &h.rows;
    const char *status = bx_db_cell(r, 0, 7)->s;
    int64_t expires = bx_db_cell(r, 0, 6)->i;
    if (strcmp(status, "active") == 0 && expires <= bx_now_unix_s()) {
        status = "expired"; /* the sweeper has not come by yet; the seats are no longer held */
    }
    char *body = booking_hold_json(bx_db_cell(r, 0, 0)->s, bx_db_cell(r, 0, 1)->s,
                                   bx_db_cell(r, 0, 2)->s, bx_db_cell(r, 0, 3)->i,
                                   bx_db_cell(r, 0, 4)->i, bx_db_cell(r, 0, 5)->s, expires, status);
    if (body == NULL) {
        return bx_req_fail(req, BX_INTERNAL, NULL, "out of memory");
    }
    e = bx_respond(req, 200, "application/json; charset=utf-8", body, strlen(body));
    free(body);
    return e;
}

enum bx_err holds_delete(struct bx_req *req) {
    struct hold_read h;
    enum bx_err e = hold_of_caller(req, &h);
    if (e != BX_OK) {
        return e;
    }
    struct booking_op *op;
    if ((e = booking_new_op(req, OP_RELEASE, &op)) != BX_OK) {
        return e;
    }
    op->hold_id = h.id;
    bx_strlcpy(op->event_id, bx_db_cell(&h.rows, 0, 1)->s, sizeof op->event_id);
    bx_strlcpy(op->tier_id, bx_db_cell(&h.rows, 0, 2)->s, sizeof op->tier_id);
    bx_req_suspend(req);
    booking_submit(op);
    return BX_OK;
}

/* For orders.c: a hold of the caller, for confirming. */
enum bx_err booking_hold_for_order(struct bx_req *req, const char *hold_id, struct booking_op *op) {
    struct hold_read h = {.id = hold_id, .arena = &req->arena};
    if (!bx_valid_id(hold_id)) {
        return bx_req_fail(req, BX_NOT_FOUND, "hold_id", "No such hold.");
    }
    enum bx_err e = booking_tx(req, BX_DB_READ, hold_read_tx, &h);
    if (e != BX_OK) {
        return e;
    }
    if (h.rows.n_rows == 0 || strcmp(bx_db_cell(&h.rows, 0, 8)->s, req->claims.sub) != 0) {
        return bx_req_fail(req, BX_NOT_FOUND, "hold_id", "No such hold.");
    }
    op->hold_id = hold_id;
    bx_strlcpy(op->event_id, bx_db_cell(&h.rows, 0, 1)->s, sizeof op->event_id);
    bx_strlcpy(op->tier_id, bx_db_cell(&h.rows, 0, 2)->s, sizeof op->tier_id);
    return BX_OK;
}
