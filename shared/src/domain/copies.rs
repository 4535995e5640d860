//! Contacts of a client (guardians, caregivers, physicians, other
//! providers) copied on the client's automated messages: each gets their
//! own message on their own channel, under their own consent, credit and
//! quiet hours, named by the client's and following it (withdrawn or moved
//! with it).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::appointment::NoticeChange;
use super::ids::{MessageId, RecipientId};
use super::message::MessageKind;

/// How a contact stands to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Relationship {
    Guardian,
    Caregiver,
    Physician,
    Provider,
    Other,
}

impl Relationship {
    pub fn as_str(self) -> &'static str {
        match self {
            Relationship::Guardian => "guardian",
            Relationship::Caregiver => "caregiver",
            Relationship::Physician => "physician",
            Relationship::Provider => "provider",
            Relationship::Other => "other",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidContactLink {
    #[error("a client cannot be their own contact")]
    Themselves,
    #[error("copy_on takes appointment_reminder, appointment_notice, billing_reminder and late_payment_notice")]
    NotCopied,
}

/// A contact of a client and the kinds of the client's messages they are
/// copied on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactLink {
    pub client_id: RecipientId,
    pub contact_id: RecipientId,
    pub relationship: Relationship,
    pub copy_on: Vec<MessageKind>,
}

impl ContactLink {
    pub fn new(
        client_id: RecipientId,
        contact_id: RecipientId,
        relationship: Relationship,
        mut copy_on: Vec<MessageKind>,
    ) -> Result<Self, InvalidContactLink> {
        if client_id == contact_id {
            return Err(InvalidContactLink::Themselves);
        }
        if !copy_on.iter().all(|kind| kind.is_automated()) {
            return Err(InvalidContactLink::NotCopied);
        }
        copy_on.sort_by_key(|kind| kind.as_str());
        copy_on.dedup();
        Ok(Self { client_id, contact_id, relationship, copy_on })
    }

    pub fn copies(&self, kind: MessageKind) -> bool {
        self.copy_on.contains(&kind)
    }
}

/// What a client's notice told, kept on a contact's copy of it: the copy
/// tells the same, whatever the client was told since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeCopy {
    pub change: NoticeChange,
    pub starts_at: DateTime<Utc>,
    pub provider: String,
    pub location: String,
}

/// What a copy keeps of the message it copies: whose it is, and how the
/// contact stands to them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyOf {
    pub client_id: RecipientId,
    pub client_first_name: String,
    pub relationship: Relationship,
    /// The client's own message.
    pub message_id: MessageId,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_copies_automated_kinds_only_and_never_to_the_client() {
        let link = |client: &str, kinds: Vec<MessageKind>| {
            ContactLink::new(client.parse().unwrap(), "g-1".parse().unwrap(), Relationship::Guardian, kinds)
        };
        let kinds = vec![MessageKind::AppointmentReminder, MessageKind::AppointmentReminder];
        let made = link("c-1", kinds).unwrap();
        assert_eq!(made.copy_on, [MessageKind::AppointmentReminder]);
        assert!(made.copies(MessageKind::AppointmentReminder) && !made.copies(MessageKind::BillingReminder));
        assert_eq!(link("g-1", vec![]), Err(InvalidContactLink::Themselves));
        assert_eq!(link("c-1", vec![MessageKind::AdHoc]), Err(InvalidContactLink::NotCopied));
    }
}
