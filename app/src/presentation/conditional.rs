//! ETags and conditional requests.
//!
//! A single resource's ETag is strong and hashes the exact JSON body sent
//! (SHA-256, first 16 bytes), so it changes whenever the representation
//! does (a new comment count, an email shown to its owner only). A post's
//! ETag also carries its version, `"v{version}-{hash}"`: `If-Match` on
//! PATCH compares versions (strongly; weak tags never match), and the
//! repository re-checks that version in the write's transaction.
//!
//! A cached read is rendered once ([`render`]) and its body and tag reused
//! by every response that hits its entry ([`respond`]).

use axum::body::Bytes;
use axum::http::header::{CONTENT_TYPE, ETAG, IF_MATCH, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::business::Rendered;
use crate::presentation::envelope::Data;

/// `{"data": value}` with its ETag, or 304 when `If-None-Match` matches.
/// `version` goes into the tag for resources that `If-Match` can target.
pub fn single<T: Serialize>(request: &HeaderMap, value: T, version: Option<i64>) -> Response {
    respond(request, &render(&Data { data: value }, version))
}

/// `value` as JSON with its ETag (see [`single`]).
pub fn render<T: Serialize>(value: &T, version: Option<i64>) -> Rendered {
    tagged(
        serde_json::to_vec(value).unwrap_or_default().into(),
        version,
    )
}

/// `body`, already JSON, with its ETag (see [`single`]): for documents
/// served as they are stored, such as `/openapi.json`.
pub fn tagged(body: Bytes, version: Option<i64>) -> Rendered {
    let hash = Sha256::digest(&body);
    let hex: String = hash[..16].iter().map(|b| format!("{b:02x}")).collect();
    let tag = match version {
        Some(version) => format!("\"v{version}-{hex}\""),
        None => format!("\"{hex}\""),
    };
    Rendered {
        body,
        tag: Some(tag),
    }
}

/// `value` as JSON without a tag, for answers that take no conditions.
pub fn render_untagged<T: Serialize>(value: &T) -> Rendered {
    Rendered {
        body: serde_json::to_vec(value).unwrap_or_default().into(),
        tag: None,
    }
}

/// A rendered JSON answer: 304 when it has a tag `If-None-Match` matches.
pub fn respond(request: &HeaderMap, rendered: &Rendered) -> Response {
    let json = HeaderValue::from_static("application/json");
    let Some(tag) = &rendered.tag else {
        return (
            StatusCode::OK,
            [(CONTENT_TYPE, json)],
            rendered.body.clone(),
        )
            .into_response();
    };
    let etag = HeaderValue::from_str(tag).expect("hex digits and quotes are a valid header value");
    if none_match(request, tag) {
        return (StatusCode::NOT_MODIFIED, [(ETAG, etag)]).into_response();
    }
    let body = rendered.body.clone();
    (StatusCode::OK, [(ETAG, etag), (CONTENT_TYPE, json)], body).into_response()
}

/// Whether `If-None-Match` names `tag` (weak comparison) or is `*`.
fn none_match(request: &HeaderMap, tag: &str) -> bool {
    request
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|candidate| {
            let candidate = candidate.trim();
            candidate == "*" || candidate.trim_start_matches("W/") == tag
        })
}

/// The versions an `If-Match` header accepts: `None` when there is no
/// header or it is `*` (any current version), else the versions of its
/// strong post tags (empty when none parse: nothing can match, so 412).
pub fn if_match_versions(request: &HeaderMap) -> Option<Vec<i64>> {
    let values: Vec<&HeaderValue> = request.get_all(IF_MATCH).iter().collect();
    if values.is_empty() {
        return None;
    }
    let tags: Vec<&str> = values
        .iter()
        .flat_map(|v| v.to_str().unwrap_or_default().split(','))
        .map(str::trim)
        .collect();
    if tags.contains(&"*") {
        return None;
    }
    Some(tags.iter().filter_map(|tag| version_of(tag)).collect())
}

fn version_of(tag: &str) -> Option<i64> {
    let inner = tag.strip_prefix("\"v")?.strip_suffix('"')?;
    inner.split_once('-')?.0.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: axum::http::HeaderName, value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn etags_and_not_modified() {
        let response = single(&HeaderMap::new(), "x", Some(3));
        let tag = response.headers()[ETAG].to_str().unwrap().to_owned();
        assert!(tag.starts_with("\"v3-") && tag.ends_with('"'), "{tag}");
        let mut request = HeaderMap::new();
        request.insert(
            IF_NONE_MATCH,
            HeaderValue::from_str(&format!("\"other\", W/{tag}")).unwrap(),
        );
        assert_eq!(
            single(&request, "x", Some(3)).status(),
            StatusCode::NOT_MODIFIED
        );
        assert_eq!(single(&request, "y", Some(3)).status(), StatusCode::OK);
        assert_eq!(
            single(&headers(IF_NONE_MATCH, "*"), "x", None).status(),
            StatusCode::NOT_MODIFIED
        );
    }

    #[test]
    fn if_match() {
        assert_eq!(if_match_versions(&HeaderMap::new()), None);
        assert_eq!(if_match_versions(&headers(IF_MATCH, "*")), None);
        assert_eq!(
            if_match_versions(&headers(IF_MATCH, "\"v7-abc\"")),
            Some(vec![7])
        );
        assert_eq!(
            if_match_versions(&headers(IF_MATCH, "\"v1-a\", \"v2-b\"")),
            Some(vec![1, 2])
        );
        assert_eq!(
            if_match_versions(&headers(IF_MATCH, "W/\"v7-abc\"")),
            Some(vec![])
        );
        assert_eq!(
            if_match_versions(&headers(IF_MATCH, "\"garbage\"")),
            Some(vec![])
        );
    }
}
