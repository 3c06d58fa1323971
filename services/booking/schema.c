// SPDX-License-Identifier: Apache-2.0
// Booking's tables. inventory carries the no-oversell invariant as a CHECK constraint, so even a
// bug in the service cannot commit sold + held > capacity. Times are Unix seconds except the
// outbox's occurred_at (milliseconds, inside the message).
#include "boxoffice/base.h"
#include "boxoffice/idempotency.h"
#include "booking.h"

#define OUTBOX_TABLE(seq)                                                                          \
    "CREATE TABLE outbox (seq " seq ", id TEXT NOT NULL, event_id TEXT NOT NULL,"                  \
    " payload TEXT NOT NULL, created_at BIGINT NOT NULL, lease_until BIGINT NOT NULL DEFAULT 0,"   \
    " published_at BIGINT);"                                                                       \
    "CREATE INDEX outbox_pending ON outbox (seq) WHERE published_at IS NULL;"                      \
    "CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL"

#define BOOKING_TABLES                                                                             \
    "CREATE TABLE events (id TEXT PRIMARY KEY, status TEXT NOT NULL, sales_start BIGINT,"          \
    " sales_end BIGINT, ends_at BIGINT NOT NULL, max_per_user BIGINT, synced_at BIGINT NOT NULL,"  \
    " cancel_done BIGINT NOT NULL DEFAULT 0);"                                                     \
    "CREATE TABLE inventory (event_id TEXT NOT NULL, tier_id TEXT NOT NULL,"                       \
    " price_cents BIGINT NOT NULL, currency TEXT NOT NULL, capacity BIGINT NOT NULL,"              \
    " max_per_order BIGINT NOT NULL, sold BIGINT NOT NULL DEFAULT 0,"                              \
    " held BIGINT NOT NULL DEFAULT 0, position BIGINT NOT NULL DEFAULT 0,"                         \
    " PRIMARY KEY (event_id, tier_id),"                                                            \
    " CHECK (sold >= 0 AND held >= 0 AND sold + held <= capacity));"                               \
    "CREATE TABLE holds (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, event_id TEXT NOT NULL,"      \
    " tier_id TEXT NOT NULL, quantity BIGINT NOT NULL, amount_cents BIGINT NOT NULL,"              \
    " currency TEXT NOT NULL, status TEXT NOT NULL, created_at BIGINT NOT NULL,"                   \
    " expires_at BIGINT NOT NULL, CHECK (quantity >= 1));"                                         \
    "CREATE INDEX holds_active ON holds (event_id, tier_id, expires_at) WHERE status = 'active';"  \
    "CREATE INDEX holds_expiry ON holds (expires_at) WHERE status = 'active';"                     \
    "CREATE TABLE orders (id TEXT PRIMARY KEY, hold_id TEXT NOT NULL UNIQUE,"                      \
    " user_id TEXT NOT NULL, event_id TEXT NOT NULL, tier_id TEXT NOT NULL,"                       \
    " quantity BIGINT NOT NULL, amount_cents BIGINT NOT NULL, currency TEXT NOT NULL,"             \
    " status TEXT NOT NULL, created_at BIGINT NOT NULL, cancelled_at BIGINT,"                      \
    " tickets TEXT NOT NULL);"                                                                     \
    "CREATE INDEX orders_by_user ON orders (user_id, id);"                                         \
    "CREATE INDEX orders_by_event ON orders (event_id, status);"                                   \
    "CREATE INDEX holds_by_user ON holds (user_id, event_id);"                                     \
    "CREATE INDEX orders_by_user_event ON orders (user_id, event_id);"                             \
    "CREATE TABLE sync (name TEXT PRIMARY KEY, value BIGINT NOT NULL);"                            \
    "INSERT INTO sync (name, value) VALUES ('catalog_changes', 0);" BX_IDEMPOTENCY_TABLE_SQL ";"

static const struct bx_db_migration migrations[] = {
    {1, "inventory, holds, orders, outbox",
     BOOKING_TABLES OUTBOX_TABLE("INTEGER PRIMARY KEY AUTOINCREMENT"),
     BOOKING_TABLES OUTBOX_TABLE("BIGSERIAL PRIMARY KEY")},
    {2, "order documents for ticketgen",
     "ALTER TABLE events ADD COLUMN doc TEXT;"
     "ALTER TABLE inventory ADD COLUMN name TEXT;"
     "ALTER TABLE orders ADD COLUMN holder_name TEXT;"
     "CREATE TABLE exports (order_id TEXT PRIMARY KEY, created_at BIGINT NOT NULL,"
     " version BIGINT NOT NULL DEFAULT 1, lease_until BIGINT NOT NULL DEFAULT 0,"
     " done_at BIGINT);"
     "CREATE INDEX exports_pending ON exports (created_at) WHERE done_at IS NULL",
     NULL},
};

enum bx_err booking_migrate(struct bx_error *err) {
    return booking.db.ops->migrate(booking.db.ctx, migrations, BX_ARRAY_LEN(migrations), err);
}
