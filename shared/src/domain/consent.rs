//! A recipient's consent to messages on one channel, with the evidence
//! behind its last change: who said what, when, and how.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{MessageId, ReplyId};
use super::recipient::Channel;
use super::replies::Reply;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentState {
    /// Nothing was asked or said.
    None,
    /// An opt-in request went out and is unanswered.
    Requested,
    Granted,
    Declined,
    /// Consent was withdrawn (STOP and its like): nothing more is sent on
    /// the channel until the recipient opts in again.
    Revoked,
}

/// How a change of consent was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentMethod {
    SmsReply,
    EmailLink,
    /// An email reply (unsubscribe).
    EmailReply,
    VoiceKeypad,
    OnlineBooking,
    StaffRecorded,
    /// A STOP word or a free-text revocation.
    StopKeyword,
}

/// What the recipient sent or saw when consent changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentEvidence {
    /// Their words (a reply's first characters), or the wording they agreed to.
    pub words: String,
    /// The reply that changed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_id: Option<ReplyId>,
    /// The message the reply answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<MessageId>,
}

/// The most words kept as evidence: a revocation is a few words, and a
/// longer text is in its reply.
pub const MAX_EVIDENCE_CHARS: usize = 500;

/// A recipient's consent on one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub channel: Channel,
    pub state: ConsentState,
    pub since: DateTime<Utc>,
    pub method: ConsentMethod,
    /// The number or address it was given from: a revocation holds for
    /// that address, and a new number the practice records is asked afresh.
    pub address: String,
    pub evidence: ConsentEvidence,
}

impl Consent {
    /// A change of consent by the recipient's own words (`reply`), for
    /// `address`: the one the replied-to message went to (an email may be
    /// answered from another address), else the reply's sender.
    pub fn by_reply(reply: &Reply, state: ConsentState, method: ConsentMethod, address: &str) -> Self {
        Self {
            channel: reply.channel,
            state,
            since: reply.received_at,
            method,
            address: address.to_owned(),
            evidence: ConsentEvidence {
                words: reply.body.chars().take(MAX_EVIDENCE_CHARS).collect(),
                reply_id: Some(reply.id.clone()),
                message_id: reply.in_reply_to.clone(),
            },
        }
    }

    /// Whether nothing may be sent to `address` on this channel.
    pub fn forbids(&self, address: &str) -> bool {
        self.state == ConsentState::Revoked && self.address.eq_ignore_ascii_case(address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consent(state: ConsentState) -> Consent {
        let reply = Reply { body: "stop ".repeat(200), ..crate::domain::replies::tests::text_reply("+15551230001") };
        Consent::by_reply(&reply, state, ConsentMethod::StopKeyword, "+15551230001")
    }

    #[test]
    fn a_revocation_forbids_its_own_address_only() {
        let revoked = consent(ConsentState::Revoked);
        assert!(revoked.forbids("+15551230001"));
        assert!(!revoked.forbids("+15551230002"));
        assert!(!consent(ConsentState::Granted).forbids("+15551230001"));
    }

    #[test]
    fn evidence_keeps_the_words_within_bounds() {
        assert_eq!(consent(ConsentState::Revoked).evidence.words.chars().count(), MAX_EVIDENCE_CHARS);
    }
}
