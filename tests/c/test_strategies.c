/* test_strategies.c — util/strategies.h: a strategy argument to a file (paths,
 * $MTS_STRATEGY_PATH before root/scripts/strategies), the process registry
 * of files given by path, two files with one name refused naming both, and
 * ENABLED_STRATEGIES. Files are made in a temporary directory here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mts.h"
#include "util/strategies.h"

static char tmp[PATH_MAX];

static void touch(const char *rel) {
    char p[PATH_MAX * 2];
    snprintf(p, sizeof p, "%s/%s", tmp, rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("return {}\n", f);
    fclose(f);
}

static void sub(const char *rel) {
    char p[PATH_MAX * 2];
    snprintf(p, sizeof p, "%s/%s", tmp, rel);
    assert_int_equal(mkdir(p, 0700), 0);
}

static int setup(void **st) {
    (void)st;
    snprintf(tmp, sizeof tmp, "/tmp/mts-strategies-XXXXXX");
    assert_non_null(mkdtemp(tmp));
    sub("root");
    sub("root/scripts");
    sub("root/scripts/strategies");
    sub("a");
    sub("b");
    touch("root/scripts/strategies/tree.lua");
    touch("root/scripts/strategies/both.lua");
    touch("a/both.lua");
    touch("a/mine.lua");
    touch("b/mine.lua");
    return 0;
}

static int teardown(void **st) {
    (void)st;
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_is_path(void **st) {
    (void)st;
    assert_true(mts_strategy_is_path("./my.lua"));
    assert_true(mts_strategy_is_path("/x/my"));
    assert_true(mts_strategy_is_path("my.lua"));
    assert_false(mts_strategy_is_path("my"));
    assert_false(mts_strategy_is_path("my-lua"));
}

static void test_find_path_before_tree(void **st) {
    (void)st;
    char root[PATH_MAX + 8], path[PATH_MAX * 2], err[512], want[PATH_MAX * 2], sp[PATH_MAX * 3];
    snprintf(root, sizeof root, "%s/root", tmp);
    unsetenv("MTS_STRATEGY_PATH");
    assert_int_equal(mts_strategy_find(root, "both", path, sizeof path, err, sizeof err), MTS_OK);
    snprintf(want, sizeof want, "%s/scripts/strategies/both.lua", root);
    assert_string_equal(path, want);
    snprintf(sp, sizeof sp, "/nonexistent:%s/a", tmp);
    setenv("MTS_STRATEGY_PATH", sp, 1);
    assert_int_equal(mts_strategy_find(root, "both", path, sizeof path, err, sizeof err), MTS_OK);
    snprintf(want, sizeof want, "%s/a/both.lua", tmp);
    assert_string_equal(path, want);
    assert_int_equal(mts_strategy_find(root, "tree", path, sizeof path, err, sizeof err), MTS_OK);
    assert_int_equal(mts_strategy_find(root, "nope", path, sizeof path, err, sizeof err), MTS_ENOTFOUND);
    assert_non_null(strstr(err, "unknown strategy 'nope'"));
    assert_non_null(strstr(err, "$MTS_STRATEGY_PATH"));
    /* a path is never found by name (the API uses this) */
    snprintf(want, sizeof want, "%s/a/both.lua", tmp);
    assert_int_equal(mts_strategy_find(root, want, path, sizeof path, err, sizeof err), MTS_EINVAL);
    assert_int_equal(mts_strategy_find(root, "../a/both", path, sizeof path, err, sizeof err), MTS_EINVAL);
    unsetenv("MTS_STRATEGY_PATH");
}

static void test_args_and_duplicates(void **st) {
    (void)st;
    char root[PATH_MAX + 8], a[PATH_MAX * 2], b[PATH_MAX * 2], err[2048];
    snprintf(root, sizeof root, "%s/root", tmp);
    snprintf(a, sizeof a, "%s/a/mine.lua", tmp);
    snprintf(b, sizeof b, "%s/b/mine.lua", tmp);
    const char *l1[] = {"tree", a};
    assert_int_equal(mts_strategy_args(root, l1, 2, err, sizeof err), MTS_OK);
    assert_string_equal(l1[0], "tree");
    assert_string_equal(l1[1], "mine");
    assert_non_null(mts_strategy_registered("mine"));
    assert_non_null(strstr(mts_strategy_registered("mine"), "/a/mine.lua"));
    assert_null(mts_strategy_registered("tree"));
    /* another file named mine: refused, both named */
    const char *l2[] = {b};
    assert_int_equal(mts_strategy_args(root, l2, 1, err, sizeof err), MTS_EINVAL);
    assert_non_null(strstr(err, "two strategies named 'mine'"));
    assert_non_null(strstr(err, "/a/mine.lua"));
    assert_non_null(strstr(err, "/b/mine.lua"));
    /* the registered name again, by name: the same file, fine */
    const char *l3[] = {"mine"};
    assert_int_equal(mts_strategy_args(root, l3, 1, err, sizeof err), MTS_OK);
    /* a name twice */
    const char *l4[] = {"tree", "tree"};
    assert_int_equal(mts_strategy_args(root, l4, 2, err, sizeof err), MTS_EINVAL);
    assert_non_null(strstr(err, "selected twice"));
    /* a file and the tree's file of the same name */
    char bp[PATH_MAX * 2];
    snprintf(bp, sizeof bp, "%s/a/both.lua", tmp);
    const char *l5[] = {"both", bp};
    assert_int_equal(mts_strategy_args(root, l5, 2, err, sizeof err), MTS_EINVAL);
    assert_non_null(strstr(err, "two strategies named 'both'"));
    /* missing file, bad names */
    const char *l6[] = {"./nope/x.lua"};
    assert_int_equal(mts_strategy_args(root, l6, 1, err, sizeof err), MTS_ENOTFOUND);
    const char *l7[] = {"a b"};
    assert_int_equal(mts_strategy_args(root, l7, 1, err, sizeof err), MTS_EINVAL);
}

static void test_enabled(void **st) {
    (void)st;
    char err[512];
    unsetenv("ENABLED_STRATEGIES");
    assert_int_equal(mts_strategy_enabled("x", err, sizeof err), MTS_OK);
    setenv("ENABLED_STRATEGIES", "", 1);
    assert_int_equal(mts_strategy_enabled("x", err, sizeof err), MTS_OK);
    setenv("ENABLED_STRATEGIES", "sma_cross, mean_reversion ,vix", 1);
    assert_int_equal(mts_strategy_enabled("sma_cross", err, sizeof err), MTS_OK);
    assert_int_equal(mts_strategy_enabled("mean_reversion", err, sizeof err), MTS_OK);
    assert_int_equal(mts_strategy_enabled("vix", err, sizeof err), MTS_OK);
    assert_int_equal(mts_strategy_enabled("sma", err, sizeof err), MTS_EINVAL);   /* no prefix match */
    assert_int_equal(mts_strategy_enabled("vix_correlation", err, sizeof err), MTS_EINVAL);
    assert_non_null(strstr(err, "strategy 'vix_correlation' is not enabled: ENABLED_STRATEGIES="));
    unsetenv("ENABLED_STRATEGIES");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_is_path),
        cmocka_unit_test(test_find_path_before_tree),
        cmocka_unit_test(test_args_and_duplicates),
        cmocka_unit_test(test_enabled),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
