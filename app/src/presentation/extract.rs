//! Extractors that answer problem+json instead of axum's plain-text
//! rejections: a JSON body with field-level errors, and a query string.
//!
//! JSON bodies: no or a non-JSON `Content-Type` is 415; bytes that are not
//! JSON (or a body over the limit) are 400 (413); a body sent too slowly
//! (`infrastructure::server::BodyTimedOut`) is 408; JSON of the wrong shape
//! (missing field, wrong type, a field the client may not set) is 422 with
//! the field named, so mass-assignment attempts are refused loudly.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::Value;

use crate::infrastructure::server::BodyTimedOut;
use crate::presentation::error::ApiError;

/// The largest request body accepted (1 MiB).
pub const BODY_LIMIT: usize = 1024 * 1024;

/// The detail of a 413, whether the extractor or the body limit saw it.
pub(crate) const TOO_LARGE: &str = "The body is larger than 1 MiB.";

/// A JSON request body of type `T`.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            let detail = "Send a JSON body with `Content-Type: application/json`.";
            return Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, detail));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, TOO_LARGE)
            } else if BodyTimedOut::caused(&rejection) {
                ApiError::request_timeout()
            } else {
                ApiError::new(StatusCode::BAD_REQUEST, "The body could not be read.")
            }
        })?;
        serde_json::from_slice::<IgnoredAny>(&bytes).map_err(|error| not_json(&error))?;
        if bytes
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b != b'{')
        {
            return Err(ApiError::field("body", "must be a JSON object"));
        }
        let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut deserializer).map_err(shape_error)?;
        if let Some(field) = nul_field(&bytes) {
            return Err(ApiError::field(
                &field,
                "must not contain NUL (\\u0000) characters",
            ));
        }
        Ok(Self(value))
    }
}

/// The top-level field of a JSON object body that holds a NUL character
/// anywhere (in a string, a nested key or value), or `body` for a key with
/// one. No field has a use for NUL and PostgreSQL cannot store it in text,
/// so such a body is refused naming the field, whatever the endpoint.
fn nul_field(bytes: &[u8]) -> Option<String> {
    // JSON strings cannot hold a raw NUL, only the escape: one scan clears
    // almost every body without building a tree.
    if !bytes.windows(6).any(|window| window == b"\\u0000") {
        return None;
    }
    let Ok(Value::Object(fields)) = serde_json::from_slice(bytes) else {
        return None;
    };
    fields
        .iter()
        .find(|(name, value)| name.contains('\0') || holds_nul(value))
        .map(|(name, _)| if name.contains('\0') { "body" } else { name }.to_owned())
}

/// Whether `value` holds a NUL in any string or key (serde_json caps the
/// nesting, so the recursion is bounded).
fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(fields) => fields
            .iter()
            .any(|(name, value)| name.contains('\0') || holds_nul(value)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// 422 naming the field of JSON that has the wrong shape.
fn shape_error(error: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let inner = error.inner();
    let message = inner.to_string();
    let message = message
        .rsplit_once(" at line ")
        .map_or(message.as_str(), |(text, _)| text);
    let path = error.path().to_string();
    let path = if path == "." { "body".to_owned() } else { path };
    if let Some(field) = quoted(message, "unknown field `") {
        return ApiError::field(
            &field,
            "is not accepted here: it does not exist or only the server sets it",
        );
    }
    if let Some(field) = quoted(message, "missing field `") {
        let field = if path == "body" {
            field
        } else {
            format!("{path}.{field}")
        };
        return ApiError::field(&field, "is required");
    }
    ApiError::field(&path, message)
}

fn not_json(error: &serde_json::Error) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        format!("The body is not valid JSON: {error}."),
    )
}

/// The name in backquotes after `prefix`, if `message` starts with it.
fn quoted(message: &str, prefix: &str) -> Option<String> {
    let rest = message.strip_prefix(prefix)?;
    rest.split_once('`').map(|(name, _)| name.to_owned())
}

/// A query string of type `T` (a malformed one is 400).
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(value) = Query::<T>::from_request_parts(parts, state)
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "The query string could not be read.",
                )
            })?;
        Ok(Self(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn json_media_types() {
        let mut headers = HeaderMap::new();
        assert!(!is_json(&headers));
        for (value, json) in [
            ("application/json", true),
            ("Application/JSON; charset=utf-8", true),
            ("application/merge-patch+json", true),
            ("text/plain", false),
            ("application/jsonx", false),
        ] {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(value));
            assert_eq!(is_json(&headers), json, "{value}");
        }
    }

    #[test]
    fn quoted_names() {
        assert_eq!(
            quoted("unknown field `role`, expected one of", "unknown field `").as_deref(),
            Some("role")
        );
        assert_eq!(quoted("invalid type", "unknown field `"), None);
    }

    #[test]
    fn nul_characters_name_their_field() {
        let field = |body: &str| nul_field(body.as_bytes());
        assert_eq!(field(r#"{"title": "a\u0000b"}"#).as_deref(), Some("title"));
        assert_eq!(
            field(r#"{"a": 1, "tags": ["x", "\u0000"]}"#).as_deref(),
            Some("tags")
        );
        assert_eq!(field(r#"{"a\u0000": {}}"#).as_deref(), Some("body"));
        assert_eq!(field(r#"{"o": {"k\u0000": 1}}"#).as_deref(), Some("o"));
        assert_eq!(
            field(r#"{"title": "a\\u0000b"}"#),
            None,
            "an escaped backslash"
        );
        assert_eq!(field(r#"{"title": "a\u0001"}"#), None);
    }
}
