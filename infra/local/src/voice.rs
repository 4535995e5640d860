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
    Action, ActionData, InvocationEventType, Participant, SmaEvent, SmaResponse, ACCOUNT_ID_ARGUMENT, CALL_LENGTH_CAP,
    CLAIM_TOKEN_ARGUMENT, END_CALL_ARGUMENT, MESSAGE_ID_ARGUMENT,
};
use tidings::channels::{
    CallControl, CallControlError, CallEnding, ChannelSender, Outgoing, ProviderMessageId, SendError,
};
use tidings::domain::{Channel, Clock};
use tidings::services::VoiceCall;

use crate::sinks::{Outbox, OutboxEntry};

/// A placed call: until someone answers it, and, when the line stays
/// open, until it ends.
#[derive(Debug, Clone)]
struct PlacedCall {
    transaction_id: String,
    from: String,
    to: String,
    arguments: HashMap<String, String>,
    /// Still on the line: the attributes Chime hands the next event.
    open: Option<OpenLine>,
}

#[derive(Debug, Clone)]
struct OpenLine {
    attributes: HashMap<String, String>,
    /// The practice's number once the call was connected to it (LEG-B).
    bridged_to: Option<String>,
}

/// The calls placed so far, by Tidings message id.
#[derive(Clone, Default)]
pub struct LocalCalls(Arc<Mutex<HashMap<String, PlacedCall>>>);

impl LocalCalls {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, PlacedCall>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn place(&self, message_id: &str, call: PlacedCall) {
        self.lock().insert(message_id.to_owned(), call);
    }

    fn find(&self, message_id: &str) -> Option<PlacedCall> {
        self.lock().get(message_id).cloned()
    }

    fn set_open(&self, message_id: &str, open: Option<OpenLine>) {
        if let Some(call) = self.lock().get_mut(message_id) {
            call.open = open;
        }
    }

    /// The message whose call is `transaction_id`, while its line is open.
    fn open_by_transaction(&self, transaction_id: &str) -> Option<(String, PlacedCall)> {
        self.lock()
            .iter()
            .find(|(_, call)| call.transaction_id == transaction_id && call.open.is_some())
            .map(|(id, call)| (id.clone(), call.clone()))
    }

    /// Whether the message's call is still on the line.
    pub fn is_open(&self, message_id: &str) -> bool {
        self.find(message_id).is_some_and(|call| call.open.is_some())
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
            PlacedCall { transaction_id: transaction_id.clone(), from, to: content.to.clone(), arguments, open: None },
        );
        Ok(transaction_id)
    }
}

/// How the local callee takes the call.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    /// Keys pressed after the message, in order (`"1"`, `"*2"`); empty:
    /// listens and hangs up.
    #[serde(default)]
    pub digits: String,
    /// `no_answer` or `busy` instead of answering.
    #[serde(default)]
    pub outcome: Option<String>,
    /// Stays on the line after the keys (talking to the practice after a
    /// 0) instead of hanging up: the call goes on until the sweep ends it at
    /// its deadline.
    #[serde(default)]
    pub stay_on: bool,
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

/// The events of one call, played through `voice-call` as Chime plays them.
struct Line<'a> {
    voice: &'a VoiceCall,
    call: &'a PlacedCall,
    call_id: String,
    attributes: HashMap<String, String>,
    bridged_to: Option<String>,
    transcript: CallTranscript,
}

impl<'a> Line<'a> {
    fn new(voice: &'a VoiceCall, call: &'a PlacedCall) -> Self {
        let open = call.open.clone();
        Self {
            voice,
            call,
            call_id: format!("{}-leg-a", call.transaction_id),
            attributes: open.as_ref().map_or_else(|| call.arguments.clone(), |o| o.attributes.clone()),
            bridged_to: open.and_then(|o| o.bridged_to),
            transcript: CallTranscript { events: Vec::new() },
        }
    }

    async fn play(&mut self, kind: InvocationEventType, data: Option<ActionData>) -> Result<(), CallError> {
        let call = self.call;
        let arguments = if kind == InvocationEventType::NewOutboundCall { &call.arguments } else { &self.attributes };
        let mut event =
            SmaEvent::outbound(kind, &call.transaction_id, &self.call_id, &call.from, &call.to, arguments.clone());
        if let Some(practice) = &self.bridged_to {
            let leg_a = &event.call_details.participants[0];
            let leg_b = Participant {
                call_id: format!("{}-leg-b", call.transaction_id),
                participant_tag: "LEG-B".to_owned(),
                to: practice.clone(),
                from: call.from.clone(),
                status: leg_a.status,
                ..leg_a.clone()
            };
            event.call_details.participants.push(leg_b);
        }
        if let Some(data) = data {
            event = event.with_action_data(data);
        }
        let response = tidings_voice_call::handler(self.voice, LambdaEvent::new(event, Context::default()))
            .await
            .map_err(|d| CallError::Handler(format!("{}: {}", d.error_type, d.error_message)))?;
        // Chime hands later events the attributes the response set, and
        // connects the practice a CallAndBridge names.
        if let Some(set) = &response.transaction_attributes {
            self.attributes = set.clone();
        }
        if let Some(Action::CallAndBridge(bridge)) =
            response.actions.iter().find(|a| matches!(a, Action::CallAndBridge(_)))
        {
            self.bridged_to = bridge.endpoints.first().map(|endpoint| endpoint.uri.clone());
        }
        self.transcript.events.push((kind, response));
        Ok(())
    }

    fn open_line(&self) -> OpenLine {
        OpenLine { attributes: self.attributes.clone(), bridged_to: self.bridged_to.clone() }
    }
}

/// Plays a placed call through `voice-call` as Chime would: the call is
/// created, rings, is answered (or not), takes the digits, and hangs up, or
/// stays on the line when asked to.
pub async fn answer(
    voice: &VoiceCall,
    calls: &LocalCalls,
    message_id: &str,
    answer: &Answer,
) -> Result<CallTranscript, CallError> {
    if answer.digits.len() > 10 || !answer.digits.chars().all(|c| c.is_ascii_digit() || c == '*' || c == '#') {
        return Err(CallError::InvalidDigits);
    }
    let call = calls.find(message_id).ok_or(CallError::NoSuchCall)?;
    let mut line = Line::new(voice, &call);
    let call_id = line.call_id.clone();
    let mut steps = vec![(InvocationEventType::NewOutboundCall, None), (InvocationEventType::Ringing, None)];
    match answer.outcome.as_deref() {
        None => {
            steps.push((InvocationEventType::CallAnswered, None));
            for digit in answer.digits.chars() {
                let data = ActionData::digits_received(&call_id, &digit.to_string());
                steps.push((InvocationEventType::ActionSuccessful, Some(data)));
            }
            if !answer.stay_on {
                steps.push((InvocationEventType::Hangup, Some(ActionData::hung_up(&call_id, "0"))));
            }
        }
        Some("no_answer") => steps.push((InvocationEventType::Hangup, Some(ActionData::hung_up(&call_id, "480")))),
        Some("busy") => steps.push((InvocationEventType::Hangup, Some(ActionData::hung_up(&call_id, "486")))),
        Some(_) => return Err(CallError::UnknownOutcome),
    }
    for (kind, data) in steps {
        line.play(kind, data).await?;
    }
    let still_on = answer.stay_on && answer.outcome.is_none();
    calls.set_open(message_id, still_on.then(|| line.open_line()));
    Ok(line.transcript)
}

/// Ends local calls as Chime's UpdateSipMediaApplicationCall does: the call
/// gets CALL_UPDATE_REQUESTED, and the legs its answer hangs up end.
pub struct LocalCallControl {
    calls: LocalCalls,
    voice: Arc<VoiceCall>,
}

impl LocalCallControl {
    pub fn new(calls: LocalCalls, voice: Arc<VoiceCall>) -> Self {
        Self { calls, voice }
    }
}

#[async_trait]
impl CallControl for LocalCallControl {
    async fn end_call(&self, transaction_id: &str) -> Result<CallEnding, CallControlError> {
        let Some((message_id, call)) = self.calls.open_by_transaction(transaction_id) else {
            return Ok(CallEnding::AlreadyOver);
        };
        let mut line = Line::new(&self.voice, &call);
        let update =
            ActionData::call_update(HashMap::from([(END_CALL_ARGUMENT.to_owned(), CALL_LENGTH_CAP.to_owned())]));
        let ended = |line: &Line| {
            line.transcript.events.last().is_some_and(|(_, r)| {
                r.actions.iter().any(|a| matches!(a, Action::Hangup(h) if h.call_id == line.call_id))
            })
        };
        let fail = |e: CallError| CallControlError(e.to_string());
        line.play(InvocationEventType::CallUpdateRequested, Some(update)).await.map_err(fail)?;
        if ended(&line) {
            line.bridged_to = None;
            let call_id = line.call_id.clone();
            line.play(InvocationEventType::Hangup, Some(ActionData::hung_up(&call_id, "0"))).await.map_err(fail)?;
            self.calls.set_open(&message_id, None);
        }
        Ok(CallEnding::Requested)
    }
}
