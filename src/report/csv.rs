//! The CSV reports: `fills.csv` (one row per fill) and `orders.csv` (one row per order),
//! money and quantities as exact decimals at the instrument's precision.

use std::io::{BufWriter, Write};
use std::path::Path;

use super::ReportError;
use crate::domain::Fill;
use crate::runtime::EngineLayout;
use crate::strategy::OrderRecord;

const FILLS_HEADER: &str = "ts_ns,correlation,strategy,broker,symbol,side,qty,price,fee,model,model_version,feature_schema_hash,order_id,liquidity";
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
    write_csv(path, FILLS_HEADER, |out| {
        for fill in fills {
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
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
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
