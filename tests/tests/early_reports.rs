//! A provider's report that comes before its message can be found (the
//! `lookup` index lags its table; a fax can fail before its send is
//! settled) is kept and applied once the message is there, not dropped.

use std::sync::Arc;

use chrono::Duration;
use serde_json::json;
use tidings::domain::Channel;
use tidings_e2e::faults::ScriptedProvider;
use tidings_e2e::{spawn_app_with, t0};
use tidings_local::runtime::{LocalOptions, SenderOverride};

#[tokio::test]
async fn a_carrier_report_that_beats_its_text_is_applied_when_the_text_is_found() {
    let provider = Arc::new(ScriptedProvider::answering(Channel::Sms, Vec::new()));
    let app = spawn_app_with(LocalOptions {
        manual_clock: Some(t0()),
        senders: vec![SenderOverride(provider.clone())],
        ..LocalOptions::default()
    })
    .await;
    app.given_practice("acct").await;
    app.given_credit("acct", 1000).await;
    app.given_sms_client("acct", "r1").await;
    let start = t0() + Duration::days(2);
    app.book("acct", "a1", "r1", start).await;
    let due = start - Duration::days(1);
    app.move_clock(due - Duration::seconds(10)).await;

    // The provider will call the text `sms-1`; its failure is reported first.
    let log = json!({
        "notification": {"messageId": "sms-1", "timestamp": "2026-12-02 14:00:01.120"},
        "delivery": {"destination": "+12025550101", "smsType": "Transactional", "priceInUSD": 0.00645,
                     "providerResponse": "Phone is currently unreachable/unavailable", "dwellTimeMs": 420,
                     "numberOfMessageParts": 1},
        "status": "FAILURE",
    });
    let report = app.runtime.deliver_sms_log(&log).await.unwrap();
    assert_eq!((report.parked, report.ignored), (1, 0), "{report:?}");
    assert_eq!(app.runtime.deliver_sms_log(&log).await.unwrap().parked, 1, "a redelivery parks nothing new");

    app.move_clock(due + Duration::minutes(5)).await;
    assert_eq!(provider.reached().len(), 1);
    let message = &app.messages("acct", "a1").await[0];
    assert_eq!(
        (message["status"].as_str(), message["reason"].as_str()),
        (Some("failed"), Some("unreachable")),
        "{message}"
    );
    let credit = app.get("acct", "/v1/credit").await.body;
    assert_eq!(credit["balance_cents"], 1000, "refunded: {credit}");
    let notifications = app.get("acct", "/v1/notifications").await.body;
    let told: Vec<&str> =
        notifications["notifications"].as_array().unwrap().iter().map(|n| n["kind"].as_str().unwrap()).collect();
    assert_eq!(told, ["bad_number"]);
}
