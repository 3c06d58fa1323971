// SPDX-License-Identifier: Apache-2.0
// boxoffice-users: accounts, password hashes and sessions over a bx_kv store (LMDB on a laptop,
// DynamoDB in production). It owns the token signing keys and publishes their public halves at
// /api/auth/jwks, and publishes logouts on /api/auth/revocations for every other service.
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "boxoffice/base.h"
#include "boxoffice/log.h"
#include "boxoffice/service.h"
#include "users.h"

struct users users;

static const char *const store_schemes[] = {"lmdb", "dynamodb", NULL};

static const struct bx_config_var config[] = {
    {"BOXOFFICE_USERS_STORE", BX_CFG_URL, "lmdb:var/users",
     "account store: lmdb:DIR or dynamodb://TABLE?region=R[&endpoint=URL]", 0, 0, store_schemes,
     &users.store_url},
    {"BOXOFFICE_TOKEN_TTL_S", BX_CFG_INT, "3600", "session token lifetime in seconds", 60,
     7 * 24 * 3600, NULL, &users.token_ttl_s},
    {"BOXOFFICE_ADMIN_EMAIL", BX_CFG_STRING, "",
     "with BOXOFFICE_ADMIN_PASSWORD: this account is created (or promoted) as admin at start", 0,
     USERS_EMAIL_MAX, NULL, &users.admin_email},
    {"BOXOFFICE_ADMIN_PASSWORD", BX_CFG_STRING, "", "password for BOXOFFICE_ADMIN_EMAIL", 0,
     USERS_PASSWORD_MAX, NULL, &users.admin_password},
    {"BOXOFFICE_USERS_HASH_CONCURRENCY", BX_CFG_INT, "4",
     "Argon2id hashes at once (64 MiB each); more wait, then 503", 1, 64, NULL,
     &users.hash_concurrency},
};

static const struct bx_route routes[] = {
    {BX_POST, "/api/users", users_register, BX_AUTH_NONE},
    {BX_GET, "/api/users/me", users_me_get, BX_AUTH_USER},
    {BX_PATCH, "/api/users/me", users_me_patch, BX_AUTH_USER},
    {BX_POST, "/api/users/me/password", users_me_password, BX_AUTH_USER},
    {BX_POST, "/api/users/{id}/role", users_role_set, BX_AUTH_ADMIN},
    {BX_POST, "/api/sessions", users_login, BX_AUTH_NONE},
    {BX_DELETE, "/api/sessions/current", users_logout, BX_AUTH_USER},
    {BX_GET, "/api/auth/jwks", users_jwks, BX_AUTH_NONE},
    {BX_GET, "/api/auth/revocations", users_revocations, BX_AUTH_NONE},
};

/* Creates the account as admin, or promotes an existing one. */
static enum bx_err ensure_admin(const char *email_in, const char *password) {
    char email[USERS_EMAIL_MAX + 1];
    if (users_email_normalize(email_in, email) != 0) {
        bx_error("BOXOFFICE_ADMIN_EMAIL: '%s' is not a valid email address", email_in);
        return BX_INVALID_FIELD;
    }
    size_t plen = strlen(password);
    if (plen < USERS_PASSWORD_MIN || plen > USERS_PASSWORD_MAX) {
        bx_error("BOXOFFICE_ADMIN_PASSWORD: expected %d to %d characters", USERS_PASSWORD_MIN,
                 USERS_PASSWORD_MAX);
        return BX_INVALID_FIELD;
    }
    struct user u;
    struct bx_error err;
    enum bx_err e = users_load_by_email(email, &u);
    if (e == BX_NOT_FOUND) {
        e = users_create(email, password, "Administrator", BX_ROLE_ADMIN, &u, &err);
        if (e == BX_EMAIL_TAKEN) {
            e = users_load_by_email(email, &u); /* another replica won the race */
        } else if (e == BX_OK) {
            bx_info("created admin account %s (%s)", email, u.id);
            return BX_OK;
        }
    }
    if (e != BX_OK) {
        return e;
    }
    if (u.role != BX_ROLE_ADMIN) {
        u.role = BX_ROLE_ADMIN;
        if ((e = users_store(&u)) != BX_OK) {
            return e;
        }
        bx_info("promoted %s to admin", email);
    }
    return BX_OK;
}

static enum bx_err open_store(struct bx_error *err) {
    if (users.kv.ops != NULL) {
        return BX_OK;
    }
    return bx_kv_open(users.store_url, &users.kv, err);
}

static enum bx_err init(void *ctx, struct bx_error *err) {
    (void)ctx;
    enum bx_err e = open_store(err);
    if (e != BX_OK) {
        return e;
    }
    unsigned char junk[24];
    char junk_b64[64];
    bx_random_bytes(junk, sizeof junk);
    sodium_bin2base64(junk_b64, sizeof junk_b64, junk, sizeof junk, sodium_base64_VARIANT_ORIGINAL);
    if ((e = users_hash_password(junk_b64, users.dummy_hash)) != BX_OK) {
        return bx_error_set(err, e, NULL, "cannot hash (out of memory?)");
    }
    if (users.admin_email[0] != '\0' && users.admin_password[0] != '\0' &&
        ensure_admin(users.admin_email, users.admin_password) != BX_OK) {
        return bx_error_set(err, BX_UNAVAILABLE, NULL, "could not create the admin account");
    }
    return BX_OK;
}

static bool ready(void *ctx, char *why, size_t why_size) {
    (void)ctx;
    if (users.kv.ops == NULL || users.kv.ops->ping(users.kv.ctx) != BX_OK) {
        snprintf(why, why_size, "account store %s unreachable", users.store_url);
        return false;
    }
    return true;
}

static void stop(void *ctx) {
    (void)ctx;
    bx_kv_close(&users.kv);
}

/* boxoffice-users delete-user EMAIL */
static int delete_user(const char *email_in) {
    char email[USERS_EMAIL_MAX + 1];
    if (users_email_normalize(email_in, email) != 0) {
        fprintf(stderr, "boxoffice-users: '%s' is not an email address\n", email_in);
        return 2;
    }
    struct bx_error err = {0};
    if (open_store(&err) != BX_OK) {
        fprintf(stderr, "boxoffice-users: %s\n", err.message);
        return 1;
    }
    enum bx_err e = users_delete(email);
    bx_kv_close(&users.kv);
    if (e != BX_OK) {
        fprintf(stderr, "boxoffice-users: could not delete %s (%s)\n", email, bx_err_name(e));
        return e == BX_NOT_FOUND ? 3 : 1;
    }
    printf("deleted %s; its sessions are revoked\n", email);
    return 0;
}

/* boxoffice-users create-admin EMAIL   (password from BOXOFFICE_ADMIN_PASSWORD or stdin)
 * boxoffice-users delete-user EMAIL */
static int command(void *ctx, int argc, char **argv) {
    (void)ctx;
    if (strcmp(argv[1], "delete-user") == 0 && argc == 3) {
        return delete_user(argv[2]);
    }
    if (strcmp(argv[1], "create-admin") != 0 || argc != 3) {
        fprintf(stderr, "boxoffice-users: unknown command (try --help)\n");
        return 2;
    }
    char password[USERS_PASSWORD_MAX + 2] = "";
    if (users.admin_password[0] != '\0') {
        bx_strlcpy(password, users.admin_password, sizeof password);
    } else {
        if (isatty(STDIN_FILENO)) {
            fprintf(stderr, "password: ");
        }
        if (fgets(password, sizeof password, stdin) == NULL) {
            fprintf(stderr, "boxoffice-users: no password given\n");
            return 2;
        }
        password[strcspn(password, "\r\n")] = '\0';
    }
    struct bx_error err = {0};
    if (open_store(&err) != BX_OK) {
        fprintf(stderr, "boxoffice-users: %s\n", err.message);
        return 1;
    }
    enum bx_err e = ensure_admin(argv[2], password);
    sodium_memzero(password, sizeof password);
    bx_kv_close(&users.kv);
    if (e != BX_OK) {
        fprintf(stderr, "boxoffice-users: could not create the admin (%s)\n", bx_err_name(e));
        return e == BX_INVALID_FIELD ? 2 : 1;
    }
    printf("admin %s ready\n", argv[2]);
    return 0;
}

static const struct bx_service service = {
    .name = "users",
    .summary = "accounts, password hashes and sessions",
    .default_port = 8082,
    .routes = routes,
    .n_routes = BX_ARRAY_LEN(routes),
    .config = config,
    .n_config = BX_ARRAY_LEN(config),
    .ctx = &users,
    .needs_auth_keys = true,
    .init = init,
    .ready = ready,
    .is_revoked = users_is_revoked,
    .stop = stop,
    .command = command,
    .commands_help = "  create-admin EMAIL   create (or promote) an admin; password from\n"
                     "                       BOXOFFICE_ADMIN_PASSWORD or standard input\n"
                     "  delete-user EMAIL    delete an account and revoke its sessions\n",
};

int main(int argc, char **argv) {
    return bx_service_main(&service, argc, argv);
}
