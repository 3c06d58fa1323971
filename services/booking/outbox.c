// SPDX-License-Identifier: Apache-2.0
// The transactional outbox and its relay to Kafka. Every state change adds its booking-events
// message to table outbox in the transaction that makes the change, so a message exists exactly
// when its change committed. The relay leases a run of unpublished rows (lease_until, so several
// relays on several replicas never publish the same row at the same time and a dead relay's lease
// runs out), produces them with librdkafka's idempotent producer (acks=all, key = event_id), and
// marks rows published only after their delivery reports succeeded; rows that failed get their
// lease back at once and go out again. Delivery is at least once: consumers deduplicate on id.
#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boxoffice/base.h"
#include "boxoffice/kafka.h"
#include "boxoffice/log.h"
#include "boxoffice/metrics.h"
#include "boxoffice/worker.h"
#include "booking.h"

#define RELAY_LEASE_S           60
#define RELAY_MESSAGE_TIMEOUT_S 30 /* under the lease: a row is never out twice at once */
#define RELAY_IDLE_WAIT_MS      200
#define RELAY_ERROR_WAIT_MS     1000
#define RELAY_KEEP_PUBLISHED_S  3600
#define RELAY_ID_LIST_BYTES     32

char *booking_event_message(const char *type, const char *event_id, const char *tier_id,
                            const char *hold_id, const char *order_id, const char *user_id,
                            int64_t quantity, int64_t amount_cents, const char *currency,
                            int64_t now_ms, char id_out[37]) {
    bx_uuid7(id_out);
    char at[21], when[32];
    bx_format_rfc3339(now_ms / 1000, at);
    /* "2026-12-01T19:30:00Z" → "2026-12-01T19:30:00.123Z": event time to the millisecond */
    snprintf(when, sizeof when, "%.19s.%03dZ", at, (int)(now_ms % 1000));
    char order[BOOKING_ID_MAX + 2];
    if (order_id != NULL) {
        snprintf(order, sizeof order, "\"%s\"", order_id);
    } else {
        bx_strlcpy(order, "null", sizeof order);
    }
    /* every string is an id we checked (bx_valid_id), a fixed word or a currency code: nothing
     * needs escaping */
    char *msg = NULL;
    if (asprintf(&msg,
                 "{\"id\":\"%s\",\"type\":\"%s\",\"version\":1,\"occurred_at\":\"%s\","
                 "\"event_id\":\"%s\",\"tier_id\":\"%s\",\"hold_id\":\"%s\",\"order_id\":%s,"
                 "\"user_id\":\"%s\",\"quantity\":%lld,\"amount_cents\":%lld,\"currency\":\"%s\"}",
                 id_out, type, when, event_id, tier_id, hold_id, order, user_id,
                 (long long)quantity, (long long)amount_cents, currency) < 0) {
        return NULL;
    }
    return msg;
}

enum bx_err booking_outbox_add(struct bx_db_tx *tx, const char *type, const char *event_id,
                               const char *tier_id, const char *hold_id, const char *order_id,
                               const char *user_id, int64_t quantity, int64_t amount_cents,
                               const char *currency, int64_t now_ms, struct bx_error *err) {
    char id[37];
    char *msg = booking_event_message(type, event_id, tier_id, hold_id, order_id, user_id, quantity,
                                      amount_cents, currency, now_ms, id);
    if (msg == NULL) {
        return bx_error_set(err, BX_INTERNAL, NULL, "out of memory");
    }
    struct bx_db_value p[] = {BX_DB_S(id), BX_DB_S(event_id), BX_DB_S(msg), BX_DB_I(now_ms / 1000)};
    enum bx_err e = bx_db_exec(tx,
                               "INSERT INTO outbox (id, event_id, payload, created_at)"
                               " VALUES ($1, $2, $3, $4)",
                               p, BX_ARRAY_LEN(p), NULL, NULL, NULL, err);
    free(msg);
    return e;
}

/* ---- the relay ---- */

static struct {
    struct bx_worker *worker;
    rd_kafka_t *rk;
    struct bx_metric *published, *failed;
} relay;

/* One leased row and its delivery outcome (set by the delivery report callback). */
struct relay_row {
    int64_t seq;
    const char *event_id, *payload;
    _Atomic int state; /* 0 in flight, 1 delivered, -1 failed */
};

struct relay_round {
    struct bx_arena arena;
    struct bx_db_rows rows;
    const char *ids; /* JSON array of seqs for the marking statements */
};

static enum bx_err lease_tx(struct bx_db_tx *tx, void *arg, struct bx_error *err) {
    struct relay_round *r = arg;
    bx_arena_reset(&r->arena);
    int64_t now = bx_now_unix_s();
    struct bx_db_value p[] = {BX_DB_I(now + RELAY_LEASE_S), BX_DB_I(now),
                              BX_DB_I(booking.relay_batch)};
    return bx_db_exec(tx,
                      "UPDATE outbox SET lease_until = $1 WHERE seq IN (SELECT seq FROM outbox"
                      " WHERE published_at IS NULL AND lease_until < $2 ORDER BY seq LIMIT $3)"
                      " AND published_at IS NULL AND lease_until < $2"
                      " RETURNING seq, event_id, payload",
                      p, BX_ARRAY_LEN(p), &r->arena, &r->rows, NULL, err);
}

struct mark {
    const char *ids;
    bool published;
};

static enum bx_err mark_tx(struct bx_db_tx *tx, void *arg, struct bx_error *err) {
    struct mark *m = arg;
    struct bx_db_value p[] = {BX_DB_S(m->ids), BX_DB_I(bx_now_unix_s())};
    const char *sql;
    if (booking.postgres) {
        sql = m->published ? "UPDATE outbox SET published_at = $2 WHERE seq IN"
                             " (SELECT json_array_elements_text($1::json)::bigint)"
                           : "UPDATE outbox SET lease_until = 0 WHERE seq IN"
                             " (SELECT json_array_elements_text($1::json)::bigint) AND $2 > 0";
    } else {
        sql = m->published ? "UPDATE outbox SET published_at = $2 WHERE seq IN"
                             " (SELECT value FROM json_each($1))"
                           : "UPDATE outbox SET lease_until = 0 WHERE seq IN"
                             " (SELECT value FROM json_each($1)) AND $2 > 0";
    }
    return bx_db_exec(tx, sql, p, 2, NULL, NULL, NULL, err);
}

static enum bx_err prune_tx(struct bx_db_tx *tx, void *arg, struct bx_error *err) {
    (void)arg;
    struct bx_db_value p[] = {BX_DB_I(bx_now_unix_s() - RELAY_KEEP_PUBLISHED_S)};
    return bx_db_exec(tx, "DELETE FROM outbox WHERE published_at IS NOT NULL AND published_at < $1",
                      p, 1, NULL, NULL, NULL, err);
}

static void delivery_report(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    (void)opaque;
    struct relay_row *row = m->_private;
    if (row != NULL) {
        atomic_store(&row->state, m->err == RD_KAFKA_RESP_ERR_NO_ERROR ? 1 : -1);
    }
}

/* A JSON array of the seqs of rows in state want, in the arena ("[1,2,3]"). */
static char *seq_list(struct bx_arena *a, const struct relay_row *rows, size_t n, int want,
                      size_t *count) {
    char *out = bx_arena_alloc(a, n * RELAY_ID_LIST_BYTES + 3);
    if (out == NULL) {
        return NULL;
    }
    size_t len = 0;
    *count = 0;
    out[len++] = '[';
    for (size_t i = 0; i < n; i++) {
        if (atomic_load(&rows[i].state) == want) {
            len += (size_t)snprintf(out + len, RELAY_ID_LIST_BYTES, "%s%lld", *count ? "," : "",
                                    (long long)rows[i].seq);
            (*count)++;
        }
    }
    out[len++] = ']';
    out[len] = '\0';
    return out;
}

/* Publishes one leased run; returns the number of rows leased (0: nothing to do). */
static size_t relay_round(struct relay_round *r) {
    struct bx_error err = {0};
    if (bx_db_run(&booking.db, BX_DB_WRITE_LOCKING, lease_tx, r, &err) != BX_OK) {
        bx_log(BX_LOG_WARN, NULL, "outbox relay: cannot lease rows: %s", err.message);
        return 0;
    }
    size_t n = r->rows.n_rows;
    if (n == 0) {
        return 0;
    }
    struct relay_row *rows = bx_arena_zalloc(&r->arena, n * sizeof *rows);
    if (rows == NULL) {
        return 0; /* the lease runs out; another round takes them */
    }
    for (size_t i = 0; i < n; i++) {
        rows[i].seq = bx_db_cell(&r->rows, i, 0)->i;
        rows[i].event_id = bx_db_cell(&r->rows, i, 1)->s;
        rows[i].payload = bx_db_cell(&r->rows, i, 2)->s;
    }
    /* in seq order, so one event's messages keep their order on its partition */
    for (size_t i = 1; i < n; i++) {
        for (size_t j = i; j > 0 && rows[j - 1].seq > rows[j].seq; j--) {
            struct relay_row t = {
                .seq = rows[j].seq, .event_id = rows[j].event_id, .payload = rows[j].payload};
            rows[j].seq = rows[j - 1].seq;
            rows[j].event_id = rows[j - 1].event_id;
            rows[j].payload = rows[j - 1].payload;
            rows[j - 1].seq = t.seq;
            rows[j - 1].event_id = t.event_id;
            rows[j - 1].payload = t.payload;
        }
    }
    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t ke;
        do {
            ke = rd_kafka_producev(
                relay.rk, RD_KAFKA_V_TOPIC(booking.topic),
                RD_KAFKA_V_KEY(rows[i].event_id, strlen(rows[i].event_id)),
                RD_KAFKA_V_VALUE((void *)rows[i].payload, strlen(rows[i].payload)),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(&rows[i]),
                RD_KAFKA_V_END);
            if (ke == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(relay.rk, 100);
            }
        } while (ke == RD_KAFKA_RESP_ERR__QUEUE_FULL);
        if (ke != RD_KAFKA_RESP_ERR_NO_ERROR) {
            atomic_store(&rows[i].state, -1);
        }
    }
    /* every report arrives within message.timeout.ms; wait a little longer, never forever, and
     * give up early on stop (the lease runs out and another round sends them again) */
    int64_t give_up = bx_now_mono_ms() + (RELAY_MESSAGE_TIMEOUT_S + 5) * 1000;
    while (rd_kafka_flush(relay.rk, 200) == RD_KAFKA_RESP_ERR__TIMED_OUT &&
           bx_now_mono_ms() < give_up && !bx_worker_stopping(relay.worker)) {
    }
    size_t ok = 0, bad = 0;
    struct mark done = {.ids = seq_list(&r->arena, rows, n, 1, &ok), .published = true};
    struct mark failed = {.ids = seq_list(&r->arena, rows, n, -1, &bad), .published = false};
    if (ok > 0 && done.ids != NULL &&
        bx_db_run(&booking.db, BX_DB_WRITE, mark_tx, &done, &err) != BX_OK) {
        /* published but not marked: they go out again after the lease; consumers dedup */
        bx_log(BX_LOG_WARN, NULL, "outbox relay: cannot mark rows published: %s", err.message);
    }
    if (bad > 0 && failed.ids != NULL) {
        bx_db_run(&booking.db, BX_DB_WRITE, mark_tx, &failed, &err);
        bx_log(BX_LOG_WARN, NULL, "outbox relay: %zu of %zu messages not delivered; will retry",
               bad, n);
    }
    bx_metric_add(relay.published, (int64_t)ok);
    bx_metric_add(relay.failed, (int64_t)bad);
    return bad > 0 ? 0 : n; /* after failures, pause before the next round */
}

struct relay_state {
    struct relay_round r;
    int64_t last_prune;
};

static struct relay_state relay_state;

/* One run of the outbox; then at once if the run was full or went well, a moment later when
 * there was nothing to do, a second later after failures. */
static int64_t relay_round_fn(void *arg) {
    struct relay_state *st = arg;
    size_t n = relay_round(&st->r);
    if (bx_now_mono_ms() - st->last_prune > 60 * 1000) {
        struct bx_error err;
        bx_db_run(&booking.db, BX_DB_WRITE, prune_tx, NULL, &err);
        st->last_prune = bx_now_mono_ms();
    }
    return n > 0 ? 0 : st->r.rows.n_rows == 0 ? RELAY_IDLE_WAIT_MS : RELAY_ERROR_WAIT_MS;
}

void booking_relay_kick(void) {
    bx_worker_kick(relay.worker);
}

enum bx_err booking_relay_start(struct bx_error *err) {
    relay.published = bx_metrics_counter("boxoffice_outbox_published_total",
                                         "outbox messages delivered to Kafka");
    relay.failed = bx_metrics_counter("boxoffice_outbox_failed_total",
                                      "outbox messages whose delivery failed (retried)");
    if (booking.kafka[0] == '\0') {
        bx_log(BX_LOG_WARN, NULL,
               "BOXOFFICE_KAFKA is empty: booking events stay in the outbox until a relay with "
               "Kafka runs");
        return BX_OK;
    }
    char errstr[512], timeout[16];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    snprintf(timeout, sizeof timeout, "%d", RELAY_MESSAGE_TIMEOUT_S * 1000);
    const char *settings[][2] = {
        {"bootstrap.servers", booking.kafka},
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"linger.ms", "2"},
        {"message.timeout.ms", timeout},
        {"client.id", "boxoffice-booking"},
    };
    for (size_t i = 0; i < BX_ARRAY_LEN(settings); i++) {
        if (rd_kafka_conf_set(conf, settings[i][0], settings[i][1], errstr, sizeof errstr) !=
            RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            return bx_error_set(err, BX_INTERNAL, NULL, "kafka: %s", errstr);
        }
    }
    if (bx_kafka_conf_security(conf, errstr, sizeof errstr) != 0) {
        rd_kafka_conf_destroy(conf);
        return bx_error_set(err, BX_INTERNAL, NULL, "kafka: %s", errstr);
    }
    rd_kafka_conf_set_dr_msg_cb(conf, delivery_report);
    rd_kafka_conf_set_log_cb(conf, bx_kafka_log);
    relay.rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (relay.rk == NULL) {
        rd_kafka_conf_destroy(conf);
        return bx_error_set(err, BX_INTERNAL, NULL, "kafka: %s", errstr);
    }
    bx_arena_init(&relay_state.r.arena, 64 * 1024 * 1024);
    relay.worker = bx_worker_start(relay_round_fn, &relay_state, err);
    if (relay.worker == NULL) {
        rd_kafka_destroy(relay.rk);
        relay.rk = NULL;
        return err->code;
    }
    return BX_OK;
}

void booking_relay_stop(void) {
    bx_worker_stop(relay.worker);
    relay.worker = NULL;
    if (relay.rk != NULL) {
        /* reports of messages still queued point into the round's arena: take them back first */
        rd_kafka_purge(relay.rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(relay.rk, 1000);
        rd_kafka_destroy(relay.rk);
        relay.rk = NULL;
    }
    bx_arena_reset(&relay_state.r.arena);
}
