//! The metrics and health HTTP endpoint.
//!
//! Contract:
//! - `GET /metrics`: the Prometheus exposition ([`crate::metrics::exposition`]).
//! - `GET /health` (liveness), `GET /health/ready` (200 or 503), `GET /health/detailed`:
//!   JSON ([`crate::ops::health`]).
//! - Any other path is 404; any other method on a known path is 405 with `Allow: GET`.
//!   A query string is ignored.
//! - One thread, `alpha-panda-http`, answers one request at a time (tiny_http reads the
//!   requests on its own connection threads). It only reads [`Telemetry`], so it never
//!   blocks a stage. A client that goes away mid-response is ignored.
//! - [`MetricsServer::shutdown`] (or drop) stops and joins the thread; tiny_http's own
//!   accept thread closes the listener a moment later.
//! - tiny_http stops accepting for good after an accept error (e.g. out of file
//!   descriptors); that is logged as an error and the engine keeps trading.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use tiny_http::{Header, Method, Request, Response, Server};

use crate::metrics::exposition;
use crate::metrics::telemetry::Telemetry;
use crate::ops::health;
use crate::runtime::RunControl;

/// A running metrics endpoint.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    inner: Option<Running>,
}

struct Running {
    server: Arc<Server>,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running").finish_non_exhaustive()
    }
}

impl MetricsServer {
    /// Binds `addr` (port 0 picks a free port, see [`MetricsServer::local_addr`]) and starts
    /// the serving thread.
    pub fn start(
        addr: SocketAddr,
        telemetry: Arc<Telemetry>,
        control: Arc<RunControl>,
    ) -> io::Result<MetricsServer> {
        let named = |e: &dyn std::fmt::Display| format!("metrics.addr {addr}: {e}");
        let listener = TcpListener::bind(addr).map_err(|e| io::Error::new(e.kind(), named(&e)))?;
        let local = listener
            .local_addr()
            .map_err(|e| io::Error::new(e.kind(), named(&e)))?;
        let server =
            Server::from_listener(listener, None).map_err(|e| io::Error::other(named(&e)))?;
        let server = Arc::new(server);
        let stop = Arc::new(AtomicBool::new(false));
        telemetry
            .observed
            .store(true, std::sync::atomic::Ordering::Release);
        let thread = std::thread::Builder::new()
            .name("alpha-panda-http".to_owned())
            .spawn({
                let server = Arc::clone(&server);
                let stop = Arc::clone(&stop);
                move || serve(&server, &stop, &telemetry, &control)
            })
            .map_err(|e| io::Error::new(e.kind(), named(&e)))?;
        Ok(MetricsServer {
            addr: local,
            inner: Some(Running {
                server,
                stop,
                thread,
            }),
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving (a request being answered completes) and joins the thread.
    pub fn shutdown(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        if let Some(running) = self.inner.take() {
            running.stop.store(true, Ordering::Release);
            running.server.unblock();
            if running.thread.join().is_err() {
                tracing::error!("metrics endpoint thread panicked");
            }
            // Dropping the last `Server` closes the listener.
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop_inner();
    }
}

/// Requests answered at once, each on its own short-lived thread, so a client that stops
/// reading stalls only its own answers, never `/health` for the next probe.
const MAX_IN_FLIGHT: usize = 64;
/// Requests of one connection answered at once (pipelined requests beyond that wait).
const PER_CONNECTION: usize = 2;

/// Requests being answered, in total and per peer (address and port: one connection).
#[derive(Default)]
struct InFlight {
    total: usize,
    per_peer: std::collections::HashMap<Option<std::net::SocketAddr>, usize>,
}

impl InFlight {
    fn admit(&mut self, peer: Option<std::net::SocketAddr>) -> bool {
        let mine = self.per_peer.entry(peer).or_insert(0);
        if self.total >= MAX_IN_FLIGHT || *mine >= PER_CONNECTION {
            return false;
        }
        *mine += 1;
        self.total += 1;
        true
    }

    fn done(&mut self, peer: Option<std::net::SocketAddr>) {
        self.total = self.total.saturating_sub(1);
        if let Some(n) = self.per_peer.get_mut(&peer) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_peer.remove(&peer);
            }
        }
    }
}

fn serve(
    server: &Server,
    stop: &AtomicBool,
    telemetry: &Arc<Telemetry>,
    control: &Arc<RunControl>,
) {
    let in_flight = Arc::new(parking_lot::Mutex::new(InFlight::default()));
    // Requests over the limits get a 503 from one thread of their own: if it blocks on a
    // client that does not read, only those refusals wait.
    let (refuse_tx, refuse_rx) = crossbeam_channel::unbounded::<Request>();
    let refuser = std::thread::Builder::new()
        .name("alpha-panda-http-503".to_owned())
        .spawn(move || {
            for request in refuse_rx {
                respond(
                    request,
                    503,
                    "text/plain; charset=utf-8",
                    "too many requests in flight\n".into(),
                );
            }
        });
    if let Err(e) = refuser {
        tracing::error!(error = %e, "metrics endpoint could not start its refusal thread");
    }
    while !stop.load(Ordering::Acquire) {
        match server.recv() {
            Ok(request) => {
                let peer = request.remote_addr().copied();
                if !in_flight.lock().admit(peer) {
                    let _ = refuse_tx.send(request);
                    continue;
                }
                let (t, count) = (Arc::clone(telemetry), Arc::clone(&in_flight));
                let control = Arc::clone(control);
                let spawned = std::thread::Builder::new()
                    .name("alpha-panda-http-req".to_owned())
                    .spawn(move || {
                        handle(request, &t, &control);
                        count.lock().done(peer);
                    });
                if let Err(e) = spawned {
                    in_flight.lock().done(peer);
                    tracing::error!(error = %e, "metrics endpoint could not start a request thread");
                }
            }
            Err(e) => {
                if stop.load(Ordering::Acquire) {
                    break;
                }
                // An accept failure: tiny_http's accept thread has stopped, so nothing more
                // will come. Wait for shutdown without spinning.
                tracing::error!(error = %e, "metrics endpoint stopped accepting connections");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

enum Route {
    Metrics,
    Live,
    Ready,
    Detailed,
}

fn handle(request: Request, t: &Telemetry, control: &RunControl) {
    let path = request.url().split('?').next().unwrap_or_default();
    let route = match path {
        "/metrics" => Route::Metrics,
        "/health" => Route::Live,
        "/health/ready" => Route::Ready,
        "/health/detailed" => Route::Detailed,
        _ => {
            respond(
                request,
                404,
                "text/plain; charset=utf-8",
                "not found\n".into(),
            );
            return;
        }
    };
    if *request.method() != Method::Get {
        let mut response = Response::from_string("method not allowed\n").with_status_code(405);
        add_header(&mut response, "Content-Type", "text/plain; charset=utf-8");
        add_header(&mut response, "Allow", "GET");
        let _ = request.respond(response);
        return;
    }
    const JSON: &str = "application/json";
    match route {
        Route::Metrics => {
            let mut body = String::with_capacity(32 * 1024);
            exposition::render(t, &mut body);
            respond(request, 200, exposition::content_type(), body);
        }
        Route::Live => {
            let (code, body) = health::liveness(t, control);
            respond(request, code, JSON, json_body(&body));
        }
        Route::Ready => {
            let (code, body) = health::readiness(t);
            respond(request, code, JSON, json_body(&body));
        }
        Route::Detailed => {
            let body = health::detailed(t, control);
            respond(request, 200, JSON, json_body(&body));
        }
    }
}

fn json_body(v: &serde_json::Value) -> String {
    let mut s = v.to_string();
    s.push('\n');
    s
}

fn respond(request: Request, code: u16, content_type: &str, body: String) {
    let mut response = Response::from_string(body).with_status_code(code);
    add_header(&mut response, "Content-Type", content_type);
    // The client may have gone away; nothing to do about it.
    let _ = request.respond(response);
}

/// Adds a header (only static ASCII ones are passed, which tiny_http always accepts).
fn add_header<R: std::io::Read>(response: &mut Response<R>, name: &str, value: &str) {
    if let Ok(h) = Header::from_bytes(name.as_bytes(), value.as_bytes()) {
        response.add_header(h);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::telemetry::TelemetryShape;
    use std::io::{Read, Write};
    use std::net::TcpStream;

    fn get(addr: SocketAddr, request: &str) -> String {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        s.write_all(request.as_bytes()).expect("write");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    fn server() -> MetricsServer {
        let t = Arc::new(Telemetry::new(TelemetryShape::default()));
        MetricsServer::start("127.0.0.1:0".parse().expect("addr"), t, Arc::default())
            .expect("start")
    }

    #[test]
    fn routes_methods_and_queries() {
        let s = server();
        let addr = s.local_addr();
        assert_ne!(addr.port(), 0);
        let r = get(addr, "GET /metrics?x=1 HTTP/1.0\r\n\r\n");
        assert!(
            r.starts_with("HTTP/1.0 200") || r.starts_with("HTTP/1.1 200"),
            "{r}"
        );
        assert!(r.contains("# TYPE alpha_panda_ready gauge"), "{r}");
        let r = get(addr, "POST /metrics HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
        assert!(r.contains(" 405 "), "{r}");
        assert!(r.contains("Allow: GET"), "{r}");
        let r = get(addr, "GET /nope HTTP/1.0\r\n\r\n");
        assert!(r.contains(" 404 "), "{r}");
        let r = get(addr, "GET /health/ready HTTP/1.0\r\n\r\n");
        assert!(r.contains(" 503 "), "{r}");
        assert!(r.contains("application/json"), "{r}");
        s.shutdown();
        // tiny_http's accept thread drops the listener just after.
        let closed = (0..200).any(|_| {
            std::thread::sleep(Duration::from_millis(10));
            TcpStream::connect(addr).is_err()
        });
        assert!(closed, "listener still open after shutdown");
    }

    #[test]
    fn client_that_disconnects_does_not_kill_the_server() {
        let s = server();
        let addr = s.local_addr();
        for _ in 0..5 {
            let mut c = TcpStream::connect(addr).expect("connect");
            let _ = c.write_all(b"GET /health/detailed HTTP/1.1\r\nHost: x\r\n\r\n");
            drop(c);
        }
        let r = get(addr, "GET /health HTTP/1.0\r\n\r\n");
        assert!(r.contains("\"status\":\"alive\""), "{r}");
        drop(s);
    }

    #[test]
    fn address_in_use_names_the_address() {
        let s = server();
        let addr = s.local_addr();
        let t = Arc::new(Telemetry::new(TelemetryShape::default()));
        let err = MetricsServer::start(addr, t, Arc::default()).expect_err("port taken");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        assert!(
            err.to_string()
                .starts_with(&format!("metrics.addr {addr}: ")),
            "{err}"
        );
    }
}
