// SPDX-License-Identifier: Apache-2.0
// Password hashing with Argon2id (libsodium crypto_pwhash, interactive limits: 2 passes, 64 MiB).
// Each hash holds 64 MiB for ~0.1 s, so concurrent hashes are capped by a semaphore
// (BOXOFFICE_USERS_HASH_CONCURRENCY); a request that cannot get a slot in time answers 503.
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <sodium.h>
#include <string.h>
#include <time.h>

#include "boxoffice/base.h"
#include "boxoffice/log.h"
#include "users.h"

#define HASH_SLOT_WAIT_S 10

static sem_t slots;
static pthread_once_t slots_once = PTHREAD_ONCE_INIT;

static void slots_init(void) {
    int64_t n = users.hash_concurrency > 0 ? users.hash_concurrency : 2;
    BX_ASSERT(sem_init(&slots, 0, (unsigned)n) == 0);
}

static bool acquire(void) {
    pthread_once(&slots_once, slots_init);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += HASH_SLOT_WAIT_S;
    while (sem_timedwait(&slots, &ts) != 0) {
        if (errno != EINTR) {
            return false;
        }
    }
    return true;
}

enum bx_err users_hash_password(const char *password, char out[USERS_HASH_MAX]) {
    _Static_assert(crypto_pwhash_STRBYTES <= USERS_HASH_MAX, "hash buffer");
    if (!acquire()) {
        return BX_UNAVAILABLE;
    }
    int rc =
        crypto_pwhash_str_alg(out, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13);
    sem_post(&slots);
    if (rc != 0) {
        bx_error("crypto_pwhash_str_alg failed (out of memory?)");
        return BX_UNAVAILABLE;
    }
    return BX_OK;
}

bool users_verify_password(const char *hash, const char *password) {
    if (!acquire()) {
        return false;
    }
    bool ok = crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
    sem_post(&slots);
    return ok;
}
