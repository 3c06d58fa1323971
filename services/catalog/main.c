// SPDX-License-Identifier: Apache-2.0
// boxoffice-catalog: venues, events and ticket tiers. The process scaffold (config, health,
// readiness, metrics, graceful stop) comes from the shared library; domain routes arrive with the
// catalog issue.
#include "boxoffice/service.h"

static const struct bx_service service = {
    .name = "catalog",
    .summary = "venues, events and ticket tiers",
    .default_port = 8081,
    .routes = NULL,
    .n_routes = 0,
    .needs_auth_keys = true,
};

int main(int argc, char **argv) {
    return bx_service_main(&service, argc, argv);
}
