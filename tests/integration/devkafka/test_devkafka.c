// SPDX-License-Identifier: Apache-2.0
// Integration test of boxoffice-devkafka (argv[1]): starts the binary on a free port with a
// temporary bootstrap file, then speaks the real Kafka protocol to it through librdkafka (produce
// keyed messages, read them back in a consumer group, commit offsets), checks /healthz and /readyz,
// that a second instance on the same bootstrap file refuses to start without touching it, and
// stops it with SIGTERM: exit status 0 and the bootstrap file gone. Every wait is bounded.
#include <errno.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "boxoffice/base.h"
#include "boxoffice/httpc.h"

#define TOPIC               "booking-events"
#define PARTITIONS          3 /* the broker's default, which the test does not override */
#define MESSAGES            100
#define BOOTSTRAP_WAIT_MS   20000
#define PRODUCE_FLUSH_MS    15000
#define CONSUME_WAIT_MS     40000
#define METADATA_TIMEOUT_MS 10000
#define COMMIT_TIMEOUT_MS   10000
#define EXIT_WAIT_MS        20000
#define POLL_INTERVAL_MS    50
#define WATCHDOG_S          110 /* below the ctest TIMEOUT of 120 s */
#define PATH_BYTES          512
#define BOOTSTRAPS_BYTES    512
#define ERRSTR_BYTES        512

static volatile pid_t child_pid; /* read by the watchdog signal handler */
static int failures;

static void check(bool ok, const char *what) {
    printf("%s: %s\n", ok ? "PASS" : "FAIL", what);
    fflush(stdout);
    if (!ok) {
        failures++;
    }
}

static void sleep_ms(int64_t ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Last resort when something hangs anyway: kill the broker so no process outlives the test. */
static void watchdog(int sig) {
    (void)sig;
    static const char msg[] = "FAIL: watchdog expired, killing the broker\n";
    if (child_pid > 0) {
        kill(child_pid, SIGKILL);
    }
    ssize_t w = write(STDOUT_FILENO, msg, sizeof msg - 1);
    (void)w;
    _exit(1);
}

/* Asks the kernel for a free loopback port (bind to port 0, read it, close). */
static int free_port(uint16_t *out) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int rc = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0) {
        *out = ntohs(a.sin_port);
        rc = 0;
    }
    close(fd);
    return rc;
}

static pid_t start_broker(const char *binary, uint16_t port, const char *bootstrap_file) {
    char port_s[8];
    snprintf(port_s, sizeof port_s, "%u", (unsigned)port);
    pid_t pid = fork();
    if (pid != 0) {
        return pid; /* parent, or -1 */
    }
    if (setenv("BOXOFFICE_DEVKAFKA_PORT", port_s, 1) != 0 ||
        setenv("BOXOFFICE_DEVKAFKA_BOOTSTRAP_FILE", bootstrap_file, 1) != 0 ||
        unsetenv("BOXOFFICE_DEVKAFKA_PARTITIONS") != 0 ||
        unsetenv("BOXOFFICE_DEVKAFKA_BROKERS") != 0) {
        _exit(126);
    }
    char *const args[] = {(char *)binary, NULL};
    execv(binary, args);
    fprintf(stderr, "cannot exec %s: %s\n", binary, strerror(errno));
    _exit(127);
}

/* True when the child is still running; otherwise stores its wait status. */
static bool child_running(pid_t pid, int *status) {
    pid_t r = waitpid(pid, status, WNOHANG);
    return r == 0;
}

/* Waits for the bootstrap file and reads its first line. */
static bool wait_bootstrap(pid_t pid, const char *path, char *out, size_t out_size) {
    int64_t deadline = bx_now_mono_ms() + BOOTSTRAP_WAIT_MS;
    while (bx_now_mono_ms() < deadline) {
        int status = 0;
        if (!child_running(pid, &status)) {
            child_pid = 0;
            printf("broker exited early (status %d)\n", status);
            return false;
        }
        FILE *f = fopen(path, "r");
        if (f != NULL) {
            bool ok = fgets(out, (int)out_size, f) != NULL;
            fclose(f);
            if (ok) {
                out[strcspn(out, "\r\n")] = '\0';
                return out[0] != '\0';
            }
        }
        sleep_ms(POLL_INTERVAL_MS);
    }
    return false;
}

static long http_get_status(uint16_t port, const char *path) {
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", (unsigned)port, path);
    struct bx_httpc_request req = {
        .method = "GET", .url = url, .connect_timeout_ms = 2000, .timeout_ms = 5000};
    struct bx_httpc_response resp = {0};
    long status = -1;
    if (bx_httpc_do(&req, &resp) == BX_OK) {
        status = resp.status;
    }
    bx_httpc_response_free(&resp);
    return status;
}

struct kafka_prop {
    const char *name;
    const char *value;
};

static rd_kafka_conf_t *kafka_conf(const char *bootstraps, const struct kafka_prop *props,
                                   size_t n_props) {
    char errstr[ERRSTR_BYTES];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK) {
        goto fail;
    }
    for (size_t i = 0; i < n_props; i++) {
        if (rd_kafka_conf_set(conf, props[i].name, props[i].value, errstr, sizeof errstr) !=
            RD_KAFKA_CONF_OK) {
            goto fail;
        }
    }
    return conf;
fail:
    printf("librdkafka configuration: %s\n", errstr);
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* Partition count of the topic as the broker reports it over the protocol, or -1. */
static int topic_partitions(rd_kafka_t *rk) {
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, TOPIC, NULL);
    if (t == NULL) {
        return -1;
    }
    const struct rd_kafka_metadata *md = NULL;
    int n = -1;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, t, &md, METADATA_TIMEOUT_MS);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 &&
        md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        n = md->topics[0].partition_cnt;
    } else {
        printf("metadata: %s\n", rd_kafka_err2str(err ? err : md->topics[0].err));
    }
    if (md != NULL) {
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(t);
    return n;
}

struct delivery {
    int delivered;
    int failed;
    bool partitions_used[PARTITIONS];
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    struct delivery *d = opaque;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        d->failed++;
        printf("delivery failed: %s\n", rd_kafka_err2str(m->err));
        return;
    }
    d->delivered++;
    if (m->partition >= 0 && m->partition < PARTITIONS) {
        d->partitions_used[m->partition] = true;
    }
}

static void produce(const char *bootstraps) {
    static const struct kafka_prop props[] = {
        {"acks", "all"},
        {"message.timeout.ms", "10000"},
        {"linger.ms", "5"},
    };
    struct delivery d = {0};
    rd_kafka_conf_t *conf = kafka_conf(bootstraps, props, BX_ARRAY_LEN(props));
    if (conf == NULL) {
        check(false, "producer configured");
        return;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, &d);
    char errstr[ERRSTR_BYTES];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (rk == NULL) {
        printf("producer: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        check(false, "producer created");
        return;
    }
    int n_partitions = topic_partitions(rk);
    printf("topic %s has %d partition(s)\n", TOPIC, n_partitions);
    check(n_partitions == PARTITIONS, "topic booking-events exists with the default 3 partitions");

    int enqueued = 0;
    for (int i = 0; i < MESSAGES; i++) {
        char key[32];
        char value[64];
        int klen = snprintf(key, sizeof key, "key-%d", i);
        int vlen = snprintf(value, sizeof value, "event-%d", i);
        rd_kafka_resp_err_t err =
            rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_KEY(key, (size_t)klen),
                              RD_KAFKA_V_VALUE(value, (size_t)vlen),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            printf("produce %d: %s\n", i, rd_kafka_err2str(err));
            break;
        }
        enqueued++;
        rd_kafka_poll(rk, 0);
    }
    rd_kafka_resp_err_t ferr = rd_kafka_flush(rk, PRODUCE_FLUSH_MS);
    printf("produced: %d enqueued, %d delivered, %d failed, flush: %s\n", enqueued, d.delivered,
           d.failed, rd_kafka_err2str(ferr));
    check(enqueued == MESSAGES && d.delivered == MESSAGES && d.failed == 0 &&
              ferr == RD_KAFKA_RESP_ERR_NO_ERROR,
          "100 keyed messages produced and acknowledged (acks=all)");
    int used = 0;
    for (int p = 0; p < PARTITIONS; p++) {
        used += d.partitions_used[p] ? 1 : 0;
    }
    check(used > 1, "keys were spread over more than one partition");
    rd_kafka_destroy(rk);
}

/* Parses "<prefix><n>" of exactly len bytes with n in [0, MESSAGES); -1 otherwise. */
static int parse_index(const void *bytes, size_t len, const char *prefix) {
    char buf[64];
    size_t plen = strlen(prefix);
    if (bytes == NULL || len <= plen || len >= sizeof buf) {
        return -1;
    }
    memcpy(buf, bytes, len);
    buf[len] = '\0';
    int64_t n;
    if (strncmp(buf, prefix, plen) != 0 || bx_parse_i64(buf + plen, 0, MESSAGES - 1, &n) != 0) {
        return -1;
    }
    return (int)n;
}

static void consume(const char *bootstraps) {
    char group[64];
    snprintf(group, sizeof group, "bx-devkafka-test-%ld", (long)getpid());
    /* Eager assignment (range): the mock cluster of librdkafka 2.0 and analytics both use it. */
    const struct kafka_prop props[] = {
        {"group.id", group},
        {"partition.assignment.strategy", "range"},
        {"session.timeout.ms", "6000"},
        {"auto.offset.reset", "earliest"},
        {"enable.auto.commit", "false"},
    };
    rd_kafka_conf_t *conf = kafka_conf(bootstraps, props, BX_ARRAY_LEN(props));
    if (conf == NULL) {
        check(false, "consumer configured");
        return;
    }
    char errstr[ERRSTR_BYTES];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (rk == NULL) {
        printf("consumer: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        check(false, "consumer created");
        return;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, TOPIC, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    check(err == RD_KAFKA_RESP_ERR_NO_ERROR, "consumer subscribed to booking-events");

    bool seen[MESSAGES] = {false};
    int unique = 0;
    int duplicates = 0;
    int mismatched = 0;
    int64_t deadline = bx_now_mono_ms() + CONSUME_WAIT_MS;
    while (err == RD_KAFKA_RESP_ERR_NO_ERROR && unique < MESSAGES && bx_now_mono_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (m == NULL) {
            continue;
        }
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            printf("consumer: %s\n", rd_kafka_message_errstr(m));
        } else {
            int vi = parse_index(m->payload, m->len, "event-");
            int ki = parse_index(m->key, m->key_len, "key-");
            if (vi < 0 || ki != vi) {
                mismatched++;
            } else if (seen[vi]) {
                duplicates++;
            } else {
                seen[vi] = true;
                unique++;
            }
        }
        rd_kafka_message_destroy(m);
    }
    printf("consumed: %d of %d unique, %d duplicates, %d with a wrong key or value\n", unique,
           MESSAGES, duplicates, mismatched);
    check(unique == MESSAGES && mismatched == 0,
          "all 100 messages read back in a consumer group, each with its key");
    if (unique > 0) {
        rd_kafka_resp_err_t cerr = rd_kafka_commit(rk, NULL, 0);
        printf("commit: %s\n", rd_kafka_err2str(cerr));
        check(cerr == RD_KAFKA_RESP_ERR_NO_ERROR, "consumer group committed its offsets");
        rd_kafka_topic_partition_list_t *assigned = NULL;
        int64_t committed_total = -1;
        if (rd_kafka_assignment(rk, &assigned) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            rd_kafka_committed(rk, assigned, COMMIT_TIMEOUT_MS) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            committed_total = 0;
            for (int i = 0; i < assigned->cnt; i++) {
                if (assigned->elems[i].offset > 0) {
                    committed_total += assigned->elems[i].offset;
                }
            }
        }
        if (assigned != NULL) {
            rd_kafka_topic_partition_list_destroy(assigned);
        }
        printf("committed offsets sum to %lld\n", (long long)committed_total);
        check(committed_total == MESSAGES, "committed offsets read back from the broker");
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

/* Waits (bounded) for pid to exit; kills it when it does not. True when it exited by itself. */
static bool wait_exit(pid_t pid, int64_t timeout_ms, int *status) {
    int64_t deadline = bx_now_mono_ms() + timeout_ms;
    while (bx_now_mono_ms() < deadline) {
        if (!child_running(pid, status)) {
            return true;
        }
        sleep_ms(POLL_INTERVAL_MS);
    }
    kill(pid, SIGKILL);
    waitpid(pid, status, 0);
    return false;
}

/* A second broker given the same bootstrap file must refuse to start and leave the file alone. */
static void second_instance_refused(const char *binary, const char *bootstrap_file,
                                    const char *bootstraps) {
    uint16_t port = 0;
    if (free_port(&port) != 0) {
        check(false, "picked a second free HTTP port");
        return;
    }
    pid_t pid = start_broker(binary, port, bootstrap_file);
    if (pid <= 0) {
        check(false, "second broker process started");
        return;
    }
    int status = 0;
    bool exited = wait_exit(pid, EXIT_WAIT_MS, &status);
    check(exited && WIFEXITED(status) && WEXITSTATUS(status) != 0,
          "a second broker on the same bootstrap file exits with an error");
    char again[BOOTSTRAPS_BYTES] = "";
    FILE *f = fopen(bootstrap_file, "r");
    if (f != NULL) {
        if (fgets(again, (int)sizeof again, f) == NULL) {
            again[0] = '\0';
        }
        fclose(f);
    }
    again[strcspn(again, "\r\n")] = '\0';
    check(strcmp(again, bootstraps) == 0, "the running broker's bootstrap file is left intact");
}

/* Sends SIGTERM and waits (bounded) for the exit status. */
static void stop_broker(pid_t pid, const char *bootstrap_file) {
    check(kill(pid, SIGTERM) == 0, "SIGTERM sent");
    int status = 0;
    bool exited = wait_exit(pid, EXIT_WAIT_MS, &status);
    child_pid = 0;
    printf("broker wait status: exited=%d code=%d signaled=%d\n", WIFEXITED(status),
           WIFEXITED(status) ? WEXITSTATUS(status) : -1, WIFSIGNALED(status));
    check(exited && WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "broker exited with status 0 after SIGTERM");
    check(access(bootstrap_file, F_OK) != 0 && errno == ENOENT, "bootstrap file removed at stop");
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s PATH_TO_boxoffice-devkafka\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGALRM, watchdog);
    alarm(WATCHDOG_S);

    char dir[] = "/tmp/bx-devkafka-test-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    char sub[PATH_BYTES];
    char bootstrap_file[PATH_BYTES];
    snprintf(sub, sizeof sub, "%s/var", dir);
    snprintf(bootstrap_file, sizeof bootstrap_file, "%s/kafka.bootstrap", sub);

    uint16_t port = 0;
    check(free_port(&port) == 0 && port != 0, "picked a free HTTP port");
    printf("starting %s on port %u, bootstrap file %s\n", argv[1], (unsigned)port, bootstrap_file);
    pid_t pid = start_broker(argv[1], port, bootstrap_file);
    check(pid > 0, "broker process started");
    if (pid <= 0) {
        goto out;
    }
    child_pid = pid;

    char bootstraps[BOOTSTRAPS_BYTES];
    bool have = wait_bootstrap(pid, bootstrap_file, bootstraps, sizeof bootstraps);
    check(have, "bootstrap file written (parent directory created)");
    if (!have) {
        goto out;
    }
    printf("bootstrap address: %s\n", bootstraps);
    struct stat st;
    check(stat(bootstrap_file, &st) == 0 && S_ISREG(st.st_mode),
          "bootstrap file is a regular file (renamed into place)");

    check(http_get_status(port, "/healthz") == 200, "GET /healthz answers 200");
    check(http_get_status(port, "/readyz") == 200, "GET /readyz answers 200");
    second_instance_refused(argv[1], bootstrap_file, bootstraps);

    produce(bootstraps);
    consume(bootstraps);

    check(http_get_status(port, "/healthz") == 200, "GET /healthz still answers 200");
    stop_broker(pid, bootstrap_file);

out:
    if (child_pid > 0) {
        kill(child_pid, SIGKILL);
        waitpid(child_pid, NULL, 0);
        child_pid = 0;
    }
    alarm(0);
    unlink(bootstrap_file);
    char lock_file[PATH_BYTES + 8];
    snprintf(lock_file, sizeof lock_file, "%s.lock", bootstrap_file);
    unlink(lock_file);
    rmdir(sub);
    rmdir(dir);
    printf("%s: %d check(s) failed\n", failures == 0 ? "OK" : "FAILED", failures);
    return failures == 0 ? 0 : 1;
}
