//! A finished run's analytics, per report row (one book on one instrument) and per
//! settlement currency: round trips (from the fill log, each fill's realized PnL replayed
//! through the same `Position` rules the portfolio books with), the sampled equity series
//! (`portfolio::curve`, plus the final state) and the statistics of `stats`. Totals are per
//! currency; a base-currency total is converted only when `[portfolio]` names the base and a
//! rate for every other currency.
//!
//! Exposure of a row is the time its trips were open (a trip still open counts to the end);
//! of a currency, the union of its rows' open time. Turnover uses the settlement notional of
//! every fill. Capital comes from `[portfolio] initial_capital` of the row's currency.

use crate::domain::valuation::mul_pow10_div_half_even;
use crate::domain::{CurrencyId, Fill, InstrumentId, Money, Nanos};
use crate::portfolio::config::Rate;
use crate::portfolio::{Position, ROW_COLUMNS};
use crate::runtime::{EngineLayout, RunOutcome};

use super::stats::{self, RoundTrip, Stats, StatsInput, TripFill};

/// One report row's analytics.
#[derive(Clone, Debug)]
pub struct RowAnalytics {
    pub book: crate::domain::BookId,
    pub instrument: InstrumentId,
    pub currency: CurrencyId,
    pub trips: Vec<RoundTrip>,
    pub stats: Stats,
    /// Curve column of this row's net PnL (realized and fees follow).
    pub column: usize,
}

/// A converted total in the base currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseTotal {
    pub currency: String,
    pub equity: Money,
    /// Rate used per converted currency (base units per unit).
    pub rates: Vec<(String, Money)>,
}

/// Everything the reports derive from a run's fills and sampled equity.
#[derive(Clone, Debug)]
pub struct Analytics {
    pub rows: Vec<RowAnalytics>,
    /// Per `CurrencyId`.
    pub totals: Vec<Stats>,
    /// Per `CurrencyId`: some report row settles in it (the others hold nothing and are
    /// left out of the reports).
    pub used: Vec<bool>,
    /// Sampling interval of the series the statistics use, seconds.
    pub interval_s: f64,
    /// Event time the series spans, seconds.
    pub span_s: f64,
    /// Grid times then the final state's time.
    pub times: Vec<Nanos>,
    /// `times.len()` rows of the curve's columns (the last is the final state).
    pub values: Vec<Vec<Money>>,
    pub base: Option<BaseTotal>,
    /// Currencies without a rate into the base currency (no converted total then).
    pub missing_rates: Vec<String>,
}

impl Analytics {
    /// Column of an instrument's doubled mark in `values` (`price = mark_x2 / 2 /
    /// 10^price_precision`; 0 before its first price).
    pub fn price_column(&self, instrument: InstrumentId) -> usize {
        self.totals.len() + ROW_COLUMNS * self.rows.len() + instrument.index()
    }

    pub fn compute(layout: &EngineLayout, outcome: &RunOutcome) -> Analytics {
        let portfolio = &outcome.portfolio;
        let curve = portfolio.curve();
        let currencies = portfolio.currency_count();
        let (end_ts, last) = portfolio.final_sample();
        let mut times: Vec<Nanos> = curve.times().to_vec();
        let mut values: Vec<Vec<Money>> = (0..curve.len()).map(|i| curve.row(i).to_vec()).collect();
        if times.last().is_none_or(|&t| t < end_ts) {
            times.push(end_ts);
            values.push(last);
        }
        let start_ts = times.first().copied().unwrap_or(end_ts);
        let span_ns = end_ts.0.saturating_sub(start_ts.0);
        let interval_s = curve.interval_ns() as f64 / 1e9;
        let series = |column: usize| -> Vec<Money> { values.iter().map(|v| v[column]).collect() };

        let tracked = portfolio.tracked_rows();
        let instruments = portfolio.instrument_count();
        let mut row_of = vec![usize::MAX; layout.books.len() * instruments];
        for (r, &(book, instrument)) in tracked.iter().enumerate() {
            row_of[book.0 as usize * instruments + instrument.index()] = r;
        }
        let row = |fill: &Fill| {
            row_of
                .get(fill.book.0 as usize * instruments + fill.instrument.index())
                .copied()
                .filter(|&r| r != usize::MAX)
        };
        // Sized first: growing millions of fills by doubling copies them over and over.
        let mut counts = vec![0usize; tracked.len()];
        for r in outcome.fills.iter().filter_map(row) {
            counts[r] += 1;
        }
        let mut fills: Vec<Vec<TripFill>> = counts.iter().map(|&n| Vec::with_capacity(n)).collect();
        let mut replay: Vec<Position> = vec![Position::default(); tracked.len()];
        let mut notional = vec![Money::ZERO; tracked.len()];
        for fill in &outcome.fills {
            let Some(r) = row(fill) else {
                continue;
            };
            let v = portfolio.valuation(fill.instrument);
            let before = replay[r].realized;
            replay[r].apply(fill.side, fill.qty.0, fill.price.0, fill.fee, v);
            notional[r] += v.settlement_notional(fill.qty, fill.price);
            fills[r].push(TripFill {
                ts: fill.ts,
                qty: fill.side.sign() * fill.qty.0,
                price: fill.price.0,
                fee: fill.fee,
                realized: replay[r].realized - before,
            });
        }

        let currency_names = layout.instruments.currencies();
        let capital = |c: CurrencyId| {
            currency_names
                .get(c.index())
                .and_then(|name| layout.portfolio.capital(name))
        };
        let mut rows = Vec::with_capacity(tracked.len());
        let mut open_spans: Vec<Vec<(u64, u64)>> = vec![Vec::new(); currencies];
        for (r, &(book, instrument)) in tracked.iter().enumerate() {
            let currency = layout.instruments.spec(instrument).settlement;
            let trips = stats::round_trips(&fills[r]);
            let spans: Vec<(u64, u64)> = trips
                .iter()
                .map(|t| (t.entry_ts.0, t.exit_ts.unwrap_or(end_ts).0))
                .collect();
            let exposure_ns = spans.iter().map(|(a, b)| b.saturating_sub(*a)).sum();
            open_spans[currency.index()].extend(&spans);
            let column = currencies + ROW_COLUMNS * r;
            let fees = fills[r].iter().fold(Money::ZERO, |acc, f| acc + f.fee);
            let stats = stats::compute(&StatsInput {
                equity: &series(column),
                interval_s,
                capital: capital(currency),
                trips: &trips,
                exposure_ns,
                span_ns,
                traded_notional: notional[r],
                fees,
            });
            rows.push(RowAnalytics {
                book,
                instrument,
                currency,
                trips,
                stats,
                column,
            });
        }
        let totals = (0..currencies)
            .map(|c| {
                let id = CurrencyId(c as u16);
                let members: Vec<&RowAnalytics> =
                    rows.iter().filter(|r| r.currency == id).collect();
                let trips: Vec<RoundTrip> = members
                    .iter()
                    .flat_map(|r| r.trips.iter().copied())
                    .collect();
                let (traded, fees) = members.iter().fold((Money::ZERO, Money::ZERO), |acc, r| {
                    let i = tracked.iter().position(|&t| t == (r.book, r.instrument));
                    let n = i.map_or(Money::ZERO, |i| notional[i]);
                    (acc.0 + n, acc.1 + r.stats.fees)
                });
                stats::compute(&StatsInput {
                    equity: &series(c),
                    interval_s,
                    capital: capital(id),
                    trips: &trips,
                    exposure_ns: union_ns(&mut open_spans[c]),
                    span_ns,
                    traded_notional: traded,
                    fees,
                })
            })
            .collect();
        let (base, missing_rates) = convert(layout, outcome);
        let mut used = vec![false; currencies];
        for row in &rows {
            used[row.currency.index()] = true;
        }
        Analytics {
            rows,
            totals,
            used,
            interval_s,
            span_s: span_ns as f64 / 1e9,
            times,
            values,
            base,
            missing_rates,
        }
    }
}

/// Total time covered by a set of intervals.
fn union_ns(spans: &mut [(u64, u64)]) -> u64 {
    spans.sort_unstable();
    let mut total = 0u64;
    let mut current: Option<(u64, u64)> = None;
    for &(a, b) in spans.iter() {
        current = match current {
            Some((s, e)) if a <= e => Some((s, e.max(b))),
            Some((s, e)) => {
                total += e - s;
                Some((a, b))
            }
            None => Some((a, b)),
        };
    }
    total + current.map_or(0, |(s, e)| e - s)
}

/// The base-currency total, or the currencies that have no rate.
fn convert(layout: &EngineLayout, outcome: &RunOutcome) -> (Option<BaseTotal>, Vec<String>) {
    let Some(base) = layout.portfolio.base_currency.clone() else {
        return (None, Vec::new());
    };
    let names = layout.instruments.currencies();
    let mut total = Money::ZERO;
    let mut rates = Vec::new();
    let mut missing = Vec::new();
    for (c, &equity) in outcome.portfolio.equity().iter().enumerate() {
        let Some(name) = names.get(c) else {
            continue;
        };
        // Zero converts to zero at any rate: a currency nothing is booked in needs none.
        if *name == base || equity == Money::ZERO {
            total += equity;
            continue;
        }
        let rate = layout
            .portfolio
            .rates
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, rate)| rate_money(rate, layout, outcome));
        match rate {
            Some((mantissa, divisor)) => {
                // equity × mantissa / divisor, rounded half-even once.
                let product = equity.0.saturating_mul(i128::from(mantissa));
                total += Money(mul_pow10_div_half_even(product, 0, divisor));
                let shown = mul_pow10_div_half_even(i128::from(mantissa), 18, divisor);
                rates.push((name.clone(), Money(shown)));
            }
            None => missing.push(name.clone()),
        }
    }
    if missing.is_empty() {
        (
            Some(BaseTotal {
                currency: base,
                equity: total,
                rates,
            }),
            missing,
        )
    } else {
        (None, missing)
    }
}

/// A rate as `mantissa / divisor` base units per unit: fixed, or an instrument's last mark.
fn rate_money(rate: &Rate, layout: &EngineLayout, outcome: &RunOutcome) -> Option<(i64, i128)> {
    match rate {
        Rate::Fixed(d) => Some((
            d.mantissa,
            i128::from(crate::domain::POW10[usize::from(d.decimals)]),
        )),
        Rate::Mid(symbol) => {
            let id = layout.instruments.find(symbol)?;
            let mark_x2 = outcome.portfolio.mark_x2(id);
            let pp = layout.instruments.spec(id).price_precision;
            (mark_x2 > 0).then(|| {
                (
                    mark_x2,
                    2 * i128::from(crate::domain::POW10[usize::from(pp)]),
                )
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_merges_overlaps() {
        let mut spans = vec![(10, 20), (0, 5), (15, 30), (40, 41)];
        assert_eq!(union_ns(&mut spans), 5 + 20 + 1);
        assert_eq!(union_ns(&mut []), 0);
    }
}
