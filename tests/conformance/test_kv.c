// SPDX-License-Identifier: Apache-2.0
// The key-value conformance suite: the same test functions run against every backend, given by
// URL, and each checks what a caller of include/boxoffice/kv.h would see: versions, conditional
// puts and deletes, expiry, values of every shape, limits, and exactly-one-winner races.
//   test_kv URL                     the suite against a store that exists already
//   test_kv --lmdb                  a fresh LMDB store in a temporary directory
//   test_kv --dynalite NODE SCRIPT  dynalite (NODE SCRIPT PORT) on a free port, table created
// Every wait is bounded; keys carry a per-run prefix, so runs never see each other's items.
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <lmdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "boxoffice/base.h"
#include "boxoffice/kv.h"
#include "harness.h"
#include "kv/dynamodb.h"

#define URL_MAX_BYTES       600
#define KEY_BUF_BYTES       (BX_KV_KEY_MAX_BYTES + 64)
#define RACE_THREADS        16
#define RACE_ROUNDS         20
#define CAS_THREADS         8
#define CAS_INCREMENTS      50
#define CAS_TRIES_MAX       10000 /* per increment; a livelock fails instead of hanging */
#define EXPIRY_WAIT_MS      15000
#define EXPIRY_MARGIN_MAX_S 8
#define DYNALITE_WAIT_MS    20000
#define DYNALITE_STOP_MS    5000
#define CHILD_WAIT_MS       20000
#define CHILD_LINGER_S      30
#define BIG_VALUE_BYTES     (100 * 1024)
#define SWEEP_EXPIRED_ITEMS 20
#define DYNALITE_TABLE      "bx_kv_conformance"
#define DYNALITE_REGION     "us-east-1"

static const char *store_url;
static char prefix[64]; /* "kv-<uuid7>/" */

static void make_key(char out[static KEY_BUF_BYTES], const char *name) {
    snprintf(out, KEY_BUF_BYTES, "%s%s", prefix, name);
}

static enum bx_err kv_put(struct bx_kv *kv, const char *key, const char *value,
                          enum bx_kv_put_mode mode, uint64_t expected, int64_t expires_at_s,
                          uint64_t *version) {
    return kv->ops->put(kv->ctx, key, value, strlen(value), mode, expected, expires_at_s, version);
}

/* BX_OK and the item's value equals want (and its version is want_version, when non-zero). */
static bool holds(struct bx_kv *kv, const char *key, const void *want, size_t want_len,
                  uint64_t want_version) {
    char *v = NULL;
    size_t len = 0;
    uint64_t version = 0;
    enum bx_err e = kv->ops->get(kv->ctx, key, &v, &len, &version);
    bool ok = e == BX_OK && v != NULL && len == want_len && memcmp(v, want, len) == 0 &&
              v[len] == '\0' && (want_version == 0 || version == want_version);
    if (!ok) {
        printf("     get %s: %s, len %zu (want %zu), version %" PRIu64 " (want %" PRIu64 ")\n", key,
               bx_err_name(e), len, want_len, version, want_version);
    }
    free(v);
    return ok;
}

static enum bx_err get_err(struct bx_kv *kv, const char *key) {
    char *v = NULL;
    size_t len = 0;
    uint64_t version = 0;
    enum bx_err e = kv->ops->get(kv->ctx, key, &v, &len, &version);
    BX_ASSERT(e == BX_OK || v == NULL);
    free(v);
    return e;
}

static void test_get_missing(struct bx_kv *kv) {
    char key[KEY_BUF_BYTES];
    make_key(key, "missing");
    char *v = (char *)"untouched";
    size_t len = 7;
    uint64_t version = 7;
    enum bx_err e = kv->ops->get(kv->ctx, key, &v, &len, &version);
    CHECK(e == BX_NOT_FOUND && v == NULL, "get of a missing key is not_found (%s)", bx_err_name(e));
    CHECK(kv->ops->del(kv->ctx, key, 0) == BX_NOT_FOUND, "del of a missing key is not_found");
    CHECK(kv->ops->ping(kv->ctx) == BX_OK, "ping answers");
}

static void test_put_get_overwrite(struct bx_kv *kv) {
    char key[KEY_BUF_BYTES];
    make_key(key, "user:1");
    const char *v1 = "{\"id\":\"1\",\"name\":\"Ada\"}";
    const char *v2 = "{\"id\":\"1\",\"name\":\"Ada Lovelace\"}";
    uint64_t version = 0;
    enum bx_err e = kv_put(kv, key, v1, BX_KV_PUT_ANY, 0, 0, &version);
    CHECK(e == BX_OK && version == 1, "put ANY creates at version 1 (%s, %" PRIu64 ")",
          bx_err_name(e), version);
    CHECK(holds(kv, key, v1, strlen(v1), 1), "get returns the value and version 1");
    e = kv_put(kv, key, v2, BX_KV_PUT_ANY, 0, 0, &version);
    CHECK(e == BX_OK && version == 2, "put ANY overwrites at version 2 (%s, %" PRIu64 ")",
          bx_err_name(e), version);
    CHECK(holds(kv, key, v2, strlen(v2), 2), "get returns the new value and version 2");
    e = kv_put(kv, key, v1, BX_KV_PUT_ANY, 0, 0, NULL);
    CHECK(e == BX_OK && holds(kv, key, v1, strlen(v1), 3), "a NULL version_out is allowed");
}

static void test_if_absent(struct bx_kv *kv) {
    char key[KEY_BUF_BYTES];
    make_key(key, "email:grace@example.com");
    uint64_t version = 0;
    enum bx_err e = kv_put(kv, key, "first", BX_KV_PUT_IF_ABSENT, 0, 0, &version);
    CHECK(e == BX_OK && version == 1, "IF_ABSENT on a new key creates at version 1");
    version = 99;
    e = kv_put(kv, key, "second", BX_KV_PUT_IF_ABSENT, 0, 0, &version);
    CHECK(e == BX_CONFLICT, "IF_ABSENT on an existing key is conflict (%s)", bx_err_name(e));
    CHECK(version == 0, "a conflict reports no version");
    CHECK(holds(kv, key, "first", 5, 1), "the value is unchanged after the conflict");
}

static void test_if_version(struct bx_kv *kv) {
    char key[KEY_BUF_BYTES], absent[KEY_BUF_BYTES];
    make_key(key, "session:cas");
    make_key(absent, "session:never");
    uint64_t version = 0;
    BX_ASSERT(kv_put(kv, key, "a", BX_KV_PUT_ANY, 0, 0, &version) == BX_OK);
    BX_ASSERT(kv_put(kv, key, "b", BX_KV_PUT_ANY, 0, 0, &version) == BX_OK && version == 2);
    enum bx_err e = kv_put(kv, key, "c", BX_KV_PUT_IF_VERSION, 2, 0, &version);
    CHECK(e == BX_OK && version == 3, "IF_VERSION at the stored version succeeds with version 3");
    e = kv_put(kv, key, "d", BX_KV_PUT_IF_VERSION, 2, 0, &version);
    CHECK(e == BX_CONFLICT, "IF_VERSION at a stale version is conflict (%s)", bx_err_name(e));
    e = kv_put(kv, key, "d", BX_KV_PUT_IF_VERSION, 4, 0, &version);
    CHECK(e == BX_CONFLICT, "IF_VERSION at a future version is conflict (%s)", bx_err_name(e));
    CHECK(holds(kv, key, "c", 1, 3), "the value is unchanged after the conflicts");
    e = kv_put(kv, absent, "x", BX_KV_PUT_IF_VERSION, 1, 0, &version);
    CHECK(e == BX_CONFLICT, "IF_VERSION on an absent key is conflict (%s)", bx_err_name(e));
    CHECK(get_err(kv, absent) == BX_NOT_FOUND, "and the key stays absent");
}

static void test_del(struct bx_kv *kv) {
    char key[KEY_BUF_BYTES];
    make_key(key, "session:del");
    uint64_t version = 0;
    BX_ASSERT(kv_put(kv, key, "a", BX_KV_PUT_ANY, 0, 0, &version) == BX_OK);
    BX_ASSERT(kv_put(kv, key, "b", BX_KV_PUT_ANY, 0, 0, &version) == BX_OK && version == 2);
    enum bx_err e = kv->ops->del(kv->ctx, key, 1);
    CHECK(e == BX_CONFLICT, "del at the wrong version is conflict (%s)", bx_err_name(e));
    CHECK(holds(kv, key, "b", 1, 2), "and the item is still there");
    e = kv->ops->del(kv->ctx, key, 2);
    CHECK(e == BX_OK, "del at the right version succeeds (%s)", bx_err_name(e));
    CHECK(get_err(kv, key) == BX_NOT_FOUND, "then get is not_found");
    e = kv->ops->del(kv->ctx, key, 2);
    CHECK(e == BX_NOT_FOUND, "del of a deleted item is not_found (%s)", bx_err_name(e));
    e = kv_put(kv, key, "again", BX_KV_PUT_IF_ABSENT, 0, 0, &version);
    CHECK(e == BX_OK && version == 1, "a deleted key can be created again, at version 1");
    e = kv->ops->del(kv->ctx, key, 0);
    CHECK(e == BX_OK && get_err(kv, key) == BX_NOT_FOUND, "del with version 0 deletes any");
}

static void test_expiry(struct bx_kv *kv) {
    char k_past[KEY_BUF_BYTES], k_never[KEY_BUF_BYTES];
    make_key(k_past, "exp:past");
    make_key(k_never, "exp:never");
    uint64_t version = 0;
    enum bx_err e = kv_put(kv, k_past, "old", BX_KV_PUT_ANY, 0, bx_now_unix_s() - 10, &version);
    CHECK(e == BX_OK && get_err(kv, k_past) == BX_NOT_FOUND,
          "an item put with a past expiry reads as absent");
    BX_ASSERT(kv_put(kv, k_never, "forever", BX_KV_PUT_ANY, 0, 0, &version) == BX_OK);

    /* four items with one expiry, each at version 2; should the clock pass the expiry before
     * they were all read back (a slow machine), a miss proves nothing: again, with more time */
    static const char *const names[] = {"absent", "any", "cas", "del"};
    char keys[BX_ARRAY_LEN(names)][KEY_BUF_BYTES];
    int64_t soon = 0;
    bool visible = false, undecided = true;
    for (int64_t margin_s = 1; margin_s <= EXPIRY_MARGIN_MAX_S && undecided; margin_s *= 2) {
        soon = bx_now_unix_s() + margin_s;
        visible = true;
        for (size_t i = 0; i < BX_ARRAY_LEN(names); i++) {
            char name[64];
            snprintf(name, sizeof name, "exp:%s:%" PRId64, names[i], margin_s);
            make_key(keys[i], name);
            BX_ASSERT(kv_put(kv, keys[i], "v", BX_KV_PUT_ANY, 0, 0, &version) == BX_OK);
            e = kv_put(kv, keys[i], "soon", BX_KV_PUT_ANY, 0, soon, &version);
            visible = visible && e == BX_OK && version == 2 && holds(kv, keys[i], "soon", 4, 2);
        }
        undecided = bx_now_unix_s() > soon;
    }
    CHECK(visible && !undecided, "items are visible until their expiry");
    char k_kept[KEY_BUF_BYTES];
    make_key(k_kept, "exp:kept");
    BX_ASSERT(kv_put(kv, k_kept, "brief", BX_KV_PUT_ANY, 0, soon, &version) == BX_OK);
    BX_ASSERT(kv_put(kv, k_kept, "kept", BX_KV_PUT_ANY, 0, 0, &version) == BX_OK);
    const char *k_absent = keys[0], *k_any = keys[1], *k_cas = keys[2], *k_del = keys[3];

    int64_t deadline = bx_now_mono_ms() + EXPIRY_WAIT_MS;
    bool gone = false;
    while (!gone && bx_now_mono_ms() < deadline) {
        gone = get_err(kv, k_absent) == BX_NOT_FOUND;
        if (!gone) {
            usleep(100 * 1000);
        }
    }
    CHECK(gone, "an item reads as absent once its expiry has passed");
    bool others_gone = true;
    for (size_t i = 1; i < BX_ARRAY_LEN(names); i++) {
        others_gone = others_gone && get_err(kv, keys[i]) == BX_NOT_FOUND;
    }
    CHECK(others_gone, "so do the others with the same expiry");
    CHECK(holds(kv, k_never, "forever", 7, 1), "an item without expiry stays");
    CHECK(holds(kv, k_kept, "kept", 4, 0), "an item put again without expiry stays");

    e = kv_put(kv, k_absent, "new", BX_KV_PUT_IF_ABSENT, 0, 0, &version);
    CHECK(e == BX_OK && version == 1, "IF_ABSENT over an expired item succeeds at version 1 (%s)",
          bx_err_name(e));
    CHECK(holds(kv, k_absent, "new", 3, 1), "and the new value reads back");
    e = kv_put(kv, k_any, "new", BX_KV_PUT_ANY, 0, 0, &version);
    CHECK(e == BX_OK && version == 1, "ANY over an expired item starts again at version 1");
    e = kv_put(kv, k_cas, "new", BX_KV_PUT_IF_VERSION, 2, 0, &version);
    CHECK(e == BX_CONFLICT, "IF_VERSION over an expired item is conflict (%s)", bx_err_name(e));
    e = kv->ops->del(kv->ctx, k_del, 0);
    CHECK(e == BX_NOT_FOUND, "del of an expired item is not_found (%s)", bx_err_name(e));
    e = kv->ops->del(kv->ctx, k_cas, 2);
    CHECK(e == BX_NOT_FOUND, "del at version of an expired item is not_found (%s)", bx_err_name(e));
}

static void test_values(struct bx_kv *kv) {
    char key[KEY_BUF_BYTES];
    uint64_t version = 0;
    static const char utf8[] =
        "Ada Lovelace \xe2\x80\x94 \xf0\x9f\x8e\x9f caf\xc3\xa9 \xe4\xb8\xad";
    make_key(key, "value:utf8");
    enum bx_err e =
        kv->ops->put(kv->ctx, key, utf8, sizeof utf8 - 1, BX_KV_PUT_ANY, 0, 0, &version);
    CHECK(e == BX_OK && holds(kv, key, utf8, sizeof utf8 - 1, 1), "UTF-8 text round-trips");

    static const unsigned char binary[] = {0x00, 0xff, 0x80, 0xc3, 0x28, '{', 0x00, 0xfe, 0x0a};
    make_key(key, "value:binary");
    e = kv->ops->put(kv->ctx, key, binary, sizeof binary, BX_KV_PUT_ANY, 0, 0, &version);
    CHECK(e == BX_OK && holds(kv, key, binary, sizeof binary, 1),
          "bytes that are not UTF-8 (NUL, 0xff) round-trip");

    make_key(key, "value:empty");
    e = kv->ops->put(kv->ctx, key, "", 0, BX_KV_PUT_ANY, 0, 0, &version);
    CHECK(e == BX_OK && holds(kv, key, "", 0, 1), "an empty value round-trips");

    char *big = malloc(BX_KV_VALUE_MAX_BYTES + 1);
    BX_ASSERT(big != NULL);
    for (size_t i = 0; i < BIG_VALUE_BYTES; i++) {
        big[i] = (char)('a' + i % 26);
    }
    big[0] = '"';
    big[BIG_VALUE_BYTES - 1] = '"';
    make_key(key, "value:big");
    e = kv->ops->put(kv->ctx, key, big, BIG_VALUE_BYTES, BX_KV_PUT_ANY, 0, 0, &version);
    CHECK(e == BX_OK && holds(kv, key, big, BIG_VALUE_BYTES, 1), "a 100 KiB value round-trips");

    bx_random_bytes(big, BX_KV_VALUE_MAX_BYTES + 1);
    make_key(key, "value:max");
    e = kv->ops->put(kv->ctx, key, big, BX_KV_VALUE_MAX_BYTES, BX_KV_PUT_ANY, 0, 0, &version);
    CHECK(e == BX_OK && holds(kv, key, big, BX_KV_VALUE_MAX_BYTES, 1),
          "a random value of BX_KV_VALUE_MAX_BYTES round-trips (%s)", bx_err_name(e));
    make_key(key, "value:too-big");
    e = kv->ops->put(kv->ctx, key, big, BX_KV_VALUE_MAX_BYTES + 1, BX_KV_PUT_ANY, 0, 0, &version);
    CHECK(e == BX_INVALID_FIELD, "a value over BX_KV_VALUE_MAX_BYTES is invalid_field (%s)",
          bx_err_name(e));
    CHECK(get_err(kv, key) == BX_NOT_FOUND, "and nothing was stored");
    free(big);
}

static void test_limits(struct bx_kv *kv) {
    char key[BX_KV_KEY_MAX_BYTES + 2];
    size_t n = bx_strlcpy(key, prefix, sizeof key);
    memset(key + n, 'k', sizeof key - n);
    key[BX_KV_KEY_MAX_BYTES] = '\0';
    uint64_t version = 0;
    enum bx_err e = kv_put(kv, key, "longest", BX_KV_PUT_ANY, 0, 0, &version);
    CHECK(e == BX_OK && holds(kv, key, "longest", 7, 1),
          "a key of BX_KV_KEY_MAX_BYTES round-trips (%s)", bx_err_name(e));
    CHECK(kv->ops->del(kv->ctx, key, 0) == BX_OK, "and can be deleted");
    key[BX_KV_KEY_MAX_BYTES] = 'k';
    key[BX_KV_KEY_MAX_BYTES + 1] = '\0';
    e = kv_put(kv, key, "x", BX_KV_PUT_ANY, 0, 0, &version);
    CHECK(e == BX_INVALID_FIELD, "a longer key is invalid_field on put (%s)", bx_err_name(e));
    CHECK(get_err(kv, key) == BX_INVALID_FIELD, "on get");
    CHECK(kv->ops->del(kv->ctx, key, 0) == BX_INVALID_FIELD, "and on del");
    CHECK(kv_put(kv, "", "x", BX_KV_PUT_ANY, 0, 0, &version) == BX_INVALID_FIELD,
          "an empty key is invalid_field");
    char bad[KEY_BUF_BYTES];
    make_key(bad, "bad\xff\xfe");
    CHECK(kv_put(kv, bad, "x", BX_KV_PUT_ANY, 0, 0, &version) == BX_INVALID_FIELD,
          "a key that is not UTF-8 is invalid_field");
    make_key(bad, "neg");
    CHECK(kv_put(kv, bad, "x", BX_KV_PUT_ANY, 0, -5, &version) == BX_INVALID_FIELD,
          "a negative expiry is invalid_field");
    CHECK(kv_put(kv, bad, "x", (enum bx_kv_put_mode)7, 0, 0, &version) == BX_INVALID_FIELD,
          "an unknown mode is invalid_field");
}

struct racer {
    struct bx_kv *kv;
    pthread_barrier_t *start;
    const char *key;
    char value[32];
    enum bx_err result;
};

static void *race_if_absent(void *arg) {
    struct racer *r = arg;
    pthread_barrier_wait(r->start);
    uint64_t version = 0;
    r->result = kv_put(r->kv, r->key, r->value, BX_KV_PUT_IF_ABSENT, 0, 0, &version);
    BX_ASSERT(r->result != BX_OK || version == 1);
    return NULL;
}

static void test_race_if_absent(struct bx_kv *kv) {
    int rounds_ok = 0;
    for (int round = 0; round < RACE_ROUNDS; round++) {
        char name[64], key[KEY_BUF_BYTES];
        snprintf(name, sizeof name, "email:ada+%d@example.com", round);
        make_key(key, name);
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, RACE_THREADS);
        struct racer racers[RACE_THREADS];
        pthread_t threads[RACE_THREADS];
        for (int i = 0; i < RACE_THREADS; i++) {
            racers[i] = (struct racer){.kv = kv, .start = &start, .key = key};
            snprintf(racers[i].value, sizeof racers[i].value, "{\"user\":%d}", i);
            BX_ASSERT(pthread_create(&threads[i], NULL, race_if_absent, &racers[i]) == 0);
        }
        int ok = 0, conflict = 0, winner = -1;
        for (int i = 0; i < RACE_THREADS; i++) {
            pthread_join(threads[i], NULL);
            if (racers[i].result == BX_OK) {
                ok++;
                winner = i;
            } else if (racers[i].result == BX_CONFLICT) {
                conflict++;
            } else {
                printf("     round %d thread %d: %s\n", round, i, bx_err_name(racers[i].result));
            }
        }
        pthread_barrier_destroy(&start);
        bool good = ok == 1 && conflict == RACE_THREADS - 1;
        if (good) {
            const char *v = racers[winner].value;
            good = holds(kv, key, v, strlen(v), 1);
        } else {
            printf("     round %d: %d ok, %d conflict\n", round, ok, conflict);
        }
        rounds_ok += good;
    }
    CHECK(rounds_ok == RACE_ROUNDS,
          "%d threads x IF_ABSENT on one key: exactly one wins, with its value (%d/%d rounds)",
          RACE_THREADS, rounds_ok, RACE_ROUNDS);
}

struct counter {
    struct bx_kv *kv;
    const char *key;
    int done;
    int errors;
};

static void *cas_increment(void *arg) {
    struct counter *c = arg;
    for (int i = 0; i < CAS_INCREMENTS; i++) {
        bool done = false;
        for (int t = 0; t < CAS_TRIES_MAX && !done; t++) {
            char *v = NULL;
            size_t len = 0;
            uint64_t version = 0;
            int64_t n = -1;
            enum bx_err e = c->kv->ops->get(c->kv->ctx, c->key, &v, &len, &version);
            if (e != BX_OK || bx_parse_i64(v, 0, INT64_MAX, &n) != 0) {
                free(v);
                c->errors++;
                break;
            }
            free(v);
            char next[24];
            snprintf(next, sizeof next, "%" PRId64, n + 1);
            e = kv_put(c->kv, c->key, next, BX_KV_PUT_IF_VERSION, version, 0, NULL);
            if (e == BX_OK) {
                done = true;
            } else if (e != BX_CONFLICT) {
                c->errors++;
                break;
            }
        }
        c->done += done;
    }
    return NULL;
}

static void test_cas_counter(struct bx_kv *kv) {
    char key[KEY_BUF_BYTES];
    make_key(key, "counter");
    BX_ASSERT(kv_put(kv, key, "0", BX_KV_PUT_ANY, 0, 0, NULL) == BX_OK);
    struct counter counters[CAS_THREADS];
    pthread_t threads[CAS_THREADS];
    for (int i = 0; i < CAS_THREADS; i++) {
        counters[i] = (struct counter){.kv = kv, .key = key};
        BX_ASSERT(pthread_create(&threads[i], NULL, cas_increment, &counters[i]) == 0);
    }
    int done = 0, errors = 0;
    for (int i = 0; i < CAS_THREADS; i++) {
        pthread_join(threads[i], NULL);
        done += counters[i].done;
        errors += counters[i].errors;
    }
    char want[24];
    int total = CAS_THREADS * CAS_INCREMENTS;
    snprintf(want, sizeof want, "%d", total);
    CHECK(done == total && errors == 0, "%d threads x %d CAS increments all landed (%d, %d errors)",
          CAS_THREADS, CAS_INCREMENTS, done, errors);
    CHECK(holds(kv, key, want, strlen(want), (uint64_t)total + 1),
          "the counter reads exactly %d at version %d", total, total + 1);
}

/* --child-put URL KEY: puts KEY, reports the version on stdout, then waits to be killed. */
static int child_put(const char *url, const char *key) {
    struct bx_kv kv;
    struct bx_error err = {0};
    if (bx_kv_open(url, &kv, &err) != BX_OK) {
        fprintf(stderr, "child: %s\n", err.message);
        return 1;
    }
    uint64_t version = 0;
    if (kv_put(&kv, key, "acknowledged", BX_KV_PUT_ANY, 0, 0, &version) != BX_OK) {
        return 1;
    }
    printf("%" PRIu64 "\n", version);
    fflush(stdout);
    sleep(CHILD_LINGER_S); /* SIGKILLed long before; bounded should the parent be gone */
    return 0;
}

static void test_durability(struct bx_kv *kv) {
    char key[KEY_BUF_BYTES];
    make_key(key, "durable");
    char buf[32];
    char *const child[] = {"/proc/self/exe", "--child-put", (char *)store_url, key, NULL};
    harness_first_line_then_kill(child, buf, sizeof buf, CHILD_WAIT_MS);
    bool acknowledged = strcmp(buf, "1\n") == 0;
    buf[strcspn(buf, "\n")] = '\0';
    CHECK(acknowledged, "another process acknowledged a put at version 1 (\"%s\")", buf);
    CHECK(holds(kv, key, "acknowledged", 12, 1), "after it was SIGKILLed the item is there");

    struct bx_kv again;
    struct bx_error err = {0};
    enum bx_err e = BX_INTERNAL;
    bx_kv_close(kv);
    e = bx_kv_open(store_url, &again, &err);
    CHECK(e == BX_OK, "the store opens again (%s)", err.message);
    BX_ASSERT(e == BX_OK);
    *kv = again;
    CHECK(holds(kv, key, "acknowledged", 12, 1), "and after close and open too");
}

static void test_open_errors(void) {
    static const char *const bad[] = {
        "nope:x",
        "no-scheme",
        "lmdb:",
        "lmdb:/tmp/x?map_mb=0",
        "lmdb:/tmp/x?colour=blue",
        "dynamodb://t",
        "dynamodb://ok-table?region=us-east-1&endpoint=ftp://x",
        "dynamodb://a?region=us-east-1",
        "dynamodb://ok-table?region=us-east-1&bogus=1",
    };
    int rejected = 0;
    for (size_t i = 0; i < BX_ARRAY_LEN(bad); i++) {
        struct bx_kv kv;
        struct bx_error err = {0};
        enum bx_err e = bx_kv_open(bad[i], &kv, &err);
        if (e != BX_OK && kv.ops == NULL && err.message[0] != '\0') {
            rejected++;
        } else {
            printf("     %s: %s\n", bad[i], bx_err_name(e));
            bx_kv_close(&kv);
        }
    }
    CHECK(rejected == (int)BX_ARRAY_LEN(bad), "malformed store URLs are refused with a message");
}

static void run_suite(void) {
    char id[37];
    bx_uuid7(id);
    snprintf(prefix, sizeof prefix, "kv-%s/", id);
    printf("# store %s, keys %s*\n", store_url, prefix);
    struct bx_kv kv;
    struct bx_error err = {0};
    enum bx_err e = bx_kv_open(store_url, &kv, &err);
    CHECK(e == BX_OK, "open %s (%s)", store_url, err.message);
    if (e != BX_OK) {
        return;
    }
    test_open_errors();
    test_get_missing(&kv);
    test_put_get_overwrite(&kv);
    test_if_absent(&kv);
    test_if_version(&kv);
    test_del(&kv);
    test_values(&kv);
    test_limits(&kv);
    test_race_if_absent(&kv);
    test_cas_counter(&kv);
    test_expiry(&kv);
    test_durability(&kv);
    bx_kv_close(&kv);
}

/* LMDB only: puts sweep expired items away, so they do not pile up in the file. The store in
 * dir is new and holds only these items; LMDB itself counts them after the store is closed. */
static void test_lmdb_sweep(const char *dir) {
    struct bx_kv kv;
    struct bx_error err = {0};
    BX_ASSERT(bx_kv_open(store_url, &kv, &err) == BX_OK);
    int64_t past = bx_now_unix_s() - 10;
    for (int i = 0; i < SWEEP_EXPIRED_ITEMS; i++) {
        char key[32];
        snprintf(key, sizeof key, "sweep:%02d", i);
        BX_ASSERT(kv_put(&kv, key, "gone", BX_KV_PUT_ANY, 0, past, NULL) == BX_OK);
    }
    for (int i = 0; i < SWEEP_EXPIRED_ITEMS; i++) {
        BX_ASSERT(kv_put(&kv, "sweep:live", "here", BX_KV_PUT_ANY, 0, 0, NULL) == BX_OK);
    }
    bx_kv_close(&kv);
    MDB_env *env = NULL;
    MDB_stat st = {0};
    BX_ASSERT(mdb_env_create(&env) == 0);
    int rc = mdb_env_open(env, dir, MDB_RDONLY, 0600);
    if (rc == 0) {
        rc = mdb_env_stat(env, &st);
    }
    mdb_env_close(env);
    CHECK(rc == 0 && st.ms_entries == 1, "puts swept %d expired items away (%zu left)",
          SWEEP_EXPIRED_ITEMS, (size_t)st.ms_entries);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int run_lmdb(void) {
    char dir[] = "/tmp/bx-kv-XXXXXX";
    BX_ASSERT(mkdtemp(dir) != NULL);
    char url[URL_MAX_BYTES], sweep_dir[URL_MAX_BYTES];
    snprintf(url, sizeof url, "lmdb:%s/store?map_mb=64", dir);
    store_url = url;
    run_suite();
    snprintf(sweep_dir, sizeof sweep_dir, "%s/sweep", dir);
    snprintf(url, sizeof url, "lmdb:%s", sweep_dir); /* store_url points here */
    test_lmdb_sweep(sweep_dir);
    nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    return harness_finish("conformance.kv.lmdb");
}

/* DynamoDB only: a missing table and a server that is gone read as unavailable, promptly. */
static void test_dynamodb_unavailable(uint16_t port) {
    char other[URL_MAX_BYTES];
    snprintf(other, sizeof other,
             "dynamodb://no_such_table?region=" DYNALITE_REGION "&endpoint=http://127.0.0.1:%u",
             (unsigned)port);
    struct bx_kv kv;
    struct bx_error err = {0};
    BX_ASSERT(bx_kv_open(other, &kv, &err) == BX_OK);
    char *v = NULL;
    size_t len = 0;
    uint64_t version = 0;
    CHECK(kv.ops->ping(kv.ctx) == BX_UNAVAILABLE, "ping of a missing table is unavailable");
    CHECK(kv.ops->get(kv.ctx, "k", &v, &len, &version) == BX_UNAVAILABLE,
          "get from a missing table is unavailable");
    bx_kv_close(&kv);

    uint16_t closed = harness_free_port(); /* nobody listens there */
    snprintf(other, sizeof other,
             "dynamodb://" DYNALITE_TABLE "?region=" DYNALITE_REGION
             "&endpoint=http://127.0.0.1:%u",
             (unsigned)closed);
    BX_ASSERT(bx_kv_open(other, &kv, &err) == BX_OK);
    CHECK(kv.ops->ping(kv.ctx) == BX_UNAVAILABLE, "ping of a server that is gone is unavailable");
    CHECK(kv.ops->put(kv.ctx, "k", "v", 1, BX_KV_PUT_ANY, 0, 0, &version) == BX_UNAVAILABLE,
          "put to a server that is gone is unavailable");
    CHECK(kv.ops->del(kv.ctx, "k", 0) == BX_UNAVAILABLE,
          "del on a server that is gone is unavailable");
    bx_kv_close(&kv);
}

static int run_dynalite(const char *node, const char *script) {
    char log_path[] = "/tmp/bx-kv-dynalite-XXXXXX";
    int log_fd = mkstemp(log_path);
    BX_ASSERT(log_fd >= 0);
    close(log_fd);
    uint16_t port = 0;
    pid_t pid = harness_dynalite(node, script, log_path, &port);
    bool up = pid > 0, exited = !up;
    CHECK(up, "dynalite accepts on 127.0.0.1:%u (%s %s)", (unsigned)port, node, script);
    char url[URL_MAX_BYTES];
    snprintf(url, sizeof url,
             "dynamodb://" DYNALITE_TABLE "?region=" DYNALITE_REGION
             "&endpoint=http://127.0.0.1:%u",
             (unsigned)port);
    store_url = url;
    if (up) {
        struct bx_error err = {0};
        enum bx_err e = bx_kv_dynamodb_ensure_table(url, &err);
        CHECK(e == BX_OK, "the table is created (%s)", err.message);
        e = bx_kv_dynamodb_ensure_table(url, &err);
        CHECK(e == BX_OK, "and creating it again is fine (%s)", err.message);
        if (e == BX_OK) {
            run_suite();
        }
    }
    if (up) {
        test_dynamodb_unavailable(port);
    }
    if (!exited) {
        harness_stop(pid, SIGTERM, DYNALITE_STOP_MS);
    }
    if (harness_failures > 0) {
        printf("# dynalite log:\n");
        harness_tail(log_path, 20);
    }
    unlink(log_path);
    return harness_finish("conformance.kv.dynamodb");
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 4 && strcmp(argv[1], "--child-put") == 0) {
        return child_put(argv[2], argv[3]);
    }
    if (argc == 2 && strcmp(argv[1], "--lmdb") == 0) {
        return run_lmdb();
    }
    if (argc == 4 && strcmp(argv[1], "--dynalite") == 0) {
        return run_dynalite(argv[2], argv[3]);
    }
    if (argc == 2 && argv[1][0] != '-') {
        store_url = argv[1];
        run_suite();
        return harness_finish("conformance.kv");
    }
    fprintf(stderr, "usage: test_kv URL | --lmdb | --dynalite NODE SCRIPT\n");
    return 2;
}
