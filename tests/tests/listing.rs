//! `GET /v1/messages` in pages: a page holds at most `limit` messages, its
//! `next_cursor` resumes where it ended, and a cursor resumes only the
//! listing that gave it out.

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine as _;
use chrono::Duration;
use serde_json::{json, Value};
use tidings_e2e::{spawn_app, t0, TestApp};
use tidings_local::embedded::{client_for, RequestCounter};
use tidings_local::runtime::TABLE;

/// Every page of a listing, following `next_cursor` to the end.
async fn pages(app: &TestApp, account: &str, query: &str) -> Vec<Vec<Value>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let target = match &cursor {
            Some(cursor) => format!("/v1/messages?{query}&cursor={cursor}"),
            None => format!("/v1/messages?{query}"),
        };
        let answer = app.get(account, &target).await;
        assert_eq!(answer.status, 200, "{target}: {}", answer.body);
        pages.push(answer.body["messages"].as_array().cloned().unwrap_or_default());
        match answer.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return pages,
        }
        assert!(pages.len() < 50, "{query}: the listing does not end");
    }
}

fn ids(messages: &[Value]) -> Vec<String> {
    messages.iter().map(|m| m["id"].as_str().unwrap_or_default().to_owned()).collect()
}

/// r1 has 20 messages: three appointments with five reminders each ahead,
/// and one so soon that four of its five are skipped.
async fn twenty_messages(app: &TestApp, account: &str) {
    app.given_settings(account, true, &[2880, 1440, 720, 360, 60]).await;
    app.given_email_client(account, "r1").await;
    for (id, days) in [("a1", 3), ("a2", 4), ("a3", 5)] {
        assert_eq!(app.book(account, id, "r1", t0() + Duration::days(days)).await.status, 200);
    }
    assert_eq!(app.book(account, "a4", "r1", t0() + Duration::hours(5)).await.status, 200);
}

#[tokio::test]
async fn messages_are_listed_in_pages_that_resume_where_the_last_ended() {
    let app = spawn_app().await;
    twenty_messages(&app, "acct").await;

    let whole = app.get("acct", "/v1/messages?recipient_id=r1&limit=200").await;
    assert_eq!(whole.body["next_cursor"], Value::Null);
    let whole = ids(whole.body["messages"].as_array().unwrap());
    assert_eq!(whole.len(), 20);

    let paged = pages(&app, "acct", "recipient_id=r1&limit=6").await;
    assert!(paged.iter().all(|page| page.len() <= 6), "{paged:?}");
    assert_eq!(paged.iter().map(Vec::len).take(3).collect::<Vec<_>>(), [6, 6, 6]);
    assert_eq!(ids(&paged.concat()), whole, "the pages together are the listing, in due order, once each");

    // A filter drops messages after DynamoDB's limit: pages are filled anyway.
    let skipped = pages(&app, "acct", "recipient_id=r1&status=skipped&limit=3").await;
    assert_eq!(skipped[0].len(), 3);
    let skipped = skipped.concat();
    assert_eq!(skipped.len(), 4);
    assert!(skipped.iter().all(|m| m["status"] == "skipped"));

    // A status's messages are spread over several partitions, read
    // together and merged: still in due order, each once.
    let scheduled = pages(&app, "acct", "status=scheduled&limit=5").await.concat();
    assert_eq!(scheduled.len(), 16);
    let due: Vec<&str> = scheduled.iter().map(|m| m["due_at"].as_str().unwrap_or_default()).collect();
    assert!(due.windows(2).all(|pair| pair[0] <= pair[1]), "{due:?}");
    let mut unique = ids(&scheduled);
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 16);
    let a1 = pages(&app, "acct", "appointment_id=a1&limit=2").await;
    assert_eq!(a1.concat().len(), 5);
    assert_eq!(
        app.get("acct", "/v1/messages?recipient_id=r1").await.body["messages"].as_array().unwrap().len(),
        20,
        "50 by default"
    );
}

#[tokio::test]
async fn a_cursor_resumes_only_the_listing_that_gave_it() {
    let app = spawn_app().await;
    twenty_messages(&app, "acct").await;
    twenty_messages(&app, "other").await;
    app.given_email_client("acct", "r2").await;
    let first = app.get("acct", "/v1/messages?recipient_id=r1&limit=2").await;
    let cursor = first.body["next_cursor"].as_str().expect("a next page").to_owned();

    let refused = |answer: tidings_e2e::Answer, what: &str| {
        assert_eq!(
            (answer.status, answer.body["error"]["code"].as_str()),
            (400, Some("invalid_cursor")),
            "{what}: {}",
            answer.body
        );
    };
    refused(app.get("acct", &format!("/v1/messages?recipient_id=r2&cursor={cursor}")).await, "another recipient");
    refused(app.get("acct", &format!("/v1/messages?status=scheduled&cursor={cursor}")).await, "another listing");
    refused(app.get("other", &format!("/v1/messages?recipient_id=r1&cursor={cursor}")).await, "another account");
    refused(app.get("acct", "/v1/messages?recipient_id=r1&cursor=not-a-cursor").await, "garbage");
    refused(app.get("acct", &format!("/v1/messages?recipient_id=r1&cursor={}", "A".repeat(4000))).await, "over-long");

    // A cursor names message ids, which are read as this account's: one
    // made up to name another account's message reads only this listing.
    let forged = json!({
        "of": "ACCOUNT#acct#RECIPIENT#r1",
        "at": [["2026-12-02T14:00:00Z", "a1~reminder~2880~1765116000"]],
    });
    let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged.to_string());
    let resumed = app.get("acct", &format!("/v1/messages?recipient_id=r1&cursor={forged}&limit=200")).await;
    assert_eq!(resumed.status, 200, "{}", resumed.body);
    let mine = app.get("acct", "/v1/messages?recipient_id=r1&limit=200").await;
    let mine = ids(mine.body["messages"].as_array().unwrap());
    let resumed = ids(resumed.body["messages"].as_array().unwrap());
    assert!(!resumed.is_empty() && resumed.iter().all(|id| mine.contains(id)), "{resumed:?}");
    let forged =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"of":"ACCOUNT#acct#RECIPIENT#r1","at":[]}"#);
    refused(app.get("acct", &format!("/v1/messages?recipient_id=r1&cursor={forged}")).await, "no position");

    for limit in ["0", "201", "-1", "many"] {
        let answer = app.get("acct", &format!("/v1/messages?recipient_id=r1&limit={limit}")).await;
        assert_eq!(answer.status, 400, "limit={limit}: {}", answer.body);
    }
    let resumed = app.get("acct", &format!("/v1/messages?recipient_id=r1&limit=2&cursor={cursor}")).await;
    assert_eq!(resumed.status, 200, "{}", resumed.body);
}

#[tokio::test]
async fn messages_that_changed_status_before_by_status_was_sharded_are_still_listed() {
    let app = spawn_app().await;
    twenty_messages(&app, "acct").await;
    let before = ids(&pages(&app, "acct", "status=scheduled&limit=7").await.concat());
    assert_eq!(before.len(), 16);
    // Three messages put back where an older version kept them: one
    // partition per account and status.
    let client = client_for(&app.runtime.dynamo.endpoint(), &RequestCounter::default());
    for id in &before[..3] {
        client
            .update_item()
            .table_name(TABLE)
            .key("PK", AttributeValue::S(format!("ACCOUNT#acct#MESSAGE#{id}")))
            .key("SK", AttributeValue::S("MESSAGE".into()))
            .update_expression("SET account_status = :old")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":old", AttributeValue::S("ACCOUNT#acct#STATUS#scheduled".into()))
            .send()
            .await
            .unwrap();
    }
    let after = ids(&pages(&app, "acct", "status=scheduled&limit=7").await.concat());
    let (mut before, mut after) = (before, after);
    before.sort();
    after.sort();
    assert_eq!(after, before, "each message once, wherever its status key was written");
}

#[tokio::test]
async fn a_message_written_while_a_client_pages_through_a_status_is_on_a_later_page() {
    let app = spawn_app().await;
    twenty_messages(&app, "acct").await;
    let first = app.get("acct", "/v1/messages?status=scheduled&limit=15").await;
    assert_eq!(first.status, 200, "{}", first.body);
    let cursor = first.body["next_cursor"].as_str().expect("a 16th message").to_owned();

    // Five reminders due after every message listed so far, spread over
    // the shards, most of which the first page read to their end.
    assert_eq!(app.book("acct", "a5", "r1", t0() + Duration::days(9)).await.status, 200);
    let later = app.get("acct", &format!("/v1/messages?status=scheduled&limit=200&cursor={cursor}")).await;
    assert_eq!(later.status, 200, "{}", later.body);
    assert_eq!(later.body["next_cursor"], Value::Null);
    let later = ids(later.body["messages"].as_array().unwrap());
    assert_eq!(later.len(), 6, "the 16th message and the five new ones: {later:?}");
    assert_eq!(later.iter().filter(|id| id.starts_with("a5~")).count(), 5, "{later:?}");
}
