//! Voice, fax and email outcomes end to end through the local stand-ins:
//! a call's keypad reply confirms or cancels, an unanswered call fails and
//! refunds, a fax's signed status webhook is verified and applied once, an
//! SES bounce suppresses the address.

use std::sync::Arc;

use chrono::Duration;
use serde_json::{json, Value};
use tidings::channels::{CallControl, CallControlError, CallEnding};
use tidings::domain::Templates;
use tidings::services::{ReminderSweep, SweepConfig};
use tidings::store::calls::CallDeadline;
use tidings_e2e::{spawn_app, t0, TestApp, STARTING_CREDIT_CENTS};
use tidings_local::clock::ManualClock;

async fn given_voice_client(app: &TestApp, account: &str, id: &str) {
    let body =
        json!({"kind": "client", "first_name": "Cal", "last_name": "Ode", "channel": "voice", "phone": "+12025550177"});
    assert_eq!(app.put(account, &format!("/v1/recipients/{id}"), body).await.status, 200);
}

async fn given_fax_client(app: &TestApp, account: &str, id: &str) {
    let body =
        json!({"kind": "contact", "first_name": "Dr.", "last_name": "Moss", "channel": "fax", "fax": "+12025550188"});
    let answer = app.put(account, &format!("/v1/recipients/{id}"), body).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
}

/// Two reminders, two days and one day before; calls take keypad replies.
async fn given_voice_practice(app: &TestApp) {
    app.given_settings_with(
        "acct",
        json!({
            "appointment_reminders": {"enabled": true, "offsets_minutes": [2880, 1440]},
            "voice_replies": true,
        }),
    )
    .await;
}

async fn message(app: &TestApp, id: &str) -> Value {
    let answer = app.get("acct", &format!("/v1/messages/{id}")).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body
}

async fn balance(app: &TestApp) -> i64 {
    app.get("acct", "/v1/credit").await.body["balance_cents"].as_i64().unwrap()
}

async fn notifications(app: &TestApp) -> Vec<Value> {
    app.get("acct", "/v1/notifications").await.body["notifications"].as_array().cloned().unwrap()
}

/// A voice client's appointment three days out, and its first reminder's
/// call placed: the app, the appointment's start and the call's message id.
async fn placed_call() -> (TestApp, chrono::DateTime<chrono::Utc>, String) {
    let app = spawn_app().await;
    given_voice_practice(&app).await;
    given_voice_client(&app, "acct", "r1").await;
    let start = t0() + Duration::days(3);
    app.book("acct", "a1", "r1", start).await;
    app.move_clock(start - Duration::days(2)).await;
    let first = reminders(&app).await[0]["id"].as_str().unwrap().to_owned();
    (app, start, first)
}

/// The messages of `a1`, first reminder first.
async fn reminders(app: &TestApp) -> Vec<Value> {
    app.messages("acct", "a1").await
}

#[tokio::test]
async fn pressing_1_on_the_call_confirms_and_the_next_reminder_is_not_sent() {
    let (app, start, first) = placed_call().await;
    let calls: Vec<Value> = app.outbox().await.into_iter().filter(|m| m["channel"] == "voice").collect();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["keypad_reply"], true);
    assert!(calls[0]["body"].as_str().unwrap().contains("reminder of your appointment with Dr. Ruiz"), "{}", calls[0]);
    // Reserved: the longest call, since a call that takes keys may connect.
    assert_eq!(message(&app, &first).await["cost_cents"], 15);

    let answer = app.post_local(&format!("/local/voice/{first}/digits"), json!({"digits": "1"})).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let spoken = answer.body.to_string();
    assert!(spoken.contains("SpeakAndGetDigits") && spoken.contains("ssml"), "{spoken}");
    assert!(spoken.contains("confirmed"), "{spoken}");

    let detail = message(&app, &first).await;
    assert_eq!(detail["status"], "delivered");
    assert_eq!(detail["call"]["digit"], "1");
    assert_eq!(detail["call"]["result"], "completed");
    assert_eq!(detail["call"]["minutes"], 1);
    // One started minute charged; the rest of the reservation refunded.
    assert_eq!(detail["cost_cents"], 5);
    assert_eq!(balance(&app).await, STARTING_CREDIT_CENTS as i64 - 5);
    let events = app.get_local("/local/events").await.body;
    let confirmed: Vec<&serde_json::Value> =
        events.as_array().unwrap().iter().filter(|e| e["detail_type"] == "AppointmentConfirmed").collect();
    assert_eq!(confirmed.len(), 1, "the practice app hears of it: {events}");
    assert_eq!(confirmed[0]["detail"]["channel"], "voice");
    assert_eq!(confirmed[0]["detail"]["message_id"], first.as_str());

    app.move_clock(start - Duration::days(1)).await;
    let second = &reminders(&app).await[1];
    assert_eq!((second["status"].as_str(), second["reason"].as_str()), (Some("skipped"), Some("confirmed")));
}

#[tokio::test]
async fn pressing_2_cancels_the_appointment_and_withdraws_its_reminders() {
    let (app, start, first) = placed_call().await;
    let answer = app.post_local(&format!("/local/voice/{first}/digits"), json!({"digits": "*2"})).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body.to_string().contains("cancelled"), "{}", answer.body);
    assert_eq!(message(&app, &first).await["call"]["digit"], "2");
    let second = &reminders(&app).await[1];
    assert_eq!(second["status"], "withdrawn");
    app.move_clock(start).await;
    assert_eq!(app.outbox().await.len(), 1, "only the first call");
}

#[tokio::test]
async fn an_unanswered_call_fails_refunds_everything_and_tells_staff() {
    let (app, _, first) = placed_call().await;
    let answer = app.post_local(&format!("/local/voice/{first}/digits"), json!({"outcome": "no_answer"})).await;
    assert_eq!(answer.status, 200, "{}", answer.body);

    let detail = message(&app, &first).await;
    assert_eq!((detail["status"].as_str(), detail["reason"].as_str()), (Some("failed"), Some("no_answer")));
    assert_eq!(detail["cost_cents"], 0);
    assert_eq!(balance(&app).await, STARTING_CREDIT_CENTS as i64);
    let notes = notifications(&app).await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0]["kind"], "call_not_answered");
    assert_eq!(notes[0]["message_id"], first.as_str());
    assert_eq!(notes[0]["recipient_id"], "r1");
    let keys = app.post_local(&format!("/local/voice/{first}/digits"), json!({"digits": "1x"})).await;
    assert_eq!(keys.status, 422, "only keypad keys");
    // Reported twice (Chime retries), applied once.
    app.post_local(&format!("/local/voice/{first}/digits"), json!({"outcome": "no_answer"})).await;
    assert_eq!(notifications(&app).await.len(), 1);
    assert_eq!(balance(&app).await, STARTING_CREDIT_CENTS as i64);
}

/// A fax's status webhook, as Telnyx signs it, with the local signer or a
/// stranger's key.
fn signed(app: &TestApp, body: &[u8], forged: bool) -> (String, String) {
    let at = app.runtime.clock.now().timestamp();
    let signature = if forged {
        tidings_local::fax::LocalFaxSigner::default().sign(at, body)
    } else {
        app.runtime.fax_signer.sign(at, body)
    };
    (at.to_string(), signature)
}

async fn post_webhook(app: &TestApp, body: &[u8], (timestamp, signature): (String, String)) -> (u16, Value) {
    let response = app
        .http
        .post(format!("{}/webhooks/fax/telnyx", app.address))
        .header("content-type", "application/json")
        .header("telnyx-timestamp", timestamp)
        .header("telnyx-signature-ed25519", signature)
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A fax contact's appointment two days out, and its reminder faxed.
async fn faxed_reminder() -> TestApp {
    let app = spawn_app().await;
    app.given_practice("acct").await;
    given_fax_client(&app, "acct", "r1").await;
    let start = t0() + Duration::days(2);
    app.book("acct", "a1", "r1", start).await;
    app.move_clock(start - Duration::days(1)).await;
    app
}

#[tokio::test]
async fn a_fax_is_a_pdf_whose_signed_status_is_applied_once_and_forgeries_are_refused() {
    let app = faxed_reminder().await;
    let faxes: Vec<Value> = app.outbox().await.into_iter().filter(|m| m["channel"] == "fax").collect();
    assert_eq!(faxes.len(), 1);
    assert_eq!(faxes[0]["to"], "+12025550188");
    assert_eq!(faxes[0]["pages"], 2, "a cover page and the letter");
    assert!(faxes[0]["document_bytes"].as_u64().unwrap() > 500);
    let fax_id = faxes[0]["message_id"].as_str().unwrap().to_owned();
    let id = reminders(&app).await[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(message(&app, &id).await["cost_cents"], 20, "two pages at ten cents");

    let failed = tidings_local::fax::status_body(&fax_id, false, 0, Some("receiver_busy"), app.runtime.clock.now());
    let (status, _) = post_webhook(&app, &failed, signed(&app, &failed, true)).await;
    assert_eq!(status, 401, "a forged webhook is refused");
    assert_eq!(message(&app, &id).await["status"], "sent", "and changes nothing");

    let genuine = signed(&app, &failed, false);
    let (status, first) = post_webhook(&app, &failed, genuine.clone()).await;
    assert_eq!((status, first["outcome"].as_str()), (200, Some("recorded")), "{first}");
    let (status, again) = post_webhook(&app, &failed, genuine).await;
    assert_eq!((status, again["outcome"].as_str()), (200, Some("ignored")), "a duplicate is applied once");

    let detail = message(&app, &id).await;
    assert_eq!((detail["status"].as_str(), detail["reason"].as_str()), (Some("failed"), Some("transmission_failed")));
    assert_eq!(detail["cost_cents"], 0);
    assert_eq!(balance(&app).await, STARTING_CREDIT_CENTS as i64);
    let notes = notifications(&app).await;
    assert_eq!(notes.len(), 1);
    assert_eq!((notes[0]["kind"].as_str(), notes[0]["detail"].as_str()), (Some("fax_failed"), Some("receiver_busy")));
}

#[tokio::test]
async fn a_delivered_fax_report_marks_the_message_delivered() {
    let app = faxed_reminder().await;
    let fax_id = app.outbox().await[0]["message_id"].as_str().unwrap().to_owned();
    let answer =
        app.post_local(&format!("/local/fax/{fax_id}/status"), json!({"status": "delivered", "pages": 2})).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(reminders(&app).await[0]["status"], "delivered");
    assert_eq!(balance(&app).await, STARTING_CREDIT_CENTS as i64 - 20);
}

#[tokio::test]
async fn a_permanent_bounce_fails_the_email_suppresses_the_address_and_tells_staff() {
    let app = spawn_app().await;
    app.given_settings("acct", true, &[2880, 1440]).await;
    app.given_email_client("acct", "r1").await;
    let start = t0() + Duration::days(3);
    app.book("acct", "a1", "r1", start).await;
    app.move_clock(start - Duration::days(2)).await;
    let email = &app.outbox().await[0];
    assert!(email["html"].as_str().unwrap().contains("<p>Hello Ann,</p>"), "{email}");
    assert!(email["reply_token"].as_str().is_some_and(|t| t.len() == 32), "{email}");

    // The fixture SES documents, about the email that went.
    let mut bounce: Value =
        serde_json::from_str(include_str!("../../shared/tests/fixtures/ses_bounce_permanent.json")).unwrap();
    bounce["mail"]["messageId"] = email["message_id"].clone();
    let answer = app.post_local("/local/ses/notifications", bounce.clone()).await;
    assert_eq!((answer.status, answer.body["recorded"].as_u64()), (200, Some(1)), "{}", answer.body);
    let again = app.post_local("/local/ses/notifications", bounce).await;
    assert_eq!(again.body["ignored"], 1, "SNS redelivers: applied once");

    let first = &reminders(&app).await[0];
    assert_eq!((first["status"].as_str(), first["reason"].as_str()), (Some("failed"), Some("bounced")));
    let notes = notifications(&app).await;
    assert_eq!(notes.len(), 1);
    assert_eq!(
        (notes[0]["kind"].as_str(), notes[0]["detail"].as_str()),
        (Some("email_bounced"), Some("Permanent/General"))
    );

    app.move_clock(start - Duration::days(1)).await;
    let second = &reminders(&app).await[1];
    assert_eq!((second["status"].as_str(), second["reason"].as_str()), (Some("skipped"), Some("suppressed")));
    assert_eq!(app.outbox().await.len(), 1);

    // A corrected address is sent to again.
    app.put("acct", "/v1/recipients/r1", json!({
        "kind": "client", "first_name": "Ann", "last_name": "Lee", "channel": "email", "email": "ann.lee@example.com",
    }))
    .await;
    app.book("acct", "a2", "r1", start + Duration::days(1)).await;
    app.move_clock(start).await;
    assert_eq!(app.outbox().await.len(), 2);
}

/// SNS's delivery status log entry about the text with provider id `id`.
fn sms_log(id: &str, status: &str, response: &str) -> Value {
    json!({
        "notification": {"messageId": id, "timestamp": "2026-12-02 14:00:01.120"},
        "delivery": {"destination": "+12025550101", "smsType": "Transactional", "priceInUSD": 0.00645,
                     "providerResponse": response, "dwellTimeMs": 420, "numberOfMessageParts": 1},
        "status": status,
    })
}

#[tokio::test]
async fn a_text_the_carrier_cannot_deliver_fails_refunds_and_tells_staff() {
    let app = spawn_app().await;
    app.given_practice("acct").await;
    app.given_sms_client("acct", "r1").await;
    app.given_sms_client("acct", "r2").await;
    let start = t0() + Duration::days(2);
    app.book("acct", "a1", "r1", start).await;
    app.book("acct", "a2", "r2", start).await;
    app.move_clock(start - Duration::days(1)).await;
    let provider_id = |appointment: &str| {
        let app = &app;
        let appointment = appointment.to_owned();
        async move { app.messages("acct", &appointment).await[0]["provider_message_id"].as_str().unwrap().to_owned() }
    };
    assert_eq!(balance(&app).await, STARTING_CREDIT_CENTS as i64 - 4);

    let unreachable = sms_log(&provider_id("a1").await, "FAILURE", "Phone is currently unreachable/unavailable");
    let answer = app.post_local("/local/sms/delivery-logs", unreachable.clone()).await;
    assert_eq!((answer.status, answer.body["recorded"].as_u64()), (200, Some(1)), "{}", answer.body);
    assert_eq!(app.post_local("/local/sms/delivery-logs", unreachable).await.body["ignored"], 1);
    let delivered = sms_log(&provider_id("a2").await, "SUCCESS", "Message has been accepted by phone carrier");
    assert_eq!(app.post_local("/local/sms/delivery-logs", delivered).await.body["recorded"], 1);

    let failed = &app.messages("acct", "a1").await[0];
    assert_eq!((failed["status"].as_str(), failed["reason"].as_str()), (Some("failed"), Some("unreachable")));
    assert_eq!(app.messages("acct", "a2").await[0]["status"], "delivered");
    assert_eq!(balance(&app).await, STARTING_CREDIT_CENTS as i64 - 2, "the failed text is refunded, once");
    let notes = notifications(&app).await;
    assert_eq!(notes.len(), 1);
    assert_eq!((notes[0]["kind"].as_str(), notes[0]["detail"].as_str()), (Some("bad_number"), Some("unreachable")));
}

#[tokio::test]
async fn pressing_0_connects_only_to_a_practice_line_the_operator_registered() {
    let (app, _, first) = placed_call().await;
    let answer = app.post_local(&format!("/local/voice/{first}/digits"), json!({"digits": "0"})).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let said = answer.body.to_string();
    assert!(!said.contains("CallAndBridge"), "{said}");
    assert!(said.contains("cannot be connected"), "{said}");

    let (app, _, first) = placed_call().await;
    let practice_line = "+12025550143".parse().unwrap();
    // Registered for another account, it is still not this one's to dial.
    app.runtime.store.register_bridge_number(&practice_line, &"other".parse().unwrap()).await.unwrap();
    let answer = app.post_local(&format!("/local/voice/{first}/digits"), json!({"digits": "0"})).await;
    assert!(!answer.body.to_string().contains("CallAndBridge"), "{}", answer.body);

    let (app, _, first) = placed_call().await;
    app.runtime.store.register_bridge_number(&practice_line, &"acct".parse().unwrap()).await.unwrap();
    let answer = app.post_local(&format!("/local/voice/{first}/digits"), json!({"digits": "0"})).await;
    let said = answer.body.to_string();
    assert!(said.contains("CallAndBridge") && said.contains("+12025550143"), "{said}");
}

#[tokio::test]
async fn a_call_connected_to_the_practice_is_hung_up_before_its_cap_and_charged_within_its_reservation() {
    let (app, _, first) = placed_call().await;
    let practice_line = "+12025550143".parse().unwrap();
    app.runtime.store.register_bridge_number(&practice_line, &"acct".parse().unwrap()).await.unwrap();
    // The longest call is 3 minutes by default, all reserved: this call may
    // connect to the practice.
    assert_eq!(message(&app, &first).await["cost_cents"], 15);

    let answered_at = app.runtime.clock.now();
    let answer = app.post_local(&format!("/local/voice/{first}/digits"), json!({"digits": "0", "stay_on": true})).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body.to_string().contains("CallAndBridge"), "{}", answer.body);
    assert!(app.runtime.calls.is_open(&first));

    app.move_clock(answered_at + Duration::seconds(90)).await;
    assert!(app.runtime.calls.is_open(&first), "a call is not cut before its last minute");
    assert_eq!(message(&app, &first).await["call"]["result"], Value::Null);

    app.move_clock(answered_at + Duration::minutes(3)).await;
    assert!(!app.runtime.calls.is_open(&first), "the sweep hung up both legs");
    let ended = message(&app, &first).await;
    assert_eq!(ended["call"]["result"], "completed", "{ended}");
    assert_eq!(ended["call"]["minutes"], 2, "{ended}");
    assert_eq!(ended["cost_cents"], 10, "two minutes charged, the third refunded: {ended}");
    let later = answered_at + Duration::days(1);
    assert!(app.runtime.store.due_call_deadlines(later, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_call_that_ends_by_itself_leaves_no_deadline_for_the_sweep() {
    let (app, start, first) = placed_call().await;
    let answer = app.post_local(&format!("/local/voice/{first}/digits"), json!({"digits": "1"})).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(!app.runtime.calls.is_open(&first));
    assert!(app.runtime.store.due_call_deadlines(start, 10).await.unwrap().is_empty());
}

/// Ends calls as told, and counts what it was asked.
struct ScriptedCalls {
    answer: Result<CallEnding, CallControlError>,
    asked: std::sync::Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl CallControl for ScriptedCalls {
    async fn end_call(&self, transaction_id: &str) -> Result<CallEnding, CallControlError> {
        self.asked.lock().unwrap().push(transaction_id.to_owned());
        self.answer.clone()
    }
}

/// Each call's deadline at `t0`, the sweep run at each of `runs` (minutes
/// after it) with calls answering `answer`, the call's end clearing the
/// deadline before run `end_after`: how many requests were made by each run,
/// and whether a deadline is left.
async fn sweeps_ending_calls(
    answer: Result<CallEnding, CallControlError>,
    runs: &[i64],
    end_after: Option<usize>,
) -> (Vec<usize>, bool) {
    let app = spawn_app().await;
    let store = app.runtime.store.clone();
    let deadline = CallDeadline {
        account: "acct".parse().unwrap(),
        message_id: "m1".parse().unwrap(),
        transaction_id: "call-1".into(),
        at: t0(),
    };
    store.set_call_deadline(&deadline).await.unwrap();
    let calls = Arc::new(ScriptedCalls { answer, asked: Default::default() });
    let clock = ManualClock::starting_at(t0());
    let sweep = ReminderSweep::new(
        store.clone(),
        Arc::new(app.runtime.bus.clone()),
        Arc::new(Templates::default()),
        Arc::new(clock.clone()),
        SweepConfig::default(),
    )
    .ending_calls(calls.clone());
    let mut asked = Vec::new();
    for (run, minutes) in runs.iter().enumerate() {
        if Some(run) == end_after {
            let (account, id) = (&deadline.account, &deadline.message_id);
            store.clear_call_deadline(account, id, &deadline.transaction_id).await.unwrap();
        }
        clock.set(t0() + Duration::minutes(*minutes));
        sweep.run().await.unwrap();
        asked.push(calls.asked.lock().unwrap().len());
    }
    let left = !store.due_call_deadlines(t0() + Duration::days(1), 10).await.unwrap().is_empty();
    (asked, left)
}

#[tokio::test]
async fn the_sweep_asks_a_call_to_end_each_run_until_its_end_clears_the_deadline() {
    let (asked, left) = sweeps_ending_calls(Ok(CallEnding::Requested), &[0, 1, 2, 3], Some(2)).await;
    assert_eq!(asked, [1, 2, 2, 2], "asked at the deadline and the run after; the end stopped it");
    assert!(!left);
}

#[tokio::test]
async fn a_call_chime_no_longer_knows_is_not_asked_again() {
    let (asked, left) = sweeps_ending_calls(Ok(CallEnding::AlreadyOver), &[0, 1], None).await;
    assert_eq!(asked, [1, 1]);
    assert!(!left);
}

#[tokio::test]
async fn a_call_that_cannot_be_asked_is_tried_each_run_then_given_up() {
    let refusal = Err(CallControlError("ForbiddenException".into()));
    let (asked, left) = sweeps_ending_calls(refusal, &[0, 1, 5, 10, 11], None).await;
    assert_eq!(asked, [1, 2, 3, 4, 4], "given up ten minutes after the deadline");
    assert!(!left);
}
