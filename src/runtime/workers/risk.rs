//! The risk worker: checks each request once execution has answered every earlier one
//! (`sync`), forwards ticks and passed requests, relays refusals, runs the canary's checks.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;

use crossbeam_channel::Receiver;

use super::{Shared, drain};
use crate::domain::{Market, OrderEvent, RequestKind};
use crate::metrics::telemetry::{LatencySlot, Ring, StageName};
use crate::metrics::{LatencyRecorder, Stage};
use crate::risk::{Decision, RiskStage};
use crate::runtime::canary::RiskCanary;
use crate::runtime::message::{ToExecution, ToRisk};
use crate::runtime::publish;
use crate::runtime::ring::{Outbox, Waiter};
use crate::runtime::stage_loop::Worker;

pub(crate) struct RiskWorker<'a> {
    pub stage: RiskStage,
    market: Market,
    pub latency: LatencyRecorder,
    pub(crate) out: Outbox<'a, ToExecution>,
    events: Receiver<OrderEvent>,
    pending: VecDeque<OrderEvent>,
    waiter: Waiter,
    canary: Option<RiskCanary>,
    shared: Shared<'a>,
    handled: u64,
    received: u64,
    latency_generation: u64,
}

impl<'a> RiskWorker<'a> {
    pub(crate) fn new(
        stage: RiskStage,
        market: Market,
        out: Outbox<'a, ToExecution>,
        events: Receiver<OrderEvent>,
        shared: Shared<'a>,
    ) -> Self {
        let waiter = Waiter::new(out.policy());
        RiskWorker {
            stage,
            market,
            latency: LatencyRecorder::default(),
            out,
            events,
            pending: VecDeque::with_capacity(4096),
            waiter,
            canary: None,
            shared,
            handled: 0,
            received: 0,
            latency_generation: 0,
        }
    }

    /// Applies every event execution has sent back so far.
    #[inline]
    fn apply_events(&mut self) {
        self.received += drain(&self.events, &mut self.pending);
        while let Some(event) = self.pending.pop_front() {
            self.stage.on_event(&event);
        }
    }

    #[inline]
    fn send(&mut self, msg: ToExecution) {
        let (events, pending, received) = (&self.events, &mut self.pending, &mut self.received);
        self.out
            .send_or(msg, || *received += drain(events, pending));
    }

    /// Waits until execution has answered everything risk sent, applying the answers: the
    /// next check sees every earlier fill, as in the inline runtime.
    fn sync(&mut self) {
        let Shared {
            progress, control, ..
        } = self.shared;
        while progress.exec_done.load(Ordering::Acquire) < self.out.sent && !control.aborted() {
            self.apply_events();
            self.waiter.wait();
        }
        self.waiter.reset();
        self.apply_events();
    }

    pub(crate) fn finish(mut self) -> (RiskStage, LatencyRecorder, u64) {
        // The answers to the last orders, so risk's final state matches inline.
        self.sync();
        self.publish();
        self.shared
            .t
            .take_back_latency(LatencySlot::Risk, &mut self.latency);
        (self.stage, self.latency, self.out.full)
    }
}

impl Worker for RiskWorker<'_> {
    type In = ToRisk;

    fn handle(&mut self, msg: ToRisk) {
        self.apply_events();
        let timer = self.shared.timer;
        match msg {
            ToRisk::Tick(tick, stamp) => {
                if stamp != 0 {
                    let now = timer.stamp();
                    self.latency
                        .record(Stage::StrategyToRisk, timer.elapsed_ns(stamp, now));
                }
                self.market.on_tick(&tick);
                self.stage.on_tick(&tick);
                let out = self.shared.stamp_if(stamp != 0);
                self.send(ToExecution::Tick(tick, out));
            }
            ToRisk::Request(request, tick_start) => {
                if !matches!(request.kind, RequestKind::Cancel) {
                    self.sync();
                }
                let start = timer.stamp();
                let decision = self.stage.on_request(&request, &self.market);
                self.latency
                    .record(Stage::Risk, timer.elapsed_ns(start, timer.stamp()));
                match decision {
                    Decision::Pass => self.send(ToExecution::Request(request, tick_start)),
                    Decision::Refuse(event) => self.send(ToExecution::Refused(event)),
                }
            }
            ToRisk::CanaryStart(tick) => {
                self.canary = Some(RiskCanary::new(&self.stage.engine, &self.market, &tick));
            }
            ToRisk::CanaryRequest(request) => {
                if let Some(canary) = &mut self.canary {
                    let approved = canary.check(&request);
                    if approved {
                        self.send(ToExecution::CanaryOrder);
                    }
                }
            }
            ToRisk::Checkpoint(ticks) => {
                // Every answer to what risk passed is applied before its part is taken.
                self.sync();
                if let Some(cut) = self.shared.cut {
                    cut.risk_part(self.stage.checkpoint());
                }
                self.send(ToExecution::Checkpoint(ticks));
            }
            ToRisk::CanaryEnd(stamp) => {
                let mut counts = self
                    .canary
                    .take()
                    .map(RiskCanary::counts)
                    .unwrap_or_default();
                counts.stamp = stamp;
                self.send(ToExecution::CanaryEnd(counts));
            }
        }
        self.handled += 1;
        let progress = self.shared.progress;
        progress.risk_sent.store(self.out.sent, Ordering::Release);
        progress.risk_done.store(self.handled, Ordering::Release);
    }

    fn idle(&mut self, publish: bool) {
        self.apply_events();
        if publish {
            self.publish();
        }
    }

    fn publish(&mut self) {
        let t = self.shared.t;
        t.stage_events[StageName::Risk as usize].set(self.handled);
        t.ring_received[Ring::StrategyToRisk as usize].set(self.handled);
        t.ring_received[Ring::ExecutionToRisk as usize].set(self.received);
        self.out.publish();
        publish::risk(t, &self.stage);
        publish::latency(
            t,
            LatencySlot::Risk,
            &mut self.latency,
            None,
            &mut self.latency_generation,
        );
    }
}
