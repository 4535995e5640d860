//! A sweep survives a store error mid-run: the messages it stopped are
//! counted and left due, the run goes on with the rest, and the next run
//! sends them, each once.

use chrono::Duration;
use tidings_e2e::faults::{FaultMode, Faults};
use tidings_e2e::{spawn_app_with, t0, TestApp};
use tidings_local::runtime::LocalOptions;

const REMINDERS: i64 = 120;

/// A practice with `REMINDERS` email reminders all due, on a store whose
/// requests `faults` watches.
async fn all_due(faults: &Faults) -> TestApp {
    let app = spawn_app_with(LocalOptions {
        manual_clock: Some(t0()),
        dynamo_interceptor: Some(faults.interceptor()),
        ..LocalOptions::default()
    })
    .await;
    app.given_practice("acct").await;
    app.given_email_client("acct", "r1").await;
    let start = t0() + Duration::days(2);
    for i in 0..REMINDERS {
        assert_eq!(app.book("acct", &format!("a{i}"), "r1", start + Duration::minutes(i)).await.status, 200);
    }
    let due = start - Duration::days(1) + Duration::minutes(REMINDERS);
    app.runtime.advance_clock_without_ticks(due).unwrap();
    app
}

#[tokio::test]
async fn a_store_error_mid_run_is_counted_and_the_run_goes_on() {
    // Where the sweep's first write of rendered messages falls among its
    // requests (its reads all come first).
    let counting = Faults::default();
    let app = all_due(&counting).await;
    counting.arm(None);
    app.runtime.sweep_without_waiting().await.unwrap();
    let first_write = counting.disarm().iter().position(|operation| operation == "TransactWriteItems").unwrap();

    let faults = Faults::default();
    let app = all_due(&faults).await;
    faults.arm(Some((first_write, FaultMode::Before)));
    let report = app.runtime.sweep_without_waiting().await.expect("the run goes on");
    faults.disarm();
    assert_eq!(faults.struck().as_deref(), Some("TransactWriteItems"));
    // A transaction of 50 failed: those stay due, unclaimed.
    assert_eq!((report.errors, report.published), (50, 70), "{report:?}");
    app.runtime.bus.idle().await;
    assert_eq!(app.outbox().await.len(), 70);

    let next = app.runtime.run_sweep().await.unwrap();
    assert_eq!((next.errors, next.published), (0, 50), "{next:?}");
    assert_eq!(app.outbox().await.len(), REMINDERS as usize, "each sent once");
    for i in [0, REMINDERS - 1] {
        assert_eq!(app.messages("acct", &format!("a{i}")).await[0]["status"], "sent");
    }
}
