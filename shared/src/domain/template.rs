//! Message templates: named merge fields rendered into the text each channel
//! sends. The defaults carry the minimum necessary: who, when and where, never
//! a diagnosis or a service type.

use chrono::{DateTime, Utc};
use minijinja::machinery::{self, ast};
use minijinja::{Environment, ErrorKind, UndefinedBehavior};
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
const NOTICE_VOICE_BODY: &str =
    "Hello {{ first_name }}. This is {{ practice_name }}. Your appointment with {{ provider }} \
{% if change == 'cancelled' %}on {{ date }} at {{ time }} is cancelled.\
{% elif change == 'changed' %}is now on {{ date }} at {{ time }}, at {{ location }}.\
{% else %}is booked for {{ date }} at {{ time }}, at {{ location }}.{% endif %}";
const BILLING_VOICE_BODY: &str = "Hello {{ first_name }}. This is {{ practice_name }}. {{ amount_due }} is due on \
{{ due_date }}. To pay or with questions, please call {{ practice_phone }}.";
const LATE_VOICE_BODY: &str = "Hello {{ first_name }}. This is {{ practice_name }}. Our records show {{ amount_due }} \
was due on {{ due_date }} and is still open. If you have already paid, thank you. Questions? Please call {{ practice_phone }}.";

const LATE_SMS_BODY: &str = "{{ practice_name }}: {{ first_name }}, {{ amount_due }} due {{ due_date }} is still open.\
{% if pay_link %} Pay: {{ pay_link }}{% else %} Questions: {{ practice_phone }}{% endif %}";

const COPY_REMINDER_EMAIL_SUBJECT: &str = "Appointment reminder for {{ client_first_name }} from {{ practice_name }}";
const COPY_REMINDER_EMAIL_BODY: &str = "Hello {{ first_name }},\n\n\
As {{ client_first_name }}'s {{ relationship }}, you get a copy of their reminders: {{ client_first_name }} has an \
appointment with {{ provider }} on {{ date }} at {{ time }}, at {{ location }}.\n\n\
To change it, please call {{ practice_phone }}.\n\n\
{{ practice_name }}\n";
const COPY_REMINDER_SMS_BODY: &str = "{{ practice_name }}: {{ first_name }}, a reminder that {{ client_first_name }} \
has an appointment with {{ provider }} {{ date_short }} at {{ time }}. Questions: {{ practice_phone }}.";
const COPY_REMINDER_VOICE_BODY: &str = "Hello {{ first_name }}. This is {{ practice_name }} with a reminder that \
{{ client_first_name }} has an appointment with {{ provider }} on {{ date }} at {{ time }}.";

const COPY_NOTICE_EMAIL_SUBJECT: &str = "{{ client_first_name }}'s appointment with {{ practice_name }}: {{ change }}";
const COPY_NOTICE_EMAIL_BODY: &str = "Hello {{ first_name }},\n\n\
As {{ client_first_name }}'s {{ relationship }}, you get a copy of their appointment notices: \
{% if change == 'cancelled' %}the appointment with {{ provider }} on {{ date }} at {{ time }} is cancelled.\
{% elif change == 'changed' %}the appointment with {{ provider }} is now on {{ date }} at {{ time }}, at {{ location }}.\
{% else %}an appointment with {{ provider }} is booked for {{ date }} at {{ time }}, at {{ location }}.{% endif %}\n\n\
Questions? Please call {{ practice_phone }}.\n\n\
{{ practice_name }}\n";
const COPY_NOTICE_SMS_BODY: &str = "{{ practice_name }}: {{ first_name }}, {{ client_first_name }}'s appointment \
with {{ provider }} {% if change == 'cancelled' %}{{ date_short }} at {{ time }} is cancelled\
{% elif change == 'changed' %}is now {{ date_short }} at {{ time }}\
{% else %}is booked for {{ date_short }} at {{ time }}{% endif %}. Call {{ practice_phone }} with questions.";
const COPY_NOTICE_VOICE_BODY: &str = "Hello {{ first_name }}. This is {{ practice_name }}. \
{{ client_first_name }}'s appointment with {{ provider }} \
{% if change == 'cancelled' %}on {{ date }} at {{ time }} is cancelled.\
{% elif change == 'changed' %}is now on {{ date }} at {{ time }}.\
{% else %}is booked for {{ date }} at {{ time }}.{% endif %}";

const COPY_BILLING_EMAIL_SUBJECT: &str = "{{ practice_name }}: payment due {{ due_date }} for {{ client_first_name }}";
const COPY_BILLING_EMAIL_BODY: &str = "Hello {{ first_name }},\n\n\
As {{ client_first_name }}'s {{ relationship }}, you get a copy of their billing reminders: {{ amount_due }} is due \
on {{ due_date }}.\n\n{% if pay_link %}Pay online: {{ pay_link }}\n\n{% endif %}\
Questions: {{ practice_phone }}.\n\n{{ practice_name }}\n";
const COPY_BILLING_SMS_BODY: &str = "{{ practice_name }}: {{ first_name }}, for {{ client_first_name }}: \
{{ amount_due }} is due {{ due_date }}.{% if pay_link %} Pay: {{ pay_link }}{% endif %}";
const COPY_BILLING_VOICE_BODY: &str = "Hello {{ first_name }}. This is {{ practice_name }}. For \
{{ client_first_name }}, {{ amount_due }} is due on {{ due_date }}.";
const COPY_LATE_EMAIL_SUBJECT: &str = "{{ practice_name }}: payment overdue for {{ client_first_name }}";
const COPY_LATE_EMAIL_BODY: &str = "Hello {{ first_name }},\n\n\
As {{ client_first_name }}'s {{ relationship }}, you get a copy of their payment notices: {{ amount_due }} due \
{{ due_date }} is still open.\n\n{% if pay_link %}Pay online: {{ pay_link }}\n\n{% endif %}\
Questions: {{ practice_phone }}.\n\n{{ practice_name }}\n";
const COPY_LATE_SMS_BODY: &str = "{{ practice_name }}: {{ first_name }}, for {{ client_first_name }}: \
{{ amount_due }} due {{ due_date }} is still open.{% if pay_link %} Pay: {{ pay_link }}{% endif %}";
const COPY_LATE_VOICE_BODY: &str = "Hello {{ first_name }}. This is {{ practice_name }}. For \
{{ client_first_name }}, {{ amount_due }} due {{ due_date }} is still open.";

const FORM_EMAIL_SUBJECT: &str = "{{ practice_name }}: {{ form_title }}";
const FORM_EMAIL_BODY: &str = "Hello {{ first_name }},\n\n\
{{ practice_name }} asks you to fill in {{ form_title }}.\n\n\
Open {{ form_link }} and enter your access code: {{ access_code }}\n\n\
The link works until {{ expires_on }}. Questions: {{ practice_phone }}.\n\n{{ practice_name }}";
const FORM_SMS_BODY: &str = "{{ practice_name }}: {{ first_name }}, please fill in {{ form_title }}: {{ form_link }} \
Access code {{ access_code }}. Until {{ expires_on }}.";
const FORM_VOICE_BODY: &str = "Hello {{ first_name }}. This is {{ practice_name }}. We sent you a link to \
{{ form_title }}. Your access code is {{ access_code }}.";

/// The merge fields of a form request: its link and access code.
#[derive(Debug, Clone, Serialize)]
pub struct FormFields {
    pub first_name: String,
    pub practice_name: String,
    pub practice_phone: String,
    pub form_title: String,
    pub form_link: String,
    pub access_code: String,
    /// "December 17, 2026", in the recipient's language
    pub expires_on: String,
}

pub const FORM_FIELDS: [&str; 7] =
    ["first_name", "practice_name", "practice_phone", "form_title", "form_link", "access_code", "expires_on"];

/// The merge fields of a billing reminder or late-payment notice.
#[derive(Debug, Clone, Serialize)]
pub struct InvoiceFields {
    pub first_name: String,
    /// Whose invoice it is (as for appointments).
    pub client_first_name: String,
    pub relationship: String,
    pub practice_name: String,
    pub practice_phone: String,
    /// "$125.50"
    pub amount_due: String,
    /// "December 15, 2026", in the recipient's language
    pub due_date: String,
    /// The invoice's payment link, or empty.
    pub pay_link: String,
}

pub const INVOICE_FIELDS: [&str; 8] = [
    "first_name",
    "client_first_name",
    "relationship",
    "practice_name",
    "practice_phone",
    "amount_due",
    "due_date",
    "pay_link",
];

/// The merge fields of any message about an appointment.
#[derive(Debug, Clone, Serialize)]
pub struct AppointmentFields {
    pub first_name: String,
    /// Whose appointment it is: the client's first name (in the client's
    /// own message, the same as `first_name`).
    pub client_first_name: String,
    /// The recipient's relationship to the client (`guardian`, …), or
    /// `self` in the client's own message.
    pub relationship: String,
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
    #[error("the {part} is over {MAX_TEMPLATE_BYTES} bytes")]
    SourceTooLarge { part: &'static str },
    #[error(
        "the {part} uses {construct}, which templates do not allow; they offer merge fields, \
             if/elif/else, for loops, comparisons, and/or/not, and the filters {ALLOWED_FILTERS_TEXT}"
    )]
    NotAllowed { part: &'static str, construct: String },
    #[error("the rendered {part} is over {limit} bytes, the most its channel takes")]
    RenderedTooLarge { part: &'static str, limit: usize },
    #[error("the rendered {part} is over {limit} lines, the most its channel takes")]
    RenderedTooManyLines { part: &'static str, limit: usize },
    #[error("the {part} took more than {TEMPLATE_FUEL} steps to render")]
    OutOfFuel { part: &'static str },
    #[error("the {part} could not be rendered: {detail}")]
    Render { part: &'static str, detail: String },
    /// Keyword answers have fixed wording.
    #[error("this kind of message has no template")]
    NotTemplated,
}

impl TemplateError {
    /// A code for logs and staff notifications: never the template's text.
    pub fn code(&self) -> &'static str {
        match self {
            TemplateError::Syntax { .. } => "syntax",
            TemplateError::UnknownField { .. } => "unknown_field",
            TemplateError::Subject => "subject",
            TemplateError::SourceTooLarge { .. } => "template_too_large",
            TemplateError::NotAllowed { .. } => "not_allowed",
            TemplateError::RenderedTooLarge { .. } | TemplateError::RenderedTooManyLines { .. } => "rendered_too_large",
            TemplateError::OutOfFuel { .. } => "out_of_fuel",
            TemplateError::Render { .. } => "render_failed",
            TemplateError::NotTemplated => "not_templated",
        }
    }
}

/// The longest template part (subject or body) an account may save. The
/// built-in bodies are under 600 bytes.
pub const MAX_TEMPLATE_BYTES: usize = 20_000;

/// The steps (VM instructions) one part may take to render: the built-in
/// templates take under 200, so a loop over a merge field has ample room,
/// while loops nested to stall the sweep every account shares run out
/// within milliseconds.
pub const TEMPLATE_FUEL: u64 = 50_000;

/// The filters a template may use: none of them makes a text more than a
/// few times longer, so no value grows without bound.
const ALLOWED_FILTERS: [&str; 9] =
    ["upper", "lower", "title", "capitalize", "trim", "default", "length", "first", "last"];
const ALLOWED_FILTERS_TEXT: &str = "upper, lower, title, capitalize, trim, default, length, first and last";
const ALLOWED_TESTS: [&str; 7] = ["defined", "undefined", "none", "eq", "ne", "startingwith", "endingwith"];

/// The most a channel's rendered message may hold: what the channel can
/// carry, and what fits DynamoDB's 400 KB item, where the content is
/// stored with the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderedLimits {
    pub subject_bytes: usize,
    pub body_bytes: usize,
    /// A fax's pages follow from its lines as well as its length.
    pub body_lines: Option<usize>,
}

impl RenderedLimits {
    pub fn of(channel: Channel) -> Self {
        let subject_bytes = 1_000;
        match channel {
            // The text and its HTML alternative (six times as long at most,
            // when every character is escaped) fit one item with room.
            Channel::Email => Self { subject_bytes, body_bytes: 40_000, body_lines: None },
            // Far over any deployment's segment limit, which refuses the
            // message first (`too_long`); this only keeps storage bounded.
            Channel::Sms => Self { subject_bytes, body_bytes: 4_000, body_lines: None },
            // About three minutes of speech at 150 words a minute.
            Channel::Voice => Self { subject_bytes, body_bytes: 3_000, body_lines: None },
            // At 70 characters and 46 lines a page, 15 pages at most.
            Channel::Fax => Self { subject_bytes, body_bytes: 20_000, body_lines: Some(400) },
        }
    }
}

/// The first construct of a parsed template that could make a render grow
/// without bound (assignments and concatenation build values larger with
/// every step; calls reach `range`, macros and methods), if any. Loops
/// stay: fuel bounds their steps and the channel's limit their output.
fn disallowed_in(stmt: &ast::Stmt<'_>) -> Option<String> {
    let all = |stmts: &[ast::Stmt<'_>]| stmts.iter().find_map(disallowed_in);
    match stmt {
        ast::Stmt::Template(t) => all(&t.children),
        ast::Stmt::EmitRaw(_) => None,
        ast::Stmt::EmitExpr(e) => disallowed_expr(&e.expr),
        ast::Stmt::IfCond(c) => disallowed_expr(&c.expr).or_else(|| all(&c.true_body)).or_else(|| all(&c.false_body)),
        ast::Stmt::ForLoop(l) if !l.recursive => disallowed_expr(&l.target)
            .or_else(|| disallowed_expr(&l.iter))
            .or_else(|| l.filter_expr.as_ref().and_then(disallowed_expr))
            .or_else(|| all(&l.body))
            .or_else(|| all(&l.else_body)),
        ast::Stmt::ForLoop(_) => Some("a recursive loop".into()),
        ast::Stmt::Set(_) | ast::Stmt::SetBlock(_) | ast::Stmt::WithBlock(_) => Some("an assignment".into()),
        ast::Stmt::FilterBlock(_) => Some("a filter block".into()),
        _ => Some("a statement other than if and for".into()),
    }
}

fn disallowed_expr(expr: &ast::Expr<'_>) -> Option<String> {
    use ast::{BinOpKind as Op, Expr};
    match expr {
        Expr::Var(_) | Expr::Const(_) => None,
        Expr::UnaryOp(op) => disallowed_expr(&op.expr),
        Expr::BinOp(op) => match op.op {
            Op::Eq | Op::Ne | Op::Lt | Op::Lte | Op::Gt | Op::Gte | Op::ScAnd | Op::ScOr | Op::In => {
                disallowed_expr(&op.left).or_else(|| disallowed_expr(&op.right))
            }
            _ => Some("arithmetic or concatenation (`*`, `+`, `~`, ...)".into()),
        },
        Expr::Compare(c) => disallowed_expr(&c.expr).or_else(|| c.ops.iter().find_map(|o| disallowed_expr(&o.expr))),
        Expr::IfExpr(e) => disallowed_expr(&e.test_expr)
            .or_else(|| disallowed_expr(&e.true_expr))
            .or_else(|| e.false_expr.as_ref().and_then(disallowed_expr)),
        Expr::Filter(f) if ALLOWED_FILTERS.contains(&f.name) => {
            f.expr.as_ref().and_then(disallowed_expr).or_else(|| disallowed_args(&f.args))
        }
        Expr::Filter(f) => Some(format!("the filter `{}`", f.name)),
        Expr::Test(t) if ALLOWED_TESTS.contains(&t.name) => {
            disallowed_expr(&t.expr).or_else(|| disallowed_args(&t.args))
        }
        Expr::Test(t) => Some(format!("the test `{}`", t.name)),
        Expr::GetAttr(g) => disallowed_expr(&g.expr),
        Expr::GetItem(g) => disallowed_expr(&g.expr).or_else(|| disallowed_expr(&g.subscript_expr)),
        Expr::Slice(s) => [Some(&s.expr), s.start.as_ref(), s.stop.as_ref(), s.step.as_ref()]
            .into_iter()
            .flatten()
            .find_map(disallowed_expr),
        Expr::List(l) => l.items.iter().find_map(disallowed_expr),
        Expr::Call(_) => Some("a call".into()),
        Expr::Map(_) => Some("a map".into()),
    }
}

fn disallowed_args(args: &[ast::CallArg<'_>]) -> Option<String> {
    args.iter().find_map(|arg| match arg {
        ast::CallArg::Pos(e) | ast::CallArg::Kwarg(_, e) => disallowed_expr(e),
        ast::CallArg::PosSplat(_) | ast::CallArg::KwargSplat(_) => Some("an argument splat".into()),
    })
}

/// Collects a render's output up to a limit, and fails the write that would
/// pass it: the output never grows past what the channel takes.
struct CappedOutput {
    bytes: Vec<u8>,
    limit: usize,
    overflowed: bool,
}

impl std::io::Write for CappedOutput {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > self.limit {
            self.overflowed = true;
            return Err(std::io::Error::other("rendered text over its channel's limit"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The merge fields every message about an appointment offers.
pub const APPOINTMENT_FIELDS: [&str; 10] = [
    "first_name",
    "client_first_name",
    "relationship",
    "practice_name",
    "practice_phone",
    "provider",
    "location",
    "date",
    "date_short",
    "time",
];

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
        MessageKind::FormRequest => FORM_FIELDS.to_vec(),
        MessageKind::KeywordAnswer | MessageKind::OptInRequest | MessageKind::AdHoc => Vec::new(),
    }
}

impl AppointmentFields {
    /// Sample values for previews.
    pub fn sample(zone: TimeZone) -> Self {
        let start = Utc::now().date_naive().succ_opt().unwrap_or_default().and_hms_opt(15, 30, 0).unwrap_or_default();
        let (date, date_short, time) = Self::appointment_time(start.and_utc(), zone, &Language::english());
        Self {
            first_name: "Alex".into(),
            client_first_name: "Alex".into(),
            relationship: "self".into(),
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

/// Text made safe to place in HTML, in an element or a quoted attribute.
pub fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// The HTML alternative of an email's text: the same words, escaped, with
/// its paragraphs and line breaks kept.
pub fn html_of(text: &str) -> String {
    let escaped = escape_html(text);
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
        env.set_fuel(Some(TEMPLATE_FUEL));
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
            MessageKind::AppointmentNotice => {
                (NOTICE_EMAIL_SUBJECT, NOTICE_EMAIL_BODY, NOTICE_SMS_BODY, NOTICE_VOICE_BODY)
            }
            MessageKind::BillingReminder => {
                (BILLING_EMAIL_SUBJECT, BILLING_EMAIL_BODY, BILLING_SMS_BODY, BILLING_VOICE_BODY)
            }
            MessageKind::LatePaymentNotice => (LATE_EMAIL_SUBJECT, LATE_EMAIL_BODY, LATE_SMS_BODY, LATE_VOICE_BODY),
            MessageKind::FormRequest => (FORM_EMAIL_SUBJECT, FORM_EMAIL_BODY, FORM_SMS_BODY, FORM_VOICE_BODY),
            MessageKind::KeywordAnswer | MessageKind::OptInRequest | MessageKind::AdHoc => {
                return Err(TemplateError::NotTemplated)
            }
        };
        // A fax is a letter: the email's subject (on the cover) and text.
        Ok(match channel {
            Channel::Email | Channel::Fax => TemplateSource { subject: Some(subject.into()), body: email.into() },
            Channel::Sms => TemplateSource { subject: None, body: sms.into() },
            Channel::Voice => TemplateSource { subject: None, body: voice.into() },
        })
    }

    /// The built-in variant of a kind on a channel for a contact copied on a
    /// client's message: it says whose appointment it is.
    pub fn contact_source(&self, kind: MessageKind, channel: Channel) -> Result<TemplateSource, TemplateError> {
        let (subject, email, sms, voice) = match kind {
            MessageKind::AppointmentReminder => (
                COPY_REMINDER_EMAIL_SUBJECT,
                COPY_REMINDER_EMAIL_BODY,
                COPY_REMINDER_SMS_BODY,
                COPY_REMINDER_VOICE_BODY,
            ),
            MessageKind::AppointmentNotice => {
                (COPY_NOTICE_EMAIL_SUBJECT, COPY_NOTICE_EMAIL_BODY, COPY_NOTICE_SMS_BODY, COPY_NOTICE_VOICE_BODY)
            }
            MessageKind::BillingReminder => {
                (COPY_BILLING_EMAIL_SUBJECT, COPY_BILLING_EMAIL_BODY, COPY_BILLING_SMS_BODY, COPY_BILLING_VOICE_BODY)
            }
            MessageKind::LatePaymentNotice => {
                (COPY_LATE_EMAIL_SUBJECT, COPY_LATE_EMAIL_BODY, COPY_LATE_SMS_BODY, COPY_LATE_VOICE_BODY)
            }
            _ => return Err(TemplateError::NotTemplated),
        };
        Ok(match channel {
            Channel::Email | Channel::Fax => TemplateSource { subject: Some(subject.into()), body: email.into() },
            Channel::Sms => TemplateSource { subject: None, body: sms.into() },
            Channel::Voice => TemplateSource { subject: None, body: voice.into() },
        })
    }

    /// One part's checks, at save and again at render (a template saved
    /// before a check existed is held to it all the same): its size, its
    /// syntax, the constructs it uses and its merge fields.
    fn check_part<'s>(
        &'s self,
        kind: MessageKind,
        part: &'static str,
        source: &'s str,
    ) -> Result<minijinja::Template<'s, 's>, TemplateError> {
        if source.len() > MAX_TEMPLATE_BYTES {
            return Err(TemplateError::SourceTooLarge { part });
        }
        let syntax = |e: minijinja::Error| TemplateError::Syntax { part, detail: e.to_string() };
        let template = self.env.template_from_str(source).map_err(syntax)?;
        let parsed = machinery::parse(source, "template", Default::default(), Default::default()).map_err(syntax)?;
        if let Some(construct) = disallowed_in(&parsed) {
            return Err(TemplateError::NotAllowed { part, construct });
        }
        let known = fields_of(kind);
        let mut unknown: Vec<String> =
            template.undeclared_variables(false).into_iter().filter(|name| !known.contains(&name.as_str())).collect();
        unknown.sort();
        match unknown.into_iter().next() {
            Some(field) => Err(TemplateError::UnknownField { part, field, known: known.join(", ") }),
            None => Ok(template),
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
        self.check_part(kind, "body", &source.body).map(drop)
    }

    /// Renders one part within its fuel and its channel's limit.
    fn render_part(
        &self,
        kind: MessageKind,
        part: &'static str,
        source: &str,
        fields: &impl Serialize,
        limit: usize,
    ) -> Result<String, TemplateError> {
        let template = self.check_part(kind, part, source)?;
        let mut output = CappedOutput { bytes: Vec::new(), limit, overflowed: false };
        match template.render_captured_to(fields, &mut output) {
            Ok(_) => {
                String::from_utf8(output.bytes).map_err(|_| TemplateError::Render { part, detail: "not UTF-8".into() })
            }
            Err(_) if output.overflowed => Err(TemplateError::RenderedTooLarge { part, limit }),
            Err(e) if e.kind() == ErrorKind::OutOfFuel => Err(TemplateError::OutOfFuel { part }),
            Err(e) => Err(TemplateError::Render { part, detail: e.kind().to_string() }),
        }
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
        let limits = RenderedLimits::of(channel);
        let subject = match &source.subject {
            Some(subject) if has_subject(channel) => {
                Some(self.render_part(kind, "subject", subject, fields, limits.subject_bytes)?)
            }
            _ => None,
        };
        let body = self.render_part(kind, "body", &source.body, fields, limits.body_bytes)?;
        if let Some(limit) = limits.body_lines.filter(|&limit| body.lines().count() > limit) {
            return Err(TemplateError::RenderedTooManyLines { part: "body", limit });
        }
        Ok(RenderedContent { to: to.as_str().to_owned(), subject, body, ..RenderedContent::default() })
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
            client_first_name: "Ann".into(),
            relationship: "self".into(),
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
        assert_eq!(
            AppointmentFields::appointment_time(start, zone, &lang("zh")).0,
            "Wednesday, December 2",
            "fallback"
        );
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
        let out = Templates::default()
            .render(MessageKind::AppointmentReminder, Channel::Email, None, &to, &fields())
            .unwrap();
        assert_eq!(out.subject.as_deref(), Some("Appointment reminder from Riverside Clinic"));
        for expected in ["Hello Ann", "Dr. Ruiz", "Wednesday, December 2", "3:30 PM", "12 Main St", "+12025550143"] {
            assert!(out.body.contains(expected), "{expected} missing from {}", out.body);
        }
        assert_eq!(out.to, "ann@example.com");
    }

    #[test]
    fn sms_is_one_segment_for_typical_values() {
        let to = Address::Phone("+12025550143".parse().unwrap());
        let out =
            Templates::default().render(MessageKind::AppointmentReminder, Channel::Sms, None, &to, &fields()).unwrap();
        assert!(out.subject.is_none());
        assert_eq!(crate::domain::sms_length(&out.body).segments, 1, "{}", out.body);
        assert!(out.body.contains("Dec 2 at 3:30 PM"));
    }

    #[test]
    fn a_fax_is_a_letter_and_a_call_is_spoken() {
        let to = Address::Phone("+12025550143".parse().unwrap());
        let fax =
            Templates::default().render(MessageKind::AppointmentReminder, Channel::Fax, None, &to, &fields()).unwrap();
        assert_eq!(fax.subject.as_deref(), Some("Appointment reminder from Riverside Clinic"));
        let call = Templates::default()
            .render(MessageKind::AppointmentReminder, Channel::Voice, None, &to, &fields())
            .unwrap();
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
        let custom =
            TemplateSource { subject: None, body: "{{ first_name }}: see {{ provider }} at {{ time }}".into() };
        let out = Templates::default()
            .render(MessageKind::AppointmentReminder, Channel::Sms, Some(&custom), &to, &fields())
            .unwrap();
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
        for (change, expected) in [
            ("booked", "is booked for Dec 2 at 3:30 PM"),
            ("changed", "is now Dec 2 at 3:30 PM"),
            ("cancelled", "Dec 2 at 3:30 PM is cancelled"),
        ] {
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
    fn a_contact_s_copy_says_whose_it_is_on_every_channel() {
        let templates = Templates::default();
        let mut appointment = fields();
        (appointment.first_name, appointment.relationship) = ("Gina".into(), "guardian".into());
        let invoice = InvoiceFields {
            first_name: "Gina".into(),
            client_first_name: "Ann".into(),
            relationship: "guardian".into(),
            practice_name: "Riverside Clinic".into(),
            practice_phone: "+12025550143".into(),
            amount_due: "$125.50".into(),
            due_date: "December 15, 2026".into(),
            pay_link: String::new(),
        };
        let to = Address::Email("gina@example.com".parse().unwrap());
        for channel in [Channel::Email, Channel::Sms, Channel::Voice, Channel::Fax] {
            for kind in [MessageKind::AppointmentReminder, MessageKind::BillingReminder, MessageKind::LatePaymentNotice]
            {
                let source = templates.contact_source(kind, channel).unwrap();
                templates.validate(kind, channel, &source).unwrap();
                let out = match kind {
                    MessageKind::AppointmentReminder => {
                        templates.render(kind, channel, Some(&source), &to, &appointment)
                    }
                    _ => templates.render(kind, channel, Some(&source), &to, &invoice),
                }
                .unwrap();
                assert!(out.body.contains("Gina") && out.body.contains("Ann"), "{kind:?} {channel:?}: {}", out.body);
            }
        }
        assert!(templates.contact_source(MessageKind::AdHoc, Channel::Email).is_err());
    }

    #[test]
    fn invoice_messages_carry_amount_due_date_and_pay_link() {
        let templates = Templates::default();
        let to = Address::Phone("+12025550143".parse().unwrap());
        let mut fields = InvoiceFields {
            first_name: "Ann".into(),
            client_first_name: "Ann".into(),
            relationship: "self".into(),
            practice_name: "Riverside Clinic".into(),
            practice_phone: "+12025550143".into(),
            amount_due: "$125.50".into(),
            due_date: "December 15, 2026".into(),
            pay_link: "https://pay.example.com/i/1".into(),
        };
        let out = templates.render(MessageKind::BillingReminder, Channel::Sms, None, &to, &fields).unwrap();
        assert_eq!(
            out.body,
            "Riverside Clinic: Ann, $125.50 is due December 15, 2026. Pay: https://pay.example.com/i/1"
        );
        fields.pay_link = String::new();
        let out = templates.render(MessageKind::LatePaymentNotice, Channel::Sms, None, &to, &fields).unwrap();
        assert!(out.body.ends_with("is still open. Questions: +12025550143"), "{}", out.body);
    }

    fn sms(body: &str) -> TemplateSource {
        TemplateSource { subject: None, body: body.into() }
    }

    fn render_sms(body: &str) -> Result<RenderedContent, TemplateError> {
        let to = Address::Phone("+12025550143".parse().unwrap());
        Templates::default().render(MessageKind::AppointmentReminder, Channel::Sms, Some(&sms(body)), &to, &fields())
    }

    #[test]
    fn constructs_that_grow_without_bound_are_refused() {
        let templates = Templates::default();
        for body in [
            "{{ 'x' * 100000000 }}",
            "{{ first_name ~ first_name }}",
            "{{ first_name + first_name }}",
            "{% for i in range(100000) %}.{% endfor %}",
            "{% set s = first_name %}{{ s }}",
            "{% macro m() %}{{ caller() }}{% endmacro %}",
            "{{ first_name | replace('', first_name) }}",
            "{{ [first_name] | join(first_name) }}",
        ] {
            assert!(
                matches!(
                    templates.validate(MessageKind::AppointmentReminder, Channel::Sms, &sms(body)),
                    Err(TemplateError::NotAllowed { .. })
                ),
                "{body}"
            );
            // Saved before the check existed, it fails at render just the same.
            assert!(matches!(render_sms(body), Err(TemplateError::NotAllowed { .. })), "{body}");
        }
        let allowed = "{% for c in first_name %}{{ c | upper }}{% endfor %}{% if provider is defined and location != '' %}!{% endif %}";
        assert_eq!(templates.validate(MessageKind::AppointmentReminder, Channel::Sms, &sms(allowed)), Ok(()));
        assert_eq!(render_sms(allowed).unwrap().body, "ANN!");
    }

    #[test]
    fn a_render_that_runs_out_of_fuel_fails() {
        // 16^4 steps of nested loops over "Riverside Clinic", emitting nothing.
        let nested = "{% for a in practice_name %}{% for b in practice_name %}{% for c in practice_name %}\
                      {% for d in practice_name %}{% endfor %}{% endfor %}{% endfor %}{% endfor %}";
        assert_eq!(render_sms(nested), Err(TemplateError::OutOfFuel { part: "body" }));
        let three_deep = "{% for a in practice_name %}{% for b in practice_name %}{% for c in practice_name %}\
                          {% endfor %}{% endfor %}{% endfor %}ok";
        assert_eq!(render_sms(three_deep).unwrap().body, "ok");
    }

    #[test]
    fn a_template_over_the_size_limit_is_refused() {
        let templates = Templates::default();
        let kind = MessageKind::AppointmentReminder;
        let at_limit = sms(&"x".repeat(MAX_TEMPLATE_BYTES));
        assert_eq!(templates.validate(kind, Channel::Sms, &at_limit), Ok(()));
        let over = sms(&"x".repeat(MAX_TEMPLATE_BYTES + 1));
        assert_eq!(templates.validate(kind, Channel::Sms, &over), Err(TemplateError::SourceTooLarge { part: "body" }));
    }

    #[test]
    fn rendered_text_over_its_channels_limit_fails() {
        let limit = RenderedLimits::of(Channel::Sms).body_bytes;
        // A loop over a 16-character field, with a 20-byte text each time.
        let loop_of = |text: &str| format!("{{% for c in practice_name %}}{text}{{% endfor %}}");
        let wide = "y".repeat(limit / 16 + 1);
        assert_eq!(render_sms(&loop_of(&wide)), Err(TemplateError::RenderedTooLarge { part: "body", limit }));
        let fits = "y".repeat(limit / 16);
        assert_eq!(render_sms(&loop_of(&fits)).unwrap().body.len(), limit);
        // A fax's lines are limited as well as its length.
        let to = Address::Phone("+12025550143".parse().unwrap());
        let lines = TemplateSource {
            subject: Some("Letter".into()),
            body: format!("{{% for c in practice_name %}}{}{{% endfor %}}", "\n".repeat(26)),
        };
        let fax =
            Templates::default().render(MessageKind::AppointmentReminder, Channel::Fax, Some(&lines), &to, &fields());
        assert_eq!(fax, Err(TemplateError::RenderedTooManyLines { part: "body", limit: 400 }));
    }

    #[test]
    fn only_notices_offer_the_change_field() {
        let templates = Templates::default();
        let source = TemplateSource { subject: None, body: "{{ change }}".into() };
        assert!(templates.validate(MessageKind::AppointmentNotice, Channel::Sms, &source).is_ok());
        assert!(templates.validate(MessageKind::AppointmentReminder, Channel::Sms, &source).is_err());
    }
}
