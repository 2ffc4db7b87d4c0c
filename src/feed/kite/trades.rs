//! Kite repeats the day's last trade in every quote and full packet, whether or not anything
//! traded since the previous packet (and again after every reconnect). Passing those on
//! would make each book update a trade tick: volume counted many times over, trade-driven
//! strategies firing on trades that never happened.
//!
//! Contract: per instrument, a quote or full packet's last trade is new when any of
//! (volume traded today, last trade time, last price, last quantity) differs from the last
//! packet of that instrument; otherwise `TradeFilter::dedup` clears it from the packet, so
//! neither the ticks nor the recording repeat it and a recording replays as the live session
//! ran. The first packet of an instrument carries its trade (the last price the strategies
//! start from). Ltp and index packets have no volume to tell a repeat from a new trade at the
//! same price: they pass unchanged (use `quote` or `full` mode for trade-driven strategies).

use super::{Packet, PacketKind};
use crate::domain::{InstrumentId, Price};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TradeKey {
    volume: u32,
    time: u32,
    price: Price,
    qty: u32,
}

/// The last trade seen per instrument (indexed by `InstrumentId`).
#[derive(Clone, Debug, Default)]
pub struct TradeFilter {
    seen: Vec<Option<TradeKey>>,
}

impl TradeFilter {
    /// A filter for instruments `0..instruments` (others pass unfiltered).
    pub fn new(instruments: usize) -> TradeFilter {
        TradeFilter {
            seen: vec![None; instruments],
        }
    }

    /// Whether `packet` (of instrument `id`) repeats the trade of the instrument's previous
    /// packet; a repeat has its last price and quantity cleared.
    #[inline]
    pub fn dedup(&mut self, id: InstrumentId, packet: &mut Packet) -> bool {
        if !matches!(packet.kind, PacketKind::Quote | PacketKind::Full) || packet.last_price.0 <= 0
        {
            return false;
        }
        let Some(slot) = self.seen.get_mut(id.index()) else {
            return false;
        };
        let key = TradeKey {
            volume: packet.volume,
            time: packet.last_trade_time,
            price: packet.last_price,
            qty: packet.last_qty,
        };
        if *slot == Some(key) {
            packet.last_price = Price(0);
            packet.last_qty = 0;
            return true;
        }
        *slot = Some(key);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Nanos;

    fn quote(volume: u32, price: i64, qty: u32) -> Packet {
        Packet {
            kind: PacketKind::Quote,
            token: 408_065,
            last_price: Price(price),
            last_qty: qty,
            volume,
            ..Packet::default()
        }
    }

    #[test]
    fn a_repeated_last_trade_is_cleared_and_a_new_one_passes() {
        let mut f = TradeFilter::new(2);
        let id = InstrumentId(1);
        let mut first = quote(100, 157_000, 5);
        assert!(!f.dedup(id, &mut first), "the first packet's trade is news");
        assert_eq!(first.last_price, Price(157_000));
        let mut again = quote(100, 157_000, 5);
        assert!(f.dedup(id, &mut again));
        assert_eq!((again.last_price, again.last_qty), (Price(0), 0));
        assert!(
            again.to_ticks(id, Nanos(1)).is_none(),
            "no price left: no tick"
        );
        // Same price and size, more volume: a new trade.
        let mut next = quote(105, 157_000, 5);
        assert!(!f.dedup(id, &mut next));
        assert_eq!(next.to_ticks(id, Nanos(2)).unwrap().first.ask_size.0, 5);
        // Another instrument has its own memory.
        let mut other = quote(105, 157_000, 5);
        assert!(!f.dedup(InstrumentId(0), &mut other));
    }

    #[test]
    fn ltp_packets_and_unknown_instruments_pass_unchanged() {
        let mut f = TradeFilter::new(1);
        let ltp = || Packet {
            kind: PacketKind::Ltp,
            last_price: Price(10),
            ..Packet::default()
        };
        let (mut a, mut b) = (ltp(), ltp());
        assert!(!f.dedup(InstrumentId(0), &mut a));
        assert!(!f.dedup(InstrumentId(0), &mut b));
        assert_eq!(b.last_price, Price(10));
        let mut far = quote(1, 10, 1);
        assert!(!f.dedup(InstrumentId(7), &mut far));
        assert!(!f.dedup(InstrumentId(7), &mut far));
    }
}
