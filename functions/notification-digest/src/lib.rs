//! `notification-digest`: run every minute by EventBridge Scheduler (its
//! `Input`, `{}`, is ignored). Raises new notifications on the bus, emails
//! them at once to the users who hear of them at once, and sends the
//! hourly and daily digests whose windows have ended.

use lambda_runtime::{Diagnostic, LambdaEvent};
use tidings::lambda::diagnostic;
use tidings::services::{DigestReport, StaffDigests};
use tracing::Instrument;

pub async fn handler(
    digests: &StaffDigests,
    event: LambdaEvent<serde_json::Value>,
) -> Result<DigestReport, Diagnostic> {
    let span = tracing::info_span!("notification_digest", request_id = %event.context.request_id);
    let report =
        digests.run().instrument(span.clone()).await.map_err(|err| diagnostic("Digest", err.is_retryable(), &err))?;
    span.in_scope(|| {
        tracing::info!(
            raised = report.raised,
            emailed_at_once = report.emailed_at_once,
            digests = report.digests,
            not_sent = report.not_sent,
            retrying = report.retrying,
            "notification digest done"
        );
    });
    Ok(report)
}
