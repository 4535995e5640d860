//! `reminder-sweep`: run every minute by EventBridge Scheduler. A
//! ScheduleV2 target receives its `Input` as written (`{}`), not an
//! EventBridge envelope, so the payload is read as plain JSON and ignored.

use lambda_runtime::{Diagnostic, LambdaEvent};
use tidings::lambda::diagnostic;
use tidings::services::{ReminderSweep, SweepReport};
use tracing::Instrument;

pub async fn handler(sweep: &ReminderSweep, event: LambdaEvent<serde_json::Value>) -> Result<SweepReport, Diagnostic> {
    let span = tracing::info_span!("sweep", request_id = %event.context.request_id);
    let report =
        sweep.run().instrument(span.clone()).await.map_err(|err| diagnostic("Sweep", err.is_retryable(), &err))?;
    span.in_scope(|| {
        tracing::info!(
            published = report.published,
            skipped = report.skipped,
            expired = report.expired,
            withdrawn = report.withdrawn,
            taken_by_others = report.taken_by_others,
            more_due = report.more_due,
            "sweep done"
        );
    });
    Ok(report)
}
