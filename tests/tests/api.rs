//! The HTTP API's contract: authentication, validation with nothing
//! written on bad input, account isolation, idempotent upserts, OpenAPI.

use chrono::Duration;
use serde_json::json;
use tidings::domain::Channel;
use tidings_e2e::{spawn_app, t0};

#[tokio::test]
async fn requests_without_a_valid_token_get_401() {
    let app = spawn_app().await;
    let body = r#"{"practice_name":"X","practice_phone":"+12025550143","time_zone":"UTC","messaging_enabled":true}"#;
    let missing = app.put_raw(None, "/v1/settings", body).await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.body["error"]["code"], "unauthorized");
    let forged = app.put_raw(Some("eyJhbGciOiJIUzI1NiJ9.e30.forged"), "/v1/settings", body).await;
    assert_eq!(forged.status, 401);
    let account = "acct".parse().unwrap();
    assert!(app.runtime.store.get_settings(&account).await.unwrap().is_none());
}

#[tokio::test]
async fn settings_are_validated_and_stored() {
    let app = spawn_app().await;
    let bad_zone = app
        .put(
            "acct",
            "/v1/settings",
            json!({
                "practice_name": "Riverside", "practice_phone": "+12025550143",
                "time_zone": "Mars/Olympus", "messaging_enabled": true,
            }),
        )
        .await;
    assert_eq!(bad_zone.status, 422, "{}", bad_zone.body);
    assert_eq!(bad_zone.body["error"]["code"], "invalid_field");
    assert!(bad_zone.body["error"]["message"].as_str().unwrap().contains("time_zone"));

    let bad_offsets = app
        .put(
            "acct",
            "/v1/settings",
            json!({
                "practice_name": "Riverside", "practice_phone": "+12025550143",
                "time_zone": "America/New_York", "messaging_enabled": true,
                "appointment_reminders": {"enabled": true, "offsets_minutes": [0]},
            }),
        )
        .await;
    assert_eq!(bad_offsets.status, 422);
    assert_eq!(bad_offsets.body["error"]["code"], "invalid_settings");
    let account = "acct".parse().unwrap();
    assert!(app.runtime.store.get_settings(&account).await.unwrap().is_none());

    app.given_settings("acct", true, &[2880, 120]).await;
    let stored = app.runtime.store.get_settings(&account).await.unwrap().unwrap();
    assert_eq!(stored.appointment_reminders.offsets_minutes, vec![2880, 120]);
    assert_eq!(stored.practice_phone.as_str(), "+12025550143");
}

#[tokio::test]
async fn replies_confirm_but_do_not_cancel_unless_the_practice_says_so() {
    let app = spawn_app().await;
    let base = json!({
        "practice_name": "Riverside", "practice_phone": "+12025550143",
        "time_zone": "America/New_York", "messaging_enabled": true,
    });
    let answer = app.put("acct", "/v1/settings", base.clone()).await;
    assert_eq!(
        answer.body["replies"],
        json!({"confirm_by_reply": true, "cancel_by_reply": false, "cancel_cutoff_hours": 24})
    );

    let mut cancelling = base.clone();
    cancelling["replies"] = json!({"cancel_by_reply": true, "cancel_cutoff_hours": 48});
    let answer = app.put("acct", "/v1/settings", cancelling).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let stored = app.runtime.store.get_settings(&"acct".parse().unwrap()).await.unwrap().unwrap();
    assert!(stored.replies.confirm_by_reply && stored.replies.cancel_by_reply);
    assert_eq!(stored.replies.cancel_cutoff_hours, 48);

    let mut misspelt = base;
    misspelt["replies"] = json!({"cancel_by_replies": true});
    assert_eq!(app.put("acct", "/v1/settings", misspelt).await.status, 422);
}

#[tokio::test]
async fn bad_recipients_are_refused_and_nothing_is_written() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"kind": "client", "first_name": "A", "last_name": "B", "channel": "sms", "phone": "555-0101"}),
            422,
            "invalid_field",
        ),
        (
            json!({"kind": "client", "first_name": "A", "last_name": "B", "channel": "email", "email": "not-an-address"}),
            422,
            "invalid_field",
        ),
        (
            json!({"kind": "client", "first_name": "A", "last_name": "B", "channel": "sms", "phone": "+1 202 555 O143"}),
            422,
            "invalid_field",
        ),
        (
            json!({"kind": "client", "first_name": "A", "last_name": "B", "channel": "fax", "fax": "+1 202 555 0143 #5"}),
            422,
            "invalid_field",
        ),
        (
            json!({"kind": "client", "first_name": "A", "last_name": "B", "channel": "email", "email": "a@example.123"}),
            422,
            "invalid_field",
        ),
        (
            json!({"kind": "client", "first_name": "A", "last_name": "B", "channel": "email", "email": "a@example.com", "nickname": "x"}),
            422,
            "invalid_field",
        ),
        (
            json!({"kind": "client", "first_name": "A", "last_name": "B", "channel": "sms", "email": "a@example.com"}),
            422,
            "missing_address",
        ),
        (
            json!({"kind": "client", "first_name": "A", "last_name": "B", "channel": "email", "email": "a@example.com", "time_zone": "Nowhere/Land"}),
            422,
            "invalid_field",
        ),
    ];
    for (body, status, code) in cases {
        let answer = app.put("acct", "/v1/recipients/r1", body.clone()).await;
        assert_eq!(answer.status, status, "{body} → {}", answer.body);
        assert_eq!(answer.body["error"]["code"], code, "{body}");
    }
    let malformed = app.put_raw(Some(&app.token("acct")), "/v1/recipients/r1", "{\"kind\": ").await;
    assert_eq!(malformed.status, 400);
    assert_eq!(malformed.body["error"]["code"], "malformed_json");
    let bad_id = app
        .put("acct", "/v1/recipients/has%20space", json!({"kind": "client", "first_name": "A", "last_name": "B", "channel": "email", "email": "a@example.com"}))
        .await;
    assert_eq!(bad_id.status, 400);
    assert_eq!(bad_id.body["error"]["code"], "invalid_id");

    let account = "acct".parse().unwrap();
    assert!(app.runtime.store.get_recipient(&account, &"r1".parse().unwrap()).await.unwrap().is_none());
}

#[tokio::test]
async fn error_messages_never_echo_contact_details() {
    let app = spawn_app().await;
    let answer = app
        .put("acct", "/v1/recipients/r1", json!({"kind": "client", "first_name": "A", "last_name": "B", "channel": "sms", "phone": "+1 555 867 5309"}))
        .await;
    assert_eq!(answer.status, 422);
    assert!(!answer.body.to_string().contains("867"), "{}", answer.body);
    // A letter typed for a digit: the field and the reason, not the number.
    let answer = app
        .put("acct", "/v1/recipients/r1", json!({"kind": "client", "first_name": "A", "last_name": "B", "channel": "sms", "phone": "+1 202 555 O143"}))
        .await;
    assert_eq!((answer.status, answer.body["error"]["code"].as_str()), (422, Some("invalid_field")));
    let message = answer.body["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("phone: a phone or fax number takes digits only"), "{message}");
    assert!(!message.contains("O143") && !message.contains("202"), "{message}");
}

#[tokio::test]
async fn appointments_need_a_known_recipient_and_a_future_start() {
    let app = spawn_app().await;
    app.given_practice("acct").await;
    let unknown = app.book("acct", "a1", "nobody", t0() + Duration::days(2)).await;
    assert_eq!(unknown.status, 422);
    assert_eq!(unknown.body["error"]["code"], "unknown_recipient");

    app.given_email_client("acct", "r1").await;
    let past = app.book("acct", "a1", "r1", t0() - Duration::hours(1)).await;
    assert_eq!(past.status, 422);
    assert_eq!(past.body["error"]["code"], "start_in_past");

    let no_offset = app
        .put(
            "acct",
            "/v1/appointments/a1",
            json!({
                "recipient_id": "r1", "starts_at": "2026-12-05T10:00:00", "duration_minutes": 30,
                "provider": "Dr. Ruiz", "location": "Main St", "status": "booked",
            }),
        )
        .await;
    assert_eq!(no_offset.status, 422, "a start without an offset is ambiguous");

    let account = "acct".parse().unwrap();
    assert!(app.runtime.store.get_appointment(&account, &"a1".parse().unwrap()).await.unwrap().is_none());
    let listing = app.get("acct", "/v1/messages?appointment_id=a1").await;
    assert_eq!(listing.status, 404);
}

#[tokio::test]
async fn put_is_an_idempotent_upsert() {
    let app = spawn_app().await;
    app.given_practice("acct").await;
    app.given_email_client("acct", "r1").await;
    let start = t0() + Duration::days(3);
    let first = app.book("acct", "a1", "r1", start).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body["reminders_scheduled"], 1);
    let again = app.book("acct", "a1", "r1", start).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["reminders_scheduled"], 0);
    assert_eq!(again.body["reminders_withdrawn"], 0);
    let messages = app.messages("acct", "a1").await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["status"], "scheduled");
    assert_eq!(messages[0]["kind"], "appointment_reminder");
    assert_eq!(messages[0]["channel"], "email");
    assert_eq!(
        messages[0]["due_at"].as_str().unwrap(),
        (start - Duration::hours(24)).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    );
}

#[tokio::test]
async fn one_account_never_reads_or_changes_anothers_data() {
    let app = spawn_app().await;
    app.given_practice("alpha").await;
    app.given_email_client("alpha", "r1").await;
    assert_eq!(app.book("alpha", "a1", "r1", t0() + Duration::days(2)).await.status, 200);

    app.given_practice("beta").await;
    let listing = app.get("beta", "/v1/messages?appointment_id=a1").await;
    assert_eq!(listing.status, 404, "beta must not see alpha's appointment");
    let booking = app.book("beta", "a1", "r1", t0() + Duration::days(2)).await;
    assert_eq!(booking.status, 422, "beta cannot book alpha's recipient");
    assert_eq!(app.messages("alpha", "a1").await.len(), 1);
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let app = spawn_app().await;
    let doc = app.get("acct", "/v1/openapi.json").await;
    assert_eq!(doc.status, 200);
    let paths = doc.body["paths"].as_object().unwrap();
    let routes = [
        "/v1/settings",
        "/v1/recipients/{id}",
        "/v1/appointments/{id}",
        "/v1/invoices/{id}",
        "/v1/messages",
        "/v1/messages/{id}",
        "/v1/credit",
        "/v1/credit/purchases",
        "/v1/notifications",
        "/webhooks/fax/{provider}",
    ];
    for path in routes {
        assert!(paths.contains_key(path), "{path} missing from {:?}", paths.keys());
    }
    assert!(doc.body["components"]["schemas"]["RecipientBody"].is_object());
    assert!(doc.body["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn overlong_or_blank_text_is_refused_before_anything_is_written() {
    let app = spawn_app().await;
    app.given_practice("acct").await;
    app.given_email_client("acct", "r1").await;
    let start = t0() + Duration::days(2);
    assert_eq!(app.book("acct", "a1", "r1", start).await.status, 200);
    let answer = app
        .put(
            "acct",
            "/v1/appointments/a1",
            json!({
                "recipient_id": "r1", "starts_at": (start + Duration::hours(1)).to_rfc3339(), "duration_minutes": 30,
                "provider": "x".repeat(201), "location": "Main St", "status": "booked",
            }),
        )
        .await;
    assert_eq!(answer.status, 422);
    assert_eq!(answer.body["error"]["code"], "invalid_field");
    let messages = app.messages("acct", "a1").await;
    assert_eq!(messages.len(), 1, "the old reminder is untouched");
    assert_eq!(messages[0]["status"], "scheduled");

    let blank = app
        .put("acct", "/v1/recipients/r2", json!({"kind": "client", "first_name": " ", "last_name": "B", "channel": "email", "email": "b@example.com"}))
        .await;
    assert_eq!(blank.status, 422);
}

#[tokio::test]
async fn messages_filter_by_recipient_and_status() {
    let app = spawn_app().await;
    app.given_settings("acct", true, &[1440, 60]).await;
    app.given_email_client("acct", "r1").await;
    app.given_sms_client("acct", "r2").await;
    // a1: both reminders ahead; a2: the day-before reminder already passed.
    app.book("acct", "a1", "r1", t0() + Duration::days(2)).await;
    app.book("acct", "a2", "r2", t0() + Duration::hours(5)).await;

    let r1 = app.get("acct", "/v1/messages?recipient_id=r1").await;
    assert_eq!(r1.status, 200, "{}", r1.body);
    assert_eq!(r1.body["messages"].as_array().unwrap().len(), 2);
    let skipped = app.get("acct", "/v1/messages?status=skipped").await;
    let skipped = skipped.body["messages"].as_array().unwrap();
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0]["reason"], "too_late");
    let r2_scheduled = app.get("acct", "/v1/messages?recipient_id=r2&status=scheduled").await;
    assert_eq!(r2_scheduled.body["messages"].as_array().unwrap().len(), 1);
    let a1_skipped = app.get("acct", "/v1/messages?appointment_id=a1&status=skipped").await;
    assert!(a1_skipped.body["messages"].as_array().unwrap().is_empty());

    // Status moves with the message.
    app.move_clock(t0() + Duration::hours(5)).await;
    let sent = app.get("acct", "/v1/messages?status=sent").await;
    assert_eq!(sent.body["messages"].as_array().unwrap().len(), 1);
    assert!(app.get("acct", "/v1/messages?recipient_id=r2&status=scheduled").await.body["messages"]
        .as_array()
        .unwrap()
        .is_empty());

    assert_eq!(app.get("other", "/v1/messages?status=sent").await.body["messages"].as_array().unwrap().len(), 0);
    assert_eq!(app.get("acct", "/v1/messages?recipient_id=nobody").await.status, 404);
    assert_eq!(app.get("acct", "/v1/messages?status=bogus").await.status, 400);
    assert_eq!(app.get("acct", "/v1/messages").await.status, 400);
}

#[tokio::test]
async fn a_local_table_from_an_older_version_gets_the_indexes_it_lacks() {
    let dynamo = tidings_local::embedded::EmbeddedDynamo::start(None).await.unwrap();
    let client = dynamo.client();
    let template = tidings_local::template::Template::deployed().unwrap();
    let mut old = template.table("TidingsTable").unwrap().clone();
    old.global_secondary_indexes.truncate(2);
    let newer = ["recipient_key", "account_status", "lookup_key", "lookup_ms", "thread_key", "thread_at"];
    old.attribute_definitions.retain(|a| !newer.contains(&a.attribute_name.as_str()));
    old.create(&client, "OldTable").await.unwrap();
    template.table("TidingsTable").unwrap().create(&client, "OldTable").await.unwrap();
    let described = client.describe_table().table_name("OldTable").send().await.unwrap();
    let mut names: Vec<_> =
        described.table.unwrap().global_secondary_indexes.unwrap().into_iter().filter_map(|i| i.index_name).collect();
    names.sort();
    assert_eq!(names, ["by_recipient", "by_status", "by_subject", "due", "lookup", "thread"]);
}

#[tokio::test]
async fn a_practice_sends_only_as_the_senders_the_operator_assigned_it() {
    let app = spawn_app().await;
    let with_sender = json!({
        "practice_name": "Riverside Clinic", "practice_phone": "+12025550143", "time_zone": "America/New_York",
        "messaging_enabled": true, "senders": {"email_from": "front-desk@riverside.example", "sms_sender_id": "Riverside"},
    });
    let refused = app.put("acct", "/v1/settings", with_sender.clone()).await;
    assert_eq!(
        (refused.status, refused.body["error"]["code"].as_str()),
        (422, Some("unregistered_sender")),
        "{}",
        refused.body
    );

    let store = &app.runtime.store;
    let account = "acct".parse().unwrap();
    store.register_sender(Channel::Email, "Front-Desk@riverside.example", &account).await.unwrap();
    store.register_sender(Channel::Sms, "Riverside", &account).await.unwrap();
    assert_eq!(app.put("acct", "/v1/settings", with_sender.clone()).await.status, 200);
    let other = app.put("other", "/v1/settings", with_sender).await;
    assert_eq!(other.status, 422, "another practice cannot send as Riverside");

    app.given_email_client("acct", "r1").await;
    let start = t0() + Duration::days(2);
    app.book("acct", "a1", "r1", start).await;
    app.move_clock(start - Duration::days(1)).await;
    assert_eq!(app.outbox().await[0]["from"], "front-desk@riverside.example");
}
