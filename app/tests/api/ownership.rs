//! OWASP API1 (broken object-level authorization), walked over every route
//! that takes an id: each one is tried with a stranger's token on another
//! user's objects, and must refuse (403 when the stranger may see the
//! object, 404 when not) or act on the stranger's own data only, leaving
//! the owner's untouched.
//!
//! The list of routes comes from `app/openapi.json`, which
//! `presentation::openapi::tests` keeps equal to the router's `table()`:
//! a route with an `{id}` added to the router and not exercised here fails
//! [`every_id_taking_route_refuses_a_strangers_token`].

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::harness::{TestApp, TestUser};

/// The `(method, path template)` of every operation taking an id.
fn id_taking_operations() -> Vec<(Method, String)> {
    let document: Value =
        serde_json::from_str(include_str!("../../openapi.json")).expect("openapi.json");
    let paths = document["paths"].as_object().expect("paths");
    let mut operations = Vec::new();
    for (path, item) in paths.iter().filter(|(path, _)| path.contains('{')) {
        for method in item.as_object().expect("a path item").keys() {
            // The other keys of a path item (`parameters`, `summary`) are
            // not operations.
            if ["get", "put", "post", "delete", "patch", "head"].contains(&method.as_str()) {
                let method = method.to_uppercase().parse().expect("a method");
                operations.push((method, path.clone()));
            }
        }
    }
    operations
}

/// Ann's objects that Eve, a stranger, goes after.
struct Anns {
    ann: TestUser,
    published: String,
    draft: String,
    comment: String,
}

impl Anns {
    async fn new(app: &TestApp) -> Self {
        let ann = app.user("ann").await;
        let published = id_of(&app.new_post(&ann, "Published", "published").await);
        let draft = id_of(&app.new_post(&ann, "Draft of ann", "draft").await);
        let path = format!("/api/posts/{published}/comments");
        let comment = app
            .post(&path, Some(&ann.token), json!({"content": "ann's"}))
            .await;
        assert_eq!(comment.status, StatusCode::CREATED);
        let comment = id_of(&comment.json()["data"]);
        Self {
            ann,
            published,
            draft,
            comment,
        }
    }
}

fn id_of(value: &Value) -> String {
    value["id"].as_str().expect("an id").to_owned()
}

#[tokio::test]
async fn every_id_taking_route_refuses_a_strangers_token() {
    let app = TestApp::new().await;
    let anns = Anns::new(&app).await;
    let (eve, bob) = (app.user("eve").await, app.user("bob").await);
    let eve_token = Some(eve.token.as_str());
    // Bob follows Ann: Eve must not be able to undo Bob's edge.
    let follow = format!("/api/users/{}/follow", anns.ann.id);
    let followed = app
        .call(Method::POST, &follow, Some(&bob.token), &[], None)
        .await;
    assert_eq!(followed.status, StatusCode::NO_CONTENT);

    let operations = id_taking_operations();
    assert!(operations.len() >= 9, "{operations:?}");
    for (method, template) in operations {
        let what = format!("{method} {template}");
        match (method.as_str(), template.as_str()) {
            ("GET", "/api/users/{id}") => {
                let seen = app
                    .get(&format!("/api/users/{}", anns.ann.id), eve_token)
                    .await;
                assert_eq!(seen.status, StatusCode::OK, "{what}");
                assert!(seen.json()["data"].get("email").is_none(), "{what}");
            }
            ("POST" | "DELETE", "/api/users/{id}/follow") => {
                // Acts on the caller's own edge only: Eve follows and
                // unfollows (in whichever order the method is met), and
                // Bob's edge stays.
                for method in [Method::POST, Method::DELETE] {
                    let reply = app.call(method, &follow, eve_token, &[], None).await;
                    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{what}");
                }
            }
            ("GET", "/api/posts/{id}") => {
                let path = format!("/api/posts/{}", anns.draft);
                app.get(&path, eve_token).await.problem(404);
                app.get(&path, None).await.problem(404);
            }
            ("PATCH", "/api/posts/{id}") => {
                for (id, status) in [(&anns.published, 403), (&anns.draft, 404)] {
                    let path = format!("/api/posts/{id}");
                    app.patch(&path, eve_token, json!({"title": "Defaced"}))
                        .await
                        .problem(status);
                }
            }
            ("DELETE", "/api/posts/{id}") => {
                for (id, status) in [(&anns.published, 403), (&anns.draft, 404)] {
                    let path = format!("/api/posts/{id}");
                    app.delete(&path, eve_token).await.problem(status);
                }
            }
            ("GET", "/api/posts/{id}/comments") => {
                let path = format!("/api/posts/{}/comments", anns.draft);
                app.get(&path, eve_token).await.problem(404);
            }
            ("POST", "/api/posts/{id}/comments") => {
                let path = format!("/api/posts/{}/comments", anns.draft);
                app.post(&path, eve_token, json!({"content": "on a draft"}))
                    .await
                    .problem(404);
            }
            ("DELETE", "/api/comments/{id}") => {
                let path = format!("/api/comments/{}", anns.comment);
                app.delete(&path, eve_token).await.problem(403);
            }
            _ => panic!("{what} takes an id and is not exercised here: add it"),
        }
    }

    // Nothing of Ann's changed, and Bob still follows her.
    let ann = Some(anns.ann.token.as_str());
    for (id, title) in [
        (&anns.published, "Published"),
        (&anns.draft, "Draft of ann"),
    ] {
        let post = app.get(&format!("/api/posts/{id}"), ann).await;
        assert_eq!(post.status, StatusCode::OK);
        assert_eq!(post.json()["data"]["title"], title);
    }
    let comments = app
        .get(&format!("/api/posts/{}/comments", anns.published), ann)
        .await
        .json();
    assert_eq!(comments["data"][0]["id"], anns.comment.as_str());
    let profile = app
        .get(&format!("/api/users/{}", anns.ann.id), ann)
        .await
        .json();
    assert_eq!(profile["data"]["followerCount"], 1, "{profile}");
    assert_eq!(profile["data"]["email"], anns.ann.email.as_str());
}
