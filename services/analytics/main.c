// SPDX-License-Identifier: Apache-2.0
// boxoffice-analytics: real-time sales metrics from Kafka. The process scaffold (config, health,
// readiness, metrics, graceful stop) comes from the shared library; domain routes arrive with the
// analytics issue.
#include "boxoffice/service.h"

static const struct bx_service service = {
    .name = "analytics",
    .summary = "real-time sales metrics from Kafka",
    .default_port = 8085,
    .routes = NULL,
    .n_routes = 0,
    .needs_auth_keys = true,
};

int main(int argc, char **argv) {
    return bx_service_main(&service, argc, argv);
}
