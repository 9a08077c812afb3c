//! Tags: the normalisation rule and the tag cloud.
//!
//! A tag is trimmed, lower-cased, inner whitespace collapsed to one space,
//! and must then be 1..=30 characters of letters, digits, `-`, `_` or
//! space. Duplicates (after normalisation) are dropped, keeping the first;
//! at most 10 distinct tags per post, out of at most 100 entries sent.
//!
//! A body may hold ~100k short strings, so the rule must cost time linear
//! in what it looks at and stop at the first reason to refuse.

use std::collections::HashSet;
use std::sync::Arc;

use crate::business::cache::{Reach, ReadCache, Shared};
use crate::business::error::{DataContext as _, FieldError, ServiceResult};
use crate::data::{PostRepository, TagCount};

/// Most tags on one post.
pub const TAGS_MAX: usize = 10;
/// Longest tag, in characters.
pub const TAG_MAX_LEN: usize = 30;
/// Most entries a client may send, duplicates included: room for sloppy
/// clients that repeat tags, but a bound on the work one request causes.
pub const TAG_ENTRIES_MAX: usize = 100;

/// The normalised tag list, or why it is refused.
pub fn normalize(tags: &[String]) -> Result<Vec<String>, FieldError> {
    let too_many = || FieldError::new("tags", format!("at most {TAGS_MAX} distinct tags"));
    if tags.len() > TAG_ENTRIES_MAX {
        return Err(FieldError::new(
            "tags",
            format!("at most {TAG_ENTRIES_MAX} entries (and {TAGS_MAX} distinct tags)"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(tags.len().min(TAGS_MAX));
    let mut seen = HashSet::with_capacity(out.capacity());
    for raw in tags {
        let tag = normalize_one(raw)?;
        if seen.insert(tag.clone()) {
            if out.len() == TAGS_MAX {
                return Err(too_many());
            }
            out.push(tag);
        }
    }
    Ok(out)
}

/// One tag, normalised and checked.
fn normalize_one(raw: &str) -> Result<String, FieldError> {
    let tag = fold(raw);
    let count = tag.chars().count();
    if count == 0 || count > TAG_MAX_LEN {
        return Err(FieldError::new(
            "tags",
            format!("each tag must be 1 to {TAG_MAX_LEN} characters long"),
        ));
    }
    if !tag
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
    {
        return Err(FieldError::new(
            "tags",
            "tags may contain only letters, digits, '-', '_' and spaces",
        ));
    }
    Ok(tag)
}

/// `raw` trimmed, lower-cased, inner whitespace collapsed to one space:
/// how a tag is stored, and how a tag filter names one.
pub(crate) fn fold(raw: &str) -> String {
    raw.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The tag cloud over published posts.
pub struct TagService {
    posts: Arc<dyn PostRepository>,
    cache: Arc<ReadCache>,
}

impl TagService {
    pub(crate) fn new(posts: Arc<dyn PostRepository>, cache: Arc<ReadCache>) -> Self {
        Self { posts, cache }
    }

    /// Tags with their published post counts, most used first (cached).
    pub async fn counts(&self) -> ServiceResult<Arc<Shared<Vec<TagCount>>>> {
        let load = async { self.posts.tag_counts().await.during("counting tags") };
        self.cache.read("tags", "all", Reach::Shared, load).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(raw: &[&str]) -> Result<Vec<String>, FieldError> {
        normalize(&raw.iter().map(|t| t.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn normalised_and_deduplicated() {
        assert_eq!(
            tags(&[" Rust ", "rust", "Web  Dev", "été_2024"]).unwrap(),
            ["rust", "web dev", "été_2024"]
        );
        assert_eq!(tags(&[]).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn refused() {
        assert!(tags(&["  "]).is_err());
        assert!(tags(&[&"x".repeat(31)]).is_err());
        assert!(tags(&["c++"]).is_err());
        assert!(tags(&["a/b"]).is_err());
        let eleven: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
        assert!(normalize(&eleven).is_err());
        let dupes: Vec<String> = (0..20).map(|i| format!("t{}", i % 10)).collect();
        assert_eq!(normalize(&dupes).unwrap().len(), 10);
    }

    #[test]
    fn refused_as_soon_as_there_are_too_many() {
        // The 11th distinct tag refuses the list: the bad entry after it is
        // never looked at.
        let mut eleven: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
        eleven.push("c++".into());
        let refused = normalize(&eleven).unwrap_err();
        assert!(refused.message.contains("distinct"), "{refused:?}");
    }

    #[test]
    fn raw_entries_are_capped_before_normalising() {
        let repeated = vec!["rust".to_owned(); TAG_ENTRIES_MAX];
        assert_eq!(normalize(&repeated).unwrap(), ["rust"]);
        let flood = vec!["rust".to_owned(); TAG_ENTRIES_MAX + 1];
        assert!(normalize(&flood).is_err());
        let huge: Vec<String> = (0..110_000).map(|i| format!("t{i}")).collect();
        let started = std::time::Instant::now();
        assert!(normalize(&huge).is_err());
        assert!(started.elapsed() < std::time::Duration::from_millis(50));
    }
}
