//! What an inbound reply does, once its words are read
//! ([`super::keywords`]): the rules a practice sets for answers by reply,
//! applied to the appointment the replied-to message was about.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::appointment::{Appointment, AppointmentStatus};
use super::keywords::ReplyMeaning;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Changed nothing: a message for staff ("running late", a cancel
    /// the practice does not take by reply or inside its cutoff, an
    /// answer with no appointment to apply to).
    ForStaff,
}

/// What a reply meaning `meaning` does to `appointment` (the one the
/// replied-to message was about, if any) under `settings` at `now`. Opt-out,
/// opt-in and help never depend on an appointment.
pub fn reply_action(
    meaning: ReplyMeaning,
    appointment: Option<&Appointment>,
    settings: &ReplySettings,
    now: DateTime<Utc>,
) -> ReplyAction {
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
mod tests {
    use super::*;

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
        use ReplyAction::*;
        use ReplyMeaning as M;
        let cases: &[(M, Option<&Appointment>, &ReplySettings, ReplyAction)] = &[
            (M::Confirm, Some(&in_two_days), &defaults, Confirmed),
            (M::Confirm, Some(&in_two_days), &no_confirm, ForStaff),
            (M::Confirm, Some(&past), &defaults, ForStaff),
            (M::Confirm, Some(&cancelled), &defaults, ForStaff),
            (M::Confirm, None, &defaults, ForStaff),
            (M::Cancel, Some(&in_two_days), &defaults, ForStaff),
            (M::Cancel, Some(&in_two_days), &cancelling, Cancelled),
            (M::Cancel, Some(&in_a_day), &cancelling, ForStaff),
            (M::Cancel, Some(&cancelled), &cancelling, ForStaff),
            (M::Cancel, None, &cancelling, ForStaff),
            (M::OptOut, Some(&in_two_days), &cancelling, OptedOut),
            (M::OptOut, None, &defaults, OptedOut),
            (M::OptIn, None, &defaults, OptedIn),
            (M::Help, Some(&in_two_days), &defaults, HelpSent),
            (M::Other, Some(&in_two_days), &cancelling, ForStaff),
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
        assert_eq!(reply_action(ReplyMeaning::Cancel, Some(&at_cutoff), &settings, now), ReplyAction::ForStaff);
    }

    #[test]
    fn settings_default_to_confirm_only_and_a_day_of_cutoff() {
        let parsed: ReplySettings = serde_json::from_str("{}").unwrap();
        assert_eq!(parsed, ReplySettings { confirm_by_reply: true, cancel_by_reply: false, cancel_cutoff_hours: 24 });
        assert!(serde_json::from_str::<ReplySettings>(r#"{"cancel_by_replies": true}"#).is_err());
        assert!(!ReplySettings { cancel_cutoff_hours: MAX_CANCEL_CUTOFF_HOURS + 1, ..parsed }.cutoff_is_valid());
    }
}
