//! Calls in progress that the sweep ends at their length cap: a deadline
//! is set when a call is answered and cleared when it ends, and waits in the
//! due index's own partition until then. The sweep asks a call past its
//! deadline to end once a run until its end clears the deadline.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{conditional, dynamo_error, key_item, keys, n, s, to_item, with_key, Store, StoreError};
use crate::domain::{AccountId, MessageId};

/// A call to end at `at` unless it ends first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallDeadline {
    pub account: AccountId,
    pub message_id: MessageId,
    /// Chime's id of the call (its transaction).
    pub transaction_id: String,
    pub at: DateTime<Utc>,
}

/// A deadline nobody cleared (the end's event lost) is gone a day later.
const DEADLINE_RETENTION_HOURS: i64 = 24;

impl Store {
    /// Sets (or sets again, for a redelivered event) a call's deadline.
    pub async fn set_call_deadline(&self, deadline: &CallDeadline) -> Result<(), StoreError> {
        let key = keys::call_deadline(&deadline.account, &deadline.message_id, &deadline.transaction_id);
        let mut item = with_key(to_item("deadline", deadline)?, &key);
        item.insert(keys::DUE_SHARD.to_owned(), s(keys::CALLS_SHARD));
        item.insert(keys::DUE_MS.to_owned(), n(deadline.at.timestamp_millis()));
        let expires = deadline.at + chrono::Duration::hours(DEADLINE_RETENTION_HOURS);
        item.insert(keys::EXPIRES_AT.to_owned(), n(expires.timestamp()));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| dynamo_error("PutItem", e))?;
        Ok(())
    }

    /// Up to `limit` calls whose deadline has come by `now`, earliest first.
    pub async fn due_call_deadlines(&self, now: DateTime<Utc>, limit: i32) -> Result<Vec<CallDeadline>, StoreError> {
        self.due_in_partition(keys::CALLS_SHARD, "deadline", now, limit).await
    }

    /// Asks about the call again at `retry_at` (its end did not come yet);
    /// a deadline the call's end cleared meanwhile stays cleared.
    pub async fn postpone_call_deadline(
        &self,
        deadline: &CallDeadline,
        retry_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let key = keys::call_deadline(&deadline.account, &deadline.message_id, &deadline.transaction_id);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_item(&key)))
            .update_expression("SET due_ms = :retry_at")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":retry_at", n(retry_at.timestamp_millis()))
            .send()
            .await;
        conditional("UpdateItem", result)?;
        Ok(())
    }

    /// Forgets a call's deadline: the call ended, or was given up on.
    pub async fn clear_call_deadline(
        &self,
        account: &AccountId,
        message_id: &MessageId,
        transaction_id: &str,
    ) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_item(&keys::call_deadline(account, message_id, transaction_id))))
            .send()
            .await
            .map_err(|e| dynamo_error("DeleteItem", e))?;
        Ok(())
    }
}
