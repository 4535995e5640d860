//! Spend and abuse limits: templates that would stall the sweep, quiet
//! hours wider than the deployment allows, and one account's burst among
//! others' work.

use chrono::{DateTime, Duration, TimeZone as _, Utc};
use futures::stream::{self, StreamExt};
use serde_json::json;
use tidings::domain::{AccountId, Channel, Message, MessageKind, QuietHours, SendingWindow, TemplateSource};
use tidings::services::SweepConfig;
use tidings_e2e::{spawn_app, spawn_app_with, t0};
use tidings_local::LocalOptions;

const SMS_REMINDER: &str = "/v1/templates/appointment_reminder/sms";

#[tokio::test]
async fn the_api_refuses_an_oversize_template_or_one_that_could_grow_without_bound() {
    let app = spawn_app().await;
    let oversize = app.put("acct", SMS_REMINDER, json!({"body": "x".repeat(20_001)})).await;
    assert_eq!(
        (oversize.status, oversize.body["error"]["code"].clone()),
        (422, json!("template_too_large")),
        "{}",
        oversize.body
    );
    for hostile in ["{{ 'x' * 100000000 }}", "{% for i in range(100000) %}{{ first_name }}{% endfor %}"] {
        let answer = app.put("acct", SMS_REMINDER, json!({"body": hostile})).await;
        assert_eq!(
            (answer.status, answer.body["error"]["code"].clone()),
            (422, json!("invalid_template")),
            "{hostile}"
        );
    }
    assert_eq!(app.get("acct", SMS_REMINDER).await.body["custom"], false, "nothing was saved");
}

#[tokio::test]
async fn a_hostile_template_saved_before_the_limits_fails_its_message_alone_and_staff_are_told() {
    let app = spawn_app().await;
    for account in ["hostile", "calm"] {
        app.given_practice(account).await;
        app.given_sms_client(account, "r1").await;
    }
    // Written straight into the store, as a template saved before the
    // limits existed would be: loops nested to burn the sweep's time.
    let nested = "{% for a in practice_name %}{% for b in practice_name %}{% for c in practice_name %}\
                  {% for d in practice_name %}{% for e in practice_name %}{% endfor %}{% endfor %}{% endfor %}\
                  {% endfor %}{% endfor %}";
    let hostile: AccountId = "hostile".parse().unwrap();
    let template = TemplateSource { subject: None, body: nested.into() };
    app.runtime.store.put_template(&hostile, MessageKind::AppointmentReminder, Channel::Sms, &template).await.unwrap();
    let start = t0() + Duration::days(2);
    for account in ["hostile", "calm"] {
        assert_eq!(app.book(account, "a1", "r1", start).await.status, 200);
    }
    // Both reminders fall due together: one sweep takes both.
    app.runtime.advance_clock_without_ticks(start - Duration::hours(24)).unwrap();
    let report = app.runtime.run_sweep().await.unwrap();
    assert_eq!((report.published, report.skipped), (1, 1), "{report:?}");

    let failed = &app.messages("hostile", "a1").await[0];
    assert_eq!((failed["status"].clone(), failed["reason"].clone()), (json!("failed"), json!("render_error")));
    let notifications = app.get("hostile", "/v1/notifications").await.body["notifications"].clone();
    assert_eq!(notifications[0]["kind"], "render_failed", "{notifications}");
    assert_eq!(notifications[0]["detail"], "out_of_fuel");
    assert_eq!(notifications[0]["message_id"], failed["id"]);

    assert_eq!(app.messages("calm", "a1").await[0]["status"], "sent");
    let outbox = app.outbox().await;
    assert_eq!(outbox.len(), 1);
    assert!(outbox[0]["body"].as_str().unwrap().starts_with("Riverside Clinic: Ben, reminder"), "{}", outbox[0]);
}

#[tokio::test]
async fn an_account_may_narrow_the_deployments_sending_hours_but_not_widen_them() {
    let app = spawn_app().await;
    let settings = |quiet_hours: serde_json::Value| {
        let mut body = json!({
            "practice_name": "Riverside Clinic",
            "practice_phone": "+12025550143",
            "time_zone": "America/New_York",
            "messaging_enabled": true,
        });
        if !quiet_hours.is_null() {
            body["quiet_hours"] = quiet_hours;
        }
        body
    };
    let wider =
        app.put("acct", "/v1/settings", settings(json!({"allowed_from": "07:00", "allowed_until": "21:00"}))).await;
    assert_eq!(
        (wider.status, wider.body["error"]["code"].clone()),
        (422, json!("quiet_hours_too_wide")),
        "{}",
        wider.body
    );
    assert!(wider.body["error"]["message"].as_str().unwrap().contains("08:00-21:00"), "{}", wider.body);
    let narrower =
        app.put("acct", "/v1/settings", settings(json!({"allowed_from": "09:00", "allowed_until": "20:00"}))).await;
    assert_eq!(narrower.status, 200, "{}", narrower.body);
    let unset = app.put("acct", "/v1/settings", settings(serde_json::Value::Null)).await;
    assert_eq!(unset.body["quiet_hours"]["allowed_from"], "08:00:00", "{}", unset.body);
    assert_eq!(unset.body["quiet_hours"]["allowed_until"], "21:00:00");
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

#[tokio::test]
async fn hours_stored_wider_than_the_deployment_allows_are_narrowed_when_reminders_are_planned() {
    let app = spawn_app().await;
    app.given_practice("acct").await;
    app.given_sms_client("acct", "r1").await;
    // Saved before the rule existed: 06:00 to 23:00.
    let account: AccountId = "acct".parse().unwrap();
    let mut stored = app.runtime.store.get_settings(&account).await.unwrap().unwrap();
    stored.quiet_hours = QuietHours {
        allowed_from: chrono::NaiveTime::from_hms_opt(6, 0, 0).unwrap(),
        allowed_until: chrono::NaiveTime::from_hms_opt(23, 0, 0).unwrap(),
        apply_to_email: false,
    };
    app.runtime.store.put_settings(&account, &stored).await.unwrap();
    // 07:30 in New York: the reminder a day before would be at 07:30,
    // allowed by the stored hours but not by the deployment's.
    assert_eq!(app.book("acct", "a1", "r1", at("2026-12-03T12:30:00Z")).await.status, 200);
    let reminder = &app.messages("acct", "a1").await[0];
    assert_eq!(at(reminder["due_at"].as_str().unwrap()), at("2026-12-02T02:00:00Z"), "21:00 the evening before");
}

#[tokio::test]
async fn a_deployment_that_narrowed_its_window_holds_what_was_planned_wider() {
    let narrowed: SendingWindow = "09:00-20:00".parse().unwrap();
    let app = spawn_app_with(LocalOptions {
        manual_clock: Some(t0()),
        sweep: SweepConfig { sending_window: narrowed, ..SweepConfig::default() },
        ..LocalOptions::default()
    })
    .await;
    app.given_practice("acct").await;
    app.given_credit("acct", 1_000).await;
    app.given_sms_client("acct", "r1").await;
    // Planned under 08:00-21:00 for 08:30 New York time the day before.
    assert_eq!(app.book("acct", "a1", "r1", at("2026-12-03T13:30:00Z")).await.status, 200);
    let due = app.messages("acct", "a1").await[0]["due_at"].clone();
    assert_eq!(at(due.as_str().unwrap()), at("2026-12-02T13:30:00Z"));
    app.move_clock(at("2026-12-02T16:00:00Z")).await;
    let outbox = app.runtime.outbox.entries();
    assert_eq!(outbox.len(), 1);
    let sent = outbox[0].sent_at;
    assert!(
        sent >= at("2026-12-02T14:00:00Z") && sent < at("2026-12-02T14:02:00Z"),
        "09:00 in New York, not 08:30: {sent}"
    );
}

#[tokio::test]
async fn one_accounts_burst_does_not_starve_another_account() {
    let app = spawn_app_with(LocalOptions {
        manual_clock: Some(t0()),
        // One round of 50 a run: what a round takes is what is looked at.
        sweep: SweepConfig { round_size: 50, time_budget: std::time::Duration::ZERO, ..SweepConfig::default() },
        ..LocalOptions::default()
    })
    .await;
    // The steady account: ten reminders, due a day after t0.
    app.given_practice("steady").await;
    app.given_email_client("steady", "r1").await;
    let start = t0() + Duration::days(2);
    for i in 0..10 {
        assert_eq!(app.book("steady", &format!("a{i}"), "r1", start + Duration::minutes(i)).await.status, 200);
    }
    // The bursty account: 5,000 due earlier than any of the steady
    // account's, so they come first on every page of every shard.
    let burst: AccountId = "bursty".parse().unwrap();
    let store = &app.runtime.store;
    let burst_due = Utc.with_ymd_and_hms(2026, 12, 1, 15, 0, 0).unwrap();
    stream::iter(0..5_000)
        .map(|i| {
            let message = Message::new(
                format!("burst{i}").parse().unwrap(),
                MessageKind::AppointmentReminder,
                Channel::Email,
                "r1".parse().unwrap(),
                burst_due,
                t0(),
            );
            let burst = burst.clone();
            async move { assert!(store.create_message(&burst, &message).await.unwrap()) }
        })
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;

    app.runtime.advance_clock_without_ticks(start - Duration::hours(23)).unwrap();
    let report = app.runtime.run_sweep().await.unwrap();
    // The burst's turns are claimed (and skipped: it has no settings); the
    // steady account's ten go in this first run.
    assert_eq!((report.published, report.skipped), (10, 40), "{report:?}");
    assert!(report.more_due);
    assert_eq!(app.runtime.outbox.entries().len(), 10);
}
