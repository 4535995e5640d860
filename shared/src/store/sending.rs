//! A message's send, from its claim to its settlement: the claim, what it is
//! rendered from, the recipient's caps, the one send a claim allows, and
//! how it ended (or its recovery when it never settled).

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use super::replies::RouteTarget;
use super::{
    from_item, keys, n, notifications, s, status, to_attribute, AppointmentLinks, ConditionalUpdate, Refund, Store,
    StoreError, Transacted,
};
use crate::domain::{
    AccountId, AccountSettings, Appointment, AppointmentId, Channel, Consent, Invoice, InvoiceId, Message, MessageId,
    MessageKind, MessageNotice, MessageStatus, NoticeState, NotificationKind, Recipient, RecipientId, RenderedContent,
    ReplyRoute, StatusReason, TemplateSource,
};

/// A message this caller has claimed: only the holder of `claim_token` may
/// send it or settle it.
#[derive(Debug, Clone)]
pub struct ClaimedMessage {
    pub account: AccountId,
    pub message: Message,
    pub claim_token: String,
    /// Whether an earlier claim already counted the message against caps.
    pub cap_counted: bool,
}

#[derive(Debug, Default, Deserialize)]
struct CapMark {
    #[serde(default)]
    cap_counted: bool,
}

/// What taking a cap slot came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapSlot {
    Taken,
    /// The recipient's daily or weekly limit is reached.
    Reached,
    /// Another sweep holds the message now: nothing was counted.
    ClaimLost,
}

/// Everything a message is rendered from, read in one request.
#[derive(Debug, Clone, Default)]
pub struct RenderContext {
    pub settings: Option<AccountSettings>,
    pub recipient: Option<Recipient>,
    pub appointment: Option<Appointment>,
    /// What the appointment's last notice told.
    pub notified: Option<NoticeState>,
    pub invoice: Option<Invoice>,
    /// The account's own template for the message's kind and channel.
    pub template: Option<TemplateSource>,
    /// An address of the recipient's on the message's channel not to send to.
    pub suppressed: Option<notifications::Suppression>,
    /// The recipient's consent on the message's channel (an opt-out).
    pub consent: Option<Consent>,
}

/// How a claimed message ended.
#[derive(Debug, Clone)]
pub struct Settlement {
    pub status: MessageStatus,
    pub reason: Option<StatusReason>,
    pub sent_at: Option<DateTime<Utc>>,
    /// The provider's id, and the channel it is an id on.
    pub provider: Option<(Channel, String)>,
    /// What staff are to be told: kept on the message, so that a handler
    /// run again after a crash tells them what the first run decided.
    pub notice: Option<MessageNotice>,
    /// Credit given back in the same transaction as the move.
    pub refund: Option<Refund>,
}

impl Settlement {
    pub fn sent(at: DateTime<Utc>, channel: Channel, provider_message_id: String) -> Self {
        Self {
            status: MessageStatus::Sent,
            reason: None,
            sent_at: Some(at),
            provider: Some((channel, provider_message_id)),
            notice: None,
            refund: None,
        }
    }

    /// Handed to a provider that did not say whether it took it: counted
    /// as sent (never sent again), with the reason.
    pub fn outcome_unknown(at: DateTime<Utc>) -> Self {
        Self {
            status: MessageStatus::Sent,
            reason: Some(StatusReason::OutcomeUnknown),
            sent_at: Some(at),
            provider: None,
            notice: None,
            refund: None,
        }
    }

    pub fn ended(status: MessageStatus, reason: StatusReason) -> Self {
        Self { status, reason: Some(reason), sent_at: None, provider: None, notice: None, refund: None }
    }

    pub fn telling(mut self, notice: MessageNotice) -> Self {
        self.notice = Some(notice);
        self
    }

    pub fn refunding(mut self, refund: Option<Refund>) -> Self {
        self.refund = refund;
        self
    }
}

impl Store {
    /// Claims a due message for `lease`. Exactly one of any number of
    /// concurrent callers wins; a claim whose lease ran out may be taken again.
    pub async fn claim(
        &self,
        account: &AccountId,
        id: &MessageId,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Option<ClaimedMessage>, StoreError> {
        let claim_token = uuid::Uuid::new_v4().to_string();
        let update = ConditionalUpdate::on(keys::message(account, id))
            .set("#status = :claimed")
            .set("account_status = :account_status")
            .set("claim_token = :token")
            .set("due_ms = :lease_until")
            .set("claimed_at = :now_iso")
            .condition(
                "#status IN (:scheduled, :held, :claimed) AND due_ms <= :now AND attribute_not_exists(send_started_at)",
            )
            .name("#status", "status")
            .value(":claimed", status(MessageStatus::Claimed))
            .value(":scheduled", status(MessageStatus::Scheduled))
            .value(":held", status(MessageStatus::Held))
            .value(":token", s(&claim_token))
            .value(":lease_until", n((now + lease).timestamp_millis()))
            .value(":account_status", s(keys::account_status(account, MessageStatus::Claimed)))
            .value(":now", n(now.timestamp_millis()))
            .value(":now_iso", to_attribute("message", &now)?);
        match update.apply(self, ReturnValue::AllNew).await? {
            Some(item) => {
                let mark: CapMark = from_item("message", item.clone())?;
                let message = from_item("message", item)?;
                Ok(Some(ClaimedMessage {
                    account: account.clone(),
                    message,
                    claim_token,
                    cap_counted: mark.cap_counted,
                }))
            }
            None => Ok(None),
        }
    }

    /// Reads the settings, recipient and appointment a message is rendered
    /// from, in one BatchGetItem.
    pub async fn render_context(
        &self,
        account: &AccountId,
        recipient: &RecipientId,
        subject: (Option<&AppointmentId>, Option<&InvoiceId>),
        template: (MessageKind, Channel),
    ) -> Result<RenderContext, StoreError> {
        let (appointment, invoice) = subject;
        let mut wanted = vec![
            keys::settings(account),
            keys::recipient(account, recipient),
            keys::template(account, template.0, template.1),
            keys::suppression(account, recipient, template.1),
            keys::consent(account, recipient, template.1),
        ];
        wanted.extend(appointment.map(|id| keys::appointment(account, id)));
        wanted.extend(invoice.map(|id| keys::invoice(account, id)));
        let mut context = RenderContext::default();
        for item in self.batch_get(&wanted).await? {
            match item.get(keys::SK) {
                Some(AttributeValue::S(sk)) if sk == "SETTINGS" => {
                    context.settings = Some(from_item("settings", item)?)
                }
                Some(AttributeValue::S(sk)) if sk == "RECIPIENT" => {
                    context.recipient = Some(from_item("recipient", item)?)
                }
                Some(AttributeValue::S(sk)) if sk == "APPOINTMENT" => {
                    let links: AppointmentLinks = from_item("appointment", item.clone())?;
                    context.notified = links.notified;
                    context.appointment = Some(from_item("appointment", item)?);
                }
                Some(AttributeValue::S(sk)) if sk == "INVOICE" => context.invoice = Some(from_item("invoice", item)?),
                Some(AttributeValue::S(sk)) if sk.starts_with("TEMPLATE#") => {
                    context.template = Some(from_item("template", item)?)
                }
                Some(AttributeValue::S(sk)) if sk.starts_with("SUPPRESSED#") => {
                    context.suppressed = Some(from_item("suppression", item)?)
                }
                Some(AttributeValue::S(sk)) if sk.starts_with("CONSENT#") => {
                    context.consent = Some(from_item("consent", item)?)
                }
                _ => {}
            }
        }
        Ok(context)
    }

    /// Holds a claimed message until `due`, for `reason` (quiet hours began
    /// since it was planned); it stays in the due index and goes then.
    pub async fn hold_claimed(
        &self,
        claimed: &ClaimedMessage,
        due: DateTime<Utc>,
        reason: StatusReason,
    ) -> Result<bool, StoreError> {
        let update = ConditionalUpdate::on(keys::message(&claimed.account, &claimed.message.id))
            .set("#status = :held")
            .set("reason = :reason")
            .set("account_status = :account_status")
            .set("due_ms = :due_ms")
            .set("due_at = :due_at")
            .remove("claim_token")
            .condition("#status = :claimed AND claim_token = :token")
            .name("#status", "status")
            .value(":account_status", s(keys::account_status(&claimed.account, MessageStatus::Held)))
            .value(":held", status(MessageStatus::Held))
            .value(":reason", to_attribute("message", &reason)?)
            .value(":claimed", status(MessageStatus::Claimed))
            .value(":token", s(&claimed.claim_token))
            .value(":due_ms", n(due.timestamp_millis()))
            .value(":due_at", to_attribute("message", &due)?);
        Ok(update.apply(self, ReturnValue::None).await?.is_some())
    }

    /// Stores what a claimed message will say, as rendered at claim time,
    /// and puts it in its recipient's thread; in the same transaction, the
    /// route its replies will take (`ReplyRoute::of_sent`) points at it.
    pub async fn store_rendered(
        &self,
        claimed: &ClaimedMessage,
        channel: Channel,
        content: &RenderedContent,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (account, message) = (&claimed.account, &claimed.message);
        let update = ConditionalUpdate::on(keys::message(account, &message.id))
            .set("content = :content")
            .set("channel = :channel")
            .set("thread_key = :thread_key")
            .set("thread_at = :thread_at")
            .condition("#status = :claimed AND claim_token = :token")
            .name("#status", "status")
            .value(":claimed", status(MessageStatus::Claimed))
            .value(":token", s(&claimed.claim_token))
            .value(":content", to_attribute("message", content)?)
            .value(":channel", to_attribute("message", &channel)?)
            .value(":thread_key", s(keys::thread(account, &message.recipient_id)))
            .value(":thread_at", n(now.timestamp_millis()));
        let Some(route) = ReplyRoute::of_sent(channel, content) else {
            return Ok(update.apply(self, ReturnValue::None).await?.is_some());
        };
        let target = RouteTarget {
            account_id: account.clone(),
            recipient_id: message.recipient_id.clone(),
            message_id: message.id.clone(),
            at: now,
        };
        let route = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.table)
            .set_item(Some(self.route_item(&route, &target)?))
            .build()
            .map_err(|_| StoreError::Corrupt("route"))?;
        let request = self
            .client
            .transact_write_items()
            .transact_items(update.transact_item(&self.table)?)
            .transact_items(aws_sdk_dynamodb::types::TransactWriteItem::builder().put(route).build());
        Ok(matches!(self.transact(request).await?, Transacted::Applied))
    }

    /// Takes one slot of a recipient's daily and weekly message limits, both
    /// or neither, and marks the claimed message counted, in one
    /// transaction: a crash can neither count it twice nor lose the mark.
    pub async fn take_cap_slot(
        &self,
        claimed: &ClaimedMessage,
        limits: [(String, Option<u32>); 2],
        expires: DateTime<Utc>,
    ) -> Result<CapSlot, StoreError> {
        let (account, recipient) = (&claimed.account, &claimed.message.recipient_id);
        let mark = ConditionalUpdate::on(keys::message(account, &claimed.message.id))
            .set("cap_counted = :yes")
            .condition("claim_token = :token")
            .value(":yes", AttributeValue::Bool(true))
            .value(":token", s(&claimed.claim_token));
        let mut request = self.client.transact_write_items().transact_items(mark.transact_item(&self.table)?);
        for (period, limit) in limits {
            let Some(limit) = limit else { continue };
            let slot = ConditionalUpdate::on(keys::cap(account, recipient, &period))
                .set("expires_at = :expires")
                .set("sent = if_not_exists(sent, :zero) + :one")
                .condition("attribute_not_exists(sent) OR sent < :limit")
                .value(":zero", n(0))
                .value(":one", n(1))
                .value(":limit", n(i64::from(limit)))
                .value(":expires", n(expires.timestamp()));
            request = request.transact_items(slot.transact_item(&self.table)?);
        }
        // A conflict with another send to the same recipient is retried
        // by `transact`; a failed condition is a reached limit, or a claim
        // lost to another sweep.
        Ok(match self.transact(request).await? {
            Transacted::Applied => CapSlot::Taken,
            Transacted::ConditionFailed(failed) if failed.first() == Some(&true) => CapSlot::ClaimLost,
            Transacted::ConditionFailed(_) => CapSlot::Reached,
        })
    }

    /// Marks the start of the one send a claim allows. `None` when this claim
    /// was already used (a duplicate event), superseded, or withdrawn. The
    /// message stays in the due index, due at the end of the send's
    /// `lease`: a claim requires `send_started_at` absent, so no sweep sends
    /// it again, and should the function die before settling, the sweep's
    /// recovery pass finds it there ([`Store::recover_stuck_send`]).
    pub async fn start_send(
        &self,
        account: &AccountId,
        id: &MessageId,
        claim_token: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Option<Message>, StoreError> {
        let update = ConditionalUpdate::on(keys::message(account, id))
            .set("send_started_at = :now")
            .set("attempts = if_not_exists(attempts, :zero) + :one")
            .set("due_ms = :lease_until")
            .condition("#status = :claimed AND claim_token = :token AND attribute_not_exists(send_started_at)")
            .name("#status", "status")
            .value(":claimed", status(MessageStatus::Claimed))
            .value(":token", s(claim_token))
            .value(":now", to_attribute("message", &now)?)
            .value(":zero", n(0))
            .value(":one", n(1))
            .value(":lease_until", n((now + lease).timestamp_millis()));
        match update.apply(self, ReturnValue::AllNew).await? {
            Some(item) => Ok(Some(from_item("message", item)?)),
            None => Ok(None),
        }
    }

    /// Ends a send that started and was never settled once its lease has run
    /// out (the delivery function died, or every write after the send
    /// failed): `sent` with `outcome_unknown`, out of the due index, never
    /// sent again. Its reservation is kept: the provider may have taken it.
    /// The message as it is now, or `None` when it was no such send.
    pub async fn recover_stuck_send(
        &self,
        account: &AccountId,
        id: &MessageId,
        now: DateTime<Utc>,
    ) -> Result<Option<Message>, StoreError> {
        let notice = MessageNotice { kind: NotificationKind::DeliveryUnknown, detail: "send_not_settled".into() };
        let update = ConditionalUpdate::on(keys::message(account, id))
            .set("#status = :sent")
            .set("account_status = :account_status")
            .set("reason = :reason")
            .set("sent_at = send_started_at")
            .set("notice = :notice")
            .remove(keys::DUE_SHARD)
            .remove(keys::DUE_MS)
            .condition("#status = :claimed AND attribute_exists(send_started_at) AND due_ms <= :now")
            .name("#status", "status")
            .value(":claimed", status(MessageStatus::Claimed))
            .value(":sent", status(MessageStatus::Sent))
            .value(":account_status", s(keys::account_status(account, MessageStatus::Sent)))
            .value(":reason", to_attribute("message", &StatusReason::OutcomeUnknown)?)
            .value(":notice", to_attribute("message", &notice)?)
            .value(":now", n(now.timestamp_millis()));
        match update.apply(self, ReturnValue::AllNew).await? {
            Some(item) => Ok(Some(from_item("message", item)?)),
            None => Ok(None),
        }
    }

    /// Gives a send back after the provider refused it for now, refunding
    /// its reservation in the same transaction: a retry of the same event
    /// may send, and otherwise a sweep reclaims the message at `retry_at`.
    pub async fn release_send(
        &self,
        account: &AccountId,
        id: &MessageId,
        claim_token: &str,
        retry_at: DateTime<Utc>,
        refund: Option<Refund>,
    ) -> Result<bool, StoreError> {
        let key = keys::message(account, id);
        let update = ConditionalUpdate::on(key.clone())
            .set("due_shard = :shard")
            .set("due_ms = :retry_at")
            .remove("send_started_at")
            .condition("#status = :claimed AND claim_token = :token")
            .name("#status", "status")
            .value(":claimed", status(MessageStatus::Claimed))
            .value(":token", s(claim_token))
            .value(":shard", s(keys::due_shard(&key)))
            .value(":retry_at", n(retry_at.timestamp_millis()));
        self.move_with_refund(account, id, claim_token, update, refund).await
    }

    /// Records how a claimed message ended and takes it out of the due
    /// index, with its refund (if any) in the same transaction.
    pub async fn settle(
        &self,
        account: &AccountId,
        id: &MessageId,
        claim_token: &str,
        settlement: &Settlement,
    ) -> Result<bool, StoreError> {
        let mut update = ConditionalUpdate::on(keys::message(account, id))
            .set("#status = :status")
            .set("account_status = :account_status")
            .set("reason = :reason")
            .remove(keys::DUE_SHARD)
            .remove(keys::DUE_MS)
            .condition("#status = :claimed AND claim_token = :token")
            .name("#status", "status")
            .value(":claimed", status(MessageStatus::Claimed))
            .value(":token", s(claim_token))
            .value(":status", status(settlement.status))
            .value(":account_status", s(keys::account_status(account, settlement.status)))
            .value(":reason", to_attribute("message", &settlement.reason)?);
        if let Some(sent_at) = settlement.sent_at {
            update = update.set("sent_at = :sent_at").value(":sent_at", to_attribute("message", &sent_at)?);
        }
        if let Some((channel, provider_id)) = &settlement.provider {
            // Into the lookup index, where the provider's callbacks find it.
            update = update
                .set("provider_message_id = :provider_id")
                .set("lookup_key = :provider_ref")
                .set("lookup_ms = :sent_ms")
                .value(":provider_id", s(provider_id))
                .value(":provider_ref", s(keys::provider_ref(*channel, provider_id)))
                .value(":sent_ms", n(settlement.sent_at.unwrap_or_default().timestamp_millis()));
        }
        if let Some(notice) = &settlement.notice {
            update = update.set("notice = :notice").value(":notice", to_attribute("message", notice)?);
        }
        self.move_with_refund(account, id, claim_token, update, settlement.refund).await
    }
}
