//! `tidings-local bench --mixed`: many accounts, all four automated kinds,
//! the sweep at its real interval on the simulated clock. Prints throughput
//! and, per kind, how late messages were handed off after their due time.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, TimeZone as _, Utc};
use futures::StreamExt;
use tidings::domain::{
    AccountId, AccountSettings, Appointment, AppointmentNoticeSettings, AppointmentReminderSettings, AppointmentStatus,
    Channel, Currency, Invoice, InvoiceMessageSettings, InvoiceStatus, Language, MessageStatus, QuietHours, Recipient,
    RecipientKind,
};

use crate::bench::{on_fresh_store, wiring};
use crate::runtime::{LocalError, LocalRuntime};

const ZONES: [&str; 4] = ["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"];
const RECIPIENTS_PER_ACCOUNT: usize = 5;
/// Bookings arrive over this many simulated minutes, as in a working day.
const BOOKING_MINUTES: i64 = 480;

pub struct KindFigures {
    pub kind: String,
    pub sent: usize,
    pub p50_seconds: i64,
    pub p99_seconds: i64,
}

pub struct MixedFigures {
    pub planned: usize,
    pub sent: usize,
    pub sweep_seconds: f64,
    pub messages_per_second: f64,
    pub ticks: usize,
    pub per_kind: Vec<KindFigures>,
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

async fn seed_account(runtime: &LocalRuntime, account: &AccountId, zone: &str) -> Result<(), LocalError> {
    let settings = AccountSettings {
        practice_name: "Bench Clinic".into(),
        practice_phone: "+12025550143".parse().map_err(|_| wiring("phone"))?,
        time_zone: zone.parse().map_err(|_| wiring("zone"))?,
        messaging_enabled: true,
        appointment_reminders: AppointmentReminderSettings {
            enabled: true,
            offsets_minutes: vec![1440, 120],
            remind_when_booked_late: false,
            ..AppointmentReminderSettings::default()
        },
        appointment_notices: AppointmentNoticeSettings { enabled: true, debounce_minutes: 3 },
        invoice_messages: InvoiceMessageSettings {
            billing_reminders: true,
            days_before: 1,
            late_payment_notices: true,
            days_after: 0,
            max_notices: 1,
            ..InvoiceMessageSettings::default()
        },
        quiet_hours: QuietHours::default(),
        caps: Default::default(),
        credit: Default::default(),
        senders: Default::default(),
        voice_replies: false,
        replies: Default::default(),
        opt_in: Default::default(),
        app_links: Default::default(),
    };
    runtime.store.put_settings(account, &settings).await?;
    crate::bench::buy_bench_credit(runtime, account).await?;
    for r in 0..RECIPIENTS_PER_ACCOUNT {
        let email_channel = r % 2 == 0;
        let recipient = Recipient {
            id: format!("r{r}").parse().map_err(|_| wiring("recipient id"))?,
            kind: RecipientKind::Client,
            first_name: "Sam".into(),
            last_name: "Bench".into(),
            channel: if email_channel { Channel::Email } else { Channel::Sms },
            email: format!("client{r}@example.com").parse().ok(),
            phone: format!("+1202555{:04}", 100 + r).parse().ok(),
            fax: None,
            time_zone: None,
            language: Language::english(),
        };
        runtime.store.put_recipient(account, &recipient).await?;
    }
    Ok(())
}

/// One record: appointment `i` (two reminders and a notice) or, for odd
/// `i`, invoice (a billing reminder and a late notice).
async fn upsert_record(
    runtime: &LocalRuntime,
    account: &AccountId,
    i: usize,
    t0: DateTime<Utc>,
) -> Result<(), LocalError> {
    let recipient = format!("r{}", i % RECIPIENTS_PER_ACCOUNT).parse().map_err(|_| wiring("recipient id"))?;
    let outcome = if i.is_multiple_of(2) {
        let appointment = Appointment {
            id: format!("a{i}").parse().map_err(|_| wiring("appointment id"))?,
            recipient_id: recipient,
            starts_at: t0 + Duration::hours(26) + Duration::seconds((i as i64 * 37) % (8 * 3600)),
            duration_minutes: 30,
            provider: "Dr. Bench".into(),
            location: "Main St".into(),
            status: AppointmentStatus::Booked,
            appointment_type: None,
            confirmed: false,
        };
        runtime.records.put_appointment(account, &appointment).await.map(|_| ())
    } else {
        let due_date = t0.date_naive() + chrono::Days::new(2 + (i as u64 % 3));
        let invoice = Invoice {
            id: format!("i{i}").parse().map_err(|_| wiring("invoice id"))?,
            recipient_id: recipient,
            amount_cents: 4_500 + i as i64,
            currency: Currency::try_from("USD".to_owned()).map_err(|_| wiring("currency"))?,
            due_date,
            status: InvoiceStatus::Open,
            pay_url: None,
            reminders: true,
        };
        runtime.records.put_invoice(account, &invoice).await.map(|_| ())
    };
    outcome.map_err(|e| wiring(&e.to_string()))
}

pub async fn run(messages: usize, accounts: usize) -> Result<MixedFigures, LocalError> {
    let t0 = Utc.with_ymd_and_hms(2026, 12, 1, 13, 0, 0).single().ok_or_else(|| wiring("start"))?;
    on_fresh_store(t0, |runtime| run_on(messages, accounts.max(1), runtime, t0)).await
}

async fn run_on(
    messages: usize,
    accounts: usize,
    runtime: Arc<LocalRuntime>,
    t0: DateTime<Utc>,
) -> Result<MixedFigures, LocalError> {
    let account_ids: Vec<AccountId> = (0..accounts)
        .map(|a| format!("practice-{a}").parse().map_err(|_| wiring("account id")))
        .collect::<Result<_, _>>()?;
    for (a, account) in account_ids.iter().enumerate() {
        seed_account(&runtime, account, ZONES[a % ZONES.len()]).await?;
    }
    // An appointment plans three messages, an invoice two: 2.5 a record.
    let records = messages * 2 / 5;
    eprintln!("bench: {records} records over {accounts} accounts, booked over {BOOKING_MINUTES} simulated minutes");

    let mut sweep_seconds = 0.0;
    let mut ticks = 0;
    let per_minute = records.div_ceil(BOOKING_MINUTES as usize).max(1);
    for (minute, batch) in (0..records).collect::<Vec<_>>().chunks(per_minute).enumerate() {
        let started = Instant::now();
        ticks += runtime.advance_to(t0 + Duration::minutes(minute as i64)).await?.ticks;
        sweep_seconds += started.elapsed().as_secs_f64();
        let upserts = batch.iter().map(|&i| {
            let runtime = runtime.clone();
            let account = account_ids[i % accounts].clone();
            async move { upsert_record(&runtime, &account, i / accounts, t0).await }
        });
        for result in futures::stream::iter(upserts).buffer_unordered(16).collect::<Vec<_>>().await {
            result?;
        }
    }
    let started = Instant::now();
    ticks += runtime.advance_to(t0 + Duration::days(6)).await?.ticks;
    sweep_seconds += started.elapsed().as_secs_f64();

    // Lateness: due time to hand-off (the send), per kind.
    let mut lateness: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut planned = 0;
    for i in 0..records {
        let account = &account_ids[i % accounts];
        let n = i / accounts;
        let listed = if n.is_multiple_of(2) {
            runtime.store.messages_for_appointment(account, &format!("a{n}").parse().map_err(|_| wiring("id"))?).await?
        } else {
            runtime.store.messages_for_invoice(account, &format!("i{n}").parse().map_err(|_| wiring("id"))?).await?
        };
        planned += listed.len();
        for message in listed.into_iter().filter(|m| m.status == MessageStatus::Sent) {
            if let Some(sent_at) = message.sent_at {
                lateness
                    .entry(message.kind.as_str().to_owned())
                    .or_default()
                    .push((sent_at - message.due_at).num_seconds());
            }
        }
    }
    let per_kind: Vec<KindFigures> = lateness
        .into_iter()
        .map(|(kind, mut seconds)| {
            seconds.sort_unstable();
            KindFigures {
                kind,
                sent: seconds.len(),
                p50_seconds: percentile(&seconds, 0.5),
                p99_seconds: percentile(&seconds, 0.99),
            }
        })
        .collect();
    let sent = per_kind.iter().map(|k| k.sent).sum();
    Ok(MixedFigures {
        planned,
        sent,
        sweep_seconds,
        messages_per_second: sent as f64 / sweep_seconds.max(f64::EPSILON),
        ticks,
        per_kind,
    })
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentiles_by_nearest_rank() {
        let values: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&values, 0.5), 50);
        assert_eq!(percentile(&values, 0.99), 99);
        assert_eq!(percentile(&[7], 0.99), 7);
        assert_eq!(percentile(&[], 0.5), 0);
    }
}
