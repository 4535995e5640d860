//! Delivery: one `MessageReady` event becomes at most one send on its
//! channel, paid for before it goes when the channel costs.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::channels::blobs::{BlobError, BlobKey, BlobStore};
use crate::channels::fax::pdf;
use crate::channels::{ChannelSender, Outgoing, SendError};
use crate::domain::{
    Attachment, Channel, Clock, Message, MessageKind, MessageNotice, MessageStatus, NotificationKind, PhoneNumber,
    PriceTable, PricingError, RenderedContent, StatusReason,
};
use crate::events::MessageReady;
use crate::services::credit::{CreditError, CreditService};
use crate::store::credit::{HeldForCredit, Reservation};
use crate::store::{Attempt, Refund, Settlement, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum DeliveryOutcome {
    Sent {
        provider_message_id: String,
    },
    /// The event was a repeat, stale, or the message was withdrawn: nothing sent.
    Ignored,
    /// The appointment started before the message could go.
    Expired,
    /// The message will not go: refused by the provider, too long, or out of retries.
    Failed {
        code: String,
    },
    /// Too little credit: held until a purchase releases it.
    HeldForCredit,
    /// The provider failed for now: the sweep tries again at `at`.
    RetryScheduled {
        at: DateTime<Utc>,
    },
    /// The provider asked to slow down: the message waits until `at`, its
    /// reservation given back and the attempt not counted.
    Throttled {
        at: DateTime<Utc>,
    },
    /// The provider may have taken it: not sent again, staff told.
    Unknown {
        code: String,
    },
}

impl DeliveryOutcome {
    /// Whether the provider may have been asked: such a send counts
    /// against its rate (a repeat, an expired message, one held for credit,
    /// did not; a failure is counted though some fail before the provider,
    /// as a hold too many only slows a send).
    pub fn may_have_reached_the_provider(&self) -> bool {
        !matches!(self, Self::Ignored | Self::Expired | Self::HeldForCredit)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("a {event} message was routed to the {function} delivery function")]
    WrongChannel { event: &'static str, function: &'static str },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Credit(#[from] CreditError),
    #[error("an attachment could not be read: {0}")]
    Attachment(#[from] BlobError),
}

impl DeliveryError {
    pub fn is_retryable(&self) -> bool {
        match self {
            DeliveryError::WrongChannel { .. } => false,
            DeliveryError::Store(err) => err.is_retryable(),
            DeliveryError::Credit(err) => err.is_retryable(),
            DeliveryError::Attachment(err) => matches!(err, BlobError::Unavailable(_)),
        }
    }
}

/// How long a send the provider throttled waits: within a sweep period,
/// so that it goes with the next run's work.
const THROTTLED_PAUSE: Duration = Duration::seconds(20);

/// How often, and how far apart, a send that failed for now is tried again.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Sends in all, the first included.
    pub max_attempts: u32,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_attempts: 5, first_backoff: Duration::seconds(30), max_backoff: Duration::minutes(15) }
    }
}

impl RetryPolicy {
    /// Doubling from `first_backoff` after each failed attempt, capped.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(16);
        (self.first_backoff * 2_i32.pow(doublings)).min(self.max_backoff)
    }
}

#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    pub lease: Duration,
    pub prices: PriceTable,
    pub retry: RetryPolicy,
}

pub struct Delivery {
    store: Store,
    sender: Arc<dyn ChannelSender>,
    clock: Arc<dyn Clock>,
    credit: CreditService,
    config: DeliveryConfig,
    /// Where documents staff attached are kept (email and fax).
    blobs: Option<Arc<dyn BlobStore>>,
}

/// What a message costs, or why it cannot go at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Price {
    Cents(u64),
    Refused { reason: StatusReason, code: String },
}

impl Price {
    /// A message's price on a channel at the deployment's prices for its
    /// destination: SMS per segment (refused over the limit), a call's
    /// reserved minutes, a fax's pages; email is free, and so are keyword
    /// answers where the deployment says so. A destination in a country the
    /// deployment does not send to is refused.
    pub fn of(kind: MessageKind, channel: Channel, content: &RenderedContent, prices: &PriceTable) -> Price {
        if channel == Channel::Email {
            return Price::Cents(0);
        }
        let Ok(to) = content.to.parse::<PhoneNumber>() else {
            return Price::Refused { reason: StatusReason::BadNumber, code: "invalid_destination".into() };
        };
        let cost = match channel {
            Channel::Email => Ok(0),
            Channel::Sms => prices.sms_cost(&to, &content.body),
            Channel::Voice => prices.voice_cost(&to, prices.voice_minutes_reserved(content)),
            Channel::Fax => match pdf::page_count(content) {
                Ok(pages) => prices.fax_cost(&to, pages),
                Err(err) => return Price::Refused { reason: StatusReason::RenderError, code: err.code().into() },
            },
        };
        match cost {
            Ok(_) if kind == MessageKind::KeywordAnswer && prices.keyword_answers_free => Price::Cents(0),
            Ok(cents) => Price::Cents(cents),
            Err(PricingError::TooManySegments { .. }) => {
                Price::Refused { reason: StatusReason::TooLong, code: "too_many_segments".into() }
            }
            Err(PricingError::DestinationNotAllowed) => {
                Price::Refused { reason: StatusReason::DestinationNotAllowed, code: "destination_not_allowed".into() }
            }
        }
    }
}

impl Delivery {
    pub fn new(
        store: Store,
        sender: Arc<dyn ChannelSender>,
        clock: Arc<dyn Clock>,
        credit: CreditService,
        config: DeliveryConfig,
    ) -> Self {
        Self { store, sender, clock, credit, config, blobs: None }
    }

    /// Reads attachments kept in S3 into what is sent.
    pub fn with_attachments(mut self, blobs: Arc<dyn BlobStore>) -> Self {
        self.blobs = Some(blobs);
        self
    }

    /// The content with its kept documents read in; `None` when one is
    /// gone (or this function keeps none): it can never go as written.
    async fn with_files(&self, content: &RenderedContent) -> Result<Option<RenderedContent>, BlobError> {
        use base64::Engine as _;
        let Some(blobs) = &self.blobs else { return Ok(None) };
        let mut full = content.clone();
        for file in &content.attachment_files {
            let Ok(key) = BlobKey::stored(&file.key) else { return Ok(None) };
            let Some(data) = blobs.get(&key).await? else { return Ok(None) };
            full.attachments.push(Attachment {
                filename: file.filename.clone(),
                content_type: file.content_type.clone(),
                data_base64: base64::engine::general_purpose::STANDARD.encode(data),
            });
        }
        Ok(Some(full))
    }

    pub fn channel(&self) -> Channel {
        self.sender.channel()
    }

    /// Records the outcome, then tells staff what it says to tell them.
    /// Only this claim's holder can have started the send, so a settlement
    /// that does not apply means the record changed underneath (a call's
    /// events came first): worth a warning, not a retry.
    async fn settle(&self, event: &MessageReady, message: &Message, settlement: Settlement) -> Result<(), StoreError> {
        let applied = self.store.settle(&event.account_id, &event.message_id, &event.claim_token, &settlement).await?;
        if !applied {
            tracing::warn!(status = settlement.status.as_str(), "outcome not recorded: the claim was no longer held");
            return Ok(());
        }
        if let Some(notice) = &settlement.notice {
            self.store.notify_once(&event.account_id, message, notice, self.clock.now()).await?;
        }
        Ok(())
    }

    /// A repeated event: if this claim's send was settled by a run that
    /// failed afterwards, what that run had left to do (telling staff) is
    /// done now, once.
    async fn resume(&self, event: &MessageReady) -> Result<DeliveryOutcome, DeliveryError> {
        let settled = self.store.get_message(&event.account_id, &event.message_id).await?.filter(|message| {
            message.claim_token.as_deref() == Some(event.claim_token.as_str()) && !message.status.is_live()
        });
        if let Some(notice) =
            settled.as_ref().and_then(|message| message.notice.as_ref().map(|notice| (message, notice)))
        {
            let (message, notice) = notice;
            self.store.notify_once(&event.account_id, message, notice, self.clock.now()).await?;
        }
        tracing::info!("repeated or stale event: nothing to send");
        Ok(DeliveryOutcome::Ignored)
    }

    pub async fn deliver(&self, event: &MessageReady) -> Result<DeliveryOutcome, DeliveryError> {
        if event.channel != self.channel() {
            return Err(DeliveryError::WrongChannel {
                event: event.channel.as_str(),
                function: self.channel().as_str(),
            });
        }
        let (account, id, token) = (&event.account_id, &event.message_id, event.claim_token.as_str());
        let now = self.clock.now();
        let Some(message) = self.store.start_send(account, id, token, now, self.config.lease).await? else {
            return self.resume(event).await;
        };
        let content = match &message.content {
            Some(content) if message.not_after.is_none_or(|limit| now < limit) => content,
            _ => {
                let ended = Settlement::ended(MessageStatus::Expired, StatusReason::AppointmentStarted);
                self.settle(event, &message, ended).await?;
                return Ok(DeliveryOutcome::Expired);
            }
        };
        let with_files;
        let content = if content.attachment_files.is_empty() {
            content
        } else {
            match self.with_files(content).await {
                Ok(Some(full)) => {
                    with_files = full;
                    &with_files
                }
                Ok(None) => {
                    let code = "attachment_missing";
                    let failed = Settlement::ended(MessageStatus::Failed, StatusReason::RenderError)
                        .telling(MessageNotice::new(NotificationKind::DeliveryFailed, code));
                    self.settle(event, &message, failed).await?;
                    return Ok(DeliveryOutcome::Failed { code: code.to_owned() });
                }
                Err(err) => {
                    // Nothing was sent: give the send back for the retry.
                    if let Err(release) =
                        self.store.release_send(account, id, token, (now, Attempt::Counted), None).await
                    {
                        tracing::warn!(error = %release, "send not given back; the recovery pass ends it");
                    }
                    return Err(err.into());
                }
            }
        };
        let cost = match Price::of(message.kind, self.channel(), content, &self.config.prices) {
            Price::Cents(cents) => cents,
            Price::Refused { reason, code } => {
                // Refused before any credit is spent.
                let failed = Settlement::ended(MessageStatus::Failed, reason)
                    .telling(MessageNotice::new(NotificationKind::DeliveryFailed, &code));
                self.settle(event, &message, failed).await?;
                return Ok(DeliveryOutcome::Failed { code });
            }
        };
        if cost > 0 {
            match self.pay(event, &message, cost).await {
                Ok(true) => {}
                Ok(false) => return Ok(DeliveryOutcome::HeldForCredit),
                Err(err) => {
                    // Nothing reached the provider: give the send back, so
                    // that the retry of this event can make it. A
                    // reservation that went through all the same is found
                    // by that retry (or refunded by a later claim's).
                    if let Err(release) =
                        self.store.release_send(account, id, token, (now, Attempt::Counted), None).await
                    {
                        tracing::warn!(error = %release, "send not given back; the recovery pass ends it");
                    }
                    return Err(err);
                }
            }
        }
        // Everything from here on gives back all of what was reserved.
        let refund = (cost > 0).then(|| Refund { cents: cost, channel: self.channel(), at: self.clock.now() });
        let outgoing = Outgoing { account_id: account, message_id: id, claim_token: token, content };
        match self.sender.send(outgoing).await {
            Ok(provider_message_id) => {
                let sent = Settlement::sent(self.clock.now(), self.channel(), provider_message_id.clone());
                self.settle(event, &message, sent).await?;
                tracing::info!(channel = self.channel().as_str(), cost_cents = cost, "sent");
                Ok(DeliveryOutcome::Sent { provider_message_id })
            }
            Err(SendError::Permanent(code)) => {
                let (reason, kind) = permanent_failure(self.channel(), &code);
                let failed = Settlement::ended(MessageStatus::Failed, reason)
                    .telling(MessageNotice::new(kind, &code))
                    .refunding(refund);
                self.settle(event, &message, failed).await?;
                self.refunded(event, refund).await;
                tracing::warn!(code = %code, "provider refused the message");
                Ok(DeliveryOutcome::Failed { code })
            }
            Err(SendError::Unknown(code)) => {
                // Possibly sent: kept paid for, never sent again, and staff
                // are told to check.
                let unknown = Settlement::outcome_unknown(self.clock.now())
                    .telling(MessageNotice::new(NotificationKind::DeliveryUnknown, &code));
                self.settle(event, &message, unknown).await?;
                tracing::warn!(code = %code, "provider outcome unknown: not sent again");
                Ok(DeliveryOutcome::Unknown { code })
            }
            Err(SendError::Throttled(code)) => {
                // The provider's rate is spent, not the message's chances.
                let at = now + THROTTLED_PAUSE;
                self.store.release_send(account, id, token, (at, Attempt::GivenBack), refund).await?;
                self.refunded(event, refund).await;
                tracing::info!(code = %code, "provider throttled: waits without spending an attempt");
                Ok(DeliveryOutcome::Throttled { at })
            }
            Err(SendError::Transient(code)) => {
                let attempts = message.attempts.max(1);
                if attempts >= self.config.retry.max_attempts {
                    let exhausted = Settlement::ended(MessageStatus::Failed, StatusReason::RetriesExhausted)
                        .telling(MessageNotice::new(NotificationKind::DeliveryFailed, &code))
                        .refunding(refund);
                    self.settle(event, &message, exhausted).await?;
                    self.refunded(event, refund).await;
                    tracing::warn!(code = %code, attempts, "provider kept failing: given up");
                    return Ok(DeliveryOutcome::Failed { code });
                }
                // Back to the due index at the backoff's end, where the
                // sweep claims and sends it again; refunded in the same
                // transaction, so the next send pays afresh.
                let at = now + self.config.retry.backoff(attempts);
                self.store.release_send(account, id, token, (at, Attempt::Counted), refund).await?;
                self.refunded(event, refund).await;
                tracing::info!(code = %code, attempts, "provider failed for now: retry scheduled");
                Ok(DeliveryOutcome::RetryScheduled { at })
            }
        }
    }

    /// Reserves a paid message's cost; `false` when the balance is short and
    /// the message is now held for credit.
    async fn pay(&self, event: &MessageReady, message: &Message, cost: u64) -> Result<bool, DeliveryError> {
        let (account, id, token) = (&event.account_id, &event.message_id, event.claim_token.as_str());
        match self.store.reserve_credit(account, id, token, cost, self.channel(), self.clock.now()).await? {
            Reservation::Quiet => return Ok(true),
            Reservation::NearThreshold => {
                if let Err(err) = self.credit.after_spend(account).await {
                    // The alerts wait for the next send; this one is paid for.
                    tracing::warn!(error = %err, "balance alerts not raised");
                }
                return Ok(true);
            }
            Reservation::Short => {}
        }
        if self.store.hold_for_credit(account, id, token, cost, message.due_at).await? {
            tracing::info!(cost_cents = cost, "held for credit");
            let held = HeldForCredit { message_id: id.clone(), cost_cents: cost };
            if let Err(err) = self.credit.shortfall(account, &held).await {
                // The hold stands; the next purchase releases it.
                tracing::warn!(error = %err, "shortfall not handled");
            }
        }
        Ok(false)
    }

    /// What a refund sets going (alerts re-armed, held messages released);
    /// the refund stands whatever happens here.
    async fn refunded(&self, event: &MessageReady, refund: Option<Refund>) {
        if refund.is_some() {
            if let Err(err) = self.credit.after_refund(&event.account_id).await {
                tracing::warn!(error = %err, "held messages not released after a refund");
            }
        }
    }
}

/// What a provider's permanent refusal means for the message and for staff.
fn permanent_failure(channel: Channel, code: &str) -> (StatusReason, NotificationKind) {
    match (channel, code) {
        (Channel::Sms, "OptedOut") => (StatusReason::OptedOut, NotificationKind::OptedOut),
        (
            Channel::Sms | Channel::Voice | Channel::Fax,
            "InvalidParameter" | "InvalidParameterValue" | "EndpointDisabled",
        )
        | (Channel::Fax, "invalid_fax_number") => (StatusReason::BadNumber, NotificationKind::BadNumber),
        _ => (StatusReason::ProviderRejected, NotificationKind::DeliveryFailed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.backoff(1), Duration::seconds(30));
        assert_eq!(policy.backoff(2), Duration::seconds(60));
        assert_eq!(policy.backoff(4), Duration::seconds(240));
        assert_eq!(policy.backoff(9), Duration::minutes(15));
    }

    #[test]
    fn refusals_are_told_apart() {
        assert_eq!(permanent_failure(Channel::Sms, "OptedOut").0, StatusReason::OptedOut);
        assert_eq!(permanent_failure(Channel::Sms, "InvalidParameter").1, NotificationKind::BadNumber);
        assert_eq!(permanent_failure(Channel::Email, "MessageRejected").0, StatusReason::ProviderRejected);
    }
}
