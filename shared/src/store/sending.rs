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
    /// Set while the claim is still to be written: the sweep reads due
    /// messages and renders them first, and the write that stores what a
    /// message says (or how it ended) claims it too, on condition that it
    /// is as it was read. One write instead of two.
    pub unwritten: Option<UnwrittenClaim>,
}

/// A claim read but not yet written.
#[derive(Debug, Clone, Copy)]
pub struct UnwrittenClaim {
    /// The message's `due_ms` as read: every change that matters to a
    /// claim (a move, a hold, another claim) changes it.
    pub seen_due_ms: i64,
    pub at: DateTime<Utc>,
    /// Where its lease ends once written.
    pub until: DateTime<Utc>,
}

/// A due message as the sweep read it.
#[derive(Debug, Clone)]
pub enum DueMessage {
    /// Claimable: to be rendered, and claimed by the write that stores it.
    Claimable(Box<ClaimedMessage>),
    /// A send that started and never settled before its lease ran out.
    StuckSend(AccountId, MessageId),
    /// Claimed by another sweep, or no longer due (the index lags).
    Gone,
}

/// What a claimed message says, to be stored before it is handed over.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub claimed: ClaimedMessage,
    pub channel: Channel,
    pub content: RenderedContent,
}

/// The records a message is rendered from, named by the message.
#[derive(Debug, Clone)]
pub struct ContextKeys {
    pub account: AccountId,
    pub recipient: RecipientId,
    pub appointment: Option<AppointmentId>,
    pub invoice: Option<InvoiceId>,
    pub kind: MessageKind,
    pub channel: Channel,
}

impl ContextKeys {
    pub fn of(account: &AccountId, message: &Message) -> Self {
        Self {
            account: account.clone(),
            recipient: message.recipient_id.clone(),
            appointment: message.appointment_id.clone(),
            invoice: message.invoice_id.clone(),
            kind: message.kind,
            channel: message.channel,
        }
    }

    fn wanted(&self) -> Vec<keys::ItemKey> {
        let (account, recipient) = (&self.account, &self.recipient);
        let mut wanted = vec![
            keys::settings(account),
            keys::recipient(account, recipient),
            keys::template(account, self.kind, self.channel),
            keys::suppression(account, recipient, self.channel),
            keys::consent(account, recipient, self.channel),
        ];
        wanted.extend(self.appointment.as_ref().map(|id| keys::appointment(account, id)));
        wanted.extend(self.invoice.as_ref().map(|id| keys::invoice(account, id)));
        wanted
    }
}

/// What a message item says about its claim, beside the message.
#[derive(Debug, Default, Deserialize)]
struct ClaimMarks {
    #[serde(default)]
    cap_counted: bool,
    #[serde(default)]
    send_started_at: Option<serde_json::Value>,
    #[serde(default)]
    due_ms: Option<i64>,
}

/// At most this much rendered content goes in one transaction (whose limit
/// is 4 MB in all).
const RENDERED_BYTES_PER_TRANSACTION: usize = 2 << 20;
/// TransactWriteItems' limit on actions.
const ACTIONS_PER_TRANSACTION: usize = 100;

impl ConditionalUpdate {
    /// The claim's fields, for a write that claims a message.
    fn claiming(
        self,
        account: &AccountId,
        message: &MessageId,
        token: &str,
        at: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Self, StoreError> {
        Ok(self
            .set("#status = :claimed")
            .set("account_status = :account_status")
            .set("claim_token = :token")
            .set("due_ms = :lease_until")
            .set("claimed_at = :now_iso")
            .name("#status", "status")
            .value(":claimed", status(MessageStatus::Claimed))
            .value(":token", s(token))
            .value(":lease_until", n(until.timestamp_millis()))
            .value(":account_status", s(keys::account_status(account, MessageStatus::Claimed, message)))
            .value(":now_iso", to_attribute("message", &at)?))
    }

    /// Conditions the update on `claimed` holding the message: its claim is
    /// written, or it is still to be written and the message is as read.
    fn held_by(self, claimed: &ClaimedMessage) -> Self {
        let written = "#status = :claimed AND claim_token = :token";
        let update = self
            .name("#status", "status")
            .value(":claimed", status(MessageStatus::Claimed))
            .value(":token", s(&claimed.claim_token));
        match claimed.unwritten {
            None => update.condition(written),
            Some(unwritten) => update
                .condition(format!("({written}) OR ({CLAIMABLE} AND due_ms = :seen_due_ms)"))
                .value(":scheduled", status(MessageStatus::Scheduled))
                .value(":held", status(MessageStatus::Held))
                .value(":seen_due_ms", n(unwritten.seen_due_ms)),
        }
    }
}

/// A message any sweep may claim (once it is due).
const CLAIMABLE: &str = "#status IN (:scheduled, :held, :claimed) AND attribute_not_exists(send_started_at)";

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

/// Whether a send given back counts against the message's attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    Counted,
    /// Not its fault (the provider's rate was spent): not counted.
    GivenBack,
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
    /// Reads due messages (at most 100, one BatchGetItem) for the sweep to
    /// render before it claims them; each claimable one comes with a claim
    /// to write, of `lease` from `now`.
    pub async fn read_due(
        &self,
        due: &[(AccountId, MessageId)],
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Vec<DueMessage>, StoreError> {
        let wanted: Vec<_> = due.iter().map(|(account, id)| keys::message(account, id)).collect();
        let mut found: std::collections::HashMap<String, super::Item> = std::collections::HashMap::new();
        for item in self.batch_get(&wanted).await? {
            if let Some(AttributeValue::S(pk)) = item.get(keys::PK) {
                found.insert(pk.clone(), item);
            }
        }
        let mut read = Vec::with_capacity(due.len());
        for ((account, id), key) in due.iter().zip(&wanted) {
            let Some(item) = found.remove(&key.pk) else {
                read.push(DueMessage::Gone);
                continue;
            };
            let marks: ClaimMarks = from_item("message", item.clone())?;
            let message: Message = from_item("message", item)?;
            let now_ms = now.timestamp_millis();
            let due_ms = marks.due_ms.filter(|due_ms| *due_ms <= now_ms);
            read.push(match (due_ms, marks.send_started_at.is_some(), message.status) {
                (Some(_), true, MessageStatus::Claimed) => DueMessage::StuckSend(account.clone(), id.clone()),
                (Some(seen_due_ms), false, MessageStatus::Scheduled | MessageStatus::Held | MessageStatus::Claimed) => {
                    DueMessage::Claimable(Box::new(ClaimedMessage {
                        account: account.clone(),
                        message,
                        claim_token: uuid::Uuid::new_v4().to_string(),
                        cap_counted: marks.cap_counted,
                        unwritten: Some(UnwrittenClaim { seen_due_ms, at: now, until: now + lease }),
                    }))
                }
                _ => DueMessage::Gone,
            });
        }
        Ok(read)
    }

    /// Writes a claim read but not yet written, alone (for the work that
    /// needs it held first); the claim as written, or `None` when the
    /// message changed since it was read.
    pub async fn write_claim(&self, claimed: &ClaimedMessage) -> Result<Option<ClaimedMessage>, StoreError> {
        let Some(unwritten) = claimed.unwritten else { return Ok(Some(claimed.clone())) };
        let update = ConditionalUpdate::on(keys::message(&claimed.account, &claimed.message.id))
            .claiming(&claimed.account, &claimed.message.id, &claimed.claim_token, unwritten.at, unwritten.until)?
            .held_by(claimed);
        Ok(update.apply(self, ReturnValue::None).await?.map(|_| ClaimedMessage { unwritten: None, ..claimed.clone() }))
    }

    /// Reads what each message is rendered from: the settings, recipient,
    /// subject, template, suppression and consent, each record once however
    /// many messages share it, 100 keys to a BatchGetItem.
    pub async fn render_contexts(&self, messages: &[ContextKeys]) -> Result<Vec<RenderContext>, StoreError> {
        let wanted: Vec<Vec<keys::ItemKey>> = messages.iter().map(ContextKeys::wanted).collect();
        let mut unique: Vec<keys::ItemKey> = wanted.iter().flatten().cloned().collect();
        unique.sort_by(|a, b| (&a.pk, &a.sk).cmp(&(&b.pk, &b.sk)));
        unique.dedup();
        let reads = unique.chunks(100).map(|chunk| self.batch_get(chunk));
        let mut found: std::collections::HashMap<keys::ItemKey, super::Item> = std::collections::HashMap::new();
        for item in futures::future::try_join_all(reads).await?.into_iter().flatten() {
            if let (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) = (item.get(keys::PK), item.get(keys::SK))
            {
                found.insert(keys::ItemKey { pk: pk.clone(), sk: sk.clone() }, item);
            }
        }
        wanted.iter().map(|keys| RenderContext::from_items(keys.iter().filter_map(|key| found.get(key)))).collect()
    }
}

impl RenderContext {
    fn from_items<'a>(items: impl Iterator<Item = &'a super::Item>) -> Result<Self, StoreError> {
        let mut context = RenderContext::default();
        for item in items {
            let item = item.clone();
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
}

impl Store {
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
            .held_by(claimed)
            .value(
                ":account_status",
                s(keys::account_status(&claimed.account, MessageStatus::Held, &claimed.message.id)),
            )
            .value(":held", status(MessageStatus::Held))
            .value(":reason", to_attribute("message", &reason)?)
            .value(":due_ms", n(due.timestamp_millis()))
            .value(":due_at", to_attribute("message", &due)?);
        Ok(update.apply(self, ReturnValue::None).await?.is_some())
    }

    /// Stores what each claimed message will say, as rendered, and puts it
    /// in its recipient's thread; with it, the route its replies will take
    /// (`ReplyRoute::of_sent`) points at it. A claim not yet written is
    /// written by the same write. Up to 50 messages go in one transaction;
    /// one whose claim no longer holds is left out and the rest written.
    /// Per message, in order, whether it was stored.
    pub async fn store_rendered(&self, rendered: &[Rendered], now: DateTime<Utc>) -> Result<Vec<bool>, StoreError> {
        let mut stored = vec![false; rendered.len()];
        for group in transaction_groups(rendered) {
            let mut left = group;
            while !left.is_empty() {
                let mut request = self.client.transact_write_items();
                // Each message's update, and its route's put after it.
                let mut updates = Vec::with_capacity(left.len());
                for &at in &left {
                    updates.push(request_len(&request));
                    for item in self.rendered_items(&rendered[at], now)? {
                        request = request.transact_items(item);
                    }
                }
                match self.transact(request).await? {
                    Transacted::Applied => {
                        left.iter().for_each(|&at| stored[at] = true);
                        break;
                    }
                    Transacted::ConditionFailed(failed) => {
                        let kept: Vec<usize> = left
                            .iter()
                            .zip(&updates)
                            .filter(|(_, update)| !failed.get(**update).copied().unwrap_or(true))
                            .map(|(at, _)| *at)
                            .collect();
                        if kept.len() == left.len() {
                            return Err(condition_failed_elsewhere());
                        }
                        left = kept;
                    }
                }
            }
        }
        Ok(stored)
    }

    /// The writes that store one rendered message: its update, then its
    /// reply route's put, if it has one.
    fn rendered_items(
        &self,
        rendered: &Rendered,
        now: DateTime<Utc>,
    ) -> Result<Vec<aws_sdk_dynamodb::types::TransactWriteItem>, StoreError> {
        let Rendered { claimed, channel, content } = rendered;
        let (account, message) = (&claimed.account, &claimed.message);
        let mut update = ConditionalUpdate::on(keys::message(account, &message.id))
            .set("content = :content")
            .set("channel = :channel")
            .set("thread_key = :thread_key")
            .set("thread_at = :thread_at")
            .held_by(claimed)
            .value(":content", to_attribute("message", content)?)
            .value(":channel", to_attribute("message", channel)?)
            .value(":thread_key", s(keys::thread(account, &message.recipient_id)))
            .value(":thread_at", n(now.timestamp_millis()));
        if let Some(unwritten) = claimed.unwritten {
            update =
                update.claiming(account, &claimed.message.id, &claimed.claim_token, unwritten.at, unwritten.until)?;
        }
        let mut items = vec![update.transact_item(&self.table)?];
        if let Some(route) = ReplyRoute::of_sent(*channel, content) {
            let target = RouteTarget {
                account_id: account.clone(),
                recipient_id: message.recipient_id.clone(),
                message_id: message.id.clone(),
                at: now,
            };
            let put = aws_sdk_dynamodb::types::Put::builder()
                .table_name(&self.table)
                .set_item(Some(self.route_item(&route, &target)?))
                .build()
                .map_err(|_| StoreError::Corrupt("route"))?;
            items.push(aws_sdk_dynamodb::types::TransactWriteItem::builder().put(put).build());
        }
        Ok(items)
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
            .value(":account_status", s(keys::account_status(account, MessageStatus::Sent, id)))
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
        (retry_at, attempt): (DateTime<Utc>, Attempt),
        refund: Option<Refund>,
    ) -> Result<bool, StoreError> {
        let key = keys::message(account, id);
        let mut update = ConditionalUpdate::on(key.clone());
        if attempt == Attempt::GivenBack {
            update = update.set("attempts = attempts - :one").value(":one", n(1));
        }
        let update = update
            .set("due_shard = :shard")
            .set("due_ms = :retry_at")
            .remove("send_started_at")
            .condition("#status = :claimed AND claim_token = :token")
            .name("#status", "status")
            .value(":claimed", status(MessageStatus::Claimed))
            .value(":token", s(claim_token))
            .value(":shard", s(self.due_shards.of(&key)))
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
        let update = Self::settlement(account, id, settlement)?
            .condition("#status = :claimed AND claim_token = :token")
            .value(":claimed", status(MessageStatus::Claimed))
            .value(":token", s(claim_token));
        self.move_with_refund(account, id, claim_token, update, settlement.refund).await
    }

    /// Records how a message the sweep claimed ended before it was handed
    /// over (its claim written or not): nothing was reserved for it.
    pub async fn end_claimed(&self, claimed: &ClaimedMessage, settlement: &Settlement) -> Result<bool, StoreError> {
        let update = Self::settlement(&claimed.account, &claimed.message.id, settlement)?.held_by(claimed);
        Ok(update.apply(self, ReturnValue::None).await?.is_some())
    }

    fn settlement(
        account: &AccountId,
        id: &MessageId,
        settlement: &Settlement,
    ) -> Result<ConditionalUpdate, StoreError> {
        let mut update = ConditionalUpdate::on(keys::message(account, id))
            .set("#status = :status")
            .set("account_status = :account_status")
            .set("reason = :reason")
            .remove(keys::DUE_SHARD)
            .remove(keys::DUE_MS)
            .name("#status", "status")
            .value(":status", status(settlement.status))
            .value(":account_status", s(keys::account_status(account, settlement.status, id)))
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
        Ok(update)
    }
}

/// The transactions `rendered` is written in, as indexes into it: each
/// within DynamoDB's limits, and naming each reply route once (two
/// messages to one number in a round share its route; the later wins).
fn transaction_groups(rendered: &[Rendered]) -> Vec<Vec<usize>> {
    let mut groups: Vec<(Vec<usize>, usize, usize, std::collections::HashSet<String>)> = Vec::new();
    for (at, one) in rendered.iter().enumerate() {
        let route = ReplyRoute::of_sent(one.channel, &one.content).map(|route| route.key());
        let actions = 1 + usize::from(route.is_some());
        let bytes = one.content.body.len() + one.content.html.as_ref().map_or(0, String::len) + 1024;
        let fits = |(_, taken, size, routes): &&mut (Vec<usize>, usize, usize, std::collections::HashSet<String>)| {
            taken + actions <= ACTIONS_PER_TRANSACTION
                && size + bytes <= RENDERED_BYTES_PER_TRANSACTION
                && route.as_ref().is_none_or(|route| !routes.contains(route))
        };
        match groups.iter_mut().find(|group| fits(group)) {
            Some((members, taken, size, routes)) => {
                members.push(at);
                *taken += actions;
                *size += bytes;
                routes.extend(route);
            }
            None => groups.push((vec![at], actions, bytes, route.into_iter().collect())),
        }
    }
    groups.into_iter().map(|(members, ..)| members).collect()
}

fn request_len(
    request: &aws_sdk_dynamodb::operation::transact_write_items::builders::TransactWriteItemsFluentBuilder,
) -> usize {
    request.get_transact_items().as_ref().map_or(0, Vec::len)
}

/// A transaction cancelled for a condition none of its updates failed.
fn condition_failed_elsewhere() -> StoreError {
    StoreError::Dynamo { operation: "TransactWriteItems", code: "ConditionalCheckFailed".into(), retryable: true }
}
