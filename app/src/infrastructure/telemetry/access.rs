//! The access log line of one request, formatted straight into the
//! writer's buffer.
//!
//! It used to be a tracing event (tower-http's `TraceLayer`) rendered by
//! tracing's JSON formatter, which builds maps of values and parses the
//! span's fields back on every line: a tenth of a worker's time on a cheap
//! read. The line keeps the exact shape that event had, so whatever parses
//! the logs still does (`span.request_id`, `status`, `latency`), in the
//! JSON and the text form; only the bytes are written here by hand, with
//! serde_json escaping the strings a client chose.

use std::cell::Cell;
use std::io::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::super::settings::LogFormat;

/// The tracing target of the line, for filters such as `APP_LOG=warn`.
pub const TARGET: &str = "app::access";

/// What one access line says.
#[derive(Debug, Clone, Copy)]
pub struct Access<'a> {
    /// The request's `X-Request-Id`.
    pub request_id: &'a str,
    /// Its method.
    pub method: &'a str,
    /// The route template it matched, or `unmatched`.
    pub route: &'a str,
    /// Its path, without the query.
    pub path: &'a str,
    /// The response's status.
    pub status: u16,
    /// From the request's arrival to its response's head.
    pub latency: Duration,
}

/// Appends the line for `access`, stamped `now`, in `format`.
pub fn format_line(out: &mut Vec<u8>, format: LogFormat, now: SystemTime, access: &Access<'_>) {
    let ms = access.latency.as_millis();
    let status = access.status;
    match format {
        LogFormat::Json => {
            out.extend_from_slice(b"{\"timestamp\":\"");
            write_timestamp(out, now);
            out.extend_from_slice(
                b"\",\"level\":\"INFO\",\"message\":\"finished processing request\",\"latency\":\"",
            );
            let _ = write!(
                out,
                "{ms} ms\",\"status\":{status},\"target\":\"{TARGET}\",\"span\":"
            );
            span_json(
                out,
                access.method,
                access.path,
                access.request_id,
                access.route,
            );
            out.extend_from_slice(b"}\n");
        }
        LogFormat::Text => {
            write_timestamp(out, now);
            out.extend_from_slice(b"  INFO ");
            span_text(
                out,
                access.method,
                access.path,
                access.request_id,
                access.route,
            );
            let _ = writeln!(
                out,
                ": {TARGET}: finished processing request latency={ms} ms status={status}"
            );
        }
    }
}

/// Appends the `span` object a request's lines carry in JSON, in the shape
/// tracing gave a span (fields in name order, then its name).
pub fn span_json(out: &mut Vec<u8>, method: &str, path: &str, request_id: &str, route: &str) {
    out.extend_from_slice(b"{\"method\":");
    json_string(out, method);
    out.extend_from_slice(b",\"path\":");
    json_string(out, path);
    out.extend_from_slice(b",\"request_id\":");
    json_string(out, request_id);
    out.extend_from_slice(b",\"route\":");
    json_string(out, route);
    out.extend_from_slice(b",\"name\":\"request\"}");
}

/// Appends the `request{...}` a request's lines carry in text, as tracing
/// wrote a span.
pub fn span_text(out: &mut Vec<u8>, method: &str, path: &str, request_id: &str, route: &str) {
    let _ = write!(
        out,
        "request{{request_id={request_id} method={method} route={route} path={path}}}"
    );
}

/// Appends `value` as a JSON string, quotes included.
fn json_string(out: &mut Vec<u8>, value: &str) {
    let _ = serde_json::to_writer(&mut *out, value);
}

/// Appends the RFC 3339 UTC time with microseconds that tracing writes
/// (`2026-11-29T16:32:10.055123Z`). The date and time of day are
/// formatted once a second per thread; the rest is a number.
pub fn write_timestamp(out: &mut Vec<u8>, now: SystemTime) {
    thread_local! {
        static SECOND: Cell<(u64, [u8; 19])> = const { Cell::new((u64::MAX, [0; 19])) };
    }
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let prefix = SECOND.with(|cached| {
        let (second, prefix) = cached.get();
        if second == secs {
            return prefix;
        }
        let mut fresh = [0u8; 19];
        let formatted = i64::try_from(secs)
            .ok()
            .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
            .unwrap_or_default()
            .format("%Y-%m-%dT%H:%M:%S")
            .to_string();
        fresh.copy_from_slice(&formatted.as_bytes()[..19]);
        cached.set((secs, fresh));
        fresh
    });
    out.extend_from_slice(&prefix);
    let _ = write!(out, ".{:06}Z", since.subsec_micros());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(format: LogFormat, request_id: &str, path: &str) -> String {
        let mut out = Vec::new();
        let now = UNIX_EPOCH + Duration::from_micros(1_795_969_930_055_123);
        let access = Access {
            request_id,
            method: "GET",
            route: "/api/posts/{id_or_slug}",
            path,
            status: 200,
            latency: Duration::from_micros(3_900),
        };
        format_line(&mut out, format, now, &access);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_json_line_has_the_shape_of_tracings_event() {
        let line = line(LogFormat::Json, "a\"b\\c", "/api/posts/hello");
        assert_eq!(
            line,
            concat!(
                r#"{"timestamp":"2026-11-29T16:32:10.055123Z","level":"INFO","message":"finished processing request","#,
                r#""latency":"3 ms","status":200,"target":"app::access","span":{"method":"GET","path":"/api/posts/hello","#,
                r#""request_id":"a\"b\\c","route":"/api/posts/{id_or_slug}","name":"request"}}"#,
                "\n"
            )
        );
        let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["span"]["request_id"], "a\"b\\c");
    }

    #[test]
    fn any_path_or_id_stays_one_valid_json_line() {
        for odd in ["\u{1}\n\t", "é/ü", "\\\"", ""] {
            let line = line(LogFormat::Json, odd, odd);
            assert_eq!(line.matches('\n').count(), 1, "{line}");
            let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
            assert_eq!(parsed["span"]["path"], odd);
        }
    }

    #[test]
    fn the_text_line_reads_like_tracings() {
        assert_eq!(
            line(LogFormat::Text, "id-1", "/api/posts/hello"),
            "2026-11-29T16:32:10.055123Z  INFO request{request_id=id-1 method=GET route=/api/posts/{id_or_slug} path=/api/posts/hello}: app::access: finished processing request latency=3 ms status=200\n"
        );
    }

    #[test]
    fn timestamps_match_chrono_across_seconds() {
        for micros in [
            0u64,
            999_999,
            1_000_000,
            1_795_969_930_055_123,
            4_102_444_799_999_999,
        ] {
            let now = UNIX_EPOCH + Duration::from_micros(micros);
            let mut out = Vec::new();
            write_timestamp(&mut out, now);
            let expected = chrono::DateTime::<chrono::Utc>::from(now)
                .format("%Y-%m-%dT%H:%M:%S%.6fZ")
                .to_string();
            assert_eq!(String::from_utf8(out).unwrap(), expected);
        }
    }
}
