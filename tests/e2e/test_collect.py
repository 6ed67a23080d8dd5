"""`mts collect` against the stand-in vendor server (tests/e2e/vendor_server.py on a
127.0.0.1 port it picks; never the internet). The server replays the CoinGecko and FRED
wire formats (tests/fixtures/vendors) and misbehaves on cue; the tests check what lands
in SQLite: nothing lost, nothing duplicated, originals never replaced by filled rows."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request

from mtslib import MTS, ROOT, MtsTestCase, ohlcv_rows

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(ROOT, "tests", "fixtures", "vendors")
DAY = 86400


def midnight(y, m, d):
    import calendar
    return calendar.timegm((y, m, d, 0, 0, 0))


class VendorServer:
    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "vendor_server.py"), "--port", "0"],
                                     stdout=subprocess.PIPE, text=True)
        self.port = int(self.proc.stdout.readline())
        self.base = "http://127.0.0.1:%d" % self.port

    def post(self, path, obj):
        req = urllib.request.Request(self.base + path, data=json.dumps(obj).encode(), method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def stats(self):
        with urllib.request.urlopen(self.base + "/_control/stats", timeout=10) as r:
            return json.loads(r.read())

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()


class Collect(MtsTestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = VendorServer()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def setUp(self):
        super().setUp()
        self.srv.post("/_control/reset", {})
        self.env = {"COINGECKO_BASE_URL": self.srv.base + "/api/v3",
                    "FRED_BASE_URL": self.srv.base + "/fred",
                    "FRED_API_KEY": "dummy-key-for-stand-in",
                    "MTS_HTTP_BACKOFF_BASE": "0.01", "MTS_HTTP_BACKOFF_MAX": "0.05",
                    "COINGECKO_RATE_PER_MIN": "0", "FRED_RATE_PER_MIN": "0"}
        for k in ("COINGECKO_API_KEY", "MTS_BREAKER_THRESHOLD", "MTS_BREAKER_TIMEOUT", "MTS_HTTP_ATTEMPTS"):
            os.environ.pop(k, None)

    def collect(self, *args, env=None, expect=0, timeout=60):
        # the fixture's candles are 30 min apart: what CoinGecko sends for days 1..2
        if "--days" not in args:
            args = args + ("--days", "1")
        e = dict(self.env)
        e.update(env or {})
        return self.mts("collect", *args, "--db", self.db, env=e, expect=expect, timeout=timeout)

    def collect_json(self, *args, env=None, expect=0):
        r = self.collect(*args, "--json", env=env, expect=expect)
        return json.loads(r.stdout), r

    def bars(self, asset=None, interval=None):
        """Stored bars (asset, interval, ts, o, h, l, c, v), decoded from the blocks."""
        return ohlcv_rows(self.db, asset, interval)

    def nbars(self):
        return len(self.bars())

    def per_asset(self):
        counts = {}
        for b in self.bars():
            counts[b[0]] = counts.get(b[0], 0) + 1
        return counts

    def q(self, sql, *params):
        con = sqlite3.connect(self.db)
        try:
            return con.execute(sql, params).fetchall()
        finally:
            con.close()

    def script(self, **kw):
        self.srv.post("/_control/script", kw)

    # ---- progress ----
    def test_backfill_progress_on_a_terminal_and_none_when_piped(self):
        from test_progress import run_with_pty_stderr
        env = dict(self.env)
        rc, out, err = run_with_pty_stderr(["collect", "--source", "coingecko", "--asset", "bitcoin",
                                            "--days", "1", "--db", self.db], env=env)
        self.assertEqual(rc, 0, err)
        self.assertIn("collect [", err)
        self.assertIn("100%  1/1 batches", err)
        r = self.collect("--source", "coingecko", "--asset", "bitcoin")
        self.assertNotIn("collect [", r.stderr)

    # ---- CoinGecko ----
    def test_fixture_ohlc_stored_as_sent_volume_zero_logged(self):
        # the sample's times are candle CLOSE times (CoinGecko docs), 30 min apart:
        # stored under 30m at open = close - 1800 s
        with open(os.path.join(FIX, "coingecko", "coins_id_ohlc.json")) as f:
            want = [(int(r[0]) // 1000 - 1800, r[1], r[2], r[3], r[4], 0.0) for r in json.load(f)]
        res, r = self.collect_json("--source", "coingecko", "--asset", "bitcoin", "--days", "1",
                                   env={"COINGECKO_API_KEY": "CG-demo-123"})
        self.assertEqual(res["batches"][0]["rows"], 2)
        self.assertEqual(res["batches"][0]["interval"], "30m")
        self.assertEqual(res["batches"][0]["no_volume"], 2)      # no per-candle volume for 30 min candles
        self.assertEqual(res["batches"][0]["price_usd"], 76975)  # simple_price.json
        self.assertIn("coingecko.no_volume", r.stderr)
        got = [b[2:] for b in self.bars("bitcoin", "30m")]
        self.assertEqual(got, want)
        self.assertEqual(self.srv.stats()["last_headers"].get("x-cg-demo-api-key"), "CG-demo-123")
        # again: idempotent
        self.collect("--source", "coingecko", "--asset", "bitcoin")
        self.assertEqual(self.nbars(), 2)

    def daily_eth(self):
        """Four 30 min ethereum candles (close times, as CoinGecko sends them), the 3rd one bad."""
        t0 = midnight(2024, 1, 1)
        ohlc = [[(t0 + (i + 1) * 1800) * 1000, 100.0 + i, 110.0 + i, 90.0 + i, 105.0 + i] for i in range(4)]
        ohlc[2] = [(t0 + 3 * 1800) * 1000, 100.0, 99.0, 90.0, 95.0]            # high < open: rejected
        self.srv.post("/_control/data", {"ohlc": {"ethereum": ohlc}})
        return t0

    def test_bad_rows_reported_volume_zero_no_chart_call(self):
        t0 = self.daily_eth()
        r = self.collect("--source", "coingecko", "--asset", "ethereum", expect=3)
        self.assertIn("coingecko:ethereum:3:", r.stderr)          # the 3rd candle in the response
        got = sorted(((b[1], b[2], b[6], b[7]) for b in self.bars("ethereum")), key=lambda r: r[1])
        # candles 1, 2 and 4, by open time; no per-candle volume exists for 30 min candles
        self.assertEqual(got, [("30m", t0, 105.0, 0.0), ("30m", t0 + 1800, 106.0, 0.0),
                               ("30m", t0 + 3 * 1800, 108.0, 0.0)])
        self.assertNotIn("/api/v3/coins/ethereum/market_chart/range", self.srv.stats()["requests"])

    # ---- issue 10: candles under their true interval ----
    def daily_bitcoin(self):
        """Three daily bitcoin bars imported as a user would: the series collect must not touch."""
        path = os.path.join(self.tmp, "btc1d.csv")
        with open(path, "w") as f:
            f.write("timestamp,open,high,low,close,volume\n")
            for i, d in enumerate(("2026-05-18", "2026-05-19", "2026-05-20")):
                f.write("%s,%d,%d,%d,%d,%d\n" % (d, 70000 + i, 80000 + i, 60000 + i, 75000 + i, 10 + i))
        self.mts("import", "csv", path, "--asset", "bitcoin")
        self.assertEqual(len(self.bars("bitcoin", "1d")), 3)
        # every column of the series' blocks (the bars' blob, updated_at)
        return self.q("SELECT * FROM ohlcv_blocks WHERE cryptocurrency='bitcoin' AND interval='1d' ORDER BY id")

    def test_days1_30m_candles_by_open_time_daily_series_untouched(self):
        before = self.daily_bitcoin()
        self.assertEqual(len(before), 1)                     # three days: one block
        r = self.collect("--source", "coingecko", "--asset", "bitcoin", "--days", "1")
        # the daily series, every column of its block, as before
        self.assertEqual(self.q("SELECT * FROM ohlcv_blocks WHERE cryptocurrency='bitcoin' AND interval='1d' "
                                "ORDER BY id"), before)
        self.assertIn("bitcoin: 2 30m bars stored", r.stdout)
        # 2026-05-19 14:00 and 14:30 UTC are the close times: opens 13:30 and 14:00
        self.assertEqual(sorted((b[2],) for b in self.bars() if b[1] == "30m"),
                         [(midnight(2026, 5, 19) + 13 * 3600 + 1800,), (midnight(2026, 5, 19) + 14 * 3600,)])
        self.assertEqual(self.nbars(), 5)

    def test_candles_that_disagree_with_days_are_refused(self):
        res, r = self.collect_json("--source", "coingecko", "--asset", "bitcoin", "--days", "30", expect=1)
        self.assertIn("days=30 should give 4h candles", res["batches"][0]["error"])
        self.assertEqual(self.nbars(), 0)

    def test_4h_candles_forming_one_skipped_no_volume_call(self):
        now = int(time.time())
        last_close = now - now % (4 * 3600)                  # the last 4 h boundary passed
        closes = [last_close - k * 4 * 3600 for k in (3, 2, 1, 0)] + [last_close + 4 * 3600]   # last: forming
        ohlc = [[c * 1000, 10.0, 12.0, 9.0, 11.0] for c in closes]
        self.srv.post("/_control/data", {"ohlc": {"ethereum": ohlc}})
        res, _ = self.collect_json("--source", "coingecko", "--asset", "ethereum", "--days", "7")
        b = res["batches"][0]
        self.assertEqual((b["interval"], b["rows"], b["forming"]), ("4h", 4, 1))
        self.assertEqual(sorted(((b[1], b[2]) for b in self.bars()), key=lambda r: r[1]),
                         [("4h", c - 4 * 3600) for c in closes[:4]])
        self.assertNotIn("/api/v3/coins/ethereum/market_chart/range", self.srv.stats()["requests"])

    def test_4_day_candles_refused(self):
        r = self.collect("--source", "coingecko", "--asset", "bitcoin", "--interval", "4h", expect=2)
        self.assertIn("not a bar interval", r.stderr)
        r = self.collect("--source", "coingecko", "--asset", "bitcoin", "--days", "90", expect=2)
        self.assertIn("4-day candles", r.stderr)
        self.assertIn("--days 30 or less", r.stderr)
        self.assertEqual(self.srv.stats()["total"], 0)
        # a vendor answering 4-day candles anyway: the batch fails, nothing stored
        t0 = midnight(2026, 1, 1)
        self.srv.post("/_control/data", {"ohlc": {"ethereum": [[(t0 + k * 4 * DAY) * 1000, 10.0, 12.0, 9.0, 11.0]
                                                               for k in range(5)]}})
        res, r = self.collect_json("--source", "coingecko", "--asset", "ethereum", "--days", "30", expect=1)
        self.assertIn("days=30 should give 4h candles", res["batches"][0]["error"])
        self.assertIn("not stored", res["batches"][0]["error"])
        self.assertEqual(self.nbars(), 0)

    def test_5xx_then_ok_is_retried_and_counted(self):
        self.script(steps=["500", "503"], match="/ohlc")
        res, _ = self.collect_json("--source", "coingecko", "--asset", "bitcoin")
        self.assertEqual(res["http"]["coingecko"]["retries"], 2)
        self.assertEqual(res["http"]["coingecko"]["status_5xx"], 2)
        self.assertEqual(self.srv.stats()["requests"]["/api/v3/coins/bitcoin/ohlc"], 3)
        self.assertEqual(self.nbars(), 2)

    def test_429_honours_retry_after(self):
        self.script(steps=[{"do": "429", "retry_after": "1"}], match="/ohlc")
        t = time.monotonic()
        res, _ = self.collect_json("--source", "coingecko", "--asset", "bitcoin")
        self.assertGreaterEqual(time.monotonic() - t, 1.0)
        self.assertEqual(res["http"]["coingecko"]["status_429"], 1)
        self.assertEqual(res["http"]["coingecko"]["breaker_opens"], 0)
        self.assertEqual(self.nbars(), 2)

    def test_persistent_429_is_a_rate_limit_error(self):
        self.script(default={"do": "429", "retry_after": "0"})
        res, r = self.collect_json("--source", "coingecko", "--asset", "bitcoin", expect=1)
        self.assertEqual(res["batches"][0]["error_type"], "rate limited")
        self.assertIn('"type":"rate_limit"', r.stderr)
        self.assertEqual(self.nbars(), 0)

    def test_dropped_and_truncated_answers_retried_nothing_duplicated(self):
        self.script(steps=["drop", "truncate"], match="/ohlc")
        res, _ = self.collect_json("--source", "coingecko", "--asset", "bitcoin")
        # the server saw 3 tries. libcurl itself silently re-sends once on a fresh connection
        # when a *reused* keep-alive connection dies without a byte (the drop), so the client
        # may count that one as no error; the truncated body is always its own retry.
        self.assertEqual(self.srv.stats()["requests"]["/api/v3/coins/bitcoin/ohlc"], 3)
        self.assertIn(res["http"]["coingecko"]["transport_errors"], (1, 2))
        self.assertEqual((self.nbars(), len({b[2] for b in self.bars()})), (2, 2))

    def test_slow_answer_times_out_and_is_retried(self):
        self.script(steps=[{"do": "slow", "seconds": 2}], match="/ohlc")
        res, _ = self.collect_json("--source", "coingecko", "--asset", "bitcoin", env={"MTS_HTTP_TIMEOUT": "0.5"})
        self.assertEqual(res["http"]["coingecko"]["transport_errors"], 1)
        self.assertEqual(self.nbars(), 2)

    def test_garbage_json_stores_nothing_then_recovers(self):
        self.script(steps=["garbage"], match="/ohlc")
        res, r = self.collect_json("--source", "coingecko", "--asset", "bitcoin", expect=1)
        self.assertEqual(res["batches"][0]["status"], "error")
        self.assertIn("not a JSON array", res["batches"][0]["error"])
        self.assertEqual(self.nbars(), 0)
        self.collect("--source", "coingecko", "--asset", "bitcoin")
        self.assertEqual((self.nbars(), len({b[2] for b in self.bars()})), (2, 2))

    def test_breaker_opens_and_refuses_other_requests(self):
        self.script(default="500")
        res, r = self.collect_json("--source", "coingecko", "--asset", "bitcoin,ethereum", expect=1,
                                   env={"MTS_BREAKER_THRESHOLD": "2", "MTS_HTTP_ATTEMPTS": "3"})
        h = res["http"]["coingecko"]
        self.assertEqual(h["breaker_opens"], 1)
        # simple/price: 2 failures open it; its 3rd try and both assets are refused
        self.assertEqual(self.srv.stats()["total"], 2)
        self.assertEqual(h["breaker_rejects"], 3)
        self.assertIn('"event":"http.breaker","vendor":"coingecko"', r.stderr)
        self.assertEqual(self.nbars(), 0)

    def test_breaker_half_opens_and_closes_in_schedule(self):
        self.daily_eth()
        # cycle 1: price, then bitcoin's ohlc fail -> open (threshold 2, one attempt each);
        # ethereum refused. cycle 2 (after 1 s > 0.3 s timeout): the probe succeeds -> closed.
        self.script(steps=["500", "500"])
        res, r = self.collect_json("--source", "coingecko", "--asset", "bitcoin,ethereum", "--schedule",
                                   "--interval", "1", "--iterations", "2", expect=None,
                                   env={"MTS_BREAKER_THRESHOLD": "2", "MTS_BREAKER_TIMEOUT": "0.3",
                                        "MTS_HTTP_ATTEMPTS": "1"})
        h = res["http"]["coingecko"]
        self.assertEqual((h["breaker_opens"], h["breaker_closes"]), (1, 1), r.stderr)
        self.assertEqual([b["status"] for b in res["batches"]], ["ok", "ok"])
        self.assertEqual(sorted(self.per_asset().items()), [("bitcoin", 2), ("ethereum", 3)])

    # ---- FRED ----
    def fred(self, series, obs):
        self.srv.post("/_control/data", {"fred": {series: [{"date": d, "value": v} for d, v in obs]}})

    def macro(self, series):
        return self.q("SELECT date, value, is_interpolated, is_forward_filled FROM macro_indicators "
                      "WHERE indicator=? ORDER BY date", series)

    # Fri 2024-01-05 .. Wed 2024-01-10; Tue is ".", the weekend has no rows
    WEEK = [("2024-01-05", "13.35"), ("2024-01-08", "13.08"), ("2024-01-09", "."), ("2024-01-10", "12.69")]

    def test_fred_forward_fill_weekends_and_missing(self):
        self.fred("DGS2", self.WEEK)
        res, _ = self.collect_json("--source", "fred", "--series", "DGS2", "--from", "2024-01-01")
        b = res["batches"][0]
        self.assertEqual((b["rows"], b["missing"], b["filled"]), (3, 1, 3))
        self.assertEqual(self.macro("DGS2"), [
            ("2024-01-05", 13.35, 0, 0), ("2024-01-06", 13.35, 0, 1), ("2024-01-07", 13.35, 0, 1),
            ("2024-01-08", 13.08, 0, 0), ("2024-01-09", 13.08, 0, 1), ("2024-01-10", 12.69, 0, 0)])

    def test_fred_interpolate(self):
        self.fred("DGS10", self.WEEK)
        self.collect("--source", "fred", "--series", "DGS10", "--from", "2024-01-01", "--fill", "interpolate")
        rows = self.macro("DGS10")
        # Fri 13.35 -> Mon 13.08 over 3 days: -0.09 a day; Mon 13.08 -> Wed 12.69: -0.195
        want = [("2024-01-05", 13.35, 0, 0), ("2024-01-06", 13.26, 1, 0), ("2024-01-07", 13.17, 1, 0),
                ("2024-01-08", 13.08, 0, 0), ("2024-01-09", 12.885, 1, 0), ("2024-01-10", 12.69, 0, 0)]
        self.assertEqual([r[0] for r in rows], [w[0] for w in want])
        for got, w in zip(rows, want):
            self.assertAlmostEqual(got[1], w[1], places=9)
            self.assertEqual(got[2:], w[2:])

    def test_fred_original_never_overwritten_by_fill_across_collects(self):
        self.fred("DGS2", self.WEEK)
        self.collect("--source", "fred", "--series", "DGS2", "--from", "2024-01-01")
        # the vendor now reports Monday as missing: the fill would put Friday's 13.35 there
        self.fred("DGS2", [("2024-01-05", "13.35"), ("2024-01-08", "."), ("2024-01-09", "13.00"),
                           ("2024-01-10", "12.69")])
        self.collect("--source", "fred", "--series", "DGS2", "--from", "2024-01-01")
        rows = dict((r[0], r[1:]) for r in self.macro("DGS2"))
        self.assertEqual(rows["2024-01-08"], (13.08, 0, 0))        # the original stays
        self.assertEqual(rows["2024-01-09"], (13.00, 0, 0))        # a new original replaces a fill
        self.assertEqual(len(rows), 6)

    # ---- issue 10: FRED series under the names strategies read ----
    # the bundled CBOE file (data/macro/VIX_History_cboe.csv) ends Fri 2026-03-27 (close 31.05;
    # Thu 2026-03-26 closed 27.44): FRED's VIXCLS for the days around it
    VIXCLS = [("2026-03-26", "27.50"),     # differs from the CBOE close: the stored one stays, logged
              ("2026-03-27", "31.05"),     # the same close
              ("2026-03-30", "29.10")]     # Mon, after the file's end: new

    def test_fred_vixcls_is_stored_as_vix_the_strategies_see(self):
        self.fred("VIXCLS", self.VIXCLS)
        r = self.collect("--source", "fred", "--series", "VIXCLS", "--from", "2026-03-20", "--json")
        # a backtest reads it: bars of a test asset over those days, a strategy printing the
        # VIX value as of each bar
        path = os.path.join(self.tmp, "coin.csv")
        with open(path, "w") as f:
            f.write("timestamp,open,high,low,close,volume\n")
            for k in range(14):
                f.write("%d,100,110,90,105,1\n" % (midnight(2026, 3, 22) + k * DAY))
        self.mts("import", "csv", path, "--asset", "testcoin")
        root = self.make_root()
        with open(os.path.join(root, "scripts", "strategies", "vixasof.lua"), "w") as f:
            f.write(VIX_ASOF)
        bt = self.mts("backtest", "--strategy", "vixasof", "--asset", "testcoin", "--from", "2026-03-22",
                      env={"MTS_ROOT": root})
        seen = dict(line.split()[2:4] for line in bt.stderr.splitlines() if line.startswith("vixasof: VIX "))
        self.assertEqual(seen.get(str(midnight(2026, 3, 27))), "31.05", bt.stderr[-2000:])
        self.assertEqual(seen.get(str(midnight(2026, 3, 30))), "29.1", bt.stderr[-2000:])
        self.assertEqual(seen.get(str(midnight(2026, 4, 2))), "29.1", bt.stderr[-2000:])
        # what was stored, and the rule for a day both sources have
        self.assertEqual(self.macro("VIXCLS"), [])
        with open(os.path.join(ROOT, "data", "macro", "VIX_History_cboe.csv")) as f:
            n_cboe = sum(1 for line in f if line.strip()) - 1
        rows = self.macro("VIX")
        self.assertEqual(len(rows), n_cboe + 3)     # the whole CBOE history, then Sat, Sun (filled), Mon
        self.assertEqual(rows[-5:], [("2026-03-26", 27.44, 0, 0), ("2026-03-27", 31.05, 0, 0),
                                     ("2026-03-28", 31.05, 0, 1), ("2026-03-29", 31.05, 0, 1),
                                     ("2026-03-30", 29.10, 0, 0)])
        b = json.loads(r.stdout)["batches"][0]
        self.assertEqual((b["stored_as"], b["kept_differing"]), ("VIX", 1))
        self.assertIn("fred:VIXCLS:2026-03-26: kept stored 27.44", r.stderr)
        self.assertIn('"event":"collect.macro_conflict"', r.stderr)
        # collected again: nothing changes, the difference is reported again
        self.collect("--source", "fred", "--series", "VIXCLS", "--from", "2026-03-20")
        self.assertEqual(self.macro("VIX"), rows)

    def test_fred_unaliased_series_keeps_its_id_and_aliases_come_from_config(self):
        self.fred("DGS10", [("2024-01-05", "4.05")])
        res, _ = self.collect_json("--source", "fred", "--series", "DGS10", "--from", "2024-01-01")
        self.assertEqual(res["batches"][0]["stored_as"], "DGS10")
        self.assertEqual(self.macro("DGS10"), [("2024-01-05", 4.05, 0, 0)])
        root = self.make_root()
        cfg_path = os.path.join(root, "config", "mts.json")
        with open(cfg_path) as f:
            cfg = json.load(f)
        cfg["macro_aliases"] = {"DGS10": "US10Y"}
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        res, _ = self.collect_json("--source", "fred", "--series", "DGS10", "--from", "2024-01-01",
                                   env={"MTS_ROOT": root})
        self.assertEqual(res["batches"][0]["stored_as"], "US10Y")
        self.assertEqual(self.macro("US10Y"), [("2024-01-05", 4.05, 0, 0)])
        # an alias that is no indicator name: the batch fails naming the key, nothing stored
        cfg["macro_aliases"] = {"DGS10": 'bad"name'}
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        res, _ = self.collect_json("--source", "fred", "--series", "DGS10", "--from", "2024-01-01",
                                   env={"MTS_ROOT": root}, expect=1)
        self.assertIn("macro_aliases.DGS10", res["batches"][0]["error"])
        self.assertEqual(self.q("SELECT count(*) FROM macro_indicators"), [(2,)])

    def test_fred_fixture_gnpca_and_bad_values(self):
        with open(os.path.join(FIX, "fred_api", "series_observations_GNPCA.json")) as f:
            obs = json.load(f)["observations"]
        want = [(o["date"], float(o["value"])) for o in obs if o["date"] >= "2010-01-01"]
        res, _ = self.collect_json("--source", "fred", "--series", "GNPCA", "--from", "2010-01-01",
                                   "--fill", "none")
        self.assertEqual(res["batches"][0]["rows"], len(want))
        self.assertEqual([(d, v) for d, v, _, _ in self.macro("GNPCA")], want)
        self.fred("BAD", [("2024-01-01", "1.5"), ("2024-01-02", "abc"), ("2024-13-01", "2")])
        r = self.collect("--source", "fred", "--series", "BAD", "--from", "2024-01-01", expect=3)
        self.assertIn("fred:BAD:2: value 'abc' is not a number", r.stderr)
        self.assertIn("fred:BAD:3: bad date", r.stderr)

    # ---- redirects: no credential ever leaves for another host ----
    def other_server(self):
        srv2 = VendorServer()
        self.addCleanup(srv2.stop)
        return srv2

    def assert_never_saw(self, srv2, secret):
        seen = srv2.stats()["seen"]
        for req in seen:
            self.assertNotIn(secret, req["target"], "the key reached another host in the URL")
            for k, v in req["headers"].items():
                self.assertNotIn(secret, v, "the key reached another host in header %s" % k)
        return seen

    def test_coingecko_redirect_to_another_host_is_refused_without_the_key(self):
        srv2 = self.other_server()
        self.script(steps=[{"do": "redirect", "to": srv2.base}], match="/ohlc")
        r = self.collect("--source", "coingecko", "--asset", "bitcoin", "--json",
                         env={"COINGECKO_API_KEY": "CG-secret-4711"}, expect=None)
        self.assert_never_saw(srv2, "CG-secret-4711")
        self.assertEqual(srv2.stats()["total"], 0, "a redirect to another host is not followed")
        self.assertEqual(r.returncode, 1, r.stderr)
        res = json.loads(r.stdout)
        self.assertIn("redirect", r.stderr)
        self.assertIn("127.0.0.1:%d" % srv2.port, r.stderr)       # names where it was sent
        self.assertIn("another host", res["batches"][0]["error"])
        self.assertEqual(self.nbars(), 0)

    def test_fred_redirect_to_another_host_never_carries_api_key(self):
        srv2 = self.other_server()
        self.script(steps=[{"do": "redirect", "to": srv2.base, "status": 301}], match="/fred/")
        r = self.collect("--source", "fred", "--series", "GNPCA", "--from", "1929-01-01",
                         env={"FRED_API_KEY": "fred-secret-0815"}, expect=None)
        self.assert_never_saw(srv2, "fred-secret-0815")
        self.assertEqual(srv2.stats()["total"], 0)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("redirect", r.stderr)
        self.assertNotIn("fred-secret-0815", r.stderr, "the key is never logged")

    def test_redirect_to_another_host_name_on_the_same_port_is_refused(self):
        # same server, same port, but another host name: still another origin
        other = "http://localhost:%d" % self.srv.port
        self.script(steps=[{"do": "redirect", "to": other}], match="/ohlc")
        res, r = self.collect_json("--source", "coingecko", "--asset", "bitcoin",
                                   env={"COINGECKO_API_KEY": "CG-secret-4712"}, expect=1)
        seen = [x for x in self.srv.stats()["seen"] if x["target"].startswith("/api/v3/coins/bitcoin/ohlc")]
        self.assertEqual(len(seen), 1, "the redirect was not followed")
        self.assertIn("localhost:%d" % self.srv.port, r.stderr)

    def test_redirect_to_the_same_host_is_followed_with_the_key(self):
        self.script(steps=[{"do": "redirect", "to": self.srv.base, "status": 307}], match="/ohlc")
        res, _ = self.collect_json("--source", "coingecko", "--asset", "bitcoin",
                                   env={"COINGECKO_API_KEY": "CG-demo-123"})
        self.assertEqual(res["batches"][0]["rows"], 2)
        log = [p for p, _ in self.srv.stats()["log"] if p.endswith("/ohlc")]
        self.assertEqual(len(log), 2, "the redirect and the followed request")
        self.assertEqual(self.srv.stats()["seen"][-1]["headers"].get("x-cg-demo-api-key"), "CG-demo-123")

    def test_fred_needs_a_key(self):
        r = self.collect("--source", "fred", "--series", "VIXCLS", env={"FRED_API_KEY": ""}, expect=2)
        self.assertIn("FRED_API_KEY is not set (get one at https://fred.stlouisfed.org/docs/api/api_key.html)",
                      r.stderr)

    def test_fred_unknown_series_shows_vendor_message(self):
        r = self.collect("--source", "fred", "--series", "NOPE", expect=1)
        self.assertIn("The series does not exist", r.stderr)

    # ---- schedule ----
    def test_schedule_sigint_finishes_batch_and_exits_zero(self):
        self.daily_eth()
        self.script(default={"do": "slow", "seconds": 0.4})
        e = dict(os.environ)
        e.update(self.env)
        p = subprocess.Popen([MTS, "collect", "--source", "coingecko", "--asset", "bitcoin,ethereum", "--days", "1",
                              "--schedule", "--interval", "0.2", "--json", "--db", self.db],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e, cwd=ROOT)
        time.sleep(1.0)   # inside the first cycle: price 0.4 s, bitcoin ohlc 0.4 s ...
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=20)
        self.assertEqual(p.returncode, 0, err)
        res = json.loads(out)
        self.assertTrue(res["interrupted"])
        # every batch that started finished; an asset has all its bars or none
        counts = self.per_asset()
        self.assertIn(counts.get("bitcoin", 0), (0, 2))
        self.assertIn(counts.get("ethereum", 0), (0, 3))
        self.assertGreater(sum(counts.values()), 0)
        self.assertIn('"event":"collect.stopped"', err)   # structured logs when not a terminal

    def test_help_and_usage_errors(self):
        r = self.mts("collect", "--help")
        self.assertIn("--schedule", r.stdout)
        self.assertIn("examples:", r.stdout)
        r = self.mts("collect", "--source", "coingeko", expect=2)
        self.assertIn("did you mean 'coingecko'", r.stderr)


# prints, for every bar, the time and the VIX value as of it (the last one at or before the bar)
VIX_ASOF = """local M = {}
function M.get_parameters() return {} end
function M.on_bar(ctx, asset, i)
    local v = ctx.macro("VIX")
    local k = v.n - 1
    while k >= 0 and v.ts[k] > ctx.time do k = k - 1 end
    if k >= 0 then print("VIX " .. tostring(ctx.time) .. " " .. tostring(v.v[k])) end
end
return M
"""
