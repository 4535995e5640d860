//! The public pages (a consent link, a form's link): server-rendered HTML
//! that works without JavaScript.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tidings::domain::template::escape_html;

/// A whole page: readable on a phone, no script, nothing loaded from
/// elsewhere, never cached, indexed or sent on as a referrer (its address
/// carries the link).
pub fn html(status: StatusCode, title: &str, body: &str) -> Response {
    let document = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>\
         body{{font-family:system-ui,sans-serif;font-size:17px;line-height:1.5;margin:0 auto;max-width:36em;\
         padding:1.5em 1em;color:#222}}\
         h1{{font-size:1.4em;margin-top:0}}\
         button{{font-size:1.1em;padding:.7em 2em;border:0;border-radius:6px;background:#1a5fb4;color:#fff;\
         width:100%;max-width:20em;cursor:pointer}}\
         input{{font-size:1.3em;padding:.5em;width:100%;max-width:12em;box-sizing:border-box;letter-spacing:.2em;\
         margin:.3em 0 1em}}\
         label{{display:block;font-weight:600}}\
         .error{{color:#a51d2d}}\
         .quiet{{color:#555;font-size:.9em}}\
         </style></head><body><main>{body}</main></body></html>",
        title = escape_html(title),
    );
    let mut response = (status, document).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert("x-robots-tag", HeaderValue::from_static("noindex"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    response
}
