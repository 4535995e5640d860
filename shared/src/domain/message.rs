//! Messages and their lifecycle.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{AppointmentId, FormId, InvoiceId, MessageId, RecipientId};
use super::notification::MessageNotice;
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
    /// The one answer to a STOP, START or HELP text: written when the
    /// reply is read, not templated (its wording is what carriers require).
    KeywordAnswer,
    /// The one request to opt in, sent a recipient before their first
    /// message when the account requires opt-in: its wording is fixed
    /// (CTIA's for a text), not templated.
    OptInRequest,
    /// Written by staff (`POST /v1/messages`): its words are theirs, kept
    /// on the message (`authored`), not templated.
    AdHoc,
    /// A form's link and access code (`POST /v1/forms`), in the practice's
    /// template.
    FormRequest,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::AppointmentReminder => "appointment_reminder",
            MessageKind::AppointmentNotice => "appointment_notice",
            MessageKind::BillingReminder => "billing_reminder",
            MessageKind::LatePaymentNotice => "late_payment_notice",
            MessageKind::KeywordAnswer => "keyword_answer",
            MessageKind::OptInRequest => "opt_in_request",
            MessageKind::AdHoc => "ad_hoc",
            MessageKind::FormRequest => "form_request",
        }
    }

    /// Whether the kind is one of the automated messages that caps count
    /// (what staff send themselves is not).
    pub fn is_automated(self) -> bool {
        matches!(
            self,
            MessageKind::AppointmentReminder
                | MessageKind::AppointmentNotice
                | MessageKind::BillingReminder
                | MessageKind::LatePaymentNotice
        )
    }

    /// Whether the kind is rendered from a template an account may change.
    pub fn is_templated(self) -> bool {
        !matches!(self, MessageKind::KeywordAnswer | MessageKind::OptInRequest | MessageKind::AdHoc)
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
            "keyword_answer" => Ok(MessageKind::KeywordAnswer),
            "opt_in_request" => Ok(MessageKind::OptInRequest),
            "ad_hoc" => Ok(MessageKind::AdHoc),
            "form_request" => Ok(MessageKind::FormRequest),
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
    /// The provider confirmed it arrived (an email's delivery event, a fax's
    /// last page, an answered call).
    Delivered,
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

    /// Ended without reaching the provider: skipped, expired or withdrawn.
    pub fn ended_unsent(self) -> bool {
        matches!(self, MessageStatus::Skipped | MessageStatus::Expired | MessageStatus::Withdrawn)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Scheduled => "scheduled",
            MessageStatus::Held => "held",
            MessageStatus::Claimed => "claimed",
            MessageStatus::Sent => "sent",
            MessageStatus::Delivered => "delivered",
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
    /// The form's link ended (submitted, revoked, expired or locked) before
    /// the message carrying it went.
    FormEnded,
    /// The recipient already had the account's daily or weekly limit.
    CapReached,
    /// The account turned this kind of message off after it was planned.
    TurnedOff,
    /// The client had confirmed, and the account sends no reminders then.
    Confirmed,
    /// The recipient was removed or has no address for their channel.
    NoAddress,
    /// Tidings could not deliver on the recipient's channel (kept for
    /// messages skipped before voice and fax were delivered).
    ChannelUnavailable,
    /// The provider refused the message for good.
    ProviderRejected,
    /// The message could not be rendered: its template broke, ran out of
    /// fuel or came out over its channel's limit, or a fax's attachment
    /// was unreadable. (Stored as `template_failed` before.)
    #[serde(alias = "template_failed")]
    RenderError,
    /// The account's balance could not pay for it: held until credit arrives.
    InsufficientCredit,
    /// The SMS needs more segments than the deployment allows.
    TooLong,
    /// The number is in a country the deployment does not send to.
    DestinationNotAllowed,
    /// The address bounced for good or complained earlier: not sent again.
    Suppressed,
    /// The email bounced.
    Bounced,
    /// The recipient marked the email as spam.
    Complained,
    /// The provider failed for now too many times.
    RetriesExhausted,
    /// The number cannot receive this channel.
    BadNumber,
    /// The carrier could not reach the phone, or blocked the text.
    Unreachable,
    /// The number opted out of this sender's texts, or the recipient
    /// opted out of the channel by reply (STOP).
    OptedOut,
    /// Nobody answered the call.
    NoAnswer,
    /// The line was busy.
    Busy,
    /// The call or fax did not go through.
    TransmissionFailed,
    /// The provider may have taken it, or not: it is not sent again.
    OutcomeUnknown,
    /// Held until the recipient opts in on its channel.
    AwaitingOptIn,
    /// Its moment passed before the recipient opted in.
    NoOptIn,
    /// An opt-in request whose recipient had consented before it went.
    AlreadyConsented,
    /// An opt-in request for an address the recipient no longer has.
    AddressChanged,
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
    /// Credit taken for the send, and given back when it failed (or a call
    /// used less than reserved).
    #[serde(default)]
    pub reserved_cents: Option<u64>,
    #[serde(default)]
    pub refunded_cents: Option<u64>,
    /// The claim whose send the reservation paid for.
    #[serde(default)]
    pub reserved_claim: Option<String>,
    /// The claim whose reservation is taken and not given back yet (none,
    /// once refunded in full or for what a call did not use): at most one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_reservation: Option<String>,
    /// The claim that holds (or last held) the message: only its send may
    /// be reported on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_token: Option<String>,
    /// Sends tried and given back for a transient failure.
    #[serde(default)]
    pub attempts: u32,
    /// What happened on a voice call.
    #[serde(default)]
    pub call: Option<CallRecord>,
    /// What staff were to be told when the send was settled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<MessageNotice>,
    /// An ad-hoc message's words, as staff wrote them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authored: Option<Authored>,
    /// The form whose link and code a form request carries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form_id: Option<FormId>,
    /// A contact's copy of a client's message: whose it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_of: Option<super::copies::CopyOf>,
    /// A copy of a notice: what the client's notice told.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copied_notice: Option<super::copies::NoticeCopy>,
}

/// What staff wrote: rendered as it is when the message goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authored {
    /// Email's subject, or the fax cover's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub body: String,
    /// Goes in quiet hours too (never past an opt-out).
    #[serde(default)]
    pub urgent: bool,
    /// Email attachments, or PDFs a fax carries after its letter.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<StoredAttachment>,
}

/// A document kept in S3 for a message, named by its content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAttachment {
    pub filename: String,
    pub content_type: String,
    /// The object key.
    pub key: String,
    pub bytes: u64,
    /// SHA-256 of the content, hex.
    pub sha256: String,
}

impl Message {
    /// What its send cost: the credit reserved less what was refunded.
    pub fn cost_cents(&self) -> u64 {
        self.reserved_cents.unwrap_or(0).saturating_sub(self.refunded_cents.unwrap_or(0))
    }

    /// A message planned now, scheduled for `due_at`; its subject and
    /// limits are set by the caller.
    pub fn new(
        id: MessageId,
        kind: MessageKind,
        channel: Channel,
        recipient_id: RecipientId,
        due_at: DateTime<Utc>,
        created_at: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            kind,
            channel,
            status: MessageStatus::Scheduled,
            reason: None,
            recipient_id,
            appointment_id: None,
            invoice_id: None,
            offset_minutes: None,
            due_at,
            not_after: None,
            created_at,
            claimed_at: None,
            sent_at: None,
            provider_message_id: None,
            content: None,
            reserved_cents: None,
            refunded_cents: None,
            reserved_claim: None,
            live_reservation: None,
            claim_token: None,
            attempts: 0,
            call: None,
            notice: None,
            authored: None,
            form_id: None,
            copy_of: None,
            copied_notice: None,
        }
    }
}

/// The outcome of a voice call, as the SIP media application saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CallRecord {
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub answered_at: Option<DateTime<Utc>>,
    /// `completed`, `no_answer`, `busy` or `failed`.
    #[serde(default)]
    pub result: Option<String>,
    /// The keypad digit pressed, if any (the last one).
    #[serde(default)]
    pub digit: Option<String>,
    /// Started minutes from answer to hang-up.
    #[serde(default)]
    pub minutes: Option<u64>,
}

/// What goes out: the address, the rendered text, and what each channel
/// needs besides (an HTML part, a fax cover, a voice language). Rendered at
/// claim time and kept on the message, so a retry sends the same thing.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RenderedContent {
    pub to: String,
    #[serde(default)]
    pub subject: Option<String>,
    pub body: String,
    /// Email only: the HTML alternative of `body`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// The account's own sender: an email identity, an SMS sender id or
    /// origination number, a caller id. `None` uses the deployment's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Email only: the token of the per-message plus address replies go to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_token: Option<String>,
    /// The recipient's language (BCP 47), for a voice's speech.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Who sends and who receives, for a fax cover page and a voice greeting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub letterhead: Option<Letterhead>,
    /// Voice only: the call gathers one keypad digit (confirm, cancel,
    /// connect, repeat).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keypad_reply: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    /// Documents kept in S3 that go with the message: read by the
    /// delivery function into `attachments` when it sends (a message
    /// record holds at most 400 KB).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachment_files: Vec<StoredAttachment>,
}

/// The practice and the person a message is addressed to, as a fax cover
/// page shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Letterhead {
    pub practice_name: String,
    pub practice_phone: String,
    pub recipient_name: String,
}

/// A document sent with a message: an email attachment, or pages appended
/// to a fax (PDF documents only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    /// The document itself, base64 encoded (standard alphabet).
    pub data_base64: String,
}

impl Attachment {
    pub fn decoded(&self) -> Result<Vec<u8>, base64::DecodeError> {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.decode(&self.data_base64)
    }
}
