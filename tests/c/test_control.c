/* test_control.c — live/control.c, the session's control socket, driven
 * through raw AF_UNIX sockets (what a client sends, byte for byte) and
 * through the client API (a server thread): the directory rules (created
 * 0700; a 0755 directory, a symlink, a file, refused), a path over sun_path,
 * the hello line, line framing (a request split over writes, two in one
 * write), an oversize line (error reply, connection closed), read-only
 * clients refused write ops (answered by the server, never handed out),
 * SO_PEERCRED's pid, a client that never reads dropped without blocking,
 * a client that shuts down its sending side still answered, the client
 * limit, a stale socket file replaced and a live one refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "mts.h"
#include "live/control.h"

static char tmp[128];

static int setup(void **st) {
    (void)st;
    snprintf(tmp, sizeof tmp, "/tmp/mts_test_control_XXXXXX");
    if (!mkdtemp(tmp)) return -1;
    unsetenv("MTS_CONTROL_DIR");
    unsetenv("XDG_RUNTIME_DIR");
    return 0;
}

static int teardown(void **st) {
    (void)st;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "chmod -R u+rwx '%s' 2>/dev/null; rm -rf '%s'", tmp, tmp);
    return system(cmd) == 0 ? 0 : -1;
}

static int64_t ms_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int raw_connect(const char *path) {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

static void raw_send(int fd, const char *s) {
    size_t n = strlen(s), off = 0;
    while (off < n) {
        ssize_t w = send(fd, s + off, n - off, MSG_NOSIGNAL);
        assert_true(w > 0);
        off += (size_t)w;
    }
}

/* One line from fd, polling the server meanwhile (it answers only when
 * polled). 0 with the line, -1 when the connection closed. */
static int raw_line(mts_control_t *c, int fd, char *line, size_t n) {
    size_t got = 0;
    int64_t t0 = ms_now();
    while (ms_now() - t0 < 3000) {
        mts_control_req_t req;
        if (c) (void)mts_control_poll(c, &req);
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 5) <= 0) continue;
        char ch;
        ssize_t r = recv(fd, &ch, 1, 0);
        if (r == 0) return -1;
        if (r < 0) { if (errno == ECONNRESET) return -1; continue; }
        if (ch == '\n') { line[got] = 0; return 0; }
        if (got + 1 < n) line[got++] = ch;
    }
    fail_msg("no line in 3 s");
    return -1;
}

/* Polls until a request is handed out (or fails after 3 s). */
static void poll_req(mts_control_t *c, mts_control_req_t *req) {
    int64_t t0 = ms_now();
    while (ms_now() - t0 < 3000) {
        int r = mts_control_poll(c, req);
        assert_true(r >= 0);
        if (r == 1) return;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    fail_msg("no request in 3 s");
}

static mts_control_t *open_server(const char *hello) {
    mts_control_t *c = NULL;
    char err[512];
    int rc = mts_control_open(tmp, 7, hello, &c, err, sizeof err);
    if (rc) fail_msg("open: %s", err);
    return c;
}

/* ---- the directory ---- */

static void test_dir_rules(void **st) {
    (void)st;
    char d[512], err[512], want[512];
    /* XDG_RUNTIME_DIR/mts, created 0700 */
    setenv("XDG_RUNTIME_DIR", tmp, 1);
    assert_int_equal(mts_control_dir(d, sizeof d, err, sizeof err), 0);
    snprintf(want, sizeof want, "%s/mts", tmp);
    assert_string_equal(d, want);
    struct stat sb;
    assert_int_equal(lstat(d, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    assert_int_equal(sb.st_mode & 07777, 0700);
    /* MTS_CONTROL_DIR wins; a 0755 directory is refused */
    snprintf(want, sizeof want, "%s/open", tmp);
    assert_int_equal(mkdir(want, 0755), 0);
    assert_int_equal(chmod(want, 0755), 0);
    setenv("MTS_CONTROL_DIR", want, 1);
    assert_int_equal(mts_control_dir(d, sizeof d, err, sizeof err), MTS_ECONFIG);
    assert_non_null(strstr(err, "0755"));
    assert_non_null(strstr(err, "MTS_CONTROL_DIR"));
    /* a symlink to a good 0700 directory is refused (lstat) */
    char good[512], link[600];
    snprintf(good, sizeof good, "%s/good", tmp);
    assert_int_equal(mkdir(good, 0700), 0);
    snprintf(link, sizeof link, "%s/link", tmp);
    assert_int_equal(symlink(good, link), 0);
    setenv("MTS_CONTROL_DIR", link, 1);
    assert_int_equal(mts_control_dir(d, sizeof d, err, sizeof err), MTS_ECONFIG);
    assert_non_null(strstr(err, "symlink"));
    setenv("MTS_CONTROL_DIR", good, 1);
    assert_int_equal(mts_control_dir(d, sizeof d, err, sizeof err), 0);
    assert_string_equal(d, good);
    /* a file */
    char file[600];
    snprintf(file, sizeof file, "%s/file", tmp);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    setenv("MTS_CONTROL_DIR", file, 1);
    assert_int_equal(mts_control_dir(d, sizeof d, err, sizeof err), MTS_ECONFIG);
    /* open() with no dir goes through the same rule: refused, no socket */
    mts_control_t *c = NULL;
    assert_int_equal(mts_control_open(NULL, 1, "{}", &c, err, sizeof err), MTS_ECONFIG);
    assert_null(c);
    unsetenv("MTS_CONTROL_DIR");
    unsetenv("XDG_RUNTIME_DIR");
}

static void test_path_too_long(void **st) {
    (void)st;
    char d[300], err[512];
    int n = snprintf(d, sizeof d, "%s/", tmp);
    while (n < 150) d[n++] = 'x';
    d[n] = 0;
    assert_int_equal(mkdir(d, 0700), 0);
    mts_control_t *c = NULL;
    assert_int_equal(mts_control_open(d, 12345, "{}", &c, err, sizeof err), MTS_EINVAL);
    assert_null(c);
    assert_non_null(strstr(err, "MTS_CONTROL_DIR"));
}

/* ---- protocol ---- */

static void test_hello_framing_mode(void **st) {
    (void)st;
    mts_control_t *c = open_server("{\"hello\":\"mts-session\",\"session\":7}");
    char want[300];
    snprintf(want, sizeof want, "%s/session-7.sock", tmp);
    assert_string_equal(mts_control_path(c), want);
    struct stat sb;
    assert_int_equal(lstat(want, &sb), 0);
    assert_true(S_ISSOCK(sb.st_mode));
    assert_int_equal(sb.st_mode & 0777, 0600);

    int fd = raw_connect(want);
    char line[70000];
    assert_int_equal(raw_line(c, fd, line, sizeof line), 0);
    assert_string_equal(line, "{\"hello\":\"mts-session\",\"session\":7}");
    assert_int_equal(mts_control_clients(c), 1);

    /* a request split over two writes, then two in one write */
    raw_send(fd, "{\"id\":1,\"op\":\"sta");
    mts_control_req_t req;
    for (int i = 0; i < 20; i++) assert_int_equal(mts_control_poll(c, &req), 0);
    raw_send(fd, "tus\"}\n{\"id\":\"b\",\"op\":\"books\"}\n");
    poll_req(c, &req);
    assert_string_equal(req.op, "status");
    assert_string_equal(req.json, "{\"id\":1,\"op\":\"status\"}");
    assert_int_equal(req.write, 0);
    assert_int_equal(req.pid, getpid());
    /* one at a time: the second waits until the first is answered */
    assert_int_equal(mts_control_reply(c, "{\"bars\":3}", 1), 0);
    assert_int_equal(raw_line(NULL, fd, line, sizeof line), 0);
    assert_string_equal(line, "{\"id\":1,\"ok\":true,\"result\":{\"bars\":3}}");
    poll_req(c, &req);
    assert_string_equal(req.op, "books");
    assert_int_equal(mts_control_reply(c, "no \"books\" here", 0), 0);
    assert_int_equal(raw_line(NULL, fd, line, sizeof line), 0);
    assert_string_equal(line, "{\"id\":\"b\",\"ok\":false,\"error\":\"no \\\"books\\\" here\"}");
    /* not JSON: answered by the server */
    raw_send(fd, "status\n");
    assert_int_equal(raw_line(c, fd, line, sizeof line), 0);
    assert_non_null(strstr(line, "\"ok\":false"));
    assert_non_null(strstr(line, "a string \\\"op\\\""));
    /* unanswered: the next poll answers it with an error */
    raw_send(fd, "{\"id\":5,\"op\":\"ctx\"}\n");
    poll_req(c, &req);
    assert_int_equal(mts_control_poll(c, &req), 0);
    assert_int_equal(raw_line(NULL, fd, line, sizeof line), 0);
    assert_string_equal(line, "{\"id\":5,\"ok\":false,\"error\":\"the session did not answer this request\"}");
    /* detaching */
    close(fd);
    for (int i = 0; i < 50 && mts_control_clients(c); i++) {
        (void)mts_control_poll(c, &req);
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(mts_control_clients(c), 0);
    mts_control_free(c);
    assert_int_equal(lstat(want, &sb), -1);   /* unlinked */
}

static void test_write_permission(void **st) {
    (void)st;
    mts_control_t *c = open_server("{\"hello\":\"mts-session\"}");
    int fd = raw_connect(mts_control_path(c));
    char line[4096];
    assert_int_equal(raw_line(c, fd, line, sizeof line), 0);
    mts_control_req_t req;
    const char *ops[] = {"pause", "resume", "set", "reload"};
    for (int i = 0; i < 4; i++) {
        char q[100];
        snprintf(q, sizeof q, "{\"id\":%d,\"op\":\"%s\",\"strategy\":\"s\"}\n", i, ops[i]);
        raw_send(fd, q);
        assert_int_equal(raw_line(c, fd, line, sizeof line), 0);
        char want[200];
        snprintf(want, sizeof want, "{\"id\":%d,\"ok\":false,\"error\":\"read-only attach: reattach with --write\"}", i);
        assert_string_equal(line, want);
    }
    assert_int_equal(mts_control_poll(c, &req), 0);   /* none was handed out */
    /* hello with write:false keeps it read-only */
    raw_send(fd, "{\"id\":9,\"op\":\"hello\",\"write\":false}\n{\"id\":10,\"op\":\"set\"}\n");
    assert_int_equal(raw_line(c, fd, line, sizeof line), 0);
    assert_string_equal(line, "{\"id\":9,\"ok\":true,\"result\":{\"write\":false}}");
    assert_int_equal(raw_line(c, fd, line, sizeof line), 0);
    assert_non_null(strstr(line, "read-only attach"));
    raw_send(fd, "{\"id\":11,\"op\":\"hello\",\"write\":true}\n");
    assert_int_equal(raw_line(c, fd, line, sizeof line), 0);
    assert_string_equal(line, "{\"id\":11,\"ok\":true,\"result\":{\"write\":true}}");
    raw_send(fd, "{\"id\":12,\"op\":\"set\",\"key\":\"fast\"}\n");
    poll_req(c, &req);
    assert_string_equal(req.op, "set");
    assert_int_equal(req.write, 1);
    assert_int_equal(mts_control_reply(c, "true", 1), 0);
    assert_int_equal(raw_line(NULL, fd, line, sizeof line), 0);
    assert_string_equal(line, "{\"id\":12,\"ok\":true,\"result\":true}");
    close(fd);
    mts_control_free(c);
}

static void test_oversize_line(void **st) {
    (void)st;
    mts_control_t *c = open_server("{\"hello\":\"mts-session\"}");
    int bad = raw_connect(mts_control_path(c));
    int good = raw_connect(mts_control_path(c));
    char line[4096];
    assert_int_equal(raw_line(c, bad, line, sizeof line), 0);
    assert_int_equal(raw_line(c, good, line, sizeof line), 0);
    /* exactly MTS_CONTROL_LINE_MAX bytes and a newline: accepted */
    size_t n = MTS_CONTROL_LINE_MAX;
    char *big = malloc(n + 2);
    assert_non_null(big);
    memset(big, ' ', n);
    memcpy(big, "{\"id\":1,\"op\":\"status\"}", 22);
    big[n] = '\n';
    big[n + 1] = 0;
    /* send in pieces while polling (the socket buffer may be smaller) */
    size_t off = 0;
    mts_control_req_t req;
    int handed = 0;
    while (off < n + 1 || !handed) {
        if (off < n + 1) {
            ssize_t w = send(good, big + off, n + 1 - off, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (w > 0) off += (size_t)w;
        }
        int r = mts_control_poll(c, &req);
        if (r == 1) handed = 1;
    }
    assert_string_equal(req.op, "status");
    assert_int_equal(mts_control_reply(c, "1", 1), 0);
    assert_int_equal(raw_line(NULL, good, line, sizeof line), 0);
    assert_string_equal(line, "{\"id\":1,\"ok\":true,\"result\":1}");
    /* one byte more, no newline yet: error reply and the connection closed */
    big[n] = ' ';
    off = 0;
    int64_t t0 = ms_now();
    while (off < n + 1 && ms_now() - t0 < 3000) {
        ssize_t w = send(bad, big + off, n + 1 - off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w > 0) off += (size_t)w;
        (void)mts_control_poll(c, &req);
    }
    assert_int_equal(raw_line(c, bad, line, sizeof line), 0);
    assert_non_null(strstr(line, "longer than 65536 bytes"));
    assert_int_equal(raw_line(c, bad, line, sizeof line), -1);   /* closed */
    free(big);
    /* the other client is unaffected */
    raw_send(good, "{\"id\":2,\"op\":\"status\"}\n");
    poll_req(c, &req);
    assert_int_equal(mts_control_reply(c, "2", 1), 0);
    assert_int_equal(raw_line(NULL, good, line, sizeof line), 0);
    assert_string_equal(line, "{\"id\":2,\"ok\":true,\"result\":2}");
    assert_int_equal(mts_control_clients(c), 1);
    close(bad);
    close(good);
    mts_control_free(c);
}

/* A client that sends requests and never reads: its replies fill the socket
 * buffer, then its output buffer, and it is dropped; no poll blocks. */
static void test_slow_client_dropped(void **st) {
    (void)st;
    mts_control_t *c = open_server("{\"hello\":\"mts-session\"}");
    int slow = raw_connect(mts_control_path(c));
    int sz = 4096;   /* a small receive buffer: fills sooner */
    setsockopt(slow, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    /* replies are large: each "status" is answered with a 60000-byte result */
    char *res = malloc(60003);
    assert_non_null(res);
    res[0] = '"';
    memset(res + 1, 'x', 60000);
    res[60001] = '"';
    res[60002] = 0;
    mts_control_req_t req;
    for (int i = 0; i < 1000 && mts_control_clients(c) == 0; i++) (void)mts_control_poll(c, &req);
    assert_int_equal(mts_control_clients(c), 1);
    int64_t worst = 0;
    int64_t t0 = ms_now();
    int sent = 0;
    while (mts_control_clients(c) > 0 && ms_now() - t0 < 10000) {
        if (send(slow, "{\"id\":1,\"op\":\"status\"}\n", 23, MSG_DONTWAIT | MSG_NOSIGNAL) == 23) sent++;
        int64_t a = ms_now();
        int r = mts_control_poll(c, &req);
        if (r == 1) assert_int_equal(mts_control_reply(c, res, 1), 0);
        int64_t b = ms_now();
        if (b - a > worst) worst = b - a;
    }
    print_message("slow client: %d requests sent, poll at most %lld ms\n", sent, (long long)worst);
    assert_int_equal(mts_control_clients(c), 0);   /* dropped */
    /* dropped after its unsent output passed MTS_CONTROL_OUT_MAX: at least that many replies were answered */
    assert_true(sent >= MTS_CONTROL_OUT_MAX / 60000);
    assert_true(worst < 200);                       /* never blocked */
    /* the session serves a new client afterwards */
    int fd = raw_connect(mts_control_path(c));
    char line[256];
    assert_int_equal(raw_line(c, fd, line, sizeof line), 0);
    assert_string_equal(line, "{\"hello\":\"mts-session\"}");
    close(fd);
    close(slow);
    free(res);
    mts_control_free(c);
}


/* A client that sends its requests and shuts down its sending side (socat,
 * `nc -N`): its lines are still answered, then the connection is closed. */
static void test_half_close(void **st) {
    (void)st;
    mts_control_t *c = open_server("{\"hello\":\"mts-session\"}");
    int fd = raw_connect(mts_control_path(c));
    char line[512];
    assert_int_equal(raw_line(c, fd, line, sizeof line), 0);
    raw_send(fd, "{\"id\":1,\"op\":\"status\"}\n{\"id\":2,\"op\":\"hello\"}\n");
    assert_int_equal(shutdown(fd, SHUT_WR), 0);
    mts_control_req_t req;
    poll_req(c, &req);
    assert_string_equal(req.op, "status");
    assert_int_equal(mts_control_reply(c, "{}", 1), 0);
    assert_int_equal(raw_line(c, fd, line, sizeof line), 0);
    assert_string_equal(line, "{\"id\":1,\"ok\":true,\"result\":{}}");
    assert_int_equal(raw_line(c, fd, line, sizeof line), 0);
    assert_string_equal(line, "{\"id\":2,\"ok\":true,\"result\":{\"write\":false}}");
    assert_int_equal(raw_line(c, fd, line, sizeof line), -1);   /* then closed */
    assert_int_equal(mts_control_clients(c), 0);
    close(fd);
    mts_control_free(c);
}

static void test_client_limit(void **st) {
    (void)st;
    mts_control_t *c = open_server("{\"hello\":\"mts-session\"}");
    int fds[MTS_CONTROL_MAX_CLIENTS + 1];
    char line[512];
    for (int i = 0; i < MTS_CONTROL_MAX_CLIENTS; i++) {
        fds[i] = raw_connect(mts_control_path(c));
        assert_int_equal(raw_line(c, fds[i], line, sizeof line), 0);
        assert_string_equal(line, "{\"hello\":\"mts-session\"}");
    }
    fds[MTS_CONTROL_MAX_CLIENTS] = raw_connect(mts_control_path(c));
    assert_int_equal(raw_line(c, fds[MTS_CONTROL_MAX_CLIENTS], line, sizeof line), 0);
    assert_non_null(strstr(line, "too many attached clients (8)"));
    assert_int_equal(raw_line(c, fds[MTS_CONTROL_MAX_CLIENTS], line, sizeof line), -1);
    assert_int_equal(mts_control_clients(c), MTS_CONTROL_MAX_CLIENTS);
    for (int i = 0; i <= MTS_CONTROL_MAX_CLIENTS; i++) close(fds[i]);
    mts_control_free(c);
}

static void test_stale_and_live_socket(void **st) {
    (void)st;
    char path[100], err[512];
    snprintf(path, sizeof path, "%.60s/session-7.sock", tmp);
    /* a dead session's socket file: bound, never listening, closed */
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    close(fd);
    mts_control_t *c = open_server("{\"hello\":\"mts-session\"}");
    /* a live one is refused and left alone */
    mts_control_t *c2 = NULL;
    assert_int_equal(mts_control_open(tmp, 7, "{}", &c2, err, sizeof err), MTS_EBUSY);
    assert_null(c2);
    struct stat sb;
    assert_int_equal(lstat(path, &sb), 0);
    int cfd = raw_connect(path);
    char line[256];
    assert_int_equal(raw_line(c, cfd, line, sizeof line), 0);
    assert_string_equal(line, "{\"hello\":\"mts-session\"}");
    close(cfd);
    mts_control_free(c);
    /* a regular file is never removed */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(mts_control_open(tmp, 7, "{}", &c2, err, sizeof err), MTS_ECONFIG);
    assert_int_equal(lstat(path, &sb), 0);
    assert_true(S_ISREG(sb.st_mode));
}

/* ---- the client API against a server thread ---- */

static volatile int srv_stop;

static void *server_thread(void *ud) {
    mts_control_t *c = ud;
    while (!srv_stop) {
        mts_control_req_t req;
        if (mts_control_poll(c, &req) == 1) {
            char r[256];
            snprintf(r, sizeof r, "{\"op\":\"%s\",\"write\":%d}", req.op, req.write);
            mts_control_reply(c, r, 1);
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static void test_client_api(void **st) {
    (void)st;
    mts_control_t *c = open_server("{\"hello\":\"mts-session\",\"session\":7}");
    char path[300];
    snprintf(path, sizeof path, "%s", mts_control_path(c));
    srv_stop = 0;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, server_thread, c), 0);
    char hello[256], err[512];
    mts_control_client_t *cl = NULL;
    assert_int_equal(mts_control_connect(path, 0, &cl, hello, sizeof hello, err, sizeof err), 0);
    assert_string_equal(hello, "{\"hello\":\"mts-session\",\"session\":7}");
    char *reply = NULL;
    assert_int_equal(mts_control_call(cl, "{\"op\":\"status\"}", &reply, 3000, err, sizeof err), 0);
    assert_string_equal(reply, "{\"id\":1,\"ok\":true,\"result\":{\"op\":\"status\",\"write\":0}}");
    mts_free(reply);
    assert_int_equal(mts_control_call(cl, "{\"op\":\"set\"}", &reply, 3000, err, sizeof err), 0);
    assert_string_equal(reply, "{\"id\":2,\"ok\":false,\"error\":\"read-only attach: reattach with --write\"}");
    mts_free(reply);
    assert_int_equal(mts_control_call(cl, "[1]", &reply, 3000, err, sizeof err), MTS_EINVAL);
    mts_control_close(cl);
    /* a writer */
    assert_int_equal(mts_control_connect(path, 1, &cl, hello, sizeof hello, err, sizeof err), 0);
    assert_int_equal(mts_control_call(cl, "{\"id\":\"x\",\"op\":\"set\"}", &reply, 3000, err, sizeof err), 0);
    assert_string_equal(reply, "{\"id\":\"x\",\"ok\":true,\"result\":{\"op\":\"set\",\"write\":1}}");
    mts_free(reply);
    srv_stop = 1;
    pthread_join(th, NULL);
    /* nobody polls: a call times out */
    assert_int_equal(mts_control_call(cl, "{\"op\":\"status\"}", &reply, 200, err, sizeof err), MTS_EBUSY);
    mts_control_close(cl);
    mts_control_free(c);
    /* no socket */
    assert_int_equal(mts_control_connect(path, 0, &cl, hello, sizeof hello, err, sizeof err), MTS_ENOTFOUND);
    assert_null(cl);
    assert_non_null(strstr(err, "not running"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dir_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_path_too_long, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hello_framing_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_permission, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversize_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_client_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_half_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_and_live_socket, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_api, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
