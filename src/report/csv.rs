//! The CSV reports: `fills.csv` (one row per fill), `orders.csv` (one row per order),
//! `equity.csv` (the sampled equity, per currency and per row) and `trades.csv` (round
//! trips); money and quantities as exact decimals, times as ns and ISO-8601 UTC.

use std::io::{BufWriter, Write};
use std::path::Path;

use super::ReportError;
use super::analytics::Analytics;
use crate::domain::{Fill, Money, Nanos};
use crate::portfolio::ROW_COLUMNS;
use crate::runtime::EngineLayout;
use crate::strategy::OrderRecord;

const FILLS_HEADER: &str = "ts_ns,correlation,strategy,broker,symbol,side,qty,price,fee,model,model_version,feature_schema_hash,order_id,liquidity,time,position";
const EQUITY_HEADER: &str =
    "ts_ns,time,scope,strategy,broker,symbol,currency,equity,realized,unrealized,fees,drawdown";
const TRADES_HEADER: &str = "strategy,broker,symbol,currency,side,status,entry_ts_ns,entry_time,entry_price,exit_ts_ns,exit_time,exit_price,quantity,pnl,fees,holding_s";

/// `ts` as ISO-8601 UTC with nanoseconds (`2024-08-08T23:54:14.024619568Z`).
pub(crate) fn iso_time(ts: Nanos) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ts.0))
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}
const ORDERS_HEADER: &str = "order_id,placed_ts_ns,correlation,strategy,broker,symbol,side,type,tif,qty,limit_price,filled_qty,status,reason,replaces,closed_ts_ns";

/// Creates `path`, writes `header` and the rows `rows` writes, and flushes; any I/O error
/// names the file.
fn write_csv(
    path: &Path,
    header: &str,
    rows: impl FnOnce(&mut BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> Result<(), ReportError> {
    let write = || {
        let mut out = BufWriter::new(std::fs::File::create(path)?);
        writeln!(out, "{header}")?;
        rows(&mut out)?;
        out.flush()
    };
    write().map_err(|source| ReportError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Writes `fills.csv`: `ts_ns,correlation,strategy,broker,symbol,side,qty,price,fee`, then
/// for ML strategies the model that decided (`model,model_version,feature_schema_hash`),
/// then the order's id and whether the fill was `maker` or `taker` (`order_id,liquidity`).
///
/// # Errors
/// The file cannot be written.
pub fn write_fills_csv(
    path: &Path,
    layout: &EngineLayout,
    fills: &[Fill],
) -> Result<(), ReportError> {
    let instruments = layout.instruments.len();
    let mut positions = vec![0i64; layout.books.len() * instruments];
    write_csv(path, FILLS_HEADER, |out| {
        for fill in fills {
            let cell = fill.book.0 as usize * instruments + fill.instrument.index();
            let position = positions.get_mut(cell).map_or(0, |p| {
                *p = p.saturating_add(fill.side.sign() * fill.qty.0);
                *p
            });
            let spec = layout.instruments.spec(fill.instrument);
            let strategy = layout.strategy_of(fill.book);
            let (model, version, hash) = strategy.model.as_ref().map_or(("", "", ""), |m| {
                (
                    m.name.as_str(),
                    m.version.as_str(),
                    m.feature_schema_hash.as_str(),
                )
            });
            writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                fill.ts.0,
                fill.correlation,
                strategy.id,
                layout.brokers[fill.broker.0 as usize],
                spec.symbol,
                fill.side.as_str(),
                fill.qty.display(spec.qty_precision),
                fill.price.display(spec.price_precision),
                fill.fee.display(spec.money_precision()),
                model,
                version,
                hash,
                fill.order_id.0,
                fill.liquidity.name(),
                iso_time(fill.ts),
                crate::domain::Qty(position).display(spec.qty_precision),
            )?;
        }
        Ok(())
    })
}

/// Writes `orders.csv`, one row per order in the order they ended (orders still open at the
/// end last): `order_id,placed_ts_ns,correlation,strategy,broker,symbol,side,type,tif,qty,
/// limit_price,filled_qty,status,reason,replaces,closed_ts_ns` (`qty` and `limit_price` as
/// last modified; `reason` the rejection code).
///
/// # Errors
/// The file cannot be written.
pub fn write_orders_csv(
    path: &Path,
    layout: &EngineLayout,
    orders: &[OrderRecord],
) -> Result<(), ReportError> {
    write_csv(path, ORDERS_HEADER, |out| {
        for record in orders {
            let spec = layout.instruments.spec(record.instrument);
            let o = &record.order;
            let limit = o.order_type.limit_price().map_or(String::new(), |p| {
                p.display(spec.price_precision).to_string()
            });
            let reason = match record.status {
                crate::strategy::OrderStatus::Rejected(r) => r.code(),
                _ => "",
            };
            // Still open at the end of the run: it has no closing time.
            let closed = match record.status {
                crate::strategy::OrderStatus::Open => String::new(),
                _ => record.closed.0.to_string(),
            };
            writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                o.id.0,
                o.placed.0,
                o.correlation,
                layout.strategy_of(record.book).id,
                layout.broker_name(layout.books[record.book.0 as usize].broker),
                spec.symbol,
                o.side.as_str(),
                o.order_type.name(),
                o.tif.name(),
                o.qty.display(spec.qty_precision),
                limit,
                o.filled.display(spec.qty_precision),
                record.status.name(),
                reason,
                o.replaces,
                closed,
            )?;
        }
        Ok(())
    })
}

/// Writes `equity.csv`: at every sample time (see `portfolio::curve`; the last row is the
/// end of the run), one `total` row per settlement currency, then one `strategy` row per
/// report row: equity (net PnL), realized, unrealized, fees and drawdown from the running
/// peak of the samples.
///
/// # Errors
/// The file cannot be written.
pub fn write_equity_csv(
    path: &Path,
    layout: &EngineLayout,
    analytics: &Analytics,
) -> Result<(), ReportError> {
    let currencies = layout.instruments.currencies();
    let totals = analytics.totals.len();
    let digits = |c: usize| {
        layout
            .instruments
            .iter()
            .filter(|(_, s)| s.settlement.index() == c)
            .map(|(_, s)| s.money_precision())
            .max()
            .unwrap_or(2)
    };
    let mut peaks = vec![Money::ZERO; totals + analytics.rows.len()];
    write_csv(path, EQUITY_HEADER, |out| {
        for (ts, values) in analytics.times.iter().zip(&analytics.values) {
            let time = iso_time(*ts);
            for c in (0..totals).filter(|&c| analytics.used[c]) {
                let (mut realized, mut fees) = (Money::ZERO, Money::ZERO);
                for row in analytics.rows.iter().filter(|r| r.currency.index() == c) {
                    realized += values[row.column + 1];
                    fees += values[row.column + 2];
                }
                let equity = values[c];
                peaks[c] = peaks[c].max(equity);
                let d = digits(c);
                writeln!(
                    out,
                    "{},{time},total,,,,{},{},{},{},{},{}",
                    ts.0,
                    currencies.get(c).map_or("", String::as_str),
                    equity.display(d),
                    realized.display(d),
                    (equity - realized + fees).display(d),
                    fees.display(d),
                    (peaks[c] - equity).display(d),
                )?;
            }
            for (r, row) in analytics.rows.iter().enumerate() {
                let spec = layout.instruments.spec(row.instrument);
                let d = spec.money_precision();
                let [net, realized, fees]: [Money; ROW_COLUMNS] = [
                    values[row.column],
                    values[row.column + 1],
                    values[row.column + 2],
                ];
                let peak = &mut peaks[totals + r];
                *peak = (*peak).max(net);
                writeln!(
                    out,
                    "{},{time},strategy,{},{},{},{},{},{},{},{},{}",
                    ts.0,
                    layout.strategy_of(row.book).id,
                    layout.broker_name(layout.books[row.book.0 as usize].broker),
                    spec.symbol,
                    currencies
                        .get(row.currency.index())
                        .map_or("", String::as_str),
                    net.display(d),
                    realized.display(d),
                    (net - realized + fees).display(d),
                    fees.display(d),
                    (*peak - net).display(d),
                )?;
            }
        }
        Ok(())
    })
}

/// Writes `trades.csv`: every round trip (position from zero back to zero; `open` when the
/// run ended first), prices as VWAPs at the instrument's precision, PnL net of fees.
///
/// # Errors
/// The file cannot be written.
pub fn write_trades_csv(
    path: &Path,
    layout: &EngineLayout,
    analytics: &Analytics,
) -> Result<(), ReportError> {
    let currencies = layout.instruments.currencies();
    write_csv(path, TRADES_HEADER, |out| {
        for row in &analytics.rows {
            let spec = layout.instruments.spec(row.instrument);
            let price = |p: Option<i64>| {
                p.map(|p| {
                    crate::domain::Price(p)
                        .display(spec.price_precision)
                        .to_string()
                })
                .unwrap_or_default()
            };
            for trip in &row.trips {
                let d = spec.money_precision();
                let quantity = i64::try_from(trip.quantity).unwrap_or(i64::MAX);
                writeln!(
                    out,
                    "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                    layout.strategy_of(row.book).id,
                    layout.broker_name(layout.books[row.book.0 as usize].broker),
                    spec.symbol,
                    currencies
                        .get(row.currency.index())
                        .map_or("", String::as_str),
                    trip.side.as_str(),
                    if trip.is_closed() { "closed" } else { "open" },
                    trip.entry_ts.0,
                    iso_time(trip.entry_ts),
                    price(trip.entry_price.price()),
                    trip.exit_ts.map(|t| t.0.to_string()).unwrap_or_default(),
                    trip.exit_ts.map(iso_time).unwrap_or_default(),
                    price(trip.exit_price.price()),
                    crate::domain::Qty(quantity).display(spec.qty_precision),
                    trip.pnl.display(d),
                    trip.fees.display(d),
                    trip.holding_ns as f64 / 1e9,
                )?;
            }
        }
        Ok(())
    })
}
