//! Stored files in one S3 bucket; downloads are presigned GetObject links.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use aws_sdk_s3::Client;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;

use super::blobs::{attachment_disposition, download_content_type, BlobError, BlobKey, BlobStore, Download};

/// How long a download link lives: long enough to follow the redirect, short
/// enough that a link copied out of a browser soon stops working.
pub const DOWNLOAD_LINK_TTL: Duration = Duration::from_secs(5 * 60);

pub struct S3Blobs {
    client: Client,
    bucket: String,
    link_ttl: Duration,
}

impl S3Blobs {
    /// `link_ttl` is how long download links live ([`DOWNLOAD_LINK_TTL`]).
    /// A link signed with a Lambda's role credentials stops working when
    /// they expire, whichever comes first.
    pub fn new(client: Client, bucket: impl Into<String>, link_ttl: Duration) -> Self {
        Self { client, bucket: bucket.into(), link_ttl }
    }
}

/// Sorts an S3 failure by whether a retry can help. Every operation here is
/// idempotent (a put rewrites the same bytes, a get reads), so an answer
/// lost on the way back is worth another try, unlike a send's.
fn classify<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> BlobError {
    match error {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or("unknown").to_owned();
            let status = service.raw().status().as_u16();
            if status >= 500 || matches!(status, 408 | 429) || matches!(code.as_str(), "SlowDown" | "RequestTimeout") {
                BlobError::Unavailable(code)
            } else {
                BlobError::Refused(code)
            }
        }
        SdkError::ConstructionFailure(_) => BlobError::Refused("request_construction".into()),
        SdkError::TimeoutError(_) => BlobError::Unavailable("timeout".into()),
        SdkError::DispatchFailure(failure) if failure.is_timeout() => BlobError::Unavailable("timeout".into()),
        SdkError::DispatchFailure(_) => BlobError::Unavailable("connection_lost".into()),
        _ => BlobError::Unavailable("response_error".into()),
    }
}

#[async_trait]
impl BlobStore for S3Blobs {
    async fn put(&self, key: &BlobKey, bytes: Vec<u8>, content_type: &str) -> Result<(), BlobError> {
        // The bucket's default encryption would apply anyway; saying so on
        // each object keeps it encrypted if that default is ever changed.
        // SSE-S3 rather than a KMS key: the function roles need no key grant.
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .content_type(download_content_type(content_type))
            .server_side_encryption(ServerSideEncryption::Aes256)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| classify(&e))?;
        Ok(())
    }

    async fn get(&self, key: &BlobKey) -> Result<Option<Vec<u8>>, BlobError> {
        // A missing object reads as NoSuchKey only to a role that may list
        // the bucket (s3:ListBucket); without it S3 answers AccessDenied.
        let object = match self.client.get_object().bucket(&self.bucket).key(key.as_str()).send().await {
            Ok(object) => object,
            Err(SdkError::ServiceError(service)) if service.err().is_no_such_key() => return Ok(None),
            Err(err) => return Err(classify(&err)),
        };
        let body = object.body.collect().await.map_err(|_| BlobError::Unavailable("body_read".into()))?;
        Ok(Some(body.into_bytes().to_vec()))
    }

    async fn download(&self, key: &BlobKey, filename: &str, content_type: &str) -> Result<Download, BlobError> {
        let config = PresigningConfig::expires_in(self.link_ttl).map_err(|_| BlobError::Refused("link_ttl".into()))?;
        // S3 answers the link with these headers instead of the object's
        // own, so the browser saves the file under its name.
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .response_content_disposition(attachment_disposition(filename))
            .response_content_type(download_content_type(content_type))
            .presigned(config)
            .await
            .map_err(|e| classify(&e))?;
        Ok(Download::Redirect { url: request.uri().to_owned() })
    }
}
