// SPDX-License-Identifier: Apache-2.0
// boxoffice-devkafka: the development Kafka broker. Wraps librdkafka's in-memory mock cluster in a
// boxoffice process, creates topic booking-events and publishes the cluster's bootstrap address
// (its loopback ports are picked by librdkafka) in a file written atomically for the launcher.
// Invariants: the file names a live cluster (written after the cluster exists, removed before it
// is destroyed); only the holder of the lock <file>.lock writes or removes it, so a second
// instance (or a restart racing the old process's stop) cannot clobber a live broker's file;
// /readyz is true only while all hold. For development only: nothing is persisted.
// Fault injection for tests: POST /mock/brokers/{id}/down|up takes a broker off and back on
// (loopback peers only); mcluster is read by HTTP workers only under dk->mock_lock.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boxoffice/base.h"
#include "boxoffice/http.h"
#include "boxoffice/log.h"
#include "boxoffice/service.h"

#define DEVKAFKA_TOPIC                "booking-events"
#define DEVKAFKA_BROKERS_MAX          3
#define DEVKAFKA_PARTITIONS_MAX       64
#define DEVKAFKA_PATH_MAX_BYTES       1024 /* bootstrap file path + ".tmp.<pid>" or ".lock" */
#define DEVKAFKA_BOOTSTRAPS_MAX_BYTES 512  /* "127.0.0.1:<port>," per broker, with a wide margin */
#define DEVKAFKA_ERRSTR_BYTES         512
#define DEVKAFKA_BROKER_ID_MIN        1 /* the mock cluster numbers its brokers 1..brokers */

struct devkafka {
    /* Configuration (filled by bx_config_load before init). */
    int64_t brokers;
    int64_t partitions;
    const char *bootstrap_file;
    /* State, owned by init/stop on the main thread; ready is also read by HTTP workers. */
    rd_kafka_t *rk; /* owns the mock cluster (test.mock.num.brokers); idle otherwise */
    /* Borrowed from rk. Set by init before the HTTP server starts; cleared under mock_lock before
     * rk is destroyed, so a fault-injection handler holding mock_lock sees a live cluster or NULL
     * (even when the drain at stop timed out and a handler is still running). */
    rd_kafka_mock_cluster_t *mcluster;
    pthread_mutex_t mock_lock;
    int lock_fd; /* -1 when the lock is not held */
    bool file_written;
    _Atomic bool ready;
    char bootstraps[DEVKAFKA_BOOTSTRAPS_MAX_BYTES];
};

static struct devkafka devkafka = {.lock_fd = -1, .mock_lock = PTHREAD_MUTEX_INITIALIZER};

static const struct bx_config_var config[] = {
    {"BOXOFFICE_DEVKAFKA_BROKERS", BX_CFG_INT, "1", "brokers in the in-memory cluster", 1,
     DEVKAFKA_BROKERS_MAX, NULL, &devkafka.brokers},
    {"BOXOFFICE_DEVKAFKA_PARTITIONS", BX_CFG_INT, "3", "partitions of topic " DEVKAFKA_TOPIC, 1,
     DEVKAFKA_PARTITIONS_MAX, NULL, &devkafka.partitions},
    {"BOXOFFICE_DEVKAFKA_BOOTSTRAP_FILE", BX_CFG_STRING, "var/kafka.bootstrap",
     "file that receives the bootstrap address (created at start, removed at stop; "
     "<file>.lock guards it)",
     1, DEVKAFKA_PATH_MAX_BYTES - 32, NULL, &devkafka.bootstrap_file},
};

/* librdkafka logs (syslog levels) go through the structured log. Called from its threads. */
static void kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    (void)rk;
    enum bx_log_level l = level <= 3   ? BX_LOG_ERROR
                          : level == 4 ? BX_LOG_WARN
                          : level <= 6 ? BX_LOG_INFO
                                       : BX_LOG_DEBUG;
    bx_log(l, NULL, "librdkafka %s: %s", fac, buf);
}

/* Creates every missing directory above the file at path (like mkdir -p of its dirname). */
static int make_parent_dirs(const char *path) {
    char dir[DEVKAFKA_PATH_MAX_BYTES];
    if (bx_strlcpy(dir, path, sizeof dir) >= sizeof dir) {
        errno = ENAMETOOLONG;
        return -1;
    }
    char *slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir) {
        return 0; /* current directory or the root */
    }
    *slash = '\0';
    for (char *p = dir + 1;; p++) {
        bool end = *p == '\0';
        if (*p == '/' || end) {
            *p = '\0';
            if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
                return -1;
            }
            if (end) {
                return 0;
            }
            *p = '/';
        }
    }
}

/* Writes bytes to path atomically: a temporary file beside it, fsync, rename, fsync of the
 * directory. Readers see either no file or the whole content. Returns 0 or -1 with errno. */
static int write_file_atomic(const char *path, const char *bytes, size_t size_bytes) {
    char tmp[DEVKAFKA_PATH_MAX_BYTES];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int rc = -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return -1;
    }
    size_t done = 0;
    while (done < size_bytes) {
        ssize_t w = write(fd, bytes + done, size_bytes - done);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            goto out;
        }
        done += (size_t)w;
    }
    if (fsync(fd) != 0) {
        goto out;
    }
    int close_rc = close(fd);
    fd = -1;
    if (close_rc != 0 || rename(tmp, path) != 0) {
        goto out;
    }
    /* Make the rename itself durable; a failure here does not undo the visible result. */
    char dir[DEVKAFKA_PATH_MAX_BYTES];
    bx_strlcpy(dir, path, sizeof dir);
    char *slash = strrchr(dir, '/');
    if (slash == NULL) {
        bx_strlcpy(dir, ".", sizeof dir);
    } else if (slash == dir) {
        dir[1] = '\0';
    } else {
        *slash = '\0';
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    rc = 0;
out:
    if (rc != 0) {
        int saved = errno;
        if (fd >= 0) {
            close(fd);
        }
        unlink(tmp);
        errno = saved;
    }
    return rc;
}

/* Takes the lock <bootstrap_file>.lock for the life of the process (released by the kernel even on
 * a crash, so a stale lock never blocks a restart). The lock file itself is left in place:
 * removing it would let two processes hold locks on different inodes. */
static enum bx_err lock_bootstrap(struct devkafka *dk, struct bx_error *err) {
    char path[DEVKAFKA_PATH_MAX_BYTES];
    int n = snprintf(path, sizeof path, "%s.lock", dk->bootstrap_file);
    BX_ASSERT(n > 0 && (size_t)n < sizeof path); /* the variable's max length leaves room */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        return bx_error_set(err, BX_INTERNAL, NULL, "cannot open %s: %s", path, strerror(errno));
    }
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EINTR) {
            continue;
        }
        int saved = errno;
        close(fd);
        if (saved == EWOULDBLOCK) {
            return bx_error_set(err, BX_CONFLICT, NULL,
                                "another boxoffice-devkafka is running on %s (lock held)",
                                dk->bootstrap_file);
        }
        return bx_error_set(err, BX_INTERNAL, NULL, "cannot lock %s: %s", path, strerror(saved));
    }
    dk->lock_fd = fd;
    return BX_OK;
}

/* Destroys whatever init created, in reverse order; safe to call twice. */
static void teardown(struct devkafka *dk) {
    atomic_store(&dk->ready, false);
    if (dk->file_written) {
        if (unlink(dk->bootstrap_file) != 0 && errno != ENOENT) {
            bx_warn("cannot remove %s: %s", dk->bootstrap_file, strerror(errno));
        }
        dk->file_written = false;
    }
    pthread_mutex_lock(&dk->mock_lock);
    dk->mcluster = NULL; /* owned by dk->rk (test.mock.num.brokers): destroyed with it */
    pthread_mutex_unlock(&dk->mock_lock);
    if (dk->rk != NULL) {
        rd_kafka_destroy(dk->rk);
        dk->rk = NULL;
    }
    if (dk->lock_fd >= 0) {
        close(dk->lock_fd); /* last: a successor may start only once everything above is done */
        dk->lock_fd = -1;
    }
}

static enum bx_err devkafka_init(void *ctx, struct bx_error *err) {
    struct devkafka *dk = ctx;
    BX_ASSERT(dk->mcluster == NULL && dk->rk == NULL && !dk->file_written && dk->lock_fd < 0);
    BX_ASSERT(dk->brokers >= 1 && dk->brokers <= DEVKAFKA_BROKERS_MAX);
    BX_ASSERT(dk->partitions >= 1 && dk->partitions <= DEVKAFKA_PARTITIONS_MAX);
    BX_ASSERT(dk->bootstrap_file != NULL && dk->bootstrap_file[0] != '\0');

    bx_warn(
        "this is an in-memory Kafka broker for development only: every topic and message is "
        "lost when it stops; never use it in production (use a real Kafka cluster such as MSK)");

    enum bx_err rc = BX_INTERNAL;
    rd_kafka_conf_t *conf = NULL;
    if (make_parent_dirs(dk->bootstrap_file) != 0) {
        bx_error_set(err, BX_INTERNAL, NULL, "cannot create the directory of %s: %s",
                     dk->bootstrap_file, strerror(errno));
        goto out;
    }
    if (lock_bootstrap(dk, err) != BX_OK) {
        goto out;
    }
    if (access(dk->bootstrap_file, F_OK) == 0) {
        bx_warn("%s exists but no devkafka holds its lock (a previous one was killed?); "
                "replacing it",
                dk->bootstrap_file);
    }

    char errstr[DEVKAFKA_ERRSTR_BYTES];
    conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "client.id", "boxoffice-devkafka", errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK) {
        bx_error_set(err, BX_INTERNAL, NULL, "librdkafka configuration: %s", errstr);
        goto out;
    }
    char brokers[8];
    snprintf(brokers, sizeof brokers, "%lld", (long long)dk->brokers);
    if (rd_kafka_conf_set(conf, "test.mock.num.brokers", brokers, errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK) {
        bx_error_set(err, BX_INTERNAL, NULL, "librdkafka configuration: %s", errstr);
        goto out;
    }
    rd_kafka_conf_set_log_cb(conf, kafka_log);
    dk->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (dk->rk == NULL) {
        bx_error_set(err, BX_INTERNAL, NULL, "cannot create a librdkafka handle: %s", errstr);
        goto out;
    }
    conf = NULL; /* now owned by dk->rk */

    dk->mcluster = rd_kafka_handle_mock_cluster(dk->rk);
    if (dk->mcluster == NULL) {
        bx_error_set(err, BX_INTERNAL, NULL, "librdkafka created no mock cluster of %lld broker(s)",
                     (long long)dk->brokers);
        goto out;
    }
    rd_kafka_resp_err_t kerr = rd_kafka_mock_topic_create(dk->mcluster, DEVKAFKA_TOPIC,
                                                          (int)dk->partitions, (int)dk->brokers);
    if (kerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
        bx_error_set(err, BX_INTERNAL, NULL, "cannot create topic %s: %s", DEVKAFKA_TOPIC,
                     rd_kafka_err2str(kerr));
        goto out;
    }
    const char *bootstraps = rd_kafka_mock_cluster_bootstraps(dk->mcluster);
    if (bootstraps == NULL || bootstraps[0] == '\0' ||
        bx_strlcpy(dk->bootstraps, bootstraps, sizeof dk->bootstraps) >= sizeof dk->bootstraps) {
        bx_error_set(err, BX_INTERNAL, NULL, "the mock cluster has no usable bootstrap address");
        goto out;
    }

    char line[DEVKAFKA_BOOTSTRAPS_MAX_BYTES + 1];
    int n = snprintf(line, sizeof line, "%s\n", dk->bootstraps);
    BX_ASSERT(n > 0 && (size_t)n < sizeof line);
    if (write_file_atomic(dk->bootstrap_file, line, (size_t)n) != 0) {
        bx_error_set(err, BX_INTERNAL, NULL, "cannot write %s: %s", dk->bootstrap_file,
                     strerror(errno));
        goto out;
    }
    dk->file_written = true;
    atomic_store(&dk->ready, true);
    bx_info("mock Kafka cluster of %lld broker(s) at %s, topic %s with %lld partition(s); "
            "bootstrap address written to %s",
            (long long)dk->brokers, dk->bootstraps, DEVKAFKA_TOPIC, (long long)dk->partitions,
            dk->bootstrap_file);
    rc = BX_OK;
out:
    if (conf != NULL) {
        rd_kafka_conf_destroy(conf);
    }
    if (rc != BX_OK) {
        teardown(dk); /* bx_service_main does not call stop when init fails */
    }
    return rc;
}

static bool devkafka_ready(void *ctx, char *why, size_t why_size) {
    struct devkafka *dk = ctx;
    if (!atomic_load(&dk->ready)) {
        snprintf(why, why_size, "mock Kafka cluster not running");
        return false;
    }
    return true;
}

/* True for the loopback peers that may inject faults (127.0.0.0/8, ::1, IPv4-mapped loopback).
 * The server binds 127.0.0.1 by default; this keeps the routes closed if BOXOFFICE_BIND is widened.
 */
static bool peer_is_loopback(const char *peer) {
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, peer, &a4) == 1) {
        return (ntohl(a4.s_addr) >> 24) == 127;
    }
    if (inet_pton(AF_INET6, peer, &a6) == 1) {
        if (IN6_IS_ADDR_LOOPBACK(&a6)) {
            return true;
        }
        return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
    }
    return false;
}

/* POST /mock/brokers/{id}/down and /up: {id} is a broker of the cluster in canonical decimal
 * (1..brokers; "0", "-1" (all brokers to librdkafka), "01" and "+1" are 404s). Idempotent. */
static enum bx_err broker_set_state(struct bx_req *req, bool up) {
    struct devkafka *dk = req->ctx;
    if (!peer_is_loopback(bx_req_remote(req))) {
        return bx_req_fail(req, BX_FORBIDDEN, NULL,
                           "Fault injection is accepted from loopback only.");
    }
    const char *id_s = bx_req_param(req, "id");
    int64_t id = 0;
    if (id_s == NULL || id_s[0] < '1' || id_s[0] > '9' ||
        bx_parse_i64(id_s, DEVKAFKA_BROKER_ID_MIN, dk->brokers, &id) != 0) {
        return bx_req_fail(req, BX_NOT_FOUND, NULL,
                           "No such broker: brokers are numbered %d to %lld.",
                           DEVKAFKA_BROKER_ID_MIN, (long long)dk->brokers);
    }
    BX_ASSERT(id >= DEVKAFKA_BROKER_ID_MIN && id <= DEVKAFKA_BROKERS_MAX);

    rd_kafka_resp_err_t kerr = RD_KAFKA_RESP_ERR_NO_ERROR;
    bool running = false;
    pthread_mutex_lock(&dk->mock_lock);
    if (dk->mcluster != NULL) {
        running = true;
        /* Synchronous: returns once the cluster thread has closed (or reopened) the listener. */
        kerr = up ? rd_kafka_mock_broker_set_up(dk->mcluster, (int32_t)id)
                  : rd_kafka_mock_broker_set_down(dk->mcluster, (int32_t)id);
    }
    pthread_mutex_unlock(&dk->mock_lock);
    if (!running) {
        return bx_req_fail(req, BX_UNAVAILABLE, NULL, "The mock Kafka cluster is not running.");
    }
    if (kerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return bx_req_fail(req, BX_INTERNAL, NULL, "librdkafka could not set broker %lld %s: %s",
                           (long long)id, up ? "up" : "down", rd_kafka_err2str(kerr));
    }
    bx_warn("fault injection: broker %lld is %s", (long long)id,
            up ? "up (accepting connections again)" : "down (connections closed and refused)");
    return bx_respond_json(
        req, 200, json_pack("{s:I,s:s}", "broker", (json_int_t)id, "state", up ? "up" : "down"));
}

static enum bx_err broker_down(struct bx_req *req) {
    return broker_set_state(req, false);
}

static enum bx_err broker_up(struct bx_req *req) {
    return broker_set_state(req, true);
}

/* The whole API besides /healthz, /readyz and /metrics: fault injection for tests. */
static const struct bx_route routes[] = {
    {BX_POST, "/mock/brokers/{id}/down", broker_down, BX_AUTH_NONE},
    {BX_POST, "/mock/brokers/{id}/up", broker_up, BX_AUTH_NONE},
};

static void devkafka_stop(void *ctx) {
    struct devkafka *dk = ctx;
    teardown(dk);
    bx_info("mock Kafka cluster destroyed; its topics and messages are gone");
}

static const struct bx_service service = {
    .name = "devkafka",
    .summary = "in-memory Kafka broker for development (librdkafka mock cluster); never for "
               "production",
    .default_port = 8086,
    .routes = routes,
    .n_routes = BX_ARRAY_LEN(routes),
    .config = config,
    .n_config = BX_ARRAY_LEN(config),
    .ctx = &devkafka,
    .needs_auth_keys = false,
    .init = devkafka_init,
    .ready = devkafka_ready,
    .stop = devkafka_stop,
};

int main(int argc, char **argv) {
    return bx_service_main(&service, argc, argv);
}
