//! The one test harness: `spawn_app` starts the local runner (embedded
//! DynamoDB, local sinks, manual clock) on a loopback port and returns a
//! client for it; `moto` builds AWS clients for the moto server that
//! `infra/test.sh` starts; [`provider`] is a provider that hangs up.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};
use tidings_local::bus::BusOptions;
use tidings_local::{server, LocalOptions, LocalRuntime};

pub mod browser;
pub mod faults;
pub mod provider;

/// Every test starts its clock here, well before its appointments.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 14, 0, 0).unwrap()
}

pub struct TestApp {
    pub runtime: Arc<LocalRuntime>,
    pub address: String,
    pub http: reqwest::Client,
    /// Credit every practice buys when its settings are first saved.
    starting_credit: Option<u64>,
}

/// What a practice of the default harness starts with: tests about timing
/// and content are not about credit. Credit tests start from nothing.
pub const STARTING_CREDIT_CENTS: u64 = 100_000;

pub async fn spawn_app() -> TestApp {
    let mut app = spawn_app_with(LocalOptions { manual_clock: Some(t0()), ..LocalOptions::default() }).await;
    app.starting_credit = Some(STARTING_CREDIT_CENTS);
    app
}

pub async fn spawn_app_with_duplicates() -> TestApp {
    let mut app = spawn_app_with(LocalOptions {
        manual_clock: Some(t0()),
        bus: BusOptions { duplicate_deliveries: true },
        ..LocalOptions::default()
    })
    .await;
    app.starting_credit = Some(STARTING_CREDIT_CENTS);
    app
}

/// The local runner as `options` say, practices starting without credit.
pub async fn spawn_app_with(options: LocalOptions) -> TestApp {
    let runtime = Arc::new(LocalRuntime::start(options).await.expect("local runtime starts"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let address = format!("http://{}", listener.local_addr().expect("local addr"));
    tokio::spawn(server::serve(runtime.clone(), listener));
    TestApp { runtime, address, http: reqwest::Client::new(), starting_credit: None }
}

pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl TestApp {
    pub fn token(&self, account: &str) -> String {
        self.runtime.token_key.issue(&account.parse().expect("account id"), false).expect("token")
    }

    /// The operator's token for `account`: the only kind that buys credit.
    pub fn operator_token(&self, account: &str) -> String {
        self.runtime.token_key.issue(&account.parse().expect("account id"), true).expect("token")
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body read");
        Answer { status, body: serde_json::from_str(&text).unwrap_or(Value::String(text)) }
    }

    pub async fn put(&self, account: &str, path: &str, body: Value) -> Answer {
        let request = self.http.put(format!("{}{path}", self.address)).bearer_auth(self.token(account)).json(&body);
        self.send(request).await
    }

    pub async fn put_raw(&self, token: Option<&str>, path: &str, body: &str) -> Answer {
        let mut request = self
            .http
            .put(format!("{}{path}", self.address))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        self.send(request).await
    }

    pub async fn post(&self, account: &str, path: &str, body: Value) -> Answer {
        let request = self.http.post(format!("{}{path}", self.address)).bearer_auth(self.token(account)).json(&body);
        self.send(request).await
    }

    /// `POST /v1/credit/purchases` for `account`, as the operator.
    pub async fn purchase(&self, account: &str, body: Value) -> Answer {
        let url = format!("{}/v1/credit/purchases", self.address);
        self.send(self.http.post(url).bearer_auth(self.operator_token(account)).json(&body)).await
    }

    /// A `/local` route: no token, as on the developer's own machine.
    pub async fn post_local(&self, path: &str, body: Value) -> Answer {
        self.send(self.http.post(format!("{}{path}", self.address)).json(&body)).await
    }

    /// A `/local` route read: the outbox, the bus, a stored file.
    /// A raw RFC 5322 email to one of our reply addresses, as SES receives
    /// it: the status and `ingest-replies`' report.
    pub async fn post_email(&self, raw: Vec<u8>) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}/local/email/inbound", self.address))
            .header("content-type", "message/rfc822")
            .body(raw)
            .send()
            .await
            .expect("the local runner answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn get_local(&self, path: &str) -> Answer {
        self.send(self.http.get(format!("{}{path}", self.address))).await
    }

    /// Buys `cents` of credit for the account (a fresh idempotency key).
    pub async fn given_credit(&self, account: &str, cents: u64) {
        let key = uuid::Uuid::new_v4().to_string();
        let answer = self.purchase(account, json!({"amount_cents": cents, "idempotency_key": key})).await;
        assert_eq!(answer.status, 201, "{}", answer.body);
    }

    pub async fn get(&self, account: &str, path: &str) -> Answer {
        self.send(self.http.get(format!("{}{path}", self.address)).bearer_auth(self.token(account))).await
    }

    pub async fn delete(&self, account: &str, path: &str) -> Answer {
        self.send(self.http.delete(format!("{}{path}", self.address)).bearer_auth(self.token(account))).await
    }

    pub async fn messages(&self, account: &str, appointment: &str) -> Vec<Value> {
        let answer = self.get(account, &format!("/v1/messages?appointment_id={appointment}")).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.body["messages"].as_array().cloned().unwrap_or_default()
    }

    /// Moves the manual clock through `POST /local/clock`.
    pub async fn move_clock(&self, now: DateTime<Utc>) -> Answer {
        let request = self.http.post(format!("{}/local/clock", self.address)).json(&json!({ "now": now }));
        self.send(request).await
    }

    pub async fn outbox(&self) -> Vec<Value> {
        let answer = self.send(self.http.get(format!("{}/local/outbox", self.address))).await;
        answer.body["messages"].as_array().cloned().unwrap_or_default()
    }

    /// The link of the email opt-in request in the outbox (to the
    /// runner's own consent page).
    pub async fn consent_link(&self) -> String {
        let outbox = self.outbox().await;
        let email = outbox.iter().find(|m| m["channel"] == "email").expect("an opt-in email");
        let body = email["body"].as_str().expect("a body");
        let start = body.find("http://").expect("a link in the email");
        body[start..].split_whitespace().next().expect("the link").to_owned()
    }

    /// A practice with messaging on and the default reminder.
    pub async fn given_practice(&self, account: &str) {
        self.given_settings(account, true, &[1440]).await;
    }

    pub async fn given_settings(&self, account: &str, messaging_enabled: bool, offsets: &[u32]) {
        self.given_settings_with(
            account,
            json!({
                "messaging_enabled": messaging_enabled,
                "appointment_reminders": {"enabled": true, "offsets_minutes": offsets},
            }),
        )
        .await;
    }

    /// The Riverside practice (New York, messaging on) with `settings`
    /// added or replacing its fields.
    pub async fn given_settings_with(&self, account: &str, settings: Value) {
        let mut body = json!({
            "practice_name": "Riverside Clinic",
            "practice_phone": "+12025550143",
            "time_zone": "America/New_York",
            "messaging_enabled": true,
        });
        if let (Some(body), Some(settings)) = (body.as_object_mut(), settings.as_object()) {
            body.extend(settings.clone());
        }
        let answer = self.put(account, "/v1/settings", body).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        if let Some(cents) = self.starting_credit {
            // Once per account: the key makes repeated settings buy nothing.
            let key = format!("starting-credit-{account}");
            let bought = self.purchase(account, json!({"amount_cents": cents, "idempotency_key": key})).await;
            assert!(matches!(bought.status, 200 | 201), "{}", bought.body);
        }
    }

    pub async fn given_email_client(&self, account: &str, id: &str) {
        self.given_client(account, id, json!({"first_name": "Ann", "channel": "email", "email": "ann@example.com"}))
            .await;
    }

    pub async fn given_sms_client(&self, account: &str, id: &str) {
        self.given_client(account, id, json!({"first_name": "Ben", "channel": "sms", "phone": "+1 202 555 0101"}))
            .await;
    }

    pub async fn given_client_on_voice(&self, account: &str, id: &str) {
        self.given_client(account, id, json!({"first_name": "Cy", "channel": "voice", "phone": "+1 202 555 0177"}))
            .await;
    }

    pub async fn given_fax_client(&self, account: &str, id: &str) {
        self.given_client(account, id, json!({"first_name": "Dr.", "channel": "fax", "fax": "+1 202 555 0188"})).await;
    }

    async fn given_client(&self, account: &str, id: &str, details: Value) {
        let mut body = json!({"kind": "client", "last_name": "Lee"});
        if let (Some(body), Some(details)) = (body.as_object_mut(), details.as_object()) {
            body.extend(details.clone());
        }
        let answer = self.put(account, &format!("/v1/recipients/{id}"), body).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }

    pub async fn book(&self, account: &str, id: &str, recipient: &str, starts_at: DateTime<Utc>) -> Answer {
        self.put_appointment(account, id, recipient, starts_at, "booked").await
    }

    pub async fn cancel(&self, account: &str, id: &str, recipient: &str, starts_at: DateTime<Utc>) -> Answer {
        self.put_appointment(account, id, recipient, starts_at, "cancelled").await
    }

    async fn put_appointment(
        &self,
        account: &str,
        id: &str,
        recipient: &str,
        starts_at: DateTime<Utc>,
        status: &str,
    ) -> Answer {
        self.put(
            account,
            &format!("/v1/appointments/{id}"),
            json!({
                "recipient_id": recipient,
                "starts_at": starts_at.to_rfc3339(),
                "duration_minutes": 30,
                "provider": "Dr. Ruiz",
                "location": "12 Main St",
                "status": status,
            }),
        )
        .await
    }
}

/// The moto server `infra/test.sh` started. Adapter tests need it: run them
/// through `infra/test.sh`, which never skips them.
pub fn moto_endpoint() -> String {
    std::env::var("TIDINGS_MOTO_ENDPOINT")
        .expect("TIDINGS_MOTO_ENDPOINT is unset: run the adapter tests through infra/test.sh")
}

pub async fn moto_config() -> aws_config::SdkConfig {
    aws_config_at(&moto_endpoint()).await
}

/// The AWS configuration the Lambda functions load (the SDKs' default retry
/// policy included), pointed at `endpoint`, which takes any credentials.
pub async fn aws_config_at(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("testing", "testing", None, None, "moto"))
        .load()
        .await
}

/// What moto recorded as sent (`GET /moto-api/data.json`).
pub async fn moto_data() -> Value {
    reqwest::get(format!("{}/moto-api/data.json", moto_endpoint()))
        .await
        .expect("moto answers")
        .json()
        .await
        .expect("moto data is JSON")
}

/// Claims a due message as the sweep does: read, then its claim written.
/// `None` when it is not claimable at `at`, or another claim came first.
pub async fn claim_due(
    store: &tidings::store::Store,
    account: &tidings::domain::AccountId,
    id: &tidings::domain::MessageId,
    at: DateTime<Utc>,
    lease: chrono::Duration,
) -> Option<tidings::store::ClaimedMessage> {
    let read = store.read_due(&[(account.clone(), id.clone())], at, lease).await.unwrap().remove(0);
    match read {
        tidings::store::DueMessage::Claimable(read) => store.write_claim(&read).await.unwrap(),
        _ => None,
    }
}
