/* csv.c — CSV import into and export out of the store (contract in store.h).
 *
 * Import streams the file through one growing buffer: records are split in
 * place (fields are NUL-terminated slices of the buffer, quoted fields are
 * unquoted in place), so a row costs no allocation. Rows are validated,
 * de-duplicated on time with an open-addressing hash set, and stored in
 * batches of BATCH rows, one transaction each. A bad row is reported as
 * "FILE:LINE: reason" on `err` and skipped.
 *
 * Accepted: a UTF-8 BOM, CRLF or LF line ends, RFC 4180 quoted fields (also
 * spanning lines; LINE is where the record starts), spaces around fields,
 * blank lines (and rows whose fields are all empty), a last line without a
 * newline. */
#include "store/csv.h"
#include "store/colblob.h"
#include "store/imports.h"
#include "market/interval.h"
#include "store/store.h"
#include "store/store_internal.h"
#include "market/bar_check.h"
#include "util/timeutil.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BATCH 10000
#define BUF_INIT ((size_t)1 << 20)
#define SHOW 40                       /* at most this many bytes of a field in a message */

/* ---- record reader ---- */

typedef struct reader {
    FILE *f;
    char *buf;
    size_t cap, len, pos;             /* unread bytes are buf[pos..len) */
    int eof, ioerr, first;
    int64_t line;                     /* line where the next record starts */
    int64_t rec_line;                 /* line of the current record */
    char **fld;                       /* fields of the current record */
    size_t *flen;
    int nf, fcap;
    int malformed;                    /* current record has a broken quoted field */
    char delim;                       /* field separator (',' unless told) */
} reader_t;

/* Blank around a field: spaces, and tabs unless the tab separates fields. */
static int is_pad(const reader_t *r, char c) {
    return c == ' ' || (c == '\t' && r->delim != '\t');
}

static int reader_fill(reader_t *r) {
    if (r->pos) {
        memmove(r->buf, r->buf + r->pos, r->len - r->pos);
        r->len -= r->pos;
        r->pos = 0;
    }
    if (r->len + 1 >= r->cap) {       /* one record fills the buffer: grow it */
        size_t ncap = r->cap * 2;
        char *nb = mts_realloc(r->buf, ncap);
        if (!nb) return MTS_ENOMEM;
        r->buf = nb;
        r->cap = ncap;
    }
    size_t n = fread(r->buf + r->len, 1, r->cap - 1 - r->len, r->f);
    if (n == 0) {
        if (ferror(r->f)) { r->ioerr = errno ? errno : EIO; return MTS_EIO; }
        r->eof = 1;
    }
    r->len += n;
    if (r->first && (r->len >= 3 || r->eof)) {   /* nothing consumed yet: skip a BOM */
        r->first = 0;
        if (r->len >= 3 && (unsigned char)r->buf[0] == 0xEF && (unsigned char)r->buf[1] == 0xBB &&
            (unsigned char)r->buf[2] == 0xBF)
            r->pos = 3;
    }
    return 0;
}

static int push_field(reader_t *r, char *p, size_t n) {
    if (r->nf == r->fcap) {
        int ncap = r->fcap ? r->fcap * 2 : 16;
        char **nf = mts_realloc(r->fld, (size_t)ncap * sizeof *nf);
        if (!nf) return MTS_ENOMEM;
        r->fld = nf;
        size_t *nl = mts_realloc(r->flen, (size_t)ncap * sizeof *nl);
        if (!nl) return MTS_ENOMEM;
        r->flen = nl;
        r->fcap = ncap;
    }
    r->fld[r->nf] = p;
    r->flen[r->nf] = n;
    r->nf++;
    return 0;
}

/* Splits p[0..n) (p[n] is writable) into fields, in place. */
static int split(reader_t *r, char *p, size_t n) {
    r->nf = 0;
    r->malformed = 0;
    size_t i = 0;
    for (;;) {
        while (i < n && is_pad(r, p[i])) i++;
        char *start;
        size_t flen;
        if (i < n && p[i] == '"') {
            size_t w = ++i;
            start = p + w;
            int closed = 0;
            while (i < n) {
                if (p[i] == '"') {
                    if (i + 1 < n && p[i + 1] == '"') { p[w++] = '"'; i += 2; continue; }
                    i++;
                    closed = 1;
                    break;
                }
                p[w++] = p[i++];
            }
            if (!closed) r->malformed = 1;
            while (i < n && is_pad(r, p[i])) i++;
            if (i < n && p[i] != r->delim) {
                r->malformed = 1;
                char *c = memchr(p + i, r->delim, n - i);
                i = c ? (size_t)(c - p) : n;
            }
            flen = w - (size_t)(start - p);
            start[flen] = '\0';       /* w <= i, so this never hits unread data */
        } else {
            start = p + i;
            char *c = memchr(start, r->delim, n - i);
            size_t end = c ? (size_t)(c - p) : n;
            i = end;
            while (end > (size_t)(start - p) && is_pad(r, p[end - 1])) end--;
            flen = end - (size_t)(start - p);
        }
        int at_comma = i < n;
        if (push_field(r, start, flen)) return MTS_ENOMEM;
        /* terminate after pushing: for an unquoted field this may overwrite
         * the comma at p[i], which has been seen already */
        if (start[flen] != '\0') start[flen] = '\0';
        if (!at_comma) break;
        i++;                          /* past the comma */
    }
    return 0;
}

/* Next record: 1, 0 at end of file, or a negative MTS_E*. */
static int reader_next(reader_t *r) {
    for (;;) {
        char *p = r->buf + r->pos;
        size_t avail = r->len - r->pos, rec_len = 0, consumed = 0;
        int64_t nls = 0;
        int found = 0, need_more = 0;
        char *nl = avail ? memchr(p, '\n', avail) : NULL;
        if (!memchr(p, '"', nl ? (size_t)(nl - p) : avail)) {
            if (nl) { found = 1; rec_len = (size_t)(nl - p); consumed = rec_len + 1; }
        } else {                      /* quotes: find the end of the record respecting them */
            int inq = 0, fs = 1;
            size_t i;
            for (i = 0; i < avail; i++) {
                char c = p[i];
                if (inq) {
                    if (c == '"') {
                        if (i + 1 >= avail && !r->eof) { need_more = 1; break; }
                        if (i + 1 < avail && p[i + 1] == '"') i++;
                        else inq = 0;
                    } else if (c == '\n') {
                        nls++;
                    }
                    continue;
                }
                if (c == '\n') { found = 1; break; }
                if (c == r->delim) fs = 1;
                else if (c == '"' && fs) { inq = 1; fs = 0; }
                else if (!is_pad(r, c)) fs = 0;
            }
            if (found) { rec_len = i; consumed = i + 1; }
        }
        if (!found) {
            if (!r->eof || need_more) {
                int rc = reader_fill(r);
                if (rc) return rc;
                continue;
            }
            if (avail == 0) return 0;
            rec_len = consumed = avail;   /* last line without a newline */
        }
        r->first = 0;
        r->rec_line = r->line;
        r->line += 1 + nls;
        r->pos += consumed;
        if (rec_len && p[rec_len - 1] == '\r') rec_len--;
        p[rec_len] = '\0';            /* buf always has a spare byte past len */
        return split(r, p, rec_len) ? MTS_ENOMEM : 1;
    }
}

static int reader_open(reader_t *r, const char *path, char delim) {
    memset(r, 0, sizeof *r);
    r->delim = delim ? delim : ',';
    r->line = 1;
    r->first = 1;
    r->f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!r->f) return MTS_EIO;
    r->buf = mts_malloc(BUF_INIT);
    if (!r->buf) return MTS_ENOMEM;
    r->cap = BUF_INIT;
    return 0;
}

static void reader_close(reader_t *r) {
    if (r->f && r->f != stdin) fclose(r->f);
    mts_free(r->buf);
    mts_free(r->fld);
    mts_free(r->flen);
}

static int record_blank(const reader_t *r) {
    for (int i = 0; i < r->nf; i++)
        if (r->flen[i]) return 0;
    return 1;
}

/* ---- numbers ---- */

enum { NUM_OK = 0, NUM_EMPTY, NUM_BAD, NUM_NONFINITE };

static const double pow10_tab[23] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Parses the whole field as a decimal number. Fast path: at most 15 digits
 * and no exponent, where m / 10^k of two exact doubles is correctly rounded
 * (Clinger), so the result equals strtod's; everything else goes to strtod. */
static int parse_num(const char *p, size_t n, double *out) {
    if (n == 0) return NUM_EMPTY;
    size_t i = 0;
    int neg = 0;
    if (p[0] == '-' || p[0] == '+') { neg = p[0] == '-'; i++; }
    uint64_t m = 0;
    int nd = 0, frac = -1;
    for (; i < n; i++) {
        char c = p[i];
        if (c >= '0' && c <= '9') {
            if (++nd > 15) goto slow;
            m = m * 10 + (uint64_t)(c - '0');
            if (frac >= 0) frac++;
        } else if (c == '.' && frac < 0) {
            frac = 0;
        } else {
            goto slow;
        }
    }
    if (nd == 0) return NUM_BAD;
    double v = (double)m;
    if (frac > 0) v /= pow10_tab[frac];
    *out = neg ? -v : v;
    return NUM_OK;
slow:;
    char *end;
    v = strtod(p, &end);              /* p is NUL-terminated at n */
    if (end != p + n || memchr(p, 'x', n) || memchr(p, 'X', n)) return NUM_BAD;
    if (!isfinite(v)) return NUM_NONFINITE;
    *out = v;
    return NUM_OK;
}

/* Shortest text that reads back as the same double. */
static void fmt_double(char buf[40], double v) {
    if (!isfinite(v)) { buf[0] = '\0'; return; }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, 40, "%.*g", prec, v);
        if (prec == 17 || strtod(buf, NULL) == v) return;
    }
}

/* ---- set of times seen in this file (time -> first line) ----
 * Files are nearly always in ascending time order, so the set starts as a
 * sorted array (append, binary search on a step back). The first time that
 * goes back without being a duplicate turns it into an open-addressing hash
 * table for the rest of the file. */

typedef struct tsset {
    int64_t *sk, *sl;                 /* sorted mode: ascending times, their lines */
    size_t sn, scap;
    int hashed;
    int64_t *key, *line;              /* hash mode: line 0 = empty slot */
    size_t cap, n;
} tsset_t;

static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static void hash_put(int64_t *key, int64_t *line, size_t cap, int64_t t, int64_t l) {
    size_t j = mix((uint64_t)t) & (cap - 1);
    while (line[j]) j = (j + 1) & (cap - 1);
    key[j] = t;
    line[j] = l;
}

static int tsset_grow(tsset_t *s, size_t need) {
    size_t ncap = s->cap ? s->cap : 4096;
    while (need * 2 > ncap) ncap *= 2;
    if (ncap == s->cap) return 0;
    int64_t *nk = mts_calloc(ncap, sizeof *nk), *nl = mts_calloc(ncap, sizeof *nl);
    if (!nk || !nl) { mts_free(nk); mts_free(nl); return MTS_ENOMEM; }
    for (size_t i = 0; i < s->cap; i++)
        if (s->line[i]) hash_put(nk, nl, ncap, s->key[i], s->line[i]);
    mts_free(s->key);
    mts_free(s->line);
    s->key = nk;
    s->line = nl;
    s->cap = ncap;
    return 0;
}

static int tsset_to_hash(tsset_t *s) {
    if (tsset_grow(s, s->sn + 1)) return MTS_ENOMEM;
    for (size_t i = 0; i < s->sn; i++) hash_put(s->key, s->line, s->cap, s->sk[i], s->sl[i]);
    s->n = s->sn;
    mts_free(s->sk);
    mts_free(s->sl);
    s->sk = s->sl = NULL;
    s->sn = s->scap = 0;
    s->hashed = 1;
    return 0;
}

/* 0 if added, the first line if t was seen, or MTS_ENOMEM. */
static int64_t tsset_add(tsset_t *s, int64_t t, int64_t line) {
    if (!s->hashed) {
        if (s->sn && t <= s->sk[s->sn - 1]) {
            size_t lo = 0, hi = s->sn;           /* first index with sk >= t */
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (s->sk[mid] < t) lo = mid + 1; else hi = mid;
            }
            if (s->sk[lo] == t) return s->sl[lo];
            if (tsset_to_hash(s)) return MTS_ENOMEM;
        } else {
            if (s->sn == s->scap) {
                size_t ncap = s->scap ? s->scap * 2 : 4096;
                int64_t *nk = mts_realloc(s->sk, ncap * sizeof *nk);
                if (!nk) return MTS_ENOMEM;
                s->sk = nk;
                int64_t *nl = mts_realloc(s->sl, ncap * sizeof *nl);
                if (!nl) return MTS_ENOMEM;
                s->sl = nl;
                s->scap = ncap;
            }
            s->sk[s->sn] = t;
            s->sl[s->sn] = line;
            s->sn++;
            return 0;
        }
    }
    if (tsset_grow(s, s->n + 1)) return MTS_ENOMEM;
    size_t j = mix((uint64_t)t) & (s->cap - 1);
    while (s->line[j]) {
        if (s->key[j] == t) return s->line[j];
        j = (j + 1) & (s->cap - 1);
    }
    s->key[j] = t;
    s->line[j] = line;
    s->n++;
    return 0;
}

static void tsset_free(tsset_t *s) {
    mts_free(s->sk);
    mts_free(s->sl);
    mts_free(s->key);
    mts_free(s->line);
}

/* ---- import ---- */

typedef struct import {
    mts_store_t *s;
    const char *path;
    FILE *err;
    mts_import_report_t *rep;
    reader_t r;
    tsset_t seen;
    char header[256];                 /* the column names, for messages */
    char timecol[64];                 /* name of the time column as written */
    char **names;                     /* the column names (header row or opts->columns) */
    char *namebuf;
    int ncols, tcol;
    int pending;                      /* the reader's current record is the first data row */
    int unit;                         /* unit of integer times: -1 not seen yet, 0 s .. 3 ns */
    int64_t unit_line;                /* the line that decided it */
} import_t;

static const char *const unit_short[4] = {"s", "ms", "us", "ns"};
static const char *const unit_long[4] = {"seconds", "milliseconds", "microseconds", "nanoseconds"};
static const int64_t unit_div[4] = {1, 1000, 1000000, 1000000000};

const char *const mts_csv_formats[] = {"binance", NULL};
static const char binance_columns[] =
    "open_time,open,high,low,close,volume,close_time,quote_volume,trades,taker_buy_base,taker_buy_quote,ignore";

static void reject(import_t *im, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reject(import_t *im, const char *fmt, ...) {
    im->rep->rows_rejected++;
    if (!im->err) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(im->err, "%s:%lld: ", im->path, (long long)im->r.rec_line);
    vfprintf(im->err, fmt, ap);
    fputc('\n', im->err);
    va_end(ap);
}

/* A whole-file problem: goes to err and to the store's message. */
static int fail(import_t *im, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(import_t *im, int code, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    mts_store_set_error(im->s, "%s: %s", im->path, msg);
    if (im->err) fprintf(im->err, "%s: %s\n", im->path, msg);
    return code;
}

/* The file is refused because of what is at `line`: "FILE:LINE: msg". */
static int refuse(import_t *im, int64_t line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int refuse(import_t *im, int64_t line, const char *fmt, ...) {
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    mts_store_set_error(im->s, "%s:%lld: %s", im->path, (long long)line, msg);
    if (im->err) fprintf(im->err, "%s:%lld: %s\n", im->path, (long long)line, msg);
    return MTS_EPARSE;
}

static int col_find(const import_t *im, const char *name) {
    for (int i = 0; i < im->ncols; i++)
        if (im->names[i][0] && !strcasecmp(im->names[i], name)) return i;
    return -1;
}

/* Copies the n names (of length len[i], or strlen when len is NULL) as the
 * columns; "_" and "-" become "" (skipped). */
static int names_set(import_t *im, char *const *src, const size_t *len, int n) {
    size_t total = 0;
    for (int i = 0; i < n; i++) total += (len ? len[i] : strlen(src[i])) + 1;
    im->namebuf = mts_malloc(total ? total : 1);
    im->names = mts_malloc((size_t)(n ? n : 1) * sizeof *im->names);
    if (!im->namebuf || !im->names) return MTS_ENOMEM;
    char *w = im->namebuf;
    for (int i = 0; i < n; i++) {
        size_t l = len ? len[i] : strlen(src[i]);
        memcpy(w, src[i], l);
        w[l] = '\0';
        if (!strcmp(w, "_") || !strcmp(w, "-")) w[0] = '\0';
        im->names[i] = w;
        w += l + 1;
    }
    im->ncols = n;
    return 0;
}

/* Names from "a,b,c" (spaces around a name are dropped). */
static int names_from_list(import_t *im, const char *list) {
    char buf[1024];
    if (strlen(list) >= sizeof buf) return MTS_ERANGE;
    snprintf(buf, sizeof buf, "%s", list);
    char *parts[128];
    int n = 0;
    for (char *p = buf;;) {
        while (*p == ' ') p++;
        char *c = strchr(p, ',');
        if (c) *c = '\0';
        char *e = p + strlen(p);
        while (e > p && e[-1] == ' ') *--e = '\0';
        if (n == 128) return MTS_ERANGE;
        parts[n++] = p;
        if (!c) break;
        p = c + 1;
    }
    return names_set(im, parts, NULL, n);
}

static const char *const time_cols[] = {"timestamp", "open_time", "date", "observation_date", "ts", "time"};

/* Checks the options before anything is recorded: 0 or MTS_EINVAL (message in the store). */
static int opts_check(mts_store_t *s, const mts_csv_opts_t *o) {
    if (!o) return 0;
    char d = o->delimiter;
    if (d == ' ' || d == '"' || d == '\r' || d == '\n') {
        mts_store_set_error(s, "import: the delimiter cannot be a %s",
                            d == ' ' ? "space" : d == '"' ? "quote" : "line end");
        return MTS_EINVAL;
    }
    if (o->format && strcmp(o->format, "binance") != 0) {
        mts_store_set_error(s, "import: unknown format '%s' (known: binance)", o->format);
        return MTS_EINVAL;
    }
    if (o->format && o->columns) {
        mts_store_set_error(s, "import: --format %s names the columns itself; leave out --columns", o->format);
        return MTS_EINVAL;
    }
    if (o->no_header && !o->columns && !o->format) {
        mts_store_set_error(s, "import: a file without a header row needs --columns naming its columns, e.g. "
                               "--columns ts,open,high,low,close,volume (or --format binance)");
        return MTS_EINVAL;
    }
    if (o->columns && strlen(o->columns) >= 1024) {
        mts_store_set_error(s, "import: --columns is too long");
        return MTS_EINVAL;
    }
    if (o->interval && mts_interval_seconds(o->interval) < 0) {
        mts_store_set_error(s, "import: unknown interval '%s' (one of %s)", o->interval, MTS_INTERVALS);
        return MTS_EINVAL;
    }
    return 0;
}

/* A field that looks like a number (a header row of a Binance dump does not). */
static int numeric_start(const char *f) {
    return (*f >= '0' && *f <= '9') || ((*f == '-' || *f == '+') && f[1] >= '0' && f[1] <= '9');
}

/* Opens the file and reads the header (or takes the names from the options);
 * finds the time column. */
static int import_begin_tc(import_t *im, mts_store_t *s, const char *path, const mts_csv_opts_t *o, FILE *err,
                           mts_import_report_t *rep, const char *const *tcols, size_t ntc);
static int import_begin(import_t *im, mts_store_t *s, const char *path, const mts_csv_opts_t *o, FILE *err,
                        mts_import_report_t *rep) {
    return import_begin_tc(im, s, path, o, err, rep, time_cols, sizeof time_cols / sizeof *time_cols);
}

/* import_begin with the time column looked for among tcols[0..ntc) (first found wins). */
static int import_begin_tc(import_t *im, mts_store_t *s, const char *path, const mts_csv_opts_t *o, FILE *err,
                           mts_import_report_t *rep, const char *const *tcols, size_t ntc) {
    static const mts_csv_opts_t none = {0};
    if (!o) o = &none;
    memset(im, 0, sizeof *im);
    im->s = s;
    im->path = path;
    im->err = err;
    im->rep = rep;
    im->unit = -1;
    memset(rep, 0, sizeof *rep);
    const char *columns = o->format ? binance_columns : o->columns;
    int no_header = o->format ? 1 : o->no_header;
    int rc = reader_open(&im->r, path, o->delimiter);
    if (rc == MTS_EIO) return fail(im, MTS_EIO, "cannot open: %s", strerror(errno));
    if (rc) return fail(im, rc, "out of memory");
    do {
        rc = reader_next(&im->r);
    } while (rc == 1 && record_blank(&im->r));
    if (rc == MTS_EIO) return fail(im, rc, "read error: %s", strerror(im->r.ioerr));
    if (rc < 0) return fail(im, rc, "out of memory");
    if (rc == 0)
        return fail(im, MTS_EPARSE, no_header ? "empty file (no rows)"
                                              : "empty file (expected a header row naming the columns)");
    if (columns) {
        rc = names_from_list(im, columns);
        /* no header: this record is data, unless a Binance dump has a header after all */
        if (no_header) im->pending = !(o->format && im->r.nf > 0 && !numeric_start(im->r.fld[0]));
    } else {
        rc = names_set(im, im->r.fld, im->r.flen, im->r.nf);
    }
    if (rc == MTS_ENOMEM) return fail(im, rc, "out of memory");
    if (rc) return fail(im, MTS_EINVAL, "--columns: too many names");
    size_t hl = 0;
    for (int i = 0; i < im->ncols && hl < sizeof im->header - 1; i++)
        hl += (size_t)snprintf(im->header + hl, sizeof im->header - hl, "%s%s", i ? "," : "",
                               im->names[i][0] ? im->names[i] : "_");
    im->tcol = -1;
    for (size_t k = 0; k < ntc && im->tcol < 0; k++)
        im->tcol = col_find(im, tcols[k]);
    if (im->tcol < 0) {
        /* one column holding another separator: say which option reads it */
        const char *sep = im->ncols == 1 ? strpbrk(im->names[0], ";\t|") : NULL;
        char hint[64] = "";
        if (sep) snprintf(hint, sizeof hint, "; the fields look separated by '%s': use --delimiter '%s'",
                          *sep == '\t' ? "\\t" : *sep == ';' ? ";" : "|", *sep == '\t' ? "\\t" : *sep == ';' ? ";" : "|");
        char expect[256] = "";
        for (size_t k = 0, u = 0; k < ntc && u < sizeof expect; k++)
            u += (size_t)snprintf(expect + u, sizeof expect - u, "%s%s", k ? ", " : "", tcols[k]);
        return fail(im, MTS_EPARSE, "no time column (expected one of %s; %s: %s%s)", expect,
                    columns ? "columns" : "header", im->header, hint);
    }
    snprintf(im->timecol, sizeof im->timecol, "%s", im->names[im->tcol]);
    return 0;
}

static void import_end(import_t *im) {
    reader_close(&im->r);
    tsset_free(&im->seen);
    mts_free(im->names);
    mts_free(im->namebuf);
}

/* The next data row: 1, 0 at the end, or a negative MTS_E*. */
static int next_row(import_t *im) {
    if (im->pending) {
        im->pending = 0;
        return 1;
    }
    return reader_next(&im->r);
}

/* An integer unix time (optionally a fraction): 1 and *v set, 0 when the
 * field is not of that form, -1 when it has too many digits for any unit. */
static int epoch_int(const char *f, size_t l, int64_t *v, int *frac) {
    size_t i = 0;
    int neg = 0;
    if (l && (f[0] == '-' || f[0] == '+')) { neg = f[0] == '-'; i++; }
    size_t d0 = i;
    uint64_t m = 0;
    while (i < l && f[i] >= '0' && f[i] <= '9') {
        if (i - d0 >= 19) return -1;
        m = m * 10 + (uint64_t)(f[i++] - '0');
    }
    if (i == d0) return 0;
    *frac = 0;
    if (i < l && f[i] == '.') {
        size_t f0 = ++i;
        while (i < l && f[i] >= '0' && f[i] <= '9') i++;
        if (i == f0) return 0;
        *frac = 1;
    }
    if (i != l) return 0;
    if (m > (uint64_t)INT64_MAX) return -1;
    *v = neg ? -(int64_t)m : (int64_t)m;
    return 1;
}

/* Common row checks: field count and time. 0 ok, 1 rejected, or a negative
 * MTS_E* when the file is refused (the message is out). */
static int row_time(import_t *im, int64_t *t) {
    reader_t *r = &im->r;
    if (r->malformed) {
        reject(im, "malformed quoted field");
        return 1;
    }
    if (r->nf != im->ncols) {
        reject(im, "expected %d fields, got %d", im->ncols, r->nf);
        return 1;
    }
    const char *tf = r->fld[im->tcol];
    size_t tl = r->flen[im->tcol];
    int w = (int)(tl < SHOW ? tl : SHOW);
    int64_t v;
    int frac = 0;
    int e = epoch_int(tf, tl, &v, &frac);
    if (e < 0)
        return refuse(im, r->rec_line, "time '%.*s' in column %s has too many digits for unix time in any unit "
                      "(s, ms, us, ns); the file is refused, nothing of it stored", w, tf, im->timecol);
    if (e == 0) {
        if (mts_time_parse(tf, tl, t)) {
            reject(im, "bad time '%.*s' in column %s", w, tf, im->timecol);
            return 1;
        }
        return 0;
    }
    uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    int unit = a < 100000000000ULL ? 0 : a < 100000000000000ULL ? 1 : a < 100000000000000000ULL ? 2 : 3;
    if (im->unit < 0) {
        im->unit = unit;
        im->unit_line = r->rec_line;
    } else if (unit != im->unit) {
        return refuse(im, r->rec_line, "time %.*s in column %s looks like unix %s, but the file's first time "
                      "(line %lld) is in %s; a column of mixed units is refused, nothing of it stored",
                      w, tf, im->timecol, unit_long[unit], (long long)im->unit_line, unit_long[im->unit]);
    }
    if (frac && im->unit > 0) {
        reject(im, "bad time '%.*s' in column %s (a fraction of %s)", w, tf, im->timecol, unit_long[im->unit]);
        return 1;
    }
    int64_t d = unit_div[im->unit];
    *t = v >= 0 ? v / d : -((-v + d - 1) / d);
    if (v < 0 && frac && im->unit == 0) *t -= 1;       /* floor of a negative fraction */
    if (*t < MTS_BAR_TS_MIN || *t >= MTS_BAR_TS_MAX)
        return refuse(im, r->rec_line, "time %.*s in column %s, read as unix %s, is outside "
                      "1970-01-01..2100-01-01; the file is refused, nothing of it stored (is the column "
                      "really a time?)", w, tf, im->timecol, unit_long[im->unit]);
    return 0;
}

/* Parses field c named `name`; reports and returns nonzero when it is not a finite number. */
static int field_num(import_t *im, int c, const char *name, double *v) {
    const char *f = im->r.fld[c];
    size_t l = im->r.flen[c];
    int w = (int)(l < SHOW ? l : SHOW);
    switch (parse_num(f, l, v)) {
    case NUM_OK: return 0;
    case NUM_EMPTY: reject(im, "%s is empty", name); break;
    case NUM_BAD: reject(im, "%s is not a number: '%.*s'", name, w, f); break;
    default: reject(im, "%s is not finite: '%.*s'", name, w, f); break;
    }
    return 1;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* "3600 s (1h)" or "5400 s": a spacing, for messages. */
static void fmt_spacing(char *buf, size_t n, int64_t d) {
    const char *name = mts_interval_name(d);
    if (name) snprintf(buf, n, "%lld s (%s)", (long long)d, name);
    else snprintf(buf, n, "%lld s", (long long)d);
}

/* The interval of the bars: opts->interval, or told from the times of the
 * file's first rows (dts[0..dn): every row whose time was read, also those
 * rejected for their values, so a few bad rows do not hide the spacing).
 * ts[0..n) are the first batch's bars in file order, lines[] their lines, for
 * messages. Sets *secs, *name. 0, or MTS_EPARSE when the file is refused (the
 * message is out). */
static int settle_interval(import_t *im, const char *given, const int64_t *dts, int64_t dn, const int64_t *ts,
                           const int64_t *lines, int64_t n, int64_t *secs, const char **name, int *detected) {
    int64_t *sorted = mts_malloc((size_t)(dn ? dn : 1) * sizeof *sorted);
    if (!sorted) return fail(im, MTS_ENOMEM, "out of memory");
    memcpy(sorted, dts, (size_t)dn * sizeof *sorted);
    qsort(sorted, (size_t)dn, sizeof *sorted, cmp_i64);
    const char *why = NULL;
    int64_t found = mts_interval_detect(sorted, dn, &why);
    /* the most common spacing, for messages */
    int64_t mode = 0, mode_n = 0, total = 0;
    if (found < 0 && dn >= 2) {
        for (int64_t i = 1; i < dn; i++) {
            int64_t d = sorted[i] - sorted[i - 1];
            if (d > 0) sorted[total++] = d;
        }
        qsort(sorted, (size_t)total, sizeof *sorted, cmp_i64);
        for (int64_t i = 0, j; i < total; i = j) {
            for (j = i; j < total && sorted[j] == sorted[i]; j++) {}
            if (j - i > mode_n) { mode_n = j - i; mode = sorted[i]; }
        }
    }
    mts_free(sorted);
    if (given) {
        *secs = mts_interval_seconds(given);
        *name = mts_interval_name(*secs);
        *detected = 0;
        if (found > 0 && found != *secs) {
            int64_t la = 0, lb = 0;
            for (int64_t i = 1; i < n && !la; i++)
                if (ts[i] - ts[i - 1] == found) { la = lines[i - 1]; lb = lines[i]; }
            char sp[48];
            fmt_spacing(sp, sizeof sp, found);
            if (la)
                return refuse(im, lb, "the bars are %s apart (e.g. lines %lld and %lld) but --interval is %s; "
                              "leave --interval out to store them as %s, or import the %s file", sp,
                              (long long)la, (long long)lb, given, mts_interval_name(found), given);
            return refuse(im, lines[0], "the bars are %s apart but --interval is %s; leave --interval out to "
                          "store them as %s", sp, given, mts_interval_name(found));
        }
    } else {
        if (found < 0) {
            char sp[48];
            fmt_spacing(sp, sizeof sp, mode);
            if (mode_n)
                return fail(im, MTS_EPARSE, "cannot tell the interval of the bars: %s (the most common spacing "
                            "is %s, between %lld of %lld pairs of consecutive bars); use --interval (one of %s)",
                            why, sp, (long long)mode_n, (long long)total, MTS_INTERVALS);
            return fail(im, MTS_EPARSE, "cannot tell the interval of the bars: %s; use --interval (one of %s)",
                        why, MTS_INTERVALS);
        }
        *secs = found;
        *name = mts_interval_name(found);
        *detected = 1;
    }
    return 0;
}

/* Every bar of the batch must open on the interval's grid. */
static int check_grid(import_t *im, const int64_t *ts, const int64_t *lines, int64_t n, int64_t secs,
                      const char *name) {
    for (int64_t i = 0; i < n; i++) {
        if (mts_interval_aligned(ts[i], secs)) continue;
        char iso[32], fl[32];
        mts_time_format_iso(ts[i], iso);
        mts_time_format_iso(mts_interval_floor(ts[i], secs), fl);
        return refuse(im, lines[i], "bar time %s is not on the %s grid (the %s bar would open at %s); a file "
                      "of %s bars must not mix in other times (split the file, or use the right --interval)",
                      iso, name, name, fl, name);
    }
    return 0;
}

int mts_csv_import_ohlcv_ex(mts_store_t *s, const char *path, const char *asset, const mts_csv_opts_t *opts,
                            FILE *err, mts_import_report_t *rep, mts_csv_info_t *info) {
    mts_import_report_t rep0;
    mts_csv_info_t info0;
    if (!rep) rep = &rep0;
    if (!info) info = &info0;
    memset(rep, 0, sizeof *rep);
    memset(info, 0, sizeof *info);
    if (!s || !path || !asset || !*asset) {
        if (s) mts_store_set_error(s, "import: missing file or asset name");
        return MTS_EINVAL;
    }
    int rc = opts_check(s, opts);
    if (rc) return rc;
    const char *given = opts ? opts->interval : NULL;
    import_t im;
    mts_bars_t b = {0};
    int64_t *lines = NULL;            /* the batch's lines, for messages */
    int64_t *dts = NULL, dn = 0;      /* times of the first rows, to tell the interval */
    mts_import_run_t run;             /* import_runs: 'running' is committed before any row */
    int64_t stored = 0, secs = 0;
    const char *ivname = NULL;
    rc = mts_imports_start(s, "ohlcv", asset, path, &run);
    if (rc) return rc;
    if (given) mts_imports_set_interval(s, run.id, mts_interval_name(mts_interval_seconds(given)));
    rc = import_begin(&im, s, path, opts, err, rep);
    if (rc) goto out;

    static const char *const names[5] = {"open", "high", "low", "close", "volume"};
    int col[5];
    for (int k = 0; k < 5; k++) {
        col[k] = col_find(&im, names[k]);
        if (col[k] < 0) {
            rc = fail(&im, MTS_EPARSE, "missing column '%s' (%s: %s)", names[k],
                      opts && (opts->columns || opts->format) ? "columns" : "header", im.header);
            goto out;
        }
    }
    lines = mts_malloc(BATCH * sizeof *lines);
    dts = mts_malloc(BATCH * sizeof *dts);
    if (!lines || !dts || mts_bars_reserve(&b, BATCH)) { rc = fail(&im, MTS_ENOMEM, "out of memory"); goto out; }

    reader_t *r = &im.r;
    for (;;) {
        rc = next_row(&im);
        if (rc == 1) {
            rep->rows_read++;
            if (record_blank(r)) { rep->rows_blank++; continue; }
            int64_t t;
            int tr = row_time(&im, &t);
            if (tr < 0) { rc = tr; goto out; }
            if (tr) continue;
            if (!ivname && dn < BATCH) dts[dn++] = t;
            double v[5];
            int bad = 0;
            for (int k = 0; k < 5 && !bad; k++) bad = field_num(&im, col[k], names[k], &v[k]);
            if (bad) continue;
            double o = v[0], h = v[1], l = v[2], c = v[3], vol = v[4];
            /* the message quotes the fields as written */
#define FLD(k) (int)(r->flen[col[k]] < SHOW ? r->flen[col[k]] : SHOW), r->fld[col[k]]
            mts_bar_verdict_t w;          /* the one bar rule (market/bar_check.h), shared with live sessions */
            if (mts_bar_check(t, v, &w) != MTS_BAR_OK) {
                int k0 = w.field, k1 = w.other;
                switch (w.fault) {
                case MTS_BAR_TIME:
                    reject(&im, "time %.*s is outside 1970-01-01..2100-01-01", (int)(r->flen[im.tcol] < SHOW ?
                           r->flen[im.tcol] : SHOW), r->fld[im.tcol]);
                    break;
                case MTS_BAR_NOT_POSITIVE: reject(&im, "%s must be > 0, got %.*s", names[k0], FLD(k0)); break;
                case MTS_BAR_NEGATIVE: reject(&im, "%s must be >= 0, got %.*s", names[k0], FLD(k0)); break;
                case MTS_BAR_TOO_LARGE:
                    reject(&im, "%s %.*s is above the %s limit %g", names[k0], FLD(k0), k0 < 4 ? "price" : "volume",
                           k0 < 4 ? MTS_BAR_PRICE_MAX : MTS_BAR_VOLUME_MAX);
                    break;
                case MTS_BAR_HIGH_BELOW: reject(&im, "high %.*s < max(open, close) %.*s", FLD(1), FLD(k1)); break;
                case MTS_BAR_LOW_ABOVE: reject(&im, "low %.*s > min(open, close) %.*s", FLD(2), FLD(k1)); break;
                default: reject(&im, "%s is not finite: '%.*s'", names[k0 >= 0 ? k0 : 0], FLD(k0 >= 0 ? k0 : 0)); break;
                }
                continue;
            }
#undef FLD
            int64_t first = tsset_add(&im.seen, t, r->rec_line);
            if (first == MTS_ENOMEM) { rc = fail(&im, MTS_ENOMEM, "out of memory"); goto out; }
            if (first > 0) {
                char iso[32];
                mts_time_format_iso(t, iso);
                reject(&im, "duplicate time %s (first at line %lld)", iso, (long long)first);
                continue;
            }
            int64_t i = b.n++;
            b.ts[i] = t;
            b.open[i] = o;
            b.high[i] = h;
            b.low[i] = l;
            b.close[i] = c;
            b.volume[i] = vol;
            lines[i] = r->rec_line;
            rep->rows_ok++;
            if (b.n < BATCH) continue;
        } else if (rc < 0) {
            rc = fail(&im, rc, "%s at line %lld", rc == MTS_EIO ? "read error" : "out of memory", (long long)r->line);
            goto out;
        }
        /* a full batch, or the end of the file: store what there is */
        int more = rc == 1;
        if (b.n) {
            if (!ivname) {            /* the first batch: nothing is stored before the interval is known */
                rc = settle_interval(&im, given, dts, dn, b.ts, lines, b.n, &secs, &ivname,
                                     &info->interval_detected);
                if (rc) goto out;
                if (!ivname) { rc = fail(&im, MTS_EINVAL, "no interval"); goto out; }
                snprintf(info->interval, sizeof info->interval, "%s", ivname);
                if (!given) mts_imports_set_interval(s, run.id, ivname);
            }
            if ((rc = check_grid(&im, b.ts, lines, b.n, secs, ivname)) != 0) goto out;
            int urc = mts_store_upsert_ohlcv(s, asset, ivname, &b);
            if (urc) {
                rc = fail(&im, urc == MTS_ENOMEM ? MTS_ENOMEM : MTS_EDB, "%s", mts_store_errmsg(s));
                goto out;
            }
            stored += b.n;
            if (more) mts_imports_progress(s, run.id, stored);   /* advisory: a failure here is not the import's */
            b.n = 0;
        }
        if (!more) break;
    }
    if (!ivname && given) snprintf(info->interval, sizeof info->interval, "%s", given);
    rc = rep->rows_rejected ? MTS_EPARTIAL : 0;
out:
    info->unit = im.unit >= 0 ? unit_short[im.unit] : NULL;
    import_end(&im);
    mts_bars_free(&b);
    mts_free(lines);
    mts_free(dts);
    mts_imports_finish(s, &run, stored, rc, err);
    return rc;
}

int mts_csv_import_ohlcv(mts_store_t *s, const char *path, const char *asset,
                         FILE *err, mts_import_report_t *rep) {
    return mts_csv_import_ohlcv_ex(s, path, asset, NULL, err, rep, NULL);
}

int mts_csv_import_macro_ex(mts_store_t *s, const char *path, const char *indicator, const mts_csv_opts_t *opts,
                            FILE *err, mts_import_report_t *rep, mts_csv_info_t *info) {
    mts_import_report_t rep0;
    mts_csv_info_t info0;
    if (!rep) rep = &rep0;
    if (!info) info = &info0;
    memset(rep, 0, sizeof *rep);
    memset(info, 0, sizeof *info);
    if (!s || !path || !indicator || !*indicator) {
        if (s) mts_store_set_error(s, "import: missing file or indicator name");
        return MTS_EINVAL;
    }
    int rc = opts_check(s, opts);
    if (rc) return rc;
    const char *column = opts ? opts->column : NULL;
    import_t im;
    int64_t *bts = NULL;
    double *bv = NULL;
    mts_import_run_t run;             /* import_runs: 'running' is committed before any row */
    int64_t stored = 0;
    rc = mts_imports_start(s, "macro", indicator, path, &run);
    if (rc) return rc;
    rc = import_begin(&im, s, path, opts, err, rep);
    if (rc) goto out;

    reader_t *r = &im.r;
    int vcol;
    if (column && *column) {
        vcol = col_find(&im, column);
        if (vcol < 0) {
            rc = fail(&im, MTS_EPARSE, "no column '%s' (header: %s)", column, im.header);
            goto out;
        }
    } else {
        vcol = col_find(&im, "value");
        if (vcol < 0) vcol = col_find(&im, indicator);
        if (vcol < 0) vcol = col_find(&im, "close");
        if (vcol < 0 && im.ncols == 2) vcol = 1 - im.tcol;   /* date,VALUE: the one value column */
        if (vcol < 0) {
            rc = fail(&im, MTS_EPARSE, "no value column (looked for value, %s, close; name one with "
                                       "--column; header: %s)", indicator, im.header);
            goto out;
        }
    }
    if (vcol == im.tcol) {
        rc = fail(&im, MTS_EPARSE, "the value column '%s' is the time column", im.names[vcol]);
        goto out;
    }
    char vname[64];
    snprintf(vname, sizeof vname, "%s", im.names[vcol][0] ? im.names[vcol] : "value");
    bts = mts_malloc(BATCH * sizeof *bts);
    bv = mts_malloc(BATCH * sizeof *bv);
    if (!bts || !bv) { rc = fail(&im, MTS_ENOMEM, "out of memory"); goto out; }
    int64_t n = 0;

    while ((rc = next_row(&im)) == 1) {
        rep->rows_read++;
        if (record_blank(r)) { rep->rows_blank++; continue; }
        int64_t t;
        int tr = row_time(&im, &t);
        if (tr < 0) { rc = tr; goto out; }
        if (tr) continue;
        t = mts_time_day(t);          /* a time of day is dropped: macro rows are dates */
        const char *f = r->fld[vcol];
        size_t l = r->flen[vcol];
        if (l == 0 || (l == 1 && f[0] == '.')) { rep->rows_blank++; continue; }
        double v;
        if (field_num(&im, vcol, vname, &v)) continue;
        int64_t first = tsset_add(&im.seen, t, r->rec_line);
        if (first == MTS_ENOMEM) { rc = fail(&im, MTS_ENOMEM, "out of memory"); goto out; }
        if (first > 0) {
            char d[16];
            mts_time_format_date(t, d);
            reject(&im, "duplicate date %s (first at line %lld)", d, (long long)first);
            continue;
        }
        bts[n] = t;
        bv[n] = v;
        n++;
        rep->rows_ok++;
        if (n == BATCH) {
            if (mts_store_upsert_macro(s, indicator, bts, bv, NULL, n)) {
                rc = fail(&im, MTS_EDB, "%s", mts_store_errmsg(s));
                goto out;
            }
            stored += n;
            mts_imports_progress(s, run.id, stored);   /* advisory: a failure here is not the import's */
            n = 0;
        }
    }
    if (rc < 0) {
        rc = fail(&im, rc, "%s at line %lld", rc == MTS_EIO ? "read error" : "out of memory", (long long)r->line);
        goto out;
    }
    if (n && mts_store_upsert_macro(s, indicator, bts, bv, NULL, n)) {
        rc = fail(&im, MTS_EDB, "%s", mts_store_errmsg(s));
        goto out;
    }
    stored += n;
    rc = rep->rows_rejected ? MTS_EPARTIAL : 0;
out:
    info->unit = im.unit >= 0 ? unit_short[im.unit] : NULL;
    import_end(&im);
    mts_free(bts);
    mts_free(bv);
    mts_imports_finish(s, &run, stored, rc, err);
    return rc;
}

int mts_csv_import_macro(mts_store_t *s, const char *path, const char *indicator,
                         const char *column, FILE *err, mts_import_report_t *rep) {
    mts_csv_opts_t o = {0};
    o.column = column;
    return mts_csv_import_macro_ex(s, path, indicator, &o, err, rep, NULL);
}

/* ---- export ---- */

static void put_text(FILE *out, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) { fputs(s, out); return; }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"') fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

static int export_finish(mts_store_t *s, sqlite3_stmt *st, int rc, FILE *out, const char *what) {
    int ret = 0;
    if (rc != SQLITE_DONE) ret = mts_store_db_error(s, what);
    sqlite3_finalize(st);
    if (!ret && (fflush(out) || ferror(out))) {
        mts_store_set_error(s, "%s: write error: %s", what, strerror(errno));
        ret = MTS_EIO;
    }
    return ret;
}

static int export_flush(mts_store_t *s, FILE *out, const char *what) {
    if (fflush(out) || ferror(out)) {
        mts_store_set_error(s, "%s: write error: %s", what, strerror(errno));
        return MTS_EIO;
    }
    return 0;
}

int mts_csv_export_ohlcv(mts_store_t *s, const char *asset, int64_t from, int64_t to, FILE *out) {
    if (!s || !asset || !out) return MTS_EINVAL;
    mts_bars_t b = {0};
    int rc = mts_store_load_ohlcv(s, asset, MTS_INTERVAL_DEFAULT, from, to, &b);
    if (rc) {
        mts_bars_free(&b);
        return rc;
    }
    fputs("timestamp,date,open,high,low,close,volume\n", out);
    for (int64_t i = 0; i < b.n; i++) {
        char iso[32], num[5][40];
        mts_time_format_iso(b.ts[i], iso);
        fmt_double(num[0], b.open[i]);
        fmt_double(num[1], b.high[i]);
        fmt_double(num[2], b.low[i]);
        fmt_double(num[3], b.close[i]);
        fmt_double(num[4], b.volume[i]);
        fprintf(out, "%s,%.10s,%s,%s,%s,%s,%s\n", iso, iso, num[0], num[1], num[2], num[3], num[4]);
    }
    mts_bars_free(&b);
    return export_flush(s, out, "export_ohlcv");
}

/* `mts export table crypto_ohlcv`: the columns of the row table of schema
 * v1..v6 without id and created_at, decoded from ohlcv_blocks block by block
 * (memory for one block), ordered by asset, interval, time. */
static int export_bar_rows(mts_store_t *s, FILE *out) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(mts_store_db(s),
                           "SELECT cryptocurrency, interval, bars FROM ohlcv_blocks"
                           " ORDER BY cryptocurrency, interval, block_start", -1, &st, NULL) != SQLITE_OK)
        return mts_store_db_error(s, "export_table crypto_ohlcv");
    fputs("cryptocurrency,interval,timestamp,date_str,open,high,low,close,volume\n", out);
    mts_bars_t b = {0};
    int rc, ret = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *asset = (const char *)sqlite3_column_text(st, 0);
        const char *iv = (const char *)sqlite3_column_text(st, 1);
        const uint8_t *blob = sqlite3_column_blob(st, 2);
        size_t len = (size_t)sqlite3_column_bytes(st, 2);
        mts_colblob_info_t in;
        double *cols[5];
        if (mts_colblob_info(blob, len, &in) || in.k != 5) {
            mts_store_set_error(s, "export_table crypto_ohlcv: a stored block of %s %s is damaged (not an MTC1 "
                                   "blob of 5 columns)", asset ? asset : "", iv ? iv : "");
            ret = MTS_EPARSE;
            break;
        }
        if (mts_bars_reserve(&b, in.n)) {
            mts_store_set_error(s, "export_table crypto_ohlcv: out of memory");
            ret = MTS_ENOMEM;
            break;
        }
        cols[0] = b.open; cols[1] = b.high; cols[2] = b.low; cols[3] = b.close; cols[4] = b.volume;
        if (mts_colblob_decode(blob, len, 0, in.n, b.ts, cols, 5)) {
            mts_store_set_error(s, "export_table crypto_ohlcv: a stored block of %s %s is damaged", asset ? asset : "",
                                iv ? iv : "");
            ret = MTS_EPARSE;
            break;
        }
        for (int64_t i = 0; i < in.n; i++) {
            char date[16], num[40];
            put_text(out, asset ? asset : "");
            fputc(',', out);
            put_text(out, iv ? iv : "");
            mts_time_format_date(b.ts[i], date);
            fprintf(out, ",%lld,%s", (long long)b.ts[i], date);
            for (int c = 0; c < 5; c++) {
                fmt_double(num, cols[c][i]);
                fprintf(out, ",%s", num);
            }
            fputc('\n', out);
        }
    }
    mts_bars_free(&b);
    if (ret) {
        sqlite3_finalize(st);
        return ret;
    }
    return export_finish(s, st, rc, out, "export_table");
}

int mts_csv_export_macro(mts_store_t *s, const char *indicator, int64_t from, int64_t to, FILE *out) {
    if (!s || !indicator || !out) return MTS_EINVAL;
    char lo[16], hi[16];
    mts_store_macro_range(from, to, lo, hi);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(mts_store_db(s),
                           "SELECT date, value, is_interpolated, is_forward_filled FROM macro_indicators"
                           " WHERE indicator = ?1 AND date >= ?2 AND date <= ?3 ORDER BY date",
                           -1, &st, NULL) != SQLITE_OK)
        return mts_store_db_error(s, "export_macro");
    sqlite3_bind_text(st, 1, indicator, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, lo, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, hi, -1, SQLITE_STATIC);
    fputs("date,value,is_interpolated,is_forward_filled\n", out);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        char num[40];
        fmt_double(num, sqlite3_column_double(st, 1));
        const char *d = (const char *)sqlite3_column_text(st, 0);
        fprintf(out, "%s,%s,%d,%d\n", d ? d : "", num, sqlite3_column_int(st, 2) != 0,
                sqlite3_column_int(st, 3) != 0);
    }
    return export_finish(s, st, rc, out, "export_macro");
}

/* Every table `mts export table` may write (NULL-terminated). */
const char *const mts_store_tables[] = {
    "crypto_ohlcv", "macro_indicators", "signal_history", "backtest_results",
    "trades", "order_book_snapshots", "funding_rates", NULL};

int mts_csv_export_table(mts_store_t *s, const char *table, FILE *out) {
    if (!s || !table || !out) return MTS_EINVAL;
    const char *name = NULL;
    for (size_t i = 0; mts_store_tables[i]; i++)
        if (!strcmp(table, mts_store_tables[i])) name = mts_store_tables[i];
    if (!name) {
        char list[256] = "";
        for (size_t i = 0, used = 0; mts_store_tables[i] && used < sizeof list; i++)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "",
                                     mts_store_tables[i]);
        mts_store_set_error(s, "unknown table '%s' (one of %s)", table, list);
        return MTS_EINVAL;
    }
    if (!strcmp(name, "crypto_ohlcv")) return export_bar_rows(s, out);
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT * FROM %s ORDER BY id", name);   /* name is from the list */
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(mts_store_db(s), sql, -1, &st, NULL) != SQLITE_OK)
        return mts_store_db_error(s, "export_table");
    int nc = sqlite3_column_count(st);
    for (int c = 0; c < nc; c++) {
        if (c) fputc(',', out);
        put_text(out, sqlite3_column_name(st, c));
    }
    fputc('\n', out);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (int c = 0; c < nc; c++) {
            if (c) fputc(',', out);
            switch (sqlite3_column_type(st, c)) {
            case SQLITE_NULL: break;
            case SQLITE_INTEGER: fprintf(out, "%lld", (long long)sqlite3_column_int64(st, c)); break;
            case SQLITE_FLOAT: {
                char num[40];
                fmt_double(num, sqlite3_column_double(st, c));
                fputs(num, out);
                break;
            }
            default: {
                const char *t = (const char *)sqlite3_column_text(st, c);
                put_text(out, t ? t : "");
            }
            }
        }
        fputc('\n', out);
    }
    return export_finish(s, st, rc, out, "export_table");
}

/* ---- funding import (csv.h) ---- */

static const char *const funding_time_cols[] = {"ts", "timestamp", "time", "fundingTime", "funding_time",
                                                "fundingRateTimestamp", "calc_time"};
static const char *const funding_rate_cols[] = {"rate", "fundingRate", "funding_rate", "last_funding_rate"};
static const char *const funding_mark_cols[] = {"mark_price", "markPrice", "mark"};

typedef struct { int64_t ms, line; double rate, mark; } frow_t;

static int cmp_frow(const void *a, const void *b) {
    const frow_t *x = a, *y = b;
    if (x->ms != y->ms) return x->ms < y->ms ? -1 : 1;
    return (x->line > y->line) - (x->line < y->line);
}

/* Same values: rates equal, marks equal or both absent (NaN). */
static int frow_same(double r1, double m1, double r2, double m2) {
    return r1 == r2 && ((isnan(m1) && isnan(m2)) || m1 == m2);
}

/* The time of the current row in unix ms. 0 ok, 1 rejected, <0 file refused. */
static int funding_row_ms(import_t *im, int64_t *ms) {
    reader_t *r = &im->r;
    const char *tf = r->fld[im->tcol];
    size_t tl = r->flen[im->tcol];
    int w = (int)(tl < SHOW ? tl : SHOW);
    int64_t v;
    int frac = 0;
    int e = epoch_int(tf, tl, &v, &frac);
    if (e < 0)
        return refuse(im, r->rec_line, "time '%.*s' in column %s has too many digits for unix time in any unit "
                      "(s, ms, us, ns); the file is refused, nothing of it stored", w, tf, im->timecol);
    int64_t t;
    if (e == 0) {
        if (mts_time_parse(tf, tl, &t)) {
            reject(im, "bad time '%.*s' in column %s", w, tf, im->timecol);
            return 1;
        }
        *ms = t * 1000;
    } else {
        uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
        int unit = a < 100000000000ULL ? 0 : a < 100000000000000ULL ? 1 : a < 100000000000000000ULL ? 2 : 3;
        if (im->unit < 0) {
            im->unit = unit;
            im->unit_line = r->rec_line;
        } else if (unit != im->unit) {
            return refuse(im, r->rec_line, "time %.*s in column %s looks like unix %s, but the file's first time "
                          "(line %lld) is in %s; a column of mixed units is refused, nothing of it stored",
                          w, tf, im->timecol, unit_long[unit], (long long)im->unit_line, unit_long[im->unit]);
        }
        if (frac && im->unit > 0) {
            reject(im, "bad time '%.*s' in column %s (a fraction of %s)", w, tf, im->timecol, unit_long[im->unit]);
            return 1;
        }
        if (im->unit == 0) {
            if (frac) {
                double d = strtod(tf, NULL);
                *ms = (int64_t)floor(d * 1000.0);
            } else {
                *ms = v * 1000;   /* |v| < 1e11: no overflow */
            }
        } else {
            int64_t d = unit_div[im->unit] / 1000;
            *ms = v >= 0 ? v / d : -((-v + d - 1) / d);
        }
    }
    int64_t sec = *ms >= 0 ? *ms / 1000 : -((-*ms + 999) / 1000);
    if (sec < MTS_BAR_TS_MIN || sec >= MTS_BAR_TS_MAX)
        return refuse(im, r->rec_line, "time %.*s in column %s%s%s is outside 1970-01-01..2100-01-01; the file "
                      "is refused, nothing of it stored (is the column really a time?)", w, tf, im->timecol,
                      im->unit >= 0 && e ? ", read as unix " : "", im->unit >= 0 && e ? unit_long[im->unit] : "");
    return 0;
}

static int col_find_any(const import_t *im, const char *const *names, size_t n) {
    for (size_t k = 0; k < n; k++) {
        int c = col_find(im, names[k]);
        if (c >= 0) return c;
    }
    return -1;
}

int mts_csv_import_funding(mts_store_t *s, const char *path, const char *symbol, const char *exchange,
                           const mts_csv_opts_t *opts, FILE *err, mts_funding_import_t *out) {
    mts_funding_import_t out0;
    if (!out) out = &out0;
    memset(out, 0, sizeof *out);
    if (!s || !path || !symbol || !*symbol || !exchange || !*exchange) {
        if (s) mts_store_set_error(s, "import funding: missing file, symbol or exchange");
        return MTS_EINVAL;
    }
    if (strlen(symbol) > 40 || strlen(exchange) > 40) {
        mts_store_set_error(s, "import funding: symbol or exchange name too long");
        return MTS_EINVAL;
    }
    int rc = opts_check(s, opts);
    if (rc) return rc;
    if (opts && (opts->format || opts->interval || opts->column)) {
        mts_store_set_error(s, "import funding: %s is not for funding files",
                            opts->format ? "--format" : opts->interval ? "--interval" : "--column");
        return MTS_EINVAL;
    }
    char target[96];
    snprintf(target, sizeof target, "%s@%s", symbol, exchange);
    mts_import_report_t rep = {0};
    import_t im;
    memset(&im, 0, sizeof im);
    im.unit = -1;
    frow_t *rows = NULL;
    int64_t n = 0, cap = 0, stored = 0;
    sqlite3_stmt *ins = NULL, *get = NULL;
    int in_tx = 0;
    mts_import_run_t run;
    rc = mts_imports_start(s, "funding", target, path, &run);
    if (rc) return rc;
    rc = import_begin_tc(&im, s, path, opts, err, &rep, funding_time_cols,
                         sizeof funding_time_cols / sizeof *funding_time_cols);
    if (rc) goto out;
    reader_t *r = &im.r;
    int rcol = col_find_any(&im, funding_rate_cols, sizeof funding_rate_cols / sizeof *funding_rate_cols);
    int mcol = col_find_any(&im, funding_mark_cols, sizeof funding_mark_cols / sizeof *funding_mark_cols);
    int scol = col_find(&im, "symbol");
    if (rcol < 0 || rcol == im.tcol) {
        rc = fail(&im, MTS_EPARSE, "no rate column (expected one of rate, fundingRate, funding_rate, "
                                   "last_funding_rate; %s: %s)", opts && opts->columns ? "columns" : "header",
                  im.header);
        goto out;
    }
    while ((rc = next_row(&im)) == 1) {
        rep.rows_read++;
        if (record_blank(r)) { rep.rows_blank++; continue; }
        if (r->malformed) { reject(&im, "malformed quoted field"); continue; }
        if (r->nf != im.ncols) { reject(&im, "expected %d fields, got %d", im.ncols, r->nf); continue; }
        int64_t ms = 0;
        int tr = funding_row_ms(&im, &ms);
        if (tr < 0) { rc = tr; goto out; }
        if (tr) continue;
        double rate, mark = NAN;
        if (field_num(&im, rcol, "rate", &rate)) continue;
        if (fabs(rate) > 1) {
            reject(&im, "rate %.*s is beyond -1..1 (a funding rate is a fraction: 0.0001 is 0.01 %%)",
                   (int)(r->flen[rcol] < SHOW ? r->flen[rcol] : SHOW), r->fld[rcol]);
            continue;
        }
        if (mcol >= 0 && r->flen[mcol]) {
            if (field_num(&im, mcol, "mark_price", &mark)) continue;
            if (!(mark > 0)) {
                reject(&im, "mark_price %.*s is not > 0 (leave it empty when not known)",
                       (int)(r->flen[mcol] < SHOW ? r->flen[mcol] : SHOW), r->fld[mcol]);
                continue;
            }
        }
        if (scol >= 0 && r->flen[scol] && strcasecmp(r->fld[scol], symbol) != 0) {
            reject(&im, "symbol %.*s is not --symbol %s", (int)(r->flen[scol] < SHOW ? r->flen[scol] : SHOW),
                   r->fld[scol], symbol);
            continue;
        }
        if (n == cap) {
            int64_t nc = cap ? cap * 2 : 1024;
            frow_t *q = mts_realloc(rows, (size_t)nc * sizeof *q);
            if (!q) { rc = fail(&im, MTS_ENOMEM, "out of memory"); goto out; }
            rows = q;
            cap = nc;
        }
        rows[n++] = (frow_t){ms, r->rec_line, rate, mark};
    }
    if (rc < 0) {
        rc = fail(&im, rc, "%s at line %lld", rc == MTS_EIO ? "read error" : "out of memory", (long long)r->line);
        goto out;
    }
    /* the same time on several lines: once when they agree, else none of them */
    if (n) qsort(rows, (size_t)n, sizeof *rows, cmp_frow);
    int64_t m = 0;
    for (int64_t i = 0; i < n;) {
        int64_t j = i + 1, conflict = 0;
        while (j < n && rows[j].ms == rows[i].ms) {
            if (!frow_same(rows[i].rate, rows[i].mark, rows[j].rate, rows[j].mark)) conflict = 1;
            j++;
        }
        if (conflict) {
            for (int64_t k = i; k < j; k++) {
                rep.rows_rejected++;
                if (err)
                    fprintf(err, "%s:%lld: time %lld is also on line %lld with another rate or mark price; "
                                 "every line of that time is rejected\n", path, (long long)rows[k].line,
                            (long long)rows[k].ms, (long long)rows[k == i ? i + 1 : i].line);
            }
        } else {
            out->dup += j - i - 1;
            rows[m++] = rows[i];
        }
        i = j;
    }
    n = m;
    out->rows_ok = n;
    if (n) {
        out->first_ms = rows[0].ms;
        out->last_ms = rows[n - 1].ms;
    }
    sqlite3 *db = mts_store_db(s);
    if (sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO funding_rates(exchange, symbol, ts_ms, rate, mark_price,"
                               " next_funding_ms) VALUES(?1, ?2, ?3, ?4, ?5, NULL)", -1, &ins, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT rate, mark_price, next_funding_ms FROM funding_rates"
                               " WHERE exchange = ?1 AND symbol = ?2 AND ts_ms = ?3", -1, &get, NULL) != SQLITE_OK) {
        rc = fail(&im, MTS_EDB, "funding_rates: %s", sqlite3_errmsg(db));
        goto out;
    }
    if (n) {
        if (mts_store_tx_begin(s)) { rc = fail(&im, MTS_EDB, "%s", mts_store_errmsg(s)); goto out; }
        in_tx = 1;
    }
    sqlite3_bind_text(ins, 1, exchange, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 2, symbol, -1, SQLITE_STATIC);
    sqlite3_bind_text(get, 1, exchange, -1, SQLITE_STATIC);
    sqlite3_bind_text(get, 2, symbol, -1, SQLITE_STATIC);
    for (int64_t i = 0; i < n; i++) {
        sqlite3_bind_int64(ins, 3, rows[i].ms);
        sqlite3_bind_double(ins, 4, rows[i].rate);
        if (isnan(rows[i].mark)) sqlite3_bind_null(ins, 5);
        else sqlite3_bind_double(ins, 5, rows[i].mark);
        int src = sqlite3_step(ins);
        sqlite3_reset(ins);
        if (src != SQLITE_DONE) { rc = fail(&im, MTS_EDB, "funding_rates: %s", sqlite3_errmsg(db)); goto out; }
        if (sqlite3_changes(db)) { stored++; continue; }
        sqlite3_bind_int64(get, 3, rows[i].ms);
        if (sqlite3_step(get) != SQLITE_ROW) {
            sqlite3_reset(get);
            rc = fail(&im, MTS_EDB, "funding_rates: %s", sqlite3_errmsg(db));
            goto out;
        }
        double sr = sqlite3_column_type(get, 0) == SQLITE_NULL ? NAN : sqlite3_column_double(get, 0);
        double sm = sqlite3_column_type(get, 1) == SQLITE_NULL ? NAN : sqlite3_column_double(get, 1);
        int stream = sqlite3_column_type(get, 2) != SQLITE_NULL;
        sqlite3_reset(get);
        /* a stored mark the file does not give is not a difference */
        if (sr == rows[i].rate && (isnan(rows[i].mark) || sm == rows[i].mark)) {
            out->same++;
            continue;
        }
        out->differ++;
        if (err) {
            char a[40], b[40], c[40] = "", d[40] = "";
            fmt_double(a, sr);
            fmt_double(b, rows[i].rate);
            if (!isnan(sm)) fmt_double(c, sm);
            if (!isnan(rows[i].mark)) fmt_double(d, rows[i].mark);
            fprintf(err, "%s:%lld: time %lld is already stored for %s from %s%s with rate %s%s%s; kept, this "
                         "file's rate %s%s%s was not stored\n", path, (long long)rows[i].line,
                    (long long)rows[i].ms, symbol, exchange, stream ? " (a stream row)" : "", a[0] ? a : "NULL",
                    c[0] ? " mark " : "", c, b, d[0] ? " mark " : "", d);
        }
    }
    if (in_tx) {
        if (mts_store_tx_commit(s)) { rc = fail(&im, MTS_EDB, "%s", mts_store_errmsg(s)); goto out; }
        in_tx = 0;
    }
    rc = rep.rows_rejected || out->differ ? MTS_EPARTIAL : 0;
out:
    if (in_tx) {
        mts_store_tx_rollback(s);
        stored = 0;
    }
    sqlite3_finalize(ins);
    sqlite3_finalize(get);
    out->rows_read = rep.rows_read;
    out->rows_rejected = rep.rows_rejected;
    out->rows_blank = rep.rows_blank;
    out->stored = stored;
    out->unit = im.unit >= 0 ? unit_short[im.unit] : NULL;
    import_end(&im);
    mts_free(rows);
    mts_imports_finish(s, &run, stored, rc, err);
    return rc;
}
