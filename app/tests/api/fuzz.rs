//! Fuzzing the API through the real router over a migrated SQLite file:
//! JSON bodies built from the right field names with values of every type
//! and size (and raw bytes, and wrong content types) for every route that
//! takes a body, and random query strings and ids for every route that
//! reads them. Whatever comes in, the answer is never a 5xx, and every
//! 4xx is the problem+json the contract (API.md) describes.
//!
//! 256 cases per property by default; `PROPTEST_CASES=100000 cargo test -p
//! app --test tests fuzz_` runs longer. Failures are saved in
//! `proptest-regressions/` and replayed first on every run.

use axum::body::Body;
use axum::http::{Method, Request};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};
use serde_json::{Map, Value, json};

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
/// `backend`, with failures saved next to this file like the `proptest!`
/// macro does.
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
        failure_persistence: Some(Box::new(FileFailurePersistence::SourceParallel(
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

/// Fields of every body, the ones only the server sets, and near misses.
const FIELDS: &[&str] = &[
    "email",
    "name",
    "password",
    "title",
    "content",
    "tags",
    "status",
    "role",
    "authorId",
    "id",
    "slug",
    "publishedAt",
    "author",
    "Title",
    "",
];

/// A JSON object of right (and wrong) field names with any values; tags
/// also as arrays of strings, the shape that reaches the rules.
fn body_object() -> impl Strategy<Value = Value> {
    let field = prop::sample::select(FIELDS).prop_flat_map(|name| {
        let tags = prop::collection::vec(hard_string(), 0..14).prop_map(|t| json!(t));
        let value = match name {
            "tags" => prop_oneof![tags, json_value()].boxed(),
            _ => prop_oneof![3 => hard_string().prop_map(Value::String), 1 => json_value()].boxed(),
        };
        (Just(name.to_owned()), value)
    });
    prop::collection::vec(field, 0..6).prop_map(|fields| Value::Object(Map::from_iter(fields)))
}

/// A body as bytes, with the content type it is sent under.
#[derive(Debug, Clone)]
struct Sent {
    content_type: Option<String>,
    bytes: Vec<u8>,
}

/// A title, content, name or tag that passes the rules, with hard text
/// inside: what reaches the database.
fn plausible_text(min: usize, max: usize) -> impl Strategy<Value = String> {
    let hard = prop_oneof![
        Just(String::new()),
        "[ -~]{0,20}",
        "(é|🦀|\u{202e}|\u{fffd}|\\|%|_|'|\"|\t|\u{7f}){1,20}",
        any::<String>(),
    ];
    ("[A-Za-z]{3,12}", hard).prop_map(move |(start, hard)| {
        let text: String = format!("{start}{hard}").chars().take(max).collect();
        if text.chars().count() < min {
            format!("{text:x<min$}")
        } else {
            text
        }
    })
}

/// A body of the right fields for `route` that is valid or nearly so.
fn plausible(route: BodyRoute) -> BoxedStrategy<Value> {
    use BodyRoute::*;
    let tags = || prop::collection::vec(plausible_text(1, 30), 0..11);
    let status = || prop::sample::select(vec!["draft", "published", "Published", ""]);
    match route {
        Register => ("[a-z]{1,10}@[a-z]{1,8}\\.(org|com)", plausible_text(1, 100), "[ -~]{6,40}")
            .prop_map(|(email, name, password)| json!({"email": email, "name": name, "password": password}))
            .boxed(),
        Login => (prop::sample::select(vec!["ann@example.org", "ANN@example.org", "zed@example.org"]), "[ -~]{0,40}")
            .prop_map(|(email, password)| json!({"email": email, "password": password}))
            .boxed(),
        CreatePost => (plausible_text(3, 200), plausible_text(10, 5000), tags(), status())
            .prop_map(|(title, content, tags, status)| json!({"title": title, "content": content, "tags": tags, "status": status}))
            .boxed(),
        UpdatePost | UpdateDraftAsOther => (
            prop::option::of(plausible_text(3, 200)),
            prop::option::of(plausible_text(10, 5000)),
            prop::option::of(tags()),
            prop::option::of(status()),
        )
            .prop_map(|(title, content, tags, status)| json!({"title": title, "content": content, "tags": tags, "status": status}))
            .boxed(),
        Comment => plausible_text(1, 2000).prop_map(|c| json!({"content": c})).boxed(),
        Logout | Follow | ReadNotifications => Just(json!({})).boxed(),
    }
}

/// For `route`: a plausible body sent as JSON, or any body under any type.
fn sent_to(route: BodyRoute) -> impl Strategy<Value = Sent> {
    prop_oneof![
        1 => plausible(route).prop_map(|v| Sent {
            content_type: Some("application/json".to_owned()),
            bytes: v.to_string().into_bytes(),
        }),
        2 => sent(),
    ]
}

fn sent() -> impl Strategy<Value = Sent> {
    let json_type = prop_oneof![
        8 => Just(Some("application/json".to_owned())),
        1 => prop::sample::select(vec![
            "application/json; charset=latin1", "application/merge-patch+json", "APPLICATION/JSON",
            "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
            "application/jsonx", "application/", ";", "",
        ])
        .prop_map(|t| Some(t.to_owned())),
        1 => Just(None),
    ];
    let bytes = prop_oneof![
        6 => body_object().prop_map(|v| v.to_string().into_bytes()),
        1 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => any::<Vec<u8>>(),
        1 => (prop::sample::select(vec!["[", "{\"a\":", "{\"tags\":["]), 1usize..20_000)
            .prop_map(|(open, n)| open.repeat(n).into_bytes()),
        1 => prop::sample::select(vec![
            "{\"title\": \"a\", \"title\": \"b\", \"content\": \"0123456789\"}",
            "{\"title\": 1e999999}", "{\"tags\": [1e-400]}", "{\"content\": \"\\ud800\"}",
            "{\"content\": \"\\u0000\"}", "{", "", "null", "{}garbage", "\u{feff}{}", "{\"email\":\"a\"}\0",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
    ];
    (json_type, bytes).prop_map(|(content_type, bytes)| Sent {
        content_type,
        bytes,
    })
}

/// The routes that read a JSON body (`logout` revokes the token, so it is
/// sent without one), as method, path and whose token.
#[derive(Debug, Clone, Copy)]
enum BodyRoute {
    Register,
    Login,
    Logout,
    CreatePost,
    UpdatePost,
    UpdateDraftAsOther,
    Comment,
    Follow,
    ReadNotifications,
}

fn body_route() -> impl Strategy<Value = BodyRoute> {
    use BodyRoute::*;
    prop::sample::select(vec![
        Register,
        Login,
        Logout,
        CreatePost,
        UpdatePost,
        UpdateDraftAsOther,
        Comment,
        Follow,
        ReadNotifications,
    ])
}

impl World {
    fn body_target(&self, route: BodyRoute) -> (Method, String, Option<&str>) {
        use BodyRoute::*;
        let (ann, bob) = (Some(self.ann.token.as_str()), Some(self.bob.token.as_str()));
        match route {
            Register => (Method::POST, "/api/auth/register".into(), None),
            Login => (Method::POST, "/api/auth/login".into(), None),
            Logout => (Method::POST, "/api/auth/logout".into(), None),
            CreatePost => (Method::POST, "/api/posts".into(), ann),
            UpdatePost => (Method::PATCH, format!("/api/posts/{}", self.post), ann),
            UpdateDraftAsOther => (Method::PATCH, format!("/api/posts/{}", self.draft), bob),
            Comment => (
                Method::POST,
                format!("/api/posts/{}/comments", self.post),
                bob,
            ),
            Follow => (
                Method::POST,
                format!("/api/users/{}/follow", self.ann.id),
                bob,
            ),
            ReadNotifications => (Method::POST, "/api/notifications/read".into(), bob),
        }
    }

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

fn fuzz_bodies(backend: Backend) {
    let strategy = body_route().prop_flat_map(|route| (Just(route), sent_to(route)));
    fuzz(backend, strategy, async |world, (route, sent)| {
        let (method, path, token) = world.body_target(route);
        let reply = world
            .send(method.clone(), &path, token, Some(&sent))
            .await?;
        check_reply(&format!("{method} {path} {sent:?}"), &reply)
    });
}

#[test]
fn fuzz_api_json_bodies() {
    fuzz_bodies(Backend::Sqlite);
}

#[test]
fn fuzz_api_json_bodies_on_postgres() {
    fuzz_bodies(Backend::Postgres);
}

/// A query value: numbers of every size and sign, percent-encoded text,
/// and broken escapes.
fn query_value() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => any::<i64>().prop_map(|n| n.to_string()),
        1 => prop::sample::select(vec![
            "", "0", "1", "100", "101", "-1", "1.5", "1e3", "99999999999999999999", "0x10", "%201", "+1",
            "%", "%zz", "%FF", "%00", "%2B", "+", "draft", "published", "all", "a%26b=c", "ann",
        ])
        .prop_map(str::to_owned),
        2 => hard_string().prop_map(|s| percent_encode(&s)),
    ]
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

fn query_string() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        4 => prop::sample::select(vec![
            "page", "limit", "status", "author", "tag", "q", "sort", "cursor", "offset", "page[]",
            "limit[0]", "",
        ])
        .prop_map(str::to_owned),
        1 => hard_string().prop_map(|s| percent_encode(&s)),
    ];
    let pair = prop_oneof![
        8 => (key.clone(), query_value()).prop_map(|(k, v)| format!("{k}={v}")),
        1 => key,
    ];
    prop::collection::vec(pair, 0..6).prop_map(|pairs| pairs.join("&"))
}

/// The routes that read a query string or an id, as method and path, with
/// `{}` where a fuzzed id goes.
const READS: &[(&str, &str)] = &[
    ("GET", "/api/posts"),
    ("GET", "/api/posts/{}"),
    ("GET", "/api/posts/{}/comments"),
    ("GET", "/api/notifications"),
    ("GET", "/api/tags"),
    ("GET", "/api/users/{}"),
    ("GET", "/api/users/me"),
    ("DELETE", "/api/comments/{}"),
    ("DELETE", "/api/posts/{}"),
    ("DELETE", "/api/users/{}/follow"),
    ("PUT", "/api/posts/{}"),
    ("GET", "/health"),
];

/// An id in a path: one of the fixture's, or a near miss, or any text.
#[derive(Debug, Clone)]
enum Id {
    Fixture(prop::sample::Index),
    Raw(String),
}

fn id() -> impl Strategy<Value = Id> {
    prop_oneof![
        2 => any::<prop::sample::Index>().prop_map(Id::Fixture),
        1 => prop::sample::select(vec![
            "00000000-0000-0000-0000-000000000000", "0190f5b4-0000-7000-8000-00000000000g",
            "hello-world", "%00", "%FF", "..", "%2F", "a%2Fb", "%", "-1", "99999999999999999999",
        ])
        .prop_map(|s| Id::Raw(s.to_owned())),
        2 => hard_string().prop_map(|s| Id::Raw(percent_encode(&s))),
    ]
}

fn fuzz_reads(backend: Backend) {
    let strategy = (
        prop::sample::select(READS),
        id(),
        query_string(),
        prop::option::of(prop::sample::select(vec!["ann", "bob", "bogus"])),
    );
    fuzz(
        backend,
        strategy,
        async |world, ((method, path), id, query, who)| {
            let id = match id {
                Id::Fixture(which) => {
                    let ids = [
                        &world.post,
                        &world.draft,
                        &world.comment,
                        &world.ann.id,
                        &world.bob.id,
                    ];
                    ids[which.index(ids.len())].clone()
                }
                Id::Raw(id) => id,
            };
            let uri = format!("{}?{query}", path.replace("{}", &id));
            let mut token = match who {
                Some("ann") => Some(world.ann.token.as_str()),
                Some("bob") => Some(world.bob.token.as_str()),
                Some(_) => Some("not-a-token"),
                None => None,
            };
            // The fixture's owners may delete it; later cases need it, so a
            // DELETE goes as the other user (Ann may delete comments on her post).
            if method == "DELETE" && token.is_some() {
                token = Some(if path.starts_with("/api/comments") {
                    "not-a-token"
                } else {
                    world.bob.token.as_str()
                });
            }
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let reply = world.send(method.clone(), &uri, token, None).await?;
            check_reply(&format!("{method} {uri} as {who:?}"), &reply)
        },
    );
}

#[test]
fn fuzz_api_query_strings_and_ids() {
    fuzz_reads(Backend::Sqlite);
}

#[test]
fn fuzz_api_query_strings_and_ids_on_postgres() {
    fuzz_reads(Backend::Postgres);
}

/// A header value: visible ASCII, spaces, tabs and bytes above 127 (what
/// HTTP lets through), around the forms the API reads.
fn header_value() -> impl Strategy<Value = Vec<u8>> {
    let raw = prop::collection::vec(
        any::<u8>().prop_filter("no control bytes", |b| {
            *b == b'\t' || (*b >= 32 && *b != 127)
        }),
        0..300,
    );
    prop_oneof![
        raw,
        prop::sample::select(vec![
            "Bearer",
            "Bearer ",
            "bearer x",
            "Basic YTpi",
            "Bearer a.b.c",
            "*",
            "W/\"x\"",
            "\"\"",
            "\"a\", \"b\"",
            "W/",
            "\"",
            "Bearer \u{e9}",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        "[ -~]{0,40}".prop_map(|s| format!("Bearer {s}").into_bytes()),
    ]
}

/// The headers the API reads: credentials, preconditions and the request
/// id, with any value, on the routes that read them.
fn fuzz_headers(backend: Backend) {
    let name = prop::sample::select(vec![
        "authorization",
        "if-match",
        "if-none-match",
        "x-request-id",
        "accept",
        "content-length",
    ]);
    let headers = prop::collection::vec((name, header_value()), 0..4);
    let route = prop::sample::select(vec![
        ("GET", "/api/posts/{}"),
        ("PATCH", "/api/posts/{}"),
        ("GET", "/api/users/me"),
        ("GET", "/api/posts"),
        ("POST", "/api/posts/{}/comments"),
    ]);
    fuzz(
        backend,
        (route, headers),
        async |world, ((method, path), headers)| {
            let uri = path.replace("{}", &world.post);
            // An empty patch changes nothing, so later cases see the same post.
            let bytes: &[u8] = match method {
                "PATCH" => b"{}",
                _ => br#"{"content": "A comment that is fine."}"#,
            };
            let body = (method != "GET").then(|| Sent {
                content_type: Some("application/json".to_owned()),
                bytes: bytes.to_vec(),
            });
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let token = Some(world.ann.token.as_str());
            let reply = world
                .send_with(method.clone(), &uri, token, &headers, body.as_ref())
                .await?;
            check_reply(&format!("{method} {uri} {headers:?}"), &reply)
        },
    );
}

#[test]
fn fuzz_api_headers() {
    fuzz_headers(Backend::Sqlite);
}
