// SPDX-License-Identifier: Apache-2.0
// DynamoDB backend extras that are not part of the kv interface (backends-private): creating the
// table, for tests and for a first start in development. Production tables come from terraform.
#ifndef BOXOFFICE_BACKENDS_KV_DYNAMODB_H
#define BOXOFFICE_BACKENDS_KV_DYNAMODB_H

#include "boxoffice/err.h"

/* Longest wait for a new table to become ACTIVE. */
#define BX_KV_DYNAMODB_TABLE_WAIT_MS 30000

/* Creates the table named by url ("dynamodb://TABLE?region=R[&endpoint=URL]") with the layout of
 * docs/kv.md (partition key pk, PAY_PER_REQUEST) unless it exists, waits (bounded) until it is
 * ACTIVE, and turns on TTL on attribute exp where the server supports it. Credentials as for
 * bx_kv_open. BX_OK when the table is ready. */
enum bx_err bx_kv_dynamodb_ensure_table(const char *url, struct bx_error *err);

#endif
