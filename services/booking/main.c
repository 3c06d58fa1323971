// SPDX-License-Identifier: Apache-2.0
// boxoffice-booking: inventory, holds, orders and the outbox. The process scaffold (config, health,
// readiness, metrics, graceful stop) comes from the shared library; domain routes arrive with the
// booking issue.
#include "boxoffice/service.h"

static const struct bx_service service = {
    .name = "booking",
    .summary = "inventory, holds, orders and the outbox",
    .default_port = 8083,
    .routes = NULL,
    .n_routes = 0,
    .needs_auth_keys = true,
};

int main(int argc, char **argv) {
    return bx_service_main(&service, argc, argv);
}
