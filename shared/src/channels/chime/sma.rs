//! The SIP media application's side of a voice message: the events Chime
//! PSTN Audio invokes the `voice-call` function with, the actions it answers
//! with, and [`respond`], the pure call flow between them.
//!
//! A call placed by [`super::sender`] goes NEW_OUTBOUND_CALL (carrying the
//! CreateSipMediaApplicationCall arguments), RINGING, then CALL_ANSWERED, or
//! straight to HANGUP when nobody answers. The flow keeps what it must
//! remember in the call's TransactionAttributes, which Chime returns with
//! every later event of the call.

use std::collections::HashMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// The argument (and transaction attribute) naming the message's account.
pub const ACCOUNT_ID_ARGUMENT: &str = "account_id";
/// The argument (and transaction attribute) naming the message.
pub const MESSAGE_ID_ARGUMENT: &str = "message_id";
/// The claim whose send placed the call (see `Outgoing::claim_token`).
pub const CLAIM_TOKEN_ARGUMENT: &str = "claim_token";
/// Set when the call is answered: a hangup after it ends a completed call,
/// whatever its SIP code.
const ANSWERED_ATTRIBUTE: &str = "answered";

/// The UpdateSipMediaApplicationCall argument that ends a call in progress
/// (its value says why); the flow hangs up every leg still on the line.
pub const END_CALL_ARGUMENT: &str = "end_call";
/// [`END_CALL_ARGUMENT`]'s value when the call reached the longest allowed.
pub const CALL_LENGTH_CAP: &str = "call_length_cap";

const SCHEMA_VERSION: &str = "1.0";
const LEG_A: &str = "LEG-A";
/// The ActionData type of NEW_OUTBOUND_CALL, whose parameters carry the
/// CreateSipMediaApplicationCall arguments.
const CALL_CREATE_REQUEST: &str = "CallCreateRequest";
/// The ActionData type of CALL_UPDATE_REQUESTED, whose parameters carry the
/// UpdateSipMediaApplicationCall arguments.
const CALL_UPDATE_REQUEST: &str = "CallUpdateRequest";
const SPEAK_AND_GET_DIGITS: &str = "SpeakAndGetDigits";
const HANGUP: &str = "Hangup";

/// Chime refuses a Speak or SpeakAndGetDigits text (SSML markup included)
/// longer than this.
const MAX_SPEECH_CHARS: usize = 1000;
/// Chime takes at most this many actions in one response.
const MAX_ACTIONS: usize = 10;
/// One key, and only a key the prompt offers.
const KEYPAD_DIGITS: &str = "^[120*]$";
const CONSENT_DIGITS: &str = "^[1*]$";
const SSML_OPEN: &str = "<speak>";
const SSML_CLOSE: &str = "</speak>";
/// Between the message and the keypad prompt.
const SSML_BREAK: &str = "<break time=\"700ms\"/>";

/// One invocation of the SIP media application's Lambda.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SmaEvent {
    pub schema_version: String,
    pub sequence: u64,
    pub invocation_event_type: InvocationEventType,
    pub call_details: CallDetails,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_data: Option<ActionData>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InvocationEventType {
    NewOutboundCall,
    Ringing,
    CallAnswered,
    ActionSuccessful,
    ActionFailed,
    Hangup,
    /// The previous response was refused; the call waits for actions.
    InvalidLambdaResponse,
    /// UpdateSipMediaApplicationCall asked something of the call in
    /// progress (its arguments in ActionData): here, to end it at its cap.
    CallUpdateRequested,
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CallDetails {
    pub transaction_id: String,
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub transaction_attributes: HashMap<String, String>,
    #[serde(default)]
    pub aws_account_id: String,
    #[serde(default)]
    pub aws_region: String,
    /// Some documented events spell it `SipApplicationId`.
    #[serde(default, alias = "SipApplicationId")]
    pub sip_media_application_id: String,
    #[serde(default)]
    pub participants: Vec<Participant>,
}

/// One leg of the call: LEG-A is the recipient, LEG-B the practice once the
/// call is bridged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Participant {
    pub call_id: String,
    pub participant_tag: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub direction: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time_in_milliseconds: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ParticipantStatus>,
}

impl Participant {
    /// Documented events write the tag both `LEG-A` and `Leg-A`.
    fn is_leg_a(&self) -> bool {
        self.participant_tag.eq_ignore_ascii_case(LEG_A)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ParticipantStatus {
    Connected,
    Disconnected,
    #[serde(other)]
    Other,
}

/// The action an event reports on (ACTION_SUCCESSFUL, ACTION_FAILED,
/// HANGUP), or the call's creation request (NEW_OUTBOUND_CALL).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ActionData {
    #[serde(rename = "Type")]
    pub action_type: String,
    #[serde(default)]
    pub parameters: ActionParameters,
    #[serde(default, deserialize_with = "text_or_number", skip_serializing_if = "Option::is_none")]
    pub received_digits: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

/// The parameters the flow reads; the rest of the echoed action is kept as
/// it came.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ActionParameters {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant_tag: Option<String>,
    /// A HANGUP's code arrives as a number, the Hangup action's as text.
    #[serde(default, deserialize_with = "text_or_number", skip_serializing_if = "Option::is_none")]
    pub sip_response_code: Option<String>,
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub arguments: HashMap<String, String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

fn text_or_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum TextOrNumber {
        Text(String),
        Number(i64),
    }
    Ok(Option::<TextOrNumber>::deserialize(deserializer)?.map(|value| match value {
        TextOrNumber::Text(text) => text,
        TextOrNumber::Number(number) => number.to_string(),
    }))
}

impl ActionData {
    /// ACTION_SUCCESSFUL data of a SpeakAndGetDigits that gathered `digits`.
    pub fn digits_received(call_id: &str, digits: &str) -> Self {
        Self { received_digits: Some(digits.to_owned()), ..Self::on_leg_a(SPEAK_AND_GET_DIGITS, call_id) }
    }

    /// ACTION_FAILED data of an action of `action_type`.
    pub fn failed(action_type: &str, call_id: &str, error_type: &str) -> Self {
        Self { error_type: Some(error_type.to_owned()), ..Self::on_leg_a(action_type, call_id) }
    }

    /// HANGUP data of the recipient's leg, with its SIP response code (0
    /// after a normal end, 486 busy, 480 no answer).
    pub fn hung_up(call_id: &str, sip_response_code: &str) -> Self {
        let mut data = Self::on_leg_a(HANGUP, call_id);
        data.parameters.sip_response_code = Some(sip_response_code.to_owned());
        data
    }

    /// CALL_UPDATE_REQUESTED data: UpdateSipMediaApplicationCall's
    /// arguments.
    pub fn call_update(arguments: HashMap<String, String>) -> Self {
        Self::with_arguments(CALL_UPDATE_REQUEST, arguments)
    }

    fn with_arguments(action_type: &str, arguments: HashMap<String, String>) -> Self {
        Self {
            action_type: action_type.to_owned(),
            parameters: ActionParameters { arguments, ..ActionParameters::default() },
            received_digits: None,
            error_type: None,
            error_message: None,
        }
    }

    fn on_leg_a(action_type: &str, call_id: &str) -> Self {
        Self {
            action_type: action_type.to_owned(),
            parameters: ActionParameters {
                call_id: Some(call_id.to_owned()),
                participant_tag: Some(LEG_A.to_owned()),
                ..ActionParameters::default()
            },
            received_digits: None,
            error_type: None,
            error_message: None,
        }
    }
}

impl SmaEvent {
    /// An event of a call placed by CreateSipMediaApplicationCall, as Chime
    /// sends it: `arguments` are the call's ArgumentsMap on
    /// NEW_OUTBOUND_CALL, and the TransactionAttributes the previous
    /// response set on any later event.
    pub fn outbound(
        event_type: InvocationEventType,
        transaction_id: &str,
        call_id: &str,
        from: &str,
        to: &str,
        arguments: HashMap<String, String>,
    ) -> Self {
        let (action_data, transaction_attributes) = match event_type {
            InvocationEventType::NewOutboundCall => {
                (Some(ActionData::with_arguments(CALL_CREATE_REQUEST, arguments)), HashMap::new())
            }
            _ => (None, arguments),
        };
        // Chime reports no status before the call is answered.
        let status = match event_type {
            InvocationEventType::NewOutboundCall | InvocationEventType::Ringing => None,
            InvocationEventType::Hangup => Some(ParticipantStatus::Disconnected),
            _ => Some(ParticipantStatus::Connected),
        };
        Self {
            schema_version: SCHEMA_VERSION.to_owned(),
            sequence: 1,
            invocation_event_type: event_type,
            call_details: CallDetails {
                transaction_id: transaction_id.to_owned(),
                transaction_attributes,
                aws_account_id: String::new(),
                aws_region: String::new(),
                sip_media_application_id: String::new(),
                participants: vec![Participant {
                    call_id: call_id.to_owned(),
                    participant_tag: LEG_A.to_owned(),
                    to: to.to_owned(),
                    from: from.to_owned(),
                    direction: "Outbound".to_owned(),
                    start_time_in_milliseconds: None,
                    status,
                }],
            },
            action_data,
        }
    }

    pub fn with_action_data(mut self, action_data: ActionData) -> Self {
        self.action_data = Some(action_data);
        self
    }

    /// A CreateSipMediaApplicationCall argument (NEW_OUTBOUND_CALL) or the
    /// transaction attribute the flow copied it to (every later event).
    pub fn argument(&self, name: &str) -> Option<&str> {
        self.action_data
            .as_ref()
            .and_then(|data| data.parameters.arguments.get(name))
            .or_else(|| self.call_details.transaction_attributes.get(name))
            .map(String::as_str)
    }

    pub fn event_type(&self) -> InvocationEventType {
        self.invocation_event_type
    }

    /// The recipient's leg, which every action of the flow addresses.
    pub fn call_id(&self) -> Option<&str> {
        self.leg_a().map(|leg| leg.call_id.as_str())
    }

    fn leg_a(&self) -> Option<&Participant> {
        self.call_details.participants.iter().find(|p| p.is_leg_a())
    }

    fn action_type(&self) -> Option<&str> {
        self.action_data.as_ref().map(|data| data.action_type.as_str())
    }
}

/// What the Lambda answers: the actions to run next, and the attributes
/// later events of the call carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SmaResponse {
    pub schema_version: String,
    pub actions: Vec<Action>,
    /// `None` keeps the attributes as they are (Chime clears them only when
    /// given an empty object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_attributes: Option<HashMap<String, String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "Type", content = "Parameters")]
pub enum Action {
    Pause(PauseParameters),
    Speak(SpeakParameters),
    SpeakAndGetDigits(SpeakAndGetDigitsParameters),
    CallAndBridge(CallAndBridgeParameters),
    Hangup(HangupParameters),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PauseParameters {
    pub call_id: String,
    pub duration_in_milliseconds: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SpeakParameters {
    pub call_id: String,
    #[serde(flatten)]
    pub speech: Speech,
}

/// Text for Amazon Polly and the voice to say it in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Speech {
    pub text: String,
    pub engine: Engine,
    pub language_code: String,
    pub text_type: TextType,
    pub voice_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Standard,
    Neural,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TextType {
    Text,
    Ssml,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SpeakAndGetDigitsParameters {
    pub call_id: String,
    pub input_digits_regex: String,
    pub speech_parameters: Speech,
    pub failure_speech_parameters: Speech,
    pub min_number_of_digits: u32,
    pub max_number_of_digits: u32,
    /// Attempts in all: after a failure the failure speech plays, then the
    /// speech again.
    pub repeat: u32,
    /// How long each attempt waits for a key.
    pub repeat_duration_in_milliseconds: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CallAndBridgeParameters {
    pub call_timeout_seconds: u32,
    pub caller_id_number: String,
    pub endpoints: Vec<BridgeEndpoint>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BridgeEndpoint {
    pub bridge_endpoint_type: BridgeEndpointType,
    pub uri: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BridgeEndpointType {
    #[serde(rename = "PSTN")]
    Pstn,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HangupParameters {
    pub call_id: String,
    /// "0": a normal end.
    pub sip_response_code: String,
}

/// What a call says and where it can connect the recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallScript {
    /// The message, as plain text.
    pub text: String,
    /// The recipient's language (BCP 47); English when absent or not spoken.
    pub language: Option<String>,
    /// What the call asks for on the keypad, if anything.
    pub keypad: Keypad,
    /// Where "0" connects the recipient (E.164): only a number the
    /// operator registered for the account's bridge; without one, "0" says
    /// the practice cannot be connected.
    pub bridge_to: Option<String>,
    /// The number the practice sees a connected call from (E.164, one of
    /// the deployment's).
    pub caller_id: String,
}

/// What a call asks the recipient to press.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keypad {
    /// Nothing: the message is spoken and the call ends.
    Off,
    /// About an appointment: 1 confirms, 2 cancels, 0 connects, * repeats.
    Appointment,
    /// An opt-in request: 1 agrees, * repeats.
    Consent,
}

impl Keypad {
    /// The keys the gather lets through.
    fn digits(self) -> &'static str {
        match self {
            Keypad::Consent => CONSENT_DIGITS,
            Keypad::Off | Keypad::Appointment => KEYPAD_DIGITS,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeypadChoice {
    /// 1
    Confirm,
    /// 2
    Cancel,
    /// 0
    Connect,
    /// *
    Repeat,
}

impl KeypadChoice {
    fn from_digits(digits: &str) -> Option<Self> {
        match digits {
            "1" => Some(Self::Confirm),
            "2" => Some(Self::Cancel),
            "0" => Some(Self::Connect),
            "*" => Some(Self::Repeat),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEnd {
    /// Answered, then hung up by either side.
    Completed,
    NoAnswer,
    Busy,
    /// Never answered, for another reason: the SIP response code.
    Failed(String),
}

/// What the call tells about the message, for its handler to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallObservation {
    Answered,
    Pressed(KeypadChoice),
    Ended(CallEnd),
}

/// The call flow: the actions that answer `event`, and what it tells about
/// the message.
pub fn respond(event: &SmaEvent, script: &CallScript) -> (SmaResponse, Option<CallObservation>) {
    let mut attributes = event.call_details.transaction_attributes.clone();
    let voice = Voice::for_language(script.language.as_deref());
    let leg_a = event.call_id();
    let (actions, observation) = match event.event_type() {
        InvocationEventType::NewOutboundCall => {
            // Later events carry transaction attributes, not the arguments.
            if let Some(data) = &event.action_data {
                attributes.extend(data.parameters.arguments.clone());
            }
            (Vec::new(), None)
        }
        InvocationEventType::CallAnswered => {
            attributes.insert(ANSWERED_ATTRIBUTE.to_owned(), "true".to_owned());
            let actions = leg_a.map_or_else(Vec::new, |call_id| {
                // Speech that starts the instant the line opens loses its
                // first words while the phone comes to the ear.
                let pause =
                    Action::Pause(PauseParameters { call_id: call_id.to_owned(), duration_in_milliseconds: 1000 });
                let mut actions = vec![pause];
                actions.extend(message_actions(call_id, script, voice));
                actions
            });
            (actions, Some(CallObservation::Answered))
        }
        InvocationEventType::ActionSuccessful if event.action_type() == Some(SPEAK_AND_GET_DIGITS) => {
            let digits = event.action_data.as_ref().and_then(|data| data.received_digits.as_deref());
            match (leg_a, digits.and_then(KeypadChoice::from_digits)) {
                (Some(call_id), Some(choice)) => {
                    (choice_actions(call_id, choice, script, voice), Some(CallObservation::Pressed(choice)))
                }
                // The pattern lets no other key through; without a key
                // there is nothing to act on.
                (call_id, _) => (call_id.map(hangup).into_iter().collect(), None),
            }
        }
        // No key after every attempt, or speech or a bridge that failed: the
        // call cannot go on, and an open line is billed.
        InvocationEventType::ActionFailed if event.action_type() != Some(HANGUP) => {
            (leg_a.map(hangup).into_iter().collect(), None)
        }
        InvocationEventType::InvalidLambdaResponse => (leg_a.map(hangup).into_iter().collect(), None),
        InvocationEventType::Hangup => hangup_response(event),
        InvocationEventType::CallUpdateRequested if event.argument(END_CALL_ARGUMENT).is_some() => {
            // The recipient's HANGUP that follows ends the message's call.
            let on_the_line = event.call_details.participants.iter();
            let on_the_line = on_the_line.filter(|p| p.status != Some(ParticipantStatus::Disconnected));
            (on_the_line.map(|p| hangup(&p.call_id)).collect(), None)
        }
        // Ringing, the success of a Speak (its Hangup follows), of a bridge,
        // a failed Hangup, and events this flow does not use.
        _ => (Vec::new(), None),
    };
    let response = SmaResponse {
        schema_version: SCHEMA_VERSION.to_owned(),
        actions,
        transaction_attributes: (!attributes.is_empty()).then_some(attributes),
    };
    (response, observation)
}

/// One leg hanging up leaves a bridged leg open (and billed): hang up the
/// rest. Only the recipient's leg ends the message's call.
fn hangup_response(event: &SmaEvent) -> (Vec<Action>, Option<CallObservation>) {
    let parameters = event.action_data.as_ref().map(|data| &data.parameters);
    let leg_a = event.leg_a();
    let hung_up = parameters.and_then(|p| p.call_id.as_deref()).or_else(|| {
        // Without a call id, the tag tells which leg it was; without
        // either, the call had one leg.
        let tag = parameters.and_then(|p| p.participant_tag.as_deref());
        match tag {
            Some(tag) => event
                .call_details
                .participants
                .iter()
                .find(|p| p.participant_tag.eq_ignore_ascii_case(tag))
                .map(|p| p.call_id.as_str()),
            None => leg_a.map(|leg| leg.call_id.as_str()),
        }
    });
    let actions = event
        .call_details
        .participants
        .iter()
        .filter(|p| Some(p.call_id.as_str()) != hung_up && p.status != Some(ParticipantStatus::Disconnected))
        .map(|p| hangup(&p.call_id))
        .collect();
    let recipient_hung_up = hung_up.is_none() || leg_a.map(|leg| leg.call_id.as_str()) == hung_up;
    let observation = recipient_hung_up.then(|| {
        let code = parameters.and_then(|p| p.sip_response_code.as_deref());
        CallObservation::Ended(call_end(event.argument(ANSWERED_ATTRIBUTE).is_some(), code))
    });
    (actions, observation)
}

/// Once answered, however the call ends it was completed. Before that, the
/// SIP code tells why it never was: busy (486, 600), not taken (480
/// unavailable, 408 timeout, 487 cancelled after ringing, 603 declined, 0
/// or none for a plain end), or a failure worth its code.
fn call_end(answered: bool, sip_response_code: Option<&str>) -> CallEnd {
    if answered {
        return CallEnd::Completed;
    }
    match sip_response_code {
        Some("486" | "600") => CallEnd::Busy,
        None | Some("0" | "408" | "480" | "487" | "603") => CallEnd::NoAnswer,
        Some(code) => CallEnd::Failed(code.to_owned()),
    }
}

/// The message, then either the keypad prompt or the end of the call.
fn message_actions(call_id: &str, script: &CallScript, voice: &Voice) -> Vec<Action> {
    let mut chunks = speech_chunks(&script.text);
    // Room for the pause before, and a last message part, the prompt or
    // the hangup after; a message longer than this is cut (at some 7,000
    // characters it would run for many minutes).
    chunks.truncate(MAX_ACTIONS - 3);
    if script.keypad == Keypad::Off {
        let mut actions: Vec<Action> = chunks.iter().map(|chunk| speak(call_id, voice, chunk)).collect();
        actions.push(hangup(call_id));
        return actions;
    }
    let prompt = escape(match script.keypad {
        Keypad::Consent => voice.phrases.consent_prompt,
        Keypad::Off | Keypad::Appointment => voice.phrases.prompt,
    });
    // The recipient can press a key while SpeakAndGetDigits speaks, so the
    // message's end goes with the prompt when both fit.
    let last = chunks.pop();
    let mut actions: Vec<Action> = chunks.iter().map(|chunk| speak(call_id, voice, chunk)).collect();
    let gather = match last {
        Some(last) if ssml_len(&last) + SSML_BREAK.len() + prompt.chars().count() <= MAX_SPEECH_CHARS => {
            format!("{last}{SSML_BREAK}{prompt}")
        }
        Some(last) => {
            actions.push(speak(call_id, voice, &last));
            prompt
        }
        None => prompt,
    };
    actions.push(Action::SpeakAndGetDigits(SpeakAndGetDigitsParameters {
        call_id: call_id.to_owned(),
        input_digits_regex: script.keypad.digits().to_owned(),
        speech_parameters: voice.speech(&gather),
        failure_speech_parameters: voice.speech(&escape(voice.phrases.no_input)),
        min_number_of_digits: 1,
        max_number_of_digits: 1,
        repeat: 3,
        repeat_duration_in_milliseconds: 10_000,
    }));
    actions
}

fn choice_actions(call_id: &str, choice: KeypadChoice, script: &CallScript, voice: &Voice) -> Vec<Action> {
    match choice {
        KeypadChoice::Confirm => {
            let thanks = match script.keypad {
                Keypad::Consent => voice.phrases.consented,
                Keypad::Off | Keypad::Appointment => voice.phrases.confirmed,
            };
            vec![speak(call_id, voice, &escape(thanks)), hangup(call_id)]
        }
        KeypadChoice::Cancel => {
            vec![speak(call_id, voice, &escape(voice.phrases.cancelled)), hangup(call_id)]
        }
        KeypadChoice::Connect => match &script.bridge_to {
            Some(number) => vec![
                speak(call_id, voice, &escape(voice.phrases.connecting)),
                Action::CallAndBridge(CallAndBridgeParameters {
                    call_timeout_seconds: 30,
                    caller_id_number: script.caller_id.clone(),
                    endpoints: vec![BridgeEndpoint {
                        bridge_endpoint_type: BridgeEndpointType::Pstn,
                        uri: number.clone(),
                    }],
                }),
            ],
            None => vec![speak(call_id, voice, &escape(voice.phrases.cannot_connect)), hangup(call_id)],
        },
        KeypadChoice::Repeat => message_actions(call_id, script, voice),
    }
}

fn speak(call_id: &str, voice: &Voice, ssml_body: &str) -> Action {
    Action::Speak(SpeakParameters { call_id: call_id.to_owned(), speech: voice.speech(ssml_body) })
}

fn hangup(call_id: &str) -> Action {
    Action::Hangup(HangupParameters { call_id: call_id.to_owned(), sip_response_code: "0".to_owned() })
}

/// Text made safe inside SSML: markup characters become entities.
/// (minijinja's HTML escaping produces XML-valid entities.)
fn escape(text: &str) -> String {
    minijinja::HtmlEscape(text).to_string()
}

fn ssml_len(escaped: &str) -> usize {
    SSML_OPEN.len() + escaped.chars().count() + SSML_CLOSE.len()
}

/// The text escaped and cut at spaces into parts that each fit one speech.
/// An entity is never split: a word too long for a part is cut between
/// characters.
fn speech_chunks(text: &str) -> Vec<String> {
    let room = MAX_SPEECH_CHARS - SSML_OPEN.len() - SSML_CLOSE.len();
    let mut chunks = Vec::new();
    let mut current = String::new();
    let mut current_len = 0;
    for word in text.split_whitespace() {
        let escaped = escape(word);
        let len = escaped.chars().count();
        let separator = usize::from(current_len > 0);
        if current_len + separator + len <= room {
            if separator == 1 {
                current.push(' ');
            }
            current.push_str(&escaped);
            current_len += separator + len;
            continue;
        }
        if current_len > 0 {
            chunks.push(std::mem::take(&mut current));
            current_len = 0;
        }
        if len <= room {
            current.push_str(&escaped);
            current_len = len;
            continue;
        }
        let mut buffer = [0; 4];
        for c in word.chars() {
            let piece = escape(c.encode_utf8(&mut buffer));
            let piece_len = piece.chars().count();
            if current_len + piece_len > room {
                chunks.push(std::mem::take(&mut current));
                current_len = 0;
            }
            current.push_str(&piece);
            current_len += piece_len;
        }
    }
    if current_len > 0 {
        chunks.push(current);
    }
    chunks
}

/// What the call says besides the message, in one language.
struct Phrases {
    prompt: &'static str,
    /// An opt-in request's keypad prompt, and its thanks for a 1.
    consent_prompt: &'static str,
    consented: &'static str,
    no_input: &'static str,
    confirmed: &'static str,
    cancelled: &'static str,
    connecting: &'static str,
    cannot_connect: &'static str,
}

/// An Amazon Polly neural voice and the phrases it speaks.
struct Voice {
    language_code: &'static str,
    voice_id: &'static str,
    phrases: &'static Phrases,
}

const ENGLISH: Phrases = Phrases {
    prompt: "Press 1 to confirm, 2 to cancel, 0 to speak with the practice, or star to hear this again.",
    consent_prompt: "Press 1 to agree, or star to hear this again.",
    consented: "Thank you, you will now get appointment messages by phone. Goodbye.",
    no_input: "Sorry, I did not get your answer.",
    confirmed: "Thank you, your appointment is confirmed. Goodbye.",
    cancelled: "Your appointment has been cancelled. Please call the practice to book a new time. Goodbye.",
    connecting: "Please hold while we connect you to the practice.",
    cannot_connect: "The practice cannot be connected on this call. Please call the practice directly. Goodbye.",
};

const SPANISH: Phrases = Phrases {
    prompt: "Marque 1 para confirmar, 2 para cancelar, 0 para hablar con el consultorio, o asterisco para escuchar este mensaje de nuevo.",
    consent_prompt: "Marque 1 para aceptar, o asterisco para escuchar este mensaje de nuevo.",
    consented: "Gracias, a partir de ahora recibirá mensajes sobre sus citas por teléfono. Adiós.",
    no_input: "Lo siento, no recibí su respuesta.",
    confirmed: "Gracias, su cita está confirmada. Adiós.",
    cancelled: "Su cita ha sido cancelada. Llame al consultorio para programar una nueva cita. Adiós.",
    connecting: "Por favor espere mientras lo comunicamos con el consultorio.",
    cannot_connect: "No podemos comunicarlo con el consultorio en esta llamada. Llame directamente al consultorio. Adiós.",
};

const FRENCH: Phrases = Phrases {
    prompt:
        "Appuyez sur 1 pour confirmer, 2 pour annuler, 0 pour parler au cabinet, ou étoile pour réécouter ce message.",
    consent_prompt: "Appuyez sur 1 pour accepter, ou étoile pour réécouter ce message.",
    consented: "Merci, vous recevrez désormais les messages sur vos rendez-vous par téléphone. Au revoir.",
    no_input: "Désolé, je n'ai pas reçu votre réponse.",
    confirmed: "Merci, votre rendez-vous est confirmé. Au revoir.",
    cancelled:
        "Votre rendez-vous a été annulé. Veuillez appeler le cabinet pour fixer un nouveau rendez-vous. Au revoir.",
    connecting: "Veuillez patienter, nous vous mettons en relation avec le cabinet.",
    cannot_connect: "Nous ne pouvons pas vous mettre en relation avec le cabinet lors de cet appel. Veuillez appeler le cabinet directement. Au revoir.",
};

const GERMAN: Phrases = Phrases {
    prompt: "Drücken Sie 1 zum Bestätigen, 2 zum Absagen, 0, um mit der Praxis zu sprechen, oder die Sterntaste, um diese Nachricht noch einmal zu hören.",
    consent_prompt: "Drücken Sie 1, um zuzustimmen, oder die Sterntaste, um diese Nachricht noch einmal zu hören.",
    consented: "Vielen Dank, Sie erhalten ab jetzt Terminnachrichten per Telefon. Auf Wiederhören.",
    no_input: "Entschuldigung, ich habe Ihre Eingabe nicht erhalten.",
    confirmed: "Vielen Dank, Ihr Termin ist bestätigt. Auf Wiederhören.",
    cancelled: "Ihr Termin wurde abgesagt. Bitte rufen Sie die Praxis an, um einen neuen Termin zu vereinbaren. Auf Wiederhören.",
    connecting: "Bitte warten Sie, wir verbinden Sie mit der Praxis.",
    cannot_connect: "Wir können Sie bei diesem Anruf nicht mit der Praxis verbinden. Bitte rufen Sie die Praxis direkt an. Auf Wiederhören.",
};

const PORTUGUESE: Phrases = Phrases {
    prompt: "Pressione 1 para confirmar, 2 para cancelar, 0 para falar com o consultório, ou asterisco para ouvir esta mensagem novamente.",
    consent_prompt: "Pressione 1 para aceitar, ou asterisco para ouvir esta mensagem novamente.",
    consented: "Obrigado, a partir de agora você receberá mensagens sobre suas consultas por telefone. Até logo.",
    no_input: "Desculpe, não recebi sua resposta.",
    confirmed: "Obrigado, sua consulta está confirmada. Até logo.",
    cancelled: "Sua consulta foi cancelada. Ligue para o consultório para marcar um novo horário. Até logo.",
    connecting: "Aguarde enquanto transferimos você para o consultório.",
    cannot_connect: "Não é possível transferir você para o consultório nesta chamada. Ligue diretamente para o consultório. Até logo.",
};

const ITALIAN: Phrases = Phrases {
    prompt: "Prema 1 per confermare, 2 per annullare, 0 per parlare con lo studio, o asterisco per riascoltare questo messaggio.",
    consent_prompt: "Prema 1 per accettare, o asterisco per riascoltare questo messaggio.",
    consented: "Grazie, d'ora in poi riceverà i messaggi sui suoi appuntamenti per telefono. Arrivederci.",
    no_input: "Mi scusi, non ho ricevuto la sua risposta.",
    confirmed: "Grazie, il suo appuntamento è confermato. Arrivederci.",
    cancelled: "Il suo appuntamento è stato annullato. Chiami lo studio per fissare un nuovo appuntamento. Arrivederci.",
    connecting: "Attenda in linea, la stiamo mettendo in contatto con lo studio.",
    cannot_connect: "Non possiamo metterla in contatto con lo studio in questa chiamata. Chiami direttamente lo studio. Arrivederci.",
};

static VOICES: &[(&str, Voice)] = &[
    ("en", Voice { language_code: "en-US", voice_id: "Joanna", phrases: &ENGLISH }),
    ("es", Voice { language_code: "es-US", voice_id: "Lupe", phrases: &SPANISH }),
    ("fr", Voice { language_code: "fr-CA", voice_id: "Gabrielle", phrases: &FRENCH }),
    ("de", Voice { language_code: "de-DE", voice_id: "Vicki", phrases: &GERMAN }),
    ("pt", Voice { language_code: "pt-BR", voice_id: "Camila", phrases: &PORTUGUESE }),
    ("it", Voice { language_code: "it-IT", voice_id: "Bianca", phrases: &ITALIAN }),
];

/// French as spoken in Europe, for recipients there.
static EUROPEAN_FRENCH: Voice = Voice { language_code: "fr-FR", voice_id: "Lea", phrases: &FRENCH };

impl Voice {
    /// By the tag's primary language; French by region too. Any other
    /// language is spoken in English.
    fn for_language(language: Option<&str>) -> &'static Voice {
        let mut subtags = language.unwrap_or_default().split(['-', '_']);
        let primary = subtags.next().unwrap_or_default().to_ascii_lowercase();
        let region = subtags.find(|s| s.len() == 2).map(str::to_ascii_uppercase);
        if primary == "fr" && matches!(region.as_deref(), Some("FR" | "BE" | "CH" | "LU" | "MC")) {
            return &EUROPEAN_FRENCH;
        }
        VOICES.iter().find(|(code, _)| *code == primary).map_or(&VOICES[0].1, |(_, voice)| voice)
    }

    fn speech(&self, ssml_body: &str) -> Speech {
        Speech {
            text: format!("{SSML_OPEN}{ssml_body}{SSML_CLOSE}"),
            engine: Engine::Neural,
            language_code: self.language_code.to_owned(),
            text_type: TextType::Ssml,
            voice_id: self.voice_id.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const TRANSACTION: &str = "5b0c2d7e-3f1a-4c8e-9d2b-7a6e1f0c9b31";
    const LEG_A_CALL: &str = "2adfe491-55b4-4790-ae82-8f8a0047e202";
    const LEG_B_CALL: &str = "8f1d6c0a-2b7e-4e55-a1f3-0c9d2e4b6a77";
    const MESSAGE: &str = "appt-9~reminder~1440~1765000000";

    fn fixture(name: &str) -> SmaEvent {
        let text = match name {
            "new_outbound_call" => include_str!("../../../tests/fixtures/chime/new_outbound_call.json"),
            "call_answered" => include_str!("../../../tests/fixtures/chime/call_answered.json"),
            "action_successful_digits" => {
                include_str!("../../../tests/fixtures/chime/action_successful_digits.json")
            }
            "action_failed_digits" => include_str!("../../../tests/fixtures/chime/action_failed_digits.json"),
            "hangup_answered" => include_str!("../../../tests/fixtures/chime/hangup_answered.json"),
            "hangup_busy" => include_str!("../../../tests/fixtures/chime/hangup_busy.json"),
            "hangup_bridged_practice" => {
                include_str!("../../../tests/fixtures/chime/hangup_bridged_practice.json")
            }
            "call_update_end_bridged" => {
                include_str!("../../../tests/fixtures/chime/call_update_end_bridged.json")
            }
            _ => panic!("no fixture {name}"),
        };
        serde_json::from_str(text).unwrap()
    }

    fn script(keypad_reply: bool) -> CallScript {
        CallScript {
            text: "Your appointment is tomorrow at 3:30 PM.".to_owned(),
            language: None,
            keypad: if keypad_reply { Keypad::Appointment } else { Keypad::Off },
            bridge_to: Some("+12025550111".to_owned()),
            caller_id: "+12025550143".to_owned(),
        }
    }

    fn actions_json(response: &SmaResponse) -> Vec<Value> {
        serde_json::to_value(response).unwrap()["Actions"].as_array().unwrap().clone()
    }

    fn types(response: &SmaResponse) -> Vec<String> {
        actions_json(response).iter().map(|action| action["Type"].as_str().unwrap().to_owned()).collect()
    }

    fn keys(value: &Value) -> Vec<&str> {
        let mut keys: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        keys
    }

    fn spoken(action: &Value) -> &str {
        action["Parameters"]["Text"]
            .as_str()
            .or_else(|| action["Parameters"]["SpeechParameters"]["Text"].as_str())
            .unwrap()
    }

    fn later(event_type: InvocationEventType, answered: bool) -> SmaEvent {
        let mut attributes = HashMap::from([
            (ACCOUNT_ID_ARGUMENT.to_owned(), "acct-1".to_owned()),
            (MESSAGE_ID_ARGUMENT.to_owned(), MESSAGE.to_owned()),
        ]);
        if answered {
            attributes.insert(ANSWERED_ATTRIBUTE.to_owned(), "true".to_owned());
        }
        SmaEvent::outbound(event_type, TRANSACTION, LEG_A_CALL, "+12025550143", "+12025550188", attributes)
    }

    fn pressed(digits: &str, script: &CallScript) -> (SmaResponse, Option<CallObservation>) {
        let event = later(InvocationEventType::ActionSuccessful, true)
            .with_action_data(ActionData::digits_received(LEG_A_CALL, digits));
        respond(&event, script)
    }

    #[test]
    fn a_new_outbound_call_keeps_its_arguments_for_later_events() {
        let event = fixture("new_outbound_call");
        assert_eq!(event.argument(ACCOUNT_ID_ARGUMENT), Some("acct-1"));
        assert_eq!(event.argument(MESSAGE_ID_ARGUMENT), Some(MESSAGE));
        assert_eq!(event.call_id(), Some(LEG_A_CALL));

        let (response, observation) = respond(&event, &script(true));

        assert!(response.actions.is_empty());
        assert_eq!(observation, None);
        let attributes = response.transaction_attributes.unwrap();
        assert_eq!(attributes[ACCOUNT_ID_ARGUMENT], "acct-1");
        assert_eq!(attributes[MESSAGE_ID_ARGUMENT], MESSAGE);
    }

    #[test]
    fn ringing_asks_for_nothing() {
        let event = later(InvocationEventType::Ringing, false);
        let (response, observation) = respond(&event, &script(true));
        assert!(response.actions.is_empty());
        assert_eq!(observation, None);
    }

    #[test]
    fn an_answered_call_with_keypad_speaks_the_message_with_the_prompt_and_waits_for_one_key() {
        let event = fixture("call_answered");
        assert_eq!(event.argument(MESSAGE_ID_ARGUMENT), Some(MESSAGE));

        let (response, observation) = respond(&event, &script(true));

        assert_eq!(observation, Some(CallObservation::Answered));
        assert_eq!(response.transaction_attributes.as_ref().unwrap()[ANSWERED_ATTRIBUTE], "true");
        assert_eq!(types(&response), ["Pause", "SpeakAndGetDigits"]);
        let json = serde_json::to_value(&response).unwrap();
        assert_eq!(json["SchemaVersion"], "1.0");
        let gather = &json["Actions"][1];
        assert_eq!(
            keys(&gather["Parameters"]),
            [
                "CallId",
                "FailureSpeechParameters",
                "InputDigitsRegex",
                "MaxNumberOfDigits",
                "MinNumberOfDigits",
                "Repeat",
                "RepeatDurationInMilliseconds",
                "SpeechParameters"
            ]
        );
        assert_eq!(gather["Parameters"]["CallId"], LEG_A_CALL);
        assert_eq!(gather["Parameters"]["InputDigitsRegex"], "^[120*]$");
        assert_eq!(gather["Parameters"]["MinNumberOfDigits"], 1);
        assert_eq!(gather["Parameters"]["MaxNumberOfDigits"], 1);
        assert_eq!(
            gather["Parameters"]["SpeechParameters"],
            json!({
                "Text": "<speak>Your appointment is tomorrow at 3:30 PM.<break time=\"700ms\"/>Press 1 to confirm, 2 to cancel, 0 to speak with the practice, or star to hear this again.</speak>",
                "Engine": "neural",
                "LanguageCode": "en-US",
                "TextType": "ssml",
                "VoiceId": "Joanna"
            })
        );
        assert_eq!(
            gather["Parameters"]["FailureSpeechParameters"]["Text"],
            "<speak>Sorry, I did not get your answer.</speak>"
        );
        assert_eq!(
            json["Actions"][0],
            json!({"Type": "Pause", "Parameters": {"CallId": LEG_A_CALL, "DurationInMilliseconds": 1000}})
        );
    }

    #[test]
    fn an_answered_call_without_keypad_speaks_then_hangs_up() {
        let (response, observation) = respond(&fixture("call_answered"), &script(false));

        assert_eq!(observation, Some(CallObservation::Answered));
        assert_eq!(types(&response), ["Pause", "Speak", "Hangup"]);
        let actions = actions_json(&response);
        assert_eq!(
            keys(&actions[1]["Parameters"]),
            ["CallId", "Engine", "LanguageCode", "Text", "TextType", "VoiceId"]
        );
        assert_eq!(spoken(&actions[1]), "<speak>Your appointment is tomorrow at 3:30 PM.</speak>");
        assert_eq!(actions[2], json!({"Type": "Hangup", "Parameters": {"CallId": LEG_A_CALL, "SipResponseCode": "0"}}));
    }

    #[test]
    fn markup_in_the_message_is_escaped() {
        let mut script = script(false);
        script.text = "Bring <forms> & ID, Smith's \"new\" patient".to_owned();
        let (response, _) = respond(&fixture("call_answered"), &script);
        assert_eq!(
            spoken(&actions_json(&response)[1]),
            "<speak>Bring &lt;forms&gt; &amp; ID, Smith&#x27;s &quot;new&quot; patient</speak>"
        );
    }

    #[test]
    fn the_voice_follows_the_recipients_language() {
        let cases = [
            (None, "en-US", "Joanna", "Press 1"),
            (Some("en-GB"), "en-US", "Joanna", "Press 1"),
            (Some("es-MX"), "es-US", "Lupe", "Marque 1"),
            (Some("fr"), "fr-CA", "Gabrielle", "Appuyez sur 1"),
            (Some("fr-CA"), "fr-CA", "Gabrielle", "Appuyez sur 1"),
            (Some("fr-FR"), "fr-FR", "Lea", "Appuyez sur 1"),
            (Some("de-AT"), "de-DE", "Vicki", "Drücken Sie 1"),
            (Some("pt-BR"), "pt-BR", "Camila", "Pressione 1"),
            (Some("it"), "it-IT", "Bianca", "Prema 1"),
            (Some("ja-JP"), "en-US", "Joanna", "Press 1"),
        ];
        for (language, code, voice, prompt) in cases {
            let mut script = script(true);
            script.language = language.map(str::to_owned);
            let (response, _) = respond(&fixture("call_answered"), &script);
            let speech = &actions_json(&response)[1]["Parameters"]["SpeechParameters"];
            assert_eq!(speech["LanguageCode"], code, "{language:?}");
            assert_eq!(speech["VoiceId"], voice, "{language:?}");
            assert!(speech["Text"].as_str().unwrap().contains(prompt), "{language:?}");
        }
    }

    #[test]
    fn pressing_1_confirms_and_says_goodbye() {
        let event = fixture("action_successful_digits");
        let (response, observation) = respond(&event, &script(true));

        assert_eq!(observation, Some(CallObservation::Pressed(KeypadChoice::Confirm)));
        assert_eq!(types(&response), ["Speak", "Hangup"]);
        assert_eq!(
            spoken(&actions_json(&response)[0]),
            "<speak>Thank you, your appointment is confirmed. Goodbye.</speak>"
        );
        assert_eq!(response.transaction_attributes.unwrap()[MESSAGE_ID_ARGUMENT], MESSAGE);
    }

    #[test]
    fn an_opt_in_call_asks_for_1_or_star_only_and_thanks_a_1() {
        let consent = CallScript { keypad: Keypad::Consent, ..script(true) };
        let (response, _) = respond(&fixture("call_answered"), &consent);
        let gather = &actions_json(&response)[1];
        assert_eq!(gather["Parameters"]["InputDigitsRegex"], "^[1*]$");
        assert!(spoken(gather).contains("Press 1 to agree, or star to hear this again."), "{gather}");

        let (response, observation) = respond(&fixture("action_successful_digits"), &consent);
        assert_eq!(observation, Some(CallObservation::Pressed(KeypadChoice::Confirm)));
        assert_eq!(
            spoken(&actions_json(&response)[0]),
            "<speak>Thank you, you will now get appointment messages by phone. Goodbye.</speak>"
        );
    }

    #[test]
    fn pressing_2_cancels_in_the_recipients_language() {
        let mut script = script(true);
        script.language = Some("es".to_owned());
        let (response, observation) = pressed("2", &script);

        assert_eq!(observation, Some(CallObservation::Pressed(KeypadChoice::Cancel)));
        assert_eq!(types(&response), ["Speak", "Hangup"]);
        assert!(spoken(&actions_json(&response)[0]).contains("Su cita ha sido cancelada."));
    }

    #[test]
    fn pressing_0_bridges_to_the_practice() {
        let (response, observation) = pressed("0", &script(true));

        assert_eq!(observation, Some(CallObservation::Pressed(KeypadChoice::Connect)));
        assert_eq!(types(&response), ["Speak", "CallAndBridge"]);
        assert_eq!(
            actions_json(&response)[1],
            json!({
                "Type": "CallAndBridge",
                "Parameters": {
                    "CallTimeoutSeconds": 30,
                    "CallerIdNumber": "+12025550143",
                    "Endpoints": [{"BridgeEndpointType": "PSTN", "Uri": "+12025550111"}]
                }
            })
        );
    }

    #[test]
    fn pressing_0_without_a_registered_number_never_bridges() {
        let mut script = script(true);
        script.bridge_to = None;
        let (response, observation) = pressed("0", &script);

        assert_eq!(observation, Some(CallObservation::Pressed(KeypadChoice::Connect)));
        assert_eq!(types(&response), ["Speak", "Hangup"]);
        assert!(spoken(&actions_json(&response)[0]).contains("cannot be connected"));
    }

    #[test]
    fn pressing_star_repeats_the_message_and_the_prompt() {
        let (response, observation) = pressed("*", &script(true));

        assert_eq!(observation, Some(CallObservation::Pressed(KeypadChoice::Repeat)));
        assert_eq!(types(&response), ["SpeakAndGetDigits"]);
        let text = spoken(&actions_json(&response)[0]).to_owned();
        assert!(text.starts_with("<speak>Your appointment is tomorrow"));
        assert!(text.ends_with("or star to hear this again.</speak>"));
    }

    #[test]
    fn no_usable_key_hangs_up_without_an_observation() {
        let (response, observation) = pressed("", &script(true));
        assert_eq!(observation, None);
        assert_eq!(types(&response), ["Hangup"]);
    }

    #[test]
    fn a_failed_gather_hangs_up() {
        let event = fixture("action_failed_digits");
        assert_eq!(event.action_data.as_ref().unwrap().error_type.as_deref(), Some("SystemException"));

        let (response, observation) = respond(&event, &script(true));

        assert_eq!(observation, None);
        assert_eq!(types(&response), ["Hangup"]);
        assert_eq!(actions_json(&response)[0]["Parameters"]["CallId"], LEG_A_CALL);
    }

    #[test]
    fn a_failed_hangup_is_not_retried() {
        let event = later(InvocationEventType::ActionFailed, true).with_action_data(ActionData::failed(
            HANGUP,
            LEG_A_CALL,
            "SystemException",
        ));
        let (response, _) = respond(&event, &script(true));
        assert!(response.actions.is_empty());
    }

    #[test]
    fn a_finished_speak_asks_for_nothing_more() {
        let mut data = ActionData::digits_received(LEG_A_CALL, "1");
        data.action_type = "Speak".to_owned();
        data.received_digits = None;
        let event = later(InvocationEventType::ActionSuccessful, true).with_action_data(data);
        let (response, observation) = respond(&event, &script(true));
        assert!(response.actions.is_empty());
        assert_eq!(observation, None);
    }

    #[test]
    fn hanging_up_after_the_answer_completes_the_call() {
        let (response, observation) = respond(&fixture("hangup_answered"), &script(true));
        assert_eq!(observation, Some(CallObservation::Ended(CallEnd::Completed)));
        assert!(response.actions.is_empty());
    }

    #[test]
    fn an_unanswered_call_ends_busy_no_answer_or_failed() {
        let (_, busy) = respond(&fixture("hangup_busy"), &script(true));
        assert_eq!(busy, Some(CallObservation::Ended(CallEnd::Busy)));

        let ended = |code: &str| {
            let event =
                later(InvocationEventType::Hangup, false).with_action_data(ActionData::hung_up(LEG_A_CALL, code));
            respond(&event, &script(true)).1
        };
        assert_eq!(ended("480"), Some(CallObservation::Ended(CallEnd::NoAnswer)));
        assert_eq!(ended("487"), Some(CallObservation::Ended(CallEnd::NoAnswer)));
        assert_eq!(ended("404"), Some(CallObservation::Ended(CallEnd::Failed("404".into()))));
    }

    #[test]
    fn the_practice_hanging_up_a_bridged_call_hangs_up_the_recipient() {
        let (response, observation) = respond(&fixture("hangup_bridged_practice"), &script(true));
        assert_eq!(observation, None, "the recipient's own hangup ends the call");
        assert_eq!(
            serde_json::to_value(&response.actions).unwrap(),
            json!([{"Type": "Hangup", "Parameters": {"CallId": LEG_A_CALL, "SipResponseCode": "0"}}])
        );
    }

    #[test]
    fn the_recipient_hanging_up_a_bridged_call_hangs_up_the_practice() {
        let mut event = fixture("hangup_bridged_practice");
        event.action_data = Some(ActionData::hung_up(LEG_A_CALL, "0"));
        event.call_details.participants[0].status = Some(ParticipantStatus::Disconnected);
        event.call_details.participants[1].status = Some(ParticipantStatus::Connected);

        let (response, observation) = respond(&event, &script(true));

        assert_eq!(observation, Some(CallObservation::Ended(CallEnd::Completed)));
        assert_eq!(response.actions, vec![hangup(LEG_B_CALL)]);
    }

    #[test]
    fn a_call_at_its_cap_hangs_up_both_legs_and_its_hangup_ends_it() {
        let event = fixture("call_update_end_bridged");
        assert_eq!(event.event_type(), InvocationEventType::CallUpdateRequested);
        assert_eq!(event.argument(ACCOUNT_ID_ARGUMENT), Some("acct-1"));

        let (response, observation) = respond(&event, &script(true));

        assert_eq!(response.actions, vec![hangup(LEG_A_CALL), hangup(LEG_B_CALL)]);
        assert_eq!(observation, None);
        assert_eq!(response.transaction_attributes.unwrap()[ANSWERED_ATTRIBUTE], "true");
    }

    #[test]
    fn an_update_that_asks_nothing_known_changes_nothing() {
        let mut event = fixture("call_update_end_bridged");
        event.action_data.as_mut().unwrap().parameters.arguments.clear();
        let (response, observation) = respond(&event, &script(true));
        assert!(response.actions.is_empty());
        assert_eq!(observation, None);
    }

    #[test]
    fn unknown_event_types_are_tolerated() {
        let mut value: Value =
            serde_json::from_str(include_str!("../../../tests/fixtures/chime/call_answered.json")).unwrap();
        value["InvocationEventType"] = json!("DIGITS_RECEIVED");
        let event: SmaEvent = serde_json::from_value(value).unwrap();
        assert_eq!(event.event_type(), InvocationEventType::Other);

        let (response, observation) = respond(&event, &script(true));
        assert!(response.actions.is_empty());
        assert_eq!(observation, None);
    }

    #[test]
    fn a_refused_response_hangs_up() {
        let event = later(InvocationEventType::InvalidLambdaResponse, true);
        let (response, _) = respond(&event, &script(true));
        assert_eq!(response.actions, vec![hangup(LEG_A_CALL)]);
    }

    #[test]
    fn a_long_message_is_spoken_in_parts_that_chime_accepts() {
        let mut script = script(true);
        script.text = "Bring & sign your forms. ".repeat(120);
        let (response, _) = respond(&fixture("call_answered"), &script);

        let actions = actions_json(&response);
        assert!(actions.len() <= MAX_ACTIONS);
        assert!(types(&response).iter().filter(|t| *t == "Speak").count() >= 2);
        assert_eq!(types(&response).last().unwrap(), "SpeakAndGetDigits");
        for action in &actions[1..] {
            let text = spoken(action);
            assert!(text.chars().count() <= MAX_SPEECH_CHARS, "{} chars", text.chars().count());
            assert!(text.starts_with("<speak>") && text.ends_with("</speak>"));
            assert!(!text.contains("&amp;amp;"));
        }
        let said: String = actions[1..actions.len() - 1]
            .iter()
            .map(|action| spoken(action).trim_start_matches("<speak>").trim_end_matches("</speak>").to_owned())
            .collect::<Vec<_>>()
            .join(" ");
        assert!(said.starts_with("Bring &amp; sign your forms. Bring"));
    }

    #[test]
    fn a_word_longer_than_a_speech_is_cut_between_characters() {
        let chunks = speech_chunks(&"&".repeat(MAX_SPEECH_CHARS));
        assert!(chunks.len() > 1);
        for chunk in &chunks {
            assert!(ssml_len(chunk) <= MAX_SPEECH_CHARS);
            assert!(chunk.chars().count() % "&amp;".len() == 0, "an entity was split");
        }
    }

    #[test]
    fn events_built_for_the_local_runner_read_like_chimes() {
        let arguments = HashMap::from([
            (ACCOUNT_ID_ARGUMENT.to_owned(), "acct-1".to_owned()),
            (MESSAGE_ID_ARGUMENT.to_owned(), MESSAGE.to_owned()),
        ]);
        let built = SmaEvent::outbound(
            InvocationEventType::NewOutboundCall,
            TRANSACTION,
            LEG_A_CALL,
            "+12025550143",
            "+12025550188",
            arguments,
        );
        let parsed = fixture("new_outbound_call");
        assert_eq!(built.action_data, parsed.action_data);
        assert_eq!(built.call_id(), parsed.call_id());

        let round_trip: SmaEvent = serde_json::from_value(serde_json::to_value(&parsed).unwrap()).unwrap();
        assert_eq!(round_trip, parsed);

        let (response, _) = respond(&fixture("call_answered"), &script(true));
        let back: SmaResponse = serde_json::from_value(serde_json::to_value(&response).unwrap()).unwrap();
        assert_eq!(back, response);
    }
}
