//! When messages go out, in the recipient's own time zone: wall-clock
//! offsets that survive daylight-saving changes, and quiet hours.

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use super::contact::TimeZone as Zone;

const MINUTES_PER_DAY: u32 = 1440;

/// The instant a local wall time names. A time that occurs twice (the hour
/// clocks fall back) is its first occurrence, so a reminder is early rather
/// than late; a time that does not occur (the hour clocks spring forward)
/// is read with the offset in force before the change, which lands just
/// after the gap, as clocks set by hand would.
pub fn local_instant(zone: Zone, wall: NaiveDateTime) -> DateTime<Utc> {
    let tz = zone.tz();
    match tz.from_local_datetime(&wall) {
        LocalResult::Single(at) => at.with_timezone(&Utc),
        LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
        LocalResult::None => {
            // The offset a day before the gap is the one the gap interrupts
            // (gaps are an hour or so; no zone has two in a day).
            let before = tz.offset_from_local_datetime(&(wall - Duration::days(1))).earliest();
            let offset_seconds = before.map_or(0, |o| chrono::Offset::fix(&o).local_minus_utc());
            (wall - Duration::seconds(i64::from(offset_seconds))).and_utc()
        }
    }
}

/// When a reminder `offset_minutes` before `starts_at` is due. Whole days
/// keep the wall-clock time ("the day before at 9:00"), across a
/// daylight-saving change; other offsets are exact durations ("2 hours
/// before").
pub fn reminder_due(starts_at: DateTime<Utc>, offset_minutes: u32, zone: Zone) -> DateTime<Utc> {
    if !offset_minutes.is_multiple_of(MINUTES_PER_DAY) {
        return starts_at - Duration::minutes(i64::from(offset_minutes));
    }
    let local = starts_at.with_timezone(&zone.tz()).naive_local();
    let days = i64::from(offset_minutes / MINUTES_PER_DAY);
    local_instant(zone, local - Duration::days(days))
}

/// The part of each local day when SMS and voice may go out (TCPA: 08:00 to
/// 21:00 unless the account narrows it). Both ends are allowed moments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QuietHours {
    #[schema(value_type = String, example = "08:00:00")]
    pub allowed_from: NaiveTime,
    #[schema(value_type = String, example = "21:00:00")]
    pub allowed_until: NaiveTime,
    /// Whether email waits for the allowed hours too (default: it does not).
    #[serde(default)]
    pub apply_to_email: bool,
}

impl Default for QuietHours {
    fn default() -> Self {
        Self {
            allowed_from: NaiveTime::from_hms_opt(8, 0, 0).unwrap_or_default(),
            allowed_until: NaiveTime::from_hms_opt(21, 0, 0).unwrap_or_default(),
            apply_to_email: false,
        }
    }
}

impl From<SendingWindow> for QuietHours {
    /// An account's hours when it chooses none: the deployment's window.
    fn from(window: SendingWindow) -> Self {
        Self { allowed_from: window.from, allowed_until: window.until, apply_to_email: false }
    }
}

/// The widest part of the local day a deployment lets messages go out in
/// (`QuietHoursWidest`, default 08:00-21:00): accounts may only narrow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendingWindow {
    from: NaiveTime,
    until: NaiveTime,
}

impl Default for SendingWindow {
    fn default() -> Self {
        let hours = QuietHours::default();
        Self { from: hours.allowed_from, until: hours.allowed_until }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a sending window is HH:MM-HH:MM, the first earlier than the second")]
pub struct InvalidSendingWindow;

impl std::str::FromStr for SendingWindow {
    type Err = InvalidSendingWindow;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (from, until) = text.split_once('-').ok_or(InvalidSendingWindow)?;
        let time = |t: &str| NaiveTime::parse_from_str(t.trim(), "%H:%M").map_err(|_| InvalidSendingWindow);
        let (from, until) = (time(from)?, time(until)?);
        if from >= until {
            return Err(InvalidSendingWindow);
        }
        Ok(Self { from, until })
    }
}

impl std::fmt::Display for SendingWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.from.format("%H:%M"), self.until.format("%H:%M"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidQuietHours {
    #[error("quiet_hours: allowed_from must be earlier than allowed_until")]
    Order,
    #[error("quiet_hours: this deployment sends between {0} at the widest; an account may only narrow that")]
    WiderThanDeployment(SendingWindow),
}

/// Where quiet hours put a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    At(DateTime<Utc>),
    /// No allowed moment is both in the future and before the deadline.
    Nowhere,
}

impl QuietHours {
    /// Checks an account's hours as it saves them: in order, and within the
    /// deployment's window.
    pub fn validate(&self, window: SendingWindow) -> Result<(), InvalidQuietHours> {
        if self.allowed_from >= self.allowed_until {
            return Err(InvalidQuietHours::Order);
        }
        if self.allowed_from < window.from || self.allowed_until > window.until {
            return Err(InvalidQuietHours::WiderThanDeployment(window));
        }
        Ok(())
    }

    /// The hours in force: these, narrowed to the deployment's window.
    /// Hours saved before the window narrowed (or before it was checked) may
    /// reach beyond it, and are cut back; hours that share nothing with it
    /// give way to it.
    pub fn within(self, window: SendingWindow) -> QuietHours {
        let (from, until) = (self.allowed_from.max(window.from), self.allowed_until.min(window.until));
        match from < until {
            true => QuietHours { allowed_from: from, allowed_until: until, ..self },
            false => QuietHours { apply_to_email: self.apply_to_email, ..window.into() },
        }
    }

    fn at(zone: Zone, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
        local_instant(zone, date.and_time(time))
    }

    /// `None` when `at` is allowed; otherwise the allowed moments just
    /// before and just after it.
    fn neighbours(&self, at: DateTime<Utc>, zone: Zone) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let local = at.with_timezone(&zone.tz());
        let (date, time) = (local.date_naive(), local.time());
        if time >= self.allowed_from && time <= self.allowed_until {
            return None;
        }
        Some(if time > self.allowed_until {
            let next_day = date.succ_opt().unwrap_or(date);
            (Self::at(zone, date, self.allowed_until), Self::at(zone, next_day, self.allowed_from))
        } else {
            let previous_day = date.pred_opt().unwrap_or(date);
            (Self::at(zone, previous_day, self.allowed_until), Self::at(zone, date, self.allowed_from))
        })
    }

    /// Moves a message due at `due` out of quiet hours: to the last allowed
    /// moment before, if that is still ahead of `now`; otherwise to the first
    /// allowed moment after, if that is still before `deadline`.
    pub fn place(&self, due: DateTime<Utc>, now: DateTime<Utc>, deadline: DateTime<Utc>, zone: Zone) -> Placement {
        match self.neighbours(due, zone) {
            None => Placement::At(due),
            Some((before, _)) if before > now => Placement::At(before),
            Some((_, after)) if after < deadline => Placement::At(after),
            Some(_) => Placement::Nowhere,
        }
    }

    /// The first allowed moment at or after `at`: for messages that must not
    /// go earlier than they are due (a notice waits out its debounce).
    pub fn next_allowed(&self, at: DateTime<Utc>, zone: Zone) -> DateTime<Utc> {
        self.neighbours(at, zone).map_or(at, |(_, after)| after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(name: &str) -> Zone {
        name.parse().unwrap()
    }

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn hours(from: &str, until: &str) -> QuietHours {
        QuietHours {
            allowed_from: NaiveTime::parse_from_str(from, "%H:%M").unwrap(),
            allowed_until: NaiveTime::parse_from_str(until, "%H:%M").unwrap(),
            apply_to_email: true,
        }
    }

    #[test]
    fn accounts_may_narrow_the_deployments_window_but_not_widen_it() {
        let window = SendingWindow::default();
        assert_eq!(window.to_string(), "08:00-21:00");
        assert_eq!(hours("09:00", "20:00").validate(window), Ok(()));
        assert_eq!(hours("08:00", "21:00").validate(window), Ok(()));
        assert_eq!(hours("07:59", "21:00").validate(window), Err(InvalidQuietHours::WiderThanDeployment(window)));
        assert_eq!(hours("08:00", "21:30").validate(window), Err(InvalidQuietHours::WiderThanDeployment(window)));
        assert_eq!(hours("20:00", "09:00").validate(window), Err(InvalidQuietHours::Order));
        let narrow: SendingWindow = "09:30-18:00".parse().unwrap();
        assert_eq!(hours("09:00", "20:00").validate(narrow), Err(InvalidQuietHours::WiderThanDeployment(narrow)));
        for bad in ["21:00-08:00", "08:00", "8h-21h", "08:00-08:00"] {
            assert!(bad.parse::<SendingWindow>().is_err(), "{bad}");
        }
    }

    #[test]
    fn hours_in_force_never_reach_beyond_the_deployments_window() {
        let window: SendingWindow = "09:00-20:00".parse().unwrap();
        assert_eq!(hours("06:00", "23:00").within(window), hours("09:00", "20:00"));
        assert_eq!(hours("10:00", "19:00").within(window), hours("10:00", "19:00"));
        assert_eq!(hours("06:00", "08:00").within(window), hours("09:00", "20:00"), "no overlap: the window");
        // A message held by a stored 06:00-23:00 goes no earlier than 09:00.
        let ny = zone("America/New_York");
        let early = utc("2027-01-12T12:00:00Z"); // 07:00 EST
        assert_eq!(hours("06:00", "23:00").within(window).next_allowed(early, ny), utc("2027-01-12T14:00:00Z"));
    }

    #[test]
    fn whole_day_offsets_keep_the_wall_time_across_spring_forward() {
        // New York springs forward on 2027-03-14 at 02:00.
        let start = utc("2027-03-14T14:00:00Z"); // Sunday 10:00 EDT
        assert_eq!(reminder_due(start, 1440, zone("America/New_York")), utc("2027-03-13T15:00:00Z")); // Saturday 10:00 EST
                                                                                                      // London springs forward on 2027-03-28 at 01:00.
        let start = utc("2027-03-29T08:00:00Z"); // Monday 09:00 BST
        assert_eq!(reminder_due(start, 2880, zone("Europe/London")), utc("2027-03-27T09:00:00Z"));
        // Saturday 09:00 GMT
    }

    #[test]
    fn whole_day_offsets_keep_the_wall_time_across_fall_back() {
        // New York falls back on 2026-11-01 at 02:00.
        let start = utc("2026-11-01T15:00:00Z"); // Sunday 10:00 EST
        assert_eq!(reminder_due(start, 1440, zone("America/New_York")), utc("2026-10-31T14:00:00Z"));
        // Saturday 10:00 EDT
    }

    #[test]
    fn other_offsets_are_exact_durations() {
        let start = utc("2027-03-14T14:00:00Z");
        assert_eq!(reminder_due(start, 120, zone("America/New_York")), utc("2027-03-14T12:00:00Z"));
        assert_eq!(reminder_due(start, 600, zone("America/New_York")), utc("2027-03-14T04:00:00Z"));
    }

    #[test]
    fn a_wall_time_that_occurs_twice_means_its_first_occurrence() {
        // 01:30 occurs twice in New York on 2026-11-01: first EDT (05:30Z), then EST (06:30Z).
        let start = utc("2026-11-02T06:30:00Z"); // Monday 01:30 EST
        assert_eq!(reminder_due(start, 1440, zone("America/New_York")), utc("2026-11-01T05:30:00Z"));
        // 01:30 occurs twice in London on 2026-10-25: first BST (00:30Z).
        let start = utc("2026-10-26T01:30:00Z"); // Monday 01:30 GMT
        assert_eq!(reminder_due(start, 1440, zone("Europe/London")), utc("2026-10-25T00:30:00Z"));
    }

    #[test]
    fn a_wall_time_that_does_not_occur_lands_just_after_the_gap() {
        // 02:30 does not occur in New York on 2027-03-14; read as EST it is 07:30Z (03:30 EDT).
        let start = utc("2027-03-15T06:30:00Z"); // Monday 02:30 EDT
        assert_eq!(reminder_due(start, 1440, zone("America/New_York")), utc("2027-03-14T07:30:00Z"));
        // 01:30 does not occur in London on 2027-03-28; read as GMT it is 01:30Z (02:30 BST).
        let start = utc("2027-03-29T00:30:00Z"); // Monday 01:30 BST
        assert_eq!(reminder_due(start, 1440, zone("Europe/London")), utc("2027-03-28T01:30:00Z"));
    }

    #[test]
    fn a_missing_wall_time_east_of_utc_lands_after_the_gap_too() {
        // Sydney springs forward on 2026-10-04 at 02:00 (+10 to +11).
        // 02:30 does not occur; read as +10 it is 16:30Z the day before (03:30 +11).
        let start = utc("2026-10-04T15:30:00Z"); // Monday 02:30 +11
        assert_eq!(reminder_due(start, 1440, zone("Australia/Sydney")), utc("2026-10-03T16:30:00Z"));
        // Auckland springs forward on 2026-09-27 at 02:00 (+12 to +13).
        let start = utc("2026-09-27T13:30:00Z"); // Monday 02:30 +13
        assert_eq!(reminder_due(start, 1440, zone("Pacific/Auckland")), utc("2026-09-26T14:30:00Z"));
    }

    #[test]
    fn inside_the_allowed_hours_nothing_moves() {
        let quiet = QuietHours::default();
        let due = utc("2026-12-02T14:00:00Z"); // 09:00 EST
        let placed = quiet.place(due, due - Duration::days(1), due + Duration::days(1), zone("America/New_York"));
        assert_eq!(placed, Placement::At(due));
        let edge = utc("2026-12-03T02:00:00Z"); // 21:00 EST: allowed
        assert_eq!(
            quiet.place(edge, edge - Duration::days(1), edge + Duration::days(1), zone("America/New_York")),
            Placement::At(edge)
        );
    }

    #[test]
    fn a_late_evening_reminder_moves_back_to_the_end_of_the_allowed_hours() {
        let quiet = QuietHours::default();
        let due = utc("2026-12-03T03:30:00Z"); // 22:30 EST on Dec 2
        let placed =
            quiet.place(due, utc("2026-12-01T12:00:00Z"), utc("2026-12-03T22:30:00Z"), zone("America/New_York"));
        assert_eq!(placed, Placement::At(utc("2026-12-03T02:00:00Z"))); // 21:00 EST
    }

    #[test]
    fn an_early_morning_reminder_moves_to_the_evening_before() {
        let quiet = QuietHours::default();
        let due = utc("2026-12-03T11:00:00Z"); // 06:00 EST Dec 3
        let placed =
            quiet.place(due, utc("2026-12-01T12:00:00Z"), utc("2026-12-03T13:00:00Z"), zone("America/New_York"));
        assert_eq!(placed, Placement::At(utc("2026-12-03T02:00:00Z"))); // 21:00 EST Dec 2
    }

    #[test]
    fn when_the_moment_before_has_passed_it_moves_after_if_still_before_the_appointment() {
        let quiet = QuietHours::default();
        let due = utc("2026-12-03T11:00:00Z"); // 06:00 EST
        let now = utc("2026-12-03T04:00:00Z"); // 23:00 EST the evening before
        let placed = quiet.place(due, now, utc("2026-12-03T15:00:00Z"), zone("America/New_York"));
        assert_eq!(placed, Placement::At(utc("2026-12-03T13:00:00Z"))); // 08:00 EST
        let too_soon = quiet.place(due, now, utc("2026-12-03T12:30:00Z"), zone("America/New_York"));
        assert_eq!(too_soon, Placement::Nowhere, "the appointment at 07:30 starts before 08:00");
    }

    #[test]
    fn quiet_hours_follow_the_recipients_zone() {
        let quiet = QuietHours::default();
        let due = utc("2026-12-03T03:30:00Z"); // 22:30 in New York, 19:30 in Los Angeles
        let far = (utc("2026-12-01T00:00:00Z"), utc("2026-12-05T00:00:00Z"));
        assert_eq!(quiet.place(due, far.0, far.1, zone("America/Los_Angeles")), Placement::At(due));
        assert_ne!(quiet.place(due, far.0, far.1, zone("America/New_York")), Placement::At(due));
    }

    #[test]
    fn next_allowed_never_moves_earlier() {
        let quiet = QuietHours::default();
        let late = utc("2026-12-03T03:30:00Z"); // 22:30 EST
        assert_eq!(quiet.next_allowed(late, zone("America/New_York")), utc("2026-12-03T13:00:00Z"));
        let fine = utc("2026-12-02T15:00:00Z");
        assert_eq!(quiet.next_allowed(fine, zone("America/New_York")), fine);
    }

    #[test]
    fn the_allowed_window_must_run_forward() {
        let mut quiet = QuietHours::default();
        assert!(quiet.validate(SendingWindow::default()).is_ok());
        quiet.allowed_from = NaiveTime::from_hms_opt(22, 0, 0).unwrap();
        assert_eq!(quiet.validate(SendingWindow::default()), Err(InvalidQuietHours::Order));
    }
}
