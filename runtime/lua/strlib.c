/* strlib.c — Lua 5.1 patterns with a bound on work (see strlib.h).
 *
 * The algorithm is the classic backtracking matcher of Lua 5.1, with the
 * structure of LuaJIT 2.1's (so that the nesting count, which decides
 * "pattern too complex", and the order in which errors are found are the
 * same). Differences: no Lua (errors leave through a longjmp to
 * mts_strlib_find and come back as a code and a message), a step counter that
 * reads the clock every MTS_STRLIB_CHECK_EVERY steps, and character classes
 * from an ASCII table of its own (LuaJIT's are ASCII too, never the locale). */
#include "lua/strlib.h"
#include "mts.h"

#include <setjmp.h>
#include <string.h>
#include <time.h>

#define CAP_UNFINISHED (-1)
#define CAP_POSITION MTS_STRLIB_CAP_POSITION
#define ESC '%'

typedef struct mstate {
    const char *src_init, *src_end;
    int level, depth;
    struct { const char *init; ptrdiff_t len; } cap[MTS_STRLIB_MAXCAPTURES];
    double deadline;
    const char *err;
    int rc;
    jmp_buf jb;
} mstate_t;

double mts_strlib_clock(void) { return (double)clock() / (double)CLOCKS_PER_SEC; }

static void fail(mstate_t *ms, int rc, const char *msg) {
    ms->rc = rc;
    ms->err = msg;
    longjmp(ms->jb, 1);
}

/* Steps left before the next clock reading; kept across calls (a gsub calls
 * the matcher once per match), per thread (mts serve runs backtests in threads). */
static _Thread_local unsigned countdown = MTS_STRLIB_CHECK_EVERY;

/* One unit of work; every CHECK_EVERY units the clock is read. */
static void step(mstate_t *ms) {
    if (--countdown) return;
    countdown = MTS_STRLIB_CHECK_EVERY;
    if (ms->deadline >= 0 && mts_strlib_clock() > ms->deadline) fail(ms, MTS_ECANCELED, "time budget exceeded");
}

/* ---- character classes (ASCII, as LuaJIT's lj_char) ---- */
enum { C_ALPHA = 1, C_CNTRL, C_DIGIT, C_GRAPH, C_LOWER, C_PUNCT, C_SPACE, C_UPPER, C_ALNUM, C_XDIGIT };

static int is_class(int c, int cls) {
    int lower = c >= 'a' && c <= 'z', upper = c >= 'A' && c <= 'Z', digit = c >= '0' && c <= '9';
    switch (cls) {
    case C_ALPHA: return lower || upper;
    case C_CNTRL: return c < 32 || c == 127;
    case C_DIGIT: return digit;
    case C_GRAPH: return c > 32 && c < 127;
    case C_LOWER: return lower;
    case C_PUNCT: return c > 32 && c < 127 && !lower && !upper && !digit;
    case C_SPACE: return c == ' ' || (c >= 9 && c <= 13);
    case C_UPPER: return upper;
    case C_ALNUM: return lower || upper || digit;
    case C_XDIGIT: return digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    default: return 0;
    }
}

/* %x: class letter (lower case: the class, upper case: its complement), %z/%Z, else the literal. */
static int class_match(int c, int cl) {
    int cls = 0;
    switch (cl | 0x20) {
    case 'a': cls = C_ALPHA; break;
    case 'c': cls = C_CNTRL; break;
    case 'd': cls = C_DIGIT; break;
    case 'g': cls = C_GRAPH; break;
    case 'l': cls = C_LOWER; break;
    case 'p': cls = C_PUNCT; break;
    case 's': cls = C_SPACE; break;
    case 'u': cls = C_UPPER; break;
    case 'w': cls = C_ALNUM; break;
    case 'x': cls = C_XDIGIT; break;
    default: break;
    }
    if (cls && ((cl >= 'a' && cl <= 'z') || (cl >= 'A' && cl <= 'Z'))) {
        int t = is_class(c, cls);
        return (cl & 0x20) ? t : !t;
    }
    if (cl == 'z') return c == 0;
    if (cl == 'Z') return c != 0;
    return cl == c;
}

/* End of the single-character class starting at p. */
static const char *class_end(mstate_t *ms, const char *p) {
    switch (*p++) {
    case ESC:
        if (*p == '\0') fail(ms, MTS_EINVAL, "malformed pattern (ends with '%')");
        return p + 1;
    case '[':
        if (*p == '^') p++;
        do {
            if (*p == '\0') fail(ms, MTS_EINVAL, "malformed pattern (missing ']')");
            if (*(p++) == ESC && *p != '\0') p++;
        } while (*p != ']');
        return p + 1;
    default:
        return p;
    }
}

/* c against the set [..] from p (its '[') to ec (its ']'). */
static int set_match(int c, const char *p, const char *ec) {
    int yes = 1;
    if (p[1] == '^') {
        yes = 0;
        p++;
    }
    while (++p < ec) {
        if (*p == ESC) {
            p++;
            if (class_match(c, (unsigned char)*p)) return yes;
        } else if (p[1] == '-' && p + 2 < ec) {
            p += 2;
            if ((unsigned char)p[-2] <= c && c <= (unsigned char)*p) return yes;
        } else if ((unsigned char)*p == c) {
            return yes;
        }
    }
    return !yes;
}

static int single(int c, const char *p, const char *ep) {
    switch (*p) {
    case '.': return 1;
    case ESC: return class_match(c, (unsigned char)p[1]);
    case '[': return set_match(c, p, ep - 1);
    default: return (unsigned char)*p == c;
    }
}

static const char *do_match(mstate_t *ms, const char *s, const char *p);

static const char *balance(mstate_t *ms, const char *s, const char *p) {
    if (p[0] == '\0' || p[1] == '\0') fail(ms, MTS_EINVAL, "unbalanced pattern");
    if (s >= ms->src_end || *s != *p) return NULL;
    int open = p[0], close = p[1], depth = 1;
    while (++s < ms->src_end) {
        step(ms);
        if (*s == close) {
            if (--depth == 0) return s + 1;
        } else if (*s == open) {
            depth++;
        }
    }
    return NULL;
}

static const char *expand_max(mstate_t *ms, const char *s, const char *p, const char *ep) {
    ptrdiff_t i = 0;
    while (s + i < ms->src_end && single((unsigned char)s[i], p, ep)) {
        step(ms);
        i++;
    }
    for (; i >= 0; i--) {
        const char *r = do_match(ms, s + i, ep + 1);
        if (r) return r;
    }
    return NULL;
}

static const char *expand_min(mstate_t *ms, const char *s, const char *p, const char *ep) {
    for (;;) {
        const char *r = do_match(ms, s, ep + 1);
        if (r) return r;
        if (s < ms->src_end && single((unsigned char)*s, p, ep)) s++;
        else return NULL;
    }
}

static const char *open_capture(mstate_t *ms, const char *s, const char *p, ptrdiff_t what) {
    int level = ms->level;
    if (level >= MTS_STRLIB_MAXCAPTURES) fail(ms, MTS_EINVAL, "too many captures");
    ms->cap[level].init = s;
    ms->cap[level].len = what;
    ms->level = level + 1;
    const char *r = do_match(ms, s, p);
    if (!r) ms->level--;
    return r;
}

static const char *close_capture(mstate_t *ms, const char *s, const char *p) {
    int l = ms->level - 1;
    while (l >= 0 && ms->cap[l].len != CAP_UNFINISHED) l--;
    if (l < 0) fail(ms, MTS_EINVAL, "invalid pattern capture");
    ms->cap[l].len = s - ms->cap[l].init;
    const char *r = do_match(ms, s, p);
    if (!r) ms->cap[l].len = CAP_UNFINISHED;
    return r;
}

static const char *back_reference(mstate_t *ms, const char *s, int digit) {
    int l = digit - '1';
    if (l < 0 || l >= ms->level || ms->cap[l].len == CAP_UNFINISHED)
        fail(ms, MTS_EINVAL, "invalid capture index");
    size_t len = (size_t)ms->cap[l].len;   /* a position capture: a huge length, never matches */
    if ((size_t)(ms->src_end - s) >= len && memcmp(ms->cap[l].init, s, len) == 0) return s + len;
    return NULL;
}

/* The matcher proper; one level of nesting per call (MTS_STRLIB_MAXDEPTH). */
static const char *match_here(mstate_t *ms, const char *s, const char *p) {
    for (;;) {
        step(ms);
        switch (*p) {
        case '(':
            if (p[1] == ')') return open_capture(ms, s, p + 2, CAP_POSITION);
            return open_capture(ms, s, p + 1, CAP_UNFINISHED);
        case ')':
            return close_capture(ms, s, p + 1);
        case '\0':
            return s;
        case '$':
            if (p[1] == '\0') return s == ms->src_end ? s : NULL;
            break;
        case ESC:
            if (p[1] == 'b') {
                s = balance(ms, s, p + 2);
                if (!s) return NULL;
                p += 4;
                continue;
            }
            if (p[1] == 'f') {
                p += 2;
                if (*p != '[') fail(ms, MTS_EINVAL, "missing '[' after '%f' in pattern");
                const char *ep = class_end(ms, p);
                int prev = s == ms->src_init ? '\0' : (unsigned char)s[-1];
                int cur = s < ms->src_end ? (unsigned char)*s : '\0';
                if (set_match(prev, p, ep - 1) || !set_match(cur, p, ep - 1)) return NULL;
                p = ep;
                continue;
            }
            if (p[1] >= '0' && p[1] <= '9') {
                s = back_reference(ms, s, (unsigned char)p[1]);
                if (!s) return NULL;
                p += 2;
                continue;
            }
            break;
        default:
            break;
        }
        /* a single-character class, possibly with a suffix */
        const char *ep = class_end(ms, p);
        int m = s < ms->src_end && single((unsigned char)*s, p, ep);
        switch (*ep) {
        case '?':
            if (m) {
                const char *r = do_match(ms, s + 1, ep + 1);
                if (r) return r;
            }
            p = ep + 1;
            continue;
        case '*':
            return expand_max(ms, s, p, ep);
        case '+':
            return m ? expand_max(ms, s + 1, p, ep) : NULL;
        case '-':
            return expand_min(ms, s, p, ep);
        default:
            if (!m) return NULL;
            s++;
            p = ep;
            continue;
        }
    }
}

static const char *do_match(mstate_t *ms, const char *s, const char *p) {
    if (++ms->depth > MTS_STRLIB_MAXDEPTH) fail(ms, MTS_EINVAL, "pattern too complex");
    const char *r = match_here(ms, s, p);
    ms->depth--;
    return r;
}

/* The scan of mts_strlib_find, below its setjmp. */
static int scan(mstate_t *ms, const char *s, const char *p, size_t init, int flags, mts_strlib_match_t *m) {
    int anchor = 0;
    if ((flags & MTS_STRLIB_CARET) && *p == '^') {
        p++;
        anchor = 1;
    }
    const char *s1 = s + init;
    for (;;) {
        ms->level = 0;
        ms->depth = 0;
        const char *e = do_match(ms, s1, p);
        if (e) {
            m->mstart = (int32_t)(s1 - s);
            m->mend = (int32_t)(e - s);
            m->ncap = ms->level;
            for (int i = 0; i < ms->level; i++) {
                m->cap_start[i] = (int32_t)(ms->cap[i].init - s);
                m->cap_len[i] = (int32_t)ms->cap[i].len;
            }
            return 1;
        }
        if (anchor || s1 >= ms->src_end) return 0;
        s1++;
    }
}

int mts_strlib_find(const char *s, size_t sl, const char *p, size_t pl, size_t init, int flags,
                    double deadline, mts_strlib_match_t *m) {
    (void)pl;   /* the pattern ends at its first NUL (p[pl] is one) */
    m->err = NULL;
    m->ncap = 0;
    if (sl > INT32_MAX || init > sl) {
        m->err = "subject too long or start out of range";
        return MTS_EINVAL;
    }
    mstate_t ms;
    ms.src_init = s;
    ms.src_end = s + sl;
    ms.deadline = deadline;
    ms.err = NULL;
    ms.rc = 0;
    if (setjmp(ms.jb)) {
        m->err = ms.err;
        return ms.rc;
    }
    return scan(&ms, s, p, init, flags, m);
}

int32_t mts_strlib_plain(const char *s, size_t sl, const char *n, size_t nl, size_t init) {
    if (init > sl || sl > INT32_MAX) return -1;
    const char *q = memmem(s + init, sl - init, n, nl);
    return q ? (int32_t)(q - s) : -1;
}

int mts_strlib_has_specials(const char *p, size_t pl) {
    for (size_t i = 0; i < pl; i++)
        if (p[i] && strchr("^$*+?.([%-", p[i])) return 1;
    return 0;
}
