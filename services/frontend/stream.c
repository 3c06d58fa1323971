// SPDX-License-Identifier: Apache-2.0
// Relaying event streams (Server-Sent Events, e.g. /api/analytics/stream) through the gateway.
// The buffered proxy would wait for an end that never comes, so a request that asks for
// text/event-stream gets a thread of its own (at most max_streams at once; more get 503): a
// blocking libcurl GET whose bytes are passed on as they arrive through bx_req_stream. The
// upstream's status and headers are learned first: a 200 text/event-stream answer is streamed; any
// other answer (a 401 JSON error, say) is passed on whole, like the buffered proxy does. The relay
// ends when either side does: the client gone (bx_stream_write fails → the transfer is aborted),
// the upstream closing, or the gateway draining. A connect timeout applies, and a stream silent
// for longer than STREAM_IDLE_S (no heartbeat) is cut.
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "boxoffice/base.h"
#include "boxoffice/httpc.h"
#include "boxoffice/log.h"
#include "gateway.h"

#define STREAM_IDLE_S       60
#define STREAM_ERROR_MAX    (64 * 1024) /* a non-stream answer is buffered up to this */
#define STREAM_HEADER_BYTES 512

static _Atomic int64_t active;

struct relay {
    struct bx_req *req;
    char *url;
    struct curl_slist *headers;
    long status;
    char content_type[STREAM_HEADER_BYTES];
    struct bx_stream *stream; /* once streaming */
    char *body;               /* a non-stream answer */
    size_t body_len;
    bool resumed, client_gone;
};

static size_t on_header(char *data, size_t size, size_t n, void *arg) {
    struct relay *r = arg;
    size_t len = size * n;
    if (len > 12 && strncmp(data, "HTTP/", 5) == 0) {
        const char *sp = memchr(data, ' ', len);
        r->status = sp != NULL ? strtol(sp + 1, NULL, 10) : 0;
        r->content_type[0] = '\0'; /* a new head (after a 100 Continue, say) */
    } else if (len > 13 && strncasecmp(data, "Content-Type:", 13) == 0) {
        size_t k = len - 13;
        const char *v = data + 13;
        while (k > 0 && (*v == ' ' || *v == '\t')) {
            v++;
            k--;
        }
        while (k > 0 && (v[k - 1] == '\r' || v[k - 1] == '\n' || v[k - 1] == ' ')) {
            k--;
        }
        if (k < sizeof r->content_type) {
            memcpy(r->content_type, v, k);
            r->content_type[k] = '\0';
        }
    }
    return len;
}

static bool is_event_stream(const struct relay *r) {
    return r->status == 200 && strncmp(r->content_type, "text/event-stream", 17) == 0;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg) {
    struct relay *r = arg;
    size_t len = size * n;
    if (!r->resumed && r->body == NULL && is_event_stream(r)) {
        /* the head said 200 text/event-stream: answer the client and relay from now on */
        bx_resp_header(r->req, "Cache-Control", "no-store");
        bx_resp_header(r->req, "X-Accel-Buffering", "no");
        r->stream = bx_req_stream(r->req, 200, "text/event-stream");
        if (r->stream == NULL) {
            return 0;
        }
        r->resumed = true;
        bx_req_resume(r->req);
    }
    if (r->stream != NULL) {
        if (bx_stream_write(r->stream, data, len) != 0) {
            r->client_gone = true;
            return 0; /* aborts the transfer */
        }
        return len;
    }
    if (r->body_len + len > STREAM_ERROR_MAX) {
        return 0;
    }
    char *p = realloc(r->body, r->body_len + len + 1);
    if (p == NULL) {
        return 0;
    }
    r->body = p;
    memcpy(r->body + r->body_len, data, len);
    r->body_len += len;
    r->body[r->body_len] = '\0';
    return len;
}

/* Called by libcurl now and then: a client gone stops the transfer even while it is silent. */
static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un) {
    (void)dt;
    (void)dn;
    (void)ut;
    (void)un;
    struct relay *r = arg;
    return r->client_gone ? 1 : 0;
}

static void *relay_main(void *arg) {
    struct relay *r = arg;
    struct bx_req *req = r->req;
    CURL *c = curl_easy_init();
    CURLcode rc = CURLE_FAILED_INIT;
    if (c != NULL) {
        curl_easy_setopt(c, CURLOPT_URL, r->url);
        if (bx_httpc_ca_file() != NULL) {
            curl_easy_setopt(c, CURLOPT_CAINFO, bx_httpc_ca_file());
        }
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, r->headers);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)STREAM_IDLE_S);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, r);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
        rc = curl_easy_perform(c);
    }
    if (!r->resumed) {
        long status = 0;
        if (c != NULL) {
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        }
        if (rc == CURLE_OK || (status > 0 && r->body != NULL)) {
            /* bx_respond keeps the content type's pointer: copy it into the request, r goes */
            bx_respond(req, (unsigned)status,
                       r->content_type[0] ? bx_arena_strdup(&req->arena, r->content_type)
                                          : "application/octet-stream",
                       r->body ? r->body : "", r->body_len);
        } else {
            struct bx_error err = {.code = rc == CURLE_OPERATION_TIMEDOUT ? BX_UPSTREAM_TIMEOUT
                                                                          : BX_BAD_GATEWAY};
            bx_respond_error(req, &err);
        }
        bx_req_resume(req);
    }
    if (r->stream != NULL) {
        bx_stream_close(r->stream);
    }
    if (c != NULL) {
        curl_easy_cleanup(c);
    }
    curl_slist_free_all(r->headers);
    free(r->body);
    free(r->url);
    free(r);
    atomic_fetch_sub(&active, 1);
    return NULL;
}

bool gateway_wants_stream(struct bx_req *req) {
    const char *accept = bx_req_header(req, "Accept");
    return req->method == BX_GET && accept != NULL && strstr(accept, "text/event-stream") != NULL;
}

enum bx_err gateway_stream(struct bx_req *req, const char *url, const char *const *headers) {
    struct frontend *fe = req->ctx;
    if (atomic_fetch_add(&active, 1) >= fe->max_streams) {
        atomic_fetch_sub(&active, 1);
        bx_resp_header(req, "Retry-After", "5");
        return bx_req_fail(req, BX_UNAVAILABLE, NULL, "Too many event streams are open.");
    }
    struct relay *r = calloc(1, sizeof *r);
    if (r != NULL) {
        r->req = req;
        r->url = strdup(url);
        for (size_t i = 0; headers[i] != NULL; i++) {
            struct curl_slist *l = curl_slist_append(r->headers, headers[i]);
            if (l == NULL) {
                break;
            }
            r->headers = l;
        }
    }
    pthread_t t;
    bx_req_suspend(req);
    if (r == NULL || r->url == NULL || pthread_create(&t, NULL, relay_main, r) != 0) {
        if (r != NULL) {
            curl_slist_free_all(r->headers);
            free(r->url);
            free(r);
        }
        atomic_fetch_sub(&active, 1);
        struct bx_error err = {.code = BX_UNAVAILABLE};
        bx_respond_error(req, &err);
        bx_req_resume(req);
        return BX_OK;
    }
    pthread_detach(t);
    return BX_OK;
}
