"""mts run --shadow (issue 14, docs/live.md "Shadow strategies"): a shadow
strategy runs on the same live bars in a book of its own, outside the account.

The oracles are separate sessions on the same stand-in feed
(exchange_server.KlineServer, real hourly BTCUSDT bars): the live strategy
alone (a shadow never changes the account), and the candidate alone with the
shadow's parameters and capital (the shadow trades as that session does).
Nothing here compares the code under test with itself: each number on the
shadow's side comes from a session that had no shadow at all."""
import json
import os
import sqlite3
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import exchange_server as xs  # noqa: E402
from mtslib import MTS, MtsTestCase  # noqa: E402

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "live",
                       "BTCUSDT_1h_2021-01.csv")
BARS = xs.read_kline_csv(FIXTURE)
N = 360                      # >= 300 live bars
CAPITAL = "10000"
LABEL = "sma_cross:fast=5,slow=20"
ENV = {"MTS_WS_BACKOFF_MS": "100", "MTS_LOG_LEVEL": "info"}


class ShadowTest(MtsTestCase):

    def setUp(self):
        super().setUp()
        self.root = self.make_root()
        self.env = dict(ENV, MTS_ROOT=self.root)

    def session(self, db, *extra, expect=0):
        srv = xs.KlineServer("binance", {"BTCUSDT": BARS[:N]}, interval="1h", warm=0, pace=0.002).start()
        self.addCleanup(srv.stop)
        r = self.mts("run", "--exchange", "binance", "--symbol", "BTCUSDT", "--interval", "1h", "--db", db,
                     "--ws-url", srv.ws_url(), "--rest-url", srv.rest_url(), "--warmup", "0", "--max-bars", str(N),
                     "--capital", CAPITAL, "--json", *extra, env=self.env, expect=expect, timeout=180)
        if expect != 0:
            return None, None, r
        lines = [json.loads(x) for x in r.stdout.splitlines() if x.strip()]
        summary = lines[-1]
        self.assertEqual(summary["type"], "session", r.stdout[-2000:])
        self.assertEqual(summary["status"], "stopped")
        self.assertEqual(summary["live_bars"], N)
        self.assertEqual(summary["disabled"], [], r.stderr[-2000:])
        return summary, lines, r

    @staticmethod
    def q(db, sql, *args):
        con = sqlite3.connect(db)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()

    FILL = "SELECT ts, side, qty, price, fee, realized_pnl FROM paper_fills WHERE session_id = ? %s ORDER BY id"

    def test_shadow_beside_the_live_strategy(self):
        db = os.path.join(self.tmp, "shadow.db")
        db_live = os.path.join(self.tmp, "live.db")
        db_cand = os.path.join(self.tmp, "cand.db")
        s, lines, _ = self.session(db, "--strategy", "sma_cross", "--shadow", LABEL)
        alone, _, _ = self.session(db_live, "--strategy", "sma_cross")
        cand, _, _ = self.session(db_cand, "--strategy", "sma_cross", "--param", "fast=5", "--param", "slow=20")
        sid, sid_live, sid_cand = s["session"], alone["session"], cand["session"]

        # (1) the account is the live strategy alone: fills, equity curve, final equity, counts
        live_fills = self.q(db, self.FILL % "AND shadow = 0", sid)
        self.assertGreaterEqual(len(live_fills), 4, "the slice must make sma_cross trade")
        self.assertEqual(live_fills, self.q(db_live, self.FILL % "", sid_live))
        eq_sql = "SELECT ts, equity FROM paper_equity WHERE session_id = ? ORDER BY ts"
        self.assertEqual(self.q(db, eq_sql, sid), self.q(db_live, eq_sql, sid_live))
        self.assertEqual(s["final_equity"], alone["final_equity"])
        self.assertEqual(s["fills"], alone["fills"])
        self.assertEqual(s["signals"], alone["signals"])
        self.assertEqual([(b["book"], b["strategy"], b["final"]) for b in s["books"]],
                         [(b["book"], b["strategy"], b["final"]) for b in alone["books"]])

        # (2) the shadow is the candidate alone with the same capital (one live book: all of it)
        sh_fills = self.q(db, self.FILL % "AND shadow = 1", sid)
        cand_fills = self.q(db_cand, self.FILL % "", sid_cand)
        self.assertGreaterEqual(len(cand_fills), 4, "the slice must make the candidate trade")
        self.assertNotEqual(cand_fills, live_fills, "the candidate must trade otherwise than the live one")
        self.assertEqual(sh_fills, cand_fills)
        self.assertEqual(len(s["shadows"]), 1)
        sh = s["shadows"][0]
        self.assertEqual((sh["label"], sh["strategy"], sh["book"]), (LABEL, "sma_cross", 1))
        self.assertEqual((sh["params"]["fast"], sh["params"]["slow"]), (5, 20))
        self.assertEqual(sh["initial"], float(CAPITAL))
        self.assertEqual(sh["final"], cand["final_equity"])
        self.assertEqual(sh["fills"], cand["fills"])
        self.assertEqual(sh["fees"], cand["fees"])
        self.assertAlmostEqual(sh["pnl"], cand["final_equity"] - float(CAPITAL), places=9)
        # its equity point per step: the candidate's curve
        beq = self.q(db, "SELECT ts, equity FROM paper_book_equity WHERE session_id = ? AND book = 1 ORDER BY ts", sid)
        self.assertEqual(beq, self.q(db_cand, eq_sql, sid_cand))
        # and the live book's points are the account's
        beq0 = self.q(db, "SELECT ts, equity FROM paper_book_equity WHERE session_id = ? AND book = 0 ORDER BY ts", sid)
        self.assertEqual(beq0, self.q(db, eq_sql, sid))

        # (3) stored and published rows carry the label and the shadow flag
        books = self.q(db, "SELECT book, strategy, shadow, initial, equity, fills FROM paper_books "
                           "WHERE session_id = ? ORDER BY book", sid)
        self.assertEqual(books, [(0, "sma_cross", 0, float(CAPITAL), alone["final_equity"], alone["fills"]),
                                 (1, LABEL, 1, float(CAPITAL), cand["final_equity"], cand["fills"])])
        self.assertEqual(self.q(db, "SELECT DISTINCT strategy FROM paper_fills WHERE session_id = ? AND shadow = 1",
                                sid), [(LABEL,)])
        sig_sql = "SELECT timestamp, asset, signal_type, price FROM signal_history WHERE strategy_name = ? ORDER BY id"
        sh_sigs = self.q(db, sig_sql, LABEL)
        self.assertEqual(sh_sigs, self.q(db_cand, sig_sql, "sma_cross"))
        self.assertEqual(self.q(db, sig_sql, "sma_cross"), self.q(db_live, sig_sql, "sma_cross"))
        bus = [(t, json.loads(p)) for t, p in self.q(db, "SELECT topic, payload FROM bus_events ORDER BY id")]
        fills_bus = [p for t, p in bus if t == "fill"]
        self.assertEqual(sum(1 for p in fills_bus if p["shadow"]), len(sh_fills))
        self.assertTrue(all(p["strategy"] == LABEL for p in fills_bus if p["shadow"]))
        self.assertTrue(all(p["strategy"] == "sma_cross" and p["book"] == 0 for p in fills_bus if not p["shadow"]))
        sig_bus = [p for t, p in bus if t == "signal"]
        self.assertEqual(sorted(p["strategy"] for p in sig_bus if p["shadow"]), [LABEL] * len(sh_sigs))
        self.assertFalse(any(p["strategy"] == LABEL for p in sig_bus if not p["shadow"]))
        book_bus = [p for t, p in bus if t == "book"]
        self.assertEqual({(p["book"], p["strategy"], p["shadow"]) for p in book_bus},
                         {(0, "sma_cross", False), (1, LABEL, True)})
        # one message per book per step: the shadow's are the candidate's equity curve
        self.assertEqual([(p["ts"], p["equity"]) for p in book_bus if p["book"] == 1],
                         self.q(db_cand, eq_sql, sid_cand))
        self.assertEqual([(p["ts"], p["equity"]) for p in book_bus if p["book"] == 0], self.q(db, eq_sql, sid))
        # the JSON lines on stdout
        fl = [x for x in lines if x["type"] == "fill"]
        self.assertEqual(sorted((x["strategy"], x["shadow"]) for x in fl if x["shadow"]), [(LABEL, True)] * len(sh_fills))
        sl = [x for x in lines if x["type"] == "signal" and x["shadow"]]
        self.assertEqual(len(sl), len(sh_sigs))

        # (4) the replay re-creates the shadow: identical, shadow fills compared too
        r = subprocess.run([MTS, "replay", str(sid), "--db", db, "--json"], env=dict(os.environ, **self.env),
                           capture_output=True, text=True, timeout=180)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:] + r.stdout[-2000:])
        rep = json.loads(r.stdout)
        self.assertTrue(rep["identical"], rep)
        self.assertEqual(rep["replayed"]["trades"], len(live_fills))
        self.assertEqual(len(rep["shadows"]), 1)
        rs = rep["shadows"][0]
        self.assertEqual(rs["label"], LABEL)
        self.assertEqual(rs["recorded"]["fills"], len(cand_fills))
        self.assertEqual(rs["replayed"]["fills"], len(cand_fills))
        self.assertEqual(rs["replayed"]["final_equity"], cand["final_equity"])
        html = os.path.join(self.tmp, "r.html")
        human = subprocess.run([MTS, "replay", str(sid), "--db", db, "--report", html], env=dict(os.environ, **self.env),
                               capture_output=True, text=True, timeout=180)
        self.assertEqual(human.returncode, 0, human.stderr)
        self.assertIn("identical", human.stdout)
        self.assertIn("live vs shadow:", human.stdout)
        self.assertIn("shadow %s (book 1): %d fills recorded, %d replayed" % (LABEL, len(cand_fills), len(cand_fills)),
                      human.stdout)
        with open(html) as f:
            self.assertIn("<td>%s</td>" % LABEL, f.read())
        # a shadow fill changed by hand: the replay finds it (the shadows' fills are compared too)
        con = sqlite3.connect(db)
        con.execute("UPDATE paper_fills SET price = price + 1 WHERE id = (SELECT MIN(id) FROM paper_fills "
                    "WHERE session_id = ? AND shadow = 1)", (sid,))
        con.commit()
        con.close()
        r = subprocess.run([MTS, "replay", str(sid), "--db", db, "--json"], env=dict(os.environ, **self.env),
                           capture_output=True, text=True, timeout=180)
        self.assertEqual(r.returncode, 1, r.stderr[-2000:])
        rep = json.loads(r.stdout)
        self.assertFalse(rep["identical"])
        self.assertTrue(rep["divergence"].startswith("shadow fill 1: recorded ts %d %s" % (sh_fills[0][0], LABEL)),
                        rep["divergence"])

    def test_vote_mode_shadow_aggregated_alone(self):
        # vote mode: the live strategies vote in one book; the shadow's signals never join the vote
        db, db_live, db_cand = (os.path.join(self.tmp, x) for x in ("v.db", "vl.db", "vc.db"))
        live = ("--strategy", "sma_cross,mean_reversion", "--mode", "vote")
        s, _, _ = self.session(db, *live, "--shadow", LABEL)
        alone, _, _ = self.session(db_live, *live)
        cand, _, _ = self.session(db_cand, "--strategy", "sma_cross", "--param", "fast=5", "--param", "slow=20")
        live_fills = self.q(db, self.FILL % "AND shadow = 0", s["session"])
        self.assertGreaterEqual(len(live_fills), 2)
        self.assertEqual(live_fills, self.q(db_live, self.FILL % "", alone["session"]))
        self.assertEqual(s["final_equity"], alone["final_equity"])
        sh_fills = self.q(db, self.FILL % "AND shadow = 1", s["session"])
        self.assertGreaterEqual(len(sh_fills), 4)
        self.assertEqual(sh_fills, self.q(db_cand, self.FILL % "", cand["session"]))
        self.assertEqual(s["shadows"][0]["final"], cand["final_equity"])

    def test_table_output_and_capital(self):
        # two live books (60/40): a shadow of sma_cross gets the sma_cross book's capital
        db = os.path.join(self.tmp, "t.db")
        st = os.path.join(self.root, "scripts", "strategies")
        with open(os.path.join(st, "sma_cross.lua")) as f:
            src = f.read()
        with open(os.path.join(st, "sma_fast.lua"), "w") as f:
            f.write(src)
        srv = xs.KlineServer("binance", {"BTCUSDT": BARS[:120]}, interval="1h", warm=0, pace=0.002).start()
        self.addCleanup(srv.stop)
        r = self.mts("run", "--exchange", "binance", "--symbol", "BTCUSDT", "--interval", "1h", "--db", db,
                     "--ws-url", srv.ws_url(), "--rest-url", srv.rest_url(), "--warmup", "0", "--max-bars", "120",
                     "--capital", CAPITAL, "--strategy", "sma_cross,sma_fast", "--allocate", "sma_cross=0.6,sma_fast=0.4",
                     "--shadow", "sma_cross:fast=5,slow=20", "--shadow", "sma_fast:fast=3",
                     "--shadow", "mean_reversion", env=self.env, timeout=180)
        out = r.stdout
        self.assertIn("live vs shadow:", out)
        # capital rule: sma_cross's book 6000 (0.6 x 10000), sma_fast's 4000, mean_reversion (no live book) 10000
        caps = dict((row[0], row[1]) for row in self.q(db, "SELECT strategy, initial FROM paper_books WHERE shadow = 1"))
        self.assertEqual(caps, {"sma_cross:fast=5,slow=20": 6000.0, "sma_fast:fast=3": 4000.0, "mean_reversion": 10000.0})
        for label in caps:
            self.assertIn("shadow " + label, out)
        # the shadow's signal lines say so
        sig_lines = [x for x in out.splitlines() if "  signal  " in x]
        self.assertTrue(any("signal  shadow " in x for x in sig_lines), out[-3000:])
        # recorded with the session's options (what mts replay re-creates them from)
        opts = json.loads(self.q(db, "SELECT options FROM paper_sessions")[0][0])
        self.assertEqual({x["label"]: x["capital"] for x in opts["shadows"]}, caps)

    def test_refused_labels(self):
        db = os.path.join(self.tmp, "r.db")
        base = ("run", "--exchange", "binance", "--symbol", "BTCUSDT", "--interval", "1h", "--db", db,
                "--ws-url", "ws://127.0.0.1:9", "--rest-url", "http://127.0.0.1:9", "--max-bars", "1",
                "--strategy", "sma_cross")
        r = self.mts(*base, "--shadow", "sma_cross", env=self.env, expect=2)
        self.assertIn("a live strategy has that name", r.stderr)
        r = self.mts(*base, "--shadow", "sma_cross:fast=5", "--shadow", "sma_cross:fast=5", env=self.env, expect=2)
        self.assertIn("given twice", r.stderr)
        r = self.mts(*base, "--shadow", "no_such_strategy", env=self.env, expect=2)
        self.assertIn("no_such_strategy", r.stderr)
        r = self.mts(*base, "--shadow", "sma_cross:fast", env=self.env, expect=2)
        self.assertIn("KEY=VALUE", r.stderr)
        r = self.mts(*base, *sum((("--shadow", "sma_cross:fast=%d" % k) for k in range(2, 11)), ()), env=self.env,
                     expect=2)
        self.assertIn("at most 8", r.stderr)
        r = self.mts(*base, "--shadow-capital", "500", env=self.env, expect=2)
        self.assertIn("--shadow-capital without --shadow", r.stderr)
        # an unknown parameter: the runner's usual error, naming the shadow
        srv = xs.KlineServer("binance", {"BTCUSDT": BARS[:5]}, interval="1h", warm=0, pace=0.002).start()
        self.addCleanup(srv.stop)
        r = self.mts("run", "--exchange", "binance", "--symbol", "BTCUSDT", "--interval", "1h", "--db", db,
                     "--ws-url", srv.ws_url(), "--rest-url", srv.rest_url(), "--warmup", "0", "--max-bars", "5",
                     "--strategy", "sma_cross", "--shadow", "sma_cross:nope=1", env=self.env, expect=None)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--shadow sma_cross:nope=1", r.stderr)
        self.assertIn("nope", r.stderr)


if __name__ == "__main__":
    unittest.main()
