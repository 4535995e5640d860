//! Delivery: one `MessageReady` event becomes at most one send on its channel.

use std::sync::Arc;

use chrono::Duration;

use crate::channels::{ChannelSender, Outgoing, SendError};
use crate::domain::{Channel, Clock, MessageStatus, StatusReason};
use crate::events::MessageReady;
use crate::store::{Settlement, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum DeliveryOutcome {
    Sent { provider_message_id: String },
    /// The event was a repeat, stale, or the message was withdrawn: nothing sent.
    Ignored,
    /// The appointment started before the message could go.
    Expired,
    /// The provider refused the message for good.
    Failed { code: String },
}

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("a {event} message was routed to the {function} delivery function")]
    WrongChannel { event: &'static str, function: &'static str },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Send(SendError),
}

impl DeliveryError {
    pub fn is_retryable(&self) -> bool {
        match self {
            DeliveryError::WrongChannel { .. } => false,
            DeliveryError::Store(err) => err.is_retryable(),
            DeliveryError::Send(err) => matches!(err, SendError::Transient(_)),
        }
    }
}

pub struct Delivery {
    store: Store,
    sender: Arc<dyn ChannelSender>,
    clock: Arc<dyn Clock>,
    lease: Duration,
}

impl Delivery {
    pub fn new(store: Store, sender: Arc<dyn ChannelSender>, clock: Arc<dyn Clock>, lease: Duration) -> Self {
        Self { store, sender, clock, lease }
    }

    pub fn channel(&self) -> Channel {
        self.sender.channel()
    }

    /// Records the outcome. Only this claim's holder can have started the
    /// send, so a settlement that does not apply means the record changed
    /// underneath: worth a warning, not a retry.
    async fn settle(&self, event: &MessageReady, settlement: &Settlement) -> Result<(), StoreError> {
        let applied = self
            .store
            .settle(&event.account_id, &event.message_id, &event.claim_token, settlement)
            .await?;
        if !applied {
            tracing::warn!(status = settlement.status.as_str(), "outcome not recorded: the claim was no longer held");
        }
        Ok(())
    }

    pub async fn deliver(&self, event: &MessageReady) -> Result<DeliveryOutcome, DeliveryError> {
        if event.channel != self.sender.channel() {
            return Err(DeliveryError::WrongChannel {
                event: event.channel.as_str(),
                function: self.sender.channel().as_str(),
            });
        }
        let (account, id, token) = (&event.account_id, &event.message_id, event.claim_token.as_str());
        let now = self.clock.now();
        let Some(message) = self.store.start_send(account, id, token, now).await? else {
            tracing::info!("repeated or stale event: nothing to send");
            return Ok(DeliveryOutcome::Ignored);
        };
        let content = match message.content {
            Some(content) if message.not_after.is_none_or(|limit| now < limit) => content,
            _ => {
                let ended = Settlement::ended(MessageStatus::Expired, StatusReason::AppointmentStarted);
                self.settle(event, &ended).await?;
                return Ok(DeliveryOutcome::Expired);
            }
        };
        match self.sender.send(Outgoing { account_id: account, message_id: id, content: &content }).await {
            Ok(provider_message_id) => {
                let sent = Settlement::sent(self.clock.now(), provider_message_id.clone());
                self.settle(event, &sent).await?;
                tracing::info!(channel = self.channel().as_str(), "sent");
                Ok(DeliveryOutcome::Sent { provider_message_id })
            }
            Err(SendError::Permanent(code)) => {
                let failed = Settlement::ended(MessageStatus::Failed, StatusReason::ProviderRejected);
                self.settle(event, &failed).await?;
                tracing::warn!(code = %code, "provider refused the message");
                Ok(DeliveryOutcome::Failed { code })
            }
            Err(err @ SendError::Transient(_)) => {
                // Give the send back so that the retry of this event may try
                // again; the lease brings it back to a sweep otherwise.
                self.store.release_send(account, id, token, now + self.lease).await?;
                Err(DeliveryError::Send(err))
            }
        }
    }
}
