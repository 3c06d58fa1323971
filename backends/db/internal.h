// SPDX-License-Identifier: Apache-2.0
// What the SQL backends share and the public interface does not show: the header every backend's
// transaction starts with (so bx_db_exec can dispatch), the connection pool's bounded wait, the
// dialect helpers ($N → ?N for SQLite, splitting migration text on ';' outside quotes), the
// `pool=N` URL parameter, result rows built in the caller's arena, and retry backoff.
#ifndef BOXOFFICE_BACKENDS_DB_INTERNAL_H
#define BOXOFFICE_BACKENDS_DB_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boxoffice/arena.h"
#include "boxoffice/db.h"
#include "boxoffice/err.h"

#define BX_DB_POOL_WAIT_MS    5000 /* begin waits this long for a free connection */
#define BX_DB_POOL_MAX        64   /* connections of one open database (a bit per slot) */
#define BX_DB_STMT_CACHE_MAX  64   /* prepared statements kept per connection */
#define BX_DB_SQL_MAX_BYTES   (1024 * 1024)
#define BX_DB_URL_MAX_BYTES   1024
#define BX_DB_BACKOFF_BASE_MS 10   /* bx_db_run: full jitter in [0, base * 2^attempt) */
#define BX_DB_BACKOFF_MAX_MS  1000 /* and never more than this per pause */
#define BX_DB_INT_TEXT_BYTES  24   /* "-9223372036854775808" and its NUL */

/* The first member of every backend's transaction struct. */
struct bx_db_tx {
    const struct bx_db_ops *ops;
};

/* A fixed set of connection slots handed out one at a time, with a bounded wait. Slot i is busy
 * while bit i of busy is set. */
struct bx_db_pool {
    pthread_mutex_t lock;
    pthread_cond_t freed; /* CLOCK_MONOTONIC */
    size_t size;          /* 1 .. BX_DB_POOL_MAX */
    uint64_t busy;
};

void bx_db_pool_init(struct bx_db_pool *p, size_t size);
void bx_db_pool_fini(struct bx_db_pool *p);
/* A free slot's index, or -1 when none came free before deadline_ms (bx_now_mono_ms clock). */
int bx_db_pool_take(struct bx_db_pool *p, int64_t deadline_ms);
void bx_db_pool_give(struct bx_db_pool *p, int slot);

/* Rewrites every parameter $N of sql into ?N in place (same length), outside string literals,
 * quoted identifiers and comments: SQLite reads $N as a named parameter, numbered by first
 * appearance, which would bind "$2 ... $1" in the wrong order. */
void bx_db_rewrite_params(char *sql);

/* Iterates the statements of migration text split on ';' outside string literals, quoted
 * identifiers, comments and (when dollar_quotes, for PostgreSQL) $tag$...$tag$ bodies. *cursor
 * starts at the text and advances; returns true with the next statement in [*start, *start +
 * *len), leading and trailing blanks trimmed, skipping statements of only blanks and comments;
 * false at the end. */
bool bx_db_split_next(const char **cursor, bool dollar_quotes, const char **start, size_t *len);

/* Copies url into rest without its `pool=N` query parameter (1 <= N <= BX_DB_POOL_MAX; *pool_out
 * keeps its value when absent) and without a '?' left with nothing after it. */
enum bx_err bx_db_url_pool(const char *url, char *rest, size_t rest_size, size_t *pool_out,
                           struct bx_error *err);

/* Result rows grown in an arena: cells are row-major and contiguous, so a full array is copied
 * into one twice its size (the arena keeps the old one until it is reset). */
struct bx_db_rows_builder {
    struct bx_arena *arena;
    struct bx_db_rows *rows; /* NULL: the caller discards the results, only count them */
    size_t n_rows, n_cols, cap_rows;
    struct bx_db_value *cells;
};

/* Starts the result of a statement with n_cols columns (<= BX_DB_COLUMNS_MAX). */
enum bx_err bx_db_rows_start(struct bx_db_rows_builder *b, struct bx_arena *arena,
                             struct bx_db_rows *rows, size_t n_cols, struct bx_error *err);
/* Copies column c's name into the arena. */
enum bx_err bx_db_rows_name(struct bx_db_rows_builder *b, size_t c, const char *name,
                            struct bx_error *err);
/* Room for one more row: *cells_out gets its n_cols cells to fill (NULL when results are being
 * discarded). BX_LIMIT_EXCEEDED past BX_DB_ROWS_MAX rows, BX_INTERNAL when the arena is full. */
enum bx_err bx_db_rows_push(struct bx_db_rows_builder *b, struct bx_db_value **cells_out,
                            struct bx_error *err);
/* Publishes the rows into b->rows. */
void bx_db_rows_finish(struct bx_db_rows_builder *b);

/* FNV-1a of a NUL-terminated string, for statement caches. */
uint64_t bx_db_hash(const char *s);

/* Full-jitter pause before attempt number attempt (1, 2, ...) of a transaction. */
int64_t bx_db_backoff_ms(unsigned attempt);

/* BX_OK when a migration list is well-formed (versions >= 1 and strictly increasing, every name
 * and sql set); BX_INTERNAL with a message otherwise, a bug of the caller's. */
enum bx_err bx_db_check_migrations(const struct bx_db_migration *m, size_t n, struct bx_error *err);

#endif
