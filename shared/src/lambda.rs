//! What every Lambda main shares: structured logging, typed errors, the
//! AWS clients built from the function's environment, and the delivery
//! handler both channel functions run.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_lambda_events::eventbridge::EventBridgeEvent;
use lambda_runtime::{Diagnostic, LambdaEvent};
use tracing::Instrument;

#[cfg(any(feature = "eventbridge", feature = "chime", feature = "s3"))]
use std::sync::Arc;

use crate::config::{self, ConfigError};
use crate::events::MessageReady;
use crate::services::{Delivery, DeliveryOutcome};
use crate::store::Store;
#[cfg(feature = "eventbridge")]
use crate::{
    channels::{blobs::BlobStore, ChannelSender},
    domain::SystemClock,
    events::EventPublisher,
    services::{CreditService, DeliveryConfig, RecordsService, RetryPolicy},
};

/// JSON logs without ANSI colours or timestamps (Lambda adds its own).
/// Spans carry ids and counts only: no PHI is ever logged. `RUST_LOG` is
/// capped by [`deployed_log_directives`].
pub fn init_tracing() {
    let requested = std::env::var("RUST_LOG").unwrap_or_default();
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new(deployed_log_directives(&requested)))
        .with_current_span(true)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .init();
}

/// Crates (target prefixes) that log raw events, requests or response
/// bodies below `info`: the Lambda runtime logs each invocation's event, the
/// AWS SDK and the HTTP stack what they send and receive. All may hold PHI.
const RAW_PAYLOAD_TARGETS: [&str; 6] = ["lambda_runtime", "lambda_http", "aws", "hyper", "h2", "reqwest"];

/// The log filter a deployed function runs with, from the `RUST_LOG` it was
/// given: nothing at `trace` anywhere, and nothing below `info` from the
/// crates of [`RAW_PAYLOAD_TARGETS`], whatever was asked (an operator
/// debugging a deployment must not turn on logging of patients' data).
/// Other levels are kept as asked; directives that do not parse, and span
/// filters (`target[span{field}]`), are dropped; empty means `info`.
pub fn deployed_log_directives(requested: &str) -> String {
    use tracing::level_filters::LevelFilter;

    let capped_for = |target: Option<&str>, level: LevelFilter| {
        let raw = target.is_some_and(|t| RAW_PAYLOAD_TARGETS.iter().any(|p| t.starts_with(p)));
        level.min(if raw { LevelFilter::INFO } else { LevelFilter::DEBUG })
    };
    let mut directives: Vec<(Option<String>, LevelFilter)> = Vec::new();
    for directive in requested.split(',').map(str::trim).filter(|d| !d.is_empty() && !d.contains('[')) {
        let parsed = match directive.split_once('=') {
            Some((target, level)) => level.parse().ok().map(|level| (Some(target.trim().to_owned()), level)),
            // A bare level is the default; a bare target means all its levels.
            None => match directive.parse::<LevelFilter>() {
                Ok(level) => Some((None, level)),
                Err(_) => Some((Some(directive.to_owned()), LevelFilter::TRACE)),
            },
        };
        if let Some((target, level)) = parsed {
            let level = capped_for(target.as_deref(), level);
            directives.push((target, level));
        }
    }
    if directives.is_empty() {
        directives.push((None, LevelFilter::INFO));
    }
    // A raw-payload crate not named itself takes the level of the most
    // specific directive that covers it (the default, or a shorter prefix
    // such as `a`): pin it, capped, so that level cannot reach it.
    let mut pins = Vec::new();
    for prefix in RAW_PAYLOAD_TARGETS {
        if directives.iter().any(|(target, _)| target.as_deref() == Some(prefix)) {
            continue;
        }
        let covering = directives
            .iter()
            .filter(|(target, _)| target.as_deref().is_none_or(|t| prefix.starts_with(t)))
            .max_by_key(|(target, _)| target.as_ref().map_or(0, String::len))
            .map_or(LevelFilter::OFF, |(_, level)| *level);
        if covering > LevelFilter::INFO {
            pins.push((Some(prefix.to_owned()), LevelFilter::INFO));
        }
    }
    directives
        .into_iter()
        .chain(pins)
        .map(|(target, level)| {
            let level = level.to_string().to_lowercase();
            match target {
                Some(target) => format!("{target}={level}"),
                None => level,
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A Lambda error whose type says whether a retry can help:
/// `Retryable.<what>` or `Permanent.<what>`.
pub fn diagnostic(what: &str, retryable: bool, error: &dyn std::error::Error) -> Diagnostic {
    let class = if retryable { "Retryable" } else { "Permanent" };
    Diagnostic { error_type: format!("{class}.{what}"), error_message: error.to_string() }
}

/// The AWS configuration of the function's role and region.
pub async fn aws_config() -> SdkConfig {
    aws_config::load_defaults(BehaviorVersion::latest()).await
}

/// The table named by `TABLE_NAME`, its due messages spread over
/// `DUE_SHARDS` shards.
pub fn store_from_env(aws: &SdkConfig) -> Result<Store, ConfigError> {
    let shards = config::parsed("DUE_SHARDS", crate::store::keys::DueShards::default())?;
    Ok(Store::new(aws_sdk_dynamodb::Client::new(aws), config::required("TABLE_NAME")?).with_due_shards(shards))
}

/// The string of the Secrets Manager secret whose ARN `arn_variable`
/// names, read once at start and kept for the container's lifetime: keys
/// live in Secrets Manager, not in the environment.
#[cfg(feature = "secrets")]
pub async fn secret_string(aws: &SdkConfig, arn_variable: &'static str) -> Result<String, lambda_runtime::Error> {
    let secret = aws_sdk_secretsmanager::Client::new(aws)
        .get_secret_value()
        .secret_id(config::required(arn_variable)?)
        .send()
        .await?;
    let value = secret.secret_string().map(str::trim).filter(|value| !value.is_empty());
    Ok(value.ok_or_else(|| ConfigError::Invalid(arn_variable, "the secret holds no string".into()))?.to_owned())
}

/// The consent links' key (`CONSENT_LINK_KEY_SECRET_ARN`), making links on
/// `origin` (the API's public address).
#[cfg(feature = "secrets")]
pub async fn consent_links_from_env(
    aws: &SdkConfig,
    origin: crate::domain::PublicOrigin,
) -> Result<crate::domain::ConsentLinks, lambda_runtime::Error> {
    let key = secret_string(aws, "CONSENT_LINK_KEY_SECRET_ARN").await?;
    Ok(crate::domain::ConsentLinks::new(key.as_bytes(), origin)?)
}

/// The bus named by `EVENT_BUS_NAME`.
#[cfg(feature = "eventbridge")]
pub fn publisher_from_env(aws: &SdkConfig) -> Result<Arc<dyn EventPublisher>, ConfigError> {
    let client = aws_sdk_eventbridge::Client::new(aws);
    Ok(Arc::new(crate::events::eventbridge::EventBridgePublisher::new(client, config::required("EVENT_BUS_NAME")?)))
}

/// Ends calls of the deployment's SIP media application.
#[cfg(feature = "chime")]
pub fn call_control_from_env(aws: &SdkConfig) -> Result<Arc<dyn crate::channels::CallControl>, ConfigError> {
    use crate::channels::chime::control::ChimeCallControl;
    let client = aws_sdk_chimesdkvoice::Client::new(aws);
    Ok(Arc::new(ChimeCallControl::new(client, config::required("SIP_MEDIA_APPLICATION_ID")?)))
}

/// The records service over the function's table, in the deployment's
/// sending window, announcing opt-in needs on the bus: what answers (a
/// keypad digit, a reply) re-plan reminders through.
#[cfg(feature = "eventbridge")]
pub fn records_from_env(aws: &SdkConfig, store: &Store) -> Result<Arc<RecordsService>, ConfigError> {
    let templates = Arc::new(crate::domain::Templates::default());
    Ok(Arc::new(
        RecordsService::new(store.clone(), Arc::new(SystemClock), templates, publisher_from_env(aws)?)
            .with_sending_window(config::sending_window()?),
    ))
}

/// The deployment's replies bucket (`REPLIES_BUCKET`): raw inbound email
/// and the documents replies brought.
#[cfg(feature = "s3")]
pub fn blobs_from_env(aws: &SdkConfig) -> Result<Arc<dyn crate::channels::blobs::BlobStore>, ConfigError> {
    use crate::channels::s3::{S3Blobs, DOWNLOAD_LINK_TTL};
    let client = aws_sdk_s3::Client::new(aws);
    Ok(Arc::new(S3Blobs::new(client, config::required("REPLIES_BUCKET")?, DOWNLOAD_LINK_TTL)))
}

/// The reply service over the function's table, bus and bucket.
#[cfg(all(feature = "replies", feature = "s3", feature = "eventbridge"))]
pub fn replies_from_env(
    aws: &SdkConfig,
    store: &Store,
    records: Arc<RecordsService>,
) -> Result<crate::services::ReplyService, ConfigError> {
    Ok(crate::services::ReplyService::new(
        store.clone(),
        records,
        publisher_from_env(aws)?,
        Arc::new(SystemClock),
        blobs_from_env(aws)?,
        config::inbound()?,
    ))
}

/// Credit over the function's table, with the deployment's prices.
#[cfg(feature = "eventbridge")]
pub fn credit_from_env(aws: &SdkConfig, store: &Store) -> Result<CreditService, ConfigError> {
    Ok(CreditService::new(store.clone(), publisher_from_env(aws)?, Arc::new(SystemClock), config::prices()?))
}

/// The whole life of a delivery function once its channel's sender is
/// built: the delivery service over the function's table (reading staff's
/// attachments from `attachments`, for the channels that carry them), run
/// on each `MessageReady` its rule sends.
#[cfg(feature = "eventbridge")]
pub async fn run_delivery(
    aws: &SdkConfig,
    sender: Arc<dyn ChannelSender>,
    attachments: Option<Arc<dyn BlobStore>>,
) -> Result<(), lambda_runtime::Error> {
    let store = store_from_env(aws)?;
    let config =
        DeliveryConfig { lease: config::claim_lease()?, prices: config::prices()?, retry: RetryPolicy::default() };
    let credit = credit_from_env(aws, &store)?;
    let least_send_time = config::send_rates()?
        .least_send_time(sender.channel(), config::delivery_instances()?)
        .map_err(|too_long| ConfigError::Invalid("DELIVERY_INSTANCES", too_long.to_string()))?;
    let mut delivery = Delivery::new(store, sender, Arc::new(SystemClock), credit, config);
    if let Some(attachments) = attachments {
        delivery = delivery.with_attachments(attachments);
    }
    lambda_runtime::run(lambda_runtime::service_fn(|event| {
        // An error may come after the provider took the send (its
        // settlement failed): held too, as only a hold too many is safe.
        let reached_provider = |outcome: &Result<DeliveryOutcome, Diagnostic>| {
            outcome.as_ref().map_or(true, DeliveryOutcome::may_have_reached_the_provider)
        };
        // Boxed: the nested futures' type is otherwise too deep to lay out.
        Box::pin(lasting_at_least(least_send_time, reached_provider, deliver_message_ready(&delivery, event)))
    }))
    .await
}

/// `work`'s output, once `least` has passed since it began if
/// `counts(output)`: a send holds its instance that long.
#[cfg(any(feature = "eventbridge", test))]
async fn lasting_at_least<T>(
    least: std::time::Duration,
    counts: impl Fn(&T) -> bool,
    work: impl std::future::Future<Output = T>,
) -> T {
    let started = tokio::time::Instant::now();
    let output = work.await;
    if counts(&output) {
        tokio::time::sleep_until(started + least).await;
    }
    output
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
    delivery.deliver(&ready).instrument(span).await.map_err(|err| diagnostic("Delivery", err.is_retryable(), &err))
}

#[cfg(test)]
mod tests {
    use super::deployed_log_directives;
    use tracing::level_filters::LevelFilter;

    #[test]
    fn trace_is_capped_everywhere_and_raw_payload_crates_at_info() {
        let cases = [
            ("", "info"),
            ("info", "info"),
            ("warn,tidings=debug", "warn,tidings=debug"),
            ("trace", "debug,lambda_runtime=info,lambda_http=info,aws=info,hyper=info,h2=info,reqwest=info"),
            ("tidings=trace", "tidings=debug"),
            ("tidings", "tidings=debug"),
            ("info,lambda_runtime=debug", "info,lambda_runtime=info"),
            ("info,aws_smithy_runtime=trace,hyper_util=debug", "info,aws_smithy_runtime=info,hyper_util=info"),
            ("warn,lambda_runtime=error", "warn,lambda_runtime=error"),
            ("info,a=debug", "info,a=debug,aws=info"),
            ("lambda_runtime[invoke{event}]=trace,info", "info"),
            ("nonsense=loud,info", "info"),
        ];
        for (requested, capped) in cases {
            assert_eq!(deployed_log_directives(requested), capped, "RUST_LOG={requested}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_send_that_counts_lasts_its_least_time_and_no_longer() {
        use super::lasting_at_least;
        use std::time::Duration;
        use tokio::time::{sleep, Instant};
        let least = Duration::from_millis(200);
        let started = Instant::now();
        assert!(lasting_at_least(least, |sent: &bool| *sent, async { true }).await);
        assert_eq!(started.elapsed(), least);

        let started = Instant::now();
        lasting_at_least(least, |sent: &bool| *sent, async { false }).await;
        assert_eq!(started.elapsed(), Duration::ZERO, "a send that did not count is not held");

        let started = Instant::now();
        lasting_at_least(least, |_: &()| true, sleep(Duration::from_millis(500))).await;
        assert_eq!(started.elapsed(), Duration::from_millis(500), "a slow send is not held longer");
    }

    #[test]
    fn the_capped_filter_parses_and_never_enables_trace() {
        for requested in ["trace", "debug", "lambda_runtime=trace,aws=trace", "TRACE"] {
            let filter = tracing_subscriber::EnvFilter::try_new(deployed_log_directives(requested)).unwrap();
            assert!(filter.max_level_hint().is_some_and(|hint| hint <= LevelFilter::DEBUG), "RUST_LOG={requested}");
        }
    }
}
