//! `delivery-status`: what providers report after a message went. SES's
//! delivery, bounce and complaint events arrive through the SNS topic its
//! configuration set publishes to; SNS's SMS delivery status logs arrive
//! through CloudWatch Logs subscriptions.

use aws_lambda_events::cloudwatch_logs::LogsEvent;
use aws_lambda_events::sns::SnsEvent;
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::{Deserialize, Serialize};
use tidings::channels::ses_events::SesNotification;
use tidings::channels::sns_events::SmsDeliveryLog;
use tidings::lambda::diagnostic;
use tidings::services::{OutcomeService, ReportOutcome};
use tidings::store::StoreError;
use tracing::Instrument;

/// The function's two triggers, told apart by their shape.
#[derive(Debug, Clone)]
pub enum StatusEvent {
    SesThroughSns(SnsEvent),
    SmsDeliveryLogs(LogsEvent),
}

impl StatusEvent {
    /// Reads the event from its JSON text. (Not through serde's untagged
    /// enums: `LogsEvent` decodes its gzipped data with borrowed keys, which
    /// only text, not buffered content, can lend.)
    pub fn parse(json: &str) -> Result<Self, serde_json::Error> {
        #[derive(Deserialize)]
        struct Shape {
            #[serde(default)]
            awslogs: Option<serde::de::IgnoredAny>,
        }
        match serde_json::from_str::<Shape>(json)?.awslogs {
            Some(_) => Ok(Self::SmsDeliveryLogs(serde_json::from_str(json)?)),
            None => Ok(Self::SesThroughSns(serde_json::from_str(json)?)),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the event is neither SES-through-SNS nor CloudWatch Logs ({category} error at {line}:{column})")]
pub struct UnreadableEvent {
    category: String,
    line: usize,
    column: usize,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct StatusReport {
    pub recorded: usize,
    pub ignored: usize,
    /// Reports about messages not found yet: kept for the sweep.
    pub parked: usize,
    /// Records that are not reports we know: logged and dropped, since no
    /// retry can make them parse.
    pub unreadable: usize,
}

impl StatusReport {
    fn count(&mut self, outcome: Result<ReportOutcome, StoreError>) -> Result<(), Diagnostic> {
        match outcome {
            Ok(ReportOutcome::Recorded) => self.recorded += 1,
            Ok(ReportOutcome::Ignored) => self.ignored += 1,
            Ok(ReportOutcome::Parked) => self.parked += 1,
            // A failure fails the batch: the source retries it, and the
            // reports already applied are ignored the second time.
            Err(err) => return Err(diagnostic("DeliveryStatus", err.is_retryable(), &err)),
        }
        Ok(())
    }
}

pub async fn handler(
    outcomes: &OutcomeService,
    event: LambdaEvent<serde_json::Value>,
) -> Result<StatusReport, Diagnostic> {
    let span = tracing::info_span!("delivery_status", request_id = %event.context.request_id);
    let payload = StatusEvent::parse(&event.payload.to_string()).map_err(|err| {
        // serde's message may quote a value (an address, a number): only
        // where it broke is reported.
        let unreadable =
            UnreadableEvent { category: format!("{:?}", err.classify()), line: err.line(), column: err.column() };
        diagnostic("Deserialize", false, &unreadable)
    })?;
    let mut report = StatusReport::default();
    match &payload {
        StatusEvent::SesThroughSns(sns) => {
            for record in &sns.records {
                let Ok(notification) = serde_json::from_str::<SesNotification>(&record.sns.message) else {
                    span.in_scope(
                        || tracing::warn!(sns_message_id = %record.sns.message_id, "not an SES notification"),
                    );
                    report.unreadable += 1;
                    continue;
                };
                report.count(outcomes.email_event(&notification).instrument(span.clone()).await)?;
            }
        }
        StatusEvent::SmsDeliveryLogs(logs) => {
            for entry in &logs.aws_logs.data.log_events {
                let Ok(log) = serde_json::from_str::<SmsDeliveryLog>(&entry.message) else {
                    span.in_scope(|| tracing::warn!(log_event_id = %entry.id, "not an SMS delivery status log"));
                    report.unreadable += 1;
                    continue;
                };
                report.count(outcomes.sms_delivery(&log).instrument(span.clone()).await)?;
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_triggers_are_told_apart_by_shape() {
        let sns = serde_json::json!({"Records": [{
            "EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": "arn:aws:sns:us-east-1:1:t:s",
            "Sns": {"Type": "Notification", "MessageId": "m", "TopicArn": "arn:aws:sns:us-east-1:1:t",
                    "Message": "{}", "Timestamp": "2026-12-01T14:00:00Z", "SignatureVersion": "2", "Signature": "",
                    "SigningCertUrl": "", "UnsubscribeUrl": "", "MessageAttributes": {}}
        }]});
        assert!(matches!(StatusEvent::parse(&sns.to_string()).unwrap(), StatusEvent::SesThroughSns(_)));
        // CloudWatch Logs' own example event (gzipped, base64).
        let logs = serde_json::json!({"awslogs": {"data": "H4sIAAAAAAAAAHWPwQqCQBCGX0Xm7EFtK+smZBEUgXoLCdMhFtKV3akI8d0bLYmibvPPN3wz00CJxmQnTO41whwWQRIctmEcB6sQbFC3CjW3XW8kxpOpP+OC22d1Wml1qZkQGtoMsScxaczKN3plG8zlaHIta5KqWsozoTYw3/djzwhpLwivWFGHGpAFe7DL68JlBUk+l7KSN7tCOEJ4M3/qOI49vMHj+zCKdlFqLaU2ZHV2a4Ct/an0/ivdX8oYc1UVX860fQDQiMdxRQEAAA=="}});
        let StatusEvent::SmsDeliveryLogs(logs) = StatusEvent::parse(&logs.to_string()).unwrap() else {
            panic!("not logs")
        };
        assert_eq!(logs.aws_logs.data.message_type, "DATA_MESSAGE");
        assert!(StatusEvent::parse(r#"{"neither": 1}"#).is_err());
    }
}
