//! The market as the stages see it: per instrument, the last quote, the last trade and which
//! of the two came last. Updated once per tick (one copy of the tick) by whoever drives the
//! stages, and read by all of them: the strategies' view of quotes and trades, the touch a
//! market order is valued and filled at, the reference of the price band.

use super::fixed::{Price, Qty};
use super::instrument::InstrumentId;
use super::tick::{Nanos, Tick, TickFlags, TickKind};

/// The last quote of an instrument; sides absent from the source are `None`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Quote {
    /// Event time of the quote.
    pub ts: Nanos,
    pub bid: Option<Price>,
    pub ask: Option<Price>,
    pub bid_size: Option<Qty>,
    pub ask_size: Option<Qty>,
}

/// The last trade of an instrument.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Trade {
    /// Event time of the trade.
    pub ts: Nanos,
    pub price: Price,
    pub size: Option<Qty>,
}

/// The whole of it is run state: a checkpoint keeps it as it is (`Serialize`), and
/// [`Market::restore`] checks the instrument count.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Market {
    /// `[instrument]`: last quote tick and last trade tick (no flags: none yet).
    quotes: Vec<Tick>,
    trades: Vec<Tick>,
    /// `[instrument]`: whether the latest tick was a trade.
    latest_trade: Vec<bool>,
}

impl Market {
    pub fn new(instruments: usize) -> Market {
        Market {
            quotes: vec![Tick::default(); instruments],
            trades: vec![Tick::default(); instruments],
            latest_trade: vec![false; instruments],
        }
    }

    /// Puts a checkpoint's market in place of this one, built for the same instruments.
    ///
    /// # Errors
    /// The checkpoint has another number of instruments.
    pub fn restore(&mut self, state: Market) -> Result<(), String> {
        let (got, want) = (state.quotes.len(), self.quotes.len());
        if got != want || state.trades.len() != want || state.latest_trade.len() != want {
            return Err(format!(
                "market checkpoint: {got} instruments, this engine has {want}"
            ));
        }
        *self = state;
        Ok(())
    }

    #[inline]
    pub fn on_tick(&mut self, tick: &Tick) {
        let i = tick.instrument.index();
        let trade = tick.kind == TickKind::Trade;
        let last = if trade {
            &mut self.trades
        } else {
            &mut self.quotes
        };
        if let (Some(slot), Some(latest)) = (last.get_mut(i), self.latest_trade.get_mut(i)) {
            *slot = *tick;
            *latest = trade;
        }
    }

    /// The latest tick of the instrument, quote or trade (no prices before the first).
    #[inline]
    pub fn latest(&self, instrument: InstrumentId) -> &Tick {
        let i = instrument.index();
        if self.latest_trade[i] {
            &self.trades[i]
        } else {
            &self.quotes[i]
        }
    }

    #[inline]
    pub fn quote(&self, instrument: InstrumentId) -> Option<Quote> {
        let tick = self.quotes.get(instrument.index())?;
        let size = |bit: u8, qty: Qty| tick.flags.has(bit).then_some(qty);
        (tick.flags.0 != 0).then(|| Quote {
            ts: tick.ts,
            bid: tick.sell_price(),
            ask: tick.buy_price(),
            bid_size: size(TickFlags::BID_SIZE, tick.bid_size),
            ask_size: size(TickFlags::ASK_SIZE, tick.ask_size),
        })
    }

    #[inline]
    pub fn trade(&self, instrument: InstrumentId) -> Option<Trade> {
        let tick = self.trades.get(instrument.index())?;
        let price = tick.last()?;
        Some(Trade {
            ts: tick.ts,
            price,
            size: tick.flags.has(TickFlags::BID_SIZE).then_some(tick.bid_size),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_quote_and_trade_are_kept_apart() {
        let mut market = Market::new(2);
        let id = InstrumentId(1);
        assert_eq!(market.quote(id), None);
        assert_eq!(market.latest(id).buy_price(), None, "no market yet");
        let quote = Tick::quote(
            Nanos(1),
            id,
            Some(Price(99)),
            Some(Price(101)),
            Some(Qty(5)),
            None,
        );
        market.on_tick(&quote);
        let trade = Tick::trade(Nanos(2), id, Price(100), Some(Qty(3)));
        market.on_tick(&trade);
        assert_eq!(
            market.quote(id),
            Some(Quote {
                ts: Nanos(1),
                bid: Some(Price(99)),
                ask: Some(Price(101)),
                bid_size: Some(Qty(5)),
                ask_size: None
            })
        );
        assert_eq!(
            market.trade(id),
            Some(Trade {
                ts: Nanos(2),
                price: Price(100),
                size: Some(Qty(3))
            })
        );
        assert_eq!(
            market.latest(id).buy_price(),
            Some(Price(100)),
            "the trade came last"
        );
        market.on_tick(&quote);
        assert_eq!(market.latest(id).buy_price(), Some(Price(101)));
        assert_eq!(market.quote(InstrumentId(0)), None, "other instrument");
    }
}
