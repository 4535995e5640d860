//! What staff must know: read state, and paging by any notification's id.

use chrono::Duration;
use serde_json::json;
use tidings_e2e::{spawn_app, t0};

#[tokio::test]
async fn a_notification_marked_read_leaves_the_unread_list_and_stays_in_the_whole() {
    let app = spawn_app().await;
    app.given_practice("acct").await;
    app.given_sms_client("acct", "ben").await;
    let start = t0() + Duration::days(2);
    app.book("acct", "a1", "ben", start).await;
    app.move_clock(start - Duration::hours(24)).await;
    for body in ["Running 10 minutes late", "Can I bring my son?"] {
        let text = json!({"from": "+12025550101", "to": "+12025550100", "body": body});
        assert_eq!(app.post_local("/local/sms/inbound", text).await.status, 200);
    }
    let unread = app.get("acct", "/v1/notifications?unread=true").await.body;
    let listed = unread["notifications"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{unread}");
    assert!(listed.iter().all(|n| n["kind"] == "new_reply" && n["read"] == false));
    let first = listed[0]["id"].as_str().unwrap().to_owned();

    let read = app.post("acct", &format!("/v1/notifications/{first}/read"), json!({})).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.body["read"], true);
    let again = app.post("acct", &format!("/v1/notifications/{first}/read"), json!({})).await;
    assert_eq!(again.status, 200, "marking it again changes nothing");

    let unread = app.get("acct", "/v1/notifications?unread=true").await.body;
    assert_eq!(unread["notifications"].as_array().unwrap().len(), 1, "{unread}");
    let all = app.get("acct", "/v1/notifications").await.body;
    let all = all["notifications"].as_array().unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all.iter().find(|n| n["id"] == first.as_str()).unwrap()["read"], true);

    // A reply's notification is named by the reply: pages go on from it.
    let at = all[0]["at"].as_str().unwrap();
    let page = app
        .get("acct", &format!("/v1/notifications?limit=1&before_at={at}&before_id={}", all[0]["id"].as_str().unwrap()))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.body["notifications"][0]["id"], all[1]["id"]);

    let unknown = app.post("acct", "/v1/notifications/nothing-here/read", json!({})).await;
    assert_eq!((unknown.status, &unknown.body["error"]["code"]), (404, &json!("unknown_notification")));
    let elsewhere = app.post("other", &format!("/v1/notifications/{first}/read"), json!({})).await;
    assert_eq!(elsewhere.status, 404, "another practice's notification is not found");
}

#[tokio::test]
async fn staff_email_links_into_the_app_are_https_templates() {
    let app = spawn_app().await;
    let links = json!({"app_links": {"message": "https://app.riverside.example/messages/{message_id}",
                                     "recipient": "https://app.riverside.example/clients/{recipient_id}"}});
    app.given_settings_with("acct", links.clone()).await;
    let mut body = json!({"practice_name": "Riverside Clinic", "practice_phone": "+12025550143",
                          "time_zone": "America/New_York", "messaging_enabled": true});
    body["app_links"] = json!({"message": "http://app.riverside.example/{message_id}"});
    let refused = app.put("acct", "/v1/settings", body).await;
    assert_eq!((refused.status, &refused.body["error"]["code"]), (422, &json!("invalid_settings")), "{}", refused.body);
}
