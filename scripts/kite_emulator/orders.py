"""The order side: Kite's order lifecycle, matching against the tape, trades, positions.

One `Exchange` holds the market state (`market.Book` per token) and the orders under one
lock: REST threads place, modify and cancel; the ticker's event loop applies tape rows and
runs the delayed steps. Order updates leave through `notify(payload)` and delayed steps are
handed to `schedule(seconds, fn)`; both are set by the app (thread-safe hops onto the loop).
JSON shapes follow Kite's mocks: orders.json, trades.json, positions.json, postback.json.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from fractions import Fraction

from .market import Book, Instrument, InputError, Instruments, Row, to_units

IST = timezone(timedelta(hours=5, minutes=30))
PRODUCTS = ("CNC", "NRML", "MIS", "MTF")
ORDER_TYPES = ("MARKET", "LIMIT")
VALIDITIES = ("DAY", "IOC")
LIVE = ("OPEN PENDING", "OPEN")  # statuses an order can still fill, modify or cancel from
DEFAULT_REJECTION = ("Insufficient funds. Required margin is 95417.84 but available margin "
                     "is 74251.80. Check the orderbook for open orders.")
USER_ID = "AB1234"


def ist(ts: float) -> str:
    """`YYYY-MM-DD HH:MM:SS` in IST without a zone, as Kite writes timestamps."""
    return datetime.fromtimestamp(int(ts), IST).strftime("%Y-%m-%d %H:%M:%S")


class KiteError(Exception):
    """An error answered as `{"status":"error","message","error_type","data":null}`."""

    def __init__(self, http: int, error_type: str, message: str):
        super().__init__(message)
        self.http, self.error_type, self.message = http, error_type, message


def input_error(message: str) -> KiteError:
    return KiteError(400, "InputException", message)


@dataclass
class Order:
    order_id: str
    api_key: str
    ins: Instrument
    transaction_type: str
    order_type: str
    product: str
    validity: str
    quantity: int
    price: int  # price units; 0 for MARKET
    market_protection: int | float
    tag: str | None
    placed_at: float
    status: str = "OPEN PENDING"
    status_message: str | None = None
    exchange_order_id: str | None = None
    exchange_at: float | None = None
    updated_at: float | None = None
    filled: int = 0
    filled_value: int = 0  # sum of price * quantity over fills, price units
    cancelled: int = 0
    modified: bool = False
    reject_with: str | None = None  # POST /_emulator/reject_next was pending at placement
    history: list = field(default_factory=list)

    @property
    def remaining(self) -> int:
        return self.quantity - self.filled - self.cancelled

    @property
    def buy(self) -> bool:
        return self.transaction_type == "BUY"

    def average(self) -> int | float:
        if not self.filled:
            return 0
        return price_json(Fraction(self.filled_value, self.filled), self.ins.divisor)

    def as_json(self) -> dict:
        d = self.ins.divisor
        pending = 0 if self.status in ("COMPLETE", "REJECTED") else self.quantity - self.filled
        data = {
            "account_id": USER_ID,
            "placed_by": USER_ID,
            "order_id": self.order_id,
            "exchange_order_id": self.exchange_order_id,
            "parent_order_id": None,
            "status": self.status,
            "status_message": self.status_message,
            "status_message_raw": self.status_message,
            "order_timestamp": ist(self.placed_at),
            "exchange_update_timestamp": ist(self.updated_at) if self.updated_at else None,
            "exchange_timestamp": ist(self.exchange_at) if self.exchange_at else None,
            "variety": "regular",
            "modified": self.modified,
            "exchange": self.ins.exchange,
            "tradingsymbol": self.ins.tradingsymbol,
            "instrument_token": self.ins.token,
            "order_type": self.order_type,
            "transaction_type": self.transaction_type,
            "validity": self.validity,
            "validity_ttl": 0,
            "product": self.product,
            "quantity": self.quantity,
            "disclosed_quantity": 0,
            "price": price_json(self.price, d),
            "trigger_price": 0,
            "average_price": self.average(),
            "filled_quantity": self.filled,
            # Kite keeps the unfilled quantity as pending on a CANCELLED order.
            "pending_quantity": pending,
            "cancelled_quantity": self.cancelled,
            "market_protection": self.market_protection,
            "meta": {},
            "tag": self.tag,
            "guid": None,
        }
        if self.tag:
            data["tags"] = [self.tag]
        return data


@dataclass
class Trade:
    trade_id: str
    order: Order
    price: int
    quantity: int
    at: float

    def as_json(self) -> dict:
        return {
            "trade_id": self.trade_id,
            "order_id": self.order.order_id,
            "exchange": self.order.ins.exchange,
            "tradingsymbol": self.order.ins.tradingsymbol,
            "instrument_token": self.order.ins.token,
            "product": self.order.product,
            "average_price": price_json(self.price, self.order.ins.divisor),
            "quantity": self.quantity,
            "exchange_order_id": self.order.exchange_order_id,
            "transaction_type": self.order.transaction_type,
            "fill_timestamp": ist(self.at),
            # Kite's trade book carries only the time of day here.
            "order_timestamp": ist(self.order.placed_at)[11:],
            "exchange_timestamp": ist(self.at),
        }


@dataclass
class Carried:
    """A position carried from before today (`--state` positions)."""
    ins: Instrument
    product: str
    quantity: int
    price: int  # average price, price units


class Exchange:
    def __init__(self, instruments: Instruments, api_key: str, api_secret: str,
                 order_latency_s: float, partial_fills: bool):
        self.lock = threading.RLock()
        self.instruments = instruments
        self.api_key, self.api_secret = api_key, api_secret
        self.latency = order_latency_s
        self.partial_fills = partial_fills
        self.books = {t: Book(t, ins.close) for t, ins in instruments.by_token.items()}
        self.orders: dict[str, Order] = {}
        self.trades: list[Trade] = []
        self.carried: list[Carried] = []
        self.reject_next: str | None = None
        self.updates_sent = 0
        day = datetime.now(IST).strftime("%y%m%d")
        self._order_ids = (f"{day}{n:09d}" for n in itertools.count(1))
        self._exchange_ids = (f"13000000{n:08d}" for n in itertools.count(1))
        self._trade_ids = (f"{n:08d}" for n in itertools.count(10_000_001))
        self.notify = lambda payload: None
        self.schedule = lambda seconds, fn: None

    # ---------------------------------------------------------------- placement (REST)

    def place(self, form: dict[str, str], variety: str) -> str:
        """Validates a placement like Kite and queues it; returns the order id."""
        if variety != "regular":
            raise input_error(f"Invalid `variety`: the emulator supports only `regular`, "
                              f"not `{variety}`.")
        for name in ("exchange", "tradingsymbol", "transaction_type", "quantity", "product",
                     "order_type"):
            if not form.get(name):
                raise input_error(f"Missing or empty field `{name}`.")
        ins = self.instruments.by_key.get(f"{form['exchange']}:{form['tradingsymbol']}")
        if ins is None:
            raise input_error("Invalid `tradingsymbol` or `exchange`: the instrument does "
                              "not exist.")
        if ins.is_index:
            raise input_error("Indices are not tradable.")
        side = form["transaction_type"]
        if side not in ("BUY", "SELL"):
            raise input_error("Invalid `transaction_type`.")
        product = form["product"]
        if product not in PRODUCTS:
            raise input_error("Invalid `product`.")
        order_type = form["order_type"]
        if order_type not in ORDER_TYPES:
            raise input_error(f"Invalid `order_type`: the emulator supports MARKET and LIMIT, "
                              f"not `{order_type}`.")
        validity = form.get("validity") or "DAY"
        if validity not in VALIDITIES:
            raise input_error(f"Invalid `validity`: the emulator supports DAY and IOC, not "
                              f"`{validity}`.")
        quantity = self._quantity(form["quantity"], ins)
        price, protection = 0, _number(form.get("market_protection") or "0", "market_protection")
        if order_type == "MARKET":
            if protection == 0:
                raise input_error("Market orders without market protection are not allowed "
                                  "via API. Please set market protection or use a Limit order.")
            if not (protection == -1 or 0 < protection <= 100):
                raise input_error("Invalid `market_protection`: -1 (automatic) or a "
                                  "percentage above 0 up to 100.")
        else:
            price = self._price(form.get("price"), ins)
        tag = form.get("tag") or None
        if tag is not None and len(tag) > 20:
            raise input_error("Invalid `tag`: at most 20 characters.")
        with self.lock:
            order = Order(next(self._order_ids), self.api_key, ins, side, order_type, product,
                          validity, quantity, price, protection, tag, time.time())
            order.reject_with, self.reject_next = self.reject_next, None
            self.orders[order.order_id] = order
            for status in ("PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "OPEN PENDING"):
                order.status = status
                order.history.append(order.as_json())
        self.schedule(self.latency, lambda: self._accept(order.order_id))
        return order.order_id

    def modify(self, order_id: str, form: dict[str, str], variety: str) -> str:
        with self.lock:
            order = self._live(order_id, variety, "modified")
            # Everything is validated before anything changes.
            if form.get("order_type") and form["order_type"] != order.order_type:
                raise input_error("The emulator does not change an order's `order_type`.")
            quantity, price = order.quantity, order.price
            if form.get("quantity"):
                quantity = self._quantity(form["quantity"], order.ins)
                if quantity <= order.filled:
                    raise input_error(f"Invalid `quantity`: {order.filled} already filled.")
            if form.get("price") and order.order_type == "LIMIT":
                price = self._price(form["price"], order.ins)
            order.quantity, order.price = quantity, price
            order.modified = True
            order.updated_at = time.time()
            for status in ("MODIFY VALIDATION PENDING", "MODIFY PENDING", "MODIFIED"):
                order.status = status
                order.history.append(order.as_json())
            order.status = "OPEN" if order.exchange_order_id else "OPEN PENDING"
            order.history.append(order.as_json())
            if order.status == "OPEN":
                # Kite pushes modifications (and partial fills) with status UPDATE.
                self._push(order, "UPDATE")
                self._try_fill(order, arrival=True)
        return order_id

    def cancel(self, order_id: str, variety: str) -> str:
        with self.lock:
            order = self._live(order_id, variety, "cancelled")
            order.history.append({**order.as_json(), "status": "CANCEL PENDING"})
            self._cancel(order, None)
        return order_id

    def _live(self, order_id: str, variety: str, verb: str) -> Order:
        if variety != "regular":
            raise input_error("Invalid `variety`: the emulator supports only `regular`.")
        order = self.orders.get(order_id)
        if order is None:
            raise KiteError(400, "OrderException", "Couldn't find that `order_id`.")
        if order.status not in LIVE:
            raise KiteError(400, "OrderException",
                            f"Order cannot be {verb} as it is {order.status}.")
        return order

    @staticmethod
    def _quantity(text: str, ins: Instrument) -> int:
        try:
            quantity = int(text)
        except ValueError:
            raise input_error("Invalid `quantity`.") from None
        if quantity <= 0:
            raise input_error("Invalid `quantity`: it must be above 0.")
        if ins.lot_size and quantity % ins.lot_size:
            raise input_error(f"Quantity should be a multiple of the lot size {ins.lot_size}.")
        return quantity

    @staticmethod
    def _price(text: str | None, ins: Instrument) -> int:
        if not text:
            raise input_error("Missing or empty field `price`.")
        try:
            price = to_units(text, ins.divisor)
        except ValueError:
            raise input_error("Invalid `price`.") from None
        if price <= 0:
            raise input_error("Invalid `price`: it must be above 0.")
        if ins.tick and price % ins.tick:
            tick = ins.row.get("tick_size", "")
            raise input_error(f"Tick size for this script is {tick}. Kindly enter price in the "
                              "multiple of tick size for this script.")
        return price

    # ---------------------------------------------------------------- lifecycle (loop)

    def _accept(self, order_id: str) -> None:
        """The order reaches the exchange: REJECTED (reject_next) or OPEN, then may fill."""
        with self.lock:
            order = self.orders[order_id]
            if order.status != "OPEN PENDING":
                return  # cancelled before it reached the exchange
            now = time.time()
            order.updated_at = now
            if order.reject_with is not None:
                order.status, order.status_message = "REJECTED", order.reject_with
                order.history.append(order.as_json())
                self._push(order)
                return
            order.status = "OPEN"
            order.exchange_order_id = next(self._exchange_ids)
            order.exchange_at = now
            order.history.append(order.as_json())
            self._push(order)
            self._try_fill(order, arrival=True)

    def _try_fill(self, order: Order, arrival: bool) -> None:
        """Fills what the book allows. On arrival a marketable order takes the touch; a
        resting LIMIT fills at its own price once a row crosses it."""
        if order.status != "OPEN" or order.remaining <= 0:
            return
        book = self.books[order.ins.token]
        touch = book.touch(order.buy)
        fill_price = None
        if touch is not None:
            price, size = touch
            if order.order_type == "MARKET":
                fill_price = price
            elif (price <= order.price) if order.buy else (price >= order.price):
                fill_price = price if arrival else order.price
        if fill_price is None:
            if order.validity == "IOC":
                self._cancel(order, None)
            return
        quantity = order.remaining
        if self.partial_fills and size > 0:
            quantity = min(quantity, size)
        now = time.time()
        order.filled += quantity
        order.filled_value += fill_price * quantity
        order.updated_at = order.exchange_at = now
        self.trades.append(Trade(next(self._trade_ids), order, fill_price, quantity, now))
        if order.remaining == 0:
            order.status = "COMPLETE"
            order.history.append(order.as_json())
            self._push(order)
        else:
            order.history.append(order.as_json())
            self._push(order, "UPDATE")
            if order.validity == "IOC":
                self._cancel(order, None)

    def _cancel(self, order: Order, message: str | None) -> None:
        order.cancelled = order.remaining
        order.status, order.status_message = "CANCELLED", message
        order.updated_at = time.time()
        order.history.append(order.as_json())
        self._push(order)

    def _push(self, order: Order, status: str | None = None) -> None:
        """Queues an order update in the shape of Kite's postback."""
        data = order.as_json()
        if status:
            data["status"] = status
        data.pop("account_id", None)
        data.update({
            "user_id": USER_ID,
            "app_id": 1234,
            "unfilled_quantity": order.remaining if order.status in LIVE else 0,
            "checksum": hashlib.sha256((order.order_id + data["order_timestamp"]
                                        + self.api_secret).encode()).hexdigest(),
        })
        self.updates_sent += 1
        self.notify({"type": "order", "data": data})

    # ---------------------------------------------------------------- market (loop)

    def apply_rows(self, offset_ns: int, rows: list[Row]) -> list[Book]:
        """Applies a group of rows; returns each row's book snapshot, in order."""
        with self.lock:
            snapshots = []
            for row in rows:
                book = self.books[row.token]
                book.apply(row, offset_ns)
                snapshots.append(book.snapshot())
            return snapshots

    def match(self, tokens: set[int]) -> None:
        """Resting orders of `tokens` fill when the latest rows cross them."""
        with self.lock:
            for order in list(self.orders.values()):
                if order.ins.token in tokens and order.status == "OPEN":
                    self._try_fill(order, arrival=order.order_type == "MARKET")

    # ---------------------------------------------------------------- reads (REST)

    def order_list(self) -> list[dict]:
        with self.lock:
            return [o.as_json() for o in self.orders.values()]

    def order_history(self, order_id: str) -> list[dict]:
        with self.lock:
            order = self.orders.get(order_id)
            if order is None:
                raise KiteError(400, "OrderException", "Couldn't find that `order_id`.")
            return list(order.history)

    def trade_list(self, order_id: str | None = None) -> list[dict]:
        with self.lock:
            if order_id is not None and order_id not in self.orders:
                raise KiteError(400, "OrderException", "Couldn't find that `order_id`.")
            return [t.as_json() for t in self.trades
                    if order_id is None or t.order.order_id == order_id]

    def positions(self) -> dict:
        """`net` = carried positions plus today's trades; `day` = today's trades only."""
        with self.lock:
            day: dict[tuple, dict] = {}
            net: dict[tuple, dict] = {}
            for c in self.carried:
                side = "buy" if c.quantity > 0 else "sell"
                _add(net, c.ins, c.product, side, abs(c.quantity), c.price, overnight=c.quantity)
            for t in self.trades:
                side = "buy" if t.order.buy else "sell"
                for into in (day, net):
                    _add(into, t.order.ins, t.order.product, side, t.quantity, t.price)
            return {"net": [self._position(p) for p in net.values()],
                    "day": [self._position(p) for p in day.values()]}

    def _position(self, p: dict) -> dict:
        ins, d = p["ins"], p["ins"].divisor
        mark = self.books[ins.token].mark
        bq, sq, bv, sv = p["buy_qty"], p["sell_qty"], p["buy_value"], p["sell_value"]
        qty = bq - sq
        value = sv - bv  # Kite's sign: negative for money paid
        pnl = value + qty * mark
        closed = min(bq, sq)
        realised = Fraction(closed) * (Fraction(sv, sq or 1) - Fraction(bv, bq or 1))
        average = Fraction(bv, bq) if qty > 0 else Fraction(sv, sq) if qty < 0 else 0

        def price(units) -> int | float:
            return price_json(units, d)

        return {
            "tradingsymbol": ins.tradingsymbol,
            "exchange": ins.exchange,
            "instrument_token": ins.token,
            "product": p["product"],
            "quantity": qty,
            "overnight_quantity": p["overnight"],
            "multiplier": 1,
            "average_price": price(average),
            "close_price": price_json(ins.close, d),
            "last_price": price_json(mark, d),
            "value": price(value),
            "pnl": price(pnl),
            "m2m": price(pnl),
            "unrealised": price(pnl - realised),
            "realised": price(realised),
            "buy_quantity": bq,
            "buy_price": price(Fraction(bv, bq) if bq else 0),
            "buy_value": price(bv),
            "buy_m2m": price(bv),
            "sell_quantity": sq,
            "sell_price": price(Fraction(sv, sq) if sq else 0),
            "sell_value": price(sv),
            "sell_m2m": price(sv),
            "day_buy_quantity": p["day_buy_qty"],
            "day_buy_price": price(Fraction(p["day_buy_value"], p["day_buy_qty"])
                                   if p["day_buy_qty"] else 0),
            "day_buy_value": price(p["day_buy_value"]),
            "day_sell_quantity": p["day_sell_qty"],
            "day_sell_price": price(Fraction(p["day_sell_value"], p["day_sell_qty"])
                                    if p["day_sell_qty"] else 0),
            "day_sell_value": price(p["day_sell_value"]),
        }

    # ---------------------------------------------------------------- state seeding

    def seed(self, path: str) -> None:
        """Loads `--state`: open/finished orders, their trades and carried positions.

        {"orders": [{"exchange", "tradingsymbol", "transaction_type", "quantity",
                     "product", "order_type", "price", "status" (default OPEN),
                     "filled_quantity", "average_price", "tag", "order_id"}],
         "trades": [{"order_id", "quantity", "price"}],
         "positions": [{"exchange", "tradingsymbol", "product", "quantity",
                        "average_price"}]}
        OPEN orders rest and can fill, be modified or cancelled like placed ones.
        """
        with open(path, encoding="utf-8") as f:
            state = json.load(f)
        if not isinstance(state, dict):
            raise InputError([f"{path}: expected a JSON object with orders, trades, positions"])
        problems = []
        now = time.time()
        for i, o in enumerate(state.get("orders", [])):
            where = f"{path}: orders[{i}]"
            try:
                ins = self._seed_instrument(o)
                order = Order(str(o.get("order_id") or next(self._order_ids)), self.api_key,
                              ins, o["transaction_type"], o.get("order_type", "LIMIT"),
                              o.get("product", "MIS"), o.get("validity", "DAY"),
                              int(o["quantity"]), to_units(str(o.get("price", 0)), ins.divisor),
                              o.get("market_protection", 0), o.get("tag"), now)
                order.status = o.get("status", "OPEN")
                order.status_message = o.get("status_message")
                order.filled = int(o.get("filled_quantity", 0))
                order.filled_value = order.filled * to_units(str(o.get("average_price", 0)),
                                                             ins.divisor)
                if order.status == "CANCELLED":
                    order.cancelled = order.quantity - order.filled
                if order.status != "REJECTED":
                    order.exchange_order_id = next(self._exchange_ids)
                    order.exchange_at = order.updated_at = now
                order.history.append(order.as_json())
                self.orders[order.order_id] = order
            except (KeyError, ValueError, TypeError, AttributeError) as e:
                problems.append(f"{where}: {e!r}")
        for i, t in enumerate(state.get("trades", [])):
            try:
                order = self.orders[str(t["order_id"])]
                price = to_units(str(t["price"]), order.ins.divisor)
                self.trades.append(Trade(str(t.get("trade_id") or next(self._trade_ids)),
                                         order, price, int(t["quantity"]), now))
            except (KeyError, ValueError, TypeError, AttributeError) as e:
                problems.append(f"{path}: trades[{i}]: {e!r}")
        for i, p in enumerate(state.get("positions", [])):
            try:
                ins = self._seed_instrument(p)
                self.carried.append(Carried(ins, p.get("product", "NRML"), int(p["quantity"]),
                                            to_units(str(p["average_price"]), ins.divisor)))
            except (KeyError, ValueError, TypeError, AttributeError) as e:
                problems.append(f"{path}: positions[{i}]: {e!r}")
        if problems:
            raise InputError(problems)

    def _seed_instrument(self, entry: dict) -> Instrument:
        key = f"{entry['exchange']}:{entry['tradingsymbol']}"
        ins = self.instruments.by_key.get(key)
        if ins is None:
            raise ValueError(f"{key} is not in the instruments file")
        return ins


def price_json(units: int | Fraction, divisor: int) -> int | float:
    """A price in units (exact, possibly an average) as Kite's JSON number."""
    value = Fraction(units) / divisor
    return value.numerator if value.denominator == 1 else float(value)


def _number(text: str, name: str) -> int | float:
    try:
        value = float(text)
    except ValueError:
        raise input_error(f"Invalid `{name}`.") from None
    return int(value) if value.is_integer() else value


def _add(into: dict, ins: Instrument, product: str, side: str, qty: int, price: int,
         overnight: int = 0) -> None:
    p = into.setdefault((ins.token, product), {
        "ins": ins, "product": product, "overnight": 0, "buy_qty": 0, "sell_qty": 0,
        "buy_value": 0, "sell_value": 0, "day_buy_qty": 0, "day_sell_qty": 0,
        "day_buy_value": 0, "day_sell_value": 0})
    p[f"{side}_qty"] += qty
    p[f"{side}_value"] += qty * price
    if overnight:
        p["overnight"] += overnight
    else:
        p[f"day_{side}_qty"] += qty
        p[f"day_{side}_value"] += qty * price
