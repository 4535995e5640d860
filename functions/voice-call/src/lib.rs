//! `voice-call`: the SIP media application's Lambda. Chime invokes it with
//! each event of a call `deliver-voice` placed; it answers with the actions
//! that say the message and gather the keypad reply.

use lambda_runtime::{Diagnostic, LambdaEvent};
use tidings::channels::chime::sma::{Action, HangupParameters, SmaEvent, SmaResponse};
use tidings::lambda::diagnostic;
use tidings::services::{VoiceCall, VoiceCallError};
use tracing::Instrument;

pub async fn handler(voice: &VoiceCall, event: LambdaEvent<SmaEvent>) -> Result<SmaResponse, Diagnostic> {
    let call = event.payload;
    let span = tracing::info_span!(
        "call",
        transaction_id = %call.call_details.transaction_id,
        event_type = ?call.event_type(),
        request_id = %event.context.request_id,
    );
    match voice.handle(&call).instrument(span.clone()).await {
        Ok(response) => Ok(response),
        // A call about nothing we know: end it politely rather than leave
        // Chime with an invalid response.
        Err(VoiceCallError::UnknownCall) => {
            span.in_scope(|| tracing::warn!("call names no message of ours: hanging up"));
            Ok(hang_up(&call))
        }
        Err(err) => Err(diagnostic("VoiceCall", err.is_retryable(), &err)),
    }
}

fn hang_up(call: &SmaEvent) -> SmaResponse {
    let actions = match call.call_id() {
        Some(call_id) => {
            vec![Action::Hangup(HangupParameters { call_id: call_id.to_owned(), sip_response_code: "0".into() })]
        }
        None => Vec::new(),
    };
    SmaResponse { schema_version: "1.0".into(), actions, transaction_attributes: None }
}
