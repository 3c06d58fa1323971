// SPDX-License-Identifier: Apache-2.0
// Request-body schemas of the services, copied for the fuzz targets (the originals are static in
// services/*/): fuzz_json decodes every input against all of them, fuzz_http_request posts bodies
// to a route that decodes the hold schema. A copy can drift from its original; schemas.c says
// where each one came from, and docs/fuzzing.md how to refresh them.
#ifndef BOXOFFICE_FUZZ_SCHEMAS_H
#define BOXOFFICE_FUZZ_SCHEMAS_H

#include <stddef.h>
#include <stdint.h>

#include "boxoffice/json.h"

struct fuzz_schema {
    const char *name; /* "booking.hold" */
    const struct bx_json_schema *schema;
};

extern const struct fuzz_schema fuzz_schemas[];
extern const size_t fuzz_n_schemas;

/* services/booking/holds.c: POST /api/holds. */
struct fuzz_hold_body {
    char *event_id, *tier_id;
    int64_t quantity;
};
extern const struct bx_json_schema fuzz_hold_schema;

#endif
