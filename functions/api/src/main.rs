use std::sync::Arc;

use tidings::domain::{SystemClock, Templates};
use tidings::services::RecordsService;
use tidings::{config, lambda};
use tidings_api::auth::{from_api_gateway_claims, AccountClaim};
use tidings_api::ApiState;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda::init_tracing();
    let aws = lambda::aws_config().await;
    let records = RecordsService::new(lambda::store_from_env(&aws)?, Arc::new(SystemClock), Arc::new(Templates::default()));
    let claim = AccountClaim(config::optional("ACCOUNT_CLAIM").unwrap_or_else(|| "account_id".into()));
    let app = tidings_api::router(ApiState { records: Arc::new(records) }).layer(
        axum::middleware::from_fn_with_state(Arc::new(claim), from_api_gateway_claims),
    );
    lambda_http::run(app).await
}
