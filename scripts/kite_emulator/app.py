"""Command line and wiring: parse, load and validate the inputs, start the ticker (asyncio,
main thread) and the REST server (its own thread), print the port line, stop on a signal.

Exit codes: 0 after SIGINT/SIGTERM, 2 on bad arguments or input files (every problem listed
with its file and line).
"""
from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import logging
import os
import signal
import sys
import threading
from dataclasses import dataclass

from .market import InputError, Instruments, Tape, load_ticks
from .orders import Exchange
from .rest import Api, make_server
from .session import Session
from .ticker import Ticker

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SAMPLE = os.path.join(ROOT, "tests", "data", "kite")

EPILOG = """\
start-up line (stdout, one JSON object, flushed):
  {"ws": "ws://127.0.0.1:PORT", "http": "http://127.0.0.1:PORT", "pid": N}
  Point the ticker at "ws" (it takes ?api_key=..&access_token=..) and KiteConnect's root
  at "http". Everything else is logged on stderr.

control endpoints (no auth; JSON answers):
  POST /_emulator/drop           close every ticker connection abruptly (TCP reset)
  POST /_emulator/expire_token   every access token issued so far is refused from now on
                                 (REST: 403 TokenException; ticker: handshake refused)
  POST /_emulator/reject_next    body {"message": "..."}: the next placed order goes
                                 REJECTED with that status_message
  POST /_emulator/pause_ticks    stop the tape; answers once no frame is in flight
  POST /_emulator/resume_ticks   continue the tape
  POST /_emulator/push           body {"text": "..."} or {"binary_hex": "..."}: sent as is
                                 to every ticker connection (error messages, junk frames)
  GET  /_emulator/stats          connections (subscribe/mode messages each), packets sent
                                 per token, order requests with arrival times, counts

the tape: rows are replayed in groups that share ts_ns (one frame per group), and only
while some connection has a subscription and the tape is not paused: a reconnecting client
loses no rows. Each packet carries the instrument's latest state (empty CSV fields keep
the previous value); full-mode depth level 0 = bid/ask and sizes, levels 1-4 are zero.

--state FILE (JSON, every key optional):
  {"orders": [{"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY",
               "quantity": 1, "product": "MIS", "order_type": "LIMIT", "price": 1500,
               "status": "OPEN", "filled_quantity": 0, "average_price": 0, "tag": "t1",
               "order_id": "optional"}],
   "trades": [{"order_id": "...", "quantity": 1, "price": 1500.5}],
   "positions": [{"exchange": "NSE", "tradingsymbol": "INFY", "product": "MIS",
                  "quantity": 5, "average_price": 1490}]}
  Orders are in the order book as given (OPEN ones rest and can fill, be modified or
  cancelled); positions are carried from before today (net only); today's trades add to
  both net and day positions.
"""


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="kite_emulator.py", description="A loopback emulator of Zerodha Kite's ticker "
        "WebSocket and order REST API, for tests and demos.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default "
                   "%(default)s; keep it on loopback)")
    p.add_argument("--ws-port", type=int, default=0, help="ticker port, 0 = a free one")
    p.add_argument("--http-port", type=int, default=0, help="REST port, 0 = a free one")
    p.add_argument("--instruments", default=os.path.join(SAMPLE, "instruments.csv"),
                   help="Kite instruments dump (CSV; default: the sample in tests/data/kite)")
    p.add_argument("--ticks", default=os.path.join(SAMPLE, "ticks.csv"),
                   help="tick CSV (ts_ns,symbol,bid,ask,bid_size,ask_size,last,last_size"
                   "[,exchange_ts_ns]; symbols EXCHANGE:TRADINGSYMBOL; default: the sample)")
    p.add_argument("--interval-ms", type=float, default=100.0,
                   help="pause between frames (rows sharing a ts_ns); 0 = as fast as the "
                   "sockets take them (default %(default)s)")
    p.add_argument("--loop", action="store_true",
                   help="restart the tick file at its end (timestamps keep increasing)")
    p.add_argument("--stamp-now", action="store_true",
                   help="exchange timestamps from the wall clock at send time (as live Kite "
                        "sends them), not from the file")
    p.add_argument("--api-key", default="kite_emulator_key", help="the accepted API key")
    p.add_argument("--access-token", default="kite_emulator_token",
                   help="the access token accepted at start")
    p.add_argument("--api-secret", default="kite_emulator_secret",
                   help="the API secret for POST /session/token checksums")
    p.add_argument("--state", help="JSON seeding orders, trades and positions (see below)")
    p.add_argument("--order-latency-ms", type=float, default=5.0,
                   help="delay between a placement's answer and the order going OPEN "
                   "(default %(default)s)")
    p.add_argument("--partial-fills", action="store_true",
                   help="cap each fill at the touch size of the latest row (the rest stays "
                   "open; Kite pushes such fills with status UPDATE)")
    p.add_argument("--log-level", default="info",
                   choices=["debug", "info", "warning", "error"])
    return p.parse_args(argv)


@dataclass
class Settings:
    args: argparse.Namespace
    exchange: Exchange
    session: Session
    tape: Tape


def settings(args: argparse.Namespace) -> Settings:
    """Loads every input; raises InputError listing every problem found."""
    problems = []
    for name in ("ws_port", "http_port"):
        if not 0 <= getattr(args, name) <= 65535:
            problems.append(f"--{name.replace('_', '-')}: {getattr(args, name)} is not a port")
    for name in ("interval_ms", "order_latency_ms"):
        if getattr(args, name) < 0:
            problems.append(f"--{name.replace('_', '-')}: must be >= 0")
    instruments = None
    try:
        instruments = Instruments(args.instruments)
    except InputError as e:
        problems += e.problems
    except OSError as e:
        problems.append(f"--instruments: {e}")
    rows = []
    if instruments is not None:
        try:
            rows = load_ticks(args.ticks, instruments)
        except InputError as e:
            problems += e.problems
        except OSError as e:
            problems.append(f"--ticks: {e}")
    exchange = None
    if instruments is not None:
        exchange = Exchange(instruments, args.api_key, args.api_secret,
                            args.order_latency_ms / 1000, args.partial_fills)
        if args.state:
            try:
                exchange.seed(args.state)
            except InputError as e:
                problems += e.problems
            except (OSError, ValueError) as e:
                problems.append(f"--state: {e}")
    if problems:
        raise InputError(problems)
    return Settings(args, exchange, Session(args.api_key, args.access_token, args.api_secret),
                    Tape(rows, args.loop, args.stamp_now))


async def serve(s: Settings) -> None:
    loop = asyncio.get_running_loop()
    ticker = Ticker(s.exchange, s.session, s.tape, s.args.interval_ms / 1000)
    s.exchange.notify = lambda payload: loop.call_soon_threadsafe(
        ticker.push_order_update, payload)
    s.exchange.schedule = lambda seconds, fn: loop.call_soon_threadsafe(
        loop.call_later, seconds, fn)

    def ticker_call(name: str, *args):
        """Runs a Ticker method on the loop from a REST thread and returns its result."""
        async def run():
            result = getattr(ticker, name)(*args)
            return await result if inspect.isawaitable(result) else result
        return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout=30)

    ws_port = await ticker.start(s.args.host, s.args.ws_port)
    httpd = make_server(s.args.host, s.args.http_port, Api(s.exchange, s.session, ticker_call))
    threading.Thread(target=httpd.serve_forever, name="rest", daemon=True).start()
    host = f"[{s.args.host}]" if ":" in s.args.host else s.args.host
    print(json.dumps({"ws": f"ws://{host}:{ws_port}",
                      "http": f"http://{host}:{httpd.server_address[1]}",
                      "pid": os.getpid()}), flush=True)
    logging.getLogger("kite_emulator").info(
        "serving %d instruments, %d tick rows; ticker ws://%s:%d, REST http://%s:%d",
        len(s.exchange.instruments.by_token), len(s.tape.rows), host, ws_port, host,
        httpd.server_address[1])

    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    logging.getLogger("kite_emulator").info("stopping")
    await ticker.stop()
    await loop.run_in_executor(None, httpd.shutdown)
    httpd.server_close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="kite-emulator %(levelname)s %(message)s")
    # The websockets library logs every refused or aborted handshake at length.
    logging.getLogger("websockets").setLevel(logging.CRITICAL)
    try:
        s = settings(args)
    except InputError as e:
        for problem in e.problems:
            print(f"kite-emulator: {problem}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(s))
    except OSError as e:  # a port in use, an address not on this host
        print(f"kite-emulator: cannot listen: {e}", file=sys.stderr)
        return 2
    return 0
