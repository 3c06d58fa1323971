// SPDX-License-Identifier: Apache-2.0
// Session tokens: compact JWS (JWT) signed with Ed25519 ("alg":"EdDSA") through libsodium, with a
// key id in the header so keys rotate without logging everyone out. Verification accepts only
// EdDSA, a known kid, a valid signature and an unexpired exp; verified tokens are cached by hash.
#ifndef BOXOFFICE_AUTH_H
#define BOXOFFICE_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boxoffice/err.h"

#define BX_KID_MAX           32
#define BX_SUB_MAX           64
#define BX_JTI_MAX           40
#define BX_TOKEN_MAX_BYTES   1024
#define BX_KEYRING_KEYS_MAX  8
#define BX_AUTH_CLOCK_SKEW_S 30

enum bx_role { BX_ROLE_CUSTOMER, BX_ROLE_STAFF, BX_ROLE_ADMIN };

const char *bx_role_name(enum bx_role r);
/* Returns -1 when the name is not a role. */
int bx_role_parse(const char *s, enum bx_role *out);

struct bx_claims {
    char sub[BX_SUB_MAX];
    enum bx_role role;
    int64_t iat, exp; /* Unix seconds */
    char jti[BX_JTI_MAX];
    char kid[BX_KID_MAX];
};

struct bx_key {
    char kid[BX_KID_MAX];
    unsigned char pk[32];
    unsigned char sk[64];
    bool has_secret;
};

/* Append-only once serving: keys[0..n_keys) never change, and a key is written in full before
 * n_keys (atomic) publishes it, so request threads read while one thread adds keys. */
struct bx_keyring {
    struct bx_key keys[BX_KEYRING_KEYS_MAX];
    _Atomic size_t n_keys;
    size_t signing; /* index of the key that signs new tokens (newest with a secret) */
};

/* Creates a new key with a fresh, time-ordered kid ("k" + 10 hex of Unix seconds + 6 random hex)
 * and writes <dir>/<kid>.key (base64 seed, mode 0600). Creates dir when missing. */
enum bx_err bx_keyring_generate(const char *dir, struct bx_key *out);
/* Loads every <kid>.key (secret seed) and <kid>.pub (public key) in dir; the signing key is the one
 * with the greatest kid (kids sort by creation time). Returns BX_NOT_FOUND when the directory holds
 * no key. */
enum bx_err bx_keyring_load_dir(struct bx_keyring *kr, const char *dir);
/* Adds a public key (for verifiers fed from a JWKS); a kid already present is left as it is. Safe
 * against concurrent readers; one writer at a time. */
enum bx_err bx_keyring_add_public(struct bx_keyring *kr, const char *kid,
                                  const unsigned char pk[32]);
const struct bx_key *bx_keyring_find(const struct bx_keyring *kr, const char *kid);
/* Adds every Ed25519 key of a JWKS document (as served by /api/auth/jwks) that the keyring does
 * not have yet; returns how many were added, or -1 when the document is not a JWKS. */
int bx_keyring_add_jwks(struct bx_keyring *kr, const char *jwks, size_t len);
/* JWKS JSON ({"keys":[{"kty":"OKP","crv":"Ed25519","kid":..,"x":..,"alg":"EdDSA","use":"sig"}]})
 * into out; returns BX_INTERNAL when it does not fit. */
enum bx_err bx_keyring_jwks(const struct bx_keyring *kr, char *out, size_t out_size);

/* Signs claims (kid taken from key) into out (NUL-terminated). */
enum bx_err bx_token_sign(const struct bx_key *key, const struct bx_claims *claims, char *out,
                          size_t out_size);

/* Verifies token at time now (Unix s). BX_OK and *out filled, or BX_UNAUTHORIZED with a reason in
 * *why (static string) when why is not NULL. */
enum bx_err bx_token_verify(const struct bx_keyring *kr, const char *token, int64_t now,
                            struct bx_claims *out, const char **why);

/* A verified-token cache: a fixed table of recent tokens (by BLAKE2b hash) and their claims, so
 * hot routes skip the signature check. Entries are dropped when the token expires. Thread-safe. */
struct bx_token_cache;
struct bx_token_cache *bx_token_cache_new(size_t slots);
void bx_token_cache_free(struct bx_token_cache *c);
/* bx_token_verify through the cache. */
enum bx_err bx_token_verify_cached(struct bx_token_cache *c, const struct bx_keyring *kr,
                                   const char *token, int64_t now, struct bx_claims *out,
                                   const char **why);

#endif
