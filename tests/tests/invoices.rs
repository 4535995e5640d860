//! Billing reminders before an invoice is due, late-payment notices after,
//! withdrawn once it is paid or voided.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use tidings_e2e::{spawn_app, TestApp};

async fn given_billing(app: &TestApp) {
    app.given_settings_with(
        "acct",
        serde_json::json!({
            "invoice_messages": {"billing_reminders": true, "days_before": 3, "late_payment_notices": true,
                                 "days_after": 0, "repeat_every_days": 7, "max_notices": 3},
        }),
    )
    .await;
    app.given_sms_client("acct", "r1").await;
}

async fn invoice(app: &TestApp, status: &str, reminders: bool) -> tidings_e2e::Answer {
    app.put(
        "acct",
        "/v1/invoices/inv-1",
        json!({
            "recipient_id": "r1", "amount_cents": 12550, "currency": "USD", "due_date": "2026-12-15",
            "status": status, "pay_url": "https://pay.example.com/inv-1", "reminders": reminders,
        }),
    )
    .await
}

fn at_ten_new_york(day: u32) -> DateTime<Utc> {
    format!("2026-12-{day:02}T15:00:00Z").parse().unwrap()
}

#[tokio::test]
async fn billing_reminder_then_late_notices_go_at_ten_local_while_the_invoice_is_open() {
    let app = spawn_app().await;
    given_billing(&app).await;
    let answer = invoice(&app, "open", true).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["messages_scheduled"], 4);

    app.move_clock(at_ten_new_york(12) - Duration::seconds(1)).await;
    assert!(app.outbox().await.is_empty());
    app.move_clock(at_ten_new_york(12)).await;
    let outbox = app.outbox().await;
    assert_eq!(outbox.len(), 1);
    assert_eq!(
        outbox[0]["body"],
        "Riverside Clinic: Ben, $125.50 is due December 15, 2026. Pay: https://pay.example.com/inv-1"
    );

    app.move_clock(at_ten_new_york(22)).await;
    let outbox = app.outbox().await;
    assert_eq!(outbox.len(), 3, "the due-date notice and the first repeat");
    assert!(outbox[1]["body"].as_str().unwrap().contains("is still open"));

    let listed = app.get("acct", "/v1/messages?invoice_id=inv-1").await;
    assert_eq!(listed.status, 200);
    let kinds: Vec<_> =
        listed.body["messages"].as_array().unwrap().iter().map(|m| m["kind"].as_str().unwrap().to_owned()).collect();
    assert_eq!(kinds, ["billing_reminder", "late_payment_notice", "late_payment_notice", "late_payment_notice"]);
}

#[tokio::test]
async fn paying_mid_sequence_withdraws_what_is_pending() {
    let app = spawn_app().await;
    given_billing(&app).await;
    invoice(&app, "open", true).await;
    app.move_clock(at_ten_new_york(16)).await;
    assert_eq!(app.outbox().await.len(), 2);
    let paid = invoice(&app, "paid", true).await;
    assert_eq!(paid.body["messages_withdrawn"], 2);
    app.move_clock(at_ten_new_york(31)).await;
    assert_eq!(app.outbox().await.len(), 2, "nothing after payment");
    let statuses: Vec<_> = app.get("acct", "/v1/messages?invoice_id=inv-1").await.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["status"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(statuses, ["sent", "sent", "withdrawn", "withdrawn"]);
}

#[tokio::test]
async fn an_invoice_with_reminders_off_or_void_sends_nothing() {
    let app = spawn_app().await;
    given_billing(&app).await;
    assert_eq!(invoice(&app, "open", false).await.body["messages_scheduled"], 0);
    app.move_clock(at_ten_new_york(31)).await;
    assert!(app.outbox().await.is_empty());
    app.put(
        "acct",
        "/v1/invoices/inv-2",
        json!({
            "recipient_id": "r1", "amount_cents": 100, "currency": "USD", "due_date": "2027-01-15", "status": "void",
        }),
    )
    .await;
    assert!(app.get("acct", "/v1/messages?invoice_id=inv-2").await.body["messages"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn invoice_messages_are_off_unless_the_account_turns_them_on() {
    let app = spawn_app().await;
    app.given_practice("acct").await;
    app.given_sms_client("acct", "r1").await;
    assert_eq!(invoice(&app, "open", true).await.body["messages_scheduled"], 0);
}

#[tokio::test]
async fn bad_invoices_are_refused_and_nothing_is_written() {
    let app = spawn_app().await;
    given_billing(&app).await;
    for (body, code) in [
        (
            json!({"recipient_id": "r1", "amount_cents": 0, "currency": "USD", "due_date": "2026-12-15", "status": "open"}),
            "invalid_field",
        ),
        (
            json!({"recipient_id": "r1", "amount_cents": 100, "currency": "dollars", "due_date": "2026-12-15", "status": "open"}),
            "invalid_field",
        ),
        (
            json!({"recipient_id": "r1", "amount_cents": 100, "currency": "USD", "due_date": "15/12/2026", "status": "open"}),
            "invalid_field",
        ),
        (
            json!({"recipient_id": "r1", "amount_cents": 100, "currency": "USD", "due_date": "2026-12-15", "status": "open", "pay_url": "javascript:alert(1)"}),
            "invalid_field",
        ),
        (
            json!({"recipient_id": "nobody", "amount_cents": 100, "currency": "USD", "due_date": "2026-12-15", "status": "open"}),
            "unknown_recipient",
        ),
    ] {
        let answer = app.put("acct", "/v1/invoices/inv-9", body.clone()).await;
        assert_eq!(answer.status, 422, "{body} → {}", answer.body);
        assert_eq!(answer.body["error"]["code"], code, "{body}");
    }
    assert_eq!(app.get("acct", "/v1/messages?invoice_id=inv-9").await.status, 404);
}

#[tokio::test]
async fn dates_far_out_of_range_are_refused_not_a_crash() {
    let app = spawn_app().await;
    given_billing(&app).await;
    let far = app.put("acct", "/v1/invoices/inv-x", json!({
        "recipient_id": "r1", "amount_cents": 100, "currency": "USD", "due_date": "+262142-12-30", "status": "open",
    })).await;
    assert_eq!(far.status, 422, "{}", far.body);
    let appointment = app
        .put(
            "acct",
            "/v1/appointments/a-x",
            json!({
                "recipient_id": "r1", "starts_at": "9999-12-31T10:00:00Z", "duration_minutes": 30,
                "provider": "Dr. Ruiz", "location": "Main St", "status": "booked",
            }),
        )
        .await;
    assert_eq!(appointment.status, 422, "{}", appointment.body);
}
