//! SMS through Amazon SNS Publish to a phone number.

use async_trait::async_trait;
use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sns::Client;

use super::{classify_sdk_error, ChannelSender, Outgoing, ProviderMessageId, SendError};
use crate::domain::{Channel, PhoneNumber};

/// SNS answers these for numbers or messages it will never deliver. A
/// permission or account fault is not the message's: it stays transient.
const PERMANENT: &[&str] = &[
    "InvalidParameter",
    "InvalidParameterValue",
    "OptedOut",
    "EndpointDisabled",
];

/// Where an SMS says it is from: a sender id where the country allows one,
/// an origination number otherwise.
#[derive(Debug, Clone, Default)]
pub struct SmsOrigin {
    pub sender_id: Option<String>,
    pub origination_number: Option<PhoneNumber>,
}

pub struct SnsSmsSender {
    client: Client,
    origin: SmsOrigin,
}

impl SnsSmsSender {
    pub fn new(client: Client, origin: SmsOrigin) -> Self {
        Self { client, origin }
    }
}

fn string_attribute(value: &str) -> Result<MessageAttributeValue, SendError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|_| SendError::Permanent("attribute_build".into()))
}

#[async_trait]
impl ChannelSender for SnsSmsSender {
    fn channel(&self) -> Channel {
        Channel::Sms
    }

    async fn send(&self, outgoing: Outgoing<'_>) -> Result<ProviderMessageId, SendError> {
        let content = outgoing.content;
        // Reminders are transactional: higher delivery priority, and allowed
        // to numbers on promotional do-not-contact lists.
        let mut request = self
            .client
            .publish()
            .phone_number(&content.to)
            .message(&content.body)
            .message_attributes("AWS.SNS.SMS.SMSType", string_attribute("Transactional")?);
        if let Some(sender_id) = &self.origin.sender_id {
            request = request.message_attributes("AWS.SNS.SMS.SenderID", string_attribute(sender_id)?);
        }
        if let Some(number) = &self.origin.origination_number {
            request = request
                .message_attributes("AWS.MM.SMS.OriginationNumber", string_attribute(number.as_str())?);
        }
        let output = request.send().await.map_err(|e| classify_sdk_error(&e, PERMANENT))?;
        output
            .message_id
            .ok_or_else(|| SendError::Transient("no_message_id".into()))
    }
}
