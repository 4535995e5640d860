//! What a provider reports about a message it was handed, in the one shape
//! every outcome handler applies (SMS delivery logs, fax status webhooks).

use serde::{Deserialize, Serialize};

use super::message::StatusReason;
use super::notification::NotificationKind;
use super::recipient::Channel;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderReport {
    pub channel: Channel,
    /// The id the provider gave the message when it took it.
    pub provider_message_id: String,
    pub outcome: ReportedOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ReportedOutcome {
    Delivered,
    /// `code` is the provider's short code, never its free text.
    Failed {
        reason: StatusReason,
        kind: NotificationKind,
        code: String,
    },
}

impl ProviderReport {
    /// The same for a redelivery of the report, so that it is kept once.
    pub fn id(&self) -> String {
        let outcome = match self.outcome {
            ReportedOutcome::Delivered => "delivered",
            ReportedOutcome::Failed { .. } => "failed",
        };
        format!("{}#{}#{outcome}", self.channel.as_str(), self.provider_message_id)
    }
}
