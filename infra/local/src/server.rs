//! `tidings-local serve`: the API as on AWS, behind the local token check,
//! plus the `/local` routes that stand in for the world outside.

use std::sync::Arc;

use axum::extract::{FromRequest, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tidings_api::error::ApiError;
use tidings_api::ApiState;

use crate::auth::require_token;
use crate::runtime::{Advance, LocalError, LocalRuntime};
use crate::sinks::OutboxEntry;

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
        other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "local_failure", other.to_string()),
    })
}

/// The whole local app: `/v1` (token required) and `/local` (open: it is
/// the developer's own machine).
pub fn app(runtime: Arc<LocalRuntime>) -> Router {
    let api = tidings_api::router(ApiState { records: runtime.records.clone() })
        .layer(axum::middleware::from_fn_with_state(runtime.token_key.clone(), require_token));
    let local = Router::new()
        .route("/local/outbox", get(outbox))
        .route("/local/clock", post(move_clock))
        .with_state(runtime);
    api.merge(local)
}

pub async fn serve(runtime: Arc<LocalRuntime>, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    if !runtime.is_manual() {
        tokio::spawn(runtime.clone().run_schedules());
    }
    axum::serve(listener, app(runtime)).await
}
