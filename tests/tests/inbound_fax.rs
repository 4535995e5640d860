//! The local fax provider receives a fax: its PDF is served behind a media
//! link as Telnyx serves one, and its signed `fax.received` is accepted by
//! the API's real webhook route. (What the API then does with it belongs to
//! the replies service.)

use base64::Engine as _;
use chrono::Duration;
use serde_json::{json, Value};
use tidings::channels::fax::telnyx::{MediaHosts, TelnyxMedia};
use tidings::channels::fax::{FaxMedia, InboundFax};
use tidings_e2e::{spawn_app, TestApp};
use tidings_local::runtime::LOCAL_FAX_NUMBER;

const PDF: &[u8] = b"%PDF-1.4\n%a referral faxed to the practice\n%%EOF\n";

fn inbound(pdf: &[u8]) -> Value {
    json!({
        "from": "+1 312 555 0199",
        "to": LOCAL_FAX_NUMBER,
        "pdf_base64": base64::engine::general_purpose::STANDARD.encode(pdf),
    })
}

async fn media(app: &TestApp, url: &str) -> reqwest::Response {
    app.http.get(url).send().await.unwrap()
}

#[tokio::test]
async fn a_received_fax_is_served_behind_its_link_and_its_signed_webhook_is_accepted() {
    let app = spawn_app().await;
    let answer = app.post_local("/local/fax/inbound", inbound(PDF)).await;
    assert_eq!(answer.status, 200, "the API's route took the signed fax.received: {}", answer.body);
    assert_eq!(answer.body["webhook"]["outcome"], "ignored", "no practice wrote to this sender: not kept");

    let fax_id = answer.body["fax_id"].as_str().unwrap();
    let media_url = answer.body["media_url"].as_str().unwrap();
    assert_eq!(media_url, format!("{}/local/fax/media/{fax_id}", app.address), "on the runner's own address");
    let response = media(&app, media_url).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/pdf");
    assert_eq!(response.bytes().await.unwrap().to_vec(), PDF);
}

#[tokio::test]
async fn the_local_media_link_is_one_telnyx_media_fetches_when_its_origin_is_allowed() {
    let app = spawn_app().await;
    let answer = app.post_local("/local/fax/inbound", inbound(PDF)).await;
    let fax = InboundFax {
        event_id: "e1".into(),
        fax_id: answer.body["fax_id"].as_str().unwrap().into(),
        from: "+13125550199".parse().unwrap(),
        to: LOCAL_FAX_NUMBER.parse().unwrap(),
        media_url: answer.body["media_url"].as_str().unwrap().into(),
        page_count: None,
        partial: false,
    };
    let origin = app.runtime.origin.get().unwrap();
    let media = TelnyxMedia::new(MediaHosts::parse(origin).unwrap()).unwrap();
    assert_eq!(media.fetch(&fax).await, Ok(PDF.to_vec()));
}

#[tokio::test]
async fn the_media_link_expires_after_ten_minutes_as_telnyx_s_does() {
    let app = spawn_app().await;
    let answer = app.post_local("/local/fax/inbound", inbound(PDF)).await;
    let media_url = answer.body["media_url"].as_str().unwrap();

    app.move_clock(app.runtime.clock.now() + Duration::minutes(10)).await;
    assert_eq!(media(&app, media_url).await.status(), 200, "still within its ten minutes");
    app.move_clock(app.runtime.clock.now() + Duration::seconds(1)).await;
    assert_eq!(media(&app, media_url).await.status(), 403);

    let unknown = media(&app, &format!("{}/local/fax/media/local-fax-nothing", app.address)).await;
    assert_eq!(unknown.status(), 404);
}

#[tokio::test]
async fn a_fax_that_is_not_base64_a_pdf_or_from_a_number_is_refused() {
    let app = spawn_app().await;
    let mut not_base64 = inbound(PDF);
    not_base64["pdf_base64"] = json!("not base64 !!");
    let mut bad_from = inbound(PDF);
    bad_from["from"] = json!("+1 312 555 CALL");
    let mut bad_to = inbound(PDF);
    bad_to["to"] = json!("12025550101");
    for (body, field) in
        [(not_base64, "pdf_base64"), (inbound(b"II*\0 a TIFF"), "pdf_base64"), (bad_from, "from"), (bad_to, "to")]
    {
        let answer = app.post_local("/local/fax/inbound", body).await;
        assert_eq!(answer.status, 400, "{}", answer.body);
        let message = answer.body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(field), "{message}");
        assert!(!message.contains("555"), "the number is not repeated: {message}");
    }
}
