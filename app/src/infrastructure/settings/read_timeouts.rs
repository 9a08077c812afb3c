//! `APP_HEADER_READ_TIMEOUT` and `APP_BODY_READ_TIMEOUT`: how long a
//! client may take to send a request, so a slow or stalled client cannot
//! hold a connection (and its fd) for ever.
//!
//! What each bound counts, and what the client sees, is the server's
//! (`infrastructure::server`, modules `connection` and `body_pace`).

use std::time::Duration;

use super::SettingsError;

/// The longest read timeout accepted: longer is surely a mistake, and
/// would not protect anything.
pub(super) const READ_TIMEOUT_MAX: Duration = Duration::from_secs(60 * 60);

/// The bounds on reading a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadTimeouts {
    /// `APP_HEADER_READ_TIMEOUT` (default 10 s): how long the worker waits
    /// for a complete request head, counted from when it starts waiting
    /// for one (a new connection, or the end of the previous response on a
    /// keep-alive connection). The connection is then closed unanswered.
    pub header: Duration,
    /// `APP_BODY_READ_TIMEOUT` (default 10 s): how long a request body may
    /// take beyond what its progress earns (one more second per KiB
    /// received), counted from the end of its head. The request is then
    /// answered 408 and the connection closed.
    pub body: Duration,
}

impl Default for ReadTimeouts {
    fn default() -> Self {
        Self {
            header: Duration::from_secs(10),
            body: Duration::from_secs(10),
        }
    }
}

impl ReadTimeouts {
    /// Reads both variables through `get` (which already treats empty
    /// values as unset); unset ones keep their default.
    pub(super) fn read(get: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let defaults = Self::default();
        let bound = |var: &'static str, default: Duration| match get(var) {
            None => Ok(default),
            Some(value) => match humantime::parse_duration(value.trim()) {
                Ok(d) if !d.is_zero() && d <= READ_TIMEOUT_MAX => Ok(d),
                _ => Err(SettingsError {
                    var,
                    value,
                    expected: "a duration from 1ms to 1h, such as 10s or 500ms",
                }),
            },
        };
        Ok(Self {
            header: bound("APP_HEADER_READ_TIMEOUT", defaults.header)?,
            body: bound("APP_BODY_READ_TIMEOUT", defaults.body)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<ReadTimeouts, SettingsError> {
        ReadTimeouts::read(|name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn both_default_to_ten_seconds_and_take_durations() {
        assert_eq!(read(&[]).unwrap(), ReadTimeouts::default());
        assert_eq!(ReadTimeouts::default().header, Duration::from_secs(10));
        let set = read(&[
            ("APP_HEADER_READ_TIMEOUT", "2s"),
            ("APP_BODY_READ_TIMEOUT", " 500ms "),
        ])
        .unwrap();
        assert_eq!(set.header, Duration::from_secs(2));
        assert_eq!(set.body, Duration::from_millis(500));
        assert_eq!(
            read(&[("APP_BODY_READ_TIMEOUT", "1h")]).unwrap().body,
            READ_TIMEOUT_MAX
        );
    }

    #[test]
    fn zero_huge_or_unreadable_bounds_are_refused_by_name() {
        for bad in ["0s", "61min", "soon", "100000000years"] {
            let err = read(&[("APP_HEADER_READ_TIMEOUT", bad)]).unwrap_err();
            assert_eq!(err.var, "APP_HEADER_READ_TIMEOUT", "{bad}");
            let err = read(&[("APP_BODY_READ_TIMEOUT", bad)]).unwrap_err();
            assert_eq!(err.var, "APP_BODY_READ_TIMEOUT", "{bad}");
        }
        assert_eq!(
            read(&[("APP_BODY_READ_TIMEOUT", "soon")])
                .unwrap_err()
                .to_string(),
            "APP_BODY_READ_TIMEOUT=\"soon\" is not valid: expected a duration from 1ms to 1h, such as 10s or 500ms"
        );
    }
}
