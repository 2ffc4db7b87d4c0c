"""Independent PnL of a backtest's fills, Python standard library only (Decimal).

Usage: pnl_reference.py SPECS.json OUT_DIR

SPECS.json: {symbol: {"kind": "spot|linear|inverse", "multiplier": "100",
             "fee_bps": "2.5"}}. Reads OUT_DIR/fills.csv and OUT_DIR/trades.csv and prints
JSON: per "strategy|broker|symbol" the realized PnL (gross of fees), the fees recomputed
from each fill's notional, and the sum of that row's round-trip PnL from trades.csv.

Rules (the engine's contract in src/domain/valuation.rs, restated independently):
- linear/spot: realized of closing c at x against a lot at p is c*m*(x - p);
  notional = |q|*m*price.
- inverse: each leg value q*m/price is rounded half-even to 18 decimals; realized of
  closing c at x against a lot at p is round(c*m/p) - round(c*m/x); notional = |q|*m/price.
- FIFO lots; fees = notional * bps / 10000 rounded half-even to 18 decimals.
"""

import csv
import json
import sys
from collections import OrderedDict, deque
from decimal import ROUND_HALF_EVEN, Decimal, getcontext

getcontext().prec = 80
Q = Decimal("1e-18")


def leg(q, m, price):
    return (q * m / price).quantize(Q, rounding=ROUND_HALF_EVEN)


def main():
    specs = json.load(open(sys.argv[1]))
    out = sys.argv[2]
    rows = OrderedDict()
    for f in csv.DictReader(open(f"{out}/fills.csv")):
        key = f"{f['strategy']}|{f['broker']}|{f['symbol']}"
        spec = specs[f["symbol"]]
        m = Decimal(spec["multiplier"])
        row = rows.setdefault(key, {"lots": deque(), "realized": Decimal(0), "fees": Decimal(0), "fees_engine": Decimal(0)})
        qty = Decimal(f["qty"]) * (1 if f["side"] == "BUY" else -1)
        price = Decimal(f["price"])
        if spec["kind"] == "inverse":
            notional = leg(abs(qty), m, price)
        else:
            notional = abs(qty) * m * price
        row["fees"] += (notional * Decimal(spec["fee_bps"]) / 10000).quantize(Q, rounding=ROUND_HALF_EVEN)
        row["fees_engine"] += Decimal(f["fee"])
        remaining = qty
        lots = row["lots"]
        while remaining != 0 and lots and (lots[0][0] > 0) != (remaining > 0):
            lot_q, lot_p = lots[0]
            closed = min(abs(remaining), abs(lot_q)) * (1 if lot_q > 0 else -1)
            if spec["kind"] == "inverse":
                row["realized"] += leg(closed, m, lot_p) - leg(closed, m, price)
            else:
                row["realized"] += closed * m * (price - lot_p)
            lots[0] = (lot_q - closed, lot_p)
            remaining += closed
            if lots[0][0] == 0:
                lots.popleft()
        if remaining != 0:
            lots.append((remaining, price))
    trips = {}
    for t in csv.DictReader(open(f"{out}/trades.csv")):
        key = f"{t['strategy']}|{t['broker']}|{t['symbol']}"
        trips[key] = trips.get(key, Decimal(0)) + Decimal(t["pnl"])
    result = {
        key: {
            "realized": format(r["realized"], "f"),
            "fees": format(r["fees"], "f"),
            "fees_engine": format(r["fees_engine"], "f"),
            "trips_pnl": format(trips.get(key, Decimal(0)), "f"),
        }
        for key, r in rows.items()
    }
    print(json.dumps(result))


main()
