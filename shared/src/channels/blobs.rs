//! Stored files (inbound email as received, reply attachments, inbound
//! faxes) behind one port: S3 on AWS ([`super::s3`]), a folder beside the
//! database locally. Keys are built here only, from what is stored, so no
//! input can name a key outside its place.

use std::fmt;

use async_trait::async_trait;
use base64::Engine as _;

use crate::domain::AccountId;

/// S3's longest key, in bytes.
const MAX_KEY_LEN: usize = 1024;
/// A path segment no longer than most file systems' longest name, so a key
/// is a valid path under a folder too.
const MAX_SEGMENT_LEN: usize = 255;
/// Our own attachment ids are short tokens (`0`, `1`, `2.pdf`).
const MAX_ATTACHMENT_ID_LEN: usize = 64;
/// Where reply attachments (inbound faxes among them) are kept.
const ATTACHMENTS: &str = "attachments";
/// Where documents staff attach to messages are kept.
pub const OUTBOUND: &str = "outbound";

/// Where a stored file lives: `/`-separated segments of `[A-Za-z0-9_.=-]`,
/// none empty, none `.`, no `..` anywhere, no leading `/`, at most 1024
/// bytes. Under a folder it is a path that stays below the folder; in S3
/// it is the object key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobKey(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BlobKeyError {
    /// A character outside `[A-Za-z0-9/_.=-]`, an empty or `.` segment, a
    /// `..`, or a leading `/`.
    #[error("a blob key is /-separated segments of A-Z a-z 0-9 _ . = - without .. or empty segments")]
    Invalid,
    #[error("a blob key is at most 1024 bytes, each segment at most 255")]
    TooLong,
}

impl BlobKey {
    /// `attachments/{account}/{reply}/{attachment}`. The account and reply
    /// ids are base64url-encoded (their own characters, `:` among them, are
    /// not all safe in keys, and the encoding is one-to-one, so two ids never
    /// share a key); the attachment id is ours and kept as it is.
    pub fn attachment(account: &AccountId, reply_id: &str, attachment_id: &str) -> Result<Self, BlobKeyError> {
        if reply_id.is_empty() || attachment_id.is_empty() || attachment_id.len() > MAX_ATTACHMENT_ID_LEN {
            return Err(BlobKeyError::Invalid);
        }
        if attachment_id.contains('/') {
            return Err(BlobKeyError::Invalid);
        }
        Self::checked(format!("{ATTACHMENTS}/{}/{}/{attachment_id}", encode(account.as_str()), encode(reply_id)))
    }

    /// `outbound/{account}/{message}/{sha256}`: a document staff attached
    /// to a message, named by its content (so a repeated request with
    /// another file never overwrites the first). Ids base64url-encoded, as
    /// for attachments.
    pub fn outbound(account: &AccountId, message_id: &str, sha256: &str) -> Result<Self, BlobKeyError> {
        if message_id.is_empty() || sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(BlobKeyError::Invalid);
        }
        Self::checked(format!("{OUTBOUND}/{}/{}/{sha256}", encode(account.as_str()), encode(message_id)))
    }

    /// A key as a stored record names it, checked again.
    pub fn stored(key: &str) -> Result<Self, BlobKeyError> {
        Self::checked(key.to_owned())
    }

    /// Where SES's receipt rule stored an inbound email: its object key
    /// prefix (the rule's, possibly empty) followed by the message id SES
    /// gave the email. Not encoded: it is the key SES wrote.
    pub fn inbound_email(prefix: &str, ses_message_id: &str) -> Result<Self, BlobKeyError> {
        if ses_message_id.is_empty() || ses_message_id.contains('/') {
            return Err(BlobKeyError::Invalid);
        }
        Self::checked(format!("{prefix}{ses_message_id}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn checked(key: String) -> Result<Self, BlobKeyError> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '.' | '=' | '-');
        if !key.chars().all(allowed) || key.contains("..") {
            return Err(BlobKeyError::Invalid);
        }
        if key.split('/').any(|segment| segment.is_empty() || segment == ".") {
            return Err(BlobKeyError::Invalid);
        }
        if key.len() > MAX_KEY_LEN || key.split('/').any(|segment| segment.len() > MAX_SEGMENT_LEN) {
            return Err(BlobKeyError::TooLong);
        }
        Ok(Self(key))
    }
}

impl fmt::Display for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn encode(id: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id.as_bytes())
}

/// How a stored file reaches the person downloading it.
#[derive(Clone, PartialEq, Eq)]
pub enum Download {
    /// Send them here (302): a presigned link that lives a few minutes.
    Redirect { url: String },
    /// Serve these bytes (the local runner has no other server to send to).
    Bytes(Vec<u8>),
}

/// The link is a bearer credential to the file for as long as it lives, so
/// it never reaches a log through `{:?}`.
impl fmt::Debug for Download {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Download::Redirect { .. } => f.write_str("Redirect { url: <presigned> }"),
            Download::Bytes(bytes) => write!(f, "Bytes({} bytes)", bytes.len()),
        }
    }
}

/// A failed store operation. The text is the store's error code, never a
/// file's contents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlobError {
    /// Throttling, a network fault, an outage, an answer lost: every
    /// operation is idempotent, so trying again can help.
    #[error("the blob store is unavailable: {0}")]
    Unavailable(String),
    /// Will fail every time: access denied, no such bucket, a bad request.
    #[error("the blob store refused the request: {0}")]
    Refused(String),
    /// There is no file to download. Only a store that reads the file can
    /// tell; a presigned link to a missing object answers 404 by itself.
    #[error("no such blob")]
    NotFound,
}

impl BlobError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, BlobError::Unavailable(_))
    }
}

/// Where stored files are kept. Writing the same bytes under the same key
/// twice leaves one file: every key names what is stored under it (an
/// attachment of a reply whose id derives from the provider's), so a retry
/// rewrites what the first attempt wrote.
#[async_trait]
pub trait BlobStore: Send + Sync {
    async fn put(&self, key: &BlobKey, bytes: Vec<u8>, content_type: &str) -> Result<(), BlobError>;
    /// `None` when nothing is stored under `key`.
    async fn get(&self, key: &BlobKey) -> Result<Option<Vec<u8>>, BlobError>;
    /// How to hand the file to a person, saved as `filename` and shown as
    /// `content_type` (both sanitised here: they come from inbound mail).
    async fn download(&self, key: &BlobKey, filename: &str, content_type: &str) -> Result<Download, BlobError>;
}

/// The longest file name a download suggests.
const MAX_FILENAME_CHARS: usize = 100;

/// `attachment; filename="…"` for a file name an email's sender chose:
/// only letters, digits, space and `._()-` are kept (others become `_`), so
/// no quote, backslash, control character or path reaches the header, and
/// a leading dot (a hidden file) is dropped. `attachment` forces a download
/// instead of showing the file in the browser.
pub fn attachment_disposition(filename: &str) -> String {
    let cleaned: String = filename
        .chars()
        .take(MAX_FILENAME_CHARS)
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, ' ' | '.' | '_' | '(' | ')' | '-') { c } else { '_' })
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.');
    let name = if cleaned.is_empty() { "attachment" } else { cleaned };
    format!("attachment; filename=\"{name}\"")
}

/// The content type a download is served with: `type/subtype` in token
/// characters (parameters dropped), else `application/octet-stream`, so a
/// sender's header cannot add fields to ours.
pub fn download_content_type(content_type: &str) -> &str {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    let token = |part: &str| {
        !part.is_empty()
            && part.len() <= 127
            && part.chars().all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c))
    };
    match essence.split_once('/') {
        Some((kind, subtype)) if token(kind) && token(subtype) => essence,
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn account(id: &str) -> AccountId {
        id.parse().unwrap()
    }

    #[test]
    fn an_attachment_key_encodes_the_account_and_reply_ids() {
        let key = BlobKey::attachment(&account("acct:1"), "fax~telnyx~b3f2", "0").unwrap();
        assert_eq!(key.as_str(), "attachments/YWNjdDox/ZmF4fnRlbG55eH5iM2Yy/0");
    }

    #[test]
    fn ids_that_differ_never_share_a_key() {
        let a = BlobKey::attachment(&account("a"), "b-c", "0").unwrap();
        let b = BlobKey::attachment(&account("a-b"), "c", "0").unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn an_attachment_id_is_one_plain_segment() {
        for bad in ["", "../x", "a/b", "..", ".", "a b", "é", &"x".repeat(65)] {
            assert!(BlobKey::attachment(&account("a"), "r", bad).is_err(), "{bad:?}");
        }
        assert!(BlobKey::attachment(&account("a"), "", "0").is_err(), "an empty reply id");
        assert!(BlobKey::attachment(&account("a"), "r", "2.pdf").is_ok());
    }

    #[test]
    fn a_reply_id_too_long_for_a_segment_is_refused() {
        let long = "r".repeat(200);
        assert_eq!(BlobKey::attachment(&account("a"), &long, "0"), Err(BlobKeyError::TooLong));
        assert!(BlobKey::attachment(&account("a"), &"r".repeat(190), "0").is_ok());
    }

    #[test]
    fn an_inbound_email_key_is_the_rule_s_prefix_and_the_message_id() {
        let key = BlobKey::inbound_email("inbound/", "o3vrnil0e2ic28trm7dfhrc2v0clambda4nbp0g1").unwrap();
        assert_eq!(key.as_str(), "inbound/o3vrnil0e2ic28trm7dfhrc2v0clambda4nbp0g1");
        assert_eq!(BlobKey::inbound_email("", "abc").unwrap().as_str(), "abc");
    }

    #[test]
    fn an_inbound_email_key_cannot_leave_its_prefix() {
        for (prefix, id) in [
            ("inbound/", "../secrets"),
            ("inbound/", "a/b"),
            ("/inbound/", "m1"),
            ("../", "m1"),
            ("inbound//", "m1"),
            ("inbound/./", "m1"),
            ("inbound/", ""),
            ("in bound/", "m1"),
            ("inbound/", "m1%2f"),
            ("inbound/", "m1\\..\\x"),
        ] {
            assert_eq!(BlobKey::inbound_email(prefix, id), Err(BlobKeyError::Invalid), "{prefix:?} {id:?}");
        }
        assert_eq!(BlobKey::inbound_email("inbound/", &"m".repeat(1100)), Err(BlobKeyError::TooLong));
    }

    proptest! {
        // Up to 40 characters (160 bytes) of anything: their encoding fits a segment.
        #[test]
        fn every_attachment_key_stays_below_its_prefix(account_id in "[A-Za-z0-9._:-]{1,128}", reply in ".{1,40}") {
            let key = BlobKey::attachment(&account(&account_id), &reply, "0").unwrap();
            let segments: Vec<&str> = key.as_str().split('/').collect();
            prop_assert_eq!(segments.len(), 4);
            prop_assert_eq!(segments[0], "attachments");
            prop_assert!(segments.iter().all(|s| !s.is_empty() && *s != "." && *s != ".."));
        }
    }

    #[test]
    fn a_download_suggests_a_sanitised_file_name() {
        assert_eq!(attachment_disposition("lab results (2).pdf"), "attachment; filename=\"lab results (2).pdf\"");
        assert_eq!(attachment_disposition("a\"b\\c\r\nd.pdf"), "attachment; filename=\"a_b_c__d.pdf\"");
        assert_eq!(attachment_disposition("../../etc/passwd"), "attachment; filename=\"_.._etc_passwd\"");
        assert_eq!(attachment_disposition(".hidden"), "attachment; filename=\"hidden\"");
        assert_eq!(attachment_disposition("Résumé.pdf"), "attachment; filename=\"R_sum_.pdf\"");
        assert_eq!(attachment_disposition(""), "attachment; filename=\"attachment\"");
        assert_eq!(attachment_disposition(&"x".repeat(500)).len(), "attachment; filename=\"\"".len() + 100);
    }

    #[test]
    fn a_download_s_content_type_is_a_bare_media_type() {
        assert_eq!(download_content_type("application/pdf"), "application/pdf");
        assert_eq!(download_content_type("image/svg+xml; charset=utf-8"), "image/svg+xml");
        assert_eq!(download_content_type("text/html\r\nSet-Cookie: a=b"), "application/octet-stream");
        assert_eq!(download_content_type("pdf"), "application/octet-stream");
        assert_eq!(download_content_type(""), "application/octet-stream");
    }

    #[test]
    fn a_download_link_never_shows_in_debug_output() {
        let link = Download::Redirect { url: "https://bucket.s3.amazonaws.com/k?X-Amz-Signature=abc".into() };
        assert!(!format!("{link:?}").contains("Signature"));
        assert_eq!(format!("{:?}", Download::Bytes(vec![1, 2, 3])), "Bytes(3 bytes)");
    }

    #[test]
    fn only_an_unavailable_store_is_worth_retrying() {
        assert!(BlobError::Unavailable("SlowDown".into()).is_retryable());
        assert!(!BlobError::Refused("AccessDenied".into()).is_retryable());
        assert!(!BlobError::NotFound.is_retryable());
    }
}
