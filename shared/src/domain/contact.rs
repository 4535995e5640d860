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
    #[error("a phone or fax number takes digits only, no letters or words")]
    PhoneLetters,
    #[error("a phone or fax number cannot carry an extension: automated calls, texts and faxes cannot dial one")]
    PhoneExtension,
    #[error("not a valid email address")]
    Email,
    #[error("no mail can be delivered to this email domain (letters, digits and hyphens only, a named top-level domain, no IP address)")]
    EmailDomain,
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
        // The parser reads any letter as its keypad digit (vanity numbers),
        // so an O typed for a 0 becomes another valid number: a stranger's,
        // who would get a patient's reminder. Patients give numbers, not
        // words: any letter is refused, whatever it would spell ("ext." and
        // "x" for an extension included).
        if input.chars().any(char::is_alphabetic) {
            return Err(ContactError::PhoneLetters);
        }
        let parsed = phonenumber::parse(None, input).map_err(|_| ContactError::Phone)?;
        if !phonenumber::is_valid(&parsed) {
            return Err(ContactError::Phone);
        }
        // E.164 drops an extension ("#5"): the message would go to the
        // switchboard, not the person.
        if parsed.extension().is_some() {
            return Err(ContactError::PhoneExtension);
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
        // Only the bare address (not "Ann <ann@x>"), with a dotted domain.
        let options = email_address::Options::default().with_required_tld().without_display_text();
        let parsed =
            email_address::EmailAddress::parse_with_options(input.trim(), options).map_err(|_| ContactError::Email)?;
        if !is_deliverable_domain(parsed.domain()) {
            return Err(ContactError::EmailDomain);
        }
        Ok(Self(parsed.email().to_owned()))
    }
}

/// Whether mail can be routed to `domain` by name: every label is ASCII
/// letters, digits and inner hyphens (an internationalised domain in its
/// `xn--` form), and the top-level domain is not all digits. The address
/// parser also takes IP literals (`[192.0.2.1]`), Unicode and symbols such
/// as `_` or `!` in labels, and dotted IP addresses; none of those reaches
/// a patient through a mail provider.
fn is_deliverable_domain(domain: &str) -> bool {
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    let top_level_named = domain.rsplit('.').next().is_some_and(|tld| !tld.chars().all(|c| c.is_ascii_digit()));
    domain.split('.').all(label_ok) && top_level_named
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
        input.parse::<chrono_tz::Tz>().map(Self).map_err(|_| ContactError::TimeZone)
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
        assert_eq!("ann@example.com".parse::<EmailAddress>().unwrap().as_str(), "ann@example.com");
        for input in ["ann", "ann@", "Ann <ann@example.com>", "ann@localhost", "a b@example.com"] {
            assert_eq!(input.parse::<EmailAddress>(), Err(ContactError::Email), "{input}");
        }
    }

    #[test]
    fn time_zones_are_iana_names() {
        assert_eq!("America/New_York".parse::<TimeZone>().unwrap().to_string(), "America/New_York");
        assert_eq!("Mars/Olympus".parse::<TimeZone>(), Err(ContactError::TimeZone));
    }

    #[test]
    fn errors_never_repeat_the_input() {
        let err = "+1 555 0000".parse::<PhoneNumber>().unwrap_err().to_string();
        assert!(!err.contains("555"));
        let err = "secret-name@".parse::<EmailAddress>().unwrap_err().to_string();
        assert!(!err.contains("secret-name"));
    }

    /// Typos and extras a practice's staff may type, what the phonenumber
    /// crate (the Rust port of Google's libphonenumber) makes of them on its
    /// own, and that we refuse every one. The crate maps any letter to its
    /// keypad digit and drops extensions; Google's Java library maps letters
    /// only when there are three or more and otherwise drops them, which
    /// also dials a number the patient never gave. Neither is acceptable
    /// for a message that carries PHI.
    #[test]
    fn typed_letters_and_extensions_are_refused_where_the_parser_would_dial_someone_else() {
        use ContactError::{PhoneExtension, PhoneLetters};
        let table = [
            ("+1 202 555 O143", Some("+12025556143"), PhoneLetters), // letter O for zero
            ("+1202555l143", Some("+12025555143"), PhoneLetters),    // lower-case L for one
            ("+1 202 555 0I43", Some("+12025550443"), PhoneLetters), // capital I for one
            ("+1 202 555 S143", Some("+12025557143"), PhoneLetters), // S for five
            ("+44 20 7946 O958", Some("+442079466958"), PhoneLetters),
            ("+1 800 FLOWERS", Some("+18003569377"), PhoneLetters), // a vanity number
            ("+1 (202) 555-0143 ext. 5", Some("+12025550143"), PhoneLetters),
            ("+1 202 555 0143 x5", Some("+12025550143"), PhoneLetters),
            ("+1 202 555 0143 #5", Some("+12025550143"), PhoneExtension),
            ("+1 2O2 555 OI43", None, PhoneLetters), // the crate refuses it too
        ];
        for (input, crate_reading, ours) in table {
            let by_crate = phonenumber::parse(None, input)
                .ok()
                .filter(phonenumber::is_valid)
                .map(|n| n.format().mode(phonenumber::Mode::E164).to_string());
            assert_eq!(by_crate.as_deref(), crate_reading, "{input}");
            assert_eq!(input.parse::<PhoneNumber>(), Err(ours), "{input}");
        }
        // Digits with any punctuation still parse.
        for input in ["+1 (202) 555-0143", "+1.202.555.0143", "+1 202/555 0143"] {
            assert_eq!(input.parse::<PhoneNumber>().unwrap().as_str(), "+12025550143", "{input}");
        }
    }

    #[test]
    fn email_domains_that_no_mail_reaches_are_refused() {
        // Each parses as an address; none can be delivered to by name.
        for input in [
            "ann@example.123", // all-numeric top-level domain
            "ann@192.168.0.1", // an IP address written as a domain
            "ann@[192.0.2.1]", // an IP literal
            "ann@[IPv6:2001:db8::1]",
            "ann@exa_mple.com", // underscore
            "ann@exam!ple.com", // other symbols
            "ann@ex{am}ple.com",
            "ann@exämple.com", // Unicode: give the xn-- form
        ] {
            assert!(email_address::EmailAddress::from_str(input).is_ok(), "{input} should parse");
            assert_eq!(input.parse::<EmailAddress>(), Err(ContactError::EmailDomain), "{input}");
        }
        for input in ["ann@mail.example.com", "a.b+tag@ex-ample.co.uk", "ann@xn--exmple-cua.com", "ann@123.example.org"]
        {
            assert_eq!(input.parse::<EmailAddress>().unwrap().as_str(), input);
        }
        let err = "ann.lee@exa_mple.com".parse::<EmailAddress>().unwrap_err().to_string();
        assert!(!err.contains("ann") && !err.contains("exa_mple"), "{err}");
    }
}
