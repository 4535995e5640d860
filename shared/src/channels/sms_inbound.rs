//! Texts that recipients send back: AWS End User Messaging two-way SMS
//! publishes each to an SNS topic, whose notification `Message` is a JSON
//! document (shape in the AWS End User Messaging SMS guide, "Two-way
//! messaging"). Parsed here into a text that cannot be malformed.

use serde::Deserialize;

use crate::domain::PhoneNumber;

/// The longest text a carrier hands over (ten concatenated segments of
/// 160); anything longer is not a text from a phone.
pub const MAX_INBOUND_TEXT_CHARS: usize = 1_600;
/// Provider ids are UUIDs or similar: anything longer is not one.
const MAX_ID_CHARS: usize = 128;

/// One inbound text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundText {
    /// The recipient's phone.
    pub from: PhoneNumber,
    /// The deployment's or the practice's number it was sent to: which
    /// practice the reply is for.
    pub to: PhoneNumber,
    pub body: String,
    /// AWS's id of this text: redeliveries of the notification carry the
    /// same, so it is applied once.
    pub inbound_message_id: String,
    /// The id of the last text published to this phone from `to`, when AWS
    /// knows it: the message this one most likely answers.
    pub previous_published_message_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboundTextError {
    /// Names the field only: its value may be a patient's number or words.
    #[error("the inbound text's {0} is missing or malformed")]
    Malformed(&'static str),
    #[error("the inbound text is over {MAX_INBOUND_TEXT_CHARS} characters")]
    TooLong,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InboundSmsMessage {
    origination_number: String,
    destination_number: String,
    #[serde(default)]
    message_body: String,
    inbound_message_id: String,
    #[serde(default)]
    previous_published_message_id: Option<String>,
}

impl InboundText {
    /// Reads an SNS notification's `Message`.
    pub fn from_sns_message(message: &str) -> Result<Self, InboundTextError> {
        let raw: InboundSmsMessage =
            serde_json::from_str(message).map_err(|_| InboundTextError::Malformed("message"))?;
        let from = raw.origination_number.parse().map_err(|_| InboundTextError::Malformed("originationNumber"))?;
        let to = raw.destination_number.parse().map_err(|_| InboundTextError::Malformed("destinationNumber"))?;
        if raw.message_body.chars().count() > MAX_INBOUND_TEXT_CHARS {
            return Err(InboundTextError::TooLong);
        }
        let id_ok = |id: &str| !id.is_empty() && id.len() <= MAX_ID_CHARS;
        if !id_ok(&raw.inbound_message_id) {
            return Err(InboundTextError::Malformed("inboundMessageId"));
        }
        let previous = raw.previous_published_message_id.filter(|id| id_ok(id));
        Ok(Self {
            from,
            to,
            body: raw.message_body,
            inbound_message_id: raw.inbound_message_id,
            previous_published_message_id: previous,
        })
    }
}

#[cfg(test)]
mod tests {
    use aws_lambda_events::sns::SnsEvent;
    use serde_json::json;

    use super::*;

    fn fixture() -> SnsEvent {
        serde_json::from_str(include_str!("../../tests/fixtures/sns/inbound_sms.json")).unwrap()
    }

    #[test]
    fn a_notification_of_two_way_sms_reads_as_a_text_from_the_recipient_to_the_practice() {
        let event = fixture();
        let text = InboundText::from_sns_message(&event.records[0].sns.message).unwrap();
        assert_eq!(text.from.as_str(), "+12025550177");
        assert_eq!(text.to.as_str(), "+12025550100");
        assert_eq!(text.body, "Yes!");
        assert_eq!(text.inbound_message_id, "cae173d2-66b9-564c-8309-21f858e9fb84");
        assert_eq!(text.previous_published_message_id.as_deref(), Some("wJ0LMXR8eUnPdu3cOGmr7v0ytTV0jUR8"));
    }

    fn message(body: &str, from: &str) -> String {
        json!({
            "originationNumber": from, "destinationNumber": "+12025550100", "messageKeyword": "KEYWORD_1",
            "messageBody": body, "inboundMessageId": "id-1",
        })
        .to_string()
    }

    #[test]
    fn what_is_not_a_text_from_a_phone_is_refused_by_field() {
        assert_eq!(InboundText::from_sns_message("not json"), Err(InboundTextError::Malformed("message")));
        assert_eq!(
            InboundText::from_sns_message(&message("hi", "+1 202 555 O177")),
            Err(InboundTextError::Malformed("originationNumber"))
        );
        let long = "x".repeat(MAX_INBOUND_TEXT_CHARS + 1);
        assert_eq!(InboundText::from_sns_message(&message(&long, "+12025550177")), Err(InboundTextError::TooLong));
        let at_limit = "é".repeat(MAX_INBOUND_TEXT_CHARS);
        assert!(InboundText::from_sns_message(&message(&at_limit, "+12025550177")).is_ok());
    }

    #[test]
    fn an_empty_text_is_a_text() {
        let text = InboundText::from_sns_message(&message("", "+12025550177")).unwrap();
        assert_eq!(text.body, "");
        assert_eq!(text.previous_published_message_id, None);
    }
}
