//! eFax: the message is rendered into a PDF ([`pdf`]) and sent through a
//! fax provider's REST API; faxes sent to our numbers arrive by the same
//! webhook, their PDF fetched from the provider ([`FaxMedia`]). Providers
//! sit behind [`FaxProvider`], [`FaxWebhookVerifier`] and [`FaxMedia`], so
//! a second one can be added beside [`telnyx`].

pub mod pdf;
#[cfg(feature = "telnyx")]
pub mod telnyx;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{ChannelSender, Outgoing, ProviderMessageId, SendError};
use crate::domain::{Channel, PhoneNumber};

/// A fax provider's send API.
#[async_trait]
pub trait FaxProvider: Send + Sync {
    /// The provider's name as the status webhook's route has it:
    /// `POST /webhooks/fax/{provider}`.
    fn name(&self) -> &'static str;
    /// Sends one PDF; the provider's fax id comes back.
    async fn send_fax(
        &self,
        to: &PhoneNumber,
        from: &PhoneNumber,
        pdf: Vec<u8>,
    ) -> Result<ProviderMessageId, SendError>;
}

/// What a verified status webhook says about one fax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaxStatusEvent {
    /// The provider's id of this webhook event: a redelivery repeats it.
    pub event_id: String,
    /// The fax id [`FaxProvider::send_fax`] returned.
    pub fax_id: String,
    pub status: FaxStatus,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaxStatus {
    /// Every page reached the receiving machine.
    Delivered { pages: u32 },
    /// The fax will not be delivered; `reason` is the provider's code.
    Failed { reason: String },
    /// Queued, media processed, sending: nothing final yet.
    InProgress,
}

/// A fax someone sent to one of our numbers: the provider has it as a PDF
/// behind `media_url`, for a short while.
#[derive(Clone, PartialEq, Eq)]
pub struct InboundFax {
    /// The provider's id of this webhook event: a redelivery repeats it.
    pub event_id: String,
    /// The provider's id of the fax.
    pub fax_id: String,
    pub from: PhoneNumber,
    /// Our number it was sent to.
    pub to: PhoneNumber,
    /// Where [`FaxMedia::fetch`] finds the PDF. Presigned: whoever holds it
    /// can read the fax until it expires.
    pub media_url: String,
    pub page_count: Option<u32>,
    /// Only part of the fax arrived: the PDF holds the pages that did.
    pub partial: bool,
}

/// The sender's number is PHI and the media URL a credential to the fax:
/// neither reaches a log through `{:?}`.
impl std::fmt::Debug for InboundFax {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundFax")
            .field("event_id", &self.event_id)
            .field("fax_id", &self.fax_id)
            .field("from", &self.from.masked())
            .field("to", &self.to.as_str())
            .field("media_url", &"<presigned>")
            .field("page_count", &self.page_count)
            .field("partial", &self.partial)
            .finish()
    }
}

/// What a verified fax webhook says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaxWebhookEvent {
    /// About a fax's progress.
    Status(FaxStatusEvent),
    /// A fax was received, and its PDF is ready to fetch.
    Received(InboundFax),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// Missing or wrong signature: answered 401, and nothing changes.
    #[error("the webhook's signature does not verify")]
    BadSignature,
    /// Signed too long ago (or in the future): a replay.
    #[error("the webhook's timestamp is outside the accepted window")]
    Stale,
    /// Signed correctly but not a payload we understand.
    #[error("the webhook's payload does not parse: {0}")]
    Malformed(String),
}

/// Checks a provider's fax webhook and reads it.
pub trait FaxWebhookVerifier: Send + Sync {
    fn provider(&self) -> &'static str;
    /// `body` is the raw request body, exactly as received.
    fn verify(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<FaxWebhookEvent, WebhookError>;
}

/// Why a received fax's PDF could not be fetched. The text is a code: never
/// the URL (a credential to the fax) nor anything the fax says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    /// Will fail every time: a host or scheme we do not fetch from, a file
    /// over the size limit, not a PDF, a link that is gone or refused.
    #[error("the fax's media was refused: {0}")]
    Refused(String),
    /// A network fault, a timeout, the provider's outage: fetching again
    /// may work while the link lives.
    #[error("the fax's media is unavailable: {0}")]
    Unavailable(String),
}

impl MediaError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, MediaError::Unavailable(_))
    }
}

/// Fetches a received fax's PDF from where its provider keeps it.
#[async_trait]
pub trait FaxMedia: Send + Sync {
    async fn fetch(&self, inbound: &InboundFax) -> Result<Vec<u8>, MediaError>;
}

/// The fax channel: renders the PDF and hands it to the provider.
pub struct FaxSender {
    provider: Arc<dyn FaxProvider>,
    /// The deployment's fax number, used when the account has none.
    from: PhoneNumber,
}

impl FaxSender {
    pub fn new(provider: Arc<dyn FaxProvider>, from: PhoneNumber) -> Self {
        Self { provider, from }
    }
}

#[async_trait]
impl ChannelSender for FaxSender {
    fn channel(&self) -> Channel {
        Channel::Fax
    }

    async fn send(&self, outgoing: Outgoing<'_>) -> Result<ProviderMessageId, SendError> {
        let content = outgoing.content;
        let to: PhoneNumber = content.to.parse().map_err(|_| SendError::Permanent("invalid_fax_number".into()))?;
        let from = match content.from.as_deref().map(str::parse::<PhoneNumber>) {
            Some(Ok(number)) => number,
            _ => self.from.clone(),
        };
        let document = pdf::render(content).map_err(|e| SendError::Permanent(e.code().into()))?;
        let fax_id = self.provider.send_fax(&to, &from, document.bytes).await?;
        Ok(provider_message_id(self.provider.name(), &fax_id))
    }
}

/// A fax's id as its message records it: the provider's name and its own
/// id, so that two providers' ids never meet and each webhook finds its own.
pub fn provider_message_id(provider: &str, fax_id: &str) -> ProviderMessageId {
    format!("{provider}:{fax_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fax_ids_name_their_provider() {
        assert_eq!(provider_message_id("telnyx", "b3f2"), "telnyx:b3f2");
    }

    #[test]
    fn an_inbound_fax_s_debug_output_hides_the_sender_and_the_link() {
        let fax = InboundFax {
            event_id: "e1".into(),
            fax_id: "f1".into(),
            from: "+13125550199".parse().unwrap(),
            to: "+12025550101".parse().unwrap(),
            media_url: "https://s3.amazonaws.com/faxes-prod/f1.pdf?X-Amz-Signature=abc".into(),
            page_count: Some(2),
            partial: false,
        };
        let shown = format!("{:?}", FaxWebhookEvent::Received(fax));
        assert!(!shown.contains("3125550199") && !shown.contains("Signature"), "{shown}");
        assert!(shown.contains("f1") && shown.contains("+12025550101"), "{shown}");
    }

    #[test]
    fn only_unavailable_media_is_worth_fetching_again() {
        assert!(MediaError::Unavailable("http_503".into()).is_retryable());
        assert!(!MediaError::Refused("not_pdf".into()).is_retryable());
    }
}
