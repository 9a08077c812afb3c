//! The recorded answers and which request gets which.

use std::path::Path;

use anyhow::Context as _;
use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, StatusCode};
use serde::Deserialize;

/// One recorded answer, as the suite writes it.
#[derive(Debug, Deserialize)]
pub struct Route {
    /// The request method it answers (`GET`, `POST`).
    pub method: String,
    /// The request path it answers; the query string is never compared.
    pub path: String,
    /// Whether `path` is a prefix (`/api/posts/` answers every post) rather
    /// than the whole path.
    #[serde(default)]
    pub prefix: bool,
    /// The status the app answered.
    pub status: u16,
    /// The headers the app sent, less those the server sets itself
    /// (`content-length`, `date`, `connection`).
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The body the app sent, as text (every benchmarked answer is JSON).
    pub body: String,
}

/// A route made ready to answer: parsed headers and a shared body.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: StatusCode,
    /// The headers, in the recorded order.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The body, shared by every answer.
    pub body: Bytes,
}

/// Every recorded answer, looked up by method and path.
#[derive(Debug)]
pub struct Routes {
    entries: Vec<(Method, String, bool, Reply)>,
}

impl Routes {
    /// Reads the suite's JSON file of routes.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the routes file {}", path.display()))?;
        let routes: Vec<Route> = serde_json::from_str(&text).with_context(|| {
            format!(
                "parsing the routes file {}: expected a JSON list of {{method, path, prefix, status, headers, body}}",
                path.display()
            )
        })?;
        Self::new(routes)
    }

    /// Prepares `routes`, refusing any that could never be sent.
    pub fn new(routes: Vec<Route>) -> anyhow::Result<Self> {
        let mut entries = Vec::with_capacity(routes.len());
        for route in routes {
            let what = format!("{} {}", route.method, route.path);
            let method = Method::from_bytes(route.method.as_bytes())
                .with_context(|| format!("route {what}: the method is not a valid token"))?;
            let status = StatusCode::from_u16(route.status)
                .with_context(|| format!("route {what}: {} is not a status", route.status))?;
            let mut headers = Vec::with_capacity(route.headers.len());
            for (name, value) in route.headers {
                let name = HeaderName::from_bytes(name.as_bytes())
                    .with_context(|| format!("route {what}: bad header name {name:?}"))?;
                let value = HeaderValue::from_str(&value)
                    .with_context(|| format!("route {what}: bad value for header {name}"))?;
                headers.push((name, value));
            }
            let reply = Reply {
                status,
                headers,
                body: Bytes::from(route.body),
            };
            entries.push((method, route.path, route.prefix, reply));
        }
        Ok(Self { entries })
    }

    /// The answer to `method path`: an exact path first, else the longest
    /// matching prefix; `None` when nothing was recorded for it.
    pub fn find(&self, method: &Method, path: &str) -> Option<&Reply> {
        let same_method = || self.entries.iter().filter(move |e| e.0 == *method);
        same_method()
            .find(|(_, p, prefix, _)| !prefix && p == path)
            .or_else(|| {
                same_method()
                    .filter(|(_, p, prefix, _)| *prefix && path.starts_with(p.as_str()))
                    .max_by_key(|(_, p, _, _)| p.len())
            })
            .map(|(_, _, _, reply)| reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: &str, path: &str, prefix: bool, body: &str) -> Route {
        Route {
            method: method.into(),
            path: path.into(),
            prefix,
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into(),
        }
    }

    fn routes() -> Routes {
        Routes::new(vec![
            route("GET", "/api/posts", false, "list"),
            route("GET", "/api/posts/", true, "post"),
            route("GET", "/api/", true, "api"),
            route("POST", "/api/posts", false, "created"),
        ])
        .unwrap()
    }

    fn body(method: Method, path: &str) -> Option<Bytes> {
        routes().find(&method, path).map(|r| r.body.clone())
    }

    #[test]
    fn exact_paths_win_over_prefixes() {
        assert_eq!(body(Method::GET, "/api/posts").unwrap(), "list");
        assert_eq!(body(Method::POST, "/api/posts").unwrap(), "created");
    }

    #[test]
    fn the_longest_prefix_answers() {
        assert_eq!(body(Method::GET, "/api/posts/some-slug").unwrap(), "post");
        assert_eq!(body(Method::GET, "/api/tags").unwrap(), "api");
    }

    #[test]
    fn unknown_methods_and_paths_find_nothing() {
        assert!(body(Method::DELETE, "/api/posts/x").is_none());
        assert!(body(Method::GET, "/health").is_none());
    }

    #[test]
    fn unusable_headers_are_refused() {
        let mut bad = route("GET", "/", false, "");
        bad.headers = vec![("bad header".into(), "x".into())];
        let err = Routes::new(vec![bad]).unwrap_err();
        assert!(format!("{err:#}").contains("bad header name"), "{err:#}");
    }
}
