// SPDX-License-Identifier: Apache-2.0
// The booking service: per-tier inventory, holds, orders and the transactional outbox, in a bx_db
// store (SQLite on a laptop, PostgreSQL in production).
// Invariants, held by the database and not by process memory, so that any number of replicas may
// run against one database:
//  - for every tier, at every commit: 0 <= sold, 0 <= held, sold + held <= capacity (a CHECK
//    constraint; every writer also locks the tier's inventory row first, in (event, tier) order);
//  - held equals the quantities of the tier's holds in status active, sold those of its orders in
//    status confirmed; a user's count toward an event's cap is their live holds plus confirmed
//    orders, checked while every tier row of the event is locked;
//  - every state change writes its booking-events message into the outbox in the same
//    transaction; the relay publishes each row at least once and only then marks it published.
// Hot-path writes (holds, confirms, releases, cancels) go through the batcher: one transaction
// (one fsync) answers many requests (group commit).
#ifndef BOXOFFICE_BOOKING_H
#define BOXOFFICE_BOOKING_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "boxoffice/db.h"
#include "boxoffice/http.h"

#define BOOKING_ID_MAX          65 /* ids are bx_valid_id: at most 64 characters */
#define BOOKING_QUANTITY_MAX    100
#define BOOKING_TIERS_MAX       50
#define BOOKING_LIST_LIMIT_MAX  100
#define BOOKING_LIST_LIMIT_DEF  20
#define BOOKING_SYNC_TIMEOUT_MS 3000

struct booking {
    /* configuration */
    const char *db_url;
    const char *catalog_url;
    const char *users_url;
    const char *objects_url;
    const char *kafka;
    const char *topic;
    int64_t hold_ttl_s;
    int64_t batch_max;
    int64_t batch_wait_us;
    int64_t sweep_ms;
    int64_t sync_ms;
    int64_t relay_batch;
    /* state */
    struct bx_db db;
    bool postgres; /* the SQL dialect for bulk statements and row locks */
};

extern struct booking booking;

/* The cached catalog view of an event (table events) and one of its tiers (table inventory). */
struct booking_event {
    char id[BOOKING_ID_MAX];
    char status[16];                         /* draft, published, cancelled */
    int64_t sales_start, sales_end, ends_at; /* 0: not set (sales_start/sales_end) */
    int64_t max_per_user;                    /* 0: no cap */
};

struct booking_tier {
    char id[BOOKING_ID_MAX];
    int64_t price_cents, capacity, max_per_order, sold, held;
    char currency[4];
};

/* What the batcher does for a request. */
enum booking_op_kind { OP_HOLD, OP_RELEASE, OP_CONFIRM, OP_CANCEL };

struct booking_op {
    enum booking_op_kind kind;
    struct bx_req *req; /* suspended; resumed by the batcher with the response set */
    const char *user_id;
    bool admin;
    char event_id[BOOKING_ID_MAX], tier_id[BOOKING_ID_MAX];
    const char *hold_id, *order_id; /* OP_RELEASE/OP_CONFIRM: hold; OP_CANCEL: order */
    int64_t quantity;
    const char *idem_key;    /* OP_HOLD (optional), OP_CONFIRM (required) */
    const char *holder_name; /* OP_CONFIRM: the customer's name for the tickets ("" unknown) */
    char body_hash[65];
    /* results, reset before every attempt of the batch's transaction */
    enum bx_err result;
    struct bx_error err;
    unsigned status;
    char *response; /* malloc'd JSON body */
    bool lost_idempotency_race;
    struct booking_op *next;
};

/* main.c: runs fn in a transaction, copying a failure into req (BX_RETRY becomes 503). */
enum bx_err booking_tx(struct bx_req *req, enum bx_db_tx_mode mode, bx_db_tx_fn fn, void *arg);

/* A CLOCK_REALTIME deadline ms from now, for pthread_cond_timedwait. */
struct timespec booking_deadline_ms(int64_t ms);
void booking_fill_tier(const struct bx_db_rows *rows, size_t r, struct booking_tier *t);

/* schema.c */
enum bx_err booking_migrate(struct bx_error *err);

/* catalog.c: the event as booking knows it, learned from catalog on first use. BX_NOT_FOUND when
 * catalog does not publish it, BX_UNAVAILABLE when catalog cannot be asked. tiers may be NULL. */
enum bx_err booking_event_get(const char *event_id, struct booking_event *ev,
                              struct booking_tier *tiers, size_t *n_tiers, const char *request_id,
                              struct bx_error *err);
/* booking_event_get through a per-process copy at most 1 s old (the hold path's pre-checks; the
 * batch decides on the database's rows). tiers must hold BOOKING_TIERS_MAX. */
enum bx_err booking_event_get_cached(const char *event_id, struct booking_event *ev,
                                     struct booking_tier *tiers, size_t *n_tiers,
                                     const char *request_id, struct bx_error *err);
/* Fetches the event from catalog now and stores it (a tier added a moment ago). */
enum bx_err booking_event_refresh(const char *event_id, const char *request_id,
                                  struct bx_error *err);
/* Starts/stops the change-feed follower (publish, cancel and tier edits reach every replica
 * within sync_ms; a cancelled event's holds are released and its orders cancelled). */
enum bx_err booking_sync_start(struct bx_error *err);
void booking_sync_stop(void);
/* Is the event on sale at now (status published, inside the sales window)? */
bool booking_on_sale(const struct booking_event *ev, int64_t now);

/* batch.c */
enum bx_err booking_batcher_start(struct bx_error *err);
void booking_batcher_stop(void);
/* Queues op (its req suspended) for the next batch. */
void booking_submit(struct booking_op *op);
/* Locks the inventory rows of (event, tier) pairs in a fixed order; returns the locked tier. */
enum bx_err booking_lock_tier(struct bx_db_tx *tx, const char *event_id, const char *tier_id,
                              struct booking_tier *out, bool *found, struct bx_error *err);
/* Expires the tier's active holds whose time is up (limit rows), with their outbox messages;
 * *freed_out (may be NULL) gets the seats returned. The tier's row must be locked. */
enum bx_err booking_expire_tier(struct bx_db_tx *tx, const char *event_id, const char *tier_id,
                                int64_t now, int64_t limit, int64_t *freed_out,
                                struct bx_error *err);
/* Sweeper thread: expires holds whose time is up, every sweep_ms. */
enum bx_err booking_sweeper_start(struct bx_error *err);
void booking_sweeper_stop(void);

/* outbox.c */
/* Adds one booking-events message to the outbox inside tx. order_id may be NULL. */
enum bx_err booking_outbox_add(struct bx_db_tx *tx, const char *type, const char *event_id,
                               const char *tier_id, const char *hold_id, const char *order_id,
                               const char *user_id, int64_t quantity, int64_t amount_cents,
                               const char *currency, int64_t now_ms, struct bx_error *err);
/* The message text for the outbox (malloc'd) and its id. */
char *booking_event_message(const char *type, const char *event_id, const char *tier_id,
                            const char *hold_id, const char *order_id, const char *user_id,
                            int64_t quantity, int64_t amount_cents, const char *currency,
                            int64_t now_ms, char id_out[37]);
enum bx_err booking_relay_start(struct bx_error *err);
void booking_relay_stop(void);
/* Wakes the relay after a commit that wrote outbox rows. */
void booking_relay_kick(void);

/* export.c: order documents (orders/<id>.json) for ticketgen, written after commit, at least
 * once, from table exports (a row added in the transaction that confirms or cancels an order). */
enum bx_err booking_export_mark(struct bx_db_tx *tx, const char *order_id, int64_t now,
                                struct bx_error *err);
enum bx_err booking_exporter_start(struct bx_error *err);
void booking_exporter_stop(void);
void booking_exporter_kick(void);

/* holds.c */
enum bx_err holds_create(struct bx_req *req);
enum bx_err holds_get(struct bx_req *req);
enum bx_err holds_delete(struct bx_req *req);
/* A batcher op for the request (in its arena); a 403 when the token's subject is not an id. */
enum bx_err booking_new_op(struct bx_req *req, enum booking_op_kind kind, struct booking_op **out);
/* Fills op's hold, event and tier from the caller's hold; 404 (set on req) otherwise. */
enum bx_err booking_hold_for_order(struct bx_req *req, const char *hold_id, struct booking_op *op);
/* The Hold JSON (malloc'd). */
char *booking_hold_json(const char *id, const char *event_id, const char *tier_id, int64_t quantity,
                        int64_t amount_cents, const char *currency, int64_t expires_at,
                        const char *status);

/* orders.c */
enum bx_err orders_create(struct bx_req *req);
enum bx_err orders_list(struct bx_req *req);
enum bx_err orders_get(struct bx_req *req);
enum bx_err orders_cancel(struct bx_req *req);
enum bx_err availability_get(struct bx_req *req);
/* The Order JSON of row r of a SELECT ORDER_COLUMNS (malloc'd). */
#define ORDER_COLUMNS                                                                              \
    "id, hold_id, user_id, event_id, tier_id, quantity, amount_cents, currency, status,"           \
    " created_at, tickets"
char *booking_order_json(const struct bx_db_rows *rows, size_t r);
/* Cancels a confirmed order inside tx (tier row locked): seats back, usage, outbox. */
enum bx_err booking_cancel_order_tx(struct bx_db_tx *tx, const struct bx_db_rows *rows, size_t r,
                                    int64_t now_ms, struct bx_error *err);
/* Releases an active hold inside tx (tier row locked) to status ("released" or "expired"). */
enum bx_err booking_release_hold_tx(struct bx_db_tx *tx, const char *hold_id, const char *user_id,
                                    const char *event_id, const char *tier_id, int64_t quantity,
                                    int64_t amount_cents, const char *currency, const char *status,
                                    int64_t now_ms, struct bx_error *err);

#endif
