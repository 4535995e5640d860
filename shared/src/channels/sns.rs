//! SMS through Amazon SNS Publish to a phone number.

use async_trait::async_trait;
use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sns::Client;

use super::{classify_sdk_error, one_attempt, ChannelSender, Outgoing, ProviderMessageId, SendError};
use crate::domain::{Channel, PhoneNumber};

/// SNS answers these for numbers or messages it will never deliver. A
/// permission or account fault is not the message's: it stays transient.
const PERMANENT: &[&str] = &["InvalidParameter", "InvalidParameterValue", "OptedOut", "EndpointDisabled"];

/// Where an SMS says it is from: a sender id where the country allows one,
/// an origination number otherwise.
#[derive(Debug, Clone, Default)]
pub struct SmsOrigin {
    pub sender_id: Option<String>,
    pub origination_number: Option<PhoneNumber>,
}

impl SmsOrigin {
    /// The account's own sender (the content's `from`: an E.164 number or a
    /// sender id) in place of the deployment's; the deployment's otherwise.
    fn for_account(&self, from: Option<&str>) -> SmsOrigin {
        match from {
            Some(from) => match from.parse::<PhoneNumber>() {
                Ok(number) => SmsOrigin { sender_id: None, origination_number: Some(number) },
                Err(_) => SmsOrigin { sender_id: Some(from.to_owned()), origination_number: None },
            },
            None => self.clone(),
        }
    }
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
        let origin = self.origin.for_account(content.from.as_deref());
        // Reminders are transactional: higher delivery priority, and allowed
        // to numbers on promotional do-not-contact lists.
        let mut request = self
            .client
            .publish()
            .phone_number(&content.to)
            .message(&content.body)
            .message_attributes("AWS.SNS.SMS.SMSType", string_attribute("Transactional")?);
        if let Some(sender_id) = &origin.sender_id {
            request = request.message_attributes("AWS.SNS.SMS.SenderID", string_attribute(sender_id)?);
        }
        if let Some(number) = &origin.origination_number {
            request = request.message_attributes("AWS.MM.SMS.OriginationNumber", string_attribute(number.as_str())?);
        }
        let output = request
            .customize()
            .config_override(aws_sdk_sns::Config::builder().retry_config(one_attempt()))
            .send()
            .await
            .map_err(|e| classify_sdk_error(&e, PERMANENT))?;
        output.message_id.ok_or_else(|| SendError::Unknown("no_message_id".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AccountId, MessageId, RenderedContent};
    use aws_sdk_sns::config::{BehaviorVersion, Credentials, Region};
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const PUBLISHED: &str = "<PublishResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\">\
        <PublishResult><MessageId>m-1</MessageId></PublishResult></PublishResponse>";

    /// The form SNS received: its query-protocol parameters.
    async fn published_with(from: Option<&str>) -> String {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(PUBLISHED, "text/xml"))
            .mount(&server)
            .await;
        let config = aws_sdk_sns::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .endpoint_url(server.uri())
            .build();
        let deployment = SmsOrigin { sender_id: Some("Tidings".into()), origination_number: None };
        let sender = SnsSmsSender::new(Client::from_conf(config), deployment);
        let content = RenderedContent {
            to: "+12025550101".into(),
            body: "Reminder".into(),
            from: from.map(str::to_owned),
            ..RenderedContent::default()
        };
        let account: AccountId = "acct".parse().unwrap();
        let message: MessageId = "m".parse().unwrap();
        let id = sender
            .send(Outgoing { account_id: &account, message_id: &message, claim_token: "claim-1", content: &content })
            .await
            .unwrap();
        assert_eq!(id, "m-1");
        let request = &server.received_requests().await.unwrap()[0];
        String::from_utf8(request.body.clone()).unwrap()
    }

    #[tokio::test]
    async fn the_accounts_number_or_sender_id_replaces_the_deployments() {
        let own_number = published_with(Some("+12025550199")).await;
        assert!(own_number.contains("AWS.MM.SMS.OriginationNumber"), "{own_number}");
        assert!(own_number.contains("%2B12025550199"), "{own_number}");
        assert!(!own_number.contains("AWS.SNS.SMS.SenderID"), "{own_number}");
        assert!(own_number.contains("Transactional"), "{own_number}");

        let own_id = published_with(Some("Riverside")).await;
        assert!(own_id.contains("AWS.SNS.SMS.SenderID") && own_id.contains("Riverside"), "{own_id}");

        let deployment = published_with(None).await;
        assert!(deployment.contains("Tidings") && !deployment.contains("OriginationNumber"), "{deployment}");
    }
}
