#!/usr/bin/env python3
"""Train Alpha Panda's ML strategy models on real tick data and export them to ONNX.

Run from the project root:

    python3 -m venv .venv && .venv/bin/pip install -r scripts/requirements-train.txt && .venv/bin/python scripts/train_models.py

For each model (ml_momentum, ml_mean_reversion, ml_breakout) this

1. computes the v1 features of docs/ml/FEATURES.md over the training data, per instrument,
   with plain Python floats and `math.log`/`math.sqrt`, in the documented order, so the
   values match the engine's Rust extractor (src/ml/features.rs) to the last bit;
2. labels each scoring row by where the price is 20 price updates later: 1 if higher,
   0 if lower. Rows whose price is unchanged at the horizon are dropped from training (the
   mid often is, after 20 updates), so the score is P(up | the price moves within the next
   20 updates), and 0.5 means "no edge". The engine still scores every row;
3. fits a StandardScaler + LogisticRegression on the labelled rows of all instruments
   pooled, and sets the entry/exit thresholds to the 90th/50th percentiles of the model's
   scores on those rows;
4. folds the scaler into the weights and writes `models/<name>.onnx`, a two-node graph
   (Gemm, Sigmoid) built by hand, plus a JSON sidecar `models/<name>.json`;
5. writes `tests/data/golden/<name>.json`: feature vectors and ONNX Runtime scores for the
   first 400 scoring ticks of one symbol of the embedded excerpt, which the Rust tests
   replay.

The first 40,000 data rows of the default training file are the embedded excerpt
(tests/data/binance_l1_2024-08-08_excerpt.csv), the default backtest data, so training
skips them (--skip-rows) and a default backtest is out of sample.

Deterministic: the same inputs and pinned packages give byte-identical .onnx and golden
files. The sidecars also hold a `created` time: set SOURCE_DATE_EPOCH to make them
reproducible too, e.g. `SOURCE_DATE_EPOCH=0 .venv/bin/python scripts/train_models.py`.
"""

from __future__ import annotations

import os

# BLAS thread count can change the order of floating point reductions, and so the last
# bits of the trained weights. One thread: the same numbers on every machine. This must
# happen before numpy is imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import datetime as dt
import hashlib
import json
import math
import re
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SCRIPT_NAME = "scripts/train_models.py"

CSV_HEADER = "ts_ns,symbol,bid,ask,bid_size,ask_size,last,last_size"
CSV_FIELDS = CSV_HEADER.split(",")
MAX_DECIMALS = 9  # the engine's MAX_PRECISION
I64_MAX = 2**63 - 1

FEATURE_VERSION = "alpha-panda.features.v1"
SIDECAR_FORMAT = "alpha-panda.model.v1"
MODEL_VERSION = "1.0.0"
HORIZON = 20  # label horizon, in price updates of the same instrument
# The label: y = q[t+H] > q[t], on the rows where q[t+H] != q[t] only (see labelled()).
LABEL = (
    f"q[t+{HORIZON}] > q[t], trained on rows where q[t+{HORIZON}] != q[t] "
    f"({HORIZON} price updates ahead)"
)
SEED = 0
GOLDEN_ROWS = 400
GOLDEN_MIN_SCORED = 200
ONNX_OPSET = 17
ONNX_IR_VERSION = 8
ORT_TOLERANCE = 1e-5

BPS = 10000.0


class DataError(Exception):
    """A problem with an input file; the message names the file and line."""


# --------------------------------------------------------------------------------------
# Model definitions
# --------------------------------------------------------------------------------------

# Parameter names of each feature, in the order of the FEATURES.md table. This order is
# the key order of the schema string and of the sidecar's params objects.
FEATURE_PARAMS: dict[str, tuple[str, ...]] = {
    "ret": ("k",),
    "ema_spread": ("fast", "slow"),
    "volatility": ("n",),
    "zscore": ("n",),
    "range_position": ("n",),
    "spread_bps": (),
    "book_imbalance": (),
    "trade_flow": ("n",),
}


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    params: tuple[tuple[str, int], ...]  # (key, value) in table order

    @staticmethod
    def of(name: str, **params: int) -> "FeatureSpec":
        keys = FEATURE_PARAMS[name]
        if set(params) != set(keys):
            raise ValueError(f"feature {name} takes parameters {keys}, got {sorted(params)}")
        return FeatureSpec(name, tuple((k, int(params[k])) for k in keys))

    def param(self, key: str) -> int:
        return dict(self.params)[key]

    def canonical(self) -> str:
        return f"{self.name}(" + ",".join(f"{k}={v}" for k, v in self.params) + ")"

    def to_json(self) -> dict:
        return {"name": self.name, "params": {k: v for k, v in self.params}}


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    price_source: str  # "mid" or "last"
    features: tuple[FeatureSpec, ...]
    golden_symbol: str

    def schema(self) -> str:
        parts = [FEATURE_VERSION, f"price_source={self.price_source}"]
        parts += [f.canonical() for f in self.features]
        return "|".join(parts)

    def schema_hash(self) -> str:
        return "sha256:" + hashlib.sha256(self.schema().encode("utf-8")).hexdigest()


F = FeatureSpec.of
MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="ml_momentum",
        description=(
            "Probability that the mid price is higher 20 mid updates ahead, given that it "
            "has moved by then, from 10- and 50-update log returns, a 10/50 EMA spread, "
            "50-update volatility and 50-trade signed trade flow."
        ),
        price_source="mid",
        features=(
            F("ret", k=10),
            F("ret", k=50),
            F("ema_spread", fast=10, slow=50),
            F("volatility", n=50),
            F("trade_flow", n=50),
        ),
        golden_symbol="BTCUSDT-SPOT",
    ),
    ModelSpec(
        name="ml_mean_reversion",
        description=(
            "Probability that the mid price is higher 20 mid updates ahead, given that it "
            "has moved by then, from the mid's z-scores over 50 and 200 updates, the quoted "
            "spread, the book imbalance, 100-update volatility and the 5-update log return."
        ),
        price_source="mid",
        features=(
            F("zscore", n=50),
            F("zscore", n=200),
            F("spread_bps"),
            F("book_imbalance"),
            F("volatility", n=100),
            F("ret", k=5),
        ),
        golden_symbol="ETHUSDT-SPOT",
    ),
    ModelSpec(
        name="ml_breakout",
        description=(
            "Probability that the mid is higher 20 mid updates ahead, given that it has "
            "moved by then, from the mid's position in its 100- and 20-update ranges, "
            "the 20-update log return, 20- and 200-update volatility, 20-trade signed flow and "
            "the book imbalance."
        ),
        price_source="mid",
        features=(
            F("range_position", n=100),
            F("range_position", n=20),
            F("ret", k=20),
            F("volatility", n=20),
            F("volatility", n=200),
            F("trade_flow", n=20),
            F("book_imbalance"),
        ),
        golden_symbol="BTCUSDT-USDM",
    ),
)


# --------------------------------------------------------------------------------------
# CSV reading
# --------------------------------------------------------------------------------------

# Same grammar as the engine's parse_mantissa: optional sign, digits with at most one dot,
# at least one digit ("1.", ".5" are accepted).
_DECIMAL = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?\Z")

QUOTE = 0
TRADE = 1


@dataclass(frozen=True)
class Event:
    """One tick. A CSV row with both a quote and a trade gives two, the quote first, as in
    the engine's feed."""

    line: int  # 1-based line number in the CSV, header = line 1
    symbol: str
    kind: int  # QUOTE or TRADE
    # QUOTE: bid, ask, bid_size, ask_size; TRADE: price, size, None, None (raw integers at
    # the symbol's decimals, None where the CSV field is empty).
    a: int | None
    b: int | None
    c: int | None
    d: int | None


@dataclass
class Dataset:
    path: Path
    events: list[Event]
    price_decimals: dict[str, int]  # per symbol
    data_rows: int  # data rows read (after the skipped ones)


def _parse_decimal(text: str) -> tuple[int, int] | None:
    """Decimal text -> (mantissa, decimals), or None if malformed."""
    m = _DECIMAL.match(text)
    if m is None or not (m.group(2) or m.group(3)):
        return None
    frac = m.group(3) or ""
    mantissa = int((m.group(2) or "0") + frac)
    return (-mantissa if m.group(1) == "-" else mantissa), len(frac)


def read_ticks(path: Path, display: str, skip_rows: int = 0) -> Dataset:
    """Reads a tick CSV, validating every row as the engine's feed does.

    Each symbol's price (and size) precision is the most decimals any of its values has
    (the engine's scan rule; in the shared files every value of a symbol has the same
    count), and every value is scaled to it. The first `skip_rows` data rows are not read.
    """
    try:
        handle = open(path, "r", encoding="utf-8", newline="")
    except OSError as e:
        raise DataError(f"{display}: cannot open: {e.strerror}") from None

    # First pass: (line, symbol, kind, [(mantissa, decimals) | None] * 4).
    raw_rows: list[tuple[int, str, int, list]] = []
    price_dec: dict[str, int] = {}
    size_dec: dict[str, int] = {}
    data_rows = 0
    with handle:
        lineno = 0
        last_ts = -1
        try:
            for text in handle:
                lineno += 1
                text = text.rstrip("\r\n")
                if lineno == 1:
                    if text.lstrip("\ufeff") != CSV_HEADER:
                        raise DataError(
                            f"{display}:1: expected the header '{CSV_HEADER}', found '{text[:120]}'"
                        )
                    continue
                if lineno - 1 <= skip_rows:
                    continue
                if text == "":
                    continue  # blank lines (e.g. a trailing one) are not rows
                data_rows += 1
                fields = text.split(",")
                if len(fields) != len(CSV_FIELDS):
                    raise DataError(
                        f"{display}:{lineno}: expected {len(CSV_FIELDS)} fields, found {len(fields)}"
                    )

                def bad(k: int, why: str) -> DataError:
                    return DataError(
                        f"{display}:{lineno}: field '{CSV_FIELDS[k]}': {why} (found '{fields[k][:60]}')"
                    )

                ts_text = fields[0]
                if not ts_text.isascii() or not ts_text.isdigit():
                    raise bad(0, "expected a timestamp in ns")
                ts = int(ts_text)
                if ts < last_ts:
                    raise bad(0, f"timestamp goes backwards (previous {last_ts})")
                last_ts = ts
                symbol = fields[1]
                if not symbol:
                    raise bad(1, "expected a symbol")

                values: list[tuple[int, int] | None] = []
                for k in range(2, 8):
                    if fields[k] == "":
                        values.append(None)
                        continue
                    parsed = _parse_decimal(fields[k])
                    if parsed is None:
                        raise bad(k, "expected a decimal number")
                    mantissa, decimals = parsed
                    if decimals > MAX_DECIMALS:
                        raise bad(k, f"more than {MAX_DECIMALS} decimals")
                    is_price = k in (2, 3, 6)
                    if is_price and mantissa <= 0:
                        raise bad(k, "expected a positive price")
                    if not is_price and mantissa < 0:
                        raise bad(k, "expected a non-negative size")
                    table = price_dec if is_price else size_dec
                    table[symbol] = max(table.get(symbol, 0), decimals)
                    values.append(parsed)
                bid, ask, bid_size, ask_size, last, last_size = values
                if last is None and last_size is not None:
                    raise bad(6, "expected a trade price because last_size is given")
                if bid is not None or ask is not None:
                    raw_rows.append((lineno, symbol, QUOTE, [bid, ask, bid_size, ask_size]))
                    if last is not None:
                        raw_rows.append((lineno, symbol, TRADE, [last, last_size, None, None]))
                elif last is not None:
                    if bid_size is not None or ask_size is not None:
                        raise bad(4, "sizes without a bid or ask")
                    raw_rows.append((lineno, symbol, TRADE, [last, last_size, None, None]))
                else:
                    raise bad(2, "the row has neither a quote nor a trade price")
        except UnicodeDecodeError:
            raise DataError(f"{display}:{lineno + 1}: not valid UTF-8") from None
        except OSError as e:
            raise DataError(f"{display}:{lineno}: read error: {e.strerror}") from None
    if lineno == 0:
        raise DataError(f"{display}: empty file (expected the header '{CSV_HEADER}')")
    if lineno - 1 < skip_rows:
        raise DataError(
            f"{display}: has {lineno - 1} data rows, fewer than --skip-rows {skip_rows}"
        )

    # Second pass: scale every value to its symbol's precision.
    events: list[Event] = []
    for lineno, symbol, kind, values in raw_rows:
        out: list[int | None] = []
        for i, v in enumerate(values):
            if v is None:
                out.append(None)
                continue
            is_price = kind == QUOTE and i < 2 or kind == TRADE and i == 0
            precision = (price_dec if is_price else size_dec)[symbol]
            raw = v[0] * 10 ** (precision - v[1])
            if raw > I64_MAX:
                raise DataError(f"{display}:{lineno}: value out of range at {precision} decimals")
            out.append(raw)
        events.append(Event(lineno, symbol, kind, *out))
    return Dataset(path, events, price_dec, data_rows)


# --------------------------------------------------------------------------------------
# Feature extraction (docs/ml/FEATURES.md, v1). Plain Python floats and math.log/sqrt
# only: every expression below is written in the documented evaluation order.
# --------------------------------------------------------------------------------------


class _Ret:
    """bps * log(p_t / p_{t-k}); needs k + 1 price updates."""

    def __init__(self, k: int):
        if k < 1:
            raise ValueError("ret: k must be >= 1")
        self.needs = k + 1
        self.p: deque[float] = deque(maxlen=k + 1)

    def update(self, p: float, q: int) -> None:
        self.p.append(p)

    def value(self) -> float:
        return BPS * math.log(self.p[-1] / self.p[0])


class _EmaSpread:
    """(bps * (ef - es)) / es; both EMAs start at the first p; needs slow price updates."""

    def __init__(self, fast: int, slow: int):
        if not 1 <= fast < slow:
            raise ValueError("ema_spread: need 1 <= fast < slow")
        self.needs = slow
        self.af = 2.0 / (float(fast) + 1.0)
        self.as_ = 2.0 / (float(slow) + 1.0)
        self.ef: float | None = None
        self.es = 0.0

    def update(self, p: float, q: int) -> None:
        if self.ef is None:
            self.ef = p
            self.es = p
        else:
            self.ef = self.ef + self.af * (p - self.ef)
            self.es = self.es + self.as_ * (p - self.es)

    def value(self) -> float:
        return BPS * (self.ef - self.es) / self.es  # left to right: (bps*(ef-es))/es


class _Volatility:
    """Population std of the last n one-step returns (bps), from running float sums;
    needs n + 1 price updates."""

    def __init__(self, n: int):
        if n < 2:
            raise ValueError("volatility: n must be >= 2")
        self.n = n
        self.fn = float(n)
        self.needs = n + 1
        self.prev: float | None = None
        self.r: deque[float] = deque()
        self.s1 = 0.0
        self.s2 = 0.0

    def update(self, p: float, q: int) -> None:
        if self.prev is not None:
            r = BPS * math.log(p / self.prev)
            # Add the new return first, then drop the oldest: the documented order.
            self.s1 = self.s1 + r
            self.s2 = self.s2 + r * r
            self.r.append(r)
            if len(self.r) > self.n:
                o = self.r.popleft()
                self.s1 = self.s1 - o
                self.s2 = self.s2 - o * o
        self.prev = p

    def value(self) -> float:
        m = self.s1 / self.fn
        v = self.s2 / self.fn - m * m
        return math.sqrt(v) if v > 0.0 else 0.0


class _Zscore:
    """f(n*q - S1) / sqrt(f(n*S2 - S1*S1)) with exact integer sums; needs n price updates."""

    def __init__(self, n: int):
        if n < 2:
            raise ValueError("zscore: n must be >= 2")
        self.n = n
        self.needs = n
        self.q: deque[int] = deque()
        self.s1 = 0
        self.s2 = 0

    def update(self, p: float, q: int) -> None:
        self.q.append(q)
        self.s1 += q
        self.s2 += q * q
        if len(self.q) > self.n:
            o = self.q.popleft()
            self.s1 -= o
            self.s2 -= o * o

    def value(self) -> float:
        num = self.n * self.q[-1] - self.s1
        den = self.n * self.s2 - self.s1 * self.s1
        if den == 0:
            return 0.0
        # float(int) rounds to nearest, ties to even, like Rust's `i128 as f64`.
        return float(num) / math.sqrt(float(den))


class _RangePosition:
    """f(q - lo) / f(hi - lo) over the last n q, current included; 0.5 if hi == lo."""

    def __init__(self, n: int):
        if n < 2:
            raise ValueError("range_position: n must be >= 2")
        self.needs = n
        self.q: deque[int] = deque(maxlen=n)

    def update(self, p: float, q: int) -> None:
        self.q.append(q)

    def value(self) -> float:
        hi = max(self.q)
        lo = min(self.q)
        if hi == lo:
            return 0.5
        return float(self.q[-1] - lo) / float(hi - lo)


class _TradeFlow:
    """f(F) / f(V) over the last n trades (F = sum sign*s, V = sum s); 0 while V == 0."""

    def __init__(self, n: int):
        if n < 1:
            raise ValueError("trade_flow: n must be >= 1")
        self.n = n
        self.w: deque[tuple[int, int]] = deque()
        self.f = 0
        self.v = 0

    def on_trade(self, sign: int, s: int) -> None:
        self.w.append((sign * s, s))
        self.f += sign * s
        self.v += s
        if len(self.w) > self.n:
            of, ov = self.w.popleft()
            self.f -= of
            self.v -= ov

    def value(self) -> float:
        return 0.0 if self.v == 0 else float(self.f) / float(self.v)


class FeatureExtractor:
    """The v1 feature extractor of one instrument: feed it every tick of that instrument in
    feed order; `on_quote`/`on_trade` return the feature vector (Python floats, binary64)
    when the tick scores, else None."""

    def __init__(self, spec: ModelSpec, price_decimals: int):
        self.source = spec.price_source
        if self.source not in ("mid", "last"):
            raise ValueError(f"unknown price source {self.source}")
        self.scale = float(2 * 10**price_decimals)
        # Book and trade-sign state.
        self.last_quote: tuple[int, int] | None = None
        self.ref_q: int | None = None
        self.last_sizes: tuple[int, int] | None = None
        self.prev_tq: int | None = None
        self.prev_sign = 0
        # Price-window features (updated on each price update) and trade-flow windows.
        self.windows: list = []
        self.flows: list[_TradeFlow] = []
        self.readers: list[Callable[[], float]] = []
        self.warm_after = 0  # price updates needed before the model scores
        for f in spec.features:
            if f.name == "spread_bps":
                self.readers.append(self._spread_bps)
                continue
            if f.name == "book_imbalance":
                self.readers.append(self._book_imbalance)
                continue
            if f.name == "trade_flow":
                flow = _TradeFlow(f.param("n"))
                self.flows.append(flow)
                self.readers.append(flow.value)
                continue
            window = {
                "ret": lambda: _Ret(f.param("k")),
                "ema_spread": lambda: _EmaSpread(f.param("fast"), f.param("slow")),
                "volatility": lambda: _Volatility(f.param("n")),
                "zscore": lambda: _Zscore(f.param("n")),
                "range_position": lambda: _RangePosition(f.param("n")),
            }[f.name]()
            self.windows.append(window)
            self.readers.append(window.value)
            self.warm_after = max(self.warm_after, window.needs)
        self.updates = 0  # price updates seen
        self.last_q = 0  # q of the latest price update

    def _spread_bps(self) -> float:
        if self.last_quote is None:
            return 0.0
        bid, ask = self.last_quote
        return (2.0 * BPS * float(ask - bid)) / float(ask + bid)

    def _book_imbalance(self) -> float:
        if self.last_sizes is None:
            return 0.0
        bs, as_ = self.last_sizes
        total = bs + as_
        if total == 0:
            return 0.0
        return float(bs - as_) / float(total)

    def _price_update(self, q: int) -> list[float] | None:
        self.updates += 1
        self.last_q = q
        p = float(q) / self.scale
        for w in self.windows:
            w.update(p, q)
        if self.updates < self.warm_after:
            return None
        return [read() for read in self.readers]

    def on_quote(self, bid: int | None, ask: int | None, bid_size: int | None,
                 ask_size: int | None) -> list[float] | None:
        # Book state first, then the price windows.
        if bid_size is not None and ask_size is not None:
            self.last_sizes = (bid_size, ask_size)
        if bid is None or ask is None:
            return None
        self.last_quote = (bid, ask)
        self.ref_q = bid + ask
        if self.source == "mid":
            return self._price_update(bid + ask)
        return None

    def on_trade(self, price: int, size: int | None) -> list[float] | None:
        s = 0 if size is None else size
        tq = 2 * price
        ref = self.ref_q if self.ref_q is not None else self.prev_tq
        if ref is None or tq == ref:
            sign = self.prev_sign  # no reference yet (first trade, no quote): 0
        else:
            sign = 1 if tq > ref else -1
        self.prev_tq = tq
        self.prev_sign = sign
        for flow in self.flows:
            flow.on_trade(sign, s)
        if self.source == "last":
            return self._price_update(tq)
        return None


@dataclass
class Scored:
    """One scoring event."""

    line: int
    symbol: str
    features: list[float]
    update_index: int  # index of this price update among the symbol's price updates


def extract(spec: ModelSpec, data: Dataset) -> tuple[list[Scored], dict[str, list[int]]]:
    """Runs one extractor per symbol over every event. Returns the scoring events in feed
    order and, per symbol, the q of every price update (for the labels)."""
    extractors: dict[str, FeatureExtractor] = {}
    qs: dict[str, list[int]] = {}
    scored: list[Scored] = []
    for ev in data.events:
        ex = extractors.get(ev.symbol)
        if ex is None:
            ex = extractors[ev.symbol] = FeatureExtractor(spec, data.price_decimals[ev.symbol])
            qs[ev.symbol] = []
        before = ex.updates
        if ev.kind == QUOTE:
            vec = ex.on_quote(ev.a, ev.b, ev.c, ev.d)
        else:
            vec = ex.on_trade(ev.a, ev.b)
        if ex.updates != before:
            qs[ev.symbol].append(ex.last_q)
        if vec is not None:
            scored.append(Scored(ev.line, ev.symbol, vec, ex.updates - 1))
    return scored, qs


def labelled(
    scored: list[Scored], qs: dict[str, list[int]]
) -> tuple[list[Scored], list[int], int]:
    """The training rows and labels: y = 1 if q[t+H] > q[t], 0 if q[t+H] < q[t].

    Keeps only the rows whose horizon lies inside the data and whose price moved over it:
    a row with q[t+H] == q[t] is neither up nor down, so it is dropped, and the model
    learns P(up | the price moves within H updates). Returns (rows, labels, the number of
    in-horizon rows dropped because the price did not move)."""
    rows, ys = [], []
    unmoved = 0
    for s in scored:
        q = qs[s.symbol]
        t = s.update_index
        if t + HORIZON >= len(q):
            continue
        if q[t + HORIZON] == q[t]:
            unmoved += 1
            continue
        rows.append(s)
        ys.append(1 if q[t + HORIZON] > q[t] else 0)
    return rows, ys, unmoved


# --------------------------------------------------------------------------------------
# Training and export
# --------------------------------------------------------------------------------------


def to_float32_matrix(rows: list[Scored], display: str):
    import numpy as np

    x = np.array([r.features for r in rows], dtype=np.float64)
    if not np.isfinite(x).all():
        bad = rows[int(np.argwhere(~np.isfinite(x))[0][0])]
        raise DataError(f"{display}:{bad.line}: non-finite feature ({bad.symbol}): {bad.features}")
    return x.astype(np.float32)


def build_onnx(spec: ModelSpec, w, b):
    """Gemm(features[N,F], W[F,1], B[1]) -> logit; Sigmoid -> score[N,1]."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    n_features = len(spec.features)
    graph = helper.make_graph(
        nodes=[
            helper.make_node("Gemm", ["features", "W", "B"], ["logit"], name="linear"),
            helper.make_node("Sigmoid", ["logit"], ["score"], name="sigmoid"),
        ],
        name=spec.name,
        inputs=[helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", n_features])],
        outputs=[helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N", 1])],
        initializer=[
            numpy_helper.from_array(np.asarray(w, dtype=np.float32).reshape(n_features, 1), "W"),
            numpy_helper.from_array(np.asarray(b, dtype=np.float32).reshape(1), "B"),
        ],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", ONNX_OPSET)],
        producer_name="alpha-panda " + SCRIPT_NAME,
        doc_string=(
            f"{spec.name}: logistic regression on feature schema {spec.schema()}; "
            f"score = P(q[t+{HORIZON}] > q[t] | q[t+{HORIZON}] != q[t])."
        ),
    )
    model.ir_version = ONNX_IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


def ort_session(model_bytes: bytes):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


def ort_scores(session, x32):
    return session.run(["score"], {"features": x32})[0]


def created_timestamp() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is not None:
        try:
            when = dt.datetime.fromtimestamp(int(epoch), tz=dt.timezone.utc)
        except (ValueError, OverflowError, OSError):
            raise DataError(
                f"SOURCE_DATE_EPOCH: expected seconds since the epoch, found '{epoch}'"
            ) from None
    else:
        when = dt.datetime.now(tz=dt.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def f32(x) -> float:
    """A value rounded to float32, as the JSON number of that float32."""
    import numpy as np

    return float(np.float32(x))


def write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def dumps_compact(value) -> str:
    return json.dumps(value, separators=(", ", ": "), allow_nan=False)


@dataclass
class Args:
    train_data: Path
    train_display: str
    skip_rows: int
    golden_data: Path
    golden_display: str
    out_models: Path
    out_models_display: str
    out_golden: Path
    out_golden_display: str


def train_one(spec: ModelSpec, args: Args, train: Dataset, golden: Dataset, created: str,
              trainer: dict) -> dict:
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    started = time.perf_counter()
    scored, qs = extract(spec, train)
    rows, ys, unmoved = labelled(scored, qs)
    if len(rows) < 100 or len(set(ys)) < 2:
        raise DataError(
            f"{args.train_display}: only {len(rows)} labelled rows (price moved over the "
            f"horizon) for {spec.name} (need at least 100, with both labels)"
        )
    x32 = to_float32_matrix(rows, args.train_display)
    y = np.array(ys, dtype=np.int64)
    # Train on the float32-rounded features: exactly what the model sees at inference.
    x = x32.astype(np.float64)

    pipe = make_pipeline(
        StandardScaler(),
        LogisticRegression(C=1.0, solver="lbfgs", max_iter=1000, random_state=SEED),
    )
    pipe.fit(x, y)
    scaler, lr = pipe[0], pipe[-1]
    if lr.n_iter_[0] >= lr.max_iter:
        raise RuntimeError(f"{spec.name}: LogisticRegression did not converge")
    coef = lr.coef_[0].astype(np.float64)
    intercept = float(lr.intercept_[0])

    # Fold the scaler into the weights: w.(x - mean)/scale + b = (w/scale).x + b'.
    w = coef / scaler.scale_
    b = intercept - float(np.sum(coef * scaler.mean_ / scaler.scale_))
    w32 = w.astype(np.float32)
    b32 = np.float32(b)

    model = build_onnx(spec, w32, b32)
    model_bytes = model.SerializeToString(deterministic=True)
    session = ort_session(model_bytes)
    scores = ort_scores(session, x32)[:, 0]
    reference = pipe.predict_proba(x)[:, 1]
    max_diff = float(np.max(np.abs(scores.astype(np.float64) - reference)))
    if not max_diff <= ORT_TOLERANCE:
        raise RuntimeError(
            f"{spec.name}: ONNX Runtime differs from scikit-learn by {max_diff:.3g} > {ORT_TOLERANCE}"
        )

    train_auc = float(roc_auc_score(y, scores))
    positives = float(y.mean())
    # Thresholds: percentiles of the scores on the training (moved) rows.
    scores64 = scores.astype(np.float64)
    entry = round(float(np.percentile(scores64, 90)), 4)
    exit_ = round(float(np.percentile(scores64, 50)), 4)
    # For the log only: the engine scores every row, moved or not, so the share of all
    # scoring rows at or above the entry threshold is what a backtest sees.
    all_scores = ort_scores(session, to_float32_matrix(scored, args.train_display))[:, 0]
    share_entry = float(np.mean(all_scores >= np.float32(entry)))
    share_exit = float(np.mean(all_scores <= np.float32(exit_)))

    # ---- golden file, and an out-of-sample AUC, from the excerpt ----------------------
    g_scored, g_qs = extract(spec, golden)
    per_symbol: dict[str, int] = {}
    for s in g_scored:
        per_symbol[s.symbol] = per_symbol.get(s.symbol, 0) + 1
    symbol = spec.golden_symbol
    if per_symbol.get(symbol, 0) < GOLDEN_MIN_SCORED:
        fallback = max(sorted(per_symbol), key=lambda k: per_symbol[k], default=None)
        if fallback is None or per_symbol[fallback] < GOLDEN_MIN_SCORED:
            raise DataError(
                f"{args.golden_display}: no symbol scores {GOLDEN_MIN_SCORED} times for {spec.name}"
            )
        print(f"  note: {symbol} scores only {per_symbol.get(symbol, 0)} times in the excerpt; "
              f"golden symbol is {fallback}", file=sys.stderr)
        symbol = fallback
    g_rows = [s for s in g_scored if s.symbol == symbol][:GOLDEN_ROWS]
    g_x32 = to_float32_matrix(g_rows, args.golden_display)
    g_scores = ort_scores(session, g_x32)[:, 0]  # ONE batch over all golden rows

    # Out-of-sample AUC with the training label: moved rows only.
    oos_rows, oos_y, _ = labelled(g_scored, g_qs)
    oos_auc = None
    if len(set(oos_y)) == 2:
        oos_x32 = to_float32_matrix(oos_rows, args.golden_display)
        oos_auc = float(roc_auc_score(oos_y, ort_scores(session, oos_x32)[:, 0]))

    # ---- write ---------------------------------------------------------------------
    out_onnx = args.out_models / f"{spec.name}.onnx"
    write_bytes(out_onnx, model_bytes)

    sidecar = {
        "format": SIDECAR_FORMAT,
        "name": spec.name,
        "version": MODEL_VERSION,
        "created": created,
        "description": spec.description,
        "trainer": trainer,
        "price_source": spec.price_source,
        "features": [f.to_json() for f in spec.features],
        "input": {"name": "features", "dtype": "float32", "shape": [-1, len(spec.features)]},
        "output": {"name": "score", "dtype": "float32", "shape": [-1, 1], "score_index": 0},
        "feature_schema": spec.schema(),
        "feature_schema_hash": spec.schema_hash(),
        "thresholds": {"entry": entry, "exit": exit_},
        "training": {
            "data": args.train_display,
            "skip_rows": args.skip_rows,
            # The labelled rows (price moved over the horizon) and their share of ups.
            "rows": len(rows),
            "positives": round(positives, 4),
            "label": LABEL,
            "horizon": HORIZON,
            "train_auc": round(train_auc, 4),
            "excerpt_auc": None if oos_auc is None else round(oos_auc, 4),
            # The folded float32 weights of the ONNX graph (W, B): score = sigmoid(w.x + b)
            # on the raw feature vector.
            "coefficients": [f32(v) for v in w32],
            "intercept": f32(b32),
        },
    }
    write_bytes(
        args.out_models / f"{spec.name}.json",
        (json.dumps(sidecar, indent=2, allow_nan=False) + "\n").encode("utf-8"),
    )

    # One row per line: small diffs when something changes.
    head = {
        "model": spec.name,
        "feature_schema_hash": spec.schema_hash(),
        "data": args.golden_display,
        "symbol": symbol,
        "scored_total": per_symbol[symbol],
    }
    lines = ["{"]
    lines += [f"  {json.dumps(k)}: {dumps_compact(v)}," for k, v in head.items()]
    lines.append('  "rows": [')
    for i, (r, sc) in enumerate(zip(g_rows, g_scores)):
        row = {"line": r.line, "features": [f32(v) for v in r.features], "score": f32(sc)}
        lines.append("    " + dumps_compact(row) + ("," if i + 1 < len(g_rows) else ""))
    lines += ["  ]", "}"]
    write_bytes(args.out_golden / f"{spec.name}.json", ("\n".join(lines) + "\n").encode("utf-8"))

    std_coef = ", ".join(f"{f.canonical()}={c:+.3f}" for f, c in zip(spec.features, coef))
    elapsed = time.perf_counter() - started
    print(f"{spec.name}: {len(rows)} rows ({len(scored)} scored, {unmoved} dropped as unmoved), "
          f"positives {positives:.4f}, "
          f"train AUC {train_auc:.4f}, excerpt AUC "
          f"{'n/a' if oos_auc is None else f'{oos_auc:.4f}'}, entry {entry}, exit {exit_}, "
          f"ORT vs sklearn max diff {max_diff:.2e}, {elapsed:.1f} s")
    print(f"  standardized coefficients: {std_coef}")
    print(f"  all {len(scored)} scoring rows: {share_entry:.4f} score >= entry, "
          f"{share_exit:.4f} score <= exit")
    print(f"  golden: {symbol}, {len(g_rows)} rows, scored_total {per_symbol[symbol]}; "
          f"scored per symbol in the excerpt: {dict(sorted(per_symbol.items()))}")
    return sidecar


def resolve(arg: str) -> tuple[Path, str]:
    """A path argument -> (the path, how the outputs and messages name it). Relative paths
    are relative to the project root and are named as given, e.g. '../shared/data/x.csv'."""
    # normpath, not resolve(): keep '../shared' readable and do not follow symlinks.
    p = Path(arg)
    if p.is_absolute():
        return Path(os.path.normpath(p)), Path(os.path.normpath(p)).as_posix()
    return Path(os.path.normpath(PROJECT_ROOT / p)), Path(os.path.normpath(p)).as_posix()


def parse_args(argv: list[str] | None) -> Args:
    parser = argparse.ArgumentParser(
        description="Train the ML strategy models, export them to ONNX and write golden files. "
        "Relative paths are relative to the project root.",
    )
    parser.add_argument("--train-data", default="../shared/data/mixed_binance_l1_2024-08-08.csv",
                        help="tick CSV to train on (default: %(default)s)")
    parser.add_argument("--skip-rows", type=int, default=40000,
                        help="data rows at the start of --train-data not used for training: "
                        "by default the embedded excerpt (default: %(default)s)")
    parser.add_argument("--golden-data", default="tests/data/binance_l1_2024-08-08_excerpt.csv",
                        help="tick CSV the golden files are computed from (default: %(default)s)")
    parser.add_argument("--out-models", default="models",
                        help="model directory (default: %(default)s)")
    parser.add_argument("--out-golden", default="tests/data/golden",
                        help="golden file directory (default: %(default)s)")
    ns = parser.parse_args(argv)
    if ns.skip_rows < 0:
        parser.error("--skip-rows must be >= 0")
    train, golden = resolve(ns.train_data), resolve(ns.golden_data)
    models, goldens = resolve(ns.out_models), resolve(ns.out_golden)
    return Args(train[0], train[1], ns.skip_rows, golden[0], golden[1], models[0], models[1],
                goldens[0], goldens[1])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.train_data.is_file():
        print(f"error: training data {args.train_display} not found (resolved to {args.train_data}). "
              "The default is the Binance L1 day of the team's shared data set, expected in "
              "../shared/data beside this checkout; pass --train-data FILE to use another tick CSV.",
              file=sys.stderr)
        return 2
    try:
        # Before the imports: numpy itself reads SOURCE_DATE_EPOCH and crashes on junk.
        created = created_timestamp()
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    try:
        import numpy
        import onnx
        import onnxruntime
        import scipy
        import sklearn
    except ImportError as e:
        print(f"error: {e}. Install the pinned packages: "
              "pip install -r scripts/requirements-train.txt", file=sys.stderr)
        return 2
    trainer = {
        "name": "scikit-learn",
        "version": sklearn.__version__,
        "python": sys.version.split()[0],
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "script": SCRIPT_NAME,
    }
    try:
        t0 = time.perf_counter()
        train = read_ticks(args.train_data, args.train_display, args.skip_rows)
        golden = read_ticks(args.golden_data, args.golden_display)
        print(f"read {train.data_rows} training rows from {args.train_display} "
              f"(after skipping {args.skip_rows}) and {golden.data_rows} golden rows from "
              f"{args.golden_display} in {time.perf_counter() - t0:.1f} s")
        for spec in MODELS:
            train_one(spec, args, train, golden, created, trainer)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {len(MODELS)} models to {args.out_models_display}/ and golden files to "
          f"{args.out_golden_display}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
