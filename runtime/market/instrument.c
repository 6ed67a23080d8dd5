/* instrument.c — an asset's instrument from the options and config/mts.json (see instrument.h). */
#include "market/instrument.h"
#include "util/config.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>


static cJSON *obj_at(const cJSON *o, const char *key) {
    cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
    return cJSON_IsObject(v) ? v : NULL;
}

/* absent -> *out untouched; else finite and >= 0, or MTS_EINVAL naming it */
static int num(const cJSON *sec, const char *asset, const char *market, const char *key, double *out, char *err,
               size_t errlen) {
    cJSON *v = sec ? cJSON_GetObjectItemCaseSensitive(sec, key) : NULL;
    if (!v) return 0;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0)
        return mts_errf(err, errlen, MTS_EINVAL, "config/mts.json: instruments.%s.%s.%s must be a number >= 0",
                        asset, market, key);
    *out = v->valuedouble;
    return 0;
}

int mts_instrument_resolve_in(const struct cJSON *cfg, const char *asset, const mts_instrument_opts_t *o, mts_instrument_t *ins,
                   char *symbol, size_t symlen, char *exchange, size_t exlen, char *err, size_t errlen) {
    cJSON *ic = obj_at(obj_at(cfg, "instruments"), asset);
    const char *market = o->market;
    if (!market) {
        cJSON *m = ic ? cJSON_GetObjectItemCaseSensitive(ic, "market") : NULL;
        if (m && !cJSON_IsString(m))
            return mts_errf(err, errlen, MTS_EINVAL,
                            "config/mts.json: instruments.%s.market must be \"spot\" or \"perp\"", asset);
        market = m ? m->valuestring : "spot";
    }
    int perp;
    if (!strcmp(market, "spot")) perp = 0;
    else if (!strcmp(market, "perp")) perp = 1;
    else return mts_errf(err, errlen, MTS_EINVAL, "market '%s' for %s: spot or perp", market, asset);
    cJSON *sec = obj_at(ic, perp ? "perp" : "spot");
    if (perp && !sec)
        return mts_errf(err, errlen, MTS_EINVAL,
                        "%s has no perpetual in config/mts.json: add instruments.%s.perp {symbol, exchange, "
                        "contract_size, tick_size, lot_size, maker_fee_bps, taker_fee_bps, max_leverage, "
                        "maintenance_margin_rate}", asset, asset);
    memset(ins, 0, sizeof *ins);
    ins->type = perp ? MTS_INST_PERP : MTS_INST_SPOT;
    ins->contract_size = 1;
    ins->maker_fee_bps = ins->taker_fee_bps = o->commission_bps;
    ins->max_leverage = 1;
    int rc;
    if ((rc = num(sec, asset, market, "contract_size", &ins->contract_size, err, errlen)) ||
        (rc = num(sec, asset, market, "tick_size", &ins->tick_size, err, errlen)) ||
        (rc = num(sec, asset, market, "lot_size", &ins->lot_size, err, errlen)) ||
        (rc = num(sec, asset, market, "maker_fee_bps", &ins->maker_fee_bps, err, errlen)) ||
        (rc = num(sec, asset, market, "taker_fee_bps", &ins->taker_fee_bps, err, errlen)))
        return rc;
    if (perp && ((rc = num(sec, asset, market, "max_leverage", &ins->max_leverage, err, errlen)) ||
                 (rc = num(sec, asset, market, "maintenance_margin_rate", &ins->maintenance_margin_rate, err,
                           errlen))))
        return rc;
    if (o->has_maker) ins->maker_fee_bps = o->maker_bps;
    if (o->has_taker) ins->taker_fee_bps = o->taker_bps;
    if (symbol && symlen) symbol[0] = 0;
    if (exchange && exlen) exchange[0] = 0;
    if (perp) {
        cJSON *sy = cJSON_GetObjectItemCaseSensitive(sec, "symbol");
        cJSON *ex = cJSON_GetObjectItemCaseSensitive(sec, "exchange");
        if (symbol && symlen && cJSON_IsString(sy)) snprintf(symbol, symlen, "%s", sy->valuestring);
        if (exchange && exlen && cJSON_IsString(ex)) snprintf(exchange, exlen, "%s", ex->valuestring);
    }
    return 0;
}

int mts_instrument_resolve(const char *root, const char *asset, const mts_instrument_opts_t *o,
                           mts_instrument_t *ins, char *symbol, size_t symlen, char *exchange, size_t exlen,
                           char *err, size_t errlen) {
    if (!asset || !o || !ins) return mts_errf(err, errlen, MTS_EINVAL, "instrument: missing argument");
    cJSON *cfg = mts_config_site(root);
    int rc = mts_instrument_resolve_in(cfg, asset, o, ins, symbol, symlen, exchange, exlen, err, errlen);
    cJSON_Delete(cfg);
    return rc;
}
