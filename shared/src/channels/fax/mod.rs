//! eFax: the message is rendered into a PDF ([`pdf`]) and sent through a
//! fax provider's REST API. Providers sit behind [`FaxProvider`] and
//! [`FaxWebhookVerifier`], so a second one can be added beside [`telnyx`].

pub mod pdf;
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

/// Checks a provider's status webhook and reads it.
pub trait FaxWebhookVerifier: Send + Sync {
    fn provider(&self) -> &'static str;
    /// `body` is the raw request body, exactly as received.
    fn verify(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<FaxStatusEvent, WebhookError>;
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
    #[test]
    fn fax_ids_name_their_provider() {
        assert_eq!(super::provider_message_id("telnyx", "b3f2"), "telnyx:b3f2");
    }
}
