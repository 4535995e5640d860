//! The `api` function: an axum Router under `/v1`, run by lambda_http behind
//! an API Gateway HTTP API, and served as is by the local runner.

pub mod auth;
pub mod error;
pub mod routes;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::{Json, Router};
use tidings::channels::fax::{FaxMedia, FaxWebhookVerifier};
use tidings::domain::Clock;
use tidings::services::{
    AdHocService, ConsentService, CreditService, FormService, OutcomeService, RecordsService, ReplyService,
    StaffService,
};
use tidings::store::Store;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(Clone)]
pub struct ApiState {
    pub records: Arc<RecordsService>,
    pub credit: CreditService,
    pub outcomes: OutcomeService,
    pub replies: Arc<ReplyService>,
    pub consent: Arc<ConsentService>,
    pub staff: Arc<StaffService>,
    pub ad_hoc: Arc<AdHocService>,
    pub forms: Arc<FormService>,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    /// One per configured fax provider.
    pub fax_webhooks: Vec<FaxWebhook>,
}

/// A fax provider's webhook: how to check it, and where its received
/// faxes' PDFs are fetched from.
#[derive(Clone)]
pub struct FaxWebhook {
    pub verifier: Arc<dyn FaxWebhookVerifier>,
    pub media: Arc<dyn FaxMedia>,
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

/// The answers every route of a kind can give, declared once: API Gateway
/// throttles every route (429); a route that reads the store may find it
/// unavailable (503); a route that takes a JSON body refuses a malformed
/// one (400), one over [`MAX_BODY_BYTES`] (413) and another content type (415).
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build(),
                )
                .build()
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            for operation in [&mut item.get, &mut item.put, &mut item.post, &mut item.delete].into_iter().flatten() {
                let mut declare = |status: &str, description: &str| {
                    operation.responses.responses.entry(status.to_owned()).or_insert_with(|| error(description).into());
                };
                declare("429", "Throttled by API Gateway: retry later");
                if path != OPENAPI_PATH {
                    declare("503", "The store is unavailable: retrying may help");
                }
                if operation.request_body.is_some() {
                    declare("400", "Malformed JSON");
                    declare("413", &format!("The body is over {} KB", MAX_BODY_BYTES / 1024));
                    declare("415", "The body is not Content-Type: application/json");
                }
            }
        }
    }
}

// Each path names its own tag: utoipa would otherwise tag it with the module
// it is listed from below, and the tags are part of the published document,
// which must not change when a handler moves.
#[derive(OpenApi)]
#[openapi(
    info(title = "Tidings API", description = "Patient messaging for practice-management software."),
    paths(
        routes::settings::put_settings,
        routes::recipients::put_recipient,
        routes::appointments::put_appointment,
        routes::invoices::put_invoice,
        routes::messages::list_messages,
        routes::messages::post_message,
        routes::messages::get_message,
        routes::templates::get_template,
        routes::templates::put_template,
        routes::templates::preview_template,
        routes::credit::get_credit,
        routes::credit::post_purchase,
        routes::notifications::list_notifications,
        routes::notifications::mark_read,
        routes::contacts::put_contact,
        routes::contacts::list_contacts,
        routes::contacts::delete_contact,
        routes::consent::get_consent,
        routes::consent::put_consent,
        routes::replies::get_thread,
        routes::replies::list_replies,
        routes::replies::mark_read,
        routes::replies::get_attachment,
        routes::forms::post_form,
        routes::forms::get_form,
        routes::forms::submitted,
        routes::forms::revoke,
        routes::forms::verify,
        routes::users::put_user,
        routes::users::list_users,
        routes::users::delete_user,
        routes::webhooks::fax_status,
        routes::consent_page::show,
        routes::consent_page::confirm,
        routes::form_page::show,
        routes::form_page::enter_code,
        openapi
    ),
    modifiers(&BearerAuth, &CommonResponses)
)]
pub struct ApiDoc;

const OPENAPI_PATH: &str = "/v1/openapi.json";

/// A request body larger than this is refused (413) before it is parsed.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// This document.
#[utoipa::path(get, path = "/v1/openapi.json",
    responses((status = 200, description = "The OpenAPI document"), (status = 401, body = error::ErrorBody)),
    security(("bearer" = [])))]
async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// The methods the API serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    Put,
    Post,
    Delete,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::Put => "put",
            Verb::Post => "post",
            Verb::Delete => "delete",
        }
    }

    fn filter(self) -> MethodFilter {
        match self {
            Verb::Get => MethodFilter::GET,
            Verb::Put => MethodFilter::PUT,
            Verb::Post => MethodFilter::POST,
            Verb::Delete => MethodFilter::DELETE,
        }
    }
}

struct Route {
    verb: Verb,
    path: &'static str,
    handler: MethodRouter<ApiState>,
}

fn route<H: Handler<T, ApiState>, T: 'static>(verb: Verb, path: &'static str, handler: H) -> Route {
    Route { verb, path, handler: on(verb.filter(), handler) }
}

impl Route {
    /// A larger body than [`MAX_BODY_BYTES`] for this route alone.
    fn taking(mut self, max_body_bytes: usize) -> Self {
        self.handler = self.handler.layer(DefaultBodyLimit::max(max_body_bytes));
        self
    }
}

/// The account's routes; both routers are built from these lists, so what
/// [`served_routes`] says is what is served.
fn account_routes() -> Vec<Route> {
    vec![
        route(Verb::Put, "/v1/settings", routes::settings::put_settings),
        route(Verb::Put, "/v1/recipients/{id}", routes::recipients::put_recipient),
        route(Verb::Put, "/v1/appointments/{id}", routes::appointments::put_appointment),
        route(Verb::Put, "/v1/invoices/{id}", routes::invoices::put_invoice),
        route(Verb::Get, "/v1/messages", routes::messages::list_messages),
        route(Verb::Post, "/v1/messages", routes::messages::post_message)
            .taking(routes::messages::MAX_AD_HOC_BODY_BYTES),
        route(Verb::Get, "/v1/messages/{id}", routes::messages::get_message),
        route(Verb::Get, "/v1/templates/{kind}/{channel}", routes::templates::get_template),
        route(Verb::Put, "/v1/templates/{kind}/{channel}", routes::templates::put_template),
        route(Verb::Post, "/v1/templates/{kind}/{channel}/preview", routes::templates::preview_template),
        route(Verb::Get, "/v1/credit", routes::credit::get_credit),
        route(Verb::Post, "/v1/credit/purchases", routes::credit::post_purchase),
        route(Verb::Get, "/v1/notifications", routes::notifications::list_notifications),
        route(Verb::Post, "/v1/notifications/{id}/read", routes::notifications::mark_read),
        route(Verb::Put, "/v1/recipients/{id}/contacts/{contact_id}", routes::contacts::put_contact),
        route(Verb::Get, "/v1/recipients/{id}/contacts", routes::contacts::list_contacts),
        route(Verb::Delete, "/v1/recipients/{id}/contacts/{contact_id}", routes::contacts::delete_contact),
        route(Verb::Get, "/v1/recipients/{id}/consent", routes::consent::get_consent),
        route(Verb::Put, "/v1/recipients/{id}/consent", routes::consent::put_consent),
        route(Verb::Get, "/v1/recipients/{id}/thread", routes::replies::get_thread),
        route(Verb::Get, "/v1/replies", routes::replies::list_replies),
        route(Verb::Post, "/v1/replies/{id}/read", routes::replies::mark_read),
        route(Verb::Get, "/v1/replies/{id}/attachments/{attachment_id}", routes::replies::get_attachment),
        route(Verb::Post, "/v1/forms", routes::forms::post_form),
        route(Verb::Get, "/v1/forms/{id}", routes::forms::get_form),
        route(Verb::Post, "/v1/forms/{id}/submitted", routes::forms::submitted),
        route(Verb::Post, "/v1/forms/{id}/revoke", routes::forms::revoke),
        route(Verb::Get, "/v1/forms/{id}/verify", routes::forms::verify),
        route(Verb::Put, "/v1/users/{id}", routes::users::put_user),
        route(Verb::Get, "/v1/users", routes::users::list_users),
        route(Verb::Delete, "/v1/users/{id}", routes::users::delete_user),
        route(Verb::Get, OPENAPI_PATH, openapi),
    ]
}

/// Routes without a bearer token: provider callbacks, each verified by its
/// provider's signature, and the consent page, by its signed link.
fn public_routes() -> Vec<Route> {
    vec![
        route(Verb::Post, "/webhooks/fax/{provider}", routes::webhooks::fax_status),
        route(Verb::Get, "/consent/{token}", routes::consent_page::show),
        route(Verb::Post, "/consent/{token}", routes::consent_page::confirm),
        route(Verb::Get, "/f/{token}", routes::form_page::show),
        route(Verb::Post, "/f/{token}", routes::form_page::enter_code),
    ]
}

/// Every method and path the API serves, for comparing with the document.
pub fn served_routes() -> Vec<(Verb, &'static str)> {
    account_routes().into_iter().chain(public_routes()).map(|r| (r.verb, r.path)).collect()
}

fn build(routes: Vec<Route>, state: ApiState) -> Router {
    routes
        .into_iter()
        .fold(Router::new(), |router, r| router.route(r.path, r.handler))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// The account's routes, without authentication: the caller adds the layer
/// that establishes the account (API Gateway claims on AWS, local tokens
/// locally), then merges [`public`].
pub fn router(state: ApiState) -> Router {
    build(account_routes(), state)
}

/// The routes no bearer token guards ([`public_routes`]).
pub fn public(state: ApiState) -> Router {
    build(public_routes(), state)
}
