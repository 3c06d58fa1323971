// SPDX-License-Identifier: Apache-2.0
// The DynamoDB key-value backend, "dynamodb://TABLE?region=R[&endpoint=URL]": the DynamoDB JSON
// API over libcurl, signed with SigV4 (CURLOPT_AWS_SIGV4). One item per key: pk (S), v (S, or B
// when the value is not UTF-8 text), ver (N), exp (N, the TTL attribute; absent when the item
// never expires). Every put is an UpdateItem whose ConditionExpression carries the mode, so
// DynamoDB arbitrates concurrent writers; reads are strongly consistent. Every call has a connect
// and a total timeout; retries are bounded, and only where repeating the request cannot change its
// outcome. Credentials come from aws/credentials.h for every call, so a web identity's rotated
// keys are picked up.
#include "kv/dynamodb.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aws/credentials.h"
#include "boxoffice/base.h"
#include "boxoffice/httpc.h"
#include "boxoffice/kv.h"
#include "boxoffice/log.h"
#include "kv/internal.h"

#define DDB_CONNECT_TIMEOUT_MS 2000
#define DDB_TIMEOUT_MS         5000 /* per attempt, connect included */
#define DDB_CALL_BUDGET_MS     8000 /* all attempts of one call, backoff included */
#define DDB_ATTEMPTS_MAX       3
#define DDB_BACKOFF_BASE_MS    25
#define DDB_BACKOFF_MAX_MS     500
#define DDB_HANDLES_IDLE_MAX   32 /* curl handles kept for their open connections */
#define DDB_RESPONSE_MAX_BYTES (1024 * 1024)
#define DDB_PUT_ROUNDS_MAX     4 /* a put of mode ANY over an item that keeps expiring */
#define DDB_TABLE_POLL_MS      100
#define DDB_TABLE_MIN_BYTES    3
#define DDB_TABLE_MAX_BYTES    255
#define DDB_REGION_MAX_BYTES   BX_AWS_REGION_MAX_BYTES
#define DDB_NUMBER_MAX_BYTES   24
#define DDB_TOKEN_HEADER       "x-amz-security-token: "
#define DDB_API                "DynamoDB_20120810"

/* Flags of one call. */
#define CALL_IDEMPOTENT 1u /* may be repeated after a timeout or a 5xx */
#define CALL_QUIET      2u /* the caller handles and logs failures */

struct ddb {
    char table[DDB_TABLE_MAX_BYTES + 1];
    char region[DDB_REGION_MAX_BYTES + 1];
    char endpoint[BX_KV_QUERY_VALUE_MAX_BYTES + 1]; /* with a trailing '/' */
    char sigv4[sizeof "aws:amz::dynamodb" + DDB_REGION_MAX_BYTES];
    struct bx_aws_provider aws; /* asked for keys at every call */
    pthread_mutex_t lock;
    CURL *idle[DDB_HANDLES_IDLE_MAX];
    size_t n_idle;
};

/* What one call brought back. */
struct reply {
    long status;   /* HTTP status, 0 when none arrived */
    json_t *json;  /* the body of a 200 */
    char type[64]; /* an error's __type after '#', "" when none */
    char message[160];
};

struct body {
    char *data;
    size_t len;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static bool table_name_valid(const char *s, size_t n) {
    if (n < DDB_TABLE_MIN_BYTES || n > DDB_TABLE_MAX_BYTES) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == '.';
        if (!ok) {
            return false;
        }
    }
    return true;
}

/* Parses the URL and finds the credentials (aws/credentials.h) for d. */
static enum bx_err ddb_init(struct ddb *d, const char *url, struct bx_error *err) {
    memset(d, 0, sizeof *d);
    static const char prefix[] = "dynamodb://";
    if (strncmp(url, prefix, sizeof prefix - 1) != 0) {
        return bx_error_set(err, BX_BAD_REQUEST, NULL,
                            "store URL \"%.80s\": want dynamodb://TABLE?region=R", url);
    }
    const char *t = url + sizeof prefix - 1;
    size_t table_len = strcspn(t, "?");
    if (!table_name_valid(t, table_len)) {
        return bx_error_set(err, BX_BAD_REQUEST, NULL,
                            "store URL \"%.80s\": a table name is 3-255 of [A-Za-z0-9_.-]", url);
    }
    memcpy(d->table, t, table_len);
    d->table[table_len] = '\0';
    const char *q = t[table_len] == '?' ? t + table_len + 1 : t + table_len;
    char name[BX_KV_QUERY_NAME_MAX_BYTES], value[BX_KV_QUERY_VALUE_MAX_BYTES];
    int r;
    while ((r = bx_kv_query_next(&q, name, value)) == 1) {
        if (strcmp(name, "region") == 0 && bx_aws_region_valid(value)) {
            bx_strlcpy(d->region, value, sizeof d->region);
        } else if (strcmp(name, "endpoint") == 0 &&
                   (strncmp(value, "http://", 7) == 0 || strncmp(value, "https://", 8) == 0) &&
                   strpbrk(value, " \r\n") == NULL) {
            size_t n = strlen(value);
            while (n > 0 && value[n - 1] == '/') {
                value[--n] = '\0';
            }
            snprintf(d->endpoint, sizeof d->endpoint, "%s/", value);
        } else {
            return bx_error_set(err, BX_BAD_REQUEST, NULL,
                                "store URL \"%.80s\": unknown or bad parameter \"%s\" (region=R, "
                                "endpoint=http[s]://HOST[:PORT])",
                                url, name);
        }
    }
    if (r < 0) {
        return bx_error_set(err, BX_BAD_REQUEST, NULL, "store URL \"%.80s\": malformed query", url);
    }
    if (d->region[0] == '\0') {
        return bx_error_set(err, BX_BAD_REQUEST, NULL, "store URL \"%.80s\": region= is required",
                            url);
    }
    if (d->endpoint[0] == '\0') {
        snprintf(d->endpoint, sizeof d->endpoint, "https://dynamodb.%s.amazonaws.com/", d->region);
    }
    snprintf(d->sigv4, sizeof d->sigv4, "aws:amz:%s:dynamodb", d->region);
    enum bx_err e = bx_aws_provider_init(&d->aws, d->region, err);
    if (e != BX_OK) {
        sodium_memzero(d, sizeof *d);
        return e;
    }
    pthread_mutex_init(&d->lock, NULL);
    pthread_once(&curl_once, curl_init_once);
    return BX_OK;
}

static void ddb_fini(struct ddb *d) {
    for (size_t i = 0; i < d->n_idle; i++) {
        curl_easy_cleanup(d->idle[i]);
    }
    pthread_mutex_destroy(&d->lock);
    bx_aws_provider_fini(&d->aws);
    sodium_memzero(d, sizeof *d);
}

/* A handle with open connections when one is idle, a new one otherwise. */
static CURL *handle_take(struct ddb *d) {
    CURL *c = NULL;
    pthread_mutex_lock(&d->lock);
    if (d->n_idle > 0) {
        c = d->idle[--d->n_idle];
    }
    pthread_mutex_unlock(&d->lock);
    if (c == NULL) {
        c = curl_easy_init();
    } else {
        curl_easy_reset(c); /* keeps the connection and DNS caches */
    }
    return c;
}

static void handle_give(struct ddb *d, CURL *c) {
    pthread_mutex_lock(&d->lock);
    if (d->n_idle < DDB_HANDLES_IDLE_MAX) {
        d->idle[d->n_idle++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&d->lock);
    if (c != NULL) {
        curl_easy_cleanup(c);
    }
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp) {
    struct body *b = userp;
    size_t n = size * nmemb;
    if (b->len + n > DDB_RESPONSE_MAX_BYTES) {
        return 0;
    }
    char *p = realloc(b->data, b->len + n + 1);
    if (p == NULL) {
        return 0;
    }
    memcpy(p + b->len, data, n);
    b->data = p;
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static bool throttled(const char *type) {
    return strcmp(type, "ProvisionedThroughputExceededException") == 0 ||
           strcmp(type, "ThrottlingException") == 0 || strcmp(type, "RequestLimitExceeded") == 0 ||
           strcmp(type, "LimitExceededException") == 0;
}

static bool refused(const char *type) {
    return strcmp(type, "ResourceNotFoundException") == 0 ||
           strcmp(type, "UnrecognizedClientException") == 0 ||
           strcmp(type, "InvalidSignatureException") == 0 ||
           strcmp(type, "IncompleteSignatureException") == 0 ||
           strcmp(type, "MissingAuthenticationTokenException") == 0 ||
           strcmp(type, "AccessDeniedException") == 0 || strcmp(type, "ExpiredTokenException") == 0;
}

/* Reads __type and message of an error body ("com.amazonaws...#Name" → "Name"). */
static void read_error(const struct body *b, struct reply *r) {
    json_t *j = b->data != NULL ? json_loadb(b->data, b->len, 0, NULL) : NULL;
    const char *type = json_string_value(json_object_get(j, "__type"));
    const char *msg = json_string_value(json_object_get(j, "message"));
    if (msg == NULL) {
        msg = json_string_value(json_object_get(j, "Message"));
    }
    if (type != NULL) {
        const char *hash = strrchr(type, '#');
        bx_strlcpy(r->type, hash != NULL ? hash + 1 : type, sizeof r->type);
    }
    bx_strlcpy(r->message, msg != NULL ? msg : "", sizeof r->message);
    json_decref(j);
}

/* Full jitter: a uniform pause in [0, min(base * 2^attempt, max)). */
static int64_t backoff_ms(unsigned attempt) {
    int64_t cap = (int64_t)DDB_BACKOFF_BASE_MS << attempt;
    if (cap > DDB_BACKOFF_MAX_MS) {
        cap = DDB_BACKOFF_MAX_MS;
    }
    uint32_t rnd;
    bx_random_bytes(&rnd, sizeof rnd);
    return (int64_t)(rnd % (uint32_t)cap);
}

/* One DynamoDB operation: BX_OK with r->json on 200; BX_CONFLICT for a failed condition;
 * BX_UNAVAILABLE when DynamoDB cannot be reached, is throttling, failing (5xx) or refusing us
 * (no table, bad credentials), or when there are no credentials to sign with; BX_INTERNAL for any
 * other rejection (a bug of ours). */
static enum bx_err call(struct ddb *d, const char *op, json_t *request, unsigned flags,
                        struct reply *r) {
    memset(r, 0, sizeof *r);
    struct curl_slist *headers = NULL;
    struct body b = {0};
    struct bx_aws_credentials cr;
    struct bx_error cred_err = {0};
    char token_line[sizeof DDB_TOKEN_HEADER + BX_AWS_SESSION_TOKEN_MAX_BYTES];
    token_line[0] = '\0';
    char *payload = json_dumps(request, JSON_COMPACT);
    enum bx_err e = BX_INTERNAL;
    if (payload == NULL) {
        goto out;
    }
    /* asked at every call: the keys of a web identity change as they are refreshed */
    if (bx_aws_provider_get(&d->aws, &cr, &cred_err) != BX_OK) {
        bx_strlcpy(r->message, cred_err.message, sizeof r->message);
        e = BX_UNAVAILABLE;
        goto failed;
    }
    if (cr.session_token[0] != '\0') {
        snprintf(token_line, sizeof token_line, DDB_TOKEN_HEADER "%s", cr.session_token);
    }
    size_t payload_len = strlen(payload);
    unsigned char hash[crypto_hash_sha256_BYTES];
    char hash_hex[crypto_hash_sha256_BYTES * 2 + 1];
    crypto_hash_sha256(hash, (const unsigned char *)payload, payload_len);
    sodium_bin2hex(hash_hex, sizeof hash_hex, hash, sizeof hash);
    char target[96], sha[96];
    snprintf(target, sizeof target, "X-Amz-Target: " DDB_API ".%s", op);
    /* curl 7.88 signs with this header's value when present; some servers insist on it */
    snprintf(sha, sizeof sha, "x-amz-content-sha256: %s", hash_hex);
    const char *lines[] = {"Content-Type: application/x-amz-json-1.0", target, sha,
                           token_line[0] != '\0' ? token_line : NULL};
    for (size_t i = 0; i < BX_ARRAY_LEN(lines) && lines[i] != NULL; i++) {
        struct curl_slist *l = curl_slist_append(headers, lines[i]);
        if (l == NULL) {
            goto out;
        }
        headers = l;
    }
    int64_t deadline = bx_now_mono_ms() + DDB_CALL_BUDGET_MS;
    for (unsigned attempt = 0; attempt < DDB_ATTEMPTS_MAX; attempt++) {
        if (attempt > 0) {
            int64_t pause_ms = backoff_ms(attempt);
            if (bx_now_mono_ms() + pause_ms + DDB_CONNECT_TIMEOUT_MS >= deadline) {
                break; /* no time left for a useful attempt */
            }
            usleep((useconds_t)(pause_ms * 1000));
        }
        int64_t left_ms = deadline - bx_now_mono_ms();
        free(b.data);
        b = (struct body){0};
        memset(r, 0, sizeof *r);
        CURL *c = handle_take(d);
        if (c == NULL) {
            e = BX_INTERNAL;
            break;
        }
        curl_easy_setopt(c, CURLOPT_URL, d->endpoint);
        if (bx_httpc_ca_file() != NULL) {
            curl_easy_setopt(c, CURLOPT_CAINFO, bx_httpc_ca_file());
        }
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)DDB_CONNECT_TIMEOUT_MS);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
                         (long)(left_ms < DDB_TIMEOUT_MS ? left_ms : DDB_TIMEOUT_MS));
        curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)payload_len);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(c, CURLOPT_AWS_SIGV4, d->sigv4);
        curl_easy_setopt(c, CURLOPT_USERNAME, cr.access_key);
        curl_easy_setopt(c, CURLOPT_PASSWORD, cr.secret_key);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
        CURLcode rc = curl_easy_perform(c);
        if (rc == CURLE_OK) {
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
        }
        handle_give(d, c);
        bool retry = false;
        if (rc != CURLE_OK) {
            /* not sent at all: safe to repeat; otherwise it may have been applied */
            bool unsent = rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST;
            retry = unsent || (flags & CALL_IDEMPOTENT) != 0;
            snprintf(r->message, sizeof r->message, "%s", curl_easy_strerror(rc));
            e = BX_UNAVAILABLE;
        } else if (r->status == 200) {
            r->json = json_loadb(b.data != NULL ? b.data : "", b.len, 0, NULL);
            e = r->json != NULL ? BX_OK : BX_UNAVAILABLE;
            if (r->json == NULL) {
                snprintf(r->message, sizeof r->message, "unparsable reply");
            }
        } else {
            read_error(&b, r);
            if (r->status >= 500) {
                retry = (flags & CALL_IDEMPOTENT) != 0;
                e = BX_UNAVAILABLE;
            } else if (throttled(r->type)) {
                retry = true; /* a throttled request was not applied */
                e = BX_UNAVAILABLE;
            } else if (strcmp(r->type, "ConditionalCheckFailedException") == 0) {
                e = BX_CONFLICT;
            } else if (refused(r->type)) {
                e = BX_UNAVAILABLE;
            } else {
                e = BX_INTERNAL;
            }
        }
        if (!retry) {
            break;
        }
    }
failed:
    if (e != BX_OK && e != BX_CONFLICT && !(flags & CALL_QUIET)) {
        bx_warn("kv dynamodb: %s on %s: status %ld %s %s", op, d->table, r->status, r->type,
                r->message);
    }
out:
    free(b.data);
    curl_slist_free_all(headers);
    free(payload);
    bx_aws_credentials_wipe(&cr);
    sodium_memzero(token_line, sizeof token_line);
    return e;
}

/* {"S": text} when the value is UTF-8 text without NUL bytes, {"B": base64} otherwise. */
static json_t *value_attr(const void *value, size_t len) {
    if (len == 0 || (memchr(value, '\0', len) == NULL && bx_kv_utf8_valid(value, len))) {
        return json_pack("{s:s%}", "S", len > 0 ? (const char *)value : "", len);
    }
    size_t b64_size = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(b64_size);
    if (b64 == NULL) {
        return NULL;
    }
    sodium_bin2base64(b64, b64_size, value, len, sodium_base64_VARIANT_ORIGINAL);
    json_t *j = json_pack("{s:s}", "B", b64);
    free(b64);
    return j;
}

static json_t *number(uint64_t n) {
    char s[DDB_NUMBER_MAX_BYTES];
    snprintf(s, sizeof s, "%" PRIu64, n);
    return json_pack("{s:s}", "N", s);
}

/* Reads a non-negative number attribute; -1 when it is missing or malformed. */
static int64_t read_number(json_t *item, const char *name) {
    const char *s = json_string_value(json_object_get(json_object_get(item, name), "N"));
    int64_t n;
    if (s == NULL || bx_parse_i64(s, 0, INT64_MAX, &n) != 0) {
        return -1;
    }
    return n;
}

static json_t *key_of(const char *key) {
    return json_pack("{s:{s:s}}", "pk", "S", key);
}

static enum bx_err ddb_open(const char *url, void **ctx_out, struct bx_error *err) {
    BX_ASSERT(url != NULL && ctx_out != NULL && err != NULL);
    *ctx_out = NULL;
    struct ddb *d = malloc(sizeof *d);
    if (d == NULL) {
        return bx_error_set(err, BX_INTERNAL, NULL, "out of memory");
    }
    enum bx_err e = ddb_init(d, url, err);
    if (e != BX_OK) {
        free(d);
        return e;
    }
    *ctx_out = d;
    return BX_OK;
}

static void ddb_close(void *ctx) {
    struct ddb *d = ctx;
    if (d == NULL) {
        return;
    }
    ddb_fini(d);
    free(d);
}

static enum bx_err ddb_get(void *ctx, const char *key, char **value_out, size_t *len_out,
                           uint64_t *version_out) {
    struct ddb *d = ctx;
    BX_ASSERT(d != NULL && value_out != NULL && len_out != NULL && version_out != NULL);
    *value_out = NULL;
    *len_out = 0;
    *version_out = 0;
    if (bx_kv_check_key(key) != BX_OK) {
        return BX_INVALID_FIELD;
    }
    struct reply r = {0};
    json_t *req = json_pack("{s:s, s:o, s:b}", "TableName", d->table, "Key", key_of(key),
                            "ConsistentRead", 1);
    enum bx_err e = req != NULL ? call(d, "GetItem", req, CALL_IDEMPOTENT, &r) : BX_INTERNAL;
    json_decref(req);
    if (e != BX_OK) {
        return e;
    }
    json_t *item = json_object_get(r.json, "Item");
    if (item == NULL) {
        e = BX_NOT_FOUND;
        goto out;
    }
    int64_t ver = read_number(item, "ver");
    int64_t exp = json_object_get(item, "exp") != NULL ? read_number(item, "exp") : 0;
    json_t *v = json_object_get(item, "v");
    const char *text = json_string_value(json_object_get(v, "S"));
    const char *b64 = json_string_value(json_object_get(v, "B"));
    if (ver < 1 || exp < 0 || (text == NULL && b64 == NULL)) {
        bx_error("kv dynamodb: item in %s is not of this layout (pk, v, ver, exp)", d->table);
        e = BX_INTERNAL;
        goto out;
    }
    if (bx_kv_expired(exp, bx_now_unix_s())) {
        e = BX_NOT_FOUND;
        goto out;
    }
    size_t cap = text != NULL ? json_string_length(json_object_get(v, "S")) : strlen(b64);
    size_t len = 0;
    char *buf = malloc(cap + 1);
    if (buf == NULL) {
        e = BX_INTERNAL;
        goto out;
    }
    if (text != NULL) {
        memcpy(buf, text, cap);
        len = cap;
    } else if (sodium_base642bin((unsigned char *)buf, cap, b64, cap, NULL, &len, NULL,
                                 sodium_base64_VARIANT_ORIGINAL) != 0) {
        free(buf);
        bx_error("kv dynamodb: item in %s has a malformed B value", d->table);
        e = BX_INTERNAL;
        goto out;
    }
    if (len > BX_KV_VALUE_MAX_BYTES) {
        free(buf);
        bx_error("kv dynamodb: item in %s is larger than BX_KV_VALUE_MAX_BYTES", d->table);
        e = BX_INTERNAL;
        goto out;
    }
    buf[len] = '\0';
    *value_out = buf;
    *len_out = len;
    *version_out = (uint64_t)ver;
    e = BX_OK;
out:
    json_decref(r.json);
    return e;
}

/* The three shapes of a conditional UpdateItem. */
enum put_kind {
    PUT_LIVE_OR_ABSENT, /* mode ANY over a live item or none: the version goes on */
    PUT_ABSENT,         /* no item or an expired one: the version starts again at 1 */
    PUT_AT_VERSION,     /* a live item at the expected version */
};

static json_t *update_request(const struct ddb *d, const char *key, json_t *value,
                              enum put_kind kind, uint64_t expected, int64_t expires_at_s,
                              int64_t now_s) {
    /* an item that never expires has no exp at all, so TTL can never touch it */
    static const char set_live[] = "SET #v = :v, #ver = if_not_exists(#ver, :zero) + :one";
    static const char set_new[] = "SET #v = :v, #ver = :one";
    static const char set_next[] = "SET #v = :v, #ver = #ver + :one";
    static const char if_live_or_absent[] =
        "attribute_not_exists(#pk) OR attribute_not_exists(#exp) OR #exp = :zero OR "
        "#exp >= :now";
    static const char if_absent[] = "attribute_not_exists(#pk) OR (#exp > :zero AND #exp < :now)";
    static const char if_version[] =
        "#ver = :expected AND (attribute_not_exists(#exp) OR #exp = :zero OR #exp >= :now)";
    char set[128];
    snprintf(set, sizeof set, "%s%s",
             kind == PUT_LIVE_OR_ABSENT ? set_live
             : kind == PUT_ABSENT       ? set_new
                                        : set_next,
             expires_at_s > 0 ? ", #exp = :exp" : " REMOVE #exp");
    const char *cond = kind == PUT_LIVE_OR_ABSENT ? if_live_or_absent
                       : kind == PUT_ABSENT       ? if_absent
                                                  : if_version;
    /* DynamoDB rejects names and values that the expressions do not use */
    json_t *names = json_pack("{s:s, s:s, s:s}", "#v", "v", "#ver", "ver", "#exp", "exp");
    json_t *values = json_pack("{s:O, s:o, s:o, s:o}", ":v", value, ":one", number(1), ":zero",
                               number(0), ":now", number((uint64_t)now_s));
    json_t *req = json_pack("{s:s, s:o, s:s, s:s, s:o, s:o, s:s}", "TableName", d->table, "Key",
                            key_of(key), "UpdateExpression", set, "ConditionExpression", cond,
                            "ExpressionAttributeNames", names, "ExpressionAttributeValues", values,
                            "ReturnValues", kind == PUT_LIVE_OR_ABSENT ? "UPDATED_NEW" : "NONE");
    if (req == NULL) {
        return NULL;
    }
    bool ok = true;
    if (kind != PUT_AT_VERSION) {
        ok = json_object_set_new(names, "#pk", json_string("pk")) == 0;
    } else {
        ok = json_object_set_new(values, ":expected", number(expected)) == 0;
    }
    if (ok && expires_at_s > 0) {
        ok = json_object_set_new(values, ":exp", number((uint64_t)expires_at_s)) == 0;
    }
    if (!ok) {
        json_decref(req);
        return NULL;
    }
    return req;
}

static enum bx_err ddb_put(void *ctx, const char *key, const void *value, size_t len,
                           enum bx_kv_put_mode mode, uint64_t expected_version,
                           int64_t expires_at_s, uint64_t *version_out) {
    struct ddb *d = ctx;
    BX_ASSERT(d != NULL);
    if (version_out != NULL) {
        *version_out = 0;
    }
    if (bx_kv_check_put(key, value, len, mode, expires_at_s) != BX_OK) {
        return BX_INVALID_FIELD;
    }
    json_t *v = value_attr(value, len);
    if (v == NULL) {
        return BX_INTERNAL;
    }
    int64_t now_s = bx_now_unix_s();
    enum bx_err e = BX_UNAVAILABLE;
    uint64_t version = 0;
    for (unsigned round = 0; round < DDB_PUT_ROUNDS_MAX; round++) {
        /* ANY tries "live or absent" first; when that fails the item exists and has expired,
         * so it is replaced as absent; should a writer revive it meanwhile, round again */
        enum put_kind kind = mode == BX_KV_PUT_IF_ABSENT    ? PUT_ABSENT
                             : mode == BX_KV_PUT_IF_VERSION ? PUT_AT_VERSION
                             : round % 2 == 0               ? PUT_LIVE_OR_ABSENT
                                                            : PUT_ABSENT;
        json_t *req = update_request(d, key, v, kind, expected_version, expires_at_s, now_s);
        struct reply r = {0};
        e = req != NULL ? call(d, "UpdateItem", req, 0, &r) : BX_INTERNAL;
        json_decref(req);
        if (e == BX_OK) {
            if (kind == PUT_LIVE_OR_ABSENT) {
                int64_t n = read_number(json_object_get(r.json, "Attributes"), "ver");
                if (n < 1) {
                    bx_error("kv dynamodb: UpdateItem on %s returned no version", d->table);
                    e = BX_INTERNAL;
                }
                version = (uint64_t)n;
            } else {
                version = kind == PUT_ABSENT ? 1 : expected_version + 1;
            }
        }
        json_decref(r.json);
        if (!(e == BX_CONFLICT && mode == BX_KV_PUT_ANY)) {
            break;
        }
        e = BX_UNAVAILABLE; /* should the rounds run out */
    }
    json_decref(v);
    if (e == BX_OK) {
        BX_ASSERT(version >= 1);
        if (version_out != NULL) {
            *version_out = version;
        }
    }
    return e;
}

static enum bx_err ddb_del(void *ctx, const char *key, uint64_t expected_version) {
    struct ddb *d = ctx;
    BX_ASSERT(d != NULL);
    if (bx_kv_check_key(key) != BX_OK) {
        return BX_INVALID_FIELD;
    }
    static const char if_live[] = "attribute_exists(#pk) AND (attribute_not_exists(#exp) OR "
                                  "#exp = :zero OR #exp >= :now)";
    static const char if_version[] =
        "#ver = :expected AND (attribute_not_exists(#exp) OR #exp = :zero OR #exp >= :now)";
    json_t *names = expected_version == 0 ? json_pack("{s:s, s:s}", "#pk", "pk", "#exp", "exp")
                                          : json_pack("{s:s, s:s}", "#ver", "ver", "#exp", "exp");
    json_t *values =
        json_pack("{s:o, s:o}", ":zero", number(0), ":now", number((uint64_t)bx_now_unix_s()));
    if (values != NULL && expected_version != 0 &&
        json_object_set_new(values, ":expected", number(expected_version)) != 0) {
        json_decref(values);
        values = NULL;
    }
    json_t *req = json_pack("{s:s, s:o, s:s, s:o, s:o}", "TableName", d->table, "Key", key_of(key),
                            "ConditionExpression", expected_version == 0 ? if_live : if_version,
                            "ExpressionAttributeNames", names, "ExpressionAttributeValues", values);
    struct reply r = {0};
    enum bx_err e = req != NULL ? call(d, "DeleteItem", req, 0, &r) : BX_INTERNAL;
    json_decref(req);
    json_decref(r.json);
    if (e != BX_CONFLICT) {
        return e;
    }
    if (expected_version == 0) {
        return BX_NOT_FOUND;
    }
    /* The condition failed: absent (or expired), or at another version. */
    char *value = NULL;
    size_t len = 0;
    uint64_t version = 0;
    e = ddb_get(d, key, &value, &len, &version);
    free(value);
    return e == BX_OK ? BX_CONFLICT : e;
}

static enum bx_err describe_table(struct ddb *d, unsigned flags, char *status, size_t size) {
    json_t *req = json_pack("{s:s}", "TableName", d->table);
    struct reply r = {0};
    enum bx_err e =
        req != NULL ? call(d, "DescribeTable", req, CALL_IDEMPOTENT | flags, &r) : BX_INTERNAL;
    json_decref(req);
    if (e == BX_OK) {
        const char *s =
            json_string_value(json_object_get(json_object_get(r.json, "Table"), "TableStatus"));
        bx_strlcpy(status, s != NULL ? s : "", size);
    }
    json_decref(r.json);
    return e;
}

static enum bx_err ddb_ping(void *ctx) {
    struct ddb *d = ctx;
    BX_ASSERT(d != NULL);
    char status[32];
    return describe_table(d, 0, status, sizeof status);
}

/* Turns on TTL on exp where the server has it (DynamoDB does, emulators may not). */
static void ensure_ttl(struct ddb *d) {
    json_t *req = json_pack("{s:s}", "TableName", d->table);
    struct reply r = {0};
    enum bx_err e =
        req != NULL ? call(d, "DescribeTimeToLive", req, CALL_IDEMPOTENT, &r) : BX_INTERNAL;
    json_decref(req);
    const char *status = json_string_value(
        json_object_get(json_object_get(r.json, "TimeToLiveDescription"), "TimeToLiveStatus"));
    bool disabled = e == BX_OK && status != NULL && strcmp(status, "DISABLED") == 0;
    json_decref(r.json);
    if (!disabled) {
        return;
    }
    req = json_pack("{s:s, s:{s:s, s:b}}", "TableName", d->table, "TimeToLiveSpecification",
                    "AttributeName", "exp", "Enabled", 1);
    e = req != NULL ? call(d, "UpdateTimeToLive", req, CALL_IDEMPOTENT | CALL_QUIET, &r)
                    : BX_INTERNAL;
    json_decref(req);
    json_decref(r.json);
    if (e != BX_OK && strcmp(r.type, "UnknownOperationException") == 0) {
        bx_info("kv dynamodb: %s: this server has no TTL; expired items stay (unread)", d->table);
    } else if (e != BX_OK) {
        bx_warn("kv dynamodb: %s: could not turn on TTL on exp: %s %s", d->table, r.type,
                r.message);
    }
}

enum bx_err bx_kv_dynamodb_ensure_table(const char *url, struct bx_error *err) {
    BX_ASSERT(url != NULL && err != NULL);
    void *ctx = NULL;
    enum bx_err e = ddb_open(url, &ctx, err);
    if (e != BX_OK) {
        return e;
    }
    struct ddb *d = ctx;
    json_t *req =
        json_pack("{s:s, s:[{s:s, s:s}], s:[{s:s, s:s}], s:s}", "TableName", d->table,
                  "AttributeDefinitions", "AttributeName", "pk", "AttributeType", "S", "KeySchema",
                  "AttributeName", "pk", "KeyType", "HASH", "BillingMode", "PAY_PER_REQUEST");
    struct reply r = {0};
    e = req != NULL ? call(d, "CreateTable", req, CALL_IDEMPOTENT | CALL_QUIET, &r) : BX_INTERNAL;
    json_decref(req);
    json_decref(r.json);
    if (e != BX_OK && strcmp(r.type, "ResourceInUseException") != 0) {
        e = bx_error_set(err, e == BX_CONFLICT ? BX_INTERNAL : e, NULL,
                         "creating table %s: status %ld %s %s", d->table, r.status, r.type,
                         r.message);
        goto out;
    }
    int64_t deadline = bx_now_mono_ms() + BX_KV_DYNAMODB_TABLE_WAIT_MS;
    char status[32] = "";
    for (;;) {
        e = describe_table(d, CALL_QUIET, status, sizeof status);
        if ((e == BX_OK && strcmp(status, "ACTIVE") == 0) || bx_now_mono_ms() >= deadline) {
            break;
        }
        usleep(DDB_TABLE_POLL_MS * 1000);
    }
    if (e != BX_OK || strcmp(status, "ACTIVE") != 0) {
        e = bx_error_set(err, BX_UNAVAILABLE, NULL, "table %s is not ACTIVE after %d ms (%s)",
                         d->table, BX_KV_DYNAMODB_TABLE_WAIT_MS,
                         e == BX_OK ? status : "DescribeTable failed");
        goto out;
    }
    ensure_ttl(d);
    e = BX_OK;
out:
    ddb_close(d);
    return e;
}

const struct bx_kv_ops bx_kv_dynamodb = {
    .scheme = "dynamodb",
    .open = ddb_open,
    .close = ddb_close,
    .get = ddb_get,
    .put = ddb_put,
    .del = ddb_del,
    .ping = ddb_ping,
};
