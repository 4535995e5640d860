//! Recipients: the practice's clients and contacts, with where to reach them.

use serde::{Deserialize, Serialize};

use super::contact::{EmailAddress, PhoneNumber, TimeZone};
use super::ids::RecipientId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecipientKind {
    Client,
    Contact,
}

/// How a recipient is reached; each account assigns one per recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Sms,
    Voice,
    Fax,
}

impl std::str::FromStr for Channel {
    type Err = ();
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        [Channel::Email, Channel::Sms, Channel::Voice, Channel::Fax].into_iter().find(|c| c.as_str() == input).ok_or(())
    }
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Voice => "voice",
            Channel::Fax => "fax",
        }
    }
}

/// A language tag such as `en` or `es-MX`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Language(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("language must be a tag such as en or es-MX")]
pub struct InvalidLanguage;

impl Language {
    pub fn english() -> Self {
        Self("en".to_owned())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Language {
    fn default() -> Self {
        Self::english()
    }
}

impl TryFrom<String> for Language {
    type Error = InvalidLanguage;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        let mut parts = value.split('-');
        let primary_ok =
            parts.next().is_some_and(|p| (2..=3).contains(&p.len()) && p.chars().all(|c| c.is_ascii_lowercase()));
        let rest_ok = parts.all(|p| (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
        if primary_ok && rest_ok {
            Ok(Self(value))
        } else {
            Err(InvalidLanguage)
        }
    }
}

impl From<Language> for String {
    fn from(value: Language) -> Self {
        value.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    pub id: RecipientId,
    pub kind: RecipientKind,
    pub first_name: String,
    pub last_name: String,
    pub channel: Channel,
    pub email: Option<EmailAddress>,
    pub phone: Option<PhoneNumber>,
    pub fax: Option<PhoneNumber>,
    /// `None` follows the practice's time zone, even if that changes later.
    pub time_zone: Option<TimeZone>,
    pub language: Language,
}

/// The address a channel delivers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Email(EmailAddress),
    Phone(PhoneNumber),
}

impl Address {
    pub fn as_str(&self) -> &str {
        match self {
            Address::Email(email) => email.as_str(),
            Address::Phone(phone) => phone.as_str(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the recipient's channel is {channel} but no {field} is given")]
pub struct MissingAddress {
    pub channel: &'static str,
    pub field: &'static str,
}

impl Recipient {
    /// The zone their messages are timed in: their own, else the
    /// practice's (UTC for an account without settings, which sends
    /// nothing).
    pub fn zone(&self, settings: Option<&super::AccountSettings>) -> super::TimeZone {
        self.time_zone.or(settings.map(|s| s.time_zone)).unwrap_or(super::TimeZone::UTC)
    }

    /// Where `channel` reaches this recipient, if they have the address.
    pub fn address_on(&self, channel: Channel) -> Option<Address> {
        match channel {
            Channel::Email => self.email.clone().map(Address::Email),
            Channel::Sms | Channel::Voice => self.phone.clone().map(Address::Phone),
            Channel::Fax => self.fax.clone().map(Address::Phone),
        }
    }

    /// Where this recipient's assigned channel delivers.
    pub fn address(&self) -> Result<Address, MissingAddress> {
        let field = match self.channel {
            Channel::Email => "email",
            Channel::Sms | Channel::Voice => "phone",
            Channel::Fax => "fax",
        };
        self.address_on(self.channel).ok_or(MissingAddress { channel: self.channel.as_str(), field })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipient(channel: Channel) -> Recipient {
        Recipient {
            id: "r1".parse().unwrap(),
            kind: RecipientKind::Client,
            first_name: "Ann".into(),
            last_name: "Lee".into(),
            channel,
            email: Some("ann@example.com".parse().unwrap()),
            phone: None,
            fax: None,
            time_zone: None,
            language: Language::english(),
        }
    }

    #[test]
    fn the_assigned_channel_needs_its_address() {
        assert_eq!(recipient(Channel::Email).address().unwrap().as_str(), "ann@example.com");
        let err = recipient(Channel::Sms).address().unwrap_err();
        assert_eq!(err.field, "phone");
        assert_eq!(recipient(Channel::Fax).address().unwrap_err().field, "fax");
    }

    #[test]
    fn language_tags() {
        for good in ["en", "es-MX", "fr", "zh-Hant"] {
            assert!(Language::try_from(good.to_owned()).is_ok(), "{good}");
        }
        for bad in ["", "EN", "english", "en_US", "e"] {
            assert!(Language::try_from(bad.to_owned()).is_err(), "{bad}");
        }
    }
}
