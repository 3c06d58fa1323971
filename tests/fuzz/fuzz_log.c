// SPDX-License-Identifier: Apache-2.0
// fuzz_log: lib/log.c with hostile text in its lines. The access log line carries the request's
// method and path (percent-decoded by libmicrohttpd: any bytes), and bx_log lines carry messages
// built from input ("No route for %s."). Input: "<method>\n<path>". Each line written to stderr is
// captured through a pipe and must be one JSON object (UTF-8, RFC 8259) with its fields, however
// long the input.
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "boxoffice/base.h"
#include "boxoffice/log.h"
#include "fuzz_common.h"

#define CAPTURE_BYTES (4 * BX_LOG_LINE_MAX_BYTES) /* two lines fit; the pipe holds 64 KiB */

static int pipe_r = -1, pipe_w = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    int fds[2];
    FUZZ_CHECK(pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0, "pipe");
    pipe_r = fds[0];
    pipe_w = fds[1];
    bx_log_init("fuzz", BX_LOG_DEBUG);
    return 0;
}

/* Runs the two log calls with stderr sent into the pipe; returns what they wrote. */
static size_t capture(const char *method, const char *path, char *out, size_t cap) {
    int saved = dup(STDERR_FILENO);
    FUZZ_CHECK(saved >= 0 && dup2(pipe_w, STDERR_FILENO) >= 0, "redirect stderr");
    bx_log_access("0193b0c2-6c1e-7d3a-9f00-1234567890ab", method, path, 404, 1234, 58, "127.0.0.1");
    bx_log(BX_LOG_WARN, "rid-1", "No route for %s.", path);
    FUZZ_CHECK(dup2(saved, STDERR_FILENO) >= 0, "restore stderr");
    close(saved);
    size_t len = 0;
    ssize_t n;
    while (len < cap && (n = read(pipe_r, out + len, cap - len)) > 0) {
        len += (size_t)n;
    }
    return len;
}

/* One line: a JSON object with the fields every line has, and those of its kind. */
static void check_line(const char *line, size_t len, bool access) {
    /* Known finding F5 (docs/fuzzing.md): input bytes >= 0x80 are copied as they are, and a line
     * cut at BX_LOG_LINE_MAX_BYTES loses its closing quote and later fields. */
    char *copy = fuzz_cstr((const uint8_t *)line, len);
    bool f5 = (!bx_valid_utf8(copy) || len + 1 >= BX_LOG_LINE_MAX_BYTES) && fuzz_known(5);
    free(copy);
    json_t *doc = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
    bool ok = json_is_object(doc) && json_is_string(json_object_get(doc, "ts")) &&
              json_is_string(json_object_get(doc, "level")) &&
              json_is_string(json_object_get(doc, "msg")) &&
              (!access || (json_integer_value(json_object_get(doc, "status")) == 404 &&
                           json_is_string(json_object_get(doc, "path")) &&
                           json_is_string(json_object_get(doc, "remote"))));
    json_decref(doc);
    FUZZ_CHECK(ok || f5, "a log line that is not the JSON object it should be (%zu bytes): %.*s",
               len, (int)len, line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *in = fuzz_cstr(data, size);
    char *nl = strchr(in, '\n');
    const char *method = "GET", *path = in;
    if (nl != NULL) {
        *nl = '\0';
        method = in;
        path = nl + 1;
    }
    char *out = malloc(CAPTURE_BYTES);
    FUZZ_CHECK(out != NULL, "out of memory");
    size_t len = capture(method, path, out, CAPTURE_BYTES);
    size_t lines = 0;
    for (size_t at = 0; at < len;) {
        const char *end = memchr(out + at, '\n', len - at);
        FUZZ_CHECK(end != NULL, "a log line without its newline");
        size_t n = (size_t)(end - (out + at));
        FUZZ_CHECK(n + 1 <= BX_LOG_LINE_MAX_BYTES, "a log line of %zu bytes", n + 1);
        check_line(out + at, n, lines == 0);
        lines++;
        at += n + 1;
    }
    FUZZ_CHECK(lines == 2, "%zu log lines for two calls", lines);
    free(out);
    free(in);
    return 0;
}
