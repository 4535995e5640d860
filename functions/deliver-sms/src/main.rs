//! `deliver-sms`: MessageReady events of the sms channel, sent with SNS Publish.

use std::sync::Arc;

use lambda_runtime::{service_fn, Error};
use tidings::channels::sns::{SmsOrigin, SnsSmsSender};
use tidings::domain::{PhoneNumber, SystemClock};
use tidings::services::Delivery;
use tidings::{config, lambda};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda::init_tracing();
    let aws = lambda::aws_config().await;
    let origination_number = config::optional("SMS_ORIGINATION_NUMBER")
        .map(|n| n.parse::<PhoneNumber>())
        .transpose()?;
    let origin = SmsOrigin {
        sender_id: config::optional("SMS_SENDER_ID"),
        origination_number,
    };
    let sender = SnsSmsSender::new(aws_sdk_sns::Client::new(&aws), origin);
    let delivery = Delivery::new(
        lambda::store_from_env(&aws)?,
        Arc::new(sender),
        Arc::new(SystemClock),
        config::claim_lease()?,
    );
    lambda_runtime::run(service_fn(|event| lambda::deliver_message_ready(&delivery, event))).await
}
