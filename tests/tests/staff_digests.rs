//! Staff notifications by email, end to end: the `notification-digest`
//! function as the local runner's schedule runs it, replies and bounces
//! through their real handlers, staff emails in the outbox (`staff: true`).

use chrono::{DateTime, Duration, Timelike, Utc};
use serde_json::{json, Value};
use tidings::channels::ses_tags::tag_value;
use tidings::domain::{AccountId, Channel};
use tidings_e2e::{spawn_app, spawn_app_with, t0, TestApp};
use tidings_local::LocalOptions;

const FRONT_DESK: &str = "frontdesk@riverside.example";
const MANAGER: &str = "manager@riverside.example";
const DOCTOR: &str = "doctor@riverside.example";
/// The practice's own number: a text to it from a stranger is the
/// practice's unmatched reply.
const OUR_NUMBER: &str = "+12025550177";
const STRANGER: &str = "+12025550199";

/// What no staff email may hold: the clients' names, addresses and numbers,
/// and the words they wrote.
const PHI: [&str; 12] = [
    "Ann",
    "Dee",
    "Ben",
    "Lee",
    "ann@example.com",
    "dee@example.com",
    "555 0101",
    "5550101",
    "5550199",
    "Running late",
    "my son",
    "Hello?",
];

/// The practice, with its own number and `settings`.
async fn given_practice(app: &TestApp, settings: Value) {
    let account: AccountId = "acct".parse().unwrap();
    app.runtime.store.register_sender(Channel::Sms, OUR_NUMBER, &account).await.unwrap();
    let mut body = json!({"senders": {"sms_origination_number": OUR_NUMBER}});
    if let (Some(body), Some(settings)) = (body.as_object_mut(), settings.as_object()) {
        body.extend(settings.clone());
    }
    app.given_settings_with("acct", body).await;
}

async fn given_user(app: &TestApp, id: &str, email: &str, notifications: Value) {
    let body = json!({"email": email, "display_name": id, "time_zone": "America/Los_Angeles",
                      "notifications": notifications});
    let saved = app.put("acct", &format!("/v1/users/{id}"), body).await;
    assert_eq!(saved.status, 200, "{}", saved.body);
}

async fn staff_emails(app: &TestApp, to: &str) -> Vec<Value> {
    app.outbox().await.into_iter().filter(|m| m["staff"] == true && m["to"] == to).collect()
}

fn sent_at(email: &Value) -> DateTime<Utc> {
    email["sent_at"].as_str().unwrap().parse().unwrap()
}

fn reply(reply_to: &str, message_id: &str, words: &str) -> Vec<u8> {
    format!(
        "From: Ann Lee <ann@example.com>\r\nTo: <{reply_to}>\r\nSubject: Re: your appointment\r\n\
         Message-ID: <{message_id}@example.com>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{words}\r\n"
    )
    .into_bytes()
}

/// SES's permanent bounce of the email `email` (as the outbox kept it),
/// with the tags the send carried.
fn bounce_of(email: &Value, tags: Value) -> Value {
    let mut bounce: Value =
        serde_json::from_str(include_str!("../../shared/tests/fixtures/ses_bounce_permanent.json")).unwrap();
    bounce["mail"]["messageId"] = email["message_id"].clone();
    bounce["mail"]["tags"] = tags;
    bounce["bounce"]["bouncedRecipients"][0]["emailAddress"] = email["to"].clone();
    bounce
}

#[tokio::test]
async fn each_user_hears_as_often_as_they_chose_and_no_email_carries_phi() {
    // No starting credit: the text reminder at the end finds none.
    let app = spawn_app_with(LocalOptions { manual_clock: Some(t0()), ..LocalOptions::default() }).await;
    given_practice(
        &app,
        json!({
            "appointment_reminders": {"enabled": true, "offsets_minutes": [1440]},
            "app_links": {"message": "https://app.riverside.example/m/{message_id}",
                          "recipient": "https://app.riverside.example/c/{recipient_id}"},
        }),
    )
    .await;
    // 06:00 in Los Angeles.
    assert_eq!(t0().with_timezone(&chrono_tz::America::Los_Angeles).hour(), 6);
    given_user(&app, "a", FRONT_DESK, json!({"frequency": "immediate"})).await;
    given_user(&app, "b", MANAGER, json!({"frequency": "daily", "daily_at": "08:00"})).await;
    given_user(&app, "c", DOCTOR, json!({"frequency": "off"})).await;
    app.given_email_client("acct", "ann").await;
    app.put(
        "acct",
        "/v1/recipients/dee",
        json!({"kind": "client", "first_name": "Dee", "last_name": "Lee",
                                                  "channel": "email", "email": "dee@example.com"}),
    )
    .await;
    app.given_sms_client("acct", "ben").await;
    let reminders_at = t0() + Duration::minutes(30);
    app.book("acct", "a1", "ann", reminders_at + Duration::days(1)).await;
    app.book("acct", "a2", "dee", reminders_at + Duration::days(1)).await;
    app.move_clock(reminders_at).await;
    let outbox = app.outbox().await;
    let to = |address: &str| outbox.iter().find(|m| m["to"] == address).cloned().expect("the reminder went");
    let (ann, dee) = (to("ann@example.com"), to("dee@example.com"));

    // Three replies (two from Ann, one from a number nobody knows) and
    // one bounce.
    app.move_clock(reminders_at + Duration::minutes(10)).await;
    let reply_to = ann["reply_to"].as_str().unwrap();
    for (id, words) in [("r1", "Running late, sorry"), ("r2", "Can I bring my son?")] {
        assert_eq!(app.post_email(reply(reply_to, id, words)).await.0, 200);
    }
    let text =
        app.post_local("/local/sms/inbound", json!({"from": STRANGER, "to": OUR_NUMBER, "body": "Hello?"})).await;
    assert_eq!(text.status, 200, "{}", text.body);
    let message = app.messages("acct", "a2").await[0]["id"].as_str().unwrap().to_owned();
    let tags = json!({"tidings_account": ["acct"], "tidings_message": [tag_value(&message)]});
    let bounced = app.post_local("/local/ses/notifications", bounce_of(&dee, tags)).await;
    assert_eq!((bounced.status, &bounced.body["recorded"]), (200, &json!(1)), "{}", bounced.body);
    let kinds: Vec<Value> = app.get("acct", "/v1/notifications").await.body["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].clone())
        .collect();
    assert_eq!(kinds.len(), 4, "{kinds:?}");

    // A hears of each within the minute; B waits for 08:00; C hears nothing.
    let replies_at = reminders_at + Duration::minutes(10);
    app.move_clock(replies_at + Duration::minutes(1)).await;
    let a = staff_emails(&app, FRONT_DESK).await;
    assert_eq!(a.len(), 4, "{a:?}");
    assert!(a.iter().all(|e| sent_at(e) <= replies_at + Duration::minutes(1)), "{a:?}");
    assert!(a.iter().any(|e| e["subject"] == "Riverside Clinic: An email bounced"), "{a:?}");
    assert_eq!(staff_emails(&app, MANAGER).await.len(), 0);

    let eight_la = t0() + Duration::hours(2);
    app.move_clock(eight_la + Duration::minutes(5)).await;
    let b = staff_emails(&app, MANAGER).await;
    assert_eq!(b.len(), 1, "one digest: {b:?}");
    let digest = &b[0];
    let at = sent_at(digest).with_timezone(&chrono_tz::America::Los_Angeles);
    assert_eq!((at.hour(), at.minute()), (8, 0), "at 08:00 in Los Angeles: {at}");
    assert_eq!(digest["subject"], "Riverside Clinic: 4 new notifications");
    let body = digest["body"].as_str().unwrap();
    assert_eq!(body.lines().filter(|l| l.starts_with("- ")).count(), 4, "{body}");
    assert!(body.contains("A new message to read (2)") && body.contains("An email bounced (1)"), "{body}");
    assert!(body.contains("https://app.riverside.example/m/a1~reminder~1440~1"), "{body}");

    // Running again, or the schedule's retry, sends nothing twice.
    let before = app.outbox().await.len();
    app.runtime.run_digests().await.unwrap();
    app.runtime.run_digests().await.unwrap();
    assert_eq!(app.outbox().await.len(), before);

    // Ben's text reminder finds no credit: that reaches B at once.
    let held_at = eight_la + Duration::minutes(30);
    app.book("acct", "a3", "ben", held_at + Duration::days(1)).await;
    app.move_clock(held_at + Duration::minutes(1)).await;
    let b = staff_emails(&app, MANAGER).await;
    assert_eq!(b.len(), 2, "{b:?}");
    assert_eq!(b[1]["subject"], "Riverside Clinic: Messaging credit ran out: paid messages are held");
    assert!(sent_at(&b[1]) <= held_at + Duration::minutes(1));
    assert_eq!(staff_emails(&app, FRONT_DESK).await.len(), 5);

    // The next day's digest has what came since, and leaves out what B
    // was told at once.
    app.move_clock(eight_la + Duration::hours(12)).await;
    let text =
        app.post_local("/local/sms/inbound", json!({"from": STRANGER, "to": OUR_NUMBER, "body": "Hello?"})).await;
    assert_eq!(text.status, 200, "{}", text.body);
    app.move_clock(eight_la + Duration::days(1) + Duration::minutes(5)).await;
    let b = staff_emails(&app, MANAGER).await;
    assert_eq!(b.len(), 3, "{b:?}");
    let next = b[2]["body"].as_str().unwrap();
    assert!(next.contains("A message from an unknown sender (1)") && !next.contains("credit"), "{next}");
    assert_eq!(staff_emails(&app, DOCTOR).await.len(), 0, "C is off");

    let all: Vec<Value> = app.outbox().await.into_iter().filter(|m| m["staff"] == true).collect();
    assert!(all.len() >= 7);
    for email in &all {
        let text = format!("{} {} {}", email["subject"], email["body"], email["html"]);
        for phi in PHI {
            assert!(!text.contains(phi), "{phi:?} in a staff email: {text}");
        }
    }
    let raised = app.runtime.bus.published().into_iter().filter(|e| e.detail_type == "NotificationRaised").count();
    assert!(raised >= 5, "every notification is put on the bus: {raised}");
}

#[tokio::test]
async fn a_bouncing_staff_address_is_reported_and_not_mailed_until_it_changes() {
    let app = spawn_app().await;
    given_practice(&app, json!({})).await;
    given_user(&app, "a", FRONT_DESK, json!({"frequency": "immediate"})).await;
    let stranger = |body: &str| json!({"from": STRANGER, "to": OUR_NUMBER, "body": body});
    app.post_local("/local/sms/inbound", stranger("one")).await;
    app.move_clock(t0() + Duration::minutes(1)).await;
    let sent = staff_emails(&app, FRONT_DESK).await;
    assert_eq!(sent.len(), 1);

    let tags = json!({"tidings_account": ["acct"], "tidings_user": ["a"]});
    let bounce = bounce_of(&sent[0], tags);
    let answer = app.post_local("/local/ses/notifications", bounce.clone()).await;
    assert_eq!(answer.body["recorded"], 1, "{}", answer.body);
    let again = app.post_local("/local/ses/notifications", bounce).await;
    assert_eq!(again.body["ignored"], 1, "SNS redelivers: reported once");
    let notes = app.get("acct", "/v1/notifications").await.body;
    let staff: Vec<&Value> =
        notes["notifications"].as_array().unwrap().iter().filter(|n| n["detail"] == "staff").collect();
    assert_eq!(staff.len(), 1, "{notes}");
    assert_eq!(staff[0]["kind"], "email_bounced");
    let users = app.get("acct", "/v1/users").await.body;
    assert!(users["users"][0]["email_bounced_at"].is_string(), "{users}");

    app.post_local("/local/sms/inbound", stranger("two")).await;
    app.move_clock(t0() + Duration::minutes(2)).await;
    assert_eq!(staff_emails(&app, FRONT_DESK).await.len(), 1, "not mailed while the address bounces");

    // Same address again: still bouncing. A new one is mailed.
    given_user(&app, "a", FRONT_DESK, json!({"frequency": "immediate"})).await;
    assert!(app.get("acct", "/v1/users").await.body["users"][0]["email_bounced_at"].is_string());
    given_user(&app, "a", "desk@riverside.example", json!({"frequency": "immediate"})).await;
    assert!(app.get("acct", "/v1/users").await.body["users"][0]["email_bounced_at"].is_null());
    app.post_local("/local/sms/inbound", stranger("three")).await;
    app.move_clock(t0() + Duration::minutes(3)).await;
    assert_eq!(staff_emails(&app, "desk@riverside.example").await.len(), 1);
}

#[tokio::test]
async fn an_hourly_user_gets_one_digest_an_hour_of_what_they_chose_to_hear() {
    let app = spawn_app().await;
    given_practice(&app, json!({})).await;
    given_user(&app, "h", MANAGER, json!({"frequency": "hourly", "kinds": ["unmatched_reply"]})).await;
    let stranger = |body: &str| json!({"from": STRANGER, "to": OUR_NUMBER, "body": body});
    app.post_local("/local/sms/inbound", stranger("one")).await;
    app.move_clock(t0() + Duration::minutes(20)).await;
    app.post_local("/local/sms/inbound", stranger("two")).await;
    app.move_clock(t0() + Duration::minutes(59)).await;
    assert_eq!(staff_emails(&app, MANAGER).await.len(), 0, "the hour has not ended");
    app.move_clock(t0() + Duration::minutes(150)).await;
    let sent = staff_emails(&app, MANAGER).await;
    assert_eq!(sent.len(), 1, "an hour with nothing new sends nothing: {sent:?}");
    assert_eq!(sent_at(&sent[0]), t0() + Duration::hours(1) + Duration::seconds(10));
    assert!(sent[0]["body"].as_str().unwrap().contains("A message from an unknown sender (2)"), "{}", sent[0]);

    // Switching to immediate and back starts the digests afresh: nothing
    // is told twice.
    given_user(&app, "h", MANAGER, json!({"frequency": "immediate", "kinds": ["unmatched_reply"]})).await;
    app.post_local("/local/sms/inbound", stranger("three")).await;
    app.move_clock(t0() + Duration::minutes(151)).await;
    given_user(&app, "h", MANAGER, json!({"frequency": "hourly", "kinds": ["unmatched_reply"]})).await;
    app.move_clock(t0() + Duration::hours(5)).await;
    assert_eq!(staff_emails(&app, MANAGER).await.len(), 2, "{:?}", staff_emails(&app, MANAGER).await);
}
