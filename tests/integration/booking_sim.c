// SPDX-License-Identifier: Apache-2.0
// The booking simulation: many client threads against two booking replicas on one database,
// doing random holds, releases, confirms (with Idempotency-Key, retried on the other replica when
// an answer is lost), cancels and abandoned holds that expire (short TTL). With "crash", one
// replica is killed with SIGKILL mid-run and restarted, and the Kafka broker is taken down for
// 10 s through the development broker's fault injection. Then a checker proves, from the database
// and the consumed Kafka topic:
//  - no oversell: sold + held <= capacity for every tier;
//  - sold and held equal the sums of confirmed orders and active holds;
//  - every order answered 201 exists (cancelled exactly when its cancel answered 200);
//  - every outbox message reached Kafka (duplicates allowed), and the Kafka messages, deduplicated
//    by id, count exactly the database's holds, orders, cancellations and releases/expiries.
//   booking_sim BOOKING CATALOG DEVKAFKA KAFKA-DUMP (sqlite | postgres) [crash] [PG-URL]
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "boxoffice/auth.h"
#include "boxoffice/base.h"
#include "boxoffice/db.h"
#include "harness.h"

#define SIM_THREADS    12
#define SIM_RUN_MS     24000
#define SIM_USERS      24
#define SIM_TIERS      3
#define SIM_ORDERS_MAX 20000
#define SIM_HOLD_TTL_S 2

static const int64_t capacities[SIM_TIERS] = {40, 60, 25};

static char dir[] = "/tmp/bx-sim-XXXXXX";
static const char *booking_bin, *catalog_bin, *devkafka_bin, *dump_bin;
static char keys[128], booking_db[600], bootstrap[256];
static uint16_t catalog_port, devkafka_port, replica_port[2];
static pid_t replica_pid[2];
static char admin[1024], users[SIM_USERS][1024];
static char event_id[64], tier_ids[SIM_TIERS][64];
static _Atomic bool stop_clients;

/* What clients were told. */
struct order_seen {
    char id[64];
    int tier;
    int64_t quantity;
    _Atomic bool cancelled; /* a cancel answered 200 */
};
static struct order_seen orders[SIM_ORDERS_MAX];
static _Atomic size_t n_orders;
static _Atomic long holds_ok, sold_out, confirms_ok, releases_ok, cancels_ok, expired_seen,
    lost_answers, server_errors;

static void mint(const struct bx_key *key, enum bx_role role, const char *sub, char *out,
                 size_t size) {
    struct bx_claims c = {.role = role, .iat = bx_now_unix_s(), .exp = bx_now_unix_s() + 3600};
    bx_strlcpy(c.sub, sub, sizeof c.sub);
    bx_uuid7(c.jti);
    BX_ASSERT(bx_token_sign(key, &c, out, size) == BX_OK);
}

static pid_t start_replica(int i) {
    char e0[64], e1[300], e2[80], e3[300], log[200];
    snprintf(e0, sizeof e0, "BOXOFFICE_BOOKING_PORT=%u", (unsigned)replica_port[i]);
    snprintf(e1, sizeof e1, "BOXOFFICE_AUTH_KEYS=%s", keys);
    snprintf(e2, sizeof e2, "BOXOFFICE_CATALOG_URL=http://127.0.0.1:%u", (unsigned)catalog_port);
    snprintf(e3, sizeof e3, "BOXOFFICE_KAFKA=%s", bootstrap);
    snprintf(log, sizeof log, "%s/booking-%d.log", dir, i);
    char ttl[64], objects[300];
    snprintf(ttl, sizeof ttl, "BOXOFFICE_HOLD_TTL_S=%d", SIM_HOLD_TTL_S);
    snprintf(objects, sizeof objects, "BOXOFFICE_OBJECTS=file:%s/objects", dir);
    const char *env[] = {e0,
                         e1,
                         e2,
                         e3,
                         booking_db,
                         ttl,
                         objects,
                         "BOXOFFICE_BOOKING_SWEEP_MS=300",
                         "BOXOFFICE_BOOKING_SYNC_MS=300",
                         "BOXOFFICE_LOG_LEVEL=warn",
                         NULL};
    return harness_spawn(booking_bin, env, log);
}

static bool setup_catalog(void) {
    struct harness_res r = harness_call(catalog_port, "POST", "/api/venues", admin, NULL,
                                        "{\"name\":\"Sim Hall\",\"address\":\"1 Road\","
                                        "\"city\":\"Leeds\",\"country\":\"GB\","
                                        "\"timezone\":\"Europe/London\"}");
    char venue[64] = "";
    bx_strlcpy(venue, harness_str(r.body, "id") ? harness_str(r.body, "id") : "", sizeof venue);
    harness_res_drop(&r);
    char body[2048];
    snprintf(body, sizeof body,
             "{\"title\":\"Sim\",\"category\":\"rock\",\"venue_id\":\"%s\","
             "\"starts_at\":\"2030-01-01T20:00:00Z\",\"ends_at\":\"2030-01-01T23:00:00Z\","
             "\"tiers\":[{\"name\":\"A\",\"price_cents\":1000,\"currency\":\"EUR\","
             "\"capacity\":%lld,\"max_per_order\":4},{\"name\":\"B\",\"price_cents\":2500,"
             "\"currency\":\"EUR\",\"capacity\":%lld,\"max_per_order\":4},{\"name\":\"C\","
             "\"price_cents\":9900,\"currency\":\"GBP\",\"capacity\":%lld,\"max_per_order\":4}]}",
             venue, (long long)capacities[0], (long long)capacities[1], (long long)capacities[2]);
    r = harness_call(catalog_port, "POST", "/api/events", admin, NULL, body);
    bool ok = r.status == 201;
    json_t *tiers = json_object_get(r.body, "tiers");
    if (ok && json_array_size(tiers) == SIM_TIERS) {
        bx_strlcpy(event_id, harness_str(r.body, "id"), sizeof event_id);
        for (size_t i = 0; i < SIM_TIERS; i++) {
            bx_strlcpy(tier_ids[i], harness_str(json_array_get(tiers, i), "id"),
                       sizeof tier_ids[i]);
        }
    } else {
        ok = false;
    }
    harness_res_drop(&r);
    char path[128];
    snprintf(path, sizeof path, "/api/events/%s/publish", event_id);
    r = harness_call(catalog_port, "POST", path, admin, NULL, NULL);
    ok = ok && r.status == 200;
    harness_res_drop(&r);
    return ok;
}

static uint32_t next_rand(uint32_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static void count_status(long status) {
    if (status == 0) {
        atomic_fetch_add(&lost_answers, 1);
    } else if (status >= 500) {
        atomic_fetch_add(&server_errors, 1);
    }
}

/* Confirms a hold; a lost answer is retried with the same key on the other replica. */
static void confirm(uint32_t *rng, const char *token, const char *hold_id, int tier,
                    int64_t quantity, int replica) {
    char key[80], hdr[120], body[128], uuid[37];
    bx_uuid7(uuid);
    snprintf(key, sizeof key, "sim-%s", uuid);
    snprintf(hdr, sizeof hdr, "Idempotency-Key: %s", key);
    snprintf(body, sizeof body, "{\"hold_id\":\"%s\"}", hold_id);
    for (int attempt = 0; attempt < 6; attempt++) {
        struct harness_res r = harness_call(replica_port[(replica + attempt) % 2], "POST",
                                            "/api/orders", token, hdr, body);
        count_status(r.status);
        if (r.status == 201) {
            size_t i = atomic_fetch_add(&n_orders, 1);
            if (i < SIM_ORDERS_MAX) {
                bx_strlcpy(orders[i].id, harness_str(r.body, "id"), sizeof orders[i].id);
                orders[i].tier = tier;
                orders[i].quantity = quantity;
                if (next_rand(rng) % 5 == 0) { /* cancel one order in five */
                    char path[128];
                    snprintf(path, sizeof path, "/api/orders/%s/cancel", orders[i].id);
                    struct harness_res c = harness_call(replica_port[next_rand(rng) % 2], "POST",
                                                        path, token, NULL, NULL);
                    count_status(c.status);
                    if (c.status == 200) {
                        atomic_store(&orders[i].cancelled, true);
                        atomic_fetch_add(&cancels_ok, 1);
                    }
                    harness_res_drop(&c);
                }
            }
            atomic_fetch_add(&confirms_ok, 1);
            harness_res_drop(&r);
            return;
        }
        const char *code = harness_str(r.body, "error.code");
        bool final = r.status == 409 || r.status == 404 || r.status == 422;
        if (code != NULL && strcmp(code, "hold_expired") == 0) {
            atomic_fetch_add(&expired_seen, 1);
        }
        harness_res_drop(&r);
        if (final) {
            return;
        }
        usleep(200 * 1000);
    }
}

static void *client(void *arg) {
    uint32_t rng = (uint32_t)(uintptr_t)arg * 2654435761u + 1;
    while (!atomic_load(&stop_clients)) {
        int u = (int)(next_rand(&rng) % SIM_USERS), tier = (int)(next_rand(&rng) % SIM_TIERS);
        int replica = (int)(next_rand(&rng) % 2);
        int64_t quantity = 1 + next_rand(&rng) % 3;
        char body[256];
        snprintf(body, sizeof body, "{\"event_id\":\"%s\",\"tier_id\":\"%s\",\"quantity\":%lld}",
                 event_id, tier_ids[tier], (long long)quantity);
        struct harness_res r =
            harness_call(replica_port[replica], "POST", "/api/holds", users[u], NULL, body);
        count_status(r.status);
        if (r.status != 201) {
            const char *code = harness_str(r.body, "error.code");
            if (code != NULL && strcmp(code, "sold_out") == 0) {
                atomic_fetch_add(&sold_out, 1);
                usleep(50 * 1000);
            } else if (r.status == 0 || r.status >= 500) {
                usleep(100 * 1000);
            }
            harness_res_drop(&r);
            continue;
        }
        atomic_fetch_add(&holds_ok, 1);
        char hold_id[64];
        bx_strlcpy(hold_id, harness_str(r.body, "id"), sizeof hold_id);
        harness_res_drop(&r);
        uint32_t dice = next_rand(&rng) % 10;
        if (dice < 5) {
            if (dice == 0) {
                usleep((SIM_HOLD_TTL_S * 1000 + 300) * 1000); /* too late: must be refused */
            }
            confirm(&rng, users[u], hold_id, tier, quantity, replica);
        } else if (dice < 8) {
            char path[128];
            snprintf(path, sizeof path, "/api/holds/%s", hold_id);
            r = harness_call(replica_port[next_rand(&rng) % 2], "DELETE", path, users[u], NULL,
                             NULL);
            count_status(r.status);
            if (r.status == 204) {
                atomic_fetch_add(&releases_ok, 1);
            }
            harness_res_drop(&r);
        } /* else: abandoned, it expires */
    }
    return NULL;
}

/* ---- the checker ---- */

struct query {
    const char *sql;
    struct bx_db_value params[2];
    size_t n_params;
    struct bx_arena arena;
    struct bx_db_rows rows;
};

static enum bx_err query_tx(struct bx_db_tx *tx, void *arg, struct bx_error *err) {
    struct query *q = arg;
    return bx_db_exec(tx, q->sql, q->params, q->n_params, &q->arena, &q->rows, NULL, err);
}

static bool run_query(struct bx_db *db, struct query *q) {
    struct bx_error err = {0};
    bx_arena_init(&q->arena, 256 * 1024 * 1024);
    enum bx_err e = bx_db_run(db, BX_DB_READ, query_tx, q, &err);
    if (e != BX_OK) {
        fprintf(stderr, "query failed: %s (%s)\n", err.message, q->sql);
    }
    return e == BX_OK;
}

static int64_t scalar(struct bx_db *db, const char *sql) {
    struct query q = {.sql = sql};
    int64_t v = -1;
    if (run_query(db, &q) && q.rows.n_rows == 1) {
        v = bx_db_cell(&q.rows, 0, 0)->i;
    }
    bx_arena_reset(&q.arena);
    return v;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool contains(char **sorted, size_t n, const char *s) {
    return bsearch(&s, sorted, n, sizeof *sorted, cmp_str) != NULL;
}

static void check(struct bx_db *db) {
    /* 1. no oversell, and the counts equal their rows */
    for (int t = 0; t < SIM_TIERS; t++) {
        struct query q = {.sql =
                              "SELECT capacity, sold, held,"
                              " (SELECT COALESCE(SUM(quantity), 0) FROM orders WHERE tier_id = $1"
                              "  AND status = 'confirmed'),"
                              " (SELECT COALESCE(SUM(quantity), 0) FROM holds WHERE tier_id = $1"
                              "  AND status = 'active')"
                              " FROM inventory WHERE tier_id = $1",
                          .params = {BX_DB_S(tier_ids[t])},
                          .n_params = 1};
        if (!run_query(db, &q) || q.rows.n_rows != 1) {
            CHECK(false, "tier %d is in the database", t);
            continue;
        }
        int64_t cap = bx_db_cell(&q.rows, 0, 0)->i, sold = bx_db_cell(&q.rows, 0, 1)->i,
                held = bx_db_cell(&q.rows, 0, 2)->i, sum_orders = bx_db_cell(&q.rows, 0, 3)->i,
                sum_holds = bx_db_cell(&q.rows, 0, 4)->i;
        CHECK(cap == capacities[t] && sold + held <= cap,
              "tier %d: no oversell (capacity %lld, sold %lld, held %lld)", t, (long long)cap,
              (long long)sold, (long long)held);
        CHECK(sold == sum_orders, "tier %d: sold %lld = confirmed orders %lld", t, (long long)sold,
              (long long)sum_orders);
        CHECK(held == sum_holds, "tier %d: held %lld = active holds %lld", t, (long long)held,
              (long long)sum_holds);
        bx_arena_reset(&q.arena);
    }
    /* 2. every 201 order exists, cancelled exactly when a cancel answered 200 */
    size_t n = atomic_load(&n_orders), missing = 0, wrong = 0;
    for (size_t i = 0; i < n && i < SIM_ORDERS_MAX; i++) {
        struct query q = {.sql = "SELECT status, quantity, tier_id FROM orders WHERE id = $1",
                          .params = {BX_DB_S(orders[i].id)},
                          .n_params = 1};
        if (!run_query(db, &q) || q.rows.n_rows != 1) {
            missing++;
        } else {
            bool cancelled = strcmp(bx_db_cell(&q.rows, 0, 0)->s, "cancelled") == 0;
            if (cancelled != atomic_load(&orders[i].cancelled) ||
                bx_db_cell(&q.rows, 0, 1)->i != orders[i].quantity ||
                strcmp(bx_db_cell(&q.rows, 0, 2)->s, tier_ids[orders[i].tier]) != 0) {
                wrong++;
            }
        }
        bx_arena_reset(&q.arena);
    }
    CHECK(n > 0 && missing == 0, "every one of %zu orders answered 201 is in the database", n);
    CHECK(wrong == 0, "their status, quantity and tier are what the clients were told (%zu off)",
          wrong);
    /* a hold is confirmed at most once */
    CHECK(scalar(db, "SELECT COUNT(*) FROM orders") ==
              scalar(db, "SELECT COUNT(*) FROM holds WHERE status = 'confirmed'"),
          "one order per confirmed hold");
    /* 3. the outbox is drained (bounded wait) and all of it is on the topic */
    int64_t pending = -1;
    for (int i = 0; i < 120; i++) {
        pending = scalar(db, "SELECT COUNT(*) FROM outbox WHERE published_at IS NULL");
        if (pending == 0) {
            break;
        }
        usleep(500 * 1000);
    }
    CHECK(pending == 0, "the relay published the whole outbox (%lld left)", (long long)pending);
    char out[300], cmd[1200];
    snprintf(out, sizeof out, "%s/topic.tsv", dir);
    snprintf(cmd, sizeof cmd, "'%s' '%s' booking-events '%s' 2000 2>>'%s/dump.log'", dump_bin,
             bootstrap, out, dir);
    CHECK(system(cmd) == 0, "the topic was read to its end");
    FILE *f = fopen(out, "r");
    size_t cap_ids = 1 << 16, n_ids = 0;
    char **ids = calloc(cap_ids, sizeof *ids);
    json_t *seen = json_object(); /* id -> type, deduplicated */
    char *line = NULL;
    size_t line_cap = 0;
    while (f != NULL && ids != NULL && getline(&line, &line_cap, f) > 0) {
        char *value = line;
        for (int tab = 0; tab < 3 && value != NULL; tab++) {
            value = strchr(value, '\t');
            value = value ? value + 1 : NULL;
        }
        json_t *m = value ? json_loads(value, 0, NULL) : NULL;
        const char *id = json_string_value(json_object_get(m, "id"));
        const char *type = json_string_value(json_object_get(m, "type"));
        if (id != NULL && type != NULL && json_object_get(seen, id) == NULL) {
            json_object_set_new(seen, id, json_string(type));
            if (n_ids == cap_ids) {
                char **more = realloc(ids, 2 * cap_ids * sizeof *ids);
                BX_ASSERT(more != NULL);
                ids = more;
                cap_ids *= 2;
            }
            ids[n_ids++] = strdup(id);
        }
        json_decref(m);
    }
    free(line);
    if (f != NULL) {
        fclose(f);
    }
    qsort(ids, n_ids, sizeof *ids, cmp_str);
    struct query q = {.sql = "SELECT id FROM outbox"};
    size_t lost = 0;
    if (run_query(db, &q)) {
        for (size_t r = 0; r < q.rows.n_rows; r++) {
            lost += !contains(ids, n_ids, bx_db_cell(&q.rows, r, 0)->s);
        }
    }
    CHECK(q.rows.n_rows > 0 && lost == 0, "all %zu outbox messages are on the topic (%zu lost)",
          q.rows.n_rows, lost);
    bx_arena_reset(&q.arena);
    /* 4. the topic tells the same story as the tables */
    long created = 0, confirmed = 0, cancelled = 0, ended = 0;
    const char *k;
    json_t *v;
    json_object_foreach(seen, k, v) {
        const char *type = json_string_value(v);
        created += strcmp(type, "hold.created") == 0;
        confirmed += strcmp(type, "order.confirmed") == 0;
        cancelled += strcmp(type, "order.cancelled") == 0;
        ended += strcmp(type, "hold.released") == 0 || strcmp(type, "hold.expired") == 0;
    }
    CHECK(created == scalar(db, "SELECT COUNT(*) FROM holds"),
          "hold.created messages (%ld) = holds", created);
    CHECK(confirmed == scalar(db, "SELECT COUNT(*) FROM orders"),
          "order.confirmed messages (%ld) = orders", confirmed);
    CHECK(cancelled == scalar(db, "SELECT COUNT(*) FROM orders WHERE status = 'cancelled'"),
          "order.cancelled messages (%ld) = cancelled orders", cancelled);
    CHECK(ended == scalar(db, "SELECT COUNT(*) FROM holds WHERE status IN"
                              " ('released', 'expired')"),
          "released/expired messages (%ld) = holds released or expired", ended);
    /* 5. every order has its document for ticketgen, saying what the database says */
    int64_t unwritten = -1;
    for (int i = 0; i < 120; i++) {
        unwritten = scalar(db, "SELECT COUNT(*) FROM exports WHERE done_at IS NULL");
        if (unwritten == 0) {
            break;
        }
        usleep(500 * 1000);
    }
    CHECK(unwritten == 0, "every order document was written (%lld left)", (long long)unwritten);
    struct query o = {.sql = "SELECT id, status FROM orders"};
    size_t docs_ok = 0;
    if (run_query(db, &o)) {
        for (size_t r = 0; r < o.rows.n_rows; r++) {
            char path[400];
            snprintf(path, sizeof path, "%s/objects/orders/%s.json", dir,
                     bx_db_cell(&o.rows, r, 0)->s);
            json_t *doc = json_load_file(path, 0, NULL);
            const char *status =
                json_string_value(json_object_get(json_object_get(doc, "order"), "status"));
            docs_ok += status != NULL && strcmp(status, bx_db_cell(&o.rows, r, 1)->s) == 0 &&
                       json_object_get(doc, "tier") != NULL &&
                       json_object_get(doc, "event") != NULL;
            json_decref(doc);
        }
    }
    CHECK(o.rows.n_rows > 0 && docs_ok == o.rows.n_rows,
          "orders/<id>.json exists for all %zu orders with their current status (%zu ok)",
          o.rows.n_rows, docs_ok);
    bx_arena_reset(&o.arena);
    for (size_t i = 0; i < n_ids; i++) {
        free(ids[i]);
    }
    free(ids);
    json_decref(seen);
}

static bool broker(const char *state) {
    char path[64];
    snprintf(path, sizeof path, "/mock/brokers/1/%s", state);
    struct harness_res r = harness_call(devkafka_port, "POST", path, NULL, NULL, NULL);
    bool ok = r.status == 200;
    harness_res_drop(&r);
    return ok;
}

int main(int argc, char **argv) {
    bool pg = argc >= 7 && strcmp(argv[5], "postgres") == 0;
    if (!(pg || (argc >= 6 && strcmp(argv[5], "sqlite") == 0))) {
        fprintf(stderr,
                "usage: %s BOOKING CATALOG DEVKAFKA KAFKA-DUMP (sqlite | postgres) [crash] [URL]\n",
                argv[0]);
        return 2;
    }
    bool crash = false;
    for (int i = 6; i < argc; i++) {
        crash = crash || strcmp(argv[i], "crash") == 0;
    }
    booking_bin = argv[1];
    catalog_bin = argv[2];
    devkafka_bin = argv[3];
    dump_bin = argv[4];
    signal(SIGPIPE, SIG_IGN);
    BX_ASSERT(mkdtemp(dir) != NULL);
    snprintf(keys, sizeof keys, "%s/keys", dir);
    const char *db_url = pg ? argv[argc - 1] : NULL; /* with_postgres.sh appends it */
    char sqlite_url[300];
    snprintf(sqlite_url, sizeof sqlite_url, "sqlite:%s/booking.db", dir);
    if (!pg) {
        db_url = sqlite_url;
    }
    snprintf(booking_db, sizeof booking_db, "BOXOFFICE_BOOKING_DB=%s", db_url);
    struct bx_key key;
    BX_ASSERT(bx_keyring_generate(keys, &key) == BX_OK);
    mint(&key, BX_ROLE_ADMIN, "sim-admin", admin, sizeof admin);
    for (int i = 0; i < SIM_USERS; i++) {
        char sub[32];
        snprintf(sub, sizeof sub, "sim-user-%d", i);
        mint(&key, BX_ROLE_CUSTOMER, sub, users[i], sizeof users[i]);
    }
    /* the broker */
    devkafka_port = harness_free_port();
    char d0[64], d1[300], dlog[200];
    snprintf(d0, sizeof d0, "BOXOFFICE_DEVKAFKA_PORT=%u", (unsigned)devkafka_port);
    snprintf(d1, sizeof d1, "BOXOFFICE_DEVKAFKA_BOOTSTRAP_FILE=%s/kafka.bootstrap", dir);
    snprintf(dlog, sizeof dlog, "%s/devkafka.log", dir);
    const char *denv[] = {d0, d1, "BOXOFFICE_LOG_LEVEL=warn", NULL};
    pid_t kafka = harness_spawn(devkafka_bin, denv, dlog);
    bool up = harness_wait_ok(devkafka_port, "/readyz", 30000);
    char path[400];
    snprintf(path, sizeof path, "%s/kafka.bootstrap", dir);
    FILE *bf = fopen(path, "r");
    up = up && bf != NULL && fgets(bootstrap, sizeof bootstrap, bf) != NULL;
    if (bf != NULL) {
        fclose(bf);
    }
    bootstrap[strcspn(bootstrap, "\r\n")] = '\0';
    /* the catalog (SQLite: catalog's tables are not booking's business) */
    catalog_port = harness_free_port();
    char c0[64], c1[300], c2[400], clog[200];
    snprintf(c0, sizeof c0, "BOXOFFICE_CATALOG_PORT=%u", (unsigned)catalog_port);
    snprintf(c1, sizeof c1, "BOXOFFICE_AUTH_KEYS=%s", keys);
    snprintf(c2, sizeof c2, "BOXOFFICE_CATALOG_DB=sqlite:%s/catalog.db", dir);
    snprintf(clog, sizeof clog, "%s/catalog.log", dir);
    const char *cenv[] = {c0, c1, c2, "BOXOFFICE_LOG_LEVEL=warn", NULL};
    pid_t cat = harness_spawn(catalog_bin, cenv, clog);
    up = up && harness_wait_ok(catalog_port, "/readyz", 30000) && setup_catalog();
    for (int i = 0; i < 2; i++) {
        replica_port[i] = harness_free_port();
        replica_pid[i] = start_replica(i);
    }
    up = up && harness_wait_ok(replica_port[0], "/readyz", 30000) &&
         harness_wait_ok(replica_port[1], "/readyz", 30000);
    CHECK(up, "devkafka, catalog and two booking replicas are up (%s%s)",
          pg ? "PostgreSQL" : "SQLite", crash ? ", with crashes" : "");
    if (up) {
        pthread_t threads[SIM_THREADS];
        for (uintptr_t i = 0; i < SIM_THREADS; i++) {
            BX_ASSERT(pthread_create(&threads[i], NULL, client, (void *)(i + 1)) == 0);
        }
        int64_t t0 = bx_now_mono_ms();
        if (crash) {
            usleep(6000 * 1000);
            kill(replica_pid[1], SIGKILL);
            waitpid(replica_pid[1], NULL, 0);
            CHECK(broker("down"), "the broker goes down for 10 s");
            usleep(1000 * 1000);
            replica_pid[1] = start_replica(1);
            CHECK(harness_wait_ok(replica_port[1], "/readyz", 30000),
                  "the killed replica restarts on the same database");
            usleep(9000 * 1000);
            CHECK(broker("up"), "the broker is back");
        }
        while (bx_now_mono_ms() - t0 < SIM_RUN_MS) {
            usleep(200 * 1000);
        }
        atomic_store(&stop_clients, true);
        for (size_t i = 0; i < SIM_THREADS; i++) {
            pthread_join(threads[i], NULL);
        }
        fprintf(stderr,
                "clients: %ld holds, %ld sold out, %ld orders, %ld cancels, %ld releases, %ld "
                "hold_expired, %ld lost answers, %ld 5xx\n",
                atomic_load(&holds_ok), atomic_load(&sold_out), atomic_load(&confirms_ok),
                atomic_load(&cancels_ok), atomic_load(&releases_ok), atomic_load(&expired_seen),
                atomic_load(&lost_answers), atomic_load(&server_errors));
        CHECK(atomic_load(&sold_out) > 0, "the tiers sold out at times (the race was real)");
        CHECK(atomic_load(&expired_seen) > 0, "late confirms were refused with hold_expired");
        /* let every abandoned hold expire; the sweeper must get them all */
        usleep((SIM_HOLD_TTL_S * 1000 + 1500) * 1000);
        struct bx_db db;
        struct bx_error err = {0};
        if (bx_db_open(db_url, &db, &err) == BX_OK) {
            CHECK(scalar(&db, "SELECT COUNT(*) FROM holds WHERE status = 'active'") == 0,
                  "no seat stays held past its hold's time");
            check(&db);
            bx_db_close(&db);
        } else {
            CHECK(false, "open %s: %s", db_url, err.message);
        }
    }
    for (int i = 0; i < 2; i++) {
        int st = harness_stop(replica_pid[i], SIGTERM, 30000);
        CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "replica %d: SIGTERM -> exit 0",
              i);
    }
    harness_stop(cat, SIGTERM, 20000);
    harness_stop(kafka, SIGTERM, 20000);
    if (harness_failures) {
        char log[200];
        for (int i = 0; i < 2; i++) {
            snprintf(log, sizeof log, "%s/booking-%d.log", dir, i);
            harness_tail(log, 20);
        }
        fprintf(stderr, "logs kept in %s\n", dir);
    } else {
        char cmd[200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) {
            fprintf(stderr, "could not remove %s\n", dir);
        }
    }
    return harness_finish("booking_sim");
}
