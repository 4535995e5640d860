//! Local bearer tokens. On AWS, API Gateway's JWT authorizer verifies the
//! practice app's tokens; locally the runner signs and verifies its own
//! (HS256, key kept beside the database), with the claims a deployment reads
//! by default ([`TokenClaims::default`]), and hands the API the same caller.

use std::path::Path;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{json, Map, Value};
use tidings::domain::AccountId;
use tidings_api::auth::{proceed_as, Caller, TokenClaims};

const ISSUER: &str = "tidings-local";
const AUDIENCE: &str = "tidings";
const TOKEN_LIFETIME_SECONDS: i64 = 365 * 24 * 3600;

#[derive(Clone)]
pub struct TokenKey(Arc<Vec<u8>>);

impl TokenKey {
    /// The key in `file`, created with fresh random bytes if missing.
    pub fn load_or_create(file: &Path) -> std::io::Result<Self> {
        match std::fs::read_to_string(file) {
            Ok(hex) => Ok(Self(Arc::new(hex.trim().as_bytes().to_vec()))),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent)?;
                }
                let key = Self::ephemeral();
                std::fs::write(file, key.0.as_slice())?;
                Ok(key)
            }
            Err(err) => Err(err),
        }
    }

    /// A fresh key of two v4 UUIDs (244 bits from the OS's random source)
    /// that lives as long as the process: for in-memory runs.
    pub fn ephemeral() -> Self {
        Self(Arc::new(format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple()).into_bytes()))
    }

    /// A token for `account`; with `operator`, it carries the operator's
    /// scope as well (purchases of credit).
    pub fn issue(&self, account: &AccountId, operator: bool) -> Result<String, jsonwebtoken::errors::Error> {
        let now = chrono::Utc::now().timestamp();
        let names = TokenClaims::default();
        let mut claims = Map::new();
        claims.insert("sub".into(), json!(account.to_string()));
        claims.insert("iss".into(), json!(ISSUER));
        claims.insert("aud".into(), json!(AUDIENCE));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + TOKEN_LIFETIME_SECONDS));
        claims.insert(names.account, json!(account.to_string()));
        if operator {
            claims.insert(names.operator.claim, json!(names.operator.value));
        }
        encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(&self.0))
    }

    pub fn verify(&self, token: &str) -> Option<Caller> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        let data = decode::<Map<String, Value>>(token, &DecodingKey::from_secret(&self.0), &validation).ok()?;
        TokenClaims::default().caller(|name| data.claims.get(name).cloned())
    }
}

/// The local stand-in for API Gateway's JWT authorizer.
pub async fn require_token(State(key): State<TokenKey>, request: Request, next: Next) -> Response {
    let caller = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|token| key.verify(token.trim()));
    proceed_as(caller, request, next).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_only_with_their_key() {
        let dir = std::env::temp_dir().join(format!("tidings-key-{}", uuid::Uuid::new_v4()));
        let key = TokenKey::load_or_create(&dir.join("a.key")).unwrap();
        let other = TokenKey::load_or_create(&dir.join("b.key")).unwrap();
        let account: AccountId = "acct-1".parse().unwrap();
        let token = key.issue(&account, false).unwrap();
        assert_eq!(key.verify(&token), Some(Caller { account: account.clone(), operator: false }));
        assert_eq!(other.verify(&token), None);
        assert_eq!(key.verify("not-a-token"), None);
        // The key survives a restart.
        let reloaded = TokenKey::load_or_create(&dir.join("a.key")).unwrap();
        assert!(reloaded.verify(&token).is_some());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn only_operator_tokens_carry_the_operator_scope() {
        let key = TokenKey::ephemeral();
        let account: AccountId = "acct-1".parse().unwrap();
        let operator = key.issue(&account, true).unwrap();
        assert_eq!(key.verify(&operator), Some(Caller { account: account.clone(), operator: true }));
        let practice = key.issue(&account, false).unwrap();
        assert_eq!(key.verify(&practice).map(|c| c.operator), Some(false));
    }
}
