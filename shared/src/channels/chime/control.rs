//! Ends a call in progress: UpdateSipMediaApplicationCall hands the call's
//! flow a CALL_UPDATE_REQUESTED event with [`END_CALL_ARGUMENT`], and the
//! flow hangs up every leg (see [`super::sma`]).

use async_trait::async_trait;
use aws_sdk_chimesdkvoice::error::ProvideErrorMetadata;
use aws_sdk_chimesdkvoice::Client;

use super::sma::{CALL_LENGTH_CAP, END_CALL_ARGUMENT};
use crate::channels::{CallControl, CallControlError, CallEnding};

/// Chime answers this for a transaction that is over (or never was).
const NO_SUCH_CALL: &str = "NotFoundException";

pub struct ChimeCallControl {
    client: Client,
    sip_media_application_id: String,
}

impl ChimeCallControl {
    pub fn new(client: Client, sip_media_application_id: String) -> Self {
        Self { client, sip_media_application_id }
    }
}

#[async_trait]
impl CallControl for ChimeCallControl {
    // Ending a call twice ends it once, so the SDK's retries stay on.
    async fn end_call(&self, transaction_id: &str) -> Result<CallEnding, CallControlError> {
        let result = self
            .client
            .update_sip_media_application_call()
            .sip_media_application_id(&self.sip_media_application_id)
            .transaction_id(transaction_id)
            .arguments(END_CALL_ARGUMENT, CALL_LENGTH_CAP)
            .send()
            .await;
        match result {
            Ok(_) => Ok(CallEnding::Requested),
            Err(err) if err.code() == Some(NO_SUCH_CALL) => Ok(CallEnding::AlreadyOver),
            Err(err) => Err(CallControlError(err.code().unwrap_or("unreachable").to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_chimesdkvoice::config::{BehaviorVersion, Credentials, Region};
    use wiremock::matchers::{body_json, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;

    const SMA: &str = "9324457f-ad47-407d-bf45-5d409e714808";
    const TRANSACTION: &str = "5b0c2d7e-3f1a-4c8e-9d2b-7a6e1f0c9b31";

    async fn control(server: &MockServer) -> ChimeCallControl {
        let config = aws_sdk_chimesdkvoice::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::for_tests())
            .endpoint_url(server.uri())
            .retry_config(aws_sdk_chimesdkvoice::config::retry::RetryConfig::disabled())
            .build();
        ChimeCallControl::new(Client::from_conf(config), SMA.to_owned())
    }

    fn call_path() -> String {
        format!("/sip-media-applications/{SMA}/calls/{TRANSACTION}")
    }

    #[tokio::test]
    async fn asks_the_call_to_end_at_its_cap() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(call_path()))
            .and(body_json(serde_json::json!({"Arguments": {"end_call": "call_length_cap"}})))
            .respond_with(
                ResponseTemplate::new(202)
                    .set_body_json(serde_json::json!({"SipMediaApplicationCall": {"TransactionId": TRANSACTION}})),
            )
            .expect(1)
            .mount(&server)
            .await;
        assert_eq!(control(&server).await.end_call(TRANSACTION).await, Ok(CallEnding::Requested));
    }

    /// A server that answers every end with Chime's error `error_type`.
    async fn refusing(status: u16, error_type: &str) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(call_path()))
            .respond_with(
                ResponseTemplate::new(status)
                    .insert_header("x-amzn-ErrorType", error_type)
                    .set_body_json(serde_json::json!({"Message": "refused"})),
            )
            .mount(&server)
            .await;
        server
    }

    #[tokio::test]
    async fn a_call_chime_no_longer_knows_is_over() {
        let server = refusing(404, "NotFoundException").await;
        assert_eq!(control(&server).await.end_call(TRANSACTION).await, Ok(CallEnding::AlreadyOver));
    }

    #[tokio::test]
    async fn a_throttled_request_is_asked_again_later() {
        let server = refusing(429, "ThrottledClientException").await;
        let err = control(&server).await.end_call(TRANSACTION).await.unwrap_err();
        assert_eq!(err.0, "ThrottledClientException");
    }
}
