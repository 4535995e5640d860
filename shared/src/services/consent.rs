//! Consent the practice app captured itself (at online booking, or
//! recorded by staff), and every recipient's consent record with its
//! history, as an audit would read it.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::domain::consent::{answered_by, link_statement, MAX_POLICY_VERSION_CHARS};
use crate::domain::{
    AccountId, Channel, Clock, Consent, ConsentEvidence, ConsentLinkClaims, ConsentLinkError, ConsentLinks,
    ConsentMethod, ConsentState, RecipientId,
};
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
    Link(#[from] ConsentLinkError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the public consent page shows for a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentPage {
    pub practice_name: String,
    /// What the recipient agrees to, in their words to be.
    pub statement: String,
    pub privacy_policy_url: Option<String>,
    /// Whether consent from this address is recorded (a second use of the
    /// link, or the recipient agreed another way).
    pub recorded: bool,
}

pub struct ConsentService {
    store: Store,
    clock: Arc<dyn Clock>,
    links: ConsentLinks,
}

impl ConsentService {
    pub fn new(store: Store, clock: Arc<dyn Clock>, links: ConsentLinks) -> Self {
        Self { store, clock, links }
    }

    /// What the link `token` asks, and whether it is answered. Reading it
    /// changes nothing (an email scanner opens links too).
    pub async fn link_page(&self, token: &str) -> Result<ConsentPage, ConsentError> {
        let claims = self.links.verify(token, self.clock.now())?;
        Ok(self.page_and_address(&claims).await?.0)
    }

    /// Records the consent the link `token` asks for, once: a second use
    /// records nothing and shows it recorded. What waited for it is
    /// released.
    pub async fn consent_by_link(&self, token: &str) -> Result<ConsentPage, ConsentError> {
        let now = self.clock.now();
        let claims = self.links.verify(token, now)?;
        let (page, address) = self.page_and_address(&claims).await?;
        if page.recorded {
            return Ok(page);
        }
        let settings = self.store.get_settings(&claims.account).await?;
        let consent = Consent {
            channel: claims.channel,
            state: ConsentState::Granted,
            since: now,
            method: answered_by(claims.channel),
            address,
            evidence: ConsentEvidence {
                words: page.statement.clone(),
                reply_id: None,
                message_id: Some(claims.request),
            },
            policy_version: settings.and_then(|s| s.opt_in.privacy_policy_version),
        };
        self.store.record_consent(&claims.account, &claims.recipient, &consent, now).await?;
        tracing::info!(channel = claims.channel.as_str(), "consent recorded by link");
        Ok(ConsentPage { recorded: true, ..page })
    }

    /// The page for a verified link, and the address its request went to.
    /// A link stops being valid when the recipient no longer has that
    /// address, or refused or withdrew consent there after it was sent (a
    /// STOP is not undone by an old email).
    async fn page_and_address(&self, claims: &ConsentLinkClaims) -> Result<(ConsentPage, String), ConsentError> {
        let invalid = || ConsentError::Link(ConsentLinkError::Invalid);
        let settings = self.store.get_settings(&claims.account).await?.ok_or_else(invalid)?;
        let request = self.store.get_message(&claims.account, &claims.request).await?.ok_or_else(invalid)?;
        let address = request.content.map(|content| content.to).ok_or_else(invalid)?;
        let recipient = self.store.get_recipient(&claims.account, &claims.recipient).await?.ok_or_else(invalid)?;
        if !recipient.address_on(claims.channel).is_some_and(|a| a.as_str().eq_ignore_ascii_case(&address)) {
            return Err(invalid());
        }
        let consent = self.store.consent(&claims.account, &claims.recipient, claims.channel).await?;
        if consent.as_ref().is_some_and(|c| c.forbids(&address) || c.declined(&address)) {
            return Err(invalid());
        }
        let page = ConsentPage {
            statement: link_statement(claims.channel, &settings.practice_name),
            practice_name: settings.practice_name,
            privacy_policy_url: settings.opt_in.privacy_policy_url,
            recorded: consent.is_some_and(|c| c.allows(&address)),
        };
        Ok((page, address))
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
        self.store.record_consent(account, recipient_id, &consent, self.clock.now()).await?;
        Ok(self.store.consent_record(account, recipient_id).await?)
    }
}
