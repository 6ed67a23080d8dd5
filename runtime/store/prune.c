/* prune.c — retention: archive to CSV.gz by table and UTC day, delete in
 * small transactions, incremental vacuum; reading an archive back; the
 * schedule thread of collect/stream. Contract: prune.h. */
#include "store/prune.h"
#include "store/store_internal.h"
#include "util/config.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

const char *const mts_prune_tables[] = {"trades", "order_book_snapshots", "bus_events", "live_bars", NULL};
/* each table's time column (unix ms) */
static const char *const time_cols[] = {"ts_ms", "ts_ms", "ts_ms", "open_ms"};

#define DAY_MS 86400000LL
#define SPAN_DAYS 32
#define MAX_COLS 32

/* in, JSON-escaped (for the log lines), into out */
static const char *jesc(const char *in, char *out, size_t n) {
    out[0] = '\0';
    FILE *f = fmemopen(out, n, "w");
    if (f) {
        mts_json_escape(f, in ? in : "");
        fclose(f);
    }
    out[n - 1] = '\0';
    return out;
}

static int table_index(const char *t) {
    for (int i = 0; mts_prune_tables[i]; i++)
        if (!strcmp(mts_prune_tables[i], t)) return i;
    return -1;
}

int mts_prune_parse_age(const char *text, int64_t *seconds) {
    if (!text || !*text) return MTS_EINVAL;
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || v <= 0) return MTS_EINVAL;
    int64_t mul;
    if (!strcmp(end, "s")) mul = 1;
    else if (!strcmp(end, "m")) mul = 60;
    else if (!strcmp(end, "h")) mul = 3600;
    else if (!strcmp(end, "d")) mul = 86400;
    else if (!strcmp(end, "w")) mul = 7 * 86400;
    else return MTS_EINVAL;
    if (v > INT64_MAX / mul / 1000) return MTS_EINVAL;
    *seconds = v * mul;
    return 0;
}

/* ---- the table's columns ---- */

typedef struct {
    int n;
    char name[MAX_COLS][64];
    int pk[MAX_COLS];      /* column indexes of the primary key, in key order */
    int npk;
    int tcol;              /* index of the time column */
} cols_t;

static int table_cols(mts_store_t *s, const char *table, cols_t *c) {
    memset(c, 0, sizeof *c);
    c->tcol = -1;
    char sql[128];
    snprintf(sql, sizeof sql, "PRAGMA table_info(%s)", table);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(mts_store_db(s), sql, -1, &st, NULL)) return mts_store_db_error(s, table);
    int pkpos[MAX_COLS] = {0};
    while (sqlite3_step(st) == SQLITE_ROW && c->n < MAX_COLS) {
        snprintf(c->name[c->n], sizeof c->name[0], "%s", (const char *)sqlite3_column_text(st, 1));
        pkpos[c->n] = sqlite3_column_int(st, 5);
        c->n++;
    }
    sqlite3_finalize(st);
    if (!c->n) {
        mts_store_set_error(s, "%s: no such table in this database", table);
        return MTS_EINVAL;
    }
    for (int k = 1; k <= c->n; k++)
        for (int i = 0; i < c->n; i++)
            if (pkpos[i] == k) c->pk[c->npk++] = i;
    int ti = table_index(table);
    for (int i = 0; i < c->n; i++)
        if (ti >= 0 && !strcmp(c->name[i], time_cols[ti])) c->tcol = i;
    return 0;
}

/* ---- CSV text of a value ---- */

typedef struct { char *p; size_t n, cap; } buf_t;

static int buf_put(buf_t *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return MTS_ENOMEM;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
    return 0;
}

/* The shortest %.Ng that reads back to the same double; whole numbers below 1e16 in full. */
static void fmt_double(double v, char *out, size_t n) {
    if (isinf(v)) { snprintf(out, n, v < 0 ? "-inf" : "inf"); return; }
    if (v == floor(v) && fabs(v) < 1e16) { snprintf(out, n, "%.0f", v); return; }   /* 100, not 1e+02 */
    for (int p = 1; p <= 17; p++) {
        snprintf(out, n, "%.*g", p, v);
        if (strtod(out, NULL) == v) return;
    }
}

static int put_value(buf_t *b, sqlite3_stmt *st, int i) {
    char tmp[64];
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_NULL: return 0;
    case SQLITE_INTEGER:
        snprintf(tmp, sizeof tmp, "%lld", (long long)sqlite3_column_int64(st, i));
        return buf_put(b, tmp, strlen(tmp));
    case SQLITE_FLOAT:
        fmt_double(sqlite3_column_double(st, i), tmp, sizeof tmp);
        return buf_put(b, tmp, strlen(tmp));
    case SQLITE_TEXT: {
        const char *t = (const char *)sqlite3_column_text(st, i);
        int len = sqlite3_column_bytes(st, i), rc = buf_put(b, "\"", 1);
        for (int k = 0; !rc && k < len; k++) rc = t[k] == '"' ? buf_put(b, "\"\"", 2) : buf_put(b, t + k, 1);
        return rc ? rc : buf_put(b, "\"", 1);
    }
    default: return MTS_EINVAL;   /* blobs: none in the pruned tables */
    }
}

/* ---- a set of key strings ---- */

typedef struct { char **slot; size_t cap, n; } set_t;

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    while (*s) h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
    return h;
}

static int set_has(const set_t *s, const char *k) {
    if (!s->cap) return 0;
    for (size_t i = hash_str(k) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        if (!s->slot[i]) return 0;
        if (!strcmp(s->slot[i], k)) return 1;
    }
}

static int set_add(set_t *s, const char *k) {
    if ((s->n + 1) * 2 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        char **slot = calloc(cap, sizeof *slot);
        if (!slot) return MTS_ENOMEM;
        for (size_t j = 0; j < s->cap; j++)
            if (s->slot[j]) {
                size_t i = hash_str(s->slot[j]) & (cap - 1);
                while (slot[i]) i = (i + 1) & (cap - 1);
                slot[i] = s->slot[j];
            }
        free(s->slot);
        s->slot = slot;
        s->cap = cap;
    }
    size_t i = hash_str(k) & (s->cap - 1);
    for (; s->slot[i]; i = (i + 1) & (s->cap - 1))
        if (!strcmp(s->slot[i], k)) return 0;
    if (!(s->slot[i] = strdup(k))) return MTS_ENOMEM;
    s->n++;
    return 0;
}

static void set_free(set_t *s) {
    for (size_t i = 0; i < s->cap; i++) free(s->slot[i]);
    free(s->slot);
    memset(s, 0, sizeof *s);
}

/* ---- reading an archive: records of fields ---- */

typedef struct {
    gzFile gz;
    const char *path;
    char in[65536];
    int len, pos, eof;
    int64_t line;          /* the line the current character is on */
    int64_t rec_line;      /* the line the last record began on */
    buf_t field[MAX_COLS];
    int quoted[MAX_COLS];
    int nf;
    char err[512];
} reader_t;

/* zlib's message without the "<fd:N>: " gzdopen puts first (the path is said already) */
static const char *gz_msg(gzFile g, int *e) {
    const char *m = gzerror(g, e);
    if (m && !strncmp(m, "<fd:", 4) && strstr(m, ": ")) m = strstr(m, ": ") + 2;
    return m ? m : "?";
}

static int rd_getc(reader_t *r) {
    if (r->pos >= r->len) {
        if (r->eof) return -1;
        r->len = gzread(r->gz, r->in, sizeof r->in);
        r->pos = 0;
        if (r->len < 0) {
            int e;
            snprintf(r->err, sizeof r->err, "%s:%lld: damaged gzip data (%s)", r->path, (long long)r->line,
                     gz_msg(r->gz, &e));
            return -2;
        }
        if (r->len == 0) {
            int e;
            const char *m = gz_msg(r->gz, &e);
            if (e != Z_OK) {
                snprintf(r->err, sizeof r->err, "%s:%lld: damaged or cut-off gzip data (%s)", r->path,
                         (long long)r->line, m);
                return -2;
            }
            r->eof = 1;
            return -1;
        }
    }
    return (unsigned char)r->in[r->pos++];
}

/* 1: a record; 0: end of file; <0: error in r->err. */
static int rd_record(reader_t *r) {
    int c = rd_getc(r);
    if (c == -2) return MTS_EPARSE;
    if (c == -1) return 0;
    r->rec_line = r->line;
    r->nf = 0;
    for (;;) {
        if (r->nf >= MAX_COLS) {
            snprintf(r->err, sizeof r->err, "%s:%lld: more than %d fields", r->path, (long long)r->rec_line,
                     MAX_COLS);
            return MTS_EPARSE;
        }
        buf_t *f = &r->field[r->nf];
        f->n = 0;
        if (f->p) f->p[0] = '\0';
        else if (buf_put(f, "", 0)) return MTS_ENOMEM;
        r->quoted[r->nf] = 0;
        if (c == '"') {
            r->quoted[r->nf] = 1;
            for (;;) {
                c = rd_getc(r);
                if (c == -2) return MTS_EPARSE;
                if (c == -1) {
                    snprintf(r->err, sizeof r->err, "%s:%lld: quoted field not closed before the end of the file",
                             r->path, (long long)r->rec_line);
                    return MTS_EPARSE;
                }
                if (c == '\n') r->line++;
                if (c == '"') {
                    c = rd_getc(r);
                    if (c != '"') break;
                }
                char ch = (char)c;
                if (buf_put(f, &ch, 1)) return MTS_ENOMEM;
            }
            if (c == -2) return MTS_EPARSE;
            if (c != ',' && c != '\n' && c != -1) {
                snprintf(r->err, sizeof r->err, "%s:%lld: text after a closing quote", r->path, (long long)r->line);
                return MTS_EPARSE;
            }
        } else {
            while (c != ',' && c != '\n' && c >= 0) {
                if (c == '"') {
                    snprintf(r->err, sizeof r->err, "%s:%lld: a quote inside an unquoted field", r->path,
                             (long long)r->line);
                    return MTS_EPARSE;
                }
                char ch = (char)c;
                if (ch != '\r' && buf_put(f, &ch, 1)) return MTS_ENOMEM;
                c = rd_getc(r);
            }
            if (c == -2) return MTS_EPARSE;
        }
        r->nf++;
        if (c == ',') { c = rd_getc(r); if (c == -2) return MTS_EPARSE; continue; }
        if (c == '\n') r->line++;
        return 1;
    }
}

static int rd_open(reader_t *r, const char *path) {
    memset(r, 0, sizeof *r);
    r->path = path;
    r->line = 1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || !(r->gz = gzdopen(fd, "rb"))) {
        snprintf(r->err, sizeof r->err, "%s: cannot open: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        return MTS_EIO;
    }
    gzbuffer(r->gz, 1 << 16);
    return 0;
}

static void rd_close(reader_t *r) {
    if (r->gz) gzclose_r(r->gz);
    for (int i = 0; i < MAX_COLS; i++) free(r->field[i].p);
    r->gz = NULL;
}

/* The header: map[file field] = table column. */
static int rd_header(reader_t *r, const cols_t *c, int *map) {
    int rc = rd_record(r);
    if (rc == 0) {
        snprintf(r->err, sizeof r->err, "%s:1: empty file (no header row)", r->path);
        return MTS_EPARSE;
    }
    if (rc < 0) return rc;
    if (r->nf != c->n) {
        snprintf(r->err, sizeof r->err, "%s:1: the header has %d columns, the table %d", r->path, r->nf, c->n);
        return MTS_EPARSE;
    }
    int seen[MAX_COLS] = {0};
    for (int i = 0; i < r->nf; i++) {
        map[i] = -1;
        for (int k = 0; k < c->n; k++)
            if (!strcmp(r->field[i].p, c->name[k]) && !seen[k]) { map[i] = k; seen[k] = 1; }
        if (map[i] < 0) {
            snprintf(r->err, sizeof r->err, "%s:1: column '%s' is not a column of the table", r->path,
                     r->field[i].p);
            return MTS_EPARSE;
        }
    }
    return 0;
}

/* An unquoted field: empty (NULL), an integer or a double. */
static int field_kind(const char *t, long long *iv, double *dv) {
    if (!*t) return 0;
    char *end;
    errno = 0;
    *iv = strtoll(t, &end, 10);
    if (!*end && !errno) return 1;
    *dv = strtod(t, &end);
    if (!*end) return 2;
    return -1;
}

static int rd_check_row(reader_t *r, const cols_t *c) {
    if (r->nf != c->n) {
        snprintf(r->err, sizeof r->err, "%s:%lld: %d fields, the header has %d", r->path, (long long)r->rec_line,
                 r->nf, c->n);
        return MTS_EPARSE;
    }
    for (int i = 0; i < r->nf; i++) {
        long long iv;
        double dv;
        if (!r->quoted[i] && field_kind(r->field[i].p, &iv, &dv) < 0) {
            snprintf(r->err, sizeof r->err, "%s:%lld: field %d '%.40s' is neither a number nor quoted text",
                     r->path, (long long)r->rec_line, i + 1, r->field[i].p);
            return MTS_EPARSE;
        }
    }
    return 0;
}

/* The key text of a record (fields of the primary key, in file form). */
static int rd_key(const reader_t *r, const cols_t *c, const int *map, buf_t *k) {
    k->n = 0;
    for (int j = 0; j < c->npk; j++)
        for (int i = 0; i < r->nf; i++)
            if (map[i] == c->pk[j]) {
                /* as put_value writes it: text quoted, quotes doubled */
                int rc = 0;
                if (r->quoted[i]) {
                    rc = buf_put(k, "\"", 1);
                    for (size_t q = 0; !rc && q < r->field[i].n; q++)
                        rc = r->field[i].p[q] == '"' ? buf_put(k, "\"\"", 2) : buf_put(k, r->field[i].p + q, 1);
                    if (!rc) rc = buf_put(k, "\"", 1);
                } else rc = buf_put(k, r->field[i].p, r->field[i].n);
                if (rc || buf_put(k, "\x1f", 1)) return MTS_ENOMEM;
            }
    return buf_put(k, "", 0);
}

/* ---- archive files ---- */

static void day_name(int64_t day, char *out, size_t n) {
    time_t t = (time_t)(day * 86400);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%d", &tm);
}

static void part_path(char *out, size_t n, const char *dir, const char *day, int part) {
    if (part <= 1) snprintf(out, n, "%s/%s.csv.gz", dir, day);
    else snprintf(out, n, "%s/%s.%d.csv.gz", dir, day, part);
}

static int mkdirs(const char *path) {
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) && errno != EEXIST) return -1;
            *p = '/';
        }
    return mkdir(tmp, 0755) && errno != EEXIST ? -1 : 0;
}

static int fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

typedef struct {
    int64_t day;
    int open;             /* the writer exists */
    int part;             /* the part number the new file gets */
    set_t have;           /* keys of the earlier parts of the day */
    int fd;
    gzFile gz;
    char tmp[PATH_MAX], final[PATH_MAX];
    int64_t rows;         /* rows written to the new part */
} day_t;

typedef struct {
    mts_store_t *s;
    const char *table;
    const char *dir;      /* DIR/table */
    const cols_t *c;
    int dry;
    mts_prune_table_report_t *rep;
    const volatile sig_atomic_t *cancel;
    int64_t max_keys;     /* rows held for deleting before they are deleted */
    buf_t line, key;
    sqlite3_value **keys; /* npk values a row to delete */
    int64_t nkeys, capkeys;
} ctx_t;

static int day_open(ctx_t *x, day_t *d) {
    char name[16];
    day_name(d->day, name, sizeof name);
    d->open = 1;
    d->fd = -1;
    /* the keys of the earlier parts of the day */
    for (d->part = 1;; d->part++) {
        char p[PATH_MAX];
        part_path(p, sizeof p, x->dir, name, d->part);
        if (access(p, F_OK)) break;
        reader_t r;
        int map[MAX_COLS], rc = rd_open(&r, p);
        if (!rc) rc = rd_header(&r, x->c, map);
        while (!rc && (rc = rd_record(&r)) == 1) {
            rc = rd_check_row(&r, x->c);
            if (!rc) rc = rd_key(&r, x->c, map, &x->key);
            if (!rc) rc = set_add(&d->have, x->key.p);
        }
        if (rc < 0) {
            mts_store_set_error(x->s, "%s (an earlier archive of the day; move it away or repair it)", r.err);
            rd_close(&r);
            return rc;
        }
        rd_close(&r);
    }
    if (x->dry) return 0;
    part_path(d->final, sizeof d->final, x->dir, name, d->part);
    snprintf(d->tmp, sizeof d->tmp, "%s/.%s.%d.%ld.tmp", x->dir, name, d->part, (long)getpid());
    d->fd = open(d->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int fd2 = d->fd >= 0 ? dup(d->fd) : -1;
    if (fd2 < 0 || !(d->gz = gzdopen(fd2, "wb6"))) {
        mts_store_set_error(x->s, "prune %s: cannot create %s: %s", x->table, d->tmp, strerror(errno));
        if (fd2 >= 0) close(fd2);
        return MTS_EIO;
    }
    gzbuffer(d->gz, 1 << 16);
    x->line.n = 0;
    for (int i = 0; i < x->c->n; i++)
        if ((i && buf_put(&x->line, ",", 1)) || buf_put(&x->line, x->c->name[i], strlen(x->c->name[i])))
            return MTS_ENOMEM;
    buf_put(&x->line, "\n", 1);
    if (gzwrite(d->gz, x->line.p, (unsigned)x->line.n) != (int)x->line.n) {
        mts_store_set_error(x->s, "prune %s: cannot write %s", x->table, d->tmp);
        return MTS_EIO;
    }
    return 0;
}

/* Closes the writer; keep: make the file durable under its final name
 * (empty parts are removed instead). */
static int day_close(ctx_t *x, day_t *d, int keep) {
    int rc = 0;
    if (d->gz) {
        int zr = gzclose_w(d->gz);
        d->gz = NULL;
        if (zr != Z_OK && keep) {
            mts_store_set_error(x->s, "prune %s: cannot write %s (zlib error %d)", x->table, d->tmp, zr);
            rc = MTS_EIO;
        }
    }
    if (d->fd >= 0) {
        if (keep && !rc && d->rows > 0) {
            if (fsync(d->fd) || rename(d->tmp, d->final) || fsync_dir(x->dir)) {
                mts_store_set_error(x->s, "prune %s: cannot make %s durable: %s", x->table, d->final,
                                    strerror(errno));
                rc = MTS_EIO;
            } else {
                x->rep->files++;
                char f[PATH_MAX * 2];
                mts_log(MTS_LOG_INFO, "prune.archived", "\"table\":\"%s\",\"file\":\"%s\",\"rows\":%lld",
                        x->table, jesc(d->final, f, sizeof f), (long long)d->rows);
            }
        }
        close(d->fd);
        d->fd = -1;
        if (rc || !keep || d->rows == 0) unlink(d->tmp);
    }
    set_free(&d->have);
    d->open = 0;
    return rc;
}

static int keep_key(ctx_t *x, sqlite3_stmt *st) {
    int npk = x->c->npk;
    if ((x->nkeys + 1) * npk > x->capkeys) {
        int64_t cap = x->capkeys ? x->capkeys * 2 : 4096;
        while (cap < (x->nkeys + 1) * npk) cap *= 2;
        sqlite3_value **k = realloc(x->keys, (size_t)cap * sizeof *k);
        if (!k) return MTS_ENOMEM;
        x->keys = k;
        x->capkeys = cap;
    }
    for (int j = 0; j < npk; j++)
        if (!(x->keys[x->nkeys * npk + j] = sqlite3_value_dup(sqlite3_column_value(st, x->c->pk[j]))))
            return MTS_ENOMEM;
    x->nkeys++;
    return 0;
}

static void free_keys(ctx_t *x) {
    for (int64_t i = 0; i < x->nkeys * x->c->npk; i++) sqlite3_value_free(x->keys[i]);
    x->nkeys = 0;
}

static void sleep_ms(int64_t ms) {
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Deletes the kept keys, batch rows per transaction. */
static int delete_keys(ctx_t *x, int batch) {
    sqlite3 *db = mts_store_db(x->s);
    char sql[1024];
    int off = snprintf(sql, sizeof sql, "DELETE FROM %s WHERE ", x->table);
    for (int j = 0; j < x->c->npk; j++)
        off += snprintf(sql + off, sizeof sql - (size_t)off, "%s%s = ?%d", j ? " AND " : "",
                        x->c->name[x->c->pk[j]], j + 1);
    sqlite3_stmt *del;
    if (sqlite3_prepare_v2(db, sql, -1, &del, NULL)) return mts_store_db_error(x->s, "prune delete");
    int rc = 0, npk = x->c->npk;
    for (int64_t i = 0; i < x->nkeys && !rc;) {
        if (x->cancel && *x->cancel) {
            mts_store_set_error(x->s, "prune %s: cancelled (the rows archived and not deleted are skipped by "
                                      "the next run)", x->table);
            rc = MTS_ECANCELED;
            break;
        }
        int64_t started = 0;
        if ((rc = mts_store_begin_write(x->s, "prune", &started))) break;
        int64_t t0 = mts_store_now_ms();
        int64_t end = i + batch < x->nkeys ? i + batch : x->nkeys;
        for (; i < end; i++) {
            for (int j = 0; j < npk; j++) sqlite3_bind_value(del, j + 1, x->keys[i * npk + j]);
            int sr = sqlite3_step(del);
            sqlite3_reset(del);
            if (sr != SQLITE_DONE) { rc = mts_store_db_error(x->s, "prune delete"); break; }
            x->rep->deleted += sqlite3_changes(db);
        }
        if (rc) { mts_store_tx_rollback(x->s); break; }
        if ((rc = mts_store_tx_commit(x->s))) break;
        int64_t held = mts_store_now_ms() - t0;
        x->rep->batches++;
        if (held > x->rep->max_batch_ms) x->rep->max_batch_ms = held;
        /* let a waiting writer in: pause as long as the batch held the lock */
        if (i < x->nkeys) sleep_ms(held < 5 ? 5 : held);
    }
    sqlite3_finalize(del);
    return rc;
}

/* One span [lo, hi) of days: read (in primary key order), archive, make
 * durable, delete. At most x->max_keys rows are held for deleting: then the
 * day files are closed (durable), those rows deleted, and the read resumes
 * after the last key (the rest of a day goes to a further part). */
static int prune_span(ctx_t *x, int64_t lo_ms, int64_t hi_ms, int batch) {
    sqlite3 *db = mts_store_db(x->s);
    const cols_t *c = x->c;
    char sql[2048];
    int off = snprintf(sql, sizeof sql, "SELECT ");
    for (int i = 0; i < c->n; i++) off += snprintf(sql + off, sizeof sql - (size_t)off, "%s\"%s\"", i ? "," : "", c->name[i]);
    off += snprintf(sql + off, sizeof sql - (size_t)off, " FROM %s WHERE %s >= ?1 AND %s < ?2", x->table,
                    c->name[c->tcol], c->name[c->tcol]);
    int base = off;
    char order[512];
    int oo = snprintf(order, sizeof order, " ORDER BY ");
    for (int j = 0; j < c->npk; j++) oo += snprintf(order + oo, sizeof order - (size_t)oo, "%s\"%s\"", j ? "," : "", c->name[c->pk[j]]);
    sqlite3_value *resume[MAX_COLS] = {0};
    int rc = 0, more = 1;
    while (more && !rc) {
        more = 0;
        off = base;
        if (resume[0]) {   /* (pk...) > (last key...) */
            off += snprintf(sql + off, sizeof sql - (size_t)off, " AND (");
            for (int j = 0; j < c->npk; j++) off += snprintf(sql + off, sizeof sql - (size_t)off, "%s\"%s\"", j ? "," : "", c->name[c->pk[j]]);
            off += snprintf(sql + off, sizeof sql - (size_t)off, ") > (");
            for (int j = 0; j < c->npk; j++) off += snprintf(sql + off, sizeof sql - (size_t)off, "%s?%d", j ? "," : "", j + 3);
            off += snprintf(sql + off, sizeof sql - (size_t)off, ")");
        }
        snprintf(sql + off, sizeof sql - (size_t)off, "%s", order);
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL)) { rc = mts_store_db_error(x->s, "prune read"); break; }
        sqlite3_bind_int64(st, 1, lo_ms);
        sqlite3_bind_int64(st, 2, hi_ms);
        for (int j = 0; resume[0] && j < c->npk; j++) sqlite3_bind_value(st, j + 3, resume[j]);
        day_t days[SPAN_DAYS + 1];
        memset(days, 0, sizeof days);
        int64_t day0 = lo_ms / DAY_MS;
        int sr;
        while ((sr = sqlite3_step(st)) == SQLITE_ROW) {
            int64_t t = sqlite3_column_int64(st, c->tcol);
            int64_t di = t / DAY_MS - day0;
            if (di < 0 || di > SPAN_DAYS) continue;
            day_t *d = &days[di];
            if (!d->open) {
                d->day = day0 + di;
                if ((rc = day_open(x, d))) break;
            }
            x->rep->rows++;
            /* the key text, as the file holds it */
            x->key.n = 0;
            for (int j = 0; j < c->npk && !rc; j++)
                if ((rc = put_value(&x->key, st, c->pk[j])) == 0) rc = buf_put(&x->key, "\x1f", 1);
            if (!rc) rc = buf_put(&x->key, "", 0);
            if (rc) break;
            if (set_has(&d->have, x->key.p)) x->rep->already++;
            else if (!x->dry) {
                x->line.n = 0;
                for (int i = 0; i < c->n && !rc; i++)
                    if (!(rc = i ? buf_put(&x->line, ",", 1) : 0)) rc = put_value(&x->line, st, i);
                if (!rc) rc = buf_put(&x->line, "\n", 1);
                if (rc) {
                    mts_store_set_error(x->s, "prune %s: a value that cannot be archived (a blob?)", x->table);
                    break;
                }
                if (gzwrite(d->gz, x->line.p, (unsigned)x->line.n) != (int)x->line.n) {
                    mts_store_set_error(x->s, "prune %s: cannot write %s", x->table, d->tmp);
                    rc = MTS_EIO;
                    break;
                }
                d->rows++;
                x->rep->archived++;
            } else x->rep->archived++;
            if (x->dry) continue;
            if ((rc = keep_key(x, st))) break;
            if (x->nkeys >= x->max_keys) {   /* enough held: make these durable and delete them first */
                for (int j = 0; j < c->npk; j++) {
                    sqlite3_value_free(resume[j]);
                    if (!(resume[j] = sqlite3_value_dup(sqlite3_column_value(st, c->pk[j])))) rc = MTS_ENOMEM;
                }
                more = !rc;
                break;
            }
        }
        if (!rc && !more && sr != SQLITE_ROW && sr != SQLITE_DONE) rc = mts_store_db_error(x->s, "prune read");
        sqlite3_finalize(st);
        for (int i = 0; i <= SPAN_DAYS; i++)
            if (days[i].open) {
                int r2 = day_close(x, &days[i], !rc && !x->dry);
                if (!rc) rc = r2;
            }
        if (!rc && !x->dry) rc = delete_keys(x, batch);
        free_keys(x);
    }
    for (int j = 0; j < MAX_COLS; j++) sqlite3_value_free(resume[j]);
    return rc;
}

static int db_dir(mts_store_t *s, char *out, size_t n) {
    const char *f = sqlite3_db_filename(mts_store_db(s), "main");
    if (!f || !*f) { snprintf(out, n, "archive"); return 0; }
    snprintf(out, n, "%s", f);
    char *slash = strrchr(out, '/');
    if (slash) snprintf(slash + 1, n - (size_t)(slash + 1 - out), "archive");
    else snprintf(out, n, "archive");
    return 0;
}

static int64_t file_size(mts_store_t *s) {
    const char *f = sqlite3_db_filename(mts_store_db(s), "main");
    struct stat st;
    return f && *f && !stat(f, &st) ? (int64_t)st.st_size : 0;
}

static int query_i64(mts_store_t *s, const char *sql, int64_t *out, int *isnull) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(mts_store_db(s), sql, -1, &st, NULL)) return mts_store_db_error(s, sql);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        if (isnull) *isnull = sqlite3_column_type(st, 0) == SQLITE_NULL;
        *out = sqlite3_column_int64(st, 0);
        rc = 0;
    } else rc = rc == SQLITE_DONE ? 0 : mts_store_db_error(s, sql);
    sqlite3_finalize(st);
    return rc;
}

static int prune_table(mts_store_t *s, const char *table, int64_t cutoff_ms, const char *root_dir, int dry,
                       int batch, int64_t max_keys, const volatile sig_atomic_t *cancel,
                       mts_prune_table_report_t *tr) {
    cols_t c;
    int rc = table_cols(s, table, &c);
    if (rc) return rc;
    if (c.tcol < 0 || !c.npk) {
        mts_store_set_error(s, "prune %s: no time column or primary key", table);
        return MTS_EINVAL;
    }
    char dir[PATH_MAX], sql[256];
    snprintf(dir, sizeof dir, "%s/%s", root_dir, table);
    ctx_t x = {.s = s, .table = table, .dir = dir, .c = &c, .dry = dry, .rep = tr, .cancel = cancel,
               .max_keys = max_keys};
    snprintf(sql, sizeof sql, "SELECT MIN(%s) FROM %s WHERE %s < %lld", c.name[c.tcol], table, c.name[c.tcol],
             (long long)cutoff_ms);
    int64_t lo = 0;
    int isnull = 1;
    if ((rc = query_i64(s, sql, &lo, &isnull)) || isnull) return rc;
    if (!dry && mkdirs(dir)) {
        mts_store_set_error(s, "prune %s: cannot create the archive directory %s: %s (choose another with "
                               "--archive-dir or retention.archive_dir)", table, dir, strerror(errno));
        return MTS_EIO;
    }
    /* one prune of a table at a time (part numbers, the temp files): DIR/<table>/.lock */
    int lock_fd = -1;
    if (!dry) {
        char lk[PATH_MAX + 8];
        snprintf(lk, sizeof lk, "%s/.lock", dir);
        lock_fd = open(lk, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB)) {
            mts_store_set_error(s, "prune %s: %s (%s): another mts prune of this table is running; try again "
                                   "when it is done", table, lk, strerror(errno));
            if (lock_fd >= 0) close(lock_fd);
            return MTS_EBUSY;
        }
        /* temp files of a prune that was killed: never renamed, so never counted */
        DIR *dd = opendir(dir);
        for (struct dirent *e; dd && (e = readdir(dd)) != NULL;) {
            size_t L = strlen(e->d_name);
            if (e->d_name[0] == '.' && L > 4 && !strcmp(e->d_name + L - 4, ".tmp")) unlinkat(dirfd(dd), e->d_name, 0);
        }
        if (dd) closedir(dd);
    }
    int64_t day = lo >= 0 ? lo / DAY_MS : -((-lo + DAY_MS - 1) / DAY_MS);
    for (int64_t lo_ms = day * DAY_MS; !rc && lo_ms < cutoff_ms; lo_ms += SPAN_DAYS * DAY_MS) {
        int64_t hi_ms = lo_ms + SPAN_DAYS * DAY_MS;
        if (hi_ms > cutoff_ms) hi_ms = cutoff_ms;
        if (cancel && *cancel) {
            mts_store_set_error(s, "prune %s: cancelled", table);
            rc = MTS_ECANCELED;
        } else rc = prune_span(&x, lo_ms, hi_ms, batch);
    }
    free(x.line.p);
    free(x.key.p);
    free(x.keys);
    if (lock_fd >= 0) close(lock_fd);   /* releases the lock */
    return rc;
}

int mts_prune_run(mts_store_t *s, const mts_prune_opts_t *o, mts_prune_report_t *rep) {
    memset(rep, 0, sizeof *rep);
    int64_t now = o->now_ms ? o->now_ms : (int64_t)time(NULL) * 1000;
    if (o->table && table_index(o->table) < 0) {
        mts_store_set_error(s, "prune: '%s' is not a table prune handles (trades, order_book_snapshots, "
                               "bus_events, live_bars)", o->table);
        return MTS_EINVAL;
    }
    const char *cfg_dir = mts_config_string("retention", "archive_dir");
    if (o->archive_dir && *o->archive_dir) snprintf(rep->archive_dir, sizeof rep->archive_dir, "%s", o->archive_dir);
    else if (cfg_dir && *cfg_dir) {
        if (cfg_dir[0] == '/') snprintf(rep->archive_dir, sizeof rep->archive_dir, "%s", cfg_dir);
        else snprintf(rep->archive_dir, sizeof rep->archive_dir, "%s/%s", mts_root(), cfg_dir);
    } else db_dir(s, rep->archive_dir, sizeof rep->archive_dir);
    int batch = o->batch_rows > 0 ? o->batch_rows : MTS_PRUNE_BATCH_ROWS;
    int64_t av = 0;
    query_i64(s, "PRAGMA auto_vacuum", &av, NULL);
    rep->auto_vacuum = (int)av;
    rep->bytes_before = file_size(s);
    int rc = 0;
    for (int i = 0; mts_prune_tables[i] && !rc; i++) {
        const char *t = mts_prune_tables[i];
        if (o->table && strcmp(o->table, t)) continue;
        int64_t age = o->older_than_s;
        if (age <= 0) {
            const char *txt = mts_config_string("retention", t);
            if (!txt) {
                if (o->table) {
                    mts_store_set_error(s, "prune %s: no age: give --older-than (e.g. 30d) or set "
                                           "retention.%s in config/mts.json", t, t);
                    return MTS_EINVAL;
                }
                continue;
            }
            if (mts_prune_parse_age(txt, &age)) {
                mts_store_set_error(s, "config/mts.json retention.%s: '%s' is not an age like 30d, 12h, 2w", t, txt);
                return MTS_ECONFIG;
            }
        }
        mts_prune_table_report_t *tr = &rep->t[rep->n++];
        snprintf(tr->table, sizeof tr->table, "%s", t);
        tr->cutoff_ms = now - age * 1000;
        int64_t t0 = mts_store_now_ms();
        char err[1024];
        rc = prune_table(s, t, tr->cutoff_ms, rep->archive_dir, o->dry_run, batch,
                        o->max_rows_held > 0 ? o->max_rows_held : MTS_PRUNE_MAX_ROWS_HELD, o->cancel, tr);
        mts_log(rc ? MTS_LOG_ERROR : MTS_LOG_INFO, "prune.table",
                "\"table\":\"%s\",\"cutoff_ms\":%lld,\"rows\":%lld,\"archived\":%lld,\"already_archived\":%lld,"
                "\"deleted\":%lld,\"files\":%d,\"batches\":%lld,\"max_batch_ms\":%lld,\"ms\":%lld,\"dry_run\":%s%s%s%s",
                t, (long long)tr->cutoff_ms, (long long)tr->rows, (long long)tr->archived, (long long)tr->already,
                (long long)tr->deleted, tr->files, (long long)tr->batches, (long long)tr->max_batch_ms,
                (long long)(mts_store_now_ms() - t0), o->dry_run ? "true" : "false", rc ? ",\"error\":\"" : "",
                rc ? jesc(mts_store_errmsg(s), err, sizeof err) : "", rc ? "\"" : "");
    }
    if (rc || o->dry_run) {
        rep->bytes_after = rep->bytes_before;
        return rc;
    }
    if (rep->auto_vacuum == 2) {
        /* give the free pages back, 256 at a time (each its own short write) */
        for (;;) {
            int64_t before = 0, after = 0;
            query_i64(s, "PRAGMA freelist_count", &before, NULL);
            if (!before) break;
            if (sqlite3_exec(mts_store_db(s), "PRAGMA incremental_vacuum(256)", NULL, NULL, NULL)) {
                rc = mts_store_db_error(s, "prune: incremental_vacuum");
                break;
            }
            query_i64(s, "PRAGMA freelist_count", &after, NULL);
            rep->freed_pages += before - after;
            if (after >= before) break;
        }
        sqlite3_wal_checkpoint_v2(mts_store_db(s), NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    }
    rep->bytes_after = file_size(s);
    return rc;
}

int mts_prune_enable_incremental(mts_store_t *s) {
    sqlite3 *db = mts_store_db(s);
    if (sqlite3_exec(db, "PRAGMA auto_vacuum = INCREMENTAL; VACUUM;", NULL, NULL, NULL))
        return mts_store_db_error(s, "prune --enable-incremental-vacuum");
    sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    return 0;
}

/* ---- import ---- */

static int bind_field(sqlite3_stmt *ins, int k, const reader_t *r, int i) {
    const char *t = r->field[i].p;
    if (r->quoted[i]) return sqlite3_bind_text(ins, k, t, (int)r->field[i].n, SQLITE_TRANSIENT);
    long long iv;
    double dv;
    switch (field_kind(t, &iv, &dv)) {
    case 0: return sqlite3_bind_null(ins, k);
    case 1: return sqlite3_bind_int64(ins, k, iv);
    default: return sqlite3_bind_double(ins, k, dv);
    }
}

int mts_prune_import_archive(mts_store_t *s, const char *path, const char *table, int64_t *rows_out,
                             int64_t *inserted_out) {
    char tname[64];
    if (!table || !*table) {
        /* DIR/<table>/<day>.csv.gz */
        char tmp[PATH_MAX];
        snprintf(tmp, sizeof tmp, "%s", path);
        char *slash = strrchr(tmp, '/');
        if (slash) *slash = '\0';
        const char *base = slash ? (strrchr(tmp, '/') ? strrchr(tmp, '/') + 1 : tmp) : "";
        size_t bl = strlen(base);
        if (bl >= sizeof tname) bl = sizeof tname - 1;
        memcpy(tname, base, bl);
        tname[bl] = '\0';
        table = tname;
    }
    if (table_index(table) < 0) {
        mts_store_set_error(s, "%s: '%s' is not a table prune archives (trades, order_book_snapshots, "
                               "bus_events, live_bars): name it with --table", path, table);
        return MTS_EINVAL;
    }
    cols_t c;
    int rc = table_cols(s, table, &c);
    if (rc) return rc;
    /* pass 1: the whole file is checked before anything is stored */
    reader_t r;
    int map[MAX_COLS];
    int64_t rows = 0, inserted = 0;
    rc = rd_open(&r, path);
    if (!rc) rc = rd_header(&r, &c, map);
    while (!rc && (rc = rd_record(&r)) == 1) {
        rc = rd_check_row(&r, &c);
        rows++;
    }
    if (rc < 0) {
        mts_store_set_error(s, "%s", r.err[0] ? r.err : "out of memory");
        rd_close(&r);
        return rc;
    }
    rd_close(&r);
    /* pass 2: store */
    char sql[1024];
    int off = snprintf(sql, sizeof sql, "INSERT OR IGNORE INTO %s(", table);
    for (int i = 0; i < c.n; i++) off += snprintf(sql + off, sizeof sql - (size_t)off, "%s\"%s\"", i ? "," : "", c.name[map[i]]);
    off += snprintf(sql + off, sizeof sql - (size_t)off, ") VALUES(");
    for (int i = 0; i < c.n; i++) off += snprintf(sql + off, sizeof sql - (size_t)off, "%s?%d", i ? "," : "", i + 1);
    snprintf(sql + off, sizeof sql - (size_t)off, ")");
    sqlite3 *db = mts_store_db(s);
    sqlite3_stmt *ins;
    int in_tx = 0, n_tx = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &ins, NULL)) return mts_store_db_error(s, "import archive");
    if ((rc = rd_open(&r, path)) || (rc = rd_header(&r, &c, map))) {
        mts_store_set_error(s, "%s", r.err);
        goto out;
    }
    int64_t started = 0;
    while ((rc = rd_record(&r)) == 1) {
        if (!in_tx) {
            started = 0;
            if ((rc = mts_store_begin_write(s, "import archive", &started))) goto out;
            in_tx = 1;
            n_tx = 0;
        }
        for (int i = 0; i < r.nf; i++) bind_field(ins, i + 1, &r, i);
        int sr = sqlite3_step(ins);
        sqlite3_reset(ins);
        if (sr != SQLITE_DONE) {
            rc = mts_store_db_error(s, "import archive");
            char m[600];
            snprintf(m, sizeof m, "%s:%lld: %s", path, (long long)r.rec_line, mts_store_errmsg(s));
            mts_store_set_error(s, "%s", m);
            goto out;
        }
        inserted += sqlite3_changes(db);
        if (++n_tx >= MTS_PRUNE_BATCH_ROWS) {
            if ((rc = mts_store_tx_commit(s))) { in_tx = 0; goto out; }
            in_tx = 0;
        }
    }
    if (rc < 0) { mts_store_set_error(s, "%s", r.err); goto out; }
    rc = in_tx ? mts_store_tx_commit(s) : 0;
    in_tx = 0;
out:
    if (rc && in_tx) mts_store_tx_rollback(s);
    sqlite3_finalize(ins);
    rd_close(&r);
    if (rows_out) *rows_out = rows;
    if (inserted_out) *inserted_out = inserted;
    return rc;
}

/* ---- the schedule ---- */


struct mts_prune_sched {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    volatile sig_atomic_t cancel;   /* ends a prune in progress between two batches */
    int64_t every_s;
    char db[PATH_MAX];
};

static void *sched_main(void *arg) {
    mts_prune_sched_t *p = arg;
    for (;;) {
        /* the first run after one interval too: a short run (a test, a restart loop) is left alone */
        pthread_mutex_lock(&p->mu);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += (time_t)p->every_s;
        while (!p->stop)
            if (pthread_cond_timedwait(&p->cv, &p->mu, &until) == ETIMEDOUT) break;
        int stop = p->stop;
        pthread_mutex_unlock(&p->mu);
        if (stop) return NULL;
        mts_store_t *s = NULL;
        if (mts_store_open(p->db, &s) == 0) {
            mts_prune_opts_t o = {.cancel = &p->cancel};
            mts_prune_report_t rep;
            int rc = mts_prune_run(s, &o, &rep);
            char db[PATH_MAX * 2], err[1024];
            jesc(p->db, db, sizeof db);
            if (rc == MTS_ECANCELED)
                mts_log(MTS_LOG_INFO, "prune.cancelled", "\"db\":\"%s\"", db);
            else if (rc)
                mts_log(MTS_LOG_ERROR, "prune.failed", "\"db\":\"%s\",\"error\":\"%s\"", db,
                        jesc(mts_store_errmsg(s), err, sizeof err));
            else
                mts_log(MTS_LOG_INFO, "prune.scheduled", "\"db\":\"%s\",\"tables\":%d,\"freed_pages\":%lld,"
                        "\"bytes_before\":%lld,\"bytes_after\":%lld,\"next_s\":%lld", db, rep.n,
                        (long long)rep.freed_pages, (long long)rep.bytes_before, (long long)rep.bytes_after,
                        (long long)p->every_s);
            mts_store_close(s);
        } else {
            char db[PATH_MAX * 2], err[1024];
            mts_log(MTS_LOG_ERROR, "prune.failed", "\"db\":\"%s\",\"error\":\"%s\"", jesc(p->db, db, sizeof db),
                    jesc(mts_store_errmsg(NULL), err, sizeof err));
        }
    }
}

mts_prune_sched_t *mts_prune_schedule_start(const char *db_path) {
    int any = 0;
    for (int i = 0; mts_prune_tables[i]; i++)
        if (mts_config_string("retention", mts_prune_tables[i])) any = 1;
    if (!any || !db_path) return NULL;
    int64_t every = 3600;
    const char *cfg = mts_config_string("retention", "every"), *env = getenv("MTS_PRUNE_INTERVAL_S");
    if (cfg && mts_prune_parse_age(cfg, &every)) {
        mts_log(MTS_LOG_WARN, "prune.config", "\"error\":\"retention.every '%s' is not an age like 1h; using 1h\"", cfg);
        every = 3600;
    }
    if (env && *env) {
        char *end;
        long long v = strtoll(env, &end, 10);
        if (*end || v <= 0)
            mts_log(MTS_LOG_WARN, "prune.config", "\"error\":\"MTS_PRUNE_INTERVAL_S '%s' is not a whole number "
                    "of seconds > 0; ignored\"", env);
        else every = v;
    }
    mts_prune_sched_t *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    snprintf(p->db, sizeof p->db, "%s", db_path);
    p->every_s = every;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (pthread_create(&p->th, NULL, sched_main, p)) {
        mts_log(MTS_LOG_ERROR, "prune.failed", "\"error\":\"cannot start the prune thread\"");
        free(p);
        return NULL;
    }
    mts_log(MTS_LOG_INFO, "prune.schedule", "\"db\":\"%s\",\"every_s\":%lld", p->db, (long long)every);
    return p;
}

void mts_prune_schedule_stop(mts_prune_sched_t *p) {
    if (!p) return;
    p->cancel = 1;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->th, NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}
