// SPDX-License-Identifier: Apache-2.0
// What booking knows of the catalog: each event's status, sales window, per-user cap and its
// tiers' prices and capacities, learned from catalog on first use and then kept current by
// following catalog's change feed (GET /api/events/changes?after=N) every sync_ms. The feed's
// position is stored in the database, so replicas share it and a restart resumes; refreshing an
// event twice is harmless (upserts). A capacity is never set below the seats already sold or held
// (catalog refuses such an edit while it can ask us; if it could not, the CHECK holds anyway).
// A cancelled event's active holds are released and its confirmed orders cancelled, in bounded
// transactions, until none is left (cancel_done); a crash mid-way resumes on the next round.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boxoffice/base.h"
#include "boxoffice/httpc.h"
#include "boxoffice/json.h"
#include "boxoffice/log.h"
#include "boxoffice/service.h"
#include "boxoffice/worker.h"
#include "booking.h"

#define CANCEL_ROWS_PER_TX 200

bool booking_on_sale(const struct booking_event *ev, int64_t now) {
    if (strcmp(ev->status, "published") != 0) {
        return false;
    }
    if (ev->sales_start != 0 && now < ev->sales_start) {
        return false;
    }
    return now < (ev->sales_end != 0 ? ev->sales_end : ev->ends_at);
}

struct event_read {
    const char *event_id;
    struct bx_arena arena;
    struct bx_db_rows ev, tiers;
};

static enum bx_err event_read_tx(struct bx_db_tx *tx, void *arg, struct bx_error *err) {
    struct event_read *r = arg;
    struct bx_db_value p[] = {BX_DB_S(r->event_id)};
    enum bx_err e = bx_db_exec(tx,
                               "SELECT status, sales_start, sales_end, ends_at, max_per_user"
                               " FROM events WHERE id = $1",
                               p, 1, &r->arena, &r->ev, NULL, err);
    if (e == BX_OK) {
        e = bx_db_exec(tx,
                       "SELECT tier_id, price_cents, currency, capacity, max_per_order, sold, held"
                       " FROM inventory WHERE event_id = $1 ORDER BY position, tier_id",
                       p, 1, &r->arena, &r->tiers, NULL, err);
    }
    return e;
}

static void fill_event(const char *id, const struct bx_db_rows *rows, struct booking_event *ev) {
    memset(ev, 0, sizeof *ev);
    bx_strlcpy(ev->id, id, sizeof ev->id);
    bx_strlcpy(ev->status, bx_db_cell(rows, 0, 0)->s, sizeof ev->status);
    ev->sales_start = bx_db_cell(rows, 0, 1)->i;
    ev->sales_end = bx_db_cell(rows, 0, 2)->i;
    ev->ends_at = bx_db_cell(rows, 0, 3)->i;
    ev->max_per_user = bx_db_cell(rows, 0, 4)->i;
}

void booking_fill_tier(const struct bx_db_rows *rows, size_t r, struct booking_tier *t) {
    memset(t, 0, sizeof *t);
    bx_strlcpy(t->id, bx_db_cell(rows, r, 0)->s, sizeof t->id);
    t->price_cents = bx_db_cell(rows, r, 1)->i;
    bx_strlcpy(t->currency, bx_db_cell(rows, r, 2)->s, sizeof t->currency);
    t->capacity = bx_db_cell(rows, r, 3)->i;
    t->max_per_order = bx_db_cell(rows, r, 4)->i;
    t->sold = bx_db_cell(rows, r, 5)->i;
    t->held = bx_db_cell(rows, r, 6)->i;
}

/* The event from catalog, decoded. */
struct catalog_event {
    json_t *doc;
    const char *status;
    int64_t sales_start, sales_end, ends_at, max_per_user;
    json_t *tiers;
};

static int64_t time_field(json_t *doc, const char *name) {
    const char *s = json_string_value(json_object_get(doc, name));
    int64_t t = 0;
    return s != NULL && bx_time_parse_rfc3339(s, &t) == 0 ? t : 0;
}

/* GET catalog /api/events/{id}. */
static enum bx_err catalog_fetch(const char *event_id, const char *request_id,
                                 struct catalog_event *out, struct bx_error *err) {
    char url[1200], rid[BX_REQUEST_ID_MAX + 16];
    snprintf(url, sizeof url, "%s/api/events/%s", booking.catalog_url, event_id);
    snprintf(rid, sizeof rid, "X-Request-Id: %s", request_id ? request_id : "booking-sync");
    const char *headers[] = {rid, NULL};
    struct bx_httpc_request hr = {.method = "GET",
                                  .url = url,
                                  .headers = headers,
                                  .timeout_ms = BOOKING_SYNC_TIMEOUT_MS,
                                  .max_attempts = 2,
                                  .max_body_bytes = 1024 * 1024};
    struct bx_httpc_response resp;
    if (bx_httpc_do(&hr, &resp) != BX_OK) {
        return bx_error_set(err, BX_UNAVAILABLE, NULL, "The catalog cannot be reached; retry.");
    }
    enum bx_err e = BX_OK;
    memset(out, 0, sizeof *out);
    if (resp.status == 404) {
        e = bx_error_set(err, BX_NOT_FOUND, "event_id", "No such event.");
    } else if (resp.status != 200 ||
               (out->doc = json_loadb(resp.body, resp.body_len, 0, NULL)) == NULL) {
        e = bx_error_set(err, BX_UNAVAILABLE, NULL, "The catalog answered %ld; retry.",
                         resp.status);
    }
    bx_httpc_response_free(&resp);
    if (e != BX_OK) {
        return e;
    }
    out->status = json_string_value(json_object_get(out->doc, "status"));
    out->tiers = json_object_get(out->doc, "tiers");
    out->sales_start = time_field(out->doc, "sales_start");
    out->sales_end = time_field(out->doc, "sales_end");
    out->ends_at = time_field(out->doc, "ends_at");
    json_t *cap = json_object_get(out->doc, "max_tickets_per_user");
    out->max_per_user = json_is_integer(cap) ? (int64_t)json_integer_value(cap) : 0;
    if (out->status == NULL || strlen(out->status) >= 16 || !json_is_array(out->tiers) ||
        json_array_size(out->tiers) > BOOKING_TIERS_MAX || out->ends_at == 0) {
        json_decref(out->doc);
        return bx_error_set(err, BX_UNAVAILABLE, NULL, "The catalog's answer was malformed.");
    }
    return BX_OK;
}

struct event_store {
    const char *event_id;
    struct catalog_event *c;
};

static enum bx_err event_store_tx(struct bx_db_tx *tx, void *arg, struct bx_error *err) {
    struct event_store *s = arg;
    struct catalog_event *c = s->c;
    int64_t now = bx_now_unix_s();
    /* what an order document needs of the event: title, times and the venue */
    json_t *d = json_pack(
        "{s:s,s:O?,s:O?,s:O?,s:O?}", "id", s->event_id, "title", json_object_get(c->doc, "title"),
        "starts_at", json_object_get(c->doc, "starts_at"), "ends_at",
        json_object_get(c->doc, "ends_at"), "venue", json_object_get(c->doc, "venue"));
    char *doc = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    if (doc == NULL) {
        return bx_error_set(err, BX_INTERNAL, NULL, "out of memory");
    }
    struct bx_db_value ev[] = {BX_DB_S(s->event_id),
                               BX_DB_S(c->status),
                               c->sales_start ? BX_DB_I(c->sales_start) : BX_DB_NIL,
                               c->sales_end ? BX_DB_I(c->sales_end) : BX_DB_NIL,
                               BX_DB_I(c->ends_at),
                               c->max_per_user ? BX_DB_I(c->max_per_user) : BX_DB_NIL,
                               BX_DB_I(now),
                               BX_DB_S(doc)};
    /* a cancelled event stays cancelled, whatever a stale answer says */
    enum bx_err e = bx_db_exec(
        tx,
        "INSERT INTO events (id, status, sales_start, sales_end, ends_at, max_per_user,"
        " synced_at, doc) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO UPDATE SET"
        " status = CASE WHEN events.status = 'cancelled' THEN events.status ELSE excluded.status"
        " END, sales_start = excluded.sales_start, sales_end = excluded.sales_end,"
        " ends_at = excluded.ends_at, max_per_user = excluded.max_per_user,"
        " synced_at = excluded.synced_at, doc = excluded.doc",
        ev, BX_ARRAY_LEN(ev), NULL, NULL, NULL, err);
    free(doc);
    /* tiers in id order: every writer locks inventory rows in (event, tier) order */
    size_t n = json_array_size(c->tiers);
    const char *order[BOOKING_TIERS_MAX];
    size_t pos[BOOKING_TIERS_MAX], k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *id = json_string_value(json_object_get(json_array_get(c->tiers, i), "id"));
        if (id == NULL || !bx_valid_id(id)) {
            return bx_error_set(err, BX_UNAVAILABLE, NULL, "The catalog sent a malformed tier.");
        }
        size_t j = k++;
        for (; j > 0 && strcmp(order[j - 1], id) > 0; j--) {
            order[j] = order[j - 1];
            pos[j] = pos[j - 1];
        }
        order[j] = id;
        pos[j] = i;
    }
    for (size_t j = 0; e == BX_OK && j < k; j++) {
        json_t *t = json_array_get(c->tiers, pos[j]);
        json_t *price = json_object_get(t, "price_cents"), *cap = json_object_get(t, "capacity"),
               *per = json_object_get(t, "max_per_order");
        const char *cur = json_string_value(json_object_get(t, "currency"));
        const char *name = json_string_value(json_object_get(t, "name"));
        if (!json_is_integer(price) || !json_is_integer(cap) || !json_is_integer(per) ||
            cur == NULL || strlen(cur) != 3 || name == NULL) {
            return bx_error_set(err, BX_UNAVAILABLE, NULL, "The catalog sent a malformed tier.");
        }
        struct bx_db_value p[] = {BX_DB_S(s->event_id),
                                  BX_DB_S(order[j]),
                                  BX_DB_I(json_integer_value(price)),
                                  BX_DB_S(cur),
                                  BX_DB_I(json_integer_value(cap)),
                                  BX_DB_I(json_integer_value(per)),
                                  BX_DB_I((int64_t)pos[j]),
                                  BX_DB_S(name)};
        e = bx_db_exec(tx,
                       "INSERT INTO inventory (event_id, tier_id, price_cents, currency, capacity,"
                       " max_per_order, position, name) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                       " ON CONFLICT (event_id, tier_id) DO UPDATE SET"
                       " price_cents = excluded.price_cents, currency = excluded.currency,"
                       " name = excluded.name,"
                       " max_per_order = excluded.max_per_order, position = excluded.position,"
                       " capacity = CASE WHEN excluded.capacity >= inventory.sold + inventory.held"
                       " THEN excluded.capacity ELSE inventory.sold + inventory.held END",
                       p, BX_ARRAY_LEN(p), NULL, NULL, NULL, err);
    }
    return e;
}

static void cache_drop(const char *event_id);

/* Fetches the event from catalog and stores what booking needs. */
enum bx_err booking_event_refresh(const char *event_id, const char *request_id,
                                  struct bx_error *err) {
    struct catalog_event c;
    enum bx_err e = catalog_fetch(event_id, request_id, &c, err);
    if (e != BX_OK) {
        return e;
    }
    struct event_store s = {.event_id = event_id, .c = &c};
    e = bx_db_run(&booking.db, BX_DB_WRITE_LOCKING, event_store_tx, &s, err);
    json_decref(c.doc);
    cache_drop(event_id);
    return e;
}

enum bx_err booking_event_get(const char *event_id, struct booking_event *ev,
                              struct booking_tier *tiers, size_t *n_tiers, const char *request_id,
                              struct bx_error *err) {
    if (!bx_valid_id(event_id)) {
        return bx_error_set(err, BX_NOT_FOUND, "event_id", "No such event.");
    }
    for (int attempt = 0;; attempt++) {
        struct event_read r = {.event_id = event_id};
        bx_arena_init(&r.arena, 1024 * 1024);
        enum bx_err e = bx_db_run(&booking.db, BX_DB_READ, event_read_tx, &r, err);
        if (e == BX_OK && r.ev.n_rows == 1) {
            fill_event(event_id, &r.ev, ev);
            size_t n = r.tiers.n_rows < BOOKING_TIERS_MAX ? r.tiers.n_rows : BOOKING_TIERS_MAX;
            for (size_t i = 0; tiers != NULL && i < n; i++) {
                booking_fill_tier(&r.tiers, i, &tiers[i]);
            }
            if (n_tiers != NULL) {
                *n_tiers = n;
            }
        }
        bool known = e == BX_OK && r.ev.n_rows == 1;
        bx_arena_reset(&r.arena);
        if (e != BX_OK || known) {
            return e == BX_RETRY ? bx_error_set(err, BX_UNAVAILABLE, NULL, "Busy; retry.") : e;
        }
        if (attempt == 1) {
            return bx_error_set(err, BX_UNAVAILABLE, NULL, "The event could not be loaded.");
        }
        if ((e = booking_event_refresh(event_id, request_id, err)) != BX_OK) {
            return e;
        }
    }
}

/* ---- a per-process cache of what the hold path checks before queueing ---- */
/* The hold handler needs the event's tiers (does the tier exist, its per-order limit) before it
 * queues; the batch then re-reads everything that decides under the tier's lock. So these checks
 * may use a copy up to EVENT_CACHE_MS old, which keeps every database read off the hot path. A
 * refresh in this process drops its copy at once; other replicas' copies age out. */
#define EVENT_CACHE_SLOTS 256
#define EVENT_CACHE_MS    1000

struct cached_event {
    struct booking_event ev;
    struct booking_tier tiers[BOOKING_TIERS_MAX];
    size_t n_tiers;
    int64_t loaded_ms; /* 0: empty */
};

static struct cached_event event_cache[EVENT_CACHE_SLOTS];
static pthread_mutex_t event_cache_mu = PTHREAD_MUTEX_INITIALIZER;

static struct cached_event *cache_slot(const char *event_id) {
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = event_id; *p; p++) {
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    }
    return &event_cache[h % EVENT_CACHE_SLOTS];
}

static void cache_drop(const char *event_id) {
    pthread_mutex_lock(&event_cache_mu);
    struct cached_event *c = cache_slot(event_id);
    if (strcmp(c->ev.id, event_id) == 0) {
        c->loaded_ms = 0;
    }
    pthread_mutex_unlock(&event_cache_mu);
}

enum bx_err booking_event_get_cached(const char *event_id, struct booking_event *ev,
                                     struct booking_tier *tiers, size_t *n_tiers,
                                     const char *request_id, struct bx_error *err) {
    int64_t now = bx_now_mono_ms();
    pthread_mutex_lock(&event_cache_mu);
    struct cached_event *c = cache_slot(event_id);
    bool hit =
        c->loaded_ms != 0 && now - c->loaded_ms < EVENT_CACHE_MS && strcmp(c->ev.id, event_id) == 0;
    if (hit) {
        *ev = c->ev;
        memcpy(tiers, c->tiers, c->n_tiers * sizeof *tiers);
        *n_tiers = c->n_tiers;
    }
    pthread_mutex_unlock(&event_cache_mu);
    if (hit) {
        return BX_OK;
    }
    enum bx_err e = booking_event_get(event_id, ev, tiers, n_tiers, request_id, err);
    if (e == BX_OK) {
        pthread_mutex_lock(&event_cache_mu);
        c = cache_slot(event_id);
        c->ev = *ev;
        memcpy(c->tiers, tiers, *n_tiers * sizeof *tiers);
        c->n_tiers = *n_tiers;
        c->loaded_ms = now;
        pthread_mutex_unlock(&event_cache_mu);
    }
    return e;
}

/* ---- cancelled events ---- */

struct cancel_round {
    const char *event_id;
    struct bx_arena arena;
    bool done;
};

static enum bx_err cancel_round_tx(struct bx_db_tx *tx, void *arg, struct bx_error *err) {
    struct cancel_round *c = arg;
    bx_arena_reset(&c->arena);
    c->done = false;
    int64_t now_ms = bx_now_unix_ms();
    struct bx_db_value ev[] = {BX_DB_S(c->event_id)};
    struct bx_db_rows tiers, holds, orders;
    enum bx_err e =
        bx_db_exec(tx,
                   booking.postgres ? "SELECT tier_id FROM inventory WHERE event_id = $1"
                                      " ORDER BY tier_id FOR UPDATE"
                                    : "SELECT tier_id FROM inventory WHERE event_id = $1",
                   ev, 1, &c->arena, &tiers, NULL, err);
    struct bx_db_value lim[] = {BX_DB_S(c->event_id), BX_DB_I(CANCEL_ROWS_PER_TX)};
    if (e == BX_OK) {
        e = bx_db_exec(tx,
                       "SELECT id, user_id, tier_id, quantity, amount_cents, currency FROM holds"
                       " WHERE event_id = $1 AND status = 'active' LIMIT $2",
                       lim, 2, &c->arena, &holds, NULL, err);
    }
    for (size_t r = 0; e == BX_OK && r < holds.n_rows; r++) {
        e = booking_release_hold_tx(tx, bx_db_cell(&holds, r, 0)->s, bx_db_cell(&holds, r, 1)->s,
                                    c->event_id, bx_db_cell(&holds, r, 2)->s,
                                    bx_db_cell(&holds, r, 3)->i, bx_db_cell(&holds, r, 4)->i,
                                    bx_db_cell(&holds, r, 5)->s, "released", now_ms, err);
    }
    if (e == BX_OK) {
        e = bx_db_exec(tx,
                       "SELECT " ORDER_COLUMNS " FROM orders WHERE event_id = $1"
                       " AND status = 'confirmed' LIMIT $2",
                       lim, 2, &c->arena, &orders, NULL, err);
    }
    for (size_t r = 0; e == BX_OK && r < orders.n_rows; r++) {
        e = booking_cancel_order_tx(tx, &orders, r, now_ms, err);
    }
    if (e == BX_OK && holds.n_rows == 0 && orders.n_rows == 0) {
        c->done = true;
        e = bx_db_exec(tx, "UPDATE events SET cancel_done = 1 WHERE id = $1", ev, 1, NULL, NULL,
                       NULL, err);
    }
    return e;
}

static void cancel_event(const char *event_id) {
    struct cancel_round c = {.event_id = event_id};
    bx_arena_init(&c.arena, 16 * 1024 * 1024);
    for (int rounds = 0; rounds < 10000 && !c.done && !bx_service_stopping(); rounds++) {
        struct bx_error err = {0};
        if (bx_db_run(&booking.db, BX_DB_WRITE_LOCKING, cancel_round_tx, &c, &err) != BX_OK) {
            bx_log(BX_LOG_WARN, NULL, "cancelling event %s: %s (will retry)", event_id,
                   err.message);
            break;
        }
        booking_relay_kick();
    }
    if (c.done) {
        bx_log(BX_LOG_INFO, NULL, "event %s cancelled: holds released, orders cancelled", event_id);
    }
    bx_arena_reset(&c.arena);
}

/* ---- the change-feed follower ---- */

static struct bx_worker *sync_worker;

struct sync_state {
    struct bx_arena arena;
    struct bx_db_rows rows;
    int64_t after;
};

static enum bx_err sync_read_tx(struct bx_db_tx *tx, void *arg, struct bx_error *err) {
    struct sync_state *s = arg;
    bx_arena_reset(&s->arena);
    enum bx_err e = bx_db_exec(tx, "SELECT value FROM sync WHERE name = 'catalog_changes'", NULL, 0,
                               &s->arena, &s->rows, NULL, err);
    s->after = e == BX_OK && s->rows.n_rows == 1 ? bx_db_cell(&s->rows, 0, 0)->i : 0;
    if (e == BX_OK) {
        e = bx_db_exec(tx,
                       "SELECT id FROM events WHERE status = 'cancelled' AND cancel_done = 0"
                       " LIMIT 20",
                       NULL, 0, &s->arena, &s->rows, NULL, err);
    }
    return e;
}

static enum bx_err sync_save_tx(struct bx_db_tx *tx, void *arg, struct bx_error *err) {
    struct bx_db_value p[] = {BX_DB_I(*(int64_t *)arg)};
    return bx_db_exec(tx,
                      "UPDATE sync SET value = $1 WHERE name = 'catalog_changes' AND value < $1", p,
                      1, NULL, NULL, NULL, err);
}

struct known {
    const char *id;
    bool yes;
};

static enum bx_err known_tx(struct bx_db_tx *tx, void *arg, struct bx_error *err) {
    struct known *k = arg;
    struct bx_db_value p[] = {BX_DB_S(k->id)};
    struct bx_arena a;
    bx_arena_init(&a, 64 * 1024);
    struct bx_db_rows rows;
    enum bx_err e =
        bx_db_exec(tx, "SELECT 1 FROM events WHERE id = $1", p, 1, &a, &rows, NULL, err);
    k->yes = e == BX_OK && rows.n_rows == 1;
    bx_arena_reset(&a);
    return e;
}

/* One round: apply catalog's changes past our position, then finish cancelled events. */
static void sync_round(struct sync_state *s) {
    struct bx_error err = {0};
    if (bx_db_run(&booking.db, BX_DB_READ, sync_read_tx, s, &err) != BX_OK) {
        return;
    }
    for (size_t r = 0; r < s->rows.n_rows; r++) {
        cancel_event(bx_db_cell(&s->rows, r, 0)->s);
    }
    char url[1200];
    snprintf(url, sizeof url, "%s/api/events/changes?after=%lld", booking.catalog_url,
             (long long)s->after);
    const char *headers[] = {"X-Request-Id: booking-sync", NULL};
    struct bx_httpc_request hr = {.method = "GET",
                                  .url = url,
                                  .headers = headers,
                                  .timeout_ms = BOOKING_SYNC_TIMEOUT_MS,
                                  .max_body_bytes = 4 * 1024 * 1024};
    struct bx_httpc_response resp;
    if (bx_httpc_do(&hr, &resp) != BX_OK) {
        return;
    }
    json_t *doc = resp.status == 200 ? json_loadb(resp.body, resp.body_len, 0, NULL) : NULL;
    bx_httpc_response_free(&resp);
    json_t *items = json_object_get(doc, "items"), *item;
    json_t *next = json_object_get(doc, "next_after");
    size_t i;
    bool ok = json_is_array(items) && json_is_integer(next);
    json_array_foreach(ok ? items : NULL, i, item) {
        const char *id = json_string_value(json_object_get(item, "event_id"));
        const char *kind = json_string_value(json_object_get(item, "kind"));
        if (id == NULL || !bx_valid_id(id)) {
            continue;
        }
        struct known k = {.id = id};
        if (bx_db_run(&booking.db, BX_DB_READ, known_tx, &k, &err) != BX_OK) {
            ok = false;
            break;
        }
        if (!k.yes) {
            continue; /* learned on first use */
        }
        enum bx_err e = booking_event_refresh(id, NULL, &err);
        if (e != BX_OK && e != BX_NOT_FOUND) {
            ok = false; /* retry from the same position next round */
            break;
        }
        if (kind != NULL && strcmp(kind, "cancelled") == 0) {
            cancel_event(id);
        }
    }
    if (ok) {
        int64_t after = (int64_t)json_integer_value(next);
        if (after > s->after) {
            bx_db_run(&booking.db, BX_DB_WRITE, sync_save_tx, &after, &err);
        }
    }
    json_decref(doc);
}

static struct sync_state sync_state;

static int64_t sync_round_fn(void *arg) {
    sync_round(arg);
    return booking.sync_ms;
}

enum bx_err booking_sync_start(struct bx_error *err) {
    bx_arena_init(&sync_state.arena, 1024 * 1024);
    sync_worker = bx_worker_start(sync_round_fn, &sync_state, err);
    return sync_worker != NULL ? BX_OK : err->code;
}

void booking_sync_stop(void) {
    bx_worker_stop(sync_worker);
    sync_worker = NULL;
    bx_arena_reset(&sync_state.arena);
}
