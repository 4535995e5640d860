//! `/v1/credit` and `/v1/notifications`: the account's prepaid balance, its
//! purchases, and what staff must know.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tidings::domain::{LedgerEntry, Notification, PriceTable, PurchaseAmount};
use tidings::services::{CreditError, IdempotencyKey};

use crate::auth::{AuthenticatedAccount, OperatorForAccount};
use crate::error::{ApiError, ErrorBody};
use crate::routes::ApiJson;
use crate::ApiState;

impl From<CreditError> for ApiError {
    fn from(err: CreditError) -> Self {
        match &err {
            CreditError::InvalidIdempotencyKey => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", err.to_string())
            }
            CreditError::IdempotencyKeyReused => {
                Self::new(StatusCode::CONFLICT, "idempotency_key_reused", err.to_string())
            }
            CreditError::Store(store) => store.into(),
            CreditError::Publish(_) => Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", err.to_string()),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreditBalanceView {
    pub balance_cents: i64,
    /// The price table in force in this deployment; email is free.
    pub prices: PriceTable,
    /// The most recent movements, newest first.
    pub ledger: Vec<LedgerEntry>,
}

#[utoipa::path(get, path = "/v1/credit", tag = "credit",
    responses((status = 200, body = CreditBalanceView), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_credit(
    State(state): State<ApiState>,
    AuthenticatedAccount(account): AuthenticatedAccount,
) -> Result<Json<CreditBalanceView>, ApiError> {
    let view = state.credit.view(&account).await?;
    Ok(Json(CreditBalanceView { balance_cents: view.balance_cents, prices: view.prices, ledger: view.ledger }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PurchaseBody {
    /// 1000 to 10000000.
    #[schema(minimum = 1000, maximum = 10000000)]
    pub amount_cents: u64,
    /// Repeating a key records nothing new. Printable ASCII, no spaces.
    #[schema(min_length = 1, max_length = 100, pattern = "^[!-~]+$")]
    pub idempotency_key: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PurchaseView {
    /// `false` when this key was recorded before.
    pub recorded: bool,
    pub balance_cents: i64,
    /// Messages held for credit that go out now, oldest first.
    pub released: usize,
}

#[utoipa::path(post, path = "/v1/credit/purchases", tag = "credit", request_body = PurchaseBody,
    responses(
        (status = 201, description = "recorded", body = PurchaseView),
        (status = 200, description = "this key was recorded before: nothing new", body = PurchaseView),
        (status = 401, body = ErrorBody),
        (status = 403, description = "the token lacks the operator's scope: only the operator grants credit", body = ErrorBody),
        (status = 409, description = "the key was recorded with another amount", body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn post_purchase(
    State(state): State<ApiState>,
    OperatorForAccount(account): OperatorForAccount,
    ApiJson(body): ApiJson<PurchaseBody>,
) -> Result<(StatusCode, Json<PurchaseView>), ApiError> {
    let amount = PurchaseAmount::try_from(body.amount_cents)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_amount", e.to_string()))?;
    let key: IdempotencyKey = body.idempotency_key.parse()?;
    let receipt = state.credit.purchase(&account, amount, &key).await?;
    let status = if receipt.recorded { StatusCode::CREATED } else { StatusCode::OK };
    Ok((
        status,
        Json(PurchaseView {
            recorded: receipt.recorded,
            balance_cents: receipt.balance_cents,
            released: receipt.released,
        }),
    ))
}

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
    /// A notification's id: a UUID.
    #[param(
        max_length = 36,
        pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
    pub before_id: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NotificationList {
    /// Newest first.
    pub notifications: Vec<Notification>,
}

#[utoipa::path(get, path = "/v1/notifications", tag = "credit", params(NotificationsQuery),
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
    // A notification's id is a UUID; anything else would only make a key
    // the store refuses.
    let before_id =
        query.before_id.map(|id| id.parse::<uuid::Uuid>().map(|id| id.to_string())).transpose().map_err(|_| {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", "before_id must be a notification's id")
        })?;
    let before = match (query.before_at, before_id.as_deref()) {
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
    let notifications = state.store.notifications(&account, limit, before).await.map_err(|e| ApiError::from(&e))?;
    Ok(Json(NotificationList { notifications }))
}
