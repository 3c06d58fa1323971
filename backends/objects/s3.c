// SPDX-License-Identifier: Apache-2.0
// The S3 object-store backend, "s3://BUCKET?region=R[&endpoint=URL][&path_style=1]": the S3 REST
// API over libcurl, signed with SigV4 (CURLOPT_AWS_SIGV4 "aws:amz:R:s3"). Every request carries
// x-amz-content-sha256 (the hex SHA-256 of its body; put_file hashes the file in a first pass and
// then streams it), because curl 7.88 signs only what it can see and S3 and s3rver insist on the
// header. curl 7.88 signs the path and query exactly as sent, so this file builds both in SigV4's
// canonical form: keys need no escaping (objects.h's alphabet), query parameters are sorted and
// RFC 3986-encoded. Every call has a connect and a total timeout; every call here is idempotent,
// so connection errors, 5xx and throttling are retried, a bounded number of times with jitter.
// Credentials come from aws/credentials.h for every call, so a web identity's rotated keys are
// picked up.
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aws/credentials.h"
#include "boxoffice/base.h"
#include "boxoffice/httpc.h"
#include "boxoffice/log.h"
#include "boxoffice/objects.h"
#include "kv/internal.h" /* bx_kv_query_next: the URL query parser the backends share */
#include "objects/internal.h"

#define S3_CONNECT_TIMEOUT_MS   2000
#define S3_TIMEOUT_MS           5000 /* per attempt, before time for the bytes themselves */
#define S3_BYTES_PER_MS         1024 /* ~1 MiB/s: the slowest rate an attempt's timeout allows */
#define S3_LOW_SPEED_BYTES      1024 /* an attempt slower than this for S3_LOW_SPEED_S is cut */
#define S3_LOW_SPEED_S          10
#define S3_ATTEMPTS_MAX         3
#define S3_BACKOFF_BASE_MS      25
#define S3_BACKOFF_MAX_MS       500
#define S3_HANDLES_IDLE_MAX     32 /* curl handles kept for their open connections */
#define S3_ERROR_BODY_MAX_BYTES (64 * 1024)
#define S3_LIST_BODY_MAX_BYTES  (4 * 1024 * 1024)
#define S3_LIST_ROUNDS_MAX      8 /* pages fetched by one list call that skips foreign keys */
#define S3_PUT_MAX_BYTES        ((uint64_t)5 * 1024 * 1024 * 1024) /* S3's single-PUT limit */
#define S3_HASH_CHUNK_BYTES     (256 * 1024)
#define S3_BUCKET_MIN_BYTES     3
#define S3_BUCKET_MAX_BYTES     63
#define S3_REGION_MAX_BYTES     BX_AWS_REGION_MAX_BYTES
#define S3_TOKEN_HEADER         "x-amz-security-token: "
#define S3_BASE_MAX_BYTES       (BX_KV_QUERY_VALUE_MAX_BYTES + S3_BUCKET_MAX_BYTES + 64)
#define S3_URL_MAX_BYTES        (S3_BASE_MAX_BYTES + 3 * 2 * BX_OBJECT_KEY_MAX_BYTES + 128)
#define S3_EMPTY_SHA256         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct s3 {
    char bucket[S3_BUCKET_MAX_BYTES + 1];
    char region[S3_REGION_MAX_BYTES + 1];
    char base[S3_BASE_MAX_BYTES]; /* the bucket's URL, no trailing '/' */
    bool vhost;                   /* base names the bucket in its host name */
    char sigv4[sizeof "aws:amz::s3" + S3_REGION_MAX_BYTES];
    struct bx_aws_provider aws; /* asked for keys at every call */
    pthread_mutex_t lock;
    CURL *idle[S3_HANDLES_IDLE_MAX];
    size_t n_idle;
};

/* One request: what to send and what to accept back. */
struct request {
    const char *method; /* GET, HEAD, PUT, DELETE */
    const char *url;
    const char *key;          /* for messages; "" for the bucket */
    const char *content_type; /* PUT */
    const char *sha256_hex;   /* of the body */
    const char *bytes;        /* PUT from memory, or */
    int fd;                   /* PUT from a file (-1: none) */
    uint64_t upload_len;
    size_t max_bytes; /* largest 2xx body accepted */
};

/* What came back. */
struct reply {
    long status; /* 0 when no response arrived */
    char *body;  /* 2xx: the body (NUL-terminated); otherwise the start of the error document */
    size_t len;
    bool too_large; /* a 2xx body longer than max_bytes */
    bool source_changed;
    char code[64]; /* S3's error code, "" when none */
    char message[160];
    struct bx_object_info info;
};

struct upload {
    const char *bytes;
    int fd;
    uint64_t len;
    uint64_t off;
    bool short_read;
};

struct download {
    CURL *c;
    struct reply *r;
    size_t max_bytes;
    size_t limit; /* max_bytes for a 2xx, S3_ERROR_BODY_MAX_BYTES otherwise */
    size_t cap;
    bool started;
    bool success; /* a 2xx: the body is the answer, not an error document */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static bool bucket_valid(const char *s, size_t n) {
    if (n < S3_BUCKET_MIN_BYTES || n > S3_BUCKET_MAX_BYTES) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        bool edge = i == 0 || i == n - 1;
        if (!(alnum || (!edge && (c == '-' || c == '.'))) || (c == '.' && s[i - 1] == '.')) {
            return false;
        }
    }
    return true;
}

static bool endpoint_valid(const char *s) {
    return (strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0) &&
           strpbrk(s, " \t\r\n?#") == NULL;
}

/* Parses the URL and finds the credentials (aws/credentials.h) for s. */
static enum bx_err s3_init(struct s3 *s, const char *url, struct bx_error *err) {
    memset(s, 0, sizeof *s);
    static const char prefix[] = "s3://";
    if (strncmp(url, prefix, sizeof prefix - 1) != 0) {
        return bx_objects_fail(err, BX_BAD_REQUEST, NULL,
                               "object store URL \"%.80s\": want s3://BUCKET?region=R", url);
    }
    const char *b = url + sizeof prefix - 1;
    size_t bucket_len = strcspn(b, "?");
    if (!bucket_valid(b, bucket_len)) {
        return bx_objects_fail(err, BX_BAD_REQUEST, NULL,
                               "object store URL \"%.80s\": a bucket name is 3-63 of [a-z0-9.-], "
                               "starting and ending with a letter or digit",
                               url);
    }
    memcpy(s->bucket, b, bucket_len);
    s->bucket[bucket_len] = '\0';
    const char *q = b[bucket_len] == '?' ? b + bucket_len + 1 : b + bucket_len;
    char name[BX_KV_QUERY_NAME_MAX_BYTES], value[BX_KV_QUERY_VALUE_MAX_BYTES];
    char endpoint[BX_KV_QUERY_VALUE_MAX_BYTES] = "";
    int path_style = -1; /* not given */
    int r;
    while ((r = bx_kv_query_next(&q, name, value)) == 1) {
        if (strcmp(name, "region") == 0 && bx_aws_region_valid(value)) {
            bx_strlcpy(s->region, value, sizeof s->region);
        } else if (strcmp(name, "endpoint") == 0 && endpoint_valid(value)) {
            size_t n = strlen(value);
            while (n > 0 && value[n - 1] == '/') {
                value[--n] = '\0';
            }
            bx_strlcpy(endpoint, value, sizeof endpoint);
        } else if (strcmp(name, "path_style") == 0 &&
                   (strcmp(value, "0") == 0 || strcmp(value, "1") == 0)) {
            path_style = value[0] == '1';
        } else {
            return bx_objects_fail(err, BX_BAD_REQUEST, NULL,
                                   "object store URL \"%.80s\": unknown or bad parameter \"%s\" "
                                   "(region=R, endpoint=http[s]://HOST[:PORT], path_style=0|1)",
                                   url, name);
        }
    }
    if (r < 0) {
        return bx_objects_fail(err, BX_BAD_REQUEST, NULL, "object store URL \"%.80s\": malformed",
                               url);
    }
    if (s->region[0] == '\0') {
        return bx_objects_fail(err, BX_BAD_REQUEST, NULL,
                               "object store URL \"%.80s\": region= is required", url);
    }
    if (endpoint[0] != '\0' && path_style == 0) {
        return bx_objects_fail(err, BX_BAD_REQUEST, NULL,
                               "object store URL \"%.80s\": an endpoint is always addressed "
                               "path-style (ENDPOINT/BUCKET/KEY); drop path_style=0",
                               url);
    }
    if (endpoint[0] != '\0') {
        snprintf(s->base, sizeof s->base, "%s/%s", endpoint, s->bucket);
    } else if (path_style == 1 || strchr(s->bucket, '.') != NULL) {
        /* a dotted bucket name does not match S3's wildcard TLS certificate as a host name */
        snprintf(s->base, sizeof s->base, "https://s3.%s.amazonaws.com/%s", s->region, s->bucket);
    } else {
        snprintf(s->base, sizeof s->base, "https://%s.s3.%s.amazonaws.com", s->bucket, s->region);
        s->vhost = true;
    }
    snprintf(s->sigv4, sizeof s->sigv4, "aws:amz:%s:s3", s->region);
    struct bx_error cred_err = {0};
    enum bx_err e = bx_aws_provider_init(&s->aws, s->region, &cred_err);
    if (e != BX_OK) {
        sodium_memzero(s, sizeof *s);
        return bx_objects_fail(err, e, NULL, "%s", cred_err.message);
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_once(&curl_once, curl_init_once);
    return BX_OK;
}

static void s3_fini(struct s3 *s) {
    for (size_t i = 0; i < s->n_idle; i++) {
        curl_easy_cleanup(s->idle[i]);
    }
    pthread_mutex_destroy(&s->lock);
    bx_aws_provider_fini(&s->aws);
    sodium_memzero(s, sizeof *s);
}

/* A handle with open connections when one is idle, a new one otherwise. */
static CURL *handle_take(struct s3 *s) {
    CURL *c = NULL;
    pthread_mutex_lock(&s->lock);
    if (s->n_idle > 0) {
        c = s->idle[--s->n_idle];
    }
    pthread_mutex_unlock(&s->lock);
    if (c == NULL) {
        c = curl_easy_init();
    } else {
        curl_easy_reset(c); /* keeps the connection and DNS caches */
    }
    return c;
}

static void handle_give(struct s3 *s, CURL *c) {
    pthread_mutex_lock(&s->lock);
    if (s->n_idle < S3_HANDLES_IDLE_MAX) {
        s->idle[s->n_idle++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&s->lock);
    if (c != NULL) {
        curl_easy_cleanup(c);
    }
}

/* Appends s, RFC 3986-encoded as SigV4 wants it (unreserved bytes as they are, every other byte
 * as %XX, '/' kept only when keep_slash), to out at *pos; false when it does not fit. */
static bool uri_encode(char *out, size_t size, size_t *pos, const char *s, bool keep_slash) {
    static const char hex[] = "0123456789ABCDEF";
    size_t o = *pos;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        unsigned char c = *p;
        bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/');
        size_t need = plain ? 1 : 3;
        if (o + need >= size) {
            return false;
        }
        if (plain) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    *pos = o;
    return true;
}

static bool append(char *out, size_t size, size_t *pos, const char *s) {
    size_t n = strlen(s);
    if (*pos + n >= size) {
        return false;
    }
    memcpy(out + *pos, s, n + 1);
    *pos += n;
    return true;
}

/* The URL of an object: BASE/KEY. */
static void object_url(const struct s3 *s, const char *key, char out[static S3_URL_MAX_BYTES]) {
    size_t pos = 0;
    bool ok = append(out, S3_URL_MAX_BYTES, &pos, s->base) &&
              append(out, S3_URL_MAX_BYTES, &pos, "/") &&
              uri_encode(out, S3_URL_MAX_BYTES, &pos, key, true);
    BX_ASSERT(ok); /* sized for the longest base and key */
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *userp) {
    struct upload *u = userp;
    size_t n = size * nitems;
    uint64_t left = u->len - u->off;
    if (n > left) {
        n = (size_t)left;
    }
    if (n == 0) {
        return 0;
    }
    if (u->fd < 0) {
        memcpy(buf, u->bytes + u->off, n);
    } else {
        ssize_t r;
        do {
            r = pread(u->fd, buf, n, (off_t)u->off);
        } while (r < 0 && errno == EINTR);
        if (r <= 0) {
            u->short_read = true; /* the file shrank after it was hashed */
            return CURL_READFUNC_ABORT;
        }
        n = (size_t)r;
    }
    u->off += n;
    return n;
}

static int on_seek(void *userp, curl_off_t offset, int origin) {
    struct upload *u = userp;
    if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > u->len) {
        return CURL_SEEKFUNC_FAIL;
    }
    u->off = (uint64_t)offset;
    return CURL_SEEKFUNC_OK;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp) {
    struct download *d = userp;
    struct reply *r = d->r;
    size_t n = size * nmemb;
    if (!d->started) {
        d->started = true;
        long status = 0;
        curl_off_t length = -1;
        curl_easy_getinfo(d->c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(d->c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
        d->success = status >= 200 && status < 300;
        d->limit = d->success ? d->max_bytes : S3_ERROR_BODY_MAX_BYTES;
        if (d->success && length > (curl_off_t)d->max_bytes) {
            r->too_large = true; /* known before a byte of it is read */
            return 0;
        }
        if (length > 0 && (uint64_t)length <= d->limit) {
            r->body = malloc((size_t)length + 1);
            if (r->body == NULL) {
                return 0;
            }
            d->cap = (size_t)length + 1;
        }
    }
    if (r->len + n > d->limit) {
        if (d->success) {
            r->too_large = true;
            return 0;
        }
        n = d->limit - r->len; /* the start of an error document is enough */
        if (n == 0) {
            return size * nmemb;
        }
    }
    if (r->len + n + 1 > d->cap) {
        size_t cap = d->cap == 0 ? 4096 : d->cap;
        while (cap < r->len + n + 1) {
            cap *= 2;
        }
        char *p = realloc(r->body, cap);
        if (p == NULL) {
            return 0;
        }
        r->body = p;
        d->cap = cap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    r->body[r->len] = '\0';
    return size * nmemb;
}

/* Copies the text of the first <tag>...</tag> in doc into out, "" when absent; no entity
 * decoding (codes and messages are for logs). */
static void xml_text(const char *doc, const char *tag, char *out, size_t size) {
    out[0] = '\0';
    if (doc == NULL) {
        return;
    }
    char open[48], close[48];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    const char *a = strstr(doc, open);
    const char *b = a != NULL ? strstr(a, close) : NULL;
    if (b == NULL) {
        return;
    }
    a += strlen(open);
    size_t n = (size_t)(b - a);
    if (n >= size) {
        n = size - 1;
    }
    memcpy(out, a, n);
    out[n] = '\0';
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)out[i] < 0x20) {
            out[i] = ' ';
        }
    }
}

/* The entity tag of a response, without S3's quotes. */
static void read_etag(CURL *c, char *out, size_t size) {
    struct curl_header *h = NULL;
    out[0] = '\0';
    if (curl_easy_header(c, "ETag", 0, CURLH_HEADER, -1, &h) != CURLHE_OK || h == NULL) {
        return;
    }
    const char *v = h->value;
    size_t n = strlen(v);
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
        v++;
        n -= 2;
    }
    if (n >= size) {
        return;
    }
    memcpy(out, v, n);
    out[n] = '\0';
}

static void read_info(CURL *c, struct reply *r) {
    curl_off_t length = -1, filetime = -1;
    const char *type = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
    curl_easy_getinfo(c, CURLINFO_FILETIME_T, &filetime);
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &type);
    r->info.size = length > 0 ? (uint64_t)length : 0;
    r->info.modified_unix_s = filetime > 0 ? (int64_t)filetime : 0;
    read_etag(c, r->info.etag, sizeof r->info.etag);
    if (type == NULL || !bx_objects_content_type_valid(type)) {
        type = BX_OBJECTS_CONTENT_TYPE_DEFAULT;
    }
    bx_strlcpy(r->info.content_type, type, sizeof r->info.content_type);
}

/* Full jitter: a uniform pause in [0, min(base * 2^attempt, max)). */
static int64_t backoff_ms(unsigned attempt) {
    int64_t cap = (int64_t)S3_BACKOFF_BASE_MS << attempt;
    if (cap > S3_BACKOFF_MAX_MS) {
        cap = S3_BACKOFF_MAX_MS;
    }
    uint32_t rnd;
    bx_random_bytes(&rnd, sizeof rnd);
    return (int64_t)(rnd % (uint32_t)cap);
}

static bool retryable_status(long status, const char *code) {
    return status >= 500 || status == 429 ||
           (status == 400 &&
            (strcmp(code, "RequestTimeout") == 0 || strcmp(code, "SlowDown") == 0));
}

/* Sends one request, retried as needed. BX_OK with r filled on a 2xx; BX_NOT_FOUND on a 404
 * (BX_UNAVAILABLE for NoSuchBucket: the store is misconfigured, not the key absent);
 * BX_PAYLOAD_TOO_LARGE when a 2xx body passed req->max_bytes; BX_UNAVAILABLE for everything else,
 * with S3's status and error code in err and in the log. 403 is BX_UNAVAILABLE too: it means our
 * credentials or policy refuse us, a fault of this deployment that the caller's client cannot
 * fix, so it must not reach them as their own 403. No credentials to sign with is BX_UNAVAILABLE
 * as well. */
static enum bx_err call(struct s3 *s, const struct request *req, struct reply *r,
                        struct bx_error *err) {
    memset(r, 0, sizeof *r);
    /* asked at every call: the keys of a web identity change as they are refreshed */
    struct bx_aws_credentials cr;
    struct bx_error cred_err = {0};
    if (bx_aws_provider_get(&s->aws, &cr, &cred_err) != BX_OK) {
        bx_warn("objects s3: %s %s/%.100s: %s", req->method, s->bucket, req->key, cred_err.message);
        return bx_objects_fail(err, BX_UNAVAILABLE, NULL, "objects s3: %s", cred_err.message);
    }
    struct curl_slist *headers = NULL;
    char sha[96], type[160], token_line[sizeof S3_TOKEN_HEADER + BX_AWS_SESSION_TOKEN_MAX_BYTES];
    snprintf(sha, sizeof sha, "x-amz-content-sha256: %s", req->sha256_hex);
    type[0] = '\0';
    if (req->content_type != NULL) {
        snprintf(type, sizeof type, "Content-Type: %s", req->content_type);
    }
    token_line[0] = '\0';
    if (cr.session_token[0] != '\0') {
        snprintf(token_line, sizeof token_line, S3_TOKEN_HEADER "%s", cr.session_token);
    }
    /* curl 7.88 signs every header given here (and host and x-amz-date), sorted */
    const char *lines[] = {sha, type[0] != '\0' ? type : NULL,
                           token_line[0] != '\0' ? token_line : NULL};
    for (size_t i = 0; i < BX_ARRAY_LEN(lines); i++) {
        if (lines[i] == NULL) {
            continue;
        }
        struct curl_slist *l = curl_slist_append(headers, lines[i]);
        if (l == NULL) {
            curl_slist_free_all(headers);
            bx_aws_credentials_wipe(&cr);
            sodium_memzero(token_line, sizeof token_line);
            return bx_objects_fail(err, BX_INTERNAL, NULL, "out of memory");
        }
        headers = l;
    }
    sodium_memzero(token_line, sizeof token_line); /* curl_slist_append copied it */
    bool is_put = strcmp(req->method, "PUT") == 0;
    bool is_head = strcmp(req->method, "HEAD") == 0;
    uint64_t transfer_bytes = is_put ? req->upload_len : req->max_bytes;
    int64_t attempt_ms = S3_TIMEOUT_MS + (int64_t)(transfer_bytes / S3_BYTES_PER_MS);
    int64_t deadline = bx_now_mono_ms() + 2 * attempt_ms;
    enum bx_err e = BX_UNAVAILABLE;
    char failure[128] = "";
    for (unsigned attempt = 0; attempt < S3_ATTEMPTS_MAX; attempt++) {
        if (attempt > 0) {
            int64_t pause_ms = backoff_ms(attempt);
            if (bx_now_mono_ms() + pause_ms + S3_CONNECT_TIMEOUT_MS >= deadline) {
                break; /* no time left for a useful attempt */
            }
            usleep((useconds_t)(pause_ms * 1000));
        }
        int64_t left_ms = deadline - bx_now_mono_ms();
        free(r->body);
        memset(r, 0, sizeof *r);
        CURL *c = handle_take(s);
        if (c == NULL) {
            e = BX_INTERNAL;
            snprintf(failure, sizeof failure, "no curl handle");
            break;
        }
        struct upload up = {.bytes = req->bytes, .fd = req->fd, .len = req->upload_len};
        struct download down = {.c = c, .r = r, .max_bytes = req->max_bytes};
        curl_easy_setopt(c, CURLOPT_URL, req->url);
        if (bx_httpc_ca_file() != NULL) {
            curl_easy_setopt(c, CURLOPT_CAINFO, bx_httpc_ca_file());
        }
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)S3_CONNECT_TIMEOUT_MS);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
                         (long)(left_ms < attempt_ms ? left_ms : attempt_ms));
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, (long)S3_LOW_SPEED_BYTES);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)S3_LOW_SPEED_S);
        curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(c, CURLOPT_AWS_SIGV4, s->sigv4);
        curl_easy_setopt(c, CURLOPT_USERNAME, cr.access_key);
        curl_easy_setopt(c, CURLOPT_PASSWORD, cr.secret_key);
        curl_easy_setopt(c, CURLOPT_FILETIME, 1L);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &down);
        if (is_put) {
            curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
            curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->upload_len);
            curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
            curl_easy_setopt(c, CURLOPT_READDATA, &up);
            curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
            curl_easy_setopt(c, CURLOPT_SEEKDATA, &up);
        } else if (is_head) {
            curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        } else if (strcmp(req->method, "GET") != 0) {
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
        }
        CURLcode rc = curl_easy_perform(c);
        if (rc == CURLE_OK) {
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
            if (r->status >= 200 && r->status < 300) {
                read_info(c, r);
            }
        }
        handle_give(s, c);
        r->source_changed = up.short_read;
        bool retry = false;
        if (r->too_large) {
            e = BX_PAYLOAD_TOO_LARGE;
            snprintf(failure, sizeof failure, "larger than %zu bytes", req->max_bytes);
        } else if (r->source_changed) {
            e = BX_UNAVAILABLE;
            snprintf(failure, sizeof failure, "the file changed while it was sent");
        } else if (rc != CURLE_OK) {
            retry = true; /* every call here is idempotent */
            e = BX_UNAVAILABLE;
            snprintf(failure, sizeof failure, "%s", curl_easy_strerror(rc));
        } else if (r->status >= 200 && r->status < 300) {
            e = BX_OK;
        } else {
            xml_text(r->body, "Code", r->code, sizeof r->code);
            xml_text(r->body, "Message", r->message, sizeof r->message);
            if (r->status == 404 && strcmp(r->code, "NoSuchBucket") != 0) {
                e = BX_NOT_FOUND;
            } else {
                retry = retryable_status(r->status, r->code);
                e = BX_UNAVAILABLE;
            }
            snprintf(failure, sizeof failure, "status %ld %s %s", r->status, r->code, r->message);
        }
        if (!retry) {
            break;
        }
    }
    curl_slist_free_all(headers);
    bx_aws_credentials_wipe(&cr);
    if (e == BX_OK) {
        return BX_OK;
    }
    free(r->body);
    r->body = NULL;
    r->len = 0;
    if (e == BX_NOT_FOUND) {
        return bx_objects_fail(err, e, "key", NULL);
    }
    if (e != BX_PAYLOAD_TOO_LARGE) {
        bx_warn("objects s3: %s %s/%.100s: %s", req->method, s->bucket, req->key, failure);
    }
    return bx_objects_fail(err, e, NULL, "objects s3: %s %s/%.100s: %s", req->method, s->bucket,
                           req->key, failure);
}

static enum bx_err s3_open(const char *url, void **ctx_out, struct bx_error *err) {
    BX_ASSERT(url != NULL && ctx_out != NULL);
    *ctx_out = NULL;
    struct s3 *s = malloc(sizeof *s);
    if (s == NULL) {
        return bx_objects_fail(err, BX_INTERNAL, NULL, "out of memory");
    }
    enum bx_err e = s3_init(s, url, err);
    if (e != BX_OK) {
        free(s);
        return e;
    }
    *ctx_out = s;
    return BX_OK;
}

static void s3_close(void *ctx) {
    struct s3 *s = ctx;
    if (s == NULL) {
        return;
    }
    s3_fini(s);
    free(s);
}

static enum bx_err put_common(struct s3 *s, const char *key, const char *content_type,
                              struct request *req, struct bx_error *err) {
    char url[S3_URL_MAX_BYTES];
    object_url(s, key, url);
    req->method = "PUT";
    req->url = url;
    req->key = key;
    req->content_type = content_type != NULL ? content_type : BX_OBJECTS_CONTENT_TYPE_DEFAULT;
    req->max_bytes = S3_ERROR_BODY_MAX_BYTES;
    struct reply r;
    enum bx_err e = call(s, req, &r, err);
    free(r.body);
    return e;
}

static enum bx_err s3_put(void *ctx, const char *key, const void *body, size_t len,
                          const char *content_type, struct bx_error *err) {
    struct s3 *s = ctx;
    BX_ASSERT(s != NULL);
    enum bx_err e = bx_objects_check_key(key, err);
    if (e != BX_OK) {
        return e;
    }
    if ((body == NULL && len > 0) || !bx_objects_content_type_valid(content_type)) {
        return bx_objects_fail(err, BX_INVALID_FIELD, body == NULL ? "body" : "content_type", NULL);
    }
    if ((uint64_t)len > S3_PUT_MAX_BYTES) {
        return bx_objects_fail(err, BX_PAYLOAD_TOO_LARGE, "body", "one S3 PUT takes at most 5 GiB");
    }
    unsigned char hash[crypto_hash_sha256_BYTES];
    char hex[crypto_hash_sha256_BYTES * 2 + 1];
    crypto_hash_sha256(hash, (const unsigned char *)(len > 0 ? body : ""), len);
    sodium_bin2hex(hex, sizeof hex, hash, sizeof hash);
    struct request req = {
        .sha256_hex = hex, .bytes = len > 0 ? body : "", .fd = -1, .upload_len = len};
    return put_common(s, key, content_type, &req, err);
}

/* SHA-256 (hex) and length of the file on fd, read to its end. */
static int hash_file(int fd, char hex[static crypto_hash_sha256_BYTES * 2 + 1], uint64_t *len_out) {
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    unsigned char *buf = malloc(S3_HASH_CHUNK_BYTES);
    if (buf == NULL) {
        return -1;
    }
    uint64_t len = 0;
    int rc = 0;
    for (;;) {
        ssize_t r = pread(fd, buf, S3_HASH_CHUNK_BYTES, (off_t)len);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            rc = r < 0 ? -1 : 0;
            break;
        }
        crypto_hash_sha256_update(&st, buf, (unsigned long long)r);
        len += (uint64_t)r;
    }
    free(buf);
    unsigned char hash[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&st, hash);
    sodium_bin2hex(hex, crypto_hash_sha256_BYTES * 2 + 1, hash, sizeof hash);
    *len_out = len;
    return rc;
}

static enum bx_err s3_put_file(void *ctx, const char *key, const char *path,
                               const char *content_type, struct bx_error *err) {
    struct s3 *s = ctx;
    BX_ASSERT(s != NULL);
    int fd;
    enum bx_err e = bx_objects_put_file_open("s3", key, path, content_type, &fd, err);
    if (e != BX_OK) {
        return e;
    }
    char hex[crypto_hash_sha256_BYTES * 2 + 1];
    uint64_t len = 0;
    if (hash_file(fd, hex, &len) != 0) {
        e = bx_objects_fail(err, BX_UNAVAILABLE, "path", "objects s3: reading %.100s: %s", path,
                            strerror(errno));
    } else if (len > S3_PUT_MAX_BYTES) {
        e = bx_objects_fail(err, BX_PAYLOAD_TOO_LARGE, "path", "one S3 PUT takes at most 5 GiB");
    } else {
        struct request req = {.sha256_hex = hex, .fd = fd, .upload_len = len};
        e = put_common(s, key, content_type, &req, err);
    }
    close(fd);
    return e;
}

static enum bx_err s3_get(void *ctx, const char *key, size_t max_bytes, char **body_out,
                          size_t *len_out, struct bx_object_info *info, struct bx_error *err) {
    struct s3 *s = ctx;
    BX_ASSERT(s != NULL && body_out != NULL && len_out != NULL);
    *body_out = NULL;
    *len_out = 0;
    enum bx_err e = bx_objects_check_key(key, err);
    if (e != BX_OK) {
        return e;
    }
    if (max_bytes == 0 || max_bytes > BX_OBJECT_MAX_BYTES) {
        max_bytes = BX_OBJECT_MAX_BYTES;
    }
    char url[S3_URL_MAX_BYTES];
    object_url(s, key, url);
    struct request req = {.method = "GET",
                          .url = url,
                          .key = key,
                          .sha256_hex = S3_EMPTY_SHA256,
                          .fd = -1,
                          .max_bytes = max_bytes};
    struct reply r;
    e = call(s, &req, &r, err);
    if (e != BX_OK) {
        return e;
    }
    if (r.body == NULL) { /* an empty object */
        r.body = malloc(1);
        if (r.body == NULL) {
            return bx_objects_fail(err, BX_INTERNAL, NULL, "out of memory");
        }
        r.body[0] = '\0';
    }
    if (info != NULL) {
        *info = r.info;
        info->size = r.len;
    }
    *body_out = r.body;
    *len_out = r.len;
    return BX_OK;
}

static enum bx_err s3_head(void *ctx, const char *key, struct bx_object_info *info,
                           struct bx_error *err) {
    struct s3 *s = ctx;
    BX_ASSERT(s != NULL);
    enum bx_err e = bx_objects_check_key(key, err);
    if (e != BX_OK) {
        return e;
    }
    char url[S3_URL_MAX_BYTES];
    object_url(s, key, url);
    struct request req = {.method = "HEAD",
                          .url = url,
                          .key = key,
                          .sha256_hex = S3_EMPTY_SHA256,
                          .fd = -1,
                          .max_bytes = S3_ERROR_BODY_MAX_BYTES};
    struct reply r;
    e = call(s, &req, &r, err);
    free(r.body);
    if (e == BX_OK && info != NULL) {
        *info = r.info;
    }
    return e;
}

static enum bx_err s3_del(void *ctx, const char *key, struct bx_error *err) {
    struct s3 *s = ctx;
    BX_ASSERT(s != NULL);
    enum bx_err e = bx_objects_check_key(key, err);
    if (e != BX_OK) {
        return e;
    }
    char url[S3_URL_MAX_BYTES];
    object_url(s, key, url);
    struct request req = {.method = "DELETE",
                          .url = url,
                          .key = key,
                          .sha256_hex = S3_EMPTY_SHA256,
                          .fd = -1,
                          .max_bytes = S3_ERROR_BODY_MAX_BYTES};
    struct reply r;
    e = call(s, &req, &r, err);
    free(r.body);
    return e == BX_NOT_FOUND ? BX_OK : e; /* S3 says 204 either way; others may say 404 */
}

/* Appends code point cp as UTF-8; false when it does not fit or is not a character. */
static bool put_utf8(char *out, size_t size, size_t *o, uint32_t cp) {
    unsigned char b[4];
    size_t n;
    if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return false;
    }
    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (unsigned char)(0xC0 | (cp >> 6));
        b[1] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (unsigned char)(0xE0 | (cp >> 12));
        b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (unsigned char)(0xF0 | (cp >> 18));
        b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    if (*o + n >= size) {
        return false;
    }
    memcpy(out + *o, b, n);
    *o += n;
    return true;
}

/* Decodes the XML text src[0, n) (the five named entities and numeric references), then, when
 * url_encoded, its %XX escapes, into out; false when malformed or longer than size - 1. */
static bool decode_key(const char *src, size_t n, bool url_encoded, char *out, size_t size) {
    static const struct {
        const char *name;
        char c;
    } named[] = {{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}};
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (src[i] != '&') {
            if (o + 1 >= size) {
                return false;
            }
            out[o++] = src[i++];
            continue;
        }
        const char *semi = memchr(src + i, ';', n - i);
        if (semi == NULL) {
            return false;
        }
        size_t ent_len = (size_t)(semi - (src + i)) + 1; /* "&...;" */
        bool done = false;
        for (size_t k = 0; k < BX_ARRAY_LEN(named) && !done; k++) {
            size_t name_len = strlen(named[k].name);
            if (ent_len == name_len + 1 && memcmp(src + i + 1, named[k].name, name_len) == 0) {
                if (o + 1 >= size) {
                    return false;
                }
                out[o++] = named[k].c;
                done = true;
            }
        }
        if (!done) {
            if (ent_len < 4 || src[i + 1] != '#' || ent_len > 12) {
                return false;
            }
            bool hex = src[i + 2] == 'x' || src[i + 2] == 'X';
            uint32_t cp = 0;
            size_t digits = 0;
            for (size_t k = i + (hex ? 3 : 2); k < i + ent_len - 1; k++, digits++) {
                int v = hex ? bx_hex_value(src[k])
                            : (src[k] >= '0' && src[k] <= '9' ? src[k] - '0' : -1);
                if (v < 0) {
                    return false;
                }
                cp = cp * (hex ? 16u : 10u) + (uint32_t)v;
            }
            if (digits == 0 || !put_utf8(out, size, &o, cp)) {
                return false;
            }
        }
        i += ent_len;
    }
    out[o] = '\0';
    if (!url_encoded) {
        return true;
    }
    size_t w = 0;
    for (size_t i = 0; i < o; i++) {
        char c = out[i];
        if (c == '%') {
            int hi = i + 2 < o ? bx_hex_value(out[i + 1]) : -1;
            int lo = i + 2 < o ? bx_hex_value(out[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                return false;
            }
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+') {
            c = ' '; /* S3's "url" encoding is form encoding */
        }
        out[w++] = c;
    }
    out[w] = '\0';
    return true;
}

/* One ListObjectsV2 page: keys after `after` (any bytes; "" for the start). */
static enum bx_err list_page(struct s3 *s, const char *prefix, const char *after, size_t max_keys,
                             struct reply *r, struct bx_error *err) {
    char url[S3_URL_MAX_BYTES];
    size_t pos = 0;
    char n[24];
    snprintf(n, sizeof n, "%zu", max_keys);
    /* the query in SigV4's canonical order (sorted by name), since curl 7.88 signs it as sent */
    bool ok = append(url, sizeof url, &pos, s->base) &&
              append(url, sizeof url, &pos, s->vhost ? "/?" : "?") &&
              append(url, sizeof url, &pos, "encoding-type=url&list-type=2&max-keys=") &&
              append(url, sizeof url, &pos, n);
    if (ok && prefix[0] != '\0') {
        ok = append(url, sizeof url, &pos, "&prefix=") &&
             uri_encode(url, sizeof url, &pos, prefix, false);
    }
    if (ok && after[0] != '\0') {
        ok = append(url, sizeof url, &pos, "&start-after=") &&
             uri_encode(url, sizeof url, &pos, after, false);
    }
    BX_ASSERT(ok); /* sized for the longest base, prefix and after */
    struct request req = {.method = "GET",
                          .url = url,
                          .key = "",
                          .sha256_hex = S3_EMPTY_SHA256,
                          .fd = -1,
                          .max_bytes = S3_LIST_BODY_MAX_BYTES};
    return call(s, &req, r, err);
}

static enum bx_err s3_list(void *ctx, const char *prefix, const char *after, size_t limit,
                           struct bx_object_list *out, struct bx_error *err) {
    struct s3 *s = ctx;
    BX_ASSERT(s != NULL && out != NULL);
    enum bx_err e = bx_objects_list_begin(prefix, after, limit, out, err);
    if (e != BX_OK) {
        return e;
    }
    /* keys that are not ours (written by other tools, outside objects.h's rules) are skipped;
     * the next page then starts after the last key S3 returned, ours or not */
    char from[BX_OBJECT_KEY_MAX_BYTES + 1];
    bx_strlcpy(from, after != NULL ? after : "", sizeof from);
    char key[BX_OBJECT_KEY_MAX_BYTES + 1];
    bool more = true;
    for (unsigned round = 0; round < S3_LIST_ROUNDS_MAX && more && out->n < limit; round++) {
        struct reply r;
        e = list_page(s, prefix, from, limit - out->n, &r, err);
        if (e != BX_OK) {
            goto out;
        }
        const char *doc = r.body != NULL ? r.body : "";
        if (strstr(doc, "<ListBucketResult") == NULL) {
            free(r.body);
            e = bx_objects_fail(err, BX_UNAVAILABLE, NULL,
                                "objects s3: list of %s: not a ListBucketResult", s->bucket);
            goto out;
        }
        bool url_encoded = strstr(doc, "<EncodingType>url</EncodingType>") != NULL;
        more = strstr(doc, "<IsTruncated>true</IsTruncated>") != NULL;
        size_t seen = 0;
        for (const char *p = strstr(doc, "<Contents>"); p != NULL && e == BX_OK;
             p = strstr(p, "<Contents>")) {
            const char *end = strstr(p, "</Contents>");
            const char *k = strstr(p, "<Key>");
            const char *k_end = k != NULL ? strstr(k, "</Key>") : NULL;
            if (end == NULL || k == NULL || k_end == NULL || k_end > end) {
                e = BX_UNAVAILABLE;
                break;
            }
            k += strlen("<Key>");
            if (!decode_key(k, (size_t)(k_end - k), url_encoded, key, sizeof key) ||
                strncmp(key, prefix, strlen(prefix)) != 0 || strcmp(key, from) <= 0) {
                e = BX_UNAVAILABLE; /* malformed, or not the order and range we asked for */
                break;
            }
            bx_strlcpy(from, key, sizeof from);
            seen++;
            if (bx_object_key_valid(key)) {
                if (out->n == limit) { /* a server that sent more than max-keys */
                    more = true;
                    break;
                }
                if (bx_objects_list_push(out, limit, key, strlen(key)) != BX_OK) {
                    e = BX_INTERNAL;
                    break;
                }
            }
            p = end;
        }
        free(r.body);
        if (e != BX_OK) {
            e = bx_objects_fail(err, e, NULL, "objects s3: list of %s: %s", s->bucket,
                                e == BX_INTERNAL ? "out of memory"
                                                 : "a malformed or unordered page");
            bx_warn("objects s3: list of %s: a malformed or unordered page", s->bucket);
            goto out;
        }
        if (more && seen == 0) {
            e = bx_objects_fail(err, BX_UNAVAILABLE, NULL,
                                "objects s3: list of %s: a truncated page without keys", s->bucket);
            goto out;
        }
    }
    if (more && out->n == 0) {
        /* only foreign keys for S3_LIST_ROUNDS_MAX pages: the caller could not move on */
        e = bx_objects_fail(err, BX_UNAVAILABLE, NULL,
                            "objects s3: list of %s: %d pages of keys that are not ours", s->bucket,
                            S3_LIST_ROUNDS_MAX);
        goto out;
    }
    out->truncated = more;
    e = BX_OK;
out:
    if (e != BX_OK) {
        bx_objects_list_free(out);
    }
    return e;
}

static enum bx_err s3_ping(void *ctx) {
    struct s3 *s = ctx;
    BX_ASSERT(s != NULL);
    char url[S3_URL_MAX_BYTES];
    snprintf(url, sizeof url, "%s%s", s->base, s->vhost ? "/" : "");
    struct request req = {.method = "HEAD",
                          .url = url,
                          .key = "",
                          .sha256_hex = S3_EMPTY_SHA256,
                          .fd = -1,
                          .max_bytes = S3_ERROR_BODY_MAX_BYTES};
    struct reply r;
    enum bx_err e = call(s, &req, &r, NULL);
    free(r.body);
    return e == BX_OK ? BX_OK : BX_UNAVAILABLE; /* 404 here: no such bucket */
}

const struct bx_objects_ops bx_objects_s3 = {
    .scheme = "s3",
    .open = s3_open,
    .close = s3_close,
    .put = s3_put,
    .put_file = s3_put_file,
    .get = s3_get,
    .head = s3_head,
    .list = s3_list,
    .del = s3_del,
    .ping = s3_ping,
};
