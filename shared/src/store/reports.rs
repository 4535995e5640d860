//! Provider reports kept until their message can be found: a report can
//! come before the `lookup` index shows the message it is about (the index
//! lags its table; a fax can fail before its send is settled). Parked
//! reports wait in the due index's own partition, where the sweep tries
//! them again.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{conditional, dynamo_error, key_item, keys, n, s, to_item, with_key, Store, StoreError};
use crate::domain::ProviderReport;

/// A report waiting for its message, and since when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParkedReport {
    pub report: ProviderReport,
    pub parked_at: DateTime<Utc>,
}

/// Parked reports are gone a day later, whatever happened to them.
const PARKED_RETENTION_HOURS: i64 = 24;

impl Store {
    /// Keeps a report until `retry_at`; one parked already (a redelivery)
    /// is left as it is.
    pub async fn park_report(&self, parked: &ParkedReport, retry_at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut item = with_key(to_item("report", parked)?, &keys::parked_report(&parked.report.id()));
        item.insert(keys::DUE_SHARD.to_owned(), s(keys::REPORTS_SHARD));
        item.insert(keys::DUE_MS.to_owned(), n(retry_at.timestamp_millis()));
        let expires = parked.parked_at + chrono::Duration::hours(PARKED_RETENTION_HOURS);
        item.insert(keys::EXPIRES_AT.to_owned(), n(expires.timestamp()));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        conditional("PutItem", result)?;
        Ok(())
    }

    /// Up to `limit` parked reports due at `now`, oldest first.
    pub async fn due_reports(&self, now: DateTime<Utc>, limit: i32) -> Result<Vec<ParkedReport>, StoreError> {
        self.due_in_partition(keys::REPORTS_SHARD, "report", now, limit).await
    }

    /// Tries a parked report again at `retry_at`.
    pub async fn postpone_report(&self, report: &ProviderReport, retry_at: DateTime<Utc>) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_item(&keys::parked_report(&report.id()))))
            .update_expression("SET due_ms = :retry_at")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":retry_at", n(retry_at.timestamp_millis()))
            .send()
            .await;
        conditional("UpdateItem", result)?;
        Ok(())
    }

    /// Forgets a parked report: applied, or given up.
    pub async fn drop_report(&self, report: &ProviderReport) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_item(&keys::parked_report(&report.id()))))
            .send()
            .await
            .map_err(|e| dynamo_error("DeleteItem", e))?;
        Ok(())
    }
}
