//! The EventBridge adapter of [`EventPublisher`].

use async_trait::async_trait;
use aws_sdk_eventbridge::error::ProvideErrorMetadata;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;

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
    async fn publish(&self, events: Vec<BusEvent>) -> Result<(), PublishError> {
        let total = events.len();
        for batch in events.chunks(PUT_EVENTS_MAX) {
            let entries = batch
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
            let output = self.client.put_events().set_entries(Some(entries)).send().await.map_err(|e| {
                PublishError { failed: batch.len(), total, code: e.code().unwrap_or("dispatch_failure").to_owned() }
            })?;
            let failed = usize::try_from(output.failed_entry_count).unwrap_or(batch.len());
            if failed > 0 {
                let code = output
                    .entries
                    .unwrap_or_default()
                    .into_iter()
                    .find_map(|entry| entry.error_code)
                    .unwrap_or_else(|| "unknown".into());
                return Err(PublishError { failed, total, code });
            }
        }
        Ok(())
    }
}
