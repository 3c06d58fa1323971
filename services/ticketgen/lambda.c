// SPDX-License-Identifier: Apache-2.0
// Lambda custom runtime (provided.al2023): when AWS_LAMBDA_RUNTIME_API is set, the same binary
// loops over GET /2018-06-01/runtime/invocation/next, handles the S3 event it receives (each
// Records[].s3.object.key under orders/, URL-decoded) exactly as service mode handles a document,
// and answers POST .../invocation/<request id>/response, or /error when a store was unavailable
// so that Lambda retries the event (processing is idempotent: same ticket ids, same PDF keys,
// status never moves backwards). Malformed documents are answered as handled (logged, counted):
// retrying cannot fix them. Everything runs on this one thread, one event at a time, as Lambda
// gives them.
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boxoffice/base.h"
#include "boxoffice/httpc.h"
#include "boxoffice/log.h"
#include "ticketgen.h"

#define RUNTIME_API_MAX   256
#define REQUEST_ID_MAX    128
#define EVENT_MAX_BYTES   (6 * 1024 * 1024) /* Lambda's invocation payload limit */
#define EVENT_RECORDS_MAX 1000
#define NEXT_TIMEOUT_MS   (3600 * 1000) /* /next blocks until an event arrives */
#define POST_TIMEOUT_MS   10000
#define API_FAILURES_MAX  8 /* consecutive runtime API failures before giving up */
#define BACKOFF_BASE_MS   100

bool tg_s3_key_decode(const char *in, char *out, size_t size) {
    size_t o = 0;
    for (const char *p = in; *p; p++) {
        char c = *p;
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int h = bx_hex_value(p[1]), l = h >= 0 ? bx_hex_value(p[2]) : -1;
            if (l < 0) {
                return false;
            }
            c = (char)(h << 4 | l);
            p += 2;
        }
        if (c == '\0' || o + 1 >= size) {
            return false;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return true;
}

struct tally {
    size_t processed, rejected, ignored, failed;
};

static void handle_record(struct tg_renderer *r, json_t *rec, struct tally *t) {
    const char *name = json_string_value(json_object_get(rec, "eventName"));
    json_t *s3 = json_object_get(rec, "s3");
    const char *bucket = json_string_value(json_object_get(json_object_get(s3, "bucket"), "name"));
    const char *raw = json_string_value(json_object_get(json_object_get(s3, "object"), "key"));
    char key[BX_OBJECT_KEY_MAX_BYTES + 1];
    if (raw == NULL || !tg_s3_key_decode(raw, key, sizeof key)) {
        bx_warn("lambda: a record without a usable s3.object.key");
        t->ignored++;
        return;
    }
    const char *slash = strrchr(key, '/');
    if ((name != NULL && strncmp(name, "ObjectCreated:", 14) != 0) ||
        strncmp(key, TG_ORDER_KEY_PREFIX, strlen(TG_ORDER_KEY_PREFIX)) != 0 || slash == NULL ||
        slash[1] == '.') {
        t->ignored++; /* deletions, other prefixes, temporary names */
        return;
    }
    if (tg.s3_bucket[0] != '\0' && (bucket == NULL || strcmp(bucket, tg.s3_bucket) != 0)) {
        bx_error("lambda: %s is in bucket %s, not in the configured %s: ignored", key,
                 bucket ? bucket : "(none)", tg.s3_bucket);
        t->ignored++;
        return;
    }
    switch (tg_process_key(r, key, NULL, 0, NULL)) {
    case TG_DONE:
        t->processed++;
        break;
    case TG_REJECTED:
        t->rejected++;
        break;
    case TG_RETRY:
        t->failed++;
        break;
    }
}

/* Handles one event; returns the JSON answer (malloc'd) and sets *retry when Lambda should try
 * the event again. */
static char *handle_event(struct tg_renderer *r, const char *body, size_t len, bool *retry) {
    struct tally t = {0};
    *retry = false;
    json_t *ev = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *records = json_object_get(ev, "Records");
    if (!json_is_array(records) || json_array_size(records) > EVENT_RECORDS_MAX) {
        json_decref(ev);
        bx_warn("lambda: the event is not an S3 event");
        return strdup("{\"errorType\":\"InvalidEvent\",\"errorMessage\":\"not an S3 event\"}");
    }
    size_t i;
    json_t *rec;
    json_array_foreach(records, i, rec) {
        handle_record(r, rec, &t);
    }
    json_decref(ev);
    char *out = malloc(256);
    if (out == NULL) {
        return NULL;
    }
    if (t.failed > 0) {
        *retry = true;
        snprintf(out, 256,
                 "{\"errorType\":\"Unavailable\",\"errorMessage\":\"%zu order document(s) could "
                 "not be processed; retry\"}",
                 t.failed);
    } else {
        snprintf(out, 256, "{\"processed\":%zu,\"rejected\":%zu,\"ignored\":%zu}", t.processed,
                 t.rejected, t.ignored);
    }
    return out;
}

static enum bx_err post(const char *url, const char *body, const char *error_type) {
    char type_header[96];
    snprintf(type_header, sizeof type_header, "Lambda-Runtime-Function-Error-Type: %s",
             error_type ? error_type : "");
    const char *headers[] = {"Content-Type: application/json", error_type ? type_header : NULL,
                             NULL};
    struct bx_httpc_request req = {.method = "POST",
                                   .url = url,
                                   .headers = headers,
                                   .body = body,
                                   .body_len = strlen(body),
                                   .timeout_ms = POST_TIMEOUT_MS};
    struct bx_httpc_response resp = {0};
    enum bx_err e = bx_httpc_do(&req, &resp);
    if (e == BX_OK && (resp.status < 200 || resp.status > 299)) {
        bx_warn("lambda: POST %s answered %ld", url, resp.status);
        e = BX_BAD_GATEWAY;
    }
    bx_httpc_response_free(&resp);
    return e;
}

static bool valid_request_id(const char *s) {
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > REQUEST_ID_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.')) {
            return false;
        }
    }
    return true;
}

void tg_lambda_init_error(const char *runtime_api, const char *message) {
    char url[RUNTIME_API_MAX + 64];
    if (strlen(runtime_api) > RUNTIME_API_MAX) {
        return;
    }
    snprintf(url, sizeof url, "http://%s/2018-06-01/runtime/init/error", runtime_api);
    json_t *m = json_pack("{s:s,s:s}", "errorType", "Runtime.InitError", "errorMessage", message);
    char *body = m ? json_dumps(m, JSON_COMPACT) : NULL;
    json_decref(m);
    post(url, body ? body : "{}", "Runtime.InitError");
    free(body);
}

void tg_lambda_signals(void) {
    /* bx_service_main blocked SIGTERM/SIGINT for its sigwait, which Lambda mode never reaches;
     * the default action is right: Lambda (and tools like @vercel/fun) stop a runtime with
     * SIGTERM, at any moment, also while it reports a failed start */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_UNBLOCK, &sigs, NULL);
}

int tg_lambda_run(const char *runtime_api) {
    char base[RUNTIME_API_MAX + 64], url[RUNTIME_API_MAX + 256];
    if (strlen(runtime_api) > RUNTIME_API_MAX || strchr(runtime_api, '/') != NULL) {
        bx_error("lambda: AWS_LAMBDA_RUNTIME_API is not host:port");
        return 2;
    }
    snprintf(base, sizeof base, "http://%s/2018-06-01/runtime", runtime_api);
    struct bx_error err = {0};
    struct tg_renderer *r = tg_renderer_new(tg.paper, tg.zoneinfo_dir, &err);
    if (r == NULL) {
        tg_lambda_init_error(runtime_api, err.message);
        return 1;
    }
    bx_info("lambda: serving invocations from %s", runtime_api);
    int failures = 0;
    while (failures < API_FAILURES_MAX) {
        snprintf(url, sizeof url, "%s/invocation/next", base);
        struct bx_httpc_request req = {.method = "GET",
                                       .url = url,
                                       .timeout_ms = NEXT_TIMEOUT_MS,
                                       .max_body_bytes = EVENT_MAX_BYTES};
        struct bx_httpc_response resp = {0};
        enum bx_err e = bx_httpc_do(&req, &resp);
        const char *id =
            e == BX_OK ? bx_httpc_header(&resp, "Lambda-Runtime-Aws-Request-Id") : NULL;
        if (e == BX_UPSTREAM_TIMEOUT) {
            bx_httpc_response_free(&resp);
            continue; /* no event within the hour: ask again */
        }
        if (e != BX_OK || resp.status != 200 || !valid_request_id(id)) {
            failures++;
            bx_warn("lambda: next invocation: %s, status %ld (%d/%d)", bx_err_name(e), resp.status,
                    failures, API_FAILURES_MAX);
            bx_httpc_response_free(&resp);
            uint32_t jitter; /* full jitter: uniform in [0, 100 ms x 2^n], n <= 6 */
            bx_random_bytes(&jitter, sizeof jitter);
            usleep(jitter % ((uint32_t)(BACKOFF_BASE_MS * 1000) << (failures < 6 ? failures : 6)));
            continue;
        }
        failures = 0;
        char request_id[REQUEST_ID_MAX + 1];
        bx_strlcpy(request_id, id, sizeof request_id);
        bool retry = false;
        char *answer = handle_event(r, resp.body ? resp.body : "", resp.body_len, &retry);
        bx_httpc_response_free(&resp);
        bool is_error = retry || answer == NULL || strncmp(answer, "{\"errorType\"", 12) == 0;
        snprintf(url, sizeof url, "%s/invocation/%s/%s", base, request_id,
                 is_error ? "error" : "response");
        e = post(url, answer ? answer : "{\"errorType\":\"Internal\"}",
                 is_error ? "Ticketgen.Error" : NULL);
        free(answer);
        if (e != BX_OK) {
            failures++;
        }
    }
    bx_error("lambda: the runtime API failed %d times in a row; exiting", API_FAILURES_MAX);
    tg_renderer_free(r);
    return 1;
}
