//! Channel ports: one trait every delivery channel implements (SES, SNS,
//! Chime SDK voice, fax, the local stand-ins), so that delivery is one service.

pub mod chime;
pub mod fax;
pub mod ses;
pub mod ses_events;
pub mod sns;
pub mod sns_events;

use async_trait::async_trait;

use crate::domain::{AccountId, Channel, MessageId, RenderedContent};

/// A failed send. The text is the provider's error code and never the
/// address or body: those are PHI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth trying again: throttling, a network fault, a provider outage.
    #[error("transient delivery failure: {0}")]
    Transient(String),
    /// Will fail every time: a bad address, a rejected message.
    #[error("delivery refused: {0}")]
    Permanent(String),
    /// The request may have reached the provider and been taken (a
    /// timeout, an unreadable answer): sending again could send twice.
    #[error("delivery outcome unknown: {0}")]
    Unknown(String),
}

/// The provider's id for an accepted message.
pub type ProviderMessageId = String;

/// One message handed to a channel: what it says, and which message it is,
/// for providers that call back about it (a voice call's events, a fax's
/// status) and for the email's reply address.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    pub account_id: &'a AccountId,
    pub message_id: &'a MessageId,
    /// The claim this send belongs to: a provider's later report names it,
    /// so that a report of an earlier attempt is not taken for this one's.
    pub claim_token: &'a str,
    pub content: &'a RenderedContent,
}

#[async_trait]
pub trait ChannelSender: Send + Sync {
    fn channel(&self) -> Channel;
    async fn send(&self, outgoing: Outgoing<'_>) -> Result<ProviderMessageId, SendError>;
}

/// Sorts an AWS SDK failure by whether a retry can help: service errors with
/// one of `permanent_codes` will never succeed; a timeout or an unreadable
/// answer leaves the outcome unknown (the request may have been taken);
/// everything else (throttling, a connection that failed, 5xx) may succeed.
pub(crate) fn classify_sdk_error<E, R>(
    err: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
    permanent_codes: &[&str],
) -> SendError
where
    E: aws_sdk_sns::error::ProvideErrorMetadata,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    let code = match err {
        SdkError::ServiceError(service) => service.err().code().unwrap_or("unknown").to_owned(),
        SdkError::TimeoutError(_) => return SendError::Unknown("timeout".into()),
        SdkError::ResponseError(_) => return SendError::Unknown("response_error".into()),
        SdkError::DispatchFailure(_) => "dispatch_failure".to_owned(),
        SdkError::ConstructionFailure(_) => return SendError::Permanent("request_construction".into()),
        _ => "unknown".to_owned(),
    };
    if permanent_codes.contains(&code.as_str()) {
        SendError::Permanent(code)
    } else {
        SendError::Transient(code)
    }
}
