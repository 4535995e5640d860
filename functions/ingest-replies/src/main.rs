use lambda_runtime::{service_fn, Error};
use tidings::lambda;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda::init_tracing();
    let aws = lambda::aws_config().await;
    let store = lambda::store_from_env(&aws)?;
    // A confirming or cancelling reply re-plans the appointment's reminders.
    let records = lambda::records_from_env(&aws, &store)?;
    let replies = lambda::replies_from_env(&aws, &store, records)?;
    lambda_runtime::run(service_fn(|event| tidings_ingest_replies::handler(&replies, event))).await
}
