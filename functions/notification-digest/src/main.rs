use std::sync::Arc;

use lambda_runtime::{service_fn, Error};
use tidings::channels::ses::SesStaffMailer;
use tidings::domain::{EmailAddress, SystemClock};
use tidings::services::StaffDigests;
use tidings::{config, lambda};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda::init_tracing();
    let aws = lambda::aws_config().await;
    // Staff emails come from the deployment's own sender, whatever the
    // practice's identity.
    let from: EmailAddress = config::required("SENDER_EMAIL")?.parse()?;
    let mailer = SesStaffMailer::new(aws_sdk_sesv2::Client::new(&aws), from, config::optional("SES_CONFIGURATION_SET"));
    let digests = StaffDigests::new(
        lambda::store_from_env(&aws)?,
        Arc::new(mailer),
        lambda::publisher_from_env(&aws)?,
        Arc::new(SystemClock),
    );
    lambda_runtime::run(service_fn(|event| tidings_notification_digest::handler(&digests, event))).await
}
