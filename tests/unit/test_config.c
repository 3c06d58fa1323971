// SPDX-License-Identifier: Apache-2.0
// Tests for lib/config.c with a fake environment: defaults, integer ranges, booleans, enums, URL
// schemes, required variables, and the one error line naming the variable and what was expected.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdbool.h>
#include <string.h>

#include "boxoffice/config.h"

#define FAKE_ENV_MAX 8

struct fake_var {
    const char *name, *value;
};

/* The fake environment: set by each test, read by fake_getenv. */
static struct fake_var fake_env[FAKE_ENV_MAX];
static size_t fake_env_n;

static void env_clear(void) {
    fake_env_n = 0;
}

static void env_set(const char *name, const char *value) {
    assert_true(fake_env_n < FAKE_ENV_MAX);
    fake_env[fake_env_n].name = name;
    fake_env[fake_env_n].value = value;
    fake_env_n++;
}

static const char *fake_getenv(const char *name) {
    for (size_t i = 0; i < fake_env_n; i++) {
        if (strcmp(fake_env[i].name, name) == 0) {
            return fake_env[i].value;
        }
    }
    return NULL;
}

static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};
static const char *const db_schemes[] = {"sqlite", "postgres", "postgresql", NULL};

struct cfg {
    const char *name;
    int64_t port;
    bool debug;
    const char *level;
    const char *db;
    const char *secret;
};

/* The same table shape a service declares. */
static void make_vars(struct bx_config_var vars[6], struct cfg *c) {
    const struct bx_config_var v[6] = {
        {.name = "BX_TEST_NAME",
         .type = BX_CFG_STRING,
         .default_value = "boxoffice",
         .help = "service name",
         .min = 1,
         .max = 16,
         .out = &c->name},
        {.name = "BX_TEST_PORT",
         .type = BX_CFG_INT,
         .default_value = "8080",
         .help = "listen port",
         .min = 1,
         .max = 65535,
         .out = &c->port},
        {.name = "BX_TEST_DEBUG",
         .type = BX_CFG_BOOL,
         .default_value = "false",
         .help = "debug mode",
         .out = &c->debug},
        {.name = "BX_TEST_LOG_LEVEL",
         .type = BX_CFG_ENUM,
         .default_value = "info",
         .help = "log level",
         .choices = log_levels,
         .out = &c->level},
        {.name = "BX_TEST_DB",
         .type = BX_CFG_URL,
         .default_value = "sqlite:/tmp/x.db",
         .help = "database URL",
         .choices = db_schemes,
         .out = &c->db},
        {.name = "BX_TEST_SECRET",
         .type = BX_CFG_STRING,
         .default_value = NULL,
         .help = "shared secret",
         .out = &c->secret},
    };
    memcpy(vars, v, sizeof v);
}

static int load(struct cfg *c, char *err, size_t err_size) {
    struct bx_config_var vars[6];
    memset(c, 0, sizeof *c);
    make_vars(vars, c);
    err[0] = '\0';
    return bx_config_load(vars, 6, fake_getenv, err, err_size);
}

static void test_defaults(void **state) {
    (void)state;
    struct cfg c;
    char err[BX_CONFIG_ERROR_MAX];
    env_clear();
    env_set("BX_TEST_SECRET", "s3cret");
    assert_int_equal(load(&c, err, sizeof err), 0);
    assert_string_equal(err, "");
    assert_string_equal(c.name, "boxoffice");
    assert_int_equal(c.port, 8080);
    assert_false(c.debug);
    assert_string_equal(c.level, "info");
    assert_string_equal(c.db, "sqlite:/tmp/x.db");
    assert_string_equal(c.secret, "s3cret");

    /* an empty value counts as unset and takes the default */
    env_set("BX_TEST_PORT", "");
    assert_int_equal(load(&c, err, sizeof err), 0);
    assert_int_equal(c.port, 8080);
}

static void test_values_override_defaults(void **state) {
    (void)state;
    struct cfg c;
    char err[BX_CONFIG_ERROR_MAX];
    env_clear();
    env_set("BX_TEST_SECRET", "s");
    env_set("BX_TEST_NAME", "catalog");
    env_set("BX_TEST_PORT", "9001");
    env_set("BX_TEST_DEBUG", "yes");
    env_set("BX_TEST_LOG_LEVEL", "debug");
    env_set("BX_TEST_DB", "postgres://u@h/db");
    assert_int_equal(load(&c, err, sizeof err), 0);
    assert_string_equal(c.name, "catalog");
    assert_int_equal(c.port, 9001);
    assert_true(c.debug);
    assert_string_equal(c.level, "debug");
    assert_string_equal(c.db, "postgres://u@h/db");
}

static void test_int_range(void **state) {
    (void)state;
    struct cfg c;
    char err[BX_CONFIG_ERROR_MAX];
    static const char *const good[] = {"1", "65535", "+80", "443"};
    static const int64_t good_v[] = {1, 65535, 80, 443};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        env_clear();
        env_set("BX_TEST_SECRET", "s");
        env_set("BX_TEST_PORT", good[i]);
        assert_int_equal(load(&c, err, sizeof err), 0);
        assert_int_equal(c.port, good_v[i]);
    }
    static const char *const bad[] = {"0",   "65536", "-1",  "80x", "x80",
                                      " 80", "80 ",   "8.0", "",    "99999999999999999999999",
                                      "-",   "+"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (bad[i][0] == '\0') {
            continue; /* empty means unset, covered by test_defaults */
        }
        env_clear();
        env_set("BX_TEST_SECRET", "s");
        env_set("BX_TEST_PORT", bad[i]);
        assert_int_equal(load(&c, err, sizeof err), -1);
        assert_non_null(strstr(err, "BX_TEST_PORT: "));
        assert_non_null(strstr(err, "expected an integer from 1 to 65535"));
        assert_non_null(strstr(err, bad[i]));
        assert_int_equal(c.port, 0); /* nothing written on failure */
    }
}

static void test_bools(void **state) {
    (void)state;
    struct cfg c;
    char err[BX_CONFIG_ERROR_MAX];
    static const char *const yes[] = {"1", "true", "TRUE", "yes", "On"};
    static const char *const no[] = {"0", "false", "False", "no", "off"};
    for (size_t i = 0; i < 5; i++) {
        env_clear();
        env_set("BX_TEST_SECRET", "s");
        env_set("BX_TEST_DEBUG", yes[i]);
        assert_int_equal(load(&c, err, sizeof err), 0);
        assert_true(c.debug);
        env_clear();
        env_set("BX_TEST_SECRET", "s");
        env_set("BX_TEST_DEBUG", no[i]);
        c.debug = true;
        assert_int_equal(load(&c, err, sizeof err), 0);
        assert_false(c.debug);
    }
    static const char *const bad[] = {"2", "y", "truee", "enabled", "-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        env_clear();
        env_set("BX_TEST_SECRET", "s");
        env_set("BX_TEST_DEBUG", bad[i]);
        assert_int_equal(load(&c, err, sizeof err), -1);
        assert_non_null(strstr(err, "BX_TEST_DEBUG: expected true or false"));
        assert_non_null(strstr(err, bad[i]));
    }
}

static void test_enums(void **state) {
    (void)state;
    struct cfg c;
    char err[BX_CONFIG_ERROR_MAX];
    for (size_t i = 0; log_levels[i] != NULL; i++) {
        env_clear();
        env_set("BX_TEST_SECRET", "s");
        env_set("BX_TEST_LOG_LEVEL", log_levels[i]);
        assert_int_equal(load(&c, err, sizeof err), 0);
        assert_string_equal(c.level, log_levels[i]);
        /* points at the table entry, not at the environment */
        assert_ptr_equal(c.level, log_levels[i]);
    }
    static const char *const bad[] = {"INFO", "verbose", "inf", "info "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        env_clear();
        env_set("BX_TEST_SECRET", "s");
        env_set("BX_TEST_LOG_LEVEL", bad[i]);
        assert_int_equal(load(&c, err, sizeof err), -1);
        assert_non_null(strstr(err, "BX_TEST_LOG_LEVEL: expected one of debug, info, warn, error"));
        assert_non_null(strstr(err, bad[i]));
    }
}

static void test_url_schemes(void **state) {
    (void)state;
    struct cfg c;
    char err[BX_CONFIG_ERROR_MAX];
    static const char *const good[] = {"sqlite:/var/lib/x.db", "postgres://h/db",
                                       "postgresql://u:p@h:5432/db", "sqlite::memory:"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        env_clear();
        env_set("BX_TEST_SECRET", "s");
        env_set("BX_TEST_DB", good[i]);
        assert_int_equal(load(&c, err, sizeof err), 0);
        assert_string_equal(c.db, good[i]);
    }
    static const char *const bad[] = {"mysql://h/db",  "sqlite",    "sqlite:",   "postgre://h/db",
                                      "/var/lib/x.db", "SQLITE:/x", "sqlitex:/x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        env_clear();
        env_set("BX_TEST_SECRET", "s");
        env_set("BX_TEST_DB", bad[i]);
        assert_int_equal(load(&c, err, sizeof err), -1);
        assert_non_null(strstr(err, "BX_TEST_DB: expected a URL starting with sqlite:..."));
        assert_non_null(strstr(err, "postgres:..."));
        assert_non_null(strstr(err, bad[i]));
        assert_null(c.db);
    }
}

static void test_string_length(void **state) {
    (void)state;
    struct cfg c;
    char err[BX_CONFIG_ERROR_MAX];
    env_clear();
    env_set("BX_TEST_SECRET", "s");
    env_set("BX_TEST_NAME", "0123456789abcdef"); /* 16: the max */
    assert_int_equal(load(&c, err, sizeof err), 0);
    env_clear();
    env_set("BX_TEST_SECRET", "s");
    env_set("BX_TEST_NAME", "0123456789abcdefg");
    assert_int_equal(load(&c, err, sizeof err), -1);
    assert_non_null(strstr(err, "BX_TEST_NAME: expected at most 16 characters"));
}

static void test_required_missing(void **state) {
    (void)state;
    struct cfg c;
    char err[BX_CONFIG_ERROR_MAX];
    env_clear();
    assert_int_equal(load(&c, err, sizeof err), -1);
    assert_non_null(strstr(err, "BX_TEST_SECRET: required"));
    assert_non_null(strstr(err, "shared secret")); /* says what the variable is for */
    env_set("BX_TEST_SECRET", "");
    assert_int_equal(load(&c, err, sizeof err), -1);
    assert_non_null(strstr(err, "BX_TEST_SECRET: required"));
}

static void test_first_bad_variable_is_reported(void **state) {
    (void)state;
    struct cfg c;
    char err[BX_CONFIG_ERROR_MAX];
    env_clear();
    env_set("BX_TEST_SECRET", "s");
    env_set("BX_TEST_PORT", "0");
    env_set("BX_TEST_DEBUG", "maybe");
    assert_int_equal(load(&c, err, sizeof err), -1);
    assert_non_null(strstr(err, "BX_TEST_PORT"));
    assert_null(strstr(err, "BX_TEST_DEBUG"));
    assert_null(strchr(err, '\n')); /* one line */
}

static void test_error_line_is_bounded(void **state) {
    (void)state;
    struct cfg c;
    char big[1000];
    memset(big, '9', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char err[40];
    memset(err, 'z', sizeof err);
    env_clear();
    env_set("BX_TEST_SECRET", "s");
    env_set("BX_TEST_PORT", big);
    assert_int_equal(load(&c, err, sizeof err), -1);
    assert_int_equal(strlen(err), sizeof err - 1);
    assert_non_null(strstr(err, "BX_TEST_PORT"));

    /* the echoed value is clipped even when the buffer is roomy */
    char roomy[BX_CONFIG_ERROR_MAX];
    assert_int_equal(load(&c, roomy, sizeof roomy), -1);
    assert_true(strlen(roomy) < sizeof roomy - 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_values_override_defaults),
        cmocka_unit_test(test_int_range),
        cmocka_unit_test(test_bools),
        cmocka_unit_test(test_enums),
        cmocka_unit_test(test_url_schemes),
        cmocka_unit_test(test_string_length),
        cmocka_unit_test(test_required_missing),
        cmocka_unit_test(test_first_bad_variable_is_reported),
        cmocka_unit_test(test_error_line_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
