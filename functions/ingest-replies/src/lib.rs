//! `ingest-replies`: what recipients send back. Inbound texts arrive
//! through the SNS topic AWS End User Messaging publishes them to; inbound
//! emails through SES's receipt rule, which stores each in the bucket and
//! then invokes this function with its headers and verdicts.

use aws_lambda_events::sns::SnsEvent;
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::{Deserialize, Serialize};
use tidings::channels::ses_receipt::received_emails;
use tidings::channels::sms_inbound::InboundText;
use tidings::lambda::diagnostic;
use tidings::services::{ReplyError, ReplyReceipt, ReplyService};
use tracing::Instrument;

#[derive(Debug, thiserror::Error)]
#[error("the event is neither inbound texts through SNS nor an SES receipt")]
pub struct UnreadableEvent;

/// What one invocation did with its records.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct IngestReport {
    /// Kept for the first time, and acted on.
    pub recorded: usize,
    /// Kept before (a redelivery): nothing new.
    pub repeated: usize,
    /// From a sender no practice wrote to on that route: not kept.
    pub unroutable: usize,
    /// Spam, viruses, unreadable emails: not kept.
    pub refused: usize,
    /// Records that are not inbound messages: logged and dropped, since no
    /// retry can make them parse.
    pub unreadable: usize,
}

impl IngestReport {
    fn count(&mut self, receipt: Result<ReplyReceipt, ReplyError>) -> Result<(), Diagnostic> {
        match receipt {
            Ok(ReplyReceipt::Recorded { .. }) => self.recorded += 1,
            Ok(ReplyReceipt::Repeated { .. }) => self.repeated += 1,
            Ok(ReplyReceipt::Unroutable) => self.unroutable += 1,
            Ok(ReplyReceipt::Refused(_)) => self.refused += 1,
            Err(ReplyError::BadProviderId) => self.unreadable += 1,
            // A failure fails the batch: the source retries it, and the
            // replies already kept are repeats the second time.
            Err(err) => return Err(diagnostic("IngestReplies", err.is_retryable(), &err)),
        }
        Ok(())
    }
}

/// The two triggers, told apart by their records' source.
fn is_ses_receipt(payload: &serde_json::Value) -> bool {
    #[derive(Deserialize)]
    struct Shape {
        #[serde(rename = "Records", default)]
        records: Vec<Source>,
    }
    #[derive(Deserialize)]
    struct Source {
        #[serde(rename = "eventSource", default)]
        event_source: Option<String>,
    }
    serde_json::from_value::<Shape>(payload.clone())
        .is_ok_and(|shape| shape.records.iter().any(|r| r.event_source.as_deref() == Some("aws:ses")))
}

pub async fn handler(
    replies: &ReplyService,
    event: LambdaEvent<serde_json::Value>,
) -> Result<IngestReport, Diagnostic> {
    let span = tracing::info_span!("ingest_replies", request_id = %event.context.request_id);
    let mut report = IngestReport::default();
    if is_ses_receipt(&event.payload) {
        let emails = received_emails(event.payload).map_err(|err| diagnostic("Deserialize", false, &err))?;
        for email in &emails {
            report.count(replies.receive_email(email).instrument(span.clone()).await)?;
        }
        return Ok(report);
    }
    // serde's message may quote a value (a number, words): not reported.
    let sns: SnsEvent =
        serde_json::from_value(event.payload).map_err(|_| diagnostic("Deserialize", false, &UnreadableEvent))?;
    for record in &sns.records {
        let Ok(text) = InboundText::from_sns_message(&record.sns.message) else {
            span.in_scope(|| tracing::warn!(sns_message_id = %record.sns.message_id, "not an inbound text"));
            report.unreadable += 1;
            continue;
        };
        report.count(replies.receive_text(&text, record.sns.timestamp).instrument(span.clone()).await)?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_triggers_are_told_apart_by_their_source() {
        let ses: serde_json::Value =
            serde_json::from_str(include_str!("../../../shared/tests/fixtures/ses/receipt_lambda.json")).unwrap();
        assert!(is_ses_receipt(&ses));
        let sns: serde_json::Value =
            serde_json::from_str(include_str!("../../../shared/tests/fixtures/sns/inbound_sms.json")).unwrap();
        assert!(!is_ses_receipt(&sns));
        assert!(!is_ses_receipt(&serde_json::json!({"neither": 1})));
    }
}
