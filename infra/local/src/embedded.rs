//! The embedded DynamoDB: dynoxide served in-process on a loopback port,
//! backed by a SQLite file, reached through the ordinary aws-sdk-dynamodb
//! client, so the store runs the very code it runs on AWS.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use tokio::sync::oneshot;

tokio::task_local! {
    /// The local function an invocation runs (the bus and the scheduler
    /// set it around each), so that requests are counted per function as
    /// each Lambda would make them.
    pub static INVOKED_FUNCTION: String;
}

/// Counts every HTTP request the client sends (retries included), in all
/// and per function invoked, and the items they write (a transaction of
/// fifty messages is one request and a hundred writes).
#[derive(Debug, Default, Clone)]
pub struct RequestCounter {
    total: Arc<AtomicU64>,
    per_function: Arc<Mutex<HashMap<String, u64>>>,
    item_writes: Arc<AtomicU64>,
}

impl RequestCounter {
    pub fn count(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Items written by every request so far.
    pub fn item_writes(&self) -> u64 {
        self.item_writes.load(Ordering::Relaxed)
    }

    /// Requests made while `function` ran.
    pub fn of(&self, function: &str) -> u64 {
        self.per_function.lock().unwrap_or_else(|e| e.into_inner()).get(function).copied().unwrap_or(0)
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.total.fetch_add(1, Ordering::Relaxed);
        let request = context.request();
        let operation = request.headers().get("x-amz-target").and_then(|target| target.rsplit('.').next());
        self.item_writes.fetch_add(items_written(operation, request.body().bytes()), Ordering::Relaxed);
        if let Ok(function) = INVOKED_FUNCTION.try_with(String::clone) {
            *self.per_function.lock().unwrap_or_else(|e| e.into_inner()).entry(function).or_default() += 1;
        }
        Ok(())
    }
}

/// How many items a request of `operation` with `body` writes.
fn items_written(operation: Option<&str>, body: Option<&[u8]>) -> u64 {
    let body = || body.and_then(|body| serde_json::from_slice::<serde_json::Value>(body).ok()).unwrap_or_default();
    match operation {
        Some("PutItem" | "UpdateItem" | "DeleteItem") => 1,
        Some("TransactWriteItems") => body()["TransactItems"].as_array().map_or(0, |items| items.len() as u64),
        Some("BatchWriteItem") => body()["RequestItems"]
            .as_object()
            .map_or(0, |tables| tables.values().filter_map(|writes| writes.as_array()).map(|w| w.len() as u64).sum()),
        _ => 0,
    }
}

/// A DynamoDB client for an endpoint that takes any credentials
/// (the embedded store, or moto).
pub fn client_for(endpoint: &str, counter: &RequestCounter) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("local", "local", None, None, "tidings-local"))
        .interceptor(counter.clone())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error("cannot open the local database: {0}")]
    Open(String),
    #[error("cannot listen on loopback: {0}")]
    Listen(#[from] std::io::Error),
}

/// The running embedded DynamoDB; stops when dropped.
pub struct EmbeddedDynamo {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    pub counter: RequestCounter,
}

impl EmbeddedDynamo {
    /// Serves the SQLite file at `path` (created if missing), or an
    /// in-memory database when `path` is `None`.
    pub async fn start(path: Option<&Path>) -> Result<Self, EmbeddedError> {
        let db = match path {
            Some(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent)?;
                }
                let path = path.to_str().ok_or_else(|| EmbeddedError::Open("path is not UTF-8".into()))?;
                dynoxide::Database::new(path)
            }
            None => dynoxide::Database::memory(),
        }
        .map_err(|e| EmbeddedError::Open(e.to_string()))?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (shutdown, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let stop = async move {
                let _ = stopped.await;
            };
            if let Err(err) = dynoxide::server::serve_with_shutdown(listener, db, stop).await {
                tracing::error!(error = %err, "embedded DynamoDB stopped");
            }
        });
        Ok(Self { addr, shutdown: Some(shutdown), counter: RequestCounter::default() })
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn client(&self) -> aws_sdk_dynamodb::Client {
        client_for(&self.endpoint(), &self.counter)
    }
}

impl Drop for EmbeddedDynamo {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}
