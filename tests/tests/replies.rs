//! Replies by text, end to end: through `ingest-replies` as AWS End User
//! Messaging's SNS topic delivers them (`/local/sms/inbound`), into the
//! recipient's thread, acting on appointments and consent as the issue says.

use chrono::Duration;
use serde_json::{json, Value};
use tidings::domain::{AccountId, Channel};
use tidings_e2e::{spawn_app, t0, TestApp};

/// Ben's phone (`given_sms_client`), and a number of the deployment's that
/// no practice owns.
const BEN: &str = "+12025550101";
const SHARED_NUMBER: &str = "+12025550100";

async fn text(app: &TestApp, from: &str, to: &str, body: &str) -> Value {
    let answer = app.post_local("/local/sms/inbound", json!({"from": from, "to": to, "body": body})).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body
}

async fn thread(app: &TestApp, account: &str, recipient: &str) -> Vec<Value> {
    let answer = app.get(account, &format!("/v1/recipients/{recipient}/thread")).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body["entries"].as_array().cloned().unwrap_or_default()
}

async fn events(app: &TestApp, detail_type: &str) -> Vec<Value> {
    let answer = app.get_local("/local/events").await;
    answer
        .body
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e["detail_type"] == detail_type)
        .collect()
}

async fn notifications(app: &TestApp, account: &str, kind: &str) -> Vec<Value> {
    let answer = app.get(account, "/v1/notifications").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body["notifications"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|n| n["kind"] == kind)
        .collect()
}

fn sms_to_ben(outbox: &[Value]) -> Vec<Value> {
    outbox.iter().filter(|m| m["channel"] == "sms" && m["to"] == BEN).cloned().collect()
}

/// Riverside with reminders two days and one day ahead; Ben books for three
/// days from now and gets his first reminder.
async fn reminded(app: &TestApp, settings: Value) -> chrono::DateTime<chrono::Utc> {
    let mut all = json!({"appointment_reminders": {"enabled": true, "offsets_minutes": [2880, 1440]}});
    if let (Some(all), Some(settings)) = (all.as_object_mut(), settings.as_object()) {
        all.extend(settings.clone());
    }
    app.given_settings_with("acct", all).await;
    app.given_sms_client("acct", "ben").await;
    let start = t0() + Duration::days(3);
    assert_eq!(app.book("acct", "a1", "ben", start).await.status, 200);
    assert_eq!(app.move_clock(start - Duration::hours(48)).await.status, 200);
    assert_eq!(sms_to_ben(&app.outbox().await).len(), 1, "the first reminder went");
    start
}

#[tokio::test]
async fn a_y_confirms_the_appointment_skips_the_next_reminder_and_tells_the_practice_app() {
    let app = spawn_app().await;
    let start = reminded(&app, json!({})).await;

    let report = text(&app, BEN, SHARED_NUMBER, "Y").await;
    assert_eq!(report["recorded"], 1, "{report}");

    let entries = thread(&app, "acct", "ben").await;
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(entries[0]["direction"], "inbound");
    assert_eq!(entries[0]["body"], "Y");
    assert_eq!(entries[0]["action"], "confirmed");
    assert_eq!(entries[0]["in_reply_to"], entries[1]["id"]);
    assert_eq!(entries[1]["direction"], "outbound");
    assert_eq!(entries[1]["kind"], "appointment_reminder");

    let confirmed = events(&app, "AppointmentConfirmed").await;
    assert_eq!(confirmed.len(), 1, "{confirmed:?}");
    assert_eq!(confirmed[0]["detail"]["appointment_id"], "a1");

    app.move_clock(start).await;
    assert_eq!(sms_to_ben(&app.outbox().await).len(), 1, "no reminder once confirmed");
    let later = app.messages("acct", "a1").await;
    assert!(later.iter().any(|m| m["status"] == "skipped" && m["reason"] == "confirmed"), "{later:?}");
}

#[tokio::test]
async fn cancel_opts_out_cancels_nothing_and_is_confirmed_once() {
    let app = spawn_app().await;
    let start = reminded(&app, json!({"replies": {"cancel_by_reply": true}})).await;

    text(&app, BEN, SHARED_NUMBER, "CANCEL").await;
    // A second STOP changes nothing and is not confirmed again.
    text(&app, BEN, SHARED_NUMBER, "stop texting me").await;
    app.move_clock(t0() + Duration::days(1) + Duration::minutes(1)).await;

    let texts = sms_to_ben(&app.outbox().await);
    assert_eq!(texts.len(), 2, "the reminder and one confirmation: {texts:?}");
    let confirmation = texts[1]["body"].as_str().unwrap();
    assert!(confirmation.contains("Riverside Clinic") && confirmation.contains("START"), "{confirmation}");

    let entries = thread(&app, "acct", "ben").await;
    let actions: Vec<&Value> = entries.iter().filter(|e| e["direction"] == "inbound").map(|e| &e["action"]).collect();
    assert_eq!(actions, [&json!("opted_out"), &json!("opted_out")]);
    assert!(events(&app, "AppointmentCancelled").await.is_empty(), "CANCEL never cancels");
    assert_eq!(notifications(&app, "acct", "opted_out").await.len(), 2, "staff hear of each");

    app.move_clock(start).await;
    assert_eq!(sms_to_ben(&app.outbox().await).len(), 2, "nothing more after the opt-out");
    let later = app.messages("acct", "a1").await;
    assert!(later.iter().any(|m| m["status"] == "skipped" && m["reason"] == "opted_out"), "{later:?}");
}

#[tokio::test]
async fn a_2_cancels_only_where_the_practice_allows_it() {
    let app = spawn_app().await;
    reminded(&app, json!({})).await;
    text(&app, BEN, SHARED_NUMBER, "2").await;
    assert!(events(&app, "AppointmentCancelled").await.is_empty(), "cancel by reply is off by default");
    assert_eq!(thread(&app, "acct", "ben").await[0]["action"], "for_staff");
    assert_eq!(notifications(&app, "acct", "new_reply").await.len(), 1, "staff read it instead");

    let app = spawn_app().await;
    reminded(&app, json!({"replies": {"cancel_by_reply": true}})).await;
    text(&app, BEN, SHARED_NUMBER, "2").await;
    let cancelled = events(&app, "AppointmentCancelled").await;
    assert_eq!(cancelled.len(), 1, "{cancelled:?}");
    let messages = app.messages("acct", "a1").await;
    assert!(messages.iter().any(|m| m["status"] == "withdrawn"), "the next reminder is withdrawn: {messages:?}");
}

#[tokio::test]
async fn help_is_answered_and_start_opts_back_in() {
    let app = spawn_app().await;
    reminded(&app, json!({})).await;
    text(&app, BEN, SHARED_NUMBER, "HELP").await;
    text(&app, BEN, SHARED_NUMBER, "STOP").await;
    text(&app, BEN, SHARED_NUMBER, "START").await;
    app.move_clock(t0() + Duration::days(1) + Duration::minutes(1)).await;
    let bodies: Vec<String> =
        sms_to_ben(&app.outbox().await).iter().skip(1).map(|m| m["body"].as_str().unwrap().to_owned()).collect();
    assert_eq!(bodies.len(), 3, "{bodies:?}");
    // Each is due the moment its text came: they may go in any order.
    let help = bodies.iter().find(|b| b.contains("Questions?")).expect("the HELP answer");
    assert!(help.contains("+12025550143") && help.contains("Msg & data rates may apply"), "{help}");
    assert!(bodies.iter().any(|b| b.contains("unsubscribed")), "{bodies:?}");
    assert!(bodies.iter().any(|b| b.contains("subscribed to appointment")), "{bodies:?}");
    let thread = thread(&app, "acct", "ben").await;
    let answers = thread.iter().filter(|e| e["kind"] == "keyword_answer").count();
    assert_eq!(answers, 3, "the answers are in the thread too");
}

#[tokio::test]
async fn a_redelivered_text_is_applied_once() {
    let app = spawn_app().await;
    reminded(&app, json!({})).await;
    let inbound = json!({
        "originationNumber": BEN, "destinationNumber": SHARED_NUMBER, "messageKeyword": "KEYWORD_1",
        "messageBody": "Yes!", "inboundMessageId": "in-0001", "previousPublishedMessageId": null,
    });
    let envelope = json!({"Records": [{
        "EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": "arn:aws:sns:us-east-1:1:in:s",
        "Sns": {"Type": "Notification", "MessageId": "sns-1", "TopicArn": "arn:aws:sns:us-east-1:1:in",
                "Message": inbound.to_string(), "Timestamp": t0().to_rfc3339(), "SignatureVersion": "2",
                "Signature": "", "SigningCertUrl": "", "UnsubscribeUrl": "", "MessageAttributes": {}}
    }]});
    let first = app.runtime.invoke_ingest_replies(envelope.clone()).await.unwrap();
    let second = app.runtime.invoke_ingest_replies(envelope).await.unwrap();
    assert_eq!((first.recorded, second.recorded, second.repeated), (1, 0, 1));
    let inbound: Vec<Value> =
        thread(&app, "acct", "ben").await.into_iter().filter(|e| e["direction"] == "inbound").collect();
    assert_eq!(inbound.len(), 1);
    assert_eq!(inbound[0]["action"], "confirmed");
}

#[tokio::test]
async fn a_reply_to_a_practice_s_own_number_stays_with_that_practice() {
    let app = spawn_app().await;
    const OWN: &str = "+12025550177";
    let account: AccountId = "own".parse().unwrap();
    app.runtime.store.register_sender(Channel::Sms, OWN, &account).await.unwrap();
    app.given_settings_with(
        "own",
        json!({"appointment_reminders": {"enabled": true, "offsets_minutes": [1440]},
               "senders": {"sms_origination_number": OWN}}),
    )
    .await;
    app.given_settings_with("acct", json!({"appointment_reminders": {"enabled": true, "offsets_minutes": [1440]}}))
        .await;
    // Ben is a client of both; the shared-number practice writes last.
    app.given_sms_client("own", "ben").await;
    app.given_sms_client("acct", "ben").await;
    app.book("own", "a1", "ben", t0() + Duration::days(2)).await;
    app.book("acct", "a2", "ben", t0() + Duration::days(2) + Duration::minutes(30)).await;
    app.move_clock(t0() + Duration::days(1) + Duration::minutes(30)).await;
    assert_eq!(sms_to_ben(&app.outbox().await).len(), 2);

    text(&app, BEN, OWN, "running 10 minutes late").await;
    let own = thread(&app, "own", "ben").await;
    assert_eq!(own[0]["body"], "running 10 minutes late");
    let shared = thread(&app, "acct", "ben").await;
    assert!(shared.iter().all(|e| e["direction"] == "outbound"), "not in the other practice's thread: {shared:?}");

    text(&app, BEN, SHARED_NUMBER, "C").await;
    assert_eq!(thread(&app, "acct", "ben").await[0]["action"], "confirmed");
    assert_eq!(thread(&app, "own", "ben").await.len(), 2, "the shared number's reply is not the own number's");
}

#[tokio::test]
async fn a_stranger_s_text_is_kept_unmatched_and_staff_are_told() {
    let app = spawn_app().await;
    const OWN: &str = "+12025550177";
    let account: AccountId = "own".parse().unwrap();
    app.runtime.store.register_sender(Channel::Sms, OWN, &account).await.unwrap();
    app.given_settings_with("own", json!({"senders": {"sms_origination_number": OWN}})).await;

    text(&app, "+12025550199", OWN, "Is the clinic open Saturday?").await;
    let inbox = app.get("own", "/v1/replies?unread=true").await;
    assert_eq!(inbox.status, 200, "{}", inbox.body);
    let replies = inbox.body["replies"].as_array().unwrap();
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0]["recipient_id"], Value::Null);
    assert_eq!(replies[0]["from"], "+12025550199");
    assert_eq!(replies[0]["read"], false);
    assert_eq!(notifications(&app, "own", "unmatched_reply").await.len(), 1);

    let id = replies[0]["id"].as_str().unwrap();
    let read = app.post("own", &format!("/v1/replies/{id}/read"), json!({})).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert!(app.get("own", "/v1/replies?unread=true").await.body["replies"].as_array().unwrap().is_empty());
    let all = app.get("own", "/v1/replies").await;
    assert_eq!(all.body["replies"][0]["read"], true);
    assert_eq!(app.post("own", "/v1/replies/sms~nope/read", json!({})).await.status, 404);

    let malformed =
        app.post_local("/local/sms/inbound", json!({"from": "555-CALL-NOW", "to": OWN, "body": "hi"})).await;
    assert_eq!(malformed.status, 422, "{}", malformed.body);
    assert!(!malformed.body.to_string().contains("CALL"), "the number is not echoed: {}", malformed.body);
    assert_eq!(app.get("own", "/v1/replies").await.body["replies"].as_array().unwrap().len(), 1, "nothing kept");

    // To the shared number, nobody wrote to this sender: nothing to keep it under.
    let report = text(&app, "+12025550199", SHARED_NUMBER, "hello?").await;
    assert_eq!(report["unroutable"], 1, "{report}");
}

#[tokio::test]
async fn threads_page_newest_first_and_refuse_foreign_cursors() {
    let app = spawn_app().await;
    let start = reminded(&app, json!({})).await;
    for (second, word) in ["one", "two", "three"].into_iter().enumerate() {
        app.move_clock(start - Duration::hours(48) + Duration::seconds(second as i64 + 1)).await;
        text(&app, BEN, SHARED_NUMBER, word).await;
    }
    let first = app.get("acct", "/v1/recipients/ben/thread?limit=2").await;
    assert_eq!(first.status, 200, "{}", first.body);
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let mut bodies: Vec<Value> = first.body["entries"].as_array().unwrap().iter().map(|e| e["body"].clone()).collect();
    let mut next = Some(cursor.clone());
    while let Some(cursor) = next {
        let page = app.get("acct", &format!("/v1/recipients/ben/thread?limit=2&cursor={cursor}")).await;
        assert_eq!(page.status, 200, "{}", page.body);
        bodies.extend(page.body["entries"].as_array().unwrap().iter().map(|e| e["body"].clone()));
        next = page.body["next_cursor"].as_str().map(str::to_owned);
    }
    assert_eq!(bodies.len(), 4, "{bodies:?}");
    assert_eq!(bodies[..3], [json!("three"), json!("two"), json!("one")]);

    app.given_practice("other").await;
    app.given_sms_client("other", "ben").await;
    let foreign = app.get("other", &format!("/v1/recipients/ben/thread?cursor={cursor}")).await;
    assert_eq!(foreign.status, 400, "{}", foreign.body);
    assert_eq!(app.get("acct", "/v1/recipients/nobody/thread").await.status, 404);
    assert_eq!(app.get("acct", "/v1/recipients/ben/thread?limit=0").await.status, 400);
}
