//! `delivery-status`: SES's delivery, bounce and complaint notifications,
//! through the SNS topic its configuration set publishes to.

use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::Serialize;
use tidings::channels::ses_events::SesNotification;
use tidings::lambda::diagnostic;
use tidings::services::{OutcomeService, ReportOutcome};
use tracing::Instrument;

use aws_lambda_events::sns::SnsEvent;

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct StatusReport {
    pub recorded: usize,
    pub ignored: usize,
    /// Records that are not SES notifications: logged and dropped, since
    /// no retry can make them parse.
    pub unreadable: usize,
}

pub async fn handler(outcomes: &OutcomeService, event: LambdaEvent<SnsEvent>) -> Result<StatusReport, Diagnostic> {
    let span = tracing::info_span!("delivery_status", request_id = %event.context.request_id);
    let mut report = StatusReport::default();
    for record in &event.payload.records {
        let Ok(notification) = serde_json::from_str::<SesNotification>(&record.sns.message) else {
            span.in_scope(|| tracing::warn!(sns_message_id = %record.sns.message_id, "not an SES notification"));
            report.unreadable += 1;
            continue;
        };
        // A failure fails the batch: SNS retries it, and the records
        // already applied are ignored the second time.
        match outcomes.email_event(&notification).instrument(span.clone()).await {
            Ok(ReportOutcome::Recorded) => report.recorded += 1,
            Ok(ReportOutcome::Ignored) => report.ignored += 1,
            Err(err) => return Err(diagnostic("DeliveryStatus", err.is_retryable(), &err)),
        }
    }
    Ok(report)
}
