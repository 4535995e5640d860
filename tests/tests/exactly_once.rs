//! Exactly once: concurrent sweeps, a sweep that dies between claim and
//! send, and events delivered twice.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::Duration;
use tidings::domain::{
    AccountId, Appointment, AppointmentStatus, Channel, Language, MessageStatus, Recipient, RecipientKind, Templates,
};
use tidings::events::{BusEvent, EventPublisher, MessageReady, PublishError};
use tidings::services::{ReminderSweep, SweepConfig};
use tidings_e2e::{spawn_app, spawn_app_with_duplicates, t0, TestApp};

async fn load_due_reminders(app: &TestApp, account: &AccountId, count: usize) -> chrono::DateTime<chrono::Utc> {
    let store = &app.runtime.store;
    for i in 0..10 {
        let recipient = Recipient {
            id: format!("r{i}").parse().unwrap(),
            kind: RecipientKind::Client,
            first_name: "Pat".into(),
            last_name: "Load".into(),
            channel: if i % 2 == 0 { Channel::Email } else { Channel::Sms },
            email: Some(format!("pat{i}@example.com").parse().unwrap()),
            phone: Some(format!("+120255501{i:02}").parse().unwrap()),
            fax: None,
            time_zone: None,
            language: Language::english(),
        };
        store.put_recipient(account, &recipient).await.unwrap();
    }
    let records = app.runtime.records.clone();
    let start = t0() + Duration::days(2);
    let loads = (0..count).map(|i| {
        let records = records.clone();
        let appointment = Appointment {
            id: format!("a{i}").parse().unwrap(),
            recipient_id: format!("r{}", i % 10).parse().unwrap(),
            starts_at: start + Duration::seconds(i as i64),
            duration_minutes: 30,
            provider: "Dr. Ruiz".into(),
            location: "Main St".into(),
            status: AppointmentStatus::Booked,
            appointment_type: None,
            confirmed: false,
        };
        async move { records.put_appointment(account, &appointment).await.unwrap() }
    });
    futures::future::join_all(loads).await;
    start - Duration::hours(24) + Duration::seconds(count as i64)
}

#[tokio::test]
async fn eight_concurrent_sweeps_deliver_a_thousand_reminders_exactly_once() {
    let app = spawn_app().await;
    app.given_practice("acct").await;
    let account: AccountId = "acct".parse().unwrap();
    let all_due = load_due_reminders(&app, &account, 1000).await;
    app.runtime.advance_clock_without_ticks(all_due).unwrap();

    let sweeps = (0..8).map(|_| app.runtime.run_sweep());
    let reports: Vec<_> = futures::future::join_all(sweeps).await.into_iter().map(Result::unwrap).collect();
    let published: usize = reports.iter().map(|r| r.published).sum();
    assert_eq!(published, 1000, "{reports:?}");

    let outbox = app.runtime.outbox.entries();
    assert_eq!(outbox.len(), 1000);
    let provider_ids: HashSet<_> = outbox.iter().map(|e| e.message_id.clone()).collect();
    assert_eq!(provider_ids.len(), 1000);
    for i in (0..1000).step_by(97) {
        let messages =
            app.runtime.store.messages_for_appointment(&account, &format!("a{i}").parse().unwrap()).await.unwrap();
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].status, MessageStatus::Sent);
        assert!(provider_ids.contains(messages[0].provider_message_id.as_ref().unwrap()));
    }
}

/// A sweep that dies after claiming: its events never reach the bus.
struct DiesBeforePublishing;

#[async_trait]
impl EventPublisher for DiesBeforePublishing {
    async fn publish(&self, events: Vec<BusEvent>) -> Result<(), PublishError> {
        Err(PublishError { failed: events.len(), total: events.len(), code: "process_killed".into() })
    }
}

/// A sweep over the app's store and clock whose process dies before its
/// events reach the bus.
fn dying_sweep(app: &TestApp, config: &SweepConfig) -> ReminderSweep {
    ReminderSweep::new(
        app.runtime.store.clone(),
        Arc::new(DiesBeforePublishing),
        Arc::new(Templates::default()),
        app.runtime.clock.clone(),
        config.clone(),
    )
}

#[tokio::test]
async fn a_sweep_stopped_between_claim_and_send_is_reclaimed_after_its_lease_and_sent_once() {
    let app = spawn_app().await;
    app.given_practice("acct").await;
    app.given_email_client("acct", "r1").await;
    let start = t0() + Duration::days(2);
    app.book("acct", "a1", "r1", start).await;
    let due = start - Duration::hours(24);
    app.runtime.advance_clock_without_ticks(due).unwrap();

    let config = SweepConfig::default();
    let dying = dying_sweep(&app, &config);
    assert!(dying.run().await.is_err(), "the dying sweep claimed and stopped");
    assert_eq!(app.messages("acct", "a1").await[0]["status"], "claimed");

    // Within the lease, nobody else may take it.
    app.runtime.advance_clock_without_ticks(due + config.lease - Duration::seconds(1)).unwrap();
    assert_eq!(app.runtime.run_sweep().await.unwrap().published, 0);
    assert!(app.outbox().await.is_empty());

    app.runtime.advance_clock_without_ticks(due + config.lease).unwrap();
    assert_eq!(app.runtime.run_sweep().await.unwrap().published, 1);
    assert_eq!(app.outbox().await.len(), 1);
    app.move_clock(start - Duration::minutes(1)).await;
    assert_eq!(app.outbox().await.len(), 1, "sent once");
    assert_eq!(app.messages("acct", "a1").await[0]["status"], "sent");
}

#[tokio::test]
async fn message_ready_delivered_twice_sends_once() {
    let app = spawn_app_with_duplicates().await;
    app.given_practice("acct").await;
    app.given_email_client("acct", "r1").await;
    app.given_sms_client("acct", "r2").await;
    let start = t0() + Duration::days(2);
    app.book("acct", "a1", "r1", start).await;
    app.book("acct", "a2", "r2", start + Duration::minutes(5)).await;
    app.move_clock(start).await;
    let outbox = app.outbox().await;
    assert_eq!(outbox.len(), 2, "{outbox:?}");
    let channels: HashSet<_> = outbox.iter().map(|e| e["channel"].as_str().unwrap().to_owned()).collect();
    assert_eq!(channels, HashSet::from(["email".to_owned(), "sms".to_owned()]));
}

#[tokio::test]
async fn a_stale_or_repeated_event_is_ignored_by_the_delivery_handler() {
    let app = spawn_app().await;
    app.given_practice("acct").await;
    app.given_email_client("acct", "r1").await;
    let start = t0() + Duration::days(2);
    app.book("acct", "a1", "r1", start).await;
    app.move_clock(start - Duration::hours(1)).await;
    assert_eq!(app.outbox().await.len(), 1);

    let account: AccountId = "acct".parse().unwrap();
    let message = app.runtime.store.messages_for_appointment(&account, &"a1".parse().unwrap()).await.unwrap().remove(0);
    let replay = MessageReady {
        account_id: account,
        message_id: message.id,
        channel: Channel::Email,
        claim_token: "a-token-from-an-old-claim".into(),
    };
    app.runtime.bus.publish(vec![BusEvent::from(&replay)]).await.unwrap();
    app.runtime.bus.idle().await;
    assert_eq!(app.outbox().await.len(), 1);
}

#[tokio::test]
async fn a_notice_whose_sweep_died_after_rendering_still_goes_once() {
    let app = spawn_app().await;
    app.given_settings_with(
        "acct",
        serde_json::json!({
            "appointment_notices": {"enabled": true, "debounce_minutes": 3},
            "appointment_reminders": {"enabled": false, "offsets_minutes": [1440]},
        }),
    )
    .await;
    app.given_email_client("acct", "r1").await;
    app.book("acct", "a1", "r1", t0() + Duration::days(2)).await;
    let due = t0() + Duration::minutes(3);
    app.runtime.advance_clock_without_ticks(due).unwrap();
    let config = SweepConfig::default();
    let dying = dying_sweep(&app, &config);
    assert!(dying.run().await.is_err());
    app.runtime.advance_clock_without_ticks(due + config.lease).unwrap();
    assert_eq!(app.runtime.run_sweep().await.unwrap().published, 1);
    let outbox = app.outbox().await;
    assert_eq!(outbox.len(), 1, "the notice is not lost as 'nothing changed'");
    assert!(outbox[0]["body"].as_str().unwrap().contains("is booked for"));
}
