//! Who is calling and what it may do. The account always comes from a
//! verified token, never from the request body. On AWS the API Gateway JWT
//! authorizer verifies the token and passes its claims; the local runner
//! verifies its own tokens. Either way a layer puts an
//! [`AuthenticatedAccount`] in the request, and an [`OperatorGrant`] when the
//! token carries the operator's scope.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use lambda_http::request::RequestContext;
use serde_json::Value;
use tidings::domain::AccountId;

use crate::error::ApiError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedAccount(pub AccountId);

impl<S: Send + Sync> FromRequestParts<S> for AuthenticatedAccount {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<AuthenticatedAccount>().cloned().ok_or_else(ApiError::unauthorized)
    }
}

/// The caller's token carries the operator's scope: it may do what only the
/// operator does for an account (grant credit the operator pays carriers for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperatorGrant;

/// An account acted for by the operator: 401 without a token, 403 when the
/// token is the practice's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorForAccount(pub AccountId);

impl<S: Send + Sync> FromRequestParts<S> for OperatorForAccount {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let AuthenticatedAccount(account) = AuthenticatedAccount::from_request_parts(parts, state).await?;
        match parts.extensions.get::<OperatorGrant>() {
            Some(OperatorGrant) => Ok(Self(account)),
            None => Err(ApiError::forbidden("this needs the operator's scope")),
        }
    }
}

/// The claim and the value in it that make a token the operator's
/// (`OPERATOR_CLAIM`, `OPERATOR_SCOPE`; by default `scope` containing
/// `tidings/credit.write`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorScope {
    pub claim: String,
    pub value: String,
}

impl Default for OperatorScope {
    fn default() -> Self {
        Self { claim: "scope".into(), value: "tidings/credit.write".into() }
    }
}

impl OperatorScope {
    /// Whether a claim's value holds the scope: a space-separated string
    /// (OAuth's `scope`), a JSON array of strings, or either of those as API
    /// Gateway hands an array claim on (`[a b]`, or its JSON text). Only a
    /// whole entry counts: `tidings/credit.write.x` is not the scope.
    pub fn granted_by(&self, claim: &Value) -> bool {
        match claim {
            Value::String(text) => self.granted_by_text(text),
            Value::Array(entries) => entries.iter().any(|entry| entry.as_str() == Some(self.value.as_str())),
            _ => false,
        }
    }

    fn granted_by_text(&self, text: &str) -> bool {
        if let Ok(entries @ Value::Array(_)) = serde_json::from_str::<Value>(text) {
            return self.granted_by(&entries);
        }
        let listed = text.trim().strip_prefix('[').and_then(|t| t.strip_suffix(']')).unwrap_or(text);
        listed.split_whitespace().any(|entry| entry == self.value)
    }
}

/// Which claims say who the caller is (`ACCOUNT_CLAIM`, default
/// `account_id`) and whether it is the operator.
#[derive(Debug, Clone)]
pub struct TokenClaims {
    pub account: String,
    pub operator: OperatorScope,
}

impl Default for TokenClaims {
    fn default() -> Self {
        Self { account: "account_id".into(), operator: OperatorScope::default() }
    }
}

/// What a verified token says about its bearer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub account: AccountId,
    pub operator: bool,
}

impl TokenClaims {
    /// The caller a verified token's claims describe; `None` without a
    /// well-formed account claim.
    pub fn caller(&self, claim: impl Fn(&str) -> Option<Value>) -> Option<Caller> {
        let account = claim(&self.account)?.as_str()?.parse::<AccountId>().ok()?;
        let operator = claim(&self.operator.claim).is_some_and(|value| self.operator.granted_by(&value));
        Some(Caller { account, operator })
    }
}

/// Reads the caller from the claims API Gateway's JWT authorizer verified
/// (every claim a string there).
pub async fn from_api_gateway_claims(State(claims): State<Arc<TokenClaims>>, request: Request, next: Next) -> Response {
    let verified = request
        .extensions()
        .get::<RequestContext>()
        .and_then(|context| context.authorizer())
        .and_then(|authorizer| authorizer.jwt.as_ref())
        .map(|jwt| &jwt.claims);
    let caller = verified.and_then(|verified| claims.caller(|name| verified.get(name).cloned().map(Value::String)));
    proceed_as(caller, request, next).await
}

/// The end of every authenticating layer: the request goes on as the
/// caller, or is answered 401 when there is none.
pub async fn proceed_as(caller: Option<Caller>, mut request: Request, next: Next) -> Response {
    match caller {
        Some(Caller { account, operator }) => {
            request.extensions_mut().insert(AuthenticatedAccount(account));
            if operator {
                request.extensions_mut().insert(OperatorGrant);
            }
            next.run(request).await
        }
        None => ApiError::unauthorized().into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::StatusCode;
    use axum::routing::get;
    use axum::Router;
    use lambda_http::aws_lambda_events::apigw::{
        ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerJwtDescription, ApiGatewayV2httpRequestContext,
    };
    use serde_json::json;
    use tower::ServiceExt;

    async fn whoami(AuthenticatedAccount(account): AuthenticatedAccount) -> String {
        account.to_string()
    }

    async fn grant(OperatorForAccount(account): OperatorForAccount) -> String {
        account.to_string()
    }

    fn app() -> Router {
        Router::new()
            .route("/whoami", get(whoami))
            .route("/grant", get(grant))
            .layer(axum::middleware::from_fn_with_state(Arc::new(TokenClaims::default()), from_api_gateway_claims))
    }

    fn request_with_claims(claims: &[(&str, &str)]) -> Request {
        request_to("/whoami", claims)
    }

    fn request_to(path: &str, claims: &[(&str, &str)]) -> Request {
        let mut jwt = ApiGatewayRequestAuthorizerJwtDescription::default();
        jwt.claims = claims.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut authorizer = ApiGatewayRequestAuthorizer::default();
        authorizer.jwt = Some(jwt);
        let mut context = ApiGatewayV2httpRequestContext::default();
        context.authorizer = Some(authorizer);
        let mut request = Request::builder().uri(path).body(Body::empty()).unwrap();
        request.extensions_mut().insert(RequestContext::ApiGatewayV2(context));
        request
    }

    #[tokio::test]
    async fn the_account_comes_from_the_verified_claims() {
        let response = app().oneshot(request_with_claims(&[("account_id", "riverside")])).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = axum::body::to_bytes(response.into_body(), 1024).await.unwrap();
        assert_eq!(&body[..], b"riverside");
    }

    #[tokio::test]
    async fn without_the_claim_or_with_a_malformed_one_the_caller_is_unauthorized() {
        for claims in [vec![], vec![("sub", "riverside")], vec![("account_id", "has space")]] {
            let response = app().oneshot(request_with_claims(&claims)).await.unwrap();
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{claims:?}");
        }
        let bare = Request::builder().uri("/whoami").body(Body::empty()).unwrap();
        assert_eq!(app().oneshot(bare).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn only_a_token_with_the_operator_scope_acts_as_the_operator() {
        let practice = app().oneshot(request_to("/grant", &[("account_id", "riverside")])).await.unwrap();
        assert_eq!(practice.status(), StatusCode::FORBIDDEN);
        let other_scopes = [("account_id", "riverside"), ("scope", "openid tidings/credit.read")];
        assert_eq!(app().oneshot(request_to("/grant", &other_scopes)).await.unwrap().status(), StatusCode::FORBIDDEN);
        let operator = [("account_id", "riverside"), ("scope", "openid tidings/credit.write")];
        let response = app().oneshot(request_to("/grant", &operator)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = axum::body::to_bytes(response.into_body(), 1024).await.unwrap();
        assert_eq!(&body[..], b"riverside");
        let anonymous = Request::builder().uri("/grant").body(Body::empty()).unwrap();
        assert_eq!(app().oneshot(anonymous).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn the_scope_is_read_from_a_string_an_array_or_api_gateways_rendering_of_one() {
        let scope = OperatorScope::default();
        let granted = [
            json!("tidings/credit.write"),
            json!("openid  tidings/credit.write profile"),
            json!(["openid", "tidings/credit.write"]),
            json!("[openid tidings/credit.write]"),
            json!(r#"["openid","tidings/credit.write"]"#),
        ];
        for claim in granted {
            assert!(scope.granted_by(&claim), "{claim}");
        }
        let refused = [
            json!(""),
            json!("tidings/credit.writer"),
            json!("tidings/credit.write.all openid"),
            json!("tidings/credit.read"),
            json!(["tidings/credit.write extra"]),
            json!(true),
            json!({"scope": "tidings/credit.write"}),
        ];
        for claim in refused {
            assert!(!scope.granted_by(&claim), "{claim}");
        }
    }

    #[test]
    fn the_operator_claim_and_value_are_configurable() {
        let claims = TokenClaims {
            account: "tenant".into(),
            operator: OperatorScope { claim: "groups".into(), value: "billing-admin".into() },
        };
        let values = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| json!(v))
        };
        let operator = claims.caller(values(&[("tenant", "riverside"), ("groups", "[staff billing-admin]")]));
        assert_eq!(operator, Some(Caller { account: "riverside".parse().unwrap(), operator: true }));
        let default_scope = claims.caller(values(&[("tenant", "riverside"), ("scope", "tidings/credit.write")]));
        assert_eq!(default_scope.map(|c| c.operator), Some(false));
    }
}
