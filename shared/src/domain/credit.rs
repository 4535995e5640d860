//! Prepaid credit: what paid channels cost, and how an account is warned
//! and topped up. Money is integer cents throughout.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::MessageId;
use super::message::RenderedContent;
use super::recipient::Channel;
use super::sms::sms_length;

/// Below this balance an account is warned once (until credit lifts it back).
pub const DEFAULT_LOW_BALANCE_ALERT_CENTS: u64 = 500;
/// The smallest purchase recorded: smaller ones cost more to process than they buy.
pub const MIN_PURCHASE_CENTS: u64 = 1_000;
/// The largest purchase recorded at once: anything above is a typo.
pub const MAX_PURCHASE_CENTS: u64 = 10_000_000;

/// What each paid channel costs in this deployment (email is free).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PriceTable {
    pub sms_segment_cents: u64,
    /// Per started minute of a call.
    pub voice_minute_cents: u64,
    pub fax_page_cents: u64,
    /// SMS bodies over this many segments are refused before any credit is spent.
    pub max_sms_segments: u32,
}

impl Default for PriceTable {
    fn default() -> Self {
        Self { sms_segment_cents: 2, voice_minute_cents: 5, fax_page_cents: 10, max_sms_segments: 6 }
    }
}

/// Speech runs at about this many words a minute.
const SPOKEN_WORDS_PER_MINUTE: usize = 150;

/// Why a message cannot be priced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    #[error("the SMS needs {segments} segments; the limit is {limit}")]
    TooManySegments { segments: u32, limit: u32 },
}

impl PriceTable {
    /// The cost of an SMS, refused when it is over the segment limit.
    pub fn sms_cost(&self, body: &str) -> Result<u64, PricingError> {
        let segments = u32::try_from(sms_length(body).segments).unwrap_or(u32::MAX);
        if segments > self.max_sms_segments {
            return Err(PricingError::TooManySegments { segments, limit: self.max_sms_segments });
        }
        Ok(u64::from(segments) * self.sms_segment_cents)
    }

    /// The minutes reserved for a call before it is placed: the speech at
    /// its spoken pace, twice when it gathers a digit (a repeat), plus a
    /// minute for the greeting, the prompt and the pauses. The call is
    /// charged for its real minutes afterwards, never more than reserved.
    pub fn voice_minutes_reserved(content: &RenderedContent) -> u64 {
        let words = content.body.split_whitespace().count();
        let speech = words.div_ceil(SPOKEN_WORDS_PER_MINUTE).max(1);
        let spoken = if content.keypad_reply { 2 * speech } else { speech };
        (spoken + 1) as u64
    }

    pub fn voice_cost(&self, minutes: u64) -> u64 {
        minutes * self.voice_minute_cents
    }

    pub fn fax_cost(&self, pages: u32) -> u64 {
        u64::from(pages) * self.fax_page_cents
    }
}

/// Refill the balance automatically: when it falls below `trigger_cents`, a
/// `TopUpRequested` event asks the practice's billing for `amount_cents`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AutoTopUp {
    pub trigger_cents: u64,
    pub amount_cents: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreditSettings {
    #[serde(default = "default_low_balance")]
    pub low_balance_alert_cents: u64,
    #[serde(default)]
    pub auto_top_up: Option<AutoTopUp>,
}

fn default_low_balance() -> u64 {
    DEFAULT_LOW_BALANCE_ALERT_CENTS
}

impl Default for CreditSettings {
    fn default() -> Self {
        Self { low_balance_alert_cents: DEFAULT_LOW_BALANCE_ALERT_CENTS, auto_top_up: None }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidCreditSettings {
    #[error("credit.auto_top_up.amount_cents must be {MIN_PURCHASE_CENTS} to {MAX_PURCHASE_CENTS}")]
    TopUpAmount,
}

impl CreditSettings {
    pub fn validate(&self) -> Result<(), InvalidCreditSettings> {
        match self.auto_top_up {
            Some(top_up) if !(MIN_PURCHASE_CENTS..=MAX_PURCHASE_CENTS).contains(&top_up.amount_cents) => {
                Err(InvalidCreditSettings::TopUpAmount)
            }
            _ => Ok(()),
        }
    }
}

/// A purchase amount that can be recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurchaseAmount(u64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("amount_cents must be {MIN_PURCHASE_CENTS} to {MAX_PURCHASE_CENTS}")]
pub struct InvalidPurchaseAmount;

impl TryFrom<u64> for PurchaseAmount {
    type Error = InvalidPurchaseAmount;
    fn try_from(cents: u64) -> Result<Self, Self::Error> {
        if (MIN_PURCHASE_CENTS..=MAX_PURCHASE_CENTS).contains(&cents) {
            Ok(Self(cents))
        } else {
            Err(InvalidPurchaseAmount)
        }
    }
}

impl PurchaseAmount {
    pub fn cents(self) -> u64 {
        self.0
    }
}

/// Why the balance moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LedgerKind {
    Purchase,
    /// Taken before a paid send.
    Reservation,
    /// Given back: the send failed, or a call used less than reserved.
    Refund,
}

/// One movement of an account's balance. The entries sum to the balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LedgerEntry {
    #[schema(value_type = String, format = DateTime)]
    pub at: DateTime<Utc>,
    pub kind: LedgerKind,
    /// Positive adds to the balance, negative takes from it.
    pub amount_cents: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub message_id: Option<MessageId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

impl LedgerEntry {
    /// A movement paying for (or refunding) one message's send.
    pub fn of_message(kind: LedgerKind, amount_cents: i64, message: &MessageId, channel: Channel, at: DateTime<Utc>) -> Self {
        Self { at, kind, amount_cents, message_id: Some(message.clone()), channel: Some(channel), idempotency_key: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sms_costs_per_segment_and_refuses_over_the_limit() {
        let prices = PriceTable { sms_segment_cents: 3, max_sms_segments: 2, ..PriceTable::default() };
        assert_eq!(prices.sms_cost("hello"), Ok(3));
        assert_eq!(prices.sms_cost(&"a".repeat(161)), Ok(6));
        assert_eq!(
            prices.sms_cost(&"a".repeat(307)),
            Err(PricingError::TooManySegments { segments: 3, limit: 2 })
        );
        // One emoji makes it UCS-2: 71 characters take two segments.
        assert_eq!(prices.sms_cost(&format!("{}😀", "a".repeat(69))), Ok(6));
    }

    #[test]
    fn a_call_reserves_its_speech_a_repeat_and_a_minute() {
        let short = RenderedContent { body: "Your appointment is tomorrow.".into(), ..RenderedContent::default() };
        assert_eq!(PriceTable::voice_minutes_reserved(&short), 2);
        let gathering = RenderedContent { keypad_reply: true, ..short.clone() };
        assert_eq!(PriceTable::voice_minutes_reserved(&gathering), 3);
        let long = RenderedContent { body: "word ".repeat(301), ..RenderedContent::default() };
        assert_eq!(PriceTable::voice_minutes_reserved(&long), 4);
    }

    #[test]
    fn purchases_are_bounded() {
        assert!(PurchaseAmount::try_from(999).is_err());
        assert_eq!(PurchaseAmount::try_from(1_000).map(PurchaseAmount::cents), Ok(1_000));
        assert!(PurchaseAmount::try_from(MAX_PURCHASE_CENTS + 1).is_err());
    }

    #[test]
    fn top_up_amount_must_be_a_valid_purchase() {
        let settings = CreditSettings { auto_top_up: Some(AutoTopUp { trigger_cents: 200, amount_cents: 50 }), ..CreditSettings::default() };
        assert_eq!(settings.validate(), Err(InvalidCreditSettings::TopUpAmount));
    }
}
