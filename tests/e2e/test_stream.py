"""`mts stream` against the stand-in exchange (exchange_server.py): the real wire
formats, with truncated/garbage JSON, a dropped connection and sequence gaps
on cue. Checks that books are resynced and end equal to the server's book level
by level, and that SQLite holds every trade and funding update exactly once."""
import json
import os
import signal
import sqlite3
import subprocess
import time
import unittest

from exchange_server import ExchangeServer
from mtslib import MTS, ROOT, MtsTestCase

DEPTH = 10
CUES = {20: ["garbage"], 50: ["gap:BTCUSDT"], 80: ["drop"], 110: ["gap:ETHUSDT"]}


class StreamTest(MtsTestCase):
    def setUp(self):
        super().setUp()
        self.srv = None

    def tearDown(self):
        if self.srv:
            self.srv.stop()
        super().tearDown()

    def env(self):
        u = self.srv.url()
        return {"BINANCE_WS_URL": u, "BINANCE_FUTURES_WS_URL": u, "BINANCE_REST_URL": self.srv.url("http"),
                "BYBIT_WS_URL": u + "/v5/public/linear", "MTS_WS_BACKOFF_MS": "100",
                "MTS_WS_PING_INTERVAL_MS": "300"}

    def stream(self, exchange, duration="4s", extra=()):
        r = self.mts("stream", "--exchange", exchange, "--symbols", "BTCUSDT,ETHUSDT", "--duration", duration,
                     "--depth", str(DEPTH), "--db", self.db, "--json", *extra, env=self.env(), timeout=60)
        return json.loads(r.stdout), r

    def check_store(self, exchange, summary):
        srv = self.srv
        con = sqlite3.connect(self.db)
        # trades: every trade the server sent, once, with its values
        rows = con.execute("SELECT symbol, trade_id, price, qty, side, ts_ms FROM trades WHERE exchange=?",
                           (exchange,)).fetchall()
        got = {(s, t): (p, q, side, ts) for s, t, p, q, side, ts in rows}
        self.assertEqual(len(rows), len(got), "duplicate trades stored")
        self.assertEqual(got, srv.sent_trades)
        self.assertGreaterEqual(summary["stored"]["trade_duplicates"], 1,
                                "trades resent after the reconnect were ignored")
        # funding: every update, once
        rows = con.execute("SELECT symbol, ts_ms, rate, mark_price, next_funding_ms FROM funding_rates "
                           "WHERE exchange=? ORDER BY symbol, ts_ms", (exchange,)).fetchall()
        self.assertEqual(sorted(rows), sorted(srv.sent_funding))
        # books: the last stored snapshot equals the server's book, level by level
        for sym in ("BTCUSDT", "ETHUSDT"):
            (ts,) = con.execute("SELECT MAX(ts_ms) FROM order_book_snapshots WHERE exchange=? AND symbol=?",
                                (exchange, sym)).fetchone()
            self.assertIsNotNone(ts, "no book snapshot for " + sym)
            want_b, want_a, want_id = srv.final_top(sym, DEPTH)
            for side, want in (("bid", want_b), ("ask", want_a)):
                got = con.execute("SELECT level, price, qty, update_id FROM order_book_snapshots WHERE exchange=?"
                                  " AND symbol=? AND ts_ms=? AND side=? ORDER BY level",
                                  (exchange, sym, ts, side)).fetchall()
                self.assertEqual([g[0] for g in got], list(range(len(want))))
                self.assertEqual([(g[1], g[2]) for g in got], want, "%s %s %s" % (exchange, sym, side))
                self.assertTrue(all(g[3] == want_id for g in got))
        con.close()

    def test_binance_gap_drop_garbage(self):
        self.srv = ExchangeServer("binance", cues=CUES).start()
        s, r = self.stream("binance")
        self.assertTrue(self.srv.done.is_set(), "the server finished its script")
        self.assertEqual(s["malformed"], self.srv.garbage_sent)
        self.assertEqual(s["resyncs"], self.srv.gaps)
        self.assertEqual(s["reconnects"], self.srv.drops)
        self.assertIn("ws.book_gap", r.stderr)
        # one snapshot per book at start, one after the reconnect, one per gap
        self.assertGreaterEqual(self.srv.snapshot_requests, 2 + 2 + self.srv.gaps)
        self.assertGreaterEqual(self.srv.pongs, 1, "lws answered the server's pings")
        self.assertEqual(s["funding"], len(self.srv.sent_funding))
        self.check_store("binance", s)

    def test_bybit_gap_drop_garbage(self):
        self.srv = ExchangeServer("bybit", cues=CUES).start()
        s, r = self.stream("bybit")
        self.assertTrue(self.srv.done.is_set())
        self.assertEqual(s["malformed"], self.srv.garbage_sent)
        self.assertEqual(s["resyncs"], self.srv.gaps)
        self.assertEqual(s["reconnects"], self.srv.drops)
        self.assertGreaterEqual(self.srv.pings, 1, '{"op":"ping"} heartbeats sent')
        self.assertGreaterEqual(s["pongs"], 1)
        # a gap resubscribes the book topic: unsubscribe + subscribe orderbook.50.BTCUSDT
        self.assertIn(("unsubscribe", ["orderbook.50.BTCUSDT"]), self.srv.subscribe_requests)
        self.assertIn(("subscribe", ["orderbook.50.BTCUSDT"]), self.srv.subscribe_requests)
        # the first subscription carries every topic
        first = self.srv.subscribe_requests[0][1]
        for t in ("publicTrade.BTCUSDT", "orderbook.50.BTCUSDT", "tickers.BTCUSDT", "tickers.ETHUSDT"):
            self.assertIn(t, first)
        self.check_store("bybit", s)

    def test_clean_run_has_no_resyncs(self):
        self.srv = ExchangeServer("bybit", steps=60).start()
        s, _ = self.stream("bybit", duration="2s")
        self.assertEqual((s["resyncs"], s["reconnects"], s["malformed"]), (0, 0, 0))
        self.check_store_trades_only()

    def check_store_trades_only(self):
        con = sqlite3.connect(self.db)
        n = con.execute("SELECT COUNT(*) FROM trades").fetchone()[0]
        self.assertEqual(n, len(self.srv.sent_trades))

    def test_sigterm_flushes_and_exits_zero(self):
        self.srv = ExchangeServer("binance", steps=5000, step_delay=0.001).start()
        env = dict(os.environ)
        env.update(self.env())
        p = subprocess.Popen([MTS, "stream", "--exchange", "binance", "--symbols", "BTCUSDT", "--channels",
                              "trades", "--db", self.db, "--json"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
        time.sleep(1.5)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=20)
        self.assertEqual(p.returncode, 0, err)
        s = json.loads(out)
        con = sqlite3.connect(self.db)
        n = con.execute("SELECT COUNT(*) FROM trades").fetchone()[0]
        self.assertGreater(n, 0)
        self.assertEqual(n, s["stored"]["trades"], "everything received was flushed")

    def test_unreachable_exchange_retries_without_crashing(self):
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()   # nothing listens there now
        env = {"BYBIT_WS_URL": "ws://127.0.0.1:%d/v5/public/linear" % port, "MTS_WS_BACKOFF_MS": "100"}
        r = self.mts("stream", "--exchange", "bybit", "--symbols", "BTCUSDT", "--duration", "1500ms",
                     "--db", self.db, "--json", env=env, timeout=30)
        s = json.loads(r.stdout)
        self.assertEqual(s["messages"], 0)
        self.assertIn("ws.disconnected", r.stderr)

    # ---- write failures (issue 9 item 9) ----
    # A full disk, for real and without root: the stream runs with RLIMIT_FSIZE (a
    # per-process file size limit, POSIX) just above what the database's WAL and
    # shm files need, so SQLite's writes fail with EFBIG (SQLITE_IOERR_WRITE /
    # SQLITE_FULL) through the ordinary I/O path; SIGXFSZ is ignored as a service
    # manager would. Raising the soft limit later (prlimit on the pid) frees the
    # "disk" again.
    FSIZE = 40960

    def make_db(self):
        srv = ExchangeServer("binance", symbols=("BTCUSDT",), steps=0).start()
        try:
            u = srv.url()
            self.mts("stream", "--exchange", "binance", "--symbols", "BTCUSDT", "--channels", "trades",
                     "--duration", "200ms", "--db", self.db, env={"BINANCE_WS_URL": u}, timeout=30)
        finally:
            srv.stop()

    def start_limited(self, *extra):
        import resource
        self.make_db()

        def limit():
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (self.FSIZE, resource.RLIM_INFINITY))
        env = dict(os.environ)
        env.update(self.env())
        return subprocess.Popen([MTS, "stream", "--exchange", "binance", "--symbols", "BTCUSDT", "--channels",
                                 "trades", "--db", self.db, "--json", *extra], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT, preexec_fn=limit)

    def stored_trades(self):
        con = sqlite3.connect(self.db)
        try:
            return con.execute("SELECT COUNT(*) FROM trades").fetchone()[0]
        finally:
            con.close()

    def test_store_failure_stops_after_grace_with_exit_4_and_exact_count(self):
        # 700 trades in ~1.5 s; writes fail from about the first flushes on; the
        # policy (default stop) gives up after 3 s of continuous failure
        self.srv = ExchangeServer("binance", symbols=("BTCUSDT",), steps=700, step_delay=0.002).start()
        p = self.start_limited("--duration", "40s", "--store-error-grace", "3s", "--store-warn-interval", "1s")
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 4, err[-3000:])
        s = json.loads(out)
        self.assertTrue(self.srv.done.is_set())
        sent, stored = len(self.srv.sent_trades), self.stored_trades()
        self.assertGreater(sent - stored, 0, "writes did fail")
        self.assertEqual(s["not_stored"]["trades"], sent - stored)
        self.assertEqual(s["stored"]["trades"], stored)
        self.assertEqual(s["stopped"], "store_error")
        self.assertLess(s["seconds"], 30, "it stopped on the policy, not the duration")
        self.assertGreaterEqual(err.count('"event":"stream.store_failing"'), 2, "the warning repeats")
        self.assertIn("not stored", err)

    def test_store_failure_continue_drops_beyond_the_buffer_and_counts(self):
        # continue: keep recording; rows past --store-buffer are dropped and counted
        self.srv = ExchangeServer("binance", symbols=("BTCUSDT",), steps=700, step_delay=0.002).start()
        p = self.start_limited("--duration", "6s", "--on-store-error", "continue", "--store-buffer", "300",
                               "--store-warn-interval", "1s")
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 4, "rows were lost: exit 4\n" + err[-3000:])
        s = json.loads(out)
        self.assertTrue(self.srv.done.is_set())
        sent, stored = len(self.srv.sent_trades), self.stored_trades()
        self.assertEqual(s["not_stored"]["trades"], sent - stored)
        self.assertGreater(s["not_stored"]["trades"], 300, "more than the buffer holds was lost")
        self.assertEqual(s["stopped"], "duration")
        self.assertGreaterEqual(err.count('"event":"stream.store_failing"'), 2)

    def test_transient_store_failure_is_buffered_and_retried(self):
        import resource
        self.srv = ExchangeServer("binance", symbols=("BTCUSDT",), steps=700, step_delay=0.002).start()
        import threading
        p = self.start_limited("--duration", "9s", "--store-warn-interval", "1s")
        lines = []
        t = threading.Thread(target=lambda: lines.extend(iter(p.stderr.readline, "")), daemon=True)
        t.start()
        # wait until the writes fail and the script is sent, then free the "disk"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (self.srv.done.is_set() and
                                                   any("stream.store_failing" in x for x in lines)):
            time.sleep(0.1)
        self.assertTrue(any("stream.store_failing" in x for x in lines), "writes failed for a while")
        resource.prlimit(p.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        out = p.stdout.read()
        p.wait(timeout=60)
        t.join(10)
        err = "".join(lines)
        self.assertIn('"event":"stream.store_recovered"', err)
        self.assertEqual(p.returncode, 0, err[-3000:])
        s = json.loads(out)
        self.assertEqual(self.stored_trades(), len(self.srv.sent_trades), "every trade kept and stored")
        self.assertEqual(s["not_stored"], {"trades": 0, "book_rows": 0, "funding_rows": 0})

    def test_store_policy_usage(self):
        for args, word in ((("--on-store-error", "retry"), "--on-store-error"),
                           (("--store-error-grace", "soon"), "--store-error-grace"),
                           (("--store-buffer", "0"), "--store-buffer"),
                           (("--store-warn-interval", "x"), "--store-warn-interval")):
            r = self.mts("stream", "--exchange", "binance", "--symbols", "BTCUSDT", *args, expect=2)
            self.assertIn(word, r.stderr)

    # ---- websocket limits (issue 9 item 10) ----
    def test_handshake_timeout_logged_then_reconnects(self):
        # the first two upgrades are accepted and never answered; the third works
        self.srv = ExchangeServer("binance", symbols=("BTCUSDT",), steps=100, hang_upgrades=2).start()
        env = self.env()
        env["MTS_WS_HANDSHAKE_TIMEOUT_MS"] = "700"
        r = self.mts("stream", "--exchange", "binance", "--symbols", "BTCUSDT", "--channels", "trades",
                     "--duration", "5s", "--db", self.db, "--json", env=env, timeout=60)
        s = json.loads(r.stdout)
        self.assertEqual(self.srv.upgrades_hung, 2)
        self.assertEqual(r.stderr.count('"event":"ws.handshake_timeout"'), 2, r.stderr[-2000:])
        self.assertEqual(s["handshake_timeouts"], 2)
        self.assertGreaterEqual(self.srv.upgrade_requests, 3, "reconnected after each timeout")
        self.assertTrue(self.srv.done.is_set(), "the third connection got the whole script")
        self.check_store_trades_only()

    def test_mts_run_has_the_same_handshake_timeout(self):
        # mts run uses feeds/ws.c too and reads the same variable (the process default)
        import exchange_server as xs
        bars = xs.read_kline_csv(os.path.join(ROOT, "tests", "fixtures", "live", "BTCUSDT_1h_2021-01.csv"))
        srv = xs.KlineServer("binance", {"BTCUSDT": bars[:60]}, interval="1h", warm=20, pace=0.003)
        srv.hang_upgrades = 1
        srv.start()
        self.addCleanup(srv.stop)
        r = self.mts("run", "--strategy", "sma_cross", "--exchange", "binance", "--symbol", "BTCUSDT",
                     "--interval", "1h", "--db", self.db, "--ws-url", srv.ws_url(), "--rest-url", srv.rest_url(),
                     "--warmup", "15", "--max-bars", "40", "--json",
                     env={"MTS_WS_BACKOFF_MS": "100", "MTS_LOG_LEVEL": "info", "MTS_WS_HANDSHAKE_TIMEOUT_MS": "600"},
                     timeout=60)
        self.assertEqual(r.stderr.count('"event":"ws.handshake_timeout"'), 1)
        self.assertEqual(json.loads(r.stdout.splitlines()[-1])["live_bars"], 40)

    def test_slow_depth_snapshot_does_not_block_the_stream(self):
        # every snapshot takes 8 s; a blocking fetch in the websocket loop made a 3 s
        # stream take 8 s+ and store nothing meanwhile. The bound is generous (the
        # item is about the deadline): duration + 3 s.
        self.srv = ExchangeServer("binance", steps=3000, step_delay=0.002, snapshot_delay=8.0).start()
        t = time.monotonic()
        s, r = self.stream("binance", duration="3s")
        wall = time.monotonic() - t
        self.assertLess(wall, 3.0 + 3.0, "a 3 s stream took %.1f s" % wall)
        self.assertGreaterEqual(self.srv.snapshot_requests, 1)
        # trades kept flowing while the snapshot was outstanding: every trade the
        # server sent in that time is stored
        con = sqlite3.connect(self.db)
        n = con.execute("SELECT COUNT(*) FROM trades").fetchone()[0]
        self.assertEqual(n, s["stored"]["trades"])
        self.assertGreater(n, 100)

    def test_snapshot_while_diffs_arrive_book_matches(self):
        # a 0.3 s snapshot: the diffs that arrive meanwhile are kept and replayed, so
        # the book ends equal to the server's (check_store compares level by level).
        # Steps take ~20 ms: the drop at 1.2 s, the gap at 2.6 s, both on synced books.
        self.srv = ExchangeServer("binance", steps=160, step_delay=0.005, snapshot_delay=0.3,
                                  cues={20: ["garbage"], 60: ["drop"], 130: ["gap:BTCUSDT"]}).start()
        s, r = self.stream("binance", duration="5s")
        self.assertTrue(self.srv.done.is_set())
        self.assertEqual((s["resyncs"], self.srv.gaps), (1, 1))
        # two at the start, two after the reconnect, one after the gap
        self.assertEqual(s["snapshots_fetched"], 5)
        self.check_store("binance", s)

    def test_huge_frame_is_capped_and_the_connection_reopened(self):
        # one 17 MiB frame (past the default 16 MiB cap) at step 10
        self.srv = ExchangeServer("binance", symbols=("BTCUSDT",), steps=60, cues={10: ["huge"]}).start()
        r = self.mts("stream", "--exchange", "binance", "--symbols", "BTCUSDT", "--channels", "trades",
                     "--duration", "6s", "--db", self.db, "--json", env=self.env(), timeout=60)
        s = json.loads(r.stdout)
        self.assertEqual(self.srv.huge_sent, 1)
        self.assertIn('"event":"ws.message_too_large"', r.stderr)
        self.assertIn('"max_bytes":16777216', r.stderr)
        self.assertEqual(s["oversized"], 1)
        self.assertGreaterEqual(s["reconnects"], 1)
        self.assertTrue(self.srv.done.is_set(), "the script went on after the reconnect")
        self.check_store_trades_only()

    def test_max_message_setting(self):
        self.srv = ExchangeServer("binance", symbols=("BTCUSDT",), steps=60, cues={10: ["huge"]},
                                  huge_bytes=300000).start()
        env = self.env()
        env["MTS_WS_MAX_MESSAGE_BYTES"] = "100000"
        r = self.mts("stream", "--exchange", "binance", "--symbols", "BTCUSDT", "--channels", "trades",
                     "--duration", "3s", "--db", self.db, "--json", env=env, timeout=60)
        s = json.loads(r.stdout)
        self.assertEqual(s["oversized"], 1)
        self.assertIn('"max_bytes":100000', r.stderr)
        env["MTS_WS_MAX_MESSAGE_BYTES"] = "lots"
        r = self.mts("stream", "--exchange", "binance", "--symbols", "BTCUSDT", "--duration", "1s",
                     "--db", self.db, env=env, expect=2)
        self.assertIn("MTS_WS_MAX_MESSAGE_BYTES", r.stderr)

    def test_usage(self):
        r = self.mts("stream", "--help")
        self.assertIn("--exchange binance --symbols BTCUSDT,ETHUSDT", r.stdout)
        r = self.mts("stream", "--exchange", "binanse", "--symbols", "BTCUSDT", expect=2)
        self.assertIn("did you mean 'binance'", r.stderr)
        r = self.mts("stream", "--exchange", "bybit", expect=2)
        self.assertIn("--symbols", r.stderr)
        r = self.mts("stream", "--exchange", "bybit", "--symbols", "BTCUSDT", "--duration", "soon", expect=2)
        self.assertIn("--duration", r.stderr)
        r = self.mts("stream", "--exchange", "bybit", "--symbols", "BTCUSDT", "--channels", "trades,candles",
                     expect=2)
        self.assertIn("candles", r.stderr)
        r = self.mts("stream", "--exchange", "bybit", "--symbols", "BTCUSDT", "--duration", "1s",
                     "--db", "/nonexistent-dir-mts/x.db", expect=1)
        self.assertIn("error", r.stderr)

    def test_export_tables_as_csv(self):
        help_text = self.mts("export", "--help").stdout + self.mts("export", "--help").stderr
        if "trades" not in help_text:
            self.skipTest("mts export does not list the stream tables yet (runtime/cmd/export.c TABLES)")
        self.srv = ExchangeServer("binance", steps=40).start()
        s, _ = self.stream("binance", duration="2s")
        for table, n in (("trades", len(self.srv.sent_trades)), ("funding_rates", len(self.srv.sent_funding))):
            out = os.path.join(self.tmp, table + ".csv")
            self.mts("export", "table", table, "--out", out, "--db", self.db)
            with open(out) as f:
                lines = f.read().strip().splitlines()
            self.assertEqual(len(lines) - 1, n, table)


if __name__ == "__main__":
    unittest.main()
