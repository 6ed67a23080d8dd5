"""End-to-end: `make install PREFIX=...` and the installed binary run from
another directory: it must find its scripts, configs and bundled data under
PREFIX/share/mts and pick a database it can write."""
import json
import os
import subprocess

from mtslib import MTS, ROOT, MtsTestCase


def clean_env(**extra):
    e = {k: v for k, v in os.environ.items()
         if k not in ("DATABASE_PATH", "MTS_ROOT", "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
    e.update(extra)
    return e


class InstallTest(MtsTestCase):

    def make_install(self, *args):
        # Install the binary under test (bin/mts, or the ASan one); -o: never rebuild it here.
        bindir = os.path.dirname(MTS)
        r = subprocess.run(["make", "-s", "install", "BINDIR=" + bindir, "-o", os.path.join(bindir, "mts")]
                           + list(args), cwd=ROOT, capture_output=True, text=True, timeout=300, env=clean_env())
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r

    def test_install_and_backtest_from_elsewhere(self):
        prefix = os.path.join(self.tmp, "prefix")
        self.make_install("PREFIX=" + prefix)
        share = os.path.join(prefix, "share", "mts")
        for rel in ("scripts/lib/mts.lua", "scripts/lib/mts_ffi.h", "scripts/strategies/sma_cross.lua",
                    "config/mts.json", "data/crypto/BTCUSDT_1d_binance_spot.csv",
                    "data/macro/VIX_History_cboe.csv"):
            self.assertTrue(os.path.isfile(os.path.join(share, rel)), rel)
        self.assertTrue(os.access(os.path.join(prefix, "bin", "mts"), os.X_OK))
        self.assertFalse([f for f in os.listdir(os.path.join(share, "data")) if ".db" in f],
                         "no database is installed")

        work = os.path.join(self.tmp, "elsewhere")
        os.makedirs(work)
        mts = os.path.join(prefix, "bin", "mts")
        r = subprocess.run([mts, "backtest", "--strategy", "sma_cross", "--asset", "bitcoin", "--from",
                            "2020-01-01", "--to", "2020-12-31", "--json", "--report", "r.html"],
                           cwd=work, capture_output=True, text=True, timeout=300,
                           env=clean_env(HOME=os.path.join(self.tmp, "home")))
        self.assertEqual(r.returncode, 0, r.stderr)
        res = json.loads(r.stdout)
        self.assertEqual(res["strategy"], "sma_cross")
        self.assertEqual(res["bars"], 366)   # 2020 is a leap year: 366 daily bars
        self.assertTrue(os.path.isfile(os.path.join(work, "r.html")))
        # the default database: under the install when it is writable, else in the user's data dir
        if os.access(os.path.join(share, "data"), os.W_OK):
            self.assertTrue(os.path.isfile(os.path.join(share, "data", "mts.db")))
        else:
            self.assertTrue(os.path.isfile(os.path.join(self.tmp, "home", ".local/share/mts/mts.db")))
        # nothing was written where it ran, other than what it was asked for
        self.assertEqual(sorted(os.listdir(work)), ["r.html"])

        # the installed binary lists and reopens the stored run
        r = subprocess.run([mts, "report", str(res["id"]), "--json"], cwd=work, capture_output=True,
                           text=True, timeout=60, env=clean_env(HOME=os.path.join(self.tmp, "home")))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["final_value"], res["final_value"])

    def test_read_only_install_uses_the_users_data_dir(self):
        if os.getuid() == 0:
            self.skipTest("running as root: every directory is writable, the fallback cannot be seen")
        prefix = os.path.join(self.tmp, "prefix")
        self.make_install("PREFIX=" + prefix)
        data = os.path.join(prefix, "share", "mts", "data")
        os.chmod(data, 0o555)
        try:
            xdg = os.path.join(self.tmp, "xdg")
            r = subprocess.run([os.path.join(prefix, "bin", "mts"), "backtest", "--strategy", "sma_cross",
                                "--asset", "bitcoin", "--quiet"], cwd=self.tmp, capture_output=True,
                               text=True, timeout=300, env=clean_env(XDG_DATA_HOME=xdg))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertTrue(os.path.isfile(os.path.join(xdg, "mts", "mts.db")))
        finally:
            os.chmod(data, 0o755)

    def test_destdir_staging(self):
        stage = os.path.join(self.tmp, "stage")
        self.make_install("DESTDIR=" + stage, "PREFIX=/usr")
        self.assertTrue(os.path.isfile(os.path.join(stage, "usr/bin/mts")))
        self.assertTrue(os.path.isfile(os.path.join(stage, "usr/share/mts/scripts/lib/mts_ffi.h")))
