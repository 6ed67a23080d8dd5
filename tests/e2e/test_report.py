"""End-to-end: HTML reports (`mts backtest --report`, `mts report ID --html`,
`mts optimize --report`) opened in headless Chromium (Debian's chromium
package). Checks that the charts are in the rendered DOM, that the metrics
table shows exactly the numbers stored in backtest_results, and that the
screenshot really has the equity line drawn; the screenshots are kept under
tests/artifacts/."""
import csv
import html.parser
import os
import shutil
import sqlite3
import struct
import subprocess
import tempfile
import unittest
import zlib

import json
import math

from mtslib import BUNDLED, ROOT, MtsTestCase, delete_bars, equity_curve, read_bars

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = os.path.join(ROOT, "tests", "artifacts")
METRICS = ["initial_capital", "final_value", "total_return", "annualized_return", "sharpe_ratio",
           "max_drawdown", "volatility", "calmar_ratio", "win_rate", "profit_factor", "trade_count"]
# issue 12: the further metrics, stored in backtest_results.extra (schema v8)
NEW_METRICS = ["sortino_ratio", "exposure_time", "avg_trade", "expectancy", "longest_losing_streak"]


def chromium(args, timeout=120):
    """Run headless Chromium with a fresh profile and nothing that talks to the network."""
    profile = tempfile.mkdtemp(prefix="mts-chromium-")
    try:
        cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--user-data-dir=" + profile] + args
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


class Dom(html.parser.HTMLParser):
    """Every element as (tag, attrs, text) plus the ids of its ancestors."""

    def __init__(self):
        super().__init__()
        self.elems, self.stack = [], []

    VOID = {"meta", "br", "img", "input", "link", "hr", "wbr", "col", "area", "base", "source"}

    def handle_starttag(self, tag, attrs):
        e = {"tag": tag, "attrs": dict(attrs), "text": "", "parent": self.stack[-1] if self.stack else None,
             "in": [x["attrs"].get("id") for x in self.stack if x["attrs"].get("id")]}
        self.elems.append(e)
        if tag not in self.VOID:
            self.stack.append(e)

    def children(self, parent, tag):
        return [e for e in self.elems if e["parent"] is parent and e["tag"] == tag]

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i]["tag"] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data):
        for e in self.stack:
            e["text"] += data

    def find(self, tag=None, inside=None, **attrs):
        out = []
        for e in self.elems:
            if tag and e["tag"] != tag:
                continue
            if inside and inside not in e["in"] and e["attrs"].get("id") != inside:
                continue
            if all(e["attrs"].get(k.replace("_", "-")) == v if v is not True
                   else k.replace("_", "-") in e["attrs"] for k, v in attrs.items()):
                out.append(e)
        return out


def png_pixels(path):
    """(width, height, rows of RGBA bytes) of an 8-bit RGB/RGBA non-interlaced PNG."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    w, h, depth, ctype, _, _, interlace = ihdr
    assert depth == 8 and ctype in (2, 6) and interlace == 0, ihdr
    bpp = 4 if ctype == 6 else 3
    raw, stride, rows, prev = zlib.decompress(idat), w * bpp, [], bytearray(w * bpp)
    for y in range(h):
        ft, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if ft == 1:
                line[i] = (line[i] + a) & 255
            elif ft == 2:
                line[i] = (line[i] + b) & 255
            elif ft == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ft == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line) if bpp == 3 else bytes(v for k, v in enumerate(line) if k % 4 != 3))
        prev = line
    return w, h, rows


def count_color(rows, rgb, tol=40):
    n = 0
    for row in rows:
        for i in range(0, len(row), 3):
            if all(abs(row[i + k] - rgb[k]) <= tol for k in range(3)):
                n += 1
    return n


def same(a, b):
    """Equal, or equal to the last bits: backtest_results.extra is written by
    cJSON, whose printer may drop the 17th digit (0.7300194827281818 is
    stored as 0.730019482728182)."""
    if isinstance(a, float) and math.isnan(a):
        return b is None or (isinstance(b, float) and math.isnan(b))
    return b is not None and math.isclose(a, b, rel_tol=1e-15, abs_tol=0)


def fmt_pct(v):
    return "n/a" if v is None else "%.2f %%" % (v * 100)


def fmt_num(v):
    return "n/a" if v is None else "%.2f" % v


def fmt_money(v):
    return "{:,.2f}".format(v)


@unittest.skipUnless(CHROMIUM, "chromium is not installed (apt-get install chromium, or make deps); "
                               "the HTML report browser test needs it")
class ReportInBrowserTest(MtsTestCase):

    def stored(self, run_id):
        con = sqlite3.connect(self.db)
        con.row_factory = sqlite3.Row
        row = dict(con.execute("SELECT * FROM backtest_results WHERE id = ?", (run_id,)).fetchone())
        trades = con.execute("SELECT * FROM backtest_trades WHERE backtest_id = ? ORDER BY id",
                             (run_id,)).fetchall()
        con.close()
        equity = equity_curve(self.db, run_id)
        return row, trades, equity

    def open_in_chromium(self, path, shot_name):
        r = chromium(["--dump-dom", "file://" + path])
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        self.assertIn("<svg", r.stdout, "chromium returned no DOM: " + r.stderr[-2000:])
        dom = Dom()
        dom.feed(r.stdout)
        os.makedirs(ARTIFACTS, exist_ok=True)
        shot = os.path.join(ARTIFACTS, shot_name)
        if os.path.exists(shot):
            os.unlink(shot)
        r = chromium(["--screenshot=" + shot, "--window-size=1280,2000", "file://" + path])
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        self.assertTrue(os.path.exists(shot) and os.path.getsize(shot) > 10000, "no screenshot")
        return dom, shot

    def test_backtest_report_renders_the_stored_numbers(self):
        out = os.path.join(self.tmp, "out", "report.html")
        os.makedirs(os.path.dirname(out))
        r = self.mts("backtest", "--strategy", "mean_reversion", "--asset", "bitcoin",
                     "--from", "2019-01-01", "--to", "2023-12-31", "--report", out, "--json")
        import json
        res = json.loads(r.stdout)
        run_id = res["id"]
        row, trades, equity = self.stored(run_id)
        self.assertEqual(len(trades), res["trade_count"])
        self.assertGreater(len(trades), 0)
        self.assertEqual(len(equity), res["bars"])

        with open(out, encoding="utf-8") as f:
            page = f.read()
        # self-contained: no scripts, no external references (the SVG namespace is a name, not a fetch)
        self.assertNotIn("<script", page.lower())
        for bad in ("src=\"http", "href=\"http", "url(http", "@import", "<link"):
            self.assertNotIn(bad, page)

        # `mts report ID --html` rebuilds the same file from the database alone
        again = os.path.join(self.tmp, "again.html")
        self.mts("report", str(run_id), "--html", again, "--db", self.db)
        with open(again, encoding="utf-8") as f:
            self.assertEqual(f.read(), page)

        dom, shot = self.open_in_chromium(out, "report_backtest.png")

        # charts: paths with real geometry
        eq = dom.find("path", inside="equity-chart", **{"class": "equity"})
        self.assertEqual(len(eq), 1)
        self.assertGreater(eq[0]["attrs"]["d"].count("L"), 500)
        dd = dom.find("path", inside="drawdown-chart", **{"class": "drawdown"})
        self.assertEqual(len(dd), 1)
        self.assertGreater(dd[0]["attrs"]["d"].count("L"), 500)
        # one entry and one exit marker per stored trade
        entries = [e for e in dom.find("path", inside="equity-chart") if "entry" in e["attrs"].get("class", "")]
        exits = [e for e in dom.find("circle", inside="equity-chart") if "exit" in e["attrs"].get("class", "")]
        self.assertEqual(len(entries), len(trades))
        closed = [t for t in trades if not t["open"]]   # a position open at the end has no exit
        self.assertEqual(len(exits), len(closed))
        wins = sum(1 for t in closed if t["pnl"] > 0)
        self.assertEqual(sum(1 for e in exits if "win" in e["attrs"]["class"]), wins)

        # the metrics table: the exact stored value, and its text rounded from it
        cells = {e["attrs"]["data-metric"]: e for e in dom.find("td", inside="metrics", data_metric=True)}
        self.assertEqual(sorted(cells), sorted(METRICS + NEW_METRICS))
        for k in NEW_METRICS:   # the stored extra's numbers: the ones the run printed
            self.assertTrue(same(float(cells[k]["attrs"]["data-raw"]), res[k]), (k, cells[k]["attrs"], res[k]))
        for k in METRICS:
            stored = row[k]
            raw = cells[k]["attrs"]["data-raw"]
            if stored is None:
                self.assertEqual(raw, "nan", k)
                self.assertEqual(cells[k]["text"], "n/a", k)
                continue
            self.assertEqual(float(raw), float(stored), k)
            if k in ("total_return", "annualized_return", "max_drawdown", "volatility", "win_rate"):
                want = fmt_pct(stored)
            elif k in ("initial_capital", "final_value"):
                want = fmt_money(stored)
            elif k == "trade_count":
                want = str(stored)
            else:
                want = fmt_num(stored)
            self.assertEqual(cells[k]["text"].strip(), want, k)
        # and the same numbers as the run printed
        self.assertAlmostEqual(float(cells["sharpe_ratio"]["attrs"]["data-raw"]), res["sharpe_ratio"], places=12)
        self.assertEqual(float(cells["final_value"]["attrs"]["data-raw"]), res["final_value"])

        # monthly returns: month-end equity / previous month-end - 1, recomputed here from the stored curve
        import datetime as dt
        month_end = {}
        for ts, v in equity:
            d = dt.datetime.fromtimestamp(ts, dt.timezone.utc)
            month_end[(d.year, d.month)] = v
        keys = sorted(month_end)
        prev = row["initial_capital"]
        expect = {}
        for k in keys:
            expect["%d-%02d" % k] = month_end[k] / prev - 1
            prev = month_end[k]
        got = {e["attrs"]["data-month"]: float(e["attrs"]["data-raw"])
               for e in dom.find("td", inside="monthly", data_month=True)}
        self.assertEqual(sorted(got), sorted(expect))
        for k, v in expect.items():
            self.assertAlmostEqual(got[k], v, places=12, msg=k)

        # the trade list: one row per stored trade (plus the header)
        self.assertEqual(len(dom.find("tr", inside="trades")), len(trades) + 1)
        # the parameters and data range
        self.assertIn("rsi", dom.find("pre", inside="parameters")[0]["text"].lower() + page.lower())
        self.assertIn("2019-01-01", dom.find("table", id="run")[0]["text"])

        # the screenshot really shows the equity line (#2563eb) and the drawdown fill (#f3b4ae)
        w, h, rows = png_pixels(shot)
        self.assertEqual((w, h), (1280, 2000))
        self.assertGreater(count_color(rows, (0x25, 0x63, 0xeb)), 300, "no equity line in the screenshot")
        self.assertGreater(count_color(rows, (0xf3, 0xb4, 0xae), tol=20), 2000, "no drawdown area in the screenshot")

    def test_report_errors_say_what_to_do(self):
        r = self.mts("report", "999", "--html", os.path.join(self.tmp, "x.html"), "--db", self.db, expect=1)
        self.assertIn("no backtest with id 999", r.stderr)
        self.assertIn("mts report", r.stderr)
        r = self.mts("report", "--db", self.db)
        self.assertIn("no stored backtests", r.stdout)
        r = self.mts("report", "--htm", "x.html", expect=2)
        self.assertIn("did you mean '--html'", r.stderr)

    def test_optimize_grid_report(self):
        out = os.path.join(self.tmp, "grid.html")
        self.mts("optimize", "--strategy", "sma_cross", "--asset", "bitcoin", "--from", "2020-01-01",
                 "--to", "2023-12-31", "--param", "fast=5:15:5", "--param", "slow=30,50",
                 "--report", out, "--db", self.db)
        with open(out, encoding="utf-8") as f:
            page = f.read()
        self.assertNotIn("<script", page.lower())
        dom, shot = self.open_in_chromium(out, "report_grid.png")
        cells = dom.find("rect", inside="grid-heatmap", **{"class": "cell"})
        self.assertEqual(len(cells), 3 * 2)
        self.assertEqual(sorted({c["attrs"]["data-x"] for c in cells}), ["10", "15", "5"])
        self.assertEqual(sorted({c["attrs"]["data-y"] for c in cells}), ["30", "50"])
        ranked = [e for e in dom.find("tr", inside="ranked") if "data-metric" in e["attrs"]]
        self.assertEqual(len(ranked), 6)
        # every ranked value is the stored sharpe of that run, best first
        con = sqlite3.connect(self.db)
        stored = {i: s for i, s in con.execute("SELECT id, sharpe_ratio FROM backtest_results")}
        con.close()
        vals, by_combo = [], {}
        for e in ranked:
            tds = [td["text"].strip() for td in dom.children(e, "td")]
            run_id = int(tds[-1])
            self.assertEqual(float(e["attrs"]["data-metric"]), stored[run_id])
            vals.append(stored[run_id])
            by_combo[(tds[2], tds[3])] = stored[run_id]
        self.assertEqual(vals, sorted(vals, reverse=True))
        # the heatmap cell of each combination holds that combination's stored value
        by_xy = {(c["attrs"]["data-x"], c["attrs"]["data-y"]): float(c["attrs"]["data-value"]) for c in cells}
        self.assertEqual(by_xy, by_combo)
        w, h, rows = png_pixels(shot)
        self.assertGreater(w, 0)


class BooksReport(MtsTestCase):
    """Issue 12 in the report: a two-strategy independent run's attribution
    table, the benchmark line and each trade's story, all from the stored run;
    `mts report --json` with the books and the stored extra keys."""

    ASSETS = ["bitcoin", "ethereum"]

    def run_two(self):
        out = os.path.join(self.tmp, "r.html")
        eq_csv = os.path.join(self.tmp, "e.csv")
        res, _ = self.backtest_json("--strategy", "sma_cross,mean_reversion", "--asset", ",".join(self.ASSETS),
                                    "--from", "2020-01-01", "--to", "2023-12-31", "--mode", "independent",
                                    "--allocate", "sma_cross=0.6", "--equity", eq_csv, "--report", out)
        with open(out, encoding="utf-8") as f:
            page = f.read()
        with open(eq_csv, newline="") as f:
            from mtslib import parse_time
            ts = [parse_time(r["timestamp"]) for r in csv.DictReader(f)]
        dom = Dom()
        dom.feed(page)
        return res, page, dom, ts

    def test_two_strategy_report(self):
        res, page, dom, ts = self.run_two()
        self.assertEqual(res["mode"], "independent")
        self.assertEqual([b["strategy"] for b in res["books"]], ["sma_cross", "mean_reversion"])
        self.assertEqual([b["allocation"] for b in res["books"]], [0.6, 0.4])

        # attribution: one row a book, its pnl the exact pnl --json printed for that book
        rows = dom.find("tr", inside="attribution", **{"class": "book"})
        self.assertEqual([r["attrs"]["data-strategy"] for r in rows], ["sma_cross", "mean_reversion"])
        for r, b in zip(rows, res["books"]):
            tds = dom.children(r, "td")   # strategy, allocation, pnl, return, sharpe, max dd, trades, fees, funding
            self.assertEqual(float(tds[1]["attrs"]["data-raw"]), b["allocation"])
            self.assertEqual(float(tds[2]["attrs"]["data-raw"]), b["pnl"], b["strategy"])
            self.assertEqual(float(tds[2]["attrs"]["data-raw"]), b["final"] - b["initial"])
            self.assertEqual(int(tds[6]["attrs"]["data-raw"]), b["trades"])
            self.assertEqual(float(tds[7]["attrs"]["data-raw"]), b["fees"])
        # the sum row: the books reconcile with the account to the cent
        total = dom.find("tr", inside="attribution", **{"class": "sum"})[0]
        total_pnl = float(dom.children(total, "td")[1]["attrs"]["data-raw"])
        self.assertAlmostEqual(total_pnl, res["final_value"] - res["initial_capital"], places=2)

        # the benchmark line under the equity curve: one point per equity point
        line = dom.find("path", inside="equity-chart", id="benchmark-line")
        self.assertEqual(len(line), 1)
        d = line[0]["attrs"]["d"]
        self.assertEqual(d.count("L") + 1, len(ts))
        self.assertEqual(len(dom.find("p", id="benchmark-note")), 0)
        # its last value: equal-weight buy and hold computed here from the bundled
        # files: capital / 2 per asset at its first close at or after the first
        # equity point, valued at the last close at or before the last point
        want = 0.0
        for a in self.ASSETS:
            bars = read_bars(BUNDLED[a])
            first = next(b[4] for b in bars if b[0] >= ts[0])
            last = [b[4] for b in bars if b[0] <= ts[-1]][-1]
            want += res["initial_capital"] / len(self.ASSETS) / first * last
        legend = dom.find("span", id="benchmark-legend")[0]
        got = float(legend["attrs"]["data-final"])
        self.assertAlmostEqual(got, want, delta=1e-6 * want)
        self.assertTrue(same(got, res["benchmark"]["final_value"]), (got, res["benchmark"]))
        bench = {e["attrs"]["data-metric"]: e for e in dom.find("tr", inside="benchmark", data_metric=True)}
        self.assertIn("alpha", bench)
        tds = dom.children(bench["total_return"], "td")
        self.assertTrue(same(float(tds[2]["attrs"]["data-raw"]), res["benchmark"]["total_return"]))

        # trade rows: each stored trade's strategy and exit reason, in order
        con = sqlite3.connect(self.db)
        stored = con.execute("SELECT strategy, entry_reason, exit_reason, open FROM backtest_trades"
                             " WHERE backtest_id = ? ORDER BY id", (res["id"],)).fetchall()
        con.close()
        trs = [r for r in dom.find("tr", inside="trades") if dom.children(r, "td")]
        self.assertEqual(len(trs), len(stored))
        shown = []
        for r, (strategy, entry_reason, exit_reason, _open) in zip(trs, stored):
            tds = [td["text"].strip() for td in dom.children(r, "td")]
            self.assertEqual(tds[2], strategy)
            self.assertEqual(tds[11], entry_reason)
            self.assertEqual(tds[12], exit_reason)
            shown.append(tds[12])
        # mean_reversion's stop loss and take profit close some of its trades
        self.assertIn("stop_loss", shown)
        self.assertIn("take_profit", shown)
        self.assertIn("signal", shown)

        # `mts report ID --json`: the books and the stored extra keys at the top level
        rep = json.loads(self.mts("report", str(res["id"]), "--json", "--db", self.db).stdout)
        self.assertEqual(rep["mode"], "independent")
        self.assertEqual(rep["market"], "spot")
        self.assertEqual([(b["strategy"], b["pnl"], b["trades"]) for b in rep["books"]],
                         [(b["strategy"], b["pnl"], b["trades"]) for b in res["books"]])
        self.assertTrue(same(rep["books"][0]["sharpe"], res["books"][0]["sharpe"]))
        self.assertTrue(same(rep["benchmark"]["final_value"], res["benchmark"]["final_value"]))
        for k in NEW_METRICS + ["alpha", "beta"]:
            self.assertTrue(same(rep[k], res[k]), k)
        self.assertEqual(rep["final_value"], res["final_value"])   # the row's own key, not the extra's

    def test_benchmark_left_out_when_the_bars_are_gone(self):
        res, page, dom, ts = self.run_two()
        delete_bars(self.db, "ethereum", "1d", lambda t: False)
        out = os.path.join(self.tmp, "again.html")
        self.mts("report", str(res["id"]), "--html", out, "--db", self.db)
        dom = Dom()
        with open(out, encoding="utf-8") as f:
            dom.feed(f.read())
        self.assertEqual(dom.find("path", id="benchmark-line"), [])
        note = dom.find("p", id="benchmark-note")
        self.assertEqual(len(note), 1)
        self.assertIn("ethereum", note[0]["text"])
        self.assertIn("gone", note[0]["text"])
        # the rest of the page is still there: the stored benchmark numbers and the books
        self.assertEqual(len(dom.find("tr", inside="attribution", **{"class": "book"})), 2)
        self.assertEqual(len(dom.find("tr", inside="benchmark", data_metric="total_return")), 1)


if __name__ == "__main__":
    unittest.main()


class IntradayReport(MtsTestCase):
    """A run on 1h bars (real Binance hours written with sqlite3): the stored
    run, its summary, the list and the HTML trade list carry the interval and
    the trades' times."""

    def test_intraday_run_report(self):
        from test_backtest import read_hourly, store_bars
        self.mts("backtest", "--strategy", "sma_cross", "--asset", "bitcoin", "--quiet")
        hours = read_hourly(24 * 12)
        store_bars(self.db, "bitcoin", "1h", hours)
        trades_csv = os.path.join(self.tmp, "t.csv")
        res, _ = self.backtest_json("--strategy", "sma_cross", "--asset", "bitcoin", "--interval", "1h",
                                    "--param", "fast=5", "--param", "slow=20", "--trades", trades_csv)
        with open(trades_csv) as f:
            rows = list(csv.DictReader(f))
        self.assertGreater(len(rows), 1)
        out = os.path.join(self.tmp, "r.html")
        self.mts("report", str(res["id"]), "--html", out, "--db", self.db)
        with open(out, encoding="utf-8") as f:
            page = f.read()
        trades = page[page.index('<table id="trades"'):]
        trades = trades[:trades.index("</table>")]
        for row in rows:   # "2021-01-05T01:00:00Z" is shown as "2021-01-05 01:00"
            for k in ("entry_time", "exit_time"):
                self.assertIn(">%s %s<" % (row[k][:10], row[k][11:16]), trades)
        self.assertIn("1h bars", page)
        s = self.mts("report", str(res["id"]), "--db", self.db).stdout
        self.assertIn("1h bars", s)
        self.assertIn("2021-01-12T23:00:00Z", s)   # the last hour stored, not only its date
        lst = self.mts("report", "--db", self.db).stdout
        line = [l for l in lst.splitlines() if l.strip().startswith(str(res["id"]) + " ")][0]
        self.assertIn(" 1h ", line)
