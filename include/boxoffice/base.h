// SPDX-License-Identifier: Apache-2.0
// Always-on assertions and small helpers shared by every file.
// BX_ASSERT is never compiled out: an invariant that fails aborts the process with its location,
// which is safer for a booking system than carrying on with corrupt state.
#ifndef BOXOFFICE_BASE_H
#define BOXOFFICE_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BX_VERSION "0.1.0"

#define BX_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

_Noreturn void bx_assert_fail(const char *expr, const char *file, int line);

#define BX_ASSERT(expr)                                                                            \
    do {                                                                                           \
        if (!(expr)) {                                                                             \
            bx_assert_fail(#expr, __FILE__, __LINE__);                                             \
        }                                                                                          \
    } while (0)

/* Milliseconds since an arbitrary point (CLOCK_MONOTONIC), for timeouts and latency. */
int64_t bx_now_mono_ms(void);
/* Microseconds since an arbitrary point (CLOCK_MONOTONIC). */
int64_t bx_now_mono_us(void);
/* Seconds since the Unix epoch (CLOCK_REALTIME). */
int64_t bx_now_unix_s(void);
/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t bx_now_unix_ms(void);

/* Formats a Unix time (seconds) as RFC 3339 UTC ("2026-12-01T19:30:00Z"); out needs 21 bytes. */
void bx_format_rfc3339(int64_t unix_s, char out[static 21]);

/* Fills out with n bytes from the OS random source (libsodium). */
void bx_random_bytes(void *out, size_t n);

/* Slot of data in a table of `slots` entries (keyed BLAKE2b, well spread; not for secrets). */
size_t bx_hash_slot(const void *data, size_t len, size_t slots);

/* Writes a new time-ordered UUIDv7 string (36 chars + NUL) into out. */
void bx_uuid7(char out[static 37]);

/* Copies at most out_size - 1 bytes of src and NUL-terminates; returns strlen(src). */
size_t bx_strlcpy(char *out, const char *src, size_t out_size);

/* Ids we issue are UUIDs: 1-64 of [0-9A-Za-z_-]. Anything else names nothing (404) and never
 * reaches a database (PostgreSQL refuses invalid UTF-8 outright). */
bool bx_valid_id(const char *id);
/* bx_id_char[byte]: the byte may appear in an id ([0-9A-Za-z_-]), for scanners of unterminated
 * buffers. */
extern const bool bx_id_char[256];
/* The whole string is valid UTF-8: no overlongs, surrogates or code points past U+10FFFF (query
 * parameters arrive percent-decoded, unchecked). */
bool bx_valid_utf8(const char *s);
/* The length (1-4) of the valid UTF-8 sequence s starts with; 0 when it is invalid or at the end.
 */
size_t bx_utf8_next(const char *s);
/* Replaces every byte that does not start a valid sequence with '?', in place (a message cut in
 * the middle of a character, a decoded path with %ff, ...), so it can go into JSON. */
void bx_utf8_sanitize(char *s);

/* An IANA time zone name as both catalog (which checks the zone file exists) and ticketgen (which
 * reads it) accept: 1-64 of [A-Za-z0-9/_+-], no empty or dot-dot segment, no leading or trailing
 * '/'. One rule, so a venue catalog takes is a venue ticketgen can print. */
#define BX_TZ_NAME_MAX 64
bool bx_tz_name_valid(const char *zone);

/* Decodes unpadded base64url (RFC 4648 section 5): the whole of in[0..len) must be of the
 * alphabet and decode into at most cap bytes; 0 on success with *out_len set, -1 otherwise. */
int bx_base64url_decode(unsigned char *out, size_t cap, const char *in, size_t len,
                        size_t *out_len);

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1-12; H. Hinnant's algorithm). */
int64_t bx_days_from_civil(int64_t y, int64_t m, int64_t d);

/* The value of a hexadecimal digit (either case), -1 for any other character. */
int bx_hex_value(char c);

/* Parses a whole decimal integer in [min, max]; returns 0 on success, -1 otherwise. */
int bx_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);

#endif
