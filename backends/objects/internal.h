// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the object-store backends (not part of the public interface): argument checks
// against objects.h's rules, error reporting into an optional struct bx_error, the list buffer,
// and the file backend's root for bx_objects_file_root. Every backend checks every argument with
// these before touching its store, so the rules live in one place (backends/objects/objects.c).
#ifndef BOXOFFICE_BACKENDS_OBJECTS_INTERNAL_H
#define BOXOFFICE_BACKENDS_OBJECTS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "boxoffice/objects.h"

#define BX_OBJECTS_CONTENT_TYPE_DEFAULT "application/octet-stream"

/* Sets *err (when err is not NULL) and returns code; fmt may be NULL for the default message. */
enum bx_err bx_objects_fail(struct bx_error *err, enum bx_err code, const char *field,
                            const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* BX_INVALID_FIELD (with err set, field "key") unless bx_object_key_valid(key). */
enum bx_err bx_objects_check_key(const char *key, struct bx_error *err);

/* A content type we may send as a header: NULL, or 1..sizeof(info.content_type)-1 printable
 * ASCII bytes without CR/LF. */
bool bx_objects_content_type_valid(const char *content_type);

/* put_file's common first half: checks key, path and content_type, and opens path, which must be
 * a regular file. BX_OK with *fd_out open (the caller closes it); otherwise BX_INVALID_FIELD with
 * err set (who, "file" or "s3", names the backend in the message) and nothing open. */
enum bx_err bx_objects_put_file_open(const char *who, const char *key, const char *path,
                                     const char *content_type, int *fd_out, struct bx_error *err);

/* Checks list's arguments (prefix "" or a key prefix under the key rules, where a trailing '/' is
 * allowed; after NULL or up to BX_OBJECT_KEY_MAX_BYTES key characters; limit in
 * 1..BX_OBJECTS_LIST_MAX) and readies out: an empty list with room for limit keys. */
enum bx_err bx_objects_list_begin(const char *prefix, const char *after, size_t limit,
                                  struct bx_object_list *out, struct bx_error *err);

/* Appends a copy of key[0, len) to a list readied by bx_objects_list_begin for limit keys;
 * BX_INTERNAL when out of memory. */
enum bx_err bx_objects_list_push(struct bx_object_list *l, size_t limit, const char *key,
                                 size_t len);

/* The file backend's root directory (absolute), for bx_objects_file_root. */
const char *bx_objects_file_dir(const void *ctx);

#endif
