// SPDX-License-Identifier: Apache-2.0
// fuzz_token: bx_token_verify and bx_token_verify_cached (lib/auth.c) on hostile bearer tokens,
// against a keyring with a real signing key and a public-only key. The first input byte picks the
// shape; the rest is either a raw token, or a header and payload that this target signs, so that
// claim parsing past the signature check is reached too:
//   byte0 % 3 == 0  raw token
//   byte0 % 3 == 1  "<header JSON>\n<payload JSON>", signed by the key (byte0 / 3) % 4 picks
//   byte0 % 3 == 2  "<payload JSON>" under a proper header for that key, signed by it
// Keys: 0 and 3 "kfuzz-a" (in the keyring with its secret), 1 "kfuzz-b" (public only), 2 a key
// the keyring does not have, which signs forgeries that claim kid "kfuzz-a".
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "boxoffice/auth.h"
#include "boxoffice/base.h"
#include "fuzz_common.h"

#define B64URL       sodium_base64_VARIANT_URLSAFE_NO_PADDING
#define TOKEN_BUF    (4 * BX_TOKEN_MAX_BYTES)
#define CACHE_SLOTS  64 /* small, so tokens overwrite each other's slots */
#define SIGNER_FORGE 2
#define B64URL_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."

static struct bx_keyring keyring;
static struct bx_key signers[4];
static struct bx_token_cache *cache;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_init_sodium();
    fuzz_key(&signers[0], "kfuzz-a", 0x11);
    fuzz_key(&signers[1], "kfuzz-b", 0x22);
    fuzz_key(&signers[2], "kfuzz-a", 0x33); /* the forger: right kid, wrong key */
    signers[3] = signers[0];
    keyring.keys[0] = signers[0];
    atomic_store(&keyring.n_keys, 1);
    keyring.signing = 0;
    FUZZ_CHECK(bx_keyring_add_public(&keyring, "kfuzz-b", signers[1].pk) == BX_OK, "add key");
    cache = bx_token_cache_new(CACHE_SLOTS);
    FUZZ_CHECK(cache != NULL, "cache");
    return 0;
}

/* Appends base64url(bin) to out at *len; false when it does not fit. */
static bool put_b64(char *out, size_t *len, const void *bin, size_t n) {
    if (*len + sodium_base64_ENCODED_LEN(n, B64URL) + 1 > TOKEN_BUF) {
        return false;
    }
    sodium_bin2base64(out + *len, TOKEN_BUF - *len, bin, n, B64URL);
    *len += strlen(out + *len);
    return true;
}

/* header.payload.signature signed with key; false when it does not fit the buffer. */
static bool build_token(char *out, const char *header, size_t hlen, const char *payload,
                        size_t plen, const struct bx_key *key) {
    size_t len = 0;
    if (!put_b64(out, &len, header, hlen)) {
        return false;
    }
    out[len++] = '.';
    if (!put_b64(out, &len, payload, plen)) {
        return false;
    }
    unsigned char sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, NULL, (const unsigned char *)out, len, key->sk);
    out[len++] = '.';
    return put_b64(out, &len, sig, sizeof sig);
}

static bool claims_equal(const struct bx_claims *a, const struct bx_claims *b) {
    return strcmp(a->sub, b->sub) == 0 && a->role == b->role && a->iat == b->iat &&
           a->exp == b->exp && strcmp(a->jti, b->jti) == 0 && strcmp(a->kid, b->kid) == 0;
}

/* What an accepted token must look like (docs/auth.md). */
static void check_claims(const struct bx_claims *c) {
    FUZZ_CHECK(memchr(c->sub, '\0', sizeof c->sub) && c->sub[0] != '\0', "sub");
    FUZZ_CHECK(memchr(c->jti, '\0', sizeof c->jti) != NULL, "jti");
    FUZZ_CHECK(memchr(c->kid, '\0', sizeof c->kid) != NULL, "kid");
    FUZZ_CHECK(bx_keyring_find(&keyring, c->kid) != NULL, "kid %s is not in the keyring", c->kid);
    FUZZ_CHECK(c->role == BX_ROLE_CUSTOMER || c->role == BX_ROLE_STAFF || c->role == BX_ROLE_ADMIN,
               "role %d", (int)c->role);
    FUZZ_CHECK(FUZZ_NOW_S < c->exp, "expired token accepted (exp %lld)", (long long)c->exp);
    FUZZ_CHECK(c->iat <= FUZZ_NOW_S + BX_AUTH_CLOCK_SKEW_S, "future iat %lld accepted",
               (long long)c->iat);
}

static void verify(const char *token, int signer) {
    struct bx_claims c, cached;
    const char *why = NULL;
    memset(&c, 0, sizeof c);
    enum bx_err e = bx_token_verify(&keyring, token, FUZZ_NOW_S, &c, &why);
    FUZZ_CHECK(e == BX_OK || (e == BX_UNAUTHORIZED && why != NULL), "verify gave %s",
               bx_err_name(e));
    if (e == BX_OK) {
        check_claims(&c);
        FUZZ_CHECK(signer != SIGNER_FORGE, "a token signed by an unknown key verified (kid %s)",
                   c.kid);
        FUZZ_CHECK(strlen(token) <= BX_TOKEN_MAX_BYTES, "a %zu-byte token verified", strlen(token));
        /* A compact JWS is base64url and dots only (RFC 7515). */
        size_t alpha = strspn(token, B64URL_CHARS);
        bool f4 = token[alpha] != '\0' && (unsigned char)token[alpha] >= 0x80 && fuzz_known(4);
        FUZZ_CHECK(token[alpha] == '\0' || f4,
                   "a token with a character outside base64url verified: %s", token);
    }
    /* The cache answers as the verifier does, on the miss and on the hit. */
    for (int round = 0; round < 2; round++) {
        memset(&cached, 0, sizeof cached);
        enum bx_err ce = bx_token_verify_cached(cache, &keyring, token, FUZZ_NOW_S, &cached, NULL);
        FUZZ_CHECK(ce == e, "cached verify says %s, verify %s (round %d)", bx_err_name(ce),
                   bx_err_name(e), round);
        FUZZ_CHECK(e != BX_OK || claims_equal(&c, &cached), "cached claims differ (round %d)",
                   round);
    }
    if (e == BX_OK && strcmp(c.kid, signers[0].kid) == 0) {
        /* Accepted claims sign and verify again to the same claims. */
        char again[TOKEN_BUF];
        struct bx_claims c2;
        FUZZ_CHECK(bx_token_sign(&signers[0], &c, again, sizeof again) == BX_OK, "re-sign");
        FUZZ_CHECK(bx_token_verify(&keyring, again, FUZZ_NOW_S, &c2, NULL) == BX_OK &&
                       claims_equal(&c, &c2),
                   "re-signed claims do not verify to the same claims: %s", again);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) {
        return 0;
    }
    unsigned mode = data[0] % 3;
    int signer = (int)((data[0] / 3) % 4);
    const char *rest = (const char *)data + 1;
    size_t n = size - 1;
    char *token = malloc(TOKEN_BUF);
    FUZZ_CHECK(token != NULL, "out of memory");
    if (mode == 0) {
        char *raw = fuzz_cstr(data + 1, n);
        verify(raw, -1);
        free(raw);
    } else if (mode == 1) {
        const char *nl = memchr(rest, '\n', n);
        size_t hlen = nl ? (size_t)(nl - rest) : n;
        const char *payload = nl ? nl + 1 : "";
        size_t plen = nl ? n - hlen - 1 : 0;
        if (build_token(token, rest, hlen, payload, plen, &signers[signer])) {
            verify(token, signer);
        }
    } else {
        char header[96];
        int hlen =
            snprintf(header, sizeof header, "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
                     signers[signer].kid);
        if (build_token(token, header, (size_t)hlen, rest, n, &signers[signer])) {
            verify(token, signer);
        }
    }
    free(token);
    return 0;
}
