// SPDX-License-Identifier: Apache-2.0
// Opens a SQL database by its URL's scheme ("sqlite:...", "postgresql://...", "postgres://..."):
// the one table that names the backends. Runs transactions with bounded, jittered retries
// (bx_db_run) and dispatches statements through the transaction's own ops (bx_db_exec). Also
// what the backends share (db/internal.h): the pool's bounded wait, the dialect helpers, result
// rows in the caller's arena. Invariant: a pool slot is handed to one taker at a time.
#include "boxoffice/db.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "boxoffice/base.h"
#include "db/internal.h"

#define SCHEME_MAX_BYTES 16
#define ROWS_INITIAL_CAP 16
#define NS_PER_MS        1000000L
#define NS_PER_S         1000000000L
#define US_PER_MS        1000
#define FNV_OFFSET_BASIS 0xcbf29ce484222325ULL
#define FNV_PRIME        0x100000001b3ULL
#define POOL_PARAM_BYTES 8 /* "64" and room to spot a longer value */
#define ALL_SLOTS(size)  ((size) == 64 ? ~(uint64_t)0 : (((uint64_t)1 << (size)) - 1))

static const struct {
    const char *scheme;
    const struct bx_db_ops *ops;
} backends[] = {
    {"sqlite", &bx_db_sqlite},
    {"postgresql", &bx_db_postgres},
    {"postgres", &bx_db_postgres},
};

enum bx_err bx_db_open(const char *url, struct bx_db *out, struct bx_error *err) {
    BX_ASSERT(url != NULL && out != NULL && err != NULL);
    out->ops = NULL;
    out->ctx = NULL;
    size_t scheme_len = strcspn(url, ":");
    if (url[scheme_len] != ':' || scheme_len == 0 || scheme_len >= SCHEME_MAX_BYTES) {
        return bx_error_set(err, BX_BAD_REQUEST, NULL,
                            "database URL has no scheme (sqlite:PATH or postgresql://...)");
    }
    for (size_t i = 0; i < BX_ARRAY_LEN(backends); i++) {
        const char *scheme = backends[i].scheme;
        if (strlen(scheme) != scheme_len || strncmp(scheme, url, scheme_len) != 0) {
            continue;
        }
        const struct bx_db_ops *ops = backends[i].ops;
        void *ctx = NULL;
        enum bx_err e = ops->open(url, &ctx, err);
        if (e != BX_OK) {
            BX_ASSERT(ctx == NULL);
            return e;
        }
        BX_ASSERT(ctx != NULL);
        out->ops = ops;
        out->ctx = ctx;
        return BX_OK;
    }
    return bx_error_set(err, BX_BAD_REQUEST, NULL,
                        "unknown database scheme \"%.*s\" (sqlite, postgresql, postgres)",
                        (int)scheme_len, url);
}

void bx_db_close(struct bx_db *db) {
    if (db == NULL || db->ops == NULL) {
        return;
    }
    db->ops->close(db->ctx);
    db->ops = NULL;
    db->ctx = NULL;
}

enum bx_err bx_db_run(struct bx_db *db, enum bx_db_tx_mode mode, bx_db_tx_fn fn, void *arg,
                      struct bx_error *err) {
    BX_ASSERT(db != NULL && db->ops != NULL && fn != NULL && err != NULL);
    enum bx_err e = BX_RETRY;
    for (unsigned attempt = 0; attempt < BX_DB_RETRY_ATTEMPTS; attempt++) {
        if (attempt > 0) {
            usleep((useconds_t)(bx_db_backoff_ms(attempt) * US_PER_MS));
        }
        struct bx_db_tx *tx = NULL;
        e = db->ops->begin(db->ctx, mode, &tx, err);
        if (e == BX_OK) {
            BX_ASSERT(tx != NULL && tx->ops == db->ops);
            e = fn(tx, arg, err);
            if (e == BX_OK) {
                e = db->ops->commit(tx, err); /* ends the transaction either way */
            } else {
                db->ops->rollback(tx);
            }
        }
        if (e != BX_RETRY) {
            return e;
        }
    }
    char last[sizeof err->message];
    bx_strlcpy(last, err->message, sizeof last);
    return bx_error_set(err, BX_RETRY, NULL, "gave up after %d attempts: %s", BX_DB_RETRY_ATTEMPTS,
                        last);
}

enum bx_err bx_db_exec(struct bx_db_tx *tx, const char *sql, const struct bx_db_value *params,
                       size_t n_params, struct bx_arena *arena, struct bx_db_rows *rows,
                       int64_t *changes_out, struct bx_error *err) {
    BX_ASSERT(tx != NULL && tx->ops != NULL && sql != NULL && err != NULL);
    BX_ASSERT(params != NULL || n_params == 0);
    BX_ASSERT(rows == NULL || arena != NULL);
    return tx->ops->exec(tx, sql, params, n_params, arena, rows, changes_out, err);
}

void bx_db_pool_init(struct bx_db_pool *p, size_t size) {
    BX_ASSERT(size >= 1 && size <= BX_DB_POOL_MAX);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&p->freed, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&p->lock, NULL);
    p->size = size;
    p->busy = 0;
}

void bx_db_pool_fini(struct bx_db_pool *p) {
    BX_ASSERT(p->busy == 0); /* every transaction ended before close */
    pthread_cond_destroy(&p->freed);
    pthread_mutex_destroy(&p->lock);
}

int bx_db_pool_take(struct bx_db_pool *p, int64_t deadline_ms) {
    int slot = -1;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        uint64_t free_slots = ~p->busy & ALL_SLOTS(p->size);
        if (free_slots != 0) {
            slot = __builtin_ctzll(free_slots); /* the lowest: few connections stay warm */
            p->busy |= (uint64_t)1 << slot;
            break;
        }
        int64_t left_ms = deadline_ms - bx_now_mono_ms();
        if (left_ms <= 0) {
            break;
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += (time_t)(left_ms / 1000);
        ts.tv_nsec += (long)(left_ms % 1000) * NS_PER_MS;
        if (ts.tv_nsec >= NS_PER_S) {
            ts.tv_sec++;
            ts.tv_nsec -= NS_PER_S;
        }
        pthread_cond_timedwait(&p->freed, &p->lock, &ts);
    }
    pthread_mutex_unlock(&p->lock);
    BX_ASSERT(slot < (int)p->size);
    return slot;
}

void bx_db_pool_give(struct bx_db_pool *p, int slot) {
    BX_ASSERT(slot >= 0 && (size_t)slot < p->size);
    pthread_mutex_lock(&p->lock);
    BX_ASSERT((p->busy & ((uint64_t)1 << slot)) != 0);
    p->busy &= ~((uint64_t)1 << slot);
    pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->lock);
}

static bool ident_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '$' || (unsigned char)c >= 0x80;
}

static bool digit(char c) {
    return c >= '0' && c <= '9';
}

/* Length of a dollar-quote tag at s ("$$" or "$name$"), 0 when s does not start one. */
static size_t dollar_tag_len(const char *s) {
    BX_ASSERT(s[0] == '$');
    size_t i = 1;
    if (digit(s[i])) {
        return 0; /* $1 is a parameter */
    }
    while (s[i] != '$' && s[i] != '\0' && ident_char(s[i])) {
        i++;
    }
    return s[i] == '$' ? i + 1 : 0;
}

/* When s + i starts a string literal, quoted identifier, comment or (with dollar_quotes) a
 * dollar-quoted body, the index just past its end (the end of the text when unterminated);
 * i otherwise. */
static size_t skip_quoted(const char *s, size_t i, bool dollar_quotes) {
    char c = s[i];
    if (c == '\'' || c == '"' || c == '`' || (c == '[' && !dollar_quotes)) {
        char close = c == '[' ? ']' : c;
        size_t j = i + 1;
        while (s[j] != '\0') {
            if (s[j] == close) {
                if (close != ']' && s[j + 1] == close) {
                    j += 2; /* '' inside '...' is one quote */
                    continue;
                }
                return j + 1;
            }
            j++;
        }
        return j;
    }
    if (c == '-' && s[i + 1] == '-') {
        size_t j = i + 2;
        while (s[j] != '\0' && s[j] != '\n') {
            j++;
        }
        return s[j] == '\n' ? j + 1 : j;
    }
    if (c == '/' && s[i + 1] == '*') {
        const char *end = strstr(s + i + 2, "*/");
        return end != NULL ? (size_t)(end - s) + 2 : i + 2 + strlen(s + i + 2);
    }
    if (c == '$' && dollar_quotes && (i == 0 || !ident_char(s[i - 1]))) {
        size_t tag = dollar_tag_len(s + i);
        if (tag == 0) {
            return i;
        }
        const char *body = s + i + tag;
        for (const char *p = strchr(body, '$'); p != NULL; p = strchr(p + 1, '$')) {
            if (strncmp(p, s + i, tag) == 0) {
                return (size_t)(p - s) + tag;
            }
        }
        return i + tag + strlen(body);
    }
    return i;
}

void bx_db_rewrite_params(char *sql) {
    BX_ASSERT(sql != NULL);
    size_t i = 0;
    while (sql[i] != '\0') {
        size_t next = skip_quoted(sql, i, false);
        if (next != i) {
            i = next;
            continue;
        }
        if (sql[i] == '$' && digit(sql[i + 1]) && (i == 0 || !ident_char(sql[i - 1]))) {
            sql[i] = '?';
        }
        i++;
    }
}

static bool blank(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool bx_db_split_next(const char **cursor, bool dollar_quotes, const char **start, size_t *len) {
    BX_ASSERT(cursor != NULL && *cursor != NULL && start != NULL && len != NULL);
    const char *s = *cursor;
    while (*s != '\0') {
        size_t i = 0;
        bool content = false; /* something other than blanks and comments */
        while (s[i] != '\0' && s[i] != ';') {
            size_t next = skip_quoted(s, i, dollar_quotes);
            bool comment = next != i && (s[i] == '-' || s[i] == '/');
            if (next != i) {
                content = content || !comment;
                i = next;
                continue;
            }
            content = content || !blank(s[i]);
            i++;
        }
        const char *b = s, *e = s + i;
        s = *e == ';' ? e + 1 : e;
        if (!content) {
            continue;
        }
        while (blank(*b)) {
            b++;
        }
        while (e > b && blank(e[-1])) {
            e--;
        }
        *cursor = s;
        *start = b;
        *len = (size_t)(e - b);
        return true;
    }
    *cursor = s;
    return false;
}

enum bx_err bx_db_url_pool(const char *url, char *rest, size_t rest_size, size_t *pool_out,
                           struct bx_error *err) {
    BX_ASSERT(url != NULL && rest != NULL && pool_out != NULL && err != NULL);
    size_t url_len = strlen(url);
    if (url_len >= rest_size || url_len >= BX_DB_URL_MAX_BYTES) {
        return bx_error_set(err, BX_BAD_REQUEST, NULL, "database URL is longer than %d bytes",
                            BX_DB_URL_MAX_BYTES - 1);
    }
    size_t base_len = strcspn(url, "?");
    memcpy(rest, url, base_len);
    size_t o = base_len;
    const char *p = url + base_len;
    if (*p == '?') {
        p++;
    }
    bool first = true;
    while (*p != '\0') {
        size_t n = strcspn(p, "&");
        size_t name_len = strcspn(p, "=&");
        if (name_len == 4 && strncmp(p, "pool", 4) == 0) {
            char value[POOL_PARAM_BYTES] = "";
            size_t value_len = p[4] == '=' ? n - 5 : 0;
            int64_t pool = 0;
            if (value_len == 0 || value_len >= sizeof value) {
                return bx_error_set(err, BX_BAD_REQUEST, NULL,
                                    "database URL: pool= wants a number of connections, 1..%d",
                                    BX_DB_POOL_MAX);
            }
            memcpy(value, p + 5, value_len);
            if (bx_parse_i64(value, 1, BX_DB_POOL_MAX, &pool) != 0) {
                return bx_error_set(err, BX_BAD_REQUEST, NULL,
                                    "database URL: pool= wants a number of connections, 1..%d",
                                    BX_DB_POOL_MAX);
            }
            *pool_out = (size_t)pool;
        } else if (n > 0) {
            rest[o++] = first ? '?' : '&';
            memcpy(rest + o, p, n);
            o += n;
            first = false;
        }
        p += n;
        if (*p == '&') {
            p++;
        }
    }
    BX_ASSERT(o <= url_len);
    rest[o] = '\0';
    return BX_OK;
}

enum bx_err bx_db_rows_start(struct bx_db_rows_builder *b, struct bx_arena *arena,
                             struct bx_db_rows *rows, size_t n_cols, struct bx_error *err) {
    *b = (struct bx_db_rows_builder){.arena = arena, .rows = rows, .n_cols = n_cols};
    if (n_cols > BX_DB_COLUMNS_MAX) {
        return bx_error_set(err, BX_INTERNAL, NULL, "a statement returned %zu columns (max %d)",
                            n_cols, BX_DB_COLUMNS_MAX);
    }
    if (rows == NULL) {
        return BX_OK;
    }
    BX_ASSERT(arena != NULL);
    *rows = (struct bx_db_rows){.n_cols = n_cols};
    if (n_cols > 0) {
        rows->names = bx_arena_zalloc(arena, n_cols * sizeof *rows->names);
        if (rows->names == NULL) {
            return bx_error_set(err, BX_INTERNAL, NULL, "the result does not fit the arena");
        }
    }
    return BX_OK;
}

enum bx_err bx_db_rows_name(struct bx_db_rows_builder *b, size_t c, const char *name,
                            struct bx_error *err) {
    BX_ASSERT(c < b->n_cols);
    if (b->rows == NULL) {
        return BX_OK;
    }
    b->rows->names[c] = bx_arena_strdup(b->arena, name != NULL ? name : "");
    if (b->rows->names[c] == NULL) {
        return bx_error_set(err, BX_INTERNAL, NULL, "the result does not fit the arena");
    }
    return BX_OK;
}

enum bx_err bx_db_rows_push(struct bx_db_rows_builder *b, struct bx_db_value **cells_out,
                            struct bx_error *err) {
    *cells_out = NULL;
    if (b->n_rows >= BX_DB_ROWS_MAX) {
        return bx_error_set(err, BX_LIMIT_EXCEEDED, NULL, "a statement returned more than %d rows",
                            BX_DB_ROWS_MAX);
    }
    if (b->rows == NULL || b->n_cols == 0) {
        b->n_rows++;
        return BX_OK;
    }
    if (b->n_rows == b->cap_rows) {
        size_t cap = b->cap_rows == 0 ? ROWS_INITIAL_CAP : b->cap_rows * 2;
        if (cap > BX_DB_ROWS_MAX) {
            cap = BX_DB_ROWS_MAX;
        }
        struct bx_db_value *cells = bx_arena_alloc(b->arena, cap * b->n_cols * sizeof *cells);
        if (cells == NULL) {
            return bx_error_set(err, BX_INTERNAL, NULL, "the result does not fit the arena");
        }
        if (b->n_rows > 0) {
            memcpy(cells, b->cells, b->n_rows * b->n_cols * sizeof *cells);
        }
        b->cells = cells;
        b->cap_rows = cap;
    }
    BX_ASSERT(b->n_rows < b->cap_rows);
    *cells_out = &b->cells[b->n_rows * b->n_cols];
    b->n_rows++;
    return BX_OK;
}

void bx_db_rows_finish(struct bx_db_rows_builder *b) {
    BX_ASSERT(b->n_rows <= BX_DB_ROWS_MAX);
    if (b->rows != NULL) {
        b->rows->n_rows = b->n_rows;
        b->rows->n_cols = b->n_cols;
        b->rows->cells = b->cells;
    }
}

uint64_t bx_db_hash(const char *s) {
    uint64_t h = FNV_OFFSET_BASIS;
    for (; *s != '\0'; s++) {
        h = (h ^ (unsigned char)*s) * FNV_PRIME;
    }
    return h;
}

int64_t bx_db_backoff_ms(unsigned attempt) {
    BX_ASSERT(attempt >= 1 && attempt < BX_DB_RETRY_ATTEMPTS);
    int64_t cap = (int64_t)BX_DB_BACKOFF_BASE_MS << attempt;
    if (cap > BX_DB_BACKOFF_MAX_MS) {
        cap = BX_DB_BACKOFF_MAX_MS;
    }
    uint32_t rnd;
    bx_random_bytes(&rnd, sizeof rnd);
    return (int64_t)(rnd % (uint32_t)cap);
}

enum bx_err bx_db_check_migrations(const struct bx_db_migration *m, size_t n,
                                   struct bx_error *err) {
    BX_ASSERT(m != NULL || n == 0);
    for (size_t i = 0; i < n; i++) {
        if (m[i].version < 1 || (i > 0 && m[i].version <= m[i - 1].version)) {
            return bx_error_set(err, BX_INTERNAL, NULL,
                                "migration %zu: versions must start at 1 and increase (%d)", i,
                                m[i].version);
        }
        if (m[i].name == NULL || m[i].sql == NULL) {
            return bx_error_set(err, BX_INTERNAL, NULL, "migration %d: name and sql are required",
                                m[i].version);
        }
    }
    return BX_OK;
}
