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
/// What one message's attachments may weigh together, decoded: the whole
/// request, base64 and all, stays under Lambda's 6 MB payload.
pub const MAX_ATTACHMENT_BYTES: usize = 3 * 1024 * 1024;
pub const MAX_ATTACHMENTS: usize = 10;
const MAX_FILENAME_CHARS: usize = 100;
/// What an email may carry; a fax carries PDFs only (merged after the
/// letter).
const EMAIL_TYPES: [&str; 3] = ["application/pdf", "image/png", "image/jpeg"];
const FAX_TYPES: [&str; 1] = ["application/pdf"];

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
    #[error("attachments go by email or fax only")]
    AttachmentsChannel,
    #[error(
        "attachments: at most {MAX_ATTACHMENTS}, {MAX_ATTACHMENT_BYTES} bytes together, each named (1 to \
         {MAX_FILENAME_CHARS} characters, no path) and of a type the channel takes (email: PDF, PNG, JPEG; \
         fax: PDF)"
    )]
    Attachment,
}

/// A document staff attach, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentUpload {
    pub filename: String,
    pub content_type: String,
    pub data: Vec<u8>,
}

impl AttachmentUpload {
    /// Checks a message's attachments for `channel`.
    pub fn check_all(uploads: &[Self], channel: Channel) -> Result<(), InvalidAdHoc> {
        if uploads.is_empty() {
            return Ok(());
        }
        let types: &[&str] = match channel {
            Channel::Email => &EMAIL_TYPES,
            Channel::Fax => &FAX_TYPES,
            Channel::Sms | Channel::Voice => return Err(InvalidAdHoc::AttachmentsChannel),
        };
        let total: usize = uploads.iter().map(|upload| upload.data.len()).sum();
        let named = |name: &str| {
            let chars = name.chars().count();
            (1..=MAX_FILENAME_CHARS).contains(&chars)
                && !name.starts_with('.')
                && !name.chars().any(|c| c.is_control() || matches!(c, '/' | '\\' | '"'))
        };
        let fine = uploads.len() <= MAX_ATTACHMENTS
            && total <= MAX_ATTACHMENT_BYTES
            && uploads
                .iter()
                .all(|u| named(&u.filename) && !u.data.is_empty() && types.contains(&u.content_type.as_str()));
        fine.then_some(()).ok_or(InvalidAdHoc::Attachment)
    }
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
    pub attachments: Vec<AttachmentUpload>,
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
        Ok(Self { key, recipient_id, channel, authored, send_at, attachments: Vec::new() })
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
        Authored { subject: subject.map(str::to_owned), body: body.into(), urgent: false, attachments: Vec::new() }
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
    fn attachments_are_bounded_and_of_a_type_the_channel_takes() {
        let file = |name: &str, kind: &str, bytes: usize| AttachmentUpload {
            filename: name.into(),
            content_type: kind.into(),
            data: vec![1; bytes],
        };
        let pdf = file("results.pdf", "application/pdf", 10);
        let png = file("scan.png", "image/png", 10);
        assert_eq!(AttachmentUpload::check_all(&[pdf.clone(), png.clone()], Channel::Email), Ok(()));
        assert_eq!(AttachmentUpload::check_all(std::slice::from_ref(&pdf), Channel::Fax), Ok(()));
        assert_eq!(AttachmentUpload::check_all(&[png], Channel::Fax), Err(InvalidAdHoc::Attachment));
        assert_eq!(
            AttachmentUpload::check_all(std::slice::from_ref(&pdf), Channel::Sms),
            Err(InvalidAdHoc::AttachmentsChannel)
        );
        assert_eq!(AttachmentUpload::check_all(&[], Channel::Sms), Ok(()));
        let big = file("big.pdf", "application/pdf", MAX_ATTACHMENT_BYTES + 1);
        assert_eq!(AttachmentUpload::check_all(&[big], Channel::Email), Err(InvalidAdHoc::Attachment));
        for name in ["../x.pdf", ".hidden.pdf", "", "a\nb.pdf"] {
            let named = file(name, "application/pdf", 10);
            assert_eq!(AttachmentUpload::check_all(&[named], Channel::Email), Err(InvalidAdHoc::Attachment), "{name}");
        }
        let text = file("notes.txt", "text/plain", 10);
        assert_eq!(AttachmentUpload::check_all(&[text], Channel::Email), Err(InvalidAdHoc::Attachment));
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
