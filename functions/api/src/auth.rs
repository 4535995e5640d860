//! Who is calling. The account always comes from a verified token, never
//! from the request body. On AWS the API Gateway JWT authorizer verifies the
//! token and passes its claims; the local runner verifies its own tokens.
//! Either way a layer puts an [`AuthenticatedAccount`] in the request.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use lambda_http::request::RequestContext;
use tidings::domain::AccountId;

use crate::error::ApiError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedAccount(pub AccountId);

impl<S: Send + Sync> FromRequestParts<S> for AuthenticatedAccount {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<AuthenticatedAccount>()
            .cloned()
            .ok_or_else(ApiError::unauthorized)
    }
}

/// The name of the claim that carries the account id (`ACCOUNT_CLAIM`).
#[derive(Debug, Clone)]
pub struct AccountClaim(pub String);

/// Reads the account from the claims API Gateway's JWT authorizer verified.
pub async fn from_api_gateway_claims(
    State(claim): State<Arc<AccountClaim>>,
    request: Request,
    next: Next,
) -> Response {
    let account = request
        .extensions()
        .get::<RequestContext>()
        .and_then(|context| context.authorizer())
        .and_then(|authorizer| authorizer.jwt.as_ref())
        .and_then(|jwt| jwt.claims.get(&claim.0))
        .and_then(|value| value.parse::<AccountId>().ok());
    proceed_as(account, request, next).await
}

/// The end of every authenticating layer: the request goes on as the
/// account, or is answered 401 when there is none.
pub async fn proceed_as(account: Option<AccountId>, mut request: Request, next: Next) -> Response {
    match account {
        Some(account) => {
            request.extensions_mut().insert(AuthenticatedAccount(account));
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
        ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerJwtDescription,
        ApiGatewayV2httpRequestContext,
    };
    use tower::ServiceExt;

    async fn whoami(AuthenticatedAccount(account): AuthenticatedAccount) -> String {
        account.to_string()
    }

    fn app() -> Router {
        Router::new().route("/whoami", get(whoami)).layer(axum::middleware::from_fn_with_state(
            Arc::new(AccountClaim("account_id".into())),
            from_api_gateway_claims,
        ))
    }

    fn request_with_claims(claims: &[(&str, &str)]) -> Request {
        let mut jwt = ApiGatewayRequestAuthorizerJwtDescription::default();
        jwt.claims = claims.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut authorizer = ApiGatewayRequestAuthorizer::default();
        authorizer.jwt = Some(jwt);
        let mut context = ApiGatewayV2httpRequestContext::default();
        context.authorizer = Some(authorizer);
        let mut request = Request::builder().uri("/whoami").body(Body::empty()).unwrap();
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
}
