// SPDX-License-Identifier: Apache-2.0
// Order documents for ticketgen: `orders/<order_id>.json` in the object store, holding the order
// (as GET /api/orders/{id} shows it), the holder's name, the event, its venue and the tier. The
// transaction that confirms or cancels an order adds (or re-arms) its row in table exports; this
// thread leases pending rows (as the outbox relay does, so replicas share the work), writes each
// document with an atomic put and marks it done. A document is therefore written after its commit,
// at least once, and rewritten whole when the order changes; ticketgen treats it idempotently.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boxoffice/base.h"
#include "boxoffice/log.h"
#include "boxoffice/metrics.h"
#include "boxoffice/objects.h"
#include "boxoffice/worker.h"
#include "booking.h"

#define EXPORT_LEASE_S      60
#define EXPORT_BATCH        100
#define EXPORT_IDLE_WAIT_MS 250
#define EXPORT_KEEP_DONE_S  (7 * 24 * 3600)

static struct {
    struct bx_worker *worker;
    struct bx_objects store;
    struct bx_metric *written, *failed;
} ex;

enum bx_err booking_export_mark(struct bx_db_tx *tx, const char *order_id, int64_t now,
                                struct bx_error *err) {
    struct bx_db_value p[] = {BX_DB_S(order_id), BX_DB_I(now)};
    return bx_db_exec(tx,
                      "INSERT INTO exports (order_id, created_at) VALUES ($1, $2)"
                      " ON CONFLICT (order_id) DO UPDATE SET done_at = NULL, lease_until = 0,"
                      " created_at = excluded.created_at, version = exports.version + 1",
                      p, 2, NULL, NULL, NULL, err);
}

struct lease {
    struct bx_arena arena;
    struct bx_db_rows rows;
};

static enum bx_err lease_tx(struct bx_db_tx *tx, void *arg, struct bx_error *err) {
    struct lease *l = arg;
    bx_arena_reset(&l->arena);
    int64_t now = bx_now_unix_s();
    struct bx_db_value p[] = {BX_DB_I(now + EXPORT_LEASE_S), BX_DB_I(now), BX_DB_I(EXPORT_BATCH)};
    /* the order's row as of the lease: a change after it re-arms the export (done_at NULL) */
    return bx_db_exec(tx,
                      "UPDATE exports SET lease_until = $1 WHERE order_id IN (SELECT order_id"
                      " FROM exports WHERE done_at IS NULL AND lease_until < $2"
                      " ORDER BY created_at LIMIT $3) AND done_at IS NULL AND lease_until < $2"
                      " RETURNING order_id, version",
                      p, BX_ARRAY_LEN(p), &l->arena, &l->rows, NULL, err);
}

struct doc_read {
    const char *order_id;
    struct bx_arena *arena;
    struct bx_db_rows order, event, tier;
};

static enum bx_err doc_read_tx(struct bx_db_tx *tx, void *arg, struct bx_error *err) {
    struct doc_read *d = arg;
    struct bx_db_value p[] = {BX_DB_S(d->order_id)};
    enum bx_err e =
        bx_db_exec(tx, "SELECT " ORDER_COLUMNS ", holder_name FROM orders WHERE id = $1", p, 1,
                   d->arena, &d->order, NULL, err);
    if (e != BX_OK || d->order.n_rows != 1) {
        return e;
    }
    struct bx_db_value ev[] = {BX_DB_S(bx_db_cell(&d->order, 0, 3)->s)};
    struct bx_db_value tier[] = {BX_DB_S(bx_db_cell(&d->order, 0, 3)->s),
                                 BX_DB_S(bx_db_cell(&d->order, 0, 4)->s)};
    if ((e = bx_db_exec(tx, "SELECT doc FROM events WHERE id = $1", ev, 1, d->arena, &d->event,
                        NULL, err)) != BX_OK) {
        return e;
    }
    return bx_db_exec(tx,
                      "SELECT name, price_cents, currency FROM inventory WHERE event_id = $1"
                      " AND tier_id = $2",
                      tier, 2, d->arena, &d->tier, NULL, err);
}

/* The document for one order (malloc'd), or NULL when the order is unknown. */
static char *order_document(const char *order_id, struct bx_arena *arena) {
    struct doc_read d = {.order_id = order_id, .arena = arena};
    struct bx_error err = {0};
    if (bx_db_run(&booking.db, BX_DB_READ, doc_read_tx, &d, &err) != BX_OK || d.order.n_rows != 1) {
        return NULL;
    }
    char *order_text = booking_order_json(&d.order, 0);
    json_t *order = order_text ? json_loads(order_text, 0, NULL) : NULL;
    free(order_text);
    const struct bx_db_value *docv = d.event.n_rows == 1 ? bx_db_cell(&d.event, 0, 0) : NULL;
    json_t *event = docv && docv->type == BX_DB_TEXT ? json_loads(docv->s, 0, NULL) : NULL;
    json_t *venue = event ? json_incref(json_object_get(event, "venue")) : NULL;
    if (event != NULL) {
        json_object_del(event, "venue");
    }
    json_t *tier = NULL;
    if (d.tier.n_rows == 1) {
        const struct bx_db_value *name = bx_db_cell(&d.tier, 0, 0);
        tier = json_pack("{s:s,s:s,s:I,s:s}", "id", bx_db_cell(&d.order, 0, 4)->s, "name",
                         name->type == BX_DB_TEXT ? name->s : "", "price_cents",
                         (json_int_t)bx_db_cell(&d.tier, 0, 1)->i, "currency",
                         bx_db_cell(&d.tier, 0, 2)->s);
    }
    const struct bx_db_value *holder = bx_db_cell(&d.order, 0, 11);
    json_t *doc = json_pack("{s:o*,s:s,s:o*,s:o*,s:o*}", "order", order, "holder_name",
                            holder->type == BX_DB_TEXT ? holder->s : "", "event", event, "venue",
                            venue, "tier", tier);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    return text;
}

static enum bx_err done_tx(struct bx_db_tx *tx, void *arg, struct bx_error *err) {
    const struct bx_db_value *row = arg; /* order_id, version as leased */
    struct bx_db_value p[] = {row[0], row[1], BX_DB_I(bx_now_unix_s())};
    /* only if not re-armed meanwhile (a cancel after the lease must be written again) */
    return bx_db_exec(tx,
                      "UPDATE exports SET done_at = $3 WHERE order_id = $1 AND version = $2"
                      " AND done_at IS NULL",
                      p, 3, NULL, NULL, NULL, err);
}

static enum bx_err release_tx(struct bx_db_tx *tx, void *arg, struct bx_error *err) {
    struct bx_db_value p[] = {BX_DB_S((const char *)arg)};
    return bx_db_exec(tx, "UPDATE exports SET lease_until = 0 WHERE order_id = $1", p, 1, NULL,
                      NULL, NULL, err);
}

static enum bx_err prune_tx(struct bx_db_tx *tx, void *arg, struct bx_error *err) {
    (void)arg;
    struct bx_db_value p[] = {BX_DB_I(bx_now_unix_s() - EXPORT_KEEP_DONE_S)};
    return bx_db_exec(tx, "DELETE FROM exports WHERE done_at IS NOT NULL AND done_at < $1", p, 1,
                      NULL, NULL, NULL, err);
}

/* Writes one leased run; returns the rows leased. */
static size_t export_round(struct lease *l) {
    struct bx_error err = {0};
    if (bx_db_run(&booking.db, BX_DB_WRITE_LOCKING, lease_tx, l, &err) != BX_OK) {
        bx_log(BX_LOG_WARN, NULL, "exporter: cannot lease rows: %s", err.message);
        return 0;
    }
    size_t failures = 0;
    for (size_t r = 0; r < l->rows.n_rows; r++) {
        const char *order_id = bx_db_cell(&l->rows, r, 0)->s;
        char key[BOOKING_ID_MAX + 16];
        snprintf(key, sizeof key, "orders/%s.json", order_id);
        char *doc = order_document(order_id, &l->arena);
        enum bx_err e =
            doc ? ex.store.ops->put(ex.store.ctx, key, doc, strlen(doc), "application/json", &err)
                : BX_NOT_FOUND;
        free(doc);
        if (e == BX_OK) {
            struct bx_db_value row[] = {*bx_db_cell(&l->rows, r, 0), *bx_db_cell(&l->rows, r, 1)};
            e = bx_db_run(&booking.db, BX_DB_WRITE, done_tx, row, &err);
            bx_metric_add(ex.written, 1);
        }
        if (e != BX_OK) {
            failures++;
            bx_metric_add(ex.failed, 1);
            bx_log(BX_LOG_WARN, NULL, "exporter: %s not written: %s (will retry)", key,
                   err.message[0] ? err.message : bx_err_name(e));
            bx_db_run(&booking.db, BX_DB_WRITE, release_tx, (void *)order_id, &err);
        }
    }
    return failures > 0 ? 0 : l->rows.n_rows;
}

struct export_state {
    struct lease l;
    int64_t last_prune;
};

static struct export_state export_state;

static int64_t export_round_fn(void *arg) {
    struct export_state *st = arg;
    size_t n = export_round(&st->l);
    if (bx_now_mono_ms() - st->last_prune > 3600 * 1000) {
        struct bx_error err;
        bx_db_run(&booking.db, BX_DB_WRITE, prune_tx, NULL, &err);
        st->last_prune = bx_now_mono_ms();
    }
    return n == EXPORT_BATCH ? 0 : n == 0 && st->l.rows.n_rows > 0 ? 1000 : EXPORT_IDLE_WAIT_MS;
}

void booking_exporter_kick(void) {
    bx_worker_kick(ex.worker);
}

enum bx_err booking_exporter_start(struct bx_error *err) {
    ex.written = bx_metrics_counter("boxoffice_order_documents_written_total",
                                    "orders/<id>.json documents written for ticketgen");
    ex.failed = bx_metrics_counter("boxoffice_order_documents_failed_total",
                                   "order document writes that failed (retried)");
    enum bx_err e = bx_objects_open(booking.objects_url, &ex.store, err);
    if (e != BX_OK) {
        return e;
    }
    bx_arena_init(&export_state.l.arena, 64 * 1024 * 1024);
    ex.worker = bx_worker_start(export_round_fn, &export_state, err);
    if (ex.worker == NULL) {
        bx_objects_close(&ex.store);
        return err->code;
    }
    return BX_OK;
}

void booking_exporter_stop(void) {
    if (ex.worker != NULL) {
        bx_worker_stop(ex.worker);
        ex.worker = NULL;
        bx_objects_close(&ex.store);
        bx_arena_reset(&export_state.l.arena);
    }
}
