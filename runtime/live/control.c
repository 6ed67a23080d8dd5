/* control.c — a paper session's local control socket (see control.h).
 *
 * Server: one listening AF_UNIX socket and at most MTS_CONTROL_MAX_CLIENTS
 * clients, all non-blocking, serviced by mts_control_poll with poll(2)
 * timeout 0 (the session calls it between websocket rounds). Each client has
 * an input buffer of one line (MTS_CONTROL_LINE_MAX + 1) and an output buffer
 * that grows to MTS_CONTROL_OUT_MAX at most: a client whose output would go
 * past it does not read its replies and is dropped. Lines are handled one at
 * a time across clients: while a request is with the caller, no other line is
 * taken (they wait in their buffers).
 *
 * Client: a blocking-with-timeout connection (poll on each read and write)
 * for `mts repl --attach`. */
#include "live/control.h"
#include "mts.h"
#include "util/log.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define IN_CAP (MTS_CONTROL_LINE_MAX + 1)
#define SUN_MAX (sizeof(((struct sockaddr_un *)0)->sun_path))

static void seterr(char *err, size_t elen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t elen, const char *fmt, ...) {
    if (!err || !elen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, elen, fmt, ap);
    va_end(ap);
}

/* ---- the directory ---- */

int mts_control_dir(char *out, size_t n, char *err, size_t elen) {
    const char *env = getenv("MTS_CONTROL_DIR");
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    int len;
    if (env && *env) len = snprintf(out, n, "%s", env);
    else if (xdg && *xdg) len = snprintf(out, n, "%s/mts", xdg);
    else len = snprintf(out, n, "/tmp/mts-%u", (unsigned)getuid());
    if (len < 0 || (size_t)len >= n) {
        seterr(err, elen, "control socket directory path too long: set MTS_CONTROL_DIR to a shorter directory");
        return MTS_EINVAL;
    }
    while (len > 1 && out[len - 1] == '/') out[--len] = 0;
    struct stat st;
    if (lstat(out, &st) != 0) {
        if (errno != ENOENT || mkdir(out, 0700) != 0) {
            seterr(err, elen, "cannot create the control socket directory %s: %s (set MTS_CONTROL_DIR to a directory of yours)",
                   out, strerror(errno));
            return MTS_EIO;
        }
        if (lstat(out, &st) != 0) {
            seterr(err, elen, "control socket directory %s: %s", out, strerror(errno));
            return MTS_EIO;
        }
    }
    if (S_ISLNK(st.st_mode) || !S_ISDIR(st.st_mode)) {
        seterr(err, elen, "control socket directory %s is %s, not a directory: remove it or set MTS_CONTROL_DIR", out,
               S_ISLNK(st.st_mode) ? "a symlink" : "a file");
        return MTS_ECONFIG;
    }
    if (st.st_uid != getuid()) {
        seterr(err, elen, "control socket directory %s belongs to uid %u, not to you (uid %u): set MTS_CONTROL_DIR",
               out, (unsigned)st.st_uid, (unsigned)getuid());
        return MTS_ECONFIG;
    }
    if ((st.st_mode & 07777) != 0700) {
        seterr(err, elen, "control socket directory %s has mode %04o, not 0700: chmod 700 it or set MTS_CONTROL_DIR",
               out, (unsigned)(st.st_mode & 07777));
        return MTS_ECONFIG;
    }
    return MTS_OK;
}

/* ---- server ---- */

typedef struct ctl_client {
    int fd;                   /* -1: free slot */
    pid_t pid;
    int write;                /* said {"op":"hello","write":true} */
    int closing;              /* close once the output is flushed */
    int eof;                  /* it shut down its side: its lines are still answered, then closed */
    char *in;                 /* IN_CAP */
    size_t in_n;
    char *out;
    size_t out_n, out_off, out_cap;
} ctl_client_t;

struct mts_control {
    int lfd;
    char path[SUN_MAX];
    char *hello;
    size_t hello_n;
    ctl_client_t cl[MTS_CONTROL_MAX_CLIENTS];
    int pending;              /* client index whose request is with the caller, -1 none */
    int handed;               /* a request was handed out and not answered */
    size_t pending_len;       /* its line's length (with the newline) */
    char id[64];              /* its "id" as JSON text */
    char op[64];              /* its "op" */
};

static void client_close(mts_control_t *c, int k) {
    ctl_client_t *x = &c->cl[k];
    if (x->fd < 0) return;
    close(x->fd);
    x->fd = -1;
    mts_free(x->in);
    mts_free(x->out);
    memset(x, 0, sizeof *x);
    x->fd = -1;
    if (c->pending == k) c->pending = -1, c->handed = 0;
}

/* Writes what it can of the client's output (never blocks). 0 ok, -1 dropped. */
static int client_flush(mts_control_t *c, int k) {
    ctl_client_t *x = &c->cl[k];
    while (x->out_off < x->out_n) {
        ssize_t w = send(x->fd, x->out + x->out_off, x->out_n - x->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) { x->out_off += (size_t)w; continue; }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
        client_close(c, k);
        return -1;
    }
    x->out_off = x->out_n = 0;
    if (x->closing) { client_close(c, k); return -1; }
    return 0;
}

/* Queues a..b (two pieces, the second may be NULL) and a newline; a client
 * whose output would pass MTS_CONTROL_OUT_MAX is dropped. 0 ok, -1 dropped. */
static int client_send(mts_control_t *c, int k, const char *a, size_t an, const char *b, size_t bn) {
    ctl_client_t *x = &c->cl[k];
    if (x->fd < 0) return -1;
    if (x->out_off > 0 && x->out_off == x->out_n) x->out_off = x->out_n = 0;
    size_t need = x->out_n + an + bn + 1;
    if (need - x->out_off > MTS_CONTROL_OUT_MAX) {
        mts_log(MTS_LOG_WARN, "live.control_client_dropped", "\"pid\":%d,\"reason\":\"does not read its replies\"",
                (int)x->pid);
        client_close(c, k);
        return -1;
    }
    if (need > x->out_cap) {
        if (x->out_off > 0) {   /* move the unsent part to the front first */
            memmove(x->out, x->out + x->out_off, x->out_n - x->out_off);
            x->out_n -= x->out_off;
            x->out_off = 0;
            need = x->out_n + an + bn + 1;
        }
        if (need > x->out_cap) {
            size_t cap = x->out_cap ? x->out_cap : 4096;
            while (cap < need) cap *= 2;
            if (cap > MTS_CONTROL_OUT_MAX + 1) cap = MTS_CONTROL_OUT_MAX + 1;
            char *o = mts_realloc(x->out, cap);
            if (!o) { client_close(c, k); return -1; }
            x->out = o;
            x->out_cap = cap;
        }
    }
    memcpy(x->out + x->out_n, a, an);
    x->out_n += an;
    if (bn) { memcpy(x->out + x->out_n, b, bn); x->out_n += bn; }
    x->out[x->out_n++] = '\n';
    return client_flush(c, k);
}

/* {"id":ID,"ok":false,"error":TEXT} */
static int send_error(mts_control_t *c, int k, const char *id, const char *text) {
    cJSON *s = cJSON_CreateString(text);
    char *t = s ? cJSON_PrintUnformatted(s) : NULL;
    cJSON_Delete(s);
    char head[128];
    int hn = snprintf(head, sizeof head, "{\"id\":%s,\"ok\":false,\"error\":", id && *id ? id : "null");
    int rc = -1;
    if (t) {
        size_t tn = strlen(t);
        t[tn] = '}';   /* replaces the NUL: t has tn + 1 bytes */
        rc = client_send(c, k, head, (size_t)hn, t, tn + 1);
        cJSON_free(t);
    } else
        client_close(c, k);
    return rc;
}

int mts_control_open(const char *dir, int64_t session, const char *hello_json, mts_control_t **out, char *err,
                     size_t elen) {
    if (!out || !hello_json) { seterr(err, elen, "control: invalid argument"); return MTS_EINVAL; }
    *out = NULL;
    char d[4096];
    int rc;
    if (!dir) {
        if ((rc = mts_control_dir(d, sizeof d, err, elen)) != 0) return rc;
        dir = d;
    }
    mts_control_t *c = mts_calloc(1, sizeof *c);
    if (!c) return MTS_ENOMEM;
    c->lfd = -1;
    c->pending = -1;
    for (int k = 0; k < MTS_CONTROL_MAX_CLIENTS; k++) c->cl[k].fd = -1;
    int n = snprintf(c->path, sizeof c->path, "%s/session-%lld.sock", dir, (long long)session);
    if (n < 0 || (size_t)n >= sizeof c->path) {
        seterr(err, elen, "control socket path %s/session-%lld.sock is longer than %zu bytes (the limit of a unix "
               "socket): set MTS_CONTROL_DIR to a shorter directory", dir, (long long)session, SUN_MAX - 1);
        mts_free(c);
        return MTS_EINVAL;
    }
    if (!(c->hello = mts_strdup(hello_json))) { mts_free(c); return MTS_ENOMEM; }
    c->hello_n = strlen(c->hello);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, c->path, (size_t)n + 1);
    c->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->lfd < 0) { seterr(err, elen, "control socket: %s", strerror(errno)); rc = MTS_EIO; goto fail; }
    struct stat st;
    if (lstat(c->path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            seterr(err, elen, "%s exists and is not a socket: remove it", c->path);
            rc = MTS_ECONFIG;
            goto fail;
        }
        /* a live session's socket accepts; a dead one's refuses: replace it */
        int t = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int alive = t >= 0 && connect(t, (struct sockaddr *)&sa, sizeof sa) == 0;
        if (t >= 0) close(t);
        if (alive) {
            seterr(err, elen, "%s is in use by a running session", c->path);
            rc = MTS_EBUSY;
            goto fail;
        }
        unlink(c->path);
    }
    mode_t old = umask(0177);   /* the socket: 0600 */
    int b = bind(c->lfd, (struct sockaddr *)&sa, sizeof sa);
    int e = errno;
    umask(old);
    if (b != 0 || listen(c->lfd, 16) != 0) {
        if (b == 0) e = errno;
        seterr(err, elen, "control socket %s: %s", c->path, strerror(e));
        if (b == 0) unlink(c->path);
        rc = MTS_EIO;
        goto fail;
    }
    *out = c;
    return MTS_OK;
fail:
    if (c->lfd >= 0) close(c->lfd);
    c->path[0] = 0;
    mts_free(c->hello);
    mts_free(c);
    return rc;
}

const char *mts_control_path(const mts_control_t *c) { return c ? c->path : NULL; }

int mts_control_clients(const mts_control_t *c) {
    int n = 0;
    if (c)
        for (int k = 0; k < MTS_CONTROL_MAX_CLIENTS; k++) n += c->cl[k].fd >= 0;
    return n;
}

void mts_control_free(mts_control_t *c) {
    if (!c) return;
    for (int k = 0; k < MTS_CONTROL_MAX_CLIENTS; k++) client_close(c, k);
    if (c->lfd >= 0) close(c->lfd);
    if (c->path[0]) unlink(c->path);
    mts_free(c->hello);
    mts_free(c);
}

static void accept_all(mts_control_t *c) {
    for (;;) {
        int fd = accept4(c->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;   /* EAGAIN, or a transient error: next poll */
        int k = 0;
        while (k < MTS_CONTROL_MAX_CLIENTS && c->cl[k].fd >= 0) k++;
        if (k == MTS_CONTROL_MAX_CLIENTS) {
            static const char busy[] = "{\"id\":null,\"ok\":false,\"error\":\"too many attached clients (8): detach "
                                       "one and try again\"}\n";
            (void)!send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
            close(fd);
            continue;
        }
        ctl_client_t *x = &c->cl[k];
        memset(x, 0, sizeof *x);
        x->fd = fd;
        struct ucred uc;
        socklen_t ul = sizeof uc;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &ul) == 0) x->pid = uc.pid;
        if (!(x->in = mts_malloc(IN_CAP + 1))) { client_close(c, k); continue; }
        mts_log(MTS_LOG_INFO, "live.control_attached", "\"pid\":%d", (int)x->pid);
        (void)client_send(c, k, c->hello, c->hello_n, NULL, 0);
    }
}

static int is_write_op(const char *op) {
    static const char *const w[] = {"pause", "resume", "set", "reload"};
    for (size_t i = 0; i < sizeof w / sizeof *w; i++)
        if (!strcmp(op, w[i])) return 1;
    return 0;
}

/* Consumes the first `len` bytes of the client's input. */
static void consume(ctl_client_t *x, size_t len) {
    memmove(x->in, x->in + len, x->in_n - len);
    x->in_n -= len;
}

/* The client's first complete line: answered here (0), handed out (1, *req),
 * or none / the client closed (0 with nothing done; *more = 0). */
static int take_line(mts_control_t *c, int k, mts_control_req_t *req, int *more) {
    ctl_client_t *x = &c->cl[k];
    *more = 0;
    char *nl = x->in_n ? memchr(x->in, '\n', x->in_n) : NULL;
    if (!nl) {
        if (x->in_n > MTS_CONTROL_LINE_MAX) {
            mts_log(MTS_LOG_WARN, "live.control_line_too_long", "\"pid\":%d,\"max\":%d", (int)x->pid,
                    MTS_CONTROL_LINE_MAX);
            x->closing = 1;
            x->in_n = 0;
            char msg[128];
            snprintf(msg, sizeof msg, "request line longer than %d bytes: send one JSON object per line, shorter",
                     MTS_CONTROL_LINE_MAX);
            if (send_error(c, k, "null", msg) == 0) (void)client_flush(c, k);
        }
        return 0;
    }
    size_t len = (size_t)(nl - x->in) + 1;
    if (len - 1 > MTS_CONTROL_LINE_MAX) {   /* the newline came, too late */
        consume(x, len);
        char msg[128];
        snprintf(msg, sizeof msg, "request line longer than %d bytes: send one JSON object per line, shorter",
                 MTS_CONTROL_LINE_MAX);
        x->closing = 1;
        if (send_error(c, k, "null", msg) == 0) (void)client_flush(c, k);
        *more = 0;
        return 0;
    }
    *nl = 0;
    if (len > 1 && nl[-1] == '\r') nl[-1] = 0;
    cJSON *j = cJSON_Parse(x->in);
    char id[64] = "null";
    const cJSON *jid = j ? cJSON_GetObjectItemCaseSensitive(j, "id") : NULL;
    if (jid && (cJSON_IsNumber(jid) || cJSON_IsString(jid))) {
        char *t = cJSON_PrintUnformatted(jid);
        if (t && strlen(t) < sizeof id) snprintf(id, sizeof id, "%s", t);
        cJSON_free(t);
    }
    const cJSON *jop = j ? cJSON_GetObjectItemCaseSensitive(j, "op") : NULL;
    *more = 1;
    if (x->in[0] == 0) {   /* an empty line: ignored */
        cJSON_Delete(j);
        consume(x, len);
        return 0;
    }
    if (!cJSON_IsObject(j) || !cJSON_IsString(jop)) {
        cJSON_Delete(j);
        consume(x, len);
        if (send_error(c, k, id, "a request is one JSON object with a string \"op\" on one line, e.g. "
                                 "{\"id\":1,\"op\":\"status\"}") != 0) *more = 0;
        return 0;
    }
    const char *op = jop->valuestring;
    if (!strcmp(op, "hello")) {
        x->write = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "write"));
        cJSON_Delete(j);
        consume(x, len);
        char head[128];
        int hn = snprintf(head, sizeof head, "{\"id\":%s,\"ok\":true,\"result\":{\"write\":%s}}", id,
                          x->write ? "true" : "false");
        if (client_send(c, k, head, (size_t)hn, NULL, 0) != 0) *more = 0;
        return 0;
    }
    int w = is_write_op(op);
    if (w && !x->write) {
        cJSON_Delete(j);
        consume(x, len);
        if (send_error(c, k, id, "read-only attach: reattach with --write") != 0) *more = 0;
        return 0;
    }
    snprintf(c->op, sizeof c->op, "%s", op);
    cJSON_Delete(j);
    /* handed out: the line stays in the buffer (NUL-terminated) until the reply */
    c->pending = k;
    c->handed = 1;
    c->pending_len = len;
    snprintf(c->id, sizeof c->id, "%s", id);
    req->json = x->in;
    req->op = c->op;
    req->write = w;
    req->pid = x->pid;
    *more = 0;
    return 1;
}

int mts_control_reply(mts_control_t *c, const char *result_json, int ok) {
    if (!c) return MTS_EINVAL;
    if (!c->handed) return MTS_OK;
    c->handed = 0;
    int k = c->pending;
    c->pending = -1;
    if (k < 0 || c->cl[k].fd < 0) return MTS_OK;   /* the client went away */
    consume(&c->cl[k], c->pending_len);
    if (!ok) {
        (void)send_error(c, k, c->id, result_json ? result_json : "failed");
        return MTS_OK;
    }
    char head[128];
    int hn = snprintf(head, sizeof head, "{\"id\":%s,\"ok\":true,\"result\":", c->id);
    const char *r = result_json && *result_json ? result_json : "null";
    size_t rn = strlen(r);
    char *tail = mts_malloc(rn + 2);
    if (!tail) { client_close(c, k); return MTS_ENOMEM; }
    memcpy(tail, r, rn);
    tail[rn] = '}';
    (void)client_send(c, k, head, (size_t)hn, tail, rn + 1);
    mts_free(tail);
    return MTS_OK;
}

int mts_control_poll(mts_control_t *c, mts_control_req_t *req) {
    if (!c || !req) return MTS_EINVAL;
    memset(req, 0, sizeof *req);
    if (c->handed) (void)mts_control_reply(c, "the session did not answer this request", 0);
    struct pollfd p[1 + MTS_CONTROL_MAX_CLIENTS];
    int map[1 + MTS_CONTROL_MAX_CLIENTS];
    int n = 0;
    p[n].fd = c->lfd, p[n].events = POLLIN, p[n].revents = 0, map[n++] = -1;
    for (int k = 0; k < MTS_CONTROL_MAX_CLIENTS; k++) {
        ctl_client_t *x = &c->cl[k];
        if (x->fd < 0) continue;
        p[n].fd = x->fd;
        p[n].events = (short)((x->in_n <= MTS_CONTROL_LINE_MAX && !x->closing && !x->eof ? POLLIN : 0) |
                              (x->out_n > x->out_off ? POLLOUT : 0));
        p[n].revents = 0;
        map[n++] = k;
    }
    int r = poll(p, (nfds_t)n, 0);
    if (r < 0) return errno == EINTR ? 0 : MTS_EIO;
    if (p[0].revents & POLLIN) accept_all(c);
    for (int i = 1; i < n; i++) {
        int k = map[i];
        ctl_client_t *x = &c->cl[k];
        if (x->fd < 0 || !p[i].revents) continue;
        if ((p[i].revents & POLLOUT) && client_flush(c, k) != 0) continue;
        if (p[i].revents & (POLLIN | POLLHUP | POLLERR)) {
            size_t room = IN_CAP - x->in_n;
            if (room == 0 || x->closing || x->eof) continue;
            ssize_t got = recv(x->fd, x->in + x->in_n, room, MSG_DONTWAIT);
            if (got > 0) x->in_n += (size_t)got;
            else if (got == 0) x->eof = 1;   /* detached, or only its sending side (socat): lines first */
            else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                client_close(c, k);
                continue;
            }
        }
    }
    /* lines, one request handed out at most */
    for (int k = 0; k < MTS_CONTROL_MAX_CLIENTS; k++) {
        int more = 1;
        while (c->cl[k].fd >= 0 && !c->cl[k].closing && more) {
            if (take_line(c, k, req, &more) == 1) return 1;
        }
        ctl_client_t *x = &c->cl[k];
        if (x->fd >= 0 && x->eof && !x->closing && c->pending != k) {   /* nothing more will come */
            x->closing = 1;
            x->in_n = 0;
            (void)client_flush(c, k);
        }
    }
    return 0;
}

/* ---- client ---- */

struct mts_control_client {
    int fd;
    int64_t next_id;
    char *buf;                /* received, not yet returned */
    size_t n, cap;
};

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One line (without its newline) into *line (mts_free) before the deadline. */
static int client_line(mts_control_client_t *c, char **line, int64_t deadline, char *err, size_t elen) {
    for (;;) {
        char *nl = c->n ? memchr(c->buf, '\n', c->n) : NULL;
        if (nl) {
            size_t len = (size_t)(nl - c->buf);
            char *s = mts_malloc(len + 1);
            if (!s) return MTS_ENOMEM;
            memcpy(s, c->buf, len);
            s[len] = 0;
            memmove(c->buf, nl + 1, c->n - len - 1);
            c->n -= len + 1;
            *line = s;
            return MTS_OK;
        }
        if (c->n + 65536 > c->cap) {
            size_t cap = c->cap ? c->cap * 2 : 131072;
            if (cap > ((size_t)64 << 20)) { seterr(err, elen, "control: a reply over 64 MiB"); return MTS_EIO; }
            char *b = mts_realloc(c->buf, cap);
            if (!b) return MTS_ENOMEM;
            c->buf = b, c->cap = cap;
        }
        int64_t left = deadline - now_ms();
        if (left <= 0) { seterr(err, elen, "the session did not answer in time (it may be busy): try again"); return MTS_EBUSY; }
        struct pollfd p = {c->fd, POLLIN, 0};
        int r = poll(&p, 1, (int)(left > 1000000 ? 1000000 : left));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) { seterr(err, elen, "control: %s", strerror(errno)); return MTS_EIO; }
        if (r == 0) continue;
        ssize_t got = recv(c->fd, c->buf + c->n, c->cap - c->n, MSG_DONTWAIT);
        if (got > 0) c->n += (size_t)got;
        else if (got == 0) { seterr(err, elen, "the session closed the connection (it stopped, or dropped this client)"); return MTS_EIO; }
        else if (errno != EAGAIN && errno != EINTR) { seterr(err, elen, "control: %s", strerror(errno)); return MTS_EIO; }
    }
}

static int client_write(mts_control_client_t *c, const char *s, size_t n, int64_t deadline, char *err, size_t elen) {
    size_t off = 0;
    while (off < n) {
        ssize_t w = send(c->fd, s + off, n - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) { off += (size_t)w; continue; }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno != EAGAIN) { seterr(err, elen, "the session closed the connection: %s", strerror(errno)); return MTS_EIO; }
        int64_t left = deadline - now_ms();
        if (left <= 0) { seterr(err, elen, "the session does not read requests (busy?): try again"); return MTS_EBUSY; }
        struct pollfd p = {c->fd, POLLOUT, 0};
        (void)poll(&p, 1, (int)left);
    }
    return MTS_OK;
}

int mts_control_connect(const char *path, int write, mts_control_client_t **out, char *hello, size_t hlen,
                        char *err, size_t elen) {
    if (!path || !out) { seterr(err, elen, "control: invalid argument"); return MTS_EINVAL; }
    *out = NULL;
    if (hello && hlen) hello[0] = 0;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path) {
        seterr(err, elen, "control socket path %s is longer than %zu bytes: set MTS_CONTROL_DIR to a shorter directory",
               path, sizeof sa.sun_path - 1);
        return MTS_EINVAL;
    }
    strcpy(sa.sun_path, path);
    mts_control_client_t *c = mts_calloc(1, sizeof *c);
    if (!c) return MTS_ENOMEM;
    c->next_id = 1;
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int rc;
    if (c->fd < 0) { seterr(err, elen, "control: %s", strerror(errno)); rc = MTS_EIO; goto fail; }
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int e = errno;
        if (e == ENOENT) {
            seterr(err, elen, "no control socket at %s: the session is not running, or started without one", path);
            rc = MTS_ENOTFOUND;
        } else if (e == EACCES || e == EPERM) {
            seterr(err, elen, "permission denied on %s: attach as the session's user", path);
            rc = MTS_EAUTH;
        } else {
            seterr(err, elen, "cannot connect to %s: %s (the session has stopped?)", path, strerror(e));
            rc = MTS_EIO;
        }
        goto fail;
    }
    int64_t deadline = now_ms() + 5000;
    char *line = NULL;
    if ((rc = client_line(c, &line, deadline, err, elen)) != 0) goto fail;
    cJSON *h = cJSON_Parse(line);
    const cJSON *hv = h ? cJSON_GetObjectItemCaseSensitive(h, "hello") : NULL;
    int good = cJSON_IsString(hv) && !strcmp(hv->valuestring, "mts-session");
    if (!good) {
        const cJSON *e = h ? cJSON_GetObjectItemCaseSensitive(h, "error") : NULL;
        seterr(err, elen, "%s: %s", path, cJSON_IsString(e) ? e->valuestring : "not an mts session's control socket");
        cJSON_Delete(h);
        mts_free(line);
        rc = MTS_EIO;
        goto fail;
    }
    cJSON_Delete(h);
    if (hello && hlen) snprintf(hello, hlen, "%s", line);
    mts_free(line);
    if (write) {
        char *reply = NULL;
        if ((rc = mts_control_call(c, "{\"op\":\"hello\",\"write\":true}", &reply, 5000, err, elen)) != 0) goto fail;
        cJSON *r = cJSON_Parse(reply);
        int okw = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "ok"));
        cJSON_Delete(r);
        mts_free(reply);
        if (!okw) { seterr(err, elen, "%s: the session refused write access", path); rc = MTS_EAUTH; goto fail; }
    }
    *out = c;
    return MTS_OK;
fail:
    mts_control_close(c);
    return rc;
}

int mts_control_call(mts_control_client_t *c, const char *request_json, char **reply, int timeout_ms, char *err,
                     size_t elen) {
    if (!c || !request_json || !reply) { seterr(err, elen, "control: invalid argument"); return MTS_EINVAL; }
    *reply = NULL;
    cJSON *q = cJSON_Parse(request_json);
    if (!cJSON_IsObject(q)) {
        cJSON_Delete(q);
        seterr(err, elen, "a request is a JSON object, e.g. {\"op\":\"status\"}");
        return MTS_EINVAL;
    }
    cJSON *jid = cJSON_GetObjectItemCaseSensitive(q, "id");
    if (!jid) cJSON_AddNumberToObject(q, "id", (double)c->next_id++);
    jid = cJSON_GetObjectItemCaseSensitive(q, "id");
    char *idtxt = cJSON_PrintUnformatted(jid);
    char *text = cJSON_PrintUnformatted(q);
    cJSON_Delete(q);
    int rc = MTS_ENOMEM;
    if (!idtxt || !text) goto out;
    size_t tn = strlen(text);
    if (tn > MTS_CONTROL_LINE_MAX) {
        seterr(err, elen, "request longer than %d bytes", MTS_CONTROL_LINE_MAX);
        rc = MTS_EINVAL;
        goto out;
    }
    int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 5000);
    text[tn] = '\n';   /* replaces the NUL: sent with its length */
    if ((rc = client_write(c, text, tn + 1, deadline, err, elen)) != 0) goto out;
    for (;;) {   /* replies to earlier requests that timed out are skipped */
        char *line = NULL;
        if ((rc = client_line(c, &line, deadline, err, elen)) != 0) goto out;
        cJSON *r = cJSON_Parse(line);
        const cJSON *rid = r ? cJSON_GetObjectItemCaseSensitive(r, "id") : NULL;
        char *rt = rid ? cJSON_PrintUnformatted(rid) : NULL;
        int mine = rt && !strcmp(rt, idtxt);
        int null_err = cJSON_IsNull(rid) && cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(r, "ok"));
        cJSON_free(rt);
        cJSON_Delete(r);
        if (mine || null_err) { *reply = line; rc = MTS_OK; goto out; }
        mts_free(line);
    }
out:
    cJSON_free(idtxt);
    cJSON_free(text);
    return rc;
}

void mts_control_close(mts_control_client_t *c) {
    if (!c) return;
    if (c->fd >= 0) close(c->fd);
    mts_free(c->buf);
    mts_free(c);
}
