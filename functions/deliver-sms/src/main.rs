//! `deliver-sms`: MessageReady events of the sms channel, sent with SNS Publish.

use std::sync::Arc;

use lambda_runtime::Error;
use tidings::channels::sns::{SmsOrigin, SnsSmsSender};
use tidings::domain::PhoneNumber;
use tidings::{config, lambda};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda::init_tracing();
    let aws = lambda::aws_config().await;
    let origination_number =
        config::optional("SMS_ORIGINATION_NUMBER").map(|n| n.parse::<PhoneNumber>()).transpose()?;
    let origin = SmsOrigin { sender_id: config::optional("SMS_SENDER_ID"), origination_number };
    lambda::run_delivery(&aws, Arc::new(SnsSmsSender::new(aws_sdk_sns::Client::new(&aws), origin)), None).await
}
