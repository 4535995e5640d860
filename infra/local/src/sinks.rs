//! Local channel sinks: they stand in for SES and SNS and record what would
//! have been sent, in memory and in a JSON-lines file beside the database.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tidings::channels::{ChannelSender, Outgoing, ProviderMessageId, SendError};
use tidings::domain::{Channel, Clock};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub channel: Channel,
    pub to: String,
    pub subject: Option<String>,
    pub body: String,
    pub message_id: String,
    pub sent_at: DateTime<Utc>,
}

#[derive(Clone, Default)]
pub struct Outbox {
    entries: Arc<Mutex<Vec<OutboxEntry>>>,
    file: Option<PathBuf>,
}

impl Outbox {
    /// An outbox kept in `file` as well, reloaded from it if it exists.
    pub fn persisted(file: PathBuf) -> std::io::Result<Self> {
        let entries = match std::fs::read_to_string(&file) {
            Ok(text) => text.lines().filter_map(|line| serde_json::from_str(line).ok()).collect(),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(err) => return Err(err),
        };
        Ok(Self { entries: Arc::new(Mutex::new(entries)), file: Some(file) })
    }

    pub fn entries(&self) -> Vec<OutboxEntry> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn record(&self, entry: OutboxEntry) -> std::io::Result<()> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(file) = &self.file {
            let mut out = std::fs::OpenOptions::new().create(true).append(true).open(file)?;
            writeln!(out, "{}", serde_json::to_string(&entry)?)?;
        }
        entries.push(entry);
        Ok(())
    }
}

/// A channel that delivers into the outbox.
pub struct LocalSink {
    channel: Channel,
    outbox: Outbox,
    clock: Arc<dyn Clock>,
}

impl LocalSink {
    pub fn new(channel: Channel, outbox: Outbox, clock: Arc<dyn Clock>) -> Self {
        Self { channel, outbox, clock }
    }
}

#[async_trait]
impl ChannelSender for LocalSink {
    fn channel(&self) -> Channel {
        self.channel
    }

    async fn send(&self, outgoing: Outgoing<'_>) -> Result<ProviderMessageId, SendError> {
        let content = outgoing.content;
        let message_id = format!("local-{}", uuid::Uuid::new_v4());
        self.outbox
            .record(OutboxEntry {
                channel: self.channel,
                to: content.to.clone(),
                subject: content.subject.clone(),
                body: content.body.clone(),
                message_id: message_id.clone(),
                sent_at: self.clock.now(),
            })
            .map_err(|e| SendError::Transient(format!("outbox_write_{:?}", e.kind())))?;
        Ok(message_id)
    }
}
