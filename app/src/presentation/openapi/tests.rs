//! The document against the router, both ways, and against its own rules.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Body;
use axum::http::header::{ALLOW, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::Value;
use tower::ServiceExt as _;

use super::DOCUMENT;
use crate::business::{Services, Settings};
use crate::presentation::{AppState, ops_table, router, routes};

fn document() -> Value {
    serde_json::from_str(DOCUMENT).expect("app/openapi.json is JSON")
}

/// The public router over a fresh SQLite database (kept alive by `dir`).
async fn app(dir: &tempfile::TempDir) -> axum::Router {
    let url = format!("sqlite://{}/app.db", dir.path().display());
    let repos = crate::data::connect(&url).await.expect("open SQLite");
    repos.database.migrate().await.expect("migrate");
    let services = Services::new(repos, None, Settings::default());
    router(AppState::new(Arc::new(services), "openapi-test"))
}

/// Every path template the public router serves.
fn routed_paths() -> Vec<&'static str> {
    routes::table()
        .into_iter()
        .chain(ops_table())
        .map(|(path, _)| path)
        .collect()
}

/// The methods the router accepts on `template`, from the `Allow` header
/// of its 405 to a method no route takes. axum answers `HEAD` wherever it
/// answers `GET`; that is counted only where the document names it.
async fn routed_methods(
    app: &axum::Router,
    template: &str,
    documented: &BTreeSet<String>,
) -> BTreeSet<String> {
    let path = template.replace("{id}", "0190b3c0-0000-7000-8000-000000000000");
    let request = Request::builder()
        .method(Method::OPTIONS)
        .uri(&path)
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::METHOD_NOT_ALLOWED,
        "OPTIONS {path}"
    );
    let allow = response.headers()[ALLOW].to_str().unwrap();
    allow
        .split(',')
        .map(|method| method.trim().to_ascii_lowercase())
        .filter(|method| method != "head" || documented.contains("head"))
        .collect()
}

fn documented_methods(item: &Value) -> BTreeSet<String> {
    let verbs = [
        "get", "head", "post", "put", "patch", "delete", "options", "trace",
    ];
    item.as_object()
        .expect("a path item is an object")
        .keys()
        .filter(|key| verbs.contains(&key.as_str()))
        .cloned()
        .collect()
}

#[tokio::test]
async fn every_route_is_documented_with_its_methods_and_nothing_else_is() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir).await;
    let document = document();
    let paths = document["paths"].as_object().unwrap();
    let routed = routed_paths();
    for template in &routed {
        let item = paths
            .get(*template)
            .unwrap_or_else(|| panic!("{template} is routed but not in app/openapi.json"));
        let documented = documented_methods(item);
        let methods = routed_methods(&app, template, &documented).await;
        assert_eq!(
            methods, documented,
            "methods of {template}: routed vs documented"
        );
    }
    for path in paths.keys() {
        assert!(
            routed.contains(&path.as_str()),
            "{path} is in app/openapi.json but no route serves it"
        );
    }
}

#[tokio::test]
async fn the_document_is_served_with_an_etag() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir).await;
    let get = |tag: Option<&str>| {
        let mut request = Request::get("/openapi.json");
        if let Some(tag) = tag {
            request = request.header(IF_NONE_MATCH, tag);
        }
        app.clone().oneshot(request.body(Body::empty()).unwrap())
    };
    let response = get(None).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
    let tag = response.headers()[ETAG].to_str().unwrap().to_owned();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, DOCUMENT.as_bytes());
    let again = get(Some(&tag)).await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
}

#[test]
fn the_document_is_openapi_3_1_of_this_version() {
    let document = document();
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn every_reference_resolves() {
    fn walk(value: &Value, document: &Value) {
        match value {
            Value::Object(fields) => {
                if let Some(Value::String(target)) = fields.get("$ref") {
                    let pointer = target.strip_prefix('#').expect("local references only");
                    assert!(
                        document.pointer(pointer).is_some(),
                        "{target} resolves to nothing"
                    );
                }
                fields.values().for_each(|v| walk(v, document));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, document)),
            _ => {}
        }
    }
    let document = document();
    walk(&document, &document);
}

/// The answers every operation of a kind can give, whatever its handler:
/// the database can be down (503) on every route that reads it; a bearer
/// route can meet a bad token (401); a body can be unreadable (400), too
/// large (413), of another type (415) or break a rule (422).
#[test]
fn every_operation_lists_the_answers_its_kind_can_give() {
    let document = document();
    let without_database = ["/metrics", "/openapi.json", "/health", "/health/live"];
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in documented_methods(item) {
            let operation = &item[&method];
            let responses = operation["responses"].as_object().unwrap();
            let has = |status: &str| responses.contains_key(status);
            let name = format!("{} {path}", method.to_uppercase());
            if !without_database.contains(&path.as_str()) {
                assert!(has("503"), "{name} can meet a database outage: 503");
            }
            let security = operation["security"]
                .as_array()
                .expect("security is explicit");
            if !security.is_empty() {
                assert!(has("401"), "{name} takes a token, which can be bad: 401");
            }
            if operation.get("requestBody").is_some() {
                for status in ["400", "413", "415", "422"] {
                    assert!(has(status), "{name} takes a body: {status}");
                }
            }
        }
    }
}
