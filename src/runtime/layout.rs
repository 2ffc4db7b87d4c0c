//! The static facts of a built engine: its instruments, brokers, strategies and books, and
//! why configured strategies were left out. Shared by the runtimes (names for the canary and
//! the audit log) and the reports.

use crate::domain::{BookId, BrokerId, InstrumentId, InstrumentTable, Money, StrategyId};

/// A registered strategy: what reports need to name it.
#[derive(Clone, Debug)]
pub struct StrategyInfo {
    pub id: String,
    pub kind: &'static str,
    pub instruments: Vec<InstrumentId>,
    /// One book per broker the strategy trades through.
    pub books: Vec<BookId>,
    /// The model of an ML strategy: what its orders and fills are audited with.
    pub model: Option<ModelInfo>,
}

/// Identity of the model behind an ML strategy.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInfo {
    pub name: String,
    pub version: String,
    pub feature_schema_hash: String,
    pub inference: &'static str,
    pub entry_threshold: f64,
    pub exit_threshold: f64,
}

/// A book: one strategy instance trading through one broker.
#[derive(Clone, Copy, Debug)]
pub struct BookInfo {
    pub strategy: StrategyId,
    pub broker: BrokerId,
}

#[derive(Clone, Debug)]
pub struct EngineLayout {
    pub instruments: InstrumentTable,
    pub brokers: Vec<String>,
    pub strategies: Vec<StrategyInfo>,
    pub books: Vec<BookInfo>,
    /// Strategies in the config files, registered or not.
    pub configured: usize,
    /// Per broker: strategies in the config files that name it, registered or not.
    pub configured_per_broker: Vec<usize>,
    /// Why each strategy that is not registered was left out.
    pub disabled: Vec<String>,
    /// Model load results of the ML strategies, registered or not.
    pub model_checks: Vec<crate::ml::ModelCheck>,
    /// Capital and base currency of the reports.
    pub portfolio: crate::portfolio::config::PortfolioConfig,
}

impl EngineLayout {
    /// The strategy behind a book.
    #[inline]
    pub fn strategy_of(&self, book: BookId) -> &StrategyInfo {
        &self.strategies[self.books[book.0 as usize].strategy.0 as usize]
    }

    /// The report's rows: every registered strategy's books × its instruments, in strategy
    /// order (the order of `summary.json`'s `strategies`).
    pub fn rows(&self) -> Vec<(BookId, crate::domain::InstrumentId)> {
        self.strategies
            .iter()
            .flat_map(|info| {
                info.books
                    .iter()
                    .flat_map(|&book| info.instruments.iter().map(move |&i| (book, i)))
            })
            .collect()
    }

    pub fn broker_name(&self, broker: BrokerId) -> &str {
        self.brokers
            .get(broker.0 as usize)
            .map_or("?", String::as_str)
    }

    /// How a book is named where one strategy can have several: its strategy's id, with
    /// `@broker` when the strategy trades through more than one broker.
    pub fn book_name(&self, book: BookId) -> String {
        let info = self.books[book.0 as usize];
        let strategy = &self.strategies[info.strategy.0 as usize];
        if strategy.books.len() > 1 {
            format!("{}@{}", strategy.id, self.broker_name(info.broker))
        } else {
            strategy.id.clone()
        }
    }
}

/// Per broker and settlement currency (open positions, PnL components), reused between PnL
/// publishes.
#[derive(Debug)]
pub struct PnlBuffer {
    /// (book, its broker, an instrument its strategy trades): where positions can be.
    pub positions: Vec<(BookId, BrokerId, InstrumentId)>,
    pub totals: Vec<(u64, [Money; 4])>,
}

impl PnlBuffer {
    pub fn new(layout: &EngineLayout) -> PnlBuffer {
        let positions = layout
            .books
            .iter()
            .enumerate()
            .flat_map(|(b, book)| {
                layout.strategies[book.strategy.0 as usize]
                    .instruments
                    .iter()
                    .map(move |&i| (BookId(b as u32), book.broker, i))
            })
            .collect();
        PnlBuffer {
            positions,
            totals: vec![
                (0, [Money::ZERO; 4]);
                layout.brokers.len() * layout.instruments.currencies().len().max(1)
            ],
        }
    }
}
