"""Credentials: the API key, the access tokens it accepts, login (`POST /session/token`).

Shared by the REST threads and the ticker's handshake, hence the lock. Tokens are never
logged.
"""
from __future__ import annotations

import hashlib
import secrets
import threading
import time

from .orders import KiteError, USER_ID, ist

BAD_TOKEN = "Incorrect `api_key` or `access_token`."


class Session:
    def __init__(self, api_key: str, access_token: str, api_secret: str):
        self.api_key, self.api_secret = api_key, api_secret
        self._lock = threading.Lock()
        self._tokens = {access_token}
        self._used_request_tokens: set[str] = set()
        self.expired = 0

    def valid(self, api_key: str, access_token: str) -> bool:
        with self._lock:
            return api_key == self.api_key and access_token in self._tokens

    def check_header(self, header: str | None) -> None:
        """`Authorization: token <api_key>:<access_token>`, else TokenException (403)."""
        scheme, _, credentials = (header or "").partition(" ")
        api_key, _, token = credentials.strip().partition(":")
        if scheme.lower() != "token" or not self.valid(api_key, token):
            raise KiteError(403, "TokenException", BAD_TOKEN)

    def expire(self) -> None:
        """Every token issued so far stops working (Kite's daily expiry)."""
        with self._lock:
            self._tokens.clear()
            self.expired += 1

    def logout(self, api_key: str, access_token: str) -> None:
        with self._lock:
            if api_key != self.api_key or access_token not in self._tokens:
                raise KiteError(403, "TokenException", BAD_TOKEN)
            self._tokens.discard(access_token)

    def login(self, form: dict[str, str]) -> dict:
        """Exchanges a request token (any non-empty string, once) for a new access token."""
        for name in ("api_key", "request_token", "checksum"):
            if not form.get(name):
                raise KiteError(400, "InputException", f"Missing or empty field `{name}`.")
        if form["api_key"] != self.api_key:
            raise KiteError(403, "TokenException", "Invalid `api_key`.")
        want = hashlib.sha256((form["api_key"] + form["request_token"]
                               + self.api_secret).encode()).hexdigest()
        if not secrets.compare_digest(want, form["checksum"]):
            raise KiteError(403, "TokenException", "Invalid `checksum`.")
        with self._lock:
            if form["request_token"] in self._used_request_tokens:
                raise KiteError(403, "TokenException", "Token is invalid or has expired.")
            self._used_request_tokens.add(form["request_token"])
            token = secrets.token_hex(16)
            self._tokens.add(token)
        return {
            "user_type": "individual",
            "email": "emulator@example.invalid",
            "user_name": "Kite Emulator",
            "user_shortname": "Emulator",
            "broker": "ZERODHA",
            "exchanges": ["NSE", "NFO", "BFO", "CDS", "BSE", "MCX", "BCD"],
            "products": ["CNC", "NRML", "MIS", "MTF"],
            "order_types": ["MARKET", "LIMIT", "SL", "SL-M"],
            "avatar_url": None,
            "user_id": USER_ID,
            "api_key": self.api_key,
            "access_token": token,
            "public_token": secrets.token_hex(16),
            "enctoken": "",
            "refresh_token": "",
            "silo": "",
            "login_time": ist(time.time()),
            "meta": {"demat_consent": "physical"},
        }

    def profile(self) -> dict:
        return {
            "user_id": USER_ID,
            "user_type": "individual",
            "email": "emulator@example.invalid",
            "user_name": "Kite Emulator",
            "user_shortname": "Emulator",
            "broker": "ZERODHA",
            "exchanges": ["NSE", "NFO", "BFO", "CDS", "BSE", "MCX", "BCD"],
            "products": ["CNC", "NRML", "MIS", "MTF"],
            "order_types": ["MARKET", "LIMIT", "SL", "SL-M"],
            "avatar_url": None,
            "meta": {"demat_consent": "physical"},
        }
