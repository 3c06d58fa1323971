// SPDX-License-Identifier: Apache-2.0
// Edits beyond creation: a venue's details (its events' search text follows), a tier's name,
// price, per-order maximum and capacity, and the change feed booking reads. Capacity may always
// grow; it may shrink freely while the event is a draft (nothing can have been sold), otherwise
// only after booking confirms that sold + held seats fit the new capacity — if booking cannot
// say, the shrink is refused (503), never guessed.
#include <stdio.h>
#include <string.h>

#include "boxoffice/base.h"
#include "boxoffice/httpc.h"
#include "boxoffice/json.h"
#include "boxoffice/log.h"
#include "catalog.h"

#define BOOKING_TIMEOUT_MS 3000
#define CHANGES_MAX        500

struct venue_patch {
    char *name, *address, *city, *country, *timezone;
};

static const struct bx_json_field venue_patch_fields[] = {
    {.name = "name",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct venue_patch, name),
     .min = 1,
     .max = CATALOG_NAME_MAX},
    {.name = "address",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct venue_patch, address),
     .min = 1,
     .max = CATALOG_NAME_MAX},
    {.name = "city",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct venue_patch, city),
     .min = 1,
     .max = 100},
    {.name = "country",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct venue_patch, country),
     .min = 2,
     .max = 2},
    {.name = "timezone",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct venue_patch, timezone),
     .min = 1,
     .max = 64},
};

static const struct bx_json_schema venue_patch_schema = {
    venue_patch_fields, BX_ARRAY_LEN(venue_patch_fields), sizeof(struct venue_patch)};

struct venue_edit {
    struct bx_req *req;
    struct venue_patch *b;
    json_t *venue;
};

static enum bx_err venue_edit_tx(struct bx_db_tx *tx, void *arg, struct bx_error *err) {
    struct venue_edit *v = arg;
    const char *id = bx_req_param(v->req, "id");
    json_t *cur = NULL;
    enum bx_err e = venue_load(tx, id, &v->req->arena, &cur, err);
    if (e != BX_OK) {
        return e;
    }
    struct venue_patch *b = v->b;
#define OR(field) (b->field ? b->field : json_string_value(json_object_get(cur, #field)))
    struct bx_db_value p[] = {BX_DB_S(OR(name)),    BX_DB_S(OR(address)),  BX_DB_S(OR(city)),
                              BX_DB_S(OR(country)), BX_DB_S(OR(timezone)), BX_DB_S(id)};
#undef OR
    e = bx_db_exec(tx,
                   "UPDATE venues SET name = $1, address = $2, city = $3, country = $4,"
                   " timezone = $5 WHERE id = $6",
                   p, BX_ARRAY_LEN(p), NULL, NULL, NULL, err);
    if (e == BX_OK) {
        struct bx_db_value q[] = {p[0], p[2], BX_DB_S(id)};
        e = bx_db_exec(tx,
                       "UPDATE events SET search = lower(title || ' ' || $1 || ' ' || $2)"
                       " WHERE venue_id = $3",
                       q, BX_ARRAY_LEN(q), NULL, NULL, NULL, err);
    }
    json_decref(cur);
    return e == BX_OK ? venue_load(tx, id, &v->req->arena, &v->venue, err) : e;
}

enum bx_err venues_patch(struct bx_req *req) {
    struct venue_patch b;
    struct bx_error err;
    enum bx_err e =
        bx_json_decode(req->body, req->body_len, &venue_patch_schema, &b, &req->arena, NULL, &err);
    if (e != BX_OK) {
        req->error = err;
        return e;
    }
    if (b.country != NULL && !(b.country[0] >= 'A' && b.country[0] <= 'Z' && b.country[1] >= 'A' &&
                               b.country[1] <= 'Z')) {
        return bx_req_fail(req, BX_INVALID_FIELD, "country",
                           "country must be an ISO 3166-1 alpha-2 code like GB.");
    }
    if (b.timezone != NULL && !catalog_valid_timezone(b.timezone)) {
        return bx_req_fail(req, BX_INVALID_FIELD, "timezone",
                           "timezone must be an IANA name like Europe/London.");
    }
    struct venue_edit v = {.req = req, .b = &b};
    if ((e = catalog_tx(req, BX_DB_WRITE, venue_edit_tx, &v)) != BX_OK) {
        return e;
    }
    catalog_bump();
    return bx_respond_json(req, 200, v.venue);
}

struct tier_patch {
    char *name, *currency;
    int64_t price_cents, capacity, max_per_order;
};

enum { T_NAME, T_PRICE, T_CURRENCY, T_CAPACITY, T_PER_ORDER };

static const struct bx_json_field tier_patch_fields[] = {
    [T_NAME] = {.name = "name",
                .kind = BX_JSON_STRING,
                .offset = offsetof(struct tier_patch, name),
                .min = 1,
                .max = 100},
    [T_PRICE] = {.name = "price_cents",
                 .kind = BX_JSON_INT,
                 .offset = offsetof(struct tier_patch, price_cents),
                 .min = 0,
                 .max = CATALOG_PRICE_MAX},
    [T_CURRENCY] = {.name = "currency",
                    .kind = BX_JSON_STRING,
                    .offset = offsetof(struct tier_patch, currency),
                    .min = 3,
                    .max = 3},
    [T_CAPACITY] = {.name = "capacity",
                    .kind = BX_JSON_INT,
                    .offset = offsetof(struct tier_patch, capacity),
                    .min = 1,
                    .max = CATALOG_CAPACITY_MAX},
    [T_PER_ORDER] = {.name = "max_per_order",
                     .kind = BX_JSON_INT,
                     .offset = offsetof(struct tier_patch, max_per_order),
                     .min = 1,
                     .max = CATALOG_PER_ORDER_MAX},
};

static const struct bx_json_schema tier_patch_schema = {
    tier_patch_fields, BX_ARRAY_LEN(tier_patch_fields), sizeof(struct tier_patch)};

/* Seats of a tier that booking counts as sold or held; BX_UNAVAILABLE when it cannot tell. */
static enum bx_err booked_seats(struct bx_req *req, const char *event_id, const char *tier_id,
                                int64_t *out) {
    char *url = bx_arena_printf(&req->arena, "%s/api/events/%s/availability", catalog.booking_url,
                                event_id);
    char rid[BX_REQUEST_ID_MAX + 16];
    snprintf(rid, sizeof rid, "X-Request-Id: %s", req->request_id);
    const char *headers[] = {rid, NULL};
    struct bx_httpc_request hr = {.method = "GET",
                                  .url = url,
                                  .headers = headers,
                                  .timeout_ms = BOOKING_TIMEOUT_MS,
                                  .max_attempts = 2};
    struct bx_httpc_response resp;
    enum bx_err e = url ? bx_httpc_do(&hr, &resp) : BX_INTERNAL;
    if (e != BX_OK) {
        return BX_UNAVAILABLE;
    }
    e = BX_UNAVAILABLE;
    json_t *doc = resp.status == 200 ? json_loadb(resp.body, resp.body_len, 0, NULL) : NULL;
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(doc, "tiers"), i, t) {
        const char *id = json_string_value(json_object_get(t, "tier_id"));
        json_t *sold = json_object_get(t, "sold"), *held = json_object_get(t, "held");
        if (id != NULL && strcmp(id, tier_id) == 0 && json_is_integer(sold) &&
            json_is_integer(held)) {
            *out = (int64_t)(json_integer_value(sold) + json_integer_value(held));
            e = BX_OK;
        }
    }
    json_decref(doc);
    bx_httpc_response_free(&resp);
    return e;
}

struct tier_edit {
    struct bx_req *req;
    struct tier_patch *b;
    struct bx_json_result res;
    int64_t booked; /* -1: not asked */
    bool need_booking;
    json_t *tier;
};

static enum bx_err tier_edit_tx(struct bx_db_tx *tx, void *arg, struct bx_error *err) {
    struct tier_edit *te = arg;
    const char *event_id = bx_req_param(te->req, "id"), *tier_id = bx_req_param(te->req, "tier_id");
    struct bx_db_value k[] = {BX_DB_S(tier_id), BX_DB_S(event_id)};
    struct bx_db_rows rows;
    enum bx_err e = bx_db_exec(tx,
                               "SELECT t.name, t.price_cents, t.currency, t.capacity,"
                               " t.max_per_order, e.status FROM tiers t JOIN events e ON"
                               " e.id = t.event_id WHERE t.id = $1 AND t.event_id = $2",
                               k, 2, &te->req->arena, &rows, NULL, err);
    if (e != BX_OK) {
        return e;
    }
    if (rows.n_rows == 0) {
        return bx_error_set(err, BX_NOT_FOUND, NULL, "No such tier.");
    }
    struct tier_patch *b = te->b;
    uint64_t has = te->res.present;
    const char *name = (has & BX_JSON_BIT(T_NAME)) ? b->name : bx_db_cell(&rows, 0, 0)->s;
    int64_t price = (has & BX_JSON_BIT(T_PRICE)) ? b->price_cents : bx_db_cell(&rows, 0, 1)->i;
    const char *cur = (has & BX_JSON_BIT(T_CURRENCY)) ? b->currency : bx_db_cell(&rows, 0, 2)->s;
    int64_t old_cap = bx_db_cell(&rows, 0, 3)->i;
    int64_t cap = (has & BX_JSON_BIT(T_CAPACITY)) ? b->capacity : old_cap;
    int64_t per = (has & BX_JSON_BIT(T_PER_ORDER)) ? b->max_per_order : bx_db_cell(&rows, 0, 4)->i;
    bool draft = strcmp(bx_db_cell(&rows, 0, 5)->s, "draft") == 0;
    if (cap < old_cap && !draft) {
        if (te->booked < 0) {
            te->need_booking = true; /* ask booking outside the transaction, then rerun */
            return bx_error_set(err, BX_UNAVAILABLE, NULL, "booking must be asked");
        }
        if (te->booked > cap) {
            return bx_error_set(err, BX_CONFLICT, "capacity",
                                "%lld seats are sold or held; capacity cannot go below that.",
                                (long long)te->booked);
        }
    }
    struct bx_db_value p[] = {BX_DB_S(name), BX_DB_I(price), BX_DB_S(cur),
                              BX_DB_I(cap),  BX_DB_I(per),   BX_DB_S(tier_id)};
    e = bx_db_exec(tx,
                   "UPDATE tiers SET name = $1, price_cents = $2, currency = $3, capacity = $4,"
                   " max_per_order = $5 WHERE id = $6",
                   p, BX_ARRAY_LEN(p), NULL, NULL, NULL, err);
    if (e == BX_OK) {
        e = catalog_change(tx, event_id, "tier", err);
    }
    if (e == BX_OK) {
        te->tier = json_pack("{s:s,s:s,s:I,s:s,s:I,s:I}", "id", tier_id, "name", name,
                             "price_cents", (json_int_t)price, "currency", cur, "capacity",
                             (json_int_t)cap, "max_per_order", (json_int_t)per);
    }
    return e;
}

enum bx_err events_edit_tier(struct bx_req *req) {
    struct tier_patch b;
    struct tier_edit te = {.req = req, .b = &b, .booked = -1};
    struct bx_error err;
    enum bx_err e = bx_json_decode(req->body, req->body_len, &tier_patch_schema, &b, &req->arena,
                                   &te.res, &err);
    if (e != BX_OK) {
        req->error = err;
        return e;
    }
    if (b.currency != NULL && !catalog_valid_currency(b.currency)) {
        return bx_req_fail(req, BX_INVALID_FIELD, "currency",
                           "currency must be three upper-case letters (ISO 4217).");
    }
    e = catalog_tx(req, BX_DB_WRITE, tier_edit_tx, &te);
    if (e == BX_UNAVAILABLE && te.need_booking) {
        int64_t booked = 0;
        if (booked_seats(req, bx_req_param(req, "id"), bx_req_param(req, "tier_id"), &booked) !=
            BX_OK) {
            return bx_req_fail(req, BX_UNAVAILABLE, NULL,
                               "Booking cannot say how many seats are sold; the capacity of a "
                               "tier on sale cannot shrink until it can.");
        }
        /* booking may sell more between its answer and this write: it enforces the capacity it
         * learns itself, so the worst case is a shrink refused later, never an oversell */
        te.booked = booked;
        req->error.code = BX_OK;
        e = catalog_tx(req, BX_DB_WRITE, tier_edit_tx, &te);
    }
    if (e != BX_OK) {
        return e;
    }
    catalog_bump();
    return bx_respond_json(req, 200, te.tier);
}

struct changes {
    struct bx_req *req;
    int64_t after;
    struct bx_db_rows rows;
};

static enum bx_err changes_tx(struct bx_db_tx *tx, void *arg, struct bx_error *err) {
    struct changes *c = arg;
    struct bx_db_value p[] = {BX_DB_I(c->after), BX_DB_I(CHANGES_MAX)};
    return bx_db_exec(tx,
                      "SELECT seq, event_id, kind, at FROM changes WHERE seq > $1 ORDER BY seq"
                      " LIMIT $2",
                      p, 2, &c->req->arena, &c->rows, NULL, err);
}

/* GET /api/events/changes?after=N: what booking must learn (publish, cancel, tier edits), in
 * order, at most CHANGES_MAX at a time; next_after is where to continue. */
enum bx_err events_changes(struct bx_req *req) {
    struct changes c = {.req = req};
    const char *after = bx_req_query(req, "after");
    if (after != NULL && bx_parse_i64(after, 0, INT64_MAX, &c.after) != 0) {
        return bx_req_fail(req, BX_INVALID_FIELD, "after", "after must be a sequence number.");
    }
    enum bx_err e = catalog_tx(req, BX_DB_READ, changes_tx, &c);
    if (e != BX_OK) {
        return e;
    }
    json_t *items = json_array();
    int64_t next = c.after;
    for (size_t r = 0; r < c.rows.n_rows; r++) {
        char at[21];
        bx_format_rfc3339(bx_db_cell(&c.rows, r, 3)->i, at);
        next = bx_db_cell(&c.rows, r, 0)->i;
        json_array_append_new(items, json_pack("{s:I,s:s,s:s,s:s}", "seq", (json_int_t)next,
                                               "event_id", bx_db_cell(&c.rows, r, 1)->s, "kind",
                                               bx_db_cell(&c.rows, r, 2)->s, "at", at));
    }
    return bx_respond_json(req, 200,
                           json_pack("{s:o,s:I}", "items", items, "next_after", (json_int_t)next));
}
