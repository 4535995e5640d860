//! Message templates: named merge fields rendered into the text each channel
//! sends. The defaults carry the minimum necessary: who, when and where, never
//! a diagnosis or a service type.

use chrono::{DateTime, Utc};
use minijinja::{Environment, UndefinedBehavior};
use serde::{Deserialize, Serialize};

use super::contact::TimeZone;
use super::message::{MessageKind, RenderedContent};
use super::recipient::{Address, Channel, Language};

const REMINDER_EMAIL_SUBJECT: &str = "Appointment reminder from {{ practice_name }}";
const REMINDER_EMAIL_BODY: &str = "Hello {{ first_name }},\n\n\
This is a reminder of your appointment with {{ provider }} on {{ date }} at {{ time }}, at {{ location }}.\n\n\
To change it, please call {{ practice_phone }}.\n\n\
{{ practice_name }}\n";
// Under 160 GSM-7 characters for typical values: one segment.
const REMINDER_SMS_BODY: &str = "{{ practice_name }}: {{ first_name }}, reminder of your appointment with \
{{ provider }} {{ date_short }} at {{ time }}. To change it call {{ practice_phone }}.";

const NOTICE_EMAIL_SUBJECT: &str = "Your appointment with {{ practice_name }}: {{ change }}";
const NOTICE_EMAIL_BODY: &str = "Hello {{ first_name }},\n\n\
{% if change == 'cancelled' %}Your appointment with {{ provider }} on {{ date }} at {{ time }} is cancelled.\
{% elif change == 'changed' %}Your appointment with {{ provider }} is now on {{ date }} at {{ time }}, at {{ location }}.\
{% else %}Your appointment with {{ provider }} is booked for {{ date }} at {{ time }}, at {{ location }}.{% endif %}\n\n\
Questions? Please call {{ practice_phone }}.\n\n\
{{ practice_name }}\n";
const NOTICE_SMS_BODY: &str = "{{ practice_name }}: {{ first_name }}, your appointment with {{ provider }} \
{% if change == 'cancelled' %}{{ date_short }} at {{ time }} is cancelled\
{% elif change == 'changed' %}is now {{ date_short }} at {{ time }}\
{% else %}is booked for {{ date_short }} at {{ time }}{% endif %}. Call {{ practice_phone }} with questions.";

// Billing content needs the recipient's prior consent (no healthcare
// exemption): accounts turn these on knowingly. No service is named.
const BILLING_EMAIL_SUBJECT: &str = "{{ practice_name }}: payment due {{ due_date }}";
const BILLING_EMAIL_BODY: &str = "Hello {{ first_name }},\n\n\
This is a reminder that {{ amount_due }} is due on {{ due_date }}.\
{% if pay_link %} You can pay online at {{ pay_link }}{% endif %}\n\n\
Questions? Please call {{ practice_phone }}.\n\n\
{{ practice_name }}\n";
const BILLING_SMS_BODY: &str = "{{ practice_name }}: {{ first_name }}, {{ amount_due }} is due {{ due_date }}.\
{% if pay_link %} Pay: {{ pay_link }}{% else %} Questions: {{ practice_phone }}{% endif %}";
const LATE_EMAIL_SUBJECT: &str = "{{ practice_name }}: payment overdue";
const LATE_EMAIL_BODY: &str = "Hello {{ first_name }},\n\n\
Our records show {{ amount_due }} was due on {{ due_date }} and is still open.\
{% if pay_link %} You can pay online at {{ pay_link }}{% endif %}\n\n\
If you have already paid, thank you. Questions? Please call {{ practice_phone }}.\n\n\
{{ practice_name }}\n";
// Spoken: no links, whole dates; the call adds its keypad prompt itself.
const REMINDER_VOICE_BODY: &str = "Hello {{ first_name }}. This is {{ practice_name }} with a reminder of your \
appointment with {{ provider }} on {{ date }} at {{ time }}, at {{ location }}.";
const NOTICE_VOICE_BODY: &str = "Hello {{ first_name }}. This is {{ practice_name }}. Your appointment with {{ provider }} \
{% if change == 'cancelled' %}on {{ date }} at {{ time }} is cancelled.\
{% elif change == 'changed' %}is now on {{ date }} at {{ time }}, at {{ location }}.\
{% else %}is booked for {{ date }} at {{ time }}, at {{ location }}.{% endif %}";
const BILLING_VOICE_BODY: &str = "Hello {{ first_name }}. This is {{ practice_name }}. {{ amount_due }} is due on \
{{ due_date }}. To pay or with questions, please call {{ practice_phone }}.";
const LATE_VOICE_BODY: &str = "Hello {{ first_name }}. This is {{ practice_name }}. Our records show {{ amount_due }} \
was due on {{ due_date }} and is still open. If you have already paid, thank you. Questions? Please call {{ practice_phone }}.";

const LATE_SMS_BODY: &str = "{{ practice_name }}: {{ first_name }}, {{ amount_due }} due {{ due_date }} is still open.\
{% if pay_link %} Pay: {{ pay_link }}{% else %} Questions: {{ practice_phone }}{% endif %}";

/// The merge fields of a billing reminder or late-payment notice.
#[derive(Debug, Clone, Serialize)]
pub struct InvoiceFields {
    pub first_name: String,
    pub practice_name: String,
    pub practice_phone: String,
    /// "$125.50"
    pub amount_due: String,
    /// "December 15, 2026", in the recipient's language
    pub due_date: String,
    /// The invoice's payment link, or empty.
    pub pay_link: String,
}

pub const INVOICE_FIELDS: [&str; 6] = ["first_name", "practice_name", "practice_phone", "amount_due", "due_date", "pay_link"];

/// The merge fields of any message about an appointment.
#[derive(Debug, Clone, Serialize)]
pub struct AppointmentFields {
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

/// How a language writes a date and a time: its locale (day and month
/// names) and the patterns of the long date, the short date and the time.
struct DateStyle {
    locale: chrono::Locale,
    date: &'static str,
    date_short: &'static str,
    time: &'static str,
    /// With the year, for due dates.
    date_with_year: &'static str,
}

const ENGLISH: DateStyle = DateStyle {
    locale: chrono::Locale::en_US,
    date: "%A, %B %-d",
    date_short: "%b %-d",
    time: "%-I:%M %p",
    date_with_year: "%B %-d, %Y",
};

/// Languages Tidings writes dates in; any other falls back to English.
fn date_style(language: &Language) -> DateStyle {
    let primary = language.as_str().split('-').next().unwrap_or_default();
    match primary {
        "es" => DateStyle {
            locale: chrono::Locale::es_ES,
            date: "%A %-d de %B",
            date_short: "%-d %b",
            time: "%H:%M",
            date_with_year: "%-d de %B de %Y",
        },
        "fr" => DateStyle {
            locale: chrono::Locale::fr_FR,
            date: "%A %-d %B",
            date_short: "%-d %b",
            time: "%H:%M",
            date_with_year: "%-d %B %Y",
        },
        "de" => DateStyle {
            locale: chrono::Locale::de_DE,
            date: "%A, %-d. %B",
            date_short: "%-d. %b",
            time: "%H:%M",
            date_with_year: "%-d. %B %Y",
        },
        "pt" => DateStyle {
            locale: chrono::Locale::pt_BR,
            date: "%A, %-d de %B",
            date_short: "%-d %b",
            time: "%H:%M",
            date_with_year: "%-d de %B de %Y",
        },
        "it" => DateStyle {
            locale: chrono::Locale::it_IT,
            date: "%A %-d %B",
            date_short: "%-d %b",
            time: "%H:%M",
            date_with_year: "%-d %B %Y",
        },
        _ => ENGLISH,
    }
}

impl AppointmentFields {
    /// Dates and times are shown in the recipient's time zone and language.
    pub fn appointment_time(starts_at: DateTime<Utc>, zone: TimeZone, language: &Language) -> (String, String, String) {
        let local = starts_at.with_timezone(&zone.tz());
        let style = date_style(language);
        (
            local.format_localized(style.date, style.locale).to_string(),
            local.format_localized(style.date_short, style.locale).to_string(),
            local.format_localized(style.time, style.locale).to_string(),
        )
    }
}

/// An invoice's due date in the recipient's language ("December 15, 2026").
pub fn long_date(date: chrono::NaiveDate, language: &Language) -> String {
    let style = date_style(language);
    date.format_localized(style.date_with_year, style.locale).to_string()
}

/// A template's text: a subject (email only) and a body, with
/// `{{ field }}` merge fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TemplateSource {
    // Stored under names of their own: `subject` is an index key of the table.
    #[serde(default, rename = "subject_template")]
    pub subject: Option<String>,
    #[serde(rename = "body_template")]
    pub body: String,
}

/// Why a template cannot be used. Names fields and positions only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("the {part} does not parse: {detail}")]
    Syntax { part: &'static str, detail: String },
    #[error("the {part} uses unknown merge field `{field}`; known: {known}")]
    UnknownField { part: &'static str, field: String, known: String },
    #[error("email templates need a subject; other channels take none")]
    Subject,
    #[error("the {part} could not be rendered: {detail}")]
    Render { part: &'static str, detail: String },
}

/// The merge fields every message about an appointment offers.
pub const APPOINTMENT_FIELDS: [&str; 8] =
    ["first_name", "practice_name", "practice_phone", "provider", "location", "date", "date_short", "time"];

/// A notice's fields: the appointment's, and what `change` it tells
/// (`booked`, `changed` or `cancelled`).
#[derive(Debug, Clone, Serialize)]
pub struct NoticeFields {
    #[serde(flatten)]
    pub appointment: AppointmentFields,
    pub change: &'static str,
}

/// The merge fields a kind of message offers.
pub fn fields_of(kind: MessageKind) -> Vec<&'static str> {
    match kind {
        MessageKind::AppointmentReminder => APPOINTMENT_FIELDS.to_vec(),
        MessageKind::AppointmentNotice => [APPOINTMENT_FIELDS.as_slice(), &["change"]].concat(),
        MessageKind::BillingReminder | MessageKind::LatePaymentNotice => INVOICE_FIELDS.to_vec(),
    }
}

impl AppointmentFields {
    /// Sample values for previews.
    pub fn sample(zone: TimeZone) -> Self {
        let start = Utc::now().date_naive().succ_opt().unwrap_or_default().and_hms_opt(15, 30, 0).unwrap_or_default();
        let (date, date_short, time) = Self::appointment_time(start.and_utc(), zone, &Language::english());
        Self {
            first_name: "Alex".into(),
            practice_name: "Riverside Clinic".into(),
            practice_phone: "+12025550143".into(),
            provider: "Dr. Rivera".into(),
            location: "12 Main St".into(),
            date,
            date_short,
            time,
        }
    }
}

fn has_subject(channel: Channel) -> bool {
    matches!(channel, Channel::Email | Channel::Fax)
}

/// The HTML alternative of an email's text: the same words, escaped, with
/// its paragraphs and line breaks kept.
pub fn html_of(text: &str) -> String {
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;");
    let paragraphs: Vec<String> = escaped
        .split("\n\n")
        .filter(|p| !p.trim().is_empty())
        .map(|p| format!("<p>{}</p>", p.trim_end().replace('\n', "<br>")))
        .collect();
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head>\
         <body style=\"font-family:sans-serif;font-size:15px;line-height:1.5\">{}</body></html>",
        paragraphs.join("")
    )
}

/// The built-in templates, and rendering of any template. Built once per
/// process.
pub struct Templates {
    env: Environment<'static>,
}

impl Default for Templates {
    fn default() -> Self {
        let mut env = Environment::new();
        // A misspelt field must fail loudly, not send a blank.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        Self { env }
    }
}

impl Templates {
    /// The built-in template of a kind on a channel, if there is one.
    pub fn default_source(&self, kind: MessageKind, channel: Channel) -> Result<TemplateSource, TemplateError> {
        let (subject, email, sms, voice) = match kind {
            MessageKind::AppointmentReminder => {
                (REMINDER_EMAIL_SUBJECT, REMINDER_EMAIL_BODY, REMINDER_SMS_BODY, REMINDER_VOICE_BODY)
            }
            MessageKind::AppointmentNotice => (NOTICE_EMAIL_SUBJECT, NOTICE_EMAIL_BODY, NOTICE_SMS_BODY, NOTICE_VOICE_BODY),
            MessageKind::BillingReminder => (BILLING_EMAIL_SUBJECT, BILLING_EMAIL_BODY, BILLING_SMS_BODY, BILLING_VOICE_BODY),
            MessageKind::LatePaymentNotice => (LATE_EMAIL_SUBJECT, LATE_EMAIL_BODY, LATE_SMS_BODY, LATE_VOICE_BODY),
        };
        // A fax is a letter: the email's subject (on the cover) and text.
        Ok(match channel {
            Channel::Email | Channel::Fax => TemplateSource { subject: Some(subject.into()), body: email.into() },
            Channel::Sms => TemplateSource { subject: None, body: sms.into() },
            Channel::Voice => TemplateSource { subject: None, body: voice.into() },
        })
    }

    fn check_part(&self, kind: MessageKind, part: &'static str, source: &str) -> Result<(), TemplateError> {
        let known = fields_of(kind);
        let template = self
            .env
            .template_from_str(source)
            .map_err(|e| TemplateError::Syntax { part, detail: e.to_string() })?;
        let mut unknown: Vec<String> = template
            .undeclared_variables(false)
            .into_iter()
            .filter(|name| !known.contains(&name.as_str()))
            .collect();
        unknown.sort();
        match unknown.into_iter().next() {
            Some(field) => Err(TemplateError::UnknownField { part, field, known: known.join(", ") }),
            None => Ok(()),
        }
    }

    /// Checks an account's template before it is saved: it parses, uses only
    /// known merge fields, and has a subject exactly when it is an email or
    /// a fax.
    pub fn validate(&self, kind: MessageKind, channel: Channel, source: &TemplateSource) -> Result<(), TemplateError> {
        if source.subject.is_some() != has_subject(channel) {
            return Err(TemplateError::Subject);
        }
        if let Some(subject) = &source.subject {
            self.check_part(kind, "subject", subject)?;
        }
        self.check_part(kind, "body", &source.body)
    }

    fn render_part(&self, part: &'static str, source: &str, fields: &impl Serialize) -> Result<String, TemplateError> {
        self.env
            .render_str(source, fields)
            .map_err(|e| TemplateError::Render { part, detail: e.kind().to_string() })
    }

    /// Renders a message with the account's template, or the built-in one.
    pub fn render(
        &self,
        kind: MessageKind,
        channel: Channel,
        custom: Option<&TemplateSource>,
        to: &Address,
        fields: &impl Serialize,
    ) -> Result<RenderedContent, TemplateError> {
        let built_in;
        let source = match custom {
            Some(source) => source,
            None => {
                built_in = self.default_source(kind, channel)?;
                &built_in
            }
        };
        let subject = match &source.subject {
            Some(subject) if has_subject(channel) => Some(self.render_part("subject", subject, fields)?),
            _ => None,
        };
        Ok(RenderedContent {
            to: to.as_str().to_owned(),
            subject,
            body: self.render_part("body", &source.body, fields)?,
            ..RenderedContent::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    fn fields() -> AppointmentFields {
        let start = Utc.with_ymd_and_hms(2026, 12, 2, 20, 30, 0).unwrap();
        let (date, date_short, time) =
            AppointmentFields::appointment_time(start, "America/New_York".parse().unwrap(), &Language::english());
        AppointmentFields {
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
    fn dates_are_written_in_the_recipients_language() {
        let start = Utc.with_ymd_and_hms(2026, 12, 2, 20, 30, 0).unwrap();
        let zone: TimeZone = "America/New_York".parse().unwrap();
        let lang = |tag: &str| Language::try_from(tag.to_owned()).unwrap();
        assert_eq!(
            AppointmentFields::appointment_time(start, zone, &lang("es-MX")),
            ("miércoles 2 de diciembre".to_owned(), "2 dic".to_owned(), "15:30".to_owned())
        );
        assert_eq!(AppointmentFields::appointment_time(start, zone, &lang("fr")).0, "mercredi 2 décembre");
        assert_eq!(AppointmentFields::appointment_time(start, zone, &lang("de")).0, "Mittwoch, 2. Dezember");
        assert_eq!(AppointmentFields::appointment_time(start, zone, &lang("zh")).0, "Wednesday, December 2", "fallback");
        let due = chrono::NaiveDate::from_ymd_opt(2026, 12, 15).unwrap();
        assert_eq!(long_date(due, &Language::english()), "December 15, 2026");
        assert_eq!(long_date(due, &lang("es")), "15 de diciembre de 2026");
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
        let out = Templates::default().render(MessageKind::AppointmentReminder, Channel::Email, None, &to, &fields()).unwrap();
        assert_eq!(out.subject.as_deref(), Some("Appointment reminder from Riverside Clinic"));
        for expected in ["Hello Ann", "Dr. Ruiz", "Wednesday, December 2", "3:30 PM", "12 Main St", "+12025550143"] {
            assert!(out.body.contains(expected), "{expected} missing from {}", out.body);
        }
        assert_eq!(out.to, "ann@example.com");
    }

    #[test]
    fn sms_is_one_segment_for_typical_values() {
        let to = Address::Phone("+12025550143".parse().unwrap());
        let out = Templates::default().render(MessageKind::AppointmentReminder, Channel::Sms, None, &to, &fields()).unwrap();
        assert!(out.subject.is_none());
        assert_eq!(crate::domain::sms_length(&out.body).segments, 1, "{}", out.body);
        assert!(out.body.contains("Dec 2 at 3:30 PM"));
    }

    #[test]
    fn a_fax_is_a_letter_and_a_call_is_spoken() {
        let to = Address::Phone("+12025550143".parse().unwrap());
        let fax = Templates::default().render(MessageKind::AppointmentReminder, Channel::Fax, None, &to, &fields()).unwrap();
        assert_eq!(fax.subject.as_deref(), Some("Appointment reminder from Riverside Clinic"));
        let call = Templates::default().render(MessageKind::AppointmentReminder, Channel::Voice, None, &to, &fields()).unwrap();
        assert!(call.subject.is_none());
        assert!(call.body.contains("on Wednesday, December 2 at 3:30 PM"), "{}", call.body);
        assert!(!call.body.contains("http"), "{}", call.body);
    }

    #[test]
    fn the_html_part_escapes_and_keeps_paragraphs() {
        let html = html_of("Hello <Ann> & co,\n\nSee you\nsoon.\n");
        assert!(html.contains("<p>Hello &lt;Ann&gt; &amp; co,</p><p>See you<br>soon.</p>"), "{html}");
    }

    #[test]
    fn an_account_template_renders_in_place_of_the_default() {
        let to = Address::Phone("+12025550143".parse().unwrap());
        let custom = TemplateSource { subject: None, body: "{{ first_name }}: see {{ provider }} at {{ time }}".into() };
        let out = Templates::default().render(MessageKind::AppointmentReminder, Channel::Sms, Some(&custom), &to, &fields()).unwrap();
        assert_eq!(out.body, "Ann: see Dr. Ruiz at 3:30 PM");
    }

    #[test]
    fn templates_with_unknown_fields_or_broken_syntax_are_refused() {
        let templates = Templates::default();
        let kind = MessageKind::AppointmentReminder;
        let ok = TemplateSource { subject: None, body: "Hi {{ first_name }}".into() };
        assert_eq!(templates.validate(kind, Channel::Sms, &ok), Ok(()));
        let unknown = TemplateSource { subject: None, body: "Your {{ diagnosis }} visit".into() };
        assert!(matches!(templates.validate(kind, Channel::Sms, &unknown),
            Err(TemplateError::UnknownField { field, .. }) if field == "diagnosis"));
        let broken = TemplateSource { subject: None, body: "Hi {{ first_name".into() };
        assert!(matches!(templates.validate(kind, Channel::Sms, &broken), Err(TemplateError::Syntax { .. })));
        assert_eq!(templates.validate(kind, Channel::Email, &ok), Err(TemplateError::Subject));
        assert_eq!(templates.validate(kind, Channel::Fax, &ok), Err(TemplateError::Subject));
        assert_eq!(templates.validate(kind, Channel::Voice, &ok), Ok(()));
    }

    #[test]
    fn the_built_in_templates_pass_their_own_validation() {
        let templates = Templates::default();
        for kind in [
            MessageKind::AppointmentReminder,
            MessageKind::AppointmentNotice,
            MessageKind::BillingReminder,
            MessageKind::LatePaymentNotice,
        ] {
            for channel in [Channel::Email, Channel::Sms, Channel::Voice, Channel::Fax] {
                let source = templates.default_source(kind, channel).unwrap();
                assert_eq!(templates.validate(kind, channel, &source), Ok(()), "{kind:?} {channel:?}");
            }
        }
    }

    #[test]
    fn notices_say_what_changed_in_one_sms_segment() {
        let templates = Templates::default();
        let to = Address::Phone("+12025550143".parse().unwrap());
        for (change, expected) in [("booked", "is booked for Dec 2 at 3:30 PM"), ("changed", "is now Dec 2 at 3:30 PM"), ("cancelled", "Dec 2 at 3:30 PM is cancelled")] {
            let fields = NoticeFields { appointment: fields(), change };
            let out = templates.render(MessageKind::AppointmentNotice, Channel::Sms, None, &to, &fields).unwrap();
            assert!(out.body.contains(expected), "{change}: {}", out.body);
            assert_eq!(crate::domain::sms_length(&out.body).segments, 1, "{}", out.body);
        }
        let email_to = Address::Email("ann@example.com".parse().unwrap());
        let fields = NoticeFields { appointment: fields(), change: "cancelled" };
        let out = templates.render(MessageKind::AppointmentNotice, Channel::Email, None, &email_to, &fields).unwrap();
        assert_eq!(out.subject.as_deref(), Some("Your appointment with Riverside Clinic: cancelled"));
        assert!(out.body.contains("on Wednesday, December 2 at 3:30 PM is cancelled"), "{}", out.body);
    }

    #[test]
    fn invoice_messages_carry_amount_due_date_and_pay_link() {
        let templates = Templates::default();
        let to = Address::Phone("+12025550143".parse().unwrap());
        let mut fields = InvoiceFields {
            first_name: "Ann".into(),
            practice_name: "Riverside Clinic".into(),
            practice_phone: "+12025550143".into(),
            amount_due: "$125.50".into(),
            due_date: "December 15, 2026".into(),
            pay_link: "https://pay.example.com/i/1".into(),
        };
        let out = templates.render(MessageKind::BillingReminder, Channel::Sms, None, &to, &fields).unwrap();
        assert_eq!(out.body, "Riverside Clinic: Ann, $125.50 is due December 15, 2026. Pay: https://pay.example.com/i/1");
        fields.pay_link = String::new();
        let out = templates.render(MessageKind::LatePaymentNotice, Channel::Sms, None, &to, &fields).unwrap();
        assert!(out.body.ends_with("is still open. Questions: +12025550143"), "{}", out.body);
    }

    #[test]
    fn only_notices_offer_the_change_field() {
        let templates = Templates::default();
        let source = TemplateSource { subject: None, body: "{{ change }}".into() };
        assert!(templates.validate(MessageKind::AppointmentNotice, Channel::Sms, &source).is_ok());
        assert!(templates.validate(MessageKind::AppointmentReminder, Channel::Sms, &source).is_err());
    }
}
