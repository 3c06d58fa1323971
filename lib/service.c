// SPDX-License-Identifier: Apache-2.0
// The common main of every boxoffice process; see service.h. Signals are blocked in every thread
// and taken synchronously by the main thread with sigwait, so shutdown runs in one known place.
#include "boxoffice/service.h"

#include <ctype.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "boxoffice/base.h"
#include "boxoffice/log.h"
#include "boxoffice/metrics.h"
#include "boxoffice/revocation.h"

#define COMMON_VARS      15
#define SERVICE_VARS_MAX 48

static struct bx_keyring keyring;
static _Atomic bool stopping;

const struct bx_keyring *bx_service_keyring(void) {
    return atomic_load(&keyring.n_keys) > 0 ? &keyring : NULL;
}

bool bx_service_stopping(void) {
    return atomic_load(&stopping);
}

struct common {
    const char *bind;
    int64_t port;
    const char *log_level;
    int64_t threads;
    int64_t max_connections;
    int64_t max_body_bytes;
    int64_t max_header_bytes;
    int64_t idle_timeout_s;
    int64_t request_timeout_s;
    int64_t drain_timeout_s;
    const char *auth_keys;
    const char *revocations_url;
    const char *jwks_url;
    const char *trusted_proxies;
    int64_t revocations_poll_ms;
};

static const char *const log_levels[] = {"debug", "info", "warn", "error", "off", NULL};

static char port_var[64];
static char port_default[8];
static char threads_default[8];

static size_t common_vars(const struct bx_service *svc, struct common *c,
                          struct bx_config_var *out) {
    snprintf(port_var, sizeof port_var, "BOXOFFICE_%s_PORT", svc->name);
    for (char *p = port_var; *p; p++) {
        *p = (char)toupper((unsigned char)*p);
    }
    snprintf(port_default, sizeof port_default, "%u", (unsigned)svc->default_port);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    snprintf(threads_default, sizeof threads_default, "%ld",
             cpus < 4 ? 4 : (cpus > 64 ? 64 : cpus));
    struct bx_config_var vars[COMMON_VARS] = {
        {"BOXOFFICE_BIND", BX_CFG_STRING, "127.0.0.1",
         "address to listen on (0.0.0.0 in containers)", 1, 64, NULL, &c->bind},
        {port_var, BX_CFG_INT, port_default, "TCP port of this service", 0, 65535, NULL, &c->port},
        {"BOXOFFICE_LOG_LEVEL", BX_CFG_ENUM, "info", "debug, info, warn, error or off", 0, 0,
         log_levels, &c->log_level},
        {"BOXOFFICE_HTTP_THREADS", BX_CFG_INT, threads_default,
         "HTTP worker threads (at least 2; default: CPUs, at least 4)", 2, 256, NULL, &c->threads},
        {"BOXOFFICE_HTTP_MAX_CONNECTIONS", BX_CFG_INT, "4096", "concurrent connections accepted",
         16, 100000, NULL, &c->max_connections},
        {"BOXOFFICE_HTTP_MAX_BODY_BYTES", BX_CFG_INT, "1048576", "largest request body", 1024,
         64 * 1024 * 1024, NULL, &c->max_body_bytes},
        {"BOXOFFICE_HTTP_MAX_HEADER_BYTES", BX_CFG_INT, "8192", "largest request header block",
         1024, 1024 * 1024, NULL, &c->max_header_bytes},
        {"BOXOFFICE_HTTP_IDLE_TIMEOUT_S", BX_CFG_INT, "60",
         "seconds before an idle connection is closed", 1, 3600, NULL, &c->idle_timeout_s},
        {"BOXOFFICE_HTTP_REQUEST_TIMEOUT_S", BX_CFG_INT, "60",
         "seconds a connection has to deliver its next whole request (slow clients are cut)", 1,
         3600, NULL, &c->request_timeout_s},
        {"BOXOFFICE_DRAIN_TIMEOUT_S", BX_CFG_INT, "10",
         "seconds to finish in-flight requests on SIGTERM", 0, 600, NULL, &c->drain_timeout_s},
        {"BOXOFFICE_AUTH_KEYS", BX_CFG_STRING, "var/keys/auth",
         "directory of Ed25519 token keys (<kid>.key secret seeds or <kid>.pub public keys)", 1,
         1024, NULL, &c->auth_keys},
        {"BOXOFFICE_REVOCATIONS_URL", BX_CFG_STRING, "",
         "users' revocation feed (http://users:8082/api/auth/revocations); empty: none", 0, 512,
         NULL, &c->revocations_url},
        {"BOXOFFICE_JWKS_URL", BX_CFG_STRING, "",
         "users' public keys (http://users:8082/api/auth/jwks), re-read every 30 s so new signing "
         "keys work without restarts; empty: only BOXOFFICE_AUTH_KEYS",
         0, 512, NULL, &c->jwks_url},
        {"BOXOFFICE_TRUSTED_PROXIES", BX_CFG_STRING, "127.0.0.1,::1",
         "peers whose X-Forwarded-For names the client (addresses or IPv4 CIDRs, comma-separated)",
         0, 1024, NULL, &c->trusted_proxies},
        {"BOXOFFICE_REVOCATIONS_POLL_MS", BX_CFG_INT, "1000",
         "how often the revocation feed is read (a logout is refused everywhere within this + 2 s)",
         100, 60000, NULL, &c->revocations_poll_ms},
    };
    memcpy(out, vars, sizeof vars);
    return COMMON_VARS;
}

static void usage(const struct bx_service *svc, const struct bx_config_var *vars, size_t n) {
    printf("boxoffice-%s %s: %s\n\n"
           "Usage: boxoffice-%s [--help | --version | keygen DIR]\n\n"
           "  keygen DIR   create an Ed25519 signing key in DIR when DIR holds none\n%s\n"
           "Configuration (environment):\n",
           svc->name, BX_VERSION, svc->summary, svc->name,
           svc->commands_help ? svc->commands_help : "");
    bx_config_print_help(vars, n);
    printf("\nEndpoints: /healthz /readyz /metrics and the service's API.\n");
}

static int keygen(const char *dir) {
    struct bx_keyring kr;
    if (bx_keyring_load_dir(&kr, dir) == BX_OK) {
        printf("%s already holds %zu key(s)\n", dir, kr.n_keys);
        return 0;
    }
    struct bx_key k;
    if (bx_keyring_generate(dir, &k) != BX_OK) {
        fprintf(stderr, "keygen: cannot write a key into %s\n", dir);
        return 1;
    }
    printf("created key %s in %s\n", k.kid, dir);
    return 0;
}

static const struct bx_service *current;

static const char *env_get(const char *name) {
    return getenv(name);
}

static bool ready(void *ctx, char *why, size_t why_size) {
    if (current->needs_auth_keys && atomic_load(&keyring.n_keys) == 0) {
        snprintf(why, why_size, "no auth keys loaded");
        return false;
    }
    return current->ready == NULL || current->ready(ctx, why, why_size);
}

static bool revoked_default(void *ctx, const char *jti) {
    (void)ctx;
    return bx_revocations_contains(jti, bx_now_unix_s());
}

static void raise_fd_limit(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int bx_service_main(const struct bx_service *svc, int argc, char **argv) {
    struct common c;
    struct bx_config_var vars[COMMON_VARS + SERVICE_VARS_MAX];
    BX_ASSERT(svc->n_config <= SERVICE_VARS_MAX);
    size_t n = common_vars(svc, &c, vars);
    if (svc->n_config > 0) {
        memcpy(vars + n, svc->config, svc->n_config * sizeof *vars);
    }
    n += svc->n_config;
    current = svc;

    if (argc >= 2) {
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
            usage(svc, vars, n);
            return 0;
        }
        if (strcmp(argv[1], "--version") == 0) {
            printf("boxoffice-%s %s\n", svc->name, BX_VERSION);
            return 0;
        }
        if (strcmp(argv[1], "keygen") == 0 && argc == 3) {
            return keygen(argv[2]);
        }
        if (svc->command == NULL) {
            fprintf(stderr, "boxoffice-%s: unknown argument '%s' (try --help)\n", svc->name,
                    argv[1]);
            return 2;
        }
    }

    char err[BX_CONFIG_ERROR_MAX];
    if (bx_config_load(vars, n, env_get, err, sizeof err) != 0) {
        fprintf(stderr, "boxoffice-%s: %s\n", svc->name, err);
        return 2;
    }
    enum bx_log_level level = BX_LOG_INFO;
    bx_log_level_parse(c.log_level, &level);
    bx_log_init(svc->name, level);
    raise_fd_limit();

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (bx_keyring_load_dir(&keyring, c.auth_keys) == BX_OK) {
        bx_info("loaded %zu auth key(s) from %s", atomic_load(&keyring.n_keys), c.auth_keys);
    } else if (svc->needs_auth_keys && c.jwks_url[0] == '\0') {
        bx_warn("no auth keys in %s: routes that need a token answer 401 until keys exist "
                "(create one with: boxoffice-%s keygen %s, or set BOXOFFICE_JWKS_URL)",
                c.auth_keys, svc->name, c.auth_keys);
    }

    if (argc >= 2) {
        return svc->command(svc->ctx, argc, argv);
    }

    struct bx_error e = {0};
    if (svc->init != NULL && svc->init(svc->ctx, &e) != BX_OK) {
        bx_error("start failed: %s", e.message[0] ? e.message : bx_err_message(e.code));
        return 1;
    }
    bx_metrics_init(svc->name, NULL, 0);
    struct bx_http_config hc = {
        .bind_addr = c.bind,
        .port = (uint16_t)c.port,
        .threads = (unsigned)c.threads,
        .max_connections = (unsigned)c.max_connections,
        .max_body_bytes = (size_t)c.max_body_bytes,
        .max_header_bytes = (size_t)c.max_header_bytes,
        .idle_timeout_s = (unsigned)c.idle_timeout_s,
        .request_timeout_s = (unsigned)c.request_timeout_s,
        .trusted_proxies = c.trusted_proxies,
    };
    struct bx_http_handlers h = {
        .routes = svc->routes,
        .n_routes = svc->n_routes,
        .ctx = svc->ctx,
        .ready = ready,
        .is_revoked = svc->is_revoked ? svc->is_revoked : revoked_default,
        .keyring = &keyring, /* may start empty and learn keys from BOXOFFICE_JWKS_URL */
    };
    struct bx_http_server *srv = NULL;
    if (bx_http_start(&hc, &h, &srv, &e) != BX_OK) {
        bx_error("%s", e.message);
        if (svc->stop != NULL) {
            svc->stop(svc->ctx);
        }
        return 1;
    }
    if ((c.revocations_url[0] != '\0' || c.jwks_url[0] != '\0') &&
        bx_revocations_start(c.revocations_url, c.revocations_poll_ms, c.jwks_url, &keyring) !=
            BX_OK) {
        bx_error("cannot start the revocation and key poller");
    }
    bx_info("boxoffice-%s %s listening on http://%s:%u", svc->name, BX_VERSION, c.bind,
            (unsigned)bx_http_port(srv));

    int sig = 0;
    sigwait(&sigs, &sig);
    atomic_store(&stopping, true);
    bx_info("received %s: draining (up to %llds)", sig == SIGINT ? "SIGINT" : "SIGTERM",
            (long long)c.drain_timeout_s);
    bool drained = bx_http_drain(srv, c.drain_timeout_s * 1000);
    bx_revocations_stop();
    if (svc->stop != NULL) {
        svc->stop(svc->ctx);
    }
    if (!drained) {
        bx_http_drain(srv, 2000); /* the stop hook may have finished suspended requests */
    }
    bx_http_stop(srv);
    bx_info("stopped%s", drained ? "" : " (some requests were cut off)");
    return 0;
}
