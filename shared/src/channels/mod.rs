//! Channel ports: one trait every delivery channel implements (SES, SNS,
//! Chime SDK voice, fax, the local stand-ins), so that delivery is one service;
//! and the store of files that replies bring ([`blobs`], S3 in [`s3`]).

pub mod blobs;
pub mod chime;
#[cfg(feature = "replies")]
pub mod email_inbound;
pub mod fax;
#[cfg(feature = "s3")]
pub mod s3;
#[cfg(feature = "ses")]
pub mod ses;
pub mod ses_events;
pub mod ses_receipt;
pub mod ses_tags;
pub mod sms_inbound;
#[cfg(feature = "sns")]
pub mod sns;
pub mod sns_events;
pub mod staff_mail;

use async_trait::async_trait;

use crate::domain::{AccountId, Channel, MessageId, RenderedContent};

/// A failed send. The text is the provider's error code and never the
/// address or body: those are PHI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth trying again: a network fault, a provider outage.
    #[error("transient delivery failure: {0}")]
    Transient(String),
    /// The provider asks to slow down (its send rate, or ours, is spent):
    /// nothing is wrong with the message, which waits and goes later.
    #[error("delivery throttled: {0}")]
    Throttled(String),
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

/// What became of a request to end a call in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallEnding {
    /// The call was asked to hang up; its events record the end.
    Requested,
    /// There is no such call any more: it ended by itself.
    AlreadyOver,
}

/// A call that could not be asked to end now (throttling, an outage): ask
/// again later. The text is the provider's error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the call could not be ended: {0}")]
pub struct CallControlError(pub String);

/// Ends calls in progress: a call, a connection to the practice included,
/// is hung up at the deployment's longest call. Asking twice is harmless.
#[async_trait]
pub trait CallControl: Send + Sync {
    /// Hangs up every leg of the call placed as `transaction_id`.
    async fn end_call(&self, transaction_id: &str) -> Result<CallEnding, CallControlError>;
}

/// A send makes one attempt: the SDKs' default policy would repeat a request
/// after a 5xx, a timeout or a dropped connection, each of which may follow
/// the provider's acceptance, so one message could reach its recipient two
/// or three times. Each send sets this on its call (every service has its
/// own config builder); reads and conditional writes keep their retries.
#[cfg(any(feature = "sns", feature = "ses", feature = "chime"))]
pub(crate) fn one_attempt() -> aws_smithy_types::retry::RetryConfig {
    aws_smithy_types::retry::RetryConfig::disabled()
}

/// A request that got no answer. Only one that never reached the provider
/// (no connection was made) may be sent again; once connected, the request
/// may have been taken even though the connection then broke, and sending
/// again could send twice. `code` names what was lost.
#[cfg(any(feature = "sns", feature = "ses", feature = "chime", feature = "telnyx"))]
pub(crate) fn unanswered(error: &(dyn std::error::Error + 'static), code: &str) -> SendError {
    if never_connected(error) {
        SendError::Transient("connect_failed".into())
    } else {
        SendError::Unknown(code.into())
    }
}

/// Whether `error` says no connection was made (refused, DNS, TLS, the
/// connect timeout): hyper's client marks those as connect errors, under
/// both the AWS SDK's connector and reqwest. A chain without that mark (or
/// from a client built on another hyper) counts as connected: unknown,
/// never sent again.
#[cfg(any(feature = "sns", feature = "ses", feature = "chime", feature = "telnyx"))]
fn never_connected(error: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(error), |error| error.source())
        .filter_map(|error| error.downcast_ref::<hyper_util::client::legacy::Error>())
        .any(hyper_util::client::legacy::Error::is_connect)
}

/// Sorts an AWS SDK failure by whether a retry can help: service errors with
/// one of `permanent_codes` will never succeed; other answers (throttling,
/// 5xx) may; a failure without an answer is [`unanswered`].
#[cfg(any(feature = "sns", feature = "ses", feature = "chime"))]
pub(crate) fn classify_sdk_error<E, R>(
    err: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
    permanent_codes: &[&str],
) -> SendError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    let code = match err {
        SdkError::ServiceError(service) => service.err().code().unwrap_or("unknown").to_owned(),
        SdkError::DispatchFailure(failure) => {
            let code = if failure.is_timeout() { "timeout" } else { "connection_lost" };
            return match failure.as_connector_error() {
                Some(connector) => unanswered(connector, code),
                None => SendError::Unknown(code.into()),
            };
        }
        SdkError::TimeoutError(_) => return SendError::Unknown("timeout".into()),
        SdkError::ResponseError(_) => return SendError::Unknown("response_error".into()),
        SdkError::ConstructionFailure(_) => return SendError::Permanent("request_construction".into()),
        // A kind of failure this code does not know may follow the send.
        _ => return SendError::Unknown("unknown".into()),
    };
    if permanent_codes.contains(&code.as_str()) {
        SendError::Permanent(code)
    } else if THROTTLING_CODES.contains(&code.as_str()) {
        SendError::Throttled(code)
    } else {
        SendError::Transient(code)
    }
}

/// The codes AWS services answer a caller over its rate with (SES's
/// sending rate, SNS's SMS rate, Chime's call rate, any API's throttle).
#[cfg(any(feature = "sns", feature = "ses", feature = "chime"))]
const THROTTLING_CODES: [&str; 7] = [
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "ThrottledClientException",
    "TooManyRequestsException",
    "MaxSendRateExceeded",
    "RequestLimitExceeded",
];
