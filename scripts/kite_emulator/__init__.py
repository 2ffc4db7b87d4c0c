"""A local emulator of the subset of Zerodha Kite Connect v3 that alpha-panda uses.

Run it with `python3 scripts/kite_emulator.py --help` (the venv from `scripts/kite_venv.py`
has its one dependency, `websockets`). It listens on loopback only and prints one JSON line
with its URLs, so tests and demos can point the engine's Kite feed and Kite venue at it.

What it emulates
- The ticker WebSocket (`wss://ws.kite.trade`): `api_key`/`access_token` query parameters
  (HTTP 403 otherwise), `subscribe` / `unsubscribe` / `mode` text messages, binary frames in
  Kite's exact layouts (ltp 8, quote 44, full 184 bytes; index 8/28/32) built from a tick
  CSV, a 1-byte heartbeat every second, and order updates as text messages.
- The REST order API (`https://api.kite.trade`): header and form validation with Kite's
  error JSON and HTTP codes, `POST/PUT/DELETE /orders/regular[/:id]`, `GET /orders`,
  `/orders/:id`, `/orders/:id/trades`, `/trades`, `/portfolio/positions`, `/user/profile`,
  `POST/DELETE /session/token`, `GET /instruments[/:exchange]`, the 10 orders/s limit
  (HTTP 429), and MARKET orders needing `market_protection` (Kite's 2026 rule).
- A matching model: MARKET orders fill at the instrument's latest ask (BUY) or bid (SELL),
  the last price when the side is empty; LIMIT orders fill at the touch when marketable on
  arrival or after a modification, otherwise rest and fill at their price when a later row
  crosses them (`--partial-fills` caps each fill at the touch size).
- Timestamps: order, trade and login times are the wall clock in IST, written as Kite does
  (`YYYY-MM-DD HH:MM:SS`, no zone); packet timestamps come from the tick file.
- Control endpoints under `/_emulator/` for tests (drop connections, expire the token,
  reject the next order, pause the tape, inject raw messages, statistics).

What it does not emulate
- TLS, the login page, postbacks to a URL, quotes/LTP/OHLC/historical REST endpoints,
  margins, holdings, GTT, mutual funds, basket margins.
- Varieties other than `regular`, SL/SL-M orders, TTL validity, iceberg/auction/autoslice,
  Kite's RMS checks (margin, freeze quantities, circuit limits, market-protection bands);
  `POST /_emulator/reject_next` stands in for a rejection.
- Kite's connection limits (3 sockets, 3000 tokens each) and REST limits other than the
  order rate; a snapshot tick on subscribe (it sends only rows played after subscribing).
- Market depth beyond level 0 (levels 1-4 are zero), open interest, a real order book: the
  tape is replayed as is and the emulator's fills do not move it.
"""
