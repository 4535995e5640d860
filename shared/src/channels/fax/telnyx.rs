//! Telnyx Programmable Fax (API v2).
//!
//! Sending takes two documented calls, so that no URL of ours has to serve
//! the PDF: the document is uploaded to Telnyx Media Storage
//! (`POST /v2/media`, multipart, answering `data.media_name`), then the fax
//! is sent with that name (`POST /v2/faxes`, answering `data.id`, the fax
//! id the status webhooks carry as `payload.fax_id`).
//!
//! Webhooks are signed with Ed25519 over `{telnyx-timestamp}|{body}`; the
//! signature is the base64 `telnyx-signature-ed25519` header, the key the
//! account's public key from the Telnyx portal. The same webhook reports
//! a fax sent to one of our numbers: `fax.received`, with `from`, `to`,
//! `page_count`, `partial_content` and a `media_url` to fetch the PDF from
//! ([`media`]).

use async_trait::async_trait;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, VerifyingKey};
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

mod media;

pub use media::{MediaClientError, MediaHosts, MediaHostsError, TelnyxMedia, DEFAULT_MEDIA_MAX_BYTES};

use super::{FaxProvider, FaxStatus, FaxStatusEvent, FaxWebhookEvent, FaxWebhookVerifier, InboundFax, WebhookError};
use crate::channels::{unanswered, ProviderMessageId, SendError};
use crate::domain::PhoneNumber;

/// Where the Telnyx API lives; tests point [`TelnyxConfig::api_base`] elsewhere.
pub const TELNYX_API_BASE: &str = "https://api.telnyx.com";

/// The uploaded PDF is PHI: it is kept one day, long enough for Telnyx to
/// take it into the fax, instead of the two days Media Storage defaults to.
const MEDIA_TTL_SECS: u32 = 86_400;

const PROVIDER: &str = "telnyx";
const SIGNATURE_HEADER: &str = "telnyx-signature-ed25519";
const TIMESTAMP_HEADER: &str = "telnyx-timestamp";

#[derive(Clone)]
pub struct TelnyxConfig {
    /// `https://api.telnyx.com` ([`TELNYX_API_BASE`]), without `/v2`.
    pub api_base: String,
    pub api_key: String,
    /// The Programmable Fax Application's id: it names the number pool,
    /// outbound profile and the webhook URL.
    pub connection_id: String,
}

/// Leaves the API key out, so a config that lands in a log gives nothing away.
impl std::fmt::Debug for TelnyxConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelnyxConfig")
            .field("api_base", &self.api_base)
            .field("api_key", &"<redacted>")
            .field("connection_id", &self.connection_id)
            .finish()
    }
}

pub struct TelnyxFax {
    http: reqwest::Client,
    config: TelnyxConfig,
}

impl TelnyxFax {
    /// `http` carries the timeouts; the API key goes on each request.
    pub fn new(http: reqwest::Client, config: TelnyxConfig) -> Self {
        Self { http, config }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v2/{path}", self.config.api_base.trim_end_matches('/'))
    }

    /// Sends one API request and reads its `data`, sorting failures by
    /// whether a retry can help. One attempt: reqwest repeats a request by
    /// itself only on an HTTP/2 refusal that says it was not processed.
    async fn call<T: DeserializeOwned>(&self, request: reqwest::RequestBuilder) -> Result<T, SendError> {
        let response = request.bearer_auth(&self.config.api_key).send().await.map_err(|e| transport_error(&e))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.bytes().await.unwrap_or_default();
            return Err(status_error(status, &body));
        }
        // Like an SES answer without a message id: the request was taken.
        let envelope: Envelope<T> =
            response.json().await.map_err(|_| SendError::Unknown("telnyx_unreadable_response".into()))?;
        Ok(envelope.data)
    }
}

#[derive(Deserialize)]
struct Envelope<T> {
    data: T,
}

#[derive(Deserialize)]
struct UploadedMedia {
    media_name: String,
}

#[derive(Serialize)]
struct SendFax<'a> {
    connection_id: &'a str,
    media_name: &'a str,
    to: &'a str,
    from: &'a str,
}

#[derive(Deserialize)]
struct SentFax {
    id: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ApiError>,
}

#[derive(Deserialize)]
struct ApiError {
    #[serde(default)]
    code: Option<serde_json::Value>,
}

#[async_trait]
impl FaxProvider for TelnyxFax {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    async fn send_fax(
        &self,
        to: &PhoneNumber,
        from: &PhoneNumber,
        pdf: Vec<u8>,
    ) -> Result<ProviderMessageId, SendError> {
        let document = Part::bytes(pdf)
            .file_name("fax.pdf")
            .mime_str("application/pdf")
            .map_err(|_| SendError::Permanent("request_construction".into()))?;
        let form = Form::new().text("ttl_secs", MEDIA_TTL_SECS.to_string()).part("media", document);
        let media: UploadedMedia =
            self.call(self.http.post(self.url("media")).multipart(form)).await.map_err(upload_failed)?;

        let fax = SendFax {
            connection_id: &self.config.connection_id,
            media_name: &media.media_name,
            to: to.as_str(),
            from: from.as_str(),
        };
        let sent: SentFax = self.call(self.http.post(self.url("faxes")).json(&fax)).await?;
        Ok(sent.id)
    }
}

/// An upload whose answer was lost at most stored the document twice and
/// faxed nothing: it is tried again like any failure for now. (The fax
/// itself, once posted, keeps an unknown outcome: a retry could fax twice.)
fn upload_failed(error: SendError) -> SendError {
    match error {
        SendError::Unknown(code) => SendError::Transient(code),
        other => other,
    }
}

/// No answer came: see [`unanswered`]. The error's text (it names the URL)
/// is not kept.
fn transport_error(error: &reqwest::Error) -> SendError {
    unanswered(error, if error.is_timeout() { "timeout" } else { "connection_lost" })
}

/// `telnyx_{status}`, with Telnyx's own error code when it gives one. A
/// refused request is permanent, except a timeout, throttling, and a
/// rejected API key: that is the deployment's fault, not the message's,
/// and is fixed without touching the message.
fn status_error(status: StatusCode, body: &[u8]) -> SendError {
    let api_code = serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .and_then(|body| body.errors.into_iter().next())
        .and_then(|error| match error.code? {
            serde_json::Value::String(code) => provider_code(&code).map(str::to_owned),
            serde_json::Value::Number(code) => Some(code.to_string()),
            _ => None,
        });
    let code = match api_code {
        Some(api_code) => format!("telnyx_{}_{api_code}", status.as_u16()),
        None => format!("telnyx_{}", status.as_u16()),
    };
    let retryable = matches!(status, StatusCode::REQUEST_TIMEOUT | StatusCode::UNAUTHORIZED);
    if status == StatusCode::TOO_MANY_REQUESTS {
        SendError::Throttled(code)
    } else if status.is_client_error() && !retryable {
        SendError::Permanent(code)
    } else {
        SendError::Transient(code)
    }
}

/// A provider's code is kept only when it looks like one (a short token), so
/// that free text, which could quote the request, never reaches a log.
fn provider_code(code: &str) -> Option<&str> {
    let token = !code.is_empty()
        && code.len() <= 64
        && code.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    token.then_some(code)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TelnyxKeyError {
    #[error("the Telnyx webhook public key is not base64")]
    NotBase64,
    #[error("the Telnyx webhook public key is not an Ed25519 public key")]
    NotEd25519,
}

/// Checks Telnyx's fax webhooks.
#[derive(Debug, Clone)]
pub struct TelnyxWebhookVerifier {
    key: VerifyingKey,
    tolerance: chrono::Duration,
}

impl TelnyxWebhookVerifier {
    /// `public_key_base64` is the account's public key as the Telnyx portal
    /// shows it.
    pub fn new(public_key_base64: &str) -> Result<Self, TelnyxKeyError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(public_key_base64.trim())
            .map_err(|_| TelnyxKeyError::NotBase64)?;
        let key = VerifyingKey::try_from(bytes.as_slice()).map_err(|_| TelnyxKeyError::NotEd25519)?;
        Ok(Self { key, tolerance: chrono::Duration::minutes(5) })
    }

    /// How far the signed timestamp may be from now, either way (default
    /// five minutes). Beyond it a correctly signed webhook is a replay.
    pub fn with_tolerance(self, tolerance: chrono::Duration) -> Self {
        Self { tolerance, ..self }
    }

    /// The signed timestamp, once the signature over it and the body holds.
    fn check_signature(&self, headers: &http::HeaderMap, body: &[u8]) -> Result<i64, WebhookError> {
        let header =
            |name: &str| headers.get(name).and_then(|value| value.to_str().ok()).ok_or(WebhookError::BadSignature);
        let timestamp = header(TIMESTAMP_HEADER)?;
        let signature = base64::engine::general_purpose::STANDARD
            .decode(header(SIGNATURE_HEADER)?.trim())
            .map_err(|_| WebhookError::BadSignature)?;
        let signature = Signature::from_slice(&signature).map_err(|_| WebhookError::BadSignature)?;
        let mut signed = Vec::with_capacity(timestamp.len() + 1 + body.len());
        signed.extend_from_slice(timestamp.as_bytes());
        signed.push(b'|');
        signed.extend_from_slice(body);
        self.key.verify_strict(&signed, &signature).map_err(|_| WebhookError::BadSignature)?;
        // Parsed only now: what an unsigned request says is not looked at.
        timestamp.trim().parse().map_err(|_| WebhookError::BadSignature)
    }
}

#[derive(Deserialize)]
struct Webhook {
    data: WebhookEvent,
}

#[derive(Deserialize)]
struct WebhookEvent {
    id: String,
    event_type: String,
    payload: WebhookPayload,
}

#[derive(Deserialize)]
struct WebhookPayload {
    fax_id: String,
    #[serde(default)]
    page_count: Option<u32>,
    #[serde(default)]
    failure_reason: Option<String>,
    #[serde(default)]
    direction: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    media_url: Option<String>,
    #[serde(default)]
    partial_content: Option<bool>,
}

/// A `fax.received`: numbers parsed (a number that does not parse is
/// malformed, and not quoted), the media URL kept for the fetch to check.
fn received(event_id: String, payload: WebhookPayload) -> Result<InboundFax, WebhookError> {
    // Telnyx marks every fax it received as inbound; anything else under
    // this event is not a payload we understand.
    if payload.direction.as_deref().is_some_and(|direction| direction != "inbound") {
        return Err(WebhookError::Malformed("fax.received that is not inbound".into()));
    }
    let number = |value: Option<&str>, field: &str| {
        value
            .and_then(|value| value.parse::<PhoneNumber>().ok())
            .ok_or_else(|| WebhookError::Malformed(format!("fax.received without a valid {field} number")))
    };
    let from = number(payload.from.as_deref(), "from")?;
    let to = number(payload.to.as_deref(), "to")?;
    let media_url = payload
        .media_url
        .filter(|url| !url.is_empty())
        .ok_or_else(|| WebhookError::Malformed("fax.received without media_url".into()))?;
    Ok(InboundFax {
        event_id,
        fax_id: payload.fax_id,
        from,
        to,
        media_url,
        page_count: payload.page_count,
        partial: payload.partial_content.unwrap_or(false),
    })
}

/// Says where the payload went wrong without quoting it: serde's messages
/// can repeat the values they met.
fn malformed(error: &serde_json::Error) -> WebhookError {
    WebhookError::Malformed(format!("{:?} error at line {} column {}", error.classify(), error.line(), error.column()))
}

impl FaxWebhookVerifier for TelnyxWebhookVerifier {
    fn provider(&self) -> &'static str {
        PROVIDER
    }

    fn verify(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<FaxWebhookEvent, WebhookError> {
        let timestamp = self.check_signature(headers, body)?;
        let signed_at = DateTime::from_timestamp(timestamp, 0).ok_or(WebhookError::Stale)?;
        if (now - signed_at).abs() > self.tolerance {
            return Err(WebhookError::Stale);
        }

        let webhook: Webhook = serde_json::from_slice(body).map_err(|e| malformed(&e))?;
        let event = webhook.data;
        if event.id.is_empty() || event.payload.fax_id.is_empty() {
            return Err(WebhookError::Malformed("missing event or fax id".into()));
        }
        let inbound = event.payload.direction.as_deref() == Some("inbound");
        let status = match event.event_type.as_str() {
            "fax.received" => return received(event.id, event.payload).map(FaxWebhookEvent::Received),
            // A fax sent to us that failed, or is on its way, is not one of
            // our messages: nothing to report (a fax that arrives says so
            // with fax.received).
            _ if inbound => FaxStatus::InProgress,
            // Pages are what the fax is billed by: a delivery without them
            // is refused rather than recorded as none.
            "fax.delivered" => FaxStatus::Delivered {
                pages: event
                    .payload
                    .page_count
                    .ok_or_else(|| WebhookError::Malformed("fax.delivered without page_count".into()))?,
            },
            "fax.failed" => FaxStatus::Failed {
                reason: event.payload.failure_reason.as_deref().and_then(provider_code).unwrap_or("unknown").to_owned(),
            },
            other if other.starts_with("fax.") => FaxStatus::InProgress,
            _ => return Err(WebhookError::Malformed("not a fax event".into())),
        };
        Ok(FaxWebhookEvent::Status(FaxStatusEvent { event_id: event.id, fax_id: event.payload.fax_id, status }))
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signer as _, SigningKey};
    use serde_json::json;
    use wiremock::matchers::{body_json, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;

    const DELIVERED: &[u8] = include_bytes!("../../../tests/fixtures/telnyx_fax_delivered.json");
    const RECEIVED: &[u8] = include_bytes!("../../../tests/fixtures/telnyx_fax_received.json");
    const PDF: &[u8] = b"%PDF-1.5\n%fax test document: cover and one page\n%%EOF\n";

    fn number(text: &str) -> PhoneNumber {
        text.parse().unwrap()
    }

    fn provider(server: &MockServer) -> TelnyxFax {
        TelnyxFax::new(
            reqwest::Client::new(),
            TelnyxConfig {
                api_base: server.uri(),
                api_key: "KEY-test-secret".into(),
                connection_id: "1684641123236054244".into(),
            },
        )
    }

    async fn mount_upload(server: &MockServer, response: ResponseTemplate) {
        Mock::given(method("POST"))
            .and(path("/v2/media"))
            .and(header("authorization", "Bearer KEY-test-secret"))
            .respond_with(response)
            .mount(server)
            .await;
    }

    fn uploaded() -> ResponseTemplate {
        ResponseTemplate::new(201).set_body_json(json!({
            "data": {
                "media_name": "7f1c1a52-5c37-4a0e-9d6b-1f0c2e9d4b11",
                "content_type": "application/pdf",
                "created_at": "2026-05-04T15:00:00.000Z",
                "updated_at": "2026-05-04T15:00:00.000Z",
                "expires_at": "2026-05-05T15:00:00.000Z"
            }
        }))
    }

    async fn send(server: &MockServer) -> Result<ProviderMessageId, SendError> {
        provider(server).send_fax(&number("+13125550199"), &number("+12025550143"), PDF.to_vec()).await
    }

    #[tokio::test]
    async fn uploads_the_pdf_then_sends_the_fax_and_returns_its_id() {
        let server = MockServer::start().await;
        mount_upload(&server, uploaded()).await;
        Mock::given(method("POST"))
            .and(path("/v2/faxes"))
            .and(header("authorization", "Bearer KEY-test-secret"))
            .and(body_json(json!({
                "connection_id": "1684641123236054244",
                "media_name": "7f1c1a52-5c37-4a0e-9d6b-1f0c2e9d4b11",
                "to": "+13125550199",
                "from": "+12025550143"
            })))
            .respond_with(ResponseTemplate::new(202).set_body_json(json!({
                "data": {
                    "record_type": "fax",
                    "id": "b3f2d8c4-6a1e-4f7b-9c2d-5e8a7b6c4d3e",
                    "connection_id": "1684641123236054244",
                    "direction": "outbound",
                    "status": "queued",
                    "to": "+13125550199",
                    "from": "+12025550143"
                }
            })))
            .expect(1)
            .mount(&server)
            .await;

        assert_eq!(send(&server).await.unwrap(), "b3f2d8c4-6a1e-4f7b-9c2d-5e8a7b6c4d3e");

        let requests = server.received_requests().await.unwrap();
        let upload = requests.iter().find(|request| request.url.path() == "/v2/media").unwrap();
        let content_type = upload.headers.get("content-type").unwrap().to_str().unwrap();
        assert!(content_type.starts_with("multipart/form-data; boundary="));
        let body = &upload.body;
        let contains = |needle: &[u8]| body.windows(needle.len()).any(|window| window == needle);
        assert!(contains(PDF), "the PDF's bytes are uploaded");
        assert!(contains(b"name=\"media\"; filename=\"fax.pdf\""));
        assert!(contains(b"Content-Type: application/pdf"));
        assert!(contains(b"name=\"ttl_secs\"\r\n\r\n86400"));
    }

    #[tokio::test]
    async fn a_refused_fax_is_permanent_with_telnyx_s_code() {
        let server = MockServer::start().await;
        mount_upload(&server, uploaded()).await;
        Mock::given(method("POST"))
            .and(path("/v2/faxes"))
            .respond_with(ResponseTemplate::new(422).set_body_json(json!({
                "errors": [{
                    "code": "10015",
                    "title": "Invalid value",
                    "detail": "The 'to' number +13125550199 is not fax capable",
                    "source": { "pointer": "/to" }
                }]
            })))
            .mount(&server)
            .await;

        assert_eq!(send(&server).await, Err(SendError::Permanent("telnyx_422_10015".into())));
    }

    #[tokio::test]
    async fn a_refusal_without_a_usable_code_names_the_status_only() {
        let server = MockServer::start().await;
        mount_upload(
            &server,
            ResponseTemplate::new(400).set_body_json(json!({ "errors": [{ "code": "not a code: +13125550199" }] })),
        )
        .await;

        assert_eq!(send(&server).await, Err(SendError::Permanent("telnyx_400".into())));
    }

    #[tokio::test]
    async fn outages_and_a_rejected_key_are_transient_and_too_many_requests_throttled() {
        for (status, code) in [(503, "telnyx_503"), (500, "telnyx_500"), (408, "telnyx_408"), (401, "telnyx_401")] {
            let server = MockServer::start().await;
            mount_upload(&server, ResponseTemplate::new(status).set_body_string("<html>busy</html>")).await;
            assert_eq!(send(&server).await, Err(SendError::Transient(code.into())), "status {status}");
        }
        let server = MockServer::start().await;
        mount_upload(&server, ResponseTemplate::new(429).set_body_string("<html>slow down</html>")).await;
        assert_eq!(send(&server).await, Err(SendError::Throttled("telnyx_429".into())));
    }

    #[tokio::test]
    async fn an_unreachable_api_is_transient() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        let fax = TelnyxFax::new(
            reqwest::Client::new(),
            TelnyxConfig {
                api_base: format!("http://{address}"),
                api_key: "KEY-test-secret".into(),
                connection_id: "1".into(),
            },
        );
        let result = fax.send_fax(&number("+13125550199"), &number("+12025550143"), PDF.to_vec()).await;
        assert_eq!(result, Err(SendError::Transient("connect_failed".into())));
    }

    #[tokio::test]
    async fn an_accepted_fax_without_an_id_has_an_unknown_outcome() {
        let server = MockServer::start().await;
        mount_upload(&server, uploaded()).await;
        Mock::given(method("POST"))
            .and(path("/v2/faxes"))
            .respond_with(ResponseTemplate::new(202).set_body_json(json!({ "data": { "status": "queued" } })))
            .mount(&server)
            .await;

        assert_eq!(send(&server).await, Err(SendError::Unknown("telnyx_unreadable_response".into())));
    }

    #[test]
    fn the_config_s_debug_hides_the_api_key() {
        let config = TelnyxConfig {
            api_base: TELNYX_API_BASE.into(),
            api_key: "KEY-test-secret".into(),
            connection_id: "1".into(),
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("KEY-test-secret"));
        assert!(shown.contains("https://api.telnyx.com"));
    }

    fn signing_key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    fn verifier_for(key: &SigningKey) -> TelnyxWebhookVerifier {
        let public = base64::engine::general_purpose::STANDARD.encode(key.verifying_key().as_bytes());
        TelnyxWebhookVerifier::new(&public).unwrap()
    }

    fn signed_headers(key: &SigningKey, timestamp: i64, body: &[u8]) -> http::HeaderMap {
        let mut message = format!("{timestamp}|").into_bytes();
        message.extend_from_slice(body);
        let signature = base64::engine::general_purpose::STANDARD.encode(key.sign(&message).to_bytes());
        let mut headers = http::HeaderMap::new();
        headers.insert(SIGNATURE_HEADER, signature.parse().unwrap());
        headers.insert(TIMESTAMP_HEADER, timestamp.to_string().parse().unwrap());
        headers
    }

    fn at(timestamp: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(timestamp, 0).unwrap()
    }

    const SENT: i64 = 1_778_000_000;

    #[test]
    fn a_signed_delivery_reads_as_delivered_with_its_pages() {
        let key = signing_key();
        let event = verifier_for(&key).verify(&signed_headers(&key, SENT, DELIVERED), DELIVERED, at(SENT + 2)).unwrap();
        assert_eq!(
            event,
            FaxWebhookEvent::Status(FaxStatusEvent {
                event_id: "c1a4e1a0-3d4b-4f7e-8a52-9b0e6f2d7c15".into(),
                fax_id: "b3f2d8c4-6a1e-4f7b-9c2d-5e8a7b6c4d3e".into(),
                status: FaxStatus::Delivered { pages: 3 },
            })
        );
    }

    #[test]
    fn a_tampered_body_does_not_verify() {
        let key = signing_key();
        let headers = signed_headers(&key, SENT, DELIVERED);
        let tampered =
            String::from_utf8(DELIVERED.to_vec()).unwrap().replace("\"page_count\": 3", "\"page_count\": 30");
        assert_ne!(tampered.as_bytes(), DELIVERED);
        let result = verifier_for(&key).verify(&headers, tampered.as_bytes(), at(SENT));
        assert_eq!(result, Err(WebhookError::BadSignature));
    }

    #[test]
    fn another_key_s_signature_does_not_verify() {
        let other = SigningKey::from_bytes(&[9u8; 32]);
        let result = verifier_for(&signing_key()).verify(&signed_headers(&other, SENT, DELIVERED), DELIVERED, at(SENT));
        assert_eq!(result, Err(WebhookError::BadSignature));
    }

    #[test]
    fn a_signed_timestamp_cannot_be_swapped() {
        let key = signing_key();
        let mut headers = signed_headers(&key, SENT, DELIVERED);
        headers.insert(TIMESTAMP_HEADER, (SENT + 60).to_string().parse().unwrap());
        let result = verifier_for(&key).verify(&headers, DELIVERED, at(SENT + 60));
        assert_eq!(result, Err(WebhookError::BadSignature));
    }

    #[test]
    fn missing_or_garbled_headers_do_not_verify() {
        let key = signing_key();
        let verifier = verifier_for(&key);
        for remove in [SIGNATURE_HEADER, TIMESTAMP_HEADER] {
            let mut headers = signed_headers(&key, SENT, DELIVERED);
            headers.remove(remove);
            assert_eq!(
                verifier.verify(&headers, DELIVERED, at(SENT)),
                Err(WebhookError::BadSignature),
                "without {remove}"
            );
        }
        for garbled in ["not base64 !!", "c2hvcnQ="] {
            let mut headers = signed_headers(&key, SENT, DELIVERED);
            headers.insert(SIGNATURE_HEADER, garbled.parse().unwrap());
            assert_eq!(verifier.verify(&headers, DELIVERED, at(SENT)), Err(WebhookError::BadSignature), "{garbled}");
        }
    }

    #[test]
    fn an_old_or_future_timestamp_is_stale() {
        let key = signing_key();
        let headers = signed_headers(&key, SENT, DELIVERED);
        let verifier = verifier_for(&key);
        assert_eq!(verifier.verify(&headers, DELIVERED, at(SENT + 301)), Err(WebhookError::Stale));
        assert_eq!(verifier.verify(&headers, DELIVERED, at(SENT - 301)), Err(WebhookError::Stale));
        assert!(verifier.verify(&headers, DELIVERED, at(SENT + 299)).is_ok());

        let lenient = verifier.with_tolerance(chrono::Duration::hours(1));
        assert!(lenient.verify(&headers, DELIVERED, at(SENT + 3_000)).is_ok());
    }

    fn event(event_type: &str, payload: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "data": {
                "event_type": event_type,
                "id": "0b5d3c8e-2f41-4a7c-b9e6-3d1f8a2c7e90",
                "occurred_at": "2026-05-04T15:01:10.000000Z",
                "payload": payload,
                "record_type": "event"
            },
            "meta": { "attempt": 1, "delivered_to": "https://example.org/webhooks/fax/telnyx" }
        }))
        .unwrap()
    }

    fn verify_any(body: &[u8]) -> Result<FaxWebhookEvent, WebhookError> {
        let key = signing_key();
        verifier_for(&key).verify(&signed_headers(&key, SENT, body), body, at(SENT))
    }

    fn verify(body: &[u8]) -> Result<FaxStatusEvent, WebhookError> {
        match verify_any(body)? {
            FaxWebhookEvent::Status(status) => Ok(status),
            FaxWebhookEvent::Received(inbound) => panic!("expected a status event, got {inbound:?}"),
        }
    }

    fn verify_received(body: &[u8]) -> Result<InboundFax, WebhookError> {
        match verify_any(body)? {
            FaxWebhookEvent::Received(inbound) => Ok(inbound),
            FaxWebhookEvent::Status(status) => panic!("expected a received fax, got {status:?}"),
        }
    }

    #[test]
    fn a_signed_fax_received_reads_as_an_inbound_fax() {
        let inbound = verify_received(RECEIVED).unwrap();
        assert_eq!(inbound.event_id, "7d2e9c41-5b8a-4f3e-9a61-2c4b8e0f7d93");
        assert_eq!(inbound.fax_id, "e5a1c7d2-8f4b-4c39-b6e0-3a9d2f1c8b47");
        assert_eq!(inbound.from, number("+13125550199"));
        assert_eq!(inbound.to, number("+12025550143"));
        assert!(inbound.media_url.starts_with("https://s3.amazonaws.com/faxes-prod/4e9f2a61-"));
        assert!(inbound.media_url.ends_with(
            "X-Amz-SignedHeaders=host&X-Amz-Signature=0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
        ));
        assert_eq!(inbound.page_count, Some(2));
        assert!(!inbound.partial);
    }

    fn received_with(change: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>)) -> Vec<u8> {
        let mut webhook: serde_json::Value = serde_json::from_slice(RECEIVED).unwrap();
        change(webhook["data"]["payload"].as_object_mut().unwrap());
        serde_json::to_vec(&webhook).unwrap()
    }

    #[test]
    fn a_partly_received_fax_says_so() {
        let body = received_with(|payload| {
            payload.insert("partial_content".into(), json!(true));
            payload.remove("page_count");
        });
        let inbound = verify_received(&body).unwrap();
        assert!(inbound.partial);
        assert_eq!(inbound.page_count, None);
    }

    #[test]
    fn a_fax_received_with_a_bad_number_is_malformed_without_quoting_it() {
        for (field, value) in [("from", json!("+1312555019x")), ("to", json!("anonymous")), ("from", json!(null))] {
            let body = received_with(|payload| {
                payload.insert(field.into(), value.clone());
            });
            let Err(WebhookError::Malformed(text)) = verify_any(&body) else { panic!("{field}: expected Malformed") };
            assert!(text.contains(field), "{text}");
            assert!(!text.contains("555") && !text.contains("anonymous"), "{text}");
        }
        let no_to = received_with(|payload| {
            payload.remove("to");
        });
        assert!(matches!(verify_any(&no_to), Err(WebhookError::Malformed(_))));
    }

    #[test]
    fn a_fax_received_without_media_or_not_inbound_is_malformed() {
        for change in [
            (|payload: &mut serde_json::Map<String, serde_json::Value>| {
                payload.remove("media_url");
            }) as fn(&mut serde_json::Map<String, serde_json::Value>),
            |payload| {
                payload.insert("media_url".into(), json!(""));
            },
            |payload| {
                payload.insert("direction".into(), json!("outbound"));
            },
        ] {
            assert!(matches!(verify_any(&received_with(change)), Err(WebhookError::Malformed(_))));
        }
    }

    #[test]
    fn a_forged_fax_received_does_not_verify() {
        let other = SigningKey::from_bytes(&[9u8; 32]);
        let result = verifier_for(&signing_key()).verify(&signed_headers(&other, SENT, RECEIVED), RECEIVED, at(SENT));
        assert_eq!(result, Err(WebhookError::BadSignature));
    }

    #[test]
    fn a_failure_carries_telnyx_s_reason() {
        let body = event(
            "fax.failed",
            json!({ "fax_id": "f-1", "status": "failed", "failure_reason": "destination_unreachable", "direction": "outbound" }),
        );
        let read = verify(&body).unwrap();
        assert_eq!(read.fax_id, "f-1");
        assert_eq!(read.status, FaxStatus::Failed { reason: "destination_unreachable".into() });

        let body = event("fax.failed", json!({ "fax_id": "f-1", "status": "failed" }));
        assert_eq!(verify(&body).unwrap().status, FaxStatus::Failed { reason: "unknown".into() });
    }

    #[test]
    fn queued_processed_and_sending_are_in_progress() {
        // Inbound faxes' progress reads the same way; only fax.received says more.
        for event_type in [
            "fax.queued",
            "fax.media.processed",
            "fax.sending.started",
            "fax.receiving.started",
            "fax.media.processing.started",
        ] {
            let body = event(event_type, json!({ "fax_id": "f-1", "status": "queued" }));
            assert_eq!(verify(&body).unwrap().status, FaxStatus::InProgress, "{event_type}");
        }
    }

    #[test]
    fn an_inbound_fax_that_failed_reports_nothing_about_our_messages() {
        let body = event(
            "fax.failed",
            json!({ "fax_id": "f-1", "direction": "inbound", "failure_reason": "receiver_call_dropped" }),
        );
        assert_eq!(verify(&body).unwrap().status, FaxStatus::InProgress);
        let ours = event("fax.failed", json!({ "fax_id": "f-1", "direction": "outbound", "failure_reason": "busy" }));
        assert!(matches!(verify(&ours).unwrap().status, FaxStatus::Failed { .. }));
    }

    #[test]
    fn payloads_we_cannot_read_are_malformed_without_quoting_them() {
        let not_json = b"{\"data\": nope}";
        assert!(matches!(verify(not_json), Err(WebhookError::Malformed(_))));

        let no_fax_id = event("fax.queued", json!({ "status": "queued" }));
        assert!(matches!(verify(&no_fax_id), Err(WebhookError::Malformed(_))));

        let empty_fax_id = event("fax.queued", json!({ "fax_id": "" }));
        assert!(matches!(verify(&empty_fax_id), Err(WebhookError::Malformed(_))));

        let not_fax = event("call.initiated", json!({ "fax_id": "f-1" }));
        assert!(matches!(verify(&not_fax), Err(WebhookError::Malformed(_))));

        let delivered_without_pages = event("fax.delivered", json!({ "fax_id": "f-1", "status": "delivered" }));
        assert!(matches!(verify(&delivered_without_pages), Err(WebhookError::Malformed(_))));

        let phi = event("fax.delivered", json!({ "fax_id": "f-1", "page_count": "Dr. José Núñez" }));
        let Err(WebhookError::Malformed(text)) = verify(&phi) else { panic!("expected Malformed") };
        assert!(!text.contains("José"), "{text}");
    }

    #[test]
    fn a_key_that_is_not_an_ed25519_public_key_is_refused() {
        assert_eq!(TelnyxWebhookVerifier::new("not base64 !!").unwrap_err(), TelnyxKeyError::NotBase64);
        assert_eq!(TelnyxWebhookVerifier::new("c2hvcnQ=").unwrap_err(), TelnyxKeyError::NotEd25519);
    }
}
