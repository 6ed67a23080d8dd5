/* replay.h — `mts replay`: a recorded paper session (store/events.h) run
 * again through the same code as `mts run` — the engine's live assets fed by
 * the recorded appends, the runner in live mode (scripts/lib/runner.lua),
 * live.c's wait driven by this source instead of the websocket — and its
 * signals, fills and equity compared with what the session stored
 * (paper_fills, paper_equity, signal_history). Other code or parameters
 * (opts.strategies, opts.params) over the same inputs give a second result to
 * set beside the recorded one (docs/live.md "Replay").
 *
 * The files the session loaded (strategies, config/strategies/NAME.json,
 * scripts/lib/aggregator.lua and risk.lua, config/mts.json) are written from
 * the record into a private root (a temporary directory, removed at the end);
 * each recorded reload writes the versions it loaded there before the runner
 * reloads, so the replay compiles exactly what the session compiled — a
 * broken edit included (it fails again, the old version keeps running).
 * Recorded code runs as the session ran it: strategies in the sandbox,
 * aggregator.lua and risk.lua as trusted library code — replay only records
 * from databases you trust.
 *
 * Shadow strategies (issue 14) are re-created from the options (their labels
 * and capitals) and their fills compared too, apart from the account's
 * (paper_fills.shadow); out->shadows sets each one's recorded book (its last
 * paper_books row) beside the replayed one.
 *
 * Needs live/live.h, lua/bridge.h, store/events.h. Errors: 0 / negative
 * MTS_E* with a message in err. */
#ifndef MTS_REPLAY_H
#define MTS_REPLAY_H

#include <stddef.h>
#include <stdint.h>
#include "store/events.h"
#include "store/store.h"

typedef struct mts_replay mts_replay_t;

/* ---- the source live.c reads (live.h cfg.replay) ---- */
/* The next recorded event (not consumed), NULL at the end. */
const mts_sevent_t *mts_replay_peek(mts_replay_t *r);
void mts_replay_advance(mts_replay_t *r);
/* A recorded blob (cached: valid until mts_replay_free). */
int mts_replay_blob(mts_replay_t *r, const char *hash, const void **data, size_t *n);
/* Writes a recorded file (a file event) into the replay's root. */
int mts_replay_put_file(mts_replay_t *r, const mts_sevent_t *ev);
const char *mts_replay_root(const mts_replay_t *r);
/* The recorded provider event (store/events.h MTS_EVK_PROVIDER) of the series
 * `what` as of wait: the last one recorded in a wait <= wait (a failure
 * recorded, then the series once it was there), else the first one recorded
 * (a replay with other code asking earlier); NULL when the session never
 * asked for it. */
const mts_sevent_t *mts_replay_provider(mts_replay_t *r, const char *what, int64_t wait);
/* Why mts_replay_put_file refused a file (NULL: it did not). */
const char *mts_replay_why(const mts_replay_t *r);

/* ---- a replay run ---- */
typedef struct mts_replay_opts {
    const char *const *strategies;   /* NULL: the session's */
    int n_strategies;
    const char *const *param_keys, *const *param_values;   /* on top of the session's --param */
    int n_params;
    int trust_record;                /* run recorded scripts/lib/ files (trusted code, outside
                                        the sandbox) that differ from the installed ones;
                                        0: such a record is refused (MTS_EVALID, mts_replay_why) */
} mts_replay_opts_t;

typedef struct mts_replay_side {      /* one column of the side-by-side table */
    int64_t trades, signals;          /* fills, signals */
    double pnl, fees, final_equity, ret, max_dd, sharpe;
    int64_t points;                   /* equity points */
} mts_replay_side_t;

/* A shadow strategy of the session (issue 14, docs/live.md "Shadow strategies"):
 * re-created with its recorded label and capital, its fills compared too. */
#define MTS_REPLAY_MAX_SHADOWS 8
typedef struct mts_replay_book {
    int64_t fills, trades;            /* fills; closed trades */
    double initial, final_equity, pnl, fees, ret;
} mts_replay_book_t;
typedef struct mts_replay_shadow {
    char label[256];
    int32_t book;                     /* its book in the replay's engine */
    mts_replay_book_t recorded, replayed;   /* recorded: the session's last paper_books row */
} mts_replay_shadow_t;

typedef struct mts_replay_result {
    int64_t session;
    char strategies[512];             /* the replay's */
    int same_code;                    /* neither --strategy nor --param */
    int identical;                    /* fills (the shadows' too), equity and signals equal the
                                         recorded ones */
    char divergence[1024];            /* the first difference ("" when identical) */
    int64_t div_ts;                   /* its step (unix s; 0 when identical) */
    mts_replay_side_t recorded, replayed;
    int64_t events, waits, reloads;   /* what the record held */
    int64_t controls;                 /* write requests of attached clients (pause, resume, set) */
    /* the two equity curves (for the report): mts_free'd by mts_replay_result_free */
    int64_t *rec_ts, *rep_ts;
    double *rec_eq, *rep_eq;
    int64_t n_rec, n_rep;
    double capital;
    mts_replay_book_t live;           /* the account, replayed (recorded: `recorded` above) */
    mts_replay_shadow_t shadows[MTS_REPLAY_MAX_SHADOWS];
    int n_shadows;
} mts_replay_result_t;

int  mts_replay_run(mts_store_t *s, int64_t session, const mts_replay_opts_t *opts, mts_replay_result_t *out,
                    char *err, size_t errlen);
void mts_replay_result_free(mts_replay_result_t *r);
/* A self-contained HTML page: the table and both equity curves. */
int  mts_replay_report_html(FILE *f, const mts_replay_result_t *r);

#endif
