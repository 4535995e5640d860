//! `tidings-local serve`: the API as on AWS, behind the local token check,
//! plus the `/local` routes that stand in for the world outside.

use std::sync::Arc;

use axum::extract::{FromRequest, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tidings_api::error::ApiError;
use tidings_delivery_status::StatusReport;
use tidings_ingest_replies::IngestReport;
use tower::ServiceExt;

use crate::auth::require_token;
use crate::fax;
use crate::runtime::{Advance, LocalError, LocalRuntime};
use crate::sinks::OutboxEntry;
use crate::voice::{self, Answer, CallError, CallTranscript};

#[derive(Serialize)]
struct OutboxView {
    messages: Vec<OutboxEntry>,
}

async fn outbox(State(runtime): State<Arc<LocalRuntime>>) -> Json<OutboxView> {
    Json(OutboxView { messages: runtime.outbox.entries() })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockMove {
    now: DateTime<Utc>,
}

#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
struct LocalJson<T>(T);

async fn move_clock(
    State(runtime): State<Arc<LocalRuntime>>,
    LocalJson(body): LocalJson<ClockMove>,
) -> Result<Json<Advance>, ApiError> {
    runtime.advance_to(body.now).await.map(Json).map_err(|err| match err {
        LocalError::ClockNotManual => ApiError::new(StatusCode::CONFLICT, "clock_not_manual", err.to_string()),
        LocalError::ClockBackwards => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "clock_backwards", err.to_string())
        }
        other => local_failure(other),
    })
}

fn local_failure(err: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "local_failure", err.to_string())
}

/// Someone takes the call placed for a message: keys pressed, or no answer.
async fn answer_call(
    State(runtime): State<Arc<LocalRuntime>>,
    Path(message_id): Path<String>,
    LocalJson(answer): LocalJson<Answer>,
) -> Result<Json<CallTranscript>, ApiError> {
    let transcript =
        voice::answer(&runtime.voice, &runtime.calls, &message_id, &answer).await.map_err(|err| match err {
            CallError::NoSuchCall => ApiError::new(StatusCode::NOT_FOUND, "no_such_call", err.to_string()),
            CallError::UnknownOutcome | CallError::InvalidDigits => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", err.to_string())
            }
            CallError::Handler(_) => local_failure(err),
        })?;
    runtime.bus.idle().await;
    Ok(Json(transcript))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaxReport {
    /// `delivered` or `failed`.
    status: String,
    #[serde(default)]
    pages: u32,
    #[serde(default)]
    failure_reason: Option<String>,
}

/// The fax provider reports on a fax: posted as its signed webhook through
/// the API's own route, exactly as it would arrive on AWS.
async fn report_fax(
    State(runtime): State<Arc<LocalRuntime>>,
    Path(fax_id): Path<String>,
    LocalJson(report): LocalJson<FaxReport>,
) -> Result<Response, ApiError> {
    let delivered = match report.status.as_str() {
        "delivered" => true,
        "failed" => false,
        _ => {
            return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", "status: delivered or failed"))
        }
    };
    let now = runtime.clock.now();
    let body = fax::status_body(&fax_id, delivered, report.pages, report.failure_reason.as_deref(), now);
    let signature = runtime.fax_signer.sign(now.timestamp(), &body);
    let request = axum::http::Request::post("/webhooks/fax/telnyx")
        .header("content-type", "application/json")
        .header("telnyx-timestamp", now.timestamp().to_string())
        .header("telnyx-signature-ed25519", signature)
        .body(axum::body::Body::from(body))
        .map_err(local_failure)?;
    let state = runtime.api_state().map_err(local_failure)?;
    let response = tidings_api::webhooks(state).oneshot(request).await.map_err(local_failure)?;
    Ok(response)
}

/// SES's notification about an email, as its SNS topic would deliver it to
/// `delivery-status`.
async fn ses_notification(
    State(runtime): State<Arc<LocalRuntime>>,
    LocalJson(notification): LocalJson<serde_json::Value>,
) -> Result<Json<StatusReport>, ApiError> {
    runtime.deliver_ses_notification(&notification).await.map(Json).map_err(local_failure)
}

/// SNS's SMS delivery status log entry about a text, as its log
/// subscription would deliver it to `delivery-status`.
async fn sms_delivery_log(
    State(runtime): State<Arc<LocalRuntime>>,
    LocalJson(entry): LocalJson<serde_json::Value>,
) -> Result<Json<StatusReport>, ApiError> {
    runtime.deliver_sms_log(&entry).await.map(Json).map_err(local_failure)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InboundSms {
    from: String,
    to: String,
    body: String,
}

/// A recipient texts a number of the deployment's: through `ingest-replies`
/// as AWS End User Messaging's SNS topic would deliver it.
async fn inbound_sms(
    State(runtime): State<Arc<LocalRuntime>>,
    LocalJson(sms): LocalJson<InboundSms>,
) -> Result<Json<IngestReport>, ApiError> {
    runtime.receive_sms(&sms.from, &sms.to, &sms.body).await.map(Json).map_err(local_failure)
}

#[derive(Serialize)]
struct EventView {
    detail_type: &'static str,
    detail: serde_json::Value,
}

/// Everything put on the bus, `TopUpRequested` included.
async fn events(State(runtime): State<Arc<LocalRuntime>>) -> Json<Vec<EventView>> {
    let events =
        runtime.bus.published().into_iter().map(|e| EventView { detail_type: e.detail_type, detail: e.detail });
    Json(events.collect())
}

/// The whole local app: `/v1` (token required), `/webhooks` (signed by
/// the provider), and `/local` (open: it is the developer's own machine).
pub fn app(runtime: Arc<LocalRuntime>) -> Result<Router, LocalError> {
    let state = runtime.api_state()?;
    let api = tidings_api::router(state.clone())
        .layer(axum::middleware::from_fn_with_state(runtime.token_key.clone(), require_token))
        .merge(tidings_api::webhooks(state));
    let local = Router::new()
        .route("/local/outbox", get(outbox))
        .route("/local/clock", post(move_clock))
        .route("/local/events", get(events))
        .route("/local/voice/{message_id}/digits", post(answer_call))
        .route("/local/fax/{fax_id}/status", post(report_fax))
        .route("/local/ses/notifications", post(ses_notification))
        .route("/local/sms/delivery-logs", post(sms_delivery_log))
        .route("/local/sms/inbound", post(inbound_sms))
        .with_state(runtime);
    Ok(api.merge(local))
}

pub async fn serve(runtime: Arc<LocalRuntime>, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    if !runtime.is_manual() {
        tokio::spawn(runtime.clone().run_schedules());
    }
    let app = app(runtime).map_err(std::io::Error::other)?;
    axum::serve(listener, app).await
}
