//! The `api` function: an axum Router under `/v1`, run by lambda_http behind
//! an API Gateway HTTP API, and served as is by the local runner.

pub mod auth;
pub mod error;
pub mod routes;

use std::sync::Arc;

use axum::routing::{get, post, put};
use axum::{Json, Router};
use tidings::services::RecordsService;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(Clone)]
pub struct ApiState {
    pub records: Arc<RecordsService>,
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Tidings API", description = "Patient messaging for practice-management software."),
    paths(
        routes::put_settings,
        routes::put_recipient,
        routes::put_appointment,
        routes::put_invoice,
        routes::list_messages,
        routes::get_template,
        routes::put_template,
        routes::preview_template
    ),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// The routes without authentication: the caller adds the layer that
/// establishes the account (API Gateway claims on AWS, local tokens locally).
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/v1/settings", put(routes::put_settings))
        .route("/v1/recipients/{id}", put(routes::put_recipient))
        .route("/v1/appointments/{id}", put(routes::put_appointment))
        .route("/v1/invoices/{id}", put(routes::put_invoice))
        .route("/v1/messages", get(routes::list_messages))
        .route("/v1/templates/{kind}/{channel}", get(routes::get_template).put(routes::put_template))
        .route("/v1/templates/{kind}/{channel}/preview", post(routes::preview_template))
        .route("/v1/openapi.json", get(openapi))
        .with_state(state)
}
