//! Consent the practice app captured itself (at online booking, or
//! recorded by staff), and every recipient's consent record with its
//! history, as an audit would read it.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::domain::consent::MAX_POLICY_VERSION_CHARS;
use crate::domain::{AccountId, Channel, Clock, Consent, ConsentEvidence, ConsentMethod, ConsentState, RecipientId};
use crate::store::{ConsentRecord, Store, StoreError};

/// The most characters of evidence kept with a change: the wording shown,
/// or a staff member's note.
pub const MAX_EVIDENCE_CHARS: usize = 2_000;
/// A capture time this far ahead of ours is a clock that is wrong.
const CLOCK_SKEW_MINUTES: i64 = 5;

/// Consent the practice app captured: `granted` or `revoked`, at online
/// booking or recorded by staff.
#[derive(Debug, Clone)]
pub struct CapturedConsent {
    pub channel: Channel,
    pub state: ConsentState,
    pub method: ConsentMethod,
    pub policy_version: Option<String>,
    pub captured_at: DateTime<Utc>,
    /// The wording the recipient saw, or what they said.
    pub evidence: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConsentError {
    #[error("no recipient with this id exists in the account")]
    UnknownRecipient,
    #[error("fax needs no consent")]
    FaxNeedsNone,
    #[error("state must be granted or revoked")]
    State,
    #[error("method must be online_booking or staff_recorded")]
    Method,
    #[error("online_booking consent must name the account's current privacy_policy_version")]
    PolicyVersionMismatch,
    #[error("policy_version must be 1 to {MAX_POLICY_VERSION_CHARS} characters")]
    PolicyVersion,
    #[error("captured_at is in the future")]
    CapturedInFuture,
    #[error("evidence must be 1 to {MAX_EVIDENCE_CHARS} characters")]
    Evidence,
    #[error("the recipient has no address on this channel")]
    NoAddress,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct ConsentService {
    store: Store,
    clock: Arc<dyn Clock>,
}

impl ConsentService {
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// A recipient's consent on each channel and its history.
    pub async fn record(&self, account: &AccountId, recipient: &RecipientId) -> Result<ConsentRecord, ConsentError> {
        if self.store.get_recipient(account, recipient).await?.is_none() {
            return Err(ConsentError::UnknownRecipient);
        }
        Ok(self.store.consent_record(account, recipient).await?)
    }

    /// Records consent the practice app captured, for the address the
    /// recipient has on that channel now. The same change again records
    /// nothing new.
    pub async fn capture(
        &self,
        account: &AccountId,
        recipient_id: &RecipientId,
        captured: CapturedConsent,
    ) -> Result<ConsentRecord, ConsentError> {
        if captured.channel == Channel::Fax {
            return Err(ConsentError::FaxNeedsNone);
        }
        if !matches!(captured.state, ConsentState::Granted | ConsentState::Revoked) {
            return Err(ConsentError::State);
        }
        if !matches!(captured.method, ConsentMethod::OnlineBooking | ConsentMethod::StaffRecorded) {
            return Err(ConsentError::Method);
        }
        if captured
            .policy_version
            .as_ref()
            .is_some_and(|v| v.trim().is_empty() || v.chars().count() > MAX_POLICY_VERSION_CHARS)
        {
            return Err(ConsentError::PolicyVersion);
        }
        let evidence_chars = captured.evidence.trim().chars().count();
        if evidence_chars == 0 || captured.evidence.chars().count() > MAX_EVIDENCE_CHARS {
            return Err(ConsentError::Evidence);
        }
        if captured.captured_at > self.clock.now() + Duration::minutes(CLOCK_SKEW_MINUTES) {
            return Err(ConsentError::CapturedInFuture);
        }
        let recipient = self.store.get_recipient(account, recipient_id).await?.ok_or(ConsentError::UnknownRecipient)?;
        if captured.method == ConsentMethod::OnlineBooking {
            let current = self.store.get_settings(account).await?.and_then(|s| s.opt_in.privacy_policy_version);
            if current.is_none() || current != captured.policy_version {
                return Err(ConsentError::PolicyVersionMismatch);
            }
        }
        let address = recipient.address_on(captured.channel).ok_or(ConsentError::NoAddress)?;
        let consent = Consent {
            channel: captured.channel,
            state: captured.state,
            since: captured.captured_at,
            method: captured.method,
            address: address.as_str().to_owned(),
            evidence: ConsentEvidence { words: captured.evidence, reply_id: None, message_id: None },
            policy_version: captured.policy_version,
        };
        self.store.change_consent(account, recipient_id, &consent).await?;
        if consent.state == ConsentState::Granted {
            // What waited for this consent goes now (again after a crash:
            // releasing finds nothing twice).
            self.store.release_awaiting_opt_in(account, recipient_id, consent.channel, self.clock.now()).await?;
        }
        Ok(self.store.consent_record(account, recipient_id).await?)
    }
}
