//! `PUT /v1/recipients/{id}`: the clients and contacts messages go to.

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use tidings::domain::text;
use tidings::domain::{Channel, EmailAddress, Language, PhoneNumber, Recipient, RecipientId, RecipientKind, TimeZone};

use crate::auth::AuthenticatedAccount;
use crate::error::{ApiError, ErrorBody};
use crate::routes::{parse_id, ApiJson};
use crate::ApiState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecipientBody {
    pub kind: RecipientKind,
    #[schema(schema_with = text::schema)]
    pub first_name: String,
    #[schema(schema_with = text::schema)]
    pub last_name: String,
    pub channel: Channel,
    #[schema(value_type = Option<String>, example = "ann@example.com")]
    pub email: Option<EmailAddress>,
    /// E.164
    #[schema(value_type = Option<String>, example = "+12025550143")]
    pub phone: Option<PhoneNumber>,
    /// E.164
    #[schema(value_type = Option<String>)]
    pub fax: Option<PhoneNumber>,
    /// IANA time zone; the practice's when absent.
    #[schema(value_type = Option<String>, example = "America/Chicago")]
    pub time_zone: Option<TimeZone>,
    /// Default `en`.
    #[schema(value_type = Option<String>, example = "en")]
    pub language: Option<Language>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecipientView {
    pub id: String,
    pub kind: RecipientKind,
    pub channel: Channel,
}

#[utoipa::path(put, path = "/v1/recipients/{id}", tag = "routes", request_body = RecipientBody,
    params(("id" = inline(RecipientId), Path, description = "The practice app's id of the recipient")),
    responses(
        (status = 200, body = RecipientView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_recipient(
    State(state): State<ApiState>,
    AuthenticatedAccount(account): AuthenticatedAccount,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RecipientBody>,
) -> Result<Json<RecipientView>, ApiError> {
    let id: RecipientId = parse_id("recipient id", &id)?;
    let recipient = Recipient {
        id,
        kind: body.kind,
        first_name: body.first_name,
        last_name: body.last_name,
        channel: body.channel,
        email: body.email,
        phone: body.phone,
        fax: body.fax,
        time_zone: body.time_zone,
        language: body.language.unwrap_or_default(),
    };
    state.records.put_recipient(&account, &recipient).await?;
    Ok(Json(RecipientView { id: recipient.id.into(), kind: recipient.kind, channel: recipient.channel }))
}
