//! Provider reports kept until their message can be found: a report can
//! come before the `lookup` index shows the message it is about (the index
//! lags its table; a fax can fail before its send is settled). Parked
//! reports wait in the due index's own partition, where the sweep tries
//! them again.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{keys, to_item, Store, StoreError};
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
        let expires = parked.parked_at + chrono::Duration::hours(PARKED_RETENTION_HOURS);
        let key = keys::parked_report(&parked.report.id());
        let item = Store::in_partition(to_item("report", parked)?, &key, keys::REPORTS_SHARD, retry_at, expires);
        // Parked once: a repeat of the report finds it and leaves it.
        self.put_new(item).await?;
        Ok(())
    }

    /// Up to `limit` parked reports due at `now`, oldest first.
    pub async fn due_reports(&self, now: DateTime<Utc>, limit: i32) -> Result<Vec<ParkedReport>, StoreError> {
        Ok(self
            .due_in_partition(keys::REPORTS_SHARD, "report", now, limit)
            .await?
            .into_iter()
            .map(|(_, r)| r)
            .collect())
    }

    /// Tries a parked report again at `retry_at`.
    pub async fn postpone_report(&self, report: &ProviderReport, retry_at: DateTime<Utc>) -> Result<(), StoreError> {
        self.postpone_in_partition(&keys::parked_report(&report.id()), retry_at).await
    }

    /// Forgets a parked report: applied, or given up.
    pub async fn drop_report(&self, report: &ProviderReport) -> Result<(), StoreError> {
        self.delete_in_partition(&keys::parked_report(&report.id())).await
    }
}
