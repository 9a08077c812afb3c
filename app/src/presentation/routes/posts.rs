//! Posts: list, show (by id or slug), create, update, delete.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use crate::business::parse_id;
use crate::presentation::AppState;
use crate::presentation::auth::{Authenticated, viewer};
use crate::presentation::conditional;
use crate::presentation::envelope::{Data, ListData, created};
use crate::presentation::error::ApiError;
use crate::presentation::extract::{ApiJson, ApiQuery};
use crate::presentation::requests::{CreatePost, PostListQuery, UpdatePost};
use crate::presentation::views::{PostSummaryView, PostView};

/// `GET /api/posts` → a page of summaries the caller may see (rendered
/// once per cache entry).
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Option<Authenticated>,
    ApiQuery(query): ApiQuery<PostListQuery>,
) -> Result<Response, ApiError> {
    let listing = state
        .services()
        .posts
        .list(viewer(caller.as_ref()), query.into())
        .await?;
    let rendered = listing.rendered(|listing| {
        let page = ListData::from_listing(listing.clone(), PostSummaryView::from);
        conditional::render_untagged(&page)
    });
    Ok(conditional::respond(&HeaderMap::new(), rendered))
}

/// `GET /api/posts/{idOrSlug}` → the full post with an ETag (304 when
/// `If-None-Match` matches); a draft the caller may not see is 404.
pub(crate) async fn show(
    State(state): State<AppState>,
    Path(id_or_slug): Path<String>,
    caller: Option<Authenticated>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let post = state
        .services()
        .posts
        .get(viewer(caller.as_ref()), &id_or_slug)
        .await?;
    let rendered = post.rendered(|post| {
        let version = post.as_ref().map(|post| post.version);
        let view = post.clone().map(PostView::from);
        conditional::render(&Data { data: view }, version)
    });
    Ok(conditional::respond(&headers, rendered))
}

/// `POST /api/posts` → 201 with the post and its `Location`.
pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiJson(request): ApiJson<CreatePost>,
) -> Result<Response, ApiError> {
    let post = state
        .services()
        .posts
        .create(caller.viewer(), request.into())
        .await?;
    let location = format!("/api/posts/{}", post.id);
    Ok(created(Some(location), PostView::from(post)))
}

/// `PATCH /api/posts/{id}` → the updated post with its new ETag; 412 when
/// `If-Match` names another version.
pub(crate) async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    caller: Authenticated,
    headers: HeaderMap,
    ApiJson(request): ApiJson<UpdatePost>,
) -> Result<Response, ApiError> {
    let versions = conditional::if_match_versions(&headers);
    let posts = &state.services().posts;
    let post = posts
        .update(
            caller.viewer(),
            parse_id(&id)?,
            request.into(),
            versions.as_deref(),
        )
        .await?;
    let version = post.version;
    Ok(conditional::single(
        &HeaderMap::new(),
        PostView::from(post),
        Some(version),
    ))
}

/// `DELETE /api/posts/{id}` → 204; its comments go with it.
pub(crate) async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
    caller: Authenticated,
) -> Result<StatusCode, ApiError> {
    state
        .services()
        .posts
        .delete(caller.viewer(), parse_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
