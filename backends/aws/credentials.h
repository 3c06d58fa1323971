// SPDX-License-Identifier: Apache-2.0
// AWS credentials for the backends that sign requests with SigV4 (kv/dynamodb.c, objects/s3.c),
// backends-private. One chain, resolved when a store opens: static keys from the environment, or
// a web identity (EKS IRSA) exchanged with STS AssumeRoleWithWebIdentity for temporary keys that
// are cached process-wide and refreshed before they expire. Nothing here logs a secret, a session
// token or the web identity token.
#ifndef BOXOFFICE_BACKENDS_AWS_CREDENTIALS_H
#define BOXOFFICE_BACKENDS_AWS_CREDENTIALS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boxoffice/err.h"

#define BX_AWS_ACCESS_KEY_MIN_BYTES         16 /* STS's AccessKeyId: 16-128 */
#define BX_AWS_ACCESS_KEY_MAX_BYTES         128
#define BX_AWS_SECRET_KEY_MAX_BYTES         128
#define BX_AWS_SESSION_TOKEN_MAX_BYTES      8192 /* AWS fixes no size; ~1 KiB in practice */
#define BX_AWS_REGION_MAX_BYTES             32
#define BX_AWS_ROLE_ARN_MAX_BYTES           2048 /* STS's RoleArn: 20-2048 */
#define BX_AWS_SESSION_NAME_MIN_BYTES       2    /* STS's RoleSessionName: 2-64 */
#define BX_AWS_SESSION_NAME_MAX_BYTES       64
#define BX_AWS_PATH_MAX_BYTES               4096
#define BX_AWS_STS_URL_MAX_BYTES            512
#define BX_AWS_WEB_IDENTITY_TOKEN_MAX_BYTES 20000 /* STS's WebIdentityToken: 4-20000 */
#define BX_AWS_STS_RESPONSE_MAX_BYTES       (64 * 1024)
#define BX_AWS_STS_DURATION_S               3600
#define BX_AWS_REFRESH_BEFORE_S             300 /* refresh when this close to expiry */
#define BX_AWS_EXPIRY_MARGIN_S              60  /* never sign with keys this close to expiry */
#define BX_AWS_STS_CONNECT_TIMEOUT_MS       2000
#define BX_AWS_STS_TIMEOUT_MS               5000  /* per attempt, connect included */
#define BX_AWS_STS_CALL_BUDGET_MS           10000 /* all attempts of one refresh, backoff too */
#define BX_AWS_STS_ATTEMPTS_MAX             3
#define BX_AWS_STS_BACKOFF_BASE_MS          100
#define BX_AWS_STS_BACKOFF_MAX_MS           1000
#define BX_AWS_STS_HOLDOFF_MS               2000 /* after a failed refresh, no new STS call */

/* One set of keys to sign with. */
struct bx_aws_credentials {
    char access_key[BX_AWS_ACCESS_KEY_MAX_BYTES + 1];
    char secret_key[BX_AWS_SECRET_KEY_MAX_BYTES + 1];
    char session_token[BX_AWS_SESSION_TOKEN_MAX_BYTES + 1]; /* "" when none */
    int64_t expires_unix_s;                                 /* 0: never (static keys) */
};

enum bx_aws_source {
    BX_AWS_SOURCE_NONE = 0,
    BX_AWS_SOURCE_STATIC,       /* AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY [+ SESSION_TOKEN] */
    BX_AWS_SOURCE_WEB_IDENTITY, /* AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE, through STS */
};

/* Where one store gets its credentials; caller-owned (inside the store's context), filled by
 * bx_aws_provider_init and read-only afterwards, so any thread may call bx_aws_provider_get. */
struct bx_aws_provider {
    enum bx_aws_source source;
    struct bx_aws_credentials fixed; /* BX_AWS_SOURCE_STATIC: the keys, as read at init */
    /* BX_AWS_SOURCE_WEB_IDENTITY: */
    char role_arn[BX_AWS_ROLE_ARN_MAX_BYTES + 1];
    char token_file[BX_AWS_PATH_MAX_BYTES + 1];
    char session_name[BX_AWS_SESSION_NAME_MAX_BYTES + 1];
    char sts_url[BX_AWS_STS_URL_MAX_BYTES + 1];
};

/* Resolves the chain from the environment, in this order:
 *   1. AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN when set): static keys,
 *      copied now, so later changes to the environment do not affect this store. Only one of the
 *      two set is an error.
 *   2. AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN (both; AWS_ROLE_SESSION_NAME, default
 *      "boxoffice-<pid>"): web identity. STS is AWS_STS_ENDPOINT when set, otherwise
 *      https://sts.R.amazonaws.com/ with R = AWS_REGION, else AWS_DEFAULT_REGION, else region (the
 *      store's). The token file must be readable; it is read again at every refresh.
 *   3. Otherwise an error naming the variables.
 * Does not contact STS. BX_OK, or BX_UNAVAILABLE with err->message saying what is missing or
 * malformed (never a value of a secret variable). */
enum bx_err bx_aws_provider_init(struct bx_aws_provider *p, const char *region,
                                 struct bx_error *err);

/* The credentials to sign one request with: the static keys, or the cached temporary keys of the
 * web identity, refreshed through STS first when they expire within BX_AWS_REFRESH_BEFORE_S
 * (one thread refreshes; others keep signing with keys still valid for BX_AWS_EXPIRY_MARGIN_S,
 * or wait for it). A failed refresh is not repeated for BX_AWS_STS_HOLDOFF_MS. BX_OK, or
 * BX_UNAVAILABLE with err->message (STS's status and error code, or what is wrong with the token
 * file). out is wiped on failure; the caller wipes it after use (bx_aws_credentials_wipe). */
enum bx_err bx_aws_provider_get(const struct bx_aws_provider *p, struct bx_aws_credentials *out,
                                struct bx_error *err);

/* Wipes the provider's copy of static keys. */
void bx_aws_provider_fini(struct bx_aws_provider *p);

/* Overwrites c with zeros in a way the compiler keeps. */
void bx_aws_credentials_wipe(struct bx_aws_credentials *c);

/* Parses an STS AssumeRoleWithWebIdentity response document doc[0, len) (need not be
 * NUL-terminated): AccessKeyId, SecretAccessKey, SessionToken and Expiration, each exactly once in
 * <Credentials> of <AssumeRoleWithWebIdentityResult> of a closed
 * <AssumeRoleWithWebIdentityResponse>. Values are XML-unescaped (the five named entities and
 * numeric references) and must be printable ASCII within the limits above; Expiration is RFC 3339.
 * BX_OK with *out filled, or BX_UNAVAILABLE with the reason in why (never a value) and *out wiped.
 * Documents over BX_AWS_STS_RESPONSE_MAX_BYTES are refused unread. */
enum bx_err bx_aws_sts_parse(const char *doc, size_t len, struct bx_aws_credentials *out, char *why,
                             size_t why_size);

/* Parses an RFC 3339 date-time s[0, n) ("2014-10-24T23:00:23Z", optional fraction, "Z" or
 * "+HH:MM"/"-HH:MM") into Unix seconds (fraction dropped); false when malformed or before 1970. */
bool bx_aws_rfc3339_to_unix_s(const char *s, size_t n, int64_t *unix_s_out);

/* ---- For tests only ---- */

/* Sends one POST of the form body to url and collects the answer into body[0, body_cap).
 * BX_OK when an HTTP answer arrived (*status_out set, *body_len_out bytes in body);
 * BX_PAYLOAD_TOO_LARGE when it was longer than body_cap; BX_UNAVAILABLE when none arrived within
 * timeout_ms (why says what happened). The default sends it with libcurl. */
typedef enum bx_err (*bx_aws_sts_post_fn)(void *arg, const char *url, const char *form,
                                          size_t form_len, int64_t timeout_ms, char *body,
                                          size_t body_cap, size_t *body_len_out, long *status_out,
                                          char *why, size_t why_size);

/* Replaces the STS transport (NULL: libcurl again). Call it before any provider is used; it is not
 * synchronised with refreshes in flight. */
void bx_aws_sts_set_transport(bx_aws_sts_post_fn fn, void *arg);

/* Forgets the process-wide cached web identity credentials and any failure being held off. */
void bx_aws_credentials_forget(void);

/* An AWS region name as the backends accept it: 1-BX_AWS_REGION_MAX_BYTES of [a-z0-9-]. */
bool bx_aws_region_valid(const char *s);

#endif
