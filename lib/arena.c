// SPDX-License-Identifier: Apache-2.0
// Chunked bump allocator with a hard cap on total bytes; see arena.h.
#include "boxoffice/arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boxoffice/base.h"

struct bx_arena_chunk {
    struct bx_arena_chunk *next;
    size_t size_bytes;
    size_t used_bytes;
    alignas(max_align_t) unsigned char data[];
};

void bx_arena_init(struct bx_arena *a, size_t limit_bytes) {
    a->head = NULL;
    a->inline_chunk = NULL;
    a->used_bytes = 0;
    a->limit_bytes = limit_bytes ? limit_bytes : BX_ARENA_DEFAULT_LIMIT_BYTES;
}

void bx_arena_init_inline(struct bx_arena *a, void *buf, size_t buf_size, size_t limit_bytes) {
    bx_arena_init(a, limit_bytes);
    BX_ASSERT(((uintptr_t)buf % alignof(max_align_t)) == 0);
    if (buf_size <= sizeof(struct bx_arena_chunk) + alignof(max_align_t)) {
        return;
    }
    struct bx_arena_chunk *c = buf;
    c->next = NULL;
    c->size_bytes = buf_size - sizeof *c;
    c->used_bytes = 0;
    a->inline_chunk = c;
    a->head = c;
}

void *bx_arena_alloc(struct bx_arena *a, size_t size_bytes) {
    const size_t align = alignof(max_align_t);
    size_t need = (size_bytes + align - 1) & ~(align - 1);
    if (need < size_bytes) {
        return NULL;
    }
    struct bx_arena_chunk *c = a->head;
    if (c == NULL || c->size_bytes - c->used_bytes < need) {
        size_t chunk = need > BX_ARENA_CHUNK_BYTES ? need : BX_ARENA_CHUNK_BYTES;
        size_t total = sizeof(struct bx_arena_chunk) + chunk;
        /* compared as a difference: used_bytes + total can wrap for a huge size_bytes */
        if (total < chunk || a->used_bytes > a->limit_bytes ||
            total > a->limit_bytes - a->used_bytes) {
            return NULL;
        }
        c = malloc(total);
        if (c == NULL) {
            return NULL;
        }
        c->size_bytes = chunk;
        c->used_bytes = 0;
        c->next = a->head;
        a->head = c;
        a->used_bytes += sizeof(struct bx_arena_chunk);
    }
    void *p = c->data + c->used_bytes;
    c->used_bytes += need;
    a->used_bytes += need;
    BX_ASSERT(c->used_bytes <= c->size_bytes);
    return p;
}

void *bx_arena_zalloc(struct bx_arena *a, size_t size_bytes) {
    void *p = bx_arena_alloc(a, size_bytes);
    if (p != NULL) {
        memset(p, 0, size_bytes);
    }
    return p;
}

char *bx_arena_strndup(struct bx_arena *a, const char *s, size_t len) {
    char *p = bx_arena_alloc(a, len + 1);
    if (p != NULL) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

char *bx_arena_strdup(struct bx_arena *a, const char *s) {
    return bx_arena_strndup(a, s, strlen(s));
}

char *bx_arena_vprintf(struct bx_arena *a, const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        return NULL;
    }
    char *p = bx_arena_alloc(a, (size_t)n + 1);
    if (p != NULL) {
        vsnprintf(p, (size_t)n + 1, fmt, ap);
    }
    return p;
}

char *bx_arena_printf(struct bx_arena *a, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *p = bx_arena_vprintf(a, fmt, ap);
    va_end(ap);
    return p;
}

void bx_arena_reset(struct bx_arena *a) {
    struct bx_arena_chunk *c = a->head;
    while (c != NULL) {
        struct bx_arena_chunk *next = c->next;
        if (c != a->inline_chunk) {
            free(c);
        }
        c = next;
    }
    a->head = a->inline_chunk;
    if (a->head != NULL) {
        a->head->next = NULL;
        a->head->used_bytes = 0;
    }
    a->used_bytes = 0;
}
