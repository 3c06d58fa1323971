// SPDX-License-Identifier: Apache-2.0
// The LMDB key-value backend, "lmdb:DIR[?map_mb=N]". One environment per open store (MDB_NOTLS,
// so any thread may run any transaction); one write transaction per put or delete, and since
// LMDB serialises writers, a conditional put reads and writes under the same lock. Each value is
// stored as {version, expires_at_s} followed by its bytes. Commits are synced (no MDB_NOSYNC): a
// put that returned BX_OK survives kill -9 and power loss. Every put also sweeps a few expired
// items away, so expired sessions do not pile up in the file.
#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "boxoffice/base.h"
#include "boxoffice/kv.h"
#include "boxoffice/log.h"
#include "kv/internal.h"

#define LMDB_MAP_MB_DEFAULT  1024
#define LMDB_MAP_MB_MAX      (1024 * 1024) /* 1 TiB of address space */
#define LMDB_READERS_MAX     512           /* read transactions open at once */
#define LMDB_OPEN_MAX        16            /* environments open at once in one process */
#define LMDB_PATH_MAX_BYTES  1024
#define LMDB_SWEEP_PER_PUT   4 /* items looked at for expiry by each put */
#define LMDB_DIR_MODE        0700
#define LMDB_PARENT_DIR_MODE 0755
#define LMDB_FILE_MODE       0600
#define LMDB_BYTES_PER_MB    ((size_t)1024 * 1024)

/* What precedes the value bytes of every stored item. */
struct item_header {
    uint64_t version;     /* >= 1 */
    int64_t expires_at_s; /* 0: never */
};

struct store {
    MDB_env *env;
    MDB_dbi dbi;
    dev_t dev;
    ino_t ino;
    /* Where the next sweep starts; touched only inside write transactions, which LMDB runs one
     * at a time. */
    char sweep_key[BX_KV_KEY_MAX_BYTES];
    size_t sweep_key_len;
};

/* LMDB must not open the same environment twice in one process (closing one would drop the
 * other's locks), so open directories are remembered here. */
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    dev_t dev;
    ino_t ino;
} open_dirs[LMDB_OPEN_MAX];
static size_t n_open_dirs;

static bool claim_dir(dev_t dev, ino_t ino) {
    bool ok = true;
    pthread_mutex_lock(&open_lock);
    for (size_t i = 0; i < n_open_dirs; i++) {
        ok = ok && !(open_dirs[i].dev == dev && open_dirs[i].ino == ino);
    }
    ok = ok && n_open_dirs < LMDB_OPEN_MAX;
    if (ok) {
        open_dirs[n_open_dirs].dev = dev;
        open_dirs[n_open_dirs].ino = ino;
        n_open_dirs++;
    }
    pthread_mutex_unlock(&open_lock);
    return ok;
}

static void release_dir(dev_t dev, ino_t ino) {
    pthread_mutex_lock(&open_lock);
    for (size_t i = 0; i < n_open_dirs; i++) {
        if (open_dirs[i].dev == dev && open_dirs[i].ino == ino) {
            open_dirs[i] = open_dirs[n_open_dirs - 1];
            n_open_dirs--;
            break;
        }
    }
    pthread_mutex_unlock(&open_lock);
}

/* mkdir -p: parents LMDB_PARENT_DIR_MODE, the store's own directory LMDB_DIR_MODE. */
static int make_dirs(char *path) {
    for (char *p = path + 1; *p != '\0'; p++) {
        if (*p != '/') {
            continue;
        }
        *p = '\0';
        int rc = mkdir(path, LMDB_PARENT_DIR_MODE);
        *p = '/';
        if (rc != 0 && errno != EEXIST) {
            return -1;
        }
    }
    if (mkdir(path, LMDB_DIR_MODE) != 0 && errno != EEXIST) {
        return -1;
    }
    return 0;
}

/* Maps an LMDB failure to the interface's codes, logging what the caller cannot see. */
static enum bx_err fail(const char *what, int rc) {
    if (rc == MDB_MAP_FULL) {
        bx_error("kv lmdb: %s: the map is full; raise map_mb in the store URL", what);
        return BX_UNAVAILABLE;
    }
    if (rc == MDB_READERS_FULL) {
        bx_error("kv lmdb: %s: %s", what, mdb_strerror(rc));
        return BX_UNAVAILABLE;
    }
    bx_error("kv lmdb: %s: %s", what, mdb_strerror(rc));
    return BX_INTERNAL;
}

static enum bx_err parse_url(const char *url, char path[static LMDB_PATH_MAX_BYTES],
                             size_t *map_mb_out, struct bx_error *err) {
    BX_ASSERT(strncmp(url, "lmdb:", 5) == 0);
    const char *p = url + 5;
    size_t path_len = strcspn(p, "?");
    if (path_len == 0 || path_len >= LMDB_PATH_MAX_BYTES) {
        return bx_error_set(err, BX_BAD_REQUEST, NULL,
                            "store URL \"%.80s\": want lmdb:DIR with a directory path", url);
    }
    if (p[0] == '/' && p[1] == '/') {
        return bx_error_set(err, BX_BAD_REQUEST, NULL,
                            "store URL \"%.80s\": write lmdb:/abs/dir or lmdb:rel/dir", url);
    }
    memcpy(path, p, path_len);
    path[path_len] = '\0';
    for (size_t n = path_len; n > 1 && path[n - 1] == '/'; n--) {
        path[n - 1] = '\0';
    }
    *map_mb_out = LMDB_MAP_MB_DEFAULT;
    const char *q = p[path_len] == '?' ? p + path_len + 1 : p + path_len;
    char name[BX_KV_QUERY_NAME_MAX_BYTES], value[BX_KV_QUERY_VALUE_MAX_BYTES];
    int r;
    while ((r = bx_kv_query_next(&q, name, value)) == 1) {
        int64_t mb;
        if (strcmp(name, "map_mb") == 0 && bx_parse_i64(value, 1, LMDB_MAP_MB_MAX, &mb) == 0) {
            *map_mb_out = (size_t)mb;
        } else {
            return bx_error_set(
                err, BX_BAD_REQUEST, NULL,
                "store URL \"%.80s\": unknown or bad parameter \"%s\" (map_mb=1..%d)", url, name,
                LMDB_MAP_MB_MAX);
        }
    }
    if (r < 0) {
        return bx_error_set(err, BX_BAD_REQUEST, NULL, "store URL \"%.80s\": malformed query", url);
    }
    return BX_OK;
}

static enum bx_err lmdb_open(const char *url, void **ctx_out, struct bx_error *err) {
    BX_ASSERT(url != NULL && ctx_out != NULL && err != NULL);
    *ctx_out = NULL;
    char path[LMDB_PATH_MAX_BYTES];
    size_t map_mb = 0;
    enum bx_err e = parse_url(url, path, &map_mb, err);
    if (e != BX_OK) {
        return e;
    }
    struct stat st;
    if (make_dirs(path) != 0 || stat(path, &st) != 0) {
        return bx_error_set(err, BX_UNAVAILABLE, NULL, "store directory %.120s: %s", path,
                            strerror(errno));
    }
    if (!S_ISDIR(st.st_mode)) {
        return bx_error_set(err, BX_UNAVAILABLE, NULL, "store %.120s is not a directory", path);
    }
    if (!claim_dir(st.st_dev, st.st_ino)) {
        return bx_error_set(err, BX_BAD_REQUEST, NULL,
                            "store directory %.120s is already open in this process", path);
    }
    MDB_txn *txn = NULL;
    int rc = 0;
    struct store *s = calloc(1, sizeof *s);
    if (s == NULL) {
        release_dir(st.st_dev, st.st_ino);
        return bx_error_set(err, BX_INTERNAL, NULL, "out of memory");
    }
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    const char *step = "mdb_env_create";
    rc = mdb_env_create(&s->env);
    if (rc == 0) {
        step = "mdb_env_set_mapsize";
        rc = mdb_env_set_mapsize(s->env, map_mb * LMDB_BYTES_PER_MB);
    }
    if (rc == 0) {
        step = "mdb_env_set_maxreaders";
        rc = mdb_env_set_maxreaders(s->env, LMDB_READERS_MAX);
    }
    if (rc == 0) {
        step = "mdb_env_open";
        rc = mdb_env_open(s->env, path, MDB_NOTLS, LMDB_FILE_MODE);
    }
    if (rc == 0) {
        int dead = 0;
        step = "mdb_reader_check";
        rc = mdb_reader_check(s->env, &dead); /* slots left by processes that died */
    }
    if (rc == 0) {
        step = "mdb_txn_begin";
        rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    }
    if (rc == 0) {
        step = "mdb_dbi_open";
        rc = mdb_dbi_open(txn, NULL, 0, &s->dbi);
    }
    if (rc == 0) {
        step = "mdb_txn_commit";
        rc = mdb_txn_commit(txn);
        txn = NULL;
    }
    if (rc != 0) {
        e = bx_error_set(err, BX_UNAVAILABLE, NULL, "store %.120s: %s: %s", path, step,
                         mdb_strerror(rc));
        goto out;
    }
    *ctx_out = s;
    s = NULL;
    e = BX_OK;
out:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    if (s != NULL) {
        if (s->env != NULL) {
            mdb_env_close(s->env);
        }
        free(s);
        release_dir(st.st_dev, st.st_ino);
    }
    return e;
}

static void lmdb_close(void *ctx) {
    struct store *s = ctx;
    if (s == NULL) {
        return;
    }
    mdb_env_close(s->env);
    release_dir(s->dev, s->ino);
    free(s);
}

/* Reads the header of a stored item, checking the storage invariants on the way out. */
static struct item_header read_header(const MDB_val *data) {
    struct item_header h;
    BX_ASSERT(data->mv_size >= sizeof h);
    BX_ASSERT(data->mv_size - sizeof h <= BX_KV_VALUE_MAX_BYTES);
    memcpy(&h, data->mv_data, sizeof h);
    BX_ASSERT(h.version >= 1);
    BX_ASSERT(h.expires_at_s >= 0);
    return h;
}

/* Deletes up to LMDB_SWEEP_PER_PUT expired items, resuming where the last put left off. */
static int sweep(struct store *s, MDB_txn *txn, int64_t now_s) {
    MDB_cursor *cur = NULL;
    int rc = mdb_cursor_open(txn, s->dbi, &cur);
    if (rc != 0) {
        return rc;
    }
    MDB_val k = {.mv_size = s->sweep_key_len, .mv_data = s->sweep_key};
    MDB_val d;
    rc = mdb_cursor_get(cur, &k, &d, s->sweep_key_len > 0 ? MDB_SET_RANGE : MDB_FIRST);
    for (int i = 0; i < LMDB_SWEEP_PER_PUT && rc == 0; i++) {
        struct item_header h = read_header(&d);
        if (bx_kv_expired(h.expires_at_s, now_s)) {
            rc = mdb_cursor_del(cur, 0);
            if (rc != 0) {
                break;
            }
        }
        /* after a delete, MDB_NEXT yields the item that followed the deleted one */
        rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT);
    }
    if (rc == 0) {
        BX_ASSERT(k.mv_size <= sizeof s->sweep_key);
        memcpy(s->sweep_key, k.mv_data, k.mv_size);
        s->sweep_key_len = k.mv_size;
    } else if (rc == MDB_NOTFOUND) {
        s->sweep_key_len = 0; /* reached the end: start over next time */
        rc = 0;
    }
    mdb_cursor_close(cur);
    return rc;
}

static enum bx_err lmdb_get(void *ctx, const char *key, char **value_out, size_t *len_out,
                            uint64_t *version_out) {
    struct store *s = ctx;
    BX_ASSERT(s != NULL && value_out != NULL && len_out != NULL && version_out != NULL);
    *value_out = NULL;
    *len_out = 0;
    *version_out = 0;
    if (bx_kv_check_key(key) != BX_OK) {
        return BX_INVALID_FIELD;
    }
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0) {
        return fail("get: begin", rc);
    }
    enum bx_err e;
    MDB_val k = {.mv_size = strlen(key), .mv_data = (void *)key};
    MDB_val d;
    rc = mdb_get(txn, s->dbi, &k, &d);
    if (rc == MDB_NOTFOUND) {
        e = BX_NOT_FOUND;
        goto out;
    }
    if (rc != 0) {
        e = fail("get", rc);
        goto out;
    }
    struct item_header h = read_header(&d);
    if (bx_kv_expired(h.expires_at_s, bx_now_unix_s())) {
        e = BX_NOT_FOUND;
        goto out;
    }
    size_t len = d.mv_size - sizeof h;
    char *v = malloc(len + 1);
    if (v == NULL) {
        e = BX_INTERNAL;
        goto out;
    }
    memcpy(v, (const char *)d.mv_data + sizeof h, len);
    v[len] = '\0';
    *value_out = v;
    *len_out = len;
    *version_out = h.version;
    e = BX_OK;
out:
    mdb_txn_abort(txn);
    return e;
}

static enum bx_err lmdb_put(void *ctx, const char *key, const void *value, size_t len,
                            enum bx_kv_put_mode mode, uint64_t expected_version,
                            int64_t expires_at_s, uint64_t *version_out) {
    struct store *s = ctx;
    BX_ASSERT(s != NULL);
    if (version_out != NULL) {
        *version_out = 0;
    }
    if (bx_kv_check_put(key, value, len, mode, expires_at_s) != BX_OK) {
        return BX_INVALID_FIELD;
    }
    int64_t now_s = bx_now_unix_s();
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc != 0) {
        return fail("put: begin", rc);
    }
    enum bx_err e;
    rc = sweep(s, txn, now_s);
    if (rc != 0) {
        e = fail("put: sweep", rc);
        goto out;
    }
    MDB_val k = {.mv_size = strlen(key), .mv_data = (void *)key};
    MDB_val d;
    rc = mdb_get(txn, s->dbi, &k, &d);
    if (rc != 0 && rc != MDB_NOTFOUND) {
        e = fail("put: get", rc);
        goto out;
    }
    bool live = false;
    uint64_t version = 0;
    if (rc == 0) {
        struct item_header old = read_header(&d);
        live = !bx_kv_expired(old.expires_at_s, now_s);
        version = old.version;
    }
    if ((mode == BX_KV_PUT_IF_ABSENT && live) ||
        (mode == BX_KV_PUT_IF_VERSION && (!live || version != expected_version))) {
        e = BX_CONFLICT;
        goto out;
    }
    struct item_header h = {.version = live ? version + 1 : 1, .expires_at_s = expires_at_s};
    BX_ASSERT(h.version >= 1);
    d.mv_size = sizeof h + len;
    d.mv_data = NULL;
    rc = mdb_put(txn, s->dbi, &k, &d, MDB_RESERVE);
    if (rc != 0) {
        e = fail("put", rc);
        goto out;
    }
    memcpy(d.mv_data, &h, sizeof h);
    if (len > 0) {
        memcpy((char *)d.mv_data + sizeof h, value, len);
    }
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc != 0) {
        e = fail("put: commit", rc);
        goto out;
    }
    if (version_out != NULL) {
        *version_out = h.version;
    }
    e = BX_OK;
out:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    return e;
}

static enum bx_err lmdb_del(void *ctx, const char *key, uint64_t expected_version) {
    struct store *s = ctx;
    BX_ASSERT(s != NULL);
    if (bx_kv_check_key(key) != BX_OK) {
        return BX_INVALID_FIELD;
    }
    int64_t now_s = bx_now_unix_s();
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc != 0) {
        return fail("del: begin", rc);
    }
    enum bx_err e;
    MDB_val k = {.mv_size = strlen(key), .mv_data = (void *)key};
    MDB_val d;
    rc = mdb_get(txn, s->dbi, &k, &d);
    if (rc == MDB_NOTFOUND) {
        e = BX_NOT_FOUND;
        goto out;
    }
    if (rc != 0) {
        e = fail("del: get", rc);
        goto out;
    }
    struct item_header h = read_header(&d);
    if (bx_kv_expired(h.expires_at_s, now_s)) {
        e = BX_NOT_FOUND; /* left for the sweep; it reads as absent already */
        goto out;
    }
    if (expected_version != 0 && h.version != expected_version) {
        e = BX_CONFLICT;
        goto out;
    }
    rc = mdb_del(txn, s->dbi, &k, NULL);
    if (rc == 0) {
        rc = mdb_txn_commit(txn);
        txn = NULL;
    }
    e = rc == 0 ? BX_OK : fail("del", rc);
out:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    return e;
}

static enum bx_err lmdb_ping(void *ctx) {
    struct store *s = ctx;
    BX_ASSERT(s != NULL);
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0) {
        return fail("ping", rc);
    }
    mdb_txn_abort(txn);
    return BX_OK;
}

const struct bx_kv_ops bx_kv_lmdb = {
    .scheme = "lmdb",
    .open = lmdb_open,
    .close = lmdb_close,
    .get = lmdb_get,
    .put = lmdb_put,
    .del = lmdb_del,
    .ping = lmdb_ping,
};
