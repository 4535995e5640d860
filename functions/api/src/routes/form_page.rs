//! `/f/{token}`: the public page a form's link opens. Its link is its
//! authority (no bearer token). `GET` asks for the access code and changes
//! nothing (mail scanners open links); the code is `POST`ed as a plain
//! form, so the page works without JavaScript. The right code answers 303
//! to the practice's form with a short-lived access token; a wrong one asks
//! again (five lock the link); a link that ended says so (410).

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tidings::domain::form::FormStatus;
use tidings::domain::template::escape_html;
use tidings::services::{FormError, FormPage};

use crate::routes::page::html;
use crate::routes::ApiBytes;
use crate::ApiState;

/// The most an access code field may hold (the code is six digits).
const MAX_CODE_CHARS: usize = 32;

#[utoipa::path(get, path = "/f/{token}", tag = "forms",
    params(("token" = String, Path, description = "The link of a form request")),
    responses(
        (status = 200, description = "The page: asks for the access code", content_type = "text/html"),
        (status = 404, description = "The link is not valid", content_type = "text/html"),
        (status = 410, description = "The link has ended: submitted, expired, locked or revoked",
            content_type = "text/html")))]
pub async fn show(State(state): State<ApiState>, Path(token): Path<String>) -> Response {
    page(state.forms.page(&token).await)
}

/// The access code, as the page's form posts it
/// (`application/x-www-form-urlencoded`, `access_code=…`).
#[utoipa::path(post, path = "/f/{token}", tag = "forms",
    params(("token" = String, Path, description = "The link of a form request")),
    responses(
        (status = 303, description = "The code is right: on to the practice's form with `access_token`"),
        (status = 401, description = "The code is wrong: the page asks again", content_type = "text/html"),
        (status = 404, description = "The link is not valid", content_type = "text/html"),
        (status = 410, description = "The link has ended (the fifth wrong code locks it)", content_type = "text/html"),
        (status = 413, description = "The body is over 256 KB", body = crate::error::ErrorBody)))]
pub async fn enter_code(State(state): State<ApiState>, Path(token): Path<String>, form: ApiBytes) -> Response {
    let code = form_urlencoded::parse(&form.0)
        .find(|(name, _)| name == "access_code")
        .map(|(_, value)| value.chars().take(MAX_CODE_CHARS).collect::<String>())
        .unwrap_or_default();
    page(state.forms.enter_code(&token, &code).await)
}

fn page(result: Result<FormPage, FormError>) -> Response {
    match result {
        Ok(FormPage::AskCode { practice_name, title, tries_left }) => {
            form_page(StatusCode::OK, &practice_name, &title, None, tries_left)
        }
        Ok(FormPage::WrongCode { practice_name, title, tries_left }) => {
            let wrong = "That code is not right. Please check the message and try again.";
            form_page(StatusCode::UNAUTHORIZED, &practice_name, &title, Some(wrong), tries_left)
        }
        Ok(FormPage::Continue { url }) => match HeaderValue::from_str(&url) {
            Ok(location) => (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response(),
            Err(_) => unavailable(),
        },
        Ok(FormPage::Ended { practice_name, status }) => {
            let why = match status {
                FormStatus::Locked => "It was locked after too many wrong codes.",
                FormStatus::Submitted => "The form was submitted.",
                FormStatus::Expired => "It has expired.",
                FormStatus::Revoked | FormStatus::Sent | FormStatus::Opened => "The practice withdrew it.",
            };
            html(
                StatusCode::GONE,
                "Link ended",
                &format!(
                    "<h1>This link has ended</h1><p>{why}</p><p>Please contact {practice} if you still need the \
                     form.</p>",
                    practice = practice(&practice_name),
                ),
            )
        }
        Ok(FormPage::Unknown) => html(
            StatusCode::NOT_FOUND,
            "Link not valid",
            "<h1>This link is not valid</h1><p>Please use the link in the most recent message the practice sent \
             you.</p>",
        ),
        Err(err) => {
            tracing::warn!(error = %err, "form page unavailable");
            unavailable()
        }
    }
}

fn unavailable() -> Response {
    html(
        StatusCode::SERVICE_UNAVAILABLE,
        "Please try again",
        "<h1>Something went wrong</h1><p>Please try again in a few minutes.</p>",
    )
}

fn practice(name: &str) -> String {
    if name.is_empty() {
        "the practice".to_owned()
    } else {
        escape_html(name)
    }
}

fn form_page(status: StatusCode, practice_name: &str, title: &str, error: Option<&str>, tries_left: u32) -> Response {
    let error = error.map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape_html(e))).unwrap_or_default();
    let body = format!(
        "<h1>{title}</h1>\
         <p>{practice} sent you this form. Enter the access code from the message to open it.</p>\
         {error}\
         <form method=\"post\">\
         <label for=\"access_code\">Access code</label>\
         <input id=\"access_code\" name=\"access_code\" inputmode=\"numeric\" autocomplete=\"one-time-code\" \
         maxlength=\"{MAX_CODE_CHARS}\" required>\
         <button type=\"submit\">Open the form</button>\
         </form>\
         <p class=\"quiet\">{tries_left} tries left before the link locks.</p>",
        title = escape_html(title),
        practice = practice(practice_name),
    );
    let mut response = html(status, title, &body);
    // The right code continues to the practice's own form, elsewhere.
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' https:; frame-ancestors 'none'",
        ),
    );
    response
}
