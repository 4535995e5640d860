//! What SES tells about a sent email, through SNS: identity notifications
//! (`notificationType`) and configuration-set event publishing
//! (`eventType`), in the shapes SES documents.

use std::collections::HashMap;

use serde::Deserialize;

use super::ses_tags::{from_tag_value, ACCOUNT_TAG, MESSAGE_TAG, USER_TAG};
use crate::domain::{AccountId, MessageId, UserId};

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SesNotification {
    /// Identity notifications.
    #[serde(default)]
    pub notification_type: Option<String>,
    /// Configuration-set events.
    #[serde(default)]
    pub event_type: Option<String>,
    pub mail: SesMail,
    #[serde(default)]
    pub bounce: Option<SesBounce>,
    #[serde(default)]
    pub complaint: Option<SesComplaint>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SesMail {
    pub message_id: String,
    /// When the email was sent.
    #[serde(default)]
    pub timestamp: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    pub destination: Vec<String>,
    /// Configuration-set events only: the send's tags, by name.
    #[serde(default)]
    pub tags: HashMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SesBounce {
    /// `Permanent`, `Transient` or `Undetermined`.
    pub bounce_type: String,
    #[serde(default)]
    pub bounce_sub_type: Option<String>,
    #[serde(default)]
    pub bounced_recipients: Vec<SesRecipient>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SesComplaint {
    #[serde(default)]
    pub complained_recipients: Vec<SesRecipient>,
    #[serde(default)]
    pub complaint_feedback_type: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SesRecipient {
    pub email_address: String,
}

/// What an SES notification means for the message it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailEvent {
    Delivered,
    /// `permanent` bounces suppress the address; `code` is SES's bounce
    /// type and subtype.
    Bounced {
        permanent: bool,
        code: String,
        addresses: Vec<String>,
    },
    Complained {
        addresses: Vec<String>,
    },
    /// Sends, opens, clicks, rejects: nothing to record.
    Other,
}

impl SesNotification {
    pub fn event(&self) -> EmailEvent {
        let kind = self.event_type.as_deref().or(self.notification_type.as_deref()).unwrap_or_default();
        match (kind, &self.bounce, &self.complaint) {
            ("Delivery", _, _) => EmailEvent::Delivered,
            ("Bounce", Some(bounce), _) => EmailEvent::Bounced {
                permanent: bounce.bounce_type == "Permanent",
                code: format!("{}/{}", bounce.bounce_type, bounce.bounce_sub_type.as_deref().unwrap_or("General")),
                addresses: bounce.bounced_recipients.iter().map(|r| r.email_address.clone()).collect(),
            },
            ("Complaint", _, Some(complaint)) => EmailEvent::Complained {
                addresses: complaint.complained_recipients.iter().map(|r| r.email_address.clone()).collect(),
            },
            _ => EmailEvent::Other,
        }
    }

    /// The message the notification is about, when its send carried the
    /// account and message tags (configuration-set events do).
    pub fn tagged_message(&self) -> Option<(AccountId, MessageId)> {
        let tag = |name: &str| self.mail.tags.get(name)?.first().and_then(|v| from_tag_value(v));
        Some((tag(ACCOUNT_TAG)?.parse().ok()?, tag(MESSAGE_TAG)?.parse().ok()?))
    }

    /// The practice user a staff email went to (`staff_mail`'s tags).
    pub fn tagged_user(&self) -> Option<(AccountId, UserId)> {
        let tag = |name: &str| self.mail.tags.get(name)?.first().and_then(|v| from_tag_value(v));
        Some((tag(ACCOUNT_TAG)?.parse().ok()?, tag(USER_TAG)?.parse().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_permanent_bounce_reads_as_one() {
        let notification: SesNotification =
            serde_json::from_str(include_str!("../../tests/fixtures/ses_bounce_permanent.json")).unwrap();
        assert_eq!(
            notification.event(),
            EmailEvent::Bounced {
                permanent: true,
                code: "Permanent/General".into(),
                addresses: vec!["ann@example.com".into()],
            }
        );
        assert_eq!(notification.mail.message_id, "0100018f-ses-message-1");
    }

    #[test]
    fn configuration_set_events_name_their_message_by_tag() {
        let json = serde_json::json!({
            "eventType": "Complaint",
            "mail": {
                "messageId": "m-1",
                "destination": ["ann@example.com"],
                "tags": {"tidings_account": ["acct-1"], "tidings_message": ["a1_7Ereminder_7E1440"]}
            },
            "complaint": {"complainedRecipients": [{"emailAddress": "ann@example.com"}], "complaintFeedbackType": "abuse"}
        });
        let notification: SesNotification = serde_json::from_value(json).unwrap();
        assert_eq!(notification.event(), EmailEvent::Complained { addresses: vec!["ann@example.com".into()] });
        let (account, message) = notification.tagged_message().unwrap();
        assert_eq!((account.as_str(), message.as_str()), ("acct-1", "a1~reminder~1440"));
        assert_eq!(notification.tagged_user(), None);
    }

    #[test]
    fn a_staff_email_names_its_user_by_tag() {
        let json = serde_json::json!({
            "eventType": "Bounce",
            "mail": {"messageId": "m-2", "timestamp": "2026-12-01T14:04:58.000Z",
                     "tags": {"tidings_account": ["acct-1"], "tidings_user": ["front_5Fdesk"]}},
            "bounce": {"bounceType": "Permanent", "bouncedRecipients": [{"emailAddress": "desk@riverside.example"}]}
        });
        let notification: SesNotification = serde_json::from_value(json).unwrap();
        let (account, user) = notification.tagged_user().unwrap();
        assert_eq!((account.as_str(), user.as_str()), ("acct-1", "front_desk"));
        assert_eq!(notification.tagged_message(), None);
        assert_eq!(notification.mail.timestamp.map(|t| t.to_rfc3339()).as_deref(), Some("2026-12-01T14:04:58+00:00"));
    }
}
