//! `tidings-local bench --burst N`: N appointment reminders of 200
//! practices fall due in the same minute (as when a vendor's practices book
//! on the hour), and the sweep and delivery functions drain them on the
//! embedded store. Prints its figures; nothing here is a pass/fail test.

use std::sync::Arc;
use std::time::{Duration as Elapsed, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, TimeZone, Utc};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use tidings::domain::{
    AccountId, AccountSettings, Appointment, AppointmentReminderSettings, AppointmentStatus, Channel, Language,
    QuietHours, Recipient, RecipientKind, SendRates,
};
use tidings::services::SweepConfig;

use crate::runtime::{LocalError, LocalOptions, LocalRuntime, SWEEP_FUNCTION, TABLE};

/// Practices in the burst, and clients each (half by email, half by text).
const ACCOUNTS: usize = 200;
const CLIENTS: usize = 20;
/// Single-item writes the store's raw rate is measured with.
const RAW_WRITES: usize = 4_000;
/// Requests in flight while loading, and while measuring the raw rate: as
/// many as a sweep round keeps in flight.
const IN_FLIGHT: usize = 16;

pub struct BurstFigures {
    pub reminders: usize,
    pub delivered: usize,
    pub emails: usize,
    pub texts: usize,
    /// From the moment all fell due to the last event published.
    pub handed_off_seconds: f64,
    /// From the moment all fell due to the last delivery recorded.
    pub drained_seconds: f64,
    pub sweep_runs: usize,
    pub sweep_rounds: usize,
    pub sweep_errors: usize,
    /// The sweep's requests per message handed off, and each delivery
    /// function's per message it delivered.
    pub sweep_requests_per_message: f64,
    pub email_delivery_requests: f64,
    pub sms_delivery_requests: f64,
    /// The most any one account took of a sweep round, in per mille.
    pub busiest_account_permille: usize,
    /// Items written per message delivered, by every function.
    pub item_writes_per_message: f64,
    pub raw_writes_per_second: f64,
}

impl BurstFigures {
    pub fn messages_per_second(&self) -> f64 {
        self.delivered as f64 / self.drained_seconds
    }

    pub fn requests_per_email(&self) -> f64 {
        self.sweep_requests_per_message + self.email_delivery_requests
    }

    pub fn requests_per_text(&self) -> f64 {
        self.sweep_requests_per_message + self.sms_delivery_requests
    }

    /// Requests per message over the burst's mix of channels.
    pub fn requests_per_message(&self) -> f64 {
        let delivery =
            self.email_delivery_requests * self.emails as f64 + self.sms_delivery_requests * self.texts as f64;
        self.sweep_requests_per_message + delivery / self.delivered.max(1) as f64
    }

    /// What the store's raw rate of single-item writes allows at the
    /// items each message writes (a transaction's items are each a write to
    /// the store, however few the requests).
    pub fn write_bound_messages_per_second(&self) -> f64 {
        self.raw_writes_per_second / self.item_writes_per_message
    }
}

pub(crate) fn wiring(what: &str) -> LocalError {
    LocalError::Wiring(format!("bench: {what}"))
}

fn bar(len: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64).with_message(what.to_owned());
    let style = ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} {per_sec} eta {eta}")
        .map(|style| style.progress_chars("=> "));
    if let Ok(style) = style {
        bar.set_style(style);
    }
    bar
}

pub async fn run(reminders: usize) -> Result<BurstFigures, LocalError> {
    // 10:00 in New York, the practices' zone: the reminders fall due inside
    // the hours texts may go, so the bench measures sending, not waiting.
    let t0 = Utc.with_ymd_and_hms(2026, 12, 1, 15, 0, 0).single().unwrap_or_default();
    on_fresh_store(t0, |runtime| run_on(reminders, runtime, t0)).await
}

fn settings(practice: usize) -> Result<AccountSettings, LocalError> {
    Ok(AccountSettings {
        practice_name: format!("Bench Clinic {practice}"),
        practice_phone: "+12025550143".parse().map_err(|_| wiring("phone"))?,
        time_zone: "America/New_York".parse().map_err(|_| wiring("zone"))?,
        messaging_enabled: true,
        appointment_reminders: AppointmentReminderSettings::default(),
        appointment_notices: Default::default(),
        invoice_messages: Default::default(),
        quiet_hours: QuietHours::default(),
        caps: Default::default(),
        credit: Default::default(),
        senders: Default::default(),
        voice_replies: false,
        replies: Default::default(),
        opt_in: Default::default(),
        app_links: Default::default(),
    })
}

fn client(practice: usize, i: usize) -> Result<Recipient, LocalError> {
    let by_email = i.is_multiple_of(2);
    Ok(Recipient {
        id: format!("r{i}").parse().map_err(|_| wiring("recipient id"))?,
        kind: RecipientKind::Client,
        first_name: "Sam".into(),
        last_name: "Bench".into(),
        channel: if by_email { Channel::Email } else { Channel::Sms },
        email: by_email.then(|| format!("client{i}@p{practice}.example.com").parse().ok()).flatten(),
        phone: (!by_email).then(|| format!("+1202555{:04}", (practice * CLIENTS + i) % 10_000).parse().ok()).flatten(),
        fax: None,
        time_zone: None,
        language: Language::english(),
    })
}

async fn run_on(reminders: usize, runtime: Arc<LocalRuntime>, t0: DateTime<Utc>) -> Result<BurstFigures, LocalError> {
    let accounts: Vec<AccountId> = (0..ACCOUNTS)
        .map(|a| format!("practice-{a:03}").parse().map_err(|_| wiring("account id")))
        .collect::<Result<_, _>>()?;
    let loading = bar(ACCOUNTS + reminders, "loading");
    for (practice, account) in accounts.iter().enumerate() {
        runtime.store.put_settings(account, &settings(practice)?).await?;
        buy_bench_credit(&runtime, account).await?;
        for i in 0..CLIENTS {
            runtime.store.put_recipient(account, &client(practice, i)?).await?;
        }
        loading.inc(1);
    }
    // Every appointment starts within one minute, two days on: their
    // reminders (a day before) fall due in the same minute.
    let starts = t0 + Duration::days(2);
    let records = runtime.records.clone();
    let loads = futures::stream::iter(0..reminders).map(|i| {
        let (records, accounts, loading) = (records.clone(), &accounts, &loading);
        async move {
            let appointment = Appointment {
                id: format!("a{i}").parse().map_err(|_| wiring("appointment id"))?,
                recipient_id: format!("r{}", (i / ACCOUNTS) % CLIENTS).parse().map_err(|_| wiring("id"))?,
                starts_at: starts + Duration::seconds((i % 60) as i64),
                duration_minutes: 30,
                provider: "Dr. Bench".into(),
                location: "Main St".into(),
                status: AppointmentStatus::Booked,
                appointment_type: None,
                confirmed: false,
            };
            let account = &accounts[i % ACCOUNTS];
            let loaded = records.put_appointment(account, &appointment).await.map_err(|e| wiring(&e.to_string()));
            loading.inc(1);
            loaded
        }
    });
    let loaded: Vec<_> = loads.buffer_unordered(IN_FLIGHT).collect().await;
    loaded.into_iter().collect::<Result<Vec<_>, _>>()?;
    loading.finish();

    let all_due = starts - Duration::days(1) + Duration::minutes(1);
    runtime.advance_clock_without_ticks(all_due)?;
    let counter = runtime.dynamo.counter.clone();
    let before = [SWEEP_FUNCTION, "deliver-email", "deliver-sms"].map(|function| counter.of(function));
    let writes_before = counter.item_writes();

    let sweeping = bar(reminders, "delivered");
    let watched = {
        let (outbox, sweeping) = (runtime.outbox.clone(), sweeping.clone());
        tokio::spawn(async move {
            loop {
                sweeping.set_position(outbox.len() as u64);
                tokio::time::sleep(Elapsed::from_millis(200)).await;
            }
        })
    };
    let started = Instant::now();
    let mut handed_off = Elapsed::ZERO;
    let (mut runs, mut rounds, mut errors, mut published, mut busiest) = (0, 0, 0, 0, 0);
    loop {
        let report = runtime.sweep_without_waiting().await?;
        runs += 1;
        rounds += report.rounds;
        errors += report.errors;
        published += report.published;
        busiest = busiest.max(report.busiest_account_permille);
        if report.published > 0 {
            handed_off = started.elapsed();
        }
        if !report.more_due && report.published == 0 {
            break;
        }
    }
    runtime.bus.idle().await;
    let drained = started.elapsed();
    watched.abort();
    sweeping.finish();

    let entries = runtime.outbox.entries();
    let of = |channel: Channel| entries.iter().filter(|entry| entry.channel == channel).count();
    let (emails, texts) = (of(Channel::Email), of(Channel::Sms));
    let made = |at: usize, function: &str| (counter.of(function) - before[at]) as f64;
    let item_writes = (counter.item_writes() - writes_before) as f64;
    let figures = BurstFigures {
        reminders,
        delivered: entries.len(),
        emails,
        texts,
        handed_off_seconds: handed_off.as_secs_f64(),
        drained_seconds: drained.as_secs_f64(),
        sweep_runs: runs,
        sweep_rounds: rounds,
        sweep_errors: errors,
        sweep_requests_per_message: made(0, SWEEP_FUNCTION) / published.max(1) as f64,
        email_delivery_requests: made(1, "deliver-email") / emails.max(1) as f64,
        sms_delivery_requests: made(2, "deliver-sms") / texts.max(1) as f64,
        busiest_account_permille: busiest,
        item_writes_per_message: item_writes / entries.len().max(1) as f64,
        raw_writes_per_second: raw_write_rate(&runtime).await?,
    };
    Ok(figures)
}

/// Single-item writes a second the embedded store takes, as many in
/// flight as the sweep keeps, of items the size of a rendered message.
async fn raw_write_rate(runtime: &LocalRuntime) -> Result<f64, LocalError> {
    let client = runtime.dynamo.client();
    let measuring = bar(RAW_WRITES, "raw writes");
    let started = Instant::now();
    let writes = futures::stream::iter(0..RAW_WRITES).map(|i| {
        let (client, measuring) = (&client, &measuring);
        async move {
            let written = client
                .put_item()
                .table_name(TABLE)
                .item("PK", AttributeValue::S(format!("BENCH#{i}")))
                .item("SK", AttributeValue::S("RAW".into()))
                .item("payload", AttributeValue::S("x".repeat(1_000)))
                .send()
                .await
                .map_err(|e| LocalError::Wiring(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string()));
            measuring.inc(1);
            written
        }
    });
    let written: Vec<_> = writes.buffer_unordered(IN_FLIGHT).collect().await;
    written.into_iter().collect::<Result<Vec<_>, _>>()?;
    measuring.finish();
    Ok(RAW_WRITES as f64 / started.elapsed().as_secs_f64())
}

/// Runs `bench` on a fresh embedded store in a temporary SQLite file (as
/// `serve` keeps its data) with a manual clock at `t0`, removed afterwards.
pub(crate) async fn on_fresh_store<T, F, Fut>(t0: DateTime<Utc>, bench: F) -> Result<T, LocalError>
where
    F: FnOnce(Arc<LocalRuntime>) -> Fut,
    Fut: std::future::Future<Output = Result<T, LocalError>>,
{
    let dir = std::env::temp_dir().join(format!("tidings-bench-{}", uuid::Uuid::new_v4()));
    // The benches measure the pipeline, not the providers' rates (the local
    // sinks have none).
    let sweep = SweepConfig { send_rates: SendRates::UNLIMITED, ..SweepConfig::default() };
    let options =
        LocalOptions { data: Some(dir.join("bench.db")), manual_clock: Some(t0), sweep, ..LocalOptions::default() };
    let result = match LocalRuntime::start(options).await {
        Ok(runtime) => bench(Arc::new(runtime)).await,
        Err(err) => Err(err),
    };
    // Best effort: the directory is in the system's temp space anyway.
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Enough credit that no paid message waits: the bench measures sending.
pub(crate) async fn buy_bench_credit(
    runtime: &LocalRuntime,
    account: &tidings::domain::AccountId,
) -> Result<(), LocalError> {
    let amount = tidings::domain::PurchaseAmount::try_from(tidings::domain::credit::MAX_PURCHASE_CENTS)
        .map_err(|e| LocalError::Wiring(e.to_string()))?;
    let key = "bench-credit".parse().map_err(|e: tidings::services::CreditError| LocalError::Wiring(e.to_string()))?;
    runtime.credit.purchase(account, amount, &key).await.map_err(|e| LocalError::Wiring(e.to_string()))?;
    Ok(())
}
