// SPDX-License-Identifier: Apache-2.0
// Arena allocator for per-request memory: many small allocations, one free when the response is
// sent. Chunks of BX_ARENA_CHUNK_BYTES (or one larger chunk for a big allocation) come from malloc;
// the total is capped so a hostile request cannot grow it without bound.
#ifndef BOXOFFICE_ARENA_H
#define BOXOFFICE_ARENA_H

#include <stdarg.h>
#include <stddef.h>

#define BX_ARENA_CHUNK_BYTES         (16 * 1024)
#define BX_ARENA_DEFAULT_LIMIT_BYTES (8 * 1024 * 1024)

struct bx_arena_chunk;

struct bx_arena {
    struct bx_arena_chunk *head;         /* newest chunk first */
    struct bx_arena_chunk *inline_chunk; /* caller-owned first chunk, kept across resets */
    size_t used_bytes;                   /* bytes handed out plus chunk overheads */
    size_t limit_bytes;                  /* allocations past this fail (return NULL) */
};

void bx_arena_init(struct bx_arena *a, size_t limit_bytes);
/* Like bx_arena_init, with buf (aligned to max_align_t, owned by the caller, outliving the arena)
 * as the first chunk, so small requests never call malloc. */
void bx_arena_init_inline(struct bx_arena *a, void *buf, size_t buf_size, size_t limit_bytes);
/* Aligned to max_align_t; NULL when the limit would be passed. Memory is not zeroed. */
void *bx_arena_alloc(struct bx_arena *a, size_t size_bytes);
void *bx_arena_zalloc(struct bx_arena *a, size_t size_bytes);
char *bx_arena_strndup(struct bx_arena *a, const char *s, size_t len);
char *bx_arena_strdup(struct bx_arena *a, const char *s);
char *bx_arena_printf(struct bx_arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
char *bx_arena_vprintf(struct bx_arena *a, const char *fmt, va_list ap);
/* Frees every chunk; the arena can be used again afterwards. */
void bx_arena_reset(struct bx_arena *a);

#endif
