//! Local bearer tokens. On AWS, API Gateway's JWT authorizer verifies the
//! practice app's tokens; locally the runner signs and verifies its own
//! (HS256, key kept beside the database), with the claims a deployment reads
//! by default ([`TokenClaims::default`]), and hands the API the same caller.

use std::io::Write;
use std::path::{Path, PathBuf};
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

/// The shortest key accepted: HS256 wants at least 256 bits.
const MIN_KEY_BYTES: usize = 32;

/// Why the key file cannot serve. Messages name the file, never the key.
#[derive(Debug, thiserror::Error)]
pub enum TokenKeyError {
    #[error("token key file {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("token key file {} holds {length} bytes, fewer than {MIN_KEY_BYTES}: delete it and a new key is made", path.display())]
    TooShort { path: PathBuf, length: usize },
}

#[derive(Clone)]
pub struct TokenKey(Arc<Vec<u8>>);

impl TokenKey {
    /// The key in `file`, created with fresh random bytes if missing,
    /// readable and writable by its owner only: whoever reads it can sign
    /// tokens for any account, the operator's included. A key shorter than
    /// [`MIN_KEY_BYTES`] (an empty file, a hand-written word) is refused.
    pub fn load_or_create(file: &Path) -> Result<Self, TokenKeyError> {
        let io = |source| TokenKeyError::Io { path: file.to_owned(), source };
        match std::fs::read_to_string(file) {
            Ok(text) => {
                let key = text.trim().as_bytes().to_vec();
                if key.len() < MIN_KEY_BYTES {
                    return Err(TokenKeyError::TooShort { path: file.to_owned(), length: key.len() });
                }
                Ok(Self(Arc::new(key)))
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(io)?;
                }
                let key = Self::ephemeral();
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                match options.open(file) {
                    Ok(mut created) => {
                        created.write_all(key.0.as_slice()).map_err(io)?;
                        Ok(key)
                    }
                    // Another process made it first: use theirs.
                    Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Self::load_or_create(file),
                    Err(err) => Err(io(err)),
                }
            }
            Err(err) => Err(io(err)),
        }
    }

    /// The key itself, for another signer kept the same way (the local
    /// consent links').
    pub fn bytes(&self) -> &[u8] {
        self.0.as_slice()
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
        let dir = scratch_dir();
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

    #[cfg(unix)]
    #[test]
    fn a_new_key_file_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = scratch_dir();
        let file = dir.join("local.key");
        TokenKey::load_or_create(&file).unwrap();
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        std::fs::remove_dir_all(dir).unwrap();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }

    #[test]
    fn an_empty_or_short_key_file_is_refused_without_showing_the_key() {
        let dir = scratch_dir();
        std::fs::create_dir_all(&dir).unwrap();
        for (name, content) in
            [("empty.key", ""), ("blank.key", " \n"), ("short.key", "hunter2-hunter2-hunter2-hunter")]
        {
            let file = dir.join(name);
            std::fs::write(&file, content).unwrap();
            let err = TokenKey::load_or_create(&file).err().expect("refused");
            assert!(matches!(err, TokenKeyError::TooShort { .. }), "{name}: {err}");
            let message = err.to_string();
            assert!(message.contains(name) && message.contains("fewer than 32"), "{message}");
            assert!(content.trim().is_empty() || !message.contains(content.trim()), "{message}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn scratch_dir() -> std::path::PathBuf {
        std::env::temp_dir().join(format!("tidings-key-{}", uuid::Uuid::new_v4()))
    }
}
