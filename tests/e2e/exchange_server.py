"""A stand-in for the Binance and Bybit public market-data services, for tests.

Standard library only: the RFC 6455 handshake and framing are done here with
hashlib/base64/struct/socket/threading, once (WsConn, StandInServer) for both
stand-ins below. One port of ExchangeServer serves
  * Binance spot combined streams   ws://HOST:PORT/stream?streams=btcusdt@trade/btcusdt@depth@100ms/...
  * Binance USD-M futures markPrice ws://HOST:PORT/stream?streams=btcusdt@markPrice@1s
  * Binance REST depth snapshot     http://HOST:PORT/api/v3/depth?symbol=BTCUSDT&limit=1000
  * Bybit v5 public linear          ws://HOST:PORT/v5/public/linear  ({"op":"subscribe"|"unsubscribe"|"ping"})
KlineServer (below, for `mts run`) replays bar files as Binance kline streams +
GET /api/v3/klines, or Bybit kline.<interval>.<symbol> + GET /v5/market/kline.
Every message is built from the documented examples in tests/fixtures/exchanges
(same keys, same key order, values replaced), so the client sees the real wire
formats.

The server keeps the true order book per symbol and a script of steps (trades,
book diffs, funding updates) that it plays once, resuming where it left off
when a client reconnects. On cue it misbehaves:
  garbage  - sends truncated JSON, non-JSON text and a broken envelope
  gap      - applies a book diff to its own book but does not send it (sequence gap)
  drop     - closes the TCP connection abruptly (no close frame); after the
             client reconnects the last few trades are sent again (duplicates)
  huge     - sends one text frame of huge_bytes (default 17 MiB: past the client's
             16 MiB message cap) that starts like a trade message, then sends nothing
             more on that connection (the script resumes on the next one)
and, by constructor argument:
  hang_upgrades=N    - the first N websocket upgrade requests are read and never
                       answered (TCP accepted, no 101); counted in upgrades_hung
  snapshot_delay=S   - every REST depth snapshot answers after S seconds
It records what it sent (trades, funding) and exposes its final book, so the
test can check the client stored everything exactly once and holds the same
book level by level.

Run by hand:  python3 tests/e2e/exchange_server.py --port 9100
"""
import base64
import hashlib
import json
import os
import random
import socket
import struct
import threading
import time
import urllib.parse
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "fixtures", "exchanges")
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return json.load(f)


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"))


# ---------------------------------------------------------------- websocket framing

class WsConn:
    """One accepted websocket connection (server side: frames unmasked)."""

    def __init__(self, sock):
        self.sock = sock
        self.lock = threading.Lock()
        self.closed = False

    def send_frame(self, opcode, payload):
        if isinstance(payload, str):
            payload = payload.encode()
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
        with self.lock:
            if self.closed:
                raise ConnectionError("closed")
            self.sock.sendall(head + payload)

    def send_text(self, text):
        self.send_frame(0x1, text)

    def _recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("eof")
            buf += chunk
        return buf

    def recv_message(self):
        """(opcode, bytes) of the next complete message; control frames returned as is."""
        parts, first_op = [], None
        while True:
            b0, b1 = self._recv_exact(2)
            fin, op = b0 & 0x80, b0 & 0x0F
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._recv_exact(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._recv_exact(8))[0]
            mask = self._recv_exact(4) if b1 & 0x80 else None
            data = self._recv_exact(n)
            if mask:
                data = bytes(c ^ mask[i % 4] for i, c in enumerate(data))
            if op >= 0x8:
                return op, data
            if op != 0:
                first_op = op
            parts.append(data)
            if fin:
                return first_op, b"".join(parts)

    def drop(self):
        """Abrupt close: no close frame."""
        with self.lock:
            self.closed = True
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()


# ---------------------------------------------------------------- the server both stand-ins share

class StandInServer:
    """What ExchangeServer and KlineServer share: a listening socket on
    127.0.0.1 (port 0: the OS picks), a thread per connection, the HTTP request
    line and headers, the RFC 6455 handshake (WsConn does the framing) and a
    reader thread per websocket. Subclasses answer with on_http(sock, path,
    query) and on_websocket(ws, path, query); query is urllib.parse.parse_qs's
    dict of lists. Counters: connections (websockets accepted), pongs (pong
    frames received)."""

    def __init__(self, port=0):
        self.lock = threading.RLock()
        self.connections = 0
        self.pongs = 0
        self.stopping = False
        self.conns = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]

    def url(self, scheme="ws"):
        return "%s://127.0.0.1:%d" % (scheme, self.port)

    def start(self):
        threading.Thread(target=self._accept_loop, daemon=True).start()
        return self

    def stop(self):
        self.stopping = True
        try:
            self.sock.close()
        except OSError:
            pass
        for c in list(self.conns):
            c.drop()

    def _accept_loop(self):
        while not self.stopping:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(s,), daemon=True).start()

    def _handle(self, s):
        try:
            s.settimeout(30)
            req = b""
            while b"\r\n\r\n" not in req:
                chunk = s.recv(4096)
                if not chunk:
                    s.close()
                    return
                req += chunk
            head = req.split(b"\r\n\r\n", 1)[0].decode("latin-1")
            lines = head.split("\r\n")
            _method, target, _ = lines[0].split(" ", 2)
            headers = {}
            for ln in lines[1:]:
                if ":" in ln:
                    k, v = ln.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
            url = urllib.parse.urlsplit(target)
            query = urllib.parse.parse_qs(url.query)
            if headers.get("upgrade", "").lower() == "websocket":
                self._upgrade(s, headers, url.path, query)
            else:
                self.on_http(s, url.path, query)
        except (OSError, ConnectionError, ValueError):
            try:
                s.close()
            except OSError:
                pass

    def http(self, s, status, body):
        """Sends one JSON response and closes the connection."""
        body = body.encode()
        s.sendall(b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                  b"Connection: close\r\n\r\n" % (status, len(body)) + body)
        s.close()

    def on_http(self, s, path, query):
        self.http(s, 404, '{"code":-1,"msg":"not found"}')

    def on_websocket(self, ws, path, query):
        raise NotImplementedError

    hang_upgrades = 0

    def _upgrade(self, s, headers, path, query):
        with self.lock:
            self.upgrade_requests = getattr(self, "upgrade_requests", 0) + 1
            hang = self.upgrade_requests <= self.hang_upgrades
            if hang:
                self.upgrades_hung = getattr(self, "upgrades_hung", 0) + 1
        if hang:   # accepted, request read, never answered: wait for the client to give up
            s.settimeout(None)
            try:
                while s.recv(4096):
                    pass
            except OSError:
                pass
            s.close()
            return
        key = headers["sec-websocket-key"]
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        extra = ""
        if "sec-websocket-protocol" in headers:
            extra = "Sec-WebSocket-Protocol: %s\r\n" % headers["sec-websocket-protocol"].split(",")[0].strip()
        s.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Accept: %s\r\n%s\r\n" % (accept, extra)).encode())
        s.settimeout(None)
        ws = WsConn(s)
        self.conns.append(ws)
        with self.lock:
            self.connections += 1
        self.on_websocket(ws, path, query)

    def reader(self, ws, on_text):
        """Reads the client's frames on a thread: answers pings, counts pongs,
        hands text messages to on_text (may be None); a close frame drops the
        connection."""
        def run():
            try:
                while True:
                    op, data = ws.recv_message()
                    if op == 0x8:
                        ws.drop()
                        return
                    if op == 0x9:
                        ws.send_frame(0xA, data)
                    elif op == 0xA:
                        with self.lock:
                            self.pongs += 1
                    elif op == 0x1 and on_text:
                        on_text(data.decode())
            except (OSError, ConnectionError, ValueError):
                pass
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t


# ---------------------------------------------------------------- market state

class Book:
    def __init__(self, mid, tick, decimals, rng, levels=30):
        self.tick, self.dec, self.mid = tick, decimals, mid
        self.bids, self.asks = {}, {}
        for i in range(1, levels + 1):
            self.bids[self.px(mid - i * tick)] = self.qty(rng)
            self.asks[self.px(mid + i * tick)] = self.qty(rng)
        self.update_id = 1000

    def px(self, p):
        return "%.*f" % (self.dec, p)

    @staticmethod
    def qty(rng):
        return "%.3f" % (rng.randint(1, 5000) / 1000.0)

    def random_changes(self, rng):
        """[(side, price, qty)] with qty "0" meaning delete; applied to self."""
        out = []
        for side, levels, sign in (("b", self.bids, -1), ("a", self.asks, 1)):
            for _ in range(rng.randint(1, 3)):
                p = self.px(self.mid + sign * rng.randint(1, 40) * self.tick)
                if p in levels and rng.random() < 0.3:
                    q = "0"
                else:
                    q = self.qty(rng)
                out.append((side, p, q))
        for side, p, q in out:
            levels = self.bids if side == "b" else self.asks
            if float(q) == 0:
                levels.pop(p, None)
            else:
                levels[p] = q
        return out

    def top(self, n=None):
        bids = sorted(self.bids.items(), key=lambda kv: -float(kv[0]))
        asks = sorted(self.asks.items(), key=lambda kv: float(kv[0]))
        return (bids[:n] if n else bids), (asks[:n] if n else asks)


MARKETS = {"BTCUSDT": (30000.0, 0.5, 2), "ETHUSDT": (2000.0, 0.05, 2), "BNBBTC": (0.0025, 0.0001, 4)}


# ---------------------------------------------------------------- trades, books, funding (mts stream)

class ExchangeServer(StandInServer):
    """exchange: "binance" or "bybit". cues: dict step-index -> list of actions
    ("garbage", "gap:SYMBOL", "drop"). steps: script length per symbol."""

    def __init__(self, exchange, symbols=("BTCUSDT", "ETHUSDT"), steps=150, cues=None,
                 step_delay=0.002, funding_updates=5, overlap=5, seed=7, port=0, ping_interval=0.2,
                 hang_upgrades=0, snapshot_delay=0.0, huge_bytes=17 * 1024 * 1024):
        super().__init__(port)
        self.hang_upgrades, self.snapshot_delay, self.huge_bytes = hang_upgrades, snapshot_delay, huge_bytes
        self.upgrade_requests = self.upgrades_hung = 0
        self.huge_sent = 0
        self.snapshots_answered = 0
        self.exchange, self.symbols = exchange, list(symbols)
        self.rng = random.Random(seed)
        self.books = {s: Book(*MARKETS.get(s, (100.0, 0.01, 2)), rng=self.rng) for s in self.symbols}
        self.trade_id = {s: 5000 for s in self.symbols}
        self.sent_trades = {}          # (symbol, id) -> (price, qty, side, ts)
        self.sent_funding = []         # (symbol, ts, rate, mark, next)
        self.recent_trades = []        # messages to resend after a reconnect
        self.garbage_sent = 0
        self.gaps = 0
        self.drops = 0
        self.pings = 0                 # Bybit {"op":"ping"} received
        self.subscribe_requests = []
        self.snapshot_requests = 0
        self.overlap = overlap
        self.step_delay, self.ping_interval = step_delay, ping_interval
        self.script = self._make_script(steps, cues or {})
        self.pos = 0
        self.done = threading.Event()
        self.funding_updates = funding_updates
        self.funding_done = threading.Event()
        self.t = {
            "trade": fixture("binance_spot/trade.json"),
            "depth": fixture("binance_spot/depthUpdate_diff.json"),
            "rest": fixture("binance_spot/rest_depth_snapshot.json"),
            "mark": fixture("binance_usdm_futures/markPriceUpdate.json"),
            "b_trade": fixture("bybit_v5/publicTrade.json"),
            "b_snap": fixture("bybit_v5/orderbook_snapshot.json"),
            "b_delta": fixture("bybit_v5/orderbook_delta.json"),
            "b_tick": fixture("bybit_v5/tickers_linear_perpetual.json"),
            "b_ack": fixture("bybit_v5/ws_subscribe_response_linear.json"),
            "b_pong": fixture("bybit_v5/ws_pong_linear.json"),
        }
        self.ts = 1700000000000

    # -- script
    def _make_script(self, steps, cues):
        script = []
        for k in range(steps):
            for a in cues.get(k, []):
                script.append(tuple(a.split(":", 1)) if ":" in a else (a,))
            for s in self.symbols:
                script.append(("trade", s))
                script.append(("diff", s))
        return script

    # -- http
    def on_http(self, s, path, query):
        if path == "/api/v3/depth":
            return self._rest_depth(s, query)
        return super().on_http(s, path, query)

    def _rest_depth(self, s, query):
        with self.lock:
            self.snapshot_requests += 1
        if self.snapshot_delay:
            time.sleep(self.snapshot_delay)
        sym = (query.get("symbol") or [""])[0]
        limit = int((query.get("limit") or ["100"])[0])
        with self.lock:
            if sym not in self.books:
                return self.http(s, 400, '{"code":-1121,"msg":"Invalid symbol."}')
            b = self.books[sym]
            bids, asks = b.top(limit)
            msg = dict(self.t["rest"])
            msg["lastUpdateId"] = b.update_id
            msg["bids"] = [[p, q] for p, q in bids]
            msg["asks"] = [[p, q] for p, q in asks]
            body = dumps(msg)
            self.snapshots_answered += 1
        self.http(s, 200, body)

    def on_websocket(self, ws, path, query):
        if path.rstrip("/").endswith("/v5/public/linear"):
            return self._bybit_session(ws)
        streams = (query.get("streams") or [""])[0].split("/")
        if any("@markPrice" in x for x in streams):
            return self._binance_funding_session(ws, streams)
        return self._binance_spot_session(ws, streams)

    # -- helpers
    def _next_ts(self):
        self.ts += 7
        return self.ts

    def _garbage(self, ws, trade_msg):
        for g in (trade_msg[: len(trade_msg) // 2], "this is not json", '{"stream":"x","data":{"e":"trade"',
                  "]]}"):
            ws.send_text(g)
            self.garbage_sent += 1

    def _resend_recent(self, ws):
        for m in self.recent_trades[-self.overlap:]:
            ws.send_text(m)

    def _run_script(self, ws, send_trade, send_diff, send_garbage, alive):
        last_ping = time.time()
        while alive():
            with self.lock:
                if self.pos >= len(self.script):
                    break
                step = self.script[self.pos]
                self.pos += 1
                kind = step[0]
                if kind == "trade":
                    send_trade(step[1])
                elif kind == "diff":
                    send_diff(step[1], False)
                elif kind == "gap":
                    self.gaps += 1
                    send_diff(step[1], True)
                elif kind == "garbage":
                    send_garbage()
                elif kind == "drop":
                    self.drops += 1
                    ws.drop()
                    return
                elif kind == "huge":
                    self.huge_sent += 1
                    head = '{"stream":"btcusdt@trade","data":{"e":"trade","pad":"'
                    ws.send_text(head + "x" * (self.huge_bytes - len(head) - 3) + '"}}')
                    return   # a capped client drops this connection: resume on the next one
            if self.ping_interval and time.time() - last_ping > self.ping_interval:
                last_ping = time.time()
                ws.send_frame(0x9, b"hb")
            time.sleep(self.step_delay)
        self.done.set()
        # stay connected (idle, with pings) until the client leaves
        while alive():
            time.sleep(self.ping_interval or 0.2)
            ws.send_frame(0x9, b"hb")

    # -- Binance spot
    def _binance_spot_session(self, ws, streams):
        want = set(streams)
        self.reader(ws, None)

        def send_trade(sym):
            if "%s@trade" % sym.lower() not in want:
                return
            self.trade_id[sym] += 1
            tid = self.trade_id[sym]
            b = self.books[sym]
            price = b.px(b.mid + self.rng.randint(-10, 10) * b.tick)
            qty = "%.4f" % (self.rng.randint(1, 100000) / 10000.0)
            ts = self._next_ts()
            maker = self.rng.random() < 0.5
            d = dict(self.t["trade"])
            d.update({"E": ts, "s": sym, "t": tid, "p": price, "q": qty, "T": ts, "m": maker})
            msg = dumps({"stream": "%s@trade" % sym.lower(), "data": d})
            self.sent_trades[(sym, str(tid))] = (float(price), float(qty), "sell" if maker else "buy", ts)
            self.recent_trades.append(msg)
            ws.send_text(msg)

        def send_diff(sym, hide):
            b = self.books[sym]
            ch = b.random_changes(self.rng)
            first = b.update_id + 1
            b.update_id += self.rng.randint(1, 3)
            if hide or "%s@depth@100ms" % sym.lower() not in want:
                return
            d = dict(self.t["depth"])
            d.update({"E": self._next_ts(), "s": sym, "U": first, "u": b.update_id,
                      "b": [[p, q] for side, p, q in ch if side == "b"],
                      "a": [[p, q] for side, p, q in ch if side == "a"]})
            ws.send_text(dumps({"stream": "%s@depth@100ms" % sym.lower(), "data": d}))

        def send_garbage():
            self._garbage(ws, self.recent_trades[-1] if self.recent_trades else '{"stream":"a","data":{}}')

        try:
            with self.lock:
                if self.connections > 1:
                    self._resend_recent(ws)
            self._run_script(ws, send_trade, send_diff, send_garbage, lambda: not ws.closed)
        except (OSError, ConnectionError):
            pass

    # -- Binance futures funding
    def _binance_funding_session(self, ws, streams):
        self.reader(ws, None)
        syms = [x.split("@")[0].upper() for x in streams if "@markPrice" in x]
        try:
            for k in range(self.funding_updates):
                for sym in syms:
                    with self.lock:
                        d = dict(self.t["mark"])
                        ts = 1700000000000 + 1000 * (k + 1)
                        mark = "%.8f" % (self.books[sym].mid if sym in self.books else 100.0 + k)
                        rate = "%.8f" % (0.0001 * (k + 1))
                        nxt = 1700006400000
                        d.update({"E": ts, "s": sym, "p": mark, "r": rate, "T": nxt})
                        self.sent_funding.append((sym, ts, float(rate), float(mark), nxt))
                        ws.send_text(dumps({"stream": "%s@markPrice@1s" % sym.lower(), "data": d}))
                time.sleep(self.step_delay)
            self.funding_done.set()
            while not ws.closed:
                time.sleep(self.ping_interval or 0.2)
                ws.send_frame(0x9, b"hb")
        except (OSError, ConnectionError):
            pass

    # -- Bybit
    def _bybit_session(self, ws):
        subs = set()
        subscribed = threading.Event()

        def book_snapshot(sym):
            b = self.books[sym]
            bids, asks = b.top(50)
            m = json.loads(dumps(self.t["b_snap"]))
            m["topic"] = "orderbook.50.%s" % sym
            m["ts"] = self._next_ts()
            m["data"].update({"s": sym, "b": [[p, q] for p, q in bids], "a": [[p, q] for p, q in asks],
                              "u": b.update_id, "seq": b.update_id * 10})
            m["cts"] = m["ts"] - 2
            ws.send_text(dumps(m))

        def on_text(text):
            try:
                req = json.loads(text)
            except ValueError:
                return
            op = req.get("op")
            with self.lock:
                if op == "ping":
                    self.pings += 1
                    ws.send_text(dumps(self.t["b_pong"]))
                    return
                if op in ("subscribe", "unsubscribe"):
                    self.subscribe_requests.append((op, list(req.get("args", []))))
                    ack = dict(self.t["b_ack"])
                    ack["op"] = op
                    ws.send_text(dumps(ack))
                    for topic in req.get("args", []):
                        if op == "unsubscribe":
                            subs.discard(topic)
                            continue
                        subs.add(topic)
                        parts = topic.split(".")
                        if parts[0] == "orderbook" and parts[-1] in self.books:
                            book_snapshot(parts[-1])
                        if parts[0] == "tickers" and parts[-1] in self.books:
                            self._bybit_ticker(ws, parts[-1], snapshot=True)
                    subscribed.set()

        self.reader(ws, on_text)
        if not subscribed.wait(10):
            return

        def send_trade(sym):
            if "publicTrade.%s" % sym not in subs:
                return
            b = self.books[sym]
            m = json.loads(dumps(self.t["b_trade"]))
            ts = self._next_ts()
            m["topic"] = "publicTrade.%s" % sym
            m["ts"] = ts
            rows = []
            for _ in range(self.rng.randint(1, 2)):
                tid = str(uuid.UUID(int=self.rng.getrandbits(128)))
                price = b.px(b.mid + self.rng.randint(-10, 10) * b.tick)
                qty = "%.3f" % (self.rng.randint(1, 10000) / 1000.0)
                side = "Buy" if self.rng.random() < 0.5 else "Sell"
                r = dict(m["data"][0])
                r.update({"T": ts, "s": sym, "S": side, "v": qty, "p": price, "i": tid})
                rows.append(r)
                self.sent_trades[(sym, tid)] = (float(price), float(qty), side.lower(), ts)
            m["data"] = rows
            msg = dumps(m)
            self.recent_trades.append(msg)
            ws.send_text(msg)
            if self.rng.random() < 0.1 and "tickers.%s" % sym in subs:
                self._bybit_ticker(ws, sym, snapshot=False)

        def send_diff(sym, hide):
            b = self.books[sym]
            ch = b.random_changes(self.rng)
            b.update_id += 1
            if hide or "orderbook.50.%s" % sym not in subs:
                return
            m = json.loads(dumps(self.t["b_delta"]))
            m["topic"] = "orderbook.50.%s" % sym
            m["ts"] = self._next_ts()
            m["data"].update({"s": sym, "b": [[p, q] for side, p, q in ch if side == "b"],
                              "a": [[p, q] for side, p, q in ch if side == "a"],
                              "u": b.update_id, "seq": b.update_id * 10})
            m["cts"] = m["ts"] - 2
            ws.send_text(dumps(m))

        def send_garbage():
            self._garbage(ws, self.recent_trades[-1] if self.recent_trades else '{"topic":"x","data":[]}')

        try:
            with self.lock:
                if self.connections > 1:
                    self._resend_recent(ws)
            self._run_script(ws, send_trade, send_diff, send_garbage, lambda: not ws.closed)
        except (OSError, ConnectionError):
            pass

    def _bybit_ticker(self, ws, sym, snapshot):
        """Tickers: a full snapshot on subscribe, later deltas with only fundingRate."""
        ts = self._next_ts()
        rate = "%.6f" % (self.rng.randint(-50, 50) / 1e6)
        if snapshot:
            m = json.loads(dumps(self.t["b_tick"]))
            mark = self.books[sym].px(self.books[sym].mid)
            m["data"].update({"symbol": sym, "markPrice": mark, "fundingRate": rate,
                              "nextFundingTime": "1700006400000"})
        else:
            m = {"topic": "tickers.%s" % sym, "type": "delta",
                 "data": {"symbol": sym, "fundingRate": rate}, "cs": 1, "ts": ts}
            mark = self.books[sym].px(self.books[sym].mid)
        m["topic"] = "tickers.%s" % sym
        m["ts"] = ts
        self.sent_funding.append((sym, ts, float(rate), float(mark), 1700006400000))
        ws.send_text(dumps(m))

    # -- what the test compares against
    def final_top(self, sym, n):
        with self.lock:
            bids, asks = self.books[sym].top(n)
            return ([(float(p), float(q)) for p, q in bids], [(float(p), float(q)) for p, q in asks],
                    self.books[sym].update_id)



# ---------------------------------------------------------------- klines (mts run)

INTERVAL_MS = {"1m": 60000, "3m": 180000, "5m": 300000, "15m": 900000, "30m": 1800000, "1h": 3600000,
               "2h": 7200000, "4h": 14400000, "6h": 21600000, "12h": 43200000, "1d": 86400000}
BYBIT_IV = {"1m": "1", "3m": "3", "5m": "5", "15m": "15", "30m": "30", "1h": "60", "2h": "120",
            "4h": "240", "6h": "360", "12h": "720", "1d": "D"}


def read_kline_csv(path):
    """[(open_ms, open, high, low, close, volume)] with the CSV's own number strings
    (timestamp column: 'YYYY-MM-DD HH:MM:SS' UTC or unix seconds/ms)."""
    import csv
    import datetime as dt
    out = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            t = row.get("timestamp") or row.get("open_time")
            if t.isdigit():
                ms = int(t) if int(t) > 10**11 else int(t) * 1000
            else:
                d = dt.datetime.fromisoformat(t.replace("Z", "")).replace(tzinfo=dt.timezone.utc)
                ms = int(d.timestamp()) * 1000
            out.append((ms, row["open"], row["high"], row["low"], row["close"], row["volume"]))
    return out


class KlineServer(StandInServer):
    """Binance (<symbol>@kline_<interval> combined streams, GET /api/v3/klines) and
    Bybit v5 (kline.<interval>.<symbol> on /v5/public/linear, GET /v5/market/kline)
    kline feeds replayed from bar lists, for `mts run`.

    bars: {symbol: [(open_ms, o, h, l, c, v), ...]} (strings or numbers), all symbols
    on the same times. The first `warm` bars are history: REST serves them (and any
    bar streamed so far); the stream starts at bar `warm`. Each bar is sent as
    `updates` non-final klines (x=false / confirm=false) and then the final one,
    symbol after symbol, then the server sleeps `pace` seconds.
    Cues: drop_at=K closes the TCP connection abruptly when bar K (absolute index)
    is due; the `skip` bars from K on close while the client is away (never sent
    on the stream: the client must backfill them from REST), and after the
    reconnect the `resend` bars before them are sent again (duplicates).
    stall_at=K, stall=S: when bar K is due the server goes silent (the connection
    stays open) for up to S seconds; a client that gives up and reconnects gets
    the `resend` bars before K again, then the stream goes on from K.
    lag={symbol: seconds}: that symbol's final kline of each bar is sent this long
    after the bar's first final kline (the symbols go in order of lag): how a
    real exchange's per-symbol streams drift apart. silence={symbol: K}: that
    symbol sends nothing on the stream from bar K (absolute index) on.
    inject={K: [(symbol, (open_ms, o, h, l, c, v)), ...]}: before bar K (absolute index) is
    streamed, these extra final klines are sent once (bad klines between good ones: a time far
    ahead, a misaligned open, a negative or huge price); REST never serves them.
    Counters: connections, rest_requests, sent_final (bars sent as final),
    pings (Bybit {"op":"ping"} received)."""

    def __init__(self, exchange, bars, interval="1h", warm=0, pace=0.02, updates=2, drop_at=None,
                 skip=0, resend=2, port=0, start_delay=0.2, stall_at=None, stall=0.0, lag=None, silence=None,
                 inject=None):
        super().__init__(port)
        self.exchange, self.bars, self.interval = exchange, bars, interval
        self.iv_ms = INTERVAL_MS[interval]
        self.symbols = list(bars)
        self.n = min(len(v) for v in bars.values())
        self.pos = warm                  # bars [0, pos) are closed
        self.pace, self.updates = pace, updates
        self.drop_at, self.skip, self.resend = drop_at, skip, resend
        self.dropped = False
        self.drop_pos = None
        self.start_delay = start_delay
        self.stall_at, self.stall = stall_at, stall
        self.stalled = False
        self.rest_requests = []
        self.sent_final = 0
        self.subscribed = []
        self.pings = 0                   # Bybit {"op":"ping"} received
        self.lag = dict(lag or {})
        self.silence = dict(silence or {})
        self.inject = dict(inject or {})

    def ws_url(self):
        return self.url() + ("/v5/public/linear" if self.exchange == "bybit" else "")

    def rest_url(self):
        return self.url("http")

    def on_http(self, s, path, query):
        q = {k: v[0] for k, v in query.items()}
        if path == "/api/v3/klines":
            return self._rest(s, q, "binance")
        if path == "/v5/market/kline":
            return self._rest(s, q, "bybit")
        return super().on_http(s, path, query)

    def _rest(self, s, q, kind):
        sym = q.get("symbol", "")
        with self.lock:
            self.rest_requests.append(dict(q))
            if sym not in self.bars:
                return self.http(s, 400, '{"code":-1121,"msg":"Invalid symbol."}')
            limit = int(q.get("limit", "500"))
            lo = int(q.get("startTime" if kind == "binance" else "start", "-1"))
            hi = int(q.get("endTime" if kind == "binance" else "end", str(2**62)))
            rows = [b for b in self.bars[sym][:self.pos] if (lo < 0 or b[0] >= lo) and b[0] <= hi]
            rows = rows[:limit] if lo >= 0 else rows[-limit:]
        if kind == "binance":
            # wire format: tests/fixtures/exchanges/binance_spot/rest_klines.json
            body = [[b[0], str(b[1]), str(b[2]), str(b[3]), str(b[4]), str(b[5]), b[0] + self.iv_ms - 1,
                     "0", 10, "0", "0", "0"] for b in rows]
            return self.http(s, 200, dumps(body))
        body = {"retCode": 0, "retMsg": "OK", "result": {
            "category": "linear", "symbol": sym,
            "list": [[str(b[0]), str(b[1]), str(b[2]), str(b[3]), str(b[4]), str(b[5]), "0"] for b in reversed(rows)]},
            "retExtInfo": {}, "time": 0}
        return self.http(s, 200, dumps(body))

    def on_websocket(self, ws, path, query):
        query = {k: v[0] for k, v in query.items()}
        with self.lock:
            first = self.connections == 1
        ready = threading.Event()
        wanted = set()
        if self.exchange == "bybit":
            def on_text(text):
                msg = json.loads(text)
                if msg.get("op") == "ping":
                    with self.lock:
                        self.pings += 1
                    ws.send_text(dumps({"success": True, "ret_msg": "pong", "conn_id": "x", "req_id": "",
                                        "op": "ping"}))
                elif msg.get("op") == "subscribe":
                    with self.lock:
                        self.subscribed.extend(msg.get("args", []))
                    ws.send_text(dumps({"success": True, "ret_msg": "", "conn_id": "x", "req_id": "",
                                        "op": "subscribe"}))
                    for t in msg.get("args", []):
                        wanted.add(t.split(".")[-1])
                    ready.set()
            self.reader(ws, on_text)
        else:
            streams = query.get("streams", "").split("/")
            with self.lock:
                self.subscribed.extend(streams)
            for st in streams:
                if "@kline_" in st:
                    wanted.add(st.split("@")[0].upper())
            self.reader(ws, None)
            ready.set()
        if not ready.wait(10):
            return
        try:
            self._stream(ws, wanted, first)
        except (OSError, ConnectionError):
            pass

    def _msg(self, sym, b, final, part):
        """One kline message for bar b; part < 1 builds a partial (non-final) bar."""
        o, h, l, c, v = b[1], b[2], b[3], b[4], b[5]
        if not final:   # a bar in progress: the close so far, a partial range and volume
            c = o
            h, l = max(float(o), float(c)), min(float(o), float(c))
            v = "%.8f" % (float(b[5]) * part)
        ev_ms = b[0] + self.iv_ms - (1 if final else self.iv_ms // 2)
        if self.exchange == "binance":
            k = {"t": b[0], "T": b[0] + self.iv_ms - 1, "s": sym, "i": self.interval, "f": 100, "L": 200,
                 "o": str(o), "c": str(c), "h": str(h), "l": str(l), "v": str(v), "n": 100, "x": final,
                 "q": "0", "V": "0", "Q": "0", "B": "0"}
            data = {"e": "kline", "E": ev_ms, "s": sym, "k": k}
            return dumps({"stream": "%s@kline_%s" % (sym.lower(), self.interval), "data": data})
        biv = BYBIT_IV[self.interval]
        d = {"start": b[0], "end": b[0] + self.iv_ms - 1, "interval": biv, "open": str(o), "close": str(c),
             "high": str(h), "low": str(l), "volume": str(v), "turnover": "0", "confirm": final,
             "timestamp": ev_ms}
        return dumps({"topic": "kline.%s.%s" % (biv, sym), "data": [d], "ts": ev_ms, "type": "snapshot"})

    def _stream(self, ws, wanted, first):
        with self.lock:
            me = self.connections
        time.sleep(self.start_delay)
        syms = [x for x in self.symbols if x in wanted]
        if not first:
            with self.lock:
                end = self.drop_pos if self.drop_pos is not None else self.pos
                again = list(range(max(0, end - self.resend), end))
            for i in again:          # duplicates after a reconnect
                for sym in syms:
                    ws.send_text(self._msg(sym, self.bars[sym][i], True, 1))
        while not self.stopping:
            with self.lock:
                i = self.pos
                if i >= self.n:
                    break
                if self.drop_at is not None and i == self.drop_at and not self.dropped:
                    self.dropped = True
                    self.drop_pos = i
                    self.pos += self.skip        # these close while the client is away
                    ws.drop()
                    return
                stall = self.stall_at is not None and i == self.stall_at and not self.stalled
                if stall:
                    self.stalled = True
            if stall:                            # silent, open; over once the client reconnects
                end = time.time() + self.stall
                while time.time() < end and not ws.closed and self.connections == me and not self.stopping:
                    time.sleep(0.02)
                if ws.closed or self.connections != me:
                    return
            with self.lock:
                extra = self.inject.pop(i, [])
            for sym, b in extra:                 # bad klines, once each
                ws.send_text(self._msg(sym, b, True, 1))
            live = [x for x in syms if i < self.silence.get(x, self.n)]
            for u in range(self.updates):
                for sym in live:
                    ws.send_text(self._msg(sym, self.bars[sym][i], False, (u + 1) / (self.updates + 1)))
            t0 = time.time()
            for sym in sorted(live, key=lambda x: self.lag.get(x, 0.0)):   # stable: no lag keeps the order
                wait = self.lag.get(sym, 0.0) - (time.time() - t0)
                if wait > 0:
                    time.sleep(wait)
                ws.send_text(self._msg(sym, self.bars[sym][i], True, 1))
            with self.lock:
                self.pos = i + 1
                self.sent_final += 1
            time.sleep(self.pace)
        while not self.stopping and not ws.closed:   # stay open, idle
            time.sleep(0.05)


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=9100)
    ap.add_argument("--exchange", default="binance", choices=["binance", "bybit"])
    ap.add_argument("--steps", type=int, default=1000)
    a = ap.parse_args()
    srv = ExchangeServer(a.exchange, steps=a.steps, port=a.port,
                         cues={100: ["garbage"], 200: ["gap:BTCUSDT"], 300: ["drop"]}).start()
    print("listening on", srv.url(), flush=True)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        srv.stop()
