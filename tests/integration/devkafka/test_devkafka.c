// SPDX-License-Identifier: Apache-2.0
// Integration test of boxoffice-devkafka (argv[1]) and kafka-dump (argv[2]): starts the broker on a
// free port with a temporary bootstrap file, then speaks the real Kafka protocol to it through
// librdkafka (produce keyed messages, read them back in a consumer group, commit offsets), takes
// broker 1 down and up with POST /mock/brokers/{id}/down|up (a message waits while it is down and
// is delivered once it is up), reads the whole topic back with kafka-dump (also while the broker
// starts out down), checks /healthz and /readyz, that a second instance on the same bootstrap file
// refuses to start without touching it, and stops it with SIGTERM: exit status 0 and the bootstrap
// file gone. Every wait is bounded.
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
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
#define HTTP_BODY_MAX_BYTES 4096
/* Broker faults: while broker 1 is down a message must stay undelivered for DOWN_WINDOW_MS although
 * its message.timeout.ms is far longer, then be delivered within RECOVERY_WAIT_MS once it is up. */
#define DOWN_WINDOW_MS        2000
#define FAULT_MSG_TIMEOUT_MS  "60000"
#define RECOVERY_WAIT_MS      30000
#define RECONNECT_BACKOFF_MAX "1000" /* ms; librdkafka's 10 s default would slow the recovery */
#define DUMP_MESSAGES         3
#define DUMP_WAIT_MS          40000 /* kafka-dump's own bound is 120 s; ours is tighter */
#define DUMP_RETRY_SEEN_MS    20000 /* for kafka-dump to report a failed metadata attempt */
#define DUMP_IDLE_MS          "300"
#define DUMP_LINE_BYTES       512
#define DUMP_LINES_MAX        1000
#define LOG_CHUNK_BYTES       4096

static volatile pid_t child_pid; /* read by the watchdog signal handler */
static volatile pid_t dump_pid;  /* a running kafka-dump, also killed by the watchdog */
static int failures;
/* Messages acknowledged on TOPIC so far in this run; kafka-dump must show them all. */
static int produced_total;

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
    if (dump_pid > 0) {
        kill(dump_pid, SIGKILL);
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

/* POSTs to path without a body; returns the status (-1 when no answer) and the parsed JSON body in
 * *body_out (NULL when absent or not JSON; the caller json_decref's it). */
static long http_post(uint16_t port, const char *path, json_t **body_out) {
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", (unsigned)port, path);
    struct bx_httpc_request req = {.method = "POST",
                                   .url = url,
                                   .connect_timeout_ms = 2000,
                                   .timeout_ms = 5000,
                                   .max_body_bytes = HTTP_BODY_MAX_BYTES};
    struct bx_httpc_response resp = {0};
    long status = -1;
    *body_out = NULL;
    if (bx_httpc_do(&req, &resp) == BX_OK) {
        status = resp.status;
        if (resp.body != NULL) {
            *body_out = json_loadb(resp.body, resp.body_len, 0, NULL);
        }
    }
    bx_httpc_response_free(&resp);
    return status;
}

/* True when body is {"broker":id,"state":state}. */
static bool is_broker_state(const json_t *body, json_int_t id, const char *state) {
    const json_t *b = json_object_get(body, "broker");
    const json_t *st = json_object_get(body, "state");
    return json_is_integer(b) && json_integer_value(b) == id && json_is_string(st) &&
           strcmp(json_string_value(st), state) == 0 && json_object_size(body) == 2;
}

/* True when body is the JSON error with the given wire code. */
static bool is_error(const json_t *body, const char *code) {
    const json_t *c = json_object_get(json_object_get(body, "error"), "code");
    return json_is_string(c) && strcmp(json_string_value(c), code) == 0;
}

/* POST /mock/brokers/<id>/<state>: checks the 200 and its body. */
static bool set_broker(uint16_t port, int id, const char *state) {
    char path[64];
    snprintf(path, sizeof path, "/mock/brokers/%d/%s", id, state);
    json_t *body = NULL;
    long status = http_post(port, path, &body);
    bool ok = status == 200 && is_broker_state(body, id, state);
    if (!ok) {
        printf("POST %s: %ld\n", path, status);
    }
    json_decref(body);
    return ok;
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
    produced_total += d.delivered;
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

/* Bad broker ids answer a JSON 404 (and never reach librdkafka, where -1 means every broker); the
 * routes take POST only. */
static void broker_routes_reject(uint16_t port) {
    static const char *const bad[] = {
        "/mock/brokers/0/down",  "/mock/brokers/2/down",
        "/mock/brokers/-1/down", "/mock/brokers/01/up",
        "/mock/brokers/+1/down", "/mock/brokers/abc/up",
        "/mock/brokers/1x/down", "/mock/brokers/99999999999999999999/up",
    };
    int wrong = 0;
    for (size_t i = 0; i < BX_ARRAY_LEN(bad); i++) {
        json_t *body = NULL;
        long status = http_post(port, bad[i], &body);
        if (status != 404 || !is_error(body, "not_found")) {
            printf("POST %s: %ld\n", bad[i], status);
            wrong++;
        }
        json_decref(body);
    }
    check(wrong == 0, "POST /mock/brokers/{id}/down|up with a bad id answers a JSON 404");
    check(http_get_status(port, "/mock/brokers/1/down") == 405,
          "GET /mock/brokers/1/down answers 405");
}

/* Broker 1 (the only one) down: a message with a long message.timeout.ms gets no delivery report
 * while it is down; once it is up again the message is delivered. */
static void broker_fault(uint16_t port, const char *bootstraps) {
    const struct kafka_prop props[] = {
        {"acks", "all"},
        {"message.timeout.ms", FAULT_MSG_TIMEOUT_MS},
        {"reconnect.backoff.max.ms", RECONNECT_BACKOFF_MAX},
    };
    struct delivery d = {0};
    rd_kafka_conf_t *conf = kafka_conf(bootstraps, props, BX_ARRAY_LEN(props));
    if (conf == NULL) {
        check(false, "fault producer configured");
        return;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, &d);
    char errstr[ERRSTR_BYTES];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (rk == NULL) {
        printf("fault producer: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        check(false, "fault producer created");
        return;
    }
    /* Connected, with metadata, before the fault: the broker drops a live connection. */
    check(topic_partitions(rk) == PARTITIONS, "fault producer sees the topic before the fault");
    check(set_broker(port, 1, "down"), "POST /mock/brokers/1/down answers {\"broker\":1,...}");

    char key[] = "fault-key";
    char value[] = "{\"test\":\"fault\"}";
    rd_kafka_resp_err_t err =
        rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_KEY(key, sizeof key - 1),
                          RD_KAFKA_V_VALUE(value, sizeof value - 1),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    check(err == RD_KAFKA_RESP_ERR_NO_ERROR, "message enqueued while broker 1 is down");
    int64_t window_end = bx_now_mono_ms() + DOWN_WINDOW_MS;
    while (bx_now_mono_ms() < window_end) {
        rd_kafka_poll(rk, POLL_INTERVAL_MS);
    }
    printf("while down: %d delivered, %d failed\n", d.delivered, d.failed);
    check(d.delivered == 0 && d.failed == 0,
          "no delivery report in 2 s while broker 1 is down (message.timeout.ms 60 s)");

    check(set_broker(port, 1, "up"), "POST /mock/brokers/1/up answers {\"broker\":1,...}");
    rd_kafka_resp_err_t ferr = rd_kafka_flush(rk, RECOVERY_WAIT_MS);
    printf("after up: %d delivered, %d failed, flush: %s\n", d.delivered, d.failed,
           rd_kafka_err2str(ferr));
    check(d.delivered == 1 && d.failed == 0, "the message is delivered once broker 1 is up");
    produced_total += d.delivered;
    check(set_broker(port, 1, "up"), "POST /mock/brokers/1/up again is idempotent (200)");
    rd_kafka_destroy(rk);
}

struct dump_msg {
    char key[32];
    char value[64];
    int32_t partition;
    int64_t offset; /* -1 until delivered */
};

static void on_dump_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    (void)opaque;
    struct dump_msg *dm = m->_private;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        printf("delivery failed: %s\n", rd_kafka_err2str(m->err));
        return;
    }
    dm->partition = m->partition;
    dm->offset = m->offset;
}

/* Produces n messages (key and value filled in) with acks=all and records where each landed;
 * true when all were acknowledged. */
static bool produce_msgs(const char *bootstraps, struct dump_msg *msgs, int n) {
    static const struct kafka_prop props[] = {{"acks", "all"}, {"message.timeout.ms", "10000"}};
    rd_kafka_conf_t *conf = kafka_conf(bootstraps, props, BX_ARRAY_LEN(props));
    if (conf == NULL) {
        return false;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_dump_delivery);
    char errstr[ERRSTR_BYTES];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (rk == NULL) {
        printf("producer: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return false;
    }
    for (int i = 0; i < n; i++) {
        struct dump_msg *dm = &msgs[i];
        dm->offset = -1;
        rd_kafka_resp_err_t err = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_KEY(dm->key, strlen(dm->key)),
            RD_KAFKA_V_VALUE(dm->value, strlen(dm->value)),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(dm), RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            printf("produce %s: %s\n", dm->key, rd_kafka_err2str(err));
            break;
        }
    }
    rd_kafka_flush(rk, PRODUCE_FLUSH_MS);
    rd_kafka_destroy(rk); /* after this no delivery report can still arrive */
    bool all = true;
    for (int i = 0; i < n; i++) {
        produced_total += msgs[i].offset >= 0 ? 1 : 0;
        all = all && msgs[i].offset >= 0;
    }
    return all;
}

/* Produces DUMP_MESSAGES keyed JSON messages and records where each landed. */
static bool produce_for_dump(const char *bootstraps, struct dump_msg *msgs) {
    for (int i = 0; i < DUMP_MESSAGES; i++) {
        snprintf(msgs[i].key, sizeof msgs[i].key, "dump-key-%d", i);
        snprintf(msgs[i].value, sizeof msgs[i].value, "{\"test\":\"kafka-dump\",\"seq\":%d}", i);
    }
    return produce_msgs(bootstraps, msgs, DUMP_MESSAGES);
}

/* Starts kafka-dump with stdout and stderr going to log_path; idle_ms NULL uses its default. */
static pid_t start_dump(const char *binary, const char *bootstraps, const char *out_path,
                        const char *log_path, const char *idle_ms) {
    pid_t pid = fork();
    if (pid != 0) {
        return pid;
    }
    int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0) {
        _exit(126);
    }
    char *const args[] = {(char *)binary,   (char *)bootstraps, (char *)TOPIC,
                          (char *)out_path, (char *)idle_ms,    NULL};
    execv(binary, args);
    _exit(127);
}

/* True when the file at path contains needle (read in chunks that overlap by the needle's length).
 */
static bool file_contains(const char *path, const char *needle) {
    size_t nlen = strlen(needle);
    BX_ASSERT(nlen > 0 && nlen < LOG_CHUNK_BYTES / 2);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return false;
    }
    char buf[LOG_CHUNK_BYTES + 1];
    size_t kept = 0;
    bool found = false;
    for (;;) {
        size_t got = fread(buf + kept, 1, LOG_CHUNK_BYTES - kept, f);
        if (got == 0) {
            break;
        }
        size_t len = kept + got;
        buf[len] = '\0';
        if (memmem(buf, len, needle, nlen) != NULL) {
            found = true;
            break;
        }
        kept = nlen - 1 < len ? nlen - 1 : len;
        memmove(buf, buf + len - kept, kept);
    }
    fclose(f);
    return found;
}

static void print_file(const char *path) {
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return;
    }
    char line[DUMP_LINE_BYTES];
    for (int i = 0; i < DUMP_LINES_MAX && fgets(line, sizeof line, f) != NULL; i++) {
        printf("  | %s", line);
    }
    fclose(f);
}

/* Checks kafka-dump's output: every line "<partition>\t<offset>\t<key>\t<value>", one per message
 * acknowledged on the topic so far, and each of msgs exactly once where it was delivered. */
static void check_dump_output(const char *out_path, const struct dump_msg *msgs, const char *what) {
    FILE *f = fopen(out_path, "r");
    if (f == NULL) {
        printf("%s: %s\n", out_path, strerror(errno));
        check(false, what);
        return;
    }
    int lines = 0;
    int malformed = 0;
    int seen[DUMP_MESSAGES] = {0};
    char line[DUMP_LINE_BYTES];
    while (lines < DUMP_LINES_MAX && fgets(line, sizeof line, f) != NULL) {
        lines++;
        size_t len = strcspn(line, "\n");
        int tabs = 0;
        for (size_t i = 0; i < len; i++) {
            tabs += line[i] == '\t' ? 1 : 0;
        }
        if (line[len] != '\n' || tabs != 3) {
            malformed++;
            continue;
        }
        line[len] = '\0';
        for (int i = 0; i < DUMP_MESSAGES; i++) {
            char want[DUMP_LINE_BYTES];
            snprintf(want, sizeof want, "%d\t%lld\t%s\t%s", (int)msgs[i].partition,
                     (long long)msgs[i].offset, msgs[i].key, msgs[i].value);
            seen[i] += strcmp(line, want) == 0 ? 1 : 0;
        }
    }
    fclose(f);
    int once = 0;
    for (int i = 0; i < DUMP_MESSAGES; i++) {
        once += seen[i] == 1 ? 1 : 0;
    }
    printf("%s: %d line(s), %d malformed, %d of %d produced lines found once; %d acknowledged\n",
           out_path, lines, malformed, once, DUMP_MESSAGES, produced_total);
    check(lines == produced_total && malformed == 0 && once == DUMP_MESSAGES, what);
}

/* Waits (bounded) for kafka-dump; true when it exited with want_code. */
static bool dump_exits(pid_t pid, int want_code, const char *log_path) {
    int status = 0;
    bool exited = wait_exit(pid, DUMP_WAIT_MS, &status);
    dump_pid = 0;
    bool ok = exited && WIFEXITED(status) && WEXITSTATUS(status) == want_code;
    if (!ok) {
        printf("kafka-dump: exited=%d code=%d; its output:\n", exited,
               WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        print_file(log_path);
    }
    return ok;
}

/* kafka-dump reads the whole topic back: 3 new keyed messages where they were delivered, and a
 * line for every message acknowledged before; again when the broker is down as it starts (it
 * retries metadata); a missing topic or bad usage is an error that leaves no output file. */
static void dump_topic(const char *dump_binary, uint16_t port, const char *bootstraps,
                       const char *dir) {
    char out_path[PATH_BYTES];
    char log_path[PATH_BYTES];
    snprintf(out_path, sizeof out_path, "%s/dump.tsv", dir);
    snprintf(log_path, sizeof log_path, "%s/dump.log", dir);
    struct dump_msg msgs[DUMP_MESSAGES];
    bool produced = produce_for_dump(bootstraps, msgs);
    check(produced, "3 keyed JSON messages produced for kafka-dump");
    if (!produced) {
        return;
    }

    /* 1. A plain run with the default idle time. */
    pid_t pid = start_dump(dump_binary, bootstraps, out_path, log_path, NULL);
    dump_pid = pid;
    check(pid > 0 && dump_exits(pid, 0, log_path), "kafka-dump exits 0");
    check(file_contains(log_path, "message(s)"), "kafka-dump reports its message count on stderr");
    check_dump_output(out_path, msgs,
                      "kafka-dump wrote every message of every partition from the beginning, the "
                      "3 new ones with their partition, offset, key and value");
    unlink(out_path);

    /* 2. Broker down as it starts: it retries metadata and finishes once the broker is back. */
    check(set_broker(port, 1, "down"), "broker 1 down before kafka-dump starts");
    pid = start_dump(dump_binary, bootstraps, out_path, log_path, DUMP_IDLE_MS);
    dump_pid = pid;
    bool retried = false;
    int64_t deadline = bx_now_mono_ms() + DUMP_RETRY_SEEN_MS;
    while (pid > 0 && !retried && bx_now_mono_ms() < deadline) {
        retried = file_contains(log_path, "retrying");
        if (!retried) {
            sleep_ms(POLL_INTERVAL_MS);
        }
    }
    check(retried, "kafka-dump retries metadata while the broker is down");
    check(set_broker(port, 1, "up"), "broker 1 up again");
    check(pid > 0 && dump_exits(pid, 0, log_path), "kafka-dump exits 0 once the broker is back");
    check_dump_output(out_path, msgs, "kafka-dump after the outage wrote the same complete dump");
    unlink(out_path);

    /* 3. A value with a tab cannot be one line: exit 1, and neither the output file nor its
     * temporary file is left behind. (A missing topic cannot be shown here: the mock cluster of
     * librdkafka 2.0.2 creates any topic a metadata request names.) */
    struct dump_msg bad = {.key = "tab-key", .value = "{\"a\":\t1}"};
    bool bad_produced = produce_msgs(bootstraps, &bad, 1);
    check(bad_produced, "a message whose value has a tab produced");
    pid = start_dump(dump_binary, bootstraps, out_path, log_path, DUMP_IDLE_MS);
    dump_pid = pid;
    check(pid > 0 && dump_exits(pid, 1, log_path), "kafka-dump exits 1 on a value with a tab");
    check(file_contains(log_path, "cannot be written as one line"),
          "kafka-dump names the message it cannot write");
    char tmp_path[PATH_BYTES + 32];
    snprintf(tmp_path, sizeof tmp_path, "%s.tmp.%ld", out_path, (long)pid);
    check(access(out_path, F_OK) != 0 && access(tmp_path, F_OK) != 0,
          "a failed kafka-dump leaves neither its output file nor its temporary file");
    pid = start_dump(dump_binary, bootstraps, out_path, log_path, "not-a-number");
    dump_pid = pid;
    check(pid > 0 && dump_exits(pid, 2, log_path), "kafka-dump with a bad IDLE_MS exits 2");
    unlink(log_path);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s PATH_TO_boxoffice-devkafka PATH_TO_kafka-dump\n", argv[0]);
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
    broker_routes_reject(port);
    broker_fault(port, bootstraps);
    dump_topic(argv[2], port, bootstraps, dir);

    check(http_get_status(port, "/healthz") == 200, "GET /healthz still answers 200");
    stop_broker(pid, bootstrap_file);

out:
    if (dump_pid > 0) {
        kill(dump_pid, SIGKILL);
        waitpid(dump_pid, NULL, 0);
        dump_pid = 0;
    }
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
    static const char *const dump_files[] = {"dump.tsv", "dump.log"}; /* left by a failed check */
    for (size_t i = 0; i < BX_ARRAY_LEN(dump_files); i++) {
        char path[PATH_BYTES + 16];
        snprintf(path, sizeof path, "%s/%s", dir, dump_files[i]);
        unlink(path);
    }
    rmdir(sub);
    rmdir(dir);
    printf("%s: %d check(s) failed\n", failures == 0 ? "OK" : "FAILED", failures);
    return failures == 0 ? 0 : 1;
}
