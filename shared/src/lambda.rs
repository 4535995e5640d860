//! What every Lambda main shares: structured logging and typed errors.

use lambda_runtime::Diagnostic;

/// JSON logs without ANSI colours or timestamps (Lambda adds its own).
/// Spans carry ids and counts only: no PHI is ever logged.
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(true)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .init();
}

/// A Lambda error whose type says whether a retry can help:
/// `Retryable.<what>` or `Permanent.<what>`.
pub fn diagnostic(what: &str, retryable: bool, error: &dyn std::error::Error) -> Diagnostic {
    let class = if retryable { "Retryable" } else { "Permanent" };
    Diagnostic {
        error_type: format!("{class}.{what}"),
        error_message: error.to_string(),
    }
}
