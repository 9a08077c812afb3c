//! Which request gets which answer. Every answer is built from one
//! snapshot of the status document taken as the request arrives; `HEAD`
//! gets the headers of `GET` (hyper leaves the body out), anything else
//! is refused, so no request can change anything.

use bytes::Bytes;
use chrono::Utc;
use http_body_util::Full;
use hyper::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Method, Response, StatusCode};
use prometheus_client::encoding::prometheus_text;

use super::host::Host;
use super::{health, metrics};
use crate::control::Observed;

/// The media type of `/health` (IETF draft-inadarei-api-health-check).
const HEALTH_JSON: &str = "application/health+json";

/// What the admin listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Health,
    Metrics,
    Status,
}

impl Endpoint {
    fn from_path(path: &str) -> Option<Self> {
        match path {
            "/health" => Some(Self::Health),
            "/metrics" => Some(Self::Metrics),
            "/status" => Some(Self::Status),
            _ => None,
        }
    }
}

/// The answer to `method` on `path`.
pub(super) fn respond(method: &Method, path: &str, observed: &Observed) -> Response<Full<Bytes>> {
    let Some(endpoint) = Endpoint::from_path(path) else {
        return text(
            StatusCode::NOT_FOUND,
            "no such endpoint: the admin listener serves /health, /metrics and /status\n",
        );
    };
    if method != Method::GET && method != Method::HEAD {
        let mut response = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "the admin listener is read-only: use GET or HEAD\n",
        );
        response
            .headers_mut()
            .insert(ALLOW, "GET, HEAD".parse().expect("a valid header"));
        return response;
    }
    let doc = observed.snapshot();
    let now = Utc::now();
    let (status, content_type, body) = match endpoint {
        Endpoint::Health => {
            let assessment = health::assess(&doc);
            let code = match assessment.status {
                health::Verdict::Fail => StatusCode::SERVICE_UNAVAILABLE,
                health::Verdict::Pass | health::Verdict::Warn => StatusCode::OK,
            };
            (code, HEALTH_JSON, health::document(&assessment, &doc, now))
        }
        Endpoint::Status => (StatusCode::OK, "application/json", serde_json::to_vec(&doc)),
        Endpoint::Metrics => match metrics::render(&doc, &Host::read(), now) {
            Ok(body) => (
                StatusCode::OK,
                prometheus_text::CONTENT_TYPE,
                Ok(body.into()),
            ),
            Err(_) => {
                return text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the metrics could not be encoded\n",
                );
            }
        },
    };
    let Ok(body) = body else {
        return text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the document could not be encoded\n",
        );
    };
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, content_type)
        .header(CACHE_CONTROL, "no-store")
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response")
}

fn text(status: StatusCode, message: &'static str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from_static(message.as_bytes())))
        .expect("a valid response")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_three_paths_are_endpoints() {
        assert_eq!(Endpoint::from_path("/health"), Some(Endpoint::Health));
        assert_eq!(Endpoint::from_path("/metrics"), Some(Endpoint::Metrics));
        assert_eq!(Endpoint::from_path("/status"), Some(Endpoint::Status));
        for other in ["/", "/health/", "/v1/status", "/metrics.json", ""] {
            assert_eq!(Endpoint::from_path(other), None, "{other}");
        }
    }
}
