//! The success envelopes: `{"data": ...}` for one value, and
//! `{"data": [...], "meta": {total, page, limit, totalPages}}` for a page.

use axum::Json;
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::business::Listing;

/// The success envelope of a single value.
#[derive(Debug, Serialize)]
pub struct Data<T> {
    /// The value.
    pub data: T,
}

/// The success envelope of a list page.
#[derive(Debug, Serialize)]
pub struct ListData<T> {
    /// This page's items.
    pub data: Vec<T>,
    /// Where this page sits in the list.
    pub meta: Meta,
}

/// Paging facts of a list.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// Items over all pages.
    pub total: u64,
    /// This page (1-based).
    pub page: u32,
    /// Items per page.
    pub limit: u32,
    /// Pages in all.
    pub total_pages: u64,
}

impl<T> ListData<T> {
    /// The page of `listing`, each item turned into its view.
    pub fn from_listing<R>(listing: Listing<R>, view: impl Fn(R) -> T) -> Self {
        let meta = Meta {
            total: listing.total,
            page: listing.page.page,
            limit: listing.page.limit,
            total_pages: listing.total_pages(),
        };
        Self {
            data: listing.items.into_iter().map(view).collect(),
            meta,
        }
    }
}

/// A `201 Created` answer with `{"data": ...}`, and `Location` when the new
/// resource has an address of its own.
pub fn created<T: Serialize>(location: Option<String>, data: T) -> Response {
    let body = Json(Data { data });
    match location {
        Some(location) => (StatusCode::CREATED, [(LOCATION, location)], body).into_response(),
        None => (StatusCode::CREATED, body).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::PageRequest;

    #[test]
    fn pages_are_counted() {
        let page = PageRequest { page: 2, limit: 10 };
        let listing = Listing {
            items: vec![1, 2],
            total: 21,
            page,
        };
        let json = serde_json::to_value(ListData::from_listing(listing, |n| n * 10)).unwrap();
        let meta = serde_json::json!({"total": 21, "page": 2, "limit": 10, "totalPages": 3});
        assert_eq!(json, serde_json::json!({"data": [10, 20], "meta": meta}));
        let empty = Listing::<u8> {
            items: vec![],
            total: 0,
            page,
        };
        assert_eq!(ListData::from_listing(empty, |n| n).meta.total_pages, 0);
    }
}
