//! The local stand-in for the fax provider: faxes are kept as PDF files
//! (or in memory) and listed in the outbox; their status comes back as a
//! signed Telnyx webhook through the API's real route, posted by
//! `POST /local/fax/{fax_id}/status`.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use ed25519_dalek::{Signer, SigningKey};
use tidings::channels::fax::FaxProvider;
use tidings::channels::{ProviderMessageId, SendError};
use tidings::domain::{Channel, Clock, PhoneNumber, RenderedContent};

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
