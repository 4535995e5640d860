//! The `opt-in` use case: a recipient who must opt in before their first
//! message gets one request on their channel, `request_lead_minutes`
//! before that message is due. The request is a message like any other
//! (the sweep renders it, within quiet hours and credit); what waits for
//! its answer is held by the sweep and released when consent is recorded.

use std::sync::Arc;

use chrono::{Duration, Utc};

use crate::domain::appointment::ReminderTiming;
use crate::domain::consent::OPT_IN_REASK_DAYS;
use crate::domain::schedule::Placement;
use crate::domain::{Clock, Message, MessageId, MessageKind, SendingWindow, StatusReason};
use crate::events::OptInNeeded;
use crate::store::{Store, StoreError};

/// What became of an announced need.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum OptInOutcome {
    /// A request is planned, due then.
    Planned { due_at: chrono::DateTime<Utc> },
    /// One was planned already (within the re-ask window); it was brought
    /// forward when this need is sooner.
    AlreadyPlanned { advanced: bool },
    /// Nothing to ask: why (`not_required`, `consented`, `opted_out`, …).
    NotNeeded { reason: &'static str },
}

pub struct OptInService {
    store: Store,
    clock: Arc<dyn Clock>,
    /// The deployment's widest sending hours.
    sending_window: SendingWindow,
}

impl OptInService {
    pub fn new(store: Store, clock: Arc<dyn Clock>, sending_window: SendingWindow) -> Self {
        Self { store, clock, sending_window }
    }

    /// Plans the recipient's request on their channel, unless they need
    /// none: opt-in not required there, messaging off, consent given or
    /// refused for their address, or a request to it asking within 30 days
    /// (one that ended unsent, skipped or expired, does not count).
    pub async fn plan(&self, need: &OptInNeeded) -> Result<OptInOutcome, StoreError> {
        let account = &need.account_id;
        let Some(settings) = self.store.get_settings(account).await? else {
            return Ok(OptInOutcome::NotNeeded { reason: "no_settings" });
        };
        if !settings.messaging_enabled {
            // Nothing is sent while messaging is off, a request neither.
            return Ok(OptInOutcome::NotNeeded { reason: "messaging_disabled" });
        }
        let Some(recipient) = self.store.get_recipient(account, &need.recipient_id).await? else {
            return Ok(OptInOutcome::NotNeeded { reason: "no_recipient" });
        };
        // Messages render on the recipient's channel as it is now.
        let channel = recipient.channel;
        if !settings.opt_in.applies_to(channel) {
            return Ok(OptInOutcome::NotNeeded { reason: "not_required" });
        }
        let Ok(address) = recipient.address() else {
            return Ok(OptInOutcome::NotNeeded { reason: "no_address" });
        };
        let consent = self.store.consent(account, &recipient.id, channel).await?;
        if let Some(consent) = consent.filter(|c| c.address.eq_ignore_ascii_case(address.as_str())) {
            use crate::domain::ConsentState::{Declined, Granted, Revoked};
            match consent.state {
                Granted => {
                    // A grant that came while a message was being held may
                    // have missed it: release again (finds nothing twice).
                    self.store.release_awaiting_opt_in(account, &recipient.id, channel, self.clock.now()).await?;
                    return Ok(OptInOutcome::NotNeeded { reason: "consented" });
                }
                // Who said no or STOP is not asked again by us.
                Declined | Revoked => return Ok(OptInOutcome::NotNeeded { reason: "opted_out" }),
                _ => {}
            }
        }
        let now = self.clock.now();
        let lead = Duration::minutes(i64::from(settings.opt_in.request_lead_minutes));
        let due_at = (need.first_due_at - lead).max(now);
        // Out of quiet hours, as a reminder is: the last allowed moment
        // before, else the first after (the sweep holds it until then).
        let timing = ReminderTiming::for_recipient(Some(&settings), &recipient, recipient.channel, self.sending_window);
        let due_at = match timing.quiet_hours.map(|q| q.place(due_at, now, need.first_due_at, timing.zone)) {
            Some(Placement::At(at)) => at,
            _ => due_at,
        };
        let mut request = Message::new(
            MessageId::opt_in_request(&recipient.id, channel, now.timestamp_millis()),
            MessageKind::OptInRequest,
            channel,
            recipient.id.clone(),
            due_at,
            now,
        );
        // A request that could not go for a whole re-ask window is stale.
        request.not_after = Some(due_at + Duration::days(OPT_IN_REASK_DAYS));
        let planned = self.store.planned_opt_in_request(account, &recipient.id, channel).await?;
        if let Some(planned) = &planned {
            let same_address = planned.address.eq_ignore_ascii_case(address.as_str());
            if !same_address {
                // Asked at an address they no longer have: that request is
                // not sent to the new one too.
                self.store.withdraw_message(account, &planned.request_id, StatusReason::AddressChanged).await?;
            } else if planned.asks_at > due_at - Duration::days(OPT_IN_REASK_DAYS)
                && self.store.get_message(account, &planned.request_id).await?.is_some_and(|m| !m.status.ended_unsent())
            {
                // Asked (or about to be) within the window: not again, but
                // sooner if this need is sooner.
                let advanced = self.store.advance_opt_in_request(account, &planned.request_id, due_at).await?;
                return Ok(OptInOutcome::AlreadyPlanned { advanced });
            }
        }
        let replacing = planned.as_ref().map(|p| &p.request_id);
        let outcome = match self.store.plan_opt_in_request(account, &request, address.as_str(), replacing).await? {
            true => OptInOutcome::Planned { due_at },
            // Another plan (a duplicate event) wrote first.
            false => OptInOutcome::AlreadyPlanned { advanced: false },
        };
        tracing::info!(channel = channel.as_str(), outcome = ?outcome, "opt-in request");
        Ok(outcome)
    }
}
