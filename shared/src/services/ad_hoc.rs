//! Ad-hoc messages (`POST /v1/messages`): what staff write goes as a
//! message like any other, due when they asked, through the sweep's checks
//! (messaging on, consent, opt-out, suppression, quiet hours unless urgent)
//! and the delivery functions' credit. Caps are for automated messages.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::channels::blobs::{BlobError, BlobKey, BlobStore};
use crate::domain::ad_hoc::{AdHocMessage, AttachmentUpload, InvalidAdHoc, LIFETIME};
use crate::domain::{AccountId, Clock, Message, MessageKind, StoredAttachment};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AdHocError {
    #[error(transparent)]
    Invalid(#[from] InvalidAdHoc),
    #[error("no recipient with this id exists in the account")]
    UnknownRecipient,
    #[error("the recipient has no address on {0}")]
    MissingAddress(&'static str),
    #[error("this idempotency_key was used for another message")]
    KeyReused,
    #[error("attachments cannot be kept: {0}")]
    Blobs(#[from] BlobError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A message written, and whether this request wrote it (`false`: the
/// same request came before).
#[derive(Debug, Clone)]
pub struct Written {
    pub message: Message,
    pub created: bool,
}

pub struct AdHocService {
    store: Store,
    clock: Arc<dyn Clock>,
    /// Where attachments are kept (S3).
    blobs: Arc<dyn BlobStore>,
}

impl AdHocService {
    pub fn new(store: Store, clock: Arc<dyn Clock>, blobs: Arc<dyn BlobStore>) -> Self {
        Self { store, clock, blobs }
    }

    /// Keeps each attachment under a key named by its content, before the
    /// message that names it is written.
    async fn keep(
        &self,
        account: &AccountId,
        message: &Message,
        uploads: &[AttachmentUpload],
    ) -> Result<Vec<StoredAttachment>, AdHocError> {
        let mut kept = Vec::with_capacity(uploads.len());
        for upload in uploads {
            let sha256: String = Sha256::digest(&upload.data).iter().map(|b| format!("{b:02x}")).collect();
            let key = BlobKey::outbound(account, message.id.as_str(), &sha256).map_err(|_| InvalidAdHoc::Attachment)?;
            self.blobs.put(&key, upload.data.clone(), &upload.content_type).await?;
            kept.push(StoredAttachment {
                filename: upload.filename.clone(),
                content_type: upload.content_type.clone(),
                key: key.as_str().to_owned(),
                bytes: upload.data.len() as u64,
                sha256,
            });
        }
        Ok(kept)
    }

    pub async fn send(&self, account: &AccountId, request: &AdHocMessage) -> Result<Written, AdHocError> {
        let recipient =
            self.store.get_recipient(account, &request.recipient_id).await?.ok_or(AdHocError::UnknownRecipient)?;
        let channel = request.channel.unwrap_or(recipient.channel);
        if recipient.address_on(channel).is_none() {
            return Err(AdHocError::MissingAddress(channel.as_str()));
        }
        AttachmentUpload::check_all(&request.attachments, channel)?;
        let now = self.clock.now();
        let due = request.due_at(now)?;
        let mut message = Message::new(request.id(), MessageKind::AdHoc, channel, recipient.id, due, now);
        message.not_after = Some(due + LIFETIME);
        let mut authored = request.authored.clone();
        authored.attachments = self.keep(account, &message, &request.attachments).await?;
        message.authored = Some(authored);
        if self.store.create_message(account, &message).await? {
            tracing::info!(channel = channel.as_str(), "ad-hoc message written");
            return Ok(Written { message, created: true });
        }
        let existing = self.store.get_message(account, &message.id).await?.ok_or(AdHocError::KeyReused)?;
        let same = existing.kind == MessageKind::AdHoc
            && existing.recipient_id == message.recipient_id
            && existing.channel == channel
            && existing.authored == message.authored;
        if !same {
            return Err(AdHocError::KeyReused);
        }
        Ok(Written { message: existing, created: false })
    }
}
