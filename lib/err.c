// SPDX-License-Identifier: Apache-2.0
// The error table: status, wire name and default message of every enum bx_err.
#include "boxoffice/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "boxoffice/base.h"

struct err_info {
    unsigned status;
    const char *wire;
    const char *message;
};

static const struct err_info table[] = {
#define X(name, status, wire, message) [name] = {status, wire, message},
    BX_ERRORS(X)
#undef X
};

unsigned bx_err_status(enum bx_err e) {
    return (unsigned)e < BX_ERR_COUNT ? table[e].status : 500;
}

const char *bx_err_name(enum bx_err e) {
    return (unsigned)e < BX_ERR_COUNT ? table[e].wire : "internal";
}

const char *bx_err_message(enum bx_err e) {
    return (unsigned)e < BX_ERR_COUNT ? table[e].message : table[BX_INTERNAL].message;
}

enum bx_err bx_err_from_name(const char *wire) {
    for (size_t i = 0; i < BX_ERR_COUNT; i++) {
        if (strcmp(table[i].wire, wire) == 0) {
            return (enum bx_err)i;
        }
    }
    return BX_ERR_COUNT;
}

enum bx_err bx_error_set(struct bx_error *e, enum bx_err code, const char *field, const char *fmt,
                         ...) {
    BX_ASSERT(e != NULL);
    e->code = code;
    bx_strlcpy(e->field, field ? field : "", sizeof e->field);
    e->message[0] = '\0';
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->message, sizeof e->message, fmt, ap);
        va_end(ap);
    }
    return code;
}
