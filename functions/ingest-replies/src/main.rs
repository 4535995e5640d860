use std::sync::Arc;

use lambda_runtime::{service_fn, Error};
use tidings::domain::{Clock, SystemClock, Templates};
use tidings::services::RecordsService;
use tidings::{config, lambda};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda::init_tracing();
    let aws = lambda::aws_config().await;
    let store = lambda::store_from_env(&aws)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    // A confirming or cancelling reply re-plans the appointment's reminders.
    let records = Arc::new(
        RecordsService::new(store.clone(), clock.clone(), Arc::new(Templates::default()))
            .with_sending_window(config::sending_window()?),
    );
    let replies = lambda::replies_from_env(&aws, &store, records)?;
    lambda_runtime::run(service_fn(|event| tidings_ingest_replies::handler(&replies, event))).await
}
