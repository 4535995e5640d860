//! Account settings: what a practice has chosen, with the product's defaults.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::contact::{EmailAddress, PhoneNumber, TimeZone};
use super::credit::{CreditSettings, InvalidCreditSettings};
use super::invoice::InvoiceMessageSettings;
use super::recipient::Channel;
use super::replies::{ReplySettings, MAX_CANCEL_CUTOFF_HOURS};
use super::schedule::{InvalidQuietHours, QuietHours, SendingWindow};

/// The reminder offset used when an account has chosen none: a day before.
pub const DEFAULT_REMINDER_OFFSET_MINUTES: u32 = 1440;
/// Offsets beyond four weeks are almost certainly a unit mistake.
pub const MAX_REMINDER_OFFSET_MINUTES: u32 = 40_320;
pub const MAX_REMINDER_OFFSETS: usize = 5;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AppointmentReminderSettings {
    pub enabled: bool,
    /// Minutes before the appointment's start, one reminder each.
    pub offsets_minutes: Vec<u32>,
    /// A booking made after every offset has passed gets one reminder at once.
    #[serde(default)]
    pub remind_when_booked_late: bool,
    /// Whether reminders still go once the client has confirmed.
    #[serde(default)]
    pub remind_after_confirmation: bool,
    /// Offsets for appointments of a type (taking precedence) or with a provider.
    #[serde(default)]
    pub by_type: BTreeMap<String, Vec<u32>>,
    #[serde(default)]
    pub by_provider: BTreeMap<String, Vec<u32>>,
}

impl Default for AppointmentReminderSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            offsets_minutes: vec![DEFAULT_REMINDER_OFFSET_MINUTES],
            remind_when_booked_late: false,
            remind_after_confirmation: false,
            by_type: BTreeMap::new(),
            by_provider: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("offsets_minutes must hold 1 to {MAX_REMINDER_OFFSETS} distinct offsets between 1 and {MAX_REMINDER_OFFSET_MINUTES} minutes")]
    ReminderOffsets,
    #[error(transparent)]
    Text(#[from] super::text::InvalidText),
    #[error(transparent)]
    QuietHours(#[from] InvalidQuietHours),
    #[error(transparent)]
    InvoiceMessages(#[from] super::invoice::InvalidInvoiceSettings),
    #[error("caps: a limit is at least 1, or absent for none")]
    Caps,
    #[error("appointment_notices.debounce_minutes must be 0 to {MAX_NOTICE_DEBOUNCE_MINUTES}")]
    NoticeDebounce,
    #[error(transparent)]
    Credit(#[from] InvalidCreditSettings),
    #[error("senders.sms_sender_id must be 1 to 11 letters and digits, at least one a letter")]
    SenderId,
    #[error("replies.cancel_cutoff_hours must be 0 to {MAX_CANCEL_CUTOFF_HOURS}")]
    CancelCutoff,
    #[error(transparent)]
    OptIn(#[from] super::consent::InvalidOptIn),
    #[error(transparent)]
    AppLinks(#[from] super::digest::InvalidAppLink),
}

fn check_offsets(list: &[u32]) -> Result<(), SettingsError> {
    let mut offsets = list.to_vec();
    offsets.sort_unstable();
    offsets.dedup();
    let in_range = offsets.iter().all(|&m| (1..=MAX_REMINDER_OFFSET_MINUTES).contains(&m));
    if offsets.is_empty() || offsets.len() > MAX_REMINDER_OFFSETS || offsets.len() != list.len() || !in_range {
        return Err(SettingsError::ReminderOffsets);
    }
    Ok(())
}

/// More would be a data dump, not settings.
pub const MAX_OFFSET_RULES: usize = 100;

impl AppointmentReminderSettings {
    pub fn validate(&self) -> Result<(), SettingsError> {
        check_offsets(&self.offsets_minutes)?;
        if self.by_type.len() + self.by_provider.len() > MAX_OFFSET_RULES {
            return Err(SettingsError::ReminderOffsets);
        }
        for (name, list) in self.by_type.iter().chain(&self.by_provider) {
            super::text::check("appointment_reminders.by_type/by_provider key", name)?;
            check_offsets(list)?;
        }
        Ok(())
    }

    /// The offsets for an appointment of this type with this provider.
    pub fn offsets_for(&self, appointment_type: Option<&str>, provider: &str) -> &[u32] {
        appointment_type
            .and_then(|t| self.by_type.get(t))
            .or_else(|| self.by_provider.get(provider))
            .unwrap_or(&self.offsets_minutes)
    }
}

/// Notices of booking, change and cancellation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AppointmentNoticeSettings {
    pub enabled: bool,
    /// Edits within this many minutes of each other make one notice.
    pub debounce_minutes: u32,
}

pub const DEFAULT_NOTICE_DEBOUNCE_MINUTES: u32 = 3;
pub const MAX_NOTICE_DEBOUNCE_MINUTES: u32 = 60;

impl Default for AppointmentNoticeSettings {
    fn default() -> Self {
        Self { enabled: false, debounce_minutes: DEFAULT_NOTICE_DEBOUNCE_MINUTES }
    }
}

/// Limits on automated messages per recipient (the healthcare exemption
/// for texts and calls allows 1 a day and 3 a week). `None` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MessageCaps {
    #[serde(default)]
    pub per_day: Option<u32>,
    #[serde(default)]
    pub per_week: Option<u32>,
}

/// Who an account's messages come from. Unset, the deployment's own sender
/// on each channel is used.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Senders {
    /// A verified SES identity of the practice.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub email_from: Option<EmailAddress>,
    /// An alphanumeric sender id, where the recipient's country allows one.
    #[serde(default)]
    pub sms_sender_id: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub sms_origination_number: Option<PhoneNumber>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub voice_caller_id: Option<PhoneNumber>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub fax_number: Option<PhoneNumber>,
}

impl Senders {
    fn validate(&self) -> Result<(), SettingsError> {
        match &self.sms_sender_id {
            Some(id)
                if id.is_empty()
                    || id.len() > 11
                    || !id.chars().all(|c| c.is_ascii_alphanumeric())
                    || !id.chars().any(|c| c.is_ascii_alphabetic()) =>
            {
                Err(SettingsError::SenderId)
            }
            _ => Ok(()),
        }
    }

    /// Every sender the account names, with its channel (an SMS may name
    /// both a number and a sender id).
    pub fn named(&self) -> Vec<(Channel, String)> {
        let mut named = Vec::new();
        named.extend(self.email_from.as_ref().map(|e| (Channel::Email, e.as_str().to_owned())));
        named.extend(self.sms_origination_number.as_ref().map(|n| (Channel::Sms, n.as_str().to_owned())));
        named.extend(self.sms_sender_id.clone().map(|id| (Channel::Sms, id)));
        named.extend(self.voice_caller_id.as_ref().map(|n| (Channel::Voice, n.as_str().to_owned())));
        named.extend(self.fax_number.as_ref().map(|n| (Channel::Fax, n.as_str().to_owned())));
        named
    }

    /// The account's sender on a channel, as the content's `from` carries it.
    pub fn on(&self, channel: Channel) -> Option<String> {
        match channel {
            Channel::Email => self.email_from.as_ref().map(|e| e.as_str().to_owned()),
            // An origination number is what US carriers require; a sender
            // id only where the country allows it.
            Channel::Sms => self
                .sms_origination_number
                .as_ref()
                .map(|n| n.as_str().to_owned())
                .or_else(|| self.sms_sender_id.clone()),
            Channel::Voice => self.voice_caller_id.as_ref().map(|n| n.as_str().to_owned()),
            Channel::Fax => self.fax_number.as_ref().map(|n| n.as_str().to_owned()),
        }
    }
}

/// An account's settings. Messaging stays off until the account turns it on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSettings {
    pub practice_name: String,
    pub practice_phone: PhoneNumber,
    pub time_zone: TimeZone,
    pub messaging_enabled: bool,
    #[serde(default)]
    pub appointment_reminders: AppointmentReminderSettings,
    #[serde(default)]
    pub appointment_notices: AppointmentNoticeSettings,
    #[serde(default)]
    pub invoice_messages: InvoiceMessageSettings,
    #[serde(default)]
    pub quiet_hours: QuietHours,
    #[serde(default)]
    pub caps: MessageCaps,
    #[serde(default)]
    pub credit: CreditSettings,
    #[serde(default)]
    pub senders: Senders,
    /// Calls of automated messages gather a keypad digit: 1 confirms,
    /// 2 cancels, 0 connects to the practice, * repeats.
    #[serde(default)]
    pub voice_replies: bool,
    /// What replies by text, email and fax may do to appointments.
    #[serde(default)]
    pub replies: ReplySettings,
    /// Whether recipients must opt in first, and the privacy policy.
    #[serde(default)]
    pub opt_in: super::consent::OptInSettings,
    /// Where staff emails link into the practice app.
    #[serde(default)]
    pub app_links: super::digest::AppLinks,
}

impl AccountSettings {
    /// Checks settings as an account saves them, in a deployment that sends
    /// within `window` at the widest.
    pub fn validate(&self, window: SendingWindow) -> Result<(), SettingsError> {
        super::text::check("practice_name", &self.practice_name)?;
        self.quiet_hours.validate(window)?;
        self.invoice_messages.validate()?;
        if self.caps.per_day == Some(0) || self.caps.per_week == Some(0) {
            return Err(SettingsError::Caps);
        }
        if self.appointment_notices.debounce_minutes > MAX_NOTICE_DEBOUNCE_MINUTES {
            return Err(SettingsError::NoticeDebounce);
        }
        self.credit.validate()?;
        self.senders.validate()?;
        if !self.replies.cutoff_is_valid() {
            return Err(SettingsError::CancelCutoff);
        }
        self.opt_in.validate()?;
        self.app_links.validate()?;
        self.appointment_reminders.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reminders(offsets: Vec<u32>) -> AppointmentReminderSettings {
        AppointmentReminderSettings {
            enabled: true,
            offsets_minutes: offsets,
            ..AppointmentReminderSettings::default()
        }
    }

    #[test]
    fn sender_ids_are_short_alphanumeric_with_a_letter() {
        for (id, ok) in
            [("Riverside", true), ("Clinic24", true), ("123456", false), ("Too-Long-Name", false), ("", false)]
        {
            let senders = Senders { sms_sender_id: Some(id.into()), ..Senders::default() };
            assert_eq!(senders.validate().is_ok(), ok, "{id}");
        }
    }

    #[test]
    fn default_is_one_reminder_a_day_before() {
        assert_eq!(AppointmentReminderSettings::default().offsets_minutes, vec![1440]);
    }

    #[test]
    fn offsets_must_be_distinct_bounded_and_few() {
        assert!(reminders(vec![2880, 120]).validate().is_ok());
        for bad in [vec![], vec![0], vec![120, 120], vec![50_000], vec![1, 2, 3, 4, 5, 6]] {
            assert_eq!(reminders(bad.clone()).validate(), Err(SettingsError::ReminderOffsets), "{bad:?}");
        }
    }
}
