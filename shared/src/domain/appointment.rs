//! Appointments and the reminders they call for.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::contact::TimeZone;
use super::ids::{AppointmentId, MessageId, RecipientId};
use super::message::StatusReason;
use super::schedule::{reminder_due, Placement, QuietHours};
use super::settings::AppointmentReminderSettings;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentStatus {
    Booked,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Appointment {
    pub id: AppointmentId,
    pub recipient_id: RecipientId,
    pub starts_at: DateTime<Utc>,
    pub duration_minutes: u32,
    pub provider: String,
    pub location: String,
    pub status: AppointmentStatus,
    /// The practice's own kind of appointment, only to choose reminder
    /// offsets: never shown in a message (it may reveal a service).
    #[serde(default)]
    pub appointment_type: Option<String>,
    /// Whether the client has confirmed; later reminders then follow the
    /// account's `remind_after_confirmation`.
    #[serde(default)]
    pub confirmed: bool,
}

/// What a notice tells about an appointment: when a notice goes, it is
/// compared with what the last one told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeState {
    pub recipient_id: RecipientId,
    pub status: AppointmentStatus,
    pub starts_at: DateTime<Utc>,
    pub provider: String,
    pub location: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeChange {
    Booked,
    Changed,
    Cancelled,
}

impl NoticeChange {
    /// What to tell, given what was last told; `None` when nothing changed
    /// (an edit undone) or there is nothing to tell (a cancellation of an
    /// appointment the recipient never heard of).
    pub fn between(last: Option<&NoticeState>, current: &NoticeState) -> Option<Self> {
        let cancelled = current.status == AppointmentStatus::Cancelled;
        // A recipient newly assigned to the appointment was told nothing yet.
        let last = last.filter(|l| l.recipient_id == current.recipient_id);
        match last {
            Some(last) if last == current => None,
            None if cancelled => None,
            None => Some(NoticeChange::Booked),
            Some(last) if last.status == AppointmentStatus::Cancelled => (!cancelled).then_some(NoticeChange::Booked),
            Some(_) if cancelled => Some(NoticeChange::Cancelled),
            Some(_) => Some(NoticeChange::Changed),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NoticeChange::Booked => "booked",
            NoticeChange::Changed => "changed",
            NoticeChange::Cancelled => "cancelled",
        }
    }
}

/// One reminder an appointment calls for under the account's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedReminder {
    pub message_id: MessageId,
    pub offset_minutes: u32,
    pub due_at: DateTime<Utc>,
    /// Why the reminder will not go: its moment had passed when the plan
    /// was made (it is never sent late), or quiet hours left no moment.
    pub skipped: Option<StatusReason>,
}

/// Where and how the recipient's reminders are timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReminderTiming {
    /// The recipient's zone, else the practice's.
    pub zone: TimeZone,
    /// The quiet hours that hold the recipient's channel, if any.
    pub quiet_hours: Option<QuietHours>,
}

impl ReminderTiming {
    /// A recipient's messages on `channel` are timed in their zone, else
    /// the practice's; quiet hours (never beyond the deployment's `window`)
    /// hold SMS and voice, and email only if the account says so. An
    /// account without settings sends nothing (messaging is off), so UTC
    /// serves.
    pub fn for_recipient(
        settings: Option<&super::AccountSettings>,
        recipient: &super::Recipient,
        channel: super::Channel,
        window: super::SendingWindow,
    ) -> Self {
        let zone = recipient.zone(settings);
        let quiet = settings.map_or(window.into(), |s| s.quiet_hours.within(window));
        let held = match channel {
            super::Channel::Sms | super::Channel::Voice => true,
            super::Channel::Email => quiet.apply_to_email,
            super::Channel::Fax => false,
        };
        Self { zone, quiet_hours: held.then_some(quiet) }
    }
}

impl Appointment {
    pub fn notice_state(&self) -> NoticeState {
        NoticeState {
            recipient_id: self.recipient_id.clone(),
            status: self.status,
            starts_at: self.starts_at,
            provider: self.provider.clone(),
            location: self.location.clone(),
        }
    }

    /// The reminders this appointment calls for, as of `now`. A cancelled
    /// appointment, or an account with reminders off, calls for none.
    pub fn plan_reminders(
        &self,
        settings: &AppointmentReminderSettings,
        timing: ReminderTiming,
        now: DateTime<Utc>,
    ) -> Vec<PlannedReminder> {
        if self.status != AppointmentStatus::Booked || !settings.enabled {
            return Vec::new();
        }
        let mut offsets = settings.offsets_for(self.appointment_type.as_deref(), &self.provider).to_vec();
        offsets.sort_unstable_by(|a, b| b.cmp(a));
        offsets.dedup();
        let mut plan: Vec<PlannedReminder> = offsets
            .into_iter()
            .map(|offset_minutes| {
                let due = reminder_due(self.starts_at, offset_minutes, timing.zone);
                let placement = match timing.quiet_hours {
                    Some(quiet) if due > now => quiet.place(due, now, self.starts_at, timing.zone),
                    _ => Placement::At(due),
                };
                let (due_at, skipped) = match placement {
                    Placement::At(at) if at > now => (at, None),
                    Placement::At(at) => (at, Some(StatusReason::TooLate)),
                    Placement::Nowhere => (due, Some(StatusReason::QuietHours)),
                };
                PlannedReminder {
                    message_id: MessageId::appointment_reminder(&self.id, offset_minutes, self.starts_at.timestamp()),
                    offset_minutes,
                    due_at,
                    skipped,
                }
            })
            .collect();
        let booked_too_late_for_any = plan.iter().all(|p| p.skipped.is_some()) && self.starts_at > now;
        if settings.remind_when_booked_late && booked_too_late_for_any {
            plan.push(self.immediate_reminder(timing, now));
        }
        plan
    }

    /// The one reminder of a booking made inside the smallest offset: now,
    /// or at the first allowed moment if that is still before the start.
    fn immediate_reminder(&self, timing: ReminderTiming, now: DateTime<Utc>) -> PlannedReminder {
        let due_at = timing.quiet_hours.map_or(now, |quiet| quiet.next_allowed(now, timing.zone));
        PlannedReminder {
            message_id: MessageId::appointment_reminder(&self.id, 0, self.starts_at.timestamp()),
            offset_minutes: 0,
            due_at,
            skipped: (due_at >= self.starts_at).then_some(StatusReason::QuietHours),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone as _};
    use proptest::prelude::*;

    fn utc_timing() -> ReminderTiming {
        ReminderTiming { zone: TimeZone::UTC, quiet_hours: None }
    }

    fn appointment(starts_at: DateTime<Utc>) -> Appointment {
        Appointment {
            id: "a1".parse().unwrap(),
            recipient_id: "r1".parse().unwrap(),
            starts_at,
            duration_minutes: 30,
            provider: "Dr. Ruiz".into(),
            location: "Main St".into(),
            status: AppointmentStatus::Booked,
            appointment_type: None,
            confirmed: false,
        }
    }

    fn offsets(list: &[u32]) -> AppointmentReminderSettings {
        AppointmentReminderSettings {
            enabled: true,
            offsets_minutes: list.to_vec(),
            remind_when_booked_late: false,
            ..AppointmentReminderSettings::default()
        }
    }

    #[test]
    fn default_reminder_is_due_a_day_before() {
        let start = Utc.with_ymd_and_hms(2026, 12, 3, 15, 0, 0).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        let plan = appointment(start).plan_reminders(&AppointmentReminderSettings::default(), utc_timing(), now);
        assert_eq!(plan.len(), 1);
        assert_eq!(plan[0].due_at, Utc.with_ymd_and_hms(2026, 12, 2, 15, 0, 0).unwrap());
        assert_eq!(plan[0].skipped, None);
    }

    #[test]
    fn a_reminder_whose_moment_passed_is_not_ahead() {
        let start = Utc.with_ymd_and_hms(2026, 12, 1, 18, 0, 0).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        let plan = appointment(start).plan_reminders(&offsets(&[1440, 120]), utc_timing(), now);
        assert_eq!(
            plan.iter().map(|p| (p.offset_minutes, p.skipped)).collect::<Vec<_>>(),
            vec![(1440, Some(StatusReason::TooLate)), (120, None)]
        );
    }

    #[test]
    fn a_booking_inside_the_smallest_offset_gets_one_reminder_now_if_asked() {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        let start = now + Duration::minutes(90);
        let mut settings = offsets(&[1440, 120]);
        let plan = appointment(start).plan_reminders(&settings, utc_timing(), now);
        assert!(plan.iter().all(|p| p.skipped == Some(StatusReason::TooLate)));
        settings.remind_when_booked_late = true;
        let plan = appointment(start).plan_reminders(&settings, utc_timing(), now);
        let immediate: Vec<_> = plan.iter().filter(|p| p.skipped.is_none()).collect();
        assert_eq!(immediate.len(), 1);
        assert_eq!(immediate[0].due_at, now);
        // With a reminder still ahead, no extra one is added.
        let later = appointment(now + Duration::hours(5)).plan_reminders(&settings, utc_timing(), now);
        assert_eq!(later.iter().filter(|p| p.skipped.is_none()).count(), 1);
        assert_eq!(later.len(), 2);
    }

    #[test]
    fn offsets_by_type_come_before_offsets_by_provider_before_the_default() {
        let start = Utc.with_ymd_and_hms(2026, 12, 10, 15, 0, 0).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        let mut settings = offsets(&[1440]);
        settings.by_provider.insert("Dr. Ruiz".into(), vec![2880]);
        settings.by_type.insert("new_patient".into(), vec![4320, 60]);
        let mut visit = appointment(start);
        let planned = |a: &Appointment| {
            a.plan_reminders(&settings, utc_timing(), now).iter().map(|p| p.offset_minutes).collect::<Vec<_>>()
        };
        assert_eq!(planned(&visit), vec![2880], "by provider");
        visit.appointment_type = Some("new_patient".into());
        assert_eq!(planned(&visit), vec![4320, 60], "by type");
        visit.provider = "Dr. Other".into();
        visit.appointment_type = Some("follow_up".into());
        assert_eq!(planned(&visit), vec![1440], "the default");
    }

    #[test]
    fn cancelled_or_disabled_calls_for_nothing() {
        let start = Utc.with_ymd_and_hms(2026, 12, 3, 15, 0, 0).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        let mut cancelled = appointment(start);
        cancelled.status = AppointmentStatus::Cancelled;
        assert!(cancelled.plan_reminders(&offsets(&[1440]), utc_timing(), now).is_empty());
        let off = AppointmentReminderSettings { enabled: false, ..AppointmentReminderSettings::default() };
        assert!(appointment(start).plan_reminders(&off, utc_timing(), now).is_empty());
    }

    #[test]
    fn a_notice_tells_what_changed_since_the_last_one() {
        let start = Utc.with_ymd_and_hms(2026, 12, 3, 15, 0, 0).unwrap();
        let booked = appointment(start).notice_state();
        let mut moved = booked.clone();
        moved.starts_at = start + Duration::hours(2);
        let mut cancelled = booked.clone();
        cancelled.status = AppointmentStatus::Cancelled;
        assert_eq!(NoticeChange::between(None, &booked), Some(NoticeChange::Booked));
        assert_eq!(NoticeChange::between(Some(&booked), &booked), None, "an edit undone");
        assert_eq!(NoticeChange::between(Some(&booked), &moved), Some(NoticeChange::Changed));
        assert_eq!(NoticeChange::between(Some(&booked), &cancelled), Some(NoticeChange::Cancelled));
        assert_eq!(NoticeChange::between(None, &cancelled), None, "never heard of it");
        assert_eq!(NoticeChange::between(Some(&cancelled), &booked), Some(NoticeChange::Booked));
        let mut cancelled_moved = cancelled.clone();
        cancelled_moved.starts_at = moved.starts_at;
        assert_eq!(NoticeChange::between(Some(&cancelled), &cancelled_moved), None);
    }

    proptest! {
        #[test]
        fn every_planned_reminder_precedes_the_start_by_its_offset(
            start_secs in 1_700_000_000i64..1_900_000_000,
            now_offset in -100_000i64..100_000,
            list in proptest::collection::btree_set(1u32..40_320, 1..5),
        ) {
            let start = Utc.timestamp_opt(start_secs, 0).unwrap();
            let now = start + Duration::minutes(now_offset);
            let list: Vec<u32> = list.into_iter().collect();
            let plan = appointment(start).plan_reminders(&offsets(&list), utc_timing(), now);
            prop_assert_eq!(plan.len(), list.len());
            for p in &plan {
                prop_assert_eq!(start - p.due_at, Duration::minutes(i64::from(p.offset_minutes)));
                prop_assert!(p.due_at < start);
                prop_assert_eq!(p.skipped.is_none(), p.due_at > now);
            }
        }

        #[test]
        fn with_quiet_hours_every_reminder_is_allowed_ahead_and_before_the_start_or_skipped(
            start_secs in 1_780_000_000i64..1_800_000_000,
            list in proptest::collection::btree_set(1u32..10_080, 1..5),
            zone in proptest::sample::select(vec!["America/New_York", "Europe/London", "Australia/Sydney", "Asia/Kolkata"]),
        ) {
            let start = Utc.timestamp_opt(start_secs, 0).unwrap();
            let now = start - Duration::days(8);
            let zone: TimeZone = zone.parse().unwrap();
            let quiet = QuietHours::default();
            let timing = ReminderTiming { zone, quiet_hours: Some(quiet) };
            let list: Vec<u32> = list.into_iter().collect();
            for p in appointment(start).plan_reminders(&offsets(&list), timing, now) {
                if p.skipped.is_none() {
                    let local = p.due_at.with_timezone(&zone.tz()).time();
                    prop_assert!(local >= quiet.allowed_from && local <= quiet.allowed_until, "{} at {local}", p.due_at);
                    prop_assert!(p.due_at > now && p.due_at < start);
                } else {
                    prop_assert_eq!(p.skipped, Some(StatusReason::QuietHours));
                }
            }
        }
    }
}
