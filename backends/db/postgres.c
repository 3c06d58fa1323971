// SPDX-License-Identifier: Apache-2.0
// The PostgreSQL backend, "postgresql://user:pw@host:port/db?...&pool=N" (libpq): a pool of N
// (default 8) connections opened on first use, each with a statement timeout. Transactions are
// REPEATABLE READ (READ ONLY for reads): a write that would lose a concurrent update fails with
// SQLSTATE 40001 and becomes BX_RETRY. Statements are prepared once per connection, cached by SQL
// text and parameter types, and run in text format, one row at a time so the row cap bounds
// memory. A connection that broke is dropped at the end of its transaction, never reused in one.
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boxoffice/base.h"
#include "boxoffice/db.h"
#include "boxoffice/log.h"
#include "db/internal.h"

#define PG_POOL_DEFAULT       8
#define PG_CONNECT_TIMEOUT    "connect_timeout=5"
#define PG_STATEMENT_TIMEOUT  "SET statement_timeout = '10s'"
#define PG_MIGRATE_TIMEOUT    "SET LOCAL statement_timeout = '600s'"     /* lock wait + DDL */
#define PG_MIGRATION_LOCK     "SELECT pg_advisory_xact_lock(7261530146)" /* any constant */
#define PG_NAME_BYTES         32
#define PG_CANCEL_ERR_BYTES   256
#define PG_SQL_IN_MESSAGE_MAX 60
#define PG_BEGIN_WRITE        "BEGIN ISOLATION LEVEL REPEATABLE READ"
#define PG_BEGIN_LOCKING      "BEGIN ISOLATION LEVEL READ COMMITTED"
#define PG_BEGIN_READ         "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"
#define PG_SCHEMA_MIGRATIONS                                                                       \
    "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, "                   \
    "name TEXT NOT NULL, applied_at BIGINT NOT NULL)"

/* Type OIDs of the results we read as numbers (pg_type.h is not part of libpq-dev). */
#define OID_BOOL    16
#define OID_INT8    20
#define OID_INT2    21
#define OID_INT4    23
#define OID_NUMERIC 1700

struct pg_stmt {
    uint64_t hash;
    char *sql;                      /* the caller's text, the cache key with sig */
    char sig[BX_DB_PARAMS_MAX + 1]; /* a parameter type per char: i int8, t text, n null */
    char name[PG_NAME_BYTES];       /* "bx_<n>" on this connection */
    uint64_t used;                  /* tick of the last use, for LRU eviction */
};

struct pg_db;
struct pg_conn;

struct pg_tx {
    struct bx_db_tx base; /* first: bx_db_exec dispatches through it */
    struct pg_db *db;
    struct pg_conn *conn;
    enum bx_db_tx_mode mode;
    bool failed; /* a statement failed: only rollback is allowed */
    bool active; /* between begin and commit/rollback */
};

struct pg_conn {
    PGconn *pg;  /* NULL until first use and after it broke */
    bool broken; /* dropped when its transaction ends */
    int slot;
    struct pg_stmt cache[BX_DB_STMT_CACHE_MAX];
    size_t n_cache;
    uint64_t tick, names;
    struct pg_tx tx; /* the one transaction this connection can carry */
};

struct pg_db {
    char *conninfo; /* the URL without pool=, with a connect_timeout */
    struct bx_db_pool pool;
    size_t n_conns;
    struct pg_conn *conns;
};

static void ignore_notice(void *arg, const char *message) {
    (void)arg;
    (void)message; /* "relation ... already exists, skipping" and the like */
}

/* libpq's last error as one line (it ends its messages with a newline). */
static const char *conn_message(PGconn *pg, char *buf, size_t size) {
    bx_strlcpy(buf, pg != NULL ? PQerrorMessage(pg) : "out of memory", size);
    buf[strcspn(buf, "\r\n")] = '\0';
    return buf;
}

/* Maps a failed call to the interface's codes. res may be NULL (the call did not get that far). A
 * lost connection marks c broken; so does a stale cached plan (a migration changed a table), so
 * its prepared statements go with it. */
static enum bx_err fail(struct pg_conn *c, const PGresult *res, const char *sql,
                        struct bx_error *err) {
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char line[sizeof err->message];
    if (msg == NULL) {
        msg = conn_message(c->pg, line, sizeof line);
    }
    if (c->pg == NULL || PQstatus(c->pg) != CONNECTION_OK) {
        c->broken = true;
        return bx_error_set(err, BX_UNAVAILABLE, NULL, "postgresql: connection lost: %s", msg);
    }
    if (state == NULL) {
        state = "";
    }
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0) {
        return bx_error_set(err, BX_RETRY, NULL, "postgresql: %s", msg);
    }
    if (strncmp(state, "23", 2) == 0) {
        return bx_error_set(err, BX_CONFLICT, NULL, "%s", msg);
    }
    if (strcmp(state, "0A000") == 0 && strstr(msg, "cached plan") != NULL) {
        c->broken = true;
        return bx_error_set(err, BX_RETRY, NULL, "postgresql: %s", msg);
    }
    if (strncmp(state, "08", 2) == 0 || strncmp(state, "53", 2) == 0 ||
        strncmp(state, "57P", 3) == 0 || strcmp(state, "57014") == 0) {
        /* connection trouble, no resources, shutting down, statement timeout */
        c->broken = c->broken || strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0;
        return bx_error_set(err, BX_UNAVAILABLE, NULL, "postgresql: %s (%s)", msg, state);
    }
    bx_error("db postgresql: %s (%s) in \"%.*s\"", msg, state, PG_SQL_IN_MESSAGE_MAX,
             sql != NULL ? sql : "");
    return bx_error_set(err, BX_INTERNAL, NULL, "postgresql: %s (%s) in \"%.*s\"", msg, state,
                        PG_SQL_IN_MESSAGE_MAX, sql != NULL ? sql : "");
}

/* Closes the connection and forgets its prepared statements. */
static void conn_drop(struct pg_conn *c) {
    for (size_t i = 0; i < c->n_cache; i++) {
        free(c->cache[i].sql);
    }
    c->n_cache = 0;
    PQfinish(c->pg); /* NULL is a no-op */
    c->pg = NULL;
    c->broken = false;
}

static enum bx_err conn_connect(struct pg_db *db, struct pg_conn *c, struct bx_error *err) {
    conn_drop(c);
    char line[sizeof err->message];
    c->pg = PQconnectdb(db->conninfo);
    if (c->pg == NULL || PQstatus(c->pg) != CONNECTION_OK) {
        enum bx_err e = bx_error_set(err, BX_UNAVAILABLE, NULL, "postgresql: cannot connect: %s",
                                     conn_message(c->pg, line, sizeof line));
        conn_drop(c);
        return e;
    }
    PQsetNoticeProcessor(c->pg, ignore_notice, NULL);
    PGresult *res = PQexec(c->pg, PG_STATEMENT_TIMEOUT);
    enum bx_err e = BX_OK;
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        e = fail(c, res, PG_STATEMENT_TIMEOUT, err);
        conn_drop(c);
    }
    PQclear(res);
    return e;
}

/* Runs a statement without parameters (BEGIN, COMMIT, migrations); rows are discarded. */
static enum bx_err run(struct pg_conn *c, const char *sql, struct bx_error *err) {
    PGresult *res = PQexec(c->pg, sql);
    ExecStatusType st = PQresultStatus(res);
    enum bx_err e = BX_OK;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        e = fail(c, res, sql, err);
    }
    PQclear(res);
    return e;
}

static void pg_close(void *ctx) {
    struct pg_db *db = ctx;
    if (db == NULL) {
        return;
    }
    for (size_t i = 0; i < db->n_conns; i++) {
        BX_ASSERT(!db->conns[i].tx.active);
        conn_drop(&db->conns[i]);
    }
    free(db->conns);
    free(db->conninfo);
    bx_db_pool_fini(&db->pool);
    free(db);
}

/* True when the query part of url has a parameter called name. */
static bool has_param(const char *url, const char *name) {
    const char *q = strchr(url, '?');
    size_t n = strlen(name);
    while (q != NULL) {
        q++;
        if (strncmp(q, name, n) == 0 && q[n] == '=') {
            return true;
        }
        q = strchr(q, '&');
    }
    return false;
}

static enum bx_err pg_open(const char *url, void **ctx_out, struct bx_error *err) {
    BX_ASSERT(url != NULL && ctx_out != NULL && err != NULL);
    *ctx_out = NULL;
    if (strncmp(url, "postgresql://", 13) != 0 && strncmp(url, "postgres://", 11) != 0) {
        return bx_error_set(err, BX_BAD_REQUEST, NULL,
                            "database URL: want postgresql://user@host[:port]/db[?pool=N]");
    }
    if (!PQisthreadsafe()) {
        return bx_error_set(err, BX_INTERNAL, NULL, "libpq was built without thread safety");
    }
    size_t pool = PG_POOL_DEFAULT;
    char rest[BX_DB_URL_MAX_BYTES];
    enum bx_err e = bx_db_url_pool(url, rest, sizeof rest, &pool, err);
    if (e != BX_OK) {
        return e;
    }
    size_t n = strlen(rest) + sizeof "&" PG_CONNECT_TIMEOUT;
    struct pg_db *db = calloc(1, sizeof *db);
    char *conninfo = malloc(n);
    struct pg_conn *conns = calloc(pool, sizeof *conns);
    if (db == NULL || conninfo == NULL || conns == NULL) {
        free(db);
        free(conninfo);
        free(conns);
        return bx_error_set(err, BX_INTERNAL, NULL, "out of memory");
    }
    if (has_param(rest, "connect_timeout")) {
        snprintf(conninfo, n, "%s", rest);
    } else {
        snprintf(conninfo, n, "%s%c%s", rest, strchr(rest, '?') != NULL ? '&' : '?',
                 PG_CONNECT_TIMEOUT);
    }
    char *parse_err = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &parse_err);
    if (opts == NULL) {
        char line[sizeof err->message];
        bx_strlcpy(line, parse_err != NULL ? parse_err : "out of memory", sizeof line);
        line[strcspn(line, "\r\n")] = '\0';
        PQfreemem(parse_err);
        free(db);
        free(conninfo);
        free(conns);
        return bx_error_set(err, BX_BAD_REQUEST, NULL, "database URL: %s", line);
    }
    PQconninfoFree(opts);
    db->conninfo = conninfo;
    db->conns = conns;
    db->n_conns = pool;
    for (size_t i = 0; i < pool; i++) {
        conns[i].slot = (int)i;
    }
    bx_db_pool_init(&db->pool, pool);
    *ctx_out = db;
    return BX_OK;
}

static struct pg_tx *pg_tx_of(struct bx_db_tx *t) {
    BX_ASSERT(t != NULL && t->ops == &bx_db_postgres);
    struct pg_tx *tx = (struct pg_tx *)t;
    BX_ASSERT(tx->active && tx->conn != NULL && &tx->conn->tx == tx);
    return tx;
}

/* Ends the transaction's hold on its connection: rolls back what is still open, drops the
 * connection if it broke, and gives the slot back. */
static void release(struct pg_tx *tx) {
    struct pg_conn *c = tx->conn;
    if (!c->broken && c->pg != NULL && PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
        struct bx_error ignored = {0};
        if (run(c, "ROLLBACK", &ignored) != BX_OK) {
            c->broken = true;
        }
    }
    if (c->broken || c->pg == NULL || PQstatus(c->pg) != CONNECTION_OK ||
        PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
        conn_drop(c);
    }
    tx->active = false;
    bx_db_pool_give(&tx->db->pool, c->slot);
}

/* Takes a connection (bounded wait), connected and idle, and begins with begin_sql. */
static enum bx_err take(struct pg_db *db, enum bx_db_tx_mode mode, const char *begin_sql,
                        struct pg_tx **tx_out, struct bx_error *err) {
    *tx_out = NULL;
    int slot = bx_db_pool_take(&db->pool, bx_now_mono_ms() + BX_DB_POOL_WAIT_MS);
    if (slot < 0) {
        return bx_error_set(err, BX_UNAVAILABLE, NULL,
                            "postgresql: no free connection within %d ms (pool of %zu)",
                            BX_DB_POOL_WAIT_MS, db->n_conns);
    }
    struct pg_conn *c = &db->conns[slot];
    BX_ASSERT(c->slot == slot && !c->tx.active);
    c->tx = (struct pg_tx){
        .base.ops = &bx_db_postgres, .db = db, .conn = c, .mode = mode, .active = true};
    enum bx_err e = BX_OK;
    /* an idle connection may have died unnoticed (server restart): one fresh try, which is safe
     * since nothing of the transaction has happened yet */
    for (int attempt = 0; attempt < 2; attempt++) {
        bool fresh = false;
        if (c->pg == NULL || c->broken || PQstatus(c->pg) != CONNECTION_OK ||
            PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
            e = conn_connect(db, c, err);
            if (e != BX_OK) {
                break;
            }
            fresh = true;
        }
        e = run(c, begin_sql, err);
        if (e == BX_OK || fresh || !c->broken) {
            break;
        }
    }
    if (e != BX_OK) {
        release(&c->tx);
        return e;
    }
    *tx_out = &c->tx;
    return BX_OK;
}

static enum bx_err pg_begin(void *ctx, enum bx_db_tx_mode mode, struct bx_db_tx **tx_out,
                            struct bx_error *err) {
    struct pg_db *db = ctx;
    BX_ASSERT(db != NULL && tx_out != NULL && err != NULL);
    BX_ASSERT(mode == BX_DB_READ || mode == BX_DB_WRITE || mode == BX_DB_WRITE_LOCKING);
    struct pg_tx *tx = NULL;
    const char *begin = mode == BX_DB_WRITE           ? PG_BEGIN_WRITE
                        : mode == BX_DB_WRITE_LOCKING ? PG_BEGIN_LOCKING
                                                      : PG_BEGIN_READ;
    enum bx_err e = take(db, mode, begin, &tx, err);
    *tx_out = e == BX_OK ? &tx->base : NULL;
    return e;
}

/* The connection's prepared statement for sql with these parameter types, prepared on first
 * use; the oldest is deallocated when the cache is full. */
static enum bx_err prepare(struct pg_conn *c, const char *sql, const char *sig, const Oid *types,
                           size_t n_params, const char **name_out, struct bx_error *err) {
    uint64_t h = bx_db_hash(sql) ^ bx_db_hash(sig);
    for (size_t i = 0; i < c->n_cache; i++) {
        struct pg_stmt *s = &c->cache[i];
        if (s->hash == h && strcmp(s->sig, sig) == 0 && strcmp(s->sql, sql) == 0) {
            s->used = ++c->tick;
            *name_out = s->name;
            return BX_OK;
        }
    }
    size_t len = strlen(sql);
    if (len > BX_DB_SQL_MAX_BYTES) {
        return bx_error_set(err, BX_INTERNAL, NULL, "a statement of %zu bytes (max %d)", len,
                            BX_DB_SQL_MAX_BYTES);
    }
    size_t at = c->n_cache;
    if (at == BX_DB_STMT_CACHE_MAX) {
        at = 0;
        for (size_t i = 1; i < c->n_cache; i++) {
            at = c->cache[i].used < c->cache[at].used ? i : at;
        }
        char dealloc[sizeof "DEALLOCATE " + PG_NAME_BYTES];
        snprintf(dealloc, sizeof dealloc, "DEALLOCATE %s", c->cache[at].name);
        enum bx_err e = run(c, dealloc, err);
        if (e != BX_OK) {
            return e;
        }
        free(c->cache[at].sql);
        c->cache[at] = c->cache[--c->n_cache];
        at = c->n_cache;
    }
    struct pg_stmt s = {.hash = h};
    s.sql = malloc(len + 1);
    if (s.sql == NULL) {
        return bx_error_set(err, BX_INTERNAL, NULL, "out of memory");
    }
    memcpy(s.sql, sql, len + 1);
    bx_strlcpy(s.sig, sig, sizeof s.sig);
    snprintf(s.name, sizeof s.name, "bx_%" PRIu64, ++c->names);
    PGresult *res = PQprepare(c->pg, s.name, sql, (int)n_params, types);
    enum bx_err e = BX_OK;
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        e = fail(c, res, sql, err);
    } else {
        /* the server infers parameters past n_params: "$2" with one value given would fail only
         * at execution, as a protocol error */
        PQclear(res);
        res = PQdescribePrepared(c->pg, s.name);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            e = fail(c, res, sql, err);
        } else if ((size_t)PQnparams(res) != n_params) {
            e = bx_error_set(err, BX_INTERNAL, NULL, "\"%.*s\" takes %d parameters, %zu given",
                             PG_SQL_IN_MESSAGE_MAX, sql, PQnparams(res), n_params);
            char dealloc[sizeof "DEALLOCATE " + PG_NAME_BYTES];
            snprintf(dealloc, sizeof dealloc, "DEALLOCATE %s", s.name);
            struct bx_error ignored = {0};
            run(c, dealloc, &ignored);
        }
    }
    if (e != BX_OK) {
        free(s.sql);
    } else {
        s.used = ++c->tick;
        c->cache[at] = s;
        c->n_cache++;
        *name_out = c->cache[at].name;
    }
    PQclear(res);
    return e;
}

/* One result cell, read by the column's type. */
static enum bx_err read_cell(const PGresult *res, int col, struct bx_arena *arena,
                             struct bx_db_value *v, struct bx_error *err) {
    if (PQgetisnull(res, 0, col)) {
        *v = BX_DB_NIL;
        return BX_OK;
    }
    const char *s = PQgetvalue(res, 0, col);
    int64_t i = 0;
    switch (PQftype(res, col)) {
    case OID_INT2:
    case OID_INT4:
    case OID_INT8:
        if (bx_parse_i64(s, INT64_MIN, INT64_MAX, &i) != 0) {
            return bx_error_set(err, BX_INTERNAL, NULL, "postgresql: integer \"%.30s\"?", s);
        }
        *v = BX_DB_I(i);
        return BX_OK;
    case OID_BOOL: /* SQLite has none: a boolean expression there is 1 or 0 */
        *v = BX_DB_I(s[0] == 't' ? 1 : 0);
        return BX_OK;
    case OID_NUMERIC: /* sum() of a BIGINT column; a whole number reads as SQLite's would */
        if (bx_parse_i64(s, INT64_MIN, INT64_MAX, &i) == 0) {
            *v = BX_DB_I(i);
            return BX_OK;
        }
        break;
    default:
        break;
    }
    char *copy = bx_arena_strndup(arena, s, (size_t)PQgetlength(res, 0, col));
    if (copy == NULL) {
        return bx_error_set(err, BX_INTERNAL, NULL, "the result does not fit the arena");
    }
    *v = (struct bx_db_value){.type = BX_DB_TEXT, .s = copy};
    return BX_OK;
}

/* Rows changed by the command a final result reports ("UPDATE 3"); 0 for any other command. */
static int64_t changes_of(PGresult *res) {
    static const char *const dml[] = {"INSERT ", "UPDATE ", "DELETE ", "MERGE "};
    const char *status = PQcmdStatus(res);
    for (size_t i = 0; i < BX_ARRAY_LEN(dml); i++) {
        if (strncmp(status, dml[i], strlen(dml[i])) == 0) {
            int64_t n = 0;
            return bx_parse_i64(PQcmdTuples(res), 0, INT64_MAX, &n) == 0 ? n : 0;
        }
    }
    return 0;
}

/* Asks the server to stop the running statement (past the row cap); its results still drain. */
static void cancel(PGconn *pg) {
    PGcancel *cn = PQgetCancel(pg);
    char buf[PG_CANCEL_ERR_BYTES];
    if (cn != NULL) {
        PQcancel(cn, buf, (int)sizeof buf);
        PQfreeCancel(cn);
    }
}

static enum bx_err pg_exec(struct bx_db_tx *t, const char *sql, const struct bx_db_value *params,
                           size_t n_params, struct bx_arena *arena, struct bx_db_rows *rows,
                           int64_t *changes_out, struct bx_error *err) {
    struct pg_tx *tx = pg_tx_of(t);
    struct pg_conn *c = tx->conn;
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
    enum bx_err e = BX_OK;
    if (n_params > BX_DB_PARAMS_MAX) {
        e = bx_error_set(err, BX_INTERNAL, NULL, "%zu parameters (max %d)", n_params,
                         BX_DB_PARAMS_MAX);
        goto out;
    }
    char sig[BX_DB_PARAMS_MAX + 1];
    Oid types[BX_DB_PARAMS_MAX];
    char ints[BX_DB_PARAMS_MAX][BX_DB_INT_TEXT_BYTES];
    const char *values[BX_DB_PARAMS_MAX];
    for (size_t i = 0; i < n_params; i++) {
        switch (params[i].type) {
        case BX_DB_INT: /* int64 as decimal text, typed so that $1 + 1 stays 64-bit */
            sig[i] = 'i';
            types[i] = OID_INT8;
            snprintf(ints[i], sizeof ints[i], "%" PRId64, params[i].i);
            values[i] = ints[i];
            break;
        case BX_DB_TEXT: /* unknown: the server infers it from where it goes */
            BX_ASSERT(params[i].s != NULL);
            sig[i] = 't';
            types[i] = 0;
            values[i] = params[i].s;
            break;
        case BX_DB_NULL:
            sig[i] = 'n';
            types[i] = 0;
            values[i] = NULL;
            break;
        default:
            BX_ASSERT(!"unknown bx_db_type");
        }
    }
    sig[n_params] = '\0';
    const char *name = NULL;
    e = prepare(c, sql, sig, types, n_params, &name, err);
    if (e != BX_OK) {
        goto out;
    }
    if (!PQsendQueryPrepared(c->pg, name, (int)n_params, values, NULL, NULL, 0)) {
        e = fail(c, NULL, sql, err);
        goto out;
    }
    PQsetSingleRowMode(c->pg); /* rows arrive one by one: the cap bounds what is held */
    struct bx_db_rows_builder b = {0};
    bool started = false, cancelled = false;
    PGresult *res;
    while ((res = PQgetResult(c->pg)) != NULL) {
        ExecStatusType st = PQresultStatus(res);
        if ((st == PGRES_SINGLE_TUPLE || st == PGRES_TUPLES_OK) && !started && e == BX_OK) {
            started = true;
            int n_cols = PQnfields(res);
            e = bx_db_rows_start(&b, arena, rows, (size_t)n_cols, err);
            for (int col = 0; col < n_cols && e == BX_OK; col++) {
                e = bx_db_rows_name(&b, (size_t)col, PQfname(res, col), err);
            }
        }
        if (st == PGRES_SINGLE_TUPLE && e == BX_OK) {
            struct bx_db_value *cells = NULL;
            e = bx_db_rows_push(&b, &cells, err);
            for (int col = 0; cells != NULL && col < PQnfields(res) && e == BX_OK; col++) {
                e = read_cell(res, col, arena, &cells[col], err);
            }
        } else if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
            if (e == BX_OK && changes_out != NULL) {
                *changes_out = changes_of(res);
            }
        } else if (st != PGRES_SINGLE_TUPLE && e == BX_OK) {
            e = fail(c, res, sql, err);
        }
        if (e != BX_OK && !cancelled && st == PGRES_SINGLE_TUPLE) {
            cancel(c->pg); /* past the row cap or out of arena: stop the rest */
            cancelled = true;
        }
        PQclear(res);
    }
    if (e == BX_OK && PQstatus(c->pg) != CONNECTION_OK) {
        e = fail(c, NULL, sql, err);
    }
    if (e == BX_OK && started) {
        bx_db_rows_finish(&b);
    }
out:
    if (e != BX_OK) {
        tx->failed = true;
        if (rows != NULL) {
            *rows = (struct bx_db_rows){0};
        }
        if (changes_out != NULL) {
            *changes_out = 0;
        }
    }
    return e;
}

static enum bx_err pg_commit(struct bx_db_tx *t, struct bx_error *err) {
    struct pg_tx *tx = pg_tx_of(t);
    struct pg_conn *c = tx->conn;
    enum bx_err e = BX_OK;
    if (tx->failed) {
        e = bx_error_set(err, BX_INTERNAL, NULL,
                         "a statement of this transaction failed; it was rolled back");
    } else {
        PGresult *res = PQexec(c->pg, "COMMIT");
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            /* a lost connection here leaves the outcome unknown: BX_UNAVAILABLE */
            e = fail(c, res, "COMMIT", err);
        } else if (strcmp(PQcmdStatus(res), "COMMIT") != 0) {
            e = bx_error_set(err, BX_INTERNAL, NULL, "postgresql: COMMIT answered %s",
                             PQcmdStatus(res));
        }
        PQclear(res);
    }
    release(tx);
    return e;
}

static void pg_rollback(struct bx_db_tx *t) {
    release(pg_tx_of(t));
}

/* Applies migration m in its own transaction under the migrations' advisory lock. */
static enum bx_err migrate_one(struct pg_conn *c, const struct bx_db_migration *m,
                               struct bx_error *err) {
    /* READ COMMITTED, not a snapshot: after waiting for the lock, the next statement must see
     * what the migrator that held it committed */
    static const char *const prologue[] = {"BEGIN", PG_MIGRATE_TIMEOUT, PG_MIGRATION_LOCK,
                                           PG_SCHEMA_MIGRATIONS};
    enum bx_err e = BX_OK;
    for (size_t i = 0; i < BX_ARRAY_LEN(prologue) && e == BX_OK; i++) {
        e = run(c, prologue[i], err);
    }
    if (e != BX_OK) {
        return e;
    }
    char version[BX_DB_INT_TEXT_BYTES], now[BX_DB_INT_TEXT_BYTES];
    snprintf(version, sizeof version, "%d", m->version);
    snprintf(now, sizeof now, "%" PRId64, bx_now_unix_s());
    const char *const check[] = {version};
    const char *sql = "SELECT 1 FROM schema_migrations WHERE version = $1::bigint";
    PGresult *res = PQexecParams(c->pg, sql, 1, NULL, check, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        e = fail(c, res, sql, err);
    }
    bool applied = e == BX_OK && PQntuples(res) > 0;
    PQclear(res);
    if (e != BX_OK || applied) {
        struct bx_error ignored = {0};
        run(c, "ROLLBACK", &ignored);
        return e;
    }
    const char *cursor = m->sql_pg != NULL ? m->sql_pg : m->sql, *s = NULL;
    size_t len = 0;
    for (int i = 1; e == BX_OK && bx_db_split_next(&cursor, true, &s, &len); i++) {
        char *stmt = len <= BX_DB_SQL_MAX_BYTES ? malloc(len + 1) : NULL;
        if (stmt == NULL) {
            e = bx_error_set(err, BX_INTERNAL, NULL, "migration %d: statement %d is too big",
                             m->version, i);
            break;
        }
        memcpy(stmt, s, len);
        stmt[len] = '\0';
        e = run(c, stmt, err);
        free(stmt);
        if (e != BX_OK) {
            char detail[sizeof err->message];
            bx_strlcpy(detail, err->message, sizeof detail);
            bx_error_set(err, e, NULL, "migration %d (%s), statement %d: %s", m->version, m->name,
                         i, detail);
        }
    }
    if (e == BX_OK) {
        const char *const record[] = {version, m->name, now};
        sql = "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1::bigint, $2, "
              "$3::bigint)";
        res = PQexecParams(c->pg, sql, 3, NULL, record, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            e = fail(c, res, sql, err);
        }
        PQclear(res);
    }
    if (e == BX_OK) {
        e = run(c, "COMMIT", err);
    }
    if (e != BX_OK) {
        struct bx_error ignored = {0};
        if (c->pg != NULL && PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
            run(c, "ROLLBACK", &ignored);
        }
        return e;
    }
    bx_info("db postgresql: applied migration %d (%s)", m->version, m->name);
    return BX_OK;
}

static enum bx_err pg_migrate(void *ctx, const struct bx_db_migration *m, size_t n,
                              struct bx_error *err) {
    struct pg_db *db = ctx;
    BX_ASSERT(db != NULL && err != NULL);
    enum bx_err e = bx_db_check_migrations(m, n, err);
    if (e != BX_OK) {
        return e;
    }
    /* a pool connection, with an empty transaction to get one that is connected and idle */
    struct pg_tx *tx = NULL;
    e = take(db, BX_DB_WRITE, "SELECT 1", &tx, err);
    for (size_t i = 0; i < n && e == BX_OK; i++) {
        e = migrate_one(tx->conn, &m[i], err);
    }
    if (tx != NULL) {
        release(tx);
    }
    return e;
}

static enum bx_err pg_ping(void *ctx) {
    struct bx_db_tx *tx = NULL;
    struct bx_error err = {0};
    enum bx_err e = pg_begin(ctx, BX_DB_READ, &tx, &err);
    if (e != BX_OK) {
        return e;
    }
    e = pg_exec(tx, "SELECT 1", NULL, 0, NULL, NULL, NULL, &err);
    pg_rollback(tx);
    return e;
}

const struct bx_db_ops bx_db_postgres = {
    .scheme = "postgresql",
    .open = pg_open,
    .close = pg_close,
    .begin = pg_begin,
    .exec = pg_exec,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .migrate = pg_migrate,
    .ping = pg_ping,
};
