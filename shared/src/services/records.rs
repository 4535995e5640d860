//! The practice app's records: settings, recipients, appointments, and the
//! reminders that follow from them.

use chrono::{DateTime, Duration, Utc};

use crate::domain::appointment::{PlannedReminder, ReminderTiming};
use crate::domain::copies::{ContactLink, CopyOf, InvalidContactLink};
use crate::domain::invoice::PlannedInvoiceMessage;
use crate::domain::recipient::MissingAddress;
use crate::domain::settings::SettingsError;
use crate::domain::text::{self, InvalidText};
use crate::domain::{
    sms_length, AccountId, AccountSettings, Address, Appointment, AppointmentFields, AppointmentId,
    AppointmentNoticeSettings, AppointmentReminderSettings, AppointmentStatus, Channel, Clock, Invoice, InvoiceId,
    Message, MessageId, MessageKind, MessageStatus, NoticeChange, NoticeFields, Recipient, RecipientId,
    RenderedContent, SendingWindow, SmsLength, StatusReason, TemplateError, TemplateSource, Templates,
};
use crate::events::{BusEvent, EventPublisher, OptInNeeded};
use crate::store::ports::RecordsStore;
use crate::store::{AppointmentLinks, InvalidCursor, MessageListing, MessagePage, StoreError};
use std::sync::Arc;

/// What a client answered about an appointment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAnswer {
    Confirm,
    Cancel,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    #[error(transparent)]
    InvalidSettings(#[from] SettingsError),
    #[error(transparent)]
    MissingAddress(#[from] MissingAddress),
    #[error(transparent)]
    InvalidText(#[from] InvalidText),
    #[error("no recipient with this id exists in the account")]
    UnknownRecipient,
    #[error("a booked appointment cannot start in the past")]
    StartInPast,
    #[error("no appointment with this id exists in the account")]
    UnknownAppointment,
    #[error("senders: the {channel} sender is not assigned to this account by the deployment's operator")]
    UnregisteredSender { channel: &'static str },
    #[error("no invoice with this id exists in the account")]
    UnknownInvoice,
    #[error("no recipient with this id exists in the account")]
    UnknownRecipientFilter,
    #[error(transparent)]
    InvalidContactLink(#[from] InvalidContactLink),
    #[error("the client has no contact with this id")]
    UnknownContact,
    #[error("dates more than {HORIZON_YEARS} years away are refused")]
    TooFar,
    #[error("amount_cents must be a positive whole number of cents")]
    InvalidAmount,
    #[error("pay_url must be an https:// link of at most 500 characters")]
    InvalidPayUrl,
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    InvalidCursor(#[from] InvalidCursor),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a listing of messages is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessagesAbout {
    Appointment(AppointmentId),
    Invoice(InvoiceId),
    Recipient(RecipientId),
}

/// How far ahead an appointment or back and ahead an invoice's due date may
/// be: beyond it a date is a typo, and date arithmetic stays in range.
pub const HORIZON_YEARS: i64 = 10;

fn within_horizon(at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), RecordsError> {
    let horizon = Duration::days(366 * HORIZON_YEARS);
    if (at - now).abs() > horizon {
        return Err(RecordsError::TooFar);
    }
    Ok(())
}

/// A template rendered against sample data, with its SMS cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplatePreview {
    pub content: RenderedContent,
    pub sms: Option<SmsLength>,
}

/// What an appointment upsert did to its reminders.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReminderChanges {
    pub scheduled: Vec<Message>,
    pub withdrawn: usize,
    /// When the appointment's notice will go, if one is pending.
    pub notice_due_at: Option<DateTime<Utc>>,
}

pub struct RecordsService {
    store: Arc<dyn RecordsStore>,
    clock: Arc<dyn Clock>,
    templates: Arc<Templates>,
    sending_window: SendingWindow,
    /// Where a recipient's need to opt in is announced (`OptInNeeded`).
    bus: Arc<dyn EventPublisher>,
}

impl RecordsService {
    pub fn new(
        store: impl RecordsStore + 'static,
        clock: Arc<dyn Clock>,
        templates: Arc<Templates>,
        bus: Arc<dyn EventPublisher>,
    ) -> Self {
        Self { store: Arc::new(store), clock, templates, sending_window: SendingWindow::default(), bus }
    }

    /// In a deployment whose sending window is not the default.
    pub fn with_sending_window(self, sending_window: SendingWindow) -> Self {
        Self { sending_window, ..self }
    }

    /// The widest hours an account may send in: also its hours when it
    /// chooses none.
    pub fn sending_window(&self) -> SendingWindow {
        self.sending_window
    }

    /// Saves an account's template after checking it; a template that does
    /// not check out leaves the one in force as it was.
    pub async fn put_template(
        &self,
        account: &AccountId,
        kind: MessageKind,
        channel: Channel,
        template: &TemplateSource,
    ) -> Result<(), RecordsError> {
        self.templates.validate(kind, channel, template)?;
        Ok(self.store.put_template(account, kind, channel, template).await?)
    }

    /// The account's template, or the built-in one; `true` when it is the account's own.
    pub async fn template_in_force(
        &self,
        account: &AccountId,
        kind: MessageKind,
        channel: Channel,
    ) -> Result<(TemplateSource, bool), RecordsError> {
        let default = self.templates.default_source(kind, channel)?;
        Ok(match self.store.get_template(account, kind, channel).await? {
            Some(custom) => (custom, true),
            None => (default, false),
        })
    }

    /// Renders `draft`, or the template in force, against sample data.
    pub async fn preview_template(
        &self,
        account: &AccountId,
        kind: MessageKind,
        channel: Channel,
        draft: Option<TemplateSource>,
    ) -> Result<TemplatePreview, RecordsError> {
        let source = match draft {
            Some(draft) => {
                self.templates.validate(kind, channel, &draft)?;
                draft
            }
            None => self.template_in_force(account, kind, channel).await?.0,
        };
        let settings = self.store.get_settings(account).await?;
        let mut appointment =
            AppointmentFields::sample(settings.as_ref().map_or(crate::domain::TimeZone::UTC, |s| s.time_zone));
        if let Some(settings) = settings {
            appointment.practice_name = settings.practice_name;
            appointment.practice_phone = settings.practice_phone.to_string();
        }
        // A notice previews as a change, the longest of its wordings.
        let fields = NoticeFields { appointment, change: NoticeChange::Changed.as_str() };
        // Constants that parse by construction, not input.
        let to = match channel {
            Channel::Email => Address::Email("alex@example.com".parse().expect("sample email address")),
            _ => Address::Phone("+12025550143".parse().expect("sample phone number")),
        };
        let content = self.templates.render(kind, channel, Some(&source), &to, &fields)?;
        let sms = (channel == Channel::Sms).then(|| sms_length(&content.body));
        Ok(TemplatePreview { content, sms })
    }

    pub async fn put_settings(&self, account: &AccountId, settings: &AccountSettings) -> Result<(), RecordsError> {
        settings.validate(self.sending_window)?;
        // A practice sends only as what the operator assigned to it, never
        // as another practice's identity or number.
        for (channel, sender) in settings.senders.named() {
            if self.store.sender_owner(channel, &sender).await?.as_ref() != Some(account) {
                return Err(RecordsError::UnregisteredSender { channel: channel.as_str() });
            }
        }
        self.store.put_settings(account, settings).await?;
        // The balance carries its alert settings, read with it on each send.
        Ok(self.store.set_credit_settings(account, &settings.credit).await?)
    }

    pub async fn put_recipient(&self, account: &AccountId, recipient: &Recipient) -> Result<(), RecordsError> {
        text::check("first_name", &recipient.first_name)?;
        text::check("last_name", &recipient.last_name)?;
        recipient.address()?;
        Ok(self.store.put_recipient(account, recipient).await?)
    }

    /// Upserts an appointment and brings its reminders in line with it:
    /// reminders for a former start are withdrawn, reminders for the current
    /// one are scheduled. Replaying the same upsert changes nothing.
    pub async fn put_appointment(
        &self,
        account: &AccountId,
        appointment: &Appointment,
    ) -> Result<ReminderChanges, RecordsError> {
        text::check("provider", &appointment.provider)?;
        text::check("location", &appointment.location)?;
        if let Some(kind) = &appointment.appointment_type {
            text::check("appointment_type", kind)?;
        }
        // A notice going out between our read and our write changes what was
        // told; the write then does not apply and the upsert runs again on
        // fresh state (everything before the write is idempotent).
        for _ in 0..3 {
            if let Some(changes) = self.upsert_appointment(account, appointment).await? {
                return Ok(changes);
            }
        }
        Err(RecordsError::Store(StoreError::Dynamo {
            operation: "PutItem",
            code: "ConcurrentNotice".into(),
            retryable: true,
        }))
    }

    /// The client's answer to a message about their appointment (a keypad
    /// reply): confirmation, or cancellation. An appointment that is gone,
    /// cancelled or already started is left as it is. Applying the same
    /// answer again changes nothing.
    pub async fn answer_appointment(
        &self,
        account: &AccountId,
        id: &AppointmentId,
        answer: ClientAnswer,
    ) -> Result<Option<ReminderChanges>, RecordsError> {
        let Some((mut appointment, _)) = self.store.get_appointment(account, id).await? else {
            return Ok(None);
        };
        if appointment.status != AppointmentStatus::Booked || appointment.starts_at <= self.clock.now() {
            return Ok(None);
        }
        match answer {
            ClientAnswer::Confirm => appointment.confirmed = true,
            ClientAnswer::Cancel => appointment.status = AppointmentStatus::Cancelled,
        }
        Ok(Some(self.put_appointment(account, &appointment).await?))
    }

    /// One attempt of [`Self::put_appointment`]; `None` when a notice
    /// changed the record meanwhile.
    async fn upsert_appointment(
        &self,
        account: &AccountId,
        appointment: &Appointment,
    ) -> Result<Option<ReminderChanges>, RecordsError> {
        let previous = self.store.get_appointment(account, &appointment.id).await?;
        if previous.as_ref().is_some_and(|(stored, _)| stored == appointment) {
            // A replay: the first upsert already did everything.
            return Ok(Some(ReminderChanges::default()));
        }
        let now = self.clock.now();
        within_horizon(appointment.starts_at, now)?;
        if appointment.status == AppointmentStatus::Booked && appointment.starts_at <= now {
            return Err(RecordsError::StartInPast);
        }
        let recipient = self
            .store
            .get_recipient(account, &appointment.recipient_id)
            .await?
            .ok_or(RecordsError::UnknownRecipient)?;
        let settings = self.store.get_settings(account).await?;
        let reminder_settings = settings
            .as_ref()
            .map(|s| s.appointment_reminders.clone())
            .unwrap_or_else(AppointmentReminderSettings::default);
        let timing =
            ReminderTiming::for_recipient(settings.as_ref(), &recipient, recipient.channel, self.sending_window);

        let plan = appointment.plan_reminders(&reminder_settings, timing, now);
        let mut changes = ReminderChanges::default();
        let mut links = previous.as_ref().map(|(_, links)| links.clone()).unwrap_or_default();
        // A message for another recipient is withdrawn even if its moment
        // stays: the new recipient gets a fresh one.
        let recipient_changed =
            previous.as_ref().is_some_and(|(stored, _)| stored.recipient_id != appointment.recipient_id);

        let mut messages: Vec<Message> =
            plan.iter().map(|planned| reminder_message(appointment, &recipient, planned, now)).collect();
        messages.extend(
            self.reminder_copies(account, appointment, &recipient, &reminder_settings, settings.as_ref(), now).await?,
        );
        let planned_ids = messages.iter().map(|m| m.id.clone()).collect();
        let reconciled = self
            .reconcile(account, &links.reminder_ids, messages, recipient_changed, StatusReason::AppointmentChanged)
            .await?;
        changes.scheduled = reconciled.scheduled;
        changes.withdrawn = reconciled.withdrawn;
        links.reminder_ids = planned_ids;
        let notices = settings.as_ref().map(|s| s.appointment_notices).unwrap_or_default();
        if notices.enabled {
            let (id, due) = self
                .schedule_notice(account, appointment, &recipient, &links, recipient_changed, timing, notices, now)
                .await?;
            links.pending_notice = id;
            changes.notice_due_at = due;
        }
        // The appointment is written last: if anything above fails, a retry
        // of the same upsert still sees the old links and converges.
        let told_when_read = previous.as_ref().and_then(|(_, links)| links.notified.as_ref());
        if !self.store.put_appointment(account, appointment, &links, told_when_read).await? {
            return Ok(None);
        }
        let scheduled = changes.scheduled.iter().filter(|m| m.status == MessageStatus::Scheduled);
        let first_due = scheduled.map(|m| m.due_at).chain(changes.notice_due_at).min();
        self.announce_opt_in(account, settings.as_ref(), &recipient, first_due).await?;
        Ok(Some(changes))
    }

    /// Makes `link.contact_id` a contact of `link.client_id` (both must
    /// be recipients of the account), copied on what `copy_on` names from
    /// the client's next planning on (an appointment's next upsert).
    pub async fn put_contact(&self, account: &AccountId, link: &ContactLink) -> Result<(), RecordsError> {
        for id in [&link.client_id, &link.contact_id] {
            self.store.get_recipient(account, id).await?.ok_or(RecordsError::UnknownRecipientFilter)?;
        }
        Ok(self.store.put_contact_link(account, link).await?)
    }

    pub async fn contacts(&self, account: &AccountId, client: &RecipientId) -> Result<Vec<ContactLink>, RecordsError> {
        self.store.get_recipient(account, client).await?.ok_or(RecordsError::UnknownRecipientFilter)?;
        Ok(self.store.contact_links(account, client).await?)
    }

    /// Stops copying a contact; copies already planned stay.
    pub async fn delete_contact(
        &self,
        account: &AccountId,
        client: &RecipientId,
        contact: &RecipientId,
    ) -> Result<(), RecordsError> {
        match self.store.delete_contact_link(account, client, contact).await? {
            true => Ok(()),
            false => Err(RecordsError::UnknownContact),
        }
    }

    /// The copies of a client's reminders for each contact copied on them:
    /// planned in the contact's own zone and quiet hours, on their own
    /// channel, named by the client's reminder (so they are withdrawn and
    /// moved with it).
    async fn reminder_copies(
        &self,
        account: &AccountId,
        appointment: &Appointment,
        client: &Recipient,
        reminder_settings: &AppointmentReminderSettings,
        settings: Option<&AccountSettings>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Message>, RecordsError> {
        let mut copies = Vec::new();
        let links = self.store.contact_links(account, &client.id).await?;
        for link in links.into_iter().filter(|link| link.copies(MessageKind::AppointmentReminder)) {
            let Some(contact) = self.store.get_recipient(account, &link.contact_id).await? else { continue };
            let timing = ReminderTiming::for_recipient(settings, &contact, contact.channel, self.sending_window);
            for planned in appointment.plan_reminders(reminder_settings, timing, now) {
                copies.push(copy_of(reminder_message(appointment, &contact, &planned, now), client, &link));
            }
        }
        Ok(copies)
    }

    /// Brings a record's messages in line with its new plan: what the plan
    /// no longer holds (or everything, when the recipient changed) is
    /// withdrawn, what it holds is created unless it exists.
    async fn reconcile(
        &self,
        account: &AccountId,
        previous: &[MessageId],
        planned: Vec<Message>,
        withdraw_all: bool,
        reason: StatusReason,
    ) -> Result<ReminderChanges, RecordsError> {
        let mut changes = ReminderChanges::default();
        let superseded = |id: &&MessageId| withdraw_all || !planned.iter().any(|m| &m.id == *id);
        for id in previous.iter().filter(superseded) {
            if self.store.withdraw_message(account, id, reason).await? {
                changes.withdrawn += 1;
            }
        }
        for message in planned {
            if self.store.create_message(account, &message).await? {
                changes.scheduled.push(message);
            }
        }
        Ok(changes)
    }

    /// Upserts an invoice and brings its billing reminder and late-payment
    /// notices in line with it: paying, voiding or turning reminders off
    /// withdraws what is pending; a new due date plans anew.
    pub async fn put_invoice(&self, account: &AccountId, invoice: &Invoice) -> Result<ReminderChanges, RecordsError> {
        if invoice.amount_cents <= 0 {
            return Err(RecordsError::InvalidAmount);
        }
        if let Some(url) = &invoice.pay_url {
            if !(url.starts_with("https://") && url.len() <= 500 && !url.contains(char::is_whitespace)) {
                return Err(RecordsError::InvalidPayUrl);
            }
        }
        within_horizon(invoice.due_date.and_time(chrono::NaiveTime::MIN).and_utc(), self.clock.now())?;
        let previous = self.store.get_invoice(account, &invoice.id).await?;
        if previous.as_ref().is_some_and(|(stored, _)| stored == invoice) {
            return Ok(ReminderChanges::default());
        }
        let recipient =
            self.store.get_recipient(account, &invoice.recipient_id).await?.ok_or(RecordsError::UnknownRecipient)?;
        let settings = self.store.get_settings(account).await?;
        let now = self.clock.now();
        let zone = recipient.zone(settings.as_ref());
        let invoice_settings = settings.as_ref().map(|s| s.invoice_messages).unwrap_or_default();
        let plan = invoice.plan_messages(&invoice_settings, zone, now);
        let mut messages: Vec<Message> =
            plan.iter().map(|planned| invoice_message(invoice, &recipient, planned, now)).collect();
        // Each contact copied on these kinds gets their own, timed in
        // their own zone and named by the client's.
        for link in self.store.contact_links(account, &recipient.id).await? {
            let Some(contact) = self.store.get_recipient(account, &link.contact_id).await? else { continue };
            let contact_plan = invoice.plan_messages(&invoice_settings, contact.zone(settings.as_ref()), now);
            for planned in contact_plan.iter().filter(|planned| link.copies(planned.kind)) {
                messages.push(copy_of(invoice_message(invoice, &contact, planned, now), &recipient, &link));
            }
        }
        let planned_ids: Vec<MessageId> = messages.iter().map(|m| m.id.clone()).collect();
        let (previous_ids, recipient_changed) = match &previous {
            Some((stored, ids)) => (ids.as_slice(), stored.recipient_id != invoice.recipient_id),
            None => (&[][..], false),
        };
        let changes =
            self.reconcile(account, previous_ids, messages, recipient_changed, StatusReason::InvoiceChanged).await?;
        self.store.put_invoice(account, invoice, planned_ids).await?;
        let first_due =
            changes.scheduled.iter().filter(|m| m.status == MessageStatus::Scheduled).map(|m| m.due_at).min();
        self.announce_opt_in(account, settings.as_ref(), &recipient, first_due).await?;
        Ok(changes)
    }

    /// A page of the messages about a record or to a recipient (`status`
    /// narrows them), or of the account's messages in one status.
    pub async fn messages_page(
        &self,
        account: &AccountId,
        about: Option<MessagesAbout>,
        status: Option<MessageStatus>,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<MessagePage, RecordsError> {
        let narrowed = status.filter(|_| about.is_some());
        let listing = match (about, status) {
            (Some(MessagesAbout::Appointment(id)), _) => {
                if self.store.get_appointment(account, &id).await?.is_none() {
                    return Err(RecordsError::UnknownAppointment);
                }
                MessageListing::Appointment(account.clone(), id)
            }
            (Some(MessagesAbout::Invoice(id)), _) => {
                if self.store.get_invoice(account, &id).await?.is_none() {
                    return Err(RecordsError::UnknownInvoice);
                }
                MessageListing::Invoice(account.clone(), id)
            }
            (Some(MessagesAbout::Recipient(id)), _) => {
                if self.store.get_recipient(account, &id).await?.is_none() {
                    return Err(RecordsError::UnknownRecipientFilter);
                }
                MessageListing::Recipient(account.clone(), id)
            }
            (None, Some(status)) => MessageListing::Status(account.clone(), status),
            (None, None) => return Ok(MessagePage::default()),
        };
        let from = match cursor {
            Some(cursor) => listing.resume(cursor)?,
            None => listing.from_start(),
        };
        Ok(self.store.list_messages_page(from, narrowed, limit).await?)
    }

    /// Debounces notices: an edit while a notice waits restarts its wait, so
    /// a burst of edits sends one notice, with the final state. Whether there
    /// is anything to tell is decided when it goes (an undone edit is not).
    #[allow(clippy::too_many_arguments)]
    async fn schedule_notice(
        &self,
        account: &AccountId,
        appointment: &Appointment,
        recipient: &Recipient,
        links: &AppointmentLinks,
        recipient_changed: bool,
        timing: ReminderTiming,
        notices: AppointmentNoticeSettings,
        now: DateTime<Utc>,
    ) -> Result<(Option<MessageId>, Option<DateTime<Utc>>), RecordsError> {
        let settled = now + Duration::minutes(i64::from(notices.debounce_minutes));
        let due = timing.quiet_hours.map_or(settled, |quiet| quiet.next_allowed(settled, timing.zone));
        if let Some(pending) = &links.pending_notice {
            if recipient_changed {
                self.store.withdraw_message(account, pending, StatusReason::AppointmentChanged).await?;
            } else if self.store.postpone_message(account, pending, due).await? {
                return Ok((Some(pending.clone()), Some(due)));
            }
        }
        if NoticeChange::between(links.notified.as_ref(), &appointment.notice_state()).is_none() {
            return Ok((None, None));
        }
        let id = MessageId::appointment_notice(&appointment.id, now.timestamp_millis());
        let notice = Message {
            appointment_id: Some(appointment.id.clone()),
            ..Message::new(
                id.clone(),
                MessageKind::AppointmentNotice,
                recipient.channel,
                recipient.id.clone(),
                due,
                now,
            )
        };
        self.store.create_message(account, &notice).await?;
        Ok((Some(id), Some(due)))
    }

    /// When the account requires opt-in and the recipient has not given
    /// it on their channel, announces their first new message's due time,
    /// so that their request goes `request_lead_minutes` ahead of it. A
    /// lost announcement is made again by the sweep when it holds the
    /// message, so a failure here is logged, not returned: the records are
    /// written.
    async fn announce_opt_in(
        &self,
        account: &AccountId,
        settings: Option<&AccountSettings>,
        recipient: &Recipient,
        first_due: Option<DateTime<Utc>>,
    ) -> Result<(), RecordsError> {
        let (Some(settings), Some(first_due)) = (settings, first_due) else { return Ok(()) };
        if !settings.opt_in.applies_to(recipient.channel) {
            return Ok(());
        }
        let consent = self.store.consent(account, &recipient.id, recipient.channel).await?;
        let address = recipient.address().ok();
        if consent.is_some_and(|c| address.is_some_and(|a| c.allows(a.as_str()))) {
            return Ok(());
        }
        let need = OptInNeeded {
            account_id: account.clone(),
            recipient_id: recipient.id.clone(),
            channel: recipient.channel,
            first_due_at: first_due,
        };
        if let Err(err) = self.bus.publish(vec![BusEvent::from(&need)]).await {
            tracing::warn!(error = %err, "opt-in need not announced; the sweep announces it when the message is due");
        }
        Ok(())
    }

    pub async fn message(&self, account: &AccountId, id: &MessageId) -> Result<Option<Message>, RecordsError> {
        Ok(self.store.get_message(account, id).await?)
    }
}

/// A message planned for a contact as the copy of the client's message of
/// the same id: renamed after it, and saying whose it is.
fn copy_of(mut message: Message, client: &Recipient, link: &ContactLink) -> Message {
    let original = message.id.clone();
    message.id = MessageId::copy(&original, &link.contact_id);
    message.copy_of = Some(CopyOf {
        client_id: client.id.clone(),
        client_first_name: client.first_name.clone(),
        relationship: link.relationship,
        message_id: original,
    });
    message
}

fn invoice_message(
    invoice: &Invoice,
    recipient: &Recipient,
    planned: &PlannedInvoiceMessage,
    now: DateTime<Utc>,
) -> Message {
    Message {
        status: if planned.skipped.is_some() { MessageStatus::Skipped } else { MessageStatus::Scheduled },
        reason: planned.skipped,
        invoice_id: Some(invoice.id.clone()),
        not_after: planned.not_after,
        ..Message::new(
            planned.message_id.clone(),
            planned.kind,
            recipient.channel,
            recipient.id.clone(),
            planned.due_at,
            now,
        )
    }
}

fn reminder_message(
    appointment: &Appointment,
    recipient: &Recipient,
    planned: &PlannedReminder,
    now: DateTime<Utc>,
) -> Message {
    let (status, reason) = match planned.skipped {
        None => (MessageStatus::Scheduled, None),
        Some(reason) => (MessageStatus::Skipped, Some(reason)),
    };
    Message {
        status,
        reason,
        appointment_id: Some(appointment.id.clone()),
        offset_minutes: Some(planned.offset_minutes),
        not_after: Some(appointment.starts_at),
        ..Message::new(
            planned.message_id.clone(),
            MessageKind::AppointmentReminder,
            recipient.channel,
            recipient.id.clone(),
            planned.due_at,
            now,
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::services::testing::{account, booked, settings, sms_client, start, t0, FixedClock, RecordedBus};
    use crate::store::memory::MemoryStore;
    use crate::store::ports::{AppointmentRecords as _, RecipientRecords as _, SettingsRecords as _};

    /// The records service at `now`, over `store`.
    fn records(store: &MemoryStore, now: DateTime<Utc>) -> RecordsService {
        RecordsService::new(
            store.clone(),
            Arc::new(FixedClock(now)),
            Arc::new(Templates::default()),
            Arc::new(RecordedBus::default()),
        )
    }

    /// A store with the practice, reminding `offsets` minutes before, and
    /// its client `r1`.
    async fn practice(offsets: &[u32]) -> MemoryStore {
        let store = MemoryStore::default();
        let settings = settings(json!({"appointment_reminders": {"enabled": true, "offsets_minutes": offsets}}));
        store.put_settings(&account(), &settings).await.unwrap();
        store.put_recipient(&account(), &sms_client("r1")).await.unwrap();
        store
    }

    fn ids(messages: &[Message]) -> Vec<String> {
        messages.iter().map(|m| m.id.to_string()).collect()
    }

    fn status_of(store: &MemoryStore, id: &str) -> (MessageStatus, Option<StatusReason>) {
        let message = store.message(&account(), &id.parse().unwrap()).unwrap();
        (message.status, message.reason)
    }

    #[tokio::test]
    async fn an_upsert_plans_one_reminder_per_offset_with_ids_named_by_offset_and_start() {
        let store = practice(&[1440, 120]).await;
        let changes = records(&store, t0()).put_appointment(&account(), &booked("a1", "r1", start())).await.unwrap();

        let epoch = start().timestamp();
        let expected = [format!("a1~reminder~1440~{epoch}"), format!("a1~reminder~120~{epoch}")];
        assert_eq!(ids(&changes.scheduled), expected);
        assert_eq!(changes.withdrawn, 0);
        for (id, offset) in expected.iter().zip([1440, 120]) {
            let message = store.message(&account(), &id.parse().unwrap()).unwrap();
            assert_eq!(message.status, MessageStatus::Scheduled);
            assert_eq!(message.due_at, start() - Duration::minutes(offset));
            assert_eq!(message.not_after, Some(start()));
        }
    }

    #[tokio::test]
    async fn a_replayed_upsert_plans_nothing_new() {
        let store = practice(&[1440, 120]).await;
        let appointment = booked("a1", "r1", start());
        records(&store, t0()).put_appointment(&account(), &appointment).await.unwrap();
        let before = store.messages(&account());

        let replay = records(&store, t0() + Duration::minutes(5)).put_appointment(&account(), &appointment).await;

        assert_eq!(replay.unwrap(), ReminderChanges::default());
        assert_eq!(store.messages(&account()).len(), before.len());
    }

    #[tokio::test]
    async fn moving_the_start_withdraws_the_old_reminders_and_moving_it_back_revives_them() {
        let store = practice(&[1440, 120]).await;
        let first = records(&store, t0()).put_appointment(&account(), &booked("a1", "r1", start())).await.unwrap();

        let later = start() + Duration::days(1);
        let moved = records(&store, t0()).put_appointment(&account(), &booked("a1", "r1", later)).await.unwrap();

        assert_eq!(moved.withdrawn, 2);
        assert_eq!(moved.scheduled.len(), 2);
        assert!(moved.scheduled.iter().all(|m| m.not_after == Some(later)));
        for id in ids(&first.scheduled) {
            assert_eq!(status_of(&store, &id), (MessageStatus::Withdrawn, Some(StatusReason::AppointmentChanged)));
        }

        let back = records(&store, t0()).put_appointment(&account(), &booked("a1", "r1", start())).await.unwrap();
        assert_eq!(ids(&back.scheduled), ids(&first.scheduled));
        assert_eq!(back.withdrawn, 2);
        for id in ids(&first.scheduled) {
            assert_eq!(status_of(&store, &id), (MessageStatus::Scheduled, None));
        }
    }

    #[tokio::test]
    async fn a_booking_must_name_a_known_recipient_and_start_ahead() {
        let store = practice(&[1440]).await;
        let service = records(&store, t0());

        let stranger = service.put_appointment(&account(), &booked("a1", "nobody", start())).await;
        assert!(matches!(stranger, Err(RecordsError::UnknownRecipient)));
        let past = service.put_appointment(&account(), &booked("a1", "r1", t0() - Duration::hours(1))).await;
        assert!(matches!(past, Err(RecordsError::StartInPast)));
        assert!(store.messages(&account()).is_empty());
    }

    #[tokio::test]
    async fn a_client_confirms_a_booked_appointment_ahead() {
        let store = practice(&[1440]).await;
        records(&store, t0()).put_appointment(&account(), &booked("a1", "r1", start())).await.unwrap();
        let id: AppointmentId = "a1".parse().unwrap();

        let confirmed = records(&store, t0()).answer_appointment(&account(), &id, ClientAnswer::Confirm).await.unwrap();

        assert_eq!(confirmed.map(|changes| changes.withdrawn), Some(0));
        let (appointment, _) = store.get_appointment(&account(), &id).await.unwrap().unwrap();
        assert!(appointment.confirmed);
        assert_eq!(appointment.status, AppointmentStatus::Booked);
    }

    #[tokio::test]
    async fn a_client_cancels_a_booked_appointment_ahead_and_its_reminders_are_withdrawn() {
        let store = practice(&[1440]).await;
        let booking = records(&store, t0()).put_appointment(&account(), &booked("a1", "r1", start())).await.unwrap();
        let id: AppointmentId = "a1".parse().unwrap();

        let cancelled = records(&store, t0()).answer_appointment(&account(), &id, ClientAnswer::Cancel).await.unwrap();

        assert_eq!(cancelled.map(|changes| changes.withdrawn), Some(1));
        let (appointment, _) = store.get_appointment(&account(), &id).await.unwrap().unwrap();
        assert_eq!(appointment.status, AppointmentStatus::Cancelled);
        let reminder = ids(&booking.scheduled).remove(0);
        assert_eq!(status_of(&store, &reminder), (MessageStatus::Withdrawn, Some(StatusReason::AppointmentChanged)));
        // A cancelled appointment is not confirmed (or cancelled) again.
        let again = records(&store, t0()).answer_appointment(&account(), &id, ClientAnswer::Confirm).await.unwrap();
        assert!(again.is_none());
        assert!(!store.get_appointment(&account(), &id).await.unwrap().unwrap().0.confirmed);
    }

    #[tokio::test]
    async fn answers_about_an_appointment_that_started_or_never_was_change_nothing() {
        let store = practice(&[1440]).await;
        records(&store, t0()).put_appointment(&account(), &booked("a1", "r1", start())).await.unwrap();
        let started = records(&store, start() + Duration::minutes(1));

        let late = started.answer_appointment(&account(), &"a1".parse().unwrap(), ClientAnswer::Cancel).await;
        let unknown = started.answer_appointment(&account(), &"a2".parse().unwrap(), ClientAnswer::Cancel).await;

        assert!(late.unwrap().is_none());
        assert!(unknown.unwrap().is_none());
        let (appointment, _) = store.get_appointment(&account(), &"a1".parse().unwrap()).await.unwrap().unwrap();
        assert_eq!(appointment.status, AppointmentStatus::Booked);
    }

    #[tokio::test]
    async fn settings_send_only_as_senders_the_operator_assigned_to_the_account() {
        let store = MemoryStore::default();
        let service = records(&store, t0());
        let ours = settings(json!({
            "senders": {"sms_origination_number": "+12025550199"},
            "credit": {"low_balance_alert_cents": 700},
        }));

        let refused = service.put_settings(&account(), &ours).await;
        assert!(matches!(refused, Err(RecordsError::UnregisteredSender { channel: "sms" })));
        assert_eq!(store.get_settings(&account()).await.unwrap(), None);

        store.register_sender(Channel::Sms, "+12025550199", &account());
        service.put_settings(&account(), &ours).await.unwrap();
        assert_eq!(store.get_settings(&account()).await.unwrap(), Some(ours.clone()));
        // The balance carries the alert settings it is read with.
        assert_eq!(store.credit_settings(&account()), Some(ours.credit));
    }

    #[tokio::test]
    async fn messages_are_listed_about_a_record_that_exists() {
        let store = practice(&[1440, 120]).await;
        let service = records(&store, t0());
        let booking = service.put_appointment(&account(), &booked("a1", "r1", start())).await.unwrap();
        let about = |id: &str| Some(MessagesAbout::Appointment(id.parse().unwrap()));

        let page = service.messages_page(&account(), about("a1"), None, 10, None).await.unwrap();
        assert_eq!(ids(&page.messages), ids(&booking.scheduled));
        let unknown = service.messages_page(&account(), about("a2"), None, 10, None).await;
        assert!(matches!(unknown, Err(RecordsError::UnknownAppointment)));
        // Neither a record nor a status: nothing is listed.
        let nothing = service.messages_page(&account(), None, None, 10, None).await.unwrap();
        assert!(nothing.messages.is_empty());
    }
}
