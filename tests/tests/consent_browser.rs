//! The public consent page in a real browser: headless Chromium (Debian's
//! `chromium`, driven through its `chromedriver`; `infra/test.sh` installs
//! both when missing) opens the link of the opt-in email in the local
//! outbox with JavaScript turned off, on a phone-sized window, clicks
//! Confirm, and the reminder that waited for consent goes out.

use std::process::{Child, Command, Stdio};
use std::time::Duration as StdDuration;

use chrono::Duration;
use fantoccini::{ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use tidings_e2e::{spawn_app, t0};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// A phone's viewport, in CSS pixels.
const PHONE_WIDTH: u32 = 390;
const PHONE_HEIGHT: u32 = 844;

/// chromedriver on a free loopback port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    async fn start() -> Self {
        assert!(
            std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists(),
            "Debian's chromium and chromium-driver are needed: infra/test.sh installs them"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        // Owned at once, so that it is stopped (and reaped) however this ends.
        let driver = Self { child, url: format!("http://127.0.0.1:{port}") };
        for _ in 0..100 {
            if reqwest::get(format!("{}/status", driver.url)).await.is_ok_and(|r| r.status().is_success()) {
                return driver;
            }
            tokio::time::sleep(StdDuration::from_millis(100)).await;
        }
        panic!("chromedriver did not answer on {}", driver.url);
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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

    let driver = Driver::start().await;
    let profile = tempfile::tempdir().unwrap();
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", format!("--user-data-dir={}", profile.path().display()),
                format!("--window-size={},{}", PHONE_WIDTH, PHONE_HEIGHT),
            ],
            // The page must work with scripts off.
            "prefs": {"profile.managed_default_content_settings.javascript": 2},
            "mobileEmulation": {"deviceMetrics": {"width": PHONE_WIDTH, "height": PHONE_HEIGHT, "pixelRatio": 3.0}},
        }),
    );
    let browser = ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a Chromium session");

    browser.goto(&link).await.unwrap();
    let page = browser.find(Locator::Css("main")).await.unwrap().text().await.unwrap();
    assert!(page.contains("Messages from Riverside Clinic"), "{page}");
    assert!(page.contains("I agree to get appointment messages by email from Riverside Clinic"), "{page}");
    let policy = browser.find(Locator::LinkText("privacy policy")).await.unwrap();
    assert_eq!(policy.attr("href").await.unwrap().as_deref(), Some("https://riverside.example/privacy"));
    // Readable on a phone: everything within the screen's width, nothing
    // to scroll sideways for.
    let confirm = browser.find(Locator::Css("button[type=submit]")).await.unwrap();
    let screen = f64::from(PHONE_WIDTH);
    let (x, _, width, _) = confirm.rectangle().await.unwrap();
    assert!(x >= 0.0 && x + width <= screen, "Confirm at {x} wide {width}");
    let (x, _, width, _) = browser.find(Locator::Css("main")).await.unwrap().rectangle().await.unwrap();
    assert!(x >= 0.0 && x + width <= screen, "the text at {x} wide {width}");
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
    browser.close().await.unwrap();

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
