// SPDX-License-Identifier: Apache-2.0
// placeholder replaced by the devkafka implementation
#include "boxoffice/service.h"
static const struct bx_service service = {.name = "devkafka", .summary = "dev kafka", .default_port = 8086};
int main(int argc, char **argv) {
    return bx_service_main(&service, argc, argv);
}
