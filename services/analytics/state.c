// SPDX-License-Identifier: Apache-2.0
// The aggregates in memory: events by id (open addressing), each with its (tier, currency) lines
// and its per-minute series sorted by (minute, currency); the per-partition watermarks and the
// counters. The consumer thread is the only writer of counts and the only reader that goes
// without the lock; every change is made under the write lock, every other read under the read
// lock. Events changed in one apply round get one new change number and move to the head of the
// change list, which the stream walks from the newest down to a client's cursor.
// Invariants: sum over lines of sold equals the sum of the series entries not dropped as late or
// old; an entry or line changed since the last checkpoint is dirty and its event on the dirty list.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boxoffice/base.h"
#include "analytics.h"

#define INDEX_SLOTS_MIN 1024

struct an_state an_state;

static uint64_t round_summary; /* the round that last changed the totals */

void an_state_init(void) {
    memset(&an_state, 0, sizeof an_state);
    pthread_rwlock_init(&an_state.lock, NULL);
    /* change numbers rise across restarts (a client's Last-Event-ID from before a restart is then
     * older than everything, and it gets the whole state again) */
    an_state.seq = (uint64_t)bx_now_unix_ms() * 1000;
}

static void free_event(struct an_event *ev) {
    free(ev->lines);
    free(ev->minutes);
    free(ev->title);
    free(ev->json);
    free(ev);
}

void an_state_clear(void) {
    for (uint32_t i = 0; i < an_state.n_events; i++) {
        free_event(an_state.events[i]);
    }
    free(an_state.events);
    free(an_state.index);
    free(an_state.summary_json);
    an_state.events = NULL;
    an_state.index = NULL;
    an_state.summary_json = NULL;
    an_state.summary_len = 0;
    an_state.summary_json_seq = 0;
    an_state.n_events = an_state.cap_events = an_state.index_slots = 0;
    an_state.newest = an_state.oldest = NULL;
    an_state.dirty_head = NULL;
    memset(an_state.parts, 0, sizeof an_state.parts);
    memset(&an_state.counters, 0, sizeof an_state.counters);
    an_state.counters_dirty = false;
    an_state.summary_seq = ++an_state.seq;
}

static uint64_t hash_id(const char *s) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

static void index_put(uint32_t *index, uint32_t slots, const char *id, uint32_t number) {
    uint32_t i = (uint32_t)(hash_id(id) & (slots - 1));
    while (index[i] != 0) {
        i = (i + 1) & (slots - 1);
    }
    index[i] = number + 1;
}

static bool index_grow(void) {
    uint32_t slots = an_state.index_slots ? an_state.index_slots * 2 : INDEX_SLOTS_MIN;
    uint32_t *index = calloc(slots, sizeof *index);
    if (index == NULL) {
        return false;
    }
    for (uint32_t n = 0; n < an_state.n_events; n++) {
        index_put(index, slots, an_state.events[n]->id, n);
    }
    free(an_state.index);
    an_state.index = index;
    an_state.index_slots = slots;
    return true;
}

struct an_event *an_state_event(const char *id, bool create) {
    if (an_state.index_slots > 0) {
        uint32_t i = (uint32_t)(hash_id(id) & (an_state.index_slots - 1));
        while (an_state.index[i] != 0) {
            struct an_event *ev = an_state.events[an_state.index[i] - 1];
            if (strcmp(ev->id, id) == 0) {
                return ev;
            }
            i = (i + 1) & (an_state.index_slots - 1);
        }
    }
    if (!create || an_state.n_events >= AN_EVENTS_MAX) {
        return NULL;
    }
    if ((an_state.n_events + 1) * 2 > an_state.index_slots && !index_grow()) {
        return NULL;
    }
    if (an_state.n_events == an_state.cap_events) {
        uint32_t cap = an_state.cap_events ? an_state.cap_events * 2 : 256;
        struct an_event **more = realloc(an_state.events, cap * sizeof *more);
        if (more == NULL) {
            return NULL;
        }
        an_state.events = more;
        an_state.cap_events = cap;
    }
    struct an_event *ev = calloc(1, sizeof *ev);
    if (ev == NULL) {
        return NULL;
    }
    BX_ASSERT(strlen(id) < sizeof ev->id);
    memcpy(ev->id, id, strlen(id) + 1);
    ev->capacity = -1;
    an_state.events[an_state.n_events] = ev;
    index_put(an_state.index, an_state.index_slots, id, an_state.n_events);
    an_state.n_events++;
    /* a new event joins the change list at the tail: untouched until its first change */
    ev->newer = an_state.oldest;
    if (an_state.oldest != NULL) {
        an_state.oldest->older = ev;
    } else {
        an_state.newest = ev;
    }
    an_state.oldest = ev;
    return ev;
}

struct an_line *an_event_line(struct an_event *ev, const char *tier_id, const char *currency) {
    for (uint32_t i = 0; i < ev->n_lines; i++) {
        struct an_line *l = &ev->lines[i];
        if (strcmp(l->tier_id, tier_id) == 0 && strcmp(l->currency, currency) == 0) {
            return l;
        }
    }
    if (ev->n_lines >= AN_LINES_MAX) {
        return NULL;
    }
    if (ev->n_lines == ev->cap_lines) {
        uint32_t cap = ev->cap_lines ? ev->cap_lines * 2 : 4;
        struct an_line *more = realloc(ev->lines, cap * sizeof *more);
        if (more == NULL) {
            return NULL;
        }
        ev->lines = more;
        ev->cap_lines = cap;
    }
    struct an_line *l = &ev->lines[ev->n_lines++];
    memset(l, 0, sizeof *l);
    BX_ASSERT(strlen(tier_id) < sizeof l->tier_id && strlen(currency) < sizeof l->currency);
    memcpy(l->tier_id, tier_id, strlen(tier_id) + 1);
    memcpy(l->currency, currency, strlen(currency) + 1);
    return l;
}

static int minute_cmp(const struct an_minute *m, int64_t minute, const char *currency) {
    if (m->minute != minute) {
        return m->minute < minute ? -1 : 1;
    }
    return strcmp(m->currency, currency);
}

struct an_minute *an_event_minute(struct an_event *ev, int64_t minute, const char *currency) {
    uint32_t lo = 0, hi = ev->n_minutes;
    /* most messages are for the newest minute: look at the end first */
    if (hi > 0) {
        int c = minute_cmp(&ev->minutes[hi - 1], minute, currency);
        if (c == 0) {
            return &ev->minutes[hi - 1];
        }
        if (c < 0) {
            lo = hi;
        }
    }
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = minute_cmp(&ev->minutes[mid], minute, currency);
        if (c == 0) {
            return &ev->minutes[mid];
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (ev->n_minutes >= AN_MINUTES_MAX) {
        return NULL;
    }
    if (ev->n_minutes == ev->cap_minutes) {
        uint32_t cap = ev->cap_minutes ? ev->cap_minutes * 2 : 16;
        struct an_minute *more = realloc(ev->minutes, cap * sizeof *more);
        if (more == NULL) {
            return NULL;
        }
        ev->minutes = more;
        ev->cap_minutes = cap;
    }
    memmove(&ev->minutes[lo + 1], &ev->minutes[lo], (ev->n_minutes - lo) * sizeof *ev->minutes);
    ev->n_minutes++;
    struct an_minute *m = &ev->minutes[lo];
    memset(m, 0, sizeof *m);
    m->minute = minute;
    memcpy(m->currency, currency, strlen(currency) + 1);
    return m;
}

void an_state_round(void) {
    an_state.round++;
}

void an_state_touch(struct an_event *ev) {
    if (ev->touched == an_state.round) {
        return; /* one change number per round: the list stays in change order */
    }
    ev->touched = an_state.round;
    ev->seq = ++an_state.seq;
    if (an_state.newest == ev) {
        return;
    }
    /* unlink, then push at the head */
    if (ev->newer != NULL) {
        ev->newer->older = ev->older;
    }
    if (ev->older != NULL) {
        ev->older->newer = ev->newer;
    } else {
        an_state.oldest = ev->newer;
    }
    ev->newer = NULL;
    ev->older = an_state.newest;
    if (an_state.newest != NULL) {
        an_state.newest->newer = ev;
    }
    an_state.newest = ev;
    if (an_state.oldest == NULL) {
        an_state.oldest = ev;
    }
}

static void mark_dirty(struct an_event *ev) {
    if (!ev->dirty) {
        ev->dirty = true;
        ev->next_dirty = an_state.dirty_head;
        an_state.dirty_head = ev;
    }
}

void an_state_touch_summary(void) {
    if (round_summary != an_state.round) {
        round_summary = an_state.round;
        an_state.summary_seq = ++an_state.seq;
    }
}

bool an_state_apply(const struct an_msg *m, int32_t p, int64_t now_ms) {
    BX_ASSERT(p >= 0 && p < AN_PARTITIONS_MAX);
    struct an_part *part = &an_state.parts[p];
    struct an_event *ev = an_state_event(m->event_id, true);
    struct an_line *line = ev ? an_event_line(ev, m->tier_id, m->currency) : NULL;
    if (line == NULL) {
        return false;
    }
    int64_t q = m->quantity, amount = m->amount_cents;
    bool sale = m->type == AN_ORDER_CONFIRMED || m->type == AN_ORDER_CANCELLED;
    /* late: behind this partition's watermark by more than the allowed lateness, or older than
     * the series keeps. Late messages count in the totals, not in the series. */
    int64_t minute = m->occurred_ms / 60000;
    bool late = (part->max_event_ms > 0 &&
                 m->occurred_ms < part->max_event_ms - analytics.lateness_s * 1000) ||
                minute <= now_ms / 60000 - AN_SERIES_MINUTES;
    switch (m->type) {
    case AN_HOLD_CREATED:
        line->holds_created++;
        line->active_holds += q;
        break;
    case AN_HOLD_RELEASED:
        line->holds_released++;
        line->active_holds -= q;
        break;
    case AN_HOLD_EXPIRED:
        line->holds_expired++;
        line->active_holds -= q;
        break;
    case AN_ORDER_CONFIRMED:
        line->orders++;
        line->active_holds -= q; /* its hold leaves the held count */
        line->sold += q;
        line->revenue_cents += amount;
        break;
    case AN_ORDER_CANCELLED:
        line->cancellations++;
        line->sold -= q;
        line->revenue_cents -= amount;
        break;
    }
    line->dirty = true;
    if (sale && !late) {
        struct an_minute *mn = an_event_minute(ev, minute, m->currency);
        if (mn != NULL) {
            int64_t sign = m->type == AN_ORDER_CONFIRMED ? 1 : -1;
            mn->tickets_sold += sign * q;
            mn->revenue_cents += sign * amount;
            mn->dirty = true;
        } else {
            late = true; /* the series of this event is full */
        }
    }
    if (late) {
        an_state.counters.late++;
    }
    int64_t mark =
        m->occurred_ms < now_ms + AN_FUTURE_SLACK_MS ? m->occurred_ms : now_ms + AN_FUTURE_SLACK_MS;
    if (mark > part->max_event_ms) {
        part->max_event_ms = mark;
        part->dirty = true;
    }
    an_state.counters.applied++;
    an_state.counters_dirty = true;
    mark_dirty(ev);
    an_state_touch(ev);
    if (sale) {
        an_state_touch_summary();
    }
    return true;
}

void an_state_prune_minutes(int64_t min_minute) {
    for (uint32_t i = 0; i < an_state.n_events; i++) {
        struct an_event *ev = an_state.events[i];
        uint32_t k = 0;
        while (k < ev->n_minutes && ev->minutes[k].minute < min_minute) {
            BX_ASSERT(!ev->minutes[k].dirty);
            k++;
        }
        if (k > 0) {
            memmove(ev->minutes, ev->minutes + k, (ev->n_minutes - k) * sizeof *ev->minutes);
            ev->n_minutes -= k;
        }
    }
}

/* ---- rendering ---- */

/* Adds v to obj[currency]. */
static void add_currency(json_t *obj, const char *currency, int64_t v) {
    json_t *cur = json_object_get(obj, currency);
    int64_t was = cur ? (int64_t)json_integer_value(cur) : 0;
    json_object_set_new(obj, currency, json_integer(was + v));
}

static json_t *minute_entry(int64_t minute, const char *currency, int64_t tickets,
                            int64_t revenue) {
    char at[21];
    bx_format_rfc3339(minute * 60, at);
    json_t *e = json_pack("{s:s,s:I,s:I}", "minute", at, "tickets_sold", (json_int_t)tickets,
                          "revenue_cents", (json_int_t)revenue);
    if (e != NULL && currency != NULL) {
        json_object_set_new(e, "currency", json_string(currency));
    }
    return e;
}

json_t *an_render_event(const struct an_event *ev, int64_t now_s) {
    int64_t sold = 0, active = 0, created = 0, expired = 0, cancellations = 0;
    json_t *revenue = json_object();
    bool several = false;
    for (uint32_t i = 0; i < ev->n_lines; i++) {
        const struct an_line *l = &ev->lines[i];
        sold += l->sold;
        active += l->active_holds;
        created += l->holds_created;
        expired += l->holds_expired;
        cancellations += l->cancellations;
        add_currency(revenue, l->currency, l->revenue_cents);
        several = several || strcmp(l->currency, ev->lines[0].currency) != 0;
    }
    json_t *series = json_array();
    int64_t first = now_s / 60 - AN_SERIES_MINUTES + 1;
    for (uint32_t i = 0; i < ev->n_minutes; i++) {
        const struct an_minute *m = &ev->minutes[i];
        if (m->minute < first) {
            continue;
        }
        if (several) {
            json_array_append_new(
                series, minute_entry(m->minute, m->currency, m->tickets_sold, m->revenue_cents));
            continue;
        }
        /* one currency: one entry per minute */
        json_array_append_new(series,
                              minute_entry(m->minute, NULL, m->tickets_sold, m->revenue_cents));
    }
    json_t *through = json_null();
    if (ev->capacity > 0) {
        double pct = (double)sold * 100.0 / (double)ev->capacity;
        through = json_real(round(pct * 100.0) / 100.0);
    }
    return json_pack("{s:s,s:I,s:o,s:I,s:I,s:I,s:I,s:o,s:o}", "event_id", ev->id, "tickets_sold",
                     (json_int_t)sold, "revenue", revenue, "active_holds", (json_int_t)active,
                     "holds_created", (json_int_t)created, "holds_expired", (json_int_t)expired,
                     "cancellations", (json_int_t)cancellations, "sell_through", through,
                     "per_minute", series);
}

/* Seats sold in the last AN_TOP_WINDOW_MINUTES minutes (by event time). */
static int64_t recent_sales(const struct an_event *ev, int64_t from_minute) {
    int64_t n = 0;
    for (uint32_t i = ev->n_minutes; i > 0; i--) {
        const struct an_minute *m = &ev->minutes[i - 1];
        if (m->minute < from_minute) {
            break;
        }
        n += m->tickets_sold;
    }
    return n;
}

struct top {
    const struct an_event *ev;
    int64_t sold;
};

static bool top_before(const struct top *a, const struct top *b) {
    return a->sold > b->sold || (a->sold == b->sold && strcmp(a->ev->id, b->ev->id) < 0);
}

json_t *an_render_summary(int64_t now_s) {
    int64_t orders = 0, sold = 0;
    json_t *revenue = json_object();
    struct top top[AN_TOP_EVENTS];
    size_t n_top = 0;
    int64_t from = now_s / 60 - AN_TOP_WINDOW_MINUTES + 1;
    for (uint32_t e = 0; e < an_state.n_events; e++) {
        const struct an_event *ev = an_state.events[e];
        for (uint32_t i = 0; i < ev->n_lines; i++) {
            const struct an_line *l = &ev->lines[i];
            orders += l->orders - l->cancellations;
            sold += l->sold;
            add_currency(revenue, l->currency, l->revenue_cents);
        }
        struct top t = {.ev = ev, .sold = recent_sales(ev, from)};
        if (t.sold <= 0 || (n_top == AN_TOP_EVENTS && !top_before(&t, &top[n_top - 1]))) {
            continue;
        }
        size_t at = n_top < AN_TOP_EVENTS ? n_top++ : n_top - 1;
        while (at > 0 && top_before(&t, &top[at - 1])) {
            top[at] = top[at - 1];
            at--;
        }
        top[at] = t;
    }
    json_t *list = json_array();
    for (size_t i = 0; i < n_top; i++) {
        json_array_append_new(list,
                              json_pack("{s:s,s:s?,s:I}", "event_id", top[i].ev->id, "title",
                                        top[i].ev->title, "tickets_sold", (json_int_t)top[i].sold));
    }
    return json_pack("{s:I,s:I,s:o,s:o}", "orders", (json_int_t)orders, "tickets_sold",
                     (json_int_t)sold, "revenue", revenue, "top_events", list);
}
