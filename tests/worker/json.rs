//! Hand-built JSON fragments, so that the worker needs no serde and its
//! output stays byte-for-byte predictable for the tests that parse it.

use std::fmt::Write as _;

/// A JSON string literal: `s` quoted, with everything JSON forbids escaped.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON string, or `null` when absent; used for optional environment values.
pub fn opt_string(s: Option<&str>) -> String {
    s.map_or_else(|| "null".to_owned(), string)
}

/// A JSON number, or `null` when absent.
pub fn opt_number(n: Option<impl std::fmt::Display>) -> String {
    n.map_or_else(|| "null".to_owned(), |n| n.to_string())
}

/// The environment variable `name` as a JSON string, or `null` when unset, so
/// that tests can tell "unset" from "set to empty".
pub fn env_or_null(name: &str) -> String {
    let value = std::env::var_os(name);
    let value = value.as_ref().map(|v| v.to_string_lossy());
    opt_string(value.as_deref())
}

/// An error body, `{"error":"..."}`, shared by every failing route.
pub fn error(message: &str) -> String {
    format!("{{\"error\":{}}}", string(message))
}
