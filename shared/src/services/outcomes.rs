//! What providers report after a message went out: SES deliveries, bounces
//! and complaints; fax status webhooks. Each report moves the message with a
//! conditional write, so a redelivered one changes nothing.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::channels::fax::{FaxStatus, FaxStatusEvent};
use crate::channels::ses_events::{EmailEvent, SesNotification};
use crate::channels::sns_events::{SmsDeliveryLog, SmsOutcome};
use crate::domain::{
    AccountId, Channel, Clock, Message, MessageId, MessageNotice, MessageStatus, Notification, NotificationKind,
    ProviderReport, ReportedOutcome, StatusReason, UserId,
};
use crate::services::credit::CreditService;
use crate::store::notifications::Suppression;
use crate::store::reports::ParkedReport;
use crate::store::{Store, StoreError};

/// What a report did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportOutcome {
    Recorded,
    /// About no message that can be found yet: kept, and applied by the
    /// sweep once it can be.
    Parked,
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
        if let Some((account, user)) = notification.tagged_user() {
            return self.staff_email_event(&account, &user, notification, &event).await;
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
        let (reason, notice, suppress) = match &event {
            EmailEvent::Delivered => {
                let moved = self
                    .store
                    .record_provider_outcome(&account, &id, &[MessageStatus::Sent], MessageStatus::Delivered, None)
                    .await?;
                return Ok(if moved.is_some() { ReportOutcome::Recorded } else { ReportOutcome::Ignored });
            }
            EmailEvent::Bounced { permanent, code, .. } => {
                (StatusReason::Bounced, MessageNotice::new(NotificationKind::EmailBounced, code.clone()), *permanent)
            }
            EmailEvent::Complained { .. } => {
                (StatusReason::Complained, MessageNotice::new(NotificationKind::EmailComplaint, "complaint"), true)
            }
            EmailEvent::Other => return Ok(ReportOutcome::Ignored),
        };
        let Some(failed) = fail(&self.store, &account, &id, &went_out, reason).await? else {
            return Ok(ReportOutcome::Ignored);
        };
        // Re-run when the status had already moved: a first run may have
        // died before these, and each is idempotent.
        if suppress {
            if let Some(address) = failed.message.content.as_ref().map(|c| c.to.clone()) {
                let suppression = Suppression { address, reason, at: now };
                self.store.suppress(&account, &failed.message.recipient_id, Channel::Email, &suppression).await?;
            }
        }
        self.store.notify_once(&account, &failed.message, &notice, now).await?;
        tracing::info!(kind = notice.kind.as_str(), suppressed = suppress, "email outcome recorded");
        Ok(failed.outcome())
    }

    /// A staff email that bounced for good, or that its reader marked as
    /// spam: the user is not emailed again until their address changes,
    /// and staff are told (`detail` `staff`), once however often SES
    /// reports it.
    async fn staff_email_event(
        &self,
        account: &AccountId,
        user: &UserId,
        notification: &SesNotification,
        event: &EmailEvent,
    ) -> Result<ReportOutcome, StoreError> {
        let (kind, addresses) = match event {
            EmailEvent::Bounced { permanent: true, addresses, .. } => (NotificationKind::EmailBounced, addresses),
            EmailEvent::Complained { addresses } => (NotificationKind::EmailComplaint, addresses),
            _ => return Ok(ReportOutcome::Ignored),
        };
        let at = notification.mail.timestamp.unwrap_or_else(|| self.clock.now());
        for address in addresses {
            self.store.mark_user_bounced(account, user, address, self.clock.now()).await?;
        }
        let told = Notification {
            id: format!("{}~staff~{}", kind.as_str(), notification.mail.message_id),
            detail: Some("staff".into()),
            ..Notification::new(kind, at)
        };
        let new = self.store.add_notification_once(account, &told).await?;
        tracing::info!(kind = kind.as_str(), "staff email outcome recorded");
        Ok(if new { ReportOutcome::Recorded } else { ReportOutcome::Ignored })
    }

    /// One SNS SMS delivery status log entry (from the `delivery-status`
    /// function's log subscription).
    pub async fn sms_delivery(&self, log: &SmsDeliveryLog) -> Result<ReportOutcome, StoreError> {
        let outcome = match log.outcome() {
            SmsOutcome::Delivered => ReportedOutcome::Delivered,
            SmsOutcome::Failed { reason, kind, code } => {
                ReportedOutcome::Failed { reason, kind, code: code.to_owned() }
            }
        };
        let report =
            ProviderReport { channel: Channel::Sms, provider_message_id: log.notification.message_id.clone(), outcome };
        self.report(&report).await
    }

    /// One verified fax status webhook. Duplicates (the same event id) are
    /// ignored.
    pub async fn fax_status(&self, provider: &str, event: &FaxStatusEvent) -> Result<ReportOutcome, StoreError> {
        let outcome = match &event.status {
            FaxStatus::InProgress => return Ok(ReportOutcome::Ignored),
            FaxStatus::Delivered { .. } => ReportedOutcome::Delivered,
            FaxStatus::Failed { reason } => ReportedOutcome::Failed {
                reason: StatusReason::TransmissionFailed,
                kind: NotificationKind::FaxFailed,
                code: reason.clone(),
            },
        };
        if self.store.webhook_seen(provider, &event.event_id).await? {
            return Ok(ReportOutcome::Ignored);
        }
        let provider_message_id = crate::channels::fax::provider_message_id(provider, &event.fax_id);
        // Applied (or parked) before it is marked seen: a failure in between
        // leaves it for the provider's redelivery, and applying is
        // idempotent anyway (every move is conditional on the status, a
        // refund once per claim, staff told once).
        let outcome = self.report(&ProviderReport { channel: Channel::Fax, provider_message_id, outcome }).await?;
        self.store.mark_webhook_seen(provider, &event.event_id, self.clock.now()).await?;
        Ok(outcome)
    }

    /// Applies a report, or parks it when its message cannot be found yet.
    async fn report(&self, report: &ProviderReport) -> Result<ReportOutcome, StoreError> {
        let now = self.clock.now();
        if let Some(outcome) = self.apply(report, now).await? {
            return Ok(outcome);
        }
        tracing::info!(channel = report.channel.as_str(), "report about no message found yet: parked");
        let parked = ParkedReport { report: report.clone(), parked_at: now };
        self.store.park_report(&parked, now + PARKED_RETRY).await?;
        Ok(ReportOutcome::Parked)
    }

    /// `None` when no message (yet) has the report's provider id.
    async fn apply(&self, report: &ProviderReport, now: DateTime<Utc>) -> Result<Option<ReportOutcome>, StoreError> {
        let Some((account, id)) = self.find(report.channel, &report.provider_message_id).await? else {
            return Ok(None);
        };
        let sent = [MessageStatus::Sent];
        let outcome = match &report.outcome {
            ReportedOutcome::Delivered => {
                let moved =
                    self.store.record_provider_outcome(&account, &id, &sent, MessageStatus::Delivered, None).await?;
                if moved.is_some() {
                    ReportOutcome::Recorded
                } else {
                    ReportOutcome::Ignored
                }
            }
            ReportedOutcome::Failed { reason, kind, code } => {
                match fail_and_refund(&self.store, &account, &id, &sent, *reason, now).await? {
                    Some(failed) => {
                        self.refunded(&account).await;
                        let notice = MessageNotice::new(*kind, code.clone());
                        self.store.notify_once(&account, &failed.message, &notice, now).await?;
                        failed.outcome()
                    }
                    None => ReportOutcome::Ignored,
                }
            }
        };
        Ok(Some(outcome))
    }

    /// Parked reports that are due, at most `limit`: applied once their
    /// message can be found, given up after [`PARKED_FOR_AT_MOST`] (a
    /// report about a message that is not ours). How many were applied.
    pub async fn apply_parked(&self, limit: i32) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let mut applied = 0;
        for parked in self.store.due_reports(now, limit).await? {
            if self.apply(&parked.report, now).await?.is_some() {
                self.store.drop_report(&parked.report).await?;
                applied += 1;
            } else if now - parked.parked_at >= PARKED_FOR_AT_MOST {
                tracing::info!(channel = parked.report.channel.as_str(), "parked report given up: no such message");
                self.store.drop_report(&parked.report).await?;
            } else {
                self.store.postpone_report(&parked.report, now + PARKED_RETRY).await?;
            }
        }
        Ok(applied)
    }
}

/// How soon a parked report is tried again: past the index's usual lag and
/// a send's settlement.
const PARKED_RETRY: chrono::Duration = chrono::Duration::seconds(30);
/// How long a report waits for its message before it is taken for one about
/// somebody else's.
const PARKED_FOR_AT_MOST: chrono::Duration = chrono::Duration::hours(1);

/// A message a provider reported failed: moved by this report, or found
/// failed for the same reason by an earlier delivery of it.
pub(crate) struct Failed {
    pub message: Message,
    pub moved_now: bool,
}

impl Failed {
    pub fn outcome(&self) -> ReportOutcome {
        if self.moved_now {
            ReportOutcome::Recorded
        } else {
            ReportOutcome::Ignored
        }
    }
}

/// Fails a message that went out, as its provider reported. When the
/// status had already moved for the same reason (a redelivered report, or a
/// first run that died before its later steps), the message is returned
/// all the same, so that those steps, each idempotent, run again.
pub(crate) async fn fail(
    store: &Store,
    account: &AccountId,
    id: &MessageId,
    from: &[MessageStatus],
    reason: StatusReason,
) -> Result<Option<Failed>, StoreError> {
    if let Some(message) = store.record_provider_outcome(account, id, from, MessageStatus::Failed, Some(reason)).await?
    {
        return Ok(Some(Failed { message, moved_now: true }));
    }
    let earlier =
        store.get_message(account, id).await?.filter(|m| m.status == MessageStatus::Failed && m.reason == Some(reason));
    Ok(earlier.map(|message| Failed { message, moved_now: false }))
}

/// Fails a message as [`fail`] does and gives back what its send reserved,
/// once per claim.
pub(crate) async fn fail_and_refund(
    store: &Store,
    account: &AccountId,
    id: &MessageId,
    from: &[MessageStatus],
    reason: StatusReason,
    now: DateTime<Utc>,
) -> Result<Option<Failed>, StoreError> {
    let failed = fail(store, account, id, from, reason).await?;
    if let Some(failed) = &failed {
        refund_all(store, account, &failed.message, now).await?;
    }
    Ok(failed)
}

/// Gives back what a message's send reserved, once.
pub(crate) async fn refund_all(
    store: &Store,
    account: &AccountId,
    message: &Message,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
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
    if let (Some(claim), true) = (&message.live_reservation, amount > 0) {
        store.refund_credit(account, &message.id, claim, amount, message.channel, now).await?;
    }
    Ok(())
}
