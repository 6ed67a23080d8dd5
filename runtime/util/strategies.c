/* strategies.c — strategy arguments to files, ENABLED_STRATEGIES (see strategies.h). */
#include "util/strategies.h"
#include "util/config.h"
#include "mts.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REG_MAX 64
static struct { char name[MTS_STRATEGY_NAME_MAX + 1]; char path[PATH_MAX]; } reg[REG_MAX];
static int n_reg;

int mts_strategy_is_path(const char *arg) {
    size_t l = arg ? strlen(arg) : 0;
    return arg && (strchr(arg, '/') || (l >= 4 && !strcmp(arg + l - 4, ".lua")));
}

static int valid_name(const char *s, size_t l) {
    if (l == 0 || l > MTS_STRATEGY_NAME_MAX) return 0;
    for (size_t i = 0; i < l; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static int is_file(const char *p) { return mts_path_kind(p, NULL) == MTS_PATH_REGULAR; }

int mts_strategy_find(const char *root, const char *name, char *path, size_t pathlen, char *err, size_t errlen) {
    if (!name || mts_strategy_is_path(name) || !valid_name(name, strlen(name)))
        return mts_errf(err, errlen, MTS_EINVAL, "invalid strategy name '%s' (letters, digits, '_' and '-' only; "
                        "a file by path only on the command line)", name ? name : "");
    const char *sp = getenv("MTS_STRATEGY_PATH");
    char dir[PATH_MAX];
    while (sp && *sp) {
        const char *c = strchr(sp, ':');
        size_t l = c ? (size_t)(c - sp) : strlen(sp);
        if (l > 0 && l < sizeof dir) {
            memcpy(dir, sp, l);
            dir[l] = 0;
            if (snprintf(path, pathlen, "%s/%s.lua", dir, name) < (int)pathlen && is_file(path)) return MTS_OK;
        }
        sp = c ? c + 1 : NULL;
    }
    if (snprintf(path, pathlen, "%s/scripts/strategies/%s.lua", root, name) < (int)pathlen && is_file(path))
        return MTS_OK;
    path[0] = 0;
    const char *env = getenv("MTS_STRATEGY_PATH");
    return mts_errf(err, errlen, MTS_ENOTFOUND, "unknown strategy '%s' (no %s.lua in %s%s%s/scripts/strategies)",
                    name, name, env && *env ? "$MTS_STRATEGY_PATH " : "", env && *env ? "or " : "", root);
}

const char *mts_strategy_registered(const char *name) {
    for (int i = 0; name && i < n_reg; i++)
        if (!strcmp(reg[i].name, name)) return reg[i].path;
    return NULL;
}

static int args(const char *root, const char **list, int n, char (*found)[PATH_MAX], char *err, size_t errlen);

int mts_strategy_args(const char *root, const char **list, int n, char *err, size_t errlen) {
    if (n > REG_MAX) return mts_errf(err, errlen, MTS_EINVAL, "more than %d strategies", REG_MAX);
    if (n <= 0) return MTS_OK;
    char (*found)[PATH_MAX] = mts_calloc((size_t)n, sizeof *found);   /* each argument's file, for the messages */
    if (!found) return mts_errf(err, errlen, MTS_ENOMEM, "out of memory");
    int rc = args(root, list, n, found, err, errlen);
    mts_free(found);
    return rc;
}

static int args(const char *root, const char **list, int n, char (*found)[PATH_MAX], char *err, size_t errlen) {
    for (int k = 0; k < n; k++) {
        const char *a = list[k];
        if (mts_strategy_is_path(a)) {
            char real[PATH_MAX];
            if (!realpath(a, real) || !is_file(real))
                return mts_errf(err, errlen, MTS_ENOTFOUND, "strategy file %s: not a readable regular file "
                                "(--strategy takes a name in scripts/strategies or $MTS_STRATEGY_PATH, or a path to a .lua file)", a);
            const char *base = strrchr(real, '/');
            base = base ? base + 1 : real;
            size_t bl = strlen(base);
            if (bl < 5 || strcmp(base + bl - 4, ".lua") != 0 || !valid_name(base, bl - 4))
                return mts_errf(err, errlen, MTS_EINVAL, "strategy file %s: the name must be NAME.lua, NAME of letters, "
                                "digits, '_' and '-' (the strategy is known by it)", a);
            char name[MTS_STRATEGY_NAME_MAX + 1];
            memcpy(name, base, bl - 4);
            name[bl - 4] = 0;
            int at = -1;
            for (int i = 0; i < n_reg; i++) if (!strcmp(reg[i].name, name)) at = i;
            if (at >= 0 && strcmp(reg[at].path, real) != 0)
                return mts_errf(err, errlen, MTS_EINVAL, "two strategies named '%s': %s and %s (a strategy is known "
                                "by its file's name without .lua: rename one)", name, reg[at].path, real);
            if (at < 0) {
                if (n_reg == REG_MAX) return mts_errf(err, errlen, MTS_EINVAL, "more than %d strategy files", REG_MAX);
                at = n_reg++;
                snprintf(reg[at].name, sizeof reg[at].name, "%s", name);
                snprintf(reg[at].path, sizeof reg[at].path, "%s", real);
            }
            list[k] = reg[at].name;
            snprintf(found[k], sizeof found[k], "%s", real);
        } else {
            if (!valid_name(a, strlen(a)))
                return mts_errf(err, errlen, MTS_EINVAL, "invalid strategy name '%s' (letters, digits, '_' and '-' only, "
                                "or a path to a .lua file)", a);
            const char *r = mts_strategy_registered(a);
            if (r) snprintf(found[k], sizeof found[k], "%s", r);
            else if (mts_strategy_find(root, a, found[k], sizeof found[k], NULL, 0) != MTS_OK) found[k][0] = 0;
        }
        for (int j = 0; j < k; j++)
            if (!strcmp(list[j], list[k])) {
                if (strcmp(found[j], found[k]) != 0)
                    return mts_errf(err, errlen, MTS_EINVAL, "two strategies named '%s': %s and %s (a strategy is "
                                    "known by its file's name without .lua: rename one)", list[k],
                                    found[j][0] ? found[j] : list[j], found[k][0] ? found[k] : list[k]);
                return mts_errf(err, errlen, MTS_EINVAL, "strategy '%s' is selected twice", list[k]);
            }
    }
    return MTS_OK;
}

int mts_strategy_enabled(const char *name, char *err, size_t errlen) {
    const char *env = getenv("ENABLED_STRATEGIES");
    if (!env || !*env) return MTS_OK;
    size_t l = strlen(name);
    for (const char *p = env; *p;) {
        while (*p == ' ' || *p == ',') p++;
        const char *e = p;
        while (*e && *e != ',') e++;
        const char *t = e;
        while (t > p && t[-1] == ' ') t--;
        if ((size_t)(t - p) == l && !strncmp(p, name, l)) return MTS_OK;
        p = e;
    }
    return mts_errf(err, errlen, MTS_EINVAL, "strategy '%s' is not enabled: ENABLED_STRATEGIES=%s (add it to "
                    "ENABLED_STRATEGIES, or unset the variable)", name, env);
}
