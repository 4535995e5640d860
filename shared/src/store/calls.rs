//! Calls in progress that the sweep ends at their length cap: a deadline
//! is set when a call is answered and cleared when it ends, and waits in the
//! due index's own partition until then. The sweep asks a call past its
//! deadline to end once a run until its end clears the deadline.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{keys, to_item, Store, StoreError};
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
        let expires = deadline.at + chrono::Duration::hours(DEADLINE_RETENTION_HOURS);
        let item = Store::in_partition(
            to_item("deadline", deadline)?,
            &key(deadline),
            keys::CALLS_SHARD,
            deadline.at,
            expires,
        );
        self.put(item).await
    }

    /// Up to `limit` calls whose deadline has come by `now`, earliest first.
    pub async fn due_call_deadlines(&self, now: DateTime<Utc>, limit: i32) -> Result<Vec<CallDeadline>, StoreError> {
        Ok(self
            .due_in_partition(keys::CALLS_SHARD, "deadline", now, limit)
            .await?
            .into_iter()
            .map(|(_, d)| d)
            .collect())
    }

    /// Asks about the call again at `retry_at` (its end did not come yet);
    /// a deadline the call's end cleared meanwhile stays cleared.
    pub async fn postpone_call_deadline(
        &self,
        deadline: &CallDeadline,
        retry_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.postpone_in_partition(&key(deadline), retry_at).await
    }

    /// Forgets a call's deadline: the call ended, or was given up on.
    pub async fn clear_call_deadline(
        &self,
        account: &AccountId,
        message_id: &MessageId,
        transaction_id: &str,
    ) -> Result<(), StoreError> {
        self.delete_in_partition(&keys::call_deadline(account, message_id, transaction_id)).await
    }
}

fn key(deadline: &CallDeadline) -> keys::ItemKey {
    keys::call_deadline(&deadline.account, &deadline.message_id, &deadline.transaction_id)
}
