//! Identifiers. Practice apps name their own records; Tidings keeps their ids
//! as they are, within a character set that is safe in keys and URLs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Ids practice apps give.
const MAX_ID_LEN: usize = 128;
/// A reply's id: its channel and a provider's id.
const MAX_REPLY_ID_LEN: usize = 256;
/// A message's id: composed of external ids and a reply's, the longest a
/// contact's copy of a reminder (an appointment id, offset and start, and
/// the contact's id) or a keyword answer (a reply id).
const MAX_MESSAGE_ID_LEN: usize = 512;
/// A notification's id: a UUID, or its kind and a reply's id.
const MAX_NOTIFICATION_ID_LEN: usize = 320;
/// Joins the parts of a composed id; external ids cannot contain it, so
/// composed ids never collide with each other or with external ones.
const COMPOSITE_SEPARATOR: char = '~';

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an id is 1 to 128 characters of A-Z a-z 0-9 . _ : -")]
pub struct InvalidId;

/// `extra` widens the set for ids Tidings composes itself.
fn check_id(input: &str, extra: &[char], max_len: usize) -> Result<(), InvalidId> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-') || extra.contains(&c);
    if input.is_empty() || input.len() > max_len || !input.chars().all(allowed) {
        return Err(InvalidId);
    }
    Ok(())
}

/// The id rule as OpenAPI states it: length and character set.
fn id_schema(extra: &[char], max_len: usize) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let extra: String = extra.iter().collect();
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(max_len))
        .pattern(Some(format!("^[A-Za-z0-9._:{extra}-]+$")))
        .into()
}

macro_rules! external_id {
    ($(#[$doc:meta])* $name:ident, $extra:expr, $max_len:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(input: &str) -> Result<Self, Self::Err> {
                check_id(input, $extra, $max_len)?;
                Ok(Self(input.to_owned()))
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                check_id(&value, $extra, $max_len)?;
                Ok(Self(value))
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                id_schema($extra, $max_len)
            }
        }

        impl utoipa::ToSchema for $name {}

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

external_id!(
    /// The practice account, taken from the caller's verified token.
    AccountId,
    &[],
    MAX_ID_LEN
);
external_id!(
    /// A client or contact, by the practice app's own id.
    RecipientId,
    &[],
    MAX_ID_LEN
);
external_id!(
    /// An appointment, by the practice app's own id.
    AppointmentId,
    &[],
    MAX_ID_LEN
);
external_id!(
    /// An invoice, by the practice app's own id.
    InvoiceId,
    &[],
    MAX_ID_LEN
);
external_id!(
    /// A notification: a UUID, or named by the reply it is about
    /// (`new_reply~sms~…`).
    NotificationId,
    &[COMPOSITE_SEPARATOR],
    MAX_NOTIFICATION_ID_LEN
);
external_id!(
    /// A practice user (staff), by the practice app's own id.
    UserId,
    &[],
    MAX_ID_LEN
);
external_id!(
    /// A form request Tidings made (`POST /v1/forms`): a UUID.
    FormId,
    &[],
    MAX_ID_LEN
);
external_id!(
    /// A message Tidings created. Deterministic where the message follows
    /// from a record (a reminder is named by its appointment, offset and
    /// start) so that replayed upserts find the same message.
    MessageId,
    &[COMPOSITE_SEPARATOR],
    MAX_MESSAGE_ID_LEN
);

external_id!(
    /// A reply: its channel and the provider's own id of what arrived, so
    /// that a redelivery is the same reply.
    ReplyId,
    &[COMPOSITE_SEPARATOR],
    MAX_REPLY_ID_LEN
);

impl ReplyId {
    /// The reply `provider_id` names on `channel` (`sms~…`, `email~…`,
    /// `fax~…`); an id outside the safe set is refused.
    pub fn inbound(channel: super::recipient::Channel, provider_id: &str) -> Result<Self, InvalidId> {
        format!("{}{COMPOSITE_SEPARATOR}{provider_id}", channel.as_str()).parse()
    }
}

impl FormId {
    /// A new form's id: a UUID (always a valid id).
    pub fn random() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }
}

impl MessageId {
    /// A contact's copy of a client's message.
    pub fn copy(original: &MessageId, contact: &RecipientId) -> Self {
        Self(format!("{original}~to~{contact}"))
    }

    /// The message that carries a form's link and access code.
    pub fn form_request(form: &FormId) -> Self {
        Self(format!("{form}~form"))
    }

    /// A message staff wrote, named by the idempotency key they sent it
    /// with: the same key is the same message.
    pub fn ad_hoc(key: &str) -> Self {
        Self(format!("adhoc~{key}"))
    }

    /// The answer to a keyword reply (STOP, START, HELP): one per reply.
    pub fn keyword_answer(reply: &ReplyId) -> Self {
        Self(format!("{reply}~answer"))
    }

    /// Named by the invoice, the message's part of the plan and the due
    /// date it was planned for, so that a new due date plans anew.
    pub fn invoice_message(invoice: &InvoiceId, part: &str, days: u32, due_date: chrono::NaiveDate) -> Self {
        Self(format!("{invoice}~{part}~{days}~{}", due_date.format("%Y%m%d")))
    }

    /// One notice per settled burst of edits, named by when the burst began.
    pub fn appointment_notice(appointment: &AppointmentId, first_edit_ms: i64) -> Self {
        Self(format!("{appointment}~notice~{first_edit_ms}"))
    }

    /// The opt-in request to a recipient on a channel, named by when it
    /// was planned (a recipient who never answered is asked again later).
    pub fn opt_in_request(recipient: &RecipientId, channel: super::recipient::Channel, planned_ms: i64) -> Self {
        Self(format!("{recipient}~optin~{}~{planned_ms}", channel.as_str()))
    }

    pub fn appointment_reminder(appointment: &AppointmentId, offset_minutes: u32, starts_at_epoch: i64) -> Self {
        Self(format!("{appointment}~reminder~{offset_minutes}~{starts_at_epoch}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const MAX_REMINDER_OFFSET: u32 = crate::domain::settings::MAX_REMINDER_OFFSET_MINUTES;

    #[test]
    fn ids_accept_the_safe_set_only() {
        assert!("appt-1001".parse::<AppointmentId>().is_ok());
        assert!("3f2c:9.a_b".parse::<RecipientId>().is_ok());
        for bad in ["", "a/b", "a#b", "a b", "é", &"x".repeat(129)] {
            assert_eq!(bad.parse::<AccountId>(), Err(InvalidId), "{bad}");
        }
    }

    #[test]
    fn the_longest_composed_message_ids_still_parse() {
        let longest = |n| "x".repeat(n);
        let appointment: AppointmentId = longest(MAX_ID_LEN).parse().unwrap();
        let contact: RecipientId = longest(MAX_ID_LEN).parse().unwrap();
        let reminder = MessageId::appointment_reminder(&appointment, MAX_REMINDER_OFFSET, i64::MIN);
        let copy = MessageId::copy(&reminder, &contact);
        let reply: ReplyId = format!("sms~{}", longest(MAX_REPLY_ID_LEN - 4)).parse().unwrap();
        let answer = MessageId::keyword_answer(&reply);
        for id in [copy, answer] {
            assert!(id.as_str().parse::<MessageId>().is_ok(), "{} chars", id.as_str().len());
        }
        let notification = format!("unmatched_reply~{reply}");
        assert!(notification.parse::<NotificationId>().is_ok(), "{} chars", notification.len());
    }

    #[test]
    fn a_reminder_id_of_the_longest_appointment_id_still_parses() {
        let appt: AppointmentId = "x".repeat(MAX_ID_LEN).parse().unwrap();
        let id = MessageId::appointment_reminder(&appt, MAX_REMINDER_OFFSET, i64::MIN);
        assert!(id.as_str().parse::<MessageId>().is_ok(), "{} chars", id.as_str().len());
    }

    #[test]
    fn reminder_ids_are_deterministic_and_distinct_per_start_and_offset() {
        let appt: AppointmentId = "a1".parse().unwrap();
        assert_eq!(
            MessageId::appointment_reminder(&appt, 1440, 100),
            MessageId::appointment_reminder(&appt, 1440, 100)
        );
        assert_ne!(
            MessageId::appointment_reminder(&appt, 1440, 100),
            MessageId::appointment_reminder(&appt, 1440, 200)
        );
        assert_ne!(MessageId::appointment_reminder(&appt, 120, 100), MessageId::appointment_reminder(&appt, 1440, 100));
    }
}
