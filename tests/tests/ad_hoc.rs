//! Ad-hoc messages (`POST /v1/messages`), end to end: written by staff,
//! sent by the sweep and the delivery functions like any message, so credit,
//! consent, opt-out and quiet hours apply; one message per idempotency key.

use chrono::Duration;
use serde_json::{json, Value};
use tidings_e2e::{spawn_app, t0, TestApp};

const BEN: &str = "+12025550101";
/// The deployment's shared number, which Ben's replies reach.
const OUR_NUMBER: &str = "+12025550100";

fn ad_hoc(recipient: &str, key: &str, body: &str) -> Value {
    json!({"recipient_id": recipient, "body": body, "idempotency_key": key})
}

async fn message(app: &TestApp, id: &str) -> Value {
    let answer = app.get("acct", &format!("/v1/messages/{id}")).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body
}

async fn written(app: &TestApp, body: Value) -> String {
    let answer = app.post("acct", "/v1/messages", body).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    answer.body["id"].as_str().unwrap().to_owned()
}

fn texts_to_ben(outbox: &[Value]) -> Vec<&Value> {
    outbox.iter().filter(|m| m["channel"] == "sms" && m["to"] == BEN).collect()
}

#[tokio::test]
async fn an_ad_hoc_text_costs_credit_and_goes_once_per_key() {
    let app = spawn_app().await;
    app.given_practice("acct").await;
    app.given_sms_client("acct", "ben").await;
    let balance = app.get("acct", "/v1/credit").await.body["balance_cents"].as_i64().unwrap();

    // t0 is 09:00 in New York: it goes at once.
    let id = written(&app, ad_hoc("ben", "k-1", "Your lab results are in. Please call us.")).await;
    let again =
        app.post("acct", "/v1/messages", ad_hoc("ben", "k-1", "Your lab results are in. Please call us.")).await;
    assert_eq!(
        (again.status, again.body["id"].as_str()),
        (202, Some(id.as_str())),
        "the same request: the same message"
    );
    let other = app.post("acct", "/v1/messages", ad_hoc("ben", "k-1", "Something else")).await;
    assert_eq!(
        (other.status, other.body["error"]["code"].as_str()),
        (409, Some("idempotency_key_reused")),
        "{}",
        other.body
    );

    app.move_clock(t0() + Duration::minutes(1)).await;
    let outbox = app.outbox().await;
    let texts = texts_to_ben(&outbox);
    assert_eq!(texts.len(), 1, "{outbox:?}");
    assert_eq!(texts[0]["body"], "Riverside Clinic: Your lab results are in. Please call us.");
    let sent = message(&app, &id).await;
    assert_eq!((sent["kind"].as_str(), sent["status"].as_str()), (Some("ad_hoc"), Some("sent")), "{sent}");
    let cost = sent["cost_cents"].as_i64().unwrap();
    assert!(cost > 0, "{sent}");
    let after = app.get("acct", "/v1/credit").await.body["balance_cents"].as_i64().unwrap();
    assert_eq!(after, balance - cost);
}

#[tokio::test]
async fn a_text_written_at_night_waits_for_morning_unless_urgent_and_never_passes_an_opt_out() {
    let app = spawn_app().await;
    app.given_practice("acct").await;
    app.given_sms_client("acct", "ben").await;
    // 23:00 in New York.
    let night = t0() + Duration::hours(14);
    app.move_clock(night).await;
    let id = written(&app, ad_hoc("ben", "late", "We moved your visit to 10:00.")).await;
    let urgent = json!({"recipient_id": "ben", "body": "The clinic is closed tomorrow.", "urgent": true,
                        "idempotency_key": "urgent"});
    let urgent_id = written(&app, urgent).await;
    app.move_clock(night + Duration::minutes(1)).await;
    assert_eq!(message(&app, &urgent_id).await["status"], "sent");
    let held = message(&app, &id).await;
    assert_eq!((held["status"].as_str(), held["reason"].as_str()), (Some("held"), Some("quiet_hours")), "{held}");
    // 08:00 in New York.
    app.move_clock(night + Duration::hours(9)).await;
    assert_eq!(message(&app, &id).await["status"], "sent");

    // After STOP, even an urgent text does not go.
    let stop = app.post_local("/local/sms/inbound", json!({"from": BEN, "to": OUR_NUMBER, "body": "STOP"})).await;
    assert_eq!(stop.status, 200, "{}", stop.body);
    let after_stop = json!({"recipient_id": "ben", "body": "Are you there?", "urgent": true, "idempotency_key": "k-3"});
    let id = written(&app, after_stop).await;
    app.move_clock(night + Duration::hours(9) + Duration::minutes(2)).await;
    let skipped = message(&app, &id).await;
    assert_eq!((skipped["status"].as_str(), skipped["reason"].as_str()), (Some("skipped"), Some("opted_out")));
}

#[tokio::test]
async fn a_message_goes_on_the_channel_staff_chose_and_bad_requests_change_nothing() {
    let app = spawn_app().await;
    app.given_practice("acct").await;
    app.put(
        "acct",
        "/v1/recipients/ann",
        json!({"kind": "client", "first_name": "Ann", "last_name": "Lee",
                                                  "channel": "sms", "phone": "+12025550111",
                                                  "email": "ann@example.com"}),
    )
    .await;
    let email = json!({"recipient_id": "ann", "channel": "email", "subject": "Your forms",
                       "body": "Please bring your insurance card.", "idempotency_key": "e-1"});
    let id = written(&app, email).await;
    let voice = json!({"recipient_id": "ann", "channel": "voice", "body": "Please call the clinic.",
                       "idempotency_key": "v-1"});
    written(&app, voice).await;
    app.move_clock(t0() + Duration::minutes(1)).await;
    let outbox = app.outbox().await;
    let mail = outbox.iter().find(|m| m["channel"] == "email").expect("the email went");
    assert_eq!((mail["to"].as_str(), mail["subject"].as_str()), (Some("ann@example.com"), Some("Your forms")));
    assert!(mail["reply_to"].is_string(), "replies come back to the thread: {mail}");
    let call = outbox.iter().find(|m| m["channel"] == "voice").expect("the call was placed");
    assert!(call.get("keypad_reply").is_none(), "a written call takes no keypad reply: {call}");
    assert_eq!(message(&app, &id).await["status"], "sent");

    let refusals = [
        (json!({"recipient_id": "nobody", "body": "Hi", "idempotency_key": "x-1"}), 404, "unknown_recipient"),
        (
            json!({"recipient_id": "ann", "channel": "fax", "body": "Hi", "idempotency_key": "x-2"}),
            422,
            "missing_address",
        ),
        (json!({"recipient_id": "ann", "body": " ", "idempotency_key": "x-3"}), 422, "invalid_field"),
        (json!({"recipient_id": "ann", "body": "Hi", "idempotency_key": "a/b"}), 422, "invalid_field"),
        (json!({"recipient_id": "ann", "body": "Hi"}), 422, "invalid_field"),
    ];
    for (body, status, code) in refusals {
        let answer = app.post("acct", "/v1/messages", body.clone()).await;
        assert_eq!(
            (answer.status, answer.body["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}: {}",
            answer.body
        );
    }
    let listed = app.get("acct", "/v1/messages?recipient_id=ann").await.body;
    assert_eq!(listed["messages"].as_array().unwrap().len(), 2, "{listed}");
}

/// A real PDF: a fax letter as Tidings renders one (a cover and a page).
fn a_pdf() -> Vec<u8> {
    let content = tidings::domain::RenderedContent {
        to: "+12025550188".into(),
        body: "Lab results: within normal range.".into(),
        ..tidings::domain::RenderedContent::default()
    };
    tidings::channels::fax::pdf::render(&content).unwrap().bytes
}

fn attachment(filename: &str, content_type: &str, data: &[u8]) -> Value {
    use base64::Engine as _;
    json!({"filename": filename, "content_type": content_type,
           "content_base64": base64::engine::general_purpose::STANDARD.encode(data)})
}

#[tokio::test]
async fn documents_go_with_an_email_and_after_a_fax_s_letter_and_are_kept_apart_from_the_message() {
    let app = spawn_app().await;
    app.given_practice("acct").await;
    app.put(
        "acct",
        "/v1/recipients/dr",
        json!({"kind": "contact", "first_name": "Dr.", "last_name": "Ruiz",
                                                "channel": "fax", "fax": "+12025550188",
                                                "email": "ruiz@clinic.example"}),
    )
    .await;
    let pdf = a_pdf();
    let email = json!({"recipient_id": "dr", "channel": "email", "subject": "Referral", "body": "Please see attached.",
                       "attachments": [attachment("referral.pdf", "application/pdf", &pdf),
                                       attachment("scan.png", "image/png", b"\x89PNG\r\n\x1a\nrest")],
                       "idempotency_key": "ref-1"});
    let email_id = written(&app, email).await;
    let fax = json!({"recipient_id": "dr", "subject": "Referral", "body": "Please see the attached results.",
                     "attachments": [attachment("results.pdf", "application/pdf", &pdf)], "idempotency_key": "ref-2"});
    let fax_id = written(&app, fax).await;
    app.move_clock(t0() + Duration::minutes(1)).await;
    let outbox = app.outbox().await;
    let mail = outbox.iter().find(|m| m["channel"] == "email").expect("the email went");
    assert_eq!(mail["attachments"], json!(["referral.pdf", "scan.png"]), "{mail}");
    let faxed = outbox.iter().find(|m| m["channel"] == "fax").expect("the fax went");
    let attached = tidings::channels::fax::pdf::page_count(&tidings::domain::RenderedContent {
        to: "+12025550188".into(),
        body: String::new(),
        ..tidings::domain::RenderedContent::default()
    })
    .unwrap();
    assert!(faxed["pages"].as_u64().unwrap() > u64::from(attached), "the letter and the attached pages: {faxed}");
    for id in [email_id, fax_id] {
        assert_eq!(message(&app, &id).await["status"], "sent");
    }

    // The same key with another file is another message's content.
    let other = json!({"recipient_id": "dr", "channel": "email", "subject": "Referral", "body": "Please see attached.",
                       "attachments": [attachment("referral.pdf", "application/pdf", b"%PDF-1.4 other")],
                       "idempotency_key": "ref-1"});
    let reused = app.post("acct", "/v1/messages", other).await;
    assert_eq!(reused.status, 409, "{}", reused.body);

    let refusals = [
        json!({"recipient_id": "dr", "body": "Hi", "idempotency_key": "x-1",
               "attachments": [attachment("scan.png", "image/png", b"png")]}),
        json!({"recipient_id": "dr", "channel": "email", "body": "Hi", "idempotency_key": "x-2",
               "attachments": [attachment("notes.txt", "text/plain", b"text")]}),
        json!({"recipient_id": "dr", "channel": "email", "body": "Hi", "idempotency_key": "x-3",
               "attachments": [{"filename": "a.pdf", "content_type": "application/pdf", "content_base64": "not base64!"}]}),
        json!({"recipient_id": "dr", "channel": "email", "body": "Hi", "idempotency_key": "x-4",
               "attachments": [attachment("big.pdf", "application/pdf", &vec![b'x'; 3 * 1024 * 1024 + 1])]}),
    ];
    for body in refusals {
        let answer = app.post("acct", "/v1/messages", body).await;
        assert_eq!(
            (answer.status, answer.body["error"]["code"].as_str()),
            (422, Some("invalid_field")),
            "{}",
            answer.body
        );
    }
    app.given_sms_client("acct", "ben").await;
    let by_text = json!({"recipient_id": "ben", "body": "Hi", "idempotency_key": "x-5",
                         "attachments": [attachment("a.pdf", "application/pdf", &pdf)]});
    assert_eq!(app.post("acct", "/v1/messages", by_text).await.status, 422);
}
