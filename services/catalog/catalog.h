// SPDX-License-Identifier: Apache-2.0
// The catalog service: venues, events and ticket tiers in a bx_db store (SQLite on a laptop,
// PostgreSQL in production). Only published events are public; admins write. Times are stored as
// Unix seconds (UTC) and shown in RFC 3339 UTC; each venue carries its IANA timezone for display.
#ifndef BOXOFFICE_CATALOG_H
#define BOXOFFICE_CATALOG_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "boxoffice/db.h"
#include "boxoffice/http.h"

#define CATALOG_NAME_MAX             200
#define CATALOG_TEXT_MAX             5000
#define CATALOG_CATEGORY_MAX         50
#define CATALOG_URL_MAX              2000
#define CATALOG_TIERS_MAX            50
#define CATALOG_CAPACITY_MAX         1000000
#define CATALOG_PRICE_MAX            100000000000LL /* a billion in major units */
#define CATALOG_PER_ORDER_MAX        100
#define CATALOG_TICKETS_PER_USER_MAX 1000
#define CATALOG_LIST_LIMIT_DEFAULT   20
#define CATALOG_LIST_LIMIT_MAX       100
#define CATALOG_IDEMPOTENCY_TTL_S    (24 * 3600)

struct catalog {
    const char *db_url;
    const char *booking_url; /* asked how many seats a tier has sold before it may shrink */
    int64_t seed_demo;
    struct bx_db db;
};

extern struct catalog catalog;

/* venues.c */
enum bx_err venues_create(struct bx_req *req);
enum bx_err venues_list(struct bx_req *req);
enum bx_err venues_get(struct bx_req *req);
enum bx_err venues_patch(struct bx_req *req);
/* The venue as JSON, or BX_NOT_FOUND. */
enum bx_err venue_load(struct bx_db_tx *tx, const char *id, struct bx_arena *arena, json_t **out,
                       struct bx_error *err);

/* events.c */
enum bx_err events_create(struct bx_req *req);
enum bx_err events_list(struct bx_req *req);
enum bx_err events_get(struct bx_req *req);
enum bx_err events_patch(struct bx_req *req);
enum bx_err events_add_tier(struct bx_req *req);
enum bx_err events_publish(struct bx_req *req);
enum bx_err events_cancel(struct bx_req *req);
enum bx_err events_edit_tier(struct bx_req *req);
enum bx_err events_changes(struct bx_req *req);

/* list.c: the answer cache (public answers only), keyed by request URI and write generation,
 * each entry valid for at most 1 s. */
bool catalog_cache_get(struct bx_req *req, const char *key, char etag_out[40]);
void catalog_cache_put(const char *key, const char *body, size_t len, const char etag[40],
                       uint64_t generation);
void catalog_etag(const char *body, size_t len, char out[40]);

/* schema.c */
enum bx_err catalog_migrate(struct bx_error *err);
/* Records a change booking must learn (kind: "published", "cancelled", "tier") in the change feed,
 * inside the transaction that made it. */
enum bx_err catalog_change(struct bx_db_tx *tx, const char *event_id, const char *kind,
                           struct bx_error *err);
enum bx_err catalog_seed_demo(struct bx_error *err);

/* util.c */
bool catalog_valid_timezone(const char *tz);
bool catalog_valid_currency(const char *c);
/* Runs fn in a transaction; on failure copies the error into req. */
enum bx_err catalog_tx(struct bx_req *req, enum bx_db_tx_mode mode, bx_db_tx_fn fn, void *arg);
/* Idempotency-Key for creates (include/boxoffice/idempotency.h on the catalog's database): BX_OK
 * with *replayed true when the first response was sent again; errors are set on req. */
enum bx_err catalog_idempotency_check(struct bx_req *req, const char *scope, bool *replayed);
/* Inside the create's transaction: records the response under the request's key (no key: no-op).
 * BX_CONFLICT when a concurrent request with the same key won; rerun the check then. */
enum bx_err catalog_idempotency_save(struct bx_db_tx *tx, struct bx_req *req, const char *scope,
                                     unsigned status, const char *body, struct bx_error *err);
/* Bumped on every write; lists are cached against it. */
uint64_t catalog_generation(void);
void catalog_bump(void);

#endif
