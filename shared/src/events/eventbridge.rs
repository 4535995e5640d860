//! The EventBridge adapter of [`EventPublisher`].

use async_trait::async_trait;
use aws_sdk_eventbridge::error::ProvideErrorMetadata;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;
use futures::StreamExt;

use super::{BusEvent, EventPublisher, PublishError, SOURCE};

/// PutEvents takes at most ten entries a call.
const PUT_EVENTS_MAX: usize = 10;

pub struct EventBridgePublisher {
    client: Client,
    bus_name: String,
}

impl EventBridgePublisher {
    pub fn new(client: Client, bus_name: impl Into<String>) -> Self {
        Self { client, bus_name: bus_name.into() }
    }
}

#[async_trait]
impl EventPublisher for EventBridgePublisher {
    /// Ten events to a PutEvents call, several calls in flight; entries
    /// EventBridge failed (throttled, or failed inside) are put again a
    /// few times before the publish fails.
    async fn publish(&self, events: Vec<BusEvent>) -> Result<(), PublishError> {
        let total = events.len();
        let calls: Vec<_> = events.chunks(PUT_EVENTS_MAX).map(|batch| self.put_batch(batch)).collect();
        let outcomes: Vec<Result<(), (usize, String)>> =
            futures::stream::iter(calls).buffer_unordered(PUTS_IN_FLIGHT).collect().await;
        let failed: usize = outcomes.iter().filter_map(|outcome| outcome.as_ref().err()).map(|(n, _)| n).sum();
        match outcomes.into_iter().find_map(Result::err) {
            None => Ok(()),
            Some((_, code)) => Err(PublishError { failed, total, code }),
        }
    }
}

/// PutEvents calls one publish has in flight at once.
const PUTS_IN_FLIGHT: usize = 8;
/// Puts of one batch, the first included, before its failed entries fail it.
const PUT_ATTEMPTS: u32 = 3;

impl EventBridgePublisher {
    /// Puts one batch; what failed of it after every attempt, and why.
    async fn put_batch(&self, batch: &[BusEvent]) -> Result<(), (usize, String)> {
        let mut left: Vec<&BusEvent> = batch.iter().collect();
        let mut code = String::new();
        for attempt in 0..PUT_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(100 << attempt)).await;
            }
            let entries = left
                .iter()
                .map(|event| {
                    PutEventsRequestEntry::builder()
                        .event_bus_name(&self.bus_name)
                        .source(SOURCE)
                        .detail_type(event.detail_type)
                        .detail(event.detail.to_string())
                        .build()
                })
                .collect();
            let output = match self.client.put_events().set_entries(Some(entries)).send().await {
                Ok(output) => output,
                Err(err) => {
                    code = err.code().unwrap_or("dispatch_failure").to_owned();
                    continue;
                }
            };
            if output.failed_entry_count == 0 {
                return Ok(());
            }
            // Answers come in the order of the entries put.
            let answers = output.entries.unwrap_or_default();
            let mut failed = Vec::new();
            for (event, answer) in left.iter().zip(answers.iter().map(Some).chain(std::iter::repeat(None))) {
                if let Some(error) = answer.map_or(Some("unanswered"), |answer| answer.error_code()) {
                    code = error.to_owned();
                    failed.push(*event);
                }
            }
            left = failed;
            if left.is_empty() {
                return Ok(());
            }
        }
        Err((left.len(), code))
    }
}
