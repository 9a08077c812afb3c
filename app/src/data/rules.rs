//! The rules both backends share, kept out of SQL so they cannot drift
//! apart: case folding of emails, LIKE escaping, slug suffixes, excerpts,
//! time precision, versions (the login throttle has its own module,
//! `throttle`).

use chrono::{DateTime, Duration, DurationRound, Utc};

use super::{DataError, DataResult, PageRequest};

/// Characters of content an excerpt keeps; the SQL fetches one more to
/// know whether it cut.
pub const EXCERPT_CHARS: usize = 200;

/// How often a post insert picks a new slug after losing a race for one.
pub(crate) const SLUG_ATTEMPTS: usize = 16;

/// Both backends store microseconds (PostgreSQL cannot hold more), so every
/// time is cut to that before it is stored and returned.
pub(crate) fn micros(time: DateTime<Utc>) -> DateTime<Utc> {
    time.duration_trunc(Duration::microseconds(1))
        .unwrap_or(time)
}

/// The key under which an email is unique: lower-cased by Rust, not by the
/// database, whose `lower()` differs between backends and locales.
pub(crate) fn email_key(email: &str) -> String {
    email.to_lowercase()
}

/// A LIKE pattern matching `needle` anywhere, with `%`, `_` and the escape
/// character `\` in it taken literally (use with `ESCAPE '\'`).
pub(crate) fn like_contains(needle: &str) -> String {
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for c in needle.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The byte range `[base-, base.)`: exactly the slugs that start with
/// `base-`, as an index range both backends can scan (`.` follows `-`).
pub(crate) fn suffix_range(base: &str) -> (String, String) {
    (format!("{base}-"), format!("{base}."))
}

/// The first free slug among `base`, `base-2`, `base-3`, ... given the
/// taken slugs equal to `base` or in its [`suffix_range`].
pub(crate) fn free_slug(base: &str, taken: &[String]) -> String {
    if !taken.iter().any(|slug| slug == base) {
        return base.to_owned();
    }
    let prefix = format!("{base}-");
    let mut used: Vec<u64> = taken
        .iter()
        .filter_map(|slug| slug.strip_prefix(&prefix)?.parse().ok())
        .collect();
    used.sort_unstable();
    let mut next = 2;
    for n in used {
        if n == next {
            next += 1;
        } else if n > next {
            break;
        }
    }
    format!("{base}-{next}")
}

/// The excerpt from the first `EXCERPT_CHARS + 1` characters of a post's
/// content: cut at a character boundary, trimmed, with "…" when cut.
pub fn excerpt(prefix: &str) -> String {
    match prefix.char_indices().nth(EXCERPT_CHARS) {
        Some((end, _)) => format!("{}…", prefix[..end].trim()),
        None => prefix.trim().to_owned(),
    }
}

/// Tags in the order given, each once (the table's key is post + tag).
pub(crate) fn unique_tags(tags: &[String]) -> Vec<&str> {
    let mut seen = Vec::with_capacity(tags.len());
    for tag in tags {
        if !seen.contains(&tag.as_str()) {
            seen.push(tag.as_str());
        }
    }
    seen
}

/// A stored count as the records carry it.
pub(crate) fn count(stored: i64) -> u64 {
    u64::try_from(stored).unwrap_or_default()
}

/// `NotFound` when a write that needs a row touched none.
pub(crate) fn found(rows_affected: u64) -> DataResult<()> {
    if rows_affected == 0 {
        Err(DataError::NotFound)
    } else {
        Ok(())
    }
}

/// `VersionMismatch` unless the caller names no version or the stored one.
pub(crate) fn check_version(expected: Option<i64>, stored: i64) -> DataResult<()> {
    if expected.is_some_and(|expected| expected != stored) {
        Err(DataError::VersionMismatch)
    } else {
        Ok(())
    }
}

/// The limit and offset of a page as SQL binds them.
pub(crate) fn limit_offset(page: PageRequest) -> (i64, i64) {
    let offset = i64::try_from(page.offset()).unwrap_or(i64::MAX);
    (i64::from(page.limit), offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_are_literal() {
        assert_eq!(like_contains(r"5%_a\b"), r"%5\%\_a\\b%");
    }

    #[test]
    fn slugs_take_the_first_free_suffix() {
        let taken = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(free_slug("a", &taken(&[])), "a");
        assert_eq!(free_slug("a", &taken(&["a-2"])), "a");
        assert_eq!(free_slug("a", &taken(&["a", "a-x", "a-3"])), "a-2");
        assert_eq!(free_slug("a", &taken(&["a", "a-2", "a-3"])), "a-4");
    }

    #[test]
    fn excerpts_cut_on_characters() {
        let long = "é".repeat(EXCERPT_CHARS + 1);
        let cut = excerpt(&long);
        assert_eq!(cut.chars().count(), EXCERPT_CHARS + 1);
        assert!(cut.ends_with("é…"));
        assert_eq!(excerpt(" short "), "short");
    }
}
