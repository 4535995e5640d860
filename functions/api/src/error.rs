//! The API's errors: JSON `{"error": {"code", "message"}}` with a status
//! that says whose fault it is.

use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tidings::services::RecordsError;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `malformed_json`, `invalid_field`,
    /// `unknown_recipient`, `start_in_past`, `unauthorized`, …
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

    pub fn invalid_id(what: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_id",
            format!("{what}: {}", tidings::domain::InvalidId),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail { code: self.code.to_owned(), message: self.message },
        };
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(err) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", err.body_text())
            }
            JsonRejection::MissingJsonContentType(_) => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send Content-Type: application/json",
            ),
            other => Self::new(StatusCode::BAD_REQUEST, "malformed_json", other.body_text()),
        }
    }
}

impl From<RecordsError> for ApiError {
    fn from(err: RecordsError) -> Self {
        let unprocessable = |code| Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, err.to_string());
        match &err {
            RecordsError::InvalidSettings(_) => unprocessable("invalid_settings"),
            RecordsError::MissingAddress(_) => unprocessable("missing_address"),
            RecordsError::UnknownRecipient => unprocessable("unknown_recipient"),
            RecordsError::StartInPast => unprocessable("start_in_past"),
            RecordsError::UnknownAppointment => {
                Self::new(StatusCode::NOT_FOUND, "unknown_appointment", err.to_string())
            }
            RecordsError::Store(store) => {
                tracing::error!(error = %store, "store failure");
                let status = if store.is_retryable() {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::INTERNAL_SERVER_ERROR
                };
                Self::new(status, "store_unavailable", "the store failed; retrying may help")
            }
        }
    }
}
