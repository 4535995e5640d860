//! The `voice-call` use case: the SIP media application's events for one
//! call, answered with the call flow's actions, and what the call did
//! recorded on its message: answered, the digit pressed (confirming or
//! cancelling the appointment), its minutes, and the charge for them.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::channels::chime::sma::{
    self, CallEnd, CallObservation, CallScript, InvocationEventType, Keypad, KeypadChoice, SmaEvent, SmaResponse,
    ACCOUNT_ID_ARGUMENT, CLAIM_TOKEN_ARGUMENT, MESSAGE_ID_ARGUMENT,
};
use crate::domain::message::CallRecord;
use crate::domain::{
    AccountId, AppointmentId, Channel, Clock, Consent, ConsentEvidence, ConsentMethod, ConsentState, Message,
    MessageId, MessageKind, MessageNotice, MessageStatus, NotificationKind, PhoneNumber, PriceTable, RenderedContent,
    StatusReason,
};
use crate::events::{AppointmentAnswer, AppointmentAnswered, BusEvent, EventPublisher, PublishError};
use crate::services::credit::CreditService;
use crate::services::outcomes::{fail_and_refund, refund_part};
use crate::services::records::{ClientAnswer, RecordsError, RecordsService};
use crate::store::calls::CallDeadline;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum VoiceCallError {
    /// The call carries no (or unknown) message identity: nothing to say.
    #[error("the call names no message of ours")]
    UnknownCall,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Records(#[from] RecordsError),
    #[error(transparent)]
    Publish(#[from] PublishError),
}

impl VoiceCallError {
    pub fn is_retryable(&self) -> bool {
        match self {
            VoiceCallError::UnknownCall => false,
            VoiceCallError::Store(err) => err.is_retryable(),
            VoiceCallError::Records(RecordsError::Store(err)) => err.is_retryable(),
            VoiceCallError::Records(_) => false,
            VoiceCallError::Publish(_) => true,
        }
    }
}

/// A call's events can beat `deliver-voice`'s own settlement (a number
/// that fails at once): a message with a call is still `claimed` then, and
/// the settlement that follows finds its claim moved on and records nothing.
const PLACED: [MessageStatus; 2] = [MessageStatus::Claimed, MessageStatus::Sent];

pub struct VoiceCall {
    store: Store,
    records: Arc<RecordsService>,
    clock: Arc<dyn Clock>,
    prices: PriceTable,
    /// The deployment's number, shown to the practice on a connected call.
    caller_id: PhoneNumber,
    credit: CreditService,
    /// Where keypad answers are announced (`AppointmentConfirmed`, …).
    bus: Arc<dyn EventPublisher>,
}

impl VoiceCall {
    pub fn new(
        store: Store,
        records: Arc<RecordsService>,
        clock: Arc<dyn Clock>,
        prices: PriceTable,
        caller_id: PhoneNumber,
        credit: CreditService,
        bus: Arc<dyn EventPublisher>,
    ) -> Self {
        Self { store, records, clock, prices, caller_id, credit, bus }
    }

    pub async fn handle(&self, event: &SmaEvent) -> Result<SmaResponse, VoiceCallError> {
        let account: AccountId =
            event.argument(ACCOUNT_ID_ARGUMENT).and_then(|a| a.parse().ok()).ok_or(VoiceCallError::UnknownCall)?;
        let id: MessageId =
            event.argument(MESSAGE_ID_ARGUMENT).and_then(|m| m.parse().ok()).ok_or(VoiceCallError::UnknownCall)?;
        let message = self.store.get_message(&account, &id).await?.ok_or(VoiceCallError::UnknownCall)?;
        // A call placed by an earlier attempt (whose answer was lost) is not
        // this message's current send: it is ended, and records nothing.
        let claim = event.argument(CLAIM_TOKEN_ARGUMENT);
        if claim.is_none() || claim != message.claim_token.as_deref() {
            return Err(VoiceCallError::UnknownCall);
        }
        let content = message.content.as_ref().ok_or(VoiceCallError::UnknownCall)?;
        let script = CallScript {
            text: content.body.clone(),
            language: content.language.clone(),
            keypad: match (content.keypad_reply, message.kind) {
                (false, _) => Keypad::Off,
                (true, MessageKind::OptInRequest) => Keypad::Consent,
                (true, _) => Keypad::Appointment,
            },
            bridge_to: self.bridge_number(&account, event, content).await?,
            caller_id: content.from.clone().unwrap_or_else(|| self.caller_id.to_string()),
        };
        let (response, observation) = sma::respond(event, &script);
        if let Some(observation) = observation {
            // Recorded before the response goes: the acknowledgement the
            // recipient hears must be true.
            self.record(&account, &message, &event.call_details.transaction_id, observation).await?;
        }
        Ok(response)
    }

    async fn record(
        &self,
        account: &AccountId,
        message: &Message,
        transaction_id: &str,
        observation: CallObservation,
    ) -> Result<(), VoiceCallError> {
        let now = self.clock.now();
        let mut call = message.call.clone().unwrap_or_default();
        match observation {
            CallObservation::Answered => {
                let answered_at = *call.answered_at.get_or_insert(now);
                self.store.record_call(account, &message.id, &call).await?;
                // A connection to the practice could keep the line open
                // (and billed) for as long as anyone likes.
                let deadline = CallDeadline {
                    account: account.clone(),
                    message_id: message.id.clone(),
                    transaction_id: transaction_id.to_owned(),
                    at: self.prices.call_deadline(answered_at),
                };
                self.store.set_call_deadline(&deadline).await?;
                self.store
                    .record_provider_outcome(account, &message.id, &PLACED, MessageStatus::Delivered, None)
                    .await?;
            }
            CallObservation::Pressed(choice) => {
                call.digit = Some(digit(choice).to_owned());
                self.store.record_call(account, &message.id, &call).await?;
                let answer = match choice {
                    KeypadChoice::Confirm => Some(ClientAnswer::Confirm),
                    KeypadChoice::Cancel => Some(ClientAnswer::Cancel),
                    KeypadChoice::Connect | KeypadChoice::Repeat => None,
                };
                if message.kind == MessageKind::OptInRequest {
                    if choice == KeypadChoice::Confirm {
                        self.consent_by_keypad(account, message, now).await?;
                    }
                } else if let (Some(answer), Some(appointment)) = (answer, &message.appointment_id) {
                    if self.records.answer_appointment(account, appointment, answer).await?.is_some() {
                        tracing::info!(answer = ?answer, "keypad answer applied");
                        self.announce(account, message, appointment, answer).await?;
                    }
                }
            }
            CallObservation::Ended(end) => self.ended(account, message, transaction_id, call, end, now).await?,
        }
        Ok(())
    }

    /// A 1 on an opt-in request's call: consent for the number called,
    /// with the words the recipient heard; what waited for it is released.
    async fn consent_by_keypad(
        &self,
        account: &AccountId,
        message: &Message,
        now: DateTime<Utc>,
    ) -> Result<(), VoiceCallError> {
        let Some(content) = &message.content else { return Ok(()) };
        let policy_version = self.store.get_settings(account).await?.and_then(|s| s.opt_in.privacy_policy_version);
        let consent = Consent {
            channel: Channel::Voice,
            state: ConsentState::Granted,
            since: now,
            method: ConsentMethod::VoiceKeypad,
            address: content.to.clone(),
            evidence: ConsentEvidence {
                words: format!("{} [pressed 1]", content.body),
                reply_id: None,
                message_id: Some(message.id.clone()),
            },
            policy_version,
        };
        self.store.record_consent(account, &message.recipient_id, &consent, now).await?;
        tracing::info!("consent recorded by keypad");
        Ok(())
    }

    /// Tells the practice app what the keypad answer did.
    async fn announce(
        &self,
        account: &AccountId,
        message: &Message,
        appointment: &AppointmentId,
        answer: ClientAnswer,
    ) -> Result<(), VoiceCallError> {
        let event = AppointmentAnswered {
            account_id: account.clone(),
            appointment_id: appointment.clone(),
            recipient_id: message.recipient_id.clone(),
            message_id: Some(message.id.clone()),
            reply_id: None,
            channel: Channel::Voice,
            at: self.clock.now(),
            answer: match answer {
                ClientAnswer::Confirm => AppointmentAnswer::Confirmed,
                ClientAnswer::Cancel => AppointmentAnswer::Cancelled,
            },
        };
        self.bus.publish(vec![BusEvent::from(&event)]).await?;
        Ok(())
    }

    /// The call is over: its minutes are charged (never more than was
    /// reserved), the rest refunded; an unanswered call fails and refunds all.
    async fn ended(
        &self,
        account: &AccountId,
        message: &Message,
        transaction_id: &str,
        mut call: CallRecord,
        end: CallEnd,
        now: DateTime<Utc>,
    ) -> Result<(), VoiceCallError> {
        let (result, failure) = match &end {
            CallEnd::Completed => ("completed", None),
            CallEnd::NoAnswer => ("no_answer", Some((StatusReason::NoAnswer, NotificationKind::CallNotAnswered))),
            CallEnd::Busy => ("busy", Some((StatusReason::Busy, NotificationKind::CallNotAnswered))),
            CallEnd::Failed(_) => {
                ("failed", Some((StatusReason::TransmissionFailed, NotificationKind::DeliveryFailed)))
            }
        };
        call.result = Some(result.to_owned());
        let seconds = call.answered_at.map(|at| (now - at).num_seconds().max(0) as u64);
        call.minutes = Some(seconds.map(|s| s.div_ceil(60).max(1)).unwrap_or(0));
        self.store.record_call(account, &message.id, &call).await?;
        self.store.clear_call_deadline(account, &message.id, transaction_id).await?;
        match failure {
            None => {
                let reserved = message.reserved_cents.unwrap_or(0);
                // The destination was priced when the call was reserved; one
                // that no longer prices is charged what was reserved.
                let cost = content_destination(message)
                    .and_then(|to| self.prices.voice_cost(&to, call.minutes.unwrap_or(0)).ok());
                let charged = cost.unwrap_or(reserved).min(reserved);
                refund_part(&self.store, account, message, reserved - charged, now).await?;
                self.refunded(account).await;
            }
            Some((reason, kind)) => {
                let went_out = [PLACED[0], PLACED[1], MessageStatus::Delivered];
                if let Some(failed) = fail_and_refund(&self.store, account, &message.id, &went_out, reason, now).await?
                {
                    self.refunded(account).await;
                    let code = match &end {
                        CallEnd::Failed(code) => code.clone(),
                        _ => result.to_owned(),
                    };
                    self.store.notify_once(account, &failed.message, &MessageNotice::new(kind, code), now).await?;
                }
            }
        }
        tracing::info!(result, minutes = call.minutes, "call ended");
        Ok(())
    }
}

impl VoiceCall {
    /// The practice's phone, when the operator registered it for this
    /// account's bridge: anything else (a premium or foreign number typed
    /// into settings) is never dialled. Read only when a key can ask for it.
    async fn bridge_number(
        &self,
        account: &AccountId,
        event: &SmaEvent,
        content: &RenderedContent,
    ) -> Result<Option<String>, VoiceCallError> {
        if !content.keypad_reply || event.event_type() != InvocationEventType::ActionSuccessful {
            return Ok(None);
        }
        let Some(number) = content.letterhead.as_ref().and_then(|l| l.practice_phone.parse::<PhoneNumber>().ok())
        else {
            return Ok(None);
        };
        let registered = self.store.bridge_number_owner(&number).await?.as_ref() == Some(account);
        Ok(registered.then(|| number.to_string()))
    }

    /// A refund's follow-up (alerts re-armed, held messages released); the
    /// refund stands whatever happens here.
    async fn refunded(&self, account: &AccountId) {
        if let Err(err) = self.credit.after_refund(account).await {
            tracing::warn!(error = %err, "held messages not released after a refund");
        }
    }
}

fn digit(choice: KeypadChoice) -> &'static str {
    match choice {
        KeypadChoice::Confirm => "1",
        KeypadChoice::Cancel => "2",
        KeypadChoice::Connect => "0",
        KeypadChoice::Repeat => "*",
    }
}

fn content_destination(message: &Message) -> Option<PhoneNumber> {
    message.content.as_ref().and_then(|content| content.to.parse().ok())
}
