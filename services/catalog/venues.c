// SPDX-License-Identifier: Apache-2.0
// Venues: created by admins (idempotent with Idempotency-Key), listed and read by anyone. A venue
// is immutable once events refer to it, except through a later issue's edit route.
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "boxoffice/base.h"
#include "boxoffice/json.h"
#include "catalog.h"

#define VENUE_COLUMNS "id, name, address, city, country, timezone"

struct venue_body {
    char *name, *address, *city, *country, *timezone;
};

static const struct bx_json_field venue_fields[] = {
    {.name = "name",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct venue_body, name),
     .required = true,
     .min = 1,
     .max = CATALOG_NAME_MAX},
    {.name = "address",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct venue_body, address),
     .required = true,
     .min = 1,
     .max = CATALOG_NAME_MAX},
    {.name = "city",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct venue_body, city),
     .required = true,
     .min = 1,
     .max = 100},
    {.name = "country",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct venue_body, country),
     .required = true,
     .min = 2,
     .max = 2},
    {.name = "timezone",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct venue_body, timezone),
     .required = true,
     .min = 1,
     .max = 64},
};

static const struct bx_json_schema venue_schema = {venue_fields, BX_ARRAY_LEN(venue_fields),
                                                   sizeof(struct venue_body)};

static json_t *venue_json(const struct bx_db_rows *rows, size_t r) {
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "id", bx_db_cell(rows, r, 0)->s, "name",
                     bx_db_cell(rows, r, 1)->s, "address", bx_db_cell(rows, r, 2)->s, "city",
                     bx_db_cell(rows, r, 3)->s, "country", bx_db_cell(rows, r, 4)->s, "timezone",
                     bx_db_cell(rows, r, 5)->s);
}

enum bx_err venue_load(struct bx_db_tx *tx, const char *id, struct bx_arena *arena, json_t **out,
                       struct bx_error *err) {
    struct bx_db_value p[] = {BX_DB_S(id)};
    struct bx_db_rows rows;
    enum bx_err e = bx_db_exec(tx, "SELECT " VENUE_COLUMNS " FROM venues WHERE id = $1", p, 1,
                               arena, &rows, NULL, err);
    if (e != BX_OK) {
        return e;
    }
    if (rows.n_rows == 0) {
        return bx_error_set(err, BX_NOT_FOUND, NULL, "No such venue.");
    }
    *out = venue_json(&rows, 0);
    return BX_OK;
}

struct venue_create {
    struct bx_req *req;
    struct venue_body *b;
    char id[37];
    char *response;
};

static enum bx_err venue_create_tx(struct bx_db_tx *tx, void *arg, struct bx_error *err) {
    struct venue_create *c = arg;
    struct venue_body *b = c->b;
    bx_uuid7(c->id);
    struct bx_db_value p[] = {BX_DB_S(c->id),          BX_DB_S(b->name),    BX_DB_S(b->address),
                              BX_DB_S(b->city),        BX_DB_S(b->country), BX_DB_S(b->timezone),
                              BX_DB_I(bx_now_unix_s())};
    enum bx_err e = bx_db_exec(tx,
                               "INSERT INTO venues (id, name, address, city, country, timezone,"
                               " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                               p, BX_ARRAY_LEN(p), NULL, NULL, NULL, err);
    if (e != BX_OK) {
        return e;
    }
    json_t *v =
        json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "id", c->id, "name", b->name, "address", b->address,
                  "city", b->city, "country", b->country, "timezone", b->timezone);
    c->response = v ? bx_json_dump(v, &c->req->arena, NULL) : NULL;
    json_decref(v);
    if (c->response == NULL) {
        return bx_error_set(err, BX_INTERNAL, NULL, "could not encode the venue");
    }
    return catalog_idempotency_save(tx, c->req, "venues", 201, c->response, err);
}

enum bx_err venues_create(struct bx_req *req) {
    bool replayed;
    enum bx_err e = catalog_idempotency_check(req, "venues", &replayed);
    if (e != BX_OK || replayed) {
        return e;
    }
    struct venue_body b;
    struct bx_error err;
    if ((e = bx_json_decode(req->body, req->body_len, &venue_schema, &b, &req->arena, NULL,
                            &err)) != BX_OK) {
        req->error = err;
        return e;
    }
    for (char *c = b.country; *c; c++) {
        if (*c < 'A' || *c > 'Z') {
            return bx_req_fail(req, BX_INVALID_FIELD, "country",
                               "country must be an ISO 3166-1 alpha-2 code like GB.");
        }
    }
    if (!catalog_valid_timezone(b.timezone)) {
        return bx_req_fail(req, BX_INVALID_FIELD, "timezone",
                           "timezone must be an IANA name like Europe/London.");
    }
    struct venue_create c = {.req = req, .b = &b};
    e = catalog_tx(req, BX_DB_WRITE, venue_create_tx, &c);
    if (e == BX_CONFLICT && bx_req_header(req, "Idempotency-Key") != NULL) {
        req->error.code = BX_OK;
        e = catalog_idempotency_check(req, "venues", &replayed); /* lost a race on the key */
        return e != BX_OK || replayed ? e : bx_req_fail(req, BX_CONFLICT, NULL, NULL);
    }
    if (e != BX_OK) {
        return e;
    }
    catalog_bump();
    return bx_respond(req, 201, "application/json; charset=utf-8", c.response, strlen(c.response));
}

struct venue_list {
    struct bx_req *req;
    const char *after;
    int64_t limit;
    struct bx_db_rows rows;
};

static enum bx_err venue_list_tx(struct bx_db_tx *tx, void *arg, struct bx_error *err) {
    struct venue_list *l = arg;
    struct bx_db_value p[] = {BX_DB_S(l->after), BX_DB_I(l->limit + 1)};
    return bx_db_exec(tx, "SELECT " VENUE_COLUMNS " FROM venues WHERE id > $1 ORDER BY id LIMIT $2",
                      p, 2, &l->req->arena, &l->rows, NULL, err);
}

enum bx_err venues_list(struct bx_req *req) {
    struct venue_list l = {.req = req, .after = "", .limit = CATALOG_LIST_LIMIT_DEFAULT};
    const char *limit = bx_req_query(req, "limit");
    if (limit != NULL && bx_parse_i64(limit, 1, CATALOG_LIST_LIMIT_MAX, &l.limit) != 0) {
        return bx_req_fail(req, BX_INVALID_FIELD, "limit", "limit must be an integer from 1 to %d.",
                           CATALOG_LIST_LIMIT_MAX);
    }
    const char *cursor = bx_req_query(req, "cursor");
    if (cursor != NULL) {
        char *id = bx_arena_alloc(&req->arena, 64);
        size_t n = 0;
        if (id == NULL ||
            bx_base64url_decode((unsigned char *)id, 63, cursor, strlen(cursor), &n) != 0 ||
            n < 4 || memcmp(id, "vn1:", 4) != 0) {
            return bx_req_fail(req, BX_INVALID_FIELD, "cursor", "cursor was not issued here.");
        }
        id[n] = '\0';
        if (!bx_valid_id(id + 4)) {
            return bx_req_fail(req, BX_INVALID_FIELD, "cursor", "cursor was not issued here.");
        }
        l.after = id + 4;
    }
    enum bx_err e = catalog_tx(req, BX_DB_READ, venue_list_tx, &l);
    if (e != BX_OK) {
        return e;
    }
    json_t *items = json_array();
    size_t shown = l.rows.n_rows > (size_t)l.limit ? (size_t)l.limit : l.rows.n_rows;
    for (size_t r = 0; r < shown; r++) {
        json_array_append_new(items, venue_json(&l.rows, r));
    }
    json_t *next = json_null();
    if (l.rows.n_rows > (size_t)l.limit) {
        char raw[64], enc[100];
        int n = snprintf(raw, sizeof raw, "vn1:%s", bx_db_cell(&l.rows, shown - 1, 0)->s);
        sodium_bin2base64(enc, sizeof enc, (const unsigned char *)raw, (size_t)n,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        json_decref(next);
        next = json_string(enc);
    }
    return bx_respond_json(req, 200, json_pack("{s:o,s:o}", "items", items, "next_cursor", next));
}

struct venue_get {
    struct bx_req *req;
    json_t *venue;
};

static enum bx_err venue_get_tx(struct bx_db_tx *tx, void *arg, struct bx_error *err) {
    struct venue_get *g = arg;
    return venue_load(tx, bx_req_param(g->req, "id"), &g->req->arena, &g->venue, err);
}

enum bx_err venues_get(struct bx_req *req) {
    struct venue_get g = {.req = req};
    enum bx_err e = catalog_tx(req, BX_DB_READ, venue_get_tx, &g);
    if (e != BX_OK) {
        return e;
    }
    return bx_respond_json(req, 200, g.venue);
}
