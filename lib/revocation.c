// SPDX-License-Identifier: Apache-2.0
// The revoked-token set and its feed poller; see revocation.h. The set is open addressing over a
// fixed table: an insert reuses the first empty or expired slot on its probe path, so it never
// allocates and never grows.
#include "boxoffice/revocation.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "boxoffice/auth.h"
#include "boxoffice/base.h"
#include "boxoffice/httpc.h"
#include "boxoffice/log.h"

#define PROBE_MAX           64
#define FEED_OVERLAP_S      10 /* re-read this much of the feed each poll: clocks and late writes */
#define FEED_FIRST_WINDOW_S 3900

struct slot {
    char jti[BX_JTI_MAX];
    int64_t exp;
};

static struct slot table[BX_REVOCATIONS_SLOTS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static size_t home(const char *jti) {
    return bx_hash_slot(jti, strlen(jti), BX_REVOCATIONS_SLOTS);
}

bool bx_revocations_add(const char *jti, int64_t exp) {
    if (jti[0] == '\0' || strlen(jti) >= BX_JTI_MAX) {
        return false;
    }
    int64_t now = bx_now_unix_s();
    size_t h = home(jti);
    struct slot *free_slot = NULL;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < PROBE_MAX; i++) {
        struct slot *s = &table[(h + i) % BX_REVOCATIONS_SLOTS];
        if (strcmp(s->jti, jti) == 0) {
            if (exp > s->exp) {
                s->exp = exp;
            }
            pthread_mutex_unlock(&lock);
            return true;
        }
        if (free_slot == NULL && (s->jti[0] == '\0' || s->exp <= now)) {
            free_slot = s;
        }
    }
    if (free_slot != NULL) {
        bx_strlcpy(free_slot->jti, jti, sizeof free_slot->jti);
        free_slot->exp = exp;
    }
    pthread_mutex_unlock(&lock);
    return free_slot != NULL;
}

bool bx_revocations_contains(const char *jti, int64_t now) {
    size_t h = home(jti);
    bool found = false;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < PROBE_MAX && !found; i++) {
        struct slot *s = &table[(h + i) % BX_REVOCATIONS_SLOTS];
        found = s->jti[0] != '\0' && s->exp > now && strcmp(s->jti, jti) == 0;
    }
    pthread_mutex_unlock(&lock);
    return found;
}

static pthread_t poller;
static bool poller_running;
static _Atomic bool stop_flag;
static _Atomic bool synced = true;
static char url[512];
static char jwks_url[512];
static struct bx_keyring *jwks_keyring;
static int64_t interval;

/* Reads the JWKS and adds new keys; logs what it learned. False when it could not read it. */
static bool refresh_keys(void) {
    struct bx_httpc_request req = {.method = "GET",
                                   .url = jwks_url,
                                   .timeout_ms = BX_REVOCATIONS_POLL_TIMEOUT_MS,
                                   .connect_timeout_ms = 1000};
    struct bx_httpc_response resp;
    enum bx_err e = bx_httpc_do(&req, &resp);
    int added = -1;
    if (e == BX_OK && resp.status == 200) {
        added = bx_keyring_add_jwks(jwks_keyring, resp.body, resp.body_len);
    }
    if (added < 0) {
        bx_warn("signing keys %s unavailable (%s, HTTP %ld)", jwks_url, bx_err_name(e),
                e == BX_OK ? resp.status : 0L);
    } else if (added > 0) {
        bx_info("learned %d new signing key(s) from %s", added, jwks_url);
    }
    bx_httpc_response_free(&resp);
    return added >= 0;
}

static int64_t poll_once(int64_t since) {
    char full[600];
    snprintf(full, sizeof full, "%s?since=%lld", url, (long long)since);
    struct bx_httpc_request req = {.method = "GET",
                                   .url = full,
                                   .timeout_ms = BX_REVOCATIONS_POLL_TIMEOUT_MS,
                                   .connect_timeout_ms = 1000};
    struct bx_httpc_response resp;
    enum bx_err e = bx_httpc_do(&req, &resp);
    int64_t next = -1;
    if (e == BX_OK && resp.status == 200) {
        json_t *doc = json_loadb(resp.body, resp.body_len, 0, NULL);
        json_t *items = json_object_get(doc, "items");
        json_t *now = json_object_get(doc, "now");
        if (json_is_array(items) && json_is_integer(now)) {
            size_t i;
            json_t *it;
            json_array_foreach(items, i, it) {
                const char *jti = json_string_value(json_object_get(it, "jti"));
                json_t *exp = json_object_get(it, "exp");
                if (jti != NULL && json_is_integer(exp) &&
                    !bx_revocations_add(jti, (int64_t)json_integer_value(exp))) {
                    bx_warn("revocation set full: token %s not recorded", jti);
                }
            }
            next = (int64_t)json_integer_value(now) - FEED_OVERLAP_S;
        }
        json_decref(doc);
    }
    if (next < 0) {
        bx_warn("revocation feed %s unavailable (%s, HTTP %ld)", url, bx_err_name(e),
                e == BX_OK ? resp.status : 0L);
    }
    bx_httpc_response_free(&resp);
    return next;
}

static void *poll_main(void *arg) {
    (void)arg;
    int64_t since = bx_now_unix_s() - FEED_FIRST_WINDOW_S;
    int64_t next_keys_ms = 0;
    while (!atomic_load(&stop_flag)) {
        if (jwks_url[0] != '\0' && bx_now_mono_ms() >= next_keys_ms) {
            /* until a read succeeds (users may start after us), try again at the next poll */
            next_keys_ms = bx_now_mono_ms() + (refresh_keys() ? BX_JWKS_REFRESH_MS : 0);
        }
        if (url[0] != '\0') {
            int64_t next = poll_once(since);
            if (next >= 0) {
                since = next;
                atomic_store(&synced, true);
            }
        }
        for (int64_t slept = 0; slept < interval && !atomic_load(&stop_flag); slept += 50) {
            usleep(50 * 1000);
        }
    }
    return NULL;
}

enum bx_err bx_revocations_start(const char *feed_url, int64_t interval_ms, const char *keys_url,
                                 struct bx_keyring *keyring) {
    BX_ASSERT(!poller_running);
    if (bx_strlcpy(url, feed_url, sizeof url) >= sizeof url ||
        bx_strlcpy(jwks_url, keys_url ? keys_url : "", sizeof jwks_url) >= sizeof jwks_url) {
        return BX_INVALID_FIELD;
    }
    BX_ASSERT(jwks_url[0] == '\0' || keyring != NULL);
    jwks_keyring = keyring;
    interval = interval_ms;
    atomic_store(&synced, url[0] == '\0');
    atomic_store(&stop_flag, false);
    if (pthread_create(&poller, NULL, poll_main, NULL) != 0) {
        return BX_INTERNAL;
    }
    poller_running = true;
    return BX_OK;
}

bool bx_revocations_synced(void) {
    return atomic_load(&synced);
}

void bx_revocations_stop(void) {
    if (!poller_running) {
        return;
    }
    atomic_store(&stop_flag, true);
    pthread_join(poller, NULL);
    poller_running = false;
}
