//! The API's routes, one module per resource, and what they share. Bodies
//! are parsed at the edge into domain types, so a handler only ever sees
//! valid input; anything else is answered with an error before anything is
//! written.

pub mod appointments;
pub mod consent;
pub mod consent_page;
pub mod contacts;
pub mod credit;
pub mod form_page;
pub mod forms;
pub mod invoices;
pub mod messages;
pub mod notifications;
pub mod page;
pub mod recipients;
pub mod replies;
pub mod settings;
pub mod templates;
pub mod users;
pub mod webhooks;

use axum::extract::FromRequest;
use axum::Json;

use crate::error::ApiError;

/// `axum::Json` whose rejections are answered in the API's error format.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

impl<T: serde::de::DeserializeOwned> ApiJson<T> {
    /// For a body that may be empty: parsed as `axum::Json` would parse it,
    /// if its content type is JSON.
    pub fn from_bytes(headers: &axum::http::HeaderMap, bytes: &[u8]) -> Result<Self, ApiError> {
        let content_type = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let media_type = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        let json = media_type == "application/json"
            || media_type.strip_prefix("application/").is_some_and(|subtype| subtype.ends_with("+json"));
        if !json {
            return Err(ApiError::unsupported_media_type());
        }
        Ok(Self(Json::from_bytes(bytes)?.0))
    }
}

/// A raw body, whose rejections (one over the body limit) are answered in
/// the API's error format.
pub struct ApiBytes(pub axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for ApiBytes {
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        Ok(Self(axum::body::Bytes::from_request(request, state).await?))
    }
}

/// An id from a path or query, as its domain type; one that is not is
/// answered 400 `invalid_id`.
fn parse_id<T: std::str::FromStr>(what: &str, raw: &str) -> Result<T, ApiError> {
    raw.parse().map_err(|_| ApiError::invalid_id(what))
}

/// A listing's `cursor` as OpenAPI states it: what a previous page gave out.
fn cursor_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .min_length(Some(1))
        .max_length(Some(tidings::store::MAX_CURSOR_CHARS))
        .build()
}
