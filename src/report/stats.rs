//! Run analytics: round trips from one row's fills, and return, risk and trade statistics
//! from a sampled net-PnL curve. Pure functions of their inputs: no I/O, no clock, the same
//! input gives the same bits.
//!
//! # Round trips ([`round_trips`])
//! - A trip opens when the position leaves zero and closes when it returns to zero. A fill
//!   on the position's side adds to the entry (and to `quantity`); a fill against it adds to
//!   the exit.
//! - A fill that flips the position (+2 then −5) closes the trip with the quantity that
//!   brings it to zero (2) and opens a new trip with the remainder (−3), at the fill's time
//!   and price. Its `realized` goes wholly to the closing trip. Its fee is split pro rata by
//!   quantity: closing part = `fee · closed / |qty|` rounded half-even to the money raw unit
//!   (10⁻¹⁸), the remainder to the opening trip, so no fee is lost or made up.
//! - A zero-quantity fill books its fee and realized PnL to the open trip; when flat it is
//!   dropped (there is no trip to book it to).
//! - Entry and exit prices are exact VWAPs, `(Σ|qty|·price, Σ|qty|)` in raw units
//!   (sums saturate at the `i128` range); [`Vwap::price`] rounds half-even to the raw price
//!   unit.
//! - `pnl = Σ realized − Σ fees` over the trip's fills (partial closes included).
//! - A trip still open after the last fill has `exit_ts = None`, its PnL so far and
//!   `holding_ns` up to its last fill; the statistics leave it out.
//!
//! # Statistics ([`compute`])
//! - `equity[i]` is net PnL (equity − initial capital) at event time `start + i·interval_s`;
//!   `equity[0]` is the run's start. Capital ≤ 0 counts as no capital.
//! - Per-interval returns `r_i = (e_i − e_{i−1}) / capital`; without capital, Sharpe and
//!   Sortino use the PnL differences instead (both ratios are scale-invariant), while
//!   volatility, return, Calmar and turnover are undefined. `mean(r)` is computed exactly as
//!   `(e_last − e_0) / (n · capital)` (the differences telescope), then rounded once to f64.
//! - Annualisation counts calendar time: `periods_per_year = 365.25·86400 / interval_s`.
//!   `volatility = stdev(r)·√ppy` (sample stdev, n − 1); `sharpe = mean(r) / stdev(r)·√ppy`
//!   (risk-free 0); `sortino = mean(r) / dd·√ppy` with `dd = √(Σ min(r,0)² / n)` (target 0,
//!   n = number of returns). Sharpe and volatility need ≥ 2 returns that are not all equal;
//!   Sortino needs a negative return.
//! - `max_drawdown` is the largest drop from a running peak, the peak starting at the first
//!   sample. `max_drawdown_duration_s` is the longest time (samples × interval) from a peak
//!   until equity is back at or above it, or until the last sample if it never is.
//! - `calmar = return · (365.25·86400 / span_s) / (max_drawdown / capital)` (simple, not
//!   compounded, annualisation over the run span); undefined without a drawdown.
//! - Trade statistics count closed trips only: a win is `pnl > 0`, a loss `pnl < 0`.
//!   `profit_factor = Σ wins / |Σ losses|` (undefined with no loss); `avg_win`, `avg_loss`
//!   and `expectancy` are means rounded half-even to the money raw unit.
//! - Undefined values are `None` and JSON `null`; so are non-finite floats in JSON.

use serde_json::Value;

use crate::domain::{Money, Nanos};

/// Seconds in a calendar year of 365.25 days.
pub const SECONDS_PER_YEAR: f64 = 365.25 * 86_400.0;

/// One fill of one row (book × instrument), in time order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TripFill {
    /// Event time, ns since the Unix epoch.
    pub ts: Nanos,
    /// Signed raw quantity: + buy, − sell.
    pub qty: i64,
    /// Raw price at the instrument's precision.
    pub price: i64,
    /// Fee paid on this fill (negative for a rebate).
    pub fee: Money,
    /// Realized PnL this fill booked, gross of fees (computed by the caller).
    pub realized: Money,
}

/// Direction of a round trip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TripSide {
    /// Opened by a buy.
    Long,
    /// Opened by a sell.
    Short,
}

impl TripSide {
    pub fn as_str(self) -> &'static str {
        match self {
            TripSide::Long => "long",
            TripSide::Short => "short",
        }
    }
}

/// An exact volume-weighted average price.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Vwap {
    /// Σ |qty|·price, raw quantity × raw price.
    pub notional: i128,
    /// Σ |qty|, raw.
    pub qty: i128,
}

impl Vwap {
    fn add(&mut self, qty: i128, price: i64) {
        self.notional = self
            .notional
            .saturating_add(qty.saturating_mul(i128::from(price)));
        self.qty = self.qty.saturating_add(qty);
    }

    /// The average raw price rounded half-even; `None` with no quantity.
    pub fn price(&self) -> Option<i64> {
        if self.qty <= 0 {
            return None;
        }
        i64::try_from(div_half_even(self.notional, self.qty)).ok()
    }
}

/// A position from leaving zero to returning to zero (or to the end of the fills).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoundTrip {
    pub side: TripSide,
    /// Time of the opening fill, ns since the Unix epoch.
    pub entry_ts: Nanos,
    /// Time of the fill that closed it; `None` while still open.
    pub exit_ts: Option<Nanos>,
    /// Opening fills (those that increased the position).
    pub entry_price: Vwap,
    /// Closing fills (those that reduced it).
    pub exit_price: Vwap,
    /// Σ opening quantity, raw, unsigned (`side` gives the direction).
    pub quantity: i128,
    /// Realized PnL minus fees.
    pub pnl: Money,
    pub fees: Money,
    /// `exit_ts − entry_ts`, or up to the last fill of a trip still open, in ns.
    pub holding_ns: u64,
}

impl RoundTrip {
    pub fn is_closed(&self) -> bool {
        self.exit_ts.is_some()
    }
}

/// The trip being built and what is needed to finish it.
struct OpenTrip {
    trip: RoundTrip,
    realized: Money,
    /// Signed raw position.
    position: i128,
    last_ts: Nanos,
}

impl OpenTrip {
    fn start(ts: Nanos, qty: i128, price: i64, fee: Money, realized: Money) -> OpenTrip {
        let mut entry_price = Vwap::default();
        entry_price.add(qty.abs(), price);
        OpenTrip {
            trip: RoundTrip {
                side: if qty > 0 {
                    TripSide::Long
                } else {
                    TripSide::Short
                },
                entry_ts: ts,
                exit_ts: None,
                entry_price,
                exit_price: Vwap::default(),
                quantity: qty.abs(),
                pnl: Money::ZERO,
                fees: fee,
                holding_ns: 0,
            },
            realized,
            position: qty,
            last_ts: ts,
        }
    }

    fn finish(self, exit_ts: Option<Nanos>) -> RoundTrip {
        let end = exit_ts.unwrap_or(self.last_ts);
        RoundTrip {
            exit_ts,
            pnl: self.realized - self.trip.fees,
            holding_ns: end.0.saturating_sub(self.trip.entry_ts.0),
            ..self.trip
        }
    }
}

/// Splits one row's fills (in time order) into round trips, in order of opening; a trip
/// still open at the end comes last with `exit_ts = None`. See the module contract.
pub fn round_trips(fills: &[TripFill]) -> Vec<RoundTrip> {
    // A fill opens at most one trip (a reversal closes one and opens the next).
    let mut trips = Vec::with_capacity(fills.len());
    let mut open: Option<OpenTrip> = None;
    for fill in fills {
        let qty = i128::from(fill.qty);
        let Some(mut cur) = open.take() else {
            if qty != 0 {
                open = Some(OpenTrip::start(
                    fill.ts,
                    qty,
                    fill.price,
                    fill.fee,
                    fill.realized,
                ));
            }
            continue;
        };
        cur.last_ts = fill.ts;
        cur.realized += fill.realized;
        if qty == 0 || qty.signum() == cur.position.signum() {
            cur.trip.entry_price.add(qty.abs(), fill.price);
            cur.trip.quantity = cur.trip.quantity.saturating_add(qty.abs());
            cur.trip.fees += fill.fee;
            cur.position += qty;
            open = Some(cur);
            continue;
        }
        let closed = qty.abs().min(cur.position.abs());
        let remainder = qty.abs() - closed;
        let close_fee = if remainder == 0 {
            fill.fee
        } else {
            pro_rata(fill.fee, closed, qty.abs())
        };
        cur.trip.exit_price.add(closed, fill.price);
        cur.trip.fees += close_fee;
        cur.position += qty.signum() * closed;
        if cur.position != 0 {
            open = Some(cur);
            continue;
        }
        trips.push(cur.finish(Some(fill.ts)));
        if remainder > 0 {
            let fee = fill.fee - close_fee;
            let qty = qty.signum() * remainder;
            open = Some(OpenTrip::start(fill.ts, qty, fill.price, fee, Money::ZERO));
        }
    }
    trips.extend(open.map(|cur| cur.finish(None)));
    trips
}

/// `fee · part / whole` rounded half-even to the raw unit, for `0 ≤ part ≤ whole`,
/// `0 < whole ≤ 2⁶⁴`, without overflow: with `|fee| = q·whole + r`, the product is
/// `q·part + r·part / whole` and `r·part < 2¹²⁸`.
fn pro_rata(fee: Money, part: i128, whole: i128) -> Money {
    let (Ok(part), Ok(whole)) = (u128::try_from(part), u128::try_from(whole)) else {
        return Money::ZERO;
    };
    if whole == 0 {
        return Money::ZERO;
    }
    let magnitude = fee.0.unsigned_abs();
    let (q, r) = (magnitude / whole, magnitude % whole);
    let (carry, rest) = ((r * part) / whole, (r * part) % whole);
    let mut share = q * part + carry;
    if rest > whole - rest || (rest == whole - rest && share % 2 == 1) {
        share += 1;
    }
    // `share ≤ |fee| ≤ 2¹²⁷`, and equals 2¹²⁷ only for `fee = i128::MIN`, `part = whole`.
    let share = share as i128;
    Money(if fee.0 < 0 {
        share.wrapping_neg()
    } else {
        share
    })
}

/// `num / den` rounded half-even, for `den > 0`.
fn div_half_even(num: i128, den: i128) -> i128 {
    let (q, r) = (num.div_euclid(den), num.rem_euclid(den));
    // `num / den = q + r / den` with `0 ≤ r < den`.
    match r.cmp(&(den - r)) {
        std::cmp::Ordering::Less => q,
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal => q + (q & 1),
    }
}

/// What [`compute`] reads.
#[derive(Clone, Copy, Debug)]
pub struct StatsInput<'a> {
    /// Net PnL (equity − initial capital) every `interval_s` of event time; the first
    /// sample is the run's start.
    pub equity: &'a [Money],
    /// Sampling interval, seconds.
    pub interval_s: f64,
    /// Initial capital; `None` (or ≤ 0) leaves the capital-relative values undefined.
    pub capital: Option<Money>,
    pub trips: &'a [RoundTrip],
    /// Time with a non-zero position, ns.
    pub exposure_ns: u64,
    /// Run span, ns.
    pub span_ns: u64,
    /// Σ |qty · price| over all fills.
    pub traded_notional: Money,
    /// Σ fees over all fills.
    pub fees: Money,
}

/// Run statistics; `None` where undefined (see the module contract).
#[derive(Clone, Debug, PartialEq)]
pub struct Stats {
    /// Final net PnL / capital.
    pub return_: Option<f64>,
    /// Annualised sample stdev of the interval returns.
    pub volatility: Option<f64>,
    pub sharpe: Option<f64>,
    pub sortino: Option<f64>,
    pub max_drawdown: Money,
    /// Longest peak-to-recovery time, seconds.
    pub max_drawdown_duration_s: f64,
    pub calmar: Option<f64>,
    /// Closed round trips.
    pub round_trips: u64,
    /// Share of closed trips with `pnl > 0`, 0–1.
    pub win_rate: Option<f64>,
    pub profit_factor: Option<f64>,
    pub avg_win: Option<Money>,
    /// Mean PnL of losing trips (negative).
    pub avg_loss: Option<Money>,
    /// Mean PnL per closed trip.
    pub expectancy: Option<Money>,
    /// Share of the run span with a position, 0–1.
    pub exposure: Option<f64>,
    /// Traded notional / capital.
    pub turnover: Option<f64>,
    pub fees: Money,
}

/// Computes the statistics; see the module contract for every convention.
pub fn compute(input: &StatsInput<'_>) -> Stats {
    let capital = input.capital.filter(|c| c.0 > 0);
    let interval_ok = input.interval_s.is_finite() && input.interval_s > 0.0;
    let ppy = interval_ok.then(|| SECONDS_PER_YEAR / input.interval_s);
    let (volatility, sharpe, sortino) = curve_ratios(input.equity, capital, ppy);
    let (max_drawdown, drawdown_samples) = drawdown(input.equity);
    let return_ = match (capital, input.equity.last()) {
        (Some(c), Some(e)) => Some(ratio(e.0, c.0)),
        _ => None,
    };
    let calmar = match (return_, capital) {
        (Some(r), Some(c)) if input.span_ns > 0 && max_drawdown.0 > 0 => {
            let annualised = r * (SECONDS_PER_YEAR / (input.span_ns as f64 / 1e9));
            Some(annualised / ratio(max_drawdown.0, c.0))
        }
        _ => None,
    };
    let trades = TradeStats::of(input.trips);
    Stats {
        return_,
        volatility,
        sharpe,
        sortino,
        max_drawdown,
        max_drawdown_duration_s: drawdown_samples as f64 * input.interval_s,
        calmar,
        round_trips: trades.count,
        win_rate: (trades.count > 0).then(|| trades.wins as f64 / trades.count as f64),
        profit_factor: (trades.losses > 0).then(|| ratio(trades.won, -trades.lost)),
        avg_win: mean_money(trades.won, trades.wins),
        avg_loss: mean_money(trades.lost, trades.losses),
        expectancy: mean_money(trades.total, trades.count),
        exposure: (input.span_ns > 0).then(|| input.exposure_ns as f64 / input.span_ns as f64),
        turnover: capital.map(|c| ratio(input.traded_notional.0, c.0)),
        fees: input.fees,
    }
}

fn ratio(num: i128, den: i128) -> f64 {
    num as f64 / den as f64
}

fn mean_money(sum: i128, count: u64) -> Option<Money> {
    (count > 0).then(|| Money(div_half_even(sum, i128::from(count))))
}

/// `(volatility, sharpe, sortino)` of the sampled curve.
fn curve_ratios(
    equity: &[Money],
    capital: Option<Money>,
    ppy: Option<f64>,
) -> (Option<f64>, Option<f64>, Option<f64>) {
    let (Some(ppy), Some(first), Some(last)) = (ppy, equity.first(), equity.last()) else {
        return (None, None, None);
    };
    let n = equity.len() - 1;
    if n == 0 {
        return (None, None, None);
    }
    // Without capital the unit is money: the ratios do not depend on it.
    let scale = capital.map_or(1e18, |c| c.0 as f64);
    let diffs = || equity.windows(2).map(|w| w[1].0 - w[0].0);
    let returns = || diffs().map(|d| d as f64 / scale);
    let mean = (last.0 - first.0) as f64 / scale / n as f64;
    let annual = ppy.sqrt();
    let sortino = diffs().any(|d| d < 0).then(|| {
        let downside = returns().map(|r| r.min(0.0).powi(2)).sum::<f64>() / n as f64;
        mean / downside.sqrt() * annual
    });
    // Decided on the exact differences: the float stdev of equal values may not be 0.
    let first_diff = equity[1].0 - equity[0].0;
    let varies = diffs().any(|d| d != first_diff);
    let stdev = (n >= 2 && varies).then(|| {
        let squares = returns().map(|r| (r - mean).powi(2)).sum::<f64>();
        (squares / (n - 1) as f64).sqrt()
    });
    let sharpe = stdev.map(|s| mean / s * annual);
    let volatility = stdev.filter(|_| capital.is_some()).map(|s| s * annual);
    (volatility, sharpe, sortino)
}

/// `(max drawdown, longest peak-to-recovery in samples)`; a dip that never recovers runs to
/// the last sample.
fn drawdown(equity: &[Money]) -> (Money, u64) {
    let Some(&first) = equity.first() else {
        return (Money::ZERO, 0);
    };
    let (mut peak, mut peak_at, mut under) = (first, 0usize, false);
    let (mut max_drop, mut longest) = (Money::ZERO, 0usize);
    for (i, &e) in equity.iter().enumerate().skip(1) {
        if e >= peak {
            if under {
                longest = longest.max(i - peak_at);
            }
            (peak, peak_at, under) = (e, i, false);
        } else {
            under = true;
            max_drop = max_drop.max(peak - e);
        }
    }
    if under {
        longest = longest.max(equity.len() - 1 - peak_at);
    }
    (max_drop, longest as u64)
}

/// Sums over the closed trips.
#[derive(Default)]
struct TradeStats {
    count: u64,
    wins: u64,
    losses: u64,
    won: i128,
    lost: i128,
    total: i128,
}

impl TradeStats {
    fn of(trips: &[RoundTrip]) -> TradeStats {
        let mut s = TradeStats::default();
        for trip in trips.iter().filter(|t| t.is_closed()) {
            let pnl = trip.pnl.0;
            s.count += 1;
            s.total += pnl;
            if pnl > 0 {
                s.wins += 1;
                s.won += pnl;
            } else if pnl < 0 {
                s.losses += 1;
                s.lost += pnl;
            }
        }
        s
    }
}

impl Stats {
    /// The statistics as a JSON object with the keys `return`, `volatility`, `sharpe`,
    /// `sortino`, `max_drawdown`, `max_drawdown_duration_s`, `calmar`, `round_trips`,
    /// `win_rate`, `profit_factor`, `avg_win`, `avg_loss`, `expectancy`, `exposure`,
    /// `turnover`, `fees`: money as exact decimal strings (at least 2 decimals), ratios as
    /// numbers, undefined or non-finite values as `null`.
    pub fn to_json(&self) -> Value {
        let money =
            |m: Option<Money>| m.map_or(Value::Null, |m| Value::String(m.display(2).to_string()));
        let num = |x: Option<f64>| {
            x.and_then(serde_json::Number::from_f64)
                .map_or(Value::Null, Value::Number)
        };
        serde_json::json!({
            "return": num(self.return_),
            "volatility": num(self.volatility),
            "sharpe": num(self.sharpe),
            "sortino": num(self.sortino),
            "max_drawdown": money(Some(self.max_drawdown)),
            "max_drawdown_duration_s": num(Some(self.max_drawdown_duration_s)),
            "calmar": num(self.calmar),
            "round_trips": self.round_trips,
            "win_rate": num(self.win_rate),
            "profit_factor": num(self.profit_factor),
            "avg_win": money(self.avg_win),
            "avg_loss": money(self.avg_loss),
            "expectancy": money(self.expectancy),
            "exposure": num(self.exposure),
            "turnover": num(self.turnover),
            "fees": money(Some(self.fees)),
        })
    }
}

#[cfg(test)]
#[path = "stats_tests.rs"]
mod tests;
