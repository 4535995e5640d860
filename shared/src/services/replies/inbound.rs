//! How each channel's inbound arrives: a text in its SNS notification, an
//! email stored by SES's receipt rule and read from the bucket, a fax whose
//! PDF is fetched from its provider. Documents are kept in the bucket under
//! the reply's own keys, so a redelivery rewrites the same files.

use chrono::{DateTime, Utc};

use super::{Inbound, InboundRoute, ReplyError, ReplyReceipt, ReplyService};
use crate::channels::blobs::{BlobKey, Download};
use crate::channels::email_inbound::{parse_email, reply_token, AttachmentLimits};
use crate::channels::fax::{FaxMedia, InboundFax, MediaError};
use crate::channels::ses_receipt::{ReceivedEmail, Verdict};
use crate::channels::sms_inbound::InboundText;
use crate::domain::{AccountId, Channel, ReplyAttachment, ReplyId};

/// Where inbound email arrives and what of it is kept.
#[derive(Debug, Clone, Default)]
pub struct InboundConfig {
    /// Replies go to `reply+TOKEN@` this domain (`REPLY_DOMAIN`).
    pub reply_domain: Option<String>,
    /// The receipt rule's object key prefix (`INBOUND_EMAIL_PREFIX`).
    pub inbound_email_prefix: String,
    pub attachments: AttachmentLimits,
}

/// The largest raw email read: SES stores up to 40 MB, and a reply's
/// attachments are capped far below that.
const MAX_RAW_EMAIL_BYTES: usize = 40 * 1024 * 1024;
const FAX_FILENAME: &str = "fax.pdf";
const PDF: &str = "application/pdf";

/// A document of a reply, as its download goes out.
#[derive(Debug)]
pub struct AttachmentDownload {
    pub attachment: ReplyAttachment,
    pub download: Download,
}

/// Attachment ids: `a1`, `a2`, … in the order they came.
fn attachment_id(index: usize) -> String {
    format!("a{}", index + 1)
}

impl ReplyService {
    /// An inbound text (AWS End User Messaging through SNS), received at
    /// `received_at` (the notification's time).
    pub async fn receive_text(
        &self,
        text: &InboundText,
        received_at: DateTime<Utc>,
    ) -> Result<ReplyReceipt, ReplyError> {
        let route = InboundRoute::Number { channel: Channel::Sms, ours: text.to.clone(), theirs: text.from.clone() };
        let Some(routed) = self.route(Channel::Sms, &text.inbound_message_id, &route).await? else {
            tracing::warn!(channel = "sms", "reply from a sender no practice wrote to: not kept");
            return Ok(ReplyReceipt::Unroutable);
        };
        let inbound = Inbound {
            channel: Channel::Sms,
            from: text.from.as_str().to_owned(),
            to: text.to.as_str().to_owned(),
            received_at,
            subject: None,
            body: text.body.clone(),
            attachments: Vec::new(),
        };
        self.receive(&routed, inbound).await
    }

    /// An email SES received and stored: read from the bucket, its new text
    /// and documents kept. Spam and viruses are not kept.
    pub async fn receive_email(&self, email: &ReceivedEmail) -> Result<ReplyReceipt, ReplyError> {
        if email.spam == Verdict::Fail || email.virus == Verdict::Fail {
            tracing::warn!(spam = ?email.spam, virus = ?email.virus, "inbound email refused");
            return Ok(ReplyReceipt::Refused("spam_or_virus"));
        }
        let reply_address = self.config.reply_domain.as_deref().and_then(|domain| {
            email.recipients.iter().find_map(|address| {
                reply_token(address, domain).map(|token| (address.clone(), token.to_ascii_lowercase()))
            })
        });
        let (to, token) = match reply_address {
            Some((address, token)) => (address, Some(token)),
            None => (email.recipients.first().cloned().unwrap_or_default(), None),
        };
        let route = InboundRoute::Email { token };
        let Some(routed) = self.route(Channel::Email, &email.message_id, &route).await? else {
            tracing::warn!(channel = "email", "reply to no message of ours: not kept");
            return Ok(ReplyReceipt::Unroutable);
        };
        let key = BlobKey::inbound_email(&self.config.inbound_email_prefix, &email.message_id)
            .map_err(|_| ReplyError::BadProviderId)?;
        let raw = self.blobs.get(&key).await?.ok_or(ReplyError::EmailNotStored)?;
        if raw.len() > MAX_RAW_EMAIL_BYTES {
            return Ok(ReplyReceipt::Refused("email_too_large"));
        }
        let Ok(parsed) = parse_email(&raw, &self.config.attachments) else {
            tracing::warn!("inbound email unreadable");
            return Ok(ReplyReceipt::Refused("unreadable_email"));
        };
        let mut attachments = Vec::with_capacity(parsed.attachments.len());
        for (index, document) in parsed.attachments.into_iter().enumerate() {
            let size = document.bytes.len() as u64;
            let attachment = ReplyAttachment {
                id: attachment_id(index),
                filename: document.filename,
                content_type: document.content_type,
                size,
            };
            self.keep(&routed.account, &routed.reply_id, &attachment, document.bytes).await?;
            attachments.push(attachment);
        }
        if parsed.refused_attachments > 0 {
            tracing::info!(refused = parsed.refused_attachments, "attachments not kept");
        }
        let inbound = Inbound {
            channel: Channel::Email,
            from: parsed.from.map(|from| from.as_str().to_owned()).unwrap_or_default(),
            to,
            received_at: email.timestamp,
            subject: parsed.subject,
            body: parsed.body,
            attachments,
        };
        self.receive(&routed, inbound).await
    }

    /// A fax someone sent to one of our numbers: its PDF fetched from the
    /// provider (while its link lives) and kept as the reply's document.
    /// A PDF the provider will never give is noted, and the reply kept
    /// without it, so staff know a fax came.
    pub async fn receive_fax(&self, media: &dyn FaxMedia, fax: &InboundFax) -> Result<ReplyReceipt, ReplyError> {
        let route = InboundRoute::Number { channel: Channel::Fax, ours: fax.to.clone(), theirs: fax.from.clone() };
        let Some(routed) = self.route(Channel::Fax, &fax.fax_id, &route).await? else {
            tracing::warn!(channel = "fax", "fax from a sender no practice wrote to: not kept");
            return Ok(ReplyReceipt::Unroutable);
        };
        let mut attachments = Vec::new();
        match media.fetch(fax).await {
            Ok(pdf) => {
                let attachment = ReplyAttachment {
                    id: attachment_id(0),
                    filename: FAX_FILENAME.into(),
                    content_type: PDF.into(),
                    size: pdf.len() as u64,
                };
                self.keep(&routed.account, &routed.reply_id, &attachment, pdf).await?;
                attachments.push(attachment);
            }
            Err(MediaError::Refused(code)) => tracing::warn!(code, "fax media refused: kept without its pages"),
            Err(err) => return Err(err.into()),
        }
        let inbound = Inbound {
            channel: Channel::Fax,
            from: fax.from.as_str().to_owned(),
            to: fax.to.as_str().to_owned(),
            received_at: self.clock.now(),
            subject: None,
            body: String::new(),
            attachments,
        };
        self.receive(&routed, inbound).await
    }

    async fn keep(
        &self,
        account: &AccountId,
        reply: &ReplyId,
        attachment: &ReplyAttachment,
        bytes: Vec<u8>,
    ) -> Result<(), ReplyError> {
        let key =
            BlobKey::attachment(account, reply.as_str(), &attachment.id).map_err(|_| ReplyError::BadProviderId)?;
        self.blobs.put(&key, bytes, &attachment.content_type).await?;
        Ok(())
    }

    /// A reply's document, as its download goes out (a short-lived link on
    /// AWS, the bytes locally); `None` when the reply or document is unknown.
    pub async fn attachment(
        &self,
        account: &AccountId,
        reply: &ReplyId,
        attachment_id: &str,
    ) -> Result<Option<AttachmentDownload>, ReplyError> {
        let Some(found) = self.store.get_reply(account, reply).await? else { return Ok(None) };
        let Some(attachment) = found.attachments.into_iter().find(|a| a.id == attachment_id) else {
            return Ok(None);
        };
        let key =
            BlobKey::attachment(account, reply.as_str(), &attachment.id).map_err(|_| ReplyError::BadProviderId)?;
        let download = self.blobs.download(&key, &attachment.filename, &attachment.content_type).await?;
        Ok(Some(AttachmentDownload { attachment, download }))
    }
}
