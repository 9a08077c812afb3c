//! Posts: create, read by id or slug, visibility, ETags, If-Match and
//! deletion.

use axum::http::{Method, StatusCode};
use serde_json::json;

use super::harness::TestApp;

#[tokio::test]
async fn create_normalises_and_locates() {
    let app = TestApp::new().await;
    let ann = app.user("ann").await;
    let body = json!({"title": "  Crème Brûlée, Done Right! ", "content": "Ten or more characters.", "tags": [" Food ", "food", "Dessert"]});
    let reply = app.post("/api/posts", Some(&ann.token), body).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let post = reply.json()["data"].clone();
    assert_eq!(
        reply.header("location"),
        format!("/api/posts/{}", post["id"].as_str().unwrap())
    );
    assert_eq!(post["slug"], "creme-brulee-done-right");
    assert_eq!(post["title"], "Crème Brûlée, Done Right!");
    assert_eq!(post["status"], "draft");
    assert_eq!(post["tags"], json!(["food", "dessert"]));
    assert_eq!(post["author"], json!({"id": ann.id, "name": "ann"}));
    assert_eq!(
        (post["commentCount"].as_u64(), post["publishedAt"].is_null()),
        (Some(0), true)
    );
    assert_eq!(post["excerpt"], "Ten or more characters.");
    let twin = app
        .new_post(&ann, "Crème brûlée done right", "published")
        .await;
    assert_eq!(twin["slug"], "creme-brulee-done-right-2");
    assert!(twin["publishedAt"].is_string());
}

/// Found by the contract run (bench/contract.sh): `"tags": null` was 422
/// on create, though `null` for an optional field means "left out".
#[tokio::test]
async fn null_optional_fields_are_left_out_on_create() {
    let app = TestApp::new().await;
    let ann = app.user("ann").await;
    let body =
        json!({"title": "Nulls", "content": "Long enough content.", "tags": null, "status": null});
    let reply = app.post("/api/posts", Some(&ann.token), body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.json());
    let post = reply.json()["data"].clone();
    assert_eq!(
        (post["tags"].clone(), post["status"].clone()),
        (json!([]), json!("draft"))
    );
}

#[tokio::test]
async fn create_reports_every_broken_rule() {
    let app = TestApp::new().await;
    let ann = app.user("ann").await;
    let tags: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
    let body = json!({"title": "ab", "content": "too short", "tags": tags, "status": "live"});
    let reply = app.post("/api/posts", Some(&ann.token), body).await;
    assert_eq!(
        reply.invalid_fields(),
        ["title", "content", "tags", "status"]
    );
    let wrong_type = app
        .post(
            "/api/posts",
            Some(&ann.token),
            json!({"title": 5, "content": "long enough content"}),
        )
        .await;
    assert_eq!(wrong_type.invalid_fields(), ["title"]);
    let missing = app
        .post("/api/posts", Some(&ann.token), json!({"title": "A title"}))
        .await;
    assert_eq!(missing.invalid_fields(), ["content"]);
    app.post(
        "/api/posts",
        None,
        json!({"title": "A title", "content": "long enough content"}),
    )
    .await
    .problem(401);
    let listed = app.get("/api/posts", Some(&ann.token)).await.json();
    assert_eq!(listed["meta"]["total"], 0, "nothing was written");
}

#[tokio::test]
async fn drafts_are_hidden_from_everyone_but_author_and_admins() {
    let app = TestApp::new().await;
    let (ann, bob, root) = (
        app.user("ann").await,
        app.user("bob").await,
        app.admin("root").await,
    );
    let draft = app.new_post(&ann, "Secret plans", "draft").await;
    for path in [
        format!("/api/posts/{}", draft["id"].as_str().unwrap()),
        "/api/posts/secret-plans".to_owned(),
    ] {
        app.get(&path, None).await.problem(404);
        app.get(&path, Some(&bob.token)).await.problem(404);
        assert_eq!(
            app.get(&path, Some(&ann.token)).await.status,
            StatusCode::OK
        );
        assert_eq!(
            app.get(&path, Some(&root.token)).await.status,
            StatusCode::OK
        );
    }
    app.get("/api/posts/no-such-post", None).await.problem(404);
}

#[tokio::test]
async fn single_posts_have_etags() {
    let app = TestApp::new().await;
    let ann = app.user("ann").await;
    let post = app.new_post(&ann, "Etagged", "published").await;
    let path = format!("/api/posts/{}", post["id"].as_str().unwrap());
    let first = app.get(&path, None).await;
    assert_eq!(
        first.json()["data"]["content"],
        "Some content that is long enough."
    );
    let etag = first.header("etag").to_owned();
    assert!(etag.starts_with("\"v"), "{etag}");
    let by_slug = app.get("/api/posts/etagged", None).await;
    assert_eq!(by_slug.header("etag"), etag);
    let cached = app
        .call(Method::GET, &path, None, &[("if-none-match", &etag)], None)
        .await;
    assert_eq!(cached.status, StatusCode::NOT_MODIFIED);
    app.post(
        &format!("{path}/comments"),
        Some(&ann.token),
        json!({"content": "first!"}),
    )
    .await;
    let changed = app
        .call(Method::GET, &path, None, &[("if-none-match", &etag)], None)
        .await;
    assert_eq!(
        changed.status,
        StatusCode::OK,
        "a new comment changes the representation"
    );
    assert_eq!(changed.json()["data"]["commentCount"], 1);
}

#[tokio::test]
async fn patch_honours_if_match_and_publishes_once() {
    let app = TestApp::new().await;
    let ann = app.user("ann").await;
    let post = app.new_post(&ann, "Versioned", "draft").await;
    let path = format!("/api/posts/{}", post["id"].as_str().unwrap());
    let etag = app
        .get(&path, Some(&ann.token))
        .await
        .header("etag")
        .to_owned();
    let update = |tag: String, body: serde_json::Value| {
        let path = path.clone();
        let token = ann.token.clone();
        let app = &app;
        async move {
            app.call(
                Method::PATCH,
                &path,
                Some(&token),
                &[("if-match", &tag)],
                Some(body),
            )
            .await
        }
    };
    let published = update(
        etag.clone(),
        json!({"status": "published", "title": "Versioned, again"}),
    )
    .await;
    assert_eq!(published.status, StatusCode::OK);
    let data = published.json()["data"].clone();
    assert_eq!(
        (data["status"].as_str(), data["title"].as_str()),
        (Some("published"), Some("Versioned, again"))
    );
    assert_eq!(data["slug"], "versioned", "the slug stays stable");
    let published_at = data["publishedAt"].as_str().unwrap().to_owned();
    let new_etag = published.header("etag").to_owned();
    assert_ne!(new_etag, etag);
    update(etag.clone(), json!({"title": "Lost update"}))
        .await
        .problem(412);
    update("\"garbage\"".into(), json!({"title": "Lost update"}))
        .await
        .problem(412);
    update("W/".to_owned() + &new_etag, json!({"title": "Lost update"}))
        .await
        .problem(412);
    assert_eq!(
        app.get(&path, None).await.json()["data"]["title"],
        "Versioned, again"
    );
    let draft_again = update(new_etag, json!({"status": "draft"})).await;
    assert_eq!(draft_again.status, StatusCode::OK);
    let republished = app
        .patch(
            &path,
            Some(&ann.token),
            json!({"status": "published", "tags": ["New"]}),
        )
        .await;
    assert_eq!(
        republished.json()["data"]["publishedAt"],
        published_at.as_str()
    );
    assert_eq!(republished.json()["data"]["tags"], json!(["new"]));
    assert_eq!(
        app.patch(&path, Some(&ann.token), json!({"content": "short"}))
            .await
            .invalid_fields(),
        ["content"]
    );
    assert_eq!(
        app.patch(&path, Some(&ann.token), json!({})).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn delete_takes_the_comments_along() {
    let app = TestApp::new().await;
    let ann = app.user("ann").await;
    let post = app.new_post(&ann, "Short lived", "published").await;
    let id = post["id"].as_str().unwrap();
    let comment = app
        .post(
            &format!("/api/posts/{id}/comments"),
            Some(&ann.token),
            json!({"content": "hi"}),
        )
        .await;
    let comment_id: uuid::Uuid = comment.json()["data"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        app.delete(&format!("/api/posts/{id}"), Some(&ann.token))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    app.get(&format!("/api/posts/{id}"), Some(&ann.token))
        .await
        .problem(404);
    app.delete(&format!("/api/posts/{id}"), Some(&ann.token))
        .await
        .problem(404);
    assert!(
        app.repos
            .comments
            .by_id(comment_id)
            .await
            .unwrap()
            .is_none()
    );
}
