//! A form's public page in a real browser: headless Chromium
//! (`tidings_e2e::browser`, JavaScript off, a phone's window) opens the
//! link from the form request in the local outbox, enters a wrong code,
//! then the right one, lands on the practice's form; once the form is
//! submitted, the link says it has ended.

use std::time::Duration as StdDuration;

use chrono::Duration;
use fantoccini::Locator;
use serde_json::json;
use tidings_e2e::browser::Browser;
use tidings_e2e::{spawn_app, t0};

#[tokio::test]
async fn a_recipient_opens_a_form_with_its_code_in_a_browser_without_javascript() {
    let app = spawn_app().await;
    app.given_practice("acct").await;
    app.given_email_client("acct", "ann").await;
    // The local runner stands in for the practice app's own form.
    let form_url = format!("{}/local/form", app.address);
    let body = json!({"recipient_id": "ann", "title": "New patient intake", "form_url": form_url});
    let form = app.post("acct", "/v1/forms", body).await.body;
    let id = form["id"].as_str().unwrap();
    app.move_clock(t0() + Duration::minutes(1)).await;

    // What the recipient has: the email's link and code.
    let outbox = app.outbox().await;
    let email = outbox.iter().find(|m| m["channel"] == "email").expect("the form request went");
    let text = email["body"].as_str().unwrap();
    let link = text.split_whitespace().find(|word| word.contains("/f/")).expect("a link in the email");
    let code = text.split("access code: ").nth(1).and_then(|rest| rest.get(..6)).expect("the code in the email");
    assert_eq!(code, form["access_code"].as_str().unwrap());

    let session = Browser::phone().await;
    let browser = &session.client;
    browser.goto(link).await.unwrap();
    let page = browser.find(Locator::Css("main")).await.unwrap().text().await.unwrap();
    assert!(page.contains("New patient intake") && page.contains("Riverside Clinic"), "{page}");
    assert!(session.fits("main").await && session.fits("input#access_code").await && session.fits("button").await);
    assert_eq!(app.get("acct", &format!("/v1/forms/{id}")).await.body["status"], "sent", "opening changes nothing");

    let wrong = if code == "000000" { "111111" } else { "000000" };
    browser.find(Locator::Css("input#access_code")).await.unwrap().send_keys(wrong).await.unwrap();
    browser.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
    let refused = browser
        .wait()
        .at_most(StdDuration::from_secs(20))
        .for_element(Locator::XPath("//main[contains(., 'That code is not right')]"))
        .await
        .expect("the page asks again");
    assert!(refused.text().await.unwrap().contains("4 tries left"));

    browser.find(Locator::Css("input#access_code")).await.unwrap().send_keys(code).await.unwrap();
    browser.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
    browser
        .wait()
        .at_most(StdDuration::from_secs(20))
        .for_element(Locator::XPath("//h1[contains(., \"The practice's form\")]"))
        .await
        .expect("on to the practice's form");
    let landed = browser.current_url().await.unwrap();
    assert!(landed.as_str().starts_with(&format!("{form_url}?access_token=")), "{landed}");
    let token = landed.query_pairs().find(|(name, _)| name == "access_token").unwrap().1.into_owned();
    let verified = app.get("acct", &format!("/v1/forms/{id}/verify?access_token={token}")).await;
    assert_eq!(verified.status, 200, "the practice app can check the token: {}", verified.body);

    let submitted = app.post("acct", &format!("/v1/forms/{id}/submitted"), json!({})).await;
    assert_eq!(submitted.status, 200);
    browser.goto(link).await.unwrap();
    let ended = browser.find(Locator::Css("main")).await.unwrap().text().await.unwrap();
    assert!(ended.contains("This link has ended") && ended.contains("The form was submitted"), "{ended}");
    session.client.clone().close().await.unwrap();
}
