//! The REST thread of a Kite venue: places, modifies and cancels orders over HTTP (a
//! blocking client on its own thread, never a stage thread), at most
//! `max_orders_per_second` order requests in any one-second window, and polls `GET /orders`
//! while orders are open.
//!
//! Errors (Kite's `error_type`): `TokenException` halts the venue (every later order is
//! refused: log in again); `InputException`, `OrderException`, `MarginException` and other
//! refusals reject the order with Kite's message. A placement whose outcome is unknown (a
//! timeout, HTTP 429 or 5xx, `NetworkException`) is looked up by its tag in `GET /orders`
//! before anything else happens: it is never sent twice.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use serde_json::Value;

use super::wire::error_of;
use crate::clock::Stopwatch;
use crate::domain::RejectReason;
use crate::metrics::telemetry::{LatencySlot, Telemetry};
use crate::metrics::{LatencyRecorder, Stage};

/// What the venue asks the thread to do.
#[derive(Clone, Debug)]
pub enum Command {
    Place {
        client: u64,
        /// The form fields (exchange, tradingsymbol, ..., tag).
        form: Vec<(&'static str, String)>,
        tag: String,
        /// Receive time of the tick behind the order (`clock::receive_now_ns`), for
        /// `tick_to_wire`; 0 when unknown.
        tick_ns: u64,
    },
    Modify {
        client: u64,
        kite_id: String,
        form: Vec<(&'static str, String)>,
    },
    Cancel {
        client: u64,
        kite_id: String,
    },
}

/// What comes back.
#[derive(Clone, Debug)]
pub enum Answer {
    Placed {
        client: u64,
        kite_id: String,
    },
    Refused {
        client: u64,
        reason: RejectReason,
        message: String,
    },
    ModifyRefused {
        client: u64,
        message: String,
    },
    CancelRefused {
        client: u64,
        message: String,
    },
    /// Rows of `GET /orders`.
    Orders(Vec<Value>),
}

/// Connection settings of the thread.
#[derive(Debug)]
pub struct Rest {
    pub root: String,
    /// `token api_key:access_token`; never logged.
    pub authorization: String,
    pub max_per_second: usize,
    pub poll: Duration,
    /// Orders the venue holds open: polling runs while this is above 0.
    pub open: Arc<AtomicUsize>,
    /// Set on `TokenException`.
    pub halted: Arc<AtomicBool>,
    pub stop: Arc<AtomicBool>,
    /// Where `tick_to_wire` is handed off (live runs).
    pub telemetry: Option<Arc<Telemetry>>,
}

enum Outcome {
    Ok(Value),
    /// Kite answered with an error: `(http status, error_type, message)`.
    Refused(u16, String, String),
    /// No answer, or one that does not tell what happened.
    Unknown(String),
}

/// Runs the thread until `stop` and the command channel is drained.
pub fn run(rest: &Rest, commands: &Receiver<Command>, answers: &Sender<Answer>) {
    let mut wire = LatencyRecorder::default();
    run_loop(rest, commands, answers, &mut wire);
    // Everything recorded reaches telemetry: fold what is pending, then hand off the rest.
    if let Some(t) = &rest.telemetry {
        t.read_latency(LatencySlot::Wire, |_| ());
        let _ = t.hand_off_latency(LatencySlot::Wire, &mut wire);
        t.read_latency(LatencySlot::Wire, |_| ());
    }
}

fn run_loop(
    rest: &Rest,
    commands: &Receiver<Command>,
    answers: &Sender<Answer>,
    wire: &mut LatencyRecorder,
) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(7)))
        .build()
        .into();
    let clock = Stopwatch::start();
    let mut sent: VecDeque<Duration> = VecDeque::new();
    let mut last_poll = Duration::ZERO;
    loop {
        match commands.recv_timeout(rest.poll.min(Duration::from_millis(100))) {
            Ok(command) => {
                handle(rest, &agent, &clock, &mut sent, command, answers, wire);
                if let Some(t) = &rest.telemetry {
                    let _ = t.hand_off_latency(LatencySlot::Wire, wire);
                }
            }
            Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {
                if rest.stop.load(Ordering::Acquire) {
                    return;
                }
            }
        }
        if rest.open.load(Ordering::Acquire) > 0 && clock.elapsed() - last_poll >= rest.poll {
            last_poll = clock.elapsed();
            if let Outcome::Ok(rows) = call(rest, &agent, "GET", "/orders", &[]) {
                let rows = rows.as_array().cloned().unwrap_or_default();
                let _ = answers.send(Answer::Orders(rows));
            }
        }
    }
}

fn handle(
    rest: &Rest,
    agent: &ureq::Agent,
    clock: &Stopwatch,
    sent: &mut VecDeque<Duration>,
    command: Command,
    answers: &Sender<Answer>,
    wire: &mut LatencyRecorder,
) {
    if rest.halted.load(Ordering::Acquire) {
        let answer = match command {
            Command::Place { client, .. } => Answer::Refused {
                client,
                reason: RejectReason::BrokerUnavailable,
                message: "the Kite session expired: log in again".into(),
            },
            Command::Modify { client, .. } => Answer::ModifyRefused {
                client,
                message: "the Kite session expired".into(),
            },
            Command::Cancel { client, .. } => Answer::CancelRefused {
                client,
                message: "the Kite session expired".into(),
            },
        };
        let _ = answers.send(answer);
        return;
    }
    throttle(clock, sent, rest.max_per_second);
    let answer = request(rest, agent, command, wire);
    // The window counts from when the answer came back: Kite counts arrivals, and an
    // earlier request may have arrived late, so a send time would undercount.
    sent.push_back(clock.elapsed());
    if let Some(answer) = answer {
        let _ = answers.send(answer);
    }
}

/// Sends one order request; the answer for the venue (`None`: Kite's order update says).
fn request(
    rest: &Rest,
    agent: &ureq::Agent,
    command: Command,
    wire: &mut LatencyRecorder,
) -> Option<Answer> {
    let answer = match command {
        Command::Place {
            client,
            form,
            tag,
            tick_ns,
        } => {
            if tick_ns > 0 {
                wire.record(
                    Stage::TickToWire,
                    crate::clock::receive_now_ns().saturating_sub(tick_ns),
                );
            }
            match call(rest, agent, "POST", "/orders/regular", &form) {
                Outcome::Ok(data) => match data.get("order_id").and_then(Value::as_str) {
                    Some(id) => Answer::Placed {
                        client,
                        kite_id: id.to_owned(),
                    },
                    None => Answer::Refused {
                        client,
                        reason: RejectReason::BrokerUnavailable,
                        message: format!("Kite answered without an order_id: {data}"),
                    },
                },
                Outcome::Refused(status, kind, message) if !ambiguous(status, &kind) => {
                    Answer::Refused {
                        client,
                        reason: refusal(rest, status, &kind),
                        message: format!("{kind}: {message}"),
                    }
                }
                Outcome::Refused(_, _, why) | Outcome::Unknown(why) => {
                    // Did it reach Kite? Its tag says, without placing it twice.
                    match find_by_tag(rest, agent, &tag) {
                        Some(id) => Answer::Placed {
                            client,
                            kite_id: id,
                        },
                        None => Answer::Refused {
                            client,
                            reason: RejectReason::BrokerUnavailable,
                            message: format!("not placed ({why}); not retried"),
                        },
                    }
                }
            }
        }
        Command::Modify {
            client,
            kite_id,
            form,
        } => match call(
            rest,
            agent,
            "PUT",
            &format!("/orders/regular/{kite_id}"),
            &form,
        ) {
            Outcome::Ok(_) => return None,
            Outcome::Refused(_, kind, message) => Answer::ModifyRefused {
                client,
                message: format!("{kind}: {message}"),
            },
            Outcome::Unknown(message) => Answer::ModifyRefused { client, message },
        },
        Command::Cancel { client, kite_id } => {
            match call(
                rest,
                agent,
                "DELETE",
                &format!("/orders/regular/{kite_id}"),
                &[],
            ) {
                Outcome::Ok(_) => return None,
                Outcome::Refused(_, kind, message) => Answer::CancelRefused {
                    client,
                    message: format!("{kind}: {message}"),
                },
                Outcome::Unknown(message) => Answer::CancelRefused { client, message },
            }
        }
    };
    Some(answer)
}

/// Waits until one more request keeps at most `max` in any one-second window, counting each
/// earlier request from when its answer came back.
fn throttle(clock: &Stopwatch, sent: &mut VecDeque<Duration>, max: usize) {
    let window = Duration::from_secs(1);
    while sent.len() >= max.max(1) {
        let Some(&oldest) = sent.front() else {
            break;
        };
        let since = clock.elapsed().saturating_sub(oldest);
        if since < window {
            std::thread::sleep(window - since);
        }
        sent.pop_front();
    }
}

/// Errors after which the order may or may not exist at Kite.
fn ambiguous(status: u16, kind: &str) -> bool {
    status == 429 || status >= 500 || kind == "NetworkException"
}

fn refusal(rest: &Rest, status: u16, kind: &str) -> RejectReason {
    if status == 403 || kind == "TokenException" {
        rest.halted.store(true, Ordering::Release);
        tracing::error!(target: "error", "Kite refused the access token (TokenException): trading on this venue stops; log in again (alpha-panda kite session) and restart");
        RejectReason::BrokerUnavailable
    } else {
        RejectReason::BrokerRejected
    }
}

/// The order with `tag` in today's order book, if any.
fn find_by_tag(rest: &Rest, agent: &ureq::Agent, tag: &str) -> Option<String> {
    let Outcome::Ok(rows) = call(rest, agent, "GET", "/orders", &[]) else {
        return None;
    };
    rows.as_array()?
        .iter()
        .find(|o| o.get("tag").and_then(Value::as_str) == Some(tag))
        .and_then(|o| o.get("order_id")?.as_str().map(str::to_owned))
}

/// One `GET` at start-up (reconciliation), outside the thread: Kite's `data`, or why not.
///
/// # Errors
/// No answer, or Kite's error (type and message).
pub fn get_data(root: &str, authorization: &str, path: &str) -> Result<Value, String> {
    start_up_call(root, authorization, "GET", path)
}

/// Cancels a regular order at start-up (an open order an earlier run left behind).
///
/// # Errors
/// As `get_data`.
pub fn cancel_order(root: &str, authorization: &str, kite_id: &str) -> Result<Value, String> {
    start_up_call(
        root,
        authorization,
        "DELETE",
        &format!("/orders/regular/{kite_id}"),
    )
}

fn start_up_call(
    root: &str,
    authorization: &str,
    method: &str,
    path: &str,
) -> Result<Value, String> {
    let rest = Rest {
        root: root.to_owned(),
        authorization: authorization.to_owned(),
        max_per_second: 10,
        poll: Duration::from_secs(1),
        open: Arc::default(),
        halted: Arc::default(),
        stop: Arc::default(),
        telemetry: None,
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(15)))
        .build()
        .into();
    match call(&rest, &agent, method, path, &[]) {
        Outcome::Ok(data) => Ok(data),
        Outcome::Refused(status, kind, message) => {
            Err(format!("{method} {path}: HTTP {status} {kind}: {message}"))
        }
        Outcome::Unknown(why) => Err(why),
    }
}

/// One request; Kite's `data` on success.
fn call(
    rest: &Rest,
    agent: &ureq::Agent,
    method: &str,
    path: &str,
    form: &[(&'static str, String)],
) -> Outcome {
    let url = format!("{}{path}", rest.root);
    let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let result = match method {
        "POST" => with_headers(agent.post(&url), rest).send_form(fields),
        "PUT" => with_headers(agent.put(&url), rest).send_form(fields),
        "DELETE" => with_headers_get(agent.delete(&url), rest).call(),
        _ => with_headers_get(agent.get(&url), rest).call(),
    };
    let mut response = match result {
        Ok(r) => r,
        Err(e) => return Outcome::Unknown(format!("{method} {path}: {e}")),
    };
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    if status == 200 {
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        return match v.get("data") {
            Some(data) => Outcome::Ok(data.clone()),
            None => Outcome::Unknown(format!("{method} {path}: a 200 without data")),
        };
    }
    let (kind, message) = error_of(&body);
    Outcome::Refused(status, kind, message)
}

fn with_headers(
    request: ureq::RequestBuilder<ureq::typestate::WithBody>,
    rest: &Rest,
) -> ureq::RequestBuilder<ureq::typestate::WithBody> {
    request
        .header("X-Kite-Version", "3")
        .header("Authorization", &rest.authorization)
}

fn with_headers_get(
    request: ureq::RequestBuilder<ureq::typestate::WithoutBody>,
    rest: &Rest,
) -> ureq::RequestBuilder<ureq::typestate::WithoutBody> {
    request
        .header("X-Kite-Version", "3")
        .header("Authorization", &rest.authorization)
}
