//! Fuzzing the control socket's request decoding: [`Request::from_http`]
//! on any method, path and query, and the real connection code on any bytes
//! a client could write. Nothing panics; a request the socket cannot serve
//! gets an error reply (a JSON [`Problem`] when it is HTTP at all), never a
//! connection closed without a word.
//!
//! `PROPTEST_CASES=100000 cargo test -p corral fuzz_` runs longer.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use proptest::prelude::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::UnixStream;
use tokio::sync::{mpsc, watch};

use super::handlers::Handler;
use super::reply::Problem;
use super::request::{BadRequest, LogsQuery, Request, Streams, Target};
use super::schema::{Observed, SupervisorInfo, SupervisorState};
use super::server::connection;

/// App names as the config allows them, and `all`.
fn app_name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.-]{1,64}"
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        Just(Target::All),
        app_name().prop_map(|n| Target::parse(&n))
    ]
}

/// Every request the CLI can send.
fn request() -> impl Strategy<Value = Request> {
    let streams = prop_oneof![Just(Streams::Both), Just(Streams::Out), Just(Streams::Err)];
    let logs = (
        prop::option::of(app_name()),
        any::<usize>(),
        any::<bool>(),
        streams,
    )
        .prop_map(|(app, lines, follow, streams)| {
            Request::Logs(LogsQuery {
                app,
                lines,
                follow,
                streams,
            })
        });
    prop_oneof![
        Just(Request::Status),
        app_name().prop_map(|app| Request::Describe { app }),
        target().prop_map(|target| Request::Reload { target }),
        target().prop_map(|target| Request::Restart { target }),
        target().prop_map(|target| Request::Stop { target }),
        target().prop_map(|target| Request::Start { target }),
        (app_name(), any::<u32>()).prop_map(|(app, instances)| Request::Scale { app, instances }),
        logs,
        Just(Request::ReopenLogs),
        Just(Request::Shutdown),
    ]
}

/// Paths near the real ones: right segments, wrong counts, odd bytes.
fn path() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        prop::sample::select(vec![
            "v1",
            "status",
            "describe",
            "reload",
            "restart",
            "stop",
            "start",
            "scale",
            "logs",
            "reopen-logs",
            "shutdown",
            "all",
            "",
            "..",
            "%2F",
            "-1",
            "4294967296",
            "99999999999",
        ])
        .prop_map(str::to_owned),
        any::<String>(),
    ];
    prop::collection::vec(segment, 0..6).prop_map(|s| format!("/{}", s.join("/")))
}

fn query() -> impl Strategy<Value = Option<String>> {
    let pair = prop_oneof![
        ("(app|lines|follow|streams|x)", "[a-z0-9=%&-]{0,12}")
            .prop_map(|(k, v)| format!("{k}={v}")),
        any::<String>(),
    ];
    prop::option::of(prop::collection::vec(pair, 0..5).prop_map(|p| p.join("&")))
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec!["GET", "HEAD", "POST", "PUT", "DELETE", "get", ""])
            .prop_map(str::to_owned),
        any::<String>(),
    ]
}

proptest! {
    #[test]
    fn fuzz_control_every_request_survives_http(request in request()) {
        let (method, target) = request.to_http();
        let (path, query) = match target.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (target.as_str(), None),
        };
        prop_assert_eq!(Request::from_http(method, path, query), Ok(request));
    }

    #[test]
    fn fuzz_control_any_method_path_and_query(method in method(), path in path(), query in query()) {
        if let Err(BadRequest(message)) = Request::from_http(&method, &path, query.as_deref()) {
            prop_assert!(!message.is_empty());
        }
    }
}

/// A handler over an empty fleet whose daemon has gone: every request but
/// `status` is answered "shutting down", which is enough to see decoding.
fn handler() -> Arc<Handler> {
    let (_, fleet) = watch::channel(Default::default());
    let (_, supervisor) = watch::channel(SupervisorInfo {
        pid: 1,
        version: "0".into(),
        started_at: Utc::now(),
        ecosystem: "/srv/ecosystem.toml".into(),
        log_dir: "/srv/logs".into(),
        state: SupervisorState::Running,
    });
    let (calls, _) = mpsc::unbounded_channel();
    Arc::new(Handler::new(Observed::new(fleet, supervisor), calls))
}

/// Writes `bytes` to a fresh control connection, closes the write side and
/// reads everything the server answers.
async fn exchange(bytes: &[u8]) -> Vec<u8> {
    let (mut client, server) = UnixStream::pair().expect("socketpair");
    let served = tokio::spawn(connection(server, handler()));
    // The server may answer and close before reading it all.
    let _ = client.write_all(bytes).await;
    let _ = client.shutdown().await;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut answer))
        .await
        .expect("the server answers or closes within 5 s")
        .expect("read the answer");
    served.await.expect("the connection task does not panic");
    answer
}

/// Checks the answer to `bytes`: an HTTP response whenever a whole request
/// head arrived, and a JSON problem with one sentence whenever the request
/// reached the decoder and was refused.
fn check_answer(bytes: &[u8], answer: &[u8]) -> Result<(), TestCaseError> {
    let text = String::from_utf8_lossy(answer);
    if bytes.windows(4).any(|w| w == b"\r\n\r\n") {
        prop_assert!(
            text.starts_with("HTTP/1."),
            "no reply to {:?}: {text:?}",
            String::from_utf8_lossy(bytes)
        );
    }
    for response in text.split("HTTP/1.").skip(1) {
        let status: u16 = response.get(2..5).and_then(|s| s.parse().ok()).unwrap_or(0);
        prop_assert!((200..600).contains(&status), "{response:?}");
        prop_assert!(status < 500, "a server error: {response:?}");
        let is_json = response
            .to_ascii_lowercase()
            .contains("content-type: application/json");
        let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body);
        // A HEAD answer has the headers of the JSON problem and no body.
        if status >= 400 && is_json && !body.is_empty() {
            let problem: Problem = serde_json::from_str(body)
                .map_err(|e| TestCaseError::fail(format!("{e}: {body:?}")))?;
            prop_assert!(!problem.error.is_empty());
        }
    }
    Ok(())
}

/// Raw bytes: request lines built from the real verbs with random parts,
/// or anything at all.
fn raw_request() -> impl Strategy<Value = Vec<u8>> {
    let head = (
        method(),
        path(),
        query(),
        prop::sample::select(vec!["HTTP/1.1", "HTTP/1.0", "HTTP/9", ""]),
    )
        .prop_map(|(method, path, query, version)| {
            let target = match query {
                Some(q) => format!("{path}?{q}"),
                None => path,
            };
            format!("{method} {target} {version}\r\nHost: corral\r\n\r\n").into_bytes()
        });
    prop_oneof![
        4 => head,
        1 => any::<Vec<u8>>(),
        1 => prop::collection::vec(prop::sample::select(b"GET /v1/status HTTP/1.1\r\n:\0\xff ".to_vec()), 0..64),
    ]
}

proptest! {
    #[test]
    fn fuzz_control_socket_raw_bytes(bytes in raw_request()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let answer = runtime.block_on(exchange(&bytes));
        check_answer(&bytes, &answer)?;
    }
}

/// A request the decoder refuses is answered 400 with the reason, and the
/// connection stays usable for the next one.
#[tokio::test]
async fn fuzz_control_refused_request_gets_a_problem_and_keeps_the_connection() {
    let answer = exchange(
        b"POST /v1/scale/api/many HTTP/1.1\r\nHost: c\r\n\r\nGET /v1/status HTTP/1.1\r\nHost: c\r\n\r\n",
    )
    .await;
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
    assert!(
        text.contains(r#"{"error":"\"many\" is not a number of workers","kind":"usage"}"#),
        "{text}"
    );
    assert!(text.contains("HTTP/1.1 200 OK\r\n"), "{text}");
}

/// Found by `fuzz_control_socket_raw_bytes`: a client that shut its write
/// side after sending the request (`nc -N`, `socat`) got no answer at all.
#[tokio::test]
async fn fuzz_control_regression_half_closed_client_gets_its_answer() {
    let answer = exchange(b"GET /v1/status HTTP/1.1\r\nHost: c\r\n\r\n").await;
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text:?}");
    assert!(text.contains(r#""version":1"#), "{text}");
}

/// Bytes that are not HTTP get hyper's bare 400, not a silent close.
#[tokio::test]
async fn fuzz_control_bytes_that_are_not_http_get_400() {
    let answer = exchange(b"\x00\xffnot http at all\r\n\r\n").await;
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text:?}");
}
