//! `/v1/notifications`: what staff must know, newest first, and which of
//! it someone has read.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tidings::domain::{Notification, NotificationId};

use crate::auth::AuthenticatedAccount;
use crate::error::{ApiError, ErrorBody};
use crate::routes::parse_id;
use crate::ApiState;

/// The most notifications one page holds.
const NOTIFICATION_PAGE_MAX: i32 = 200;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NotificationsQuery {
    /// Default 50, at most 200.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i32>,
    /// Page back: the `at` and `id` of the previous page's last notification.
    #[param(value_type = Option<String>, format = DateTime)]
    pub before_at: Option<DateTime<Utc>>,
    /// That notification's `id`.
    #[param(value_type = Option<NotificationId>, inline)]
    pub before_id: Option<String>,
    /// `true`: only the notifications nobody marked read.
    pub unread: Option<bool>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NotificationList {
    /// Newest first.
    pub notifications: Vec<Notification>,
}

#[utoipa::path(get, path = "/v1/notifications", tag = "notifications", params(NotificationsQuery),
    responses((status = 200, body = NotificationList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_notifications(
    State(state): State<ApiState>,
    AuthenticatedAccount(account): AuthenticatedAccount,
    query: Result<Query<NotificationsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<NotificationList>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=NOTIFICATION_PAGE_MAX).contains(&limit) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", "limit must be 1 to 200"));
    }
    // Anything but a notification's id would only make a key the store refuses.
    let before_id = query.before_id.map(|id| id.parse::<NotificationId>()).transpose().map_err(|_| {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", "before_id must be a notification's id")
    })?;
    let before = match (query.before_at, before_id.as_ref().map(NotificationId::as_str)) {
        (Some(at), Some(id)) => Some((at, id)),
        (None, None) => None,
        _ => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                "give before_at and before_id together",
            ))
        }
    };
    let unread = query.unread.unwrap_or(false);
    let notifications =
        state.store.notifications(&account, limit, before, unread).await.map_err(|e| ApiError::from(&e))?;
    Ok(Json(NotificationList { notifications }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NotificationRead {
    pub id: String,
    pub read: bool,
}

/// Marks a notification read (out of `?unread=true`); again changes nothing.
#[utoipa::path(post, path = "/v1/notifications/{id}/read", tag = "notifications",
    params(("id" = String, Path, description = "A notification's id")),
    responses(
        (status = 200, body = NotificationRead),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, description = "No such notification", body = ErrorBody),
        (status = 413, description = "The body is over 256 KB", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn mark_read(
    State(state): State<ApiState>,
    AuthenticatedAccount(account): AuthenticatedAccount,
    Path(id): Path<String>,
    _empty: crate::routes::ApiBytes,
) -> Result<Json<NotificationRead>, ApiError> {
    let id: NotificationId = parse_id("notification id", &id)?;
    if !state.store.mark_notification_read(&account, id.as_str()).await.map_err(|e| ApiError::from(&e))? {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "unknown_notification", "no notification with this id"));
    }
    Ok(Json(NotificationRead { id: id.into(), read: true }))
}
