//! What providers report after a message went out: SES deliveries, bounces
//! and complaints; fax status webhooks. Each report moves the message with a
//! conditional write, so a redelivered one changes nothing.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::channels::fax::{FaxStatus, FaxStatusEvent};
use crate::channels::ses_events::{EmailEvent, SesNotification};
use crate::channels::sns_events::{SmsDeliveryLog, SmsOutcome};
use crate::domain::{AccountId, Channel, Clock, Message, MessageId, MessageStatus, Notification, NotificationKind, StatusReason};
use crate::services::credit::CreditService;
use crate::store::notifications::Suppression;
use crate::store::{Store, StoreError};

/// What a report did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportOutcome {
    Recorded,
    /// Repeated, out of order, or about nothing Tidings sent.
    Ignored,
}

#[derive(Clone)]
pub struct OutcomeService {
    store: Store,
    clock: Arc<dyn Clock>,
    credit: CreditService,
}

impl OutcomeService {
    pub fn new(store: Store, clock: Arc<dyn Clock>, credit: CreditService) -> Self {
        Self { store, clock, credit }
    }

    /// What a refund set going: alerts re-armed, held messages released.
    /// The refund stands whatever happens here, so a failure is only logged.
    async fn refunded(&self, account: &AccountId) {
        if let Err(err) = self.credit.after_refund(account).await {
            tracing::warn!(error = %err, "held messages not released after a refund");
        }
    }

    async fn find(&self, channel: Channel, provider_id: &str) -> Result<Option<(AccountId, MessageId)>, StoreError> {
        self.store.message_by_provider_ref(channel, provider_id).await
    }

    /// One SES notification (from the `delivery-status` function's SNS
    /// subscription).
    pub async fn email_event(&self, notification: &SesNotification) -> Result<ReportOutcome, StoreError> {
        let event = notification.event();
        if event == EmailEvent::Other {
            return Ok(ReportOutcome::Ignored);
        }
        let found = match notification.tagged_message() {
            Some(found) => Some(found),
            None => self.find(Channel::Email, &notification.mail.message_id).await?,
        };
        let Some((account, id)) = found else {
            tracing::info!("SES report about no message of ours");
            return Ok(ReportOutcome::Ignored);
        };
        let now = self.clock.now();
        let went_out = [MessageStatus::Sent, MessageStatus::Delivered];
        let (moved, kind, detail, suppress, reason) = match &event {
            EmailEvent::Delivered => {
                let moved = self.store.record_provider_outcome(&account, &id, &[MessageStatus::Sent], MessageStatus::Delivered, None).await?;
                return Ok(if moved.is_some() { ReportOutcome::Recorded } else { ReportOutcome::Ignored });
            }
            EmailEvent::Bounced { permanent, code, .. } => {
                let moved = self
                    .store
                    .record_provider_outcome(&account, &id, &went_out, MessageStatus::Failed, Some(StatusReason::Bounced))
                    .await?;
                (moved, NotificationKind::EmailBounced, code.clone(), *permanent, StatusReason::Bounced)
            }
            EmailEvent::Complained { .. } => {
                let moved = self
                    .store
                    .record_provider_outcome(&account, &id, &went_out, MessageStatus::Failed, Some(StatusReason::Complained))
                    .await?;
                (moved, NotificationKind::EmailComplaint, "complaint".to_owned(), true, StatusReason::Complained)
            }
            EmailEvent::Other => return Ok(ReportOutcome::Ignored),
        };
        let Some(message) = moved else {
            return Ok(ReportOutcome::Ignored);
        };
        if suppress {
            if let Some(address) = message.content.as_ref().map(|c| c.to.clone()) {
                let suppression = Suppression { address, reason, at: now };
                self.store.suppress(&account, &message.recipient_id, Channel::Email, &suppression).await?;
            }
        }
        self.notify(&account, &message, kind, &detail, now).await?;
        tracing::info!(kind = kind.as_str(), suppressed = suppress, "email outcome recorded");
        Ok(ReportOutcome::Recorded)
    }

    /// One SNS SMS delivery status log entry (from the `delivery-status`
    /// function's log subscription).
    pub async fn sms_delivery(&self, log: &SmsDeliveryLog) -> Result<ReportOutcome, StoreError> {
        let Some((account, id)) = self.find(Channel::Sms, &log.notification.message_id).await? else {
            return Ok(ReportOutcome::Ignored);
        };
        let now = self.clock.now();
        let sent = [MessageStatus::Sent];
        match log.outcome() {
            SmsOutcome::Delivered => {
                let moved = self.store.record_provider_outcome(&account, &id, &sent, MessageStatus::Delivered, None).await?;
                Ok(if moved.is_some() { ReportOutcome::Recorded } else { ReportOutcome::Ignored })
            }
            SmsOutcome::Failed { reason, kind, code } => {
                let Some(message) = fail_and_refund(&self.store, &account, &id, &sent, reason, now).await? else {
                    return Ok(ReportOutcome::Ignored);
                };
                self.refunded(&account).await;
                self.notify(&account, &message, kind, code, now).await?;
                Ok(ReportOutcome::Recorded)
            }
        }
    }

    /// One verified fax status webhook. Duplicates (the same event id) are
    /// ignored.
    pub async fn fax_status(&self, provider: &str, event: &FaxStatusEvent) -> Result<ReportOutcome, StoreError> {
        let now = self.clock.now();
        if matches!(event.status, FaxStatus::InProgress) {
            return Ok(ReportOutcome::Ignored);
        }
        if self.store.webhook_seen(provider, &event.event_id).await? {
            return Ok(ReportOutcome::Ignored);
        }
        // Applied before it is marked seen: a failure in between leaves it
        // for the provider's redelivery, and applying is idempotent anyway
        // (every move is conditional on the status, a refund once per claim).
        let outcome = self.apply_fax_status(provider, event, now).await?;
        self.store.mark_webhook_seen(provider, &event.event_id, now).await?;
        Ok(outcome)
    }

    async fn apply_fax_status(&self, provider: &str, event: &FaxStatusEvent, now: DateTime<Utc>) -> Result<ReportOutcome, StoreError> {
        let provider_id = crate::channels::fax::provider_message_id(provider, &event.fax_id);
        let Some((account, id)) = self.find(Channel::Fax, &provider_id).await? else {
            tracing::info!("fax status about no message of ours");
            return Ok(ReportOutcome::Ignored);
        };
        let sent = [MessageStatus::Sent];
        match &event.status {
            FaxStatus::Delivered { .. } => {
                let moved = self.store.record_provider_outcome(&account, &id, &sent, MessageStatus::Delivered, None).await?;
                Ok(if moved.is_some() { ReportOutcome::Recorded } else { ReportOutcome::Ignored })
            }
            FaxStatus::Failed { reason } => {
                let failed = StatusReason::TransmissionFailed;
                let Some(message) = fail_and_refund(&self.store, &account, &id, &sent, failed, now).await? else {
                    return Ok(ReportOutcome::Ignored);
                };
                self.refunded(&account).await;
                self.notify(&account, &message, NotificationKind::FaxFailed, reason, now).await?;
                Ok(ReportOutcome::Recorded)
            }
            FaxStatus::InProgress => Ok(ReportOutcome::Ignored),
        }
    }

    async fn notify(
        &self,
        account: &AccountId,
        message: &Message,
        kind: NotificationKind,
        detail: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let notification = Notification::new(kind, now).about(&message.recipient_id, &message.id, message.channel).detail(detail);
        self.store.add_notification(account, &notification).await
    }
}

/// Fails a message that went out, as its provider reported, and gives back
/// what its send reserved. `None` when the report changed nothing (a
/// repeat); the refund is tried then too, since a first attempt may have
/// failed between the two writes, and it is once per claim anyway.
pub(crate) async fn fail_and_refund(
    store: &Store,
    account: &AccountId,
    id: &MessageId,
    from: &[MessageStatus],
    reason: StatusReason,
    now: DateTime<Utc>,
) -> Result<Option<Message>, StoreError> {
    match store.record_provider_outcome(account, id, from, MessageStatus::Failed, Some(reason)).await? {
        Some(message) => {
            refund_all(store, account, &message, now).await?;
            Ok(Some(message))
        }
        None => {
            if let Some(message) = store.get_message(account, id).await?.filter(|m| m.status == MessageStatus::Failed) {
                refund_all(store, account, &message, now).await?;
            }
            Ok(None)
        }
    }
}

/// Gives back what a message's send reserved, once.
pub(crate) async fn refund_all(store: &Store, account: &AccountId, message: &Message, now: DateTime<Utc>) -> Result<(), StoreError> {
    refund_part(store, account, message, message.reserved_cents.unwrap_or(0), now).await
}

/// Gives back `amount` of what a message's send reserved, once.
pub(crate) async fn refund_part(
    store: &Store,
    account: &AccountId,
    message: &Message,
    amount: u64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if let (Some(claim), true) = (&message.reserved_claim, amount > 0) {
        store.refund_credit(account, &message.id, claim, amount, message.channel, now).await?;
    }
    Ok(())
}
