//! Contact points parsed at the boundary: a value of these types is always valid.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a contact point did not parse. The messages never repeat the input:
/// phone numbers and addresses are PHI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContactError {
    #[error("not a valid phone number in E.164 form (+ and country code)")]
    Phone,
    #[error("not a valid email address")]
    Email,
    #[error("not a known IANA time zone")]
    TimeZone,
    #[error("not a country code (ISO 3166-1 alpha-2, e.g. US)")]
    Region,
}

/// A valid phone or fax number, kept in E.164 form (`+15551234567`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number with all but its last two digits masked, for timelines
    /// and diagnostics that must not show the whole number.
    pub fn masked(&self) -> String {
        let keep = self.0.len().saturating_sub(2);
        format!("+{}{}", "•".repeat(keep.saturating_sub(1)), &self.0[keep..])
    }

    /// The country the number belongs to, by its numbering plan: +1 is
    /// shared by the US, Canada and Caribbean countries, which only the
    /// number's area code tells apart.
    pub fn region(&self) -> Option<Region> {
        let parsed = phonenumber::parse(None, &self.0).ok()?;
        parsed.country().id().map(Region)
    }
}

/// A country whose numbers are assigned by its numbering plan, by its ISO
/// 3166-1 alpha-2 code (`US`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Region(phonenumber::country::Id);

impl Region {
    pub fn as_str(&self) -> &str {
        self.0.as_ref()
    }
}

impl Ord for Region {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for Region {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl FromStr for Region {
    type Err = ContactError;
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        input.trim().to_ascii_uppercase().parse().map(Region).map_err(|_| ContactError::Region)
    }
}

impl TryFrom<String> for Region {
    type Error = ContactError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<Region> for String {
    fn from(value: Region) -> Self {
        value.as_str().to_owned()
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PhoneNumber {
    type Err = ContactError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        // Only international form is accepted: a practice app may serve
        // several countries and a bare national number is ambiguous.
        if !input.starts_with('+') {
            return Err(ContactError::Phone);
        }
        let parsed = phonenumber::parse(None, input).map_err(|_| ContactError::Phone)?;
        if !phonenumber::is_valid(&parsed) {
            return Err(ContactError::Phone);
        }
        Ok(Self(parsed.format().mode(phonenumber::Mode::E164).to_string()))
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = ContactError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<PhoneNumber> for String {
    fn from(value: PhoneNumber) -> Self {
        value.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A syntactically valid email address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address with its local part masked but for the first character.
    pub fn masked(&self) -> String {
        match self.0.split_once('@') {
            Some((local, domain)) => {
                let first: String = local.chars().take(1).collect();
                format!("{first}•••@{domain}")
            }
            None => "•••".to_owned(),
        }
    }
}

impl FromStr for EmailAddress {
    type Err = ContactError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let parsed = email_address::EmailAddress::from_str(input.trim())
            .map_err(|_| ContactError::Email)?;
        // A display-name form ("Ann <ann@x>") parses too; only the bare
        // address is a valid recipient.
        if parsed.as_str() != parsed.email() || !parsed.domain().contains('.') {
            return Err(ContactError::Email);
        }
        Ok(Self(parsed.email().to_owned()))
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = ContactError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<EmailAddress> for String {
    fn from(value: EmailAddress) -> Self {
        value.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An IANA time zone such as `America/New_York`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeZone(chrono_tz::Tz);

impl TimeZone {
    pub const UTC: TimeZone = TimeZone(chrono_tz::UTC);

    pub fn tz(&self) -> chrono_tz::Tz {
        self.0
    }
}

impl FromStr for TimeZone {
    type Err = ContactError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        input
            .parse::<chrono_tz::Tz>()
            .map(Self)
            .map_err(|_| ContactError::TimeZone)
    }
}

impl TryFrom<String> for TimeZone {
    type Error = ContactError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<TimeZone> for String {
    fn from(value: TimeZone) -> Self {
        value.0.name().to_owned()
    }
}

impl fmt::Display for TimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_numbers_region_comes_from_its_area_code_not_only_its_country_code() {
        let region = |number: &str| number.parse::<PhoneNumber>().unwrap().region().map(|r| r.to_string());
        assert_eq!(region("+12025550143").as_deref(), Some("US"));
        assert_eq!(region("+14165550199").as_deref(), Some("CA"));
        assert_eq!(region("+18765550123").as_deref(), Some("JM"));
        assert_eq!(region("+442079460018").as_deref(), Some("GB"));
        assert_eq!(region("+447400123456").as_deref(), Some("GB"));
        assert_eq!("ca".parse::<Region>().map(String::from), Ok("CA".to_owned()));
        assert_eq!("XX".parse::<Region>(), Err(ContactError::Region));
    }

    #[test]
    fn phone_numbers_are_normalised_to_e164() {
        let phone: PhoneNumber = "+1 (202) 555-0143".parse().unwrap();
        assert_eq!(phone.as_str(), "+12025550143");
        let uk: PhoneNumber = "+44 20 7946 0958".parse().unwrap();
        assert_eq!(uk.as_str(), "+442079460958");
    }

    #[test]
    fn national_or_invalid_phone_numbers_are_refused() {
        for input in ["2025550143", "+1 555", "+999 123456", "call me", ""] {
            assert_eq!(input.parse::<PhoneNumber>(), Err(ContactError::Phone), "{input}");
        }
    }

    #[test]
    fn masked_phone_shows_only_the_last_two_digits() {
        let phone: PhoneNumber = "+12025550143".parse().unwrap();
        assert!(phone.masked().ends_with("43"));
        assert!(!phone.masked().contains("555"));
    }

    #[test]
    fn email_addresses_must_be_bare_and_have_a_domain() {
        assert_eq!(
            "ann@example.com".parse::<EmailAddress>().unwrap().as_str(),
            "ann@example.com"
        );
        for input in ["ann", "ann@", "Ann <ann@example.com>", "ann@localhost", "a b@example.com"] {
            assert_eq!(input.parse::<EmailAddress>(), Err(ContactError::Email), "{input}");
        }
    }

    #[test]
    fn time_zones_are_iana_names() {
        assert_eq!(
            "America/New_York".parse::<TimeZone>().unwrap().to_string(),
            "America/New_York"
        );
        assert_eq!("Mars/Olympus".parse::<TimeZone>(), Err(ContactError::TimeZone));
    }

    #[test]
    fn errors_never_repeat_the_input() {
        let err = "+1 555 0000".parse::<PhoneNumber>().unwrap_err().to_string();
        assert!(!err.contains("555"));
        let err = "secret-name@".parse::<EmailAddress>().unwrap_err().to_string();
        assert!(!err.contains("secret-name"));
    }
}
