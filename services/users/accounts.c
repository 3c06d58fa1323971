// SPDX-License-Identifier: Apache-2.0
// Accounts: registration (email unique through the email:<e> index item, written first with
// BX_KV_PUT_IF_ABSENT and removed again if the user item cannot be written), the caller's profile,
// password change and role grants. Invariant: a user item exists only with its email index item.
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boxoffice/base.h"
#include "boxoffice/idempotency.h"
#include "boxoffice/json.h"
#include "boxoffice/log.h"
#include "users.h"

static const char *const role_choices[] = {"customer", "staff", "admin", NULL};

int users_email_normalize(const char *in, char out[USERS_EMAIL_MAX + 1]) {
    while (*in == ' ' || *in == '\t') {
        in++;
    }
    size_t n = strlen(in);
    while (n > 0 && (in[n - 1] == ' ' || in[n - 1] == '\t')) {
        n--;
    }
    if (n < 3 || n > USERS_EMAIL_MAX) {
        return -1;
    }
    size_t at = 0, ats = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c <= ' ' || c == 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == ',') {
            return -1;
        }
        if (c == '@') {
            at = i;
            ats++;
        }
        out[i] = (char)tolower(c);
    }
    out[n] = '\0';
    const char *domain = out + at + 1;
    if (ats != 1 || at == 0 || at == n - 1 || strchr(domain, '.') == NULL || domain[0] == '.' ||
        out[n - 1] == '.' || strstr(domain, "..") != NULL) {
        return -1;
    }
    return 0;
}

json_t *users_json(const struct user *u) {
    char created[21];
    bx_format_rfc3339(u->created_at, created);
    return json_pack("{s:s,s:s,s:s,s:s?,s:s,s:s}", "id", u->id, "email", u->email, "name", u->name,
                     "phone", u->phone[0] ? u->phone : NULL, "role", bx_role_name(u->role),
                     "created_at", created);
}

static json_t *record_json(const struct user *u) {
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I}", "id", u->id, "email", u->email, "name",
                     u->name, "phone", u->phone, "role", bx_role_name(u->role), "password_hash",
                     u->password_hash, "created_at", (json_int_t)u->created_at);
}

static int copy_str(json_t *o, const char *key, char *out, size_t size) {
    const char *s = json_string_value(json_object_get(o, key));
    if (s == NULL || strlen(s) >= size) {
        return -1;
    }
    memcpy(out, s, strlen(s) + 1);
    return 0;
}

static enum bx_err parse_record(const char *text, size_t len, struct user *u) {
    json_t *o = json_loadb(text, len, 0, NULL);
    memset(u, 0, sizeof *u);
    const char *role = o ? json_string_value(json_object_get(o, "role")) : NULL;
    enum bx_err e = BX_OK;
    if (o == NULL || copy_str(o, "id", u->id, sizeof u->id) ||
        copy_str(o, "email", u->email, sizeof u->email) ||
        copy_str(o, "name", u->name, sizeof u->name) ||
        copy_str(o, "phone", u->phone, sizeof u->phone) ||
        copy_str(o, "password_hash", u->password_hash, sizeof u->password_hash) || role == NULL ||
        bx_role_parse(role, &u->role) != 0 || !json_is_integer(json_object_get(o, "created_at"))) {
        e = BX_INTERNAL;
    } else {
        u->created_at = (int64_t)json_integer_value(json_object_get(o, "created_at"));
    }
    json_decref(o);
    return e;
}

enum bx_err users_load(const char *id, struct user *u) {
    char key[BX_KV_KEY_MAX_BYTES];
    snprintf(key, sizeof key, "user:%s", id);
    char *text = NULL;
    size_t len = 0;
    uint64_t version = 0;
    enum bx_err e = users.kv.ops->get(users.kv.ctx, key, &text, &len, &version);
    if (e == BX_OK) {
        e = parse_record(text, len, u);
        u->version = version;
        if (e != BX_OK) {
            bx_error("user record %s is corrupt", id);
        }
    }
    free(text);
    return e;
}

enum bx_err users_load_by_email(const char *email, struct user *u) {
    char key[BX_KV_KEY_MAX_BYTES];
    snprintf(key, sizeof key, "email:%s", email);
    char *text = NULL;
    size_t len = 0;
    uint64_t version = 0;
    enum bx_err e = users.kv.ops->get(users.kv.ctx, key, &text, &len, &version);
    if (e != BX_OK) {
        return e;
    }
    json_t *o = json_loadb(text, len, 0, NULL);
    free(text);
    const char *id = o ? json_string_value(json_object_get(o, "user_id")) : NULL;
    e = id ? users_load(id, u) : BX_INTERNAL;
    json_decref(o);
    if (e == BX_OK && strcmp(u->email, email) != 0) {
        e = BX_NOT_FOUND; /* a stale index item left by an email change in progress */
    }
    return e;
}

static enum bx_err put_json(const char *key, json_t *v, enum bx_kv_put_mode mode, uint64_t expected,
                            uint64_t *version_out) {
    if (v == NULL) {
        return BX_INTERNAL;
    }
    char *text = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    if (text == NULL) {
        return BX_INTERNAL;
    }
    uint64_t version = 0;
    enum bx_err e =
        users.kv.ops->put(users.kv.ctx, key, text, strlen(text), mode, expected, 0, &version);
    free(text);
    if (version_out != NULL) {
        *version_out = version;
    }
    return e;
}

static enum bx_err claim_email(const char *email, const char *id) {
    char key[BX_KV_KEY_MAX_BYTES];
    snprintf(key, sizeof key, "email:%s", email);
    enum bx_err e = put_json(key, json_pack("{s:s}", "user_id", id), BX_KV_PUT_IF_ABSENT, 0, NULL);
    return e == BX_CONFLICT ? BX_EMAIL_TAKEN : e;
}

static void release_email(const char *email) {
    char key[BX_KV_KEY_MAX_BYTES];
    snprintf(key, sizeof key, "email:%s", email);
    if (users.kv.ops->del(users.kv.ctx, key, 0) != BX_OK) {
        bx_warn("could not remove the email index item of %s", email);
    }
}

enum bx_err users_store(struct user *u) {
    char key[BX_KV_KEY_MAX_BYTES];
    snprintf(key, sizeof key, "user:%s", u->id);
    return put_json(key, record_json(u), BX_KV_PUT_IF_VERSION, u->version, &u->version);
}

enum bx_err users_create(const char *email, const char *password, const char *name,
                         enum bx_role role, struct user *out, struct bx_error *err) {
    struct user u;
    memset(&u, 0, sizeof u);
    bx_uuid7(u.id);
    bx_strlcpy(u.email, email, sizeof u.email);
    bx_strlcpy(u.name, name, sizeof u.name);
    u.role = role;
    u.created_at = bx_now_unix_s();
    enum bx_err e = users_hash_password(password, u.password_hash);
    if (e != BX_OK) {
        return bx_error_set(err, e, NULL, "Password hashing is busy; retry shortly.");
    }
    e = claim_email(u.email, u.id);
    if (e != BX_OK) {
        return bx_error_set(err, e, e == BX_EMAIL_TAKEN ? "email" : NULL, NULL);
    }
    char key[BX_KV_KEY_MAX_BYTES];
    snprintf(key, sizeof key, "user:%s", u.id);
    e = put_json(key, record_json(&u), BX_KV_PUT_IF_ABSENT, 0, &u.version);
    if (e != BX_OK) {
        release_email(u.email);
        return bx_error_set(err, e == BX_CONFLICT ? BX_INTERNAL : e, NULL, NULL);
    }
    *out = u;
    return BX_OK;
}

enum bx_err users_delete(const char *email) {
    struct user u;
    enum bx_err e = users_load_by_email(email, &u);
    if (e != BX_OK) {
        return e;
    }
    if ((e = users_revoke_sessions(u.id, NULL)) != BX_OK) {
        return e;
    }
    char key[BX_KV_KEY_MAX_BYTES];
    snprintf(key, sizeof key, "user:%s", u.id);
    if ((e = users.kv.ops->del(users.kv.ctx, key, 0)) != BX_OK && e != BX_NOT_FOUND) {
        return e;
    }
    release_email(u.email);
    bx_info("deleted user %s", u.id);
    return BX_OK;
}

struct register_body {
    char *email, *password, *name;
};

static const struct bx_json_field register_fields[] = {
    {.name = "email",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct register_body, email),
     .required = true,
     .min = 3,
     .max = USERS_EMAIL_MAX + 16},
    {.name = "password",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct register_body, password),
     .required = true,
     .min = USERS_PASSWORD_MIN,
     .max = USERS_PASSWORD_MAX},
    {.name = "name",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct register_body, name),
     .required = true,
     .min = 1,
     .max = USERS_NAME_MAX},
};

static const struct bx_json_schema register_schema = {
    register_fields, BX_ARRAY_LEN(register_fields), sizeof(struct register_body)};

static enum bx_err decode(struct bx_req *req, const struct bx_json_schema *schema, void *out,
                          struct bx_json_result *res) {
    struct bx_error err;
    enum bx_err e = bx_json_decode(req->body, req->body_len, schema, out, &req->arena, res, &err);
    if (e != BX_OK) {
        if (e == BX_INVALID_FIELD && strcmp(err.field, "password") == 0) {
            bx_error_set(&err, e, "password", "password must be %d to %d characters long.",
                         USERS_PASSWORD_MIN, USERS_PASSWORD_MAX);
        }
        req->error = err;
    }
    return e;
}

static bool blank(const char *s) {
    for (; *s; s++) {
        if (!isspace((unsigned char)*s)) {
            return false;
        }
    }
    return true;
}

/* Idempotency-Key on sign-up (kv item "idem:register:<key>" = {"hash","body"}, 24 h): anonymous
 * callers share one scope, so a key names one sign-up whoever sends it; replaying it needs the
 * same body, password included. Checked before the body, like every create. */
#define REGISTER_IDEM_PREFIX "idem:register:"

static enum bx_err register_replay(struct bx_req *req, const char *key, bool *replayed) {
    *replayed = false;
    char k[sizeof REGISTER_IDEM_PREFIX + BX_IDEMPOTENCY_KEY_MAX];
    snprintf(k, sizeof k, REGISTER_IDEM_PREFIX "%s", key);
    char *v = NULL;
    size_t len = 0;
    uint64_t version = 0;
    enum bx_err e = users.kv.ops->get(users.kv.ctx, k, &v, &len, &version);
    if (e == BX_NOT_FOUND) {
        return BX_OK;
    }
    if (e != BX_OK) {
        return bx_req_fail(req, BX_UNAVAILABLE, NULL, "The account store is unavailable; retry.");
    }
    json_t *doc = json_loadb(v, len, 0, NULL);
    free(v);
    const char *hash = json_string_value(json_object_get(doc, "hash"));
    const char *body = json_string_value(json_object_get(doc, "body"));
    char mine[65];
    bx_idempotency_body_hash(req, mine);
    if (hash == NULL || body == NULL || strcmp(hash, mine) != 0) {
        json_decref(doc);
        return bx_req_fail(req, BX_IDEMPOTENCY_MISMATCH, "Idempotency-Key",
                           "This Idempotency-Key was used with a different request body.");
    }
    *replayed = true;
    bx_resp_header(req, "Idempotent-Replayed", "true");
    e = bx_respond(req, 201, "application/json; charset=utf-8", body, strlen(body));
    json_decref(doc);
    return e;
}

static void register_remember(struct bx_req *req, const char *key, json_t *user) {
    char k[sizeof REGISTER_IDEM_PREFIX + BX_IDEMPOTENCY_KEY_MAX], hash[65];
    snprintf(k, sizeof k, REGISTER_IDEM_PREFIX "%s", key);
    bx_idempotency_body_hash(req, hash);
    char *body = json_dumps(user, JSON_COMPACT);
    json_t *doc = body ? json_pack("{s:s,s:s}", "hash", hash, "body", body) : NULL;
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    if (text != NULL) {
        uint64_t version;
        /* a concurrent sign-up with the key and body lost on the email (409) anyway */
        users.kv.ops->put(users.kv.ctx, k, text, strlen(text), BX_KV_PUT_IF_ABSENT, 0,
                          bx_now_unix_s() + BX_IDEMPOTENCY_TTL_S, &version);
    }
    free(text);
    json_decref(doc);
    free(body);
}

enum bx_err users_register(struct bx_req *req) {
    const char *key;
    bool replayed;
    enum bx_err e = bx_idempotency_key(req, false, &key);
    if (e != BX_OK ||
        (key != NULL && ((e = register_replay(req, key, &replayed)) != BX_OK || replayed))) {
        return e;
    }
    struct register_body b;
    e = decode(req, &register_schema, &b, NULL);
    if (e != BX_OK) {
        return e;
    }
    char email[USERS_EMAIL_MAX + 1];
    if (users_email_normalize(b.email, email) != 0) {
        return bx_req_fail(req, BX_INVALID_FIELD, "email", "email is not a valid address.");
    }
    if (blank(b.name)) {
        return bx_req_fail(req, BX_INVALID_FIELD, "name", "name must not be blank.");
    }
    struct user u;
    struct bx_error err;
    e = users_create(email, b.password, b.name, BX_ROLE_CUSTOMER, &u, &err);
    if (e != BX_OK) {
        req->error = err;
        return e;
    }
    bx_log(BX_LOG_INFO, req->request_id, "registered user %s", u.id);
    json_t *user = users_json(&u);
    if (key != NULL && user != NULL) {
        register_remember(req, key, user);
    }
    return bx_respond_json(req, 201, user);
}

/* The caller's account; a token whose account is gone is refused. */
static enum bx_err load_caller(struct bx_req *req, struct user *u) {
    enum bx_err e = users_load(req->claims.sub, u);
    if (e == BX_NOT_FOUND) {
        return bx_req_fail(req, BX_UNAUTHORIZED, NULL, "This account no longer exists.");
    }
    return e;
}

enum bx_err users_me_get(struct bx_req *req) {
    struct user u;
    enum bx_err e = load_caller(req, &u);
    if (e != BX_OK) {
        return e;
    }
    return bx_respond_json(req, 200, users_json(&u));
}

struct patch_body {
    char *name, *phone, *email;
};

static const struct bx_json_field patch_fields[] = {
    {.name = "name",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct patch_body, name),
     .min = 1,
     .max = USERS_NAME_MAX},
    {.name = "phone",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct patch_body, phone),
     .nullable = true,
     .min = 3,
     .max = USERS_PHONE_MAX},
    {.name = "email",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct patch_body, email),
     .min = 3,
     .max = USERS_EMAIL_MAX + 16},
};

static const struct bx_json_schema patch_schema = {patch_fields, BX_ARRAY_LEN(patch_fields),
                                                   sizeof(struct patch_body)};

static bool valid_phone(const char *s) {
    int digits = 0;
    for (const char *p = s; *p; p++) {
        if (isdigit((unsigned char)*p)) {
            digits++;
        } else if (!(*p == '+' && p == s) && *p != ' ' && *p != '-' && *p != '(' && *p != ')') {
            return false;
        }
    }
    return digits >= 3 && digits <= 15;
}

enum bx_err users_me_patch(struct bx_req *req) {
    struct patch_body b;
    struct bx_json_result res;
    enum bx_err e = decode(req, &patch_schema, &b, &res);
    if (e != BX_OK) {
        return e;
    }
    if ((res.present & BX_JSON_BIT(0)) && blank(b.name)) {
        return bx_req_fail(req, BX_INVALID_FIELD, "name", "name must not be blank.");
    }
    if (b.phone != NULL && !valid_phone(b.phone)) {
        return bx_req_fail(req, BX_INVALID_FIELD, "phone",
                           "phone must be 3 to 15 digits, optionally with +, spaces or dashes.");
    }
    char email[USERS_EMAIL_MAX + 1] = "";
    if (b.email != NULL && users_email_normalize(b.email, email) != 0) {
        return bx_req_fail(req, BX_INVALID_FIELD, "email", "email is not a valid address.");
    }
    struct user u;
    e = load_caller(req, &u);
    if (e != BX_OK) {
        return e;
    }
    bool email_change = email[0] != '\0' && strcmp(email, u.email) != 0;
    if (email_change && (e = claim_email(email, u.id)) != BX_OK) {
        return bx_req_fail(req, e, e == BX_EMAIL_TAKEN ? "email" : NULL, NULL);
    }
    char old_email[USERS_EMAIL_MAX + 1];
    bx_strlcpy(old_email, u.email, sizeof old_email);
    for (int attempt = 0; attempt < USERS_CAS_ATTEMPTS; attempt++) {
        if (res.present & BX_JSON_BIT(0)) {
            bx_strlcpy(u.name, b.name, sizeof u.name);
        }
        if (res.present & BX_JSON_BIT(1)) {
            bx_strlcpy(u.phone, b.phone ? b.phone : "", sizeof u.phone);
        }
        if (email_change) {
            bx_strlcpy(u.email, email, sizeof u.email);
        }
        e = users_store(&u);
        if (e != BX_CONFLICT) {
            break;
        }
        if ((e = load_caller(req, &u)) != BX_OK) {
            break;
        }
        e = BX_CONFLICT;
    }
    if (e != BX_OK) {
        if (email_change) {
            release_email(email);
        }
        return e == BX_CONFLICT ? bx_req_fail(req, BX_CONFLICT, NULL, "Retry the change.") : e;
    }
    if (email_change) {
        release_email(old_email);
    }
    return bx_respond_json(req, 200, users_json(&u));
}

struct password_body {
    char *old_password, *new_password;
};

static const struct bx_json_field password_fields[] = {
    {.name = "old_password",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct password_body, old_password),
     .required = true,
     .min = 1,
     .max = USERS_PASSWORD_MAX},
    {.name = "new_password",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct password_body, new_password),
     .required = true,
     .min = USERS_PASSWORD_MIN,
     .max = USERS_PASSWORD_MAX},
};

static const struct bx_json_schema password_schema = {
    password_fields, BX_ARRAY_LEN(password_fields), sizeof(struct password_body)};

enum bx_err users_me_password(struct bx_req *req) {
    struct password_body b;
    struct bx_error err;
    enum bx_err e =
        bx_json_decode(req->body, req->body_len, &password_schema, &b, &req->arena, NULL, &err);
    if (e != BX_OK) {
        if (e == BX_INVALID_FIELD && strcmp(err.field, "new_password") == 0) {
            bx_error_set(&err, e, "new_password", "new_password must be %d to %d characters long.",
                         USERS_PASSWORD_MIN, USERS_PASSWORD_MAX);
        }
        req->error = err;
        return e;
    }
    struct user u;
    if ((e = load_caller(req, &u)) != BX_OK) {
        return e;
    }
    if (!users_verify_password(u.password_hash, b.old_password)) {
        return bx_req_fail(req, BX_INVALID_FIELD, "old_password",
                           "old_password is not the current password.");
    }
    char hash[USERS_HASH_MAX];
    if ((e = users_hash_password(b.new_password, hash)) != BX_OK) {
        return e;
    }
    for (int attempt = 0; attempt < USERS_CAS_ATTEMPTS; attempt++) {
        bx_strlcpy(u.password_hash, hash, sizeof u.password_hash);
        if ((e = users_store(&u)) != BX_CONFLICT || (e = load_caller(req, &u)) != BX_OK) {
            break;
        }
        e = BX_CONFLICT;
    }
    if (e != BX_OK) {
        return e;
    }
    if ((e = users_revoke_sessions(u.id, req->claims.jti)) != BX_OK) {
        return e;
    }
    return bx_respond(req, 204, NULL, "", 0);
}

struct role_body {
    int role;
};

static const struct bx_json_field role_fields[] = {
    {.name = "role",
     .kind = BX_JSON_ENUM,
     .offset = offsetof(struct role_body, role),
     .required = true,
     .choices = role_choices},
};

static const struct bx_json_schema role_schema = {role_fields, BX_ARRAY_LEN(role_fields),
                                                  sizeof(struct role_body)};

enum bx_err users_role_set(struct bx_req *req) {
    struct role_body b;
    enum bx_err e = decode(req, &role_schema, &b, NULL);
    if (e != BX_OK) {
        return e;
    }
    const char *id = bx_req_param(req, "id");
    if (strcmp(id, req->claims.sub) == 0 && b.role != BX_ROLE_ADMIN) {
        return bx_req_fail(req, BX_CONFLICT, NULL, "Admins cannot remove their own admin role.");
    }
    struct user u;
    /* an id the store cannot even hold (too long, not UTF-8) names nobody either */
    if (strlen(id) >= USERS_ID_MAX || (e = users_load(id, &u)) == BX_NOT_FOUND ||
        e == BX_INVALID_FIELD) {
        return bx_req_fail(req, BX_NOT_FOUND, NULL, "No such user.");
    }
    for (int attempt = 0; e == BX_OK && attempt < USERS_CAS_ATTEMPTS; attempt++) {
        bool changed = u.role != (enum bx_role)b.role;
        u.role = (enum bx_role)b.role;
        if (!changed || (e = users_store(&u)) != BX_CONFLICT || (e = users_load(id, &u)) != BX_OK) {
            break;
        }
    }
    if (e != BX_OK) {
        return e;
    }
    /* Tokens carry the role: sessions minted under the old role end now. */
    if ((e = users_revoke_sessions(u.id, NULL)) != BX_OK) {
        return e;
    }
    bx_log(BX_LOG_INFO, req->request_id, "user %s granted role %s by %s", u.id,
           bx_role_name(u.role), req->claims.sub);
    return bx_respond_json(req, 200, users_json(&u));
}
