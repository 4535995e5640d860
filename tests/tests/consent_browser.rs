//! The public consent page in a real browser: headless Chromium
//! (`tidings_e2e::browser`) opens the link of the opt-in email in the local
//! outbox with JavaScript turned off, on a phone-sized window, clicks
//! Confirm, and the reminder that waited for consent goes out.

use std::time::Duration as StdDuration;

use chrono::Duration;
use fantoccini::Locator;
use serde_json::json;
use tidings_e2e::browser::Browser;
use tidings_e2e::{spawn_app, t0};

#[tokio::test]
async fn a_recipient_confirms_in_a_browser_without_javascript_and_the_held_reminder_goes() {
    let app = spawn_app().await;
    app.given_settings_with(
        "acct",
        json!({"opt_in": {"required": true, "privacy_policy_url": "https://riverside.example/privacy",
                          "privacy_policy_version": "2026-01"}}),
    )
    .await;
    app.given_email_client("acct", "ann").await;
    let start = t0() + Duration::days(2);
    app.book("acct", "a1", "ann", start).await;
    let due = start - Duration::hours(24);
    app.move_clock(due).await;
    assert_eq!(app.messages("acct", "a1").await[0]["reason"], "awaiting_opt_in");
    let link = app.consent_link().await;

    let session = Browser::phone().await;
    let browser = &session.client;
    browser.goto(&link).await.unwrap();
    let page = browser.find(Locator::Css("main")).await.unwrap().text().await.unwrap();
    assert!(page.contains("Messages from Riverside Clinic"), "{page}");
    assert!(page.contains("I agree to get appointment messages by email from Riverside Clinic"), "{page}");
    let policy = browser.find(Locator::LinkText("privacy policy")).await.unwrap();
    assert_eq!(policy.attr("href").await.unwrap().as_deref(), Some("https://riverside.example/privacy"));
    // Readable on a phone: everything within the screen's width, nothing
    // to scroll sideways for.
    assert!(session.fits("button[type=submit]").await && session.fits("main").await);
    let confirm = browser.find(Locator::Css("button[type=submit]")).await.unwrap();
    let record = app.get("acct", "/v1/recipients/ann/consent").await.body;
    assert_eq!(record["channels"]["email"]["state"], "requested", "opening the page changes nothing");

    confirm.click().await.unwrap();
    // The form's answer is a new page: waited for by what it says.
    let thanks = browser
        .wait()
        .at_most(StdDuration::from_secs(20))
        .for_element(Locator::XPath("//main[contains(., 'Your consent is recorded')]"))
        .await
        .expect("the thank-you page");
    assert!(thanks.text().await.unwrap().contains("Riverside Clinic can now send you appointment messages"));
    session.client.clone().close().await.unwrap();

    let record = app.get("acct", "/v1/recipients/ann/consent").await.body;
    assert_eq!(record["channels"]["email"]["state"], "granted", "{record}");
    assert_eq!(record["channels"]["email"]["method"], "email_link");
    app.move_clock(due + Duration::minutes(1)).await;
    assert_eq!(app.messages("acct", "a1").await[0]["status"], "sent", "the held reminder went");
    let subjects: Vec<String> =
        app.outbox().await.iter().filter_map(|m| m["subject"].as_str().map(str::to_owned)).collect();
    assert_eq!(subjects.len(), 2, "the request and the reminder: {subjects:?}");
    assert!(subjects[1].contains("reminder"), "{subjects:?}");
}
