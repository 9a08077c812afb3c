//! Comments, notifications and tags.

use axum::Json;
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
use crate::presentation::requests::{CreateComment, PageQuery};
use crate::presentation::views::{CommentView, NotificationView, TagView};

/// `GET /api/posts/{id}/comments` → a page of comments, oldest first.
pub(crate) async fn comments(
    State(state): State<AppState>,
    Path(id): Path<String>,
    caller: Option<Authenticated>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<ListData<CommentView>>, ApiError> {
    let (page, limit) = (query.page.as_deref(), query.limit.as_deref());
    let comments = &state.services().comments;
    let listing = comments
        .list(viewer(caller.as_ref()), parse_id(&id)?, page, limit)
        .await?;
    Ok(Json(ListData::from_listing(listing, CommentView::from)))
}

/// `POST /api/posts/{id}/comments` → 201 with the comment.
pub(crate) async fn comment(
    State(state): State<AppState>,
    Path(id): Path<String>,
    caller: Authenticated,
    ApiJson(request): ApiJson<CreateComment>,
) -> Result<Response, ApiError> {
    let comment = state
        .services()
        .comments
        .create(caller.viewer(), parse_id(&id)?, &request.content)
        .await?;
    Ok(created(None, CommentView::from(comment)))
}

/// `DELETE /api/comments/{id}` → 204.
pub(crate) async fn delete_comment(
    State(state): State<AppState>,
    Path(id): Path<String>,
    caller: Authenticated,
) -> Result<StatusCode, ApiError> {
    state
        .services()
        .comments
        .delete(caller.viewer(), parse_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/notifications` → the caller's notifications, newest first.
pub(crate) async fn notifications(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<ListData<NotificationView>>, ApiError> {
    let (page, limit) = (query.page.as_deref(), query.limit.as_deref());
    let listing = state
        .services()
        .users
        .notifications(caller.viewer(), page, limit)
        .await?;
    Ok(Json(ListData::from_listing(
        listing,
        NotificationView::from,
    )))
}

/// `POST /api/notifications/read` → 204.
pub(crate) async fn read_notifications(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<StatusCode, ApiError> {
    state
        .services()
        .users
        .mark_notifications_read(caller.viewer())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/tags` → tags over published posts, most used first (rendered
/// once per cache entry).
pub(crate) async fn tags(State(state): State<AppState>) -> Result<Response, ApiError> {
    let tags = state.services().tags.counts().await?;
    let rendered = tags.rendered(|tags| {
        let data: Vec<TagView> = tags.iter().cloned().map(TagView::from).collect();
        conditional::render_untagged(&Data { data })
    });
    Ok(conditional::respond(&HeaderMap::new(), rendered))
}
