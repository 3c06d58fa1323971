// SPDX-License-Identifier: Apache-2.0
// Sessions: log in (Argon2id check, throttled per email and per client address, identical answer
// and similar time for unknown email and wrong password), log out (the token's jti is revoked
// until it expires and appended to the revocation feed other services poll), the feed itself and
// the signing keys. Invariant: a revoked jti is in revoked:<jti> before logout answers 204.
#include <stdio.h>
#include <string.h>

#include "boxoffice/base.h"
#include "boxoffice/json.h"
#include "boxoffice/log.h"
#include "boxoffice/revocation.h"
#include "boxoffice/service.h"
#include "users.h"

#define LOGIN_FREE_FAILURES_EMAIL 5
#define LOGIN_FREE_FAILURES_ADDR  20
#define JWKS_MAX_BYTES            4096

static enum bx_err get_json(const char *key, json_t **out, uint64_t *version) {
    char *text = NULL;
    size_t len = 0;
    *out = NULL;
    *version = 0;
    enum bx_err e = users.kv.ops->get(users.kv.ctx, key, &text, &len, version);
    if (e == BX_OK) {
        *out = json_loadb(text, len, 0, NULL);
        e = *out != NULL ? BX_OK : BX_INTERNAL;
    }
    free(text);
    return e;
}

/* Compare-and-set update of a JSON array item: edit(arr, arg) changes arr in place. Bounded. */
static enum bx_err update_list(const char *key, int64_t expires_at,
                               enum bx_err (*edit)(json_t *arr, void *arg), void *arg) {
    for (int attempt = 0; attempt < USERS_CAS_ATTEMPTS; attempt++) {
        json_t *arr = NULL;
        uint64_t version = 0;
        enum bx_err e = get_json(key, &arr, &version);
        if (e == BX_NOT_FOUND) {
            arr = json_array();
        } else if (e != BX_OK) {
            return e;
        }
        if (!json_is_array(arr)) {
            json_decref(arr);
            arr = json_array();
        }
        e = edit(arr, arg);
        char *text = e == BX_OK ? json_dumps(arr, JSON_COMPACT) : NULL;
        json_decref(arr);
        if (e != BX_OK) {
            return e;
        }
        if (text == NULL) {
            return BX_INTERNAL;
        }
        e = users.kv.ops->put(users.kv.ctx, key, text, strlen(text),
                              version ? BX_KV_PUT_IF_VERSION : BX_KV_PUT_IF_ABSENT, version,
                              expires_at, NULL);
        free(text);
        if (e != BX_CONFLICT) {
            return e;
        }
    }
    return BX_UNAVAILABLE;
}

struct feed_add {
    const char *jti;
    int64_t exp, at;
};

static enum bx_err feed_append(json_t *arr, void *arg) {
    struct feed_add *f = arg;
    if (json_array_size(arr) >= USERS_FEED_BUCKET_MAX) {
        return BX_UNAVAILABLE;
    }
    json_array_append_new(arr, json_pack("{s:s,s:I,s:I}", "jti", f->jti, "exp", (json_int_t)f->exp,
                                         "at", (json_int_t)f->at));
    return BX_OK;
}

/* Revokes one token: the revoked:<jti> item (checked by users itself), the feed (read by every
 * other service) and this process's own set. */
static enum bx_err revoke(const char *jti, int64_t exp) {
    int64_t now = bx_now_unix_s();
    if (exp <= now) {
        return BX_OK;
    }
    char key[BX_KV_KEY_MAX_BYTES];
    snprintf(key, sizeof key, "revoked:%s", jti);
    char value[64];
    int n = snprintf(value, sizeof value, "{\"exp\":%lld}", (long long)exp);
    enum bx_err e =
        users.kv.ops->put(users.kv.ctx, key, value, (size_t)n, BX_KV_PUT_ANY, 0, exp, NULL);
    if (e != BX_OK) {
        return e;
    }
    bx_revocations_add(jti, exp);
    struct feed_add f = {.jti = jti, .exp = exp, .at = now};
    snprintf(key, sizeof key, "revfeed:%lld", (long long)(now / 60));
    return update_list(key, now + USERS_FEED_WINDOW_S + 120, feed_append, &f);
}

struct session_add {
    const char *jti;
    int64_t exp;
    json_t *evicted; /* sessions pushed out by the cap, revoked after the write */
};

static enum bx_err sessions_add(json_t *arr, void *arg) {
    struct session_add *a = arg;
    int64_t now = bx_now_unix_s();
    for (size_t i = json_array_size(arr); i-- > 0;) {
        json_t *exp = json_object_get(json_array_get(arr, i), "exp");
        if (!json_is_integer(exp) || json_integer_value(exp) <= now) {
            json_array_remove(arr, i);
        }
    }
    json_array_clear(a->evicted);
    while (json_array_size(arr) >= USERS_SESSIONS_MAX) {
        json_array_append(a->evicted, json_array_get(arr, 0));
        json_array_remove(arr, 0);
    }
    json_array_append_new(arr, json_pack("{s:s,s:I}", "jti", a->jti, "exp", (json_int_t)a->exp));
    return BX_OK;
}

struct session_cut {
    const char *keep;
    json_t *cut;
};

static enum bx_err sessions_cut(json_t *arr, void *arg) {
    struct session_cut *c = arg;
    json_array_clear(c->cut);
    for (size_t i = json_array_size(arr); i-- > 0;) {
        const char *jti = json_string_value(json_object_get(json_array_get(arr, i), "jti"));
        if (jti == NULL || c->keep == NULL || strcmp(jti, c->keep) != 0) {
            json_array_append(c->cut, json_array_get(arr, i));
            json_array_remove(arr, i);
        }
    }
    return BX_OK;
}

static enum bx_err revoke_all(json_t *list) {
    size_t i;
    json_t *it;
    json_array_foreach(list, i, it) {
        const char *jti = json_string_value(json_object_get(it, "jti"));
        json_t *exp = json_object_get(it, "exp");
        if (jti != NULL && json_is_integer(exp)) {
            enum bx_err e = revoke(jti, (int64_t)json_integer_value(exp));
            if (e != BX_OK) {
                return e;
            }
        }
    }
    return BX_OK;
}

enum bx_err users_revoke_sessions(const char *id, const char *keep_jti) {
    char key[BX_KV_KEY_MAX_BYTES];
    snprintf(key, sizeof key, "sessions:%s", id);
    struct session_cut c = {.keep = keep_jti, .cut = json_array()};
    enum bx_err e = update_list(key, 0, sessions_cut, &c);
    if (e == BX_OK) {
        e = revoke_all(c.cut);
    }
    json_decref(c.cut);
    return e;
}

struct login_body {
    char *email, *password;
};

static const struct bx_json_field login_fields[] = {
    {.name = "email",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct login_body, email),
     .required = true,
     .min = 1,
     .max = USERS_EMAIL_MAX + 16},
    {.name = "password",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct login_body, password),
     .required = true,
     .min = 1,
     .max = USERS_PASSWORD_MAX},
};

static const struct bx_json_schema login_schema = {login_fields, BX_ARRAY_LEN(login_fields),
                                                   sizeof(struct login_body)};

static enum bx_err throttled(struct bx_req *req, int64_t wait_s) {
    char retry[24];
    snprintf(retry, sizeof retry, "%lld", (long long)wait_s);
    bx_resp_header(req, "Retry-After", retry);
    return bx_req_fail(req, BX_RATE_LIMITED, NULL, "Too many failed log-ins; retry in %lld s.",
                       (long long)wait_s);
}

enum bx_err users_login(struct bx_req *req) {
    struct login_body b;
    struct bx_error err;
    enum bx_err e =
        bx_json_decode(req->body, req->body_len, &login_schema, &b, &req->arena, NULL, &err);
    if (e != BX_OK) {
        req->error = err;
        return e;
    }
    char email[USERS_EMAIL_MAX + 1];
    bool valid_email = users_email_normalize(b.email, email) == 0;
    if (!valid_email) {
        bx_strlcpy(email, "-", sizeof email);
    }
    char email_key[USERS_EMAIL_MAX + 16], addr_key[80];
    snprintf(email_key, sizeof email_key, "email:%s", email);
    snprintf(addr_key, sizeof addr_key, "addr:%s", bx_req_client(req));
    int64_t now_ms = bx_now_mono_ms();
    int64_t wait_s = throttle_wait_s(email_key, now_ms);
    int64_t wait_addr = throttle_wait_s(addr_key, now_ms);
    if (wait_s > 0 || wait_addr > 0) {
        return throttled(req, wait_s > wait_addr ? wait_s : wait_addr);
    }
    struct user u;
    e = valid_email ? users_load_by_email(email, &u) : BX_NOT_FOUND;
    if (e != BX_OK && e != BX_NOT_FOUND) {
        return e;
    }
    /* Unknown accounts are checked against a dummy hash: same answer, similar time. */
    bool ok = users_verify_password(e == BX_OK ? u.password_hash : users.dummy_hash, b.password);
    if (!ok || e != BX_OK) {
        /* the wait counts from the failure, not from the start of its (slow) check */
        int64_t failed_ms = bx_now_mono_ms();
        throttle_failure(email_key, failed_ms, LOGIN_FREE_FAILURES_EMAIL);
        throttle_failure(addr_key, failed_ms, LOGIN_FREE_FAILURES_ADDR);
        return bx_req_fail(req, BX_UNAUTHORIZED, NULL, "Wrong email or password.");
    }
    throttle_success(email_key);
    const struct bx_keyring *kr = bx_service_keyring();
    if (kr == NULL) {
        return bx_req_fail(req, BX_UNAVAILABLE, NULL, "No signing key is loaded.");
    }
    struct bx_claims c = {.role = u.role, .iat = bx_now_unix_s()};
    c.exp = c.iat + users.token_ttl_s;
    bx_strlcpy(c.sub, u.id, sizeof c.sub);
    bx_uuid7(c.jti);
    char key[BX_KV_KEY_MAX_BYTES];
    snprintf(key, sizeof key, "sessions:%s", u.id);
    struct session_add add = {.jti = c.jti, .exp = c.exp, .evicted = json_array()};
    e = update_list(key, 0, sessions_add, &add);
    if (e == BX_OK) {
        e = revoke_all(add.evicted);
    }
    json_decref(add.evicted);
    if (e != BX_OK) {
        return e;
    }
    char token[BX_TOKEN_MAX_BYTES];
    if (bx_token_sign(&kr->keys[kr->signing], &c, token, sizeof token) != BX_OK) {
        return bx_req_fail(req, BX_INTERNAL, NULL, "Could not sign the token.");
    }
    char expires[21];
    bx_format_rfc3339(c.exp, expires);
    return bx_respond_json(
        req, 201,
        json_pack("{s:s,s:s,s:o}", "token", token, "expires_at", expires, "user", users_json(&u)));
}

enum bx_err users_logout(struct bx_req *req) {
    enum bx_err e = revoke(req->claims.jti, req->claims.exp);
    if (e != BX_OK) {
        return e;
    }
    bx_log(BX_LOG_INFO, req->request_id, "user %s logged out", req->claims.sub);
    return bx_respond(req, 204, NULL, "", 0);
}

enum bx_err users_revocations(struct bx_req *req) {
    int64_t now = bx_now_unix_s();
    int64_t since = now - USERS_FEED_WINDOW_S;
    const char *q = bx_req_query(req, "since");
    if (q != NULL && bx_parse_i64(q, 0, INT64_MAX / 2, &since) != 0) {
        return bx_req_fail(req, BX_INVALID_FIELD, "since", "since must be Unix seconds.");
    }
    if (since < now - USERS_FEED_WINDOW_S) {
        since = now - USERS_FEED_WINDOW_S;
    }
    json_t *items = json_array();
    for (int64_t minute = since / 60; minute <= now / 60; minute++) {
        char key[BX_KV_KEY_MAX_BYTES];
        snprintf(key, sizeof key, "revfeed:%lld", (long long)minute);
        json_t *arr = NULL;
        uint64_t version;
        enum bx_err e = get_json(key, &arr, &version);
        if (e != BX_OK && e != BX_NOT_FOUND) {
            json_decref(items);
            return e;
        }
        size_t i;
        json_t *it;
        json_array_foreach(arr, i, it) {
            json_t *exp = json_object_get(it, "exp");
            json_t *at = json_object_get(it, "at");
            if (json_is_integer(exp) && json_integer_value(exp) > now && json_is_integer(at) &&
                json_integer_value(at) >= since) {
                json_array_append_new(
                    items, json_pack("{s:O,s:O}", "jti", json_object_get(it, "jti"), "exp", exp));
            }
        }
        json_decref(arr);
    }
    bx_resp_header(req, "Cache-Control", "no-store");
    return bx_respond_json(req, 200,
                           json_pack("{s:I,s:o}", "now", (json_int_t)now, "items", items));
}

enum bx_err users_jwks(struct bx_req *req) {
    const struct bx_keyring *kr = bx_service_keyring();
    if (kr == NULL) {
        return bx_req_fail(req, BX_UNAVAILABLE, NULL, "No signing keys are loaded.");
    }
    char body[JWKS_MAX_BYTES];
    if (bx_keyring_jwks(kr, body, sizeof body) != BX_OK) {
        return bx_req_fail(req, BX_INTERNAL, NULL, "The key set does not fit.");
    }
    bx_resp_header(req, "Cache-Control", "public, max-age=60");
    return bx_respond(req, 200, "application/json; charset=utf-8", body, strlen(body));
}

bool users_is_revoked(void *ctx, const char *jti) {
    (void)ctx;
    if (bx_revocations_contains(jti, bx_now_unix_s())) {
        return true;
    }
    char key[BX_KV_KEY_MAX_BYTES];
    snprintf(key, sizeof key, "revoked:%s", jti);
    char *text = NULL;
    size_t len;
    uint64_t version;
    enum bx_err e = users.kv.ops->get(users.kv.ctx, key, &text, &len, &version);
    free(text);
    /* fail closed: if the store cannot say, the token is not trusted */
    return e != BX_NOT_FOUND;
}
