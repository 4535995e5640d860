//! Ad-hoc messages: what staff write to a client or a contact, bounded and
//! checked before anything is kept.

use chrono::{DateTime, Duration, Utc};

use super::ids::{MessageId, RecipientId};
use super::message::Authored;
use super::recipient::Channel;

/// A body fits one DynamoDB item with room to spare; a text longer than
/// the deployment's segment cap still fails `too_long` when it goes.
pub const MAX_BODY_CHARS: usize = 5_000;
pub const MAX_SUBJECT_CHARS: usize = 200;
/// How far ahead a message may be written.
pub const MAX_DAYS_AHEAD: i64 = 365;
/// How long a written message may wait (quiet hours, opt-in, credit)
/// before it expires `too_late`.
pub const LIFETIME: Duration = Duration::days(7);
const MAX_KEY_CHARS: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidAdHoc {
    #[error("body must be 1 to {MAX_BODY_CHARS} characters")]
    Body,
    #[error("subject must be 1 to {MAX_SUBJECT_CHARS} characters on one line")]
    Subject,
    #[error("idempotency_key must be 1 to {MAX_KEY_CHARS} letters, digits or . _ : -")]
    IdempotencyKey,
    #[error("send_at must be within {MAX_DAYS_AHEAD} days")]
    SendAt,
}

/// The key that makes a repeated request create one message: it names the
/// message (`adhoc~{key}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdHocKey(String);

impl std::str::FromStr for AdHocKey {
    type Err = InvalidAdHoc;
    fn from_str(key: &str) -> Result<Self, Self::Err> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-');
        if key.is_empty() || key.len() > MAX_KEY_CHARS || !key.chars().all(allowed) {
            return Err(InvalidAdHoc::IdempotencyKey);
        }
        Ok(Self(key.to_owned()))
    }
}

/// An ad-hoc message as staff asked for it, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdHocMessage {
    pub key: AdHocKey,
    pub recipient_id: RecipientId,
    /// `None`: the recipient's own channel.
    pub channel: Option<Channel>,
    pub authored: Authored,
    pub send_at: Option<DateTime<Utc>>,
}

impl AdHocMessage {
    pub fn new(
        key: AdHocKey,
        recipient_id: RecipientId,
        channel: Option<Channel>,
        authored: Authored,
        send_at: Option<DateTime<Utc>>,
    ) -> Result<Self, InvalidAdHoc> {
        let body = authored.body.trim();
        if body.is_empty() || body.chars().count() > MAX_BODY_CHARS {
            return Err(InvalidAdHoc::Body);
        }
        if let Some(subject) = &authored.subject {
            let one_line = !subject.chars().any(char::is_control);
            if subject.trim().is_empty() || subject.chars().count() > MAX_SUBJECT_CHARS || !one_line {
                return Err(InvalidAdHoc::Subject);
            }
        }
        Ok(Self { key, recipient_id, channel, authored, send_at })
    }

    pub fn id(&self) -> MessageId {
        MessageId::ad_hoc(&self.key.0)
    }

    /// When it goes: as asked, or now (a time past is now).
    pub fn due_at(&self, now: DateTime<Utc>) -> Result<DateTime<Utc>, InvalidAdHoc> {
        match self.send_at {
            Some(at) if at > now + Duration::days(MAX_DAYS_AHEAD) => Err(InvalidAdHoc::SendAt),
            Some(at) => Ok(at.max(now)),
            None => Ok(now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authored(subject: Option<&str>, body: &str) -> Authored {
        Authored { subject: subject.map(str::to_owned), body: body.into(), urgent: false }
    }

    fn message(subject: Option<&str>, body: &str) -> Result<AdHocMessage, InvalidAdHoc> {
        AdHocMessage::new("k-1".parse()?, "c-1".parse().unwrap(), None, authored(subject, body), None)
    }

    #[test]
    fn what_staff_write_is_bounded() {
        assert!(message(Some("Your results"), "Please call us.").is_ok());
        assert_eq!(message(None, "  "), Err(InvalidAdHoc::Body));
        assert_eq!(message(None, &"x".repeat(MAX_BODY_CHARS + 1)), Err(InvalidAdHoc::Body));
        assert_eq!(message(Some("Line\r\nBcc: x@y"), "Hi"), Err(InvalidAdHoc::Subject));
        assert_eq!(message(Some(" "), "Hi"), Err(InvalidAdHoc::Subject));
        assert_eq!("a/b".parse::<AdHocKey>(), Err(InvalidAdHoc::IdempotencyKey));
        assert_eq!("".parse::<AdHocKey>(), Err(InvalidAdHoc::IdempotencyKey));
        assert_eq!(message(None, "Hi").unwrap().id().as_str(), "adhoc~k-1");
    }

    #[test]
    fn a_message_goes_when_asked_or_now() {
        let now: DateTime<Utc> = "2026-12-03T12:00:00Z".parse().unwrap();
        let mut asked = message(None, "Hi").unwrap();
        assert_eq!(asked.due_at(now), Ok(now));
        asked.send_at = Some(now - Duration::hours(1));
        assert_eq!(asked.due_at(now), Ok(now), "a time past is now");
        asked.send_at = Some(now + Duration::hours(3));
        assert_eq!(asked.due_at(now), Ok(now + Duration::hours(3)));
        asked.send_at = Some(now + Duration::days(MAX_DAYS_AHEAD + 1));
        assert_eq!(asked.due_at(now), Err(InvalidAdHoc::SendAt));
    }
}
