// SPDX-License-Identifier: Apache-2.0
// The catalog service over HTTP on a real database: venues and events with their validation
// errors, roles, Idempotency-Key replay and mismatch, drafts hidden from the public, publish and
// cancel, search filters, cursor pagination that stays stable while events are inserted, ETag and
// If-None-Match, bad query parameters, and data surviving a restart.
// Every call goes through the gateway (boxoffice-frontend), as clients' calls do.
//   test_catalog CATALOG-BIN FRONTEND-BIN sqlite
//   test_catalog CATALOG-BIN FRONTEND-BIN postgres PGURL
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "boxoffice/auth.h"
#include "boxoffice/base.h"
#include "boxoffice/httpc.h"
#include "harness.h"

static uint16_t port, catalog_port, booking_port;
static char admin[1024], customer[1024];
static const char *extra_header;

static struct harness_res call(const char *method, const char *path, const char *token,
                               const char *body) {
    return harness_call(port, method, path, token, extra_header, body);
}

static void mint(const struct bx_key *key, enum bx_role role, char *out, size_t size) {
    struct bx_claims c = {.role = role, .iat = bx_now_unix_s(), .exp = bx_now_unix_s() + 3600};
    bx_strlcpy(c.sub, role == BX_ROLE_ADMIN ? "admin-1" : "customer-1", sizeof c.sub);
    bx_uuid7(c.jti);
    BX_ASSERT(bx_token_sign(key, &c, out, size) == BX_OK);
}

static char venue_id[64];

static void test_venues(void) {
    const char *v = "{\"name\":\"Royal Albert Hall\",\"address\":\"Kensington Gore\","
                    "\"city\":\"London\",\"country\":\"GB\",\"timezone\":\"Europe/London\"}";
    struct harness_res r = call("POST", "/api/venues", customer, v);
    CHECK(harness_err_is(&r, 403, "forbidden", NULL), "customer cannot create venues");
    harness_res_drop(&r);
    r = call("POST", "/api/venues", NULL, v);
    CHECK(harness_err_is(&r, 401, "unauthorized", NULL), "anonymous cannot create venues");
    harness_res_drop(&r);
    r = call("POST", "/api/venues", admin,
             "{\"name\":\"X\",\"address\":\"Y\",\"city\":\"Z\",\"country\":\"GB\","
             "\"timezone\":\"Mars/Olympus\"}");
    CHECK(harness_err_is(&r, 422, "invalid_field", "timezone"), "unknown timezone -> 422");
    harness_res_drop(&r);
    r = call("POST", "/api/venues", admin,
             "{\"name\":\"X\",\"address\":\"Y\",\"city\":\"Z\",\"country\":\"gb\","
             "\"timezone\":\"UTC\"}");
    CHECK(harness_err_is(&r, 422, "invalid_field", "country"), "bad country -> 422");
    harness_res_drop(&r);
    extra_header = "Idempotency-Key: venue-1";
    r = call("POST", "/api/venues", admin, v);
    CHECK(r.status == 201 && harness_str(r.body, "id") &&
              strcmp(harness_str(r.body, "city"), "London") == 0,
          "admin creates a venue -> 201");
    bx_strlcpy(venue_id, harness_str(r.body, "id") ? harness_str(r.body, "id") : "",
               sizeof venue_id);
    harness_res_drop(&r);
    r = call("POST", "/api/venues", admin, v);
    CHECK(r.status == 201 && harness_str(r.body, "id") &&
              strcmp(harness_str(r.body, "id"), venue_id) == 0,
          "same Idempotency-Key and body -> the first answer again (same id)");
    harness_res_drop(&r);
    r = call("POST", "/api/venues", admin,
             "{\"name\":\"Other\",\"address\":\"A\",\"city\":\"B\",\"country\":\"GB\","
             "\"timezone\":\"UTC\"}");
    CHECK(harness_err_is(&r, 422, "idempotency_mismatch", NULL), "same key, other body -> 422");
    harness_res_drop(&r);
    extra_header = NULL;
    r = call("POST", "/api/venues", admin,
             "{\"name\":\"Paradiso\",\"address\":\"Weteringschans 6\",\"city\":\"Amsterdam\","
             "\"country\":\"NL\",\"timezone\":\"Europe/Amsterdam\"}");
    harness_res_drop(&r);
    r = call("GET", "/api/venues?limit=1", NULL, NULL);
    const char *cursor = harness_str(r.body, "next_cursor");
    CHECK(r.status == 200 && json_array_size(json_object_get(r.body, "items")) == 1 && cursor,
          "venues page 1 of 2 with a cursor");
    char path[300];
    snprintf(path, sizeof path, "/api/venues?limit=1&cursor=%s", cursor ? cursor : "");
    harness_res_drop(&r);
    r = call("GET", path, NULL, NULL);
    CHECK(r.status == 200 && json_array_size(json_object_get(r.body, "items")) == 1 &&
              json_is_null(json_object_get(r.body, "next_cursor")),
          "venues page 2, last");
    harness_res_drop(&r);
}

static char *event_body(const char *title, const char *starts, const char *ends,
                        const char *category) {
    static char buf[2048];
    snprintf(buf, sizeof buf,
             "{\"title\":\"%s\",\"description\":\"d\",\"category\":\"%s\",\"venue_id\":\"%s\","
             "\"starts_at\":\"%s\",\"ends_at\":\"%s\",\"max_tickets_per_user\":6,"
             "\"tiers\":[{\"name\":\"Standard\",\"price_cents\":4500,\"currency\":\"EUR\","
             "\"capacity\":500,\"max_per_order\":8},{\"name\":\"VIP\",\"price_cents\":20000,"
             "\"currency\":\"EUR\",\"capacity\":20}]}",
             title, category, venue_id, starts, ends);
    return buf;
}

static bool create_published(const char *title, const char *starts, const char *category,
                             char *id_out) {
    char ends[32]; /* a day later: the starts used here never end in day 9 */
    bx_strlcpy(ends, starts, sizeof ends);
    ends[9] = (char)(ends[9] + 1);
    struct harness_res r =
        call("POST", "/api/events", admin, event_body(title, starts, ends, category));
    bool ok = r.status == 201;
    if (ok) {
        bx_strlcpy(id_out, harness_str(r.body, "id"), 64);
    }
    harness_res_drop(&r);
    char path[128];
    snprintf(path, sizeof path, "/api/events/%s/publish", id_out);
    r = call("POST", path, admin, NULL);
    ok = ok && r.status == 200;
    harness_res_drop(&r);
    return ok;
}

static void test_events(void) {
    struct harness_res r =
        call("POST", "/api/events", admin,
             event_body("Late", "2027-03-01T20:00:00Z", "2027-03-01T19:00:00Z", "jazz"));
    CHECK(harness_err_is(&r, 422, "invalid_field", "ends_at"), "ends before starts -> 422 ends_at");
    harness_res_drop(&r);
    char body[2048];
    snprintf(body, sizeof body,
             "{\"title\":\"T\",\"category\":\"c\",\"venue_id\":\"%s\",\"starts_at\":"
             "\"2027-03-01T20:00:00Z\",\"ends_at\":\"2027-03-01T23:00:00Z\",\"tiers\":[{\"name\":"
             "\"A\",\"price_cents\":1,\"currency\":\"eur\",\"capacity\":1}]}",
             venue_id);
    r = call("POST", "/api/events", admin, body);
    CHECK(harness_err_is(&r, 422, "invalid_field", "tiers[0].currency"),
          "lower-case currency -> 422");
    harness_res_drop(&r);
    snprintf(body, sizeof body,
             "{\"title\":\"T\",\"category\":\"c\",\"venue_id\":\"%s\",\"starts_at\":"
             "\"2027-03-01T20:00:00Z\",\"ends_at\":\"2027-03-01T23:00:00Z\",\"tiers\":[{\"name\":"
             "\"A\",\"price_cents\":1,\"currency\":\"EUR\",\"capacity\":0}]}",
             venue_id);
    r = call("POST", "/api/events", admin, body);
    CHECK(harness_err_is(&r, 422, "invalid_field", "tiers[0].capacity"), "capacity 0 -> 422");
    harness_res_drop(&r);
    snprintf(body, sizeof body,
             "{\"title\":\"T\",\"category\":\"c\",\"venue_id\":\"nope\",\"starts_at\":"
             "\"2027-03-01T20:00:00Z\",\"ends_at\":\"2027-03-01T23:00:00Z\",\"tiers\":[{\"name\":"
             "\"A\",\"price_cents\":1,\"currency\":\"EUR\",\"capacity\":1}]}");
    r = call("POST", "/api/events", admin, body);
    CHECK(harness_err_is(&r, 422, "invalid_field", "venue_id"), "unknown venue -> 422 venue_id");
    harness_res_drop(&r);

    r = call("POST", "/api/events", admin,
             event_body("Draft Night", "2027-03-01T20:00:00Z", "2027-03-01T23:00:00Z", "jazz"));
    char draft[64] = "";
    json_t *tiers = json_object_get(r.body, "tiers");
    CHECK(
        r.status == 201 && strcmp(harness_str(r.body, "status"), "draft") == 0 &&
            json_array_size(tiers) == 2 &&
            json_integer_value(json_object_get(json_array_get(tiers, 1), "max_per_order")) == 10 &&
            strcmp(harness_str(json_object_get(r.body, "venue"), "timezone"), "Europe/London") == 0,
        "event created as a draft with venue and tiers (default max_per_order 10)");
    bx_strlcpy(draft, harness_str(r.body, "id") ? harness_str(r.body, "id") : "", sizeof draft);
    harness_res_drop(&r);
    char path[256];
    snprintf(path, sizeof path, "/api/events/%s", draft);
    r = call("GET", path, NULL, NULL);
    CHECK(harness_err_is(&r, 404, "not_found", NULL), "a draft is hidden from the public");
    harness_res_drop(&r);
    r = call("GET", path, admin, NULL);
    CHECK(r.status == 200, "admins see drafts");
    harness_res_drop(&r);
    r = call("GET", "/api/events?q=draft", NULL, NULL);
    CHECK(r.status == 200 && json_array_size(json_object_get(r.body, "items")) == 0,
          "drafts are not listed");
    harness_res_drop(&r);
    r = call("PATCH", path, admin, "{\"title\":\"Draft Night Live\",\"image_url\":null}");
    CHECK(r.status == 200 && strcmp(harness_str(r.body, "title"), "Draft Night Live") == 0,
          "PATCH title");
    harness_res_drop(&r);
    r = call("PATCH", path, admin, "{\"ends_at\":\"2027-02-01T00:00:00Z\"}");
    CHECK(harness_err_is(&r, 422, "invalid_field", "ends_at"),
          "PATCH that ends before start -> 422");
    harness_res_drop(&r);
    r = call("PATCH", path, admin, "{\"status\":\"published\"}");
    CHECK(harness_err_is(&r, 422, "invalid_field", "status"), "status is not patchable");
    harness_res_drop(&r);
    snprintf(path, sizeof path, "/api/events/%s/tiers", draft);
    extra_header = "Idempotency-Key: tier-1";
    r = call("POST", path, admin,
             "{\"name\":\"Balcony\",\"price_cents\":3000,\"currency\":\"EUR\",\"capacity\":50}");
    char tier_id[64];
    bx_strlcpy(tier_id, harness_str(r.body, "id") ? harness_str(r.body, "id") : "", sizeof tier_id);
    CHECK(r.status == 201 && strcmp(harness_str(r.body, "name"), "Balcony") == 0,
          "add a tier -> 201");
    harness_res_drop(&r);
    r = call("POST", path, admin,
             "{\"name\":\"Balcony\",\"price_cents\":3000,\"currency\":\"EUR\",\"capacity\":50}");
    CHECK(r.status == 201 && strcmp(harness_str(r.body, "id"), tier_id) == 0,
          "retrying the tier with its Idempotency-Key adds nothing");
    harness_res_drop(&r);
    extra_header = NULL;
    char tier_path[256];
    snprintf(tier_path, sizeof tier_path, "/api/events/%s/tiers/%s", draft, tier_id);
    r = call("PATCH", tier_path, admin, "{\"capacity\":10,\"price_cents\":3500}");
    CHECK(r.status == 200 && json_integer_value(json_object_get(r.body, "capacity")) == 10 &&
              json_integer_value(json_object_get(r.body, "price_cents")) == 3500,
          "a draft's tier may shrink (nothing can be sold yet)");
    harness_res_drop(&r);
    r = call("PATCH", tier_path, admin, "{\"currency\":\"usd\"}");
    CHECK(harness_err_is(&r, 422, "invalid_field", "currency"), "tier edit validates currency");
    harness_res_drop(&r);
    snprintf(path, sizeof path, "/api/events/%s/tiers/no-such-tier", draft);
    r = call("PATCH", path, admin, "{\"capacity\":5}");
    CHECK(harness_err_is(&r, 404, "not_found", NULL), "unknown tier -> 404");
    harness_res_drop(&r);
    snprintf(path, sizeof path, "/api/events/%s/publish", draft);
    r = call("POST", path, customer, NULL);
    CHECK(r.status == 403, "customer cannot publish");
    harness_res_drop(&r);
    r = call("POST", path, admin, NULL);
    CHECK(r.status == 200 && strcmp(harness_str(r.body, "status"), "published") == 0 &&
              json_array_size(json_object_get(r.body, "tiers")) == 3,
          "publish -> 200 published");
    harness_res_drop(&r);
    r = call("PATCH", tier_path, admin, "{\"capacity\":40}");
    CHECK(r.status == 200 && json_integer_value(json_object_get(r.body, "capacity")) == 40,
          "a tier on sale may grow");
    harness_res_drop(&r);
    r = call("PATCH", tier_path, admin, "{\"capacity\":5}");
    CHECK(harness_err_is(&r, 503, "unavailable", NULL),
          "a tier on sale does not shrink while booking cannot say what is sold");
    harness_res_drop(&r);
    r = call("GET", "/api/events?q=DRAFT%20night", NULL, NULL);
    CHECK(r.status == 200 && json_array_size(json_object_get(r.body, "items")) == 1,
          "published event found by q, case-insensitively");
    harness_res_drop(&r);
    snprintf(path, sizeof path, "/api/events/%s/cancel", draft);
    r = call("POST", path, admin, NULL);
    CHECK(r.status == 200 && strcmp(harness_str(r.body, "status"), "cancelled") == 0,
          "cancel -> 200");
    harness_res_drop(&r);
    snprintf(path, sizeof path, "/api/events/%s/publish", draft);
    r = call("POST", path, admin, NULL);
    CHECK(harness_err_is(&r, 409, "conflict", NULL), "publishing a cancelled event -> 409");
    harness_res_drop(&r);
    r = call("GET", "/api/events/changes?after=0", NULL, NULL);
    json_t *changes = json_object_get(r.body, "items");
    int published = 0, cancelled = 0;
    size_t ci;
    json_t *ch;
    json_array_foreach(changes, ci, ch) {
        if (strcmp(harness_str(ch, "event_id"), draft) == 0) {
            published += strcmp(harness_str(ch, "kind"), "published") == 0;
            cancelled += strcmp(harness_str(ch, "kind"), "cancelled") == 0;
        }
    }
    CHECK(r.status == 200 && published == 1 && cancelled == 1 &&
              json_integer_value(json_object_get(r.body, "next_after")) > 0,
          "the change feed tells booking about the publish and the cancel");
    harness_res_drop(&r);
    r = call("GET", "/api/events/changes?after=-1", NULL, NULL);
    CHECK(harness_err_is(&r, 422, "invalid_field", "after"), "bad change-feed position -> 422");
    harness_res_drop(&r);
    char vpath[128];
    snprintf(vpath, sizeof vpath, "/api/venues/%s", venue_id);
    r = call("PATCH", vpath, customer, "{\"city\":\"Londinium\"}");
    CHECK(r.status == 403, "customer cannot edit venues");
    harness_res_drop(&r);
    r = call("PATCH", vpath, admin, "{\"timezone\":\"Nowhere/Land\"}");
    CHECK(harness_err_is(&r, 422, "invalid_field", "timezone"),
          "venue edit validates the timezone");
    harness_res_drop(&r);
    snprintf(path, sizeof path, "/api/events/%s/tiers", draft);
    r = call("POST", path, admin,
             "{\"name\":\"Late\",\"price_cents\":3000,\"currency\":\"EUR\",\"capacity\":50}");
    CHECK(harness_err_is(&r, 409, "conflict", NULL), "adding a tier to a cancelled event -> 409");
    harness_res_drop(&r);
}

static void test_listing(void) {
    char ids[6][64];
    const char *starts[] = {"2027-05-01T19:00:00Z", "2027-05-02T19:00:00Z", "2027-05-03T19:00:00Z",
                            "2027-05-04T19:00:00Z", "2027-05-05T19:00:00Z"};
    bool ok = true;
    for (int i = 0; i < 5; i++) {
        char title[32];
        snprintf(title, sizeof title, "Series %d", i);
        ok = ok && create_published(title, starts[i], i % 2 ? "rock" : "classical", ids[i]);
    }
    CHECK(ok, "five published events");
    struct harness_res r = call("GET", "/api/events?q=series&limit=2", NULL, NULL);
    json_t *items = json_object_get(r.body, "items");
    char cursor[200];
    bx_strlcpy(cursor, harness_str(r.body, "next_cursor") ? harness_str(r.body, "next_cursor") : "",
               sizeof cursor);
    CHECK(r.status == 200 && json_array_size(items) == 2 &&
              strcmp(harness_str(json_array_get(items, 0), "id"), ids[0]) == 0 && cursor[0],
          "page 1: the two earliest, and a cursor");
    harness_res_drop(&r);
    /* an event inserted before the cursor position must not shift the next page */
    char early[64];
    create_published("Series early", "2027-04-01T19:00:00Z", "rock", early);
    char path[400];
    snprintf(path, sizeof path, "/api/events?q=series&limit=2&cursor=%s", cursor);
    r = call("GET", path, NULL, NULL);
    items = json_object_get(r.body, "items");
    CHECK(r.status == 200 && json_array_size(items) == 2 &&
              strcmp(harness_str(json_array_get(items, 0), "id"), ids[2]) == 0 &&
              strcmp(harness_str(json_array_get(items, 1), "id"), ids[3]) == 0,
          "page 2 continues after page 1 although an earlier event was inserted");
    harness_res_drop(&r);
    r = call("GET", "/api/events?q=series&category=rock", NULL, NULL);
    CHECK(r.status == 200 && json_array_size(json_object_get(r.body, "items")) == 3,
          "category filter");
    harness_res_drop(&r);
    r = call("GET",
             "/api/events?q=series&city=london&from=2027-05-02T00:00:00Z&to=2027-05-03T23:00:00Z",
             NULL, NULL);
    CHECK(r.status == 200 && json_array_size(json_object_get(r.body, "items")) == 2,
          "city (case-insensitive) and from/to filters");
    harness_res_drop(&r);
    r = call("GET", "/api/events?q=series", NULL, NULL);
    char etag[64];
    bx_strlcpy(etag, r.etag, sizeof etag);
    CHECK(r.status == 200 && etag[0] == '"', "list carries an ETag");
    harness_res_drop(&r);
    char inm[120];
    snprintf(inm, sizeof inm, "If-None-Match: %s", etag);
    extra_header = inm;
    r = call("GET", "/api/events?q=series", NULL, NULL);
    CHECK(r.status == 304, "If-None-Match with the current ETag -> 304");
    harness_res_drop(&r);
    extra_header = NULL;
    char later[64];
    create_published("Series late", "2027-06-01T19:00:00Z", "rock", later);
    extra_header = inm;
    r = call("GET", "/api/events?q=series", NULL, NULL);
    CHECK(r.status == 200 && strcmp(r.etag, etag) != 0,
          "after a write the list changes and so does its ETag");
    harness_res_drop(&r);
    extra_header = NULL;
    char vpath[128];
    snprintf(vpath, sizeof vpath, "/api/venues/%s", venue_id);
    r = call("PATCH", vpath, admin, "{\"name\":\"Royal Albert Hall\",\"city\":\"Westminster\"}");
    CHECK(r.status == 200 && strcmp(harness_str(r.body, "city"), "Westminster") == 0,
          "venue edited");
    harness_res_drop(&r);
    r = call("GET", "/api/events?q=westminster&category=classical", NULL, NULL);
    CHECK(r.status == 200 && json_array_size(json_object_get(r.body, "items")) == 3,
          "search follows the venue's new city");
    harness_res_drop(&r);
    r = call("GET", "/api/events?limit=0", NULL, NULL);
    CHECK(harness_err_is(&r, 422, "invalid_field", "limit"), "limit=0 -> 422");
    harness_res_drop(&r);
    r = call("GET", "/api/events?limit=101", NULL, NULL);
    CHECK(harness_err_is(&r, 422, "invalid_field", "limit"), "limit=101 -> 422");
    harness_res_drop(&r);
    r = call("GET", "/api/events?cursor=bm90LWEtY3Vyc29y", NULL, NULL);
    CHECK(harness_err_is(&r, 422, "invalid_field", "cursor"), "foreign cursor -> 422");
    harness_res_drop(&r);
    r = call("GET", "/api/events?q=%FF%FE", NULL, NULL);
    CHECK(harness_err_is(&r, 422, "invalid_field", "q"), "q that is not UTF-8 -> 422");
    harness_res_drop(&r);
    r = call("GET", "/api/events/%FF", NULL, NULL);
    CHECK(harness_err_is(&r, 404, "not_found", NULL), "an id that is not ours -> 404");
    harness_res_drop(&r);
    r = call("POST", "/api/events/%E2%82/publish", admin, NULL);
    CHECK(harness_err_is(&r, 404, "not_found", NULL), "and so for writes");
    harness_res_drop(&r);
    r = call("GET", "/api/events?from=yesterday", NULL, NULL);
    CHECK(harness_err_is(&r, 422, "invalid_field", "from"), "bad from -> 422");
    harness_res_drop(&r);
}

static pid_t start(const char *bin, const char *db_env, const char *keys, const char *log) {
    char e0[64], e1[300];
    snprintf(e0, sizeof e0, "BOXOFFICE_CATALOG_PORT=%u", (unsigned)catalog_port);
    snprintf(e1, sizeof e1, "BOXOFFICE_AUTH_KEYS=%s", keys);
    char e2[80];
    snprintf(e2, sizeof e2, "BOXOFFICE_BOOKING_URL=http://127.0.0.1:%u", (unsigned)booking_port);
    const char *env[] = {e0, e1, e2, db_env, "BOXOFFICE_LOG_LEVEL=warn", NULL};
    return harness_spawn(bin, env, log);
}

int main(int argc, char **argv) {
    bool pg = argc == 5 && strcmp(argv[3], "postgres") == 0;
    if (!pg && !(argc == 4 && strcmp(argv[3], "sqlite") == 0)) {
        fprintf(stderr, "usage: %s CATALOG-BIN FRONTEND-BIN sqlite | postgres URL\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    char dir[] = "/tmp/bx-catalog-XXXXXX";
    BX_ASSERT(mkdtemp(dir) != NULL);
    char keys[128], log[128], db_env[600];
    snprintf(keys, sizeof keys, "%s/keys", dir);
    snprintf(log, sizeof log, "%s/catalog.log", dir);
    if (pg) {
        snprintf(db_env, sizeof db_env, "BOXOFFICE_CATALOG_DB=%s", argv[4]);
    } else {
        snprintf(db_env, sizeof db_env, "BOXOFFICE_CATALOG_DB=sqlite:%s/catalog.db", dir);
    }
    struct bx_key key;
    BX_ASSERT(bx_keyring_generate(keys, &key) == BX_OK);
    mint(&key, BX_ROLE_ADMIN, admin, sizeof admin);
    mint(&key, BX_ROLE_CUSTOMER, customer, sizeof customer);
    catalog_port = harness_free_port();
    booking_port = harness_free_port(); /* nothing listens there */
    port = harness_free_port();
    char fe_log[128], fe0[64], fe1[80];
    snprintf(fe_log, sizeof fe_log, "%s/frontend.log", dir);
    snprintf(fe0, sizeof fe0, "BOXOFFICE_FRONTEND_PORT=%u", (unsigned)port);
    snprintf(fe1, sizeof fe1, "BOXOFFICE_CATALOG_URL=http://127.0.0.1:%u", (unsigned)catalog_port);
    const char *fe_env[] = {fe0, fe1, "BOXOFFICE_LOG_LEVEL=warn", NULL};
    /* no booking runs in this test: catalog must refuse what only booking can confirm */
    pid_t fe = harness_spawn(argv[2], fe_env, fe_log);
    pid_t pid = start(argv[1], db_env, keys, log);
    bool up =
        harness_wait_ok(catalog_port, "/readyz", 30000) && harness_wait_ok(port, "/healthz", 20000);
    CHECK(up, "catalog is up (%s)", pg ? "PostgreSQL" : "SQLite");
    if (up) {
        test_venues();
        test_events();
        test_listing();
    }
    int st = harness_stop(pid, SIGTERM, 20000);
    CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "SIGTERM -> exit 0");
    if (up) {
        pid = start(argv[1], db_env, keys, log);
        up = harness_wait_ok(catalog_port, "/readyz", 30000);
        struct harness_res r = call("GET", "/api/venues?limit=100", NULL, NULL);
        CHECK(up && r.status == 200 && json_array_size(json_object_get(r.body, "items")) == 2,
              "after a restart the data is there and migrations did not run twice");
        harness_res_drop(&r);
        harness_stop(pid, SIGTERM, 20000);
        /* --seed-demo fills an empty catalog only */
        char cmd[900];
        snprintf(cmd, sizeof cmd,
                 "%s BOXOFFICE_AUTH_KEYS='%s' BOXOFFICE_LOG_LEVEL=warn '%s' --seed-demo "
                 ">/dev/null 2>&1",
                 db_env, keys, argv[1]);
        CHECK(system(cmd) == 0, "--seed-demo on a non-empty catalog exits 0 (and adds nothing)");
        pid = start(argv[1], db_env, keys, log);
        harness_wait_ok(catalog_port, "/readyz", 30000);
        r = call("GET", "/api/venues?limit=100", NULL, NULL);
        CHECK(r.status == 200 && json_array_size(json_object_get(r.body, "items")) == 2,
              "seeding skipped a catalog that has data");
        harness_res_drop(&r);
        harness_stop(pid, SIGTERM, 20000);
    }
    harness_stop(fe, SIGTERM, 20000);
    if (harness_failures) {
        harness_tail(log, 30);
    }
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", dir);
    }
    return harness_finish("test_catalog");
}
