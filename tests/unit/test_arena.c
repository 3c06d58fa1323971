// SPDX-License-Identifier: Apache-2.0
// Tests for lib/arena.c: alignment of every allocation, the hard byte limit (including sizes that
// would overflow), strdup/printf helpers, and reuse after reset.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdalign.h>
#include <string.h>

#include "boxoffice/arena.h"

static void test_alignment(void **state) {
    (void)state;
    struct bx_arena a;
    bx_arena_init(&a, 0);
    assert_int_equal(a.limit_bytes, BX_ARENA_DEFAULT_LIMIT_BYTES);
    static const size_t sizes[] = {
        1, 3, 7, 8, 15, 16, 17, 33, 100, 1000, BX_ARENA_CHUNK_BYTES, BX_ARENA_CHUNK_BYTES + 1, 5};
    unsigned char *prev = NULL;
    size_t prev_size = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *p = bx_arena_alloc(&a, sizes[i]);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % alignof(max_align_t), 0);
        /* the memory is usable in full and does not overlap the previous block */
        memset(p, (int)i, sizes[i]);
        if (prev != NULL) {
            for (size_t j = 0; j < prev_size; j++) {
                assert_int_equal(prev[j], (unsigned char)(i - 1));
            }
        }
        prev = p;
        prev_size = sizes[i];
    }
    assert_true(a.used_bytes <= a.limit_bytes);
    bx_arena_reset(&a);
}

static void test_zalloc_zeroes(void **state) {
    (void)state;
    struct bx_arena a;
    bx_arena_init(&a, 0);
    /* dirty some memory, reset, then zalloc must still hand back zeros */
    unsigned char *d = bx_arena_alloc(&a, 256);
    assert_non_null(d);
    memset(d, 0xab, 256);
    unsigned char *z = bx_arena_zalloc(&a, 256);
    assert_non_null(z);
    for (size_t i = 0; i < 256; i++) {
        assert_int_equal(z[i], 0);
    }
    bx_arena_reset(&a);
}

static void test_limit_enforced(void **state) {
    (void)state;
    struct bx_arena a;
    const size_t limit = 64 * 1024;
    bx_arena_init(&a, limit);
    size_t handed_out = 0;
    size_t n_ok = 0;
    for (int i = 0; i < 1000; i++) {
        void *p = bx_arena_alloc(&a, 1000);
        if (p == NULL) {
            break;
        }
        handed_out += 1000;
        n_ok++;
        assert_true(a.used_bytes <= limit);
    }
    assert_true(n_ok > 0);
    assert_true(n_ok < 1000); /* the limit stopped it */
    assert_true(handed_out <= limit);
    assert_true(a.used_bytes <= limit);
    /* once full, it stays refused */
    assert_null(bx_arena_alloc(&a, 1000));
    assert_null(bx_arena_alloc(&a, limit));
    bx_arena_reset(&a);

    /* one allocation larger than the limit fails and leaves the arena usable */
    bx_arena_init(&a, limit);
    assert_null(bx_arena_alloc(&a, limit + 1));
    assert_null(bx_arena_strndup(&a, "x", limit * 2));
    assert_non_null(bx_arena_alloc(&a, 100));
    bx_arena_reset(&a);
}

static void test_huge_sizes_do_not_wrap(void **state) {
    (void)state;
    struct bx_arena a;
    bx_arena_init(&a, 0);
    assert_null(bx_arena_alloc(&a, SIZE_MAX));
    assert_null(bx_arena_alloc(&a, SIZE_MAX - 8));
    assert_null(bx_arena_alloc(&a, SIZE_MAX / 2));
    /* with some bytes already used, used_bytes + chunk size must not wrap past the limit */
    assert_non_null(bx_arena_alloc(&a, 4096));
    assert_null(bx_arena_alloc(&a, SIZE_MAX - 100));
    assert_null(bx_arena_alloc(&a, SIZE_MAX - 4096));
    assert_null(bx_arena_zalloc(&a, SIZE_MAX - 200));
    assert_true(a.used_bytes <= a.limit_bytes);
    assert_non_null(bx_arena_alloc(&a, 16));
    bx_arena_reset(&a);
}

static void test_strdup_and_printf(void **state) {
    (void)state;
    struct bx_arena a;
    bx_arena_init(&a, 0);
    char *s = bx_arena_strdup(&a, "hello");
    assert_string_equal(s, "hello");
    char *t = bx_arena_strndup(&a, "hello world", 5);
    assert_string_equal(t, "hello");
    char *e = bx_arena_strndup(&a, "", 0);
    assert_string_equal(e, "");
    char *p = bx_arena_printf(&a, "%s-%d-%05.1f-%zu", "a", -42, 3.14159, (size_t)7);
    assert_string_equal(p, "a--42-003.1-7");
    /* a result larger than one chunk */
    char *big = bx_arena_printf(&a, "%*s|", BX_ARENA_CHUNK_BYTES * 2, "x");
    assert_non_null(big);
    assert_int_equal(strlen(big), BX_ARENA_CHUNK_BYTES * 2 + 1);
    assert_int_equal(big[BX_ARENA_CHUNK_BYTES * 2 - 1], 'x');
    assert_int_equal(big[BX_ARENA_CHUNK_BYTES * 2], '|');
    /* earlier strings are untouched */
    assert_string_equal(s, "hello");
    assert_string_equal(p, "a--42-003.1-7");
    bx_arena_reset(&a);

    /* printf past the limit fails instead of truncating */
    bx_arena_init(&a, 4096);
    assert_null(bx_arena_printf(&a, "%*s", 100000, "x"));
    bx_arena_reset(&a);
}

static void test_reset_reuse(void **state) {
    (void)state;
    struct bx_arena a;
    const size_t limit = 48 * 1024;
    bx_arena_init(&a, limit);
    for (int round = 0; round < 5; round++) {
        size_t n = 0;
        while (bx_arena_alloc(&a, 512) != NULL) {
            n++;
            assert_true(n < 1000);
        }
        assert_true(n > 0);
        bx_arena_reset(&a);
        assert_null(a.head);
        assert_int_equal(a.used_bytes, 0);
        assert_int_equal(a.limit_bytes, limit); /* the limit survives a reset */
        char *s = bx_arena_printf(&a, "round %d", round);
        assert_non_null(s);
        assert_string_equal(s, round == 0   ? "round 0"
                               : round == 1 ? "round 1"
                               : round == 2 ? "round 2"
                               : round == 3 ? "round 3"
                                            : "round 4");
        bx_arena_reset(&a);
    }
    /* resetting an empty arena is harmless */
    bx_arena_reset(&a);
    bx_arena_reset(&a);
    assert_non_null(bx_arena_alloc(&a, 1));
    bx_arena_reset(&a);
}

/* The caller's inline buffer serves small allocations first, survives resets and is never freed
 * (ASan would report a bad free of this stack buffer). */
static void test_inline_first_chunk(void **state) {
    (void)state;
    alignas(max_align_t) unsigned char buf[1024];
    struct bx_arena a;
    bx_arena_init_inline(&a, buf, sizeof buf, 0);
    for (int round = 0; round < 3; round++) {
        char *s = bx_arena_strdup(&a, "inline");
        assert_non_null(s);
        assert_true((unsigned char *)s > buf && (unsigned char *)s < buf + sizeof buf);
        char *big = bx_arena_alloc(&a, 4000); /* does not fit: a malloc'd chunk */
        assert_non_null(big);
        assert_false((unsigned char *)big >= buf && (unsigned char *)big < buf + sizeof buf);
        memset(big, 'x', 4000);
        assert_string_equal(s, "inline");
        bx_arena_reset(&a);
    }
    bx_arena_reset(&a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alignment),          cmocka_unit_test(test_zalloc_zeroes),
        cmocka_unit_test(test_limit_enforced),     cmocka_unit_test(test_huge_sizes_do_not_wrap),
        cmocka_unit_test(test_strdup_and_printf),  cmocka_unit_test(test_reset_reuse),
        cmocka_unit_test(test_inline_first_chunk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
