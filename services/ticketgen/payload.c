// SPDX-License-Identifier: Apache-2.0
// The signed QR payload and the ticket signing keys.
// Text: "BX1." base64url(payload) "." base64url(Ed25519 signature over the ASCII bytes before the
// second dot), without padding. The payload is compact binary so that the QR code stays small
// (version 10 at level M, 57x57 modules, for UUID ids):
//   byte 0      format, 1
//   bytes 1-4   issued_at, Unix seconds, unsigned big-endian
//   then five fields in this order: kid, ticket id, event id, tier id, order id; each either
//     0x80 followed by the 16 bytes of a lowercase canonical UUID, or
//     one length byte 1-64 followed by that many id characters ([0-9A-Za-z_-])
// and nothing after. Decoding is strict (exact length, canonical base64url), so one ticket has
// one text per signature, and a verifier never reads past the buffer.
// Keys: BOXOFFICE_TICKET_KEYS holds <kid>.key (secret) / <kid>.pub files as lib/auth.c reads them;
// the newest secret key signs, every key in the directory verifies (rotation).
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "boxoffice/base.h"
#include "boxoffice/log.h"
#include "ticketgen.h"

#define B64URL         sodium_base64_VARIANT_URLSAFE_NO_PADDING
#define PAYLOAD_FORMAT 1
#define PAYLOAD_MAX    (1 + 4 + 5 * (1 + 64)) /* largest binary payload */
#define FIELD_UUID     0x80
#define FIELD_RAW_MAX  64
#define PREFIX         "BX1."
#define PREFIX_LEN     4

enum bx_err tg_keys_init(const char *dir, bool create, struct bx_keyring *kr, bool *can_sign,
                         struct bx_error *err) {
    enum bx_err e = bx_keyring_load_dir(kr, dir);
    if (e == BX_NOT_FOUND && !create) {
        return bx_error_set(err, BX_INTERNAL, NULL,
                            "no ticket keys in %s (they must be the service's keys: package or "
                            "mount them; a key made here would sign tickets no one can verify)",
                            dir);
    }
    if (e == BX_NOT_FOUND) {
        struct bx_key k;
        if (bx_keyring_generate(dir, &k) != BX_OK) {
            return bx_error_set(err, BX_INTERNAL, NULL, "cannot create a ticket key in %s", dir);
        }
        bx_info("created ticket signing key %s in %s", k.kid, dir);
        sodium_memzero(&k, sizeof k);
        e = bx_keyring_load_dir(kr, dir);
    }
    if (e != BX_OK) {
        return bx_error_set(err, BX_INTERNAL, NULL, "cannot read ticket keys from %s", dir);
    }
    *can_sign = kr->keys[kr->signing].has_secret;
    if (*can_sign) {
        bx_info("ticket keys: %zu in %s, signing with %s", (size_t)kr->n_keys, dir,
                kr->keys[kr->signing].kid);
    } else {
        bx_warn("ticket keys in %s are public only: tickets verify but none can be issued", dir);
    }
    return BX_OK;
}

static bool is_uuid(const char *s) {
    if (strlen(s) != 36) {
        return false;
    }
    for (size_t i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        char c = s[i];
        if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return true;
}

static int hexval(char c) {
    return c <= '9' ? c - '0' : c - 'a' + 10;
}

/* Appends one field; returns the new length, or 0 when it does not fit or is not an id. */
static size_t put_field(unsigned char *buf, size_t at, size_t size, const char *s) {
    size_t n = strlen(s);
    if (is_uuid(s)) {
        if (at + 17 > size) {
            return 0;
        }
        buf[at++] = FIELD_UUID;
        int hi = -1; /* the pending high nibble */
        for (size_t i = 0; i < 36; i++) {
            if (s[i] == '-') {
                continue;
            }
            if (hi < 0) {
                hi = hexval(s[i]);
            } else {
                buf[at++] = (unsigned char)(hi << 4 | hexval(s[i]));
                hi = -1;
            }
        }
        return at;
    }
    if (n == 0 || n > FIELD_RAW_MAX || at + 1 + n > size || !bx_valid_id(s)) {
        return 0;
    }
    buf[at++] = (unsigned char)n;
    memcpy(buf + at, s, n);
    return at + n;
}

/* Reads one field into out (TG_ID_MAX bytes); returns the new offset, or 0 when malformed. */
static size_t get_field(const unsigned char *buf, size_t at, size_t len, char out[TG_ID_MAX]) {
    if (at >= len) {
        return 0;
    }
    unsigned tag = buf[at++];
    if (tag == FIELD_UUID) {
        static const char hex[] = "0123456789abcdef";
        if (len - at < 16) {
            return 0;
        }
        size_t o = 0;
        for (size_t i = 0; i < 16; i++) {
            if (i == 4 || i == 6 || i == 8 || i == 10) {
                out[o++] = '-';
            }
            out[o++] = hex[buf[at + i] >> 4];
            out[o++] = hex[buf[at + i] & 15];
        }
        out[o] = '\0';
        return at + 16;
    }
    if (tag == 0 || tag > FIELD_RAW_MAX || len - at < tag) {
        return 0;
    }
    memcpy(out, buf + at, tag);
    out[tag] = '\0';
    return bx_valid_id(out) ? at + tag : 0;
}

enum bx_err tg_payload_sign(const struct bx_keyring *kr, const struct tg_claims *c, char *out,
                            size_t size) {
    const struct bx_key *key = &kr->keys[kr->signing];
    if (kr->n_keys == 0 || !key->has_secret || c->issued_at < 0 || c->issued_at > UINT32_MAX) {
        return BX_INTERNAL;
    }
    unsigned char bin[PAYLOAD_MAX];
    size_t n = 0;
    bin[n++] = PAYLOAD_FORMAT;
    uint32_t at = (uint32_t)c->issued_at;
    for (int shift = 24; shift >= 0; shift -= 8) {
        bin[n++] = (unsigned char)(at >> shift);
    }
    const char *fields[] = {key->kid, c->ticket_id, c->event_id, c->tier_id, c->order_id};
    for (size_t i = 0; i < BX_ARRAY_LEN(fields); i++) {
        if ((n = put_field(bin, n, sizeof bin, fields[i])) == 0) {
            return BX_INVALID_FIELD;
        }
    }
    size_t need = PREFIX_LEN + sodium_base64_ENCODED_LEN(n, B64URL) + 1 +
                  sodium_base64_ENCODED_LEN(crypto_sign_BYTES, B64URL);
    if (need > size) {
        return BX_INTERNAL;
    }
    memcpy(out, PREFIX, PREFIX_LEN);
    sodium_bin2base64(out + PREFIX_LEN, size - PREFIX_LEN, bin, n, B64URL);
    size_t len = strlen(out);
    unsigned char sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, NULL, (const unsigned char *)out, len, key->sk);
    out[len++] = '.';
    sodium_bin2base64(out + len, size - len, sig, sizeof sig, B64URL);
    return BX_OK;
}

bool tg_payload_verify(const struct bx_keyring *kr, const char *text, size_t len,
                       struct tg_claims *out) {
    if (len > TG_QR_TEXT_MAX || len < PREFIX_LEN || memcmp(text, PREFIX, PREFIX_LEN) != 0 ||
        memchr(text, '\0', len) != NULL) {
        return false;
    }
    const char *body = text + PREFIX_LEN;
    const char *dot = memchr(body, '.', len - PREFIX_LEN);
    if (dot == NULL || memchr(dot + 1, '.', len - (size_t)(dot + 1 - text)) != NULL) {
        return false;
    }
    unsigned char bin[PAYLOAD_MAX], sig[crypto_sign_BYTES];
    size_t n = 0, sig_len = 0;
    if (bx_base64url_decode(bin, sizeof bin, body, (size_t)(dot - body), &n) != 0 ||
        bx_base64url_decode(sig, sizeof sig, dot + 1, len - (size_t)(dot + 1 - text), &sig_len) !=
            0 ||
        sig_len != sizeof sig) {
        return false;
    }
    if (n < 5 || bin[0] != PAYLOAD_FORMAT) {
        return false;
    }
    struct tg_claims c;
    memset(&c, 0, sizeof c);
    c.issued_at =
        (int64_t)((uint32_t)bin[1] << 24 | (uint32_t)bin[2] << 16 | (uint32_t)bin[3] << 8 | bin[4]);
    char kid[TG_ID_MAX];
    char *fields[] = {kid, c.ticket_id, c.event_id, c.tier_id, c.order_id};
    size_t at = 5;
    for (size_t i = 0; i < BX_ARRAY_LEN(fields); i++) {
        if ((at = get_field(bin, at, n, fields[i])) == 0) {
            return false;
        }
    }
    if (at != n || strlen(kid) >= sizeof c.kid) {
        return false;
    }
    const struct bx_key *key = bx_keyring_find(kr, kid);
    if (key == NULL || crypto_sign_verify_detached(sig, (const unsigned char *)text,
                                                   (size_t)(dot - text), key->pk) != 0) {
        return false;
    }
    bx_strlcpy(c.kid, kid, sizeof c.kid);
    *out = c;
    return true;
}
