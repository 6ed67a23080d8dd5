"""mts replay (runtime/replay, docs/live.md "Replay"): a paper session recorded
against the stand-in exchange (exchange_server.KlineServer), with hot reloads in
the middle, replays to the same fills, equity and signals; other parameters over
the same inputs differ and print the side-by-side table; a broken aggregator edit
is refused in the session and again in the replay."""
import json
import os
import sqlite3
import struct
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import exchange_server as xs  # noqa: E402
from mtslib import MtsTestCase, MTS  # noqa: E402

FIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "live")


def bars_600():
    """600 hourly bars: the 400 real BTCUSDT hours of the fixture, then its first
    200 again, scaled to go on from the last close and shifted in time."""
    b = xs.read_kline_csv(os.path.join(FIX, "BTCUSDT_1h_2021-01.csv"))
    last_t, last_c = b[-1][0], float(b[-1][4])
    k = last_c / float(b[0][1])
    out = [tuple(x) for x in b]
    for j, x in enumerate(b[:200]):
        out.append((last_t + (j + 1) * 3600000,) + tuple(repr(float(v) * k) for v in x[1:5]) + (x[5],))
    return out


BARS = bars_600()

# LONG while the newest known funding rate of ETHX is positive and ETHX's last
# closed 4h bar went up; CLOSE while the rate is negative (both series stored,
# loaded through the provider)
PROV_FUNDING = """local M = {}
function M.get_parameters() return {} end
function M.on_bar(ctx, asset, i)
    local f = ctx:funding("ETHX")
    local e = ctx:bars("ethx", "4h")
    local n, m = #f.rate, #e.close
    if n == 0 or m == 0 then return nil end
    if f.rate[n - 1] > 0 and e.close[m - 1] > e.open[m - 1] then
        return { asset = asset, signal_type = "LONG", confidence = 1 }
    elseif f.rate[n - 1] < 0 then
        return { asset = asset, signal_type = "CLOSE", confidence = 1 }
    end
    return nil
end
return M
"""

# the same with the funding's exchange named: a series the session never loaded
PROV_OTHER = PROV_FUNDING.replace('ctx:funding("ETHX")', 'ctx:funding("ETHX", "binance")')
ENV = {"MTS_WS_BACKOFF_MS": "100", "MTS_LOG_LEVEL": "info", "MTS_MACRO_REFRESH_S": "0"}


class ReplayTest(MtsTestCase):

    def start(self, root, bars, *extra, symbols="BTCUSDT", pace=0.02, warm=0, **kw):
        srv = xs.KlineServer("binance", bars, interval="1h", warm=warm, pace=pace, **kw).start()
        self.addCleanup(srv.stop)
        n = len(next(iter(bars.values()))) - warm
        env = dict(os.environ, **ENV, MTS_ROOT=root)
        args = [MTS, "run", "--strategy", "sma_cross", "--exchange", "binance", "--symbol", symbols,
                "--interval", "1h", "--db", self.db, "--ws-url", srv.ws_url(), "--rest-url", srv.rest_url(),
                "--warmup", str(warm), "--max-bars", str(n * len(bars)), "--json"] + list(extra)
        p = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        return p

    def edit(self, path, fn):
        with open(path) as f:
            src = f.read()
        with open(path, "w") as f:
            f.write(fn(src))

    def q(self, sql, *args):
        con = sqlite3.connect(self.db)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()

    def replay(self, sid, *extra, expect=0, root=None):
        env = dict(os.environ, MTS_ROOT=root) if root else None
        r = subprocess.run([MTS, "replay", str(sid), "--db", self.db] + list(extra), env=env, capture_output=True,
                           text=True, timeout=300)
        self.assertEqual(r.returncode, expect, r.stdout + r.stderr[-3000:])
        return r

    def session(self, root, bars, edits, **kw):
        """Runs a session, applying edits [(after_seconds, path, fn)] while it runs."""
        p = self.start(root, bars, **kw)
        t0 = time.time()
        for at, path, fn in edits:
            time.sleep(max(0, at - (time.time() - t0)))
            self.edit(path, fn)
        out, err = p.communicate(timeout=240)
        self.assertEqual(p.returncode, 0, out[-2000:] + err[-4000:])
        s = json.loads(out.splitlines()[-1])
        return s, err

    def test_reload_and_param_change_replay_identical(self):
        root = self.make_root()
        strat = os.path.join(root, "scripts/strategies/sma_cross.lua")
        conf = os.path.join(root, "config/strategies/sma_cross.json")
        s, err = self.session(root, {"BTCUSDT": BARS}, [
            (4, strat, lambda src: src + "\n-- edited while running\n"),
            (7, conf, lambda src: src.replace('"fast": 10', '"fast": 7'))])
        sid = s["session"]
        self.assertIn('"event":"strategy.reloaded"', err)
        self.assertIn('"event":"strategy.params_changed"', err)
        self.assertEqual(s["live_bars"], 600)
        n_bar = self.q("SELECT COUNT(*) FROM session_events WHERE session_id=? AND kind='bar'", sid)[0][0]
        self.assertEqual(n_bar, 600)
        reloads = self.q("SELECT COUNT(*) FROM session_events WHERE session_id=? AND kind='wait' AND t=2", sid)[0][0]
        self.assertGreaterEqual(reloads, 2)
        self.assertGreater(s["fills"], 0)
        # the files as they are now are NOT what the replay uses: change them again
        self.edit(conf, lambda src: src.replace('"fast": 7', '"fast": 3'))
        r = self.replay(sid, "--json", root=root)
        res = json.loads(r.stdout)
        self.assertTrue(res["identical"], res)
        self.assertEqual(res["replayed"]["trades"], s["fills"])
        self.assertEqual(res["recorded"]["final_equity"], res["replayed"]["final_equity"])
        self.assertEqual(res["reloads"], reloads)
        # recorded fills equal the replay's independently of its own comparison: count and final equity
        self.assertEqual(self.q("SELECT COUNT(*) FROM paper_fills WHERE session_id=?", sid)[0][0], res["replayed"]["trades"])
        self.assertAlmostEqual(res["replayed"]["final_equity"], s["final_equity"], places=9)
        human = self.replay(sid, root=root).stdout
        self.assertIn("identical", human)
        # other parameters over the same inputs: they differ, and the table says by how much
        r = self.replay(sid, "--param", "fast=5", "--report", os.path.join(self.tmp, "r.html"), root=root)
        self.assertIn("differs from the record", r.stdout)
        self.assertIn("trades (fills)", r.stdout)
        self.assertIn("PnL", r.stdout)
        with open(os.path.join(self.tmp, "r.html")) as f:
            self.assertIn("<svg", f.read())
        rj = json.loads(self.replay(sid, "--param", "fast=5", "--json", root=root).stdout)
        self.assertFalse(rj["identical"])
        self.assertNotEqual(rj["replayed"]["final_equity"], rj["recorded"]["final_equity"])
        # another strategy over the same inputs (its files as they are now)
        r = self.replay(sid, "--strategy", "mean_reversion", "--json", root=root)
        rm = json.loads(r.stdout)
        self.assertEqual(rm["strategies"], "mean_reversion")
        self.assertFalse(rm["same_code"])
        self.assertEqual(rm["recorded"]["trades"], s["fills"])
        self.assertEqual(rm["replayed"]["equity_points"], 600)
        # a stored result that is not what the inputs give: the first divergence, exit 1
        ts = self.q("SELECT ts FROM paper_fills WHERE session_id=? ORDER BY id LIMIT 1 OFFSET 1", sid)[0][0]
        con = sqlite3.connect(self.db)
        con.execute("UPDATE paper_fills SET price = price + 0.01 WHERE session_id=? AND ts=?", (sid, ts))
        con.commit()
        con.close()
        r = self.replay(sid, "--json", expect=1, root=root)
        bad = json.loads(r.stdout)
        self.assertFalse(bad["identical"])
        self.assertEqual(bad["divergence_ts"], ts)
        self.assertIn("fill 2:", bad["divergence"])

    def test_warmup_from_rest_replayed(self):
        """100 warm-up bars from the REST API (not stored as live bars): recorded
        with the session, so the replay's strategies start from the same state."""
        root = self.make_root()
        strat = os.path.join(root, "scripts/strategies/sma_cross.lua")
        s, err = self.session(root, {"BTCUSDT": BARS[:500]}, [(3, strat, lambda src: src + "\n-- edited\n")],
                              warm=100)
        self.assertEqual((s["warmup_bars"], s["live_bars"]), (100, 400))
        sid = s["session"]
        self.assertEqual(self.q("SELECT COUNT(*) FROM session_events WHERE session_id=? AND kind='warmup'", sid)[0][0],
                         100)
        r = json.loads(self.replay(sid, "--json", root=root).stdout)
        self.assertTrue(r["identical"], r)
        self.assertEqual(r["replayed"]["equity_points"], 400)

    def test_two_sessions_of_one_strategy_at_once_replay_their_own_signals(self):
        """Two sessions of sma_cross at the same time on one database (other
        parameters, so other signals): each replays identical against its own
        signals (signal_history.session_id, schema v11) — matched by strategy and
        time, as sessions stored before v11 are, each would see the other's."""
        root = self.make_root()
        pa = self.start(root, {"BTCUSDT": BARS[:300]})
        pb = self.start(root, {"BTCUSDT": BARS[:300]}, "--param", "fast=5", "--param", "slow=20")
        sums = []
        for p in (pa, pb):
            out, err = p.communicate(timeout=240)
            self.assertEqual(p.returncode, 0, out[-2000:] + err[-4000:])
            sums.append(json.loads(out.splitlines()[-1]))
        (a, b) = sums
        self.assertNotEqual(a["signals"], 0)
        self.assertNotEqual(b["signals"], 0)
        # the sessions overlapped in time (both wrote while the other ran)
        (sa, ea), (sb, eb) = [self.q("SELECT started_at, stopped_at FROM paper_sessions WHERE id=?", x["session"])[0]
                              for x in (a, b)]
        self.assertLessEqual(max(sa, sb), min(ea, eb))
        for x in (a, b):
            n = self.q("SELECT COUNT(*) FROM signal_history WHERE session_id=?", x["session"])[0][0]
            self.assertEqual(n, x["signals"])
            r = json.loads(self.replay(x["session"], "--json", root=root).stdout)
            self.assertTrue(r["identical"], r)
            self.assertEqual(r["replayed"]["signals"], x["signals"], r)

    def test_risk_limits_reload_with_config_mts_json(self):
        """config/mts.json's risk.max_position edited while the session runs (0.10 -> 0.05):
        the limits reload with the file (risk.limits_changed), the buys after it are half
        the size, a broken edit keeps the limits in force, and the replay is identical."""
        root = self.make_root()
        site = os.path.join(root, "config/mts.json")
        with open(site) as f:
            self.assertIn('"max_position": 0.10', f.read())
        s, err = self.session(root, {"BTCUSDT": BARS}, [
            (6, site, lambda src: src.replace('"max_position": 0.10', '"max_position": 0.05')),
            (9, site, lambda src: src.replace('"max_position": 0.05', '"max_position": "lots"'))])
        sid = s["session"]
        self.assertIn('"event":"risk.limits_changed"', err)
        self.assertIn('"event":"risk.limits_reload_failed"', err)
        self.assertIn("risk.max_position must be a number", err)
        # each buy from flat, sized by risk.lua: qty = max_position x the equity at the decision
        # step / that step's close (the fill is at the next bar's open)
        close = {int(b[0]) // 1000: float(b[4]) for b in BARS}
        eq = dict(self.q("SELECT ts, equity FROM paper_equity WHERE session_id=?", sid))
        ratios = []
        for ts, side, qty in self.q("SELECT ts, side, qty FROM paper_fills WHERE session_id=? ORDER BY id", sid):
            if side == "buy":
                d = ts - 3600
                ratios.append(qty * close[d] / eq[d])
        small = [r for r in ratios if abs(r - 0.05) < 1e-6]
        big = [r for r in ratios if abs(r - 0.10) < 1e-6]
        self.assertEqual(len(small) + len(big), len(ratios), ratios)
        self.assertTrue(big and small, ratios)
        self.assertEqual(ratios, big + small)        # 10 % until the edit, 5 % after it (the broken edit changed nothing)
        r = json.loads(self.replay(sid, "--json", root=root).stdout)
        self.assertTrue(r["identical"], r)

    def test_broken_aggregator_kept_and_replayed(self):
        root = self.make_root()
        agg = os.path.join(root, "scripts/lib/aggregator.lua")
        risk = os.path.join(root, "scripts/lib/risk.lua")
        conf = os.path.join(root, "config/strategies/sma_cross.json")
        s, err = self.session(root, {"BTCUSDT": BARS[:520]}, [
            (3, agg, lambda src: src + "\nthis is not lua(\n"),
            (5, risk, lambda src: src + "\n-- a good edit\n"),
            (7, conf, lambda src: src.replace('"fast": 10', '"fast": "ten"'))])
        self.assertIn('"event":"lib.reload_failed"', err)
        self.assertIn('"event":"lib.reloaded"', err)          # risk.lua
        self.assertIn("aggregator: reload failed, keeping the running version: ", err)   # the session's output
        self.assertIn("sma_cross: reload failed, keeping the running version: ", err)
        fails = [json.loads(x) for x in err.splitlines() if '"strategy.reload_failed"' in x]
        self.assertEqual(len(fails), 1, err[-3000:])
        self.assertIn("fast", fails[0]["message"])           # the config that does not validate: kept
        self.assertGreater(s["fills"], 0)
        # the record's aggregator.lua / risk.lua differ from the installed ones and run outside
        # the sandbox: refused unless the user trusts the database (no way around the sandbox)
        bad = subprocess.run([MTS, "replay", str(s["session"]), "--db", self.db],
                             env=dict(os.environ, MTS_ROOT=root), capture_output=True, text=True, timeout=300)
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("--trust-record", bad.stderr)
        self.assertIn("scripts/lib/", bad.stderr)
        rr = self.replay(s["session"], "--json", "--trust-record", root=root)
        r = json.loads(rr.stdout)
        self.assertTrue(r["identical"], r)
        self.assertEqual(r["reloads"], 3)
        self.assertIn('"event":"lib.reload_failed"', rr.stderr)   # the recorded broken version, refused again

    def test_two_symbols_second_lagging(self):
        self.two_symbols([])

    def test_two_symbols_unaligned_second_passes(self):
        """--align-ms 0: ETHUSDT's bar runs its step again (a second pass): the
        replay appends in the same order, in the same waits."""
        s = self.two_symbols(["--align-ms", "0"])
        self.assertGreater(s["second_passes"], 0)

    def two_symbols(self, extra):
        root = self.make_root()
        b1 = xs.read_kline_csv(os.path.join(FIX, "BTCUSDT_1d_2021.csv"))
        b2 = xs.read_kline_csv(os.path.join(FIX, "ETHUSDT_1d_2021.csv"))
        srv_bars = {"BTCUSDT": b1, "ETHUSDT": b2}
        p_strat = os.path.join(root, "scripts/strategies/sma_cross.lua")
        srv = xs.KlineServer("binance", srv_bars, interval="1d", warm=0, pace=0.02, lag={"ETHUSDT": 0.01}).start()
        self.addCleanup(srv.stop)
        env = dict(os.environ, **ENV, MTS_ROOT=root)
        p = subprocess.Popen([MTS, "run", "--strategy", "sma_cross", "--exchange", "binance", "--symbol",
                              "BTCUSDT,ETHUSDT", "--interval", "1d", "--db", self.db, "--ws-url", srv.ws_url(),
                              "--rest-url", srv.rest_url(), "--warmup", "0", "--max-bars", str(2 * len(b1)), "--json"]
                             + extra,
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        time.sleep(4)
        self.edit(p_strat, lambda src: src + "\n-- edited\n")
        out, err = p.communicate(timeout=240)
        self.assertEqual(p.returncode, 0, err[-3000:])
        s = json.loads(out.splitlines()[-1])
        self.assertGreater(s["fills"], 0)
        r = json.loads(self.replay(s["session"], "--json", root=root).stdout)
        self.assertTrue(r["identical"], r)
        self.assertEqual(r["replayed"]["trades"], s["fills"])
        return s

    def test_perp_with_funding_refreshed_while_running(self):
        """A perp session whose funding rows are stored while it runs (the refresh
        appends them): the replay pays the recorded settlements, not what the
        database holds afterwards (more rows imported after the session)."""
        root = self.make_root()
        cfg_path = os.path.join(root, "config", "mts.json")
        with open(cfg_path) as f:
            cfg = json.load(f)
        cfg["instruments"]["binance:BTCUSDT"] = cfg["instruments"]["bitcoin"]
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        bars = xs.read_kline_csv(os.path.join(FIX, "BTCUSDT_1h_2021-01.csv"))[:240]
        times = [b[0] // 1000 for b in bars]
        settle = [t for t in times[120:] if t % (8 * 3600) == 0]
        early = [t for t in times[:120] if t % (8 * 3600) == 0 and t > times[0]]
        env = dict(os.environ, **ENV, MTS_ROOT=root)

        def funding(name, rows):
            path = os.path.join(self.tmp, name)
            with open(path, "w") as f:
                f.write("ts,rate\n")
                for t, rate in rows:
                    f.write("%d,%r\n" % (t * 1000, rate))
            r = subprocess.run([MTS, "import", "funding", path, "--symbol", "BTCUSDT", "--exchange", "binance",
                                "--db", self.db], env=env, capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
        funding("old.csv", [(times[0] - 86400 * 30, 0.0001)])
        srv = xs.KlineServer("binance", {"BTCUSDT": bars}, interval="1h", warm=0, pace=0.04, start_delay=1.0).start()
        self.addCleanup(srv.stop)
        env_run = dict(env, MTS_MACRO_REFRESH_S="0.1")
        p = subprocess.Popen([MTS, "run", "--strategy", "sma_cross", "--exchange", "binance", "--symbol", "BTCUSDT",
                              "--interval", "1h", "--db", self.db, "--ws-url", srv.ws_url(), "--rest-url",
                              srv.rest_url(), "--warmup", "0", "--max-bars", "240", "--json", "--market", "perp",
                              "--leverage", "2", "--max-position", "0.5"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env_run)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if os.path.exists(self.db) and self.q("SELECT COUNT(*) FROM paper_sessions")[0][0]:
                    break
            except sqlite3.OperationalError:
                pass
            time.sleep(0.05)
        funding("late.csv", [(t, 0.0004 * (1 if i % 2 else -1)) for i, t in enumerate(settle)])
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 0, err[-2000:])
        s = json.loads(out.splitlines()[-1])
        self.assertEqual(s["funding_events"], 1 + len(settle))
        self.assertIn("live.funding_refreshed", err)
        sid = s["session"]
        self.assertEqual(self.q("SELECT COUNT(*) FROM session_events WHERE session_id=? AND kind='funding'", sid)[0][0],
                         1 + len(settle))
        paid = self.q("SELECT SUM(funding) FROM paper_fills WHERE session_id=?", sid)[0][0]
        self.assertNotEqual(paid, 0)
        funding("after.csv", [(t, 0.01) for t in early])   # rows the session never saw
        r = json.loads(self.replay(sid, "--json", root=root).stdout)
        self.assertTrue(r["identical"], r)
        self.assertEqual(r["replayed"]["trades"], s["fills"])

    def test_provider_series_replayed_from_the_record(self):
        """A strategy that loads what the session does not append itself through
        the provider — ctx:funding of a stored symbol and ctx:bars of another
        stored asset at another interval (market/provider.h) — has each series
        recorded once, when it was first loaded (kind 'provider', its arrays as a
        blob). After the database changed (every funding rate's sign flipped with
        sqlite3, the other asset's bars imported again with each bar's direction
        reversed) the replay is still identical: it answers from the record. The
        old replay read the database as it is now: this strategy's signals
        depend on both signs, so it diverged. Another strategy asking for a
        series the session never loaded gets it from the database, said once."""
        root = self.make_root()
        sdir = os.path.join(root, "scripts", "strategies")
        with open(os.path.join(sdir, "prov_funding.lua"), "w") as f:
            f.write(PROV_FUNDING)
        with open(os.path.join(sdir, "prov_other.lua"), "w") as f:
            f.write(PROV_OTHER)
        bars = xs.read_kline_csv(os.path.join(FIX, "BTCUSDT_1h_2021-01.csv"))[:240]
        t0, t1 = bars[0][0] // 1000, bars[-1][0] // 1000
        env = dict(os.environ, **ENV, MTS_ROOT=root)
        # funding of ETHX on binance (no bundled history for it): every 8 hours
        # from two days before the session to a day after, signs + + - + - ...
        pattern = [0.0001, 0.0002, -0.0001, 0.00015, -0.0002]
        first = (t0 // 28800 - 6) * 28800
        fund = [(first + 28800 * i, pattern[i % 5]) for i in range((t1 + 86400 - first) // 28800)]
        path = os.path.join(self.tmp, "ethx_funding.csv")
        with open(path, "w") as f:
            f.write("ts,rate\n")
            for t, rate in fund:
                f.write("%d,%r\n" % (t * 1000, rate))
        self.mts("import", "funding", path, "--symbol", "ETHX", "--exchange", "binance", env=env)

        # 4h bars of ETHX from ten days before the session to a day after: up
        # (close > open) unless j % 3 == 0; `flip` reverses each bar's direction
        b0 = (t0 // 14400 - 60) * 14400
        nb = (t1 + 86400 - b0) // 14400

        def ethx(flip):
            p = os.path.join(self.tmp, "ethx_4h_%d.csv" % flip)
            with open(p, "w") as f:
                f.write("timestamp,open,high,low,close,volume\n")
                for j in range(nb):
                    o = 100.0 + j % 7
                    c = o + (0.5 if j % 3 else -0.5) * (-1 if flip else 1)
                    f.write("%d,%r,%r,%r,%r,10\n" % (b0 + 14400 * j, o, max(o, c) + 1, min(o, c) - 1, c))
            self.mts("import", "csv", p, "--asset", "ethx", "--interval", "4h", env=env)
        ethx(0)

        srv = xs.KlineServer("binance", {"BTCUSDT": bars}, interval="1h", warm=0, pace=0.02).start()
        self.addCleanup(srv.stop)
        r = subprocess.run([MTS, "run", "--strategy", "prov_funding", "--exchange", "binance", "--symbol", "BTCUSDT",
                            "--interval", "1h", "--db", self.db, "--ws-url", srv.ws_url(), "--rest-url",
                            srv.rest_url(), "--warmup", "0", "--max-bars", "240", "--json"],
                           env=env, capture_output=True, text=True, timeout=240)
        self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr[-3000:])
        s = json.loads(r.stdout.splitlines()[-1])
        sid = s["session"]
        self.assertEqual(s["live_bars"], 240)
        self.assertGreater(s["fills"], 2)
        self.assertNotIn("strategy.error", r.stderr)

        # the database changes after the session: the funding rates' signs (sqlite3) and the bars' directions
        con = sqlite3.connect(self.db)
        with con:
            self.assertEqual(con.execute("UPDATE funding_rates SET rate = -rate WHERE symbol = 'ETHX'").rowcount,
                             len(fund))
        con.close()
        ethx(1)

        r = self.replay(sid, "--json", root=root)
        res = json.loads(r.stdout)
        self.assertTrue(res["identical"], res)
        self.assertEqual(res["replayed"]["trades"], s["fills"])
        self.assertAlmostEqual(res["replayed"]["final_equity"], s["final_equity"], places=9)
        self.assertNotIn("replay.provider_not_recorded", r.stderr)

        # the record: each series once, its arrays in the provider's native layout
        # (columns one after the other, 8 bytes a value), as they were imported
        ev = self.q("SELECT info, t, ref FROM session_events WHERE session_id=? AND kind='provider' ORDER BY seq", sid)
        self.assertEqual(sorted(e[0] for e in ev), ["bars ethx 4h", "funding ETHX"], ev)
        got = {e[0]: (e[1], self.q("SELECT content FROM session_blobs WHERE hash=?", e[2])[0][0]) for e in ev}
        n, blob = got["funding ETHX"]
        self.assertEqual(n, len(fund))
        self.assertEqual(len(blob), n * 8 * 4)
        cols = [struct.unpack("=%d%s" % (n, k), blob[i * 8 * n:(i + 1) * 8 * n]) for i, k in enumerate("qddq")]
        self.assertEqual(list(cols[0]), [t for t, _ in fund])
        self.assertEqual(list(cols[1]), [rate for _, rate in fund])
        n, blob = got["bars ethx 4h"]
        self.assertEqual(n, nb)
        self.assertEqual(len(blob), n * 8 * 6)
        ts = struct.unpack("=%dq" % n, blob[:8 * n])
        self.assertEqual(list(ts), [b0 + 14400 * j for j in range(nb)])
        o = struct.unpack("=%dd" % n, blob[8 * n:16 * n])
        c = struct.unpack("=%dd" % n, blob[32 * n:40 * n])
        self.assertEqual([c[j] > o[j] for j in range(n)], [j % 3 != 0 for j in range(n)])   # unflipped

        # another strategy: the recorded bars, a funding series the session never
        # loaded (with its exchange named) from the database, said once
        r = self.replay(sid, "--strategy", "prov_other", "--json", root=root)
        rm = json.loads(r.stdout)
        self.assertEqual(rm["strategies"], "prov_other")
        self.assertEqual(r.stderr.count("replay.provider_not_recorded"), 1, r.stderr[-3000:])
        self.assertIn("funding ETHX binance", r.stderr)
        self.assertNotIn("strategy.error", r.stderr)
        self.assertGreater(rm["replayed"]["trades"], 0)

    def test_v8_database_migrates_keeping_every_row(self):
        import shutil
        src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "db", "schema_v8.db")
        db = os.path.join(self.tmp, "v8.db")
        shutil.copy(src, db)
        tables = ["paper_sessions", "paper_fills", "paper_equity", "signal_history", "live_bars"]

        def dump(path):
            con = sqlite3.connect(path)
            try:
                return {t: con.execute("SELECT * FROM %s ORDER BY 1, 2" % t).fetchall() for t in tables}
            finally:
                con.close()
        before = dump(db)
        self.assertEqual(len(before["paper_fills"]), 2)
        r = subprocess.run([MTS, "replay", "1", "--db", db], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no record to replay", r.stderr)
        con = sqlite3.connect(db)
        self.assertEqual(con.execute("PRAGMA user_version").fetchone()[0], 11)   # v8 -> 9 (replay) -> 10 (alerts) -> 11 (books)
        con.close()
        after = dump(db)
        for t in tables:
            # v9 adds paper_sessions.options, v11 control_socket (NULL), paper_fills.shadow (0)
            # and signal_history.session_id (NULL)
            extra = {"paper_sessions": 2, "paper_fills": 1, "signal_history": 1}.get(t, 0)
            rows = [x[:-extra] for x in after[t]] if extra else after[t]
            if t == "paper_sessions":
                self.assertEqual([x[-2:] for x in after[t]], [(None, None)] * len(after[t]))
            if t == "paper_fills":
                self.assertEqual([x[-1] for x in after[t]], [0] * len(after[t]))
            if t == "signal_history":
                self.assertEqual([x[-1] for x in after[t]], [None] * len(after[t]))
            self.assertEqual(rows, before[t], t)


if __name__ == "__main__":
    unittest.main()
