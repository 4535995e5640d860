//! Prepaid credit in the store: the balance, its ledger, purchases and the
//! messages held until credit arrives. Every movement of the balance is one
//! transaction with its ledger entry, so the ledger always sums to the
//! balance, and a reservation's condition keeps the balance from ever
//! going below zero, however many sends race for it.

use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{
    dynamo_error, from_item, keys, n, s, status, to_item, with_key, ConditionalUpdate, Store, StoreError, Transacted,
};
use crate::domain::{
    AccountId, AutoTopUp, Channel, CreditSettings, LedgerEntry, LedgerKind, MessageId, MessageStatus, StatusReason,
};

/// An account's balance and what it is watched for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Balance {
    #[serde(default)]
    pub balance_cents: i64,
    #[serde(default = "default_low_balance")]
    pub low_balance_alert_cents: u64,
    #[serde(default)]
    pub top_up: Option<AutoTopUp>,
    /// Set when an alert or request went out; cleared when credit lifts the
    /// balance back over its threshold, so each fires once per crossing.
    #[serde(default)]
    pub low_alerted: bool,
    #[serde(default)]
    pub empty_alerted: bool,
    #[serde(default)]
    pub top_up_requested: bool,
    /// Names the thresholds' last change: the headroom a send recomputes
    /// is kept only if they did not change meanwhile.
    #[serde(default)]
    pub settings_version: Option<String>,
}

impl Balance {
    /// The lowest balance at which no alert can be due: the low-balance
    /// threshold, the top-up trigger, and above zero.
    pub fn quiet_floor(&self) -> i64 {
        let trigger = self.top_up.map_or(0, |top_up| top_up.trigger_cents);
        signed(self.low_balance_alert_cents.max(trigger))
    }
}

/// How a reservation went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// Taken, and the balance stays above every threshold: nothing to check.
    Quiet,
    /// Taken; the balance is at or near a threshold (or its headroom is not
    /// known): the alerts are to be checked.
    NearThreshold,
    /// Too little credit: nothing taken.
    Short,
}

/// A headroom never computed reads as this, far below any cost, so that
/// the first send after it looks at the alerts and computes it.
const HEADROOM_UNKNOWN: i64 = -1_000_000_000_000;

fn default_low_balance() -> u64 {
    CreditSettings::default().low_balance_alert_cents
}

/// The one-shot alerts a balance can set off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BalanceAlert {
    Low,
    Empty,
    TopUp,
}

impl BalanceAlert {
    fn flag(self) -> &'static str {
        match self {
            BalanceAlert::Low => "low_alerted",
            BalanceAlert::Empty => "empty_alerted",
            BalanceAlert::TopUp => "top_up_requested",
        }
    }
}

/// Credit given back to the balance with a message's move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refund {
    pub cents: u64,
    /// The channel the ledger entry names.
    pub channel: Channel,
    pub at: DateTime<Utc>,
}

/// A message waiting for credit, with what it will cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldForCredit {
    pub message_id: MessageId,
    pub cost_cents: u64,
}

/// Amounts are bounded far below `i64::MAX` (purchases by
/// `MAX_PURCHASE_CENTS`, costs by the price table), so saturation never bites.
fn signed(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn cents(value: u64) -> AttributeValue {
    n(signed(value))
}

impl Store {
    fn ledger_put(&self, account: &AccountId, entry: &LedgerEntry) -> Result<TransactWriteItem, StoreError> {
        let item = with_key(to_item("ledger", entry)?, &keys::ledger_entry(account, entry.at.timestamp_millis()));
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .build()
            .map_err(|_| StoreError::Corrupt("ledger"))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Moves the balance by `delta`, and its headroom (the balance over
    /// [`Balance::quiet_floor`]) with it. A spend of `cost` takes the
    /// balance to zero at most; `quiet` also asks that it stay above the
    /// floor, so that no alert can be due and nobody need read the balance.
    fn balance_add(
        &self,
        account: &AccountId,
        delta: i64,
        cost: Option<(u64, bool)>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut update = ConditionalUpdate::on(keys::balance(account))
            .add("balance_cents :delta")
            .set("headroom_cents = if_not_exists(headroom_cents, :unknown) + :delta")
            .value(":delta", n(delta))
            .value(":unknown", n(HEADROOM_UNKNOWN));
        if let Some((cost, quiet)) = cost {
            update = update.condition("balance_cents >= :cost").value(":cost", cents(cost));
            if quiet {
                update = update.condition("headroom_cents > :cost");
            }
        }
        update.transact_item(&self.table)
    }

    /// Records the headroom computed from `read`, unless the balance or its
    /// thresholds changed since it was read (the next send computes it then).
    pub async fn set_headroom(&self, account: &AccountId, read: &Balance) -> Result<(), StoreError> {
        let mut update = ConditionalUpdate::on(keys::balance(account))
            .set("headroom_cents = :headroom")
            .condition("balance_cents = :read")
            .value(":headroom", n(read.balance_cents - read.quiet_floor()))
            .value(":read", n(read.balance_cents));
        update = match &read.settings_version {
            Some(version) => update.condition("settings_version = :version").value(":version", s(version)),
            None => update.condition("attribute_not_exists(settings_version)"),
        };
        update.apply(self, ReturnValue::None).await?;
        Ok(())
    }

    /// The account's balance (zero for an account that never bought any).
    pub async fn balance(&self, account: &AccountId) -> Result<Balance, StoreError> {
        Ok(self.get::<Balance>("balance", &keys::balance(account)).await?.map(|(b, _)| b).unwrap_or_default())
    }

    /// Copies the alert threshold and top-up settings onto the balance, so
    /// that a send reads them with the balance in one request.
    pub async fn set_credit_settings(&self, account: &AccountId, settings: &CreditSettings) -> Result<(), StoreError> {
        let top_up = match &settings.auto_top_up {
            Some(top_up) => super::to_attribute("balance", top_up)?,
            None => AttributeValue::Null(true),
        };
        // New thresholds, a new floor: the next send computes the headroom.
        let update = ConditionalUpdate::on(keys::balance(account))
            .set("balance_cents = if_not_exists(balance_cents, :zero)")
            .set("low_balance_alert_cents = :low")
            .set("top_up = :top_up")
            .set("settings_version = :version")
            .remove("headroom_cents")
            .value(":version", s(uuid::Uuid::new_v4().simple().to_string()))
            .value(":zero", n(0))
            .value(":low", cents(settings.low_balance_alert_cents))
            .value(":top_up", top_up);
        update.apply(self, ReturnValue::None).await?;
        Ok(())
    }

    /// Takes `cost` from the balance for the send this claim started.
    /// `false` when the balance is short: nothing is taken. A message never
    /// carries two live reservations: one left by an earlier claim whose
    /// send never went (its reservation's answer was lost, and the message
    /// was given back) is refunded before this one is made.
    pub async fn reserve_credit(
        &self,
        account: &AccountId,
        message: &MessageId,
        claim_token: &str,
        cost: u64,
        channel: Channel,
        now: DateTime<Utc>,
    ) -> Result<Reservation, StoreError> {
        // First asking that the balance stay clear of every threshold; then,
        // should it not, for the reservation alone.
        let mut quiet = true;
        // At most one orphan to give back, then the reservation itself.
        for _ in 0..3 {
            let mark = ConditionalUpdate::on(keys::message(account, message))
                .set("reserved_cents = :cost")
                .set("reserved_claim = :token")
                .set("live_reservation = :token")
                .remove("refunded_claim")
                .remove("refunded_cents")
                .condition(
                    "claim_token = :token AND attribute_exists(send_started_at) AND attribute_not_exists(live_reservation)",
                )
                .value(":cost", cents(cost))
                .value(":token", s(claim_token));
            let entry = LedgerEntry::of_message(LedgerKind::Reservation, -signed(cost), message, channel, now);
            let request = self
                .client
                .transact_write_items()
                .transact_items(self.balance_add(account, entry.amount_cents, Some((cost, quiet)))?)
                .transact_items(mark.transact_item(&self.table)?)
                .transact_items(self.ledger_put(account, &entry)?);
            match self.transact(request).await? {
                Transacted::Applied if quiet => return Ok(Reservation::Quiet),
                Transacted::Applied => return Ok(Reservation::NearThreshold),
                Transacted::ConditionFailed(failed) if failed.first() == Some(&true) => {
                    if !quiet {
                        return Ok(Reservation::Short);
                    }
                    quiet = false;
                    continue;
                }
                Transacted::ConditionFailed(_) => {}
            }
            // The message's condition: this claim already paid (an earlier
            // try whose answer was lost), an earlier claim's reservation is
            // still live, or the claim has no send under way.
            let Some(current) = self.get_message(account, message).await? else { break };
            match current.live_reservation.as_deref() {
                Some(claim) if claim == claim_token => return Ok(Reservation::NearThreshold),
                Some(orphan) if current.claim_token.as_deref() == Some(claim_token) => {
                    let amount = current.reserved_cents.unwrap_or(0);
                    let orphan = orphan.to_owned();
                    self.refund_credit(account, message, &orphan, amount, channel, now).await?;
                }
                _ => break,
            }
        }
        Err(StoreError::Dynamo {
            operation: "TransactWriteItems",
            code: "ReservationWithoutSend".into(),
            retryable: false,
        })
    }

    /// Gives back `amount` of the reservation made under `reserved_claim`,
    /// once: a repeated refund (a redelivered webhook) changes nothing and
    /// returns `false`.
    pub async fn refund_credit(
        &self,
        account: &AccountId,
        message: &MessageId,
        reserved_claim: &str,
        amount: u64,
        channel: Channel,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let exists = ConditionalUpdate::on(keys::message(account, message)).condition("attribute_exists(PK)");
        let refund = Refund { cents: amount, channel, at: now };
        self.move_with_refund(account, message, reserved_claim, exists, Some(refund)).await
    }

    /// Writes a message's move, with `refund` of the reservation made under
    /// `claim` in the same transaction (balance, ledger and the message's
    /// refund mark, given once per claim). Whether it was written.
    pub(super) async fn move_with_refund(
        &self,
        account: &AccountId,
        message: &MessageId,
        claim: &str,
        update: ConditionalUpdate,
        refund: Option<Refund>,
    ) -> Result<bool, StoreError> {
        let Some(refund) = refund.filter(|r| r.cents > 0) else {
            return Ok(update.apply(self, ReturnValue::None).await?.is_some());
        };
        let update = update
            .set("refunded_claim = :claim")
            .set("refunded_cents = :refund")
            .remove("live_reservation")
            .condition("live_reservation = :claim AND reserved_cents >= :refund")
            .value(":claim", s(claim))
            .value(":refund", cents(refund.cents));
        let entry =
            LedgerEntry::of_message(LedgerKind::Refund, signed(refund.cents), message, refund.channel, refund.at);
        let request = self
            .client
            .transact_write_items()
            .transact_items(update.transact_item(&self.table)?)
            .transact_items(self.balance_add(account, entry.amount_cents, None)?)
            .transact_items(self.ledger_put(account, &entry)?);
        Ok(matches!(self.transact(request).await?, Transacted::Applied))
    }

    /// Records a purchase once per idempotency key: `false` when the key was
    /// recorded before (nothing changes then).
    pub async fn purchase_credit(
        &self,
        account: &AccountId,
        amount: u64,
        idempotency_key: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let entry = LedgerEntry {
            at: now,
            kind: LedgerKind::Purchase,
            amount_cents: signed(amount),
            message_id: None,
            channel: None,
            idempotency_key: Some(idempotency_key.to_owned()),
        };
        let mut marker = to_item("purchase", &entry)?;
        marker = with_key(std::mem::take(&mut marker), &keys::purchase(account, idempotency_key));
        let marker = Put::builder()
            .table_name(&self.table)
            .set_item(Some(marker))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(|_| StoreError::Corrupt("purchase"))?;
        let request = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(marker).build())
            .transact_items(self.balance_add(account, entry.amount_cents, None)?)
            .transact_items(self.ledger_put(account, &entry)?);
        Ok(matches!(self.transact(request).await?, Transacted::Applied))
    }

    /// The amount a purchase key was recorded with, if it was.
    pub async fn purchase_amount(&self, account: &AccountId, idempotency_key: &str) -> Result<Option<i64>, StoreError> {
        let recorded = self.get::<LedgerEntry>("purchase", &keys::purchase(account, idempotency_key)).await?;
        Ok(recorded.map(|(entry, _)| entry.amount_cents))
    }

    /// The most recent ledger entries, newest first.
    pub async fn ledger(&self, account: &AccountId, limit: i32) -> Result<Vec<LedgerEntry>, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .expression_attribute_values(":pk", s(keys::credit_partition(account)))
            .expression_attribute_values(":prefix", s(keys::LEDGER_PREFIX))
            .scan_index_forward(false)
            .consistent_read(true)
            .limit(limit)
            .send()
            .await
            .map_err(|e| dynamo_error("Query", e))?;
        output.items.unwrap_or_default().into_iter().map(|item| from_item("ledger", item)).collect()
    }

    /// Sets an alert's flag if the balance is below `below` and the flag is
    /// not set: `true` for the one caller that should send the alert.
    pub async fn raise_balance_alert(
        &self,
        account: &AccountId,
        alert: BalanceAlert,
        below: u64,
    ) -> Result<bool, StoreError> {
        self.flip_balance_alert(account, alert, true, below).await
    }

    /// Clears an alert's flag once the balance is back at or over `threshold`.
    pub async fn rearm_balance_alert(
        &self,
        account: &AccountId,
        alert: BalanceAlert,
        threshold: u64,
    ) -> Result<(), StoreError> {
        self.flip_balance_alert(account, alert, false, threshold).await?;
        Ok(())
    }

    /// Sets an alert's flag to `raised` when it is the other way and the
    /// balance is on the matching side of `threshold` (below to raise, at or
    /// over to re-arm). Whether it flipped.
    async fn flip_balance_alert(
        &self,
        account: &AccountId,
        alert: BalanceAlert,
        raised: bool,
        threshold: u64,
    ) -> Result<bool, StoreError> {
        let condition = if raised {
            // No balance item yet is a balance of nothing.
            "(attribute_not_exists(balance_cents) OR balance_cents < :threshold) \
             AND (attribute_not_exists(#flag) OR #flag = :from)"
        } else {
            "balance_cents >= :threshold AND #flag = :from"
        };
        let update = ConditionalUpdate::on(keys::balance(account))
            .set("#flag = :to")
            .condition(condition)
            .name("#flag", alert.flag())
            .value(":to", AttributeValue::Bool(raised))
            .value(":from", AttributeValue::Bool(!raised))
            .value(":threshold", cents(threshold));
        Ok(update.apply(self, ReturnValue::None).await?.is_some())
    }

    /// Holds a message whose send found too little credit: out of the due
    /// index and into the account's credit queue, claim and send given back.
    pub async fn hold_for_credit(
        &self,
        account: &AccountId,
        message: &MessageId,
        claim_token: &str,
        cost: u64,
        due: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let update = ConditionalUpdate::on(keys::message(account, message))
            .set("#status = :held")
            .set("reason = :reason")
            .set("account_status = :account_status")
            .set("lookup_key = :queue")
            .set("lookup_ms = :due_ms")
            .set("cost_cents = :cost")
            // Waiting for credit was no attempt at the provider.
            .set("attempts = attempts - :one")
            .remove("claim_token")
            .remove("send_started_at")
            .remove(keys::DUE_SHARD)
            .remove(keys::DUE_MS)
            .condition("#status = :claimed AND claim_token = :token")
            .name("#status", "status")
            .value(":held", status(MessageStatus::Held))
            .value(":claimed", status(MessageStatus::Claimed))
            .value(":reason", super::to_attribute("message", &StatusReason::InsufficientCredit)?)
            .value(":account_status", s(keys::account_status(account, MessageStatus::Held, message)))
            .value(":queue", s(keys::credit_queue(account)))
            .value(":due_ms", n(due.timestamp_millis()))
            .value(":cost", cents(cost))
            .value(":token", s(claim_token))
            .value(":one", n(1));
        Ok(update.apply(self, ReturnValue::None).await?.is_some())
    }

    /// Up to `limit` messages held for credit, oldest first.
    pub async fn held_for_credit(&self, account: &AccountId, limit: i32) -> Result<Vec<HeldForCredit>, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::LOOKUP_INDEX)
            .key_condition_expression("lookup_key = :queue")
            .expression_attribute_values(":queue", s(keys::credit_queue(account)))
            .limit(limit)
            .send()
            .await
            .map_err(|e| dynamo_error("Query", e))?;
        #[derive(Deserialize)]
        struct Queued {
            #[serde(rename = "PK")]
            pk: String,
            #[serde(default)]
            cost_cents: u64,
        }
        let mut held = Vec::new();
        for item in output.items.unwrap_or_default() {
            let queued: Queued = from_item("message", item)?;
            if let Some((_, message_id)) = keys::account_of_message(&queued.pk) {
                held.push(HeldForCredit { message_id, cost_cents: queued.cost_cents });
            }
        }
        Ok(held)
    }

    /// Puts a message held for credit back in the due index, due at `now`.
    /// `false` when it is no longer held (released by another purchase, or
    /// withdrawn).
    pub async fn release_held(
        &self,
        account: &AccountId,
        message: &MessageId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let key = keys::message(account, message);
        let update = ConditionalUpdate::on(key.clone())
            .set("#status = :scheduled")
            .set("account_status = :account_status")
            .set("due_shard = :shard")
            .set("due_ms = :now")
            .remove("reason")
            .remove(keys::LOOKUP_KEY)
            .remove(keys::LOOKUP_MS)
            .condition("#status = :held AND lookup_key = :queue")
            .name("#status", "status")
            .value(":scheduled", status(MessageStatus::Scheduled))
            .value(":held", status(MessageStatus::Held))
            .value(":account_status", s(keys::account_status(account, MessageStatus::Scheduled, message)))
            .value(":shard", s(self.due_shards.of(&key)))
            .value(":now", n(now.timestamp_millis()))
            .value(":queue", s(keys::credit_queue(account)));
        Ok(update.apply(self, ReturnValue::None).await?.is_some())
    }
}
