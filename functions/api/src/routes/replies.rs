//! A recipient's thread (`/v1/recipients/{id}/thread`) and the account's
//! replies (`/v1/replies`): everything sent and everything that came back,
//! newest first.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tidings::channels::blobs::{attachment_disposition, download_content_type, Download};
use tidings::domain::{Channel, Message, RecipientId, Reply, ReplyAction, ReplyId};
use tidings::store::{ConversationEntry, ConversationListing};

use crate::auth::AuthenticatedAccount;
use crate::error::{ApiError, ErrorBody};
use crate::routes::{cursor_schema, parse_id, ApiBytes};
use crate::ApiState;

const PAGE_MAX: usize = 100;
const PAGE_DEFAULT: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Outbound,
    Inbound,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AttachmentView {
    pub id: String,
    pub filename: String,
    pub content_type: String,
    /// Bytes.
    pub size: u64,
}

/// One entry of a thread: a message sent, or a reply received.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ThreadEntry {
    /// The message's or the reply's id.
    pub id: String,
    pub direction: Direction,
    pub channel: Channel,
    /// When it was sent (or taken up to be sent), or received.
    #[schema(value_type = String, format = DateTime)]
    pub at: DateTime<Utc>,
    /// The message's kind (`appointment_reminder`, …); `reply` for a reply.
    pub kind: String,
    pub subject: Option<String>,
    /// What it said: a message's text, a reply's new text (an email's
    /// quoted history cut off; empty for a fax, whose pages are attached).
    pub body: String,
    /// Outbound: the message's id.
    pub message_id: Option<String>,
    /// Inbound: the message it answers.
    pub in_reply_to: Option<String>,
    /// Inbound: what the reply did.
    pub action: Option<ReplyAction>,
    /// Outbound: where the message is in its life (`sent`, `delivered`, …).
    pub status: Option<tidings::domain::MessageStatus>,
    pub attachments: Vec<AttachmentView>,
}

fn outbound(message: Message) -> ThreadEntry {
    let at = message.sent_at.or(message.claimed_at).unwrap_or(message.due_at);
    let content = message.content.unwrap_or_default();
    let attachments = content
        .attachments
        .iter()
        .enumerate()
        .map(|(index, attachment)| AttachmentView {
            id: format!("a{}", index + 1),
            filename: attachment.filename.clone(),
            content_type: attachment.content_type.clone(),
            // Base64 carries three bytes in four characters.
            size: (attachment.data_base64.trim_end_matches('=').len() * 3 / 4) as u64,
        })
        .collect();
    ThreadEntry {
        id: message.id.to_string(),
        direction: Direction::Outbound,
        channel: message.channel,
        at,
        kind: message.kind.as_str().to_owned(),
        subject: content.subject,
        body: content.body,
        message_id: Some(message.id.to_string()),
        in_reply_to: None,
        action: None,
        status: Some(message.status),
        attachments,
    }
}

fn inbound(reply: &Reply) -> ThreadEntry {
    ThreadEntry {
        id: reply.id.to_string(),
        direction: Direction::Inbound,
        channel: reply.channel,
        at: reply.received_at,
        kind: "reply".into(),
        subject: reply.subject.clone(),
        body: reply.body.clone(),
        message_id: None,
        in_reply_to: reply.in_reply_to.as_ref().map(ToString::to_string),
        action: Some(reply.action),
        status: None,
        attachments: reply
            .attachments
            .iter()
            .map(|a| AttachmentView {
                id: a.id.clone(),
                filename: a.filename.clone(),
                content_type: a.content_type.clone(),
                size: a.size,
            })
            .collect(),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Entries per page: 1 to 100, default 50.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<usize>,
    /// The previous page's `next_cursor`.
    #[param(schema_with = cursor_schema)]
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RepliesQuery {
    /// `true`: only the replies nobody marked read.
    pub unread: Option<bool>,
    /// Replies per page: 1 to 100, default 50.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<usize>,
    /// The previous page's `next_cursor`, with the same `unread`.
    #[param(schema_with = cursor_schema)]
    pub cursor: Option<String>,
}

pub(super) fn page_limit(limit: Option<usize>) -> Result<usize, ApiError> {
    let limit = limit.unwrap_or(PAGE_DEFAULT);
    if !(1..=PAGE_MAX).contains(&limit) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", format!("limit must be 1 to {PAGE_MAX}")));
    }
    Ok(limit)
}

pub(super) fn query<T>(query: Result<Query<T>, axum::extract::rejection::QueryRejection>) -> Result<T, ApiError> {
    query.map(|Query(q)| q).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Thread {
    /// Newest first.
    pub entries: Vec<ThreadEntry>,
    /// Asks for the next page (`cursor=`); null on the last.
    pub next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/recipients/{id}/thread", tag = "replies",
    params(("id" = inline(RecipientId), Path), PageQuery),
    responses(
        (status = 200, body = Thread),
        (status = 400, description = "A malformed id, limit or cursor", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such recipient", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_thread(
    State(state): State<ApiState>,
    AuthenticatedAccount(account): AuthenticatedAccount,
    Path(id): Path<String>,
    page: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Thread>, ApiError> {
    let page = query(page)?;
    let recipient: RecipientId = parse_id("id", &id)?;
    let limit = page_limit(page.limit)?;
    let listing = ConversationListing::Thread(account, recipient);
    let found =
        state.replies.conversation(listing, limit, page.cursor.as_deref()).await.map_err(|e| ApiError::from(&e))?;
    let entries = found
        .entries
        .into_iter()
        .map(|entry| match entry {
            ConversationEntry::Outbound(message) => outbound(*message),
            ConversationEntry::Inbound(reply) => inbound(&reply),
        })
        .collect();
    Ok(Json(Thread { entries, next_cursor: found.next_cursor }))
}

/// A reply as the inbox shows it: its thread entry, whose it is, and
/// whether it was read.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InboxEntry {
    #[serde(flatten)]
    pub entry: ThreadEntry,
    /// Null: it matched no recipient (`unmatched`).
    pub recipient_id: Option<String>,
    pub read: bool,
    /// The number or address it came from: shown to staff, who must see
    /// who wrote when it matched nobody.
    pub from: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Inbox {
    /// Newest first.
    pub replies: Vec<InboxEntry>,
    pub next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/replies", tag = "replies", params(RepliesQuery),
    responses(
        (status = 200, body = Inbox),
        (status = 400, description = "A malformed limit or cursor", body = ErrorBody),
        (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_replies(
    State(state): State<ApiState>,
    AuthenticatedAccount(account): AuthenticatedAccount,
    replies: Result<Query<RepliesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Inbox>, ApiError> {
    let replies = query(replies)?;
    let limit = page_limit(replies.limit)?;
    let listing = ConversationListing::Replies { account, unread_only: replies.unread.unwrap_or(false) };
    let found =
        state.replies.conversation(listing, limit, replies.cursor.as_deref()).await.map_err(|e| ApiError::from(&e))?;
    let replies = found
        .entries
        .into_iter()
        .filter_map(|entry| match entry {
            ConversationEntry::Inbound(reply) => Some(InboxEntry {
                entry: inbound(&reply),
                recipient_id: reply.recipient_id.map(String::from),
                read: reply.read,
                from: reply.from,
            }),
            ConversationEntry::Outbound(_) => None,
        })
        .collect();
    Ok(Json(Inbox { replies, next_cursor: found.next_cursor }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReadReceipt {
    pub id: String,
    pub read: bool,
}

#[utoipa::path(post, path = "/v1/replies/{id}/read", tag = "replies",
    params(("id" = inline(ReplyId), Path)),
    responses(
        (status = 200, body = ReadReceipt),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, description = "No such reply", body = ErrorBody),
        (status = 413, description = "A body over 256 KB", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn mark_read(
    State(state): State<ApiState>,
    AuthenticatedAccount(account): AuthenticatedAccount,
    Path(id): Path<String>,
    // No body is needed; one over the limit is refused all the same.
    ApiBytes(_): ApiBytes,
) -> Result<Json<ReadReceipt>, ApiError> {
    let id: ReplyId = parse_id("id", &id)?;
    if !state.replies.mark_read(&account, &id).await.map_err(|e| ApiError::from(&e))? {
        return Err(unknown_reply());
    }
    Ok(Json(ReadReceipt { id: id.into(), read: true }))
}

fn unknown_reply() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "unknown_reply", "no reply with this id exists in the account")
}

/// A reply's document: on AWS a redirect (302) to a link that lives five
/// minutes; locally the file itself.
#[utoipa::path(get, path = "/v1/replies/{id}/attachments/{attachment_id}", tag = "replies",
    params(("id" = inline(ReplyId), Path), ("attachment_id" = String, Path, description = "`a1`, `a2`, …")),
    responses(
        (status = 200, description = "The file (local runner)", content_type = "application/octet-stream"),
        (status = 302, description = "To a presigned link that lives five minutes"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, description = "No such reply or attachment", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_attachment(
    State(state): State<ApiState>,
    AuthenticatedAccount(account): AuthenticatedAccount,
    Path((id, attachment_id)): Path<(String, String)>,
) -> Result<axum::response::Response, ApiError> {
    use axum::http::header;
    use axum::response::IntoResponse;
    let id: ReplyId = parse_id("id", &id)?;
    let found = state
        .replies
        .attachment(&account, &id, &attachment_id)
        .await
        .map_err(|e| ApiError::from(&e))?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "unknown_attachment", "no such reply or attachment"))?;
    Ok(match found.download {
        Download::Redirect { url } => {
            (StatusCode::FOUND, [(header::LOCATION, url), (header::CACHE_CONTROL, "no-store".into())]).into_response()
        }
        Download::Bytes(bytes) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, download_content_type(&found.attachment.content_type).to_owned()),
                (header::CONTENT_DISPOSITION, attachment_disposition(&found.attachment.filename)),
                (header::CACHE_CONTROL, "no-store".into()),
            ],
            bytes,
        )
            .into_response(),
    })
}
