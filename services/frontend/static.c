// SPDX-License-Identifier: Apache-2.0
// Static files of the web UI from BOXOFFICE_WEB_DIR. Paths are checked segment by segment: no
// "..", no hidden files, no backslashes; anything else is a 404. Files are capped in size.
// Files are kept in a small cache keyed by path and validated by (inode, size, mtime) on every
// request, so an edited file is served at once; each entry has its ETag (BLAKE2b of the bytes) and,
// for text worth it, a gzip copy made once. Fingerprinted names (app.3f2a9c1b.js: a dot, 8 or more
// hex digits, a dot, the extension) never change, so they are cached by browsers for a year;
// everything else is revalidated (no-cache + ETag → 304).
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "boxoffice/base.h"
#include "gateway.h"

#define STATIC_FILE_MAX_BYTES (4 * 1024 * 1024) /* well under the request arena limit */
#define STATIC_PATH_MAX       512
#define STATIC_CACHE_SLOTS    128
#define STATIC_GZIP_MIN_BYTES 512

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

struct entry {
    char path[STATIC_PATH_MAX];
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    char *body, *gz; /* malloc'd */
    size_t len, gz_len;
    char etag[40];
};

static struct entry cache[STATIC_CACHE_SLOTS];
static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;

static bool is_text(const char *type) {
    return strncmp(type, "text/", 5) == 0 || strncmp(type, "application/json", 16) == 0 ||
           strncmp(type, "image/svg", 9) == 0;
}

/* app.3f2a9c1b.js: never changes under this name. */
static bool fingerprinted(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *last = strrchr(base, '.');
    if (last == NULL || last == base) {
        return false;
    }
    const char *p = last - 1;
    size_t hex = 0;
    while (p > base && ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) {
        p--;
        hex++;
    }
    return hex >= 8 && *p == '.';
}

static char *gzip_copy(const char *in, size_t len, size_t *out_len) {
    z_stream z = {0};
    if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        return NULL;
    }
    size_t cap = deflateBound(&z, len);
    char *out = malloc(cap);
    if (out == NULL) {
        deflateEnd(&z);
        return NULL;
    }
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    int rc = deflate(&z, Z_FINISH);
    *out_len = z.total_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END || *out_len >= len) {
        free(out); /* not worth it */
        return NULL;
    }
    return out;
}

static int read_all(int fd, char *buf, size_t size) {
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return -1;
        }
        got += (size_t)r;
    }
    return 0;
}

/* The cache slot for path, (re)filled from fd when stale; cache_mu held. NULL on failure. */
static struct entry *lookup(const char *path, int fd, const struct stat *st, const char *type) {
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = path; *p; p++) {
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    }
    struct entry *e = &cache[h % STATIC_CACHE_SLOTS];
    if (strcmp(e->path, path) == 0 && e->dev == st->st_dev && e->ino == st->st_ino &&
        e->size == st->st_size && e->mtime.tv_sec == st->st_mtim.tv_sec &&
        e->mtime.tv_nsec == st->st_mtim.tv_nsec && e->body != NULL) {
        return e;
    }
    char *body = malloc((size_t)st->st_size + 1);
    if (body == NULL || read_all(fd, body, (size_t)st->st_size) != 0) {
        free(body);
        return NULL;
    }
    free(e->body);
    free(e->gz);
    memset(e, 0, sizeof *e);
    bx_strlcpy(e->path, path, sizeof e->path);
    e->dev = st->st_dev;
    e->ino = st->st_ino;
    e->size = st->st_size;
    e->mtime = st->st_mtim;
    e->body = body;
    e->len = (size_t)st->st_size;
    unsigned char d[16];
    crypto_generichash(d, sizeof d, (const unsigned char *)body, e->len, NULL, 0);
    char hex[33];
    sodium_bin2hex(hex, sizeof hex, d, sizeof d);
    snprintf(e->etag, sizeof e->etag, "\"%s\"", hex);
    if (is_text(type) && e->len >= STATIC_GZIP_MIN_BYTES) {
        e->gz = gzip_copy(body, e->len, &e->gz_len);
    }
    return e;
}

static bool accepts_gzip(struct bx_req *req) {
    const char *ae = bx_req_header(req, "Accept-Encoding");
    return ae != NULL && strstr(ae, "gzip") != NULL;
}

static bool etag_matches(const char *inm, const char *etag) {
    if (inm == NULL) {
        return false;
    }
    if (strcmp(inm, "*") == 0) {
        return true;
    }
    const char *p = strstr(inm, etag); /* a list of tags, possibly weak (W/"...") */
    return p != NULL;
}

enum bx_err static_get(struct bx_req *req) {
    struct frontend *fe = req->ctx;
    frontend_security_headers(req);
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
    const char *type = content_type(path);
    pthread_mutex_lock(&cache_mu);
    struct entry *e = lookup(path, fd, &st, type);
    close(fd);
    if (e == NULL) {
        pthread_mutex_unlock(&cache_mu);
        return bx_req_fail(req, BX_INTERNAL, NULL, "Could not read the file.");
    }
    bx_resp_header(req, "ETag", e->etag);
    bx_resp_header(req, "Cache-Control",
                   fingerprinted(path) ? "public, max-age=31536000, immutable" : "no-cache");
    bx_resp_header(req, "Vary", "Accept-Encoding");
    enum bx_err rc;
    if (etag_matches(bx_req_header(req, "If-None-Match"), e->etag)) {
        rc = bx_respond(req, 304, NULL, "", 0);
    } else if (e->gz != NULL && accepts_gzip(req)) {
        bx_resp_header(req, "Content-Encoding", "gzip");
        rc = bx_respond(req, 200, type, e->gz, e->gz_len); /* copied into the arena */
    } else {
        rc = bx_respond(req, 200, type, e->body, e->len);
    }
    pthread_mutex_unlock(&cache_mu);
    return rc;
}
