// SPDX-License-Identifier: Apache-2.0
// boxoffice-ticketgen: ticket PDFs, QR signing and check-in. The process scaffold (config, health,
// readiness, metrics, graceful stop) comes from the shared library; domain routes arrive with the
// ticketgen issue.
#include "boxoffice/service.h"

static const struct bx_service service = {
    .name = "ticketgen",
    .summary = "ticket PDFs, QR signing and check-in",
    .default_port = 8084,
    .routes = NULL,
    .n_routes = 0,
    .needs_auth_keys = true,
};

int main(int argc, char **argv) {
    return bx_service_main(&service, argc, argv);
}
