use std::sync::Arc;

use lambda_runtime::{service_fn, Error};
use tidings::domain::{Clock, PhoneNumber, SystemClock};
use tidings::services::VoiceCall;
use tidings::{config, lambda};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda::init_tracing();
    let aws = lambda::aws_config().await;
    let store = lambda::store_from_env(&aws)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    // A keypad answer re-plans the appointment's reminders.
    let records = lambda::records_from_env(&aws, &store)?;
    let caller_id: PhoneNumber = config::required("VOICE_CALLER_ID")?.parse()?;
    let credit = lambda::credit_from_env(&aws, &store)?;
    let bus = lambda::publisher_from_env(&aws)?;
    let voice = VoiceCall::new(store, records, clock, config::prices()?, caller_id, credit, bus);
    lambda_runtime::run(service_fn(|event| tidings_voice_call::handler(&voice, event))).await
}
