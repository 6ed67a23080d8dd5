"""`mts serve` reads the hot data back: GET /orderbook/{exchange}/{symbol},
/funding/{exchange}/{symbol} and /market/{symbol}/{interval} answer from the
cache's `...:latest` keys (server L1, then Redis) and else from the database.

Real parts: redis-server ($MTS_TEST_REDIS_URL, database 9, our keys deleted
afterwards; one test starts a redis-server of its own to kill it), the stand-in
exchange (exchange_server.ExchangeServer for `mts stream`, KlineServer for
`mts run`), the real binaries. Expected values come from the stand-in's own
book and funding log, the fixture's bars, and keys this test writes with the
RESP client of test_cache_stream.py — not from mts."""
import json
import os
import socket
import sqlite3
import subprocess
import time
import unittest

import exchange_server as xs
import test_cache_stream as tcs
import test_serve as ts
from mtslib import MtsTestCase

DB = 9
DEPTH = 10
FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "live",
                       "BTCUSDT_1h_2021-01.csv")
BOOK = "/orderbook/{exchange}/{symbol}"
FUND = "/funding/{exchange}/{symbol}"
MARKET = "/market/{symbol}/{interval}"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class OwnRedis:
    """A redis-server of this test's own (no persistence), to stop and restart."""

    def __init__(self, tmp, port=None):
        self.port = port or free_port()
        self.tmp = tmp
        self.p = None

    def start(self, *extra):
        self.p = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                                   "--appendonly", "no", "--dir", self.tmp, "--loglevel", "warning"] + list(extra),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                r = tcs.Resp(self.url())
                try:
                    r.cmd("PING")
                except RuntimeError:    # NOAUTH: up, with a password
                    pass
                r.close()
                return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError("redis-server did not start on port %d" % self.port)

    def url(self):
        return "redis://127.0.0.1:%d" % self.port

    def stop(self):
        if self.p and self.p.poll() is None:
            self.p.kill()
            self.p.wait(timeout=10)
        self.p = None


class ServeCacheTest(MtsTestCase):
    def setUp(self):
        super().setUp()
        self.servers, self.xsrv, self.own = [], None, None
        self.r = tcs.Resp(tcs.redis_url(), DB)
        self.url = "%s/%d" % (tcs.redis_url(), DB)
        self.token = ts.make_token(scope="read")

    def tearDown(self):
        bad = [(s.stop(), s.log_text()[-3000:]) for s in self.servers]
        if self.xsrv:
            self.xsrv.stop()
        if self.own:
            self.own.stop()
        for pat in ("orderbook:*", "funding:*", "market:*", "mts:bus"):
            for k in self.r.keys(pat):
                self.r.cmd("DEL", k)
        self.r.close()
        super().tearDown()
        for rc, log in bad:
            self.assertEqual(rc, 0, log)

    def serve(self, *args):
        s = ts.Server(self.db, *args, tmp=self.tmp)
        self.servers.append(s)
        return s

    def get(self, srv, path, expect=200):
        return srv.json("GET", path, token=self.token, expect=expect)[0]

    def stream(self, exchange="binance", redis=None):
        """`mts stream` of BTCUSDT and ETHUSDT books and funding into self.db (and Redis)."""
        self.xsrv = xs.ExchangeServer(exchange, steps=80).start()
        u = self.xsrv.url()
        env = {"BINANCE_WS_URL": u, "BINANCE_FUTURES_WS_URL": u, "BINANCE_REST_URL": self.xsrv.url("http"),
               "BYBIT_WS_URL": u + "/v5/public/linear", "MTS_WS_BACKOFF_MS": "100",
               "MTS_WS_PING_INTERVAL_MS": "300", "REDIS_URL": ""}
        self.mts("stream", "--exchange", exchange, "--symbols", "BTCUSDT,ETHUSDT", "--duration", "3s",
                 "--depth", str(DEPTH), "--db", self.db, "--json", "--redis", redis or "none", env=env, timeout=60)
        self.assertTrue(self.xsrv.done.is_set(), "the stand-in sent its whole script")

    def check_book(self, got, sym, source, depth=DEPTH):
        want_b, want_a, want_id = self.xsrv.final_top(sym, DEPTH)
        self.assertEqual(got["source"], source, got)
        self.assertEqual((got["exchange"], got["symbol"]), ("binance", sym))
        self.assertEqual([tuple(l) for l in got["bids"]], want_b[:depth])
        self.assertEqual([tuple(l) for l in got["asks"]], want_a[:depth])
        self.assertEqual(got["update_id"], want_id)
        # the newest stored snapshot, and its age against this clock
        con = sqlite3.connect(self.db)
        newest = con.execute("SELECT MAX(ts_ms) FROM order_book_snapshots WHERE exchange='binance' AND symbol=?",
                             (sym,)).fetchone()[0]
        con.close()
        self.assertEqual(got["ts"], newest)
        self.assertLess(abs(time.time() * 1000 - newest - got["age_ms"]), 5000)
        self.assertTrue(got["time"].endswith("Z") and "." in got["time"], got["time"])

    def newest_funding(self, sym):
        return max((f for f in self.xsrv.sent_funding if f[0] == sym), key=lambda f: f[1])

    def check_funding(self, got, sym, source):
        _, ts_ms, rate, mark, nxt = self.newest_funding(sym)
        self.assertEqual(got["source"], source, got)
        self.assertEqual((got["ts"], got["rate"], got["mark_price"], got["next_funding_ms"]), (ts_ms, rate, mark, nxt))
        self.assertLess(abs(time.time() * 1000 - ts_ms - got["age_ms"]), 5000)

    # ---- order books and funding: cache, then the database ----

    def test_orderbook_and_funding_from_cache_then_database(self):
        self.stream(redis=self.url)
        srv = self.serve("--redis", self.url)
        for sym in ("BTCUSDT", "ETHUSDT"):
            got = self.get(srv, "/orderbook/binance/%s?depth=%d" % (sym, DEPTH))
            self.check_book(got, sym, "cache")
            self.assertEqual(got["cache"], "redis")
            again = self.get(srv, "/orderbook/binance/%s?depth=%d" % (sym, DEPTH))
            self.assertEqual(again["cache"], "l1", "the second read within the L1 TTL comes from L1")
            self.assertEqual(again["bids"], got["bids"])
        # ?depth cuts; the default (20) returns what is stored (10); names are case-normalised
        self.check_book(self.get(srv, "/orderbook/binance/BTCUSDT?depth=3"), "BTCUSDT", "cache", depth=3)
        self.check_book(self.get(srv, "/orderbook/Binance/btcusdt"), "BTCUSDT", "cache")
        self.check_funding(self.get(srv, "/funding/binance/BTCUSDT"), "BTCUSDT", "cache")
        m = srv.metrics()
        self.assertEqual(m['mts_hot_reads_total{route="%s",source="redis"}' % BOOK], 2)
        self.assertEqual(m['mts_hot_reads_total{route="%s",source="l1"}' % BOOK], 4)
        self.assertEqual(m['mts_hot_reads_total{route="%s",source="redis"}' % FUND], 1)
        self.assertEqual(m['mts_http_requests_total{route="%s",method="GET",code="200"}' % BOOK], 6)

        # no Redis: the same books and funding from the database
        db_srv = self.serve("--redis", "none")
        for sym in ("BTCUSDT", "ETHUSDT"):
            got = self.get(db_srv, "/orderbook/binance/%s?depth=%d" % (sym, DEPTH))
            self.check_book(got, sym, "database")
            self.assertIsNone(got["cache"])
            cached = self.get(srv, "/orderbook/binance/%s?depth=%d" % (sym, DEPTH))
            for k in ("ts", "bids", "asks", "update_id"):
                self.assertEqual(got[k], cached[k], k)
            self.check_funding(self.get(db_srv, "/funding/binance/%s" % sym), sym, "database")
        m = db_srv.metrics()
        self.assertEqual(m['mts_hot_reads_total{route="%s",source="database"}' % BOOK], 2)

    def test_database_only_when_stream_had_no_redis(self):
        self.stream(redis=None)
        self.assertEqual(self.r.keys("orderbook:*"), [])
        srv = self.serve("--redis", self.url)   # Redis up, but nothing in it: the database answers
        self.check_book(self.get(srv, "/orderbook/binance/BTCUSDT?depth=5"), "BTCUSDT", "database", depth=5)
        self.check_funding(self.get(srv, "/funding/binance/ETHUSDT"), "ETHUSDT", "database")

    # ---- errors ----

    def test_404_400_401_405(self):
        srv = self.serve("--redis", self.url)
        e = self.get(srv, "/orderbook/binance/SOLUSDT", expect=404)
        self.assertEqual(e["error"], "not_found")
        self.assertIn("no order book for binance SOLUSDT", e["detail"])
        self.assertIn("mts stream --exchange binance --symbols SOLUSDT --channels book", e["detail"])
        e = self.get(srv, "/funding/bybit/BTCUSDT", expect=404)
        self.assertIn("mts stream --exchange bybit --symbols BTCUSDT --channels funding", e["detail"])
        e = self.get(srv, "/market/BTCUSDT/1h", expect=404)
        self.assertIn("no closed BTCUSDT 1h bar", e["detail"])
        self.assertIn("mts run", e["detail"])
        self.assertIn("unknown exchange 'kraken'", self.get(srv, "/orderbook/kraken/BTCUSDT", expect=404)["detail"])
        for path, what in (("/orderbook/binance/BTC:USDT", "symbol"), ("/funding/bin%20ance/BTCUSDT", "exchange"),
                           ("/orderbook/binance/BTCUSDT?depth=0", "depth"),
                           ("/orderbook/binance/BTCUSDT?depth=1001", "depth"),
                           ("/orderbook/binance/BTCUSDT?dept=5", "dept"), ("/market/BTCUSDT/7q", "interval"),
                           ("/funding/binance/BTCUSDT?depth=5", "depth"),
                           ("/orderbook/binance/" + "X" * 40, "symbol")):
            e = self.get(srv, path, expect=400)
            self.assertIn(what, e["detail"], path)
        # more or fewer segments: no such route
        for path in ("/orderbook/binance", "/orderbook/binance/BTCUSDT/x", "/market//1h"):
            self.assertEqual(srv.request("GET", path, token=self.token)[0], 404, path)
        st, h, _ = srv.request("GET", "/orderbook/binance/BTCUSDT")
        self.assertEqual(st, 401)
        st, h, _ = srv.request("POST", "/funding/binance/BTCUSDT", body="{}", token=self.token)
        self.assertEqual((st, h.get("allow")), (405, "GET"))
        m = srv.metrics()
        self.assertEqual(m['mts_http_requests_total{route="%s",method="GET",code="404"}' % BOOK], 2)

    def test_bad_redis_url_is_refused_at_start(self):
        r = self.mts("serve", "--port", "0", "--db", self.db, "--no-auth", "--redis", "redis://:pw@127.0.0.1:bad",
                     expect=2, timeout=30)
        self.assertIn("bad Redis URL", r.stderr)
        self.assertNotIn("pw", r.stderr, "the password is masked")

    def test_reads_are_rate_limited(self):
        srv = self.serve("--redis", "none", "--rate-limit-read", "3")
        codes = [srv.request("GET", "/funding/binance/BTCUSDT", token=self.token)[0] for _ in range(5)]
        self.assertEqual(codes, [404, 404, 404, 429, 429])

    # ---- the L1 bound ----

    def test_l1_serves_a_redis_value_at_most_cache_ttl(self):
        key = "orderbook:binance:BTCUSDT:latest"

        def book(price):
            return json.dumps({"exchange": "binance", "symbol": "BTCUSDT", "ts": 1700000000123, "update_id": 7,
                               "bids": [[price, 1.5]], "asks": [[price + 1, 2.5]]})
        self.r.cmd("SET", key, book(100.25), "EX", 60)
        srv = self.serve("--redis", self.url, "--cache-ttl", "1")
        self.assertEqual(self.get(srv, "/orderbook/binance/BTCUSDT")["bids"], [[100.25, 1.5]])
        self.r.cmd("SET", key, book(200.5), "EX", 60)
        got = self.get(srv, "/orderbook/binance/BTCUSDT")
        self.assertEqual((got["cache"], got["bids"]), ("l1", [[100.25, 1.5]]), "within the TTL: the L1 copy")
        time.sleep(1.1)
        got = self.get(srv, "/orderbook/binance/BTCUSDT")
        self.assertEqual((got["cache"], got["bids"], got["asks"]), ("redis", [[200.5, 1.5]], [[201.5, 2.5]]))
        self.assertEqual((got["ts"], got["time"], got["update_id"]), (1700000000123, "2023-11-14T22:13:20.123Z", 7))
        # --cache-ttl 0: every read asks Redis
        nol1 = self.serve("--redis", self.url, "--cache-ttl", "0")
        self.assertEqual(self.get(nol1, "/orderbook/binance/BTCUSDT")["cache"], "redis")
        self.r.cmd("SET", key, book(300.75), "EX", 60)
        got = self.get(nol1, "/orderbook/binance/BTCUSDT")
        self.assertEqual((got["cache"], got["bids"]), ("redis", [[300.75, 1.5]]))
        # a value that is not an order book: the database answers (here: nothing there -> 404, not 5xx)
        self.r.cmd("SET", key, "{not json", "EX", 60)
        self.assertEqual(nol1.request("GET", "/orderbook/binance/BTCUSDT", token=self.token)[0], 404)
        self.assertIn("serve.cache_bad_value", nol1.log_text())

    # ---- /market: live_bars of a paper session, and the cache key ----

    def test_market_from_database_then_cache(self):
        bars = xs.read_kline_csv(FIXTURE)[:40]
        ksrv = xs.KlineServer("binance", {"BTCUSDT": bars}, interval="1h", warm=0, pace=0.002).start()
        self.addCleanup(ksrv.stop)
        self.mts("run", "--strategy", "sma_cross", "--exchange", "binance", "--symbol", "BTCUSDT", "--interval",
                 "1h", "--db", self.db, "--ws-url", ksrv.ws_url(), "--rest-url", ksrv.rest_url(), "--warmup", "0",
                 "--max-bars", str(len(bars)), "--redis", "none", "--json",
                 env={"MTS_WS_BACKOFF_MS": "100", "REDIS_URL": ""}, timeout=120)
        last = bars[-1]   # the newest closed bar, from the fixture
        srv = self.serve("--redis", self.url)
        got = self.get(srv, "/market/BTCUSDT/1h")
        self.assertEqual((got["source"], got["exchange"], got["symbol"], got["interval"]),
                         ("database", "binance", "BTCUSDT", "1h"))
        self.assertEqual(got["open_ms"], int(last[0]))
        self.assertEqual(got["close_ms"], int(last[0]) + 3600000)
        self.assertEqual([got[k] for k in ("open", "high", "low", "close", "volume")], [float(x) for x in last[1:]])
        self.assertLess(abs(time.time() * 1000 - (int(last[0]) + 3600000) - got["age_ms"]), 5000)
        self.assertEqual(self.get(srv, "/market/BTCUSDT/1h?exchange=binance")["open_ms"], int(last[0]))
        self.assertIn("of bybit", self.get(srv, "/market/BTCUSDT/1h?exchange=bybit", expect=404)["detail"])
        self.get(srv, "/market/BTCUSDT/5m", expect=404)

        # the key `mts run` writes (docs/live.md: the `bar` payload), written here
        bar = {"exchange": "binance", "symbol": "BTCUSDT", "interval": "1h", "open_ms": 1700002800000,
               "open": 36500.5, "high": 36612, "low": 36480.25, "close": 36590.75, "volume": 123.456}
        self.r.cmd("SET", "market:BTCUSDT:1h:latest", json.dumps(bar, separators=(",", ":")), "EX", 1800)
        got = self.get(srv, "/market/BTCUSDT/1h")
        self.assertEqual((got["source"], got["cache"], got["exchange"]), ("cache", "redis", "binance"))
        self.assertEqual((got["open_ms"], got["close_ms"], got["time"]),
                         (1700002800000, 1700006400000, "2023-11-14T23:00:00.000Z"))
        self.assertEqual([got[k] for k in ("open", "high", "low", "close", "volume")],
                         [36500.5, 36612, 36480.25, 36590.75, 123.456])
        self.assertEqual(self.get(srv, "/market/btcusdt/1h?exchange=binance")["source"], "cache")
        # the cached bar is binance's: a bybit reader gets the database's (none here)
        self.get(srv, "/market/BTCUSDT/1h?exchange=bybit", expect=404)

    # ---- Redis going away ----

    def test_redis_down_midway_falls_back_to_the_database(self):
        self.own = OwnRedis(self.tmp).start()
        self.stream(redis=self.own.url())
        srv = self.serve("--redis", self.own.url(), "--cache-ttl", "0")
        path = "/orderbook/binance/BTCUSDT?depth=%d" % DEPTH
        self.check_book(self.get(srv, path), "BTCUSDT", "cache")
        self.own.stop()
        t0 = time.time()
        for _ in range(20):   # no 5xx, the same book, and quickly (the reconnect backs off)
            self.check_book(self.get(srv, path), "BTCUSDT", "database")
            self.check_funding(self.get(srv, "/funding/binance/ETHUSDT"), "ETHUSDT", "database")
        self.assertLess(time.time() - t0, 10)
        h = srv.json("GET", "/health", expect=None)[0]
        self.assertIn(h["status"], ("ok", "degraded"))
        # Redis back (empty: the stream's keys are gone): writes become visible again
        self.own.start()
        r = tcs.Resp(self.own.url())
        want_b, want_a, want_id = self.xsrv.final_top("BTCUSDT", DEPTH)
        r.cmd("SET", "orderbook:binance:BTCUSDT:latest",
              json.dumps({"exchange": "binance", "symbol": "BTCUSDT", "ts": 1, "update_id": want_id,
                          "bids": want_b, "asks": want_a}))
        r.close()
        deadline, got = time.time() + 15, None
        while time.time() < deadline:
            got = self.get(srv, path)
            if got["source"] == "cache":
                break
            time.sleep(0.2)
        self.assertEqual((got["source"], got["ts"]), ("cache", 1), "reconnected after the backoff")
        log = srv.log_text()
        self.assertIn('"event":"cache.error"', log)
        self.assertIn('"event":"cache.reconnected"', log)

    def health(self, srv):
        return srv.json("GET", "/health", token=self.token, expect=None)[0]

    def test_health_sees_redis_back_within_a_second(self):
        """After Redis returns, /health said "down" until the reconnect backoff
        (doubling to 10 s) ran out; now it answers the truth within ~1 s
        (issue 9, "Smaller")."""
        self.own = OwnRedis(self.tmp).start()
        srv = self.serve("--redis", self.own.url())
        h = self.health(srv)
        self.assertEqual((h["status"], h["checks"]["bus"]["ok"]), ("ok", True), h)
        self.own.stop()
        deadline = time.time() + 5
        while time.time() < deadline and self.health(srv)["status"] == "ok":
            time.sleep(0.05)
        self.assertEqual(self.health(srv)["status"], "degraded")
        time.sleep(4)                  # down long enough for the backoff to grow past 2 s
        self.own.start()
        t0 = time.time()
        h = None
        while time.time() - t0 < 5:
            h = self.health(srv)
            if h["status"] == "ok":
                break
            time.sleep(0.1)
        took = time.time() - t0
        self.assertEqual(h["status"], "ok", h)
        self.assertLess(took, 1.5, "/health said Redis was down %.1f s after it answered again" % took)
        self.assertTrue(h["checks"]["redis"]["ok"])

    def test_redis_password_missing_names_noauth(self):
        """A redis:// URL without the password of a protected server: the error
        says a password is required and how to give it, not "PING: unexpected
        reply" (issue 9, "Smaller")."""
        self.own = OwnRedis(self.tmp).start("--requirepass", "pa55-word")
        srv = self.serve("--redis", self.own.url())
        h = self.health(srv)
        self.assertEqual(h["status"], "degraded", h)
        err = h["checks"]["bus"]["error"]
        self.assertNotIn("unexpected reply", err)
        self.assertIn("NOAUTH", err)
        self.assertIn("password", err)
        self.assertIn("redis://:PASSWORD@127.0.0.1:%d" % self.own.port, err)
        self.assertIn("REDIS_URL", err)
        self.assertIn("NOAUTH", srv.log_text())
        # with the password in the URL: ok
        srv2 = self.serve("--redis", "redis://:pa55-word@127.0.0.1:%d" % self.own.port)
        h = self.health(srv2)
        self.assertEqual((h["status"], h["checks"]["bus"]["ok"]), ("ok", True), h)
        # a wrong one is named as such, and the password is not shown
        srv3 = self.serve("--redis", "redis://:not-it@127.0.0.1:%d" % self.own.port)
        h = self.health(srv3)
        self.assertEqual(h["status"], "degraded", h)
        self.assertNotIn("not-it", json.dumps(h))
        self.assertIn("password", h["checks"]["bus"]["error"])


if __name__ == "__main__":
    unittest.main()
