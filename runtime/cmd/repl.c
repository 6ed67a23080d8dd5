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
 * outside the handler (readline is not async-signal-safe). */
#include "cmd/cmd.h"
#include "util/config.h"
#include "lua/api.h"
#include "lua/state.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
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
        char *line = read_plain(chunk ? "...> " : "mts> ", tty);
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

static void usage(FILE *f) {
    fprintf(f,
        "usage: mts repl [--db PATH] [--no-jit] [-e CODE | SCRIPT.lua [ARGS...]]\n\n"
        "An interactive Lua session over the mts API (docs/lua-api.md): market data, series,\n"
        "indicators, backtests and terminal charts. With -e, runs CODE and exits (an expression\n"
        "prints its value); with a script, runs it with the same API (ARGS in the global arg).\n\n"
        "options:\n"
        "  --db PATH   database (default $DATABASE_PATH or data/mts.db)\n"
        "  -e CODE     run CODE and exit (status 1 on an error)\n"
        "  --no-jit    turn LuaJIT's compiler off for the session (for debugging)\n\n"
        "session: `=expr` or a bare expression prints its value, an unfinished chunk continues on\n"
        "the next line, Tab completes, Ctrl-C stops a computation, Ctrl-D leaves; history in\n"
        "$MTS_HISTORY or ~/.mts_history. Dot-commands: .help .reload NAME .strategies .db .quit\n\n"
        "examples:\n"
        "  mts repl\n"
        "  mts repl -e 'print(mts.backtest{strategy=\"sma_cross\", asset=\"ethereum\"}.total_return)'\n"
        "  mts repl research.lua\n");
}

int mts_cmd_repl(int argc, char **argv) {
    const char *db = NULL, *code = NULL, *script = NULL;
    int jit = 1, script_at = argc;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return MTS_EXIT_OK;
        } else if (strcmp(a, "--no-jit") == 0) {
            jit = 0;
        } else if ((strcmp(a, "--db") == 0 || strcmp(a, "-e") == 0) && i + 1 < argc) {
            if (a[1] == 'e') code = argv[++i];
            else db = argv[++i];
        } else if (strncmp(a, "--db=", 5) == 0) {
            db = a + 5;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "mts repl: unknown option '%s' (see mts repl --help)\n", a);
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
    const char *db_path = mts_cli_db_path(db);
    mts_store_t *store = mts_cli_open_store(db_path);
    if (!store) return MTS_EXIT_ERROR;

    const char *root = mts_root();
    char err[512] = "";
    lua_State *L = NULL;
    if (mts_lua_state_new(root, &L, err, sizeof err) != 0) {
        fprintf(stderr, "error: %s\n", err);
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
        mts_lua_state_free(L);
        mts_store_close(store);
        return MTS_EXIT_ERROR;
    }
    repl_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    call_repl("init", NULL, 0);

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
