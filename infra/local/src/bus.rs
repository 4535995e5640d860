//! The local event bus: routes events by the rules `template.yaml` declares
//! to the same handler functions the rules invoke on AWS, asynchronously as
//! EventBridge does, and can say when all resulting work has finished.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use tidings::domain::Clock;
use tidings::events::{BusEvent, EventPublisher, MessageReady, OptInNeeded, PublishError, SOURCE};
use tidings::services::{Delivery, OptInService};
use tokio::sync::watch;

use crate::template::RouteDecl;

/// Lambda retries a failed asynchronous invocation twice.
const ASYNC_RETRIES: usize = 2;

/// A function the bus can invoke with an EventBridge envelope.
#[async_trait]
pub trait LocalFunction: Send + Sync {
    async fn invoke(&self, envelope: serde_json::Value) -> Result<(), Diagnostic>;
}

/// A delivery function: the Lambda handler over a delivery service whose
/// channel is a local sink.
pub struct DeliveryFunction(pub Arc<Delivery>);

#[async_trait]
impl LocalFunction for DeliveryFunction {
    async fn invoke(&self, envelope: serde_json::Value) -> Result<(), Diagnostic> {
        // Deserialised exactly as the Lambda runtime does it.
        let event: EventBridgeEvent<MessageReady> =
            serde_json::from_value(envelope).map_err(|e| tidings::lambda::diagnostic("Deserialize", false, &e))?;
        tidings::lambda::deliver_message_ready(&self.0, LambdaEvent::new(event, Context::default())).await.map(|_| ())
    }
}

/// The `opt-in` function: its Lambda handler over the opt-in service.
pub struct OptInFunction(pub Arc<OptInService>);

#[async_trait]
impl LocalFunction for OptInFunction {
    async fn invoke(&self, envelope: serde_json::Value) -> Result<(), Diagnostic> {
        let event: EventBridgeEvent<OptInNeeded> =
            serde_json::from_value(envelope).map_err(|e| tidings::lambda::diagnostic("Deserialize", false, &e))?;
        tidings_opt_in::handler(&self.0, LambdaEvent::new(event, Context::default())).await.map(|_| ())
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct BusOptions {
    /// Deliver every event twice, as EventBridge may.
    pub duplicate_deliveries: bool,
}

#[derive(Clone)]
pub struct LocalBus {
    routes: Arc<Vec<RouteDecl>>,
    functions: Arc<HashMap<String, Arc<dyn LocalFunction>>>,
    clock: Arc<dyn Clock>,
    /// Invocations under way; `idle` waits for zero.
    in_flight: watch::Sender<usize>,
    options: BusOptions,
    /// Every event put on the bus, as an archive would keep them: events
    /// no rule takes (`TopUpRequested`) are for the practice's own rules.
    published: Arc<std::sync::Mutex<Vec<BusEvent>>>,
}

impl LocalBus {
    pub fn new(
        routes: Vec<RouteDecl>,
        functions: HashMap<String, Arc<dyn LocalFunction>>,
        clock: Arc<dyn Clock>,
        options: BusOptions,
    ) -> Result<Self, String> {
        if let Some(missing) = routes.iter().find(|r| !functions.contains_key(&r.function)) {
            return Err(format!("template.yaml routes events to {}, which the local runner lacks", missing.function));
        }
        Ok(Self {
            routes: Arc::new(routes),
            functions: Arc::new(functions),
            clock,
            in_flight: watch::Sender::new(0),
            options,
            published: Arc::default(),
        })
    }

    pub fn published(&self) -> Vec<BusEvent> {
        self.published.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits until every invocation started so far, and every one those
    /// started in turn, has finished.
    pub async fn idle(&self) {
        let mut in_flight = self.in_flight.subscribe();
        // The sender lives in `self`, so the channel cannot close under us.
        let _ = in_flight.wait_for(|count| *count == 0).await;
    }

    fn matches(route: &RouteDecl, event: &BusEvent) -> bool {
        let channel = event.detail.get("channel").and_then(|c| c.as_str());
        route.detail_types.iter().any(|t| t == event.detail_type)
            && (route.channels.is_empty() || channel.is_some_and(|c| route.channels.iter().any(|r| r == c)))
    }

    fn envelope(&self, event: &BusEvent) -> serde_json::Value {
        serde_json::json!({
            "version": "0",
            "id": uuid::Uuid::new_v4().to_string(),
            "detail-type": event.detail_type,
            "source": SOURCE,
            "account": "000000000000",
            "time": self.clock.now(),
            "region": "local",
            "resources": [],
            "detail": event.detail,
        })
    }
}

/// One invocation under way; counted down when dropped, even by a panic,
/// so that `idle` never waits forever.
struct InFlight(watch::Sender<usize>);

impl InFlight {
    fn start(counter: &watch::Sender<usize>) -> Self {
        counter.send_modify(|count| *count += 1);
        Self(counter.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.send_modify(|count| *count -= 1);
    }
}

/// As Lambda does for an asynchronous invocation: retry what may succeed.
async fn invoke_with_retries(function: &dyn LocalFunction, name: &str, envelope: serde_json::Value) {
    for attempt in 0..=ASYNC_RETRIES {
        match function.invoke(envelope.clone()).await {
            Ok(()) => return,
            Err(err) => {
                tracing::warn!(function = %name, attempt, error_type = %err.error_type, "invocation failed");
                if !err.error_type.starts_with("Retryable") {
                    return;
                }
            }
        }
    }
}

/// The bus for services built before it (delivery needs a publisher, the
/// bus needs the delivery functions): set once the bus exists.
#[derive(Clone, Default)]
pub struct LateBus(Arc<std::sync::OnceLock<LocalBus>>);

impl LateBus {
    pub fn set(&self, bus: LocalBus) {
        let _ = self.0.set(bus);
    }
}

#[async_trait]
impl EventPublisher for LateBus {
    async fn publish(&self, events: Vec<BusEvent>) -> Result<(), PublishError> {
        match self.0.get() {
            Some(bus) => bus.publish(events).await,
            None => Err(PublishError { failed: events.len(), total: events.len(), code: "bus_not_started".into() }),
        }
    }
}

#[async_trait]
impl EventPublisher for LocalBus {
    async fn publish(&self, events: Vec<BusEvent>) -> Result<(), PublishError> {
        let copies = if self.options.duplicate_deliveries { 2 } else { 1 };
        self.published.lock().unwrap_or_else(|e| e.into_inner()).extend(events.iter().cloned());
        for event in &events {
            let targets: Vec<_> = self.routes.iter().filter(|r| Self::matches(r, event)).collect();
            if targets.is_empty() {
                // For the practice's own rules (TopUpRequested,
                // NotificationRaised, answers): kept in `published`.
                tracing::debug!(detail_type = event.detail_type, "no rule of ours matches the event");
            }
            for route in targets {
                let Some(function) = self.functions.get(&route.function).cloned() else { continue };
                for _ in 0..copies {
                    let envelope = self.envelope(event);
                    let function = function.clone();
                    let name = route.function.clone();
                    // Counted before the task starts, so that `idle` can
                    // never see zero while an invocation is pending.
                    let in_flight = InFlight::start(&self.in_flight);
                    tokio::spawn(async move {
                        let invocation = invoke_with_retries(function.as_ref(), &name, envelope);
                        crate::embedded::INVOKED_FUNCTION.scope(name.clone(), invocation).await;
                        drop(in_flight);
                    });
                }
            }
        }
        Ok(())
    }
}
