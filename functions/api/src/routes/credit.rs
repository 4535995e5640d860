//! `/v1/credit`: the account's prepaid balance and its purchases.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use tidings::domain::{LedgerEntry, PriceTable, PurchaseAmount};
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
