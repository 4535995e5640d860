//! `/v1/messages`: what was sent, or will be, and how it went.

use axum::extract::{Path, Query, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tidings::domain::ad_hoc::{AdHocKey, AdHocMessage, AttachmentUpload, InvalidAdHoc, MAX_ATTACHMENT_BYTES};
use tidings::domain::Authored;
use tidings::domain::{
    AppointmentId, CallRecord, Channel, InvoiceId, Message, MessageId, MessageKind, MessageStatus, RecipientId,
    StatusReason,
};
use tidings::services::{AdHocError, MessagesAbout};

use crate::auth::AuthenticatedAccount;
use crate::error::{ApiError, ErrorBody};
use crate::routes::{cursor_schema, parse_id, ApiJson};
use crate::ApiState;

/// The most messages one page holds.
const MESSAGE_PAGE_MAX: usize = 200;
const MESSAGE_PAGE_DEFAULT: usize = 50;

/// One of `appointment_id`, `invoice_id` or `recipient_id`, optionally with
/// `status`; or `status` alone (400 `missing_filter` otherwise).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MessagesQuery {
    /// The appointment whose messages to list.
    #[param(value_type = Option<AppointmentId>, inline)]
    pub appointment_id: Option<String>,
    /// The invoice whose messages to list.
    #[param(value_type = Option<InvoiceId>, inline)]
    pub invoice_id: Option<String>,
    /// The recipient whose messages to list.
    #[param(value_type = Option<RecipientId>, inline)]
    pub recipient_id: Option<String>,
    /// Only messages in this status; alone, the account's messages in it.
    #[param(inline)]
    pub status: Option<MessageStatus>,
    /// Messages per page: 1 to 200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<usize>,
    /// The previous page's `next_cursor`, with the same filters.
    #[param(schema_with = cursor_schema)]
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MessageView {
    pub id: String,
    pub kind: MessageKind,
    pub channel: Channel,
    pub status: MessageStatus,
    pub reason: Option<StatusReason>,
    #[schema(value_type = String, format = DateTime)]
    pub due_at: DateTime<Utc>,
    /// When a sweep took it up (and, for a message that did not go, when
    /// that was decided).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub claimed_at: Option<DateTime<Utc>>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub sent_at: Option<DateTime<Utc>>,
    pub provider_message_id: Option<String>,
}

impl From<Message> for MessageView {
    fn from(m: Message) -> Self {
        Self {
            id: m.id.into(),
            kind: m.kind,
            channel: m.channel,
            status: m.status,
            reason: m.reason,
            due_at: m.due_at,
            claimed_at: m.claimed_at,
            sent_at: m.sent_at,
            provider_message_id: m.provider_message_id,
        }
    }
}

/// One message in full: what the listing shows, and what its send cost
/// and, for a call, what the call did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MessageDetail {
    #[serde(flatten)]
    pub message: MessageView,
    /// Credit taken for the send, less what was refunded.
    pub cost_cents: u64,
    /// Sends tried so far.
    pub attempts: u32,
    pub call: Option<CallRecord>,
}

#[utoipa::path(get, path = "/v1/messages/{id}", tag = "routes",
    params(("id" = inline(MessageId), Path)),
    responses(
        (status = 200, body = MessageDetail),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_message(
    State(state): State<ApiState>,
    AuthenticatedAccount(account): AuthenticatedAccount,
    Path(id): Path<String>,
) -> Result<Json<MessageDetail>, ApiError> {
    let id: MessageId = parse_id("id", &id)?;
    let message = state.records.message(&account, &id).await?.ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "unknown_message",
            "no message with this id exists in the account",
        )
    })?;
    Ok(Json(MessageDetail::from(message)))
}

/// What a message with attachments may weigh, as JSON: its documents
/// base64-encoded, and the rest.
pub const MAX_AD_HOC_BODY_BYTES: usize = MAX_ATTACHMENT_BYTES / 3 * 4 + 256 * 1024;

/// A document to send with a message.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachmentBody {
    #[schema(example = "results.pdf", min_length = 1, max_length = 100)]
    pub filename: String,
    /// `application/pdf`, `image/png` or `image/jpeg` by email; PDF only by
    /// fax.
    #[schema(example = "application/pdf")]
    pub content_type: String,
    /// The document, base64 (standard alphabet).
    pub content_base64: String,
}

/// A message staff write (`POST /v1/messages`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdHocBody {
    #[schema(value_type = String, example = "c-101")]
    pub recipient_id: String,
    /// The recipient's own channel when absent.
    pub channel: Option<Channel>,
    /// An email's subject (else one naming the practice), or the fax
    /// cover's; texts and calls have none.
    #[schema(max_length = 200)]
    pub subject: Option<String>,
    #[schema(min_length = 1, max_length = 5000)]
    pub body: String,
    /// When it goes (default now): held by quiet hours like any message.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub send_at: Option<DateTime<Utc>>,
    /// Goes in quiet hours too; never past an opt-out.
    #[serde(default)]
    pub urgent: bool,
    /// By email or fax only: at most 10, 3 MB together (decoded), kept in
    /// S3 and sent with the message (a fax's PDFs after its letter).
    #[serde(default)]
    pub attachments: Vec<AttachmentBody>,
    /// The same key again is the same message (409 with other content).
    #[schema(min_length = 1, max_length = 100, pattern = "^[A-Za-z0-9._:-]+$")]
    pub idempotency_key: String,
}

fn ad_hoc_error(err: AdHocError) -> ApiError {
    use axum::http::StatusCode;
    match &err {
        AdHocError::Invalid(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", err.to_string()),
        AdHocError::UnknownRecipient => ApiError::new(StatusCode::NOT_FOUND, "unknown_recipient", err.to_string()),
        AdHocError::MissingAddress(_) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "missing_address", err.to_string())
        }
        AdHocError::KeyReused => ApiError::new(StatusCode::CONFLICT, "idempotency_key_reused", err.to_string()),
        AdHocError::Blobs(_) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable", err.to_string()),
        AdHocError::Store(store) => store.into(),
    }
}

#[utoipa::path(post, path = "/v1/messages", tag = "routes", request_body = AdHocBody,
    responses(
        (status = 202, description = "Written, and going when due (the same request again: the same message)",
            body = MessageDetail),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, description = "The recipient is unknown", body = ErrorBody),
        (status = 409, description = "The idempotency key named another message", body = ErrorBody),
        (status = 413, description = "The body is over 4,352 KB (attachments' 3 MB, base64, and the rest)",
            body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn post_message(
    State(state): State<ApiState>,
    AuthenticatedAccount(account): AuthenticatedAccount,
    ApiJson(body): ApiJson<AdHocBody>,
) -> Result<(axum::http::StatusCode, Json<MessageDetail>), ApiError> {
    let key: AdHocKey = body.idempotency_key.parse().map_err(|e| ad_hoc_error(AdHocError::Invalid(e)))?;
    let authored = Authored { subject: body.subject, body: body.body, urgent: body.urgent, attachments: Vec::new() };
    let mut request =
        AdHocMessage::new(key, parse_id("recipient_id", &body.recipient_id)?, body.channel, authored, body.send_at)
            .map_err(|e| ad_hoc_error(AdHocError::Invalid(e)))?;
    for attachment in body.attachments {
        use base64::Engine as _;
        let data = base64::engine::general_purpose::STANDARD
            .decode(attachment.content_base64.as_bytes())
            .map_err(|_| ad_hoc_error(AdHocError::Invalid(InvalidAdHoc::Attachment)))?;
        let upload = AttachmentUpload { filename: attachment.filename, content_type: attachment.content_type, data };
        request.attachments.push(upload);
    }
    let written = state.ad_hoc.send(&account, &request).await.map_err(ad_hoc_error)?;
    Ok((axum::http::StatusCode::ACCEPTED, Json(MessageDetail::from(written.message))))
}

impl From<Message> for MessageDetail {
    fn from(message: Message) -> Self {
        Self {
            cost_cents: message.cost_cents(),
            attempts: message.attempts,
            call: message.call.clone(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MessageList {
    /// In due order.
    pub messages: Vec<MessageView>,
    /// Asks for the next page (`cursor=`); null on the last. A page may be
    /// short, or even empty, and still have a next.
    pub next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/messages", tag = "routes", params(MessagesQuery),
    responses(
        (status = 200, body = MessageList),
        (status = 400, description = "A malformed filter, id, limit or cursor, or no filter", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "The appointment, invoice or recipient is unknown", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_messages(
    State(state): State<ApiState>,
    AuthenticatedAccount(account): AuthenticatedAccount,
    query: Result<Query<MessagesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<MessageList>, ApiError> {
    let Query(query) =
        query.map_err(|e| ApiError::new(axum::http::StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))?;
    let limit = query.limit.unwrap_or(MESSAGE_PAGE_DEFAULT);
    if !(1..=MESSAGE_PAGE_MAX).contains(&limit) {
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid_query",
            format!("limit must be 1 to {MESSAGE_PAGE_MAX}"),
        ));
    }
    let about = match (query.appointment_id, query.invoice_id, query.recipient_id, query.status) {
        (Some(appointment), None, None, _) => {
            Some(MessagesAbout::Appointment(parse_id("appointment_id", &appointment)?))
        }
        (None, Some(invoice), None, _) => Some(MessagesAbout::Invoice(parse_id("invoice_id", &invoice)?)),
        (None, None, Some(recipient), _) => Some(MessagesAbout::Recipient(parse_id("recipient_id", &recipient)?)),
        (None, None, None, Some(_)) => None,
        _ => {
            return Err(ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "missing_filter",
                "give one of appointment_id, invoice_id or recipient_id, and optionally status; or status alone",
            ))
        }
    };
    let page = state.records.messages_page(&account, about, query.status, limit, query.cursor.as_deref()).await?;
    Ok(Json(MessageList {
        messages: page.messages.into_iter().map(MessageView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}
