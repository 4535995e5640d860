//! The local stand-in for Chime SDK PSTN Audio: a call "placed" by
//! `deliver-voice` is recorded in the outbox, and the person it rings is
//! whoever posts `POST /local/voice/{message_id}/digits`. That drives the
//! real `voice-call` handler with the events Chime would send.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use lambda_runtime::{Context, LambdaEvent};
use serde::{Deserialize, Serialize};
use tidings::channels::chime::sma::{
    ActionData, InvocationEventType, SmaEvent, SmaResponse, ACCOUNT_ID_ARGUMENT, CLAIM_TOKEN_ARGUMENT, MESSAGE_ID_ARGUMENT,
};
use tidings::channels::{ChannelSender, Outgoing, ProviderMessageId, SendError};
use tidings::domain::{Channel, Clock};
use tidings::services::VoiceCall;

use crate::sinks::{Outbox, OutboxEntry};

/// A placed call, until someone answers it.
#[derive(Debug, Clone)]
struct PlacedCall {
    transaction_id: String,
    from: String,
    to: String,
    arguments: HashMap<String, String>,
}

/// The calls placed so far, by Tidings message id.
#[derive(Clone, Default)]
pub struct LocalCalls(Arc<Mutex<HashMap<String, PlacedCall>>>);

impl LocalCalls {
    fn place(&self, message_id: &str, call: PlacedCall) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).insert(message_id.to_owned(), call);
    }

    fn find(&self, message_id: &str) -> Option<PlacedCall> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).get(message_id).cloned()
    }
}

/// `deliver-voice`'s channel locally.
pub struct LocalVoiceSink {
    outbox: Outbox,
    calls: LocalCalls,
    clock: Arc<dyn Clock>,
    caller_id: String,
}

impl LocalVoiceSink {
    pub fn new(outbox: Outbox, calls: LocalCalls, clock: Arc<dyn Clock>, caller_id: String) -> Self {
        Self { outbox, calls, clock, caller_id }
    }
}

#[async_trait]
impl ChannelSender for LocalVoiceSink {
    fn channel(&self) -> Channel {
        Channel::Voice
    }

    async fn send(&self, outgoing: Outgoing<'_>) -> Result<ProviderMessageId, SendError> {
        let content = outgoing.content;
        let transaction_id = format!("local-call-{}", uuid::Uuid::new_v4());
        let arguments = HashMap::from([
            (ACCOUNT_ID_ARGUMENT.to_owned(), outgoing.account_id.to_string()),
            (MESSAGE_ID_ARGUMENT.to_owned(), outgoing.message_id.to_string()),
            (CLAIM_TOKEN_ARGUMENT.to_owned(), outgoing.claim_token.to_owned()),
        ]);
        let from = content.from.clone().unwrap_or_else(|| self.caller_id.clone());
        self.outbox
            .record(OutboxEntry {
                keypad_reply: content.keypad_reply,
                language: content.language.clone(),
                ..OutboxEntry::new(Channel::Voice, content, &transaction_id, self.clock.now())
            })
            .map_err(|e| SendError::Transient(format!("outbox_write_{:?}", e.kind())))?;
        self.calls.place(
            outgoing.message_id.as_str(),
            PlacedCall { transaction_id: transaction_id.clone(), from, to: content.to.clone(), arguments },
        );
        Ok(transaction_id)
    }
}

/// How the local callee takes the call.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    /// Keys pressed after the message, in order (`"1"`, `"*2"`); empty:
    /// listens and hangs up.
    #[serde(default)]
    pub digits: String,
    /// `no_answer` or `busy` instead of answering.
    #[serde(default)]
    pub outcome: Option<String>,
}

/// What the call said back, event by event.
#[derive(Debug, Clone, Serialize)]
pub struct CallTranscript {
    pub events: Vec<(InvocationEventType, SmaResponse)>,
}

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("no call was placed for this message")]
    NoSuchCall,
    #[error("outcome must be no_answer or busy")]
    UnknownOutcome,
    #[error("digits are keypad keys: 0-9, * and #, at most 10")]
    InvalidDigits,
    #[error("voice-call failed: {0}")]
    Handler(String),
}

/// Plays a placed call through `voice-call` as Chime would: the call is
/// created, rings, is answered (or not), takes the digits, and hangs up.
pub async fn answer(voice: &VoiceCall, calls: &LocalCalls, message_id: &str, answer: &Answer) -> Result<CallTranscript, CallError> {
    if answer.digits.len() > 10 || !answer.digits.chars().all(|c| c.is_ascii_digit() || c == '*' || c == '#') {
        return Err(CallError::InvalidDigits);
    }
    let call = calls.find(message_id).ok_or(CallError::NoSuchCall)?;
    let call_id = format!("{}-leg-a", call.transaction_id);
    let mut attributes = call.arguments.clone();
    let mut transcript = CallTranscript { events: Vec::new() };
    let mut steps = vec![(InvocationEventType::NewOutboundCall, None), (InvocationEventType::Ringing, None)];
    match answer.outcome.as_deref() {
        None => {
            steps.push((InvocationEventType::CallAnswered, None));
            for digit in answer.digits.chars() {
                let data = ActionData::digits_received(&call_id, &digit.to_string());
                steps.push((InvocationEventType::ActionSuccessful, Some(data)));
            }
            steps.push((InvocationEventType::Hangup, Some(ActionData::hung_up(&call_id, "0"))));
        }
        Some("no_answer") => steps.push((InvocationEventType::Hangup, Some(ActionData::hung_up(&call_id, "480")))),
        Some("busy") => steps.push((InvocationEventType::Hangup, Some(ActionData::hung_up(&call_id, "486")))),
        Some(_) => return Err(CallError::UnknownOutcome),
    }
    for (kind, data) in steps {
        let arguments = if kind == InvocationEventType::NewOutboundCall { &call.arguments } else { &attributes };
        let mut event = SmaEvent::outbound(kind, &call.transaction_id, &call_id, &call.from, &call.to, arguments.clone());
        if let Some(data) = data {
            event = event.with_action_data(data);
        }
        let response = tidings_voice_call::handler(voice, LambdaEvent::new(event, Context::default()))
            .await
            .map_err(|d| CallError::Handler(format!("{}: {}", d.error_type, d.error_message)))?;
        // Chime hands later events the attributes the response set.
        if let Some(set) = &response.transaction_attributes {
            attributes = set.clone();
        }
        transcript.events.push((kind, response));
    }
    Ok(transcript)
}
