//! What an inbound reply does, once its words are read
//! ([`super::keywords`]): the rules a practice sets for answers by reply,
//! applied to the appointment the replied-to message was about.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::appointment::{Appointment, AppointmentStatus};
use super::contact::PhoneNumber;
use super::ids::{MessageId, RecipientId, ReplyId};
use super::keywords::ReplyMeaning;
use super::message::RenderedContent;
use super::recipient::Channel;

/// The most a practice may set as its cancel cutoff: a fortnight.
pub const MAX_CANCEL_CUTOFF_HOURS: u32 = 14 * 24;

/// What replies may do (`PUT /v1/settings` `replies`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ReplySettings {
    /// A confirm word confirms the appointment.
    pub confirm_by_reply: bool,
    /// A cancel word cancels it; off by default, since a stray "no" would
    /// free a slot the client meant to keep.
    pub cancel_by_reply: bool,
    /// A cancel this close to the start is not applied: staff decide.
    #[schema(maximum = 336)]
    pub cancel_cutoff_hours: u32,
}

impl Default for ReplySettings {
    fn default() -> Self {
        Self { confirm_by_reply: true, cancel_by_reply: false, cancel_cutoff_hours: 24 }
    }
}

impl ReplySettings {
    pub fn cutoff_is_valid(&self) -> bool {
        self.cancel_cutoff_hours <= MAX_CANCEL_CUTOFF_HOURS
    }
}

/// What a reply did, as its thread entry shows it (`action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReplyAction {
    /// Confirmed the appointment it answers.
    Confirmed,
    /// Cancelled the appointment it answers.
    Cancelled,
    /// Opted the recipient out of the channel (STOP and its like).
    OptedOut,
    /// Opted the recipient back in (START, UNSTOP).
    OptedIn,
    /// Answered with the practice's help text (HELP, INFO).
    HelpSent,
    /// Said no to the opt-in request it answers (NO and the cancel words):
    /// consent `declined`, and nothing sent back.
    Declined,
    /// Changed nothing: a message for staff ("running late", a cancel
    /// the practice does not take by reply or inside its cutoff, an
    /// answer with no appointment to apply to).
    ForStaff,
}

impl ReplyAction {
    /// What staff hear of it: the opt-out (they must stop texting by
    /// hand too), a reply to read, or nothing (the practice app learns of
    /// a confirmation or cancellation from the bus).
    pub fn staff_notice(self) -> Option<super::notification::NotificationKind> {
        use super::notification::NotificationKind;
        match self {
            ReplyAction::OptedOut => Some(NotificationKind::OptedOut),
            ReplyAction::ForStaff => Some(NotificationKind::NewReply),
            ReplyAction::Confirmed
            | ReplyAction::Cancelled
            | ReplyAction::OptedIn
            | ReplyAction::HelpSent
            | ReplyAction::Declined => None,
        }
    }
}

/// A document that came with a reply (an email's attachment, a fax's
/// pages), kept in the deployment's bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReplyAttachment {
    /// `a1`, `a2`, … in the order they came.
    pub id: String,
    pub filename: String,
    pub content_type: String,
    /// Bytes.
    pub size: u64,
}

/// Something a recipient (or a stranger) sent back: a text, an email or a
/// fax. Its id comes from the provider's, so a redelivery is the same reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub id: ReplyId,
    pub channel: Channel,
    /// `None`: it matched no recipient of the practice (unmatched).
    #[serde(default)]
    pub recipient_id: Option<RecipientId>,
    /// The message it answers: the last one sent to its sender from the
    /// number or address it came to.
    #[serde(default)]
    pub in_reply_to: Option<MessageId>,
    pub received_at: DateTime<Utc>,
    /// The number or address it came from.
    pub from: String,
    /// The number or address it came to.
    pub to: String,
    /// An email's subject. (Stored under another name: `subject` is an
    /// index key of the table.)
    #[serde(default, rename = "email_subject")]
    pub subject: Option<String>,
    /// The new text only (an email's quoted history and signature are cut).
    pub body: String,
    #[serde(default)]
    pub attachments: Vec<ReplyAttachment>,
    pub action: ReplyAction,
    #[serde(default)]
    pub read: bool,
}

impl Reply {
    /// The words a reply is read by: its text, or an email's subject when
    /// its text is empty ("Unsubscribe").
    pub fn words(&self) -> &str {
        match (self.body.trim(), &self.subject) {
            ("", Some(subject)) => strip_reply_prefixes(subject),
            (body, _) => body,
        }
    }
}

/// `Re: Fwd: AW: Unsubscribe` → `Unsubscribe`.
fn strip_reply_prefixes(subject: &str) -> &str {
    let mut rest = subject.trim();
    while let Some((prefix, tail)) = rest.split_once(':') {
        if !matches!(prefix.trim().to_ascii_lowercase().as_str(), "re" | "fw" | "fwd" | "aw" | "tr" | "rv") {
            break;
        }
        rest = tail.trim_start();
    }
    rest
}

/// What a meaning does on a channel: keywords are texting's (and an
/// email's unsubscribe); a fax carries pages, not words.
pub fn meaning_on(channel: Channel, meaning: ReplyMeaning) -> ReplyMeaning {
    match (channel, meaning) {
        (Channel::Sms, meaning) => meaning,
        (Channel::Email, ReplyMeaning::Help) => ReplyMeaning::Other,
        (Channel::Email, meaning) => meaning,
        (Channel::Voice | Channel::Fax, _) => ReplyMeaning::Other,
    }
}

/// The one text a keyword reply gets back (CTIA: the program, how to stop,
/// rates; an opt-out's confirmation markets nothing). `None`: the action
/// takes no answer.
pub fn keyword_answer(action: ReplyAction, practice_name: &str, practice_phone: &str) -> Option<String> {
    match action {
        ReplyAction::OptedOut => Some(format!(
            "{practice_name}: you are unsubscribed and will get no more texts from us. Reply START to resubscribe."
        )),
        ReplyAction::OptedIn => Some(format!(
            "{practice_name}: you are subscribed to appointment and billing texts. Msg & data rates may apply. \
             Reply HELP for help, STOP to opt out."
        )),
        ReplyAction::HelpSent => Some(format!(
            "{practice_name}: appointment and billing messages. Questions? Call {practice_phone}. \
             Msg & data rates may apply. Reply STOP to opt out."
        )),
        ReplyAction::Confirmed | ReplyAction::Cancelled | ReplyAction::Declined | ReplyAction::ForStaff => None,
    }
}

/// How a reply finds the message it answers: the per-message address an
/// email carried (`reply+TOKEN@`), or the pair of numbers a text or fax
/// went between. A practice's own number routes to that practice only;
/// the deployment's shared number to whichever practice last wrote to the
/// sender from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyRoute {
    Email { token: String },
    Number { channel: Channel, ours: Option<PhoneNumber>, theirs: PhoneNumber },
}

impl ReplyRoute {
    /// The route replies to a message take, from what it said and where
    /// it went; `None` for what cannot be answered (a call, a text from an
    /// alphanumeric sender id).
    pub fn of_sent(channel: Channel, content: &RenderedContent) -> Option<Self> {
        match channel {
            Channel::Email => content.reply_token.clone().map(|token| ReplyRoute::Email { token }),
            Channel::Sms | Channel::Fax => {
                let theirs = content.to.parse().ok()?;
                let ours = match &content.from {
                    Some(from) => Some(from.parse().ok()?),
                    None => None,
                };
                Some(ReplyRoute::Number { channel, ours, theirs })
            }
            Channel::Voice => None,
        }
    }

    /// The route's name in the store.
    pub fn key(&self) -> String {
        match self {
            ReplyRoute::Email { token } => format!("email#{token}"),
            ReplyRoute::Number { channel, ours, theirs } => {
                format!("{}#{}#{theirs}", channel.as_str(), ours.as_ref().map_or("deployment", PhoneNumber::as_str))
            }
        }
    }
}

/// What the replied-to message was.
#[derive(Debug, Clone, Copy)]
pub enum Answering<'a> {
    /// A message about this appointment.
    Appointment(&'a Appointment),
    /// An opt-in request: a confirm word (YES) agrees to it.
    OptInRequest,
    /// Anything else, or nothing known.
    Other,
}

/// What a reply meaning `meaning` does, answering `answering`, under
/// `settings` at `now`. Opt-out, opt-in and help never depend on what was
/// answered.
pub fn reply_action(
    meaning: ReplyMeaning,
    answering: Answering<'_>,
    settings: &ReplySettings,
    now: DateTime<Utc>,
) -> ReplyAction {
    let appointment = match answering {
        Answering::Appointment(appointment) => Some(appointment),
        Answering::OptInRequest if meaning == ReplyMeaning::Confirm => return ReplyAction::OptedIn,
        Answering::OptInRequest if meaning == ReplyMeaning::Cancel => return ReplyAction::Declined,
        Answering::OptInRequest | Answering::Other => None,
    };
    let upcoming = appointment.filter(|a| a.status == AppointmentStatus::Booked && a.starts_at > now);
    match meaning {
        ReplyMeaning::OptOut => ReplyAction::OptedOut,
        ReplyMeaning::OptIn => ReplyAction::OptedIn,
        ReplyMeaning::Help => ReplyAction::HelpSent,
        ReplyMeaning::Confirm if settings.confirm_by_reply && upcoming.is_some() => ReplyAction::Confirmed,
        ReplyMeaning::Cancel if settings.cancel_by_reply => match upcoming {
            Some(a) if a.starts_at - now > Duration::hours(i64::from(settings.cancel_cutoff_hours)) => {
                ReplyAction::Cancelled
            }
            _ => ReplyAction::ForStaff,
        },
        ReplyMeaning::Confirm | ReplyMeaning::Cancel | ReplyMeaning::Other => ReplyAction::ForStaff,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An SMS reply from `from`, for tests of what replies do.
    pub(crate) fn text_reply(from: &str) -> Reply {
        Reply {
            id: "sms~in-1".parse().unwrap(),
            channel: Channel::Sms,
            recipient_id: Some("r1".parse().unwrap()),
            in_reply_to: None,
            received_at: "2026-12-03T12:00:00Z".parse().unwrap(),
            from: from.into(),
            to: "+15550009999".into(),
            subject: None,
            body: "STOP".into(),
            attachments: Vec::new(),
            action: ReplyAction::OptedOut,
            read: false,
        }
    }

    #[test]
    fn replies_route_by_token_or_by_the_two_numbers() {
        let sms = RenderedContent { to: "+12025550101".into(), body: "Hi".into(), ..RenderedContent::default() };
        let shared = ReplyRoute::of_sent(Channel::Sms, &sms).unwrap();
        assert_eq!(shared.key(), "sms#deployment#+12025550101");
        let own = RenderedContent { from: Some("+12025550177".into()), ..sms.clone() };
        assert_eq!(ReplyRoute::of_sent(Channel::Sms, &own).unwrap().key(), "sms#+12025550177#+12025550101");
        let sender_id = RenderedContent { from: Some("Riverside".into()), ..sms.clone() };
        assert_eq!(ReplyRoute::of_sent(Channel::Sms, &sender_id), None);
        assert_eq!(ReplyRoute::of_sent(Channel::Voice, &sms), None);
        let email = RenderedContent { reply_token: Some("abc123".into()), ..sms };
        assert_eq!(ReplyRoute::of_sent(Channel::Email, &email).unwrap().key(), "email#abc123");
    }

    #[test]
    fn an_empty_email_is_read_by_its_subject() {
        let email = Reply {
            channel: Channel::Email,
            body: " \n".into(),
            subject: Some("RE: Fwd: Unsubscribe".into()),
            ..text_reply("ann@example.com")
        };
        assert_eq!(email.words(), "Unsubscribe");
        let with_text = Reply { body: "Yes".into(), ..email };
        assert_eq!(with_text.words(), "Yes");
    }

    #[test]
    fn keywords_are_texting_s_and_an_email_s_unsubscribe() {
        assert_eq!(meaning_on(Channel::Sms, ReplyMeaning::Help), ReplyMeaning::Help);
        assert_eq!(meaning_on(Channel::Email, ReplyMeaning::Help), ReplyMeaning::Other);
        assert_eq!(meaning_on(Channel::Email, ReplyMeaning::OptOut), ReplyMeaning::OptOut);
        assert_eq!(meaning_on(Channel::Fax, ReplyMeaning::Confirm), ReplyMeaning::Other);
    }

    #[test]
    fn keyword_answers_say_what_carriers_require() {
        let stop = keyword_answer(ReplyAction::OptedOut, "Riverside", "+15550001111").unwrap();
        assert!(stop.contains("Riverside") && stop.contains("START"), "{stop}");
        let help = keyword_answer(ReplyAction::HelpSent, "Riverside", "+15550001111").unwrap();
        for needed in ["Riverside", "+15550001111", "Msg & data rates may apply", "STOP"] {
            assert!(help.contains(needed), "{help}");
        }
        let start = keyword_answer(ReplyAction::OptedIn, "Riverside", "+15550001111").unwrap();
        assert!(start.contains("Msg & data rates may apply") && start.contains("STOP"), "{start}");
        assert_eq!(keyword_answer(ReplyAction::ForStaff, "Riverside", "+1"), None);
        for answer in [stop, help, start] {
            assert!(crate::domain::sms_length(&answer).segments == 1, "{answer}");
        }
    }

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn appointment(starts_at: &str, status: AppointmentStatus) -> Appointment {
        Appointment {
            id: "a1".parse().unwrap(),
            recipient_id: "r1".parse().unwrap(),
            starts_at: at(starts_at),
            duration_minutes: 30,
            provider: "Dr. Ruiz".into(),
            location: "12 Main St".into(),
            status,
            appointment_type: None,
            confirmed: false,
        }
    }

    #[test]
    fn replies_act_on_the_appointment_they_answer_as_the_practice_allows() {
        let now = at("2026-12-03T12:00:00Z");
        let in_two_days = appointment("2026-12-05T12:00:00Z", AppointmentStatus::Booked);
        let in_a_day = appointment("2026-12-04T11:00:00Z", AppointmentStatus::Booked);
        let past = appointment("2026-12-03T11:00:00Z", AppointmentStatus::Booked);
        let cancelled = appointment("2026-12-05T12:00:00Z", AppointmentStatus::Cancelled);
        let defaults = ReplySettings::default();
        let cancelling = ReplySettings { cancel_by_reply: true, ..defaults };
        let no_confirm = ReplySettings { confirm_by_reply: false, ..defaults };
        use Answering::{Appointment as About, OptInRequest, Other};
        use ReplyAction::*;
        use ReplyMeaning as M;
        let cases: &[(M, Answering, &ReplySettings, ReplyAction)] = &[
            (M::Confirm, About(&in_two_days), &defaults, Confirmed),
            (M::Confirm, About(&in_two_days), &no_confirm, ForStaff),
            (M::Confirm, About(&past), &defaults, ForStaff),
            (M::Confirm, About(&cancelled), &defaults, ForStaff),
            (M::Confirm, Other, &defaults, ForStaff),
            (M::Cancel, About(&in_two_days), &defaults, ForStaff),
            (M::Cancel, About(&in_two_days), &cancelling, Cancelled),
            (M::Cancel, About(&in_a_day), &cancelling, ForStaff),
            (M::Cancel, About(&cancelled), &cancelling, ForStaff),
            (M::Cancel, Other, &cancelling, ForStaff),
            (M::OptOut, About(&in_two_days), &cancelling, OptedOut),
            (M::OptOut, Other, &defaults, OptedOut),
            (M::OptIn, Other, &defaults, OptedIn),
            (M::Help, About(&in_two_days), &defaults, HelpSent),
            (M::Other, About(&in_two_days), &cancelling, ForStaff),
            // YES to an opt-in request agrees and NO declines, whatever the
            // reply settings; STOP opts out.
            (M::Confirm, OptInRequest, &no_confirm, OptedIn),
            (M::Cancel, OptInRequest, &defaults, Declined),
            (M::OptOut, OptInRequest, &defaults, OptedOut),
            (M::Other, OptInRequest, &defaults, ForStaff),
        ];
        for (meaning, appointment, settings, expected) in cases {
            assert_eq!(reply_action(*meaning, *appointment, settings, now), *expected, "{meaning:?} {settings:?}");
        }
    }

    #[test]
    fn a_cancel_exactly_at_the_cutoff_goes_to_staff() {
        let now = at("2026-12-03T12:00:00Z");
        let at_cutoff = appointment("2026-12-04T12:00:00Z", AppointmentStatus::Booked);
        let settings = ReplySettings { cancel_by_reply: true, ..ReplySettings::default() };
        assert_eq!(
            reply_action(ReplyMeaning::Cancel, Answering::Appointment(&at_cutoff), &settings, now),
            ReplyAction::ForStaff
        );
    }

    #[test]
    fn settings_default_to_confirm_only_and_a_day_of_cutoff() {
        let parsed: ReplySettings = serde_json::from_str("{}").unwrap();
        assert_eq!(parsed, ReplySettings { confirm_by_reply: true, cancel_by_reply: false, cancel_cutoff_hours: 24 });
        assert!(serde_json::from_str::<ReplySettings>(r#"{"cancel_by_replies": true}"#).is_err());
        assert!(!ReplySettings { cancel_cutoff_hours: MAX_CANCEL_CUTOFF_HOURS + 1, ..parsed }.cutoff_is_valid());
    }
}
