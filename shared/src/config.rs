//! Configuration of a Lambda function, read once from its environment
//! (set by `template.yaml`).

use std::str::FromStr;

use chrono::Duration;

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

/// The claim lease shared by the sweep and the delivery functions.
pub fn claim_lease() -> Result<Duration, ConfigError> {
    let seconds: i64 = parsed("CLAIM_LEASE_SECONDS", 300)?;
    if seconds < 1 {
        return Err(ConfigError::Invalid("CLAIM_LEASE_SECONDS", "must be positive".into()));
    }
    Ok(Duration::seconds(seconds))
}

/// The deployment's price table (`template.yaml` parameters).
pub fn prices() -> Result<crate::domain::PriceTable, ConfigError> {
    let defaults = crate::domain::PriceTable::default();
    let max_sms_segments = parsed("SMS_MAX_SEGMENTS", defaults.max_sms_segments)?;
    if max_sms_segments < 1 {
        return Err(ConfigError::Invalid("SMS_MAX_SEGMENTS", "must be at least 1".into()));
    }
    Ok(crate::domain::PriceTable {
        sms_segment_cents: parsed("PRICE_SMS_SEGMENT_CENTS", defaults.sms_segment_cents)?,
        voice_minute_cents: parsed("PRICE_VOICE_MINUTE_CENTS", defaults.voice_minute_cents)?,
        fax_page_cents: parsed("PRICE_FAX_PAGE_CENTS", defaults.fax_page_cents)?,
        max_sms_segments,
    })
}

/// The widest hours the deployment sends in, recipient-local
/// (`QUIET_HOURS_WIDEST`, `HH:MM-HH:MM`, default 08:00-21:00).
pub fn sending_window() -> Result<crate::domain::SendingWindow, ConfigError> {
    parsed("QUIET_HOURS_WIDEST", crate::domain::SendingWindow::default())
}
