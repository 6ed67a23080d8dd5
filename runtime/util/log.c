/* log.c — structured logs, one JSON object per line on stderr (see log.h).
 *
 * The level and format come from MTS_LOG_LEVEL / MTS_LOG_FORMAT the first time
 * they are needed; mts_log_set_level() overrides the level. Each line is built
 * in memory and written with one fwrite under the stream lock, so lines from
 * several threads never interleave. */
#include "util/log.h"
#include "util/timeutil.h"
#include "mts.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static pthread_once_t env_once = PTHREAD_ONCE_INIT;
static volatile int cur_level = MTS_LOG_WARN;
static volatile int level_forced = 0;
static int text_format = 0;

static void read_env(void) {
    const char *l = getenv("MTS_LOG_LEVEL");
    if (l && !level_forced) {
        if (!strcasecmp(l, "debug")) cur_level = MTS_LOG_DEBUG;
        else if (!strcasecmp(l, "info")) cur_level = MTS_LOG_INFO;
        else if (!strcasecmp(l, "warn") || !strcasecmp(l, "warning")) cur_level = MTS_LOG_WARN;
        else if (!strcasecmp(l, "error")) cur_level = MTS_LOG_ERROR;
    }
    const char *f = getenv("MTS_LOG_FORMAT");
    text_format = f && !strcasecmp(f, "text");
}

void mts_log_set_level(mts_log_level_t lvl) {
    pthread_once(&env_once, read_env);
    level_forced = 1;
    cur_level = (int)lvl;
}

int mts_log_enabled(mts_log_level_t lvl) {
    pthread_once(&env_once, read_env);
    return (int)lvl >= cur_level;
}

static const char *level_name(mts_log_level_t lvl) {
    switch (lvl) {
    case MTS_LOG_DEBUG: return "debug";
    case MTS_LOG_INFO: return "info";
    case MTS_LOG_WARN: return "warn";
    case MTS_LOG_ERROR: return "error";
    }
    return "info";
}

static void escape_n(FILE *f, const char *s, size_t n) {
    for (const unsigned char *p = (const unsigned char *)s, *e = p + n; p < e; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        case '\b': fputs("\\b", f); break;
        case '\f': fputs("\\f", f); break;
        default:
            if (*p < 0x20) fprintf(f, "\\u%04x", *p);
            else fputc(*p, f);
        }
    }
}

void mts_json_escape(FILE *f, const char *s) {
    if (s) escape_n(f, s, strlen(s));
}

void mts_json_string_array(FILE *f, const char *joined, char sep) {
    fputc('[', f);
    for (const char *p = joined; p && *p;) {
        const char *end = strchr(p, sep);
        size_t n = end ? (size_t)(end - p) : strlen(p);
        fputs(p == joined ? "\"" : ",\"", f);
        escape_n(f, p, n);
        fputc('"', f);
        if (!end) break;
        p = end + 1;
    }
    fputc(']', f);
}

void mts_json_number(FILE *f, double v) {
    if (!isfinite(v)) { fputs("null", f); return; }
    /* the shortest of %.15g / %.16g / %.17g that reads back as the same double */
    char buf[32];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    fputs(buf, f);
}

/* ---- a small string builder: stack storage first, then mts_realloc ---- */

typedef struct sb {
    char *p;
    size_t len, cap;
    int heap, oom;
    char stack[1024];
} sb_t;

static void sb_init(sb_t *b) { b->p = b->stack; b->len = 0; b->cap = sizeof b->stack; b->heap = 0; b->oom = 0; }

static int sb_grow(sb_t *b, size_t need) {
    if (b->len + need + 1 <= b->cap) return 0;
    if (b->oom) return -1;
    size_t cap = b->cap * 2;
    while (cap < b->len + need + 1) cap *= 2;
    char *np = b->heap ? mts_realloc(b->p, cap) : mts_malloc(cap);
    if (!np) { b->oom = 1; return -1; }
    if (!b->heap) memcpy(np, b->p, b->len);
    b->p = np; b->cap = cap; b->heap = 1;
    return 0;
}

static void sb_putn(sb_t *b, const char *s, size_t n) {
    if (sb_grow(b, n)) return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
}
static void sb_puts(sb_t *b, const char *s) { sb_putn(b, s, strlen(s)); }
static void sb_putc(sb_t *b, char c) { sb_putn(b, &c, 1); }

static void sb_vprintf(sb_t *b, const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    if (n < 0) { va_end(ap2); return; }
    if ((size_t)n < sizeof tmp) sb_putn(b, tmp, (size_t)n);
    else if (!sb_grow(b, (size_t)n)) {
        vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap2);
        b->len += (size_t)n;
    }
    va_end(ap2);
}

static void sb_printf(sb_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sb_t *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(b, fmt, ap);
    va_end(ap);
}

static void sb_json_escape(sb_t *b, const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': sb_puts(b, "\\\""); break;
        case '\\': sb_puts(b, "\\\\"); break;
        case '\n': sb_puts(b, "\\n"); break;
        case '\r': sb_puts(b, "\\r"); break;
        case '\t': sb_puts(b, "\\t"); break;
        default:
            if (*p < 0x20) sb_printf(b, "\\u%04x", *p);
            else sb_putc(b, (char)*p);
        }
    }
}

/* ---- text format: turn the JSON members into k=v pairs ---- */

/* One JSON value starting at *pp: strings are unescaped (and quoted again if
 * they hold a space or '='); anything else is copied up to the next
 * top-level comma. */
static void text_value(sb_t *b, const char **pp) {
    const char *p = *pp;
    if (*p == '"') {
        const char *q = p + 1;
        int needs_quote = 0;
        for (const char *r = q; *r && *r != '"'; r++) {
            if (*r == '\\' && r[1]) r++;
            else if (*r == ' ' || *r == '=') needs_quote = 1;
        }
        if (needs_quote) sb_putc(b, '"');
        while (*q && *q != '"') {
            if (*q == '\\' && q[1]) {
                q++;
                switch (*q) {
                case 'n': sb_puts(b, "\\n"); break;
                case 't': sb_puts(b, "\\t"); break;
                case 'r': sb_puts(b, "\\r"); break;
                default: sb_putc(b, *q);
                }
            } else {
                sb_putc(b, *q);
            }
            q++;
        }
        if (needs_quote) sb_putc(b, '"');
        if (*q == '"') q++;
        *pp = q;
        return;
    }
    int depth = 0, in_str = 0;
    while (*p) {
        if (in_str) {
            if (*p == '\\' && p[1]) sb_putc(b, *p++);
            else if (*p == '"') in_str = 0;
        } else if (*p == '"') in_str = 1;
        else if (*p == '{' || *p == '[') depth++;
        else if (*p == '}' || *p == ']') depth--;
        else if (*p == ',' && depth <= 0) break;
        sb_putc(b, *p++);
    }
    *pp = p;
}

static void text_fields(sb_t *b, const char *p) {
    while (*p) {
        while (*p == ' ' || *p == ',') p++;
        if (!*p) break;
        sb_putc(b, ' ');
        if (*p == '"') {                     /* key */
            p++;
            while (*p && *p != '"') {
                if (*p == '\\' && p[1]) p++;
                sb_putc(b, *p++);
            }
            if (*p == '"') p++;
            while (*p == ' ') p++;
            if (*p == ':') p++;
            while (*p == ' ') p++;
            sb_putc(b, '=');
        }
        text_value(b, &p);
    }
}

void mts_log(mts_log_level_t lvl, const char *event, const char *fields_fmt, ...) {
    if (!mts_log_enabled(lvl)) return;

    sb_t fields;
    sb_init(&fields);
    if (fields_fmt && *fields_fmt) {
        va_list ap;
        va_start(ap, fields_fmt);
        sb_vprintf(&fields, fields_fmt, ap);
        va_end(ap);
    }
    sb_putc(&fields, '\0');
    if (fields.oom) fields.p[0] = '\0';
    const char *fs = fields.oom ? "" : fields.p;

    sb_t line;
    sb_init(&line);
    if (text_format) {
        sb_printf(&line, "%s %s", level_name(lvl), event ? event : "");
        text_fields(&line, fs);
    } else {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        char iso[32];
        mts_time_format_iso((int64_t)now.tv_sec, iso);
        iso[19] = '\0';                      /* drop the Z, add milliseconds */
        sb_printf(&line, "{\"ts\":\"%s.%03dZ\",\"level\":\"%s\",\"event\":\"", iso,
                  (int)(now.tv_nsec / 1000000), level_name(lvl));
        sb_json_escape(&line, event ? event : "");
        sb_putc(&line, '"');
        if (*fs) {
            sb_putc(&line, ',');
            sb_puts(&line, fs);
        }
        sb_putc(&line, '}');
    }
    sb_putc(&line, '\n');

    flockfile(stderr);
    fwrite(line.p, 1, line.len, stderr);
    if (line.oom) fputs("\n", stderr);
    funlockfile(stderr);
    if (line.heap) mts_free(line.p);
    if (fields.heap) mts_free(fields.p);
}
