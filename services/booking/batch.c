// SPDX-License-Identifier: Apache-2.0
// The batcher: group commit for every write that touches a tier's inventory row. Requests queue
// here (suspended); one thread takes up to batch_max of them (waiting at most batch_wait_us for
// more once one arrived, unless the last batch was already slower than that), runs them all in
// one transaction and answers each. A hot tier thus costs one row lock and one fsync per batch,
// not per request. In the transaction:
//  1. the tier rows the batch touches are locked in (event, tier) order (all tiers of an event
//     with a per-user cap, so that cap is checked under a lock); every other writer (sweeper,
//     catalog follower, other replicas' batchers) locks in the same order: no deadlocks;
//  2. each request is decided in arrival order against the locked counts, as if alone: holds
//     that do not fit first expire the tier's overdue holds (the lazy check), then fail sold_out;
//  3. new holds and their outbox rows go in with one bulk statement each; counts are written as
//     relative updates, and the CHECK on inventory refuses any result past capacity.
// Any database error reruns the whole batch (bx_db_run); results are reset before each attempt,
// so nothing decided in a failed attempt leaks into the answers.
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boxoffice/base.h"
#include "boxoffice/idempotency.h"
#include "boxoffice/log.h"
#include "boxoffice/metrics.h"
#include "boxoffice/service.h"
#include "boxoffice/worker.h"
#include "booking.h"

/* A growing text buffer for the bulk rows (JSON arrays built by hand: every string in them is an
 * id, a currency code or a message made of those, so only the message needs escaping). */
struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void sbuf_reserve(struct sbuf *b, size_t more) {
    if (b->oom || b->len + more + 1 <= b->cap) {
        return;
    }
    size_t cap = b->cap ? b->cap : 16 * 1024;
    while (cap < b->len + more + 1) {
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (p == NULL) {
        b->oom = true;
        return;
    }
    b->p = p;
    b->cap = cap;
}

static void sbuf_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sbuf_printf(struct sbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = true;
        return;
    }
    sbuf_reserve(b, (size_t)n);
    if (!b->oom) {
        va_start(ap, fmt);
        vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
        b->len += (size_t)n;
    }
}

/* s as a JSON string's contents ('"' and '\\' escaped; no control characters occur). */
static void sbuf_escaped(struct sbuf *b, const char *s) {
    size_t n = strlen(s);
    sbuf_reserve(b, 2 * n);
    for (; !b->oom && *s; s++) {
        if (*s == '"' || *s == '\\') {
            b->p[b->len++] = '\\';
        }
        b->p[b->len++] = *s;
    }
    if (!b->oom) {
        b->p[b->len] = '\0';
    }
}

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct booking_op *head, *tail;
    size_t n;
    bool quit, running;
    pthread_t thread;
    struct bx_metric *batches, *batched;
} q = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

void booking_submit(struct booking_op *op) {
    op->next = NULL;
    pthread_mutex_lock(&q.mu);
    if (q.tail != NULL) {
        q.tail->next = op;
    } else {
        q.head = op;
    }
    q.tail = op;
    q.n++;
    pthread_cond_signal(&q.cv);
    pthread_mutex_unlock(&q.mu);
}

enum bx_err booking_lock_tier(struct bx_db_tx *tx, const char *event_id, const char *tier_id,
                              struct booking_tier *out, bool *found, struct bx_error *err) {
    struct bx_db_value p[] = {BX_DB_S(event_id), BX_DB_S(tier_id)};
    char buf[2048];
    struct bx_arena a;
    bx_arena_init_inline(&a, buf, sizeof buf, 64 * 1024);
    struct bx_db_rows rows;
    enum bx_err e = bx_db_exec(tx,
                               booking.postgres ? "SELECT tier_id, price_cents, currency, capacity,"
                                                  " max_per_order, sold, held FROM inventory"
                                                  " WHERE event_id = $1 AND tier_id = $2 FOR UPDATE"
                                                : "SELECT tier_id, price_cents, currency, capacity,"
                                                  " max_per_order, sold, held FROM inventory"
                                                  " WHERE event_id = $1 AND tier_id = $2",
                               p, 2, &a, &rows, NULL, err);
    *found = e == BX_OK && rows.n_rows == 1;
    if (*found) {
        booking_fill_tier(&rows, 0, out);
    }
    bx_arena_reset(&a);
    return e;
}

enum bx_err booking_expire_tier(struct bx_db_tx *tx, const char *event_id, const char *tier_id,
                                int64_t now, int64_t limit, int64_t *freed_out,
                                struct bx_error *err) {
    struct bx_arena a;
    bx_arena_init(&a, 16 * 1024 * 1024);
    struct bx_db_rows rows;
    struct bx_db_value p[] = {BX_DB_S(event_id), BX_DB_S(tier_id), BX_DB_I(now), BX_DB_I(limit)};
    enum bx_err e = bx_db_exec(tx,
                               "UPDATE holds SET status = 'expired' WHERE id IN (SELECT id FROM"
                               " holds WHERE event_id = $1 AND tier_id = $2 AND status = 'active'"
                               " AND expires_at <= $3 LIMIT $4) AND status = 'active'"
                               " RETURNING id, user_id, quantity, amount_cents, currency",
                               p, BX_ARRAY_LEN(p), &a, &rows, NULL, err);
    int64_t freed = 0, now_ms = bx_now_unix_ms();
    for (size_t r = 0; e == BX_OK && r < rows.n_rows; r++) {
        freed += bx_db_cell(&rows, r, 2)->i;
        e = booking_outbox_add(tx, "hold.expired", event_id, tier_id, bx_db_cell(&rows, r, 0)->s,
                               NULL, bx_db_cell(&rows, r, 1)->s, bx_db_cell(&rows, r, 2)->i,
                               bx_db_cell(&rows, r, 3)->i, bx_db_cell(&rows, r, 4)->s, now_ms, err);
    }
    if (e == BX_OK && freed > 0) {
        struct bx_db_value u[] = {BX_DB_I(freed), BX_DB_S(event_id), BX_DB_S(tier_id)};
        e = bx_db_exec(tx,
                       "UPDATE inventory SET held = held - $1 WHERE event_id = $2 AND tier_id = $3",
                       u, 3, NULL, NULL, NULL, err);
    }
    if (freed_out != NULL) {
        *freed_out = e == BX_OK ? freed : 0;
    }
    bx_arena_reset(&a);
    return e;
}

/* ---- one batch ---- */

/* A tier the batch touches: its locked counts and what the batch changed. */
struct slot {
    const char *event_id, *tier_id;
    struct booking_tier t;
    bool found, swept;
    int64_t held_delta, sold_delta; /* written at the end, for the batch's new holds/orders */
};

struct event_info {
    const char *id;
    struct booking_event ev;
    bool found;
};

/* A user's seats toward an event's cap, as counted in this batch. */
struct usage {
    const char *event_id, *user_id;
    int64_t count;
};

struct batch {
    struct booking_op **ops;
    size_t n_ops;
    struct slot *slots;
    size_t n_slots;
    struct event_info *events;
    size_t n_events;
    struct usage *usage;
    size_t n_usage;
    struct bx_arena arena;
    struct sbuf new_holds, new_outbox; /* bulk rows: JSON arrays of arrays */
    size_t n_new;
    bool wrote;
};

static int cmp_slot(const void *a, const void *b) {
    const struct slot *x = a, *y = b;
    int c = strcmp(x->event_id, y->event_id);
    return c != 0 ? c : strcmp(x->tier_id, y->tier_id);
}

static struct slot *find_slot(struct batch *b, const char *event_id, const char *tier_id) {
    struct slot key = {.event_id = event_id, .tier_id = tier_id};
    return bsearch(&key, b->slots, b->n_slots, sizeof *b->slots, cmp_slot);
}

static struct event_info *find_event(struct batch *b, const char *event_id) {
    for (size_t i = 0; i < b->n_events; i++) {
        if (strcmp(b->events[i].id, event_id) == 0) {
            return &b->events[i];
        }
    }
    return NULL;
}

static void op_fail(struct booking_op *op, enum bx_err code, const char *field, const char *msg) {
    op->result = code;
    bx_error_set(&op->err, code, field, "%s", msg);
}

static void op_reset(struct booking_op *op) {
    op->result = BX_OK;
    memset(&op->err, 0, sizeof op->err);
    op->status = 0;
    free(op->response);
    op->response = NULL;
    op->lost_idempotency_race = false;
}

/* Records the op's answer under its Idempotency-Key; false (op->lost_idempotency_race) when a
 * concurrent request with the key won. */
static enum bx_err save_key(struct bx_db_tx *tx, struct booking_op *op, const char *scope,
                            bool *saved, struct bx_error *err) {
    enum bx_err e = bx_idempotency_save(tx, scope, op->user_id, op->idem_key, op->body_hash,
                                        op->status, op->response, saved, err);
    if (e == BX_OK && !*saved) {
        op->lost_idempotency_race = true;
    }
    return e;
}

/* Seats the user holds or bought for the event (before this batch). */
static enum bx_err user_count(struct bx_db_tx *tx, struct batch *b, const char *event_id,
                              const char *user_id, int64_t now, int64_t *out,
                              struct bx_error *err) {
    struct bx_db_value p[] = {BX_DB_S(event_id), BX_DB_S(user_id), BX_DB_I(now)};
    struct bx_db_rows rows;
    enum bx_err e = bx_db_exec(tx,
                               "SELECT (SELECT COALESCE(SUM(quantity), 0) FROM holds"
                               " WHERE user_id = $2 AND event_id = $1 AND status = 'active'"
                               " AND expires_at > $3) + (SELECT COALESCE(SUM(quantity), 0)"
                               " FROM orders WHERE user_id = $2 AND event_id = $1"
                               " AND status = 'confirmed')",
                               p, 3, &b->arena, &rows, NULL, err);
    *out = e == BX_OK && rows.n_rows == 1 ? bx_db_cell(&rows, 0, 0)->i : 0;
    return e;
}

static struct usage *find_usage(struct batch *b, const char *event_id, const char *user_id) {
    for (size_t i = 0; i < b->n_usage; i++) {
        if (strcmp(b->usage[i].event_id, event_id) == 0 &&
            strcmp(b->usage[i].user_id, user_id) == 0) {
            return &b->usage[i];
        }
    }
    return NULL;
}

static enum bx_err do_hold(struct bx_db_tx *tx, struct batch *b, struct booking_op *op,
                           int64_t now_ms, struct bx_error *err) {
    int64_t now = now_ms / 1000;
    struct event_info *ei = find_event(b, op->event_id);
    struct slot *s = find_slot(b, op->event_id, op->tier_id);
    if (ei == NULL || !ei->found || s == NULL || !s->found) {
        op_fail(op, BX_NOT_FOUND, "event_id", "No such event or tier.");
        return BX_OK;
    }
    enum bx_err e = BX_OK;
    struct usage *u = NULL;
    if (ei->ev.max_per_user > 0) {
        u = find_usage(b, op->event_id, op->user_id);
        if (u == NULL) {
            u = &b->usage[b->n_usage++]; /* sized for one per op */
            *u = (struct usage){.event_id = op->event_id, .user_id = op->user_id};
            if ((e = user_count(tx, b, op->event_id, op->user_id, now, &u->count, err)) != BX_OK) {
                return e;
            }
        }
        if (u->count + op->quantity > ei->ev.max_per_user) {
            op_fail(op, BX_LIMIT_EXCEEDED, "quantity",
                    "That would pass this event's limit of tickets per customer.");
            return BX_OK;
        }
    }
    if (!booking_on_sale(&ei->ev, now)) {
        op_fail(op, BX_NOT_ON_SALE, NULL, "Tickets for this event are not on sale.");
        return BX_OK;
    }
    struct booking_tier *t = &s->t;
    /* seats taken so far: the locked counts plus what this batch did (a confirm earlier in the
     * batch moved seats from held to sold: both deltas count) */
    int64_t taken = t->sold + s->sold_delta + t->held + s->held_delta;
    if (taken + op->quantity > t->capacity && !s->swept) {
        int64_t freed = 0;
        s->swept = true;
        if ((e = booking_expire_tier(tx, op->event_id, op->tier_id, now, 100000, &freed, err)) !=
            BX_OK) {
            return e;
        }
        t->held -= freed;
        b->wrote = b->wrote || freed > 0;
    }
    taken = t->sold + s->sold_delta + t->held + s->held_delta;
    if (taken + op->quantity > t->capacity) {
        op_fail(op, BX_SOLD_OUT, "quantity", "Not enough seats are left in this tier.");
        return BX_OK;
    }
    char id[37];
    bx_uuid7(id);
    int64_t amount = t->price_cents * op->quantity, expires = now + booking.hold_ttl_s;
    op->status = 201;
    op->response = booking_hold_json(id, op->event_id, op->tier_id, op->quantity, amount,
                                     t->currency, expires, "active");
    if (op->response == NULL) {
        return bx_error_set(err, BX_INTERNAL, NULL, "out of memory");
    }
    bool saved = true;
    if (op->idem_key != NULL && (e = save_key(tx, op, "holds", &saved, err)) != BX_OK) {
        return e;
    }
    if (!saved) {
        return BX_OK;
    }
    char msg_id[37];
    char *msg =
        booking_event_message("hold.created", op->event_id, op->tier_id, id, NULL, op->user_id,
                              op->quantity, amount, t->currency, now_ms, msg_id);
    if (msg == NULL) {
        return bx_error_set(err, BX_INTERNAL, NULL, "out of memory");
    }
    const char *sep = b->n_new++ == 0 ? "[" : ",";
    sbuf_printf(&b->new_holds, "%s[\"%s\",\"%s\",\"%s\",\"%s\",%lld,%lld,\"%s\",%lld,%lld]", sep,
                id, op->user_id, op->event_id, op->tier_id, (long long)op->quantity,
                (long long)amount, t->currency, (long long)now, (long long)expires);
    sbuf_printf(&b->new_outbox, "%s[\"%s\",\"%s\",\"", sep, msg_id, op->event_id);
    sbuf_escaped(&b->new_outbox, msg);
    sbuf_printf(&b->new_outbox, "\",%lld]", (long long)now);
    free(msg);
    if (b->new_holds.oom || b->new_outbox.oom) {
        return bx_error_set(err, BX_INTERNAL, NULL, "out of memory");
    }
    s->held_delta += op->quantity;
    if (u != NULL) {
        u->count += op->quantity;
    }
    b->wrote = true;
    return BX_OK;
}

/* The hold row for a release or confirm, locked. */
static enum bx_err load_hold(struct bx_db_tx *tx, struct batch *b, const char *hold_id,
                             struct bx_db_rows *rows, struct bx_error *err) {
    struct bx_db_value p[] = {BX_DB_S(hold_id)};
    return bx_db_exec(tx,
                      booking.postgres
                          ? "SELECT user_id, quantity, amount_cents, currency, status, expires_at"
                            " FROM holds WHERE id = $1 FOR UPDATE"
                          : "SELECT user_id, quantity, amount_cents, currency, status, expires_at"
                            " FROM holds WHERE id = $1",
                      p, 1, &b->arena, rows, NULL, err);
}

static enum bx_err do_release(struct bx_db_tx *tx, struct batch *b, struct booking_op *op,
                              int64_t now_ms, struct bx_error *err) {
    struct bx_db_rows h;
    enum bx_err e = load_hold(tx, b, op->hold_id, &h, err);
    struct slot *s = find_slot(b, op->event_id, op->tier_id);
    if (e != BX_OK) {
        return e;
    }
    if (h.n_rows == 0 || s == NULL) {
        op_fail(op, BX_NOT_FOUND, NULL, "No such hold.");
        return BX_OK;
    }
    const char *status = bx_db_cell(&h, 0, 4)->s;
    if (strcmp(status, "confirmed") == 0) {
        op_fail(op, BX_CONFLICT, NULL, "This hold was confirmed into an order; cancel the order.");
        return BX_OK;
    }
    op->status = 204;
    if (strcmp(status, "active") != 0) {
        return BX_OK; /* released or expired already: the seats are back */
    }
    bool overdue = bx_db_cell(&h, 0, 5)->i <= now_ms / 1000;
    int64_t quantity = bx_db_cell(&h, 0, 1)->i;
    e = booking_release_hold_tx(tx, op->hold_id, bx_db_cell(&h, 0, 0)->s, op->event_id, op->tier_id,
                                quantity, bx_db_cell(&h, 0, 2)->i, bx_db_cell(&h, 0, 3)->s,
                                overdue ? "expired" : "released", now_ms, err);
    s->t.held -= quantity;
    b->wrote = true;
    return e;
}

static enum bx_err do_confirm(struct bx_db_tx *tx, struct batch *b, struct booking_op *op,
                              int64_t now_ms, struct bx_error *err) {
    struct bx_db_rows h;
    enum bx_err e = load_hold(tx, b, op->hold_id, &h, err);
    struct slot *s = find_slot(b, op->event_id, op->tier_id);
    if (e != BX_OK) {
        return e;
    }
    if (h.n_rows == 0 || s == NULL) {
        op_fail(op, BX_NOT_FOUND, "hold_id", "No such hold.");
        return BX_OK;
    }
    if (op->idem_key != NULL) {
        /* a request with this key confirmed (or is confirming, earlier in this batch) already:
         * the hold row's lock orders us after it, so its key is visible; replay its answer */
        struct bx_db_value k[] = {BX_DB_S(op->user_id), BX_DB_S(op->idem_key)};
        struct bx_db_rows seen;
        if ((e = bx_db_exec(tx,
                            "SELECT 1 FROM idempotency WHERE scope = 'orders' AND caller = $1"
                            " AND key = $2",
                            k, 2, &b->arena, &seen, NULL, err)) != BX_OK) {
            return e;
        }
        if (seen.n_rows > 0) {
            op->lost_idempotency_race = true;
            return BX_OK;
        }
    }
    const char *status = bx_db_cell(&h, 0, 4)->s, *user = bx_db_cell(&h, 0, 0)->s;
    int64_t quantity = bx_db_cell(&h, 0, 1)->i, amount = bx_db_cell(&h, 0, 2)->i;
    const char *currency = bx_db_cell(&h, 0, 3)->s;
    if (strcmp(status, "active") == 0 && bx_db_cell(&h, 0, 5)->i <= now_ms / 1000) {
        /* the lazy check: its time is up even if the sweeper has not come by yet */
        e = booking_release_hold_tx(tx, op->hold_id, user, op->event_id, op->tier_id, quantity,
                                    amount, currency, "expired", now_ms, err);
        s->t.held -= quantity;
        b->wrote = true;
        op_fail(op, BX_HOLD_EXPIRED, "hold_id", "The hold has expired; hold seats again.");
        return e;
    }
    if (strcmp(status, "expired") == 0) {
        op_fail(op, BX_HOLD_EXPIRED, "hold_id", "The hold has expired; hold seats again.");
        return BX_OK;
    }
    if (strcmp(status, "active") != 0) {
        op_fail(op, BX_CONFLICT, "hold_id",
                strcmp(status, "confirmed") == 0 ? "This hold is already confirmed as an order."
                                                 : "This hold was released.");
        return BX_OK;
    }
    char order_id[37];
    bx_uuid7(order_id);
    json_t *tickets = json_array();
    for (int64_t i = 0; tickets != NULL && i < quantity; i++) {
        char tid[37];
        bx_uuid7(tid);
        json_array_append_new(tickets, json_string(tid));
    }
    char *tickets_text = tickets ? json_dumps(tickets, JSON_COMPACT) : NULL;
    json_decref(tickets);
    if (tickets_text == NULL) {
        return bx_error_set(err, BX_INTERNAL, NULL, "out of memory");
    }
    int64_t now = now_ms / 1000;
    /* in ORDER_COLUMNS order */
    struct bx_db_value row[] = {BX_DB_S(order_id),     BX_DB_S(op->hold_id), BX_DB_S(user),
                                BX_DB_S(op->event_id), BX_DB_S(op->tier_id), BX_DB_I(quantity),
                                BX_DB_I(amount),       BX_DB_S(currency),    BX_DB_S("confirmed"),
                                BX_DB_I(now),          BX_DB_S(tickets_text)};
    struct bx_db_rows one = {.n_rows = 1, .n_cols = BX_ARRAY_LEN(row), .cells = row};
    op->status = 201;
    op->response = booking_order_json(&one, 0);
    bool saved = true;
    if (op->response == NULL) {
        e = bx_error_set(err, BX_INTERNAL, NULL, "out of memory");
    } else {
        e = save_key(tx, op, "orders", &saved, err);
    }
    if (e == BX_OK && saved) {
        struct bx_db_value ins[BX_ARRAY_LEN(row) + 1];
        memcpy(ins, row, sizeof row);
        ins[BX_ARRAY_LEN(row)] = BX_DB_S(op->holder_name ? op->holder_name : "");
        e = bx_db_exec(tx,
                       "INSERT INTO orders (" ORDER_COLUMNS ", holder_name) VALUES ($1, $2, $3,"
                       " $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                       ins, BX_ARRAY_LEN(ins), NULL, NULL, NULL, err);
    }
    if (e == BX_OK && saved) {
        e = booking_export_mark(tx, order_id, now, err);
    }
    free(tickets_text);
    if (e != BX_OK || !saved) {
        return e;
    }
    struct bx_db_value hp[] = {BX_DB_S(op->hold_id)};
    if ((e = bx_db_exec(tx, "UPDATE holds SET status = 'confirmed' WHERE id = $1", hp, 1, NULL,
                        NULL, NULL, err)) != BX_OK) {
        return e;
    }
    s->held_delta -= quantity;
    s->sold_delta += quantity;
    b->wrote = true;
    return booking_outbox_add(tx, "order.confirmed", op->event_id, op->tier_id, op->hold_id,
                              order_id, user, quantity, amount, currency, now_ms, err);
}

static enum bx_err do_cancel(struct bx_db_tx *tx, struct batch *b, struct booking_op *op,
                             int64_t now_ms, struct bx_error *err) {
    struct bx_db_value p[] = {BX_DB_S(op->order_id)};
    struct bx_db_rows rows;
    enum bx_err e = bx_db_exec(tx,
                               booking.postgres
                                   ? "SELECT " ORDER_COLUMNS " FROM orders WHERE id = $1 FOR UPDATE"
                                   : "SELECT " ORDER_COLUMNS " FROM orders WHERE id = $1",
                               p, 1, &b->arena, &rows, NULL, err);
    struct slot *s = find_slot(b, op->event_id, op->tier_id);
    if (e != BX_OK) {
        return e;
    }
    if (rows.n_rows == 0 || s == NULL) {
        op_fail(op, BX_NOT_FOUND, NULL, "No such order.");
        return BX_OK;
    }
    if (strcmp(bx_db_cell(&rows, 0, 8)->s, "confirmed") != 0) {
        op_fail(op, BX_CONFLICT, NULL, "This order is already cancelled.");
        return BX_OK;
    }
    if ((e = booking_cancel_order_tx(tx, &rows, 0, now_ms, err)) != BX_OK) {
        return e;
    }
    s->t.sold -= bx_db_cell(&rows, 0, 5)->i;
    b->wrote = true;
    rows.cells[8] = BX_DB_S("cancelled");
    op->status = 200;
    op->response = booking_order_json(&rows, 0);
    return op->response ? BX_OK : bx_error_set(err, BX_INTERNAL, NULL, "out of memory");
}

/* Locks the batch's tier rows in (event, tier) order and reads its events. */
static enum bx_err lock_all(struct bx_db_tx *tx, struct batch *b, struct bx_error *err) {
    enum bx_err e = BX_OK;
    for (size_t i = 0; e == BX_OK && i < b->n_events; i++) {
        struct event_info *ei = &b->events[i];
        struct bx_db_value p[] = {BX_DB_S(ei->id)};
        struct bx_db_rows rows;
        e = bx_db_exec(tx,
                       "SELECT status, sales_start, sales_end, ends_at, max_per_user FROM events"
                       " WHERE id = $1",
                       p, 1, &b->arena, &rows, NULL, err);
        ei->found = e == BX_OK && rows.n_rows == 1;
        if (ei->found) {
            memset(&ei->ev, 0, sizeof ei->ev);
            bx_strlcpy(ei->ev.id, ei->id, sizeof ei->ev.id);
            bx_strlcpy(ei->ev.status, bx_db_cell(&rows, 0, 0)->s, sizeof ei->ev.status);
            ei->ev.sales_start = bx_db_cell(&rows, 0, 1)->i;
            ei->ev.sales_end = bx_db_cell(&rows, 0, 2)->i;
            ei->ev.ends_at = bx_db_cell(&rows, 0, 3)->i;
            ei->ev.max_per_user = bx_db_cell(&rows, 0, 4)->i;
        }
    }
    /* slots are sorted by (event, tier); an event with a cap locks all its tiers at once, in
     * tier order, at its place in that order */
    const char *capped_done = NULL;
    for (size_t i = 0; e == BX_OK && i < b->n_slots; i++) {
        struct slot *s = &b->slots[i];
        struct event_info *ei = find_event(b, s->event_id);
        if (ei != NULL && ei->found && ei->ev.max_per_user > 0 && booking.postgres) {
            if (capped_done == NULL || strcmp(capped_done, s->event_id) != 0) {
                struct bx_db_value p[] = {BX_DB_S(s->event_id)};
                e = bx_db_exec(tx,
                               "SELECT tier_id FROM inventory WHERE event_id = $1"
                               " ORDER BY tier_id FOR UPDATE",
                               p, 1, &b->arena, NULL, NULL, err);
                capped_done = s->event_id;
            }
        }
        if (e == BX_OK) {
            e = booking_lock_tier(tx, s->event_id, s->tier_id, &s->t, &s->found, err);
        }
        s->swept = false;
        s->held_delta = s->sold_delta = 0;
    }
    return e;
}

static enum bx_err batch_tx(struct bx_db_tx *tx, void *arg, struct bx_error *err) {
    struct batch *b = arg;
    bx_arena_reset(&b->arena);
    b->new_holds.len = b->new_outbox.len = 0;
    b->new_holds.oom = b->new_outbox.oom = false;
    b->n_new = 0;
    b->wrote = false;
    b->n_usage = 0;
    for (size_t i = 0; i < b->n_ops; i++) {
        op_reset(b->ops[i]);
    }
    enum bx_err e = lock_all(tx, b, err);
    int64_t now_ms = bx_now_unix_ms();
    for (size_t i = 0; e == BX_OK && i < b->n_ops; i++) {
        struct booking_op *op = b->ops[i];
        switch (op->kind) {
        case OP_HOLD:
            e = do_hold(tx, b, op, now_ms, err);
            break;
        case OP_RELEASE:
            e = do_release(tx, b, op, now_ms, err);
            break;
        case OP_CONFIRM:
            e = do_confirm(tx, b, op, now_ms, err);
            break;
        case OP_CANCEL:
            e = do_cancel(tx, b, op, now_ms, err);
            break;
        }
    }
    if (e == BX_OK && b->n_new > 0) {
        sbuf_printf(&b->new_holds, "]");
        sbuf_printf(&b->new_outbox, "]");
        bool oom = b->new_holds.oom || b->new_outbox.oom;
        const char *holds = oom ? NULL : b->new_holds.p, *outbox = oom ? NULL : b->new_outbox.p;
        struct bx_db_value hp[] = {BX_DB_S(holds)}, op[] = {BX_DB_S(outbox)};
        if (holds == NULL || outbox == NULL) {
            e = bx_error_set(err, BX_INTERNAL, NULL, "out of memory");
        } else if (booking.postgres) {
            e = bx_db_exec(tx,
                           "INSERT INTO holds (id, user_id, event_id, tier_id, quantity,"
                           " amount_cents, currency, status, created_at, expires_at)"
                           " SELECT x->>0, x->>1, x->>2, x->>3, (x->>4)::bigint,"
                           " (x->>5)::bigint, x->>6, 'active', (x->>7)::bigint, (x->>8)::bigint"
                           " FROM json_array_elements($1::json) AS x",
                           hp, 1, NULL, NULL, NULL, err);
            if (e == BX_OK) {
                e = bx_db_exec(tx,
                               "INSERT INTO outbox (id, event_id, payload, created_at)"
                               " SELECT x->>0, x->>1, x->>2, (x->>3)::bigint"
                               " FROM json_array_elements($1::json) AS x",
                               op, 1, NULL, NULL, NULL, err);
            }
        } else {
            e = bx_db_exec(tx,
                           "INSERT INTO holds (id, user_id, event_id, tier_id, quantity,"
                           " amount_cents, currency, status, created_at, expires_at)"
                           " SELECT value->>0, value->>1, value->>2, value->>3, value->>4,"
                           " value->>5, value->>6, 'active', value->>7, value->>8"
                           " FROM json_each($1)",
                           hp, 1, NULL, NULL, NULL, err);
            if (e == BX_OK) {
                e = bx_db_exec(tx,
                               "INSERT INTO outbox (id, event_id, payload, created_at)"
                               " SELECT value->>0, value->>1, value->>2, value->>3"
                               " FROM json_each($1)",
                               op, 1, NULL, NULL, NULL, err);
            }
        }
    }
    for (size_t i = 0; e == BX_OK && i < b->n_slots; i++) {
        struct slot *s = &b->slots[i];
        if (s->held_delta != 0 || s->sold_delta != 0) {
            struct bx_db_value p[] = {BX_DB_I(s->held_delta), BX_DB_I(s->sold_delta),
                                      BX_DB_S(s->event_id), BX_DB_S(s->tier_id)};
            e = bx_db_exec(tx,
                           "UPDATE inventory SET held = held + $1, sold = sold + $2"
                           " WHERE event_id = $3 AND tier_id = $4",
                           p, 4, NULL, NULL, NULL, err);
        }
    }
    return e;
}

/* Sets the op's answer on its request and resumes it. */
static void answer(struct booking_op *op) {
    struct bx_req *req = op->req;
    if (op->lost_idempotency_race) {
        /* the winner's answer is committed: replay it */
        bool replayed = false;
        req->error.code = BX_OK;
        enum bx_err e = bx_idempotency_check(
            &booking.db, req, op->kind == OP_HOLD ? "holds" : "orders", op->idem_key, &replayed);
        if (e != BX_OK) {
            bx_respond_error(req, &req->error);
        } else if (!replayed) {
            struct bx_error err = {0};
            bx_error_set(&err, BX_CONFLICT, NULL, "A concurrent request used this key; retry.");
            bx_respond_error(req, &err);
        }
    } else if (op->result != BX_OK) {
        bx_respond_error(req, &op->err);
    } else if (op->status == 204) {
        bx_respond(req, 204, NULL, NULL, 0);
    } else {
        bx_respond(req, op->status, "application/json; charset=utf-8", op->response,
                   strlen(op->response));
    }
    free(op->response);
    op->response = NULL;
    bx_req_resume(req);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void run_batch(struct batch *b) {
    /* the tiers and events the batch touches, sorted and unique */
    size_t ns = 0, ne = 0;
    const char **evs = malloc(b->n_ops * sizeof *evs);
    for (size_t i = 0; i < b->n_ops; i++) {
        b->slots[ns++] =
            (struct slot){.event_id = b->ops[i]->event_id, .tier_id = b->ops[i]->tier_id};
        if (evs != NULL) {
            evs[i] = b->ops[i]->event_id;
        }
    }
    qsort(b->slots, ns, sizeof *b->slots, cmp_slot);
    size_t u = 0;
    for (size_t i = 0; i < ns; i++) {
        if (u == 0 || cmp_slot(&b->slots[u - 1], &b->slots[i]) != 0) {
            b->slots[u++] = b->slots[i];
        }
    }
    b->n_slots = u;
    if (evs != NULL) {
        qsort(evs, b->n_ops, sizeof *evs, cmp_str);
        for (size_t i = 0; i < b->n_ops; i++) {
            if (ne == 0 || strcmp(b->events[ne - 1].id, evs[i]) != 0) {
                b->events[ne++] = (struct event_info){.id = evs[i]};
            }
        }
    }
    b->n_events = ne;
    free(evs);
    struct bx_error err = {0};
    enum bx_err e = evs == NULL && b->n_ops > 0
                        ? bx_error_set(&err, BX_UNAVAILABLE, NULL, "out of memory")
                        : bx_db_run(&booking.db, BX_DB_WRITE_LOCKING, batch_tx, b, &err);
    if (e != BX_OK) {
        if (e == BX_RETRY || e == BX_CONFLICT || e == BX_INTERNAL) {
            bx_log(BX_LOG_WARN, NULL, "booking batch of %zu failed: %s", b->n_ops, err.message);
            e = BX_UNAVAILABLE;
        }
        for (size_t i = 0; i < b->n_ops; i++) {
            op_reset(b->ops[i]);
            op_fail(b->ops[i], e, NULL,
                    e == BX_UNAVAILABLE ? "Booking is unavailable; retry." : err.message);
        }
    } else if (b->wrote) {
        booking_relay_kick();
        booking_exporter_kick();
    }
    bx_metric_add(q.batches, 1);
    bx_metric_add(q.batched, (int64_t)b->n_ops);
    for (size_t i = 0; i < b->n_ops; i++) {
        answer(b->ops[i]);
    }
}

static void *batcher_main(void *arg) {
    (void)arg;
    size_t max = (size_t)booking.batch_max;
    struct batch b = {0};
    b.ops = calloc(max, sizeof *b.ops);
    b.slots = calloc(max, sizeof *b.slots);
    b.events = calloc(max, sizeof *b.events);
    b.usage = calloc(max, sizeof *b.usage);
    BX_ASSERT(b.ops && b.slots && b.events && b.usage); /* small, at start */
    bx_arena_init(&b.arena, 64 * 1024 * 1024);
    int64_t last_us = 0;
    pthread_mutex_lock(&q.mu);
    for (;;) {
        while (!q.quit && q.n == 0) {
            pthread_cond_wait(&q.cv, &q.mu);
        }
        if (q.n == 0) {
            break; /* quit, and nothing is waiting */
        }
        /* collect: wait a moment for company, unless the last batch already took longer (then
         * requests pile up while it commits and waiting would only add latency) */
        if (q.n < max && booking.batch_wait_us > 0 && last_us < booking.batch_wait_us) {
            struct timespec until = booking_deadline_ms(0);
            until.tv_nsec += (long)booking.batch_wait_us * 1000L;
            while (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            while (!q.quit && q.n < max && pthread_cond_timedwait(&q.cv, &q.mu, &until) == 0) {
            }
        }
        b.n_ops = 0;
        while (q.head != NULL && b.n_ops < max) {
            b.ops[b.n_ops++] = q.head;
            q.head = q.head->next;
            q.n--;
        }
        if (q.head == NULL) {
            q.tail = NULL;
        }
        pthread_mutex_unlock(&q.mu);
        int64_t t0 = bx_now_mono_us();
        run_batch(&b);
        last_us = bx_now_mono_us() - t0;
        pthread_mutex_lock(&q.mu);
    }
    pthread_mutex_unlock(&q.mu);
    bx_arena_reset(&b.arena);
    free(b.new_holds.p);
    free(b.new_outbox.p);
    free(b.ops);
    free(b.slots);
    free(b.events);
    free(b.usage);
    return NULL;
}

enum bx_err booking_batcher_start(struct bx_error *err) {
    q.batches = bx_metrics_counter("boxoffice_booking_batches_total",
                                   "transactions run by the batcher (group commit)");
    q.batched = bx_metrics_counter("boxoffice_booking_batched_requests_total",
                                   "requests answered by those transactions");
    if (pthread_create(&q.thread, NULL, batcher_main, NULL) != 0) {
        return bx_error_set(err, BX_INTERNAL, NULL, "cannot start the batcher");
    }
    q.running = true;
    return BX_OK;
}

void booking_batcher_stop(void) {
    if (!q.running) {
        return;
    }
    pthread_mutex_lock(&q.mu);
    q.quit = true;
    pthread_cond_broadcast(&q.cv);
    pthread_mutex_unlock(&q.mu);
    pthread_join(q.thread, NULL);
    q.running = false;
}

/* ---- the sweeper ---- */

static struct bx_worker *sweeper;

struct sweep {
    struct bx_arena arena;
    struct bx_db_rows due;
    const char *event_id, *tier_id;
    int64_t freed;
};

static enum bx_err due_tx(struct bx_db_tx *tx, void *arg, struct bx_error *err) {
    struct sweep *s = arg;
    bx_arena_reset(&s->arena);
    struct bx_db_value p[] = {BX_DB_I(bx_now_unix_s())};
    return bx_db_exec(tx,
                      "SELECT DISTINCT event_id, tier_id FROM holds WHERE status = 'active'"
                      " AND expires_at <= $1 ORDER BY event_id, tier_id LIMIT 100",
                      p, 1, &s->arena, &s->due, NULL, err);
}

static enum bx_err sweep_tier_tx(struct bx_db_tx *tx, void *arg, struct bx_error *err) {
    struct sweep *s = arg;
    struct booking_tier t;
    bool found;
    enum bx_err e = booking_lock_tier(tx, s->event_id, s->tier_id, &t, &found, err);
    if (e == BX_OK && found) {
        e = booking_expire_tier(tx, s->event_id, s->tier_id, bx_now_unix_s(), 1000, &s->freed, err);
    }
    return e;
}

static struct sweep sweep_state;

/* Expires overdue holds tier by tier, each tier in its own transaction under its lock. */
static int64_t sweep_round(void *arg) {
    struct sweep *s = arg;
    struct bx_error err = {0};
    if (bx_db_run(&booking.db, BX_DB_READ, due_tx, s, &err) == BX_OK) {
        for (size_t r = 0; r < s->due.n_rows && !bx_worker_stopping(sweeper); r++) {
            s->event_id = bx_db_cell(&s->due, r, 0)->s;
            s->tier_id = bx_db_cell(&s->due, r, 1)->s;
            s->freed = 0;
            if (bx_db_run(&booking.db, BX_DB_WRITE_LOCKING, sweep_tier_tx, s, &err) != BX_OK) {
                bx_log(BX_LOG_WARN, NULL, "sweeper: %s", err.message);
            } else if (s->freed > 0) {
                booking_relay_kick();
            }
        }
    }
    return booking.sweep_ms;
}

enum bx_err booking_sweeper_start(struct bx_error *err) {
    bx_arena_init(&sweep_state.arena, 1024 * 1024);
    sweeper = bx_worker_start(sweep_round, &sweep_state, err);
    return sweeper != NULL ? BX_OK : err->code;
}

void booking_sweeper_stop(void) {
    bx_worker_stop(sweeper);
    sweeper = NULL;
    bx_arena_reset(&sweep_state.arena);
}
