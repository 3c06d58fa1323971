// SPDX-License-Identifier: Apache-2.0
// GET /api/events (and the public answers of GET /api/events/{id}): published events by (starts_at,
// id), filtered by q (substring of title, venue and city, case-insensitive), from/to (start time
// range), category and city; cursor pagination on the last row's (starts_at, id), stable under
// inserts. Each answer carries a strong ETag of its bytes (If-None-Match → 304). Hot lists are
// cached per query in a fixed table, keyed by the write generation and valid for at most
// CACHE_TTL_MS: on this replica a write is visible at once; another replica's write within
// CACHE_TTL_MS (the staleness bound across replicas).
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "boxoffice/base.h"
#include "boxoffice/json.h"
#include "catalog.h"

#define CACHE_SLOTS    256
#define CACHE_TTL_MS   1000
#define CACHE_BODY_MAX (512 * 1024)
#define Q_MAX          100
#define LIST_PARAMS    9

struct cache_entry {
    char *query;
    char *body;
    size_t len;
    char etag[40];
    uint64_t generation;
    int64_t at_ms;
};

static struct cache_entry cache[CACHE_SLOTS];
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

static size_t slot_of(const char *query) {
    return bx_hash_slot(query, strlen(query), CACHE_SLOTS);
}

bool catalog_cache_get(struct bx_req *req, const char *query, char etag_out[40]) {
    bool hit = false;
    size_t s = slot_of(query);
    pthread_mutex_lock(&cache_lock);
    struct cache_entry *c = &cache[s];
    if (c->query != NULL && strcmp(c->query, query) == 0 && c->generation == catalog_generation() &&
        bx_now_mono_ms() - c->at_ms < CACHE_TTL_MS) {
        hit = bx_respond(req, 200, "application/json; charset=utf-8", c->body, c->len) == BX_OK;
        memcpy(etag_out, c->etag, sizeof c->etag);
    }
    pthread_mutex_unlock(&cache_lock);
    return hit;
}

void catalog_cache_put(const char *query, const char *body, size_t len, const char etag[40],
                       uint64_t generation) {
    if (len > CACHE_BODY_MAX) {
        return;
    }
    char *q = strdup(query), *b = malloc(len + 1);
    if (q == NULL || b == NULL) {
        free(q);
        free(b);
        return;
    }
    memcpy(b, body, len);
    b[len] = '\0';
    size_t s = slot_of(query);
    pthread_mutex_lock(&cache_lock);
    struct cache_entry *c = &cache[s];
    free(c->query);
    free(c->body);
    c->query = q;
    c->body = b;
    c->len = len;
    memcpy(c->etag, etag, sizeof c->etag);
    c->generation = generation;
    c->at_ms = bx_now_mono_ms();
    pthread_mutex_unlock(&cache_lock);
}

void catalog_etag(const char *body, size_t len, char out[40]) {
    unsigned char h[16];
    crypto_generichash(h, sizeof h, (const unsigned char *)body, len, NULL, 0);
    out[0] = '"';
    sodium_bin2hex(out + 1, 33, h, sizeof h);
    out[33] = '"';
    out[34] = '\0';
}

struct list {
    struct bx_req *req;
    struct bx_db_value params[LIST_PARAMS];
    int64_t limit;
    json_t *items;
    json_t *next;
};

static enum bx_err list_tx(struct bx_db_tx *tx, void *arg, struct bx_error *err) {
    struct list *l = arg;
    struct bx_db_rows rows;
    /* $1 q pattern, $2 from, $3 to, $4 category, $5 city, $6/$7 cursor, $8 limit; NULL = no
     * filter */
    enum bx_err e = bx_db_exec(
        tx,
        "SELECT e.id, e.title, e.description, e.category, e.venue_id, e.starts_at, e.ends_at,"
        " e.sales_start, e.sales_end, e.image_url, e.max_tickets_per_user, e.status,"
        " v.id, v.name, v.address, v.city, v.country, v.timezone"
        " FROM events e JOIN venues v ON v.id = e.venue_id"
        " WHERE e.status = 'published'"
        " AND (CAST($1 AS TEXT) IS NULL OR e.search LIKE CAST($1 AS TEXT))"
        " AND (CAST($2 AS BIGINT) IS NULL OR e.starts_at >= CAST($2 AS BIGINT))"
        " AND (CAST($3 AS BIGINT) IS NULL OR e.starts_at <= CAST($3 AS BIGINT))"
        " AND (CAST($4 AS TEXT) IS NULL OR e.category = CAST($4 AS TEXT))"
        " AND (CAST($5 AS TEXT) IS NULL OR lower(v.city) = CAST($5 AS TEXT))"
        " AND (CAST($6 AS BIGINT) IS NULL OR e.starts_at > CAST($6 AS BIGINT)"
        " OR (e.starts_at = CAST($6 AS BIGINT) AND e.id > CAST($7 AS TEXT)))"
        " ORDER BY e.starts_at, e.id LIMIT $8",
        l->params, 8, &l->req->arena, &rows, NULL, err);
    if (e != BX_OK) {
        return e;
    }
    size_t shown = rows.n_rows > (size_t)l->limit ? (size_t)l->limit : rows.n_rows;
    l->items = json_array();
    for (size_t r = 0; r < shown; r++) {
        /* tiers per event: at most 100 small indexed reads in this snapshot */
        struct bx_db_value p[] = {BX_DB_S(bx_db_cell(&rows, r, 0)->s)};
        struct bx_db_rows t;
        if ((e = bx_db_exec(tx,
                            "SELECT id, name, price_cents, currency, capacity, max_per_order"
                            " FROM tiers WHERE event_id = $1 ORDER BY position, id",
                            p, 1, &l->req->arena, &t, NULL, err)) != BX_OK) {
            return e;
        }
        json_t *tiers = json_array();
        for (size_t i = 0; i < t.n_rows; i++) {
            json_array_append_new(
                tiers,
                json_pack("{s:s,s:s,s:I,s:s,s:I,s:I}", "id", bx_db_cell(&t, i, 0)->s, "name",
                          bx_db_cell(&t, i, 1)->s, "price_cents",
                          (json_int_t)bx_db_cell(&t, i, 2)->i, "currency", bx_db_cell(&t, i, 3)->s,
                          "capacity", (json_int_t)bx_db_cell(&t, i, 4)->i, "max_per_order",
                          (json_int_t)bx_db_cell(&t, i, 5)->i));
        }
        char starts[21], ends[21];
        bx_format_rfc3339(bx_db_cell(&rows, r, 5)->i, starts);
        bx_format_rfc3339(bx_db_cell(&rows, r, 6)->i, ends);
        const struct bx_db_value *ss = bx_db_cell(&rows, r, 7), *se = bx_db_cell(&rows, r, 8);
        const struct bx_db_value *img = bx_db_cell(&rows, r, 9), *cap = bx_db_cell(&rows, r, 10);
        char ss_s[21] = "", se_s[21] = "";
        if (ss->type == BX_DB_INT) {
            bx_format_rfc3339(ss->i, ss_s);
        }
        if (se->type == BX_DB_INT) {
            bx_format_rfc3339(se->i, se_s);
        }
        json_t *venue =
            json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "id", bx_db_cell(&rows, r, 12)->s, "name",
                      bx_db_cell(&rows, r, 13)->s, "address", bx_db_cell(&rows, r, 14)->s, "city",
                      bx_db_cell(&rows, r, 15)->s, "country", bx_db_cell(&rows, r, 16)->s,
                      "timezone", bx_db_cell(&rows, r, 17)->s);
        json_array_append_new(
            l->items,
            json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:s,s:s,s:s?,s:s?,s:s?,s:o,s:s,s:o}", "id",
                      bx_db_cell(&rows, r, 0)->s, "title", bx_db_cell(&rows, r, 1)->s,
                      "description", bx_db_cell(&rows, r, 2)->s, "category",
                      bx_db_cell(&rows, r, 3)->s, "venue_id", bx_db_cell(&rows, r, 4)->s, "venue",
                      venue, "starts_at", starts, "ends_at", ends, "sales_start",
                      ss_s[0] ? ss_s : NULL, "sales_end", se_s[0] ? se_s : NULL, "image_url",
                      img->type == BX_DB_TEXT ? img->s : NULL, "max_tickets_per_user",
                      cap->type == BX_DB_INT ? json_integer(cap->i) : json_null(), "status",
                      bx_db_cell(&rows, r, 11)->s, "tiers", tiers));
    }
    l->next = json_null();
    if (rows.n_rows > (size_t)l->limit) {
        char raw[96], enc[140];
        int n =
            snprintf(raw, sizeof raw, "ev1:%lld:%s", (long long)bx_db_cell(&rows, shown - 1, 5)->i,
                     bx_db_cell(&rows, shown - 1, 0)->s);
        sodium_bin2base64(enc, sizeof enc, (const unsigned char *)raw, (size_t)n,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        json_decref(l->next);
        l->next = json_string(enc);
    }
    return BX_OK;
}

static enum bx_err parse_time_param(struct bx_req *req, const char *name, struct bx_db_value *out) {
    const char *v = bx_req_query(req, name);
    *out = BX_DB_NIL;
    if (v == NULL) {
        return BX_OK;
    }
    int64_t t;
    if (bx_time_parse_rfc3339(v, &t) != 0) {
        return bx_req_fail(req, BX_INVALID_FIELD, name, "%s must be an RFC 3339 time.", name);
    }
    *out = BX_DB_I(t);
    return BX_OK;
}

static char *lower_dup(struct bx_arena *a, const char *s) {
    char *out = bx_arena_strdup(a, s);
    for (char *p = out; p && *p; p++) {
        if (*p >= 'A' && *p <= 'Z') {
            *p = (char)(*p + 32);
        }
    }
    return out;
}

enum bx_err events_list(struct bx_req *req) {
    struct list l = {.req = req, .limit = CATALOG_LIST_LIMIT_DEFAULT};
    for (size_t i = 0; i < LIST_PARAMS; i++) {
        l.params[i] = BX_DB_NIL;
    }
    const char *limit = bx_req_query(req, "limit");
    if (limit != NULL && bx_parse_i64(limit, 1, CATALOG_LIST_LIMIT_MAX, &l.limit) != 0) {
        return bx_req_fail(req, BX_INVALID_FIELD, "limit", "limit must be an integer from 1 to %d.",
                           CATALOG_LIST_LIMIT_MAX);
    }
    const char *q = bx_req_query(req, "q");
    if (q != NULL && q[0] != '\0') {
        if (strlen(q) > Q_MAX) {
            return bx_req_fail(req, BX_INVALID_FIELD, "q", "q is at most %d characters.", Q_MAX);
        }
        /* LIKE with the wildcards of the query itself taken literally is not worth an ESCAPE
         * clause here: % and _ in q just widen the match */
        l.params[0] = BX_DB_S(bx_arena_printf(&req->arena, "%%%s%%", lower_dup(&req->arena, q)));
    }
    enum bx_err e;
    if ((e = parse_time_param(req, "from", &l.params[1])) != BX_OK ||
        (e = parse_time_param(req, "to", &l.params[2])) != BX_OK) {
        return e;
    }
    const char *category = bx_req_query(req, "category");
    if (category != NULL && category[0] != '\0') {
        if (strlen(category) > CATALOG_CATEGORY_MAX) {
            return bx_req_fail(req, BX_INVALID_FIELD, "category", "category is too long.");
        }
        l.params[3] = BX_DB_S(category);
    }
    const char *city = bx_req_query(req, "city");
    if (city != NULL && city[0] != '\0') {
        if (strlen(city) > 100) {
            return bx_req_fail(req, BX_INVALID_FIELD, "city", "city is too long.");
        }
        l.params[4] = BX_DB_S(lower_dup(&req->arena, city));
    }
    const char *cursor = bx_req_query(req, "cursor");
    if (cursor != NULL) {
        unsigned char raw[100];
        size_t n = 0;
        long long at = 0;
        char id[64];
        if (strlen(cursor) > 130 || bx_base64url_decode((unsigned char *)raw, sizeof raw - 1,
                                                        cursor, strlen(cursor), &n) != 0) {
            return bx_req_fail(req, BX_INVALID_FIELD, "cursor", "cursor was not issued here.");
        }
        raw[n] = '\0';
        if (sscanf((char *)raw, "ev1:%lld:%63s", &at, id) != 2 || !bx_valid_id(id)) {
            return bx_req_fail(req, BX_INVALID_FIELD, "cursor", "cursor was not issued here.");
        }
        l.params[5] = BX_DB_I(at);
        l.params[6] = BX_DB_S(bx_arena_strdup(&req->arena, id));
    }
    l.params[7] = BX_DB_I(l.limit + 1);

    const char *texts[] = {"q", "category", "city", "cursor"};
    for (size_t i = 0; i < BX_ARRAY_LEN(texts); i++) {
        const char *v = bx_req_query(req, texts[i]);
        if (v != NULL && !bx_valid_utf8(v)) {
            return bx_req_fail(req, BX_INVALID_FIELD, texts[i], "%s is not valid UTF-8.", texts[i]);
        }
    }
    const char *query = req->raw_uri;
    char etag[40];
    uint64_t generation = catalog_generation();
    if (!catalog_cache_get(req, query, etag)) {
        if ((e = catalog_tx(req, BX_DB_READ, list_tx, &l)) != BX_OK) {
            return e;
        }
        if ((e = bx_respond_json(
                 req, 200, json_pack("{s:o,s:o}", "items", l.items, "next_cursor", l.next))) !=
            BX_OK) {
            return e;
        }
        catalog_etag(req->resp_body, req->resp_len, etag);
        catalog_cache_put(query, req->resp_body, req->resp_len, etag, generation);
    }
    bx_resp_header(req, "ETag", etag);
    bx_resp_header(req, "Cache-Control", "public, max-age=1");
    const char *inm = bx_req_header(req, "If-None-Match");
    if (inm != NULL && strstr(inm, etag) != NULL) {
        return bx_respond(req, 304, NULL, "", 0);
    }
    return BX_OK;
}
