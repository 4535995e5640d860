//! `/v1/recipients/{id}/consent`: a recipient's consent on each channel and
//! its history (who, when, how, what wording), and consent the practice
//! app captured itself.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tidings::domain::{Channel, Consent, ConsentMethod, ConsentState, RecipientId};
use tidings::services::{CapturedConsent, ConsentError};
use tidings::store::ConsentRecord;

use crate::auth::AuthenticatedAccount;
use crate::error::{ApiError, ErrorBody};
use crate::routes::{parse_id, ApiJson};
use crate::ApiState;

/// A channel's consent now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChannelConsent {
    pub state: ConsentState,
    #[schema(value_type = String, format = DateTime)]
    pub since: DateTime<Utc>,
    pub method: ConsentMethod,
    pub policy_version: Option<String>,
}

/// One change of consent, with its evidence.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConsentChange {
    pub channel: Channel,
    pub state: ConsentState,
    #[schema(value_type = String, format = DateTime)]
    pub at: DateTime<Utc>,
    pub method: ConsentMethod,
    pub policy_version: Option<String>,
    /// The number or address it holds for.
    pub address: String,
    /// The exact words the recipient sent, or the wording they saw.
    pub wording: String,
    /// The reply that made the change, if one did.
    pub reply_id: Option<String>,
    /// The message that reply answered.
    pub message_id: Option<String>,
}

impl From<Consent> for ConsentChange {
    fn from(c: Consent) -> Self {
        Self {
            channel: c.channel,
            state: c.state,
            at: c.since,
            method: c.method,
            policy_version: c.policy_version,
            address: c.address,
            wording: c.evidence.words,
            reply_id: c.evidence.reply_id.map(String::from),
            message_id: c.evidence.message_id.map(String::from),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConsentView {
    /// By channel; a channel never asked or answered is absent (`none`).
    pub channels: BTreeMap<String, ChannelConsent>,
    /// Every change, newest first (at most 100).
    pub history: Vec<ConsentChange>,
}

impl From<ConsentRecord> for ConsentView {
    fn from(record: ConsentRecord) -> Self {
        let channels = record
            .channels
            .into_iter()
            .map(|c| {
                let now = ChannelConsent {
                    state: c.state,
                    since: c.since,
                    method: c.method,
                    policy_version: c.policy_version,
                };
                (c.channel.as_str().to_owned(), now)
            })
            .collect();
        Self { channels, history: record.history.into_iter().map(ConsentChange::from).collect() }
    }
}

fn consent_error(err: ConsentError) -> ApiError {
    let unprocessable = |code| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, err.to_string());
    match &err {
        ConsentError::UnknownRecipient => ApiError::new(StatusCode::NOT_FOUND, "unknown_recipient", err.to_string()),
        ConsentError::PolicyVersionMismatch => unprocessable("policy_version_mismatch"),
        ConsentError::NoAddress => unprocessable("missing_address"),
        ConsentError::FaxNeedsNone
        | ConsentError::State
        | ConsentError::Method
        | ConsentError::PolicyVersion
        | ConsentError::CapturedInFuture
        | ConsentError::Evidence => unprocessable("invalid_field"),
        ConsentError::Link(_) => ApiError::new(StatusCode::NOT_FOUND, "invalid_link", err.to_string()),
        ConsentError::Store(store) => store.into(),
    }
}

#[utoipa::path(get, path = "/v1/recipients/{id}/consent", tag = "consent",
    params(("id" = inline(RecipientId), Path)),
    responses(
        (status = 200, body = ConsentView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, description = "No such recipient", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_consent(
    State(state): State<ApiState>,
    AuthenticatedAccount(account): AuthenticatedAccount,
    Path(id): Path<String>,
) -> Result<Json<ConsentView>, ApiError> {
    let recipient: RecipientId = parse_id("id", &id)?;
    Ok(Json(state.consent.record(&account, &recipient).await.map_err(consent_error)?.into()))
}

/// Consent the practice app captured: at online booking (naming the
/// account's current privacy policy version) or recorded by staff.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentBody {
    /// `email`, `sms` or `voice` (fax needs no consent).
    pub channel: Channel,
    /// `granted` or `revoked`.
    pub state: ConsentState,
    /// `online_booking` or `staff_recorded`.
    pub method: ConsentMethod,
    /// Required for `online_booking`: the account's current version.
    #[schema(max_length = 100)]
    pub policy_version: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub captured_at: DateTime<Utc>,
    /// The wording the recipient saw and accepted, or what they said.
    #[schema(min_length = 1, max_length = 2000)]
    pub evidence: String,
}

#[utoipa::path(put, path = "/v1/recipients/{id}/consent", tag = "consent", request_body = ConsentBody,
    params(("id" = inline(RecipientId), Path)),
    responses(
        (status = 200, body = ConsentView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, description = "No such recipient", body = ErrorBody),
        (status = 422, description = "An invalid field, a recipient without an address on the channel, \
            or `policy_version_mismatch`", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_consent(
    State(state): State<ApiState>,
    AuthenticatedAccount(account): AuthenticatedAccount,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ConsentBody>,
) -> Result<Json<ConsentView>, ApiError> {
    let recipient: RecipientId = parse_id("id", &id)?;
    let captured = CapturedConsent {
        channel: body.channel,
        state: body.state,
        method: body.method,
        policy_version: body.policy_version,
        captured_at: body.captured_at,
        evidence: body.evidence,
    };
    Ok(Json(state.consent.capture(&account, &recipient, captured).await.map_err(consent_error)?.into()))
}
