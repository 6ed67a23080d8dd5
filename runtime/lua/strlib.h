/* strlib.h — Lua 5.1 patterns with a bound on work, for the strategy sandbox.
 *
 * The matcher behind the strategies' string.find/match/gmatch/gsub
 * (scripts/lib/sandbox.lua calls it through the FFI). It gives exactly the
 * results of LuaJIT 2.1's own matcher (same captures, position captures, %b,
 * %f, anchors, the same errors, the same nesting limit of 200 and 32
 * captures; tests/lua/sandbox_spec.lua compares them on generated cases),
 * but it never calls back into Lua, and it stops when a deadline passes: the
 * CPU clock (clock(), the clock of os.clock) is read every
 * MTS_STRLIB_CHECK_EVERY steps of the matcher.
 *
 * Plain search (a needle without pattern characters, or find's `plain`) is
 * memmem: linear in the subject, where LuaJIT's is O(n·m).
 *
 * Pure C (no lua.h): callable through the FFI, from busted too. */
#ifndef MTS_LUA_STRLIB_H
#define MTS_LUA_STRLIB_H

#include <stddef.h>
#include <stdint.h>

#define MTS_STRLIB_MAXCAPTURES 32
#define MTS_STRLIB_MAXDEPTH    200          /* nested matcher calls: "pattern too complex" past it */
#define MTS_STRLIB_CAP_POSITION (-2)         /* cap_len of a position capture "()" */
#define MTS_STRLIB_CHECK_EVERY 4096          /* matcher steps between two clock readings */

/* flags */
#define MTS_STRLIB_CARET 1   /* a leading '^' anchors the match at init (find, match, gsub; not gmatch) */

typedef struct mts_strlib_match {
    int32_t mstart, mend;                     /* the match: bytes [mstart, mend) of the subject */
    int32_t ncap;                             /* captures in the pattern (0: none) */
    int32_t cap_start[MTS_STRLIB_MAXCAPTURES];
    int32_t cap_len[MTS_STRLIB_MAXCAPTURES];  /* bytes, or MTS_STRLIB_CAP_POSITION */
    const char *err;                          /* on error: what is wrong (a static string) */
} mts_strlib_match_t;

/* The first match of pattern p in s[0..sl) starting at offset init (0..sl),
 * trying init, init+1, .. sl (only init when the pattern is anchored). p
 * must be NUL-terminated (p[pl] == 0, as Lua strings are); the pattern ends
 * at its first NUL, as in LuaJIT. deadline: CPU seconds as
 * mts_strlib_clock() counts them, < 0 for none.
 * Returns 1 (m filled), 0 (no match), MTS_EINVAL (a bad pattern: m->err says
 * why, in LuaJIT's words) or MTS_ECANCELED (the deadline passed: m->err is
 * "time budget exceeded"). */
int mts_strlib_find(const char *s, size_t sl, const char *p, size_t pl, size_t init, int flags,
                    double deadline, mts_strlib_match_t *m);

/* Plain search: offset of the first n[0..nl) in s[init..sl), or -1 (-1 too when sl > INT32_MAX). */
int32_t mts_strlib_plain(const char *s, size_t sl, const char *n, size_t nl, size_t init);

/* 1 if p[0..pl) has a pattern character (^$*+?.([%-) anywhere, as LuaJIT
 * decides between a plain and a pattern search in string.find. */
int mts_strlib_has_specials(const char *p, size_t pl);

/* The CPU clock in seconds: what deadlines are measured in (= os.clock()). */
double mts_strlib_clock(void);

#endif
