//! Online forms and paperwork, end to end: `POST /v1/forms` sends a link
//! and an access code in a `form_request` message; the public page at the
//! link takes the code, refuses wrong ones, locks after five, hands on a
//! short-lived token the practice app verifies, and ends on submission,
//! revocation and expiry.

use chrono::Duration;
use serde_json::{json, Value};
use tidings_e2e::{spawn_app, t0, TestApp};

const FORM_URL: &str = "https://forms.riverside.example/intake";

async fn given_form(app: &TestApp, recipient: &str) -> Value {
    let body = json!({"recipient_id": recipient, "title": "New patient intake", "form_url": FORM_URL});
    let made = app.post("acct", "/v1/forms", body).await;
    assert_eq!(made.status, 201, "{}", made.body);
    made.body
}

/// The page, as a browser without redirects sees it: status, body, and
/// where it sends on.
async fn open(link: &str, code: Option<&str>) -> (u16, String, Option<String>) {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let request = match code {
        None => client.get(link),
        Some(code) => client
            .post(link)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("access_code={code}")),
    };
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let location = response.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
    (status, response.text().await.unwrap(), location)
}

fn link_of(app: &TestApp, form: &Value) -> String {
    let link = form["link"].as_str().unwrap();
    assert!(link.starts_with(&app.address), "the link is on the API's own address: {link}");
    link.to_owned()
}

fn wrong(code: &str) -> String {
    format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000)
}

#[tokio::test]
async fn a_link_opens_with_its_code_hands_on_a_token_and_ends_when_submitted() {
    let app = spawn_app().await;
    app.given_practice("acct").await;
    app.given_email_client("acct", "ann").await;
    let form = given_form(&app, "ann").await;
    let (id, code, link) = (form["id"].as_str().unwrap(), form["access_code"].as_str().unwrap(), link_of(&app, &form));
    assert_eq!(
        form["expires_at"].as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().unwrap(),
        t0() + Duration::days(14)
    );
    assert_eq!(form["status"], "sent");

    app.move_clock(t0() + Duration::minutes(1)).await;
    let outbox = app.outbox().await;
    let email = outbox.iter().find(|m| m["channel"] == "email").expect("the form request went");
    let body = email["body"].as_str().unwrap();
    assert!(body.contains(&link) && body.contains(code) && body.contains("New patient intake"), "{body}");
    assert_eq!(email["subject"], "Riverside Clinic: New patient intake");
    let message = app.get("acct", &format!("/v1/messages/{}", form["message_id"].as_str().unwrap())).await.body;
    assert_eq!((message["kind"].as_str(), message["status"].as_str()), (Some("form_request"), Some("sent")));

    let (status, page, _) = open(&link, None).await;
    assert_eq!(status, 200);
    assert!(page.contains("New patient intake") && page.contains("name=\"access_code\""), "{page}");
    let (status, page, location) = open(&link, Some(&wrong(code))).await;
    assert_eq!((status, location), (401, None));
    assert!(page.contains("That code is not right") && page.contains("4 tries left"), "{page}");

    let (status, _, location) = open(&link, Some(code)).await;
    assert_eq!(status, 303);
    let location = location.unwrap();
    let token = location.strip_prefix(&format!("{FORM_URL}?access_token=")).expect("on to the form with a token");
    let verified = app.get("acct", &format!("/v1/forms/{id}/verify?access_token={token}")).await;
    assert_eq!((verified.status, &verified.body["recipient_id"]), (200, &json!("ann")), "{}", verified.body);
    let forged = app.get("acct", &format!("/v1/forms/{id}/verify?access_token={token}x")).await;
    assert_eq!(forged.status, 401);
    assert_eq!(app.get("other", &format!("/v1/forms/{id}/verify?access_token={token}")).await.status, 401);
    let opened = app.get("acct", &format!("/v1/forms/{id}")).await.body;
    assert_eq!((opened["status"].as_str(), opened["wrong_codes"].as_u64()), (Some("opened"), Some(1)));
    assert!(opened["opened_at"].is_string());

    let submitted = app.post("acct", &format!("/v1/forms/{id}/submitted"), json!({})).await;
    assert_eq!((submitted.status, &submitted.body["status"]), (200, &json!("submitted")), "{}", submitted.body);
    let again = app.post("acct", &format!("/v1/forms/{id}/submitted"), json!({})).await;
    assert_eq!((again.status, &again.body["submitted_at"]), (200, &submitted.body["submitted_at"]));
    let kinds = app.get("acct", "/v1/notifications").await.body;
    let told = kinds["notifications"].as_array().unwrap().iter().filter(|n| n["kind"] == "form_submitted").count();
    assert_eq!(told, 1, "{kinds}");
    let (status, page, _) = open(&link, None).await;
    assert_eq!(status, 410);
    assert!(page.contains("This link has ended"), "{page}");
    assert_eq!(open(&link, Some(code)).await.0, 410, "a submitted form's code opens nothing");
    assert_eq!(app.post("acct", &format!("/v1/forms/{id}/revoke"), json!({})).await.status, 409);
}

#[tokio::test]
async fn five_wrong_codes_lock_a_link_and_staff_are_told() {
    let app = spawn_app().await;
    app.given_practice("acct").await;
    app.given_sms_client("acct", "ben").await;
    let form = given_form(&app, "ben").await;
    let (id, code, link) = (form["id"].as_str().unwrap(), form["access_code"].as_str().unwrap(), link_of(&app, &form));
    app.move_clock(t0() + Duration::minutes(1)).await;
    let text = app.outbox().await.into_iter().find(|m| m["channel"] == "sms").expect("the text went");
    assert!(text["body"].as_str().unwrap().contains(&link), "{text}");

    for tries_left in (1..5).rev() {
        let (status, page, _) = open(&link, Some(&wrong(code))).await;
        assert_eq!(status, 401);
        assert!(page.contains(&format!("{tries_left} tries left")), "{page}");
    }
    let (status, page, _) = open(&link, Some(&wrong(code))).await;
    assert_eq!(status, 410, "the fifth locks it");
    assert!(page.contains("locked"), "{page}");
    assert_eq!(open(&link, Some(code)).await.0, 410, "not even the right code opens it now");
    let locked = app.get("acct", &format!("/v1/forms/{id}")).await.body;
    assert_eq!((locked["status"].as_str(), locked["wrong_codes"].as_u64()), (Some("locked"), Some(5)));
    let notes = app.get("acct", "/v1/notifications").await.body;
    assert!(notes["notifications"].as_array().unwrap().iter().any(|n| n["kind"] == "form_locked"), "{notes}");
}

#[tokio::test]
async fn a_link_ends_after_its_days_and_a_revoked_one_is_never_sent() {
    let app = spawn_app().await;
    app.given_practice("acct").await;
    app.given_email_client("acct", "ann").await;
    let form = given_form(&app, "ann").await;
    let link = link_of(&app, &form);
    let revoked = given_form(&app, "ann").await;
    let answer = app.post("acct", &format!("/v1/forms/{}/revoke", revoked["id"].as_str().unwrap()), json!({})).await;
    assert_eq!((answer.status, &answer.body["status"]), (200, &json!("revoked")));
    app.move_clock(t0() + Duration::minutes(1)).await;
    let message = app.get("acct", &format!("/v1/messages/{}", revoked["message_id"].as_str().unwrap())).await.body;
    assert_eq!((message["status"].as_str(), message["reason"].as_str()), (Some("withdrawn"), Some("form_ended")));
    assert_eq!(app.outbox().await.len(), 1, "only the live form's message went");

    app.move_clock(t0() + Duration::days(14) - Duration::minutes(1)).await;
    assert_eq!(open(&link, None).await.0, 200);
    app.move_clock(t0() + Duration::days(14)).await;
    let (status, page, _) = open(&link, None).await;
    assert_eq!(status, 410);
    assert!(page.contains("expired"), "{page}");
    let expired = app.get("acct", &format!("/v1/forms/{}", form["id"].as_str().unwrap())).await.body;
    assert_eq!(expired["status"], "expired");
    assert_eq!(open(&format!("{}/f/nothing-here", app.address), None).await.0, 404);
}

#[tokio::test]
async fn bad_form_requests_change_nothing() {
    let app = spawn_app().await;
    app.given_practice("acct").await;
    app.given_email_client("acct", "ann").await;
    let refusals = [
        (json!({"recipient_id": "nobody", "title": "Intake", "form_url": FORM_URL}), 404, "unknown_recipient"),
        (json!({"recipient_id": "ann", "title": "Intake", "form_url": "http://forms.example"}), 422, "invalid_field"),
        (json!({"recipient_id": "ann", "title": " ", "form_url": FORM_URL}), 422, "invalid_field"),
        (
            json!({"recipient_id": "ann", "title": "Intake", "form_url": FORM_URL, "expires_in_days": 0}),
            422,
            "invalid_field",
        ),
        (
            json!({"recipient_id": "ann", "title": "Intake", "form_url": FORM_URL, "channel": "voice"}),
            422,
            "invalid_field",
        ),
        (
            json!({"recipient_id": "ann", "title": "Intake", "form_url": FORM_URL, "channel": "sms"}),
            422,
            "missing_address",
        ),
    ];
    for (body, status, code) in refusals {
        let answer = app.post("acct", "/v1/forms", body.clone()).await;
        assert_eq!(
            (answer.status, answer.body["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}: {}",
            answer.body
        );
    }
    assert_eq!(app.get("acct", "/v1/messages?recipient_id=ann").await.body["messages"], json!([]));
    assert_eq!(app.get("acct", "/v1/forms/nothing").await.status, 404);
}
