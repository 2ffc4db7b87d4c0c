//! The ML strategy: per-instrument features, a model score on every scoring event, and the
//! long/flat position rule of the other strategies (`strategy::position`): target long when
//! not long and `score >= entry`, flat when long and `score <= exit`, from the book's real
//! exposure.
//!
//! Two ways to score, same signals:
//! - **per tick** (live, and the threaded runtime): extract, then score one row at once;
//! - **batched** (inline backtests): before a chunk is dispatched, `prepare_tick` stages
//!   each of its ticks (`BatchExtractor::stage`), then `score_chunk` computes the feature
//!   columns (`BatchExtractor::finish`) and scores every row in one call; `on_tick` then
//!   only consumes the precomputed scores in order. Features depend on ticks alone (never
//!   on fills), so computing them ahead changes nothing, and the batched extractor gives
//!   the per-tick one's values to the bit.

use hdrhistogram::Histogram;

use super::batch::{BatchExtractor, Scratch};
use super::features::FeatureExtractor;
use super::model::Model;
use crate::clock::LatencyTimer;
use crate::domain::Tick;
use crate::metrics::LatencySummary;
use crate::strategy::{Actions, Context, Mode, Signals, SlotSpec, Strategy};

/// How an ML strategy scores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InferenceMode {
    PerTick,
    Batched,
}

impl InferenceMode {
    pub fn name(self) -> &'static str {
        match self {
            InferenceMode::PerTick => "per_tick",
            InferenceMode::Batched => "batched",
        }
    }
}

/// Counters of one ML strategy.
#[derive(Clone, Debug)]
pub struct MlStats {
    /// Feature rows scored with a finite score.
    pub rows: u64,
    /// Calls into ONNX Runtime (one per row per tick, one per chunk batched).
    pub calls: u64,
    /// Failed calls, and scores that are not finite (NaN, ±inf): neither gives a signal.
    pub errors: u64,
    /// Per tick: feature update, score and decision of each scoring tick, ns. Batched: each
    /// chunk's one call.
    pub latency: Histogram<u64>,
}

impl MlStats {
    fn new() -> MlStats {
        MlStats {
            rows: 0,
            calls: 0,
            errors: 0,
            latency: crate::metrics::latency_histogram(),
        }
    }

    pub fn latency_summary(&self) -> LatencySummary {
        LatencySummary::of(&self.latency)
    }
}

/// An ML strategy over one or more instruments (slots).
#[derive(Debug)]
pub struct MlStrategy {
    model: Model,
    mode: InferenceMode,
    entry: f64,
    exit: f64,
    /// Per tick: one extractor per slot (empty when batched).
    extractors: Vec<FeatureExtractor>,
    /// Batched: one extractor per slot (empty per tick), and their work space.
    batch: Vec<BatchExtractor>,
    scratch: Scratch,
    qty: Vec<crate::domain::Qty>,
    row: Vec<f32>,
    /// Batched mode: rows of the prepared chunk, row-major, `chunk` rows preallocated: the
    /// extractors write each row in place (no copy). Then the seq of the tick each row
    /// belongs to, and their scores, consumed in order from `cursor`.
    batch_rows: Vec<f32>,
    batch_seqs: Vec<u64>,
    batch_scores: Vec<f32>,
    batch_ok: bool,
    /// A non-finite score was logged (once; the rest are counted).
    warned_non_finite: bool,
    cursor: usize,
    timer: LatencyTimer,
    pub stats: MlStats,
}

impl MlStrategy {
    /// `entry`/`exit` are the thresholds in force (the strategy file's, else the sidecar's).
    /// `chunk` is the most ticks one `prepare` call sees.
    pub fn new(
        model: Model,
        slots: &[SlotSpec],
        entry: f64,
        exit: f64,
        mode: InferenceMode,
        chunk: usize,
    ) -> MlStrategy {
        let width = model.width();
        let batched = mode == InferenceMode::Batched;
        let batch_capacity = if batched { chunk } else { 0 };
        let schema = &model.sidecar.schema;
        MlStrategy {
            extractors: slots
                .iter()
                .filter(|_| !batched)
                .map(|s| FeatureExtractor::new(schema, s.price_precision))
                .collect(),
            batch: slots
                .iter()
                .filter(|_| batched)
                .map(|s| BatchExtractor::new(schema, s.price_precision, chunk))
                .collect(),
            scratch: if batched {
                Scratch::new(schema, chunk)
            } else {
                Scratch::default()
            },
            qty: slots.iter().map(|s| s.qty).collect(),
            row: vec![0.0; width],
            batch_rows: vec![0.0; batch_capacity * width],
            batch_seqs: Vec::with_capacity(batch_capacity),
            batch_scores: Vec::with_capacity(batch_capacity),
            batch_ok: true,
            warned_non_finite: false,
            cursor: 0,
            timer: LatencyTimer::default(),
            stats: MlStats::new(),
            model,
            mode,
            entry,
            exit,
        }
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    pub fn mode(&self) -> InferenceMode {
        self.mode
    }

    /// Batched mode: starts a chunk (forgets the previous one's rows).
    pub fn begin_chunk(&mut self) {
        self.batch_seqs.clear();
        self.batch_scores.clear();
        self.cursor = 0;
    }

    /// Batched mode: stages one tick of the chunk, in chunk order (see `BatchExtractor`).
    #[inline]
    pub fn prepare_tick(&mut self, tick: &Tick, slot: usize) {
        let width = self.row.len();
        let at = self.batch_seqs.len() * width;
        if at + width > self.batch_rows.len() {
            // More rows than the chunk size given at construction: grow once (never in
            // the engine, whose chunks are that size).
            self.batch_rows.resize(at + width, 0.0);
        }
        if self.batch[slot].stage(tick, at, &mut self.batch_rows[at..at + width]) {
            self.batch_seqs.push(tick.seq);
        }
    }

    /// Batched mode: completes the chunk's feature rows, then scores them all in one call.
    pub fn score_chunk(&mut self) {
        let width = self.row.len();
        for extractor in &mut self.batch {
            extractor.finish(&mut self.batch_rows, &mut self.scratch);
        }
        let rows = self.batch_seqs.len();
        if rows == 0 {
            return;
        }
        let start = self.timer.stamp();
        let result = self.model.score_batch(
            &self.batch_rows[..rows * width],
            rows,
            &mut self.batch_scores,
        );
        let ns = self.timer.elapsed_ns(start, self.timer.stamp());
        self.stats.calls += 1;
        self.stats.latency.saturating_record(ns.max(1));
        self.batch_ok = result.is_ok();
        if let Err(e) = result {
            self.stats.errors += 1;
            tracing::error!(target: "error", model = %self.model.sidecar.name, rows, "batched inference failed: {e}");
        } else {
            let bad = self.batch_scores.iter().filter(|s| !s.is_finite()).count() as u64;
            self.stats.rows += rows as u64 - bad;
            self.stats.errors += bad;
            if bad > 0 && !self.warned_non_finite {
                // Once per strategy: every later one is in the counts.
                self.warned_non_finite = true;
                tracing::error!(target: "error", model = %self.model.sidecar.name, rows, bad, "the model returned scores that are not finite (NaN or inf): counted as inference errors, no signal taken from them");
            }
        }
    }

    #[inline]
    fn decide(&self, score: f32, ctx: &Context<'_>, out: &mut Actions) {
        let score = f64::from(score);
        let signals = Signals {
            long_entry: score >= self.entry,
            long_exit: score <= self.exit,
            ..Signals::default()
        };
        // Many scores fall between the thresholds (about 60% on the FX week). Without a
        // signal the rule targets nothing whatever the exposure, so skip looking it up.
        if !signals.long_entry && !signals.long_exit {
            return;
        }
        let slot = ctx.slot();
        // A refused action is counted by the buffer; there is nothing else to do about it.
        let _ = Mode::LongFlat.act(ctx, out, slot, self.qty[slot], signals);
    }
}

impl Strategy for MlStrategy {
    #[inline]
    fn on_tick(&mut self, ctx: &Context<'_>, tick: &Tick, out: &mut Actions) {
        let slot = ctx.slot();
        match self.mode {
            InferenceMode::PerTick => {
                // Timed from before extraction: the cost of a scoring tick, features included.
                let start = self.timer.stamp();
                if !self.extractors[slot].update(tick, &mut self.row) {
                    return;
                }
                let result = self.model.score(&self.row);
                self.stats.calls += 1;
                match result {
                    Ok(score) if score.is_finite() => {
                        self.stats.rows += 1;
                        self.decide(score, ctx, out);
                    }
                    // A NaN would compare false against both thresholds and pass unseen.
                    // No formatting on the tick path; the count is in the summary.
                    Ok(_) | Err(_) => self.stats.errors += 1,
                }
                let ns = self.timer.elapsed_ns(start, self.timer.stamp());
                self.stats.latency.saturating_record(ns.max(1));
            }
            InferenceMode::Batched => {
                if self.batch_seqs.get(self.cursor) != Some(&tick.seq) {
                    return;
                }
                let at = self.cursor;
                self.cursor += 1;
                if self.batch_ok && self.batch_scores[at].is_finite() {
                    self.decide(self.batch_scores[at], ctx, out);
                }
            }
        }
    }
}
