//! A market-data WebSocket that stays connected: one thread per connection reads messages and
//! hands them to a `SocketHandler`; it never blocks on the engine.
//!
//! Contract:
//! - `ws://` and `wss://` URLs; TLS is rustls on the `ring` provider with the webpki roots.
//! - After every (re)connect the handler's `on_connected` returns the text messages to send
//!   first (a feed's subscriptions), so a reconnect re-subscribes.
//! - Any message counts as liveness (1-byte heartbeats included); `dead_after` without one
//!   closes the link and reconnects. Reconnects back off exponentially from `backoff_min`,
//!   capped at `backoff_max`, reset by a connection that delivered a message.
//! - A handshake refused with HTTP 401/403 (an expired or wrong token) is reported as
//!   `Disconnect::Refused`; the loop keeps retrying at the capped backoff, since a new token
//!   needs a restart anyway and the operator is told through the handler.
//! - A stop request is seen within `POLL` (the socket's read timeout) and ends the thread.
//! - Nothing here decodes or allocates per message beyond what tungstenite hands over.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tungstenite::protocol::WebSocket;
use tungstenite::{Message, Utf8Bytes};

use crate::clock::Stopwatch;

/// Read timeout of the socket: how often the thread checks the stop flag and liveness.
pub const POLL: Duration = Duration::from_millis(100);

/// How the connection behaves.
#[derive(Clone, Debug)]
pub struct SocketConfig {
    /// `ws://host:port/path?query` or `wss://...`.
    pub url: String,
    /// Silence after which the link counts as dead.
    pub dead_after: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Name of the thread, for logs.
    pub name: String,
}

/// Why a connection ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Disconnect {
    /// The server refused the handshake with this HTTP status (401/403: credentials).
    Refused(u16),
    /// No message for `dead_after`.
    Silent,
    /// The server closed the socket, or a read or connect failed.
    Lost(String),
}

/// What the connection thread calls; runs on that thread.
pub trait SocketHandler: Send {
    /// Connected (again): the text messages to send before reading.
    fn on_connected(&mut self) -> Vec<String>;
    fn on_binary(&mut self, bytes: &[u8]);
    fn on_text(&mut self, text: &str);
    /// A read timed out with nothing to read (every `POLL` while the link is quiet).
    fn on_idle(&mut self) {}
    /// The connection ended; the thread reconnects after `retry_in` unless stopped.
    fn on_disconnected(&mut self, why: &Disconnect, retry_in: Duration);
}

/// Starts the connection thread.
///
/// # Errors
/// The thread could not be spawned.
pub fn spawn<H: SocketHandler + 'static>(
    config: SocketConfig,
    mut handler: H,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<H>> {
    std::thread::Builder::new()
        .name(config.name.clone())
        .spawn(move || {
            run(&config, &mut handler, &stop);
            handler
        })
}

/// The reconnect loop.
fn run<H: SocketHandler>(config: &SocketConfig, handler: &mut H, stop: &AtomicBool) {
    let mut backoff = config.backoff_min;
    while !stop.load(Ordering::Acquire) {
        let (why, delivered) = match connect(&config.url) {
            Ok(ws) => session(ws, config, handler, stop),
            Err(why) => (why, false),
        };
        if stop.load(Ordering::Acquire) {
            break;
        }
        if delivered {
            backoff = config.backoff_min;
        }
        handler.on_disconnected(&why, backoff);
        sleep_unless_stopped(backoff, stop);
        backoff = (backoff * 2).min(config.backoff_max);
    }
}

fn sleep_unless_stopped(total: Duration, stop: &AtomicBool) {
    let watch = Stopwatch::start();
    while !stop.load(Ordering::Acquire) {
        let left = total.saturating_sub(watch.elapsed());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(POLL));
    }
}

/// One connection: subscribe, then read until it dies or a stop. Returns why it ended and
/// whether it delivered any message.
fn session<H: SocketHandler>(
    mut ws: WebSocket<Stream>,
    config: &SocketConfig,
    handler: &mut H,
    stop: &AtomicBool,
) -> (Disconnect, bool) {
    for text in handler.on_connected() {
        if let Err(e) = ws.send(Message::Text(Utf8Bytes::from(text))) {
            return (
                Disconnect::Lost(format!("sending a subscription: {e}")),
                false,
            );
        }
    }
    let mut delivered = false;
    let mut quiet = Stopwatch::start();
    loop {
        if stop.load(Ordering::Acquire) {
            let _ = ws.close(None);
            let _ = ws.flush();
            return (Disconnect::Lost("stopped".into()), delivered);
        }
        match ws.read() {
            Ok(message) => {
                quiet = Stopwatch::start();
                delivered = true;
                match message {
                    Message::Binary(bytes) => handler.on_binary(&bytes),
                    Message::Text(text) => handler.on_text(text.as_str()),
                    Message::Close(frame) => {
                        let why = frame.map_or_else(
                            || "closed by the server".to_owned(),
                            |f| format!("closed by the server: {} {}", u16::from(f.code), f.reason),
                        );
                        return (Disconnect::Lost(why), delivered);
                    }
                    // tungstenite queues the pong; the flush below sends it.
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                }
            }
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if quiet.elapsed() >= config.dead_after {
                    return (Disconnect::Silent, delivered);
                }
                handler.on_idle();
            }
            Err(e) => return (Disconnect::Lost(e.to_string()), delivered),
        }
        // Pongs and close replies go out here; a write that would block waits for the next turn.
        if let Err(e) = ws.flush()
            && !matches!(&e, tungstenite::Error::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock)
        {
            return (Disconnect::Lost(e.to_string()), delivered);
        }
    }
}

/// A plain or TLS TCP stream.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stream::Plain(_) => "Stream::Plain",
            Stream::Tls(_) => "Stream::Tls",
        })
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// rustls on `ring` with the webpki roots (aws-lc-rs, rustls' default, needs cmake).
///
/// # Errors
/// The provider refuses the default protocol versions (it does not).
pub fn tls_config() -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Opens the TCP (and TLS) connection and does the WebSocket handshake.
fn connect(url: &str) -> Result<WebSocket<Stream>, Disconnect> {
    let (tls, rest) = if let Some(rest) = url.strip_prefix("wss://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("ws://") {
        (false, rest)
    } else {
        return Err(Disconnect::Lost(
            "the URL must start with ws:// or wss://".into(),
        ));
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host = authority
        .rsplit_once(':')
        .filter(|(_, port)| port.parse::<u16>().is_ok())
        .map_or(authority, |(host, _)| host);
    let default_port = if tls { 443 } else { 80 };
    let address = if authority.contains(':') && host != authority {
        authority.to_owned()
    } else {
        format!("{authority}:{default_port}")
    };
    let lost = |what: &str, e: &dyn std::fmt::Display| Disconnect::Lost(format!("{what}: {e}"));
    let addr = address
        .to_socket_addrs()
        .map_err(|e| lost(&format!("resolving {address}"), &e))?
        .next()
        .ok_or_else(|| Disconnect::Lost(format!("{address} resolves to no address")))?;
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .map_err(|e| lost(&format!("connecting to {address}"), &e))?;
    let _ = tcp.set_nodelay(true);
    let stream = if tls {
        let config = tls_config().map_err(|e| lost("TLS", &e))?;
        let name = rustls::pki_types::ServerName::try_from(host.to_owned())
            .map_err(|e| lost("TLS server name", &e))?;
        let conn = rustls::ClientConnection::new(config, name).map_err(|e| lost("TLS", &e))?;
        Stream::Tls(Box::new(rustls::StreamOwned::new(conn, tcp)))
    } else {
        Stream::Plain(tcp)
    };
    // The handshake blocks (bounded by the connect timeout as a read timeout); reads after it
    // time out every POLL so the thread sees stops and silence.
    set_read_timeout(&stream, Some(Duration::from_secs(10)));
    let (ws, _) = tungstenite::client::client(url, stream).map_err(|e| match e {
        tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response)) => {
            Disconnect::Refused(response.status().as_u16())
        }
        other => lost("WebSocket handshake", &other),
    })?;
    set_read_timeout(ws.get_ref(), Some(POLL));
    Ok(ws)
}

fn set_read_timeout(stream: &Stream, timeout: Option<Duration>) {
    let tcp = match stream {
        Stream::Plain(s) => s,
        Stream::Tls(s) => &s.sock,
    };
    let _ = tcp.set_read_timeout(timeout);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::sync::mpsc;

    /// Records what the thread sees.
    struct Probe {
        connects: usize,
        binary: mpsc::Sender<Vec<u8>>,
        disconnects: mpsc::Sender<Disconnect>,
    }

    impl SocketHandler for Probe {
        fn on_connected(&mut self) -> Vec<String> {
            self.connects += 1;
            vec![format!("{{\"hello\":{}}}", self.connects)]
        }
        fn on_binary(&mut self, bytes: &[u8]) {
            let _ = self.binary.send(bytes.to_vec());
        }
        fn on_text(&mut self, _: &str) {}
        fn on_disconnected(&mut self, why: &Disconnect, _: Duration) {
            let _ = self.disconnects.send(why.clone());
        }
    }

    fn config(url: String) -> SocketConfig {
        SocketConfig {
            url,
            dead_after: Duration::from_millis(400),
            backoff_min: Duration::from_millis(10),
            backoff_max: Duration::from_millis(40),
            name: "test-socket".into(),
        }
    }

    #[test]
    fn resubscribes_after_a_drop_and_reconnects_after_silence() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("ws://{}/?api_key=k", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let mut hellos = Vec::new();
            // First connection: read the subscription, send a frame, drop the socket.
            // Second: read the subscription, then stay silent (dead link). Third: close.
            for round in 0..3 {
                let (tcp, _) = listener.accept().unwrap();
                let mut ws = tungstenite::accept(tcp).unwrap();
                hellos.push(ws.read().unwrap().into_text().unwrap().to_string());
                match round {
                    0 => {
                        ws.send(Message::Binary(vec![1, 2, 3].into())).unwrap();
                        drop(ws);
                    }
                    1 => std::thread::sleep(Duration::from_millis(900)),
                    _ => {
                        ws.send(Message::Binary(vec![9].into())).unwrap();
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
            hellos
        });
        let (btx, brx) = mpsc::channel();
        let (dtx, drx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let probe = Probe {
            connects: 0,
            binary: btx,
            disconnects: dtx,
        };
        let thread = spawn(config(url), probe, Arc::clone(&stop)).unwrap();
        assert_eq!(brx.recv_timeout(Duration::from_secs(5)).unwrap(), [1, 2, 3]);
        assert!(matches!(
            drx.recv_timeout(Duration::from_secs(5)).unwrap(),
            Disconnect::Lost(_)
        ));
        assert_eq!(
            drx.recv_timeout(Duration::from_secs(5)).unwrap(),
            Disconnect::Silent
        );
        assert_eq!(brx.recv_timeout(Duration::from_secs(5)).unwrap(), [9]);
        let hellos = server.join().unwrap();
        assert_eq!(
            hellos,
            ["{\"hello\":1}", "{\"hello\":2}", "{\"hello\":3}"],
            "every connection re-sends its subscription"
        );
        stop.store(true, Ordering::Release);
        let probe = thread.join().unwrap();
        assert_eq!(probe.connects, 3);
    }

    #[test]
    fn tls_builds_on_ring_with_the_webpki_roots() {
        let config = tls_config().unwrap();
        let name = rustls::pki_types::ServerName::try_from("ws.kite.trade").unwrap();
        assert!(rustls::ClientConnection::new(config, name).is_ok());
    }

    #[test]
    fn a_refused_handshake_names_the_status() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("ws://{}/", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            let (mut tcp, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = tcp.read(&mut buf);
            let _ = tcp.write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n");
        });
        let err = connect(&url).err().unwrap();
        assert_eq!(err, Disconnect::Refused(403));
        assert!(matches!(connect("http://x"), Err(Disconnect::Lost(_))));
    }
}
