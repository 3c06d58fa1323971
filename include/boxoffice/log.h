// SPDX-License-Identifier: Apache-2.0
// Structured logging: one JSON object per line on stderr with ts, level, service, request_id and
// msg. Thread-safe (one write(2) per line). Level from BOXOFFICE_LOG_LEVEL.
#ifndef BOXOFFICE_LOG_H
#define BOXOFFICE_LOG_H

#include <stdint.h>

enum bx_log_level { BX_LOG_DEBUG, BX_LOG_INFO, BX_LOG_WARN, BX_LOG_ERROR, BX_LOG_OFF };

#define BX_LOG_LINE_MAX_BYTES 4096

void bx_log_init(const char *service, enum bx_log_level level);
/* Parses "debug"|"info"|"warn"|"error"|"off"; returns -1 when unknown. */
int bx_log_level_parse(const char *s, enum bx_log_level *out);
enum bx_log_level bx_log_level_get(void);

void bx_log(enum bx_log_level level, const char *request_id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The access log line of one request. */
void bx_log_access(const char *request_id, const char *method, const char *path, unsigned status,
                   int64_t duration_us, uint64_t body_bytes, const char *remote);

#define bx_debug(...) bx_log(BX_LOG_DEBUG, NULL, __VA_ARGS__)
#define bx_info(...)  bx_log(BX_LOG_INFO, NULL, __VA_ARGS__)
#define bx_warn(...)  bx_log(BX_LOG_WARN, NULL, __VA_ARGS__)
#define bx_error(...) bx_log(BX_LOG_ERROR, NULL, __VA_ARGS__)

#endif
