// SPDX-License-Identifier: Apache-2.0
// Opens an object store by its URL's scheme ("file:...", "s3://..."): the one table that names
// the backends, so service code never does. Also the rules every backend applies to its arguments
// before touching its store (objects/internal.h): the key alphabet and shape, list's prefix, after
// and limit, and the list buffer. A key that passes bx_object_key_valid is also a safe relative
// path (no "..", no leading '/', no hidden segment) and needs no escaping in a URL.
#include "boxoffice/objects.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boxoffice/base.h"
#include "objects/internal.h"

#define SCHEME_MAX_BYTES 16

static const struct bx_objects_ops *const backends[] = {&bx_objects_file, &bx_objects_s3};

enum bx_err bx_objects_fail(struct bx_error *err, enum bx_err code, const char *field,
                            const char *fmt, ...) {
    if (err == NULL) {
        return code;
    }
    err->code = code;
    bx_strlcpy(err->field, field != NULL ? field : "", sizeof err->field);
    err->message[0] = '\0';
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return code;
}

enum bx_err bx_objects_open(const char *url, struct bx_objects *out, struct bx_error *err) {
    BX_ASSERT(url != NULL && out != NULL);
    out->ops = NULL;
    out->ctx = NULL;
    size_t scheme_len = strcspn(url, ":");
    if (url[scheme_len] != ':' || scheme_len == 0 || scheme_len >= SCHEME_MAX_BYTES) {
        return bx_objects_fail(err, BX_BAD_REQUEST, NULL,
                               "object store URL \"%.80s\" has no scheme (file:DIR or "
                               "s3://BUCKET?region=R)",
                               url);
    }
    for (size_t i = 0; i < BX_ARRAY_LEN(backends); i++) {
        const struct bx_objects_ops *ops = backends[i];
        if (strlen(ops->scheme) != scheme_len || strncmp(ops->scheme, url, scheme_len) != 0) {
            continue;
        }
        struct bx_error local = {0};
        void *ctx = NULL;
        enum bx_err e = ops->open(url, &ctx, err != NULL ? err : &local);
        if (e != BX_OK) {
            BX_ASSERT(ctx == NULL);
            return e;
        }
        BX_ASSERT(ctx != NULL);
        out->ops = ops;
        out->ctx = ctx;
        return BX_OK;
    }
    return bx_objects_fail(err, BX_BAD_REQUEST, NULL,
                           "unknown object store scheme \"%.*s\" (file, s3)", (int)scheme_len, url);
}

void bx_objects_close(struct bx_objects *o) {
    if (o == NULL || o->ops == NULL) {
        return;
    }
    o->ops->close(o->ctx);
    o->ops = NULL;
    o->ctx = NULL;
}

const char *bx_objects_file_root(const struct bx_objects *o) {
    if (o == NULL || o->ops != &bx_objects_file) {
        return NULL;
    }
    return bx_objects_file_dir(o->ctx);
}

static bool key_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '/' ||
           c == '.' || c == '_' || c == '-';
}

/* The shape shared by keys and prefixes: key characters only, and every segment (the text
 * between slashes) 1..BX_OBJECT_SEGMENT_MAX_BYTES bytes, not starting with '.'; a prefix may end
 * in an empty segment. */
static bool shape_valid(const char *s, size_t n, bool allow_trailing_slash) {
    size_t segment_len = 0;
    for (size_t i = 0; i < n; i++) {
        if (!key_char(s[i])) {
            return false;
        }
        bool segment_start = i == 0 || s[i - 1] == '/';
        if (segment_start && (s[i] == '/' || s[i] == '.')) {
            return false;
        }
        segment_len = s[i] == '/' ? 0 : segment_len + 1;
        if (segment_len > BX_OBJECT_SEGMENT_MAX_BYTES) {
            return false;
        }
    }
    return n > 0 && (allow_trailing_slash || s[n - 1] != '/');
}

bool bx_object_key_valid(const char *key) {
    if (key == NULL) {
        return false;
    }
    size_t n = strnlen(key, BX_OBJECT_KEY_MAX_BYTES + 1);
    return n >= 1 && n <= BX_OBJECT_KEY_MAX_BYTES && shape_valid(key, n, false);
}

enum bx_err bx_objects_check_key(const char *key, struct bx_error *err) {
    if (bx_object_key_valid(key)) {
        return BX_OK;
    }
    return bx_objects_fail(err, BX_INVALID_FIELD, "key",
                           "an object key is 1-%d of [A-Za-z0-9/._-] in segments of 1-%d, none "
                           "starting with '.'",
                           BX_OBJECT_KEY_MAX_BYTES, BX_OBJECT_SEGMENT_MAX_BYTES);
}

enum bx_err bx_objects_put_file_open(const char *who, const char *key, const char *path,
                                     const char *content_type, int *fd_out, struct bx_error *err) {
    *fd_out = -1;
    enum bx_err e = bx_objects_check_key(key, err);
    if (e != BX_OK) {
        return e;
    }
    if (path == NULL || !bx_objects_content_type_valid(content_type)) {
        return bx_objects_fail(err, BX_INVALID_FIELD, path == NULL ? "path" : "content_type", NULL);
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        e = bx_objects_fail(err, BX_INVALID_FIELD, "path",
                            "objects %s: %.100s is not a readable regular file (%s)", who, path,
                            fd < 0 ? strerror(errno) : "not a regular file");
        if (fd >= 0) {
            close(fd);
        }
        return e;
    }
    *fd_out = fd;
    return BX_OK;
}

bool bx_objects_content_type_valid(const char *content_type) {
    if (content_type == NULL) {
        return true;
    }
    size_t n = strnlen(content_type, sizeof((struct bx_object_info *)0)->content_type);
    if (n == 0 || n >= sizeof((struct bx_object_info *)0)->content_type) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (content_type[i] < 0x20 || content_type[i] > 0x7e) {
            return false;
        }
    }
    return true;
}

enum bx_err bx_objects_list_begin(const char *prefix, const char *after, size_t limit,
                                  struct bx_object_list *out, struct bx_error *err) {
    BX_ASSERT(out != NULL);
    *out = (struct bx_object_list){0};
    if (prefix == NULL) {
        return bx_objects_fail(err, BX_INVALID_FIELD, "prefix", "prefix is NULL (\"\" for all)");
    }
    size_t n = strnlen(prefix, BX_OBJECT_KEY_MAX_BYTES + 1);
    if (n > BX_OBJECT_KEY_MAX_BYTES || (n > 0 && !shape_valid(prefix, n, true))) {
        return bx_objects_fail(err, BX_INVALID_FIELD, "prefix",
                               "a prefix is \"\" or the start of a valid key");
    }
    if (after != NULL) {
        size_t a = strnlen(after, BX_OBJECT_KEY_MAX_BYTES + 1);
        bool ok = a <= BX_OBJECT_KEY_MAX_BYTES;
        for (size_t i = 0; ok && i < a; i++) {
            ok = key_char(after[i]);
        }
        if (!ok) {
            return bx_objects_fail(err, BX_INVALID_FIELD, "after",
                                   "after is up to %d of [A-Za-z0-9/._-]", BX_OBJECT_KEY_MAX_BYTES);
        }
    }
    if (limit < 1 || limit > BX_OBJECTS_LIST_MAX) {
        return bx_objects_fail(err, BX_INVALID_FIELD, "limit", "limit is 1-%d",
                               BX_OBJECTS_LIST_MAX);
    }
    out->keys = malloc(limit * sizeof *out->keys);
    if (out->keys == NULL) {
        return bx_objects_fail(err, BX_INTERNAL, NULL, "out of memory");
    }
    return BX_OK;
}

enum bx_err bx_objects_list_push(struct bx_object_list *l, size_t limit, const char *key,
                                 size_t len) {
    BX_ASSERT(l != NULL && l->keys != NULL && l->n < limit);
    BX_ASSERT(len >= 1 && len <= BX_OBJECT_KEY_MAX_BYTES);
    char *copy = malloc(len + 1);
    if (copy == NULL) {
        return BX_INTERNAL;
    }
    memcpy(copy, key, len);
    copy[len] = '\0';
    l->keys[l->n++] = copy;
    return BX_OK;
}

void bx_objects_list_free(struct bx_object_list *l) {
    if (l == NULL) {
        return;
    }
    for (size_t i = 0; i < l->n; i++) {
        free(l->keys[i]);
    }
    free(l->keys);
    *l = (struct bx_object_list){0};
}
