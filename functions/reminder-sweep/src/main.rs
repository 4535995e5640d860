use std::sync::Arc;

use lambda_runtime::{service_fn, Error};
use tidings::domain::{PublicOrigin, SystemClock, Templates};
use tidings::services::{OutcomeService, ReminderSweep, SweepConfig};
use tidings::{config, lambda};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda::init_tracing();
    let aws = lambda::aws_config().await;
    let store = lambda::store_from_env(&aws)?;
    let outcomes = OutcomeService::new(store.clone(), Arc::new(SystemClock), lambda::credit_from_env(&aws, &store)?);
    let sweep = ReminderSweep::new(
        store,
        lambda::publisher_from_env(&aws)?,
        Arc::new(Templates::default()),
        Arc::new(SystemClock),
        SweepConfig {
            lease: config::claim_lease()?,
            sending_window: config::sending_window()?,
            send_rates: config::send_rates()?,
            ..SweepConfig::default()
        },
    )
    .applying_reports(outcomes)
    .ending_calls(lambda::call_control_from_env(&aws)?)
    .linking_consent(
        lambda::consent_links_from_env(&aws, PublicOrigin::fixed(&config::required("PUBLIC_API_URL")?)).await?,
    );
    lambda_runtime::run(service_fn(|event| tidings_reminder_sweep::handler(&sweep, event))).await
}
