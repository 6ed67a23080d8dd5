/* repl.c — `mts repl`: an interactive Lua session over the mts API, a one-shot
 * `-e CODE`, or a research script. The line editing (readline: history file,
 * tab completion), Ctrl-C and the continuation of unfinished chunks live
 * here; compiling, running, printing, completion candidates and the
 * dot-commands are scripts/lib/repl.lua, the API is scripts/lib/api.lua over
 * runtime/lua/api.c.
 *
 * Ctrl-C. While a chunk runs, SIGINT sets a flag that the chunk's own loops
 * poll: typed chunks and scripts are compiled with ticks in every loop and
 * function body (scripts/lib/repl.lua, sandbox.instrument), and every 1024th
 * tick calls mts_repl_poll_interrupt(). So compiled loops stop too and the
 * session keeps the JIT. The signal also sets a count hook, for interpreted
 * library code between ticks. Either raises "interrupted"; the chunk's error
 * handler prints it and the prompt comes back. (A long C call, such as one
 * mts.backtest, finishes first.) At the prompt, Ctrl-C drops the current input: the
 * handler only sets a flag; readline runs through its callback interface in a
 * select() loop, which the signal interrupts, and the line is reset there,
 * outside the handler (readline is not async-signal-safe).
 *
 * Attached (`--attach ID [--write]`, docs/live.md "A REPL on a running
 * session"). The session's control socket is found by
 * paper_sessions.control_socket (mts_paper_get_control), else by the path
 * rule of live/control.h; every reason it cannot be used (no such session,
 * not running, no socket, not a socket, permission denied) is an error that
 * says what to do, before the REPL starts (exit 1). The client
 * (mts_control_connect, live/control.c) is handed to repl.lua as a userdata
 * "mts.control" with :call(request_json [, timeout_ms]) -> reply line | nil,
 * message and :close(); repl.lua builds the global `session` on it. The
 * session is another process: a Ctrl-C here interrupts this REPL only (a
 * call waiting for its reply returns at its timeout at the latest and the
 * chunk stops with "interrupted"); leaving (.detach, Ctrl-D) closes the
 * connection, which never disturbs the session. */
#include "cmd/cmd.h"
#include "util/config.h"
#include "live/control.h"
#include "lua/api.h"
#include "lua/state.h"
#include "store/paper.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>
#include <luajit.h>
#include <readline/history.h>
#include <readline/readline.h>

static lua_State *volatile running_L;
static volatile sig_atomic_t interrupt_flag;

/* Polled through the FFI by the ticks of the running chunk: 1 once after a
 * Ctrl-C (the flag is cleared). */
int mts_repl_poll_interrupt(void);
int mts_repl_poll_interrupt(void) {
    if (!interrupt_flag) return 0;
    interrupt_flag = 0;
    return 1;
}
static volatile sig_atomic_t at_prompt, prompt_sigint;
static int dropped;
static lua_State *session_L;
static int repl_ref = LUA_NOREF;
static char main_prompt[64] = "mts> ";   /* attached: "mts[ID]> " */

static void interrupt_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    luaL_error(L, "interrupted");
}

static void on_sigint(int sig) {
    (void)sig;
    lua_State *L = running_L;
    if (L) {
        interrupt_flag = 1;
        lua_sethook(L, interrupt_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
    } else if (at_prompt) {
        prompt_sigint = 1;   /* read_tty() drops the line, outside this handler */
    }
}

/* Calls repl.<fn>(arg) with the interrupt armed; leaves nres results. */
static int call_repl(const char *fn, const char *arg, int nres) {
    lua_State *L = session_L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, repl_ref);
    lua_getfield(L, -1, fn);
    lua_remove(L, -2);
    int nargs = 0;
    if (arg) {
        lua_pushstring(L, arg);
        nargs = 1;
    }
    char err[512];
    interrupt_flag = 0;          /* a Ctrl-C that came after the last chunk ended */
    running_L = L;
    int rc = mts_lua_pcall(L, nargs, nres, err, sizeof err);
    running_L = NULL;
    lua_sethook(L, NULL, 0, 0);
    if (rc != 0) {
        printf("error: %s\n", err);
        fflush(stdout);
        for (int i = 0; i < nres; i++) lua_pushnil(L);
    }
    return rc;
}

/* ---- completion ---------------------------------------------------------------------- */

static char **cands;
static int n_cands;

static void free_cands(void) {
    for (int i = 0; i < n_cands; i++) free(cands[i]);   /* strdup'd for readline */
    free(cands);
    cands = NULL;
    n_cands = 0;
}

static char *generator(const char *text, int state) {
    (void)text;
    static int next;
    if (state == 0) next = 0;
    /* readline frees what it gets with free(): hand it strdup'd copies */
    return next < n_cands ? strdup(cands[next++]) : NULL;
}

static char **complete(const char *text, int start, int end) {
    (void)start;
    (void)end;
    rl_attempted_completion_over = 1;
    free_cands();
    lua_State *L = session_L;
    if (call_repl("complete", text, 1) != 0 || !lua_istable(L, -1)) {
        lua_pop(L, 1);
        return NULL;
    }
    int n = (int)lua_objlen(L, -1);
    cands = calloc((size_t)n + 1, sizeof *cands);
    for (int i = 1; cands && i <= n; i++) {
        lua_rawgeti(L, -1, i);
        const char *s = lua_tostring(L, -1);
        if (s) cands[n_cands++] = strdup(s);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    if (n_cands == 0) return NULL;
    rl_completion_append_character = '\0';
    return rl_completion_matches(text, generator);
}

/* ---- the session ------------------------------------------------------------------------ */

static const char *history_path(char *buf, size_t n) {
    const char *h = getenv("MTS_HISTORY");
    if (h && *h) return h;
    const char *home = getenv("HOME");
    if (!home || !*home) return NULL;
    snprintf(buf, n, "%s/.mts_history", home);
    return buf;
}

static char *cb_line;
static int cb_done;

static void on_line(char *line) {
    cb_line = line;
    cb_done = 1;
    rl_callback_handler_remove();
}

/* readline through its callback interface: a SIGINT interrupts select(), and
 * the line being typed is dropped here. Returns the line (malloc'd), NULL at
 * end of input, or "" with `dropped` set after a Ctrl-C. */
static char *read_tty(const char *prompt) {
    cb_done = 0;
    cb_line = NULL;
    prompt_sigint = 0;
    rl_callback_handler_install(prompt, on_line);
    int fd = fileno(rl_instream ? rl_instream : stdin);
    while (!cb_done) {
        fd_set fds;
        FD_ZERO(&fds);
        FD_SET(fd, &fds);
        int r = select(fd + 1, &fds, NULL, NULL, NULL);
        if (prompt_sigint) {
            prompt_sigint = 0;
            dropped = 1;
            rl_free_line_state();
            rl_callback_sigcleanup();
            rl_callback_handler_remove();
            if (write(STDOUT_FILENO, "^C\n", 3) < 0) { /* nothing to do */ }
            char *empty = malloc(1);
            if (empty) empty[0] = '\0';
            return empty;
        }
        if (r < 0) {
            if (errno == EINTR) continue;
            rl_callback_handler_remove();
            return NULL;
        }
        if (r > 0) rl_callback_read_char();
    }
    return cb_line;
}

static char *read_plain(const char *prompt, int tty) {
    if (tty) return read_tty(prompt);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len = getline(&line, &cap, stdin);
    if (len < 0) {
        free(line);
        return NULL;
    }
    if (len > 0 && line[len - 1] == '\n') line[len - 1] = '\0';
    return line;   /* malloc'd by getline, freed with free() like readline's */
}

static int interactive(void) {
    int tty = isatty(STDIN_FILENO);
    char hbuf[1024];
    const char *hist = tty ? history_path(hbuf, sizeof hbuf) : NULL;
    if (tty) {
        rl_readline_name = "mts";
        rl_catch_signals = 0;
        rl_attempted_completion_function = complete;
        rl_basic_word_break_characters = " \t\n\"\\'`@$><=;|&{(,+-*/%^#~[]";
        rl_completer_word_break_characters = rl_basic_word_break_characters;
        using_history();
        if (hist && read_history(hist) != 0) write_history(hist);
        printf("mts %s — Lua over the mts API. .help for help, Ctrl-D to leave.\n", MTS_VERSION);
    }
    char *chunk = NULL;
    size_t chunk_len = 0;
    for (;;) {
        at_prompt = 1;
        dropped = 0;
        char *line = read_plain(chunk ? "...> " : main_prompt, tty);
        at_prompt = 0;
        if (!line) break;   /* Ctrl-D */
        if (dropped && chunk) {
            mts_free(chunk);
            chunk = NULL;
            chunk_len = 0;
        }
        if (!chunk && line[strspn(line, " \t")] == '\0') {
            free(line);
            continue;
        }
        if (!chunk && line[0] == '.') {
            if (tty) {
                add_history(line);
                if (hist) append_history(1, hist);
            }
            call_repl("dot", line, 1);
            int quit = lua_isstring(session_L, -1);
            lua_pop(session_L, 1);
            free(line);
            if (quit) break;
            continue;
        }
        size_t len = strlen(line);
        char *grown = mts_realloc(chunk, chunk_len + len + 2);
        if (!grown) {
            free(line);
            break;
        }
        chunk = grown;
        if (chunk_len) chunk[chunk_len++] = '\n';
        memcpy(chunk + chunk_len, line, len + 1);
        chunk_len += len;
        free(line);

        call_repl("eval", chunk, 1);
        const char *status = lua_tostring(session_L, -1);
        int incomplete = status && strcmp(status, "incomplete") == 0;
        lua_pop(session_L, 1);
        if (incomplete) continue;
        if (tty) {
            add_history(chunk);
            if (hist) append_history(1, hist);
        }
        mts_free(chunk);
        chunk = NULL;
        chunk_len = 0;
        lua_gc(session_L, LUA_GCSTEP, 0);
    }
    if (chunk) mts_free(chunk);
    if (tty) {
        printf("\n");
        if (hist) history_truncate_file(hist, 1000);
    }
    free_cands();
    return MTS_EXIT_OK;
}

/* Runs a file or -e code: 0 ok, 1 on a Lua error (printed). */
static int run_code(const char *code, const char *file, int argc, char **argv) {
    lua_State *L = session_L;
    if (code) {
        call_repl("eval", code, 1);
        const char *st = lua_tostring(L, -1);
        int bad = !st || strcmp(st, "ok") != 0;
        if (st && strcmp(st, "incomplete") == 0) fprintf(stdout, "error: -e: unfinished chunk\n");
        lua_pop(L, 1);
        return bad;
    }
    lua_createtable(L, argc, 1);
    lua_pushstring(L, file);
    lua_rawseti(L, -2, 0);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setglobal(L, "arg");
    lua_rawgeti(L, LUA_REGISTRYINDEX, repl_ref);
    lua_getfield(L, -1, "load_file");
    lua_remove(L, -2);
    lua_pushstring(L, file);
    if (lua_pcall(L, 1, 2, 0) != 0 || lua_isnil(L, -2)) {
        printf("error: %s\n", lua_tostring(L, -1));
        lua_pop(L, 2);
        return 1;
    }
    lua_pop(L, 1);       /* the fn stays */
    lua_rawgeti(L, LUA_REGISTRYINDEX, repl_ref);
    lua_getfield(L, -1, "run");
    lua_remove(L, -2);
    lua_insert(L, -2);   /* run, fn */
    char err[512];
    interrupt_flag = 0;          /* a Ctrl-C that came after the last chunk ended */
    running_L = L;
    int rc = mts_lua_pcall(L, 1, 2, err, sizeof err);
    running_L = NULL;
    lua_sethook(L, NULL, 0, 0);
    if (rc != 0) {
        printf("error: %s\n", err);
        return 1;
    }
    int ok = lua_toboolean(L, -2);
    if (!ok) printf("error: %s\n", lua_tostring(L, -1));
    lua_pop(L, 2);
    return !ok;
}

/* ---- attached: the session's control socket ----------------------------------------------- */

#define CONTROL_MT "mts.control"
#define ATTACH_TIMEOUT_MS 10000   /* a reply comes within a websocket round of the session */

typedef struct control_ud {
    mts_control_client_t *c;
} control_ud_t;

/* conn:call(request_json [, timeout_ms]) -> reply line | nil, message, code
 * (code: "timeout", "closed" or "error") */
static int l_control_call(lua_State *L) {
    control_ud_t *u = luaL_checkudata(L, 1, CONTROL_MT);
    const char *req = luaL_checkstring(L, 2);
    int timeout = (int)luaL_optinteger(L, 3, ATTACH_TIMEOUT_MS);
    if (!u->c) {
        lua_pushnil(L);
        lua_pushstring(L, "detached: start mts repl --attach ID again");
        lua_pushstring(L, "closed");
        return 3;
    }
    char *reply = NULL;
    char err[512] = "";
    int rc = mts_control_call(u->c, req, &reply, timeout, err, sizeof err);
    if (rc != 0) {
        mts_free(reply);
        lua_pushnil(L);
        lua_pushstring(L, err[0] ? err : mts_strerror(rc));
        lua_pushstring(L, rc == MTS_EBUSY ? "timeout" : rc == MTS_EIO ? "closed" : "error");
        return 3;
    }
    lua_pushstring(L, reply ? reply : "");
    mts_free(reply);
    return 1;
}

static int l_control_close(lua_State *L) {
    control_ud_t *u = luaL_checkudata(L, 1, CONTROL_MT);
    mts_control_close(u->c);
    u->c = NULL;
    return 0;
}

/* The socket path by the rule of live/control.h, computed only (the client
 * creates nothing). */
static void rule_path(int64_t id, char *out, size_t n) {
    const char *d = getenv("MTS_CONTROL_DIR");
    if (d && *d)
        snprintf(out, n, "%s/session-%lld.sock", d, (long long)id);
    else if ((d = getenv("XDG_RUNTIME_DIR")) && *d)
        snprintf(out, n, "%s/mts/session-%lld.sock", d, (long long)id);
    else
        snprintf(out, n, "/tmp/mts-%u/session-%lld.sock", (unsigned)getuid(), (long long)id);
}

/* Finds and connects to session id's socket; prints the error (what, and how
 * to fix it) and returns NULL when it cannot. */
static mts_control_client_t *attach_connect(mts_store_t *store, const char *db_path, int64_t id, int write,
                                            char *hello, size_t hlen) {
    char status[32] = "", path[1024] = "";
    int rc = mts_paper_get_control(store, id, status, sizeof status, path, sizeof path);
    if (rc == MTS_ENOTFOUND) {
        fprintf(stderr,
                "mts repl: no paper session %lld in %s: the sessions are listed by mts repl -e 'mts.sessions()'"
                " (or GET /paper/sessions of mts serve); --db PATH names another database\n",
                (long long)id, db_path);
        return NULL;
    }
    if (rc != 0) {
        fprintf(stderr, "mts repl: session %lld in %s: %s\n", (long long)id, db_path, mts_store_errmsg(store));
        return NULL;
    }
    if (strcmp(status, "running") != 0) {
        fprintf(stderr,
                "mts repl: session %lld is %s, not running: --attach works on a running mts run session;"
                " what it did is stored (mts repl -e 'mts.sessions()', mts replay %lld)\n",
                (long long)id, status, (long long)id);
        return NULL;
    }
    int from_rule = path[0] == '\0';
    if (from_rule) rule_path(id, path, sizeof path);
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == EACCES)
            fprintf(stderr,
                    "mts repl: session %lld: permission denied on %s (its directory is the session's user's):"
                    " attach as the session's user\n",
                    (long long)id, path);
        else if (from_rule)
            fprintf(stderr,
                    "mts repl: session %lld has no control socket (none recorded, none at %s): it started before"
                    " this version of mts or could not create its socket (its log says why: event"
                    " live.control_unavailable); restart it to attach, or check MTS_CONTROL_DIR is the"
                    " session's\n",
                    (long long)id, path);
        else
            fprintf(stderr,
                    "mts repl: session %lld's control socket %s is gone (%s): the session stopped or its process"
                    " died without recording it; check its status with mts repl -e 'mts.sessions()'\n",
                    (long long)id, path, strerror(errno));
        return NULL;
    }
    if (!S_ISSOCK(st.st_mode)) {
        fprintf(stderr,
                "mts repl: session %lld: %s is not a socket: refusing to attach (something else is at the"
                " session's socket path; the session writes its socket under MTS_CONTROL_DIR, a 0700"
                " directory of its own)\n",
                (long long)id, path);
        return NULL;
    }
    if (access(path, R_OK | W_OK) != 0 && errno == EACCES) {
        fprintf(stderr,
                "mts repl: session %lld: permission denied on %s (owned by uid %u, you are uid %u): attach as"
                " the session's user\n",
                (long long)id, path, (unsigned)st.st_uid, (unsigned)getuid());
        return NULL;
    }
    mts_control_client_t *c = NULL;
    char err[512] = "";
    rc = mts_control_connect(path, write, &c, hello, hlen, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "mts repl: session %lld: %s\n", (long long)id, err[0] ? err : mts_strerror(rc));
        return NULL;
    }
    return c;
}

/* Hands the client to repl.attach(conn, hello, write, id): the global
 * `session`; leaves the banner (a string) on the stack, or nil. */
static int open_attached(lua_State *L, mts_control_client_t *c, const char *hello, int write, int64_t id) {
    luaL_newmetatable(L, CONTROL_MT);
    lua_pushcfunction(L, l_control_close);
    lua_setfield(L, -2, "__gc");
    lua_newtable(L);
    lua_pushcfunction(L, l_control_call);
    lua_setfield(L, -2, "call");
    lua_pushcfunction(L, l_control_close);
    lua_setfield(L, -2, "close");
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);

    lua_rawgeti(L, LUA_REGISTRYINDEX, repl_ref);
    lua_getfield(L, -1, "attach");
    lua_remove(L, -2);
    control_ud_t *u = lua_newuserdata(L, sizeof *u);
    u->c = c;   /* owned by the userdata from here: closed by :close() or __gc */
    luaL_getmetatable(L, CONTROL_MT);
    lua_setmetatable(L, -2);
    lua_pushstring(L, hello);
    lua_pushboolean(L, write);
    lua_pushnumber(L, (lua_Number)id);
    char err[512];
    if (mts_lua_pcall(L, 4, 1, err, sizeof err) != 0) {
        fprintf(stderr, "mts repl: session %lld: %s\n", (long long)id, err);
        return -1;
    }
    return 0;
}

static void usage(FILE *f) {
    fprintf(f,
        "usage: mts repl [--db PATH] [--no-jit] [-e CODE | SCRIPT.lua [ARGS...]]\n"
        "       mts repl --attach ID [--write] [--db PATH] [-e CODE | SCRIPT.lua [ARGS...]]\n\n"
        "An interactive Lua session over the mts API (docs/lua-api.md): market data, series,\n"
        "indicators, backtests and terminal charts. With -e, runs CODE and exits (an expression\n"
        "prints its value); with a script, runs it with the same API (ARGS in the global arg).\n\n"
        "options:\n"
        "  --db PATH   database (default $DATABASE_PATH or data/mts.db)\n"
        "  -e CODE     run CODE and exit (status 1 on an error)\n"
        "  --no-jit    turn LuaJIT's compiler off for the session (for debugging)\n"
        "  --attach ID attach to the running paper session ID (mts run) over its local control\n"
        "              socket (docs/live.md \"A REPL on a running session\"): the global `session`\n"
        "              reads its status, books, positions, strategy state and signals; read-only\n"
        "  --write     with --attach: also pause/resume a strategy, set a parameter, reload\n"
        "              (each logged, published on the bus and recorded for mts replay)\n\n"
        "session: `=expr` or a bare expression prints its value, an unfinished chunk continues on\n"
        "the next line, Tab completes, Ctrl-C stops a computation, Ctrl-D leaves; history in\n"
        "$MTS_HISTORY or ~/.mts_history. Dot-commands: .help .reload NAME .strategies .db .quit\n"
        "attached: session:status() :books() :positions() :ctx(S [, A]) :signals([N]) :pause(S)\n"
        "  :resume(S) :set(S, K, V) :reload([S]), and .status .books .positions .ctx S [A]\n"
        "  .signals [N] .pause S .resume S .set S K V .reload [S] .detach. Ctrl-C stops this REPL's\n"
        "  computation, never the session; .detach or Ctrl-D leaves it running.\n\n"
        "examples:\n"
        "  mts repl\n"
        "  mts repl -e 'print(mts.backtest{strategy=\"sma_cross\", asset=\"ethereum\"}.total_return)'\n"
        "  mts repl research.lua\n"
        "  mts repl --attach 17                      # read-only: .status, .books, .ctx sma_cross\n"
        "  mts repl --attach 17 --write              # then: .set sma_cross fast 5, .pause sma_cross\n"
        "  mts repl --attach 17 -e 'session:books()'\n");
}

int mts_cmd_repl(int argc, char **argv) {
    const char *db = NULL, *code = NULL, *script = NULL, *attach = NULL;
    int jit = 1, script_at = argc, write = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return MTS_EXIT_OK;
        } else if (strcmp(a, "--no-jit") == 0) {
            jit = 0;
        } else if (strcmp(a, "--write") == 0) {
            write = 1;
        } else if (strcmp(a, "--attach") == 0 || strncmp(a, "--attach=", 9) == 0) {
            if (a[8] == '=') attach = a + 9;
            else if (i + 1 < argc) attach = argv[++i];
            else {
                fprintf(stderr, "mts repl: --attach needs a session id, e.g. --attach 17 (see mts repl --help)\n");
                return MTS_EXIT_USAGE;
            }
        } else if ((strcmp(a, "--db") == 0 || strcmp(a, "-e") == 0) && i + 1 < argc) {
            if (a[1] == 'e') code = argv[++i];
            else db = argv[++i];
        } else if (strncmp(a, "--db=", 5) == 0) {
            db = a + 5;
        } else if (a[0] == '-' && a[1]) {
            static const char *const opts[] = {"--db", "--no-jit", "--attach", "--write", "--help", NULL};
            const char *near = mts_cli_suggest(a, opts);
            if (near) fprintf(stderr, "mts repl: unknown option '%s' (did you mean %s? see mts repl --help)\n", a, near);
            else fprintf(stderr, "mts repl: unknown option '%s' (see mts repl --help)\n", a);
            return MTS_EXIT_USAGE;
        } else {
            script = a;
            script_at = i + 1;
            break;
        }
    }
    if (code && script) {
        fprintf(stderr, "mts repl: give -e CODE or a script, not both\n");
        return MTS_EXIT_USAGE;
    }
    int64_t attach_id = 0;
    if (attach) {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(attach, &end, 10);
        if (errno || end == attach || *end || v <= 0) {
            fprintf(stderr, "mts repl: --attach '%s': give a paper session's id, a positive integer (mts repl -e"
                            " 'mts.sessions()' lists them)\n", attach);
            return MTS_EXIT_USAGE;
        }
        attach_id = (int64_t)v;
    } else if (write) {
        fprintf(stderr, "mts repl: --write goes with --attach ID (it lets the REPL change a running session)\n");
        return MTS_EXIT_USAGE;
    }
    const char *db_path = mts_cli_db_path(db);
    mts_store_t *store = mts_cli_open_store(db_path);
    if (!store) return MTS_EXIT_ERROR;
    char hello[4096] = "";
    mts_control_client_t *client = NULL;
    if (attach) {
        client = attach_connect(store, db_path, attach_id, write, hello, sizeof hello);
        if (!client) {
            mts_store_close(store);
            return MTS_EXIT_ERROR;
        }
    }

    const char *root = mts_root();
    char err[512] = "";
    lua_State *L = NULL;
    if (mts_lua_state_new(root, &L, err, sizeof err) != 0) {
        fprintf(stderr, "error: %s\n", err);
        mts_control_close(client);
        mts_store_close(store);
        return MTS_EXIT_ERROR;
    }
    if (!jit) luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);
    mts_lua_open_api(L, store, root, db_path);
    mts_lua_api_set_cancel(L, &interrupt_flag);   /* Ctrl-C also stops a running mts.backtest */
    session_L = L;

    lua_getglobal(L, "require");
    lua_pushstring(L, "repl");
    if (mts_lua_pcall(L, 1, 1, err, sizeof err) != 0) {
        fprintf(stderr, "error: %s\n", err);
        mts_control_close(client);
        mts_lua_state_free(L);
        mts_store_close(store);
        return MTS_EXIT_ERROR;
    }
    repl_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    call_repl("init", NULL, 0);
    if (client) {
        /* the userdata owns the client from here (closed by .detach or the state's end) */
        if (open_attached(L, client, hello, write, attach_id) != 0) {
            mts_lua_state_free(L);
            mts_store_close(store);
            return MTS_EXIT_ERROR;
        }
        if (!code && !script && lua_isstring(L, -1)) {
            printf("%s\n", lua_tostring(L, -1));   /* the banner: session, strategies, read-only / write */
            fflush(stdout);
        }
        lua_pop(L, 1);
        snprintf(main_prompt, sizeof main_prompt, "mts[%lld]> ", (long long)attach_id);
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);

    int exit_code;
    if (code || script)
        exit_code = run_code(code, script, argc - script_at, argv + script_at) ? MTS_EXIT_ERROR : MTS_EXIT_OK;
    else
        exit_code = interactive();
    fflush(stdout);

    signal(SIGINT, SIG_DFL);
    session_L = NULL;
    mts_lua_state_free(L);
    mts_store_close(store);
    return exit_code;
}
