//! Prepaid credit: what paid channels cost, and how an account is warned
//! and topped up. Money is integer cents throughout.

use std::collections::BTreeSet;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::contact::{PhoneNumber, Region};
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

/// What each paid channel costs in this deployment (email is free), and
/// where it may send to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PriceTable {
    /// Per segment, to destinations without a price of their own.
    pub sms_segment_cents: u64,
    /// Per started minute of a call, to destinations without a price of their own.
    pub voice_minute_cents: u64,
    /// Per page, to destinations without a price of their own.
    pub fax_page_cents: u64,
    /// SMS bodies over this many segments are refused before any credit is spent.
    pub max_sms_segments: u32,
    /// A call is hung up at this length, a connection to the practice
    /// included, and is never charged for more.
    pub voice_max_call_minutes: u64,
    /// Prices of their own for some destinations, per channel.
    pub destinations: DestinationPrices,
    /// SMS, calls and faxes go only to numbers of these countries; others
    /// are refused before any credit is spent.
    #[schema(value_type = Vec<String>, example = json!(["CA", "US"]))]
    pub allowed_countries: BTreeSet<Region>,
    /// The answers to STOP, START and HELP cost the practice nothing (the
    /// deployment pays); otherwise they are priced like any text.
    #[serde(default)]
    pub keyword_answers_free: bool,
}

/// How often the sweep runs (its schedule in template.yaml): it ends calls
/// at their deadline, so the longest call must leave it one period.
pub const SWEEP_PERIOD_MINUTES: u64 = 1;
/// What a request to end a call may take beyond the sweep's period: the
/// schedule's jitter, the sweep's own work, Chime's asynchronous update.
pub const CALL_END_LEEWAY_SECONDS: u64 = 20;

impl Default for PriceTable {
    fn default() -> Self {
        Self {
            sms_segment_cents: 2,
            voice_minute_cents: 5,
            fax_page_cents: 10,
            max_sms_segments: 6,
            voice_max_call_minutes: 3,
            destinations: DestinationPrices::default(),
            allowed_countries: default_allowed_countries(),
            keyword_answers_free: false,
        }
    }
}

/// The countries a deployment sends to unless told otherwise.
pub fn default_allowed_countries() -> BTreeSet<Region> {
    ["US", "CA"].into_iter().filter_map(|code| code.parse().ok()).collect()
}

/// The per-destination prices of each paid channel (the unit is the
/// channel's: segment, minute, page).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DestinationPrices {
    pub sms: PriceOverrides,
    pub voice: PriceOverrides,
    pub fax: PriceOverrides,
}

/// Prices by E.164 prefix: a number takes the price of the longest prefix
/// it starts with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "Vec<PriceOverride>", into = "Vec<PriceOverride>")]
#[schema(value_type = Vec<PriceOverride>)]
pub struct PriceOverrides(Vec<PriceOverride>);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PriceOverride {
    /// `+` and the leading digits of the numbers it prices (`+44`, `+1876`).
    pub prefix: String,
    pub cents: u64,
}

/// Why per-destination prices are not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPriceOverrides {
    #[error("each price is PREFIX:CENTS, with PREFIX a + and 1 to 15 digits (e.g. +44:8)")]
    Entry,
    #[error("a prefix is priced twice")]
    Duplicate,
}

impl PriceOverrides {
    /// The price of the longest prefix `number` starts with.
    fn price_for(&self, number: &PhoneNumber) -> Option<u64> {
        self.0
            .iter()
            .filter(|entry| number.as_str().starts_with(&entry.prefix))
            .max_by_key(|entry| entry.prefix.len())
            .map(|entry| entry.cents)
    }
}

impl TryFrom<Vec<PriceOverride>> for PriceOverrides {
    type Error = InvalidPriceOverrides;
    fn try_from(entries: Vec<PriceOverride>) -> Result<Self, Self::Error> {
        let mut prefixes = BTreeSet::new();
        for entry in &entries {
            let digits = entry.prefix.strip_prefix('+').ok_or(InvalidPriceOverrides::Entry)?;
            if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(InvalidPriceOverrides::Entry);
            }
            if !prefixes.insert(entry.prefix.as_str()) {
                return Err(InvalidPriceOverrides::Duplicate);
            }
        }
        Ok(Self(entries))
    }
}

impl From<PriceOverrides> for Vec<PriceOverride> {
    fn from(overrides: PriceOverrides) -> Self {
        overrides.0
    }
}

/// The compact form of a deployment parameter: `+44:8,+52:6` (empty: none).
impl FromStr for PriceOverrides {
    type Err = InvalidPriceOverrides;
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let entries = input
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                let (prefix, cents) = entry.split_once(':').ok_or(InvalidPriceOverrides::Entry)?;
                let cents = cents.trim().parse().map_err(|_| InvalidPriceOverrides::Entry)?;
                Ok(PriceOverride { prefix: prefix.trim().to_owned(), cents })
            })
            .collect::<Result<Vec<_>, _>>()?;
        entries.try_into()
    }
}

/// Speech runs at about this many words a minute.
const SPOKEN_WORDS_PER_MINUTE: usize = 150;

/// Why a message cannot be priced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    #[error("the SMS needs {segments} segments; the limit is {limit}")]
    TooManySegments { segments: u32, limit: u32 },
    #[error("the deployment does not send to this destination's country")]
    DestinationNotAllowed,
}

impl PriceTable {
    /// The price of one unit to `to`: refused unless its country is allowed,
    /// else the destination's own price, else the default.
    fn unit_price(&self, default: u64, overrides: &PriceOverrides, to: &PhoneNumber) -> Result<u64, PricingError> {
        match to.region() {
            Some(region) if self.allowed_countries.contains(&region) => Ok(overrides.price_for(to).unwrap_or(default)),
            _ => Err(PricingError::DestinationNotAllowed),
        }
    }

    /// The cost of an SMS to `to`, refused when it is over the segment limit.
    pub fn sms_cost(&self, to: &PhoneNumber, body: &str) -> Result<u64, PricingError> {
        let price = self.unit_price(self.sms_segment_cents, &self.destinations.sms, to)?;
        let segments = u32::try_from(sms_length(body).segments).unwrap_or(u32::MAX);
        if segments > self.max_sms_segments {
            return Err(PricingError::TooManySegments { segments, limit: self.max_sms_segments });
        }
        Ok(u64::from(segments) * price)
    }

    /// The minutes reserved for a call before it is placed. A call that
    /// takes a key may be connected to the practice, so it may last the
    /// whole of the longest call. Any other reserves its speech at its
    /// spoken pace plus a minute for the greeting and the pauses, never more
    /// than the longest call. The call is charged for its real minutes
    /// afterwards, and is hung up at the longest call, so the charge never
    /// exceeds the reservation.
    pub fn voice_minutes_reserved(&self, content: &RenderedContent) -> u64 {
        if content.keypad_reply {
            return self.voice_max_call_minutes;
        }
        let words = content.body.split_whitespace().count();
        let speech = words.div_ceil(SPOKEN_WORDS_PER_MINUTE).max(1) as u64;
        (speech + 1).min(self.voice_max_call_minutes)
    }

    /// When a call answered at `answered_at` is asked to end, if it has not
    /// ended by then: a sweep period and [`CALL_END_LEEWAY_SECONDS`] before
    /// the longest call. The sweep, which runs every
    /// [`SWEEP_PERIOD_MINUTES`], asks within a period after this, and the
    /// leeway covers the schedule's, Lambda's and Chime's delays, so a call
    /// connected to the practice (no action in progress) ends within the
    /// minutes reserved for it.
    pub fn call_deadline(&self, answered_at: DateTime<Utc>) -> DateTime<Utc> {
        let seconds = self.voice_max_call_minutes.saturating_sub(SWEEP_PERIOD_MINUTES) * 60;
        answered_at + chrono::Duration::seconds(seconds.saturating_sub(CALL_END_LEEWAY_SECONDS) as i64)
    }

    /// What `minutes` of a call to `to` cost.
    pub fn voice_cost(&self, to: &PhoneNumber, minutes: u64) -> Result<u64, PricingError> {
        Ok(minutes * self.unit_price(self.voice_minute_cents, &self.destinations.voice, to)?)
    }

    pub fn fax_cost(&self, to: &PhoneNumber, pages: u32) -> Result<u64, PricingError> {
        Ok(u64::from(pages) * self.unit_price(self.fax_page_cents, &self.destinations.fax, to)?)
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
    pub fn of_message(
        kind: LedgerKind,
        amount_cents: i64,
        message: &MessageId,
        channel: Channel,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            at,
            kind,
            amount_cents,
            message_id: Some(message.clone()),
            channel: Some(channel),
            idempotency_key: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phone(number: &str) -> PhoneNumber {
        number.parse().unwrap()
    }

    const US: &str = "+12025550143";

    #[test]
    fn sms_costs_per_segment_and_refuses_over_the_limit() {
        let prices = PriceTable { sms_segment_cents: 3, max_sms_segments: 2, ..PriceTable::default() };
        let us = phone(US);
        assert_eq!(prices.sms_cost(&us, "hello"), Ok(3));
        assert_eq!(prices.sms_cost(&us, &"a".repeat(161)), Ok(6));
        assert_eq!(
            prices.sms_cost(&us, &"a".repeat(307)),
            Err(PricingError::TooManySegments { segments: 3, limit: 2 })
        );
        // One emoji makes it UCS-2: 71 characters take two segments.
        assert_eq!(prices.sms_cost(&us, &format!("{}😀", "a".repeat(69))), Ok(6));
    }

    fn international() -> PriceTable {
        PriceTable {
            destinations: DestinationPrices {
                sms: "+44:8, +4420:11".parse().unwrap(),
                voice: "+44:30".parse().unwrap(),
                fax: "+1416:25".parse().unwrap(),
            },
            allowed_countries: ["US", "CA", "GB"].into_iter().map(|c| c.parse().unwrap()).collect(),
            ..PriceTable::default()
        }
    }

    #[test]
    fn the_longest_matching_prefix_sets_the_price() {
        let prices = international();
        assert_eq!(prices.sms_cost(&phone("+447400123456"), "hi"), Ok(8));
        assert_eq!(prices.sms_cost(&phone("+442079460018"), "hi"), Ok(11));
        assert_eq!(prices.voice_cost(&phone("+442079460018"), 3), Ok(90));
        assert_eq!(prices.fax_cost(&phone("+14165550199"), 2), Ok(50));
    }

    #[test]
    fn destinations_without_a_price_of_their_own_take_the_default() {
        let prices = international();
        assert_eq!(prices.sms_cost(&phone(US), "hi"), Ok(2));
        assert_eq!(prices.sms_cost(&phone("+14165550199"), "hi"), Ok(2));
        assert_eq!(prices.voice_cost(&phone(US), 3), Ok(15));
        assert_eq!(prices.fax_cost(&phone("+442079460018"), 2), Ok(20));
    }

    #[test]
    fn countries_not_allowed_are_refused_even_inside_plus_1() {
        let prices = PriceTable::default();
        assert_eq!(prices.sms_cost(&phone("+14165550199"), "hi"), Ok(2));
        // Jamaica shares +1 with the US.
        assert_eq!(prices.sms_cost(&phone("+18765550123"), "hi"), Err(PricingError::DestinationNotAllowed));
        assert_eq!(prices.voice_cost(&phone("+447400123456"), 1), Err(PricingError::DestinationNotAllowed));
        assert_eq!(prices.fax_cost(&phone("+525555555555"), 1), Err(PricingError::DestinationNotAllowed));
        // A price of its own does not allow a country.
        let priced = PriceTable { destinations: international().destinations, ..PriceTable::default() };
        assert_eq!(priced.sms_cost(&phone("+447400123456"), "hi"), Err(PricingError::DestinationNotAllowed));
    }

    #[test]
    fn price_overrides_parse_from_their_compact_form() {
        assert_eq!("".parse::<PriceOverrides>(), Ok(PriceOverrides::default()));
        assert_eq!(
            "+44:8,+52:6".parse::<PriceOverrides>().map(Vec::from),
            Ok(vec![
                PriceOverride { prefix: "+44".into(), cents: 8 },
                PriceOverride { prefix: "+52".into(), cents: 6 }
            ])
        );
        for bad in ["44:8", "+44", "+44:x", "+:3", "+4a:3", "+44:-1", "+1234567890123456:1"] {
            assert_eq!(bad.parse::<PriceOverrides>(), Err(InvalidPriceOverrides::Entry), "{bad}");
        }
        assert_eq!("+44:8,+44:9".parse::<PriceOverrides>(), Err(InvalidPriceOverrides::Duplicate));
    }

    #[test]
    fn a_call_is_asked_to_end_a_sweep_period_and_a_leeway_before_the_longest_call() {
        let prices = PriceTable { voice_max_call_minutes: 5, ..PriceTable::default() };
        let answered = "2026-12-03T15:00:30Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(prices.call_deadline(answered), "2026-12-03T15:04:10Z".parse::<DateTime<Utc>>().unwrap());
    }

    #[test]
    fn a_call_reserves_its_speech_and_a_minute_or_the_longest_call_when_it_can_connect() {
        let prices = PriceTable { voice_max_call_minutes: 5, ..PriceTable::default() };
        let short = RenderedContent { body: "Your appointment is tomorrow.".into(), ..RenderedContent::default() };
        assert_eq!(prices.voice_minutes_reserved(&short), 2);
        let gathering = RenderedContent { keypad_reply: true, ..short.clone() };
        assert_eq!(prices.voice_minutes_reserved(&gathering), 5);
        let long = RenderedContent { body: "word ".repeat(301), ..RenderedContent::default() };
        assert_eq!(prices.voice_minutes_reserved(&long), 4);
        let capped = PriceTable { voice_max_call_minutes: 3, ..prices };
        assert_eq!(capped.voice_minutes_reserved(&long), 3);
    }

    #[test]
    fn purchases_are_bounded() {
        assert!(PurchaseAmount::try_from(999).is_err());
        assert_eq!(PurchaseAmount::try_from(1_000).map(PurchaseAmount::cents), Ok(1_000));
        assert!(PurchaseAmount::try_from(MAX_PURCHASE_CENTS + 1).is_err());
    }

    #[test]
    fn top_up_amount_must_be_a_valid_purchase() {
        let settings = CreditSettings {
            auto_top_up: Some(AutoTopUp { trigger_cents: 200, amount_cents: 50 }),
            ..CreditSettings::default()
        };
        assert_eq!(settings.validate(), Err(InvalidCreditSettings::TopUpAmount));
    }
}
