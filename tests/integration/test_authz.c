// SPDX-License-Identifier: Apache-2.0
// The authorization matrix (ctest integration.authz): the whole stack started by scripts/run.sh on
// free ports in a temporary BOXOFFICE_VAR, then every route of API.md (and the documented
// additions) called through the gateway as each of twelve callers: anonymous, the owner of the
// resources, another customer, staff, admin, and seven invalid tokens (expired, revoked by
// logout, forged with an unknown key under the stack's kid, forged under an unknown kid, a tampered
// signature, a tampered payload claiming admin, alg "none"). Each answer is checked against the
// table below (status and error code), routes that would change something are checked to have
// changed nothing when refused, and lists are checked not to leak another user's orders.
// docs/security-tests.md shows the same table.
//   test_authz BUILD_DIR SOURCE_DIR
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "boxoffice/auth.h"
#include "boxoffice/base.h"
#include "harness.h"

#define READY_WAIT_MS       90000 /* tickets rendered, analytics caught up */
#define REVOCATION_BOUND_MS 3000  /* API.md: a logged-out token is refused everywhere within 3 s */
#define POLL_MS             200
#define PATH_MAX_BYTES      1024
#define BODY_MAX_BYTES      2048
#define TOKEN_BYTES         (BX_TOKEN_MAX_BYTES + 64)
#define PASSWORD            "authz-password-1"

/* ------------------------------------------------------------------ the stack (scripts/run.sh) */

enum svc {
    FRONTEND = HS_FRONTEND,
    CATALOG = HS_CATALOG,
    USERS = HS_USERS,
    BOOKING = HS_BOOKING,
    TICKETGEN = HS_TICKETGEN,
    ANALYTICS = HS_ANALYTICS,
    DEVKAFKA = HS_DEVKAFKA,
    N_SVC = HS_N
};
#define svc_log harness_stack_names
static struct harness_stack stack = {.launcher = -1};

static char *const var_dir = stack.var_dir;
static uint16_t *const ports = stack.ports;
static uint16_t gw; /* the gateway's port */

/* ------------------------------------------------------------------ calls and tokens */

static struct harness_res call(const char *method, const char *path, const char *token,
                               const char *header, const char *body) {
    return harness_call(gw, method, path, token, header, body);
}

static long call_status(const char *method, const char *path, const char *token, const char *body) {
    struct harness_res r = call(method, path, token, NULL, body);
    harness_res_drop(&r);
    return r.status;
}

/* A GET for an event stream: the status line is all we read (the stream itself never ends). */
static long stream_status(const char *path, const char *token) {
    char req[2048], resp[4096];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n%s%s%s"
                     "Connection: close\r\n\r\n",
                     path, token ? "Authorization: Bearer " : "", token ? token : "",
                     token ? "\r\n" : "");
    BX_ASSERT(n > 0 && (size_t)n < sizeof req);
    /* a 200 stream stays open: harness_raw returns at the deadline with the head read */
    harness_raw(gw, req, (size_t)n, resp, sizeof resp, 3000);
    return harness_status(resp);
}

static bool login(const char *email, const char *password, char *token, size_t size, char *id_out,
                  size_t id_size) {
    json_t *b = json_pack("{s:s, s:s}", "email", email, "password", password);
    char *text = json_dumps(b, JSON_COMPACT);
    struct harness_res r = call("POST", "/api/sessions", NULL, NULL, text);
    free(text);
    json_decref(b);
    const char *t = harness_str(r.body, "token"), *id = harness_str(r.body, "user.id");
    bool ok = r.status == 201 && t != NULL && id != NULL && strlen(t) < size;
    if (ok) {
        bx_strlcpy(token, t, size);
        if (id_out != NULL) {
            bx_strlcpy(id_out, id, id_size);
        }
    }
    harness_res_drop(&r);
    return ok;
}

static bool register_user(const char *email, char *id_out, size_t id_size) {
    json_t *b = json_pack("{s:s, s:s, s:s}", "email", email, "password", PASSWORD, "name", "Authz");
    char *text = json_dumps(b, JSON_COMPACT);
    struct harness_res r = call("POST", "/api/users", NULL, NULL, text);
    free(text);
    json_decref(b);
    const char *id = harness_str(r.body, "id");
    bool ok = r.status == 201 && id != NULL;
    if (ok) {
        bx_strlcpy(id_out, id, id_size);
    }
    harness_res_drop(&r);
    return ok;
}

static void b64url(const void *bin, size_t len, char *out, size_t size) {
    BX_ASSERT(size >= sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING));
    sodium_bin2base64(out, size, bin, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static void mint(const struct bx_key *key, enum bx_role role, const char *sub, int64_t iat,
                 int64_t exp, char *out, size_t size) {
    struct bx_claims c = {.role = role, .iat = iat, .exp = exp};
    bx_strlcpy(c.sub, sub, sizeof c.sub);
    bx_uuid7(c.jti);
    BX_ASSERT(bx_token_sign(key, &c, out, size) == BX_OK);
}

/* The token with its payload's "role" replaced by admin, the signature kept. */
static bool tamper_role(const char *token, char *out, size_t size) {
    const char *d1 = strchr(token, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (d2 == NULL) {
        return false;
    }
    unsigned char payload[512];
    size_t n = 0;
    if (sodium_base642bin(payload, sizeof payload - 1, d1 + 1, (size_t)(d2 - d1 - 1), NULL, &n,
                          NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) {
        return false;
    }
    payload[n] = '\0';
    json_t *claims = json_loads((const char *)payload, 0, NULL);
    if (claims == NULL) {
        return false;
    }
    json_object_set_new(claims, "role", json_string("admin"));
    char *text = json_dumps(claims, JSON_COMPACT);
    json_decref(claims);
    char enc[768];
    b64url(text, strlen(text), enc, sizeof enc);
    free(text);
    int w = snprintf(out, size, "%.*s.%s%s", (int)(d1 - token), token, enc, d2);
    return w > 0 && (size_t)w < size;
}

/* {"alg":"none"} over admin claims, an empty signature. */
static void alg_none(const char *kid, const char *sub, char *out, size_t size) {
    char header[128], payload[512], h64[256], p64[768];
    snprintf(header, sizeof header, "{\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"%s\"}", kid);
    int64_t now = bx_now_unix_s();
    snprintf(payload, sizeof payload,
             "{\"sub\":\"%s\",\"role\":\"admin\",\"iat\":%lld,\"exp\":%lld,\"jti\":\"none-%lld\"}",
             sub, (long long)now, (long long)(now + 3600), (long long)now);
    b64url(header, strlen(header), h64, sizeof h64);
    b64url(payload, strlen(payload), p64, sizeof p64);
    snprintf(out, size, "%s.%s.", h64, p64);
}

/* ------------------------------------------------------------------ callers and resources */

enum col {
    ANON,
    OWNER,
    OTHER,
    STAFF,
    ADMIN,
    EXPIRED,       /* signed by the stack's key, exp an hour ago (admin claims) */
    REVOKED,       /* a real admin session after DELETE /api/sessions/current */
    FORGED,        /* admin claims signed by a key the stack does not know, under the stack's kid */
    FORGED_KID,    /* the same under a kid the stack does not know */
    TAMPERED_SIG,  /* a real admin token with one signature character changed */
    TAMPERED_ROLE, /* the owner's real token with "role":"admin" in the payload */
    ALG_NONE,      /* {"alg":"none"}, admin claims, no signature */
    N_COLS
};
#define N_VALID 5 /* ANON..ADMIN; the rest are invalid tokens */
static const char *const col_name[N_COLS] = {
    "anon",    "owner",  "other",      "staff",        "admin",         "expired",
    "revoked", "forged", "forged_kid", "tampered_sig", "tampered_role", "alg_none"};

static char tokens[N_COLS][TOKEN_BYTES];
static const char *email_of[N_VALID] = {NULL, "owner@authz.test", "other@authz.test",
                                        "staff@authz.test", "admin@boxoffice.local"};
static char admin_password[128];
static char user_id[N_VALID][64];
static char target_id[64], venue_id[64], event_id[64], tier_id[64], draft_id[64], hold_id[64];
static char order_id[64], ticket_id[64];
static unsigned uniq_counter;

static const char *tok(int c) {
    return c == ANON ? NULL : tokens[c];
}

static const char *password_of(int c) {
    return c == ADMIN ? admin_password : PASSWORD;
}

static bool new_hold(char *out, size_t size) {
    char body[512];
    snprintf(body, sizeof body, "{\"event_id\":\"%s\",\"tier_id\":\"%s\",\"quantity\":1}", event_id,
             tier_id);
    struct harness_res r = call("POST", "/api/holds", tokens[OWNER], NULL, body);
    const char *id = harness_str(r.body, "id");
    bool ok = r.status == 201 && id != NULL;
    if (ok) {
        bx_strlcpy(out, id, size);
    }
    harness_res_drop(&r);
    return ok;
}

static bool new_order(const char *hold, char *out, size_t size, json_t **order_out) {
    char body[256], key[96];
    snprintf(body, sizeof body, "{\"hold_id\":\"%s\"}", hold);
    snprintf(key, sizeof key, "Idempotency-Key: authz-order-%s", hold);
    struct harness_res r = call("POST", "/api/orders", tokens[OWNER], key, body);
    const char *id = harness_str(r.body, "id");
    bool ok = r.status == 201 && id != NULL;
    if (ok) {
        bx_strlcpy(out, id, size);
        if (order_out != NULL) {
            *order_out = json_incref(r.body);
        }
    }
    harness_res_drop(&r);
    return ok;
}

static bool new_draft(char *out, size_t size) {
    char body[1024];
    snprintf(
        body, sizeof body,
        "{\"title\":\"Authz draft %u\",\"category\":\"test\",\"venue_id\":\"%s\","
        "\"starts_at\":\"2031-03-01T19:00:00Z\",\"ends_at\":\"2031-03-01T22:00:00Z\","
        "\"tiers\":[{\"name\":\"GA\",\"price_cents\":500,\"currency\":\"EUR\",\"capacity\":10}]}",
        ++uniq_counter, venue_id);
    struct harness_res r = call("POST", "/api/events", tokens[ADMIN], NULL, body);
    const char *id = harness_str(r.body, "id");
    bool ok = r.status == 201 && id != NULL;
    if (ok) {
        bx_strlcpy(out, id, size);
    }
    harness_res_drop(&r);
    return ok;
}

/* Waits (bounded) until GET path as token answers 200 and, when pred is set, pred(body). */
static bool wait_for(const char *path, const char *token, bool (*pred)(json_t *)) {
    int64_t deadline = bx_now_mono_ms() + READY_WAIT_MS;
    while (bx_now_mono_ms() < deadline) {
        struct harness_res r = call("GET", path, token, NULL, NULL);
        bool ok = r.status == 200 && (pred == NULL || pred(r.body));
        harness_res_drop(&r);
        if (ok) {
            return true;
        }
        usleep(POLL_MS * 1000);
    }
    return false;
}

static bool all_ready(json_t *body) {
    json_t *items = json_object_get(body, "items");
    size_t i;
    json_t *t;
    bool ok = json_array_size(items) > 0;
    json_array_foreach(items, i, t) {
        const char *s = harness_str(t, "status");
        ok = ok && s != NULL && strcmp(s, "ready") == 0;
    }
    return ok;
}

static bool setup(void) {
    char path[PATH_MAX_BYTES], body[BODY_MAX_BYTES];
    char pw_path[320];
    snprintf(pw_path, sizeof pw_path, "%s/admin-password", var_dir);
    FILE *f = fopen(pw_path, "r");
    bool ok = f != NULL && fgets(admin_password, sizeof admin_password, f) != NULL;
    if (f != NULL) {
        fclose(f);
    }
    admin_password[strcspn(admin_password, "\r\n")] = '\0';
    CHECK(ok && admin_password[0] != '\0', "the launcher's admin password is in %s", pw_path);
    ok = ok && login(email_of[ADMIN], admin_password, tokens[ADMIN], TOKEN_BYTES, user_id[ADMIN],
                     sizeof user_id[ADMIN]);
    CHECK(ok, "the demo admin logs in");
    for (int c = OWNER; ok && c <= STAFF; c++) {
        ok = register_user(email_of[c], user_id[c], sizeof user_id[c]);
        CHECK(ok, "%s registers", email_of[c]);
    }
    ok = ok && register_user("target@authz.test", target_id, sizeof target_id) &&
         register_user("login@authz.test", body, sizeof body);
    CHECK(ok, "the role target and the log-in target register");
    if (ok) {
        snprintf(path, sizeof path, "/api/users/%s/role", user_id[STAFF]);
        struct harness_res r = call("POST", path, tokens[ADMIN], NULL, "{\"role\":\"staff\"}");
        const char *role = harness_str(r.body, "role");
        ok = r.status == 200 && role != NULL && strcmp(role, "staff") == 0;
        harness_res_drop(&r);
        CHECK(ok, "the admin makes %s staff", email_of[STAFF]);
    }
    for (int c = OWNER; ok && c <= STAFF; c++) { /* after the role change: it revokes sessions */
        ok = login(email_of[c], PASSWORD, tokens[c], TOKEN_BYTES, NULL, 0);
        CHECK(ok, "%s logs in", email_of[c]);
    }
    if (!ok) {
        return false;
    }
    struct harness_res r =
        call("POST", "/api/venues", tokens[ADMIN], NULL,
             "{\"name\":\"Authz Hall\",\"address\":\"1 Matrix Road\","
             "\"city\":\"Leeds\",\"country\":\"GB\",\"timezone\":\"Europe/London\"}");
    ok = r.status == 201 && harness_str(r.body, "id") != NULL;
    if (ok) {
        bx_strlcpy(venue_id, harness_str(r.body, "id"), sizeof venue_id);
    }
    harness_res_drop(&r);
    CHECK(ok, "the admin creates a venue");
    snprintf(body, sizeof body,
             "{\"title\":\"Authz Night\",\"category\":\"test\",\"venue_id\":\"%s\","
             "\"starts_at\":\"2031-01-01T19:00:00Z\",\"ends_at\":\"2031-01-01T22:00:00Z\","
             "\"tiers\":[{\"name\":\"GA\",\"price_cents\":2500,\"currency\":\"EUR\","
             "\"capacity\":1000,\"max_per_order\":10}]}",
             venue_id);
    r = call("POST", "/api/events", tokens[ADMIN], NULL, body);
    ok = ok && r.status == 201 && harness_str(r.body, "id") != NULL;
    if (ok) {
        bx_strlcpy(event_id, harness_str(r.body, "id"), sizeof event_id);
        const char *t = harness_str(json_array_get(json_object_get(r.body, "tiers"), 0), "id");
        bx_strlcpy(tier_id, t ? t : "", sizeof tier_id);
    }
    harness_res_drop(&r);
    snprintf(path, sizeof path, "/api/events/%s/publish", event_id);
    ok = ok && tier_id[0] != '\0' && call_status("POST", path, tokens[ADMIN], NULL) == 200;
    CHECK(ok, "the admin creates and publishes an event with a tier");
    ok = ok && new_draft(draft_id, sizeof draft_id);
    CHECK(ok, "the admin creates a draft event");
    ok = ok && new_hold(hold_id, sizeof hold_id);
    CHECK(ok, "the owner holds a seat");
    json_t *order = NULL;
    ok = ok && new_order(hold_id, order_id, sizeof order_id, &order);
    CHECK(ok, "the owner confirms the hold into an order");
    const char *t = harness_str(json_array_get(json_object_get(order, "tickets"), 0), "id");
    bx_strlcpy(ticket_id, t ? t : "", sizeof ticket_id);
    json_decref(order);
    ok = ok && ticket_id[0] != '\0';
    snprintf(path, sizeof path, "/api/orders/%s/tickets", order_id);
    ok = ok && wait_for(path, tokens[OWNER], all_ready);
    CHECK(ok, "the order's tickets become ready");
    snprintf(path, sizeof path, "/api/analytics/events/%s", event_id);
    bool known = ok && wait_for(path, tokens[ADMIN], NULL);
    CHECK(known, "analytics answers for the event");
    return ok && known;
}

/* The invalid tokens. The revoked one is made last, by the caller, so its bound can be timed. */
static bool make_bad_tokens(void) {
    char keys[320];
    snprintf(keys, sizeof keys, "%s/keys/auth", var_dir);
    static struct bx_keyring kr; /* big: keep it off the stack */
    bool ok = bx_keyring_load_dir(&kr, keys) == BX_OK;
    CHECK(ok, "the stack's auth key loads from %s", keys);
    if (!ok) {
        return false;
    }
    const struct bx_key *real = &kr.keys[kr.signing];
    int64_t now = bx_now_unix_s();
    mint(real, BX_ROLE_ADMIN, user_id[ADMIN], now - 7200, now - 3600, tokens[EXPIRED], TOKEN_BYTES);

    char forged_dir[320];
    snprintf(forged_dir, sizeof forged_dir, "%s/forged-keys", var_dir);
    struct bx_key fake;
    ok = bx_keyring_generate(forged_dir, &fake) == BX_OK;
    CHECK(ok, "a key the stack does not know is generated");
    if (!ok) {
        return false;
    }
    mint(&fake, BX_ROLE_ADMIN, user_id[ADMIN], now, now + 3600, tokens[FORGED_KID], TOKEN_BYTES);
    bx_strlcpy(fake.kid, real->kid, sizeof fake.kid);
    mint(&fake, BX_ROLE_ADMIN, user_id[ADMIN], now, now + 3600, tokens[FORGED], TOKEN_BYTES);

    bx_strlcpy(tokens[TAMPERED_SIG], tokens[ADMIN], TOKEN_BYTES);
    char *sig = strrchr(tokens[TAMPERED_SIG], '.');
    BX_ASSERT(sig != NULL && strlen(sig) > 40);
    sig[20] = sig[20] == 'A' ? 'B' : 'A'; /* mid-signature: no padding bits involved */
    ok = tamper_role(tokens[OWNER], tokens[TAMPERED_ROLE], TOKEN_BYTES);
    CHECK(ok, "the owner's token is re-encoded claiming admin");
    alg_none(real->kid, user_id[ADMIN], tokens[ALG_NONE], TOKEN_BYTES);
    return ok;
}

/* ------------------------------------------------------------------ the table */

/* Flags of a row. */
#define FRESH_SESSION (1u << 0) /* valid callers use a session of their own made for this call */
#define FRESH_HOLD    (1u << 1) /* <fresh> is a new active hold of the owner */
#define FRESH_ORDER   (1u << 2) /* <fresh> is a new confirmed order of the owner */
#define FRESH_DRAFT   (1u << 3) /* <fresh> is a new draft event */
#define IDEM          (1u << 4) /* sends Idempotency-Key: authz-<uniq> */
#define STREAM        (1u << 5) /* an event stream: only the status is read */
#define LIST_ORDERS                                                                                \
    (1u << 6)                  /* a 200 list must hold the owner's order for owner and admin only  \
                                */
#define COUNT_VENUES (1u << 7) /* each 201 adds one venue; nothing else may */
#define COUNT_EVENTS (1u << 8) /* each 200 publishes one event; nothing else may */

struct row {
    const char *method;
    const char *path; /* <venue> <event> <tier> <draft> <hold> <order> <ticket> <target> <owner_id>
                         <uniq> <fresh> are filled in */
    const char *body;
    int want[N_VALID]; /* anon, owner, other customer, staff, admin */
    int bad;           /* every invalid token */
    unsigned flags;
};

/* Read API.md's "who" column this way: anyone (BX_AUTH_NONE) ignores the Authorization header,
 * so invalid tokens are served like anonymous callers; GET /api/events/{id} (BX_AUTH_OPTIONAL)
 * serves anonymous callers but refuses an invalid token with 401; every other route needs a
 * valid token (401), then the role (403), then ownership (404). 422 where a valid caller is
 * expected means "past the auth check, refused on the body": those rows change nothing. */
#define ANYONE(s)        {s, s, s, s, s}, s
#define USER(o, x, s, a) {401, o, x, s, a}, 401
#define ADMIN_ONLY(s)    {401, 403, 403, 403, s}, 401
#define VENUE_BODY                                                                                 \
    "{\"name\":\"Authz <uniq>\",\"address\":\"2 Matrix Road\",\"city\":\"Leeds\","                 \
    "\"country\":\"GB\",\"timezone\":\"Europe/London\"}"

static const struct row rows[] = {
    /* users */
    {"POST", "/api/users",
     "{\"email\":\"new-<uniq>@authz.test\",\"password\":\"" PASSWORD "\",\"name\":\"New\"}",
     ANYONE(201), 0},
    {"POST", "/api/sessions", "{\"email\":\"login@authz.test\",\"password\":\"" PASSWORD "\"}",
     ANYONE(201), 0},
    {"DELETE", "/api/sessions/current", NULL, USER(204, 204, 204, 204), FRESH_SESSION},
    {"GET", "/api/users/me", NULL, USER(200, 200, 200, 200), 0},
    {"PATCH", "/api/users/me", "{}", USER(200, 200, 200, 200), 0},
    {"POST", "/api/users/me/password", "{}", USER(422, 422, 422, 422), 0},
    {"POST", "/api/users/<target>/role", "{\"role\":\"customer\"}", ADMIN_ONLY(200), 0},
    {"GET", "/api/auth/jwks", NULL, ANYONE(200), 0},
    {"GET", "/api/auth/revocations", NULL, ANYONE(200), 0},
    /* catalog */
    {"POST", "/api/venues", VENUE_BODY, ADMIN_ONLY(201), COUNT_VENUES},
    {"GET", "/api/venues", NULL, ANYONE(200), 0},
    {"GET", "/api/venues/<venue>", NULL, ANYONE(200), 0},
    {"PATCH", "/api/venues/<venue>", "{\"city\":\"Leeds\"}", ADMIN_ONLY(200), 0},
    {"GET", "/api/events", NULL, ANYONE(200), 0},
    {"GET", "/api/events/changes", NULL, ANYONE(200), 0},
    {"POST", "/api/events",
     "{\"title\":\"Authz <uniq>\",\"category\":\"test\",\"venue_id\":\"<venue>\","
     "\"starts_at\":\"2031-02-01T19:00:00Z\",\"ends_at\":\"2031-02-01T22:00:00Z\","
     "\"tiers\":[{\"name\":\"GA\",\"price_cents\":500,\"currency\":\"EUR\",\"capacity\":10}]}",
     ADMIN_ONLY(201), 0},
    {"GET", "/api/events/<event>", NULL, {200, 200, 200, 200, 200}, 401, 0},
    {"GET", "/api/events/<draft>", NULL, {404, 404, 404, 404, 200}, 401, 0},
    {"PATCH", "/api/events/<event>", "{\"description\":\"Patched by the matrix.\"}",
     ADMIN_ONLY(200), 0},
    {"POST", "/api/events/<draft>/tiers",
     "{\"name\":\"Extra <uniq>\",\"price_cents\":100,\"currency\":\"EUR\",\"capacity\":5}",
     ADMIN_ONLY(201), 0},
    {"PATCH", "/api/events/<event>/tiers/<tier>", "{\"name\":\"GA\"}", ADMIN_ONLY(200), 0},
    {"POST", "/api/events/<fresh>/publish", NULL, ADMIN_ONLY(200), FRESH_DRAFT | COUNT_EVENTS},
    {"POST", "/api/events/<fresh>/cancel", NULL, ADMIN_ONLY(200), FRESH_DRAFT},
    /* booking */
    {"GET", "/api/events/<event>/availability", NULL, ANYONE(200), 0},
    {"POST", "/api/holds", "{\"event_id\":\"<event>\",\"tier_id\":\"<tier>\",\"quantity\":1}",
     USER(201, 201, 201, 201), 0},
    {"GET", "/api/holds/<hold>", NULL, USER(200, 404, 404, 200), 0},
    {"DELETE", "/api/holds/<fresh>", NULL, USER(204, 404, 404, 204), FRESH_HOLD},
    {"POST", "/api/orders", "{\"hold_id\":\"<fresh>\"}", USER(201, 404, 404, 404),
     FRESH_HOLD | IDEM},
    {"GET", "/api/orders?limit=100", NULL, USER(200, 200, 200, 200), LIST_ORDERS},
    {"GET", "/api/orders?limit=100&user_id=<owner_id>", NULL, USER(200, 200, 200, 200),
     LIST_ORDERS},
    {"GET", "/api/orders/<order>", NULL, USER(200, 404, 404, 200), 0},
    {"POST", "/api/orders/<fresh>/cancel", NULL, USER(200, 404, 404, 200), FRESH_ORDER},
    /* ticketgen */
    {"GET", "/api/orders/<order>/tickets", NULL, USER(200, 404, 404, 200), 0},
    {"GET", "/api/tickets/<ticket>.pdf", NULL, USER(200, 404, 404, 200), 0},
    {"GET", "/api/tickets/<ticket>/payload", NULL, USER(200, 404, 404, 200), 0},
    {"GET", "/api/tickets/keys", NULL, ANYONE(200), 0},
    {"POST", "/api/checkins", "{\"payload\":\"not-a-ticket\"}", USER(403, 403, 200, 200), 0},
    /* analytics */
    {"GET", "/api/analytics/summary", NULL, ADMIN_ONLY(200), 0},
    {"GET", "/api/analytics/events/<event>", NULL, ADMIN_ONLY(200), 0},
    {"GET", "/api/analytics/stream", NULL, ADMIN_ONLY(200), STREAM},
    /* the gateway's own */
    {"GET", "/healthz", NULL, ANYONE(200), 0},
    {"GET", "/readyz", NULL, ANYONE(200), 0},
    {"GET", "/metrics", NULL, ANYONE(200), 0},
    {"GET", "/api/no-such-thing", NULL, ANYONE(404), 0},
    {"DELETE", "/api/venues/<venue>", NULL, ANYONE(405), 0},
};
#define N_ROWS (sizeof rows / sizeof rows[0])

static int got[N_ROWS][N_COLS];

static const char *code_for(int status) {
    switch (status) {
    case 401:
        return "unauthorized";
    case 403:
        return "forbidden";
    case 404:
        return "not_found";
    case 405:
        return "method_not_allowed";
    case 422:
        return "invalid_field";
    default:
        return NULL;
    }
}

/* template with <name> replaced; false when it does not fit. */
static bool expand(const char *template, const char *fresh, char *out, size_t size) {
    char uniq[32];
    snprintf(uniq, sizeof uniq, "%u-%lld", ++uniq_counter, (long long)bx_now_unix_ms());
    const struct {
        const char *name, *value;
    } subst[] = {{"<venue>", venue_id},
                 {"<event>", event_id},
                 {"<tier>", tier_id},
                 {"<draft>", draft_id},
                 {"<hold>", hold_id},
                 {"<order>", order_id},
                 {"<ticket>", ticket_id},
                 {"<target>", target_id},
                 {"<owner_id>", user_id[OWNER]},
                 {"<uniq>", uniq},
                 {"<fresh>", fresh ? fresh : ""}};
    size_t n = 0;
    for (const char *p = template; *p != '\0';) {
        const char *value = NULL;
        size_t skip = 1;
        for (size_t i = 0; i < sizeof subst / sizeof subst[0] && value == NULL; i++) {
            size_t l = strlen(subst[i].name);
            if (strncmp(p, subst[i].name, l) == 0) {
                value = subst[i].value;
                skip = l;
            }
        }
        size_t vl = value ? strlen(value) : 1;
        if (n + vl + 1 > size) {
            return false;
        }
        memcpy(out + n, value ? value : p, vl);
        n += vl;
        p += skip;
    }
    out[n] = '\0';
    return true;
}

static const char *status_of(const char *path, const char *token, const char *key) {
    static char status[32];
    struct harness_res r = call("GET", path, token, NULL, NULL);
    const char *s = harness_str(r.body, key);
    bx_strlcpy(status, r.status == 200 && s ? s : "?", sizeof status);
    harness_res_drop(&r);
    return status;
}

/* A refused call on a fresh resource must have left it as it was; an accepted one changed it. */
static void check_fresh(const struct row *rw, int c, const char *fresh, int status) {
    char path[PATH_MAX_BYTES];
    bool done = status >= 200 && status < 300;
    if (rw->flags & FRESH_HOLD) {
        snprintf(path, sizeof path, "/api/holds/%s", fresh);
        const char *want = !done                               ? "active"
                           : strcmp(rw->method, "DELETE") == 0 ? "released"
                                                               : "confirmed";
        const char *s = status_of(path, tokens[OWNER], "status");
        CHECK(strcmp(s, want) == 0, "%s %s as %s: the hold is %s (%s)", rw->method, rw->path,
              col_name[c], want, s);
    } else if (rw->flags & FRESH_ORDER) {
        snprintf(path, sizeof path, "/api/orders/%s", fresh);
        const char *want = done ? "cancelled" : "confirmed";
        const char *s = status_of(path, tokens[OWNER], "status");
        CHECK(strcmp(s, want) == 0, "%s %s as %s: the order is %s (%s)", rw->method, rw->path,
              col_name[c], want, s);
    } else if (rw->flags & FRESH_DRAFT) {
        snprintf(path, sizeof path, "/api/events/%s", fresh);
        const char *want = !done                         ? "draft"
                           : strstr(rw->path, "publish") ? "published"
                                                         : "cancelled";
        const char *s = status_of(path, tokens[ADMIN], "status");
        CHECK(strcmp(s, want) == 0, "%s %s as %s: the event is %s (%s)", rw->method, rw->path,
              col_name[c], want, s);
    }
}

static void check_list(const struct row *rw, int c, json_t *body) {
    bool has_owner_order = false, foreign = false;
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(body, "items"), i, o) {
        const char *id = harness_str(o, "id"), *uid = harness_str(o, "user_id");
        has_owner_order = has_owner_order || (id != NULL && strcmp(id, order_id) == 0);
        foreign = foreign || (c != ADMIN && (uid == NULL || strcmp(uid, user_id[c]) != 0));
    }
    bool want = c == OWNER || c == ADMIN;
    CHECK(has_owner_order == want && !foreign, "%s %s as %s: %s the owner's order, %s", rw->method,
          rw->path, col_name[c], want ? "lists" : "does not list",
          foreign ? "BUT LISTS ANOTHER USER'S ORDERS" : "no other user's orders");
}

static void run_cell(size_t ri, int c) {
    const struct row *rw = &rows[ri];
    char fresh[64] = "", path[PATH_MAX_BYTES], body[BODY_MAX_BYTES], key[128];
    char fresh_token[TOKEN_BYTES];
    const char *token = tok(c);
    if ((rw->flags & FRESH_SESSION) && c > ANON && c < N_VALID) {
        bool ok = login(email_of[c], password_of(c), fresh_token, sizeof fresh_token, NULL, 0);
        CHECK(ok, "a fresh session for %s", col_name[c]);
        token = fresh_token;
    }
    bool ok = true;
    if (rw->flags & (FRESH_HOLD | FRESH_ORDER)) {
        char h[64];
        ok = new_hold(h, sizeof h) &&
             ((rw->flags & FRESH_ORDER) ? new_order(h, fresh, sizeof fresh, NULL)
                                        : bx_strlcpy(fresh, h, sizeof fresh) > 0);
    } else if (rw->flags & FRESH_DRAFT) {
        ok = new_draft(fresh, sizeof fresh);
    }
    if (rw->flags & (FRESH_HOLD | FRESH_ORDER | FRESH_DRAFT)) {
        CHECK(ok, "a fresh resource for %s %s as %s", rw->method, rw->path, col_name[c]);
    }
    BX_ASSERT(expand(rw->path, fresh, path, sizeof path));
    BX_ASSERT(rw->body == NULL || expand(rw->body, fresh, body, sizeof body));
    int want = c < N_VALID ? rw->want[c] : rw->bad;
    int status;
    const char *code = NULL;
    json_t *resp = NULL;
    if (rw->flags & STREAM) {
        status = (int)stream_status(path, token);
    } else {
        snprintf(key, sizeof key, "Idempotency-Key: authz-%u-%d", ++uniq_counter, c);
        struct harness_res r =
            call(rw->method, path, token, (rw->flags & IDEM) ? key : NULL, rw->body ? body : NULL);
        status = (int)r.status;
        code = harness_str(r.body, "error.code");
        resp = json_incref(r.body);
        harness_res_drop(&r);
    }
    got[ri][c] = status;
    const char *want_code = want >= 400 ? code_for(want) : NULL;
    bool code_ok =
        want_code == NULL || (code != NULL && strcmp(code, want_code) == 0) || (rw->flags & STREAM);
    CHECK(status == want && code_ok, "%s %s as %s: %d%s%s (got %d %s)", rw->method, rw->path,
          col_name[c], want, want_code ? " " : "", want_code ? want_code : "", status,
          code ? code : "");
    if (rw->flags & (FRESH_HOLD | FRESH_ORDER | FRESH_DRAFT)) {
        if (ok) {
            check_fresh(rw, c, fresh, status);
        }
    }
    if ((rw->flags & LIST_ORDERS) && status == 200 && c < N_VALID) {
        check_list(rw, c, resp);
    }
    if ((rw->flags & FRESH_SESSION) && c > ANON && c < N_VALID && status == 204) {
        CHECK(call_status("GET", "/api/users/me", token, NULL) == 401,
              "the %s session is refused by users right after its logout", col_name[c]);
    }
    json_decref(resp);
}

static void print_matrix(void) {
    printf("\nresult matrix (status per caller; '!' marks a cell that differs from the table)\n");
    printf("%-48s", "route");
    for (int c = 0; c < N_COLS; c++) {
        printf(" %-4.4s", col_name[c]);
    }
    printf("\n");
    for (size_t ri = 0; ri < N_ROWS; ri++) {
        char label[64];
        snprintf(label, sizeof label, "%s %s", rows[ri].method, rows[ri].path);
        printf("%-48.48s", label);
        for (int c = 0; c < N_COLS; c++) {
            int want = c < N_VALID ? rows[ri].want[c] : rows[ri].bad;
            printf(" %3d%c", got[ri][c], got[ri][c] == want ? ' ' : '!');
        }
        printf("\n");
    }
}

static int count_items(const char *path) {
    struct harness_res r = call("GET", path, tokens[ADMIN], NULL, NULL);
    int n = r.status == 200 ? (int)json_array_size(json_object_get(r.body, "items")) : -1;
    harness_res_drop(&r);
    return n;
}

/* The revoked column: a second admin session, logged out; every service must refuse it within
 * REVOCATION_BOUND_MS of the 204. */
static bool revoke_session(void) {
    bool ok = login(email_of[ADMIN], admin_password, tokens[REVOKED], TOKEN_BYTES, NULL, 0);
    CHECK(ok, "a second admin session to revoke");
    if (!ok) {
        return false;
    }
    char draft_path[PATH_MAX_BYTES];
    snprintf(draft_path, sizeof draft_path, "/api/events/%s", draft_id);
    CHECK(call_status("GET", draft_path, tokens[REVOKED], NULL) == 200,
          "before its logout the session reads a draft (catalog)");
    int64_t t0 = bx_now_mono_ms();
    long st = call_status("DELETE", "/api/sessions/current", tokens[REVOKED], NULL);
    CHECK(st == 204, "DELETE /api/sessions/current: 204 (got %ld)", st);
    CHECK(call_status("GET", "/api/users/me", tokens[REVOKED], NULL) == 401,
          "users refuses the logged-out token at once");
    int64_t left = t0 + REVOCATION_BOUND_MS - bx_now_mono_ms();
    if (left > 0) {
        usleep((useconds_t)left * 1000);
    }
    const struct {
        const char *service, *method, *path, *body;
    } probes[] = {
        {"users", "GET", "/api/users/me", NULL},
        {"catalog", "GET", draft_path, NULL},
        {"booking", "GET", "/api/orders", NULL},
        {"ticketgen", "POST", "/api/checkins", "{\"payload\":\"x\"}"},
        {"analytics", "GET", "/api/analytics/summary", NULL},
    };
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        st = call_status(probes[i].method, probes[i].path, tokens[REVOKED], probes[i].body);
        CHECK(st == 401, "%d ms after the logout %s refuses the token: 401 (got %ld)",
              REVOCATION_BOUND_MS, probes[i].service, st);
    }
    return true;
}

/* Other ways of presenting (or smuggling) a token, on an admin-only route of each kind. */
static void header_forms(void) {
    char basic[TOKEN_BYTES + 32], bare[TOKEN_BYTES + 32], twice[TOKEN_BYTES + 32];
    char query[TOKEN_BYTES + 64], longtok[2 * TOKEN_BYTES];
    snprintf(basic, sizeof basic, "Authorization: Basic %s", tokens[ADMIN]);
    snprintf(bare, sizeof bare, "Authorization: %s", tokens[ADMIN]);
    snprintf(twice, sizeof twice, "Authorization: Bearer %s", tokens[ADMIN]);
    size_t n = strlen(tokens[ADMIN]);
    memcpy(longtok, tokens[ADMIN], n);
    memset(longtok + n, 'A', 1500);
    longtok[n + 1500] = '\0';
    const char *const paths[] = {"/api/analytics/summary", "/api/users/<target>/role",
                                 "/api/checkins"};
    const char *const bodies[] = {NULL, "{\"role\":\"customer\"}", "{\"payload\":\"x\"}"};
    const char *const methods[] = {"GET", "POST", "POST"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        char path[PATH_MAX_BYTES];
        BX_ASSERT(expand(paths[i], NULL, path, sizeof path));
        struct {
            const char *what, *token, *header;
            int want;
        } forms[] = {
            {"Basic scheme", NULL, basic, 401},
            {"no scheme", NULL, bare, 401},
            {"an empty Bearer", NULL, "Authorization: Bearer ", 401},
            {"a token of 1,500 extra bytes", longtok, NULL, 401},
            {"the owner's token, then a second Authorization header with the admin's",
             tokens[OWNER], twice, 403},
        };
        for (size_t f = 0; f < sizeof forms / sizeof forms[0]; f++) {
            struct harness_res r =
                call(methods[i], path, forms[f].token, forms[f].header, bodies[i]);
            CHECK(r.status == forms[f].want, "%s %s with %s: %d (got %ld)", methods[i], paths[i],
                  forms[f].what, forms[f].want, r.status);
            harness_res_drop(&r);
        }
        snprintf(query, sizeof query, "%s?access_token=%s", path, tokens[ADMIN]);
        long st = call_status(methods[i], query, NULL, bodies[i]);
        CHECK(st == 401, "%s %s with the admin token in the query string: 401 (got %ld)",
              methods[i], paths[i], st);
    }
}

/* A role change revokes the user's sessions (docs/users.md): a demoted staff member's old token
 * stops admitting people at the door within the revocation bound. */
static void demotion(void) {
    char path[PATH_MAX_BYTES];
    snprintf(path, sizeof path, "/api/users/%s/role", user_id[STAFF]);
    int64_t t0 = bx_now_mono_ms();
    long st = call_status("POST", path, tokens[ADMIN], "{\"role\":\"customer\"}");
    CHECK(st == 200, "the admin demotes staff to customer: 200 (got %ld)", st);
    int64_t left = t0 + REVOCATION_BOUND_MS - bx_now_mono_ms();
    if (left > 0) {
        usleep((useconds_t)left * 1000);
    }
    st = call_status("POST", "/api/checkins", tokens[STAFF], "{\"payload\":\"x\"}");
    CHECK(st == 401, "%d ms later the old staff token is refused by ticketgen: 401 (got %ld)",
          REVOCATION_BOUND_MS, st);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s BUILD_DIR SOURCE_DIR\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    BX_ASSERT(sodium_init() >= 0);
    signal(SIGPIPE, SIG_IGN);
    bool started =
        (harness_stack_start(&stack, "authz", argv[1], argv[2]) && (gw = ports[FRONTEND]) != 0);
    CHECK(started, "the stack starts through scripts/run.sh (var %s, gateway :%u)", var_dir,
          (unsigned)gw);
    if (started && setup() && make_bad_tokens() && revoke_session()) {
        int venues_before = count_items("/api/venues?limit=100");
        int events_before = count_items("/api/events?limit=100");
        int venues_added = 0, events_published = 0;
        for (size_t ri = 0; ri < N_ROWS; ri++) {
            for (int c = 0; c < N_COLS; c++) {
                run_cell(ri, c);
                bool done = got[ri][c] >= 200 && got[ri][c] < 300;
                venues_added += done && (rows[ri].flags & COUNT_VENUES);
                events_published += done && (rows[ri].flags & COUNT_EVENTS);
            }
        }
        print_matrix();
        int venues_after = count_items("/api/venues?limit=100");
        int events_after = count_items("/api/events?limit=100");
        CHECK(venues_after == venues_before + venues_added,
              "venues: %d before, %d created by allowed callers, %d after", venues_before,
              venues_added, venues_after);
        /* the public list is cached for up to 1 s */
        for (int i = 0; i < 20 && events_after != events_before + events_published; i++) {
            usleep(POLL_MS * 1000);
            events_after = count_items("/api/events?limit=100");
        }
        CHECK(events_after == events_before + events_published,
              "published events: %d before, %d published by allowed callers, %d after",
              events_before, events_published, events_after);
        char path[PATH_MAX_BYTES];
        snprintf(path, sizeof path, "/api/orders/%s", order_id);
        CHECK(strcmp(status_of(path, tokens[OWNER], "status"), "confirmed") == 0,
              "the owner's order is still confirmed");
        snprintf(path, sizeof path, "/api/orders/%s/tickets", order_id);
        CHECK(wait_for(path, tokens[OWNER], all_ready), "its tickets are all still ready");
        snprintf(path, sizeof path, "/api/events/%s", draft_id);
        CHECK(strcmp(status_of(path, tokens[ADMIN], "status"), "draft") == 0,
              "the draft is still a draft");
        header_forms();
        demotion();
        /* the services' own ports: health answers ignore tokens too */
        for (int s = CATALOG; s <= ANALYTICS; s++) {
            struct harness_res r =
                harness_call(ports[s], "GET", "/healthz", tokens[FORGED], NULL, NULL);
            CHECK(r.status == 200, "%s /healthz with a forged token: 200 (got %ld)", svc_log[s],
                  r.status);
            harness_res_drop(&r);
        }
    }
    if (harness_failures > 0) {
        harness_stack_logs(&stack, 15);
    }
    bool stopped = harness_stack_stop(&stack);
    CHECK(stopped, "the launcher stops every service cleanly (exit 0)");
    if (harness_failures == 0) {
        harness_stack_remove(&stack);
    } else {
        printf("kept %s for inspection\n", var_dir);
    }
    return harness_finish("integration.authz");
}
