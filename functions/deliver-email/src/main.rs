//! `deliver-email`: MessageReady events of the email channel, sent with SES v2.

use std::sync::Arc;

use lambda_runtime::{service_fn, Error};
use tidings::channels::ses::SesEmailSender;
use tidings::domain::{EmailAddress, SystemClock};
use tidings::services::Delivery;
use tidings::{config, lambda};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda::init_tracing();
    let aws = lambda::aws_config().await;
    let from: EmailAddress = config::required("SENDER_EMAIL")?.parse()?;
    let sender = SesEmailSender::new(
        aws_sdk_sesv2::Client::new(&aws),
        from,
        config::optional("SES_CONFIGURATION_SET"),
    );
    let delivery = Delivery::new(
        lambda::store_from_env(&aws)?,
        Arc::new(sender),
        Arc::new(SystemClock),
        config::claim_lease()?,
    );
    lambda_runtime::run(service_fn(|event| lambda::deliver_message_ready(&delivery, event))).await
}
