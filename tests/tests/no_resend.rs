//! No hidden resends: the real SES, SNS, Chime and Telnyx senders make one
//! attempt per send. A provider that takes the request and hangs up gets it
//! once, and the send's outcome is unknown (never refunded and sent again);
//! only a connection that was never made is worth another try.

use std::sync::Arc;

use tidings::channels::chime::sender::ChimeVoiceSender;
use tidings::channels::fax::telnyx::{TelnyxConfig, TelnyxFax};
use tidings::channels::fax::FaxProvider;
use tidings::channels::ses::SesEmailSender;
use tidings::channels::sns::{SmsOrigin, SnsSmsSender};
use tidings::channels::{ChannelSender, Outgoing, ProviderMessageId, SendError};
use tidings::domain::{AccountId, Channel, MessageId, RenderedContent};
use tidings_e2e::aws_config_at;
use tidings_e2e::provider::HangingUpProvider;

/// The real sender of `channel`, its provider at `endpoint`.
async fn sender(channel: Channel, endpoint: &str) -> Arc<dyn ChannelSender> {
    let aws = aws_config_at(endpoint).await;
    match channel {
        Channel::Email => Arc::new(SesEmailSender::new(
            aws_sdk_sesv2::Client::new(&aws),
            "reminders@clinic.example.com".parse().unwrap(),
            None,
            None,
        )),
        Channel::Sms => Arc::new(SnsSmsSender::new(aws_sdk_sns::Client::new(&aws), SmsOrigin::default())),
        Channel::Voice => Arc::new(ChimeVoiceSender::new(
            aws_sdk_chimesdkvoice::Client::new(&aws),
            "sma-1".into(),
            "+12025550143".parse().unwrap(),
        )),
        Channel::Fax => unreachable!("the fax provider is not an AWS client"),
    }
}

async fn send(channel: Channel, endpoint: &str) -> Result<ProviderMessageId, SendError> {
    let to = if channel == Channel::Email { "ann@example.com" } else { "+12025550101" };
    let content = RenderedContent {
        to: to.into(),
        subject: Some("Appointment reminder".into()),
        body: "See you tomorrow.".into(),
        ..RenderedContent::default()
    };
    let account: AccountId = "acct".parse().unwrap();
    let message: MessageId = "a1~reminder~1440~1796220000".parse().unwrap();
    let outgoing = Outgoing { account_id: &account, message_id: &message, claim_token: "claim-1", content: &content };
    sender(channel, endpoint).await.send(outgoing).await
}

/// The request reached the provider once, and the sender cannot say what
/// became of it. (The SDKs' default policy sent it three times.)
async fn assert_sent_once_outcome_unknown(channel: Channel) {
    let provider = HangingUpProvider::start().await;
    let result = send(channel, &provider.endpoint).await;
    assert_eq!(result, Err(SendError::Unknown("connection_lost".into())), "{channel:?}");
    assert_eq!(provider.received().len(), 1, "{channel:?}: {:?}", provider.received());
}

#[tokio::test]
async fn an_email_whose_connection_drops_is_sent_once_with_an_unknown_outcome() {
    assert_sent_once_outcome_unknown(Channel::Email).await;
}

#[tokio::test]
async fn a_text_whose_connection_drops_is_sent_once_with_an_unknown_outcome() {
    assert_sent_once_outcome_unknown(Channel::Sms).await;
}

#[tokio::test]
async fn a_call_whose_connection_drops_is_placed_once_with_an_unknown_outcome() {
    assert_sent_once_outcome_unknown(Channel::Voice).await;
}

/// A loopback address nothing listens on: connecting is refused.
fn closed_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}")
}

#[tokio::test]
async fn a_connection_that_was_never_made_is_worth_another_try() {
    let endpoint = closed_endpoint();
    for channel in [Channel::Email, Channel::Sms, Channel::Voice] {
        let result = send(channel, &endpoint).await;
        assert_eq!(result, Err(SendError::Transient("connect_failed".into())), "{channel:?}");
    }
}

const UPLOADED: &str = r#"{"data": {"media_name": "m-1", "content_type": "application/pdf"}}"#;

fn telnyx(endpoint: &str) -> TelnyxFax {
    let config = TelnyxConfig { api_base: endpoint.into(), api_key: "KEY-test".into(), connection_id: "1".into() };
    TelnyxFax::new(reqwest::Client::new(), config)
}

async fn fax(endpoint: &str) -> Result<ProviderMessageId, SendError> {
    let pdf = b"%PDF-1.5\n%%EOF\n".to_vec();
    telnyx(endpoint).send_fax(&"+13125550199".parse().unwrap(), &"+12025550143".parse().unwrap(), pdf).await
}

#[tokio::test]
async fn a_fax_whose_connection_drops_is_posted_once_with_an_unknown_outcome() {
    let provider = HangingUpProvider::answering(&[("/v2/media", UPLOADED)]).await;
    assert_eq!(fax(&provider.endpoint).await, Err(SendError::Unknown("connection_lost".into())));
    assert_eq!(provider.received(), ["POST /v2/media", "POST /v2/faxes"]);
}

#[tokio::test]
async fn a_fax_whose_upload_drops_is_tried_again_and_never_posted() {
    let provider = HangingUpProvider::start().await;
    assert_eq!(fax(&provider.endpoint).await, Err(SendError::Transient("connection_lost".into())));
    assert_eq!(provider.received().len(), 1, "{:?}", provider.received());
    assert_eq!(fax(&closed_endpoint()).await, Err(SendError::Transient("connect_failed".into())));
}
