//! Contacts of a client copied on the client's reminders, end to end: a
//! guardian gets their own reminder on their own channel, in a contact's
//! wording, withdrawn and moved with the client's.

use chrono::Duration;
use serde_json::{json, Value};
use tidings_e2e::{spawn_app, t0, TestApp};

async fn given_guardian(app: &TestApp) {
    let gina = json!({"kind": "contact", "first_name": "Gina", "last_name": "Lee", "channel": "email",
                      "email": "gina@example.com"});
    assert_eq!(app.put("acct", "/v1/recipients/gina", gina).await.status, 200);
    let link = json!({"relationship": "guardian", "copy_on": ["appointment_reminder"]});
    let linked = app.put("acct", "/v1/recipients/ben/contacts/gina", link).await;
    assert_eq!(linked.status, 200, "{}", linked.body);
}

fn by_recipient<'a>(messages: &'a [Value], recipient: &str) -> Vec<&'a Value> {
    messages
        .iter()
        .filter(|m| m["id"].as_str().unwrap().contains(&format!("~to~{recipient}")) == (recipient != "ben"))
        .collect()
}

#[tokio::test]
async fn a_guardian_gets_their_own_copy_of_the_reminder_withdrawn_and_moved_with_it() {
    let app = spawn_app().await;
    app.given_practice("acct").await;
    app.given_sms_client("acct", "ben").await;
    given_guardian(&app).await;
    let listed = app.get("acct", "/v1/recipients/ben/contacts").await.body;
    assert_eq!(
        listed["contacts"],
        json!([{"contact_id": "gina", "relationship": "guardian",
                                           "copy_on": ["appointment_reminder"]}])
    );

    let start = t0() + Duration::days(2);
    app.book("acct", "a1", "ben", start).await;
    let messages = app.messages("acct", "a1").await;
    assert_eq!(messages.len(), 2, "{messages:?}");
    let copy = by_recipient(&messages, "gina")[0];
    assert_eq!((copy["channel"].as_str(), copy["status"].as_str()), (Some("email"), Some("scheduled")));

    app.move_clock(start - Duration::hours(24)).await;
    let outbox = app.outbox().await;
    let to_ben = outbox.iter().find(|m| m["channel"] == "sms").expect("Ben's own reminder");
    assert!(to_ben["body"].as_str().unwrap().starts_with("Riverside Clinic: Ben, reminder"), "{to_ben}");
    let to_gina = outbox.iter().find(|m| m["to"] == "gina@example.com").expect("Gina's copy");
    assert_eq!(to_gina["subject"], "Appointment reminder for Ben from Riverside Clinic");
    let body = to_gina["body"].as_str().unwrap();
    assert!(body.starts_with("Hello Gina,") && body.contains("As Ben's guardian"), "{body}");
    let copy = app.get("acct", &format!("/v1/messages/{}", copy["id"].as_str().unwrap())).await.body;
    assert_eq!(copy["status"], "sent");
    let gina_listed = app.get("acct", "/v1/messages?recipient_id=gina").await.body;
    assert_eq!(gina_listed["messages"].as_array().unwrap().len(), 1, "the copy is Gina's own message");

    // Cancelled: the copy goes with the client's reminder.
    let later = start + Duration::days(2);
    app.book("acct", "a2", "ben", later).await;
    app.cancel("acct", "a2", "ben", later).await;
    let cancelled = app.messages("acct", "a2").await;
    assert_eq!(cancelled.len(), 2);
    assert!(cancelled.iter().all(|m| m["status"] == "withdrawn"), "{cancelled:?}");

    // Moved: so is the copy.
    app.book("acct", "a3", "ben", later).await;
    app.book("acct", "a3", "ben", later + Duration::hours(3)).await;
    let moved = app.messages("acct", "a3").await;
    let gina_copies = by_recipient(&moved, "gina");
    let statuses: Vec<&str> = gina_copies.iter().map(|m| m["status"].as_str().unwrap()).collect();
    assert_eq!(statuses.len(), 2, "{moved:?}");
    assert!(statuses.contains(&"withdrawn") && statuses.contains(&"scheduled"), "{statuses:?}");

    // No longer copied: the next booking has no copy.
    assert_eq!(app.delete("acct", "/v1/recipients/ben/contacts/gina").await.status, 204);
    app.book("acct", "a4", "ben", later + Duration::days(1)).await;
    assert_eq!(app.messages("acct", "a4").await.len(), 1);
}

#[tokio::test]
async fn a_guardian_copied_on_notices_is_told_what_the_client_was_told() {
    let app = spawn_app().await;
    app.given_settings_with("acct", json!({"appointment_notices": {"enabled": true, "debounce_minutes": 3}})).await;
    app.given_sms_client("acct", "ben").await;
    let gina = json!({"kind": "contact", "first_name": "Gina", "last_name": "Lee", "channel": "email",
                      "email": "gina@example.com"});
    app.put("acct", "/v1/recipients/gina", gina).await;
    let link = json!({"relationship": "guardian", "copy_on": ["appointment_notice"]});
    assert_eq!(app.put("acct", "/v1/recipients/ben/contacts/gina", link).await.status, 200);

    let start = t0() + Duration::days(2);
    app.book("acct", "a1", "ben", start).await;
    app.move_clock(t0() + Duration::minutes(5)).await;
    let copies: Vec<Value> = app.outbox().await.into_iter().filter(|m| m["to"] == "gina@example.com").collect();
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert_eq!(copies[0]["subject"], "Ben's appointment with Riverside Clinic: booked");
    assert!(copies[0]["body"].as_str().unwrap().contains("As Ben's guardian"), "{}", copies[0]);

    app.cancel("acct", "a1", "ben", start).await;
    app.move_clock(t0() + Duration::minutes(10)).await;
    let copies: Vec<Value> = app.outbox().await.into_iter().filter(|m| m["to"] == "gina@example.com").collect();
    assert_eq!(copies.len(), 2, "{copies:?}");
    assert_eq!(copies[1]["subject"], "Ben's appointment with Riverside Clinic: cancelled");
    let texts = app.outbox().await.into_iter().filter(|m| m["channel"] == "sms").count();
    assert_eq!(texts, 2, "Ben's own notices: booked, then cancelled");
}

#[tokio::test]
async fn a_caregiver_copied_on_billing_gets_their_own_reminder_withdrawn_when_paid() {
    let app = spawn_app().await;
    app.given_settings_with(
        "acct",
        json!({"invoice_messages": {"billing_reminders": true, "days_before": 1, "late_payment_notices": false,
                                    "days_after": 0, "repeat_every_days": 7, "max_notices": 1}}),
    )
    .await;
    app.given_sms_client("acct", "ben").await;
    let carl = json!({"kind": "contact", "first_name": "Carl", "last_name": "Lee", "channel": "sms",
                      "phone": "+12025550122"});
    app.put("acct", "/v1/recipients/carl", carl).await;
    let link = json!({"relationship": "caregiver", "copy_on": ["billing_reminder"]});
    assert_eq!(app.put("acct", "/v1/recipients/ben/contacts/carl", link).await.status, 200);
    let invoice = |status: &str| {
        json!({"recipient_id": "ben", "amount_cents": 8500, "currency": "USD", "due_date": "2026-12-05",
               "status": status})
    };
    app.put("acct", "/v1/invoices/i1", invoice("open")).await;
    let messages = app.get("acct", "/v1/messages?invoice_id=i1").await.body["messages"].as_array().unwrap().clone();
    assert_eq!(messages.len(), 2, "{messages:?}");
    // The day before it is due, at 10:00 in New York.
    app.move_clock(t0() + Duration::days(3) + Duration::hours(1)).await;
    let outbox = app.outbox().await;
    let copy = outbox.iter().find(|m| m["to"] == "+12025550122").expect("Carl's copy");
    assert!(copy["body"].as_str().unwrap().contains("Carl, for Ben: $85.00 is due"), "{copy}");

    app.put(
        "acct",
        "/v1/invoices/i2",
        json!({"recipient_id": "ben", "amount_cents": 100, "currency": "USD",
                                              "due_date": "2026-12-20", "status": "open"}),
    )
    .await;
    app.put(
        "acct",
        "/v1/invoices/i2",
        json!({"recipient_id": "ben", "amount_cents": 100, "currency": "USD",
                                              "due_date": "2026-12-20", "status": "paid"}),
    )
    .await;
    let paid = app.get("acct", "/v1/messages?invoice_id=i2").await.body["messages"].as_array().unwrap().clone();
    assert_eq!(paid.len(), 2);
    assert!(paid.iter().all(|m| m["status"] == "withdrawn"), "{paid:?}");
}

#[tokio::test]
async fn a_contact_link_names_two_recipients_of_the_account_and_automated_kinds() {
    let app = spawn_app().await;
    app.given_practice("acct").await;
    app.given_sms_client("acct", "ben").await;
    let link = |kinds: Value| json!({"relationship": "guardian", "copy_on": kinds});
    let refusals = [
        ("/v1/recipients/ben/contacts/nobody", link(json!(["appointment_reminder"])), 404),
        ("/v1/recipients/nobody/contacts/ben", link(json!(["appointment_reminder"])), 404),
        ("/v1/recipients/ben/contacts/ben", link(json!(["appointment_reminder"])), 422),
        ("/v1/recipients/ben/contacts/ben", link(json!(["ad_hoc"])), 422),
        ("/v1/recipients/ben/contacts/ben", json!({"relationship": "cousin"}), 422),
    ];
    for (path, body, status) in refusals {
        let answer = app.put("acct", path, body.clone()).await;
        assert_eq!(answer.status, status, "{path} {body}: {}", answer.body);
    }
    assert_eq!(app.get("acct", "/v1/recipients/ben/contacts").await.body["contacts"], json!([]));
    assert_eq!(app.delete("acct", "/v1/recipients/ben/contacts/gina").await.status, 404);
}
