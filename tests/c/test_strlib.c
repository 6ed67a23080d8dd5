/* test_strlib.c — lua/strlib.h, the budgeted Lua-pattern matcher behind the
 * strategies' string.find/match/gmatch/gsub. Equality with LuaJIT on many
 * generated cases is tests/lua/sandbox_spec.lua's job (the real library is
 * its oracle); here: the C contract by hand (offsets, captures, position
 * captures, anchors, the errors and their words), the nesting and capture
 * limits, the deadline, and plain search on inputs where a naive search is
 * quadratic.
 *
 * Expected offsets are counted by hand in the comments (0-based, end
 * exclusive: Lua's find(s, p) = mstart + 1, mend). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mts.h"
#include "lua/strlib.h"

static mts_strlib_match_t M;

static int F(const char *s, const char *p, size_t init, int flags) {
    memset(&M, 0x5a, sizeof M);
    return mts_strlib_find(s, strlen(s), p, strlen(p), init, flags, -1, &M);
}

static void test_basic_offsets(void **st) {
    (void)st;
    /* "hello world": 'o' at 4 and 7 */
    assert_int_equal(F("hello world", "o", 0, MTS_STRLIB_CARET), 1);
    assert_int_equal(M.mstart, 4);
    assert_int_equal(M.mend, 5);
    assert_int_equal(M.ncap, 0);
    assert_int_equal(F("hello world", "o", 5, MTS_STRLIB_CARET), 1);
    assert_int_equal(M.mstart, 7);
    assert_int_equal(F("hello world", "z", 0, MTS_STRLIB_CARET), 0);
    /* "%a+" from 0: "hello" = [0, 5) */
    assert_int_equal(F("hello world", "%a+", 0, MTS_STRLIB_CARET), 1);
    assert_int_equal(M.mstart, 0);
    assert_int_equal(M.mend, 5);
    /* empty pattern at the end: [11, 11) */
    assert_int_equal(F("hello world", "", 11, MTS_STRLIB_CARET), 1);
    assert_int_equal(M.mstart, 11);
    assert_int_equal(M.mend, 11);
}

static void test_captures(void **st) {
    (void)st;
    /* "key = value": (%w+) = "key" [0,3), (%w+) = "value" [6,11) */
    assert_int_equal(F("key = value", "(%w+)%s*=%s*(%w+)", 0, MTS_STRLIB_CARET), 1);
    assert_int_equal(M.ncap, 2);
    assert_int_equal(M.cap_start[0], 0);
    assert_int_equal(M.cap_len[0], 3);
    assert_int_equal(M.cap_start[1], 6);
    assert_int_equal(M.cap_len[1], 5);
    /* position captures around "ll" in "hello": at 2 and 4 */
    assert_int_equal(F("hello", "()ll()", 0, MTS_STRLIB_CARET), 1);
    assert_int_equal(M.ncap, 2);
    assert_int_equal(M.cap_len[0], MTS_STRLIB_CAP_POSITION);
    assert_int_equal(M.cap_start[0], 2);
    assert_int_equal(M.cap_start[1], 4);
    /* back reference: "abab" = (ab)%1 */
    assert_int_equal(F("xababy", "(ab)%1", 0, MTS_STRLIB_CARET), 1);
    assert_int_equal(M.mstart, 1);
    assert_int_equal(M.mend, 5);
    /* an unfinished capture is reported to the caller as length -1 */
    assert_int_equal(F("abc", "(b", 0, MTS_STRLIB_CARET), 1);
    assert_int_equal(M.ncap, 1);
    assert_int_equal(M.cap_len[0], -1);
}

static void test_balance_frontier_anchor(void **st) {
    (void)st;
    /* "x(a(b)c)y": %b() = "(a(b)c)" [1, 8) */
    assert_int_equal(F("x(a(b)c)y", "%b()", 0, MTS_STRLIB_CARET), 1);
    assert_int_equal(M.mstart, 1);
    assert_int_equal(M.mend, 8);
    /* "THE (quick) fox": the first word after a non-letter... %f[%a]%a+ = "THE" [0,3) */
    assert_int_equal(F("THE (quick) fox", "%f[%a]%a+", 4, MTS_STRLIB_CARET), 1);
    assert_int_equal(M.mstart, 5);
    assert_int_equal(M.mend, 10);
    /* ^ anchors only with MTS_STRLIB_CARET; without, it is a literal */
    assert_int_equal(F("aab", "^b", 0, MTS_STRLIB_CARET), 0);
    assert_int_equal(F("a^b", "^b", 0, 0), 1);
    assert_int_equal(M.mstart, 1);
    /* $ at the end anchors at the end */
    assert_int_equal(F("abab", "ab$", 0, MTS_STRLIB_CARET), 1);
    assert_int_equal(M.mstart, 2);
    /* the pattern ends at its first NUL (as in LuaJIT): "\0." is "" */
    const char s[] = "a\0b";
    const char p[] = "\0.";
    assert_int_equal(mts_strlib_find(s, 3, p, 2, 0, MTS_STRLIB_CARET, -1, &M), 1);
    assert_int_equal(M.mstart, 0);
    assert_int_equal(M.mend, 0);
    /* %z matches the NUL inside the subject at 1 */
    assert_int_equal(mts_strlib_find(s, 3, "%z", 2, 0, MTS_STRLIB_CARET, -1, &M), 1);
    assert_int_equal(M.mstart, 1);
}

static void expect_error(const char *s, const char *p, const char *msg) {
    int rc = F(s, p, 0, MTS_STRLIB_CARET);
    if (rc != MTS_EINVAL || !M.err || strcmp(M.err, msg) != 0)
        fail_msg("'%s' on '%s': rc %d, err '%s', want '%s'", p, s, rc, rc < 0 && M.err ? M.err : "", msg);
}

static void test_errors_in_luajit_words(void **st) {
    (void)st;
    expect_error("abc", "%", "malformed pattern (ends with '%')");
    expect_error("abc", "[a", "malformed pattern (missing ']')");
    expect_error("abc", "[]", "malformed pattern (missing ']')");
    expect_error("abc", "b)", "invalid pattern capture");
    expect_error("abc", "%b", "unbalanced pattern");
    expect_error("abc", "%f", "missing '[' after '%f' in pattern");
    expect_error("abc", "%1", "invalid capture index");
    expect_error("abc", "(a%1)", "invalid capture index");
    /* 32 captures are fine, the 33rd is not */
    char p[200] = "";
    for (int i = 0; i < 32; i++) strcat(p, "()");
    assert_int_equal(F("x", p, 0, MTS_STRLIB_CARET), 1);
    assert_int_equal(M.ncap, 32);
    strcat(p, "()");
    expect_error("x", p, "too many captures");
}

static void test_nesting_limit(void **st) {
    (void)st;
    /* "^" .. ("a?"):rep(k) .. "$" on ("a"):rep(k) nests k + 1 calls: 199 pass, 200 do not */
    char s[256], p[512];
    for (int k = 199; k <= 200; k++) {
        memset(s, 'a', (size_t)k);
        s[k] = 0;
        strcpy(p, "^");
        for (int i = 0; i < k; i++) strcat(p, "a?");
        strcat(p, "$");
        int rc = F(s, p, 0, MTS_STRLIB_CARET);
        if (k == 199) assert_int_equal(rc, 1);
        else {
            assert_int_equal(rc, MTS_EINVAL);
            assert_string_equal(M.err, "pattern too complex");
        }
    }
}

static void test_deadline_stops_a_pathological_pattern(void **st) {
    (void)st;
    /* ("a"):rep(3000):find(".-.-.-.-.-b") is ~3000^5/120 steps: a deadline
     * already passed (0: the start of the process's CPU clock) stops it at the
     * first clock reading */
    char *s = malloc(3001);
    memset(s, 'a', 3000);
    s[3000] = 0;
    int rc = mts_strlib_find(s, 3000, ".-.-.-.-.-b", 11, 0, MTS_STRLIB_CARET, 0, &M);
    assert_int_equal(rc, MTS_ECANCELED);
    assert_string_equal(M.err, "time budget exceeded");
    /* a deadline in the future does not stop a quick match */
    rc = mts_strlib_find(s, 3000, "a+$", 3, 0, MTS_STRLIB_CARET, mts_strlib_clock() + 3600, &M);
    assert_int_equal(rc, 1);
    assert_int_equal(M.mstart, 0);
    assert_int_equal(M.mend, 3000);
    free(s);
}

static void test_plain_search(void **st) {
    (void)st;
    assert_int_equal(mts_strlib_plain("hello", 5, "ll", 2, 0), 2);
    assert_int_equal(mts_strlib_plain("hello", 5, "ll", 2, 3), -1);
    assert_int_equal(mts_strlib_plain("hello", 5, "", 0, 5), 5);   /* empty needle: at init */
    assert_int_equal(mts_strlib_plain("hello", 5, "x", 1, 6), -1);  /* init past the end */
    /* 4 MB of 'a' and a needle of 2 MB of 'a' then 'b': quadratic for a naive
     * search (LuaJIT's), linear here; and found when the subject ends with it */
    size_t n = (size_t)4 << 20, m = (size_t)2 << 20;
    char *h = malloc(n + 1), *q = malloc(m + 1);
    memset(h, 'a', n);
    memset(q, 'a', m);
    q[m - 1] = 'b';
    assert_int_equal(mts_strlib_plain(h, n, q, m, 0), -1);
    h[n - 1] = 'b';
    assert_int_equal(mts_strlib_plain(h, n, q, m, 0), (int)(n - m));
    free(h);
    free(q);
    assert_int_equal(mts_strlib_has_specials("abc", 3), 0);
    assert_int_equal(mts_strlib_has_specials("a.c", 3), 1);
    assert_int_equal(mts_strlib_has_specials("a\0.", 3), 1);   /* LuaJIT looks past a NUL */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_offsets),
        cmocka_unit_test(test_captures),
        cmocka_unit_test(test_balance_frontier_anchor),
        cmocka_unit_test(test_errors_in_luajit_words),
        cmocka_unit_test(test_nesting_limit),
        cmocka_unit_test(test_deadline_stops_a_pathological_pattern),
        cmocka_unit_test(test_plain_search),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
