#!/usr/bin/env python3
"""Checks the Kite emulator (scripts/kite_emulator.py) with Zerodha's official Python client.

    PY=$(python3 scripts/kite_venv.py)
    $PY tests/kite_emulator_check.py --http http://127.0.0.1:P --ws ws://127.0.0.1:Q \
        --instruments tests/data/kite/instruments.csv --ticks tests/data/kite/ticks.csv \
        --state tests/data/kite/state.json

The emulator must run with the same files, `--loop`, and the default credentials (or the
ones passed here). `KiteConnect(root=http)` places, modifies and cancels orders and reads
the books; `KiteTicker(root=ws)` subscribes five tokens in ltp/quote/full mode and decodes
every frame with the client's own parser; each decoded tick is compared, field by field, with
what the tick file says (an independent reading of it here, not the emulator's code), in
order, with no row twice, across a connection drop. Prints a JSON summary on stdout; exits 1
with `FAILED: ...` on stderr at the first check that fails.
"""
import argparse
import csv
import hashlib
import json
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from decimal import Decimal
from urllib.parse import urlsplit

from kiteconnect import KiteConnect, KiteTicker
from kiteconnect import exceptions as kex
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect


class Failed(Exception):
    pass


def check(condition, what):
    if not condition:
        raise Failed(what)


def wait_until(predicate, what, timeout=30.0):
    """Polls `predicate` (a guard against a hang, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise Failed(f"timed out after {timeout:.0f} s waiting for {what}")


def step(name):
    print(f"check: {name}", file=sys.stderr, flush=True)
    DONE.append(name)


DONE = []


# ------------------------------------------------------------------------ the tick file


def divisor(token):
    return {3: 10_000_000, 6: 10_000, 12: 10_000}.get(token & 0xFF, 100)


def load_instruments(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {f"{r['exchange']}:{r['tradingsymbol']}": r for r in rows}


class Expected:
    """Each token's successive states as the tick file describes them (the latest
    non-empty value of every field), over as many passes of the file as asked for."""

    def __init__(self, ticks_path, instruments):
        with open(ticks_path, newline="") as f:
            reader = csv.reader(f)
            next(reader)
            self.rows = [r for r in reader if r]
        self.instruments = instruments
        self.span = int(self.rows[-1][0]) - int(self.rows[0][0]) + 1_000_000_000
        self.states = defaultdict(list)  # token -> [state]
        self.book = {}
        self.passes = 0

    def token(self, key):
        return int(self.instruments[key]["instrument_token"])

    def upto(self, token, n):
        while len(self.states[token]) < n and self.passes < 500:
            self._one_pass()
        return self.states[token]

    def _one_pass(self):
        offset = self.passes * self.span
        for r in self.rows:
            ins = self.instruments[r[1]]
            token = int(ins["instrument_token"])
            d = divisor(token)

            def units(text, d=d):
                return int(Decimal(text) * d)

            b = self.book.setdefault(token, {
                "bid": 0, "ask": 0, "bid_size": 0, "ask_size": 0, "last": 0, "last_size": 0,
                "volume": 0, "turnover": 0, "open": 0, "high": 0, "low": 0,
                "close": units(ins["last_price"] or "0"), "ltt": 0, "ets": 0})
            if r[2]:
                b["bid"], b["bid_size"] = units(r[2]), int(r[4] or 0)
            if r[3]:
                b["ask"], b["ask_size"] = units(r[3]), int(r[5] or 0)
            ets = (int(r[8]) if len(r) > 8 and r[8] else int(r[0])) + offset
            b["ets"] = ets // 1_000_000_000
            if r[6]:
                price, size = units(r[6]), int(r[7] or 0)
                b["last"], b["last_size"] = price, size
                b["volume"] += size
                b["turnover"] += price * size
                if b["open"] == 0:
                    b["open"] = b["high"] = b["low"] = price
                    b["close"] = b["close"] or price
                b["high"], b["low"] = max(b["high"], price), min(b["low"], price)
                b["ltt"] = b["ets"]
            self.states[token].append(dict(b, d=d))
        self.passes += 1


def fields(tick):
    """The decoded tick's fields that the file determines, by packet kind."""
    f = {"last_price": tick["last_price"]}
    if tick["mode"] == "ltp":
        return f
    f["ohlc"] = tick["ohlc"]
    if "last_traded_quantity" in tick:  # 44 / 184 bytes (not an index)
        for k in ("last_traded_quantity", "average_traded_price", "volume_traded",
                  "total_buy_quantity", "total_sell_quantity"):
            f[k] = tick[k]
    if tick["mode"] == "full":
        f["exchange_timestamp"] = int(tick["exchange_timestamp"].timestamp())
        if "depth" in tick:
            f["last_trade_time"] = int(tick["last_trade_time"].timestamp())
            buy, sell = tick["depth"]["buy"], tick["depth"]["sell"]
            f["depth0"] = (buy[0]["price"], buy[0]["quantity"], sell[0]["price"],
                           sell[0]["quantity"])
            f["depth1_4"] = [(x["price"], x["quantity"]) for x in buy[1:] + sell[1:]]
    return f


def expected_fields(state, tick, index):
    """What `fields(tick)` must be for the file's `state`, in the tick's mode."""
    d = float(state["d"])

    def p(units):
        return units / d  # exactly the client's int / float division

    f = {"last_price": p(state["last"])}
    if tick["mode"] == "ltp":
        return f
    f["ohlc"] = {"open": p(state["open"]), "high": p(state["high"]), "low": p(state["low"]),
                 "close": p(state["close"])}
    if not index:
        avg = state["turnover"] // state["volume"] if state["volume"] else 0
        f.update({"last_traded_quantity": state["last_size"], "average_traded_price": p(avg),
                  "volume_traded": state["volume"], "total_buy_quantity": state["bid_size"],
                  "total_sell_quantity": state["ask_size"]})
    if tick["mode"] == "full":
        f["exchange_timestamp"] = state["ets"]
        if not index:
            f["last_trade_time"] = state["ltt"]
            f["depth0"] = (p(state["bid"]), state["bid_size"], p(state["ask"]),
                           state["ask_size"])
            f["depth1_4"] = [(0.0, 0)] * 8
    return f


class PacedKite(KiteConnect):
    """The official client, keeping its order requests 110 ms apart, within Kite's 10/s
    like a well-behaved user (the burst check uses the plain client)."""

    _last = 0.0

    def _pace(self):
        wait = PacedKite._last + 0.11 - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        PacedKite._last = time.monotonic()

    def place_order(self, *args, **kwargs):
        self._pace()
        return super().place_order(*args, **kwargs)

    def modify_order(self, *args, **kwargs):
        self._pace()
        return super().modify_order(*args, **kwargs)

    def cancel_order(self, *args, **kwargs):
        self._pace()
        return super().cancel_order(*args, **kwargs)


# ------------------------------------------------------------------------ raw HTTP


def http(method, url, body=None, headers=None):
    """(status, parsed JSON) without the client, for header checks and control calls."""
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def control(root, name, payload=None):
    status, body = http("POST" if name != "stats" else "GET", f"{root}/_emulator/{name}",
                        json.dumps(payload) if payload is not None else None)
    check(status == 200, f"/_emulator/{name} answered {status}: {body}")
    return body["data"]


def expect_kite_error(fn, exc, code, what, message=None):
    try:
        fn()
    except exc as e:
        check(e.code == code, f"{what}: HTTP {e.code}, expected {code}")
        if message is not None:
            check(str(e) == message, f"{what}: message {str(e)!r}")
        return e
    except kex.KiteException as e:
        raise Failed(f"{what}: {type(e).__name__} ({e.code}: {e}), expected {exc.__name__}")
    raise Failed(f"{what}: no error, expected {exc.__name__}")


# ------------------------------------------------------------------------ the checks


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--http", required=True)
    ap.add_argument("--ws", required=True)
    ap.add_argument("--instruments", required=True)
    ap.add_argument("--ticks", required=True)
    ap.add_argument("--state", required=True)
    ap.add_argument("--api-key", default="kite_emulator_key")
    ap.add_argument("--access-token", default="kite_emulator_token")
    ap.add_argument("--api-secret", default="kite_emulator_secret")
    args = ap.parse_args()
    try:
        summary = run(args)
    except Failed as e:
        print(f"FAILED: {e}\n(passed before it: {', '.join(DONE)})", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=1))
    return 0


def run(a):
    instruments = load_instruments(a.instruments)
    expected = Expected(a.ticks, instruments)
    tok = {k: int(v["instrument_token"]) for k, v in instruments.items()}
    INFY, REL, NIFTY, FUT, USD = (tok["NSE:INFY"], tok["NSE:RELIANCE"], tok["NSE:NIFTY 50"],
                                  tok["NFO:NIFTY26JUNFUT"], tok["CDS:USDINR26JUNFUT"])
    kite = PacedKite(a.api_key, root=a.http)
    kite.set_access_token(a.access_token)
    auth = {"X-Kite-Version": "3", "Authorization": f"token {a.api_key}:{a.access_token}"}

    # -- REST basics, headers and Kite's error shapes
    check(kite.profile()["user_id"], "profile has a user_id")
    dump = kite.instruments()
    check([r["instrument_token"] for r in dump] == list(tok.values()),
          "GET /instruments serves the instruments file")
    status, body = http("GET", f"{a.http}/orders", headers={"Authorization": auth["Authorization"]})
    check(status == 400 and body["error_type"] == "InputException" and body["data"] is None,
          f"no X-Kite-Version: 400 InputException, got {status} {body}")
    status, body = http("GET", f"{a.http}/orders",
                        headers={"X-Kite-Version": "3", "Authorization": "token nope:nope"})
    check(status == 403 and body == {"status": "error", "error_type": "TokenException",
                                     "message": "Incorrect `api_key` or `access_token`.",
                                     "data": None}, f"bad token: {status} {body}")
    status, body = http("POST", f"{a.http}/orders/regular", "exchange=NSE&tradingsymbol=INFY",
                        headers={**auth, "Content-Type": "application/x-www-form-urlencoded"})
    check(status == 400 and body["error_type"] == "InputException", f"missing fields: {body}")
    expect_kite_error(lambda: kite.place_order("regular", "NSE", "INFY", "BUY", 1, "MIS",
                                               "MARKET"),
                      kex.InputException, 400, "MARKET without market_protection",
                      "Market orders without market protection are not allowed via API. "
                      "Please set market protection or use a Limit order.")
    expect_kite_error(lambda: kite.place_order("regular", "NSE", "INFY", "BUY", 1, "MIS",
                                               "LIMIT", price=1500.03),
                      kex.InputException, 400, "LIMIT price off the tick size")
    expect_kite_error(lambda: kite.place_order("regular", "NFO", "NIFTY26JUNFUT", "BUY", 10,
                                               "NRML", "LIMIT", price=23000),
                      kex.InputException, 400, "quantity not a multiple of the lot size")
    expect_kite_error(lambda: kite.place_order("regular", "NSE", "INFY", "BUY", 1, "MIS",
                                               "LIMIT", price=1500, tag="x" * 21),
                      kex.InputException, 400, "tag over 20 characters")
    step("REST headers, auth and input errors")

    # -- the seeded state (--state)
    seeded = {o["tag"]: o for o in kite.orders()}
    check(seeded["seeded-open"]["status"] == "OPEN" and seeded["seeded-open"]["price"] == 23000,
          f"seeded open order: {seeded.get('seeded-open')}")
    check(seeded["seeded-done"]["status"] == "COMPLETE", "seeded completed order")
    check([t["order_id"] for t in kite.trades()] == [seeded["seeded-done"]["order_id"]],
          "seeded trade")
    net = {(p["tradingsymbol"], p["product"]): p for p in kite.positions()["net"]}
    check(net[("INFY", "CNC")]["quantity"] == 5 and net[("INFY", "CNC")]["overnight_quantity"] == 5
          and net[("INFY", "CNC")]["average_price"] == 1550, f"carried position: {net}")
    step("seeded orders, trades and positions")

    # -- the ticker, with the official client
    ticks, updates = defaultdict(list), []
    lock = threading.Lock()
    connects = []
    kws = KiteTicker(a.api_key, a.access_token, root=a.ws, reconnect_max_delay=5)

    def on_connect(ws, response):
        connects.append(time.monotonic())
        if len(connects) == 1:  # afterwards the client re-subscribes by itself
            ws.subscribe([INFY, REL, NIFTY, FUT, USD])
            ws.set_mode(ws.MODE_FULL, [INFY, NIFTY, USD])
            ws.set_mode(ws.MODE_LTP, [FUT])

    def on_ticks(ws, batch):
        with lock:
            for t in batch:
                ticks[t["instrument_token"]].append(t)

    def on_order_update(ws, data):
        with lock:
            updates.append(data)

    kws.on_connect, kws.on_ticks, kws.on_order_update = on_connect, on_ticks, on_order_update
    kws.connect(threaded=True)
    wait_until(lambda: all(len(ticks[t]) >= 2 for t in (INFY, REL, NIFTY, FUT, USD))
               and any(t["mode"] == "full" for t in ticks[USD]),
               "ticks for all five tokens")
    step("KiteTicker connects, subscribes and decodes ticks")

    def updates_of(order_id):
        with lock:
            return [u for u in updates if u["order_id"] == order_id]

    def wait_status(order_id, status):
        return wait_until(lambda: [u for u in updates_of(order_id) if u["status"] == status],
                          f"order {order_id} {status} update")[-1]

    # -- MARKET orders fill at the touch of the latest row (the tape paused)
    def infy_full_with_ask():
        with lock:
            t = ticks[INFY][-1]
        return t["mode"] == "full" and t["depth"]["sell"][0]["price"] > 0

    wait_until(infy_full_with_ask, "a full INFY tick with an ask")
    control(a.http, "pause_ticks")
    buy = kite.place_order("regular", "NSE", "INFY", "BUY", 2, "MIS", "MARKET",
                           market_protection=-1, tag="chk-market-buy")
    done = wait_status(buy, "COMPLETE")
    with lock:  # the update came after every tick sent before it, on the same socket
        last = ticks[INFY][-1]
    ask = last["depth"]["sell"][0]["price"] if last["mode"] == "full" else 0
    check(done["average_price"] == (ask or last["last_price"]) and done["filled_quantity"] == 2,
          f"MARKET BUY filled at {done['average_price']}, the ask was {ask}")
    check([u["status"] for u in updates_of(buy)] == ["OPEN", "COMPLETE"],
          f"updates of the MARKET order: {[u['status'] for u in updates_of(buy)]}")
    check(done["checksum"] == hashlib.sha256(
        (buy + done["order_timestamp"] + a.api_secret).encode()).hexdigest(),
        "order update checksum = sha256(order_id + order_timestamp + api_secret)")
    sell = kite.place_order("regular", "NSE", "INFY", "SELL", 1, "MIS", "MARKET",
                            market_protection=2)
    done = wait_status(sell, "COMPLETE")
    bid = last["depth"]["buy"][0]["price"] if last["mode"] == "full" else 0
    check(done["average_price"] == (bid or last["last_price"]),
          f"MARKET SELL filled at {done['average_price']}, the bid was {bid}")
    trades = kite.order_trades(buy)
    check(len(trades) == 1 and trades[0]["quantity"] == 2
          and trades[0]["average_price"] == (ask or last["last_price"]), f"trades: {trades}")
    step("MARKET orders fill at the ask / bid, with OPEN and COMPLETE updates")

    # -- a LIMIT order rests; modify and cancel it
    rel_rows = [r for r in expected.rows if r[1] == "NSE:RELIANCE"]
    low = min(Decimal(r[3]) for r in rel_rows if r[3])
    far, nearer = float(low - 100), float(low - Decimal("99.9"))
    rest = kite.place_order("regular", "NSE", "RELIANCE", "BUY", 1, "MIS", "LIMIT", price=far,
                            tag="chk-rest")
    wait_status(rest, "OPEN")
    check(kite.order_history(rest)[-1]["status"] == "OPEN", "resting LIMIT is OPEN")
    check(kite.modify_order("regular", rest, quantity=3, price=nearer) == rest, "modify")
    wait_status(rest, "UPDATE")
    last_state = kite.order_history(rest)[-1]
    check(last_state["price"] == nearer and last_state["quantity"] == 3
          and last_state["modified"], f"modified order: {last_state}")
    check(kite.cancel_order("regular", rest) == rest, "cancel")
    cancelled = wait_status(rest, "CANCELLED")
    check(cancelled["cancelled_quantity"] == 3 and cancelled["filled_quantity"] == 0,
          f"cancelled order: {cancelled}")
    expect_kite_error(lambda: kite.cancel_order("regular", rest), kex.OrderException, 400,
                      "cancel a cancelled order")
    expect_kite_error(lambda: kite.modify_order("regular", buy, price=1), kex.OrderException,
                      400, "modify a completed order")
    step("LIMIT order rests, is modified (UPDATE) and cancelled (CANCELLED)")

    # -- a LIMIT order at the file's lowest RELIANCE ask fills at its price when reached
    dip = kite.place_order("regular", "NSE", "RELIANCE", "BUY", 1, "MIS", "LIMIT",
                           price=float(low), tag="chk-dip")
    control(a.http, "resume_ticks")
    done = wait_status(dip, "COMPLETE")
    check(done["average_price"] == float(low), f"the dip LIMIT filled at {done['average_price']}")
    step("LIMIT order fills when the market reaches it")

    # -- positions from today's trades plus the carried one
    pos = kite.positions()
    net = {(p["tradingsymbol"], p["product"]): p for p in pos["net"]}
    day = {(p["tradingsymbol"], p["product"]): p for p in pos["day"]}
    check(net[("INFY", "MIS")]["quantity"] == 1 and day[("INFY", "MIS")]["quantity"] == 1
          and net[("INFY", "MIS")]["buy_quantity"] == 2
          and net[("INFY", "MIS")]["sell_quantity"] == 1, f"INFY MIS position: {net}")
    check(net[("RELIANCE", "MIS")]["quantity"] == 0  # the seeded SELL and the dip BUY
          and net[("RELIANCE", "MIS")]["day_buy_quantity"] == 1, f"RELIANCE: {net}")
    check(("INFY", "CNC") in net and ("INFY", "CNC") not in day, "carried position: net only")
    step("positions (net and day)")

    # -- reject_next: the placement succeeds, the order goes REJECTED with the message
    control(a.http, "reject_next", {"message": "Insufficient funds (emulated)."})
    rejected = kite.place_order("regular", "NSE", "INFY", "BUY", 1, "MIS", "MARKET",
                                market_protection=-1)
    update = wait_status(rejected, "REJECTED")
    check(update["status_message"] == "Insufficient funds (emulated).", f"rejection: {update}")
    check(kite.order_history(rejected)[-1]["status"] == "REJECTED", "history says REJECTED")
    step("reject_next gives a REJECTED update with the status message")

    # -- bad client input on the socket and on HTTP; the emulator keeps serving
    ws_url = f"{a.ws}?api_key={a.api_key}&access_token={a.access_token}"
    with ws_connect(ws_url, open_timeout=10) as raw:
        for junk in ("not json", '{"a":"subscribe","v":["x"]}', '{"a":"mode","v":["tick",[1]]}',
                     '{"a":"fly"}', "[]", b"\x01\x02"):
            raw.send(junk)
        raw.send('{"a":"subscribe","v":[1, 99999999]}')  # unknown tokens: no data, no error
        errors = 0
        while errors < 5:
            message = raw.recv(timeout=10)
            if isinstance(message, str) and json.loads(message).get("type") == "error":
                errors += 1
    for junk in (b"GARBAGE\r\n\r\n", b"\x00\xff\xfe\r\n\r\n", b"GET /orders HTTP/1.1\r\n"
                 b"Content-Length: nope\r\n\r\n", b"POST /orders/regular HTTP/1.1\r\n"
                 b"Content-Length: 5\r\n\r\n\xff\xfe\xfd\xfc\xfb"):
        host = urlsplit(a.http)
        with socket.create_connection((host.hostname, host.port), timeout=10) as s:
            s.sendall(junk)
            s.shutdown(socket.SHUT_WR)
            while s.recv(4096):
                pass
    status, body = http("GET", f"{a.http}/nowhere")
    check(status == 404 and body["status"] == "error", "unknown route: 404 in Kite's shape")
    n_before = len(ticks[INFY])
    wait_until(lambda: len(ticks[INFY]) > n_before, "ticks still flowing after junk")
    step("junk on the socket and HTTP is answered, the emulator keeps serving")

    # -- a dropped connection: the client reconnects and re-subscribes; no tick twice
    before = control(a.http, "stats")["ticker"]["connections_total"]
    n_before = {t: len(ticks[t]) for t in (INFY, USD)}
    control(a.http, "drop")
    wait_until(lambda: len(connects) >= 2, "the client to reconnect")
    wait_until(lambda: all(len(ticks[t]) > n_before[t] + 2 for t in (INFY, USD)),
               "ticks after the reconnect")
    stats = control(a.http, "stats")["ticker"]
    check(stats["connections_total"] >= before + 1, "a new connection after the drop")
    newest = stats["connections"][-1]
    check(newest["subscribe_messages"] >= 1 and newest["mode_messages"] >= 1,
          f"the client re-subscribed and set modes: {newest}")
    step("drop: the official client reconnects and re-subscribes")

    # -- every decoded tick, in order, equals the file's state for that row
    with lock:
        got = {t: list(v) for t, v in ticks.items()}
    compared = {}
    for key in ("NSE:INFY", "NSE:RELIANCE", "NSE:NIFTY 50", "NFO:NIFTY26JUNFUT",
                "CDS:USDINR26JUNFUT"):
        token = tok[key]
        index = token & 0xFF == 9
        states = expected.upto(token, len(got[token]) + 50)
        at = 0
        for i, tick in enumerate(got[token]):
            # The tape does not advance without a subscriber, so a drop loses at most the
            # frames in flight (no skip otherwise) and nothing comes twice.
            for skip in range(0, 4):
                if at + skip < len(states) and fields(tick) == expected_fields(
                        states[at + skip], tick, index):
                    break
            else:
                raise Failed(f"{key} tick #{i} ({tick['mode']}) {fields(tick)} is not the "
                             f"file's next state {expected_fields(states[at], tick, index)}")
            check(skip == 0 or i > 0, f"{key}: the first tick is the file's first row")
            at += skip + 1
        compared[key] = len(got[token])
    step("decoded ticks equal the tick file, in order, none twice")

    # -- POST /session/token with the official client
    fresh = KiteConnect(a.api_key, root=a.http)
    session = fresh.generate_session("request-token-1", api_secret=a.api_secret)
    check(session["access_token"] and session["access_token"] != a.access_token
          and session["api_key"] == a.api_key, "generate_session answers a new access token")
    check(isinstance(fresh.orders(), list), "the new access token is accepted")
    expect_kite_error(lambda: KiteConnect(a.api_key, root=a.http).generate_session(
        "request-token-1", api_secret=a.api_secret), kex.TokenException, 403,
        "a request token is good once")
    expect_kite_error(lambda: KiteConnect(a.api_key, root=a.http).generate_session(
        "request-token-2", api_secret="wrong"), kex.TokenException, 403, "a wrong checksum")
    step("generate_session (sha256 checksum) gives an access token that works")

    # -- the order rate limit: more than 10 order requests within 1 s get HTTP 429
    burst = KiteConnect(a.api_key, root=a.http)
    burst.set_access_token(a.access_token)
    limited = 0
    for _ in range(25):
        try:
            burst.cancel_order("regular", "000000000000000")
        except kex.NetworkException as e:
            check(e.code == 429 and str(e) == "Too many requests", f"429: {e.code} {e}")
            limited += 1
        except kex.OrderException:
            pass
    check(limited > 0, "25 order requests in a burst: none got HTTP 429")
    requests = control(a.http, "stats")["order_requests"]
    admitted = [r["monotonic"] for r in requests if not r["limited"]]
    worst = max(sum(1 for u in admitted if t <= u < t + 1.0) for t in admitted)
    check(worst <= 10, f"{worst} order requests admitted within 1 s")
    step("rate limit: HTTP 429 NetworkException beyond 10 order requests/s")

    # -- expiry: REST and the ticker refuse every token issued so far
    control(a.http, "expire_token")
    expect_kite_error(kite.orders, kex.TokenException, 403, "orders() after expire_token",
                      "Incorrect `api_key` or `access_token`.")
    expect_kite_error(fresh.orders, kex.TokenException, 403, "the session's token expired too")
    try:
        ws_connect(ws_url, open_timeout=10).close()
        raise Failed("the ticker accepted an expired token")
    except InvalidStatus as e:
        check(e.response.status_code == 403, f"ticker handshake: {e.response.status_code}")
    step("expire_token: TokenException on REST, 403 on the ticker handshake")

    stats = control(a.http, "stats")
    kws.close()
    return {"ok": True, "checks": DONE, "ticks_compared": compared,
            "order_updates": len(updates), "connections": stats["ticker"]["connections_total"],
            "order_requests": len(stats["order_requests"]), "http_429": limited}


if __name__ == "__main__":
    sys.exit(main())
