//! One fault at every step: a message's whole life (claimed and rendered by
//! the sweep, paid for and sent by its delivery function, reported on by the
//! carrier, bounced, or failed by the fax provider's webhook) is run once per DynamoDB request it makes, with that request
//! failing before it reaches the table, and again with the table applying it
//! and the answer lost. The sources retry as AWS does (the schedule ticks,
//! Lambda retries an asynchronous invocation twice, a report is delivered
//! again), and afterwards: nothing reached the recipient twice, nothing is
//! left `claimed`, nothing was charged twice or refunded twice, the ledger
//! sums to the balance, staff were told once, and the text was counted once
//! against the recipient's daily cap (of one).
//!
//! Scans of the due index are not faulted: a failed scan ends that sweep
//! before it touches any message, and the next tick scans again.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use tidings::channels::SendError;
use tidings::domain::{AccountId, Channel, LedgerKind, Message, MessageStatus, StatusReason};
use tidings::store::{ContextKeys, Store};
use tidings_e2e::faults::{FaultMode, Faults, ScriptedProvider, SCRIPTED_FAX_PROVIDER};
use tidings_e2e::{spawn_app_with, t0, TestApp};
use tidings_local::embedded::{client_for, RequestCounter};
use tidings_local::runtime::{LocalOptions, SenderOverride, TABLE};

/// A message's life: its channel, what the provider answers, and what is
/// reported about it once it went.
struct Life {
    name: &'static str,
    /// How the life ends without a fault: `status/reason`.
    ends: &'static str,
    channel: Channel,
    provider: fn() -> Vec<Result<(), SendError>>,
    report: Option<Report>,
}

#[derive(Clone, Copy)]
enum Report {
    /// SNS's SMS delivery status log, `SUCCESS` or `FAILURE`.
    Carrier(&'static str),
    /// SES's permanent bounce.
    Bounce,
    /// The fax provider's signed webhook, `delivered` or `failed`.
    Fax(&'static str),
}

const LIVES: [Life; 6] = [
    Life {
        name: "text sent, then the carrier fails it",
        ends: "failed/Unreachable",
        channel: Channel::Sms,
        provider: Vec::new,
        report: Some(Report::Carrier("FAILURE")),
    },
    Life {
        name: "text refused for now, then delivered",
        ends: "delivered/-",
        channel: Channel::Sms,
        provider: || vec![Err(SendError::Transient("Throttling".into()))],
        report: Some(Report::Carrier("SUCCESS")),
    },
    Life {
        name: "text refused for good",
        ends: "failed/BadNumber",
        channel: Channel::Sms,
        provider: || vec![Err(SendError::Permanent("InvalidParameter".into()))],
        report: None,
    },
    Life {
        name: "text of unknown outcome",
        ends: "sent/OutcomeUnknown",
        channel: Channel::Sms,
        provider: || vec![Err(SendError::Unknown("timeout".into()))],
        report: None,
    },
    Life {
        name: "email sent, then it bounces",
        ends: "failed/Bounced",
        channel: Channel::Email,
        provider: Vec::new,
        report: Some(Report::Bounce),
    },
    Life {
        name: "fax sent, then its transmission fails",
        ends: "failed/TransmissionFailed",
        channel: Channel::Fax,
        provider: Vec::new,
        report: Some(Report::Fax("failed")),
    },
];

/// What one run left behind.
#[derive(Debug)]
struct Aftermath {
    /// What one send costs on the life's channel.
    price: i64,
    /// For a bounced email: whether its address is suppressed now.
    suppressed: Option<bool>,
    requests: Vec<String>,
    struck: Option<String>,
    message: Message,
    reached: usize,
    reservations: usize,
    refunds: usize,
    /// Credit the message holds now: reserved less refunded.
    charged: i64,
    ledger_sums_to_balance: bool,
    /// Notifications about the message, per kind, at most one each.
    most_told_of_one_kind: usize,
}

impl Aftermath {
    /// `status/reason`, as [`Life::ends`] reads.
    fn ends(&self) -> String {
        let reason = self.message.reason.map_or_else(|| "-".to_owned(), |r| format!("{r:?}"));
        format!("{}/{reason}", self.message.status.as_str())
    }

    fn stuck(&self) -> bool {
        self.message.status == MessageStatus::Claimed
    }

    fn double_charged(&self) -> bool {
        self.reservations > self.refunds + 1 || self.refunds > self.reservations || self.charged > self.price
    }

    /// What must hold, whatever failed.
    fn violations(&self) -> Vec<String> {
        let mut wrong = Vec::new();
        if self.reached > 1 {
            wrong.push(format!("reached the recipient {} times", self.reached));
        }
        if self.message.status.is_live() {
            wrong.push(format!("left {}", self.message.status.as_str()));
        }
        if self.double_charged() {
            wrong.push(format!(
                "charged {} cents ({} reservations, {} refunds)",
                self.charged, self.reservations, self.refunds
            ));
        }
        if !self.ledger_sums_to_balance {
            wrong.push("the ledger does not sum to the balance".into());
        }
        if self.suppressed == Some(false) && self.message.reason == Some(StatusReason::Bounced) {
            wrong.push("bounced, and the address is not suppressed".into());
        }
        if self.most_told_of_one_kind > 1 {
            wrong.push(format!("staff told {} times", self.most_told_of_one_kind));
        }
        // A failed text is refunded; one of unknown outcome keeps what it
        // reserved, which is nothing when it never got as far as paying
        // (then it cannot have reached the provider either); a sent one is paid.
        let allowed: &[i64] = match (self.message.status, self.message.reason) {
            (MessageStatus::Failed, _) => &[0],
            (_, Some(StatusReason::OutcomeUnknown)) => &[0, self.price],
            _ => &[self.price],
        };
        if !allowed.contains(&self.charged) {
            wrong.push(format!("{} but charged {} cents", self.message.status.as_str(), self.charged));
        }
        wrong
    }
}

/// One segment, or a cover page and a letter, at the default prices; email
/// is free.
fn price(channel: Channel) -> i64 {
    match channel {
        Channel::Sms => 2,
        Channel::Fax => 20,
        _ => 0,
    }
}

/// Ticks of the schedule up to `target`; a tick that failed (a fault in
/// the sweep) is followed by the next, as EventBridge Scheduler's would be.
async fn ticks_until(app: &TestApp, target: DateTime<Utc>) {
    for _ in 0..5 {
        if app.runtime.advance_to(target).await.is_ok() {
            return;
        }
    }
    panic!("the schedule kept failing");
}

/// The provider's report about a message that went, delivered as its source
/// does: retried when the function fails (Lambda's two retries), and sent
/// twice all the same.
async fn reports(app: &TestApp, provider_id: &str, report: Report) {
    for _ in 0..2 {
        for _ in 0..3 {
            let handled = match report {
                Report::Carrier(status) => {
                    let entry = json!({
                        "notification": {"messageId": provider_id, "timestamp": "2026-12-02 14:00:01.120"},
                        "delivery": {"destination": "+12025550101", "smsType": "Transactional", "priceInUSD": 0.00645,
                                     "providerResponse": "Phone is currently unreachable/unavailable",
                                     "dwellTimeMs": 420, "numberOfMessageParts": 1},
                        "status": status,
                    });
                    app.runtime.deliver_sms_log(&entry).await.is_ok()
                }
                Report::Bounce => {
                    let mut bounce: serde_json::Value =
                        serde_json::from_str(include_str!("../../shared/tests/fixtures/ses_bounce_permanent.json"))
                            .unwrap();
                    bounce["mail"]["messageId"] = json!(provider_id);
                    app.runtime.deliver_ses_notification(&bounce).await.is_ok()
                }
                Report::Fax(status) => {
                    let prefix = format!("{SCRIPTED_FAX_PROVIDER}:");
                    let fax_id = provider_id.strip_prefix(&prefix).unwrap_or(provider_id);
                    let report = json!({"status": status, "pages": 2, "failure_reason": "receiver_call_dropped"});
                    app.post_local(&format!("/local/fax/{fax_id}/status"), report).await.status == 200
                }
            };
            if handled {
                break;
            }
        }
    }
}

async fn live(life: &Life, fault: Option<(usize, FaultMode)>) -> Aftermath {
    let faults = Faults::default();
    let provider = Arc::new(ScriptedProvider::answering(life.channel, (life.provider)()));
    let app = spawn_app_with(LocalOptions {
        manual_clock: Some(t0()),
        dynamo_interceptor: Some(faults.interceptor()),
        senders: vec![SenderOverride(provider.clone())],
        ..LocalOptions::default()
    })
    .await;
    // A cap of one a day: a text counted twice would be skipped.
    app.given_settings_with(
        "acct",
        json!({
            "appointment_reminders": {"enabled": true, "offsets_minutes": [1440]},
            "caps": {"per_day": 1},
        }),
    )
    .await;
    app.given_credit("acct", 1000).await;
    match life.channel {
        Channel::Email => app.given_email_client("acct", "r1").await,
        Channel::Fax => app.given_fax_client("acct", "r1").await,
        _ => app.given_sms_client("acct", "r1").await,
    }
    let start = t0() + Duration::days(2);
    app.book("acct", "a1", "r1", start).await;
    // Inspected without faults.
    let store = Store::new(client_for(&app.runtime.dynamo.endpoint(), &RequestCounter::default()), TABLE);
    let account: AccountId = "acct".parse().unwrap();
    let appointment = "a1".parse().unwrap();

    faults.arm(fault);
    let due = start - Duration::days(1);
    ticks_until(&app, due).await;
    // The retry of a text refused for now, and any send left unsettled.
    ticks_until(&app, due + Duration::minutes(2)).await;
    if let Some(report) = life.report {
        let sent = store.messages_for_appointment(&account, &appointment).await.unwrap();
        if let Some(provider_id) = sent[0].provider_message_id.as_deref() {
            reports(&app, provider_id, report).await;
        }
    }
    // Past every lease: the recovery pass has run.
    ticks_until(&app, due + Duration::minutes(30)).await;
    let requests = faults.disarm();

    let message = store.messages_for_appointment(&account, &appointment).await.unwrap().remove(0);
    let balance = store.balance(&account).await.unwrap().balance_cents;
    let ledger = store.ledger(&account, 100).await.unwrap();
    let of_message: Vec<_> = ledger.iter().filter(|e| e.message_id.as_ref() == Some(&message.id)).collect();
    let notifications = store.notifications(&account, 100, None, false).await.unwrap();
    let mut told: Vec<&str> =
        notifications.iter().filter(|n| n.message_id.as_ref() == Some(&message.id)).map(|n| n.kind.as_str()).collect();
    told.sort_unstable();
    let most_told_of_one_kind = told.chunk_by(|a, b| a == b).map(<[&str]>::len).max().unwrap_or(0);
    let suppressed = match life.report {
        Some(Report::Bounce) => {
            let wanted = ContextKeys::of(&account, &message);
            let context = store.render_contexts(&[wanted]).await.unwrap().remove(0);
            Some(context.suppressed.is_some())
        }
        _ => None,
    };
    Aftermath {
        price: price(life.channel),
        suppressed,
        requests,
        struck: faults.struck(),
        reached: provider.reached().len(),
        reservations: of_message.iter().filter(|e| e.kind == LedgerKind::Reservation).count(),
        refunds: of_message.iter().filter(|e| e.kind == LedgerKind::Refund).count(),
        charged: -of_message.iter().map(|e| e.amount_cents).sum::<i64>(),
        ledger_sums_to_balance: ledger.iter().map(|e| e.amount_cents).sum::<i64>() == balance,
        most_told_of_one_kind,
        message,
    }
}

#[tokio::test]
async fn one_fault_at_every_step_of_a_message_sends_it_at_most_once_and_charges_it_once() {
    let mut violations = Vec::new();
    println!(
        "{:<42} {:>3} {:<28} {:<6} {:<28} {:>4} {:>5} {:>6}",
        "life", "#", "request", "fault", "ends", "sent", "stuck", "double"
    );
    for life in &LIVES {
        let clean = live(life, None).await;
        assert!(clean.violations().is_empty(), "{}: {:?}", life.name, clean.violations());
        assert_eq!(clean.ends(), life.ends, "{} without a fault", life.name);
        let points: Vec<usize> = (0..clean.requests.len()).filter(|&i| !clean.requests[i].ends_with("(due)")).collect();
        assert!(points.len() >= 8, "{}: only {:?}", life.name, clean.requests);
        for &point in &points {
            for mode in [FaultMode::Before, FaultMode::After] {
                let after = live(life, Some((point, mode))).await;
                let ends = after.ends();
                let struck = after.struck.clone().unwrap_or_else(|| "(not reached)".into());
                println!(
                    "{:<42} {:>3} {:<28} {:<6} {:<28} {:>4} {:>5} {:>6}",
                    life.name,
                    point,
                    struck,
                    mode.as_str(),
                    ends,
                    after.reached,
                    u8::from(after.stuck()),
                    u8::from(after.double_charged()),
                );
                for wrong in after.violations() {
                    violations.push(format!("{} / {} {} {}: {wrong}", life.name, point, struck, mode.as_str()));
                }
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}
