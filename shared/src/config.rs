//! Configuration of a Lambda function, read once from its environment
//! (set by `template.yaml`).

use std::collections::BTreeSet;
use std::str::FromStr;

use chrono::Duration;

use crate::domain::Region;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {0} is not valid: {1}")]
    Invalid(&'static str, String),
}

pub fn required(name: &'static str) -> Result<String, ConfigError> {
    std::env::var(name).map_err(|_| ConfigError::Missing(name))
}

pub fn optional(name: &'static str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

pub fn parsed<T: FromStr>(name: &'static str, default: T) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match optional(name) {
        Some(value) => value.parse().map_err(|e: T::Err| ConfigError::Invalid(name, e.to_string())),
        None => Ok(default),
    }
}

/// Messages a second each channel's provider takes (`SEND_RATE_EMAIL`,
/// `_SMS`, `_VOICE`, `_FAX`; template.yaml's `…SendRate` parameters).
pub fn send_rates() -> Result<crate::domain::SendRates, ConfigError> {
    let defaults = crate::domain::SendRates::default();
    let rate = |name: &'static str, default: u32| -> Result<u32, ConfigError> {
        let rate = parsed(name, default)?;
        if rate < 1 {
            return Err(ConfigError::Invalid(name, "must be at least 1".into()));
        }
        Ok(rate)
    };
    Ok(crate::domain::SendRates {
        email: rate("SEND_RATE_EMAIL", defaults.email)?,
        sms: rate("SEND_RATE_SMS", defaults.sms)?,
        voice: rate("SEND_RATE_VOICE", defaults.voice)?,
        fax: rate("SEND_RATE_FAX", defaults.fax)?,
    })
}

/// The claim lease shared by the sweep and the delivery functions.
pub fn claim_lease() -> Result<Duration, ConfigError> {
    let seconds: i64 = parsed("CLAIM_LEASE_SECONDS", 300)?;
    if seconds < 1 {
        return Err(ConfigError::Invalid("CLAIM_LEASE_SECONDS", "must be positive".into()));
    }
    Ok(Duration::seconds(seconds))
}

/// The deployment's price table and the countries it sends to
/// (`template.yaml` parameters).
pub fn prices() -> Result<crate::domain::PriceTable, ConfigError> {
    let defaults = crate::domain::PriceTable::default();
    let max_sms_segments = parsed("SMS_MAX_SEGMENTS", defaults.max_sms_segments)?;
    if max_sms_segments < 1 {
        return Err(ConfigError::Invalid("SMS_MAX_SEGMENTS", "must be at least 1".into()));
    }
    let voice_max_call_minutes = parsed("VOICE_MAX_CALL_MINUTES", defaults.voice_max_call_minutes)?;
    // The sweep ends a call within its last period before the cap.
    if voice_max_call_minutes <= crate::domain::credit::SWEEP_PERIOD_MINUTES {
        return Err(ConfigError::Invalid("VOICE_MAX_CALL_MINUTES", "must be at least 2".into()));
    }
    Ok(crate::domain::PriceTable {
        sms_segment_cents: parsed("PRICE_SMS_SEGMENT_CENTS", defaults.sms_segment_cents)?,
        voice_minute_cents: parsed("PRICE_VOICE_MINUTE_CENTS", defaults.voice_minute_cents)?,
        fax_page_cents: parsed("PRICE_FAX_PAGE_CENTS", defaults.fax_page_cents)?,
        max_sms_segments,
        voice_max_call_minutes,
        destinations: crate::domain::DestinationPrices {
            sms: parsed("PRICE_OVERRIDES_SMS", defaults.destinations.sms)?,
            voice: parsed("PRICE_OVERRIDES_VOICE", defaults.destinations.voice)?,
            fax: parsed("PRICE_OVERRIDES_FAX", defaults.destinations.fax)?,
        },
        allowed_countries: allowed_countries()?,
        keyword_answers_free: parsed("KEYWORD_ANSWERS_FREE", defaults.keyword_answers_free)?,
    })
}

/// `US,CA`: the countries SMS, calls and faxes may go to.
fn allowed_countries() -> Result<BTreeSet<Region>, ConfigError> {
    const NAME: &str = "ALLOWED_COUNTRIES";
    let Some(list) = optional(NAME) else {
        return Ok(crate::domain::credit::default_allowed_countries());
    };
    let countries = list
        .split(',')
        .map(str::trim)
        .filter(|code| !code.is_empty())
        .map(str::parse)
        .collect::<Result<BTreeSet<Region>, _>>()
        .map_err(|e| ConfigError::Invalid(NAME, e.to_string()))?;
    if countries.is_empty() {
        return Err(ConfigError::Invalid(NAME, "must name at least one country".into()));
    }
    Ok(countries)
}

/// The most instances of a delivery function at once
/// (`DELIVERY_INSTANCES`, default 4): its reserved concurrency in
/// template.yaml, which paces its sends
/// ([`crate::domain::SendRates::least_send_time`]).
pub fn delivery_instances() -> Result<u32, ConfigError> {
    let instances = parsed("DELIVERY_INSTANCES", 4)?;
    if instances < 1 {
        return Err(ConfigError::Invalid("DELIVERY_INSTANCES", "must be at least 1".into()));
    }
    Ok(instances)
}

/// The widest hours the deployment sends in, recipient-local
/// (`QUIET_HOURS_WIDEST`, `HH:MM-HH:MM`, default 08:00-21:00).
pub fn sending_window() -> Result<crate::domain::SendingWindow, ConfigError> {
    parsed("QUIET_HOURS_WIDEST", crate::domain::SendingWindow::default())
}

/// Where inbound email arrives and what of it is kept: `REPLY_DOMAIN` (the
/// `reply+TOKEN@` domain), `INBOUND_EMAIL_PREFIX` (the receipt rule's
/// object key prefix, default `inbound/`), `MAX_ATTACHMENT_BYTES` (each
/// attachment, default 10 MiB) and `MAX_ATTACHMENTS` (a message, default 10).
#[cfg(feature = "replies")]
pub fn inbound() -> Result<crate::services::InboundConfig, ConfigError> {
    let defaults = crate::channels::email_inbound::AttachmentLimits::default();
    Ok(crate::services::InboundConfig {
        reply_domain: optional("REPLY_DOMAIN"),
        inbound_email_prefix: optional("INBOUND_EMAIL_PREFIX").unwrap_or_else(|| "inbound/".into()),
        attachments: crate::channels::email_inbound::AttachmentLimits {
            max_bytes: parsed("MAX_ATTACHMENT_BYTES", defaults.max_bytes)?,
            max_count: parsed("MAX_ATTACHMENTS", defaults.max_count)?,
        },
    })
}
