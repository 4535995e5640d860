//! The first slice end to end, over HTTP: a reminder goes out once, at its
//! due time and not before, and follows its appointment.

use chrono::{Duration, SecondsFormat};
use tidings_e2e::{spawn_app, spawn_app_with, t0};
use tidings_local::LocalOptions;

#[tokio::test]
async fn a_reminder_reaches_the_outbox_once_at_its_due_time_and_not_before() {
    let app = spawn_app().await;
    app.given_practice("acct").await;
    app.given_email_client("acct", "r1").await;
    let start = t0() + Duration::days(2);
    let due = start - Duration::hours(24);
    assert_eq!(app.book("acct", "a1", "r1", start).await.status, 200);

    let before = app.move_clock(due - Duration::seconds(1)).await;
    assert_eq!(before.status, 200, "{}", before.body);
    assert!(app.outbox().await.is_empty(), "nothing is sent before its due time");
    assert_eq!(app.messages("acct", "a1").await[0]["status"], "scheduled");

    assert_eq!(app.move_clock(due).await.status, 200);
    let outbox = app.outbox().await;
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    let email = &outbox[0];
    assert_eq!(email["channel"], "email");
    assert_eq!(email["to"], "ann@example.com");
    assert_eq!(email["subject"], "Appointment reminder from Riverside Clinic");
    let body = email["body"].as_str().unwrap();
    assert!(body.contains("Hello Ann"), "{body}");
    assert!(body.contains("Dr. Ruiz"), "{body}");
    // 14:00 UTC is 9:00 AM in New York, the practice's zone.
    assert!(body.contains("Thursday, December 3 at 9:00 AM"), "{body}");
    assert_eq!(email["sent_at"].as_str().unwrap(), due.to_rfc3339_opts(SecondsFormat::AutoSi, true));

    let messages = app.messages("acct", "a1").await;
    assert_eq!(messages[0]["status"], "sent");
    assert_eq!(messages[0]["provider_message_id"], email["message_id"]);
    assert_eq!(messages[0]["sent_at"], email["sent_at"]);

    assert_eq!(app.move_clock(start + Duration::hours(1)).await.status, 200);
    assert_eq!(app.outbox().await.len(), 1, "sent once only");
}

#[tokio::test]
async fn sms_reminders_go_to_the_e164_number_in_the_recipients_zone() {
    let app = spawn_app().await;
    app.given_practice("acct").await;
    let answer = app
        .put(
            "acct",
            "/v1/recipients/r2",
            serde_json::json!({
                "kind": "client", "first_name": "Ben", "last_name": "Ode", "channel": "sms",
                "phone": "+1 (310) 555-0102", "time_zone": "America/Los_Angeles",
            }),
        )
        .await;
    assert_eq!(answer.status, 200);
    let start = t0() + Duration::days(2);
    app.book("acct", "a2", "r2", start).await;
    app.move_clock(start).await;
    let outbox = app.outbox().await;
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0]["channel"], "sms");
    assert_eq!(outbox[0]["to"], "+13105550102");
    let body = outbox[0]["body"].as_str().unwrap();
    assert!(body.contains("Dec 3 at 6:00 AM"), "Los Angeles time: {body}");
    assert!(body.chars().count() <= 160, "one segment: {body}");
}

#[tokio::test]
async fn rescheduling_moves_the_reminder() {
    let app = spawn_app().await;
    app.given_practice("acct").await;
    app.given_email_client("acct", "r1").await;
    let first = t0() + Duration::days(2);
    let moved = t0() + Duration::days(4);
    app.book("acct", "a1", "r1", first).await;
    let answer = app.book("acct", "a1", "r1", moved).await;
    assert_eq!(answer.body["reminders_scheduled"], 1);
    assert_eq!(answer.body["reminders_withdrawn"], 1);

    app.move_clock(first).await;
    assert!(app.outbox().await.is_empty(), "the old due time sends nothing");
    app.move_clock(moved - Duration::hours(24)).await;
    assert_eq!(app.outbox().await.len(), 1);

    let mut statuses: Vec<_> = app
        .messages("acct", "a1")
        .await
        .iter()
        .map(|m| (m["status"].as_str().unwrap().to_owned(), m["reason"].as_str().map(str::to_owned)))
        .collect();
    statuses.sort();
    assert_eq!(statuses, [("sent".to_owned(), None), ("withdrawn".to_owned(), Some("appointment_changed".to_owned()))]);
}

#[tokio::test]
async fn moving_back_to_the_original_time_revives_its_reminder() {
    let app = spawn_app().await;
    app.given_practice("acct").await;
    app.given_email_client("acct", "r1").await;
    let first = t0() + Duration::days(2);
    app.book("acct", "a1", "r1", first).await;
    app.book("acct", "a1", "r1", first + Duration::hours(3)).await;
    let back = app.book("acct", "a1", "r1", first).await;
    assert_eq!(back.body["reminders_scheduled"], 1);
    app.move_clock(first + Duration::hours(4)).await;
    assert_eq!(app.outbox().await.len(), 1, "only the reminder for the current start goes");
}

#[tokio::test]
async fn cancelling_withdraws_the_reminder() {
    let app = spawn_app().await;
    app.given_practice("acct").await;
    app.given_sms_client("acct", "r1").await;
    let start = t0() + Duration::days(2);
    app.book("acct", "a1", "r1", start).await;
    let cancelled = app.cancel("acct", "a1", "r1", start).await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    assert_eq!(cancelled.body["reminders_withdrawn"], 1);
    app.move_clock(start + Duration::hours(1)).await;
    assert!(app.outbox().await.is_empty());
    let messages = app.messages("acct", "a1").await;
    assert_eq!(messages[0]["status"], "withdrawn");
}

#[tokio::test]
async fn with_messaging_disabled_nothing_is_sent_and_the_reminder_is_skipped() {
    let app = spawn_app().await;
    app.given_settings("acct", false, &[1440]).await;
    app.given_email_client("acct", "r1").await;
    let start = t0() + Duration::days(2);
    app.book("acct", "a1", "r1", start).await;
    app.move_clock(start).await;
    assert!(app.outbox().await.is_empty());
    let messages = app.messages("acct", "a1").await;
    assert_eq!(messages[0]["status"], "skipped");
    assert_eq!(messages[0]["reason"], "messaging_disabled");
}

#[tokio::test]
async fn a_reminder_is_never_sent_after_the_appointment_starts() {
    let app = spawn_app().await;
    app.given_practice("acct").await;
    app.given_email_client("acct", "r1").await;
    let start = t0() + Duration::days(2);
    app.book("acct", "a1", "r1", start).await;
    // The schedule was down from before the due time until after the start.
    app.runtime.advance_clock_without_ticks(start + Duration::minutes(1)).unwrap();
    let report = app.runtime.run_sweep().await.unwrap();
    assert_eq!(report.expired, 1);
    assert!(app.outbox().await.is_empty());
    let messages = app.messages("acct", "a1").await;
    assert_eq!(messages[0]["status"], "expired");
    assert_eq!(messages[0]["reason"], "appointment_started");
}

#[tokio::test]
async fn an_offset_already_past_at_booking_is_recorded_as_skipped() {
    let app = spawn_app().await;
    app.given_settings("acct", true, &[1440, 60]).await;
    app.given_email_client("acct", "r1").await;
    let start = t0() + Duration::hours(5);
    let answer = app.book("acct", "a1", "r1", start).await;
    assert_eq!(answer.body["reminders_scheduled"], 2);
    app.move_clock(start).await;
    let outbox = app.outbox().await;
    assert_eq!(outbox.len(), 1, "only the 60-minute reminder");
    let mut statuses: Vec<_> =
        app.messages("acct", "a1").await.iter().map(|m| m["status"].as_str().unwrap().to_owned()).collect();
    statuses.sort();
    assert_eq!(statuses, ["sent", "skipped"]);
}

#[tokio::test]
async fn the_clock_refuses_to_go_back() {
    let app = spawn_app().await;
    let answer = app.move_clock(t0() - Duration::minutes(1)).await;
    assert_eq!(answer.status, 422);
    assert_eq!(answer.body["error"]["code"], "clock_backwards");
}

#[tokio::test]
async fn data_and_tokens_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("local.db");
    let options = || LocalOptions { data: Some(data.clone()), manual_clock: Some(t0()), ..LocalOptions::default() };
    let token;
    {
        let app = spawn_app_with(options()).await;
        app.given_practice("acct").await;
        app.given_email_client("acct", "r1").await;
        app.book("acct", "a1", "r1", t0() + Duration::days(2)).await;
        token = app.token("acct");
    }
    let app = spawn_app_with(options()).await;
    let answer = app
        .http
        .get(format!("{}/v1/messages?appointment_id=a1", app.address))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200, "the old token still verifies");
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["messages"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn moving_an_appointment_to_another_recipient_reminds_only_the_new_one() {
    let app = spawn_app().await;
    app.given_practice("acct").await;
    app.given_email_client("acct", "r1").await;
    app.given_sms_client("acct", "r2").await;
    let start = t0() + Duration::days(2);
    app.book("acct", "a1", "r1", start).await;
    let moved = app.book("acct", "a1", "r2", start).await;
    assert_eq!(moved.body["reminders_withdrawn"], 1);
    assert_eq!(moved.body["reminders_scheduled"], 1);
    app.move_clock(start).await;
    let outbox = app.outbox().await;
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    assert_eq!(outbox[0]["channel"], "sms");
    assert_eq!(outbox[0]["to"], "+12025550101");
}

#[tokio::test]
async fn replaying_an_upsert_after_the_start_changes_nothing_and_succeeds() {
    let app = spawn_app().await;
    app.given_practice("acct").await;
    app.given_email_client("acct", "r1").await;
    let start = t0() + Duration::days(2);
    app.book("acct", "a1", "r1", start).await;
    app.move_clock(start + Duration::minutes(5)).await;
    let replay = app.book("acct", "a1", "r1", start).await;
    assert_eq!(replay.status, 200, "{}", replay.body);
    assert_eq!(replay.body["reminders_scheduled"], 0);
    assert_eq!(app.outbox().await.len(), 1);
}

#[tokio::test]
async fn an_sms_reminder_due_in_quiet_hours_goes_at_the_last_allowed_moment_before() {
    let app = spawn_app().await;
    app.given_settings_with(
        "acct",
        serde_json::json!({
            "appointment_reminders": {"enabled": true, "offsets_minutes": [1440]},
            "quiet_hours": {"allowed_from": "08:00", "allowed_until": "21:00"},
        }),
    )
    .await;
    app.given_sms_client("acct", "r1").await;
    app.given_email_client("acct", "r2").await;
    // 07:00 in New York on Dec 3: the reminder would fall at 07:00 on Dec 2.
    let start: chrono::DateTime<chrono::Utc> = "2026-12-03T12:00:00Z".parse().unwrap();
    app.book("acct", "a1", "r1", start).await;
    app.book("acct", "a2", "r2", start).await;
    let evening_before: chrono::DateTime<chrono::Utc> = "2026-12-02T02:00:00Z".parse().unwrap(); // 21:00 Dec 1
    assert_eq!(
        app.messages("acct", "a1").await[0]["due_at"],
        evening_before.to_rfc3339_opts(SecondsFormat::AutoSi, true)
    );
    app.move_clock(evening_before).await;
    let outbox = app.outbox().await;
    assert_eq!(outbox.len(), 1, "the SMS went at 21:00, the email waits: {outbox:?}");
    assert_eq!(outbox[0]["channel"], "sms");
    app.move_clock(start - Duration::hours(24)).await;
    assert_eq!(app.outbox().await.len(), 2, "email is not held by default");
}

#[tokio::test]
async fn an_sms_reminder_with_no_allowed_moment_left_is_skipped() {
    let app = spawn_app().await;
    app.given_settings("acct", true, &[120]).await;
    app.given_sms_client("acct", "r1").await;
    // 07:30 New York: two hours before is 05:30, and 08:00 is after the start.
    let start: chrono::DateTime<chrono::Utc> = "2026-12-02T12:30:00Z".parse().unwrap();
    app.runtime.advance_clock_without_ticks("2026-12-02T02:30:00Z".parse().unwrap()).unwrap(); // 21:30 Dec 1
    app.book("acct", "a1", "r1", start).await;
    let messages = app.messages("acct", "a1").await;
    assert_eq!(messages[0]["status"], "skipped");
    assert_eq!(messages[0]["reason"], "quiet_hours");
}

#[tokio::test]
async fn a_late_booking_gets_one_reminder_right_away_when_the_account_asks() {
    let app = spawn_app().await;
    app.given_settings_with(
        "acct",
        serde_json::json!({
            "appointment_reminders": {"enabled": true, "offsets_minutes": [1440, 120], "remind_when_booked_late": true},
        }),
    )
    .await;
    app.given_email_client("acct", "r1").await;
    let start = t0() + Duration::minutes(90);
    let booked = app.book("acct", "a1", "r1", start).await;
    assert_eq!(booked.body["reminders_scheduled"], 3, "two skipped, one now: {}", booked.body);
    app.move_clock(t0() + Duration::minutes(1)).await;
    assert_eq!(app.outbox().await.len(), 1);
    app.move_clock(start).await;
    assert_eq!(app.outbox().await.len(), 1, "only the one");
}

#[tokio::test]
async fn messages_over_the_daily_cap_are_skipped_with_their_reason() {
    let app = spawn_app().await;
    app.given_settings_with(
        "acct",
        serde_json::json!({
            "appointment_reminders": {"enabled": true, "offsets_minutes": [1440]},
            "caps": {"per_day": 1, "per_week": 3},
        }),
    )
    .await;
    app.given_sms_client("acct", "r1").await;
    // Five appointments on consecutive days, two of them on the same day.
    let first = t0() + Duration::days(2);
    for (id, start) in [
        ("a1", first),
        ("a2", first + Duration::hours(2)),
        ("a3", first + Duration::days(1)),
        ("a4", first + Duration::days(2)),
        ("a5", first + Duration::days(3)),
    ] {
        assert_eq!(app.book("acct", id, "r1", start).await.status, 200);
    }
    app.move_clock(first + Duration::days(4)).await;
    let outbox = app.outbox().await;
    // Dec 2 (a1; a2 over the daily cap), Dec 3 (a3), Dec 4 (a4): three in ISO week 49.
    // Dec 5 (a5) is still week 49 and over the weekly cap.
    assert_eq!(outbox.len(), 3, "{outbox:?}");
    for id in ["a2", "a5"] {
        let message = &app.messages("acct", id).await[0];
        assert_eq!(message["status"], "skipped", "{id}");
        assert_eq!(message["reason"], "cap_reached", "{id}");
    }
}

#[tokio::test]
async fn an_sms_that_reaches_quiet_hours_after_planning_waits_for_the_morning() {
    let app = spawn_app().await;
    app.given_practice("acct").await;
    app.given_email_client("acct", "r1").await;
    // Dec 4 at 22:00 in New York: the email reminder is due Dec 3 at 22:00, which email allows.
    let start: chrono::DateTime<chrono::Utc> = "2026-12-05T03:00:00Z".parse().unwrap();
    app.book("acct", "a1", "r1", start).await;
    // The recipient switches to SMS: the reminder now reaches quiet hours.
    app.given_sms_client("acct", "r1").await;
    app.move_clock(start - Duration::hours(24)).await;
    assert!(app.outbox().await.is_empty(), "no SMS at 22:00");
    let morning: chrono::DateTime<chrono::Utc> = "2026-12-04T13:00:00Z".parse().unwrap(); // 08:00
    let held = &app.messages("acct", "a1").await[0];
    assert_eq!(held["due_at"], morning.to_rfc3339_opts(SecondsFormat::AutoSi, true));
    assert_eq!((held["status"].as_str(), held["reason"].as_str()), (Some("held"), Some("quiet_hours")));
    app.move_clock(morning).await;
    let outbox = app.outbox().await;
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0]["channel"], "sms");
    assert_eq!(outbox[0]["sent_at"], morning.to_rfc3339_opts(SecondsFormat::AutoSi, true));
}

#[tokio::test]
async fn offsets_follow_the_appointment_type_and_a_confirmed_client_gets_no_more_reminders() {
    let app = spawn_app().await;
    app.given_settings_with(
        "acct",
        serde_json::json!({
            "appointment_reminders": {"enabled": true, "offsets_minutes": [1440],
                                      "by_type": {"new_patient": [2880, 120]}},
        }),
    )
    .await;
    app.given_email_client("acct", "r1").await;
    let start = t0() + Duration::days(3);
    let booking = |confirmed: bool| {
        serde_json::json!({
            "recipient_id": "r1", "starts_at": start.to_rfc3339(), "duration_minutes": 30,
            "provider": "Dr. Ruiz", "location": "12 Main St", "status": "booked",
            "appointment_type": "new_patient", "confirmed": confirmed,
        })
    };
    let booked = app.put("acct", "/v1/appointments/a1", booking(false)).await;
    assert_eq!(booked.body["reminders_scheduled"], 2, "{}", booked.body);
    app.move_clock(start - Duration::hours(48)).await;
    assert_eq!(app.outbox().await.len(), 1, "the two-day reminder");

    assert_eq!(app.put("acct", "/v1/appointments/a1", booking(true)).await.status, 200);
    app.move_clock(start).await;
    assert_eq!(app.outbox().await.len(), 1, "no reminder after confirmation");
    let reasons: Vec<_> =
        app.messages("acct", "a1").await.iter().map(|m| m["reason"].as_str().map(str::to_owned)).collect();
    assert!(reasons.contains(&Some("confirmed".to_owned())), "{reasons:?}");
}

#[tokio::test]
async fn after_an_outage_what_is_still_meaningful_goes_and_the_rest_expires() {
    let app = spawn_app().await;
    app.given_settings("acct", true, &[1440, 60]).await;
    app.given_email_client("acct", "r1").await;
    let soon = t0() + Duration::hours(3);
    let later = t0() + Duration::days(2);
    app.book("acct", "a1", "r1", soon).await; // 60-minute reminder due at +2h
    app.book("acct", "a2", "r1", later).await; // day-before reminder due at +1d
                                               // The schedule is down for a day and a half; then one sweep catches up.
    app.runtime.advance_clock_without_ticks(t0() + Duration::hours(36)).unwrap();
    let report = app.runtime.run_sweep().await.unwrap();
    assert_eq!((report.published, report.expired), (1, 1), "{report:?}");
    let a1 = app.messages("acct", "a1").await;
    let a1_status: Vec<_> = a1.iter().map(|m| m["status"].as_str().unwrap().to_owned()).collect();
    assert!(a1_status.contains(&"expired".to_owned()), "{a1_status:?}");
    let outbox = app.outbox().await;
    assert_eq!(outbox.len(), 1, "only the reminder whose appointment is still ahead");
    assert!(outbox[0]["body"].as_str().unwrap().contains("Thursday, December 3"), "{}", outbox[0]["body"]);
}

#[tokio::test]
async fn dates_in_a_reminder_follow_the_recipients_language() {
    let app = spawn_app().await;
    app.given_practice("acct").await;
    let answer = app
        .put(
            "acct",
            "/v1/recipients/r1",
            serde_json::json!({
                "kind": "client", "first_name": "Lucía", "last_name": "Paz", "channel": "email",
                "email": "lucia@example.com", "language": "es-MX",
            }),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let start = t0() + Duration::days(2);
    app.book("acct", "a1", "r1", start).await;
    app.move_clock(start).await;
    let body = app.outbox().await[0]["body"].as_str().unwrap().to_owned();
    assert!(body.contains("jueves 3 de diciembre at 09:00"), "{body}");
}
