/* report.c — self-contained HTML reports with inline SVG charts (see report.h).
 * Everything is written straight to the FILE; nothing here computes a metric:
 * the numbers come from the stored run or the optimizer. */
#include "report/report.h"
#include "market/interval.h"
#include "util/timeutil.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- formatting ---- */

void mts_report_exact(double v, char buf[32]) {
    if (isnan(v)) { snprintf(buf, 32, "nan"); return; }
    if (isinf(v)) { snprintf(buf, 32, v > 0 ? "inf" : "-inf"); return; }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, 32, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return;
    }
}

static void esc(FILE *f, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

static const char *fmt_pct(char *buf, size_t n, double v) {
    if (isnan(v)) snprintf(buf, n, "n/a");
    else if (isinf(v)) snprintf(buf, n, v > 0 ? "inf" : "-inf");
    else snprintf(buf, n, "%.2f %%", v * 100.0);
    return buf;
}

static const char *fmt_num(char *buf, size_t n, double v, int decimals) {
    if (isnan(v)) snprintf(buf, n, "n/a");
    else if (isinf(v)) snprintf(buf, n, v > 0 ? "inf" : "-inf");
    else snprintf(buf, n, "%.*f", decimals, v);
    return buf;
}

/* 1234567.891 -> "1,234,567.89" */
static const char *fmt_money(char *buf, size_t n, double v) {
    if (!isfinite(v)) return fmt_num(buf, n, v, 2);
    char raw[64];
    snprintf(raw, sizeof raw, "%.2f", fabs(v));
    char *dot = strchr(raw, '.');
    int int_len = dot ? (int)(dot - raw) : (int)strlen(raw);
    size_t j = 0;
    if (v < 0 && strcmp(raw, "0.00") != 0 && j + 1 < n) buf[j++] = '-';
    for (int i = 0; i < int_len && j + 2 < n; i++) {
        buf[j++] = raw[i];
        int left = int_len - i - 1;
        if (left > 0 && left % 3 == 0) buf[j++] = ',';
    }
    snprintf(buf + j, n - j, "%s", dot ? dot : "");
    return buf;
}

static void date_of(int64_t ts, char buf[16]) { mts_time_format_date(ts, buf); }

/* A trade's time as the report shows it: the date for runs on daily or
 * coarser bars, "YYYY-MM-DD HH:MM" (UTC) for intraday ones. */
static const char *interval_of(const mts_stored_run_t *r) { return r->interval[0] ? r->interval : "1d"; }
static int intraday_run(const mts_stored_run_t *r) {
    const char *iv = interval_of(r);
    return strcmp(iv, "1d") != 0 && strcmp(iv, "3d") != 0 && strcmp(iv, "1w") != 0;
}
static void when_of(const mts_stored_run_t *r, int64_t ts, char buf[32]) {
    if (!intraday_run(r)) { mts_time_format_date(ts, buf); return; }
    char iso[32];
    mts_time_format_iso(ts, iso);            /* 2024-01-02T13:00:00Z */
    snprintf(buf, 32, "%.10s %.5s", iso, iso + 11);
}

static void ym_of(int64_t ts, int *year, int *month) {
    time_t t = (time_t)ts;
    struct tm tm;
    gmtime_r(&t, &tm);
    *year = tm.tm_year + 1900;
    *month = tm.tm_mon + 1;
}

/* ---- monthly returns ---- */

int64_t mts_report_monthly(const mts_series_t *eq, double initial, mts_month_return_t *out, int64_t cap) {
    if (!eq || eq->n <= 0) return 0;
    int64_t k = 0;
    double prev_end = initial;
    for (int64_t i = 0; i < eq->n; i++) {
        int y, m;
        ym_of(eq->ts[i], &y, &m);
        int last = i + 1 == eq->n;
        if (!last) {
            int y2, m2;
            ym_of(eq->ts[i + 1], &y2, &m2);
            last = y2 != y || m2 != m;
        }
        if (!last) continue;
        if (k < cap) out[k] = (mts_month_return_t){y, m, eq->v[i] / prev_end - 1.0};
        prev_end = eq->v[i];
        k++;
    }
    return k;
}

/* ---- page ---- */

static const char *CSS =
    "body{font:14px/1.4 -apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;"
    "max-width:1040px;color:#1d2330;background:#fff}"
    "h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde;"
    "padding-bottom:4px}.sub{color:#5a6475;margin:0 0 16px}"
    "table{border-collapse:collapse;font-variant-numeric:tabular-nums}"
    "th,td{padding:3px 10px;border-bottom:1px solid #eef;text-align:right}"
    "th{background:#f4f6fa;font-weight:600}td.l,th.l{text-align:left}"
    "table.kv td:first-child{text-align:left;color:#5a6475}"
    ".pos{color:#17813f}.neg{color:#c0392b}.note{color:#8a5a00;background:#fff7e0;padding:8px 12px}"
    "pre{background:#f4f6fa;padding:8px 12px;overflow:auto;font-size:12px}"
    "svg{display:block;margin:6px 0}svg text{font-size:11px;fill:#5a6475}"
    ".grid line{stroke:#e6e9f0}.axis{stroke:#9aa3b2}"
    "path.equity{fill:none;stroke:#2563eb;stroke-width:1.5}"
    "path.benchmark{fill:none;stroke:#a3acbd;stroke-width:1.2}"
    "path.drawdown{fill:#f3b4ae;stroke:#c0392b;stroke-width:1}"
    ".entry.long{fill:#17813f}.entry.short{fill:#c0392b}.exit{stroke:#1d2330;stroke-width:1}"
    ".exit.win{fill:#9be3b5}.exit.loss{fill:#f5a59c}"
    "table.heat td{min-width:52px;text-align:center}table.heat td.na{color:#aab}"
    ".legend span{display:inline-block;margin-right:14px}.legend svg{display:inline;margin:0 4px 0 0}"
    "div.scroll{max-height:560px;overflow:auto}";

static void page_start(FILE *f, const char *title) {
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>", f);
    esc(f, title);
    fprintf(f, "</title>\n<meta name=\"generator\" content=\"mts %s\">\n<style>%s</style>\n</head><body>\n",
            MTS_VERSION, CSS);
}

static int page_end(FILE *f) {
    fprintf(f, "<p class=\"sub\">Generated by mts %s. Self-contained: no scripts, nothing loaded "
               "from the network.</p>\n</body></html>\n", MTS_VERSION);
    fflush(f);
    return ferror(f) ? MTS_EIO : 0;
}

/* ---- charts ---- */

enum { CW = 960, CL = 78, CR = 16, CT = 12, CB = 28 };

typedef struct {
    int h;
    int64_t t0, t1;
    double vmin, vmax;
} frame_t;

static double fx(const frame_t *fr, int64_t ts) {
    if (fr->t1 <= fr->t0) return CL;
    return CL + (double)(ts - fr->t0) / (double)(fr->t1 - fr->t0) * (CW - CL - CR);
}

static double fy(const frame_t *fr, double v) {
    double span = fr->vmax - fr->vmin;
    if (!(span > 0)) return CT + (fr->h - CT - CB) / 2.0;
    return CT + (fr->vmax - v) / span * (fr->h - CT - CB);
}

static double nice_step(double range, int n) {
    if (!(range > 0)) return 1;
    double raw = range / n, p = pow(10, floor(log10(raw))), q = raw / p;
    return (q <= 1 ? 1 : q <= 2 ? 2 : q <= 5 ? 5 : 10) * p;
}

/* Gridlines and labels; pct: y labels as percentages of a fraction. */
static void axes(FILE *f, const frame_t *fr, int pct) {
    fputs("<g class=\"grid\">", f);
    double step = nice_step(fr->vmax - fr->vmin, 5);
    for (double v = ceil(fr->vmin / step) * step; v <= fr->vmax + step * 1e-9; v += step) {
        double y = fy(fr, v);
        char lab[48];
        if (pct) snprintf(lab, sizeof lab, "%.0f%%", v * 100.0 + 0.0);
        else fmt_money(lab, sizeof lab, v), lab[strcspn(lab, ".")] = 0;
        fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\"/>"
                   "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>",
                CL, CW - CR, y, y, CL - 6, y + 4, lab);
    }
    for (int k = 0; k <= 6 && fr->t1 > fr->t0; k++) {
        int64_t ts = fr->t0 + (fr->t1 - fr->t0) * k / 6;
        char d[16];
        date_of(ts, d);
        double x = fx(fr, ts);
        fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\"/>"
                   "<text x=\"%.1f\" y=\"%d\" text-anchor=\"%s\">%s</text>",
                x, x, CT, fr->h - CB, x, fr->h - CB + 16, k == 0 ? "start" : k == 6 ? "end" : "middle", d);
    }
    fprintf(f, "</g><line class=\"axis\" x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\"/>", CL, CW - CR,
            fr->h - CB, fr->h - CB);
}

/* The points of a series as path commands; long series are reduced to the
 * min and max of each pixel column (so spikes stay visible). */
static void path_points(FILE *f, const frame_t *fr, const int64_t *ts, const double *v, int64_t n,
                        int first_is_move) {
    int64_t cols = CW - CL - CR;
    char cmd = first_is_move ? 'M' : 'L';
    if (n <= 2 * cols) {
        for (int64_t i = 0; i < n; i++) {
            fprintf(f, "%c%.1f,%.1f", cmd, fx(fr, ts[i]), fy(fr, v[i]));
            cmd = 'L';
        }
        return;
    }
    for (int64_t c = 0; c < cols; c++) {
        int64_t a = n * c / cols, b = n * (c + 1) / cols;
        if (b <= a) continue;
        int64_t lo = a, hi = a;
        for (int64_t i = a; i < b; i++) {
            if (v[i] < v[lo]) lo = i;
            if (v[i] > v[hi]) hi = i;
        }
        int64_t p = lo < hi ? lo : hi, q = lo < hi ? hi : lo;
        fprintf(f, "%c%.1f,%.1f", cmd, fx(fr, ts[p]), fy(fr, v[p]));
        cmd = 'L';
        if (q != p) fprintf(f, "L%.1f,%.1f", fx(fr, ts[q]), fy(fr, v[q]));
    }
}

/* Equity at ts: the last point at or before it (the first point before the curve starts). */
static double equity_at(const mts_series_t *eq, int64_t ts) {
    int64_t lo = 0, hi = eq->n - 1;
    if (ts <= eq->ts[0]) return eq->v[0];
    while (lo < hi) {
        int64_t mid = (lo + hi + 1) / 2;
        if (eq->ts[mid] <= ts) lo = mid;
        else hi = mid - 1;
    }
    return eq->v[lo];
}

/* The part of a benchmark inside the curve's time span [t0, t1]: *first and the count. */
static int64_t bench_span(const mts_series_t *b, int64_t t0, int64_t t1, int64_t *first) {
    *first = 0;
    if (!b || b->n <= 0 || !b->ts || !b->v) return 0;
    int64_t a = 0;
    while (a < b->n && b->ts[a] < t0) a++;
    int64_t e = a;
    while (e < b->n && b->ts[e] <= t1) e++;
    *first = a;
    return e - a;
}

/* stories: NULL or one per r->trades; bench: NULL or the benchmark line. */
static void equity_chart(FILE *f, const mts_stored_run_t *r, const mts_series_t *bench, const char *bench_label,
                         const mts_report_trade_story_t *stories) {
    const mts_series_t *eq = &r->equity;
    frame_t fr = {340, eq->ts[0], eq->ts[eq->n - 1], r->initial_capital, r->initial_capital};
    for (int64_t i = 0; i < eq->n; i++) {
        if (eq->v[i] < fr.vmin) fr.vmin = eq->v[i];
        if (eq->v[i] > fr.vmax) fr.vmax = eq->v[i];
    }
    int64_t b0 = 0, bn = bench_span(bench, fr.t0, fr.t1, &b0);
    for (int64_t i = b0; i < b0 + bn; i++) {
        if (bench->v[i] < fr.vmin) fr.vmin = bench->v[i];
        if (bench->v[i] > fr.vmax) fr.vmax = bench->v[i];
    }
    double pad = (fr.vmax - fr.vmin) * 0.05;
    if (!(pad > 0)) pad = fabs(fr.vmax) * 0.01 + 1;
    fr.vmin -= pad;
    fr.vmax += pad;
    fprintf(f, "<svg id=\"equity-chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
               "width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"equity curve\">", CW, fr.h, CW, fr.h);
    axes(f, &fr, 0);
    double y0 = fy(&fr, r->initial_capital);
    fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#9aa3b2\" stroke-dasharray=\"4 3\"/>",
            CL, CW - CR, y0, y0);
    if (bn > 0) {
        fputs("<path class=\"benchmark\" id=\"benchmark-line\" d=\"", f);
        path_points(f, &fr, bench->ts + b0, bench->v + b0, bn, 1);
        fputs("\"><title>", f);
        esc(f, bench_label);
        fputs("</title></path>\n", f);
    }
    fputs("<path class=\"equity\" d=\"", f);
    path_points(f, &fr, eq->ts, eq->v, eq->n, 1);
    fputs("\"/>\n<g class=\"markers\">", f);
    for (int64_t i = 0; i < r->n_trades; i++) {
        const mts_stored_trade_t *t = &r->trades[i];
        char d0[32], d1[32], pnl[48];
        when_of(r, t->entry_ts, d0);
        when_of(r, t->exit_ts, d1);
        fmt_money(pnl, sizeof pnl, t->pnl);
        double x = fx(&fr, t->entry_ts), y = fy(&fr, equity_at(eq, t->entry_ts));
        /* entry: a triangle pointing the way of the position */
        if (t->side > 0)
            fprintf(f, "<path class=\"marker entry long\" d=\"M%.1f,%.1fl-5,9h10z\">", x, y);
        else
            fprintf(f, "<path class=\"marker entry short\" d=\"M%.1f,%.1fl-5,-9h10z\">", x, y);
        fprintf(f, "<title>entry %s %s %s</title></path>", t->side > 0 ? "long" : "short", t->asset, d0);
        if (stories && stories[i].open) continue;   /* still open at the end: no exit */
        x = fx(&fr, t->exit_ts);
        y = fy(&fr, equity_at(eq, t->exit_ts));
        fprintf(f, "<circle class=\"marker exit %s\" cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\"><title>exit %s %s "
                   "pnl %s</title></circle>", t->pnl > 0 ? "win" : "loss", x, y, t->asset, d1, pnl);
    }
    fputs("</g></svg>\n", f);
    fputs("<p class=\"legend\"><span><svg width=\"12\" height=\"10\"><path class=\"entry long\" "
          "d=\"M6,0l-5,9h10z\"/></svg>long entry</span><span><svg width=\"12\" height=\"10\"><path "
          "class=\"entry short\" d=\"M6,10l-5,-9h10z\"/></svg>short entry</span><span><svg width=\"10\" "
          "height=\"10\"><circle class=\"exit win\" cx=\"5\" cy=\"5\" r=\"3.5\"/></svg>exit with a gain"
          "</span><span><svg width=\"10\" height=\"10\"><circle class=\"exit loss\" cx=\"5\" cy=\"5\" "
          "r=\"3.5\"/></svg>exit with a loss</span><span>dashed: initial capital</span>", f);
    if (bn > 0) {   /* data-final: the line's last value, exact */
        char raw[32];
        mts_report_exact(bench->v[b0 + bn - 1], raw);
        fprintf(f, "<span id=\"benchmark-legend\" data-final=\"%s\"><svg width=\"18\" height=\"10\">"
                   "<path class=\"benchmark\" d=\"M0,5h18\"/></svg>", raw);
        esc(f, bench_label);
        fputs("</span>", f);
    }
    fputs("</p>\n", f);
}

static void drawdown_chart(FILE *f, const mts_stored_run_t *r) {
    const mts_series_t *eq = &r->equity;
    double *dd = mts_malloc((size_t)eq->n * sizeof *dd);
    if (!dd) {
        fputs("<p class=\"note\">drawdown chart left out: out of memory</p>\n", f);
        return;
    }
    double peak = r->initial_capital, worst = 0;
    for (int64_t i = 0; i < eq->n; i++) {
        if (eq->v[i] > peak) peak = eq->v[i];
        dd[i] = peak > 0 ? -(peak - eq->v[i]) / peak : 0;
        if (dd[i] < worst) worst = dd[i];
    }
    frame_t fr = {200, eq->ts[0], eq->ts[eq->n - 1], worst < 0 ? worst * 1.05 : -0.01, 0};
    fprintf(f, "<svg id=\"drawdown-chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
               "width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"drawdown\">", CW, fr.h, CW, fr.h);
    axes(f, &fr, 1);
    fprintf(f, "<path class=\"drawdown\" d=\"M%.1f,%.1f", fx(&fr, eq->ts[0]), fy(&fr, 0));
    path_points(f, &fr, eq->ts, dd, eq->n, 0);
    fprintf(f, "L%.1f,%.1fZ\"/></svg>\n", fx(&fr, eq->ts[eq->n - 1]), fy(&fr, 0));
    mts_free(dd);
}

static void heat_color(char *buf, size_t n, double v, double scale) {
    if (!isfinite(v) || !(scale > 0)) { snprintf(buf, n, "#f4f6fa"); return; }
    double a = fabs(v) / scale;
    if (a > 1) a = 1;
    a = 0.12 + 0.78 * a;
    if (v >= 0) snprintf(buf, n, "rgba(23,129,63,%.2f)", a);
    else snprintf(buf, n, "rgba(192,57,43,%.2f)", a);
}

static void monthly_table(FILE *f, const mts_stored_run_t *r) {
    int64_t n = mts_report_monthly(&r->equity, r->initial_capital, NULL, 0);
    mts_month_return_t *m = n ? mts_malloc((size_t)n * sizeof *m) : NULL;
    if (!m) return;
    mts_report_monthly(&r->equity, r->initial_capital, m, n);
    double scale = 0;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(m[i].ret) && fabs(m[i].ret) > scale) scale = fabs(m[i].ret);
    static const char *const names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    fputs("<table id=\"monthly\" class=\"heat\"><tr><th class=\"l\">year</th>", f);
    for (int k = 0; k < 12; k++) fprintf(f, "<th>%s</th>", names[k]);
    fputs("<th>year</th></tr>\n", f);
    for (int64_t i = 0; i < n;) {
        int year = m[i].year;
        double cell[13];
        int has[13] = {0};
        double yr = 1;
        for (; i < n && m[i].year == year; i++) {
            cell[m[i].month] = m[i].ret;
            has[m[i].month] = 1;
            yr *= 1 + m[i].ret;
        }
        fprintf(f, "<tr><th class=\"l\">%d</th>", year);
        for (int k = 1; k <= 12; k++) {
            if (!has[k]) { fputs("<td class=\"na\"></td>", f); continue; }
            char col[40], txt[32], raw[32];
            heat_color(col, sizeof col, cell[k], scale);
            mts_report_exact(cell[k], raw);
            fprintf(f, "<td style=\"background:%s\" data-month=\"%d-%02d\" data-raw=\"%s\">%s</td>", col,
                    year, k, raw, fmt_pct(txt, sizeof txt, cell[k]));
        }
        char txt[32];
        fprintf(f, "<td class=\"%s\"><b>%s</b></td></tr>\n", yr >= 1 ? "pos" : "neg",
                fmt_pct(txt, sizeof txt, yr - 1));
    }
    fputs("</table>\n<p class=\"sub\">A month's return is its last equity point over the previous "
          "month's last point, minus 1 (the first month against the initial capital); the year "
          "column compounds the months.</p>\n", f);
    mts_free(m);
}

static void trades_table(FILE *f, const mts_stored_run_t *r, const mts_report_trade_story_t *stories) {
    fputs("<div class=\"scroll\"><table id=\"trades\"><tr><th>#</th><th class=\"l\">asset</th>", f);
    if (stories) fputs("<th class=\"l\">strategy</th>", f);
    fputs("<th class=\"l\">side</th><th>qty</th><th class=\"l\">entry</th><th>entry price</th>"
          "<th class=\"l\">exit</th><th>exit price</th><th>pnl</th><th>fees</th>", f);
    if (stories)
        fputs("<th class=\"l\">entry reason</th><th class=\"l\">exit reason</th><th>funding</th>"
              "<th>MAE</th><th>MFE</th>", f);
    fputs("</tr>\n", f);
    for (int64_t i = 0; i < r->n_trades; i++) {
        const mts_stored_trade_t *t = &r->trades[i];
        char d0[32], d1[32], ep[48], xp[48], pnl[48], fees[48];
        when_of(r, t->entry_ts, d0);
        when_of(r, t->exit_ts, d1);
        const mts_report_trade_story_t *s = stories ? &stories[i] : NULL;
        fprintf(f, "<tr%s><td>%lld</td><td class=\"l\">", s && s->open ? " class=\"open\"" : "", (long long)i + 1);
        esc(f, t->asset);
        if (s) {
            fputs("</td><td class=\"l\">", f);
            esc(f, s->strategy);
        }
        fprintf(f, "</td><td class=\"l\">%s</td><td>%.6g</td><td class=\"l\">%s</td><td>%s</td>"
                   "<td class=\"l\">%s%s</td><td>%s</td><td class=\"%s\">%s</td><td>%s</td>",
                t->side > 0 ? "long" : "short", t->qty, d0, fmt_money(ep, sizeof ep, t->entry_price), d1,
                s && s->open ? " (open)" : "", fmt_money(xp, sizeof xp, t->exit_price),
                t->pnl > 0 ? "pos" : t->pnl < 0 ? "neg" : "", fmt_money(pnl, sizeof pnl, t->pnl),
                fmt_money(fees, sizeof fees, t->fees));
        if (s) {
            char fu[48], mae[48], mfe[48], rfu[32], rmae[32], rmfe[32];
            mts_report_exact(s->funding, rfu);
            mts_report_exact(s->mae, rmae);
            mts_report_exact(s->mfe, rmfe);
            fputs("<td class=\"l\">", f);
            esc(f, s->entry_reason);
            fputs("</td><td class=\"l\">", f);
            esc(f, s->exit_reason);
            fprintf(f, "</td><td class=\"%s\" data-raw=\"%s\">%s</td><td data-raw=\"%s\">%s</td>"
                       "<td data-raw=\"%s\">%s</td>",
                    s->funding > 0 ? "pos" : s->funding < 0 ? "neg" : "", rfu, fmt_money(fu, sizeof fu, s->funding),
                    rmae, fmt_money(mae, sizeof mae, s->mae), rmfe, fmt_money(mfe, sizeof mfe, s->mfe));
        }
        fputs("</tr>\n", f);
    }
    fputs("</table></div>\n", f);
}

/* One row of the metrics table: the rounded text and the exact value. */
static void metric_row(FILE *f, const char *key, const char *label, double v, const char *text) {
    char raw[32];
    mts_report_exact(v, raw);
    fprintf(f, "<tr><td>%s</td><td data-metric=\"%s\" data-raw=\"%s\">%s</td></tr>\n", label, key, raw, text);
}

static void pretty_json(FILE *f, const char *json) {
    cJSON *j = json && *json ? cJSON_Parse(json) : NULL;
    char *p = j ? cJSON_Print(j) : NULL;
    fputs("<pre id=\"parameters\">", f);
    esc(f, p ? p : (json && *json ? json : "{}"));
    fputs("</pre>\n", f);
    if (p) cJSON_free(p);
    cJSON_Delete(j);
}

/* A table cell with the exact value in data-raw. */
static void raw_cell(FILE *f, const char *cls, double v, const char *text) {
    char raw[32];
    mts_report_exact(v, raw);
    fprintf(f, "<td%s%s%s data-raw=\"%s\">%s</td>", cls && *cls ? " class=\"" : "", cls && *cls ? cls : "",
            cls && *cls ? "\"" : "", raw, text);
}

static const char *sign_class(double v) { return v > 0 ? "pos" : v < 0 ? "neg" : ""; }

/* Strategy against the benchmark: the run's stored metrics next to the benchmark's. */
static void benchmark_table(FILE *f, const mts_stored_run_t *r, const mts_metrics_t *m, const mts_metrics_t *bm,
                            const char *label) {
    char b[64];
    fputs("<h2>Against the benchmark</h2>\n<table id=\"benchmark\"><tr><th class=\"l\">metric</th>"
          "<th>strategy</th>", f);
    if (bm) {
        fputs("<th>", f);
        esc(f, label);
        fputs("</th>", f);
    }
    fputs("</tr>\n", f);
    struct { const char *key, *label; double s, b; int pct; } rows[] = {
        {"total_return", "total return", r->total_return, bm ? bm->total_return : NAN, 1},
        {"volatility", "volatility", r->volatility, bm ? bm->volatility : NAN, 1},
        {"sharpe_ratio", "sharpe ratio", r->sharpe_ratio, bm ? bm->sharpe_ratio : NAN, 0},
        {"max_drawdown", "max drawdown", r->max_drawdown, bm ? bm->max_drawdown : NAN, 1},
    };
    for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++) {
        fprintf(f, "<tr data-metric=\"%s\"><td class=\"l\">%s</td>", rows[k].key, rows[k].label);
        raw_cell(f, NULL, rows[k].s, rows[k].pct ? fmt_pct(b, sizeof b, rows[k].s) : fmt_num(b, sizeof b, rows[k].s, 2));
        if (bm) raw_cell(f, NULL, rows[k].b, rows[k].pct ? fmt_pct(b, sizeof b, rows[k].b) : fmt_num(b, sizeof b, rows[k].b, 2));
        fputs("</tr>\n", f);
    }
    if (m) {
        fputs("<tr data-metric=\"alpha\"><td class=\"l\">alpha (annualised)</td>", f);
        raw_cell(f, sign_class(m->alpha), m->alpha, fmt_pct(b, sizeof b, m->alpha));
        if (bm) fputs("<td></td>", f);
        fputs("</tr>\n<tr data-metric=\"beta\"><td class=\"l\">beta</td>", f);
        raw_cell(f, NULL, m->beta, fmt_num(b, sizeof b, m->beta, 2));
        if (bm) fputs("<td></td>", f);
        fputs("</tr>\n", f);
    }
    fputs("</table>\n<p class=\"sub\">The benchmark holds the run's assets in equal parts from each one's "
          "first close in the run, without fees. Alpha and beta: least squares of the strategy's period returns "
          "on the benchmark's (alpha per year); n/a when the benchmark does not move.</p>\n", f);
}

/* Per-strategy attribution: one row a book, then their sum. */
static void attribution_table(FILE *f, const mts_report_book_t *bk, int n) {
    char b[64];
    fputs("<h2>Attribution</h2>\n<table id=\"attribution\"><tr><th class=\"l\">strategy</th><th>allocation</th>"
          "<th>pnl</th><th>return</th><th>sharpe</th><th>max drawdown</th><th>trades</th><th>fees</th>"
          "<th>funding</th></tr>\n", f);
    double alloc = 0, pnl = 0, fees = 0, funding = 0;
    int64_t trades = 0;
    for (int i = 0; i < n; i++) {
        const mts_report_book_t *k = &bk[i];
        fputs("<tr class=\"book\" data-strategy=\"", f);
        esc(f, k->strategy);
        fputs("\"><td class=\"l\">", f);
        esc(f, k->strategy ? k->strategy : "?");
        fputs("</td>", f);
        raw_cell(f, NULL, k->allocation, fmt_pct(b, sizeof b, k->allocation));
        raw_cell(f, sign_class(k->pnl), k->pnl, fmt_money(b, sizeof b, k->pnl));
        raw_cell(f, sign_class(k->ret), k->ret, fmt_pct(b, sizeof b, k->ret));
        raw_cell(f, NULL, k->sharpe, fmt_num(b, sizeof b, k->sharpe, 2));
        raw_cell(f, NULL, k->max_dd, fmt_pct(b, sizeof b, k->max_dd));
        snprintf(b, sizeof b, "%lld", (long long)k->trades);
        raw_cell(f, NULL, (double)k->trades, b);
        raw_cell(f, NULL, k->fees, fmt_money(b, sizeof b, k->fees));
        raw_cell(f, sign_class(k->funding), k->funding, fmt_money(b, sizeof b, k->funding));
        fputs("</tr>\n", f);
        alloc += k->allocation;
        pnl += k->pnl;
        fees += k->fees;
        funding += k->funding;
        trades += k->trades;
    }
    fputs("<tr class=\"sum\"><th class=\"l\">sum</th>", f);
    raw_cell(f, NULL, alloc, fmt_pct(b, sizeof b, alloc));
    raw_cell(f, sign_class(pnl), pnl, fmt_money(b, sizeof b, pnl));
    fputs("<td></td><td></td><td></td>", f);
    snprintf(b, sizeof b, "%lld", (long long)trades);
    raw_cell(f, NULL, (double)trades, b);
    raw_cell(f, NULL, fees, fmt_money(b, sizeof b, fees));
    raw_cell(f, sign_class(funding), funding, fmt_money(b, sizeof b, funding));
    fputs("</tr>\n</table>\n<p class=\"sub\">Each strategy trades its own book with its share of the capital; "
          "return = the book's pnl over its starting capital; sharpe and drawdown of the book's own curve; "
          "pnl is net of fees and funding. The rest of the capital (allocation below 100 %) stays cash.</p>\n", f);
}

int mts_report_backtest_html(FILE *f, const mts_stored_run_t *r) { return mts_report_backtest_html_ex(f, r, NULL); }

int mts_report_backtest_html_ex(FILE *f, const mts_stored_run_t *r, const mts_report_extra_t *x) {
    if (!f || !r || (x && x->n_books > 0 && !x->books)) return MTS_EINVAL;
    static const mts_report_extra_t none;
    if (!x) x = &none;
    const mts_report_trade_story_t *stories =
        x->stories && x->n_stories == r->n_trades && r->n_trades > 0 ? x->stories : NULL;
    const char *bench_label = x->benchmark_label ? x->benchmark_label : "buy and hold (equal weight)";
    char title[512], b[64];
    snprintf(title, sizeof title, "Backtest #%lld: %.200s on %.200s", (long long)r->id,
             r->strategy_name ? r->strategy_name : "?", r->assets ? r->assets : "?");
    page_start(f, title);
    fputs("<h1>", f);
    esc(f, title);
    char d0[32] = "", d1[32] = "";
    int n = intraday_run(r) ? 20 : 10;
    snprintf(d0, sizeof d0, "%.*s", n, r->start_date ? r->start_date : "");
    snprintf(d1, sizeof d1, "%.*s", n, r->end_date ? r->end_date : "");
    fprintf(f, "</h1>\n<p class=\"sub\">%s bars &middot; %s .. %s &middot; stored ", interval_of(r), d0, d1);
    esc(f, r->created_at);
    fprintf(f, " UTC &middot; <code>mts report %lld</code></p>\n", (long long)r->id);

    fputs("<h2>Summary</h2>\n<table id=\"metrics\" class=\"kv\">\n", f);
    metric_row(f, "initial_capital", "initial capital", r->initial_capital, fmt_money(b, sizeof b, r->initial_capital));
    metric_row(f, "final_value", "final value", r->final_value, fmt_money(b, sizeof b, r->final_value));
    metric_row(f, "total_return", "total return", r->total_return, fmt_pct(b, sizeof b, r->total_return));
    metric_row(f, "annualized_return", "annualized return", r->annualized_return,
               fmt_pct(b, sizeof b, r->annualized_return));
    metric_row(f, "sharpe_ratio", "sharpe ratio", r->sharpe_ratio, fmt_num(b, sizeof b, r->sharpe_ratio, 2));
    metric_row(f, "max_drawdown", "max drawdown", r->max_drawdown, fmt_pct(b, sizeof b, r->max_drawdown));
    metric_row(f, "volatility", "volatility", r->volatility, fmt_pct(b, sizeof b, r->volatility));
    metric_row(f, "calmar_ratio", "calmar ratio", r->calmar_ratio, fmt_num(b, sizeof b, r->calmar_ratio, 2));
    metric_row(f, "win_rate", "win rate", r->win_rate, fmt_pct(b, sizeof b, r->win_rate));
    metric_row(f, "profit_factor", "profit factor", r->profit_factor, fmt_num(b, sizeof b, r->profit_factor, 2));
    snprintf(b, sizeof b, "%lld", (long long)r->trade_count);
    metric_row(f, "trade_count", "trades", (double)r->trade_count, b);
    if (x->metrics) {
        const mts_metrics_t *m = x->metrics;
        metric_row(f, "sortino_ratio", "sortino ratio", m->sortino_ratio, fmt_num(b, sizeof b, m->sortino_ratio, 2));
        metric_row(f, "exposure_time", "exposure time", m->exposure_time, fmt_pct(b, sizeof b, m->exposure_time));
        metric_row(f, "avg_trade", "average trade", m->avg_trade, fmt_money(b, sizeof b, m->avg_trade));
        metric_row(f, "expectancy", "expectancy (R)", m->expectancy, fmt_num(b, sizeof b, m->expectancy, 2));
        snprintf(b, sizeof b, "%lld", (long long)m->longest_losing_streak);
        metric_row(f, "longest_losing_streak", "longest losing streak", (double)m->longest_losing_streak, b);
    }
    fputs("</table>\n<p class=\"sub\">Definitions as in the README (metrics section); n/a = undefined "
          "(e.g. no closed trades, or no losing trade for the profit factor).</p>\n", f);
    if (x->metrics || x->benchmark_metrics) benchmark_table(f, r, x->metrics, x->benchmark_metrics, bench_label);
    if (x->n_books > 0) attribution_table(f, x->books, x->n_books);

    if (!r->has_details) {
        fputs("<p class=\"note\">This run was stored without its equity curve and trades (stored by an "
              "older mts). Run the backtest again to get the charts, the monthly returns and the trade "
              "list.</p>\n", f);
    } else {
        fputs("<h2>Equity</h2>\n", f);
        equity_chart(f, r, x->benchmark, bench_label, stories);
        if (x->benchmark_note) {
            fputs("<p class=\"note\" id=\"benchmark-note\">", f);
            esc(f, x->benchmark_note);
            fputs("</p>\n", f);
        }
        fputs("<h2>Drawdown</h2>\n", f);
        drawdown_chart(f, r);
        fputs("<h2>Monthly returns</h2>\n", f);
        monthly_table(f, r);
        int64_t n_open = 0;
        for (int64_t i = 0; stories && i < r->n_trades; i++) n_open += stories[i].open != 0;
        if (n_open)
            fprintf(f, "<h2>Trades (%lld closed, %lld open at the end)</h2>\n", (long long)(r->n_trades - n_open),
                    (long long)n_open);
        else
            fprintf(f, "<h2>Trades (%lld closed)</h2>\n", (long long)r->n_trades);
        trades_table(f, r, stories);
        if (stories)
            fputs("<p class=\"sub\">MAE / MFE: the worst and best unrealised pnl of the closed quantity while the "
                  "position was open (currency). Funding: received (+) or paid (&minus;). A position still open at "
                  "the end is valued at the last close (\"(open)\"); the metrics do not count it as a trade.</p>\n", f);
    }

    fputs("<h2>Strategy and data</h2>\n<table id=\"run\" class=\"kv\">\n<tr><td>strategy</td><td class=\"l\">", f);
    esc(f, r->strategy_name);
    fputs("</td></tr>\n<tr><td>assets</td><td class=\"l\">", f);
    esc(f, r->assets);
    fputs("</td></tr>\n<tr><td>interval</td><td class=\"l\">", f);
    esc(f, interval_of(r));
    fputs("</td></tr>\n<tr><td>data range</td><td class=\"l\">", f);
    esc(f, r->start_date);
    fputs(" .. ", f);
    esc(f, r->end_date);
    fprintf(f, "</td></tr>\n<tr><td>equity points</td><td class=\"l\">%lld</td></tr>\n", (long long)r->equity.n);
    fprintf(f, "<tr><td>commission</td><td class=\"l\">%s bps</td></tr>\n", fmt_num(b, sizeof b, r->commission_bps, 2));
    fprintf(f, "<tr><td>slippage</td><td class=\"l\">%s bps</td></tr>\n</table>\n",
            fmt_num(b, sizeof b, r->slippage_bps, 2));
    fputs("<h2>Parameters</h2>\n", f);
    pretty_json(f, r->parameters_json);
    return page_end(f);
}

/* ---- optimization grid ---- */

static int all_numeric(const char *const *v, int n) {
    for (int i = 0; i < n; i++) {
        char *end;
        strtod(v[i], &end);
        if (!*v[i] || *end) return 0;
    }
    return 1;
}

static int numeric_sort;
static int cmp_values(const void *a, const void *b) {
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    if (numeric_sort) {
        double dx = strtod(x, NULL), dy = strtod(y, NULL);
        return dx < dy ? -1 : dx > dy;
    }
    return strcmp(x, y);
}

/* The distinct values of key k over the rows, sorted (numerically when they all are numbers). */
static int distinct(const mts_report_grid_t *g, int k, const char **out) {
    int n = 0;
    for (int i = 0; i < g->n_rows; i++) {
        const char *v = g->rows[i].values[k];
        int seen = 0;
        for (int j = 0; j < n && !seen; j++) seen = strcmp(out[j], v) == 0;
        if (!seen) out[n++] = v;
    }
    numeric_sort = all_numeric(out, n);
    qsort(out, (size_t)n, sizeof *out, cmp_values);
    return n;
}

static void grid_color(char *buf, size_t n, double v, double lo, double hi, int higher_better) {
    if (!isfinite(v)) { snprintf(buf, n, "#e6e9f0"); return; }
    double t = hi > lo ? (v - lo) / (hi - lo) : 1.0;
    if (!higher_better) t = 1 - t;
    /* red (worst) -> yellow -> green (best) */
    int r, gg, bb;
    if (t < 0.5) { double u = t / 0.5; r = 215 + (int)((254 - 215) * u); gg = 48 + (int)((224 - 48) * u); bb = 39 + (int)((139 - 39) * u); }
    else { double u = (t - 0.5) / 0.5; r = 254 + (int)((26 - 254) * u); gg = 224 + (int)((152 - 224) * u); bb = 139 + (int)((80 - 139) * u); }
    snprintf(buf, n, "#%02x%02x%02x", (unsigned)r & 0xffu, (unsigned)gg & 0xffu, (unsigned)bb & 0xffu);
}

static void grid_heatmap(FILE *f, const mts_report_grid_t *g) {
    const char **xs = mts_calloc((size_t)g->n_rows + 1, sizeof *xs);
    const char **ys = mts_calloc((size_t)g->n_rows + 1, sizeof *ys);
    double *cell = NULL;
    if (!xs || !ys) goto done;
    int nx = distinct(g, 0, xs), ny = 1;
    if (g->n_keys >= 2) ny = distinct(g, 1, ys);
    else ys[0] = "";
    cell = mts_malloc((size_t)nx * (size_t)ny * sizeof *cell);
    if (!cell) goto done;
    for (int i = 0; i < nx * ny; i++) cell[i] = NAN;
    int folded = 0;
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < g->n_rows; i++) {
        const mts_report_grid_row_t *row = &g->rows[i];
        int x = 0, y = 0;
        while (x < nx && strcmp(xs[x], row->values[0]) != 0) x++;
        if (g->n_keys >= 2) while (y < ny && strcmp(ys[y], row->values[1]) != 0) y++;
        double *c = &cell[y * nx + x];
        if (!isnan(*c)) folded = 1;
        /* rows are ranked best first: the first one for a cell is its best */
        if (isnan(*c) && isfinite(row->metric)) *c = row->metric;
        if (isfinite(row->metric)) {
            if (row->metric < lo) lo = row->metric;
            if (row->metric > hi) hi = row->metric;
        }
    }
    int cw = nx > 12 ? 56 : 80, ch = ny > 12 ? 26 : 34, left = 90, top = 44;
    int w = left + nx * cw + 10, h = top + ny * ch + 40;
    fprintf(f, "<svg id=\"grid-heatmap\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
               "width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"metric heatmap\">", w, h, w, h);
    fprintf(f, "<text x=\"%d\" y=\"14\" text-anchor=\"middle\">", left + nx * cw / 2);
    esc(f, g->keys[0]);
    fputs(" &#8594;</text>", f);
    if (g->n_keys >= 2) {
        fprintf(f, "<text x=\"6\" y=\"%d\">", top - 6);
        esc(f, g->keys[1]);
        fputs(" &#8595;</text>", f);
    }
    for (int x = 0; x < nx; x++) {
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", left + x * cw + cw / 2, top - 6);
        esc(f, xs[x]);
        fputs("</text>", f);
    }
    for (int y = 0; y < ny; y++) {
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", left - 6, top + y * ch + ch / 2 + 4);
        esc(f, ys[y]);
        fputs("</text>", f);
        for (int x = 0; x < nx; x++) {
            double v = cell[y * nx + x];
            char col[40], raw[32], txt[32];
            grid_color(col, sizeof col, v, lo, hi, g->higher_is_better);
            mts_report_exact(v, raw);
            fprintf(f, "<rect class=\"cell\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\" "
                       "stroke=\"#fff\" data-x=\"", left + x * cw, top + y * ch, cw, ch, col);
            esc(f, xs[x]);
            fputs("\" data-y=\"", f);
            esc(f, ys[y]);
            fprintf(f, "\" data-value=\"%s\"><title>", raw);
            esc(f, g->keys[0]);
            fputs("=", f);
            esc(f, xs[x]);
            if (g->n_keys >= 2) {
                fputs(" ", f);
                esc(f, g->keys[1]);
                fputs("=", f);
                esc(f, ys[y]);
            }
            fprintf(f, ": %s</title></rect>", fmt_num(txt, sizeof txt, v, 3));
            fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" style=\"fill:#1d2330\">%s</text>",
                    left + x * cw + cw / 2, top + y * ch + ch / 2 + 4, isfinite(v) ? fmt_num(txt, sizeof txt, v, 2) : "n/a");
        }
    }
    fprintf(f, "</svg>\n<p class=\"sub\">Each cell: ");
    esc(f, g->metric);
    fprintf(f, " (%s is better, green = best)%s.</p>\n", g->higher_is_better ? "higher" : "lower",
            folded ? "; where more combinations (other parameters or strategies) share a cell, it "
                     "shows the best of them" : "");
done:
    mts_free(xs);
    mts_free(ys);
    mts_free(cell);
}

int mts_report_grid_html(FILE *f, const mts_report_grid_t *g) {
    if (!f || !g || (g->n_rows > 0 && !g->rows) || (g->n_keys > 0 && !g->keys)) return MTS_EINVAL;
    char title[512];
    snprintf(title, sizeof title, "Optimization: %.480s", g->title ? g->title : "");
    page_start(f, title);
    fputs("<h1>", f);
    esc(f, title);
    fputs("</h1>\n<p class=\"sub\">", f);
    esc(f, g->range ? g->range : "");
    fprintf(f, " &middot; %d combinations ranked by ", g->n_rows);
    esc(f, g->metric);
    fputs("</p>\n", f);
    if (g->n_keys >= 1 && g->n_rows > 0) {
        fputs("<h2>Heatmap</h2>\n", f);
        grid_heatmap(f, g);
    }
    fputs("<h2>Ranked</h2>\n<div class=\"scroll\"><table id=\"ranked\"><tr><th>rank</th><th class=\"l\">strategy</th>", f);
    for (int k = 0; k < g->n_keys; k++) {
        fputs("<th>", f);
        esc(f, g->keys[k]);
        fputs("</th>", f);
    }
    fputs("<th>sharpe</th><th>total return</th><th>annualized</th><th>max drawdown</th><th>win rate</th>"
          "<th>profit factor</th><th>trades</th><th>run id</th></tr>\n", f);
    for (int i = 0; i < g->n_rows; i++) {
        const mts_report_grid_row_t *r = &g->rows[i];
        char raw[32], b[6][48];
        mts_report_exact(r->metric, raw);
        fprintf(f, "<tr data-metric=\"%s\"><td>%d</td><td class=\"l\">", raw, i + 1);
        esc(f, r->strategy);
        fputs("</td>", f);
        for (int k = 0; k < g->n_keys; k++) {
            fputs("<td>", f);
            esc(f, r->values[k]);
            fputs("</td>", f);
        }
        fprintf(f, "<td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%lld</td>",
                fmt_num(b[0], 48, r->m.sharpe_ratio, 2), fmt_pct(b[1], 48, r->m.total_return),
                fmt_pct(b[2], 48, r->m.annualized_return), fmt_pct(b[3], 48, r->m.max_drawdown),
                fmt_pct(b[4], 48, r->m.win_rate), fmt_num(b[5], 48, r->m.profit_factor, 2),
                (long long)r->m.trade_count);
        if (r->run_id > 0) fprintf(f, "<td>%lld</td></tr>\n", (long long)r->run_id);
        else fputs("<td>-</td></tr>\n", f);
    }
    fputs("</table></div>\n<p class=\"sub\">Open any stored run with <code>mts report ID --html FILE</code>.</p>\n", f);
    return page_end(f);
}

/* ---- a walk-forward ---- */

static void wf_when(const mts_report_wf_t *w, int64_t ts, char buf[32]) {
    if (mts_interval_seconds(w->interval && *w->interval ? w->interval : "1d") < 86400) mts_time_format_iso(ts, buf);
    else date_of(ts, buf);
}

static const char *wf_metric_text(const char *metric, char *b, size_t n, double v) {
    int pct = !strcmp(metric, "total_return") || !strcmp(metric, "annualized_return") ||
              !strcmp(metric, "max_drawdown") || !strcmp(metric, "volatility") || !strcmp(metric, "win_rate");
    return pct ? fmt_pct(b, n, v) : fmt_num(b, n, v, 3);
}

/* The test windows as bands on the curve's time axis. */
static void wf_strip(FILE *f, const mts_report_wf_t *w) {
    const mts_series_t *eq = w->equity;
    frame_t fr = {54, eq->ts[0], eq->ts[eq->n - 1], 0, 1};
    fprintf(f, "<svg id=\"windows-strip\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
               "width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"test windows\">", CW, fr.h, CW, fr.h);
    for (int k = 0; k < w->n_rows; k++) {
        const mts_report_wf_row_t *r = &w->rows[k];
        int64_t a = r->test_from < fr.t0 ? fr.t0 : r->test_from, b = r->test_to > fr.t1 ? fr.t1 : r->test_to;
        double x0 = fx(&fr, a), x1 = fx(&fr, b);
        if (x1 < x0 + 1) x1 = x0 + 1;
        fprintf(f, "<rect x=\"%.1f\" y=\"4\" width=\"%.1f\" height=\"24\" fill=\"%s\" stroke=\"#fff\">"
                   "<title>window %d: ", x0, x1 - x0, k % 2 ? "#c9d6ea" : "#9fb6d9", k + 1);
        esc(f, r->chosen);
        fputs("</title></rect>", f);
        if (x1 - x0 > 18) fprintf(f, "<text x=\"%.1f\" y=\"21\" text-anchor=\"middle\">%d</text>", (x0 + x1) / 2, k + 1);
    }
    char d0[32], d1[32];
    wf_when(w, fr.t0, d0);
    wf_when(w, fr.t1, d1);
    fprintf(f, "<text x=\"%d\" y=\"46\">%s</text><text x=\"%d\" y=\"46\" text-anchor=\"end\">%s</text></svg>\n",
            CL, d0, CW - CR, d1);
}

int mts_report_walkforward_html(FILE *f, const mts_report_wf_t *w) {
    if (!f || !w || !w->equity || w->equity->n < 1 || (w->n_rows && !w->rows) || !w->metric) return MTS_EINVAL;
    const char *title = w->title ? w->title : "Walk-forward";
    page_start(f, title);
    fputs("<h1>", f);
    esc(f, title);
    fputs("</h1>\n<p class=\"sub\">", f);
    esc(f, w->interval ? w->interval : "1d");
    fprintf(f, " bars &middot; %s windows &middot; train ", w->anchored ? "anchored" : "rolling");
    esc(f, w->train ? w->train : "?");
    fputs(" &middot; test ", f);
    esc(f, w->test ? w->test : "?");
    fputs(" &middot; chosen by ", f);
    esc(f, w->metric);
    fprintf(f, " (%s is better)", w->higher_is_better ? "higher" : "lower");
    if (w->run_id > 0) fprintf(f, " &middot; stored as <code>mts report %lld</code>", (long long)w->run_id);
    fputs("</p>\n", f);

    char b[64];
    const mts_metrics_t *m = &w->oos;
    fputs("<h2>Stitched out-of-sample result</h2>\n<table id=\"metrics\" class=\"kv\">\n", f);
    metric_row(f, "initial_capital", "initial capital", w->initial_capital, fmt_money(b, sizeof b, w->initial_capital));
    metric_row(f, "final_value", "final value", m->final_value, fmt_money(b, sizeof b, m->final_value));
    metric_row(f, "total_return", "total return", m->total_return, fmt_pct(b, sizeof b, m->total_return));
    metric_row(f, "annualized_return", "annualized return", m->annualized_return, fmt_pct(b, sizeof b, m->annualized_return));
    metric_row(f, "sharpe_ratio", "sharpe ratio", m->sharpe_ratio, fmt_num(b, sizeof b, m->sharpe_ratio, 2));
    metric_row(f, "max_drawdown", "max drawdown", m->max_drawdown, fmt_pct(b, sizeof b, m->max_drawdown));
    metric_row(f, "volatility", "volatility", m->volatility, fmt_pct(b, sizeof b, m->volatility));
    metric_row(f, "calmar_ratio", "calmar ratio", m->calmar_ratio, fmt_num(b, sizeof b, m->calmar_ratio, 2));
    metric_row(f, "win_rate", "win rate", m->win_rate, fmt_pct(b, sizeof b, m->win_rate));
    metric_row(f, "profit_factor", "profit factor", m->profit_factor, fmt_num(b, sizeof b, m->profit_factor, 2));
    snprintf(b, sizeof b, "%lld", (long long)m->trade_count);
    metric_row(f, "trade_count", "trades", (double)m->trade_count, b);
    fputs("</table>\n", f);

    fputs("<h2>Overfitting</h2>\n<table id=\"overfitting\" class=\"kv\">\n", f);
    metric_row(f, "is_mean", "mean in-sample metric", w->is_mean, wf_metric_text(w->metric, b, sizeof b, w->is_mean));
    metric_row(f, "oos_mean", "mean out-of-sample metric", w->oos_mean, wf_metric_text(w->metric, b, sizeof b, w->oos_mean));
    metric_row(f, "gap", "gap", w->gap, wf_metric_text(w->metric, b, sizeof b, w->gap));
    metric_row(f, "efficiency", "efficiency (OOS / IS)", w->efficiency, fmt_num(b, sizeof b, w->efficiency, 2));
    fprintf(f, "</table>\n<p class=\"sub\">Over the %d of %d windows where both values are defined. In-sample: the "
               "chosen parameters' metric on their train window; out-of-sample: the same metric of their test run. "
               "Gap = mean IS &minus; mean OOS (OOS &minus; IS when lower is better): above 0, the test windows did "
               "worse than the fit promised. Efficiency = mean OOS / mean IS: 1 is as good as in-sample.</p>\n",
            w->n_counted, w->n_rows);

    /* the charts of a backtest report, over the stitched curve */
    mts_stored_run_t run;
    memset(&run, 0, sizeof run);
    run.initial_capital = w->initial_capital;
    run.equity = *w->equity;
    mts_stored_trade_t *trades = w->n_trades > 0 && w->trades ? mts_calloc((size_t)w->n_trades, sizeof *trades) : NULL;
    for (int64_t i = 0; trades && i < w->n_trades; i++) {
        const mts_trade_t *t = &w->trades[i];
        snprintf(trades[i].asset, sizeof trades[i].asset, "%s",
                 w->assets && t->asset >= 0 && t->asset < w->n_assets ? w->assets[t->asset] : "?");
        trades[i].side = t->side;
        trades[i].qty = t->qty;
        trades[i].entry_ts = t->entry_ts;
        trades[i].entry_price = t->entry_price;
        trades[i].exit_ts = t->exit_ts;
        trades[i].exit_price = t->exit_price;
        trades[i].pnl = t->pnl;
        trades[i].fees = t->fees;
    }
    run.trades = trades;
    run.n_trades = trades ? w->n_trades : 0;
    snprintf(run.interval, sizeof run.interval, "%s", w->interval ? w->interval : "1d");
    fputs("<h2>Stitched equity</h2>\n", f);
    equity_chart(f, &run, w->benchmark, "buy and hold (equal weight)", NULL);
    wf_strip(f, w);
    fputs("<h2>Drawdown</h2>\n", f);
    drawdown_chart(f, &run);
    mts_free(trades);

    fprintf(f, "<h2>Windows (%d)</h2>\n<div class=\"scroll\"><table id=\"windows\"><tr><th>#</th>"
               "<th class=\"l\">train</th><th class=\"l\">test</th><th class=\"l\">chosen</th><th>IS</th>"
               "<th>OOS</th><th>capital</th><th>test return</th><th>test max dd</th><th>trades</th></tr>\n",
            w->n_rows);
    for (int k = 0; k < w->n_rows; k++) {
        const mts_report_wf_row_t *r = &w->rows[k];
        char t0[32], t1[32], s0[32], s1[32], is[48], oos[48], cap[48], ret[48], dd[48], ris[32], roos[32];
        wf_when(w, r->train_from, t0);
        wf_when(w, r->train_to, t1);
        wf_when(w, r->test_from, s0);
        wf_when(w, r->test_to, s1);
        mts_report_exact(r->is_metric, ris);
        mts_report_exact(r->oos_metric, roos);
        fprintf(f, "<tr><td>%d</td><td class=\"l\">%s .. %s</td><td class=\"l\">%s .. %s</td><td class=\"l\">",
                k + 1, t0, t1, s0, s1);
        esc(f, r->chosen ? r->chosen : "");
        fprintf(f, "</td><td data-raw=\"%s\">%s</td><td data-raw=\"%s\">%s</td><td>%s</td><td class=\"%s\">%s</td>"
                   "<td>%s</td><td>%lld</td></tr>\n",
                ris, wf_metric_text(w->metric, is, sizeof is, r->is_metric), roos,
                wf_metric_text(w->metric, oos, sizeof oos, r->oos_metric), fmt_money(cap, sizeof cap, r->capital),
                r->oos.total_return > 0 ? "pos" : r->oos.total_return < 0 ? "neg" : "",
                fmt_pct(ret, sizeof ret, r->oos.total_return), fmt_pct(dd, sizeof dd, r->oos.max_drawdown),
                (long long)r->oos.trade_count);
    }
    fputs("</table></div>\n<p class=\"sub\">Each test window starts with the equity the previous one ended with "
          "(capital); a position open at a window's end is valued at its last close and the next window starts "
          "flat. A test run sees only its own bars: indicators warm up inside the test window.</p>\n", f);
    return page_end(f);
}
