//! The practice's users (staff) and what each wants to hear of the
//! account's notifications: how often, and about which kinds.

use chrono::{DateTime, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use super::contact::{EmailAddress, TimeZone};
use super::ids::UserId;
use super::notification::NotificationKind;
use super::settings::AccountSettings;

/// How often a user is emailed about notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Frequency {
    /// One email per notification, within a minute.
    Immediate,
    /// One digest an hour with everything since the last.
    Hourly,
    /// One digest a day at `daily_at`, in the user's zone.
    Daily,
    /// Nothing, not even what is critical.
    Off,
}

/// A user's choice of notification emails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationPreferences {
    pub frequency: Frequency,
    /// When a daily digest goes, in the user's zone (default 08:00).
    #[serde(default = "default_daily_at")]
    #[schema(value_type = String, example = "08:00")]
    pub daily_at: NaiveTime,
    /// The kinds the user hears about; all when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kinds: Option<Vec<NotificationKind>>,
}

fn default_daily_at() -> NaiveTime {
    NaiveTime::from_hms_opt(8, 0, 0).unwrap_or_default()
}

impl NotificationPreferences {
    /// Whether the user hears about notifications of `kind` at all.
    pub fn hears(&self, kind: NotificationKind) -> bool {
        self.frequency != Frequency::Off && self.kinds.as_ref().is_none_or(|kinds| kinds.contains(&kind))
    }

    /// Whether a notification of `kind` is emailed on its own, at once:
    /// every one for an `immediate` user, and what is critical for anyone
    /// who hears of it.
    pub fn at_once(&self, kind: NotificationKind) -> bool {
        self.hears(kind) && (self.frequency == Frequency::Immediate || kind.severity() == Severity::Critical)
    }
}

/// How urgent a kind of notification is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Sending has stopped or may have gone wrong: told at once, whatever
    /// the user's frequency.
    Critical,
    /// Something to act on when the digest comes.
    Warning,
    /// For information.
    Info,
}

/// A practice user, by the practice app's own id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PracticeUser {
    pub id: UserId,
    pub email: EmailAddress,
    pub display_name: String,
    /// Their zone for a daily digest; the practice's when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<TimeZone>,
    pub notifications: NotificationPreferences,
    /// When mail to `email` bounced for good: nothing more is sent to it
    /// until the address changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_bounced_at: Option<DateTime<Utc>>,
}

impl PracticeUser {
    /// The zone of their daily digest and of the times it shows: their
    /// own, else the practice's.
    pub fn zone(&self, settings: Option<&AccountSettings>) -> TimeZone {
        self.time_zone.or(settings.map(|s| s.time_zone)).unwrap_or(TimeZone::UTC)
    }

    /// Whether they get digests (hourly or daily), so have windows.
    pub fn digests(&self) -> bool {
        matches!(self.notifications.frequency, Frequency::Hourly | Frequency::Daily)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preferences(frequency: Frequency, kinds: Option<Vec<NotificationKind>>) -> NotificationPreferences {
        NotificationPreferences { frequency, daily_at: default_daily_at(), kinds }
    }

    #[test]
    fn what_is_critical_goes_at_once_to_anyone_who_hears_of_it_and_nothing_reaches_off() {
        use NotificationKind::{CreditExhausted, DeliveryUnknown, EmailBounced, NewReply};
        let daily = preferences(Frequency::Daily, None);
        assert!(daily.at_once(CreditExhausted) && daily.at_once(DeliveryUnknown));
        assert!(daily.hears(NewReply) && !daily.at_once(NewReply));
        let immediate = preferences(Frequency::Immediate, None);
        assert!(immediate.at_once(NewReply));
        let off = preferences(Frequency::Off, None);
        assert!(!off.hears(CreditExhausted) && !off.at_once(CreditExhausted));
        let replies_only = preferences(Frequency::Hourly, Some(vec![NewReply]));
        assert!(replies_only.hears(NewReply) && !replies_only.hears(EmailBounced));
        assert!(!replies_only.at_once(CreditExhausted), "kinds narrow what is critical too");
    }

    #[test]
    fn preferences_read_as_the_api_takes_them() {
        let read: NotificationPreferences =
            serde_json::from_str(r#"{"frequency": "daily", "daily_at": "07:30", "kinds": ["new_reply"]}"#).unwrap();
        assert_eq!(read.daily_at, NaiveTime::from_hms_opt(7, 30, 0).unwrap());
        let default: NotificationPreferences = serde_json::from_str(r#"{"frequency": "hourly"}"#).unwrap();
        assert_eq!((default.daily_at, default.kinds), (default_daily_at(), None));
        assert!(serde_json::from_str::<NotificationPreferences>(r#"{"frequency": "weekly"}"#).is_err());
    }
}
