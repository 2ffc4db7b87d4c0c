"""The ticker WebSocket: handshake auth, subscriptions, the tape pump, heartbeats, updates.

Everything here runs on the asyncio loop; other threads reach it only through
`loop.call_soon_threadsafe` / `run_coroutine_threadsafe` (see app.py).

The tape advances only while some connection has a subscription and it is not paused, so
a client that reconnects loses no rows and sees none twice. Rows that share a `ts_ns` go
out as one frame, one packet per row of a token the connection subscribed, in the mode it
set; the exchange applies every row to its books whether or not anyone subscribed.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

from .market import MODES, Tape, frames, packet
from .orders import Exchange
from .session import Session

log = logging.getLogger("kite_emulator.ticker")
MESSAGES_KEPT = 1000  # per connection, for /_emulator/stats


class Connection:
    def __init__(self, cid: int, ws, api_key: str):
        self.id, self.ws, self.api_key = cid, ws, api_key
        self.opened_at, self.closed_at = time.time(), None
        self.subs: dict[int, str] = {}
        self.counts = {"subscribe": 0, "unsubscribe": 0, "mode": 0, "malformed": 0,
                       "binary": 0, "frames_sent": 0, "heartbeats_sent": 0,
                       "order_updates_sent": 0}
        self.packets_sent: dict[int, int] = {}
        self.messages: list[dict] = []

    def stats(self) -> dict:
        return {
            "id": self.id,
            "opened_at": self.opened_at,
            "closed_at": self.closed_at,
            "subscribe_messages": self.counts["subscribe"],
            "unsubscribe_messages": self.counts["unsubscribe"],
            "mode_messages": self.counts["mode"],
            "malformed_messages": self.counts["malformed"],
            "binary_messages": self.counts["binary"],
            "frames_sent": self.counts["frames_sent"],
            "heartbeats_sent": self.counts["heartbeats_sent"],
            "order_updates_sent": self.counts["order_updates_sent"],
            "subscribed": {str(t): m for t, m in self.subs.items()},
            "packets_sent": {str(t): n for t, n in self.packets_sent.items()},
            "messages": self.messages,
        }


class Ticker:
    def __init__(self, exchange: Exchange, session: Session, tape: Tape, interval_s: float):
        self.exchange, self.session, self.tape = exchange, session, tape
        self.interval = interval_s
        self.connections: dict[int, Connection] = {}
        self.closed: list[Connection] = []
        self.refused = 0
        self.drops = 0
        self.paused = False
        self.packets_sent: dict[int, int] = {}
        self._next_id = 0
        self._changed = asyncio.Event()
        self._group_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task] = set()
        self._server = None

    async def start(self, host: str, port: int) -> int:
        self._server = await serve(
            self._handle, host, port, process_request=self._process_request,
            compression=None, server_header=None, max_size=2**20, ping_interval=None)
        self._spawn(self._pump())
        self._spawn(self._heartbeat())
        return self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---------------------------------------------------------------- connections

    def _process_request(self, connection, request):
        query = parse_qs(urlsplit(request.path).query)
        api_key = query.get("api_key", [""])[0]
        token = query.get("access_token", [""])[0]
        if not self.session.valid(api_key, token):
            self.refused += 1
            log.info("ticker: refused a handshake (bad api_key or access_token)")
            return connection.respond(HTTPStatus.FORBIDDEN, "403 Forbidden\n")
        return None

    async def _handle(self, ws) -> None:
        self._next_id += 1
        query = parse_qs(urlsplit(ws.request.path).query)
        conn = Connection(self._next_id, ws, query.get("api_key", [""])[0])
        self.connections[conn.id] = conn
        log.info("ticker: connection %d opened", conn.id)
        try:
            async for message in ws:
                if isinstance(message, bytes):
                    conn.counts["binary"] += 1
                else:
                    self._on_text(conn, message)
        except ConnectionClosed:
            pass
        finally:
            conn.closed_at = time.time()
            self.connections.pop(conn.id, None)
            self.closed.append(conn)
            self._changed.set()
            log.info("ticker: connection %d closed", conn.id)

    def _on_text(self, conn: Connection, text: str) -> None:
        """Applies subscribe / unsubscribe / mode; anything else is counted and answered
        with Kite's `{"type":"error"}` text message, never fatal."""
        try:
            msg = json.loads(text)
            action, value = msg["a"], msg["v"]
            if action in ("subscribe", "unsubscribe"):
                tokens = _tokens(value)
            elif action == "mode":
                mode, tokens = value[0], _tokens(value[1])
                if mode not in MODES:
                    raise ValueError(f"unknown mode {mode!r}")
            else:
                raise ValueError(f"unknown action {action!r}")
        except (ValueError, KeyError, IndexError, TypeError) as e:
            conn.counts["malformed"] += 1
            self._record(conn, {"malformed": text[:200]})
            self._send(conn, json.dumps({"type": "error", "data": f"Invalid message: {e}"}))
            return
        conn.counts[action] += 1
        self._record(conn, {"a": action, "v": value})
        if action == "subscribe":
            for t in tokens:
                conn.subs[t] = "quote"  # a subscribed token starts in quote mode
        elif action == "unsubscribe":
            for t in tokens:
                conn.subs.pop(t, None)
        else:
            for t in tokens:
                if t in conn.subs:  # mode for a token not subscribed is ignored
                    conn.subs[t] = mode
        self._changed.set()

    @staticmethod
    def _record(conn: Connection, entry: dict) -> None:
        if len(conn.messages) < MESSAGES_KEPT:
            conn.messages.append({"t": time.time(), **entry})

    def _send(self, conn: Connection, message) -> None:
        self._spawn(_quiet_send(conn.ws, message))

    # ---------------------------------------------------------------- the tape

    def _playable(self) -> bool:
        return not self.paused and any(c.subs for c in self.connections.values())

    async def _pump(self) -> None:
        while True:
            while not self._playable():
                self._changed.clear()
                await self._changed.wait()
            async with self._group_lock:
                group = self.tape.next_group()
                if group is None:
                    log.info("ticker: end of the tick file (%d rows played)",
                             self.tape.rows_played)
                    return
                offset, rows = group
                books = self.exchange.apply_rows(offset, rows)
                await self._send_group(rows, books)
                self.exchange.match({row.token for row in rows})
            await asyncio.sleep(self.interval)

    async def _send_group(self, rows, books) -> None:
        cache: dict[tuple[int, str], bytes] = {}
        sends = []
        for conn in list(self.connections.values()):
            packets = []
            for i, row in enumerate(rows):
                mode = conn.subs.get(row.token)
                if mode is None:
                    continue
                if (i, mode) not in cache:
                    cache[i, mode] = packet(books[i], mode)
                packets.append(cache[i, mode])
                conn.packets_sent[row.token] = conn.packets_sent.get(row.token, 0) + 1
                self.packets_sent[row.token] = self.packets_sent.get(row.token, 0) + 1
            for frame in frames(packets):
                conn.counts["frames_sent"] += 1
                sends.append(_quiet_send(conn.ws, frame))
        # Awaiting the sends is the back-pressure: with --interval-ms 0 the tape goes as fast
        # as the slowest socket takes it.
        await asyncio.gather(*sends)

    async def pause(self) -> None:
        """Returns once no group is in flight; nothing more is played until resume()."""
        self.paused = True
        async with self._group_lock:
            pass

    def resume(self) -> None:
        self.paused = False
        self._changed.set()

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            for conn in list(self.connections.values()):
                conn.counts["heartbeats_sent"] += 1
                self._send(conn, b"\x00")

    # ---------------------------------------------------------------- control

    def push_order_update(self, payload: dict) -> None:
        text = json.dumps(payload)
        for conn in list(self.connections.values()):
            if conn.api_key == self.session.api_key:
                conn.counts["order_updates_sent"] += 1
                self._send(conn, text)

    def push_raw(self, message) -> int:
        for conn in list(self.connections.values()):
            self._send(conn, message)
        return len(self.connections)

    def drop(self) -> int:
        """Closes every connection abruptly: no close frame, the TCP connection is reset."""
        n = len(self.connections)
        for conn in list(self.connections.values()):
            conn.ws.transport.abort()
        self.drops += 1
        log.info("ticker: dropped %d connection(s)", n)
        return n

    def stats(self) -> dict:
        conns = sorted(self.closed + list(self.connections.values()), key=lambda c: c.id)
        return {
            "connections_total": self._next_id,
            "connections_open": len(self.connections),
            "handshakes_refused": self.refused,
            "drops": self.drops,
            "paused": self.paused,
            "rows_played": self.tape.rows_played,
            "tape_passes": self.tape.passes,
            "tape_finished": self.tape.finished,
            "packets_sent": {str(t): n for t, n in self.packets_sent.items()},
            "connections": [c.stats() for c in conns],
        }


def _tokens(value) -> list[int]:
    if not isinstance(value, list) or not all(
            isinstance(t, int) and not isinstance(t, bool) and 0 <= t <= 0xFFFFFFFF
            for t in value):
        raise ValueError("tokens must be a list of instrument tokens (integers)")
    return value


async def _quiet_send(ws, message) -> None:
    try:
        await ws.send(message)
    except ConnectionClosed:
        pass
    except Exception:  # a dying connection must not take the emulator with it
        log.debug("send failed", exc_info=True)
