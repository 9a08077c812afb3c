//! The load client: virtual clients that each send `GET` at a steady pace,
//! on a new connection per request or on keep-alive connections, and never
//! retry, so that every failure is seen and sorted (see [`crate::outcome`]).
//!
//! It speaks just enough HTTP/1.1 ([`crate::http`]) over plain tokio
//! sockets, because the scenarios need what a full client hides: whether a
//! connection was reused, and its local port, which ties a failed request to
//! the worker that held its connection (see [`crate::attribution`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::BufReader;
use tokio::net::TcpStream;
use tokio::time::{MissedTickBehavior, interval, timeout};

use crate::http::{Broken, exchange};
use crate::outcome::{Counts, Ending, Outcome, classify};

/// What to send, how fast, and how patiently.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The shared port.
    pub addr: SocketAddr,
    /// The path every request asks for.
    pub path: String,
    /// Virtual clients, each with at most one request in flight.
    pub clients: usize,
    /// Requests per second over all clients (each client's share is paced
    /// evenly; a client whose answer is late sends its next one at once).
    pub rate: u32,
    /// Keep connections open between requests (until the server says
    /// `Connection: close` or a request fails).
    pub keep_alive: bool,
    /// How long a request may take, connection included, before it counts
    /// as a timeout.
    pub timeout: Duration,
}

/// One failed request, with what ties it to a connection and a moment.
#[derive(Clone, Debug, Serialize)]
pub struct Failure {
    /// Its kind.
    pub outcome: Outcome,
    /// The connection's local port; 0 if no connection was made.
    pub port: u16,
    /// When its connection was opened.
    #[serde(skip)]
    pub opened: Instant,
    /// When the request was sent.
    #[serde(skip)]
    pub started: Instant,
    /// When it failed.
    #[serde(skip)]
    pub ended: Instant,
}

/// What a load run saw.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// Requests by outcome.
    pub counts: Counts,
    /// Every failed request.
    #[serde(skip)]
    pub failures: Vec<Failure>,
}

/// A load run in the background, on its own runtime.
pub struct Load {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Report>,
}

impl Load {
    /// Starts the clients of `plan`.
    pub fn start(plan: Plan) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a tokio runtime for the load client");
            runtime.block_on(run(plan, flag))
        });
        Self { stop, thread }
    }

    /// Stops the clients (each finishes its request in flight) and sums up
    /// what they saw.
    pub fn stop(self) -> Report {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the load client panicked")
    }
}

async fn run(plan: Plan, stop: Arc<AtomicBool>) -> Report {
    let plan = Arc::new(plan);
    let clients: Vec<_> = (0..plan.clients)
        .map(|_| tokio::spawn(client(Arc::clone(&plan), Arc::clone(&stop))))
        .collect();
    let mut total = Report::default();
    for client in clients {
        let report = client.await.expect("a load client task panicked");
        total.counts.merge(&report.counts);
        total.failures.extend(report.failures);
    }
    total
}

/// An open connection and what the report needs to know of it.
struct Connection {
    stream: BufReader<TcpStream>,
    port: u16,
    opened: Instant,
}

async fn client(plan: Arc<Plan>, stop: Arc<AtomicBool>) -> Report {
    let period = Duration::from_secs_f64(plan.clients as f64 / f64::from(plan.rate.max(1)));
    let mut tick = interval(period);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut report = Report::default();
    let mut kept = None;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let started = Instant::now();
        let mut tie = Tie {
            port: 0,
            opened: started,
            reused: false,
        };
        let ending = match timeout(plan.timeout, request(&plan, &mut kept, &mut tie)).await {
            Ok(ending) => ending,
            Err(_) => {
                kept = None;
                Ending::TimedOut
            }
        };
        let outcome = classify(ending, tie.reused);
        report.counts.add(outcome);
        if outcome != Outcome::Ok {
            report.failures.push(Failure {
                outcome,
                port: tie.port,
                opened: tie.opened,
                started,
                ended: Instant::now(),
            });
        }
    }
    report
}

/// The connection a request went on, as soon as it is known.
struct Tie {
    port: u16,
    opened: Instant,
    /// Whether it had carried a response before.
    reused: bool,
}

/// One request on the kept connection or a new one; leaves the connection
/// in `kept` if it may carry another.
async fn request(plan: &Plan, kept: &mut Option<Connection>, tie: &mut Tie) -> Ending {
    let reused = kept.take().filter(still_open);
    tie.reused = reused.is_some();
    let mut conn = match reused {
        Some(conn) => conn,
        None => match connect(plan.addr).await {
            Ok(conn) => conn,
            Err(error) => return Ending::Io(error.kind()),
        },
    };
    (tie.port, tie.opened) = (conn.port, conn.opened);
    match exchange(&mut conn.stream, &plan.path, plan.keep_alive).await {
        Ok((status, keep)) => {
            if keep && plan.keep_alive {
                *kept = Some(conn);
            }
            Ending::Answered(status)
        }
        Err(Broken::Io(kind)) => Ending::Io(kind),
        Err(Broken::Malformed) => Ending::Malformed,
    }
}

/// Whether a kept connection is still open: one the server closed while it
/// sat idle is given up before it is used again, as a browser or hyper's
/// pool does, so that only a close that races the request counts as a reset.
fn still_open(conn: &Connection) -> bool {
    let mut byte = [0; 1];
    conn.stream.buffer().is_empty()
        && matches!(
            conn.stream.get_ref().try_read(&mut byte),
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock
        )
}

async fn connect(addr: SocketAddr) -> std::io::Result<Connection> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(Connection {
        port: stream.local_addr()?.port(),
        opened: Instant::now(),
        stream: BufReader::new(stream),
    })
}

#[cfg(test)]
mod tests {
    //! The client against small servers that fail in one way each, over
    //! real sockets.

    use std::io::{BufRead, BufReader, Write};
    use std::net::{TcpListener, TcpStream};

    use super::*;

    /// A server on a free port that reads each request head on each
    /// connection and lets `answer` write a reply (`false`: close instead).
    fn serve(answer: fn(&mut TcpStream, usize) -> bool) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address");
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                    let mut writer = stream;
                    for n in 0.. {
                        let mut line = String::new();
                        while line != "\r\n" {
                            line.clear();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                        }
                        if !answer(&mut writer, n) {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    fn ok(stream: &mut TcpStream) -> bool {
        stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
            .is_ok()
    }

    fn load(addr: SocketAddr, keep_alive: bool) -> Counts {
        let load = Load::start(Plan {
            addr,
            path: "/".to_owned(),
            clients: 2,
            rate: 40,
            keep_alive,
            timeout: Duration::from_millis(200),
        });
        std::thread::sleep(Duration::from_millis(500));
        load.stop().counts
    }

    #[test]
    fn answers_are_counted_by_status() {
        let addr = serve(|stream, n| {
            if n % 2 == 0 {
                ok(stream)
            } else {
                let reply = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n";
                stream.write_all(reply).is_ok()
            }
        });
        let counts = load(addr, true);
        assert!(counts.ok > 0 && counts.status[&503] > 0, "{counts:?}");
        assert_eq!(counts.failed(), counts.status[&503], "{counts:?}");
    }

    #[test]
    fn a_connection_closed_before_any_answer_is_a_reset_on_a_new_connection() {
        let counts = load(serve(|_, _| false), false);
        assert!(counts.reset_new > 0, "{counts:?}");
        assert_eq!(counts.failed(), counts.reset_new, "{counts:?}");
    }

    #[test]
    fn a_kept_connection_closed_under_the_next_request_is_a_reset_on_a_reused_one() {
        let counts = load(serve(|stream, n| n == 0 && ok(stream)), true);
        assert!(counts.ok > 0 && counts.reset_reused > 0, "{counts:?}");
        assert_eq!(counts.failed(), counts.reset_reused, "{counts:?}");
    }

    #[test]
    fn a_kept_connection_the_server_closed_while_idle_is_not_reused() {
        let addr = serve(|stream, _| {
            // Says nothing of closing, then closes at once: an idle close.
            ok(stream);
            false
        });
        let counts = load(addr, true);
        assert!(counts.ok > 0, "{counts:?}");
        assert_eq!(counts.failed(), 0, "{counts:?}");
    }

    #[test]
    fn a_silent_server_is_a_timeout_and_a_closed_port_a_refusal() {
        let counts = load(serve(|_, _| true), false);
        assert!(counts.timeout > 0, "{counts:?}");
        assert_eq!(counts.failed(), counts.timeout, "{counts:?}");

        let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = closed.local_addr().expect("address");
        drop(closed);
        let counts = load(addr, false);
        assert!(counts.refused > 0, "{counts:?}");
        assert_eq!(counts.failed(), counts.refused, "{counts:?}");
    }
}
