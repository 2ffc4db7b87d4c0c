//! The execution worker: market data and passed requests to the venues, their events to
//! risk, the strategies, the audit log and the journal. A request for a live venue is
//! journaled durably before the venue sees it; with the journal failed, it is refused
//! (`JOURNAL_FAILED`) instead (fail closed).

use std::sync::atomic::Ordering;

use crossbeam_channel::Sender;

use super::Shared;
use crate::domain::{Market, OrderEvent, RejectReason, RequestKind};
use crate::execution::ExecutionStage;
use crate::journal::{ExecRecord, JournalLink};
use crate::metrics::telemetry::{LatencySlot, Ring, StageName};
use crate::metrics::{LatencyRecorder, Stage};
use crate::runtime::message::{AuditEvent, CanaryCounts, ToExecution};
use crate::runtime::publish;
use crate::runtime::ring::Outbox;
use crate::runtime::stage_loop::Worker;

pub(crate) struct ExecutionWorker<'a> {
    pub stage: ExecutionStage,
    market: Market,
    pub latency: LatencyRecorder,
    pub(crate) to_risk: Outbox<'a, OrderEvent>,
    pub(crate) to_strategy: Outbox<'a, OrderEvent>,
    canary_tx: Sender<CanaryCounts>,
    canary_acked: u32,
    events: Vec<OrderEvent>,
    shared: Shared<'a>,
    handled: u64,
    latency_generation: u64,
    journal: Option<JournalLink>,
    /// Seq of the tick being handled: what the journal files records under.
    tick_seq: u64,
}

impl<'a> ExecutionWorker<'a> {
    pub(crate) fn new(
        stage: ExecutionStage,
        market: Market,
        to_risk: Outbox<'a, OrderEvent>,
        to_strategy: Outbox<'a, OrderEvent>,
        canary_tx: Sender<CanaryCounts>,
        shared: Shared<'a>,
    ) -> Self {
        ExecutionWorker {
            stage,
            market,
            latency: LatencyRecorder::default(),
            to_risk,
            to_strategy,
            canary_tx,
            canary_acked: 0,
            events: Vec::with_capacity(1024),
            shared,
            handled: 0,
            latency_generation: 0,
            journal: None,
            tick_seq: 0,
        }
    }

    /// Journals what this stage sees through `link`.
    pub(crate) fn with_journal(mut self, link: Option<JournalLink>) -> Self {
        self.journal = link;
        self
    }

    /// Journals a request before its venue sees it (durably for a live venue); false when
    /// the journal has failed and the request must not leave.
    #[inline]
    fn journal_request(&mut self, request: &crate::domain::OrderRequest) -> bool {
        let Some(journal) = self.journal.as_mut() else {
            return true;
        };
        let durable = self.stage.is_live(request.broker);
        journal.order(self.tick_seq, ExecRecord::Order(*request), durable)
    }

    /// The venue's events to risk and to the strategies, and to the audit log.
    fn send_events(&mut self) {
        for i in 0..self.events.len() {
            let event = self.events[i];
            self.to_risk.send(event);
            self.to_strategy.send(event);
            if let Some(journal) = self.journal.as_mut() {
                journal.record(self.tick_seq, ExecRecord::Event(event));
            }
            self.shared.audit(match event.fill() {
                Some(fill) => AuditEvent::Fill(fill),
                None => AuditEvent::Event(event),
            });
        }
        self.events.clear();
    }

    pub(crate) fn finish(mut self) -> (ExecutionStage, LatencyRecorder, u64, u64) {
        self.publish();
        self.shared
            .t
            .take_back_latency(LatencySlot::Execution, &mut self.latency);
        (
            self.stage,
            self.latency,
            self.to_risk.full,
            self.to_strategy.full,
        )
    }
}

impl Worker for ExecutionWorker<'_> {
    type In = ToExecution;

    fn handle(&mut self, msg: ToExecution) {
        let timer = self.shared.timer;
        match msg {
            ToExecution::Tick(tick, stamp) => {
                if stamp != 0 {
                    self.latency.record(
                        Stage::RiskToExecution,
                        timer.elapsed_ns(stamp, timer.stamp()),
                    );
                }
                self.tick_seq = tick.seq;
                self.market.on_tick(&tick);
                self.stage.on_tick(&tick, &mut self.events);
            }
            ToExecution::Request(request, tick_start) => {
                let start = timer.stamp();
                if self.journal_request(&request) {
                    self.stage
                        .on_request(&request, &self.market, &mut self.events);
                } else {
                    self.events
                        .push(request.refusal(RejectReason::JournalFailed));
                }
                let end = timer.stamp();
                self.latency
                    .record(Stage::Execution, timer.elapsed_ns(start, end));
                if tick_start != 0 && matches!(request.kind, RequestKind::New { .. }) {
                    self.latency
                        .record(Stage::TickToOrder, timer.elapsed_ns(tick_start, end));
                }
                self.shared.audit(AuditEvent::Order(request));
            }
            // Risk already knows what it refused: only the strategy is told.
            ToExecution::Refused(event) => {
                self.to_strategy.send(event);
                if let Some(journal) = self.journal.as_mut() {
                    journal.record(self.tick_seq, ExecRecord::Refused(event));
                }
                self.shared.audit(AuditEvent::Event(event));
            }
            ToExecution::CanaryOrder => self.canary_acked += 1,
            ToExecution::Checkpoint(ticks) => {
                if let Some(cut) = self.shared.cut {
                    cut.finish(ticks, self.stage.checkpoint());
                }
            }
            ToExecution::CanaryEnd(mut counts) => {
                counts.acked = std::mem::take(&mut self.canary_acked);
                counts.latency_ns = timer.elapsed_ns(counts.stamp, timer.stamp());
                let _ = self.canary_tx.try_send(counts);
            }
        }
        self.send_events();
        self.handled += 1;
        self.shared
            .progress
            .exec_done
            .store(self.handled, Ordering::Release);
    }

    fn idle(&mut self, publish: bool) {
        self.stage.poll(&mut self.events);
        if !self.events.is_empty() {
            self.send_events();
        }
        if publish {
            self.publish();
        }
    }

    fn publish(&mut self) {
        let t = self.shared.t;
        t.stage_events[StageName::Execution as usize].set(self.handled);
        t.ring_received[Ring::RiskToExecution as usize].set(self.handled);
        self.to_risk.publish();
        self.to_strategy.publish();
        publish::latency(
            t,
            LatencySlot::Execution,
            &mut self.latency,
            None,
            &mut self.latency_generation,
        );
    }
}
