// SPDX-License-Identifier: Apache-2.0
// The booking service over HTTP on a real database, against a real catalog: holds with every
// error of API.md and its check order, Idempotency-Key on holds and orders (including a concurrent
// double submit), owners and admins, orders listed with cursors, cancellation putting seats back,
// availability, hold expiry by the sweeper, catalog's cancel and tier edits reaching booking, no
// oversell under a race, and a confirmed order surviving a SIGKILL.
// Every call goes through the gateway (boxoffice-frontend), as clients' calls do.
//   test_booking BOOKING-BIN CATALOG-BIN FRONTEND-BIN sqlite
//   test_booking BOOKING-BIN CATALOG-BIN FRONTEND-BIN postgres PGURL
// On PostgreSQL booking gets a database of its own next to catalog's: both services have tables
// named events and idempotency, and both record their migrations in schema_migrations.
#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "boxoffice/auth.h"
#include "boxoffice/base.h"
#include "boxoffice/json.h"
#include "harness.h"

#define HOLD_TTL_LONG_S       600 /* phase 1: holds outlive every check made on them */
#define HOLD_TTL_SHORT_S      3   /* phase 2: the expiry cases */
#define PRICE_STANDARD_CENTS  4500
#define PRICE_VIP_CENTS       12000
#define MAX_PER_ORDER         4
#define MAX_PER_USER          6
#define RACE_THREADS          20
#define RACE_CAPACITY         5
#define DOUBLE_SUBMIT_THREADS 8
#define DOUBLE_SUBMIT_ROUNDS  3
#define WAIT_MS               20000 /* bound on waiting for the sweeper or the catalog follower */
#define POLL_MS               100
#define PAGES_MAX             50
#define STD                   0 /* tier indexes of struct event_ids */
#define VIP                   1

static uint16_t port, catalog_port, booking_port;
static char admin[1024], customer_a[1024], customer_b[1024], staff[1024];
static char venue_id[64];

static struct harness_res call_h(const char *method, const char *path, const char *token,
                                 const char *header, const char *body) {
    return harness_call(port, method, path, token, header, body);
}

static struct harness_res call(const char *method, const char *path, const char *token,
                               const char *body) {
    return call_h(method, path, token, NULL, body);
}

static void mint(const struct bx_key *key, enum bx_role role, const char *sub, char *out,
                 size_t size) {
    struct bx_claims c = {.role = role, .iat = bx_now_unix_s(), .exp = bx_now_unix_s() + 3600};
    bx_strlcpy(c.sub, sub, sizeof c.sub);
    bx_uuid7(c.jti);
    BX_ASSERT(bx_token_sign(key, &c, out, size) == BX_OK);
}

static bool str_is(json_t *o, const char *key, const char *want) {
    const char *s = harness_str(o, key);
    return s != NULL && want != NULL && strcmp(s, want) == 0;
}

static long long int_of(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

static void copy_id(char *out, json_t *o) {
    const char *id = harness_str(o, "id");
    bx_strlcpy(out, id ? id : "", 64);
}

/* An RFC 3339 time in UTC; *at_out (may be NULL) gets it as Unix seconds. */
static bool utc_time(json_t *o, const char *key, int64_t *at_out) {
    const char *s = harness_str(o, key);
    int64_t at = 0;
    bool ok =
        s != NULL && s[0] != '\0' && s[strlen(s) - 1] == 'Z' && bx_time_parse_rfc3339(s, &at) == 0;
    if (at_out != NULL) {
        *at_out = at;
    }
    return ok;
}

/* ---- catalog set-up ---- */

struct event_ids {
    char id[64];
    char tier[2][64]; /* STD, VIP */
};

/* Creates an event with tiers Standard (cap_std) and VIP (cap_vip), both at most MAX_PER_ORDER per
 * order; sales_start NULL: on sale at once; per_user 0: no cap. Published when publish. */
static bool make_event(struct event_ids *ev, const char *title, const char *sales_start,
                       int per_user, int cap_std, int cap_vip, bool publish) {
    char ss[80] = "", cap[64] = "", body[2048];
    if (sales_start != NULL) {
        snprintf(ss, sizeof ss, ",\"sales_start\":\"%s\"", sales_start);
    }
    if (per_user > 0) {
        snprintf(cap, sizeof cap, ",\"max_tickets_per_user\":%d", per_user);
    }
    snprintf(body, sizeof body,
             "{\"title\":\"%s\",\"category\":\"rock\",\"venue_id\":\"%s\","
             "\"starts_at\":\"2030-06-01T19:00:00Z\",\"ends_at\":\"2030-06-01T23:00:00Z\"%s%s,"
             "\"tiers\":[{\"name\":\"Standard\",\"price_cents\":%d,\"currency\":\"EUR\","
             "\"capacity\":%d,\"max_per_order\":%d},{\"name\":\"VIP\",\"price_cents\":%d,"
             "\"currency\":\"EUR\",\"capacity\":%d,\"max_per_order\":%d}]}",
             title, venue_id, ss, cap, PRICE_STANDARD_CENTS, cap_std, MAX_PER_ORDER,
             PRICE_VIP_CENTS, cap_vip, MAX_PER_ORDER);
    memset(ev, 0, sizeof *ev);
    struct harness_res r = call("POST", "/api/events", admin, body);
    bool ok = r.status == 201;
    copy_id(ev->id, r.body);
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(r.body, "tiers"), i, t) {
        int k = str_is(t, "name", "VIP") ? VIP : STD;
        copy_id(ev->tier[k], t);
    }
    harness_res_drop(&r);
    ok = ok && ev->id[0] && ev->tier[STD][0] && ev->tier[VIP][0];
    if (ok && publish) {
        char path[128];
        snprintf(path, sizeof path, "/api/events/%s/publish", ev->id);
        r = call("POST", path, admin, NULL);
        ok = r.status == 200;
        harness_res_drop(&r);
    }
    return ok;
}

static bool cancel_event(const struct event_ids *ev) {
    char path[128];
    snprintf(path, sizeof path, "/api/events/%s/cancel", ev->id);
    struct harness_res r = call("POST", path, admin, NULL);
    bool ok = r.status == 200 && str_is(r.body, "status", "cancelled");
    harness_res_drop(&r);
    return ok;
}

static struct event_ids main_ev, draft_ev, future_ev;

static bool setup(void) {
    struct harness_res r =
        call("POST", "/api/venues", admin,
             "{\"name\":\"Paradiso\",\"address\":\"Weteringschans 6\",\"city\":\"Amsterdam\","
             "\"country\":\"NL\",\"timezone\":\"Europe/Amsterdam\"}");
    bool ok = r.status == 201;
    copy_id(venue_id, r.body);
    harness_res_drop(&r);
    ok = ok && make_event(&main_ev, "Main Night", NULL, MAX_PER_USER, 5, 3, true);
    ok = ok && make_event(&draft_ev, "Draft Night", NULL, MAX_PER_USER, 5, 3, false);
    /* per-user cap 2 < per-order 4: a quantity of 3 passes one limit and fails the other */
    ok = ok && make_event(&future_ev, "Future Night", "2029-01-01T10:00:00Z", 2, 5, 3, true);
    CHECK(ok, "catalog set-up: a venue, a published event, a draft, an event not yet on sale");
    return ok;
}

/* ---- booking helpers ---- */

static struct harness_res hold_k(const char *token, const char *key, const char *event_id,
                                 const char *tier_id, long quantity) {
    char body[400], header[200];
    snprintf(body, sizeof body, "{\"event_id\":\"%s\",\"tier_id\":\"%s\",\"quantity\":%ld}",
             event_id, tier_id, quantity);
    if (key != NULL) {
        snprintf(header, sizeof header, "Idempotency-Key: %s", key);
    }
    return call_h("POST", "/api/holds", token, key ? header : NULL, body);
}

static struct harness_res hold(const char *token, const struct event_ids *ev, int tier,
                               long quantity) {
    return hold_k(token, NULL, ev->id, ev->tier[tier], quantity);
}

/* A hold that must succeed; its id in id_out ("" when it did not). */
static bool hold_ok(const char *token, const struct event_ids *ev, int tier, long quantity,
                    char *id_out) {
    struct harness_res r = hold(token, ev, tier, quantity);
    bool ok = r.status == 201 && str_is(r.body, "status", "active");
    bx_strlcpy(id_out, ok ? harness_str(r.body, "id") : "", 64);
    harness_res_drop(&r);
    return ok;
}

static struct harness_res order(const char *token, const char *key, const char *hold_id) {
    char body[200], header[200];
    snprintf(body, sizeof body, "{\"hold_id\":\"%s\"}", hold_id);
    snprintf(header, sizeof header, "Idempotency-Key: %s", key);
    return call_h("POST", "/api/orders", token, header, body);
}

static struct harness_res get(const char *kind, const char *id, const char *token) {
    char path[200];
    snprintf(path, sizeof path, "/api/%s/%s", kind, id);
    return call("GET", path, token, NULL);
}

static long del_hold(const char *token, const char *id) {
    char path[200];
    snprintf(path, sizeof path, "/api/holds/%s", id);
    struct harness_res r = call("DELETE", path, token, NULL);
    long st = r.status;
    harness_res_drop(&r);
    return st;
}

static struct harness_res cancel_order(const char *token, const char *id) {
    char path[200];
    snprintf(path, sizeof path, "/api/orders/%s/cancel", id);
    return call("POST", path, token, NULL);
}

/* The Hold of API.md, exactly its eight fields. */
static bool hold_shape(json_t *h, const struct event_ids *ev, int tier, long long quantity,
                       const char *status) {
    long long price = tier == VIP ? PRICE_VIP_CENTS : PRICE_STANDARD_CENTS;
    const char *id = harness_str(h, "id");
    return json_object_size(h) == 8 && id != NULL && bx_valid_id(id) &&
           str_is(h, "event_id", ev->id) && str_is(h, "tier_id", ev->tier[tier]) &&
           int_of(h, "quantity") == quantity && int_of(h, "amount_cents") == price * quantity &&
           str_is(h, "currency", "EUR") && utc_time(h, "expires_at", NULL) &&
           str_is(h, "status", status);
}

/* The Order of API.md, exactly its eleven fields, with quantity tickets {id, status}. */
static bool order_shape(json_t *o, const char *hold_id, const char *user_id,
                        const struct event_ids *ev, int tier, long long quantity,
                        const char *status) {
    long long price = tier == VIP ? PRICE_VIP_CENTS : PRICE_STANDARD_CENTS;
    json_t *tickets = json_object_get(o, "tickets");
    const char *id = harness_str(o, "id");
    bool ok = json_object_size(o) == 11 && id != NULL && bx_valid_id(id) &&
              str_is(o, "hold_id", hold_id) && str_is(o, "user_id", user_id) &&
              str_is(o, "event_id", ev->id) && str_is(o, "tier_id", ev->tier[tier]) &&
              int_of(o, "quantity") == quantity && int_of(o, "amount_cents") == price * quantity &&
              str_is(o, "currency", "EUR") && str_is(o, "status", status) &&
              utc_time(o, "created_at", NULL) && json_is_array(tickets) &&
              (long long)json_array_size(tickets) == quantity;
    size_t i, j;
    json_t *t, *u;
    json_array_foreach(ok ? tickets : NULL, i, t) {
        const char *ts = harness_str(t, "status");
        bool revoked = ts != NULL && strcmp(ts, "revoked") == 0;
        ok = ok && json_object_size(t) == 2 && harness_str(t, "id") != NULL && ts != NULL &&
             (strcmp(status, "cancelled") == 0
                  ? revoked
                  : strcmp(ts, "pending") == 0 || strcmp(ts, "ready") == 0);
        json_array_foreach(tickets, j, u) {
            ok = ok && (i == j || !str_is(u, "id", harness_str(t, "id"))); /* distinct ids */
        }
    }
    return ok;
}

struct seats {
    long long capacity, sold, held, available;
    bool ok; /* 200, the tier listed, the shape of API.md */
};

/* Availability of one tier, read anonymously. */
static struct seats seats_of(const struct event_ids *ev, int tier) {
    char path[200];
    snprintf(path, sizeof path, "/api/events/%s/availability", ev->id);
    struct harness_res r = call("GET", path, NULL, NULL);
    struct seats s = {.capacity = -1};
    size_t i;
    json_t *t;
    json_array_foreach(r.status == 200 ? json_object_get(r.body, "tiers") : NULL, i, t) {
        if (str_is(t, "tier_id", ev->tier[tier])) {
            s = (struct seats){int_of(t, "capacity"), int_of(t, "sold"), int_of(t, "held"),
                               int_of(t, "available"), true};
        }
    }
    harness_res_drop(&r);
    return s;
}

static bool seats_are(const struct event_ids *ev, int tier, long long capacity, long long sold,
                      long long held) {
    struct seats s = seats_of(ev, tier);
    return s.ok && s.capacity == capacity && s.sold == sold && s.held == held &&
           s.available == capacity - sold - held;
}

/* Polls availability (bounded) until the tier shows these counts. */
static bool wait_seats(const struct event_ids *ev, int tier, long long capacity, long long sold,
                       long long held) {
    int64_t deadline = bx_now_mono_ms() + WAIT_MS;
    while (!seats_are(ev, tier, capacity, sold, held)) {
        if (bx_now_mono_ms() >= deadline) {
            return false;
        }
        usleep(POLL_MS * 1000);
    }
    return true;
}

/* Polls GET /api/{kind}/{id} (bounded) until its status is want. */
static bool wait_status(const char *kind, const char *id, const char *token, const char *want) {
    int64_t deadline = bx_now_mono_ms() + WAIT_MS;
    for (;;) {
        struct harness_res r = get(kind, id, token);
        bool ok = r.status == 200 && str_is(r.body, "status", want);
        harness_res_drop(&r);
        if (ok) {
            return true;
        }
        if (bx_now_mono_ms() >= deadline) {
            return false;
        }
        usleep(POLL_MS * 1000);
    }
}

/* How many of the caller's orders (first 100) are for hold_id; -1 when the list failed. */
static int orders_for_hold(const char *token, const char *hold_id) {
    struct harness_res r = call("GET", "/api/orders?limit=100", token, NULL);
    int n = r.status == 200 ? 0 : -1;
    size_t i;
    json_t *o;
    json_array_foreach(n == 0 ? json_object_get(r.body, "items") : NULL, i, o) {
        n += str_is(o, "hold_id", hold_id);
    }
    harness_res_drop(&r);
    return n;
}

/* ---- POST /api/holds: every error, in API.md's order ---- */

static void test_hold_errors(void) {
    char body[600];
    snprintf(body, sizeof body, "{\"event_id\":\"%s\",\"tier_id\":\"%s\",\"quantity\":1}",
             main_ev.id, main_ev.tier[STD]);
    struct harness_res r = call("POST", "/api/holds", NULL, body);
    CHECK(harness_err_is(&r, 401, "unauthorized", NULL), "hold without a token -> 401");
    harness_res_drop(&r);
    r = call("POST", "/api/holds", "not-a-token", body);
    CHECK(harness_err_is(&r, 401, "unauthorized", NULL), "hold with a forged token -> 401");
    harness_res_drop(&r);

    r = call("POST", "/api/holds", customer_a, "{\"event_id\":");
    CHECK(harness_err_is(&r, 400, "invalid_json", NULL), "truncated JSON -> 400 invalid_json");
    harness_res_drop(&r);
    snprintf(body, sizeof body,
             "{\"event_id\":\"%s\",\"event_id\":\"%s\",\"tier_id\":\"%s\",\"quantity\":1}",
             main_ev.id, main_ev.id, main_ev.tier[STD]);
    r = call("POST", "/api/holds", customer_a, body);
    CHECK(harness_err_is(&r, 400, "invalid_json", NULL), "duplicate member -> 400 invalid_json");
    harness_res_drop(&r);
    r = call("POST", "/api/holds", customer_a, "[1,2]");
    CHECK(harness_err_is(&r, 400, "invalid_json", NULL), "array body -> 400 invalid_json");
    harness_res_drop(&r);

    snprintf(body, sizeof body, "{\"event_id\":\"%s\",\"tier_id\":\"%s\"}", main_ev.id,
             main_ev.tier[STD]);
    r = call("POST", "/api/holds", customer_a, body);
    CHECK(harness_err_is(&r, 422, "invalid_field", "quantity"), "missing quantity -> 422");
    harness_res_drop(&r);
    snprintf(body, sizeof body, "{\"tier_id\":\"%s\",\"quantity\":1}", main_ev.tier[STD]);
    r = call("POST", "/api/holds", customer_a, body);
    CHECK(harness_err_is(&r, 422, "invalid_field", "event_id"), "missing event_id -> 422");
    harness_res_drop(&r);
    snprintf(body, sizeof body,
             "{\"event_id\":\"%s\",\"tier_id\":\"%s\",\"quantity\":1,\"seat\":\"A1\"}", main_ev.id,
             main_ev.tier[STD]);
    r = call("POST", "/api/holds", customer_a, body);
    CHECK(harness_err_is(&r, 422, "invalid_field", "seat"), "unknown field -> 422 naming it");
    harness_res_drop(&r);
    const char *bad_quantities[] = {"0", "-1", "\"2\"", "1.5", "null"};
    for (size_t i = 0; i < BX_ARRAY_LEN(bad_quantities); i++) {
        snprintf(body, sizeof body, "{\"event_id\":\"%s\",\"tier_id\":\"%s\",\"quantity\":%s}",
                 main_ev.id, main_ev.tier[STD], bad_quantities[i]);
        r = call("POST", "/api/holds", customer_a, body);
        CHECK(harness_err_is(&r, 422, "invalid_field", "quantity"), "quantity %s -> 422 quantity",
              bad_quantities[i]);
        harness_res_drop(&r);
    }
    r = hold_k(customer_a, NULL, "no-such-event", main_ev.tier[STD], 0);
    CHECK(harness_err_is(&r, 422, "invalid_field", "quantity"),
          "fields come first: quantity 0 for an unknown event -> 422, not 404");
    harness_res_drop(&r);

    r = hold_k(customer_a, NULL, "no-such-event", main_ev.tier[STD], 1);
    CHECK(harness_err_is(&r, 404, "not_found", NULL), "unknown event -> 404");
    harness_res_drop(&r);
    r = hold_k(customer_a, NULL, main_ev.id, "no-such-tier", 1);
    CHECK(harness_err_is(&r, 404, "not_found", NULL), "unknown tier -> 404");
    harness_res_drop(&r);
    r = hold_k(customer_a, NULL, main_ev.id, draft_ev.tier[STD], 1);
    CHECK(harness_err_is(&r, 404, "not_found", NULL), "another event's tier -> 404");
    harness_res_drop(&r);
    r = hold(customer_a, &draft_ev, STD, 1);
    CHECK(harness_err_is(&r, 404, "not_found", NULL), "a draft event -> 404");
    harness_res_drop(&r);
    r = hold_k(customer_a, NULL, main_ev.id, "no-such-tier", 50);
    CHECK(harness_err_is(&r, 404, "not_found", NULL),
          "existence before limits: 50 seats of an unknown tier -> 404");
    harness_res_drop(&r);

    r = hold(customer_a, &main_ev, STD, MAX_PER_ORDER + 1);
    CHECK(harness_err_is(&r, 422, "limit_exceeded", NULL), "over max_per_order -> 422");
    harness_res_drop(&r);
    r = hold(customer_a, &main_ev, STD, 9999);
    CHECK(harness_err_is(&r, 422, "limit_exceeded", NULL), "9999 seats -> 422 limit_exceeded");
    harness_res_drop(&r);

    r = hold(customer_a, &future_ev, STD, 1);
    CHECK(harness_err_is(&r, 409, "not_on_sale", NULL), "sales_start in the future -> 409");
    harness_res_drop(&r);
    r = hold(customer_a, &future_ev, STD, MAX_PER_ORDER + 1);
    CHECK(harness_err_is(&r, 422, "limit_exceeded", NULL),
          "limits before on-sale: over max_per_order and not on sale -> 422");
    harness_res_drop(&r);
    r = hold(customer_a, &future_ev, STD, 3);
    CHECK(harness_err_is(&r, 422, "limit_exceeded", NULL),
          "limits before on-sale: over the per-user cap (2) and not on sale -> 422");
    harness_res_drop(&r);
    CHECK(seats_are(&main_ev, STD, 5, 0, 0) && seats_are(&future_ev, STD, 5, 0, 0),
          "refused holds took no seats");
}

/* ---- holds: create, read, release, Idempotency-Key, sold out ---- */

static void test_holds(void) {
    struct harness_res r = hold(customer_a, &main_ev, STD, 2);
    int64_t expires = 0, now = bx_now_unix_s();
    char h1[64];
    copy_id(h1, r.body);
    CHECK(r.status == 201 && hold_shape(r.body, &main_ev, STD, 2, "active") &&
              utc_time(r.body, "expires_at", &expires) && expires > now &&
              expires <= now + HOLD_TTL_LONG_S + 5,
          "hold 2 -> 201 Hold with exactly API.md's fields, amount = price x quantity, "
          "expires_at within the TTL");
    harness_res_drop(&r);
    CHECK(seats_are(&main_ev, STD, 5, 0, 2), "availability: 2 held, 3 available");

    r = get("holds", h1, customer_a);
    CHECK(r.status == 200 && hold_shape(r.body, &main_ev, STD, 2, "active") &&
              str_is(r.body, "id", h1),
          "owner reads the hold -> 200");
    harness_res_drop(&r);
    r = get("holds", h1, customer_b);
    CHECK(harness_err_is(&r, 404, "not_found", NULL), "another customer's hold -> 404");
    harness_res_drop(&r);
    r = get("holds", h1, NULL);
    CHECK(harness_err_is(&r, 401, "unauthorized", NULL), "reading a hold without a token -> 401");
    harness_res_drop(&r);
    r = get("holds", "no-such-hold", customer_a);
    CHECK(harness_err_is(&r, 404, "not_found", NULL), "unknown hold -> 404");
    harness_res_drop(&r);
    r = get("holds", "%FF%FE", customer_a);
    CHECK(harness_err_is(&r, 404, "not_found", NULL), "an id that is not ours -> 404");
    harness_res_drop(&r);

    CHECK(del_hold(customer_b, h1) == 404, "another customer cannot release it -> 404");
    CHECK(seats_are(&main_ev, STD, 5, 0, 2), "and the seats stay held");
    CHECK(del_hold(NULL, h1) == 401, "releasing without a token -> 401");
    CHECK(del_hold(customer_a, h1) == 204, "owner releases -> 204");
    CHECK(seats_are(&main_ev, STD, 5, 0, 0), "the seats are back: 5 available");
    r = get("holds", h1, customer_a);
    CHECK(r.status == 200 && str_is(r.body, "status", "released"), "the hold shows released");
    harness_res_drop(&r);
    CHECK(del_hold(customer_a, h1) == 204, "releasing again -> 204 (already released)");
    CHECK(seats_are(&main_ev, STD, 5, 0, 0), "and gives nothing back twice");

    /* Idempotency-Key on holds, scoped to the caller */
    r = hold_k(customer_a, "hold-key-1", main_ev.id, main_ev.tier[STD], 1);
    char k1[64];
    copy_id(k1, r.body);
    CHECK(r.status == 201 && k1[0], "hold with an Idempotency-Key -> 201");
    harness_res_drop(&r);
    r = hold_k(customer_a, "hold-key-1", main_ev.id, main_ev.tier[STD], 1);
    CHECK(r.status == 201 && str_is(r.body, "id", k1), "same key, same body -> the same hold");
    harness_res_drop(&r);
    CHECK(seats_are(&main_ev, STD, 5, 0, 1), "and one seat held, not two");
    r = hold_k(customer_a, "hold-key-1", main_ev.id, main_ev.tier[STD], 2);
    CHECK(harness_err_is(&r, 422, "idempotency_mismatch", NULL),
          "same key, other body -> 422 idempotency_mismatch");
    harness_res_drop(&r);
    r = hold_k(customer_b, "hold-key-1", main_ev.id, main_ev.tier[STD], 1);
    char k2[64];
    copy_id(k2, r.body);
    CHECK(r.status == 201 && k2[0] && strcmp(k1, k2) != 0,
          "the same key from another customer is theirs: a new hold");
    harness_res_drop(&r);
    CHECK(seats_are(&main_ev, STD, 5, 0, 2), "two seats held");
    CHECK(del_hold(customer_a, k1) == 204 && del_hold(customer_b, k2) == 204 &&
              seats_are(&main_ev, STD, 5, 0, 0),
          "both released");

    /* sold out */
    char hb[64];
    CHECK(hold_ok(customer_b, &main_ev, VIP, 3, hb), "B holds all 3 VIP seats");
    r = hold(customer_a, &main_ev, VIP, 1);
    CHECK(harness_err_is(&r, 409, "sold_out", NULL), "no seat left -> 409 sold_out");
    harness_res_drop(&r);
    CHECK(seats_are(&main_ev, VIP, 3, 0, 3), "availability: VIP 3 held, 0 available");
    CHECK(del_hold(customer_b, hb) == 204 && seats_are(&main_ev, VIP, 3, 0, 0),
          "B releases: VIP back to 3 available");
    CHECK(hold_ok(customer_a, &main_ev, VIP, 3, hb) && del_hold(customer_a, hb) == 204,
          "and they can be held again");
}

/* ---- the per-user cap counts live holds and confirmed orders ---- */

static void test_user_cap(void) {
    struct event_ids ev;
    CHECK(make_event(&ev, "Cap Night", NULL, MAX_PER_USER, 5, 3, true), "event with a cap of 6");
    char p1[64], p2[64], p3[64], pb[64];
    CHECK(hold_ok(customer_a, &ev, STD, 4, p1), "A holds 4 Standard");
    struct harness_res r = hold(customer_a, &ev, VIP, 3);
    CHECK(harness_err_is(&r, 422, "limit_exceeded", NULL), "4 held + 3 more > 6 -> 422");
    harness_res_drop(&r);
    CHECK(hold_ok(customer_a, &ev, VIP, 2, p2), "4 held + 2 more = 6 -> 201");
    r = hold(customer_a, &ev, VIP, 1);
    CHECK(harness_err_is(&r, 422, "limit_exceeded", NULL), "a seventh seat -> 422");
    harness_res_drop(&r);
    r = order(customer_a, "cap-order-1", p1);
    char o1[64];
    copy_id(o1, r.body);
    CHECK(r.status == 201, "A buys the 4 held seats");
    harness_res_drop(&r);
    r = hold(customer_a, &ev, STD, 1);
    CHECK(harness_err_is(&r, 422, "limit_exceeded", NULL),
          "4 bought + 2 held + 1 more > 6 -> 422 (orders count)");
    harness_res_drop(&r);
    CHECK(hold_ok(customer_b, &ev, STD, 1, pb), "the cap is per customer: B may hold");
    CHECK(del_hold(customer_a, p2) == 204, "A releases the 2 VIP");
    CHECK(hold_ok(customer_a, &ev, VIP, 2, p3), "4 bought + 2 held again = 6 -> 201");
    r = hold(customer_a, &ev, STD, 1);
    CHECK(harness_err_is(&r, 422, "limit_exceeded", NULL), "still no seventh seat");
    harness_res_drop(&r);
    r = cancel_order(customer_a, o1);
    CHECK(r.status == 200, "A cancels the order of 4");
    harness_res_drop(&r);
    CHECK(hold_ok(customer_a, &ev, STD, 4, p1), "a cancelled order no longer counts: 2 + 4 = 6");
    CHECK(seats_are(&ev, STD, 5, 0, 5) && seats_are(&ev, VIP, 3, 0, 2),
          "availability agrees: Standard 5 held, VIP 2 held");
}

/* ---- orders ---- */

struct submit {
    const char *path, *token, *header, *body;
    pthread_barrier_t *start;
    int delay_ms; /* after the barrier: to order requests inside one batch window */
    struct harness_res res;
};

static void *submit_main(void *arg) {
    struct submit *s = arg;
    pthread_barrier_wait(s->start);
    if (s->delay_ms > 0) {
        usleep((useconds_t)s->delay_ms * 1000);
    }
    s->res = call_h("POST", s->path, s->token, s->header, s->body);
    return NULL;
}

/* Eight threads confirm one fresh hold with the same key and body at once: every one gets the
 * first answer, and one order exists. */
static void double_submit(const struct event_ids *ev, int round, char *order_id) {
    char h[64], body[200], key[64];
    CHECK(hold_ok(customer_a, ev, STD, 1, h), "double submit %d: A holds 1 seat", round);
    snprintf(body, sizeof body, "{\"hold_id\":\"%s\"}", h);
    snprintf(key, sizeof key, "Idempotency-Key: double-%d", round);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, DOUBLE_SUBMIT_THREADS);
    struct submit s[DOUBLE_SUBMIT_THREADS];
    pthread_t t[DOUBLE_SUBMIT_THREADS];
    for (int i = 0; i < DOUBLE_SUBMIT_THREADS; i++) {
        s[i] = (struct submit){.path = "/api/orders",
                               .token = customer_a,
                               .header = key,
                               .body = body,
                               .start = &start};
        pthread_create(&t[i], NULL, submit_main, &s[i]);
    }
    for (int i = 0; i < DOUBLE_SUBMIT_THREADS; i++) {
        pthread_join(t[i], NULL);
        if (s[i].res.status == 201 && order_id[0] == '\0') {
            copy_id(order_id, s[i].res.body);
        }
    }
    int same = 0;
    for (int i = 0; i < DOUBLE_SUBMIT_THREADS; i++) {
        same += s[i].res.status == 201 && str_is(s[i].res.body, "id", order_id) &&
                order_shape(s[i].res.body, h, "user-a", ev, STD, 1, "confirmed");
        if (s[i].res.status != 201) {
            const char *code = harness_str(s[i].res.body, "error.code");
            const char *msg = harness_str(s[i].res.body, "error.message");
            printf("     double submit %d, thread %d: %ld %s: %s\n", round, i, s[i].res.status,
                   code ? code : "", msg ? msg : "");
        }
        harness_res_drop(&s[i].res);
    }
    pthread_barrier_destroy(&start);
    CHECK(same == DOUBLE_SUBMIT_THREADS,
          "double submit %d: %d of %d threads got 201 with the same order", round, same,
          DOUBLE_SUBMIT_THREADS);
    CHECK(orders_for_hold(customer_a, h) == 1, "double submit %d: exactly one order exists", round);
    CHECK(seats_are(ev, STD, 5, round + 1, 0), "double submit %d: %d sold", round, round + 1);
}

static void test_orders(void) {
    struct event_ids ev;
    CHECK(make_event(&ev, "Order Night", NULL, MAX_PER_USER, 5, 3, true), "event for orders");
    char h[64], body[200];
    CHECK(hold_ok(customer_a, &ev, STD, 2, h), "A holds 2 Standard");
    snprintf(body, sizeof body, "{\"hold_id\":\"%s\"}", h);

    struct harness_res r = call("POST", "/api/orders", customer_a, "{\"hold_id\":");
    CHECK(harness_err_is(&r, 422, "invalid_field", "Idempotency-Key"),
          "no Idempotency-Key -> 422 naming it, before the (broken) body");
    harness_res_drop(&r);
    r = call("POST", "/api/orders", customer_a, body);
    CHECK(harness_err_is(&r, 422, "invalid_field", "Idempotency-Key"),
          "no Idempotency-Key with a good body -> 422");
    harness_res_drop(&r);
    r = call("POST", "/api/orders", NULL, body);
    CHECK(harness_err_is(&r, 401, "unauthorized", NULL), "order without a token -> 401");
    harness_res_drop(&r);
    r = call_h("POST", "/api/orders", customer_a, "Idempotency-Key: bad-body-1", "{\"hold_id\":");
    CHECK(harness_err_is(&r, 400, "invalid_json", NULL), "key but broken JSON -> 400");
    harness_res_drop(&r);
    r = call_h("POST", "/api/orders", customer_a, "Idempotency-Key: bad-body-2", "{}");
    CHECK(harness_err_is(&r, 422, "invalid_field", "hold_id"), "missing hold_id -> 422");
    harness_res_drop(&r);
    char long_key[160] = "Idempotency-Key: ";
    memset(long_key + strlen(long_key), 'k', 129); /* one past the 128 allowed */
    r = call_h("POST", "/api/orders", customer_a, long_key, body);
    CHECK(harness_err_is(&r, 422, "invalid_field", "Idempotency-Key"),
          "an Idempotency-Key of 129 characters -> 422 naming it");
    harness_res_drop(&r);
    r = order(customer_a, "unknown-hold", "no-such-hold");
    CHECK(harness_err_is(&r, 404, "not_found", NULL), "unknown hold -> 404");
    harness_res_drop(&r);

    r = order(customer_a, "order-1", h);
    char o1[64];
    copy_id(o1, r.body);
    json_t *first = json_incref(r.body);
    CHECK(r.status == 201 && order_shape(r.body, h, "user-a", &ev, STD, 2, "confirmed"),
          "confirm -> 201 Order with exactly API.md's fields and 2 tickets {id, status}");
    harness_res_drop(&r);
    r = order(customer_a, "order-1", h);
    CHECK(r.status == 201 && str_is(r.body, "id", o1) &&
              json_equal(json_object_get(r.body, "tickets"), json_object_get(first, "tickets")),
          "same key, same body -> the same order and tickets");
    harness_res_drop(&r);
    json_decref(first);
    CHECK(orders_for_hold(customer_a, h) == 1, "exactly one order for the hold");
    r = call_h("POST", "/api/orders", customer_a, "Idempotency-Key: order-1",
               "{\"hold_id\":\"some-other-hold\"}");
    CHECK(harness_err_is(&r, 422, "idempotency_mismatch", NULL),
          "same key, other body -> 422 idempotency_mismatch");
    harness_res_drop(&r);
    CHECK(seats_are(&ev, STD, 5, 2, 0), "availability: 2 sold, 0 held, 3 available");
    r = get("holds", h, customer_a);
    CHECK(r.status == 200 && str_is(r.body, "status", "confirmed"), "the hold shows confirmed");
    harness_res_drop(&r);
    r = order(customer_a, "order-2", h);
    CHECK(harness_err_is(&r, 409, "conflict", NULL),
          "confirming a confirmed hold with another key -> 409 conflict");
    harness_res_drop(&r);
    del_hold(customer_a, h);
    CHECK(seats_are(&ev, STD, 5, 2, 0), "releasing a confirmed hold gives no seats back");

    char h2[64];
    CHECK(hold_ok(customer_a, &ev, VIP, 1, h2), "A holds 1 VIP");
    r = order(customer_b, "steal-1", h2);
    CHECK(harness_err_is(&r, 404, "not_found", NULL), "confirming another customer's hold -> 404");
    harness_res_drop(&r);
    CHECK(seats_are(&ev, VIP, 3, 0, 1), "and it stays held");

    CHECK(del_hold(customer_a, h2) == 204 && seats_are(&ev, VIP, 3, 0, 0), "A releases it");

    /* a double submit: the same key and body from 8 threads at once, a few rounds */
    struct event_ids dbl;
    char o2[64] = "";
    CHECK(make_event(&dbl, "Double Night", NULL, 0, 5, 3, true), "event for double submits");
    for (int round = 0; round < DOUBLE_SUBMIT_ROUNDS; round++) {
        char order_id[64] = "";
        double_submit(&dbl, round, order_id);
        if (round == 0) {
            bx_strlcpy(o2, order_id, sizeof o2);
        }
    }

    char hb[64], ob[64];
    CHECK(hold_ok(customer_b, &ev, STD, 1, hb), "B holds 1 Standard");
    r = order(customer_b, "order-1", hb); /* A's key, B's scope */
    copy_id(ob, r.body);
    CHECK(r.status == 201 && order_shape(r.body, hb, "user-b", &ev, STD, 1, "confirmed"),
          "B buys it (keys are per customer)");
    harness_res_drop(&r);

    /* lists: own orders only, newest first, cursors */
    r = call("GET", "/api/orders?limit=100", customer_a, NULL);
    json_t *items = json_object_get(r.body, "items");
    size_t i;
    json_t *o;
    bool own = r.status == 200 && json_is_array(items) && json_object_size(r.body) == 2 &&
               json_is_null(json_object_get(r.body, "next_cursor"));
    bool has1 = false, has2 = false, hasb = false;
    json_array_foreach(items, i, o) {
        own = own && str_is(o, "user_id", "user-a");
        has1 = has1 || str_is(o, "id", o1);
        has2 = has2 || str_is(o, "id", o2);
        hasb = hasb || str_is(o, "id", ob);
    }
    size_t n_a = json_array_size(items);
    json_t *all_a = json_incref(items);
    CHECK(own && has1 && has2 && !hasb, "A lists her orders and only hers (%zu)", n_a);
    harness_res_drop(&r);
    r = call("GET", "/api/orders", customer_b, NULL);
    items = json_object_get(r.body, "items");
    CHECK(r.status == 200 && json_array_size(items) == 1 &&
              str_is(json_array_get(items, 0), "id", ob),
          "B lists only B's order");
    harness_res_drop(&r);
    char cursor[200] = "", path[300];
    size_t seen = 0;
    bool pages_ok = n_a >= 2;
    for (int page = 0; page < PAGES_MAX && pages_ok; page++) {
        snprintf(path, sizeof path, "/api/orders?limit=1%s%s", cursor[0] ? "&cursor=" : "", cursor);
        r = call("GET", path, customer_a, NULL);
        items = json_object_get(r.body, "items");
        pages_ok =
            r.status == 200 && json_array_size(items) == 1 &&
            str_is(json_array_get(items, 0), "id", harness_str(json_array_get(all_a, seen), "id"));
        seen += pages_ok;
        const char *next = harness_str(r.body, "next_cursor");
        bx_strlcpy(cursor, next ? next : "", sizeof cursor);
        harness_res_drop(&r);
        if (cursor[0] == '\0') {
            break;
        }
    }
    CHECK(pages_ok && seen == n_a && cursor[0] == '\0',
          "limit=1 pages through all %zu orders in list order, then next_cursor null", n_a);
    json_decref(all_a);
    const char *bad_limits[] = {"0", "101", "abc", "-1", "1.5"};
    for (size_t k = 0; k < BX_ARRAY_LEN(bad_limits); k++) {
        snprintf(path, sizeof path, "/api/orders?limit=%s", bad_limits[k]);
        r = call("GET", path, customer_a, NULL);
        CHECK(harness_err_is(&r, 422, "invalid_field", "limit"), "limit=%s -> 422 limit",
              bad_limits[k]);
        harness_res_drop(&r);
    }
    const char *bad_cursors[] = {"bm90LWEtY3Vyc29y", "o_", "o_%21%21"};
    for (size_t k = 0; k < BX_ARRAY_LEN(bad_cursors); k++) {
        snprintf(path, sizeof path, "/api/orders?cursor=%s", bad_cursors[k]);
        r = call("GET", path, customer_a, NULL);
        CHECK(harness_err_is(&r, 422, "invalid_field", "cursor"), "cursor=%s -> 422 cursor",
              bad_cursors[k]);
        harness_res_drop(&r);
    }
    r = call("GET", "/api/orders", NULL, NULL);
    CHECK(harness_err_is(&r, 401, "unauthorized", NULL), "listing without a token -> 401");
    harness_res_drop(&r);

    /* one order: owner or admin */
    r = get("orders", o1, customer_a);
    CHECK(r.status == 200 && order_shape(r.body, h, "user-a", &ev, STD, 2, "confirmed"),
          "owner reads the order -> 200");
    harness_res_drop(&r);
    r = get("orders", o1, customer_b);
    CHECK(harness_err_is(&r, 404, "not_found", NULL), "another customer's order -> 404");
    harness_res_drop(&r);
    r = get("orders", o1, staff);
    CHECK(harness_err_is(&r, 404, "not_found", NULL), "staff are not owners -> 404");
    harness_res_drop(&r);
    r = get("orders", o1, admin);
    CHECK(r.status == 200 && str_is(r.body, "id", o1) && str_is(r.body, "user_id", "user-a"),
          "admin reads any order -> 200");
    harness_res_drop(&r);
    r = get("orders", "no-such-order", customer_a);
    CHECK(harness_err_is(&r, 404, "not_found", NULL), "unknown order -> 404");
    harness_res_drop(&r);
    r = get("orders", o1, NULL);
    CHECK(harness_err_is(&r, 401, "unauthorized", NULL), "reading an order without a token -> 401");
    harness_res_drop(&r);
    r = call("GET", "/api/orders?limit=100", admin, NULL);
    bool a_seen = false, b_seen = false;
    json_array_foreach(json_object_get(r.body, "items"), i, o) {
        a_seen = a_seen || str_is(o, "id", o1);
        b_seen = b_seen || str_is(o, "id", ob);
    }
    CHECK(r.status == 200 && a_seen && b_seen, "admin lists every customer's orders");
    harness_res_drop(&r);

    /* cancel */
    r = cancel_order(customer_b, o1);
    CHECK(harness_err_is(&r, 404, "not_found", NULL), "another customer cannot cancel -> 404");
    harness_res_drop(&r);
    r = cancel_order(staff, o1);
    CHECK(harness_err_is(&r, 404, "not_found", NULL), "nor can staff -> 404");
    harness_res_drop(&r);
    r = cancel_order(NULL, o1);
    CHECK(harness_err_is(&r, 401, "unauthorized", NULL), "cancelling without a token -> 401");
    harness_res_drop(&r);
    CHECK(seats_are(&ev, STD, 5, 3, 0), "Standard: 3 sold (A 2, B 1)");
    r = cancel_order(customer_a, o1);
    CHECK(r.status == 200 && order_shape(r.body, h, "user-a", &ev, STD, 2, "cancelled") &&
              str_is(r.body, "id", o1),
          "owner cancels -> 200 Order cancelled, every ticket revoked");
    harness_res_drop(&r);
    CHECK(seats_are(&ev, STD, 5, 1, 0), "the 2 seats are back on sale");
    r = get("orders", o1, customer_a);
    CHECK(r.status == 200 && order_shape(r.body, h, "user-a", &ev, STD, 2, "cancelled"),
          "the order reads cancelled, tickets revoked");
    harness_res_drop(&r);
    r = cancel_order(customer_a, o1);
    CHECK(harness_err_is(&r, 409, "conflict", NULL), "cancelling again -> 409 conflict");
    harness_res_drop(&r);
    CHECK(seats_are(&ev, STD, 5, 1, 0), "and gives no seats back twice");
    r = cancel_order(admin, ob);
    CHECK(r.status == 200 && order_shape(r.body, hb, "user-b", &ev, STD, 1, "cancelled"),
          "admin cancels B's order -> 200");
    harness_res_drop(&r);
    CHECK(seats_are(&ev, STD, 5, 0, 0), "Standard: all 5 available again");
    char again[64];
    CHECK(hold_ok(customer_a, &ev, STD, 4, again), "seats of cancelled orders can be held again");
}

/* ---- availability ---- */

/* max-age of the raw response's Cache-Control header; -1 when absent. */
static long max_age(const char *resp) {
    const char *end = strstr(resp, "\r\n\r\n");
    for (const char *p = resp; p != NULL && end != NULL && p < end; p = strstr(p, "\r\n")) {
        p += p == resp ? 0 : 2;
        if (strncasecmp(p, "Cache-Control:", 14) == 0) {
            const char *m = strstr(p, "max-age=");
            const char *eol = strstr(p, "\r\n");
            return m != NULL && m < eol ? strtol(m + 8, NULL, 10) : -1;
        }
    }
    return -1;
}

static void test_availability(void) {
    char path[200];
    snprintf(path, sizeof path, "/api/events/%s/availability", main_ev.id);
    struct harness_res r = call("GET", path, NULL, NULL);
    json_t *tiers = json_object_get(r.body, "tiers");
    bool ok = r.status == 200 && json_object_size(r.body) == 2 &&
              str_is(r.body, "event_id", main_ev.id) && json_array_size(tiers) == 2;
    size_t i;
    json_t *t;
    json_array_foreach(ok ? tiers : NULL, i, t) {
        ok =
            ok && json_object_size(t) == 5 &&
            (str_is(t, "tier_id", main_ev.tier[STD]) || str_is(t, "tier_id", main_ev.tier[VIP])) &&
            int_of(t, "capacity") > 0 && int_of(t, "sold") >= 0 && int_of(t, "held") >= 0 &&
            int_of(t, "available") == int_of(t, "capacity") - int_of(t, "sold") - int_of(t, "held");
    }
    CHECK(ok, "anyone reads availability: exactly {event_id, tiers: [{tier_id, capacity, sold, "
              "held, available}]}");
    harness_res_drop(&r);
    r = call("GET", path, customer_b, NULL);
    CHECK(r.status == 200, "and so do customers");
    harness_res_drop(&r);
    r = call("GET", "/api/events/no-such-event/availability", NULL, NULL);
    CHECK(harness_err_is(&r, 404, "not_found", NULL), "unknown event -> 404");
    harness_res_drop(&r);
    snprintf(path, sizeof path, "/api/events/%s/availability", draft_ev.id);
    r = call("GET", path, NULL, NULL);
    CHECK(harness_err_is(&r, 404, "not_found", NULL), "a draft's availability -> 404");
    harness_res_drop(&r);
    char req[300], resp[8192];
    int n = snprintf(req, sizeof req,
                     "GET /api/events/%s/availability HTTP/1.1\r\nHost: t\r\n"
                     "Connection: close\r\n\r\n",
                     main_ev.id);
    harness_raw(port, req, (size_t)n, resp, sizeof resp, 10000);
    long age = max_age(resp);
    CHECK(harness_status(resp) == 200 && age >= 0 && age <= 1,
          "Cache-Control max-age <= 1 (got %ld)", age);
}

/* ---- no oversell ---- */

static void test_race(void) {
    struct event_ids ev;
    CHECK(make_event(&ev, "Race Night", NULL, 0, RACE_CAPACITY, 3, true), "event for the race");
    CHECK(seats_are(&ev, STD, RACE_CAPACITY, 0, 0), "race tier: %d available", RACE_CAPACITY);
    char body[400];
    snprintf(body, sizeof body, "{\"event_id\":\"%s\",\"tier_id\":\"%s\",\"quantity\":1}", ev.id,
             ev.tier[STD]);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, RACE_THREADS);
    struct submit s[RACE_THREADS];
    pthread_t t[RACE_THREADS];
    for (int i = 0; i < RACE_THREADS; i++) {
        s[i] = (struct submit){.path = "/api/holds",
                               .token = i % 2 ? customer_a : customer_b,
                               .body = body,
                               .start = &start};
        pthread_create(&t[i], NULL, submit_main, &s[i]);
    }
    int created = 0, sold_out = 0;
    for (int i = 0; i < RACE_THREADS; i++) {
        pthread_join(t[i], NULL);
        created += s[i].res.status == 201 && hold_shape(s[i].res.body, &ev, STD, 1, "active");
        sold_out += harness_err_is(&s[i].res, 409, "sold_out", NULL);
        harness_res_drop(&s[i].res);
    }
    pthread_barrier_destroy(&start);
    CHECK(created == RACE_CAPACITY && sold_out == RACE_THREADS - RACE_CAPACITY,
          "%d concurrent holds of 1 on %d seats -> %d x 201, %d x 409 sold_out", RACE_THREADS,
          RACE_CAPACITY, created, sold_out);
    CHECK(seats_are(&ev, STD, RACE_CAPACITY, 0, RACE_CAPACITY),
          "availability: all held, none over");
}

/* Phase 3 (booking collects each batch for 300 ms): a full tier, then a confirm of one of its
 * holds and a new hold sent together, in one batch. The confirm moves seats from held to sold,
 * which frees none. (Counting only the held side once let the hold through, and the CHECK
 * constraint refused the whole batch: 503 for both.) */
static void test_mixed_batch(void) {
    struct event_ids ev2;
    CHECK(make_event(&ev2, "Batch Night", NULL, 0, 2, 3, true), "event for the mixed batch");
    char hold_id[64] = "";
    struct harness_res h1 = hold(customer_a, &ev2, STD, 1), h2 = hold(customer_b, &ev2, STD, 1);
    CHECK(h1.status == 201 && h2.status == 201, "the 2 seats are held");
    copy_id(hold_id, h1.body);
    harness_res_drop(&h1);
    harness_res_drop(&h2);
    char confirm[160], extra[200];
    snprintf(confirm, sizeof confirm, "{\"hold_id\":\"%s\"}", hold_id);
    snprintf(extra, sizeof extra, "{\"event_id\":\"%s\",\"tier_id\":\"%s\",\"quantity\":1}", ev2.id,
             ev2.tier[STD]);
    int conf_ok = 0, hold_sold_out = 0, unavailable = 0;
    for (int round = 0; round < 3; round++) {
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, 2);
        char key[64];
        snprintf(key, sizeof key, "Idempotency-Key: mixed-%d", round);
        struct submit pair[2] = {
            {.path = "/api/orders",
             .token = customer_a,
             .header = key,
             .body = confirm,
             .start = &go},
            /* the confirm first in the batch, the hold 100 ms later, inside its window */
            {.path = "/api/holds",
             .token = customer_b,
             .body = extra,
             .start = &go,
             .delay_ms = 100}};
        pthread_t pt[2];
        for (int i = 0; i < 2; i++) {
            pthread_create(&pt[i], NULL, submit_main, &pair[i]);
        }
        for (int i = 0; i < 2; i++) {
            pthread_join(pt[i], NULL);
            unavailable += pair[i].res.status == 503;
        }
        conf_ok += pair[0].res.status == 201 ||
                   harness_err_is(&pair[0].res, 409, "conflict", NULL); /* confirmed in round 0 */
        hold_sold_out += harness_err_is(&pair[1].res, 409, "sold_out", NULL);
        harness_res_drop(&pair[0].res);
        harness_res_drop(&pair[1].res);
        pthread_barrier_destroy(&go);
    }
    CHECK(unavailable == 0 && conf_ok == 3 && hold_sold_out == 3,
          "a confirm and a hold on a full tier in one batch: the order, sold_out, no 503 "
          "(%d confirms, %d sold_out, %d x 503)",
          conf_ok, hold_sold_out, unavailable);
    CHECK(seats_are(&ev2, STD, 2, 1, 1), "the tier: 1 sold, 1 held, none over");
}

/* ---- what catalog changes reaches booking ---- */

static long patch_capacity(const struct event_ids *ev, int tier, int capacity, const char **code) {
    char path[200], body[64];
    snprintf(path, sizeof path, "/api/events/%s/tiers/%s", ev->id, ev->tier[tier]);
    snprintf(body, sizeof body, "{\"capacity\":%d}", capacity);
    struct harness_res r = call("PATCH", path, admin, body);
    long st = r.status;
    static char c[64];
    bx_strlcpy(c, harness_str(r.body, "error.code") ? harness_str(r.body, "error.code") : "",
               sizeof c);
    *code = c;
    harness_res_drop(&r);
    return st;
}

static void test_catalog_sync(void) {
    struct event_ids ev;
    const char *code;
    char h[64];
    CHECK(make_event(&ev, "Growing Night", NULL, MAX_PER_USER, 5, 3, true) &&
              hold_ok(customer_a, &ev, STD, 2, h),
          "an event booking knows, 2 seats held");
    CHECK(patch_capacity(&ev, STD, 8, &code) == 200, "catalog raises Standard to 8");
    CHECK(wait_seats(&ev, STD, 8, 0, 2), "availability follows: capacity 8, 6 available");
    long st = patch_capacity(&ev, STD, 1, &code);
    CHECK(st == 409 && strcmp(code, "conflict") == 0,
          "shrinking below sold + held (2) -> catalog says 409 conflict (got %ld %s)", st, code);
    CHECK(seats_are(&ev, STD, 8, 0, 2), "and the capacity stays 8");
    CHECK(patch_capacity(&ev, STD, 2, &code) == 200, "shrinking to exactly sold + held -> 200");
    CHECK(wait_seats(&ev, STD, 2, 0, 2), "availability follows: capacity 2, none available");
    struct harness_res r = hold(customer_a, &ev, STD, 1);
    CHECK(harness_err_is(&r, 409, "sold_out", NULL), "booking enforces the new capacity");
    harness_res_drop(&r);

    /* cancelling an event in catalog cancels its orders and releases its holds */
    struct event_ids k;
    char hk[64], hb[64], ok_id[64];
    CHECK(make_event(&k, "Doomed Night", NULL, MAX_PER_USER, 5, 3, true) &&
              hold_ok(customer_a, &k, STD, 2, hk),
          "an event with a hold of A");
    r = order(customer_a, "doomed-1", hk);
    copy_id(ok_id, r.body);
    CHECK(r.status == 201, "A buys 2 seats");
    harness_res_drop(&r);
    CHECK(hold_ok(customer_b, &k, VIP, 1, hb), "B holds 1 VIP");
    CHECK(seats_are(&k, STD, 5, 2, 0) && seats_are(&k, VIP, 3, 0, 1), "2 sold, 1 held");
    CHECK(cancel_event(&k), "admin cancels the event in catalog -> 200");
    CHECK(wait_status("orders", ok_id, customer_a, "cancelled"),
          "within seconds A's order is cancelled");
    r = get("orders", ok_id, customer_a);
    CHECK(r.status == 200 && order_shape(r.body, hk, "user-a", &k, STD, 2, "cancelled"),
          "and its tickets revoked");
    harness_res_drop(&r);
    CHECK(wait_status("holds", hb, customer_b, "released"), "B's active hold is released");
    CHECK(wait_seats(&k, STD, 5, 0, 0) && wait_seats(&k, VIP, 3, 0, 0),
          "availability: nothing sold or held");
    r = hold(customer_a, &k, STD, 1);
    CHECK(harness_err_is(&r, 409, "not_on_sale", NULL), "a cancelled event -> 409 not_on_sale");
    harness_res_drop(&r);
    r = hold(customer_a, &k, STD, MAX_PER_ORDER + 1);
    CHECK(harness_err_is(&r, 422, "limit_exceeded", NULL),
          "over max_per_order on a cancelled event -> 422 first");
    harness_res_drop(&r);
    r = cancel_order(customer_a, ok_id);
    CHECK(harness_err_is(&r, 409, "conflict", NULL), "cancelling that order again -> 409");
    harness_res_drop(&r);

    struct event_ids k2;
    CHECK(make_event(&k2, "Never Night", NULL, MAX_PER_USER, 5, 3, true) && cancel_event(&k2),
          "an event cancelled before booking ever saw it");
    r = hold(customer_a, &k2, STD, 1);
    CHECK(harness_err_is(&r, 409, "not_on_sale", NULL), "-> 409 not_on_sale");
    harness_res_drop(&r);
}

/* ---- processes ---- */

struct booking_proc {
    const char *bin, *db_env, *keys, *log;
    pid_t pid;
};

static const char *booking_extra_env = "BOXOFFICE_LOG_LEVEL=warn"; /* phase 3: batch window */

static bool booking_start(struct booking_proc *b, int ttl_s) {
    char e0[64], e1[300], e2[80], e3[64], e4[400];
    /* order documents go next to the keys, in the test's directory */
    snprintf(e4, sizeof e4, "BOXOFFICE_OBJECTS=file:%.*s/objects",
             (int)(strlen(b->keys) > 5 ? strlen(b->keys) - 5 : 0), b->keys);
    snprintf(e0, sizeof e0, "BOXOFFICE_BOOKING_PORT=%u", (unsigned)booking_port);
    snprintf(e1, sizeof e1, "BOXOFFICE_AUTH_KEYS=%s", b->keys);
    snprintf(e2, sizeof e2, "BOXOFFICE_CATALOG_URL=http://127.0.0.1:%u", (unsigned)catalog_port);
    snprintf(e3, sizeof e3, "BOXOFFICE_HOLD_TTL_S=%d", ttl_s);
    const char *env[] = {e0,
                         e1,
                         e2,
                         e3,
                         e4,
                         b->db_env,
                         "BOXOFFICE_KAFKA=",
                         "BOXOFFICE_BOOKING_SWEEP_MS=200",
                         "BOXOFFICE_BOOKING_SYNC_MS=200",
                         "BOXOFFICE_LOG_LEVEL=warn",
                         booking_extra_env,
                         NULL};
    b->pid = harness_spawn(b->bin, env, b->log);
    return harness_wait_ok(booking_port, "/readyz", 30000);
}

/* Phase 1 ends here: an order acknowledged with 201, then booking dies at once. */
static void test_durability_kill(struct booking_proc *b, struct event_ids *ev, char *hold_id,
                                 char *order_id) {
    CHECK(make_event(ev, "Durable Night", NULL, MAX_PER_USER, 5, 3, true) &&
              hold_ok(customer_a, ev, STD, 1, hold_id),
          "an event and a hold for the durability check");
    struct harness_res r = order(customer_a, "durable-1", hold_id);
    bool created = r.status == 201;
    copy_id(order_id, r.body);
    harness_res_drop(&r);
    int st = harness_stop(b->pid, SIGKILL, 20000);
    CHECK(created && st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
          "201 for an order, then booking is SIGKILLed");
}

static void test_durability_check(const struct event_ids *ev, const char *hold_id,
                                  const char *order_id) {
    struct harness_res r = get("orders", order_id, customer_a);
    CHECK(r.status == 200 && order_shape(r.body, hold_id, "user-a", ev, STD, 1, "confirmed") &&
              str_is(r.body, "id", order_id),
          "after the restart the order is there, confirmed");
    harness_res_drop(&r);
    CHECK(seats_are(ev, STD, 5, 1, 0), "and its seat is still sold");
    r = order(customer_a, "durable-1", hold_id);
    CHECK(r.status == 201 && str_is(r.body, "id", order_id),
          "and its Idempotency-Key still replays the same order");
    harness_res_drop(&r);
}

/* Phase 2, with BOXOFFICE_HOLD_TTL_S=3: a hold nobody touches expires. */
static void test_expiry(void) {
    struct event_ids ev;
    char h[64];
    CHECK(make_event(&ev, "Short Night", NULL, MAX_PER_USER, 5, 3, true), "event for expiry");
    struct harness_res r = hold(customer_a, &ev, STD, 2);
    int64_t expires = 0, now = bx_now_unix_s();
    copy_id(h, r.body);
    CHECK(r.status == 201 && utc_time(r.body, "expires_at", &expires) &&
              expires <= now + HOLD_TTL_SHORT_S + 1,
          "a hold with a %d s TTL", HOLD_TTL_SHORT_S);
    harness_res_drop(&r);
    CHECK(seats_are(&ev, STD, 5, 0, 2), "2 seats held");
    /* only availability is read: the seats must come back by the sweeper alone */
    CHECK(wait_seats(&ev, STD, 5, 0, 0), "within seconds the seats are back, untouched");
    r = get("holds", h, customer_a);
    CHECK(r.status == 200 && hold_shape(r.body, &ev, STD, 2, "expired"), "the hold reads expired");
    harness_res_drop(&r);
    r = order(customer_a, "too-late-1", h);
    CHECK(harness_err_is(&r, 409, "hold_expired", NULL), "confirming it -> 409 hold_expired");
    harness_res_drop(&r);
    CHECK(del_hold(customer_a, h) == 204 && seats_are(&ev, STD, 5, 0, 0),
          "releasing an expired hold -> 204, nothing given back twice");
}

static void pg_quiet(void *arg, const char *message) {
    (void)arg;
    (void)message; /* "does not exist, skipping" */
}

/* Booking's database on PostgreSQL: a second database on catalog's server, made with libpq. */
static bool pg_booking_db(const char *url, char *out, size_t size) {
    PGconn *c = PQconnectdb(url);
    bool ok = PQstatus(c) == CONNECTION_OK;
    if (ok) {
        PQsetNoticeProcessor(c, pg_quiet, NULL);
        PGresult *r = PQexec(c, "DROP DATABASE IF EXISTS boxoffice_booking_test");
        PQclear(r);
        r = PQexec(c, "CREATE DATABASE boxoffice_booking_test");
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok) {
            fprintf(stderr, "CREATE DATABASE: %s", PQerrorMessage(c));
        }
        PQclear(r);
    } else {
        fprintf(stderr, "cannot connect to %s: %s", url, PQerrorMessage(c));
    }
    PQfinish(c);
    const char *auth = strstr(url, "://");
    const char *slash = auth ? strchr(auth + 3, '/') : NULL;
    const char *query = strchr(url, '?');
    if (!ok || slash == NULL) {
        return false;
    }
    snprintf(out, size, "%.*s/boxoffice_booking_test%s", (int)(slash - url), url,
             query ? query : "");
    return true;
}

int main(int argc, char **argv) {
    bool pg = argc == 6 && strcmp(argv[4], "postgres") == 0;
    if (!pg && !(argc == 5 && strcmp(argv[4], "sqlite") == 0)) {
        fprintf(stderr, "usage: %s BOOKING-BIN CATALOG-BIN FRONTEND-BIN sqlite | postgres URL\n",
                argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    char dir[] = "/tmp/bx-booking-XXXXXX";
    BX_ASSERT(mkdtemp(dir) != NULL);
    char keys[128], cat_log[128], book_log[128], fe_log[128], cat_db[600], book_db[700];
    snprintf(keys, sizeof keys, "%s/keys", dir);
    snprintf(cat_log, sizeof cat_log, "%s/catalog.log", dir);
    snprintf(book_log, sizeof book_log, "%s/booking.log", dir);
    snprintf(fe_log, sizeof fe_log, "%s/frontend.log", dir);
    bool db_ok = true;
    if (pg) {
        char url[600];
        snprintf(cat_db, sizeof cat_db, "BOXOFFICE_CATALOG_DB=%s", argv[5]);
        db_ok = pg_booking_db(argv[5], url, sizeof url);
        snprintf(book_db, sizeof book_db, "BOXOFFICE_BOOKING_DB=%s", url);
    } else {
        snprintf(cat_db, sizeof cat_db, "BOXOFFICE_CATALOG_DB=sqlite:%s/catalog.db", dir);
        snprintf(book_db, sizeof book_db, "BOXOFFICE_BOOKING_DB=sqlite:%s/booking.db", dir);
    }
    CHECK(db_ok, "a database for booking (%s)", pg ? "PostgreSQL" : "SQLite");
    struct bx_key key;
    BX_ASSERT(bx_keyring_generate(keys, &key) == BX_OK);
    mint(&key, BX_ROLE_ADMIN, "admin-1", admin, sizeof admin);
    mint(&key, BX_ROLE_CUSTOMER, "user-a", customer_a, sizeof customer_a);
    mint(&key, BX_ROLE_CUSTOMER, "user-b", customer_b, sizeof customer_b);
    mint(&key, BX_ROLE_STAFF, "staff-1", staff, sizeof staff);
    catalog_port = harness_free_port();
    booking_port = harness_free_port();
    port = harness_free_port();

    char c0[64], c1[300], c2[80];
    snprintf(c0, sizeof c0, "BOXOFFICE_CATALOG_PORT=%u", (unsigned)catalog_port);
    snprintf(c1, sizeof c1, "BOXOFFICE_AUTH_KEYS=%s", keys);
    snprintf(c2, sizeof c2, "BOXOFFICE_BOOKING_URL=http://127.0.0.1:%u", (unsigned)booking_port);
    const char *cat_env[] = {c0, c1, c2, cat_db, "BOXOFFICE_LOG_LEVEL=warn", NULL};
    char f0[64], f1[80], f2[80];
    snprintf(f0, sizeof f0, "BOXOFFICE_FRONTEND_PORT=%u", (unsigned)port);
    snprintf(f1, sizeof f1, "BOXOFFICE_CATALOG_URL=http://127.0.0.1:%u", (unsigned)catalog_port);
    snprintf(f2, sizeof f2, "BOXOFFICE_BOOKING_URL=http://127.0.0.1:%u", (unsigned)booking_port);
    /* every test client is 127.0.0.1: the per-client rate limit would throttle the races */
    const char *fe_env[] = {f0,  f1, f2, "BOXOFFICE_LOG_LEVEL=warn", "BOXOFFICE_RATE_LIMIT_RPS=0",
                            NULL};

    pid_t cat = harness_spawn(argv[2], cat_env, cat_log);
    pid_t fe = harness_spawn(argv[3], fe_env, fe_log);
    struct booking_proc b = {.bin = argv[1], .db_env = book_db, .keys = keys, .log = book_log};
    bool up = db_ok && harness_wait_ok(catalog_port, "/readyz", 30000) &&
              booking_start(&b, HOLD_TTL_LONG_S) && harness_wait_ok(port, "/healthz", 20000);
    CHECK(up, "catalog, booking and the gateway are up");
    if (up && setup()) {
        test_hold_errors();
        test_holds();
        test_user_cap();
        test_orders();
        test_availability();
        test_race();
        test_catalog_sync();
        struct event_ids dur;
        char hold_id[64] = "", order_id[64] = "";
        test_durability_kill(&b, &dur, hold_id, order_id);
        up = booking_start(&b, HOLD_TTL_SHORT_S);
        CHECK(up, "booking restarts on the same database (hold TTL now %d s)", HOLD_TTL_SHORT_S);
        if (up) {
            test_durability_check(&dur, hold_id, order_id);
            test_expiry();
        }
        int stopped = harness_stop(b.pid, SIGTERM, 20000);
        booking_extra_env = "BOXOFFICE_BOOKING_BATCH_WAIT_US=300000";
        up = stopped != -1 && booking_start(&b, HOLD_TTL_LONG_S);
        CHECK(up, "booking restarts collecting each batch for 300 ms");
        if (up) {
            test_mixed_batch();
        }
    }
    int st = harness_stop(b.pid, SIGTERM, 20000);
    CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "booking: SIGTERM -> exit 0");
    st = harness_stop(cat, SIGTERM, 20000);
    CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "catalog: SIGTERM -> exit 0");
    harness_stop(fe, SIGTERM, 20000);
    if (harness_failures) {
        printf("booking log:\n");
        fflush(stdout);
        harness_tail(book_log, 40);
        printf("catalog log:\n");
        fflush(stdout);
        harness_tail(cat_log, 20);
    }
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", dir);
    }
    return harness_finish("test_booking");
}
