//! Messages and their lifecycle.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{AppointmentId, InvoiceId, MessageId, RecipientId};
use super::recipient::Channel;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    AppointmentReminder,
    /// Booked, changed or cancelled: sent once edits settle.
    AppointmentNotice,
    /// Before an invoice is due.
    BillingReminder,
    /// After an invoice is due, while it is open.
    LatePaymentNotice,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::AppointmentReminder => "appointment_reminder",
            MessageKind::AppointmentNotice => "appointment_notice",
            MessageKind::BillingReminder => "billing_reminder",
            MessageKind::LatePaymentNotice => "late_payment_notice",
        }
    }
}

impl std::str::FromStr for MessageKind {
    type Err = ();
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        match input {
            "appointment_reminder" => Ok(MessageKind::AppointmentReminder),
            "appointment_notice" => Ok(MessageKind::AppointmentNotice),
            "billing_reminder" => Ok(MessageKind::BillingReminder),
            "late_payment_notice" => Ok(MessageKind::LatePaymentNotice),
            _ => Err(()),
        }
    }
}

/// Where a message is in its life. `Scheduled`, `Held` and `Claimed` are
/// live: the message sits in the due index. Every other status is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    Scheduled,
    /// Waiting for a condition to pass (quiet hours), with its reason; goes
    /// at its due time.
    Held,
    Claimed,
    Sent,
    Failed,
    Skipped,
    Expired,
    Withdrawn,
}

impl MessageStatus {
    /// Still to be sent: in the due index.
    pub fn is_live(self) -> bool {
        matches!(self, MessageStatus::Scheduled | MessageStatus::Held | MessageStatus::Claimed)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Scheduled => "scheduled",
            MessageStatus::Held => "held",
            MessageStatus::Claimed => "claimed",
            MessageStatus::Sent => "sent",
            MessageStatus::Failed => "failed",
            MessageStatus::Skipped => "skipped",
            MessageStatus::Expired => "expired",
            MessageStatus::Withdrawn => "withdrawn",
        }
    }
}

/// Why a message ended without being sent, or failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusReason {
    /// The account had messaging turned off when the message fell due.
    MessagingDisabled,
    /// The reminder's moment had already passed when it was planned.
    TooLate,
    /// Quiet hours left no allowed moment before the appointment.
    QuietHours,
    /// The appointment started before the message could go out.
    AppointmentStarted,
    /// The appointment was cancelled or moved.
    AppointmentChanged,
    /// The edits a notice was for were undone before it went.
    NothingChanged,
    /// The invoice was paid, voided, changed or had its reminders turned off.
    InvoiceChanged,
    /// The recipient already had the account's daily or weekly limit.
    CapReached,
    /// The account turned this kind of message off after it was planned.
    TurnedOff,
    /// The client had confirmed, and the account sends no reminders then.
    Confirmed,
    /// The recipient was removed or has no address for their channel.
    NoAddress,
    /// Tidings cannot yet deliver on the recipient's channel.
    ChannelUnavailable,
    /// The provider refused the message for good.
    ProviderRejected,
    /// The account's template could not be rendered.
    TemplateFailed,
}

/// A message as Tidings keeps it. Rendered content is written when the
/// message is claimed, so it reflects the records as they were at send time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub id: MessageId,
    pub kind: MessageKind,
    pub channel: Channel,
    pub status: MessageStatus,
    #[serde(default)]
    pub reason: Option<StatusReason>,
    pub recipient_id: RecipientId,
    #[serde(default)]
    pub appointment_id: Option<AppointmentId>,
    #[serde(default)]
    pub invoice_id: Option<InvoiceId>,
    #[serde(default)]
    pub offset_minutes: Option<u32>,
    pub due_at: DateTime<Utc>,
    /// The message is pointless from this moment on (an appointment's start).
    #[serde(default)]
    pub not_after: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub claimed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub sent_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub provider_message_id: Option<String>,
    #[serde(default)]
    pub content: Option<RenderedContent>,
}

/// What goes out: the address and the rendered text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderedContent {
    pub to: String,
    #[serde(default)]
    pub subject: Option<String>,
    pub body: String,
}
