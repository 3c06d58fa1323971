// SPDX-License-Identifier: Apache-2.0
// fuzz_mkseeds CORPUS_DIR: writes the corpus entries that need a signature (bearer tokens and QR
// payloads, signed with the targets' fixed keys), so they can be regenerated when a format
// changes: tests/fuzz/corpus/{fuzz_token,fuzz_qr_payload,fuzz_http_request}/signed-*. Output is
// deterministic (fixed keys, fixed times, Ed25519 signs deterministically). Not a fuzz target.
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "boxoffice/auth.h"
#include "boxoffice/base.h"
#include "fuzz_common.h"
#include "ticketgen.h"

#define TOKEN_FOREVER_S 4000000000LL /* 2096: tokens in HTTP seeds stay valid on a real clock */
#define ISSUED_S        1700000000LL

static const char *dir;

static void put(const char *target, const char *name, const char *prefix, size_t prefix_len,
                const char *text) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/signed-%s", dir, target, name);
    FILE *f = fopen(path, "wb");
    FUZZ_CHECK(f != NULL, "cannot write %s", path);
    fwrite(prefix, 1, prefix_len, f);
    fputs(text, f);
    fclose(f);
}

static void token(const struct bx_key *key, const char *sub, enum bx_role role, int64_t iat,
                  int64_t exp, const char *jti, char *out, size_t size) {
    struct bx_claims c;
    memset(&c, 0, sizeof c);
    bx_strlcpy(c.sub, sub, sizeof c.sub);
    c.role = role;
    c.iat = iat;
    c.exp = exp;
    bx_strlcpy(c.jti, jti, sizeof c.jti);
    FUZZ_CHECK(bx_token_sign(key, &c, out, size) == BX_OK, "sign");
}

/* A request: head (with %s for the token, may be NULL), then body with its Content-Length, or
 * in two chunks when chunked. */
static void http(const char *name, const char *head, const char *tok, const char *body,
                 bool chunked) {
    char req[4096], h[2048];
    snprintf(h, sizeof h, head, tok ? tok : "");
    size_t n = body ? strlen(body) : 0;
    if (body == NULL) {
        snprintf(req, sizeof req, "%s\r\n", h);
    } else if (!chunked) {
        snprintf(req, sizeof req, "%sContent-Length: %zu\r\n\r\n%s", h, n, body);
    } else {
        size_t half = n / 2;
        snprintf(req, sizeof req,
                 "%sTransfer-Encoding: chunked\r\n\r\n%zx\r\n%.*s\r\n%zx\r\n%s\r\n0\r\n\r\n", h,
                 half, (int)half, body, n - half, body + half);
    }
    put("fuzz_http_request", name, "", 0, req);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR (tests/fuzz/corpus)\n", argv[0]);
        return 2;
    }
    dir = argv[1];
    fuzz_init_sodium();
    struct bx_key a, b, forger;
    fuzz_key(&a, "kfuzz-a", 0x11);
    fuzz_key(&b, "kfuzz-b", 0x22);
    fuzz_key(&forger, "kfuzz-a", 0x33);

    /* fuzz_token, mode 0 (first byte 0): raw tokens */
    static const char raw[] = {0};
    char t[BX_TOKEN_MAX_BYTES + 1];
    token(&a, "0193b0c2-6c1e-7d3a-9f00-1234567890ab", BX_ROLE_CUSTOMER, ISSUED_S, TOKEN_FOREVER_S,
          "j1", t, sizeof t);
    put("fuzz_token", "customer", raw, 1, t);
    token(&a, "u-staff", BX_ROLE_STAFF, FUZZ_NOW_S, FUZZ_NOW_S + 1, "j2", t, sizeof t);
    put("fuzz_token", "staff-last-second", raw, 1, t);
    token(&a, "u-admin", BX_ROLE_ADMIN, FUZZ_NOW_S + BX_AUTH_CLOCK_SKEW_S, TOKEN_FOREVER_S,
          "0123456789012345678901234567890123456789"
          "x",
          t, sizeof t);
    put("fuzz_token", "admin-skew-long-jti", raw, 1, t);
    token(&a, "u-expired", BX_ROLE_CUSTOMER, ISSUED_S, FUZZ_NOW_S, "j3", t, sizeof t);
    put("fuzz_token", "expired", raw, 1, t);
    token(&b, "u-b", BX_ROLE_CUSTOMER, ISSUED_S, TOKEN_FOREVER_S, "j4", t, sizeof t);
    put("fuzz_token", "public-only-key", raw, 1, t);
    token(&forger, "u-forged", BX_ROLE_ADMIN, ISSUED_S, TOKEN_FOREVER_S, "j5", t, sizeof t);
    put("fuzz_token", "forged", raw, 1, t);

    /* fuzz_http_request: requests with real tokens (valid until 2096) */
    char cust[BX_TOKEN_MAX_BYTES + 1], staff[BX_TOKEN_MAX_BYTES + 1], admin[BX_TOKEN_MAX_BYTES + 1];
    token(&a, "u-customer", BX_ROLE_CUSTOMER, ISSUED_S, TOKEN_FOREVER_S, "jc", cust, sizeof cust);
    token(&a, "u-staff", BX_ROLE_STAFF, ISSUED_S, TOKEN_FOREVER_S, "js", staff, sizeof staff);
    token(&a, "u-admin", BX_ROLE_ADMIN, ISSUED_S, TOKEN_FOREVER_S, "ja", admin, sizeof admin);
    static const char hold[] = "{\"event_id\":\"e-1\",\"tier_id\":\"t-1\",\"quantity\":2}";
    http("hold-create",
         "POST /api/holds HTTP/1.1\r\nHost: f\r\nAuthorization: Bearer %s\r\n"
         "Idempotency-Key: 7b1f0c8e-key\r\nContent-Type: application/json\r\n",
         cust, hold, false);
    http("hold-create-chunked",
         "POST /api/holds HTTP/1.1\r\nHost: f\r\nAuthorization: bearer   %s\r\n"
         "Idempotency-Key: k\r\n",
         cust, hold, true);
    http("hold-get", "GET /api/holds/h-123 HTTP/1.1\r\nHost: f\r\nAuthorization: Bearer %s\r\n",
         cust, NULL, false);
    http("hold-delete-pipelined",
         "DELETE /api/holds/h-1 HTTP/1.1\r\nHost: f\r\nAuthorization: Bearer %s\r\n\r\n"
         "GET /healthz HTTP/1.1\r\nHost: f\r\n",
         cust, NULL, false);
    http("event-get-optional",
         "GET /api/events/ev-1 HTTP/1.1\r\nHost: f\r\nAuthorization: Bearer %s\r\n", cust, NULL,
         false);
    http("tier-patch-admin",
         "PATCH /api/events/ev-1/tiers/t-1 HTTP/1.1\r\nHost: f\r\nAuthorization: Bearer %s\r\n",
         admin, "{\"price_cents\":1500,\"currency\":\"EUR\"}", false);
    http("tier-patch-customer-403",
         "PATCH /api/events/ev-1/tiers/t-1 HTTP/1.1\r\nHost: f\r\nAuthorization: Bearer %s\r\n",
         cust, "{}", false);
    http("checkin-staff", "POST /api/checkins HTTP/1.1\r\nHost: f\r\nAuthorization: Bearer %s\r\n",
         staff, "{\"payload\":\"BX1.AA.BB\"}", false);
    http("register-idempotent",
         "POST /api/users HTTP/1.1\r\nHost: f\r\nIdempotency-Key: abc def\r\n"
         "X-Request-Id: client-id-1\r\nX-Forwarded-For: 203.0.113.9, 10.1.2.3\r\n",
         NULL, "{\"email\":\"A@Example.com\",\"password\":\"0123456789\",\"name\":\"Ann\"}", false);

    /* fuzz_qr_payload, mode 0 (first byte 0): raw signed texts */
    struct bx_keyring kr;
    memset(&kr, 0, sizeof kr);
    fuzz_key(&kr.keys[0], "tfuzz-a", 0x44);
    atomic_store(&kr.n_keys, 1);
    struct tg_claims c;
    memset(&c, 0, sizeof c);
    bx_strlcpy(c.ticket_id, "0193b0c2-6c1e-7d3a-9f00-1234567890ab", sizeof c.ticket_id);
    bx_strlcpy(c.event_id, "0193b0c2-0000-7000-8000-000000000001", sizeof c.event_id);
    bx_strlcpy(c.tier_id, "tier-1", sizeof c.tier_id);
    bx_strlcpy(c.order_id, "0193b0c2-0000-7000-8000-0000000000ff", sizeof c.order_id);
    c.issued_at = ISSUED_S;
    char text[1024];
    FUZZ_CHECK(tg_payload_sign(&kr, &c, text, sizeof text) == BX_OK, "qr sign");
    put("fuzz_qr_payload", "uuids", raw, 1, text);
    bx_strlcpy(c.ticket_id, "T_0123456789012345678901234567890123456789012345678901234567890",
               sizeof c.ticket_id);
    bx_strlcpy(c.event_id, "e", sizeof c.event_id);
    c.issued_at = 4294967295LL;
    FUZZ_CHECK(tg_payload_sign(&kr, &c, text, sizeof text) == BX_OK, "qr sign");
    put("fuzz_qr_payload", "raw-ids-max-time", raw, 1, text);
    return 0;
}
