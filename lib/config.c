// SPDX-License-Identifier: Apache-2.0
// Validates a table of environment variables at start; see config.h.
#include "boxoffice/config.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "boxoffice/base.h"

static int parse_bool(const char *s, bool *out) {
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < BX_ARRAY_LEN(yes); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

static void list_choices(const char *const *choices, const char *suffix, char *buf, size_t size) {
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; choices != NULL && choices[i] != NULL; i++) {
        int n = snprintf(buf + len, size - len, "%s%s%s", i ? ", " : "", choices[i], suffix);
        if (n < 0 || (size_t)n >= size - len) {
            break;
        }
        len += (size_t)n;
    }
}

static int load_one(const struct bx_config_var *v, const char *value, char *err, size_t err_size) {
    char choices[160];
    switch (v->type) {
    case BX_CFG_STRING:
        if (v->max > 0 && (int64_t)strlen(value) > v->max) {
            snprintf(err, err_size, "%s: expected at most %" PRId64 " characters, got %zu", v->name,
                     v->max, strlen(value));
            return -1;
        }
        if (v->min > 0 && (int64_t)strlen(value) < v->min) {
            snprintf(err, err_size, "%s: expected at least %" PRId64 " characters", v->name,
                     v->min);
            return -1;
        }
        *(const char **)v->out = value;
        return 0;
    case BX_CFG_INT: {
        int64_t n;
        if (bx_parse_i64(value, v->min, v->max, &n) != 0) {
            snprintf(err, err_size,
                     "%s: expected an integer from %" PRId64 " to %" PRId64 ", got '%.64s'",
                     v->name, v->min, v->max, value);
            return -1;
        }
        *(int64_t *)v->out = n;
        return 0;
    }
    case BX_CFG_BOOL:
        if (parse_bool(value, (bool *)v->out) != 0) {
            snprintf(err, err_size, "%s: expected true or false, got '%.64s'", v->name, value);
            return -1;
        }
        return 0;
    case BX_CFG_ENUM:
        for (size_t i = 0; v->choices != NULL && v->choices[i] != NULL; i++) {
            if (strcmp(value, v->choices[i]) == 0) {
                *(const char **)v->out = v->choices[i];
                return 0;
            }
        }
        list_choices(v->choices, "", choices, sizeof choices);
        snprintf(err, err_size, "%s: expected one of %s, got '%.64s'", v->name, choices, value);
        return -1;
    case BX_CFG_URL:
        for (size_t i = 0; v->choices != NULL && v->choices[i] != NULL; i++) {
            size_t n = strlen(v->choices[i]);
            if (strncmp(value, v->choices[i], n) == 0 && value[n] == ':' && value[n + 1] != '\0') {
                *(const char **)v->out = value;
                return 0;
            }
        }
        list_choices(v->choices, ":...", choices, sizeof choices);
        snprintf(err, err_size, "%s: expected a URL starting with %s, got '%.64s'", v->name,
                 choices, value);
        return -1;
    }
    snprintf(err, err_size, "%s: unknown variable type", v->name);
    return -1;
}

int bx_config_load(const struct bx_config_var *vars, size_t n, bx_getenv_fn get, char *err,
                   size_t err_size) {
    BX_ASSERT(get != NULL);
    for (size_t i = 0; i < n; i++) {
        const struct bx_config_var *v = &vars[i];
        BX_ASSERT(v->out != NULL);
        const char *value = get(v->name);
        if (value == NULL || value[0] == '\0') {
            value = v->default_value;
        }
        if (value == NULL) {
            snprintf(err, err_size, "%s: required but not set (%s)", v->name,
                     v->help ? v->help : "no default");
            return -1;
        }
        if (load_one(v, value, err, err_size) != 0) {
            return -1;
        }
    }
    return 0;
}

void bx_config_print_help(const struct bx_config_var *vars, size_t n) {
    for (size_t i = 0; i < n; i++) {
        printf("  %-34s %s (default: %s)\n", vars[i].name, vars[i].help,
               vars[i].default_value ? vars[i].default_value : "required");
    }
}
