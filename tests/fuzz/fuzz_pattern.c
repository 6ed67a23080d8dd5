/* fuzz_pattern.c — `make fuzz`: the budgeted Lua-pattern matcher
 * (lua/strlib.h) on generated and mutated patterns and subjects: pattern
 * pieces (classes, sets, %b, %f, captures, back references, anchors,
 * quantifiers) glued at random, then bytes flipped, cut or inserted; subjects
 * with NULs and the pattern characters. Built with ASan and UBSan: a crash,
 * an overflow or undefined behaviour aborts the run.
 * Oracles: the return code is 1, 0, MTS_EINVAL with one of LuaJIT's messages,
 * or MTS_ECANCELED (every call has a 20 ms deadline: exponential patterns
 * must stop); a match lies inside the subject, at or after init, at init when
 * anchored, with its captures inside the subject; searching again from the
 * match's start finds the same match; a pattern with every character escaped
 * finds what plain search (memmem) finds, and plain search agrees with a
 * naive search. (Equality with LuaJIT itself: tests/lua/sandbox_spec.lua.)
 * Usage: fuzz_pattern ITERATIONS */
#include "lua/strlib.h"
#include "mts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x2545F4914F6CDD1DULL;
static uint64_t next(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

static const char *PIECES[] = {
    "a", "b", "x", ".", "%a", "%d", "%s", "%w", "%p", "%x", "%u", "%l", "%c", "%A", "%z", "%g", "%Z",
    "[ab]", "[^a]", "[a-c]", "[a-]", "[-a]", "[%a-c]", "[]a]", "[^]b]", "%b()", "%bab", "%f[%w]", "%f[%W]",
    "(", ")", "()", "%1", "%2", "%0", "^", "$", "%%", "%(", "%.", "-", "*", "+", "?", "[", "%", "%b", "%f",
};
static const char *QUANT[] = {"", "", "", "*", "+", "-", "?"};
static const char SUBJ[] = "abcx12 ()[]%.\0A\n-^$";

static const char *KNOWN[] = {
    "malformed pattern (ends with '%')", "malformed pattern (missing ']')", "invalid pattern capture",
    "unbalanced pattern", "missing '[' after '%f' in pattern", "invalid capture index",
    "too many captures", "pattern too complex",
};

static void die(const char *what, const char *s, size_t sl, const char *p, size_t init) {
    fprintf(stderr, "fuzz_pattern: %s: pattern '%s', subject of %zu bytes '%.*s', init %zu\n", what, p, sl,
            (int)(sl > 200 ? 200 : sl), s, init);
    abort();
}

static int find(const char *s, size_t sl, const char *p, size_t init, int flags, mts_strlib_match_t *m) {
    return mts_strlib_find(s, sl, p, strlen(p), init, flags, mts_strlib_clock() + 0.02, m);
}

static void check(const char *s, size_t sl, const char *p, size_t init, int flags) {
    mts_strlib_match_t m;
    int rc = find(s, sl, p, init, flags, &m);
    if (rc == MTS_ECANCELED) {
        if (!m.err || strcmp(m.err, "time budget exceeded")) die("cancelled without its message", s, sl, p, init);
        return;
    }
    if (rc == MTS_EINVAL) {
        for (size_t i = 0; i < sizeof KNOWN / sizeof *KNOWN; i++)
            if (m.err && !strcmp(m.err, KNOWN[i])) return;
        die("an error without a known message", s, sl, p, init);
    }
    if (rc == 0) return;
    if (rc != 1) die("unexpected return code", s, sl, p, init);
    if (m.mstart < (int32_t)init || m.mstart > m.mend || (size_t)m.mend > sl) die("match out of range", s, sl, p, init);
    if ((flags & MTS_STRLIB_CARET) && p[0] == '^' && (size_t)m.mstart != init) die("anchored match moved", s, sl, p, init);
    if (m.ncap < 0 || m.ncap > MTS_STRLIB_MAXCAPTURES) die("capture count", s, sl, p, init);
    for (int i = 0; i < m.ncap; i++) {
        int32_t a = m.cap_start[i], l = m.cap_len[i];
        if (a < 0 || (size_t)a > sl) die("capture start out of range", s, sl, p, init);
        if (l >= 0 && (size_t)a + (size_t)l > sl) die("capture end out of range", s, sl, p, init);
        if (l < MTS_STRLIB_CAP_POSITION) die("capture length", s, sl, p, init);
    }
    mts_strlib_match_t again;
    int rc2 = find(s, sl, p, (size_t)m.mstart, flags, &again);
    if (rc2 == MTS_ECANCELED) return;
    if (rc2 != 1 || again.mstart != m.mstart || again.mend != m.mend || again.ncap != m.ncap)
        die("searching from the match's start finds another match", s, sl, p, init);
}

static void check_plain(const char *s, size_t sl, const char *n, size_t nl, size_t init) {
    int32_t got = mts_strlib_plain(s, sl, n, nl, init);
    int32_t want = -1;
    for (size_t i = init; i + nl <= sl; i++)
        if (memcmp(s + i, n, nl) == 0) { want = (int32_t)i; break; }
    if (got != want) die("plain search differs from a naive search", s, sl, n, init);
    /* the same needle with every byte escaped, as a pattern (NUL-free needles only) */
    if (nl > 0 && !memchr(n, 0, nl) && nl < 100) {
        char p[256];
        size_t o = 0;
        /* "%<letter>" is a class, not the letter: escape only the non-alphanumerics */
        for (size_t i = 0; i < nl; i++) {
            unsigned char c = (unsigned char)n[i];
            int alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
            if (!alnum) p[o++] = '%';
            p[o++] = (char)c;
        }
        p[o] = 0;
        mts_strlib_match_t m;
        int rc = find(s, sl, p, init, MTS_STRLIB_CARET, &m);
        if (rc == MTS_ECANCELED) return;
        if ((want < 0 && rc != 0) || (want >= 0 && (rc != 1 || m.mstart != want || (size_t)m.mend != (size_t)want + nl)))
            die("an escaped pattern differs from plain search", s, sl, p, init);
    }
}

int main(int argc, char **argv) {
    long iters = argc > 1 ? atol(argv[1]) : 20000;
    static char p[4096], s[8192];
    long cancelled = 0;
    for (long it = 0; it < iters; it++) {
        /* a pattern of pieces, then mutated */
        size_t o = 0, np = 1 + next() % 8;
        if (next() % 5 == 0) p[o++] = '^';
        for (size_t k = 0; k < np && o < sizeof p - 16; k++) {
            const char *a = PIECES[next() % (sizeof PIECES / sizeof *PIECES)];
            const char *q = QUANT[next() % (sizeof QUANT / sizeof *QUANT)];
            memcpy(p + o, a, strlen(a));
            o += strlen(a);
            memcpy(p + o, q, strlen(q));
            o += strlen(q);
        }
        if (next() % 4 == 0 && o > 0) p[next() % o] = (char)(1 + next() % 255);   /* a flipped byte (never NUL) */
        if (next() % 8 == 0 && o > 0) o = next() % o;                               /* cut */
        p[o] = 0;
        /* a subject: small, or long and repetitive (backtracking) */
        size_t sl = next() % 4 == 0 ? 200 + next() % 3000 : next() % 24;
        int rep = next() % 2;
        for (size_t i = 0; i < sl; i++) s[i] = rep ? "aab"[next() % 3 == 0 ? 2 : 0] : SUBJ[next() % (sizeof SUBJ - 1)];
        s[sl] = 0;
        size_t init = sl ? next() % (sl + 1) : 0;
        check(s, sl, p, init, MTS_STRLIB_CARET);
        check(s, sl, p, init, 0);
        /* plain search with a needle taken from the subject or made up */
        size_t nl = next() % 6;
        char n[8];
        if (sl >= nl && next() % 2) memcpy(n, s + (sl ? next() % (sl - nl + 1) : 0), nl);
        else for (size_t i = 0; i < nl; i++) n[i] = SUBJ[next() % (sizeof SUBJ - 1)];
        check_plain(s, sl, n, nl, init);
        /* a pathological one now and then: must stop at its deadline */
        if (it % 1000 == 0) {
            mts_strlib_match_t m;
            memset(s, 'a', 3000);
            int rc = mts_strlib_find(s, 3000, ".-.-.-.-.-b", 11, 0, MTS_STRLIB_CARET, mts_strlib_clock() + 0.01, &m);
            if (rc != MTS_ECANCELED) die("a pathological pattern was not stopped", s, 3000, ".-.-.-.-.-b", 0);
            cancelled++;
        }
    }
    printf("fuzz_pattern: %ld iterations, %ld pathological patterns stopped\n", iters, cancelled);
    return 0;
}
