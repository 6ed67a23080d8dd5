"""`mts serve`: the real binary on a port it picks (--port 0, read back from its
first line), a temporary database, tokens minted here with Python's hmac/hashlib
(independent of `mts token` and of the C signer), and a stdlib websocket client
(handshake and framing written here). Checks health, metrics counted against the
requests this test made, every error status, backtests equal to `mts backtest
--json`, /signals/generate equal to the stored run's signals at the latest bar (none), the bus pushed to websockets
(SQLite rows and Redis XADD), concurrency beyond the worker count, and SIGTERM
with a request in flight."""
import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import select
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import unittest

import mtslib
from mtslib import MTS, ROOT, BUNDLED, MtsTestCase, Resp, read_bars, run, run_signals

SECRET = "serve-test-secret-0123456789-abcdefghij"   # 40 bytes


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def make_token(sub="tester", scope="read", exp_in=3600, secret=SECRET, header=None, **extra):
    now = int(time.time())
    payload = {"sub": sub, "scope": scope, "exp": now + exp_in, "iat": now}
    payload.update(extra)
    payload = {k: v for k, v in payload.items() if v is not None}   # sub=None: a token without "sub"
    h = b64url(json.dumps(header or {"alg": "HS256", "typ": "JWT"}).encode())
    p = b64url(json.dumps(payload).encode())
    sig = hmac.new(secret.encode(), (h + "." + p).encode(), hashlib.sha256).digest()
    return h + "." + p + "." + b64url(sig)


class Server:
    """bin/mts serve on 127.0.0.1, port chosen by the server (--port 0)."""

    def __init__(self, db, *args, env=None, tmp=None):
        e = dict(os.environ)
        e.pop("DATABASE_PATH", None)
        e.pop("REDIS_URL", None)
        e["MTS_JWT_SECRET"] = SECRET
        e["MTS_LOG_LEVEL"] = "info"
        if env:
            e.update(env)
        self.log_path = os.path.join(tmp, "serve-%d.log" % int(time.time() * 1e6))
        self.log = open(self.log_path, "w")
        self.p = subprocess.Popen([MTS, "serve", "--port", "0", "--db", db] + list(args), env=e, cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=self.log, text=True)
        ready, _, _ = select.select([self.p.stdout], [], [], 30)
        line = self.p.stdout.readline() if ready else ""
        m = re.search(r"listening on http://[^:]+:(\d+)", line)
        if not m:
            self.stop()
            raise AssertionError("mts serve did not start: %r\n%s" % (line, open(self.log_path).read()[-3000:]))
        self.port = int(m.group(1))

    def request(self, method, path, body=None, token=None, headers=None, timeout=120):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        c.close()
        mtslib.http_response(method, path, r.status, hdrs, data)   # checked against docs/openapi.json
        return r.status, hdrs, data

    def json(self, method, path, body=None, token=None, expect=200, **kw):
        st, h, data = self.request(method, path, body=body, token=token, **kw)
        if expect is not None and st != expect:
            raise AssertionError("%s %s: %d (expected %d): %s" % (method, path, st, expect, data[:2000]))
        return json.loads(data), h

    def metrics(self):
        st, _, data = self.request("GET", "/metrics")
        assert st == 200
        out = {}
        for line in data.decode().splitlines():
            if not line or line.startswith("#"):
                continue
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
        return out

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.p.stdout.close()
        self.log.close()
        return self.p.returncode

    def log_text(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path) as f:
            return f.read()


class WebSocket:
    """RFC 6455 client: handshake, masked text frames out, frames in."""

    GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    def __init__(self, port, path="/ws", token=None, timeout=10):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n" % (path, port, key))
        if token:
            req += "Authorization: Bearer %s\r\n" % token
        self.s.sendall((req + "\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.s.recv(4096)
            if not chunk:
                break
            head += chunk
        head, _, self.buf = head.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
        self.headers = {l.split(":", 1)[0].strip().lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
        if self.status == 101:
            expect = base64.b64encode(hashlib.sha1((key + self.GUID).encode()).digest()).decode()
            assert self.headers.get("sec-websocket-accept") == expect, self.headers
        else:
            # the error body that came with the refusal
            n = int(self.headers.get("content-length", "0"))
            while len(self.buf) < n:
                chunk = self.s.recv(4096)
                if not chunk:
                    break
                self.buf += chunk
            self.body = self.buf[:n]

    def send(self, text, opcode=1):
        data = text.encode() if isinstance(text, str) else text
        mask = os.urandom(4)
        hdr = bytes([0x80 | opcode])
        n = len(data)
        if n < 126:
            hdr += bytes([0x80 | n])
        elif n < 65536:
            hdr += bytes([0x80 | 126]) + n.to_bytes(2, "big")
        else:
            hdr += bytes([0x80 | 127]) + n.to_bytes(8, "big")
        self.s.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _need(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.time()
            if left <= 0:
                raise TimeoutError("websocket: no frame in time")
            self.s.settimeout(left)
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError("websocket closed")
            self.buf += chunk

    def recv(self, timeout=10):
        """The next text message as parsed JSON (control frames are handled)."""
        deadline = time.time() + timeout
        while True:
            self._need(2, deadline)
            b0, b1 = self.buf[0], self.buf[1]
            n, off = b1 & 0x7F, 2
            if n == 126:
                self._need(4, deadline)
                n, off = int.from_bytes(self.buf[2:4], "big"), 4
            elif n == 127:
                self._need(10, deadline)
                n, off = int.from_bytes(self.buf[2:10], "big"), 10
            assert not (b1 & 0x80), "server frames are not masked"
            self._need(off + n, deadline)
            payload, self.buf = self.buf[off:off + n], self.buf[off + n:]
            op = b0 & 0x0F
            if op == 1:
                assert b0 & 0x80, "fragmented message"
                return json.loads(payload)
            if op == 8:
                raise ConnectionError("websocket close frame")
            if op == 9:
                self.send(payload, opcode=10)

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


class ServeTest(MtsTestCase):
    def setUp(self):
        super().setUp()
        self.servers = []

    def tearDown(self):
        # every server stops on SIGTERM with exit 0 (under ASan: also no leak report)
        bad = [(s.stop(), s.log_text()[-3000:]) for s in self.servers]
        super().tearDown()
        for rc, log in bad:
            self.assertEqual(rc, 0, log)

    def slow_root(self):
        """A private root with slow_cross: sma_cross whose init spins `spin` loop
        iterations (3e8 is about 1.3 s here), so a request stays in flight."""
        root = self.make_root()
        with open(os.path.join(ROOT, "scripts/strategies/sma_cross.lua")) as f:
            src = f.read()
        src = src.replace('M.parameter_types = { fast = "integer", slow = "integer" }',
                          'M.parameter_types = { fast = "integer", slow = "integer", spin = "integer" }')
        src = src.replace("return { fast = 10, slow = 30, units = 0 }", "return { fast = 10, slow = 30, units = 0, spin = 0 }")
        src = src.replace("    ctx.units = p.units > 0 and p.units or nil\n",
                          "    ctx.units = p.units > 0 and p.units or nil\n"
                          "    local x = 0\n    for i = 1, p.spin do x = x + i % 7 end\n    ctx.sink = x\n")
        self.assertIn("p.spin", src)
        with open(os.path.join(root, "scripts/strategies/slow_cross.lua"), "w") as f:
            f.write(src)
        return {"MTS_ROOT": root, "MTS_STRATEGY_TIME_MS": "120000"}

    SLOW = {"strategy_name": "slow_cross", "assets": ["bitcoin"], "params": {"spin": 300000000}}

    def serve(self, *args, db=None, env=None):
        s = Server(db or self.db, *args, env=env, tmp=self.tmp)
        self.servers.append(s)
        return s

    # ---- health and metrics ----

    def test_health_shape(self):
        srv = self.serve()
        h, _ = srv.json("GET", "/health", token=make_token())
        self.assertEqual(h["status"], "ok")
        self.assertEqual(h["version"], run(["--version"]).stdout.split()[1])
        self.assertGreaterEqual(h["uptime_s"], 0)
        c = h["checks"]
        self.assertTrue(c["database"]["ok"])
        self.assertGreaterEqual(c["database"]["latency_ms"], 0)
        self.assertEqual(c["redis"], {"configured": False, "ok": None, "latency_ms": None})
        self.assertEqual(c["bus"], {"backend": "sqlite", "ok": True})
        st = os.statvfs(self.tmp)
        free = st.f_bavail * st.f_frsize
        self.assertTrue(c["disk_space"]["ok"])
        self.assertLess(abs(c["disk_space"]["free_bytes"] - free), max(free * 0.05, 1 << 30))
        self.assertEqual(c["paper_sessions"], {"ok": True, "running": 0})
        self.assertEqual(c["workers"]["threads"], 2)

    def test_health_details_only_for_a_token(self):
        """Unauthenticated /health says ok/degraded and which check failed, never
        an address or an error text; a read token gets the details (issue 9, item 14)."""
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()                                   # nothing listens there: Redis is down
        srv = self.serve("--redis", "redis://127.0.0.1:%d" % port)
        st, _, body = srv.request("GET", "/health")
        self.assertEqual(st, 200)
        h = json.loads(body)
        self.assertEqual(h["status"], "degraded")
        self.assertEqual(h["checks"]["bus"]["ok"], False)
        self.assertEqual(h["checks"]["redis"]["ok"], False)
        self.assertEqual(h["checks"]["database"]["ok"], True)
        text = body.decode()
        for leak in ("127.0.0.1", str(port), "error", "connect", "latency_ms", "free_bytes"):
            self.assertNotIn(leak, text, "unauthenticated /health must not show %r: %s" % (leak, text))
        # a token that is not accepted gets the same public answer, not the details
        bad = make_token(secret="another-secret-of-enough-length-0123456789")
        st, _, body = srv.request("GET", "/health", token=bad)
        self.assertEqual(st, 200)
        self.assertNotIn(str(port), body.decode())
        # a read token: the details, with the address of the server that is down
        h, _ = srv.json("GET", "/health", token=make_token(scope="read"))
        self.assertEqual(h["status"], "degraded")
        self.assertIn("127.0.0.1:%d" % port, h["checks"]["bus"]["error"])
        self.assertIn("latency_ms", h["checks"]["database"])
        self.assertIn("running", h["checks"]["paper_sessions"])

    def test_token_without_sub_is_refused(self):
        """A token with no "sub" would be rate-limited per source address, so
        clients behind many addresses escape the per-client limit: refused with a
        401 naming the claim (issue 9, item 13)."""
        srv = self.serve("--rate-limit-read", "5")
        for tok in (make_token(sub=None), make_token(sub=""), make_token(sub=42)):
            st, h, body = srv.request("GET", "/backtests", token=tok)
            self.assertEqual(st, 401, body)
            d = json.loads(body)
            self.assertEqual(d["error"], "invalid_token")
            self.assertIn('"sub"', d["detail"])
            self.assertIn("mts token --subject", d["detail"])
            self.assertIn("www-authenticate", h)
        ws = WebSocket(srv.port, token=make_token(sub=None))
        self.assertEqual(ws.status, 401)
        ws.close()
        # with a subject the same token works; the limit is per subject
        for _ in range(5):
            self.assertEqual(srv.request("GET", "/backtests", token=make_token(sub="carol"))[0], 200)
        self.assertEqual(srv.request("GET", "/backtests", token=make_token(sub="carol"))[0], 429)
        # mts token always writes a non-empty sub
        r = run(["token", "--subject", "dave"], env={"MTS_JWT_SECRET": SECRET})
        p = r.stdout.strip().split(".")[1]
        self.assertEqual(json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))["sub"], "dave")
        r = run(["token", "--subject", ""], env={"MTS_JWT_SECRET": SECRET})
        self.assertEqual(r.returncode, 2)
        self.assertIn("--subject", r.stderr)

    def test_metrics_count_the_requests_made(self):
        srv = self.serve()
        read = make_token(scope="read")
        for _ in range(3):
            srv.request("GET", "/health")
        for _ in range(2):
            srv.request("GET", "/backtests", token=read)
        srv.request("GET", "/backtests")                       # 401
        srv.request("GET", "/nope")                            # 404
        srv.request("GET", "/backtests/999", token=read)       # 404
        m = srv.metrics()
        want = {
            'mts_http_requests_total{route="/health",method="GET",code="200"}': 3,
            'mts_http_requests_total{route="/backtests",method="GET",code="200"}': 2,
            'mts_http_requests_total{route="/backtests",method="GET",code="401"}': 1,
            'mts_http_requests_total{route="unmatched",method="GET",code="404"}': 1,
            'mts_http_requests_total{route="/backtests/{id}",method="GET",code="404"}': 1,
            'mts_http_request_duration_seconds_count{route="/health"}': 3,
            'mts_http_request_duration_seconds_count{route="/backtests"}': 3,
            'mts_http_request_duration_seconds_bucket{route="/health",le="+Inf"}': 3,
            "mts_backtests_total": 0,
            "mts_ws_clients": 0,
        }
        for k, v in want.items():
            self.assertEqual(m.get(k), v, k)
        # nothing else was counted (the scrape itself is counted once it is answered)
        total = sum(v for k, v in m.items() if k.startswith("mts_http_requests_total"))
        self.assertEqual(total, 8)
        buckets = [v for k, v in m.items() if k.startswith('mts_http_request_duration_seconds_bucket{route="/health"')]
        self.assertEqual(buckets, sorted(buckets))
        self.assertAlmostEqual(m["process_start_time_seconds"], time.time(), delta=60)
        m2 = srv.metrics()
        self.assertEqual(m2['mts_http_requests_total{route="/metrics",method="GET",code="200"}'], 1)

    # ---- auth ----

    def test_auth_401_403(self):
        srv = self.serve()
        st, h, body = srv.request("GET", "/backtests")
        self.assertEqual(st, 401)
        self.assertIn("Bearer", h["www-authenticate"])
        self.assertIn("mts token", json.loads(body)["detail"])
        bad = {
            "garbage": "not.a.token",
            "expired": make_token(exp_in=-60),
            "wrong secret": make_token(secret="another-secret-of-enough-length-0123456789"),
            "alg none": b64url(b'{"alg":"none","typ":"JWT"}') + "." + b64url(b'{"sub":"x","scope":"write","exp":9999999999}') + ".",
            "alg HS512": make_token(header={"alg": "HS512", "typ": "JWT"}),
            "nbf future": make_token(nbf=int(time.time()) + 120),
            "no exp": None,
        }
        h_ = b64url(b'{"alg":"HS256","typ":"JWT"}')
        p_ = b64url(b'{"sub":"x","scope":"read"}')
        bad["no exp"] = h_ + "." + p_ + "." + b64url(hmac.new(SECRET.encode(), (h_ + "." + p_).encode(), hashlib.sha256).digest())
        for what, tok in bad.items():
            st, h, body = srv.request("GET", "/backtests", token=tok)
            self.assertEqual(st, 401, what)
            self.assertEqual(json.loads(body)["error"], "invalid_token", what)
            self.assertIn("www-authenticate", h, what)
        st, _, _ = srv.request("GET", "/backtests", headers={"Authorization": "Basic dXNlcjpwYXNz"})
        self.assertEqual(st, 401)
        # expired 20 s ago is inside the 30 s leeway
        self.assertEqual(srv.request("GET", "/backtests", token=make_token(exp_in=-20))[0], 200)
        # read may GET, not POST; write may both; no scope may do nothing
        read, write = make_token(scope="read"), make_token(scope="write")
        st, _, body = srv.request("POST", "/backtest", body={"strategy_name": "sma_cross", "assets": ["bitcoin"]}, token=read)
        self.assertEqual(st, 403)
        self.assertIn("write", json.loads(body)["detail"])
        self.assertEqual(srv.request("GET", "/signals", token=write)[0], 200)
        self.assertEqual(srv.request("GET", "/signals", token=make_token(scope="admin"))[0], 403)
        # health and metrics need no token
        self.assertEqual(srv.request("GET", "/health")[0], 200)
        self.assertEqual(srv.request("GET", "/metrics")[0], 200)

    # ---- errors ----

    def test_error_statuses(self):
        srv = self.serve("--rate-limit-write", "0")
        w = make_token(scope="write")
        st, _, body = srv.request("GET", "/nowhere", token=w)
        self.assertEqual(st, 404)
        self.assertIn("/backtests", json.loads(body)["detail"])
        st, h, _ = srv.request("GET", "/backtest", token=w)
        self.assertEqual((st, h.get("allow")), (405, "POST"))
        st, h, _ = srv.request("POST", "/health", body="{}")
        self.assertEqual((st, h.get("allow")), (405, "GET"))
        st, h, _ = srv.request("DELETE", "/backtests/1", token=w)
        self.assertEqual((st, h.get("allow")), (405, "GET"))
        st, _, body = srv.request("POST", "/backtest", body=b"{" + b" " * (70 * 1024) + b"}", token=w,
                                  headers={"Content-Type": "application/json"})
        self.assertEqual(st, 413)
        self.assertIn("65536", json.loads(body)["detail"])
        cases = [
            (b'{"strategy_name": "sma_cross",\n "assets": [bitcoin]}', "line 2, column 13"),
            (b'[1,2]', "JSON object"),
            (b'{"strategy_name": 5, "assets": ["bitcoin"]}', "'strategy_name'"),
            (b'{"strategy_name": "sma_cross", "assets": "bitcoin", "initial_capital": "lots"}', "'initial_capital'"),
            (b'{"strategy_name": "sma_cross", "assets": ["bitcoin"], "initial_capital": -5}', "'initial_capital'"),
            (b'{"strategy_name": "sma_cross", "assets": ["bitcoin"], "start": "yesterday"}', "'start'"),
            (b'{"strategy_name": "sma_cross", "assets": ["bitcoin"], "params": [1]}', "'params'"),
            (b'{"strategy_name": "sma_cross", "assets": ["bitcoin"], "capital": 1}', "unknown field 'capital'"),
            (b'{"strategy_name": "../../etc/passwd", "assets": ["bitcoin"]}', "'strategy_name'"),
            (b'{"strategy_name": "no_such_strategy", "assets": ["bitcoin"]}', "unknown strategy"),
            (b'{"assets": ["bitcoin"]}', "'strategy_name' is required"),
        ]
        for body, needle in cases:
            st, _, data = srv.request("POST", "/backtest", body=body, token=w, headers={"Content-Type": "application/json"})
            self.assertEqual(st, 400, body)
            self.assertIn(needle, json.loads(data)["detail"], body)
        st, _, data = srv.request("POST", "/signals/generate", token=w,
                                  body={"strategy_name": "sma_cross", "symbols": ["bitcoin"], "timeframe": "90m"})
        self.assertEqual(st, 400)
        self.assertIn("'timeframe'", json.loads(data)["detail"])
        st, _, data = srv.request("POST", "/backtest", token=w, body={"strategy_name": "sma_cross", "assets": ["dogecoin"]})
        self.assertEqual(st, 400)
        self.assertIn("unknown asset 'dogecoin'", json.loads(data)["detail"])
        st, _, data = srv.request("GET", "/backtests?limit=abc", token=w)
        self.assertEqual(st, 400)
        self.assertIn("'limit'", json.loads(data)["detail"])
        st, _, data = srv.request("GET", "/signals?assett=bitcoin", token=w)
        self.assertEqual(st, 400)
        self.assertIn("'assett'", json.loads(data)["detail"])
        # the server is still fine after all that
        self.assertEqual(srv.json("GET", "/health")[0]["status"], "ok")

    def test_rate_limit_429(self):
        srv = self.serve()   # defaults: 10/minute for POSTs
        alice, bob = make_token(sub="alice", scope="write"), make_token(sub="bob", scope="write")
        for i in range(10):   # invalid bodies are answered fast and still count
            self.assertEqual(srv.request("POST", "/signals/generate", body={}, token=alice)[0], 400, i)
        st, h, body = srv.request("POST", "/signals/generate", body={}, token=alice)
        self.assertEqual(st, 429)
        self.assertGreaterEqual(int(h["retry-after"]), 1)
        self.assertLessEqual(int(h["retry-after"]), 6)    # a token every 6 s at 10/minute
        self.assertEqual(json.loads(body)["error"], "rate_limited")
        self.assertEqual(srv.request("POST", "/signals/generate", body={}, token=bob)[0], 400)   # per client
        self.assertEqual(srv.request("GET", "/signals", token=alice)[0], 200)                    # per route class
        m = srv.metrics()
        self.assertEqual(m['mts_rate_limited_total{route="/signals/generate"}'], 1)
        # reads: a lower limit from the command line
        srv2 = self.serve("--rate-limit-read", "3")
        r = make_token(sub="carol")
        self.assertEqual([srv2.request("GET", "/signals", token=r)[0] for _ in range(4)], [200, 200, 200, 429])

    # ---- backtests ----

    def test_backtest_equals_cli_and_is_stored(self):
        srv = self.serve()
        req = {"strategy_name": "sma_cross", "assets": ["bitcoin"], "start": "2020-01-01", "end": "2023-12-31",
               "initial_capital": 50000, "commission_bps": 5, "slippage_bps": 2, "params": {"fast": 5, "slow": 20}}
        got, _ = srv.json("POST", "/backtest", body=req, token=make_token(scope="write"))
        cli_db = os.path.join(self.tmp, "cli.db")
        want, _ = self.backtest_json("--strategy", "sma_cross", "--asset", "bitcoin", "--from", "2020-01-01",
                                     "--to", "2023-12-31", "--capital", "50000", "--commission-bps", "5",
                                     "--slippage-bps", "2", "--param", "fast=5", "--param", "slow=20", "--db", cli_db)
        self.assertGreater(want["trade_count"], 0)
        self.assertEqual({k: v for k, v in got.items() if k != "id"}, {k: v for k, v in want.items() if k != "id"})
        stored, _ = srv.json("GET", "/backtests/%d" % got["id"], token=make_token())
        for k in ("strategy", "assets", "start", "end", "initial_capital", "final_value", "total_return",
                  "annualized_return", "sharpe_ratio", "max_drawdown", "volatility", "calmar_ratio", "win_rate",
                  "profit_factor", "trade_count", "parameters"):
            self.assertEqual(stored[k], got[k], k)
        self.assertEqual((stored["commission_bps"], stored["slippage_bps"]), (5, 2))
        self.assertEqual(len(stored["trades"]), got["trade_count"])
        for t in stored["trades"]:   # schema v8's fields (their values: test_stored_backtest_v8_fields)
            self.assertTrue({"strategy", "entry_reason", "exit_reason", "funding", "mae", "mfe", "open"} <= set(t), t)
            self.assertIsInstance(t["open"], bool)
        self.assertIsInstance(stored["books"], list)
        self.assertEqual(stored["equity"][-1][1], got["final_value"])
        lst, _ = srv.json("GET", "/backtests?limit=5", token=make_token())
        self.assertEqual([b["id"] for b in lst["backtests"]], [got["id"]])
        self.assertEqual(srv.metrics()["mts_backtests_total"], 1)

    # issue 12: the run options of mts backtest / mts.backtest{} as body fields
    RUN_OPTS = {"mode": "independent", "allocate": {"sma_cross": 0.6, "mean_reversion": 0.3}, "market": "perp",
                "leverage": 3, "max_position": 0.5, "max_portfolio_risk": 1, "maker_bps": 2, "taker_bps": 5}
    RUN_FLAGS = ["--mode", "independent", "--allocate", "sma_cross=0.6,mean_reversion=0.3", "--market", "perp",
                 "--leverage", "3", "--max-position", "0.5", "--max-portfolio-risk", "1", "--maker-bps", "2",
                 "--taker-bps", "5"]

    def test_backtest_run_options_equal_cli(self):
        """Two strategies with mode/allocate/market/leverage/limits/fees in the body:
        the same object as `mts backtest --json` with the same flags, key by key;
        the options did reach the run (books with the shares, a perp at 3x)."""
        srv = self.serve()
        req = dict({"strategy_name": ["sma_cross", "mean_reversion"], "assets": ["bitcoin"], "start": "2021-01-01",
                    "end": "2022-12-31"}, **self.RUN_OPTS)
        got, _ = srv.json("POST", "/backtest", body=req, token=make_token(scope="write"))
        want, _ = self.backtest_json("--strategy", "sma_cross,mean_reversion", "--asset", "bitcoin", "--from",
                                     "2021-01-01", "--to", "2022-12-31", *self.RUN_FLAGS,
                                     "--db", os.path.join(self.tmp, "cli.db"))
        self.assertGreater(want["trade_count"], 0)
        self.assertEqual(set(got) - {"id"}, set(want) - {"id"})
        for k in want:
            if k != "id":
                self.assertEqual(got[k], want[k], k)
        self.assertEqual((got["mode"], got["market"], got["leverage"]), ("independent", "perp", 3))
        self.assertEqual([(b["strategy"], b["allocation"], b["initial"]) for b in got["books"]],
                         [("sma_cross", 0.6, 60000), ("mean_reversion", 0.3, 30000)])
        # the defaults differ: without the options the run is another one
        plain, _ = srv.json("POST", "/backtest", token=make_token(scope="write"),
                            body={"strategy_name": ["sma_cross", "mean_reversion"], "assets": ["bitcoin"],
                                  "start": "2021-01-01", "end": "2022-12-31"})
        self.assertEqual(plain["market"], "spot")
        self.assertNotEqual(plain["books"][0]["initial"], 60000)

    def test_stored_extra_numbers_are_exact(self):
        """A stored run's extra metrics, benchmark and books read back (GET
        /backtests/{id}) equal `mts backtest --json`'s bit for bit (Python's
        float parsing is exact: == on the floats). Over 2021-2022 the
        benchmark's volatility is 0.7300194827281818, which a 15-digit printer
        stores as 0.730019482728182."""
        srv = self.serve()
        req = dict({"strategy_name": ["sma_cross", "mean_reversion"], "assets": ["bitcoin"], "start": "2021-01-01",
                    "end": "2022-12-31"}, **self.RUN_OPTS)
        got, _ = srv.json("POST", "/backtest", body=req, token=make_token(scope="write"))
        want, _ = self.backtest_json("--strategy", "sma_cross,mean_reversion", "--asset", "bitcoin", "--from",
                                     "2021-01-01", "--to", "2022-12-31", *self.RUN_FLAGS,
                                     "--db", os.path.join(self.tmp, "cli.db"))
        stored, _ = srv.json("GET", "/backtests/%d" % got["id"], token=make_token())
        n = 0
        for k in ("sortino_ratio", "exposure_time", "avg_trade", "expectancy", "alpha", "beta", "funding",
                  "leverage", "longest_losing_streak"):
            self.assertIsInstance(want[k], (int, float), k)
            self.assertTrue(stored[k] == want[k], "%s: stored %r, --json %r" % (k, stored[k], want[k]))
            n += 1
        for k, v in want["benchmark"].items():
            self.assertTrue(stored["benchmark"][k] == v, "benchmark.%s: stored %r, --json %r"
                            % (k, stored["benchmark"][k], v))
            n += 1
        self.assertEqual(len(stored["books"]), len(want["books"]))
        for sb, wb in zip(stored["books"], want["books"]):
            for k in ("return", "sharpe", "max_drawdown", "allocation", "initial", "final", "pnl", "fees"):
                self.assertTrue(sb[k] == wb[k], "books[%s].%s: stored %r, --json %r" % (wb["strategy"], k, sb[k], wb[k]))
                n += 1
        self.assertGreater(n, 30)
        # `mts report --json` reads the same stored numbers
        rep = json.loads(run(["report", str(got["id"]), "--json", "--db", self.db]).stdout)
        for k, v in want["benchmark"].items():
            self.assertTrue(rep["benchmark"][k] == v, k)
        self.assertTrue(rep["sortino_ratio"] == want["sortino_ratio"])

    def test_backtest_run_options_bad_fields(self):
        """A bad run option is a 400 naming the field (the CLI's rules); POST
        /optimize refuses allocate like mts optimize --allocate."""
        srv = self.serve("--rate-limit-write", "0")
        w = make_token(scope="write")
        base = {"strategy_name": ["sma_cross", "mean_reversion"], "assets": ["bitcoin"]}
        cases = [({"mode": "solo"}, "field 'mode'"), ({"mode": 1}, "field 'mode'"),
                 ({"market": "futures"}, "field 'market'"), ({"leverage": 0.5}, "field 'leverage'"),
                 ({"leverage": "3"}, "field 'leverage'"), ({"max_position": 0}, "field 'max_position'"),
                 ({"max_portfolio_risk": -1}, "field 'max_portfolio_risk'"), ({"maker_bps": -1}, "field 'maker_bps'"),
                 ({"taker_bps": "x"}, "field 'taker_bps'"),
                 ({"allocate": "sma_cross=0.5"}, "field 'allocate'"),
                 ({"allocate": {"sma_cross": "half"}}, "field 'allocate.sma_cross'"),
                 ({"allocate": {"vix_correlation": 0.5}}, "field 'allocate': 'vix_correlation' is not a strategy"),
                 ({"allocate": {"sma_cross": 0.7, "mean_reversion": 0.6}}, "field 'allocate'"),
                 ({"allocate": {"sma_cross": 1.5}}, "field 'allocate'"),
                 ({"allocate": {"sma_cross": 0.5}, "mode": "vote"}, "field 'allocate'")]
        for extra, needle in cases:
            st, _, data = srv.request("POST", "/backtest", body=dict(base, **extra), token=w)
            self.assertEqual(st, 400, (extra, data))
            self.assertIn(needle, json.loads(data)["detail"], extra)
        # checked when the run starts: a leverage above the instrument's max_leverage (config: 125)
        st, _, data = srv.request("POST", "/backtest", body=dict(base, market="perp", leverage=200), token=w)
        self.assertEqual(st, 400, data)
        self.assertIn("leverage", json.loads(data)["detail"])
        self.assertNotIn("--leverage", json.loads(data)["detail"])
        opt = {"strategy_name": "sma_cross", "assets": ["bitcoin"], "params": {"fast": [5, 10]}}
        for extra, needle in (({"allocate": {"sma_cross": 0.5}}, "field 'allocate'"),
                              ({"leverage": 0}, "field 'leverage'"), ({"market": "margin"}, "field 'market'")):
            st, _, data = srv.request("POST", "/optimize", body=dict(opt, **extra), token=w)
            self.assertEqual(st, 400, (extra, data))
            self.assertIn(needle, json.loads(data)["detail"], extra)
        # only the leverage-200 request reached a run; the others were refused before
        self.assertEqual(srv.metrics()["mts_backtests_total"], 1)

    def test_stored_backtest_v8_fields(self):
        """A run as schema v8 stores it (rows written here by sqlite3): each trade's
        strategy, reasons, funding, excursions and open flag; the run's extra JSON
        merged in at the top level (a key the run has of its own wins); its books,
        ordered by book, each with its metrics merged in. A run stored without any
        of it reads with the defaults."""
        srv = self.serve()   # migrates the new database to the current schema
        con = sqlite3.connect(self.db)
        extra = {"mode": "independent", "market": "perp", "leverage": 3,
                 "benchmark": {"total_return": 0.30000000000000004, "sharpe_ratio": 1.5},
                 "sortino_ratio": 2.25, "final_value": -1}
        con.execute("INSERT INTO backtest_results(id, strategy_name, start_date, end_date, initial_capital,"
                    " final_value, total_return, trade_count, assets, extra) VALUES(41, 'sma_cross,mean_reversion',"
                    " '2024-01-01', '2024-02-01', 1000, 1010.5, 0.0105, 2, 'bitcoin', ?)", (json.dumps(extra),))
        con.execute("INSERT INTO backtest_results(id, strategy_name, start_date, end_date, initial_capital,"
                    " final_value, total_return, trade_count, assets) VALUES(42, 'sma_cross', '2024-01-01',"
                    " '2024-02-01', 1000, 990, -0.01, 1, 'bitcoin')")
        con.executemany("INSERT INTO backtest_trades(backtest_id, asset, side, qty, entry_ts, entry_price, exit_ts,"
                        " exit_price, pnl, fees, strategy, entry_reason, exit_reason, funding, mae, mfe, open)"
                        " VALUES(?, 'bitcoin', ?, 0.5, ?, 100, ?, ?, ?, 0.1, ?, ?, ?, ?, ?, ?, ?)",
                        [(41, "long", 1704067200, 1704153600, 110, 4.65, "sma_cross", "signal", "take_profit",
                          -0.25, -1.5, 6.0, 0),
                         (41, "short", 1704153600, 1706745600, 95, 2.3, "mean_reversion", "signal", "end_of_data",
                          0.125, None, 3.0, 1)])
        con.execute("INSERT INTO backtest_trades(backtest_id, asset, side, qty, entry_ts, entry_price, exit_ts,"
                    " exit_price, pnl, fees) VALUES(42, 'bitcoin', 'long', 1, 1704067200, 100, 1704153600, 90, -10.2,"
                    " 0.2)")
        con.executemany("INSERT INTO backtest_books(backtest_id, book, strategy, allocation, initial, final, pnl, fees,"
                        " funding, trades, metrics) VALUES(41, ?, ?, 0.5, 500, ?, ?, 0.1, ?, 1, ?)",
                        [(1, "mean_reversion", 502.3, 2.3, 0.125, '{"return":0.0046,"sharpe":0.5,"risk_trimmed":2}'),
                         (0, "sma_cross", 504.65, 4.65, -0.25, '{"return":0.0093,"sharpe":1.25,"book":99}')])
        con.commit()
        con.close()
        r = make_token()
        b, _ = srv.json("GET", "/backtests/41", token=r)
        self.assertEqual((b["mode"], b["market"], b["leverage"], b["sortino_ratio"]), ("independent", "perp", 3, 2.25))
        self.assertEqual(b["benchmark"], {"total_return": 0.30000000000000004, "sharpe_ratio": 1.5})
        self.assertEqual(b["final_value"], 1010.5)   # the column, not extra's
        self.assertEqual([(t["strategy"], t["entry_reason"], t["exit_reason"], t["funding"], t["mae"], t["mfe"],
                           t["open"]) for t in b["trades"]],
                         [("sma_cross", "signal", "take_profit", -0.25, -1.5, 6.0, False),
                          ("mean_reversion", "signal", "end_of_data", 0.125, None, 3.0, True)])
        self.assertEqual(b["books"], [
            {"book": 0, "strategy": "sma_cross", "allocation": 0.5, "initial": 500, "final": 504.65, "pnl": 4.65,
             "fees": 0.1, "funding": -0.25, "trades": 1, "return": 0.0093, "sharpe": 1.25},
            {"book": 1, "strategy": "mean_reversion", "allocation": 0.5, "initial": 500, "final": 502.3, "pnl": 2.3,
             "fees": 0.1, "funding": 0.125, "trades": 1, "return": 0.0046, "sharpe": 0.5, "risk_trimmed": 2}])
        old, _ = srv.json("GET", "/backtests/42", token=r)
        self.assertEqual(old["trades"][0]["pnl"], -10.2)
        self.assertEqual({k: old["trades"][0][k] for k in ("strategy", "entry_reason", "exit_reason", "funding",
                                                            "mae", "mfe", "open")},
                         {"strategy": "", "entry_reason": "", "exit_reason": "", "funding": 0, "mae": None,
                          "mfe": None, "open": False})
        self.assertEqual(old["books"], [])
        self.assertNotIn("mode", old)
        lst, _ = srv.json("GET", "/backtests", token=r)
        self.assertEqual([(x["id"], x.get("mode"), x["final_value"]) for x in lst["backtests"]],
                         [(42, None, 990), (41, "independent", 1010.5)])

    def test_backtest_unstored_when_the_database_stays_busy(self):
        """Another connection holds the write lock longer than MTS_DB_BUSY_TIMEOUT_MS:
        the computed result is still answered (200, "id":null, "stored":false and
        why), with the numbers of the same backtest run while the database was free."""
        import sys
        from test_backtest import LOCKER
        srv = self.serve(env={"MTS_DB_BUSY_TIMEOUT_MS": "1500"})
        req = {"strategy_name": "sma_cross", "assets": ["bitcoin"], "start": "2021-01-01", "end": "2022-12-31"}
        free, _ = srv.json("POST", "/backtest", body=req, token=make_token(scope="write"))
        self.assertIsInstance(free["id"], int)
        self.assertNotIn("stored", free)   # the stored case's JSON is unchanged
        locker = subprocess.Popen([sys.executable, "-c", LOCKER, self.db, "60"], stdout=subprocess.PIPE, text=True)
        try:
            self.assertEqual(locker.stdout.readline().strip(), "locked")
            got, _ = srv.json("POST", "/backtest", body=req, token=make_token(scope="write"), timeout=60)
        finally:
            locker.kill()
            locker.wait()
            locker.stdout.close()
        self.assertIsNone(got["id"])
        self.assertIs(got["stored"], False)
        self.assertIn("database is locked", got["store_error"])
        self.assertEqual({k: v for k, v in got.items() if k not in ("id", "stored", "store_error")},
                         {k: v for k, v in free.items() if k != "id"})
        con = sqlite3.connect(self.db, timeout=30)
        try:
            self.assertEqual(con.execute("SELECT count(*) FROM backtest_results").fetchone()[0], 1)
        finally:
            con.close()

    def test_backtest_with_interval(self):
        """"interval": "1h" runs on the stored hourly bars (real Binance hours,
        written with sqlite3), the same run as `mts backtest --interval 1h`."""
        from test_backtest import read_hourly, store_bars
        self.mts("backtest", "--strategy", "sma_cross", "--asset", "bitcoin", "--quiet")   # creates the schema
        hours = read_hourly(24 * 20)
        store_bars(self.db, "bitcoin", "1h", hours)
        srv = self.serve()
        w = make_token(scope="write")
        req = {"strategy_name": "sma_cross", "assets": ["bitcoin"], "interval": "1h",
               "start": "2021-01-02T00:00:00Z", "end": "2021-01-15T12:00:00Z", "params": {"fast": 5, "slow": 20}}
        got, _ = srv.json("POST", "/backtest", body=req, token=w)
        self.assertEqual(got["interval"], "1h")
        inside = [b for b in hours if 1609545600 <= b[0] <= 1609545600 + 13 * 86400 + 12 * 3600]
        self.assertEqual(got["bars"], len(inside))
        self.assertEqual(got["bars"], 13 * 24 + 13)
        want, _ = self.backtest_json("--strategy", "sma_cross", "--asset", "bitcoin", "--interval", "1h",
                                     "--from", "2021-01-02T00:00:00Z", "--to", "2021-01-15T12:00:00Z",
                                     "--param", "fast=5", "--param", "slow=20")
        self.assertEqual({k: v for k, v in got.items() if k != "id"}, {k: v for k, v in want.items() if k != "id"})
        stored, _ = srv.json("GET", "/backtests/%d" % got["id"], token=make_token())
        self.assertEqual(stored["interval"], "1h")
        # the default is 1d, and an unknown interval is refused naming the choices
        daily, _ = srv.json("POST", "/backtest", token=w, body={"strategy_name": "sma_cross", "assets": ["bitcoin"],
                                                                 "start": "2021-01-02", "end": "2021-01-15"})
        self.assertEqual((daily["interval"], daily["bars"]), ("1d", 14))
        st, _, data = srv.request("POST", "/backtest", token=w,
                                  body={"strategy_name": "sma_cross", "assets": ["bitcoin"], "interval": "1H"})
        self.assertEqual(st, 400)
        self.assertIn("'interval'", json.loads(data)["detail"])
        self.assertIn("1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w", json.loads(data)["detail"])
        st, _, data = srv.request("POST", "/backtest", token=w,
                                  body={"strategy_name": "sma_cross", "assets": ["bitcoin"], "interval": "30m"})
        self.assertEqual(st, 400)                   # nothing stored or bundled is that fine
        self.assertIn("no 30m bars for bitcoin: stored are 1h", json.loads(data)["detail"])
        # /signals/generate runs over every stored bar of its timeframe
        gen, _ = srv.json("POST", "/signals/generate", token=w,
                          body={"strategy_name": "sma_cross", "symbols": ["bitcoin"], "timeframe": "1h"})
        self.assertEqual(gen["metadata"]["timeframe"], "1h")
        self.assertEqual(gen["metadata"]["assets"][0]["bars"], len(hours))
        self.assertEqual(gen["metadata"]["assets"][0]["as_of_ts"], hours[-1][0])

    def test_signals_generate_matches_the_stored_run(self):
        # a stored backtest of the same strategy/asset, by the CLI; its signals are stored with the run
        self.mts("backtest", "--strategy", "sma_cross", "--asset", "bitcoin", "--quiet")
        con = sqlite3.connect(self.db)
        run_id = con.execute("SELECT max(id) FROM backtest_results").fetchone()[0]
        self.assertEqual(con.execute("SELECT count(*) FROM signal_history").fetchone()[0], 0,
                         "a backtest's signals are not in signal_history")
        stored = run_signals(self.db, run_id)
        btc_sigs = [g for g in stored if g["asset"] == "bitcoin"]
        self.assertGreater(len(btc_sigs), 3)
        # signal_history holds live sessions' signals (and rows from before schema v7): three such rows,
        # copies of the run's last ones, for the listing below
        for g in btc_sigs[-3:]:
            con.execute("INSERT INTO signal_history(asset, signal_type, timestamp, price, strategy_name, confidence)"
                        " VALUES(?, ?, ?, ?, ?, ?)", (g["asset"], g["type"], g["ts"], g["price"], g["strategy"],
                                                      g["confidence"]))
        con.commit()
        newest3 = con.execute("SELECT id, signal_type, timestamp, price FROM signal_history"
                              " WHERE asset='bitcoin' AND strategy_name='sma_cross'"
                              " ORDER BY timestamp DESC, id DESC LIMIT 3").fetchall()
        con.close()
        srv = self.serve()
        nan_none = lambda v: None if v is None or v != v else v
        keys = ("type", "ts", "price", "confidence", "position_size", "stop_loss", "take_profit", "strategy")
        # the run through the API: the same signals as decoded here from backtest_signals
        run, _ = srv.json("GET", "/backtests/%d" % run_id, token=make_token())
        self.assertEqual(len(run["signals"]), len(stored))
        for a, b in zip(run["signals"], stored):
            self.assertEqual(tuple(a[k] for k in keys + ("asset",)), tuple(nan_none(b[k]) for k in keys + ("asset",)))
        last = [g for g in run["signals"] if g["asset"] == "bitcoin"][-1]
        w = make_token(scope="write")
        got, _ = srv.json("POST", "/signals/generate", token=w,
                          body={"strategy_name": "sma_cross", "symbols": ["bitcoin", "ethereum"], "timeframe": "1d"})
        self.assertEqual(got["metadata"]["strategies"], ["sma_cross"])
        self.assertEqual([r["asset"] for r in got["metadata"]["assets"]], ["bitcoin", "ethereum"])
        btc = got["metadata"]["assets"][0]
        bars = read_bars(BUNDLED["bitcoin"])
        self.assertEqual(btc["as_of_ts"], bars[-1][0])
        self.assertEqual(btc["bars"], len(bars))
        # the current decision: the stored run's signals at the latest bar, never an older one
        # (the run's last bitcoin signal is older than the latest bar: it is not the answer)
        self.assertLess(last["ts"], bars[-1][0])
        at_last = [g for g in run["signals"] if g["asset"] == "bitcoin" and g["ts"] == bars[-1][0]]
        self.assertEqual(at_last, [])
        self.assertEqual([g for g in got["signals"] if g["asset"] == "bitcoin"], [])
        self.assertEqual((btc["signal"], btc["reason"], btc["signals_at_last_bar"]), (False, "no_signal", 0))
        # nothing was stored by generate: signal_history still holds the three rows only
        lst, _ = srv.json("GET", "/signals?strategy=sma_cross&asset=bitcoin&limit=3", token=make_token())
        self.assertEqual([(r["id"], r["type"], r["ts"], r["price"]) for r in lst["signals"]], newest3)
        since, _ = srv.json("GET", "/signals?asset=bitcoin&since=%d" % newest3[1][2], token=make_token())
        self.assertEqual([r["id"] for r in since["signals"]], [r[0] for r in newest3[:2]])
        everything, _ = srv.json("GET", "/signals?limit=100", token=make_token())
        self.assertEqual(len(everything["signals"]), 3)
        m = srv.metrics()   # counted only for signals returned
        self.assertNotIn('mts_signals_generated_total{strategy="sma_cross",asset="bitcoin"}', m)

    def test_concurrent_backtests_beyond_workers(self):
        srv = self.serve("--workers", "2", "--queue", "8", "--rate-limit-write", "0")
        w = make_token(scope="write")
        body = {"strategy_name": "sma_cross", "assets": ["bitcoin"], "params": {"fast": 8, "slow": 40}}
        res = [None] * 6

        def go(i):
            res[i] = srv.request("POST", "/backtest", body=body, token=w)

        ts = [threading.Thread(target=go, args=(i,)) for i in range(6)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(120)
        self.assertEqual([r[0] for r in res], [200] * 6)
        docs = [json.loads(r[2]) for r in res]
        self.assertEqual(len({d["id"] for d in docs}), 6)
        for d in docs[1:]:
            self.assertEqual({k: v for k, v in d.items() if k != "id"}, {k: v for k, v in docs[0].items() if k != "id"})
        # a full queue answers 503 with Retry-After, and every request is answered:
        # one slow job runs (about 1.3 s), one waits, the rest find the queue full
        srv2 = self.serve("--workers", "1", "--queue", "1", "--rate-limit-write", "0",
                          db=os.path.join(self.tmp, "q.db"), env=self.slow_root())
        res = [None] * 5

        def go2(i):
            res[i] = srv2.request("POST", "/backtest", body=self.SLOW, token=w)

        ts = [threading.Thread(target=go2, args=(i,)) for i in range(5)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(300)
        codes = sorted(r[0] for r in res)
        # at most workers + queue = 2 are taken while the first job runs (1 when the
        # worker had not yet picked the first job up from the queue), the rest are refused
        self.assertTrue(set(codes) <= {200, 503}, codes)
        self.assertIn(codes.count(200), (1, 2), codes)
        for r in res:
            if r[0] == 503:
                self.assertGreaterEqual(int(r[1]["retry-after"]), 1)
                self.assertEqual(json.loads(r[2])["error"], "busy")

    def test_sigterm_answers_in_flight_request(self):
        srv = self.serve("--workers", "1", env=self.slow_root())
        w = make_token(scope="write")
        out = {}

        def go():
            out["r"] = srv.request("POST", "/backtest", body=self.SLOW, token=w)

        t = threading.Thread(target=go)
        t.start()
        deadline = time.time() + 30
        while time.time() < deadline:   # wait until the worker has it
            if srv.metrics().get('mts_worker_jobs{state="running"}') == 1:
                break
            time.sleep(0.01)
        else:
            self.fail("the backtest never started")
        srv.p.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        st, h, body = srv.request("GET", "/health")      # draining: new requests are refused
        self.assertEqual((st, json.loads(body)["error"], h.get("connection")), (503, "shutting_down", "close"))
        t.join(120)
        self.assertEqual(out["r"][0], 200, out["r"][2][:500])
        self.assertGreater(json.loads(out["r"][2])["id"], 0)
        self.assertEqual(srv.p.wait(timeout=30), 0)
        log = srv.log_text()
        self.assertIn('"event":"serve.stopping"', log)
        # one JSON access-log line per request, with the fields asked for
        lines = [json.loads(l) for l in log.splitlines() if '"event":"http.request"' in l]
        bt = [l for l in lines if l["route"] == "/backtest"]
        self.assertEqual(len(bt), 1)
        for k in ("method", "route", "status", "duration_ms", "client", "subject"):
            self.assertIn(k, bt[0])
        self.assertEqual((bt[0]["status"], bt[0]["subject"], bt[0]["client"]), (200, "tester", "127.0.0.1"))

    # ---- paper sessions ----

    def test_paper_sessions(self):
        srv = self.serve()   # opening the database migrates it to the current schema
        con = sqlite3.connect(self.db)
        # a live session: owned by this (running) test process on this host, started after it
        # (store/paper.h recovery rule)
        con.execute("INSERT INTO paper_sessions(id, started_at, strategies, exchange, symbols, interval,"
                    " initial_capital, commission_bps, slippage_bps, status, bars, heartbeat_at, pid, host)"
                    " VALUES(7, ?, 'sma_cross', 'binance', 'BTCUSDT', '1m', 10000, 10, 0, 'running', 3,"
                    " ?, ?, ?)", (int(time.time()), int(time.time()), os.getpid(), socket.gethostname()))
        con.executemany("INSERT INTO paper_fills(session_id, ts, asset, side, qty, price, fee, realized_pnl)"
                        " VALUES(7, ?, 'bitcoin', ?, ?, ?, ?, ?)",
                        [(1700000060, "buy", 0.1, 37000.5, 3.70005, 0.0), (1700000180, "sell", 0.1, 37100.0, 3.71, 6.24)])
        # schema v8: the second fill's book, strategy, reason and funding
        con.execute("UPDATE paper_fills SET book = 1, strategy = 'sma_cross', reason = 'stop_loss', funding = -0.5"
                    " WHERE session_id = 7 AND ts = 1700000180")
        con.executemany("INSERT INTO paper_equity(session_id, ts, equity, cash) VALUES(7, ?, ?, ?)",
                        [(1700000060, 9996.29995, 6296.24995), (1700000120, 10001.0, 6296.24995),
                         (1700000180, 10002.53995, 10002.53995)])
        con.commit()
        con.close()
        r = make_token()
        lst, _ = srv.json("GET", "/paper/sessions", token=r)
        self.assertEqual(len(lst["sessions"]), 1)
        s = lst["sessions"][0]
        self.assertEqual((s["id"], s["status"], s["fills"], s["bars"]), (7, "running", 2, 3))
        self.assertEqual(s["last_equity"], {"ts": 1700000180, "equity": 10002.53995})
        one, _ = srv.json("GET", "/paper/sessions/7", token=r)
        self.assertEqual([(f["ts"], f["side"], f["qty"], f["price"], f["fee"], f["realized_pnl"]) for f in one["fill_list"]],
                         [(1700000060, "buy", 0.1, 37000.5, 3.70005, 0.0), (1700000180, "sell", 0.1, 37100.0, 3.71, 6.24)])
        self.assertEqual([(f["book"], f["strategy"], f["reason"], f["funding"]) for f in one["fill_list"]],
                         [(0, "", "", 0), (1, "sma_cross", "stop_loss", -0.5)])
        self.assertEqual(one["equity"], [[1700000060, 9996.29995, 6296.24995], [1700000120, 10001.0, 6296.24995],
                                         [1700000180, 10002.53995, 10002.53995]])
        self.assertEqual(srv.request("GET", "/paper/sessions/8", token=r)[0], 404)
        self.assertEqual(srv.json("GET", "/health", token=r)[0]["checks"]["paper_sessions"]["running"], 1)
        self.assertEqual(srv.metrics()['mts_portfolio_value_usd{session="7"}'], 10002.53995)

    # ---- websocket ----

    def wait_ws_clients(self, srv, n):
        deadline = time.time() + 10
        while srv.metrics().get("mts_ws_clients") != n:
            if time.time() > deadline:
                self.fail("mts_ws_clients never reached %d" % n)
            time.sleep(0.02)

    def test_ws_sqlite_bus(self):
        srv = self.serve()
        # refused without a token, with a plain 401
        ws = WebSocket(srv.port)
        self.assertEqual(ws.status, 401)
        self.assertEqual(json.loads(ws.body)["error"], "unauthorized")
        ws.close()
        ws = WebSocket(srv.port, path="/ws?token=" + make_token(sub="wsclient"))
        self.assertEqual(ws.status, 101)
        ws2 = WebSocket(srv.port, token=make_token(sub="other"))
        self.assertEqual(ws2.status, 101)
        self.wait_ws_clients(srv, 2)
        ws.send('{"op":"ping"}')
        self.assertEqual(ws.recv(), {"op": "pong"})
        ws.send("this is not json")
        self.assertEqual(ws.recv()["error"], "bad_message")
        ws.send('{"op":"subscribe","topics":"fill"}')
        self.assertIn("'topics'", ws.recv()["detail"])
        ws.send('{"op":"ping"}')               # still connected after the errors
        self.assertEqual(ws.recv(), {"op": "pong"})
        con = sqlite3.connect(self.db)

        def publish(topic, payload):
            cur = con.execute("INSERT INTO bus_events(ts_ms, topic, payload) VALUES(?, ?, ?)",
                              (int(time.time() * 1000), topic, json.dumps(payload)))
            con.commit()
            return cur.lastrowid

        sig = {"strategy": "sma_cross", "asset": "bitcoin", "type": "LONG", "price": 42000.5}
        rid = publish("signal", sig)
        for c in (ws, ws2):
            m = c.recv()
            self.assertEqual(m, {"topic": "signal", "id": str(rid), "data": sig})
        ws.send('{"op":"subscribe","topics":["fill"]}')
        self.assertEqual(ws.recv(), {"op": "subscribed", "topics": ["fill"]})
        publish("signal", {"n": 1})
        fid = publish("fill", {"asset": "bitcoin", "qty": 0.5})
        self.assertEqual(ws.recv(), {"topic": "fill", "id": str(fid), "data": {"asset": "bitcoin", "qty": 0.5}})
        self.assertEqual([ws2.recv()["topic"], ws2.recv()["topic"]], ["signal", "fill"])   # ws2: every topic
        con.close()
        m = srv.metrics()
        self.assertEqual(m['mts_bus_messages_total{topic="signal"}'], 2)
        self.assertEqual(m['mts_bus_messages_total{topic="fill"}'], 1)
        ws.close()
        ws2.close()
        self.wait_ws_clients(srv, 0)

    def test_ws_redis_bus(self):
        url = os.environ.get("MTS_TEST_REDIS_URL")
        self.assertTrue(url, "MTS_TEST_REDIS_URL is not set (run through tests/run_e2e.sh or source tests/redis_env.sh)")
        stream = "mts:bus"
        srv = self.serve("--redis", url)
        h, _ = srv.json("GET", "/health")
        self.assertTrue(h["checks"]["redis"]["configured"])
        self.assertTrue(h["checks"]["redis"]["ok"])
        self.assertEqual(h["checks"]["bus"]["backend"], "redis")
        ws = WebSocket(srv.port, token=make_token())
        self.assertEqual(ws.status, 101)
        self.wait_ws_clients(srv, 1)
        time.sleep(0.2)   # the server's cursor "$" is resolved at its first poll
        payload = {"session": 3, "equity": 10250.75}
        r = Resp(url)
        xid = r.cmd("XADD", stream, "*", "topic", "equity", "payload", json.dumps(payload))
        r.close()
        m = ws.recv()
        self.assertEqual(m, {"topic": "equity", "id": xid, "data": payload})
        ws.close()

    # ---- the token command and startup errors ----

    def test_token_command_and_startup_refusals(self):
        env = {"MTS_JWT_SECRET": SECRET}
        r = run(["token", "--subject", "bob", "--scope", "write", "--ttl", "2m"], env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        tok = r.stdout.strip()
        h, p, s = tok.split(".")
        pad = lambda x: x + "=" * (-len(x) % 4)
        self.assertEqual(json.loads(base64.urlsafe_b64decode(pad(h))), {"alg": "HS256", "typ": "JWT"})
        claims = json.loads(base64.urlsafe_b64decode(pad(p)))
        self.assertEqual((claims["sub"], claims["scope"], claims["exp"] - claims["iat"]), ("bob", "write", 120))
        self.assertEqual(s, b64url(hmac.new(SECRET.encode(), (h + "." + p).encode(), hashlib.sha256).digest()))
        srv = self.serve()
        self.assertEqual(srv.request("POST", "/backtest", body={}, token=tok)[0], 400)   # accepted: write scope
        for args, needle in [(["token"], "--subject"), (["token", "--subject", "x", "--scope", "admin"], "--scope"),
                             (["token", "--subject", "x", "--ttl", "forever"], "--ttl")]:
            r = run(args, env=env)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn(needle, r.stderr)
        r = run(["token", "--subject", "x"], env={"MTS_JWT_SECRET": "short"})
        self.assertEqual(r.returncode, 2)
        self.assertIn("at least 32", r.stderr)
        r = run(["serve", "--db", self.db], env={"MTS_JWT_SECRET": ""}, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn("MTS_JWT_SECRET", r.stderr)
        f = os.path.join(self.tmp, "secret")
        with open(f, "w") as fh:
            fh.write("too short\n")
        r = run(["serve", "--db", self.db, "--jwt-secret-file", f], timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn("at least 32", r.stderr)
        r = run(["serve", "--no-auth", "--host", "0.0.0.0", "--db", self.db], timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn("loopback", r.stderr)
        r = run(["serve", "--workers", "zero", "--db", self.db], env=env, timeout=30)
        self.assertEqual(r.returncode, 2)
        # --no-auth on loopback: no token needed, a warning is logged
        srv2 = self.serve("--no-auth", env={"MTS_JWT_SECRET": ""})
        self.assertEqual(srv2.request("GET", "/backtests")[0], 200)
        self.assertIn('"event":"serve.no_auth"', srv2.log_text())
        self.assertIn("examples:", run(["serve", "--help"]).stdout)
        self.assertIn("examples:", run(["token", "--help"]).stdout)


if __name__ == "__main__":
    unittest.main()
