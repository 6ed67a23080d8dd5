/* control.h — a paper session's local control socket (`mts repl --attach`,
 * docs/live.md "Attach and control"), server and client.
 *
 * Where. $MTS_CONTROL_DIR/session-<id>.sock; MTS_CONTROL_DIR defaults to
 * $XDG_RUNTIME_DIR/mts when XDG_RUNTIME_DIR is set, else /tmp/mts-<uid>. The
 * directory is created 0700; one that exists and is not a directory (lstat:
 * a symlink is refused) owned by the uid with mode 0700 is refused, and the
 * session runs without a socket. The socket: AF_UNIX SOCK_STREAM, created
 * under umask 077 (mode 0600), non-blocking; nothing on the network. A path
 * longer than sun_path is refused (the message names MTS_CONTROL_DIR). A
 * stale socket file (a dead session's: nobody accepts on it) is replaced; a
 * live one is refused (MTS_EBUSY).
 *
 * Protocol: newline-delimited JSON, one object per line, at most
 * MTS_CONTROL_LINE_MAX bytes a line (longer: an error reply, then the
 * connection is closed). On connect the server sends its hello line (given
 * at open). Requests {"id":N,"op":OP,...}; replies {"id":N,"ok":true,
 * "result":...} or {"id":N,"ok":false,"error":"..."}. The server answers
 * itself: malformed lines, op "hello" ({"op":"hello","write":true} makes the
 * client a writer), and write ops (MTS_CONTROL_WRITE_OPS) from a read-only
 * client ("read-only attach: reattach with --write"). Any other request is
 * handed to the caller, one at a time (mts_control_poll), who answers it with
 * mts_control_reply before polling again.
 *
 * Never blocks: every socket is non-blocking; a client's unsent output is
 * buffered up to MTS_CONTROL_OUT_MAX, and a client whose buffer would
 * overflow (it does not read its replies) is dropped. At most
 * MTS_CONTROL_MAX_CLIENTS clients (another is told so and closed). A client
 * closing never disturbs the session.
 *
 * Ownership: mts_control_t owns its sockets, buffers and the socket file
 * (unlinked by mts_control_free). Errors: 0 / negative MTS_E* with a one-line
 * message in err that says how to fix it. */
#ifndef MTS_LIVE_CONTROL_H
#define MTS_LIVE_CONTROL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MTS_CONTROL_LINE_MAX (64 * 1024)      /* bytes of one line, newline excluded */
#define MTS_CONTROL_MAX_CLIENTS 8
#define MTS_CONTROL_OUT_MAX (4 * 1024 * 1024) /* a client's unsent output before it is dropped (a
                                                 reply is at most ~1.5 MiB: control.lua MAX_BYTES) */
#define MTS_CONTROL_WRITE_OPS "pause resume set reload"

/* ---- server (the session, live.c) ---- */

typedef struct mts_control mts_control_t;

/* The directory by the rule above, created (0700) if missing and checked.
 * MTS_ECONFIG: not a directory / a symlink / not ours / not 0700;
 * MTS_EIO: could not create it; MTS_EINVAL: path too long. */
int mts_control_dir(char *out, size_t n, char *err, size_t elen);

/* Listens on <dir>/session-<session>.sock (dir NULL: mts_control_dir).
 * hello_json: the object sent to each client on connect (copied; no newline). */
int mts_control_open(const char *dir, int64_t session, const char *hello_json, mts_control_t **out,
                     char *err, size_t elen);
const char *mts_control_path(const mts_control_t *c);
/* Closes every client and the listener, unlinks the socket file. Accepts NULL. */
void mts_control_free(mts_control_t *c);

/* A request handed to the caller (valid until mts_control_reply or the next poll). */
typedef struct mts_control_req {
    const char *json;       /* the request line as received (an object with a string "op") */
    const char *op;         /* its "op" */
    int write;              /* op is a write op (the client is a writer: checked) */
    pid_t pid;              /* the client's pid (SO_PEERCRED; 0 unknown) */
} mts_control_req_t;

/* Accepts, reads, writes, answers what the server answers itself; never
 * blocks (poll timeout 0). Returns 1 with *req when a request waits for
 * mts_control_reply, 0 when none, negative MTS_E* on a listener failure.
 * A request left unanswered is answered with an error at the next poll. */
int mts_control_poll(mts_control_t *c, mts_control_req_t *req);
/* Answers the pending request: ok 1: result_json is the JSON value of
 * "result" (NULL: null); ok 0: result_json is the error text (plain text,
 * escaped here). A client gone meanwhile: the reply is dropped (0). */
int mts_control_reply(mts_control_t *c, const char *result_json, int ok);
/* Clients connected now. */
int mts_control_clients(const mts_control_t *c);

/* ---- client (mts repl --attach, runtime/cmd/repl.c) ---- */

typedef struct mts_control_client mts_control_client_t;

/* Connects to path, reads the server's hello line into hello (NUL-terminated,
 * truncated to hlen), and with write != 0 sends {"op":"hello","write":true}
 * and checks its reply. Errors: MTS_ENOTFOUND no such socket (the session is
 * not running or made none), MTS_EAUTH permission denied (attach as the
 * session's user), MTS_EIO refused / closed, MTS_EBUSY timed out, MTS_EINVAL
 * path too long. */
int mts_control_connect(const char *path, int write, mts_control_client_t **out, char *hello, size_t hlen,
                        char *err, size_t elen);
/* Sends one request (a JSON object, no newline; an "id" is added when it has
 * none) and returns the reply line with the same id in *reply (mts_free).
 * timeout_ms <= 0: 5000. MTS_EBUSY: no reply in time; MTS_EIO: the session
 * closed the connection. */
int mts_control_call(mts_control_client_t *c, const char *request_json, char **reply, int timeout_ms, char *err,
                     size_t elen);
void mts_control_close(mts_control_client_t *c);   /* accepts NULL */

#endif
