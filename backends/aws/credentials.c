// SPDX-License-Identifier: Apache-2.0
// The AWS credential chain of aws/credentials.h: static keys from the environment, or a web
// identity token (EKS IRSA) exchanged with STS AssumeRoleWithWebIdentity, an unsigned form POST
// over libcurl. Temporary keys live in one process-wide cache: `lock` guards it and is held only
// to copy; `refreshing` is held by the one thread talking to STS, which takes at most
// BX_AWS_STS_CALL_BUDGET_MS. The STS answer is parsed by hand within explicit bounds. Every buffer
// that held a secret or the token is wiped before it is freed; messages and logs name variables,
// files, the role and STS's error code, never a value.
#include "aws/credentials.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "boxoffice/base.h"
#include "boxoffice/httpc.h"
#include "boxoffice/log.h"

#define STS_VERSION           "2011-06-15"
#define WHY_MAX_BYTES         192 /* = sizeof struct bx_error.message */
#define TRANSPORT_WHY_BYTES   96
#define STS_CODE_MAX_BYTES    64
#define STS_MESSAGE_MAX_BYTES 96
#define TAG_MAX_BYTES         48
#define EXPIRATION_MAX_BYTES  64
#define ENTITY_MAX_BYTES      12 /* "&#x10FFFF;" and the named ones fit */
#define RFC3339_YEAR_MIN      1970
#define RFC3339_YEAR_MAX      9999
#define STS_RESPONSE_ROOT     "AssumeRoleWithWebIdentityResponse"
#define STS_RESULT            "AssumeRoleWithWebIdentityResult"

static enum bx_err curl_post(void *arg, const char *url, const char *form, size_t form_len,
                             int64_t timeout_ms, char *body, size_t body_cap, size_t *body_len_out,
                             long *status_out, char *why, size_t why_size);

static bx_aws_sts_post_fn sts_post = curl_post;
static void *sts_post_arg;

/* The temporary keys of the web identity, for whichever provider asks with the same identity
 * (role, token file, session name); a provider of another identity replaces them. */
static struct {
    pthread_mutex_t lock;       /* guards every field below */
    pthread_mutex_t refreshing; /* held by the one thread talking to STS; taken before lock */
    bool valid;
    char role_arn[BX_AWS_ROLE_ARN_MAX_BYTES + 1];
    char token_file[BX_AWS_PATH_MAX_BYTES + 1];
    char session_name[BX_AWS_SESSION_NAME_MAX_BYTES + 1];
    struct bx_aws_credentials creds;
    bool failed;          /* the last refresh failed, at failed_at_ms (monotonic) */
    int64_t failed_at_ms; /* ... and why: */
    char failure[WHY_MAX_BYTES];
} cache = {.lock = PTHREAD_MUTEX_INITIALIZER, .refreshing = PTHREAD_MUTEX_INITIALIZER};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- The environment ---- */

/* An environment variable's value; NULL when unset or empty. */
static const char *env(const char *name) {
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

/* Printable ASCII without spaces: what keys, tokens and ARNs are made of. */
static bool printable(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e) {
            return false;
        }
    }
    return true;
}

bool bx_aws_region_valid(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > BX_AWS_REGION_MAX_BYTES) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-')) {
            return false;
        }
    }
    return true;
}

/* STS's RoleSessionName: 2-64 of [A-Za-z0-9+=,.@_-]. */
static bool session_name_valid(const char *s) {
    size_t n = strlen(s);
    if (n < BX_AWS_SESSION_NAME_MIN_BYTES || n > BX_AWS_SESSION_NAME_MAX_BYTES) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  strchr("+=,.@_-", c) != NULL;
        if (!ok) {
            return false;
        }
    }
    return true;
}

static bool endpoint_valid(const char *s) {
    size_t n = strlen(s);
    size_t scheme = strncmp(s, "http://", 7) == 0 ? 7 : strncmp(s, "https://", 8) == 0 ? 8 : 0;
    return scheme > 0 && n > scheme && n <= BX_AWS_STS_URL_MAX_BYTES && printable(s, n) &&
           strpbrk(s, "?#") == NULL;
}

/* A static key as the backends always took it: any bytes but CR and LF, within max. */
static enum bx_err copy_static(const char *name, const char *v, char *out, size_t max,
                               struct bx_error *err) {
    if (strlen(v) > max || strpbrk(v, "\r\n") != NULL) {
        return bx_error_set(err, BX_UNAVAILABLE, NULL, "%s is malformed or too long (at most %zu)",
                            name, max);
    }
    bx_strlcpy(out, v, max + 1);
    return BX_OK;
}

static enum bx_err init_static(struct bx_aws_provider *p, const char *key, const char *secret,
                               struct bx_error *err) {
    p->source = BX_AWS_SOURCE_STATIC;
    const char *token = env("AWS_SESSION_TOKEN");
    enum bx_err e = copy_static("AWS_ACCESS_KEY_ID", key, p->fixed.access_key,
                                BX_AWS_ACCESS_KEY_MAX_BYTES, err);
    if (e == BX_OK) {
        e = copy_static("AWS_SECRET_ACCESS_KEY", secret, p->fixed.secret_key,
                        BX_AWS_SECRET_KEY_MAX_BYTES, err);
    }
    if (e == BX_OK && token != NULL) {
        e = copy_static("AWS_SESSION_TOKEN", token, p->fixed.session_token,
                        BX_AWS_SESSION_TOKEN_MAX_BYTES, err);
    }
    p->fixed.expires_unix_s = 0;
    return e;
}

static enum bx_err init_web_identity(struct bx_aws_provider *p, const char *role, const char *file,
                                     const char *region, struct bx_error *err) {
    p->source = BX_AWS_SOURCE_WEB_IDENTITY;
    size_t role_len = strlen(role);
    if (role_len < 20 || role_len > BX_AWS_ROLE_ARN_MAX_BYTES || strncmp(role, "arn:", 4) != 0 ||
        !printable(role, role_len)) {
        return bx_error_set(err, BX_UNAVAILABLE, NULL,
                            "AWS_ROLE_ARN is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)");
    }
    bx_strlcpy(p->role_arn, role, sizeof p->role_arn);
    if (strlen(file) > BX_AWS_PATH_MAX_BYTES || !printable(file, strlen(file))) {
        return bx_error_set(err, BX_UNAVAILABLE, NULL,
                            "AWS_WEB_IDENTITY_TOKEN_FILE is malformed or too long");
    }
    if (access(file, R_OK) != 0) {
        return bx_error_set(err, BX_UNAVAILABLE, NULL,
                            "AWS_WEB_IDENTITY_TOKEN_FILE %.100s cannot be read: %s", file,
                            strerror(errno));
    }
    bx_strlcpy(p->token_file, file, sizeof p->token_file);
    const char *session = env("AWS_ROLE_SESSION_NAME");
    if (session != NULL && !session_name_valid(session)) {
        return bx_error_set(err, BX_UNAVAILABLE, NULL,
                            "AWS_ROLE_SESSION_NAME must be 2-64 of [A-Za-z0-9+=,.@_-]");
    }
    if (session != NULL) {
        bx_strlcpy(p->session_name, session, sizeof p->session_name);
    } else {
        snprintf(p->session_name, sizeof p->session_name, "boxoffice-%ld", (long)getpid());
    }
    const char *endpoint = env("AWS_STS_ENDPOINT");
    if (endpoint != NULL) {
        if (!endpoint_valid(endpoint)) {
            return bx_error_set(err, BX_UNAVAILABLE, NULL,
                                "AWS_STS_ENDPOINT must be http[s]://HOST[:PORT][/PATH]");
        }
        bx_strlcpy(p->sts_url, endpoint, sizeof p->sts_url);
        return BX_OK;
    }
    const char *from = "AWS_REGION";
    const char *r = env("AWS_REGION");
    if (r == NULL) {
        from = "AWS_DEFAULT_REGION";
        r = env("AWS_DEFAULT_REGION");
    }
    if (r == NULL) {
        from = "the store URL's region";
        r = region != NULL ? region : "";
    }
    if (!bx_aws_region_valid(r)) {
        return bx_error_set(err, BX_UNAVAILABLE, NULL,
                            "no region for STS: %s is not a region (set AWS_REGION)", from);
    }
    /* the China partition lives under its own domain */
    snprintf(p->sts_url, sizeof p->sts_url, "https://sts.%s.amazonaws.com%s/", r,
             strncmp(r, "cn-", 3) == 0 ? ".cn" : "");
    return BX_OK;
}

enum bx_err bx_aws_provider_init(struct bx_aws_provider *p, const char *region,
                                 struct bx_error *err) {
    BX_ASSERT(p != NULL && err != NULL);
    memset(p, 0, sizeof *p);
    const char *key = env("AWS_ACCESS_KEY_ID");
    const char *secret = env("AWS_SECRET_ACCESS_KEY");
    const char *role = env("AWS_ROLE_ARN");
    const char *file = env("AWS_WEB_IDENTITY_TOKEN_FILE");
    enum bx_err e;
    if (key != NULL && secret != NULL) {
        e = init_static(p, key, secret, err);
    } else if (key != NULL || secret != NULL) {
        /* half a pair is a mistake to point out, not a reason to try something else */
        e = bx_error_set(err, BX_UNAVAILABLE, NULL,
                         "%s is set but %s is not: static AWS credentials need both",
                         key != NULL ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
                         key != NULL ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
    } else if (role != NULL && file != NULL) {
        e = init_web_identity(p, role, file, region, err);
    } else if (role != NULL || file != NULL) {
        e = bx_error_set(err, BX_UNAVAILABLE, NULL,
                         "%s is set but %s is not: a web identity (IRSA) needs both",
                         role != NULL ? "AWS_ROLE_ARN" : "AWS_WEB_IDENTITY_TOKEN_FILE",
                         role != NULL ? "AWS_WEB_IDENTITY_TOKEN_FILE" : "AWS_ROLE_ARN");
    } else {
        e = bx_error_set(err, BX_UNAVAILABLE, NULL,
                         "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
                         "AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN (EKS IRSA)");
    }
    if (e != BX_OK) {
        sodium_memzero(p, sizeof *p);
    }
    return e;
}

void bx_aws_provider_fini(struct bx_aws_provider *p) {
    if (p != NULL) {
        sodium_memzero(p, sizeof *p);
    }
}

void bx_aws_credentials_wipe(struct bx_aws_credentials *c) {
    sodium_memzero(c, sizeof *c);
}

/* ---- The STS answer ---- */

/* Copies what a set of credentials holds, not the whole buffers. */
static void creds_copy(struct bx_aws_credentials *dst, const struct bx_aws_credentials *src) {
    bx_strlcpy(dst->access_key, src->access_key, sizeof dst->access_key);
    bx_strlcpy(dst->secret_key, src->secret_key, sizeof dst->secret_key);
    bx_strlcpy(dst->session_token, src->session_token, sizeof dst->session_token);
    dst->expires_unix_s = src->expires_unix_s;
}

static const char *find(const char *hay, size_t n, const char *needle) {
    return memmem(hay, n, needle, strlen(needle));
}

/* The content of the element <name>...</name> in doc[0, len): the first one, which must be the
 * only one. 1 with *text and *text_len; 0 when there is none; -1 when it is not closed or occurs
 * twice (why says which). */
static int element(const char *doc, size_t len, const char *name, const char **text,
                   size_t *text_len, char *why, size_t why_size) {
    char open[TAG_MAX_BYTES], close[TAG_MAX_BYTES];
    snprintf(open, sizeof open, "<%s>", name);
    snprintf(close, sizeof close, "</%s>", name);
    const char *end = doc + len;
    const char *a = find(doc, len, open);
    if (a == NULL) {
        return 0;
    }
    const char *start = a + strlen(open);
    const char *b = find(start, (size_t)(end - start), close);
    if (b == NULL) {
        snprintf(why, why_size, "<%s> is not closed", name);
        return -1;
    }
    const char *after = b + strlen(close);
    if (find(after, (size_t)(end - after), open) != NULL) {
        snprintf(why, why_size, "<%s> occurs twice", name);
        return -1;
    }
    *text = start;
    *text_len = (size_t)(b - start);
    return 1;
}

/* Decodes XML text src[0, n) (the five named entities and numeric character references) into
 * out, NUL-terminated; false when malformed, when a reference is not printable ASCII (nothing
 * we read may hold anything else), or when it needs more than out_size - 1 bytes. */
static bool xml_unescape(const char *src, size_t n, char *out, size_t out_size, size_t *len_out) {
    static const struct {
        const char *name;
        char c;
    } named[] = {{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}};
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        char c = src[i];
        size_t used = 1;
        if (c == '&') {
            size_t rest = n - i < ENTITY_MAX_BYTES ? n - i : ENTITY_MAX_BYTES;
            const char *semi = memchr(src + i, ';', rest);
            if (semi == NULL) {
                return false;
            }
            used = (size_t)(semi - (src + i)) + 1; /* "&...;" */
            const char *ref = src + i + 1;
            size_t ref_len = used - 1; /* with the ';' */
            bool found = false;
            for (size_t k = 0; k < BX_ARRAY_LEN(named) && !found; k++) {
                if (ref_len == strlen(named[k].name) && memcmp(ref, named[k].name, ref_len) == 0) {
                    c = named[k].c;
                    found = true;
                }
            }
            if (!found) {
                if (ref_len < 3 || ref[0] != '#') {
                    return false;
                }
                bool hex = ref[1] == 'x' || ref[1] == 'X';
                size_t first = hex ? 2 : 1;
                if (first >= ref_len - 1) {
                    return false; /* no digits */
                }
                uint32_t cp = 0;
                for (size_t k = first; k < ref_len - 1; k++) {
                    int v = hex ? bx_hex_value(ref[k])
                                : (ref[k] >= '0' && ref[k] <= '9' ? ref[k] - '0' : -1);
                    if (v < 0) {
                        return false;
                    }
                    cp = cp * (hex ? 16u : 10u) + (uint32_t)v; /* <= 9 digits: fits */
                }
                if (cp < 0x21 || cp > 0x7e) {
                    return false;
                }
                c = (char)cp;
            }
        }
        if (o + 1 >= out_size) {
            return false;
        }
        out[o++] = c;
        i += used;
    }
    out[o] = '\0';
    *len_out = o;
    return true;
}

/* One value of <Credentials>: exactly one element, no markup inside, printable ASCII of min_len
 * to out_size - 1 bytes once unescaped. */
static bool leaf(const char *doc, size_t len, const char *name, size_t min_len, char *out,
                 size_t out_size, char *why, size_t why_size) {
    const char *text = NULL;
    size_t text_len = 0, n = 0;
    int r = element(doc, len, name, &text, &text_len, why, why_size);
    if (r == 0) {
        snprintf(why, why_size, "no <%s>", name);
        return false;
    }
    if (r < 0) {
        return false;
    }
    if (memchr(text, '<', text_len) != NULL) {
        snprintf(why, why_size, "<%s> holds markup", name);
        return false;
    }
    if (!xml_unescape(text, text_len, out, out_size, &n) || !printable(out, n)) {
        snprintf(why, why_size, "<%s> is malformed, not printable ASCII or longer than %zu bytes",
                 name, out_size - 1);
        return false;
    }
    if (n < min_len) {
        snprintf(why, why_size, "<%s> is shorter than %zu bytes", name, min_len);
        return false;
    }
    return true;
}

enum bx_err bx_aws_sts_parse(const char *doc, size_t len, struct bx_aws_credentials *out, char *why,
                             size_t why_size) {
    BX_ASSERT(out != NULL && why != NULL && why_size > 0);
    memset(out, 0, sizeof *out);
    why[0] = '\0';
    if (doc == NULL || len == 0) {
        snprintf(why, why_size, "empty response");
        return BX_UNAVAILABLE;
    }
    if (len > BX_AWS_STS_RESPONSE_MAX_BYTES) {
        snprintf(why, why_size, "response of %zu bytes is larger than %d", len,
                 BX_AWS_STS_RESPONSE_MAX_BYTES);
        return BX_UNAVAILABLE;
    }
    if (memchr(doc, '\0', len) != NULL) {
        snprintf(why, why_size, "response holds a NUL byte");
        return BX_UNAVAILABLE;
    }
    /* the root, <AssumeRoleWithWebIdentityResponse xmlns="...">, must be closed: so a truncated
     * response is refused as a whole, not read up to where it was cut */
    const char *end = doc + len;
    const char *root = find(doc, len, "<" STS_RESPONSE_ROOT);
    const char *p = root != NULL ? root + sizeof "<" STS_RESPONSE_ROOT - 1 : NULL;
    const char *gt = p != NULL && p < end ? memchr(p, '>', (size_t)(end - p)) : NULL;
    if (gt == NULL || (*p != '>' && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')) {
        snprintf(why, why_size, "not an " STS_RESPONSE_ROOT);
        return BX_UNAVAILABLE;
    }
    const char *body = gt + 1;
    const char *body_end = find(body, (size_t)(end - body), "</" STS_RESPONSE_ROOT ">");
    if (body_end == NULL) {
        snprintf(why, why_size, "truncated: no </" STS_RESPONSE_ROOT ">");
        return BX_UNAVAILABLE;
    }
    const char *result = NULL, *creds = NULL;
    size_t result_len = 0, creds_len = 0;
    int r =
        element(body, (size_t)(body_end - body), STS_RESULT, &result, &result_len, why, why_size);
    if (r == 0) {
        snprintf(why, why_size, "no <" STS_RESULT ">");
    }
    if (r == 1) {
        r = element(result, result_len, "Credentials", &creds, &creds_len, why, why_size);
        if (r == 0) {
            snprintf(why, why_size, "no <Credentials>");
        }
    }
    char expiration[EXPIRATION_MAX_BYTES];
    bool ok = r == 1 &&
              leaf(creds, creds_len, "AccessKeyId", BX_AWS_ACCESS_KEY_MIN_BYTES, out->access_key,
                   sizeof out->access_key, why, why_size) &&
              leaf(creds, creds_len, "SecretAccessKey", 1, out->secret_key, sizeof out->secret_key,
                   why, why_size) &&
              leaf(creds, creds_len, "SessionToken", 1, out->session_token,
                   sizeof out->session_token, why, why_size) &&
              leaf(creds, creds_len, "Expiration", 1, expiration, sizeof expiration, why, why_size);
    if (ok && (!bx_aws_rfc3339_to_unix_s(expiration, strlen(expiration), &out->expires_unix_s) ||
               out->expires_unix_s <= 0)) {
        snprintf(why, why_size, "<Expiration> is not an RFC 3339 date-time");
        ok = false;
    }
    if (!ok) {
        bx_aws_credentials_wipe(out);
        return BX_UNAVAILABLE;
    }
    BX_ASSERT(out->expires_unix_s > 0 && out->access_key[0] != '\0');
    return BX_OK;
}

/* Reads count digits at s into *v; false when one is not a digit. */
static bool digits(const char *s, size_t count, int64_t *v) {
    *v = 0;
    for (size_t i = 0; i < count; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        *v = *v * 10 + (s[i] - '0');
    }
    return true;
}

static bool leap_year(int64_t y) {
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

bool bx_aws_rfc3339_to_unix_s(const char *s, size_t n, int64_t *unix_s_out) {
    BX_ASSERT(unix_s_out != NULL);
    *unix_s_out = 0;
    int64_t year, mon, day, hour, min, sec;
    if (s == NULL || n < sizeof "YYYY-MM-DDTHH:MM:SSZ" - 1 || s[4] != '-' || s[7] != '-' ||
        (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' || !digits(s, 4, &year) ||
        !digits(s + 5, 2, &mon) || !digits(s + 8, 2, &day) || !digits(s + 11, 2, &hour) ||
        !digits(s + 14, 2, &min) || !digits(s + 17, 2, &sec)) {
        return false;
    }
    size_t i = 19;
    if (s[i] == '.') {
        size_t first = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            i++;
        }
        if (i == first) {
            return false;
        }
    }
    int64_t offset_s = 0;
    if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i + 6 == n && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        int64_t oh, om;
        if (!digits(s + i + 1, 2, &oh) || !digits(s + i + 4, 2, &om) || oh > 23 || om > 59) {
            return false;
        }
        offset_s = (oh * 3600 + om * 60) * (s[i] == '-' ? -1 : 1);
        i += 6;
    } else {
        return false;
    }
    static const int64_t month_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (i != n || year < RFC3339_YEAR_MIN || year > RFC3339_YEAR_MAX || mon < 1 || mon > 12 ||
        day < 1 || day > month_days[mon - 1] + (mon == 2 && leap_year(year)) || hour > 23 ||
        min > 59 || sec > 60) {
        return false;
    }
    int64_t t = days_from_civil(year, mon, day) * 86400 + hour * 3600 + min * 60 + sec - offset_s;
    if (t < 0) {
        return false;
    }
    *unix_s_out = t;
    return true;
}

/* Copies the text of <name> in an STS error document (no unescaping: it is for messages), with
 * anything but printable ASCII and spaces made a space; "" when absent. */
static void error_text(const char *doc, size_t len, const char *name, char *out, size_t size) {
    char why[WHY_MAX_BYTES];
    const char *text = NULL;
    size_t n = 0;
    out[0] = '\0';
    if (doc == NULL || element(doc, len, name, &text, &n, why, sizeof why) != 1) {
        return;
    }
    if (n >= size) {
        n = size - 1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        out[i] = c >= 0x20 && c <= 0x7e ? (char)c : ' ';
    }
    out[n] = '\0';
}

/* ---- Talking to STS ---- */

struct sink {
    char *buf;
    size_t cap;
    size_t len;
    bool too_large;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp) {
    struct sink *s = userp;
    size_t n = size * nmemb;
    if (n > s->cap - s->len) {
        s->too_large = true;
        return 0;
    }
    memcpy(s->buf + s->len, data, n);
    s->len += n;
    return n;
}

static enum bx_err curl_post(void *arg, const char *url, const char *form, size_t form_len,
                             int64_t timeout_ms, char *body, size_t body_cap, size_t *body_len_out,
                             long *status_out, char *why, size_t why_size) {
    (void)arg;
    pthread_once(&curl_once, curl_init_once);
    *body_len_out = 0;
    *status_out = 0;
    struct curl_slist *headers = NULL;
    static const char *const lines[] = {
        "Content-Type: application/x-www-form-urlencoded; charset=utf-8", "Accept: text/xml",
        "Expect:"};
    for (size_t i = 0; i < BX_ARRAY_LEN(lines); i++) {
        struct curl_slist *l = curl_slist_append(headers, lines[i]);
        if (l == NULL) {
            curl_slist_free_all(headers);
            snprintf(why, why_size, "out of memory");
            return BX_UNAVAILABLE;
        }
        headers = l;
    }
    CURL *c = curl_easy_init();
    if (c == NULL) {
        curl_slist_free_all(headers);
        snprintf(why, why_size, "no curl handle");
        return BX_UNAVAILABLE;
    }
    struct sink s = {.buf = body, .cap = body_cap};
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (bx_httpc_ca_file() != NULL) {
        curl_easy_setopt(c, CURLOPT_CAINFO, bx_httpc_ca_file());
    }
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)BX_AWS_STS_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, form); /* not copied: no second copy of the token */
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)form_len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    CURLcode rc = curl_easy_perform(c);
    enum bx_err e = BX_OK;
    if (s.too_large) {
        e = BX_PAYLOAD_TOO_LARGE;
    } else if (rc != CURLE_OK) {
        snprintf(why, why_size, "%s", curl_easy_strerror(rc));
        e = BX_UNAVAILABLE;
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status_out);
    }
    *body_len_out = s.len;
    curl_easy_cleanup(c);
    curl_slist_free_all(headers);
    return e;
}

/* Reads the web identity token (kubelet rewrites the file as it rotates the token) into a buffer
 * of BX_AWS_WEB_IDENTITY_TOKEN_MAX_BYTES + 2 bytes, without trailing white space. */
static enum bx_err read_token(const char *path, char *token, size_t *len_out, char *why,
                              size_t why_size) {
    *len_out = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, why_size, "AWS_WEB_IDENTITY_TOKEN_FILE %.100s: %s", path,
                 fd < 0 ? strerror(errno) : "not a regular file");
        if (fd >= 0) {
            close(fd);
        }
        return BX_UNAVAILABLE;
    }
    const size_t want = BX_AWS_WEB_IDENTITY_TOKEN_MAX_BYTES + 1; /* one more: to see it is long */
    size_t n = 0;
    while (n < want) {
        ssize_t r = read(fd, token + n, want - n);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            snprintf(why, why_size, "AWS_WEB_IDENTITY_TOKEN_FILE %.100s: %s", path,
                     strerror(errno));
            close(fd);
            return BX_UNAVAILABLE;
        }
        if (r == 0) {
            break;
        }
        n += (size_t)r;
    }
    close(fd);
    while (n > 0 && (token[n - 1] == ' ' || token[n - 1] == '\t' || token[n - 1] == '\r' ||
                     token[n - 1] == '\n')) {
        n--;
    }
    token[n] = '\0';
    if (n > BX_AWS_WEB_IDENTITY_TOKEN_MAX_BYTES || n < 4 || !printable(token, n)) {
        snprintf(why, why_size,
                 "AWS_WEB_IDENTITY_TOKEN_FILE %.100s does not hold a token (4-%d printable "
                 "ASCII bytes)",
                 path, BX_AWS_WEB_IDENTITY_TOKEN_MAX_BYTES);
        return BX_UNAVAILABLE;
    }
    *len_out = n;
    return BX_OK;
}

/* Appends s[0, n) to out at *pos, form-encoded (unreserved bytes as they are, others %XX). The
 * caller sized out for 3 bytes per input byte. */
static void form_encode(char *out, size_t size, size_t *pos, const char *s, size_t n) {
    static const char hex[] = "0123456789ABCDEF";
    size_t o = *pos;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '.' || c == '_' || c == '~';
        BX_ASSERT(o + 3 < size);
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
}

static void form_append(char *out, size_t size, size_t *pos, const char *s) {
    size_t n = strlen(s);
    BX_ASSERT(*pos + n < size);
    memcpy(out + *pos, s, n + 1);
    *pos += n;
}

static bool sts_retryable(long status, const char *code) {
    return status >= 500 || status == 429 || strcmp(code, "Throttling") == 0 ||
           strcmp(code, "ThrottlingException") == 0 || strcmp(code, "RequestLimitExceeded") == 0 ||
           strcmp(code, "IDPCommunicationError") == 0;
}

/* Full jitter: a uniform pause in [0, min(base * 2^attempt, max)). */
static int64_t backoff_ms(unsigned attempt) {
    int64_t cap = (int64_t)BX_AWS_STS_BACKOFF_BASE_MS << attempt;
    if (cap > BX_AWS_STS_BACKOFF_MAX_MS) {
        cap = BX_AWS_STS_BACKOFF_MAX_MS;
    }
    uint32_t rnd;
    bx_random_bytes(&rnd, sizeof rnd);
    return (int64_t)(rnd % (uint32_t)cap);
}

/* Posts the form to STS, a bounded number of times within BX_AWS_STS_CALL_BUDGET_MS, and parses
 * the answer into out. body is a scratch buffer of BX_AWS_STS_RESPONSE_MAX_BYTES. */
static enum bx_err sts_call(const struct bx_aws_provider *p, const char *form, size_t form_len,
                            char *body, struct bx_aws_credentials *out, char *why,
                            size_t why_size) {
    enum bx_err e = BX_UNAVAILABLE;
    snprintf(why, why_size, "STS %.100s: no attempt made", p->sts_url);
    int64_t deadline = bx_now_mono_ms() + BX_AWS_STS_CALL_BUDGET_MS;
    for (unsigned attempt = 0; attempt < BX_AWS_STS_ATTEMPTS_MAX; attempt++) {
        if (attempt > 0) {
            int64_t pause_ms = backoff_ms(attempt);
            if (bx_now_mono_ms() + pause_ms + BX_AWS_STS_CONNECT_TIMEOUT_MS >= deadline) {
                break; /* no time left for a useful attempt */
            }
            usleep((useconds_t)(pause_ms * 1000));
        }
        int64_t left_ms = deadline - bx_now_mono_ms();
        int64_t timeout_ms = left_ms < BX_AWS_STS_TIMEOUT_MS ? left_ms : BX_AWS_STS_TIMEOUT_MS;
        size_t len = 0;
        long status = 0;
        char failure[TRANSPORT_WHY_BYTES] = "";
        enum bx_err t =
            sts_post(sts_post_arg, p->sts_url, form, form_len, timeout_ms, body,
                     BX_AWS_STS_RESPONSE_MAX_BYTES, &len, &status, failure, sizeof failure);
        BX_ASSERT(len <= BX_AWS_STS_RESPONSE_MAX_BYTES);
        bool retry = false;
        e = BX_UNAVAILABLE;
        if (t == BX_PAYLOAD_TOO_LARGE) {
            snprintf(why, why_size, "STS %.100s: an answer larger than %d bytes", p->sts_url,
                     BX_AWS_STS_RESPONSE_MAX_BYTES);
        } else if (t != BX_OK) {
            retry = true; /* no answer: nothing was assumed, so asking again is safe */
            snprintf(why, why_size, "STS %.100s: %s", p->sts_url, failure);
        } else if (status == 200) {
            char parse_why[WHY_MAX_BYTES];
            e = bx_aws_sts_parse(body, len, out, parse_why, sizeof parse_why);
            if (e != BX_OK) {
                snprintf(why, why_size, "STS %.80s: unusable answer: %s", p->sts_url, parse_why);
            }
        } else {
            char code[STS_CODE_MAX_BYTES], message[STS_MESSAGE_MAX_BYTES];
            error_text(body, len, "Code", code, sizeof code);
            error_text(body, len, "Message", message, sizeof message);
            retry = sts_retryable(status, code);
            snprintf(why, why_size, "STS AssumeRoleWithWebIdentity: status %ld %s: %s", status,
                     code[0] != '\0' ? code : "(no error code)", message);
        }
        sodium_memzero(body, len);
        if (!retry) {
            break;
        }
    }
    return e;
}

/* Asks STS for new keys with the token as the token file holds it now. */
static enum bx_err refresh(const struct bx_aws_provider *p, struct bx_aws_credentials *out,
                           char *why, size_t why_size) {
    const size_t token_cap = BX_AWS_WEB_IDENTITY_TOKEN_MAX_BYTES + 2;
    static const char action[] = "Action=AssumeRoleWithWebIdentity&DurationSeconds=";
    char duration[24];
    snprintf(duration, sizeof duration, "%d", BX_AWS_STS_DURATION_S);
    size_t role_len = strlen(p->role_arn), session_len = strlen(p->session_name);
    size_t form_cap = sizeof action + sizeof duration + sizeof "&RoleArn=&RoleSessionName=" +
                      sizeof "&Version=" STS_VERSION "&WebIdentityToken=" +
                      3 * (role_len + session_len + BX_AWS_WEB_IDENTITY_TOKEN_MAX_BYTES) + 1;
    char *token = malloc(token_cap);
    char *form = malloc(form_cap);
    char *body = malloc(BX_AWS_STS_RESPONSE_MAX_BYTES);
    size_t token_len = 0, pos = 0;
    enum bx_err e = BX_UNAVAILABLE;
    if (token == NULL || form == NULL || body == NULL) {
        snprintf(why, why_size, "out of memory");
        goto out;
    }
    e = read_token(p->token_file, token, &token_len, why, why_size);
    if (e != BX_OK) {
        goto out;
    }
    /* parameters in name order, as AWS's own SDKs send them */
    form_append(form, form_cap, &pos, action);
    form_append(form, form_cap, &pos, duration);
    form_append(form, form_cap, &pos, "&RoleArn=");
    form_encode(form, form_cap, &pos, p->role_arn, role_len);
    form_append(form, form_cap, &pos, "&RoleSessionName=");
    form_encode(form, form_cap, &pos, p->session_name, session_len);
    form_append(form, form_cap, &pos, "&Version=" STS_VERSION "&WebIdentityToken=");
    form_encode(form, form_cap, &pos, token, token_len);
    e = sts_call(p, form, pos, body, out, why, why_size);
out:
    if (token != NULL) {
        sodium_memzero(token, token_cap);
    }
    if (form != NULL) {
        sodium_memzero(form, form_cap);
    }
    if (body != NULL) {
        sodium_memzero(body, BX_AWS_STS_RESPONSE_MAX_BYTES);
    }
    free(token);
    free(form);
    free(body);
    return e;
}

/* ---- The process-wide cache ---- */

enum cached { CACHED_NONE, CACHED_USABLE, CACHED_FRESH };

/* With cache.lock held. */
static bool same_identity(const struct bx_aws_provider *p) {
    return strcmp(cache.role_arn, p->role_arn) == 0 &&
           strcmp(cache.token_file, p->token_file) == 0 &&
           strcmp(cache.session_name, p->session_name) == 0;
}

/* With cache.lock held: copies p's cached keys into out when they may still sign, and says
 * whether they are also fresh (outside the refresh window). */
static enum cached cached(const struct bx_aws_provider *p, struct bx_aws_credentials *out,
                          int64_t now_s) {
    if (!cache.valid || !same_identity(p) ||
        now_s >= cache.creds.expires_unix_s - BX_AWS_EXPIRY_MARGIN_S) {
        return CACHED_NONE;
    }
    creds_copy(out, &cache.creds);
    return now_s < cache.creds.expires_unix_s - BX_AWS_REFRESH_BEFORE_S ? CACHED_FRESH
                                                                        : CACHED_USABLE;
}

/* With cache.lock held: whether p's last refresh failed so recently that STS is left alone. */
static bool held_off(const struct bx_aws_provider *p, int64_t now_ms) {
    return cache.failed && same_identity(p) && now_ms - cache.failed_at_ms < BX_AWS_STS_HOLDOFF_MS;
}

/* With cache.lock held: makes the cache p's, dropping another identity's keys and failure. */
static void adopt(const struct bx_aws_provider *p) {
    if (same_identity(p)) {
        return;
    }
    bx_aws_credentials_wipe(&cache.creds);
    cache.valid = false;
    cache.failed = false;
    bx_strlcpy(cache.role_arn, p->role_arn, sizeof cache.role_arn);
    bx_strlcpy(cache.token_file, p->token_file, sizeof cache.token_file);
    bx_strlcpy(cache.session_name, p->session_name, sizeof cache.session_name);
}

void bx_aws_credentials_forget(void) {
    pthread_mutex_lock(&cache.lock);
    bx_aws_credentials_wipe(&cache.creds);
    cache.valid = false;
    cache.failed = false;
    cache.failure[0] = '\0';
    cache.role_arn[0] = cache.token_file[0] = cache.session_name[0] = '\0';
    pthread_mutex_unlock(&cache.lock);
}

void bx_aws_sts_set_transport(bx_aws_sts_post_fn fn, void *arg) {
    sts_post = fn != NULL ? fn : curl_post;
    sts_post_arg = fn != NULL ? arg : NULL;
}

/* With cache.lock held: the answer that needs no STS call, or false when one is due. */
static bool answer_from_cache(const struct bx_aws_provider *p, struct bx_aws_credentials *out,
                              enum cached *state, enum bx_err *e, struct bx_error *err) {
    *state = cached(p, out, bx_now_unix_s());
    bool hold = held_off(p, bx_now_mono_ms());
    if (*state == CACHED_FRESH || (*state == CACHED_USABLE && hold)) {
        *e = BX_OK;
        return true;
    }
    if (hold) {
        *e = bx_error_set(err, BX_UNAVAILABLE, NULL, "%s", cache.failure);
        return true;
    }
    return false;
}

enum bx_err bx_aws_provider_get(const struct bx_aws_provider *p, struct bx_aws_credentials *out,
                                struct bx_error *err) {
    BX_ASSERT(p != NULL && out != NULL && err != NULL);
    if (p->source == BX_AWS_SOURCE_STATIC) {
        creds_copy(out, &p->fixed);
        return BX_OK;
    }
    BX_ASSERT(p->source == BX_AWS_SOURCE_WEB_IDENTITY);
    enum cached state;
    enum bx_err e = BX_OK;
    pthread_mutex_lock(&cache.lock);
    bool done = answer_from_cache(p, out, &state, &e, err);
    pthread_mutex_unlock(&cache.lock);
    if (done) {
        goto out;
    }
    if (state == CACHED_USABLE) {
        if (pthread_mutex_trylock(&cache.refreshing) != 0) {
            return BX_OK; /* another thread is refreshing; these keys still sign */
        }
    } else {
        pthread_mutex_lock(&cache.refreshing);
    }
    /* another thread may have refreshed, or failed to, while this one waited */
    pthread_mutex_lock(&cache.lock);
    done = answer_from_cache(p, out, &state, &e, err);
    pthread_mutex_unlock(&cache.lock);
    if (done) {
        pthread_mutex_unlock(&cache.refreshing);
        goto out;
    }
    struct bx_aws_credentials fresh;
    char why[WHY_MAX_BYTES];
    e = refresh(p, &fresh, why, sizeof why);
    pthread_mutex_lock(&cache.lock);
    adopt(p);
    if (e == BX_OK) {
        creds_copy(&cache.creds, &fresh);
        cache.valid = true;
        cache.failed = false;
        creds_copy(out, &fresh);
    } else {
        cache.failed = true;
        cache.failed_at_ms = bx_now_mono_ms();
        bx_strlcpy(cache.failure, why, sizeof cache.failure);
    }
    pthread_mutex_unlock(&cache.lock);
    pthread_mutex_unlock(&cache.refreshing);
    if (e == BX_OK) {
        char until[32] = "?";
        struct tm tm;
        time_t t = (time_t)fresh.expires_unix_s;
        if (gmtime_r(&t, &tm) != NULL) {
            strftime(until, sizeof until, "%Y-%m-%dT%H:%M:%SZ", &tm);
        }
        bx_info("aws credentials: assumed %.120s as session %s through %.80s, valid until %s",
                p->role_arn, p->session_name, p->sts_url, until);
        if (fresh.expires_unix_s - bx_now_unix_s() <= BX_AWS_REFRESH_BEFORE_S) {
            bx_warn("aws credentials: STS keys expire within %d s of being issued; is the clock "
                    "right?",
                    BX_AWS_REFRESH_BEFORE_S);
        }
    } else if (state == CACHED_USABLE) {
        bx_warn("aws credentials: refresh failed, signing with the current keys until they "
                "expire: %s",
                why);
        e = BX_OK; /* out holds them */
    } else {
        bx_warn("aws credentials: %s", why);
        e = bx_error_set(err, BX_UNAVAILABLE, NULL, "%s", why);
    }
    bx_aws_credentials_wipe(&fresh);
out:
    if (e != BX_OK) {
        bx_aws_credentials_wipe(out);
    }
    return e;
}
