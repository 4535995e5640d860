//! `PUT /v1/invoices/{id}`: the bills billing reminders and late-payment
//! notices are scheduled from.

use axum::extract::{Path, State};
use axum::Json;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use tidings::domain::{Currency, Invoice, InvoiceId, InvoiceStatus, RecipientId};

use crate::auth::AuthenticatedAccount;
use crate::error::{ApiError, ErrorBody};
use crate::routes::{parse_id, ApiJson};
use crate::ApiState;

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
