use std::sync::Arc;

use lambda_runtime::{service_fn, Error};
use tidings::domain::SystemClock;
use tidings::services::OptInService;
use tidings::{config, lambda};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda::init_tracing();
    let aws = lambda::aws_config().await;
    let opt_in = OptInService::new(lambda::store_from_env(&aws)?, Arc::new(SystemClock), config::sending_window()?);
    lambda_runtime::run(service_fn(|event| tidings_opt_in::handler(&opt_in, event))).await
}
