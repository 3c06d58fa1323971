// SPDX-License-Identifier: Apache-2.0
// Revoked session tokens, as every service learns them: a fixed-size in-memory set of token ids
// (jti) with their expiry, filled by a poller that reads the users service's revocation feed
// (GET /api/auth/revocations?since=S) every BOXOFFICE_REVOCATIONS_POLL_MS. A logout is refused by
// every service within one poll interval plus one request (1 s + 2 s timeout by default, within
// the 3 s the API promises). Entries leave the set when their token would have expired anyway.
#ifndef BOXOFFICE_REVOCATION_H
#define BOXOFFICE_REVOCATION_H

#include <stdbool.h>
#include <stdint.h>

#include "boxoffice/err.h"

#define BX_REVOCATIONS_SLOTS           65536
#define BX_REVOCATIONS_POLL_TIMEOUT_MS 2000
#define BX_JWKS_REFRESH_MS             30000

struct bx_keyring;

/* Adds a revoked jti valid until exp (Unix s). False when the set is full of live entries. */
bool bx_revocations_add(const char *jti, int64_t exp);
bool bx_revocations_contains(const char *jti, int64_t now);

/* Starts the poller thread on feed_url (".../api/auth/revocations"); feed_url may be "" for none.
 * When jwks_url is not empty, the same thread also reads that JWKS every BX_JWKS_REFRESH_MS and
 * adds keys the keyring lacks (the thread is the keyring's only writer), so a new signing key is
 * accepted everywhere within that time, without restarts. */
enum bx_err bx_revocations_start(const char *feed_url, int64_t interval_ms, const char *jwks_url,
                                 struct bx_keyring *keyring);
/* True once one poll succeeded (or no poller runs). */
bool bx_revocations_synced(void);
void bx_revocations_stop(void);

#endif
