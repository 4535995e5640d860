//! Provider webhooks: not behind the bearer token (providers cannot hold
//! one) but each verified by the provider's own signature.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use tidings::channels::fax::{FaxWebhookEvent, WebhookError};
use tidings::services::{ReplyReceipt, ReportOutcome};

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
    let webhook = state.fax_webhooks.iter().find(|w| w.verifier.provider() == provider).ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "unknown_provider", "no such fax provider is configured")
    })?;
    let verifier = &webhook.verifier;
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
        // A fax sent to one of our numbers: a reply. Kept once (a retry of
        // the webhook is a repeat); a failure answers 5xx while the
        // provider's link to the PDF lives, so it is fetched again.
        FaxWebhookEvent::Received(inbound) => {
            match state.replies.receive_fax(webhook.media.as_ref(), &inbound).await.map_err(|e| ApiError::from(&e))? {
                ReplyReceipt::Recorded { .. } => ReportOutcome::Recorded,
                ReplyReceipt::Repeated { .. } | ReplyReceipt::Unroutable | ReplyReceipt::Refused(_) => {
                    ReportOutcome::Ignored
                }
            }
        }
    };
    Ok(Json(WebhookReceipt { outcome }))
}
