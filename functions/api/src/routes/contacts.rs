//! `/v1/recipients/{id}/contacts`: who is copied on a client's
//! automated messages (guardians, caregivers, physicians, other
//! providers). Each contact is a recipient of the account in their own
//! right.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use tidings::domain::copies::{ContactLink, Relationship};
use tidings::domain::{MessageKind, RecipientId};

use crate::auth::AuthenticatedAccount;
use crate::error::{ApiError, ErrorBody};
use crate::routes::{parse_id, ApiJson};
use crate::ApiState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactBody {
    pub relationship: Relationship,
    /// The client's automated messages the contact gets a copy of
    /// (repeats count once): `appointment_reminder`, `appointment_notice`,
    /// `billing_reminder`, `late_payment_notice`.
    #[serde(default)]
    pub copy_on: Vec<MessageKind>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ContactView {
    pub contact_id: String,
    pub relationship: Relationship,
    pub copy_on: Vec<MessageKind>,
}

impl From<ContactLink> for ContactView {
    fn from(link: ContactLink) -> Self {
        Self { contact_id: link.contact_id.into(), relationship: link.relationship, copy_on: link.copy_on }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ContactList {
    /// In id order (at most 50).
    pub contacts: Vec<ContactView>,
}

#[utoipa::path(put, path = "/v1/recipients/{id}/contacts/{contact_id}", tag = "contacts",
    request_body = ContactBody,
    params(("id" = inline(RecipientId), Path, description = "The client"), ("contact_id" = inline(RecipientId), Path)),
    responses(
        (status = 200, body = ContactView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, description = "The client or the contact is not a recipient of the account", body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_contact(
    State(state): State<ApiState>,
    AuthenticatedAccount(account): AuthenticatedAccount,
    Path((client_id, contact_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<ContactBody>,
) -> Result<Json<ContactView>, ApiError> {
    let client: RecipientId = parse_id("client_id", &client_id)?;
    let contact: RecipientId = parse_id("contact_id", &contact_id)?;
    let link = ContactLink::new(client, contact, body.relationship, body.copy_on)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", e.to_string()))?;
    state.records.put_contact(&account, &link).await?;
    Ok(Json(link.into()))
}

#[utoipa::path(get, path = "/v1/recipients/{id}/contacts", tag = "contacts",
    params(("id" = inline(RecipientId), Path, description = "The client")),
    responses(
        (status = 200, body = ContactList),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_contacts(
    State(state): State<ApiState>,
    AuthenticatedAccount(account): AuthenticatedAccount,
    Path(client_id): Path<String>,
) -> Result<Json<ContactList>, ApiError> {
    let client: RecipientId = parse_id("client_id", &client_id)?;
    let links = state.records.contacts(&account, &client).await?;
    Ok(Json(ContactList { contacts: links.into_iter().map(ContactView::from).collect() }))
}

#[utoipa::path(delete, path = "/v1/recipients/{id}/contacts/{contact_id}", tag = "contacts",
    params(("id" = inline(RecipientId), Path, description = "The client"), ("contact_id" = inline(RecipientId), Path)),
    responses(
        (status = 204, description = "No longer copied (copies already planned stay)"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_contact(
    State(state): State<ApiState>,
    AuthenticatedAccount(account): AuthenticatedAccount,
    Path((client_id, contact_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let client: RecipientId = parse_id("client_id", &client_id)?;
    let contact: RecipientId = parse_id("contact_id", &contact_id)?;
    state.records.delete_contact(&account, &client, &contact).await?;
    Ok(StatusCode::NO_CONTENT)
}
