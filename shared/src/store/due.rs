//! The due index: messages' shards, which the sweep pages through, the
//! index's own partitions (parked reports, call deadlines), and when
//! anything next falls due.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;

use super::{dynamo_error, key_item, keys, keys::ItemKey, n, s, with_key, ConditionalUpdate, Item, Store, StoreError};
use crate::domain::{AccountId, MessageId};

/// One page of a due shard, and where the next begins (`None`: the shard
/// has no more due now).
#[derive(Debug, Clone)]
pub struct DuePage {
    pub due: Vec<(AccountId, MessageId)>,
    pub next: Option<DueCursor>,
}

/// Where a due shard's next page begins.
#[derive(Debug, Clone)]
pub struct DueCursor(pub(super) Item);

impl Store {
    /// Up to `limit` messages of one shard that are due at `now`, oldest
    /// first, from the start of the shard or after `after` (the page
    /// before's `next`).
    pub async fn due_messages(
        &self,
        shard: u32,
        now: DateTime<Utc>,
        limit: i32,
        after: Option<&DueCursor>,
    ) -> Result<DuePage, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::DUE_INDEX)
            .key_condition_expression("due_shard = :shard AND due_ms <= :now")
            .expression_attribute_values(":shard", s(keys::due_shard_name(shard)))
            .expression_attribute_values(":now", n(now.timestamp_millis()))
            .set_exclusive_start_key(after.map(|cursor| cursor.0.clone()))
            .limit(limit)
            .send()
            .await
            .map_err(|e| dynamo_error("Query", e))?;
        let due = output
            .items
            .unwrap_or_default()
            .into_iter()
            .filter_map(|item| match item.get(keys::PK) {
                Some(AttributeValue::S(pk)) => keys::account_of_message(pk),
                _ => None,
            })
            .collect();
        Ok(DuePage { due, next: output.last_evaluated_key.map(DueCursor) })
    }

    /// `item`, keyed `key`, as a record of one of the due index's own
    /// partitions: due at `due_at`, and removed by DynamoDB's TTL at
    /// `expires_at` whatever became of it.
    pub(crate) fn in_partition(
        item: Item,
        key: &ItemKey,
        partition: &str,
        due_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Item {
        let mut item = with_key(item, key);
        item.insert(keys::DUE_SHARD.to_owned(), s(partition));
        item.insert(keys::DUE_MS.to_owned(), n(due_at.timestamp_millis()));
        item.insert(keys::EXPIRES_AT.to_owned(), n(expires_at.timestamp()));
        item
    }

    /// Makes a record of the due index's own partitions due again at
    /// `retry_at`; one deleted meanwhile stays deleted.
    pub(crate) async fn postpone_in_partition(&self, key: &ItemKey, retry_at: DateTime<Utc>) -> Result<(), StoreError> {
        let update = ConditionalUpdate::on(key.clone())
            .set("due_ms = :retry_at")
            .condition("attribute_exists(PK)")
            .value(":retry_at", n(retry_at.timestamp_millis()));
        update.apply(self, ReturnValue::None).await?;
        Ok(())
    }

    /// Deletes a record of the due index's own partitions: done with, or
    /// given up.
    pub(crate) async fn delete_in_partition(&self, key: &ItemKey) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_item(key)))
            .send()
            .await
            .map_err(|e| dynamo_error("DeleteItem", e))?;
        Ok(())
    }

    /// Up to `limit` records of one of the due index's own partitions (not
    /// the messages' shards) due at `now`, earliest first, with their keys.
    /// The index keeps keys only: each record is read from the table (few
    /// ever wait).
    pub(crate) async fn due_in_partition<T: DeserializeOwned>(
        &self,
        partition: &str,
        attribute: &'static str,
        now: DateTime<Utc>,
        limit: i32,
    ) -> Result<Vec<(ItemKey, T)>, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::DUE_INDEX)
            .key_condition_expression("due_shard = :shard AND due_ms <= :now")
            .expression_attribute_values(":shard", s(partition))
            .expression_attribute_values(":now", n(now.timestamp_millis()))
            .limit(limit)
            .send()
            .await
            .map_err(|e| dynamo_error("Query", e))?;
        let mut due = Vec::new();
        for item in output.items.unwrap_or_default() {
            let (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) = (item.get(keys::PK), item.get(keys::SK))
            else {
                continue;
            };
            let key = ItemKey { pk: pk.clone(), sk: sk.clone() };
            if let Some((record, _)) = self.get::<T>(attribute, &key).await? {
                due.push((key, record));
            }
        }
        Ok(due)
    }

    /// The earliest moment anything in the due index falls due (a message,
    /// a parked report or a call's deadline).
    pub async fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let own = [keys::REPORTS_SHARD.to_owned(), keys::CALLS_SHARD.to_owned()];
        self.earliest_due(self.due_shards.all().map(keys::due_shard_name).chain(own)).await
    }

    /// The earliest moment the digest function has work: a notification
    /// to raise, or a user's digest window ending.
    pub async fn next_staff_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.earliest_due([keys::NOTICES_SHARD.to_owned(), keys::DIGESTS_SHARD.to_owned()].into_iter()).await
    }

    async fn earliest_due(&self, shards: impl Iterator<Item = String>) -> Result<Option<DateTime<Utc>>, StoreError> {
        let queries = shards.map(|shard| {
            self.client
                .query()
                .table_name(&self.table)
                .index_name(keys::DUE_INDEX)
                .key_condition_expression("due_shard = :shard")
                .expression_attribute_values(":shard", s(shard))
                .limit(1)
                .send()
        });
        let mut earliest: Option<i64> = None;
        for output in futures::future::join_all(queries).await {
            let output = output.map_err(|e| dynamo_error("Query", e))?;
            let first = output.items.unwrap_or_default().into_iter().next();
            if let Some(AttributeValue::N(ms)) = first.as_ref().and_then(|i| i.get(keys::DUE_MS)) {
                if let Ok(ms) = ms.parse::<i64>() {
                    earliest = Some(earliest.map_or(ms, |e| e.min(ms)));
                }
            }
        }
        Ok(earliest.and_then(DateTime::from_timestamp_millis))
    }
}
