//! Templates: editable per account, checked before they are saved,
//! previewed with their SMS cost, and used by the sweep.

use chrono::Duration;
use serde_json::json;
use tidings_e2e::{spawn_app, t0};

#[tokio::test]
async fn the_built_in_template_is_in_force_until_the_account_saves_its_own() {
    let app = spawn_app().await;
    let built_in = app.get("acct", "/v1/templates/appointment_reminder/sms").await;
    assert_eq!(built_in.status, 200, "{}", built_in.body);
    assert_eq!(built_in.body["custom"], false);
    assert!(built_in.body["body"].as_str().unwrap().contains("{{ provider }}"));
    assert!(built_in.body["fields"].as_array().unwrap().contains(&json!("first_name")));

    let saved = app
        .put(
            "acct",
            "/v1/templates/appointment_reminder/sms",
            json!({"body": "{{ first_name }}, see {{ provider }} {{ date_short }} {{ time }}."}),
        )
        .await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    let now = app.get("acct", "/v1/templates/appointment_reminder/sms").await;
    assert_eq!(now.body["custom"], true);
    assert_eq!(app.get("other", "/v1/templates/appointment_reminder/sms").await.body["custom"], false);
}

#[tokio::test]
async fn unknown_fields_or_broken_syntax_answer_422_and_keep_the_old_template() {
    let app = spawn_app().await;
    let good = json!({"body": "Hi {{ first_name }}"});
    assert_eq!(app.put("acct", "/v1/templates/appointment_reminder/sms", good).await.status, 200);
    for bad in [
        json!({"body": "Your {{ diagnosis }} follow-up"}),
        json!({"body": "Hi {{ first_name "}),
        json!({"subject": "Reminder", "body": "Hi"}),
        json!({"body": "Hi", "footer": "x"}),
    ] {
        let answer = app.put("acct", "/v1/templates/appointment_reminder/sms", bad.clone()).await;
        assert_eq!(answer.status, 422, "{bad} → {}", answer.body);
    }
    let unknown = app.put("acct", "/v1/templates/appointment_reminder/sms", json!({"body": "{{ diagnosis }}"})).await;
    assert_eq!(unknown.body["error"]["code"], "invalid_template");
    assert!(unknown.body["error"]["message"].as_str().unwrap().contains("diagnosis"));
    assert_eq!(app.get("acct", "/v1/templates/appointment_reminder/sms").await.body["body"], "Hi {{ first_name }}");

    let email_without_subject =
        app.put("acct", "/v1/templates/appointment_reminder/email", json!({"body": "Hi"})).await;
    assert_eq!(email_without_subject.status, 422);
    assert_eq!(app.get("acct", "/v1/templates/appointment_reminder/pigeon").await.status, 404);
    assert_eq!(app.get("acct", "/v1/templates/horoscope/sms").await.status, 404);
}

#[tokio::test]
async fn a_preview_renders_sample_data_and_counts_sms_segments() {
    let app = spawn_app().await;
    app.given_practice("acct").await;
    let in_force = app
        .http
        .post(format!("{}/v1/templates/appointment_reminder/sms/preview", app.address))
        .bearer_auth(app.token("acct"))
        .send()
        .await
        .unwrap();
    assert_eq!(in_force.status(), 200);
    let in_force: serde_json::Value = in_force.json().await.unwrap();
    assert!(in_force["body"].as_str().unwrap().starts_with("Riverside Clinic:"), "{in_force}");
    assert_eq!(in_force["sms"]["encoding"], "gsm7");
    assert_eq!(in_force["sms"]["segments"], 1);
    assert_eq!(in_force["cost_cents"], 2, "one segment at the default two cents");

    let draft = app
        .http
        .post(format!("{}/v1/templates/appointment_reminder/sms/preview", app.address))
        .bearer_auth(app.token("acct"))
        .json(&json!({"body": format!("{{{{ first_name }}}} 😀 {}", "x".repeat(70))}))
        .send()
        .await
        .unwrap();
    let draft: serde_json::Value = draft.json().await.unwrap();
    assert_eq!(draft["sms"]["encoding"], "ucs2", "{draft}");
    assert_eq!(draft["sms"]["segments"], 2);
    assert_eq!(draft["cost_cents"], 4);
    let too_long = app
        .http
        .post(format!("{}/v1/templates/appointment_reminder/sms/preview", app.address))
        .bearer_auth(app.token("acct"))
        .json(&json!({"body": "word ".repeat(200)}))
        .send()
        .await
        .unwrap();
    let too_long: serde_json::Value = too_long.json().await.unwrap();
    assert_eq!(
        (too_long["cost_cents"].clone(), too_long["refused"].clone()),
        (json!(null), json!("too_many_segments"))
    );
    assert_eq!(
        app.get("acct", "/v1/templates/appointment_reminder/sms").await.body["custom"],
        false,
        "a preview saves nothing"
    );

    let email = app
        .http
        .post(format!("{}/v1/templates/appointment_reminder/email/preview", app.address))
        .bearer_auth(app.token("acct"))
        .send()
        .await
        .unwrap();
    let email: serde_json::Value = email.json().await.unwrap();
    assert_eq!(email["subject"], "Appointment reminder from Riverside Clinic");
    assert!(email["sms"].is_null());
    assert_eq!(email["cost_cents"], 0, "email is free");

    let fax = app
        .http
        .post(format!("{}/v1/templates/appointment_reminder/fax/preview", app.address))
        .bearer_auth(app.token("acct"))
        .send()
        .await
        .unwrap();
    let fax: serde_json::Value = fax.json().await.unwrap();
    assert_eq!(fax["cost_cents"], 20, "a cover page and the letter at ten cents: {fax}");
}

#[tokio::test]
async fn the_sweep_sends_with_the_accounts_template() {
    let app = spawn_app().await;
    app.given_practice("acct").await;
    app.given_sms_client("acct", "r1").await;
    let saved = app
        .put(
            "acct",
            "/v1/templates/appointment_reminder/sms",
            json!({"body": "{{ practice_name }}: {{ first_name }}, {{ date_short }} {{ time }} with {{ provider }}."}),
        )
        .await;
    assert_eq!(saved.status, 200);
    let start = t0() + Duration::days(2);
    app.book("acct", "a1", "r1", start).await;
    app.move_clock(start).await;
    let outbox = app.outbox().await;
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0]["body"], "Riverside Clinic: Ben, Dec 3 9:00 AM with Dr. Ruiz.");
}
