// SPDX-License-Identifier: Apache-2.0
// boxoffice-catalog: venues, events and ticket tiers over the db interface (SQLite on a laptop,
// PostgreSQL in production). Migrations run at start under the database's lock.
#include <stdio.h>
#include <string.h>

#include "boxoffice/base.h"
#include "boxoffice/log.h"
#include "boxoffice/service.h"
#include "catalog.h"

struct catalog catalog;

static const char *const db_schemes[] = {"sqlite", "postgresql", "postgres", NULL};
static const char *const http_schemes[] = {"http", "https", NULL};

static const struct bx_config_var config[] = {
    {"BOXOFFICE_CATALOG_DB", BX_CFG_URL, "sqlite:var/catalog.db",
     "catalog database: sqlite:PATH or postgresql://user:pw@host/db[?pool=N]", 0, 0, db_schemes,
     &catalog.db_url},
    {"BOXOFFICE_BOOKING_URL", BX_CFG_URL, "http://127.0.0.1:8083",
     "booking service, asked for sold seats before a tier on sale shrinks", 0, 0, http_schemes,
     &catalog.booking_url},
    {"BOXOFFICE_CATALOG_SEED_DEMO", BX_CFG_INT, "0",
     "1: seed demo venues and events into an empty catalog at start (make run does)", 0, 1, NULL,
     &catalog.seed_demo},
};

static const struct bx_route routes[] = {
    {BX_POST, "/api/venues", venues_create, BX_AUTH_ADMIN},
    {BX_GET, "/api/venues", venues_list, BX_AUTH_NONE},
    {BX_GET, "/api/venues/{id}", venues_get, BX_AUTH_NONE},
    {BX_PATCH, "/api/venues/{id}", venues_patch, BX_AUTH_ADMIN},
    {BX_GET, "/api/events", events_list, BX_AUTH_NONE},
    {BX_GET, "/api/events/changes", events_changes, BX_AUTH_NONE},
    {BX_POST, "/api/events", events_create, BX_AUTH_ADMIN},
    {BX_GET, "/api/events/{id}", events_get, BX_AUTH_OPTIONAL},
    {BX_PATCH, "/api/events/{id}", events_patch, BX_AUTH_ADMIN},
    {BX_POST, "/api/events/{id}/tiers", events_add_tier, BX_AUTH_ADMIN},
    {BX_PATCH, "/api/events/{id}/tiers/{tier_id}", events_edit_tier, BX_AUTH_ADMIN},
    {BX_POST, "/api/events/{id}/publish", events_publish, BX_AUTH_ADMIN},
    {BX_POST, "/api/events/{id}/cancel", events_cancel, BX_AUTH_ADMIN},
};

static enum bx_err init(void *ctx, struct bx_error *err) {
    (void)ctx;
    enum bx_err e = bx_db_open(catalog.db_url, &catalog.db, err);
    if (e != BX_OK) {
        return e;
    }
    if ((e = catalog_migrate(err)) != BX_OK) {
        return e;
    }
    if (catalog.seed_demo && (e = catalog_seed_demo(err)) != BX_OK) {
        return e;
    }
    return BX_OK;
}

static bool ready(void *ctx, char *why, size_t why_size) {
    (void)ctx;
    if (catalog.db.ops == NULL || catalog.db.ops->ping(catalog.db.ctx) != BX_OK) {
        snprintf(why, why_size, "catalog database unreachable");
        return false;
    }
    return true;
}

static void stop(void *ctx) {
    (void)ctx;
    bx_db_close(&catalog.db);
}

/* boxoffice-catalog --seed-demo: migrate and seed the demo catalog (if empty), then exit. */
static int command(void *ctx, int argc, char **argv) {
    (void)ctx;
    if (argc != 2 || (strcmp(argv[1], "--seed-demo") != 0 && strcmp(argv[1], "seed-demo") != 0)) {
        fprintf(stderr, "boxoffice-catalog: unknown command (try --help)\n");
        return 2;
    }
    struct bx_error err = {0};
    enum bx_err e = bx_db_open(catalog.db_url, &catalog.db, &err);
    if (e == BX_OK && (e = catalog_migrate(&err)) == BX_OK) {
        e = catalog_seed_demo(&err);
    }
    bx_db_close(&catalog.db);
    if (e != BX_OK) {
        fprintf(stderr, "boxoffice-catalog: %s\n", err.message[0] ? err.message : bx_err_name(e));
        return 1;
    }
    printf("demo catalog ready in %s\n", catalog.db_url);
    return 0;
}

static const struct bx_service service = {
    .name = "catalog",
    .summary = "venues, events and ticket tiers",
    .default_port = 8081,
    .routes = routes,
    .n_routes = BX_ARRAY_LEN(routes),
    .config = config,
    .n_config = BX_ARRAY_LEN(config),
    .ctx = &catalog,
    .needs_auth_keys = true,
    .init = init,
    .ready = ready,
    .stop = stop,
    .command = command,
    .commands_help =
        "  --seed-demo          seed demo venues and events into an empty catalog, exit\n",
};

int main(int argc, char **argv) {
    return bx_service_main(&service, argc, argv);
}
