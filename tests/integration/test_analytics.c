// SPDX-License-Identifier: Apache-2.0
// Integration test of boxoffice-analytics against the real development broker (boxoffice-devkafka)
// and the real catalog (SQLite): the test produces its own booking-events stream with librdkafka
// (holds created, released, expired, confirmed, cancelled; duplicates of earlier messages, also
// across restarts; out-of-order messages within the lateness and some far beyond it; malformed
// messages of many kinds) and compares every number of the API with its own recomputation from
// what the broker acknowledged, in (partition, offset) order: deduplicated by id, late by each
// partition's watermark, exactly as docs/analytics.md defines them. Then:
//  - an SSE client reads the raw stream (chunked) from the analytics port: the full state first,
//    an update within a second of a new order, heartbeats, and after a reconnect with
//    Last-Event-ID only what changed since;
//  - analytics is killed with SIGKILL while it consumes, restarted on the same state database:
//    exact again (nothing lost, nothing counted twice);
//  - the broker is down for 10 s while messages are produced: analytics catches up, exact;
//  - SIGTERM with a stream open: the stream ends and the process exits 0.
//   test_analytics ANALYTICS CATALOG DEVKAFKA [STATE-DB-URL]   (default: SQLite; with_postgres.sh
//                                                               appends a PostgreSQL URL)
// Helper modes for bench/analytics.sh (same binary, so the bench needs nothing else):
//   test_analytics produce BOOTSTRAP TOPIC MESSAGES EVENTS     pre-produce a synthetic stream
//   test_analytics consume-raw BOOTSTRAP TOPIC MESSAGES        the anchor: consume, no processing
//   test_analytics e2e ANALYTICS CATALOG DEVKAFKA BOOKING ORDERS   confirm → visible latency
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "boxoffice/auth.h"
#include "boxoffice/base.h"
#include "harness.h"

#define TOPIC               "booking-events"
#define RECS_MAX            200000
#define EVENTS              4
#define TIERS_MAX           2
#define LATENESS_S          300
#define SERIES_MINUTES      (48 * 60)
#define TOP_WINDOW_MIN      60
#define CATCH_UP_MS         90000
#define READY_MS            30000
#define SSE_WAIT_MS         5000
#define SSE_BUF_BYTES       (4 * 1024 * 1024)
#define SSE_MSGS_MAX        4096
#define PHASE1_HOLDS        1200
#define PHASE2_HOLDS        6000
#define PHASE3_HOLDS        1500
#define PHASE2_RUN_MS       4000 /* phase 2 is produced over this long; analytics dies midway */
#define KILL_AFTER_MESSAGES 1000 /* into phase 2 */
#define BROKER_DOWN_MS      10000
#define MINUTE_ENTRIES      4096

/* ---- the events: three in catalog, one catalog does not know ---- */

struct tier_def {
    const char *currency;
    int64_t price_cents, capacity;
    char id[64];
};

struct event_def {
    const char *title;
    int n_tiers;
    struct tier_def tiers[TIERS_MAX];
    bool in_catalog;
    int weight;
    char id[64];
};

static struct event_def events[EVENTS] = {
    {"Alpha Night", 1, {{"EUR", 4500, 4000, ""}}, true, 4, ""},
    {"Beta Matinee", 2, {{"EUR", 2000, 3000, ""}, {"EUR", 3500, 2000, ""}}, true, 3, ""},
    {"Gamma Mixed", 2, {{"GBP", 5000, 1000, ""}, {"USD", 6000, 1000, ""}}, true, 2, ""},
    {"Ghost", 1, {{"EUR", 1000, 0, ""}}, false, 1, ""},
};

static const char *const type_names[] = {"hold.created", "hold.released", "hold.expired",
                                         "order.confirmed", "order.cancelled"};
enum { T_CREATED, T_RELEASED, T_EXPIRED, T_CONFIRMED, T_CANCELLED };

/* ---- produced messages and their delivery ---- */

struct rec {
    char *payload;
    size_t len;
    char key[64];
    bool valid; /* a well-formed message (else one of the malformed kinds) */
    int type, event, tier;
    char id[40];
    int64_t quantity, amount, t_ms;
    int state; /* 0 in flight, 1 delivered, -1 failed (__atomic builtins) */
    int32_t partition;
    int64_t offset;
    double sort_key; /* the place in its phase's produce order */
};

static struct rec *recs;
static _Atomic size_t n_recs;

static char dir[] = "/tmp/bx-analytics-XXXXXX";
static const char *analytics_bin, *catalog_bin, *devkafka_bin, *booking_bin;
static char keys[128], bootstrap[256], admin[1024], customer[1024];
static uint16_t devkafka_port, catalog_port, analytics_port, booking_port;
static pid_t analytics_pid = -1;
static int64_t t_start_ms;
static const char *state_db_url; /* NULL: SQLite in the test's directory */

static void mint(const struct bx_key *key, enum bx_role role, const char *sub, char *out,
                 size_t size) {
    struct bx_claims c = {.role = role, .iat = bx_now_unix_s(), .exp = bx_now_unix_s() + 7200};
    bx_strlcpy(c.sub, sub, sizeof c.sub);
    bx_uuid7(c.jti);
    BX_ASSERT(bx_token_sign(key, &c, out, size) == BX_OK);
}

static uint32_t next_rand(uint32_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static _Atomic long produce_failures; /* produce mode: messages without a record */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    (void)opaque;
    struct rec *r = m->_private;
    if (r == NULL) {
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            atomic_fetch_add(&produce_failures, 1);
        }
        return;
    }
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        r->partition = m->partition;
        r->offset = m->offset;
        __atomic_store_n(&r->state, 1, __ATOMIC_RELEASE);
    } else {
        __atomic_store_n(&r->state, -1, __ATOMIC_RELEASE);
    }
}

/* The broker outage is deliberate: its connection errors are not news. */
static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    (void)rk;
    (void)level;
    (void)fac;
    (void)buf;
}

static rd_kafka_t *producer_new(const char *bootstraps, const char *compression) {
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *settings[][2] = {
        {"bootstrap.servers", bootstraps},
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"linger.ms", "5"},
        {"message.timeout.ms", "60000"},
        {"reconnect.backoff.max.ms", "1000"},
        {"queue.buffering.max.messages", "1000000"},
        {"queue.buffering.max.kbytes", "2097151"},
        {"compression.type", compression},
        {"batch.num.messages", "10000"},
    };
    for (size_t i = 0; i < BX_ARRAY_LEN(settings); i++) {
        BX_ASSERT(rd_kafka_conf_set(conf, settings[i][0], settings[i][1], errstr, sizeof errstr) ==
                  RD_KAFKA_CONF_OK);
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_log_cb(conf, quiet_log);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (rk == NULL) {
        fprintf(stderr, "producer: %s\n", errstr);
    }
    return rk;
}

static void produce_rec(rd_kafka_t *rk, struct rec *r) {
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_KEY(r->key, strlen(r->key)),
            RD_KAFKA_V_VALUE(r->payload, r->len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_OPAQUE(r), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(rk, 50);
            continue;
        }
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            __atomic_store_n(&r->state, -1, __ATOMIC_RELEASE);
        }
        return;
    }
}

/* ---- generating the stream ---- */

static struct rec *rec_new(void) {
    size_t i = atomic_fetch_add(&n_recs, 1);
    BX_ASSERT(i < RECS_MAX);
    struct rec *r = &recs[i];
    memset(r, 0, sizeof *r);
    return r;
}

static void format_time(int64_t ms, char out[32]) {
    char at[21];
    bx_format_rfc3339(ms / 1000, at);
    snprintf(out, 32, "%.19s.%03dZ", at, (int)(ms % 1000));
}

/* A well-formed message; extra adds an unknown member (compatible addition). */
static struct rec *valid_rec(int type, int e, int t, int64_t q, int64_t t_ms, const char *hold_id,
                             const char *order_id, const char *user, bool extra) {
    struct rec *r = rec_new();
    r->valid = true;
    r->type = type;
    r->event = e;
    r->tier = t;
    r->quantity = q;
    r->amount = q * events[e].tiers[t].price_cents;
    r->t_ms = t_ms;
    bx_uuid7(r->id);
    bx_strlcpy(r->key, events[e].id, sizeof r->key);
    char when[32], order[80];
    format_time(t_ms, when);
    if (order_id != NULL) {
        snprintf(order, sizeof order, "\"%s\"", order_id);
    } else {
        bx_strlcpy(order, "null", sizeof order);
    }
    char *p = NULL;
    int n =
        asprintf(&p,
                 "{\"id\":\"%s\",\"type\":\"%s\",\"version\":1,\"occurred_at\":\"%s\","
                 "\"event_id\":\"%s\",\"tier_id\":\"%s\",\"hold_id\":\"%s\",\"order_id\":%s,"
                 "\"user_id\":\"%s\",\"quantity\":%lld,\"amount_cents\":%lld,"
                 "\"currency\":\"%s\"%s}",
                 r->id, type_names[type], when, events[e].id, events[e].tiers[t].id, hold_id, order,
                 user, (long long)q, (long long)r->amount, events[e].tiers[t].currency,
                 extra ? ",\"note\":{\"a\":[1,2.5e3,{\"b\":null,\"c\":true}],\"s\":\"caf\\u00e9 "
                         "\\\"quoted\\\"\"}"
                       : "");
    BX_ASSERT(n > 0);
    r->payload = p;
    r->len = (size_t)n;
    return r;
}

/* A copy of an earlier message (same id, same bytes): a redelivery. */
static struct rec *dup_rec(const struct rec *o) {
    struct rec *r = rec_new();
    r->valid = o->valid;
    r->type = o->type;
    r->event = o->event;
    r->tier = o->tier;
    r->quantity = o->quantity;
    r->amount = o->amount;
    r->t_ms = o->t_ms;
    memcpy(r->id, o->id, sizeof r->id);
    memcpy(r->key, o->key, sizeof r->key);
    r->payload = malloc(o->len + 1);
    BX_ASSERT(r->payload != NULL);
    memcpy(r->payload, o->payload, o->len + 1);
    r->len = o->len;
    return r;
}

static size_t malformed_made;

static struct rec *malformed_rec(uint32_t *rng) {
    char id[37], a[37], when[32];
    bx_uuid7(id);
    bx_uuid7(a);
    format_time(bx_now_unix_ms(), when);
    char good_tail[600];
    snprintf(good_tail, sizeof good_tail,
             "\"event_id\":\"%s\",\"tier_id\":\"%s\",\"hold_id\":\"%s\",\"order_id\":null,"
             "\"user_id\":\"u1\",\"quantity\":1,\"amount_cents\":4500,\"currency\":\"EUR\"",
             events[0].id, events[0].tiers[0].id, a);
    char *p = NULL;
    int n = 0;
    switch (malformed_made++ % 17) {
    case 0:
        n = asprintf(&p, "not json at all");
        break;
    case 1:
        n = asprintf(&p, "{\"id\":\"%s\",\"type\":\"hold.created\"", id);
        break;
    case 2:
        n = asprintf(&p, "[1,2,3]");
        break;
    case 3:
        n = asprintf(&p, "{}");
        break;
    case 4:
        n = asprintf(&p,
                     "{\"id\":\"%s\",\"type\":\"hold.created\",\"version\":2,"
                     "\"occurred_at\":\"%s\",%s}",
                     id, when, good_tail);
        break;
    case 5:
        n = asprintf(&p,
                     "{\"id\":\"%s\",\"type\":\"hold.teleported\",\"version\":1,"
                     "\"occurred_at\":\"%s\",%s}",
                     id, when, good_tail);
        break;
    case 6:
        n = asprintf(&p,
                     "{\"id\":\"%s\",\"type\":\"hold.created\",\"version\":1,"
                     "\"occurred_at\":\"yesterday\",%s}",
                     id, good_tail);
        break;
    case 7:
        n = asprintf(&p,
                     "{\"id\":\"%s\",\"id\":\"%s\",\"type\":\"hold.created\",\"version\":1,"
                     "\"occurred_at\":\"%s\",%s}",
                     id, a, when, good_tail);
        break;
    case 8:
        n = asprintf(&p,
                     "{\"id\":\"bad id with spaces\",\"type\":\"hold.created\","
                     "\"version\":1,\"occurred_at\":\"%s\",%s}",
                     when, good_tail);
        break;
    case 9: /* quantity as a string */
        n = asprintf(&p,
                     "{\"id\":\"%s\",\"type\":\"hold.created\",\"version\":1,"
                     "\"occurred_at\":\"%s\",\"event_id\":\"%s\",\"tier_id\":\"t\","
                     "\"hold_id\":\"h\",\"order_id\":null,\"user_id\":\"u\",\"quantity\":\"2\","
                     "\"amount_cents\":1,\"currency\":\"EUR\"}",
                     id, when, events[0].id);
        break;
    case 10: /* negative quantity */
        n = asprintf(&p,
                     "{\"id\":\"%s\",\"type\":\"hold.created\",\"version\":1,"
                     "\"occurred_at\":\"%s\",\"event_id\":\"%s\",\"tier_id\":\"t\","
                     "\"hold_id\":\"h\",\"order_id\":null,\"user_id\":\"u\",\"quantity\":-1,"
                     "\"amount_cents\":1,\"currency\":\"EUR\"}",
                     id, when, events[0].id);
        break;
    case 11: /* an order without order_id */
        n = asprintf(&p,
                     "{\"id\":\"%s\",\"type\":\"order.confirmed\",\"version\":1,"
                     "\"occurred_at\":\"%s\",%s}",
                     id, when, good_tail);
        break;
    case 12: /* invalid UTF-8 */
        n = asprintf(&p,
                     "{\"id\":\"%s\",\"type\":\"hold.created\",\"version\":1,"
                     "\"occurred_at\":\"%s\",\"x\":\"\xff\xfe\",%s}",
                     id, when, good_tail);
        break;
    case 13: { /* too large: a valid object past 4 KiB */
        char pad[5001];
        memset(pad, 'x', sizeof pad - 1);
        pad[sizeof pad - 1] = '\0';
        n = asprintf(&p,
                     "{\"id\":\"%s\",\"type\":\"hold.created\",\"version\":1,"
                     "\"occurred_at\":\"%s\",\"pad\":\"%s\",%s}",
                     id, when, pad, good_tail);
        break;
    }
    case 14: { /* nested past 32 levels in an unknown member */
        char deep[100];
        memset(deep, '[', 40);
        memset(deep + 40, ']', 40);
        deep[80] = '\0';
        n = asprintf(&p,
                     "{\"id\":\"%s\",\"type\":\"hold.created\",\"version\":1,"
                     "\"occurred_at\":\"%s\",\"deep\":%s,%s}",
                     id, when, deep, good_tail);
        break;
    }
    case 15: /* trailing garbage */
        n = asprintf(&p,
                     "{\"id\":\"%s\",\"type\":\"hold.created\",\"version\":1,"
                     "\"occurred_at\":\"%s\",%s} x",
                     id, when, good_tail);
        break;
    default: /* an empty value */
        p = strdup("");
        n = 0;
        break;
    }
    BX_ASSERT(p != NULL && n >= 0);
    struct rec *r = rec_new();
    r->valid = false;
    r->payload = p;
    r->len = (size_t)n;
    /* keyed like a real event (same partition as its messages) or not at all like one */
    bx_strlcpy(r->key, next_rand(rng) % 2 ? events[next_rand(rng) % EVENTS].id : "garbage",
               sizeof r->key);
    return r;
}

static int cmp_time(const void *a, const void *b) {
    const struct rec *x = a, *y = b;
    return x->t_ms < y->t_ms ? -1 : x->t_ms > y->t_ms;
}

static int cmp_key(const void *a, const void *b) {
    const struct rec *x = a, *y = b;
    return x->sort_key < y->sort_key ? -1 : x->sort_key > y->sort_key;
}

/* One phase: holds with their fates, times in [from_ms, to_ms], sorted by time, then shuffled a
 * little (out of order within the lateness), a few moved 3 minutes later (late, but within the
 * lateness), a few 2 hours old (beyond it), 10% duplicated later, malformed ones sprinkled in, and
 * some duplicates of messages of earlier phases. Returns the range [first, last) in recs. */
static void generate(uint32_t *rng, int holds, int64_t from_ms, int64_t to_ms, size_t *first,
                     size_t *last) {
    size_t start = atomic_load(&n_recs);
    int total_weight = 0;
    for (int e = 0; e < EVENTS; e++) {
        total_weight += events[e].weight;
    }
    for (int h = 0; h < holds; h++) {
        int w = (int)(next_rand(rng) % (uint32_t)total_weight), e = 0;
        while (w >= events[e].weight) {
            w -= events[e].weight;
            e++;
        }
        int t = (int)(next_rand(rng) % (uint32_t)events[e].n_tiers);
        int64_t q = 1 + next_rand(rng) % 4;
        int64_t span = to_ms - from_ms;
        int64_t tc = from_ms + (int64_t)(next_rand(rng) % (uint32_t)(span * 7 / 10));
        char hold[37], order[37], user[40];
        bx_uuid7(hold);
        bx_uuid7(order);
        snprintf(user, sizeof user, "user-%u", next_rand(rng) % 50);
        bool extra = next_rand(rng) % 20 == 0;
        valid_rec(T_CREATED, e, t, q, tc, hold, NULL, user, extra);
        uint32_t fate = next_rand(rng) % 10;
        int64_t later = tc + 1000 + (int64_t)(next_rand(rng) % (uint32_t)(span * 2 / 10));
        if (fate < 5) {
            valid_rec(T_CONFIRMED, e, t, q, later, hold, order, user, false);
            if (next_rand(rng) % 5 == 0) {
                valid_rec(T_CANCELLED, e, t, q, later + 1000 + next_rand(rng) % 60000, hold, order,
                          user, false);
            }
        } else if (fate < 7) {
            valid_rec(T_RELEASED, e, t, q, later, hold, NULL, user, false);
        } else if (fate < 9) {
            valid_rec(T_EXPIRED, e, t, q, later, hold, NULL, user, false);
        } /* else: still held */
    }
    size_t end = atomic_load(&n_recs);
    /* by event time, as a relay would publish them */
    qsort(&recs[start], end - start, sizeof *recs, cmp_time);
    size_t n = end - start;
    for (size_t i = start; i + 1 < end; i++) { /* local disorder */
        if (next_rand(rng) % 5 == 0) {
            size_t j = i + 1 + next_rand(rng) % 20;
            if (j < end) {
                struct rec tmp = recs[i];
                recs[i] = recs[j];
                recs[j] = tmp;
            }
        }
    }
    for (size_t k = 0; k < n / 50; k++) { /* 3 minutes behind, within the lateness */
        size_t i = start + next_rand(rng) % n;
        recs[i].t_ms -= 180000;
        char when[32];
        format_time(recs[i].t_ms, when);
        char *at = strstr(recs[i].payload, "\"occurred_at\":\"");
        BX_ASSERT(at != NULL);
        memcpy(at + 15, when, 24);
    }
    for (size_t k = 0; k < n / 100; k++) { /* 2 hours old: beyond the lateness */
        size_t i = start + n / 2 + next_rand(rng) % (n / 2);
        recs[i].t_ms -= 2 * 3600 * 1000;
        char when[32];
        format_time(recs[i].t_ms, when);
        char *at = strstr(recs[i].payload, "\"occurred_at\":\"");
        BX_ASSERT(at != NULL);
        memcpy(at + 15, when, 24);
    }
    /* redeliveries (10% of this phase, a copy somewhere after its original; and some of earlier
     * phases) and malformed messages anywhere */
    for (size_t i = start; i < end; i++) {
        recs[i].sort_key = (double)(i - start);
    }
    for (size_t k = 0; k < n / 10; k++) {
        size_t i = start + next_rand(rng) % n;
        struct rec *c = dup_rec(&recs[i]);
        c->sort_key = recs[i].sort_key + 0.5 + (double)(next_rand(rng) % (uint32_t)(end - i));
    }
    for (size_t k = 0; start > 0 && k < 50; k++) {
        size_t i = next_rand(rng) % start;
        if (recs[i].valid) {
            dup_rec(&recs[i])->sort_key = (double)(next_rand(rng) % (uint32_t)n) + 0.25;
        }
    }
    for (int k = 0; k < 20; k++) {
        malformed_rec(rng)->sort_key = (double)(next_rand(rng) % (uint32_t)n) + 0.75;
    }
    end = atomic_load(&n_recs);
    qsort(&recs[start], end - start, sizeof *recs, cmp_key);
    *first = start;
    *last = end;
}

static size_t produce_range(const char *bootstraps, size_t first, size_t last, int64_t run_ms) {
    rd_kafka_t *rk = producer_new(bootstraps, "none");
    if (rk == NULL) {
        return 0;
    }
    int64_t t0 = bx_now_mono_ms();
    for (size_t i = first; i < last; i++) {
        produce_rec(rk, &recs[i]);
        if (run_ms > 0) { /* spread over run_ms */
            int64_t due = t0 + run_ms * (int64_t)(i - first) / (int64_t)(last - first);
            while (bx_now_mono_ms() < due) {
                rd_kafka_poll(rk, 1);
            }
        }
        rd_kafka_poll(rk, 0);
    }
    rd_kafka_flush(rk, 90000);
    rd_kafka_destroy(rk);
    size_t ok = 0;
    for (size_t i = first; i < last; i++) {
        ok += __atomic_load_n(&recs[i].state, __ATOMIC_ACQUIRE) == 1;
    }
    return ok;
}

/* ---- the independent recomputation ---- */

struct minute_sum {
    int64_t minute;
    char currency[4];
    int64_t tickets, revenue;
};

struct expect_event {
    int64_t sold, active, created, expired, released, orders, cancellations;
    char currencies[4][4];
    int64_t revenue[4];
    int n_cur;
    struct minute_sum minutes[MINUTE_ENTRIES];
    int n_minutes;
};

static struct expect_event expect[EVENTS];
static int64_t expect_applied, expect_duplicates, expect_malformed, expect_late, expect_consumed;

static int cmp_offsets(const void *a, const void *b) {
    const struct rec *x = *(const struct rec *const *)a, *y = *(const struct rec *const *)b;
    if (x->partition != y->partition) {
        return x->partition < y->partition ? -1 : 1;
    }
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static void add_revenue(struct expect_event *x, const char *cur, int64_t v) {
    for (int i = 0; i < x->n_cur; i++) {
        if (strcmp(x->currencies[i], cur) == 0) {
            x->revenue[i] += v;
            return;
        }
    }
    BX_ASSERT(x->n_cur < 4);
    bx_strlcpy(x->currencies[x->n_cur], cur, 4);
    x->revenue[x->n_cur++] = v;
}

static void add_minute(struct expect_event *x, int64_t minute, const char *cur, int64_t q,
                       int64_t v) {
    for (int i = 0; i < x->n_minutes; i++) {
        if (x->minutes[i].minute == minute && strcmp(x->minutes[i].currency, cur) == 0) {
            x->minutes[i].tickets += q;
            x->minutes[i].revenue += v;
            return;
        }
    }
    BX_ASSERT(x->n_minutes < MINUTE_ENTRIES);
    struct minute_sum *m = &x->minutes[x->n_minutes++];
    m->minute = minute;
    bx_strlcpy(m->currency, cur, 4);
    m->tickets = q;
    m->revenue = v;
}

static int cmp_minutes(const void *a, const void *b) {
    const struct minute_sum *x = a, *y = b;
    if (x->minute != y->minute) {
        return x->minute < y->minute ? -1 : 1;
    }
    return strcmp(x->currency, y->currency);
}

struct id_pos {
    const char *id;
    size_t pos;
};

static int cmp_id_pos(const void *a, const void *b) {
    const struct id_pos *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    return c != 0 ? c : (x->pos < y->pos ? -1 : x->pos > y->pos);
}

/* Recomputes everything from the delivered messages in (partition, offset) order. */
static void recompute(int64_t now_ms) {
    memset(expect, 0, sizeof expect);
    expect_applied = expect_duplicates = expect_malformed = expect_late = expect_consumed = 0;
    size_t n = atomic_load(&n_recs);
    struct rec **order = calloc(n + 1, sizeof *order);
    struct id_pos *ids = calloc(n + 1, sizeof *ids);
    bool *dup = calloc(n + 1, sizeof *dup);
    BX_ASSERT(order != NULL && ids != NULL && dup != NULL);
    size_t k = 0, n_ids = 0;
    for (size_t i = 0; i < n; i++) {
        if (__atomic_load_n(&recs[i].state, __ATOMIC_ACQUIRE) == 1) {
            order[k++] = &recs[i];
        }
    }
    qsort(order, k, sizeof *order, cmp_offsets);
    /* the first of each id in offset order counts; later copies are duplicates */
    for (size_t i = 0; i < k; i++) {
        if (order[i]->valid) {
            ids[n_ids++] = (struct id_pos){.id = order[i]->id, .pos = i};
        }
    }
    qsort(ids, n_ids, sizeof *ids, cmp_id_pos);
    for (size_t i = 1; i < n_ids; i++) {
        dup[ids[i].pos] = strcmp(ids[i].id, ids[i - 1].id) == 0;
    }
    int64_t watermark[64] = {0};
    for (size_t i = 0; i < k; i++) {
        struct rec *r = order[i];
        expect_consumed++;
        if (!r->valid) {
            expect_malformed++;
            continue;
        }
        if (dup[i]) {
            expect_duplicates++;
            continue;
        }
        expect_applied++;
        BX_ASSERT(r->partition >= 0 && r->partition < 64);
        int64_t *wm = &watermark[r->partition];
        int64_t minute = r->t_ms / 60000;
        bool late = (*wm > 0 && r->t_ms < *wm - LATENESS_S * 1000) ||
                    minute <= now_ms / 60000 - SERIES_MINUTES;
        struct expect_event *x = &expect[r->event];
        const char *cur = events[r->event].tiers[r->tier].currency;
        add_revenue(x, cur, 0);
        switch (r->type) {
        case T_CREATED:
            x->created++;
            x->active += r->quantity;
            break;
        case T_RELEASED:
            x->released++;
            x->active -= r->quantity;
            break;
        case T_EXPIRED:
            x->expired++;
            x->active -= r->quantity;
            break;
        case T_CONFIRMED:
            x->orders++;
            x->active -= r->quantity;
            x->sold += r->quantity;
            add_revenue(x, cur, r->amount);
            if (!late) {
                add_minute(x, minute, cur, r->quantity, r->amount);
            }
            break;
        case T_CANCELLED:
            x->cancellations++;
            x->sold -= r->quantity;
            add_revenue(x, cur, -r->amount);
            if (!late) {
                add_minute(x, minute, cur, -r->quantity, -r->amount);
            }
            break;
        }
        expect_late += late;
        if (r->t_ms > *wm) {
            *wm = r->t_ms;
        }
    }
    for (int e = 0; e < EVENTS; e++) {
        qsort(expect[e].minutes, (size_t)expect[e].n_minutes, sizeof expect[e].minutes[0],
              cmp_minutes);
    }
    free(order);
    free(ids);
    free(dup);
}

/* ---- reading analytics ---- */

static int64_t metric_on(uint16_t port, const char *name) {
    char req[256], resp[65536];
    int n =
        snprintf(req, sizeof req, "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    harness_raw(port, req, (size_t)n, resp, sizeof resp, 3000);
    char needle[128];
    snprintf(needle, sizeof needle, "\n%s{", name);
    const char *p = strstr(resp, needle);
    if (p == NULL) {
        return -1;
    }
    p = strchr(p, '}');
    return p ? strtoll(p + 2, NULL, 10) : -1;
}

static int64_t metric(const char *name) {
    return metric_on(analytics_port, name);
}

static bool wait_consumed(int64_t want, int64_t timeout_ms) {
    int64_t deadline = bx_now_mono_ms() + timeout_ms;
    int64_t got = -1;
    while (bx_now_mono_ms() < deadline) {
        got = metric("boxoffice_analytics_consumed_total");
        if (got == want) {
            return true;
        }
        usleep(100 * 1000);
    }
    printf("    consumed %lld of %lld\n", (long long)got, (long long)want);
    return false;
}

/* analytics on port, in consumer group "analytics-test" (a replica's restart) unless group. */
static pid_t start_analytics_on(uint16_t port, const char *group) {
    char e0[64], e1[300], e2[400], e3[300], e4[100], e5[100], log[300];
    snprintf(e0, sizeof e0, "BOXOFFICE_ANALYTICS_PORT=%u", (unsigned)port);
    snprintf(e5, sizeof e5, "BOXOFFICE_ANALYTICS_GROUP=%s", group ? group : "analytics-test");
    snprintf(e1, sizeof e1, "BOXOFFICE_AUTH_KEYS=%s", keys);
    if (state_db_url != NULL) {
        snprintf(e2, sizeof e2, "BOXOFFICE_ANALYTICS_DB=%s", state_db_url);
    } else {
        snprintf(e2, sizeof e2, "BOXOFFICE_ANALYTICS_DB=sqlite:%s/analytics.db", dir);
    }
    snprintf(e3, sizeof e3, "BOXOFFICE_KAFKA=%s", bootstrap);
    snprintf(e4, sizeof e4, "BOXOFFICE_CATALOG_URL=http://127.0.0.1:%u", (unsigned)catalog_port);
    snprintf(log, sizeof log, "%s/analytics.log", dir);
    const char *env[] = {e0,
                         e1,
                         e2,
                         e3,
                         e4,
                         e5,
                         "BOXOFFICE_ANALYTICS_SESSION_TIMEOUT_MS=6000",
                         "BOXOFFICE_ANALYTICS_LEASE_S=3",
                         "BOXOFFICE_ANALYTICS_LATENESS_S=300",
                         "BOXOFFICE_ANALYTICS_SSE_HEARTBEAT_S=1",
                         "BOXOFFICE_ANALYTICS_SSE_INTERVAL_MS=250",
                         "BOXOFFICE_LOG_LEVEL=warn",
                         NULL};
    return harness_spawn(analytics_bin, env, log);
}

static pid_t start_analytics(void) {
    return start_analytics_on(analytics_port, NULL);
}

static bool int_is(json_t *o, const char *key, int64_t want) {
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) && json_integer_value(v) == want;
}

/* The object has exactly these members. */
static bool keys_are(json_t *o, const char *const *names, size_t n) {
    if (!json_is_object(o) || json_object_size(o) != n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (json_object_get(o, names[i]) == NULL) {
            return false;
        }
    }
    return true;
}

static bool revenue_is(json_t *rev, const struct expect_event *x, int n) {
    /* x: n events summed (n == 1: one event) */
    json_t *want = json_object();
    for (int e = 0; e < n; e++) {
        for (int i = 0; i < x[e].n_cur; i++) {
            json_t *v = json_object_get(want, x[e].currencies[i]);
            int64_t was = v ? (int64_t)json_integer_value(v) : 0;
            json_object_set_new(want, x[e].currencies[i], json_integer(was + x[e].revenue[i]));
        }
    }
    bool ok = json_equal(rev, want);
    if (!ok) {
        char *a = json_dumps(rev, JSON_COMPACT), *b = json_dumps(want, JSON_COMPACT);
        printf("    revenue %s, expected %s\n", a ? a : "?", b ? b : "?");
        free(a);
        free(b);
    }
    json_decref(want);
    return ok;
}

static int64_t capacity_of(int e) {
    int64_t c = 0;
    for (int t = 0; t < events[e].n_tiers; t++) {
        c += events[e].tiers[t].capacity;
    }
    return c;
}

static const char *const event_fields[] = {"event_id",      "tickets_sold",  "revenue",
                                           "active_holds",  "holds_created", "holds_expired",
                                           "cancellations", "sell_through",  "per_minute"};

/* Compares one event document with the recomputation; returns the problems found. */
static int check_event_doc(json_t *doc, int e, int64_t now_s, bool print) {
    const struct expect_event *x = &expect[e];
    int bad = 0;
    bad += !keys_are(doc, event_fields, BX_ARRAY_LEN(event_fields));
    bad += !int_is(doc, "tickets_sold", x->sold);
    bad += !int_is(doc, "active_holds", x->active);
    bad += !int_is(doc, "holds_created", x->created);
    bad += !int_is(doc, "holds_expired", x->expired);
    bad += !int_is(doc, "cancellations", x->cancellations);
    bad += !revenue_is(json_object_get(doc, "revenue"), x, 1);
    json_t *st = json_object_get(doc, "sell_through");
    if (events[e].in_catalog) {
        double want = round((double)x->sold * 100.0 / (double)capacity_of(e) * 100.0) / 100.0;
        bad += !json_is_number(st) || fabs(json_number_value(st) - want) > 0.0001;
    } else {
        bad += !json_is_null(st);
    }
    bool several = x->n_cur > 1;
    json_t *pm = json_object_get(doc, "per_minute");
    int64_t first = now_s / 60 - SERIES_MINUTES + 1;
    size_t j = 0;
    int series_bad = 0;
    for (int i = 0; i < x->n_minutes; i++) {
        const struct minute_sum *m = &x->minutes[i];
        if (m->minute < first) {
            continue;
        }
        json_t *got = json_array_get(pm, j++);
        char at[21];
        bx_format_rfc3339(m->minute * 60, at);
        const char *gm = json_string_value(json_object_get(got, "minute"));
        const char *gc = json_string_value(json_object_get(got, "currency"));
        bool ok =
            gm != NULL && strcmp(gm, at) == 0 && int_is(got, "tickets_sold", m->tickets) &&
            int_is(got, "revenue_cents", m->revenue) &&
            (several ? gc != NULL && strcmp(gc, m->currency) == 0 : json_object_size(got) == 3);
        if (!ok && series_bad++ < 3 && print) {
            char *s = json_dumps(got, JSON_COMPACT);
            printf("    minute %s %s: expected %lld/%lld, got %s\n", at, m->currency,
                   (long long)m->tickets, (long long)m->revenue, s ? s : "nothing");
            free(s);
        }
    }
    series_bad += j != json_array_size(pm);
    bad += series_bad;
    if (bad && print) {
        char *s = json_dumps(doc, JSON_COMPACT);
        printf("    %s: %d problem(s); expected sold %lld active %lld created %lld expired %lld "
               "cancellations %lld, %d minutes; got %.600s\n",
               events[e].title, bad, (long long)x->sold, (long long)x->active,
               (long long)x->created, (long long)x->expired, (long long)x->cancellations,
               x->n_minutes, s ? s : "?");
        free(s);
    }
    return bad;
}

static int check_summary_doc(json_t *doc, int64_t now_s, bool print) {
    static const char *const fields[] = {"orders", "tickets_sold", "revenue", "top_events"};
    int bad = !keys_are(doc, fields, BX_ARRAY_LEN(fields));
    int64_t orders = 0, sold = 0;
    struct {
        int e;
        int64_t recent;
    } top[EVENTS];
    int n_top = 0;
    for (int e = 0; e < EVENTS; e++) {
        orders += expect[e].orders - expect[e].cancellations;
        sold += expect[e].sold;
        int64_t recent = 0;
        for (int i = 0; i < expect[e].n_minutes; i++) {
            if (expect[e].minutes[i].minute >= now_s / 60 - TOP_WINDOW_MIN + 1) {
                recent += expect[e].minutes[i].tickets;
            }
        }
        if (recent > 0) {
            int at = n_top++;
            while (at > 0 && (top[at - 1].recent < recent ||
                              (top[at - 1].recent == recent &&
                               strcmp(events[top[at - 1].e].id, events[e].id) > 0))) {
                top[at] = top[at - 1];
                at--;
            }
            top[at].e = e;
            top[at].recent = recent;
        }
    }
    bad += !int_is(doc, "orders", orders);
    bad += !int_is(doc, "tickets_sold", sold);
    bad += !revenue_is(json_object_get(doc, "revenue"), expect, EVENTS);
    json_t *list = json_object_get(doc, "top_events");
    bad += json_array_size(list) != (size_t)n_top;
    for (int i = 0; i < n_top && i < (int)json_array_size(list); i++) {
        json_t *t = json_array_get(list, (size_t)i);
        static const char *const tf[] = {"event_id", "title", "tickets_sold"};
        const char *id = json_string_value(json_object_get(t, "event_id"));
        const char *title = json_string_value(json_object_get(t, "title"));
        const struct event_def *d = &events[top[i].e];
        bool ok = keys_are(t, tf, 3) && id != NULL && strcmp(id, d->id) == 0 &&
                  int_is(t, "tickets_sold", top[i].recent) &&
                  (d->in_catalog ? title != NULL && strcmp(title, d->title) == 0
                                 : json_is_null(json_object_get(t, "title")));
        bad += !ok;
    }
    if (bad && print) {
        char *s = json_dumps(doc, JSON_COMPACT);
        printf("    summary: %d problem(s); expected orders %lld sold %lld, %d top; got %.800s\n",
               bad, (long long)orders, (long long)sold, n_top, s ? s : "?");
        free(s);
    }
    return bad;
}

/* The API against the recomputation; retried for a few seconds while titles and capacities
 * arrive from catalog. */
static void compare_all(const char *when) {
    int bad = 0;
    int64_t deadline = bx_now_mono_ms() + 10000;
    for (int attempt = 0;; attempt++) {
        int64_t now_ms = bx_now_unix_ms();
        recompute(now_ms);
        bool last = bx_now_mono_ms() >= deadline;
        bad = 0;
        struct harness_res r =
            harness_call(analytics_port, "GET", "/api/analytics/summary", admin, NULL, NULL);
        bad += r.status != 200 || check_summary_doc(r.body, now_ms / 1000, last);
        harness_res_drop(&r);
        for (int e = 0; e < EVENTS; e++) {
            char path[128];
            snprintf(path, sizeof path, "/api/analytics/events/%s", events[e].id);
            r = harness_call(analytics_port, "GET", path, admin, NULL, NULL);
            bad += r.status != 200 || check_event_doc(r.body, e, now_ms / 1000, last);
            harness_res_drop(&r);
        }
        if (bad == 0 || last) {
            break;
        }
        usleep(300 * 1000);
        (void)attempt;
    }
    CHECK(bad == 0, "%s: summary and every event equal the recomputation", when);
    CHECK(metric("boxoffice_analytics_applied_total") == expect_applied &&
              metric("boxoffice_analytics_duplicates_total") == expect_duplicates &&
              metric("boxoffice_analytics_malformed_total") == expect_malformed &&
              metric("boxoffice_analytics_late_total") == expect_late,
          "%s: counters: %lld applied, %lld duplicates, %lld malformed, %lld late (metrics %lld, "
          "%lld, %lld, %lld)",
          when, (long long)expect_applied, (long long)expect_duplicates,
          (long long)expect_malformed, (long long)expect_late,
          (long long)metric("boxoffice_analytics_applied_total"),
          (long long)metric("boxoffice_analytics_duplicates_total"),
          (long long)metric("boxoffice_analytics_malformed_total"),
          (long long)metric("boxoffice_analytics_late_total"));
}

/* ---- a raw SSE client ---- */

struct sse_msg {
    char event[16];
    uint64_t id;
    bool has_id;
    bool comment;
    json_t *data;
    int64_t at_ms;
};

struct sse {
    int fd;
    char *raw; /* bytes as received */
    size_t raw_len, raw_off;
    char *body; /* de-chunked */
    size_t body_len, body_off;
    bool headers_done, chunked, ended;
    int status;
    int64_t chunk_left; /* -1: at a size line */
    struct sse_msg msgs[SSE_MSGS_MAX];
    size_t n_msgs;
};

static void sse_free(struct sse *s) {
    if (s->fd >= 0) {
        close(s->fd);
    }
    for (size_t i = 0; i < s->n_msgs; i++) {
        json_decref(s->msgs[i].data);
    }
    free(s->raw);
    free(s->body);
    free(s);
}

static struct sse *sse_open(const char *token, const char *last_event_id) {
    struct sse *s = calloc(1, sizeof *s);
    BX_ASSERT(s != NULL);
    s->raw = malloc(SSE_BUF_BYTES);
    s->body = malloc(SSE_BUF_BYTES);
    s->chunk_left = -1;
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    BX_ASSERT(s->raw && s->body && s->fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons(analytics_port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(s->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        s->ended = true;
        return s;
    }
    char req[2048], lei[96] = "";
    if (last_event_id != NULL) {
        snprintf(lei, sizeof lei, "Last-Event-ID: %s\r\n", last_event_id);
    }
    int n = snprintf(req, sizeof req,
                     "GET /api/analytics/stream HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream"
                     "\r\nAuthorization: Bearer %s\r\n%s\r\n",
                     token, lei);
    if (send(s->fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        s->ended = true;
    }
    return s;
}

static void sse_parse_body(struct sse *s) {
    for (;;) {
        char *start = s->body + s->body_off;
        char *end = memmem(start, s->body_len - s->body_off, "\n\n", 2);
        if (end == NULL || s->n_msgs == SSE_MSGS_MAX) {
            return;
        }
        *end = '\0';
        struct sse_msg *m = &s->msgs[s->n_msgs];
        memset(m, 0, sizeof *m);
        m->at_ms = bx_now_mono_ms();
        bool any = false;
        for (char *line = start; line != NULL && line < end;) {
            char *nl = strchr(line, '\n');
            if (nl != NULL) {
                *nl = '\0';
            }
            if (line[0] == ':') {
                m->comment = true;
                any = true;
            } else if (strncmp(line, "event: ", 7) == 0) {
                bx_strlcpy(m->event, line + 7, sizeof m->event);
                any = true;
            } else if (strncmp(line, "id: ", 4) == 0) {
                m->id = strtoull(line + 4, NULL, 10);
                m->has_id = true;
            } else if (strncmp(line, "data: ", 6) == 0) {
                m->data = json_loads(line + 6, 0, NULL);
            }
            line = nl ? nl + 1 : NULL;
        }
        if (any || m->data != NULL) {
            s->n_msgs++;
        }
        s->body_off = (size_t)(end + 2 - s->body);
    }
}

/* Moves what arrived into body (de-chunking) and parses whole messages. */
static void sse_digest(struct sse *s) {
    if (!s->headers_done) {
        char *h = memmem(s->raw, s->raw_len, "\r\n\r\n", 4);
        if (h == NULL) {
            return;
        }
        *h = '\0';
        s->status = (int)strtol(s->raw + 9, NULL, 10);
        s->chunked = strcasestr(s->raw, "Transfer-Encoding: chunked") != NULL;
        s->headers_done = true;
        s->raw_off = (size_t)(h + 4 - s->raw);
    }
    while (s->raw_off < s->raw_len) {
        if (!s->chunked) {
            size_t n = s->raw_len - s->raw_off;
            memcpy(s->body + s->body_len, s->raw + s->raw_off, n);
            s->body_len += n;
            s->raw_off += n;
            break;
        }
        if (s->chunk_left < 0) {
            char *eol = memmem(s->raw + s->raw_off, s->raw_len - s->raw_off, "\r\n", 2);
            if (eol == NULL) {
                break;
            }
            s->chunk_left = strtoll(s->raw + s->raw_off, NULL, 16);
            s->raw_off = (size_t)(eol + 2 - s->raw);
            if (s->chunk_left == 0) {
                s->ended = true; /* the last chunk */
                break;
            }
        }
        size_t avail = s->raw_len - s->raw_off;
        size_t take = avail < (size_t)s->chunk_left ? avail : (size_t)s->chunk_left;
        memcpy(s->body + s->body_len, s->raw + s->raw_off, take);
        s->body_len += take;
        s->raw_off += take;
        s->chunk_left -= (int64_t)take;
        if (s->chunk_left == 0) {
            if (s->raw_len - s->raw_off < 2) {
                s->chunk_left = 0; /* wait for its CRLF */
                break;
            }
            s->raw_off += 2;
            s->chunk_left = -1;
        } else {
            break;
        }
    }
    s->body[s->body_len] = '\0';
    sse_parse_body(s);
}

/* Reads for up to timeout_ms, or until done(s) is true. */
static bool sse_read(struct sse *s, int64_t timeout_ms, bool (*done)(struct sse *, void *),
                     void *arg) {
    int64_t deadline = bx_now_mono_ms() + timeout_ms;
    while (!s->ended && bx_now_mono_ms() < deadline) {
        if (done != NULL && done(s, arg)) {
            return true;
        }
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        if (poll(&p, 1, 20) <= 0) {
            continue;
        }
        ssize_t r = recv(s->fd, s->raw + s->raw_len, SSE_BUF_BYTES - 1 - s->raw_len, 0);
        if (r <= 0) {
            s->ended = true;
            break;
        }
        s->raw_len += (size_t)r;
        sse_digest(s);
    }
    return done != NULL && done(s, arg);
}

struct want_event {
    const char *event_id;
    int64_t min_sold;
    size_t from;
};

static bool has_event(struct sse *s, void *arg) {
    struct want_event *w = arg;
    for (size_t i = w->from; i < s->n_msgs; i++) {
        const char *id = json_string_value(json_object_get(s->msgs[i].data, "event_id"));
        json_t *sold = json_object_get(s->msgs[i].data, "tickets_sold");
        if (strcmp(s->msgs[i].event, "event") == 0 && id != NULL && strcmp(id, w->event_id) == 0 &&
            json_integer_value(sold) >= w->min_sold) {
            return true;
        }
    }
    return false;
}

static bool has_everything(struct sse *s, void *arg) {
    (void)arg;
    int seen = 0, summary = 0;
    for (size_t i = 0; i < s->n_msgs; i++) {
        summary += strcmp(s->msgs[i].event, "summary") == 0;
        seen += strcmp(s->msgs[i].event, "event") == 0;
    }
    return summary >= 1 && seen >= EVENTS;
}

static bool has_heartbeat(struct sse *s, void *arg) {
    size_t from = *(size_t *)arg;
    for (size_t i = from; i < s->n_msgs; i++) {
        if (s->msgs[i].comment) {
            return true;
        }
    }
    return false;
}

static uint64_t last_id(struct sse *s) {
    uint64_t id = 0;
    for (size_t i = 0; i < s->n_msgs; i++) {
        if (s->msgs[i].has_id) {
            id = s->msgs[i].id;
        }
    }
    return id;
}

/* ---- setup ---- */

static bool setup_catalog(void) {
    struct harness_res r = harness_call(catalog_port, "POST", "/api/venues", admin, NULL,
                                        "{\"name\":\"Metrics Hall\",\"address\":\"1 Road\","
                                        "\"city\":\"Leeds\",\"country\":\"GB\","
                                        "\"timezone\":\"Europe/London\"}");
    char venue[64] = "";
    bx_strlcpy(venue, harness_str(r.body, "id") ? harness_str(r.body, "id") : "", sizeof venue);
    harness_res_drop(&r);
    bool ok = venue[0] != '\0';
    for (int e = 0; e < EVENTS && ok; e++) {
        struct event_def *d = &events[e];
        if (!d->in_catalog) {
            bx_uuid7(d->id);
            bx_uuid7(d->tiers[0].id);
            continue;
        }
        char tiers[1024] = "", body[2048];
        size_t len = 0;
        for (int t = 0; t < d->n_tiers; t++) {
            len += (size_t)snprintf(tiers + len, sizeof tiers - len,
                                    "%s{\"name\":\"T%d\",\"price_cents\":%lld,\"currency\":\"%s\","
                                    "\"capacity\":%lld,\"max_per_order\":10}",
                                    t ? "," : "", t, (long long)d->tiers[t].price_cents,
                                    d->tiers[t].currency, (long long)d->tiers[t].capacity);
        }
        snprintf(body, sizeof body,
                 "{\"title\":\"%s\",\"category\":\"rock\",\"venue_id\":\"%s\","
                 "\"starts_at\":\"2030-01-01T20:00:00Z\",\"ends_at\":\"2030-01-01T23:00:00Z\","
                 "\"tiers\":[%s]}",
                 d->title, venue, tiers);
        r = harness_call(catalog_port, "POST", "/api/events", admin, NULL, body);
        json_t *tl = json_object_get(r.body, "tiers");
        ok = r.status == 201 && json_array_size(tl) == (size_t)d->n_tiers;
        if (ok) {
            bx_strlcpy(d->id, harness_str(r.body, "id"), sizeof d->id);
            for (int t = 0; t < d->n_tiers; t++) {
                bx_strlcpy(d->tiers[t].id, harness_str(json_array_get(tl, (size_t)t), "id"),
                           sizeof d->tiers[t].id);
            }
        }
        harness_res_drop(&r);
        char path[128];
        snprintf(path, sizeof path, "/api/events/%s/publish", d->id);
        r = harness_call(catalog_port, "POST", path, admin, NULL, NULL);
        ok = ok && r.status == 200;
        harness_res_drop(&r);
    }
    return ok;
}

static bool start_devkafka(pid_t *pid) {
    devkafka_port = harness_free_port();
    char d0[64], d1[300], dlog[300];
    snprintf(d0, sizeof d0, "BOXOFFICE_DEVKAFKA_PORT=%u", (unsigned)devkafka_port);
    snprintf(d1, sizeof d1, "BOXOFFICE_DEVKAFKA_BOOTSTRAP_FILE=%s/kafka.bootstrap", dir);
    snprintf(dlog, sizeof dlog, "%s/devkafka.log", dir);
    const char *denv[] = {d0, d1, "BOXOFFICE_LOG_LEVEL=warn", NULL};
    *pid = harness_spawn(devkafka_bin, denv, dlog);
    bool up = harness_wait_ok(devkafka_port, "/readyz", READY_MS);
    char path[400];
    snprintf(path, sizeof path, "%s/kafka.bootstrap", dir);
    FILE *bf = fopen(path, "r");
    up = up && bf != NULL && fgets(bootstrap, sizeof bootstrap, bf) != NULL;
    if (bf != NULL) {
        fclose(bf);
    }
    bootstrap[strcspn(bootstrap, "\r\n")] = '\0';
    return up;
}

static pid_t start_catalog(void) {
    catalog_port = harness_free_port();
    char c0[64], c1[300], c2[400], clog[300];
    snprintf(c0, sizeof c0, "BOXOFFICE_CATALOG_PORT=%u", (unsigned)catalog_port);
    snprintf(c1, sizeof c1, "BOXOFFICE_AUTH_KEYS=%s", keys);
    snprintf(c2, sizeof c2, "BOXOFFICE_CATALOG_DB=sqlite:%s/catalog.db", dir);
    snprintf(clog, sizeof clog, "%s/catalog.log", dir);
    const char *cenv[] = {c0, c1, c2, "BOXOFFICE_LOG_LEVEL=warn", NULL};
    return harness_spawn(catalog_bin, cenv, clog);
}

static bool broker(const char *state) {
    char path[64];
    snprintf(path, sizeof path, "/mock/brokers/1/%s", state);
    struct harness_res r = harness_call(devkafka_port, "POST", path, NULL, NULL, NULL);
    bool ok = r.status == 200;
    harness_res_drop(&r);
    return ok;
}

static size_t delivered_total(void) {
    size_t n = 0, all = atomic_load(&n_recs);
    for (size_t i = 0; i < all; i++) {
        n += __atomic_load_n(&recs[i].state, __ATOMIC_ACQUIRE) == 1;
    }
    return n;
}

struct producer_job {
    size_t first, last;
    int64_t run_ms;
    size_t delivered;
};

static void *producer_thread(void *arg) {
    struct producer_job *j = arg;
    j->delivered = produce_range(bootstrap, j->first, j->last, j->run_ms);
    return NULL;
}

/* One more order (for the stream checks), produced and delivered now. */
static void one_order(int e, int64_t q) {
    char hold[37], order[37];
    bx_uuid7(hold);
    bx_uuid7(order);
    size_t first = atomic_load(&n_recs);
    int64_t at = t_start_ms - 35 * 60000;
    valid_rec(T_CREATED, e, 0, q, at - 1000, hold, NULL, "user-sse", false);
    valid_rec(T_CONFIRMED, e, 0, q, at, hold, order, "user-sse", false);
    produce_range(bootstrap, first, atomic_load(&n_recs), 0);
}

static int64_t sold_in(json_t *doc) {
    return (int64_t)json_integer_value(json_object_get(doc, "tickets_sold"));
}

static void test_stream(void) {
    /* 1. a new client gets the whole state: the summary and every event, each with an id */
    struct sse *s = sse_open(admin, NULL);
    sse_read(s, SSE_WAIT_MS, has_everything, NULL);
    CHECK(s->status == 200 && s->chunked, "stream: 200, text/event-stream, chunked");
    size_t n_events = 0, n_summary = 0, with_id = 0;
    bool same = true;
    for (size_t i = 0; i < s->n_msgs; i++) {
        struct sse_msg *m = &s->msgs[i];
        with_id += m->has_id;
        if (strcmp(m->event, "summary") == 0) {
            n_summary++;
        } else if (strcmp(m->event, "event") == 0) {
            n_events++;
            const char *id = json_string_value(json_object_get(m->data, "event_id"));
            char path[128];
            snprintf(path, sizeof path, "/api/analytics/events/%s", id ? id : "x");
            struct harness_res r = harness_call(analytics_port, "GET", path, admin, NULL, NULL);
            same = same && r.status == 200 && json_equal(r.body, m->data);
            harness_res_drop(&r);
        }
    }
    CHECK(n_summary == 1 && n_events == EVENTS && with_id == n_summary + n_events,
          "stream: a new client gets the summary and all %d events, each with an id (%zu, %zu)",
          EVENTS, n_summary, n_events);
    CHECK(same, "stream: each event message is the same document as GET /api/analytics/events");
    /* 2. a new order shows up within a second or so */
    char path[128];
    snprintf(path, sizeof path, "/api/analytics/events/%s", events[1].id);
    struct harness_res r = harness_call(analytics_port, "GET", path, admin, NULL, NULL);
    int64_t before = sold_in(r.body);
    harness_res_drop(&r);
    size_t from = s->n_msgs;
    one_order(1, 2);
    int64_t t0 = bx_now_mono_ms(); /* acknowledged by the broker */
    struct want_event w2 = {.event_id = events[1].id, .min_sold = before + 2, .from = from};
    bool got = sse_read(s, SSE_WAIT_MS, has_event, &w2);
    int64_t took = bx_now_mono_ms() - t0;
    bool summary_too = false;
    for (size_t i = from; i < s->n_msgs; i++) {
        summary_too = summary_too || strcmp(s->msgs[i].event, "summary") == 0;
    }
    CHECK(got,
          "stream: an order pushed `event: event` with the new total (%lld ms after the "
          "broker acknowledged it)",
          (long long)took);
    sse_read(s, 600, NULL, NULL);
    summary_too = false;
    for (size_t i = from; i < s->n_msgs; i++) {
        summary_too = summary_too || strcmp(s->msgs[i].event, "summary") == 0;
    }
    CHECK(summary_too, "stream: and an `event: summary`");
    size_t hb_from = s->n_msgs;
    CHECK(sse_read(s, 3000, has_heartbeat, &hb_from), "stream: a heartbeat comment when idle");
    uint64_t id = last_id(s);
    sse_free(s);
    /* 3. while away, Gamma sells; back with Last-Event-ID: only Gamma and the summary */
    snprintf(path, sizeof path, "/api/analytics/events/%s", events[2].id);
    r = harness_call(analytics_port, "GET", path, admin, NULL, NULL);
    int64_t gamma_before = sold_in(r.body);
    harness_res_drop(&r);
    one_order(2, 1);
    usleep(800 * 1000); /* consumed before we come back */
    char lei[32];
    snprintf(lei, sizeof lei, "%llu", (unsigned long long)id);
    s = sse_open(admin, lei);
    struct want_event w3 = {.event_id = events[2].id, .min_sold = gamma_before + 1};
    got = sse_read(s, SSE_WAIT_MS, has_event, &w3);
    sse_read(s, 700, NULL, NULL);
    bool others = false, newer = true;
    for (size_t i = 0; i < s->n_msgs; i++) {
        const char *eid = json_string_value(json_object_get(s->msgs[i].data, "event_id"));
        others = others || (eid != NULL && strcmp(eid, events[2].id) != 0);
        newer = newer && (!s->msgs[i].has_id || s->msgs[i].id > id);
    }
    CHECK(got && !others && newer,
          "stream: reconnected with Last-Event-ID, it gets what changed since (Gamma), nothing "
          "else, with newer ids");
    sse_free(s);
    /* 4. only admins */
    struct sse *c = sse_open(customer, NULL);
    sse_read(c, 2000, NULL, NULL);
    CHECK(c->status == 403, "stream: a customer gets 403 (got %d)", c->status);
    sse_free(c);
}

static void test_auth(void) {
    struct harness_res r =
        harness_call(analytics_port, "GET", "/api/analytics/summary", NULL, NULL, NULL);
    CHECK(harness_err_is(&r, 401, "unauthorized", NULL), "summary without a token: 401");
    harness_res_drop(&r);
    r = harness_call(analytics_port, "GET", "/api/analytics/summary", customer, NULL, NULL);
    CHECK(harness_err_is(&r, 403, "forbidden", NULL), "summary as a customer: 403");
    harness_res_drop(&r);
    r = harness_call(analytics_port, "GET", "/api/analytics/events/no-such-event", admin, NULL,
                     NULL);
    CHECK(harness_err_is(&r, 404, "not_found", NULL), "an event no message named: 404");
    harness_res_drop(&r);
    r = harness_call(analytics_port, "GET", "/api/analytics/events/bad%20id", admin, NULL, NULL);
    CHECK(r.status == 404, "a malformed event id: 404");
    harness_res_drop(&r);
}

static int run_test(void) {
    signal(SIGPIPE, SIG_IGN);
    BX_ASSERT(mkdtemp(dir) != NULL);
    snprintf(keys, sizeof keys, "%s/keys", dir);
    struct bx_key key;
    BX_ASSERT(bx_keyring_generate(keys, &key) == BX_OK);
    mint(&key, BX_ROLE_ADMIN, "analytics-admin", admin, sizeof admin);
    mint(&key, BX_ROLE_CUSTOMER, "analytics-customer", customer, sizeof customer);
    recs = calloc(RECS_MAX, sizeof *recs);
    BX_ASSERT(recs != NULL);
    pid_t kafka = -1;
    bool up = start_devkafka(&kafka);
    pid_t cat = start_catalog();
    up = up && harness_wait_ok(catalog_port, "/readyz", READY_MS) && setup_catalog();
    CHECK(up,
          "devkafka and catalog are up, %d events created (one more catalog does not know); "
          "state database: %s",
          EVENTS - 1, state_db_url ? "PostgreSQL" : "SQLite");
    if (!up) {
        goto out;
    }
    uint32_t rng = (uint32_t)bx_now_unix_ms() | 1;
    printf("    seed %u\n", rng);
    /* event times: phase 1 in [-45, -36] minutes from now, the stream checks' orders at -35,
     * phase 2 in [-34, -25], phase 3 in [-24, -15]: each after the last, inside the hour of
     * top_events for the whole run */
    t_start_ms = bx_now_unix_ms();
    size_t f1, l1;
    generate(&rng, PHASE1_HOLDS, t_start_ms - 45 * 60000, t_start_ms - 36 * 60000, &f1, &l1);
    size_t ok1 = produce_range(bootstrap, f1, l1, 0);
    CHECK(ok1 == l1 - f1, "phase 1: %zu messages produced and acknowledged", ok1);
    analytics_port = harness_free_port();
    analytics_pid = start_analytics();
    CHECK(harness_wait_ok(analytics_port, "/readyz", READY_MS), "analytics is ready");
    CHECK(wait_consumed((int64_t)delivered_total(), CATCH_UP_MS),
          "analytics consumed all %zu messages", delivered_total());
    compare_all("phase 1");
    test_auth();
    test_stream();
    /* phase 2: produced over a few seconds; analytics is killed midway and restarted */
    size_t f2, l2;
    generate(&rng, PHASE2_HOLDS, t_start_ms - 34 * 60000, t_start_ms - 25 * 60000, &f2, &l2);
    int64_t before = (int64_t)delivered_total();
    struct producer_job job = {.first = f2, .last = l2, .run_ms = PHASE2_RUN_MS};
    pthread_t th;
    BX_ASSERT(pthread_create(&th, NULL, producer_thread, &job) == 0);
    /* kill it once it is well into phase 2, while the producer is still going */
    int64_t consumed_at_kill = -1, kill_deadline = bx_now_mono_ms() + PHASE2_RUN_MS;
    while (bx_now_mono_ms() < kill_deadline) {
        consumed_at_kill = metric("boxoffice_analytics_consumed_total");
        if (consumed_at_kill >= before + KILL_AFTER_MESSAGES) {
            break;
        }
        usleep(20 * 1000);
    }
    kill(analytics_pid, SIGKILL);
    waitpid(analytics_pid, NULL, 0);
    CHECK(consumed_at_kill > before && consumed_at_kill < before + (int64_t)(l2 - f2),
          "analytics was killed (SIGKILL) mid-stream, %lld messages into phase 2 of %zu",
          (long long)(consumed_at_kill - before), l2 - f2);
    analytics_pid = start_analytics();
    CHECK(harness_wait_ok(analytics_port, "/readyz", READY_MS), "analytics restarted");
    pthread_join(th, NULL);
    CHECK(job.delivered == l2 - f2, "phase 2: %zu messages acknowledged", job.delivered);
    CHECK(wait_consumed((int64_t)delivered_total(), CATCH_UP_MS),
          "after the kill, analytics consumed all %zu messages exactly once", delivered_total());
    compare_all("after kill -9 and restart");
    /* phase 3: the broker is down for 10 s while booking keeps publishing */
    size_t f3, l3;
    generate(&rng, PHASE3_HOLDS, t_start_ms - 24 * 60000, t_start_ms - 15 * 60000, &f3, &l3);
    CHECK(broker("down"), "the broker goes down");
    int64_t t_down = bx_now_mono_ms();
    struct producer_job job3 = {.first = f3, .last = l3, .run_ms = 2000};
    BX_ASSERT(pthread_create(&th, NULL, producer_thread, &job3) == 0);
    while (bx_now_mono_ms() - t_down < BROKER_DOWN_MS) {
        usleep(100 * 1000);
    }
    CHECK(broker("up"), "the broker is back after %lld ms", (long long)(bx_now_mono_ms() - t_down));
    pthread_join(th, NULL);
    CHECK(job3.delivered == l3 - f3, "phase 3: %zu messages acknowledged", job3.delivered);
    CHECK(wait_consumed((int64_t)delivered_total(), CATCH_UP_MS),
          "after the outage, analytics caught up: %zu messages", delivered_total());
    compare_all("after a 10 s broker outage");
    /* SIGTERM with a stream open: the stream ends, exit 0 */
    struct sse *s = sse_open(admin, NULL);
    sse_read(s, 1500, NULL, NULL);
    int st = harness_stop(analytics_pid, SIGTERM, 20000);
    sse_read(s, 3000, NULL, NULL);
    CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "SIGTERM with a stream open: exit 0");
    CHECK(s->ended, "and the stream was ended");
    sse_free(s);
    /* a clean restart serves the same numbers; a second process on the same state database
     * (another group, as a misconfigured replica or an overlapping rollout would be) must not
     * write it: it serves the committed state and waits for the lease, and takes over once the
     * first stops */
    analytics_pid = start_analytics();
    CHECK(harness_wait_ok(analytics_port, "/readyz", READY_MS), "analytics restarted cleanly");
    compare_all("after a clean restart");
    uint16_t second_port = harness_free_port();
    pid_t second = start_analytics_on(second_port, "analytics-test-second");
    CHECK(harness_wait_ok(second_port, "/readyz", READY_MS),
          "a second process on the same state database is up (serving, not writing)");
    size_t f4, l4;
    generate(&rng, 100, t_start_ms - 14 * 60000, t_start_ms - 13 * 60000, &f4, &l4);
    CHECK(produce_range(bootstrap, f4, l4, 0) == l4 - f4, "phase 4: %zu messages", l4 - f4);
    CHECK(wait_consumed((int64_t)delivered_total(), CATCH_UP_MS), "the lease holder consumed them");
    usleep(1500 * 1000);
    int64_t second_consumed = metric_on(second_port, "boxoffice_analytics_consumed_total");
    CHECK(second_consumed >= 0 && second_consumed < (int64_t)delivered_total(),
          "the second process did not consume (%lld of %zu): it waits for the lease",
          (long long)second_consumed, delivered_total());
    st = harness_stop(analytics_pid, SIGTERM, 20000);
    CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "the holder stops: exit 0");
    analytics_pid = second;
    analytics_port = second_port;
    CHECK(wait_consumed((int64_t)delivered_total(), CATCH_UP_MS),
          "the second process took the lease over, with the holder's last checkpoint");
    size_t f5, l5;
    generate(&rng, 100, t_start_ms - 13 * 60000, t_start_ms - 12 * 60000, &f5, &l5);
    CHECK(produce_range(bootstrap, f5, l5, 0) == l5 - f5, "phase 5: %zu messages", l5 - f5);
    CHECK(wait_consumed((int64_t)delivered_total(), CATCH_UP_MS),
          "the new holder consumes (in its own group, from the checkpointed offsets)");
    compare_all("after the takeover by a second process");
    st = harness_stop(analytics_pid, SIGTERM, 20000);
    CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "SIGTERM: exit 0");
    analytics_pid = -1;
out:
    if (analytics_pid > 0) {
        harness_stop(analytics_pid, SIGKILL, 5000);
    }
    harness_stop(cat, SIGTERM, 20000);
    harness_stop(kafka, SIGTERM, 20000);
    if (harness_failures) {
        char log[300];
        snprintf(log, sizeof log, "%s/analytics.log", dir);
        harness_tail(log, 30);
        fprintf(stderr, "logs kept in %s\n", dir);
    } else {
        char cmd[200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) {
            fprintf(stderr, "could not remove %s\n", dir);
        }
    }
    return harness_finish("test_analytics");
}

/* ---- helper modes for bench/analytics.sh ---- */

/* produce BOOTSTRAP TOPIC MESSAGES EVENTS: a synthetic stream, holds and orders over EVENTS
 * events in the last 30 minutes, 5% duplicates. Prints messages/s. */
static int mode_produce(int argc, char **argv) {
    if (argc != 6) {
        return 2;
    }
    long total = strtol(argv[4], NULL, 10), n_events = strtol(argv[5], NULL, 10);
    if (total <= 0 || n_events <= 0 || n_events > 100000) {
        return 2;
    }
    /* lz4: the development broker keeps at most 5 MB per partition (librdkafka's mock cluster
     * drops older message sets past it), so a million messages need compression and partitions */
    rd_kafka_t *rk = producer_new(argv[2], "lz4");
    if (rk == NULL) {
        return 1;
    }
    char(*ids)[37] = calloc((size_t)n_events, sizeof *ids);
    BX_ASSERT(ids != NULL);
    for (long i = 0; i < n_events; i++) {
        bx_uuid7(ids[i]);
    }
    uint32_t rng = 12345;
    int64_t now = bx_now_unix_ms(), t0 = bx_now_mono_ms();
    char last_id[37] = "";
    static const char *const kinds[] = {"hold.created", "order.confirmed", "hold.released",
                                        "hold.expired", "order.cancelled"};
    for (long i = 0; i < total; i++) {
        char id[37], hold[37], when[32], msg[700];
        bool dup = i > 0 && next_rand(&rng) % 20 == 0;
        uint32_t e = next_rand(&rng) % (uint32_t)n_events;
        uint32_t k = next_rand(&rng) % 10;
        const char *type = kinds[k < 4 ? 0 : k < 7 ? 1 : k < 8 ? 2 : k < 9 ? 3 : 4];
        if (dup) {
            bx_strlcpy(id, last_id, sizeof id);
        } else {
            bx_uuid7(id);
            bx_strlcpy(last_id, id, sizeof last_id);
        }
        bx_uuid7(hold);
        format_time(now - 30 * 60000 + (int64_t)i * 30 * 60000 / total, when);
        int q = 1 + (int)(next_rand(&rng) % 4);
        int n = snprintf(msg, sizeof msg,
                         "{\"id\":\"%s\",\"type\":\"%s\",\"version\":1,\"occurred_at\":\"%s\","
                         "\"event_id\":\"%s\",\"tier_id\":\"tier-%u\",\"hold_id\":\"%s\","
                         "\"order_id\":%s%s%s,\"user_id\":\"user-%u\",\"quantity\":%d,"
                         "\"amount_cents\":%d,\"currency\":\"EUR\"}",
                         id, type, when, ids[e], next_rand(&rng) % 3, hold,
                         type[0] == 'o' ? "\"" : "", type[0] == 'o' ? hold : "null",
                         type[0] == 'o' ? "\"" : "", next_rand(&rng) % 1000, q, q * 2500);
        for (;;) {
            rd_kafka_resp_err_t err =
                rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(argv[3]), RD_KAFKA_V_KEY(ids[e], 36),
                                  RD_KAFKA_V_VALUE(msg, (size_t)n),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(rk, 10);
                continue;
            }
            BX_ASSERT(err == RD_KAFKA_RESP_ERR_NO_ERROR);
            break;
        }
        rd_kafka_poll(rk, 0);
    }
    rd_kafka_flush(rk, 300000);
    int64_t ms = bx_now_mono_ms() - t0;
    long failed = atomic_load(&produce_failures);
    printf("produced %ld messages in %lld ms (%.0f/s), %ld failed\n", total, (long long)ms,
           (double)total * 1000.0 / (double)(ms ? ms : 1), failed);
    rd_kafka_destroy(rk);
    free(ids);
    return failed == 0 ? 0 : 1;
}

/* consume-raw BOOTSTRAP TOPIC MESSAGES: reads MESSAGES messages in a fresh consumer group with
 * the consumer's settings and no processing at all; prints messages/s. The anchor. */
static int mode_consume_raw(int argc, char **argv) {
    if (argc != 5) {
        return 2;
    }
    long want = strtol(argv[4], NULL, 10);
    char errstr[512], group[64];
    snprintf(group, sizeof group, "raw-%ld", (long)getpid());
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *settings[][2] = {
        {"bootstrap.servers", argv[2]},
        {"group.id", group},
        {"enable.auto.commit", "false"},
        {"auto.offset.reset", "earliest"},
        {"partition.assignment.strategy", "roundrobin"},
        {"fetch.wait.max.ms", "50"},
    };
    for (size_t i = 0; i < BX_ARRAY_LEN(settings); i++) {
        BX_ASSERT(rd_kafka_conf_set(conf, settings[i][0], settings[i][1], errstr, sizeof errstr) ==
                  RD_KAFKA_CONF_OK);
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    BX_ASSERT(rk != NULL);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *t = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(t, argv[3], RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(rk, t);
    rd_kafka_topic_partition_list_destroy(t);
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(rk);
    rd_kafka_message_t *msgs[1000];
    long got = 0;
    size_t bytes = 0;
    int64_t t0 = 0, deadline = bx_now_mono_ms() + 600000;
    while (got < want && bx_now_mono_ms() < deadline) {
        ssize_t n = rd_kafka_consume_batch_queue(q, 100, msgs, 1000);
        for (ssize_t i = 0; i < n; i++) {
            if (msgs[i]->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                if (t0 == 0) {
                    t0 = bx_now_mono_us();
                }
                got++;
                bytes += msgs[i]->len;
            }
            rd_kafka_message_destroy(msgs[i]);
        }
    }
    int64_t us = bx_now_mono_us() - t0;
    printf("consumed %ld messages (%zu bytes) in %lld ms (%.0f/s)\n", got, bytes,
           (long long)(us / 1000), (double)got * 1e6 / (double)(us ? us : 1));
    rd_kafka_queue_destroy(q);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return got == want ? 0 : 1;
}

/* ---- e2e: confirm → visible, through booking ---- */

struct e2e_sse {
    struct sse *s;
    _Atomic int64_t sold;    /* the last tickets_sold of our event on the stream */
    _Atomic int64_t sold_at; /* when it arrived (monotonic us) */
    _Atomic bool quit;
    const char *event_id;
    int64_t *arrivals; /* arrival time (us) of each tickets_sold value, by value */
    size_t max_sold;
};

static void *e2e_reader(void *arg) {
    struct e2e_sse *e = arg;
    size_t seen = 0;
    while (!atomic_load(&e->quit) && !e->s->ended) {
        sse_read(e->s, 50, NULL, NULL);
        int64_t now = bx_now_mono_us();
        for (; seen < e->s->n_msgs; seen++) {
            struct sse_msg *m = &e->s->msgs[seen];
            const char *id = json_string_value(json_object_get(m->data, "event_id"));
            if (strcmp(m->event, "event") == 0 && id != NULL && strcmp(id, e->event_id) == 0) {
                int64_t sold = sold_in(m->data);
                for (int64_t v = atomic_load(&e->sold) + 1; v <= sold && (size_t)v < e->max_sold;
                     v++) {
                    e->arrivals[v] = now;
                }
                atomic_store(&e->sold, sold);
            }
            json_decref(m->data);
            m->data = NULL;
        }
        if (e->s->n_msgs == SSE_MSGS_MAX) { /* recycle */
            e->s->n_msgs = 0;
            seen = 0;
        }
        if (e->s->body_off == e->s->body_len) {
            e->s->body_len = e->s->body_off = 0;
        }
        if (e->s->raw_off == e->s->raw_len) {
            e->s->raw_len = e->s->raw_off = 0;
        }
    }
    return NULL;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int mode_e2e(int argc, char **argv) {
    if (argc != 7) {
        return 2;
    }
    analytics_bin = argv[2];
    catalog_bin = argv[3];
    devkafka_bin = argv[4];
    booking_bin = argv[5];
    long orders = strtol(argv[6], NULL, 10);
    if (orders <= 0 || orders > 10000) {
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    BX_ASSERT(mkdtemp(dir) != NULL);
    snprintf(keys, sizeof keys, "%s/keys", dir);
    struct bx_key key;
    BX_ASSERT(bx_keyring_generate(keys, &key) == BX_OK);
    mint(&key, BX_ROLE_ADMIN, "e2e-admin", admin, sizeof admin);
    mint(&key, BX_ROLE_CUSTOMER, "e2e-customer", customer, sizeof customer);
    pid_t kafka = -1, cat = -1, book = -1;
    bool up = start_devkafka(&kafka);
    cat = start_catalog();
    events[0].tiers[0].capacity = 100000;
    up = up && harness_wait_ok(catalog_port, "/readyz", READY_MS);
    /* only the first event: an order at a time */
    for (int e = 1; e < EVENTS; e++) {
        events[e].in_catalog = false;
    }
    up = up && setup_catalog();
    booking_port = harness_free_port();
    char b0[64], b1[300], b2[400], b3[300], b4[100], blog[300];
    snprintf(b0, sizeof b0, "BOXOFFICE_BOOKING_PORT=%u", (unsigned)booking_port);
    snprintf(b1, sizeof b1, "BOXOFFICE_AUTH_KEYS=%s", keys);
    snprintf(b2, sizeof b2, "BOXOFFICE_BOOKING_DB=sqlite:%s/booking.db", dir);
    snprintf(b3, sizeof b3, "BOXOFFICE_KAFKA=%s", bootstrap);
    snprintf(b4, sizeof b4, "BOXOFFICE_CATALOG_URL=http://127.0.0.1:%u", (unsigned)catalog_port);
    snprintf(blog, sizeof blog, "%s/booking.log", dir);
    char objects[400];
    snprintf(objects, sizeof objects, "BOXOFFICE_OBJECTS=file:%s/objects", dir);
    const char *benv[] = {b0, b1, b2, b3, b4, objects, "BOXOFFICE_LOG_LEVEL=warn", NULL};
    book = harness_spawn(booking_bin, benv, blog);
    up = up && harness_wait_ok(booking_port, "/readyz", READY_MS);
    analytics_port = harness_free_port();
    analytics_pid = start_analytics();
    up = up && harness_wait_ok(analytics_port, "/readyz", READY_MS);
    if (!up) {
        fprintf(stderr, "e2e: the services did not come up (logs in %s)\n", dir);
        return 1;
    }
    struct e2e_sse rd = {.event_id = events[0].id, .max_sold = (size_t)orders + 2};
    rd.arrivals = calloc(rd.max_sold, sizeof *rd.arrivals);
    rd.s = sse_open(admin, NULL);
    pthread_t th;
    BX_ASSERT(pthread_create(&th, NULL, e2e_reader, &rd) == 0);
    int64_t *rest = calloc((size_t)orders, sizeof *rest),
            *sse = calloc((size_t)orders, sizeof *sse);
    long done = 0, lost = 0;
    int64_t sold_total = 0;
    char path[128];
    snprintf(path, sizeof path, "/api/analytics/events/%s", events[0].id);
    /* order 0 warms the path up (producer and consumer connections, group assignment) and is
     * not measured */
    for (long i = -1; i < orders; i++) {
        char body[256], hdr[128], uuid[37];
        snprintf(body, sizeof body, "{\"event_id\":\"%s\",\"tier_id\":\"%s\",\"quantity\":1}",
                 events[0].id, events[0].tiers[0].id);
        struct harness_res r =
            harness_call(booking_port, "POST", "/api/holds", customer, NULL, body);
        const char *hold = harness_str(r.body, "id");
        if (r.status != 201 || hold == NULL) {
            harness_res_drop(&r);
            lost++;
            continue;
        }
        snprintf(body, sizeof body, "{\"hold_id\":\"%s\"}", hold);
        harness_res_drop(&r);
        bx_uuid7(uuid);
        snprintf(hdr, sizeof hdr, "Idempotency-Key: e2e-%s", uuid);
        r = harness_call(booking_port, "POST", "/api/orders", customer, hdr, body);
        int64_t t0 = bx_now_mono_us();
        bool ok = r.status == 201;
        harness_res_drop(&r);
        if (!ok) {
            lost++;
            continue;
        }
        int64_t want = ++sold_total;
        /* visible in the REST API (polled every 2 ms) */
        int64_t deadline = bx_now_mono_ms() + 10000;
        int64_t t_rest = -1;
        while (bx_now_mono_ms() < deadline) {
            r = harness_call(analytics_port, "GET", path, admin, NULL, NULL);
            int64_t sold = r.status == 200 ? sold_in(r.body) : 0;
            harness_res_drop(&r);
            if (sold >= want) {
                t_rest = bx_now_mono_us();
                break;
            }
            usleep(2000);
        }
        while (bx_now_mono_ms() < deadline && atomic_load(&rd.sold) < want) {
            usleep(1000);
        }
        int64_t t_sse = (size_t)want < rd.max_sold ? rd.arrivals[want] : 0;
        if (t_rest < 0 || t_sse == 0) {
            lost++;
            continue;
        }
        if (i < 0) {
            continue; /* the warm-up */
        }
        rest[done] = t_rest - t0;
        sse[done] = t_sse > t0 ? t_sse - t0 : 0;
        done++;
    }
    atomic_store(&rd.quit, true);
    pthread_join(th, NULL);
    qsort(rest, (size_t)done, sizeof *rest, cmp_i64);
    qsort(sse, (size_t)done, sizeof *sse, cmp_i64);
    if (done > 0) {
        size_t p50 = (size_t)done / 2, p99 = (size_t)((double)done * 0.99);
        if (p99 >= (size_t)done) {
            p99 = (size_t)done - 1;
        }
        printf("e2e: %ld orders confirmed through booking (%ld failed)\n", done, lost);
        printf("e2e: confirm -> visible in GET /api/analytics/events: p50 %.1f ms, p99 %.1f ms, "
               "max %.1f ms\n",
               (double)rest[p50] / 1000.0, (double)rest[p99] / 1000.0,
               (double)rest[done - 1] / 1000.0);
        printf("e2e: confirm -> pushed on the SSE stream: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
               (double)sse[p50] / 1000.0, (double)sse[p99] / 1000.0,
               (double)sse[done - 1] / 1000.0);
    }
    sse_free(rd.s);
    free(rest);
    free(sse);
    free(rd.arrivals);
    harness_stop(analytics_pid, SIGTERM, 20000);
    harness_stop(book, SIGTERM, 20000);
    harness_stop(cat, SIGTERM, 20000);
    harness_stop(kafka, SIGTERM, 20000);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", dir);
    }
    return done == orders ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "produce") == 0) {
        return mode_produce(argc, argv);
    }
    if (argc >= 2 && strcmp(argv[1], "consume-raw") == 0) {
        return mode_consume_raw(argc, argv);
    }
    if (argc >= 2 && strcmp(argv[1], "e2e") == 0) {
        return mode_e2e(argc, argv);
    }
    if (argc != 4 && argc != 5) {
        fprintf(stderr,
                "usage: %s ANALYTICS CATALOG DEVKAFKA [STATE-DB-URL]\n"
                "       %s produce BOOTSTRAP TOPIC MESSAGES EVENTS\n"
                "       %s consume-raw BOOTSTRAP TOPIC MESSAGES\n"
                "       %s e2e ANALYTICS CATALOG DEVKAFKA BOOKING ORDERS\n",
                argv[0], argv[0], argv[0], argv[0]);
        return 2;
    }
    analytics_bin = argv[1];
    catalog_bin = argv[2];
    devkafka_bin = argv[3];
    state_db_url = argc == 5 ? argv[4] : NULL;
    return run_test();
}
