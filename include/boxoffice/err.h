// SPDX-License-Identifier: Apache-2.0
// The one list of error codes. Each entry has its HTTP status and its snake_case wire name; every
// service answers errors as {"error":{"code":<wire>,"message":...,"field":...}} from this list.
#ifndef BOXOFFICE_ERR_H
#define BOXOFFICE_ERR_H

#define BX_ERRORS(X)                                                                               \
    X(BX_OK, 200, "ok", "ok")                                                                      \
    X(BX_INVALID_JSON, 400, "invalid_json", "The request body is not valid JSON.")                 \
    X(BX_BAD_REQUEST, 400, "bad_request", "The request is malformed.")                             \
    X(BX_UNAUTHORIZED, 401, "unauthorized", "A valid bearer token is required.")                   \
    X(BX_FORBIDDEN, 403, "forbidden", "You are not allowed to do this.")                           \
    X(BX_NOT_FOUND, 404, "not_found", "No such resource.")                                         \
    X(BX_METHOD_NOT_ALLOWED, 405, "method_not_allowed", "This method is not allowed here.")        \
    X(BX_CONFLICT, 409, "conflict", "The resource is not in a state that allows this.")            \
    X(BX_EMAIL_TAKEN, 409, "email_taken", "That email address is already registered.")             \
    X(BX_SOLD_OUT, 409, "sold_out", "Not enough seats are left.")                                  \
    X(BX_NOT_ON_SALE, 409, "not_on_sale", "Tickets for this event are not on sale.")               \
    X(BX_HOLD_EXPIRED, 409, "hold_expired", "The hold has expired.")                               \
    X(BX_PAYLOAD_TOO_LARGE, 413, "payload_too_large", "The request body is too large.")            \
    X(BX_URI_TOO_LONG, 414, "uri_too_long", "The request URI is too long.")                        \
    X(BX_UNSUPPORTED_MEDIA_TYPE, 415, "unsupported_media_type", "Send application/json.")          \
    X(BX_INVALID_FIELD, 422, "invalid_field", "A field is invalid.")                               \
    X(BX_LIMIT_EXCEEDED, 422, "limit_exceeded", "A ticket limit would be exceeded.")               \
    X(BX_IDEMPOTENCY_MISMATCH, 422, "idempotency_mismatch",                                        \
      "This Idempotency-Key was used with a different request.")                                   \
    X(BX_RATE_LIMITED, 429, "rate_limited", "Too many requests; retry later.")                     \
    X(BX_HEADERS_TOO_LARGE, 431, "headers_too_large", "The request headers are too large.")        \
    X(BX_INTERNAL, 500, "internal", "Internal error.")                                             \
    X(BX_BAD_GATEWAY, 502, "bad_gateway", "The upstream service is unreachable.")                  \
    X(BX_UNAVAILABLE, 503, "unavailable", "The service is unavailable; retry later.")              \
    X(BX_RETRY, 503, "retry", "A concurrent change got in the way; retry.")                        \
    X(BX_UPSTREAM_TIMEOUT, 504, "upstream_timeout", "The upstream service did not answer in time.")

enum bx_err {
#define X(name, status, wire, message) name,
    BX_ERRORS(X)
#undef X
        BX_ERR_COUNT
};

/* HTTP status of an error code (500 for an out-of-range value). */
unsigned bx_err_status(enum bx_err e);
/* snake_case wire name ("sold_out"); "internal" for an out-of-range value. */
const char *bx_err_name(enum bx_err e);
/* Default human sentence for the code. */
const char *bx_err_message(enum bx_err e);
/* Looks a wire name up; returns BX_ERR_COUNT when unknown. */
enum bx_err bx_err_from_name(const char *wire);

/* An error with its detail, as it goes into a JSON error body. */
struct bx_error {
    enum bx_err code;
    char field[96];    /* "" when not about one field */
    char message[192]; /* "" to use bx_err_message(code) */
};

/* Sets e and returns e->code; fmt may be NULL for the default message. */
enum bx_err bx_error_set(struct bx_error *e, enum bx_err code, const char *field, const char *fmt,
                         ...) __attribute__((format(printf, 4, 5)));

#endif
