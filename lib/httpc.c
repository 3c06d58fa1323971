// SPDX-License-Identifier: Apache-2.0
// Outbound HTTP client on libcurl: bounded timeouts, bounded retries with full-jitter backoff for
// idempotent methods, capped response bodies; and an asynchronous pool (one thread, curl multi)
// with a bounded number of requests in flight.
#include "boxoffice/httpc.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "boxoffice/base.h"
#include "boxoffice/log.h"

#define BACKOFF_BASE_MS 50
#define BACKOFF_MAX_MS  2000

const char *bx_httpc_ca_file(void) {
    const char *f = getenv("SSL_CERT_FILE");
    return f != NULL && f[0] != '\0' ? f : NULL;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct transfer {
    struct bx_httpc_response *resp;
    size_t max_body;
    bool too_large;
    struct curl_slist *headers;
    char *method, *url;
    void *body;
    size_t body_len;
    bx_httpc_done_fn done;
    void *arg;
    CURL *easy;
    struct transfer *next;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp) {
    struct transfer *t = userp;
    size_t n = size * nmemb;
    struct bx_httpc_response *r = t->resp;
    if (r->body_len + n > t->max_body) {
        t->too_large = true;
        return 0;
    }
    char *p = realloc(r->body, r->body_len + n + 1);
    if (p == NULL) {
        return 0;
    }
    memcpy(p + r->body_len, data, n);
    r->body = p;
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userp) {
    struct transfer *t = userp;
    size_t n = size * nmemb;
    struct bx_httpc_response *r = t->resp;
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        /* a new response (after a redirect or 100-continue): forget earlier headers */
        for (size_t i = 0; i < r->n_headers; i++) {
            free(r->headers[i]);
        }
        r->n_headers = 0;
        return n;
    }
    size_t len = n;
    while (len > 0 && (data[len - 1] == '\r' || data[len - 1] == '\n')) {
        len--;
    }
    if (len == 0 || memchr(data, ':', len) == NULL || r->n_headers == BX_HTTPC_HEADERS_MAX) {
        return n;
    }
    char *h = malloc(len + 1);
    if (h == NULL) {
        return 0;
    }
    memcpy(h, data, len);
    h[len] = '\0';
    r->headers[r->n_headers++] = h;
    return n;
}

static void reset_response(struct bx_httpc_response *r) {
    bx_httpc_response_free(r);
    memset(r, 0, sizeof *r);
}

void bx_httpc_response_free(struct bx_httpc_response *r) {
    free(r->body);
    r->body = NULL;
    r->body_len = 0;
    for (size_t i = 0; i < r->n_headers; i++) {
        free(r->headers[i]);
    }
    r->n_headers = 0;
}

const char *bx_httpc_header(const struct bx_httpc_response *r, const char *name) {
    size_t n = strlen(name);
    for (size_t i = 0; i < r->n_headers; i++) {
        if (strncasecmp(r->headers[i], name, n) == 0 && r->headers[i][n] == ':') {
            const char *v = r->headers[i] + n + 1;
            while (*v == ' ' || *v == '\t') {
                v++;
            }
            return v;
        }
    }
    return NULL;
}

static CURL *setup(struct transfer *t, const struct bx_httpc_request *req) {
    CURL *c = curl_easy_init();
    if (c == NULL) {
        return NULL;
    }
    t->max_body = req->max_body_bytes ? req->max_body_bytes : BX_HTTPC_DEFAULT_MAX_BODY_BYTES;
    curl_easy_setopt(c, CURLOPT_URL, req->url);
    if (bx_httpc_ca_file() != NULL) {
        curl_easy_setopt(c, CURLOPT_CAINFO, bx_httpc_ca_file());
    }
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(req->connect_timeout_ms > 0 ? req->connect_timeout_ms : 2000));
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(req->timeout_ms > 0 ? req->timeout_ms : 10000));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (strcmp(req->method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    }
    if (req->body != NULL || strcmp(req->method, "POST") == 0 || strcmp(req->method, "PUT") == 0 ||
        strcmp(req->method, "PATCH") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? req->body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    }
    t->headers = curl_slist_append(NULL, "Expect:");
    for (size_t i = 0; req->headers != NULL && req->headers[i] != NULL; i++) {
        struct curl_slist *l = curl_slist_append(t->headers, req->headers[i]);
        if (l != NULL) {
            t->headers = l;
        }
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, t->headers);
    return c;
}

static enum bx_err map_result(CURLcode rc, const struct transfer *t) {
    if (rc == CURLE_OK) {
        return BX_OK;
    }
    if (rc == CURLE_OPERATION_TIMEDOUT) {
        return BX_UPSTREAM_TIMEOUT;
    }
    (void)t;
    return BX_BAD_GATEWAY;
}

static bool idempotent(const char *m) {
    return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 || strcmp(m, "PUT") == 0 ||
           strcmp(m, "DELETE") == 0;
}

enum bx_err bx_httpc_do(const struct bx_httpc_request *req, struct bx_httpc_response *out) {
    pthread_once(&curl_once, curl_init_once);
    memset(out, 0, sizeof *out);
    unsigned attempts = req->max_attempts ? req->max_attempts : 1;
    if (attempts > BX_HTTPC_ATTEMPTS_MAX) {
        attempts = BX_HTTPC_ATTEMPTS_MAX;
    }
    if (!idempotent(req->method)) {
        attempts = 1;
    }
    enum bx_err e = BX_BAD_GATEWAY;
    for (unsigned a = 0; a < attempts; a++) {
        if (a > 0) {
            int64_t cap = BACKOFF_BASE_MS << (a - 1);
            if (cap > BACKOFF_MAX_MS) {
                cap = BACKOFF_MAX_MS;
            }
            uint32_t r;
            bx_random_bytes(&r, sizeof r);
            usleep((useconds_t)((int64_t)(r % (uint32_t)cap) * 1000));
        }
        reset_response(out);
        struct transfer t = {.resp = out};
        CURL *c = setup(&t, req);
        if (c == NULL) {
            return BX_INTERNAL;
        }
        CURLcode rc = curl_easy_perform(c);
        e = map_result(rc, &t);
        if (e == BX_OK) {
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
        }
        curl_slist_free_all(t.headers);
        curl_easy_cleanup(c);
        bool retry = e != BX_OK || out->status == 502 || out->status == 503 || out->status == 504;
        if (!retry) {
            break;
        }
    }
    if (e != BX_OK) {
        reset_response(out);
    }
    return e;
}

struct bx_httpc_pool {
    pthread_t thread;
    pthread_mutex_t lock;
    CURLM *multi;
    struct transfer *queue; /* submitted, not yet added to multi */
    size_t inflight, max_inflight;
    bool stopping;
};

static void finish(struct bx_httpc_pool *p, struct transfer *t, enum bx_err e) {
    t->done(t->arg, e, t->resp);
    bx_httpc_response_free(t->resp);
    free(t->resp);
    if (t->easy != NULL) {
        curl_multi_remove_handle(p->multi, t->easy);
        curl_easy_cleanup(t->easy);
    }
    curl_slist_free_all(t->headers);
    free(t->method);
    free(t->url);
    free(t->body);
    free(t);
    pthread_mutex_lock(&p->lock);
    p->inflight--;
    pthread_mutex_unlock(&p->lock);
}

static void *pool_main(void *arg) {
    struct bx_httpc_pool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        struct transfer *q = p->queue;
        p->queue = NULL;
        bool stopping = p->stopping;
        pthread_mutex_unlock(&p->lock);
        while (q != NULL) {
            struct transfer *next = q->next;
            if (stopping) {
                finish(p, q, BX_UNAVAILABLE);
            } else {
                curl_easy_setopt(q->easy, CURLOPT_PRIVATE, q);
                curl_multi_add_handle(p->multi, q->easy);
            }
            q = next;
        }
        int running = 0;
        curl_multi_perform(p->multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(p->multi, &left)) != NULL) {
            if (m->msg != CURLMSG_DONE) {
                continue;
            }
            struct transfer *t = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
            enum bx_err e = map_result(m->data.result, t);
            if (e == BX_OK) {
                curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->resp->status);
            } else {
                bx_httpc_response_free(t->resp);
            }
            finish(p, t, e);
        }
        if (stopping) {
            /* what still runs ends within its own timeout */
            pthread_mutex_lock(&p->lock);
            size_t left_inflight = p->inflight;
            pthread_mutex_unlock(&p->lock);
            if (left_inflight == 0) {
                break;
            }
        }
        curl_multi_poll(p->multi, NULL, 0, stopping ? 10 : 100, NULL);
    }
    return NULL;
}

struct bx_httpc_pool *bx_httpc_pool_new(size_t max_inflight) {
    pthread_once(&curl_once, curl_init_once);
    struct bx_httpc_pool *p = calloc(1, sizeof *p);
    if (p == NULL) {
        return NULL;
    }
    p->max_inflight = max_inflight;
    pthread_mutex_init(&p->lock, NULL);
    p->multi = curl_multi_init();
    if (p->multi == NULL || pthread_create(&p->thread, NULL, pool_main, p) != 0) {
        if (p->multi != NULL) {
            curl_multi_cleanup(p->multi);
        }
        pthread_mutex_destroy(&p->lock);
        free(p);
        return NULL;
    }
    return p;
}

/* Frees a transfer that never reached the pool's thread. */
static void transfer_discard(struct transfer *t) {
    if (t->easy != NULL) {
        curl_easy_cleanup(t->easy);
    }
    curl_slist_free_all(t->headers);
    free(t->method);
    free(t->url);
    free(t->body);
    free(t->resp);
    free(t);
}

enum bx_err bx_httpc_pool_submit(struct bx_httpc_pool *p, const struct bx_httpc_request *req,
                                 bx_httpc_done_fn done, void *arg) {
    struct transfer *t = calloc(1, sizeof *t);
    if (t == NULL) {
        return BX_UNAVAILABLE;
    }
    t->resp = calloc(1, sizeof *t->resp);
    t->done = done;
    t->arg = arg;
    t->method = strdup(req->method);
    t->url = strdup(req->url);
    if (req->body_len > 0 && (t->body = malloc(req->body_len)) != NULL) {
        memcpy(t->body, req->body, req->body_len);
    }
    if (t->resp == NULL || t->method == NULL || t->url == NULL ||
        (req->body_len > 0 && t->body == NULL)) {
        goto fail;
    }
    struct bx_httpc_request copy = *req;
    copy.method = t->method;
    copy.url = t->url;
    copy.body = t->body;
    if ((t->easy = setup(t, &copy)) == NULL) {
        goto fail;
    }
    pthread_mutex_lock(&p->lock);
    if (p->stopping || p->inflight >= p->max_inflight) {
        pthread_mutex_unlock(&p->lock);
        goto fail;
    }
    p->inflight++;
    t->next = p->queue;
    p->queue = t;
    pthread_mutex_unlock(&p->lock);
    curl_multi_wakeup(p->multi);
    return BX_OK;
fail:
    transfer_discard(t);
    return BX_UNAVAILABLE;
}

void bx_httpc_pool_free(struct bx_httpc_pool *p) {
    if (p == NULL) {
        return;
    }
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_mutex_unlock(&p->lock);
    curl_multi_wakeup(p->multi);
    pthread_join(p->thread, NULL);
    curl_multi_cleanup(p->multi);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
