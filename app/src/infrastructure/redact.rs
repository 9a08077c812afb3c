//! Masking secrets in URLs before they reach a message or a log line.
//!
//! Connection URLs (`DATABASE_URL`, `REDIS_URL`) may carry a password, and
//! they are shown in settings errors, start-up failures and status lines;
//! the supervisor files every one of those, so the password must never be
//! in them.

/// `url` with its password (if any) masked as `user:***@`, for messages
/// and logs: a settings error or a status line must not print secrets.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_password_is_masked() {
        assert_eq!(
            redact("postgres://ann:s3cret@db.example/app"),
            "postgres://ann:***@db.example/app"
        );
        assert_eq!(
            redact("redis://:s3cret@cache:6379"),
            "redis://:***@cache:6379"
        );
        assert_eq!(redact("sqlite://data/app.db"), "sqlite://data/app.db");
        assert_eq!(redact("postgres://ann@h/db"), "postgres://ann@h/db");
    }
}
