//! `tidings-local cold-start BINARY...`: each function binary started as
//! Lambda starts it, against a small fake of the Lambda runtime API on
//! loopback, and timed from the process's spawn to its first
//! `GET /runtime/invocation/next` (what Lambda reports as Init Duration:
//! logging, configuration and AWS clients built, keys read). The fake also
//! answers Secrets Manager's GetSecretValue, which three functions call
//! before they are ready; nothing else is called at start. Prints each
//! binary's size, its zipped size (deflate at level 9, as the deployment
//! zip holds it), and its init time and peak memory over several starts.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio::sync::{mpsc, watch};

/// How long a binary may take to ask for its first event.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// What one start of a binary came to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Start {
    pub init: Duration,
    /// Peak resident memory by the first request for an event (`VmHWM`).
    pub peak_rss_bytes: Option<u64>,
}

/// A binary's figures over its starts.
#[derive(Debug, Clone)]
pub struct Figures {
    pub name: String,
    pub bytes: u64,
    pub zipped_bytes: u64,
    /// Sorted, fastest first.
    pub starts: Vec<Start>,
}

impl Figures {
    pub fn median_init(&self) -> Duration {
        self.starts[self.starts.len() / 2].init
    }

    pub fn slowest_init(&self) -> Duration {
        self.starts[self.starts.len() - 1].init
    }

    pub fn peak_rss_bytes(&self) -> Option<u64> {
        self.starts.iter().filter_map(|start| start.peak_rss_bytes).max()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ColdStartError {
    #[error("{0}: {1}")]
    Io(PathBuf, #[source] std::io::Error),
    #[error("{name} reported an init error: {body}")]
    InitError { name: String, body: String },
    #[error("{name} exited before asking for an event ({status}); its last words: {stderr}")]
    Exited { name: String, status: std::process::ExitStatus, stderr: String },
    #[error("{name} did not ask for an event within {INIT_TIMEOUT:?}")]
    TimedOut { name: String },
    #[error("at least one start is needed")]
    NoRuns,
}

/// Measures each of `binaries` over `runs` starts, one after another.
pub async fn measure_all(binaries: &[PathBuf], runs: usize) -> Result<Vec<Figures>, ColdStartError> {
    let mut all = Vec::with_capacity(binaries.len());
    for binary in binaries {
        all.push(measure(binary, runs).await?);
    }
    Ok(all)
}

/// Measures one binary over `runs` starts.
pub async fn measure(binary: &Path, runs: usize) -> Result<Figures, ColdStartError> {
    if runs == 0 {
        return Err(ColdStartError::NoRuns);
    }
    let io = |err| ColdStartError::Io(binary.to_owned(), err);
    // A path, never a name looked up on PATH.
    let binary = &std::fs::canonicalize(binary).map_err(io)?;
    let bytes = std::fs::read(binary).map_err(io)?;
    let mut zipper = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    zipper.write_all(&bytes).map_err(io)?;
    let zipped_bytes = zipper.finish().map_err(io)?.len() as u64;
    let name = binary.file_name().map_or_else(|| binary.display().to_string(), |n| n.to_string_lossy().into_owned());
    let mut starts = Vec::with_capacity(runs);
    for _ in 0..runs {
        starts.push(start_once(binary, &name).await?);
    }
    starts.sort_by_key(|start| start.init);
    Ok(Figures { name, bytes: bytes.len() as u64, zipped_bytes, starts })
}

/// What the fake runtime API saw first.
enum Seen {
    AskedForEvent,
    InitError(String),
}

#[derive(Clone)]
struct FakeRuntime {
    seen: mpsc::UnboundedSender<Seen>,
    /// Changes when the start is measured: the fake then stops.
    stop: watch::Receiver<()>,
}

/// Serves the runtime API's start-up routes and GetSecretValue on a fresh
/// loopback port until `state.stop` changes. `next` gives no event: the
/// start is over once it is asked.
async fn serve_fake(
    state: FakeRuntime,
) -> Result<(SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>), std::io::Error> {
    let mut stop = state.stop.clone();
    let app = Router::new()
        .route(
            "/2018-06-01/runtime/invocation/next",
            get(|State(mut state): State<FakeRuntime>| async move {
                let _ = state.seen.send(Seen::AskedForEvent);
                let _ = state.stop.changed().await;
                StatusCode::GONE
            }),
        )
        .route(
            "/2018-06-01/runtime/init/error",
            post(|State(state): State<FakeRuntime>, body: String| async move {
                let _ = state.seen.send(Seen::InitError(body));
                StatusCode::ACCEPTED
            }),
        )
        .route("/", post(get_secret_value))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = stop.changed().await;
    });
    Ok((addr, tokio::spawn(std::future::IntoFuture::into_future(server))))
}

/// Secrets Manager's GetSecretValue (AWS JSON 1.1): any secret is a fixed
/// 32-byte key.
async fn get_secret_value(headers: HeaderMap) -> (StatusCode, Json<serde_json::Value>) {
    let target = headers.get("x-amz-target").and_then(|value| value.to_str().ok()).unwrap_or_default();
    if target != "secretsmanager.GetSecretValue" {
        return (StatusCode::BAD_REQUEST, Json(serde_json::json!({ "__type": "UnknownOperationException" })));
    }
    let secret = "cold-start-key-0123456789abcdef0";
    (StatusCode::OK, Json(serde_json::json!({ "Name": "cold-start", "SecretString": secret })))
}

/// The environment a deployed function has (template.yaml's variables for
/// every function, fictional values), with every AWS endpoint on the fake.
fn environment(name: &str, fake: SocketAddr) -> Vec<(&'static str, String)> {
    let arn = "arn:aws:secretsmanager:us-east-1:000000000000:secret:cold-start";
    [
        ("AWS_LAMBDA_RUNTIME_API", fake.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", name.to_owned()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".into()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "cold-start".into()),
        ("AWS_SECRET_ACCESS_KEY", "cold-start".into()),
        ("AWS_SESSION_TOKEN", "cold-start".into()),
        ("AWS_ENDPOINT_URL", format!("http://{fake}")),
        ("TABLE_NAME", "tidings".into()),
        ("EVENT_BUS_NAME", "tidings".into()),
        ("REPLIES_BUCKET", "tidings-replies".into()),
        ("PUBLIC_API_URL", "https://api.example.com".into()),
        ("CONSENT_LINK_KEY_SECRET_ARN", arn.into()),
        ("TELNYX_API_KEY_SECRET_ARN", arn.into()),
        ("TELNYX_CONNECTION_ID", "cold-start".into()),
        ("SIP_MEDIA_APPLICATION_ID", "cold-start".into()),
        ("SENDER_EMAIL", "reminders@example.com".into()),
        ("SMS_ORIGINATION_NUMBER", "+12025550143".into()),
        ("VOICE_CALLER_ID", "+12025550144".into()),
        ("FAX_FROM_NUMBER", "+12025550145".into()),
        ("RUST_LOG", "info".into()),
    ]
    .into()
}

async fn start_once(binary: &Path, name: &str) -> Result<Start, ColdStartError> {
    let (seen, mut first) = mpsc::unbounded_channel();
    let (stop, stopped) = watch::channel(());
    let fake = FakeRuntime { seen, stop: stopped };
    let (addr, server) = serve_fake(fake).await.map_err(|err| ColdStartError::Io(binary.to_owned(), err))?;
    let started = Instant::now();
    let mut child = tokio::process::Command::new(binary)
        .env_clear()
        .envs(environment(name, addr))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|err| ColdStartError::Io(binary.to_owned(), err))?;
    let outcome = tokio::select! {
        seen = first.recv() => match seen {
            Some(Seen::AskedForEvent) => {
                let init = started.elapsed();
                Ok(Start { init, peak_rss_bytes: child.id().and_then(peak_rss_bytes) })
            }
            Some(Seen::InitError(body)) => Err(ColdStartError::InitError { name: name.to_owned(), body }),
            None => Err(ColdStartError::TimedOut { name: name.to_owned() }),
        },
        status = child.wait() => {
            let status = status.map_err(|err| ColdStartError::Io(binary.to_owned(), err))?;
            let mut stderr = String::new();
            if let Some(mut pipe) = child.stderr.take() {
                use tokio::io::AsyncReadExt as _;
                let _ = pipe.read_to_string(&mut stderr).await;
            }
            let last_words = stderr.lines().rev().take(3).collect::<Vec<_>>().join(" | ");
            Err(ColdStartError::Exited { name: name.to_owned(), status, stderr: last_words })
        }
        () = tokio::time::sleep(INIT_TIMEOUT) => Err(ColdStartError::TimedOut { name: name.to_owned() }),
    };
    let _ = child.kill().await;
    // Each start's fake ends with it: a run of many starts leaves no
    // listeners behind.
    let _ = stop.send(());
    let _ = server.await;
    outcome
}

/// The process's peak resident set (`VmHWM` of /proc/PID/status), where
/// the system has one.
fn peak_rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for a function: a shell script that asks the runtime API
    /// for an event with curl, after `pause` seconds.
    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt as _;
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[tokio::test]
    async fn a_start_ends_when_the_function_first_asks_for_an_event() {
        let dir = tempfile::tempdir().unwrap();
        let asks = script(
            dir.path(),
            "asks",
            "sleep 0.3; exec /usr/bin/curl -s \"http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/invocation/next\"",
        );
        let figures = measure(&asks, 2).await.unwrap();
        assert_eq!(figures.name, "asks");
        assert_eq!(figures.starts.len(), 2);
        assert!(figures.median_init() >= Duration::from_millis(300), "{:?}", figures.median_init());
        assert!(figures.slowest_init() < INIT_TIMEOUT);
        assert!(figures.zipped_bytes > 0 && figures.zipped_bytes < figures.bytes + 64);
    }

    #[tokio::test]
    async fn the_fake_answers_get_secret_value_as_secrets_manager_does() {
        let dir = tempfile::tempdir().unwrap();
        let reads_secret = script(
            dir.path(),
            "reads-secret",
            "key=$(/usr/bin/curl -sf -X POST -H 'x-amz-target: secretsmanager.GetSecretValue' -d '{}' \"$AWS_ENDPOINT_URL/\") || exit 3\n\
             case \"$key\" in *SecretString*) ;; *) exit 4 ;; esac\n\
             exec /usr/bin/curl -s \"http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/invocation/next\"",
        );
        measure(&reads_secret, 1).await.unwrap();
    }

    #[tokio::test]
    async fn a_function_that_dies_or_reports_an_init_error_is_an_error_not_a_figure() {
        let dir = tempfile::tempdir().unwrap();
        let dies = script(dir.path(), "dies", "echo 'missing TABLE_NAME' >&2; exit 1");
        match measure(&dies, 1).await {
            Err(ColdStartError::Exited { stderr, .. }) => assert!(stderr.contains("missing TABLE_NAME"), "{stderr}"),
            other => panic!("{other:?}"),
        }
        let reports = script(
            dir.path(),
            "reports",
            "/usr/bin/curl -s -X POST -d 'bad config' \"http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/init/error\"; sleep 5",
        );
        match measure(&reports, 1).await {
            Err(ColdStartError::InitError { body, .. }) => assert_eq!(body, "bad config"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(measure(&dies, 0).await, Err(ColdStartError::NoRuns)));
    }
}
