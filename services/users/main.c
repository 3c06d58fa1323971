// SPDX-License-Identifier: Apache-2.0
// boxoffice-users: accounts, password hashes and sessions. It owns the token signing keys and
// publishes their public halves at /api/auth/jwks; accounts and sessions arrive with the users
// issue.
#include <jansson.h>
#include <string.h>

#include "boxoffice/service.h"

#define JWKS_MAX_BYTES 4096

static enum bx_err jwks_get(struct bx_req *req) {
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

static const struct bx_route routes[] = {
    {BX_GET, "/api/auth/jwks", jwks_get, BX_AUTH_NONE},
};

static const struct bx_service service = {
    .name = "users",
    .summary = "accounts, password hashes and sessions",
    .default_port = 8082,
    .routes = routes,
    .n_routes = sizeof routes / sizeof routes[0],
    .needs_auth_keys = true,
};

int main(int argc, char **argv) {
    return bx_service_main(&service, argc, argv);
}
