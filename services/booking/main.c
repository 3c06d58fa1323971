// SPDX-License-Identifier: Apache-2.0
// boxoffice-booking: inventory, holds, orders and the transactional outbox over the db interface
// (SQLite on a laptop, PostgreSQL in production). Stateless between requests: every decision is
// taken by the database, so replicas scale out behind a load balancer. Threads besides HTTP: the
// batcher (group commit), the sweeper (expired holds), the catalog change-feed follower and the
// outbox relay to Kafka.
#include <stdio.h>
#include <string.h>

#include "boxoffice/base.h"
#include "boxoffice/log.h"
#include "boxoffice/service.h"
#include "booking.h"

struct booking booking;

static const char *const db_schemes[] = {"sqlite", "postgresql", "postgres", NULL};
static const char *const http_schemes[] = {"http", "https", NULL};
static const char *const objects_schemes[] = {"file", "s3", NULL};

static const struct bx_config_var config[] = {
    {"BOXOFFICE_BOOKING_DB", BX_CFG_URL, "sqlite:var/booking.db",
     "booking database: sqlite:PATH or postgresql://user:pw@host/db[?pool=N]", 0, 0, db_schemes,
     &booking.db_url},
    {"BOXOFFICE_CATALOG_URL", BX_CFG_URL, "http://127.0.0.1:8081",
     "catalog service: events, tiers and capacities, and its change feed", 0, 0, http_schemes,
     &booking.catalog_url},
    {"BOXOFFICE_USERS_URL", BX_CFG_URL, "http://127.0.0.1:8082",
     "users service: the customer's name printed on tickets", 0, 0, http_schemes,
     &booking.users_url},
    {"BOXOFFICE_OBJECTS", BX_CFG_URL, "file:var/objects",
     "object store for order documents (orders/<id>.json) that ticketgen turns into tickets: "
     "file:DIR or s3://BUCKET?region=R[&endpoint=URL]",
     0, 0, objects_schemes, &booking.objects_url},
    {"BOXOFFICE_KAFKA", BX_CFG_STRING, "",
     "Kafka bootstrap servers for the outbox relay (empty: the outbox is kept, not published)", 0,
     1024, NULL, &booking.kafka},
    {"BOXOFFICE_KAFKA_TOPIC", BX_CFG_STRING, "booking-events", "topic of booking events", 1, 200,
     NULL, &booking.topic},
    {"BOXOFFICE_HOLD_TTL_S", BX_CFG_INT, "600", "seconds a hold keeps its seats", 1, 86400, NULL,
     &booking.hold_ttl_s},
    {"BOXOFFICE_BOOKING_BATCH_MAX", BX_CFG_INT, "256",
     "most requests answered by one transaction (group commit)", 1, 4096, NULL, &booking.batch_max},
    {"BOXOFFICE_BOOKING_BATCH_WAIT_US", BX_CFG_INT, "1000",
     "microseconds a batch waits for more requests once one arrived", 0, 1000000, NULL,
     &booking.batch_wait_us},
    {"BOXOFFICE_BOOKING_SWEEP_MS", BX_CFG_INT, "1000", "milliseconds between expired-hold sweeps",
     50, 60000, NULL, &booking.sweep_ms},
    {"BOXOFFICE_BOOKING_SYNC_MS", BX_CFG_INT, "1000",
     "milliseconds between reads of catalog's change feed", 50, 60000, NULL, &booking.sync_ms},
    {"BOXOFFICE_BOOKING_RELAY_BATCH", BX_CFG_INT, "500", "outbox rows published per round", 1, 5000,
     NULL, &booking.relay_batch},
};

static const struct bx_route routes[] = {
    {BX_POST, "/api/holds", holds_create, BX_AUTH_USER},
    {BX_GET, "/api/holds/{id}", holds_get, BX_AUTH_USER},
    {BX_DELETE, "/api/holds/{id}", holds_delete, BX_AUTH_USER},
    {BX_POST, "/api/orders", orders_create, BX_AUTH_USER},
    {BX_GET, "/api/orders", orders_list, BX_AUTH_USER},
    {BX_GET, "/api/orders/{id}", orders_get, BX_AUTH_USER},
    {BX_POST, "/api/orders/{id}/cancel", orders_cancel, BX_AUTH_USER},
    {BX_GET, "/api/events/{id}/availability", availability_get, BX_AUTH_NONE},
};

enum bx_err booking_tx(struct bx_req *req, enum bx_db_tx_mode mode, bx_db_tx_fn fn, void *arg) {
    struct bx_error err = {0};
    enum bx_err e = bx_db_run(&booking.db, mode, fn, arg, &err);
    if (e != BX_OK) {
        if (e == BX_RETRY) {
            e = BX_UNAVAILABLE;
            bx_error_set(&err, e, NULL, "Booking is busy; retry.");
        }
        req->error = err;
        req->error.code = e;
    }
    return e;
}

struct timespec booking_deadline_ms(int64_t ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static enum bx_err init(void *ctx, struct bx_error *err) {
    (void)ctx;
    enum bx_err e = bx_db_open(booking.db_url, &booking.db, err);
    if (e != BX_OK) {
        return e;
    }
    booking.postgres = strcmp(booking.db.ops->scheme, "postgresql") == 0;
    if ((e = booking_migrate(err)) != BX_OK || (e = booking_batcher_start(err)) != BX_OK ||
        (e = booking_sweeper_start(err)) != BX_OK || (e = booking_sync_start(err)) != BX_OK ||
        (e = booking_relay_start(err)) != BX_OK || (e = booking_exporter_start(err)) != BX_OK) {
        return e;
    }
    return BX_OK;
}

static bool ready(void *ctx, char *why, size_t why_size) {
    (void)ctx;
    if (booking.db.ops == NULL || booking.db.ops->ping(booking.db.ctx) != BX_OK) {
        snprintf(why, why_size, "booking database unreachable");
        return false;
    }
    return true;
}

static void stop(void *ctx) {
    (void)ctx;
    /* HTTP has drained: no request waits in the batcher any more */
    booking_sync_stop();
    booking_sweeper_stop();
    booking_batcher_stop();
    booking_relay_stop();
    booking_exporter_stop();
    if (booking.db.ops != NULL) {
        bx_db_close(&booking.db);
    }
}

static const struct bx_service service = {
    .name = "booking",
    .summary = "inventory, holds, orders and the outbox",
    .default_port = 8083,
    .routes = routes,
    .n_routes = BX_ARRAY_LEN(routes),
    .config = config,
    .n_config = BX_ARRAY_LEN(config),
    .ctx = &booking,
    .needs_auth_keys = true,
    .init = init,
    .ready = ready,
    .stop = stop,
};

int main(int argc, char **argv) {
    return bx_service_main(&service, argc, argv);
}
