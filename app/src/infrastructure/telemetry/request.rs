//! Which request a log line belongs to, without a tracing span.
//!
//! Every line logged while serving a request carries the request's fields
//! (`span.request_id`, method, route, path), so it can be joined with the
//! `X-Request-Id` the client saw. A tracing span per request did that, at
//! a tenth of a worker's time on a cheap read: the subscriber formats the
//! span's fields into a JSON map when it opens, whether or not anything is
//! logged inside it, and enters and leaves it at every poll. Here the
//! fields ride in a task-local instead (a pointer swap per poll), and
//! [`WithRequest`] adds them to the rare line that is logged inside a
//! request, in the shape the span gave it.

use std::fmt;
use std::future::Future;

use axum::extract::MatchedPath;
use axum::http::{HeaderValue, Method, Uri};
use tokio::task::futures::TaskLocalFuture;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use super::super::settings::LogFormat;
use super::access;

tokio::task_local! {
    static REQUEST: RequestFields;
}

/// What identifies a request in the logs.
#[derive(Debug, Clone)]
pub struct RequestFields {
    /// Its `X-Request-Id`, echoed or generated.
    pub id: HeaderValue,
    /// Its method.
    pub method: Method,
    /// The route template it matched; `None` when none did.
    pub route: Option<MatchedPath>,
    /// Its URI; only the path is logged.
    pub uri: Uri,
}

impl RequestFields {
    /// The request id as text (an id that is not visible ASCII was
    /// replaced before it got here, so this is never empty by accident).
    pub fn id(&self) -> &str {
        self.id.to_str().unwrap_or_default()
    }

    /// The route template, or `unmatched`.
    pub fn route(&self) -> &str {
        self.route.as_ref().map_or("unmatched", MatchedPath::as_str)
    }

    /// The path, without the query.
    pub fn path(&self) -> &str {
        self.uri.path()
    }
}

/// Runs `future` as the request `fields` describe: whatever it logs carries
/// them. [`TaskLocalFuture::take_value`] gives them back once it is done.
pub fn scope<F: Future>(fields: RequestFields, future: F) -> TaskLocalFuture<RequestFields, F> {
    REQUEST.scope(fields, future)
}

/// `future` with the fields of the request served now, if any: for work a
/// request hands to a task of its own (a database transaction that must
/// outlive a client who goes away), so that what it logs (a slow
/// statement) still names the request.
pub fn carried<F: Future>(future: F) -> impl Future<Output = F::Output> {
    let fields = REQUEST.try_with(Clone::clone).ok();
    async move {
        match fields {
            Some(fields) => REQUEST.scope(fields, future).await,
            None => future.await,
        }
    }
}

/// The event formatter of the server: the inner formatter's line, with the
/// current request's fields added where tracing puts a span's (the `span`
/// object of a JSON line; `request{...}:` after the level of a text line).
/// Outside a request the inner line is written unchanged.
#[derive(Debug)]
pub struct WithRequest<F> {
    inner: F,
    format: LogFormat,
}

impl<F> WithRequest<F> {
    /// Wraps `inner`, which writes lines in `format`.
    pub fn new(inner: F, format: LogFormat) -> Self {
        Self { inner, format }
    }
}

impl<S, N, F> FormatEvent<S, N> for WithRequest<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut span = Vec::new();
        let inside = REQUEST
            .try_with(|fields| match self.format {
                LogFormat::Json => {
                    span.extend_from_slice(b",\"span\":");
                    access::span_json(
                        &mut span,
                        fields.method.as_str(),
                        fields.path(),
                        fields.id(),
                        fields.route(),
                    );
                }
                LogFormat::Text => {
                    access::span_text(
                        &mut span,
                        fields.method.as_str(),
                        fields.path(),
                        fields.id(),
                        fields.route(),
                    );
                    span.extend_from_slice(b": ");
                }
            })
            .is_ok();
        if !inside {
            return self.inner.format_event(ctx, writer, event);
        }
        let mut line = String::new();
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        let span = String::from_utf8_lossy(&span);
        let at = match self.format {
            // The object's closing brace, before the newline.
            LogFormat::Json => line.rfind('}'),
            // After the level and the one space that follows it.
            LogFormat::Text => {
                let level = event.metadata().level().as_str();
                line.find(level).map(|at| at + level.len() + 1)
            }
        };
        if let Some(at) = at.filter(|&at| line.is_char_boundary(at)) {
            line.insert_str(at, &span);
        }
        writer.write_str(&line)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    /// Collects what the subscriber writes.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Lines {
        type Writer = Self;

        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    fn fields() -> RequestFields {
        RequestFields {
            id: HeaderValue::from_static("id-\"7"),
            method: Method::POST,
            route: None,
            uri: Uri::from_static("/api/posts?limit=3"),
        }
    }

    /// Logs one warning inside a request and one outside, in `format`.
    fn logged(format: LogFormat) -> Vec<String> {
        let lines = Lines::default();
        let builder = tracing_subscriber::fmt()
            .with_writer(lines.clone())
            .with_ansi(false);
        let subscriber: Box<dyn Subscriber + Send + Sync> = match format {
            LogFormat::Json => Box::new(
                builder
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .map_event_format(|inner| WithRequest::new(inner, format))
                    .finish(),
            ),
            LogFormat::Text => Box::new(
                builder
                    .map_event_format(|inner| WithRequest::new(inner, format))
                    .finish(),
            ),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        tracing::subscriber::with_default(subscriber, || {
            runtime.block_on(scope(fields(), async {
                tracing::warn!(attempt = 2, "inside");
            }));
            tracing::warn!("outside");
        });
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn json_lines_inside_a_request_carry_its_fields_as_the_span() {
        let lines = logged(LogFormat::Json);
        let inside: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(inside["message"], "inside");
        assert_eq!(inside["attempt"], 2);
        assert_eq!(
            inside["span"],
            serde_json::json!({"method": "POST", "path": "/api/posts", "request_id": "id-\"7",
                               "route": "unmatched", "name": "request"})
        );
        let outside: serde_json::Value = serde_json::from_str(&lines[1]).unwrap();
        assert_eq!(outside["message"], "outside");
        assert!(outside.get("span").is_none(), "{outside}");
    }

    #[test]
    fn text_lines_inside_a_request_name_it_after_the_level() {
        let lines = logged(LogFormat::Text);
        assert!(
            lines[0].contains(
                " WARN request{request_id=id-\"7 method=POST route=unmatched path=/api/posts}: "
            ),
            "{}",
            lines[0]
        );
        assert!(lines[0].ends_with("inside attempt=2"), "{}", lines[0]);
        assert!(!lines[1].contains("request{"), "{}", lines[1]);
    }
}
