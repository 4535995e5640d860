//! A recipient's consent to messages on one channel, with the evidence
//! behind its last change: who said what, when, and how.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{MessageId, ReplyId};
use super::recipient::Channel;
use super::replies::Reply;
use super::template::escape_html;

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

/// The longest lead an opt-in request may take: a week.
pub const MAX_REQUEST_LEAD_MINUTES: u32 = 7 * 24 * 60;
const MAX_POLICY_URL_CHARS: usize = 500;
pub const MAX_POLICY_VERSION_CHARS: usize = 100;

/// Whether recipients must opt in before messages reach them
/// (`PUT /v1/settings` `opt_in`). Fax never needs opt-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct OptInSettings {
    pub required: bool,
    /// How long before a recipient's first waiting message the request goes.
    #[schema(maximum = 10080)]
    pub request_lead_minutes: u32,
    /// The practice's privacy policy (https), linked from every request;
    /// required when opt-in is.
    #[schema(max_length = 500)]
    pub privacy_policy_url: Option<String>,
    /// The version consent is recorded against; online-booking consent must
    /// name the current one.
    #[schema(max_length = 100)]
    pub privacy_policy_version: Option<String>,
}

impl Default for OptInSettings {
    fn default() -> Self {
        Self { required: false, request_lead_minutes: 60, privacy_policy_url: None, privacy_policy_version: None }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidOptIn {
    #[error("opt_in.request_lead_minutes must be 0 to {MAX_REQUEST_LEAD_MINUTES}")]
    Lead,
    #[error("opt_in.privacy_policy_url must be an https URL of at most {MAX_POLICY_URL_CHARS} characters")]
    PolicyUrl,
    #[error("opt_in.privacy_policy_version must be 1 to {MAX_POLICY_VERSION_CHARS} characters")]
    PolicyVersion,
    #[error("opt_in.required needs a privacy_policy_url and privacy_policy_version: every request links them")]
    PolicyMissing,
}

impl OptInSettings {
    /// Whether messages on `channel` wait for consent: fax never does.
    pub fn applies_to(&self, channel: Channel) -> bool {
        self.required && channel != Channel::Fax
    }

    pub fn validate(&self) -> Result<(), InvalidOptIn> {
        if self.request_lead_minutes > MAX_REQUEST_LEAD_MINUTES {
            return Err(InvalidOptIn::Lead);
        }
        if let Some(url) = &self.privacy_policy_url {
            let https = url.starts_with("https://") && url.len() > "https://".len();
            if !https || url.chars().count() > MAX_POLICY_URL_CHARS || url.contains(char::is_whitespace) {
                return Err(InvalidOptIn::PolicyUrl);
            }
        }
        if let Some(version) = &self.privacy_policy_version {
            if version.trim().is_empty() || version.chars().count() > MAX_POLICY_VERSION_CHARS {
                return Err(InvalidOptIn::PolicyVersion);
            }
        }
        if self.required && (self.privacy_policy_url.is_none() || self.privacy_policy_version.is_none()) {
            return Err(InvalidOptIn::PolicyMissing);
        }
        Ok(())
    }
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
    /// The practice's privacy policy version the recipient accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_version: Option<String>,
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
            policy_version: None,
        }
    }

    /// Whether the recipient agreed to messages at `address` on this channel.
    pub fn allows(&self, address: &str) -> bool {
        self.state == ConsentState::Granted && self.address.eq_ignore_ascii_case(address)
    }

    /// Whether the recipient said no to being asked at `address`.
    pub fn declined(&self, address: &str) -> bool {
        self.state == ConsentState::Declined && self.address.eq_ignore_ascii_case(address)
    }

    /// Whether nothing may be sent to `address` on this channel.
    pub fn forbids(&self, address: &str) -> bool {
        self.state == ConsentState::Revoked && self.address.eq_ignore_ascii_case(address)
    }
}

/// A recipient who never answers an opt-in request is not asked again on
/// that channel for this long.
pub const OPT_IN_REASK_DAYS: i64 = 30;

/// What an opt-in request says on its channel: the practice, what the
/// recipient agrees to, how to agree and how to refuse, and the privacy
/// policy. A text carries the wording carriers require (CTIA).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptInRequestText {
    pub subject: Option<String>,
    pub body: String,
    /// Email only: the HTML part, with its Confirm button.
    pub html: Option<String>,
}

impl OptInRequestText {
    /// The request on `channel` from `practice`; an email's Confirm button
    /// opens `confirm_url` (the public consent page). Fax never asks.
    pub fn new(channel: Channel, practice: &str, policy_url: &str, confirm_url: Option<&str>) -> Option<Self> {
        match channel {
            Channel::Sms => Some(Self {
                subject: None,
                body: format!(
                    "Reply YES to get appointment messages from {practice}. Msg & data rates may apply. \
                     Reply STOP to opt out, HELP for help. Privacy: {policy_url}"
                ),
                html: None,
            }),
            Channel::Email => {
                let confirm_url = confirm_url?;
                let body = format!(
                    "{practice} would like to send you appointment messages by email: reminders, notices \
                     about your appointments and billing reminders.\n\n\
                     To agree, open this link and press Confirm:\n{confirm_url}\n\n\
                     Our privacy policy: {policy_url}\n\n\
                     If you do nothing, you will not get these emails."
                );
                let (practice_html, confirm_html, policy_html) =
                    (escape_html(practice), escape_html(confirm_url), escape_html(policy_url));
                let html = format!(
                    "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head>\
                     <body style=\"font-family:sans-serif;font-size:15px;line-height:1.5\">\
                     <p>{practice_html} would like to send you appointment messages by email: reminders, notices \
                     about your appointments and billing reminders.</p>\
                     <p><a href=\"{confirm_html}\" style=\"display:inline-block;padding:10px 24px;\
                     background:#1a5fb4;color:#ffffff;text-decoration:none;border-radius:4px\">Confirm</a></p>\
                     <p>Our <a href=\"{policy_html}\">privacy policy</a>.</p>\
                     <p>If you do nothing, you will not get these emails.</p></body></html>"
                );
                Some(Self { subject: Some(format!("Confirm emails from {practice}")), body, html: Some(html) })
            }
            Channel::Voice => Some(Self {
                subject: None,
                body: format!(
                    "Hello, this is {practice}. We would like to send you appointment messages by phone call. \
                     If you agree, press 1."
                ),
                html: None,
            }),
            Channel::Fax => None,
        }
    }
}

/// What a recipient agrees to on the consent page their request linked:
/// the statement shown beside Confirm, kept as the evidence of the grant.
pub fn link_statement(channel: Channel, practice: &str) -> String {
    let by = match channel {
        Channel::Email => "by email",
        Channel::Sms => "by text message",
        Channel::Voice => "by phone call",
        Channel::Fax => "by fax",
    };
    format!(
        "I agree to get appointment messages {by} from {practice}: reminders, notices about my appointments and \
         billing reminders. I can stop them at any time."
    )
}

/// How a request on `channel` is answered: the method a grant by its
/// answer is recorded with.
pub fn answered_by(channel: Channel) -> ConsentMethod {
    match channel {
        Channel::Email => ConsentMethod::EmailLink,
        Channel::Voice => ConsentMethod::VoiceKeypad,
        Channel::Sms | Channel::Fax => ConsentMethod::SmsReply,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_request_carries_the_carriers_wording_and_an_email_its_button() {
        let sms = OptInRequestText::new(Channel::Sms, "Riverside Clinic", "https://r.example/privacy", None).unwrap();
        assert!(sms.body.starts_with(
            "Reply YES to get appointment messages from Riverside Clinic. Msg & data rates may apply. \
             Reply STOP to opt out, HELP for help."
        ));
        let email = OptInRequestText::new(
            Channel::Email,
            "A&B <Care>",
            "https://r.example/p",
            Some("https://api.example/consent/t"),
        )
        .unwrap();
        let html = email.html.unwrap();
        assert!(html.contains("A&amp;B &lt;Care&gt;") && html.contains("href=\"https://api.example/consent/t\""));
        assert!(email.body.contains("https://api.example/consent/t"));
        assert_eq!(OptInRequestText::new(Channel::Email, "P", "https://p", None), None, "an email needs its link");
        assert_eq!(OptInRequestText::new(Channel::Fax, "P", "https://p", None), None);
    }

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
    fn opt_in_needs_its_policy_and_bounded_fields() {
        let policy = OptInSettings {
            required: true,
            privacy_policy_url: Some("https://riverside.example/privacy".into()),
            privacy_policy_version: Some("2026-01".into()),
            ..OptInSettings::default()
        };
        assert_eq!(policy.validate(), Ok(()));
        assert_eq!(OptInSettings::default().validate(), Ok(()));
        let cases = [
            (OptInSettings { privacy_policy_url: None, ..policy.clone() }, InvalidOptIn::PolicyMissing),
            (
                OptInSettings { privacy_policy_url: Some("http://x.example".into()), ..policy.clone() },
                InvalidOptIn::PolicyUrl,
            ),
            (OptInSettings { privacy_policy_version: Some(" ".into()), ..policy.clone() }, InvalidOptIn::PolicyVersion),
            (
                OptInSettings { request_lead_minutes: MAX_REQUEST_LEAD_MINUTES + 1, ..policy.clone() },
                InvalidOptIn::Lead,
            ),
        ];
        for (settings, error) in cases {
            assert_eq!(settings.validate(), Err(error), "{settings:?}");
        }
    }

    #[test]
    fn evidence_keeps_the_words_within_bounds() {
        assert_eq!(consent(ConsentState::Revoked).evidence.words.chars().count(), MAX_EVIDENCE_CHARS);
    }
}
