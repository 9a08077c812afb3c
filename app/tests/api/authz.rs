//! OWASP API1/API3/API5: another user's token never reaches someone else's
//! resource (403 when they may see it, 404 when they may not), nothing
//! changes when refused, and no client can set server-owned fields.

use axum::http::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use super::harness::TestApp;

#[tokio::test]
async fn strangers_cannot_touch_posts_or_comments() {
    let app = TestApp::new().await;
    let (ann, eve) = (app.user("ann").await, app.user("eve").await);
    let public = app.new_post(&ann, "Public", "published").await;
    let draft = app.new_post(&ann, "Private", "draft").await;
    let comment = app
        .post(
            &format!("/api/posts/{}/comments", public["id"].as_str().unwrap()),
            Some(&ann.token),
            json!({"content": "ann's"}),
        )
        .await;
    let comment_id = comment.json()["data"]["id"].as_str().unwrap().to_owned();

    for (post, status) in [(&public, 403), (&draft, 404)] {
        let id = post["id"].as_str().unwrap();
        let path = format!("/api/posts/{id}");
        app.patch(&path, Some(&eve.token), json!({"title": "Defaced"}))
            .await
            .problem(status);
        app.delete(&path, Some(&eve.token)).await.problem(status);
        app.patch(&path, None, json!({"title": "Defaced"}))
            .await
            .problem(401);
        app.delete(&path, None).await.problem(401);
        let stored = app
            .repos
            .posts
            .by_id(id.parse::<Uuid>().unwrap())
            .await
            .unwrap()
            .expect("still there");
        assert_eq!(
            (stored.title.as_str(), stored.version),
            (post["title"].as_str().unwrap(), 1)
        );
    }
    app.delete(&format!("/api/comments/{comment_id}"), Some(&eve.token))
        .await
        .problem(403);
    assert!(
        app.repos
            .comments
            .by_id(comment_id.parse().unwrap())
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn admins_may_edit_and_delete_anything() {
    let app = TestApp::new().await;
    let (ann, root) = (app.user("ann").await, app.admin("root").await);
    let draft = app.new_post(&ann, "Moderated", "draft").await;
    let path = format!("/api/posts/{}", draft["id"].as_str().unwrap());
    let edited = app
        .patch(
            &path,
            Some(&root.token),
            json!({"title": "Moderated title"}),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK);
    assert_eq!(
        edited.json()["data"]["author"]["id"],
        ann.id.as_str(),
        "the author stays"
    );
    assert_eq!(
        app.delete(&path, Some(&root.token)).await.status,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn server_owned_fields_cannot_be_set() {
    let app = TestApp::new().await;
    let base = json!({"email": "mallory@example.org", "name": "Mallory", "password": "long enough password"});
    for (field, value) in [
        ("role", json!("admin")),
        ("id", json!(Uuid::now_v7())),
        ("createdAt", json!("2000-01-01T00:00:00Z")),
    ] {
        let mut body = base.clone();
        body[field] = value;
        assert_eq!(
            app.post("/api/auth/register", None, body)
                .await
                .invalid_fields(),
            [field]
        );
    }
    assert!(
        app.repos
            .users
            .by_email("mallory@example.org")
            .await
            .unwrap()
            .is_none(),
        "nothing was created"
    );
    let mallory = app.user("mallory").await;
    let me = app.get("/api/users/me", Some(&mallory.token)).await.json();
    assert_eq!(me["data"]["role"], "user");
    let login =
        json!({"email": mallory.email, "password": "correct horse battery", "role": "admin"});
    assert_eq!(
        app.post("/api/auth/login", None, login)
            .await
            .invalid_fields(),
        ["role"]
    );

    let ann = app.user("ann").await;
    let post = json!({"title": "Forged", "content": "long enough content", "authorId": ann.id});
    assert_eq!(
        app.post("/api/posts", Some(&mallory.token), post)
            .await
            .invalid_fields(),
        ["authorId"]
    );
    let mine = app.new_post(&mallory, "Mine", "draft").await;
    let path = format!("/api/posts/{}", mine["id"].as_str().unwrap());
    for (field, value) in [
        ("authorId", json!(ann.id)),
        ("id", json!(Uuid::now_v7())),
        ("slug", json!("x")),
        ("publishedAt", json!("2000-01-01T00:00:00Z")),
        ("version", json!(9)),
    ] {
        let mut body = json!({"title": "Changed"});
        body[field] = value;
        let reply = app.patch(&path, Some(&mallory.token), body).await;
        assert_eq!(reply.invalid_fields(), [field]);
    }
    let stored = app.get(&path, Some(&mallory.token)).await.json()["data"].clone();
    assert_eq!(
        (stored["title"].as_str(), stored["author"]["id"].as_str()),
        (Some("Mine"), Some(mallory.id.as_str()))
    );
    let comment_path = format!("{path}/comments");
    app.patch(&path, Some(&mallory.token), json!({"status": "published"}))
        .await;
    let forged = json!({"content": "hi", "authorId": ann.id});
    assert_eq!(
        app.post(&comment_path, Some(&mallory.token), forged)
            .await
            .invalid_fields(),
        ["authorId"]
    );
}

#[tokio::test]
async fn own_notifications_only() {
    let app = TestApp::new().await;
    let (ann, bob, eve) = (
        app.user("ann").await,
        app.user("bob").await,
        app.user("eve").await,
    );
    app.call(
        Method::POST,
        &format!("/api/users/{}/follow", ann.id),
        Some(&bob.token),
        &[],
        None,
    )
    .await;
    app.new_post(&ann, "News", "published").await;
    assert_eq!(
        app.get("/api/notifications", Some(&eve.token)).await.json()["meta"]["total"],
        0
    );
    app.call(
        Method::POST,
        "/api/notifications/read",
        Some(&eve.token),
        &[],
        None,
    )
    .await;
    let bobs = app.get("/api/notifications", Some(&bob.token)).await.json();
    assert_eq!(
        (
            bobs["meta"]["total"].as_u64(),
            bobs["data"][0]["read"].as_bool()
        ),
        (Some(1), Some(false))
    );
}
