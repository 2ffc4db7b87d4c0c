//! Start-up of a run on Zerodha's Kite ticker: the instruments come from Kite's instruments
//! dump (`[feed] instruments`) instead of a scan of tick files. One place for it, used by
//! `live` and by preflight.
//!
//! Rules: each strategy instrument must be in the dump (`EXCHANGE:TRADINGSYMBOL`); its price
//! precision is the one Kite's wire integers have (7 on CDS, 4 on BCD/NCO, 2 elsewhere) and
//! may not be widened (the wire integer is the raw price); tick and lot size and the INR
//! quote currency come from the dump unless `[instruments.SYMBOL]` names the instrument.

use std::collections::BTreeSet;

use super::fit_precisions;
use crate::config::TickerMode;
use crate::config::{ConfigError, ConfigErrors, EngineConfig, InstrumentConfig, KiteFeedConfig};
use crate::domain::InstrumentTable;
use crate::feed::kite::{KiteInstruments, TokenMap};
use crate::strategy::StrategyConfig;

/// The run's instruments at their final precisions, and the tokens to subscribe.
#[derive(Debug)]
pub struct KiteInstrumentsFit {
    pub table: InstrumentTable,
    pub tokens: TokenMap,
    /// The config with Kite's terms added for instruments it does not name.
    pub config: EngineConfig,
}

/// Builds the instrument table of a Kite run.
///
/// # Errors
/// An unreadable or invalid dump, a strategy instrument not in it, or precisions that do not
/// fit (each with file and line).
pub fn fit_instruments(
    config: &EngineConfig,
    kite: &KiteFeedConfig,
    strategies: &[StrategyConfig],
) -> Result<KiteInstrumentsFit, ConfigErrors> {
    let dump_error = |message: String| {
        ConfigErrors(vec![ConfigError {
            file: kite.instruments.clone(),
            line: 0,
            field: String::new(),
            message,
        }])
    };
    let dump = KiteInstruments::load(&kite.instruments).map_err(|e| dump_error(e.to_string()))?;
    // A strategy naming an instrument the dump lacks is that strategy's line.
    let unknown: Vec<ConfigError> = strategies
        .iter()
        .flat_map(|s| s.instruments.iter().map(move |(sym, line)| (s, sym, *line)))
        .filter(|(_, sym, _)| dump.get(sym).is_none())
        .map(|(s, sym, line)| ConfigError {
            file: s.file.clone(),
            line,
            field: "instruments".into(),
            message: format!(
                "'{sym}' is not in the Kite instruments file {} (symbols are EXCHANGE:TRADINGSYMBOL, e.g. NSE:INFY)",
                kite.instruments.display()
            ),
        })
        .collect();
    if !unknown.is_empty() {
        return Err(ConfigErrors(unknown));
    }
    let mut seen = BTreeSet::new();
    let symbols: Vec<&str> = strategies
        .iter()
        .flat_map(|s| s.instruments.iter().map(|(sym, _)| sym.as_str()))
        .filter(|sym| seen.insert(*sym))
        .collect();
    let specs = dump
        .specs(&symbols)
        .map_err(|e| dump_error(e.to_string()))?;
    let mut table = InstrumentTable::new();
    let mut config = config.clone();
    // Quotes need depth (full mode); every mode has the last price.
    let quotes = kite.mode == TickerMode::Full;
    for spec in &specs {
        let id = table.intern(&spec.symbol);
        table
            .widen(id, spec.price_precision, spec.qty_precision)
            .map_err(|e| dump_error(e.to_string()))?;
        table.set_data_kinds(id, quotes, true);
        if config.instruments.iter().all(|c| c.symbol != spec.symbol)
            && let Some(k) = dump.get(&spec.symbol)
        {
            config.instruments.push(InstrumentConfig {
                symbol: spec.symbol.clone(),
                price_precision: Some(spec.price_precision),
                qty_precision: None,
                terms: k.terms(),
                file: kite.instruments.clone(),
                line: usize::try_from(k.line).unwrap_or(usize::MAX),
            });
        }
    }
    fit_precisions(&mut table, &config, strategies)?;
    let mut errors = Vec::new();
    for spec in &specs {
        let Some(id) = table.find(&spec.symbol) else {
            continue;
        };
        let fitted = table.spec(id).price_precision;
        if fitted != spec.price_precision {
            errors.push(ConfigError {
                file: kite.instruments.clone(),
                line: 0,
                field: format!("instruments.{}", spec.symbol),
                message: format!(
                    "price precision {fitted}, but Kite sends {} decimals for this segment: remove the \
                     setting that widens it (price_precision or a finer tick_size)",
                    spec.price_precision
                ),
            });
        }
    }
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    let tokens = dump
        .token_map(&table)
        .map_err(|e| dump_error(e.to_string()))?;
    Ok(KiteInstrumentsFit {
        table,
        tokens,
        config,
    })
}

/// Reconciles broker `b` with Kite before trading (see `execution::kite::reconcile`).
/// Returns the mismatches. With `refuse_on_mismatch` (production) and a mismatch, nothing is
/// touched: the caller refuses to start. Otherwise open orders an earlier run left are
/// cancelled first (and waited for), then the positions Kite then reports are seeded into
/// the engine; the report is logged.
///
/// # Errors
/// Kite cannot be asked (the engine must not trade blind on a live broker).
pub fn reconcile_broker(
    engine: &mut crate::runtime::Engine,
    b: usize,
    root: &str,
    authorization: &str,
    refuse_on_mismatch: bool,
) -> Result<Vec<String>, String> {
    use crate::domain::BookId;
    use crate::execution::kite::{reconcile, rest};
    let get = |path: &str| rest::get_data(root, authorization, path);
    let layout = &engine.layout;
    let broker = crate::domain::BrokerId(b as u32);
    let books_on = |instrument| -> Vec<BookId> {
        layout
            .books
            .iter()
            .enumerate()
            .filter(|(_, info)| {
                info.broker == broker
                    && layout.strategies[info.strategy.0 as usize]
                        .instruments
                        .contains(&instrument)
            })
            .map(|(i, _)| BookId(i as u32))
            .collect()
    };
    let ask = || -> Result<reconcile::Reconciled, String> {
        let (orders, trades, positions) = (
            get("/orders")?,
            get("/trades")?,
            get("/portfolio/positions")?,
        );
        reconcile::reconcile(&orders, &trades, &positions, &layout.instruments, books_on)
    };
    let name = layout.broker_name(broker).to_owned();
    let mut found = ask()?;
    if refuse_on_mismatch && !found.mismatches.is_empty() {
        return Ok(found.mismatches);
    }
    if !found.stale.is_empty() {
        let mut mismatches = cancel_stale(root, authorization, &found.stale, &name)?;
        // Fills up to the cancel are in the positions Kite reports now.
        found = ask()?;
        found.mismatches.append(&mut mismatches);
    }
    for line in &found.report {
        tracing::info!(target: "trading", broker = %name, "reconciliation: {line}");
    }
    seed(engine, b, &found.seeds);
    Ok(found.mismatches)
}

/// How long start-up waits for Kite to confirm the cancels of stale orders.
const CANCEL_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Cancels open orders an earlier run left and waits until Kite shows each closed. Returns
/// the ones it could not close, as mismatches.
fn cancel_stale(
    root: &str,
    authorization: &str,
    stale: &[(String, String)],
    broker: &str,
) -> Result<Vec<String>, String> {
    use crate::execution::kite::rest;
    let mut problems = Vec::new();
    for (id, line) in stale {
        match rest::cancel_order(root, authorization, id) {
            Ok(_) => {
                tracing::warn!(target: "trading", broker, "reconciliation: {line}: left by an earlier run of the engine; cancelled before trading")
            }
            // It may have closed meanwhile: the wait below tells.
            Err(e) => {
                tracing::warn!(target: "trading", broker, "reconciliation: {line}: cancel failed: {e}")
            }
        }
    }
    let watch = crate::clock::Stopwatch::start();
    loop {
        let orders = rest::get_data(root, authorization, "/orders")?;
        let open: Vec<&(String, String)> = stale
            .iter()
            .filter(|(id, _)| {
                orders.as_array().is_some_and(|rows| {
                    rows.iter().any(|o| {
                        let same = o.get("order_id").is_some_and(|v| {
                            v.as_str().map_or_else(|| v.to_string(), str::to_owned) == *id
                        });
                        let status = o.get("status").and_then(serde_json::Value::as_str);
                        same && !matches!(status, Some("COMPLETE" | "CANCELLED" | "REJECTED"))
                    })
                })
            })
            .collect();
        if open.is_empty() {
            return Ok(problems);
        }
        if watch.elapsed() >= CANCEL_WAIT {
            problems.extend(open.iter().map(|(_, line)| {
                format!(
                    "{line}: left by an earlier run and still open after a cancel ({CANCEL_WAIT:?})"
                )
            }));
            return Ok(problems);
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// Seeds positions into the portfolio and risk, as if filled before the run.
fn seed(
    engine: &mut crate::runtime::Engine,
    b: usize,
    seeds: &[crate::execution::kite::reconcile::Seed],
) {
    use crate::domain::{BrokerId, ClientOrderId, Fill, Liquidity, Money, Nanos, Price, Qty, Side};
    let broker = BrokerId(b as u32);
    for seed in seeds {
        let side = if seed.qty > 0 { Side::Buy } else { Side::Sell };
        engine.portfolio.seed(&Fill {
            order_id: ClientOrderId(u64::MAX),
            correlation: 0,
            ts: Nanos(0),
            book: seed.book,
            broker,
            instrument: seed.instrument,
            side,
            qty: Qty(seed.qty.abs()),
            price: Price(seed.price),
            fee: Money::ZERO,
            liquidity: Liquidity::Taker,
        });
        engine.risk.engine.seed_position(
            b,
            seed.book.0 as usize,
            seed.instrument.index(),
            seed.qty,
            Price(seed.price),
        );
    }
}
