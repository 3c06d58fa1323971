// SPDX-License-Identifier: Apache-2.0
// What the gateway adds for the browser's safety and the services' protection: security headers
// on every answer, and a token bucket per client address on /api (429 rate_limited with
// Retry-After past it). Buckets live in a fixed table (no allocation per client, bounded memory):
// a client's bucket is the slot its address hashes to; a slot idle long enough to be full again is
// taken over by whoever needs it, and two busy clients that collide share a bucket (stricter for
// both, never looser). The client address is the peer, or the X-Forwarded-For of a trusted proxy
// (a load balancer in front; BOXOFFICE_TRUSTED_PROXIES).
#include <pthread.h>
#include <string.h>

#include "boxoffice/base.h"
#include "gateway.h"

#define RATE_SLOTS   16384
#define RATE_STRIPES 64

/* No inline script or style anywhere in web/: the policy forbids them. */
#define CSP                                                                                        \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:;"         \
    " connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none';"                    \
    " form-action 'self'; frame-ancestors 'none'"

void frontend_security_headers(struct bx_req *req) {
    bx_resp_header(req, "Content-Security-Policy", CSP);
    bx_resp_header(req, "X-Content-Type-Options", "nosniff");
    bx_resp_header(req, "X-Frame-Options", "DENY");
    bx_resp_header(req, "Referrer-Policy", "no-referrer");
    bx_resp_header(req, "Cross-Origin-Opener-Policy", "same-origin");
    /* the door page may use the camera to scan tickets; nothing else may */
    bx_resp_header(req, "Permissions-Policy", "camera=(self), microphone=(), geolocation=()");
}

struct bucket {
    uint64_t key; /* hash of the client address; 0: free */
    double tokens;
    int64_t at_us; /* last refill */
};

static struct bucket buckets[RATE_SLOTS];
static pthread_mutex_t stripes[RATE_STRIPES];
static pthread_once_t stripes_once = PTHREAD_ONCE_INIT;

static void stripes_init(void) {
    for (size_t i = 0; i < RATE_STRIPES; i++) {
        pthread_mutex_init(&stripes[i], NULL);
    }
}

bool frontend_rate_allow(struct frontend *fe, struct bx_req *req, int64_t *retry_after_s) {
    if (fe->rate_per_s <= 0) {
        return true;
    }
    pthread_once(&stripes_once, stripes_init);
    const char *client = bx_req_client(req);
    uint64_t key = 1469598103934665603ULL;
    for (const char *p = client; *p; p++) {
        key = (key ^ (unsigned char)*p) * 1099511628211ULL;
    }
    key |= 1; /* never 0 */
    size_t slot = (size_t)(key % RATE_SLOTS);
    struct bucket *b = &buckets[slot];
    double rate = (double)fe->rate_per_s, burst = (double)fe->rate_burst;
    int64_t now = bx_now_mono_us();
    pthread_mutex_t *mu = &stripes[slot % RATE_STRIPES];
    pthread_mutex_lock(mu);
    double refill = b->key != 0 ? (double)(now - b->at_us) / 1e6 * rate : burst;
    if (b->key != key && (b->key == 0 || b->tokens + refill >= burst)) {
        b->key = key; /* free, or idle long enough to be full: take it over */
        b->tokens = burst;
        refill = 0;
    }
    b->tokens = b->tokens + refill > burst ? burst : b->tokens + refill;
    b->at_us = now;
    bool ok = b->tokens >= 1.0;
    if (ok) {
        b->tokens -= 1.0;
    } else {
        *retry_after_s = (int64_t)((1.0 - b->tokens) / rate) + 1;
    }
    pthread_mutex_unlock(mu);
    return ok;
}
