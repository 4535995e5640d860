//! `PUT /v1/settings`: the account's practice details and how and when its
//! messages go.

use axum::extract::State;
use axum::Json;
use chrono::NaiveTime;
use serde::{Deserialize, Serialize};
use tidings::domain::digest::AppLinks;
use tidings::domain::text;
use tidings::domain::{
    AccountSettings, AppointmentNoticeSettings, AppointmentReminderSettings, AutoTopUp, CreditSettings, EmailAddress,
    InvoiceMessageSettings, MessageCaps, OptInSettings, PhoneNumber, QuietHours, ReplySettings, Senders, TimeZone,
};

use crate::auth::AuthenticatedAccount;
use crate::error::{ApiError, ErrorBody};
use crate::routes::ApiJson;
use crate::ApiState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReminderSettingsBody {
    pub enabled: bool,
    /// Minutes before the start, distinct; one reminder each. Default `[1440]`.
    #[serde(default = "default_offsets")]
    #[schema(schema_with = offsets_schema)]
    pub offsets_minutes: Vec<u32>,
    /// A booking made after every offset has passed gets one reminder at once. Default false.
    #[serde(default)]
    pub remind_when_booked_late: bool,
    /// Whether reminders still go once the client has confirmed. Default false.
    #[serde(default)]
    pub remind_after_confirmation: bool,
    /// Offsets for appointments of a type, e.g. `{"new_patient": [2880, 120]}`.
    /// At most 100 entries in `by_type` and `by_provider` together; a key
    /// is 1 to 200 characters, its offsets as `offsets_minutes`.
    #[serde(default)]
    #[schema(schema_with = offsets_by_name_schema)]
    pub by_type: std::collections::BTreeMap<String, Vec<u32>>,
    /// Offsets for appointments with a provider (a type's take precedence).
    #[serde(default)]
    #[schema(schema_with = offsets_by_name_schema)]
    pub by_provider: std::collections::BTreeMap<String, Vec<u32>>,
}

fn default_offsets() -> Vec<u32> {
    AppointmentReminderSettings::default().offsets_minutes
}

/// The offsets rule as OpenAPI states it.
fn offsets_schema() -> utoipa::openapi::schema::Array {
    use tidings::domain::settings::{MAX_REMINDER_OFFSETS, MAX_REMINDER_OFFSET_MINUTES};
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    let offset =
        ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1)).maximum(Some(MAX_REMINDER_OFFSET_MINUTES));
    ArrayBuilder::new()
        .items(offset)
        .min_items(Some(1))
        .max_items(Some(MAX_REMINDER_OFFSETS))
        .unique_items(true)
        .build()
}

fn offsets_by_name_schema() -> utoipa::openapi::schema::Object {
    use tidings::domain::settings::MAX_OFFSET_RULES;
    use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(text::schema()))
        .additional_properties(Some(AdditionalProperties::RefOr(offsets_schema().into())))
        .max_properties(Some(MAX_OFFSET_RULES))
        .build()
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsBody {
    #[schema(schema_with = text::schema)]
    pub practice_name: String,
    /// E.164
    #[schema(value_type = String, example = "+12025550143")]
    pub practice_phone: PhoneNumber,
    /// IANA time zone
    #[schema(value_type = String, example = "America/New_York")]
    pub time_zone: TimeZone,
    pub messaging_enabled: bool,
    pub appointment_reminders: Option<ReminderSettingsBody>,
    /// Notices of booking, change and cancellation. Default off.
    pub appointment_notices: Option<NoticeSettingsBody>,
    /// Billing reminders and late-payment notices. Default off.
    pub invoice_messages: Option<InvoiceMessagesBody>,
    /// When SMS and voice may go out, recipient-local: within the
    /// deployment's window (default 08:00 to 21:00), which is also the default.
    pub quiet_hours: Option<QuietHoursBody>,
    /// Automated messages per recipient per local day and ISO week. Default none.
    pub caps: Option<CapsBody>,
    /// Low-balance alert and automatic top-up. Default: alert below 500 cents, no top-up.
    pub credit: Option<CreditBody>,
    /// The practice's own senders per channel. Default: the deployment's.
    pub senders: Option<SendersBody>,
    /// Calls of automated messages take a keypad reply. Default false.
    #[serde(default)]
    pub voice_replies: bool,
    /// What replies may do. Default: a confirm word confirms; cancelling
    /// by reply is off; a 24-hour cancel cutoff.
    pub replies: Option<ReplySettings>,
    /// Whether recipients must opt in before anything but a fax reaches
    /// them, and the privacy policy requests link. Default: not required.
    pub opt_in: Option<OptInSettings>,
    /// Where staff emails link into the practice app: https URL templates
    /// with `{recipient_id}` and `{message_id}`.
    pub app_links: Option<AppLinks>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditBody {
    /// Default 500.
    pub low_balance_alert_cents: Option<u64>,
    pub auto_top_up: Option<AutoTopUpBody>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoTopUpBody {
    /// A `TopUpRequested` event goes out when the balance falls below this.
    pub trigger_cents: u64,
    /// What to buy: 1000 to 10000000 cents.
    #[schema(minimum = 1000, maximum = 10000000)]
    pub amount_cents: u64,
}

impl From<CreditBody> for CreditSettings {
    fn from(body: CreditBody) -> Self {
        Self {
            low_balance_alert_cents: body
                .low_balance_alert_cents
                .unwrap_or(CreditSettings::default().low_balance_alert_cents),
            auto_top_up: body
                .auto_top_up
                .map(|t| AutoTopUp { trigger_cents: t.trigger_cents, amount_cents: t.amount_cents }),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendersBody {
    /// A verified SES identity.
    #[schema(value_type = Option<String>)]
    pub email_from: Option<EmailAddress>,
    /// 1 to 11 letters and digits, at least one a letter.
    #[schema(min_length = 1, max_length = 11, pattern = "^[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*$")]
    pub sms_sender_id: Option<String>,
    #[schema(value_type = Option<String>)]
    pub sms_origination_number: Option<PhoneNumber>,
    #[schema(value_type = Option<String>)]
    pub voice_caller_id: Option<PhoneNumber>,
    #[schema(value_type = Option<String>)]
    pub fax_number: Option<PhoneNumber>,
}

impl From<SendersBody> for Senders {
    fn from(body: SendersBody) -> Self {
        Self {
            email_from: body.email_from,
            sms_sender_id: body.sms_sender_id,
            sms_origination_number: body.sms_origination_number,
            voice_caller_id: body.voice_caller_id,
            fax_number: body.fax_number,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CapsBody {
    /// Absent for no limit.
    #[schema(minimum = 1)]
    pub per_day: Option<u32>,
    #[schema(minimum = 1)]
    pub per_week: Option<u32>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceMessagesBody {
    pub billing_reminders: bool,
    /// Days before the due date. Default 3.
    #[schema(maximum = 365)]
    pub days_before: Option<u32>,
    pub late_payment_notices: bool,
    /// Days after the due date of the first notice; 0 = on the due date. Default 1.
    #[schema(maximum = 365)]
    pub days_after: Option<u32>,
    /// Default 7.
    #[schema(minimum = 1, maximum = 365)]
    pub repeat_every_days: Option<u32>,
    /// Late notices in all, the first included. Default 3.
    #[schema(minimum = 1, maximum = 12)]
    pub max_notices: Option<u32>,
    /// Recipient-local time of day, `HH:MM`. Default 10:00.
    #[schema(value_type = Option<String>, example = "10:00")]
    pub send_at: Option<NaiveTime>,
}

impl From<InvoiceMessagesBody> for InvoiceMessageSettings {
    fn from(body: InvoiceMessagesBody) -> Self {
        let defaults = InvoiceMessageSettings::default();
        Self {
            billing_reminders: body.billing_reminders,
            days_before: body.days_before.unwrap_or(defaults.days_before),
            late_payment_notices: body.late_payment_notices,
            days_after: body.days_after.unwrap_or(defaults.days_after),
            repeat_every_days: body.repeat_every_days.unwrap_or(defaults.repeat_every_days),
            max_notices: body.max_notices.unwrap_or(defaults.max_notices),
            send_at: body.send_at.unwrap_or(defaults.send_at),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoticeSettingsBody {
    pub enabled: bool,
    /// Edits this close together make one notice. Default 3.
    #[serde(default = "default_debounce")]
    #[schema(maximum = 60)]
    pub debounce_minutes: u32,
}

fn default_debounce() -> u32 {
    AppointmentNoticeSettings::default().debounce_minutes
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuietHoursBody {
    /// `HH:MM` or `HH:MM:SS`, recipient-local.
    #[schema(value_type = String, example = "08:00")]
    pub allowed_from: NaiveTime,
    #[schema(value_type = String, example = "21:00")]
    pub allowed_until: NaiveTime,
    /// Hold email too (default false).
    #[serde(default)]
    pub apply_to_email: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SettingsView {
    pub practice_name: String,
    pub practice_phone: String,
    pub time_zone: String,
    pub messaging_enabled: bool,
    pub appointment_reminders: AppointmentReminderSettings,
    pub appointment_notices: AppointmentNoticeSettings,
    pub invoice_messages: InvoiceMessageSettings,
    pub quiet_hours: QuietHours,
    pub caps: MessageCaps,
    pub credit: CreditSettings,
    pub senders: Senders,
    pub voice_replies: bool,
    pub replies: ReplySettings,
    pub opt_in: OptInSettings,
    pub app_links: AppLinks,
}

impl From<AccountSettings> for SettingsView {
    fn from(s: AccountSettings) -> Self {
        Self {
            practice_name: s.practice_name,
            practice_phone: s.practice_phone.into(),
            time_zone: s.time_zone.into(),
            messaging_enabled: s.messaging_enabled,
            appointment_reminders: s.appointment_reminders,
            appointment_notices: s.appointment_notices,
            invoice_messages: s.invoice_messages,
            quiet_hours: s.quiet_hours,
            caps: s.caps,
            credit: s.credit,
            senders: s.senders,
            voice_replies: s.voice_replies,
            replies: s.replies,
            opt_in: s.opt_in,
            app_links: s.app_links,
        }
    }
}

#[utoipa::path(put, path = "/v1/settings", tag = "routes", request_body = SettingsBody,
    responses(
        (status = 200, body = SettingsView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_settings(
    State(state): State<ApiState>,
    AuthenticatedAccount(account): AuthenticatedAccount,
    ApiJson(body): ApiJson<SettingsBody>,
) -> Result<Json<SettingsView>, ApiError> {
    let settings = AccountSettings {
        practice_name: body.practice_name,
        practice_phone: body.practice_phone,
        time_zone: body.time_zone,
        messaging_enabled: body.messaging_enabled,
        appointment_reminders: body
            .appointment_reminders
            .map(|r| AppointmentReminderSettings {
                enabled: r.enabled,
                offsets_minutes: r.offsets_minutes,
                remind_when_booked_late: r.remind_when_booked_late,
                remind_after_confirmation: r.remind_after_confirmation,
                by_type: r.by_type,
                by_provider: r.by_provider,
            })
            .unwrap_or_default(),
        appointment_notices: body
            .appointment_notices
            .map(|n| AppointmentNoticeSettings { enabled: n.enabled, debounce_minutes: n.debounce_minutes })
            .unwrap_or_default(),
        invoice_messages: body.invoice_messages.map(Into::into).unwrap_or_default(),
        caps: body.caps.map(|c| MessageCaps { per_day: c.per_day, per_week: c.per_week }).unwrap_or_default(),
        quiet_hours: body
            .quiet_hours
            .map(|q| QuietHours {
                allowed_from: q.allowed_from,
                allowed_until: q.allowed_until,
                apply_to_email: q.apply_to_email,
            })
            .unwrap_or_else(|| state.records.sending_window().into()),
        credit: body.credit.map(Into::into).unwrap_or_default(),
        senders: body.senders.map(Into::into).unwrap_or_default(),
        voice_replies: body.voice_replies,
        replies: body.replies.unwrap_or_default(),
        opt_in: body.opt_in.unwrap_or_default(),
        app_links: body.app_links.unwrap_or_default(),
    };
    state.records.put_settings(&account, &settings).await?;
    Ok(Json(settings.into()))
}
