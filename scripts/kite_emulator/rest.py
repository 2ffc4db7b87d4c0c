"""The REST API (Kite Connect v3 subset) and the `/_emulator/` control endpoints.

A stdlib `ThreadingHTTPServer` on its own thread. Every answer is Kite's JSON envelope
(`{"status":"success","data":...}` or the error shape) or the instruments CSV; a handler
error or junk request is answered, logged, and the server keeps serving.
"""
from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from .orders import DEFAULT_REJECTION, Exchange, KiteError
from .session import Session

log = logging.getLogger("kite_emulator.rest")
MAX_BODY = 1 << 20
ORDER_RATE = 10  # order requests (place, modify, cancel) per any 1 s window


class OrderRate:
    """Kite's 10 order requests per second: the 11th within 1 s gets HTTP 429. Every order
    request is kept with its arrival time and outcome for `/_emulator/stats`."""

    def __init__(self):
        self._lock = threading.Lock()
        self._window: deque[float] = deque()
        self.requests: list[dict] = []

    def admit(self, method: str, path: str) -> dict:
        now, mono = time.time(), time.monotonic()
        with self._lock:
            while self._window and mono - self._window[0] >= 1.0:
                self._window.popleft()
            limited = len(self._window) >= ORDER_RATE
            if not limited:
                self._window.append(mono)
            entry = {"t": now, "monotonic": mono, "method": method, "path": path,
                     "limited": limited, "status": 429 if limited else None}
            self.requests.append(entry)
        if limited:
            raise KiteError(429, "NetworkException", "Too many requests")
        return entry

    def snapshot(self) -> list[dict]:
        with self._lock:
            return [dict(r) for r in self.requests]


class Api:
    """Routes and the state they need; the handler class below only does HTTP."""

    def __init__(self, exchange: Exchange, session: Session, ticker_call):
        self.exchange, self.session = exchange, session
        # ticker_call(fn_name, *args) runs a Ticker method on the loop and returns its result.
        self.ticker_call = ticker_call
        self.rate = OrderRate()
        o = r"(?P<order_id>[^/]+)"
        v = r"(?P<variety>[^/]+)"
        # (method, path pattern, handler, auth, is an order request); auth is "token"
        # (X-Kite-Version and Authorization), "version" (the header only) or None.
        self.routes = [
            ("POST", rf"/orders/{v}", self.place, "token", True),
            ("PUT", rf"/orders/{v}/{o}", self.modify, "token", True),
            ("DELETE", rf"/orders/{v}/{o}", self.cancel, "token", True),
            ("GET", r"/orders", lambda r: self.exchange.order_list(), "token", False),
            ("GET", rf"/orders/{o}/trades",
             lambda r: self.exchange.trade_list(r["order_id"]), "token", False),
            ("GET", rf"/orders/{o}", lambda r: self.exchange.order_history(r["order_id"]),
             "token", False),
            ("GET", r"/trades", lambda r: self.exchange.trade_list(), "token", False),
            ("GET", r"/portfolio/positions", lambda r: self.exchange.positions(), "token", False),
            ("GET", r"/user/profile", lambda r: self.session.profile(), "token", False),
            ("POST", r"/session/token", lambda r: self.session.login(r["form"]), "version", False),
            ("DELETE", r"/session/token", self.logout, "version", False),
            ("GET", r"/instruments", lambda r: Csv(self.exchange.instruments.csv_text()),
             None, False),
            ("GET", r"/instruments/(?P<exchange>[A-Z]+)",
             lambda r: Csv(self.exchange.instruments.csv_text(r["exchange"])), False, False),
            ("POST", r"/_emulator/drop", lambda r: {"dropped": self.ticker_call("drop")},
             None, False),
            ("POST", r"/_emulator/expire_token", self.expire, None, False),
            ("POST", r"/_emulator/reject_next", self.reject_next, None, False),
            ("POST", r"/_emulator/pause_ticks", self.pause, None, False),
            ("POST", r"/_emulator/resume_ticks", self.resume, None, False),
            ("POST", r"/_emulator/push", self.push, None, False),
            ("GET", r"/_emulator/stats", self.stats, None, False),
        ]
        self.routes = [(m, re.compile(p + r"/?"), f, a, o) for m, p, f, a, o in self.routes]

    def dispatch(self, method: str, path: str, headers, form: dict, raw: bytes):
        """Returns (http status, body object); body is a dict for JSON or a Csv."""
        allowed = False
        for m, pattern, handler, auth, is_order in self.routes:
            match = pattern.fullmatch(path)
            if not match:
                continue
            allowed = True
            if m != method:
                continue
            if auth is not None and headers.get("X-Kite-Version") != "3":
                raise KiteError(400, "InputException",
                                "Invalid or missing `X-Kite-Version` header: 3.")
            if auth == "token":
                self.session.check_header(headers.get("Authorization"))
            entry = self.rate.admit(method, path) if is_order else None
            try:
                data = handler({**match.groupdict(), "form": form, "raw": raw,
                                "headers": headers})
            except KiteError as e:
                if entry is not None:
                    entry["status"] = e.http
                raise
            if entry is not None:
                entry["status"] = 200
                entry["order_id"] = data.get("order_id") if isinstance(data, dict) else None
            return 200, data
        if allowed:
            raise KiteError(405, "InputException", f"Method {method} is not allowed here.")
        raise KiteError(404, "GeneralException", "Route not found")

    # ---------------------------------------------------------------- Kite endpoints

    def place(self, r) -> dict:
        return {"order_id": self.exchange.place(r["form"], r["variety"])}

    def modify(self, r) -> dict:
        return {"order_id": self.exchange.modify(r["order_id"], r["form"], r["variety"])}

    def cancel(self, r) -> dict:
        return {"order_id": self.exchange.cancel(r["order_id"], r["variety"])}

    def logout(self, r) -> bool:
        self.session.logout(r["form"].get("api_key", ""), r["form"].get("access_token", ""))
        return True

    # ---------------------------------------------------------------- control endpoints

    def expire(self, r) -> dict:
        self.session.expire()
        log.info("control: access tokens expired")
        return {"expired": True}

    def reject_next(self, r) -> dict:
        body = _json_body(r["raw"])
        message = body.get("message") or DEFAULT_REJECTION
        with self.exchange.lock:
            self.exchange.reject_next = str(message)
        return {"reject_next": str(message)}

    def pause(self, r) -> dict:
        self.ticker_call("pause")
        return {"paused": True}

    def resume(self, r) -> dict:
        self.ticker_call("resume")
        return {"paused": False}

    def push(self, r) -> dict:
        """`{"text": "..."}` or `{"binary_hex": "..."}` sent as is to every connection."""
        body = _json_body(r["raw"])
        if isinstance(body.get("text"), str):
            message = body["text"]
        elif isinstance(body.get("binary_hex"), str):
            try:
                message = bytes.fromhex(body["binary_hex"])
            except ValueError:
                raise KiteError(400, "InputException", "`binary_hex` is not hex.") from None
        else:
            raise KiteError(400, "InputException", "Expected {\"text\": ...} or "
                                                   "{\"binary_hex\": ...}.")
        return {"connections": self.ticker_call("push_raw", message)}

    def stats(self, r) -> dict:
        with self.exchange.lock:
            orders = {"placed": len(self.exchange.orders), "trades": len(self.exchange.trades),
                      "order_updates_sent": self.exchange.updates_sent}
        return {"ticker": self.ticker_call("stats"), "orders": orders,
                "order_requests": self.rate.snapshot(), "tokens_expired": self.session.expired}


class Csv(str):
    """A body served as `text/csv` (the instruments dump)."""


def _json_body(raw: bytes) -> dict:
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise KiteError(400, "InputException", "The body is not JSON.") from None
    if not isinstance(body, dict):
        raise KiteError(400, "InputException", "The body must be a JSON object.")
    return body


def make_server(host: str, port: int, api: Api) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "kite-emulator"
        sys_version = ""

        def _serve(self) -> None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_BODY:
                self.close_connection = True
                self._answer(400 if length < 0 else 413, _error(KiteError(
                    400, "InputException", "Bad or too large Content-Length.")))
                return
            raw = self.rfile.read(length) if length else b""
            url = urlsplit(self.path)
            form = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            if self.command in ("POST", "PUT"):
                try:
                    body = parse_qs(raw.decode("utf-8"), keep_blank_values=True)
                except UnicodeDecodeError:
                    body = {}
                form.update({k: v[-1] for k, v in body.items()})
            try:
                status, data = api.dispatch(self.command, url.path, self.headers, form, raw)
                body = data if isinstance(data, Csv) else {"status": "success", "data": data}
            except KiteError as e:
                status, body = e.http, _error(e)
            except Exception:
                log.exception("rest: %s %s failed", self.command, url.path)
                status, body = 500, _error(KiteError(500, "GeneralException",
                                                     "Something went wrong in the emulator."))
            self._answer(status, body)

        def _answer(self, status: int, body) -> None:
            if isinstance(body, Csv):
                payload, kind = body.encode("utf-8"), "text/csv"
            else:
                payload, kind = json.dumps(body).encode("utf-8"), "application/json"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve

        def send_error(self, code, message=None, explain=None):
            # Junk request lines and unknown methods: Kite's error shape, then close.
            self.close_connection = True
            try:
                self._answer(code, _error(KiteError(code, "InputException",
                                                    message or "Bad request.")))
            except OSError:
                pass

        def log_message(self, fmt, *args):
            log.debug("rest: " + fmt, *args)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def _error(e: KiteError) -> dict:
    return {"status": "error", "message": e.message, "error_type": e.error_type, "data": None}
