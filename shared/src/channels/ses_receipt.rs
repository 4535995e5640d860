//! Email replies arrive through an SES receipt rule: its S3 action stores the
//! raw message (under the rule's key prefix, named by SES's message id), then
//! its Lambda action invokes the ingest function with an event that carries
//! the headers and verdicts but never the body (shape in the SES developer
//! guide, "Sample incoming email event"). Read here into what the function
//! needs to fetch the message and decide whether to read it.
//!
//! The event is read with this module's own types rather than
//! `aws_lambda_events::ses`, which requires every header field and verdict
//! SES may send: a field this code never reads that a mail happens to lack
//! (a message without a From header has no `commonHeaders.from`) would lose
//! the patient's reply.

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// SES's ids are about 40 characters; anything far longer is not one.
const MAX_MESSAGE_ID_CHARS: usize = 128;

/// What SES's scan said: `PASS`, `FAIL`, or neither (`GRAY`,
/// `PROCESSING_FAILED`, `DISABLED`, or no verdict at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
    Other,
}

/// One message SES received and stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedEmail {
    /// SES's `mail.messageId`: also the stored object's name under the
    /// rule's prefix (`channels::blobs::BlobKey::inbound_email`). Only letters, digits and hyphens.
    pub message_id: String,
    /// The rule's recipients among the envelope's (`receipt.recipients`):
    /// the `reply+TOKEN@` addresses the message was sent to.
    pub recipients: Vec<String>,
    /// When SES received it.
    pub timestamp: DateTime<Utc>,
    pub spam: Verdict,
    pub virus: Verdict,
}

/// An event that is not what a receipt rule's Lambda action sends. Names
/// what is wrong, never a value: the event carries patients' addresses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptEventError {
    #[error("the event is not an SES receipt event")]
    Malformed,
    /// The id names an S3 object: one with other characters could reach
    /// outside the rule's prefix.
    #[error("the SES message id is malformed")]
    MessageId,
}

#[derive(Deserialize)]
struct ReceiptEvent {
    #[serde(rename = "Records")]
    records: Vec<ReceiptRecord>,
}

#[derive(Deserialize)]
struct ReceiptRecord {
    ses: SesReceipt,
}

#[derive(Deserialize)]
struct SesReceipt {
    mail: Mail,
    receipt: Receipt,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Mail {
    message_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Receipt {
    recipients: Vec<String>,
    timestamp: DateTime<Utc>,
    #[serde(default)]
    spam_verdict: Option<VerdictStatus>,
    #[serde(default)]
    virus_verdict: Option<VerdictStatus>,
}

#[derive(Deserialize)]
struct VerdictStatus {
    #[serde(default)]
    status: Option<String>,
}

impl Verdict {
    fn read(verdict: Option<&VerdictStatus>) -> Self {
        match verdict.and_then(|verdict| verdict.status.as_deref()) {
            Some(status) if status.eq_ignore_ascii_case("PASS") => Self::Pass,
            Some(status) if status.eq_ignore_ascii_case("FAIL") => Self::Fail,
            _ => Self::Other,
        }
    }
}

/// The messages a receipt rule's Lambda action event is about (one a
/// record; SES sends one record an invocation).
pub fn received_emails(event: serde_json::Value) -> Result<Vec<ReceivedEmail>, ReceiptEventError> {
    // serde's message would quote the offending value: it is dropped.
    let event: ReceiptEvent = serde_json::from_value(event).map_err(|_| ReceiptEventError::Malformed)?;
    event
        .records
        .into_iter()
        .map(|record| {
            let SesReceipt { mail, receipt } = record.ses;
            if !is_message_id(&mail.message_id) {
                return Err(ReceiptEventError::MessageId);
            }
            Ok(ReceivedEmail {
                message_id: mail.message_id,
                spam: Verdict::read(receipt.spam_verdict.as_ref()),
                virus: Verdict::read(receipt.virus_verdict.as_ref()),
                recipients: receipt.recipients,
                timestamp: receipt.timestamp,
            })
        })
        .collect()
}

fn is_message_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_MESSAGE_ID_CHARS && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    fn fixture() -> Value {
        serde_json::from_str(include_str!("../../tests/fixtures/ses/receipt_lambda.json")).unwrap()
    }

    #[test]
    fn a_lambda_action_event_names_the_stored_message_its_recipients_and_verdicts() {
        let emails = received_emails(fixture()).unwrap();
        assert_eq!(
            emails,
            vec![ReceivedEmail {
                message_id: "4k2v0c8e1r7ld5n0b9g6hq3j5t2m8p1f0s7a6u9c".into(),
                recipients: vec!["reply+7f3c9a2e5b1d4086a9e2c71b3f5d8e04@replies.example.com".into()],
                timestamp: "2026-12-03T14:12:41.187Z".parse().unwrap(),
                spam: Verdict::Pass,
                virus: Verdict::Pass,
            }]
        );
    }

    #[test]
    fn the_fixture_is_the_shape_the_community_types_know() {
        let event: aws_lambda_events::ses::SimpleEmailEvent = serde_json::from_value(fixture()).unwrap();
        assert_eq!(
            event.records[0].ses.receipt.action.function_arn.as_deref().map(|arn| arn.ends_with("ingest-replies")),
            Some(true)
        );
    }

    fn with_verdicts(spam: Value, virus: Value) -> Value {
        let mut event = fixture();
        event["Records"][0]["ses"]["receipt"]["spamVerdict"] = spam;
        event["Records"][0]["ses"]["receipt"]["virusVerdict"] = virus;
        event
    }

    #[test]
    fn a_verdict_is_pass_fail_or_neither() {
        let cases = [
            (json!({"status": "FAIL"}), json!({"status": "PASS"}), Verdict::Fail, Verdict::Pass),
            (json!({"status": "GRAY"}), json!({"status": "FAIL"}), Verdict::Other, Verdict::Fail),
            (json!({"status": "PROCESSING_FAILED"}), json!({"status": "DISABLED"}), Verdict::Other, Verdict::Other),
            (json!({}), Value::Null, Verdict::Other, Verdict::Other),
        ];
        for (spam, virus, expected_spam, expected_virus) in cases {
            let emails = received_emails(with_verdicts(spam.clone(), virus.clone())).unwrap();
            assert_eq!((emails[0].spam, emails[0].virus), (expected_spam, expected_virus), "{spam} {virus}");
        }
        let mut event = fixture();
        let receipt = event["Records"][0]["ses"]["receipt"].as_object_mut().unwrap();
        receipt.remove("spamVerdict");
        receipt.remove("virusVerdict");
        let emails = received_emails(event).unwrap();
        assert_eq!((emails[0].spam, emails[0].virus), (Verdict::Other, Verdict::Other));
    }

    #[test]
    fn an_id_that_could_leave_the_prefix_is_refused() {
        for id in ["../../other/object", "a/b", "id with space", "", "ﬁd", &"a".repeat(MAX_MESSAGE_ID_CHARS + 1)] {
            let mut event = fixture();
            event["Records"][0]["ses"]["mail"]["messageId"] = json!(id);
            assert_eq!(received_emails(event), Err(ReceiptEventError::MessageId), "{id}");
        }
        let mut event = fixture();
        event["Records"][0]["ses"]["mail"]["messageId"] = json!("a".repeat(MAX_MESSAGE_ID_CHARS));
        assert!(received_emails(event).is_ok());
    }

    #[test]
    fn what_is_not_a_receipt_event_is_refused_without_quoting_it() {
        let mut missing_timestamp = fixture();
        missing_timestamp["Records"][0]["ses"]["receipt"].as_object_mut().unwrap().remove("timestamp");
        let mut recipient_not_text = fixture();
        recipient_not_text["Records"][0]["ses"]["receipt"]["recipients"] = json!([{"patient": "ann@example.com"}]);
        for event in [json!({"Records": "ann@example.com"}), json!({}), missing_timestamp, recipient_not_text] {
            let error = received_emails(event).unwrap_err();
            assert_eq!(error, ReceiptEventError::Malformed);
            assert!(!error.to_string().contains("example.com"));
        }
    }

    #[test]
    fn an_event_without_records_is_about_no_message() {
        assert_eq!(received_emails(json!({"Records": []})), Ok(vec![]));
    }
}
