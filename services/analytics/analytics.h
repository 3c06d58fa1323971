// SPDX-License-Identifier: Apache-2.0
// The analytics service: real-time sales metrics from topic booking-events. One consumer thread
// reads the topic in a consumer group of this replica's own, deduplicates by message id against
// the state database, folds each message into in-memory aggregates and checkpoints the changed
// aggregates, the seen ids and the consumed offsets in one transaction of the state database
// (bx_db), so a restart resumes exactly where the last commit left off: each message counts once.
// Invariants:
//  - the aggregates in memory are the state database's as of its last commit, plus the messages
//    of the open transaction; when a transaction fails, memory is reloaded from the database and
//    the consumer seeks back to the committed offsets;
//  - a message is applied only when its id is not in the seen set (the ids of the state
//    database's table seen, plus those of the open checkpoint), and only once per (partition,
//    offset): offsets below the checkpoint are skipped;
//  - the per-partition watermark (the largest event time seen) is checkpointed with the offset,
//    so replays classify late messages exactly as the first run did.
// Threads: HTTP workers (read under the state's read lock), the consumer (the only writer of the
// aggregates), the catalog fetcher (titles and capacities) and the stream pusher (SSE).
#ifndef BOXOFFICE_ANALYTICS_H
#define BOXOFFICE_ANALYTICS_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "boxoffice/db.h"
#include "boxoffice/http.h"

#define AN_ID_MAX             65 /* ids: 1-64 of [0-9A-Za-z_-] (bx_valid_id), plus the NUL */
#define AN_MESSAGE_MAX_BYTES  4096
#define AN_QUANTITY_MAX       100000
#define AN_AMOUNT_MAX         1000000000000LL /* cents in one message */
#define AN_JSON_DEPTH_MAX     32
#define AN_EVENTS_MAX         (1 << 20) /* events tracked; messages past it are malformed */
#define AN_LINES_MAX          256       /* (tier, currency) lines per event */
#define AN_SERIES_MINUTES     (48 * 60) /* the per-minute series covers the last 48 h */
#define AN_MINUTES_MAX        (AN_SERIES_MINUTES * 4) /* (minute, currency) entries per event */
#define AN_TOP_EVENTS         10
#define AN_TOP_WINDOW_MINUTES 60
#define AN_PARTITIONS_MAX     1024
#define AN_POLL_BATCH         1000 /* messages per poll; under BX_DB_ROWS_MAX (RETURNING) */
#define AN_FUTURE_SLACK_MS    (5 * 60 * 1000) /* a watermark never runs ahead of now by more */
#define AN_CATALOG_TIMEOUT_MS 2000
#define AN_SEEN_IDS_MAX_BYTES (64 * 1024 * 1024) /* new ids of one checkpoint, as text */
#define AN_TITLE_MAX_BYTES    512

struct analytics {
    /* configuration (filled by bx_config_load before init) */
    const char *db_url;
    const char *kafka;
    const char *topic;
    const char *group;
    const char *assignment;
    const char *catalog_url;
    int64_t session_timeout_ms;
    int64_t lateness_s;
    int64_t batch_max;
    int64_t batch_ms;
    int64_t dedup_retention_s;
    int64_t dedup_max;
    int64_t catalog_refresh_s;
    int64_t sse_clients_max;
    int64_t sse_interval_ms;
    int64_t sse_heartbeat_s;
    int64_t lease_s;
    /* state */
    char instance[160]; /* this process, in the lease: host:pid:uuid */
    char group_id[256]; /* group, or "analytics-<hostname>" */
    struct bx_db db;
    bool postgres; /* the SQL dialect of the bulk statements */
    _Atomic bool loaded;
};

extern struct analytics analytics;

/* ---- message.c: one booking-events message, validated ---- */

enum an_type {
    AN_HOLD_CREATED,
    AN_HOLD_RELEASED,
    AN_HOLD_EXPIRED,
    AN_ORDER_CONFIRMED,
    AN_ORDER_CANCELLED,
};

struct an_msg {
    char id[AN_ID_MAX];
    enum an_type type;
    int64_t occurred_ms; /* event time, Unix milliseconds */
    char event_id[AN_ID_MAX];
    char tier_id[AN_ID_MAX];
    int64_t quantity;
    int64_t amount_cents;
    char currency[4];
};

/* Parses and checks one message value (docs/events.md, version 1). False with *why set (a static
 * string) when it is malformed. Unknown members are ignored (compatible additions). */
bool an_msg_parse(const char *value, size_t len, struct an_msg *out, const char **why);

/* ---- seen.c: the ids already counted, in memory (the state database has them too) ---- */

enum an_seen_result { AN_SEEN_NEW, AN_SEEN_BEFORE, AN_SEEN_FULL };

void an_seen_init(size_t max_ids);
void an_seen_clear(void);
/* Records id as seen in hour (Unix hours): AN_SEEN_NEW the first time, AN_SEEN_BEFORE after;
 * AN_SEEN_FULL when memory ran out (the caller fails the transaction and reloads). */
enum an_seen_result an_seen_add(const char *id, uint32_t hour);
/* Forgets ids first seen before min_hour. */
void an_seen_prune(uint32_t min_hour);
size_t an_seen_count(void);

/* ---- state.c: the aggregates, in memory ---- */

/* One (tier, currency) line of an event: counts over the deduplicated stream. */
struct an_line {
    char tier_id[AN_ID_MAX];
    char currency[4];
    bool dirty;                  /* changed since the last checkpoint */
    int64_t sold, revenue_cents; /* net of cancellations */
    int64_t active_holds;        /* seats held: + created, - released, expired, confirmed */
    int64_t holds_created, holds_expired, holds_released; /* holds */
    int64_t orders, cancellations;                        /* orders confirmed, cancelled */
};

/* One (minute, currency) entry of an event's series: net seats and revenue of that minute. */
struct an_minute {
    int64_t minute; /* Unix time / 60 */
    char currency[4];
    bool dirty;
    int64_t tickets_sold, revenue_cents;
};

struct an_event {
    char id[AN_ID_MAX];
    struct an_line *lines;
    uint32_t n_lines, cap_lines;
    struct an_minute *minutes; /* sorted by (minute, currency) */
    uint32_t n_minutes, cap_minutes;
    bool dirty; /* on the dirty list */
    struct an_event *next_dirty;
    /* change order, for the stream: newest first; seq is the last change's number */
    uint64_t seq;
    uint64_t touched;
    struct an_event *newer, *older;
    /* from catalog (the catalog thread writes these under the write lock) */
    char *title;               /* NULL: not known yet */
    int64_t capacity;          /* seats over all tiers; -1: not known */
    int64_t catalog_ms;        /* when last fetched (monotonic ms), 0: never */
    int64_t catalog_retry_ms;  /* not before this (monotonic ms) */
    uint32_t catalog_failures; /* in a row, for the backoff */
    /* the rendered JSON of seq (for the stream), malloc'd */
    char *json;
    size_t json_len;
    uint64_t json_seq;
};

struct an_part {
    bool known;          /* a checkpoint exists */
    bool dirty;          /* changed since the last checkpoint */
    bool assigned;       /* this consumer holds it now */
    int64_t next_offset; /* the first offset not yet folded in */
    int64_t max_event_ms;
};

/* Counters kept in the state database with the aggregates (exact across restarts). */
struct an_counters {
    int64_t consumed;   /* offsets processed, every message */
    int64_t applied;    /* messages folded in */
    int64_t duplicates; /* ids already seen */
    int64_t malformed;  /* skipped: not a valid message */
    int64_t late;       /* beyond the lateness: in the totals, not in the series */
    int64_t seen_rows;  /* rows written to table seen (their keys) */
};

struct an_state {
    pthread_rwlock_t lock;
    struct an_event **events;
    uint32_t n_events, cap_events;
    uint32_t *index; /* open addressing: event number + 1, 0 empty */
    uint32_t index_slots;
    struct an_event *newest, *oldest;
    uint64_t seq;         /* the last change number issued */
    uint64_t summary_seq; /* the change number of the totals */
    uint64_t round;       /* apply rounds, for touched */
    struct an_event *dirty_head;
    struct an_part parts[AN_PARTITIONS_MAX];
    struct an_counters counters;
    bool counters_dirty;
    /* the rendered summary of summary_seq (for the stream), malloc'd */
    char *summary_json;
    size_t summary_len;
    uint64_t summary_json_seq;
};

extern struct an_state an_state;

void an_state_init(void);
/* Frees every event (write lock held, or before threads start). Change numbers keep rising. */
void an_state_clear(void);
/* The event, created when create (NULL when absent, or when AN_EVENTS_MAX are tracked). */
struct an_event *an_state_event(const char *id, bool create);
/* Starts an apply round: events changed in it get one new change number. */
void an_state_round(void);
/* Folds one deduplicated message in (write lock held). partition p's watermark decides whether
 * it is late. False when it cannot be held (a limit): the caller counts it malformed. */
bool an_state_apply(const struct an_msg *m, int32_t p, int64_t now_ms);
/* Marks the event, or the totals, changed for readers (write lock held, in a round). */
void an_state_touch(struct an_event *ev);
void an_state_touch_summary(void);
/* Line and minute setters for loading from the database (no change numbers). */
struct an_line *an_event_line(struct an_event *ev, const char *tier_id, const char *currency);
struct an_minute *an_event_minute(struct an_event *ev, int64_t minute, const char *currency);
/* Drops series entries older than min_minute (write lock held); they are not dirty. */
void an_state_prune_minutes(int64_t min_minute);

/* JSON as the API serves it (read lock held). now_s: the clock for the windows. */
json_t *an_render_event(const struct an_event *ev, int64_t now_s);
json_t *an_render_summary(int64_t now_s);

/* ---- store.c: the state database ---- */

enum bx_err an_store_open(struct bx_error *err);
void an_store_close(void);
/* Reads the aggregates, offsets and counters into an_state (write lock held) and the ids within
 * the retention into the seen set. */
enum bx_err an_store_load(struct bx_error *err);
/* The consumer's checkpoint transaction. */
enum bx_err an_store_begin(struct bx_db_tx **tx, struct bx_error *err);
/* Writes into tx the new ids (comma-separated, ids_len bytes; NUL-terminated after) and what is
 * dirty in an_state: lines, minutes, offsets, counters. */
enum bx_err an_store_write(struct bx_db_tx *tx, char *ids, size_t ids_len, struct bx_error *err);
/* After a commit: nothing is dirty any more. */
void an_store_written(void);
/* The checkpointed offsets of the topic (part, next_offset, max_event_ms). */
enum bx_err an_store_offsets(struct bx_arena *arena, struct bx_db_rows *rows, struct bx_error *err);
/* The state database has one writer: the holder of the lease in table owner. Takes or renews
 * it; *held false (BX_CONFLICT, err names the holder) when another live process has it. Every
 * checkpoint renews it too and fails with BX_CONFLICT when it was lost. */
enum bx_err an_store_lease(bool *held, struct bx_error *err);
/* Gives the lease up (at stop), so a successor need not wait for it to run out. */
void an_store_release(void);
/* Deletes seen ids older than the retention and series entries older than the window (bounded
 * per call); returns the rows deleted. */
int64_t an_store_prune(int64_t now_s);

/* ---- consumer.c ---- */

enum bx_err an_consumer_start(struct bx_error *err);
void an_consumer_stop(void);
/* True while the consumer runs (or was never configured). */
bool an_consumer_healthy(char *why, size_t why_size);

/* ---- catalog.c: titles and capacities ---- */

enum bx_err an_catalog_start(struct bx_error *err);
void an_catalog_stop(void);
/* A new event appeared: fetch it soon. */
void an_catalog_kick(void);

/* ---- stream.c: Server-Sent Events ---- */

enum bx_err an_stream_start(struct bx_error *err);
/* Ends every stream (on stop); waits (bounded) until they are gone. */
void an_stream_stop(void);
enum bx_err an_stream_get(struct bx_req *req);

/* ---- api.c ---- */

enum bx_err an_summary_get(struct bx_req *req);
enum bx_err an_event_get(struct bx_req *req);

#endif
