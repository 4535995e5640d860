//! `opt-in`: `OptInNeeded` events from the bus (put by the records service
//! when it plans a message, and by the sweep when it holds one), each
//! planning the recipient's one opt-in request.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use lambda_runtime::{Diagnostic, LambdaEvent};
use tidings::events::OptInNeeded;
use tidings::lambda::diagnostic;
use tidings::services::{OptInOutcome, OptInService};
use tracing::Instrument;

pub async fn handler(
    opt_in: &OptInService,
    event: LambdaEvent<EventBridgeEvent<OptInNeeded>>,
) -> Result<OptInOutcome, Diagnostic> {
    let need = event.payload.detail;
    let span = tracing::info_span!(
        "opt_in",
        recipient_id = %need.recipient_id,
        channel = need.channel.as_str(),
        request_id = %event.context.request_id,
    );
    opt_in.plan(&need).instrument(span).await.map_err(|err| diagnostic("OptIn", err.is_retryable(), &err))
}
