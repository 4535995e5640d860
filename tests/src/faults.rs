//! Fault injection: a DynamoDB interceptor that fails one chosen request,
//! either before it reaches the table or after the table applied it (the
//! answer is lost, as after a timeout), and a provider whose answers are
//! scripted, so that a message's whole life can be run with one fault at
//! every point and what must hold checked afterwards.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents, SharedInterceptor};
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use tidings::channels::{ChannelSender, Outgoing, ProviderMessageId, SendError};
use tidings::domain::Channel;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Where a fault strikes a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultMode {
    /// The request never reaches the table.
    Before,
    /// The table applies the request; its answer is lost.
    After,
}

impl FaultMode {
    pub fn as_str(self) -> &'static str {
        match self {
            FaultMode::Before => "before",
            FaultMode::After => "after",
        }
    }
}

#[derive(Debug, Default)]
struct FaultState {
    armed: bool,
    /// Requests seen since arming, by operation (a query names its index).
    seen: Vec<String>,
    fault: Option<(usize, FaultMode)>,
    struck: Option<String>,
}

/// The interceptor: counts the requests made while armed and fails the one
/// the fault names.
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Mutex<FaultState>>);

#[derive(Debug, Clone, Copy)]
struct RequestIndex(usize);

impl Storable for RequestIndex {
    type Storer = StoreReplace<Self>;
}

impl Faults {
    pub fn interceptor(&self) -> SharedInterceptor {
        SharedInterceptor::new(self.clone())
    }

    fn state(&self) -> std::sync::MutexGuard<'_, FaultState> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts counting requests from zero, failing request `fault` if given.
    pub fn arm(&self, fault: Option<(usize, FaultMode)>) {
        let mut state = self.state();
        *state = FaultState { armed: true, fault, ..FaultState::default() };
    }

    /// Stops counting and failing; what was counted is returned.
    pub fn disarm(&self) -> Vec<String> {
        let mut state = self.state();
        state.armed = false;
        state.fault = None;
        std::mem::take(&mut state.seen)
    }

    /// The operation the fault struck, if it struck.
    pub fn struck(&self) -> Option<String> {
        self.state().struck.clone()
    }

    fn strike(&self, index: usize, mode: FaultMode) -> Result<(), BoxError> {
        let mut state = self.state();
        if state.armed && state.fault == Some((index, mode)) {
            state.struck = state.seen.get(index).cloned();
            return Err(format!("injected fault {} request {index}", mode.as_str()).into());
        }
        Ok(())
    }
}

impl Intercept for Faults {
    fn name(&self) -> &'static str {
        "Faults"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let mut operation = request
            .headers()
            .get("x-amz-target")
            .and_then(|target| target.rsplit('.').next())
            .unwrap_or("unknown")
            .to_owned();
        let body = request.body().bytes().unwrap_or_default();
        if let Ok(body) = serde_json::from_slice::<serde_json::Value>(body) {
            if let Some(index) = body["IndexName"].as_str() {
                operation = format!("{operation}({index})");
            }
        }
        let index = {
            let mut state = self.state();
            if !state.armed {
                return Ok(());
            }
            state.seen.push(operation);
            state.seen.len() - 1
        };
        cfg.interceptor_state().store_put(RequestIndex(index));
        self.strike(index, FaultMode::Before)
    }

    fn read_after_transmit(
        &self,
        _context: &BeforeDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        match cfg.load::<RequestIndex>() {
            Some(RequestIndex(index)) => self.strike(*index, FaultMode::After),
            None => Ok(()),
        }
    }
}

/// The fax provider a scripted fax is sent through: its webhooks come to
/// `/webhooks/fax/telnyx`.
pub const SCRIPTED_FAX_PROVIDER: &str = "telnyx";

/// A provider whose answers are scripted (then it accepts), which counts the
/// sends that may have reached the recipient.
#[derive(Debug)]
pub struct ScriptedProvider {
    channel: Channel,
    answers: Mutex<VecDeque<Result<(), SendError>>>,
    /// Sends the provider accepted, or may have (an unknown outcome).
    reached: Mutex<Vec<String>>,
}

impl ScriptedProvider {
    pub fn answering(channel: Channel, answers: Vec<Result<(), SendError>>) -> Self {
        Self { channel, answers: Mutex::new(answers.into()), reached: Mutex::default() }
    }

    /// The messages each send that may have reached the recipient was for.
    pub fn reached(&self) -> Vec<String> {
        self.reached.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl ChannelSender for ScriptedProvider {
    fn channel(&self) -> Channel {
        self.channel
    }

    async fn send(&self, outgoing: Outgoing<'_>) -> Result<ProviderMessageId, SendError> {
        let answer = self.answers.lock().ok().and_then(|mut a| a.pop_front()).unwrap_or(Ok(()));
        let message = outgoing.message_id.to_string();
        match answer {
            Ok(()) => {
                let mut reached = self.reached.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                reached.push(message);
                let id = format!("{}-{}", self.channel.as_str(), reached.len());
                // A fax's id is recorded with its provider's name, as the
                // real fax sender records it.
                match self.channel {
                    Channel::Fax => Ok(tidings::channels::fax::provider_message_id(SCRIPTED_FAX_PROVIDER, &id)),
                    _ => Ok(id),
                }
            }
            Err(SendError::Unknown(code)) => {
                self.reached.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(message);
                Err(SendError::Unknown(code))
            }
            Err(refused) => Err(refused),
        }
    }
}
