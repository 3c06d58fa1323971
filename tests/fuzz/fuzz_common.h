// SPDX-License-Identifier: Apache-2.0
// What the fuzz targets share: FUZZ_CHECK (an invariant that fails aborts, so libFuzzer keeps the
// input as a crash), a NUL-terminated copy of the input, deterministic Ed25519 keys (so corpus
// tokens and QR payloads stay valid across runs) and the check that an error renders as the JSON
// body API.md promises. Header-only: each target is one translation unit.
#ifndef BOXOFFICE_FUZZ_COMMON_H
#define BOXOFFICE_FUZZ_COMMON_H

#include <jansson.h>
#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boxoffice/arena.h"
#include "boxoffice/auth.h"
#include "boxoffice/base.h"
#include "boxoffice/err.h"
#include "boxoffice/http.h"

/* The fixed "now" of every target (2027-01-15T08:00:00Z): tokens in the corpora expire later. */
#define FUZZ_NOW_S 1800000000

#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz check failed at %s:%d: %s\n  ", __FILE__, __LINE__, #cond);      \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input as a C string (malloc'd; the caller frees). An embedded NUL ends the string, as it
 * would in a header or a query parameter. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    FUZZ_CHECK(s != NULL, "out of memory");
    if (size > 0) {
        memcpy(s, data, size);
    }
    s[size] = '\0';
    return s;
}

/* A key whose seed is 32 copies of seed_byte: the same key in every run. */
static inline void fuzz_key(struct bx_key *k, const char *kid, unsigned char seed_byte) {
    unsigned char seed[32];
    memset(seed, seed_byte, sizeof seed);
    memset(k, 0, sizeof *k);
    bx_strlcpy(k->kid, kid, sizeof k->kid);
    crypto_sign_seed_keypair(k->pk, k->sk, seed);
    k->has_secret = true;
}

static inline void fuzz_init_sodium(void) {
    FUZZ_CHECK(sodium_init() >= 0, "sodium_init failed");
}

/* Known findings fail like any check (F1-F5 are fixed). While a new finding waits for its fix,
 * BX_FUZZ_LENIENT=1 lets the ones named by fuzz_known pass, counted. */
static inline bool fuzz_strict(void) {
    const char *s = getenv("BX_FUZZ_LENIENT");
    return s == NULL || strcmp(s, "1") != 0;
}

/* How often each known finding (F1..F5) was seen; printed at exit so it is never silent. */
#define FUZZ_KNOWN_MAX 6
static unsigned long fuzz_known_hits[FUZZ_KNOWN_MAX];

static void fuzz_known_report(void) {
    for (int i = 1; i < FUZZ_KNOWN_MAX; i++) {
        if (fuzz_known_hits[i] > 0) {
            fprintf(stderr, "known finding F%d (docs/fuzzing.md) seen %lu times\n", i,
                    fuzz_known_hits[i]);
        }
    }
}

/* Counts a hit of known finding n; true only with BX_FUZZ_LENIENT=1 (else the check fails). */
static inline bool fuzz_known(int n) {
    FUZZ_CHECK(n >= 1 && n < FUZZ_KNOWN_MAX, "no known finding F%d", n);
    static bool registered;
    if (!registered) {
        registered = true;
        atexit(fuzz_known_report);
    }
    fuzz_known_hits[n]++;
    return !fuzz_strict();
}

/* Known finding F1 (docs/fuzzing.md): an error whose message or field holds invalid UTF-8 (input
 * bytes copied in, or a multi-byte character cut by truncation) renders as "{}" because
 * json_pack refuses the string. True when that is the explanation. */
static inline bool fuzz_known_f1(const struct bx_error *e) {
    return (!bx_valid_utf8(e->message) || !bx_valid_utf8(e->field)) && fuzz_known(1);
}

/* Checks that body (len bytes) is {"error":{"code":wire,"message":...}} with wire the name of a
 * code whose status is status; returns false when it is not. */
static inline bool fuzz_error_body_valid(const char *body, size_t len, unsigned status) {
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *err = json_object_get(doc, "error");
    const char *code = json_string_value(json_object_get(err, "code"));
    const char *message = json_string_value(json_object_get(err, "message"));
    enum bx_err e = code != NULL ? bx_err_from_name(code) : BX_ERR_COUNT;
    bool ok = e != BX_ERR_COUNT && message != NULL && message[0] != '\0' &&
              (status == 0 || bx_err_status(e) == status);
    json_decref(doc);
    return ok;
}

/* Renders e with bx_error_body (what every service sends) and checks the result. */
static inline void fuzz_check_error_body(const struct bx_error *e) {
    struct bx_arena arena;
    bx_arena_init(&arena, 0);
    size_t len = 0;
    char *body = bx_error_body(&arena, e, "fuzz", &len);
    FUZZ_CHECK(body != NULL, "bx_error_body returned NULL for %s", bx_err_name(e->code));
    bool ok = fuzz_error_body_valid(body, len, bx_err_status(e->code));
    if (!ok && !fuzz_known_f1(e)) {
        FUZZ_CHECK(ok, "error %s (field \"%s\", message \"%s\") renders as %.*s",
                   bx_err_name(e->code), e->field, e->message, (int)len, body);
    }
    bx_arena_reset(&arena);
}

#endif
