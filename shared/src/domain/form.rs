//! Online forms and paperwork: never the document, a link and an access
//! code. The link opens a public page of the API that asks for the code;
//! the right code sends the recipient on to the practice's form with a
//! short-lived signed `access_token` the practice app checks. A link ends
//! when the form is submitted or revoked, when it expires, or after five
//! wrong codes (locked).

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::consent_link::{PublicOrigin, ShortKey, MAX_TOKEN_CHARS, MIN_KEY_BYTES};
use super::ids::{AccountId, FormId, MessageId, RecipientId};
use super::recipient::Channel;
use super::text;

pub const DEFAULT_EXPIRES_IN_DAYS: u32 = 14;
pub const MAX_EXPIRES_IN_DAYS: u32 = 90;
/// Wrong codes that lock a link.
pub const MAX_WRONG_CODES: u32 = 5;
pub const MAX_URL_CHARS: usize = 2_000;
/// How long the access token the page hands on is good for: enough to
/// open the form, not to keep.
pub const ACCESS_TOKEN_MINUTES: i64 = 15;
const ACCESS_CODE_DIGITS: u32 = 6;
/// Who signs access tokens: a consent link (the same key) is not one.
const ISSUER: &str = "tidings-form";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidForm {
    #[error("title must be 1 to {} characters", text::MAX_TEXT_CHARS)]
    Title,
    #[error(
        "form_url must be an https URL (http only to 127.0.0.1 or localhost) of at most {MAX_URL_CHARS} characters"
    )]
    FormUrl,
    #[error("expires_in_days must be 1 to {MAX_EXPIRES_IN_DAYS}")]
    ExpiresIn,
    #[error("a call cannot carry a link: send forms by email, text or fax")]
    Voice,
}

/// Where a form's link stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FormStatus {
    /// The link is out; nobody has entered the right code yet.
    Sent,
    /// The right code was entered (at least once).
    Opened,
    Submitted,
    Expired,
    /// Five wrong codes.
    Locked,
    Revoked,
}

impl FormStatus {
    pub fn is_live(self) -> bool {
        matches!(self, FormStatus::Sent | FormStatus::Opened)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FormStatus::Sent => "sent",
            FormStatus::Opened => "opened",
            FormStatus::Submitted => "submitted",
            FormStatus::Expired => "expired",
            FormStatus::Locked => "locked",
            FormStatus::Revoked => "revoked",
        }
    }
}

/// A form request as staff asked for it, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormAsked {
    pub recipient_id: RecipientId,
    pub channel: Option<Channel>,
    pub title: String,
    pub form_url: String,
    pub expires_in_days: u32,
}

impl FormAsked {
    pub fn new(
        recipient_id: RecipientId,
        channel: Option<Channel>,
        title: String,
        form_url: String,
        expires_in_days: Option<u32>,
    ) -> Result<Self, InvalidForm> {
        text::check("title", &title).map_err(|_| InvalidForm::Title)?;
        if !secure(&form_url) || form_url.chars().count() > MAX_URL_CHARS || form_url.contains(char::is_whitespace) {
            return Err(InvalidForm::FormUrl);
        }
        let expires_in_days = expires_in_days.unwrap_or(DEFAULT_EXPIRES_IN_DAYS);
        if !(1..=MAX_EXPIRES_IN_DAYS).contains(&expires_in_days) {
            return Err(InvalidForm::ExpiresIn);
        }
        if channel == Some(Channel::Voice) {
            return Err(InvalidForm::Voice);
        }
        Ok(Self { recipient_id, channel, title, form_url, expires_in_days })
    }
}

/// An https URL, or plain http to this machine (a practice app run
/// locally, with the local runner).
fn secure(url: &str) -> bool {
    let host = |rest: &str| rest.split(['/', '?', '#']).next().unwrap_or_default().to_owned();
    match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
        (Some(rest), _) => !host(rest).is_empty(),
        (_, Some(rest)) => {
            let host = host(rest);
            let name = host.rsplit_once(':').map_or(host.as_str(), |(name, _)| name);
            matches!(name, "127.0.0.1" | "localhost")
        }
        _ => false,
    }
}

/// A form's link: what it opens, for whom, and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Form {
    pub id: FormId,
    pub recipient_id: RecipientId,
    pub channel: Channel,
    pub title: String,
    pub form_url: String,
    /// The message that carries the link and the code.
    pub message_id: MessageId,
    /// The link's own part (`/f/{token}`): random, and nothing else.
    pub link_token: String,
    /// The whole link, as the message carries it.
    pub link: String,
    pub access_code: String,
    /// As stored: `sent`, `opened`, `submitted`, `locked` or `revoked`;
    /// [`Form::status`] says when it has expired.
    pub status: FormStatus,
    pub sent_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    #[serde(default)]
    pub wrong_codes: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opened_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Form {
    /// A new form's link for `asked`, to go on `channel`, made on `origin`.
    pub fn new(asked: &FormAsked, channel: Channel, base_url: &str, now: DateTime<Utc>) -> Self {
        let id = FormId::random();
        let link_token = uuid::Uuid::new_v4().simple().to_string();
        Self {
            message_id: MessageId::form_request(&id),
            link: format!("{}/f/{link_token}", base_url.trim_end_matches('/')),
            id,
            recipient_id: asked.recipient_id.clone(),
            channel,
            title: asked.title.clone(),
            form_url: asked.form_url.clone(),
            link_token,
            access_code: access_code(),
            status: FormStatus::Sent,
            sent_at: now,
            expires_at: now + Duration::days(i64::from(asked.expires_in_days)),
            wrong_codes: 0,
            opened_at: None,
            submitted_at: None,
            locked_at: None,
            revoked_at: None,
        }
    }

    /// Where it stands at `now`: a live link past its time has expired.
    pub fn status(&self, now: DateTime<Utc>) -> FormStatus {
        if self.status.is_live() && now >= self.expires_at {
            FormStatus::Expired
        } else {
            self.status
        }
    }

    /// Whether `entered` is the code, compared in constant time (what was
    /// typed, spaces and dashes aside).
    pub fn code_matches(&self, entered: &str) -> bool {
        let entered: Vec<u8> = entered.bytes().filter(|b| !matches!(b, b' ' | b'-')).collect();
        let code = self.access_code.as_bytes();
        entered.len() == code.len() && entered.iter().zip(code).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }

    /// Where the right code sends the recipient: the form, with the token.
    pub fn continue_url(&self, access_token: &str) -> String {
        let separator = if self.form_url.contains('?') { '&' } else { '?' };
        format!("{}{separator}access_token={access_token}", self.form_url)
    }
}

/// Six digits, from the random bits of a UUID v4.
fn access_code() -> String {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let value = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) % 10u32.pow(ACCESS_CODE_DIGITS);
    format!("{value:06}")
}

/// What an access token names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormAccessClaims {
    pub iss: String,
    pub account: AccountId,
    pub form: FormId,
    pub recipient: RecipientId,
    /// Epoch seconds.
    pub exp: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AccessTokenError {
    #[error("the access token is not valid")]
    Invalid,
    #[error("the access token has expired")]
    Expired,
}

/// Signs and checks forms' access tokens (HS256), and says where links are
/// made (the API's public address).
#[derive(Clone)]
pub struct FormTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    origin: PublicOrigin,
}

impl std::fmt::Debug for FormTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FormTokens").field("origin", &self.origin).finish_non_exhaustive()
    }
}

impl FormTokens {
    pub fn new(key: &[u8], origin: PublicOrigin) -> Result<Self, ShortKey> {
        if key.len() < MIN_KEY_BYTES {
            return Err(ShortKey);
        }
        Ok(Self { encoding: EncodingKey::from_secret(key), decoding: DecodingKey::from_secret(key), origin })
    }

    /// The base URL links are made on, once known.
    pub fn origin(&self) -> Option<&str> {
        self.origin.get()
    }

    pub fn access_token(&self, account: &AccountId, form: &Form, now: DateTime<Utc>) -> Option<String> {
        let claims = FormAccessClaims {
            iss: ISSUER.to_owned(),
            account: account.clone(),
            form: form.id.clone(),
            recipient: form.recipient_id.clone(),
            exp: (now + Duration::minutes(ACCESS_TOKEN_MINUTES)).timestamp(),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).ok()
    }

    /// What `token` names, if this deployment signed it and it has not
    /// expired at `now`.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<FormAccessClaims, AccessTokenError> {
        if token.len() > MAX_TOKEN_CHARS {
            return Err(AccessTokenError::Invalid);
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss"]);
        let claims = decode::<FormAccessClaims>(token, &self.decoding, &validation)
            .map_err(|_| AccessTokenError::Invalid)?
            .claims;
        if claims.exp <= now.timestamp() {
            return Err(AccessTokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-12-03T12:00:00Z".parse().unwrap()
    }

    fn asked() -> FormAsked {
        FormAsked::new(
            "c-1".parse().unwrap(),
            None,
            "New patient intake".into(),
            "https://forms.riverside.example/intake?lang=en".into(),
            None,
        )
        .unwrap()
    }

    #[test]
    fn a_request_is_checked_before_anything_is_kept() {
        let form = |url: &str, days: Option<u32>, channel: Option<Channel>| {
            FormAsked::new("c-1".parse().unwrap(), channel, "Intake".into(), url.into(), days)
        };
        assert_eq!(form("http://forms.example", None, None), Err(InvalidForm::FormUrl));
        assert_eq!(form("http://127.0.0.1.example/x", None, None), Err(InvalidForm::FormUrl));
        assert!(form("http://127.0.0.1:8080/form", None, None).is_ok(), "a practice app run locally");
        assert_eq!(form("https://", None, None), Err(InvalidForm::FormUrl));
        assert_eq!(form("https://f.example/a b", None, None), Err(InvalidForm::FormUrl));
        assert_eq!(form("https://f.example", Some(0), None), Err(InvalidForm::ExpiresIn));
        assert_eq!(form("https://f.example", Some(91), None), Err(InvalidForm::ExpiresIn));
        assert_eq!(form("https://f.example", None, Some(Channel::Voice)), Err(InvalidForm::Voice));
        assert_eq!(form("https://f.example", None, None).unwrap().expires_in_days, 14);
    }

    #[test]
    fn a_link_carries_a_random_token_and_a_six_digit_code_and_expires() {
        let form = Form::new(&asked(), Channel::Email, "https://api.example/", now());
        assert!(form.link.starts_with("https://api.example/f/") && form.link.ends_with(&form.link_token));
        assert_eq!(form.access_code.len(), 6);
        assert!(form.access_code.bytes().all(|b| b.is_ascii_digit()));
        let other = Form::new(&asked(), Channel::Email, "https://api.example", now());
        assert_ne!(form.link_token, other.link_token);
        assert_eq!(form.status(now() + Duration::days(13)), FormStatus::Sent);
        assert_eq!(form.status(now() + Duration::days(14)), FormStatus::Expired);
        assert!(form.code_matches(&form.access_code));
        let spaced = format!("{} {}", &form.access_code[..3], &form.access_code[3..]);
        assert!(form.code_matches(&spaced));
        assert!(!form.code_matches("") && !form.code_matches(&format!("{}0", form.access_code)));
        assert_eq!(form.continue_url("t"), "https://forms.riverside.example/intake?lang=en&access_token=t");
    }

    #[test]
    fn an_access_token_is_short_lived_and_only_this_deployment_s() {
        let tokens = FormTokens::new(&[7; 32], PublicOrigin::fixed("https://api.example")).unwrap();
        let form = Form::new(&asked(), Channel::Email, "https://api.example", now());
        let account: AccountId = "acct".parse().unwrap();
        let token = tokens.access_token(&account, &form, now()).unwrap();
        let claims = tokens.verify(&token, now()).unwrap();
        assert_eq!((claims.account, claims.form), (account.clone(), form.id.clone()));
        let later = now() + Duration::minutes(ACCESS_TOKEN_MINUTES);
        assert_eq!(tokens.verify(&token, later), Err(AccessTokenError::Expired));
        let others = FormTokens::new(&[8; 32], PublicOrigin::default()).unwrap();
        assert_eq!(others.verify(&token, now()), Err(AccessTokenError::Invalid));
        assert!(FormTokens::new(&[1; 8], PublicOrigin::default()).is_err());
    }
}
