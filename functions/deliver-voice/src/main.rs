//! `deliver-voice`: MessageReady events of the voice channel, placed as
//! calls with Chime SDK PSTN Audio (CreateSipMediaApplicationCall); the SIP
//! media application then runs the call through `voice-call`.

use std::sync::Arc;

use lambda_runtime::Error;
use tidings::channels::chime::sender::ChimeVoiceSender;
use tidings::domain::PhoneNumber;
use tidings::{config, lambda};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda::init_tracing();
    let aws = lambda::aws_config().await;
    let caller_id: PhoneNumber = config::required("VOICE_CALLER_ID")?.parse()?;
    let sender = ChimeVoiceSender::new(
        aws_sdk_chimesdkvoice::Client::new(&aws),
        config::required("SIP_MEDIA_APPLICATION_ID")?,
        caller_id,
    );
    lambda::run_delivery(&aws, Arc::new(sender), None).await
}
