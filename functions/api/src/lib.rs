//! The `api` function: an axum Router under `/v1`, run by lambda_http behind
//! an API Gateway HTTP API, and served as is by the local runner.

pub mod auth;
pub mod credit;
pub mod error;
pub mod routes;
pub mod webhooks;

use std::sync::Arc;

use axum::routing::{get, post, put};
use axum::{Json, Router};
use tidings::channels::fax::FaxWebhookVerifier;
use tidings::domain::Clock;
use tidings::services::{CreditService, OutcomeService, RecordsService};
use tidings::store::Store;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(Clone)]
pub struct ApiState {
    pub records: Arc<RecordsService>,
    pub credit: CreditService,
    pub outcomes: OutcomeService,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    /// One per configured fax provider.
    pub fax_webhooks: Vec<Arc<dyn FaxWebhookVerifier>>,
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
        routes::get_message,
        routes::get_template,
        routes::put_template,
        routes::preview_template,
        credit::get_credit,
        credit::post_purchase,
        credit::list_notifications,
        webhooks::fax_status
    ),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// The account's routes, without authentication: the caller adds the layer
/// that establishes the account (API Gateway claims on AWS, local tokens
/// locally), then merges [`webhooks`].
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/v1/settings", put(routes::put_settings))
        .route("/v1/recipients/{id}", put(routes::put_recipient))
        .route("/v1/appointments/{id}", put(routes::put_appointment))
        .route("/v1/invoices/{id}", put(routes::put_invoice))
        .route("/v1/messages", get(routes::list_messages))
        .route("/v1/messages/{id}", get(routes::get_message))
        .route("/v1/templates/{kind}/{channel}", get(routes::get_template).put(routes::put_template))
        .route("/v1/templates/{kind}/{channel}/preview", post(routes::preview_template))
        .route("/v1/credit", get(credit::get_credit))
        .route("/v1/credit/purchases", post(credit::post_purchase))
        .route("/v1/notifications", get(credit::list_notifications))
        .route("/v1/openapi.json", get(openapi))
        .with_state(state)
}

/// Provider callbacks, each verified by its provider's signature instead of
/// a bearer token.
pub fn webhooks(state: ApiState) -> Router {
    Router::new().route("/webhooks/fax/{provider}", post(webhooks::fax_status)).with_state(state)
}
