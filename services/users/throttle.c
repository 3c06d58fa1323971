// SPDX-License-Identifier: Apache-2.0
// Failed-login throttling: a fixed table of keys ("email:<e>", "addr:<ip>") with their recent
// failures. After `free_failures` failures a key waits 2^(n - free) seconds (capped at 15 min)
// before the next attempt; failures older than the window are forgotten. The table is per
// process (each users replica throttles on its own) and fixed in size: a new key takes the slot
// of its hash, evicting whatever was there, so memory never grows.
#include <pthread.h>
#include <sodium.h>
#include <string.h>

#include "boxoffice/base.h"
#include "users.h"

#define THROTTLE_WINDOW_MS  (15 * 60 * 1000)
#define THROTTLE_MAX_WAIT_S (15 * 60)

struct slot {
    unsigned char hash[16];
    int64_t failures;
    int64_t last_failure_ms;
    int64_t locked_until_ms;
};

static struct slot table[THROTTLE_SLOTS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static struct slot *find(const char *key, unsigned char hash[16], bool *match) {
    crypto_generichash(hash, 16, (const unsigned char *)key, strlen(key), NULL, 0);
    uint64_t h;
    memcpy(&h, hash, sizeof h);
    struct slot *s = &table[h % THROTTLE_SLOTS];
    *match = memcmp(s->hash, hash, 16) == 0;
    return s;
}

int64_t throttle_wait_s(const char *key, int64_t now_ms) {
    unsigned char hash[16];
    bool match;
    pthread_mutex_lock(&lock);
    struct slot *s = find(key, hash, &match);
    int64_t wait_ms = match ? s->locked_until_ms - now_ms : 0;
    pthread_mutex_unlock(&lock);
    return wait_ms > 0 ? (wait_ms + 999) / 1000 : 0;
}

void throttle_failure(const char *key, int64_t now_ms, int64_t free_failures) {
    unsigned char hash[16];
    bool match;
    pthread_mutex_lock(&lock);
    struct slot *s = find(key, hash, &match);
    if (!match || now_ms - s->last_failure_ms > THROTTLE_WINDOW_MS) {
        memcpy(s->hash, hash, 16);
        s->failures = 0;
        s->locked_until_ms = 0;
    }
    s->failures++;
    s->last_failure_ms = now_ms;
    if (s->failures >= free_failures) {
        int64_t exp = s->failures - free_failures;
        int64_t wait_s = exp >= 10 ? THROTTLE_MAX_WAIT_S : ((int64_t)1 << exp);
        if (wait_s > THROTTLE_MAX_WAIT_S) {
            wait_s = THROTTLE_MAX_WAIT_S;
        }
        s->locked_until_ms = now_ms + wait_s * 1000;
    }
    pthread_mutex_unlock(&lock);
}

void throttle_success(const char *key) {
    unsigned char hash[16];
    bool match;
    pthread_mutex_lock(&lock);
    struct slot *s = find(key, hash, &match);
    if (match) {
        memset(s, 0, sizeof *s);
    }
    pthread_mutex_unlock(&lock);
}
