"""`mts stream --redis`: order book snapshots and funding updates written to a
real redis-server ($MTS_TEST_REDIS_URL, from tests/redis_env.sh) under
orderbook:/funding: keys with their TTLs, ...:latest equal to the stand-in
exchange's book, and published on the Redis bus. Checked with a RESP client
written here (standard library only), not with mts. Without a Redis URL
nothing is written to Redis. Each test uses a Redis database of its own and
deletes its keys afterwards (no FLUSHDB)."""
import json
import socket
import sqlite3
import unittest

from exchange_server import ExchangeServer
from mtslib import MtsTestCase, Resp, redis_url  # noqa: F401 (Resp is used by test_serve_cache too)

DEPTH = 10




class CacheStreamTest(MtsTestCase):
    def setUp(self):
        super().setUp()
        self.srv = None
        self.r = None

    def tearDown(self):
        if self.srv:
            self.srv.stop()
        if self.r:
            for pat in ("orderbook:*", "funding:*", "mts:bus"):
                for k in self.r.keys(pat):
                    self.r.cmd("DEL", k)
            self.r.close()
        super().tearDown()

    def env(self, redis_env=""):
        u = self.srv.url()
        return {"BINANCE_WS_URL": u, "BINANCE_FUTURES_WS_URL": u, "BINANCE_REST_URL": self.srv.url("http"),
                "BYBIT_WS_URL": u + "/v5/public/linear", "MTS_WS_BACKOFF_MS": "100",
                "MTS_WS_PING_INTERVAL_MS": "300", "REDIS_URL": redis_env}

    def stream(self, exchange, extra=(), duration="3s", redis_env="", expect=0):
        r = self.mts("stream", "--exchange", exchange, "--symbols", "BTCUSDT,ETHUSDT", "--duration", duration,
                     "--depth", str(DEPTH), "--db", self.db, "--json", *extra, env=self.env(redis_env),
                     timeout=60, expect=expect)
        return (json.loads(r.stdout) if expect == 0 else None), r

    def check_redis(self, exchange, s, db):
        r = self.r
        self.assertTrue(s["redis"]["configured"])
        self.assertEqual(s["redis"]["errors"], 0, s)
        # order books: every stored snapshot has a key with the 1 h TTL; the
        # newest equals :latest and the stand-in's book, level by level
        con = sqlite3.connect(self.db)
        for sym in ("BTCUSDT", "ETHUSDT"):
            keys = r.keys("orderbook:%s:%s:*" % (exchange, sym))
            latest = "orderbook:%s:%s:latest" % (exchange, sym)
            self.assertIn(latest, keys)
            stamps = sorted(int(k.rsplit(":", 1)[1]) for k in keys if k != latest)
            db_stamps = [t for (t,) in con.execute(
                "SELECT DISTINCT ts_ms FROM order_book_snapshots WHERE exchange=? AND symbol=? ORDER BY ts_ms",
                (exchange, sym))]
            self.assertEqual(stamps, db_stamps, "one key per stored snapshot")
            for k in keys:
                ttl = r.cmd("TTL", k)
                self.assertTrue(3590 <= ttl <= 3600, (k, ttl))
            newest = json.loads(r.cmd("GET", "orderbook:%s:%s:%d" % (exchange, sym, stamps[-1])))
            got = json.loads(r.cmd("GET", latest))
            self.assertEqual(got, newest)
            want_b, want_a, want_id = self.srv.final_top(sym, DEPTH)
            self.assertEqual(got["exchange"], exchange)
            self.assertEqual(got["symbol"], sym)
            self.assertEqual(got["ts"], stamps[-1])
            self.assertEqual(got["update_id"], want_id)
            self.assertEqual([tuple(l) for l in got["bids"]], want_b)
            self.assertEqual([tuple(l) for l in got["asks"]], want_a)
        # funding: one key per update the stand-in sent, values exact, 24 h TTL
        want = {(sym, ts): (rate, mark, nxt) for sym, ts, rate, mark, nxt in self.srv.sent_funding}
        got = {}
        latest = {}
        for k in r.keys("funding:%s:*" % exchange):
            ttl = r.cmd("TTL", k)
            self.assertTrue(86390 <= ttl <= 86400, (k, ttl))
            v = json.loads(r.cmd("GET", k))
            if k.endswith(":latest"):
                latest[v["symbol"]] = v
                continue
            sym, ts = k.split(":")[2], int(k.split(":")[3])
            self.assertEqual((v["symbol"], v["ts"]), (sym, ts))
            got[(sym, ts)] = (v["rate"], v["mark_price"], v["next_funding_ms"])
        self.assertEqual(got, want)
        for sym, v in latest.items():
            newest = max(ts for (s2, ts) in want if s2 == sym)
            self.assertEqual(v["ts"], newest)
        self.assertEqual(sorted(latest), sorted({sym for sym, _ in want}))
        n_keys = 2 * (sum(len(r.keys("orderbook:%s:%s:*" % (exchange, sym))) - 1 for sym in ("BTCUSDT", "ETHUSDT"))
                      + len(want))
        self.assertEqual(s["redis"]["keys"], n_keys)
        self.assertGreaterEqual(s["redis"]["batches"], 1)
        # the bus: every snapshot and funding update, in order, on mts:bus
        entries = r.cmd("XRANGE", "mts:bus", "-", "+")
        topics = [dict(zip(e[1][::2], e[1][1::2])) for e in entries]
        self.assertEqual(s["bus"]["backend"], "redis")
        self.assertEqual(s["bus"]["published"], len(topics))
        fund = [json.loads(t["payload"]) for t in topics if t["topic"] == "funding"]
        self.assertEqual(sorted((f["symbol"], f["ts"]) for f in fund), sorted(want))
        books = [json.loads(t["payload"]) for t in topics if t["topic"] == "orderbook"]
        n_snap = con.execute("SELECT COUNT(DISTINCT symbol || ':' || ts_ms) FROM order_book_snapshots "
                             "WHERE exchange=?", (exchange,)).fetchone()[0]
        self.assertEqual(len(books), n_snap)
        last = [b for b in books if b["symbol"] == "BTCUSDT"][-1]
        self.assertEqual(last, json.loads(r.cmd("GET", "orderbook:%s:BTCUSDT:latest" % exchange)))
        con.close()

    def test_binance_with_redis(self):
        db = 11
        self.r = Resp(redis_url(), db)
        self.srv = ExchangeServer("binance", steps=80).start()
        s, _ = self.stream("binance", ["--redis", "%s/%d" % (redis_url(), db)])
        self.assertTrue(self.srv.done.is_set())
        self.check_redis("binance", s, db)

    def test_bybit_with_redis_from_env(self):
        db = 12
        self.r = Resp(redis_url(), db)
        self.srv = ExchangeServer("bybit", steps=80).start()
        s, _ = self.stream("bybit", redis_env="%s/%d" % (redis_url(), db))
        self.check_redis("bybit", s, db)

    def test_without_redis_nothing_is_written(self):
        r = Resp(redis_url())

        def keyspace():
            # "db11:keys=3,expires=3,avg_ttl=..." -> {"db11": "3"}: only the key
            # counts (avg_ttl moves with the clock when other tests left keys)
            return dict((l.split(":")[0], l.split("keys=")[1].split(",")[0])
                        for l in r.cmd("INFO", "keyspace").splitlines() if "keys=" in l)

        before = keyspace()
        cmds_before = [l for l in r.cmd("INFO", "commandstats").splitlines() if l.startswith(("cmdstat_set:", "cmdstat_xadd:"))]
        self.srv = ExchangeServer("binance", steps=60).start()
        s, _ = self.stream("binance", duration="2s")
        self.assertFalse(s["redis"]["configured"])
        self.assertEqual(s["bus"]["backend"], "none")
        self.assertGreater(s["stored"]["book_rows"], 0)
        self.assertEqual(keyspace(), before)
        cmds_after = [l for l in r.cmd("INFO", "commandstats").splitlines() if l.startswith(("cmdstat_set:", "cmdstat_xadd:"))]
        self.assertEqual(cmds_after, cmds_before)
        r.close()

    def test_bus_sqlite_without_redis(self):
        self.srv = ExchangeServer("binance", steps=60).start()
        s, _ = self.stream("binance", ["--bus", "sqlite"], duration="2s")
        self.assertEqual(s["bus"]["backend"], "sqlite")
        con = sqlite3.connect(self.db)
        rows = con.execute("SELECT topic, payload FROM bus_events ORDER BY id").fetchall()
        self.assertEqual(len(rows), s["bus"]["published"])
        fund = sorted((json.loads(p)["symbol"], json.loads(p)["ts"]) for t, p in rows if t == "funding")
        self.assertEqual(fund, sorted((sym, ts) for sym, ts, *_ in self.srv.sent_funding))
        n_snap = con.execute("SELECT COUNT(DISTINCT symbol || ts_ms) FROM order_book_snapshots").fetchone()[0]
        self.assertEqual(sum(1 for t, _ in rows if t == "orderbook"), n_snap)
        con.close()

    def test_redis_down_streams_on(self):
        s0 = socket.socket()
        s0.bind(("127.0.0.1", 0))
        port = s0.getsockname()[1]
        s0.close()
        self.srv = ExchangeServer("binance", steps=60).start()
        s, r = self.stream("binance", ["--redis", "redis://127.0.0.1:%d" % port], duration="2s")
        self.assertIn("Redis is not reachable", r.stderr)
        self.assertIn("cache.down", r.stderr)
        self.assertGreater(s["stored"]["book_rows"], 0)
        con = sqlite3.connect(self.db)
        self.assertEqual(con.execute("SELECT COUNT(*) FROM trades").fetchone()[0], len(self.srv.sent_trades))
        con.close()

    def test_bad_redis_url(self):
        r = self.mts("stream", "--exchange", "binance", "--symbols", "BTCUSDT", "--redis", "redis://host:port",
                     "--db", self.db, expect=2)
        self.assertIn("redis://host:port", r.stderr)
        r = self.mts("stream", "--exchange", "binance", "--symbols", "BTCUSDT", "--bus", "kafka",
                     "--db", self.db, expect=2)
        self.assertIn("--bus", r.stderr)
        r = self.mts("stream", "--exchange", "binance", "--symbols", "BTCUSDT", "--bus", "redis",
                     "--redis", "none", "--db", self.db, expect=2, env={"REDIS_URL": ""})
        self.assertIn("Redis URL", r.stderr)
        r = self.mts("stream", "--help")
        self.assertIn("--redis", r.stdout)
        self.assertIn("orderbook:{exchange}:{symbol}:{ts_ms}", r.stdout)


if __name__ == "__main__":
    unittest.main()
