use std::sync::Arc;

use lambda_runtime::{service_fn, Error};
use tidings::domain::SystemClock;
use tidings::lambda;
use tidings::services::OutcomeService;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda::init_tracing();
    let aws = lambda::aws_config().await;
    let store = lambda::store_from_env(&aws)?;
    let credit = lambda::credit_from_env(&aws, &store)?;
    let outcomes = OutcomeService::new(store, Arc::new(SystemClock), credit);
    lambda_runtime::run(service_fn(|event| tidings_delivery_status::handler(&outcomes, event))).await
}
