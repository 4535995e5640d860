//! Notifications for staff, and the suppressions that failures leave.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::keys::ItemKey;
use super::{
    dynamo_error, from_item, key_item, keys, n, s, to_item, with_key, ConditionalUpdate, Item, Store, StoreError,
    Transacted, MESSAGE_RETENTION_DAYS,
};
use crate::domain::{AccountId, Channel, Message, MessageNotice, Notification, PhoneNumber, RecipientId, StatusReason};

/// An address that is not sent to again on a channel: it bounced for good,
/// complained, or opted out. Kept with the recipient, and only for the
/// address it was about: a corrected address is sent to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    pub address: String,
    pub reason: StatusReason,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SenderOwner {
    account_id: AccountId,
}

impl Store {
    /// Assigns a sender to an account (the operator's act: the deployment
    /// verified the identity or bought the number for that practice).
    pub async fn register_sender(&self, channel: Channel, sender: &str, account: &AccountId) -> Result<(), StoreError> {
        let owner = SenderOwner { account_id: account.clone() };
        self.put(with_key(to_item("sender", &owner)?, &keys::sender(channel, sender))).await
    }

    /// The account a sender is assigned to, if any.
    pub async fn sender_owner(&self, channel: Channel, sender: &str) -> Result<Option<AccountId>, StoreError> {
        Ok(self.get::<SenderOwner>("sender", &keys::sender(channel, sender)).await?.map(|(o, _)| o.account_id))
    }

    /// Lets `account`'s calls connect recipients to `number` (the
    /// operator's act: it is the practice's own line).
    pub async fn register_bridge_number(&self, number: &PhoneNumber, account: &AccountId) -> Result<(), StoreError> {
        let owner = SenderOwner { account_id: account.clone() };
        self.put(with_key(to_item("sender", &owner)?, &keys::bridge_number(number.as_str()))).await
    }

    /// The account whose calls may connect to `number`, if any.
    pub async fn bridge_number_owner(&self, number: &PhoneNumber) -> Result<Option<AccountId>, StoreError> {
        Ok(self.get::<SenderOwner>("sender", &keys::bridge_number(number.as_str())).await?.map(|(o, _)| o.account_id))
    }

    /// A notification as stored: in the account's partition by time,
    /// findable by its id (`lookup`) to be marked read, and waiting in the
    /// due index to be raised (`DUE#NOTICES`).
    pub(super) fn notification_item(
        &self,
        account: &AccountId,
        notification: &Notification,
    ) -> Result<Item, StoreError> {
        let key = keys::notification(account, notification.at.timestamp_millis(), &notification.id);
        let mut item = with_key(to_item("notification", notification)?, &key);
        item.insert(keys::LOOKUP_KEY.to_owned(), s(keys::notification_ref(account, &notification.id)));
        item.insert(keys::LOOKUP_MS.to_owned(), n(notification.at.timestamp_millis()));
        item.insert(keys::DUE_SHARD.to_owned(), s(keys::NOTICES_SHARD));
        item.insert(keys::DUE_MS.to_owned(), n(notification.at.timestamp_millis()));
        Ok(item)
    }

    /// Up to `limit` notifications not yet raised by `now`, oldest first,
    /// with their accounts.
    pub async fn due_notices(
        &self,
        now: DateTime<Utc>,
        limit: i32,
    ) -> Result<Vec<(AccountId, Notification)>, StoreError> {
        let due = self.due_in_partition::<Notification>(keys::NOTICES_SHARD, "notification", now, limit).await?;
        Ok(due
            .into_iter()
            .filter_map(|(key, notice)| Some((keys::account_of_notification(&key.pk)?, notice)))
            .collect())
    }

    /// A notification raised: it leaves the due index.
    pub async fn notice_raised(&self, account: &AccountId, notification: &Notification) -> Result<(), StoreError> {
        let key = keys::notification(account, notification.at.timestamp_millis(), &notification.id);
        let update = ConditionalUpdate::on(key).remove("due_shard").remove("due_ms").condition("attribute_exists(PK)");
        update.apply(self, aws_sdk_dynamodb::types::ReturnValue::None).await?;
        Ok(())
    }

    /// Raises a notification again at `retry_at` (a staff email could not
    /// go yet).
    pub async fn postpone_notice(
        &self,
        account: &AccountId,
        notification: &Notification,
        retry_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let key = keys::notification(account, notification.at.timestamp_millis(), &notification.id);
        self.postpone_in_partition(&key, retry_at).await
    }

    /// The account's notifications at or after `from` and before `until`,
    /// oldest first: at most `max`, read a page at a time.
    pub async fn notifications_between(
        &self,
        account: &AccountId,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        max: usize,
    ) -> Result<Vec<Notification>, StoreError> {
        // `AT#{until}` sorts before every key of that millisecond, so
        // BETWEEN takes [from, until).
        let low = format!("AT#{:013}", from.timestamp_millis());
        let high = format!("AT#{:013}", until.timestamp_millis());
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND SK BETWEEN :low AND :high")
                .expression_attribute_values(":pk", s(keys::notifications_partition(account)))
                .expression_attribute_values(":low", s(low.clone()))
                .expression_attribute_values(":high", s(high.clone()))
                .set_exclusive_start_key(start)
                .limit(i32::try_from(max.saturating_sub(found.len()).clamp(1, 100)).unwrap_or(100))
                .send()
                .await
                .map_err(|e| dynamo_error("Query", e))?;
            for item in output.items.unwrap_or_default() {
                found.push(from_item("notification", item)?);
            }
            start = output.last_evaluated_key;
            if start.is_none() || found.len() >= max {
                return Ok(found);
            }
        }
    }

    pub async fn add_notification(&self, account: &AccountId, notification: &Notification) -> Result<(), StoreError> {
        self.put(self.notification_item(account, notification)?).await
    }

    /// Writes a notification named by what it is about (its id and time
    /// taken from the event, not the clock), once: a redelivered event adds
    /// nothing. Whether this call wrote it.
    pub async fn add_notification_once(
        &self,
        account: &AccountId,
        notification: &Notification,
    ) -> Result<bool, StoreError> {
        self.put_new(self.notification_item(account, notification)?).await
    }

    /// Marks a notification read; `false` when the account has none with
    /// this id.
    pub async fn mark_notification_read(&self, account: &AccountId, id: &str) -> Result<bool, StoreError> {
        let Some(found) = self.looked_up(&keys::notification_ref(account, id)).await? else { return Ok(false) };
        let (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) = (found.get(keys::PK), found.get(keys::SK))
        else {
            return Err(StoreError::Corrupt("notification"));
        };
        let update = ConditionalUpdate::on(ItemKey { pk: pk.clone(), sk: sk.clone() })
            .set("#read = :read")
            .condition("attribute_exists(PK)")
            .name("#read", "read")
            .value(":read", AttributeValue::Bool(true));
        Ok(update.apply(self, aws_sdk_dynamodb::types::ReturnValue::None).await?.is_some())
    }

    /// Up to `limit` notifications, newest first; `before` pages back from
    /// an earlier page's oldest notification (its `at` and `id`).
    /// With `unread_only`, those nobody marked read (a page may then hold
    /// fewer than `limit`: page on from its last).
    pub async fn notifications(
        &self,
        account: &AccountId,
        limit: i32,
        before: Option<(DateTime<Utc>, &str)>,
        unread_only: bool,
    ) -> Result<Vec<Notification>, StoreError> {
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", s(keys::notifications_partition(account)))
            .scan_index_forward(false)
            .limit(limit);
        if unread_only {
            request = request
                .filter_expression("attribute_not_exists(#read) OR #read = :unread")
                .expression_attribute_names("#read", "read")
                .expression_attribute_values(":unread", AttributeValue::Bool(false));
        }
        if let Some((at, id)) = before {
            let key = keys::notification(account, at.timestamp_millis(), id);
            request = request.set_exclusive_start_key(Some(key_item(&key)));
        }
        let output = request.send().await.map_err(|e| dynamo_error("Query", e))?;
        output.items.unwrap_or_default().into_iter().map(|item| from_item("notification", item)).collect()
    }

    pub async fn suppress(
        &self,
        account: &AccountId,
        recipient: &RecipientId,
        channel: Channel,
        suppression: &Suppression,
    ) -> Result<(), StoreError> {
        let key = keys::suppression(account, recipient, channel);
        self.put(with_key(to_item("suppression", suppression)?, &key)).await
    }

    /// Whether a provider's webhook event was handled before (providers
    /// redeliver).
    pub async fn webhook_seen(&self, provider: &str, event_id: &str) -> Result<bool, StoreError> {
        Ok(self.get::<serde::de::IgnoredAny>("webhook", &keys::webhook_seen(provider, event_id)).await?.is_some())
    }

    /// Notes a provider's webhook event as handled, for a week: past any
    /// provider's retry window.
    pub async fn mark_webhook_seen(
        &self,
        provider: &str,
        event_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut item = key_item(&keys::webhook_seen(provider, event_id));
        item.insert(
            keys::EXPIRES_AT.to_owned(),
            AttributeValue::N((now + chrono::Duration::days(7)).timestamp().to_string()),
        );
        self.put(item).await
    }

    /// Tells staff about a message, once per message and kind: a handler
    /// run again (a retried event, a redelivered report) finds the mark and
    /// adds nothing. Whether this call told them.
    pub async fn notify_once(
        &self,
        account: &AccountId,
        message: &Message,
        notice: &MessageNotice,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let notification = Notification::new(notice.kind, now)
            .about(&message.recipient_id, &message.id, message.channel)
            .detail(notice.detail.clone());
        let mut mark = key_item(&keys::message_notice(account, &message.id, notice.kind.as_str()));
        if let Some(expires) = now.checked_add_signed(Duration::days(MESSAGE_RETENTION_DAYS)) {
            mark.insert(keys::EXPIRES_AT.to_owned(), n(expires.timestamp()));
        }
        let mark = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.table)
            .set_item(Some(mark))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(|_| StoreError::Corrupt("notice"))?;
        let notification = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.table)
            .set_item(Some(self.notification_item(account, &notification)?))
            .build()
            .map_err(|_| StoreError::Corrupt("notification"))?;
        let request = self
            .client
            .transact_write_items()
            .transact_items(aws_sdk_dynamodb::types::TransactWriteItem::builder().put(mark).build())
            .transact_items(aws_sdk_dynamodb::types::TransactWriteItem::builder().put(notification).build());
        Ok(matches!(self.transact(request).await?, Transacted::Applied))
    }
}
