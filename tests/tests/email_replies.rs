//! Replies by email and fax, end to end: an email to the `reply+TOKEN@`
//! address the reminder carried, stored as SES's receipt rule stores it and
//! read by `ingest-replies`; a fax received by the provider and announced
//! by its signed webhook through the API's route.

use chrono::Duration;
use serde_json::{json, Value};
use tidings_e2e::{spawn_app, t0, TestApp};

/// The reply address in the fixtures, replaced with the one the outbox shows.
const FIXTURE_REPLY_TO: &str = "reply+7f3c9a2e5b1d4086a9e2c71b3f5d8e04@replies.example.com";

async fn reminded_by_email(app: &TestApp) -> String {
    app.given_practice("acct").await;
    app.given_email_client("acct", "ann").await;
    let start = t0() + Duration::days(2);
    app.book("acct", "a1", "ann", start).await;
    app.move_clock(start - Duration::hours(24)).await;
    let outbox = app.outbox().await;
    let email = outbox.iter().find(|m| m["channel"] == "email").expect("the reminder went");
    email["reply_to"].as_str().expect("a reply address").to_owned()
}

fn fixture(name: &str, reply_to: &str) -> Vec<u8> {
    let path = format!("{}/../shared/tests/fixtures/mime/{name}", env!("CARGO_MANIFEST_DIR"));
    let raw = std::fs::read(path).unwrap();
    // The fixtures are ASCII headers over bytes of any charset: replace in bytes.
    let (from, to) = (FIXTURE_REPLY_TO.as_bytes(), reply_to.as_bytes());
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw.as_slice();
    while let Some(at) = rest.windows(from.len()).position(|w| w == from) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(to);
        rest = &rest[at + from.len()..];
    }
    out.extend_from_slice(rest);
    out
}

#[tokio::test]
async fn an_emailed_reply_with_a_pdf_shows_in_the_thread_with_its_attachment_retrievable() {
    let app = spawn_app().await;
    let reply_to = reminded_by_email(&app).await;
    assert!(reply_to.starts_with("reply+") && reply_to.ends_with("@replies.tidings.test"), "{reply_to}");

    let (status, report) = app.post_email(fixture("attachments_reply.eml", &reply_to)).await;
    assert_eq!((status, &report["recorded"]), (200, &json!(1)), "{report}");

    let thread = app.get("acct", "/v1/recipients/ann/thread").await.body;
    let reply = &thread["entries"][0];
    assert_eq!(reply["direction"], "inbound");
    assert_eq!(reply["channel"], "email");
    assert_eq!(reply["body"], "Here are my lab results from last week and a photo of my insurance card.");
    assert_eq!(reply["in_reply_to"], thread["entries"][1]["id"]);
    let attachments = reply["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 2, "{attachments:?}");
    assert_eq!(attachments[0]["content_type"], "application/pdf");

    let id = reply["id"].as_str().unwrap();
    let url = format!("{}/v1/replies/{id}/attachments/a1", app.address);
    let download = app.http.get(&url).bearer_auth(app.token("acct")).send().await.unwrap();
    assert_eq!(download.status(), 200);
    assert_eq!(download.headers()["content-type"], "application/pdf");
    assert!(download.headers()["content-disposition"].to_str().unwrap().starts_with("attachment;"));
    let bytes = download.bytes().await.unwrap();
    assert!(bytes.starts_with(b"%PDF"));
    assert_eq!(bytes.len() as u64, attachments[0]["size"].as_u64().unwrap());

    let foreign = app.http.get(&url).bearer_auth(app.token("other")).send().await.unwrap();
    assert_eq!(foreign.status(), 404, "another practice cannot read it");
    let missing = app.get("acct", &format!("/v1/replies/{id}/attachments/a9")).await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn an_email_to_an_unknown_token_is_not_kept_and_a_non_message_is_refused() {
    let app = spawn_app().await;
    reminded_by_email(&app).await;
    let (status, report) =
        app.post_email(fixture("gmail_reply.eml", "reply+00000000000000000000000000000000@replies.tidings.test")).await;
    assert_eq!((status, &report["unroutable"]), (200, &json!(1)), "{report}");
    let thread = app.get("acct", "/v1/recipients/ann/thread").await.body;
    assert!(thread["entries"].as_array().unwrap().iter().all(|e| e["direction"] == "outbound"));

    let (status, _) = app.post_email(b"no headers here".to_vec()).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn an_email_unsubscribe_opts_the_address_out_of_email() {
    let app = spawn_app().await;
    let reply_to = reminded_by_email(&app).await;
    let raw = format!(
        "From: Ann Lee <ann@example.com>\r\nTo: <{reply_to}>\r\nSubject: Unsubscribe\r\n\
         Message-ID: <u1@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n\r\n"
    );
    let (status, report) = app.post_email(raw.into_bytes()).await;
    assert_eq!((status, &report["recorded"]), (200, &json!(1)), "{report}");
    let thread = app.get("acct", "/v1/recipients/ann/thread").await.body;
    assert_eq!(thread["entries"][0]["action"], "opted_out");

    app.book("acct", "a2", "ann", t0() + Duration::days(4)).await;
    app.move_clock(t0() + Duration::days(4)).await;
    let emails = app.outbox().await.into_iter().filter(|m| m["channel"] == "email").count();
    assert_eq!(emails, 1, "nothing more by email");
    let skipped = app.messages("acct", "a2").await;
    assert_eq!(skipped[0]["reason"], "opted_out", "{skipped:?}");
}

#[tokio::test]
async fn a_fax_from_a_client_lands_in_their_thread_as_a_pdf_once() {
    let app = spawn_app().await;
    app.given_practice("acct").await;
    app.given_fax_client("acct", "clinic").await;
    let start = t0() + Duration::days(2);
    app.book("acct", "a1", "clinic", start).await;
    app.move_clock(start - Duration::hours(24)).await;
    assert_eq!(app.outbox().await.len(), 1, "the reminder was faxed");

    use base64::Engine as _;
    let pdf = b"%PDF-1.4\n% a faxed referral\n%%EOF\n".to_vec();
    let pdf_base64 = base64::engine::general_purpose::STANDARD.encode(&pdf);
    // The fax went from the deployment's number to Dr. Lee's; the answer comes back.
    let received = app
        .post_local(
            "/local/fax/inbound",
            json!({"from": "+12025550188", "to": tidings_local::runtime::LOCAL_FAX_NUMBER, "pdf_base64": pdf_base64}),
        )
        .await;
    assert_eq!(received.status, 200, "{}", received.body);

    let thread = app.get("acct", "/v1/recipients/clinic/thread").await.body;
    let reply = &thread["entries"][0];
    assert_eq!(reply["direction"], "inbound", "{thread}");
    assert_eq!(reply["channel"], "fax");
    assert_eq!(reply["action"], "for_staff");
    assert_eq!(reply["attachments"][0]["filename"], "fax.pdf");
    let id = reply["id"].as_str().unwrap();
    let download = app
        .http
        .get(format!("{}/v1/replies/{id}/attachments/a1", app.address))
        .bearer_auth(app.token("acct"))
        .send()
        .await
        .unwrap();
    assert_eq!(download.bytes().await.unwrap().as_ref(), pdf.as_slice());
    let notified = app.get("acct", "/v1/notifications").await.body;
    let new_replies = notified["notifications"].as_array().unwrap().iter().filter(|n| n["kind"] == "new_reply").count();
    assert_eq!(new_replies, 1);
}

#[tokio::test]
async fn a_retried_fax_webhook_is_applied_once_and_a_forged_one_changes_nothing() {
    let app = spawn_app().await;
    app.given_practice("acct").await;
    app.given_fax_client("acct", "clinic").await;
    app.book("acct", "a1", "clinic", t0() + Duration::days(2)).await;
    app.move_clock(t0() + Duration::days(1)).await;

    let from = "+12025550188".parse().unwrap();
    let to = tidings_local::runtime::LOCAL_FAX_NUMBER.parse().unwrap();
    let pdf = b"%PDF-1.4\n% page one\n%%EOF\n".to_vec();
    let received = tidings_local::fax::receive(&app.runtime, &from, &to, pdf).await.unwrap();
    assert_eq!(received.webhook["outcome"], "recorded", "{}", received.webhook);
    let retry = tidings_local::fax::post_webhook(&app.runtime, received.webhook_body.clone()).await.unwrap();
    assert_eq!(retry.status(), 200, "a retry is acknowledged, so the provider stops");

    let forged = app
        .http
        .post(format!("{}/webhooks/fax/telnyx", app.address))
        .header("content-type", "application/json")
        .header("telnyx-timestamp", t0().timestamp().to_string())
        .header("telnyx-signature-ed25519", "AAAA")
        .body(received.webhook_body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);

    let thread = app.get("acct", "/v1/recipients/clinic/thread").await.body;
    let inbound = thread["entries"].as_array().unwrap().iter().filter(|e| e["direction"] == "inbound").count();
    assert_eq!(inbound, 1, "one reply however often it was posted: {thread}");
}

/// SES's Lambda action's event about a stored email, as the receipt rule sends it.
fn receipt(message_id: &str, recipient: &str, spam: &str) -> Value {
    json!({"Records": [{
        "eventSource": "aws:ses",
        "eventVersion": "1.0",
        "ses": {
            "mail": {"timestamp": t0(), "source": "maria.lopez@example.com", "messageId": message_id,
                     "destination": [recipient]},
            "receipt": {"timestamp": t0(), "processingTimeMillis": 310, "recipients": [recipient],
                        "spamVerdict": {"status": spam}, "virusVerdict": {"status": "PASS"},
                        "action": {"type": "Lambda", "invocationType": "Event",
                                   "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:ingest-replies"}},
        },
    }]})
}

#[tokio::test]
async fn a_retried_ses_invocation_is_applied_once_and_spam_is_not_kept() {
    use tidings::channels::blobs::{BlobKey, BlobStore as _};
    let app = spawn_app().await;
    let reply_to = reminded_by_email(&app).await;
    for id in ["4k2v0c8e1r7ld5n0b9g6hq3j5t2m8p1f0s7a6u9c", "spam0c8e1r7ld5n0b9g6hq3j5t2m8p1f0s7a6u9c"] {
        let key = BlobKey::inbound_email(tidings_local::runtime::INBOUND_EMAIL_PREFIX, id).unwrap();
        app.runtime.blobs.put(&key, fixture("gmail_reply.eml", &reply_to), "message/rfc822").await.unwrap();
    }
    let event = receipt("4k2v0c8e1r7ld5n0b9g6hq3j5t2m8p1f0s7a6u9c", &reply_to, "PASS");
    let first = app.runtime.invoke_ingest_replies(event.clone()).await.unwrap();
    let second = app.runtime.invoke_ingest_replies(event).await.unwrap();
    assert_eq!((first.recorded, second.recorded, second.repeated), (1, 0, 1));
    let spam = receipt("spam0c8e1r7ld5n0b9g6hq3j5t2m8p1f0s7a6u9c", &reply_to, "FAIL");
    assert_eq!(app.runtime.invoke_ingest_replies(spam).await.unwrap().refused, 1);

    let thread = app.get("acct", "/v1/recipients/ann/thread").await.body;
    let inbound: Vec<&Value> =
        thread["entries"].as_array().unwrap().iter().filter(|e| e["direction"] == "inbound").collect();
    assert_eq!(inbound.len(), 1, "{thread}");
    assert!(inbound[0]["body"].as_str().unwrap().starts_with("Yes, I'll be there."), "{}", inbound[0]["body"]);
    assert_eq!(inbound[0]["subject"], "Re: Your appointment at Riverside Clinic on Friday, December 4");
}
