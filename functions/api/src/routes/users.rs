//! `/v1/users`: the practice's users (staff) and how often each is emailed
//! about the account's notifications.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use tidings::domain::text;
use tidings::domain::{EmailAddress, NotificationPreferences, PracticeUser, TimeZone, UserId};
use tidings::services::StaffError;

use crate::auth::AuthenticatedAccount;
use crate::error::{ApiError, ErrorBody};
use crate::routes::replies::{page_limit, query};
use crate::routes::{parse_id, ApiJson};
use crate::ApiState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserBody {
    #[schema(value_type = String, example = "frontdesk@riverside.example")]
    pub email: EmailAddress,
    #[schema(schema_with = text::schema)]
    pub display_name: String,
    /// IANA time zone of a daily digest; the practice's when absent.
    #[schema(value_type = Option<String>, example = "America/Los_Angeles")]
    pub time_zone: Option<TimeZone>,
    pub notifications: NotificationPreferences,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: String,
    #[schema(value_type = String)]
    pub email: EmailAddress,
    pub display_name: String,
    #[schema(value_type = Option<String>)]
    pub time_zone: Option<TimeZone>,
    pub notifications: NotificationPreferences,
    /// When mail to `email` bounced for good: the user is not emailed
    /// again until their email changes.
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_bounced_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<PracticeUser> for UserView {
    fn from(user: PracticeUser) -> Self {
        Self {
            id: user.id.into(),
            email: user.email,
            display_name: user.display_name,
            time_zone: user.time_zone,
            notifications: user.notifications,
            email_bounced_at: user.email_bounced_at,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserList {
    /// In id order.
    pub users: Vec<UserView>,
    /// Asks for the next page (`cursor=`); null on the last.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsersQuery {
    /// Users per page: 1 to 100, default 50.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<usize>,
    /// The previous page's `next_cursor`.
    #[param(value_type = Option<String>, min_length = 1, max_length = 128)]
    pub cursor: Option<String>,
}

fn staff_error(err: StaffError) -> ApiError {
    match &err {
        StaffError::InvalidText(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", err.to_string()),
        StaffError::UnknownUser => ApiError::new(StatusCode::NOT_FOUND, "unknown_user", err.to_string()),
        StaffError::Conflict => ApiError::new(StatusCode::CONFLICT, "conflict", err.to_string()),
        StaffError::Store(store) => store.into(),
    }
}

#[utoipa::path(put, path = "/v1/users/{id}", tag = "users", request_body = UserBody,
    params(("id" = inline(UserId), Path, description = "The practice app's id of the user")),
    responses(
        (status = 200, body = UserView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 409, description = "The user changed while being written", body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_user(
    State(state): State<ApiState>,
    AuthenticatedAccount(account): AuthenticatedAccount,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UserBody>,
) -> Result<Json<UserView>, ApiError> {
    let user = PracticeUser {
        id: parse_id("user id", &id)?,
        email: body.email,
        display_name: body.display_name,
        time_zone: body.time_zone,
        notifications: body.notifications,
        email_bounced_at: None,
    };
    let user = state.staff.put_user(&account, &user).await.map_err(staff_error)?;
    Ok(Json(user.into()))
}

#[utoipa::path(get, path = "/v1/users", tag = "users", params(UsersQuery),
    responses(
        (status = 200, body = UserList),
        (status = 400, description = "A malformed limit or cursor", body = ErrorBody),
        (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_users(
    State(state): State<ApiState>,
    AuthenticatedAccount(account): AuthenticatedAccount,
    page: Result<Query<UsersQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<UserList>, ApiError> {
    let page = query(page)?;
    let limit = page_limit(page.limit)?;
    let after: Option<UserId> = match &page.cursor {
        Some(cursor) => Some(
            cursor
                .parse()
                .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "invalid_cursor", "cursor is not a page's"))?,
        ),
        None => None,
    };
    let limit = i32::try_from(limit).unwrap_or(tidings::store::MAX_USERS_PAGE);
    let found = state.staff.users(&account, limit, after.as_ref()).await.map_err(staff_error)?;
    Ok(Json(UserList {
        users: found.users.into_iter().map(UserView::from).collect(),
        next_cursor: found.next.map(String::from),
    }))
}

#[utoipa::path(delete, path = "/v1/users/{id}", tag = "users",
    params(("id" = inline(UserId), Path)),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_user(
    State(state): State<ApiState>,
    AuthenticatedAccount(account): AuthenticatedAccount,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id: UserId = parse_id("user id", &id)?;
    state.staff.delete_user(&account, &id).await.map_err(staff_error)?;
    Ok(StatusCode::NO_CONTENT)
}
