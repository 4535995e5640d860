//! Email through Amazon SES v2 SendEmail.

use async_trait::async_trait;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use aws_sdk_sesv2::Client;

use super::{classify_sdk_error, ChannelSender, Outgoing, ProviderMessageId, SendError};
use crate::domain::{Channel, EmailAddress};

/// SES answers these for requests that will never be accepted as they are.
/// A missing configuration set or a suspended account is the deployment's
/// fault, not the message's: those stay transient.
const PERMANENT: &[&str] = &[
    "MessageRejected",
    "MailFromDomainNotVerifiedException",
    "BadRequestException",
];

pub struct SesEmailSender {
    client: Client,
    from: EmailAddress,
    configuration_set: Option<String>,
}

impl SesEmailSender {
    pub fn new(client: Client, from: EmailAddress, configuration_set: Option<String>) -> Self {
        Self { client, from, configuration_set }
    }
}

fn utf8(text: &str) -> Result<Content, SendError> {
    Content::builder()
        .data(text)
        .charset("UTF-8")
        .build()
        .map_err(|_| SendError::Permanent("content_build".into()))
}

#[async_trait]
impl ChannelSender for SesEmailSender {
    fn channel(&self) -> Channel {
        Channel::Email
    }

    async fn send(&self, outgoing: Outgoing<'_>) -> Result<ProviderMessageId, SendError> {
        let content = outgoing.content;
        let subject = content.subject.as_deref().unwrap_or_default();
        let message = Message::builder()
            .subject(utf8(subject)?)
            .body(Body::builder().text(utf8(&content.body)?).build())
            .build();
        let output = self
            .client
            .send_email()
            .from_email_address(self.from.as_str())
            .destination(Destination::builder().to_addresses(&content.to).build())
            .content(EmailContent::builder().simple(message).build())
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await
            .map_err(|e| classify_sdk_error(&e, PERMANENT))?;
        output
            .message_id
            .ok_or_else(|| SendError::Transient("no_message_id".into()))
    }
}
