"""The shared bar cache (docs/store.md "Bar cache") seen from bin/mts: a
backtest reads the same bars from a cache file it builds, from a cache hit,
and with the cache off (identical results, equity curves bit for bit); a bar
changed behind mts's back (put_bars, which gives the series a new version as
every writer must) is seen by the next backtest; an unusable cache directory
only turns the cache off."""
import hashlib
import json
import os
import stat

import mtslib


def result(r):
    out = json.loads(r.stdout)
    out.pop("id", None)
    return out


class TestBarCache(mtslib.MtsTestCase):
    ARGS = ("--strategy", "sma_cross", "--asset", "bitcoin", "--from", "2019-01-01", "--to", "2024-12-31")

    def bt(self, cache, expect=0):
        r = self.mts("backtest", *self.ARGS, "--json", "--equity", os.path.join(self.tmp, "eq.csv"),
                     env={"MTS_CACHE_DIR": cache}, expect=expect)
        with open(os.path.join(self.tmp, "eq.csv")) as f:
            return result(r), hashlib.sha256(f.read().encode()).hexdigest()   # short messages

    def cache_files(self, d):
        return sorted(n for n in os.listdir(d) if n.endswith(".bars")) if os.path.isdir(d) else []

    def test_built_hit_off_same_result(self):
        cache = os.path.join(self.tmp, "cache")
        self.mts("import", "csv", mtslib.BUNDLED["bitcoin"], "--asset", "bitcoin")
        built = self.bt(cache)
        files = self.cache_files(cache)
        self.assertEqual(len(files), 1, "the first backtest builds one cache file")
        self.assertEqual(stat.S_IMODE(os.stat(cache).st_mode), 0o700)
        ino = os.stat(os.path.join(cache, files[0])).st_ino
        hit = self.bt(cache)
        self.assertEqual(os.stat(os.path.join(cache, files[0])).st_ino, ino, "a hit does not rebuild")
        off = self.bt("off")
        self.assertEqual(built, hit)
        self.assertEqual(built, off)
        # the bars the run saw: the file's (independently read) count in the range
        bars = mtslib.read_bars(mtslib.BUNDLED["bitcoin"], mtslib.day("2019-01-01"), mtslib.day("2024-12-31"))
        self.assertEqual(built[0]["bars"], len(bars))

        # a close changed behind mts's back: the next run sees it (not the stale file)
        t, o, h, l, c, v = bars[len(bars) // 2]
        mtslib.put_bars(self.db, "bitcoin", "1d", [(t, o, h * 3, l, c * 3, v)])
        changed = self.bt(cache)
        self.assertNotEqual(changed[1], built[1], "the equity curve follows the changed bar")
        self.assertEqual(changed, self.bt("off"))
        self.assertEqual(len(self.cache_files(cache)), 1)
        self.assertNotEqual(os.stat(os.path.join(cache, files[0])).st_ino, ino, "rebuilt for the new version")

        # bars deleted behind mts's back: seen too
        mtslib.delete_bars(self.db, "bitcoin", "1d", lambda ts: ts < mtslib.day("2022-01-01"))
        cut = self.bt(cache)
        self.assertEqual(cut[0]["bars"], sum(1 for b in bars if b[0] < mtslib.day("2022-01-01")))
        self.assertEqual(cut, self.bt("off"))

    def test_unusable_dir_same_result(self):
        self.mts("import", "csv", mtslib.BUNDLED["bitcoin"], "--asset", "bitcoin")
        good = self.bt(os.path.join(self.tmp, "cache"))
        notdir = os.path.join(self.tmp, "plainfile")
        with open(notdir, "w") as f:
            f.write("x")
        shared = os.path.join(self.tmp, "shared")
        os.mkdir(shared)
        os.chmod(shared, 0o777)
        for d in (notdir, shared, os.path.join(self.tmp, "no", "such", "dir")):
            self.assertEqual(self.bt(d), good, d)
        self.assertEqual(self.cache_files(shared), [])


if __name__ == "__main__":
    import unittest
    unittest.main()
