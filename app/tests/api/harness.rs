//! The API under test: a router over a fresh SQLite file, request helpers
//! and users ready to act.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::business::{Services, Settings};
use app::data::{Repositories, Role, connect};
use app::infrastructure::cache::Cache;
use app::presentation::{AppState, router};
use async_trait::async_trait;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;

/// A test-only cache: a map, no expiry (the generation in keys is what
/// keeps reads fresh, which is what the tests check).
#[derive(Default)]
pub struct MapCache(Mutex<HashMap<String, Vec<u8>>>);

#[async_trait]
impl Cache for MapCache {
    async fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.0.lock().unwrap().get(key).cloned()
    }
    async fn set(&self, key: &str, value: Vec<u8>, _ttl: Duration) {
        self.0.lock().unwrap().insert(key.to_owned(), value);
    }
}

/// One app (or several "workers" over one database).
pub struct TestApp {
    pub router: Router,
    pub repos: Repositories,
    pub url: String,
    _dir: Arc<tempfile::TempDir>,
}

/// A registered, logged-in user.
#[derive(Clone, Debug)]
pub struct TestUser {
    pub id: String,
    pub email: String,
    pub token: String,
}

/// A response, read whole.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", |v| v.to_str().unwrap())
    }

    /// Asserts a problem+json error of `status` and returns its body.
    #[track_caller]
    pub fn problem(&self, status: u16) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(self.header("content-type"), "application/problem+json");
        let problem = self.json();
        assert_eq!(problem["status"], status);
        assert!(problem["type"].is_string() && problem["title"].is_string());
        problem
    }

    /// The fields named by a 422 problem.
    #[track_caller]
    pub fn invalid_fields(&self) -> Vec<String> {
        let problem = self.problem(422);
        let errors = problem["errors"]
            .as_array()
            .expect("422 lists errors")
            .clone();
        errors
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_owned())
            .collect()
    }
}

impl TestApp {
    pub async fn new() -> Self {
        Self::sharing(Arc::new(MapCache::default())).await
    }

    /// An app over a fresh database whose cache is `cache` (which other
    /// apps, over other databases, may share like one Redis).
    pub async fn sharing(cache: Arc<dyn Cache>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/app.db", dir.path().display());
        let repos = connect(&url).await.expect("open SQLite");
        repos.database.migrate().await.expect("migrate");
        Self::worker(repos, url, Arc::new(dir), cache)
    }

    /// Another worker over the same database, with its own cache.
    pub async fn sibling(&self) -> Self {
        let repos = connect(&self.url).await.expect("open SQLite");
        let cache = Arc::new(MapCache::default());
        Self::worker(repos, self.url.clone(), Arc::clone(&self._dir), cache)
    }

    /// A worker over repositories opened elsewhere (e.g. on PostgreSQL).
    pub fn over(repos: Repositories, url: String) -> Self {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        Self::worker(repos, url, dir, Arc::new(MapCache::default()))
    }

    fn worker(
        repos: Repositories,
        url: String,
        dir: Arc<tempfile::TempDir>,
        cache: Arc<dyn Cache>,
    ) -> Self {
        let services = Services::new(repos.clone(), Some(cache), Settings::default());
        let router = router(AppState::new(Arc::new(services), "test-worker"));
        Self {
            router,
            repos,
            url,
            _dir: dir,
        }
    }

    /// The same database behind another router (e.g. the ops router).
    pub fn with_router(mut self, router: Router) -> Self {
        self.router = router;
        self
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    /// A request with an optional token, extra headers and a JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let body = match body {
            Some(body) => {
                request = request.header("content-type", "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        self.send(request.body(body).unwrap()).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.call(Method::GET, path, token, &[], None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.call(Method::POST, path, token, &[], Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.call(Method::PATCH, path, token, &[], Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Reply {
        self.call(Method::DELETE, path, token, &[], None).await
    }

    /// Registers `name` (email `name@example.org`) and logs in.
    pub async fn user(&self, name: &str) -> TestUser {
        let email = format!("{name}@example.org");
        let body = json!({"email": email, "name": name, "password": "correct horse battery"});
        let registered = self.post("/api/auth/register", None, body).await;
        assert_eq!(
            registered.status,
            StatusCode::CREATED,
            "{:?}",
            registered.json()
        );
        let id = registered.json()["data"]["id"].as_str().unwrap().to_owned();
        let token = self.login(&email, "correct horse battery").await;
        TestUser { id, email, token }
    }

    /// A user made admin the way the CLI does it (through the repository).
    pub async fn admin(&self, name: &str) -> TestUser {
        let user = self.user(name).await;
        self.repos
            .users
            .set_role(&user.email, Role::Admin)
            .await
            .unwrap();
        user
    }

    pub async fn login(&self, email: &str, password: &str) -> String {
        let reply = self
            .post(
                "/api/auth/login",
                None,
                json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.json());
        reply.json()["data"]["token"].as_str().unwrap().to_owned()
    }

    /// Creates a post by `user` and returns its `data`.
    pub async fn new_post(&self, user: &TestUser, title: &str, status: &str) -> Value {
        let body = json!({"title": title, "content": "Some content that is long enough.", "tags": ["Rust", "web"], "status": status});
        let reply = self.post("/api/posts", Some(&user.token), body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.json());
        reply.json()["data"].clone()
    }
}
