//! Provider webhooks: not behind the bearer token (providers cannot hold
//! one) but each verified by the provider's own signature.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use tidings::channels::fax::{FaxWebhookEvent, WebhookError};
use tidings::services::ReportOutcome;

use crate::error::ApiError;
use crate::routes::ApiBytes;
use crate::ApiState;

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct WebhookReceipt {
    /// `recorded`, or `ignored` for a repeat or an event about nothing of ours.
    #[schema(value_type = String)]
    pub outcome: ReportOutcome,
}

/// A fax provider's callback: a fax's status, or a fax received. 401 and
/// nothing changed when its signature does not verify; 200 for a repeat,
/// so the provider stops.
#[utoipa::path(post, path = "/webhooks/fax/{provider}", tag = "webhooks",
    params(("provider" = String, Path, description = "`telnyx`")),
    responses(
        (status = 200, body = WebhookReceipt),
        (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 413, description = "The body is over 256 KB", body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn fax_status(
    State(state): State<ApiState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    ApiBytes(body): ApiBytes,
) -> Result<Json<WebhookReceipt>, ApiError> {
    let verifier = state.fax_webhooks.iter().find(|v| v.provider() == provider).ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "unknown_provider", "no such fax provider is configured")
    })?;
    let event = verifier.verify(&headers, &body, state.clock.now()).map_err(|err| match err {
        WebhookError::BadSignature | WebhookError::Stale => {
            tracing::warn!(provider = verifier.provider(), error = %err, "fax webhook refused");
            ApiError::new(StatusCode::UNAUTHORIZED, "bad_signature", err.to_string())
        }
        WebhookError::Malformed(_) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "malformed_webhook", err.to_string())
        }
    })?;
    let outcome = match event {
        // A failure answers 5xx, so the provider delivers the webhook again.
        FaxWebhookEvent::Status(status) => {
            state.outcomes.fax_status(verifier.provider(), &status).await.map_err(|err| ApiError::from(&err))?
        }
        // wired by the replies service: until then a received fax is
        // acknowledged and dropped (the provider would only retry it).
        FaxWebhookEvent::Received(inbound) => {
            tracing::info!(provider = verifier.provider(), fax_id = %inbound.fax_id, "received fax ignored");
            ReportOutcome::Ignored
        }
    };
    Ok(Json(WebhookReceipt { outcome }))
}
