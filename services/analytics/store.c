// SPDX-License-Identifier: Apache-2.0
// The state database (bx_db: SQLite on a laptop, PostgreSQL in production): the aggregates (table
// sales, one row per event, tier and currency), the per-minute series (minutes), the consumed
// offsets with each partition's watermark (offsets), the ids already counted (seen) and the
// counters. The consumer writes all of it in one transaction per checkpoint, so what is committed
// is always a state and the exact position in the topic that produced it.
// seen holds the new ids of each checkpoint as comma-separated text, a row per SEEN_ROW_BYTES:
// one insert per checkpoint instead of an index insert per message. The in-memory set (seen.c) is
// rebuilt from it at start; rows older than the retention are deleted in bounded rounds.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boxoffice/base.h"
#include "boxoffice/log.h"
#include "analytics.h"

#define LOAD_PAGE_ROWS  5000
#define SEEN_PAGE_ROWS  64
#define SEEN_ROW_BYTES  (256 * 1024) /* of ids per row of seen */
#define PRUNE_ROWS_MAX  10000
#define STORE_ARENA_MAX (64 * 1024 * 1024)

static const struct bx_db_migration migrations[] = {
    {1, "sales, minutes, offsets, seen, counters",
     "CREATE TABLE sales (event_id TEXT NOT NULL, tier_id TEXT NOT NULL, currency TEXT NOT NULL,"
     " sold BIGINT NOT NULL, revenue_cents BIGINT NOT NULL, active_holds BIGINT NOT NULL,"
     " holds_created BIGINT NOT NULL, holds_expired BIGINT NOT NULL,"
     " holds_released BIGINT NOT NULL, orders BIGINT NOT NULL, cancellations BIGINT NOT NULL,"
     " PRIMARY KEY (event_id, tier_id, currency));"
     "CREATE TABLE minutes (event_id TEXT NOT NULL, minute BIGINT NOT NULL,"
     " currency TEXT NOT NULL, tickets_sold BIGINT NOT NULL, revenue_cents BIGINT NOT NULL,"
     " PRIMARY KEY (event_id, minute, currency));"
     "CREATE INDEX minutes_by_minute ON minutes (minute);"
     "CREATE TABLE offsets (topic TEXT NOT NULL, part BIGINT NOT NULL,"
     " next_offset BIGINT NOT NULL, max_event_ms BIGINT NOT NULL, PRIMARY KEY (topic, part));"
     "CREATE TABLE seen (batch BIGINT PRIMARY KEY, created_at BIGINT NOT NULL,"
     " ids TEXT NOT NULL);"
     "CREATE INDEX seen_by_time ON seen (created_at);"
     "CREATE TABLE counters (id BIGINT PRIMARY KEY, consumed BIGINT NOT NULL,"
     " applied BIGINT NOT NULL, duplicates BIGINT NOT NULL, malformed BIGINT NOT NULL,"
     " late BIGINT NOT NULL, seen_rows BIGINT NOT NULL, CHECK (id = 1));"
     "CREATE TABLE owner (id BIGINT PRIMARY KEY, instance TEXT NOT NULL,"
     " lease_until BIGINT NOT NULL, CHECK (id = 1))",
     NULL},
};

enum bx_err an_store_open(struct bx_error *err) {
    enum bx_err e = bx_db_open(analytics.db_url, &analytics.db, err);
    if (e != BX_OK) {
        return e;
    }
    analytics.postgres = strcmp(analytics.db.ops->scheme, "postgresql") == 0;
    e = analytics.db.ops->migrate(analytics.db.ctx, migrations, BX_ARRAY_LEN(migrations), err);
    if (e != BX_OK) {
        bx_db_close(&analytics.db);
        analytics.db.ops = NULL;
    }
    return e;
}

void an_store_close(void) {
    if (analytics.db.ops != NULL) {
        bx_db_close(&analytics.db);
        analytics.db.ops = NULL;
    }
}

/* ---- loading ---- */

struct page {
    const char *sql;
    struct bx_db_value params[5];
    size_t n_params;
    struct bx_arena *arena;
    struct bx_db_rows rows;
};

static enum bx_err page_tx(struct bx_db_tx *tx, void *arg, struct bx_error *err) {
    struct page *p = arg;
    bx_arena_reset(p->arena);
    return bx_db_exec(tx, p->sql, p->params, p->n_params, p->arena, &p->rows, NULL, err);
}

static const char *text_of(const struct bx_db_rows *rows, size_t r, size_t c) {
    const struct bx_db_value *v = bx_db_cell(rows, r, c);
    return v->type == BX_DB_TEXT ? v->s : "";
}

static enum bx_err load_sales(struct bx_arena *arena, struct bx_error *err) {
    char after[3][AN_ID_MAX] = {"", "", ""};
    for (;;) {
        struct page p = {
            .sql = "SELECT event_id, tier_id, currency, sold, revenue_cents, active_holds,"
                   " holds_created, holds_expired, holds_released, orders, cancellations"
                   " FROM sales WHERE (event_id, tier_id, currency) > ($1, $2, $3)"
                   " ORDER BY event_id, tier_id, currency LIMIT $4",
            .params = {BX_DB_S(after[0]), BX_DB_S(after[1]), BX_DB_S(after[2]),
                       BX_DB_I(LOAD_PAGE_ROWS)},
            .n_params = 4,
            .arena = arena};
        enum bx_err e = bx_db_run(&analytics.db, BX_DB_READ, page_tx, &p, err);
        if (e != BX_OK) {
            return e;
        }
        for (size_t r = 0; r < p.rows.n_rows; r++) {
            const char *event_id = text_of(&p.rows, r, 0), *tier_id = text_of(&p.rows, r, 1),
                       *currency = text_of(&p.rows, r, 2);
            if (!bx_valid_id(event_id) || !bx_valid_id(tier_id) || strlen(currency) != 3) {
                return bx_error_set(err, BX_INTERNAL, NULL, "a malformed row in table sales");
            }
            struct an_event *ev = an_state_event(event_id, true);
            struct an_line *l = ev ? an_event_line(ev, tier_id, currency) : NULL;
            if (l == NULL) {
                return bx_error_set(err, BX_INTERNAL, NULL, "table sales is past the limits");
            }
            l->sold = bx_db_cell(&p.rows, r, 3)->i;
            l->revenue_cents = bx_db_cell(&p.rows, r, 4)->i;
            l->active_holds = bx_db_cell(&p.rows, r, 5)->i;
            l->holds_created = bx_db_cell(&p.rows, r, 6)->i;
            l->holds_expired = bx_db_cell(&p.rows, r, 7)->i;
            l->holds_released = bx_db_cell(&p.rows, r, 8)->i;
            l->orders = bx_db_cell(&p.rows, r, 9)->i;
            l->cancellations = bx_db_cell(&p.rows, r, 10)->i;
        }
        if (p.rows.n_rows < LOAD_PAGE_ROWS) {
            return BX_OK;
        }
        size_t last = p.rows.n_rows - 1;
        for (size_t c = 0; c < 3; c++) {
            bx_strlcpy(after[c], text_of(&p.rows, last, c), sizeof after[c]);
        }
    }
}

static enum bx_err load_minutes(struct bx_arena *arena, int64_t from_minute, struct bx_error *err) {
    char after_event[AN_ID_MAX] = "", after_currency[4] = "";
    int64_t after_minute = -1;
    for (;;) {
        struct page p = {
            .sql = "SELECT event_id, minute, currency, tickets_sold, revenue_cents FROM minutes"
                   " WHERE (event_id, minute, currency) > ($1, $2, $3) AND minute >= $4"
                   " ORDER BY event_id, minute, currency LIMIT $5",
            .params = {BX_DB_S(after_event), BX_DB_I(after_minute), BX_DB_S(after_currency),
                       BX_DB_I(from_minute), BX_DB_I(LOAD_PAGE_ROWS)},
            .n_params = 5,
            .arena = arena};
        enum bx_err e = bx_db_run(&analytics.db, BX_DB_READ, page_tx, &p, err);
        if (e != BX_OK) {
            return e;
        }
        for (size_t r = 0; r < p.rows.n_rows; r++) {
            const char *event_id = text_of(&p.rows, r, 0), *currency = text_of(&p.rows, r, 2);
            if (!bx_valid_id(event_id) || strlen(currency) != 3) {
                return bx_error_set(err, BX_INTERNAL, NULL, "a malformed row in table minutes");
            }
            struct an_event *ev = an_state_event(event_id, true);
            struct an_minute *m =
                ev ? an_event_minute(ev, bx_db_cell(&p.rows, r, 1)->i, currency) : NULL;
            if (m == NULL) {
                return bx_error_set(err, BX_INTERNAL, NULL, "table minutes is past the limits");
            }
            m->tickets_sold = bx_db_cell(&p.rows, r, 3)->i;
            m->revenue_cents = bx_db_cell(&p.rows, r, 4)->i;
        }
        if (p.rows.n_rows < LOAD_PAGE_ROWS) {
            return BX_OK;
        }
        size_t last = p.rows.n_rows - 1;
        bx_strlcpy(after_event, text_of(&p.rows, last, 0), sizeof after_event);
        after_minute = bx_db_cell(&p.rows, last, 1)->i;
        bx_strlcpy(after_currency, text_of(&p.rows, last, 2), sizeof after_currency);
    }
}

static enum bx_err offsets_tx(struct bx_db_tx *tx, void *arg, struct bx_error *err) {
    struct page *p = arg;
    bx_arena_reset(p->arena);
    struct bx_db_value params[] = {BX_DB_S(analytics.topic)};
    return bx_db_exec(tx, "SELECT part, next_offset, max_event_ms FROM offsets WHERE topic = $1",
                      params, 1, p->arena, &p->rows, NULL, err);
}

enum bx_err an_store_offsets(struct bx_arena *arena, struct bx_db_rows *rows,
                             struct bx_error *err) {
    struct page p = {.arena = arena};
    enum bx_err e = bx_db_run(&analytics.db, BX_DB_READ, offsets_tx, &p, err);
    *rows = p.rows;
    return e;
}

/* The ids within the retention into the in-memory set. */
static enum bx_err load_seen(struct bx_arena *arena, int64_t now_s, struct bx_error *err) {
    int64_t after = -1;
    for (;;) {
        struct page p = {.sql = "SELECT batch, created_at, ids FROM seen WHERE batch > $1"
                                " AND created_at >= $2 ORDER BY batch LIMIT $3",
                         .params = {BX_DB_I(after), BX_DB_I(now_s - analytics.dedup_retention_s),
                                    BX_DB_I(SEEN_PAGE_ROWS)},
                         .n_params = 3,
                         .arena = arena};
        enum bx_err e = bx_db_run(&analytics.db, BX_DB_READ, page_tx, &p, err);
        if (e != BX_OK) {
            return e;
        }
        for (size_t r = 0; r < p.rows.n_rows; r++) {
            uint32_t hour = (uint32_t)(bx_db_cell(&p.rows, r, 1)->i / 3600);
            char *ids = (char *)text_of(&p.rows, r, 2);
            for (char *id = ids; *id != '\0';) {
                char *comma = strchr(id, ',');
                if (comma != NULL) {
                    *comma = '\0';
                }
                if (!bx_valid_id(id) || an_seen_add(id, hour) == AN_SEEN_FULL) {
                    return bx_error_set(err, BX_INTERNAL, NULL,
                                        "table seen: a malformed id, or out of memory");
                }
                if (comma == NULL) {
                    break;
                }
                id = comma + 1;
            }
        }
        if (p.rows.n_rows < SEEN_PAGE_ROWS) {
            return BX_OK;
        }
        after = bx_db_cell(&p.rows, p.rows.n_rows - 1, 0)->i;
    }
}

enum bx_err an_store_load(struct bx_error *err) {
    struct bx_arena arena;
    bx_arena_init(&arena, STORE_ARENA_MAX);
    an_state_clear();
    an_seen_clear();
    int64_t now_s = bx_now_unix_s();
    enum bx_err e = load_sales(&arena, err);
    if (e == BX_OK) {
        e = load_minutes(&arena, now_s / 60 - AN_SERIES_MINUTES + 1, err);
    }
    struct bx_db_rows rows = {0};
    if (e == BX_OK) {
        e = an_store_offsets(&arena, &rows, err);
    }
    for (size_t r = 0; e == BX_OK && r < rows.n_rows; r++) {
        int64_t part = bx_db_cell(&rows, r, 0)->i;
        if (part < 0 || part >= AN_PARTITIONS_MAX) {
            e = bx_error_set(err, BX_INTERNAL, NULL, "table offsets names partition %lld",
                             (long long)part);
            break;
        }
        struct an_part *p = &an_state.parts[part];
        p->known = true;
        p->next_offset = bx_db_cell(&rows, r, 1)->i;
        p->max_event_ms = bx_db_cell(&rows, r, 2)->i;
    }
    struct page c = {.sql = "SELECT consumed, applied, duplicates, malformed, late, seen_rows"
                            " FROM counters",
                     .arena = &arena};
    if (e == BX_OK) {
        e = bx_db_run(&analytics.db, BX_DB_READ, page_tx, &c, err);
    }
    if (e == BX_OK && c.rows.n_rows == 1) {
        an_state.counters = (struct an_counters){
            .consumed = bx_db_cell(&c.rows, 0, 0)->i,
            .applied = bx_db_cell(&c.rows, 0, 1)->i,
            .duplicates = bx_db_cell(&c.rows, 0, 2)->i,
            .malformed = bx_db_cell(&c.rows, 0, 3)->i,
            .late = bx_db_cell(&c.rows, 0, 4)->i,
            .seen_rows = bx_db_cell(&c.rows, 0, 5)->i,
        };
    }
    if (e == BX_OK) {
        e = load_seen(&arena, now_s, err);
    }
    bx_arena_reset(&arena);
    if (e != BX_OK) {
        an_state_clear();
        an_seen_clear();
        return e;
    }
    /* everything is news to the stream's clients */
    an_state_round();
    for (uint32_t i = 0; i < an_state.n_events; i++) {
        an_state_touch(an_state.events[i]);
    }
    an_state.summary_seq = ++an_state.seq;
    return BX_OK;
}

/* ---- the consumer's transaction ---- */

enum bx_err an_store_begin(struct bx_db_tx **tx, struct bx_error *err) {
    return analytics.db.ops->begin(analytics.db.ctx, BX_DB_WRITE, tx, err);
}

/* A growing JSON text of the dirty rows, for one bulk statement per table. */
struct rows_text {
    char *p;
    size_t len, cap;
    size_t n;
};

static bool rows_add(struct rows_text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static bool rows_add(struct rows_text *t, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = t->cap - t->len;
        int n = t->p ? vsnprintf(t->p + t->len, room, fmt, ap) : -1;
        va_end(ap);
        if (n >= 0 && (size_t)n < room) {
            t->len += (size_t)n;
            return true;
        }
        size_t cap = t->cap ? t->cap * 2 : 64 * 1024;
        char *p = realloc(t->p, cap);
        if (p == NULL) {
            return false;
        }
        t->p = p;
        t->cap = cap;
    }
}

/* The statements take a JSON array of arrays, one per row, in column order: ids and currencies
 * need no escaping (checked when they came in). */
static const char *const sales_sql[2] = {
    "INSERT INTO sales (event_id, tier_id, currency, sold, revenue_cents, active_holds,"
    " holds_created, holds_expired, holds_released, orders, cancellations)"
    " SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, value->>6,"
    " value->>7, value->>8, value->>9, value->>10 FROM json_each($1) WHERE true"
    " ON CONFLICT (event_id, tier_id, currency) DO UPDATE SET sold = excluded.sold,"
    " revenue_cents = excluded.revenue_cents, active_holds = excluded.active_holds,"
    " holds_created = excluded.holds_created, holds_expired = excluded.holds_expired,"
    " holds_released = excluded.holds_released, orders = excluded.orders,"
    " cancellations = excluded.cancellations",
    "INSERT INTO sales (event_id, tier_id, currency, sold, revenue_cents, active_holds,"
    " holds_created, holds_expired, holds_released, orders, cancellations)"
    " SELECT v->>0, v->>1, v->>2, (v->>3)::bigint, (v->>4)::bigint, (v->>5)::bigint,"
    " (v->>6)::bigint, (v->>7)::bigint, (v->>8)::bigint, (v->>9)::bigint, (v->>10)::bigint"
    " FROM json_array_elements($1::json) AS v"
    " ON CONFLICT (event_id, tier_id, currency) DO UPDATE SET sold = excluded.sold,"
    " revenue_cents = excluded.revenue_cents, active_holds = excluded.active_holds,"
    " holds_created = excluded.holds_created, holds_expired = excluded.holds_expired,"
    " holds_released = excluded.holds_released, orders = excluded.orders,"
    " cancellations = excluded.cancellations",
};

static const char *const minutes_sql[2] = {
    "INSERT INTO minutes (event_id, minute, currency, tickets_sold, revenue_cents)"
    " SELECT value->>0, value->>1, value->>2, value->>3, value->>4 FROM json_each($1)"
    " WHERE true ON CONFLICT (event_id, minute, currency) DO UPDATE SET"
    " tickets_sold = excluded.tickets_sold, revenue_cents = excluded.revenue_cents",
    "INSERT INTO minutes (event_id, minute, currency, tickets_sold, revenue_cents)"
    " SELECT v->>0, (v->>1)::bigint, v->>2, (v->>3)::bigint, (v->>4)::bigint"
    " FROM json_array_elements($1::json) AS v"
    " ON CONFLICT (event_id, minute, currency) DO UPDATE SET"
    " tickets_sold = excluded.tickets_sold, revenue_cents = excluded.revenue_cents",
};

static enum bx_err write_rows(struct bx_db_tx *tx, const char *sql, struct rows_text *t,
                              struct bx_error *err) {
    if (t->n == 0) {
        return BX_OK;
    }
    if (!rows_add(t, "]")) {
        return bx_error_set(err, BX_INTERNAL, NULL, "out of memory");
    }
    struct bx_db_value p[] = {BX_DB_S(t->p)};
    return bx_db_exec(tx, sql, p, 1, NULL, NULL, NULL, err);
}

/* The dirty lines and minutes, in two statements. */
static enum bx_err write_dirty(struct bx_db_tx *tx, struct bx_error *err) {
    struct rows_text lines = {0}, minutes = {0};
    bool ok = rows_add(&lines, "[") && rows_add(&minutes, "[");
    for (struct an_event *ev = an_state.dirty_head; ok && ev != NULL; ev = ev->next_dirty) {
        for (uint32_t i = 0; ok && i < ev->n_lines; i++) {
            const struct an_line *l = &ev->lines[i];
            if (l->dirty) {
                ok = rows_add(&lines,
                              "%s[\"%s\",\"%s\",\"%s\",%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld]",
                              lines.n++ ? "," : "", ev->id, l->tier_id, l->currency,
                              (long long)l->sold, (long long)l->revenue_cents,
                              (long long)l->active_holds, (long long)l->holds_created,
                              (long long)l->holds_expired, (long long)l->holds_released,
                              (long long)l->orders, (long long)l->cancellations);
            }
        }
        for (uint32_t i = 0; ok && i < ev->n_minutes; i++) {
            const struct an_minute *m = &ev->minutes[i];
            if (m->dirty) {
                ok = rows_add(&minutes, "%s[\"%s\",%lld,\"%s\",%lld,%lld]", minutes.n++ ? "," : "",
                              ev->id, (long long)m->minute, m->currency, (long long)m->tickets_sold,
                              (long long)m->revenue_cents);
            }
        }
    }
    int d = analytics.postgres ? 1 : 0;
    enum bx_err e = ok ? write_rows(tx, sales_sql[d], &lines, err)
                       : bx_error_set(err, BX_INTERNAL, NULL, "out of memory");
    if (e == BX_OK) {
        e = write_rows(tx, minutes_sql[d], &minutes, err);
    }
    free(lines.p);
    free(minutes.p);
    return e;
}

/* ids: comma-separated, written as rows of at most SEEN_ROW_BYTES (split at commas). */
static enum bx_err write_seen(struct bx_db_tx *tx, char *ids, size_t len, int64_t now_s,
                              struct bx_error *err) {
    enum bx_err e = BX_OK;
    size_t at = 0;
    while (e == BX_OK && at < len) {
        size_t end = len;
        if (len - at > SEEN_ROW_BYTES) {
            end = at + SEEN_ROW_BYTES;
            while (end > at && ids[end] != ',') {
                end--;
            }
            BX_ASSERT(end > at); /* ids are at most 64 characters */
        }
        char saved = ids[end];
        ids[end] = '\0';
        an_state.counters.seen_rows++;
        struct bx_db_value p[] = {BX_DB_I(an_state.counters.seen_rows), BX_DB_I(now_s),
                                  BX_DB_S(ids + at)};
        e = bx_db_exec(tx, "INSERT INTO seen (batch, created_at, ids) VALUES ($1, $2, $3)", p,
                       BX_ARRAY_LEN(p), NULL, NULL, NULL, err);
        ids[end] = saved;
        at = end + 1;
    }
    an_state.counters_dirty = true;
    return e;
}

/* Renews the lease inside tx; BX_CONFLICT when another process holds it now. */
static enum bx_err renew_in(struct bx_db_tx *tx, struct bx_error *err) {
    int64_t changed = 0;
    struct bx_db_value p[] = {BX_DB_S(analytics.instance),
                              BX_DB_I(bx_now_unix_ms() + analytics.lease_s * 1000)};
    enum bx_err e =
        bx_db_exec(tx, "UPDATE owner SET lease_until = $2 WHERE id = 1 AND instance = $1", p, 2,
                   NULL, NULL, &changed, err);
    if (e == BX_OK && changed != 1) {
        e = bx_error_set(err, BX_CONFLICT, NULL, "another process took the state database");
    }
    return e;
}

enum bx_err an_store_write(struct bx_db_tx *tx, char *ids, size_t ids_len, struct bx_error *err) {
    enum bx_err e = renew_in(tx, err); /* fencing: only the lease holder commits */
    if (e == BX_OK && ids_len > 0) {
        e = write_seen(tx, ids, ids_len, bx_now_unix_s(), err);
    }
    if (e == BX_OK) {
        e = write_dirty(tx, err);
    }
    for (int32_t part = 0; part < AN_PARTITIONS_MAX && e == BX_OK; part++) {
        const struct an_part *p = &an_state.parts[part];
        if (!p->dirty) {
            continue;
        }
        struct bx_db_value v[] = {BX_DB_S(analytics.topic), BX_DB_I(part), BX_DB_I(p->next_offset),
                                  BX_DB_I(p->max_event_ms)};
        e = bx_db_exec(tx,
                       "INSERT INTO offsets (topic, part, next_offset, max_event_ms)"
                       " VALUES ($1, $2, $3, $4) ON CONFLICT (topic, part) DO UPDATE SET"
                       " next_offset = excluded.next_offset, max_event_ms = excluded.max_event_ms",
                       v, BX_ARRAY_LEN(v), NULL, NULL, NULL, err);
    }
    if (e == BX_OK && an_state.counters_dirty) {
        const struct an_counters *c = &an_state.counters;
        struct bx_db_value v[] = {BX_DB_I(c->consumed),   BX_DB_I(c->applied),
                                  BX_DB_I(c->duplicates), BX_DB_I(c->malformed),
                                  BX_DB_I(c->late),       BX_DB_I(c->seen_rows)};
        e = bx_db_exec(tx,
                       "INSERT INTO counters (id, consumed, applied, duplicates, malformed, late,"
                       " seen_rows) VALUES (1, $1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE"
                       " SET consumed = excluded.consumed, applied = excluded.applied,"
                       " duplicates = excluded.duplicates, malformed = excluded.malformed,"
                       " late = excluded.late, seen_rows = excluded.seen_rows",
                       v, BX_ARRAY_LEN(v), NULL, NULL, NULL, err);
    }
    return e;
}

void an_store_written(void) {
    struct an_event *ev = an_state.dirty_head;
    while (ev != NULL) {
        struct an_event *next = ev->next_dirty;
        for (uint32_t i = 0; i < ev->n_lines; i++) {
            ev->lines[i].dirty = false;
        }
        for (uint32_t i = 0; i < ev->n_minutes; i++) {
            ev->minutes[i].dirty = false;
        }
        ev->dirty = false;
        ev->next_dirty = NULL;
        ev = next;
    }
    an_state.dirty_head = NULL;
    for (size_t p = 0; p < AN_PARTITIONS_MAX; p++) {
        if (an_state.parts[p].dirty) {
            an_state.parts[p].dirty = false;
            an_state.parts[p].known = true;
        }
    }
    an_state.counters_dirty = false;
}

/* ---- the writer's lease ---- */

struct lease {
    int64_t now_ms;
    bool release;
    bool held;
    char holder[128];
    int64_t until_ms;
};

static enum bx_err lease_tx(struct bx_db_tx *tx, void *arg, struct bx_error *err) {
    struct lease *l = arg;
    int64_t changed = 0;
    if (l->release) {
        struct bx_db_value p[] = {BX_DB_S(analytics.instance)};
        return bx_db_exec(tx, "UPDATE owner SET lease_until = 0 WHERE id = 1 AND instance = $1", p,
                          1, NULL, NULL, NULL, err);
    }
    struct bx_db_value p[] = {BX_DB_S(analytics.instance),
                              BX_DB_I(l->now_ms + analytics.lease_s * 1000), BX_DB_I(l->now_ms)};
    enum bx_err e = bx_db_exec(
        tx,
        "INSERT INTO owner (id, instance, lease_until) VALUES (1, $1, $2) ON CONFLICT (id) DO"
        " UPDATE SET instance = excluded.instance, lease_until = excluded.lease_until"
        " WHERE owner.instance = excluded.instance OR owner.lease_until < $3",
        p, BX_ARRAY_LEN(p), NULL, NULL, &changed, err);
    l->held = e == BX_OK && changed == 1;
    if (e == BX_OK && !l->held) {
        struct bx_arena arena;
        bx_arena_init(&arena, 64 * 1024);
        struct bx_db_rows rows = {0};
        e = bx_db_exec(tx, "SELECT instance, lease_until FROM owner WHERE id = 1", NULL, 0, &arena,
                       &rows, NULL, err);
        if (e == BX_OK && rows.n_rows == 1) {
            bx_strlcpy(l->holder, text_of(&rows, 0, 0), sizeof l->holder);
            l->until_ms = bx_db_cell(&rows, 0, 1)->i;
        }
        bx_arena_reset(&arena);
    }
    return e;
}

enum bx_err an_store_lease(bool *held, struct bx_error *err) {
    struct lease l = {.now_ms = bx_now_unix_ms()};
    enum bx_err e = bx_db_run(&analytics.db, BX_DB_WRITE, lease_tx, &l, err);
    *held = e == BX_OK && l.held;
    if (e == BX_OK && !l.held) {
        bx_error_set(err, BX_CONFLICT, NULL, "held by %s for %lld ms more", l.holder,
                     (long long)(l.until_ms - l.now_ms));
    }
    return e;
}

void an_store_release(void) {
    struct lease l = {.release = true};
    struct bx_error err = {0};
    if (bx_db_run(&analytics.db, BX_DB_WRITE, lease_tx, &l, &err) != BX_OK) {
        bx_warn("analytics: cannot release the state database's lease: %s", err.message);
    }
}

/* ---- pruning ---- */

struct prune {
    int64_t seen_before, minute_before;
    int64_t deleted;
};

static enum bx_err prune_tx(struct bx_db_tx *tx, void *arg, struct bx_error *err) {
    struct prune *p = arg;
    int64_t a = 0, b = 0;
    struct bx_db_value s[] = {BX_DB_I(p->seen_before), BX_DB_I(PRUNE_ROWS_MAX)};
    enum bx_err e = bx_db_exec(tx,
                               "DELETE FROM seen WHERE batch IN (SELECT batch FROM seen"
                               " WHERE created_at < $1 LIMIT $2)",
                               s, 2, NULL, NULL, &a, err);
    struct bx_db_value m[] = {BX_DB_I(p->minute_before)};
    if (e == BX_OK) {
        e = bx_db_exec(tx, "DELETE FROM minutes WHERE minute < $1", m, 1, NULL, NULL, &b, err);
    }
    p->deleted = a + b;
    return e;
}

int64_t an_store_prune(int64_t now_s) {
    struct prune p = {.seen_before = now_s - analytics.dedup_retention_s,
                      .minute_before = now_s / 60 - AN_SERIES_MINUTES};
    struct bx_error err = {0};
    if (bx_db_run(&analytics.db, BX_DB_WRITE, prune_tx, &p, &err) != BX_OK) {
        bx_warn("analytics: pruning the state database failed: %s", err.message);
        return 0;
    }
    an_seen_prune((uint32_t)(p.seen_before / 3600));
    return p.deleted;
}
