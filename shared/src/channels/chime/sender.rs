//! Places a voice message's call: CreateSipMediaApplicationCall rings the
//! recipient, and the SIP media application runs the call with the events
//! of [`super::sma`].

use async_trait::async_trait;
use aws_sdk_chimesdkvoice::Client;

use super::sma::{ACCOUNT_ID_ARGUMENT, CLAIM_TOKEN_ARGUMENT, MESSAGE_ID_ARGUMENT};
use crate::channels::{classify_sdk_error, one_attempt, ChannelSender, Outgoing, ProviderMessageId, SendError};
use crate::domain::{Channel, PhoneNumber};

/// Only a malformed request (a number Chime cannot call, a caller id it does
/// not own) fails every time. Throttling, the concurrent-call limit
/// (ResourceLimitExceeded), outages and permission faults
/// (AccessDenied, Forbidden, Unauthorized) are the deployment's, not the
/// message's: the message waits for them to clear.
const PERMANENT: &[&str] = &["BadRequestException"];

pub struct ChimeVoiceSender {
    client: Client,
    sip_media_application_id: String,
    caller_id: PhoneNumber,
}

impl ChimeVoiceSender {
    pub fn new(client: Client, sip_media_application_id: String, caller_id: PhoneNumber) -> Self {
        Self { client, sip_media_application_id, caller_id }
    }
}

#[async_trait]
impl ChannelSender for ChimeVoiceSender {
    fn channel(&self) -> Channel {
        Channel::Voice
    }

    async fn send(&self, outgoing: Outgoing<'_>) -> Result<ProviderMessageId, SendError> {
        let content = outgoing.content;
        // The account's own sender is a caller id only when it is a number;
        // an email identity or an SMS sender id cannot place a call.
        let from = content
            .from
            .as_deref()
            .and_then(|from| from.parse::<PhoneNumber>().ok())
            .unwrap_or_else(|| self.caller_id.clone());
        // The call's events name the message through these arguments, which
        // arrive with NEW_OUTBOUND_CALL.
        let output = self
            .client
            .create_sip_media_application_call()
            .sip_media_application_id(&self.sip_media_application_id)
            .from_phone_number(from.as_str())
            .to_phone_number(&content.to)
            .arguments_map(ACCOUNT_ID_ARGUMENT, outgoing.account_id.as_str())
            .arguments_map(MESSAGE_ID_ARGUMENT, outgoing.message_id.as_str())
            .arguments_map(CLAIM_TOKEN_ARGUMENT, outgoing.claim_token)
            .customize()
            .config_override(aws_sdk_chimesdkvoice::Config::builder().retry_config(one_attempt()))
            .send()
            .await
            .map_err(|e| classify_sdk_error(&e, PERMANENT))?;
        // Chime accepted the call, so it may be ringing: a retry could ring
        // the recipient twice.
        output
            .sip_media_application_call
            .and_then(|call| call.transaction_id)
            .ok_or_else(|| SendError::Unknown("no_transaction_id".into()))
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_chimesdkvoice::config::retry::RetryConfig;
    use aws_sdk_chimesdkvoice::config::{BehaviorVersion, Credentials, Region};
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;
    use crate::domain::{AccountId, MessageId, RenderedContent};

    fn sender(server: &MockServer) -> ChimeVoiceSender {
        let config = aws_sdk_chimesdkvoice::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .endpoint_url(server.uri())
            // One request per send, so a 503 is seen as it is.
            .retry_config(RetryConfig::disabled())
            .build();
        ChimeVoiceSender::new(Client::from_conf(config), "sma-1".to_owned(), "+12025550143".parse().unwrap())
    }

    fn content(from: Option<&str>) -> RenderedContent {
        RenderedContent {
            to: "+12025550188".to_owned(),
            body: "Your appointment is tomorrow at 3:30 PM.".to_owned(),
            from: from.map(str::to_owned),
            keypad_reply: true,
            ..RenderedContent::default()
        }
    }

    async fn send(server: &MockServer, content: &RenderedContent) -> Result<ProviderMessageId, SendError> {
        let account_id: AccountId = "acct-1".parse().unwrap();
        let message_id: MessageId = "appt-9~reminder~1440~1765000000".parse().unwrap();
        sender(server)
            .send(Outgoing { account_id: &account_id, message_id: &message_id, claim_token: "claim-1", content })
            .await
    }

    fn error(status: u16, code: &str) -> ResponseTemplate {
        ResponseTemplate::new(status)
            .insert_header("x-amzn-ErrorType", code)
            .set_body_json(serde_json::json!({ "Code": code, "Message": "refused" }))
    }

    #[tokio::test]
    async fn places_the_call_with_the_messages_identity_and_returns_the_transaction() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/sip-media-applications/sma-1/calls"))
            .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({
                "SipMediaApplicationCall": { "TransactionId": "tx-42" }
            })))
            .expect(1)
            .mount(&server)
            .await;

        let id = send(&server, &content(None)).await.unwrap();

        assert_eq!(id, "tx-42");
        let requests = server.received_requests().await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&requests[0].body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "FromPhoneNumber": "+12025550143",
                "ToPhoneNumber": "+12025550188",
                "ArgumentsMap": {
                    "account_id": "acct-1",
                    "message_id": "appt-9~reminder~1440~1765000000",
                    "claim_token": "claim-1"
                }
            })
        );
    }

    #[tokio::test]
    async fn calls_from_the_accounts_number_when_it_has_one() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({
                "SipMediaApplicationCall": { "TransactionId": "tx-1" }
            })))
            .mount(&server)
            .await;

        send(&server, &content(Some("+12025550166"))).await.unwrap();
        send(&server, &content(Some("Dental Care"))).await.unwrap();

        let requests = server.received_requests().await.unwrap();
        let from = |i: usize| {
            let body: serde_json::Value = serde_json::from_slice(&requests[i].body).unwrap();
            body["FromPhoneNumber"].as_str().unwrap().to_owned()
        };
        assert_eq!(from(0), "+12025550166");
        assert_eq!(from(1), "+12025550143", "a sender id is no caller id");
    }

    #[tokio::test]
    async fn a_bad_request_is_permanent_and_an_outage_transient() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(error(400, "BadRequestException"))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("POST")).respond_with(error(503, "ServiceUnavailableException")).mount(&server).await;

        assert_eq!(send(&server, &content(None)).await, Err(SendError::Permanent("BadRequestException".into())));
        assert_eq!(
            send(&server, &content(None)).await,
            Err(SendError::Transient("ServiceUnavailableException".into()))
        );
    }

    #[tokio::test]
    async fn throttling_is_throttled_and_a_permission_fault_transient() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(error(429, "ThrottledClientException"))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("POST")).respond_with(error(403, "ForbiddenException")).mount(&server).await;

        assert_eq!(send(&server, &content(None)).await, Err(SendError::Throttled("ThrottledClientException".into())));
        assert_eq!(send(&server, &content(None)).await, Err(SendError::Transient("ForbiddenException".into())));
    }
}
