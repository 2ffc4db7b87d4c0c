//! Zerodha Kite market data formats: the ticker's binary messages, the instruments dump, and
//! the recording of a live session as a tick CSV.
//!
//! Contract:
//! - `Decoder::packets` turns one binary WebSocket message into `Packet`s exactly per Kite's
//!   layouts (see `decode`), without allocating; bad framing is an error naming the byte
//!   offset, after the packets before it. Counters are in `Decoder::stats`.
//! - Prices never pass through a float: the wire integer is the engine's raw `Price` at
//!   `price_precision(token)` decimals (7 on CDS, 4 on BCD and NCO, 2 elsewhere).
//! - `Packet::to_ticks` makes the engine's ticks by the same rule the CSV reader applies to a
//!   row; `Recorder` writes that row, so a recording backtests as the same ticks.
//! - `KiteInstruments` maps `EXCHANGE:TRADINGSYMBOL` ↔ token and gives each instrument's
//!   `InstrumentSpec`; `TokenMap` is the per-packet token → `InstrumentId` lookup.
//!
//! A feed thread, per binary message (`received` from the engine clock at the socket read):
//!
//! ```
//! use alpha_panda::domain::{InstrumentTable, Nanos, Tick};
//! use alpha_panda::feed::kite::{Decoder, KiteInstruments, Recorder};
//!
//! // Start-up: the instruments dump, the engine's instruments, the token lookup.
//! let dump = KiteInstruments::parse(
//!     "instruments.csv",
//!     "instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,instrument_type,segment,exchange\n\
//!      408065,1594,INFY,INFOSYS,0.0,,0.0,0.05,1,EQ,NSE,NSE\n",
//! )?;
//! let mut table = InstrumentTable::new();
//! for spec in dump.specs(&["NSE:INFY"])? {
//!     let id = table.intern(&spec.symbol);
//!     table.widen(id, spec.price_precision, spec.qty_precision)?;
//! }
//! let tokens = dump.token_map(&table)?; // subscribe `tokens.tokens()`
//! let mut decoder = Decoder::new();
//! let mut recorder = Recorder::new(Vec::new())?; // `Recorder::create(path)` for a file
//! let mut ring: Vec<Tick> = Vec::new(); // the feed → strategy ring in the engine
//!
//! // Per message: one ltp packet, INFY at 1573.70.
//! let message: &[u8] = &[0, 1, 0, 8, 0, 6, 58, 1, 0, 2, 102, 186];
//! let received = Nanos(1_625_461_887_000_000_000);
//! for packet in decoder.packets(message) {
//!     let packet = match packet {
//!         Ok(packet) => packet,
//!         Err(_) => break, // counted in `decoder.stats()`; keep the raw bytes as a dead letter
//!     };
//!     let Some(id) = tokens.get(packet.token) else { continue }; // not ours
//!     recorder.record(received, &table.spec(id).symbol, &packet)?;
//!     if let Some(ticks) = packet.to_ticks(id, received) {
//!         ring.extend(ticks.ticks()); // `ticks.exchange_ts` feeds the latency histogram
//!     }
//! }
//! assert_eq!(ring[0].bid.0, 157_370);
//! assert_eq!(decoder.stats().packets_of(alpha_panda::feed::kite::PacketKind::Ltp), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod decode;
mod dump;
mod instruments;
pub mod live;
mod record;
mod ring;
mod trades;

pub use decode::{
    DEPTH, DecodeError, DecodeStats, Decoder, DepthLevel, Packet, PacketKind, PacketTicks, Packets,
    parse_packet, price_precision, segment,
};
pub use instruments::{InstrumentsError, KiteInstrument, KiteInstruments, MAX_PROBLEMS, TokenMap};
pub use live::TextMessage;
pub use record::{MAX_SYMBOL, RecordStats, Recorder};
pub use trades::TradeFilter;
