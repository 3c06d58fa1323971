// SPDX-License-Identifier: Apache-2.0
// boxoffice-frontend: serves the web UI and is the /api gateway in front of the five services.
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boxoffice/base.h"
#include "boxoffice/service.h"
#include "gateway.h"

static struct frontend fe;

static const char *const http_schemes[] = {"http", "https", NULL};

static const struct bx_config_var config[] = {
    {"BOXOFFICE_WEB_DIR", BX_CFG_STRING, "web", "directory of the web UI's static files", 1, 1024,
     NULL, &fe.web_dir},
    {"BOXOFFICE_CATALOG_URL", BX_CFG_URL, "http://127.0.0.1:8081", "catalog service base URL", 0, 0,
     http_schemes, &fe.upstream_url[UP_CATALOG]},
    {"BOXOFFICE_USERS_URL", BX_CFG_URL, "http://127.0.0.1:8082", "users service base URL", 0, 0,
     http_schemes, &fe.upstream_url[UP_USERS]},
    {"BOXOFFICE_BOOKING_URL", BX_CFG_URL, "http://127.0.0.1:8083", "booking service base URL", 0, 0,
     http_schemes, &fe.upstream_url[UP_BOOKING]},
    {"BOXOFFICE_TICKETGEN_URL", BX_CFG_URL, "http://127.0.0.1:8084", "ticketgen service base URL",
     0, 0, http_schemes, &fe.upstream_url[UP_TICKETGEN]},
    {"BOXOFFICE_ANALYTICS_URL", BX_CFG_URL, "http://127.0.0.1:8085", "analytics service base URL",
     0, 0, http_schemes, &fe.upstream_url[UP_ANALYTICS]},
    {"BOXOFFICE_UPSTREAM_TIMEOUT_MS", BX_CFG_INT, "10000",
     "total time allowed for an upstream answer before 504", 100, 600000, NULL,
     &fe.upstream_timeout_ms},
    {"BOXOFFICE_GATEWAY_MAX_INFLIGHT", BX_CFG_INT, "4096", "proxied requests in flight before 503",
     1, 100000, NULL, &fe.max_inflight},
    {"BOXOFFICE_RATE_LIMIT_RPS", BX_CFG_INT, "50",
     "API requests per second per client address (token bucket; 0: no limit)", 0, 1000000, NULL,
     &fe.rate_per_s},
    {"BOXOFFICE_RATE_LIMIT_BURST", BX_CFG_INT, "100",
     "API requests a client may send at once before the per-second rate applies", 1, 10000000, NULL,
     &fe.rate_burst},
    {"BOXOFFICE_GATEWAY_MAX_STREAMS", BX_CFG_INT, "256",
     "event streams (Server-Sent Events) relayed at once, one thread each", 1, 10000, NULL,
     &fe.max_streams},
};

static const struct bx_route routes[] = {
    {BX_ANY, "/api/{*}", gateway_proxy, BX_AUTH_NONE},
    {BX_GET, "/{*}", static_get, BX_AUTH_NONE},
};

static enum bx_err init(void *ctx, struct bx_error *err) {
    struct frontend *f = ctx;
    f->pool = bx_httpc_pool_new((size_t)f->max_inflight);
    if (f->pool == NULL) {
        return bx_error_set(err, BX_INTERNAL, NULL, "cannot start the upstream client pool");
    }
    return BX_OK;
}

static bool ready(void *ctx, char *why, size_t why_size) {
    struct frontend *f = ctx;
    char index[1100];
    snprintf(index, sizeof index, "%s/index.html", f->web_dir);
    if (access(index, R_OK) != 0) {
        snprintf(why, why_size, "%s is not readable", index);
        return false;
    }
    return true;
}

static void stop(void *ctx) {
    struct frontend *f = ctx;
    bx_httpc_pool_free(f->pool);
    f->pool = NULL;
}

static const struct bx_service service = {
    .name = "frontend",
    .summary = "web UI and /api gateway",
    .default_port = 8080,
    .routes = routes,
    .n_routes = BX_ARRAY_LEN(routes),
    .config = config,
    .n_config = BX_ARRAY_LEN(config),
    .ctx = &fe,
    .needs_auth_keys = false,
    .init = init,
    .ready = ready,
    .stop = stop,
};

int main(int argc, char **argv) {
    return bx_service_main(&service, argc, argv);
}
