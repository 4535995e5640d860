//! Fetching a received fax's PDF from Telnyx.
//!
//! What Telnyx documents ("Receive a Fax via API"): `fax.received`'s
//! `media_url` is "a signed AWS link to a PDF of the received fax", valid
//! for ten minutes, of the form
//! `https://s3.amazonaws.com/faxes-prod/{user id}/{fax id}.pdf?X-Amz-…`: a
//! path-style presigned URL into Telnyx's S3 bucket `faxes-prod`. The media
//! is a PDF (TIFF is only something Telnyx accepts for faxes we send), so
//! anything else is refused. `s3.amazonaws.com` serves every bucket in S3,
//! so allowing that host would allow anyone's bucket: the default
//! ([`MediaHosts::default`]) allows it only under `/faxes-prod/`, and the
//! same bucket under its virtual-hosted name. The link carries its own
//! signature: no credential of ours is sent.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::{StatusCode, Url};

use crate::channels::fax::{FaxMedia, InboundFax, MediaError};

/// The largest fax we take: a hundred scanned pages are well under it.
pub const DEFAULT_MEDIA_MAX_BYTES: u64 = 20 * 1024 * 1024;
/// A fetch that takes longer than this, body included, has failed: the link
/// lives ten minutes, so the webhook's retry can fetch again.
const FETCH_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Redirects followed, each to an allowed place only.
const MAX_REDIRECTS: usize = 3;
const PDF_MAGIC: &[u8] = b"%PDF-";

/// One place media may come from: an origin and a path prefix below it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Allowed {
    scheme: String,
    host: String,
    port: u16,
    /// Ends with `/`, so `/faxes-prod/` never allows `/faxes-prod-other/`.
    path_prefix: String,
}

impl Allowed {
    fn https(host: &str, path_prefix: &str) -> Self {
        Self { scheme: "https".into(), host: host.into(), port: 443, path_prefix: path_prefix.into() }
    }
}

/// Where fax media may be fetched from. Parsed from a comma list whose
/// entries are `host` or `host/path/` (HTTPS only), or an explicit
/// `https://host[:port][/path/]` or `http://host:port[/path/]`: plain HTTP
/// is allowed only where it is spelled out (tests, the local runner).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaHosts(Vec<Allowed>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaHostsError {
    #[error("the fax media host list names no host")]
    Empty,
    #[error("not a fax media host (host, host/path or http(s)://host[:port][/path]): {0}")]
    Invalid(String),
}

/// Telnyx's documented media bucket, by both of its names.
impl Default for MediaHosts {
    fn default() -> Self {
        Self(vec![
            Allowed::https("s3.amazonaws.com", "/faxes-prod/"),
            Allowed::https("faxes-prod.s3.amazonaws.com", "/"),
        ])
    }
}

impl std::str::FromStr for MediaHosts {
    type Err = MediaHostsError;

    fn from_str(list: &str) -> Result<Self, Self::Err> {
        let allowed = list
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(parse_entry)
            .collect::<Result<Vec<_>, _>>()?;
        if allowed.is_empty() {
            return Err(MediaHostsError::Empty);
        }
        Ok(Self(allowed))
    }
}

fn parse_entry(entry: &str) -> Result<Allowed, MediaHostsError> {
    let invalid = || MediaHostsError::Invalid(entry.to_owned());
    let url = if entry.contains("://") { Url::parse(entry) } else { Url::parse(&format!("https://{entry}")) }
        .map_err(|_| invalid())?;
    let scheme = url.scheme();
    if !matches!(scheme, "http" | "https") || has_userinfo(&url) || url.query().is_some() || url.fragment().is_some() {
        return Err(invalid());
    }
    let host = url.host_str().filter(|host| !host.is_empty()).ok_or_else(invalid)?;
    let port = url.port_or_known_default().ok_or_else(invalid)?;
    let path = url.path();
    let path_prefix = if path.ends_with('/') { path.to_owned() } else { format!("{path}/") };
    Ok(Allowed { scheme: scheme.to_owned(), host: host.to_owned(), port, path_prefix })
}

fn has_userinfo(url: &Url) -> bool {
    !url.username().is_empty() || url.password().is_some()
}

impl MediaHosts {
    pub fn parse(list: &str) -> Result<Self, MediaHostsError> {
        list.parse()
    }

    /// Whether `url` may be fetched; the refusal names what was wrong, never
    /// the URL. `url` is parsed, so `..` and its encodings are resolved
    /// before the path is compared.
    fn check(&self, url: &Url) -> Result<(), MediaError> {
        let refused = |code: &str| Err(MediaError::Refused(code.into()));
        if !matches!(url.scheme(), "http" | "https") {
            return refused("scheme_not_allowed");
        }
        if has_userinfo(url) {
            return refused("invalid_url");
        }
        let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
            return refused("invalid_url");
        };
        let same_host: Vec<&Allowed> = self.0.iter().filter(|allowed| allowed.host == host).collect();
        if same_host.is_empty() {
            return refused("host_not_allowed");
        }
        let same_scheme: Vec<&Allowed> = same_host.into_iter().filter(|a| a.scheme == url.scheme()).collect();
        if same_scheme.is_empty() {
            return refused("scheme_not_allowed");
        }
        let same_origin: Vec<&Allowed> = same_scheme.into_iter().filter(|allowed| allowed.port == port).collect();
        if same_origin.is_empty() {
            return refused("port_not_allowed");
        }
        if !same_origin.iter().any(|allowed| url.path().starts_with(&allowed.path_prefix)) {
            return refused("path_not_allowed");
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the fax media HTTP client could not be built: {0}")]
pub struct MediaClientError(#[source] reqwest::Error);

/// Fetches `fax.received` media: only from [`MediaHosts`], following
/// redirects only to them, at most `max_bytes` (counted as the body
/// arrives, so a larger one is never held whole), and only a PDF.
pub struct TelnyxMedia {
    http: reqwest::Client,
    hosts: Arc<MediaHosts>,
    max_bytes: u64,
}

impl TelnyxMedia {
    /// At most [`DEFAULT_MEDIA_MAX_BYTES`] unless [`Self::with_max_bytes`].
    pub fn new(hosts: MediaHosts) -> Result<Self, MediaClientError> {
        let hosts = Arc::new(hosts);
        let allowed = hosts.clone();
        // A redirect elsewhere is not followed: the 3xx comes back as the
        // answer, and is refused.
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() <= MAX_REDIRECTS && allowed.check(attempt.url()).is_ok() {
                attempt.follow()
            } else {
                attempt.stop()
            }
        });
        let http = reqwest::Client::builder()
            .redirect(redirects)
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(MediaClientError)?;
        Ok(Self { http, hosts, max_bytes: DEFAULT_MEDIA_MAX_BYTES })
    }

    pub fn with_max_bytes(self, max_bytes: u64) -> Self {
        Self { max_bytes, ..self }
    }
}

/// No answer, or one cut off: fetching is a read, so it may be tried again.
/// The error's text (it names the URL) is not kept.
fn transport_error(error: &reqwest::Error) -> MediaError {
    let code = if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect_failed"
    } else {
        "connection_lost"
    };
    MediaError::Unavailable(code.into())
}

fn status_error(status: StatusCode) -> MediaError {
    let code = format!("http_{}", status.as_u16());
    if status.is_server_error() || matches!(status, StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS) {
        MediaError::Unavailable(code)
    } else {
        // 403 is an expired or refused link, 404 a missing file: fetching
        // again gets the same answer.
        MediaError::Refused(code)
    }
}

#[async_trait]
impl FaxMedia for TelnyxMedia {
    async fn fetch(&self, inbound: &InboundFax) -> Result<Vec<u8>, MediaError> {
        let url = Url::parse(&inbound.media_url).map_err(|_| MediaError::Refused("invalid_url".into()))?;
        self.hosts.check(&url)?;
        let mut response = self.http.get(url).send().await.map_err(|e| transport_error(&e))?;
        let status = response.status();
        if status.is_redirection() {
            return Err(MediaError::Refused("redirect_not_allowed".into()));
        }
        if !status.is_success() {
            return Err(status_error(status));
        }
        let too_big = || MediaError::Refused("too_big".into());
        if response.content_length().is_some_and(|length| length > self.max_bytes) {
            return Err(too_big());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(&e))? {
            if (body.len() + chunk.len()) as u64 > self.max_bytes {
                return Err(too_big());
            }
            body.extend_from_slice(&chunk);
            if body.len() >= PDF_MAGIC.len() && !body.starts_with(PDF_MAGIC) {
                return Err(MediaError::Refused("not_pdf".into()));
            }
        }
        if !body.starts_with(PDF_MAGIC) {
            return Err(MediaError::Refused("not_pdf".into()));
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;

    const PDF: &[u8] = b"%PDF-1.4\n%received fax: two pages\n%%EOF\n";

    fn inbound(media_url: &str) -> InboundFax {
        InboundFax {
            event_id: "e1".into(),
            fax_id: "f1".into(),
            from: "+13125550199".parse().unwrap(),
            to: "+12025550143".parse().unwrap(),
            media_url: media_url.into(),
            page_count: Some(2),
            partial: false,
        }
    }

    fn refused(code: &str) -> Result<Vec<u8>, MediaError> {
        Err(MediaError::Refused(code.into()))
    }

    /// A media client that allows exactly the mock server's origin.
    fn media_for(server: &MockServer) -> TelnyxMedia {
        TelnyxMedia::new(MediaHosts::parse(&server.uri()).unwrap()).unwrap()
    }

    async fn serve(server: &MockServer, at: &str, response: ResponseTemplate) {
        Mock::given(method("GET")).and(path(at)).respond_with(response).mount(server).await;
    }

    #[test]
    fn the_default_allows_telnyx_s_bucket_only() {
        assert_eq!(
            MediaHosts::parse("s3.amazonaws.com/faxes-prod/, faxes-prod.s3.amazonaws.com"),
            Ok(MediaHosts::default())
        );
        let hosts = MediaHosts::default();
        let check = |url: &str| hosts.check(&Url::parse(url).unwrap());
        let documented = "https://s3.amazonaws.com/faxes-prod/4e9f/e5a1.pdf?X-Amz-Expires=7200&X-Amz-Signature=0f";
        assert_eq!(check(documented), Ok(()));
        assert_eq!(check("https://faxes-prod.s3.amazonaws.com/4e9f/e5a1.pdf?X-Amz-Signature=0f"), Ok(()));
        for (url, code) in [
            ("https://s3.amazonaws.com/someone-elses-bucket/x.pdf", "path_not_allowed"),
            ("https://s3.amazonaws.com/faxes-prod-other/x.pdf", "path_not_allowed"),
            ("https://s3.amazonaws.com/faxes-prod/../someone-elses-bucket/x.pdf", "path_not_allowed"),
            ("https://s3.amazonaws.com/faxes-prod/%2e%2e/someone-elses-bucket/x.pdf", "path_not_allowed"),
            ("https://evil.example/faxes-prod/x.pdf", "host_not_allowed"),
            ("https://s3.amazonaws.com.evil.example/faxes-prod/x.pdf", "host_not_allowed"),
            ("http://s3.amazonaws.com/faxes-prod/x.pdf", "scheme_not_allowed"),
            ("https://s3.amazonaws.com:8443/faxes-prod/x.pdf", "port_not_allowed"),
            ("ftp://s3.amazonaws.com/faxes-prod/x.pdf", "scheme_not_allowed"),
            ("https://user:pw@s3.amazonaws.com/faxes-prod/x.pdf", "invalid_url"),
        ] {
            assert_eq!(check(url), Err(MediaError::Refused(code.into())), "{url}");
        }
    }

    #[test]
    fn plain_http_is_allowed_only_where_it_is_spelled_out() {
        let plain = MediaHosts::parse("127.0.0.1:8080").unwrap();
        let url = Url::parse("http://127.0.0.1:8080/local/fax/media/f1").unwrap();
        assert_eq!(plain.check(&url), Err(MediaError::Refused("scheme_not_allowed".into())));
        let explicit = MediaHosts::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(explicit.check(&url), Ok(()));
        let narrowed = MediaHosts::parse("http://127.0.0.1:8080/local/fax/media").unwrap();
        assert_eq!(narrowed.check(&url), Ok(()));
        let other = Url::parse("http://127.0.0.1:8080/v1/settings").unwrap();
        assert_eq!(narrowed.check(&other), Err(MediaError::Refused("path_not_allowed".into())));
    }

    #[test]
    fn a_host_list_that_names_nothing_usable_is_refused() {
        assert_eq!(MediaHosts::parse(" , "), Err(MediaHostsError::Empty));
        for bad in ["ftp://files.example", "https://u:p@host.example", "host.example/?q=1", "https://", "bad host"] {
            assert!(matches!(MediaHosts::parse(bad), Err(MediaHostsError::Invalid(_))), "{bad}");
        }
    }

    #[tokio::test]
    async fn fetches_the_pdf() {
        let server = MockServer::start().await;
        serve(&server, "/faxes/f1.pdf", ResponseTemplate::new(200).set_body_bytes(PDF)).await;
        let fetched = media_for(&server).fetch(&inbound(&format!("{}/faxes/f1.pdf", server.uri()))).await;
        assert_eq!(fetched, Ok(PDF.to_vec()));
    }

    #[tokio::test]
    async fn a_host_not_on_the_list_is_never_asked() {
        let server = MockServer::start().await;
        serve(&server, "/f1.pdf", ResponseTemplate::new(200).set_body_bytes(PDF)).await;
        let media = TelnyxMedia::new(MediaHosts::default()).unwrap();
        assert_eq!(media.fetch(&inbound(&format!("{}/f1.pdf", server.uri()))).await, refused("host_not_allowed"));
        assert_eq!(media.fetch(&inbound("not a url")).await, refused("invalid_url"));
        assert!(server.received_requests().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn anything_but_a_pdf_is_refused() {
        let server = MockServer::start().await;
        serve(&server, "/f1.tif", ResponseTemplate::new(200).set_body_bytes(b"II*\0tiff image data".to_vec())).await;
        serve(&server, "/empty", ResponseTemplate::new(200)).await;
        let media = media_for(&server);
        assert_eq!(media.fetch(&inbound(&format!("{}/f1.tif", server.uri()))).await, refused("not_pdf"));
        assert_eq!(media.fetch(&inbound(&format!("{}/empty", server.uri()))).await, refused("not_pdf"));
    }

    #[tokio::test]
    async fn a_file_over_the_limit_is_refused() {
        let server = MockServer::start().await;
        let big = [PDF, &[b'0'; 2_000]].concat();
        serve(&server, "/big.pdf", ResponseTemplate::new(200).set_body_bytes(big.clone())).await;
        let media = media_for(&server).with_max_bytes(1_000);
        assert_eq!(media.fetch(&inbound(&format!("{}/big.pdf", server.uri()))).await, refused("too_big"));
        let roomy = media_for(&server).with_max_bytes(big.len() as u64);
        assert_eq!(roomy.fetch(&inbound(&format!("{}/big.pdf", server.uri()))).await, Ok(big));
    }

    /// A server that says nothing of the length and streams a PDF's start
    /// followed by zeros until the client hangs up (or 64 MB); returns
    /// what it managed to send.
    async fn endless_pdf_server() -> (String, tokio::task::JoinHandle<usize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let sent = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request).await;
            let mut sent = 0;
            let head = b"HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\nTransfer-Encoding: chunked\r\n\r\n";
            if socket.write_all(head).await.is_err() {
                return sent;
            }
            let mut chunk = vec![b'0'; 64 * 1024];
            chunk[..PDF_MAGIC.len()].copy_from_slice(PDF_MAGIC);
            while sent < 64 * 1024 * 1024 {
                let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
                if socket.write_all(&framed).await.is_err() {
                    break;
                }
                sent += chunk.len();
                chunk[..PDF_MAGIC.len()].copy_from_slice(b"00000");
            }
            sent
        });
        (origin, sent)
    }

    #[tokio::test]
    async fn the_limit_holds_while_the_body_streams() {
        let (origin, sent) = endless_pdf_server().await;
        let media = TelnyxMedia::new(MediaHosts::parse(&origin).unwrap()).unwrap().with_max_bytes(256 * 1024);
        assert_eq!(media.fetch(&inbound(&format!("{origin}/f1.pdf"))).await, refused("too_big"));
        let sent = sent.await.unwrap();
        assert!(sent < 16 * 1024 * 1024, "stopped reading early, not after the whole body: {sent} bytes sent");
    }

    #[tokio::test]
    async fn an_outage_or_throttling_is_worth_another_fetch_a_gone_link_is_not() {
        let server = MockServer::start().await;
        for (status, expected) in [
            (503, MediaError::Unavailable("http_503".into())),
            (500, MediaError::Unavailable("http_500".into())),
            (429, MediaError::Unavailable("http_429".into())),
            (403, MediaError::Refused("http_403".into())),
            (404, MediaError::Refused("http_404".into())),
        ] {
            let at = format!("/status/{status}");
            serve(&server, &at, ResponseTemplate::new(status).set_body_string("<Error/>")).await;
            let fetched = media_for(&server).fetch(&inbound(&format!("{}{at}", server.uri()))).await;
            assert_eq!(fetched, Err(expected), "status {status}");
        }
    }

    #[tokio::test]
    async fn an_unreachable_host_is_worth_another_fetch() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let media = TelnyxMedia::new(MediaHosts::parse(&origin).unwrap()).unwrap();
        let fetched = media.fetch(&inbound(&format!("{origin}/f1.pdf"))).await;
        assert_eq!(fetched, Err(MediaError::Unavailable("connect_failed".into())));
    }

    #[tokio::test]
    async fn redirects_are_followed_only_to_allowed_places() {
        let server = MockServer::start().await;
        let elsewhere = MockServer::start().await;
        serve(&elsewhere, "/f1.pdf", ResponseTemplate::new(200).set_body_bytes(PDF)).await;
        serve(&server, "/f1.pdf", ResponseTemplate::new(200).set_body_bytes(PDF)).await;
        let to = |target: String| ResponseTemplate::new(307).insert_header("location", target.as_str());
        serve(&server, "/moved", to(format!("{}/f1.pdf", server.uri()))).await;
        serve(&server, "/away", to(format!("{}/f1.pdf", elsewhere.uri()))).await;
        let media = media_for(&server);

        assert_eq!(media.fetch(&inbound(&format!("{}/moved", server.uri()))).await, Ok(PDF.to_vec()));
        assert_eq!(media.fetch(&inbound(&format!("{}/away", server.uri()))).await, refused("redirect_not_allowed"));
        assert!(elsewhere.received_requests().await.unwrap().is_empty(), "the other host is never asked");
    }
}
