//! Kite's view of each order turned into the engine's order events, once each: the same
//! update may arrive from the socket, from polling and again after a reconnect, in any order
//! (Kite's forum reports partial-fill updates after `COMPLETE`). Fill quantities only grow;
//! a state is applied only if it moves the order forward.
//!
//! - Accepted: the first sight of the order at Kite in any state but `REJECTED`.
//! - Fills: every increase of `filled_quantity`, at Kite's average price of the order
//!   (Kite reports averages, not each trade's price), stamped with the exchange time.
//! - `REJECTED` before acceptance: `Rejected(BROKER_REJECTED)`, Kite's message logged;
//!   after it (rare): `Expired` with the rest.
//! - `CANCELLED`: `Cancelled` with what was open.

use std::collections::HashMap;

use super::wire::KiteOrder;
use crate::domain::{
    Execution, Liquidity, Nanos, Order, OrderEvent, OrderEventKind, Price, Qty, RejectReason,
};
use crate::execution::cost::FeeTable;

/// One order the engine placed.
#[derive(Clone, Debug)]
struct Tracked {
    order: Order,
    /// Kite's id, once its placement answer or an update named it.
    kite_id: Option<String>,
    accepted: bool,
    filled: i64,
    done: bool,
}

#[derive(Debug, Default)]
pub struct Tracker {
    /// The fee booked on each fill (Kite reports none).
    fees: FeeTable,
    orders: HashMap<u64, Tracked>,
    by_kite_id: HashMap<String, u64>,
    /// Updates of orders the engine does not know (placed elsewhere, or adopted later).
    pub foreign: u64,
}

impl Tracker {
    pub fn new(fees: FeeTable) -> Tracker {
        Tracker {
            fees,
            ..Tracker::default()
        }
    }

    /// An order sent to Kite, known by its client id (and tag) before Kite names it.
    pub fn placed(&mut self, order: Order) {
        self.orders.insert(
            order.id.0,
            Tracked {
                order,
                kite_id: None,
                accepted: false,
                filled: 0,
                done: false,
            },
        );
    }

    /// Kite's id for a client order (the placement's answer).
    pub fn named(&mut self, client: u64, kite_id: &str) {
        self.by_kite_id.insert(kite_id.to_owned(), client);
        if let Some(t) = self.orders.get_mut(&client) {
            t.kite_id = Some(kite_id.to_owned());
        }
    }

    /// The client id of a Kite order id.
    pub fn client_of(&self, kite_id: &str) -> Option<u64> {
        self.by_kite_id.get(kite_id).copied()
    }

    /// Kite's id of a client order.
    pub fn kite_id_of(&self, client: u64) -> Option<&str> {
        self.orders.get(&client)?.kite_id.as_deref()
    }

    /// The order behind a client id, while it is open.
    pub fn open(&self, client: u64) -> Option<&Order> {
        self.orders
            .get(&client)
            .filter(|t| !t.done)
            .map(|t| &t.order)
    }

    /// Client ids of every order still open.
    pub fn open_ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self
            .orders
            .iter()
            .filter(|(_, t)| !t.done)
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids
    }

    pub fn open_count(&self) -> usize {
        self.orders.values().filter(|t| !t.done).count()
    }

    /// A placement Kite refused outright (HTTP error): the order never existed there.
    pub fn refused(
        &mut self,
        client: u64,
        reason: RejectReason,
        now: Nanos,
        out: &mut Vec<OrderEvent>,
    ) {
        if let Some(t) = self.orders.get_mut(&client)
            && !t.done
        {
            t.done = true;
            out.push(OrderEvent::of(
                &t.order,
                now,
                OrderEventKind::Rejected {
                    reason,
                    qty: t.order.qty,
                },
            ));
        }
    }

    /// Applies Kite's state of one order; `client` found from the Kite id or our tag.
    pub fn apply(
        &mut self,
        k: &KiteOrder,
        client: Option<u64>,
        now: Nanos,
        out: &mut Vec<OrderEvent>,
    ) {
        let client = client.or_else(|| self.client_of(&k.order_id));
        let Some(t) = client.and_then(|c| self.orders.get_mut(&c)) else {
            self.foreign += 1;
            return;
        };
        if let Some(c) = client {
            self.by_kite_id.entry(k.order_id.clone()).or_insert(c);
        }
        if t.kite_id.is_none() {
            t.kite_id = Some(k.order_id.clone());
        }
        if t.done {
            return;
        }
        let ts = k.exchange_ts.map_or(now, Nanos);
        let qty = t.order.qty.0;
        if k.status == "REJECTED" && !t.accepted {
            t.done = true;
            tracing::warn!(target: "trading", order = t.order.id.0, kite_order = %k.order_id, message = k.status_message.as_deref().unwrap_or(""), "kite rejected the order");
            out.push(OrderEvent::of(
                &t.order,
                ts,
                OrderEventKind::Rejected {
                    reason: RejectReason::BrokerRejected,
                    qty: t.order.qty,
                },
            ));
            return;
        }
        if !t.accepted {
            t.accepted = true;
            out.push(OrderEvent::of(
                &t.order,
                ts,
                OrderEventKind::Accepted {
                    venue_id: k.order_id.parse().unwrap_or(0),
                    qty: t.order.qty,
                    order_type: t.order.order_type,
                },
            ));
        }
        let filled = k.filled_quantity.clamp(0, qty);
        if filled > t.filled {
            let delta = filled - t.filled;
            let first_fill = t.filled == 0;
            t.filled = filled;
            let leaves = qty - filled;
            let price = Price(k.average_price.unwrap_or_default());
            let execution = Execution {
                qty: Qty(delta),
                price,
                fee: self.fees.fee(
                    t.order.instrument.index(),
                    price,
                    Qty(delta),
                    t.order.side,
                    Liquidity::Taker,
                    first_fill,
                ),
                leaves: Qty(leaves),
                liquidity: Liquidity::Taker,
            };
            let kind = if leaves == 0 {
                t.done = true;
                OrderEventKind::Filled(execution)
            } else {
                OrderEventKind::PartiallyFilled(execution)
            };
            out.push(OrderEvent::of(&t.order, ts, kind));
        }
        if t.done {
            return;
        }
        let leaves = Qty(qty - t.filled);
        match k.status.as_str() {
            "CANCELLED" => {
                t.done = true;
                out.push(OrderEvent::of(
                    &t.order,
                    ts,
                    OrderEventKind::Cancelled { leaves },
                ));
            }
            "REJECTED" => {
                t.done = true;
                tracing::warn!(target: "trading", order = t.order.id.0, kite_order = %k.order_id, message = k.status_message.as_deref().unwrap_or(""), "kite closed the order");
                out.push(OrderEvent::of(
                    &t.order,
                    ts,
                    OrderEventKind::Expired { leaves },
                ));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        BookId, BrokerId, ClientOrderId, InstrumentId, OrderType, Side, TimeInForce,
    };

    fn order(id: u64, qty: i64) -> Order {
        Order {
            id: ClientOrderId(id),
            correlation: 0,
            ts: Nanos(1),
            book: BookId(0),
            broker: BrokerId(0),
            instrument: InstrumentId(0),
            side: Side::Buy,
            qty: Qty(qty),
            order_type: OrderType::Market,
            tif: TimeInForce::Gtc,
        }
    }

    fn kite(status: &str, filled: i64, avg: Option<i64>) -> KiteOrder {
        KiteOrder {
            order_id: "100".into(),
            tag: None,
            status: status.into(),
            status_message: Some("margin".into()),
            quantity: 10,
            filled_quantity: filled,
            average_price: avg,
            exchange_ts: None,
        }
    }

    fn kinds(out: &[OrderEvent]) -> Vec<String> {
        out.iter()
            .map(|e| match e.kind {
                OrderEventKind::Accepted { .. } => "accepted".to_owned(),
                OrderEventKind::PartiallyFilled(x) => format!("partial {} @{}", x.qty.0, x.price.0),
                OrderEventKind::Filled(x) => format!("filled {} @{}", x.qty.0, x.price.0),
                OrderEventKind::Cancelled { leaves } => format!("cancelled {}", leaves.0),
                OrderEventKind::Rejected { reason, .. } => format!("rejected {}", reason.code()),
                OrderEventKind::Expired { leaves } => format!("expired {}", leaves.0),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn duplicates_and_late_updates_give_each_event_once() {
        let mut t = Tracker::default();
        t.placed(order(7, 10));
        t.named(7, "100");
        let mut out = Vec::new();
        for update in [
            kite("OPEN", 0, None),
            kite("UPDATE", 4, Some(2000)),
            kite("OPEN", 4, Some(2000)),
            kite("COMPLETE", 10, Some(2003)),
            // Seen after COMPLETE on Kite: ignored.
            kite("UPDATE", 6, Some(2001)),
            kite("COMPLETE", 10, Some(2003)),
        ] {
            t.apply(&update, None, Nanos(5), &mut out);
        }
        assert_eq!(
            kinds(&out),
            ["accepted", "partial 4 @2000", "filled 6 @2003"]
        );
        assert_eq!(t.open_count(), 0);
    }

    #[test]
    fn rejections_cancels_and_foreign_orders() {
        let mut t = Tracker::default();
        let mut out = Vec::new();
        t.placed(order(1, 10));
        t.apply(&kite("REJECTED", 0, None), Some(1), Nanos(5), &mut out);
        t.placed(order(2, 10));
        t.named(2, "200");
        let mut open = kite("OPEN", 3, Some(1500));
        open.order_id = "200".into();
        t.apply(&open, None, Nanos(5), &mut out);
        let mut cancelled = kite("CANCELLED", 3, Some(1500));
        cancelled.order_id = "200".into();
        t.apply(&cancelled, None, Nanos(6), &mut out);
        let mut other = kite("OPEN", 0, None);
        other.order_id = "999".into();
        t.apply(&other, None, Nanos(6), &mut out);
        t.placed(order(3, 10));
        t.refused(3, RejectReason::BrokerUnavailable, Nanos(7), &mut out);
        assert_eq!(
            kinds(&out),
            [
                "rejected BROKER_REJECTED",
                "accepted",
                "partial 3 @1500",
                "cancelled 7",
                "rejected BROKER_UNAVAILABLE"
            ]
        );
        assert_eq!(t.foreign, 1);
    }

    #[test]
    fn fills_book_the_venue_commission_as_kite_reports_none() {
        use crate::domain::{InstrumentSpec, Money};
        use crate::execution::cost::{Commission, Costs, VenueCosts};
        let costs = VenueCosts {
            default: Costs {
                commission: Commission {
                    per_unit: Money::parse("0.5").unwrap(),
                    min_per_order: Money::parse("20").unwrap(),
                    ..Commission::default()
                },
                ..Costs::default()
            },
            overrides: Vec::new(),
        };
        let spec = InstrumentSpec::new("NSE:INFY", 2, 0);
        let mut t = Tracker::new(FeeTable::new(&costs, &[spec]));
        t.placed(order(7, 10));
        t.named(7, "100");
        let mut out = Vec::new();
        t.apply(&kite("OPEN", 4, Some(150_000)), None, Nanos(5), &mut out);
        t.apply(
            &kite("COMPLETE", 10, Some(150_010)),
            None,
            Nanos(6),
            &mut out,
        );
        let fees: Vec<Money> = out
            .iter()
            .filter_map(|e| e.execution().map(|x| x.fee))
            .collect();
        // The order's minimum on its first fill, then 6 × 0.5.
        assert_eq!(
            fees,
            [Money::parse("20").unwrap(), Money::parse("3").unwrap()]
        );
    }
}
