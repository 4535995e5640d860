//! Staff digests: when a user's next digest is due, and what it says. A
//! digest names what happened and links into the practice app; it never
//! carries a patient's name, number, address or words (only the practice
//! app's ids, inside its own links).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::{Deserialize, Serialize};

use super::contact::TimeZone;
use super::notification::{Notification, NotificationKind};
use super::schedule::local_instant;
use super::staff::{Frequency, NotificationPreferences, Severity};
use super::template::escape_html;

/// How long after a window ends its digest is made, so that a
/// notification whose time was taken as the window closed, and written a
/// moment later, is in it.
pub const SETTLE: Duration = Duration::seconds(10);

/// The stretch of time one digest covers: notifications at or after
/// `from` and before `until`. Named by its end, so that a digest for a
/// window is made once whoever runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestWindow {
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

impl DigestWindow {
    /// The window a user's digest covers if one is due at `now`, going on
    /// from where their last one ended (`last_until`; their creation, for
    /// a first): hourly, up to the last whole hour; daily, up to the last
    /// `daily_at` in their zone (DST-correct: the wall-clock time). None
    /// when nothing is due (a window is due [`SETTLE`] after it ends), or
    /// for `immediate` and `off` users.
    pub fn due(
        preferences: &NotificationPreferences,
        zone: TimeZone,
        last_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Option<Self> {
        let now = now - SETTLE;
        let until = match preferences.frequency {
            Frequency::Hourly => now.duration_trunc(Duration::hours(1)).ok()?,
            Frequency::Daily => {
                let today = now.with_timezone(&zone.tz()).date_naive();
                let at_today = local_instant(zone, today.and_time(preferences.daily_at));
                if at_today <= now {
                    at_today
                } else {
                    local_instant(zone, today.pred_opt()?.and_time(preferences.daily_at))
                }
            }
            Frequency::Immediate | Frequency::Off => return None,
        };
        (until > last_until).then_some(Self { from: last_until, until })
    }

    /// When the first window ending after `after` ends: the next whole
    /// hour, or the next `daily_at` in the user's zone. None for
    /// `immediate` and `off` users, who have no digest.
    pub fn next_end(
        preferences: &NotificationPreferences,
        zone: TimeZone,
        after: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        match preferences.frequency {
            Frequency::Hourly => Some(after.duration_trunc(Duration::hours(1)).ok()? + Duration::hours(1)),
            Frequency::Daily => {
                let day = after.with_timezone(&zone.tz()).date_naive();
                let at_day = local_instant(zone, day.and_time(preferences.daily_at));
                if at_day > after {
                    Some(at_day)
                } else {
                    Some(local_instant(zone, day.succ_opt()?.and_time(preferences.daily_at)))
                }
            }
            Frequency::Immediate | Frequency::Off => None,
        }
    }

    /// The window's name in the user's records.
    pub fn name(&self) -> String {
        format!("{}", self.until.timestamp_millis())
    }

    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.from <= at && at < self.until
    }
}

/// Where a digest's items link in the practice app (`PUT /v1/settings`
/// `app_links`): https URL templates with `{recipient_id}` and
/// `{message_id}` (notifications name no appointment yet, so an
/// appointment link waits for one that does).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppLinks {
    /// A message (`{message_id}`, and `{recipient_id}` if it wants).
    #[schema(example = "https://app.riverside.example/messages/{message_id}")]
    pub message: Option<String>,
    /// A recipient's page (`{recipient_id}`).
    #[schema(example = "https://app.riverside.example/clients/{recipient_id}")]
    pub recipient: Option<String>,
}

const MAX_LINK_CHARS: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("app_links.{0} must be an https URL template of at most {MAX_LINK_CHARS} characters")]
pub struct InvalidAppLink(pub &'static str);

impl AppLinks {
    pub fn validate(&self) -> Result<(), InvalidAppLink> {
        for (name, link) in [("message", &self.message), ("recipient", &self.recipient)] {
            if let Some(link) = link {
                let https = link.starts_with("https://") && link.len() > "https://".len();
                if !https || link.chars().count() > MAX_LINK_CHARS || link.contains(char::is_whitespace) {
                    return Err(InvalidAppLink(name));
                }
            }
        }
        Ok(())
    }

    /// The link for a notification: its message's, else its recipient's.
    /// Ids are the practice app's own (never a name or number).
    pub fn link_for(&self, notification: &Notification) -> Option<String> {
        let fill = |template: &str| {
            let mut link = template.to_owned();
            if let Some(id) = &notification.recipient_id {
                link = link.replace("{recipient_id}", id.as_str());
            }
            if let Some(id) = &notification.message_id {
                link = link.replace("{message_id}", id.as_str());
            }
            // A template naming an id the notification lacks links nowhere.
            (!link.contains('{')).then_some(link)
        };
        let message = self.message.as_deref().filter(|_| notification.message_id.is_some()).and_then(fill);
        message.or_else(|| self.recipient.as_deref().filter(|_| notification.recipient_id.is_some()).and_then(fill))
    }
}

/// What a kind of notification means, for staff.
fn described(kind: NotificationKind) -> &'static str {
    match kind {
        NotificationKind::DeliveryFailed => "A message could not be delivered",
        NotificationKind::DeliveryUnknown => "A message may or may not have been sent: check before sending again",
        NotificationKind::EmailBounced => "An email bounced",
        NotificationKind::EmailComplaint => "A recipient marked an email as spam",
        NotificationKind::BadNumber => "A number cannot take texts or calls",
        NotificationKind::OptedOut => "A recipient opted out",
        NotificationKind::CallNotAnswered => "A call was not answered",
        NotificationKind::FaxFailed => "A fax did not go through",
        NotificationKind::RenderFailed => "A message template failed",
        NotificationKind::LowBalance => "Messaging credit is low",
        NotificationKind::CreditExhausted => "Messaging credit ran out: paid messages are held",
        NotificationKind::NewReply => "A new message to read",
        NotificationKind::UnmatchedReply => "A message from an unknown sender",
        NotificationKind::ExpiredNoOptIn => "A message expired waiting for opt-in",
        NotificationKind::FormSubmitted => "A form was submitted",
        NotificationKind::FormLocked => "A form link was locked after five wrong codes",
    }
}

/// A staff email: subject, text and HTML. Built only from kinds, counts,
/// times, channels, provider codes and the app's links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffEmail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl StaffEmail {
    /// The email for `items` (one, for an immediate notice; a window's
    /// worth for a digest), grouped by kind, most urgent first, with
    /// counts, each item's time in `zone` and its link.
    pub fn compose(practice: &str, items: &[Notification], zone: TimeZone, links: &AppLinks) -> Self {
        let mut groups: BTreeMap<(u8, &'static str), Vec<&Notification>> = BTreeMap::new();
        for item in items {
            let rank = match item.kind.severity() {
                Severity::Critical => 0,
                Severity::Warning => 1,
                Severity::Info => 2,
            };
            groups.entry((rank, item.kind.as_str())).or_default().push(item);
        }
        let subject = match items {
            [one] => format!("{practice}: {}", described(one.kind)),
            _ => format!("{practice}: {} new notifications", items.len()),
        };
        let mut text = String::new();
        let mut html = String::from(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head>\
             <body style=\"font-family:sans-serif;font-size:15px;line-height:1.5\">",
        );
        for group in groups.values() {
            let heading = format!("{} ({})", described(group[0].kind), group.len());
            text.push_str(&format!("{heading}\n"));
            html.push_str(&format!("<h3>{}</h3><ul>", escape_html(&heading)));
            for item in group {
                let at = item.at.with_timezone(&zone.tz()).format("%a %b %-d, %-I:%M %p");
                let mut line = at.to_string();
                if let Some(channel) = item.channel {
                    line.push_str(&format!(", {}", channel.as_str()));
                }
                if let Some(detail) = &item.detail {
                    line.push_str(&format!(" ({detail})"));
                }
                let link = links.link_for(item);
                text.push_str(&format!("- {line}{}\n", link.as_deref().map(|l| format!(": {l}")).unwrap_or_default()));
                html.push_str(&format!("<li>{}", escape_html(&line)));
                if let Some(link) = &link {
                    html.push_str(&format!(" <a href=\"{}\">open</a>", escape_html(link)));
                }
                html.push_str("</li>");
            }
            text.push('\n');
            html.push_str("</ul>");
        }
        text.push_str("You get these emails as your Tidings notification settings say.\n");
        html.push_str("<p>You get these emails as your Tidings notification settings say.</p></body></html>");
        Self { subject, text, html }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveTime;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn preferences(frequency: Frequency, daily_at: &str) -> NotificationPreferences {
        NotificationPreferences {
            frequency,
            daily_at: NaiveTime::parse_from_str(daily_at, "%H:%M").unwrap(),
            kinds: None,
        }
    }

    #[test]
    fn an_hourly_digest_covers_up_to_the_last_whole_hour_once() {
        let hourly = preferences(Frequency::Hourly, "08:00");
        let zone: TimeZone = "UTC".parse().unwrap();
        let window = DigestWindow::due(&hourly, zone, at("2026-12-03T09:00:00Z"), at("2026-12-03T10:04:00Z")).unwrap();
        assert_eq!((window.from, window.until), (at("2026-12-03T09:00:00Z"), at("2026-12-03T10:00:00Z")));
        assert_eq!(DigestWindow::due(&hourly, zone, window.until, at("2026-12-03T10:59:00Z")), None);
        assert!(window.contains(at("2026-12-03T09:00:00Z")) && !window.contains(window.until));
    }

    #[test]
    fn a_daily_digest_goes_at_its_wall_clock_time_across_daylight_saving() {
        let daily = preferences(Frequency::Daily, "08:00");
        let la: TimeZone = "America/Los_Angeles".parse().unwrap();
        // 08:00 PDT is 15:00 UTC; after the clocks fall back (1 Nov 2026),
        // 08:00 PST is 16:00 UTC.
        let before = DigestWindow::due(&daily, la, at("2026-10-30T15:00:00Z"), at("2026-10-31T15:30:00Z")).unwrap();
        assert_eq!(before.until, at("2026-10-31T15:00:00Z"));
        let after = DigestWindow::due(&daily, la, before.until, at("2026-11-02T17:00:00Z")).unwrap();
        assert_eq!(after.until, at("2026-11-02T16:00:00Z"), "everything since, up to the latest 08:00");
        assert_eq!(DigestWindow::due(&daily, la, after.until, at("2026-11-03T15:59:00Z")), None, "not yet 08:00");
        assert_eq!(DigestWindow::due(&preferences(Frequency::Immediate, "08:00"), la, before.until, after.until), None);
        let at_eight = DigestWindow::due(&daily, la, after.until, at("2026-11-03T16:00:00Z"));
        assert_eq!(at_eight, None, "a window settles before its digest is made");
        let settled = DigestWindow::due(&daily, la, after.until, at("2026-11-03T16:00:00Z") + SETTLE);
        assert_eq!(settled.map(|w| w.until), Some(at("2026-11-03T16:00:00Z")));
    }

    #[test]
    fn the_next_window_ends_at_the_next_hour_or_wall_clock_time() {
        let la: TimeZone = "America/Los_Angeles".parse().unwrap();
        let daily = preferences(Frequency::Daily, "08:00");
        // Saturday 31 Oct 08:00 PDT, then Monday 2 Nov 08:00 PST.
        assert_eq!(DigestWindow::next_end(&daily, la, at("2026-10-31T14:00:00Z")), Some(at("2026-10-31T15:00:00Z")));
        assert_eq!(DigestWindow::next_end(&daily, la, at("2026-11-01T15:00:00Z")), Some(at("2026-11-01T16:00:00Z")));
        assert_eq!(DigestWindow::next_end(&daily, la, at("2026-11-01T16:00:00Z")), Some(at("2026-11-02T16:00:00Z")));
        let hourly = preferences(Frequency::Hourly, "08:00");
        assert_eq!(DigestWindow::next_end(&hourly, la, at("2026-12-03T10:00:00Z")), Some(at("2026-12-03T11:00:00Z")));
        assert_eq!(DigestWindow::next_end(&preferences(Frequency::Off, "08:00"), la, at("2026-12-03T10:00:00Z")), None);
        // What next_end names is what due finds due then.
        let end = DigestWindow::next_end(&daily, la, at("2026-12-03T10:00:00Z")).unwrap();
        assert_eq!(DigestWindow::due(&daily, la, at("2026-12-03T10:00:00Z"), end + SETTLE).map(|w| w.until), Some(end));
    }

    fn notification(kind: NotificationKind, minute: u32) -> Notification {
        let mut n = Notification::new(kind, at("2026-12-03T15:00:00Z") + Duration::minutes(i64::from(minute)));
        n.recipient_id = Some("c-101".parse().unwrap());
        n.message_id = Some("a-2~reminder~1440~1".parse().unwrap());
        n.channel = Some(super::super::recipient::Channel::Sms);
        n
    }

    #[test]
    fn a_digest_groups_by_kind_most_urgent_first_with_counts_and_links() {
        let links = AppLinks {
            message: Some("https://app.example/m/{message_id}".into()),
            recipient: Some("https://app.example/c/{recipient_id}".into()),
        };
        let items = [
            notification(NotificationKind::NewReply, 1),
            notification(NotificationKind::CreditExhausted, 2),
            notification(NotificationKind::NewReply, 3),
        ];
        let la: TimeZone = "America/Los_Angeles".parse().unwrap();
        let email = StaffEmail::compose("Riverside Clinic", &items, la, &links);
        assert_eq!(email.subject, "Riverside Clinic: 3 new notifications");
        let credit = email.text.find("Messaging credit ran out").unwrap();
        let replies = email.text.find("A new message to read (2)").unwrap();
        assert!(credit < replies, "{}", email.text);
        assert!(
            email.text.contains("Thu Dec 3, 7:01 AM, sms: https://app.example/m/a-2~reminder~1440~1"),
            "{}",
            email.text
        );
        assert!(email.html.contains("<a href=\"https://app.example/m/a-2~reminder~1440~1\">open</a>"));
        let one = StaffEmail::compose("Riverside Clinic", &items[1..2], la, &AppLinks::default());
        assert_eq!(one.subject, "Riverside Clinic: Messaging credit ran out: paid messages are held");
    }

    #[test]
    fn links_are_https_templates_and_fill_only_the_ids_they_have() {
        assert!(AppLinks { message: Some("http://x".into()), ..AppLinks::default() }.validate().is_err());
        let links = AppLinks { message: None, recipient: Some("https://a.example/{recipient_id}".into()) };
        assert_eq!(links.validate(), Ok(()));
        let mut unmatched = notification(NotificationKind::UnmatchedReply, 0);
        unmatched.recipient_id = None;
        unmatched.message_id = None;
        assert_eq!(links.link_for(&unmatched), None);
        assert_eq!(
            links.link_for(&notification(NotificationKind::NewReply, 0)).as_deref(),
            Some("https://a.example/c-101")
        );
    }
}
