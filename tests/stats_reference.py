#!/usr/bin/env python3
"""Independent reference for src/report/stats.rs (standard library only).

Usage: python3 tests/stats_reference.py INPUT.json

INPUT is an object with: "fills" (list of {"ts", "qty", "price", "fee", "realized"}; qty and
price are raw integers, fee and realized decimal strings), "equity" (decimal strings),
"interval_s" (number), "capital" (decimal string or null), "exposure_ns", "span_ns"
(integers), "traded_notional", "fees" (decimal strings).

Prints {"trips": [...], "stats": {...}} as JSON. Money is exact (decimal.Decimal, rounded
half-even to 1e-18) and printed like Money::display(2); big integers are strings. The
conventions are those of the module contract of src/report/stats.rs, re-derived here from
the definitions (not from the Rust code) so the two can disagree.
"""

import decimal
import json
import math
import statistics
import sys
from decimal import ROUND_HALF_EVEN, Decimal

decimal.getcontext().prec = 120
RAW = Decimal("1e-18")
SECONDS_PER_YEAR = 365.25 * 86400


def money(text):
    value = Decimal(text)
    if value != value.quantize(RAW):
        raise ValueError(f"more than 18 decimals: {text}")
    return value


def half_even(value, unit=RAW):
    return value.quantize(unit, rounding=ROUND_HALF_EVEN)


def fmt_money(value):
    """Like Money::display(2): at least 2 decimals, more only where the value needs them."""
    if value is None:
        return None
    raw = int(half_even(value) / RAW)
    sign = "-" if raw < 0 else ""
    whole, frac = divmod(abs(raw), 10**18)
    digits = f"{frac:018d}".rstrip("0")
    digits = digits + "0" * (2 - len(digits)) if len(digits) < 2 else digits
    return f"{sign}{whole}.{digits}"


def fmt_float(value):
    return value if value is not None and math.isfinite(value) else None


class Trip:
    def __init__(self, ts, qty, price, fee, realized):
        self.side = "long" if qty > 0 else "short"
        self.entry_ts = ts
        self.exit_ts = None
        self.last_ts = ts
        self.entry = [0, 0]  # [sum |q| * price, sum |q|]
        self.exit = [0, 0]
        self.position = 0
        self.fees = Decimal(0)
        self.realized = Decimal(0)
        self.increase(qty, price, fee, realized)

    def increase(self, qty, price, fee, realized):
        self.entry[0] += abs(qty) * price
        self.entry[1] += abs(qty)
        self.position += qty
        self.fees += fee
        self.realized += realized

    def reduce(self, qty, price, fee, realized):
        self.exit[0] += abs(qty) * price
        self.exit[1] += abs(qty)
        self.position += qty
        self.fees += fee
        self.realized += realized

    @property
    def pnl(self):
        return self.realized - self.fees

    def as_json(self):
        def vwap(nq):
            if nq[1] == 0:
                return None
            return int(half_even(Decimal(nq[0]) / Decimal(nq[1]), Decimal(1)))

        end = self.exit_ts if self.exit_ts is not None else self.last_ts
        return {
            "side": self.side,
            "entry_ts": self.entry_ts,
            "exit_ts": self.exit_ts,
            "entry_notional": str(self.entry[0]),
            "entry_qty": str(self.entry[1]),
            "entry_vwap": vwap(self.entry),
            "exit_notional": str(self.exit[0]),
            "exit_qty": str(self.exit[1]),
            "exit_vwap": vwap(self.exit),
            "quantity": str(self.entry[1]),
            "pnl": fmt_money(self.pnl),
            "fees": fmt_money(self.fees),
            "holding_ns": max(end - self.entry_ts, 0),
        }


def sign(x):
    return (x > 0) - (x < 0)


def build_trips(fills):
    trips, cur = [], None
    for f in fills:
        ts, qty, price = f["ts"], f["qty"], f["price"]
        fee, realized = money(f["fee"]), money(f["realized"])
        if cur is None:
            if qty != 0:
                cur = Trip(ts, qty, price, fee, realized)
            continue
        cur.last_ts = ts
        if qty == 0 or sign(qty) == sign(cur.position):
            cur.increase(qty, price, fee, realized)
            continue
        if abs(qty) <= abs(cur.position):
            cur.reduce(qty, price, fee, realized)
            if cur.position == 0:
                cur.exit_ts = ts
                trips.append(cur)
                cur = None
            continue
        # A flip: close |position|, open the rest at the same price and time.
        closing = abs(cur.position)
        close_fee = half_even(fee * closing / abs(qty))
        cur.reduce(-cur.position, price, close_fee, realized)
        cur.exit_ts = ts
        trips.append(cur)
        cur = Trip(ts, sign(qty) * (abs(qty) - closing), price, fee - close_fee, Decimal(0))
    if cur is not None:
        trips.append(cur)
    return trips


def curve_stats(equity, capital, interval_s):
    """(volatility, sharpe, sortino) from the sampled net PnL."""
    if not (math.isfinite(interval_s) and interval_s > 0) or len(equity) < 2:
        return None, None, None
    ppy = SECONDS_PER_YEAR / interval_s
    unit = capital if capital is not None else Decimal(1)
    diffs = [b - a for a, b in zip(equity, equity[1:])]
    returns = [float(d / unit) for d in diffs]
    n = len(returns)
    mean = float(sum(diffs) / unit / n)
    sortino = None
    if any(d < 0 for d in diffs):
        downside = math.sqrt(sum(min(r, 0.0) ** 2 for r in returns) / n)
        sortino = mean / downside * math.sqrt(ppy)
    volatility = sharpe = None
    if n >= 2 and len(set(diffs)) > 1:
        stdev = statistics.stdev(returns)
        sharpe = mean / stdev * math.sqrt(ppy)
        if capital is not None:
            volatility = stdev * math.sqrt(ppy)
    return volatility, sharpe, sortino


def drawdown(equity):
    """(max drawdown, longest peak-to-recovery in samples), the peak starting at sample 0.

    Scans the stretches between successive running-maximum samples; a stretch counts when
    equity dipped below its starting peak, the last one running to the last sample.
    """
    if not equity:
        return Decimal(0), 0
    worst, longest = Decimal(0), 0
    peaks = []  # indices where equity is at its running maximum
    best = None
    for i, e in enumerate(equity):
        if best is None or e >= best:
            best = e
            peaks.append(i)
        else:
            worst = max(worst, best - e)
    ends = peaks[1:] + [len(equity) - 1]
    for start, end in zip(peaks, ends):
        # A stretch counts when equity went below the peak between start and end.
        if any(x < equity[start] for x in equity[start + 1 : end + 1]):
            longest = max(longest, end - start)
    return worst, longest


def trade_stats(trips):
    closed = [t.pnl for t in trips if t.exit_ts is not None]
    wins = [p for p in closed if p > 0]
    losses = [p for p in closed if p < 0]

    def mean(values):
        return half_even(sum(values, Decimal(0)) / len(values)) if values else None

    return {
        "round_trips": len(closed),
        "win_rate": len(wins) / len(closed) if closed else None,
        "profit_factor": float(sum(wins, Decimal(0)) / -sum(losses, Decimal(0))) if losses else None,
        "avg_win": fmt_money(mean(wins)),
        "avg_loss": fmt_money(mean(losses)),
        "expectancy": fmt_money(mean(closed)),
    }


def compute(data, trips):
    equity = [money(e) for e in data["equity"]]
    capital = money(data["capital"]) if data["capital"] is not None else None
    if capital is not None and capital <= 0:
        capital = None
    interval_s = float(data["interval_s"])
    span_ns, exposure_ns = data["span_ns"], data["exposure_ns"]
    volatility, sharpe, sortino = curve_stats(equity, capital, interval_s)
    worst, dd_samples = drawdown(equity)
    ret = float(equity[-1] / capital) if capital is not None and equity else None
    calmar = None
    if ret is not None and span_ns > 0 and worst > 0:
        annualised = ret * (SECONDS_PER_YEAR / (span_ns / 1e9))
        calmar = annualised / float(worst / capital)
    stats = {
        "return": ret,
        "volatility": volatility,
        "sharpe": sharpe,
        "sortino": sortino,
        "max_drawdown": fmt_money(worst),
        "max_drawdown_duration_s": dd_samples * interval_s,
        "calmar": calmar,
        "exposure": exposure_ns / span_ns if span_ns > 0 else None,
        "turnover": float(money(data["traded_notional"]) / capital) if capital is not None else None,
        "fees": fmt_money(money(data["fees"])),
    }
    stats.update(trade_stats(trips))
    return {k: fmt_float(v) if isinstance(v, float) else v for k, v in stats.items()}


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as handle:
        data = json.load(handle)
    trips = build_trips(data["fills"])
    out = {"trips": [t.as_json() for t in trips], "stats": compute(data, trips)}
    json.dump(out, sys.stdout, indent=1, allow_nan=False)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
