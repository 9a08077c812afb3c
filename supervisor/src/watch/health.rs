//! The HTTP health probe of one worker.
//!
//! Every worker gets a private `health` socket besides the app's shared
//! ones: a loopback address the supervisor bound for it alone, so a probe
//! always reaches the worker it means to judge (on the shared port the
//! kernel would pick any worker). A probe is one `GET` on a new connection,
//! marked `Connection: close`; it passes on any 2xx or 3xx status.
//!
//! The whole probe, connect and response head, is bounded by one timeout:
//! a worker that accepts connections but never answers (stopped with
//! SIGSTOP, deadlocked) is the case probes exist for, and the kernel
//! accepts on its behalf whether it runs or not. The body is never read;
//! dropping the connection closes it. Everything is async on the
//! supervisor's runtime: nothing here blocks a thread.

use std::net::SocketAddr;
use std::pin::pin;
use std::time::Duration;

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::header::{CONNECTION, HOST, USER_AGENT};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// What the probes send as `User-Agent`, so a worker's access log can tell
/// them from real traffic (and filter them out).
const AGENT: &str = "corral-health";

/// The outcome of one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// The worker answered with a 2xx or 3xx status.
    Pass {
        /// The status it answered with.
        status: u16,
    },
    /// The worker answered with another status, or not at all.
    Fail {
        /// One short phrase for the log and the status display:
        /// `HTTP 500`, `timed out after 2s`, `connection refused`.
        reason: String,
    },
}

impl Probe {
    /// Whether the worker passed.
    pub fn passed(&self) -> bool {
        matches!(self, Self::Pass { .. })
    }
}

/// Sends `GET path` to `addr` and judges the answer, all within `timeout`.
pub async fn probe(addr: SocketAddr, path: &str, timeout: Duration) -> Probe {
    match tokio::time::timeout(timeout, status_of(addr, path)).await {
        Ok(Ok(status)) if status.is_success() || status.is_redirection() => Probe::Pass {
            status: status.as_u16(),
        },
        Ok(Ok(status)) => Probe::Fail {
            reason: format!("HTTP {}", status.as_u16()),
        },
        Ok(Err(reason)) => Probe::Fail { reason },
        Err(_) => Probe::Fail {
            reason: format!("timed out after {}", humantime::format_duration(timeout)),
        },
    }
}

/// Connects, sends the request and returns the status of the response head.
async fn status_of(addr: SocketAddr, path: &str) -> Result<StatusCode, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|err| match err.kind() {
            std::io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
            _ => format!("cannot connect: {err}"),
        })?;
    let request = Request::get(path)
        .header(HOST, addr.to_string())
        .header(USER_AGENT, AGENT)
        .header(CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|err| format!("invalid request for {path:?}: {err}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|err| err.to_string())?;
    // The connection does the actual I/O and must be polled alongside the
    // request; it lives inside this future, so a timeout drops (closes) it.
    let mut connection = pin!(connection);
    let mut response = pin!(sender.send_request(request));
    let response = tokio::select! {
        biased;
        response = &mut response => response,
        ended = &mut connection => match ended {
            // The server sent a whole answer and closed: the head is waiting.
            Ok(()) => response.await,
            Err(err) => Err(err),
        },
    };
    response.map(|r| r.status()).map_err(|err| err.to_string())
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpListener;
    use tokio::sync::oneshot;

    use super::*;

    /// Margin over the timeout: these tests prove that a probe ends by its
    /// timeout instead of hanging, not how precise the timer is, and a busy
    /// 2-core machine (other builds running) can delay a wake-up by seconds.
    const MARGIN: Duration = Duration::from_secs(5);

    /// A one-connection server: reads the request head, sends it on
    /// `heads`, waits `delay`, then writes `response` (or nothing, holding
    /// the connection open, when `response` is `None`).
    async fn serve_once(
        response: Option<&'static str>,
        delay: Duration,
    ) -> (SocketAddr, oneshot::Receiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (head_tx, head) = oneshot::channel();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.expect("accept");
            let mut buf = Vec::new();
            while !buf.ends_with(b"\r\n\r\n") {
                let mut byte = [0; 1];
                if stream.read(&mut byte).await.expect("read") == 0 {
                    return;
                }
                buf.push(byte[0]);
            }
            let _ = head_tx.send(String::from_utf8_lossy(&buf).into_owned());
            tokio::time::sleep(delay).await;
            match response {
                Some(response) => stream.write_all(response.as_bytes()).await.expect("write"),
                None => std::future::pending().await,
            }
        });
        (addr, head)
    }

    const OK: &str = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

    #[tokio::test]
    async fn a_2xx_answer_passes_and_the_request_says_who_asks() {
        let (addr, head) = serve_once(Some(OK), Duration::ZERO).await;
        let result = probe(addr, "/health?deep=1", Duration::from_secs(5)).await;
        assert_eq!(result, Probe::Pass { status: 200 });
        let head = head.await.expect("request head").to_ascii_lowercase();
        assert!(
            head.starts_with("get /health?deep=1 http/1.1\r\n"),
            "{head}"
        );
        assert!(head.contains(&format!("host: {addr}\r\n")), "{head}");
        assert!(head.contains("user-agent: corral-health\r\n"), "{head}");
        assert!(head.contains("connection: close\r\n"), "{head}");
    }

    #[tokio::test]
    async fn a_redirect_passes() {
        let moved = "HTTP/1.1 302 Found\r\nlocation: /\r\ncontent-length: 0\r\n\r\n";
        let (addr, _head) = serve_once(Some(moved), Duration::ZERO).await;
        let result = probe(addr, "/", Duration::from_secs(5)).await;
        assert_eq!(result, Probe::Pass { status: 302 });
    }

    #[tokio::test]
    async fn a_500_fails_with_its_status() {
        let error = "HTTP/1.1 500 Internal Server Error\r\nconnection: close\r\n\r\nboom";
        let (addr, _head) = serve_once(Some(error), Duration::ZERO).await;
        let result = probe(addr, "/health", Duration::from_secs(5)).await;
        assert!(!result.passed());
        assert_eq!(
            result,
            Probe::Fail {
                reason: "HTTP 500".into()
            }
        );
    }

    #[tokio::test]
    async fn a_worker_that_accepts_and_never_answers_fails_by_timeout() {
        let (addr, head) = serve_once(None, Duration::ZERO).await;
        let timeout = Duration::from_millis(300);
        let start = Instant::now();
        let result = probe(addr, "/health", timeout).await;
        let took = start.elapsed();
        assert_eq!(
            result,
            Probe::Fail {
                reason: "timed out after 300ms".into()
            }
        );
        assert!(head.await.is_ok(), "the request reached the server");
        assert!(took >= timeout && took < timeout + MARGIN, "took {took:?}");
    }

    #[tokio::test]
    async fn an_answer_later_than_the_timeout_fails() {
        let (addr, _head) = serve_once(Some(OK), Duration::from_secs(30)).await;
        let start = Instant::now();
        let result = probe(addr, "/health", Duration::from_millis(300)).await;
        assert_eq!(
            result,
            Probe::Fail {
                reason: "timed out after 300ms".into()
            }
        );
        assert!(start.elapsed() < Duration::from_millis(300) + MARGIN);
    }

    #[tokio::test]
    async fn a_closed_port_fails_with_connection_refused() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        drop(listener);
        let result = probe(addr, "/health", Duration::from_secs(5)).await;
        assert_eq!(
            result,
            Probe::Fail {
                reason: "connection refused".into()
            }
        );
    }

    #[tokio::test]
    async fn a_connection_closed_without_an_answer_fails() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move { drop(listener.accept().await) });
        let result = probe(addr, "/health", Duration::from_secs(5)).await;
        assert!(!result.passed(), "{result:?}");
    }
}
