// SPDX-License-Identifier: Apache-2.0
// fuzz_qr_payload: tg_payload_verify (services/ticketgen/payload.c, linked as it is) on what a
// door scanner can be shown: "BX1.<base64url payload>.<base64url Ed25519 signature>". The first
// input byte picks the shape of the rest:
//   byte0 % 3 == 0  the scanned text, raw
//   byte0 % 3 == 1  a binary payload this target wraps and signs with the key (byte0 / 3) % 3
//                   picks: 0 "tfuzz-a" (in the keyring), 1 "tfuzz-b" (public only in the
//                   keyring), 2 a key the keyring does not have (forgeries)
//   byte0 % 3 == 2  "ticket\nevent\ntier\norder\nissued_at": claims for tg_payload_sign
// Checks: only texts signed by a key of the keyring verify, what verifies names valid ids, and
// claims survive sign -> verify unchanged.
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "boxoffice/auth.h"
#include "boxoffice/base.h"
#include "fuzz_common.h"
#include "ticketgen.h"

#define B64URL       sodium_base64_VARIANT_URLSAFE_NO_PADDING
#define TEXT_BUF     2048
#define SIGNER_FORGE 2
#define B64URL_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."

static struct bx_keyring keyring;
static struct bx_key signers[3];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_init_sodium();
    fuzz_key(&signers[0], "tfuzz-a", 0x44);
    fuzz_key(&signers[1], "tfuzz-b", 0x55);
    fuzz_key(&signers[2], "tfuzz-a", 0x66); /* the forger: a kid of the keyring, another key */
    keyring.keys[0] = signers[0];
    atomic_store(&keyring.n_keys, 1);
    keyring.signing = 0;
    FUZZ_CHECK(bx_keyring_add_public(&keyring, "tfuzz-b", signers[1].pk) == BX_OK, "add key");
    return 0;
}

static bool claims_equal(const struct tg_claims *a, const struct tg_claims *b) {
    return strcmp(a->kid, b->kid) == 0 && strcmp(a->ticket_id, b->ticket_id) == 0 &&
           strcmp(a->event_id, b->event_id) == 0 && strcmp(a->tier_id, b->tier_id) == 0 &&
           strcmp(a->order_id, b->order_id) == 0 && a->issued_at == b->issued_at;
}

static void verify(const char *text, size_t len, int signer) {
    struct tg_claims c;
    memset(&c, 0, sizeof c);
    if (!tg_payload_verify(&keyring, text, len, &c)) {
        return;
    }
    FUZZ_CHECK(signer != SIGNER_FORGE, "a payload signed by an unknown key verified: %.*s",
               (int)len, text);
    FUZZ_CHECK(len <= TG_QR_TEXT_MAX && memchr(text, '\0', len) == NULL, "%zu-byte text", len);
    FUZZ_CHECK(bx_keyring_find(&keyring, c.kid) != NULL, "kid %s", c.kid);
    FUZZ_CHECK(bx_valid_id(c.ticket_id) && bx_valid_id(c.event_id) && bx_valid_id(c.tier_id) &&
                   bx_valid_id(c.order_id),
               "verified ids are not ids: %s %s %s %s", c.ticket_id, c.event_id, c.tier_id,
               c.order_id);
    FUZZ_CHECK(c.issued_at >= 0 && c.issued_at <= UINT32_MAX, "issued_at %lld",
               (long long)c.issued_at);
    /* One text per signature: only base64url characters, and decoding both parts and encoding
     * them again gives the text back. */
    size_t alpha = 0; /* text is not NUL-terminated */
    while (alpha < len && text[alpha] != '\0' && strchr(B64URL_CHARS, text[alpha]) != NULL) {
        alpha++;
    }
    if (alpha < len && (unsigned char)text[alpha] >= 0x80 && fuzz_known(4)) {
        return; /* known finding F4 (docs/fuzzing.md): libsodium reads a byte >= 0x80 as '_' */
    }
    FUZZ_CHECK(alpha >= len, "a verified text holds a character outside base64url: %.*s", (int)len,
               text);
    const char *dot = memchr(text + 4, '.', len - 4);
    unsigned char bin[TEXT_BUF], sig[crypto_sign_BYTES];
    size_t n = 0, sig_len = 0;
    FUZZ_CHECK(dot != NULL &&
                   sodium_base642bin(bin, sizeof bin, text + 4, (size_t)(dot - text - 4), NULL, &n,
                                     NULL, B64URL) == 0 &&
                   sodium_base642bin(sig, sizeof sig, dot + 1, len - (size_t)(dot + 1 - text), NULL,
                                     &sig_len, NULL, B64URL) == 0,
               "a verified text does not decode: %.*s", (int)len, text);
    char canon[TEXT_BUF];
    memcpy(canon, "BX1.", 4);
    sodium_bin2base64(canon + 4, sizeof canon - 4, bin, n, B64URL);
    size_t clen = strlen(canon);
    canon[clen++] = '.';
    sodium_bin2base64(canon + clen, sizeof canon - clen, sig, sig_len, B64URL);
    FUZZ_CHECK(strlen(canon) == len && memcmp(canon, text, len) == 0,
               "a verified text is not canonical base64url: %.*s", (int)len, text);
    if (strcmp(c.kid, signers[0].kid) == 0) {
        /* What verified signs again to a text that verifies to the same claims. */
        char again[TEXT_BUF];
        struct tg_claims c2;
        FUZZ_CHECK(tg_payload_sign(&keyring, &c, again, sizeof again) == BX_OK,
                   "verified claims do not sign");
        FUZZ_CHECK(tg_payload_verify(&keyring, again, strlen(again), &c2) && claims_equal(&c, &c2),
                   "re-signed claims differ: %s", again);
    }
}

/* "BX1." base64url(bin) "." base64url(signature by key); false when it does not fit. */
static bool wrap(char *out, const unsigned char *bin, size_t n, const struct bx_key *key) {
    size_t need = 4 + sodium_base64_ENCODED_LEN(n, B64URL) + 1 +
                  sodium_base64_ENCODED_LEN(crypto_sign_BYTES, B64URL);
    if (need > TEXT_BUF) {
        return false;
    }
    memcpy(out, "BX1.", 4);
    sodium_bin2base64(out + 4, TEXT_BUF - 4, bin, n, B64URL);
    size_t len = strlen(out);
    unsigned char sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, NULL, (const unsigned char *)out, len, key->sk);
    out[len++] = '.';
    sodium_bin2base64(out + len, TEXT_BUF - len, sig, sizeof sig, B64URL);
    return true;
}

/* Mode 2: claims from lines; sign must refuse them or produce a text that verifies to them. */
static void sign_and_verify(char *lines) {
    struct tg_claims c;
    memset(&c, 0, sizeof c);
    char *field[5] = {c.ticket_id, c.event_id, c.tier_id, c.order_id, NULL};
    char issued[32] = "0";
    field[4] = issued;
    size_t sizes[5] = {TG_ID_MAX, TG_ID_MAX, TG_ID_MAX, TG_ID_MAX, sizeof issued};
    char *p = lines;
    for (size_t i = 0; i < 5 && p != NULL; i++) {
        char *nl = strchr(p, '\n');
        if (nl != NULL) {
            *nl = '\0';
        }
        bx_strlcpy(field[i], p, sizes[i]);
        p = nl ? nl + 1 : NULL;
    }
    if (bx_parse_i64(issued, INT64_MIN, INT64_MAX, &c.issued_at) != 0) {
        return;
    }
    char text[TEXT_BUF];
    if (tg_payload_sign(&keyring, &c, text, sizeof text) != BX_OK) {
        return;
    }
    struct tg_claims back;
    bx_strlcpy(c.kid, signers[0].kid, sizeof c.kid);
    FUZZ_CHECK(strlen(text) <= TG_QR_TEXT_MAX, "a signed payload of %zu bytes: %s", strlen(text),
               text);
    FUZZ_CHECK(tg_payload_verify(&keyring, text, strlen(text), &back) && claims_equal(&c, &back),
               "signed claims (%s %s %s %s %lld) do not verify to themselves: %s", c.ticket_id,
               c.event_id, c.tier_id, c.order_id, (long long)c.issued_at, text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0 || size > TEXT_BUF) {
        return 0;
    }
    unsigned mode = data[0] % 3;
    int signer = (int)((data[0] / 3) % 3);
    if (mode == 0) {
        char *text = malloc(size > 1 ? size - 1 : 1); /* exact: ASan sees reads past len */
        FUZZ_CHECK(text != NULL, "out of memory");
        memcpy(text, data + 1, size - 1);
        verify(text, size - 1, -1);
        free(text);
    } else if (mode == 1) {
        char text[TEXT_BUF];
        if (wrap(text, data + 1, size - 1, &signers[signer])) {
            verify(text, strlen(text), signer);
        }
    } else {
        char *lines = fuzz_cstr(data + 1, size - 1);
        sign_and_verify(lines);
        free(lines);
    }
    return 0;
}
