//! The head's deadline: its rules, and a socket that idles, stalls in a
//! head, or stays busy with an open request.

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::*;
use crate::infrastructure::server::exchanges::Finishing;

const BOUND: Duration = Duration::from_millis(200);

#[test]
fn the_bound_counts_from_the_head_once_one_began() {
    let since = Instant::now();
    let head = since + Duration::from_secs(3);
    let idle = Phase::Waiting { since, head: None };
    assert_eq!(due(idle, BOUND), Some(since + BOUND));
    let started = Phase::Waiting {
        since,
        head: Some(head),
    };
    assert_eq!(due(started, BOUND), Some(head + BOUND));
    assert_eq!(due(Phase::Busy, BOUND), None);
}

#[test]
fn a_read_after_a_request_began_starts_a_new_wait() {
    let t0 = Instant::now();
    let now = t0 + Duration::from_secs(30);
    let timing = Phase::Waiting {
        since: t0,
        head: Some(t0),
    };
    let fresh = Phase::Waiting {
        since: now,
        head: None,
    };
    assert_eq!(phase_now(timing, true, true, || now), Phase::Busy);
    assert_eq!(
        phase_now(timing, false, true, || now),
        fresh,
        "answered between reads"
    );
    assert_eq!(phase_now(Phase::Busy, false, false, || now), fresh);
    assert_eq!(
        phase_now(timing, false, false, || now),
        timing,
        "the same head"
    );
}

#[test]
fn only_a_begun_head_is_answered_and_only_with_nothing_in_flight() {
    assert_eq!(ending(false, true), Ending::Close);
    assert_eq!(ending(false, false), Ending::Close);
    assert_eq!(ending(true, true), Ending::Answer408);
    assert_eq!(ending(true, false), Ending::CloseUnanswered);
}

#[test]
fn the_408_is_a_whole_problem_response() {
    let response = String::from_utf8(request_timeout_response()).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
        "{head}"
    );
    assert!(head.contains("\r\nconnection: close\r\n"), "{head}");
    assert!(head.contains(&format!("\r\ncontent-length: {}\r\n", body.len())));
    let problem: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(problem["status"], 408);
}

/// A clock over one end of a pipe; the test is the client at the other.
fn clock() -> (HeadClock<DuplexStream>, DuplexStream, Arc<Exchanges>) {
    let (server, client) = tokio::io::duplex(4096);
    let exchanges = Arc::new(Exchanges::default());
    (
        HeadClock::new(server, Arc::clone(&exchanges), BOUND),
        client,
        exchanges,
    )
}

#[tokio::test]
async fn an_idle_connection_ends_quietly_at_the_bound() {
    let (mut server, mut client, _) = clock();
    let began = Instant::now();
    let mut buf = [0u8; 64];
    assert_eq!(server.read(&mut buf).await.unwrap(), 0, "EOF");
    assert!(began.elapsed() >= BOUND);
    drop(server);
    let mut said = Vec::new();
    client.read_to_end(&mut said).await.unwrap();
    assert!(said.is_empty(), "{}", String::from_utf8_lossy(&said));
}

#[tokio::test]
async fn a_stalled_head_is_answered_408_at_the_bound_from_its_first_byte() {
    let (mut server, mut client, _) = clock();
    tokio::time::sleep(BOUND / 2).await;
    client.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    let first_byte = Instant::now();
    let mut buf = [0u8; 64];
    assert!(server.read(&mut buf).await.unwrap() > 0);
    let error = server.read(&mut buf).await.unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
    assert!(first_byte.elapsed() >= BOUND, "{:?}", first_byte.elapsed());
    drop(server);
    let mut said = Vec::new();
    client.read_to_end(&mut said).await.unwrap();
    assert!(said.starts_with(b"HTTP/1.1 408 "));
}

#[tokio::test]
async fn nothing_is_answered_over_bytes_not_yet_flushed() {
    let (mut server, mut client, _) = clock();
    client.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    let mut buf = [0u8; 64];
    assert!(server.read(&mut buf).await.unwrap() > 0);
    // Written but never flushed: hyper could have more of it buffered.
    server.write_all(b"HTTP/1.1 200 OK\r\n").await.unwrap();
    let error = server.read(&mut buf).await.unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
    drop(server);
    let mut said = Vec::new();
    client.read_to_end(&mut said).await.unwrap();
    assert_eq!(said, b"HTTP/1.1 200 OK\r\n");
}

#[tokio::test]
async fn no_bound_runs_while_a_request_is_open_and_a_new_wait_starts_after() {
    let (mut server, mut client, exchanges) = clock();
    exchanges.begin();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(BOUND * 3, server.read(&mut buf)).await;
    assert!(read.is_err(), "the open request's read must not time out");
    drop(Finishing::new((), Arc::clone(&exchanges)));
    let waited = Instant::now();
    assert_eq!(server.read(&mut buf).await.unwrap(), 0, "EOF");
    assert!(waited.elapsed() >= BOUND);
    client.shutdown().await.unwrap();
}

/// The soak's 408s: hyper read a whole bodiless request in one read, and
/// answered it without reading again; the next wait must not count from
/// that request's first byte.
#[tokio::test]
async fn a_request_answered_between_two_reads_restarts_the_clock() {
    let (mut server, mut client, exchanges) = clock();
    client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 64];
    assert!(server.read(&mut buf).await.unwrap() > 0);
    exchanges.begin();
    tokio::time::sleep(BOUND * 2).await;
    drop(Finishing::new((), Arc::clone(&exchanges)));
    let waited = Instant::now();
    assert_eq!(server.read(&mut buf).await.unwrap(), 0, "EOF, not a 408");
    assert!(waited.elapsed() >= BOUND, "{:?}", waited.elapsed());
    drop(server);
    let mut said = Vec::new();
    client.read_to_end(&mut said).await.unwrap();
    assert!(said.is_empty(), "{}", String::from_utf8_lossy(&said));
}
