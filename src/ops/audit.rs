//! The audit writer: formats what the stage threads sent over the audit ring (requests,
//! orders handed to venues, order events, fills) into the `trading`, `risk` and `audit` log
//! channels, off the hot path.

use crossbeam_channel::Receiver;

use crate::domain::{BookId, InstrumentId, InstrumentSpec, OrderEventKind, RequestKind};
use crate::runtime::{AuditEvent, EngineLayout, StrategyInfo};

/// Audit events buffered between the stage threads and the audit writer.
pub const AUDIT_RING: usize = 1 << 16;

/// The strategy of a book and the spec of an instrument, for names in log lines.
fn names(
    layout: &EngineLayout,
    book: BookId,
    instrument: InstrumentId,
) -> (&StrategyInfo, &InstrumentSpec) {
    (
        layout.strategy_of(book),
        layout.instruments.spec(instrument),
    )
}

/// How long the audit writer sleeps when its ring is empty.
const AUDIT_POLL: std::time::Duration = std::time::Duration::from_millis(1);

/// The audit writer: formats what the stage threads sent, off the hot path. It polls
/// instead of blocking: a blocked receiver would make every stage-side `try_send` take
/// the channel's waker lock and wake it with a syscall.
pub fn write_audit(rx: &Receiver<AuditEvent>, layout: &EngineLayout) {
    loop {
        let event = match rx.try_recv() {
            Ok(event) => event,
            Err(crossbeam_channel::TryRecvError::Empty) => {
                std::thread::sleep(AUDIT_POLL);
                continue;
            }
            Err(crossbeam_channel::TryRecvError::Disconnected) => return,
        };
        write_one(&event, layout);
    }
}

fn request_name(kind: &RequestKind) -> &'static str {
    match kind {
        RequestKind::New { .. } => "new",
        RequestKind::Modify { .. } => "modify",
        RequestKind::Cancel => "cancel",
    }
}

fn write_one(event: &AuditEvent, layout: &EngineLayout) {
    match *event {
        AuditEvent::Request(r) => {
            let (strategy, spec) = names(layout, r.book, r.instrument);
            let qty = match r.kind {
                RequestKind::New { qty, .. } | RequestKind::Modify { qty, .. } => {
                    qty.display(spec.qty_precision).to_string()
                }
                RequestKind::Cancel => String::new(),
            };
            tracing::info!(
                target: "trading",
                correlation = r.correlation,
                ts_ns = r.ts.0,
                order_id = r.id.0,
                strategy = %strategy.id,
                broker = %layout.broker_name(r.broker),
                symbol = %spec.symbol,
                request = request_name(&r.kind),
                side = r.side.as_str(),
                qty = %qty,
                "request"
            );
        }
        AuditEvent::Order(r) => {
            let (strategy, spec) = names(layout, r.book, r.instrument);
            let model = strategy.model.as_ref();
            let (qty, price, order_type) = match r.kind {
                RequestKind::New {
                    qty, order_type, ..
                }
                | RequestKind::Modify {
                    qty, order_type, ..
                } => (
                    qty.display(spec.qty_precision).to_string(),
                    order_type.limit_price().map_or(String::new(), |p| {
                        p.display(spec.price_precision).to_string()
                    }),
                    order_type.name(),
                ),
                RequestKind::Cancel => (String::new(), String::new(), ""),
            };
            tracing::info!(
                target: "audit",
                event = "order",
                request = request_name(&r.kind),
                correlation = r.correlation,
                order_id = r.id.0,
                ts_ns = r.ts.0,
                strategy = %strategy.id,
                broker = %layout.broker_name(r.broker),
                symbol = %spec.symbol,
                side = r.side.as_str(),
                order_type,
                qty = %qty,
                price = %price,
                model = model.map_or("", |m| m.name.as_str()),
                model_version = model.map_or("", |m| m.version.as_str()),
                "order sent"
            );
        }
        AuditEvent::Event(e) => {
            let (strategy, spec) = names(layout, e.book, e.instrument);
            let reason = match e.kind {
                OrderEventKind::Rejected { reason, .. }
                | OrderEventKind::CancelRejected { reason }
                | OrderEventKind::ModifyRejected { reason } => Some(reason),
                _ => None,
            };
            if let Some(reason) = reason {
                tracing::warn!(
                    target: "risk",
                    correlation = e.correlation,
                    order_id = e.id.0,
                    strategy = %strategy.id,
                    broker = %layout.broker_name(e.broker),
                    symbol = %spec.symbol,
                    reason = reason.code(),
                    "refused"
                );
            }
            tracing::info!(
                target: "audit",
                event = e.kind_name(),
                correlation = e.correlation,
                order_id = e.id.0,
                ts_ns = e.ts.0,
                strategy = %strategy.id,
                broker = %layout.broker_name(e.broker),
                symbol = %spec.symbol,
                side = e.side.as_str(),
                reason = reason.map_or("", |r| r.code()),
                "order event"
            );
        }
        AuditEvent::Fill(f) => {
            let (strategy, spec) = names(layout, f.book, f.instrument);
            tracing::info!(
                target: "audit",
                event = "fill",
                correlation = f.correlation,
                order_id = f.order_id.0,
                ts_ns = f.ts.0,
                strategy = %strategy.id,
                broker = %layout.broker_name(f.broker),
                symbol = %spec.symbol,
                side = f.side.as_str(),
                qty = %f.qty.display(spec.qty_precision),
                price = %f.price.display(spec.price_precision),
                fee = %f.fee.display(spec.money_precision()),
                liquidity = f.liquidity.name(),
                "fill"
            );
        }
    }
}
