#!/usr/bin/env python3
"""Soak: many writers on one database (issue 9, item 7). Bounded, not in CI.

On ONE database, for --duration seconds:
  * --backtests loops, each running `mts backtest` again and again on a
    generated minute-bar asset of --rows bars (imported once), so every run
    stores an equity curve of --rows points;
  * `mts stream` recording the stand-in exchange (tests/e2e/exchange_server.py);
  * `mts run` paper trading on the stand-in kline server;
  * a long writer that every --lock-every s holds the write lock for --lock-hold s
    (longer than the 5 s busy timeout of a statement), as a big import would.

Then it checks every backtest that computed a result: it must be stored
completely (backtest_results row, equity rows == bars). Report lines:
  soak backtests: N runs, N stored, N lost, N failed
  soak stream: exit N, trades sent N stored N, errors logged N
  soak run: exit N, status S, bars N, equity rows N, errors logged N
  soak result: ok | FAIL (...)
Exit status 0 when no backtest result was lost and the sessions did not fail.

Run: make soak   (or python3 tests/soak/db_contention.py --mts bin/mts [--duration 150])
"""
import argparse
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import exchange_server as xs  # noqa: E402

KLINES = os.path.join(ROOT, "tests", "fixtures", "live", "BTCUSDT_1h_2021-01.csv")


def log(msg):
    print("soak: %s" % msg, flush=True)


def make_csv(path, rows, seed=9):
    """Minute bars from 2019-01-01, a random walk (deterministic)."""
    rng = random.Random(seed)
    t, p = 1546300800, 10000.0
    with open(path, "w") as f:
        f.write("timestamp,open,high,low,close,volume\n")
        for _ in range(rows):
            o = p
            p = max(100.0, p * (1 + rng.gauss(0, 0.0015)))
            hi, lo = max(o, p) * 1.0005, min(o, p) * 0.9995
            f.write("%d,%.2f,%.2f,%.2f,%.2f,%.3f\n" % (t, o, hi, lo, p, 1 + rng.random() * 5))
            t += 60


def error_lines(text):
    """Log lines at error level, or naming a locked database."""
    return [line for line in text.splitlines()
            if '"level":"error"' in line or line.startswith("error:") or "database is locked" in line]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mts", default=os.path.join(ROOT, "bin", "mts"))
    ap.add_argument("--duration", type=float, default=150.0, help="seconds of load (default 150)")
    ap.add_argument("--rows", type=int, default=1000000, help="minute bars of the backtest asset (default 1e6)")
    ap.add_argument("--backtests", type=int, default=3, help="concurrent backtest loops (default 3)")
    ap.add_argument("--lock-every", type=float, default=30.0, help="seconds between long write locks (0: none)")
    ap.add_argument("--lock-hold", type=float, default=6.5, help="seconds each long write lock is held")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    a = ap.parse_args()
    mts = os.path.abspath(a.mts)
    tmp = tempfile.mkdtemp(prefix="mts-soak-")
    db = os.path.join(tmp, "soak.db")
    env = dict(os.environ, MTS_LOG_LEVEL="warn", MTS_WS_BACKOFF_MS="200")
    env.pop("DATABASE_PATH", None)
    procs = []
    t_start = time.time()
    try:
        csv_path = os.path.join(tmp, "soak_1m.csv")
        make_csv(csv_path, a.rows)
        r = subprocess.run([mts, "import", "csv", csv_path, "--asset", "soakcoin", "--db", db],
                           capture_output=True, text=True, timeout=600, env=env)
        if r.returncode != 0:
            log("import failed (exit %d): %s" % (r.returncode, r.stderr[-2000:]))
            return 2
        os.unlink(csv_path)
        log("imported %d minute bars in %.1f s into %s" % (a.rows, time.time() - t_start, db))
        # VIX and bundled data once, so the backtests below only write their results
        subprocess.run([mts, "backtest", "--strategy", "sma_cross", "--asset", "soakcoin", "--interval", "1m",
                        "--db", db, "--from", "2019-01-01", "--to", "2019-01-02", "--quiet"],
                       capture_output=True, text=True, timeout=600, env=env)

        deadline = time.time() + a.duration
        # -- mts stream on the stand-in exchange
        step_delay = 0.01
        xsrv = xs.ExchangeServer("binance", steps=int(a.duration / step_delay / 2), step_delay=step_delay).start()
        u = xsrv.url()
        senv = dict(env, BINANCE_WS_URL=u, BINANCE_FUTURES_WS_URL=u, BINANCE_REST_URL=xsrv.url("http"))
        stream = subprocess.Popen([mts, "stream", "--exchange", "binance", "--symbols", "BTCUSDT,ETHUSDT",
                                   "--duration", "%ds" % int(a.duration), "--db", db, "--bus", "none",
                                   "--redis", "none", "--json"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=senv)
        procs.append(stream)
        # -- mts run on the stand-in kline server: the month of hourly bars, paced over the duration
        bars = xs.read_kline_csv(KLINES)
        warm = 100
        live_n = len(bars) - warm
        ksrv = xs.KlineServer("binance", {"BTCUSDT": bars}, interval="1h", warm=warm,
                              pace=max(0.01, (a.duration - 10) / live_n)).start()
        run = subprocess.Popen([mts, "run", "--strategy", "sma_cross", "--exchange", "binance", "--symbol",
                                "BTCUSDT", "--interval", "1h", "--warmup", str(warm), "--max-bars", str(live_n),
                                "--duration", "%ds" % int(a.duration + 30), "--db", db, "--redis", "none",
                                "--ws-url", ksrv.ws_url(), "--rest-url", ksrv.rest_url(), "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        procs.append(run)

        # -- the backtest loops
        results, lock = [], threading.Lock()

        def loop(k):
            while time.time() < deadline:
                t0 = time.time()
                # the minute bars as they are (the default 1d would resample them to ~700 days)
                p = subprocess.run([mts, "backtest", "--strategy", "sma_cross", "--asset", "soakcoin",
                                    "--interval", "1m", "--db", db, "--json", "--trusted"], capture_output=True, text=True, timeout=1200, env=env)
                rec = {"loop": k, "exit": p.returncode, "secs": time.time() - t0, "stderr": p.stderr[-1500:]}
                try:
                    rec["json"] = json.loads(p.stdout)
                except ValueError:
                    rec["json"] = None
                with lock:
                    results.append(rec)

        threads = [threading.Thread(target=loop, args=(k,)) for k in range(a.backtests)]
        for t in threads:
            t.start()

        # -- the long writer
        holds = 0
        if a.lock_every > 0:
            con = sqlite3.connect(db, isolation_level=None, timeout=120)
            next_at = time.time() + a.lock_every / 2
            while time.time() < deadline:
                if time.time() >= next_at:
                    con.execute("BEGIN IMMEDIATE")
                    time.sleep(a.lock_hold)
                    con.execute("COMMIT")
                    holds += 1
                    next_at = time.time() + a.lock_every
                time.sleep(0.2)
            con.close()
        for t in threads:
            t.join()
        s_out, s_err = stream.communicate(timeout=300)
        r_out, r_err = run.communicate(timeout=300)
        xsrv.stop()
        ksrv.stop()

        # -- checks
        con = sqlite3.connect(db, timeout=120)
        stored = lost = failed = 0
        for rec in results:
            j = rec["json"]
            if j is None:
                failed += 1
                log("backtest (loop %d) failed, exit %d: %s" % (rec["loop"], rec["exit"], rec["stderr"].strip()))
                continue
            ok = False
            if j.get("id") and j.get("stored", True):   # an unstored result has "id":null,"stored":false
                c = con.execute("SELECT n FROM backtest_curves WHERE backtest_id = ?", (j["id"],)).fetchone()
                n = c[0] if c else 0   # the curve's points (one blob per run, schema v7)
                row = con.execute("SELECT final_value FROM backtest_results WHERE id = ?", (j["id"],)).fetchone()
                ok = row is not None and n == j["bars"] and row[0] == j["final_value"]
            if ok and rec["exit"] == 0:
                stored += 1
            else:
                lost += 1
                log("LOST: backtest (loop %d) computed final_value %s but it is not stored (exit %d): %s"
                    % (rec["loop"], j.get("final_value"), rec["exit"], (rec["stderr"].strip().splitlines() or [""])[-1]))
        waits = sum(rec["stderr"].count("store.waiting_for_lock") for rec in results)
        secs = sorted(rec["secs"] for rec in results)
        log("backtests: %d runs, %d stored, %d lost, %d failed (%d bars each; %d waiting lines; run time "
            "min %.1f s, max %.1f s); long write locks: %d x %.1f s"
            % (len(results), stored, lost, failed, a.rows, waits, secs[0] if secs else 0, secs[-1] if secs else 0,
               holds, a.lock_hold))

        trades_sent = len(xsrv.sent_trades)
        trades_stored = con.execute("SELECT count(*) FROM trades").fetchone()[0]
        s_errors = error_lines(s_err)
        s_sum = {}
        for line in s_out.splitlines():
            try:
                s_sum = json.loads(line)
            except ValueError:
                continue
        received = s_sum.get("trades")
        not_stored = sum((s_sum.get("not_stored") or {}).values()) if isinstance(s_sum.get("not_stored"), dict) else 0
        # sent but not received: in flight when the stream's duration ended (or lost
        # by the socket); received but neither stored nor counted as not stored: lost
        log("stream: exit %d, trades sent %d received %s stored %d (not stored, counted: %d), errors logged %d"
            % (stream.returncode, trades_sent, received, trades_stored, not_stored, len(s_errors)))
        for line in s_errors[:3]:
            log("  stream: %s" % line[:300])

        summary = {}
        for line in r_out.splitlines():
            try:
                j = json.loads(line)
            except ValueError:
                continue
            if j.get("type") == "session":
                summary = j
        sid = summary.get("session")
        p_bars = p_eq = None
        if sid is not None:
            p_bars = con.execute("SELECT bars FROM paper_sessions WHERE id = ?", (sid,)).fetchone()[0]
            p_eq = con.execute("SELECT count(*) FROM paper_equity WHERE session_id = ?", (sid,)).fetchone()[0]
        r_errors = error_lines(r_err)
        log("run: exit %d, status %s, live bars %s of %d, paper_sessions.bars %s, paper_equity rows %s, "
            "errors logged %d" % (run.returncode, summary.get("status"), summary.get("live_bars"), live_n, p_bars,
                                  p_eq, len(r_errors)))
        for line in r_errors[:3]:
            log("  run: %s" % line[:300])
        con.close()

        problems = []
        if lost:
            problems.append("%d backtest results lost" % lost)
        if failed:
            problems.append("%d backtests failed" % failed)
        if not results:
            problems.append("no backtest finished")
        if stream.returncode != 0:
            problems.append("stream exit %d" % stream.returncode)
        if received is not None and trades_stored + not_stored < received:
            problems.append("stream lost %d trades silently" % (received - trades_stored - not_stored))
        if run.returncode != 0 or summary.get("status") != "stopped":
            problems.append("run exit %d status %s" % (run.returncode, summary.get("status")))
        if p_bars != p_eq:
            problems.append("paper_sessions.bars %s but %s paper_equity rows" % (p_bars, p_eq))
        log("result: %s (%.0f s)" % ("ok" if not problems else "FAIL (" + "; ".join(problems) + ")",
                                     time.time() - t_start))
        return 0 if not problems else 1
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if a.keep:
            log("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
