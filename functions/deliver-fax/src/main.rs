//! `deliver-fax`: MessageReady events of the fax channel, rendered into a
//! PDF and sent through Telnyx Programmable Fax; its status webhook comes
//! back to the API at `POST /webhooks/fax/telnyx`.

use std::sync::Arc;

use lambda_runtime::Error;
use tidings::channels::fax::telnyx::{TelnyxConfig, TelnyxFax, TELNYX_API_BASE};
use tidings::channels::fax::FaxSender;
use tidings::domain::PhoneNumber;
use tidings::{config, lambda};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda::init_tracing();
    let aws = lambda::aws_config().await;
    let from: PhoneNumber = config::required("FAX_FROM_NUMBER")?.parse()?;
    let api_key = lambda::secret_string(&aws, "TELNYX_API_KEY_SECRET_ARN").await?;
    let provider = TelnyxFax::new(
        reqwest::Client::builder().timeout(std::time::Duration::from_secs(20)).build()?,
        TelnyxConfig {
            api_base: config::optional("TELNYX_API_BASE").unwrap_or_else(|| TELNYX_API_BASE.to_owned()),
            api_key,
            connection_id: config::required("TELNYX_CONNECTION_ID")?,
        },
    );
    let attachments = lambda::blobs_from_env(&aws)?;
    lambda::run_delivery(&aws, Arc::new(FaxSender::new(Arc::new(provider), from)), Some(attachments)).await
}
