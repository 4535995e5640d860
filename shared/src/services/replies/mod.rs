//! The `ingest-replies` use case: what comes back (a text, an email, a fax)
//! is routed to its practice and recipient, kept once in their thread, read
//! ([`crate::domain::keywords`]) and acted on: an appointment confirmed or
//! cancelled through the records service (and announced on the bus), an
//! opt-out or opt-in recorded with its evidence and confirmed once, HELP
//! answered, and staff told what they must read. How each channel's
//! inbound arrives, and its documents, is in [`inbound`].

mod inbound;

pub use inbound::{AttachmentDownload, InboundConfig};

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::channels::blobs::{BlobError, BlobStore};
use crate::channels::fax::MediaError;
use crate::domain::{
    interpret_reply, keyword_answer, meaning_on, reply_action, AccountId, AccountSettings, Answering, Appointment,
    Channel, Clock, Consent, ConsentMethod, ConsentState, Message, MessageId, MessageKind, Notification,
    NotificationKind, PhoneNumber, RenderedContent, Reply, ReplyAction, ReplyAttachment, ReplyId, ReplyRoute,
};
use crate::events::{AppointmentAnswer, AppointmentAnswered, BusEvent, EventPublisher, PublishError};
use crate::services::records::{ClientAnswer, RecordsError, RecordsService};
use crate::store::{ConversationListing, ConversationPage, InvalidCursor, RouteTarget, Store, StoreError};

/// How long a keyword answer may wait (for credit): a confirmation days
/// late would only confuse.
const KEYWORD_ANSWER_LIFETIME_HOURS: i64 = 24;

#[derive(Debug, thiserror::Error)]
pub enum ReplyError {
    /// The provider's id cannot name a reply: the event is not one of ours.
    #[error("the inbound's provider id is not usable")]
    BadProviderId,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Records(#[from] RecordsError),
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error(transparent)]
    InvalidCursor(#[from] InvalidCursor),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Media(#[from] MediaError),
    /// SES invoked the function before the stored email can be read.
    #[error("the inbound email is not in the bucket (yet)")]
    EmailNotStored,
    #[error("no recipient with this id exists in the account")]
    UnknownRecipient,
}

impl ReplyError {
    pub fn is_retryable(&self) -> bool {
        match self {
            ReplyError::BadProviderId | ReplyError::InvalidCursor(_) | ReplyError::UnknownRecipient => false,
            ReplyError::Store(err) => err.is_retryable(),
            ReplyError::Records(RecordsError::Store(err)) => err.is_retryable(),
            ReplyError::Records(_) => false,
            ReplyError::Publish(_) | ReplyError::EmailNotStored => true,
            ReplyError::Blob(err) => err.is_retryable(),
            ReplyError::Media(err) => err.is_retryable(),
        }
    }
}

/// Where an inbound came to, which says how to find its conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundRoute {
    /// An email to `reply+TOKEN@`: the token names the message; `None` when
    /// it came to another address of the reply domain.
    Email { token: Option<String> },
    /// A text or fax from `theirs` to `ours`.
    Number { channel: Channel, ours: PhoneNumber, theirs: PhoneNumber },
}

/// One inbound, parsed at its edge and routed ([`ReplyService::route`]
/// names the reply by the provider's id).
#[derive(Debug, Clone)]
pub struct Inbound {
    pub channel: Channel,
    pub from: String,
    pub to: String,
    pub received_at: DateTime<Utc>,
    pub subject: Option<String>,
    /// The new text only.
    pub body: String,
    /// Documents already kept in the bucket under this reply's keys.
    pub attachments: Vec<ReplyAttachment>,
}

/// The account and reply an inbound will be, before its documents are
/// stored (their keys name both).
#[derive(Debug, Clone)]
pub struct Routed {
    pub account: AccountId,
    pub reply_id: ReplyId,
    target: Option<RouteTarget>,
    /// The number the inbound came to, when it is the account's own.
    own_number: Option<PhoneNumber>,
}

/// What became of an inbound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyReceipt {
    /// Kept in its practice's inbox (and thread, when it matched).
    Recorded { reply_id: ReplyId, action: ReplyAction },
    /// Kept before: finished, nothing new.
    Repeated { reply_id: ReplyId },
    /// No practice wrote to this sender on this route: nothing to keep it under.
    Unroutable,
    /// Not kept: spam, a virus, or not a message that can be read (code).
    Refused(&'static str),
}

pub struct ReplyService {
    store: Store,
    records: Arc<RecordsService>,
    bus: Arc<dyn EventPublisher>,
    clock: Arc<dyn Clock>,
    /// Raw inbound emails (SES puts them there) and kept documents.
    blobs: Arc<dyn BlobStore>,
    config: InboundConfig,
}

impl ReplyService {
    pub fn new(
        store: Store,
        records: Arc<RecordsService>,
        bus: Arc<dyn EventPublisher>,
        clock: Arc<dyn Clock>,
        blobs: Arc<dyn BlobStore>,
        config: InboundConfig,
    ) -> Self {
        Self { store, records, bus, clock, blobs, config }
    }

    /// A page of a recipient's thread, or of the account's replies, newest
    /// first, from where `cursor` (a previous page's) says.
    pub async fn conversation(
        &self,
        listing: ConversationListing,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<ConversationPage, ReplyError> {
        let unknown = match &listing {
            ConversationListing::Thread(account, recipient) => Some((account.clone(), recipient.clone())),
            ConversationListing::Replies { .. } => None,
        };
        // A bad cursor is the request's fault whatever it names.
        let from = match cursor {
            Some(cursor) => listing.resume(cursor)?,
            None => listing.from_start(),
        };
        if let Some((account, recipient)) = unknown {
            if self.store.get_recipient(&account, &recipient).await?.is_none() {
                return Err(ReplyError::UnknownRecipient);
            }
        }
        Ok(self.store.conversation_page(from, limit).await?)
    }

    /// Marks a reply read; `false`: there is no such reply.
    pub async fn mark_read(&self, account: &AccountId, id: &ReplyId) -> Result<bool, ReplyError> {
        Ok(self.store.mark_reply_read(account, id).await?)
    }

    /// Which practice an inbound is for and the reply it will be; `None`
    /// when no practice can be named (a stranger wrote to the shared
    /// number, or to an email route that does not exist).
    pub async fn route(
        &self,
        channel: Channel,
        provider_id: &str,
        route: &InboundRoute,
    ) -> Result<Option<Routed>, ReplyError> {
        let reply_id = ReplyId::inbound(channel, provider_id).map_err(|_| ReplyError::BadProviderId)?;
        let (target, owner, own_number) = match route {
            InboundRoute::Email { token: None } => (None, None, None),
            InboundRoute::Email { token: Some(token) } => {
                (self.store.reply_route(&ReplyRoute::Email { token: token.clone() }).await?, None, None)
            }
            InboundRoute::Number { channel, ours, theirs } => {
                // A practice's own number is theirs alone; the deployment's
                // is shared, and routes by who wrote to this sender last.
                let owner = self.store.sender_owner(*channel, ours.as_str()).await?;
                let sent_from = owner.as_ref().map(|_| ours.clone());
                let route = ReplyRoute::Number { channel: *channel, ours: sent_from.clone(), theirs: theirs.clone() };
                (self.store.reply_route(&route).await?, owner, sent_from)
            }
        };
        let account = match (&target, owner) {
            (Some(target), _) => target.account_id.clone(),
            (None, Some(owner)) => owner,
            (None, None) => return Ok(None),
        };
        Ok(Some(Routed { account, reply_id, target, own_number }))
    }

    /// Keeps a routed inbound once and does what it says. A redelivery
    /// finishes what the first delivery may have left undone (each step is
    /// idempotent) and adds nothing.
    pub async fn receive(&self, routed: &Routed, inbound: Inbound) -> Result<ReplyReceipt, ReplyError> {
        let account = &routed.account;
        let now = self.clock.now();
        let settings = self.store.get_settings(account).await?;
        let replied_to = match &routed.target {
            Some(target) => self.store.get_message(account, &target.message_id).await?,
            None => None,
        };
        let appointment = match replied_to.as_ref().and_then(|m| m.appointment_id.as_ref()) {
            Some(id) => self.store.get_appointment(account, id).await?.map(|(appointment, _)| appointment),
            None => None,
        };
        let mut reply = Reply {
            id: routed.reply_id.clone(),
            channel: inbound.channel,
            recipient_id: routed.target.as_ref().map(|t| t.recipient_id.clone()),
            in_reply_to: routed.target.as_ref().map(|t| t.message_id.clone()),
            received_at: inbound.received_at,
            from: inbound.from,
            to: inbound.to,
            subject: inbound.subject,
            body: inbound.body,
            attachments: inbound.attachments,
            action: ReplyAction::ForStaff,
            read: false,
        };
        reply.action = match &reply.recipient_id {
            // A stranger's words change nothing: staff read them.
            None => ReplyAction::ForStaff,
            Some(_) => {
                let meaning = meaning_on(reply.channel, interpret_reply(reply.words()));
                let reply_settings = settings.as_ref().map(|s| s.replies).unwrap_or_default();
                let answering = match (&replied_to, &appointment) {
                    (Some(message), _) if message.kind == MessageKind::OptInRequest => Answering::OptInRequest,
                    (_, Some(appointment)) => Answering::Appointment(appointment),
                    _ => Answering::Other,
                };
                reply_action(meaning, answering, &reply_settings, now)
            }
        };
        let first = self.store.add_reply(account, &reply).await?;
        if !first {
            // What the first delivery decided stands; its steps are finished.
            reply = self.store.get_reply(account, &reply.id).await?.ok_or(StoreError::Corrupt("reply"))?;
        }
        tracing::info!(
            channel = reply.channel.as_str(),
            action = ?reply.action,
            matched = reply.recipient_id.is_some(),
            first,
            "reply received"
        );
        self.apply(account, &reply, routed, replied_to.as_ref(), appointment.as_ref(), settings.as_ref()).await?;
        Ok(if first {
            ReplyReceipt::Recorded { reply_id: reply.id, action: reply.action }
        } else {
            ReplyReceipt::Repeated { reply_id: reply.id }
        })
    }

    async fn apply(
        &self,
        account: &AccountId,
        reply: &Reply,
        routed: &Routed,
        replied_to: Option<&Message>,
        appointment: Option<&Appointment>,
        settings: Option<&AccountSettings>,
    ) -> Result<(), ReplyError> {
        let Some(recipient) = &reply.recipient_id else {
            let notification = Notification::of_reply(NotificationKind::UnmatchedReply, reply);
            self.store.add_notification_once(account, &notification).await?;
            return Ok(());
        };
        match reply.action {
            ReplyAction::Confirmed | ReplyAction::Cancelled => {
                if let Some(appointment) = appointment {
                    self.answer(account, reply, appointment).await?;
                }
            }
            ReplyAction::OptedOut | ReplyAction::OptedIn | ReplyAction::Declined => {
                let state = match reply.action {
                    ReplyAction::OptedOut => ConsentState::Revoked,
                    ReplyAction::Declined => ConsentState::Declined,
                    _ => ConsentState::Granted,
                };
                let method = match (reply.action, reply.channel) {
                    (ReplyAction::OptedOut, _) => ConsentMethod::StopKeyword,
                    (_, Channel::Email) => ConsentMethod::EmailReply,
                    _ => ConsentMethod::SmsReply,
                };
                // The address the answered message went to: an email may be
                // answered from another of the recipient's addresses.
                let address = replied_to.and_then(|m| m.content.as_ref()).map_or(reply.from.as_str(), |c| &c.to);
                let mut consent = Consent::by_reply(reply, state, method, address);
                if state == ConsentState::Granted {
                    // Agreeing, they agree to the policy their request linked.
                    consent.policy_version = settings.and_then(|s| s.opt_in.privacy_policy_version.clone());
                }
                let changed = self.store.record_consent(account, recipient, &consent, self.clock.now()).await?;
                if changed {
                    self.answer_keyword(account, reply, routed, settings).await?;
                }
            }
            ReplyAction::HelpSent => self.answer_keyword(account, reply, routed, settings).await?,
            ReplyAction::ForStaff => {}
        }
        if let Some(kind) = reply.action.staff_notice() {
            self.store.add_notification_once(account, &Notification::of_reply(kind, reply)).await?;
        }
        Ok(())
    }

    /// Confirms or cancels through the records service (later reminders
    /// follow the account's rules, as for a keypad reply), then tells the
    /// practice app.
    async fn answer(&self, account: &AccountId, reply: &Reply, appointment: &Appointment) -> Result<(), ReplyError> {
        let (client_answer, answer) = match reply.action {
            ReplyAction::Cancelled => (ClientAnswer::Cancel, AppointmentAnswer::Cancelled),
            _ => (ClientAnswer::Confirm, AppointmentAnswer::Confirmed),
        };
        self.records.answer_appointment(account, &appointment.id, client_answer).await?;
        let event = AppointmentAnswered {
            account_id: account.clone(),
            appointment_id: appointment.id.clone(),
            recipient_id: appointment.recipient_id.clone(),
            message_id: reply.in_reply_to.clone(),
            reply_id: Some(reply.id.clone()),
            channel: reply.channel,
            at: reply.received_at,
            answer,
        };
        self.bus.publish(vec![BusEvent::from(&event)]).await?;
        Ok(())
    }

    /// The one text a keyword reply gets back, from the number it came to,
    /// sent like any message (its id is the reply's: written once).
    async fn answer_keyword(
        &self,
        account: &AccountId,
        reply: &Reply,
        routed: &Routed,
        settings: Option<&AccountSettings>,
    ) -> Result<(), ReplyError> {
        let (Some(recipient), Some(settings)) = (&reply.recipient_id, settings) else { return Ok(()) };
        if reply.channel != Channel::Sms {
            return Ok(());
        }
        let Some(body) = keyword_answer(reply.action, &settings.practice_name, settings.practice_phone.as_str()) else {
            return Ok(());
        };
        let now = self.clock.now();
        let mut message = Message::new(
            MessageId::keyword_answer(&reply.id),
            MessageKind::KeywordAnswer,
            Channel::Sms,
            recipient.clone(),
            now,
            now,
        );
        message.not_after = Some(now + Duration::hours(KEYWORD_ANSWER_LIFETIME_HOURS));
        message.content = Some(RenderedContent {
            to: reply.from.clone(),
            body,
            from: routed.own_number.as_ref().map(|n| n.as_str().to_owned()),
            ..RenderedContent::default()
        });
        self.store.create_message(account, &message).await?;
        Ok(())
    }
}
