// SPDX-License-Identifier: Apache-2.0
// JSON-lines logger: each line is built in a stack buffer and written with one write(2), so lines
// from concurrent threads never interleave. Control characters and quotes are escaped.
#include "boxoffice/log.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "boxoffice/base.h"

static char service_name[32] = "boxoffice";
static _Atomic int current_level = BX_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void bx_log_init(const char *service, enum bx_log_level level) {
    bx_strlcpy(service_name, service, sizeof service_name);
    atomic_store(&current_level, (int)level);
}

int bx_log_level_parse(const char *s, enum bx_log_level *out) {
    for (size_t i = 0; i < BX_ARRAY_LEN(level_names); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum bx_log_level)i;
            return 0;
        }
    }
    return -1;
}

enum bx_log_level bx_log_level_get(void) {
    return (enum bx_log_level)atomic_load(&current_level);
}

struct line {
    char buf[BX_LOG_LINE_MAX_BYTES];
    size_t len;
};

static void put_raw(struct line *l, const char *s, size_t n) {
    size_t room = sizeof l->buf - 2 - l->len; /* keep room for "}\n" */
    if (n > room) {
        n = room;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void put_str(struct line *l, const char *s) {
    put_raw(l, s, strlen(s));
}

/* Escapes s into the line as JSON string contents: quotes, backslashes and control characters
 * escaped, bytes that are not valid UTF-8 written as U+FFFD. A value takes at most
 * LOG_VALUE_MAX_BYTES and never the room kept for the fields after it (LOG_TAIL_BYTES): a long one
 * is cut at a character boundary and marked with "...", so every line stays one JSON object with
 * all its fields, whatever a client put in its path. */
#define LOG_VALUE_MAX_BYTES 1024
#define LOG_TAIL_BYTES      256

static void put_escaped(struct line *l, const char *s) {
    static const char hex[] = "0123456789abcdef";
    size_t budget = LOG_VALUE_MAX_BYTES;
    while (*s) {
        const unsigned char *p = (const unsigned char *)s;
        char esc[8];
        const char *unit = esc;
        size_t n = 0, advance = 1;
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            n = 2;
        } else if (*p < 0x20 || *p == 0x7f) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[*p >> 4];
            esc[5] = hex[*p & 15];
            n = 6;
        } else if ((advance = bx_utf8_next(s)) != 0) {
            unit = s;
            n = advance;
        } else {
            unit = "\\ufffd";
            n = 6;
            advance = 1;
        }
        size_t room = sizeof l->buf - 2 - l->len;
        if (n + 3 > budget || n + 3 + LOG_TAIL_BYTES > room) {
            put_raw(l, "...", 3);
            return;
        }
        put_raw(l, unit, n);
        budget -= n;
        s += advance;
    }
}

static void put_field(struct line *l, const char *key, const char *value) {
    put_str(l, ",\"");
    put_str(l, key);
    put_str(l, "\":\"");
    put_escaped(l, value);
    put_str(l, "\"");
}

static void begin(struct line *l, enum bx_log_level level) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    time_t t = tv.tv_sec;
    gmtime_r(&t, &tm);
    char ts[40];
    size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof ts - n, ".%03ldZ", (long)(tv.tv_usec / 1000));
    l->len = 0;
    put_str(l, "{\"ts\":\"");
    put_str(l, ts);
    put_str(l, "\",\"level\":\"");
    put_str(l, level_names[level]);
    put_str(l, "\"");
    put_field(l, "service", service_name);
}

static void finish(struct line *l) {
    l->buf[l->len++] = '}';
    l->buf[l->len++] = '\n';
    ssize_t off = 0;
    while ((size_t)off < l->len) {
        ssize_t w = write(STDERR_FILENO, l->buf + off, l->len - (size_t)off);
        if (w <= 0) {
            break;
        }
        off += w;
    }
}

void bx_log(enum bx_log_level level, const char *request_id, const char *fmt, ...) {
    if ((int)level < atomic_load(&current_level) || level >= BX_LOG_OFF) {
        return;
    }
    char msg[BX_LOG_LINE_MAX_BYTES / 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct line l;
    begin(&l, level);
    if (request_id != NULL && request_id[0] != '\0') {
        put_field(&l, "request_id", request_id);
    }
    put_field(&l, "msg", msg);
    finish(&l);
}

void bx_log_access(const char *request_id, const char *method, const char *path, unsigned status,
                   int64_t duration_us, uint64_t body_bytes, const char *remote) {
    if (BX_LOG_INFO < atomic_load(&current_level)) {
        return;
    }
    struct line l;
    begin(&l, BX_LOG_INFO);
    put_field(&l, "request_id", request_id ? request_id : "");
    put_field(&l, "msg", "request");
    put_field(&l, "method", method);
    put_field(&l, "path", path);
    char num[96];
    snprintf(num, sizeof num, ",\"status\":%u,\"duration_us\":%" PRId64 ",\"bytes\":%" PRIu64,
             status, duration_us, body_bytes);
    put_str(&l, num);
    put_field(&l, "remote", remote ? remote : "");
    finish(&l);
}
