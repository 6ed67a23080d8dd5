"""End-to-end: the whole system as deployed. The systemd units in
deploy/systemd are started the way systemd starts them — ExecStart expanded
from Environment= and EnvironmentFile= (the instance's %i file for mts-run@),
the JWT secret handed over as a credential (LoadCredential=, $CREDENTIALS_DIRECTORY),
the state directory as working directory — from a `make install`ed tree, with
/usr/local, /var/lib/mts and /etc/mts mapped into a temporary directory:

  stand-in Binance (kline streams) ─► mts run@btc ─► Redis bus + cache ─► mts serve ─► /ws client

Checked: the websocket client receives what the paper session publishes
(session, bar, signal, fill, equity) through the real redis-server; the API
serves the session's fills and equity exactly as stored; /metrics reports the
running session's portfolio value; the cache holds the reference keys with their TTLs;
ExecReload (SIGHUP) reloads the strategies; KillSignal (SIGTERM) stops both
services with exit 0 well within TimeoutStopSec.

mts-worker@.service, likewise (REDIS_URL from /etc/mts/env, the consumer name
HOST-INSTANCE, its own database under /var/lib/mts, PrivateTmp= as a TMPDIR of
its own): the grid of an `mts optimize --redis` coordinator runs on it with the
results of `--jobs 1`, and KillSignal= stops it with exit 0."""
import base64
import json
import os
import re
import select
import shlex
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import exchange_server as xs  # noqa: E402
import test_deploy as td  # noqa: E402
import test_serve as ts  # noqa: E402
import mtslib  # noqa: E402
from mtslib import MTS, ROOT, MtsTestCase, Resp  # noqa: E402

FIXTURE = os.path.join(ROOT, "tests", "fixtures", "live", "BTCUSDT_1h_2021-01.csv")
N_BARS = 300
REDIS_DB = 13
WORKER_REDIS_DB = 14
GRID = ["--strategy", "sma_cross", "--asset", "bitcoin", "--param", "fast=5,10,20", "--param", "slow=30,50"]


def resp(url, db, *args):
    """One Redis command on database db (mtslib.Resp, not mts); the parsed reply."""
    r = Resp(url, db)
    try:
        return r.cmd(*args)
    finally:
        r.close()


class Unit:
    """A unit file read the way systemd reads it, with the paths mapped into a
    test directory; start() runs its ExecStart= with its environment."""

    def __init__(self, name, paths, instance=None):
        with open(os.path.join(td.UNITS, name)) as f:
            text = f.read()
        for src, dst in paths.items():
            text = text.replace(src, dst)
        if instance:
            text = text.replace("%i", instance)
        text = text.replace("%H", socket.gethostname())
        self.path = os.path.join(os.path.dirname(paths["/var/lib/mts"]), name.replace("@", "@" + (instance or "")))
        with open(self.path, "w") as f:
            f.write(text)
        self.d = td.unit_directives(self.path)

    def get(self, key):
        return [v for s, k, v in self.d if k == key]

    def environment(self, creds_dir):
        env = {"PATH": "/usr/bin:/bin"}
        for v in self.get("Environment"):
            for w in shlex.split(v):
                k, _, val = w.partition("=")
                env[k] = val
        for v in self.get("EnvironmentFile"):      # files override Environment=
            optional = v.startswith("-")
            path = v[1:] if optional else v
            if not os.path.exists(path):
                assert optional, "EnvironmentFile %s is required and missing" % path
                continue
            with open(path) as f:
                for line in f:
                    line = line.strip()
                    if line and not line.startswith("#"):
                        k, _, val = line.partition("=")
                        env[k.strip()] = val.strip().strip('"')
        creds = self.get("LoadCredential")
        if creds:
            os.makedirs(creds_dir, exist_ok=True)
            for c in creds:
                cname, _, src = c.partition(":")
                with open(src, "rb") as f, open(os.path.join(creds_dir, cname), "wb") as g:
                    g.write(f.read())
            os.chmod(creds_dir, 0o500)
            env["CREDENTIALS_DIRECTORY"] = creds_dir
        return env

    def start(self, creds_dir, log_path, extra_env=None):
        env = dict(self.environment(creds_dir), **(extra_env or {}))
        argv = td.expand_exec(self.get("ExecStart")[0], env)
        assert os.access(argv[0], os.X_OK), argv
        cwd = self.get("WorkingDirectory")[0]
        os.makedirs(cwd, exist_ok=True)             # StateDirectory=
        self.log = open(log_path, "w")
        self.log_path = log_path
        self.env = env
        self.p = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE,
                                  stderr=self.log, text=True)
        return self

    def reload(self):
        line = self.get("ExecReload")[0].replace("$MAINPID", str(self.p.pid))
        subprocess.run(shlex.split(line), check=True, timeout=10)

    def stop(self):
        """KillSignal=, then wait up to TimeoutStopSec=; the exit status."""
        sig = getattr(__import__("signal"), self.get("KillSignal")[0])
        limit = float(self.get("TimeoutStopSec")[0])
        t0 = time.time()
        self.p.send_signal(sig)
        try:
            rc = self.p.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            raise AssertionError("%s did not stop within TimeoutStopSec=%s" % (self.path, limit))
        self.stop_s = time.time() - t0
        self.log.close()
        self.out = self.p.stdout.read()
        self.p.stdout.close()
        return rc

    def log_text(self):
        with open(self.log_path) as f:
            return f.read()


class DeployedSystemTest(MtsTestCase):

    def setUp(self):
        super().setUp()
        self.redis = os.environ.get("MTS_TEST_REDIS_URL")
        self.assertTrue(self.redis, "MTS_TEST_REDIS_URL is not set (tests/run_e2e.sh starts redis-server)")
        self.procs = []

    def tearDown(self):
        for u in self.procs:
            if u.p.poll() is None:
                u.p.kill()
                u.p.wait()
            if not u.p.stdout.closed:
                u.p.stdout.close()
            u.log.close()
        super().tearDown()

    def install(self):
        prefix = os.path.join(self.tmp, "usr-local")
        bindir = os.path.dirname(MTS)
        env = {k: v for k, v in os.environ.items()
               if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
        r = subprocess.run(["make", "-s", "install", "PREFIX=" + prefix, "BINDIR=" + bindir,
                            "-o", os.path.join(bindir, "mts")], cwd=ROOT, capture_output=True,
                           text=True, timeout=300, env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return prefix

    def test_units_run_the_system(self):
        prefix = self.install()
        state = os.path.join(self.tmp, "var-lib-mts")
        etc = os.path.join(self.tmp, "etc-mts")
        os.makedirs(os.path.join(etc, "run"))
        paths = {"/usr/local": prefix, "/var/lib/mts": state, "/etc/mts": etc}
        secret = base64.b64encode(os.urandom(48)).decode()
        with open(os.path.join(etc, "jwt-secret"), "w") as f:
            f.write(secret)
        redis_url = "%s/%d" % (self.redis.rstrip("/"), REDIS_DB)
        resp(self.redis, REDIS_DB, "DEL", "mts:bus")

        bars = xs.read_kline_csv(FIXTURE)[:N_BARS]
        srv = xs.KlineServer("binance", {"BTCUSDT": bars}, interval="1h", warm=0, pace=0.003).start()
        self.addCleanup(srv.stop)
        # /etc/mts/env: the settings both services share, as deploy/README.md describes
        with open(os.path.join(etc, "env"), "w") as f:
            f.write("REDIS_URL=%s\nBINANCE_WS_URL=%s\nBINANCE_REST_URL=%s\nMTS_WS_BACKOFF_MS=100\n"
                    "MTS_SERVE_ARGS=--host 127.0.0.1 --port 0\n" % (redis_url, srv.ws_url(), srv.rest_url()))
        with open(os.path.join(etc, "run", "btc.env"), "w") as f:
            f.write("MTS_RUN_ARGS=--strategy sma_cross --exchange binance --symbol BTCUSDT "
                    "--interval 1h --warmup 0 --capital 10000 --json\n")

        # mts serve, from its unit
        serve = Unit("mts-serve.service", paths).start(os.path.join(self.tmp, "creds-serve"),
                                                       os.path.join(self.tmp, "serve.log"))
        self.procs.append(serve)
        ready, _, _ = select.select([serve.p.stdout], [], [], 30)
        line = serve.p.stdout.readline() if ready else ""
        m = re.search(r"listening on http://[^:]+:(\d+)", line)
        self.assertTrue(m, "mts serve did not start: %r\n%s" % (line, serve.log_text()[-3000:]))
        port = int(m.group(1))
        self.assertNotIn(secret, " ".join(serve.p.args), "the secret must not be on the command line")

        def get(path, token=None):
            req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path))
            if token:
                req.add_header("Authorization", "Bearer " + token)
            with urllib.request.urlopen(req, timeout=30) as r:
                raw = r.read()
                mtslib.http_response("GET", path, r.status, dict(r.headers.items()), raw)   # docs/openapi.json
                body = raw.decode()
                return json.loads(body) if r.headers.get("Content-Type", "").startswith("application/json") else body

        health = get("/health")
        self.assertEqual(health["checks"]["redis"]["configured"], True, health)
        self.assertEqual(health["checks"]["redis"]["ok"], True, health)
        self.assertEqual(health["checks"]["bus"]["backend"], "redis", health)

        # a token minted the way the unit's header says: the installed mts token
        tok = subprocess.run([os.path.join(prefix, "bin", "mts"), "token", "--subject", "ops",
                              "--scope", "read"], capture_output=True, text=True, timeout=30,
                             env={"PATH": "/usr/bin:/bin", "MTS_JWT_SECRET": secret, "HOME": self.tmp})
        self.assertEqual(tok.returncode, 0, tok.stderr)
        token = tok.stdout.strip()
        ws = ts.WebSocket(port, token=token)
        self.addCleanup(ws.close)
        for _ in range(100):                         # the websocket is registered before the session starts
            if re.search(r"^mts_ws_clients 1$", get("/metrics"), re.M):
                break
            time.sleep(0.05)

        # mts run@btc, from its template unit
        run = Unit("mts-run@.service", paths, instance="btc").start(
            os.path.join(self.tmp, "creds-run"), os.path.join(self.tmp, "run.log"))
        self.procs.append(run)

        got, deadline = [], time.time() + 60
        while time.time() < deadline:
            got.append(ws.recv(timeout=max(0.1, deadline - time.time())))
            if sum(1 for g in got if g["topic"] == "equity") == N_BARS:
                break
        topics = [g["topic"] for g in got]
        self.assertEqual(topics.count("equity"), N_BARS, "%d messages: %s" % (len(got), run.log_text()[-2000:]))
        self.assertEqual(topics.count("bar"), N_BARS)
        self.assertGreaterEqual(topics.count("signal"), 2)
        self.assertGreaterEqual(topics.count("fill"), 2)
        self.assertEqual(got[0]["topic"], "session")
        self.assertEqual(got[0]["data"]["status"], "running")

        # /metrics, while the session runs: its portfolio value is its last equity point
        last = [g["data"] for g in got if g["topic"] == "equity"][-1]
        metrics = get("/metrics")
        m = re.search(r'^mts_portfolio_value_usd\{session="%d"\} (\S+)$' % last["session"], metrics, re.M)
        self.assertTrue(m, metrics)
        self.assertAlmostEqual(float(m.group(1)), last["equity"], delta=1e-6)

        # ExecReload= (SIGHUP): the strategies are reloaded in the running process
        run.reload()
        for _ in range(100):
            if "strategy.reloaded" in run.log_text():
                break
            time.sleep(0.05)
        self.assertIn("strategy.reloaded", run.log_text())

        # KillSignal= (SIGTERM): the session is closed and the process exits 0
        self.assertEqual(run.stop(), 0, run.log_text()[-3000:])
        summary = json.loads(run.out.strip().splitlines()[-1])
        self.assertEqual(summary["status"], "stopped")

        db = os.path.join(state, "mts.db")               # DATABASE_PATH= of both units
        con = sqlite3.connect(db)
        sid, status, final_equity = con.execute(
            "SELECT id, status, final_equity FROM paper_sessions").fetchone()
        fills = con.execute("SELECT ts, side, qty, price, fee FROM paper_fills WHERE session_id=? ORDER BY id",
                            (sid,)).fetchall()
        equity = con.execute("SELECT ts, equity FROM paper_equity WHERE session_id=? ORDER BY ts",
                             (sid,)).fetchall()
        con.close()
        self.assertEqual(status, "stopped")
        self.assertEqual(len(equity), N_BARS)

        # what went over the bus is what was stored
        bus_fills = [(g["data"]["ts"], g["data"]["side"], g["data"]["qty"], g["data"]["price"], g["data"]["fee"])
                     for g in got if g["topic"] == "fill"]
        self.assertEqual(bus_fills, fills)
        bus_eq = [(g["data"]["ts"], g["data"]["equity"]) for g in got if g["topic"] == "equity"]
        self.assertEqual(bus_eq, equity)

        # the API serves the session as stored
        one = get("/paper/sessions/%d" % sid, token)
        api_fills = [(f["ts"], f["side"], f["qty"], f["price"], f["fee"]) for f in one["fill_list"]]
        self.assertEqual(api_fills, fills)
        self.assertEqual(one["fills"], len(fills))
        self.assertEqual(one["status"], "stopped")
        self.assertEqual(one["final_equity"], final_equity)
        self.assertEqual([(e[0], e[1]) for e in one["equity"]], equity)


        # the cache: market:{symbol}:{timeframe}:{ts} (30 min) and signal:{strategy}:{asset}:{ts} (24 h)
        last_open = bars[-1][0] // 1000
        key = "market:BTCUSDT:1h:%d" % last_open
        ttl = resp(self.redis, REDIS_DB, "TTL", key)
        self.assertTrue(0 < ttl <= 1800, (key, ttl))
        self.assertEqual(json.loads(resp(self.redis, REDIS_DB, "GET", key))["close"], float(bars[-1][4]))
        latest = json.loads(resp(self.redis, REDIS_DB, "GET", "market:BTCUSDT:1h:latest"))
        self.assertEqual(latest["open_ms"], bars[-1][0])
        self.assertTrue(0 < resp(self.redis, REDIS_DB, "TTL", "market:BTCUSDT:1h:latest") <= 1800)
        sig_keys = resp(self.redis, REDIS_DB, "KEYS", "signal:sma_cross:bitcoin:*")
        self.assertGreaterEqual(len(sig_keys), 2)
        ttl = resp(self.redis, REDIS_DB, "TTL", sig_keys[0])
        self.assertTrue(86400 - 600 < ttl <= 86400, (sig_keys[0], ttl))

        ws.close()
        self.assertEqual(serve.stop(), 0, serve.log_text()[-3000:])
        self.assertLess(serve.stop_s, 10)

    def test_worker_unit_serves_a_grid(self):
        prefix = self.install()
        mts = os.path.join(prefix, "bin", "mts")
        state = os.path.join(self.tmp, "var-lib-mts")
        etc = os.path.join(self.tmp, "etc-mts")
        os.makedirs(etc)
        paths = {"/usr/local": prefix, "/var/lib/mts": state, "/etc/mts": etc}
        url = "%s/%d" % (self.redis.rstrip("/"), WORKER_REDIS_DB)
        resp(self.redis, WORKER_REDIS_DB, "FLUSHDB")
        self.addCleanup(resp, self.redis, WORKER_REDIS_DB, "FLUSHDB")
        with open(os.path.join(etc, "env"), "w") as f:        # as the unit's header says
            f.write("REDIS_URL=%s\nMTS_WORKER_ARGS=--claim-after 2m\n" % url)

        worker = Unit("mts-worker@.service", paths, instance="w1")
        private_tmp = os.path.join(self.tmp, "private-tmp-w1")            # PrivateTmp=true
        os.makedirs(private_tmp)
        worker.start(os.path.join(self.tmp, "creds-worker"), os.path.join(self.tmp, "worker.log"),
                     extra_env={"TMPDIR": private_tmp})
        self.procs.append(worker)
        self.assertIn("--name", worker.p.args)
        self.assertEqual(worker.p.args[worker.p.args.index("--name") + 1], socket.gethostname() + "-w1")

        env = {"PATH": "/usr/bin:/bin", "HOME": self.tmp, "TMPDIR": self.tmp}
        coord = subprocess.run([mts, "optimize", *GRID, "--redis", url, "--db", os.path.join(self.tmp, "coord.db"),
                                "--store", "none", "--json"], capture_output=True, text=True, timeout=600, env=env)
        self.assertEqual(coord.returncode, 0, coord.stderr[-3000:] + worker.log_text()[-3000:])
        local = subprocess.run([mts, "optimize", *GRID, "--jobs", "1", "--db", os.path.join(self.tmp, "local.db"),
                                "--store", "none", "--json"], capture_output=True, text=True, timeout=600, env=env)
        self.assertEqual(local.returncode, 0, local.stderr[-3000:])

        def strip_ids(out):
            doc = json.loads(out)
            for r in doc["results"]:
                r.pop("id", None)
            return doc
        remote = strip_ids(coord.stdout)
        self.assertEqual(len(remote["results"]), 6)
        self.assertEqual(remote, strip_ids(local.stdout))
        # the worker ran the jobs, with the database the unit gives it (filled through Redis)
        wdb = os.path.join(state, "worker-w1.db")
        self.assertTrue(os.path.exists(wdb))
        con = sqlite3.connect(wdb)
        try:
            self.assertGreater(con.execute("SELECT count(*) FROM ohlcv_series").fetchone()[0], 0)
        finally:
            con.close()
        self.assertEqual(worker.stop(), 0, worker.log_text()[-3000:])
        self.assertEqual(worker.log_text().count(" done in "), 6, worker.log_text()[-3000:])   # a line per job
