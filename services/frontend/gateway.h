// SPDX-License-Identifier: Apache-2.0
// The frontend's two jobs: the /api gateway (proxy by route table to the owning service) and the
// static web UI.
#ifndef BOXOFFICE_FRONTEND_GATEWAY_H
#define BOXOFFICE_FRONTEND_GATEWAY_H

#include <stdint.h>

#include "boxoffice/http.h"
#include "boxoffice/httpc.h"

enum upstream { UP_CATALOG, UP_USERS, UP_BOOKING, UP_TICKETGEN, UP_ANALYTICS, UP_COUNT };

struct frontend {
    const char *web_dir;
    const char *upstream_url[UP_COUNT];
    int64_t upstream_timeout_ms;
    int64_t max_inflight;
    struct bx_httpc_pool *pool;
};

enum bx_err gateway_proxy(struct bx_req *req);
enum bx_err static_get(struct bx_req *req);

#endif
