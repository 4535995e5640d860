//! A store in memory, for the services' unit tests. It keeps each record
//! under the key the table gives it, and holds to the conditions the
//! services' rules rely on: a message is created once (or again once
//! withdrawn), a claim succeeds once per lease and only while no send has
//! started, only the claim's holder holds, renders or settles the message,
//! a message takes a cap slot once, staff are told once per message and
//! kind, and an appointment is not written over a notice that went out
//! since it was read. Due pages are read in the index's order.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};

use super::calls::CallDeadline;
use super::keys::{self, ItemKey};
use super::notifications::Suppression;
use super::ports::{
    AppointmentRecords, BalanceSettings, CallDeadlines, Caps, Claims, Consents, ContactLinks, DueWork, FormRecords,
    InvoiceRecords, MessageListings, MessagePlanning, Notifying, RecipientRecords, Rendering, SenderRegistry,
    SettingsRecords, TemplateRecords,
};
use super::{
    condition_failed, AppointmentLinks, CapSlot, ClaimedMessage, ContextKeys, DueCursor, DueMessage, DuePage, Item,
    ListingFrom, MessageListing, MessagePage, RenderContext, Rendered, Settlement, StoreError, UnwrittenClaim,
};
use crate::domain::copies::ContactLink;
use crate::domain::form::Form;
use crate::domain::{
    AccountId, AccountSettings, Appointment, AppointmentId, Channel, Consent, CreditSettings, FormId, Invoice,
    InvoiceId, Message, MessageId, MessageKind, MessageNotice, MessageStatus, NoticeState, Notification,
    NotificationKind, Recipient, RecipientId, StatusReason, TemplateSource,
};

/// A message and what its record keeps besides.
#[derive(Debug, Clone)]
struct StoredMessage {
    message: Message,
    /// Its `due_ms`: set while it is in the due index.
    due: Option<DateTime<Utc>>,
    send_started_at: Option<DateTime<Utc>>,
    cap_counted: bool,
}

impl StoredMessage {
    fn held_by(&self, claim_token: &str) -> bool {
        self.message.status == MessageStatus::Claimed && self.message.claim_token.as_deref() == Some(claim_token)
    }

    /// Whether `claimed` holds it: its claim written, or still to be and
    /// the message as it was read.
    fn holds(&self, claimed: &ClaimedMessage) -> bool {
        self.held_by(&claimed.claim_token)
            || claimed.unwritten.is_some_and(|unwritten| {
                self.claimable() && self.due.map(|due| due.timestamp_millis()) == Some(unwritten.seen_due_ms)
            })
    }

    fn claimable(&self) -> bool {
        self.message.status.is_live() && self.send_started_at.is_none()
    }

    /// Writes the claim `claimed` read, if it is not written yet.
    fn write_claim(&mut self, claimed: &ClaimedMessage) {
        if let Some(unwritten) = claimed.unwritten {
            self.message.status = MessageStatus::Claimed;
            self.message.claim_token = Some(claimed.claim_token.clone());
            self.message.claimed_at = Some(unwritten.at);
            self.due = Some(unwritten.until);
        }
    }
}

#[derive(Default)]
struct Tables {
    settings: HashMap<ItemKey, AccountSettings>,
    templates: HashMap<ItemKey, TemplateSource>,
    senders: HashMap<ItemKey, AccountId>,
    credit_settings: HashMap<ItemKey, CreditSettings>,
    recipients: HashMap<ItemKey, Recipient>,
    appointments: HashMap<ItemKey, (Appointment, AppointmentLinks)>,
    invoices: HashMap<ItemKey, (Invoice, Vec<MessageId>)>,
    messages: HashMap<ItemKey, StoredMessage>,
    suppressions: HashMap<ItemKey, Suppression>,
    consents: HashMap<ItemKey, Consent>,
    /// Messages counted per cap period.
    caps: HashMap<ItemKey, u32>,
    /// `NOTICE#{kind}` marks: staff were told.
    told: HashSet<ItemKey>,
    notifications: Vec<(AccountId, Notification)>,
    /// Each call's deadline, and when it is due (asked again) next.
    deadlines: HashMap<ItemKey, (CallDeadline, DateTime<Utc>)>,
    forms: HashMap<ItemKey, Form>,
    contacts: HashMap<ItemKey, ContactLink>,
}

impl Tables {
    fn message(&mut self, account: &AccountId, id: &MessageId) -> Option<&mut StoredMessage> {
        self.messages.get_mut(&keys::message(account, id))
    }
}

/// The tables, shared by its clones: a test keeps one to look at what the
/// service under test did.
#[derive(Clone, Default)]
pub(crate) struct MemoryStore(Arc<Mutex<Tables>>);

impl MemoryStore {
    fn tables(&self) -> MutexGuard<'_, Tables> {
        // A poisoned lock only means another test thread panicked.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The message as stored now.
    pub(crate) fn message(&self, account: &AccountId, id: &MessageId) -> Option<Message> {
        self.tables().message(account, id).map(|stored| stored.message.clone())
    }

    /// Starts the one send a claim allows, as delivery does
    /// (`Store::start_send`): the message stays due, at the end of the
    /// send's lease. Whether this claim could start it.
    pub(crate) fn start_send(
        &self,
        account: &AccountId,
        id: &MessageId,
        claim_token: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> bool {
        let mut tables = self.tables();
        let Some(stored) =
            tables.message(account, id).filter(|s| s.held_by(claim_token) && s.send_started_at.is_none())
        else {
            return false;
        };
        stored.send_started_at = Some(now);
        stored.message.attempts += 1;
        stored.due = Some(now + lease);
        true
    }

    /// Every message of the account.
    pub(crate) fn messages(&self, account: &AccountId) -> Vec<Message> {
        let tables = self.tables();
        let ours = |key: &ItemKey| keys::account_of_message(&key.pk).is_some_and(|(a, _)| &a == account);
        tables.messages.iter().filter(|(key, _)| ours(key)).map(|(_, stored)| stored.message.clone()).collect()
    }

    /// What staff of the account were told.
    pub(crate) fn notifications(&self, account: &AccountId) -> Vec<Notification> {
        let tables = self.tables();
        tables.notifications.iter().filter(|(a, _)| a == account).map(|(_, n)| n.clone()).collect()
    }

    /// The credit settings the account's balance carries.
    pub(crate) fn credit_settings(&self, account: &AccountId) -> Option<CreditSettings> {
        self.tables().credit_settings.get(&keys::balance(account)).copied()
    }

    pub(crate) fn register_sender(&self, channel: Channel, sender: &str, account: &AccountId) {
        self.tables().senders.insert(keys::sender(channel, sender), account.clone());
    }

    pub(crate) fn suppress(&self, account: &AccountId, recipient: &RecipientId, channel: Channel, what: Suppression) {
        self.tables().suppressions.insert(keys::suppression(account, recipient, channel), what);
    }

    pub(crate) fn set_call_deadline(&self, deadline: &CallDeadline) {
        let key = keys::call_deadline(&deadline.account, &deadline.message_id, &deadline.transaction_id);
        self.tables().deadlines.insert(key, (deadline.clone(), deadline.at));
    }

    /// The calls whose deadlines are kept.
    pub(crate) fn call_deadlines(&self) -> Vec<CallDeadline> {
        self.tables().deadlines.values().map(|(deadline, _)| deadline.clone()).collect()
    }
}

fn due_cursor(due: DateTime<Utc>, key: &ItemKey) -> DueCursor {
    let mut item = Item::new();
    item.insert(keys::DUE_MS.to_owned(), AttributeValue::N(due.timestamp_millis().to_string()));
    item.insert(keys::PK.to_owned(), AttributeValue::S(key.pk.clone()));
    DueCursor(item)
}

/// Where in the due index a cursor stands.
fn cursor_position(cursor: &DueCursor) -> Option<(i64, String)> {
    let due = cursor.0.get(keys::DUE_MS)?.as_n().ok()?.parse().ok()?;
    let pk = cursor.0.get(keys::PK)?.as_s().ok()?.clone();
    Some((due, pk))
}

#[async_trait]
impl DueWork for MemoryStore {
    async fn due_shards(&self) -> keys::DueShards {
        keys::DueShards::DEFAULT
    }

    async fn due_messages(
        &self,
        shard: u32,
        now: DateTime<Utc>,
        limit: i32,
        after: Option<&DueCursor>,
    ) -> Result<DuePage, StoreError> {
        let tables = self.tables();
        let limit = usize::try_from(limit).unwrap_or_default();
        let shard = keys::due_shard_name(shard);
        let mut due: Vec<(DateTime<Utc>, &ItemKey)> = tables
            .messages
            .iter()
            .filter(|(key, _)| keys::DueShards::DEFAULT.of(key) == shard)
            .filter_map(|(key, stored)| stored.due.filter(|at| *at <= now).map(|at| (at, key)))
            .collect();
        due.sort_by(|a, b| (a.0, &a.1.pk).cmp(&(b.0, &b.1.pk)));
        let start = after.and_then(cursor_position);
        let page: Vec<_> = due
            .into_iter()
            .filter(|(at, key)| {
                start.as_ref().is_none_or(|start| (at.timestamp_millis(), &key.pk) > (start.0, &start.1))
            })
            .take(limit)
            .collect();
        // Like a query, a full page says where the next begins.
        let next = page.last().filter(|_| page.len() == limit).map(|(at, key)| due_cursor(*at, key));
        let due = page.into_iter().filter_map(|(_, key)| keys::account_of_message(&key.pk)).collect();
        Ok(DuePage { due, next })
    }
}

#[async_trait]
impl Claims for MemoryStore {
    async fn read_due(
        &self,
        due: &[(AccountId, MessageId)],
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Vec<DueMessage>, StoreError> {
        let mut tables = self.tables();
        Ok(due
            .iter()
            .map(|(account, id)| match tables.message(account, id) {
                Some(stored) if stored.due.is_some_and(|due| due <= now) => {
                    if stored.message.status == MessageStatus::Claimed && stored.send_started_at.is_some() {
                        DueMessage::StuckSend(account.clone(), id.clone())
                    } else if stored.claimable() {
                        DueMessage::Claimable(Box::new(ClaimedMessage {
                            account: account.clone(),
                            message: stored.message.clone(),
                            claim_token: uuid::Uuid::new_v4().to_string(),
                            cap_counted: stored.cap_counted,
                            unwritten: stored.due.map(|due| UnwrittenClaim {
                                seen_due_ms: due.timestamp_millis(),
                                at: now,
                                until: now + lease,
                            }),
                        }))
                    } else {
                        DueMessage::Gone
                    }
                }
                _ => DueMessage::Gone,
            })
            .collect())
    }

    async fn write_claim(&self, claimed: &ClaimedMessage) -> Result<Option<ClaimedMessage>, StoreError> {
        let mut tables = self.tables();
        let Some(stored) = tables.message(&claimed.account, &claimed.message.id) else { return Ok(None) };
        if !stored.holds(claimed) {
            return Ok(None);
        }
        stored.write_claim(claimed);
        Ok(Some(ClaimedMessage { unwritten: None, ..claimed.clone() }))
    }

    async fn hold_claimed(
        &self,
        claimed: &ClaimedMessage,
        due: DateTime<Utc>,
        reason: StatusReason,
    ) -> Result<bool, StoreError> {
        let mut tables = self.tables();
        let Some(stored) = tables.message(&claimed.account, &claimed.message.id) else { return Ok(false) };
        if !stored.holds(claimed) {
            return Ok(false);
        }
        stored.message.status = MessageStatus::Held;
        stored.message.reason = Some(reason);
        stored.message.due_at = due;
        stored.message.claim_token = None;
        stored.due = Some(due);
        Ok(true)
    }

    async fn end_claimed(&self, claimed: &ClaimedMessage, settlement: &Settlement) -> Result<bool, StoreError> {
        let mut tables = self.tables();
        let Some(stored) = tables.message(&claimed.account, &claimed.message.id) else { return Ok(false) };
        if !stored.holds(claimed) {
            return Ok(false);
        }
        let message = &mut stored.message;
        message.status = settlement.status;
        message.reason = settlement.reason;
        message.sent_at = settlement.sent_at.or(message.sent_at);
        if let Some((_, provider_id)) = &settlement.provider {
            message.provider_message_id = Some(provider_id.clone());
        }
        message.notice = settlement.notice.clone().or(message.notice.take());
        stored.due = None;
        Ok(true)
    }

    async fn recover_stuck_send(
        &self,
        account: &AccountId,
        id: &MessageId,
        now: DateTime<Utc>,
    ) -> Result<Option<Message>, StoreError> {
        let mut tables = self.tables();
        let Some(stored) = tables.message(account, id) else { return Ok(None) };
        let stuck = stored.message.status == MessageStatus::Claimed
            && stored.send_started_at.is_some()
            && stored.due.is_some_and(|due| due <= now);
        if !stuck {
            return Ok(None);
        }
        let message = &mut stored.message;
        message.status = MessageStatus::Sent;
        message.reason = Some(StatusReason::OutcomeUnknown);
        message.sent_at = stored.send_started_at;
        message.notice = Some(MessageNotice::new(NotificationKind::DeliveryUnknown, "send_not_settled"));
        stored.due = None;
        Ok(Some(stored.message.clone()))
    }
}

#[async_trait]
impl Rendering for MemoryStore {
    async fn render_contexts(&self, messages: &[ContextKeys]) -> Result<Vec<RenderContext>, StoreError> {
        let tables = self.tables();
        Ok(messages
            .iter()
            .map(|wanted| {
                let (account, recipient, channel) = (&wanted.account, &wanted.recipient, wanted.channel);
                let appointment =
                    wanted.appointment.as_ref().and_then(|id| tables.appointments.get(&keys::appointment(account, id)));
                RenderContext {
                    settings: tables.settings.get(&keys::settings(account)).cloned(),
                    recipient: tables.recipients.get(&keys::recipient(account, recipient)).cloned(),
                    appointment: appointment.map(|(appointment, _)| appointment.clone()),
                    notified: appointment.and_then(|(_, links)| links.notified.clone()),
                    invoice: wanted
                        .invoice
                        .as_ref()
                        .and_then(|id| tables.invoices.get(&keys::invoice(account, id)))
                        .map(|(invoice, _)| invoice.clone()),
                    template: tables.templates.get(&keys::template(account, wanted.kind, channel)).cloned(),
                    suppressed: tables.suppressions.get(&keys::suppression(account, recipient, channel)).cloned(),
                    consent: tables.consents.get(&keys::consent(account, recipient, channel)).cloned(),
                }
            })
            .collect())
    }

    async fn store_rendered(&self, rendered: &[Rendered], _now: DateTime<Utc>) -> Result<Vec<bool>, StoreError> {
        let mut tables = self.tables();
        Ok(rendered
            .iter()
            .map(|Rendered { claimed, channel, content }| {
                let Some(stored) = tables.message(&claimed.account, &claimed.message.id) else { return false };
                if !stored.holds(claimed) {
                    return false;
                }
                stored.write_claim(claimed);
                stored.message.content = Some(content.clone());
                stored.message.channel = *channel;
                true
            })
            .collect())
    }

    async fn set_notified(
        &self,
        account: &AccountId,
        appointment: &AppointmentId,
        state: &NoticeState,
    ) -> Result<(), StoreError> {
        let mut tables = self.tables();
        let (_, links) =
            tables.appointments.get_mut(&keys::appointment(account, appointment)).ok_or_else(condition_failed)?;
        links.notified = Some(state.clone());
        Ok(())
    }
}

#[async_trait]
impl Caps for MemoryStore {
    async fn take_cap_slot(
        &self,
        claimed: &ClaimedMessage,
        limits: [(String, Option<u32>); 2],
        _expires: DateTime<Utc>,
    ) -> Result<CapSlot, StoreError> {
        let mut tables = self.tables();
        let (account, recipient) = (&claimed.account, &claimed.message.recipient_id);
        let holds = tables
            .message(account, &claimed.message.id)
            .is_some_and(|stored| stored.message.claim_token.as_deref() == Some(claimed.claim_token.as_str()));
        if !holds {
            return Ok(CapSlot::ClaimLost);
        }
        let slots: Vec<(ItemKey, u32)> = limits
            .into_iter()
            .filter_map(|(period, limit)| limit.map(|limit| (keys::cap(account, recipient, &period), limit)))
            .collect();
        // Both slots or neither, as in one transaction.
        if slots.iter().any(|(key, limit)| tables.caps.get(key).copied().unwrap_or_default() >= *limit) {
            return Ok(CapSlot::Reached);
        }
        for (key, _) in slots {
            *tables.caps.entry(key).or_default() += 1;
        }
        if let Some(stored) = tables.message(account, &claimed.message.id) {
            stored.cap_counted = true;
        }
        Ok(CapSlot::Taken)
    }
}

#[async_trait]
impl Consents for MemoryStore {
    async fn consent(
        &self,
        account: &AccountId,
        recipient: &RecipientId,
        channel: Channel,
    ) -> Result<Option<Consent>, StoreError> {
        Ok(self.tables().consents.get(&keys::consent(account, recipient, channel)).cloned())
    }

    async fn change_consent(
        &self,
        account: &AccountId,
        recipient: &RecipientId,
        consent: &Consent,
    ) -> Result<bool, StoreError> {
        let previous =
            self.tables().consents.insert(keys::consent(account, recipient, consent.channel), consent.clone());
        Ok(previous.is_none_or(|p| p.state != consent.state || p.address != consent.address))
    }

    async fn mark_consent_requested(
        &self,
        account: &AccountId,
        recipient: &RecipientId,
        requested: &Consent,
    ) -> Result<bool, StoreError> {
        let mut tables = self.tables();
        let key = keys::consent(account, recipient, requested.channel);
        let answered = tables.consents.get(&key).is_some_and(|current| {
            current.address == requested.address && current.state != crate::domain::ConsentState::Requested
        });
        if !answered {
            tables.consents.insert(key, requested.clone());
        }
        Ok(!answered)
    }
}

#[async_trait]
impl Notifying for MemoryStore {
    async fn add_notification(&self, account: &AccountId, notification: &Notification) -> Result<(), StoreError> {
        self.tables().notifications.push((account.clone(), notification.clone()));
        Ok(())
    }

    async fn notify_once(
        &self,
        account: &AccountId,
        message: &Message,
        notice: &MessageNotice,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tables = self.tables();
        if !tables.told.insert(keys::message_notice(account, &message.id, notice.kind.as_str())) {
            return Ok(false);
        }
        let notification = Notification::new(notice.kind, now)
            .about(&message.recipient_id, &message.id, message.channel)
            .detail(notice.detail.clone());
        tables.notifications.push((account.clone(), notification));
        Ok(true)
    }
}

#[async_trait]
impl CallDeadlines for MemoryStore {
    async fn due_call_deadlines(&self, now: DateTime<Utc>, limit: i32) -> Result<Vec<CallDeadline>, StoreError> {
        let tables = self.tables();
        let mut due: Vec<&(CallDeadline, DateTime<Utc>)> =
            tables.deadlines.values().filter(|(_, at)| *at <= now).collect();
        due.sort_by_key(|(_, at)| *at);
        Ok(due.into_iter().take(usize::try_from(limit).unwrap_or_default()).map(|(d, _)| d.clone()).collect())
    }

    async fn postpone_call_deadline(&self, deadline: &CallDeadline, retry_at: DateTime<Utc>) -> Result<(), StoreError> {
        let key = keys::call_deadline(&deadline.account, &deadline.message_id, &deadline.transaction_id);
        if let Some((_, due)) = self.tables().deadlines.get_mut(&key) {
            *due = retry_at;
        }
        Ok(())
    }

    async fn clear_call_deadline(
        &self,
        account: &AccountId,
        message_id: &MessageId,
        transaction_id: &str,
    ) -> Result<(), StoreError> {
        self.tables().deadlines.remove(&keys::call_deadline(account, message_id, transaction_id));
        Ok(())
    }
}

#[async_trait]
impl ContactLinks for MemoryStore {
    async fn put_contact_link(&self, account: &AccountId, link: &ContactLink) -> Result<(), StoreError> {
        self.tables().contacts.insert(keys::contact_link(account, &link.client_id, &link.contact_id), link.clone());
        Ok(())
    }

    async fn delete_contact_link(
        &self,
        account: &AccountId,
        client: &RecipientId,
        contact: &RecipientId,
    ) -> Result<bool, StoreError> {
        Ok(self.tables().contacts.remove(&keys::contact_link(account, client, contact)).is_some())
    }

    async fn contact_links(&self, account: &AccountId, client: &RecipientId) -> Result<Vec<ContactLink>, StoreError> {
        let partition = keys::contact_link(account, client, client).pk;
        let tables = self.tables();
        let mut links: Vec<ContactLink> =
            tables.contacts.iter().filter(|(key, _)| key.pk == partition).map(|(_, link)| link.clone()).collect();
        links.sort_by(|a, b| a.contact_id.as_str().cmp(b.contact_id.as_str()));
        Ok(links)
    }
}

#[async_trait]
impl FormRecords for MemoryStore {
    async fn get_form(&self, account: &AccountId, id: &FormId) -> Result<Option<Form>, StoreError> {
        Ok(self.tables().forms.get(&keys::form(account, id)).cloned())
    }
}

#[async_trait]
impl SettingsRecords for MemoryStore {
    async fn get_settings(&self, account: &AccountId) -> Result<Option<AccountSettings>, StoreError> {
        Ok(self.tables().settings.get(&keys::settings(account)).cloned())
    }

    async fn put_settings(&self, account: &AccountId, settings: &AccountSettings) -> Result<(), StoreError> {
        self.tables().settings.insert(keys::settings(account), settings.clone());
        Ok(())
    }
}

#[async_trait]
impl TemplateRecords for MemoryStore {
    async fn get_template(
        &self,
        account: &AccountId,
        kind: MessageKind,
        channel: Channel,
    ) -> Result<Option<TemplateSource>, StoreError> {
        Ok(self.tables().templates.get(&keys::template(account, kind, channel)).cloned())
    }

    async fn put_template(
        &self,
        account: &AccountId,
        kind: MessageKind,
        channel: Channel,
        template: &TemplateSource,
    ) -> Result<(), StoreError> {
        self.tables().templates.insert(keys::template(account, kind, channel), template.clone());
        Ok(())
    }
}

#[async_trait]
impl SenderRegistry for MemoryStore {
    async fn sender_owner(&self, channel: Channel, sender: &str) -> Result<Option<AccountId>, StoreError> {
        Ok(self.tables().senders.get(&keys::sender(channel, sender)).cloned())
    }
}

#[async_trait]
impl BalanceSettings for MemoryStore {
    async fn set_credit_settings(&self, account: &AccountId, settings: &CreditSettings) -> Result<(), StoreError> {
        self.tables().credit_settings.insert(keys::balance(account), *settings);
        Ok(())
    }
}

#[async_trait]
impl RecipientRecords for MemoryStore {
    async fn get_recipient(&self, account: &AccountId, id: &RecipientId) -> Result<Option<Recipient>, StoreError> {
        Ok(self.tables().recipients.get(&keys::recipient(account, id)).cloned())
    }

    async fn put_recipient(&self, account: &AccountId, recipient: &Recipient) -> Result<(), StoreError> {
        self.tables().recipients.insert(keys::recipient(account, &recipient.id), recipient.clone());
        Ok(())
    }
}

#[async_trait]
impl AppointmentRecords for MemoryStore {
    async fn get_appointment(
        &self,
        account: &AccountId,
        id: &AppointmentId,
    ) -> Result<Option<(Appointment, AppointmentLinks)>, StoreError> {
        Ok(self.tables().appointments.get(&keys::appointment(account, id)).cloned())
    }

    async fn put_appointment(
        &self,
        account: &AccountId,
        appointment: &Appointment,
        links: &AppointmentLinks,
        told_when_read: Option<&NoticeState>,
    ) -> Result<bool, StoreError> {
        let mut tables = self.tables();
        let key = keys::appointment(account, &appointment.id);
        let told_now = tables.appointments.get(&key).and_then(|(_, links)| links.notified.as_ref());
        if told_now != told_when_read {
            return Ok(false);
        }
        tables.appointments.insert(key, (appointment.clone(), links.clone()));
        Ok(true)
    }
}

#[async_trait]
impl InvoiceRecords for MemoryStore {
    async fn get_invoice(
        &self,
        account: &AccountId,
        id: &InvoiceId,
    ) -> Result<Option<(Invoice, Vec<MessageId>)>, StoreError> {
        Ok(self.tables().invoices.get(&keys::invoice(account, id)).cloned())
    }

    async fn put_invoice(
        &self,
        account: &AccountId,
        invoice: &Invoice,
        message_ids: Vec<MessageId>,
    ) -> Result<(), StoreError> {
        self.tables().invoices.insert(keys::invoice(account, &invoice.id), (invoice.clone(), message_ids));
        Ok(())
    }
}

#[async_trait]
impl MessagePlanning for MemoryStore {
    async fn create_message(&self, account: &AccountId, message: &Message) -> Result<bool, StoreError> {
        let mut tables = self.tables();
        let key = keys::message(account, &message.id);
        if tables.messages.get(&key).is_some_and(|stored| stored.message.status != MessageStatus::Withdrawn) {
            return Ok(false);
        }
        let due = message.status.is_live().then_some(message.due_at);
        let stored = StoredMessage { message: message.clone(), due, send_started_at: None, cap_counted: false };
        tables.messages.insert(key, stored);
        Ok(true)
    }

    async fn get_message(&self, account: &AccountId, id: &MessageId) -> Result<Option<Message>, StoreError> {
        Ok(self.message(account, id))
    }

    async fn withdraw_message(
        &self,
        account: &AccountId,
        id: &MessageId,
        reason: StatusReason,
    ) -> Result<bool, StoreError> {
        let mut tables = self.tables();
        let Some(stored) = tables.message(account, id) else { return Ok(false) };
        if !stored.message.status.is_live() || stored.send_started_at.is_some() {
            return Ok(false);
        }
        stored.message.status = MessageStatus::Withdrawn;
        stored.message.reason = Some(reason);
        stored.due = None;
        Ok(true)
    }

    async fn postpone_message(
        &self,
        account: &AccountId,
        id: &MessageId,
        due: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tables = self.tables();
        let Some(stored) = tables.message(account, id) else { return Ok(false) };
        if stored.message.status != MessageStatus::Scheduled {
            return Ok(false);
        }
        stored.message.due_at = due;
        stored.due = Some(due);
        Ok(true)
    }
}

#[async_trait]
impl MessageListings for MemoryStore {
    /// The first page only: the tests' listings fit one.
    async fn list_messages_page(
        &self,
        from: ListingFrom,
        status_filter: Option<MessageStatus>,
        limit: usize,
    ) -> Result<MessagePage, StoreError> {
        assert!(from.is_first_page(), "the memory store lists first pages only");
        let listed = |account: &AccountId, message: &Message| match &from.listing {
            MessageListing::Appointment(a, id) => a == account && message.appointment_id.as_ref() == Some(id),
            MessageListing::Invoice(a, id) => a == account && message.invoice_id.as_ref() == Some(id),
            MessageListing::Recipient(a, id) => a == account && &message.recipient_id == id,
            MessageListing::Status(a, status) => a == account && message.status == *status,
        };
        let tables = self.tables();
        let mut messages: Vec<Message> = tables
            .messages
            .iter()
            .filter_map(|(key, stored)| keys::account_of_message(&key.pk).map(|(account, _)| (account, stored)))
            .filter(|(account, stored)| listed(account, &stored.message))
            .map(|(_, stored)| stored.message.clone())
            .filter(|message| status_filter.is_none_or(|status| message.status == status))
            .collect();
        messages.sort_by(|a, b| (a.due_at, &a.id).cmp(&(b.due_at, &b.id)));
        assert!(messages.len() <= limit.max(1), "the memory store's listings fit one page");
        Ok(MessagePage { messages, next_cursor: None })
    }
}
