//! The HTTP/1.1 subset the metrics endpoint speaks: one request per connection.
//!
//! Contract:
//! - [`read_head`] reads a request head (request line and headers, up to the blank line)
//!   within one deadline for the whole head, not per read, so a client that trickles a
//!   byte at a time (slowloris) is cut off as surely as an idle one; a head over the size
//!   limit is refused. Headers are not interpreted and a body is never read.
//! - [`answer`] routes: `GET /metrics`, `/health`, `/health/ready`, `/health/detailed`; any
//!   other path is 404; another method on a known path is 405 with `Allow: GET`; a query
//!   string is ignored.
//! - [`write_response`] always sends `Content-Length` and `Connection: close`: the
//!   connection ends after one answer, so no client keeps a connection slot between scrapes.
//! - Nothing here panics on what a client sends.
//!
//! Why hand-written rather than a crate: `tiny_http` (used before) ends its accept thread on
//! the first accept error, so 511 idle connections at a 1024-descriptor limit (EMFILE)
//! silenced `/health` for good, and it has no deadline for a request head (a slowloris
//! holds a thread forever). hyper/axum would bring tokio into the engine process for four
//! GET routes. What is needed here is ~300 lines: one GET per connection, no bodies, no
//! keep-alive (`tests/server_flood.rs` and the unit tests below pin the behaviour).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::clock::Stopwatch;
use crate::metrics::exposition;
use crate::metrics::telemetry::Telemetry;
use crate::ops::health;
use crate::runtime::RunControl;

/// The request line of a request head.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Head {
    pub method: String,
    /// The request target without its query string.
    pub path: String,
}

/// Why no request head was read.
#[derive(Debug)]
pub(crate) enum HeadError {
    /// The head was not complete within the deadline.
    Timeout,
    /// The head was longer than the limit.
    TooLarge,
    /// Not an HTTP request line.
    Malformed,
    /// The client closed the connection (or it failed) before the head was complete.
    Closed,
}

/// An answer to send.
#[derive(Debug)]
pub(crate) struct Response {
    pub code: u16,
    pub content_type: &'static str,
    /// Adds `Allow: GET` (a 405).
    pub allow_get: bool,
    pub body: String,
}

impl Response {
    pub fn text(code: u16, body: &str) -> Response {
        Response {
            code,
            content_type: "text/plain; charset=utf-8",
            allow_get: false,
            body: body.to_owned(),
        }
    }
}

/// Reads a request head from `stream` within `deadline` (for the whole head) and at most
/// `max_bytes` long.
pub(crate) fn read_head(
    stream: &mut TcpStream,
    deadline: Duration,
    max_bytes: usize,
) -> Result<Head, HeadError> {
    let watch = Stopwatch::start();
    read_head_from(max_bytes, |room| {
        let left = deadline
            .checked_sub(watch.elapsed())
            .filter(|d| !d.is_zero())
            .ok_or(HeadError::Timeout)?;
        if stream.set_read_timeout(Some(left)).is_err() {
            return Err(HeadError::Closed);
        }
        Ok(stream.read(room))
    })
}

/// The byte side of [`read_head`]: `read` fills the room it is given as one socket read does
/// (its `Err` ends the head as is: the deadline passed), until the head is complete, over
/// `max_bytes`, or the reads fail. Apart from the socket so that the fuzz target
/// (`crate::fuzzing`) drives the very code the server runs, with reads cut anywhere.
pub(crate) fn read_head_from(
    max_bytes: usize,
    mut read: impl FnMut(&mut [u8]) -> Result<io::Result<usize>, HeadError>,
) -> Result<Head, HeadError> {
    let mut buf = vec![0u8; max_bytes.max(1)];
    let mut len = 0;
    loop {
        let Some(room) = buf.get_mut(len..).filter(|room| !room.is_empty()) else {
            return Err(HeadError::TooLarge);
        };
        match read(room)? {
            Ok(0) => return Err(HeadError::Closed),
            Ok(n) => {
                // Only the new bytes (and the three before them) can complete the blank line.
                let from = len.saturating_sub(3);
                len += n;
                if let Some(end) = head_end(&buf[from..len]) {
                    return parse_request_line(&buf[..from + end]);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(HeadError::Timeout);
            }
            Err(_) => return Err(HeadError::Closed),
        }
    }
}

/// The offset just past the blank line that ends a head (`\r\n\r\n`, or a bare `\n\n`).
fn head_end(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).enumerate().find_map(|(i, w)| match w {
        b"\n\n" => Some(i + 2),
        b"\n\r" if bytes.get(i + 2) == Some(&b'\n') => Some(i + 3),
        _ => None,
    })
}

fn parse_request_line(head: &[u8]) -> Result<Head, HeadError> {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = std::str::from_utf8(line).map_err(|_| HeadError::Malformed)?;
    let mut parts = line.split(' ');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(method), Some(target), Some(version), None)
            if !method.is_empty() && !target.is_empty() && version.starts_with("HTTP/") =>
        {
            let path = target.split('?').next().unwrap_or_default();
            Ok(Head {
                method: method.to_owned(),
                path: path.to_owned(),
            })
        }
        _ => Err(HeadError::Malformed),
    }
}

/// The answer to a request.
pub(crate) fn answer(head: &Head, t: &Telemetry, control: &RunControl) -> Response {
    const JSON: &str = "application/json";
    let known = matches!(
        head.path.as_str(),
        "/metrics" | "/health" | "/health/ready" | "/health/detailed"
    );
    if !known {
        return Response::text(404, "not found\n");
    }
    if head.method != "GET" {
        return Response {
            allow_get: true,
            ..Response::text(405, "method not allowed\n")
        };
    }
    let (code, content_type, body) = match head.path.as_str() {
        "/metrics" => {
            let mut body = String::with_capacity(32 * 1024);
            exposition::render(t, &mut body);
            (200, exposition::content_type(), body)
        }
        "/health" => {
            let (code, v) = health::liveness(t, control);
            (code, JSON, json_body(&v))
        }
        "/health/ready" => {
            let (code, v) = health::readiness(t);
            (code, JSON, json_body(&v))
        }
        _ => (200, JSON, json_body(&health::detailed(t, control))),
    };
    Response {
        code,
        content_type,
        allow_get: false,
        body,
    }
}

fn json_body(v: &serde_json::Value) -> String {
    let mut s = v.to_string();
    s.push('\n');
    s
}

/// Writes `response` as one HTTP/1.1 message that closes the connection.
pub(crate) fn write_response(out: &mut impl Write, response: &Response) -> io::Result<()> {
    let allow = if response.allow_get {
        "Allow: GET\r\n"
    } else {
        ""
    };
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n",
        response.code,
        reason(response.code),
        response.content_type,
        response.body.len(),
    );
    out.write_all(head.as_bytes())?;
    out.write_all(response.body.as_bytes())?;
    out.flush()
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn parsed(text: &str) -> Result<Head, HeadError> {
        let end = head_end(text.as_bytes()).ok_or(HeadError::Malformed)?;
        parse_request_line(&text.as_bytes()[..end])
    }

    struct Case {
        name: &'static str,
        text: &'static str,
        /// Method and path, or `None` for a refusal.
        want: Option<(&'static str, &'static str)>,
    }

    #[test]
    fn request_lines() {
        let case = |name, text, want| Case { name, text, want };
        let cases = [
            case(
                "plain",
                "GET /metrics HTTP/1.1\r\n\r\n",
                Some(("GET", "/metrics")),
            ),
            case(
                "query dropped",
                "GET /health?x=1 HTTP/1.0\r\nHost: a\r\n\r\n",
                Some(("GET", "/health")),
            ),
            case(
                "bare newlines",
                "POST /x HTTP/1.1\n\n",
                Some(("POST", "/x")),
            ),
            case("no version", "GET /metrics\r\n\r\n", None),
            case("not http", "GET /metrics FTP/1\r\n\r\n", None),
            case("extra part", "GET / HTTP/1.1 x\r\n\r\n", None),
            case("empty line", "\r\n\r\n", None),
            case("no head end", "GET / HTTP/1.1\r\n", None),
            case(
                "not utf-8",
                "GET /\u{fffd} HTTP/1.1\r\n\r\n",
                Some(("GET", "/\u{fffd}")),
            ),
        ];
        for c in cases {
            let got = parsed(c.text).ok().map(|h| (h.method, h.path));
            let want = c.want.map(|(m, p)| (m.to_owned(), p.to_owned()));
            assert_eq!(got, want, "{}", c.name);
        }
        assert!(
            matches!(
                parse_request_line(b"GET /\xff HTTP/1.1\r\n"),
                Err(HeadError::Malformed)
            ),
            "invalid UTF-8"
        );
    }

    #[test]
    fn head_end_is_found_across_reads() {
        assert_eq!(head_end(b"\r\n\r\n"), Some(4));
        assert_eq!(head_end(b"x\r\n\r\nbody"), Some(5));
        assert_eq!(head_end(b"\r\nx\r\n"), None);
    }

    /// A pair of connected loopback sockets.
    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        (client, server)
    }

    #[test]
    fn slow_heads_time_out_and_long_heads_are_refused() {
        let (mut client, mut server) = pair();
        client.write_all(b"GET /metr").expect("write");
        let r = read_head(&mut server, Duration::from_millis(200), 1024);
        assert!(matches!(r, Err(HeadError::Timeout)), "partial head: {r:?}");

        let (mut client, mut server) = pair();
        client.write_all(&[b'a'; 100]).expect("write");
        let r = read_head(&mut server, Duration::from_secs(10), 64);
        assert!(matches!(r, Err(HeadError::TooLarge)), "long head: {r:?}");

        let (mut client, mut server) = pair();
        client.write_all(b"GET /health HTTP/1.1\r").expect("write");
        client.write_all(b"\n\r\n").expect("write");
        let r = read_head(&mut server, Duration::from_secs(10), 64).map(|h| h.path);
        assert_eq!(r.ok().as_deref(), Some("/health"), "head in two pieces");

        let (client, mut server) = pair();
        drop(client);
        let r = read_head(&mut server, Duration::from_secs(10), 64);
        assert!(matches!(r, Err(HeadError::Closed)), "closed: {r:?}");
    }

    #[test]
    fn responses_close_the_connection() {
        let mut out = Vec::new();
        let r = Response {
            allow_get: true,
            ..Response::text(405, "no\n")
        };
        write_response(&mut out, &r).expect("write");
        let text = String::from_utf8(out).expect("utf-8");
        assert_eq!(
            text,
            "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 3\r\nAllow: GET\r\nConnection: close\r\n\r\nno\n"
        );
    }
}
