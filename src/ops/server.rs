//! The metrics and health HTTP endpoint, built to outlive connection floods.
//!
//! Contract:
//! - Routes and answers are [`super::http`]'s: `GET /metrics`, `/health`, `/health/ready`,
//!   `/health/detailed`, one request per connection. It only reads [`Telemetry`], so it
//!   never blocks a stage.
//! - One accept thread, `alpha-panda-http`; each admitted connection is served on its own
//!   short-lived thread, so a slow client stalls only itself.
//! - [`Limits`]: at most `max_connections` served at once (more get a best-effort 503 and
//!   are closed at once), lowered at start to a quarter of the process's open-file limit
//!   ([`connection_cap`]) so a flood cannot take the descriptors the journal and outputs
//!   need; the request head must arrive within `head_timeout` (else 408 and
//!   close) and fit in `max_head_bytes` (else 431); a stalled answer is abandoned after
//!   `write_timeout`. Every connection dropped so is counted in
//!   `alpha_panda_http_connections_dropped_total{reason}`.
//! - The accept loop only exits on shutdown, never on an error:
//!   - out of file descriptors (EMFILE, ENFILE): it frees a spare descriptor kept for this,
//!     accepts the waiting connection on it, answers 503 and closes it (so the backlog
//!     drains rather than queueing clients it cannot serve), then takes the spare back;
//!   - a broken listener (EBADF, EINVAL, or any other error [`BROKEN_AFTER`] times in a
//!     row): it closes it and binds the same address again, retrying with backoff;
//!   - anything else: it backs off (10 ms doubling to 1 s) and retries.
//! - What happened is logged, at most once per [`LOG_EVERY`] per kind with the number of
//!   repeats in between: accept errors, descriptor exhaustion and re-binds at ERROR (so in
//!   `error.log`), refused and timed-out connections as warnings in `app.log`.
//! - [`MetricsServer::shutdown`] (or drop) stops the accept loop within [`ACCEPT_WAIT`],
//!   closes the listener and joins the thread. Connections being served finish on their
//!   own threads, within their timeouts.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;
use socket2::{Domain, Protocol, Socket, Type};

use crate::clock::Stopwatch;
use crate::metrics::telemetry::{HttpDrop, Telemetry};
use crate::ops::http::{self, HeadError, Response};
use crate::runtime::RunControl;

/// The endpoint's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once; more are answered 503 and closed.
    pub max_connections: u64,
    /// Time a client has to send its whole request head.
    pub head_timeout: Duration,
    /// Time a client has to take each part of the answer.
    pub write_timeout: Duration,
    /// Longest request head, bytes.
    pub max_head_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 64,
            head_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(5),
            max_head_bytes: 8 * 1024,
        }
    }
}

/// Longest wait in `accept`, so the loop sees a shutdown.
pub const ACCEPT_WAIT: Duration = Duration::from_millis(200);
/// Pending connections the kernel queues for `accept`.
const BACKLOG: i32 = 128;
/// Shortest interval between two log lines of one kind.
pub const LOG_EVERY: Duration = Duration::from_secs(10);
/// Unclassified accept errors in a row after which the listener is bound again.
pub const BROKEN_AFTER: u32 = 20;
/// After answering, how long unread request bytes are drained before closing, so the
/// close does not reset the connection under the answer.
const LINGER: Duration = Duration::from_secs(1);
const BACKOFF_MIN: Duration = Duration::from_millis(10);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// The endpoint may hold at most 1/`DESCRIPTOR_SHARE` of the open-file limit in
/// connections; the rest is the engine's. Found by CI: under `ulimit -n 64` a flood during
/// start-up took every descriptor and the run died opening its journal.
const DESCRIPTOR_SHARE: u64 = 4;
/// errno values, the same on Linux, macOS and the BSDs.
const EBADF: i32 = 9;
const ENFILE: i32 = 23;
const EMFILE: i32 = 24;

/// A running metrics endpoint.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    inner: Option<Running>,
}

#[derive(Debug)]
struct Running {
    shared: Arc<Shared>,
    thread: JoinHandle<()>,
}

impl MetricsServer {
    /// Binds `addr` (port 0 picks a free port, see [`MetricsServer::local_addr`]) and starts
    /// serving with the default [`Limits`].
    ///
    /// # Errors
    /// Binding fails (the message names `metrics.addr`), or the thread cannot start.
    pub fn start(
        addr: SocketAddr,
        telemetry: Arc<Telemetry>,
        control: Arc<RunControl>,
    ) -> io::Result<MetricsServer> {
        MetricsServer::start_with(addr, telemetry, control, Limits::default())
    }

    /// [`MetricsServer::start`] with other limits.
    ///
    /// # Errors
    /// As [`MetricsServer::start`].
    pub fn start_with(
        addr: SocketAddr,
        telemetry: Arc<Telemetry>,
        control: Arc<RunControl>,
        limits: Limits,
    ) -> io::Result<MetricsServer> {
        let named = |e: io::Error| io::Error::new(e.kind(), format!("metrics.addr {addr}: {e}"));
        let nofile = open_file_limit();
        let cap = connection_cap(limits.max_connections, nofile);
        if cap < limits.max_connections {
            tracing::warn!(target: "app", configured = limits.max_connections, cap, open_file_limit = nofile.unwrap_or(0), "metrics endpoint: connection cap lowered to a quarter of the open-file limit, so a flood cannot starve the engine of descriptors");
        }
        let limits = Limits {
            max_connections: cap,
            ..limits
        };
        let listener = bind(addr).map_err(named)?;
        let local = listener
            .local_addr()
            .map_err(named)?
            .as_socket()
            .ok_or_else(|| named(io::Error::other("not an IP address")))?;
        telemetry.observed.store(true, Ordering::Release);
        let shared = Arc::new(Shared::new(telemetry, control, limits));
        let thread = std::thread::Builder::new()
            .name("alpha-panda-http".to_owned())
            .spawn({
                let shared = Arc::clone(&shared);
                move || accept_loop(Some(listener), local, &shared)
            })
            .map_err(named)?;
        Ok(MetricsServer {
            addr: local,
            inner: Some(Running { shared, thread }),
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, closes the listener and joins the accept thread.
    pub fn shutdown(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        if let Some(running) = self.inner.take() {
            running.shared.stop.store(true, Ordering::Release);
            if running.thread.join().is_err() {
                tracing::error!("metrics endpoint thread panicked");
            }
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop_inner();
    }
}

/// Kinds of log line, each throttled on its own.
#[derive(Clone, Copy)]
enum Event {
    NoDescriptors,
    AcceptError,
    Rebind,
    Limit,
    Timeout,
    TooLarge,
    Spawn,
}

#[derive(Default)]
struct Throttle {
    last: Option<Stopwatch>,
    repeats: u64,
}

/// What the accept thread and the connection threads share.
struct Shared {
    telemetry: Arc<Telemetry>,
    control: Arc<RunControl>,
    limits: Limits,
    stop: AtomicBool,
    /// Times the listener was bound again.
    rebinds: AtomicU64,
    throttles: Mutex<[Throttle; 7]>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn new(telemetry: Arc<Telemetry>, control: Arc<RunControl>, limits: Limits) -> Shared {
        Shared {
            telemetry,
            control,
            limits,
            stop: AtomicBool::new(false),
            rebinds: AtomicU64::new(0),
            throttles: Mutex::new(Default::default()),
        }
    }

    /// `Some(repeats since the last line)` when a line of this kind may be logged now.
    fn may_log(&self, event: Event) -> Option<u64> {
        let mut throttles = self.throttles.lock();
        let throttle = &mut throttles[event as usize];
        if throttle.last.is_some_and(|w| w.elapsed() < LOG_EVERY) {
            throttle.repeats += 1;
            return None;
        }
        throttle.last = Some(Stopwatch::start());
        Some(std::mem::take(&mut throttle.repeats))
    }

    fn open(&self) -> u64 {
        self.telemetry.http_open.load(Ordering::Acquire)
    }
}

/// What an accept error calls for.
#[derive(Debug, PartialEq, Eq)]
enum AcceptError {
    /// Nothing arrived in time, or the client left first: accept again.
    Idle,
    /// Out of file descriptors.
    NoDescriptors,
    /// The listener cannot accept any more: bind again.
    Broken,
    /// Anything else: back off and retry.
    Retry,
}

fn classify(e: &io::Error) -> AcceptError {
    use io::ErrorKind as K;
    match (e.kind(), e.raw_os_error()) {
        (_, Some(EMFILE | ENFILE)) => AcceptError::NoDescriptors,
        (_, Some(EBADF)) | (K::InvalidInput, _) => AcceptError::Broken,
        (K::WouldBlock | K::TimedOut | K::Interrupted | K::ConnectionAborted, _)
        | (K::ConnectionReset, _) => AcceptError::Idle,
        _ => AcceptError::Retry,
    }
}

/// Binds and listens; `accept` on the result waits at most [`ACCEPT_WAIT`].
fn bind(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // As std's TcpListener does: a re-bind must not wait out TIME_WAIT of old connections.
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    // On a listening socket, the receive timeout bounds `accept`.
    socket.set_read_timeout(Some(ACCEPT_WAIT))?;
    Ok(socket)
}

/// The soft `RLIMIT_NOFILE`, when the OS says.
fn open_file_limit() -> Option<u64> {
    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .ok()
        .map(|(soft, _)| soft)
}

/// Connections served at once under an open-file limit of `nofile`: `max`, or
/// 1/[`DESCRIPTOR_SHARE`] of the limit when that is less (at least one).
pub fn connection_cap(max: u64, nofile: Option<u64>) -> u64 {
    nofile.map_or(max, |n| max.min((n / DESCRIPTOR_SHARE).max(1)))
}

/// A descriptor held in reserve, given up to accept (and close) a connection when the
/// process has run out.
fn spare_descriptor() -> Option<File> {
    File::open("/dev/null").ok()
}

struct Backoff(Duration);

impl Backoff {
    fn next(&mut self) -> Duration {
        let wait = self.0;
        self.0 = (self.0 * 2).min(BACKOFF_MAX);
        wait
    }

    fn reset(&mut self) {
        self.0 = BACKOFF_MIN;
    }
}

fn accept_loop(mut listener: Option<Socket>, addr: SocketAddr, shared: &Arc<Shared>) {
    let mut spare = spare_descriptor();
    let mut backoff = Backoff(BACKOFF_MIN);
    let mut failures = 0u32;
    while !shared.stop.load(Ordering::Acquire) {
        let Some(socket) = listener.as_ref() else {
            std::thread::sleep(backoff.next());
            listener = rebind(addr, shared);
            if listener.is_some() {
                backoff.reset();
            }
            continue;
        };
        let e = match socket.accept() {
            Ok((conn, _)) => {
                failures = 0;
                backoff.reset();
                admit(conn.into(), shared);
                continue;
            }
            Err(e) => e,
        };
        match classify(&e) {
            AcceptError::Idle => {}
            AcceptError::NoDescriptors => {
                let shed = match spare.take() {
                    Some(file) => {
                        drop(file);
                        let shed = socket.accept().ok().map(|(conn, _)| refuse(conn.into()));
                        spare = spare_descriptor();
                        shed.is_some()
                    }
                    None => false,
                };
                if shed {
                    shared.telemetry.count_http_drop(HttpDrop::NoDescriptor);
                } else {
                    // No spare to shed with: wait for descriptors to free up.
                    spare = spare.or_else(spare_descriptor);
                    std::thread::sleep(backoff.next());
                }
                if let Some(repeats) = shared.may_log(Event::NoDescriptors) {
                    tracing::error!(target: "app", error = %e, addr = %addr, serving = shared.open(), repeats, "metrics endpoint: out of file descriptors; closing new connections until descriptors free up");
                }
            }
            AcceptError::Broken => {
                if let Some(repeats) = shared.may_log(Event::Rebind) {
                    tracing::error!(target: "app", error = %e, addr = %addr, repeats, "metrics endpoint: listener broken; binding it again");
                }
                listener = None;
            }
            AcceptError::Retry => {
                failures += 1;
                if let Some(repeats) = shared.may_log(Event::AcceptError) {
                    tracing::error!(target: "app", error = %e, addr = %addr, repeats, "metrics endpoint: accept failed; retrying");
                }
                if failures >= BROKEN_AFTER {
                    failures = 0;
                    listener = None;
                } else {
                    std::thread::sleep(backoff.next());
                }
            }
        }
    }
}

/// Binds `addr` again, or logs why not (the caller retries).
fn rebind(addr: SocketAddr, shared: &Shared) -> Option<Socket> {
    match bind(addr) {
        Ok(socket) => {
            let n = shared.rebinds.fetch_add(1, Ordering::AcqRel) + 1;
            tracing::error!(target: "app", addr = %addr, rebinds = n, "metrics endpoint: listening again");
            Some(socket)
        }
        Err(e) => {
            if let Some(repeats) = shared.may_log(Event::Rebind) {
                tracing::error!(target: "app", error = %e, addr = %addr, repeats, "metrics endpoint: cannot bind again yet; retrying");
            }
            None
        }
    }
}

/// Decrements the open-connection count when a connection's thread ends (or never starts).
struct OpenSlot(Arc<Shared>);

impl Drop for OpenSlot {
    fn drop(&mut self) {
        self.0.telemetry.http_open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Serves `conn` on a thread of its own, or refuses it when the cap is reached.
fn admit(conn: TcpStream, shared: &Arc<Shared>) {
    let limit = shared.limits.max_connections;
    // Only this thread adds to the count, so it cannot pass the cap between check and add.
    if shared.open() >= limit {
        shared.telemetry.count_http_drop(HttpDrop::Limit);
        refuse(conn);
        if let Some(repeats) = shared.may_log(Event::Limit) {
            tracing::warn!(target: "app", limit, repeats, "metrics endpoint: connection limit reached; refusing new connections with 503");
        }
        return;
    }
    shared.telemetry.http_open.fetch_add(1, Ordering::AcqRel);
    let slot = OpenSlot(Arc::clone(shared));
    let spawned = std::thread::Builder::new()
        .name("alpha-panda-http-conn".to_owned())
        .spawn(move || serve(conn, &slot.0));
    // On failure the closure, with the connection and its slot, is dropped: closed, uncounted.
    if let Err(e) = spawned
        && let Some(repeats) = shared.may_log(Event::Spawn)
    {
        tracing::error!(target: "app", error = %e, repeats, "metrics endpoint: cannot start a connection thread; connection closed");
    }
}

/// A best-effort 503 that never waits on the client, then close.
fn refuse(mut conn: TcpStream) {
    const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 9\r\nRetry-After: 1\r\nConnection: close\r\n\r\nbusy now\n";
    if conn.set_nonblocking(true).is_ok() {
        let _ = conn.write(BUSY);
    }
}

fn serve(mut conn: TcpStream, shared: &Shared) {
    let limits = &shared.limits;
    let _ = conn.set_nodelay(true);
    if conn.set_write_timeout(Some(limits.write_timeout)).is_err() {
        return;
    }
    let response = match http::read_head(&mut conn, limits.head_timeout, limits.max_head_bytes) {
        Ok(head) => http::answer(&head, &shared.telemetry, &shared.control),
        Err(HeadError::Timeout) => {
            shared.telemetry.count_http_drop(HttpDrop::Timeout);
            if let Some(repeats) = shared.may_log(Event::Timeout) {
                tracing::warn!(target: "app", timeout_ms = limits.head_timeout.as_millis() as u64, repeats, "metrics endpoint: closed a connection that did not send its request in time");
            }
            Response::text(408, "request not received in time\n")
        }
        Err(HeadError::TooLarge) => {
            shared.telemetry.count_http_drop(HttpDrop::TooLarge);
            if let Some(repeats) = shared.may_log(Event::TooLarge) {
                tracing::warn!(target: "app", max_bytes = limits.max_head_bytes, repeats, "metrics endpoint: closed a connection whose request head was too large");
            }
            Response::text(431, "request head too large\n")
        }
        Err(HeadError::Malformed) => Response::text(400, "bad request\n"),
        Err(HeadError::Closed) => return,
    };
    if http::write_response(&mut conn, &response).is_ok() {
        linger(&mut conn);
    }
}

/// Signals the end of the answer, then reads (and drops) what the client still sends for up
/// to [`LINGER`]: closing with unread bytes would reset the connection, and the client
/// could lose the answer.
fn linger(conn: &mut TcpStream) {
    if conn.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let watch = Stopwatch::start();
    let mut sink = [0u8; 4096];
    let mut drained = 0usize;
    while drained < 64 * 1024 {
        let Some(left) = LINGER.checked_sub(watch.elapsed()).filter(|d| !d.is_zero()) else {
            return;
        };
        if conn.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match conn.read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(n) => drained += n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::telemetry::TelemetryShape;

    fn get(addr: SocketAddr, request: &str) -> String {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        s.write_all(request.as_bytes()).expect("write");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    fn telemetry() -> Arc<Telemetry> {
        Arc::new(Telemetry::new(TelemetryShape::default()))
    }

    fn server_with(t: &Arc<Telemetry>, limits: Limits) -> MetricsServer {
        let addr = "127.0.0.1:0".parse().expect("addr");
        MetricsServer::start_with(addr, Arc::clone(t), Arc::default(), limits).expect("start")
    }

    /// Polls `check` every 10 ms for up to 20 s.
    fn eventually(what: &str, mut check: impl FnMut() -> bool) {
        for _ in 0..2000 {
            if check() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("{what}: not within 20 s");
    }

    fn dropped(t: &Telemetry, reason: HttpDrop) -> u64 {
        t.http_dropped[reason as usize].load(Ordering::Relaxed)
    }

    #[test]
    fn routes_methods_and_queries() {
        let s = server_with(&telemetry(), Limits::default());
        let addr = s.local_addr();
        assert_ne!(addr.port(), 0);
        let r = get(addr, "GET /metrics?x=1 HTTP/1.0\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(r.contains("# TYPE alpha_panda_ready gauge"), "{r}");
        let r = get(addr, "POST /metrics HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
        assert!(r.contains(" 405 "), "{r}");
        assert!(r.contains("Allow: GET"), "{r}");
        let r = get(addr, "GET /nope HTTP/1.0\r\n\r\n");
        assert!(r.contains(" 404 "), "{r}");
        let r = get(addr, "GET /health/ready HTTP/1.0\r\n\r\n");
        assert!(r.contains(" 503 "), "{r}");
        assert!(r.contains("application/json"), "{r}");
        let r = get(addr, "HELLO\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 400 "), "{r}");
        // Joining the accept thread closed the listener.
        s.shutdown();
        assert!(
            TcpStream::connect(addr).is_err(),
            "listener open after shutdown"
        );
    }

    #[test]
    fn client_that_disconnects_does_not_kill_the_server() {
        let s = server_with(&telemetry(), Limits::default());
        let addr = s.local_addr();
        for _ in 0..5 {
            let mut c = TcpStream::connect(addr).expect("connect");
            let _ = c.write_all(b"GET /health/detailed HTTP/1.1\r\nHost: x\r\n\r\n");
            drop(c);
        }
        let r = get(addr, "GET /health HTTP/1.0\r\n\r\n");
        assert!(r.contains("\"status\":\"alive\""), "{r}");
    }

    #[test]
    fn address_in_use_names_the_address() {
        let s = server_with(&telemetry(), Limits::default());
        let addr = s.local_addr();
        let err = MetricsServer::start(addr, telemetry(), Arc::default()).expect_err("port taken");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        assert!(
            err.to_string()
                .starts_with(&format!("metrics.addr {addr}: ")),
            "{err}"
        );
    }

    #[test]
    fn connections_over_the_cap_are_refused_and_counted() {
        let t = telemetry();
        let limits = Limits {
            max_connections: 2,
            head_timeout: Duration::from_secs(30),
            ..Limits::default()
        };
        let s = server_with(&t, limits);
        let addr = s.local_addr();
        let idle: Vec<TcpStream> = (0..2)
            .map(|_| TcpStream::connect(addr).expect("connect"))
            .collect();
        eventually("two connections served", || {
            t.http_open.load(Ordering::Acquire) == 2
        });
        let r = get(addr, "GET /health HTTP/1.0\r\n\r\n");
        assert!(r.is_empty() || r.starts_with("HTTP/1.1 503 "), "{r}");
        assert_eq!(dropped(&t, HttpDrop::Limit), 1);
        drop(idle);
        eventually("slots freed", || t.http_open.load(Ordering::Acquire) == 0);
        let r = get(addr, "GET /health HTTP/1.0\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 200 "), "{r}");
    }

    #[test]
    fn a_slow_request_is_cut_off_and_others_are_served_meanwhile() {
        let t = telemetry();
        let limits = Limits {
            head_timeout: Duration::from_millis(300),
            max_head_bytes: 64,
            ..Limits::default()
        };
        let s = server_with(&t, limits);
        let addr = s.local_addr();
        let mut slow = TcpStream::connect(addr).expect("connect");
        slow.write_all(b"GET /metr").expect("write");
        let r = get(addr, "GET /health HTTP/1.0\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 200 "), "{r}");
        slow.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let mut answer = String::new();
        let _ = slow.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
        assert_eq!(dropped(&t, HttpDrop::Timeout), 1);

        let long = format!("GET /{} HTTP/1.0\r\n\r\n", "a".repeat(100));
        let r = get(addr, &long);
        assert!(r.starts_with("HTTP/1.1 431 "), "{r}");
        assert_eq!(dropped(&t, HttpDrop::TooLarge), 1);
    }

    #[test]
    fn a_broken_listener_is_bound_again() {
        let shared = Arc::new(Shared::new(telemetry(), Arc::default(), Limits::default()));
        let listener = bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
        let addr = listener
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .expect("an IP address");
        let handle = listener.try_clone().expect("clone");
        let thread = std::thread::spawn({
            let shared = Arc::clone(&shared);
            move || accept_loop(Some(listener), addr, &shared)
        });
        let r = get(addr, "GET /health HTTP/1.0\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 200 "), "{r}");
        // Shutting a listening socket down makes its `accept` fail (EINVAL) from then on.
        handle.shutdown(Shutdown::Both).expect("shutdown");
        drop(handle);
        eventually("listener bound again", || {
            shared.rebinds.load(Ordering::Acquire) >= 1
        });
        let r = get(addr, "GET /health HTTP/1.0\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 200 "), "{r}");
        shared.stop.store(true, Ordering::Release);
        thread.join().expect("accept loop ends");
    }

    #[test]
    fn the_cap_leaves_three_quarters_of_the_descriptors_to_the_engine() {
        assert_eq!(connection_cap(64, None), 64, "limit unknown");
        assert_eq!(connection_cap(64, Some(1024)), 64, "roomy limit");
        assert_eq!(connection_cap(64, Some(64)), 16, "ulimit -n 64");
        assert_eq!(connection_cap(64, Some(3)), 1, "never zero");
        assert_eq!(connection_cap(64, Some(u64::MAX)), 64, "unlimited");
    }

    #[test]
    fn accept_errors_are_classified() {
        let cases = [
            (
                "EMFILE",
                io::Error::from_raw_os_error(EMFILE),
                AcceptError::NoDescriptors,
            ),
            (
                "ENFILE",
                io::Error::from_raw_os_error(ENFILE),
                AcceptError::NoDescriptors,
            ),
            (
                "EBADF",
                io::Error::from_raw_os_error(EBADF),
                AcceptError::Broken,
            ),
            (
                "EINVAL",
                io::ErrorKind::InvalidInput.into(),
                AcceptError::Broken,
            ),
            (
                "timeout",
                io::ErrorKind::WouldBlock.into(),
                AcceptError::Idle,
            ),
            (
                "aborted",
                io::ErrorKind::ConnectionAborted.into(),
                AcceptError::Idle,
            ),
            ("other", io::Error::other("x"), AcceptError::Retry),
        ];
        for (name, e, want) in cases {
            assert_eq!(classify(&e), want, "{name}");
        }
    }

    #[test]
    fn log_lines_are_throttled_and_repeats_counted() {
        let shared = Shared::new(telemetry(), Arc::default(), Limits::default());
        assert_eq!(shared.may_log(Event::Limit), Some(0), "first line");
        assert_eq!(shared.may_log(Event::Limit), None, "a repeat");
        assert_eq!(shared.may_log(Event::Timeout), Some(0), "another kind");
        assert_eq!(shared.throttles.lock()[Event::Limit as usize].repeats, 1);
    }
}
