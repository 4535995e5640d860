//! `tidings-local bench`: sweep-and-deliver throughput on the embedded store.
//! Prints its figures; nothing here is a pass/fail test.

use std::sync::Arc;
use std::time::Instant;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, TimeZone, Utc};
use futures::StreamExt;
use tidings::domain::{
    AccountSettings, Appointment, AppointmentReminderSettings, AppointmentStatus, Channel, Language, QuietHours,
    Recipient, RecipientKind,
};

use crate::runtime::{LocalError, LocalOptions, LocalRuntime, TABLE};

const RECIPIENTS: usize = 500;
const RAW_WRITES: usize = 2_000;

pub struct BenchFigures {
    pub delivered: usize,
    pub messages_per_second: f64,
    pub requests_per_message: f64,
    pub raw_writes_per_second: f64,
}

/// Runs `bench` on a fresh embedded store in a temporary SQLite file (as
/// `serve` keeps its data) with a manual clock at `t0`, removed afterwards.
pub(crate) async fn on_fresh_store<T, F, Fut>(t0: DateTime<Utc>, bench: F) -> Result<T, LocalError>
where
    F: FnOnce(Arc<LocalRuntime>) -> Fut,
    Fut: std::future::Future<Output = Result<T, LocalError>>,
{
    let dir = std::env::temp_dir().join(format!("tidings-bench-{}", uuid::Uuid::new_v4()));
    let options = LocalOptions { data: Some(dir.join("bench.db")), manual_clock: Some(t0), ..LocalOptions::default() };
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

pub async fn run(reminders: usize) -> Result<BenchFigures, LocalError> {
    // 10:00 in New York, the practice's zone: the reminders fall due inside
    // the hours SMS may go, so the bench measures sending, not waiting.
    let t0 = Utc.with_ymd_and_hms(2026, 12, 1, 15, 0, 0).single().unwrap_or_default();
    on_fresh_store(t0, |runtime| run_on(reminders, runtime, t0)).await
}

async fn run_on(reminders: usize, runtime: Arc<LocalRuntime>, t0: DateTime<Utc>) -> Result<BenchFigures, LocalError> {
    let account = "bench".parse().map_err(|_| LocalError::Wiring("account id".into()))?;
    let settings = AccountSettings {
        practice_name: "Bench Clinic".into(),
        practice_phone: "+12025550143".parse().map_err(|_| LocalError::Wiring("phone".into()))?,
        time_zone: "America/New_York".parse().map_err(|_| LocalError::Wiring("zone".into()))?,
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
    };
    runtime.store.put_settings(&account, &settings).await?;
    buy_bench_credit(&runtime, &account).await?;

    eprintln!("loading {reminders} reminders…");
    let load_started = Instant::now();
    for i in 0..RECIPIENTS.min(reminders.max(1)) {
        let (channel, email, phone) = if i % 2 == 0 {
            (Channel::Email, format!("client{i}@example.com").parse().ok(), None)
        } else {
            (Channel::Sms, None, format!("+1202555{:04}", i % 10_000).parse().ok())
        };
        let recipient = Recipient {
            id: format!("r{i}").parse().map_err(|_| LocalError::Wiring("recipient id".into()))?,
            kind: RecipientKind::Client,
            first_name: "Sam".into(),
            last_name: "Bench".into(),
            channel,
            email,
            phone,
            fax: None,
            time_zone: None,
            language: Language::english(),
        };
        runtime.store.put_recipient(&account, &recipient).await?;
    }
    let records = runtime.records.clone();
    let loads = futures::stream::iter(0..reminders).map(|i| {
        let records = records.clone();
        let account = &account;
        async move {
            let appointment = Appointment {
                id: format!("a{i}").parse().map_err(|_| LocalError::Wiring("appointment id".into()))?,
                recipient_id: format!("r{}", i % RECIPIENTS).parse().map_err(|_| LocalError::Wiring("id".into()))?,
                starts_at: t0 + Duration::days(2) + Duration::seconds(i as i64),
                duration_minutes: 30,
                provider: "Dr. Bench".into(),
                location: "Main St".into(),
                status: AppointmentStatus::Booked,
                appointment_type: None,
                confirmed: false,
            };
            records.put_appointment(account, &appointment).await.map_err(|e| LocalError::Wiring(e.to_string()))
        }
    });
    let loaded: Vec<_> = loads.buffer_unordered(16).collect().await;
    loaded.into_iter().collect::<Result<Vec<_>, _>>()?;
    eprintln!("loaded in {:.1} s", load_started.elapsed().as_secs_f64());

    // Everything falls due at once: the clock jumps past the last due time.
    let all_due = t0 + Duration::days(1) + Duration::seconds(reminders as i64) + Duration::minutes(1);
    runtime.advance_clock_without_ticks(all_due)?;
    let requests_before = runtime.dynamo.counter.count();
    let started = Instant::now();
    let mut sweeps = 0;
    while runtime.outbox.entries().len() < reminders {
        let report = runtime.run_sweep().await?;
        sweeps += 1;
        if report.published == 0 && !report.more_due {
            break;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let requests = runtime.dynamo.counter.count() - requests_before;
    let delivered = runtime.outbox.entries().len();
    eprintln!("{sweeps} sweeps");

    let client = runtime.dynamo.client();
    let raw_started = Instant::now();
    for i in 0..RAW_WRITES {
        client
            .put_item()
            .table_name(TABLE)
            .item("PK", AttributeValue::S(format!("BENCH#{i}")))
            .item("SK", AttributeValue::S("RAW".into()))
            .item("payload", AttributeValue::S("x".repeat(200)))
            .send()
            .await
            .map_err(|e| LocalError::Wiring(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string()))?;
    }
    let raw_elapsed = raw_started.elapsed().as_secs_f64();

    Ok(BenchFigures {
        delivered,
        messages_per_second: delivered as f64 / elapsed,
        requests_per_message: requests as f64 / delivered.max(1) as f64,
        raw_writes_per_second: RAW_WRITES as f64 / raw_elapsed,
    })
}
