//! One book's holding of one instrument: signed quantity, FIFO lots for realized PnL, cash
//! flow and fees, exact in integers (inverse contracts: each leg rounded once, see
//! `domain::valuation`), and the counts of what happened to its orders.

use std::collections::VecDeque;

use crate::domain::{Money, Price, Side, Valuation};

/// One book's holding of one instrument.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Position {
    /// Signed quantity, raw.
    pub qty: i64,
    /// Open lots in fill order: (signed qty, price raw).
    lots: VecDeque<(i64, i64)>,
    /// Sum of `qty × price` over the open lots (signed), raw: the cost basis.
    cost: i128,
    pub realized: Money,
    pub fees: Money,
    /// Cash flow: sells minus buys minus fees, in the settlement currency.
    pub cash: Money,
    /// Orders the venue accepted.
    pub orders: u64,
    pub fills: u64,
    pub cancels: u64,
    /// Modifies that took effect (cancel/replace).
    pub replaces: u64,
    /// Orders refused by risk or the venue.
    pub rejections: u64,
    pub bought: i64,
    pub sold: i64,
}

impl Position {
    /// Room for `n` more lots, so the next fills allocate nothing on the tick path.
    pub(crate) fn reserve_lots(&mut self, n: usize) {
        self.lots.reserve(n);
    }

    /// An empty position whose first lots need no allocation.
    pub(crate) fn with_lot_capacity(lots: usize) -> Position {
        Position {
            lots: VecDeque::with_capacity(lots),
            ..Position::default()
        }
    }

    pub(crate) fn apply(&mut self, side: Side, qty: i64, price: i64, fee: Money, v: Valuation) {
        let signed = side.sign() * qty;
        self.cash -= v.value_x2(signed, 2 * price) + fee;
        self.fees += fee;
        self.fills += 1;
        match side {
            Side::Buy => self.bought += qty,
            Side::Sell => self.sold += qty,
        }
        let mut remaining = signed;
        // Close opposite lots first, oldest first.
        while remaining != 0 {
            let Some(front) = self.lots.front_mut() else {
                break;
            };
            if front.0.signum() == remaining.signum() {
                break;
            }
            let closed = remaining.abs().min(front.0.abs()) * front.0.signum();
            // Closing `closed` of a lot bought at front.1 at `price`.
            self.realized += v.value_x2(closed, 2 * price) - v.value_x2(closed, 2 * front.1);
            self.cost -= i128::from(closed) * i128::from(front.1);
            front.0 -= closed;
            remaining += closed;
            if front.0 == 0 {
                self.lots.pop_front();
            }
        }
        if remaining != 0 {
            // Partial fills of one order come at one price: one lot, not one per fill, so the
            // preallocated lots last (a position built at more distinct prices grows them).
            match self.lots.back_mut() {
                Some(back) if back.1 == price && back.0.signum() == remaining.signum() => {
                    back.0 += remaining;
                }
                _ => self.lots.push_back((remaining, price)),
            }
            self.cost += i128::from(remaining) * i128::from(price);
        }
        self.qty += signed;
    }

    /// Unrealized PnL of the open lots at a doubled mark: the position's value at the mark
    /// minus the lots' entry values.
    pub(crate) fn unrealized(&self, mark_x2: i64, v: Valuation) -> Money {
        self.lots
            .iter()
            .fold(v.value_x2(self.qty, mark_x2), |acc, &(qty, price)| {
                acc - v.value_x2(qty, 2 * price)
            })
    }

    /// Net PnL at a doubled mark: cash plus the position's value.
    #[inline]
    pub(crate) fn net(&self, mark_x2: i64, v: Valuation) -> Money {
        self.cash + v.value_x2(self.qty, mark_x2)
    }

    /// Average entry price of the open lots, rounded half-even to the price's precision;
    /// `None` when flat.
    pub fn avg_price(&self) -> Option<Price> {
        if self.qty == 0 {
            return None;
        }
        let qty = i128::from(self.qty);
        let (quotient, remainder) = (self.cost / qty, self.cost % qty);
        // cost and qty share a sign, so both parts are >= 0.
        let twice = 2 * remainder.abs();
        let up = twice > qty.abs() || (twice == qty.abs() && quotient % 2 == 1);
        i64::try_from(quotient + i128::from(up)).ok().map(Price)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn average_price_follows_fifo_lots() {
        let scale = Valuation::Linear { half_unit: 1 };
        let mut p = Position::default();
        assert_eq!(p.avg_price(), None, "flat");
        p.apply(Side::Buy, 1, 100, Money::ZERO, scale);
        p.apply(Side::Buy, 2, 103, Money::ZERO, scale);
        // (100 + 206) / 3 = 102.
        assert_eq!(p.avg_price(), Some(Price(102)));
        p.apply(Side::Sell, 1, 110, Money::ZERO, scale);
        // The 100 lot closed first: 103 left.
        assert_eq!(p.avg_price(), Some(Price(103)));
        p.apply(Side::Sell, 3, 90, Money::ZERO, scale);
        // Flipped short 1 at 90.
        assert_eq!((p.qty, p.avg_price()), (-1, Some(Price(90))));
        let mut q = Position::default();
        q.apply(Side::Buy, 2, 101, Money::ZERO, scale);
        q.apply(Side::Buy, 2, 102, Money::ZERO, scale);
        assert_eq!(q.avg_price(), Some(Price(102)), "101.5 rounds half to even");
    }
}
