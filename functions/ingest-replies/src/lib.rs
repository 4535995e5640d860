//! `ingest-replies`: what recipients send back. Inbound texts arrive
//! through the SNS topic AWS End User Messaging publishes them to.

use aws_lambda_events::sns::SnsEvent;
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::Serialize;
use tidings::channels::sms_inbound::InboundText;
use tidings::lambda::diagnostic;
use tidings::services::{ReplyError, ReplyReceipt, ReplyService};
use tracing::Instrument;

#[derive(Debug, thiserror::Error)]
#[error("the event is not an inbound text notification ({category} error at {line}:{column})")]
pub struct UnreadableEvent {
    category: String,
    line: usize,
    column: usize,
}

/// What one invocation did with its records.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct IngestReport {
    /// Kept for the first time, and acted on.
    pub recorded: usize,
    /// Kept before (a redelivery): nothing new.
    pub repeated: usize,
    /// From a sender no practice wrote to on that route: not kept.
    pub unroutable: usize,
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
            Err(ReplyError::BadProviderId) => self.unreadable += 1,
            // A failure fails the batch: the source retries it, and the
            // replies already kept are repeats the second time.
            Err(err) => return Err(diagnostic("IngestReplies", err.is_retryable(), &err)),
        }
        Ok(())
    }
}

pub async fn handler(
    replies: &ReplyService,
    event: LambdaEvent<serde_json::Value>,
) -> Result<IngestReport, Diagnostic> {
    let span = tracing::info_span!("ingest_replies", request_id = %event.context.request_id);
    let sns: SnsEvent = serde_json::from_value(event.payload).map_err(|err| {
        // serde's message may quote a value (a number, words): only where
        // it broke is reported.
        let unreadable =
            UnreadableEvent { category: format!("{:?}", err.classify()), line: err.line(), column: err.column() };
        diagnostic("Deserialize", false, &unreadable)
    })?;
    let mut report = IngestReport::default();
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
