// SPDX-License-Identifier: Apache-2.0
// kafka-dump BOOTSTRAP TOPIC OUTFILE [IDLE_MS]: a test tool that writes every message of TOPIC,
// read from the beginning of every partition, as lines "<partition>\t<offset>\t<key>\t<value>".
// It assigns all partitions itself (a group.id is set only because librdkafka's assign API needs
// one: no membership, no commit) and stops once every partition is at EOF, the EOF offset is the
// partition's current high watermark, and nothing arrived for IDLE_MS.
// Invariants: OUTFILE appears (renamed into place) only on success, with each (partition, offset)
// at most once; a key or value that would break the line format fails the dump; every wait is
// bounded by DUMP_TOTAL_MS, backed by an alarm for librdkafka calls that block.
#include <errno.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "boxoffice/base.h"

#define DUMP_TOTAL_S              120 /* the whole run, metadata retries included */
#define DUMP_TOTAL_MS             (DUMP_TOTAL_S * 1000)
#define DUMP_METADATA_RETRY_MS    30000 /* how long a broker may be down before we give up */
#define DUMP_METADATA_ATTEMPT_MS  2000
#define DUMP_BACKOFF_MIN_MS       100
#define DUMP_BACKOFF_MAX_MS       1000
#define DUMP_WATERMARK_TIMEOUT_MS 5000
#define DUMP_POLL_MS              100
#define DUMP_IDLE_DEFAULT_MS      1000
#define DUMP_IDLE_MAX_MS          60000 /* must leave room inside DUMP_TOTAL_MS */
#define DUMP_PARTITIONS_MAX       1024
#define DUMP_TOPIC_MAX_BYTES      249 /* Kafka's own limit on topic names */
#define DUMP_BOOTSTRAP_MAX_BYTES  4096
#define DUMP_PATH_MAX_BYTES       4096
#define DUMP_ERRSTR_BYTES         512
#define DUMP_GROUP_BYTES          64
/* ms, as librdkafka wants it; its 10 s default would outlast a short outage. */
#define DUMP_RECONNECT_BACKOFF_MAX "1000"
#define STRINGIFY_(x)              #x
#define STRINGIFY(x)               STRINGIFY_(x)

struct partition_state {
    bool eof;           /* at the end as of the last fetch, nothing consumed since */
    int64_t eof_offset; /* the offset EOF was reported at (the fetch's high watermark) */
    int64_t next;       /* lowest offset not yet written; a message below it is a duplicate */
};

static struct partition_state partitions[DUMP_PARTITIONS_MAX];

/* The temporary output, removed by the alarm handler (only async-signal-safe calls there). */
static char tmp_path[DUMP_PATH_MAX_BYTES];
static volatile sig_atomic_t tmp_exists;

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "kafka-dump: gave up after " STRINGIFY(DUMP_TOTAL_S) " s\n";
    if (tmp_exists) {
        unlink(tmp_path);
    }
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)w;
    _exit(1);
}

static void sleep_ms(int64_t ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int64_t min_i64(int64_t a, int64_t b) {
    return a < b ? a : b;
}

/* A uniformly jittered wait in [backoff/2, backoff]. */
static int64_t jittered(int64_t backoff_ms) {
    uint32_t r = 0;
    bx_random_bytes(&r, sizeof r);
    return backoff_ms / 2 + (int64_t)(r % (uint32_t)(backoff_ms / 2 + 1));
}

/* True when bytes can sit in a tab-separated line: no tab, newline, carriage return or NUL. */
static bool field_ok(const void *bytes, size_t len) {
    const unsigned char *b = bytes;
    for (size_t i = 0; i < len; i++) {
        if (b[i] == '\t' || b[i] == '\n' || b[i] == '\r' || b[i] == '\0') {
            return false;
        }
    }
    return true;
}

static rd_kafka_t *consumer_new(const char *bootstrap) {
    char group[DUMP_GROUP_BYTES];
    snprintf(group, sizeof group, "kafka-dump-%ld", (long)getpid());
    const char *props[][2] = {
        {"bootstrap.servers", bootstrap},
        {"client.id", "kafka-dump"},
        {"group.id", group}, /* required by rd_kafka_assign; nothing is committed to it */
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"enable.partition.eof", "true"},
        /* EOF and the watermark query then both mean the high watermark, not the last stable
         * offset (boxoffice does not use transactions). */
        {"isolation.level", "read_uncommitted"},
        {"allow.auto.create.topics", "false"},
        {"reconnect.backoff.max.ms", DUMP_RECONNECT_BACKOFF_MAX},
    };
    char errstr[DUMP_ERRSTR_BYTES];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    for (size_t i = 0; i < BX_ARRAY_LEN(props); i++) {
        if (rd_kafka_conf_set(conf, props[i][0], props[i][1], errstr, sizeof errstr) !=
            RD_KAFKA_CONF_OK) {
            fprintf(stderr, "kafka-dump: configuration %s: %s\n", props[i][0], errstr);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (rk == NULL) {
        fprintf(stderr, "kafka-dump: cannot create a consumer: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

/* Partition count of topic from metadata, retried with jittered backoff until retry_deadline_ms
 * while the broker is unreachable. -1 on failure: a topic that does not exist fails at once. */
static int topic_partition_count(rd_kafka_t *rk, const char *topic, int64_t retry_deadline_ms) {
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (rkt == NULL) {
        fprintf(stderr, "kafka-dump: topic %s: %s\n", topic,
                rd_kafka_err2str(rd_kafka_last_error()));
        return -1;
    }
    int count = -1;
    int64_t backoff_ms = DUMP_BACKOFF_MIN_MS;
    for (unsigned attempt = 1;; attempt++) {
        int64_t left_ms = retry_deadline_ms - bx_now_mono_ms();
        if (left_ms <= 0) {
            fprintf(stderr, "kafka-dump: no metadata for %s after %u attempt(s)\n", topic,
                    attempt - 1);
            break;
        }
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err =
            rd_kafka_metadata(rk, 0, rkt, &md, (int)min_i64(DUMP_METADATA_ATTEMPT_MS, left_ms));
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (md->topic_cnt != 1 || strcmp(md->topics[0].topic, topic) != 0) {
                err = RD_KAFKA_RESP_ERR__BAD_MSG;
            } else if ((err = md->topics[0].err) == RD_KAFKA_RESP_ERR_NO_ERROR) {
                count = md->topics[0].partition_cnt;
            }
        }
        if (md != NULL) {
            rd_kafka_metadata_destroy(md);
        }
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR && count > 0) {
            break;
        }
        if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
            err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
            err == RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION) {
            fprintf(stderr, "kafka-dump: topic %s: %s\n", topic, rd_kafka_err2str(err));
            count = -1;
            break;
        }
        int64_t wait_ms = jittered(backoff_ms);
        fprintf(stderr, "kafka-dump: metadata for %s (attempt %u): %s; retrying in %lld ms\n",
                topic, attempt, err ? rd_kafka_err2str(err) : "no partitions", (long long)wait_ms);
        count = -1;
        wait_ms = min_i64(wait_ms, retry_deadline_ms - bx_now_mono_ms());
        if (wait_ms > 0) {
            sleep_ms(wait_ms);
        }
        backoff_ms = min_i64(backoff_ms * 2, DUMP_BACKOFF_MAX_MS);
    }
    rd_kafka_topic_destroy(rkt);
    return count;
}

/* True when every partition's EOF offset is its high watermark as the leader reports it now. */
static bool at_high_watermarks(rd_kafka_t *rk, const char *topic, int n, int64_t deadline_ms) {
    for (int p = 0; p < n; p++) {
        int64_t left_ms = deadline_ms - bx_now_mono_ms();
        if (left_ms <= 0) {
            return false;
        }
        int64_t low = -1;
        int64_t high = -1;
        rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
            rk, topic, p, &low, &high, (int)min_i64(DUMP_WATERMARK_TIMEOUT_MS, left_ms));
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "kafka-dump: high watermark of partition %d: %s\n", p,
                    rd_kafka_err2str(err));
            return false;
        }
        if (high != partitions[p].eof_offset) {
            return false; /* more to fetch: the consumer delivers it and a new EOF */
        }
    }
    return true;
}

/* Writes one message as a line. -1 when it cannot be represented or the write failed. */
static int write_line(FILE *out, const rd_kafka_message_t *m) {
    if (!field_ok(m->key, m->key_len) || !field_ok(m->payload, m->len)) {
        fprintf(stderr,
                "kafka-dump: partition %d offset %lld has a tab, newline, CR or NUL in its key or "
                "value; it cannot be written as one line\n",
                (int)m->partition, (long long)m->offset);
        return -1;
    }
    fprintf(out, "%d\t%lld\t", (int)m->partition, (long long)m->offset);
    if (m->key_len > 0) {
        fwrite(m->key, 1, m->key_len, out);
    }
    fputc('\t', out);
    if (m->len > 0) {
        fwrite(m->payload, 1, m->len, out);
    }
    fputc('\n', out);
    return ferror(out) ? -1 : 0;
}

/* Consumes until done or deadline_ms. Returns the message count, or -1. */
static int64_t dump(rd_kafka_t *rk, const char *topic, int n, int64_t idle_ms, int64_t deadline_ms,
                    FILE *out) {
    int64_t written = 0;
    int64_t duplicates = 0;
    int at_eof = 0;
    int64_t last_event_ms = bx_now_mono_ms();
    for (;;) {
        int64_t now_ms = bx_now_mono_ms();
        if (now_ms >= deadline_ms) {
            fprintf(stderr, "kafka-dump: gave up after %d s with %d of %d partition(s) at EOF\n",
                    DUMP_TOTAL_S, at_eof, n);
            return -1;
        }
        if (at_eof == n && now_ms - last_event_ms >= idle_ms) {
            if (at_high_watermarks(rk, topic, n, deadline_ms)) {
                break;
            }
            last_event_ms = bx_now_mono_ms(); /* check again after another quiet period */
        }
        rd_kafka_message_t *m =
            rd_kafka_consumer_poll(rk, (int)min_i64(DUMP_POLL_MS, deadline_ms - now_ms));
        if (m == NULL) {
            continue;
        }
        int64_t rc = 0;
        struct partition_state *ps = NULL;
        if (m->rkt != NULL && m->partition >= 0 && m->partition < n) {
            ps = &partitions[m->partition];
        }
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF && ps != NULL) {
            at_eof += ps->eof ? 0 : 1;
            ps->eof = true;
            ps->eof_offset = m->offset;
            last_event_ms = bx_now_mono_ms();
        } else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            /* Transient (a broker down, a leader moving): librdkafka retries; the deadline bounds
             * it. */
            fprintf(stderr, "kafka-dump: consumer: %s\n", rd_kafka_message_errstr(m));
        } else if (ps == NULL) {
            fprintf(stderr, "kafka-dump: a message from partition %d, not one of 0..%d\n",
                    (int)m->partition, n - 1);
            rc = -1;
        } else if (m->offset < ps->next) {
            duplicates++; /* never expected under assign; the output keeps each offset once */
        } else {
            at_eof -= ps->eof ? 1 : 0;
            ps->eof = false;
            ps->next = m->offset + 1;
            rc = write_line(out, m);
            written++;
            last_event_ms = bx_now_mono_ms();
        }
        rd_kafka_message_destroy(m);
        if (rc != 0) {
            return -1;
        }
        BX_ASSERT(at_eof >= 0 && at_eof <= n);
    }
    if (duplicates > 0) {
        fprintf(stderr, "kafka-dump: skipped %lld duplicate message(s)\n", (long long)duplicates);
    }
    return written;
}

static void usage(void) {
    fprintf(
        stderr,
        "usage: kafka-dump BOOTSTRAP TOPIC OUTFILE [IDLE_MS]\n"
        "  Writes every message of TOPIC, from the beginning of every partition, to OUTFILE\n"
        "  as lines <partition>\\t<offset>\\t<key>\\t<value>; stops when every partition is at\n"
        "  its high watermark and nothing arrived for IDLE_MS (default %d, at most %d).\n"
        "  Exit 0 with the count on stderr; 1 on failure or after %d s; 2 on bad usage.\n",
        DUMP_IDLE_DEFAULT_MS, DUMP_IDLE_MAX_MS, DUMP_TOTAL_S);
}

int main(int argc, char **argv) {
    if (argc < 4 || argc > 5) {
        usage();
        return 2;
    }
    const char *bootstrap = argv[1], *topic = argv[2], *out_path = argv[3];
    int64_t idle_ms = DUMP_IDLE_DEFAULT_MS;
    if (bootstrap[0] == '\0' || strlen(bootstrap) >= DUMP_BOOTSTRAP_MAX_BYTES || topic[0] == '\0' ||
        strlen(topic) > DUMP_TOPIC_MAX_BYTES || out_path[0] == '\0' ||
        (argc == 5 && bx_parse_i64(argv[4], 0, DUMP_IDLE_MAX_MS, &idle_ms) != 0)) {
        usage();
        return 2;
    }
    int n = snprintf(tmp_path, sizeof tmp_path, "%s.tmp.%ld", out_path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof tmp_path) {
        fprintf(stderr, "kafka-dump: OUTFILE path too long\n");
        return 2;
    }

    int64_t start_ms = bx_now_mono_ms();
    int64_t deadline_ms = start_ms + DUMP_TOTAL_MS;
    signal(SIGALRM, on_alarm);
    alarm(DUMP_TOTAL_S + 1); /* the loop's deadline comes first unless librdkafka blocks */

    int rc = 1;
    int64_t count = -1;
    int n_partitions = -1;
    FILE *out = NULL;
    rd_kafka_topic_partition_list_t *assignment = NULL;
    rd_kafka_t *rk = consumer_new(bootstrap);
    if (rk == NULL) {
        goto out;
    }
    n_partitions =
        topic_partition_count(rk, topic, min_i64(start_ms + DUMP_METADATA_RETRY_MS, deadline_ms));
    if (n_partitions <= 0) {
        goto out;
    }
    if (n_partitions > DUMP_PARTITIONS_MAX) {
        fprintf(stderr, "kafka-dump: %s has %d partitions; at most %d are supported\n", topic,
                n_partitions, DUMP_PARTITIONS_MAX);
        goto out;
    }
    assignment = rd_kafka_topic_partition_list_new(n_partitions);
    for (int p = 0; p < n_partitions; p++) {
        partitions[p] = (struct partition_state){.eof = false, .eof_offset = -1, .next = 0};
        rd_kafka_topic_partition_list_add(assignment, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_resp_err_t err = rd_kafka_assign(rk, assignment);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "kafka-dump: assign: %s\n", rd_kafka_err2str(err));
        goto out;
    }

    int fd = open(tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "kafka-dump: cannot create %s: %s\n", tmp_path, strerror(errno));
        goto out;
    }
    tmp_exists = 1;
    out = fdopen(fd, "w");
    if (out == NULL) {
        fprintf(stderr, "kafka-dump: fdopen: %s\n", strerror(errno));
        close(fd);
        goto out;
    }
    count = dump(rk, topic, n_partitions, idle_ms, deadline_ms, out);
    if (count < 0) {
        goto out;
    }
    int flush_rc = fflush(out) != 0 || fsync(fileno(out)) != 0 ? -1 : 0;
    int close_rc = fclose(out);
    out = NULL;
    if (flush_rc != 0 || close_rc != 0) {
        fprintf(stderr, "kafka-dump: cannot write %s: %s\n", tmp_path, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (out != NULL) {
        fclose(out);
    }
    if (assignment != NULL) {
        rd_kafka_topic_partition_list_destroy(assignment);
    }
    if (rk != NULL) {
        rd_kafka_consumer_close(rk); /* auto commit is off: this commits nothing */
        rd_kafka_destroy(rk);
    }
    alarm(0); /* from here on, nothing blocks: the outcome below is final */
    if (rc == 0 && rename(tmp_path, out_path) != 0) {
        fprintf(stderr, "kafka-dump: cannot rename %s to %s: %s\n", tmp_path, out_path,
                strerror(errno));
        rc = 1;
    }
    if (rc != 0 && tmp_exists) {
        unlink(tmp_path);
    }
    if (rc == 0) {
        fprintf(stderr, "kafka-dump: %lld message(s) from %d partition(s) of %s written to %s\n",
                (long long)count, n_partitions, topic, out_path);
    }
    return rc;
}
