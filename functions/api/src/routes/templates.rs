//! `/v1/templates/{kind}/{channel}`: the account's wording of each kind of
//! message on each channel, and previews of it.

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use tidings::domain::template::fields_of;
use tidings::domain::{Channel, MessageKind, SmsLength, TemplateSource};
use tidings::services::Price;

use crate::auth::AuthenticatedAccount;
use crate::error::{ApiError, ErrorBody};
use crate::routes::{ApiBytes, ApiJson};
use crate::ApiState;

fn template_path(kind: &str, channel: &str) -> Result<(MessageKind, Channel), ApiError> {
    let kind =
        kind.parse().ok().filter(|kind: &MessageKind| kind.is_templated()).ok_or_else(|| {
            ApiError::new(axum::http::StatusCode::NOT_FOUND, "unknown_template", "no such message kind")
        })?;
    let channel = channel
        .parse()
        .map_err(|_| ApiError::new(axum::http::StatusCode::NOT_FOUND, "unknown_template", "no such channel"))?;
    Ok((kind, channel))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateBody {
    /// Email only. At most 20,000 bytes (`template_too_large`).
    #[schema(max_length = 20000)]
    pub subject: Option<String>,
    /// Text with `{{ field }}` merge fields. At most 20,000 bytes
    /// (`template_too_large`).
    #[schema(max_length = 20000)]
    pub body: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TemplateView {
    pub kind: MessageKind,
    pub channel: Channel,
    pub subject: Option<String>,
    pub body: String,
    /// `false` while the built-in template is in force.
    pub custom: bool,
    /// The merge fields this kind offers.
    pub fields: Vec<String>,
}

fn template_view(kind: MessageKind, channel: Channel, source: TemplateSource, custom: bool) -> TemplateView {
    TemplateView {
        kind,
        channel,
        subject: source.subject,
        body: source.body,
        custom,
        fields: fields_of(kind).into_iter().map(str::to_owned).collect(),
    }
}

#[utoipa::path(get, path = "/v1/templates/{kind}/{channel}", tag = "routes",
    params(("kind" = inline(MessageKind), Path), ("channel" = inline(Channel), Path)),
    responses((status = 200, body = TemplateView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_template(
    State(state): State<ApiState>,
    AuthenticatedAccount(account): AuthenticatedAccount,
    Path((kind, channel)): Path<(String, String)>,
) -> Result<Json<TemplateView>, ApiError> {
    let (kind, channel) = template_path(&kind, &channel)?;
    let (source, custom) = state.records.template_in_force(&account, kind, channel).await?;
    Ok(Json(template_view(kind, channel, source, custom)))
}

#[utoipa::path(put, path = "/v1/templates/{kind}/{channel}", tag = "routes", request_body = TemplateBody,
    params(("kind" = inline(MessageKind), Path), ("channel" = inline(Channel), Path)),
    responses(
        (status = 200, body = TemplateView),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, description = "Unknown merge field or broken syntax; the old template stays", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_template(
    State(state): State<ApiState>,
    AuthenticatedAccount(account): AuthenticatedAccount,
    Path((kind, channel)): Path<(String, String)>,
    ApiJson(body): ApiJson<TemplateBody>,
) -> Result<Json<TemplateView>, ApiError> {
    let (kind, channel) = template_path(&kind, &channel)?;
    let source = TemplateSource { subject: body.subject, body: body.body };
    state.records.put_template(&account, kind, channel, &source).await?;
    Ok(Json(template_view(kind, channel, source, true)))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TemplatePreviewView {
    pub subject: Option<String>,
    pub body: String,
    /// SMS only: encoding, units and segments (what the message costs).
    pub sms: Option<SmsLength>,
    /// What one such message costs at this deployment's prices (a call:
    /// the minutes reserved before it is placed); absent when it would be
    /// refused.
    pub cost_cents: Option<u64>,
    /// Why it would be refused (`too_many_segments`), if it would.
    pub refused: Option<String>,
}

#[utoipa::path(post, path = "/v1/templates/{kind}/{channel}/preview", tag = "routes", request_body(content = Option<TemplateBody>,
        description = "A draft to preview; without a body, the template in force"),
    params(("kind" = inline(MessageKind), Path), ("channel" = inline(Channel), Path)),
    responses(
        (status = 200, body = TemplatePreviewView),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn preview_template(
    State(state): State<ApiState>,
    AuthenticatedAccount(account): AuthenticatedAccount,
    Path((kind, channel)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
    ApiBytes(body): ApiBytes,
) -> Result<Json<TemplatePreviewView>, ApiError> {
    let (kind, channel) = template_path(&kind, &channel)?;
    // An empty body previews the template in force; anything else is a draft.
    let draft = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let ApiJson(draft) = ApiJson::<TemplateBody>::from_bytes(&headers, &body)?;
        Some(TemplateSource { subject: draft.subject, body: draft.body })
    };
    let preview = state.records.preview_template(&account, kind, channel, draft).await?;
    let (cost_cents, refused) = match Price::of(kind, channel, &preview.content, state.credit.prices()) {
        Price::Cents(cents) => (Some(cents), None),
        Price::Refused { code, .. } => (None, Some(code)),
    };
    Ok(Json(TemplatePreviewView {
        subject: preview.content.subject,
        body: preview.content.body,
        sms: preview.sms,
        cost_cents,
        refused,
    }))
}
