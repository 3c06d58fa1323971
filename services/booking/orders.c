// SPDX-License-Identifier: Apache-2.0
// Orders: POST /api/orders confirms a live hold (Idempotency-Key required, checked before the
// body), GET lists and shows them (owners see theirs, admins all), POST .../cancel puts the seats
// back on sale. Also GET /api/events/{id}/availability, the public counts (cacheable for 1 s).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boxoffice/base.h"
#include "boxoffice/httpc.h"
#include "boxoffice/idempotency.h"
#include "boxoffice/json.h"
#include "booking.h"

char *booking_order_json(const struct bx_db_rows *rows, size_t r) {
    const char *status = bx_db_cell(rows, r, 8)->s;
    json_t *ids = json_loads(bx_db_cell(rows, r, 10)->s, 0, NULL);
    json_t *tickets = json_array();
    size_t i;
    json_t *id;
    bool cancelled = strcmp(status, "cancelled") == 0;
    json_array_foreach(ids, i, id) {
        json_array_append_new(
            tickets, json_pack("{s:O,s:s}", "id", id, "status", cancelled ? "revoked" : "pending"));
    }
    json_decref(ids);
    char at[21];
    bx_format_rfc3339(bx_db_cell(rows, r, 9)->i, at);
    json_t *v =
        json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:s,s:s,s:s,s:o}", "id", bx_db_cell(rows, r, 0)->s,
                  "hold_id", bx_db_cell(rows, r, 1)->s, "user_id", bx_db_cell(rows, r, 2)->s,
                  "event_id", bx_db_cell(rows, r, 3)->s, "tier_id", bx_db_cell(rows, r, 4)->s,
                  "quantity", (json_int_t)bx_db_cell(rows, r, 5)->i, "amount_cents",
                  (json_int_t)bx_db_cell(rows, r, 6)->i, "currency", bx_db_cell(rows, r, 7)->s,
                  "status", status, "created_at", at, "tickets", tickets);
    char *out = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    return out;
}

enum bx_err booking_cancel_order_tx(struct bx_db_tx *tx, const struct bx_db_rows *rows, size_t r,
                                    int64_t now_ms, struct bx_error *err) {
    const char *id = bx_db_cell(rows, r, 0)->s, *event_id = bx_db_cell(rows, r, 3)->s,
               *tier_id = bx_db_cell(rows, r, 4)->s;
    int64_t quantity = bx_db_cell(rows, r, 5)->i;
    struct bx_db_value p[] = {BX_DB_S(id), BX_DB_I(now_ms / 1000)};
    int64_t changed = 0;
    enum bx_err e = bx_db_exec(tx,
                               "UPDATE orders SET status = 'cancelled', cancelled_at = $2"
                               " WHERE id = $1 AND status = 'confirmed'",
                               p, 2, NULL, NULL, &changed, err);
    if (e != BX_OK) {
        return e;
    }
    if (changed != 1) {
        return bx_error_set(err, BX_RETRY, NULL, "order %s changed under its tier's lock", id);
    }
    struct bx_db_value u[] = {BX_DB_I(quantity), BX_DB_S(event_id), BX_DB_S(tier_id)};
    e = bx_db_exec(tx, "UPDATE inventory SET sold = sold - $1 WHERE event_id = $2 AND tier_id = $3",
                   u, 3, NULL, NULL, NULL, err);
    if (e != BX_OK || (e = booking_export_mark(tx, id, now_ms / 1000, err)) != BX_OK) {
        return e;
    }
    return booking_outbox_add(tx, "order.cancelled", event_id, tier_id, bx_db_cell(rows, r, 1)->s,
                              id, bx_db_cell(rows, r, 2)->s, quantity, bx_db_cell(rows, r, 6)->i,
                              bx_db_cell(rows, r, 7)->s, now_ms, err);
}

struct order_body {
    char *hold_id;
};

static const struct bx_json_field order_fields[] = {
    {.name = "hold_id",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct order_body, hold_id),
     .required = true,
     .min = 1,
     .max = 64},
};

static const struct bx_json_schema order_schema = {order_fields, BX_ARRAY_LEN(order_fields),
                                                   sizeof(struct order_body)};

/* The caller's name from users (GET /api/users/me with their own token), for the tickets; ""
 * when users cannot say (the order goes ahead; tickets then print no name). */
static const char *holder_name(struct bx_req *req) {
    char url[1100], auth[2200], rid[BX_REQUEST_ID_MAX + 16];
    snprintf(url, sizeof url, "%s/api/users/me", booking.users_url);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", req->token ? req->token : "");
    snprintf(rid, sizeof rid, "X-Request-Id: %s", req->request_id);
    const char *headers[] = {auth, rid, NULL};
    struct bx_httpc_request hr = {.method = "GET",
                                  .url = url,
                                  .headers = headers,
                                  .connect_timeout_ms = 500,
                                  .timeout_ms = 2000,
                                  .max_attempts = 2,
                                  .max_body_bytes = 64 * 1024};
    struct bx_httpc_response resp;
    const char *name = "";
    if (req->token != NULL && strlen(req->token) < 2000 && bx_httpc_do(&hr, &resp) == BX_OK) {
        json_t *me = resp.status == 200 ? json_loadb(resp.body, resp.body_len, 0, NULL) : NULL;
        const char *n = json_string_value(json_object_get(me, "name"));
        if (n != NULL) {
            name = bx_arena_strdup(&req->arena, n);
        }
        json_decref(me);
        bx_httpc_response_free(&resp);
    }
    return name ? name : "";
}

enum bx_err orders_create(struct bx_req *req) {
    const char *key;
    bool replayed;
    enum bx_err e = bx_idempotency_key(req, true, &key);
    if (e != BX_OK ||
        (e = bx_idempotency_check(&booking.db, req, "orders", key, &replayed)) != BX_OK ||
        replayed) {
        return e;
    }
    struct order_body b;
    struct bx_error err = {0};
    if ((e = bx_json_decode(req->body, req->body_len, &order_schema, &b, &req->arena, NULL,
                            &err)) != BX_OK) {
        req->error = err;
        return e;
    }
    struct booking_op *op;
    if ((e = booking_new_op(req, OP_CONFIRM, &op)) != BX_OK) {
        return e;
    }
    if ((e = booking_hold_for_order(req, b.hold_id, op)) != BX_OK) {
        return e;
    }
    op->idem_key = key;
    op->holder_name = holder_name(req);
    bx_idempotency_body_hash(req, op->body_hash);
    bx_req_suspend(req);
    booking_submit(op);
    return BX_OK;
}

struct order_read {
    const char *id;
    struct bx_arena *arena;
    struct bx_db_rows rows;
};

static enum bx_err order_read_tx(struct bx_db_tx *tx, void *arg, struct bx_error *err) {
    struct order_read *o = arg;
    struct bx_db_value p[] = {BX_DB_S(o->id)};
    return bx_db_exec(tx, "SELECT " ORDER_COLUMNS " FROM orders WHERE id = $1", p, 1, o->arena,
                      &o->rows, NULL, err);
}

/* The order if the caller owns it or is an admin; 404 otherwise. */
static enum bx_err order_of_caller(struct bx_req *req, struct order_read *o) {
    o->id = bx_req_param(req, "id");
    o->arena = &req->arena;
    if (!bx_valid_id(o->id)) {
        return bx_req_fail(req, BX_NOT_FOUND, NULL, "No such order.");
    }
    enum bx_err e = booking_tx(req, BX_DB_READ, order_read_tx, o);
    if (e != BX_OK) {
        return e;
    }
    if (o->rows.n_rows == 0 || (strcmp(bx_db_cell(&o->rows, 0, 2)->s, req->claims.sub) != 0 &&
                                req->claims.role != BX_ROLE_ADMIN)) {
        return bx_req_fail(req, BX_NOT_FOUND, NULL, "No such order.");
    }
    return BX_OK;
}

static enum bx_err respond_text(struct bx_req *req, unsigned status, char *body) {
    if (body == NULL) {
        return bx_req_fail(req, BX_INTERNAL, NULL, "out of memory");
    }
    enum bx_err e = bx_respond(req, status, "application/json; charset=utf-8", body, strlen(body));
    free(body);
    return e;
}

enum bx_err orders_get(struct bx_req *req) {
    struct order_read o;
    enum bx_err e = order_of_caller(req, &o);
    return e != BX_OK ? e : respond_text(req, 200, booking_order_json(&o.rows, 0));
}

enum bx_err orders_cancel(struct bx_req *req) {
    struct order_read o;
    enum bx_err e = order_of_caller(req, &o);
    if (e != BX_OK) {
        return e;
    }
    struct booking_op *op;
    if ((e = booking_new_op(req, OP_CANCEL, &op)) != BX_OK) {
        return e;
    }
    op->order_id = o.id;
    bx_strlcpy(op->event_id, bx_db_cell(&o.rows, 0, 3)->s, sizeof op->event_id);
    bx_strlcpy(op->tier_id, bx_db_cell(&o.rows, 0, 4)->s, sizeof op->tier_id);
    bx_req_suspend(req);
    booking_submit(op);
    return BX_OK;
}

struct order_list {
    struct bx_req *req;
    const char *user_id, *event_id, *before;
    int64_t limit;
    struct bx_db_rows rows;
};

static enum bx_err order_list_tx(struct bx_db_tx *tx, void *arg, struct bx_error *err) {
    struct order_list *l = arg;
    struct bx_db_value p[] = {BX_DB_S(l->user_id), BX_DB_S(l->event_id), BX_DB_S(l->before),
                              BX_DB_I(l->limit + 1)};
    return bx_db_exec(tx,
                      "SELECT " ORDER_COLUMNS " FROM orders WHERE"
                      " (CAST($1 AS TEXT) IS NULL OR user_id = $1) AND"
                      " (CAST($2 AS TEXT) IS NULL OR event_id = $2) AND"
                      " (CAST($3 AS TEXT) IS NULL OR id < $3) ORDER BY id DESC LIMIT $4",
                      p, BX_ARRAY_LEN(p), &l->req->arena, &l->rows, NULL, err);
}

/* GET /api/orders?limit&cursor[&event_id]: newest first; a customer's own, an admin's all
 * (admins may narrow to one customer with user_id). */
enum bx_err orders_list(struct bx_req *req) {
    struct order_list l = {.req = req, .limit = BOOKING_LIST_LIMIT_DEF};
    const char *limit = bx_req_query(req, "limit"), *cursor = bx_req_query(req, "cursor");
    if (limit != NULL && bx_parse_i64(limit, 1, BOOKING_LIST_LIMIT_MAX, &l.limit) != 0) {
        return bx_req_fail(req, BX_INVALID_FIELD, "limit", "limit must be an integer 1 to %d.",
                           BOOKING_LIST_LIMIT_MAX);
    }
    if (cursor != NULL) {
        if (strncmp(cursor, "o_", 2) != 0 || !bx_valid_id(cursor + 2)) {
            return bx_req_fail(req, BX_INVALID_FIELD, "cursor", "cursor was not issued here.");
        }
        l.before = cursor + 2;
    }
    l.event_id = bx_req_query(req, "event_id");
    if (l.event_id != NULL && !bx_valid_id(l.event_id)) {
        return bx_req_fail(req, BX_INVALID_FIELD, "event_id", "event_id is not an event id.");
    }
    l.user_id = req->claims.sub;
    if (req->claims.role == BX_ROLE_ADMIN) {
        l.user_id = bx_req_query(req, "user_id");
        if (l.user_id != NULL && !bx_valid_id(l.user_id)) {
            return bx_req_fail(req, BX_INVALID_FIELD, "user_id", "user_id is not a user id.");
        }
    }
    enum bx_err e = booking_tx(req, BX_DB_READ, order_list_tx, &l);
    if (e != BX_OK) {
        return e;
    }
    json_t *items = json_array();
    size_t n = l.rows.n_rows > (size_t)l.limit ? (size_t)l.limit : l.rows.n_rows;
    for (size_t r = 0; r < n; r++) {
        char *text = booking_order_json(&l.rows, r);
        json_t *v = text ? json_loads(text, 0, NULL) : NULL;
        free(text);
        if (v == NULL) {
            json_decref(items);
            return bx_req_fail(req, BX_INTERNAL, NULL, "out of memory");
        }
        json_array_append_new(items, v);
    }
    json_t *next = json_null();
    if (l.rows.n_rows > (size_t)l.limit) {
        char *c = bx_arena_printf(&req->arena, "o_%s", bx_db_cell(&l.rows, n - 1, 0)->s);
        next = c ? json_string(c) : json_null();
    }
    return bx_respond_json(req, 200, json_pack("{s:o,s:o}", "items", items, "next_cursor", next));
}

enum bx_err availability_get(struct bx_req *req) {
    const char *id = bx_req_param(req, "id");
    struct booking_event ev;
    struct booking_tier tiers[BOOKING_TIERS_MAX];
    size_t n = 0;
    struct bx_error err = {0};
    enum bx_err e = booking_event_get(id, &ev, tiers, &n, req->request_id, &err);
    if (e != BX_OK) {
        req->error = err;
        return e;
    }
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        const struct booking_tier *t = &tiers[i];
        int64_t available = t->capacity - t->sold - t->held;
        json_array_append_new(list, json_pack("{s:s,s:I,s:I,s:I,s:I}", "tier_id", t->id, "capacity",
                                              (json_int_t)t->capacity, "sold", (json_int_t)t->sold,
                                              "held", (json_int_t)t->held, "available",
                                              (json_int_t)(available > 0 ? available : 0)));
    }
    bx_resp_header(req, "Cache-Control", "public, max-age=1");
    return bx_respond_json(req, 200, json_pack("{s:s,s:o}", "event_id", id, "tiers", list));
}
