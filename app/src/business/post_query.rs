//! Turning a client's list filters into a repository query, with the
//! visibility rules applied (see [`list_scope`]).

use uuid::Uuid;

use crate::business::error::{FieldError, Problems, ServiceResult};
use crate::business::visibility::{Viewer, list_scope};
use crate::business::{tags, validate};
use crate::data::{PostQuery, PostStatus};

/// Longest search text accepted in `q`.
pub const SEARCH_MAX: usize = 200;

/// The raw filters of a post list, as the client sent them.
#[derive(Debug, Clone, Default)]
pub struct PostFilter {
    /// Page number (≥ 1).
    pub page: Option<String>,
    /// Page size (1..=100).
    pub limit: Option<String>,
    /// `draft` or `published`.
    pub status: Option<String>,
    /// An author's id.
    pub author: Option<String>,
    /// One tag.
    pub tag: Option<String>,
    /// Words searched in title and content.
    pub q: Option<String>,
}

/// A requested status: `draft` or `published`.
pub(crate) fn status(raw: Option<&str>) -> Result<Option<PostStatus>, FieldError> {
    raw.map(|raw| {
        PostStatus::parse(raw)
            .ok_or_else(|| FieldError::new("status", "must be \"draft\" or \"published\""))
    })
    .transpose()
}

/// The repository query for a list request, visibility applied.
pub(crate) fn list_query(viewer: Option<Viewer>, filter: PostFilter) -> ServiceResult<PostQuery> {
    let mut problems = Problems::default();
    let page = validate::paging_into(
        &mut problems,
        filter.page.as_deref(),
        filter.limit.as_deref(),
    );
    let status = problems.check(status(filter.status.as_deref())).flatten();
    let author = filter
        .author
        .as_deref()
        .map(|raw| Uuid::parse_str(raw.trim()));
    let author = problems.check(
        author
            .transpose()
            .map_err(|_| FieldError::new("author", "must be a user id")),
    );
    let search = filter
        .q
        .map(|q| q.trim().to_owned())
        .filter(|q| !q.is_empty());
    if search
        .as_ref()
        .is_some_and(|q| q.chars().count() > SEARCH_MAX)
    {
        problems.check::<()>(Err(FieldError::new(
            "q",
            format!("must be at most {SEARCH_MAX} characters long"),
        )));
    }
    problems.finish()?;
    let author = author.flatten();
    let (drafts_of, all_drafts) = list_scope(viewer, author);
    let tag = filter.tag.as_deref().map(tags::fold);
    Ok(PostQuery {
        status,
        author,
        tag: tag.filter(|t| !t.is_empty()),
        search,
        drafts_of,
        all_drafts,
        page,
    })
}

/// Whether `query` filters on text no post can hold: NUL, which bodies
/// refuse and PostgreSQL cannot even compare, so the answer is an empty
/// list without asking the database.
pub(crate) fn matches_nothing(query: &PostQuery) -> bool {
    let nul = |text: &Option<String>| text.as_ref().is_some_and(|t| t.contains('\0'));
    nul(&query.tag) || nul(&query.search)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::business::ServiceError;
    use crate::data::{PageRequest, Role};

    fn filter(pairs: &[(&str, &str)]) -> PostFilter {
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        PostFilter {
            page: get("page"),
            limit: get("limit"),
            status: get("status"),
            author: get("author"),
            tag: get("tag"),
            q: get("q"),
        }
    }

    fn fields(result: ServiceResult<PostQuery>) -> Vec<String> {
        match result {
            Err(ServiceError::Validation(errors)) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected validation errors, got {other:?}"),
        }
    }

    #[test]
    fn defaults_for_anonymous() {
        let query = list_query(None, filter(&[])).unwrap();
        assert_eq!(query.page, PageRequest { page: 1, limit: 10 });
        assert_eq!(
            (
                query.status,
                query.author,
                query.drafts_of,
                query.all_drafts
            ),
            (None, None, None, false)
        );
    }

    #[test]
    fn own_drafts_only_when_filtering_by_self() {
        let me = Viewer {
            id: Uuid::now_v7(),
            role: Role::User,
        };
        let mine = me.id.to_string();
        let query =
            list_query(Some(me), filter(&[("author", &mine), ("status", "draft")])).unwrap();
        assert_eq!(
            (query.drafts_of, query.status),
            (Some(me.id), Some(PostStatus::Draft))
        );
        let query = list_query(Some(me), filter(&[("status", "draft")])).unwrap();
        assert_eq!((query.drafts_of, query.all_drafts), (None, false));
    }

    #[test]
    fn filters_are_normalised() {
        let query =
            list_query(None, filter(&[("tag", "  Web   Dev "), ("q", "  rust  ")])).unwrap();
        assert_eq!(query.tag.as_deref(), Some("web dev"));
        assert_eq!(query.search.as_deref(), Some("rust"));
        let query = list_query(None, filter(&[("q", "   "), ("tag", "")])).unwrap();
        assert_eq!((query.search, query.tag), (None, None));
    }

    #[test]
    fn every_bad_filter_is_reported() {
        let long = "x".repeat(SEARCH_MAX + 1);
        let bad = filter(&[
            ("page", "0"),
            ("limit", "500"),
            ("status", "gone"),
            ("author", "me"),
            ("q", &long),
        ]);
        assert_eq!(
            fields(list_query(None, bad)),
            ["page", "limit", "status", "author", "q"]
        );
    }
}
