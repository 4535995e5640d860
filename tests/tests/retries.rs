//! A provider that fails for now is tried again by the sweep, with doubling
//! backoff, a bounded number of times; each attempt pays only if it sends.
//! Driven with the real sweep and delivery services over the local store,
//! and a provider that fails as told (or the real SNS sender, when it
//! matters what the SDK does).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::Duration;
use tidings::channels::sns::{SmsOrigin, SnsSmsSender};
use tidings::channels::{ChannelSender, Outgoing, ProviderMessageId, SendError};
use tidings::domain::{Channel, Templates};
use tidings::events::{BusEvent, EventPublisher, MessageReady, PublishError};
use tidings::services::{Delivery, DeliveryConfig, DeliveryOutcome, ReminderSweep, RetryPolicy, SweepConfig};
use tidings_e2e::provider::HangingUpProvider;
use tidings_e2e::{aws_config_at, spawn_app, t0, TestApp, STARTING_CREDIT_CENTS};

/// SMS that answers with the scripted results, then sends.
struct ScriptedProvider(Mutex<VecDeque<SendError>>);

#[async_trait]
impl ChannelSender for ScriptedProvider {
    fn channel(&self) -> Channel {
        Channel::Sms
    }

    async fn send(&self, _: Outgoing<'_>) -> Result<ProviderMessageId, SendError> {
        match self.0.lock().unwrap().pop_front() {
            Some(err) => Err(err),
            None => Ok("provider-1".into()),
        }
    }
}

/// Keeps the sweep's events for the test to deliver.
#[derive(Default)]
struct Captured(Mutex<Vec<MessageReady>>);

#[async_trait]
impl EventPublisher for Captured {
    async fn publish(&self, events: Vec<BusEvent>) -> Result<(), PublishError> {
        let mut captured = self.0.lock().unwrap();
        captured.extend(events.into_iter().map(|e| serde_json::from_value(e.detail).unwrap()));
        Ok(())
    }
}

struct Rig {
    app: TestApp,
    sweep: ReminderSweep,
    captured: Arc<Captured>,
    delivery: Delivery,
}

async fn rig(failures: Vec<SendError>) -> Rig {
    rig_with(Arc::new(ScriptedProvider(Mutex::new(failures.into())))).await
}

async fn rig_with(provider: Arc<dyn ChannelSender>) -> Rig {
    let app = spawn_app().await;
    app.given_practice("acct").await;
    app.given_sms_client("acct", "r1").await;
    app.book("acct", "a1", "r1", t0() + Duration::days(2)).await;
    let runtime = &app.runtime;
    let captured = Arc::new(Captured::default());
    let sweep = ReminderSweep::new(
        runtime.store.clone(),
        captured.clone(),
        Arc::new(Templates::default()),
        runtime.clock.clone(),
        SweepConfig::default(),
    );
    let config =
        DeliveryConfig { lease: Duration::minutes(5), prices: Default::default(), retry: RetryPolicy::default() };
    let delivery =
        Delivery::new(runtime.store.clone(), provider, runtime.clock.clone(), runtime.credit.clone(), config);
    Rig { app, sweep, captured, delivery }
}

impl Rig {
    /// Moves to `at`, sweeps once and delivers what the sweep published.
    async fn attempt_at(&self, at: chrono::DateTime<chrono::Utc>) -> Vec<DeliveryOutcome> {
        self.app.runtime.advance_clock_without_ticks(at).unwrap();
        self.sweep.run().await.unwrap();
        let events: Vec<MessageReady> = std::mem::take(&mut *self.captured.0.lock().unwrap());
        let mut outcomes = Vec::new();
        for event in events {
            outcomes.push(self.delivery.deliver(&event).await.unwrap());
        }
        outcomes
    }

    async fn message(&self) -> serde_json::Value {
        let id = self.app.messages("acct", "a1").await[0]["id"].as_str().unwrap().to_owned();
        self.app.get("acct", &format!("/v1/messages/{id}")).await.body
    }

    async fn balance(&self) -> i64 {
        self.app.get("acct", "/v1/credit").await.body["balance_cents"].as_i64().unwrap()
    }
}

fn outage() -> SendError {
    SendError::Transient("ServiceUnavailable".into())
}

#[tokio::test]
async fn a_send_that_fails_for_now_is_retried_with_doubling_backoff_and_paid_once() {
    let rig = rig(vec![outage(), outage()]).await;
    let due = t0() + Duration::days(1);
    let first = rig.attempt_at(due).await;
    assert_eq!(first, [DeliveryOutcome::RetryScheduled { at: due + Duration::seconds(30) }]);
    assert_eq!(rig.message().await["status"], "claimed");
    assert!(rig.attempt_at(due + Duration::seconds(29)).await.is_empty(), "not before the backoff ends");
    let second = rig.attempt_at(due + Duration::seconds(30)).await;
    assert_eq!(second, [DeliveryOutcome::RetryScheduled { at: due + Duration::seconds(90) }]);
    let third = rig.attempt_at(due + Duration::seconds(90)).await;
    assert_eq!(third, [DeliveryOutcome::Sent { provider_message_id: "provider-1".into() }]);

    let message = rig.message().await;
    assert_eq!((message["status"].as_str(), message["attempts"].as_u64()), (Some("sent"), Some(3)));
    // Each failed attempt gave its reservation back: one text paid for.
    assert_eq!(message["cost_cents"], 2);
    assert_eq!(rig.balance().await, STARTING_CREDIT_CENTS as i64 - 2);
}

#[tokio::test]
async fn after_five_failed_attempts_the_message_fails_and_staff_are_told() {
    let rig = rig(vec![outage(); 9]).await;
    let mut at = t0() + Duration::days(1);
    for _ in 0..4 {
        let outcomes = rig.attempt_at(at).await;
        let [DeliveryOutcome::RetryScheduled { at: next }] = outcomes[..] else { panic!("{outcomes:?}") };
        at = next;
    }
    let last = rig.attempt_at(at).await;
    assert_eq!(last, [DeliveryOutcome::Failed { code: "ServiceUnavailable".into() }]);
    let message = rig.message().await;
    assert_eq!((message["status"].as_str(), message["reason"].as_str()), (Some("failed"), Some("retries_exhausted")));
    assert_eq!(rig.balance().await, STARTING_CREDIT_CENTS as i64);
    let notes = rig.app.get("acct", "/v1/notifications").await.body["notifications"].clone();
    assert_eq!(notes.as_array().unwrap().len(), 1);
    assert_eq!(notes[0]["kind"], "delivery_failed");
    assert!(rig.attempt_at(at + Duration::hours(1)).await.is_empty(), "never tried again");
}

/// A provider over its rate (or ours) is not a failed message: it waits a
/// little, its credit given back meanwhile, and however often that happens
/// its attempts are not spent.
#[tokio::test]
async fn a_throttled_send_waits_without_spending_an_attempt_however_often() {
    let rig = rig(vec![SendError::Throttled("Throttling".into()); 8]).await;
    let mut at = t0() + Duration::days(1);
    for _ in 0..8 {
        let outcomes = rig.attempt_at(at).await;
        let [DeliveryOutcome::Throttled { at: next }] = outcomes[..] else { panic!("{outcomes:?}") };
        assert_eq!(next, at + Duration::seconds(20));
        assert_eq!(rig.balance().await, STARTING_CREDIT_CENTS as i64, "nothing held while it waits");
        at = next;
    }
    let sent = rig.attempt_at(at).await;
    assert_eq!(sent, [DeliveryOutcome::Sent { provider_message_id: "provider-1".into() }]);
    let message = rig.message().await;
    assert_eq!((message["status"].as_str(), message["attempts"].as_u64()), (Some("sent"), Some(1)));
    assert_eq!(rig.balance().await, STARTING_CREDIT_CENTS as i64 - 2);
    let notes = rig.app.get("acct", "/v1/notifications").await.body["notifications"].clone();
    assert!(notes.as_array().unwrap().is_empty(), "nothing for staff: {notes}");
}

#[tokio::test]
async fn a_permanent_refusal_is_never_retried() {
    let rig = rig(vec![SendError::Permanent("OptedOut".into())]).await;
    let due = t0() + Duration::days(1);
    assert_eq!(rig.attempt_at(due).await, [DeliveryOutcome::Failed { code: "OptedOut".into() }]);
    let message = rig.message().await;
    assert_eq!((message["status"].as_str(), message["reason"].as_str()), (Some("failed"), Some("opted_out")));
    assert_eq!(rig.balance().await, STARTING_CREDIT_CENTS as i64);
    assert!(rig.attempt_at(due + Duration::hours(1)).await.is_empty());
    let notes = rig.app.get("acct", "/v1/notifications").await.body["notifications"].clone();
    assert_eq!(notes[0]["kind"], "opted_out");
}

#[tokio::test]
async fn a_send_whose_outcome_is_unknown_is_kept_paid_never_repeated_and_reported() {
    let rig = rig(vec![SendError::Unknown("timeout".into())]).await;
    let due = t0() + Duration::days(1);
    assert_eq!(rig.attempt_at(due).await, [DeliveryOutcome::Unknown { code: "timeout".into() }]);
    let message = rig.message().await;
    assert_eq!((message["status"].as_str(), message["reason"].as_str()), (Some("sent"), Some("outcome_unknown")));
    assert_eq!(message["cost_cents"], 2, "the provider may have sent it");
    assert!(rig.attempt_at(due + Duration::hours(1)).await.is_empty(), "never sent again");
    let notes = rig.app.get("acct", "/v1/notifications").await.body["notifications"].clone();
    assert_eq!((notes[0]["kind"].as_str(), notes[0]["detail"].as_str()), (Some("delivery_unknown"), Some("timeout")));
}

#[tokio::test]
async fn a_text_whose_connection_drops_after_sending_reaches_the_provider_once_and_staff_are_told() {
    let provider = HangingUpProvider::start().await;
    let sns = aws_sdk_sns::Client::new(&aws_config_at(&provider.endpoint).await);
    let rig = rig_with(Arc::new(SnsSmsSender::new(sns, SmsOrigin::default()))).await;
    let due = t0() + Duration::days(1);
    assert_eq!(rig.attempt_at(due).await, [DeliveryOutcome::Unknown { code: "connection_lost".into() }]);
    let message = rig.message().await;
    assert_eq!((message["status"].as_str(), message["reason"].as_str()), (Some("sent"), Some("outcome_unknown")));
    assert_eq!(message["cost_cents"], 2, "the provider may have sent it");
    assert!(rig.attempt_at(due + Duration::hours(1)).await.is_empty(), "never sent again");
    assert_eq!(provider.received(), ["POST /"], "one request reached the provider");
    let notes = rig.app.get("acct", "/v1/notifications").await.body["notifications"].clone();
    assert_eq!(
        (notes[0]["kind"].as_str(), notes[0]["detail"].as_str()),
        (Some("delivery_unknown"), Some("connection_lost"))
    );
}
