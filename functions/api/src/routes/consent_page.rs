//! `/consent/{token}`: the public page an email opt-in request links to.
//! Its signed link is its authority (no bearer token). `GET` shows the
//! practice, what the recipient agrees to and the privacy policy, and
//! changes nothing (email scanners open links); the Confirm button `POST`s
//! a plain form, so the page works without JavaScript. A second use shows
//! that consent is recorded.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use tidings::domain::template::escape_html;
use tidings::domain::ConsentLinkError;
use tidings::services::{ConsentError, ConsentPage};

use crate::routes::page::html;
use crate::routes::ApiBytes;
use crate::ApiState;

/// The consent page of an opt-in request's link.
#[utoipa::path(get, path = "/consent/{token}", tag = "consent",
    params(("token" = String, Path, description = "The signed link of an opt-in request email")),
    responses(
        (status = 200, description = "The page: what the recipient agrees to, and Confirm", content_type = "text/html"),
        (status = 404, description = "The link is not valid", content_type = "text/html"),
        (status = 410, description = "The link has expired", content_type = "text/html")))]
pub async fn show(State(state): State<ApiState>, Path(token): Path<String>) -> Response {
    page(state.consent.link_page(&token).await)
}

/// Confirm: records the consent the link asks for, once. The form posts
/// no fields; its body is read only so that one over the API's bound is
/// refused like any other.
#[utoipa::path(post, path = "/consent/{token}", tag = "consent",
    params(("token" = String, Path, description = "The signed link of an opt-in request email")),
    responses(
        (status = 200, description = "Consent is recorded", content_type = "text/html"),
        (status = 404, description = "The link is not valid", content_type = "text/html"),
        (status = 410, description = "The link has expired", content_type = "text/html"),
        (status = 413, description = "The body is over 256 KB", body = crate::error::ErrorBody)))]
pub async fn confirm(State(state): State<ApiState>, Path(token): Path<String>, _form: ApiBytes) -> Response {
    page(state.consent.consent_by_link(&token).await)
}

fn page(result: Result<ConsentPage, ConsentError>) -> Response {
    match result {
        Ok(page) if page.recorded => html(StatusCode::OK, "Consent recorded", &recorded(&page)),
        Ok(page) => html(StatusCode::OK, &format!("Messages from {}", page.practice_name), &ask(&page)),
        Err(ConsentError::Link(ConsentLinkError::Expired)) => html(
            StatusCode::GONE,
            "Link expired",
            "<h1>This link has expired</h1><p>Please contact the practice if you would like to get their \
             messages.</p>",
        ),
        Err(ConsentError::Link(_)) => html(
            StatusCode::NOT_FOUND,
            "Link not valid",
            "<h1>This link is not valid</h1><p>Please use the most recent email the practice sent you, or \
             contact the practice.</p>",
        ),
        Err(err) => {
            tracing::warn!(error = %err, "consent page unavailable");
            html(
                StatusCode::SERVICE_UNAVAILABLE,
                "Please try again",
                "<h1>Something went wrong</h1><p>Nothing was recorded. Please try again in a few minutes.</p>",
            )
        }
    }
}

fn ask(page: &ConsentPage) -> String {
    format!(
        "<h1>Messages from {practice}</h1>\
         <form method=\"post\">\
         <p>{statement}</p>\
         {policy}\
         <button type=\"submit\">Confirm</button>\
         </form>\
         <p class=\"quiet\">If you do not confirm, you will not get these messages.</p>",
        practice = escape_html(&page.practice_name),
        statement = escape_html(&page.statement),
        policy = policy_link(page),
    )
}

fn recorded(page: &ConsentPage) -> String {
    format!(
        "<h1>Thank you</h1><p>Your consent is recorded: {practice} can now send you appointment messages.</p>\
         {policy}<p class=\"quiet\">To stop them, reply STOP to a text, or contact the practice.</p>",
        practice = escape_html(&page.practice_name),
        policy = policy_link(page),
    )
}

fn policy_link(page: &ConsentPage) -> String {
    page.privacy_policy_url
        .as_deref()
        .map(|url| format!("<p>Read our <a href=\"{}\">privacy policy</a>.</p>", escape_html(url)))
        .unwrap_or_default()
}
