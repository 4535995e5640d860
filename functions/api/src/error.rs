//! The API's errors: JSON `{"error": {"code", "message"}}` with a status
//! that says whose fault it is.

use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tidings::domain::schedule::InvalidQuietHours;
use tidings::domain::settings::SettingsError;
use tidings::domain::TemplateError;
use tidings::services::{RecordsError, ReplyError};
use tidings::store::StoreError;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `malformed_json`, `invalid_field`,
    /// `unknown_recipient`, `start_in_past`, `unauthorized`, `forbidden`, …
    pub code: String,
    pub message: String,
}

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "a valid bearer token is required")
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "send Content-Type: application/json")
    }

    pub fn forbidden(message: &'static str) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn invalid_id(what: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_id", format!("{what}: {}", tidings::domain::InvalidId))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: ErrorDetail { code: self.code.to_owned(), message: self.message } };
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(err) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", describe_data_error(&err.body_text()))
            }
            JsonRejection::MissingJsonContentType(_) => Self::unsupported_media_type(),
            JsonRejection::BytesRejection(rejection) => rejection.into(),
            other => Self::new(StatusCode::BAD_REQUEST, "malformed_json", other.body_text()),
        }
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            let message = format!("a request body is at most {} KB", crate::MAX_BODY_BYTES / 1024);
            return Self::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", message);
        }
        Self::new(rejection.status(), "unreadable_body", rejection.body_text())
    }
}

/// The field and what is wrong with it, without the offending value: serde
/// quotes values ("unknown variant `Ann`"), and a value may be PHI. Only
/// messages that quote no input are passed on whole.
fn describe_data_error(text: &str) -> String {
    use tidings::domain::{recipient::InvalidLanguage, ContactError, InvalidId};
    let detail = text.strip_prefix("Failed to deserialize the JSON body into the target type: ").unwrap_or(text);
    let (path, problem) = match detail.split_once(": ") {
        Some((path, problem)) if !path.contains(' ') => (path, problem),
        _ => ("body", detail),
    };
    let ours = [
        ContactError::Phone.to_string(),
        ContactError::PhoneLetters.to_string(),
        ContactError::PhoneExtension.to_string(),
        ContactError::Email.to_string(),
        ContactError::EmailDomain.to_string(),
        ContactError::TimeZone.to_string(),
        InvalidId.to_string(),
        InvalidLanguage.to_string(),
    ];
    // Field names are the API's own words, never input values.
    let names_fields_only = ["unknown field", "missing field"].iter().any(|p| problem.starts_with(p));
    if names_fields_only || ours.iter().any(|m| problem.starts_with(m.as_str())) {
        return format!("{path}: {problem}");
    }
    match problem.split_once(", expected ") {
        Some((_, expected)) => format!("{path}: not a valid value, expected {expected}"),
        None => format!("{path}: not a valid value"),
    }
}

impl From<RecordsError> for ApiError {
    fn from(err: RecordsError) -> Self {
        let unprocessable = |code| Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, err.to_string());
        match &err {
            RecordsError::InvalidSettings(SettingsError::QuietHours(InvalidQuietHours::WiderThanDeployment(_))) => {
                unprocessable("quiet_hours_too_wide")
            }
            RecordsError::InvalidSettings(_) => unprocessable("invalid_settings"),
            RecordsError::UnregisteredSender { .. } => unprocessable("unregistered_sender"),
            RecordsError::MissingAddress(_) => unprocessable("missing_address"),
            RecordsError::InvalidText(_) => unprocessable("invalid_field"),
            RecordsError::UnknownRecipient => unprocessable("unknown_recipient"),
            RecordsError::StartInPast => unprocessable("start_in_past"),
            RecordsError::Template(TemplateError::SourceTooLarge { .. }) => unprocessable("template_too_large"),
            RecordsError::Template(_) => unprocessable("invalid_template"),
            RecordsError::InvalidAmount | RecordsError::InvalidPayUrl | RecordsError::TooFar => {
                unprocessable("invalid_field")
            }
            RecordsError::UnknownRecipientFilter => {
                Self::new(StatusCode::NOT_FOUND, "unknown_recipient", err.to_string())
            }
            RecordsError::UnknownInvoice => Self::new(StatusCode::NOT_FOUND, "unknown_invoice", err.to_string()),
            RecordsError::UnknownContact => Self::new(StatusCode::NOT_FOUND, "unknown_contact", err.to_string()),
            RecordsError::InvalidContactLink(_) => unprocessable("invalid_field"),
            RecordsError::InvalidCursor(_) => Self::new(StatusCode::BAD_REQUEST, "invalid_cursor", err.to_string()),
            RecordsError::UnknownAppointment => {
                Self::new(StatusCode::NOT_FOUND, "unknown_appointment", err.to_string())
            }
            RecordsError::Store(store) => store.into(),
        }
    }
}

impl From<&ReplyError> for ApiError {
    fn from(err: &ReplyError) -> Self {
        match err {
            ReplyError::InvalidCursor(_) => Self::new(StatusCode::BAD_REQUEST, "invalid_cursor", err.to_string()),
            ReplyError::UnknownRecipient => Self::new(StatusCode::NOT_FOUND, "unknown_recipient", err.to_string()),
            ReplyError::Store(store) | ReplyError::Records(RecordsError::Store(store)) => store.into(),
            ReplyError::BadProviderId => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "malformed_webhook", err.to_string())
            }
            ReplyError::Blob(_) | ReplyError::Media(_) | ReplyError::EmailNotStored if err.is_retryable() => {
                tracing::error!(error = %err, "reply documents unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "documents are unavailable; retrying may help",
                )
            }
            ReplyError::Blob(_) | ReplyError::Media(_) | ReplyError::EmailNotStored => {
                tracing::error!(error = %err, "reply documents refused");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the request failed inside Tidings")
            }
            ReplyError::Records(_) | ReplyError::Publish(_) => {
                tracing::error!(error = %err, "reply not applied");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the reply could not be applied; retrying may help",
                )
            }
        }
    }
}

/// The store failed: whether a retry may help is the caller's to know; the
/// details (operation and code only) go to the log.
impl From<&StoreError> for ApiError {
    fn from(store: &StoreError) -> Self {
        tracing::error!(error = %store, "store failure");
        if store.is_retryable() {
            Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "the store is unavailable; retrying may help",
            )
        } else {
            Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the request failed inside Tidings")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::describe_data_error;

    const PREFIX: &str = "Failed to deserialize the JSON body into the target type: ";

    #[test]
    fn data_errors_name_the_field_but_not_the_value() {
        let text =
            format!("{PREFIX}channel: unknown variant `Ann Smith`, expected one of `email`, `sms` at line 1 column 9");
        let message = describe_data_error(&text);
        assert!(message.starts_with("channel: not a valid value, expected one of `email`"), "{message}");
        assert!(!message.contains("Ann"));
        let text =
            format!("{PREFIX}duration_minutes: invalid type: string \"555-0101\", expected u32 at line 1 column 3");
        assert!(!describe_data_error(&text).contains("555"));
    }

    #[test]
    fn our_own_messages_and_field_names_pass_through() {
        let phone = tidings::domain::ContactError::Phone.to_string();
        let text = format!("{PREFIX}phone: {phone} at line 1 column 20");
        assert!(describe_data_error(&text).starts_with(&format!("phone: {phone}")));
        let text = format!("{PREFIX}missing field `kind` at line 1 column 2");
        assert_eq!(describe_data_error(&text), "body: missing field `kind` at line 1 column 2");
    }
}
