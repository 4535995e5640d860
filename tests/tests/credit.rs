//! Prepaid credit end to end: paid sends never overspend, however many run
//! at once; held messages go out oldest first when credit arrives; the
//! ledger always sums to the balance; alerts and top-up requests fire once
//! per crossing.

use chrono::Duration;
use serde_json::{json, Value};
use tidings::domain::PriceTable;
use tidings::store::credit::Reservation;
use tidings::store::Attempt;
use tidings_e2e::{claim_due, spawn_app_with, t0, TestApp};
use tidings_local::LocalOptions;

/// A dollar a segment: one purchase of the minimum buys exactly ten texts.
async fn app_with_dollar_texts() -> TestApp {
    let prices = PriceTable { sms_segment_cents: 100, ..PriceTable::default() };
    spawn_app_with(LocalOptions { manual_clock: Some(t0()), prices, ..LocalOptions::default() }).await
}

async fn given_sms_clients(app: &TestApp, account: &str, count: usize) {
    for i in 0..count {
        let answer = app
            .put(
                account,
                &format!("/v1/recipients/r{i}"),
                json!({
                    "kind": "client", "first_name": "Ben", "last_name": "Lee", "channel": "sms",
                    "phone": format!("+1202555{:04}", 1000 + i),
                }),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
}

async fn credit(app: &TestApp, account: &str) -> Value {
    let answer = app.get(account, "/v1/credit").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body
}

fn ledger_sum(credit: &Value) -> i64 {
    credit["ledger"].as_array().unwrap().iter().map(|e| e["amount_cents"].as_i64().unwrap()).sum()
}

async fn statuses(app: &TestApp, account: &str, appointments: usize) -> Vec<(String, String)> {
    let mut all = Vec::new();
    for i in 0..appointments {
        for m in app.messages(account, &format!("a{i}")).await {
            all.push((m["status"].as_str().unwrap().to_owned(), m["reason"].as_str().unwrap_or("").to_owned()));
        }
    }
    all
}

fn count(statuses: &[(String, String)], status: &str, reason: &str) -> usize {
    statuses.iter().filter(|(s, r)| s == status && r == reason).count()
}

#[tokio::test]
async fn sixty_four_concurrent_texts_with_credit_for_ten_send_exactly_ten() {
    let app = app_with_dollar_texts().await;
    app.given_practice("acct").await;
    given_sms_clients(&app, "acct", 64).await;
    app.given_credit("acct", 1_000).await;
    // All 64 reminders fall due at the same moment and are delivered at once.
    let start = t0() + Duration::days(2);
    for i in 0..64 {
        assert_eq!(app.book("acct", &format!("a{i}"), &format!("r{i}"), start).await.status, 200);
    }
    app.move_clock(start - Duration::hours(24)).await;

    let texts = app.outbox().await.into_iter().filter(|m| m["channel"] == "sms").count();
    assert_eq!(texts, 10);
    let all = statuses(&app, "acct", 64).await;
    assert_eq!(count(&all, "sent", ""), 10, "{all:?}");
    assert_eq!(count(&all, "held", "insufficient_credit"), 54, "{all:?}");
    let credit = credit(&app, "acct").await;
    assert_eq!(credit["balance_cents"], 0);
    assert_eq!(ledger_sum(&credit), 0, "{credit}");
    let reservations = credit["ledger"].as_array().unwrap().iter().filter(|e| e["kind"] == "reservation").count();
    assert_eq!(reservations, 10);

    // More credit releases as many as it pays for, and only those go.
    let answer = app.purchase("acct", json!({"amount_cents": 2_000, "idempotency_key": "second"})).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(answer.body["released"], 20);
    app.move_clock(start - Duration::hours(24) + Duration::minutes(1)).await;
    let all = statuses(&app, "acct", 64).await;
    assert_eq!(count(&all, "sent", ""), 30, "{all:?}");
    assert_eq!(count(&all, "held", "insufficient_credit"), 34, "{all:?}");
    let credit = credit_balance(&app).await;
    assert_eq!(credit, 0);
}

async fn credit_balance(app: &TestApp) -> i64 {
    credit(app, "acct").await["balance_cents"].as_i64().unwrap()
}

#[tokio::test]
async fn a_purchase_that_covers_part_of_the_queue_releases_the_oldest() {
    let prices = PriceTable { sms_segment_cents: 400, ..PriceTable::default() };
    let app = spawn_app_with(LocalOptions { manual_clock: Some(t0()), prices, ..LocalOptions::default() }).await;
    app.given_practice("acct").await;
    given_sms_clients(&app, "acct", 3).await;
    for i in 0..3 {
        let start = t0() + Duration::days(2) + Duration::hours(i);
        app.book("acct", &format!("a{i}"), &format!("r{i}"), start).await;
    }
    app.move_clock(t0() + Duration::days(1) + Duration::hours(3)).await;
    assert!(app.outbox().await.is_empty(), "nothing that costs goes without credit");
    assert_eq!(count(&statuses(&app, "acct", 3).await, "held", "insufficient_credit"), 3);
    // 1000 cents pay for two texts at 400: the two that fell due first.
    let answer = app.purchase("acct", json!({"amount_cents": 1_000, "idempotency_key": "k1"})).await;
    assert_eq!(answer.body["released"], 2, "{}", answer.body);
    app.move_clock(t0() + Duration::days(1) + Duration::hours(3) + Duration::minutes(1)).await;
    let sent: Vec<String> = app.outbox().await.iter().map(|m| m["to"].as_str().unwrap().to_owned()).collect();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent.contains(&"+12025551000".to_owned()) && sent.contains(&"+12025551001".to_owned()), "{sent:?}");
    assert_eq!(app.messages("acct", "a2").await[0]["status"], "held");
    assert_eq!(credit_balance(&app).await, 200);
    // Waiting for credit was no attempt at the provider.
    let released = app.messages("acct", "a0").await[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(app.get("acct", &format!("/v1/messages/{released}")).await.body["attempts"], 1);
}

#[tokio::test]
async fn a_repeated_purchase_key_records_nothing_new_and_small_purchases_are_refused() {
    let app = app_with_dollar_texts().await;
    let body = json!({"amount_cents": 1_500, "idempotency_key": "order-77"});
    let first = app.purchase("acct", body.clone()).await;
    assert_eq!((first.status, first.body["recorded"].clone()), (201, json!(true)), "{}", first.body);
    let again = app.purchase("acct", body).await;
    assert_eq!((again.status, again.body["recorded"].clone()), (200, json!(false)), "{}", again.body);
    assert_eq!(credit_balance(&app).await, 1_500);
    let other_amount = app.purchase("acct", json!({"amount_cents": 2_500, "idempotency_key": "order-77"})).await;
    assert_eq!(
        (other_amount.status, other_amount.body["error"]["code"].as_str()),
        (409, Some("idempotency_key_reused"))
    );

    let small = app.purchase("acct", json!({"amount_cents": 999, "idempotency_key": "k"})).await;
    assert_eq!(small.status, 422, "{}", small.body);
    let keyless = app.purchase("acct", json!({"amount_cents": 1_000, "idempotency_key": ""})).await;
    assert_eq!(keyless.status, 422, "{}", keyless.body);
    let credit = credit(&app, "acct").await;
    assert_eq!(credit["balance_cents"], 1_500);
    assert_eq!(credit["ledger"].as_array().unwrap().len(), 1);
    assert_eq!(credit["prices"]["sms_segment_cents"], 100);
}

#[tokio::test]
async fn only_the_operator_grants_credit_a_practice_token_is_forbidden() {
    let app = app_with_dollar_texts().await;
    let body = json!({"amount_cents": 100_000, "idempotency_key": "self-service"});
    let practice = app.post("acct", "/v1/credit/purchases", body.clone()).await;
    assert_eq!(
        (practice.status, practice.body["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "{}",
        practice.body
    );
    let credit = credit(&app, "acct").await;
    assert_eq!(credit["balance_cents"], 0);
    assert_eq!(credit["ledger"].as_array().unwrap().len(), 0, "{credit}");
    // The key was not spent: the operator may use it.
    let operator = app.purchase("acct", body).await;
    assert_eq!((operator.status, operator.body["recorded"].clone()), (201, json!(true)), "{}", operator.body);
    assert_eq!(credit_balance(&app).await, 100_000);
}

#[tokio::test]
async fn low_balance_and_top_up_fire_once_per_crossing() {
    let app = app_with_dollar_texts().await;
    app.given_settings_with(
        "acct",
        json!({
            "appointment_reminders": {"enabled": true, "offsets_minutes": [1440]},
            "credit": {"low_balance_alert_cents": 500, "auto_top_up": {"trigger_cents": 300, "amount_cents": 2000}},
        }),
    )
    .await;
    given_sms_clients(&app, "acct", 10).await;
    app.given_credit("acct", 1_000).await;
    // Ten texts, one a minute: the balance walks 900, 800, … 0.
    for i in 0..10 {
        let start = t0() + Duration::days(2) + Duration::minutes(i);
        app.book("acct", &format!("a{i}"), &format!("r{i}"), start).await;
    }
    app.move_clock(t0() + Duration::days(1) + Duration::minutes(10)).await;
    assert_eq!(credit_balance(&app).await, 0);

    let notifications = app.get("acct", "/v1/notifications").await.body["notifications"].as_array().cloned().unwrap();
    let kinds: Vec<&str> = notifications.iter().map(|n| n["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "low_balance").count(), 1, "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| **k == "credit_exhausted").count(), 1, "{kinds:?}");
    let top_ups: Vec<_> =
        app.runtime.bus.published().into_iter().filter(|e| e.detail_type == "TopUpRequested").collect();
    assert_eq!(top_ups.len(), 1);
    assert_eq!(top_ups[0].detail["amount_cents"], 2000);
    assert_eq!(top_ups[0].detail["account_id"], "acct");

    // The practice buys what was asked: the alerts are armed again.
    let key = top_ups[0].detail["idempotency_key"].as_str().unwrap();
    let bought = app.purchase("acct", json!({"amount_cents": 2000, "idempotency_key": key})).await;
    assert_eq!(bought.status, 201);
    given_sms_clients(&app, "acct", 28).await;
    for i in 10..28 {
        let start = t0() + Duration::days(3) + Duration::minutes(i);
        app.book("acct", &format!("a{i}"), &format!("r{i}"), start).await;
    }
    app.move_clock(t0() + Duration::days(2) + Duration::minutes(30)).await;
    assert_eq!(credit_balance(&app).await, 200);
    let notifications = app.get("acct", "/v1/notifications").await.body["notifications"].as_array().cloned().unwrap();
    let low = notifications.iter().filter(|n| n["kind"] == "low_balance").count();
    assert_eq!(low, 2, "a second crossing, a second alert");
    let top_ups = app.runtime.bus.published().into_iter().filter(|e| e.detail_type == "TopUpRequested").count();
    assert_eq!(top_ups, 2);
}

/// Sends clear of every threshold read no balance (a reservation asks that
/// the balance stay above them); a threshold raised meanwhile is heeded.
#[tokio::test]
async fn a_threshold_raised_between_sends_is_heeded_by_the_next_send() {
    let app = app_with_dollar_texts().await;
    let with_low = |cents: u64| {
        json!({
            "appointment_reminders": {"enabled": true, "offsets_minutes": [1440]},
            "credit": {"low_balance_alert_cents": cents},
        })
    };
    app.given_settings_with("acct", with_low(100)).await;
    given_sms_clients(&app, "acct", 2).await;
    app.given_credit("acct", 1_000).await;
    let start = t0() + Duration::days(2);
    app.book("acct", "a0", "r0", start).await;
    app.book("acct", "a1", "r1", start + Duration::minutes(10)).await;
    app.move_clock(start - Duration::days(1) + Duration::minutes(1)).await;
    assert_eq!(credit_balance(&app).await, 900);

    app.given_settings_with("acct", with_low(850)).await;
    app.move_clock(start - Duration::days(1) + Duration::minutes(11)).await;
    assert_eq!(credit_balance(&app).await, 800);
    let notifications = app.get("acct", "/v1/notifications").await.body["notifications"].as_array().cloned().unwrap();
    assert_eq!(notifications.iter().filter(|n| n["kind"] == "low_balance").count(), 1, "{notifications:?}");
}

#[tokio::test]
async fn a_text_over_the_segment_limit_fails_before_any_credit_is_spent() {
    let app = app_with_dollar_texts().await;
    app.given_practice("acct").await;
    given_sms_clients(&app, "acct", 1).await;
    app.given_credit("acct", 1_000).await;
    // Seven segments of GSM-7 text; the default limit is six.
    let long = format!("{{{{ first_name }}}}: {}", "word ".repeat(210));
    let answer = app.put("acct", "/v1/templates/appointment_reminder/sms", json!({"body": long})).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let start = t0() + Duration::days(2);
    app.book("acct", "a0", "r0", start).await;
    app.move_clock(start - Duration::hours(24)).await;

    assert!(app.outbox().await.is_empty());
    let message = &app.messages("acct", "a0").await[0];
    assert_eq!((message["status"].as_str(), message["reason"].as_str()), (Some("failed"), Some("too_long")));
    assert_eq!(credit_balance(&app).await, 1_000);
}

#[tokio::test]
async fn a_refund_releases_what_it_now_pays_for() {
    let prices = PriceTable { sms_segment_cents: 1_000, ..PriceTable::default() };
    let app = spawn_app_with(LocalOptions { manual_clock: Some(t0()), prices, ..LocalOptions::default() }).await;
    app.given_practice("acct").await;
    given_sms_clients(&app, "acct", 2).await;
    app.given_credit("acct", 1_000).await;
    // The first text takes the whole balance; the second, an hour later, waits.
    for i in 0..2 {
        app.book("acct", &format!("a{i}"), &format!("r{i}"), t0() + Duration::days(2) + Duration::hours(i)).await;
    }
    app.move_clock(t0() + Duration::days(1) + Duration::hours(1)).await;
    assert_eq!(app.messages("acct", "a1").await[0]["status"], "held");

    // The carrier could not deliver the first: its refund pays for the second.
    let first = app.messages("acct", "a0").await[0]["provider_message_id"].as_str().unwrap().to_owned();
    let log = json!({
        "notification": {"messageId": first, "timestamp": "2026-12-02 14:00:01.120"},
        "delivery": {"providerResponse": "Phone is currently unreachable/unavailable"},
        "status": "FAILURE",
    });
    assert_eq!(app.post_local("/local/sms/delivery-logs", log).await.body["recorded"], 1);
    app.move_clock(t0() + Duration::days(1) + Duration::hours(1) + Duration::minutes(1)).await;
    assert_eq!(app.messages("acct", "a1").await[0]["status"], "sent");
    assert_eq!(credit_balance(&app).await, 0);
    assert_eq!(ledger_sum(&credit(&app, "acct").await), 0);
}

/// A reservation whose answer was lost, and a send given back for it: the
/// message is claimed again later, and its new send must not reserve a
/// second time while the first reservation is still taken.
#[tokio::test]
async fn a_reservation_left_by_an_earlier_claim_is_refunded_before_the_next_one() {
    let app = app_with_dollar_texts().await;
    app.given_practice("acct").await;
    app.given_credit("acct", 1000).await;
    given_sms_clients(&app, "acct", 1).await;
    let start = t0() + Duration::days(2);
    app.book("acct", "a0", "r0", start).await;
    let store = &app.runtime.store;
    let account = "acct".parse().unwrap();
    let due = start - Duration::days(1);
    let id = store.messages_for_appointment(&account, &"a0".parse().unwrap()).await.unwrap()[0].id.clone();
    let lease = Duration::minutes(5);

    // The first claim reserves, its answer is lost, and the send is given back.
    let first = claim_due(store, &account, &id, due, lease).await.expect("claimed");
    store.start_send(&account, &id, &first.claim_token, due, lease).await.unwrap().expect("started");
    let channel = tidings::domain::Channel::Sms;
    assert_ne!(
        store.reserve_credit(&account, &id, &first.claim_token, 100, channel, due).await.unwrap(),
        Reservation::Short
    );
    assert!(store.release_send(&account, &id, &first.claim_token, (due, Attempt::Counted), None).await.unwrap());
    // The same claim's retry finds its reservation and takes no more.
    store.start_send(&account, &id, &first.claim_token, due, lease).await.unwrap().expect("started again");
    assert_ne!(
        store.reserve_credit(&account, &id, &first.claim_token, 100, channel, due).await.unwrap(),
        Reservation::Short
    );
    assert_eq!(credit(&app, "acct").await["balance_cents"], 900);
    assert!(store.release_send(&account, &id, &first.claim_token, (due, Attempt::Counted), None).await.unwrap());

    // A later claim: the orphan is refunded, then its own reservation made.
    let later = due + lease;
    let second = claim_due(store, &account, &id, later, lease).await.expect("claimed again");
    store.start_send(&account, &id, &second.claim_token, later, lease).await.unwrap().expect("started");
    assert_ne!(
        store.reserve_credit(&account, &id, &second.claim_token, 100, channel, later).await.unwrap(),
        Reservation::Short
    );

    let credit = credit(&app, "acct").await;
    assert_eq!(credit["balance_cents"], 900, "one live reservation: {credit}");
    assert_eq!(ledger_sum(&credit), 900);
    let mut kinds: Vec<&str> =
        credit["ledger"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["purchase", "refund", "reservation", "reservation"]);
    let message = store.get_message(&account, &id).await.unwrap().unwrap();
    assert_eq!(message.live_reservation.as_deref(), Some(second.claim_token.as_str()));
}

async fn given_sms_client_at(app: &TestApp, phone: &str) {
    let answer = app
        .put(
            "acct",
            "/v1/recipients/r0",
            json!({
                "kind": "client", "first_name": "Ben", "last_name": "Lee", "channel": "sms", "phone": phone,
            }),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
}

#[tokio::test]
async fn a_text_to_a_country_the_deployment_does_not_send_to_fails_with_nothing_reserved() {
    let app = app_with_dollar_texts().await;
    app.given_practice("acct").await;
    // Jamaica dials +1 like the US, but is not among the default US and CA.
    given_sms_client_at(&app, "+18765550123").await;
    app.given_credit("acct", 1_000).await;
    let start = t0() + Duration::days(2);
    app.book("acct", "a0", "r0", start).await;
    app.move_clock(start - Duration::hours(24)).await;

    assert!(app.outbox().await.is_empty());
    let message = &app.messages("acct", "a0").await[0];
    assert_eq!(
        (message["status"].as_str(), message["reason"].as_str()),
        (Some("failed"), Some("destination_not_allowed"))
    );
    let credit = credit(&app, "acct").await;
    assert_eq!(credit["balance_cents"], 1_000);
    assert!(credit["ledger"].as_array().unwrap().iter().all(|e| e["kind"] == "purchase"), "{credit}");
    let notifications = app.get("acct", "/v1/notifications").await.body["notifications"].clone();
    let told = notifications.as_array().unwrap().iter().any(|n| {
        n["kind"] == "delivery_failed" && n["detail"] == "destination_not_allowed" && n["message_id"] == message["id"]
    });
    assert!(told, "{notifications}");
}

#[tokio::test]
async fn a_text_to_a_destination_with_a_price_of_its_own_is_charged_that_price() {
    let prices = PriceTable {
        destinations: tidings::domain::DestinationPrices {
            sms: "+44:8,+4420:11".parse().unwrap(),
            ..Default::default()
        },
        allowed_countries: ["US", "CA", "GB"].into_iter().map(|c| c.parse().unwrap()).collect(),
        ..PriceTable::default()
    };
    let app = spawn_app_with(LocalOptions { manual_clock: Some(t0()), prices, ..LocalOptions::default() }).await;
    app.given_practice("acct").await;
    given_sms_client_at(&app, "+447400123456").await;
    app.given_credit("acct", 1_000).await;
    let start = t0() + Duration::days(2);
    app.book("acct", "a0", "r0", start).await;
    app.move_clock(start - Duration::hours(24)).await;

    assert_eq!(app.outbox().await.len(), 1);
    let message = &app.messages("acct", "a0").await[0];
    assert_eq!(message["status"], "sent");
    let id = message["id"].as_str().unwrap();
    assert_eq!(app.get("acct", &format!("/v1/messages/{id}")).await.body["cost_cents"], 8);
    let credit = credit(&app, "acct").await;
    assert_eq!(credit["balance_cents"], 992);
    assert_eq!(
        credit["prices"]["destinations"]["sms"],
        json!([{"prefix": "+44", "cents": 8}, {"prefix": "+4420", "cents": 11}])
    );
    assert_eq!(credit["prices"]["allowed_countries"], json!(["CA", "GB", "US"]));
}
