//! `/v1/forms`: online forms and paperwork sent as a link and an access
//! code (the public page is `form_page`).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tidings::domain::consent_link::MAX_TOKEN_CHARS;
use tidings::domain::form::{Form, FormAsked, FormStatus};
use tidings::domain::{Channel, FormId};
use tidings::services::FormError;

use crate::auth::AuthenticatedAccount;
use crate::error::{ApiError, ErrorBody};
use crate::routes::{parse_id, ApiBytes, ApiJson};
use crate::ApiState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FormBody {
    #[schema(value_type = String, example = "c-101")]
    pub recipient_id: String,
    /// The recipient's own channel when absent; not voice (a call cannot
    /// carry a link).
    pub channel: Option<Channel>,
    #[schema(example = "New patient intake", min_length = 1, max_length = 200)]
    pub title: String,
    /// The practice's form: https (http only to 127.0.0.1 or localhost).
    #[schema(example = "https://forms.riverside.example/intake", max_length = 2000, pattern = "^https?://\\S+$")]
    pub form_url: String,
    /// 1 to 90, default 14.
    #[schema(minimum = 1, maximum = 90)]
    pub expires_in_days: Option<u32>,
}

/// A form's link and where it stands.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FormView {
    pub id: String,
    pub recipient_id: String,
    pub channel: Channel,
    pub title: String,
    pub form_url: String,
    /// The public page the message links to.
    pub link: String,
    pub access_code: String,
    pub status: FormStatus,
    /// The message carrying the link and the code (`GET /v1/messages/{id}`).
    pub message_id: String,
    pub wrong_codes: u32,
    #[schema(value_type = String, format = DateTime)]
    pub sent_at: DateTime<Utc>,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: DateTime<Utc>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub opened_at: Option<DateTime<Utc>>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub submitted_at: Option<DateTime<Utc>>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub locked_at: Option<DateTime<Utc>>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<DateTime<Utc>>,
}

impl FormView {
    fn of(form: Form, now: DateTime<Utc>) -> Self {
        Self {
            status: form.status(now),
            id: form.id.into(),
            recipient_id: form.recipient_id.into(),
            channel: form.channel,
            title: form.title,
            form_url: form.form_url,
            link: form.link,
            access_code: form.access_code,
            message_id: form.message_id.into(),
            wrong_codes: form.wrong_codes,
            sent_at: form.sent_at,
            expires_at: form.expires_at,
            opened_at: form.opened_at,
            submitted_at: form.submitted_at,
            locked_at: form.locked_at,
            revoked_at: form.revoked_at,
        }
    }
}

/// What an access token says, when it is good.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Verified {
    pub valid: bool,
    pub form_id: String,
    pub recipient_id: String,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct VerifyQuery {
    /// The token the form's page added to `form_url`.
    #[param(max_length = 2000)]
    pub access_token: String,
}

fn form_error(err: FormError) -> ApiError {
    match &err {
        FormError::Invalid(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", err.to_string()),
        FormError::UnknownRecipient => ApiError::new(StatusCode::NOT_FOUND, "unknown_recipient", err.to_string()),
        FormError::MissingAddress(_) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "missing_address", err.to_string())
        }
        FormError::UnknownForm => ApiError::new(StatusCode::NOT_FOUND, "unknown_form", err.to_string()),
        FormError::Ended(_) => ApiError::new(StatusCode::CONFLICT, "form_ended", err.to_string()),
        FormError::AccessToken(_) => ApiError::new(StatusCode::UNAUTHORIZED, "invalid_access_token", err.to_string()),
        FormError::NoOrigin => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "no_public_address", err.to_string()),
        FormError::Store(store) => store.into(),
    }
}

/// The API's address as this request reached it (`Host`, and API
/// Gateway's `X-Forwarded-Proto`): where a link is made when the
/// deployment names no public address.
fn request_origin(headers: &HeaderMap) -> Option<String> {
    let host = headers.get(axum::http::header::HOST)?.to_str().ok()?;
    let valid = !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'));
    let proto = match headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()) {
        Some("https") => "https",
        _ => "http",
    };
    valid.then(|| format!("{proto}://{host}"))
}

#[utoipa::path(post, path = "/v1/forms", tag = "forms", request_body = FormBody,
    responses(
        (status = 201, description = "The link and code, sent now in a form_request message", body = FormView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, description = "The recipient is unknown", body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn post_form(
    State(state): State<ApiState>,
    AuthenticatedAccount(account): AuthenticatedAccount,
    headers: HeaderMap,
    ApiJson(body): ApiJson<FormBody>,
) -> Result<(StatusCode, Json<FormView>), ApiError> {
    let recipient = parse_id("recipient_id", &body.recipient_id)?;
    let asked = FormAsked::new(recipient, body.channel, body.title, body.form_url, body.expires_in_days)
        .map_err(|e| form_error(e.into()))?;
    let form = state.forms.create(&account, &asked, request_origin(&headers).as_deref()).await.map_err(form_error)?;
    Ok((StatusCode::CREATED, Json(FormView::of(form, state.clock.now()))))
}

#[utoipa::path(get, path = "/v1/forms/{id}", tag = "forms",
    params(("id" = String, Path)),
    responses(
        (status = 200, body = FormView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_form(
    State(state): State<ApiState>,
    AuthenticatedAccount(account): AuthenticatedAccount,
    Path(id): Path<String>,
) -> Result<Json<FormView>, ApiError> {
    let id: FormId = parse_id("id", &id)?;
    let form = state.forms.get(&account, &id).await.map_err(form_error)?;
    Ok(Json(FormView::of(form, state.clock.now())))
}

async fn end(
    state: &ApiState,
    account: &tidings::domain::AccountId,
    id: &str,
    status: FormStatus,
) -> Result<Json<FormView>, ApiError> {
    let id: FormId = parse_id("id", id)?;
    let form = state.forms.end(account, &id, status).await.map_err(form_error)?;
    Ok(Json(FormView::of(form, state.clock.now())))
}

/// The practice app says the form came back: the link ends, and staff
/// hear `form_submitted`. Again: the same.
#[utoipa::path(post, path = "/v1/forms/{id}/submitted", tag = "forms",
    params(("id" = String, Path)),
    responses(
        (status = 200, body = FormView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The link had already ended otherwise", body = ErrorBody),
        (status = 413, description = "The body is over 256 KB", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn submitted(
    State(state): State<ApiState>,
    AuthenticatedAccount(account): AuthenticatedAccount,
    Path(id): Path<String>,
    _body: ApiBytes,
) -> Result<Json<FormView>, ApiError> {
    end(&state, &account, &id, FormStatus::Submitted).await
}

/// Withdraws the link (sent to the wrong person, replaced): it ends.
#[utoipa::path(post, path = "/v1/forms/{id}/revoke", tag = "forms",
    params(("id" = String, Path)),
    responses(
        (status = 200, body = FormView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The link had already ended otherwise", body = ErrorBody),
        (status = 413, description = "The body is over 256 KB", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke(
    State(state): State<ApiState>,
    AuthenticatedAccount(account): AuthenticatedAccount,
    Path(id): Path<String>,
    _body: ApiBytes,
) -> Result<Json<FormView>, ApiError> {
    end(&state, &account, &id, FormStatus::Revoked).await
}

/// Checks the access token the page handed on with the recipient.
#[utoipa::path(get, path = "/v1/forms/{id}/verify", tag = "forms",
    params(("id" = String, Path), VerifyQuery),
    responses(
        (status = 200, description = "A good token for this form", body = Verified),
        (status = 400, body = ErrorBody),
        (status = 401, description = "Not a good token for this form (or no bearer token)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn verify(
    State(state): State<ApiState>,
    AuthenticatedAccount(account): AuthenticatedAccount,
    Path(id): Path<String>,
    query: Result<Query<VerifyQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Verified>, ApiError> {
    let id: FormId = parse_id("id", &id)?;
    let Query(query) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))?;
    if query.access_token.len() > MAX_TOKEN_CHARS {
        let long = format!("access_token must be at most {MAX_TOKEN_CHARS} characters");
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", long));
    }
    let claims = state.forms.verify(&account, &id, &query.access_token).await.map_err(form_error)?;
    Ok(Json(Verified {
        valid: true,
        form_id: claims.form.into(),
        recipient_id: claims.recipient.into(),
        expires_at: DateTime::from_timestamp(claims.exp, 0).unwrap_or_default(),
    }))
}
