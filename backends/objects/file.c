// SPDX-License-Identifier: Apache-2.0
// The file object-store backend, "file:DIR": one regular file per key under DIR, subdirectories
// for the key's segments. Invariants: a put writes a temporary file ".tmp.<random>" in the key's
// own directory, fsyncs it, renames it over the key and fsyncs the directory, so a reader (or a
// crash) sees the whole old object or the whole new one; names starting with '.' are never keys
// (objects.h forbids such segments), so list and directory watchers skip them. Every call works
// relative to a descriptor of DIR opened once, so the process's working directory does not matter.
// Nothing is stored besides the bytes: the content type comes from the key's extension, the etag
// from size and mtime.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boxoffice/base.h"
#include "boxoffice/objects.h"
#include "objects/internal.h"

#define FILE_ROOT_MODE        0700 /* DIR itself, and every directory under it */
#define FILE_PARENT_MODE      0755 /* missing parents of DIR */
#define FILE_MODE             0600
#define FILE_COPY_CHUNK_BYTES (256 * 1024)
#define FILE_PUT_TRIES        8 /* a concurrent del may remove an empty directory under a put */
#define FILE_TMP_PREFIX       ".tmp."
#define FILE_TMP_NAME_BYTES   (sizeof FILE_TMP_PREFIX + 16)
#define FILE_DIR_ENTRIES_MAX  (1024 * 1024) /* one directory listed at a time holds this many */
#define FILE_DEPTH_MAX        (BX_OBJECT_KEY_MAX_BYTES / 2 + 1)

struct fstore {
    int root_fd;
    char root[PATH_MAX];
};

static const struct {
    const char *ext;
    const char *type;
} content_types[] = {
    {".pdf", "application/pdf"},
    {".json", "application/json"},
};

static const char *type_of(const char *key) {
    const char *dot = strrchr(key, '.');
    const char *slash = strrchr(key, '/');
    if (dot != NULL && (slash == NULL || dot > slash)) {
        for (size_t i = 0; i < BX_ARRAY_LEN(content_types); i++) {
            if (strcmp(dot, content_types[i].ext) == 0) {
                return content_types[i].type;
            }
        }
    }
    return BX_OBJECTS_CONTENT_TYPE_DEFAULT;
}

static void info_of(const char *key, const struct stat *st, struct bx_object_info *info) {
    if (info == NULL) {
        return;
    }
    *info = (struct bx_object_info){0};
    info->size = (uint64_t)st->st_size;
    info->modified_unix_s = (int64_t)st->st_mtim.tv_sec;
    int64_t mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + (int64_t)st->st_mtim.tv_nsec;
    snprintf(info->etag, sizeof info->etag, "%" PRIu64 "-%" PRId64, info->size, mtime_ns);
    bx_strlcpy(info->content_type, type_of(key), sizeof info->content_type);
}

/* An I/O failure: out of space and the like are the store being unavailable. */
static enum bx_err io_fail(struct bx_error *err, const char *what, const char *key, int errnum) {
    return bx_objects_fail(err, BX_UNAVAILABLE, NULL, "objects file: %s %.100s: %s", what, key,
                           strerror(errnum));
}

/* mkdir -p of path (absolute or relative to the working directory): missing parents get
 * FILE_PARENT_MODE, the last component FILE_ROOT_MODE. */
static int mkdirs(const char *path) {
    char buf[PATH_MAX];
    size_t n = bx_strlcpy(buf, path, sizeof buf);
    if (n >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    while (n > 1 && buf[n - 1] == '/') {
        buf[--n] = '\0';
    }
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') {
            continue;
        }
        char saved = buf[i];
        buf[i] = '\0';
        int rc = mkdir(buf, saved == '\0' ? FILE_ROOT_MODE : FILE_PARENT_MODE);
        buf[i] = saved;
        if (rc != 0 && errno != EEXIST) {
            return -1;
        }
    }
    return 0;
}

static enum bx_err file_open(const char *url, void **ctx_out, struct bx_error *err) {
    BX_ASSERT(url != NULL && ctx_out != NULL);
    *ctx_out = NULL;
    static const char scheme[] = "file:";
    if (strncmp(url, scheme, sizeof scheme - 1) != 0) {
        return bx_objects_fail(err, BX_BAD_REQUEST, NULL,
                               "object store URL \"%.80s\": want file:DIR", url);
    }
    const char *dir = url + sizeof scheme - 1;
    if (strncmp(dir, "//", 2) == 0) { /* file:///abs/dir; a host is not supported */
        dir += 2;
        if (dir[0] != '/') {
            return bx_objects_fail(err, BX_BAD_REQUEST, NULL,
                                   "object store URL \"%.80s\": file://HOST/ is not supported; "
                                   "use file:DIR or file:///DIR",
                                   url);
        }
    }
    if (dir[0] == '\0' || strlen(dir) >= PATH_MAX) {
        return bx_objects_fail(err, BX_BAD_REQUEST, NULL,
                               "object store URL \"%.80s\": the directory is empty or too long",
                               url);
    }
    if (mkdirs(dir) != 0) {
        return bx_objects_fail(err, BX_UNAVAILABLE, NULL, "objects file: cannot create %.100s: %s",
                               dir, strerror(errno));
    }
    struct fstore *f = malloc(sizeof *f);
    if (f == NULL) {
        return bx_objects_fail(err, BX_INTERNAL, NULL, "out of memory");
    }
    f->root_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    enum bx_err e = BX_OK;
    if (f->root_fd < 0) {
        e = bx_objects_fail(err, BX_UNAVAILABLE, NULL, "objects file: cannot open %.100s: %s", dir,
                            strerror(errno));
    } else if (realpath(dir, f->root) == NULL) {
        e = bx_objects_fail(err, BX_UNAVAILABLE, NULL, "objects file: cannot resolve %.100s: %s",
                            dir, strerror(errno));
    } else if (faccessat(f->root_fd, ".", W_OK | X_OK, AT_EACCESS) != 0) {
        e = bx_objects_fail(err, BX_UNAVAILABLE, NULL, "objects file: %.100s is not writable: %s",
                            dir, strerror(errno));
    }
    if (e != BX_OK) {
        if (f->root_fd >= 0) {
            close(f->root_fd);
        }
        free(f);
        return e;
    }
    *ctx_out = f;
    return BX_OK;
}

static void file_close(void *ctx) {
    struct fstore *f = ctx;
    if (f == NULL) {
        return;
    }
    close(f->root_fd);
    free(f);
}

const char *bx_objects_file_dir(const void *ctx) {
    const struct fstore *f = ctx;
    BX_ASSERT(f != NULL);
    return f->root;
}

/* Splits key into its directory ("." at the top) and its last segment. */
static const char *split_key(const char *key, char dir[static BX_OBJECT_KEY_MAX_BYTES + 1]) {
    const char *slash = strrchr(key, '/');
    if (slash == NULL) {
        dir[0] = '.';
        dir[1] = '\0';
        return key;
    }
    size_t n = (size_t)(slash - key);
    memcpy(dir, key, n);
    dir[n] = '\0';
    return slash + 1;
}

static void fsync_dir_at(int at_fd, const char *path) {
    int fd = openat(at_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* Creates the directories of dir (relative to the root), fsyncing each parent that gained an
 * entry. Returns 0, or -1 with errno (ENOTDIR when an object stands where a directory must). */
static int make_dirs(int root_fd, char *dir) {
    size_t n = strlen(dir);
    for (size_t i = 1; i <= n; i++) {
        if (dir[i] != '/' && dir[i] != '\0') {
            continue;
        }
        char saved = dir[i];
        dir[i] = '\0';
        int rc = mkdirat(root_fd, dir, FILE_ROOT_MODE);
        int errnum = errno;
        if (rc == 0) {
            char *slash = strrchr(dir, '/');
            if (slash == NULL) {
                fsync(root_fd);
            } else {
                *slash = '\0';
                fsync_dir_at(root_fd, dir);
                *slash = '/';
            }
        }
        dir[i] = saved;
        if (rc != 0 && errnum != EEXIST) {
            errno = errnum;
            return -1;
        }
    }
    return 0;
}

/* Where a put's bytes come from: memory, or a file descriptor read to its end. */
struct source {
    const char *bytes;
    size_t len;
    int fd; /* -1 for memory */
};

static int write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Copies src into fd; 0, or -1 with errno. */
static int copy_in(int fd, const struct source *src) {
    if (src->fd < 0) {
        return write_all(fd, src->bytes, src->len);
    }
    char *buf = malloc(FILE_COPY_CHUNK_BYTES);
    if (buf == NULL) {
        errno = ENOMEM;
        return -1;
    }
    int rc = 0;
    for (;;) {
        ssize_t r = read(src->fd, buf, FILE_COPY_CHUNK_BYTES);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            rc = r < 0 ? -1 : 0;
            break;
        }
        if (write_all(fd, buf, (size_t)r) != 0) {
            rc = -1;
            break;
        }
    }
    int errnum = errno;
    free(buf);
    errno = errnum;
    return rc;
}

/* Opens the directory of a key (creating it as needed) and a new temporary file in it. */
static enum bx_err create_temp(struct fstore *f, const char *key, char *dir, int *dir_fd_out,
                               int *fd_out, char tmp[static FILE_TMP_NAME_BYTES],
                               struct bx_error *err) {
    *dir_fd_out = -1;
    *fd_out = -1;
    int errnum = 0;
    for (int attempt = 0; attempt < FILE_PUT_TRIES; attempt++) {
        int dir_fd = openat(f->root_fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0 && errno == ENOENT && make_dirs(f->root_fd, dir) == 0) {
            dir_fd = openat(f->root_fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        }
        if (dir_fd < 0) {
            errnum = errno;
            if (errnum == ENOENT) {
                continue; /* a del removed a parent it had emptied, meanwhile: again */
            }
            break;
        }
        unsigned char rnd[8];
        bx_random_bytes(rnd, sizeof rnd);
        snprintf(tmp, FILE_TMP_NAME_BYTES, FILE_TMP_PREFIX "%02x%02x%02x%02x%02x%02x%02x%02x",
                 rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
        int fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, FILE_MODE);
        if (fd >= 0) {
            *dir_fd_out = dir_fd;
            *fd_out = fd;
            return BX_OK;
        }
        errnum = errno;
        close(dir_fd);
        if (errnum != ENOENT && errnum != EEXIST) {
            break; /* ENOENT: the directory was removed after we opened it */
        }
    }
    if (errnum == ENOTDIR) {
        return bx_objects_fail(err, BX_CONFLICT, "key",
                               "objects file: an object stands where %.100s needs a directory",
                               key);
    }
    return io_fail(err, "cannot create a file for", key, errnum);
}

static enum bx_err put_source(struct fstore *f, const char *key, const struct source *src,
                              struct bx_error *err) {
    char dir[BX_OBJECT_KEY_MAX_BYTES + 1];
    const char *name = split_key(key, dir);
    char tmp[FILE_TMP_NAME_BYTES];
    int dir_fd = -1, fd = -1;
    bool temp_exists = false;
    enum bx_err e = create_temp(f, key, dir, &dir_fd, &fd, tmp, err);
    if (e != BX_OK) {
        goto out;
    }
    temp_exists = true;
    if (copy_in(fd, src) != 0) {
        e = io_fail(err, "writing", key, errno);
        goto out;
    }
    if (fsync(fd) != 0) {
        e = io_fail(err, "fsync of", key, errno);
        goto out;
    }
    int rc = close(fd);
    fd = -1;
    if (rc != 0) {
        e = io_fail(err, "closing", key, errno);
        goto out;
    }
    if (renameat(dir_fd, tmp, dir_fd, name) != 0) {
        if (errno == EISDIR || errno == ENOTEMPTY || errno == EEXIST) {
            e = bx_objects_fail(err, BX_CONFLICT, "key",
                                "objects file: %.100s is a directory of other keys", key);
        } else {
            e = io_fail(err, "renaming onto", key, errno);
        }
        goto out;
    }
    temp_exists = false;
    if (fsync(dir_fd) != 0) {
        e = io_fail(err, "fsync of the directory of", key, errno);
        goto out;
    }
    e = BX_OK;
out:
    if (fd >= 0) {
        close(fd);
    }
    if (temp_exists) {
        unlinkat(dir_fd, tmp, 0);
    }
    if (dir_fd >= 0) {
        close(dir_fd);
    }
    return e;
}

static enum bx_err file_put(void *ctx, const char *key, const void *body, size_t len,
                            const char *content_type, struct bx_error *err) {
    struct fstore *f = ctx;
    BX_ASSERT(f != NULL);
    enum bx_err e = bx_objects_check_key(key, err);
    if (e != BX_OK) {
        return e;
    }
    if ((body == NULL && len > 0) || !bx_objects_content_type_valid(content_type)) {
        return bx_objects_fail(err, BX_INVALID_FIELD, body == NULL ? "body" : "content_type", NULL);
    }
    struct source src = {.bytes = body, .len = len, .fd = -1};
    return put_source(f, key, &src, err);
}

static enum bx_err file_put_file(void *ctx, const char *key, const char *path,
                                 const char *content_type, struct bx_error *err) {
    struct fstore *f = ctx;
    BX_ASSERT(f != NULL);
    int fd;
    enum bx_err e = bx_objects_put_file_open("file", key, path, content_type, &fd, err);
    if (e != BX_OK) {
        return e;
    }
    struct source src = {.fd = fd};
    e = put_source(f, key, &src, err);
    close(fd);
    return e;
}

/* Opens key's file for reading; BX_NOT_FOUND when there is no such object. */
static enum bx_err open_object(struct fstore *f, const char *key, int *fd_out, struct stat *st,
                               struct bx_error *err) {
    *fd_out = -1;
    int fd = openat(f->root_fd, key, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP) {
            return bx_objects_fail(err, BX_NOT_FOUND, "key", NULL);
        }
        return io_fail(err, "cannot open", key, errno);
    }
    if (fstat(fd, st) != 0) {
        int errnum = errno;
        close(fd);
        return io_fail(err, "cannot stat", key, errnum);
    }
    if (!S_ISREG(st->st_mode)) {
        close(fd);
        return bx_objects_fail(err, BX_NOT_FOUND, "key", NULL);
    }
    *fd_out = fd;
    return BX_OK;
}

static enum bx_err file_get(void *ctx, const char *key, size_t max_bytes, char **body_out,
                            size_t *len_out, struct bx_object_info *info, struct bx_error *err) {
    struct fstore *f = ctx;
    BX_ASSERT(f != NULL && body_out != NULL && len_out != NULL);
    *body_out = NULL;
    *len_out = 0;
    enum bx_err e = bx_objects_check_key(key, err);
    if (e != BX_OK) {
        return e;
    }
    if (max_bytes == 0 || max_bytes > BX_OBJECT_MAX_BYTES) {
        max_bytes = BX_OBJECT_MAX_BYTES;
    }
    int fd = -1;
    struct stat st;
    e = open_object(f, key, &fd, &st, err);
    if (e != BX_OK) {
        return e;
    }
    char *buf = NULL;
    if ((uint64_t)st.st_size > (uint64_t)max_bytes) {
        e = bx_objects_fail(err, BX_PAYLOAD_TOO_LARGE, "key",
                            "object %.100s is %" PRId64 " bytes, more than %zu", key,
                            (int64_t)st.st_size, max_bytes);
        goto out;
    }
    size_t size = (size_t)st.st_size, got = 0;
    buf = malloc(size + 1);
    if (buf == NULL) {
        e = bx_objects_fail(err, BX_INTERNAL, NULL, "out of memory");
        goto out;
    }
    /* a put never writes into a file others may read (it renames a new one over it), so the
     * descriptor's file keeps the size fstat saw */
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            e = io_fail(err, "reading", key, errno);
            goto out;
        }
        if (r == 0) {
            break;
        }
        got += (size_t)r;
    }
    buf[got] = '\0';
    info_of(key, &st, info);
    if (info != NULL) {
        info->size = got;
    }
    *body_out = buf;
    *len_out = got;
    buf = NULL;
    e = BX_OK;
out:
    free(buf);
    close(fd);
    return e;
}

static enum bx_err file_head(void *ctx, const char *key, struct bx_object_info *info,
                             struct bx_error *err) {
    struct fstore *f = ctx;
    BX_ASSERT(f != NULL);
    enum bx_err e = bx_objects_check_key(key, err);
    if (e != BX_OK) {
        return e;
    }
    struct stat st;
    if (fstatat(f->root_fd, key, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT || errno == ENOTDIR) {
            return bx_objects_fail(err, BX_NOT_FOUND, "key", NULL);
        }
        return io_fail(err, "cannot stat", key, errno);
    }
    if (!S_ISREG(st.st_mode)) {
        return bx_objects_fail(err, BX_NOT_FOUND, "key", NULL);
    }
    info_of(key, &st, info);
    return BX_OK;
}

static enum bx_err file_del(void *ctx, const char *key, struct bx_error *err) {
    struct fstore *f = ctx;
    BX_ASSERT(f != NULL);
    enum bx_err e = bx_objects_check_key(key, err);
    if (e != BX_OK) {
        return e;
    }
    if (unlinkat(f->root_fd, key, 0) != 0) {
        /* absent, or a directory of other keys: no object by this name either way */
        if (errno == ENOENT || errno == ENOTDIR || errno == EISDIR) {
            return BX_OK;
        }
        return io_fail(err, "cannot delete", key, errno);
    }
    char dir[BX_OBJECT_KEY_MAX_BYTES + 1];
    split_key(key, dir);
    fsync_dir_at(f->root_fd, dir);
    /* directories emptied by this delete go too, deepest first; the first one that still holds
     * something (or that a put is filling right now) stops it */
    while (strcmp(dir, ".") != 0 && unlinkat(f->root_fd, dir, AT_REMOVEDIR) == 0) {
        char *slash = strrchr(dir, '/');
        if (slash == NULL) {
            break;
        }
        *slash = '\0';
    }
    return BX_OK;
}

/* One entry of a directory being listed: its name, with a '/' appended for a directory, so that
 * sorting the names sorts the keys below them in byte order too. */
struct walk {
    int root_fd;
    const char *prefix;
    size_t prefix_len;
    const char *after; /* "" for the start */
    size_t limit;
    struct bx_object_list *out;
    char path[BX_OBJECT_KEY_MAX_BYTES + 2]; /* the directory being listed, "" or "a/b/" */
    size_t path_len;
    bool done;
};

static int name_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool segment_chars_valid(const char *name) {
    for (const char *p = name; *p != '\0'; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

/* Whether the entry (its key or key prefix in w->path + name) can hold keys of this listing. */
static bool wanted(const struct walk *w, const char *full, size_t n, bool is_dir) {
    size_t common = n < w->prefix_len ? n : w->prefix_len;
    if (strncmp(full, w->prefix, common) != 0 || (!is_dir && n < w->prefix_len)) {
        return false; /* a file must start with the prefix; a directory may lead to it */
    }
    if (is_dir && strncmp(w->after, full, n) == 0) {
        return true; /* after lies inside this directory */
    }
    return strcmp(full, w->after) > 0; /* every key below a directory sorts after its name */
}

static enum bx_err walk_dir(struct walk *w, unsigned depth, struct bx_error *err);

/* Reads the wanted entries of w->path into a sorted array of malloc'd names. */
static enum bx_err read_dir(struct walk *w, char ***names_out, size_t *n_out,
                            struct bx_error *err) {
    *names_out = NULL;
    *n_out = 0;
    int fd =
        openat(w->root_fd, w->path_len > 0 ? w->path : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        /* removed meanwhile (a del emptied it), or an object was put where it was */
        return errno == ENOENT || errno == ENOTDIR ? BX_OK
                                                   : io_fail(err, "cannot list", w->path, errno);
    }
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        int errnum = errno;
        close(fd);
        return io_fail(err, "cannot list", w->path, errnum);
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    enum bx_err e = BX_OK;
    char full[BX_OBJECT_KEY_MAX_BYTES + 2];
    memcpy(full, w->path, w->path_len);
    for (struct dirent *de = readdir(d); de != NULL; de = readdir(d)) {
        const char *name = de->d_name;
        size_t len = strlen(name);
        /* temporary files, "." and "..", and names no key can have */
        if (name[0] == '.' || w->path_len + len > BX_OBJECT_KEY_MAX_BYTES ||
            !segment_chars_valid(name)) {
            continue;
        }
        bool is_dir = de->d_type == DT_DIR, is_reg = de->d_type == DT_REG;
        if (de->d_type == DT_UNKNOWN) {
            struct stat st;
            if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
                continue;
            }
            is_dir = S_ISDIR(st.st_mode);
            is_reg = S_ISREG(st.st_mode);
        }
        /* a directory only matters when a key below it (one more segment) can be valid */
        if ((!is_dir && !is_reg) || (is_dir && w->path_len + len + 2 > BX_OBJECT_KEY_MAX_BYTES)) {
            continue;
        }
        memcpy(full + w->path_len, name, len);
        size_t full_len = w->path_len + len;
        if (is_dir) {
            full[full_len++] = '/';
        }
        full[full_len] = '\0';
        if (!wanted(w, full, full_len, is_dir)) {
            continue;
        }
        if (n == cap) {
            if (cap == FILE_DIR_ENTRIES_MAX) {
                e = bx_objects_fail(err, BX_UNAVAILABLE, NULL,
                                    "objects file: directory %.100s has more than %d entries",
                                    w->path, FILE_DIR_ENTRIES_MAX);
                break;
            }
            size_t next = cap == 0 ? 64 : cap * 2;
            char **grown = realloc(names, next * sizeof *names);
            if (grown == NULL) {
                e = bx_objects_fail(err, BX_INTERNAL, NULL, "out of memory");
                break;
            }
            names = grown;
            cap = next;
        }
        size_t entry_len = full_len - w->path_len;
        names[n] = malloc(entry_len + 1);
        if (names[n] == NULL) {
            e = bx_objects_fail(err, BX_INTERNAL, NULL, "out of memory");
            break;
        }
        memcpy(names[n], full + w->path_len, entry_len + 1);
        n++;
    }
    closedir(d);
    if (e != BX_OK) {
        for (size_t i = 0; i < n; i++) {
            free(names[i]);
        }
        free(names);
        return e;
    }
    if (n > 1) {
        qsort(names, n, sizeof *names, name_cmp);
    }
    *names_out = names;
    *n_out = n;
    return BX_OK;
}

static enum bx_err walk_dir(struct walk *w, unsigned depth, struct bx_error *err) {
    BX_ASSERT(depth <= FILE_DEPTH_MAX);
    char **names = NULL;
    size_t n = 0;
    enum bx_err e = read_dir(w, &names, &n, err);
    for (size_t i = 0; i < n && e == BX_OK && !w->done; i++) {
        size_t len = strlen(names[i]);
        size_t saved = w->path_len;
        BX_ASSERT(saved + len <= BX_OBJECT_KEY_MAX_BYTES + 1);
        memcpy(w->path + saved, names[i], len + 1);
        w->path_len = saved + len;
        if (names[i][len - 1] == '/') {
            e = walk_dir(w, depth + 1, err);
        } else if (w->out->n == w->limit) {
            w->out->truncated = true;
            w->done = true;
        } else {
            BX_ASSERT(bx_object_key_valid(w->path));
            BX_ASSERT(w->out->n == 0 || strcmp(w->out->keys[w->out->n - 1], w->path) < 0);
            if (bx_objects_list_push(w->out, w->limit, w->path, w->path_len) != BX_OK) {
                e = bx_objects_fail(err, BX_INTERNAL, NULL, "out of memory");
            }
        }
        w->path_len = saved;
        w->path[saved] = '\0';
    }
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);
    return e;
}

static enum bx_err file_list(void *ctx, const char *prefix, const char *after, size_t limit,
                             struct bx_object_list *out, struct bx_error *err) {
    struct fstore *f = ctx;
    BX_ASSERT(f != NULL && out != NULL);
    enum bx_err e = bx_objects_list_begin(prefix, after, limit, out, err);
    if (e != BX_OK) {
        return e;
    }
    struct walk w = {
        .root_fd = f->root_fd,
        .prefix = prefix,
        .prefix_len = strlen(prefix),
        .after = after != NULL ? after : "",
        .limit = limit,
        .out = out,
    };
    e = walk_dir(&w, 0, err);
    if (e != BX_OK) {
        bx_objects_list_free(out);
    }
    return e;
}

static enum bx_err file_ping(void *ctx) {
    struct fstore *f = ctx;
    BX_ASSERT(f != NULL);
    struct stat st;
    /* a root that was removed still has our descriptor, but no links */
    if (fstat(f->root_fd, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_nlink == 0 ||
        faccessat(f->root_fd, ".", W_OK | X_OK, AT_EACCESS) != 0) {
        return BX_UNAVAILABLE;
    }
    return BX_OK;
}

const struct bx_objects_ops bx_objects_file = {
    .scheme = "file",
    .open = file_open,
    .close = file_close,
    .put = file_put,
    .put_file = file_put_file,
    .get = file_get,
    .head = file_head,
    .list = file_list,
    .del = file_del,
    .ping = file_ping,
};
