//! The local stand-in for the fax provider: faxes are kept as PDF files
//! (or in memory) and listed in the outbox; their status comes back as a
//! signed Telnyx webhook through the API's real route, posted by
//! `POST /local/fax/{fax_id}/status`. It receives faxes too ([`receive`],
//! `POST /local/fax/inbound`): the PDF is served at
//! `GET /local/fax/media/{fax_id}` for ten minutes, as Telnyx serves a
//! received fax's `media_url`, and announced by a signed `fax.received`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::response::Response;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signer, SigningKey};
use serde::Serialize;
use tidings::channels::fax::telnyx::{MediaHosts, TelnyxMedia};
use tidings::channels::fax::{FaxMedia, FaxProvider, InboundFax, MediaError};
use tidings::channels::{ProviderMessageId, SendError};
use tidings::domain::{Channel, Clock, PhoneNumber, PublicOrigin, RenderedContent};
use tower::ServiceExt as _;

use crate::runtime::{LocalError, LocalRuntime};
use crate::sinks::{Outbox, OutboxEntry};

pub struct LocalFaxProvider {
    outbox: Outbox,
    /// Where PDFs are written; `None` keeps only their size in the outbox.
    dir: Option<PathBuf>,
    clock: Arc<dyn Clock>,
}

impl LocalFaxProvider {
    pub fn new(outbox: Outbox, dir: Option<PathBuf>, clock: Arc<dyn Clock>) -> Self {
        Self { outbox, dir, clock }
    }
}

#[async_trait]
impl FaxProvider for LocalFaxProvider {
    /// It reports as Telnyx does (see [`LocalFaxSigner`]), so it goes by its name.
    fn name(&self) -> &'static str {
        "telnyx"
    }

    async fn send_fax(
        &self,
        to: &PhoneNumber,
        _from: &PhoneNumber,
        pdf: Vec<u8>,
    ) -> Result<ProviderMessageId, SendError> {
        let fax_id = format!("local-fax-{}", uuid::Uuid::new_v4());
        let io = |e: std::io::Error| SendError::Transient(format!("fax_write_{:?}", e.kind()));
        let document = match &self.dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(io)?;
                let file = dir.join(format!("{fax_id}.pdf"));
                std::fs::write(&file, &pdf).map_err(io)?;
                Some(file.display().to_string())
            }
            None => None,
        };
        let pages = lopdf::Document::load_mem(&pdf).map(|d| d.get_pages().len() as u32).ok();
        let content = RenderedContent { to: to.to_string(), ..RenderedContent::default() };
        self.outbox
            .record(OutboxEntry {
                pages,
                document,
                document_bytes: Some(pdf.len()),
                ..OutboxEntry::new(Channel::Fax, &content, &fax_id, self.clock.now())
            })
            .map_err(io)?;
        Ok(fax_id)
    }
}

/// Signs status webhooks as Telnyx does (Ed25519 over `timestamp|body`),
/// with a key that lives as long as the process.
#[derive(Clone)]
pub struct LocalFaxSigner(Arc<SigningKey>);

impl Default for LocalFaxSigner {
    fn default() -> Self {
        let mut seed = [0u8; 32];
        seed[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        seed[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        Self(Arc::new(SigningKey::from_bytes(&seed)))
    }
}

impl LocalFaxSigner {
    /// The public key, base64, as the Telnyx portal shows it.
    pub fn public_key_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.0.verifying_key().as_bytes())
    }

    /// The `telnyx-signature-ed25519` header for `body` at `timestamp`.
    pub fn sign(&self, timestamp: i64, body: &[u8]) -> String {
        let mut signed = format!("{timestamp}|").into_bytes();
        signed.extend_from_slice(body);
        base64::engine::general_purpose::STANDARD.encode(self.0.sign(&signed).to_bytes())
    }
}

/// A signed Telnyx fax webhook, through the API's own route exactly as it
/// would arrive on AWS; the route's answer comes back.
pub async fn post_webhook(runtime: &LocalRuntime, body: Vec<u8>) -> Result<Response, LocalError> {
    let now = runtime.clock.now();
    let signature = runtime.fax_signer.sign(now.timestamp(), &body);
    let request = axum::http::Request::post("/webhooks/fax/telnyx")
        .header("content-type", "application/json")
        .header("telnyx-timestamp", now.timestamp().to_string())
        .header("telnyx-signature-ed25519", signature)
        .body(axum::body::Body::from(body))
        .map_err(|e| LocalError::Wiring(format!("fax webhook request: {e}")))?;
    let routes = tidings_api::public(runtime.api_state()?);
    match routes.oneshot(request).await {
        Ok(response) => Ok(response),
        Err(never) => match never {},
    }
}

/// How long a received fax's media link works: Telnyx's last ten minutes.
const MEDIA_LINK_TTL: chrono::Duration = chrono::Duration::minutes(10);

/// The PDFs of faxes the local provider received, by fax id. Kept in memory:
/// like Telnyx's links, they are not meant to outlive a fetch.
#[derive(Clone, Default)]
pub struct InboundMedia(Arc<Mutex<HashMap<String, ReceivedPdf>>>);

/// When a fax was received, and its PDF.
type ReceivedPdf = (DateTime<Utc>, Vec<u8>);

/// What `GET /local/fax/media/{fax_id}` finds.
#[derive(Debug, PartialEq, Eq)]
pub enum MediaLookup {
    Pdf(Vec<u8>),
    /// Received more than ten minutes ago: the link no longer works (and
    /// the PDF is dropped).
    Expired,
    Missing,
}

impl InboundMedia {
    /// Links that expired unread are dropped here, so a long-running
    /// runner does not keep every fax it ever received.
    fn keep(&self, fax_id: &str, received_at: DateTime<Utc>, pdf: Vec<u8>) {
        let mut media = self.0.lock().unwrap_or_else(|e| e.into_inner());
        media.retain(|_, (kept_at, _)| received_at - *kept_at <= MEDIA_LINK_TTL);
        media.insert(fax_id.to_owned(), (received_at, pdf));
    }

    pub fn lookup(&self, fax_id: &str, now: DateTime<Utc>) -> MediaLookup {
        let mut media = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match media.get(fax_id) {
            None => MediaLookup::Missing,
            Some((received_at, _)) if now - *received_at > MEDIA_LINK_TTL => {
                media.remove(fax_id);
                MediaLookup::Expired
            }
            Some((_, pdf)) => MediaLookup::Pdf(pdf.clone()),
        }
    }
}

/// Where the local runner listens, once it does: media and consent links
/// point there.
#[derive(Default, Clone)]
pub struct LocalOrigin(pub PublicOrigin);

impl LocalOrigin {
    /// An address that listens on every interface is reached on loopback.
    pub fn set(&self, address: SocketAddr) {
        let mut address = address;
        if address.ip().is_unspecified() {
            address.set_ip(if address.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            });
        }
        self.0.set(&format!("http://{address}"));
    }

    /// `http://127.0.0.1:{port}`, for `MediaHosts` to allow.
    pub fn get(&self) -> Option<&str> {
        self.0.get()
    }
}

/// The local provider's received faxes, fetched as on AWS: by the Telnyx
/// media adapter, over HTTP, from the runner's own address (the one origin
/// it allows here).
pub struct LocalFaxMedia(pub LocalOrigin);

#[async_trait]
impl FaxMedia for LocalFaxMedia {
    async fn fetch(&self, inbound: &InboundFax) -> Result<Vec<u8>, MediaError> {
        let origin = self.0.get().ok_or_else(|| MediaError::Unavailable("not_listening".into()))?;
        let hosts = MediaHosts::parse(origin).map_err(|_| MediaError::Refused("invalid_origin".into()))?;
        let media = TelnyxMedia::new(hosts).map_err(|_| MediaError::Unavailable("http_client".into()))?;
        media.fetch(inbound).await
    }
}

/// A fax the local provider received, and what the API's webhook route
/// answered to its `fax.received`.
#[derive(Debug, Serialize)]
pub struct ReceivedFax {
    pub fax_id: String,
    pub media_url: String,
    #[serde(skip)]
    pub webhook_status: u16,
    /// The route's JSON answer (`{"outcome": …}`).
    pub webhook: serde_json::Value,
    /// The webhook as posted, for a provider's retry to post again.
    #[serde(skip)]
    pub webhook_body: Vec<u8>,
}

/// The largest webhook answer read back: a receipt or an error body.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The local provider receives a fax from `from` to `to`: keeps the PDF
/// where its media link serves it, then posts Telnyx's signed `fax.received`
/// through the API's route.
pub async fn receive(
    runtime: &LocalRuntime,
    from: &PhoneNumber,
    to: &PhoneNumber,
    pdf: Vec<u8>,
) -> Result<ReceivedFax, LocalError> {
    let origin = runtime.origin.get().ok_or(LocalError::NotListening)?;
    let fax_id = format!("local-fax-{}", uuid::Uuid::new_v4());
    let media_url = format!("{origin}/local/fax/media/{fax_id}");
    let now = runtime.clock.now();
    let pages = lopdf::Document::load_mem(&pdf).map(|d| d.get_pages().len() as u32).ok();
    runtime.fax_media.keep(&fax_id, now, pdf);
    let body = received_body(&fax_id, from, to, &media_url, pages, now);
    let response = post_webhook(runtime, body.clone()).await?;
    let webhook_status = response.status().as_u16();
    let answer = axum::body::to_bytes(response.into_body(), MAX_ANSWER_BYTES)
        .await
        .map_err(|e| LocalError::Wiring(format!("fax webhook answer: {e}")))?;
    let webhook = serde_json::from_slice(&answer).unwrap_or(serde_json::Value::Null);
    Ok(ReceivedFax { fax_id, media_url, webhook_status, webhook, webhook_body: body })
}

/// A Telnyx `fax.received` webhook body, as Telnyx documents it.
fn received_body(
    fax_id: &str,
    from: &PhoneNumber,
    to: &PhoneNumber,
    media_url: &str,
    page_count: Option<u32>,
    at: DateTime<Utc>,
) -> Vec<u8> {
    let body = serde_json::json!({
        "data": {
            "event_type": "fax.received",
            "id": uuid::Uuid::new_v4().to_string(),
            "occurred_at": at,
            "payload": {
                "connection_id": "local",
                "direction": "inbound",
                "fax_id": fax_id,
                "from": from.as_str(),
                "to": to.as_str(),
                "media_url": media_url,
                "page_count": page_count,
                "partial_content": false,
                "status": "received",
            },
            "record_type": "event",
        },
        "meta": { "attempt": 1 },
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

/// A Telnyx fax status webhook body about `fax_id`.
pub fn status_body(
    fax_id: &str,
    delivered: bool,
    pages: u32,
    failure_reason: Option<&str>,
    at: chrono::DateTime<chrono::Utc>,
) -> Vec<u8> {
    let (event_type, status) = if delivered { ("fax.delivered", "delivered") } else { ("fax.failed", "failed") };
    let body = serde_json::json!({
        "data": {
            "event_type": event_type,
            "id": uuid::Uuid::new_v4().to_string(),
            "occurred_at": at,
            "payload": {
                "fax_id": fax_id,
                "status": status,
                "page_count": pages,
                "failure_reason": failure_reason,
                "direction": "outbound",
            },
            "record_type": "event",
        },
        "meta": { "attempt": 1 },
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn a_media_link_works_ten_minutes_and_expired_ones_are_not_kept() {
        let media = InboundMedia::default();
        let t0 = Utc.with_ymd_and_hms(2026, 12, 1, 14, 0, 0).unwrap();
        media.keep("f1", t0, b"%PDF-1".to_vec());
        assert_eq!(media.lookup("f1", t0 + chrono::Duration::minutes(10)), MediaLookup::Pdf(b"%PDF-1".to_vec()));
        assert_eq!(media.lookup("f1", t0 + chrono::Duration::minutes(11)), MediaLookup::Expired);
        assert_eq!(
            media.lookup("f1", t0 + chrono::Duration::minutes(11)),
            MediaLookup::Missing,
            "dropped once expired"
        );

        media.keep("f2", t0, b"%PDF-2".to_vec());
        media.keep("f3", t0 + chrono::Duration::minutes(11), b"%PDF-3".to_vec());
        assert_eq!(media.lookup("f2", t0), MediaLookup::Missing, "dropped when a later fax arrived");
        assert_eq!(media.lookup("f3", t0 + chrono::Duration::minutes(11)), MediaLookup::Pdf(b"%PDF-3".to_vec()));
    }
}
