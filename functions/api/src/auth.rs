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
    mut request: Request,
    next: Next,
) -> Response {
    let account = request
        .extensions()
        .get::<RequestContext>()
        .and_then(|context| context.authorizer())
        .and_then(|authorizer| authorizer.jwt.as_ref())
        .and_then(|jwt| jwt.claims.get(&claim.0))
        .and_then(|value| value.parse::<AccountId>().ok());
    match account {
        Some(account) => {
            request.extensions_mut().insert(AuthenticatedAccount(account));
            next.run(request).await
        }
        None => ApiError::unauthorized().into_response(),
    }
}
