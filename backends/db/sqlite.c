// SPDX-License-Identifier: Apache-2.0
// The SQLite backend, "sqlite:PATH[?pool=N]": a pool of N (default 4) connections to one file in
// WAL mode with synchronous=FULL, so a commit that returned is on disk. One transaction owns a
// connection at a time (SQLITE_OPEN_NOMUTEX). Write transactions take this process's writer
// token, then BEGIN IMMEDIATE (SQLite's one write lock, busy_timeout across processes): writers
// serialise, no update is lost; reads are snapshots (BEGIN, WAL). Statements are prepared once per
// connection and cached by their SQL text ($N rewritten to ?N).
#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boxoffice/base.h"
#include "boxoffice/db.h"
#include "boxoffice/log.h"
#include "db/internal.h"

#define LITE_POOL_DEFAULT       4
#define LITE_BUSY_TIMEOUT_MS    5000
#define LITE_MIGRATE_WAIT_MS    60000 /* for another process's migrations to finish */
#define LITE_MIGRATE_PAUSE_US   50000
#define LITE_PATH_MAX_BYTES     1024
#define LITE_PARENT_DIR_MODE    0755
#define LITE_SQL_IN_MESSAGE_MAX 60 /* characters of a statement quoted in an error */
#define LITE_SCHEMA_MIGRATIONS                                                                     \
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "                  \
    "name TEXT NOT NULL, applied_at INTEGER NOT NULL)"

struct stmt_entry {
    uint64_t hash;
    char *sql; /* the caller's text (with $N), the cache key */
    sqlite3_stmt *stmt;
    uint64_t used; /* tick of the last use, for LRU eviction */
};

struct lite_db;
struct lite_conn;

struct lite_tx {
    struct bx_db_tx base; /* first: bx_db_exec dispatches through it */
    struct lite_db *db;
    struct lite_conn *conn;
    enum bx_db_tx_mode mode;
    bool failed; /* a statement failed: only rollback is allowed */
    bool active; /* between begin and commit/rollback */
};

struct lite_conn {
    sqlite3 *handle;
    int slot;
    struct stmt_entry cache[BX_DB_STMT_CACHE_MAX];
    size_t n_cache;
    uint64_t tick;
    struct lite_tx tx; /* the one transaction this connection can carry */
};

struct lite_db {
    char path[LITE_PATH_MAX_BYTES];
    struct bx_db_pool pool;   /* the connections */
    struct bx_db_pool writer; /* one slot: this process's write transaction */
    size_t n_conns;
    struct lite_conn *conns;
};

/* Maps a failed SQLite call to the interface's codes, with SQLite's message in err. */
static enum bx_err fail(sqlite3 *h, int rc, const char *sql, struct bx_error *err) {
    const char *msg = h != NULL ? sqlite3_errmsg(h) : sqlite3_errstr(rc);
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return bx_error_set(err, BX_RETRY, NULL, "sqlite: %s", msg);
    case SQLITE_CONSTRAINT:
        return bx_error_set(err, BX_CONFLICT, NULL, "%s", msg);
    default:
        bx_error("db sqlite: %s (%d) in \"%.*s\"", msg, rc, LITE_SQL_IN_MESSAGE_MAX,
                 sql != NULL ? sql : "");
        return bx_error_set(err, BX_INTERNAL, NULL, "sqlite: %s in \"%.*s\"", msg,
                            LITE_SQL_IN_MESSAGE_MAX, sql != NULL ? sql : "");
    }
}

/* mkdir -p of the directories above the database file. */
static int make_parent_dirs(const char *file) {
    char path[LITE_PATH_MAX_BYTES];
    if (bx_strlcpy(path, file, sizeof path) >= sizeof path) {
        return -1;
    }
    char *slash = strrchr(path, '/');
    if (slash == NULL || slash == path) {
        return 0;
    }
    *slash = '\0';
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0') {
            continue;
        }
        char saved = *p;
        *p = '\0';
        int rc = mkdir(path, LITE_PARENT_DIR_MODE);
        *p = saved;
        if (rc != 0 && errno != EEXIST) {
            return -1;
        }
        if (saved == '\0') {
            return 0;
        }
    }
}

static enum bx_err parse_url(const char *url, char path[static LITE_PATH_MAX_BYTES],
                             size_t *pool_out, struct bx_error *err) {
    BX_ASSERT(strncmp(url, "sqlite:", 7) == 0);
    char rest[BX_DB_URL_MAX_BYTES];
    *pool_out = LITE_POOL_DEFAULT;
    enum bx_err e = bx_db_url_pool(url, rest, sizeof rest, pool_out, err);
    if (e != BX_OK) {
        return e;
    }
    const char *p = rest + 7;
    if (strchr(p, '?') != NULL) {
        return bx_error_set(err, BX_BAD_REQUEST, NULL,
                            "database URL \"%.80s\": the only parameter is pool=N", url);
    }
    if (p[0] == '\0' || (p[0] == '/' && p[1] == '/') || strcmp(p, ":memory:") == 0 ||
        strncmp(p, "file:", 5) == 0) {
        return bx_error_set(err, BX_BAD_REQUEST, NULL,
                            "database URL \"%.80s\": want sqlite:PATH, a file (sqlite:var/x.db "
                            "or sqlite:/abs/x.db)",
                            url);
    }
    if (bx_strlcpy(path, p, LITE_PATH_MAX_BYTES) >= LITE_PATH_MAX_BYTES) {
        return bx_error_set(err, BX_BAD_REQUEST, NULL, "database URL: the path is too long");
    }
    return BX_OK;
}

/* Runs a statement without parameters to its end, discarding rows (PRAGMAs, migrations); len -1
 * for a NUL-terminated sql. */
static int run_plain(sqlite3 *h, const char *sql, int len) {
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(h, sql, len, &stmt, NULL);
    if (rc != SQLITE_OK || stmt == NULL) {
        return rc;
    }
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    }
    sqlite3_finalize(stmt);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Opens one connection with the pragmas every connection of ours runs under. */
static enum bx_err open_conn(const char *path, sqlite3 **out, struct bx_error *err) {
    *out = NULL;
    sqlite3 *h = NULL;
    int rc = sqlite3_open_v2(
        path, &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    enum bx_err e = BX_OK;
    if (rc != SQLITE_OK) {
        e = bx_error_set(err, BX_UNAVAILABLE, NULL, "sqlite: cannot open %.120s: %s", path,
                         h != NULL ? sqlite3_errmsg(h) : sqlite3_errstr(rc));
        goto out;
    }
    sqlite3_extended_result_codes(h, 1);
    sqlite3_busy_timeout(h, LITE_BUSY_TIMEOUT_MS);
    sqlite3_stmt *stmt = NULL;
    rc = sqlite3_prepare_v2(h, "PRAGMA journal_mode=WAL", -1, &stmt, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(stmt);
        const unsigned char *mode = rc == SQLITE_ROW ? sqlite3_column_text(stmt, 0) : NULL;
        if (rc == SQLITE_ROW && (mode == NULL || strcmp((const char *)mode, "wal") != 0)) {
            sqlite3_finalize(stmt);
            e = bx_error_set(err, BX_UNAVAILABLE, NULL, "sqlite: %.120s cannot use WAL mode", path);
            goto out;
        }
        rc = rc == SQLITE_ROW ? SQLITE_OK : rc;
        sqlite3_finalize(stmt);
    }
    /* temp_store in memory: a multi-row statement's journal would otherwise be a file made and
     * unlinked in every transaction */
    static const char *const pragmas[] = {"PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON",
                                          "PRAGMA temp_store=MEMORY"};
    for (size_t i = 0; i < BX_ARRAY_LEN(pragmas) && rc == SQLITE_OK; i++) {
        rc = run_plain(h, pragmas[i], -1);
    }
    if (rc != SQLITE_OK) {
        e = bx_error_set(err, BX_UNAVAILABLE, NULL, "sqlite: %.120s: %s", path, sqlite3_errmsg(h));
        goto out;
    }
    *out = h;
    h = NULL;
out:
    sqlite3_close_v2(h); /* NULL is a no-op */
    return e;
}

static void conn_close(struct lite_conn *c) {
    for (size_t i = 0; i < c->n_cache; i++) {
        sqlite3_finalize(c->cache[i].stmt);
        free(c->cache[i].sql);
    }
    c->n_cache = 0;
    sqlite3_close_v2(c->handle);
    c->handle = NULL;
}

static void lite_close(void *ctx) {
    struct lite_db *db = ctx;
    if (db == NULL) {
        return;
    }
    for (size_t i = 0; i < db->n_conns; i++) {
        BX_ASSERT(!db->conns[i].tx.active);
        conn_close(&db->conns[i]);
    }
    free(db->conns);
    bx_db_pool_fini(&db->pool);
    bx_db_pool_fini(&db->writer);
    free(db);
}

static enum bx_err lite_open(const char *url, void **ctx_out, struct bx_error *err) {
    BX_ASSERT(url != NULL && ctx_out != NULL && err != NULL);
    *ctx_out = NULL;
    if (!sqlite3_threadsafe()) { /* NOMUTEX connections still need a thread-safe library */
        return bx_error_set(err, BX_INTERNAL, NULL, "SQLite was built without thread safety");
    }
    struct lite_db *db = calloc(1, sizeof *db);
    if (db == NULL) {
        return bx_error_set(err, BX_INTERNAL, NULL, "out of memory");
    }
    enum bx_err e = parse_url(url, db->path, &db->n_conns, err);
    if (e != BX_OK) {
        free(db);
        return e;
    }
    if (make_parent_dirs(db->path) != 0) {
        e = bx_error_set(err, BX_UNAVAILABLE, NULL,
                         "sqlite: cannot create the directory of %.120s: %s", db->path,
                         strerror(errno));
        free(db);
        return e;
    }
    bx_db_pool_init(&db->pool, db->n_conns);
    bx_db_pool_init(&db->writer, 1);
    db->conns = calloc(db->n_conns, sizeof *db->conns);
    size_t n_open = 0;
    if (db->conns == NULL) {
        e = bx_error_set(err, BX_INTERNAL, NULL, "out of memory");
        goto out;
    }
    for (; n_open < db->n_conns; n_open++) {
        struct lite_conn *c = &db->conns[n_open];
        c->slot = (int)n_open;
        e = open_conn(db->path, &c->handle, err);
        if (e != BX_OK) {
            goto out;
        }
    }
    *ctx_out = db;
    db = NULL;
out:
    if (db != NULL) {
        db->n_conns = n_open;
        lite_close(db);
    }
    return e;
}

static struct lite_tx *lite_tx_of(struct bx_db_tx *t) {
    BX_ASSERT(t != NULL && t->ops == &bx_db_sqlite);
    struct lite_tx *tx = (struct lite_tx *)t;
    BX_ASSERT(tx->active && tx->conn != NULL && &tx->conn->tx == tx);
    return tx;
}

/* The connection's prepared statement for sql, prepared and cached on first use. */
static enum bx_err prepare(struct lite_conn *c, const char *sql, sqlite3_stmt **out,
                           struct bx_error *err) {
    *out = NULL;
    uint64_t h = bx_db_hash(sql);
    for (size_t i = 0; i < c->n_cache; i++) {
        if (c->cache[i].hash == h && strcmp(c->cache[i].sql, sql) == 0) {
            c->cache[i].used = ++c->tick;
            *out = c->cache[i].stmt;
            return BX_OK;
        }
    }
    size_t len = strlen(sql);
    if (len > BX_DB_SQL_MAX_BYTES) {
        return bx_error_set(err, BX_INTERNAL, NULL, "a statement of %zu bytes (max %d)", len,
                            BX_DB_SQL_MAX_BYTES);
    }
    char *key = malloc(len + 1);
    char *text = malloc(len + 1);
    sqlite3_stmt *stmt = NULL;
    enum bx_err e = BX_OK;
    if (key == NULL || text == NULL) {
        e = bx_error_set(err, BX_INTERNAL, NULL, "out of memory");
        goto out;
    }
    memcpy(key, sql, len + 1);
    memcpy(text, sql, len + 1);
    bx_db_rewrite_params(text);
    const char *tail = NULL;
    int rc =
        sqlite3_prepare_v3(c->handle, text, (int)len + 1, SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
    if (rc != SQLITE_OK) {
        e = fail(c->handle, rc, sql, err);
        goto out;
    }
    const char *more = NULL;
    size_t more_len = 0;
    if (stmt == NULL || (tail != NULL && bx_db_split_next(&tail, false, &more, &more_len))) {
        e = bx_error_set(err, BX_INTERNAL, NULL, "exec wants exactly one statement: \"%.*s\"",
                         LITE_SQL_IN_MESSAGE_MAX, sql);
        goto out;
    }
    size_t at = c->n_cache;
    if (at == BX_DB_STMT_CACHE_MAX) {
        at = 0;
        for (size_t i = 1; i < c->n_cache; i++) {
            at = c->cache[i].used < c->cache[at].used ? i : at;
        }
        sqlite3_finalize(c->cache[at].stmt);
        free(c->cache[at].sql);
    } else {
        c->n_cache++;
    }
    c->cache[at] = (struct stmt_entry){.hash = h, .sql = key, .stmt = stmt, .used = ++c->tick};
    *out = stmt;
    key = NULL;
    stmt = NULL;
out:
    sqlite3_finalize(stmt);
    free(key);
    free(text);
    return e;
}

/* Runs one cached statement without parameters or results (BEGIN, COMMIT, ROLLBACK). */
static enum bx_err simple(struct lite_conn *c, const char *sql, struct bx_error *err) {
    sqlite3_stmt *stmt = NULL;
    enum bx_err e = prepare(c, sql, &stmt, err);
    if (e != BX_OK) {
        return e;
    }
    int rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE) {
        e = fail(c->handle, rc, sql, err);
    }
    sqlite3_reset(stmt);
    return e;
}

/* Ends the transaction's hold on its connection (rolling back whatever is still open) and on
 * the writer token. */
static void release(struct lite_tx *tx) {
    struct lite_conn *c = tx->conn;
    if (!sqlite3_get_autocommit(c->handle)) {
        struct bx_error ignored = {0};
        if (simple(c, "ROLLBACK", &ignored) != BX_OK) {
            bx_error("db sqlite: rollback failed: %s", ignored.message);
        }
    }
    BX_ASSERT(sqlite3_get_autocommit(c->handle)); /* nothing of it stays open */
    bool writer = tx->mode == BX_DB_WRITE;
    struct lite_db *db = tx->db;
    tx->active = false;
    bx_db_pool_give(&db->pool, c->slot);
    if (writer) {
        bx_db_pool_give(&db->writer, 0);
    }
}

static enum bx_err lite_begin(void *ctx, enum bx_db_tx_mode mode, struct bx_db_tx **tx_out,
                              struct bx_error *err) {
    struct lite_db *db = ctx;
    BX_ASSERT(db != NULL && tx_out != NULL && err != NULL);
    BX_ASSERT(mode == BX_DB_READ || mode == BX_DB_WRITE || mode == BX_DB_WRITE_LOCKING);
    if (mode == BX_DB_WRITE_LOCKING) {
        mode = BX_DB_WRITE; /* one writer at a time already */
    }
    *tx_out = NULL;
    int64_t deadline = bx_now_mono_ms() + BX_DB_POOL_WAIT_MS;
    /* writers queue on this token instead of polling SQLite's lock with busy_timeout's sleeps */
    if (mode == BX_DB_WRITE && bx_db_pool_take(&db->writer, deadline) < 0) {
        return bx_error_set(err, BX_RETRY, NULL,
                            "sqlite: another write transaction held the lock for %d ms",
                            BX_DB_POOL_WAIT_MS);
    }
    int slot = bx_db_pool_take(&db->pool, deadline);
    if (slot < 0) {
        if (mode == BX_DB_WRITE) {
            bx_db_pool_give(&db->writer, 0);
        }
        return bx_error_set(err, BX_UNAVAILABLE, NULL,
                            "sqlite: no free connection within %d ms (pool of %zu)",
                            BX_DB_POOL_WAIT_MS, db->n_conns);
    }
    struct lite_conn *c = &db->conns[slot];
    BX_ASSERT(c->slot == slot && !c->tx.active && sqlite3_get_autocommit(c->handle));
    c->tx = (struct lite_tx){
        .base.ops = &bx_db_sqlite, .db = db, .conn = c, .mode = mode, .active = true};
    enum bx_err e = simple(c, mode == BX_DB_WRITE ? "BEGIN IMMEDIATE" : "BEGIN", err);
    if (e != BX_OK) {
        release(&c->tx);
        return e;
    }
    *tx_out = &c->tx.base;
    return BX_OK;
}

/* One result cell from column col of the current row. */
static enum bx_err read_cell(sqlite3_stmt *stmt, int col, struct bx_arena *arena,
                             struct bx_db_value *v, struct bx_error *err) {
    switch (sqlite3_column_type(stmt, col)) {
    case SQLITE_INTEGER:
        *v = BX_DB_I(sqlite3_column_int64(stmt, col));
        return BX_OK;
    case SQLITE_NULL:
        *v = BX_DB_NIL;
        return BX_OK;
    case SQLITE_TEXT:
    case SQLITE_FLOAT: { /* not in the dialect; a real reads as its text */
        const unsigned char *s = sqlite3_column_text(stmt, col);
        int n = sqlite3_column_bytes(stmt, col);
        char *copy = s != NULL ? bx_arena_strndup(arena, (const char *)s, (size_t)n) : NULL;
        if (copy == NULL) {
            return bx_error_set(err, BX_INTERNAL, NULL, "the result does not fit the arena");
        }
        *v = (struct bx_db_value){.type = BX_DB_TEXT, .s = copy};
        return BX_OK;
    }
    default:
        return bx_error_set(err, BX_INTERNAL, NULL,
                            "sqlite: column %d is a BLOB, not in the dialect", col);
    }
}

static enum bx_err lite_exec(struct bx_db_tx *t, const char *sql, const struct bx_db_value *params,
                             size_t n_params, struct bx_arena *arena, struct bx_db_rows *rows,
                             int64_t *changes_out, struct bx_error *err) {
    struct lite_tx *tx = lite_tx_of(t);
    struct lite_conn *c = tx->conn;
    if (changes_out != NULL) {
        *changes_out = 0;
    }
    if (rows != NULL) {
        *rows = (struct bx_db_rows){0};
    }
    if (tx->failed) {
        return bx_error_set(err, BX_INTERNAL, NULL,
                            "a statement of this transaction failed; it can only roll back");
    }
    sqlite3_stmt *stmt = NULL;
    enum bx_err e = BX_OK;
    if (n_params > BX_DB_PARAMS_MAX) {
        e = bx_error_set(err, BX_INTERNAL, NULL, "%zu parameters (max %d)", n_params,
                         BX_DB_PARAMS_MAX);
        goto out;
    }
    e = prepare(c, sql, &stmt, err);
    if (e != BX_OK) {
        goto out;
    }
    if (tx->mode == BX_DB_READ && !sqlite3_stmt_readonly(stmt)) {
        e = bx_error_set(err, BX_INTERNAL, NULL, "a write in a read transaction: \"%.*s\"",
                         LITE_SQL_IN_MESSAGE_MAX, sql);
        goto out;
    }
    if ((size_t)sqlite3_bind_parameter_count(stmt) != n_params) {
        e = bx_error_set(err, BX_INTERNAL, NULL, "\"%.*s\" takes %d parameters, %zu given",
                         LITE_SQL_IN_MESSAGE_MAX, sql, sqlite3_bind_parameter_count(stmt),
                         n_params);
        goto out;
    }
    for (size_t i = 0; i < n_params; i++) {
        int rc = SQLITE_OK, at = (int)i + 1;
        switch (params[i].type) {
        case BX_DB_INT:
            rc = sqlite3_bind_int64(stmt, at, params[i].i);
            break;
        case BX_DB_TEXT:
            BX_ASSERT(params[i].s != NULL);
            rc = sqlite3_bind_text(stmt, at, params[i].s, -1, SQLITE_STATIC);
            break;
        case BX_DB_NULL:
            rc = sqlite3_bind_null(stmt, at);
            break;
        default:
            BX_ASSERT(!"unknown bx_db_type");
        }
        if (rc != SQLITE_OK) {
            e = fail(c->handle, rc, sql, err);
            goto out;
        }
    }
    int64_t total_before = sqlite3_total_changes64(c->handle);
    struct bx_db_rows_builder b = {0};
    int n_cols = 0, rc = SQLITE_OK;
    bool started = false;
    while (e == BX_OK && ((rc = sqlite3_step(stmt)) == SQLITE_ROW || rc == SQLITE_DONE)) {
        if (!started) {
            /* the first step re-prepares a statement whose tables changed since ("SELECT *"
             * after another process added a column): only now is its shape known */
            started = true;
            n_cols = sqlite3_column_count(stmt);
            e = bx_db_rows_start(&b, arena, rows, (size_t)n_cols, err);
            for (int col = 0; col < n_cols && e == BX_OK; col++) {
                e = bx_db_rows_name(&b, (size_t)col, sqlite3_column_name(stmt, col), err);
            }
        }
        if (rc == SQLITE_DONE) {
            break;
        }
        struct bx_db_value *cells = NULL;
        if (e == BX_OK) {
            e = bx_db_rows_push(&b, &cells, err);
        }
        for (int col = 0; cells != NULL && col < n_cols && e == BX_OK; col++) {
            e = read_cell(stmt, col, arena, &cells[col], err);
        }
    }
    if (e == BX_OK && rc != SQLITE_DONE) {
        e = fail(c->handle, rc, sql, err);
    }
    if (e != BX_OK) {
        goto out;
    }
    bx_db_rows_finish(&b);
    /* sqlite3_changes64 keeps the count of the last INSERT/UPDATE/DELETE across other
     * statements; a statement that changed nothing leaves the total as it was */
    if (changes_out != NULL && sqlite3_total_changes64(c->handle) != total_before) {
        *changes_out = sqlite3_changes64(c->handle);
    }
out:
    if (stmt != NULL) {
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
    }
    if (e != BX_OK) {
        tx->failed = true;
        if (rows != NULL) {
            *rows = (struct bx_db_rows){0};
        }
    }
    return e;
}

static enum bx_err lite_commit(struct bx_db_tx *t, struct bx_error *err) {
    struct lite_tx *tx = lite_tx_of(t);
    enum bx_err e;
    if (tx->failed) {
        e = bx_error_set(err, BX_INTERNAL, NULL,
                         "a statement of this transaction failed; it was rolled back");
    } else {
        e = simple(tx->conn, "COMMIT", err);
    }
    release(tx); /* rolls back when the commit did not happen */
    return e;
}

static void lite_rollback(struct bx_db_tx *t) {
    release(lite_tx_of(t));
}

/* Applies migration m on connection h unless schema_migrations has it; h holds no transaction. */
static enum bx_err migrate_one(sqlite3 *h, const struct bx_db_migration *m, struct bx_error *err) {
    int64_t deadline = bx_now_mono_ms() + LITE_MIGRATE_WAIT_MS;
    int rc;
    /* busy_timeout waits 5 s; another process's migrations may take longer: bounded again */
    while (((rc = run_plain(h, "BEGIN IMMEDIATE", -1)) & 0xff) == SQLITE_BUSY &&
           bx_now_mono_ms() < deadline) {
        usleep(LITE_MIGRATE_PAUSE_US);
    }
    if (rc != SQLITE_OK) {
        return fail(h, rc, "BEGIN IMMEDIATE", err);
    }
    sqlite3_stmt *stmt = NULL;
    enum bx_err e = BX_OK;
    const char *what = LITE_SCHEMA_MIGRATIONS;
    rc = run_plain(h, what, -1);
    if (rc == SQLITE_OK) {
        what = "SELECT 1 FROM schema_migrations WHERE version = ?1";
        rc = sqlite3_prepare_v2(h, what, -1, &stmt, NULL);
    }
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(stmt, 1, m->version);
        rc = sqlite3_step(stmt);
        sqlite3_finalize(stmt);
        stmt = NULL;
        if (rc == SQLITE_ROW) {
            goto out; /* applied before: nothing to do */
        }
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    if (rc != SQLITE_OK) {
        e = fail(h, rc, what, err);
        goto out;
    }
    const char *cursor = m->sql, *s = NULL;
    size_t len = 0;
    for (int i = 1; bx_db_split_next(&cursor, false, &s, &len); i++) {
        rc = len <= BX_DB_SQL_MAX_BYTES ? run_plain(h, s, (int)len) : SQLITE_TOOBIG;
        if (rc != SQLITE_OK) {
            e = fail(h, rc, s, err);
            char detail[sizeof err->message];
            bx_strlcpy(detail, err->message, sizeof detail);
            bx_error_set(err, e, NULL, "migration %d (%s), statement %d: %s", m->version, m->name,
                         i, detail);
            goto out;
        }
    }
    what = "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)";
    rc = sqlite3_prepare_v2(h, what, -1, &stmt, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(stmt, 1, m->version);
        sqlite3_bind_text(stmt, 2, m->name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 3, bx_now_unix_s());
        rc = sqlite3_step(stmt);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
        sqlite3_finalize(stmt);
    }
    if (rc == SQLITE_OK) {
        what = "COMMIT";
        rc = run_plain(h, what, -1);
    }
    if (rc != SQLITE_OK) {
        e = fail(h, rc, what, err);
        goto out;
    }
    bx_info("db sqlite: applied migration %d (%s)", m->version, m->name);
out:
    if (!sqlite3_get_autocommit(h)) {
        run_plain(h, "ROLLBACK", -1);
    }
    return e;
}

static enum bx_err lite_migrate(void *ctx, const struct bx_db_migration *m, size_t n,
                                struct bx_error *err) {
    struct lite_db *db = ctx;
    BX_ASSERT(db != NULL && err != NULL);
    enum bx_err e = bx_db_check_migrations(m, n, err);
    if (e != BX_OK) {
        return e;
    }
    sqlite3 *h = NULL; /* a connection of its own: the pool's stay free for the service */
    e = open_conn(db->path, &h, err);
    for (size_t i = 0; i < n && e == BX_OK; i++) {
        e = migrate_one(h, &m[i], err);
    }
    sqlite3_close_v2(h);
    return e;
}

static enum bx_err lite_ping(void *ctx) {
    struct bx_db_tx *tx = NULL;
    struct bx_error err = {0};
    enum bx_err e = lite_begin(ctx, BX_DB_READ, &tx, &err);
    if (e != BX_OK) {
        return e;
    }
    e = lite_exec(tx, "SELECT 1", NULL, 0, NULL, NULL, NULL, &err);
    lite_rollback(tx);
    return e;
}

const struct bx_db_ops bx_db_sqlite = {
    .scheme = "sqlite",
    .open = lite_open,
    .close = lite_close,
    .begin = lite_begin,
    .exec = lite_exec,
    .commit = lite_commit,
    .rollback = lite_rollback,
    .migrate = lite_migrate,
    .ping = lite_ping,
};
