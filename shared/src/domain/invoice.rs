//! Invoices and the billing reminders and late-payment notices they call for.

use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use super::contact::TimeZone;
use super::ids::{InvoiceId, MessageId, RecipientId};
use super::message::{MessageKind, StatusReason};
use super::schedule::local_instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    Open,
    Paid,
    Void,
}

/// An ISO 4217 code such as `USD`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("currency must be an ISO 4217 code such as USD")]
pub struct InvalidCurrency;

impl TryFrom<String> for Currency {
    type Error = InvalidCurrency;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        if value.len() == 3 && value.chars().all(|c| c.is_ascii_uppercase()) {
            Ok(Self(value))
        } else {
            Err(InvalidCurrency)
        }
    }
}

impl From<Currency> for String {
    fn from(value: Currency) -> Self {
        value.0
    }
}

/// Money in integer minor units, shown the way a patient reads it.
pub fn format_amount(amount_cents: i64, currency: &Currency) -> String {
    let symbol = match currency.0.as_str() {
        "USD" | "CAD" | "AUD" | "NZD" => "$",
        "EUR" => "€",
        "GBP" => "£",
        _ => "",
    };
    let (sign, cents) =
        if amount_cents < 0 { ("-", amount_cents.unsigned_abs()) } else { ("", amount_cents.unsigned_abs()) };
    let amount = format!("{}.{:02}", cents / 100, cents % 100);
    if symbol.is_empty() {
        format!("{sign}{amount} {}", currency.0)
    } else {
        format!("{sign}{symbol}{amount}")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invoice {
    pub id: InvoiceId,
    pub recipient_id: RecipientId,
    pub amount_cents: i64,
    pub currency: Currency,
    pub due_date: NaiveDate,
    pub status: InvoiceStatus,
    #[serde(default)]
    pub pay_url: Option<String>,
    /// `false` turns off every reminder and notice for this invoice.
    pub reminders: bool,
}

/// Billing reminders before the due date, late-payment notices after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InvoiceMessageSettings {
    pub billing_reminders: bool,
    pub days_before: u32,
    pub late_payment_notices: bool,
    /// 0 = on the due date.
    pub days_after: u32,
    pub repeat_every_days: u32,
    /// Late-payment notices in all, the first included.
    pub max_notices: u32,
    /// Recipient-local time of day these messages go.
    #[schema(value_type = String, example = "10:00:00")]
    pub send_at: NaiveTime,
}

pub const MAX_INVOICE_DAYS: u32 = 365;
pub const MAX_LATE_NOTICES: u32 = 12;

impl Default for InvoiceMessageSettings {
    fn default() -> Self {
        Self {
            billing_reminders: false,
            days_before: 3,
            late_payment_notices: false,
            days_after: 1,
            repeat_every_days: 7,
            max_notices: 3,
            send_at: NaiveTime::from_hms_opt(10, 0, 0).unwrap_or_default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invoice_messages: days must be 0 to {MAX_INVOICE_DAYS}, repeat_every_days at least 1, max_notices 1 to {MAX_LATE_NOTICES}")]
pub struct InvalidInvoiceSettings;

impl InvoiceMessageSettings {
    pub fn validate(&self) -> Result<(), InvalidInvoiceSettings> {
        let days_ok = self.days_before <= MAX_INVOICE_DAYS && self.days_after <= MAX_INVOICE_DAYS;
        let repeat_ok = (1..=MAX_INVOICE_DAYS).contains(&self.repeat_every_days);
        if days_ok && repeat_ok && (1..=MAX_LATE_NOTICES).contains(&self.max_notices) {
            Ok(())
        } else {
            Err(InvalidInvoiceSettings)
        }
    }
}

/// One message an invoice calls for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedInvoiceMessage {
    pub message_id: MessageId,
    pub kind: MessageKind,
    pub due_at: DateTime<Utc>,
    /// A billing reminder is pointless once the invoice is due.
    pub not_after: Option<DateTime<Utc>>,
    pub skipped: Option<StatusReason>,
}

impl Invoice {
    /// The billing reminder and late-payment notices this invoice calls for,
    /// as of `now`, at the settings' local time in `zone`. A paid or void
    /// invoice, or one with reminders off, calls for none.
    pub fn plan_messages(
        &self,
        settings: &InvoiceMessageSettings,
        zone: TimeZone,
        now: DateTime<Utc>,
    ) -> Vec<PlannedInvoiceMessage> {
        if self.status != InvoiceStatus::Open || !self.reminders {
            return Vec::new();
        }
        let at = |date: Option<NaiveDate>| date.map(|d| local_instant(zone, d.and_time(settings.send_at)));
        let due_day_starts = local_instant(zone, self.due_date.and_time(NaiveTime::MIN));
        let skipped_if_past = |due: DateTime<Utc>| (due <= now).then_some(StatusReason::TooLate);
        let mut plan = Vec::new();
        if settings.billing_reminders {
            if let Some(due) = at(self.due_date.checked_sub_days(Days::new(u64::from(settings.days_before)))) {
                plan.push(PlannedInvoiceMessage {
                    message_id: MessageId::invoice_message(&self.id, "billing", settings.days_before, self.due_date),
                    kind: MessageKind::BillingReminder,
                    due_at: due,
                    not_after: Some(due_day_starts.max(due + chrono::Duration::hours(1))),
                    skipped: skipped_if_past(due),
                });
            }
        }
        if settings.late_payment_notices {
            for n in 0..settings.max_notices {
                let days = settings.days_after + n * settings.repeat_every_days;
                if let Some(due) = at(self.due_date.checked_add_days(Days::new(u64::from(days)))) {
                    plan.push(PlannedInvoiceMessage {
                        message_id: MessageId::invoice_message(&self.id, "late", days, self.due_date),
                        kind: MessageKind::LatePaymentNotice,
                        due_at: due,
                        not_after: None,
                        skipped: skipped_if_past(due),
                    });
                }
            }
        }
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    fn invoice(status: InvoiceStatus) -> Invoice {
        Invoice {
            id: "inv-1".parse().unwrap(),
            recipient_id: "r1".parse().unwrap(),
            amount_cents: 12_550,
            currency: Currency::try_from("USD".to_owned()).unwrap(),
            due_date: NaiveDate::from_ymd_opt(2026, 12, 15).unwrap(),
            status,
            pay_url: None,
            reminders: true,
        }
    }

    fn all_on() -> InvoiceMessageSettings {
        InvoiceMessageSettings {
            billing_reminders: true,
            days_before: 3,
            late_payment_notices: true,
            days_after: 0,
            repeat_every_days: 7,
            max_notices: 3,
            ..InvoiceMessageSettings::default()
        }
    }

    #[test]
    fn billing_goes_before_and_late_notices_repeat_after_at_local_ten() {
        let zone: TimeZone = "America/New_York".parse().unwrap();
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
        let plan = invoice(InvoiceStatus::Open).plan_messages(&all_on(), zone, now);
        let times: Vec<_> = plan.iter().map(|p| (p.kind, p.due_at.to_rfc3339())).collect();
        assert_eq!(
            times,
            vec![
                (MessageKind::BillingReminder, "2026-12-12T15:00:00+00:00".to_owned()),
                (MessageKind::LatePaymentNotice, "2026-12-15T15:00:00+00:00".to_owned()),
                (MessageKind::LatePaymentNotice, "2026-12-22T15:00:00+00:00".to_owned()),
                (MessageKind::LatePaymentNotice, "2026-12-29T15:00:00+00:00".to_owned()),
            ]
        );
        assert!(plan.iter().all(|p| p.skipped.is_none()));
    }

    #[test]
    fn paid_void_or_opted_out_invoices_call_for_nothing() {
        let zone = TimeZone::UTC;
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
        assert!(invoice(InvoiceStatus::Paid).plan_messages(&all_on(), zone, now).is_empty());
        assert!(invoice(InvoiceStatus::Void).plan_messages(&all_on(), zone, now).is_empty());
        let mut off = invoice(InvoiceStatus::Open);
        off.reminders = false;
        assert!(off.plan_messages(&all_on(), zone, now).is_empty());
    }

    #[test]
    fn moments_already_past_are_skipped_not_sent_late() {
        let now = Utc.with_ymd_and_hms(2026, 12, 20, 12, 0, 0).unwrap();
        let plan = invoice(InvoiceStatus::Open).plan_messages(&all_on(), TimeZone::UTC, now);
        let skipped: Vec<_> = plan.iter().map(|p| p.skipped.is_some()).collect();
        assert_eq!(skipped, vec![true, true, false, false]);
    }

    #[test]
    fn amounts_read_as_money() {
        let usd = Currency::try_from("USD".to_owned()).unwrap();
        assert_eq!(format_amount(12_550, &usd), "$125.50");
        assert_eq!(format_amount(5, &usd), "$0.05");
        let chf = Currency::try_from("CHF".to_owned()).unwrap();
        assert_eq!(format_amount(100_000, &chf), "1000.00 CHF");
        assert!(Currency::try_from("usd".to_owned()).is_err());
    }

    #[test]
    fn settings_are_bounded() {
        assert!(all_on().validate().is_ok());
        assert!(InvoiceMessageSettings { repeat_every_days: 0, ..all_on() }.validate().is_err());
        assert!(InvoiceMessageSettings { max_notices: 0, ..all_on() }.validate().is_err());
    }
}
