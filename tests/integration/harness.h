// SPDX-License-Identifier: Apache-2.0
// Helpers for integration tests that run real processes on loopback: spawning with extra
// environment, free ports, readiness polling, raw HTTP exchanges and bounded waits.
#ifndef BOXOFFICE_TEST_HARNESS_H
#define BOXOFFICE_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <sys/types.h>

extern int harness_failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        bool ok_ = (cond);                                                                         \
        harness_report(ok_, __FILE__, __LINE__, __VA_ARGS__);                                      \
    } while (0)

void harness_report(bool ok, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A TCP port on 127.0.0.1 that was free a moment ago. */
uint16_t harness_free_port(void);

/* Starts path with argv {path, NULL}, the current environment plus env (NAME=VALUE strings,
 * NULL-terminated); stdout and stderr go to log_path. */
pid_t harness_spawn(const char *path, const char *const *env, const char *log_path);

/* Polls GET path on port until 200 or timeout; true when it answered 200. */
bool harness_wait_ok(uint16_t port, const char *path, int64_t timeout_ms);

/* Sends sig, waits up to timeout_ms; returns the wait status or -1 on timeout (then SIGKILLs). */
int harness_stop(pid_t pid, int sig, int64_t timeout_ms);

/* Sends request (raw bytes) to port and reads the answer until the peer closes, a full response
 * (by Content-Length) arrives, or timeout; returns the bytes read (NUL-terminated in out). */
size_t harness_raw(uint16_t port, const char *request, size_t request_len, char *out,
                   size_t out_size, int64_t timeout_ms);

/* Status code of a raw response ("HTTP/1.1 413 ..."), 0 when unparsable. */
int harness_status(const char *response);
/* Pointer to the body of a raw response, "" when none. */
const char *harness_body(const char *response);

/* Prints the tail of a log file (for failures). */
void harness_tail(const char *path, int lines);

/* Runs argv (argv[0] is the program path) with its standard output on a pipe, reads until its
 * first newline (or timeout_ms), then kills it with SIGKILL — to test that what a process
 * acknowledged survives its sudden death. Returns the bytes read, NUL-terminated in out. */
size_t harness_first_line_then_kill(char *const argv[], char *out, size_t size, int64_t timeout_ms);

/* True when something accepts TCP connections on 127.0.0.1:port. */
bool harness_port_open(uint16_t port);

/* Starts dynalite (`NODE SCRIPT PORT`, in memory) on a free port, sets dummy AWS credentials in
 * this process's environment (never real ones towards an emulator) and waits (bounded) until it
 * accepts. Returns its pid (it dies with the test) and fills *port_out; -1 when it did not come up.
 * Its output goes to log_path. */
pid_t harness_dynalite(const char *node, const char *script, const char *log_path,
                       uint16_t *port_out);

/* A JSON API call's outcome (status 0: no answer). */
struct harness_res {
    long status;
    json_t *body; /* parsed body, NULL when empty or not JSON */
    char etag[64];
    char retry_after[16];
};

/* method path on 127.0.0.1:port with Content-Type: application/json, an optional bearer token,
 * an optional extra header line ("Name: value") and an optional body. */
struct harness_res harness_call(uint16_t port, const char *method, const char *path,
                                const char *token, const char *extra_header, const char *body);
void harness_res_drop(struct harness_res *r);
/* String member of o at key, or at "outer.inner"; NULL when absent. */
const char *harness_str(json_t *o, const char *key);
/* The answer is the JSON error {code} with this status (and field, unless field is NULL). */
bool harness_err_is(const struct harness_res *r, long status, const char *code, const char *field);

/* A whole stack started by scripts/run.sh BUILD_DIR (as make run does) on free ports in a
 * temporary BOXOFFICE_VAR, with none of the caller's BOXOFFICE_* settings and the rate limit off;
 * its gateway is ports[HS_FRONTEND], the admin's password in <var_dir>/admin-password. */
#define HARNESS_STACK_START_MS 240000 /* seven sanitizer builds starting on two shared cores */
#define HARNESS_STACK_STOP_MS  60000
enum harness_svc {
    HS_FRONTEND,
    HS_CATALOG,
    HS_USERS,
    HS_BOOKING,
    HS_TICKETGEN,
    HS_ANALYTICS,
    HS_DEVKAFKA,
    HS_N
};
extern const char *const harness_stack_names[HS_N]; /* "frontend", ...: their log names */
struct harness_stack {
    char var_dir[256], launcher_log[320];
    uint16_t ports[HS_N];
    pid_t launcher;
};
/* true once the launcher printed "boxoffice: ready" (bounded by HARNESS_STACK_START_MS). */
bool harness_stack_start(struct harness_stack *s, const char *name, const char *build_dir,
                         const char *src_dir);
/* SIGTERM to the launcher, which stops every service; true when all exited 0 (else every
 * recorded service is killed). */
bool harness_stack_stop(struct harness_stack *s);
/* Prints the launcher's output and the last lines of every service's log. */
void harness_stack_logs(const struct harness_stack *s, int lines);
void harness_stack_remove(const struct harness_stack *s);
/* True when some line of the file contains needle. */
bool harness_file_has(const char *path, const char *needle);

/* "N passed, M failed" summary; returns the process exit status. */
int harness_finish(const char *name);

#endif
