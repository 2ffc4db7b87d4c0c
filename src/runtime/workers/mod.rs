//! The stage workers of the threaded runtime: the strategy stage with the portfolio, risk,
//! and execution (`risk`, `execution`), each driven by the generic stage loop on its own
//! thread.
//!
//! Event delivery keeps the inline order (see `runtime`). The strategy worker sends a tick
//! on to risk before its strategies run; when the venue may answer that tick (an order is
//! open on its instrument), or after it sent requests, it waits at a *barrier* until risk
//! has handled everything it sent and execution everything risk forwarded, then delivers the
//! events that came back, in ring order. Risk, like the inline runtime, checks each request
//! only once execution has answered every earlier one (`sync`). While any stage waits, it
//! keeps draining its event ring, so a full ring never leaves two stages waiting on each
//! other.

mod execution;
mod risk;

pub(crate) use execution::ExecutionWorker;
pub(crate) use risk::RiskWorker;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_channel::{Receiver, Sender, TrySendError};

use super::control::RunControl;
use super::layout::PnlBuffer;
use super::message::{AuditEvent, ToRisk, ToStrategy};
use super::publish;
use super::ring::{Outbox, Waiter};
use super::stage_loop::Worker;
use crate::clock::LatencyTimer;
use crate::domain::{Market, OrderEvent, OrderRequest};
use crate::metrics::telemetry::{DlqKind, LatencySlot, Ring, StageName, Telemetry};
use crate::metrics::{LatencyRecorder, Stage};
use crate::portfolio::Portfolio;
use crate::strategy::StrategyStage;
use crate::strategy::stage::Views;

/// How far the stages downstream of the strategy got: what the barrier waits on.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    /// `ToRisk` messages risk has handled (stored after their outputs were sent).
    risk_done: AtomicU64,
    /// `ToExecution` messages risk had sent when it last stored `risk_done`.
    risk_sent: AtomicU64,
    /// `ToExecution` messages execution has handled (stored after their events were sent).
    exec_done: AtomicU64,
}

/// What every worker shares: telemetry, run control, the timer, the audit ring.
#[derive(Clone, Copy)]
pub(crate) struct Shared<'a> {
    pub t: &'a Telemetry,
    pub control: &'a RunControl,
    pub progress: &'a Progress,
    pub timer: &'a LatencyTimer,
    pub audit: Option<&'a Sender<AuditEvent>>,
    /// Where a checkpoint's parts go (`None`: no checkpoints in this run).
    pub cut: Option<&'a crate::runtime::checkpoint::Cut>,
}

impl Shared<'_> {
    /// Sends an audit event without waiting; a full audit ring costs the event, counted.
    #[inline]
    fn audit(&self, event: AuditEvent) {
        if let Some(tx) = self.audit
            && let Err(TrySendError::Full(_)) = tx.try_send(event)
        {
            self.t.count_dlq(DlqKind::AuditDropped, 1);
        }
    }

    #[inline]
    fn stamp_if(&self, timed: bool) -> u64 {
        if timed { self.timer.stamp() } else { 0 }
    }
}

/// Moves every event waiting in `rx` to `pending`; returns how many.
#[inline]
fn drain(rx: &Receiver<OrderEvent>, pending: &mut VecDeque<OrderEvent>) -> u64 {
    let mut n = 0;
    while let Ok(event) = rx.try_recv() {
        pending.push_back(event);
        n += 1;
    }
    n
}

// ---- strategy (with the portfolio) ----

pub(crate) struct StrategyWorker<'a> {
    pub stage: StrategyStage,
    pub portfolio: Portfolio,
    market: Market,
    pub latency: LatencyRecorder,
    pub(crate) out: Outbox<'a, ToRisk>,
    events: Receiver<OrderEvent>,
    pending: VecDeque<OrderEvent>,
    requests: Vec<OrderRequest>,
    sending: Vec<OrderRequest>,
    waiter: Waiter,
    shared: Shared<'a>,
    handled: u64,
    received: u64,
    dispatched: u64,
    errors_counted: u64,
    latency_generation: u64,
    pnl_generation: u64,
    pnl: PnlBuffer,
}

impl<'a> StrategyWorker<'a> {
    pub(crate) fn new(
        stage: StrategyStage,
        portfolio: Portfolio,
        market: Market,
        out: Outbox<'a, ToRisk>,
        events: Receiver<OrderEvent>,
        pnl: PnlBuffer,
        shared: Shared<'a>,
    ) -> Self {
        let waiter = Waiter::new(out.policy());
        let fan_out = stage.max_fan_out().max(1);
        StrategyWorker {
            stage,
            portfolio,
            market,
            latency: LatencyRecorder::default(),
            out,
            events,
            pending: VecDeque::with_capacity(4096),
            requests: Vec::with_capacity(64 * fan_out),
            sending: Vec::with_capacity(64 * fan_out),
            waiter,
            shared,
            handled: 0,
            received: 0,
            dispatched: 0,
            errors_counted: 0,
            latency_generation: 0,
            pnl_generation: 0,
            pnl,
        }
    }

    #[inline]
    fn send(&mut self, msg: ToRisk) {
        let (events, pending, received) = (&self.events, &mut self.pending, &mut self.received);
        self.out
            .send_or(msg, || *received += drain(events, pending));
    }

    /// Waits until risk has handled everything sent to it and execution everything risk
    /// forwarded, draining events meanwhile; then every answer is in `pending`.
    fn barrier(&mut self) {
        let Shared {
            progress, control, ..
        } = self.shared;
        let sent = self.out.sent;
        while progress.risk_done.load(Ordering::Acquire) < sent && !control.aborted() {
            self.received += drain(&self.events, &mut self.pending);
            self.waiter.wait();
        }
        let forwarded = progress.risk_sent.load(Ordering::Acquire);
        while progress.exec_done.load(Ordering::Acquire) < forwarded && !control.aborted() {
            self.received += drain(&self.events, &mut self.pending);
            self.waiter.wait();
        }
        self.waiter.reset();
        self.received += drain(&self.events, &mut self.pending);
    }

    /// Books and delivers the pending events; their strategies' requests go to `requests`.
    #[inline]
    fn deliver(&mut self) {
        while let Some(event) = self.pending.pop_front() {
            self.portfolio.on_event(&event);
            let views = Views {
                market: &self.market,
                portfolio: &self.portfolio,
            };
            self.stage.on_event(&event, views, &mut self.requests);
        }
    }

    /// Sends the requests, waits for their answers, delivers them; again until no request
    /// is left.
    fn cascade(&mut self, tick_start: u64) {
        while !self.requests.is_empty() {
            std::mem::swap(&mut self.requests, &mut self.sending);
            for i in 0..self.sending.len() {
                let request = self.sending[i];
                self.send(ToRisk::Request(request, tick_start));
                self.shared.audit(AuditEvent::Request(request));
            }
            self.sending.clear();
            self.barrier();
            self.deliver();
        }
    }

    /// A market tick: marks, risk and the venues first, the answers they give, then the
    /// strategies, then their requests.
    fn on_tick(&mut self, tick: crate::domain::Tick, stamp: u64) {
        let timer = self.shared.timer;
        let start = if stamp != 0 {
            let now = timer.stamp();
            self.latency
                .record(Stage::FeedToStrategy, timer.elapsed_ns(stamp, now));
            now
        } else {
            0
        };
        self.market.on_tick(&tick);
        self.portfolio.on_tick(&tick);
        self.stage.advance(&tick);
        self.dispatched += u64::from(self.stage.is_traded(tick.instrument));
        self.send(ToRisk::Tick(tick, start));
        if self.stage.awaits_venue(&tick) {
            self.barrier();
        }
        self.deliver();
        let views = Views {
            market: &self.market,
            portfolio: &self.portfolio,
        };
        self.stage.on_tick(&tick, views, &mut self.requests);
        if start != 0 {
            let end = timer.stamp();
            self.latency
                .record(Stage::Strategy, timer.elapsed_ns(start, end));
        }
        self.cascade(start);
    }

    pub(crate) fn finish(mut self) -> (StrategyStage, Portfolio, LatencyRecorder, u64) {
        self.publish();
        let t = self.shared.t;
        t.take_back_latency(LatencySlot::Strategy, &mut self.latency);
        self.stage.take_back_inference(t);
        (self.stage, self.portfolio, self.latency, self.out.full)
    }
}

impl Worker for StrategyWorker<'_> {
    type In = ToStrategy;

    fn handle(&mut self, msg: ToStrategy) {
        self.handled += 1;
        match msg {
            ToStrategy::Tick(tick, stamp) => self.on_tick(tick, stamp),
            ToStrategy::Canary(tick, stamp) => {
                self.sending.clear();
                self.stage.canary_requests(&tick, &mut self.sending);
                self.send(ToRisk::CanaryStart(tick));
                for i in 0..self.sending.len() {
                    let request = self.sending[i];
                    self.send(ToRisk::CanaryRequest(request));
                }
                self.sending.clear();
                self.send(ToRisk::CanaryEnd(stamp));
            }
            ToStrategy::Checkpoint(ticks) => {
                // Settled: every answer to what was sent is delivered, and what it caused.
                self.barrier();
                self.deliver();
                self.cascade(0);
                if let Some(cut) = self.shared.cut {
                    let part = match (self.stage.checkpoint(), self.portfolio.checkpoint()) {
                        (Ok(Some(stage)), Ok(portfolio)) => {
                            Some((stage, portfolio, self.market.clone()))
                        }
                        _ => None,
                    };
                    cut.strategy_part(part);
                }
                self.send(ToRisk::Checkpoint(ticks));
            }
        }
    }

    fn idle(&mut self, publish: bool) {
        // A live venue's events arrive on their own; a backtest's are all delivered by now.
        self.received += drain(&self.events, &mut self.pending);
        if !self.pending.is_empty() {
            self.deliver();
            self.cascade(0);
        }
        if publish {
            self.publish();
        }
    }

    fn publish(&mut self) {
        let t = self.shared.t;
        t.stage_events[StageName::Strategy as usize].set(self.handled);
        t.ring_received[Ring::FeedToStrategy as usize].set(self.handled);
        t.ring_received[Ring::ExecutionToStrategy as usize].set(self.received);
        self.out.publish();
        publish::strategy(t, &self.stage, self.dispatched, &mut self.errors_counted);
        publish::portfolio(t, &self.portfolio, &mut self.pnl, &mut self.pnl_generation);
        publish::latency(
            t,
            LatencySlot::Strategy,
            &mut self.latency,
            Some(&mut self.stage),
            &mut self.latency_generation,
        );
        self.portfolio.flush_logs();
        self.stage.flush_logs();
    }
}
