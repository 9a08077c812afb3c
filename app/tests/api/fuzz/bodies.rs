//! JSON bodies for every route that takes one: plausible bodies that reach
//! the database, mistyped and mass-assigned fields, raw bytes, deep nesting
//! and wrong content types.

use axum::http::Method;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::{Backend, Sent, World, check_reply, fuzz, hard_string, json_value};

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

impl BodyRoute {
    /// Every route, next to the enum so that a new one is not left out.
    const ALL: [Self; 9] = [
        Self::Register,
        Self::Login,
        Self::Logout,
        Self::CreatePost,
        Self::UpdatePost,
        Self::UpdateDraftAsOther,
        Self::Comment,
        Self::Follow,
        Self::ReadNotifications,
    ];
}

fn body_route() -> impl Strategy<Value = BodyRoute> {
    prop::sample::select(&BodyRoute::ALL[..])
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
