"""Alerts and health (issue 14): rules in config/mts.json "alerts", delivered to
the log (event "alert"), the bus (topic "alerts") and a webhook, and GET /health
reporting the external APIs' breakers.

Stand-ins only, all on 127.0.0.1: the exchange (exchange_server.KlineServer),
the vendors (vendor_server.py), and a webhook receiver (http.server here) that
answers 500 to its first N requests. The drawdown the session must alert is
computed here from the bars the test sends and the session's one fill."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import exchange_server as xs  # noqa: E402
from mtslib import MTS, MtsTestCase  # noqa: E402

ENV = {"MTS_WS_BACKOFF_MS": "100", "MTS_LOG_LEVEL": "info"}
HOUR = 3600 * 1000
T0 = 1609459200000            # 2021-01-01 00:00 UTC

# buys 400 units on its first bar (filled at the next bar's open) and holds
HOLD = """local M = {}
function M.get_parameters() return {} end
local done = false
function M.on_bar(ctx, asset, i)
    if not done then
        done = true
        return { asset = asset, signal_type = "LONG", confidence = 1, units = 400 }
    end
end
return M
"""


class Receiver:
    """A webhook receiver: the first `fail_first` POSTs get 500, the rest 200."""

    def __init__(self, fail_first=0):
        self.fail_first, self.posts, self.accepted = fail_first, [], []
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.posts.append(body)
                ok = len(outer.posts) > outer.fail_first
                if ok:
                    outer.accepted.append(json.loads(body))
                self.send_response(200 if ok else 500)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = "http://127.0.0.1:%d/hook" % self.httpd.server_address[1]
        self.t = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.t.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def log_events(stderr, event):
    out = []
    for line in stderr.splitlines():
        if line.startswith("{"):
            try:
                j = json.loads(line)
            except ValueError:
                continue
            if j.get("event") == event:
                out.append(j)
    return out


def falling_bars(n=60, peak_at=10):
    """Closes rise 100 -> 120 over `peak_at` bars, then fall 2% a bar."""
    bars, c = [], 100.0
    for i in range(n):
        o = c
        c = 100.0 + 2.0 * i if i <= peak_at else c * 0.98
        c = round(c, 4)
        bars.append((T0 + i * HOUR, "%.4f" % o, "%.4f" % (max(o, c) + 0.1), "%.4f" % (min(o, c) - 0.1),
                     "%.4f" % c, "10"))
    return bars


class AlertsTest(MtsTestCase):

    def root_with(self, rules, strategies=None):
        root = self.make_root()
        path = os.path.join(root, "config", "mts.json")
        with open(path) as f:
            cfg = json.load(f)
        cfg["alerts"] = {"rules": rules, "webhook": {"url": "", "timeout_ms": 2000, "retries": 3}}
        with open(path, "w") as f:
            json.dump(cfg, f)
        for name, src in (strategies or {}).items():
            with open(os.path.join(root, "scripts", "strategies", name + ".lua"), "w") as f:
                f.write(src)
        return root

    def q(self, sql, *args):
        con = sqlite3.connect(self.db)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()

    def bus_alerts(self):
        return [json.loads(p) for (p,) in self.q("SELECT payload FROM bus_events WHERE topic = 'alerts' ORDER BY id")]

    # ---- drawdown in a paper session, through the webhook with retries ----

    def test_drawdown_fires_once_in_a_session_and_reaches_the_webhook_after_500s(self):
        limit = 0.05
        root = self.root_with([{"kind": "drawdown", "limit": limit}], {"hold": HOLD})
        hook = Receiver(fail_first=2)
        self.addCleanup(hook.stop)
        bars = falling_bars()
        srv = xs.KlineServer("binance", {"BTCUSDT": bars}, interval="1h", warm=0, pace=0.002).start()
        self.addCleanup(srv.stop)
        env = dict(ENV, MTS_ROOT=root, MTS_ALERT_WEBHOOK=hook.url)
        r = self.mts("run", "--strategy", "hold", "--exchange", "binance", "--symbol", "BTCUSDT", "--interval", "1h",
                     "--db", self.db, "--ws-url", srv.ws_url(), "--rest-url", srv.rest_url(), "--warmup", "0",
                     "--max-bars", str(len(bars)), "--capital", "100000", "--commission-bps", "0",
                     "--slippage-bps", "0", "--json", env=env, timeout=120)
        summary = json.loads(r.stdout.splitlines()[-1])
        self.assertEqual(summary["live_bars"], len(bars), r.stderr[-2000:])

        # the drawdown, here: one fill of q units at p; equity at each bar's close
        fills = self.q("SELECT ts, side, qty, price, fee FROM paper_fills")
        self.assertEqual(len(fills), 1, fills)
        ts_fill, side, qty, price, fee = fills[0]
        # (risk.lua sizes the order: at most a tenth of the capital)
        self.assertEqual((side, fee), ("buy", 0.0))
        self.assertGreater(qty, 0)
        self.assertEqual(price, float(bars[1][1]))            # bar 1's open, no slippage
        peak, first = None, None
        for k, b in enumerate(bars):
            close = float(b[4])
            eq = 100000.0 if k == 0 else 100000.0 - qty * price + qty * close
            peak = eq if peak is None or eq > peak else peak
            dd = (peak - eq) / peak
            if dd > limit and first is None:
                first = (b[0], dd, eq, peak)
        self.assertIsNotNone(first, "the bars must fall past the limit")
        self.assertLess(first[0], bars[-1][0], "the fall must go on after the breach (no second alert)")

        logged = log_events(r.stderr, "alert")
        self.assertEqual(len(logged), 1, logged)
        a = logged[0]
        self.assertEqual((a["kind"], a["source"], a["subject"]), ("drawdown", "run", "session %d" % self.q("SELECT id FROM paper_sessions")[0][0]))
        self.assertEqual(a["at"], first[0] // 1000)           # the equity point's time: the bar's open, unix s
        self.assertAlmostEqual(a["drawdown"], first[1], places=9)
        self.assertAlmostEqual(a["equity"], first[2], places=6)
        self.assertAlmostEqual(a["peak"], first[3], places=6)
        self.assertEqual(a["limit"], limit)

        on_bus = self.bus_alerts()
        self.assertEqual(len(on_bus), 1, on_bus)
        self.assertEqual(on_bus[0]["kind"], "drawdown")
        self.assertEqual(on_bus[0]["at"], a["at"])

        # 500, 500, 200: delivered once, after two retries (mts run drains the queue before it exits)
        self.assertEqual(len(hook.posts), 3)
        self.assertEqual(len(hook.accepted), 1)
        self.assertEqual(hook.accepted[0]["at"], a["at"])
        self.assertEqual(hook.accepted[0]["kind"], "drawdown")
        delivered = log_events(r.stderr, "alert.delivered")
        self.assertEqual([(d["kind"], d["attempts"]) for d in delivered], [("drawdown", 3)])

    def test_undeliverable_alert_is_logged_as_such(self):
        root = self.root_with([{"kind": "drawdown", "limit": 0.05}], {"hold": HOLD})
        hook = Receiver(fail_first=100)
        self.addCleanup(hook.stop)
        bars = falling_bars()
        srv = xs.KlineServer("binance", {"BTCUSDT": bars}, interval="1h", warm=0, pace=0.002).start()
        self.addCleanup(srv.stop)
        path = os.path.join(root, "config", "mts.json")
        with open(path) as f:
            cfg = json.load(f)
        cfg["alerts"]["webhook"] = {"url": hook.url, "timeout_ms": 1000, "retries": 2}
        with open(path, "w") as f:
            json.dump(cfg, f)
        r = self.mts("run", "--strategy", "hold", "--exchange", "binance", "--symbol", "BTCUSDT", "--interval", "1h",
                     "--db", self.db, "--ws-url", srv.ws_url(), "--rest-url", srv.rest_url(), "--warmup", "0",
                     "--max-bars", str(len(bars)), "--commission-bps", "0", "--slippage-bps", "0", "--json",
                     env=dict(ENV, MTS_ROOT=root), timeout=120)
        self.assertEqual(len(hook.posts), 3)            # the first try and 2 retries
        bad = log_events(r.stderr, "alert.undelivered")
        self.assertEqual(len(bad), 1, r.stderr[-2000:])
        self.assertEqual((bad[0]["status"], bad[0]["attempts"], bad[0]["alert"]["kind"]), (500, 3, "drawdown"))

    def test_strategy_disabled_fires_once_in_a_session(self):
        # a strategy that raises on its 5th bar, then would raise again (it is disabled
        # after the first): one strategy_disabled alert, in the log and on the bus
        boom = ("local M = {}\nfunction M.get_parameters() return {} end\n"
                "function M.on_bar(ctx, asset, i) if i >= 4 then error('boom at ' .. i) end end\nreturn M\n")
        root = self.root_with([{"kind": "strategy_disabled"}], {"boom": boom})
        bars = falling_bars(12)
        srv = xs.KlineServer("binance", {"BTCUSDT": bars}, interval="1h", warm=0, pace=0.002).start()
        self.addCleanup(srv.stop)
        r = self.mts("run", "--strategy", "boom,sma_cross", "--exchange", "binance", "--symbol", "BTCUSDT",
                     "--interval", "1h", "--db", self.db, "--ws-url", srv.ws_url(), "--rest-url", srv.rest_url(),
                     "--warmup", "0", "--max-bars", str(len(bars)), "--json", env=dict(ENV, MTS_ROOT=root),
                     expect=None, timeout=120)
        self.assertEqual(r.returncode, 3, r.stderr[-2000:])      # finished, a strategy disabled
        logged = [a for a in log_events(r.stderr, "alert") if a["kind"] == "strategy_disabled"]
        self.assertEqual(len(logged), 1, r.stderr[-3000:])
        self.assertEqual(logged[0]["subject"], "boom")
        self.assertIn("boom at 4", logged[0]["message"])
        on_bus = [a for a in self.bus_alerts() if a["kind"] == "strategy_disabled"]
        self.assertEqual(len(on_bus), 1, on_bus)

    def test_bad_rule_stops_the_session_naming_it(self):
        root = self.root_with([{"kind": "drawdown", "limit": 5}])
        srv = xs.KlineServer("binance", {"BTCUSDT": falling_bars(5)}, interval="1h", warm=0).start()
        self.addCleanup(srv.stop)
        r = self.mts("run", "--strategy", "sma_cross", "--exchange", "binance", "--symbol", "BTCUSDT",
                     "--interval", "1h", "--db", self.db, "--ws-url", srv.ws_url(), "--rest-url", srv.rest_url(),
                     "--max-bars", "5", env=dict(ENV, MTS_ROOT=root), expect=None, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("alerts.rules[0] (drawdown): limit", r.stderr)

    # ---- session_crashed: a killed session, seen by mts serve's /health ----

    def test_killed_session_alerted_once_by_health(self):
        from test_serve import Server, make_token
        root = self.root_with([{"kind": "session_crashed"}])
        srv = xs.KlineServer("binance", {"BTCUSDT": falling_bars(200)}, interval="1h", warm=0, pace=0.2).start()
        self.addCleanup(srv.stop)
        env = dict(os.environ, **ENV)
        env["MTS_ROOT"] = root
        p = subprocess.Popen([MTS, "run", "--strategy", "sma_cross", "--exchange", "binance", "--symbol", "BTCUSDT",
                              "--interval", "1h", "--db", self.db, "--ws-url", srv.ws_url(), "--rest-url",
                              srv.rest_url(), "--warmup", "0", "--json"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        try:
            end = time.time() + 30
            while time.time() < end and srv.sent_final < 5:
                time.sleep(0.05)
            time.sleep(0.5)
        finally:
            p.kill()                      # SIGKILL: no chance to close its row
            p.wait()
        (sid, status), = self.q("SELECT id, status FROM paper_sessions")
        self.assertEqual(status, "running")
        api = Server(self.db, tmp=self.tmp, env={"MTS_ROOT": root})
        self.addCleanup(api.stop)
        for _ in range(2):                # the second probe alerts nothing new
            api.json("GET", "/health", token=make_token())
        self.assertEqual(self.q("SELECT status FROM paper_sessions")[0][0], "crashed")
        with open(api.log_path) as f:
            logged = log_events(f.read(), "alert")
        self.assertEqual([(a["kind"], a["subject"], a["source"], a["session"], a["status"]) for a in logged],
                         [("session_crashed", "session %d" % sid, "serve", sid, "crashed")])
        self.assertEqual([(b["kind"], b["session"]) for b in self.bus_alerts()], [("session_crashed", sid)])

    # ---- feed_silent in mts stream ----

    def test_feed_silent_fires_once_when_the_stand_in_stops(self):
        root = self.root_with([{"kind": "feed_silent", "intervals": 3, "interval_ms": 400}])
        bars = falling_bars(30)
        srv = xs.KlineServer("binance", {"BTCUSDT": bars}, interval="1m", warm=0, pace=0.05).start()
        self.addCleanup(srv.stop)
        env = dict(os.environ, **ENV)
        env.update(MTS_ROOT=root, BINANCE_WS_URL=srv.ws_url())
        p = subprocess.Popen([MTS, "stream", "--exchange", "binance", "--symbols", "BTCUSDT", "--channels", "kline",
                              "--interval", "1m", "--db", self.db, "--bus", "sqlite", "--json", "--duration", "60s"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            end = time.time() + 40
            while srv.sent_final < len(bars) and time.time() < end and p.poll() is None:
                time.sleep(0.02)
            last_sent = time.time()
            self.assertEqual(srv.sent_final, len(bars))
            time.sleep(3.0)                 # 1.2 s of silence makes the alert; 3 s: no second one
            p.send_signal(signal.SIGTERM)
            out, err = p.communicate(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
        alerts = log_events(err, "alert")
        self.assertEqual(len(alerts), 1, err[-3000:])
        a = alerts[0]
        self.assertEqual((a["kind"], a["subject"], a["source"]), ("feed_silent", "binance:BTCUSDT", "stream"))
        self.assertGreaterEqual(a["silent_ms"], 1200)
        self.assertLess(a["silent_ms"], 1200 + 500)       # seen within a few ticks
        self.assertGreaterEqual(a["ts"], int(last_sent) - 1)   # not while the bars were coming
        on_bus = self.bus_alerts()
        self.assertEqual([(b["kind"], b["subject"]) for b in on_bus], [("feed_silent", "binance:BTCUSDT")])

    # ---- breakers in GET /health, collector_failing ----

    def test_health_shows_the_breaker_a_failing_vendor_opened(self):
        from test_collect import VendorServer
        from test_serve import Server, make_token
        vs = VendorServer()
        self.addCleanup(vs.stop)
        vs.post("/_control/reset", {})
        vs.post("/_control/script", {"default": "500"})
        root = self.root_with([{"kind": "collector_failing", "failures": 2}])
        hook = Receiver()
        self.addCleanup(hook.stop)
        env = {"COINGECKO_BASE_URL": vs.base + "/api/v3", "MTS_HTTP_BACKOFF_BASE": "0.01",
               "MTS_HTTP_BACKOFF_MAX": "0.05", "COINGECKO_RATE_PER_MIN": "0", "MTS_BREAKER_THRESHOLD": "2",
               "MTS_BREAKER_TIMEOUT": "600", "MTS_HTTP_ATTEMPTS": "3", "MTS_ROOT": root, "MTS_LOG_LEVEL": "info",
               "MTS_ALERT_WEBHOOK": hook.url}
        t_before = int(time.time())
        r = self.mts("collect", "--source", "coingecko", "--asset", "bitcoin", "--days", "1", "--schedule",
                     "--interval", "0.2", "--iterations", "3", "--db", self.db, env=env, expect=None, timeout=60)
        self.assertIn('"event":"http.breaker","vendor":"coingecko"', r.stderr)
        # collector_failing: bitcoin failed 3 cycles in a row; the rule (2) fires once, at the 2nd
        alerts = log_events(r.stderr, "alert")
        self.assertEqual([(a["kind"], a["subject"], a["failures"]) for a in alerts],
                         [("collector_failing", "coingecko:bitcoin", 2)], r.stderr[-3000:])
        self.assertEqual([a["kind"] for a in self.bus_alerts()], ["collector_failing"])
        self.assertEqual([a["subject"] for a in hook.accepted], ["coingecko:bitcoin"])

        srv = Server(self.db, tmp=self.tmp, env={"MTS_ROOT": root})
        self.addCleanup(srv.stop)
        h, _ = srv.json("GET", "/health", token=make_token())
        ext = h["checks"]["external_apis"]
        self.assertFalse(ext["ok"])
        self.assertEqual(ext["open"], 1)
        self.assertEqual(len(ext["breakers"]), 1, ext)
        b = ext["breakers"][0]
        self.assertEqual((b["vendor"], b["host"], b["state"], b["failures"]), ("coingecko", "127.0.0.1:%d" % vs.port, "open", 2))
        self.assertGreaterEqual(b["opened_ts"], t_before)
        self.assertLessEqual(b["opened_ts"], int(time.time()))
        # the public answer says only ok
        st, _, body = srv.request("GET", "/health")
        self.assertEqual(json.loads(body)["checks"]["external_apis"], {"ok": False})
        # a breaker that closed again is reported closed
        vs.post("/_control/reset", {})
        con = sqlite3.connect(self.db)
        con.execute("UPDATE api_breakers SET state = 'closed', failures = 0, opened_at = NULL")
        con.commit()
        con.close()
        h, _ = srv.json("GET", "/health", token=make_token())
        self.assertTrue(h["checks"]["external_apis"]["ok"])
        self.assertEqual(h["checks"]["external_apis"]["breakers"][0]["state"], "closed")


if __name__ == "__main__":
    unittest.main()
