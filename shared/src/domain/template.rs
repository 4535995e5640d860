//! Message templates: named merge fields rendered into the text each channel
//! sends. The defaults carry the minimum necessary: who, when and where, never
//! a diagnosis or a service type.

use chrono::{DateTime, Utc};
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use super::contact::TimeZone;
use super::message::RenderedContent;
use super::recipient::{Address, Channel};

const REMINDER_EMAIL_SUBJECT: &str = "Appointment reminder from {{ practice_name }}";
const REMINDER_EMAIL_BODY: &str = "Hello {{ first_name }},\n\n\
This is a reminder of your appointment with {{ provider }} on {{ date }} at {{ time }}, at {{ location }}.\n\n\
To change it, please call {{ practice_phone }}.\n\n\
{{ practice_name }}\n";
// Under 160 GSM-7 characters for typical values: one segment.
const REMINDER_SMS_BODY: &str = "{{ practice_name }}: {{ first_name }}, reminder of your appointment with \
{{ provider }} {{ date_short }} at {{ time }}. To change it call {{ practice_phone }}.";

/// The merge fields of an appointment reminder.
#[derive(Debug, Clone, Serialize)]
pub struct ReminderFields {
    pub first_name: String,
    pub practice_name: String,
    pub practice_phone: String,
    pub provider: String,
    pub location: String,
    /// "Wednesday, December 2"
    pub date: String,
    /// "Dec 2"
    pub date_short: String,
    /// "3:30 PM"
    pub time: String,
}

impl ReminderFields {
    /// Dates and times are shown in the recipient's time zone.
    pub fn appointment_time(starts_at: DateTime<Utc>, zone: TimeZone) -> (String, String, String) {
        let local = starts_at.with_timezone(&zone.tz());
        (
            local.format("%A, %B %-d").to_string(),
            local.format("%b %-d").to_string(),
            local.format("%-I:%M %p").to_string(),
        )
    }
}

#[derive(Debug, thiserror::Error)]
#[error("template could not be rendered: {0}")]
pub struct TemplateError(#[from] minijinja::Error);

/// The templates in force. Built once per process.
pub struct Templates {
    env: Environment<'static>,
}

impl Default for Templates {
    fn default() -> Self {
        let mut env = Environment::new();
        // A misspelt field must fail loudly, not send a blank.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        let defaults = [
            ("appointment_reminder/email/subject", REMINDER_EMAIL_SUBJECT),
            ("appointment_reminder/email/body", REMINDER_EMAIL_BODY),
            ("appointment_reminder/sms/body", REMINDER_SMS_BODY),
        ];
        for (name, source) in defaults {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("built-in template {name} is broken: {e}"));
        }
        Self { env }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("no template for this message on the {0} channel")]
    NoTemplate(&'static str),
    #[error(transparent)]
    Template(#[from] TemplateError),
}

impl Templates {
    pub fn render_reminder(
        &self,
        channel: Channel,
        to: &Address,
        fields: &ReminderFields,
    ) -> Result<RenderedContent, RenderError> {
        let render = |name: &str| -> Result<String, RenderError> {
            let template = self
                .env
                .get_template(name)
                .map_err(|_| RenderError::NoTemplate(channel.as_str()))?;
            Ok(template.render(fields).map_err(TemplateError)?)
        };
        let prefix = format!("appointment_reminder/{}", channel.as_str());
        let subject = match channel {
            Channel::Email => Some(render(&format!("{prefix}/subject"))?),
            _ => None,
        };
        Ok(RenderedContent {
            to: to.as_str().to_owned(),
            subject,
            body: render(&format!("{prefix}/body"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    fn fields() -> ReminderFields {
        let start = Utc.with_ymd_and_hms(2026, 12, 2, 20, 30, 0).unwrap();
        let (date, date_short, time) =
            ReminderFields::appointment_time(start, "America/New_York".parse().unwrap());
        ReminderFields {
            first_name: "Ann".into(),
            practice_name: "Riverside Clinic".into(),
            practice_phone: "+12025550143".into(),
            provider: "Dr. Ruiz".into(),
            location: "12 Main St".into(),
            date,
            date_short,
            time,
        }
    }

    #[test]
    fn times_are_shown_in_the_recipients_zone() {
        let f = fields();
        assert_eq!(f.date, "Wednesday, December 2");
        assert_eq!(f.time, "3:30 PM");
    }

    #[test]
    fn email_has_subject_and_body_with_every_field() {
        let to = Address::Email("ann@example.com".parse().unwrap());
        let out = Templates::default().render_reminder(Channel::Email, &to, &fields()).unwrap();
        assert_eq!(out.subject.as_deref(), Some("Appointment reminder from Riverside Clinic"));
        for expected in ["Hello Ann", "Dr. Ruiz", "Wednesday, December 2", "3:30 PM", "12 Main St", "+12025550143"] {
            assert!(out.body.contains(expected), "{expected} missing from {}", out.body);
        }
        assert_eq!(out.to, "ann@example.com");
    }

    #[test]
    fn sms_is_one_segment_for_typical_values() {
        let to = Address::Phone("+12025550143".parse().unwrap());
        let out = Templates::default().render_reminder(Channel::Sms, &to, &fields()).unwrap();
        assert!(out.subject.is_none());
        assert_eq!(crate::domain::sms_length(&out.body).segments, 1, "{}", out.body);
        assert!(out.body.contains("Dec 2 at 3:30 PM"));
    }

    #[test]
    fn channels_without_templates_are_refused() {
        let to = Address::Phone("+12025550143".parse().unwrap());
        let err = Templates::default().render_reminder(Channel::Fax, &to, &fields()).unwrap_err();
        assert!(matches!(err, RenderError::NoTemplate("fax")));
    }
}
