// SPDX-License-Identifier: Apache-2.0
// The SQL database interface shared by catalog and booking: a pool of connections, transactions,
// parameterised statements (prepared once per connection and cached), result rows in the caller's
// arena, and versioned migrations applied under a lock. Backends by URL scheme: SQLite (WAL) on a
// laptop ("sqlite:var/catalog.db"), PostgreSQL via libpq in production ("postgresql://...").
// SQL is written once in the common dialect both accept: parameters as $1..$N (rewritten to ?N
// for SQLite), INTEGER/BIGINT/TEXT columns, times as Unix seconds, RETURNING, ON CONFLICT.
// Invariants every backend keeps (tests/conformance/test_db.c on each of them):
//  - a transaction sees its own writes; nothing of it is visible to others before commit, and
//    all of it is after; a commit that returned BX_OK is durable (fsync);
//  - write transactions on the same rows serialise: a statement that would lose an update or
//    deadlocks fails with BX_RETRY (the caller reruns the whole transaction: bx_db_run);
//  - a unique or check constraint violation fails with BX_CONFLICT;
//  - a lost connection fails with BX_UNAVAILABLE and never leaves a transaction half-applied.
#ifndef BOXOFFICE_DB_H
#define BOXOFFICE_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boxoffice/arena.h"
#include "boxoffice/err.h"

#define BX_DB_PARAMS_MAX     32
#define BX_DB_COLUMNS_MAX    64
#define BX_DB_ROWS_MAX       10000 /* a statement returning more rows fails with BX_LIMIT_EXCEEDED */
#define BX_DB_RETRY_ATTEMPTS 8

enum bx_db_type { BX_DB_NULL, BX_DB_INT, BX_DB_TEXT };

struct bx_db_value {
    enum bx_db_type type;
    int64_t i;     /* BX_DB_INT */
    const char *s; /* BX_DB_TEXT: NUL-terminated (results: in the arena) */
};

#define BX_DB_I(v) ((struct bx_db_value){.type = BX_DB_INT, .i = (v)})
/* A text value, or SQL NULL for a NULL pointer (a function, so arrays may be passed too). */
static inline enum bx_db_type bx_db_text_type(const char *s) {
    return s != NULL ? BX_DB_TEXT : BX_DB_NULL;
}
#define BX_DB_S(v) ((struct bx_db_value){.type = bx_db_text_type(v), .s = (v)})
#define BX_DB_NIL  ((struct bx_db_value){.type = BX_DB_NULL})

struct bx_db_rows {
    size_t n_rows, n_cols;
    const char **names;        /* n_cols column names */
    struct bx_db_value *cells; /* row-major: row r, column c at cells[r * n_cols + c] */
};

static inline const struct bx_db_value *bx_db_cell(const struct bx_db_rows *rows, size_t r,
                                                   size_t c) {
    return &rows->cells[r * rows->n_cols + c];
}

enum bx_db_tx_mode {
    BX_DB_READ,  /* read-only snapshot */
    BX_DB_WRITE, /* takes the write lock up front on SQLite (BEGIN IMMEDIATE) */
    /* A write transaction for hot rows: on PostgreSQL READ COMMITTED, so a statement that waited
     * for a row lock proceeds on the row's latest version instead of failing with BX_RETRY; the
     * caller serialises itself with SELECT ... FOR UPDATE (PostgreSQL) and conditional UPDATEs.
     * On SQLite the same as BX_DB_WRITE (one writer at a time). */
    BX_DB_WRITE_LOCKING,
};

struct bx_db_tx; /* a transaction on one pooled connection */

struct bx_db_migration {
    int version;        /* 1, 2, 3 ... applied in order, each once */
    const char *name;   /* "create venues" */
    const char *sql;    /* statements separated by ';', the common dialect */
    const char *sql_pg; /* PostgreSQL text when it must differ (NULL: sql) */
};

struct bx_db_ops {
    const char *scheme; /* "sqlite", "postgresql" */
    /* url: "sqlite:PATH" or "postgresql://user:pw@host:port/db?pool=N" (pool default 8). */
    enum bx_err (*open)(const char *url, void **ctx_out, struct bx_error *err);
    void (*close)(void *ctx);
    /* Waits (bounded, BX_UNAVAILABLE after 5 s) for a free connection and begins. */
    enum bx_err (*begin)(void *ctx, enum bx_db_tx_mode mode, struct bx_db_tx **tx_out,
                         struct bx_error *err);
    /* Runs one statement. rows (NULL: discard results) are allocated in arena; *changes_out (may
     * be NULL) gets the number of rows inserted, updated or deleted. After an error the
     * transaction can only be rolled back. */
    enum bx_err (*exec)(struct bx_db_tx *tx, const char *sql, const struct bx_db_value *params,
                        size_t n_params, struct bx_arena *arena, struct bx_db_rows *rows,
                        int64_t *changes_out, struct bx_error *err);
    /* Ends the transaction whatever the outcome (after an error it has been rolled back; a
     * connection lost during the commit itself leaves the outcome unknown: BX_UNAVAILABLE). */
    enum bx_err (*commit)(struct bx_db_tx *tx, struct bx_error *err);
    /* Always succeeds from the caller's view; the connection goes back to the pool (or is
     * dropped if broken). */
    void (*rollback)(struct bx_db_tx *tx);
    /* Applies the migrations not yet recorded in table schema_migrations, each in its own
     * transaction, under a database-wide lock so that replicas starting together are safe. */
    enum bx_err (*migrate)(void *ctx, const struct bx_db_migration *m, size_t n,
                           struct bx_error *err);
    enum bx_err (*ping)(void *ctx);
};

extern const struct bx_db_ops bx_db_sqlite, bx_db_postgres;

struct bx_db {
    const struct bx_db_ops *ops;
    void *ctx;
};

enum bx_err bx_db_open(const char *url, struct bx_db *out, struct bx_error *err);
void bx_db_close(struct bx_db *db);

/* Runs fn in a transaction of the given mode, committing when it returns BX_OK and rolling back
 * otherwise; reruns the whole transaction (up to BX_DB_RETRY_ATTEMPTS, with jittered backoff)
 * when fn or the commit fails with BX_RETRY. fn must not have effects outside the transaction. */
typedef enum bx_err (*bx_db_tx_fn)(struct bx_db_tx *tx, void *arg, struct bx_error *err);
enum bx_err bx_db_run(struct bx_db *db, enum bx_db_tx_mode mode, bx_db_tx_fn fn, void *arg,
                      struct bx_error *err);

/* Convenience on an open transaction: tx remembers its ops. */
enum bx_err bx_db_exec(struct bx_db_tx *tx, const char *sql, const struct bx_db_value *params,
                       size_t n_params, struct bx_arena *arena, struct bx_db_rows *rows,
                       int64_t *changes_out, struct bx_error *err);

#endif
