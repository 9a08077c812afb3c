//! How a line is written: stamped text for people, or one JSON object per
//! line for log shippers.

use std::io::Write as _;

use chrono::{DateTime, Local, SecondsFormat};
use serde::de::IgnoredAny;

use super::LogSetup;
use super::writer::Batch;
use crate::config::LogFormat;

/// Appends every line of `batch`, read at `at`, to `out`, each ending in
/// `\n`. Whatever varies only by batch (the stamp, the JSON prefix) is
/// formatted once.
pub(super) fn append(out: &mut Vec<u8>, setup: &LogSetup, batch: &Batch, at: DateTime<Local>) {
    let source = batch.source;
    match setup.format {
        LogFormat::Text => {
            let mut prefix = Vec::with_capacity(48);
            let _ = write!(
                prefix,
                "{} [{}] ",
                at.format(&setup.date_format),
                source.instance
            );
            for line in batch.lines() {
                out.extend_from_slice(&prefix);
                out.extend_from_slice(line);
                out.push(b'\n');
            }
        }
        LogFormat::Json => {
            let mut prefix = Vec::with_capacity(128);
            prefix.extend_from_slice(b"{\"timestamp\":\"");
            prefix.extend_from_slice(at.to_rfc3339_opts(SecondsFormat::Millis, false).as_bytes());
            prefix.extend_from_slice(b"\",\"app\":");
            let _ = serde_json::to_writer(&mut prefix, &*setup.app);
            let _ = write!(
                prefix,
                ",\"instance\":{},\"pid\":{},\"stream\":\"{}\",\"message\":",
                source.instance,
                source.pid,
                source.stream.as_str()
            );
            for line in batch.lines() {
                out.extend_from_slice(&prefix);
                message(out, line);
                out.extend_from_slice(b"}\n");
            }
        }
    }
}

/// A line that is a JSON object already is kept as one, so a shipper
/// reads its fields; anything else becomes a JSON string (invalid UTF-8
/// replaced).
fn message(out: &mut Vec<u8>, line: &[u8]) {
    let trimmed = line.trim_ascii();
    if trimmed.first() == Some(&b'{') && serde_json::from_slice::<IgnoredAny>(trimmed).is_ok() {
        out.extend_from_slice(trimmed);
    } else {
        let _ = serde_json::to_writer(&mut *out, &*String::from_utf8_lossy(line));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::config::Rotation;
    use crate::logs::Stream;
    use crate::logs::capture::Source;

    fn setup(format: LogFormat) -> LogSetup {
        LogSetup {
            app: Arc::from("api"),
            out: "out.log".into(),
            err: "err.log".into(),
            format,
            date_format: Arc::from("%H:%M:%S"),
            rotation: Rotation {
                max_size: None,
                interval: None,
                retain: 1,
                compress: false,
            },
        }
    }

    fn lines(format: LogFormat, input: &[&[u8]]) -> String {
        let source = Source {
            stream: Stream::Err,
            instance: 3,
            pid: 77,
        };
        let mut batch = Batch::new(source);
        for line in input {
            batch.push(line);
        }
        let at = DateTime::parse_from_rfc3339("2026-11-29T10:20:30.456+00:00")
            .expect("a date")
            .with_timezone(&Local);
        let mut out = Vec::new();
        append(&mut out, &setup(format), &batch, at);
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn text_lines_carry_the_stamp_and_the_instance() {
        let text = lines(LogFormat::Text, &[b"hello", b""]);
        let stamp = DateTime::parse_from_rfc3339("2026-11-29T10:20:30.456+00:00")
            .expect("a date")
            .with_timezone(&Local)
            .format("%H:%M:%S")
            .to_string();
        assert_eq!(text, format!("{stamp} [3] hello\n{stamp} [3] \n"));
    }

    #[test]
    fn json_lines_keep_json_objects_and_quote_everything_else() {
        let text = lines(
            LogFormat::Json,
            &[
                br#"{"level":"info","n":1}"#,
                b"plain \"quoted\"",
                b"{broken",
                b"\xff",
            ],
        );
        let values: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is JSON"))
            .collect();
        assert_eq!(values.len(), 4);
        assert_eq!(values[0]["message"]["level"], "info");
        assert_eq!(values[0]["app"], "api");
        assert_eq!(values[0]["instance"], 3);
        assert_eq!(values[0]["pid"], 77);
        assert_eq!(values[0]["stream"], "err");
        assert!(
            values[0]["timestamp"]
                .as_str()
                .expect("a string")
                .contains("20:30.456")
        );
        assert_eq!(values[1]["message"], "plain \"quoted\"");
        assert_eq!(values[2]["message"], "{broken");
        assert_eq!(values[3]["message"], "\u{fffd}");
    }
}
