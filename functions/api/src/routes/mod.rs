//! The API's routes. Bodies are parsed at the edge into domain types, so a
//! handler only ever sees valid input; anything else is answered with an
//! error before anything is written.

pub mod appointments;
pub mod credit;
pub mod messages;
pub mod recipients;
pub mod settings;
pub mod templates;
pub mod webhooks;

use axum::extract::{FromRequest, Path, State};
use axum::Json;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use tidings::domain::{Currency, Invoice, InvoiceId, InvoiceStatus, RecipientId};

use crate::auth::AuthenticatedAccount;
use crate::error::{ApiError, ErrorBody};
use crate::ApiState;

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

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceBody {
    #[schema(inline)]
    pub recipient_id: RecipientId,
    /// Integer minor units (cents).
    #[schema(minimum = 1)]
    pub amount_cents: i64,
    /// ISO 4217, e.g. `USD`.
    #[schema(value_type = String, example = "USD", pattern = "^[A-Z]{3}$")]
    pub currency: Currency,
    /// `YYYY-MM-DD`
    #[schema(value_type = String, format = Date)]
    pub due_date: NaiveDate,
    pub status: InvoiceStatus,
    /// An https:// payment link.
    #[schema(max_length = 500, pattern = "^https://\\S+$")]
    pub pay_url: Option<String>,
    /// `false` turns off reminders and notices for this invoice. Default true.
    #[serde(default = "reminders_on")]
    pub reminders: bool,
}

fn reminders_on() -> bool {
    true
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InvoiceView {
    pub id: String,
    pub status: InvoiceStatus,
    pub messages_scheduled: usize,
    pub messages_withdrawn: usize,
}

#[utoipa::path(put, path = "/v1/invoices/{id}", tag = "routes", request_body = InvoiceBody,
    params(("id" = inline(InvoiceId), Path, description = "The practice app's id of the invoice")),
    responses(
        (status = 200, body = InvoiceView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_invoice(
    State(state): State<ApiState>,
    AuthenticatedAccount(account): AuthenticatedAccount,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<InvoiceBody>,
) -> Result<Json<InvoiceView>, ApiError> {
    let invoice = Invoice {
        id: parse_id("invoice id", &id)?,
        recipient_id: body.recipient_id,
        amount_cents: body.amount_cents,
        currency: body.currency,
        due_date: body.due_date,
        status: body.status,
        pay_url: body.pay_url,
        reminders: body.reminders,
    };
    let changes = state.records.put_invoice(&account, &invoice).await?;
    Ok(Json(InvoiceView {
        id: invoice.id.into(),
        status: invoice.status,
        messages_scheduled: changes.scheduled.len(),
        messages_withdrawn: changes.withdrawn,
    }))
}
