//! Fuzzing the API through the real router over SQLite and PostgreSQL:
//! JSON bodies built from the right field names with values of every type
//! and size (and raw bytes, and wrong content types) for every route that
//! takes a body ([`bodies`]), and random query strings, ids and headers for
//! every route that reads them ([`reads`]). Whatever comes in, the answer is
//! never a 5xx, and every 4xx is the problem+json the contract (API.md)
//! describes.
//!
//! 256 cases per property by default; `PROPTEST_CASES=100000 cargo test -p
//! app --test tests fuzz_` runs longer. Failures are saved in
//! `mod.proptest-regressions` beside this file and replayed first on every
//! run.

mod bodies;
mod reads;

use axum::body::Body;
use axum::http::{Method, Request};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};
use serde_json::{Value, json};

use super::harness::{Reply, TestApp, TestUser};
use crate::data::harness::PgSchema;

/// The app with a user, her published post and draft, a comment and a
/// second user, so that fuzzed requests reach past authentication and
/// lookups into validation.
struct World {
    app: TestApp,
    ann: TestUser,
    bob: TestUser,
    post: String,
    draft: String,
    comment: String,
}

/// Where the fuzzed app keeps its data: PostgreSQL refuses more (NUL,
/// numbers out of range) than SQLite, so bodies are fuzzed on both.
#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

/// The app over `backend`, with the schema to drop after; `None` (saying
/// so) when PostgreSQL is not configured.
async fn open(backend: Backend) -> Option<(TestApp, Option<PgSchema>)> {
    match backend {
        Backend::Sqlite => Some((TestApp::new().await, None)),
        Backend::Postgres => {
            let schema = PgSchema::create().await?;
            let url = schema.url();
            let repos = app::data::connect(&url).await.expect("open PostgreSQL");
            repos.database.migrate().await.expect("migrate");
            Some((TestApp::over(repos, url), Some(schema)))
        }
    }
}

impl World {
    async fn new(app: TestApp) -> Self {
        let ann = app.user("ann").await;
        let bob = app.user("bob").await;
        let post = app.new_post(&ann, "Hello world", "published").await;
        let post = post["id"].as_str().unwrap().to_owned();
        let draft = app.new_post(&ann, "Draft post", "draft").await;
        let draft = draft["id"].as_str().unwrap().to_owned();
        let path = format!("/api/posts/{post}/comments");
        let comment = app
            .post(&path, Some(&bob.token), json!({"content": "Nice."}))
            .await;
        let comment = comment.json()["data"]["id"].as_str().unwrap().to_owned();
        Self {
            app,
            ann,
            bob,
            post,
            draft,
            comment,
        }
    }
}

/// Runs `property` on cases of `strategy` against one [`World`] over
/// `backend`, with failures saved and replayed as the `proptest!` macro
/// does.
fn fuzz<S: Strategy>(
    backend: Backend,
    strategy: S,
    property: impl AsyncFn(&World, S::Value) -> Result<(), TestCaseError>,
) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let Some((app, schema)) = runtime.block_on(open(backend)) else {
        return;
    };
    let world = runtime.block_on(World::new(app));
    let config = Config {
        // Beside this file: a test crate has no `src/` for the default.
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        source_file: Some(file!()),
        ..Config::default()
    };
    let result =
        TestRunner::new(config).run(&strategy, |case| runtime.block_on(property(&world, case)));
    if let Some(schema) = schema {
        runtime.block_on(schema.drop());
    }
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

/// The contract's rules for any answer: no 5xx; a 4xx is problem+json with
/// `type`, `title`, `status` and `detail`, field errors on a 422, and the
/// header its status calls for.
fn check_reply(what: &str, reply: &Reply) -> Result<(), TestCaseError> {
    let status = reply.status.as_u16();
    let body = String::from_utf8_lossy(&reply.body);
    prop_assert!(status < 500, "{what}: {status} {body}");
    if status < 400 {
        return Ok(());
    }
    prop_assert_eq!(
        reply.header("content-type"),
        "application/problem+json",
        "{}: {} {}",
        what,
        status,
        body
    );
    let problem: Value = serde_json::from_slice(&reply.body)
        .map_err(|e| TestCaseError::fail(format!("{what}: {e}: {body}")))?;
    prop_assert!(problem["type"].is_string(), "{what}: {body}");
    prop_assert!(problem["title"].is_string(), "{what}: {body}");
    prop_assert_eq!(&problem["status"], &json!(status), "{}: {}", what, body);
    prop_assert!(problem["detail"].is_string(), "{what}: {body}");
    let errors = problem["errors"].as_array();
    if status == 422 {
        let errors = errors.filter(|e| !e.is_empty());
        let errors = errors.ok_or_else(|| TestCaseError::fail(format!("{what}: {body}")))?;
        for error in errors {
            prop_assert!(
                error["field"].is_string() && error["message"].is_string(),
                "{what}: {body}"
            );
        }
    }
    let needs = match status {
        401 => Some("www-authenticate"),
        405 => Some("allow"),
        429 => Some("retry-after"),
        _ => None,
    };
    if let Some(header) = needs {
        prop_assert!(
            !reply.header(header).is_empty(),
            "{what}: {status} without {header}"
        );
    }
    Ok(())
}

/// Strings that stress storage and validation.
fn hard_string() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => any::<String>(),
        1 => prop::sample::select(vec![
            "", " ", "\u{0}", "a\u{0}b", "draft", "published", "Draft", "a@b.c", "ann@example.org",
            "ANN@EXAMPLE.ORG", "correct horse battery", "x@y", "@", "\u{202e}", "\u{fffd}", "🦀",
            "' OR 1=1 --", "%", "_", "\\", "<script>", "00000000-0000-0000-0000-000000000000",
        ])
        .prop_map(str::to_owned),
        1 => ("[a-zA-Z0-9 ]{1,8}", 1usize..5000).prop_map(|(s, n)| s.repeat(n)),
        1 => ("(é|🦀|\u{0}|a)", 1usize..300).prop_map(|(s, n)| s.repeat(n)),
    ]
}

/// Any JSON value, nested a few levels.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        hard_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..12).prop_map(Value::Array),
            prop::collection::btree_map(hard_string(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A body as bytes, with the content type it is sent under.
#[derive(Debug, Clone)]
struct Sent {
    content_type: Option<String>,
    bytes: Vec<u8>,
}

impl World {
    async fn send(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<&Sent>,
    ) -> Result<Reply, TestCaseError> {
        self.send_with(method, uri, token, &[], body).await
    }

    /// [`World::send`] with `headers` added (after the token, so a fuzzed
    /// `authorization` replaces it).
    async fn send_with(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        headers: &[(&str, Vec<u8>)],
        body: Option<&Sent>,
    ) -> Result<Reply, TestCaseError> {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        for (name, value) in headers {
            request = request.header(*name, value.as_slice());
        }
        let bytes = match body {
            Some(sent) => {
                if let Some(content_type) = &sent.content_type {
                    request = request.header("content-type", content_type);
                }
                sent.bytes.clone()
            }
            None => Vec::new(),
        };
        let request = request
            .body(Body::from(bytes))
            .map_err(|e| TestCaseError::reject(e.to_string()))?;
        Ok(self.app.send(request).await)
    }
}

/// `text` with every byte but unreserved characters percent-encoded.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
