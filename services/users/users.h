// SPDX-License-Identifier: Apache-2.0
// The users service: accounts (user records and the email index) and sessions (tokens, logout
// revocations, the revocation feed, login throttling), all kept in a bx_kv store.
// Key layout in the store:
//   user:<id>          {"id","email","name","phone","role","password_hash","created_at"}
//   email:<email>      {"user_id"}               unique: written with BX_KV_PUT_IF_ABSENT first
//   sessions:<id>      [{"jti","exp"}]          a user's live tokens (capped; oldest revoked)
//   revoked:<jti>      {"exp"}                   expires with the token
//   revfeed:<minute>   [{"jti","exp","at"}]     revocations recorded in that minute (the feed)
#ifndef BOXOFFICE_USERS_H
#define BOXOFFICE_USERS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "boxoffice/auth.h"
#include "boxoffice/http.h"
#include "boxoffice/kv.h"

#define USERS_EMAIL_MAX       254
#define USERS_NAME_MAX        100
#define USERS_PHONE_MAX       32
#define USERS_PASSWORD_MIN    10
#define USERS_PASSWORD_MAX    256
#define USERS_ID_MAX          40
#define USERS_HASH_MAX        160 /* crypto_pwhash_STRBYTES is 128 */
#define USERS_SESSIONS_MAX    20
#define USERS_CAS_ATTEMPTS    8
#define USERS_FEED_BUCKET_MAX 4000 /* revocations recorded per minute before logout answers 503 */
#define USERS_FEED_WINDOW_S   3900 /* how far back /api/auth/revocations looks: max token TTL + */

struct users {
    /* configuration */
    const char *store_url;
    int64_t token_ttl_s;
    const char *admin_email;
    const char *admin_password;
    int64_t hash_concurrency;
    /* state */
    struct bx_kv kv;
    char dummy_hash[USERS_HASH_MAX]; /* verified against on unknown emails, to equalise timing */
};

extern struct users users;

struct user {
    char id[USERS_ID_MAX];
    char email[USERS_EMAIL_MAX + 1];
    char name[4 * USERS_NAME_MAX + 1];
    char phone[USERS_PHONE_MAX + 1]; /* "" when none */
    enum bx_role role;
    char password_hash[USERS_HASH_MAX];
    int64_t created_at;
    uint64_t version; /* of the user:<id> item */
};

/* accounts.c */
enum bx_err users_register(struct bx_req *req);
enum bx_err users_me_get(struct bx_req *req);
enum bx_err users_me_patch(struct bx_req *req);
enum bx_err users_me_password(struct bx_req *req);
enum bx_err users_role_set(struct bx_req *req);
/* Normalises (trim, lower-case) and checks an email address into out; -1 when invalid. */
int users_email_normalize(const char *in, char out[USERS_EMAIL_MAX + 1]);
enum bx_err users_load(const char *id, struct user *u);
enum bx_err users_load_by_email(const char *email, struct user *u);
/* Creates an account; BX_EMAIL_TAKEN when the email is in use. */
enum bx_err users_create(const char *email, const char *password, const char *name,
                         enum bx_role role, struct user *out, struct bx_error *err);
/* Deletes an account: revokes its sessions (so every service refuses its tokens), then removes
 * the user item and its email index item. */
enum bx_err users_delete(const char *email);
/* Writes u back at u->version (BX_CONFLICT when someone else wrote first). */
enum bx_err users_store(struct user *u);
json_t *users_json(const struct user *u);

/* passwords.c */
enum bx_err users_hash_password(const char *password, char out[USERS_HASH_MAX]);
bool users_verify_password(const char *hash, const char *password);

/* sessions.c */
enum bx_err users_login(struct bx_req *req);
enum bx_err users_logout(struct bx_req *req);
enum bx_err users_revocations(struct bx_req *req);
enum bx_err users_jwks(struct bx_req *req);
bool users_is_revoked(void *ctx, const char *jti);
/* Revokes every live token of user id except keep_jti (may be NULL). */
enum bx_err users_revoke_sessions(const char *id, const char *keep_jti);

/* throttle.c: failed-login backoff per key (email, client address). */
#define THROTTLE_SLOTS 8192
/* Seconds the key must still wait (0: may try). */
int64_t throttle_wait_s(const char *key, int64_t now_ms);
void throttle_failure(const char *key, int64_t now_ms, int64_t free_failures);
void throttle_success(const char *key);

#endif
