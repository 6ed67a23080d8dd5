"""GET /paper/sessions/{id} with the books of a session (schema v11 paper_books,
store/paper.h): rows written here with sqlite3 into a database `mts serve`
migrated, read back through the server: live books first, then the shadow books,
pnl and return computed here from the stored numbers, updated_at from the stored
bar time; fills carry `shadow` and the session's `fills` counts the account's
only. A database of schema v10 (tests/fixtures/db/schema_v10.db) served as is:
its fills read `"shadow": false`, its sessions `"books": []`. Every answer is
checked against docs/openapi.json by mtslib (the Fill and SessionBook schemas are
closed: an undescribed key fails). The REPL: mts.session(id) (the books split
live / shadow, a printout with the books table) and mts.sessions([n])."""
import datetime as dt
import os
import shutil
import sqlite3
import time
import unittest

from mtslib import ROOT, MtsTestCase, run
from test_serve import Server, make_token


def iso(ts):
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class SessionBooksTest(MtsTestCase):
    def setUp(self):
        super().setUp()
        self.servers = []

    def tearDown(self):
        bad = [(s.stop(), s.log_text()[-3000:]) for s in self.servers]
        super().tearDown()
        for rc, log in bad:
            self.assertEqual(rc, 0, log)

    def serve(self, db=None):
        s = Server(db or self.db, tmp=self.tmp)
        self.servers.append(s)
        return s

    def test_books_live_first_then_shadows(self):
        srv = self.serve()   # opening the database migrates it to the current schema
        con = sqlite3.connect(self.db)
        self.assertEqual(con.execute("PRAGMA user_version").fetchone()[0], 11)
        con.execute("INSERT INTO paper_sessions(id, started_at, stopped_at, strategies, exchange, symbols, interval,"
                    " initial_capital, commission_bps, slippage_bps, status, bars, final_equity)"
                    " VALUES(3, 1700000000, 1700007200, 'sma_cross,rsi', 'binance', 'BTCUSDT', '1h', 10000, 10, 0,"
                    " 'stopped', 2, 10010.5)")
        fills = [  # (ts, side, qty, price, fee, pnl, book, strategy, shadow)
            (1700003600, "buy", 0.1, 37000.5, 3.70005, 0.0, 0, "sma_cross", 0),
            (1700003600, "buy", 0.05, 37000.5, 1.850025, 0.0, 2, "sma_cross:fast=5", 1),
            (1700007200, "sell", 0.05, 37100.0, 1.855, 4.975, 2, "sma_cross:fast=5", 1)]
        con.executemany("INSERT INTO paper_fills(session_id, ts, asset, side, qty, price, fee, realized_pnl, book,"
                        " strategy, reason, funding, shadow) VALUES(3, ?, 'bitcoin', ?, ?, ?, ?, ?, ?, ?, 'signal', 0, ?)",
                        fills)
        # books in no particular order; a shadow (book 2) and a live book (1), a live book with no capital
        books = [  # book, strategy, shadow, initial, equity, cash, fees, funding, fills, trades
            (2, "sma_cross:fast=5", 1, 5000.0, 5001.27, 5001.27, 3.705025, 0.0, 2, 1),
            (0, "sma_cross", 0, 7500.0, 7510.5, 3800.29995, 3.70005, -0.25, 1, 0),
            (1, "rsi", 0, 2500.0, 2500.0, 2500.0, 0.0, 0.0, 0, 0),
            (3, "rsi:period=7", 1, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0)]
        con.executemany("INSERT INTO paper_books(session_id, book, strategy, shadow, initial, equity, cash, fees,"
                        " funding, fills, trades, updated_ts) VALUES(3, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1700007200)",
                        books)
        con.executemany("INSERT INTO paper_book_equity(session_id, book, ts, equity) VALUES(3, ?, ?, ?)",
                        [(0, 1700003600, 7500.0), (2, 1700003600, 5000.0)])
        con.commit()
        con.close()
        tok = make_token()
        one, _ = srv.json("GET", "/paper/sessions/3", token=tok)
        got = one["books"]
        # live books first (0, 1), then the shadows (2, 3), each by book id
        self.assertEqual([(b["book"], b["strategy"], b["shadow"]) for b in got],
                         [(0, "sma_cross", False), (1, "rsi", False), (2, "sma_cross:fast=5", True),
                          (3, "rsi:period=7", True)])
        by = {b[0]: b for b in books}
        for b in got:
            src = by[b["book"]]
            self.assertEqual((b["initial"], b["equity"], b["fees"], b["funding"], b["fills"], b["trades"]),
                             (src[3], src[4], src[6], src[7], src[8], src[9]))
            self.assertEqual(b["pnl"], src[4] - src[3])
            self.assertEqual(b["return"], (src[4] - src[3]) / src[3] if src[3] else None)
            # 1700000000 is 2023-11-14T22:13:20Z; + 2 h
            self.assertEqual((b["updated_ts"], b["updated_at"]), (1700007200, "2023-11-15T00:13:20Z"))
            self.assertEqual(b["updated_at"], iso(1700007200))
            self.assertNotIn("cash", b)
        self.assertEqual(got[0]["pnl"], 10.5)                  # 7510.5 - 7500
        self.assertEqual(got[0]["return"], 10.5 / 7500)
        self.assertIsNone(got[3]["return"])                   # no capital: no return
        # fills: every fill, each with its shadow flag; the session's count is the account's
        self.assertEqual([(f["book"], f["strategy"], f["shadow"]) for f in one["fill_list"]],
                         [(0, "sma_cross", False), (2, "sma_cross:fast=5", True), (2, "sma_cross:fast=5", True)])
        self.assertEqual(one["fills"], 1)
        lst, _ = srv.json("GET", "/paper/sessions", token=tok)
        self.assertEqual([(s["id"], s["fills"]) for s in lst["sessions"]], [(3, 1)])
        self.assertNotIn("books", lst["sessions"][0])
        # a session without book rows: []
        con = sqlite3.connect(self.db)
        con.execute("INSERT INTO paper_sessions(id, started_at, strategies, exchange, symbols, interval,"
                    " initial_capital, commission_bps, slippage_bps, status, bars)"
                    " VALUES(4, 1700000000, 'sma_cross', 'binance', 'BTCUSDT', '1h', 1000, 0, 0, 'stopped', 0)")
        con.commit()
        con.close()
        self.assertEqual(srv.json("GET", "/paper/sessions/4", token=tok)[0]["books"], [])

    def test_v10_database_reads_shadow_false_and_no_books(self):
        db = os.path.join(self.tmp, "v10.db")
        shutil.copy(os.path.join(ROOT, "tests", "fixtures", "db", "schema_v10.db"), db)
        con = sqlite3.connect(db)
        self.assertEqual(con.execute("PRAGMA user_version").fetchone()[0], 10)
        n1 = con.execute("SELECT COUNT(*) FROM paper_fills WHERE session_id = 1").fetchone()[0]
        con.close()
        self.assertEqual(n1, 11)          # the recorded session's fills (tests/fixtures/db/README.md)
        srv = self.serve(db)
        tok = make_token()
        for sid, n in ((1, 11), (2, 1)):
            one, _ = srv.json("GET", "/paper/sessions/%d" % sid, token=tok)
            self.assertEqual(len(one["fill_list"]), n)
            self.assertEqual(one["fills"], n)
            self.assertTrue(all(f["shadow"] is False for f in one["fill_list"]))
            self.assertEqual(one["books"], [])
        con = sqlite3.connect(db)
        self.assertEqual(con.execute("PRAGMA user_version").fetchone()[0], 11)
        con.close()


class ReplSessionTest(MtsTestCase):
    """mts.session(id) and mts.sessions([n]) in `mts repl` (scripts/lib/api.lua) over
    rows written here with sqlite3 into a database bin/mts made."""

    def repl(self, code, expect=0):
        r = run(["repl", "--db", self.db, "-e", code], timeout=60)
        self.assertEqual(r.returncode, expect, r.stdout + r.stderr)
        return r.stdout

    def test_session_books_and_sessions(self):
        self.repl("print(1)")   # makes the database (schema v11)
        con = sqlite3.connect(self.db)
        for i in range(1, 26):
            con.execute("INSERT INTO paper_sessions(id, started_at, strategies, exchange, symbols, interval,"
                        " initial_capital, commission_bps, slippage_bps, status, bars, final_equity)"
                        " VALUES(?, ?, 'sma_cross', 'binance', 'BTCUSDT', '1h', 10000, 10, 0, 'stopped', ?, ?)",
                        (i, 1700000000 + i * 3600, i, 10000 + i))
        con.executemany("INSERT INTO paper_fills(session_id, ts, asset, side, qty, price, fee, realized_pnl, book,"
                        " strategy, reason, funding, shadow) VALUES(25, ?, 'bitcoin', 'buy', 0.1, 100, 0.01, 0, ?, ?,"
                        " 'signal', 0, ?)", [(1700090000, 0, "sma_cross", 0), (1700090000, 1, "sma_cross:fast=5", 1)])
        # the shadow's row written first: the live book still comes first
        con.executemany("INSERT INTO paper_books(session_id, book, strategy, shadow, initial, equity, cash, fees,"
                        " funding, fills, trades, updated_ts) VALUES(25, ?, ?, ?, ?, ?, ?, 0.01, 0, 1, ?, 1700090000)",
                        [(1, "sma_cross:fast=5", 1, 4000.0, 3900.0, 3900.0, 2), (0, "sma_cross", 0, 10000.0, 10025.0,
                                                                                   10025.0, 3)])
        con.executemany("INSERT INTO paper_equity(session_id, ts, equity, cash) VALUES(25, ?, ?, ?)",
                        [(1700086400, 10000.0, 10000.0), (1700090000, 10025.0, 9990.0)])
        con.commit()
        con.close()
        out = self.repl("local s = mts.session(25)\n"
                        "print(#s.books, #s.live, #s.shadows, s.live[1].strategy, s.shadows[1].strategy)\n"
                        "for _, b in ipairs(s.books) do print(b.book, b.shadow, b.pnl, b['return'], b.trades) end\n"
                        "print(#s.fill_list, s.fill_list[2].shadow, s.fills, #s.equity, s.equity[-1], s.cash[2])\n"
                        "print(s)")
        lines = out.splitlines()
        self.assertEqual(lines[0].split("\t"), ["2", "1", "1", "sma_cross", "sma_cross:fast=5"])
        # pnl = equity - initial: 10025 - 10000 = 25 (return 25 / 10000 = 0.0025), 3900 - 4000 = -100 (-0.025)
        self.assertEqual(lines[1].split("\t"), ["0", "false", "25", "0.0025", "3"])
        self.assertEqual(lines[2].split("\t"), ["1", "true", "-100", "-0.025", "2"])
        self.assertEqual(lines[3].split("\t"), ["2", "true", "1", "2", "10025", "9990"])
        text = "\n".join(lines[4:])
        self.assertIn("paper session 25: sma_cross on binance BTCUSDT 1h, stopped", text)
        self.assertIn("books (1 live, 1 shadow):", text)
        rows = [l.split() for l in lines if l.strip()[:1].isdigit() and ("live" in l or "shadow" in l.split())]
        self.assertEqual([r[1:4] for r in rows], [["0", "sma_cross", "live"], ["1", "sma_cross:fast=5", "shadow"]])
        self.assertEqual(rows[0][4:], ["10,000.00", "10,025.00", "25.00", "0.25", "%", "3"])
        self.assertEqual(rows[1][4:], ["4,000.00", "3,900.00", "-100.00", "-2.50", "%", "2"])
        # mts.sessions(): the newest 20 by default, newest first; n chooses
        ids = self.repl("local t = mts.sessions(); print(#t, t[1].id, t[#t].id, t[1].equity, t[1].fills)\n"
                        "print(#mts.sessions(3), mts.sessions(3)[3].id)")
        self.assertEqual(ids.splitlines(), ["20\t25\t6\t10025\t1", "3\t23"])
        shown = self.repl("print(mts.sessions(2))")
        self.assertRegex(shown, r"(?m)^ +1 +25 +stopped +sma_cross +binance +BTCUSDT")
        self.assertRegex(shown, r"(?m)^ +2 +24 +stopped ")
        # a session that is not there says how to list them
        err = self.repl("mts.session(99)", expect=1)
        self.assertIn("no paper session with id 99 (list them: mts.sessions())", err)
        err = self.repl("mts.sessions(0)", expect=1)
        self.assertIn("mts.sessions: n must be", err)


if __name__ == "__main__":
    unittest.main()
