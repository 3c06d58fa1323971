// SPDX-License-Identifier: Apache-2.0
// ticketgen end to end: the test plays booking (it writes order documents into a real file store,
// and into s3rver, through the objects interface), runs boxoffice-ticketgen and checks what a
// customer and a door scanner see: tickets listed then ready, the PDF over HTTP (pdftotext shows
// a non-ASCII holder and the venue's local time, also past 2037 where only the zone's rule
// applies; pdftoppm + zbarimg read the QR code), the QR payload verified here with the key from
// /api/tickets/keys (an independent reading of the format in docs/ticketgen.md), check-in
// (admitted, already_used with its time, tampered and hostile payloads, 8 gates scanning one
// ticket at once: exactly one admitted), cancellation (revoked at the door and listed for offline
// scanners), ownership, malformed documents, a kill -9 and restart while documents are being
// written (none missed), Lambda mode driven by @vercel/fun's `provided` runtime with S3 events,
// and service mode polling an S3 store (s3rver).
//   test_ticketgen TICKETGEN-BIN NODE NODE-MODULES-DIR S3RVER-SCRIPT
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "boxoffice/auth.h"
#include "boxoffice/base.h"
#include "boxoffice/httpc.h"
#include "boxoffice/objects.h"
#include "harness.h"

#define WAIT_MS        30000 /* bound on any wait for tickets to become ready */
#define POLL_MS        100
#define SCAN_THREADS   8
#define RESTART_ORDERS 40
#define RESTART_GAP_MS 25
#define PAYLOAD_LIMIT  4096
#define S3RVER_BUCKET  "bx-tickets"
#define S3RVER_REGION  "us-east-1"
#define S3RVER_KEY     "S3RVER"
#define S3RVER_WAIT_MS 20000
#define FUN_TIMEOUT_S  90
#define TEXT_MAX       16384
#define PATH_BYTES     1024
/* Zoë Ångström 山田: Latin-1, Nordic and CJK in one name */
#define HOLDER "Zo\xC3\xAB \xC3\x85ngstr\xC3\xB6m \xE5\xB1\xB1\xE7\x94\xB0"

static const char *bin, *node, *node_modules, *s3rver_script;
static char tmp[PATH_BYTES], objects_url[PATH_BYTES + 16], log_path[PATH_BYTES];
static uint16_t port;
static pid_t tg_pid = -1;
static struct bx_objects store;
static char customer_a[1024], customer_b[1024], staff[1024], admin[1024];
static char user_a[37], user_b[37];
static char extra_env[4][PATH_BYTES + 64]; /* more NAME=VALUE for the next start */
static size_t n_extra_env;

/* ---- set-up */

static void mint(const struct bx_key *key, enum bx_role role, const char *sub, char *out,
                 size_t size) {
    struct bx_claims c = {.role = role, .iat = bx_now_unix_s(), .exp = bx_now_unix_s() + 3600};
    bx_strlcpy(c.sub, sub, sizeof c.sub);
    bx_uuid7(c.jti);
    BX_ASSERT(bx_token_sign(key, &c, out, size) == BX_OK);
}

static bool start_tg(void) {
    static char env[16][PATH_BYTES + 64];
    const char *envp[16];
    size_t n = 0;
    port = harness_free_port();
    snprintf(env[n++], sizeof env[0], "BOXOFFICE_TICKETGEN_PORT=%u", (unsigned)port);
    snprintf(env[n++], sizeof env[0], "BOXOFFICE_AUTH_KEYS=%s/auth", tmp);
    snprintf(env[n++], sizeof env[0], "BOXOFFICE_TICKET_KEYS=%s/tickets-keys", tmp);
    snprintf(env[n++], sizeof env[0], "BOXOFFICE_TICKETGEN_STORE=lmdb:%s/kv", tmp);
    snprintf(env[n++], sizeof env[0], "BOXOFFICE_OBJECTS=%s", objects_url);
    snprintf(env[n++], sizeof env[0], "BOXOFFICE_LOG_LEVEL=info");
    snprintf(env[n++], sizeof env[0], "BOXOFFICE_TICKETGEN_RESCAN_S=2");
    for (size_t i = 0; i < n_extra_env; i++) {
        bx_strlcpy(env[n++], extra_env[i], sizeof env[0]);
    }
    for (size_t i = 0; i < n; i++) {
        envp[i] = env[i];
    }
    envp[n] = NULL;
    tg_pid = harness_spawn(bin, envp, log_path);
    return harness_wait_ok(port, "/readyz", 20000);
}

static void stop_tg(int sig, const char *why) {
    if (tg_pid > 0) {
        int status = harness_stop(tg_pid, sig, 15000);
        if (sig == SIGTERM) {
            CHECK(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "ticketgen exits 0 on SIGTERM (%s)", why);
        }
        tg_pid = -1;
    }
}

/* ---- booking's side: order documents */

struct order {
    char id[37], user[37], event[37], tier[37];
    size_t n;
    char tickets[4][37];
    const char *holder, *title, *tz, *starts_at;
};

static void new_order(struct order *o, const char *user, size_t n, const char *tz,
                      const char *starts_at) {
    memset(o, 0, sizeof *o);
    bx_uuid7(o->id);
    bx_uuid7(o->event);
    bx_uuid7(o->tier);
    bx_strlcpy(o->user, user, sizeof o->user);
    BX_ASSERT(n <= 4);
    o->n = n;
    for (size_t i = 0; i < n; i++) {
        bx_uuid7(o->tickets[i]);
    }
    o->holder = HOLDER;
    o->title = "Kraftwerk \xE2\x80\x94 Die Mensch-Maschine"; /* an em dash */
    o->tz = tz;
    o->starts_at = starts_at;
}

static char *order_doc(const struct order *o, const char *status) {
    json_t *tickets = json_array();
    for (size_t i = 0; i < o->n; i++) {
        json_array_append_new(tickets,
                              json_pack("{s:s,s:s}", "id", o->tickets[i], "status",
                                        strcmp(status, "cancelled") == 0 ? "revoked" : "pending"));
    }
    json_t *order =
        json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:s,s:s,s:s,s:o}", "id", o->id, "hold_id", "h-0001",
                  "user_id", o->user, "event_id", o->event, "tier_id", o->tier, "quantity",
                  (json_int_t)o->n, "amount_cents", (json_int_t)(4500 * o->n), "currency", "EUR",
                  "status", status, "created_at", "2026-11-25T10:00:00Z", "tickets", tickets);
    json_t *doc = json_pack(
        "{s:o,s:s,s:{s:s,s:s,s:s,s:s},s:{s:s,s:s,s:s,s:s,s:s,s:s},s:{s:s,s:s,s:i,s:s}}", "order",
        order, "holder_name", o->holder, "event", "id", o->event, "title", o->title, "starts_at",
        o->starts_at, "ends_at", "2049-12-31T23:00:00Z", "venue", "id", "venue-1", "name",
        "Tempodrom", "city", "Berlin", "country", "DE", "timezone", o->tz, "address",
        "M\xC3\xB6"
        "ckernstra\xC3\x9F"
        "e 10",
        "tier", "id", o->tier, "name", "Innenraum", "price_cents", 4500, "currency", "EUR");
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return text;
}

static bool put_doc(const char *order_id, const char *text) {
    char key[128];
    snprintf(key, sizeof key, "orders/%s.json", order_id);
    struct bx_error err = {0};
    enum bx_err e = store.ops->put(store.ctx, key, text, strlen(text), "application/json", &err);
    if (e != BX_OK) {
        printf("# put %s: %s\n", key, err.message);
    }
    return e == BX_OK;
}

static bool write_order(const struct order *o, const char *status) {
    char *text = order_doc(o, status);
    bool ok = text != NULL && put_doc(o->id, text);
    free(text);
    return ok;
}

/* ---- the customer's side */

/* Polls the order's tickets until every one has status want; true when they did in time. */
static bool wait_status(const struct order *o, const char *token, const char *want) {
    char path[128];
    snprintf(path, sizeof path, "/api/orders/%s/tickets", o->id);
    int64_t deadline = bx_now_mono_ms() + WAIT_MS;
    while (bx_now_mono_ms() < deadline) {
        struct harness_res r = harness_call(port, "GET", path, token, NULL, NULL);
        json_t *items = json_object_get(r.body, "items");
        size_t all = 0, i;
        json_t *t;
        json_array_foreach(items, i, t) {
            const char *s = harness_str(t, "status");
            all += s != NULL && strcmp(s, want) == 0;
        }
        bool done = r.status == 200 && json_array_size(items) == o->n && all == o->n;
        harness_res_drop(&r);
        if (done) {
            return true;
        }
        usleep(POLL_MS * 1000);
    }
    return false;
}

/* GET /api/tickets/<id>.pdf into tmp/<id>.pdf; returns the HTTP status (0: no answer). */
static long fetch_pdf(const char *ticket, const char *token, char *path, size_t size,
                      char *content_type, size_t ct_size) {
    char url[256], auth[1100];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/api/tickets/%s.pdf", (unsigned)port, ticket);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    const char *headers[] = {auth, NULL};
    struct bx_httpc_request req = {
        .method = "GET", .url = url, .headers = headers, .timeout_ms = 20000};
    struct bx_httpc_response r;
    long status = 0;
    content_type[0] = '\0';
    if (bx_httpc_do(&req, &r) == BX_OK) {
        status = r.status;
        const char *ct = bx_httpc_header(&r, "Content-Type");
        bx_strlcpy(content_type, ct ? ct : "", ct_size);
        snprintf(path, size, "%s/%s.pdf", tmp, ticket);
        FILE *f = fopen(path, "wb");
        if (f != NULL) {
            fwrite(r.body ? r.body : "", 1, r.body_len, f);
            fclose(f);
        }
    }
    bx_httpc_response_free(&r);
    return status;
}

/* Output of a shell command (trailing newline cut); false when it failed. */
static bool run(const char *cmd, char *out, size_t size) {
    FILE *p = popen(cmd, "r");
    if (p == NULL) {
        return false;
    }
    size_t n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r')) {
        out[--n] = '\0';
    }
    return pclose(p) == 0 && n > 0;
}

static bool qr_of(const char *pdf, char *out, size_t size) {
    char cmd[4 * PATH_BYTES];
    snprintf(cmd, sizeof cmd,
             "pdftoppm -r 150 -png '%s' '%s.page' 2>/dev/null && "
             "zbarimg --raw -q -Sdisable -Sqrcode.enable '%s.page-1.png' 2>/dev/null",
             pdf, pdf, pdf);
    return run(cmd, out, size);
}

static bool text_of(const char *pdf, char *out, size_t size) {
    char cmd[2 * PATH_BYTES];
    snprintf(cmd, sizeof cmd, "pdftotext -enc UTF-8 '%s' - 2>/dev/null", pdf);
    return run(cmd, out, size);
}

/* ---- the scanner's side: an independent reading of the payload format */

struct payload {
    char kid[64], ticket[65], event[65], tier[65], order[65];
    int64_t issued_at;
};

static size_t field(const unsigned char *b, size_t at, size_t n, char out[65]) {
    static const char hex[] = "0123456789abcdef";
    if (at >= n) {
        return 0;
    }
    if (b[at] == 0x80) {
        if (n - at < 17) {
            return 0;
        }
        char *o = out;
        for (size_t i = 0; i < 16; i++) {
            if (i == 4 || i == 6 || i == 8 || i == 10) {
                *o++ = '-';
            }
            *o++ = hex[b[at + 1 + i] >> 4];
            *o++ = hex[b[at + 1 + i] & 15];
        }
        *o = '\0';
        return at + 17;
    }
    size_t len = b[at];
    if (len == 0 || len > 64 || n - at - 1 < len) {
        return 0;
    }
    memcpy(out, b + at + 1, len);
    out[len] = '\0';
    return at + 1 + len;
}

/* True when text is "BX1.<payload>.<signature>" signed by a key of the keys document. */
static bool scanner_verify(const char *text, json_t *keys, struct payload *p) {
    const char *dot = strchr(text + 4, '.');
    if (strncmp(text, "BX1.", 4) != 0 || dot == NULL) {
        return false;
    }
    unsigned char b[512], sig[64];
    size_t n = 0, sn = 0;
    if (sodium_base642bin(b, sizeof b, text + 4, (size_t)(dot - text - 4), NULL, &n, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        sodium_base642bin(sig, sizeof sig, dot + 1, strlen(dot + 1), NULL, &sn, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        sn != 64 || n < 5 || b[0] != 1) {
        return false;
    }
    memset(p, 0, sizeof *p);
    p->issued_at =
        (int64_t)((uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 8 | b[4]);
    size_t at = 5;
    char *fields[] = {p->kid, p->ticket, p->event, p->tier, p->order};
    for (size_t i = 0; i < 5; i++) {
        if ((at = field(b, at, n, fields[i])) == 0) {
            return false;
        }
    }
    size_t i;
    json_t *k;
    json_array_foreach(json_object_get(keys, "keys"), i, k) {
        const char *kid = harness_str(k, "kid"), *x = harness_str(k, "x");
        unsigned char pk[32];
        size_t pn = 0;
        if (at == n && kid != NULL && strcmp(kid, p->kid) == 0 && x != NULL &&
            strcmp(harness_str(k, "crv") ? harness_str(k, "crv") : "", "Ed25519") == 0 &&
            sodium_base642bin(pk, sizeof pk, x, strlen(x), NULL, &pn, NULL,
                              sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0 &&
            pn == 32) {
            return crypto_sign_verify_detached(sig, (const unsigned char *)text,
                                               (size_t)(dot - text), pk) == 0;
        }
    }
    return false;
}

static struct harness_res scan(const char *token, const char *payload) {
    json_t *body = json_pack("{s:s}", "payload", payload);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    struct harness_res r = harness_call(port, "POST", "/api/checkins", token, NULL, text);
    free(text);
    return r;
}

static bool scan_is(const struct harness_res *r, const char *status, const char *ticket) {
    const char *s = harness_str(r->body, "status"), *t = harness_str(r->body, "ticket_id");
    bool ok = r->status == 200 && s != NULL && strcmp(s, status) == 0 &&
              (ticket == NULL ? json_is_null(json_object_get(r->body, "ticket_id"))
                              : (t != NULL && strcmp(t, ticket) == 0));
    if (!ok) {
        char *text = r->body ? json_dumps(r->body, JSON_COMPACT) : NULL;
        printf("# check-in answered %ld %s\n", r->status, text ? text : "(no JSON)");
        free(text);
    }
    return ok;
}

/* The signed payload printed on a ticket, read from its PDF like a phone camera would. */
static bool payload_of(const char *ticket, const char *token, char *out, size_t size) {
    char pdf[PATH_BYTES], ct[128];
    return fetch_pdf(ticket, token, pdf, sizeof pdf, ct, sizeof ct) == 200 && qr_of(pdf, out, size);
}

static json_t *keys_doc(void) {
    struct harness_res r = harness_call(port, "GET", "/api/tickets/keys", NULL, NULL, NULL);
    json_t *doc = r.status == 200 ? json_incref(r.body) : NULL;
    harness_res_drop(&r);
    return doc;
}

/* ---- tests */

static struct order first; /* issued in test_issue, used by later tests */
static char unscanned[37]; /* a ticket of customer A never scanned (test_timezones) */

static void test_issue(void) {
    new_order(&first, user_a, 2, "Europe/Berlin", "2030-06-01T19:00:00Z");
    char path[128];
    snprintf(path, sizeof path, "/api/orders/%s/tickets", first.id);
    struct harness_res r = harness_call(port, "GET", path, customer_a, NULL, NULL);
    CHECK(harness_err_is(&r, 404, "not_found", NULL),
          "an order whose document has not arrived yet: 404");
    harness_res_drop(&r);

    CHECK(write_order(&first, "confirmed"), "booking writes orders/<id>.json (2 tickets)");
    CHECK(wait_status(&first, customer_a, "ready"), "both tickets become ready");
    r = harness_call(port, "GET", path, customer_a, NULL, NULL);
    json_t *t0 = json_array_get(json_object_get(r.body, "items"), 0);
    char url[128];
    snprintf(url, sizeof url, "/api/tickets/%s.pdf", first.tickets[0]);
    CHECK(r.status == 200 && strcmp(harness_str(t0, "id"), first.tickets[0]) == 0 &&
              strcmp(harness_str(t0, "order_id"), first.id) == 0 &&
              strcmp(harness_str(t0, "event_id"), first.event) == 0 &&
              strcmp(harness_str(t0, "tier_id"), first.tier) == 0 &&
              strcmp(harness_str(t0, "pdf_url"), url) == 0,
          "Ticket {id, order_id, event_id, tier_id, status, pdf_url} as API.md says");
    harness_res_drop(&r);

    char pdf[PATH_BYTES], ct[128], text[TEXT_MAX], qr[1024];
    long status = fetch_pdf(first.tickets[0], customer_a, pdf, sizeof pdf, ct, sizeof ct);
    char head[5] = "";
    FILE *f = fopen(pdf, "rb");
    if (f != NULL) {
        size_t got = fread(head, 1, 4, f);
        head[got] = '\0';
        fclose(f);
    }
    CHECK(status == 200 && strcmp(ct, "application/pdf") == 0 && strcmp(head, "%PDF") == 0,
          "GET /api/tickets/<id>.pdf -> 200 application/pdf (%ld, %s)", status, ct);
    bool has_text = text_of(pdf, text, sizeof text);
    CHECK(has_text && strstr(text, HOLDER) != NULL, "pdftotext shows the holder %s", HOLDER);
    CHECK(has_text && strstr(text, "Kraftwerk \xE2\x80\x94 Die Mensch-Maschine") != NULL &&
              strstr(text, "Saturday 1 June 2030") != NULL && strstr(text, "21:00 CEST") != NULL &&
              strstr(text, "Tempodrom, Berlin") != NULL && strstr(text, "Innenraum") != NULL &&
              strstr(text, "45.00 EUR") != NULL && strstr(text, first.tickets[0]) != NULL,
          "title, local time in the venue's zone (21:00 CEST), venue, tier, price, ticket id");
    if (!has_text || strstr(text, "21:00 CEST") == NULL) {
        printf("# pdftotext:\n%s\n", text);
    }
    bool decoded = qr_of(pdf, qr, sizeof qr);
    CHECK(decoded && strncmp(qr, "BX1.", 4) == 0 && strlen(qr) < 300,
          "zbarimg reads the QR code from pdftoppm's 150 dpi image (%zu characters)", strlen(qr));
    json_t *keys = keys_doc();
    struct payload p;
    CHECK(decoded && keys != NULL && scanner_verify(qr, keys, &p) &&
              strcmp(p.ticket, first.tickets[0]) == 0 && strcmp(p.event, first.event) == 0 &&
              strcmp(p.tier, first.tier) == 0 && strcmp(p.order, first.id) == 0 &&
              p.issued_at > bx_now_unix_s() - 600 && p.issued_at <= bx_now_unix_s() + 5,
          "the payload verifies with the Ed25519 key from /api/tickets/keys and names the ticket");
    json_t *k0 = json_array_get(json_object_get(keys, "keys"), 0);
    CHECK(k0 != NULL && strcmp(harness_str(k0, "kty"), "OKP") == 0 &&
              strcmp(harness_str(k0, "crv"), "Ed25519") == 0 && harness_str(k0, "kid") &&
              json_is_array(json_object_get(keys, "revoked")),
          "/api/tickets/keys: {keys:[{kty OKP, crv Ed25519, kid, x}], revoked:[]}, no token");
    json_decref(keys);

    /* the door */
    struct harness_res s = scan(staff, qr);
    const char *first_at = harness_str(s.body, "first_used_at");
    char at[32] = "";
    bx_strlcpy(at, first_at ? first_at : "", sizeof at);
    CHECK(scan_is(&s, "admitted", first.tickets[0]) && at[0] != '\0',
          "staff scan -> admitted with first_used_at %s", at);
    harness_res_drop(&s);
    s = scan(admin, qr);
    CHECK(scan_is(&s, "already_used", first.tickets[0]) &&
              harness_str(s.body, "first_used_at") != NULL &&
              strcmp(harness_str(s.body, "first_used_at"), at) == 0,
          "second scan (admin) -> already_used with the first scan's time");
    harness_res_drop(&s);

    char tampered[1024];
    bx_strlcpy(tampered, qr, sizeof tampered);
    tampered[10] = tampered[10] == 'A' ? 'B' : 'A';
    s = scan(staff, tampered);
    CHECK(scan_is(&s, "invalid", NULL) && json_is_null(json_object_get(s.body, "first_used_at")),
          "a tampered payload -> 200 invalid, ticket_id null");
    harness_res_drop(&s);
    bx_strlcpy(tampered, qr, sizeof tampered);
    size_t len = strlen(tampered);
    tampered[len - 3] = tampered[len - 3] == 'A' ? 'B' : 'A';
    s = scan(staff, tampered);
    CHECK(scan_is(&s, "invalid", NULL), "a tampered signature -> invalid");
    harness_res_drop(&s);
    s = scan(staff, "hello, door");
    CHECK(scan_is(&s, "invalid", NULL), "any other string -> 200 invalid");
    harness_res_drop(&s);
    s = scan(staff, "");
    CHECK(scan_is(&s, "invalid", NULL), "an empty string -> 200 invalid");
    harness_res_drop(&s);

    s = harness_call(port, "POST", "/api/checkins", staff, NULL, "{\"payload\":12345}");
    CHECK(harness_err_is(&s, 422, "invalid_field", "payload"), "payload not a string -> 422");
    harness_res_drop(&s);
    char *big = malloc(PAYLOAD_LIMIT + 64);
    memset(big, 'A', PAYLOAD_LIMIT + 1);
    big[PAYLOAD_LIMIT + 1] = '\0';
    s = scan(staff, big);
    CHECK(harness_err_is(&s, 422, "invalid_field", "payload"), "payload of 4 KiB + 1 -> 422");
    harness_res_drop(&s);
    big[PAYLOAD_LIMIT] = '\0';
    s = scan(staff, big);
    CHECK(scan_is(&s, "invalid", NULL), "payload of exactly 4 KiB -> 200 invalid");
    harness_res_drop(&s);
    free(big);
    s = harness_call(port, "POST", "/api/checkins", staff, NULL, "{}");
    CHECK(harness_err_is(&s, 422, "invalid_field", "payload"), "no payload -> 422");
    harness_res_drop(&s);
    s = harness_call(port, "POST", "/api/checkins", staff, NULL, "{\"payload\":\"x\",\"gate\":1}");
    CHECK(harness_err_is(&s, 422, "invalid_field", "gate"), "unknown field -> 422 naming it");
    harness_res_drop(&s);
    s = harness_call(port, "POST", "/api/checkins", staff, NULL, "{\"payload\":");
    CHECK(harness_err_is(&s, 400, "invalid_json", NULL), "malformed JSON -> 400");
    harness_res_drop(&s);
    s = scan(customer_a, qr);
    CHECK(harness_err_is(&s, 403, "forbidden", NULL), "a customer cannot check in -> 403");
    harness_res_drop(&s);
    s = scan(NULL, qr);
    CHECK(harness_err_is(&s, 401, "unauthorized", NULL), "no token -> 401");
    harness_res_drop(&s);
}

static _Atomic int admitted, used, other;
static char race_payload[1024];

static void *race_scan(void *arg) {
    (void)arg;
    struct harness_res r = scan(staff, race_payload);
    const char *s = harness_str(r.body, "status");
    if (r.status == 200 && s != NULL && strcmp(s, "admitted") == 0) {
        atomic_fetch_add(&admitted, 1);
    } else if (r.status == 200 && s != NULL && strcmp(s, "already_used") == 0) {
        atomic_fetch_add(&used, 1);
    } else {
        atomic_fetch_add(&other, 1);
    }
    harness_res_drop(&r);
    return NULL;
}

static void test_concurrent_scans(void) {
    bool ok = payload_of(first.tickets[1], customer_a, race_payload, sizeof race_payload);
    CHECK(ok, "second ticket's QR code read");
    pthread_t t[SCAN_THREADS];
    for (int i = 0; i < SCAN_THREADS; i++) {
        pthread_create(&t[i], NULL, race_scan, NULL);
    }
    for (int i = 0; i < SCAN_THREADS; i++) {
        pthread_join(t[i], NULL);
    }
    CHECK(atomic_load(&admitted) == 1 && atomic_load(&used) == SCAN_THREADS - 1,
          "%d gates scan one ticket at once: %d admitted, %d already_used, %d other", SCAN_THREADS,
          atomic_load(&admitted), atomic_load(&used), atomic_load(&other));
}

static void test_ownership(void) {
    char path[128], pdf[PATH_BYTES], ct[128];
    snprintf(path, sizeof path, "/api/orders/%s/tickets", first.id);
    struct harness_res r = harness_call(port, "GET", path, customer_b, NULL, NULL);
    CHECK(harness_err_is(&r, 404, "not_found", NULL), "another customer's order tickets -> 404");
    harness_res_drop(&r);
    CHECK(fetch_pdf(first.tickets[0], customer_b, pdf, sizeof pdf, ct, sizeof ct) == 404,
          "another customer's PDF -> 404");
    r = harness_call(port, "GET", path, admin, NULL, NULL);
    CHECK(r.status == 200, "an admin sees any order's tickets");
    harness_res_drop(&r);
    CHECK(fetch_pdf(first.tickets[0], admin, pdf, sizeof pdf, ct, sizeof ct) == 200, "and any PDF");
    r = harness_call(port, "GET", path, NULL, NULL, NULL);
    CHECK(harness_err_is(&r, 401, "unauthorized", NULL), "tickets without a token -> 401");
    harness_res_drop(&r);
    r = harness_call(port, "GET", "/api/orders/no%20such/tickets", customer_a, NULL, NULL);
    CHECK(r.status == 404, "an id that is no id -> 404");
    harness_res_drop(&r);
    /* the payload route: the same signed text the QR carries, for the on-screen code */
    char path2[160];
    snprintf(path2, sizeof path2, "/api/tickets/%s/payload", first.tickets[0]);
    r = harness_call(port, "GET", path2, customer_b, NULL, NULL);
    CHECK(harness_err_is(&r, 404, "not_found", NULL), "another customer's ticket payload -> 404");
    harness_res_drop(&r);
    r = harness_call(port, "GET", path2, customer_a, NULL, NULL);
    const char *shown = harness_str(r.body, "payload");
    bool bx1 = r.status == 200 && shown != NULL && strncmp(shown, "BX1.", 4) == 0 &&
               strcmp(harness_str(r.body, "ticket_id"), first.tickets[0]) == 0;
    CHECK(bx1, "the owner gets the ticket's signed payload for an on-screen QR");
    if (bx1) {
        struct harness_res s2 = scan(staff, shown);
        CHECK(scan_is(&s2, "already_used", first.tickets[0]),
              "the on-screen payload verifies and names the same (used) ticket");
        harness_res_drop(&s2);
    }
    harness_res_drop(&r);
    const char *odd[] = {"/api/tickets/x.txt", "/api/tickets/.pdf", "/api/tickets/a%2Fb.pdf"};
    for (size_t i = 0; i < BX_ARRAY_LEN(odd); i++) {
        r = harness_call(port, "GET", odd[i], customer_a, NULL, NULL);
        CHECK(r.status == 404, "GET %s -> 404", odd[i]);
        harness_res_drop(&r);
    }
}

static void test_cancel(void) {
    struct order o;
    new_order(&o, user_a, 2, "Europe/Berlin", "2030-07-01T18:00:00Z");
    CHECK(write_order(&o, "confirmed") && wait_status(&o, customer_a, "ready"),
          "a second order is issued");
    char p0[1024] = "", p1[1024] = "";
    CHECK(payload_of(o.tickets[0], customer_a, p0, sizeof p0) &&
              payload_of(o.tickets[1], customer_a, p1, sizeof p1),
          "its QR codes read");
    struct harness_res s = scan(staff, p1);
    CHECK(scan_is(&s, "admitted", o.tickets[1]), "one of its tickets is used at the door");
    harness_res_drop(&s);

    CHECK(write_order(&o, "cancelled"), "booking overwrites the document: cancelled");
    CHECK(wait_status(&o, customer_a, "revoked"), "both tickets become revoked");
    s = scan(staff, p0);
    CHECK(scan_is(&s, "revoked", o.tickets[0]) &&
              json_is_null(json_object_get(s.body, "first_used_at")),
          "an unused ticket of a cancelled order -> revoked");
    harness_res_drop(&s);
    s = scan(staff, p1);
    CHECK(scan_is(&s, "revoked", o.tickets[1]) && harness_str(s.body, "first_used_at") != NULL,
          "a used one -> revoked, with when it was used");
    harness_res_drop(&s);
    json_t *keys = keys_doc();
    char *revoked = json_dumps(json_object_get(keys, "revoked"), JSON_COMPACT);
    CHECK(revoked != NULL && strstr(revoked, o.tickets[0]) && strstr(revoked, o.tickets[1]) &&
              !strstr(revoked, first.tickets[0]),
          "/api/tickets/keys lists both as revoked (and only them)");
    free(revoked);
    json_decref(keys);
    char pdf[PATH_BYTES], ct[128];
    CHECK(fetch_pdf(o.tickets[0], customer_a, pdf, sizeof pdf, ct, sizeof ct) == 404,
          "a revoked ticket's PDF -> 404");
    CHECK(write_order(&o, "confirmed"), "a stale confirmed document arrives again");
    usleep(1000 * 1000);
    CHECK(wait_status(&o, customer_a, "revoked"), "revoked stays revoked");
}

static void test_timezones(void) {
    static const struct {
        const char *tz, *at, *want_date, *want_time;
    } cases[] = {
        /* past 2037: only the zone's POSIX rule (the TZif footer) says what applies */
        {"Australia/Sydney", "2040-01-15T09:30:00Z", "Sunday 15 January 2040", "20:30 AEDT"},
        {"Australia/Sydney", "2045-10-07T16:00:00Z", "Sunday 8 October 2045", "03:00 AEDT"},
        {"America/New_York", "2040-07-04T23:00:00Z", "Wednesday 4 July 2040", "19:00 EDT"},
        /* an hour after London's clocks went forward */
        {"Europe/London", "2031-03-30T01:30:00Z", "Sunday 30 March 2031", "02:30 BST"},
        {"UTC", "2030-01-01T12:00:00Z", "Tuesday 1 January 2030", "12:00 UTC"},
    };
    struct order o[BX_ARRAY_LEN(cases)];
    for (size_t i = 0; i < BX_ARRAY_LEN(cases); i++) {
        new_order(&o[i], user_a, 1, cases[i].tz, cases[i].at);
        o[i].holder = "Ada Lovelace";
        write_order(&o[i], "confirmed");
    }
    bx_strlcpy(unscanned, o[0].tickets[0], sizeof unscanned);
    for (size_t i = 0; i < BX_ARRAY_LEN(cases); i++) {
        char pdf[PATH_BYTES], ct[128], text[TEXT_MAX] = "";
        bool ok = wait_status(&o[i], customer_a, "ready") &&
                  fetch_pdf(o[i].tickets[0], customer_a, pdf, sizeof pdf, ct, sizeof ct) == 200 &&
                  text_of(pdf, text, sizeof text);
        CHECK(ok && strstr(text, cases[i].want_date) && strstr(text, cases[i].want_time),
              "%s at %s shows %s %s", cases[i].tz, cases[i].at, cases[i].want_date,
              cases[i].want_time);
    }
}

/* A counter of ours from /metrics ("name{service=\"ticketgen\"} N"); -1 when absent. */
static long long metric(const char *name) {
    char req[256], resp[65536], want[128];
    int n =
        snprintf(req, sizeof req, "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    harness_raw(port, req, (size_t)n, resp, sizeof resp, 5000);
    snprintf(want, sizeof want, "\n%s{", name);
    const char *p = strstr(resp, want);
    p = p ? strstr(p, "} ") : NULL;
    return p ? strtoll(p + 2, NULL, 10) : -1;
}

static void test_malformed(void) {
    long long before = metric("ticketgen_orders_rejected_total");
    char id[37], bad_doc[1024];
    struct order o;
    new_order(&o, user_a, 1, "Europe/Berlin", "2030-06-01T19:00:00Z");
    const char *docs[] = {
        "not json at all",
        "[1,2,3]",
        "{\"order\":{\"id\":\"%s\"}}",
        "{\"order\":{\"id\":\"%s\",\"user_id\":\"u\",\"event_id\":\"e\",\"tier_id\":\"t\","
        "\"status\":\"confirmed\",\"tickets\":[{\"id\":\"t1\"}]}}", /* no holder, event, ... */
        "{\"order\":{\"id\":\"someone-else\",\"user_id\":\"u\",\"event_id\":\"e\","
        "\"tier_id\":\"t\",\"status\":\"confirmed\",\"tickets\":[]}}",
        "{\"order\":{\"id\":\"%s\",\"user_id\":\"u\",\"event_id\":\"e\",\"tier_id\":\"t\","
        "\"status\":\"refunded\",\"tickets\":[{\"id\":\"t1\"}]}}",
        "{\"order\":{\"id\":\"%s\",\"user_id\":\"u\",\"event_id\":\"e\",\"tier_id\":\"t\","
        "\"status\":\"cancelled\",\"tickets\":[{\"id\":\"../../etc\"}]}}",
    };
    for (size_t i = 0; i < BX_ARRAY_LEN(docs); i++) {
        bx_uuid7(id);
        snprintf(bad_doc, sizeof bad_doc, docs[i], id, id);
        put_doc(id, bad_doc);
    }
    /* an unknown time zone and a ticket limit past 100, in otherwise good documents */
    struct order tz;
    new_order(&tz, user_a, 1, "Mars/Olympus_Mons", "2030-06-01T19:00:00Z");
    write_order(&tz, "confirmed");
    char *good = order_doc(&o, "confirmed");
    json_t *many = json_loads(good, 0, NULL);
    free(good);
    json_t *tickets = json_object_get(json_object_get(many, "order"), "tickets");
    for (int i = 0; i < 101; i++) {
        char tid[37];
        bx_uuid7(tid);
        json_array_append_new(tickets, json_pack("{s:s}", "id", tid));
    }
    bx_uuid7(id);
    json_object_set_new(json_object_get(many, "order"), "id", json_string(id));
    json_object_del(json_object_get(many, "order"), "quantity");
    char *text = json_dumps(many, JSON_COMPACT);
    put_doc(id, text);
    free(text);
    json_decref(many);
    /* a dot-file (a writer's temporary name) and a file that is no order document */
    char path[2 * PATH_BYTES];
    snprintf(path, sizeof path, "%s/objects/orders/.tmp.half-written.json", tmp);
    FILE *f = fopen(path, "w");
    if (f != NULL) {
        fputs("{\"order\":", f);
        fclose(f);
    }
    store.ops->put(store.ctx, "orders/README.txt", "hi", 2, NULL, NULL);

    CHECK(write_order(&o, "confirmed") && wait_status(&o, customer_a, "ready"),
          "after 9 malformed documents a good one is still issued");
    long long after = metric("ticketgen_orders_rejected_total");
    CHECK(after - before == 9, "ticketgen_orders_rejected_total counts the 9 (%lld -> %lld)",
          before, after);
    CHECK(waitpid(tg_pid, NULL, WNOHANG) == 0, "ticketgen is still running");
}

/* ---- restart while documents are written */

static struct order restart_orders[RESTART_ORDERS];
static _Atomic int written;

static void *writer(void *arg) {
    (void)arg;
    for (int i = 0; i < RESTART_ORDERS; i++) {
        write_order(&restart_orders[i], "confirmed");
        atomic_store(&written, i + 1);
        usleep(RESTART_GAP_MS * 1000);
    }
    return NULL;
}

static void wait_written(int n) {
    int64_t deadline = bx_now_mono_ms() + WAIT_MS;
    while (atomic_load(&written) < n && bx_now_mono_ms() < deadline) {
        usleep(5 * 1000);
    }
}

static void test_restart(void) {
    for (int i = 0; i < RESTART_ORDERS; i++) {
        new_order(&restart_orders[i], user_b, 1, "Europe/Berlin", "2030-06-01T19:00:00Z");
        restart_orders[i].holder = "Grace Hopper";
    }
    pthread_t t;
    pthread_create(&t, NULL, writer, NULL);
    wait_written(RESTART_ORDERS / 4);
    stop_tg(SIGKILL, "killed while documents are written");
    wait_written(RESTART_ORDERS / 2);
    bool up = start_tg();
    CHECK(up, "ticketgen restarts on the same stores");
    pthread_join(t, NULL);
    int ready = 0;
    for (int i = 0; i < RESTART_ORDERS; i++) {
        ready += wait_status(&restart_orders[i], customer_b, "ready");
    }
    CHECK(ready == RESTART_ORDERS,
          "kill -9 and restart while %d documents are written: %d issued, none missed",
          RESTART_ORDERS, ready);
}

/* ---- key rotation */

static void test_rotation(void) {
    char old_payload[1024] = "", cmd[4 * PATH_BYTES], out[1024];
    json_t *keys = keys_doc();
    const char *k = harness_str(json_array_get(json_object_get(keys, "keys"), 0), "kid");
    char old_kid[64];
    bx_strlcpy(old_kid, k ? k : "", sizeof old_kid);
    json_decref(keys);
    CHECK(payload_of(unscanned, customer_a, old_payload, sizeof old_payload),
          "a ticket signed with the first key, not scanned yet");
    stop_tg(SIGTERM, "before the key rotation");
    snprintf(
        cmd, sizeof cmd,
        "BOXOFFICE_TICKET_KEYS='%s/tickets-keys' BOXOFFICE_AUTH_KEYS='%s/auth' '%s' rotate-key "
        "2>/dev/null",
        tmp, tmp, bin);
    CHECK(run(cmd, out, sizeof out) && strstr(out, "created ticket key") != NULL,
          "boxoffice-ticketgen rotate-key (%s)", out);
    CHECK(start_tg(), "restarted with two ticket keys");
    keys = keys_doc();
    CHECK(json_array_size(json_object_get(keys, "keys")) == 2, "/api/tickets/keys lists both");
    struct order o;
    new_order(&o, user_a, 1, "Europe/Berlin", "2030-06-01T19:00:00Z");
    char payload[1024] = "";
    struct payload p;
    bool issued = write_order(&o, "confirmed") && wait_status(&o, customer_a, "ready") &&
                  payload_of(o.tickets[0], customer_a, payload, sizeof payload);
    CHECK(issued && scanner_verify(payload, keys, &p) && strcmp(p.kid, old_kid) != 0,
          "a new ticket is signed with the new key (%s, was %s)", issued ? p.kid : "-", old_kid);
    json_decref(keys);
    struct harness_res s = scan(staff, old_payload);
    CHECK(scan_is(&s, "admitted", unscanned), "a ticket signed with the old key still admits");
    harness_res_drop(&s);
    s = scan(staff, payload);
    CHECK(scan_is(&s, "admitted", o.tickets[0]), "and so does the new one");
    harness_res_drop(&s);
}

/* ---- Lambda mode through @vercel/fun */

/* Invokes the function once with event (JSON) through fun; the result JSON into out. */
static bool fun_invoke(const char *fn_dir, const char *env_json, const char *event, char *out,
                       size_t size) {
    char script[PATH_BYTES + 32], cmd[8 * PATH_BYTES];
    snprintf(script, sizeof script, "%s/fun-driver.js", tmp);
    FILE *f = fopen(script, "w");
    if (f == NULL) {
        return false;
    }
    /* fun's provided runtime runs $LAMBDA_TASK_ROOT/bootstrap against its Runtime API server */
    fputs("const fs = require('fs');\n"
          "const { createFunction } = require(process.argv[2] + '/@vercel/fun');\n"
          "(async () => {\n"
          "  const fn = await createFunction({\n"
          "    Code: { Directory: process.argv[3] }, Handler: 'bootstrap', Runtime: 'provided',\n"
          /* fun sets AWS_ACCESS_KEY_ID/SECRET from these (the emulator's dummy account) */
          "    AccessKeyId: process.env.AWS_ACCESS_KEY_ID,\n"
          "    SecretAccessKey: process.env.AWS_SECRET_ACCESS_KEY,\n"
          "    Environment: { Variables: JSON.parse(fs.readFileSync(process.argv[4], 'utf8')) },\n"
          "    MemorySize: 512 });\n"
          "  try {\n"
          "    const res = await fn(JSON.parse(fs.readFileSync(process.argv[5], 'utf8')));\n"
          "    console.log(JSON.stringify(res));\n"
          "  } catch (e) {\n" /* an /error answer: fun throws a LambdaError */
          "    console.log(JSON.stringify({ lambdaError: String(e && e.message) }));\n"
          "  } finally { await fn.destroy(); }\n"
          "})().catch((e) => { console.error('fun driver: ' + (e && e.stack || e)); "
          "process.exit(1); });\n",
          f);
    fclose(f);
    char env_path[PATH_BYTES + 32], event_path[PATH_BYTES + 32];
    snprintf(env_path, sizeof env_path, "%s/fun-env.json", tmp);
    snprintf(event_path, sizeof event_path, "%s/fun-event.json", tmp);
    FILE *e1 = fopen(env_path, "w"), *e2 = fopen(event_path, "w");
    if (e1 == NULL || e2 == NULL) {
        return false;
    }
    fputs(env_json, e1);
    fputs(event, e2);
    fclose(e1);
    fclose(e2);
    snprintf(cmd, sizeof cmd,
             "XDG_CACHE_HOME='%s/fun-cache' timeout %d '%s' '%s' '%s' '%s' '%s' '%s' "
             "2>>'%s/fun.log'",
             tmp, FUN_TIMEOUT_S, node, script, node_modules, fn_dir, env_path, event_path, tmp);
    return run(cmd, out, size);
}

static char *s3_event_in(const char *bucket, const char *const *keys, size_t n,
                         const char *event_name) {
    json_t *records = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(
            records, json_pack("{s:s,s:s,s:s,s:s,s:{s:s,s:{s:s},s:{s:s,s:i}}}", "eventVersion",
                               "2.1", "eventSource", "aws:s3", "awsRegion", S3RVER_REGION,
                               "eventName", event_name, "s3", "s3SchemaVersion", "1.0", "bucket",
                               "name", bucket, "object", "key", keys[i], "size", 100));
    }
    json_t *doc = json_pack("{s:o}", "Records", records);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return text;
}

/* The function's code directory: a bootstrap that runs the same binary (Lambda mode from the
 * environment). */
static bool lambda_task(char *fn_dir, size_t size) {
    char boot[PATH_BYTES + 64];
    snprintf(fn_dir, size, "%s/lambda-task", tmp);
    mkdir(fn_dir, 0700);
    snprintf(boot, sizeof boot, "%s/bootstrap", fn_dir);
    FILE *f = fopen(boot, "w");
    if (f == NULL) {
        return false;
    }
    fprintf(f, "#!/bin/sh\nexec '%s'\n", bin);
    fclose(f);
    return chmod(boot, 0755) == 0;
}

/* The function's environment (JSON, malloc'd): stores, the service's ticket keys. */
static char *lambda_env(const char *url, const char *kv_dir, const char *keys_dir) {
    char kv[PATH_BYTES + 32], keys[PATH_BYTES + 32], auth[PATH_BYTES + 32];
    snprintf(kv, sizeof kv, "lmdb:%s/%s", tmp, kv_dir);
    snprintf(keys, sizeof keys, "%s/%s", tmp, keys_dir);
    snprintf(auth, sizeof auth, "%s/auth", tmp);
    json_t *env = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "BOXOFFICE_OBJECTS", url,
                            "BOXOFFICE_TICKETGEN_STORE", kv, "BOXOFFICE_TICKET_KEYS", keys,
                            "BOXOFFICE_AUTH_KEYS", auth, "BOXOFFICE_LOG_LEVEL", "info", "NO_PROXY",
                            "127.0.0.1");
    char *text = json_dumps(env, JSON_COMPACT);
    json_decref(env);
    return text;
}

static char *s3_event(const char *const *keys, size_t n, const char *event_name) {
    return s3_event_in(S3RVER_BUCKET, keys, n, event_name);
}

/* Processes still running in the function's directory (fun starts them there) a while after fun
 * finished; they are killed (they are ours). */
static int lambda_leftovers(const char *fn_dir) {
    int found = 0;
    int64_t deadline = bx_now_mono_ms() + 5000;
    do {
        found = 0;
        DIR *d = opendir("/proc");
        struct dirent *de;
        while (d != NULL && (de = readdir(d)) != NULL) {
            char link[64], cwd[PATH_BYTES];
            if (de->d_name[0] < '1' || de->d_name[0] > '9') {
                continue;
            }
            snprintf(link, sizeof link, "/proc/%s/cwd", de->d_name);
            ssize_t n = readlink(link, cwd, sizeof cwd - 1);
            if (n > 0 && (cwd[n] = '\0', strcmp(cwd, fn_dir) == 0)) {
                found++;
                if (bx_now_mono_ms() >= deadline) {
                    kill((pid_t)strtol(de->d_name, NULL, 10), SIGKILL);
                }
            }
        }
        if (d != NULL) {
            closedir(d);
        }
        if (found > 0) {
            usleep(100 * 1000);
        }
    } while (found > 0 && bx_now_mono_ms() < deadline + 200);
    return found;
}

static void test_lambda(void) {
    char fn_dir[PATH_BYTES + 16];
    CHECK(lambda_task(fn_dir, sizeof fn_dir), "a function directory with a bootstrap");
    char *env_json = lambda_env(objects_url, "kv", "tickets-keys");

    /* the service is stopped: only Lambda sees this document */
    struct order o;
    new_order(&o, user_a, 2, "Europe/Berlin", "2030-08-01T18:00:00Z");
    CHECK(write_order(&o, "confirmed"), "an order document while no service runs");
    char key[128], pdf_key[128];
    snprintf(key, sizeof key, "orders/%s.json", o.id);
    snprintf(pdf_key, sizeof pdf_key, "tickets/%s.pdf", o.tickets[0]);
    const char *keys[] = {key, "invoices/2030/x.json", "orders/.tmp.abc.json"};
    char *event = s3_event(keys, 3, "ObjectCreated:Put");
    char out[4096] = "";
    bool ok = fun_invoke(fn_dir, env_json, event, out, sizeof out);
    struct bx_object_info info1, info2;
    bool stored = store.ops->head(store.ctx, pdf_key, &info1, NULL) == BX_OK;
    CHECK(ok && strstr(out, "\"processed\":1") && strstr(out, "\"ignored\":2") && stored,
          "fun invokes the provided runtime with an S3 event: processed 1, ignored 2, PDF "
          "stored (%s)",
          out);
    free(event);
    usleep(20 * 1000); /* so the re-rendered PDF gets another mtime */
    const char *enc[1];
    char encoded[160];
    snprintf(encoded, sizeof encoded, "orders%%2F%s.json", o.id); /* S3 URL-encodes keys */
    enc[0] = encoded;
    event = s3_event(enc, 1, "ObjectCreated:Put");
    ok = fun_invoke(fn_dir, env_json, event, out, sizeof out);
    free(event);
    CHECK(ok && strstr(out, "\"processed\":1") &&
              store.ops->head(store.ctx, pdf_key, &info2, NULL) == BX_OK &&
              strcmp(info1.etag, info2.etag) != 0,
          "the same event again (URL-encoded key): the PDF is rendered again, same key (%s)", out);
    event = strdup("{\"hello\":\"world\"}");
    ok = fun_invoke(fn_dir, env_json, event, out, sizeof out);
    free(event);
    CHECK(ok && strstr(out, "lambdaError") != NULL && strstr(out, "not an S3 event") != NULL,
          "an event that is not S3's -> an error answer (%s)", out);
    free(env_json);

    /* an instance without the service's keys must not make its own: it reports an init error */
    char v[PATH_BYTES + 32];
    snprintf(v, sizeof v, "%s/no-keys-here", tmp);
    env_json = lambda_env(objects_url, "kv", "no-keys-here");
    event = s3_event(keys, 1, "ObjectCreated:Put");
    ok = fun_invoke(fn_dir, env_json, event, out, sizeof out);
    free(event);
    free(env_json);
    struct stat st;
    CHECK(ok && strstr(out, "lambdaError") != NULL && strstr(out, "no ticket keys") != NULL &&
              stat(v, &st) != 0,
          "Lambda without ticket keys: an init error, and no key is created (%s)", out);
    CHECK(lambda_leftovers(fn_dir) == 0, "no Lambda process outlives fun");

    CHECK(start_tg(), "service mode again on the same stores");
    CHECK(wait_status(&o, customer_a, "ready"), "the tickets Lambda issued are ready");
    char payload[1024];
    json_t *keys_json = keys_doc();
    struct payload p;
    CHECK(payload_of(o.tickets[1], customer_a, payload, sizeof payload) && keys_json != NULL &&
              scanner_verify(payload, keys_json, &p) && strcmp(p.ticket, o.tickets[1]) == 0,
          "a ticket issued by Lambda verifies");
    json_decref(keys_json);
    struct harness_res s = scan(staff, payload);
    CHECK(scan_is(&s, "admitted", o.tickets[1]), "and is admitted once");
    harness_res_drop(&s);
}

/* ---- service mode on S3 (s3rver) */

static pid_t start_s3rver(const char *dir, uint16_t *port_out) {
    uint16_t p = harness_free_port();
    char port_s[8], s3log[PATH_BYTES + 16];
    snprintf(port_s, sizeof port_s, "%u", (unsigned)p);
    snprintf(s3log, sizeof s3log, "%s/s3rver.log", tmp);
    int fd = open(s3log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    pid_t pid = fork();
    BX_ASSERT(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        setenv("NODE_OPTIONS", "--openssl-legacy-provider", 1); /* s3rver's DES tokens */
        execlp(node, node, s3rver_script, port_s, dir, S3RVER_BUCKET, S3RVER_REGION, (char *)NULL);
        _exit(127);
    }
    close(fd);
    int64_t deadline = bx_now_mono_ms() + S3RVER_WAIT_MS;
    while (bx_now_mono_ms() < deadline) {
        if (harness_port_open(p)) {
            *port_out = p;
            return pid;
        }
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            return -1;
        }
        usleep(50 * 1000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

static void test_s3(void) {
    if (access(s3rver_script, R_OK) != 0) {
        printf("# no %s: S3 part skipped\n", s3rver_script);
        return;
    }
    char dir[PATH_BYTES + 16];
    snprintf(dir, sizeof dir, "%s/s3rver", tmp);
    mkdir(dir, 0700);
    /* the emulator's dummy account, never real credentials towards a test */
    setenv("AWS_ACCESS_KEY_ID", S3RVER_KEY, 1);
    setenv("AWS_SECRET_ACCESS_KEY", S3RVER_KEY, 1);
    unsetenv("AWS_SESSION_TOKEN");
    setenv("NO_PROXY", "127.0.0.1", 1);
    uint16_t s3port = 0;
    pid_t s3 = start_s3rver(dir, &s3port);
    CHECK(s3 > 0, "s3rver runs on 127.0.0.1:%u", (unsigned)s3port);
    if (s3 <= 0) {
        return;
    }
    struct bx_objects file_store = store;
    snprintf(objects_url, sizeof objects_url,
             "s3://" S3RVER_BUCKET "?region=" S3RVER_REGION "&endpoint=http://127.0.0.1:%u",
             (unsigned)s3port);
    struct bx_error err = {0};
    bool open = bx_objects_open(objects_url, &store, &err) == BX_OK;
    CHECK(open, "the test opens the S3 store (%s)", err.message);
    if (open) {
        n_extra_env = 0;
        snprintf(extra_env[n_extra_env++], sizeof extra_env[0], "BOXOFFICE_TICKETGEN_RESCAN_S=1");
        snprintf(extra_env[n_extra_env++], sizeof extra_env[0],
                 "BOXOFFICE_TICKETGEN_STORE=lmdb:%s/kv-s3", tmp);
        CHECK(start_tg(), "ticketgen polls an S3 store");
        struct order o;
        new_order(&o, user_a, 2, "Europe/Berlin", "2030-09-01T18:00:00Z");
        CHECK(write_order(&o, "confirmed") && wait_status(&o, customer_a, "ready"),
              "an order written to S3 is issued from the poll");
        char payload[1024];
        json_t *keys = keys_doc();
        struct payload p;
        CHECK(payload_of(o.tickets[0], customer_a, payload, sizeof payload) &&
                  scanner_verify(payload, keys, &p) && strcmp(p.ticket, o.tickets[0]) == 0,
              "its PDF comes from S3 and its QR code verifies");
        json_decref(keys);
        CHECK(write_order(&o, "cancelled") && wait_status(&o, customer_a, "revoked"),
              "its cancellation is seen on the next poll");
        stop_tg(SIGTERM, "S3 store");

        /* production's pairing: Lambda on S3 events, the bucket checked */
        struct bx_object_info info;
        struct order l;
        new_order(&l, user_a, 1, "Europe/Berlin", "2030-09-02T18:00:00Z");
        char fn_dir[PATH_BYTES + 16], key[128], pdf_key[128], out[4096] = "";
        snprintf(key, sizeof key, "orders/%s.json", l.id);
        snprintf(pdf_key, sizeof pdf_key, "tickets/%s.pdf", l.tickets[0]);
        const char *keys1[] = {key};
        char *env_json = lambda_env(objects_url, "kv-s3", "tickets-keys");
        char *ev = s3_event_in("someone-elses-bucket", keys1, 1, "ObjectCreated:Put");
        bool ok = lambda_task(fn_dir, sizeof fn_dir) && write_order(&l, "confirmed") &&
                  fun_invoke(fn_dir, env_json, ev, out, sizeof out);
        CHECK(ok && strstr(out, "\"ignored\":1") &&
                  store.ops->head(store.ctx, pdf_key, &info, NULL) == BX_NOT_FOUND,
              "Lambda on S3: an event from another bucket is ignored (%s)", out);
        free(ev);
        ev = s3_event(keys1, 1, "ObjectCreated:Put");
        ok = fun_invoke(fn_dir, env_json, ev, out, sizeof out);
        CHECK(ok && strstr(out, "\"processed\":1") &&
                  store.ops->head(store.ctx, pdf_key, &info, NULL) == BX_OK,
              "Lambda on S3: the order's event issues its PDF into the bucket (%s)", out);
        CHECK(lambda_leftovers(fn_dir) == 0, "no Lambda process outlives fun (S3)");
        free(ev);
        free(env_json);
        bx_objects_close(&store);
        n_extra_env = 0;
    }
    store = file_store;
    harness_stop(s3, SIGTERM, 5000);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: test_ticketgen TICKETGEN-BIN NODE NODE-MODULES S3RVER-SCRIPT\n");
        return 2;
    }
    static char bin_path[PATH_BYTES];
    if (realpath(argv[1], bin_path) == NULL) { /* fun runs the bootstrap from another directory */
        fprintf(stderr, "test_ticketgen: %s: %s\n", argv[1], strerror(errno));
        return 2;
    }
    bin = bin_path;
    node = argv[2];
    node_modules = argv[3];
    s3rver_script = argv[4];
    BX_ASSERT(sodium_init() >= 0);
    snprintf(tmp, sizeof tmp, "/tmp/bx-ticketgen-XXXXXX");
    BX_ASSERT(mkdtemp(tmp) != NULL);
    snprintf(log_path, sizeof log_path, "%s/ticketgen.log", tmp);
    char dir[PATH_BYTES + 16];
    snprintf(dir, sizeof dir, "%s/auth", tmp);
    struct bx_key key;
    BX_ASSERT(bx_keyring_generate(dir, &key) == BX_OK);
    bx_uuid7(user_a);
    bx_uuid7(user_b);
    char staff_id[37], admin_id[37];
    bx_uuid7(staff_id);
    bx_uuid7(admin_id);
    mint(&key, BX_ROLE_CUSTOMER, user_a, customer_a, sizeof customer_a);
    mint(&key, BX_ROLE_CUSTOMER, user_b, customer_b, sizeof customer_b);
    mint(&key, BX_ROLE_STAFF, staff_id, staff, sizeof staff);
    mint(&key, BX_ROLE_ADMIN, admin_id, admin, sizeof admin);
    snprintf(objects_url, sizeof objects_url, "file:%s/objects", tmp);
    struct bx_error err = {0};
    BX_ASSERT(bx_objects_open(objects_url, &store, &err) == BX_OK);

    bool up = start_tg();
    CHECK(up, "ticketgen starts and is ready (a first ticket key is created)");
    if (up) {
        test_issue();
        test_concurrent_scans();
        test_ownership();
        test_cancel();
        test_timezones();
        test_malformed();
        test_restart();
        test_rotation();
        stop_tg(SIGTERM, "after the rotation test");
        test_lambda();
        stop_tg(SIGTERM, "after Lambda");
        test_s3();
    }
    if (harness_failures > 0) {
        printf("# ticketgen log (%s):\n", log_path);
        harness_tail(log_path, 40);
        char fun_log[PATH_BYTES + 16];
        snprintf(fun_log, sizeof fun_log, "%s/fun.log", tmp);
        harness_tail(fun_log, 20);
    }
    stop_tg(SIGKILL, "end");
    bx_objects_close(&store);
    if (harness_failures == 0) {
        nftw(tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
    return harness_finish("integration.ticketgen");
}
