// SPDX-License-Identifier: Apache-2.0
// The catalog's tables (versioned migrations, applied at start under the db layer's lock) and the
// demo data seeded on a first development start.
#include <stdio.h>
#include <string.h>

#include "boxoffice/base.h"
#include "boxoffice/idempotency.h"
#include "boxoffice/log.h"
#include "catalog.h"

static const struct bx_db_migration migrations[] = {
    {1, "venues, events, tiers",
     "CREATE TABLE venues (id TEXT PRIMARY KEY, name TEXT NOT NULL, address TEXT NOT NULL,"
     " city TEXT NOT NULL, country TEXT NOT NULL, timezone TEXT NOT NULL,"
     " created_at BIGINT NOT NULL);"
     "CREATE TABLE events (id TEXT PRIMARY KEY, title TEXT NOT NULL,"
     " description TEXT NOT NULL, category TEXT NOT NULL,"
     " venue_id TEXT NOT NULL REFERENCES venues(id), starts_at BIGINT NOT NULL,"
     " ends_at BIGINT NOT NULL, sales_start BIGINT, sales_end BIGINT, image_url TEXT,"
     " max_tickets_per_user BIGINT, status TEXT NOT NULL, search TEXT NOT NULL,"
     " created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,"
     " CHECK (ends_at > starts_at));"
     "CREATE INDEX events_by_start ON events (status, starts_at, id);"
     "CREATE TABLE tiers (id TEXT PRIMARY KEY, event_id TEXT NOT NULL REFERENCES events(id),"
     " name TEXT NOT NULL, price_cents BIGINT NOT NULL, currency TEXT NOT NULL,"
     " capacity BIGINT NOT NULL, max_per_order BIGINT NOT NULL, position BIGINT NOT NULL,"
     " CHECK (capacity >= 1), CHECK (price_cents >= 0));"
     "CREATE INDEX tiers_by_event ON tiers (event_id, position);" BX_IDEMPOTENCY_TABLE_SQL,
     NULL},
    {2, "change feed for booking",
     "CREATE TABLE changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL,"
     " kind TEXT NOT NULL, at BIGINT NOT NULL)",
     "CREATE TABLE changes (seq BIGSERIAL PRIMARY KEY, event_id TEXT NOT NULL,"
     " kind TEXT NOT NULL, at BIGINT NOT NULL)"},
};

enum bx_err catalog_change(struct bx_db_tx *tx, const char *event_id, const char *kind,
                           struct bx_error *err) {
    struct bx_db_value p[] = {BX_DB_S(event_id), BX_DB_S(kind), BX_DB_I(bx_now_unix_s())};
    return bx_db_exec(tx, "INSERT INTO changes (event_id, kind, at) VALUES ($1, $2, $3)", p, 3,
                      NULL, NULL, NULL, err);
}

enum bx_err catalog_migrate(struct bx_error *err) {
    return catalog.db.ops->migrate(catalog.db.ctx, migrations, BX_ARRAY_LEN(migrations), err);
}

struct demo_venue {
    const char *name, *address, *city, *country, *tz;
};

static const struct demo_venue demo_venues[] = {
    {"Royal Albert Hall", "Kensington Gore", "London", "GB", "Europe/London"},
    {"Philharmonie", "Herbert-von-Karajan-Strasse 1", "Berlin", "DE", "Europe/Berlin"},
    {"Paradiso", "Weteringschans 6-8", "Amsterdam", "NL", "Europe/Amsterdam"},
    {"Fillmore", "1805 Geary Blvd", "San Francisco", "US", "America/Los_Angeles"},
    {"Budokan", "2-3 Kitanomaru-koen", "Tokyo", "JP", "Asia/Tokyo"},
};

static const char *const demo_titles[] = {
    "Symphony No. 9",        "Midnight Jazz Session", "Indie Rock Night",  "Stand-up Showcase",
    "Chamber Music Matinee", "Electronic Sunrise",    "Opera Gala",        "Folk Festival",
    "Piano Recital",         "Hip-Hop Live",          "String Quartet",    "Comedy Club",
    "Big Band Swing",        "Choir Evening",         "Techno Marathon",   "Blues Brothers Tribute",
    "Film Score Concert",    "Ballet Highlights",     "Acoustic Sessions", "New Year's Eve Party",
};

static const char *const demo_categories[] = {"concert", "jazz", "rock", "comedy", "classical"};

struct seed {
    int done;
};

static enum bx_err seed_tx(struct bx_db_tx *tx, void *arg, struct bx_error *err) {
    struct seed *s = arg;
    struct bx_arena arena;
    bx_arena_init(&arena, 0);
    struct bx_db_rows rows;
    enum bx_err e =
        bx_db_exec(tx, "SELECT COUNT(*) FROM venues", NULL, 0, &arena, &rows, NULL, err);
    if (e != BX_OK || bx_db_cell(&rows, 0, 0)->i > 0) {
        bx_arena_reset(&arena);
        return e;
    }
    int64_t now = bx_now_unix_s();
    char venue_ids[BX_ARRAY_LEN(demo_venues)][37];
    for (size_t v = 0; v < BX_ARRAY_LEN(demo_venues) && e == BX_OK; v++) {
        const struct demo_venue *d = &demo_venues[v];
        bx_uuid7(venue_ids[v]);
        struct bx_db_value p[] = {BX_DB_S(venue_ids[v]), BX_DB_S(d->name),    BX_DB_S(d->address),
                                  BX_DB_S(d->city),      BX_DB_S(d->country), BX_DB_S(d->tz),
                                  BX_DB_I(now)};
        e = bx_db_exec(tx,
                       "INSERT INTO venues (id, name, address, city, country, timezone,"
                       " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                       p, BX_ARRAY_LEN(p), NULL, NULL, NULL, err);
    }
    for (size_t i = 0; i < BX_ARRAY_LEN(demo_titles) && e == BX_OK; i++) {
        size_t v = i % BX_ARRAY_LEN(demo_venues);
        char id[37], search[600];
        bx_uuid7(id);
        int64_t starts = (now / 86400 + 3 + 4 * (int64_t)i) * 86400 + 19 * 3600; /* 19:00 UTC */
        snprintf(search, sizeof search, "%s %s %s", demo_titles[i], demo_venues[v].name,
                 demo_venues[v].city);
        for (char *c = search; *c; c++) {
            *c = (char)((*c >= 'A' && *c <= 'Z') ? *c + 32 : *c);
        }
        struct bx_db_value p[] = {BX_DB_S(id),
                                  BX_DB_S(demo_titles[i]),
                                  BX_DB_S("A demonstration event seeded on the first start."),
                                  BX_DB_S(demo_categories[i % BX_ARRAY_LEN(demo_categories)]),
                                  BX_DB_S(venue_ids[v]),
                                  BX_DB_I(starts),
                                  BX_DB_I(starts + 3 * 3600),
                                  BX_DB_I(now),
                                  BX_DB_S(search),
                                  BX_DB_I(now)};
        e = bx_db_exec(tx,
                       "INSERT INTO events (id, title, description, category, venue_id,"
                       " starts_at, ends_at, sales_start, sales_end, image_url,"
                       " max_tickets_per_user, status, search, created_at, updated_at)"
                       " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, NULL, 10, 'published',"
                       " $9, $10, $10)",
                       p, BX_ARRAY_LEN(p), NULL, NULL, NULL, err);
        static const struct {
            const char *name;
            int64_t price, capacity;
        } tiers[] = {{"Standard", 4500, 500}, {"Premium", 9500, 100}, {"VIP", 25000, 20}};
        for (size_t t = 0; t < BX_ARRAY_LEN(tiers) && e == BX_OK; t++) {
            char tid[37];
            bx_uuid7(tid);
            struct bx_db_value tp[] = {BX_DB_S(tid),
                                       BX_DB_S(id),
                                       BX_DB_S(tiers[t].name),
                                       BX_DB_I(tiers[t].price),
                                       BX_DB_I(tiers[t].capacity),
                                       BX_DB_I((int64_t)t)};
            e = bx_db_exec(tx,
                           "INSERT INTO tiers (id, event_id, name, price_cents, currency,"
                           " capacity, max_per_order, position)"
                           " VALUES ($1, $2, $3, $4, 'EUR', $5, 10, $6)",
                           tp, BX_ARRAY_LEN(tp), NULL, NULL, NULL, err);
        }
    }
    if (e == BX_OK) {
        s->done = 1;
    }
    bx_arena_reset(&arena);
    return e;
}

enum bx_err catalog_seed_demo(struct bx_error *err) {
    struct seed s = {0};
    enum bx_err e = bx_db_run(&catalog.db, BX_DB_WRITE, seed_tx, &s, err);
    if (e == BX_OK && s.done) {
        bx_info("seeded the demo catalog: %zu venues, %zu events", BX_ARRAY_LEN(demo_venues),
                BX_ARRAY_LEN(demo_titles));
    }
    return e;
}
