// SPDX-License-Identifier: Apache-2.0
// The ids already counted, in memory: an open-addressing set of 96-bit keyed hashes (SipHash-x
// 128 with a random key per process, truncated) with the hour each id was first seen, so a check
// costs one hash and a probe or two instead of a database lookup. The state database holds the ids
// themselves (table seen, written with each checkpoint); the set is rebuilt from it at start and
// after a failed transaction, and entries older than the retention are dropped by a rebuild.
// A collision of two ids would count the second as a duplicate: with 96 bits and ten million ids
// the chance is about 1e-15. Bounded: at most max_ids entries; past that the oldest hours are
// dropped early (and logged), which shortens the deduplication window rather than the memory.
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "boxoffice/base.h"
#include "boxoffice/log.h"
#include "analytics.h"

#define SEEN_SLOTS_MIN (1u << 16)

struct slot {
    uint64_t a; /* 0: empty (a real key always has its low bit set) */
    uint32_t b;
    uint32_t hour; /* Unix hours when first seen */
};

static struct {
    struct slot *slots;
    size_t n_slots; /* a power of two */
    size_t count;
    size_t max_ids;
    unsigned char key[crypto_shorthash_siphashx24_KEYBYTES];
    bool keyed;
} seen;

static void hash_id(const char *id, uint64_t *a, uint32_t *b) {
    unsigned char out[crypto_shorthash_siphashx24_BYTES];
    crypto_shorthash_siphashx24(out, (const unsigned char *)id, strlen(id), seen.key);
    memcpy(a, out, sizeof *a);
    memcpy(b, out + 8, sizeof *b);
    *a |= 1;
}

static void put(struct slot *slots, size_t n_slots, const struct slot *s) {
    size_t i = (size_t)(s->a >> 1) & (n_slots - 1);
    while (slots[i].a != 0) {
        i = (i + 1) & (n_slots - 1);
    }
    slots[i] = *s;
}

/* Rebuilds the table with n_slots slots, keeping entries of min_hour or later. */
static bool rebuild(size_t n_slots, uint32_t min_hour) {
    struct slot *slots = calloc(n_slots, sizeof *slots);
    if (slots == NULL) {
        return false;
    }
    size_t count = 0;
    for (size_t i = 0; i < seen.n_slots; i++) {
        if (seen.slots[i].a != 0 && seen.slots[i].hour >= min_hour) {
            put(slots, n_slots, &seen.slots[i]);
            count++;
        }
    }
    free(seen.slots);
    seen.slots = slots;
    seen.n_slots = n_slots;
    seen.count = count;
    return true;
}

void an_seen_init(size_t max_ids) {
    if (!seen.keyed) {
        bx_random_bytes(seen.key, sizeof seen.key);
        seen.keyed = true;
    }
    seen.max_ids = max_ids;
    an_seen_clear();
}

void an_seen_clear(void) {
    free(seen.slots);
    seen.slots = NULL;
    seen.n_slots = seen.count = 0;
}

/* The oldest hour present (for shedding past max_ids). */
static uint32_t oldest_hour(void) {
    uint32_t h = UINT32_MAX;
    for (size_t i = 0; i < seen.n_slots; i++) {
        if (seen.slots[i].a != 0 && seen.slots[i].hour < h) {
            h = seen.slots[i].hour;
        }
    }
    return h;
}

enum an_seen_result an_seen_add(const char *id, uint32_t hour) {
    if (seen.count >= seen.max_ids) {
        uint32_t drop = oldest_hour();
        bx_warn("analytics: %zu ids seen within the retention, the most kept "
                "(BOXOFFICE_ANALYTICS_DEDUP_MAX): forgetting those of hour %u early",
                seen.count, drop);
        if (!rebuild(seen.n_slots, drop + 1)) {
            return AN_SEEN_FULL;
        }
    }
    if (seen.n_slots == 0 || (seen.count + 1) * 4 > seen.n_slots * 3) {
        if (!rebuild(seen.n_slots ? seen.n_slots * 2 : SEEN_SLOTS_MIN, 0)) {
            return AN_SEEN_FULL;
        }
    }
    struct slot s = {.hour = hour};
    hash_id(id, &s.a, &s.b);
    size_t i = (size_t)(s.a >> 1) & (seen.n_slots - 1);
    while (seen.slots[i].a != 0) {
        if (seen.slots[i].a == s.a && seen.slots[i].b == s.b) {
            return AN_SEEN_BEFORE;
        }
        i = (i + 1) & (seen.n_slots - 1);
    }
    seen.slots[i] = s;
    seen.count++;
    return AN_SEEN_NEW;
}

void an_seen_prune(uint32_t min_hour) {
    if (seen.n_slots > 0) {
        rebuild(seen.n_slots, min_hour);
    }
}

size_t an_seen_count(void) {
    return seen.count;
}
