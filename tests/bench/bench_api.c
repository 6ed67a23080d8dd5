/* bench_api.c — `make bench` figures for `mts serve` and its JWT check:
 *   bench jwt_verify           HS256 verifications per second (mts_jwt_verify_hs256, one thread)
 *   bench api_health_rps       GET /health answered per second (8 keep-alive connections)
 *   bench api_backtests_rps    GET /backtests with a JWT (verified on every request) per second
 *   bench api_*_p50_ms / _p99_ms  latency of one request (send to last byte) at that load
 * Starts $MTS_BIN serve (else bin/mts) on a free port (--port 0, read from its first line)
 * with a temporary database, a 40-byte secret, no rate limits; stops it with SIGTERM.
 * Plain sockets, keep-alive, one request in flight per connection. */

#include "api/jwt.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CONNS 8
#define SECS  2.0

static const char SECRET[] = "bench-secret-0123456789-abcdefghijklmnop";

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void bench_jwt(void) {
    char tok[1024];
    char payload[256];
    long long t = (long long)time(NULL);
    snprintf(payload, sizeof payload, "{\"sub\":\"bench\",\"scope\":\"read\",\"iat\":%lld,\"exp\":%lld}", t, t + 3600);
    if (mts_jwt_sign_hs256((const uint8_t *)SECRET, sizeof SECRET - 1, payload, tok, sizeof tok) < 0) exit(1);
    size_t n = strlen(tok);
    mts_jwt_claims_t c;
    char why[256];
    long iters = 0;
    double t0 = now(), dt;
    do {
        for (int i = 0; i < 1000; i++)
            if (mts_jwt_verify_hs256(tok, n, (const uint8_t *)SECRET, sizeof SECRET - 1, t, 30, &c, why, sizeof why)) {
                fprintf(stderr, "bench_api: verify failed: %s\n", why);
                exit(1);
            }
        iters += 1000;
    } while ((dt = now() - t0) < 1.0);
    printf("bench jwt_verify %.0f verifies/s\n", iters / dt);
}

typedef struct { int fd; double sent; char buf[65536]; size_t got; } client_t;

static int connect_to(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(0x7f000001)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { close(fd); return -1; }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* Complete response in c->buf? Returns its length or 0. -1 on a non-200. */
static long response_len(client_t *c) {
    char *end = memmem(c->buf, c->got, "\r\n\r\n", 4);
    if (!end) return 0;
    if (strncmp(c->buf, "HTTP/1.1 200", 12) != 0) return -1;
    char *cl = memmem(c->buf, (size_t)(end - c->buf), "content-length:", 15);
    if (!cl) return -1;
    long body = atol(cl + 15), total = (long)(end + 4 - c->buf) + body;
    return (long)c->got >= total ? total : 0;
}

static int load(int port, const char *name, const char *req) {
    client_t *cl = calloc(CONNS, sizeof *cl);
    size_t cap = 1 << 22, nlat = 0;
    double *lat = malloc(cap * sizeof *lat);
    struct pollfd pf[CONNS];
    size_t rl = strlen(req);
    for (int i = 0; i < CONNS; i++) {
        if ((cl[i].fd = connect_to(port)) < 0) { perror("connect"); return -1; }
        cl[i].sent = now();
        if (write(cl[i].fd, req, rl) != (ssize_t)rl) return -1;
    }
    double t0 = now(), end = t0 + SECS;
    while (now() < end) {
        for (int i = 0; i < CONNS; i++) pf[i] = (struct pollfd){.fd = cl[i].fd, .events = POLLIN};
        if (poll(pf, CONNS, 1000) <= 0) { fprintf(stderr, "bench_api: %s: no answer\n", name); return -1; }
        for (int i = 0; i < CONNS; i++) {
            if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            client_t *c = &cl[i];
            ssize_t r = read(c->fd, c->buf + c->got, sizeof c->buf - c->got);
            if (r <= 0) { fprintf(stderr, "bench_api: %s: connection closed\n", name); return -1; }
            c->got += (size_t)r;
            long n = response_len(c);
            if (n < 0) { fprintf(stderr, "bench_api: %s: %.*s\n", name, (int)(c->got < 200 ? c->got : 200), c->buf); return -1; }
            if (n == 0) continue;
            double t = now();
            if (nlat < cap) lat[nlat++] = t - c->sent;
            memmove(c->buf, c->buf + n, c->got - (size_t)n);
            c->got -= (size_t)n;
            c->sent = t;
            if (write(c->fd, req, rl) != (ssize_t)rl) return -1;
        }
    }
    double dt = now() - t0;
    for (int i = 0; i < CONNS; i++) close(cl[i].fd);
    qsort(lat, nlat, sizeof *lat, cmp);
    printf("bench api_%s_rps %.0f requests/s\n", name, nlat / dt);
    printf("bench api_%s_p50_ms %.3f ms\n", name, nlat ? lat[nlat / 2] * 1e3 : 0);
    printf("bench api_%s_p99_ms %.3f ms\n", name, nlat ? lat[(size_t)(nlat * 0.99)] * 1e3 : 0);
    free(lat);
    free(cl);
    return 0;
}

int main(void) {
    bench_jwt();
    const char *bin = getenv("MTS_BIN") ? getenv("MTS_BIN") : "bin/mts";
    char dir[] = "/tmp/mts-bench-api-XXXXXX", db[128];
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    snprintf(db, sizeof db, "%s/bench.db", dir);
    int out[2];
    if (pipe(out)) return 1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(out[1], 1);
        int devnull = open("/dev/null", 1);
        dup2(devnull, 2);   /* one access-log line per request: not part of the figure */
        setenv("MTS_JWT_SECRET", SECRET, 1);
        setenv("MTS_LOG_LEVEL", "warn", 1);
        execl(bin, bin, "serve", "--port", "0", "--db", db, "--redis", "none", "--rate-limit-read", "0",
              "--rate-limit-write", "0", (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    char line[512] = "";
    struct pollfd p = {.fd = out[0], .events = POLLIN};
    size_t got = 0;
    double deadline = now() + 30;
    while (!strchr(line, '\n') && now() < deadline && poll(&p, 1, 1000) >= 0) {
        ssize_t r = read(out[0], line + got, sizeof line - 1 - got);
        if (r <= 0) break;
        got += (size_t)r;
        line[got] = 0;
    }
    char *at = strstr(line, "127.0.0.1:");
    int port = at ? atoi(at + 10) : 0, rc = 0;
    if (!port) {
        fprintf(stderr, "bench_api: %s serve did not start: %s\n", bin, line);
        rc = 1;
    } else {
        char tok[1024], payload[256], req[2048];
        long long t = (long long)time(NULL);
        snprintf(payload, sizeof payload, "{\"sub\":\"bench\",\"scope\":\"read\",\"iat\":%lld,\"exp\":%lld}", t, t + 3600);
        mts_jwt_sign_hs256((const uint8_t *)SECRET, sizeof SECRET - 1, payload, tok, sizeof tok);
        rc |= load(port, "health", "GET /health HTTP/1.1\r\nHost: bench\r\n\r\n") != 0;
        snprintf(req, sizeof req, "GET /backtests HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer %s\r\n\r\n", tok);
        rc |= load(port, "backtests", req) != 0;
    }
    kill(pid, SIGTERM);
    int st = 0;
    waitpid(pid, &st, 0);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) rc = 1;
    return rc;
}
