//! Events on the Tidings EventBridge bus, and the port that publishes them.

#[cfg(feature = "eventbridge")]
pub mod eventbridge;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::{AccountId, AppointmentId, Channel, MessageId, Notification, RecipientId, ReplyId};

/// `source` of every event Tidings puts on its bus.
pub const SOURCE: &str = "tidings";

/// A claimed message is rendered and waits for its channel's delivery
/// function. It carries ids only: the content stays in DynamoDB.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageReady {
    pub account_id: AccountId,
    pub message_id: MessageId,
    pub channel: Channel,
    /// Only this claim may send the message; a stale or repeated event is ignored.
    pub claim_token: String,
}

impl MessageReady {
    pub const DETAIL_TYPE: &'static str = "MessageReady";
}

/// An account's balance fell below its auto top-up trigger: the practice's
/// billing buys `amount_cents` and records it with `POST /v1/credit/purchases`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopUpRequested {
    pub account_id: AccountId,
    pub balance_cents: i64,
    pub amount_cents: u64,
    /// The idempotency key to record the purchase with, so a repeated
    /// request buys once.
    pub idempotency_key: String,
}

impl TopUpRequested {
    pub const DETAIL_TYPE: &'static str = "TopUpRequested";
}

/// A client's answer confirmed or cancelled their appointment
/// (`AppointmentConfirmed`, `AppointmentCancelled`), so the practice app
/// can show it: a reply by text or email, or a keypad digit on a call.
/// Delivered at least once: the appointment and `answer` tell a repeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppointmentAnswered {
    pub account_id: AccountId,
    pub appointment_id: AppointmentId,
    pub recipient_id: RecipientId,
    /// The message answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<MessageId>,
    /// The reply that answered (none for a keypad digit, which the call's
    /// message records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_id: Option<ReplyId>,
    /// The channel the answer came by.
    pub channel: Channel,
    pub at: chrono::DateTime<chrono::Utc>,
    /// `confirmed` or `cancelled`.
    pub answer: AppointmentAnswer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentAnswer {
    Confirmed,
    Cancelled,
}

impl AppointmentAnswered {
    pub fn detail_type(&self) -> &'static str {
        match self.answer {
            AppointmentAnswer::Confirmed => "AppointmentConfirmed",
            AppointmentAnswer::Cancelled => "AppointmentCancelled",
        }
    }
}

impl From<&AppointmentAnswered> for BusEvent {
    fn from(event: &AppointmentAnswered) -> Self {
        Self { detail_type: event.detail_type(), detail: serde_json::to_value(event).unwrap_or_default() }
    }
}

/// A recipient without consent on `channel` has a message due at
/// `first_due_at` while the account requires opt-in: the `opt-in` function
/// plans their one request. Put by the records service when it plans a
/// message, and by the sweep when it holds one; delivered at least once,
/// and planning is idempotent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptInNeeded {
    pub account_id: AccountId,
    pub recipient_id: RecipientId,
    pub channel: Channel,
    pub first_due_at: chrono::DateTime<chrono::Utc>,
}

impl OptInNeeded {
    pub const DETAIL_TYPE: &'static str = "OptInNeeded";
}

impl From<&OptInNeeded> for BusEvent {
    fn from(event: &OptInNeeded) -> Self {
        Self { detail_type: OptInNeeded::DETAIL_TYPE, detail: serde_json::to_value(event).unwrap_or_default() }
    }
}

/// Something staff must know happened (the notification, as
/// `GET /v1/notifications` shows it), for practice apps that show their
/// own. Put by `notification-digest` once per notification, at least once:
/// the notification's id tells a repeat. It carries no PHI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationRaised {
    pub account_id: AccountId,
    pub notification: Notification,
}

impl NotificationRaised {
    pub const DETAIL_TYPE: &'static str = "NotificationRaised";
}

impl From<&NotificationRaised> for BusEvent {
    fn from(event: &NotificationRaised) -> Self {
        Self { detail_type: NotificationRaised::DETAIL_TYPE, detail: serde_json::to_value(event).unwrap_or_default() }
    }
}

/// One event as it goes on the bus.
#[derive(Debug, Clone, PartialEq)]
pub struct BusEvent {
    pub detail_type: &'static str,
    pub detail: serde_json::Value,
}

impl From<&MessageReady> for BusEvent {
    fn from(event: &MessageReady) -> Self {
        Self {
            detail_type: MessageReady::DETAIL_TYPE,
            // A struct of strings always serialises.
            detail: serde_json::to_value(event).unwrap_or_default(),
        }
    }
}

impl From<&TopUpRequested> for BusEvent {
    fn from(event: &TopUpRequested) -> Self {
        Self { detail_type: TopUpRequested::DETAIL_TYPE, detail: serde_json::to_value(event).unwrap_or_default() }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("publishing {failed} of {total} events failed: {code}")]
pub struct PublishError {
    pub failed: usize,
    pub total: usize,
    pub code: String,
}

#[async_trait]
pub trait EventPublisher: Send + Sync {
    /// Publishes every event or returns an error; a caller retries the whole
    /// batch, which handlers tolerate since they are idempotent.
    async fn publish(&self, events: Vec<BusEvent>) -> Result<(), PublishError>;
}
