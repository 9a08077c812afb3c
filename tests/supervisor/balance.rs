//! Balanced workers: keep-alive connections opened all at once to the real
//! app under corral are shared out evenly by its two workers, round after
//! round, although both accept from one shared queue.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::helper::Corral;

/// Two workers of the app (the access log on, as by default).
const CONFIG: &str = r#"
[[apps]]
name = "api"
command = "{app}"
instances = 2
listen = ["127.0.0.1:0"]
wait_ready = true
listen_timeout = "20s"
[apps.env]
DATABASE_URL = "sqlite://data/app.db"
"#;

/// Connections per round, as the benchmark's `wrk -c64` opens them.
const CONNECTIONS: usize = 64;

/// Opens every connection, then sends `GET /health` on each and returns
/// which worker answered each (`serviceId` ends in its `CORRAL_INSTANCE`).
/// The connections are then closed, and each waited for until the worker
/// closed its side too, so the next round starts from no connection.
fn one_round(addr: SocketAddr) -> BTreeMap<String, usize> {
    let streams: Vec<TcpStream> = (0..CONNECTIONS)
        .map(|_| TcpStream::connect(addr).expect("connect"))
        .collect();
    for mut stream in &streams {
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: balance\r\n\r\n")
            .expect("send");
    }
    let mut served = BTreeMap::new();
    for stream in &streams {
        let mut reader = BufReader::new(stream);
        let mut length = 0;
        let mut line = String::new();
        loop {
            line.clear();
            reader.read_line(&mut line).expect("read the head");
            let lower = line.to_ascii_lowercase();
            if let Some(value) = lower.strip_prefix("content-length:") {
                length = value.trim().parse().expect("content-length");
            }
            if line == "\r\n" || line.is_empty() {
                break;
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).expect("read the body");
        let health: serde_json::Value = serde_json::from_slice(&body).expect("health JSON");
        let worker = health["serviceId"].as_str().expect("serviceId").to_owned();
        *served.entry(worker).or_default() += 1;
    }
    for mut stream in streams {
        stream.shutdown(Shutdown::Write).expect("close");
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest);
    }
    served
}

#[test]
fn sixty_four_connections_opened_at_once_are_split_evenly_over_two_workers() {
    let mut corral = Corral::start(CONFIG);
    assert_eq!(corral.wait_online().len(), 2);
    let addr = corral.listen_addr();
    // 40-60% of 64 connections.
    let fair = 26..=38;
    let rounds: Vec<BTreeMap<String, usize>> = (0..5).map(|_| one_round(addr)).collect();
    for served in &rounds {
        assert_eq!(served.len(), 2, "both workers served: {rounds:?}");
        assert!(
            served.values().all(|n| fair.contains(n)),
            "each worker holds 40-60% of the connections, every round: {rounds:?}"
        );
    }
    // A drained stop, so the workers leave (and remove) their table.
    corral.signal(Signal::SIGTERM);
    assert!(corral.wait_exit(Duration::from_secs(20)).success());
}
