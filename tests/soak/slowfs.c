// SPDX-License-Identifier: Apache-2.0
// The soak test's slow disk: an LD_PRELOAD shim that delays fsync, fdatasync, syncfs and
// msync(MS_SYNC) by the number of milliseconds written in the control file $BX_SLOWFS_CTL
// (re-read on every call, so the delay can be switched on and off while processes run; a missing
// or empty file, or 0, means no delay). Every delayed call is counted in the 8-byte counter file
// $BX_SLOWFS_COUNT (shared mapping, atomic add), so the soak report can prove the delay hit.
// The real call still runs after the delay: durability is unchanged, only slower, which is what a
// saturated or throttled disk looks like to PostgreSQL's WAL writer, SQLite and LMDB.
// Built by tests/soak/soak.sh: cc -shared -fPIC -O2 -o slowfs.so slowfs.c -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define SLOWFS_DELAY_MAX_MS 10000

static int64_t *counter; /* shared mapping of $BX_SLOWFS_COUNT, or NULL */
static int counter_tried;

static long delay_ms(void) {
    const char *ctl = getenv("BX_SLOWFS_CTL");
    if (ctl == NULL || ctl[0] == '\0') {
        return 0;
    }
    int fd = open(ctl, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return 0;
    }
    char buf[16] = {0};
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) {
        return 0;
    }
    long ms = 0;
    for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++) {
        ms = ms * 10 + (buf[i] - '0');
        if (ms > SLOWFS_DELAY_MAX_MS) {
            return SLOWFS_DELAY_MAX_MS;
        }
    }
    return ms;
}

static void count(void) {
    if (!__atomic_load_n(&counter_tried, __ATOMIC_ACQUIRE)) {
        const char *path = getenv("BX_SLOWFS_COUNT");
        int64_t *map = NULL;
        if (path != NULL && path[0] != '\0') {
            int fd = open(path, O_RDWR | O_CLOEXEC);
            if (fd >= 0) {
                void *m = mmap(NULL, sizeof(int64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
                close(fd);
                map = m == MAP_FAILED ? NULL : m;
            }
        }
        int64_t *expected = NULL;
        if (!__atomic_compare_exchange_n(&counter, &expected, map, 0, __ATOMIC_ACQ_REL,
                                         __ATOMIC_ACQUIRE) &&
            map != NULL) {
            munmap(map, sizeof(int64_t)); /* another thread mapped it first */
        }
        __atomic_store_n(&counter_tried, 1, __ATOMIC_RELEASE);
    }
    int64_t *c = __atomic_load_n(&counter, __ATOMIC_ACQUIRE);
    if (c != NULL) {
        __atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
    }
}

static void slow(void) {
    int saved = errno;
    long ms = delay_ms();
    if (ms > 0) {
        count();
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
    }
    errno = saved;
}

int fsync(int fd) {
    static int (*real)(int);
    if (real == NULL) {
        real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    }
    slow();
    return real(fd);
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (real == NULL) {
        real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    }
    slow();
    return real(fd);
}

int syncfs(int fd) {
    static int (*real)(int);
    if (real == NULL) {
        real = (int (*)(int))dlsym(RTLD_NEXT, "syncfs");
    }
    slow();
    return real(fd);
}

int msync(void *addr, size_t length, int flags) {
    static int (*real)(void *, size_t, int);
    if (real == NULL) {
        real = (int (*)(void *, size_t, int))dlsym(RTLD_NEXT, "msync");
    }
    if (flags & MS_SYNC) {
        slow();
    }
    return real(addr, length, flags);
}
