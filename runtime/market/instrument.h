/* instrument.h — the instrument of an asset for a run (issue 12): spot or
 * linear perpetual, with its contract size, tick/lot, maker/taker fees, max
 * leverage and maintenance margin rate, from the run's options and
 * config/mts.json "instruments" (engine.h mts_engine_set_instrument takes it).
 * One rule for `mts backtest` (backtest/backtest.c) and `mts run`
 * (live/live.c):
 * - market: opts->market ("spot" | "perp", every asset), else
 *   instruments.<asset>.market, else spot. A perp needs
 *   instruments.<asset>.perp (else MTS_EINVAL saying what to add).
 * - fields of instruments.<asset>.<market>: contract_size (1), tick_size (0),
 *   lot_size (0), maker_fee_bps / taker_fee_bps (opts->commission_bps),
 *   perp only: max_leverage (spot: 1), maintenance_margin_rate (0); each a
 *   number >= 0 (else MTS_EINVAL naming it). opts->has_maker / has_taker
 *   override the fees.
 * - the perp's symbol and exchange (instruments.<asset>.perp.symbol /
 *   .exchange): where its funding rates are stored (funding_rates); empty
 *   when not configured.
 * Needs cJSON. Errors: 0 / MTS_EINVAL with a one-line message in err. */
#ifndef MTS_MARKET_INSTRUMENT_H
#define MTS_MARKET_INSTRUMENT_H

#include <stddef.h>
#include "mts.h"
#include "lua/mts_ffi.h"

typedef struct mts_instrument_opts {
    const char *market;            /* "spot" / "perp" for every asset; NULL: the config's, else spot */
    double      commission_bps;    /* the fees when the config has none */
    double      maker_bps, taker_bps;
    int         has_maker, has_taker;
} mts_instrument_opts_t;

/* root: holds config/mts.json (NULL: mts_root()). symbol / exchange (may be
 * NULL): the perp's, "" when not configured or spot. */
int mts_instrument_resolve(const char *root, const char *asset, const mts_instrument_opts_t *o,
                           mts_instrument_t *ins, char *symbol, size_t symlen, char *exchange, size_t exlen,
                           char *err, size_t errlen);
/* The same over config/mts.json already decoded (util/config.h mts_config_site;
 * NULL: no config, the defaults). */
struct cJSON;
int mts_instrument_resolve_in(const struct cJSON *site, const char *asset, const mts_instrument_opts_t *o,
                              mts_instrument_t *ins, char *symbol, size_t symlen, char *exchange, size_t exlen,
                              char *err, size_t errlen);

#endif
