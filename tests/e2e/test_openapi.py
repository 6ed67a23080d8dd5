"""docs/openapi.json kept true (issue 14): an independent OpenAPI 3.1 linter
(@redocly/cli, installed by `make deps` at the version the Makefile pins)
validates it; GET /openapi.json serves exactly that file (built into the
binary), with no token; its paths and methods are the routes of server.c
(read from route_of's tables in the source) and the routes the server lists
when asked for one it does not have; the stdlib checker every e2e answer goes
through (openapi_check.py, hooked in mtslib) sees every answer of a session
covering every operation, and refuses answers the document does not describe.

POST /signals/generate: the current aggregated decision at each asset's
latest bar, checked against SMAs computed here: an asset whose last bar is a
sma_cross up-cross gets that LONG; one whose last cross is older gets none
(signals [] and metadata saying why); several strategies vote (a tie gives
none); bad body fields are 400s naming the field."""
import json
import os
import re
import shutil
import subprocess
import unittest

import mtslib
import openapi_check
from mtslib import ROOT, MtsTestCase, make_root
from test_serve import Server, make_token

DOC = os.path.join(ROOT, "docs", "openapi.json")
SERVER_C = os.path.join(ROOT, "runtime", "api", "server.c")


def read(path):
    with open(path) as f:
        return f.read()


def load_doc():
    with open(DOC) as f:
        return json.load(f)


def doc_operations(doc):
    return {(m.upper(), p) for p, item in doc["paths"].items() for m in item if m in
            ("get", "post", "put", "delete", "patch", "head", "options")}


def source_routes():
    """(method, template) of every route in server.c: the templates of
    api_route_names, the methods of route_of's fixed table, POST for the
    routes dispatch calls is_post_route, GET for the rest."""
    with open(SERVER_C) as f:
        src = f.read()
    names = dict(re.findall(r'\[(R_[A-Z_]+)\]\s*=\s*"([^"]+)"', src.split("api_route_names[R_COUNT]", 1)[1].split("};", 1)[0]))
    body = src.split("static int route_of(", 1)[1].split("\n}\n", 1)[0]
    fixed = {r: m for _, r, m in re.findall(r'\{"(/[^"]*)",\s*(R_[A-Z_]+),\s*"([A-Z]+)"\}', body)}
    post = set(re.findall(r"route == (R_[A-Z_]+)", src.split("int is_post_route =", 1)[1].split(";", 1)[0]))
    out = set()
    for r, tmpl in names.items():
        m = fixed.get(r, "POST" if r in post else "GET")
        if r in post and m != "POST":
            raise AssertionError("%s: route_of says %s, dispatch says POST" % (r, m))
        out.add((m, tmpl))
    return out


def sma(xs, n, i):
    return sum(xs[i - n + 1:i + 1]) / n if i >= n - 1 else float("nan")


def crosses(closes, fast=10, slow=30):
    """[(i, 'LONG'|'CLOSE')] of sma_cross as its header describes it."""
    out, nzd = [], float("nan")
    for i in range(len(closes)):
        f, s = sma(closes, fast, i), sma(closes, slow, i)
        d, prev = f - s, nzd
        if d == d and d != 0:
            nzd = d
        if prev < 0 and f > s:
            out.append((i, "LONG"))
        elif prev > 0 and f < s:
            out.append((i, "CLOSE"))
    return out


T0 = 1_700_006_400 // 86400 * 86400


def write_csv(path, closes):
    with open(path, "w") as f:
        f.write("timestamp,open,high,low,close,volume\n")
        for i, c in enumerate(closes):
            o = closes[i - 1] if i else c
            f.write("%d,%r,%r,%r,%r,10\n" % (T0 + i * 86400, o, max(o, c) + 1, min(o, c) - 0.5, c))


# crosscoin: falls for 40 days, then jumps: the last bar is an up-cross (and the only cross)
CROSS = [100.0 - i for i in range(40)] + [1000.0]
# flatcoin: rises, falls (a down-cross), rises again (an up-cross), then drifts: no cross at the end
FLAT = [50.0 + i for i in range(35)] + [85.0 - 2 * i for i in range(25)] + [37.0 + 3 * i for i in range(20)] + \
       [100.0 + 0.1 * i for i in range(10)]

SHORT_LUA = """-- always_short.lua (test_openapi): SHORT on every bar with the confidence asked for
local M = {}
function M.get_parameters() return { confidence = 0.5 } end
function M.on_bar(ctx, asset, i)
    return { asset = asset, signal_type = "SHORT", confidence = ctx.params.confidence }
end
return M
"""


class OpenApiTest(MtsTestCase):
    def setUp(self):
        super().setUp()
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.stop()
        super().tearDown()

    def serve(self, *args, env=None):
        s = Server(self.db, *args, env=env, tmp=self.tmp)
        self.servers.append(s)
        return s

    # ---- the document ----

    def test_an_independent_openapi_linter_validates_the_document(self):
        exe = shutil.which("redocly")
        if not exe:
            self.fail("the OpenAPI linter is not installed: run `make deps` (npm install -g @redocly/cli@VERSION, "
                      "REDOCLY_VERSION in the Makefile)")
        pin = re.search(r"^REDOCLY_VERSION := ([0-9]+\.[0-9]+\.[0-9]+)$", read(os.path.join(ROOT, "Makefile")), re.M)
        self.assertTrue(pin, "the Makefile pins the linter: REDOCLY_VERSION := X.Y.Z (make deps installs it)")
        env = dict(os.environ, REDOCLY_TELEMETRY="off", REDOCLY_SUPPRESS_UPDATE_NOTICE="true", NO_COLOR="1")
        ver = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=120, env=env)
        self.assertEqual(ver.stdout.strip().splitlines()[0], pin.group(1),
                         "redocly %s installed, the Makefile pins %s: run `make deps`" % (ver.stdout.strip(), pin.group(1)))
        r = subprocess.run([exe, "lint", "--config", os.path.join(ROOT, "docs", "redocly.yaml"), DOC],
                           capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 0, out[-4000:])
        self.assertIn("docs/openapi.json: validated", out)
        self.assertNotRegex(out, r"You have \d+ (warning|error)", out[-4000:])
        doc = load_doc()
        self.assertEqual(doc["openapi"], "3.1.0")

    def test_the_linter_refuses_a_broken_document(self):
        # the linter is not a rubber stamp: a dangling $ref
        exe = shutil.which("redocly")
        if not exe:
            self.fail("the OpenAPI linter is not installed: run `make deps`")
        doc = load_doc()
        doc["paths"]["/backtests"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] = \
            {"$ref": "#/components/schemas/NoSuchSchema"}
        bad = os.path.join(self.tmp, "openapi.json")
        with open(bad, "w") as f:
            json.dump(doc, f)
        env = dict(os.environ, REDOCLY_TELEMETRY="off", REDOCLY_SUPPRESS_UPDATE_NOTICE="true", NO_COLOR="1")
        r = subprocess.run([exe, "lint", "--config", os.path.join(ROOT, "docs", "redocly.yaml"), bad],
                           capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
        self.assertNotEqual(r.returncode, 0, r.stdout[-2000:])
        self.assertIn("Can't resolve $ref", r.stdout + r.stderr)
        self.assertIn("#/paths/~1backtests/get/responses/200", r.stdout + r.stderr)

    def test_served_without_a_token_and_equal_to_docs(self):
        srv = self.serve()
        st, h, body = srv.request("GET", "/openapi.json")
        self.assertEqual(st, 200, body[:300])
        self.assertEqual(h["content-type"].split(";")[0], "application/json")
        with open(DOC, "rb") as f:
            self.assertEqual(body, f.read())
        st, _, _ = srv.request("GET", "/openapi.json?pretty=1")
        self.assertEqual(st, 400)
        st, h, _ = srv.request("POST", "/openapi.json", body="{}")
        self.assertEqual((st, h.get("allow")), (405, "GET"))

    def test_served_by_a_binary_away_from_the_tree(self):
        # the document is in the binary: a copy with no docs/ (nor scripts/) beside it serves it
        inst = os.path.join(self.tmp, "inst", "bin")
        os.makedirs(inst)
        shutil.copy(mtslib.MTS, inst)
        env = dict(os.environ, MTS_JWT_SECRET="serve-test-secret-0123456789-abcdefghij", MTS_ROOT=self.tmp)
        env.pop("DATABASE_PATH", None)
        p = subprocess.Popen([os.path.join(inst, "mts"), "serve", "--port", "0", "--db", self.db], cwd=self.tmp,
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            m = re.search(r"listening on http://[^:]+:(\d+)", p.stdout.readline())
            self.assertTrue(m, "the copied binary did not start")
            import http.client
            c = http.client.HTTPConnection("127.0.0.1", int(m.group(1)), timeout=30)
            c.request("GET", "/openapi.json")
            r = c.getresponse()
            body = r.read()
            c.close()
            self.assertEqual(r.status, 200)
            with open(DOC, "rb") as f:
                self.assertEqual(body, f.read())
        finally:
            p.terminate()
            p.wait(30)
            p.stdout.close()

    def test_every_route_of_the_server_is_in_the_document_and_back(self):
        doc = load_doc()
        self.assertEqual(doc_operations(doc), source_routes())
        # and as the server itself says: the routes its 404 lists, and each answers
        # with its method (never "no route") and refuses another (405)
        srv = self.serve()
        st, _, body = srv.request("GET", "/no/such/route")
        self.assertEqual(st, 404)
        listed = json.loads(body)["detail"].split("routes: ", 1)[1].split()
        self.assertEqual(sorted(listed), sorted(doc["paths"]))
        w = make_token(scope="write")
        sample = {"{id}": "1", "{exchange}": "binance", "{symbol}": "BTCUSDT", "{interval}": "1h"}
        for method, tmpl in sorted(doc_operations(doc)):
            path = tmpl
            for k, v in sample.items():
                path = path.replace(k, v)
            st, _, body = srv.request(method, path, token=w, body="{}" if method == "POST" else None)
            if st == 404:
                self.assertNotIn("no route", json.loads(body)["detail"], (method, path))
            other = "GET" if method == "POST" else "POST"
            st, h, _ = srv.request(other, path, token=w, body="{}" if other == "POST" else None)
            self.assertEqual((st, h.get("allow")), (405, method), (other, path))

    # ---- the checker and its hook ----

    def test_every_answer_of_a_session_is_checked(self):
        srv = self.serve("--rate-limit-write", "0")
        r, w = make_token(), make_token(scope="write")
        doc = load_doc()
        with mtslib.recording() as answers:
            calls = [("GET", "/health", None, None), ("GET", "/health", r, None), ("GET", "/metrics", None, None),
                     ("GET", "/openapi.json", None, None),
                     ("POST", "/backtest", w, {"strategy_name": "sma_cross", "assets": ["bitcoin"],
                                               "start": "2024-01-01", "end": "2024-03-01"}),
                     ("GET", "/backtests?limit=5", r, None), ("GET", "/backtests/1", r, None),
                     ("GET", "/backtests/99", r, None), ("GET", "/signals?limit=2", r, None),
                     ("GET", "/paper/sessions", r, None), ("GET", "/paper/sessions/7", r, None),
                     ("GET", "/orderbook/binance/BTCUSDT?depth=3", r, None), ("GET", "/funding/bybit/BTCUSDT", r, None),
                     ("GET", "/market/BTCUSDT/1h", r, None), ("GET", "/market/BTCUSDT/7q", r, None),
                     ("POST", "/optimize", w, {"strategy_name": "sma_cross", "assets": ["bitcoin"], "start": "2024-01-01",
                                               "end": "2024-02-01", "params": {"fast": "5:6:1"}, "jobs": 1}),
                     ("GET", "/optimize/1", r, None), ("GET", "/optimize/5", r, None),
                     ("POST", "/signals/generate", w, {"strategy_name": "sma_cross", "assets": ["bitcoin"]}),
                     ("GET", "/ws", r, None), ("GET", "/backtests", None, None), ("POST", "/backtest", r, {}),
                     ("GET", "/backtest", w, None), ("GET", "/nothing", None, None),
                     ("POST", "/backtest", w, b'{"strategy_name": '), ("POST", "/backtest", w, {"strategy_name": "x"})]
            for method, path, tok, body in calls:
                srv.request(method, path, token=tok, body=body,
                            headers={"Content-Type": "application/json"} if body is not None else None)
        self.assertEqual([(a[0], a[1]) for a in answers], [(c[0], c[1]) for c in calls])
        statuses = {a[2] for a in answers}
        self.assertTrue({200, 202, 400, 401, 403, 404, 405} <= statuses, statuses)
        # every operation of the document was answered at least once
        chk = openapi_check.load()
        seen = {(a[0], chk.route(a[1])[0]) for a in answers}
        self.assertTrue(doc_operations(doc) <= seen, doc_operations(doc) - seen)

    def test_the_checker_refuses_answers_the_document_does_not_describe(self):
        chk = openapi_check.load()
        js = {"content-type": "application/json"}
        ok_err = json.dumps({"error": "not_found", "detail": "no backtest with id 3"})
        chk.check("GET", "/backtests/3", 404, js, ok_err)          # described: passes
        chk.check("GET", "/no/route", 404, js, ok_err)
        bad = [
            ("GET", "/backtests/3", 404, js, json.dumps({"error": "not_found"})),              # detail missing
            ("GET", "/backtests/3", 404, js, json.dumps({"error": 1, "detail": "x"})),         # wrong type
            ("GET", "/backtests/3", 404, js, json.dumps({"error": "x", "detail": "y", "z": 1})),  # extra key
            ("GET", "/backtests/3", 418, js, ok_err),                                         # status not documented
            ("GET", "/backtests/3", 404, {"content-type": "text/html"}, ok_err),              # content type
            ("GET", "/no/route", 200, js, "{}"),                                              # a path that is no route
            ("DELETE", "/backtests/3", 200, js, "{}"),                                        # a method not taken: 405
            ("GET", "/backtests", 401, js, json.dumps({"error": "unauthorized", "detail": "x"})),  # WWW-Authenticate
            ("GET", "/health", 200, js, json.dumps({"version": "1", "checks": {}})),          # status missing
            ("GET", "/backtests", 200, js, "{not json"),
            ("POST", "/signals/generate", 200, js, json.dumps({"signals": [{"asset": "bitcoin", "signal_type": "BUY"}],
                                                               "timestamp": 1, "metadata": {}})),
            ("GET", "/paper/sessions/1", 200, js, json.dumps({"id": "1"})),
        ]
        for method, path, st, h, body in bad:
            with self.assertRaises(openapi_check.Mismatch, msg=(method, path, st, body)):
                chk.check(method, path, st, h, body)
        # the schema keywords, one by one, against values computed by hand
        e = chk.errors
        self.assertEqual(e({"type": ["integer", "null"]}, 3.0), [])
        self.assertNotEqual(e({"type": "integer"}, 3.5), [])
        self.assertNotEqual(e({"type": "number"}, True), [])
        self.assertNotEqual(e({"oneOf": [{"type": "number"}, {"type": "integer"}]}, 3), [])    # both match
        self.assertEqual(e({"anyOf": [{"type": "number"}, {"type": "integer"}]}, 3), [])
        self.assertNotEqual(e({"type": "array", "prefixItems": [{"type": "integer"}], "items": False}, [1, 2]), [])
        self.assertNotEqual(e({"enum": ["a", None]}, "b"), [])
        self.assertEqual(e({"enum": ["a", None]}, None), [])
        self.assertNotEqual(e({"type": "object", "additionalProperties": {"type": "string"}}, {"k": 1}), [])
        self.assertNotEqual(e({"minimum": 1}, 0), [])
        self.assertNotEqual(e({"exclusiveMinimum": 0}, 0), [])
        with self.assertRaises(openapi_check.Mismatch):
            e({"if": {}}, 1)   # a keyword the checker does not implement fails loudly
        # and through the hook: a test receiving an undescribed answer fails
        with self.assertRaises(openapi_check.Mismatch):
            mtslib.http_response("GET", "/metrics", 200, js, "{}")

    # ---- POST /signals/generate ----

    def test_signals_generate_is_the_decision_at_the_latest_bar(self):
        # the series' crosses, computed here: crosscoin's only cross is its last bar,
        # flatcoin's last cross is 15+ bars before its end
        self.assertEqual(crosses(CROSS), [(len(CROSS) - 1, "LONG")])
        fc = crosses(FLAT)
        self.assertTrue(fc and fc[-1][0] < len(FLAT) - 10, fc)
        for name, closes in (("crosscoin", CROSS), ("flatcoin", FLAT)):
            path = os.path.join(self.tmp, name + ".csv")
            write_csv(path, closes)
            self.mts("import", "csv", path, "--asset", name)
        root = make_root(self.tmp)
        with open(os.path.join(root, "scripts/strategies/always_short.lua"), "w") as f:
            f.write(SHORT_LUA)
        srv = self.serve("--rate-limit-write", "0", env={"MTS_ROOT": root})
        w = make_token(scope="write")
        got, _ = srv.json("POST", "/signals/generate", token=w,
                          body={"strategy_name": "sma_cross", "assets": ["crosscoin", "flatcoin"], "timeframe": "1d"})
        last = T0 + (len(CROSS) - 1) * 86400
        self.assertEqual(len(got["signals"]), 1, got)
        s = got["signals"][0]
        self.assertEqual((s["asset"], s["signal_type"], s["price"], s["confidence"], s["timestamp"]),
                         ("crosscoin", "LONG", CROSS[-1], 1, last))
        self.assertEqual((s["strategy"], s["strategies"]), ("sma_cross", ["sma_cross"]))
        self.assertEqual((s["position_size"], s["stop_loss"], s["take_profit"]), (None, None, None))
        meta = got["metadata"]
        self.assertEqual((meta["strategies"], meta["timeframe"], meta["aggregation"]), (["sma_cross"], "1d", "single"))
        c, fl = meta["assets"]
        self.assertEqual((c["asset"], c["as_of_ts"], c["bars"], c["signals_at_last_bar"], c["signal"], c["reason"]),
                         ("crosscoin", last, len(CROSS), 1, True, None))
        self.assertEqual((fl["asset"], fl["as_of_ts"], fl["bars"], fl["signals_at_last_bar"], fl["signal"], fl["reason"]),
                         ("flatcoin", T0 + (len(FLAT) - 1) * 86400, len(FLAT), 0, False, "no_signal"))
        self.assertNotIn("reason", meta)
        self.assertLessEqual(abs(got["timestamp"] - int(__import__("time").time())), 60)
        # flatcoin alone: its older cross is not the answer; signals [] and metadata says why
        got, _ = srv.json("POST", "/signals/generate", token=w, body={"strategy_name": "sma_cross", "assets": "flatcoin"})
        self.assertEqual(got["signals"], [])
        self.assertIn("no signal at the latest bar", got["metadata"]["reason"])
        # several strategies vote: LONG (1 x 1) beats always_short's SHORT (0.5 x 1) at the last bar ...
        got, _ = srv.json("POST", "/signals/generate", token=w,
                          body={"strategy_name": ["sma_cross", "always_short"], "assets": ["crosscoin"]})
        self.assertEqual(got["metadata"]["aggregation"], "vote")
        self.assertEqual(got["metadata"]["assets"][0]["signals_at_last_bar"], 2)
        s = got["signals"][0]
        self.assertEqual((s["signal_type"], s["confidence"], s["strategy"], s["strategies"]),
                         ("LONG", 1, "sma_cross", ["sma_cross"]))
        # ... SHORT 0.7 x 1 against nothing on flatcoin's last bar: the SHORT, never an older LONG
        got, _ = srv.json("POST", "/signals/generate", token=w,
                          body={"strategy_name": "sma_cross,always_short", "assets": ["flatcoin"],
                                "params": {"always_short.confidence": 0.7}})
        s = got["signals"][0]
        self.assertEqual((s["signal_type"], s["confidence"], s["strategy"], s["price"]),
                         ("SHORT", 0.7, "always_short", FLAT[-1]))
        # ... and an equal SHORT (1 x 1) ties with the LONG: no decision, and why
        got, _ = srv.json("POST", "/signals/generate", token=w,
                          body={"strategy_name": ["sma_cross", "always_short"], "assets": ["crosscoin"],
                                "params": {"always_short.confidence": 1}})
        self.assertEqual(got["signals"], [])
        self.assertEqual((got["metadata"]["assets"][0]["reason"], got["metadata"]["assets"][0]["signals_at_last_bar"]),
                         ("tie", 2))
        self.assertIn("cancelled out", got["metadata"]["reason"])
        # bad body fields: a 400 naming the field
        cases = [({"strategy_name": "sma_cross", "assets": ["crosscoin"], "timeframe": 5}, "'timeframe'"),
                 ({"strategy_name": "sma_cross", "assets": ["crosscoin"], "timeframe": "2d"}, "'timeframe'"),
                 ({"strategy_name": "sma_cross", "assets": 3}, "'assets'"),
                 ({"strategy_name": "sma_cross"}, "'assets' is required"),
                 ({"assets": ["crosscoin"]}, "'strategy_name' is required"),
                 ({"strategy_name": "nope", "assets": ["crosscoin"]}, "'strategy_name'"),
                 ({"strategy_name": "sma_cross,sma_cross", "assets": ["crosscoin"]}, "'strategy_name'"),
                 ({"strategy_name": "sma_cross", "assets": ["crosscoin"], "params": [1]}, "'params'"),
                 ({"strategy_name": "sma_cross", "assets": ["crosscoin"], "symbols": ["crosscoin"]}, "deprecated"),
                 ({"strategy_name": "sma_cross", "assets": ["dogecoin"]}, "assets[0] 'dogecoin'")]
        for body, needle in cases:
            st, _, data = srv.request("POST", "/signals/generate", token=w, body=body)
            self.assertEqual(st, 400, (body, data))
            self.assertIn(needle, json.loads(data)["detail"], body)


if __name__ == "__main__":
    unittest.main()
