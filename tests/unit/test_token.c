// SPDX-License-Identifier: Apache-2.0
// Tests for lib/auth.c: session tokens (Ed25519 JWS) signed and verified, every forgery we can
// craft by hand refused (tampering, alg "none"/"HS256", unknown or swapped keys, garbage), key
// files generated and loaded from a temporary directory, rotation, JWKS, and the token cache.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <ftw.h>
#include <jansson.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "boxoffice/auth.h"
#include "boxoffice/base.h"

#define NOW            1796153400 /* 2026-12-01T19:30:00Z */
#define PATH_MAX_BYTES 512
#define PART_MAX_BYTES 2048

struct fixture {
    char dir[64];
    struct bx_key key; /* generated into dir */
    struct bx_keyring kr;
    struct bx_claims claims;
    char token[BX_TOKEN_MAX_BYTES + 1];
};

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_tree(const char *dir) {
    nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static void make_claims(struct bx_claims *c) {
    memset(c, 0, sizeof *c);
    bx_strlcpy(c->sub, "0192f1e2-7a3b-7c00-8d00-000000000001", sizeof c->sub);
    c->role = BX_ROLE_STAFF;
    c->iat = NOW - 10;
    c->exp = NOW + 3600;
    bx_strlcpy(c->jti, "jti-1", sizeof c->jti);
}

static int setup(void **state) {
    struct fixture *f = calloc(1, sizeof *f);
    if (f == NULL) {
        return -1;
    }
    bx_strlcpy(f->dir, "/tmp/bx-test-token-XXXXXX", sizeof f->dir);
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    if (bx_keyring_generate(f->dir, &f->key) != BX_OK ||
        bx_keyring_load_dir(&f->kr, f->dir) != BX_OK) {
        rm_tree(f->dir);
        free(f);
        return -1;
    }
    make_claims(&f->claims);
    if (bx_token_sign(&f->key, &f->claims, f->token, sizeof f->token) != BX_OK) {
        rm_tree(f->dir);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fixture *f = *state;
    rm_tree(f->dir);
    free(f);
    return 0;
}

static void assert_claims_equal(const struct bx_claims *a, const struct bx_claims *b) {
    assert_string_equal(a->sub, b->sub);
    assert_int_equal(a->role, b->role);
    assert_int_equal(a->iat, b->iat);
    assert_int_equal(a->exp, b->exp);
    assert_string_equal(a->jti, b->jti);
}

/* Verifies and checks the refusal: BX_UNAUTHORIZED with a reason containing want_why. */
static void expect_refused(const struct bx_keyring *kr, const char *token, int64_t now,
                           const char *want_why) {
    struct bx_claims out;
    memset(&out, 0x5a, sizeof out);
    const char *why = NULL;
    enum bx_err e = bx_token_verify(kr, token, now, &out, &why);
    if (e != BX_UNAUTHORIZED) {
        fail_msg("token %.80s: got %s, want unauthorized", token, bx_err_name(e));
    }
    assert_non_null(why);
    if (want_why != NULL && strstr(why, want_why) == NULL) {
        fail_msg("token %.80s: refused for '%s', want '%s'", token, why, want_why);
    }
    /* nothing is handed out for a refused token */
    assert_int_equal(out.sub[0], 0x5a);
    /* and NULL why is fine */
    assert_int_equal(bx_token_verify(kr, token, now, &out, NULL), BX_UNAUTHORIZED);
}

/* ---- Hand-made tokens ---- */

static void b64url(char *out, size_t out_size, const void *bin, size_t len) {
    assert_true(sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING) <=
                out_size);
    sodium_bin2base64(out, out_size, bin, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* Decodes the base64url text s[0..len) into out; returns the byte count. */
static size_t unb64url(unsigned char *out, size_t out_size, const char *s, size_t len) {
    size_t n = 0;
    assert_int_equal(sodium_base642bin(out, out_size, s, len, NULL, &n, NULL,
                                       sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                     0);
    return n;
}

/* Builds b64(header).b64(payload).sig where sig is an Ed25519 signature with sk, or the given
 * raw signature text when sk is NULL. */
static void craft(char *out, size_t out_size, const char *header, const char *payload,
                  const unsigned char *sk, const char *raw_sig) {
    char h[PART_MAX_BYTES], p[PART_MAX_BYTES];
    b64url(h, sizeof h, header, strlen(header));
    b64url(p, sizeof p, payload, strlen(payload));
    int n = snprintf(out, out_size, "%s.%s.", h, p);
    assert_true(n > 0 && (size_t)n < out_size);
    if (sk != NULL) {
        unsigned char sig[crypto_sign_BYTES];
        crypto_sign_detached(sig, NULL, (const unsigned char *)out, (size_t)n - 1, sk);
        b64url(out + n, out_size - (size_t)n, sig, sizeof sig);
    } else {
        assert_true(strlen(raw_sig) < out_size - (size_t)n);
        bx_strlcpy(out + n, raw_sig, out_size - (size_t)n);
    }
}

static void header_for(char *out, size_t size, const char *alg, const char *kid) {
    snprintf(out, size, "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\"}", alg, kid);
}

#define GOOD_PAYLOAD                                                                               \
    "{\"sub\":\"u1\",\"role\":\"admin\",\"iat\":1796153390,\"exp\":1796157000,\"jti\":\"j\"}"

/* ---- Tests ---- */

static void test_sign_verify_round_trip(void **state) {
    struct fixture *f = *state;
    struct bx_claims out;
    const char *why = "untouched";
    assert_int_equal(bx_token_verify(&f->kr, f->token, NOW, &out, &why), BX_OK);
    assert_claims_equal(&out, &f->claims);
    assert_string_equal(out.kid, f->key.kid);
    assert_string_equal(why, "untouched");

    /* compact JWS: three base64url parts, header says EdDSA and names the kid */
    const char *d1 = strchr(f->token, '.');
    assert_non_null(d1);
    unsigned char buf[PART_MAX_BYTES];
    size_t n = unb64url(buf, sizeof buf - 1, f->token, (size_t)(d1 - f->token));
    buf[n] = '\0';
    json_t *h = json_loads((const char *)buf, 0, NULL);
    assert_non_null(h);
    assert_string_equal(json_string_value(json_object_get(h, "alg")), "EdDSA");
    assert_string_equal(json_string_value(json_object_get(h, "kid")), f->key.kid);
    json_decref(h);

    /* every role survives the trip */
    for (int r = BX_ROLE_CUSTOMER; r <= BX_ROLE_ADMIN; r++) {
        struct bx_claims c = f->claims;
        c.role = (enum bx_role)r;
        char tok[BX_TOKEN_MAX_BYTES + 1];
        assert_int_equal(bx_token_sign(&f->key, &c, tok, sizeof tok), BX_OK);
        assert_int_equal(bx_token_verify(&f->kr, tok, NOW, &out, NULL), BX_OK);
        assert_int_equal(out.role, r);
    }
    /* the longest sub and jti fit */
    struct bx_claims c = f->claims;
    memset(c.sub, 's', sizeof c.sub - 1);
    c.sub[sizeof c.sub - 1] = '\0';
    memset(c.jti, 'j', sizeof c.jti - 1);
    c.jti[sizeof c.jti - 1] = '\0';
    char tok[BX_TOKEN_MAX_BYTES + 1];
    assert_int_equal(bx_token_sign(&f->key, &c, tok, sizeof tok), BX_OK);
    assert_int_equal(bx_token_verify(&f->kr, tok, NOW, &out, NULL), BX_OK);
    assert_claims_equal(&out, &c);

    /* too small an output buffer fails cleanly */
    char small[64];
    assert_int_not_equal(bx_token_sign(&f->key, &f->claims, small, sizeof small), BX_OK);
    /* a key without its secret cannot sign */
    struct bx_key pub = f->key;
    pub.has_secret = false;
    assert_int_not_equal(bx_token_sign(&pub, &f->claims, tok, sizeof tok), BX_OK);
    assert_int_not_equal(bx_token_sign(NULL, &f->claims, tok, sizeof tok), BX_OK);
}

static void test_tampered_payload(void **state) {
    struct fixture *f = *state;
    char *d1 = strchr(f->token, '.');
    char *d2 = strchr(d1 + 1, '.');
    unsigned char payload[PART_MAX_BYTES];
    size_t n = unb64url(payload, sizeof payload - 1, d1 + 1, (size_t)(d2 - d1 - 1));
    payload[n] = '\0';
    char *role = strstr((char *)payload, "\"staff\"");
    assert_non_null(role);

    /* staff → admin, and exp pushed out: same signature */
    char forged[PART_MAX_BYTES];
    snprintf(forged, sizeof forged, "%.*s\"admin\"%s", (int)(role - (char *)payload),
             (char *)payload, role + 7);
    char p64[PART_MAX_BYTES];
    b64url(p64, sizeof p64, forged, strlen(forged));
    char tok[BX_TOKEN_MAX_BYTES * 2];
    snprintf(tok, sizeof tok, "%.*s.%s%s", (int)(d1 - f->token), f->token, p64, d2);
    expect_refused(&f->kr, tok, NOW, "signature");

    /* one changed character in the payload text */
    bx_strlcpy(tok, f->token, sizeof tok);
    size_t i = (size_t)(d1 - f->token) + 3;
    tok[i] = tok[i] == 'A' ? 'B' : 'A';
    expect_refused(&f->kr, tok, NOW, NULL);

    /* the header swapped for another valid header */
    char h[128];
    header_for(h, sizeof h, "EdDSA", f->key.kid);
    size_t hl = strlen(h);
    h[hl - 1] = ' ';
    h[hl] = '}';
    h[hl + 1] = '\0';
    char h64[256];
    b64url(h64, sizeof h64, h, strlen(h));
    snprintf(tok, sizeof tok, "%s%s", h64, d1);
    expect_refused(&f->kr, tok, NOW, "signature");
}

static void test_tampered_signature(void **state) {
    struct fixture *f = *state;
    char *d2 = strrchr(f->token, '.');
    unsigned char sig[crypto_sign_BYTES + 8];
    size_t n = unb64url(sig, sizeof sig, d2 + 1, strlen(d2 + 1));
    assert_int_equal(n, crypto_sign_BYTES);
    char tok[BX_TOKEN_MAX_BYTES * 2];
    size_t head = (size_t)(d2 + 1 - f->token);
    static const size_t bits[] = {0, 7, 100, 255, 8 * crypto_sign_BYTES - 1};
    for (size_t b = 0; b < sizeof bits / sizeof bits[0]; b++) {
        unsigned char s2[crypto_sign_BYTES];
        memcpy(s2, sig, sizeof s2);
        s2[bits[b] / 8] ^= (unsigned char)(1u << (bits[b] % 8));
        memcpy(tok, f->token, head);
        b64url(tok + head, sizeof tok - head, s2, sizeof s2);
        expect_refused(&f->kr, tok, NOW, "signature");
    }
    /* a signature too short, too long, empty, or not base64url */
    memcpy(tok, f->token, head);
    b64url(tok + head, sizeof tok - head, sig, crypto_sign_BYTES - 1);
    expect_refused(&f->kr, tok, NOW, "signature");
    unsigned char longer[crypto_sign_BYTES + 3];
    memcpy(longer, sig, crypto_sign_BYTES);
    memset(longer + crypto_sign_BYTES, 0, 3);
    b64url(tok + head, sizeof tok - head, longer, sizeof longer);
    expect_refused(&f->kr, tok, NOW, "signature");
    tok[head] = '\0';
    expect_refused(&f->kr, tok, NOW, "signature");
    bx_strlcpy(tok, f->token, sizeof tok);
    tok[head + 5] = '+';
    expect_refused(&f->kr, tok, NOW, "signature");
    bx_strlcpy(tok, f->token, sizeof tok);
    size_t len = strlen(tok);
    tok[len] = '=';
    tok[len + 1] = '\0';
    expect_refused(&f->kr, tok, NOW, "signature");
}

static void test_expiry(void **state) {
    struct fixture *f = *state;
    struct bx_claims out;
    assert_int_equal(bx_token_verify(&f->kr, f->token, f->claims.exp - 1, &out, NULL), BX_OK);
    expect_refused(&f->kr, f->token, f->claims.exp, "expired");
    expect_refused(&f->kr, f->token, f->claims.exp + 86400, "expired");

    /* issued in the future beyond the allowed skew */
    struct bx_claims c = f->claims;
    c.iat = NOW + BX_AUTH_CLOCK_SKEW_S;
    char tok[BX_TOKEN_MAX_BYTES + 1];
    assert_int_equal(bx_token_sign(&f->key, &c, tok, sizeof tok), BX_OK);
    assert_int_equal(bx_token_verify(&f->kr, tok, NOW, &out, NULL), BX_OK);
    c.iat = NOW + BX_AUTH_CLOCK_SKEW_S + 1;
    assert_int_equal(bx_token_sign(&f->key, &c, tok, sizeof tok), BX_OK);
    expect_refused(&f->kr, tok, NOW, "future");

    /* exp before iat is simply expired */
    c = f->claims;
    c.exp = c.iat - 1;
    assert_int_equal(bx_token_sign(&f->key, &c, tok, sizeof tok), BX_OK);
    expect_refused(&f->kr, tok, NOW, "expired");
}

static void test_alg_none_and_hs256(void **state) {
    struct fixture *f = *state;
    char h[256], tok[BX_TOKEN_MAX_BYTES * 2];

    /* alg none with no signature, and with a real signature over it */
    header_for(h, sizeof h, "none", f->key.kid);
    craft(tok, sizeof tok, h, GOOD_PAYLOAD, NULL, "");
    expect_refused(&f->kr, tok, NOW, "alg");
    craft(tok, sizeof tok, h, GOOD_PAYLOAD, f->key.sk, NULL);
    expect_refused(&f->kr, tok, NOW, "alg");
    header_for(h, sizeof h, "None", f->key.kid);
    craft(tok, sizeof tok, h, GOOD_PAYLOAD, NULL, "");
    expect_refused(&f->kr, tok, NOW, "alg");

    /* HS256 keyed with the public key (the classic confusion attack) */
    header_for(h, sizeof h, "HS256", f->key.kid);
    craft(tok, sizeof tok, h, GOOD_PAYLOAD, NULL, "");
    size_t signed_len = strlen(tok) - 1;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, f->key.pk, sizeof f->key.pk);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)tok, signed_len);
    crypto_auth_hmacsha256_final(&st, mac);
    b64url(tok + signed_len + 1, sizeof tok - signed_len - 1, mac, sizeof mac);
    expect_refused(&f->kr, tok, NOW, "alg");

    /* near misses of EdDSA, a missing alg, an alg that is not a string */
    static const char *const headers[] = {
        "{\"alg\":\"eddsa\",\"kid\":\"%s\"}",   "{\"alg\":\"EdDSA \",\"kid\":\"%s\"}",
        "{\"alg\":\"ES256\",\"kid\":\"%s\"}",   "{\"kid\":\"%s\"}",
        "{\"alg\":null,\"kid\":\"%s\"}",        "{\"alg\":[\"EdDSA\"],\"kid\":\"%s\"}",
        "{\"alg\":\"Ed25519\",\"kid\":\"%s\"}",
    };
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        char fmt_h[256];
        snprintf(fmt_h, sizeof fmt_h, headers[i], f->key.kid);
        craft(tok, sizeof tok, fmt_h, GOOD_PAYLOAD, f->key.sk, NULL);
        expect_refused(&f->kr, tok, NOW, "alg");
    }
    /* duplicate alg members: one EdDSA, one none */
    snprintf(h, sizeof h, "{\"alg\":\"none\",\"alg\":\"EdDSA\",\"kid\":\"%s\"}", f->key.kid);
    craft(tok, sizeof tok, h, GOOD_PAYLOAD, f->key.sk, NULL);
    expect_refused(&f->kr, tok, NOW, NULL);

    /* a hand-made EdDSA token with the right key is accepted: the crafting is sound */
    header_for(h, sizeof h, "EdDSA", f->key.kid);
    craft(tok, sizeof tok, h, GOOD_PAYLOAD, f->key.sk, NULL);
    struct bx_claims out;
    assert_int_equal(bx_token_verify(&f->kr, tok, NOW, &out, NULL), BX_OK);
    assert_int_equal(out.role, BX_ROLE_ADMIN);
    assert_string_equal(out.sub, "u1");
}

static void test_unknown_kid_and_wrong_key(void **state) {
    struct fixture *f = *state;
    char h[256], tok[BX_TOKEN_MAX_BYTES * 2];

    /* a key the keyring does not hold */
    struct bx_key other;
    memset(&other, 0, sizeof other);
    bx_strlcpy(other.kid, "kunknown", sizeof other.kid);
    crypto_sign_keypair(other.pk, other.sk);
    other.has_secret = true;
    assert_int_equal(bx_token_sign(&other, &f->claims, tok, sizeof tok), BX_OK);
    expect_refused(&f->kr, tok, NOW, "kid");

    /* no kid, or a kid that is not a string */
    craft(tok, sizeof tok, "{\"alg\":\"EdDSA\"}", GOOD_PAYLOAD, f->key.sk, NULL);
    expect_refused(&f->kr, tok, NOW, "kid");
    craft(tok, sizeof tok, "{\"alg\":\"EdDSA\",\"kid\":7}", GOOD_PAYLOAD, f->key.sk, NULL);
    expect_refused(&f->kr, tok, NOW, "kid");
    header_for(h, sizeof h, "EdDSA", "");
    craft(tok, sizeof tok, h, GOOD_PAYLOAD, f->key.sk, NULL);
    expect_refused(&f->kr, tok, NOW, "kid");

    /* the right kid, the wrong key */
    struct bx_key impostor;
    memset(&impostor, 0, sizeof impostor);
    bx_strlcpy(impostor.kid, f->key.kid, sizeof impostor.kid);
    crypto_sign_keypair(impostor.pk, impostor.sk);
    impostor.has_secret = true;
    assert_int_equal(bx_token_sign(&impostor, &f->claims, tok, sizeof tok), BX_OK);
    expect_refused(&f->kr, tok, NOW, "signature");

    /* an empty keyring knows no kid */
    struct bx_keyring empty;
    memset(&empty, 0, sizeof empty);
    expect_refused(&empty, f->token, NOW, "kid");
}

static void test_bad_claims(void **state) {
    struct fixture *f = *state;
    char h[256], tok[BX_TOKEN_MAX_BYTES * 2];
    header_for(h, sizeof h, "EdDSA", f->key.kid);
    char long_sub[BX_SUB_MAX + 128];
    snprintf(long_sub, sizeof long_sub,
             "{\"sub\":\"%0*d\",\"role\":\"admin\",\"iat\":1,\"exp\":1796157000,\"jti\":\"j\"}",
             BX_SUB_MAX, 0);
    static const char *const payloads[] = {
        "{\"role\":\"admin\",\"iat\":1,\"exp\":1796157000,\"jti\":\"j\"}",
        "{\"sub\":\"\",\"role\":\"admin\",\"iat\":1,\"exp\":1796157000,\"jti\":\"j\"}",
        "{\"sub\":\"u\",\"role\":\"root\",\"iat\":1,\"exp\":1796157000,\"jti\":\"j\"}",
        "{\"sub\":\"u\",\"iat\":1,\"exp\":1796157000,\"jti\":\"j\"}",
        "{\"sub\":\"u\",\"role\":\"admin\",\"iat\":1,\"exp\":\"1796157000\",\"jti\":\"j\"}",
        "{\"sub\":\"u\",\"role\":\"admin\",\"iat\":1,\"exp\":1796157000.5,\"jti\":\"j\"}",
        "{\"sub\":\"u\",\"role\":\"admin\",\"iat\":1,\"jti\":\"j\"}",
        "{\"sub\":\"u\",\"role\":\"admin\",\"exp\":1796157000,\"jti\":\"j\"}",
        "{\"sub\":\"u\",\"role\":\"admin\",\"iat\":1,\"exp\":1796157000}",
        "{\"sub\":7,\"role\":\"admin\",\"iat\":1,\"exp\":1796157000,\"jti\":\"j\"}",
        "{\"sub\":\"u\",\"sub\":\"v\",\"role\":\"admin\",\"iat\":1,\"exp\":1796157000,\"jti\":"
        "\"j\"}",
        "[\"u\",\"admin\"]",
        "\"u\"",
        "{\"sub\":\"u\"",
    };
    for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
        craft(tok, sizeof tok, h, payloads[i], f->key.sk, NULL);
        expect_refused(&f->kr, tok, NOW, NULL);
    }
    craft(tok, sizeof tok, h, long_sub, f->key.sk, NULL);
    expect_refused(&f->kr, tok, NOW, "claims");
}

static void test_garbage_tokens(void **state) {
    struct fixture *f = *state;
    static const char *const junk[] = {
        "",
        ".",
        "..",
        "...",
        "a",
        "a.b",
        "a.b.c",
        "a.b.c.d",
        "Bearer x.y.z",
        "\xff\xfe.\x01.z",
        "eyJhbGciOiJFZERTQSJ9",                 /* a header alone */
        "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1In0", /* two parts: a dot missing */
    };
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        expect_refused(&f->kr, junk[i], NOW, NULL);
    }
    /* the real token with a dot removed, or one added */
    char tok[BX_TOKEN_MAX_BYTES * 2];
    const char *d1 = strchr(f->token, '.');
    size_t i1 = (size_t)(d1 - f->token);
    snprintf(tok, sizeof tok, "%.*s%s", (int)i1, f->token, d1 + 1);
    expect_refused(&f->kr, tok, NOW, "JWS");
    const char *d2 = strrchr(f->token, '.');
    size_t i2 = (size_t)(d2 - f->token);
    snprintf(tok, sizeof tok, "%.*s%s", (int)i2, f->token, d2 + 1);
    expect_refused(&f->kr, tok, NOW, "JWS");
    snprintf(tok, sizeof tok, "%s.", f->token);
    expect_refused(&f->kr, tok, NOW, "JWS");
    snprintf(tok, sizeof tok, ".%s", f->token);
    expect_refused(&f->kr, tok, NOW, NULL);

    /* far too long, and just over the limit with a valid token inside */
    static char big[BX_TOKEN_MAX_BYTES * 8];
    memset(big, 'A', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    expect_refused(&f->kr, big, NOW, "length");
    size_t len = strlen(f->token);
    assert_true(len < BX_TOKEN_MAX_BYTES);
    memcpy(tok, f->token, len);
    memset(tok + len, 'A', BX_TOKEN_MAX_BYTES + 1 - len);
    tok[BX_TOKEN_MAX_BYTES + 1] = '\0';
    expect_refused(&f->kr, tok, NOW, "length");

    /* a header that is not JSON, or JSON that is not an object */
    char h64[64];
    b64url(h64, sizeof h64, "not json", 8);
    snprintf(tok, sizeof tok, "%s%s", h64, d1);
    expect_refused(&f->kr, tok, NOW, "header");
    b64url(h64, sizeof h64, "[\"EdDSA\"]", 9);
    snprintf(tok, sizeof tok, "%s%s", h64, d1);
    expect_refused(&f->kr, tok, NOW, NULL);
    /* padding and standard-alphabet characters are not base64url */
    snprintf(tok, sizeof tok, "%.*s=%s", (int)i1, f->token, d1);
    expect_refused(&f->kr, tok, NOW, NULL);
}

/* Writes <dir>/<kid>.<ext> holding the base64 of 32 bytes. */
static void write_key_file(const char *dir, const char *kid, const char *ext,
                           const unsigned char bytes[32]) {
    char path[PATH_MAX_BYTES];
    snprintf(path, sizeof path, "%s/%s.%s", dir, kid, ext);
    char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64(b64, sizeof b64, bytes, 32, sodium_base64_VARIANT_ORIGINAL);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_true(fputs(b64, fp) >= 0);
    assert_true(fputs("\n", fp) >= 0);
    assert_int_equal(fclose(fp), 0);
}

static void test_keyring_generate_and_load(void **state) {
    struct fixture *f = *state;
    /* kid: "k" and lowercase hex, short enough for BX_KID_MAX */
    size_t kl = strlen(f->key.kid);
    assert_true(kl >= 13 && kl < BX_KID_MAX);
    assert_int_equal(f->key.kid[0], 'k');
    for (size_t i = 1; i < kl; i++) {
        char c = f->key.kid[i];
        assert_true((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
    }
    assert_true(f->key.has_secret);

    /* <kid>.key, mode 0600, base64 of the seed; nothing else left in the directory */
    char path[PATH_MAX_BYTES];
    snprintf(path, sizeof path, "%s/%s.key", f->dir, f->key.kid);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    snprintf(path, sizeof path, "%s/%s.key.tmp", f->dir, f->key.kid);
    assert_int_not_equal(stat(path, &st), 0);

    /* loading finds the same key pair */
    assert_int_equal(f->kr.n_keys, 1);
    assert_int_equal(f->kr.signing, 0);
    const struct bx_key *k = bx_keyring_find(&f->kr, f->key.kid);
    assert_non_null(k);
    assert_true(k->has_secret);
    assert_memory_equal(k->pk, f->key.pk, 32);
    assert_memory_equal(k->sk, f->key.sk, 64);
    assert_null(bx_keyring_find(&f->kr, "k0"));

    /* a token signed by the loaded key verifies against the generated one, and back */
    char tok[BX_TOKEN_MAX_BYTES + 1];
    struct bx_claims out;
    assert_int_equal(bx_token_sign(&f->kr.keys[f->kr.signing], &f->claims, tok, sizeof tok), BX_OK);
    assert_int_equal(bx_token_verify(&f->kr, tok, NOW, &out, NULL), BX_OK);

    /* two generated keys never share a kid */
    struct bx_key k2;
    assert_int_equal(bx_keyring_generate(f->dir, &k2), BX_OK);
    assert_string_not_equal(k2.kid, f->key.kid);
    assert_memory_not_equal(k2.pk, f->key.pk, 32);

    /* missing or empty directories hold no key; a missing one is created by generate */
    struct bx_keyring kr;
    snprintf(path, sizeof path, "%s/a/b", f->dir);
    assert_int_equal(bx_keyring_load_dir(&kr, path), BX_NOT_FOUND);
    assert_int_equal(kr.n_keys, 0);
    snprintf(path, sizeof path, "%s/empty", f->dir);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(bx_keyring_load_dir(&kr, path), BX_NOT_FOUND);
    snprintf(path, sizeof path, "%s/a/b", f->dir);
    struct bx_key k3;
    assert_int_equal(bx_keyring_generate(path, &k3), BX_OK);
    assert_int_equal(bx_keyring_load_dir(&kr, path), BX_OK);
    assert_int_equal(kr.n_keys, 1);
    assert_string_equal(kr.keys[0].kid, k3.kid);

    /* files that are not keys are skipped: bad names, bad contents */
    snprintf(path, sizeof path, "%s/junk", f->dir);
    assert_int_equal(mkdir(path, 0700), 0);
    unsigned char seed[32];
    bx_random_bytes(seed, sizeof seed);
    write_key_file(path, "bad kid", "key", seed);
    write_key_file(path, "kok", "txt", seed);
    char p2[PATH_MAX_BYTES];
    snprintf(p2, sizeof p2, "%s/kshort.key", path);
    FILE *fp = fopen(p2, "w");
    assert_non_null(fp);
    fputs("c2hvcnQ=\n", fp); /* base64 of 5 bytes */
    fclose(fp);
    assert_int_equal(bx_keyring_load_dir(&kr, path), BX_NOT_FOUND);
}

static void test_rotation(void **state) {
    struct fixture *f = *state;
    /* Two older keys, named as generate names them but from long ago, and a public-only key
     * from even later: the newest key with a secret (the generated one) signs. */
    unsigned char seed_a[32], seed_b[32], pk_a[32], sk_a[64], pk_b[32], sk_b[64];
    unsigned char pk_pub[32], sk_pub[64];
    bx_random_bytes(seed_a, sizeof seed_a);
    bx_random_bytes(seed_b, sizeof seed_b);
    crypto_sign_seed_keypair(pk_a, sk_a, seed_a);
    crypto_sign_seed_keypair(pk_b, sk_b, seed_b);
    crypto_sign_keypair(pk_pub, sk_pub);
    write_key_file(f->dir, "k0000000001aaaaaa", "key", seed_a);
    write_key_file(f->dir, "k0000000002bbbbbb", "key", seed_b);
    write_key_file(f->dir, "kffffffffffcccccc", "pub", pk_pub);
    /* a .pub beside a .key for the same kid does not replace the secret key */
    write_key_file(f->dir, "k0000000002bbbbbb", "pub", pk_pub);

    struct bx_keyring kr;
    assert_int_equal(bx_keyring_load_dir(&kr, f->dir), BX_OK);
    assert_int_equal(kr.n_keys, 4);
    assert_string_equal(kr.keys[kr.signing].kid, f->key.kid);
    assert_true(kr.keys[kr.signing].has_secret);
    const struct bx_key *kb = bx_keyring_find(&kr, "k0000000002bbbbbb");
    assert_non_null(kb);
    assert_true(kb->has_secret);
    assert_memory_equal(kb->pk, pk_b, 32);
    const struct bx_key *kp = bx_keyring_find(&kr, "kffffffffffcccccc");
    assert_non_null(kp);
    assert_false(kp->has_secret);
    assert_memory_equal(kp->pk, pk_pub, 32);

    /* tokens from every key verify: old sessions survive the rotation */
    struct bx_claims out;
    char tok[BX_TOKEN_MAX_BYTES + 1];
    for (size_t i = 0; i < kr.n_keys; i++) {
        if (!kr.keys[i].has_secret) {
            continue;
        }
        assert_int_equal(bx_token_sign(&kr.keys[i], &f->claims, tok, sizeof tok), BX_OK);
        assert_int_equal(bx_token_verify(&kr, tok, NOW, &out, NULL), BX_OK);
        assert_string_equal(out.kid, kr.keys[i].kid);
    }
    struct bx_key pub_signer = {.has_secret = true};
    bx_strlcpy(pub_signer.kid, "kffffffffffcccccc", sizeof pub_signer.kid);
    memcpy(pub_signer.pk, pk_pub, 32);
    memcpy(pub_signer.sk, sk_pub, 64);
    assert_int_equal(bx_token_sign(&pub_signer, &f->claims, tok, sizeof tok), BX_OK);
    assert_int_equal(bx_token_verify(&kr, tok, NOW, &out, NULL), BX_OK);
    /* the fixture's token, signed before the rotation, still verifies */
    assert_int_equal(bx_token_verify(&kr, f->token, NOW, &out, NULL), BX_OK);

    /* with only the two old keys, the newer of them signs, whatever the directory order */
    char path[PATH_MAX_BYTES];
    snprintf(path, sizeof path, "%s/old", f->dir);
    assert_int_equal(mkdir(path, 0700), 0);
    write_key_file(path, "k0000000002bbbbbb", "key", seed_b);
    write_key_file(path, "k0000000001aaaaaa", "key", seed_a);
    assert_int_equal(bx_keyring_load_dir(&kr, path), BX_OK);
    assert_int_equal(kr.n_keys, 2);
    assert_string_equal(kr.keys[kr.signing].kid, "k0000000002bbbbbb");

    /* verifiers fed public keys only */
    struct bx_keyring pubs;
    memset(&pubs, 0, sizeof pubs);
    assert_int_equal(bx_keyring_add_public(&pubs, "k0000000001aaaaaa", pk_a), BX_OK);
    assert_int_equal(bx_keyring_add_public(&pubs, f->key.kid, f->key.pk), BX_OK);
    assert_int_equal(bx_token_verify(&pubs, f->token, NOW, &out, NULL), BX_OK);
    assert_int_not_equal(bx_keyring_add_public(&pubs, "bad kid", pk_a), BX_OK);
    assert_int_not_equal(bx_keyring_add_public(&pubs, "", pk_a), BX_OK);
    for (int i = 0; i < BX_KEYRING_KEYS_MAX; i++) {
        char kid[BX_KID_MAX];
        snprintf(kid, sizeof kid, "kfill%d", i);
        enum bx_err e = bx_keyring_add_public(&pubs, kid, pk_a);
        assert_true(e == BX_OK || pubs.n_keys == BX_KEYRING_KEYS_MAX);
    }
    assert_int_equal(pubs.n_keys, BX_KEYRING_KEYS_MAX);
    assert_int_not_equal(bx_keyring_add_public(&pubs, "kmore", pk_a), BX_OK);
}

static void test_jwks(void **state) {
    struct fixture *f = *state;
    unsigned char seed[32];
    bx_random_bytes(seed, sizeof seed);
    write_key_file(f->dir, "k0000000001aaaaaa", "key", seed);
    struct bx_keyring kr;
    assert_int_equal(bx_keyring_load_dir(&kr, f->dir), BX_OK);
    assert_int_equal(kr.n_keys, 2);

    char out[4096];
    assert_int_equal(bx_keyring_jwks(&kr, out, sizeof out), BX_OK);
    json_error_t je;
    json_t *doc = json_loads(out, JSON_REJECT_DUPLICATES, &je);
    assert_non_null(doc);
    assert_true(json_is_object(doc));
    assert_int_equal(json_object_size(doc), 1);
    json_t *keys = json_object_get(doc, "keys");
    assert_true(json_is_array(keys));
    assert_int_equal(json_array_size(keys), 2);

    /* a verifier built from the JWKS alone accepts tokens from both keys */
    struct bx_keyring from_jwks;
    memset(&from_jwks, 0, sizeof from_jwks);
    for (size_t i = 0; i < json_array_size(keys); i++) {
        json_t *k = json_array_get(keys, i);
        assert_string_equal(json_string_value(json_object_get(k, "kty")), "OKP");
        assert_string_equal(json_string_value(json_object_get(k, "crv")), "Ed25519");
        assert_string_equal(json_string_value(json_object_get(k, "alg")), "EdDSA");
        assert_string_equal(json_string_value(json_object_get(k, "use")), "sig");
        const char *kid = json_string_value(json_object_get(k, "kid"));
        const char *x = json_string_value(json_object_get(k, "x"));
        assert_non_null(kid);
        assert_non_null(x);
        assert_int_equal(strlen(x), 43);      /* 32 bytes, base64url without padding */
        assert_null(json_object_get(k, "d")); /* never the secret */
        unsigned char pk[32];
        assert_int_equal(unb64url(pk, sizeof pk, x, strlen(x)), 32);
        const struct bx_key *known = bx_keyring_find(&kr, kid);
        assert_non_null(known);
        assert_memory_equal(pk, known->pk, 32);
        assert_int_equal(bx_keyring_add_public(&from_jwks, kid, pk), BX_OK);
    }
    json_decref(doc);
    char tok[BX_TOKEN_MAX_BYTES + 1];
    struct bx_claims c;
    for (size_t i = 0; i < kr.n_keys; i++) {
        assert_int_equal(bx_token_sign(&kr.keys[i], &f->claims, tok, sizeof tok), BX_OK);
        assert_int_equal(bx_token_verify(&from_jwks, tok, NOW, &c, NULL), BX_OK);
    }

    /* too small a buffer is an error, not a truncated document */
    size_t full = strlen(out);
    memset(out, 'z', sizeof out);
    assert_int_equal(bx_keyring_jwks(&kr, out, full), BX_INTERNAL);
    assert_int_equal(bx_keyring_jwks(&kr, out, 10), BX_INTERNAL);
    assert_int_equal(bx_keyring_jwks(&kr, out, full + 1), BX_OK);
    assert_int_equal(strlen(out), full);

    /* an empty keyring is an empty list */
    struct bx_keyring empty;
    memset(&empty, 0, sizeof empty);
    assert_int_equal(bx_keyring_jwks(&empty, out, sizeof out), BX_OK);
    assert_string_equal(out, "{\"keys\":[]}");
}

static void test_token_cache(void **state) {
    struct fixture *f = *state;
    struct bx_token_cache *c = bx_token_cache_new(4);
    assert_non_null(c);
    struct bx_claims direct, first, second;
    assert_int_equal(bx_token_verify(&f->kr, f->token, NOW, &direct, NULL), BX_OK);
    assert_int_equal(bx_token_verify_cached(c, &f->kr, f->token, NOW, &first, NULL), BX_OK);
    assert_int_equal(bx_token_verify_cached(c, &f->kr, f->token, NOW + 1, &second, NULL), BX_OK);
    assert_claims_equal(&first, &direct);
    assert_claims_equal(&second, &direct);
    assert_string_equal(second.kid, f->key.kid);

    /* a cached token still expires */
    const char *why = NULL;
    assert_int_equal(bx_token_verify_cached(c, &f->kr, f->token, f->claims.exp, &second, &why),
                     BX_UNAUTHORIZED);
    assert_non_null(why);
    assert_non_null(strstr(why, "expired"));
    assert_int_equal(
        bx_token_verify_cached(c, &f->kr, f->token, f->claims.exp + 1000, &second, NULL),
        BX_UNAUTHORIZED);
    /* and is not refused before its time because of that */
    assert_int_equal(bx_token_verify_cached(c, &f->kr, f->token, f->claims.exp - 1, &second, NULL),
                     BX_OK);

    /* a tampered token is refused even while the real one is cached */
    char tok[BX_TOKEN_MAX_BYTES * 2];
    bx_strlcpy(tok, f->token, sizeof tok);
    size_t len = strlen(tok);
    tok[len - 2] = tok[len - 2] == 'A' ? 'B' : 'A';
    assert_int_equal(bx_token_verify_cached(c, &f->kr, tok, NOW, &second, NULL), BX_UNAUTHORIZED);
    assert_int_equal(bx_token_verify_cached(c, &f->kr, f->token, NOW, &second, NULL), BX_OK);

    /* many tokens through a small cache: each answers with its own claims */
    for (int i = 0; i < 20; i++) {
        struct bx_claims cl = f->claims;
        snprintf(cl.sub, sizeof cl.sub, "user-%d", i);
        char t[BX_TOKEN_MAX_BYTES + 1];
        assert_int_equal(bx_token_sign(&f->key, &cl, t, sizeof t), BX_OK);
        for (int rep = 0; rep < 2; rep++) {
            assert_int_equal(bx_token_verify_cached(c, &f->kr, t, NOW, &second, NULL), BX_OK);
            assert_string_equal(second.sub, cl.sub);
        }
    }

    /* the cache answers only for keys the keyring still trusts, as they are now */
    assert_int_equal(bx_token_verify_cached(c, &f->kr, f->token, NOW, &second, NULL), BX_OK);
    struct bx_keyring empty;
    memset(&empty, 0, sizeof empty);
    assert_int_equal(bx_token_verify_cached(c, &empty, f->token, NOW, &second, NULL),
                     BX_UNAUTHORIZED);
    struct bx_keyring swapped;
    memset(&swapped, 0, sizeof swapped);
    unsigned char other_pk[32], other_sk[64];
    crypto_sign_keypair(other_pk, other_sk);
    assert_int_equal(bx_keyring_add_public(&swapped, f->key.kid, other_pk), BX_OK);
    assert_int_equal(bx_token_verify(&swapped, f->token, NOW, &second, NULL), BX_UNAUTHORIZED);
    assert_int_equal(bx_token_verify_cached(c, &swapped, f->token, NOW, &second, NULL),
                     BX_UNAUTHORIZED);

    /* garbage through the cache */
    assert_int_equal(bx_token_verify_cached(c, &f->kr, "", NOW, &second, NULL), BX_UNAUTHORIZED);
    assert_int_equal(bx_token_verify_cached(c, &f->kr, "a.b.c", NOW, &second, NULL),
                     BX_UNAUTHORIZED);
    bx_token_cache_free(c);

    /* no cache: plain verification */
    assert_int_equal(bx_token_verify_cached(NULL, &f->kr, f->token, NOW, &second, NULL), BX_OK);
    assert_int_equal(bx_token_verify_cached(NULL, &f->kr, f->token, f->claims.exp, &second, NULL),
                     BX_UNAUTHORIZED);
    bx_token_cache_free(NULL);
}

static void test_roles(void **state) {
    (void)state;
    enum bx_role r;
    assert_int_equal(bx_role_parse("customer", &r), 0);
    assert_int_equal(r, BX_ROLE_CUSTOMER);
    assert_int_equal(bx_role_parse("staff", &r), 0);
    assert_int_equal(r, BX_ROLE_STAFF);
    assert_int_equal(bx_role_parse("admin", &r), 0);
    assert_int_equal(r, BX_ROLE_ADMIN);
    assert_int_equal(bx_role_parse("Admin", &r), -1);
    assert_int_equal(bx_role_parse("", &r), -1);
    assert_int_equal(bx_role_parse("root", &r), -1);
    assert_string_equal(bx_role_name(BX_ROLE_ADMIN), "admin");
    assert_string_equal(bx_role_name(BX_ROLE_STAFF), "staff");
    assert_string_equal(bx_role_name(BX_ROLE_CUSTOMER), "customer");
}

int main(void) {
    if (sodium_init() < 0) {
        return 1;
    }
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_sign_verify_round_trip),
        T(test_tampered_payload),
        T(test_tampered_signature),
        T(test_expiry),
        T(test_alg_none_and_hs256),
        T(test_unknown_kid_and_wrong_key),
        T(test_bad_claims),
        T(test_garbage_tokens),
        T(test_keyring_generate_and_load),
        T(test_rotation),
        T(test_jwks),
        T(test_token_cache),
        cmocka_unit_test(test_roles),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
