//! Comments, follows, notifications and tags.

use axum::http::{Method, StatusCode};
use serde_json::json;

use super::harness::TestApp;

#[tokio::test]
async fn comments_only_on_published_posts() {
    let app = TestApp::new().await;
    let (ann, bob) = (app.user("ann").await, app.user("bob").await);
    let draft = app.new_post(&ann, "Draft", "draft").await;
    let path = format!("/api/posts/{}/comments", draft["id"].as_str().unwrap());
    app.post(&path, Some(&ann.token), json!({"content": "mine"}))
        .await
        .problem(404);
    app.get(&path, Some(&bob.token)).await.problem(404);
    assert_eq!(
        app.get(&path, Some(&ann.token)).await.json()["meta"]["total"],
        0
    );
    let post = app.new_post(&ann, "Open", "published").await;
    let path = format!("/api/posts/{}/comments", post["id"].as_str().unwrap());
    for text in ["first", "second", "third"] {
        let reply = app
            .post(
                &path,
                Some(&bob.token),
                json!({"content": format!("  {text}  ")}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED);
        assert_eq!(reply.json()["data"]["author"]["id"], bob.id.as_str());
    }
    let page = app.get(&format!("{path}?limit=2"), None).await.json();
    assert_eq!(
        page["meta"],
        json!({"total": 3, "page": 1, "limit": 2, "totalPages": 2})
    );
    assert_eq!(
        (
            page["data"][0]["content"].as_str(),
            page["data"][1]["content"].as_str()
        ),
        (Some("first"), Some("second"))
    );
    assert_eq!(
        app.post(&path, Some(&bob.token), json!({"content": "  "}))
            .await
            .invalid_fields(),
        ["content"]
    );
    let long = "x".repeat(2001);
    assert_eq!(
        app.post(&path, Some(&bob.token), json!({"content": long}))
            .await
            .invalid_fields(),
        ["content"]
    );
    app.post(&path, None, json!({"content": "anonymous"}))
        .await
        .problem(401);
    app.get(
        "/api/posts/0190a5b0-0000-7000-8000-000000000000/comments",
        None,
    )
    .await
    .problem(404);
    assert_eq!(
        app.get(&format!("{path}?page=0"), None)
            .await
            .invalid_fields(),
        ["page"]
    );
}

#[tokio::test]
async fn comment_deletion_rights() {
    let app = TestApp::new().await;
    let (ann, bob, eve, root) = (
        app.user("ann").await,
        app.user("bob").await,
        app.user("eve").await,
        app.admin("root").await,
    );
    let post = app.new_post(&ann, "Discussed", "published").await;
    let path = format!("/api/posts/{}/comments", post["id"].as_str().unwrap());
    let mut ids = Vec::new();
    for _ in 0..3 {
        let reply = app
            .post(&path, Some(&bob.token), json!({"content": "bob says"}))
            .await;
        ids.push(reply.json()["data"]["id"].as_str().unwrap().to_owned());
    }
    app.delete(&format!("/api/comments/{}", ids[0]), Some(&eve.token))
        .await
        .problem(403);
    app.delete(&format!("/api/comments/{}", ids[0]), None)
        .await
        .problem(401);
    assert_eq!(
        app.get(&path, None).await.json()["meta"]["total"],
        3,
        "nothing was deleted"
    );
    for (id, who) in ids.iter().zip([&bob, &ann, &root]) {
        assert_eq!(
            app.delete(&format!("/api/comments/{id}"), Some(&who.token))
                .await
                .status,
            StatusCode::NO_CONTENT
        );
    }
    app.delete(&format!("/api/comments/{}", ids[0]), Some(&bob.token))
        .await
        .problem(404);
    assert_eq!(app.get(&path, None).await.json()["meta"]["total"], 0);
}

#[tokio::test]
async fn following_brings_notifications() {
    let app = TestApp::new().await;
    let (ann, bob) = (app.user("ann").await, app.user("bob").await);
    let follow = format!("/api/users/{}/follow", ann.id);
    let reply = app
        .call(Method::POST, &follow, Some(&bob.token), &[], None)
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    let twice = app
        .call(Method::POST, &follow, Some(&bob.token), &[], None)
        .await;
    assert_eq!(
        twice.status,
        StatusCode::NO_CONTENT,
        "following twice is fine"
    );
    let own = format!("/api/users/{}/follow", bob.id);
    assert_eq!(
        app.call(Method::POST, &own, Some(&bob.token), &[], None)
            .await
            .invalid_fields(),
        ["id"]
    );
    let ghost = "/api/users/0190a5b0-0000-7000-8000-000000000000/follow";
    app.call(Method::POST, ghost, Some(&bob.token), &[], None)
        .await
        .problem(404);
    app.call(Method::POST, &follow, None, &[], None)
        .await
        .problem(401);
    let profile = app
        .get(&format!("/api/users/{}", ann.id), None)
        .await
        .json();
    assert_eq!(profile["data"]["followerCount"], 1);

    let draft = app.new_post(&ann, "Coming soon", "draft").await;
    assert_eq!(
        app.get("/api/notifications", Some(&bob.token)).await.json()["meta"]["total"],
        0
    );
    let path = format!("/api/posts/{}", draft["id"].as_str().unwrap());
    app.patch(&path, Some(&ann.token), json!({"status": "published"}))
        .await;
    app.new_post(&ann, "Out now", "published").await;
    let list = app.get("/api/notifications", Some(&bob.token)).await.json();
    assert_eq!(list["meta"]["total"], 2);
    let newest = &list["data"][0];
    assert_eq!(newest["kind"], "post.published");
    assert_eq!(newest["post"]["title"], "Out now");
    assert_eq!(
        (newest["author"]["name"].as_str(), newest["read"].as_bool()),
        (Some("ann"), Some(false))
    );
    assert_eq!(list["data"][1]["post"]["slug"], "coming-soon");
    let read = app
        .call(
            Method::POST,
            "/api/notifications/read",
            Some(&bob.token),
            &[],
            None,
        )
        .await;
    assert_eq!(read.status, StatusCode::NO_CONTENT);
    let list = app.get("/api/notifications", Some(&bob.token)).await.json();
    let read: Vec<_> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["read"].as_bool())
        .collect();
    assert_eq!(read, [Some(true), Some(true)], "both, and only, are read");
    app.get("/api/notifications", None).await.problem(401);
    assert_eq!(
        app.get("/api/notifications?limit=0", Some(&bob.token))
            .await
            .invalid_fields(),
        ["limit"]
    );

    let unfollow = app
        .call(Method::DELETE, &follow, Some(&bob.token), &[], None)
        .await;
    assert_eq!(unfollow.status, StatusCode::NO_CONTENT);
    app.new_post(&ann, "Unseen", "published").await;
    assert_eq!(
        app.get("/api/notifications", Some(&bob.token)).await.json()["meta"]["total"],
        2
    );
}

#[tokio::test]
async fn tags_count_published_posts_most_used_first() {
    let app = TestApp::new().await;
    let ann = app.user("ann").await;
    let create = |title: &'static str, tags: serde_json::Value, status: &'static str| {
        app.post("/api/posts", Some(&ann.token), json!({"title": title, "content": "long enough content", "tags": tags, "status": status}))
    };
    create("One", json!(["b", "a"]), "published").await;
    create("Two", json!(["b"]), "published").await;
    create("Three", json!(["b", "c"]), "draft").await;
    let tags = app.get("/api/tags", None).await;
    assert_eq!(tags.status, StatusCode::OK);
    assert_eq!(
        tags.json()["data"],
        json!([{"name": "b", "postCount": 2}, {"name": "a", "postCount": 1}])
    );
}
