// SPDX-License-Identifier: Apache-2.0
// fuzz_jwks: bx_keyring_add_jwks (lib/auth.c), which every service with BOXOFFICE_JWKS_URL runs
// on users' JWKS every 30 s, on hostile documents. The keyring starts with one real key each time.
// Checks: the result counts exactly the keys docs/auth.md says are added (Ed25519, a valid new
// kid, a 32-byte x, room left), existing keys never change, and what was added renders with
// bx_keyring_jwks and reads back into an empty keyring unchanged.
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "boxoffice/auth.h"
#include "boxoffice/base.h"
#include "fuzz_common.h"

#define B64URL    sodium_base64_VARIANT_URLSAFE_NO_PADDING
#define JWKS_BUF  4096 /* users' buffer for /api/auth/jwks */
#define KID_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"

static struct bx_keyring template;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_init_sodium();
    fuzz_key(&template.keys[0], "kfuzz-a", 0x11);
    atomic_store(&template.n_keys, 1);
    return 0;
}

static bool kid_ok(const char *kid) {
    size_t n = strlen(kid);
    return n >= 1 && n < BX_KID_MAX && strspn(kid, KID_CHARS) == n;
}

static bool str_is(json_t *v, const char *want) {
    return json_is_string(v) && strcmp(json_string_value(v), want) == 0;
}

/* docs/auth.md's reading of the document: how many keys it adds to template, and which. */
static int expected_adds(const uint8_t *data, size_t size, char kids[][BX_KID_MAX]) {
    json_t *doc = json_loadb((const char *)data, size, 0, NULL);
    json_t *keys = json_object_get(doc, "keys");
    if (!json_is_array(keys)) {
        json_decref(doc);
        return -1;
    }
    int added = 0;
    size_t have = 1, i;
    json_t *k;
    json_array_foreach(keys, i, k) {
        const char *kid = json_string_value(json_object_get(k, "kid"));
        const char *x = json_string_value(json_object_get(k, "x"));
        unsigned char pk[32];
        size_t pk_len = 0;
        bool known = kid != NULL && strcmp(kid, template.keys[0].kid) == 0;
        for (int j = 0; kid != NULL && j < added; j++) {
            known = known || strcmp(kids[j], kid) == 0;
        }
        if (!str_is(json_object_get(k, "kty"), "OKP") ||
            !str_is(json_object_get(k, "crv"), "Ed25519") || kid == NULL || !kid_ok(kid) || known ||
            x == NULL ||
            strspn(x, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") !=
                strlen(x) ||
            sodium_base642bin(pk, sizeof pk, x, strlen(x), NULL, &pk_len, NULL, B64URL) != 0 ||
            pk_len != sizeof pk || have == BX_KEYRING_KEYS_MAX) {
            continue;
        }
        bx_strlcpy(kids[added++], kid, BX_KID_MAX);
        have++;
    }
    json_decref(doc);
    return added;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct bx_keyring kr = template;
    atomic_store(&kr.n_keys, atomic_load(&template.n_keys));
    int added = bx_keyring_add_jwks(&kr, (const char *)data, size);

    char kids[BX_KEYRING_KEYS_MAX][BX_KID_MAX];
    int want = expected_adds(data, size, kids);
    FUZZ_CHECK(added == want, "added %d keys, the document holds %d to add", added, want);
    size_t n = atomic_load(&kr.n_keys);
    FUZZ_CHECK(n == 1 + (size_t)(added > 0 ? added : 0) && n <= BX_KEYRING_KEYS_MAX,
               "%zu keys after adding %d", n, added);
    FUZZ_CHECK(memcmp(&kr.keys[0], &template.keys[0], sizeof kr.keys[0]) == 0,
               "the existing key changed");
    for (size_t i = 1; i < n; i++) {
        FUZZ_CHECK(strcmp(kr.keys[i].kid, kids[i - 1]) == 0 && kid_ok(kr.keys[i].kid) &&
                       !kr.keys[i].has_secret,
                   "key %zu: kid \"%s\", expected \"%s\"", i, kr.keys[i].kid, kids[i - 1]);
    }

    /* Render the keyring and read it into an empty one: the same kids and public keys. */
    char jwks[JWKS_BUF];
    FUZZ_CHECK(bx_keyring_jwks(&kr, jwks, sizeof jwks) == BX_OK, "%zu keys do not render", n);
    struct bx_keyring fresh;
    memset(&fresh, 0, sizeof fresh);
    FUZZ_CHECK(bx_keyring_add_jwks(&fresh, jwks, strlen(jwks)) == (int)n,
               "the rendered JWKS does not read back: %s", jwks);
    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(strcmp(fresh.keys[i].kid, kr.keys[i].kid) == 0 &&
                       memcmp(fresh.keys[i].pk, kr.keys[i].pk, 32) == 0,
                   "key %zu changed on the way through the JWKS", i);
    }
    return 0;
}
