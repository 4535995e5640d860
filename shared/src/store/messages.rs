//! The message record: written when planned, withdrawn or postponed as its
//! subject changes, and moved by what its provider reports after the send.
//! The send itself is in `sending`, listings in `listing`.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Duration, Utc};

use super::{
    conditional, dynamo_error, from_item, keys, n, s, status, to_attribute, to_item, with_key, ConditionalUpdate, Item,
    Store, StoreError,
};
use crate::domain::{AccountId, Channel, Message, MessageId, MessageStatus, StatusReason};

/// Messages are kept this long after they fall due, then DynamoDB's TTL
/// removes them.
pub const MESSAGE_RETENTION_DAYS: i64 = 400;

impl Store {
    pub(super) fn message_item(&self, account: &AccountId, message: &Message) -> Result<Item, StoreError> {
        let key = keys::message(account, &message.id);
        let mut item = with_key(to_item("message", message)?, &key);
        if let Some(appointment) = &message.appointment_id {
            item.insert(keys::SUBJECT.to_owned(), s(keys::appointment_subject(account, appointment)));
        } else if let Some(invoice) = &message.invoice_id {
            item.insert(keys::SUBJECT.to_owned(), s(keys::invoice_subject(account, invoice)));
        }
        item.insert(keys::RECIPIENT_KEY.to_owned(), s(keys::recipient_messages(account, &message.recipient_id)));
        item.insert(keys::ACCOUNT_STATUS.to_owned(), s(keys::account_status(account, message.status, &message.id)));
        if message.status.is_live() {
            item.insert(keys::DUE_SHARD.to_owned(), s(self.due_shards.of(&key)));
            item.insert(keys::DUE_MS.to_owned(), n(message.due_at.timestamp_millis()));
        }
        if message.content.is_some() {
            // Written with its words (a keyword answer): in the thread now.
            item.insert(keys::THREAD_KEY.to_owned(), s(keys::thread(account, &message.recipient_id)));
            item.insert(keys::THREAD_AT.to_owned(), n(message.created_at.timestamp_millis()));
        }
        if let Some(expires) = message.due_at.checked_add_signed(Duration::days(MESSAGE_RETENTION_DAYS)) {
            item.insert(keys::EXPIRES_AT.to_owned(), n(expires.timestamp()));
        }
        Ok(item)
    }

    /// Writes a new message, or revives one that was withdrawn (an
    /// appointment moved away and back). Any other existing message is left
    /// as it is, which makes replayed upserts harmless. Returns whether it wrote.
    pub async fn create_message(&self, account: &AccountId, message: &Message) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.message_item(account, message)?))
            .condition_expression("attribute_not_exists(PK) OR #status = :withdrawn")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":withdrawn", status(MessageStatus::Withdrawn))
            .send()
            .await;
        Ok(conditional("PutItem", result)?.is_some())
    }

    pub async fn get_message(&self, account: &AccountId, id: &MessageId) -> Result<Option<Message>, StoreError> {
        Ok(self.get("message", &keys::message(account, id)).await?.map(|(v, _)| v))
    }

    /// Withdraws a live message that no send has started on. Returns whether
    /// it did; a message already sent or being sent is left alone.
    pub async fn withdraw_message(
        &self,
        account: &AccountId,
        id: &MessageId,
        reason: StatusReason,
    ) -> Result<bool, StoreError> {
        let update = ConditionalUpdate::on(keys::message(account, id))
            .set("#status = :withdrawn")
            .set("account_status = :account_status")
            .set("reason = :reason")
            .remove(keys::DUE_SHARD)
            .remove(keys::DUE_MS)
            .remove(keys::LOOKUP_KEY)
            .remove(keys::LOOKUP_MS)
            .condition("#status IN (:scheduled, :held, :claimed) AND attribute_not_exists(send_started_at)")
            .name("#status", "status")
            .value(":account_status", s(keys::account_status(account, MessageStatus::Withdrawn, id)))
            .value(":withdrawn", status(MessageStatus::Withdrawn))
            .value(":held", status(MessageStatus::Held))
            .value(":scheduled", status(MessageStatus::Scheduled))
            .value(":claimed", status(MessageStatus::Claimed))
            .value(":reason", to_attribute("message", &reason)?);
        Ok(update.apply(self, ReturnValue::None).await?.is_some())
    }

    /// Moves a scheduled message to a later due time (a notice's debounce
    /// starting again). Returns whether it was still scheduled.
    pub async fn postpone_message(
        &self,
        account: &AccountId,
        id: &MessageId,
        due: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.move_scheduled(account, id, due, false).await
    }

    /// Moves a message still `scheduled` (none of its sends started) to
    /// fall due at `due`; `only_sooner` leaves one already due sooner.
    pub(super) async fn move_scheduled(
        &self,
        account: &AccountId,
        id: &MessageId,
        due: DateTime<Utc>,
        only_sooner: bool,
    ) -> Result<bool, StoreError> {
        let mut update = ConditionalUpdate::on(keys::message(account, id))
            .set("due_ms = :due_ms")
            .set("due_at = :due_at")
            .condition("#status = :scheduled")
            .name("#status", "status")
            .value(":scheduled", status(MessageStatus::Scheduled))
            .value(":due_ms", n(due.timestamp_millis()))
            .value(":due_at", to_attribute("message", &due)?);
        if only_sooner {
            update = update.condition("due_ms > :due_ms");
        }
        Ok(update.apply(self, ReturnValue::None).await?.is_some())
    }

    /// The message a provider's callback is about, by the provider's id.
    pub async fn message_by_provider_ref(
        &self,
        channel: Channel,
        provider_message_id: &str,
    ) -> Result<Option<(AccountId, MessageId)>, StoreError> {
        let found = self.looked_up(&keys::provider_ref(channel, provider_message_id)).await?;
        Ok(found.and_then(|item| match item.get(keys::PK) {
            Some(AttributeValue::S(pk)) => keys::account_of_message(pk),
            _ => None,
        }))
    }

    /// Moves a message that went out to what its provider reported later
    /// (delivered, bounced, failed), if it is still in one of `from`.
    /// The message as it is afterwards, or `None` when the condition did not
    /// hold: a repeated or out-of-order report changes nothing.
    pub async fn record_provider_outcome(
        &self,
        account: &AccountId,
        id: &MessageId,
        from: &[MessageStatus],
        to: MessageStatus,
        reason: Option<StatusReason>,
    ) -> Result<Option<Message>, StoreError> {
        let names: Vec<String> = (0..from.len()).map(|i| format!(":from{i}")).collect();
        let mut update = ConditionalUpdate::on(keys::message(account, id))
            .set("#status = :to")
            .set("account_status = :account_status")
            .set("reason = :reason")
            // A call's events may beat its settlement: the message leaves
            // the due index, where its started send was waiting.
            .remove(keys::DUE_SHARD)
            .remove(keys::DUE_MS)
            .condition(format!("#status IN ({})", names.join(", ")))
            .name("#status", "status")
            .value(":to", status(to))
            .value(":account_status", s(keys::account_status(account, to, id)))
            .value(":reason", to_attribute("message", &reason)?);
        for (name, value) in names.iter().zip(from) {
            update = update.value(name, status(*value));
        }
        match update.apply(self, ReturnValue::AllNew).await? {
            Some(item) => Ok(Some(from_item("message", item)?)),
            None => Ok(None),
        }
    }

    /// Writes what the call of a sent voice message has done so far.
    pub async fn record_call(
        &self,
        account: &AccountId,
        id: &MessageId,
        call: &crate::domain::message::CallRecord,
    ) -> Result<(), StoreError> {
        self.set_on_existing(&keys::message(account, id), "call", to_attribute("message", call)?).await
    }
}

impl Store {
    /// Releases a recipient's messages on `channel` held for their consent:
    /// due now, so the next sweep claims them (quiet hours and credit still
    /// apply). Each moves on condition it still waits, so a release run
    /// twice moves nothing twice. How many were released.
    pub async fn release_awaiting_opt_in(
        &self,
        account: &AccountId,
        recipient: &crate::domain::RecipientId,
        channel: Channel,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let waiting = to_attribute("message", &StatusReason::AwaitingOptIn)?;
        let mut released = 0;
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(keys::RECIPIENT_INDEX)
                .key_condition_expression("#key = :key")
                .filter_expression("#status = :held AND reason = :waiting AND channel = :channel")
                .expression_attribute_names("#key", keys::RECIPIENT_KEY)
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":key", s(keys::recipient_messages(account, recipient)))
                .expression_attribute_values(":held", status(MessageStatus::Held))
                .expression_attribute_values(":waiting", waiting.clone())
                .expression_attribute_values(":channel", to_attribute("message", &channel)?)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| dynamo_error("Query", e))?;
            for item in output.items.unwrap_or_default() {
                let held: Message = from_item("message", item)?;
                let update = ConditionalUpdate::on(keys::message(account, &held.id))
                    .set("due_ms = :now")
                    .set("due_at = :now_iso")
                    .condition("#status = :held AND reason = :waiting")
                    .name("#status", "status")
                    .value(":held", status(MessageStatus::Held))
                    .value(":waiting", waiting.clone())
                    .value(":now", n(now.timestamp_millis()))
                    .value(":now_iso", to_attribute("message", &now)?);
                if update.apply(self, ReturnValue::None).await?.is_some() {
                    released += 1;
                }
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                return Ok(released);
            }
        }
    }
}
