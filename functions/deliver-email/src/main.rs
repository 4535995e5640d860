//! `deliver-email`: MessageReady events of the email channel, sent with SES v2.

use std::sync::Arc;

use lambda_runtime::Error;
use tidings::channels::ses::SesEmailSender;
use tidings::domain::EmailAddress;
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
        config::optional("REPLY_DOMAIN"),
    );
    lambda::run_delivery(&aws, Arc::new(sender), Some(lambda::blobs_from_env(&aws)?)).await
}
