// SPDX-License-Identifier: Apache-2.0
// Configuration from the environment. Each service declares a table of variables with type,
// default, range and help; bx_config_load validates all of them at start so a bad value stops the
// process with one line naming the variable and what was expected (exit status 2).
#ifndef BOXOFFICE_CONFIG_H
#define BOXOFFICE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum bx_config_type {
    BX_CFG_STRING, /* out: const char ** (points into the environment or the default) */
    BX_CFG_INT,    /* out: int64_t *, checked against [min, max] */
    BX_CFG_BOOL,   /* out: bool *, accepts 1/0 true/false yes/no on/off */
    BX_CFG_ENUM,   /* out: const char **, one of choices (NULL-terminated) */
    BX_CFG_URL,    /* out: const char **, must start with one of choices' "scheme:" prefixes */
};

struct bx_config_var {
    const char *name; /* "BOXOFFICE_CATALOG_PORT" */
    enum bx_config_type type;
    const char *default_value; /* NULL: required */
    const char *help;
    int64_t min, max;           /* BX_CFG_INT; for BX_CFG_STRING max length when max > 0 */
    const char *const *choices; /* BX_CFG_ENUM values; BX_CFG_URL schemes ("sqlite", ...) */
    void *out;
};

#define BX_CONFIG_ERROR_MAX 256

/* Returns value of name, as getenv does; replaceable for tests. */
typedef const char *(*bx_getenv_fn)(const char *name);

/* Loads every variable; on the first bad one writes "NAME: expected ..., got '...'" to err and
 * returns -1. */
int bx_config_load(const struct bx_config_var *vars, size_t n, bx_getenv_fn get, char *err,
                   size_t err_size);

/* Prints one line per variable (name, default, help) for --help. */
void bx_config_print_help(const struct bx_config_var *vars, size_t n);

#endif
