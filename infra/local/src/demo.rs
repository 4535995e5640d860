//! `tidings-local demo`: two practices, their clients, appointments and an
//! invoice, and a simulated day and a half, printed as a timeline of what was
//! scheduled, claimed and delivered, of all four automated kinds. Everything goes through the real API router, the
//! real sweep and delivery handlers, and the embedded store.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request};
use axum::Router;
use base64::Engine as _;
use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::America::New_York;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::runtime::{LocalError, LocalOptions, LocalRuntime};
use crate::server;

struct Practice {
    label: &'static str,
    token: String,
}

fn clock_label(at: DateTime<Utc>) -> String {
    at.with_timezone(&New_York).format("%a %b %-d %H:%M").to_string()
}

async fn call(app: &Router, method: Method, path: &str, token: &str, body: Value) -> Result<Value, LocalError> {
    let request = Request::builder()
        .method(method.clone())
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .map_err(|e| LocalError::Wiring(e.to_string()))?;
    let response = app.clone().oneshot(request).await.map_err(|e| LocalError::Wiring(e.to_string()))?;
    let status = response.status();
    let bytes =
        axum::body::to_bytes(response.into_body(), usize::MAX).await.map_err(|e| LocalError::Wiring(e.to_string()))?;
    let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(LocalError::Wiring(format!("{method} {path} answered {status}: {value}")));
    }
    Ok(value)
}

/// The demo's timeline, printed as it happens.
struct Timeline {
    app: Router,
    runtime: Arc<LocalRuntime>,
    /// (practice, `appointment_id`, `invoice_id` or `recipient_id`, record
    /// id) → message id → last status printed.
    seen: BTreeMap<(usize, &'static str, String), HashMap<String, String>>,
    outbox_printed: usize,
}

impl Timeline {
    fn say(&self, at: DateTime<Utc>, who: &str, what: impl AsRef<str>) {
        println!("{}  {:<10} {}", clock_label(at), who, what.as_ref());
    }

    async fn put(&self, practice: &Practice, path: &str, body: Value) -> Result<Value, LocalError> {
        call(&self.app, Method::PUT, path, &practice.token, body).await
    }

    async fn post(&self, practice: &Practice, path: &str, body: Value) -> Result<Value, LocalError> {
        call(&self.app, Method::POST, path, &practice.token, body).await
    }

    /// The id of the sent reminder of an appointment.
    async fn sent_reminder(&self, practice: &Practice, appointment: &str) -> Result<Option<String>, LocalError> {
        let path = format!("/v1/messages?appointment_id={appointment}");
        let list = call(&self.app, Method::GET, &path, &practice.token, Value::Null).await?;
        Ok(list["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["status"] == "sent" && m["kind"] == "appointment_reminder")
            .and_then(|m| m["id"].as_str().map(str::to_owned)))
    }

    async fn book(
        &mut self,
        practices: &[Practice],
        index: usize,
        id: &str,
        recipient: &str,
        starts_at: DateTime<Utc>,
        status: &str,
    ) -> Result<(), LocalError> {
        let practice = &practices[index];
        let answer = self
            .put(
                practice,
                &format!("/v1/appointments/{id}"),
                json!({
                    "recipient_id": recipient,
                    "starts_at": starts_at.with_timezone(&New_York).to_rfc3339(),
                    "duration_minutes": 30,
                    "provider": "Dr. Okafor",
                    "location": "12 Harbor St",
                    "status": status,
                }),
            )
            .await?;
        let verb = match (status, self.seen.contains_key(&(index, "appointment_id", id.to_owned()))) {
            ("cancelled", _) => "cancelled",
            (_, true) => "moved",
            _ => "booked",
        };
        self.say(
            self.runtime.clock.now(),
            practice.label,
            format!(
                "{verb} {id} for {recipient} at {}: {} reminder(s) scheduled, {} withdrawn",
                clock_label(starts_at),
                answer["reminders_scheduled"],
                answer["reminders_withdrawn"],
            ),
        );
        self.seen.entry((index, "appointment_id", id.to_owned())).or_default();
        self.report_changes(practices).await
    }

    async fn bill(
        &mut self,
        practices: &[Practice],
        index: usize,
        id: &str,
        recipient: &str,
        due_date: &str,
    ) -> Result<(), LocalError> {
        let practice = &practices[index];
        let answer = self
            .put(
                practice,
                &format!("/v1/invoices/{id}"),
                json!({
                    "recipient_id": recipient, "amount_cents": 8500, "currency": "USD",
                    "due_date": due_date, "status": "open", "pay_url": "https://pay.example.com/i/8500",
                }),
            )
            .await?;
        self.say(
            self.runtime.clock.now(),
            practice.label,
            format!(
                "invoice {id} for {recipient} due {due_date}: {} message(s) scheduled",
                answer["messages_scheduled"],
            ),
        );
        self.seen.entry((index, "invoice_id", id.to_owned())).or_default();
        self.report_changes(practices).await
    }

    /// Prints every message whose status changed since last time.
    async fn report_changes(&mut self, practices: &[Practice]) -> Result<(), LocalError> {
        let mut lines: Vec<(DateTime<Utc>, &str, String)> = Vec::new();
        let keys: Vec<_> = self.seen.keys().cloned().collect();
        for (index, filter, record) in keys {
            let practice = &practices[index];
            let path = format!("/v1/messages?{filter}={record}");
            let list = call(&self.app, Method::GET, &path, &practice.token, Value::Null).await?;
            for message in list["messages"].as_array().into_iter().flatten() {
                let id = message["id"].as_str().unwrap_or_default().to_owned();
                let status = message["status"].as_str().unwrap_or_default().to_owned();
                let seen = self.seen.entry((index, filter, record.clone())).or_default();
                if seen.get(&id) == Some(&status) {
                    continue;
                }
                seen.insert(id.clone(), status.clone());
                let what = match message["kind"].as_str() {
                    Some("appointment_notice") => "notice".to_owned(),
                    Some("billing_reminder") => "billing reminder".to_owned(),
                    Some("late_payment_notice") => "late-payment notice".to_owned(),
                    Some("opt_in_request") => "opt-in request".to_owned(),
                    Some("keyword_answer") => "answer to a keyword".to_owned(),
                    _ => format!("reminder -{}min", id.split('~').nth(2).unwrap_or("?")),
                };
                let what = match id.split_once("~to~") {
                    Some((_, contact)) => format!("{what} (copy to {contact})"),
                    None => what,
                };
                let due: DateTime<Utc> = message["due_at"].as_str().and_then(|d| d.parse().ok()).unwrap_or_default();
                let at = [&message["sent_at"], &message["claimed_at"]]
                    .iter()
                    .find_map(|t| t.as_str().and_then(|d| d.parse().ok()))
                    .unwrap_or(self.runtime.clock.now());
                let detail = match status.as_str() {
                    "scheduled" => format!("due {}", clock_label(due)),
                    "delivered" => "the provider confirmed it arrived".to_owned(),
                    "sent" => format!(
                        "handed to {} (provider id {})",
                        message["channel"].as_str().unwrap_or_default(),
                        message["provider_message_id"].as_str().unwrap_or_default()
                    ),
                    _ => format!("reason {}", message["reason"].as_str().unwrap_or("none")),
                };
                lines.push((at, practice.label, format!("  {record} {what}: {status}, {detail}")));
            }
        }
        for entry in &self.runtime.outbox.entries()[self.outbox_printed..] {
            let to = match entry.channel {
                tidings::domain::Channel::Email => {
                    entry.to.parse::<tidings::domain::EmailAddress>().map(|e| e.masked())
                }
                _ => entry.to.parse::<tidings::domain::PhoneNumber>().map(|p| p.masked()),
            }
            .unwrap_or_else(|_| "•••".into());
            let size = match entry.pages {
                Some(pages) => format!("{pages} pages"),
                None if !entry.attachments.is_empty() => {
                    format!("{} chars, attached {}", entry.body.len(), entry.attachments.join(", "))
                }
                None => format!("{} chars", entry.body.len()),
            };
            let what = if entry.staff { "staff email" } else { entry.channel.as_str() };
            lines.push((entry.sent_at, "outbox", format!("  {what} to {to}: {size}")));
            self.outbox_printed += 1;
        }
        // Stable: within one moment, status changes come before the outbox.
        lines.sort_by_key(|(at, _, _)| *at);
        for (at, who, what) in lines {
            self.say(at, who, what);
        }
        Ok(())
    }

    /// The recipient opens the form's link, gives a wrong code and then
    /// the right one, and the practice app marks the form submitted.
    async fn open_form(&self, practice: &Practice, form: &Value) -> Result<(), LocalError> {
        let link = form["link"].as_str().unwrap_or_default();
        let path = link.find("/f/").map_or(link, |at| &link[at..]);
        let code = form["access_code"].as_str().unwrap_or_default();
        let now = self.runtime.clock.now();
        for entered in ["000000", code] {
            let request = Request::builder()
                .method(Method::POST)
                .uri(path)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(format!("access_code={entered}")))
                .map_err(|e| LocalError::Wiring(e.to_string()))?;
            let response = self.app.clone().oneshot(request).await.map_err(|e| LocalError::Wiring(e.to_string()))?;
            let what = match response.status().as_u16() {
                303 => "the right code: on to the practice's form, with an access token".to_owned(),
                status => format!("a wrong code: the page asks again ({status})"),
            };
            self.say(now, practice.label, format!("c-101 opened the form's link and entered {what}"));
        }
        let id = form["id"].as_str().unwrap_or_default();
        let submitted = self.post(practice, &format!("/v1/forms/{id}/submitted"), json!({})).await?;
        self.say(now, practice.label, format!("the practice app marked the form {}", submitted["status"]));
        Ok(())
    }

    async fn advance(&mut self, practices: &[Practice], to: DateTime<Utc>) -> Result<(), LocalError> {
        let mut at = self.runtime.clock.now();
        // Step by the hour so the timeline interleaves with the edits.
        while at < to {
            at = (at + Duration::hours(1)).min(to);
            self.runtime.advance_to(at).await?;
            self.report_changes(practices).await?;
        }
        Ok(())
    }
}

pub async fn run() -> Result<(), LocalError> {
    let start = New_York
        .with_ymd_and_hms(2026, 12, 7, 8, 0, 0)
        .single()
        .ok_or_else(|| LocalError::Wiring("demo start time".into()))?
        .with_timezone(&Utc);
    let runtime =
        Arc::new(LocalRuntime::start(LocalOptions { manual_clock: Some(start), ..LocalOptions::default() }).await?);
    // Links in messages (a form's) name the address `serve` listens on.
    runtime.origin.set(std::net::SocketAddr::from(([127, 0, 0, 1], 8080)));
    let token = |account: &str, operator: bool| {
        account
            .parse()
            .map_err(|_| LocalError::Wiring("demo account id".into()))
            .and_then(|a| runtime.token_key.issue(&a, operator).map_err(|e| LocalError::Wiring(e.to_string())))
    };
    let practices = [
        Practice { label: "Riverside", token: token("riverside", false)? },
        Practice { label: "Lakeside", token: token("lakeside", false)? },
        Practice { label: "Hillside", token: token("hillside", false)? },
    ];
    let mut timeline = Timeline {
        app: server::app(runtime.clone())?,
        runtime: runtime.clone(),
        seen: BTreeMap::new(),
        outbox_printed: 0,
    };
    println!("Tidings demo: two practices through a simulated day and a half (times America/New_York).\n");

    let riverside = &practices[0];
    timeline
        .put(
            riverside,
            "/v1/settings",
            json!({
                "practice_name": "Riverside Clinic", "practice_phone": "+12025550143",
                "time_zone": "America/New_York", "messaging_enabled": true,
                "appointment_reminders": {"enabled": true, "offsets_minutes": [1440, 120]},
                "appointment_notices": {"enabled": true, "debounce_minutes": 3},
                "voice_replies": true,
                "invoice_messages": {"billing_reminders": true, "days_before": 1, "late_payment_notices": true,
                                     "days_after": 0, "repeat_every_days": 7, "max_notices": 2},
                "app_links": {"message": "https://app.riverside.example/messages/{message_id}",
                              "recipient": "https://app.riverside.example/clients/{recipient_id}"},
            }),
        )
        .await?;
    timeline.say(start, riverside.label, "settings: messaging on, reminders 24 h and 2 h before, notices after 3 min, billing 1 day before and on the due date, calls take keypad replies");
    // Riverside's users, and how often each hears of its notifications.
    let staff = [
        ("frontdesk", json!({"frequency": "immediate"}), None, "emailed each notification at once"),
        (
            "manager",
            json!({"frequency": "daily", "daily_at": "08:00"}),
            Some("America/Los_Angeles"),
            "a daily digest at 08:00 Los Angeles time",
        ),
        ("doctor", json!({"frequency": "off"}), None, "no notification emails"),
    ];
    for (user, notifications, zone, what) in &staff {
        let body = json!({"email": format!("{user}@riverside.example"), "display_name": user,
                          "time_zone": zone, "notifications": notifications});
        timeline.put(riverside, &format!("/v1/users/{user}"), body).await?;
        timeline.say(start, riverside.label, format!("user {user}: {what}"));
    }
    // Credit is the operator's to grant (the practice pays the operator).
    let operator = token("riverside", true)?;
    let purchase = json!({"amount_cents": 2000, "idempotency_key": "demo-credit"});
    let bought = call(&timeline.app, Method::POST, "/v1/credit/purchases", &operator, purchase).await?;
    timeline.say(
        start,
        riverside.label,
        format!(
            "bought credit: balance {} cents (texts, calls and faxes spend it; email is free)",
            bought["balance_cents"]
        ),
    );
    let lakeside = &practices[1];
    timeline
        .put(
            lakeside,
            "/v1/settings",
            json!({
                "practice_name": "Lakeside Therapy", "practice_phone": "+12025550188",
                "time_zone": "America/New_York", "messaging_enabled": false,
            }),
        )
        .await?;
    timeline.say(start, lakeside.label, "settings: messaging off (default reminder 24 h before)");
    let hillside = &practices[2];
    timeline
        .put(
            hillside,
            "/v1/settings",
            json!({
                "practice_name": "Hillside Dental", "practice_phone": "+12025550166",
                "time_zone": "America/New_York", "messaging_enabled": true,
                "opt_in": {"required": true, "request_lead_minutes": 60,
                           "privacy_policy_url": "https://hillside.example/privacy", "privacy_policy_version": "2026-12"},
            }),
        )
        .await?;
    let operator = token("hillside", true)?;
    let purchase = json!({"amount_cents": 1000, "idempotency_key": "demo-credit"});
    call(&timeline.app, Method::POST, "/v1/credit/purchases", &operator, purchase).await?;
    timeline.say(
        start,
        hillside.label,
        "settings: opt-in required (a request 60 min before a client's first message), credit bought",
    );

    let clients = [
        (0, "c-100", "Ann", "email", json!({"email": "ann@example.com"})),
        (0, "c-101", "Ben", "sms", json!({"phone": "+12025550101"})),
        (0, "c-102", "Cara", "sms", json!({"phone": "+13105550102", "time_zone": "America/Los_Angeles"})),
        (0, "c-103", "Dev", "voice", json!({"phone": "+12025550103"})),
        (0, "c-104", "Fay", "fax", json!({"fax": "+12025550104"})),
        (1, "l-200", "Eli", "email", json!({"email": "eli@example.org"})),
        (2, "h-300", "Gus", "sms", json!({"phone": "+12025550105"})),
        (2, "h-301", "Hal", "sms", json!({"phone": "+12025550106"})),
    ];
    for (index, id, first_name, channel, contact) in clients {
        let mut body = json!({"kind": "client", "first_name": first_name, "last_name": "Sample", "channel": channel});
        if let (Some(body), Some(contact)) = (body.as_object_mut(), contact.as_object()) {
            body.extend(contact.clone());
        }
        timeline.put(&practices[index], &format!("/v1/recipients/{id}"), body).await?;
        timeline.say(start, practices[index].label, format!("recipient {id} prefers {channel}"));
    }

    // Cara's guardian is copied on her reminders.
    let guardian = json!({"kind": "contact", "first_name": "Gwen", "last_name": "Sample", "channel": "email",
                          "email": "gwen@example.com"});
    timeline.put(riverside, "/v1/recipients/g-100", guardian).await?;
    let link = json!({"relationship": "guardian", "copy_on": ["appointment_reminder"]});
    timeline.put(riverside, "/v1/recipients/c-102/contacts/g-100", link).await?;
    timeline.say(start, riverside.label, "contact g-100 (Cara's guardian) is copied on c-102's reminders");

    let tomorrow = |h: u32, m: u32| {
        New_York.with_ymd_and_hms(2026, 12, 8, h, m, 0).single().map(|t| t.with_timezone(&Utc)).unwrap_or(start)
    };
    timeline.book(&practices, 0, "a-1", "c-100", tomorrow(9, 30), "booked").await?;
    timeline.book(&practices, 0, "a-2", "c-101", tomorrow(11, 0), "booked").await?;
    timeline.book(&practices, 0, "a-3", "c-102", tomorrow(16, 0), "booked").await?;
    timeline.book(&practices, 0, "a-4", "c-103", tomorrow(10, 0), "booked").await?;
    timeline.book(&practices, 0, "a-5", "c-101", tomorrow(15, 0), "booked").await?;
    timeline.book(&practices, 0, "a-6", "c-100", tomorrow(14, 0), "booked").await?;
    timeline.book(&practices, 0, "a-7", "c-104", tomorrow(12, 0), "booked").await?;
    timeline.book(&practices, 1, "b-1", "l-200", tomorrow(10, 0), "booked").await?;
    timeline.book(&practices, 2, "h-1", "h-300", tomorrow(10, 30), "booked").await?;
    timeline.book(&practices, 2, "h-2", "h-301", tomorrow(10, 45), "booked").await?;
    // Hillside's clients are followed whole, opt-in requests included.
    for (appointment, client) in [("h-1", "h-300"), ("h-2", "h-301")] {
        timeline.seen.remove(&(2, "appointment_id", appointment.to_owned()));
        timeline.seen.entry((2, "recipient_id", client.to_owned())).or_default();
    }
    timeline.report_changes(&practices).await?;
    timeline.bill(&practices, 0, "inv-7", "c-101", "2026-12-08").await?;

    println!();
    timeline.advance(&practices, start + Duration::hours(3)).await?;
    // Dev answers the reminder call and presses 1: the appointment is
    // confirmed, so the 2-hour reminder will not go.
    if let Some(call) = timeline.sent_reminder(riverside, "a-4").await? {
        let answer = crate::voice::Answer { digits: "1".into(), ..crate::voice::Answer::default() };
        crate::voice::answer(&runtime.voice, &runtime.calls, &call, &answer)
            .await
            .map_err(|e| LocalError::Wiring(e.to_string()))?;
        timeline.say(runtime.clock.now(), riverside.label, "c-103 answered the call and pressed 1: a-4 confirmed");
    }
    // Ben answers his text reminder with "Y": a-2 is confirmed by reply,
    // through ingest-replies as the SNS topic would deliver it.
    let texted = runtime.receive_sms("+12025550101", crate::runtime::LOCAL_CALLER_ID, "Y").await?;
    if texted.recorded == 1 {
        timeline.say(runtime.clock.now(), riverside.label, "c-101 texted \"Y\" back: a-2 confirmed by reply");
    }
    // Ann answers her email reminder; the history her mail program quoted
    // is cut, and what she wrote is a new message for staff.
    let reply_to = runtime.outbox.entries().into_iter().find_map(|e| e.reply_to.filter(|_| e.to == "ann@example.com"));
    if let Some(reply_to) = reply_to {
        let raw = format!(
            "From: Ann Sample <ann@example.com>\r\nTo: Riverside Clinic <{reply_to}>\r\n\
             Subject: Re: Appointment reminder from Riverside Clinic\r\nMessage-ID: <demo-reply-1@example.com>\r\n\
             MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
             Running 10 minutes late tomorrow, sorry!\r\n\r\n\
             On Mon, Dec 7, 2026 at 9:30 AM Riverside Clinic <{reply_to}> wrote:\r\n\
             > Hello Ann, this is a reminder of your appointment\r\n"
        );
        runtime.receive_email(raw.into_bytes()).await?;
        timeline.say(runtime.clock.now(), riverside.label, "c-100 replied by email: a new message for staff");
    }
    // The fax provider reports the fax delivered (a signed webhook).
    if let Some(fax) = runtime.outbox.entries().iter().find(|e| e.channel == tidings::domain::Channel::Fax) {
        let path = format!("/local/fax/{}/status", fax.message_id);
        timeline.post(riverside, &path, json!({"status": "delivered", "pages": fax.pages.unwrap_or(1)})).await?;
    }
    // Gus answers Hillside's opt-in request with YES: his held reminder
    // goes at once. Hal never answers: his waits, then expires.
    let opted_in = runtime.receive_sms("+12025550105", crate::runtime::LOCAL_CALLER_ID, "YES").await?;
    if opted_in.recorded == 1 {
        timeline.say(
            runtime.clock.now(),
            hillside.label,
            "h-300 texted \"YES\" to the opt-in request: consent granted",
        );
    }
    timeline.report_changes(&practices).await?;
    timeline.book(&practices, 0, "a-6", "c-100", tomorrow(16, 30), "booked").await?;
    // Staff write to Ann, and send Ben the new-patient form.
    let results = tidings::domain::RenderedContent {
        to: "ann@example.com".into(),
        body: "Lab results: all within the normal range.".into(),
        ..tidings::domain::RenderedContent::default()
    };
    let pdf = tidings::channels::fax::pdf::render(&results).map_err(|e| LocalError::Wiring(e.to_string()))?.bytes;
    let written = json!({"recipient_id": "c-100", "subject": "Your lab results",
                         "body": "Your lab results are in (attached). Please call us to go over them.",
                         "attachments": [{"filename": "results.pdf", "content_type": "application/pdf",
                                          "content_base64": base64::engine::general_purpose::STANDARD.encode(&pdf)}],
                         "idempotency_key": "demo-results"});
    timeline.post(riverside, "/v1/messages", written).await?;
    timeline.say(runtime.clock.now(), riverside.label, "staff wrote c-100 an email with a PDF (ad hoc)");
    let form_url = format!("{}/local/form", runtime.origin.get().unwrap_or("http://127.0.0.1:8080"));
    let asked = json!({"recipient_id": "c-101", "title": "New patient intake", "form_url": form_url});
    let form = timeline.post(riverside, "/v1/forms", asked).await?;
    timeline.say(runtime.clock.now(), riverside.label, "sent c-101 the new patient intake form (link and code)");
    timeline.advance(&practices, start + Duration::hours(4) + Duration::minutes(5)).await?;
    timeline.open_form(riverside, &form).await?;
    timeline.advance(&practices, start + Duration::hours(5)).await?;
    timeline.book(&practices, 0, "a-5", "c-101", tomorrow(15, 0), "cancelled").await?;
    timeline.advance(&practices, tomorrow(18, 0)).await?;

    let (staff_emails, outbox): (Vec<_>, Vec<_>) = runtime.outbox.entries().into_iter().partition(|e| e.staff);
    let count = |channel| outbox.iter().filter(|e| e.channel == channel).count();
    let credit = call(&timeline.app, Method::GET, "/v1/credit", &riverside.token, Value::Null).await?;
    let spent = bought["balance_cents"].as_i64().unwrap_or(0) - credit["balance_cents"].as_i64().unwrap_or(0);
    println!(
        "\nOutbox: {} messages delivered ({} email, {} sms, {} calls, {} faxes); Riverside's texts, calls and faxes cost {} cents, leaving {} cents.",
        outbox.len(),
        count(tidings::domain::Channel::Email),
        count(tidings::domain::Channel::Sms),
        count(tidings::domain::Channel::Voice),
        count(tidings::domain::Channel::Fax),
        spent,
        credit["balance_cents"],
    );
    for client in ["h-300", "h-301"] {
        let path = format!("/v1/recipients/{client}/consent");
        let record = call(&timeline.app, Method::GET, &path, &hillside.token, Value::Null).await?;
        let sms = &record["channels"]["sms"];
        println!(
            "Hillside {client} consent (GET {path}): {} by {} ({} changes kept)",
            sms["state"].as_str().unwrap_or("none"),
            sms["method"].as_str().unwrap_or("-"),
            record["history"].as_array().map_or(0, Vec::len),
        );
    }
    let inbox = call(&timeline.app, Method::GET, "/v1/replies", &riverside.token, Value::Null).await?;
    println!("Riverside's replies (GET /v1/replies):");
    for reply in inbox["replies"].as_array().into_iter().flatten() {
        println!(
            "  {} from {} by {}: {:?} -> {}",
            reply["at"].as_str().unwrap_or_default(),
            reply["recipient_id"].as_str().unwrap_or("(unmatched)"),
            reply["channel"].as_str().unwrap_or_default(),
            reply["body"].as_str().unwrap_or_default(),
            reply["action"].as_str().unwrap_or_default(),
        );
    }
    println!("Riverside's staff emails (no patient names, numbers or words in any):");
    for (user, ..) in &staff {
        let to = format!("{user}@riverside.example");
        let theirs: Vec<_> = staff_emails.iter().filter(|e| e.to == to).collect();
        println!("  {user}: {} email(s)", theirs.len());
        for email in theirs {
            println!("    {} {}", clock_label(email.sent_at), email.subject.as_deref().unwrap_or_default());
        }
    }
    if let Some(digest) = staff_emails.iter().find(|e| e.to == "manager@riverside.example") {
        println!("\n--- the manager's daily digest ---\n{}", digest.body.trim_end());
    }
    println!("\nA reminder on each channel, a notice and a billing reminder:");
    let reminder = |channel| outbox.iter().find(|e| e.channel == channel && e.body.contains("reminder"));
    let notice = outbox.iter().find(|e| e.body.contains("your appointment with"));
    let billing = outbox.iter().find(|e| e.body.contains("is due"));
    let samples = [
        reminder(tidings::domain::Channel::Email),
        reminder(tidings::domain::Channel::Sms),
        reminder(tidings::domain::Channel::Voice),
        notice,
        billing,
    ];
    for entry in samples.into_iter().flatten() {
        println!("\n--- {} ---", entry.channel.as_str());
        if let Some(subject) = &entry.subject {
            println!("Subject: {subject}");
        }
        println!("{}", entry.body.trim_end());
        if let Some(document) = &entry.document {
            println!("(fax PDF, {} pages: {document})", entry.pages.unwrap_or(0));
        }
    }
    Ok(())
}
