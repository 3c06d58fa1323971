// SPDX-License-Identifier: Apache-2.0
// The users service over HTTP, through the gateway, on a real store: register (validation, email
// uniqueness, the concurrent-register race), log in (wrong password and unknown email alike,
// throttling with Retry-After), profile, password change (other sessions revoked), role grants,
// logout (refused by users at once and by another service after its next feed poll), JWKS, and
// the create-admin command.
//   test_users USERS-BIN FRONTEND-BIN TESTSERVER-BIN lmdb
//   test_users USERS-BIN FRONTEND-BIN TESTSERVER-BIN dynalite NODE SCRIPT   (DynamoDB emulator)
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "boxoffice/base.h"
#include "boxoffice/auth.h"
#include "boxoffice/httpc.h"
#include "harness.h"
#include "kv/dynamodb.h"

#define RACE_THREADS   16
#define ADMIN_EMAIL    "root@boxoffice.test"
#define ADMIN_PASSWORD "correct horse battery"

static uint16_t fe_port, users_port, ts_port;
static const char *extra_header; /* one more request header for call(), NULL for none */

static struct harness_res call(uint16_t port, const char *method, const char *path,
                               const char *token, const char *body) {
    return harness_call(port, method, path, token, extra_header, body);
}

static bool login(const char *email, const char *password, char *token, size_t size) {
    char body[512];
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"%s\"}", email, password);
    struct harness_res r = call(fe_port, "POST", "/api/sessions", NULL, body);
    bool ok = r.status == 201 && harness_str(r.body, "token") != NULL;
    if (ok) {
        bx_strlcpy(token, harness_str(r.body, "token"), size);
    }
    harness_res_drop(&r);
    return ok;
}

static _Atomic int race_created, race_taken, race_other;
static char race_email[64];

static void *race_register(void *arg) {
    (void)arg;
    char body[256];
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"long enough pw\",\"name\":\"R\"}",
             race_email);
    struct harness_res r = call(users_port, "POST", "/api/users", NULL, body);
    if (r.status == 201) {
        atomic_fetch_add(&race_created, 1);
    } else if (harness_err_is(&r, 409, "email_taken", NULL)) {
        atomic_fetch_add(&race_taken, 1);
    } else {
        atomic_fetch_add(&race_other, 1);
    }
    harness_res_drop(&r);
    return NULL;
}

static void test_register(void) {
    struct harness_res r =
        call(fe_port, "POST", "/api/users", NULL,
             "{\"email\":\"  Ada@Example.COM \",\"password\":\"analytical engine\","
             "\"name\":\"Ada Lovelace\"}");
    CHECK(r.status == 201 && strcmp(harness_str(r.body, "email"), "ada@example.com") == 0 &&
              strcmp(harness_str(r.body, "role"), "customer") == 0 &&
              json_is_null(json_object_get(r.body, "phone")) && harness_str(r.body, "id") != NULL &&
              harness_str(r.body, "created_at") != NULL &&
              json_object_get(r.body, "password") == NULL &&
              json_object_get(r.body, "password_hash") == NULL,
          "register -> 201 User, email normalised, no password in the answer");
    harness_res_drop(&r);
    r = call(fe_port, "POST", "/api/users", NULL,
             "{\"email\":\"ADA@example.com\",\"password\":\"another password\",\"name\":\"X\"}");
    CHECK(harness_err_is(&r, 409, "email_taken", NULL),
          "same email in other case -> 409 email_taken");
    harness_res_drop(&r);
    r = call(fe_port, "POST", "/api/users", NULL,
             "{\"email\":\"bob@example.com\",\"password\":\"short\",\"name\":\"Bob\"}");
    CHECK(harness_err_is(&r, 422, "invalid_field", "password"),
          "short password -> 422 field password");
    harness_res_drop(&r);
    r = call(fe_port, "POST", "/api/users", NULL,
             "{\"email\":\"not-an-email\",\"password\":\"long enough pw\",\"name\":\"Bob\"}");
    CHECK(harness_err_is(&r, 422, "invalid_field", "email"), "bad email -> 422 field email");
    harness_res_drop(&r);
    r = call(fe_port, "POST", "/api/users", NULL,
             "{\"email\":\"bob@example.com\",\"password\":\"long enough pw\",\"name\":\"Bob\","
             "\"role\":\"admin\"}");
    CHECK(harness_err_is(&r, 422, "invalid_field", "role"), "extra field (role) -> 422 naming it");
    harness_res_drop(&r);
    r = call(fe_port, "POST", "/api/users", NULL, "{\"email\":");
    CHECK(harness_err_is(&r, 400, "invalid_json", NULL), "malformed body -> 400 invalid_json");
    harness_res_drop(&r);

    for (int round = 0; round < 3; round++) {
        snprintf(race_email, sizeof race_email, "race%d@example.com", round);
        atomic_store(&race_created, 0);
        atomic_store(&race_taken, 0);
        atomic_store(&race_other, 0);
        pthread_t t[RACE_THREADS];
        for (int i = 0; i < RACE_THREADS; i++) {
            pthread_create(&t[i], NULL, race_register, NULL);
        }
        for (int i = 0; i < RACE_THREADS; i++) {
            pthread_join(t[i], NULL);
        }
        CHECK(atomic_load(&race_created) == 1 && atomic_load(&race_taken) == RACE_THREADS - 1,
              "race %d: %d concurrent registrations -> %d created, %d email_taken, %d other", round,
              RACE_THREADS, atomic_load(&race_created), atomic_load(&race_taken),
              atomic_load(&race_other));
    }
}

static void test_sessions(void) {
    char token[1024], token2[1024];
    struct harness_res r = call(fe_port, "POST", "/api/sessions", NULL,
                                "{\"email\":\"ada@example.com\",\"password\":\"wrong password\"}");
    struct harness_res r2 =
        call(fe_port, "POST", "/api/sessions", NULL,
             "{\"email\":\"nobody@example.com\",\"password\":\"wrong password\"}");
    char *b1 = json_dumps(r.body, JSON_COMPACT), *b2 = json_dumps(r2.body, JSON_COMPACT);
    CHECK(r.status == 401 && r2.status == 401 && b1 && b2 && strcmp(b1, b2) == 0,
          "wrong password and unknown email answer identically (401)");
    free(b1);
    free(b2);
    harness_res_drop(&r);
    harness_res_drop(&r2);
    CHECK(login(" ADA@example.com", "analytical engine", token, sizeof token),
          "log in -> 201 with a token");
    r = call(fe_port, "POST", "/api/sessions", NULL,
             "{\"email\":\"ada@example.com\",\"password\":\"analytical engine\"}");
    CHECK(r.status == 201 && harness_str(r.body, "expires_at") != NULL &&
              strcmp(harness_str(r.body, "user.email"), "ada@example.com") == 0,
          "session has expires_at and the user");
    bx_strlcpy(token2, harness_str(r.body, "token") ? harness_str(r.body, "token") : "",
               sizeof token2);
    harness_res_drop(&r);

    r = call(fe_port, "GET", "/api/users/me", token, NULL);
    CHECK(r.status == 200 && strcmp(harness_str(r.body, "email"), "ada@example.com") == 0,
          "GET /api/users/me through the gateway");
    harness_res_drop(&r);
    r = call(fe_port, "GET", "/api/users/me", NULL, NULL);
    CHECK(harness_err_is(&r, 401, "unauthorized", NULL), "me without a token -> 401");
    harness_res_drop(&r);
    r = call(fe_port, "PATCH", "/api/users/me", token,
             "{\"name\":\"Augusta Ada King\",\"phone\":\"+44 20 7946 0000\"}");
    CHECK(r.status == 200 && strcmp(harness_str(r.body, "name"), "Augusta Ada King") == 0 &&
              strcmp(harness_str(r.body, "phone"), "+44 20 7946 0000") == 0,
          "PATCH me: name and phone");
    harness_res_drop(&r);
    r = call(fe_port, "PATCH", "/api/users/me", token, "{\"phone\":\"call me\"}");
    CHECK(harness_err_is(&r, 422, "invalid_field", "phone"), "bad phone -> 422 field phone");
    harness_res_drop(&r);
    r = call(fe_port, "PATCH", "/api/users/me", token, "{\"email\":\"race0@example.com\"}");
    CHECK(harness_err_is(&r, 409, "email_taken", "email"), "email change to a taken one -> 409");
    harness_res_drop(&r);
    r = call(fe_port, "PATCH", "/api/users/me", token, "{\"phone\":null}");
    CHECK(r.status == 200 && json_is_null(json_object_get(r.body, "phone")),
          "PATCH phone null clears it");
    harness_res_drop(&r);

    r = call(fe_port, "POST", "/api/users/me/password", token,
             "{\"old_password\":\"not it at all\",\"new_password\":\"difference engine\"}");
    CHECK(harness_err_is(&r, 422, "invalid_field", "old_password"), "wrong old password -> 422");
    harness_res_drop(&r);
    r = call(fe_port, "POST", "/api/users/me/password", token,
             "{\"old_password\":\"analytical engine\",\"new_password\":\"difference engine\"}");
    CHECK(r.status == 204, "password change -> 204");
    harness_res_drop(&r);
    r = call(fe_port, "GET", "/api/users/me", token2, NULL);
    CHECK(r.status == 401, "the other session is revoked by the password change");
    harness_res_drop(&r);
    r = call(fe_port, "GET", "/api/users/me", token, NULL);
    CHECK(r.status == 200, "the session that changed the password lives on");
    harness_res_drop(&r);
    char t3[1024];
    CHECK(!login("ada@example.com", "analytical engine", t3, sizeof t3), "old password refused");
    CHECK(login("ada@example.com", "difference engine", t3, sizeof t3), "new password accepted");

    /* logout: users refuses at once; another service after its next poll of the feed */
    r = call(ts_port, "GET", "/auth/user", t3, NULL);
    CHECK(r.status == 200, "another service accepts the token before logout");
    harness_res_drop(&r);
    r = call(fe_port, "DELETE", "/api/sessions/current", t3, NULL);
    CHECK(r.status == 204, "logout -> 204");
    harness_res_drop(&r);
    r = call(fe_port, "GET", "/api/users/me", t3, NULL);
    CHECK(r.status == 401, "users refuses the logged-out token at once");
    harness_res_drop(&r);
    int64_t deadline = bx_now_mono_ms() + 10000;
    long st = 0;
    while (bx_now_mono_ms() < deadline) {
        r = call(ts_port, "GET", "/auth/user", t3, NULL);
        st = r.status;
        harness_res_drop(&r);
        if (st == 401) {
            break;
        }
        usleep(100 * 1000);
    }
    CHECK(st == 401, "another service refuses the logged-out token after a feed poll");
}

static void test_throttle(void) {
    struct harness_res r = call(fe_port, "POST", "/api/users", NULL,
                                "{\"email\":\"eve@example.com\",\"password\":\"eve's password\","
                                "\"name\":\"Eve\"}");
    harness_res_drop(&r);
    long last = 0;
    char retry[16] = "";
    for (int i = 0; i < 8 && last != 429; i++) {
        r = call(fe_port, "POST", "/api/sessions", NULL,
                 "{\"email\":\"eve@example.com\",\"password\":\"guess guess\"}");
        last = r.status;
        bx_strlcpy(retry, r.retry_after, sizeof retry);
        harness_res_drop(&r);
    }
    CHECK(last == 429 && retry[0] != '\0', "repeated failures -> 429 with Retry-After (%s)", retry);
    r = call(fe_port, "POST", "/api/sessions", NULL,
             "{\"email\":\"eve@example.com\",\"password\":\"eve's password\"}");
    CHECK(r.status == 429, "even the right password waits while locked out");
    harness_res_drop(&r);

    /* Per client address, as named by a trusted proxy (the gateway's X-Forwarded-For). */
    extra_header = "X-Forwarded-For: 10.9.9.9";
    last = 0;
    for (int i = 0; i < 30 && last != 429; i++) {
        char body[128];
        snprintf(body, sizeof body, "{\"email\":\"guess%d@example.com\",\"password\":\"x\"}", i);
        r = call(users_port, "POST", "/api/sessions", NULL, body);
        last = r.status;
        harness_res_drop(&r);
    }
    CHECK(last == 429, "many failures from one client address (any emails) -> 429");
    extra_header = "X-Forwarded-For: 10.9.9.8";
    r = call(users_port, "POST", "/api/sessions", NULL,
             "{\"email\":\"guess99@example.com\",\"password\":\"x\"}");
    CHECK(r.status == 401, "another client address behind the same proxy is not throttled");
    harness_res_drop(&r);
    extra_header = NULL;
}

static const char *users_bin;
static char store_env[300], keys_dir[128];

/* An account deleted by the operator (boxoffice-users delete-user) while the service runs: its
 * token is refused by users at once and by another service after the next feed poll. */
static void test_deleted_user(void) {
    struct harness_res r = call(fe_port, "POST", "/api/users", NULL,
                                "{\"email\":\"gone@example.com\",\"password\":\"soon to be gone\","
                                "\"name\":\"Gone\"}");
    harness_res_drop(&r);
    char token[1024];
    CHECK(login("gone@example.com", "soon to be gone", token, sizeof token), "gone logs in");
    r = call(ts_port, "GET", "/auth/user", token, NULL);
    CHECK(r.status == 200, "another service accepts gone's token");
    harness_res_drop(&r);
    char cmd[1200];
    snprintf(cmd, sizeof cmd,
             "%s BOXOFFICE_AUTH_KEYS='%s' BOXOFFICE_LOG_LEVEL=warn '%s' delete-user "
             "gone@example.com >/dev/null 2>&1",
             store_env, keys_dir, users_bin);
    CHECK(system(cmd) == 0, "boxoffice-users delete-user exits 0 while the service runs");
    r = call(fe_port, "GET", "/api/users/me", token, NULL);
    CHECK(r.status == 401, "users refuses the deleted account's token");
    harness_res_drop(&r);
    int64_t deadline = bx_now_mono_ms() + 10000;
    long st = 0;
    while (bx_now_mono_ms() < deadline && st != 401) {
        r = call(ts_port, "GET", "/auth/user", token, NULL);
        st = r.status;
        harness_res_drop(&r);
        usleep(100 * 1000);
    }
    CHECK(st == 401, "another service refuses it after a feed poll");
    CHECK(!login("gone@example.com", "soon to be gone", token, sizeof token),
          "the deleted account cannot log in");
    r = call(fe_port, "POST", "/api/users", NULL,
             "{\"email\":\"gone@example.com\",\"password\":\"a new beginning\","
             "\"name\":\"New\"}");
    CHECK(r.status == 201, "its email can be registered again");
    harness_res_drop(&r);
}

static void test_roles(void) {
    char admin[1024], ada[1024], staff[1024];
    CHECK(login(ADMIN_EMAIL, ADMIN_PASSWORD, admin, sizeof admin),
          "admin from BOXOFFICE_ADMIN_EMAIL/PASSWORD logs in");
    CHECK(login("ada@example.com", "difference engine", ada, sizeof ada), "ada logs in");
    struct harness_res me = call(fe_port, "GET", "/api/users/me", ada, NULL);
    char path[128];
    snprintf(path, sizeof path, "/api/users/%s/role", harness_str(me.body, "id"));
    harness_res_drop(&me);
    struct harness_res r = call(fe_port, "POST", path, ada, "{\"role\":\"admin\"}");
    CHECK(harness_err_is(&r, 403, "forbidden", NULL), "a customer cannot grant roles -> 403");
    harness_res_drop(&r);
    r = call(fe_port, "POST", path, admin, "{\"role\":\"wizard\"}");
    CHECK(harness_err_is(&r, 422, "invalid_field", "role"), "unknown role -> 422");
    harness_res_drop(&r);
    r = call(fe_port, "POST", path, admin, "{\"role\":\"staff\"}");
    CHECK(r.status == 200 && strcmp(harness_str(r.body, "role"), "staff") == 0,
          "admin grants staff");
    harness_res_drop(&r);
    r = call(fe_port, "POST", "/api/users/%FF%FE/role", admin, "{\"role\":\"staff\"}");
    CHECK(harness_err_is(&r, 404, "not_found", NULL), "an id that is not UTF-8 -> 404");
    harness_res_drop(&r);
    r = call(fe_port, "POST", "/api/users/0000/role", admin, "{\"role\":\"staff\"}");
    CHECK(harness_err_is(&r, 404, "not_found", NULL), "unknown user -> 404");
    harness_res_drop(&r);
    r = call(users_port, "GET", "/api/users/me", ada, NULL);
    CHECK(r.status == 401, "a role change ends the sessions minted under the old role");
    harness_res_drop(&r);
    CHECK(login("ada@example.com", "difference engine", staff, sizeof staff), "log in again");
    r = call(ts_port, "GET", "/auth/staff", staff, NULL);
    CHECK(r.status == 200 && strcmp(harness_str(r.body, "role"), "staff") == 0,
          "the new token carries the staff role to other services");
    harness_res_drop(&r);
    r = call(fe_port, "GET", "/api/auth/jwks", NULL, NULL);
    json_t *keys = json_object_get(r.body, "keys");
    CHECK(r.status == 200 && json_array_size(keys) >= 1 &&
              strcmp(json_string_value(json_object_get(json_array_get(keys, 0), "crv")),
                     "Ed25519") == 0,
          "JWKS lists the Ed25519 key");
    harness_res_drop(&r);
}

int main(int argc, char **argv) {
    bool dynamo = argc == 7 && strcmp(argv[4], "dynalite") == 0;
    if (!dynamo && !(argc == 5 && strcmp(argv[4], "lmdb") == 0)) {
        fprintf(stderr, "usage: %s USERS FRONTEND TESTSERVER lmdb|dynalite NODE SCRIPT\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    char dir[] = "/tmp/bx-users-XXXXXX";
    BX_ASSERT(mkdtemp(dir) != NULL);
    char keys[128], ulog[128], flog[128], tlog[128];
    snprintf(keys, sizeof keys, "%s/keys", dir);
    snprintf(ulog, sizeof ulog, "%s/users.log", dir);
    snprintf(flog, sizeof flog, "%s/frontend.log", dir);
    snprintf(tlog, sizeof tlog, "%s/testserver.log", dir);
    struct bx_key key;
    BX_ASSERT(bx_keyring_generate(keys, &key) == BX_OK);
    users_port = harness_free_port();
    fe_port = harness_free_port();
    ts_port = harness_free_port();
    char e[10][300];
    snprintf(e[0], sizeof e[0], "BOXOFFICE_USERS_PORT=%u", (unsigned)users_port);
    snprintf(e[1], sizeof e[1], "BOXOFFICE_AUTH_KEYS=%s", keys);
    pid_t dynalite = -1;
    if (!dynamo) {
        snprintf(e[2], sizeof e[2], "BOXOFFICE_USERS_STORE=lmdb:%s/users", dir);
    } else {
        char dlog[160];
        uint16_t dport = 0;
        snprintf(dlog, sizeof dlog, "%s/dynalite.log", dir);
        dynalite = harness_dynalite(argv[5], argv[6], dlog, &dport);
        CHECK(dynalite > 0, "dynalite is up");
        snprintf(e[2], sizeof e[2],
                 "BOXOFFICE_USERS_STORE=dynamodb://users?region=us-east-1&endpoint="
                 "http://127.0.0.1:%u",
                 (unsigned)dport);
        struct bx_error err = {0};
        CHECK(dynalite > 0 && bx_kv_dynamodb_ensure_table(strchr(e[2], '=') + 1, &err) == BX_OK,
              "users table created (%s)", err.message);
    }
    const char *users_env[] = {e[0], e[1], e[2], "BOXOFFICE_ADMIN_EMAIL=" ADMIN_EMAIL,
                               "BOXOFFICE_ADMIN_PASSWORD=" ADMIN_PASSWORD,
                               /* the loopback peer is trusted through a CIDR range */
                               "BOXOFFICE_TRUSTED_PROXIES=10.0.0.0/8,127.0.0.0/8",
                               "BOXOFFICE_LOG_LEVEL=warn", NULL};
    pid_t users_pid = harness_spawn(argv[1], users_env, ulog);
    users_bin = argv[1];
    bx_strlcpy(keys_dir, keys, sizeof keys_dir);
    snprintf(store_env, sizeof store_env, "BOXOFFICE_USERS_STORE='%s'", strchr(e[2], '=') + 1);
    snprintf(e[3], sizeof e[3], "BOXOFFICE_FRONTEND_PORT=%u", (unsigned)fe_port);
    snprintf(e[4], sizeof e[4], "BOXOFFICE_USERS_URL=http://127.0.0.1:%u", (unsigned)users_port);
    const char *fe_env[] = {e[3], e[4], "BOXOFFICE_LOG_LEVEL=warn", NULL};
    pid_t fe_pid = harness_spawn(argv[2], fe_env, flog);
    snprintf(e[5], sizeof e[5], "BOXOFFICE_TESTSERVER_PORT=%u", (unsigned)ts_port);
    snprintf(e[6], sizeof e[6],
             "BOXOFFICE_REVOCATIONS_URL=http://127.0.0.1:%u/api/auth/revocations",
             (unsigned)users_port);
    /* the other service starts with no key at all: it learns users' key from the JWKS */
    snprintf(e[7], sizeof e[7], "BOXOFFICE_AUTH_KEYS=%s/no-keys", dir);
    snprintf(e[8], sizeof e[8], "BOXOFFICE_JWKS_URL=http://127.0.0.1:%u/api/auth/jwks",
             (unsigned)users_port);
    const char *ts_env[] = {
        e[5], e[7], e[6], e[8], "BOXOFFICE_REVOCATIONS_POLL_MS=500", "BOXOFFICE_LOG_LEVEL=warn",
        NULL};
    pid_t ts_pid = harness_spawn(argv[3], ts_env, tlog);
    bool up = harness_wait_ok(users_port, "/readyz", 30000) &&
              harness_wait_ok(fe_port, "/healthz", 20000) &&
              harness_wait_ok(ts_port, "/readyz", 20000);
    CHECK(up, "users, gateway and another service are up (the latter ready once it learned "
              "users' signing key from the JWKS)");
    if (up) {
        test_register();
        test_sessions();
        test_throttle();
        test_roles();
        test_deleted_user();
    }
    int st = harness_stop(users_pid, SIGTERM, 20000);
    CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "users SIGTERM -> exit 0");
    harness_stop(fe_pid, SIGTERM, 20000);
    harness_stop(ts_pid, SIGTERM, 20000);

    /* create-admin on the same store, with the service stopped */
    char cmd[1400];
    snprintf(cmd, sizeof cmd,
             "%s='%s' BOXOFFICE_AUTH_KEYS='%s' BOXOFFICE_LOG_LEVEL=warn "
             "BOXOFFICE_ADMIN_PASSWORD='second admin pw' '%s' create-admin Grace@Example.com "
             ">>'%s' 2>&1",
             "BOXOFFICE_USERS_STORE", strchr(e[2], '=') + 1, keys, argv[1], ulog);
    CHECK(system(cmd) == 0, "boxoffice-users create-admin exits 0");
    if (dynalite > 0) {
        harness_stop(dynalite, SIGTERM, 5000);
    }
    if (harness_failures) {
        harness_tail(ulog, 30);
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", dir);
    }
    return harness_finish("test_users");
}
