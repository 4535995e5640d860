//! Appointment notices: one per settled change, after the debounce, with
//! the final state; an edit undone in time sends nothing.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use tidings_e2e::{spawn_app, t0, TestApp};

async fn given_notices(app: &TestApp) {
    app.given_settings_with(
        "acct",
        json!({
            "appointment_reminders": {"enabled": true, "offsets_minutes": [1440]},
            "appointment_notices": {"enabled": true, "debounce_minutes": 3},
        }),
    )
    .await;
    app.given_sms_client("acct", "r1").await;
}

async fn at(app: &TestApp, now: DateTime<Utc>) {
    let answer = app.move_clock(now).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
}

fn notices(outbox: &[serde_json::Value]) -> Vec<String> {
    outbox
        .iter()
        .map(|e| e["body"].as_str().unwrap().to_owned())
        .filter(|b| b.contains("your appointment with"))
        .collect()
}

#[tokio::test]
async fn a_booking_sends_one_notice_after_the_debounce() {
    let app = spawn_app().await;
    given_notices(&app).await;
    let start = t0() + Duration::days(3);
    let booked = app.book("acct", "a1", "r1", start).await;
    assert_eq!(
        booked.body["notice_due_at"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap(),
        t0() + Duration::minutes(3)
    );
    at(&app, t0() + Duration::minutes(2)).await;
    assert!(app.outbox().await.is_empty(), "not before the debounce");
    at(&app, t0() + Duration::minutes(3)).await;
    let sent = notices(&app.outbox().await);
    assert_eq!(sent.len(), 1);
    assert!(sent[0].contains("is booked for Dec 4 at 9:00 AM"), "{}", sent[0]);
    at(&app, t0() + Duration::hours(1)).await;
    assert_eq!(notices(&app.outbox().await).len(), 1);
}

#[tokio::test]
async fn rapid_edits_send_one_notice_with_the_final_state() {
    let app = spawn_app().await;
    given_notices(&app).await;
    let start = t0() + Duration::days(3);
    app.book("acct", "a1", "r1", start).await;
    at(&app, t0() + Duration::minutes(2)).await;
    app.book("acct", "a1", "r1", start + Duration::hours(1)).await;
    at(&app, t0() + Duration::minutes(4)).await;
    app.book("acct", "a1", "r1", start + Duration::hours(2)).await;
    at(&app, t0() + Duration::minutes(6)).await;
    assert!(app.outbox().await.is_empty(), "each edit restarts the wait");
    at(&app, t0() + Duration::minutes(7)).await;
    let sent = notices(&app.outbox().await);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].contains("is booked for Dec 4 at 11:00 AM"), "the final time: {}", sent[0]);
}

#[tokio::test]
async fn an_edit_undone_within_the_window_sends_nothing() {
    let app = spawn_app().await;
    given_notices(&app).await;
    let start = t0() + Duration::days(3);
    app.book("acct", "a1", "r1", start).await;
    at(&app, t0() + Duration::minutes(3)).await;
    assert_eq!(notices(&app.outbox().await).len(), 1);

    app.book("acct", "a1", "r1", start + Duration::hours(1)).await;
    at(&app, t0() + Duration::minutes(4)).await;
    app.book("acct", "a1", "r1", start).await;
    at(&app, t0() + Duration::minutes(30)).await;
    assert_eq!(notices(&app.outbox().await).len(), 1, "the move and its undoing cancel out");
    let withdrawn: Vec<_> = app
        .messages("acct", "a1")
        .await
        .into_iter()
        .filter(|m| m["kind"] == "appointment_notice" && m["status"] == "withdrawn")
        .collect();
    assert_eq!(withdrawn.len(), 1);
    assert_eq!(withdrawn[0]["reason"], "nothing_changed");
}

#[tokio::test]
async fn a_reschedule_then_a_cancellation_each_send_their_notice() {
    let app = spawn_app().await;
    given_notices(&app).await;
    let start = t0() + Duration::days(3);
    app.book("acct", "a1", "r1", start).await;
    at(&app, t0() + Duration::minutes(3)).await;
    app.book("acct", "a1", "r1", start + Duration::days(1)).await;
    at(&app, t0() + Duration::minutes(10)).await;
    app.cancel("acct", "a1", "r1", start + Duration::days(1)).await;
    at(&app, t0() + Duration::minutes(20)).await;
    let sent = notices(&app.outbox().await);
    assert_eq!(sent.len(), 3, "{sent:?}");
    assert!(sent[1].contains("is now Dec 5 at 9:00 AM"), "{}", sent[1]);
    assert!(sent[2].contains("Dec 5 at 9:00 AM is cancelled"), "{}", sent[2]);
    at(&app, start + Duration::days(2)).await;
    assert_eq!(app.outbox().await.len(), 3, "the cancelled appointment's reminders were withdrawn");
}

#[tokio::test]
async fn a_booking_cancelled_before_its_notice_went_sends_nothing() {
    let app = spawn_app().await;
    given_notices(&app).await;
    let start = t0() + Duration::days(3);
    app.book("acct", "a1", "r1", start).await;
    at(&app, t0() + Duration::minutes(1)).await;
    app.cancel("acct", "a1", "r1", start).await;
    at(&app, t0() + Duration::hours(1)).await;
    assert!(app.outbox().await.is_empty());
}

#[tokio::test]
async fn notices_are_off_unless_the_account_turns_them_on() {
    let app = spawn_app().await;
    app.given_practice("acct").await;
    app.given_sms_client("acct", "r1").await;
    let booked = app.book("acct", "a1", "r1", t0() + Duration::days(3)).await;
    assert!(booked.body["notice_due_at"].is_null());
    at(&app, t0() + Duration::hours(1)).await;
    assert!(app.outbox().await.is_empty());
}

#[tokio::test]
async fn a_notice_falling_in_quiet_hours_waits_for_the_morning() {
    let app = spawn_app().await;
    given_notices(&app).await;
    // 22:00 in New York.
    let late: DateTime<Utc> = "2026-12-02T03:00:00Z".parse().unwrap();
    app.runtime.advance_clock_without_ticks(late).unwrap();
    let booked = app.book("acct", "a1", "r1", late + Duration::days(3)).await;
    let morning: DateTime<Utc> = "2026-12-02T13:00:00Z".parse().unwrap(); // 08:00
    assert_eq!(booked.body["notice_due_at"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap(), morning);
}

#[tokio::test]
async fn a_cancellation_in_the_same_burst_as_a_move_names_the_time_the_recipient_was_told() {
    let app = spawn_app().await;
    given_notices(&app).await;
    let start = t0() + Duration::days(3);
    app.book("acct", "a1", "r1", start).await;
    at(&app, t0() + Duration::minutes(3)).await;
    app.book("acct", "a1", "r1", start + Duration::days(1)).await;
    app.cancel("acct", "a1", "r1", start + Duration::days(1)).await;
    at(&app, t0() + Duration::minutes(10)).await;
    let sent = notices(&app.outbox().await);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent[1].contains("Dec 4 at 9:00 AM is cancelled"), "the date they knew: {}", sent[1]);
}

#[tokio::test]
async fn notices_turned_off_after_planning_are_not_sent() {
    let app = spawn_app().await;
    given_notices(&app).await;
    app.book("acct", "a1", "r1", t0() + Duration::days(3)).await;
    app.given_settings("acct", true, &[1440]).await;
    at(&app, t0() + Duration::minutes(10)).await;
    assert!(app.outbox().await.is_empty());
    let notice = app.messages("acct", "a1").await.into_iter().find(|m| m["kind"] == "appointment_notice").unwrap();
    assert_eq!(notice["status"], "skipped");
    assert_eq!(notice["reason"], "turned_off");
}

#[tokio::test]
async fn an_upsert_never_overwrites_what_a_notice_told_meanwhile() {
    let app = spawn_app().await;
    given_notices(&app).await;
    let start = t0() + Duration::days(3);
    app.book("acct", "a1", "r1", start).await;
    let store = &app.runtime.store;
    let account = "acct".parse().unwrap();
    let id = "a1".parse().unwrap();
    let (appointment, links) = store.get_appointment(&account, &id).await.unwrap().unwrap();
    assert!(links.notified.is_none());
    // A notice goes out between an upsert's read and its write…
    store.set_notified(&account, &id, &appointment.notice_state()).await.unwrap();
    // …so the write, still expecting nothing told, does not apply.
    assert!(!store.put_appointment(&account, &appointment, &links, None).await.unwrap());
    let (_, now) = store.get_appointment(&account, &id).await.unwrap().unwrap();
    assert_eq!(now.notified, Some(appointment.notice_state()));
    // The API's upsert re-reads and succeeds.
    assert_eq!(app.book("acct", "a1", "r1", start + Duration::hours(1)).await.status, 200);
}
