// SPDX-License-Identifier: Apache-2.0
// The object-store conformance suite: the same test functions run against every backend, given by
// URL, and each checks what a caller of include/boxoffice/objects.h would see: round trips of any
// bytes, overwrite, head, limits, the key rules, paging through list in byte order, streamed
// puts of large files, and atomic puts under concurrent writers and readers.
//   test_objects URL                 the suite against a store that exists already (a scratch one)
//   test_objects --file              a fresh file store in a temporary directory
//   test_objects --s3 NODE SCRIPT    s3rver (NODE SCRIPT PORT DIR BUCKET) on a free port
// Every wait is bounded; keys carry a per-run prefix, so runs never see each other's objects.
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "boxoffice/base.h"
#include "boxoffice/objects.h"
#include "harness.h"

#define URL_MAX_BYTES     700
#define KEY_BUF_BYTES     (BX_OBJECT_KEY_MAX_BYTES + 64)
#define LIST_KEYS         250
#define LIST_PAGE         100
#define BIG_FILE_BYTES    (20 * 1024 * 1024)
#define RACE_WRITERS      8
#define RACE_READERS      3
#define RACE_PUTS         8 /* per writer */
#define RACE_BODY_BYTES   (1024 * 1024)
#define RACE_READS_MAX    100000 /* per reader; the writers end long before */
#define S3RVER_WAIT_MS    20000
#define S3RVER_STOP_MS    5000
#define CHILD_WAIT_MS     20000
#define CHILD_LINGER_S    30
#define CLOCK_SLACK_S     600 /* object times against ours: the same machine, or S3's clock */
#define S3RVER_BUCKET     "bx-objects-conformance"
#define S3RVER_REGION     "us-east-1"
#define S3RVER_ACCESS_KEY "S3RVER" /* the emulator's dummy account, never a real one */

static const char *store_url;
static char prefix[64]; /* "objects-<uuid7>/" */
static bool is_file;    /* the file backend: its own checks too */

static void make_key(char out[static KEY_BUF_BYTES], const char *name) {
    snprintf(out, KEY_BUF_BYTES, "%s%s", prefix, name);
}

static enum bx_err put_str(struct bx_objects *o, const char *key, const char *body,
                           const char *content_type) {
    struct bx_error err = {0};
    enum bx_err e = o->ops->put(o->ctx, key, body, strlen(body), content_type, &err);
    if (e != BX_OK) {
        printf("     put %s: %s %s\n", key, bx_err_name(e), err.message);
    }
    return e;
}

/* BX_OK and the object's bytes equal want (NUL-terminated after them). */
static bool holds(struct bx_objects *o, const char *key, const void *want, size_t want_len) {
    char *body = NULL;
    size_t len = 0;
    struct bx_error err = {0};
    enum bx_err e = o->ops->get(o->ctx, key, 0, &body, &len, NULL, &err);
    bool ok = e == BX_OK && body != NULL && len == want_len &&
              (len == 0 || memcmp(body, want, len) == 0) && body[len] == '\0';
    if (!ok) {
        printf("     get %s: %s %s, len %zu (want %zu)\n", key, bx_err_name(e), err.message, len,
               want_len);
    }
    free(body);
    return ok;
}

static enum bx_err get_err(struct bx_objects *o, const char *key) {
    char *body = NULL;
    size_t len = 0;
    enum bx_err e = o->ops->get(o->ctx, key, 0, &body, &len, NULL, NULL);
    BX_ASSERT(e == BX_OK || body == NULL);
    free(body);
    return e;
}

static bool info_sane(const struct bx_object_info *info, uint64_t size, const char *type) {
    int64_t now = bx_now_unix_s();
    bool ok =
        info->size == size && info->etag[0] != '\0' && strcmp(info->content_type, type) == 0 &&
        info->modified_unix_s > now - CLOCK_SLACK_S && info->modified_unix_s < now + CLOCK_SLACK_S;
    if (!ok) {
        printf("     info: size %" PRIu64 " (want %" PRIu64
               "), etag \"%s\", type \"%s\" (want %s), "
               "modified %" PRId64 " (now %" PRId64 ")\n",
               info->size, size, info->etag, info->content_type, type, info->modified_unix_s, now);
    }
    return ok;
}

static void test_open_errors(void) {
    static const char *const bad[] = {
        "nope:x",
        "no-scheme",
        "file:",
        "file://host/dir",
        "s3://",
        "s3://ab?region=us-east-1",
        "s3://Upper-Case?region=us-east-1",
        "s3://-dash-first?region=us-east-1",
        "s3://ok-bucket",
        "s3://ok-bucket?region=US_EAST",
        "s3://ok-bucket?region=us-east-1&endpoint=ftp://x",
        "s3://ok-bucket?region=us-east-1&bogus=1",
        "s3://ok-bucket?region=us-east-1&path_style=2",
        "s3://ok-bucket?region=us-east-1&endpoint=http://127.0.0.1:1&path_style=0",
    };
    int rejected = 0;
    for (size_t i = 0; i < BX_ARRAY_LEN(bad); i++) {
        struct bx_objects o;
        struct bx_error err = {0};
        enum bx_err e = bx_objects_open(bad[i], &o, &err);
        if (e != BX_OK && o.ops == NULL && err.message[0] != '\0') {
            rejected++;
        } else {
            printf("     %s: %s\n", bad[i], bx_err_name(e));
            bx_objects_close(&o);
        }
    }
    CHECK(rejected == (int)BX_ARRAY_LEN(bad), "malformed store URLs are refused with a message");

    /* without credentials an s3 store does not open (and says which variable is missing) */
    char *saved = getenv("AWS_ACCESS_KEY_ID") != NULL ? strdup(getenv("AWS_ACCESS_KEY_ID")) : NULL;
    unsetenv("AWS_ACCESS_KEY_ID");
    struct bx_objects o;
    struct bx_error err = {0};
    enum bx_err e = bx_objects_open("s3://ok-bucket?region=us-east-1", &o, &err);
    CHECK(e != BX_OK && strstr(err.message, "AWS_ACCESS_KEY_ID") != NULL,
          "an s3 store without AWS_ACCESS_KEY_ID is refused (%s)", err.message);
    if (saved != NULL) {
        setenv("AWS_ACCESS_KEY_ID", saved, 1);
        free(saved);
    }
}

static void test_round_trip(struct bx_objects *o) {
    char key[KEY_BUF_BYTES];
    make_key(key, "orders/0190a1b2-order.json");
    const char *json = "{\"order_id\":\"0190a1b2\",\"seats\":[\"A1\",\"A2\"]}";
    CHECK(put_str(o, key, json, "application/json") == BX_OK && holds(o, key, json, strlen(json)),
          "a JSON document round-trips");
    char *body = NULL;
    size_t len = 0;
    struct bx_object_info info;
    memset(&info, 0x5a, sizeof info);
    enum bx_err e = o->ops->get(o->ctx, key, 0, &body, &len, &info, NULL);
    CHECK(e == BX_OK && info_sane(&info, strlen(json), "application/json"),
          "get fills info: size, etag, content type, modification time");
    free(body);

    unsigned char binary[256];
    for (size_t i = 0; i < sizeof binary; i++) {
        binary[i] = (unsigned char)(255 - i); /* every byte value, NUL and 0xff among them */
    }
    make_key(key, "bytes.bin");
    e = o->ops->put(o->ctx, key, binary, sizeof binary, NULL, NULL);
    CHECK(e == BX_OK && holds(o, key, binary, sizeof binary), "all 256 byte values round-trip");
    e = o->ops->head(o->ctx, key, &info, NULL);
    CHECK(e == BX_OK && info_sane(&info, sizeof binary, "application/octet-stream"),
          "without a content type (and without a known extension) it is octet-stream");

    make_key(key, "empty");
    e = o->ops->put(o->ctx, key, NULL, 0, NULL, NULL);
    CHECK(e == BX_OK && holds(o, key, "", 0), "an empty object round-trips (%s)", bx_err_name(e));
    e = o->ops->head(o->ctx, key, &info, NULL);
    CHECK(e == BX_OK && info.size == 0, "and its head says size 0");

    make_key(key, "tickets/0190a1b2.pdf");
    static const char pdf[] = "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n%%EOF\n";
    e = o->ops->put(o->ctx, key, pdf, sizeof pdf - 1, "application/pdf", NULL);
    CHECK(e == BX_OK && o->ops->head(o->ctx, key, &info, NULL) == BX_OK &&
              info_sane(&info, sizeof pdf - 1, "application/pdf"),
          "a PDF round-trips as application/pdf");
    CHECK(o->ops->ping(o->ctx) == BX_OK, "ping answers");
}

static void test_overwrite_and_head(struct bx_objects *o) {
    char key[KEY_BUF_BYTES];
    make_key(key, "overwrite.json");
    struct bx_object_info before = {0}, after = {0};
    enum bx_err e = o->ops->head(o->ctx, key, &before, NULL);
    CHECK(e == BX_NOT_FOUND, "head of a missing key is not_found (%s)", bx_err_name(e));
    BX_ASSERT(put_str(o, key, "{\"v\":1}", "application/json") == BX_OK);
    BX_ASSERT(o->ops->head(o->ctx, key, &before, NULL) == BX_OK);
    const char *v2 = "{\"v\":2,\"longer\":true}";
    e = put_str(o, key, v2, "application/json");
    CHECK(e == BX_OK && holds(o, key, v2, strlen(v2)), "a put replaces the object");
    e = o->ops->head(o->ctx, key, &after, NULL);
    CHECK(e == BX_OK && info_sane(&after, strlen(v2), "application/json"),
          "head describes the new object");
    CHECK(strcmp(before.etag, after.etag) != 0, "and its etag changed (%s, %s)", before.etag,
          after.etag);
    e = o->ops->head(o->ctx, key, NULL, NULL);
    CHECK(e == BX_OK, "head with a NULL info is allowed");
}

static void test_missing_and_limits(struct bx_objects *o) {
    char key[KEY_BUF_BYTES];
    make_key(key, "missing/never-put.json");
    char *body = (char *)"untouched";
    size_t len = 7;
    struct bx_error err = {0};
    enum bx_err e = o->ops->get(o->ctx, key, 0, &body, &len, NULL, &err);
    CHECK(e == BX_NOT_FOUND && body == NULL && len == 0,
          "get of a missing key is not_found, with no body (%s)", bx_err_name(e));
    CHECK(err.code == BX_NOT_FOUND, "and err says so");
    CHECK(get_err(o, key) == BX_NOT_FOUND, "a NULL err is allowed");

    char *big = malloc(1000);
    BX_ASSERT(big != NULL);
    memset(big, 'x', 1000);
    make_key(key, "sized");
    BX_ASSERT(o->ops->put(o->ctx, key, big, 1000, NULL, NULL) == BX_OK);
    body = (char *)"untouched";
    e = o->ops->get(o->ctx, key, 999, &body, &len, NULL, &err);
    CHECK(e == BX_PAYLOAD_TOO_LARGE && body == NULL,
          "an object over max_bytes is payload_too_large (%s)", bx_err_name(e));
    e = o->ops->get(o->ctx, key, 1000, &body, &len, NULL, NULL);
    CHECK(e == BX_OK && len == 1000 && memcmp(body, big, 1000) == 0,
          "an object of exactly max_bytes is read");
    free(body);
    free(big);
}

static bool all_invalid(struct bx_objects *o, const char *key) {
    char *body = NULL;
    size_t len = 0;
    struct bx_object_info info;
    struct bx_error err = {0};
    enum bx_err put = o->ops->put(o->ctx, key, "x", 1, NULL, &err);
    bool ok = put == BX_INVALID_FIELD && strcmp(err.field, "key") == 0 &&
              o->ops->put_file(o->ctx, key, "/etc/hostname", NULL, NULL) == BX_INVALID_FIELD &&
              o->ops->get(o->ctx, key, 0, &body, &len, NULL, NULL) == BX_INVALID_FIELD &&
              o->ops->head(o->ctx, key, &info, NULL) == BX_INVALID_FIELD &&
              o->ops->del(o->ctx, key, NULL) == BX_INVALID_FIELD && !bx_object_key_valid(key);
    if (!ok) {
        printf("     key \"%.40s\" (%zu bytes): put %s\n", key != NULL ? key : "(null)",
               key != NULL ? strlen(key) : 0, bx_err_name(put));
    }
    free(body);
    return ok;
}

static void test_keys(struct bx_objects *o) {
    static const char *const bad[] = {
        "../x",        "/x",    "a//b",   ".",         "..",     "",       "a b",
        "x/",          "a/./b", "a/../b", "../../etc", ".tmp.1", "a/.tmp", "a/.hidden/b",
        "caf\xc3\xa9", "a\\b",  "a?b",    "a%2e",      "a\nb",   "a:b",    "~x",
    };
    int refused = 0;
    for (size_t i = 0; i < BX_ARRAY_LEN(bad); i++) {
        refused += all_invalid(o, bad[i]);
    }
    CHECK(refused == (int)BX_ARRAY_LEN(bad),
          "traversal, empty and dot segments, spaces and other bytes are invalid_field on every "
          "call (%d/%zu)",
          refused, BX_ARRAY_LEN(bad));
    CHECK(all_invalid(o, NULL), "a NULL key is invalid_field");

    /* the longest key: segments of the longest length, then what is left */
    char key[BX_OBJECT_KEY_MAX_BYTES + 2];
    size_t n = bx_strlcpy(key, prefix, sizeof key);
    memset(key + n, 'k', sizeof key - n);
    for (size_t i = n + BX_OBJECT_SEGMENT_MAX_BYTES; i < BX_OBJECT_KEY_MAX_BYTES;
         i += BX_OBJECT_SEGMENT_MAX_BYTES + 1) {
        key[i] = '/';
    }
    key[BX_OBJECT_KEY_MAX_BYTES] = '\0';
    BX_ASSERT(bx_object_key_valid(key));
    enum bx_err e = put_str(o, key, "longest", NULL);
    CHECK(e == BX_OK && holds(o, key, "longest", 7),
          "a key of BX_OBJECT_KEY_MAX_BYTES round-trips (%s)", bx_err_name(e));
    CHECK(o->ops->del(o->ctx, key, NULL) == BX_OK, "and can be deleted");
    key[BX_OBJECT_KEY_MAX_BYTES] = 'k';
    key[BX_OBJECT_KEY_MAX_BYTES + 1] = '\0';
    CHECK(all_invalid(o, key), "a key of BX_OBJECT_KEY_MAX_BYTES + 1 is invalid_field");
    char segment[KEY_BUF_BYTES];
    n = bx_strlcpy(segment, prefix, sizeof segment);
    memset(segment + n, 's', BX_OBJECT_SEGMENT_MAX_BYTES + 1);
    segment[n + BX_OBJECT_SEGMENT_MAX_BYTES + 1] = '\0';
    CHECK(all_invalid(o, segment), "a segment of BX_OBJECT_SEGMENT_MAX_BYTES + 1 is invalid_field");
    /* (as a directory's name: s3rver stores the last segment with a suffix, in a file name) */
    bx_strlcpy(segment + n + BX_OBJECT_SEGMENT_MAX_BYTES, "/leaf",
               sizeof segment - n - BX_OBJECT_SEGMENT_MAX_BYTES);
    CHECK(put_str(o, segment, "s", NULL) == BX_OK && holds(o, segment, "s", 1),
          "a segment of BX_OBJECT_SEGMENT_MAX_BYTES round-trips");

    /* deep keys: one segment per level, and the alphabet in full */
    char deep[KEY_BUF_BYTES];
    make_key(deep, "d/e/e/p/e/r/AZaz09._-/leaf.json");
    CHECK(put_str(o, deep, "{}", NULL) == BX_OK && holds(o, deep, "{}", 2),
          "a key of many segments and the whole alphabet round-trips");

    struct bx_object_list l;
    struct bx_error err = {0};
    static const char *const bad_prefixes[] = {"../", "/", "a//", ".x", "a/.", "a b"};
    int prefixes_refused = 0;
    for (size_t i = 0; i < BX_ARRAY_LEN(bad_prefixes); i++) {
        e = o->ops->list(o->ctx, bad_prefixes[i], NULL, 10, &l, &err);
        prefixes_refused += e == BX_INVALID_FIELD && strcmp(err.field, "prefix") == 0;
    }
    CHECK(prefixes_refused == (int)BX_ARRAY_LEN(bad_prefixes), "bad prefixes are invalid_field");
    CHECK(o->ops->list(o->ctx, prefix, NULL, 0, &l, NULL) == BX_INVALID_FIELD &&
              o->ops->list(o->ctx, prefix, NULL, BX_OBJECTS_LIST_MAX + 1, &l, NULL) ==
                  BX_INVALID_FIELD,
          "a limit of 0 or over BX_OBJECTS_LIST_MAX is invalid_field");
    CHECK(o->ops->list(o->ctx, prefix, "a b", 10, &l, NULL) == BX_INVALID_FIELD,
          "an after with other bytes is invalid_field");
    CHECK(o->ops->put(o->ctx, deep, "x", 1, "text/plain\r\nX-Evil: 1", NULL) == BX_INVALID_FIELD,
          "a content type with CR/LF is invalid_field");
}

/* Lists prefix in pages of `page` and checks the pages concatenate to want[0, n). */
static bool pages_are(struct bx_objects *o, const char *pfx, size_t page, const char *const *want,
                      size_t n) {
    char after[KEY_BUF_BYTES] = "";
    size_t got = 0;
    bool ok = true;
    for (int round = 0; round < 1000 && ok; round++) {
        struct bx_object_list l;
        struct bx_error err = {0};
        enum bx_err e = o->ops->list(o->ctx, pfx, got > 0 ? after : NULL, page, &l, &err);
        if (e != BX_OK) {
            printf("     list %s after %s: %s %s\n", pfx, after, bx_err_name(e), err.message);
            return false;
        }
        ok = l.n <= page;
        for (size_t i = 0; i < l.n && ok; i++, got++) {
            ok = got < n && strcmp(l.keys[i], want[got]) == 0;
            if (!ok) {
                printf("     list %s: key %zu is %s, want %s\n", pfx, got, l.keys[i],
                       got < n ? want[got] : "(none)");
            }
        }
        bool last = !l.truncated;
        bool expect_last = got == n;
        if (ok && last != expect_last) {
            printf("     list %s: truncated %d after %zu of %zu keys\n", pfx, l.truncated, got, n);
            ok = false;
        }
        if (l.n > 0) {
            bx_strlcpy(after, l.keys[l.n - 1], sizeof after);
        }
        bx_objects_list_free(&l);
        if (last) {
            break;
        }
    }
    return ok && got == n;
}

static int str_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_list(struct bx_objects *o) {
    char *keys[LIST_KEYS];
    char pfx[KEY_BUF_BYTES];
    make_key(pfx, "list/");
    int put_ok = 0;
    for (int i = 0; i < LIST_KEYS; i++) {
        keys[i] = malloc(KEY_BUF_BYTES);
        BX_ASSERT(keys[i] != NULL);
        /* put in an order other than the listing's; every 10th one a level deeper */
        int j = (i * 7) % LIST_KEYS;
        char name[64];
        snprintf(name, sizeof name, j % 10 == 0 ? "list/k-%03d/sub.json" : "list/k-%03d.json", j);
        make_key(keys[i], name);
        put_ok += put_str(o, keys[i], name, "application/json") == BX_OK;
    }
    CHECK(put_ok == LIST_KEYS, "%d objects put", LIST_KEYS);
    qsort(keys, LIST_KEYS, sizeof *keys, str_cmp);
    const char *const *want = (const char *const *)keys;
    CHECK(pages_are(o, pfx, LIST_PAGE, want, LIST_KEYS),
          "pages of %d list all %d keys in byte order, truncated until the last", LIST_PAGE,
          LIST_KEYS);
    CHECK(pages_are(o, pfx, LIST_KEYS, want, LIST_KEYS),
          "a limit of exactly %d lists them all, not truncated", LIST_KEYS);
    CHECK(pages_are(o, pfx, BX_OBJECTS_LIST_MAX, want, LIST_KEYS), "so does the largest limit");
    CHECK(pages_are(o, pfx, 7, want, LIST_KEYS), "and pages of 7");

    char sub[KEY_BUF_BYTES];
    make_key(sub, "list/k-1");
    size_t first = 0;
    while (strncmp(keys[first], sub, strlen(sub)) != 0) {
        first++;
    }
    CHECK(pages_are(o, sub, 30, want + first, 100), "a prefix inside names (k-1) lists its 100");
    make_key(sub, "list/k-120/");
    const char *deep[] = {NULL};
    char deep_key[KEY_BUF_BYTES];
    make_key(deep_key, "list/k-120/sub.json");
    deep[0] = deep_key;
    CHECK(pages_are(o, sub, 10, deep, 1), "a prefix of one subdirectory lists its key");
    make_key(sub, "list/none-");
    CHECK(pages_are(o, sub, 10, NULL, 0), "a prefix nothing has lists nothing, not truncated");

    struct bx_object_list l;
    char after[KEY_BUF_BYTES];
    make_key(after, "list/k-149.json");
    enum bx_err e = o->ops->list(o->ctx, pfx, after, 3, &l, NULL);
    CHECK(e == BX_OK && l.n == 3 && l.truncated && strcmp(l.keys[0], keys[150]) == 0 &&
              strcmp(l.keys[2], keys[152]) == 0,
          "after a key, the list goes on with the next one (%s)",
          e == BX_OK && l.n > 0 ? l.keys[0] : "");
    if (e == BX_OK) {
        bx_objects_list_free(&l);
    }
    make_key(after, "list/k-120");
    e = o->ops->list(o->ctx, pfx, after, 2, &l, NULL);
    CHECK(e == BX_OK && l.n == 2 && strcmp(l.keys[0], keys[120]) == 0,
          "after a name that is not a key but a directory's, the list enters it (%s)",
          e == BX_OK && l.n > 0 ? l.keys[0] : "");
    if (e == BX_OK) {
        bx_objects_list_free(&l);
    }
    make_key(after, "list/zzz");
    e = o->ops->list(o->ctx, pfx, after, 10, &l, NULL);
    CHECK(e == BX_OK && l.n == 0 && !l.truncated, "after the last key, nothing");
    if (e == BX_OK) {
        bx_objects_list_free(&l);
    }
    for (int i = 0; i < LIST_KEYS; i++) {
        free(keys[i]);
    }
}

/* Keys that sort differently by bytes than by segments or by file names: '-' '.' '/' '0' 'Z' '_'
 * around a shared start, a directory among files. */
static void test_list_order(struct bx_objects *o) {
    static const char *const names[] = {"ab0", "a_b", "ab/c", "a",   "ab.d",
                                        "a.b", "aZ",  "ab-c", "a-b", "a0"};
    char keys[BX_ARRAY_LEN(names)][KEY_BUF_BYTES];
    const char *want[BX_ARRAY_LEN(names)];
    int put_ok = 0;
    for (size_t i = 0; i < BX_ARRAY_LEN(names); i++) {
        char name[32];
        snprintf(name, sizeof name, "order/%s", names[i]);
        make_key(keys[i], name);
        want[i] = keys[i];
        put_ok += put_str(o, keys[i], names[i], NULL) == BX_OK;
    }
    BX_ASSERT(put_ok == (int)BX_ARRAY_LEN(names));
    qsort(want, BX_ARRAY_LEN(names), sizeof *want, str_cmp);
    char pfx[KEY_BUF_BYTES];
    make_key(pfx, "order/");
    CHECK(pages_are(o, pfx, 3, want, BX_ARRAY_LEN(names)),
          "keys around '-' '.' '/' '0' 'Z' '_' list in byte order (a, a-b, a.b, a0, aZ, a_b, "
          "ab-c, ab.d, ab/c, ab0)");
    make_key(pfx, "order/a");
    CHECK(pages_are(o, pfx, 4, want, BX_ARRAY_LEN(names)), "also under a partial prefix");
    make_key(pfx, "order/ab");
    CHECK(pages_are(o, pfx, 2, want + 6, 4), "and one that matches files and a directory");
}

static void test_delete(struct bx_objects *o) {
    char key[KEY_BUF_BYTES];
    make_key(key, "del/a/b/gone.json");
    BX_ASSERT(put_str(o, key, "{}", NULL) == BX_OK);
    enum bx_err e = o->ops->del(o->ctx, key, NULL);
    CHECK(e == BX_OK, "del of an object succeeds (%s)", bx_err_name(e));
    CHECK(get_err(o, key) == BX_NOT_FOUND && o->ops->head(o->ctx, key, NULL, NULL) == BX_NOT_FOUND,
          "then get and head are not_found");
    e = o->ops->del(o->ctx, key, NULL);
    CHECK(e == BX_OK, "del of an absent key succeeds too (%s)", bx_err_name(e));
    struct bx_object_list l;
    char pfx[KEY_BUF_BYTES];
    make_key(pfx, "del/");
    e = o->ops->list(o->ctx, pfx, NULL, 10, &l, NULL);
    CHECK(e == BX_OK && l.n == 0 && !l.truncated, "and list no longer shows it");
    if (e == BX_OK) {
        bx_objects_list_free(&l);
    }
    CHECK(put_str(o, key, "again", NULL) == BX_OK && holds(o, key, "again", 5),
          "a deleted key can be put again");
    BX_ASSERT(o->ops->del(o->ctx, key, NULL) == BX_OK);
}

static void test_put_file(struct bx_objects *o) {
    char path[] = "/tmp/bx-objects-big-XXXXXX";
    int fd = mkstemp(path);
    BX_ASSERT(fd >= 0);
    char *data = malloc(BIG_FILE_BYTES);
    BX_ASSERT(data != NULL);
    bx_random_bytes(data, BIG_FILE_BYTES);
    BX_ASSERT(write(fd, data, BIG_FILE_BYTES) == BIG_FILE_BYTES);
    close(fd);
    char key[KEY_BUF_BYTES];
    make_key(key, "big/20MiB.bin");
    struct bx_error err = {0};
    enum bx_err e = o->ops->put_file(o->ctx, key, path, NULL, &err);
    CHECK(e == BX_OK, "put_file of a 20 MiB file (%s %s)", bx_err_name(e), err.message);
    CHECK(holds(o, key, data, BIG_FILE_BYTES), "and get gives back the same 20 MiB");
    struct bx_object_info info;
    e = o->ops->head(o->ctx, key, &info, NULL);
    CHECK(e == BX_OK && info.size == BIG_FILE_BYTES, "head says 20 MiB");
    BX_ASSERT(o->ops->del(o->ctx, key, NULL) == BX_OK);

    make_key(key, "big/small.json");
    fd = open(path, O_WRONLY | O_TRUNC);
    BX_ASSERT(fd >= 0 && write(fd, "{\"a\":1}", 7) == 7);
    close(fd);
    e = o->ops->put_file(o->ctx, key, path, "application/json", NULL);
    CHECK(e == BX_OK && holds(o, key, "{\"a\":1}", 7), "put_file of a small file");
    fd = open(path, O_WRONLY | O_TRUNC);
    close(fd);
    e = o->ops->put_file(o->ctx, key, path, NULL, NULL);
    CHECK(e == BX_OK && holds(o, key, "", 0), "put_file of an empty file replaces it");
    unlink(path);
    e = o->ops->put_file(o->ctx, key, path, NULL, &err);
    CHECK(e == BX_INVALID_FIELD && strcmp(err.field, "path") == 0,
          "put_file of a missing file is invalid_field (%s)", bx_err_name(e));
    e = o->ops->put_file(o->ctx, key, "/tmp", NULL, NULL);
    CHECK(e == BX_INVALID_FIELD, "put_file of a directory is invalid_field");
    CHECK(holds(o, key, "", 0), "and the object is unchanged");
    free(data);
}

struct race {
    struct bx_objects *o;
    const char *key;
    const char *list_prefix;
    char **bodies;
    int id;
    atomic_int *writers_left;
    int errors;
    int reads;
    int torn;
};

static void *race_writer(void *arg) {
    struct race *r = arg;
    for (int i = 0; i < RACE_PUTS; i++) {
        struct bx_error err = {0};
        enum bx_err e =
            r->o->ops->put(r->o->ctx, r->key, r->bodies[r->id], RACE_BODY_BYTES, NULL, &err);
        if (e != BX_OK) {
            printf("     writer %d: %s %s\n", r->id, bx_err_name(e), err.message);
            r->errors++;
        }
    }
    atomic_fetch_sub(r->writers_left, 1);
    return NULL;
}

static void *race_reader(void *arg) {
    struct race *r = arg;
    for (int i = 0; i < RACE_READS_MAX && atomic_load(r->writers_left) > 0; i++) {
        char *body = NULL;
        size_t len = 0;
        struct bx_error err = {0};
        enum bx_err e = r->o->ops->get(r->o->ctx, r->key, 0, &body, &len, NULL, &err);
        if (e != BX_OK) {
            printf("     reader: %s %s\n", bx_err_name(e), err.message);
            r->errors++;
            continue;
        }
        unsigned id = len > 0 ? (unsigned char)body[0] : RACE_WRITERS;
        bool whole = len == RACE_BODY_BYTES && id < RACE_WRITERS &&
                     memcmp(body, r->bodies[id], RACE_BODY_BYTES) == 0;
        r->reads++;
        r->torn += !whole;
        free(body);
    }
    return NULL;
}

static void *race_lister(void *arg) {
    struct race *r = arg;
    for (int i = 0; i < RACE_READS_MAX && atomic_load(r->writers_left) > 0; i++) {
        struct bx_object_list l;
        enum bx_err e = r->o->ops->list(r->o->ctx, r->list_prefix, NULL, 10, &l, NULL);
        if (e != BX_OK) {
            r->errors++;
            continue;
        }
        r->reads++;
        r->torn += !(l.n == 1 && !l.truncated && strcmp(l.keys[0], r->key) == 0);
        bx_objects_list_free(&l);
    }
    return NULL;
}

static void test_atomic_puts(struct bx_objects *o) {
    char key[KEY_BUF_BYTES], pfx[KEY_BUF_BYTES];
    make_key(key, "race/one.bin");
    make_key(pfx, "race/");
    char *bodies[RACE_WRITERS];
    for (int i = 0; i < RACE_WRITERS; i++) {
        bodies[i] = malloc(RACE_BODY_BYTES);
        BX_ASSERT(bodies[i] != NULL);
        bx_random_bytes(bodies[i], RACE_BODY_BYTES);
        bodies[i][0] = (char)i; /* which body a read got */
    }
    BX_ASSERT(o->ops->put(o->ctx, key, bodies[0], RACE_BODY_BYTES, NULL, NULL) == BX_OK);
    atomic_int writers_left = RACE_WRITERS;
    struct race races[RACE_WRITERS + RACE_READERS + 1];
    pthread_t threads[RACE_WRITERS + RACE_READERS + 1];
    size_t n = 0;
    for (int i = 0; i < RACE_WRITERS + RACE_READERS + 1; i++) {
        races[i] = (struct race){.o = o,
                                 .key = key,
                                 .list_prefix = pfx,
                                 .bodies = bodies,
                                 .id = i,
                                 .writers_left = &writers_left};
        void *(*fn)(void *) = i < RACE_WRITERS                  ? race_writer
                              : i < RACE_WRITERS + RACE_READERS ? race_reader
                                                                : race_lister;
        BX_ASSERT(pthread_create(&threads[i], NULL, fn, &races[i]) == 0);
        n++;
    }
    int errors = 0, reads = 0, torn = 0, lists = 0, bad_lists = 0;
    for (size_t i = 0; i < n; i++) {
        pthread_join(threads[i], NULL);
        errors += races[i].errors;
        if (i >= RACE_WRITERS && i < RACE_WRITERS + RACE_READERS) {
            reads += races[i].reads;
            torn += races[i].torn;
        } else if (i == RACE_WRITERS + RACE_READERS) {
            lists += races[i].reads;
            bad_lists += races[i].torn;
        }
    }
    CHECK(errors == 0, "%d writers x %d puts of 1 MiB on one key, with readers, without errors",
          RACE_WRITERS, RACE_PUTS);
    CHECK(reads > 0 && torn == 0, "every one of %d concurrent reads is one whole body (%d torn)",
          reads, torn);
    CHECK(bad_lists == 0, "every one of %d concurrent lists shows exactly the one key", lists);
    char *body = NULL;
    size_t len = 0;
    enum bx_err e = o->ops->get(o->ctx, key, 0, &body, &len, NULL, NULL);
    bool whole = e == BX_OK && len == RACE_BODY_BYTES && (unsigned char)body[0] < RACE_WRITERS &&
                 memcmp(body, bodies[(unsigned char)body[0]], RACE_BODY_BYTES) == 0;
    CHECK(whole, "afterwards the object is one writer's whole body");
    free(body);
    for (int i = 0; i < RACE_WRITERS; i++) {
        free(bodies[i]);
    }
}

/* --child-put URL KEY: puts KEY, says so on stdout, then waits to be killed. */
static int child_put(const char *url, const char *key) {
    struct bx_objects o;
    struct bx_error err = {0};
    if (bx_objects_open(url, &o, &err) != BX_OK) {
        fprintf(stderr, "child: %s\n", err.message);
        return 1;
    }
    if (o.ops->put(o.ctx, key, "acknowledged", 12, NULL, &err) != BX_OK) {
        fprintf(stderr, "child: %s\n", err.message);
        return 1;
    }
    printf("ok\n");
    fflush(stdout);
    sleep(CHILD_LINGER_S); /* SIGKILLed long before; bounded should the parent be gone */
    return 0;
}

static void test_durability(struct bx_objects *o) {
    char key[KEY_BUF_BYTES];
    make_key(key, "durable/ack.txt");
    char buf[32];
    char *const child[] = {"/proc/self/exe", "--child-put", (char *)store_url, key, NULL};
    harness_first_line_then_kill(child, buf, sizeof buf, CHILD_WAIT_MS);
    CHECK(strcmp(buf, "ok\n") == 0, "another process acknowledged a put");
    CHECK(holds(o, key, "acknowledged", 12), "after it was SIGKILLed the object is there");
}

static void run_suite(void) {
    char id[37];
    bx_uuid7(id);
    snprintf(prefix, sizeof prefix, "objects-%s/", id);
    printf("# store %s, keys %s*\n", store_url, prefix);
    struct bx_objects o;
    struct bx_error err = {0};
    enum bx_err e = bx_objects_open(store_url, &o, &err);
    CHECK(e == BX_OK, "open %s (%s)", store_url, err.message);
    if (e != BX_OK) {
        return;
    }
    CHECK((bx_objects_file_root(&o) != NULL) == is_file,
          "bx_objects_file_root names a directory for file: only");
    test_open_errors();
    test_round_trip(&o);
    test_overwrite_and_head(&o);
    test_missing_and_limits(&o);
    test_keys(&o);
    test_list(&o);
    test_list_order(&o);
    test_delete(&o);
    test_put_file(&o);
    test_atomic_puts(&o);
    test_durability(&o);
    bx_objects_close(&o);
}

/* ---- the file backend's own checks ---- */

static int temp_files;

static int count_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    const char *name = path + ftw->base;
    temp_files += name[0] == '.' && ftw->level > 0;
    return 0;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void test_file_layout(const char *dir) {
    char url[URL_MAX_BYTES], path[PATH_MAX];
    snprintf(url, sizeof url, "file:%s/layout", dir);
    struct bx_objects o;
    struct bx_error err = {0};
    BX_ASSERT(bx_objects_open(url, &o, &err) == BX_OK);
    const char *root = bx_objects_file_root(&o);
    snprintf(path, sizeof path, "%s/layout", dir);
    CHECK(root != NULL && strcmp(root, path) == 0, "the root is the URL's directory (%s)",
          root != NULL ? root : "NULL");

    char longest_name[BX_OBJECT_SEGMENT_MAX_BYTES + 8] = "n/";
    memset(longest_name + 2, 'n', BX_OBJECT_SEGMENT_MAX_BYTES);
    longest_name[2 + BX_OBJECT_SEGMENT_MAX_BYTES] = '\0';
    CHECK(put_str(&o, longest_name, "n", NULL) == BX_OK && holds(&o, longest_name, "n", 1) &&
              o.ops->del(o.ctx, longest_name, NULL) == BX_OK,
          "a file name of BX_OBJECT_SEGMENT_MAX_BYTES (its temporary name is shorter)");
    BX_ASSERT(put_str(&o, "orders/o1.json", "{\"id\":\"o1\"}", "application/json") == BX_OK);
    snprintf(path, sizeof path, "%s/layout/orders/o1.json", dir);
    char buf[64] = "";
    int fd = open(path, O_RDONLY);
    ssize_t r = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0) {
        close(fd);
    }
    CHECK(r == 11 && memcmp(buf, "{\"id\":\"o1\"}", 11) == 0,
          "a key is the file DIR/KEY with exactly the bytes");

    /* names that are no key: ignored by list, as are temporary files of a put that died */
    snprintf(path, sizeof path, "%s/layout/orders/.tmp.deadbeef", dir);
    fd = open(path, O_WRONLY | O_CREAT, 0600);
    BX_ASSERT(fd >= 0 && write(fd, "half", 4) == 4);
    close(fd);
    snprintf(path, sizeof path, "%s/layout/orders/has space.json", dir);
    fd = open(path, O_WRONLY | O_CREAT, 0600);
    close(fd);
    snprintf(path, sizeof path, "%s/layout/orders/link.json", dir);
    BX_ASSERT(symlink("/etc/passwd", path) == 0);
    struct bx_object_list l;
    enum bx_err e = o.ops->list(o.ctx, "", NULL, 10, &l, NULL);
    CHECK(e == BX_OK && l.n == 1 && strcmp(l.keys[0], "orders/o1.json") == 0,
          "list skips temporary files, names no key can have and symlinks");
    if (e == BX_OK) {
        bx_objects_list_free(&l);
    }
    CHECK(get_err(&o, "orders/link.json") == BX_NOT_FOUND, "a symlink is not followed");

    /* "a" and "a/b" cannot both be objects in a directory tree */
    BX_ASSERT(put_str(&o, "c/a", "file", NULL) == BX_OK);
    e = o.ops->put(o.ctx, "c/a/b", "x", 1, NULL, &err);
    CHECK(e == BX_CONFLICT, "a key below an object is conflict (%s)", bx_err_name(e));
    BX_ASSERT(put_str(&o, "c/d/e", "file", NULL) == BX_OK);
    e = o.ops->put(o.ctx, "c/d", "x", 1, NULL, &err);
    CHECK(e == BX_CONFLICT, "a key that is a directory of others is conflict (%s)", bx_err_name(e));
    CHECK(get_err(&o, "c/a/b") == BX_NOT_FOUND && get_err(&o, "c/d") == BX_NOT_FOUND &&
              o.ops->del(o.ctx, "c/d", NULL) == BX_OK && holds(&o, "c/d/e", "file", 4),
          "get of either is not_found, del of the directory one deletes nothing");

    /* deleting the last key of a directory removes the emptied directories */
    BX_ASSERT(put_str(&o, "t/2026/11/x.pdf", "pdf", NULL) == BX_OK);
    BX_ASSERT(o.ops->del(o.ctx, "t/2026/11/x.pdf", NULL) == BX_OK);
    snprintf(path, sizeof path, "%s/layout/t", dir);
    struct stat st;
    CHECK(stat(path, &st) != 0 && errno == ENOENT, "emptied directories go with their last key");

    /* a relative directory is taken from the working directory, at open */
    char cwd[PATH_MAX];
    BX_ASSERT(getcwd(cwd, sizeof cwd) != NULL && chdir(dir) == 0);
    struct bx_objects rel;
    e = bx_objects_open("file:relative/store", &rel, &err);
    BX_ASSERT(chdir(cwd) == 0);
    snprintf(path, sizeof path, "%s/relative/store/k", dir);
    CHECK(e == BX_OK && put_str(&rel, "k", "v", NULL) == BX_OK && stat(path, &st) == 0 &&
              holds(&rel, "k", "v", 1),
          "file:relative/store is created under the working directory, used from anywhere");
    if (e == BX_OK) {
        bx_objects_close(&rel);
    }
    snprintf(url, sizeof url, "file://%s/absolute", dir);
    e = bx_objects_open(url, &rel, &err);
    CHECK(e == BX_OK, "file:///abs/dir is accepted (%s)", err.message);
    if (e == BX_OK) {
        bx_objects_close(&rel);
    }
    bx_objects_close(&o);

    snprintf(path, sizeof path, "%s/gone", dir);
    snprintf(url, sizeof url, "file:%s", path);
    BX_ASSERT(bx_objects_open(url, &o, &err) == BX_OK);
    BX_ASSERT(rmdir(path) == 0);
    CHECK(o.ops->ping(o.ctx) == BX_UNAVAILABLE, "ping of a removed directory is unavailable");
    bx_objects_close(&o);
}

static int run_file(void) {
    char dir[] = "/tmp/bx-objects-XXXXXX";
    BX_ASSERT(mkdtemp(dir) != NULL);
    char url[URL_MAX_BYTES], store[PATH_MAX];
    snprintf(store, sizeof store, "%s/store/nested", dir);
    snprintf(url, sizeof url, "file:%s", store);
    store_url = url;
    is_file = true;
    run_suite();
    temp_files = 0;
    nftw(store, count_entry, 16, FTW_PHYS);
    CHECK(temp_files == 0, "no temporary or hidden files are left in the store (%d)", temp_files);
    test_file_layout(dir);
    char outside[PATH_MAX];
    snprintf(outside, sizeof outside, "%s/store/x", dir);
    struct stat st;
    CHECK(stat(outside, &st) != 0, "no invalid key wrote outside the root");
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return harness_finish("conformance.objects.file");
}

/* ---- S3 through s3rver ---- */

/* Starts `NODE SCRIPT PORT DIR BUCKET` (it dies with the test) and waits until it accepts. */
static pid_t start_s3rver(const char *node, const char *script, const char *dir,
                          const char *log_path, uint16_t *port_out) {
    uint16_t port = harness_free_port();
    char port_s[8];
    snprintf(port_s, sizeof port_s, "%u", (unsigned)port);
    int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    BX_ASSERT(log_fd >= 0);
    pid_t pid = fork();
    BX_ASSERT(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
        dup2(log_fd, STDOUT_FILENO);
        dup2(log_fd, STDERR_FILENO);
        setenv("NODE_OPTIONS", "--openssl-legacy-provider", 1); /* s3rver's DES tokens */
        execlp(node, node, script, port_s, dir, S3RVER_BUCKET, S3RVER_REGION, (char *)NULL);
        fprintf(stderr, "cannot run %s: %s\n", node, strerror(errno));
        _exit(127);
    }
    close(log_fd);
    int64_t deadline = bx_now_mono_ms() + S3RVER_WAIT_MS;
    while (bx_now_mono_ms() < deadline) {
        if (harness_port_open(port)) {
            *port_out = port;
            return pid;
        }
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            return -1;
        }
        usleep(50 * 1000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

/* S3 only: a session token is sent and signed; a missing bucket, refused credentials and a
 * server that is gone are unavailable, promptly. */
static void test_s3_specific(uint16_t port) {
    char url[URL_MAX_BYTES], key[KEY_BUF_BYTES];
    struct bx_objects o;
    struct bx_error err = {0};
    make_key(key, "token/with-session.json");

    setenv("AWS_SESSION_TOKEN", "bx-test-session-token/+=", 1);
    snprintf(url, sizeof url,
             "s3://" S3RVER_BUCKET "?region=" S3RVER_REGION "&endpoint=http://127.0.0.1:%u/",
             (unsigned)port);
    BX_ASSERT(bx_objects_open(url, &o, &err) == BX_OK);
    unsetenv("AWS_SESSION_TOKEN");
    struct bx_object_list l = {0};
    enum bx_err e = put_str(&o, key, "{}", NULL);
    CHECK(e == BX_OK && holds(&o, key, "{}", 2) &&
              o.ops->list(o.ctx, prefix, NULL, 1, &l, NULL) == BX_OK,
          "with AWS_SESSION_TOKEN, requests carry a signed x-amz-security-token");
    if (l.keys != NULL) {
        bx_objects_list_free(&l);
    }
    bx_objects_close(&o);

    snprintf(url, sizeof url,
             "s3://no-such-bucket?region=" S3RVER_REGION "&endpoint=http://127.0.0.1:%u",
             (unsigned)port);
    BX_ASSERT(bx_objects_open(url, &o, &err) == BX_OK);
    CHECK(o.ops->ping(o.ctx) == BX_UNAVAILABLE, "ping of a missing bucket is unavailable");
    e = o.ops->get(o.ctx, "k", 0, &(char *){NULL}, &(size_t){0}, NULL, &err);
    CHECK(e == BX_UNAVAILABLE && strstr(err.message, "NoSuchBucket") != NULL,
          "get from a missing bucket is unavailable, not not_found (%s)", err.message);
    bx_objects_close(&o);

    snprintf(url, sizeof url,
             "s3://" S3RVER_BUCKET "?region=" S3RVER_REGION "&endpoint=http://127.0.0.1:%u",
             (unsigned)port);
    setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret", 1);
    BX_ASSERT(bx_objects_open(url, &o, &err) == BX_OK);
    setenv("AWS_SECRET_ACCESS_KEY", S3RVER_ACCESS_KEY, 1);
    e = o.ops->get(o.ctx, key, 0, &(char *){NULL}, &(size_t){0}, NULL, &err);
    CHECK(e == BX_UNAVAILABLE && strstr(err.message, "SignatureDoesNotMatch") != NULL,
          "a wrong secret is refused (403) and unavailable (%s)", err.message);
    CHECK(o.ops->ping(o.ctx) == BX_UNAVAILABLE, "and ping says so");
    bx_objects_close(&o);

    setenv("AWS_ACCESS_KEY_ID", "AKIDUNKNOWN", 1);
    BX_ASSERT(bx_objects_open(url, &o, &err) == BX_OK);
    setenv("AWS_ACCESS_KEY_ID", S3RVER_ACCESS_KEY, 1);
    e = o.ops->put(o.ctx, key, "x", 1, NULL, &err);
    CHECK(e == BX_UNAVAILABLE && strstr(err.message, "InvalidAccessKeyId") != NULL,
          "an unknown access key is unavailable (%s)", err.message);
    bx_objects_close(&o);

    snprintf(url, sizeof url,
             "s3://" S3RVER_BUCKET "?region=eu-west-3&endpoint=http://127.0.0.1:%u",
             (unsigned)port);
    BX_ASSERT(bx_objects_open(url, &o, &err) == BX_OK);
    e = o.ops->head(o.ctx, key, NULL, &err);
    CHECK(e == BX_UNAVAILABLE, "a request signed for another region is refused (%s)",
          bx_err_name(e));
    bx_objects_close(&o);

    uint16_t closed = harness_free_port(); /* nobody listens there */
    snprintf(url, sizeof url,
             "s3://" S3RVER_BUCKET "?region=" S3RVER_REGION "&endpoint=http://127.0.0.1:%u",
             (unsigned)closed);
    BX_ASSERT(bx_objects_open(url, &o, &err) == BX_OK);
    CHECK(o.ops->ping(o.ctx) == BX_UNAVAILABLE, "ping of a server that is gone is unavailable");
    CHECK(o.ops->put(o.ctx, key, "x", 1, NULL, NULL) == BX_UNAVAILABLE &&
              o.ops->get(o.ctx, key, 0, &(char *){NULL}, &(size_t){0}, NULL, NULL) ==
                  BX_UNAVAILABLE &&
              o.ops->del(o.ctx, key, NULL) == BX_UNAVAILABLE &&
              o.ops->list(o.ctx, "", NULL, 1, &l, NULL) == BX_UNAVAILABLE,
          "put, get, del and list on a server that is gone are unavailable");
    bx_objects_close(&o);
}

static int run_s3(const char *node, const char *script) {
    char dir[] = "/tmp/bx-objects-s3rver-XXXXXX";
    BX_ASSERT(mkdtemp(dir) != NULL);
    char log_path[] = "/tmp/bx-objects-s3rver-log-XXXXXX";
    int log_fd = mkstemp(log_path);
    BX_ASSERT(log_fd >= 0);
    close(log_fd);
    /* the emulator's dummy account, set only for it: never real credentials towards a test */
    setenv("AWS_ACCESS_KEY_ID", S3RVER_ACCESS_KEY, 1);
    setenv("AWS_SECRET_ACCESS_KEY", S3RVER_ACCESS_KEY, 1);
    unsetenv("AWS_SESSION_TOKEN");
    setenv("NO_PROXY", "127.0.0.1", 1);
    setenv("no_proxy", "127.0.0.1", 1);
    uint16_t port = 0;
    pid_t pid = start_s3rver(node, script, dir, log_path, &port);
    bool up = pid > 0;
    CHECK(up, "s3rver accepts on 127.0.0.1:%u (%s %s)", (unsigned)port, node, script);
    char url[URL_MAX_BYTES];
    snprintf(url, sizeof url,
             "s3://" S3RVER_BUCKET "?region=" S3RVER_REGION "&endpoint=http://127.0.0.1:%u",
             (unsigned)port);
    store_url = url;
    if (up) {
        run_suite();
        test_s3_specific(port);
        harness_stop(pid, SIGTERM, S3RVER_STOP_MS);
    }
    if (harness_failures > 0) {
        printf("# s3rver log:\n");
        harness_tail(log_path, 30);
    }
    unlink(log_path);
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return harness_finish("conformance.objects.s3");
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 4 && strcmp(argv[1], "--child-put") == 0) {
        return child_put(argv[2], argv[3]);
    }
    if (argc == 2 && strcmp(argv[1], "--file") == 0) {
        return run_file();
    }
    if (argc == 4 && strcmp(argv[1], "--s3") == 0) {
        return run_s3(argv[2], argv[3]);
    }
    if (argc == 2 && argv[1][0] != '-') {
        store_url = argv[1];
        is_file = strncmp(store_url, "file:", 5) == 0;
        run_suite();
        return harness_finish("conformance.objects");
    }
    fprintf(stderr, "usage: test_objects URL | --file | --s3 NODE SCRIPT\n");
    return 2;
}
