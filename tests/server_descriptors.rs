//! The metrics endpoint when the process has no file descriptor left for a connection (the
//! engine used them all, or another process did not leave any): the connection is shed with
//! the descriptor kept in reserve for it, counted, logged, and `/health` answers again as
//! soon as descriptors free up.
//!
//! A test binary of its own: it lowers the open-file limit and fills it, which would make
//! any other test in the same process fail.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use alpha_panda::metrics::telemetry::{HttpDrop, Telemetry, TelemetryShape};
use alpha_panda::ops::server::MetricsServer;
use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// The lowered limit: small enough to fill quickly.
const NOFILE: u64 = 256;
const EMFILE: i32 = 24;

fn health(addr: SocketAddr) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(b"GET /health HTTP/1.0\r\n\r\n").ok()?;
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    Some(answer)
}

fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..600 {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what}: not within 60 s");
}

#[test]
fn a_connection_without_a_descriptor_is_shed_and_health_answers_once_they_free_up() {
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    setrlimit(Resource::RLIMIT_NOFILE, NOFILE.min(hard), hard).expect("setrlimit");

    let telemetry = Arc::new(Telemetry::new(TelemetryShape::default()));
    let server = MetricsServer::start(
        "127.0.0.1:0".parse().expect("addr"),
        Arc::clone(&telemetry),
        Arc::default(),
    )
    .expect("start");
    let addr = server.local_addr();
    assert!(
        health(addr).is_some_and(|a| a.starts_with("HTTP/1.1 200 ")),
        "answers before"
    );

    // The connection is closed before its slot is given back.
    eventually("the first connection closed", || {
        telemetry.http_open.load(Ordering::Acquire) == 0
    });

    // Take every descriptor, then give one back for each client socket. A descriptor the
    // process frees meanwhile (a thread's, the runtime's) lets the server take a client in
    // the normal way; that client is kept (so its descriptor stays taken) and another one
    // tried, until the server's `accept` finds none and sheds.
    let mut filler = Vec::new();
    let err = loop {
        match File::open("/dev/null") {
            Ok(f) => filler.push(f),
            Err(e) => break e,
        }
        assert!(filler.len() <= NOFILE as usize, "the limit holds");
    };
    assert_eq!(err.raw_os_error(), Some(EMFILE), "{err}");
    let shed = || telemetry.http_dropped[HttpDrop::NoDescriptor as usize].load(Ordering::Relaxed);
    let mut served = Vec::new();
    let answer = loop {
        assert!(
            served.len() < 8,
            "no connection was shed; {} served",
            served.len()
        );
        drop(filler.pop());
        let mut client = TcpStream::connect(addr).expect("the kernel completes the handshake");
        // A shed connection is closed at once; a served one waits for its request.
        client
            .set_read_timeout(Some(Duration::from_secs(1)))
            .expect("timeout");
        let mut answer = Vec::new();
        match client.read_to_end(&mut answer) {
            Ok(_) => break String::from_utf8_lossy(&answer).into_owned(),
            Err(_) if shed() == 0 => served.push(client),
            Err(e) => panic!("shed, yet not closed: {e}"),
        }
    };
    // The 503 is best effort (the socket may be gone first); the close is not.
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 503 "),
        "shed: {answer:?}"
    );
    // Counted right after the close.
    eventually("the shed connection counted", || shed() == 1);
    drop(served);
    drop(filler);

    eventually("/health answers again", || {
        health(addr).is_some_and(|a| a.starts_with("HTTP/1.1 200 "))
    });
    // A connection's slot is given back when its thread ends, after the answer.
    eventually("no connection slot leaked", || {
        telemetry.http_open.load(Ordering::Acquire) == 0
    });
    server.shutdown();
}
