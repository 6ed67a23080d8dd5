#!/usr/bin/env python3
"""Stand-in for the CoinGecko and FRED REST APIs, for tests only (standard library).

    python3 tests/e2e/vendor_server.py [--port 0]

Listens on 127.0.0.1 (port 0 = any free port) and prints the port on the first
line of stdout. Speaks the vendors' wire formats, replayed from
tests/fixtures/vendors (copies of ../shared/data/samples, see its README):

  CoinGecko (base URL http://127.0.0.1:PORT/api/v3)
    GET /coins/{id}/ohlc?vs_currency=usd&days=N      [[ms, o, h, l, c], ...]
    GET /coins/{id}/market_chart/range?vs_currency=usd&from=S&to=S
                                                     {prices, market_caps, total_volumes}
    GET /simple/price?ids=a,b&vs_currencies=usd&...  {id: {usd, ...}}
  FRED (base URL http://127.0.0.1:PORT/fred)
    GET /series/observations?series_id=X&api_key=K&file_type=json&observation_start=D
        (api_key is required, as on the real service)

By default `bitcoin` serves the fixture files and `GNPCA` the FRED fixture.
Other data is loaded by the test with the control endpoints:

  POST /_control/data     {"ohlc": {id: [[ms,o,h,l,c],...]},
                           "market_chart": {id: {"prices":..,"market_caps":..,"total_volumes":..}},
                           "price": {id: {...}},
                           "fred": {series: [{"date": "YYYY-MM-DD", "value": "1.5"}, ...]}}
  POST /_control/script   {"steps": [B, ...], "default": B, "match": "substring of path"}
                          misbehaviour on cue: each vendor request (whose path contains
                          `match`, when given) takes the next step; when they run out,
                          `default` (normally "ok") applies. B is one of
                          "ok", "500", "503", "400", "404", "garbage", "truncate", "drop",
                          "empty", {"do": "429", "retry_after": "2"}, {"do": "slow", "seconds": 2},
                          {"do": "redirect", "to": "http://127.0.0.1:PORT2", "status": 302}
                          (Location: the `to` origin + this request's path and query)
  GET  /_control/stats    {"total": n, "requests": {path: n}, "connections": n,
                           "vendor_connections": n (connections that carried vendor requests),
                           "last_headers": {...}, "log": [[path, behaviour], ...],
                           "seen": [{"target": path?query, "headers": {...}}, ...] (every request)}
  POST /_control/reset    clears data overrides, script and counters
"""
import argparse
import json
import os
import socketserver
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "fixtures", "vendors")


def load_fixture(*parts):
    with open(os.path.join(FIX, *parts)) as f:
        return json.load(f)


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.ohlc = {"bitcoin": load_fixture("coingecko", "coins_id_ohlc.json")}
        self.chart = {"bitcoin": load_fixture("coingecko", "coins_id_market_chart_range.json")}
        self.price = load_fixture("coingecko", "simple_price.json")
        self.fred_envelope = load_fixture("fred_api", "series_observations_GNPCA.json")
        self.fred = {"GNPCA": [{"date": o["date"], "value": o["value"]}
                               for o in self.fred_envelope["observations"]]}
        self.steps = []
        self.default = "ok"
        self.match = None
        self.requests = {}
        self.total = 0
        self.connections = 0
        self.vendor_connections = 0
        self.last_headers = {}
        self.log = []
        self.seen = []

    def next_behaviour(self, path):
        with self.lock:
            if self.match and self.match not in path:
                return "ok"
            if self.steps:
                return self.steps.pop(0)
            return self.default


STATE = State()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"      # keep-alive, as the real services
    server_version = "vendor-stand-in/1"

    def setup(self):
        super().setup()
        with STATE.lock:
            STATE.connections += 1

    def log_message(self, fmt, *args):   # quiet
        pass

    # ---- helpers ----
    def send_json(self, code, obj, extra=None):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n) or b"{}") if n else {}

    # ---- control ----
    def control(self, path):
        if path == "/_control/stats":
            with STATE.lock:
                return self.send_json(200, {"total": STATE.total, "requests": STATE.requests,
                                            "connections": STATE.connections,
                                            "vendor_connections": STATE.vendor_connections,
                                            "last_headers": STATE.last_headers, "log": STATE.log,
                                            "seen": STATE.seen})
        if path == "/_control/reset":
            with STATE.lock:
                STATE.reset()
            return self.send_json(200, {"ok": True})
        if path == "/_control/script":
            b = self.read_body()
            with STATE.lock:
                STATE.steps = list(b.get("steps", []))
                STATE.default = b.get("default", "ok")
                STATE.match = b.get("match")
            return self.send_json(200, {"ok": True})
        if path == "/_control/data":
            b = self.read_body()
            with STATE.lock:
                STATE.ohlc.update(b.get("ohlc", {}))
                STATE.chart.update(b.get("market_chart", {}))
                STATE.price.update(b.get("price", {}))
                STATE.fred.update(b.get("fred", {}))
            return self.send_json(200, {"ok": True})
        return self.send_json(404, {"error": "unknown control path"})

    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        if path.startswith("/_control/"):
            return self.control(path)
        return self.send_json(405, {"error": "method not allowed"})

    # ---- vendor routes ----
    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        path, q = u.path, dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
        if path.startswith("/_control/"):
            return self.control(path)
        b = STATE.next_behaviour(path)
        with STATE.lock:
            STATE.total += 1
            STATE.requests[path] = STATE.requests.get(path, 0) + 1
            STATE.last_headers = {k.lower(): v for k, v in self.headers.items()}
            STATE.log.append([path, b])
            STATE.seen.append({"target": self.path, "headers": STATE.last_headers})
            if not getattr(self, "_counted", False):
                self._counted = True
                STATE.vendor_connections += 1
        kind = b["do"] if isinstance(b, dict) else b
        if kind == "slow":
            time.sleep(float(b.get("seconds", 2)))
            kind = "ok"
        if kind == "drop":                 # close without a byte
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass
            return
        if kind == "redirect":
            self.send_response(int(b.get("status", 302)))
            self.send_header("Location", b["to"].rstrip("/") + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if kind == "429":
            extra = {}
            if isinstance(b, dict) and b.get("retry_after") is not None:
                extra["Retry-After"] = str(b["retry_after"])
            # CoinGecko's documented 429 body
            return self.send_json(429, {"status": {"error_code": 429,
                                  "error_message": "You've exceeded the Rate Limit."}}, extra)
        if kind in ("500", "503"):
            return self.send_json(int(kind), {"error": "internal server error"})
        if kind in ("400", "404"):
            return self.send_json(int(kind), {"error": "bad request"})
        if kind == "empty":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        code, obj = self.route(path, q)
        if kind == "garbage":
            body = b'{"prices": [[1, 2], [oops this is not json'
        else:
            body = json.dumps(obj, indent=2).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        if kind == "truncate":             # promise more than we send, then hang up
            self.send_header("Content-Length", str(len(body) + 100))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def route(self, path, q):
        parts = [p for p in path.split("/") if p]
        with STATE.lock:
            if parts[:2] == ["api", "v3"]:
                rest = parts[2:]
                if rest == ["simple", "price"]:
                    ids = [i for i in q.get("ids", "").split(",") if i]
                    return 200, {i: STATE.price[i] for i in ids if i in STATE.price}
                if len(rest) >= 3 and rest[0] == "coins":
                    cid = rest[1]
                    if rest[2:] == ["ohlc"]:
                        if cid not in STATE.ohlc:
                            return 404, {"error": "coin not found"}
                        return 200, STATE.ohlc[cid]
                    if rest[2:] == ["market_chart", "range"]:
                        if cid not in STATE.chart:
                            return 404, {"error": "coin not found"}
                        lo = float(q.get("from", "0")) * 1000
                        hi = float(q.get("to", "1e12")) * 1000
                        ch = STATE.chart[cid]
                        return 200, {k: [p for p in ch.get(k, []) if lo <= p[0] <= hi]
                                     for k in ("prices", "market_caps", "total_volumes")}
                return 404, {"error": "Not Found"}
            if parts[:1] == ["fred"] and parts[1:] == ["series", "observations"]:
                if not q.get("api_key"):
                    return 400, {"error_code": 400, "error_message":
                                 "Bad Request.  Variable api_key is not set.  Read https://fred.stlouisfed.org/docs/api/api_key.html for more information."}
                sid = q.get("series_id", "")
                if sid not in STATE.fred:
                    return 400, {"error_code": 400, "error_message": "Bad Request.  The series does not exist."}
                start = q.get("observation_start", "1776-07-04")
                end = q.get("observation_end", "9999-12-31")
                env = dict(STATE.fred_envelope)
                obs = [dict(realtime_start=env["realtime_start"], realtime_end=env["realtime_end"],
                            date=o["date"], value=o["value"])
                       for o in STATE.fred[sid] if start <= o["date"] <= end]
                env.update(observation_start=start, observation_end=end, count=len(obs),
                           observations=obs)
                return 200, env
        return 404, {"error": "Not Found"}


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args()
    srv = Server(("127.0.0.1", a.port), Handler)
    print(srv.server_address[1], flush=True)
    try:
        srv.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
