//! `GET /openapi.json`: the OpenAPI 3.1 document of the API.
//!
//! The document is written by hand (`app/openapi.json`) and compiled in.
//! A derive-based generator (utoipa) would have to be taught most of what
//! makes this contract: bodies and queries are read as strings and checked
//! by the services, bounds live in `business::validate`, and the
//! problem+json answers, `ETag`s and `Retry-After`s come from extractors,
//! layers and error mapping rather than from handler signatures. Written
//! as a document, it states those things directly; tests keep it true
//! instead: the ones below walk the router's routes and the document's
//! paths both ways, and `bench/contract.sh` runs Schemathesis against the
//! real server on both backends (docs/api.md).

use std::sync::LazyLock;

use axum::http::HeaderMap;
use axum::response::Response;

use crate::business::Rendered;
use crate::presentation::conditional;

/// The document, as served.
pub(crate) const DOCUMENT: &str = include_str!("../../openapi.json");

/// The document's body and strong ETag, made once per process.
static RENDERED: LazyLock<Rendered> =
    LazyLock::new(|| conditional::tagged(DOCUMENT.as_bytes().into(), None));

/// `GET /openapi.json` → the document with its ETag (304 when
/// `If-None-Match` matches), like every other single resource.
pub(crate) async fn document(headers: HeaderMap) -> Response {
    conditional::respond(&headers, &RENDERED)
}

#[cfg(test)]
mod tests;
