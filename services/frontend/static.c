// SPDX-License-Identifier: Apache-2.0
// Static files of the web UI from BOXOFFICE_WEB_DIR. Paths are checked segment by segment: no
// "..", no hidden files, no backslashes; anything else is a 404. Files are capped in size.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boxoffice/base.h"
#include "gateway.h"

#define STATIC_FILE_MAX_BYTES (4 * 1024 * 1024) /* well under the request arena limit */
#define STATIC_PATH_MAX       512

static const struct {
    const char *ext, *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".webp", "image/webp"},
    {".woff2", "font/woff2"},
    {".txt", "text/plain; charset=utf-8"},
};

static const char *content_type(const char *path) {
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot != NULL && i < BX_ARRAY_LEN(types); i++) {
        if (strcmp(dot, types[i].ext) == 0) {
            return types[i].type;
        }
    }
    return "application/octet-stream";
}

static bool safe_path(const char *p) {
    if (p[0] != '/' || strlen(p) >= STATIC_PATH_MAX || strchr(p, '\\') != NULL) {
        return false;
    }
    for (const char *s = p; *s; s++) {
        if (*s == '/' && s[1] == '.') {
            return false; /* "..", "." and hidden files */
        }
        if ((unsigned char)*s < 0x20) {
            return false;
        }
    }
    return true;
}

enum bx_err static_get(struct bx_req *req) {
    struct frontend *fe = req->ctx;
    const char *path = req->path;
    if (strcmp(path, "/") == 0) {
        path = "/index.html";
    }
    if (!safe_path(path)) {
        return bx_req_fail(req, BX_NOT_FOUND, NULL, "No such file.");
    }
    char full[STATIC_PATH_MAX + 1024];
    snprintf(full, sizeof full, "%s%s", fe->web_dir, path);
    int fd = open(full, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return bx_req_fail(req, BX_NOT_FOUND, NULL, "No such file.");
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > STATIC_FILE_MAX_BYTES) {
        close(fd);
        return bx_req_fail(req, BX_NOT_FOUND, NULL, "No such file.");
    }
    size_t size = (size_t)st.st_size;
    char *buf = bx_arena_alloc(&req->arena, size + 1);
    size_t got = 0;
    while (buf != NULL && got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            break;
        }
        got += (size_t)r;
    }
    close(fd);
    if (buf == NULL || got != size) {
        return bx_req_fail(req, BX_INTERNAL, NULL, "Could not read the file.");
    }
    req->status = 200;
    req->content_type = content_type(path);
    req->resp_body = buf;
    req->resp_len = size;
    bx_resp_header(req, "X-Content-Type-Options", "nosniff");
    bx_resp_header(req, "Cache-Control", "no-cache");
    return BX_OK;
}
