//! `tidings-local serve`: the API as on AWS, behind the local token check,
//! plus the `/local` routes that stand in for the world outside.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRequest, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tidings::domain::PhoneNumber;
use tidings_api::error::ApiError;
use tidings_delivery_status::StatusReport;
use tidings_ingest_replies::IngestReport;

use crate::auth::require_token;
use crate::fax::{self, MediaLookup, ReceivedFax};
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
    let body =
        fax::status_body(&fax_id, delivered, report.pages, report.failure_reason.as_deref(), runtime.clock.now());
    fax::post_webhook(&runtime, body).await.map_err(local_failure)
}

/// A body carrying a 20 MB fax (Telnyx's media cap here), base64-encoded.
const INBOUND_FAX_BODY_LIMIT: usize = 28 * 1024 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InboundFaxRequest {
    from: String,
    to: String,
    /// The PDF, standard base64.
    pdf_base64: String,
}

/// Someone faxes one of the deployment's numbers: the local provider keeps
/// the PDF behind its media link and posts the signed `fax.received`
/// through the API's route, whose status this answers with.
async fn inbound_fax(
    State(runtime): State<Arc<LocalRuntime>>,
    LocalJson(request): LocalJson<InboundFaxRequest>,
) -> Result<(StatusCode, Json<ReceivedFax>), ApiError> {
    let invalid = |message: String| ApiError::new(StatusCode::BAD_REQUEST, "invalid_field", message);
    let number =
        |field: &str, value: &str| value.parse::<PhoneNumber>().map_err(|err| invalid(format!("{field}: {err}")));
    let from = number("from", &request.from)?;
    let to = number("to", &request.to)?;
    let pdf = base64::engine::general_purpose::STANDARD
        .decode(request.pdf_base64.trim())
        .map_err(|_| invalid("pdf_base64: not standard base64".into()))?;
    if !pdf.starts_with(b"%PDF-") {
        return Err(invalid("pdf_base64: not a PDF".into()));
    }
    let received = fax::receive(&runtime, &from, &to, pdf).await.map_err(local_failure)?;
    let status = StatusCode::from_u16(received.webhook_status).unwrap_or(StatusCode::BAD_GATEWAY);
    Ok((status, Json(received)))
}

/// A received fax's PDF, as Telnyx's media link serves it: 403 once the
/// link has expired, as S3 answers an expired presigned URL.
async fn fax_media(State(runtime): State<Arc<LocalRuntime>>, Path(fax_id): Path<String>) -> Response {
    match runtime.fax_media.lookup(&fax_id, runtime.clock.now()) {
        MediaLookup::Pdf(pdf) => ([(header::CONTENT_TYPE, "application/pdf")], pdf).into_response(),
        MediaLookup::Expired => {
            ApiError::new(StatusCode::FORBIDDEN, "link_expired", "the media link has expired").into_response()
        }
        MediaLookup::Missing => {
            ApiError::new(StatusCode::NOT_FOUND, "no_such_fax", "no fax was received with this id").into_response()
        }
    }
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
    /// Parsed here, so a malformed number is refused (422) rather than
    /// dropped as unreadable by the handler.
    from: PhoneNumber,
    to: PhoneNumber,
    body: String,
}

/// A recipient texts a number of the deployment's: through `ingest-replies`
/// as AWS End User Messaging's SNS topic would deliver it.
async fn inbound_sms(
    State(runtime): State<Arc<LocalRuntime>>,
    LocalJson(sms): LocalJson<InboundSms>,
) -> Result<Json<IngestReport>, ApiError> {
    runtime.receive_sms(sms.from.as_str(), sms.to.as_str(), &sms.body).await.map(Json).map_err(local_failure)
}

/// SES takes messages up to 40 MB.
const INBOUND_EMAIL_MAX_BYTES: usize = 40 * 1024 * 1024;

/// An email to the reply domain (a raw RFC 5322 message, `content-type:
/// message/rfc822`): stored as SES's receipt rule stores it, then through
/// `ingest-replies` as its Lambda action invokes it.
async fn inbound_email(
    State(runtime): State<Arc<LocalRuntime>>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<IngestReport>, ApiError> {
    let content_type = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !content_type.trim().to_ascii_lowercase().starts_with("message/rfc822") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the raw message with Content-Type: message/rfc822",
        ));
    }
    runtime.receive_email(body.to_vec()).await.map(Json).map_err(|err| match err {
        LocalError::Wiring(_) => ApiError::new(StatusCode::BAD_REQUEST, "invalid_email", err.to_string()),
        other => local_failure(other),
    })
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

/// A stand-in for a practice app's own form, where a form's page sends
/// the recipient with the right code (`form_url`
/// `http://127.0.0.1:PORT/local/form`): it says it was reached, and with
/// which token (check it with `GET /v1/forms/{id}/verify`).
async fn practice_form(
    axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> axum::response::Html<String> {
    let token = if query.contains_key("access_token") { "with an access token" } else { "without an access token" };
    axum::response::Html(format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>The practice's form</title></head>\
         <body><h1>The practice's form</h1><p>Reached {token}.</p></body></html>"
    ))
}

/// The whole local app: `/v1` (token required), `/webhooks` (signed by
/// the provider), and `/local` (open: it is the developer's own machine).
pub fn app(runtime: Arc<LocalRuntime>) -> Result<Router, LocalError> {
    let state = runtime.api_state()?;
    let api = tidings_api::router(state.clone())
        .layer(axum::middleware::from_fn_with_state(runtime.token_key.clone(), require_token))
        .merge(tidings_api::public(state));
    let local = Router::new()
        .route("/local/outbox", get(outbox))
        .route("/local/clock", post(move_clock))
        .route("/local/events", get(events))
        .route("/local/form", get(practice_form))
        .route("/local/voice/{message_id}/digits", post(answer_call))
        .route("/local/fax/{fax_id}/status", post(report_fax))
        .route("/local/fax/inbound", post(inbound_fax).layer(DefaultBodyLimit::max(INBOUND_FAX_BODY_LIMIT)))
        .route("/local/fax/media/{fax_id}", get(fax_media))
        .route("/local/ses/notifications", post(ses_notification))
        .route("/local/sms/delivery-logs", post(sms_delivery_log))
        .route("/local/sms/inbound", post(inbound_sms))
        .route("/local/email/inbound", post(inbound_email).layer(DefaultBodyLimit::max(INBOUND_EMAIL_MAX_BYTES)))
        .with_state(runtime);
    Ok(api.merge(local))
}

pub async fn serve(runtime: Arc<LocalRuntime>, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    runtime.origin.set(listener.local_addr()?);
    if !runtime.is_manual() {
        tokio::spawn(runtime.clone().run_schedules());
    }
    let app = app(runtime).map_err(std::io::Error::other)?;
    axum::serve(listener, app).await
}
