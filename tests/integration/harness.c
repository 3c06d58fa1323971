// SPDX-License-Identifier: Apache-2.0
// Integration-test helpers; see harness.h. Every wait here is bounded.
#include "harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "boxoffice/base.h"
#include "boxoffice/httpc.h"

extern char **environ;

int harness_failures;
static int passes;

void harness_report(bool ok, const char *file, int line, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (ok) {
        passes++;
        printf("ok   %s\n", msg);
    } else {
        harness_failures++;
        printf("FAIL %s (%s:%d)\n", msg, file, line);
    }
    fflush(stdout);
}

#define HANDED_OUT_MAX 64

/* Ports are drawn below the kernel's ephemeral range, so that no outgoing connection of a test
 * running alongside can be holding the port by the time the server binds it. */
uint16_t harness_free_port(void) {
    static uint16_t handed_out[HANDED_OUT_MAX];
    static size_t n_handed_out;
    unsigned lo = 32768;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f != NULL) {
        if (fscanf(f, "%u", &lo) != 1 || lo <= 11000) {
            lo = 32768;
        }
        fclose(f);
    }
    for (int attempt = 0; attempt < 1000; attempt++) {
        uint32_t r;
        bx_random_bytes(&r, sizeof r);
        uint16_t port = (uint16_t)(10000 + r % (lo - 10000));
        bool seen = false;
        for (size_t i = 0; i < n_handed_out; i++) {
            seen = seen || handed_out[i] == port;
        }
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        BX_ASSERT(fd >= 0);
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_port = htons(port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        bool ok = !seen && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
        close(fd);
        if (ok) {
            if (n_handed_out < HANDED_OUT_MAX) {
                handed_out[n_handed_out++] = port;
            }
            return port;
        }
    }
    BX_ASSERT(!"no free port below the ephemeral range");
    return 0;
}

pid_t harness_spawn(const char *path, const char *const *env, const char *log_path) {
    pid_t pid = fork();
    BX_ASSERT(pid >= 0);
    if (pid == 0) {
        for (size_t i = 0; env != NULL && env[i] != NULL; i++) {
            putenv((char *)env[i]);
        }
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        execl(path, path, (char *)NULL);
        _exit(127);
    }
    return pid;
}

bool harness_wait_ok(uint16_t port, const char *path, int64_t timeout_ms) {
    int64_t deadline = bx_now_mono_ms() + timeout_ms;
    char req[256], resp[4096];
    int n =
        snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", path);
    while (bx_now_mono_ms() < deadline) {
        harness_raw(port, req, (size_t)n, resp, sizeof resp, 1000);
        if (harness_status(resp) == 200) {
            return true;
        }
        usleep(50 * 1000);
    }
    return false;
}

int harness_stop(pid_t pid, int sig, int64_t timeout_ms) {
    kill(pid, sig);
    int64_t deadline = bx_now_mono_ms() + timeout_ms;
    int status = 0;
    while (bx_now_mono_ms() < deadline) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            return status;
        }
        usleep(20 * 1000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

static long content_length(const char *resp, const char *body) {
    const char *p = resp;
    while (p < body) {
        const char *eol = strstr(p, "\r\n");
        if (eol == NULL || eol > body) {
            break;
        }
        if (strncasecmp(p, "Content-Length:", 15) == 0) {
            return strtol(p + 15, NULL, 10);
        }
        p = eol + 2;
    }
    return -1;
}

size_t harness_raw(uint16_t port, const char *request, size_t request_len, char *out,
                   size_t out_size, int64_t timeout_ms) {
    out[0] = '\0';
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return 0;
    }
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return 0;
    }
    int64_t deadline = bx_now_mono_ms() + timeout_ms;
    size_t sent = 0, got = 0;
    fcntl(fd, F_SETFL, O_NONBLOCK);
    while (bx_now_mono_ms() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN | (sent < request_len ? POLLOUT : 0)};
        if (poll(&p, 1, 50) <= 0) {
            continue;
        }
        if ((p.revents & POLLOUT) && sent < request_len) {
            ssize_t w = send(fd, request + sent, request_len - sent, MSG_NOSIGNAL);
            if (w > 0) {
                sent += (size_t)w;
            } else if (w < 0 && errno != EAGAIN) {
                sent = request_len; /* peer closed early: read what it said */
            }
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = recv(fd, out + got, out_size - 1 - got, 0);
            if (r <= 0) {
                break;
            }
            got += (size_t)r;
            out[got] = '\0';
            const char *body = strstr(out, "\r\n\r\n");
            if (body != NULL) {
                long cl = content_length(out, body);
                if (cl >= 0 && (size_t)(body + 4 - out) + (size_t)cl <= got) {
                    break;
                }
            }
            if (got == out_size - 1) {
                break;
            }
        }
    }
    close(fd);
    return got;
}

int harness_status(const char *response) {
    if (strncmp(response, "HTTP/1.", 7) != 0 || strlen(response) < 12) {
        return 0;
    }
    return (int)strtol(response + 9, NULL, 10);
}

const char *harness_body(const char *response) {
    const char *b = strstr(response, "\r\n\r\n");
    return b ? b + 4 : "";
}

void harness_tail(const char *path, int lines) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "tail -n %d '%s' | sed 's/^/    | /'", lines, path);
    if (system(cmd) != 0) {
        printf("    (no log at %s)\n", path);
    }
}

size_t harness_first_line_then_kill(char *const argv[], char *out, size_t size,
                                    int64_t timeout_ms) {
    BX_ASSERT(size >= 2);
    int fds[2];
    BX_ASSERT(pipe(fds) == 0);
    pid_t pid = fork();
    BX_ASSERT(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    out[0] = '\0';
    size_t got = 0;
    int64_t deadline = bx_now_mono_ms() + timeout_ms;
    while (memchr(out, '\n', got) == NULL && got < size - 1 && bx_now_mono_ms() < deadline) {
        struct pollfd p = {.fd = fds[0], .events = POLLIN};
        if (poll(&p, 1, 100) > 0) {
            ssize_t r = read(fds[0], out + got, size - 1 - got);
            if (r <= 0) {
                break;
            }
            got += (size_t)r;
            out[got] = '\0';
        }
    }
    close(fds[0]);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return got;
}

#define CALL_TIMEOUT_MS 20000

struct harness_res harness_call(uint16_t port, const char *method, const char *path,
                                const char *token, const char *extra_header, const char *body) {
    char url[700], auth[1200];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", (unsigned)port, path);
    const char *headers[4] = {"Content-Type: application/json", NULL, NULL, NULL};
    size_t nh = 1;
    if (token != NULL) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        headers[nh++] = auth;
    }
    headers[nh] = extra_header;
    struct bx_httpc_request req = {.method = method,
                                   .url = url,
                                   .headers = headers,
                                   .body = body,
                                   .body_len = body ? strlen(body) : 0,
                                   .timeout_ms = CALL_TIMEOUT_MS};
    struct bx_httpc_response r;
    struct harness_res out = {0};
    if (bx_httpc_do(&req, &r) == BX_OK) {
        out.status = r.status;
        out.body = r.body_len ? json_loadb(r.body, r.body_len, 0, NULL) : NULL;
        const char *et = bx_httpc_header(&r, "ETag");
        const char *ra = bx_httpc_header(&r, "Retry-After");
        bx_strlcpy(out.etag, et ? et : "", sizeof out.etag);
        bx_strlcpy(out.retry_after, ra ? ra : "", sizeof out.retry_after);
    }
    bx_httpc_response_free(&r);
    return out;
}

void harness_res_drop(struct harness_res *r) {
    json_decref(r->body);
    r->body = NULL;
}

const char *harness_str(json_t *o, const char *key) {
    char buf[128];
    bx_strlcpy(buf, key, sizeof buf);
    char *dot = strchr(buf, '.');
    if (dot != NULL) {
        *dot = '\0';
        return json_string_value(json_object_get(json_object_get(o, buf), dot + 1));
    }
    return json_string_value(json_object_get(o, key));
}

bool harness_err_is(const struct harness_res *r, long status, const char *code, const char *field) {
    const char *c = harness_str(r->body, "error.code");
    const char *f = harness_str(r->body, "error.field");
    return r->status == status && c != NULL && strcmp(c, code) == 0 &&
           (field == NULL || (f != NULL && strcmp(f, field) == 0));
}

#define DYNALITE_WAIT_MS 20000

bool harness_port_open(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    BX_ASSERT(fd >= 0);
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

pid_t harness_dynalite(const char *node, const char *script, const char *log_path,
                       uint16_t *port_out) {
    uint16_t port = harness_free_port();
    char port_s[8];
    snprintf(port_s, sizeof port_s, "%u", (unsigned)port);
    int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    BX_ASSERT(log_fd >= 0);
    pid_t pid = fork();
    BX_ASSERT(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
        dup2(log_fd, STDOUT_FILENO);
        dup2(log_fd, STDERR_FILENO);
        execlp(node, node, script, port_s, (char *)NULL);
        fprintf(stderr, "cannot run %s: %s\n", node, strerror(errno));
        _exit(127);
    }
    close(log_fd);
    setenv("AWS_ACCESS_KEY_ID", "bx-test", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "bx-test-secret", 1);
    unsetenv("AWS_SESSION_TOKEN");
    setenv("NO_PROXY", "127.0.0.1", 1);
    setenv("no_proxy", "127.0.0.1", 1);
    int64_t deadline = bx_now_mono_ms() + DYNALITE_WAIT_MS;
    while (bx_now_mono_ms() < deadline) {
        if (harness_port_open(port)) {
            *port_out = port;
            return pid;
        }
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            return -1;
        }
        usleep(50 * 1000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

int harness_finish(const char *name) {
    printf("%s: %d passed, %d failed\n", name, passes, harness_failures);
    return harness_failures ? 1 : 0;
}

/* ---- a whole stack through scripts/run.sh (what make run starts), for end-to-end tests ---- */

const char *const harness_stack_names[HS_N] = {"frontend",  "catalog",   "users",   "booking",
                                               "ticketgen", "analytics", "devkafka"};
static const char *const hs_env[HS_N] = {"FRONTEND",  "CATALOG",   "USERS",   "BOOKING",
                                         "TICKETGEN", "ANALYTICS", "DEVKAFKA"};

bool harness_file_has(const char *path, const char *needle) {
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return false;
    }
    char line[4096];
    bool found = false;
    while (!found && fgets(line, sizeof line, f) != NULL) {
        found = strstr(line, needle) != NULL;
    }
    fclose(f);
    return found;
}

void harness_stack_logs(const struct harness_stack *s, int lines) {
    printf("--- launcher output (%s)\n", s->launcher_log);
    harness_tail(s->launcher_log, 30);
    for (int i = 0; i < HS_N; i++) {
        char p[400];
        snprintf(p, sizeof p, "%s/log/%s.log", s->var_dir, harness_stack_names[i]);
        printf("--- %s\n", p);
        harness_tail(p, lines);
    }
}

bool harness_stack_start(struct harness_stack *s, const char *name, const char *build_dir,
                         const char *src_dir) {
    snprintf(s->var_dir, sizeof s->var_dir, "/tmp/bx-%s-XXXXXX", name);
    BX_ASSERT(mkdtemp(s->var_dir) != NULL);
    snprintf(s->launcher_log, sizeof s->launcher_log, "%s/launcher.out", s->var_dir);
    for (int i = 0; i < HS_N; i++) {
        s->ports[i] = harness_free_port();
    }
    s->launcher = fork();
    BX_ASSERT(s->launcher >= 0);
    if (s->launcher == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* the launcher stops everything if the test dies */
        /* nothing of the caller's BOXOFFICE_* configuration may leak into the stack */
        for (bool again = true; again;) {
            again = false;
            for (char **e = environ; *e != NULL; e++) {
                if (strncmp(*e, "BOXOFFICE_", 10) == 0) {
                    char var_name[256];
                    size_t n = strcspn(*e, "=");
                    bx_strlcpy(var_name, *e, n + 1 < sizeof var_name ? n + 1 : sizeof var_name);
                    unsetenv(var_name);
                    again = true;
                    break;
                }
            }
        }
        char v[400];
        for (int i = 0; i < HS_N; i++) {
            char var[64];
            snprintf(var, sizeof var, "BOXOFFICE_%s_PORT", hs_env[i]);
            snprintf(v, sizeof v, "%u", (unsigned)s->ports[i]);
            setenv(var, v, 1);
        }
        setenv("BOXOFFICE_VAR", s->var_dir, 1);
        setenv("BOXOFFICE_RATE_LIMIT_RPS", "0", 1);
        setenv("BOXOFFICE_CATALOG_SEED_DEMO", "0", 1);
        setenv("BOXOFFICE_START_TIMEOUT_S", "200", 1);
        setenv("BOXOFFICE_LOG_LEVEL", "info", 1);
        int fd = open(s->launcher_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        if (chdir(src_dir) != 0) {
            _exit(126);
        }
        char script[600];
        snprintf(script, sizeof script, "%s/scripts/run.sh", src_dir);
        execl("/bin/bash", "bash", script, build_dir, (char *)NULL);
        _exit(127);
    }
    int64_t deadline = bx_now_mono_ms() + HARNESS_STACK_START_MS;
    while (bx_now_mono_ms() < deadline) {
        if (harness_file_has(s->launcher_log, "boxoffice: ready")) {
            return true;
        }
        int st;
        if (waitpid(s->launcher, &st, WNOHANG) == s->launcher) {
            s->launcher = -1;
            printf("the launcher exited during start (status %d)\n", st);
            return false;
        }
        usleep(200 * 1000);
    }
    printf("the stack was not ready within %d s\n", HARNESS_STACK_START_MS / 1000);
    return false;
}

bool harness_stack_stop(struct harness_stack *s) {
    if (s->launcher <= 0) {
        return false;
    }
    int st = harness_stop(s->launcher, SIGTERM, HARNESS_STACK_STOP_MS);
    s->launcher = -1;
    if (st == -1) { /* last resort: every service the launcher recorded */
        char run[300];
        snprintf(run, sizeof run, "%s/run", s->var_dir);
        DIR *d = opendir(run);
        for (struct dirent *de; d != NULL && (de = readdir(d)) != NULL;) {
            char p[600], buf[32] = "";
            snprintf(p, sizeof p, "%s/%s", run, de->d_name);
            FILE *f = de->d_name[0] != '.' ? fopen(p, "r") : NULL;
            if (f != NULL && fgets(buf, sizeof buf, f) != NULL && strtol(buf, NULL, 10) > 1) {
                kill((pid_t)strtol(buf, NULL, 10), SIGKILL);
            }
            if (f != NULL) {
                fclose(f);
            }
        }
        if (d != NULL) {
            closedir(d);
        }
    }
    return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

void harness_stack_remove(const struct harness_stack *s) {
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->var_dir);
    if (system(cmd) != 0) {
        printf("could not remove %s\n", s->var_dir);
    }
}
