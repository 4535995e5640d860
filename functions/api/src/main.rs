use std::sync::Arc;

use tidings::channels::fax::telnyx::{MediaHosts, TelnyxMedia, TelnyxWebhookVerifier};
use tidings::domain::form::FormTokens;
use tidings::domain::{Clock, PublicOrigin, SystemClock};
use tidings::services::{AdHocService, ConsentService, FormService, OutcomeService, StaffService};
use tidings::{config, lambda};
use tidings_api::auth::{from_api_gateway_claims, OperatorScope, TokenClaims};
use tidings_api::{ApiState, FaxWebhook};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda::init_tracing();
    let aws = lambda::aws_config().await;
    let store = lambda::store_from_env(&aws)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut fax_webhooks = Vec::new();
    if let Some(key) = config::optional("TELNYX_PUBLIC_KEY") {
        // Received faxes' PDFs come only from the hosts FAX_MEDIA_HOSTS
        // allows (default: Telnyx's documented bucket).
        let hosts: MediaHosts = config::parsed("FAX_MEDIA_HOSTS", MediaHosts::default())?;
        fax_webhooks.push(FaxWebhook {
            verifier: Arc::new(TelnyxWebhookVerifier::new(&key)?),
            media: Arc::new(TelnyxMedia::new(hosts)?),
        });
    }
    let credit = lambda::credit_from_env(&aws, &store)?;
    // The consent page only checks links (the sweep makes them on the
    // API's address), so it needs no base address of its own.
    let consent_links = lambda::consent_links_from_env(&aws, PublicOrigin::default()).await?;
    // Forms' access tokens are signed with the same key under their own
    // issuer; links are made on the address requests reach the API by (the
    // API cannot name its own address in the template: a cycle).
    let link_key = lambda::secret_string(&aws, "CONSENT_LINK_KEY_SECRET_ARN").await?;
    let form_tokens = FormTokens::new(link_key.as_bytes(), PublicOrigin::default())?;
    let records = lambda::records_from_env(&aws, &store)?;
    // The fax provider's webhook brings inbound faxes as well as reports.
    let replies = Arc::new(lambda::replies_from_env(&aws, &store, records.clone())?);
    let state = ApiState {
        records,
        replies,
        consent: Arc::new(ConsentService::new(store.clone(), clock.clone(), consent_links)),
        staff: Arc::new(StaffService::new(store.clone(), clock.clone())),
        ad_hoc: Arc::new(AdHocService::new(store.clone(), clock.clone(), lambda::blobs_from_env(&aws)?)),
        forms: Arc::new(FormService::new(store.clone(), clock.clone(), form_tokens)),
        outcomes: OutcomeService::new(store.clone(), clock.clone(), credit.clone()),
        credit,
        store,
        clock,
        fax_webhooks,
    };
    let defaults = TokenClaims::default();
    let claims = TokenClaims {
        account: config::optional("ACCOUNT_CLAIM").unwrap_or(defaults.account),
        operator: OperatorScope {
            claim: config::optional("OPERATOR_CLAIM").unwrap_or(defaults.operator.claim),
            value: config::optional("OPERATOR_SCOPE").unwrap_or(defaults.operator.value),
        },
    };
    let app = tidings_api::router(state.clone())
        .layer(axum::middleware::from_fn_with_state(Arc::new(claims), from_api_gateway_claims))
        .merge(tidings_api::public(state));
    lambda_http::run(app).await
}
