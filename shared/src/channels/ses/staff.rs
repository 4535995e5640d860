//! Staff emails through SES: SES's simple content (subject, text and HTML),
//! tagged with the account and user.

use async_trait::async_trait;
use aws_sdk_sesv2::types::{Body, Content, EmailContent, Message};
use aws_sdk_sesv2::Client;

use super::{id_tag, send_once, Envelope};
use crate::channels::ses_tags::{ACCOUNT_TAG, USER_TAG};
use crate::channels::staff_mail::{StaffMail, StaffMailer};
use crate::channels::{ProviderMessageId, SendError};
use crate::domain::EmailAddress;

/// SES answers these for a send that will never be accepted as it is.
const PERMANENT: &[&str] = &["MessageRejected", "BadRequestException"];

pub struct SesStaffMailer {
    client: Client,
    from: EmailAddress,
    configuration_set: Option<String>,
}

impl SesStaffMailer {
    /// `from` is the deployment's verified sender; the configuration set
    /// brings bounces back to `delivery-status`.
    pub fn new(client: Client, from: EmailAddress, configuration_set: Option<String>) -> Self {
        Self { client, from, configuration_set }
    }
}

fn content(text: &str) -> Result<Content, SendError> {
    Content::builder().data(text).charset("UTF-8").build().map_err(|_| SendError::Permanent("content_build".into()))
}

#[async_trait]
impl StaffMailer for SesStaffMailer {
    async fn send(&self, mail: StaffMail<'_>) -> Result<ProviderMessageId, SendError> {
        let body = Body::builder().text(content(&mail.email.text)?).html(content(&mail.email.html)?).build();
        let message = Message::builder().subject(content(&mail.email.subject)?).body(body).build();
        let tags = [id_tag(ACCOUNT_TAG, mail.account_id.as_str())?, id_tag(USER_TAG, mail.user_id.as_str())?];
        let envelope = Envelope {
            from: &self.from,
            to: mail.to,
            tags: tags.into_iter().flatten().collect(),
            configuration_set: self.configuration_set.clone(),
        };
        send_once(&self.client, envelope, EmailContent::builder().simple(message).build(), PERMANENT).await
    }
}
