//! The link an email opt-in request carries to the public consent page:
//! a token signed by the deployment (HS256), naming the account, the
//! recipient, the channel and the request (never the address: a token's
//! payload is readable by whoever holds the link), and expiring
//! with the request. It is single-use by what it records: once consent is
//! granted from it, a second use only shows that it is.

use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::consent::OPT_IN_REASK_DAYS;
use super::ids::{AccountId, MessageId, RecipientId};
use super::recipient::Channel;

/// HS256 wants at least 256 bits of key.
pub const MIN_KEY_BYTES: usize = 32;
/// Who signs the links: a token of another issuer (an API token signed
/// with a reused key) is not a consent link.
const ISSUER: &str = "tidings-consent";
/// The longest token accepted (a URL path segment).
pub const MAX_TOKEN_CHARS: usize = 2_000;

/// What a consent link names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentLinkClaims {
    pub iss: String,
    pub account: AccountId,
    pub recipient: RecipientId,
    pub channel: Channel,
    /// The opt-in request that carried the link.
    pub request: MessageId,
    /// Epoch seconds.
    pub exp: i64,
}

impl ConsentLinkClaims {
    /// A link for `request`, good until the recipient may be asked again.
    pub fn for_request(
        account: &AccountId,
        recipient: &RecipientId,
        channel: Channel,
        request: &MessageId,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            iss: ISSUER.to_owned(),
            account: account.clone(),
            recipient: recipient.clone(),
            channel,
            request: request.clone(),
            exp: (now + Duration::days(OPT_IN_REASK_DAYS)).timestamp(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConsentLinkError {
    /// Not signed by this deployment, altered, or not a consent link.
    #[error("the consent link is not valid")]
    Invalid,
    #[error("the consent link has expired")]
    Expired,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the consent link key must be at least {MIN_KEY_BYTES} bytes")]
pub struct ShortKey;

/// The API's public base URL (`https://…`), links are made on. On AWS it
/// is known at start; the local runner learns it when it binds its port.
#[derive(Debug, Clone, Default)]
pub struct PublicOrigin(Arc<OnceLock<String>>);

impl PublicOrigin {
    pub fn fixed(base_url: &str) -> Self {
        let origin = Self::default();
        origin.set(base_url);
        origin
    }

    /// The first address stays: links already handed out point there.
    pub fn set(&self, base_url: &str) {
        let _ = self.0.set(base_url.trim_end_matches('/').to_owned());
    }

    pub fn get(&self) -> Option<&str> {
        self.0.get().map(String::as_str)
    }
}

/// Signs and checks consent links, and makes their URL on the API's
/// public address.
#[derive(Clone)]
pub struct ConsentLinks {
    encoding: EncodingKey,
    decoding: DecodingKey,
    origin: PublicOrigin,
}

impl std::fmt::Debug for ConsentLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsentLinks").field("origin", &self.origin).finish_non_exhaustive()
    }
}

impl ConsentLinks {
    pub fn new(key: &[u8], origin: PublicOrigin) -> Result<Self, ShortKey> {
        if key.len() < MIN_KEY_BYTES {
            return Err(ShortKey);
        }
        Ok(Self { encoding: EncodingKey::from_secret(key), decoding: DecodingKey::from_secret(key), origin })
    }

    /// The page's URL for `claims`; `None` while the public address is not
    /// known (a local runner not serving).
    pub fn url(&self, claims: &ConsentLinkClaims) -> Option<String> {
        let base = self.origin.get()?;
        let token = encode(&Header::new(Algorithm::HS256), claims, &self.encoding).ok()?;
        Some(format!("{base}/consent/{token}"))
    }

    /// What `token` names, if this deployment signed it and it has not
    /// expired at `now` (the service's clock, not the machine's).
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<ConsentLinkClaims, ConsentLinkError> {
        if token.len() > MAX_TOKEN_CHARS {
            return Err(ConsentLinkError::Invalid);
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss"]);
        let claims = decode::<ConsentLinkClaims>(token, &self.decoding, &validation)
            .map_err(|_| ConsentLinkError::Invalid)?
            .claims;
        if claims.exp <= now.timestamp() {
            return Err(ConsentLinkError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(now: DateTime<Utc>) -> ConsentLinkClaims {
        ConsentLinkClaims::for_request(
            &"acct".parse().unwrap(),
            &"r1".parse().unwrap(),
            Channel::Email,
            &"r1~optin~email~1".parse().unwrap(),
            now,
        )
    }

    fn token_of(url: &str) -> &str {
        url.rsplit('/').next().unwrap()
    }

    #[test]
    fn a_link_names_its_request_until_it_expires() {
        let links = ConsentLinks::new(&[7; 32], PublicOrigin::fixed("https://api.example/")).unwrap();
        let now: DateTime<Utc> = "2030-03-04T12:00:00Z".parse().unwrap();
        let url = links.url(&claims(now)).unwrap();
        assert!(url.starts_with("https://api.example/consent/"), "{url}");
        assert_eq!(links.verify(token_of(&url), now + Duration::days(29)), Ok(claims(now)));
        assert_eq!(links.verify(token_of(&url), now + Duration::days(30)), Err(ConsentLinkError::Expired));
    }

    #[test]
    fn a_link_of_another_key_or_altered_is_refused() {
        let now: DateTime<Utc> = "2030-03-04T12:00:00Z".parse().unwrap();
        let links = ConsentLinks::new(&[7; 32], PublicOrigin::fixed("https://api.example")).unwrap();
        let other = ConsentLinks::new(&[8; 32], PublicOrigin::fixed("https://api.example")).unwrap();
        let url = other.url(&claims(now)).unwrap();
        assert_eq!(links.verify(token_of(&url), now), Err(ConsentLinkError::Invalid));
        let mut token = token_of(&links.url(&claims(now)).unwrap()).to_owned();
        token.insert(10, 'x');
        assert_eq!(links.verify(&token, now), Err(ConsentLinkError::Invalid));
        assert_eq!(links.verify(&"a".repeat(MAX_TOKEN_CHARS + 1), now), Err(ConsentLinkError::Invalid));
        assert!(ConsentLinks::new(&[7; 31], PublicOrigin::default()).is_err());
    }
}
