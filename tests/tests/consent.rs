//! The consent record: what a reply changed, what the practice app
//! captured itself, and the history an audit reads.

use chrono::Duration;
use serde_json::{json, Value};
use tidings_e2e::{spawn_app, t0, TestApp};

const POLICY: &str = "https://riverside.example/privacy";

async fn practice_with_policy(app: &TestApp) {
    app.given_settings_with(
        "acct",
        json!({"opt_in": {"required": false, "privacy_policy_url": POLICY, "privacy_policy_version": "2026-01"}}),
    )
    .await;
}

async fn consent(app: &TestApp, recipient: &str) -> Value {
    let answer = app.get("acct", &format!("/v1/recipients/{recipient}/consent")).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body
}

fn captured(channel: &str, state: &str, method: &str, version: Option<&str>) -> Value {
    json!({"channel": channel, "state": state, "method": method, "policy_version": version,
           "captured_at": t0().to_rfc3339(), "evidence": "I agree to appointment texts from Riverside Clinic."})
}

#[tokio::test]
async fn a_stop_by_text_is_recorded_with_its_words_and_the_message_it_answered() {
    let app = spawn_app().await;
    practice_with_policy(&app).await;
    app.given_sms_client("acct", "ben").await;
    let start = t0() + Duration::days(2);
    app.book("acct", "a1", "ben", start).await;
    app.move_clock(start - Duration::hours(24)).await;
    let reminder = app.messages("acct", "a1").await[0]["id"].clone();
    let stop = json!({"from": "+12025550101", "to": "+12025550100", "body": "Stop texting me"});
    assert_eq!(app.post_local("/local/sms/inbound", stop).await.status, 200);

    let record = consent(&app, "ben").await;
    assert_eq!(record["channels"]["sms"]["state"], "revoked", "{record}");
    assert_eq!(record["channels"]["sms"]["method"], "stop_keyword");
    let change = &record["history"][0];
    assert_eq!(change["wording"], "Stop texting me");
    assert_eq!(change["address"], "+12025550101");
    assert_eq!(change["message_id"], reminder);
    assert!(change["reply_id"].as_str().unwrap().starts_with("sms~"));
}

#[tokio::test]
async fn consent_the_practice_captured_is_kept_with_its_history() {
    let app = spawn_app().await;
    practice_with_policy(&app).await;
    app.given_sms_client("acct", "ben").await;
    app.given_email_client("acct", "ann").await;

    let path = "/v1/recipients/ben/consent";
    let staff = app.put("acct", path, captured("sms", "granted", "staff_recorded", None)).await;
    assert_eq!(staff.status, 200, "{}", staff.body);
    assert_eq!(staff.body["channels"]["sms"]["state"], "granted");
    // The same capture again records nothing new.
    let again = app.put("acct", path, captured("sms", "granted", "staff_recorded", None)).await;
    assert_eq!(again.body["history"].as_array().unwrap().len(), 1, "{}", again.body);

    let revoke = json!({"channel": "sms", "state": "revoked", "method": "staff_recorded",
                        "captured_at": (t0() + Duration::minutes(1)).to_rfc3339(), "evidence": "Called to stop texts."});
    let revoked = app.put("acct", path, revoke).await;
    assert_eq!(revoked.body["channels"]["sms"]["state"], "revoked");
    let history = revoked.body["history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0]["state"], "revoked", "newest first");
    assert_eq!(history[1]["wording"], "I agree to appointment texts from Riverside Clinic.");

    let ann = "/v1/recipients/ann/consent";
    let stale = app.put("acct", ann, captured("email", "granted", "online_booking", Some("2025-06"))).await;
    assert_eq!((stale.status, &stale.body["error"]["code"]), (422, &json!("policy_version_mismatch")));
    let booked = app.put("acct", ann, captured("email", "granted", "online_booking", Some("2026-01"))).await;
    assert_eq!(booked.status, 200, "{}", booked.body);
    assert_eq!(booked.body["channels"]["email"]["policy_version"], "2026-01");
    assert_eq!(booked.body["history"][0]["address"], "ann@example.com");

    for (body, status) in [
        (captured("fax", "granted", "staff_recorded", None), 422),
        (captured("sms", "requested", "staff_recorded", None), 422),
        (captured("sms", "granted", "sms_reply", None), 422),
        (
            json!({"channel": "sms", "state": "granted", "method": "staff_recorded",
                "captured_at": (t0() + Duration::days(1)).to_rfc3339(), "evidence": "later"}),
            422,
        ),
        (
            json!({"channel": "sms", "state": "granted", "method": "staff_recorded",
                "captured_at": t0().to_rfc3339(), "evidence": " "}),
            422,
        ),
    ] {
        let answer = app.put("acct", ann, body.clone()).await;
        assert_eq!(answer.status, status, "{body} -> {}", answer.body);
    }
    let missing = app.put("acct", ann, captured("sms", "granted", "staff_recorded", None)).await;
    assert_eq!((missing.status, &missing.body["error"]["code"]), (422, &json!("missing_address")));
    assert_eq!(app.get("acct", "/v1/recipients/nobody/consent").await.status, 404);
    assert_eq!(app.get("other", "/v1/recipients/ann/consent").await.status, 404, "another practice sees nothing");
}

#[tokio::test]
async fn opt_in_settings_need_their_privacy_policy() {
    let app = spawn_app().await;
    let without = json!({"practice_name": "Riverside Clinic", "practice_phone": "+12025550143",
                         "time_zone": "America/New_York", "messaging_enabled": true, "opt_in": {"required": true}});
    let refused = app.put("acct", "/v1/settings", without).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    practice_with_policy(&app).await;
    let saved = app
        .put(
            "acct",
            "/v1/settings",
            json!({"practice_name": "Riverside Clinic",
        "practice_phone": "+12025550143", "time_zone": "America/New_York", "messaging_enabled": true,
        "opt_in": {"required": true, "privacy_policy_url": POLICY, "privacy_policy_version": "2026-02"}}),
        )
        .await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    assert_eq!(saved.body["opt_in"]["request_lead_minutes"], 60);
}

async fn requiring_opt_in(app: &TestApp) {
    app.given_settings_with(
        "acct",
        json!({"opt_in": {"required": true, "privacy_policy_url": POLICY, "privacy_policy_version": "2026-01"}}),
    )
    .await;
}

#[tokio::test]
async fn with_opt_in_required_a_message_waits_for_consent_and_goes_when_it_arrives() {
    let app = spawn_app().await;
    requiring_opt_in(&app).await;
    app.given_sms_client("acct", "ben").await;
    let start = t0() + Duration::days(2);
    app.book("acct", "a1", "ben", start).await;
    let due = start - Duration::hours(24);
    app.move_clock(due).await;
    let outbox = app.outbox().await;
    assert_eq!(outbox.len(), 1, "the opt-in request only: {outbox:?}");
    assert!(outbox[0]["body"].as_str().unwrap().starts_with("Reply YES"), "{}", outbox[0]);
    let held = &app.messages("acct", "a1").await[0];
    assert_eq!((held["status"].as_str(), held["reason"].as_str()), (Some("held"), Some("awaiting_opt_in")));

    let mut grant = captured("sms", "granted", "staff_recorded", None);
    grant["captured_at"] = json!(due.to_rfc3339());
    assert_eq!(app.put("acct", "/v1/recipients/ben/consent", grant).await.status, 200);
    app.move_clock(due + Duration::minutes(1)).await;
    let sent = app.outbox().await;
    assert_eq!(sent.len(), 2, "released at once: {sent:?}");
    assert_eq!(app.messages("acct", "a1").await[0]["status"], "sent");
}

#[tokio::test]
async fn a_message_that_waited_in_vain_expires_and_staff_are_told_once_while_fax_needs_no_consent() {
    let app = spawn_app().await;
    requiring_opt_in(&app).await;
    app.given_sms_client("acct", "ben").await;
    app.given_fax_client("acct", "clinic").await;
    let start = t0() + Duration::days(2);
    app.book("acct", "a1", "ben", start).await;
    app.book("acct", "a2", "clinic", start).await;
    app.move_clock(start + Duration::minutes(5)).await;

    let outbox = app.outbox().await;
    let channels: Vec<&str> = outbox.iter().map(|m| m["channel"].as_str().unwrap()).collect();
    assert_eq!(channels, ["sms", "fax"], "the client's opt-in request, and the fax without one: {outbox:?}");
    let expired = &app.messages("acct", "a1").await[0];
    assert_eq!((expired["status"].as_str(), expired["reason"].as_str()), (Some("expired"), Some("no_opt_in")));
    let told = app.get("acct", "/v1/notifications").await.body;
    let count = told["notifications"].as_array().unwrap().iter().filter(|n| n["kind"] == "expired_no_opt_in").count();
    assert_eq!(count, 1, "{told}");
}

/// The text messages the outbox holds, oldest first.
async fn texts(app: &TestApp) -> Vec<String> {
    let outbox = app.outbox().await;
    let texts = outbox.iter().filter(|m| m["channel"] == "sms");
    texts.map(|m| m["body"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn an_opt_in_request_goes_once_ahead_of_the_first_message_and_yes_releases_it() {
    let app = tidings_e2e::spawn_app_with_duplicates().await;
    requiring_opt_in(&app).await;
    app.given_sms_client("acct", "ben").await;
    let start = t0() + Duration::days(2);
    app.book("acct", "a1", "ben", start).await;
    // A second appointment's reminder later on does not ask again.
    app.book("acct", "a2", "ben", start + Duration::days(1)).await;
    let due = start - Duration::hours(24);

    app.move_clock(due - Duration::minutes(61)).await;
    assert!(texts(&app).await.is_empty(), "not before request_lead_minutes");
    app.move_clock(due - Duration::minutes(60)).await;
    let sent = texts(&app).await;
    assert_eq!(sent.len(), 1, "one request, whatever the duplicates: {sent:?}");
    assert_eq!(
        sent[0],
        format!(
            "Reply YES to get appointment messages from Riverside Clinic. Msg & data rates may apply. \
             Reply STOP to opt out, HELP for help. Privacy: {POLICY}"
        )
    );
    let record = consent(&app, "ben").await;
    assert_eq!(record["channels"]["sms"]["state"], "requested", "{record}");
    assert_eq!(record["history"][0]["wording"], sent[0].as_str());

    app.move_clock(due).await;
    assert_eq!(texts(&app).await.len(), 1, "the reminder waits for the answer");
    let yes = json!({"from": "+12025550101", "to": "+12025550100", "body": "Yes!"});
    assert_eq!(app.post_local("/local/sms/inbound", yes).await.status, 200);
    app.move_clock(due + Duration::minutes(1)).await;

    let record = consent(&app, "ben").await;
    assert_eq!(record["channels"]["sms"]["state"], "granted", "{record}");
    assert_eq!(record["channels"]["sms"]["method"], "sms_reply");
    assert_eq!(record["channels"]["sms"]["policy_version"], "2026-01");
    assert_eq!(record["history"][0]["wording"], "Yes!");
    let sent = texts(&app).await;
    assert_eq!(sent.len(), 3, "the opt-in confirmed, and the reminder released: {sent:?}");
    assert_eq!(app.messages("acct", "a1").await[0]["status"], "sent");
    let thread = app.get("acct", "/v1/recipients/ben/thread").await.body;
    let kinds: Vec<&str> = thread["entries"].as_array().unwrap().iter().filter_map(|e| e["kind"].as_str()).collect();
    assert!(kinds.contains(&"opt_in_request"), "the request is in the thread: {kinds:?}");
}

#[tokio::test]
async fn who_never_answers_is_not_asked_again_for_thirty_days() {
    let app = spawn_app().await;
    requiring_opt_in(&app).await;
    app.given_sms_client("acct", "ben").await;
    let start = t0() + Duration::days(2);
    app.book("acct", "a1", "ben", start).await;
    app.move_clock(start + Duration::hours(1)).await;
    assert_eq!(texts(&app).await.len(), 1, "asked once");
    assert_eq!(app.messages("acct", "a1").await[0]["reason"], "no_opt_in");

    let within = start + Duration::days(20);
    app.book("acct", "a2", "ben", within).await;
    app.move_clock(within + Duration::hours(1)).await;
    assert_eq!(texts(&app).await.len(), 1, "not asked again within 30 days");

    let after = start + Duration::days(35);
    app.book("acct", "a3", "ben", after).await;
    app.move_clock(after - Duration::hours(24)).await;
    assert_eq!(texts(&app).await.len(), 2, "asked again after 30 days");
}

#[tokio::test]
async fn a_call_asks_to_press_1_and_a_1_grants_consent_by_keypad() {
    let app = spawn_app().await;
    requiring_opt_in(&app).await;
    app.given_client_on_voice("acct", "cy").await;
    let start = t0() + Duration::days(2);
    app.book("acct", "a1", "cy", start).await;
    app.move_clock(start - Duration::hours(25)).await;
    let calls = app.outbox().await;
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(calls[0]["body"].as_str().unwrap().contains("If you agree, press 1."), "{}", calls[0]);
    assert_eq!(calls[0]["keypad_reply"], true);
    let messages = app.get("acct", "/v1/messages?recipient_id=cy").await.body;
    let request = messages["messages"].as_array().unwrap().iter().find(|m| m["kind"] == "opt_in_request").unwrap();
    let request = request["id"].as_str().unwrap().to_owned();

    let pressed = app.post_local(&format!("/local/voice/{request}/digits"), json!({"digits": "1"})).await;
    assert_eq!(pressed.status, 200, "{}", pressed.body);

    let record = consent(&app, "cy").await;
    assert_eq!(record["channels"]["voice"]["state"], "granted", "{record}");
    assert_eq!(record["channels"]["voice"]["method"], "voice_keypad");
    assert_eq!(record["history"][0]["message_id"], request.as_str());
    app.move_clock(start - Duration::hours(24)).await;
    assert_eq!(app.messages("acct", "a1").await[0]["status"], "sent", "the reminder goes");
}

#[tokio::test]
async fn the_consent_page_shows_on_get_records_once_on_post_and_refuses_bad_links() {
    let app = spawn_app().await;
    requiring_opt_in(&app).await;
    app.given_email_client("acct", "ann").await;
    let start = t0() + Duration::days(2);
    app.book("acct", "a1", "ann", start).await;
    app.move_clock(start - Duration::hours(25)).await;
    let link = app.consent_link().await;
    assert!(link.starts_with(&format!("{}/consent/", app.address)), "{link}");

    let page = app.http.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    assert!(html.contains("Riverside Clinic") && html.contains(POLICY) && html.contains("Confirm"), "{html}");
    assert_eq!(consent(&app, "ann").await["channels"]["email"]["state"], "requested", "a GET changes nothing");

    let confirmed = app.http.post(&link).send().await.unwrap();
    assert_eq!(confirmed.status(), 200);
    assert!(confirmed.text().await.unwrap().contains("Your consent is recorded"));
    let record = consent(&app, "ann").await;
    assert_eq!(record["channels"]["email"]["state"], "granted", "{record}");
    assert_eq!(record["channels"]["email"]["method"], "email_link");
    assert_eq!(record["channels"]["email"]["policy_version"], "2026-01");
    let changes = record["history"].as_array().unwrap().len();

    let again = app.http.post(&link).send().await.unwrap();
    assert!(again.text().await.unwrap().contains("Your consent is recorded"), "a second use shows it recorded");
    assert_eq!(consent(&app, "ann").await["history"].as_array().unwrap().len(), changes, "and records nothing");

    let mut tampered = link.clone();
    tampered.insert(tampered.len() - 5, 'x');
    assert_eq!(app.http.get(&tampered).send().await.unwrap().status(), 404);
    app.move_clock(start + Duration::days(31)).await;
    assert_eq!(app.http.get(&link).send().await.unwrap().status(), 410, "expired");
}

#[tokio::test]
async fn no_to_the_request_declines_and_the_recipient_is_not_asked_again() {
    let app = spawn_app().await;
    requiring_opt_in(&app).await;
    app.given_sms_client("acct", "ben").await;
    let start = t0() + Duration::days(2);
    app.book("acct", "a1", "ben", start).await;
    app.move_clock(start - Duration::hours(25) + Duration::minutes(5)).await;
    let no = json!({"from": "+12025550101", "to": "+12025550100", "body": "No"});
    assert_eq!(app.post_local("/local/sms/inbound", no).await.status, 200);

    let record = consent(&app, "ben").await;
    assert_eq!(record["channels"]["sms"]["state"], "declined", "{record}");
    assert_eq!(record["history"][0]["wording"], "No");
    let later = start + Duration::days(40);
    app.book("acct", "a2", "ben", later).await;
    app.move_clock(later + Duration::hours(1)).await;
    assert_eq!(texts(&app).await.len(), 1, "the one request, nothing sent back, never asked again");
    assert_eq!(app.messages("acct", "a2").await[0]["reason"], "no_opt_in");
}

#[tokio::test]
async fn a_request_that_would_fall_in_quiet_hours_goes_at_the_last_allowed_moment_before() {
    let app = spawn_app().await;
    app.given_settings_with(
        "acct",
        json!({"opt_in": {"required": true, "request_lead_minutes": 120, "privacy_policy_url": POLICY,
                          "privacy_policy_version": "2026-01"}}),
    )
    .await;
    let client = json!({"kind": "client", "first_name": "Lu", "last_name": "Lee", "channel": "sms",
                        "phone": "+12025550109", "time_zone": "America/Los_Angeles"});
    assert_eq!(app.put("acct", "/v1/recipients/lu", client).await.status, 200);
    // 09:00 in Los Angeles: the reminder the day before at 09:00, its
    // request two hours earlier, 07:00, inside the quiet hours.
    let start = "2026-12-03T17:00:00Z".parse().unwrap();
    app.book("acct", "a1", "lu", start).await;
    app.move_clock(t0() + Duration::minutes(1)).await;

    let messages = app.get("acct", "/v1/messages?recipient_id=lu").await.body;
    let request = messages["messages"].as_array().unwrap().iter().find(|m| m["kind"] == "opt_in_request").unwrap();
    assert_eq!(request["due_at"], "2026-12-02T05:00:00Z", "21:00 the evening before, Los Angeles time");
}

/// The status of each of `recipient`'s opt-in requests, oldest first.
async fn requests(app: &TestApp, recipient: &str) -> Vec<(String, String)> {
    let listed = app.get("acct", &format!("/v1/messages?recipient_id={recipient}")).await.body;
    let mut requests: Vec<(String, String, String)> = listed["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "opt_in_request")
        .map(|m| {
            let field = |name: &str| m[name].as_str().unwrap_or_default().to_owned();
            (field("id"), field("status"), field("reason"))
        })
        .collect();
    requests.sort();
    requests.into_iter().map(|(_, status, reason)| (status, reason)).collect()
}

#[tokio::test]
async fn a_request_that_never_went_does_not_stop_the_next() {
    let app = spawn_app().await;
    requiring_opt_in(&app).await;
    app.given_sms_client("acct", "ben").await;
    let start = t0() + Duration::days(2);
    app.book("acct", "a1", "ben", start).await;
    // Messaging is off when the request falls due: it is skipped, unsent.
    let mut off = json!({"messaging_enabled": false, "opt_in": {"required": true, "privacy_policy_url": POLICY,
                                                               "privacy_policy_version": "2026-01"}});
    app.given_settings_with("acct", off.clone()).await;
    app.move_clock(start - Duration::hours(25)).await;
    off["messaging_enabled"] = json!(true);
    app.given_settings_with("acct", off).await;
    app.book("acct", "a2", "ben", start + Duration::days(1)).await;
    app.move_clock(start + Duration::hours(1)).await;
    let asked = requests(&app, "ben").await;
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert_eq!(asked[0], ("skipped".into(), "messaging_disabled".into()));
    assert_eq!(texts(&app).await.len(), 1, "asked again once messaging was back on");
}

#[tokio::test]
async fn a_new_number_is_asked_instead_of_the_old_one() {
    let app = spawn_app().await;
    requiring_opt_in(&app).await;
    app.given_sms_client("acct", "ben").await;
    let start = t0() + Duration::days(2);
    app.book("acct", "a1", "ben", start).await;
    let moved = json!({"kind": "client", "first_name": "Ben", "last_name": "Lee", "channel": "sms",
                       "phone": "+12025550199"});
    assert_eq!(app.put("acct", "/v1/recipients/ben", moved).await.status, 200);
    app.book("acct", "a2", "ben", start + Duration::hours(1)).await;
    app.move_clock(start).await;

    let asked = requests(&app, "ben").await;
    assert_eq!(asked[0], ("withdrawn".into(), "address_changed".into()), "{asked:?}");
    let outbox = app.outbox().await;
    let sent: Vec<&str> = outbox.iter().map(|m| m["to"].as_str().unwrap()).collect();
    assert_eq!(sent, ["+12025550199"], "one request, to the new number only");
}

#[tokio::test]
async fn a_consent_link_carries_no_address_and_an_old_one_does_not_undo_a_later_stop() {
    use base64::Engine as _;
    let app = spawn_app().await;
    requiring_opt_in(&app).await;
    app.given_email_client("acct", "ann").await;
    let start = t0() + Duration::days(2);
    app.book("acct", "a1", "ann", start).await;
    app.move_clock(start - Duration::hours(25)).await;
    let link = app.consent_link().await;
    let token = link.rsplit('/').next().unwrap();
    let payload = token.split('.').nth(1).unwrap();
    let claims = String::from_utf8(base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert!(!claims.contains("ann@example.com") && !claims.contains("example"), "{claims}");

    let mut revoke = captured("email", "revoked", "staff_recorded", None);
    revoke["captured_at"] = json!((start - Duration::hours(24)).to_rfc3339());
    app.move_clock(start - Duration::hours(24)).await;
    assert_eq!(app.put("acct", "/v1/recipients/ann/consent", revoke).await.status, 200);
    assert_eq!(app.http.post(&link).send().await.unwrap().status(), 404, "the old link no longer grants");
    assert_eq!(consent(&app, "ann").await["channels"]["email"]["state"], "revoked");
}

#[tokio::test]
async fn a_request_marked_after_a_grant_leaves_the_grant_standing() {
    use tidings::domain::{Channel, Consent, ConsentEvidence, ConsentMethod, ConsentState};
    let app = spawn_app().await;
    requiring_opt_in(&app).await;
    app.given_sms_client("acct", "ben").await;
    let (account, ben) = ("acct".parse().unwrap(), "ben".parse().unwrap());
    let consent = |state, method| Consent {
        channel: Channel::Sms,
        state,
        since: t0(),
        method,
        address: "+12025550101".into(),
        evidence: ConsentEvidence { words: "words".into(), reply_id: None, message_id: None },
        policy_version: None,
    };
    let store = &app.runtime.store;
    let requested = consent(ConsentState::Requested, ConsentMethod::SmsReply);
    assert!(store.mark_consent_requested(&account, &ben, &requested).await.unwrap(), "nothing answered yet");
    let granted = consent(ConsentState::Granted, ConsentMethod::StaffRecorded);
    assert!(store.change_consent(&account, &ben, &granted).await.unwrap());
    // The sweep read consent before the grant, and marks its request sent.
    assert!(!store.mark_consent_requested(&account, &ben, &requested).await.unwrap());
    assert_eq!(consent_record_state(&app).await, "granted");
    let moved = Consent { address: "+12025550199".into(), ..requested };
    assert!(store.mark_consent_requested(&account, &ben, &moved).await.unwrap(), "a new number is asked afresh");
}

async fn consent_record_state(app: &TestApp) -> String {
    consent(app, "ben").await["channels"]["sms"]["state"].as_str().unwrap().to_owned()
}
