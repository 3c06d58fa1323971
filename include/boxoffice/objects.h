// SPDX-License-Identifier: Apache-2.0
// The object-store interface (order documents, ticket PDFs): put, get, head, list by prefix,
// delete. Backends by URL scheme: a directory on a laptop ("file:var/objects"), S3 in production
// ("s3://BUCKET?region=R[&endpoint=URL][&path_style=1]", SigV4 through libcurl; an endpoint makes
// it talk to an S3-compatible server such as s3rver or MinIO).
// Invariants every backend keeps (checked by tests/conformance/test_objects.c on each of them):
//  - a put is atomic: a reader sees the whole old object or the whole new one, never a part
//    (file: write to a temporary name in the same directory, fsync, rename, fsync the directory);
//  - a put that returned BX_OK is durable and visible to every later get, head and list;
//  - keys are 1-1024 bytes of [A-Za-z0-9/._-] whose segments (the parts between '/') are 1-255
//    bytes and do not start with '.': so no "//", no leading or trailing '/', no "." or ".."
//    segment and no hidden name (anything else is BX_INVALID_FIELD before the backend is touched:
//    no path traversal; the file backend's temporary files start with '.', so a directory
//    watcher skips names starting with '.');
//  - list returns keys with the prefix in ascending byte order, at most `limit`, continuing after
//    `after` (exclusive), so a caller pages through any number of objects.
// Every err may be NULL; when not, a failure fills it (message for logs, never for end users).
// docs/objects.md has the URL forms, the file layout and the S3 request mapping.
#ifndef BOXOFFICE_OBJECTS_H
#define BOXOFFICE_OBJECTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boxoffice/err.h"

#define BX_OBJECT_KEY_MAX_BYTES     1024
#define BX_OBJECT_SEGMENT_MAX_BYTES 255 /* between two '/': a file name's limit (NAME_MAX) */
#define BX_OBJECT_MAX_BYTES         (64 * 1024 * 1024) /* largest object get will read */
#define BX_OBJECTS_LIST_MAX         1000               /* most keys one list call returns */

struct bx_object_info {
    uint64_t size;
    int64_t modified_unix_s;
    /* entity tag, unquoted: S3's (the MD5 hex of a single PUT); file: "<size>-<mtime in ns>" */
    char etag[80];
    char content_type[128];
};

/* Keys of one list call, malloc'd; free with bx_objects_list_free. */
struct bx_object_list {
    char **keys;
    size_t n;
    bool truncated; /* more keys after the last one */
};

struct bx_objects_ops {
    const char *scheme; /* "file", "s3" */
    enum bx_err (*open)(const char *url, void **ctx_out, struct bx_error *err);
    void (*close)(void *ctx);
    /* Stores body (len bytes, 0 allowed) under key, replacing any object there. content_type
     * may be NULL (application/octet-stream); S3 stores it, the file backend derives the type
     * from the key's extension instead (.pdf, .json). file: BX_CONFLICT when the key's path
     * collides with a directory of other keys ("a" vs "a/b"). */
    enum bx_err (*put)(void *ctx, const char *key, const void *body, size_t len,
                       const char *content_type, struct bx_error *err);
    /* Stores the file at path (streamed, not read into memory) under key. BX_INVALID_FIELD
     * (field "path") when path is not a readable regular file. */
    enum bx_err (*put_file)(void *ctx, const char *key, const char *path, const char *content_type,
                            struct bx_error *err);
    /* BX_OK with *body_out malloc'd (NUL-terminated for convenience) and *len_out; BX_NOT_FOUND;
     * BX_PAYLOAD_TOO_LARGE past max_bytes (0: BX_OBJECT_MAX_BYTES). info may be NULL. */
    enum bx_err (*get)(void *ctx, const char *key, size_t max_bytes, char **body_out,
                       size_t *len_out, struct bx_object_info *info, struct bx_error *err);
    /* BX_OK and info (may be NULL), or BX_NOT_FOUND. */
    enum bx_err (*head)(void *ctx, const char *key, struct bx_object_info *info,
                        struct bx_error *err);
    /* Keys starting with prefix ("" for all; else the start of a valid key, a trailing '/'
     * allowed), after `after` (NULL or "": from the start; else up to BX_OBJECT_KEY_MAX_BYTES key
     * characters, usually the last key of the previous page), at most limit
     * (1..BX_OBJECTS_LIST_MAX). On BX_OK the caller frees out with bx_objects_list_free. */
    enum bx_err (*list)(void *ctx, const char *prefix, const char *after, size_t limit,
                        struct bx_object_list *out, struct bx_error *err);
    /* BX_OK when deleted or already absent. */
    enum bx_err (*del)(void *ctx, const char *key, struct bx_error *err);
    /* Cheap reachability check for /readyz. */
    enum bx_err (*ping)(void *ctx);
};

extern const struct bx_objects_ops bx_objects_file, bx_objects_s3;

struct bx_objects {
    const struct bx_objects_ops *ops;
    void *ctx;
};

/* Picks the backend by scheme and opens it. */
enum bx_err bx_objects_open(const char *url, struct bx_objects *out, struct bx_error *err);
void bx_objects_close(struct bx_objects *o);
/* The key rules above; true when key is acceptable. */
bool bx_object_key_valid(const char *key);
void bx_objects_list_free(struct bx_object_list *l);
/* For the file backend: the directory of a "file:DIR" URL, absolute (NULL for other schemes), so
 * a service can watch it with inotify. */
const char *bx_objects_file_root(const struct bx_objects *o);

#endif
