//! Local channel sinks: they stand in for SES, SNS, Chime and the fax
//! provider and record what would have been sent, in memory and in a
//! JSON-lines file beside the database.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tidings::channels::staff_mail::{StaffMail, StaffMailer};
use tidings::channels::{ChannelSender, Outgoing, ProviderMessageId, SendError};
use tidings::domain::{Channel, Clock, RenderedContent};

/// The domain local emails' replies go to (`REPLY_DOMAIN` on AWS).
pub const LOCAL_REPLY_DOMAIN: &str = "replies.tidings.test";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub channel: Channel,
    pub to: String,
    pub subject: Option<String>,
    pub body: String,
    /// The provider's id (`local-…`): what the message records as sent.
    pub message_id: String,
    pub sent_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_token: Option<String>,
    /// Email: where a reply goes (`reply+TOKEN@` the local reply domain):
    /// write a reply to it and post it to `/local/email/inbound`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<String>,
    /// Voice: the call waits for a keypad reply.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keypad_reply: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Fax: the pages sent, and where the PDF was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pages: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_bytes: Option<usize>,
    /// A staff email (a notification or a digest), not a patient's
    /// message.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub staff: bool,
}

impl OutboxEntry {
    pub fn new(channel: Channel, content: &RenderedContent, provider_id: &str, sent_at: DateTime<Utc>) -> Self {
        Self {
            subject: content.subject.clone(),
            from: content.from.clone(),
            ..Self::sent(channel, &content.to, &content.body, provider_id, sent_at)
        }
    }

    /// What was sent, to whom, with nothing more yet.
    fn sent(channel: Channel, to: &str, body: &str, provider_id: &str, sent_at: DateTime<Utc>) -> Self {
        Self {
            channel,
            to: to.to_owned(),
            subject: None,
            body: body.to_owned(),
            message_id: provider_id.to_owned(),
            sent_at,
            from: None,
            html: None,
            reply_token: None,
            reply_to: None,
            attachments: Vec::new(),
            keypad_reply: false,
            language: None,
            pages: None,
            document: None,
            document_bytes: None,
            staff: false,
        }
    }
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

    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn entries(&self) -> Vec<OutboxEntry> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn record(&self, entry: OutboxEntry) -> std::io::Result<()> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(file) = &self.file {
            let mut out = std::fs::OpenOptions::new().create(true).append(true).open(file)?;
            writeln!(out, "{}", serde_json::to_string(&entry)?)?;
        }
        entries.push(entry);
        Ok(())
    }
}

/// Email and SMS delivered into the outbox.
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
                html: content.html.clone(),
                reply_token: content.reply_token.clone(),
                reply_to: content.reply_token.as_ref().map(|token| format!("reply+{token}@{LOCAL_REPLY_DOMAIN}")),
                attachments: content.attachments.iter().map(|a| a.filename.clone()).collect(),
                ..OutboxEntry::new(self.channel, content, &message_id, self.clock.now())
            })
            .map_err(|e| SendError::Transient(format!("outbox_write_{:?}", e.kind())))?;
        Ok(message_id)
    }
}

/// Staff emails delivered into the outbox, marked `staff`.
pub struct LocalStaffMailer {
    outbox: Outbox,
    clock: Arc<dyn Clock>,
}

impl LocalStaffMailer {
    pub fn new(outbox: Outbox, clock: Arc<dyn Clock>) -> Self {
        Self { outbox, clock }
    }
}

#[async_trait]
impl StaffMailer for LocalStaffMailer {
    async fn send(&self, mail: StaffMail<'_>) -> Result<ProviderMessageId, SendError> {
        let message_id = format!("local-{}", uuid::Uuid::new_v4());
        self.outbox
            .record(OutboxEntry {
                subject: Some(mail.email.subject.clone()),
                html: Some(mail.email.html.clone()),
                staff: true,
                ..OutboxEntry::sent(Channel::Email, mail.to.as_str(), &mail.email.text, &message_id, self.clock.now())
            })
            .map_err(|e| SendError::Transient(format!("outbox_write_{:?}", e.kind())))?;
        Ok(message_id)
    }
}
