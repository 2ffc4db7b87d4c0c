"""Market data: the instruments dump, the tick tape and Kite's binary packet layouts.

Prices are integers at the instrument's segment divisor everywhere (paise on NSE), exactly
as they travel in Kite's packets; nothing here does I/O after loading or knows about sockets.
"""
from __future__ import annotations

import csv
import struct
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

INSTRUMENT_HEADER = [
    "instrument_token", "exchange_token", "tradingsymbol", "name", "last_price", "expiry",
    "strike", "tick_size", "lot_size", "instrument_type", "segment", "exchange",
]
TICK_HEADER = ["ts_ns", "symbol", "bid", "ask", "bid_size", "ask_size", "last", "last_size"]

SEGMENT_INDICES = 9
# Price divisor by segment (`token & 0xFF`): CDS 1e7, BCD and NCO 1e4, every other 100.
DIVISORS = {3: 10_000_000, 6: 10_000, 12: 10_000}
I32_MAX = 2**31 - 1
U32_MASK = 0xFFFFFFFF

MODES = ("ltp", "quote", "full")


class InputError(Exception):
    """Problems in an input file, one `file:line: what` per entry."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def divisor_of(token: int) -> int:
    return DIVISORS.get(token & 0xFF, 100)


def decimals_of(divisor: int) -> int:
    return len(str(divisor)) - 1


def to_units(text: str, divisor: int) -> int:
    """`text` (a decimal) as an integer number of 1/divisor; ValueError when not exact."""
    try:
        value = Decimal(text) * divisor
    except InvalidOperation:
        raise ValueError(f"'{text}' is not a number") from None
    if not value.is_finite() or value != value.to_integral_value():
        raise ValueError(f"'{text}' has more than {decimals_of(divisor)} decimals")
    return int(value)


@dataclass(frozen=True)
class Instrument:
    token: int
    exchange: str
    tradingsymbol: str
    name: str
    tick: int  # tick size in price units
    lot_size: int
    close: int  # `last_price` of the dump, price units
    row: dict

    @property
    def key(self) -> str:
        return f"{self.exchange}:{self.tradingsymbol}"

    @property
    def divisor(self) -> int:
        return divisor_of(self.token)

    @property
    def is_index(self) -> bool:
        return self.token & 0xFF == SEGMENT_INDICES


class Instruments:
    """The instruments dump, by token and by `EXCHANGE:TRADINGSYMBOL`."""

    def __init__(self, path: str):
        self.path = path
        self.by_token: dict[int, Instrument] = {}
        self.by_key: dict[str, Instrument] = {}
        problems = []
        with open(path, newline="", encoding="utf-8") as f:
            self.text = f.read()
        reader = csv.DictReader(self.text.splitlines())
        if reader.fieldnames != INSTRUMENT_HEADER:
            raise InputError([f"{path}:1: header must be {','.join(INSTRUMENT_HEADER)}"])
        for line, row in enumerate(reader, start=2):
            try:
                token = int(row["instrument_token"])
                if not 0 < token <= U32_MASK:
                    raise ValueError(f"instrument_token {token} out of range")
                divisor = divisor_of(token)
                tick = to_units(row["tick_size"] or "0", divisor)
                close = to_units(row["last_price"] or "0", divisor)
                lot = int(row["lot_size"] or "0")  # 0 on indices: not tradable
                if lot < 0:
                    raise ValueError(f"lot_size {lot} < 0")
            except ValueError as e:
                problems.append(f"{path}:{line}: {e}")
                continue
            ins = Instrument(token, row["exchange"], row["tradingsymbol"], row["name"],
                             tick, lot, close, row)
            if token in self.by_token or ins.key in self.by_key:
                problems.append(f"{path}:{line}: duplicate instrument {ins.key} ({token})")
                continue
            self.by_token[token] = ins
            self.by_key[ins.key] = ins
        if problems:
            raise InputError(problems)

    def csv_text(self, exchange: str | None = None) -> str:
        if exchange is None:
            return self.text
        lines = self.text.splitlines()
        keep = [lines[0]] + [
            line for line, ins in zip(lines[1:], csv.DictReader(lines))
            if ins["exchange"] == exchange
        ]
        return "\n".join(keep) + "\n"


@dataclass(frozen=True)
class Row:
    """One tick CSV row, prices in the instrument's units; None = empty field."""
    ts_ns: int
    token: int
    bid: int | None
    ask: int | None
    bid_size: int | None
    ask_size: int | None
    last: int | None
    last_size: int | None
    exchange_ts_ns: int | None


def load_ticks(path: str, instruments: Instruments) -> list[Row]:
    """Reads the engine's tick CSV; every problem is reported with its line, none dropped."""
    rows, problems = [], []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header not in (TICK_HEADER, TICK_HEADER + ["exchange_ts_ns"]):
            raise InputError([f"{path}:1: header must be {','.join(TICK_HEADER)}"
                              "[,exchange_ts_ns]"])
        for line, fields in enumerate(reader, start=2):
            if not fields:
                continue
            if len(fields) not in (8, 9):
                problems.append(
                    f"{path}:{line}: expected {len(header)} fields, found {len(fields)}")
                continue
            ins = instruments.by_key.get(fields[1])
            if ins is None:
                problems.append(f"{path}:{line}: symbol '{fields[1]}' is not in "
                                f"{instruments.path} (Kite keys are EXCHANGE:TRADINGSYMBOL)")
                continue
            try:
                rows.append(_parse_row(fields, ins))
            except ValueError as e:
                problems.append(f"{path}:{line}: {e}")
    if problems:
        raise InputError(problems)
    if any(b.ts_ns < a.ts_ns for a, b in zip(rows, rows[1:])):
        raise InputError([f"{path}: rows are not sorted by ts_ns"])
    return rows


def _parse_row(fields: list[str], ins: Instrument) -> Row:
    names = TICK_HEADER + ["exchange_ts_ns"]

    def price(i: int) -> int | None:
        if fields[i] == "":
            return None
        try:
            value = to_units(fields[i], ins.divisor)
        except ValueError as e:
            raise ValueError(f"field '{names[i]}': {e} ({ins.exchange} prices are at "
                             f"{decimals_of(ins.divisor)} decimals)") from None
        if not 0 <= value <= I32_MAX:
            raise ValueError(f"field '{names[i]}': {fields[i]} does not fit Kite's i32")
        return value

    def integer(i: int) -> int | None:
        if i >= len(fields) or fields[i] == "":
            return None
        try:
            value = int(fields[i])
        except ValueError:
            raise ValueError(
                f"field '{names[i]}': expected an integer, found '{fields[i]}'") from None
        if value < 0:
            raise ValueError(f"field '{names[i]}': negative {value}")
        return value

    row = Row(integer(0), ins.token, price(2), price(3), integer(4), integer(5), price(6),
              integer(7), integer(8))
    if row.ts_ns is None:
        raise ValueError("field 'ts_ns': empty")
    for i, size in ((4, row.bid_size), (5, row.ask_size), (7, row.last_size)):
        if size is not None and size > U32_MASK:
            raise ValueError(f"field '{names[i]}': {size} does not fit Kite's u32")
    return row


@dataclass
class Book:
    """The latest state of one instrument: each row's non-empty fields replace the old."""
    token: int
    close: int
    bid: int = 0
    ask: int = 0
    bid_size: int = 0
    ask_size: int = 0
    last: int = 0
    last_size: int = 0
    volume: int = 0
    turnover: int = 0  # sum of price * size, price units
    open: int = 0
    high: int = 0
    low: int = 0
    last_trade_s: int = 0
    exchange_s: int = 0
    seen: bool = False

    def apply(self, row: Row, ts_offset_ns: int) -> None:
        self.seen = True
        if row.bid is not None:
            self.bid, self.bid_size = row.bid, row.bid_size or 0
        if row.ask is not None:
            self.ask, self.ask_size = row.ask, row.ask_size or 0
        stamp_s = ((row.exchange_ts_ns if row.exchange_ts_ns is not None else row.ts_ns)
                   + ts_offset_ns) // 1_000_000_000
        self.exchange_s = stamp_s
        if row.last is not None:
            size = row.last_size or 0
            self.last, self.last_size = row.last, size
            self.volume += size
            self.turnover += row.last * size
            if self.open == 0:
                self.open = self.high = self.low = row.last
                if self.close == 0:
                    self.close = row.last
            self.high, self.low = max(self.high, row.last), min(self.low, row.last)
            self.last_trade_s = stamp_s

    def snapshot(self) -> "Book":
        return Book(**self.__dict__)

    def touch(self, buy: bool) -> tuple[int, int] | None:
        """(price, size) a BUY (ask side) or SELL (bid side) would trade at now: the
        side's level 0, else the last price, else the previous close (size 0 = unknown)."""
        price, size = (self.ask, self.ask_size) if buy else (self.bid, self.bid_size)
        if price > 0:
            return price, size
        if self.last > 0:
            return self.last, self.last_size
        if self.close > 0:
            return self.close, 0
        return None

    @property
    def average(self) -> int:
        return self.turnover // self.volume if self.volume else 0

    @property
    def mark(self) -> int:
        """Last price, or the mid when nothing traded yet (positions' `last_price`)."""
        if self.last:
            return self.last
        if self.bid and self.ask:
            return (self.bid + self.ask) // 2
        return self.bid or self.ask


def packet(book: Book, mode: str) -> bytes:
    """One packet body in Kite's layout for `mode` (big-endian; see the Kite README)."""
    token, u32 = book.token, U32_MASK
    if mode == "ltp":
        return struct.pack(">Ii", token, book.last)
    if book.token & 0xFF == SEGMENT_INDICES:
        body = struct.pack(">Iiiiiii", token, book.last, book.high, book.low, book.open,
                           book.close, book.last - book.close if book.close else 0)
        return body + struct.pack(">I", book.exchange_s & u32) if mode == "full" else body
    body = struct.pack(">IiIiIIIiiii", token, book.last, book.last_size & u32, book.average,
                       book.volume & u32, book.bid_size & u32, book.ask_size & u32,
                       book.open, book.high, book.low, book.close)
    if mode != "full":
        return body
    body += struct.pack(">IIIII", book.last_trade_s & u32, 0, 0, 0, book.exchange_s & u32)
    depth = [(book.bid_size, book.bid)] + [(0, 0)] * 4 + [(book.ask_size, book.ask)] + [(0, 0)] * 4
    for qty, price in depth:
        body += struct.pack(">IiH2x", qty & u32, price, 1 if qty and price else 0)
    return body


def frames(packets: list[bytes]) -> list[bytes]:
    """Packets framed as `u16 count, (u16 length, bytes)*`, at most 65,535 per frame."""
    out = []
    for start in range(0, len(packets), 0xFFFF):
        chunk = packets[start:start + 0xFFFF]
        out.append(struct.pack(">H", len(chunk))
                   + b"".join(struct.pack(">H", len(p)) + p for p in chunk))
    return out


@dataclass
class Tape:
    """The tick rows replayed in groups that share a `ts_ns`, optionally in a loop.

    Each pass after the first shifts timestamps by the file's span plus one second, so
    exchange timestamps keep increasing.
    """
    rows: list[Row]
    loop: bool
    # Stamp rows as if they happened now (exchange times near the receiver's clock).
    stamp_now: bool = False
    position: int = 0
    passes: int = 0
    offset_ns: int = 0
    rows_played: int = 0
    finished: bool = field(default=False)

    def next_group(self) -> tuple[int, list[Row]] | None:
        """The next group and the timestamp offset to apply, or None at the end."""
        if self.position >= len(self.rows):
            if not self.loop or not self.rows:
                self.finished = True
                return None
            span = self.rows[-1].ts_ns - self.rows[0].ts_ns + 1_000_000_000
            self.position, self.passes = 0, self.passes + 1
            self.offset_ns = self.passes * span
        start, ts = self.position, self.rows[self.position].ts_ns
        while self.position < len(self.rows) and self.rows[self.position].ts_ns == ts:
            self.position += 1
        self.rows_played += self.position - start
        if self.stamp_now:
            return time.time_ns() - ts, self.rows[start:self.position]
        return self.offset_ns, self.rows[start:self.position]
