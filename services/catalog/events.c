// SPDX-License-Identifier: Apache-2.0
// Events and their ticket tiers. Admins create events as drafts (with at least one tier), edit,
// add tiers, publish and cancel; anyone lists and reads published (and cancelled) events, drafts
// only admins. Lists are ordered by (starts_at, id) with an opaque cursor of the last row, which
// stays stable when events are inserted; responses carry an ETag and honour If-None-Match.
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "boxoffice/base.h"
#include "boxoffice/json.h"
#include "boxoffice/log.h"
#include "catalog.h"

#define EVENT_COLUMNS                                                                              \
    "e.id, e.title, e.description, e.category, e.venue_id, e.starts_at, e.ends_at,"                \
    " e.sales_start, e.sales_end, e.image_url, e.max_tickets_per_user, e.status,"                  \
    " v.id, v.name, v.address, v.city, v.country, v.timezone"
#define TIER_COLUMNS     "id, name, price_cents, currency, capacity, max_per_order"
#define SEARCH_MAX_BYTES 1024
#define QUERY_MAX        100

struct tier_body {
    char *name, *currency;
    int64_t price_cents, capacity, max_per_order;
};

static const struct bx_json_field tier_fields[] = {
    {.name = "name",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct tier_body, name),
     .required = true,
     .min = 1,
     .max = 100},
    {.name = "price_cents",
     .kind = BX_JSON_INT,
     .offset = offsetof(struct tier_body, price_cents),
     .required = true,
     .min = 0,
     .max = CATALOG_PRICE_MAX},
    {.name = "currency",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct tier_body, currency),
     .required = true,
     .min = 3,
     .max = 3},
    {.name = "capacity",
     .kind = BX_JSON_INT,
     .offset = offsetof(struct tier_body, capacity),
     .required = true,
     .min = 1,
     .max = CATALOG_CAPACITY_MAX},
    {.name = "max_per_order",
     .kind = BX_JSON_INT,
     .offset = offsetof(struct tier_body, max_per_order),
     .min = 1,
     .max = CATALOG_PER_ORDER_MAX},
};

static const struct bx_json_schema tier_schema = {tier_fields, BX_ARRAY_LEN(tier_fields),
                                                  sizeof(struct tier_body)};

struct event_body {
    char *title, *description, *category, *venue_id, *image_url;
    int64_t starts_at, ends_at, sales_start, sales_end, max_tickets_per_user;
    struct tier_body *tiers;
    size_t n_tiers;
};

enum {
    F_TITLE,
    F_DESCRIPTION,
    F_CATEGORY,
    F_VENUE,
    F_STARTS,
    F_ENDS,
    F_SALES_START,
    F_SALES_END,
    F_IMAGE,
    F_MAX_PER_USER,
    F_TIERS
};

#define EVENT_FIELDS(tiers_required)                                                               \
    {.name = "title",                                                                              \
     .kind = BX_JSON_STRING,                                                                       \
     .offset = offsetof(struct event_body, title),                                                 \
     .required = tiers_required,                                                                   \
     .min = 1,                                                                                     \
     .max = CATALOG_NAME_MAX},                                                                     \
        {.name = "description",                                                                    \
         .kind = BX_JSON_STRING,                                                                   \
         .offset = offsetof(struct event_body, description),                                       \
         .nullable = true,                                                                         \
         .min = 0,                                                                                 \
         .max = CATALOG_TEXT_MAX},                                                                 \
        {.name = "category",                                                                       \
         .kind = BX_JSON_STRING,                                                                   \
         .offset = offsetof(struct event_body, category),                                          \
         .required = tiers_required,                                                               \
         .min = 1,                                                                                 \
         .max = CATALOG_CATEGORY_MAX},                                                             \
        {.name = "venue_id",                                                                       \
         .kind = BX_JSON_STRING,                                                                   \
         .offset = offsetof(struct event_body, venue_id),                                          \
         .required = tiers_required,                                                               \
         .min = 1,                                                                                 \
         .max = 64},                                                                               \
        {.name = "starts_at",                                                                      \
         .kind = BX_JSON_TIME,                                                                     \
         .offset = offsetof(struct event_body, starts_at),                                         \
         .required = tiers_required},                                                              \
        {.name = "ends_at",                                                                        \
         .kind = BX_JSON_TIME,                                                                     \
         .offset = offsetof(struct event_body, ends_at),                                           \
         .required = tiers_required},                                                              \
        {.name = "sales_start",                                                                    \
         .kind = BX_JSON_TIME,                                                                     \
         .offset = offsetof(struct event_body, sales_start),                                       \
         .nullable = true},                                                                        \
        {.name = "sales_end",                                                                      \
         .kind = BX_JSON_TIME,                                                                     \
         .offset = offsetof(struct event_body, sales_end),                                         \
         .nullable = true},                                                                        \
        {.name = "image_url",                                                                      \
         .kind = BX_JSON_STRING,                                                                   \
         .offset = offsetof(struct event_body, image_url),                                         \
         .nullable = true,                                                                         \
         .min = 1,                                                                                 \
         .max = CATALOG_URL_MAX},                                                                  \
    {                                                                                              \
        .name = "max_tickets_per_user", .kind = BX_JSON_INT,                                       \
        .offset = offsetof(struct event_body, max_tickets_per_user), .nullable = true, .min = 1,   \
        .max = CATALOG_TICKETS_PER_USER_MAX                                                        \
    }

static const struct bx_json_field create_fields[] = {
    EVENT_FIELDS(true),
    {.name = "tiers",
     .kind = BX_JSON_ARRAY,
     .offset = offsetof(struct event_body, tiers),
     .count_offset = offsetof(struct event_body, n_tiers),
     .required = true,
     .min = 1,
     .max = CATALOG_TIERS_MAX,
     .items = &tier_schema},
};

static const struct bx_json_field patch_fields[] = {EVENT_FIELDS(false)};

static const struct bx_json_schema create_schema = {create_fields, BX_ARRAY_LEN(create_fields),
                                                    sizeof(struct event_body)};
static const struct bx_json_schema patch_schema = {patch_fields, BX_ARRAY_LEN(patch_fields),
                                                   sizeof(struct event_body)};

static json_t *time_or_null(const struct bx_db_value *v) {
    if (v->type != BX_DB_INT) {
        return json_null();
    }
    char buf[21];
    bx_format_rfc3339(v->i, buf);
    return json_string(buf);
}

static json_t *text_or_null(const struct bx_db_value *v) {
    return v->type == BX_DB_TEXT ? json_string(v->s) : json_null();
}

static json_t *tier_json(const struct bx_db_rows *t, size_t r) {
    return json_pack("{s:s,s:s,s:I,s:s,s:I,s:I}", "id", bx_db_cell(t, r, 0)->s, "name",
                     bx_db_cell(t, r, 1)->s, "price_cents", (json_int_t)bx_db_cell(t, r, 2)->i,
                     "currency", bx_db_cell(t, r, 3)->s, "capacity",
                     (json_int_t)bx_db_cell(t, r, 4)->i, "max_per_order",
                     (json_int_t)bx_db_cell(t, r, 5)->i);
}

/* Event row r (EVENT_COLUMNS) plus its tiers, as the API's Event. */
static enum bx_err event_json(struct bx_db_tx *tx, const struct bx_db_rows *e, size_t r,
                              struct bx_arena *arena, json_t **out, struct bx_error *err) {
    struct bx_db_value p[] = {BX_DB_S(bx_db_cell(e, r, 0)->s)};
    struct bx_db_rows t;
    enum bx_err rc = bx_db_exec(tx,
                                "SELECT " TIER_COLUMNS " FROM tiers WHERE event_id = $1"
                                " ORDER BY position, id",
                                p, 1, arena, &t, NULL, err);
    if (rc != BX_OK) {
        return rc;
    }
    json_t *tiers = json_array();
    for (size_t i = 0; i < t.n_rows; i++) {
        json_array_append_new(tiers, tier_json(&t, i));
    }
    char starts[21], ends[21];
    bx_format_rfc3339(bx_db_cell(e, r, 5)->i, starts);
    bx_format_rfc3339(bx_db_cell(e, r, 6)->i, ends);
    const struct bx_db_value *cap = bx_db_cell(e, r, 10);
    json_t *venue = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "id", bx_db_cell(e, r, 12)->s, "name",
                              bx_db_cell(e, r, 13)->s, "address", bx_db_cell(e, r, 14)->s, "city",
                              bx_db_cell(e, r, 15)->s, "country", bx_db_cell(e, r, 16)->s,
                              "timezone", bx_db_cell(e, r, 17)->s);
    *out = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:o,s:s,s:s,s:o,s:o,s:o,s:o,s:s,s:o}", "id", bx_db_cell(e, r, 0)->s,
        "title", bx_db_cell(e, r, 1)->s, "description", bx_db_cell(e, r, 2)->s, "category",
        bx_db_cell(e, r, 3)->s, "venue_id", bx_db_cell(e, r, 4)->s, "venue", venue, "starts_at",
        starts, "ends_at", ends, "sales_start", time_or_null(bx_db_cell(e, r, 7)), "sales_end",
        time_or_null(bx_db_cell(e, r, 8)), "image_url", text_or_null(bx_db_cell(e, r, 9)),
        "max_tickets_per_user", cap->type == BX_DB_INT ? json_integer(cap->i) : json_null(),
        "status", bx_db_cell(e, r, 11)->s, "tiers", tiers);
    return *out ? BX_OK : bx_error_set(err, BX_INTERNAL, NULL, "could not encode the event");
}

static enum bx_err event_row(struct bx_db_tx *tx, const char *id, struct bx_arena *arena,
                             struct bx_db_rows *rows, struct bx_error *err) {
    struct bx_db_value p[] = {BX_DB_S(id)};
    enum bx_err e = bx_db_exec(tx,
                               "SELECT " EVENT_COLUMNS " FROM events e JOIN venues v ON"
                               " v.id = e.venue_id WHERE e.id = $1",
                               p, 1, arena, rows, NULL, err);
    if (e == BX_OK && rows->n_rows == 0) {
        return bx_error_set(err, BX_NOT_FOUND, NULL, "No such event.");
    }
    return e;
}

static void lower_into(char *out, size_t size, const char *a, const char *b, const char *c) {
    snprintf(out, size, "%s %s %s", a, b, c);
    for (char *p = out; *p; p++) {
        if (*p >= 'A' && *p <= 'Z') {
            *p = (char)(*p + 32);
        }
    }
}

/* Cross-field checks shared by create and patch (on the merged event). */
static enum bx_err check_event(struct bx_req *req, const struct event_body *b, bool has_sales_start,
                               bool has_sales_end) {
    if (b->ends_at <= b->starts_at) {
        return bx_req_fail(req, BX_INVALID_FIELD, "ends_at", "ends_at must be after starts_at.");
    }
    if (has_sales_start && has_sales_end && b->sales_end <= b->sales_start) {
        return bx_req_fail(req, BX_INVALID_FIELD, "sales_end",
                           "sales_end must be after sales_start.");
    }
    if (has_sales_end && b->sales_end > b->ends_at) {
        return bx_req_fail(req, BX_INVALID_FIELD, "sales_end",
                           "sales_end must not be after the event ends.");
    }
    if (b->image_url != NULL && strncmp(b->image_url, "https://", 8) != 0 &&
        strncmp(b->image_url, "http://", 7) != 0) {
        return bx_req_fail(req, BX_INVALID_FIELD, "image_url", "image_url must be an http(s) URL.");
    }
    return BX_OK;
}

static enum bx_err check_tier(struct bx_req *req, const struct tier_body *t, const char *prefix) {
    if (!catalog_valid_currency(t->currency)) {
        char field[64];
        snprintf(field, sizeof field, "%scurrency", prefix);
        return bx_req_fail(req, BX_INVALID_FIELD, field,
                           "currency must be three upper-case letters (ISO 4217).");
    }
    return BX_OK;
}

static enum bx_err insert_tier(struct bx_db_tx *tx, const char *event_id, const struct tier_body *t,
                               int64_t position, char id[37], struct bx_error *err) {
    bx_uuid7(id);
    struct bx_db_value p[] = {BX_DB_S(id),
                              BX_DB_S(event_id),
                              BX_DB_S(t->name),
                              BX_DB_I(t->price_cents),
                              BX_DB_S(t->currency),
                              BX_DB_I(t->capacity),
                              BX_DB_I(t->max_per_order ? t->max_per_order : 10),
                              BX_DB_I(position)};
    return bx_db_exec(tx,
                      "INSERT INTO tiers (id, event_id, name, price_cents, currency, capacity,"
                      " max_per_order, position) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                      p, BX_ARRAY_LEN(p), NULL, NULL, NULL, err);
}

struct event_write {
    struct bx_req *req;
    struct event_body *b;
    struct bx_json_result res;
    const char *id;
    char new_id[37];
    char *response;
    json_t *event;
};

static struct bx_db_value opt_time(const struct event_write *w, int bit, int64_t v) {
    return (w->res.present & BX_JSON_BIT(bit)) && !(w->res.nulls & BX_JSON_BIT(bit)) ? BX_DB_I(v)
                                                                                     : BX_DB_NIL;
}

static enum bx_err event_create_tx(struct bx_db_tx *tx, void *arg, struct bx_error *err) {
    struct event_write *w = arg;
    struct event_body *b = w->b;
    json_t *venue = NULL;
    enum bx_err e = venue_load(tx, b->venue_id, &w->req->arena, &venue, err);
    if (e == BX_NOT_FOUND) {
        return bx_error_set(err, BX_INVALID_FIELD, "venue_id", "venue_id names no venue.");
    }
    if (e != BX_OK) {
        return e;
    }
    char search[SEARCH_MAX_BYTES];
    lower_into(search, sizeof search, b->title, json_string_value(json_object_get(venue, "name")),
               json_string_value(json_object_get(venue, "city")));
    json_decref(venue);
    bx_uuid7(w->new_id);
    int64_t now = bx_now_unix_s();
    struct bx_db_value p[] = {BX_DB_S(w->new_id),
                              BX_DB_S(b->title),
                              BX_DB_S(b->description ? b->description : ""),
                              BX_DB_S(b->category),
                              BX_DB_S(b->venue_id),
                              BX_DB_I(b->starts_at),
                              BX_DB_I(b->ends_at),
                              opt_time(w, F_SALES_START, b->sales_start),
                              opt_time(w, F_SALES_END, b->sales_end),
                              BX_DB_S(b->image_url),
                              opt_time(w, F_MAX_PER_USER, b->max_tickets_per_user),
                              BX_DB_S(search),
                              BX_DB_I(now)};
    e = bx_db_exec(tx,
                   "INSERT INTO events (id, title, description, category, venue_id, starts_at,"
                   " ends_at, sales_start, sales_end, image_url, max_tickets_per_user, status,"
                   " search, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
                   " $9, $10, $11, 'draft', $12, $13, $13)",
                   p, BX_ARRAY_LEN(p), NULL, NULL, NULL, err);
    for (size_t i = 0; e == BX_OK && i < b->n_tiers; i++) {
        char tid[37];
        e = insert_tier(tx, w->new_id, &b->tiers[i], (int64_t)i, tid, err);
    }
    struct bx_db_rows rows;
    if (e == BX_OK && (e = event_row(tx, w->new_id, &w->req->arena, &rows, err)) == BX_OK &&
        (e = event_json(tx, &rows, 0, &w->req->arena, &w->event, err)) == BX_OK) {
        w->response = bx_json_dump(w->event, &w->req->arena, NULL);
        json_decref(w->event);
        w->event = NULL;
        e = w->response ? catalog_idempotency_save(tx, w->req, "events", 201, w->response, err)
                        : bx_error_set(err, BX_INTERNAL, NULL, "could not encode the event");
    }
    return e;
}

enum bx_err events_create(struct bx_req *req) {
    bool replayed;
    enum bx_err e = catalog_idempotency_check(req, "events", &replayed);
    if (e != BX_OK || replayed) {
        return e;
    }
    struct event_body b;
    struct event_write w = {.req = req, .b = &b};
    struct bx_error err;
    if ((e = bx_json_decode(req->body, req->body_len, &create_schema, &b, &req->arena, &w.res,
                            &err)) != BX_OK) {
        req->error = err;
        return e;
    }
    bool ss =
        (w.res.present & BX_JSON_BIT(F_SALES_START)) && !(w.res.nulls & BX_JSON_BIT(F_SALES_START));
    bool se =
        (w.res.present & BX_JSON_BIT(F_SALES_END)) && !(w.res.nulls & BX_JSON_BIT(F_SALES_END));
    if ((e = check_event(req, &b, ss, se)) != BX_OK) {
        return e;
    }
    for (size_t i = 0; i < b.n_tiers; i++) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "tiers[%zu].", i);
        if ((e = check_tier(req, &b.tiers[i], prefix)) != BX_OK) {
            return e;
        }
    }
    e = catalog_tx(req, BX_DB_WRITE, event_create_tx, &w);
    if (e == BX_CONFLICT && bx_req_header(req, "Idempotency-Key") != NULL) {
        req->error.code = BX_OK;
        e = catalog_idempotency_check(req, "events", &replayed);
        return e != BX_OK || replayed ? e : bx_req_fail(req, BX_CONFLICT, NULL, NULL);
    }
    if (e != BX_OK) {
        return e;
    }
    catalog_bump();
    bx_log(BX_LOG_INFO, req->request_id, "event %s created by %s", w.new_id, req->claims.sub);
    return bx_respond(req, 201, "application/json; charset=utf-8", w.response, strlen(w.response));
}

struct event_get {
    struct bx_req *req;
    const char *id;
    json_t *event;
    const char *status;
};

static enum bx_err event_get_tx(struct bx_db_tx *tx, void *arg, struct bx_error *err) {
    struct event_get *g = arg;
    struct bx_db_rows rows;
    enum bx_err e = event_row(tx, g->id, &g->req->arena, &rows, err);
    if (e == BX_OK) {
        g->status = bx_db_cell(&rows, 0, 11)->s;
        e = event_json(tx, &rows, 0, &g->req->arena, &g->event, err);
    }
    return e;
}

static bool is_admin(const struct bx_req *req) {
    return req->authenticated && req->claims.role == BX_ROLE_ADMIN;
}

enum bx_err events_get(struct bx_req *req) {
    char etag[40];
    if (!catalog_cache_get(req, req->raw_uri, etag)) {
        uint64_t generation = catalog_generation();
        struct event_get g = {.req = req, .id = bx_req_param(req, "id")};
        enum bx_err e = catalog_tx(req, BX_DB_READ, event_get_tx, &g);
        if (e != BX_OK) {
            return e;
        }
        bool draft = strcmp(g.status, "draft") == 0;
        if (draft && !is_admin(req)) {
            json_decref(g.event);
            return bx_req_fail(req, BX_NOT_FOUND, NULL, "No such event.");
        }
        if ((e = bx_respond_json(req, 200, g.event)) != BX_OK) {
            return e;
        }
        catalog_etag(req->resp_body, req->resp_len, etag);
        if (!draft) { /* only what anyone may see goes into the shared cache */
            catalog_cache_put(req->raw_uri, req->resp_body, req->resp_len, etag, generation);
        }
    }
    bx_resp_header(req, "ETag", etag);
    const char *inm = bx_req_header(req, "If-None-Match");
    if (inm != NULL && strstr(inm, etag) != NULL) {
        return bx_respond(req, 304, NULL, "", 0);
    }
    return BX_OK;
}

/* Sets status from one of `from` (comma list) to `to`; 409 otherwise. */
struct transition {
    struct bx_req *req;
    const char *id, *to;
    json_t *event;
};

static enum bx_err transition_tx(struct bx_db_tx *tx, void *arg, struct bx_error *err) {
    struct transition *t = arg;
    struct bx_db_rows rows;
    enum bx_err e = event_row(tx, t->id, &t->req->arena, &rows, err);
    if (e != BX_OK) {
        return e;
    }
    const char *status = bx_db_cell(&rows, 0, 11)->s;
    if (strcmp(status, t->to) != 0) {
        if (strcmp(status, "cancelled") == 0) {
            return bx_error_set(err, BX_CONFLICT, NULL, "The event is cancelled.");
        }
        if (strcmp(t->to, "published") == 0) {
            struct bx_db_value p[] = {BX_DB_S(t->id)};
            struct bx_db_rows n;
            e = bx_db_exec(tx, "SELECT COUNT(*) FROM tiers WHERE event_id = $1", p, 1,
                           &t->req->arena, &n, NULL, err);
            if (e == BX_OK && bx_db_cell(&n, 0, 0)->i == 0) {
                return bx_error_set(err, BX_CONFLICT, NULL, "An event needs a tier to go on sale.");
            }
        }
        struct bx_db_value p[] = {BX_DB_S(t->to), BX_DB_I(bx_now_unix_s()), BX_DB_S(t->id)};
        if (e == BX_OK) {
            e = bx_db_exec(tx, "UPDATE events SET status = $1, updated_at = $2 WHERE id = $3", p, 3,
                           NULL, NULL, NULL, err);
        }
        if (e == BX_OK) {
            e = catalog_change(tx, t->id, t->to, err);
        }
        if (e == BX_OK) {
            e = event_row(tx, t->id, &t->req->arena, &rows, err);
        }
    }
    return e == BX_OK ? event_json(tx, &rows, 0, &t->req->arena, &t->event, err) : e;
}

static enum bx_err transition(struct bx_req *req, const char *to) {
    struct transition t = {.req = req, .id = bx_req_param(req, "id"), .to = to};
    enum bx_err e = catalog_tx(req, BX_DB_WRITE, transition_tx, &t);
    if (e != BX_OK) {
        return e;
    }
    catalog_bump();
    bx_log(BX_LOG_INFO, req->request_id, "event %s %s by %s", t.id, to, req->claims.sub);
    return bx_respond_json(req, 200, t.event);
}

enum bx_err events_publish(struct bx_req *req) {
    return transition(req, "published");
}

enum bx_err events_cancel(struct bx_req *req) {
    return transition(req, "cancelled");
}

struct tier_add {
    struct bx_req *req;
    struct tier_body *t;
    const char *event_id;
    char id[37];
    char *response;
    const char *scope;
};

static enum bx_err tier_add_tx(struct bx_db_tx *tx, void *arg, struct bx_error *err) {
    struct tier_add *a = arg;
    struct bx_db_rows rows;
    enum bx_err e = event_row(tx, a->event_id, &a->req->arena, &rows, err);
    if (e != BX_OK) {
        return e;
    }
    if (strcmp(bx_db_cell(&rows, 0, 11)->s, "cancelled") == 0) {
        return bx_error_set(err, BX_CONFLICT, NULL, "The event is cancelled.");
    }
    struct bx_db_value p[] = {BX_DB_S(a->event_id)};
    struct bx_db_rows n;
    if ((e = bx_db_exec(tx, "SELECT COUNT(*) FROM tiers WHERE event_id = $1", p, 1, &a->req->arena,
                        &n, NULL, err)) != BX_OK) {
        return e;
    }
    if (bx_db_cell(&n, 0, 0)->i >= CATALOG_TIERS_MAX) {
        return bx_error_set(err, BX_LIMIT_EXCEEDED, "tiers", "An event has at most %d tiers.",
                            CATALOG_TIERS_MAX);
    }
    if ((e = insert_tier(tx, a->event_id, a->t, bx_db_cell(&n, 0, 0)->i, a->id, err)) != BX_OK ||
        (e = catalog_change(tx, a->event_id, "tier", err)) != BX_OK) {
        return e;
    }
    const struct tier_body *t = a->t;
    json_t *v = json_pack("{s:s,s:s,s:I,s:s,s:I,s:I}", "id", a->id, "name", t->name, "price_cents",
                          (json_int_t)t->price_cents, "currency", t->currency, "capacity",
                          (json_int_t)t->capacity, "max_per_order",
                          (json_int_t)(t->max_per_order ? t->max_per_order : 10));
    a->response = v ? bx_json_dump(v, &a->req->arena, NULL) : NULL;
    json_decref(v);
    if (a->response == NULL) {
        return bx_error_set(err, BX_INTERNAL, NULL, "could not encode the tier");
    }
    return catalog_idempotency_save(tx, a->req, a->scope, 201, a->response, err);
}

enum bx_err events_add_tier(struct bx_req *req) {
    /* the key is scoped by event too: the same key on another event is another request */
    const char *scope = bx_arena_printf(&req->arena, "tiers:%.64s", bx_req_param(req, "id"));
    bool replayed;
    enum bx_err e = scope ? catalog_idempotency_check(req, scope, &replayed) : BX_INTERNAL;
    if (e != BX_OK || replayed) {
        return e;
    }
    struct tier_body t;
    struct bx_error err;
    e = bx_json_decode(req->body, req->body_len, &tier_schema, &t, &req->arena, NULL, &err);
    if (e != BX_OK) {
        req->error = err;
        return e;
    }
    if ((e = check_tier(req, &t, "")) != BX_OK) {
        return e;
    }
    struct tier_add a = {.req = req, .t = &t, .event_id = bx_req_param(req, "id"), .scope = scope};
    e = catalog_tx(req, BX_DB_WRITE, tier_add_tx, &a);
    if (e == BX_CONFLICT && bx_req_header(req, "Idempotency-Key") != NULL) {
        req->error.code = BX_OK;
        e = catalog_idempotency_check(req, scope, &replayed);
        return e != BX_OK || replayed ? e : bx_req_fail(req, BX_CONFLICT, NULL, NULL);
    }
    if (e != BX_OK) {
        return e;
    }
    catalog_bump();
    return bx_respond(req, 201, "application/json; charset=utf-8", a.response, strlen(a.response));
}

static enum bx_err event_patch_tx(struct bx_db_tx *tx, void *arg, struct bx_error *err) {
    struct event_write *w = arg;
    struct event_body *b = w->b;
    struct bx_db_rows rows;
    enum bx_err e = event_row(tx, w->id, &w->req->arena, &rows, err);
    if (e != BX_OK) {
        return e;
    }
    /* merge: absent fields keep their stored values */
    struct event_body m = *b;
    uint64_t has = w->res.present, nul = w->res.nulls;
#define KEEP_S(bit, field, col)                                                                    \
    if (!(has & BX_JSON_BIT(bit))) {                                                               \
        m.field = (char *)bx_db_cell(&rows, 0, col)->s;                                            \
    }
#define KEEP_I(bit, field, col, present)                                                           \
    bool present = (has & BX_JSON_BIT(bit)) ? !(nul & BX_JSON_BIT(bit))                            \
                                            : bx_db_cell(&rows, 0, col)->type == BX_DB_INT;        \
    if (!(has & BX_JSON_BIT(bit))) {                                                               \
        m.field = bx_db_cell(&rows, 0, col)->i;                                                    \
    }
    KEEP_S(F_TITLE, title, 1)
    KEEP_S(F_DESCRIPTION, description, 2)
    KEEP_S(F_CATEGORY, category, 3)
    KEEP_S(F_VENUE, venue_id, 4)
    KEEP_S(F_IMAGE, image_url, 9)
    KEEP_I(F_STARTS, starts_at, 5, has_starts)
    KEEP_I(F_ENDS, ends_at, 6, has_ends)
    KEEP_I(F_SALES_START, sales_start, 7, has_ss)
    KEEP_I(F_SALES_END, sales_end, 8, has_se)
    KEEP_I(F_MAX_PER_USER, max_tickets_per_user, 10, has_cap)
#undef KEEP_S
#undef KEEP_I
    (void)has_starts;
    (void)has_ends;
    if ((has & BX_JSON_BIT(F_IMAGE)) && (nul & BX_JSON_BIT(F_IMAGE))) {
        m.image_url = NULL;
    }
    if (m.description == NULL) {
        m.description = "";
    }
    if ((e = check_event(w->req, &m, has_ss, has_se)) != BX_OK) {
        *err = w->req->error;
        return e;
    }
    json_t *venue = NULL;
    if ((e = venue_load(tx, m.venue_id, &w->req->arena, &venue, err)) == BX_NOT_FOUND) {
        return bx_error_set(err, BX_INVALID_FIELD, "venue_id", "venue_id names no venue.");
    }
    if (e != BX_OK) {
        return e;
    }
    char search[SEARCH_MAX_BYTES];
    lower_into(search, sizeof search, m.title, json_string_value(json_object_get(venue, "name")),
               json_string_value(json_object_get(venue, "city")));
    json_decref(venue);
    struct bx_db_value p[] = {BX_DB_S(m.title),
                              BX_DB_S(m.description),
                              BX_DB_S(m.category),
                              BX_DB_S(m.venue_id),
                              BX_DB_I(m.starts_at),
                              BX_DB_I(m.ends_at),
                              has_ss ? BX_DB_I(m.sales_start) : BX_DB_NIL,
                              has_se ? BX_DB_I(m.sales_end) : BX_DB_NIL,
                              BX_DB_S(m.image_url),
                              has_cap ? BX_DB_I(m.max_tickets_per_user) : BX_DB_NIL,
                              BX_DB_S(search),
                              BX_DB_I(bx_now_unix_s()),
                              BX_DB_S(w->id)};
    e = bx_db_exec(tx,
                   "UPDATE events SET title = $1, description = $2, category = $3, venue_id = $4,"
                   " starts_at = $5, ends_at = $6, sales_start = $7, sales_end = $8,"
                   " image_url = $9, max_tickets_per_user = $10, search = $11, updated_at = $12"
                   " WHERE id = $13",
                   p, BX_ARRAY_LEN(p), NULL, NULL, NULL, err);
    if (e == BX_OK && (e = event_row(tx, w->id, &w->req->arena, &rows, err)) == BX_OK) {
        e = event_json(tx, &rows, 0, &w->req->arena, &w->event, err);
    }
    return e;
}

enum bx_err events_patch(struct bx_req *req) {
    struct event_body b;
    struct event_write w = {.req = req, .b = &b, .id = bx_req_param(req, "id")};
    struct bx_error err;
    enum bx_err e =
        bx_json_decode(req->body, req->body_len, &patch_schema, &b, &req->arena, &w.res, &err);
    if (e != BX_OK) {
        req->error = err;
        return e;
    }
    for (int bit = F_TITLE; bit <= F_ENDS; bit++) {
        if (bit != F_DESCRIPTION && (w.res.nulls & BX_JSON_BIT(bit))) {
            return bx_req_fail(req, BX_INVALID_FIELD, patch_fields[bit].name,
                               "%s must not be null.", patch_fields[bit].name);
        }
    }
    if ((e = catalog_tx(req, BX_DB_WRITE, event_patch_tx, &w)) != BX_OK) {
        return e;
    }
    catalog_bump();
    return bx_respond_json(req, 200, w.event);
}
