//! Reconciliation with Kite before a live run trades: what the account holds and has open,
//! against what the engine trades on that broker.
//!
//! - A net position (`GET /portfolio/positions`) on an instrument that exactly one book
//!   trades on the broker is seeded into that book (portfolio and risk) at Kite's average
//!   price. On an instrument no book trades it is reported and left alone. On one that
//!   several books trade it cannot be attributed: a mismatch.
//! - An open order (`GET /orders`, any state but complete, cancelled or rejected) on an
//!   instrument the engine trades with the engine's tag (`wire::is_engine_tag`) was left by
//!   an earlier run that did not stop gracefully: it is `stale`, to be cancelled before
//!   trading (the strategy that placed it is not known without that run's journal; its
//!   fills so far are in the position). Without the tag it is a mismatch: someone else's
//!   order the engine cannot account for. On other instruments it is reported.
//! - `GET /trades` is counted in the report (today's executions on the account).
//!
//! Production refuses to trade on a mismatch; other environments warn and go on.

use serde_json::Value;

use super::wire::price;
use crate::domain::{BookId, InstrumentId, InstrumentTable};

/// A position to seed into a book.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seed {
    pub book: BookId,
    pub instrument: InstrumentId,
    /// Signed quantity.
    pub qty: i64,
    /// Average price, raw at the instrument's precision.
    pub price: i64,
}

#[derive(Clone, Debug, Default)]
pub struct Reconciled {
    pub seeds: Vec<Seed>,
    /// What was found, one line each (for the log).
    pub report: Vec<String>,
    /// What the engine cannot explain.
    pub mismatches: Vec<String>,
    /// `(Kite order id, description)` of open orders an earlier run of the engine left.
    pub stale: Vec<(String, String)>,
}

/// Compares Kite's books with the engine's. `books_on(instrument)` lists the books that
/// trade an instrument on this broker.
///
/// # Errors
/// A response that is not Kite's shape.
pub fn reconcile(
    orders: &Value,
    trades: &Value,
    positions: &Value,
    instruments: &InstrumentTable,
    books_on: impl Fn(InstrumentId) -> Vec<BookId>,
) -> Result<Reconciled, String> {
    let mut out = Reconciled::default();
    let symbol = |row: &Value| {
        format!(
            "{}:{}",
            row.get("exchange").and_then(Value::as_str).unwrap_or(""),
            row.get("tradingsymbol")
                .and_then(Value::as_str)
                .unwrap_or("")
        )
    };
    let net = positions
        .get("net")
        .and_then(Value::as_array)
        .ok_or("GET /portfolio/positions: no 'net' list")?;
    for row in net {
        let qty = row.get("quantity").and_then(Value::as_i64).unwrap_or(0);
        if qty == 0 {
            continue;
        }
        let sym = symbol(row);
        let Some(id) = instruments.find(&sym) else {
            out.report.push(format!(
                "position {qty} {sym}: not traded by the engine, left alone"
            ));
            continue;
        };
        let books = books_on(id);
        let precision = instruments.spec(id).price_precision;
        let avg = row
            .get("average_price")
            .map(|p| price(p, precision))
            .transpose()
            .map_err(|e| format!("position {sym}: average_price {e}"))?
            .unwrap_or(0);
        match books.as_slice() {
            [] => out.report.push(format!(
                "position {qty} {sym}: no book trades it on this broker, left alone"
            )),
            [book] => {
                out.report.push(format!(
                    "position {qty} {sym} at {avg} (raw): seeded into book {}",
                    book.0
                ));
                out.seeds.push(Seed {
                    book: *book,
                    instrument: id,
                    qty,
                    price: avg,
                });
            }
            _ => out.mismatches.push(format!(
                "position {qty} {sym}: {} books trade it on this broker, it cannot be attributed",
                books.len()
            )),
        }
    }
    let orders = orders.as_array().ok_or("GET /orders: not a list")?;
    for o in orders {
        let status = o.get("status").and_then(Value::as_str).unwrap_or("");
        if matches!(status, "COMPLETE" | "CANCELLED" | "REJECTED") {
            continue;
        }
        let sym = symbol(o);
        let id = o.get("order_id").map_or_else(String::new, |v| {
            v.as_str().map_or_else(|| v.to_string(), str::to_owned)
        });
        let tag = o.get("tag").and_then(Value::as_str).unwrap_or("-");
        let line = format!(
            "open order {id} ({status}, {} {} {sym}, tag {})",
            o.get("transaction_type")
                .and_then(Value::as_str)
                .unwrap_or("?"),
            o.get("pending_quantity")
                .or_else(|| o.get("quantity"))
                .unwrap_or(&Value::Null),
            tag,
        );
        match instruments.find(&sym) {
            Some(i) if !books_on(i).is_empty() && super::wire::is_engine_tag(tag) => {
                out.stale.push((id, line));
            }
            Some(i) if !books_on(i).is_empty() => out.mismatches.push(format!(
                "{line}: on an instrument the engine trades, not placed by this run (cancel it, or let it close, then restart)"
            )),
            _ => out.report.push(format!("{line}: not on an instrument the engine trades, left alone")),
        }
    }
    let trades = trades.as_array().map_or(0, Vec::len);
    out.report
        .push(format!("{trades} trades on the account today"));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> InstrumentTable {
        let mut t = InstrumentTable::new();
        for s in ["NSE:INFY", "NSE:RELIANCE", "NFO:NIFTY26JUNFUT"] {
            let id = t.intern(s);
            t.widen(id, 2, 0).unwrap();
        }
        t
    }

    #[test]
    fn positions_seed_single_books_and_orders_on_traded_instruments_are_mismatches() {
        let positions = serde_json::json!({"net": [
            {"exchange": "NSE", "tradingsymbol": "INFY", "quantity": 5, "average_price": 1550.05},
            {"exchange": "NSE", "tradingsymbol": "RELIANCE", "quantity": -2, "average_price": 2890},
            {"exchange": "NSE", "tradingsymbol": "TCS", "quantity": 1, "average_price": 3000},
            {"exchange": "NSE", "tradingsymbol": "SBIN", "quantity": 0, "average_price": 0}
        ], "day": []});
        let orders = serde_json::json!([
            {"order_id": "1", "status": "OPEN", "exchange": "NFO", "tradingsymbol": "NIFTY26JUNFUT", "transaction_type": "BUY", "quantity": 75, "tag": "x"},
            {"order_id": "2", "status": "COMPLETE", "exchange": "NSE", "tradingsymbol": "INFY"},
            {"order_id": "3", "status": "OPEN", "exchange": "NSE", "tradingsymbol": "TCS", "transaction_type": "SELL", "quantity": 1},
            {"order_id": "4", "status": "OPEN", "exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "SELL", "quantity": 2, "tag": "ap6a1b2c3d-9"},
            {"order_id": 5, "status": "OPEN", "exchange": "NSE", "tradingsymbol": "TCS", "transaction_type": "SELL", "quantity": 2, "tag": "ap6a1b2c3d-10"}
        ]);
        let t = table();
        let infy = t.find("NSE:INFY").unwrap();
        let reliance = t.find("NSE:RELIANCE").unwrap();
        let nifty = t.find("NFO:NIFTY26JUNFUT").unwrap();
        let r = reconcile(&orders, &serde_json::json!([{}, {}]), &positions, &t, |i| {
            if i == infy || i == nifty {
                vec![BookId(0)]
            } else if i == reliance {
                vec![BookId(0), BookId(1)]
            } else {
                vec![]
            }
        })
        .unwrap();
        assert_eq!(
            r.seeds,
            [Seed {
                book: BookId(0),
                instrument: infy,
                qty: 5,
                price: 155_005
            }]
        );
        assert_eq!(r.mismatches.len(), 2, "{:?}", r.mismatches);
        assert!(r.mismatches[0].contains("RELIANCE") && r.mismatches[0].contains("2 books"));
        assert!(
            r.mismatches[1].contains("open order 1 "),
            "{:?}",
            r.mismatches
        );
        // The engine's own order on a traded instrument is stale (to cancel), not a mismatch;
        // on an instrument nothing trades it is left alone like any other.
        assert_eq!(r.stale.len(), 1, "{:?}", r.stale);
        assert_eq!(r.stale[0].0, "4");
        assert!(r.stale[0].1.contains("ap6a1b2c3d-9"));
        assert!(r.report.iter().any(|l| l.contains("open order 5 ")));
        assert!(
            r.report
                .iter()
                .any(|l| l.contains("TCS") && l.contains("left alone"))
        );
        assert!(
            r.report
                .iter()
                .any(|l| l == "2 trades on the account today")
        );
        assert!(reconcile(&orders, &Value::Null, &Value::Null, &t, |_| vec![]).is_err());
    }
}
