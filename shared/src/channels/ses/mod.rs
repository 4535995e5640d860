//! Email through Amazon SES v2 SendEmail, as a raw MIME message: SES's
//! simple content has no attachments and no Reply-To of our choosing.
//! Staff emails go through SES too ([`staff`]).

mod staff;

pub use staff::SesStaffMailer;

use async_trait::async_trait;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, MessageTag, RawMessage};
use aws_sdk_sesv2::Client;
use mail_builder::headers::address::Address;
use mail_builder::MessageBuilder;

use super::ses_tags::{tag_value, ACCOUNT_TAG, MESSAGE_TAG};
use super::{classify_sdk_error, one_attempt, ChannelSender, Outgoing, ProviderMessageId, SendError};
use crate::domain::{Channel, EmailAddress, RenderedContent};

/// SES answers these for requests that will never be accepted as they are.
/// A missing configuration set or a suspended account is the deployment's
/// fault, not the message's: those stay transient.
const PERMANENT: &[&str] = &["MessageRejected", "MailFromDomainNotVerifiedException", "BadRequestException"];

/// SES refuses the whole send for a longer tag value.
const MAX_TAG_VALUE_LEN: usize = 256;

pub struct SesEmailSender {
    client: Client,
    from: EmailAddress,
    configuration_set: Option<String>,
    reply_domain: Option<String>,
}

impl SesEmailSender {
    /// `from` is the deployment's verified sender, for accounts without an
    /// identity of their own; `reply_domain` receives replies at
    /// `reply+TOKEN@reply_domain`.
    pub fn new(
        client: Client,
        from: EmailAddress,
        configuration_set: Option<String>,
        reply_domain: Option<String>,
    ) -> Self {
        Self { client, from, configuration_set, reply_domain }
    }

    fn addresses(&self, content: &RenderedContent) -> Result<Addresses, SendError> {
        // An account's identity that does not parse is ignored rather than
        // refused: the deployment's sender still delivers the message.
        let from = content.from.as_deref().and_then(|from| from.parse().ok()).unwrap_or_else(|| self.from.clone());
        let to = content.to.parse().map_err(|_| SendError::Permanent("invalid_recipient".into()))?;
        let reply_to = match (&content.reply_token, &self.reply_domain) {
            (Some(token), Some(domain)) => Some(
                format!("reply+{token}@{domain}")
                    .parse()
                    .map_err(|_| SendError::Permanent("invalid_reply_address".into()))?,
            ),
            _ => None,
        };
        Ok(Addresses { from, to, reply_to })
    }
}

/// Who an email is from, to, and where its replies go.
#[derive(Debug)]
struct Addresses {
    from: EmailAddress,
    to: EmailAddress,
    reply_to: Option<EmailAddress>,
}

/// The email as MIME: text, with its HTML alternative when there is one,
/// and the attachments after them.
fn mime(content: &RenderedContent, addresses: &Addresses) -> Result<Vec<u8>, SendError> {
    let display_name = content.letterhead.as_ref().map(|letterhead| letterhead.practice_name.as_str());
    let mut message = MessageBuilder::new()
        .from(Address::new_address(display_name, addresses.from.as_str()))
        .to(addresses.to.as_str())
        .text_body(content.body.as_str());
    if let Some(reply_to) = &addresses.reply_to {
        // Mail programs offer "unsubscribe" by this header: it mails the
        // reply address, whose reply reads as an opt-out of email.
        let unsubscribe = format!("mailto:{}?subject=unsubscribe", reply_to.as_str());
        message = message
            .reply_to(reply_to.as_str())
            .header("List-Unsubscribe", mail_builder::headers::url::URL::new(unsubscribe));
    }
    if let Some(subject) = &content.subject {
        message = message.subject(single_line(subject));
    }
    if let Some(html) = &content.html {
        message = message.html_body(html.as_str());
    }
    for attachment in &content.attachments {
        let data = attachment.decoded().map_err(|_| SendError::Permanent("attachment_unreadable".into()))?;
        let content_type = media_type(&attachment.content_type)
            .ok_or_else(|| SendError::Permanent("attachment_content_type".into()))?;
        message = message.attachment(content_type, attachment.filename.as_str(), data);
    }
    message.write_to_vec().map_err(|_| SendError::Permanent("mime_build".into()))
}

/// A header holds one line: a control character in a subject would end it
/// early or start a header of the text's choosing.
fn single_line(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// The content type as a bare `type/subtype` (RFC 2045 tokens), since
/// mail-builder writes it into the header unchecked.
fn media_type(content_type: &str) -> Option<&str> {
    let content_type = content_type.trim();
    let token =
        |part: &str| !part.is_empty() && part.chars().all(|c| c.is_ascii_graphic() && !"()<>@,;:\\\"/[]?=".contains(c));
    let (kind, subtype) = content_type.split_once('/')?;
    (token(kind) && token(subtype)).then_some(content_type)
}

/// the event still carries SES's message id, which the message keeps.
pub(crate) fn id_tag(name: &str, id: &str) -> Result<Option<MessageTag>, SendError> {
    let value = tag_value(id);
    if value.len() > MAX_TAG_VALUE_LEN {
        tracing::warn!(tag = name, id, "id too long for an SES tag; sent without it");
        return Ok(None);
    }
    MessageTag::builder()
        .name(name)
        .value(value)
        .build()
        .map(Some)
        .map_err(|_| SendError::Permanent("tag_build".into()))
}

#[async_trait]
impl ChannelSender for SesEmailSender {
    fn channel(&self) -> Channel {
        Channel::Email
    }

    async fn send(&self, outgoing: Outgoing<'_>) -> Result<ProviderMessageId, SendError> {
        let addresses = self.addresses(outgoing.content)?;
        let raw = RawMessage::builder()
            .data(Blob::new(mime(outgoing.content, &addresses)?))
            .build()
            .map_err(|_| SendError::Permanent("content_build".into()))?;
        let tags =
            [id_tag(ACCOUNT_TAG, outgoing.account_id.as_str())?, id_tag(MESSAGE_TAG, outgoing.message_id.as_str())?];
        let envelope = Envelope {
            from: &addresses.from,
            to: &addresses.to,
            tags: tags.into_iter().flatten().collect(),
            configuration_set: self.configuration_set.clone(),
        };
        send_once(&self.client, envelope, EmailContent::builder().raw(raw).build(), PERMANENT).await
    }
}

/// Who an SES email goes from and to, and what it is tagged with.
pub(crate) struct Envelope<'a> {
    pub from: &'a EmailAddress,
    pub to: &'a EmailAddress,
    pub tags: Vec<MessageTag>,
    pub configuration_set: Option<String>,
}

/// One SendEmail call, made once: a retry after a timeout could send the
/// email twice. `permanent` lists the error codes that will never pass.
pub(crate) async fn send_once(
    client: &Client,
    envelope: Envelope<'_>,
    content: EmailContent,
    permanent: &[&str],
) -> Result<ProviderMessageId, SendError> {
    let output = client
        .send_email()
        .from_email_address(envelope.from.as_str())
        .destination(Destination::builder().to_addresses(envelope.to.as_str()).build())
        .content(content)
        .set_email_tags(Some(envelope.tags))
        .set_configuration_set_name(envelope.configuration_set)
        .customize()
        .config_override(aws_sdk_sesv2::Config::builder().retry_config(one_attempt()))
        .send()
        .await
        .map_err(|e| classify_sdk_error(&e, permanent))?;
    output.message_id.ok_or_else(|| SendError::Unknown("no_message_id".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::ses_tags::from_tag_value;
    use crate::domain::{Attachment, Letterhead};
    use base64::Engine as _;

    fn addresses(reply_to: Option<&str>) -> Addresses {
        Addresses {
            from: "reminders@clinic.example.com".parse().unwrap(),
            to: "ann@example.com".parse().unwrap(),
            reply_to: reply_to.map(|address| address.parse().unwrap()),
        }
    }

    fn reminder() -> RenderedContent {
        RenderedContent {
            to: "ann@example.com".into(),
            subject: Some("Appointment reminder".into()),
            body: "See you tomorrow.".into(),
            ..RenderedContent::default()
        }
    }

    fn pdf(data: &[u8]) -> Attachment {
        Attachment {
            filename: "intake.pdf".into(),
            content_type: "application/pdf".into(),
            data_base64: base64::engine::general_purpose::STANDARD.encode(data),
        }
    }

    fn text(content: &RenderedContent, addresses: &Addresses) -> String {
        String::from_utf8(mime(content, addresses).unwrap()).unwrap()
    }

    #[test]
    fn plain_text_alone_is_a_single_part() {
        let mime = text(&reminder(), &addresses(None));
        assert!(mime.contains("Content-Type: text/plain; charset=\"utf-8\""), "{mime}");
        assert!(!mime.contains("multipart/"), "{mime}");
        assert!(!mime.contains("Reply-To") && !mime.contains("List-Unsubscribe"), "{mime}");
        assert!(mime.contains("From: <reminders@clinic.example.com>\r\n"), "{mime}");
        assert!(mime.contains("To: <ann@example.com>\r\n"), "{mime}");
        assert!(mime.contains("Subject: Appointment reminder\r\n"), "{mime}");
        assert!(mime.contains("See you tomorrow."), "{mime}");
    }

    #[test]
    fn html_is_the_alternative_of_the_text_and_attachments_follow_them() {
        let content = RenderedContent {
            html: Some("<p>See you <b>tomorrow</b>.</p>".into()),
            attachments: vec![pdf(b"%PDF-1.4 intake form")],
            ..reminder()
        };
        let mime = text(&content, &addresses(None));
        let mixed = mime.find("Content-Type: multipart/mixed").expect("mixed");
        let alternative = mime.find("Content-Type: multipart/alternative").expect("alternative");
        let plain = mime.find("Content-Type: text/plain").expect("text part");
        let html = mime.find("Content-Type: text/html").expect("html part");
        let attachment = mime.find("Content-Type: application/pdf").expect("attachment");
        assert!(mixed < alternative && alternative < plain && plain < html && html < attachment, "{mime}");
        assert!(mime.contains("<p>See you <b>tomorrow</b>.</p>"), "{mime}");
        assert!(mime.contains("Content-Disposition: attachment; filename=\"intake.pdf\""), "{mime}");
        let encoded = base64::engine::general_purpose::STANDARD.encode(b"%PDF-1.4 intake form");
        assert!(mime.contains(&encoded), "{mime}");
    }

    #[test]
    fn html_alone_is_multipart_alternative() {
        let content = RenderedContent { html: Some("<p>Hi</p>".into()), ..reminder() };
        let mime = text(&content, &addresses(None));
        assert!(mime.contains("Content-Type: multipart/alternative"), "{mime}");
        assert!(!mime.contains("multipart/mixed"), "{mime}");
    }

    #[test]
    fn replies_go_to_the_plus_address() {
        let mime = text(&reminder(), &addresses(Some("reply+tok123@replies.example.com")));
        assert!(mime.contains("Reply-To: <reply+tok123@replies.example.com>\r\n"), "{mime}");
        assert!(
            mime.contains("List-Unsubscribe: <mailto:reply+tok123@replies.example.com?subject=unsubscribe>\r\n"),
            "{mime}"
        );
    }

    #[test]
    fn the_practice_name_is_the_display_name() {
        let content = RenderedContent {
            letterhead: Some(Letterhead {
                practice_name: "Riverside Clinic, LLC".into(),
                practice_phone: "+12025550143".into(),
                recipient_name: "Ann Lee".into(),
            }),
            ..reminder()
        };
        let mime = text(&content, &addresses(None));
        assert!(mime.contains("From: \"Riverside Clinic, LLC\" <reminders@clinic.example.com>\r\n"), "{mime}");
    }

    #[test]
    fn a_utf8_subject_is_encoded_and_cannot_add_headers() {
        let content = RenderedContent { subject: Some("Rappel : rendez-vous demain à 9 h".into()), ..reminder() };
        let mime = text(&content, &addresses(None));
        assert!(mime.is_ascii(), "{mime}");
        assert!(mime.contains("Subject: =?utf-8?"), "{mime}");

        let content = RenderedContent { subject: Some("Hi\r\nBcc: eve@example.com".into()), ..reminder() };
        let mime = text(&content, &addresses(None));
        assert!(!mime.contains("\r\nBcc:"), "{mime}");
    }

    #[test]
    fn unreadable_attachments_are_refused_for_good() {
        let bad_data = Attachment { data_base64: "not base64!".into(), ..pdf(b"x") };
        let content = RenderedContent { attachments: vec![bad_data], ..reminder() };
        assert_eq!(mime(&content, &addresses(None)), Err(SendError::Permanent("attachment_unreadable".into())));

        for content_type in ["pdf", "application/pdf\r\nBcc: eve@example.com", "application/", "a b/c"] {
            let bad_type = Attachment { content_type: content_type.into(), ..pdf(b"x") };
            let content = RenderedContent { attachments: vec![bad_type], ..reminder() };
            assert_eq!(
                mime(&content, &addresses(None)),
                Err(SendError::Permanent("attachment_content_type".into())),
                "{content_type:?}"
            );
        }
    }

    fn sender(reply_domain: Option<&str>) -> SesEmailSender {
        let config =
            aws_sdk_sesv2::Config::builder().behavior_version(aws_sdk_sesv2::config::BehaviorVersion::latest()).build();
        SesEmailSender::new(
            Client::from_conf(config),
            "reminders@deploy.example.com".parse().unwrap(),
            None,
            reply_domain.map(str::to_owned),
        )
    }

    #[test]
    fn the_account_identity_sends_when_it_is_an_address() {
        let sender = sender(None);
        let own = RenderedContent { from: Some("front-desk@riverside.example.com".into()), ..reminder() };
        assert_eq!(sender.addresses(&own).unwrap().from.as_str(), "front-desk@riverside.example.com");
        let sender_id = RenderedContent { from: Some("Riverside".into()), ..reminder() };
        assert_eq!(sender.addresses(&sender_id).unwrap().from.as_str(), "reminders@deploy.example.com");
        assert_eq!(sender.addresses(&reminder()).unwrap().from.as_str(), "reminders@deploy.example.com");
    }

    #[test]
    fn a_reply_address_needs_both_a_token_and_a_domain() {
        let with_token = RenderedContent { reply_token: Some("tok123".into()), ..reminder() };
        let reply_to = sender(Some("replies.example.com")).addresses(&with_token).unwrap().reply_to;
        assert_eq!(reply_to.unwrap().as_str(), "reply+tok123@replies.example.com");
        assert!(sender(None).addresses(&with_token).unwrap().reply_to.is_none());
        assert!(sender(Some("replies.example.com")).addresses(&reminder()).unwrap().reply_to.is_none());

        let bad_token = RenderedContent { reply_token: Some("a b".into()), ..reminder() };
        assert_eq!(
            sender(Some("replies.example.com")).addresses(&bad_token).unwrap_err(),
            SendError::Permanent("invalid_reply_address".into())
        );
    }

    #[test]
    fn a_recipient_that_is_not_an_address_is_refused_for_good() {
        let content = RenderedContent { to: "+12025550143".into(), ..reminder() };
        assert_eq!(sender(None).addresses(&content).unwrap_err(), SendError::Permanent("invalid_recipient".into()));
    }

    #[tokio::test]
    async fn send_tags_the_email_with_its_account_and_message_in_the_configuration_set() {
        use wiremock::matchers::method;
        use wiremock::{Mock, MockServer, ResponseTemplate};

        let ses = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"MessageId": "ses-1"})))
            .mount(&ses)
            .await;
        let config = aws_sdk_sesv2::Config::builder()
            .behavior_version(aws_sdk_sesv2::config::BehaviorVersion::latest())
            .endpoint_url(ses.uri())
            .region(aws_sdk_sesv2::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sesv2::config::Credentials::new("test", "test", None, None, "test"))
            .build();
        let sender = SesEmailSender::new(
            Client::from_conf(config),
            "reminders@deploy.example.com".parse().unwrap(),
            Some("tidings-events".into()),
            None,
        );
        let account: crate::domain::AccountId = "acct:7".parse().unwrap();
        let message: crate::domain::MessageId = "appt-1~reminder~1440~1796220000".parse().unwrap();
        let content = reminder();
        let outgoing =
            Outgoing { account_id: &account, message_id: &message, claim_token: "claim-1", content: &content };
        assert_eq!(sender.send(outgoing).await.unwrap(), "ses-1");

        let requests = ses.received_requests().await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&requests[0].body).unwrap();
        assert_eq!(body["ConfigurationSetName"], "tidings-events");
        assert_eq!(body["FromEmailAddress"], "reminders@deploy.example.com");
        assert_eq!(body["Destination"]["ToAddresses"], serde_json::json!(["ann@example.com"]));
        let tags = body["EmailTags"].as_array().unwrap();
        let tag = |name: &str| {
            let value = tags.iter().find(|tag| tag["Name"] == name).unwrap()["Value"].as_str().unwrap();
            from_tag_value(value).unwrap()
        };
        assert_eq!(tag(ACCOUNT_TAG), "acct:7");
        assert_eq!(tag(MESSAGE_TAG), "appt-1~reminder~1440~1796220000");
        let raw =
            base64::engine::general_purpose::STANDARD.decode(body["Content"]["Raw"]["Data"].as_str().unwrap()).unwrap();
        assert!(String::from_utf8(raw).unwrap().contains("See you tomorrow."));
    }

    #[test]
    fn an_id_too_long_for_a_tag_is_left_untagged() {
        let long = "~".repeat(100);
        assert!(id_tag(MESSAGE_TAG, &long).unwrap().is_none());
        assert!(id_tag(MESSAGE_TAG, "m1").unwrap().is_some());
    }
}
