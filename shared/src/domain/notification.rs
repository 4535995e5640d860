//! Notifications: things that happened which a person at the practice must
//! know or act on. Staff digests (a later step) send them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{MessageId, RecipientId, ReplyId};
use super::recipient::Channel;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// The provider refused a message for good, or retries ran out.
    DeliveryFailed,
    /// The provider may or may not have taken a message (it timed out):
    /// check with the recipient before sending it again.
    DeliveryUnknown,
    /// An email bounced; permanent bounces suppress the address.
    EmailBounced,
    /// The recipient marked an email as spam; the address is suppressed.
    EmailComplaint,
    /// The number cannot take texts or calls (invalid, unreachable).
    BadNumber,
    /// The number opted out of texts from this sender.
    OptedOut,
    /// Nobody answered the call, or the line was busy.
    CallNotAnswered,
    FaxFailed,
    /// A message could not be rendered with the account's template (the
    /// detail says why: `out_of_fuel`, `rendered_too_large`, ...): it
    /// failed, and the template needs fixing.
    RenderFailed,
    /// The balance fell below the account's alert threshold.
    LowBalance,
    /// The balance ran out: paid messages are held until credit arrives.
    CreditExhausted,
    /// A recipient replied with something for staff to read.
    NewReply,
    /// A reply came from an address or number that matches no recipient.
    UnmatchedReply,
    /// A message expired while it waited for its recipient to opt in.
    ExpiredNoOptIn,
    /// A recipient submitted a form (`POST /v1/forms/{id}/submitted`).
    FormSubmitted,
    /// Five wrong access codes locked a form's link.
    FormLocked,
}

impl NotificationKind {
    /// How urgent it is: sending stopped (credit ran out) or may have
    /// doubled (an outcome unknown) is critical.
    pub fn severity(self) -> super::staff::Severity {
        use super::staff::Severity;
        match self {
            NotificationKind::CreditExhausted | NotificationKind::DeliveryUnknown => Severity::Critical,
            NotificationKind::DeliveryFailed
            | NotificationKind::EmailBounced
            | NotificationKind::EmailComplaint
            | NotificationKind::BadNumber
            | NotificationKind::FaxFailed
            | NotificationKind::RenderFailed
            | NotificationKind::LowBalance
            | NotificationKind::ExpiredNoOptIn
            | NotificationKind::CallNotAnswered
            | NotificationKind::FormLocked => Severity::Warning,
            NotificationKind::OptedOut
            | NotificationKind::NewReply
            | NotificationKind::UnmatchedReply
            | NotificationKind::FormSubmitted => Severity::Info,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::DeliveryFailed => "delivery_failed",
            NotificationKind::DeliveryUnknown => "delivery_unknown",
            NotificationKind::EmailBounced => "email_bounced",
            NotificationKind::EmailComplaint => "email_complaint",
            NotificationKind::BadNumber => "bad_number",
            NotificationKind::OptedOut => "opted_out",
            NotificationKind::CallNotAnswered => "call_not_answered",
            NotificationKind::FaxFailed => "fax_failed",
            NotificationKind::RenderFailed => "render_failed",
            NotificationKind::LowBalance => "low_balance",
            NotificationKind::CreditExhausted => "credit_exhausted",
            NotificationKind::NewReply => "new_reply",
            NotificationKind::UnmatchedReply => "unmatched_reply",
            NotificationKind::ExpiredNoOptIn => "expired_no_opt_in",
            NotificationKind::FormSubmitted => "form_submitted",
            NotificationKind::FormLocked => "form_locked",
        }
    }
}

/// What staff are told about one message: its kind and the provider's code
/// (or the figure) behind it, never an address or a body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageNotice {
    pub kind: NotificationKind,
    pub detail: String,
}

impl MessageNotice {
    pub fn new(kind: NotificationKind, detail: impl Into<String>) -> Self {
        Self { kind, detail: detail.into() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Notification {
    pub id: String,
    pub kind: NotificationKind,
    #[schema(value_type = String, format = DateTime)]
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub recipient_id: Option<RecipientId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub message_id: Option<MessageId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    /// The reply this is about (`new_reply`, `unmatched_reply`, `opted_out`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub reply_id: Option<ReplyId>,
    /// The provider's code or the figure behind it (`balance_cents=420`):
    /// never an address or a body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Someone at the practice marked it read.
    #[serde(default)]
    pub read: bool,
}

impl Notification {
    pub fn new(kind: NotificationKind, at: DateTime<Utc>) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            kind,
            at,
            recipient_id: None,
            message_id: None,
            channel: None,
            reply_id: None,
            detail: None,
            read: false,
        }
    }

    /// About a reply: named by it, so that telling staff again (a
    /// redelivered reply) is the same notification.
    pub fn of_reply(kind: NotificationKind, reply: &super::replies::Reply) -> Self {
        Self {
            id: format!("{}~{}", kind.as_str(), reply.id),
            kind,
            at: reply.received_at,
            recipient_id: reply.recipient_id.clone(),
            message_id: reply.in_reply_to.clone(),
            channel: Some(reply.channel),
            reply_id: Some(reply.id.clone()),
            detail: None,
            read: false,
        }
    }

    pub fn about(mut self, recipient: &RecipientId, message: &MessageId, channel: Channel) -> Self {
        self.recipient_id = Some(recipient.clone());
        self.message_id = Some(message.clone());
        self.channel = Some(channel);
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}
