//! A recipient's consent per channel (`CONSENT#{channel}`, beside the
//! recipient) and its history (`CONSENT#{channel}#AT#{epoch ms}#{id}`):
//! every change is kept, with its evidence, in the same transaction as the
//! change itself.

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{from_item, keys, s, to_attribute, to_item, with_key, Store, StoreError, Transacted};
use crate::domain::{AccountId, Channel, Consent, ConsentState, Message, MessageId, RecipientId};

/// The opt-in request planned for a recipient on a channel
/// (`OPTIN#{channel}`): which message it is, the address it asks, and when
/// it is due to ask (the re-ask window runs from then).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedRequest {
    pub request_id: MessageId,
    pub address: String,
    pub asks_at: DateTime<Utc>,
}

/// The most history entries read back: a recipient's consent changes a
/// handful of times a year.
pub const MAX_CONSENT_HISTORY: usize = 100;

/// A recipient's consent on every channel they were asked or answered on,
/// and its history, newest first.
#[derive(Debug, Clone, Default)]
pub struct ConsentRecord {
    pub channels: Vec<Consent>,
    pub history: Vec<Consent>,
}

impl Store {
    /// A recipient's consent on a channel, if they ever gave or withdrew it.
    pub async fn consent(
        &self,
        account: &AccountId,
        recipient: &RecipientId,
        channel: Channel,
    ) -> Result<Option<Consent>, StoreError> {
        Ok(self.get("consent", &keys::consent(account, recipient, channel)).await?.map(|(consent, _)| consent))
    }

    /// Records a change of consent, and keeps it in the history. `false`
    /// when the record already said the same before this change (a second
    /// STOP, a repeated request of the practice app): nothing changed, and
    /// no second confirmation is due. The same reply applied again (a retry
    /// after a crash) is `true`, so what follows it is finished; its history
    /// entry is named by the reply, so it is kept once.
    pub async fn change_consent(
        &self,
        account: &AccountId,
        recipient: &RecipientId,
        consent: &Consent,
    ) -> Result<bool, StoreError> {
        let reply = consent.evidence.reply_id.as_ref().map(|reply| reply.as_str().to_owned());
        let change = self
            .consent_put(account, recipient, consent)?
            .condition_expression(
                "attribute_not_exists(PK) OR #state <> :state OR address <> :address OR #evidence.#reply = :reply",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#evidence", "evidence")
            .expression_attribute_names("#reply", "reply_id")
            .expression_attribute_values(":state", to_attribute("consent", &consent.state)?)
            .expression_attribute_values(":address", s(&consent.address))
            .expression_attribute_values(":reply", s(reply.unwrap_or_default()));
        self.write_consent(account, recipient, consent, change).await
    }

    /// Marks consent `requested` (an opt-in request went) unless the
    /// recipient already answered at that address: a grant, a refusal or a
    /// revocation that came meanwhile stands. `false` when it did not write.
    pub async fn mark_consent_requested(
        &self,
        account: &AccountId,
        recipient: &RecipientId,
        requested: &Consent,
    ) -> Result<bool, StoreError> {
        let change = self
            .consent_put(account, recipient, requested)?
            .condition_expression("attribute_not_exists(PK) OR address <> :address OR #state = :requested")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":requested", to_attribute("consent", &ConsentState::Requested)?)
            .expression_attribute_values(":address", s(&requested.address));
        self.write_consent(account, recipient, requested, change).await
    }

    /// The write of a recipient's consent on its channel, to be given its
    /// condition.
    fn consent_put(
        &self,
        account: &AccountId,
        recipient: &RecipientId,
        consent: &Consent,
    ) -> Result<aws_sdk_dynamodb::types::builders::PutBuilder, StoreError> {
        let current = with_key(to_item("consent", consent)?, &keys::consent(account, recipient, consent.channel));
        Ok(Put::builder().table_name(&self.table).set_item(Some(current)))
    }

    /// Writes a change of consent on its condition with its history entry
    /// (named by the reply that made it, so a retried reply keeps one), in
    /// one transaction.
    async fn write_consent(
        &self,
        account: &AccountId,
        recipient: &RecipientId,
        consent: &Consent,
        change: aws_sdk_dynamodb::types::builders::PutBuilder,
    ) -> Result<bool, StoreError> {
        let change = change.build().map_err(|_| StoreError::Corrupt("consent"))?;
        let reply = consent.evidence.reply_id.as_ref().map(|reply| reply.as_str().to_owned());
        let entry_id = reply.unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        let history_key =
            keys::consent_history(account, recipient, consent.channel, consent.since.timestamp_millis(), &entry_id);
        let entry = Put::builder()
            .table_name(&self.table)
            .set_item(Some(with_key(to_item("consent", consent)?, &history_key)))
            .build()
            .map_err(|_| StoreError::Corrupt("consent"))?;
        let request = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(change).build())
            .transact_items(TransactWriteItem::builder().put(entry).build());
        Ok(matches!(self.transact(request).await?, Transacted::Applied))
    }

    /// The opt-in request last planned for a recipient on a channel.
    pub async fn planned_opt_in_request(
        &self,
        account: &AccountId,
        recipient: &RecipientId,
        channel: Channel,
    ) -> Result<Option<PlannedRequest>, StoreError> {
        let key = keys::opt_in_request(account, recipient, channel);
        Ok(self.get("opt-in request", &key).await?.map(|(planned, _)| planned))
    }

    /// Plans `request` (an opt-in request) for `address` in place of the
    /// one `replacing` names (none: the first): the record and the message
    /// are written in one transaction, on condition the record is still as
    /// read, so a concurrent plan (a duplicate event) writes nothing.
    /// `false` when it did not write.
    pub async fn plan_opt_in_request(
        &self,
        account: &AccountId,
        request: &Message,
        address: &str,
        replacing: Option<&MessageId>,
    ) -> Result<bool, StoreError> {
        let key = keys::opt_in_request(account, &request.recipient_id, request.channel);
        let planned =
            PlannedRequest { request_id: request.id.clone(), address: address.to_owned(), asks_at: request.due_at };
        let plan =
            Put::builder().table_name(&self.table).set_item(Some(with_key(to_item("opt-in request", &planned)?, &key)));
        let plan = match replacing {
            None => plan.condition_expression("attribute_not_exists(PK)"),
            Some(previous) => plan
                .condition_expression("request_id = :previous")
                .expression_attribute_values(":previous", s(previous.as_str())),
        };
        let plan = plan.build().map_err(|_| StoreError::Corrupt("opt-in request"))?;
        let message = Put::builder()
            .table_name(&self.table)
            .set_item(Some(self.message_item(account, request)?))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(|_| StoreError::Corrupt("opt-in request"))?;
        let write = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(plan).build())
            .transact_items(TransactWriteItem::builder().put(message).build());
        Ok(matches!(self.transact(write).await?, Transacted::Applied))
    }

    /// Brings a planned request forward to `due` (a message planned sooner
    /// needs it sooner); one already due sooner, or under way, is left.
    pub async fn advance_opt_in_request(
        &self,
        account: &AccountId,
        id: &MessageId,
        due: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.move_scheduled(account, id, due, true).await
    }

    /// Records a change of consent ([`Self::change_consent`]) and, when it
    /// grants, releases at `now` what waited for it (again after a crash:
    /// releasing finds nothing twice). `false` when it said nothing new.
    pub async fn record_consent(
        &self,
        account: &AccountId,
        recipient: &RecipientId,
        consent: &Consent,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let changed = self.change_consent(account, recipient, consent).await?;
        if consent.state == crate::domain::ConsentState::Granted {
            self.release_awaiting_opt_in(account, recipient, consent.channel, now).await?;
        }
        Ok(changed)
    }

    /// A recipient's consent on each channel and its history, newest first
    /// (at most [`MAX_CONSENT_HISTORY`] entries).
    pub async fn consent_record(
        &self,
        account: &AccountId,
        recipient: &RecipientId,
    ) -> Result<ConsentRecord, StoreError> {
        let partition = keys::recipient(account, recipient).pk;
        let mut record = ConsentRecord::default();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND begins_with(SK, :consent)")
                .expression_attribute_values(":pk", s(&partition))
                .expression_attribute_values(":consent", s(keys::CONSENT_PREFIX))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| super::dynamo_error("Query", e))?;
            for item in output.items.unwrap_or_default() {
                let history = matches!(item.get(keys::SK), Some(AttributeValue::S(sk)) if sk.contains("#AT#"));
                let consent: Consent = from_item("consent", item)?;
                if history {
                    record.history.push(consent);
                } else {
                    record.channels.push(consent);
                }
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        record.history.sort_by_key(|consent| std::cmp::Reverse(consent.since));
        record.history.truncate(MAX_CONSENT_HISTORY);
        Ok(record)
    }
}
