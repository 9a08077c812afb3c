//! Field rules shared by the services. Each check returns the normalised
//! value (trimmed, etc.) or a [`FieldError`] naming the client's field.
//! Lengths count Unicode scalar values, not bytes.

use crate::business::error::{FieldError, Problems, ServiceResult};
use crate::data::PageRequest;

/// Longest email accepted, in characters like every other length (RFC
/// 5321's path limit, which counts octets, is the same number for ASCII).
pub const EMAIL_MAX: usize = 254;
/// Longest local part (before the `@`) accepted, in characters.
pub const EMAIL_LOCAL_MAX: usize = 64;
/// Display name bounds.
pub const NAME_LEN: (usize, usize) = (1, 100);
/// Password bounds; the upper one keeps hashing cost bounded.
pub const PASSWORD_LEN: (usize, usize) = (8, 256);
/// Post title bounds.
pub const TITLE_LEN: (usize, usize) = (3, 200);
/// Post content bounds; the cap keeps rows and excerpts sane.
pub const CONTENT_LEN: (usize, usize) = (10, 100_000);
/// Comment bounds.
pub const COMMENT_LEN: (usize, usize) = (1, 2000);
/// Default and largest page size of every list.
pub const LIMIT_DEFAULT: u32 = 10;
/// Largest page size of every list.
pub const LIMIT_MAX: u32 = 100;

/// A trimmed single-line text of `min..=max` characters without control characters.
pub fn line(field: &str, value: &str, (min, max): (usize, usize)) -> Result<String, FieldError> {
    let value = value.trim();
    if value.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    length(field, value, (min, max))?;
    Ok(value.to_owned())
}

/// A multi-line text whose trimmed length is `min..=max`; kept as given
/// apart from surrounding whitespace.
pub fn text(field: &str, value: &str, bounds: (usize, usize)) -> Result<String, FieldError> {
    let value = value.trim();
    length(field, value, bounds)?;
    Ok(value.to_owned())
}

fn length(field: &str, value: &str, (min, max): (usize, usize)) -> Result<(), FieldError> {
    let count = value.chars().count();
    if count < min || count > max {
        let message = format!("must be {min} to {max} characters long");
        return Err(FieldError::new(field, message));
    }
    Ok(())
}

/// A plausible email address, trimmed: one `@`, a non-empty local part
/// without spaces, and a dotted domain of letters, digits and hyphens.
/// Deliverability is not checked here.
pub fn email(value: &str) -> Result<String, FieldError> {
    let value = value.trim();
    let invalid = || FieldError::new("email", "must be a valid email address");
    if value.chars().count() > EMAIL_MAX {
        return Err(FieldError::new(
            "email",
            format!("must be at most {EMAIL_MAX} characters long"),
        ));
    }
    let (local, domain) = value.split_once('@').ok_or_else(invalid)?;
    let local_ok = !local.is_empty()
        && local.chars().count() <= EMAIL_LOCAL_MAX
        && !local
            .chars()
            .any(|c| c == '@' || c.is_whitespace() || c.is_control());
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    if local_ok && domain_ok {
        Ok(value.to_owned())
    } else {
        Err(invalid())
    }
}

/// A password of 8..=256 characters, taken exactly as given.
pub fn password(value: &str) -> Result<(), FieldError> {
    length("password", value, PASSWORD_LEN)
}

/// `page` ≥ 1 and `limit` 1..=100 (default 1 and 10) from raw query values.
pub fn paging(page: Option<&str>, limit: Option<&str>) -> ServiceResult<PageRequest> {
    let mut problems = Problems::default();
    let request = paging_into(&mut problems, page, limit);
    problems.finish()?;
    Ok(request)
}

/// [`paging`] with its errors recorded in `problems`, among a request's
/// other checks; the defaults stand in for what was refused.
pub(crate) fn paging_into(
    problems: &mut Problems,
    page: Option<&str>,
    limit: Option<&str>,
) -> PageRequest {
    let page = problems.check(number("page", page, 1, (1, u32::MAX)));
    let limit = problems.check(number("limit", limit, LIMIT_DEFAULT, (1, LIMIT_MAX)));
    PageRequest {
        page: page.unwrap_or(1),
        limit: limit.unwrap_or(LIMIT_DEFAULT),
    }
}

fn number(
    field: &str,
    raw: Option<&str>,
    default: u32,
    (min, max): (u32, u32),
) -> Result<u32, FieldError> {
    let Some(raw) = raw else { return Ok(default) };
    let message = || FieldError::new(field, format!("must be a whole number from {min} to {max}"));
    let value: u32 = raw.trim().parse().map_err(|_| message())?;
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::business::ServiceError;

    #[test]
    fn emails() {
        assert_eq!(email("  Ann@Example.org ").unwrap(), "Ann@Example.org");
        assert!(email("a.b+tag@sub.example.co").is_ok());
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.org",
            "ann@example",
            "a b@example.org",
            "ann@exa mple.org",
            "ann@-x.org",
            "a@b@c.org",
            "ann@example..org",
        ] {
            assert!(email(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("{}@example.org", "a".repeat(250));
        assert!(email(&long).is_err());
        // Lengths count characters, as the docs say, not bytes.
        let domain = format!("{}.org", "é".repeat(200));
        assert_eq!(
            email(&format!("ann@{domain}")).unwrap().chars().count(),
            208
        );
        assert!(email(&format!("{}@example.org", "é".repeat(64))).is_ok());
        assert!(email(&format!("{}@example.org", "é".repeat(65))).is_err());
    }

    #[test]
    fn names_and_passwords() {
        assert_eq!(line("name", "  Ann  ", NAME_LEN).unwrap(), "Ann");
        assert!(line("name", "   ", NAME_LEN).is_err());
        assert!(line("name", "An\u{7}n", NAME_LEN).is_err());
        assert!(line("name", &"é".repeat(100), NAME_LEN).is_ok());
        assert!(line("name", &"é".repeat(101), NAME_LEN).is_err());
        assert!(password("1234567").is_err());
        assert!(password("12345678").is_ok());
        assert!(password(&"x".repeat(257)).is_err());
    }

    #[test]
    fn texts_are_counted_trimmed() {
        assert!(text("content", "   short   ", CONTENT_LEN).is_err());
        assert_eq!(
            text("content", " long enough\n", CONTENT_LEN).unwrap(),
            "long enough"
        );
    }

    #[test]
    fn paging_defaults_and_bounds() {
        assert_eq!(
            paging(None, None).unwrap(),
            PageRequest { page: 1, limit: 10 }
        );
        assert_eq!(
            paging(Some("3"), Some("100")).unwrap(),
            PageRequest {
                page: 3,
                limit: 100
            }
        );
        for (page, limit, fields) in [
            (Some("0"), None, vec!["page"]),
            (None, Some("101"), vec!["limit"]),
            (Some("x"), Some("0"), vec!["page", "limit"]),
            (Some("-1"), Some("1.5"), vec!["page", "limit"]),
        ] {
            match paging(page, limit) {
                Err(ServiceError::Validation(errors)) => {
                    let named: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
                    assert_eq!(named, fields);
                }
                other => panic!("{page:?}/{limit:?}: {other:?}"),
            }
        }
    }
}
