//! What every Lambda main shares: structured logging, typed errors, the
//! AWS clients built from the function's environment, and the delivery
//! handler both channel functions run.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_lambda_events::eventbridge::EventBridgeEvent;
use lambda_runtime::{Diagnostic, LambdaEvent};
use tracing::Instrument;

use std::sync::Arc;

use crate::channels::ChannelSender;
use crate::config::{self, ConfigError};
use crate::domain::SystemClock;
use crate::events::eventbridge::EventBridgePublisher;
use crate::events::{EventPublisher, MessageReady};
use crate::services::{CreditService, Delivery, DeliveryConfig, DeliveryOutcome, RetryPolicy};
use crate::store::Store;

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

/// The AWS configuration of the function's role and region.
pub async fn aws_config() -> SdkConfig {
    aws_config::load_defaults(BehaviorVersion::latest()).await
}

/// The table named by `TABLE_NAME`.
pub fn store_from_env(aws: &SdkConfig) -> Result<Store, ConfigError> {
    Ok(Store::new(aws_sdk_dynamodb::Client::new(aws), config::required("TABLE_NAME")?))
}

/// The bus named by `EVENT_BUS_NAME`.
pub fn publisher_from_env(aws: &SdkConfig) -> Result<Arc<dyn EventPublisher>, ConfigError> {
    Ok(Arc::new(EventBridgePublisher::new(aws_sdk_eventbridge::Client::new(aws), config::required("EVENT_BUS_NAME")?)))
}

/// Credit over the function's table, with the deployment's prices.
pub fn credit_from_env(aws: &SdkConfig, store: &Store) -> Result<CreditService, ConfigError> {
    Ok(CreditService::new(store.clone(), publisher_from_env(aws)?, Arc::new(SystemClock), config::prices()?))
}

/// The whole life of a delivery function once its channel's sender is
/// built: the delivery service over the function's table, run on each
/// `MessageReady` its rule sends.
pub async fn run_delivery(aws: &SdkConfig, sender: Arc<dyn ChannelSender>) -> Result<(), lambda_runtime::Error> {
    let store = store_from_env(aws)?;
    let config = DeliveryConfig {
        lease: config::claim_lease()?,
        prices: config::prices()?,
        retry: RetryPolicy::default(),
    };
    let credit = credit_from_env(aws, &store)?;
    let delivery = Delivery::new(store, sender, Arc::new(SystemClock), credit, config);
    lambda_runtime::run(lambda_runtime::service_fn(|event| deliver_message_ready(&delivery, event))).await
}

/// The handler of every delivery function: one `MessageReady`
/// from the bus's rule for the function's channel.
pub async fn deliver_message_ready(
    delivery: &Delivery,
    event: LambdaEvent<EventBridgeEvent<MessageReady>>,
) -> Result<DeliveryOutcome, Diagnostic> {
    let ready = event.payload.detail;
    let span = tracing::info_span!(
        "deliver",
        message_id = %ready.message_id,
        channel = ready.channel.as_str(),
        request_id = %event.context.request_id,
    );
    delivery
        .deliver(&ready)
        .instrument(span)
        .await
        .map_err(|err| diagnostic("Delivery", err.is_retryable(), &err))
}
