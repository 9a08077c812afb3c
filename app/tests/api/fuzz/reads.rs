//! Query strings, ids in paths and the headers the API reads, on every
//! route that reads them.

use axum::http::Method;
use proptest::prelude::*;

use super::{Backend, Sent, check_reply, fuzz, hard_string, percent_encode};

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
        // DEL is a control byte: it stands for the tab instead (a filter
        // would reject too many cases on long runs).
        (32u8..=255).prop_map(|b| if b == 127 { b'\t' } else { b }),
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
