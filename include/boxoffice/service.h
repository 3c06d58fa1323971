// SPDX-License-Identifier: Apache-2.0
// The common life of a boxoffice process: --help/--version, configuration from the environment,
// logging, auth keys, the HTTP server with health/readiness/metrics, and a clean stop on SIGTERM or
// SIGINT (stop accepting, drain in-flight requests, run the service's stop hook, exit 0).
#ifndef BOXOFFICE_SERVICE_H
#define BOXOFFICE_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boxoffice/auth.h"
#include "boxoffice/config.h"
#include "boxoffice/err.h"
#include "boxoffice/http.h"

struct bx_service {
    const char *name;    /* "catalog": binary boxoffice-catalog, variable BOXOFFICE_CATALOG_PORT */
    const char *summary; /* one line for --help */
    uint16_t default_port;
    const struct bx_route *routes;
    size_t n_routes;
    const struct bx_config_var *config; /* the service's own variables */
    size_t n_config;
    void *ctx;
    bool needs_auth_keys; /* false: runs without a keyring (routes needing auth answer 401) */
    /* After configuration, before serving. Non-zero stops the process (exit 1). */
    enum bx_err (*init)(void *ctx, struct bx_error *err);
    bool (*ready)(void *ctx, char *why, size_t why_size);
    bool (*is_revoked)(void *ctx, const char *jti);
    /* After the HTTP server drained. */
    void (*stop)(void *ctx);
    /* Subcommands ("boxoffice-users create-admin ..."): argv[1] not a built-in option runs this
     * after configuration, logging and keys are loaded, instead of serving; its return value is
     * the exit status. commands_help is printed by --help. */
    int (*command)(void *ctx, int argc, char **argv);
    const char *commands_help;
};

/* Runs the process; returns its exit status. */
int bx_service_main(const struct bx_service *svc, int argc, char **argv);

/* The loaded auth keyring (NULL before start or without keys). */
const struct bx_keyring *bx_service_keyring(void);
/* True once SIGTERM/SIGINT arrived; background loops check it. */
bool bx_service_stopping(void);

#endif
