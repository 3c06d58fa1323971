// SPDX-License-Identifier: Apache-2.0
// The consumer: one thread reads booking-events in this replica's consumer group (eager range or
// roundrobin assignment, no auto commit), folds each message in, and checkpoints into the state
// database. A message counts when its id is new to the seen set (seen.c), which the checkpoint
// also writes, as text, with the aggregates it changed and each partition's next offset and
// watermark: one transaction, every batch_max messages or batch_ms after the first uncommitted
// one (ten times that while a backlog is read), before partitions are revoked, and at stop.
// On assignment the partitions start at the offsets of the state database (rd_kafka_assign with
// them), never at the group's committed offsets: those are committed too, after the database, but
// only for monitoring (a commit during a rebalance may fail; nothing depends on it).
// One process writes a state database: the holder of its lease (table owner), taken before the
// subscription, renewed by every checkpoint (and every lease_s / 3 when idle), given up at stop.
// A second process on the same database serves the committed state and waits; a holder that finds
// its lease taken stops at once, committing nothing (fencing).
// When a checkpoint fails, memory (aggregates and seen set) is reloaded from the database and the
// assigned partitions seek back to its offsets: what was applied but not committed is applied
// again, once. Malformed messages are counted (in the same checkpoint), logged at most once a
// second, and skipped: they advance the offset like any other.
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "boxoffice/base.h"
#include "boxoffice/kafka.h"
#include "boxoffice/log.h"
#include "boxoffice/metrics.h"
#include "analytics.h"

#define POLL_MS_MAX        100
#define RETRY_WAIT_MS      1000
#define PRUNE_EVERY_MS     60000
#define LOG_EVERY_MS       1000
#define BACKLOG_STRETCH    10
#define LEASE_WAIT_MS      1000
#define LEASE_LOG_EVERY_MS 10000
#define LEASE_RENEWALS     3 /* idle renewals per lease period */
#define KAFKA_ERRSTR_BYTES 512

struct item {
    struct an_msg m;
    int32_t part;
    int64_t offset;
};

enum counter { C_CONSUMED, C_APPLIED, C_DUPLICATES, C_MALFORMED, C_LATE, C_COUNT };

static struct {
    pthread_t thread;
    bool running;
    _Atomic bool quit;
    _Atomic bool healthy;
    rd_kafka_t *rk;
    rd_kafka_queue_t *queue;
    /* what the next checkpoint commits */
    int64_t pending;          /* offsets read since the last checkpoint */
    int64_t pending_since_ms; /* when the first of them was read */
    bool backlog;             /* the last poll filled a whole batch */
    int64_t renewed_ms;       /* the lease was last renewed (monotonic) */
    _Atomic bool fenced;      /* another process took the state database: stop at once */
    char *ids;                /* their new ids, comma-separated */
    size_t ids_len, ids_cap;
    /* one poll batch */
    struct item items[AN_POLL_BATCH];
    /* logging and metrics */
    int64_t last_log_ms, suppressed_logs;
    int64_t last_error_log_ms;
    int64_t last_prune_ms;
    struct bx_metric *metrics[C_COUNT];
    int64_t exported[C_COUNT];
    struct bx_metric *checkpoints, *checkpoint_failures, *reloads, *lost;
} con;

static void sleep_ms(int64_t ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* At most one line a second for a flood of skipped messages. */
static void log_skipped(const char *why, const char *detail, int32_t part, int64_t offset) {
    int64_t now = bx_now_mono_ms();
    if (now - con.last_log_ms < LOG_EVERY_MS) {
        con.suppressed_logs++;
        return;
    }
    bx_log(BX_LOG_WARN, NULL,
           "analytics: message skipped at partition %d offset %lld: %s%s (%lld more since the "
           "last line)",
           (int)part, (long long)offset, why, detail, (long long)con.suppressed_logs);
    con.last_log_ms = now;
    con.suppressed_logs = 0;
}

static void export_metrics(void) {
    const struct an_counters *c = &an_state.counters;
    int64_t now[C_COUNT] = {c->consumed, c->applied, c->duplicates, c->malformed, c->late};
    for (int i = 0; i < C_COUNT; i++) {
        if (now[i] > con.exported[i]) { /* after a reload a counter catches up again */
            bx_metric_add(con.metrics[i], now[i] - con.exported[i]);
            con.exported[i] = now[i];
        }
    }
}

/* Reloads memory from the database, retrying until it works or we stop. */
static void reload(void) {
    bx_metric_add(con.reloads, 1);
    atomic_store(&con.healthy, false);
    for (;;) {
        struct bx_error err = {0};
        pthread_rwlock_wrlock(&an_state.lock);
        /* which partitions we hold survives the reload */
        bool assigned[AN_PARTITIONS_MAX];
        for (size_t p = 0; p < AN_PARTITIONS_MAX; p++) {
            assigned[p] = an_state.parts[p].assigned;
        }
        enum bx_err e = an_store_load(&err);
        for (size_t p = 0; p < AN_PARTITIONS_MAX; p++) {
            an_state.parts[p].assigned = assigned[p];
        }
        pthread_rwlock_unlock(&an_state.lock);
        if (e == BX_OK) {
            atomic_store(&con.healthy, true);
            export_metrics(); /* the counters as committed, maybe by another process */
            an_catalog_kick();
            return;
        }
        bx_error("analytics: cannot reload the state database: %s; retrying", err.message);
        if (atomic_load(&con.quit)) {
            return;
        }
        sleep_ms(RETRY_WAIT_MS);
    }
}

/* Sets each partition of list to start at its checkpoint (the state database's offsets). */
static void set_offsets(rd_kafka_topic_partition_list_t *list) {
    struct bx_arena arena;
    bx_arena_init(&arena, 1024 * 1024);
    struct bx_db_rows rows = {0};
    struct bx_error err = {0};
    bool from_db = an_store_offsets(&arena, &rows, &err) == BX_OK;
    if (!from_db) {
        /* memory holds the last commit (or was just reloaded): the same offsets */
        bx_warn("analytics: cannot read the checkpointed offsets (%s); using memory's",
                err.message);
    }
    for (int i = 0; i < list->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &list->elems[i];
        if (tp->partition < 0 || tp->partition >= AN_PARTITIONS_MAX) {
            continue; /* never consumed: see assign */
        }
        struct an_part *p = &an_state.parts[tp->partition];
        for (size_t r = 0; from_db && r < rows.n_rows; r++) {
            if (bx_db_cell(&rows, r, 0)->i == tp->partition) {
                int64_t next = bx_db_cell(&rows, r, 1)->i, mark = bx_db_cell(&rows, r, 2)->i;
                if (p->known && (next != p->next_offset || mark != p->max_event_ms)) {
                    bx_error("analytics: partition %d: the database says offset %lld, memory "
                             "%lld; the database wins",
                             (int)tp->partition, (long long)next, (long long)p->next_offset);
                }
                p->known = true;
                p->next_offset = next;
                p->max_event_ms = mark;
            }
        }
        tp->offset = p->known ? p->next_offset : RD_KAFKA_OFFSET_BEGINNING;
    }
    bx_arena_reset(&arena);
}

/* Re-seeks every assigned partition to its checkpoint (after a reload). */
static void reseek(void) {
    rd_kafka_topic_partition_list_t *list = NULL;
    if (rd_kafka_assignment(con.rk, &list) != RD_KAFKA_RESP_ERR_NO_ERROR || list == NULL) {
        return;
    }
    set_offsets(list);
    rd_kafka_resp_err_t ke = rd_kafka_assign(con.rk, list);
    if (ke != RD_KAFKA_RESP_ERR_NO_ERROR) {
        bx_error("analytics: cannot re-seek after a reload: %s", rd_kafka_err2str(ke));
    }
    rd_kafka_topic_partition_list_destroy(list);
}

/* Another process holds the state database's lease (a second replica pointed at the same
 * database, or a successor that waited out our lease): nothing of ours may commit any more. The
 * process stops; what it read and did not commit is the successor's to read. */
static void fenced(const char *why) {
    if (!atomic_exchange(&con.fenced, true)) {
        bx_error("analytics: the state database's lease is lost (%s): stopping", why);
        atomic_store(&con.healthy, false);
        kill(getpid(), SIGTERM);
    }
    con.pending = 0;
    con.ids_len = 0;
}

static void fail(const char *what, const char *why) {
    bx_error("analytics: %s failed: %s; reloading from the state database", what, why);
    bx_metric_add(con.checkpoint_failures, 1);
    con.pending = 0;
    con.ids_len = 0;
    reload();
}

/* Commits everything read since the last checkpoint in one transaction. False when it failed
 * (memory was reloaded and the caller must re-seek). */
static bool checkpoint(void) {
    if (con.pending == 0) {
        return true;
    }
    struct bx_error err = {0};
    struct bx_db_tx *tx = NULL;
    if (an_store_begin(&tx, &err) != BX_OK) {
        fail("beginning a checkpoint", err.message);
        return false;
    }
    enum bx_err e = an_store_write(tx, con.ids, con.ids_len, &err);
    if (e != BX_OK) {
        analytics.db.ops->rollback(tx);
        if (e == BX_CONFLICT) {
            fenced(err.message);
            return false;
        }
        fail("writing a checkpoint", err.message);
        return false;
    }
    /* the offsets to tell the group, from the same dirty set */
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(4);
    for (int32_t p = 0; p < AN_PARTITIONS_MAX; p++) {
        if (an_state.parts[p].dirty) {
            rd_kafka_topic_partition_list_add(list, analytics.topic, p)->offset =
                an_state.parts[p].next_offset;
        }
    }
    if (analytics.db.ops->commit(tx, &err) != BX_OK) {
        rd_kafka_topic_partition_list_destroy(list);
        fail("committing a checkpoint", err.message);
        return false;
    }
    an_store_written();
    con.pending = 0;
    con.ids_len = 0;
    con.renewed_ms = bx_now_mono_ms();
    bx_metric_add(con.checkpoints, 1);
    export_metrics();
    if (list->cnt > 0) {
        /* for monitoring (lag) only; the state database is the truth */
        rd_kafka_commit(con.rk, list, 1);
    }
    rd_kafka_topic_partition_list_destroy(list);
    return true;
}

static void rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *list, void *opaque) {
    (void)opaque;
    /* what was read of partitions about to move is committed before they go */
    if (!atomic_load(&con.fenced)) {
        checkpoint();
    }
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        set_offsets(list);
        rd_kafka_resp_err_t ke = rd_kafka_assign(rk, list);
        for (int i = 0; i < list->cnt; i++) {
            int32_t p = list->elems[i].partition;
            if (p >= 0 && p < AN_PARTITIONS_MAX) {
                an_state.parts[p].assigned = ke == RD_KAFKA_RESP_ERR_NO_ERROR;
            } else {
                bx_error("analytics: partition %d is past the %d this service counts", (int)p,
                         AN_PARTITIONS_MAX);
            }
            bx_info("analytics: assigned partition %d at offset %lld", (int)p,
                    (long long)list->elems[i].offset);
        }
        if (ke != RD_KAFKA_RESP_ERR_NO_ERROR) {
            bx_error("analytics: assign failed: %s", rd_kafka_err2str(ke));
        }
    } else {
        if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
            bx_error("analytics: rebalance error: %s", rd_kafka_err2str(err));
        }
        for (int i = 0; i < list->cnt; i++) {
            int32_t p = list->elems[i].partition;
            if (p >= 0 && p < AN_PARTITIONS_MAX) {
                an_state.parts[p].assigned = false;
            }
        }
        bx_info("analytics: %d partition(s) revoked", list->cnt);
        rd_kafka_assign(rk, NULL);
    }
}

/* Adds a new id to the checkpoint's list. */
static bool ids_add(const char *id) {
    size_t n = strlen(id);
    if (con.ids_len + n + 2 > con.ids_cap) {
        size_t cap = con.ids_cap ? con.ids_cap * 2 : 64 * 1024;
        while (cap < con.ids_len + n + 2) {
            cap *= 2;
        }
        char *p = cap <= AN_SEEN_IDS_MAX_BYTES ? realloc(con.ids, cap) : NULL;
        if (p == NULL) {
            return false;
        }
        con.ids = p;
        con.ids_cap = cap;
    }
    if (con.ids_len > 0) {
        con.ids[con.ids_len++] = ',';
    }
    memcpy(con.ids + con.ids_len, id, n + 1);
    con.ids_len += n;
    return true;
}

/* Folds one poll batch in. False when the checkpoint had to be abandoned (memory reloaded). */
static bool process(rd_kafka_message_t **msgs, size_t n) {
    size_t k = 0;
    uint32_t hour = (uint32_t)(bx_now_unix_s() / 3600);
    for (size_t i = 0; i < n; i++) {
        rd_kafka_message_t *rm = msgs[i];
        if (rm->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (rm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF &&
                bx_now_mono_ms() - con.last_error_log_ms >= LOG_EVERY_MS) {
                bx_warn("analytics: consumer: %s", rd_kafka_message_errstr(rm));
                con.last_error_log_ms = bx_now_mono_ms();
            }
            continue;
        }
        int32_t p = rm->partition;
        if (p < 0 || p >= AN_PARTITIONS_MAX || !an_state.parts[p].assigned) {
            continue; /* fetched before a rebalance took the partition away */
        }
        struct an_part *part = &an_state.parts[p];
        if (part->known && rm->offset < part->next_offset) {
            continue; /* already in the checkpoint (a re-seek replays it) */
        }
        if (part->known && rm->offset > part->next_offset) {
            /* no control records or compaction on this topic: the broker deleted messages we
             * never read (retention). They cannot be counted; say so. */
            bx_metric_add(con.lost, rm->offset - part->next_offset);
            log_skipped("offsets missing (deleted by retention before they were read?): ",
                        "the metrics miss them", p, part->next_offset);
        }
        part->known = true;
        part->next_offset = rm->offset + 1;
        part->dirty = true;
        if (con.pending++ == 0) {
            con.pending_since_ms = bx_now_mono_ms();
        }
        an_state.counters.consumed++;
        an_state.counters_dirty = true;
        const char *why = NULL;
        struct item *it = &con.items[k];
        if (!an_msg_parse(rm->payload, rm->len, &it->m, &why)) {
            an_state.counters.malformed++;
            log_skipped("malformed: ", why, p, rm->offset);
            continue;
        }
        enum an_seen_result seen = an_seen_add(it->m.id, hour);
        if (seen == AN_SEEN_BEFORE) {
            an_state.counters.duplicates++;
            continue;
        }
        if (seen == AN_SEEN_FULL || !ids_add(it->m.id)) {
            fail("remembering a message id", "out of memory");
            return false;
        }
        it->part = p;
        it->offset = rm->offset;
        k++;
    }
    if (k > 0) {
        int64_t now_ms = bx_now_unix_ms();
        uint32_t events_before = an_state.n_events;
        pthread_rwlock_wrlock(&an_state.lock);
        an_state_round();
        for (size_t i = 0; i < k; i++) {
            const struct item *it = &con.items[i];
            if (!an_state_apply(&it->m, it->part, now_ms)) {
                an_state.counters.malformed++;
                log_skipped("past the limit of events or tiers per event: ", it->m.event_id,
                            it->part, it->offset);
            }
        }
        pthread_rwlock_unlock(&an_state.lock);
        if (an_state.n_events != events_before) {
            an_catalog_kick();
        }
    }
    return true;
}

/* How long a checkpoint may wait: batch_ms when live, BACKLOG_STRETCH times that while a backlog
 * is read (every poll fills a whole batch): what the API shows does not wait for commits, so
 * catching up commits less often and runs faster; a crash replays at most this much. */
static int64_t interval_ms(void) {
    return con.backlog ? analytics.batch_ms * BACKLOG_STRETCH : analytics.batch_ms;
}

/* Waits for the state database's lease; true once held (memory then reloaded: the previous
 * holder may have committed since we loaded), false when stopping. */
static bool acquire(void) {
    int64_t last_log = 0;
    for (;;) {
        bool held = false;
        struct bx_error err = {0};
        enum bx_err e = an_store_lease(&held, &err);
        if (held) {
            bx_info("analytics: holding the state database's lease as %s", analytics.instance);
            con.renewed_ms = bx_now_mono_ms();
            reload();
            return !atomic_load(&con.quit);
        }
        if (bx_now_mono_ms() - last_log >= LEASE_LOG_EVERY_MS) {
            bx_warn("analytics: waiting for the state database's lease (%s%s); serving the "
                    "committed state meanwhile",
                    e == BX_OK ? "" : "cannot take it: ", err.message);
            last_log = bx_now_mono_ms();
        }
        if (atomic_load(&con.quit)) {
            return false;
        }
        sleep_ms(LEASE_WAIT_MS);
    }
}

static bool subscribe(void) {
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, analytics.topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t ke = rd_kafka_subscribe(con.rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (ke != RD_KAFKA_RESP_ERR_NO_ERROR) {
        bx_error("analytics: kafka subscribe: %s", rd_kafka_err2str(ke));
        return false;
    }
    bx_info("analytics: consuming %s as group %s (%s assignment)", analytics.topic,
            analytics.group_id, analytics.assignment);
    return true;
}

static void *consumer_main(void *arg) {
    (void)arg;
    rd_kafka_message_t *msgs[AN_POLL_BATCH];
    if (!acquire() || !subscribe()) {
        return NULL;
    }
    while (!atomic_load(&con.quit) && !atomic_load(&con.fenced)) {
        if (con.pending == 0 &&
            bx_now_mono_ms() - con.renewed_ms >= analytics.lease_s * 1000 / LEASE_RENEWALS) {
            bool held = false;
            struct bx_error err = {0};
            if (an_store_lease(&held, &err) == BX_OK && !held) {
                fenced(err.message);
                break;
            }
            con.renewed_ms = bx_now_mono_ms(); /* or retried at the next checkpoint */
        }
        int64_t wait = POLL_MS_MAX;
        if (con.pending > 0) {
            int64_t left = con.pending_since_ms + interval_ms() - bx_now_mono_ms();
            wait = left < 0 ? 0 : (left < wait ? left : wait);
        }
        ssize_t n = rd_kafka_consume_batch_queue(con.queue, (int)wait, msgs, AN_POLL_BATCH);
        if (n < 0) {
            bx_warn("analytics: consume: %s", rd_kafka_err2str(rd_kafka_last_error()));
            sleep_ms(100);
            continue;
        }
        con.backlog = n == AN_POLL_BATCH;
        bool ok = n == 0 || process(msgs, (size_t)n);
        for (ssize_t i = 0; i < n; i++) {
            rd_kafka_message_destroy(msgs[i]);
        }
        if (ok && con.pending > 0 &&
            (con.pending >= analytics.batch_max ||
             bx_now_mono_ms() - con.pending_since_ms >= interval_ms())) {
            ok = checkpoint();
        }
        if (!ok) {
            reseek();
            continue;
        }
        if (con.pending == 0 && bx_now_mono_ms() - con.last_prune_ms >= PRUNE_EVERY_MS) {
            con.last_prune_ms = bx_now_mono_ms();
            int64_t now_s = bx_now_unix_s();
            an_store_prune(now_s);
            pthread_rwlock_wrlock(&an_state.lock);
            an_state_prune_minutes(now_s / 60 - AN_SERIES_MINUTES);
            pthread_rwlock_unlock(&an_state.lock);
        }
    }
    if (atomic_load(&con.fenced)) {
        rd_kafka_consumer_close(con.rk); /* commits nothing: rebalance() checks fenced */
        return NULL;
    }
    checkpoint();
    /* leaves the group; the revocation runs rebalance() here, on this thread */
    rd_kafka_consumer_close(con.rk);
    checkpoint();
    if (!atomic_load(&con.fenced)) {
        an_store_release(); /* a successor need not wait for it to run out */
    }
    return NULL;
}

static enum bx_err conf_set(rd_kafka_conf_t *conf, const char *name, const char *value,
                            struct bx_error *err) {
    char errstr[KAFKA_ERRSTR_BYTES];
    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
        return bx_error_set(err, BX_INTERNAL, NULL, "kafka %s: %s", name, errstr);
    }
    return BX_OK;
}

enum bx_err an_consumer_start(struct bx_error *err) {
    static const char *const names[C_COUNT][2] = {
        {"boxoffice_analytics_consumed_total", "booking-events messages read (every offset once)"},
        {"boxoffice_analytics_applied_total", "messages folded into the metrics"},
        {"boxoffice_analytics_duplicates_total", "messages whose id was already counted"},
        {"boxoffice_analytics_malformed_total", "malformed messages skipped"},
        {"boxoffice_analytics_late_total",
         "messages later than the allowed lateness: in the totals, not in the series"},
    };
    for (int i = 0; i < C_COUNT; i++) {
        con.metrics[i] = bx_metrics_counter(names[i][0], names[i][1]);
    }
    con.checkpoints =
        bx_metrics_counter("boxoffice_analytics_checkpoints_total", "state transactions committed");
    con.checkpoint_failures = bx_metrics_counter("boxoffice_analytics_checkpoint_failures_total",
                                                 "state transactions that failed (then reloaded)");
    con.reloads = bx_metrics_counter("boxoffice_analytics_reloads_total",
                                     "times memory was reloaded from the state database");
    con.lost = bx_metrics_counter("boxoffice_analytics_offsets_missing_total",
                                  "offsets skipped over by the broker (deleted before read)");
    export_metrics();
    if (analytics.kafka[0] == '\0') {
        bx_warn("BOXOFFICE_KAFKA is empty: analytics serves its stored metrics and consumes "
                "nothing");
        atomic_store(&con.healthy, true);
        return BX_OK;
    }
    char session[24], heartbeat[24], errstr[KAFKA_ERRSTR_BYTES];
    snprintf(session, sizeof session, "%lld", (long long)analytics.session_timeout_ms);
    snprintf(heartbeat, sizeof heartbeat, "%lld", (long long)analytics.session_timeout_ms / 3);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *settings[][2] = {
        {"bootstrap.servers", analytics.kafka},
        {"group.id", analytics.group_id},
        {"client.id", "boxoffice-analytics"},
        {"partition.assignment.strategy", analytics.assignment}, /* eager */
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"auto.offset.reset", "earliest"},
        {"session.timeout.ms", session},
        {"heartbeat.interval.ms", heartbeat},
        {"fetch.wait.max.ms", "50"},          /* freshness: an idle fetch returns soon */
        {"reconnect.backoff.max.ms", "1000"}, /* back soon after a broker outage */
    };
    for (size_t i = 0; i < BX_ARRAY_LEN(settings); i++) {
        enum bx_err e = conf_set(conf, settings[i][0], settings[i][1], err);
        if (e != BX_OK) {
            rd_kafka_conf_destroy(conf);
            return e;
        }
    }
    /* TLS and SASL/SCRAM for MSK, from BOXOFFICE_KAFKA_SECURITY_PROTOCOL and friends */
    if (bx_kafka_conf_security(conf, errstr, sizeof errstr) != 0) {
        rd_kafka_conf_destroy(conf);
        return bx_error_set(err, BX_INTERNAL, NULL, "kafka: %s", errstr);
    }
    rd_kafka_conf_set_log_cb(conf, bx_kafka_log);
    rd_kafka_conf_set_rebalance_cb(conf, rebalance);
    con.rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (con.rk == NULL) {
        rd_kafka_conf_destroy(conf);
        return bx_error_set(err, BX_INTERNAL, NULL, "kafka: %s", errstr);
    }
    rd_kafka_poll_set_consumer(con.rk);
    con.queue = rd_kafka_queue_get_consumer(con.rk);
    atomic_store(&con.healthy, true);
    if (pthread_create(&con.thread, NULL, consumer_main, NULL) != 0) {
        an_consumer_stop();
        return bx_error_set(err, BX_INTERNAL, NULL, "cannot start the consumer thread");
    }
    con.running = true;
    return BX_OK;
}

void an_consumer_stop(void) {
    if (con.running) {
        atomic_store(&con.quit, true);
        pthread_join(con.thread, NULL);
        con.running = false;
    }
    if (con.queue != NULL) {
        rd_kafka_queue_destroy(con.queue);
        con.queue = NULL;
    }
    if (con.rk != NULL) {
        rd_kafka_destroy(con.rk);
        con.rk = NULL;
    }
    free(con.ids);
    con.ids = NULL;
    con.ids_len = con.ids_cap = 0;
}

bool an_consumer_healthy(char *why, size_t why_size) {
    if (!atomic_load(&con.healthy)) {
        snprintf(why, why_size, "the state database failed; reloading");
        return false;
    }
    return true;
}
