//! Building an engine from its config, its strategy files and the instruments the data
//! holds: every stage, one book (strategy instance) per strategy and broker, the layout the
//! reports name things by, and the telemetry observers read.

use std::sync::Arc;

use tracing::warn;

use super::validate::{self, Severity};
use crate::config::{
    ConfigError, ConfigErrors, EngineConfig, Environment, MlInference, RuntimeMode,
};
use crate::domain::{
    BookId, BrokerId, InstrumentError, InstrumentSpec, InstrumentTable, Market, Qty, StrategyId,
};
use crate::execution::{ExecutionStage, PaperVenue, VenueKind};
use crate::metrics::telemetry::{InstrumentClass, Telemetry, TelemetryShape};
use crate::ml::{InferenceMode, MlStrategy};
use crate::portfolio::Portfolio;
use crate::risk::{RiskEngine, RiskStage};
use crate::runtime::{BookInfo, Engine, EngineLayout, ModelInfo, StrategyInfo};
use crate::strategy::compute::{self, ComputeCharge, ComputeMode};
use crate::strategy::stage::Book;
use crate::strategy::{
    BookState, Setup, SlotSpec, StrategyConfig, StrategyKind, StrategyParams, StrategyStage,
};

/// Widens instrument precisions to fit every strategy's quantities and the configured tick
/// and lot sizes, then sets every instrument's contract terms (`InstrumentTable::apply_terms`).
/// Call before opening the feed, so prices and sizes are read at the final precision.
///
/// # Errors
/// A quantity, tick or lot size finer than a precision fixed by config, a quantity too large
/// for its precision, or precisions that leave money no spare decimal.
pub fn fit_precisions(
    instruments: &mut InstrumentTable,
    config: &EngineConfig,
    strategies: &[StrategyConfig],
) -> Result<(), ConfigErrors> {
    let mut errors = Vec::new();
    let configured = |symbol: &str| config.instruments.iter().find(|o| o.symbol == symbol);
    for s in strategies {
        for (symbol, _) in &s.instruments {
            let Some(id) = instruments.find(symbol) else {
                continue;
            };
            let fixed = configured(symbol).and_then(|c| c.qty_precision);
            for q in &s.quantities {
                let error = |message: String| ConfigError {
                    file: s.file.clone(),
                    line: q.line,
                    field: q.field.clone(),
                    message,
                };
                match fixed {
                    Some(fixed) if q.value.decimals > fixed => errors.push(error(format!(
                        "{} decimals, but {symbol} has qty_precision {fixed} in the engine config",
                        q.value.decimals
                    ))),
                    Some(_) => {}
                    None => {
                        if let Err(e) = instruments.widen(id, 0, q.value.decimals) {
                            errors.push(error(e.to_string()));
                        }
                    }
                }
            }
        }
    }
    // Tick and lot sizes widen precisions the data left coarser; fixed ones are checked by
    // `apply_terms`.
    for c in &config.instruments {
        let Some(id) = instruments.find(&c.symbol) else {
            continue;
        };
        let price = c.terms.tick_size.filter(|_| c.price_precision.is_none());
        let qty = c.terms.lot_size.filter(|_| c.qty_precision.is_none());
        let widen = (
            price.map_or(0, |d| d.decimals),
            qty.map_or(0, |d| d.decimals),
        );
        if let Err(e) = instruments.widen(id, widen.0, widen.1) {
            errors.push(ConfigError {
                file: c.file.clone(),
                line: c.line,
                field: c.symbol.clone(),
                message: e.to_string(),
            });
        }
    }
    for s in strategies {
        for (symbol, _) in &s.instruments {
            let Some(id) = instruments.find(symbol) else {
                continue;
            };
            let precision = instruments.spec(id).qty_precision;
            for q in s
                .quantities
                .iter()
                .filter(|q| q.value.to_raw(precision).is_none())
            {
                if q.value.decimals <= precision {
                    errors.push(ConfigError {
                        file: s.file.clone(),
                        line: q.line,
                        field: q.field.clone(),
                        message: format!(
                            "{} is too large for {symbol} at {precision} decimals",
                            q.value
                        ),
                    });
                }
            }
        }
    }
    if let Err(problems) = instruments.apply_terms(|symbol| configured(symbol).map(|c| &c.terms)) {
        for problem in problems {
            let symbol = match &problem {
                InstrumentError::Precision { symbol, .. }
                | InstrumentError::Step { symbol, .. }
                | InstrumentError::MoneyPrecision { symbol, .. } => symbol.clone(),
            };
            let (file, line) =
                configured(&symbol).map_or(("<data>".into(), 0), |c| (c.file.clone(), c.line));
            errors.push(ConfigError {
                file,
                line,
                field: format!("instruments.{symbol}"),
                message: problem.to_string(),
            });
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ConfigErrors(errors))
    }
}

/// How ML strategies score under `config`.
fn inference_mode(config: &EngineConfig) -> InferenceMode {
    // Measured compute time lands on the tick that pays it only when scoring per tick.
    if config.compute.mode == ComputeMode::Measured {
        return InferenceMode::PerTick;
    }
    match (config.runtime.ml_inference, config.runtime.mode) {
        (MlInference::Batched | MlInference::Auto, RuntimeMode::Inline) => InferenceMode::Batched,
        _ => InferenceMode::PerTick,
    }
}

/// Builds the stages. Configuration that cannot run is an error (`app::validate`); a
/// strategy's instrument absent from the data is skipped with a warning (in production: an
/// error), and a strategy left with none is not registered.
///
/// # Errors
/// Every configuration problem, with file, line and field.
pub fn build(
    config: &EngineConfig,
    strategies: &[StrategyConfig],
    instruments: InstrumentTable,
) -> Result<Engine, ConfigErrors> {
    let production = config.environment == Environment::Production;
    let mut errors = Vec::new();
    let findings = validate::config(config, strategies)
        .into_iter()
        .chain(validate::instruments(strategies, &instruments));
    for finding in findings {
        match finding.severity {
            Severity::Fatal => errors.push(finding.to_config_error()),
            Severity::Problem if production && finding.field == "instruments" => {
                errors.push(finding.to_config_error());
            }
            _ => warn!(target: "app", "{}", finding.render()),
        }
    }
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    let specs: Vec<InstrumentSpec> = instruments.iter().map(|(_, s)| s.clone()).collect();
    let inference = inference_mode(config);
    let mut configured_per_broker = vec![0usize; config.brokers.len()];
    let (mut infos, mut book_infos, mut books) = (Vec::new(), Vec::new(), Vec::new());
    let (mut disabled, mut model_checks) = (Vec::new(), Vec::new());
    for s in strategies {
        let mut brokers = Vec::new();
        for (name, _) in &s.brokers {
            if let Some(b) = config.broker_index(name) {
                configured_per_broker[b] += 1;
                // A disabled broker takes no orders: no book for it.
                if config.brokers[b].enabled {
                    brokers.push(b);
                }
            }
        }
        let ids: Vec<_> = s
            .instruments
            .iter()
            .filter_map(|(symbol, _)| instruments.find(symbol))
            .collect();
        if ids.is_empty() {
            disabled.push(format!(
                "{} ({}): none of its instruments is in the data",
                s.id,
                s.file.display()
            ));
            continue;
        }
        if brokers.is_empty() {
            disabled.push(format!(
                "{} ({}): every broker it names is disabled",
                s.id,
                s.file.display()
            ));
            continue;
        }
        let slot_specs: Vec<InstrumentSpec> =
            ids.iter().map(|&i| instruments.spec(i).clone()).collect();
        let slots: Vec<SlotSpec> = slot_specs
            .iter()
            .map(|spec| SlotSpec {
                price_precision: spec.price_precision,
                qty: Qty(s
                    .quantity()
                    .and_then(|q| q.to_raw(spec.qty_precision))
                    .unwrap_or(0)),
            })
            .collect();
        let strategy = StrategyId(infos.len() as u32);
        let mut kinds = Vec::new();
        let mut model = None;
        for &b in &brokers {
            let kind = match &s.params {
                StrategyParams::Ml {
                    model: path,
                    model_line,
                    entry_threshold,
                    exit_threshold,
                } => {
                    let (loaded, check) = crate::ml::load_model(&s.id, &s.file, path);
                    if model_checks
                        .iter()
                        .all(|c: &crate::ml::ModelCheck| c.strategy != s.id)
                    {
                        model_checks.push(check.clone());
                    }
                    let Some(loaded) = loaded else {
                        if production {
                            errors.extend(check.problems.iter().map(|p| ConfigError {
                                file: s.file.clone(),
                                line: *model_line,
                                field: "model".into(),
                                message: p.clone(),
                            }));
                        } else {
                            let reason = check.problems.join("; ");
                            warn!(target: "app", strategy = %s.id, file = %s.file.display(), model = %path, "ML strategy disabled: {reason}");
                            disabled.push(format!("{} ({}): {reason}", s.id, s.file.display()));
                        }
                        break;
                    };
                    let entry = entry_threshold.unwrap_or(loaded.sidecar.entry_threshold);
                    let exit = exit_threshold.unwrap_or(loaded.sidecar.exit_threshold);
                    if exit >= entry {
                        errors.push(ConfigError {
                            file: s.file.clone(),
                            line: *model_line,
                            field: "params.exit_threshold".into(),
                            message: format!(
                                "exit threshold {exit} must be below entry threshold {entry} (the sidecar's, unless the strategy file sets them)"
                            ),
                        });
                        break;
                    }
                    let inference = match (inference, loaded.single_row()) {
                        (InferenceMode::Batched, Some(why)) => {
                            // Per tick gives the same scores (the model's rows are
                            // independent); a batched call would fail on every chunk.
                            warn!(target: "app", strategy = %s.id, model = %path, "model takes one row per call ({why}): scored per tick instead of batched");
                            InferenceMode::PerTick
                        }
                        (mode, _) => mode,
                    };
                    model = Some(ModelInfo {
                        name: loaded.sidecar.name.clone(),
                        version: loaded.sidecar.version.clone(),
                        feature_schema_hash: loaded.sidecar.feature_schema_hash.clone(),
                        inference: inference.name(),
                        entry_threshold: entry,
                        exit_threshold: exit,
                    });
                    let ml = MlStrategy::new(
                        loaded,
                        &slots,
                        entry,
                        exit,
                        inference,
                        crate::runtime::inline::CHUNK,
                    );
                    StrategyKind::Ml(Box::new(ml))
                }
                StrategyParams::User(user) => StrategyKind::User {
                    kind: user.kind,
                    strategy: user.build(&Setup {
                        id: &s.id,
                        broker: &config.brokers[b].name,
                        specs: &slot_specs,
                    }),
                },
                params => match StrategyKind::rule(params, &slots) {
                    Some(kind) => kind,
                    None => break,
                },
            };
            kinds.push((b, kind));
        }
        if kinds.len() != brokers.len() {
            continue;
        }
        let mut own = Vec::new();
        for (b, kind) in kinds {
            let book = BookId(books.len() as u32);
            let broker = BrokerId(b as u32);
            book_infos.push(BookInfo { strategy, broker });
            books.push(Book::new(BookState::new(book, broker, ids.clone()), kind));
            own.push(book);
        }
        infos.push(StrategyInfo {
            id: s.id.clone(),
            kind: books[own[0].0 as usize].strategy.kind_name(),
            instruments: ids,
            books: own,
            model,
        });
    }
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    let layout = EngineLayout {
        instruments: instruments.clone(),
        brokers: config.brokers.iter().map(|b| b.name.clone()).collect(),
        configured: strategies.len(),
        configured_per_broker,
        strategies: infos,
        books: book_infos,
        disabled,
        model_checks,
        portfolio: config.portfolio.clone(),
    };
    let telemetry = Arc::new(telemetry(config, &layout, &specs));
    let limits: Vec<_> = config.brokers.iter().map(|b| b.risk.clone()).collect();
    let risk = RiskEngine::new(&limits, layout.books.len(), &specs);
    let flatten = risk.flatten_on_kill();
    let venues = config
        .brokers
        .iter()
        .map(|b| {
            if b.kite.is_some() {
                warn!(target: "app", broker = %b.name, "broker {} is Kite: until `live` connects it, its paper models stand in (backtests simulate it)", b.name);
            }
            VenueKind::Paper(PaperVenue::from_config(b, &specs))
        })
        .collect();
    let compute = compute_charge(config, &layout)?;
    let mut portfolio = Portfolio::new(books.len(), config.brokers.len(), &specs);
    portfolio.track_rows(layout.rows());
    Ok(Engine {
        market: Market::new(specs.len()),
        portfolio,
        strategy: StrategyStage::new(books, instruments, flatten).with_compute(compute),
        risk: RiskStage::new(risk, config.brokers.len()),
        execution: ExecutionStage::new(venues),
        config: config.clone(),
        telemetry,
        layout,
    })
}

/// The compute charger of `[compute]`: the model's charge per book, a replay's samples.
fn compute_charge(
    config: &EngineConfig,
    layout: &EngineLayout,
) -> Result<ComputeCharge, ConfigErrors> {
    let c = &config.compute;
    let per_book = (0..layout.books.len())
        .map(|b| c.model_ns(&layout.strategy_of(BookId(b as u32)).id))
        .collect();
    let replay = match (&c.samples, c.mode) {
        (Some(path), ComputeMode::Replay) => compute::read_samples(path).map_err(|message| {
            ConfigErrors(vec![ConfigError {
                file: path.clone(),
                line: 0,
                field: "compute.samples".into(),
                message,
            }])
        })?,
        _ => Vec::new(),
    };
    Ok(ComputeCharge::new(c.mode, per_book, replay))
}

/// The telemetry of an engine with `layout`.
fn telemetry(config: &EngineConfig, layout: &EngineLayout, specs: &[InstrumentSpec]) -> Telemetry {
    let mut registered = vec![0u64; config.brokers.len()];
    for book in &layout.books {
        registered[book.broker.0 as usize] += 1;
    }
    let loads_ok = layout.model_checks.iter().filter(|c| c.ok).count() as u64;
    Telemetry::new(TelemetryShape {
        brokers: layout.brokers.clone(),
        brokers_enabled: config.brokers.iter().map(|b| b.enabled).collect(),
        strategies_registered: registered,
        strategies_configured: layout
            .configured_per_broker
            .iter()
            .map(|&n| n as u64)
            .collect(),
        ring_capacity: config.runtime.ring_capacity,
        instrument_classes: specs
            .iter()
            .map(|s| InstrumentClass::of_symbol(&s.symbol))
            .collect(),
        // A live run names its own feed (`replay`); a backtest reads files.
        feed_kind: "backtest",
        environment: config.environment.name(),
        model_loads_ok: loads_ok,
        model_loads_failed: layout.model_checks.len() as u64 - loads_ok,
        currencies: layout.instruments.currencies().to_vec(),
        ml_strategies: (0..layout.books.len())
            .map(|b| BookId(b as u32))
            .filter(|&b| layout.strategy_of(b).model.is_some())
            .map(|b| layout.book_name(b))
            .collect(),
    })
}
