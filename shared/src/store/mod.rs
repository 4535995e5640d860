//! The DynamoDB store: the same code against AWS, moto and the embedded
//! local DynamoDB. Key design and access patterns: [`keys`].

pub mod calls;
pub mod credit;
mod due;
pub mod keys;
mod listing;
mod messages;
pub mod notifications;
mod records;
pub mod reports;
mod settings;

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, ReturnValue};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Duration, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::domain::{
    AccountId, AccountSettings, Appointment, AppointmentId, Channel, Invoice, InvoiceId, Message, MessageId,
    MessageKind, MessageNotice, MessageStatus, NoticeState, Notification, NotificationKind, Recipient, RecipientId, RenderedContent, StatusReason, TemplateSource,
};
pub use credit::Refund;
pub use due::{DueCursor, DuePage};
use keys::ItemKey;
pub use listing::{InvalidCursor, ListingFrom, MessageListing, MessagePage, MAX_CURSOR_CHARS};
pub use messages::MESSAGE_RETENTION_DAYS;
pub use records::AppointmentLinks;

type Item = HashMap<String, AttributeValue>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Only the operation and DynamoDB's error code: its message text may
    /// quote key or attribute values, which can be PHI.
    #[error("DynamoDB {operation} failed ({code})")]
    Dynamo {
        operation: &'static str,
        code: String,
        retryable: bool,
    },
    /// Names the record type only: the decoder's message may quote values.
    #[error("a stored {0} record does not parse")]
    Corrupt(&'static str),
}

impl StoreError {
    /// Whether the same call may succeed later (throttling, a network
    /// fault), as opposed to a request that will always fail.
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Dynamo { retryable, .. } => *retryable,
            StoreError::Corrupt(_) => false,
        }
    }
}

fn dynamo_error<E, R>(operation: &'static str, err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    const RETRYABLE_CODES: [&str; 6] = [
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
    ];
    let code = match &err {
        SdkError::ServiceError(_) => err.code().unwrap_or("unknown"),
        SdkError::TimeoutError(_) => "timeout",
        SdkError::DispatchFailure(_) => "dispatch_failure",
        SdkError::ResponseError(_) => "response_error",
        SdkError::ConstructionFailure(_) => "construction_failure",
        _ => "unknown",
    }
    .to_owned();
    let retryable = match &err {
        SdkError::ServiceError(_) => RETRYABLE_CODES.contains(&code.as_str()),
        // Timeouts, dispatch and response failures are faults of the way there.
        _ => true,
    };
    StoreError::Dynamo { operation, code, retryable }
}

/// `Ok(None)` when a write's condition did not hold: someone else got there
/// first, or the record is no longer in the expected state.
fn conditional<T, E, R>(
    operation: &'static str,
    result: Result<T, SdkError<E, R>>,
) -> Result<Option<T>, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(output) => Ok(Some(output)),
        Err(err) if err.code() == Some("ConditionalCheckFailedException") => Ok(None),
        Err(err) => Err(dynamo_error(operation, err)),
    }
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn status(value: MessageStatus) -> AttributeValue {
    s(value.as_str())
}

fn to_item<T: Serialize>(record: &'static str, value: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value).map_err(|_| StoreError::Corrupt(record))
}

fn to_attribute<T: Serialize>(record: &'static str, value: &T) -> Result<AttributeValue, StoreError> {
    serde_dynamo::to_attribute_value(value).map_err(|_| StoreError::Corrupt(record))
}

fn from_item<T: DeserializeOwned>(record: &'static str, item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|_| StoreError::Corrupt(record))
}

fn with_key(mut item: Item, key: &ItemKey) -> Item {
    item.insert(keys::PK.to_owned(), s(&key.pk));
    item.insert(keys::SK.to_owned(), s(&key.sk));
    item
}

fn key_item(key: &ItemKey) -> Item {
    with_key(Item::new(), key)
}

/// One conditional update of a record, written alone (`UpdateItem`) or as
/// one item of a transaction (a message's move together with the credit it
/// gives back), from the same expression.
#[derive(Debug, Clone)]
struct ConditionalUpdate {
    key: ItemKey,
    set: Vec<String>,
    remove: Vec<&'static str>,
    conditions: Vec<String>,
    names: HashMap<String, String>,
    values: Item,
}

impl ConditionalUpdate {
    fn on(key: ItemKey) -> Self {
        Self { key, set: Vec::new(), remove: Vec::new(), conditions: Vec::new(), names: HashMap::new(), values: Item::new() }
    }

    fn set(mut self, assignment: impl Into<String>) -> Self {
        self.set.push(assignment.into());
        self
    }

    fn remove(mut self, attribute: &'static str) -> Self {
        self.remove.push(attribute);
        self
    }

    fn condition(mut self, condition: impl Into<String>) -> Self {
        self.conditions.push(condition.into());
        self
    }

    fn name(mut self, placeholder: &str, attribute: &str) -> Self {
        self.names.insert(placeholder.to_owned(), attribute.to_owned());
        self
    }

    fn value(mut self, placeholder: &str, value: AttributeValue) -> Self {
        self.values.insert(placeholder.to_owned(), value);
        self
    }

    fn expression(&self) -> String {
        let mut expression = String::new();
        if !self.set.is_empty() {
            expression = format!("SET {}", self.set.join(", "));
        }
        if !self.remove.is_empty() {
            expression = format!("{expression} REMOVE {}", self.remove.join(", "));
        }
        expression
    }

    fn condition_expression(&self) -> Option<String> {
        match self.conditions.as_slice() {
            [] => None,
            [only] => Some(only.clone()),
            all => Some(all.iter().map(|c| format!("({c})")).collect::<Vec<_>>().join(" AND ")),
        }
    }

    /// Writes it alone; `None` when its condition did not hold.
    async fn apply(self, store: &Store, returning: ReturnValue) -> Result<Option<Item>, StoreError> {
        let result = store
            .client
            .update_item()
            .table_name(&store.table)
            .set_key(Some(key_item(&self.key)))
            .update_expression(self.expression())
            .set_condition_expression(self.condition_expression())
            .set_expression_attribute_names((!self.names.is_empty()).then_some(self.names))
            .set_expression_attribute_values((!self.values.is_empty()).then_some(self.values))
            .return_values(returning)
            .send()
            .await;
        Ok(conditional("UpdateItem", result)?.map(|output| output.attributes.unwrap_or_default()))
    }

    fn transact_item(self, table: &str) -> Result<aws_sdk_dynamodb::types::TransactWriteItem, StoreError> {
        let update = aws_sdk_dynamodb::types::Update::builder()
            .table_name(table)
            .set_key(Some(key_item(&self.key)))
            .update_expression(self.expression())
            .set_condition_expression(self.condition_expression())
            .set_expression_attribute_names((!self.names.is_empty()).then_some(self.names))
            .set_expression_attribute_values((!self.values.is_empty()).then_some(self.values))
            .build()
            .map_err(|_| StoreError::Corrupt("update"))?;
        Ok(aws_sdk_dynamodb::types::TransactWriteItem::builder().update(update).build())
    }
}

/// How a transaction ended, short of an error.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Transacted {
    Applied,
    /// Nothing was written; per item, in request order, whether its
    /// condition failed.
    ConditionFailed(Vec<bool>),
}

/// A message this caller has claimed: only the holder of `claim_token` may
/// send it or settle it.
#[derive(Debug, Clone)]
pub struct ClaimedMessage {
    pub account: AccountId,
    pub message: Message,
    pub claim_token: String,
    /// Whether an earlier claim already counted the message against caps.
    pub cap_counted: bool,
}

#[derive(Debug, Default, Deserialize)]
struct CapMark {
    #[serde(default)]
    cap_counted: bool,
}

/// What taking a cap slot came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapSlot {
    Taken,
    /// The recipient's daily or weekly limit is reached.
    Reached,
    /// Another sweep holds the message now: nothing was counted.
    ClaimLost,
}

/// Everything a message is rendered from, read in one request.
#[derive(Debug, Clone, Default)]
pub struct RenderContext {
    pub settings: Option<AccountSettings>,
    pub recipient: Option<Recipient>,
    pub appointment: Option<Appointment>,
    /// What the appointment's last notice told.
    pub notified: Option<NoticeState>,
    pub invoice: Option<Invoice>,
    /// The account's own template for the message's kind and channel.
    pub template: Option<TemplateSource>,
    /// An address of the recipient's on the message's channel not to send to.
    pub suppressed: Option<notifications::Suppression>,
}

/// How a claimed message ended.
#[derive(Debug, Clone)]
pub struct Settlement {
    pub status: MessageStatus,
    pub reason: Option<StatusReason>,
    pub sent_at: Option<DateTime<Utc>>,
    /// The provider's id, and the channel it is an id on.
    pub provider: Option<(Channel, String)>,
    /// What staff are to be told: kept on the message, so that a handler
    /// run again after a crash tells them what the first run decided.
    pub notice: Option<MessageNotice>,
    /// Credit given back in the same transaction as the move.
    pub refund: Option<Refund>,
}

impl Settlement {
    pub fn sent(at: DateTime<Utc>, channel: Channel, provider_message_id: String) -> Self {
        Self {
            status: MessageStatus::Sent,
            reason: None,
            sent_at: Some(at),
            provider: Some((channel, provider_message_id)),
            notice: None,
            refund: None,
        }
    }

    /// Handed to a provider that did not say whether it took it: counted
    /// as sent (never sent again), with the reason.
    pub fn outcome_unknown(at: DateTime<Utc>) -> Self {
        Self {
            status: MessageStatus::Sent,
            reason: Some(StatusReason::OutcomeUnknown),
            sent_at: Some(at),
            provider: None,
            notice: None,
            refund: None,
        }
    }

    pub fn ended(status: MessageStatus, reason: StatusReason) -> Self {
        Self { status, reason: Some(reason), sent_at: None, provider: None, notice: None, refund: None }
    }

    pub fn telling(mut self, notice: MessageNotice) -> Self {
        self.notice = Some(notice);
        self
    }

    pub fn refunding(mut self, refund: Option<Refund>) -> Self {
        self.refund = refund;
        self
    }
}

#[derive(Clone)]
pub struct Store {
    client: Client,
    table: String,
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    async fn get<T: DeserializeOwned>(&self, record: &'static str, key: &ItemKey) -> Result<Option<(T, Item)>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_item(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| dynamo_error("GetItem", e))?;
        match output.item {
            Some(item) => Ok(Some((from_item(record, item.clone())?, item))),
            None => Ok(None),
        }
    }

    async fn put(&self, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| dynamo_error("PutItem", e))?;
        Ok(())
    }

    /// Takes one slot of a recipient's daily and weekly message limits, both
    /// or neither, and marks the claimed message counted, in one
    /// transaction: a crash can neither count it twice nor lose the mark.
    pub async fn take_cap_slot(
        &self,
        claimed: &ClaimedMessage,
        limits: [(String, Option<u32>); 2],
        expires: DateTime<Utc>,
    ) -> Result<CapSlot, StoreError> {
        let (account, recipient) = (&claimed.account, &claimed.message.recipient_id);
        let mark = ConditionalUpdate::on(keys::message(account, &claimed.message.id))
            .set("cap_counted = :yes")
            .condition("claim_token = :token")
            .value(":yes", AttributeValue::Bool(true))
            .value(":token", s(&claimed.claim_token));
        let mut request = self.client.transact_write_items().transact_items(mark.transact_item(&self.table)?);
        for (period, limit) in limits {
            let Some(limit) = limit else { continue };
            let slot = ConditionalUpdate::on(keys::cap(account, recipient, &period))
                .set("expires_at = :expires")
                .set("sent = if_not_exists(sent, :zero) + :one")
                .condition("attribute_not_exists(sent) OR sent < :limit")
                .value(":zero", n(0))
                .value(":one", n(1))
                .value(":limit", n(i64::from(limit)))
                .value(":expires", n(expires.timestamp()));
            request = request.transact_items(slot.transact_item(&self.table)?);
        }
        // A conflict with another send to the same recipient is retried
        // by `transact`; a failed condition is a reached limit, or a claim
        // lost to another sweep.
        Ok(match self.transact(request).await? {
            Transacted::Applied => CapSlot::Taken,
            Transacted::ConditionFailed(failed) if failed.first() == Some(&true) => CapSlot::ClaimLost,
            Transacted::ConditionFailed(_) => CapSlot::Reached,
        })
    }

    /// Runs a transaction, retrying conflicts with other transactions on the
    /// same items a few times with backoff (concurrent sends of one account
    /// all touch its balance).
    async fn transact(
        &self,
        request: aws_sdk_dynamodb::operation::transact_write_items::builders::TransactWriteItemsFluentBuilder,
    ) -> Result<Transacted, StoreError> {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
        const ATTEMPTS: u32 = 8;
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0]) % 20;
                tokio::time::sleep(std::time::Duration::from_millis((10 << attempt.min(6)) + jitter)).await;
            }
            let err = match request.clone().send().await {
                Ok(_) => return Ok(Transacted::Applied),
                Err(err) => err,
            };
            let reasons: Vec<Option<String>> = match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => cancelled
                    .cancellation_reasons()
                    .iter()
                    .map(|r| r.code().map(str::to_owned))
                    .collect(),
                _ if err.code() == Some("TransactionConflictException") => continue,
                _ => return Err(dynamo_error("TransactWriteItems", err)),
            };
            let failed: Vec<bool> = reasons.iter().map(|c| c.as_deref() == Some("ConditionalCheckFailed")).collect();
            if failed.iter().any(|&f| f) {
                return Ok(Transacted::ConditionFailed(failed));
            }
            let conflict = reasons.iter().any(|c| matches!(c.as_deref(), Some("TransactionConflict")));
            if !conflict {
                // Throttling may pass; anything else (a validation error)
                // fails the same way every time.
                let throttled = reasons
                    .iter()
                    .any(|c| matches!(c.as_deref(), Some("ThrottlingError" | "ProvisionedThroughputExceeded")));
                let code = reasons.iter().flatten().find(|c| c.as_str() != "None").cloned();
                return Err(StoreError::Dynamo {
                    operation: "TransactWriteItems",
                    code: code.unwrap_or_else(|| "TransactionCanceled".into()),
                    retryable: throttled,
                });
            }
        }
        Err(StoreError::Dynamo { operation: "TransactWriteItems", code: "TransactionConflict".into(), retryable: true })
    }

    /// Sets one attribute of a record that exists (and never creates one).
    async fn set_on_existing(&self, key: &ItemKey, attribute: &str, value: AttributeValue) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_item(key)))
            .update_expression("SET #attribute = :value")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#attribute", attribute)
            .expression_attribute_values(":value", value)
            .send()
            .await
            .map_err(|e| dynamo_error("UpdateItem", e))?;
        Ok(())
    }

    /// Claims a due message for `lease`. Exactly one of any number of
    /// concurrent callers wins; a claim whose lease ran out may be taken again.
    pub async fn claim(
        &self,
        account: &AccountId,
        id: &MessageId,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Option<ClaimedMessage>, StoreError> {
        let claim_token = uuid::Uuid::new_v4().to_string();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_item(&keys::message(account, id))))
            .update_expression(
                "SET #status = :claimed, account_status = :account_status, claim_token = :token, \
                 due_ms = :lease_until, claimed_at = :now_iso",
            )
            .condition_expression(
                "#status IN (:scheduled, :held, :claimed) AND due_ms <= :now AND attribute_not_exists(send_started_at)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":claimed", status(MessageStatus::Claimed))
            .expression_attribute_values(":scheduled", status(MessageStatus::Scheduled))
            .expression_attribute_values(":held", status(MessageStatus::Held))
            .expression_attribute_values(":token", s(&claim_token))
            .expression_attribute_values(":lease_until", n((now + lease).timestamp_millis()))
            .expression_attribute_values(":account_status", s(keys::account_status(account, MessageStatus::Claimed)))
            .expression_attribute_values(":now", n(now.timestamp_millis()))
            .expression_attribute_values(":now_iso", to_attribute("message", &now)?)
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match conditional("UpdateItem", result)? {
            Some(output) => {
                let item = output.attributes.unwrap_or_default();
                let mark: CapMark = from_item("message", item.clone())?;
                let message = from_item("message", item)?;
                Ok(Some(ClaimedMessage { account: account.clone(), message, claim_token, cap_counted: mark.cap_counted }))
            }
            None => Ok(None),
        }
    }

    /// Reads the settings, recipient and appointment a message is rendered
    /// from, in one BatchGetItem.
    pub async fn render_context(
        &self,
        account: &AccountId,
        recipient: &RecipientId,
        subject: (Option<&AppointmentId>, Option<&InvoiceId>),
        template: (MessageKind, Channel),
    ) -> Result<RenderContext, StoreError> {
        let (appointment, invoice) = subject;
        let mut wanted = vec![
            keys::settings(account),
            keys::recipient(account, recipient),
            keys::template(account, template.0, template.1),
            keys::suppression(account, recipient, template.1),
        ];
        wanted.extend(appointment.map(|id| keys::appointment(account, id)));
        wanted.extend(invoice.map(|id| keys::invoice(account, id)));
        let mut request = KeysAndAttributes::builder().consistent_read(true);
        for key in &wanted {
            request = request.keys(key_item(key));
        }
        let mut pending = HashMap::from([(
            self.table.clone(),
            request.build().map_err(|_| StoreError::Corrupt("request"))?,
        )]);
        let mut context = RenderContext::default();
        // Unprocessed keys are DynamoDB shedding load: ask again, a few
        // times, backing off.
        for attempt in 0..5u32 {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(25 << attempt)).await;
            }
            let output = self
                .client
                .batch_get_item()
                .set_request_items(Some(pending))
                .send()
                .await
                .map_err(|e| dynamo_error("BatchGetItem", e))?;
            for item in output.responses.unwrap_or_default().remove(&self.table).unwrap_or_default() {
                match item.get(keys::SK) {
                    Some(AttributeValue::S(sk)) if sk == "SETTINGS" => context.settings = Some(from_item("settings", item)?),
                    Some(AttributeValue::S(sk)) if sk == "RECIPIENT" => context.recipient = Some(from_item("recipient", item)?),
                    Some(AttributeValue::S(sk)) if sk == "APPOINTMENT" => {
                        let links: AppointmentLinks = from_item("appointment", item.clone())?;
                        context.notified = links.notified;
                        context.appointment = Some(from_item("appointment", item)?);
                    }
                    Some(AttributeValue::S(sk)) if sk == "INVOICE" => context.invoice = Some(from_item("invoice", item)?),
                    Some(AttributeValue::S(sk)) if sk.starts_with("TEMPLATE#") => context.template = Some(from_item("template", item)?),
                    Some(AttributeValue::S(sk)) if sk.starts_with("SUPPRESSED#") => {
                        context.suppressed = Some(from_item("suppression", item)?)
                    }
                    _ => {}
                }
            }
            pending = output.unprocessed_keys.unwrap_or_default();
            if pending.is_empty() {
                return Ok(context);
            }
        }
        Err(StoreError::Dynamo {
            operation: "BatchGetItem",
            code: "UnprocessedKeys".into(),
            retryable: true,
        })
    }

    /// Holds a claimed message until `due`, for `reason` (quiet hours began
    /// since it was planned); it stays in the due index and goes then.
    pub async fn hold_claimed(
        &self,
        claimed: &ClaimedMessage,
        due: DateTime<Utc>,
        reason: StatusReason,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_item(&keys::message(&claimed.account, &claimed.message.id))))
            .update_expression(
                "SET #status = :held, reason = :reason, account_status = :account_status, due_ms = :due_ms, \
                 due_at = :due_at REMOVE claim_token",
            )
            .expression_attribute_values(":account_status", s(keys::account_status(&claimed.account, MessageStatus::Held)))
            .expression_attribute_values(":held", status(MessageStatus::Held))
            .expression_attribute_values(":reason", to_attribute("message", &reason)?)
            .condition_expression("#status = :claimed AND claim_token = :token")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":claimed", status(MessageStatus::Claimed))
            .expression_attribute_values(":token", s(&claimed.claim_token))
            .expression_attribute_values(":due_ms", n(due.timestamp_millis()))
            .expression_attribute_values(":due_at", to_attribute("message", &due)?)
            .send()
            .await;
        Ok(conditional("UpdateItem", result)?.is_some())
    }

    /// Stores what a claimed message will say, as rendered at claim time.
    pub async fn store_rendered(
        &self,
        claimed: &ClaimedMessage,
        channel: Channel,
        content: &RenderedContent,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_item(&keys::message(&claimed.account, &claimed.message.id))))
            .update_expression("SET content = :content, channel = :channel")
            .condition_expression("#status = :claimed AND claim_token = :token")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":claimed", status(MessageStatus::Claimed))
            .expression_attribute_values(":token", s(&claimed.claim_token))
            .expression_attribute_values(":content", to_attribute("message", content)?)
            .expression_attribute_values(":channel", to_attribute("message", &channel)?)
            .send()
            .await;
        Ok(conditional("UpdateItem", result)?.is_some())
    }

    /// Marks the start of the one send a claim allows. `None` when this claim
    /// was already used (a duplicate event), superseded, or withdrawn. The
    /// message stays in the due index, due at the end of the send's
    /// `lease`: a claim requires `send_started_at` absent, so no sweep sends
    /// it again, and should the function die before settling, the sweep's
    /// recovery pass finds it there ([`Store::recover_stuck_send`]).
    pub async fn start_send(
        &self,
        account: &AccountId,
        id: &MessageId,
        claim_token: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Option<Message>, StoreError> {
        let update = ConditionalUpdate::on(keys::message(account, id))
            .set("send_started_at = :now")
            .set("attempts = if_not_exists(attempts, :zero) + :one")
            .set("due_ms = :lease_until")
            .condition("#status = :claimed AND claim_token = :token AND attribute_not_exists(send_started_at)")
            .name("#status", "status")
            .value(":claimed", status(MessageStatus::Claimed))
            .value(":token", s(claim_token))
            .value(":now", to_attribute("message", &now)?)
            .value(":zero", n(0))
            .value(":one", n(1))
            .value(":lease_until", n((now + lease).timestamp_millis()));
        match update.apply(self, ReturnValue::AllNew).await? {
            Some(item) => Ok(Some(from_item("message", item)?)),
            None => Ok(None),
        }
    }

    /// Ends a send that started and was never settled once its lease has run
    /// out (the delivery function died, or every write after the send
    /// failed): `sent` with `outcome_unknown`, out of the due index, never
    /// sent again. Its reservation is kept: the provider may have taken it.
    /// The message as it is now, or `None` when it was no such send.
    pub async fn recover_stuck_send(
        &self,
        account: &AccountId,
        id: &MessageId,
        now: DateTime<Utc>,
    ) -> Result<Option<Message>, StoreError> {
        let notice = MessageNotice { kind: NotificationKind::DeliveryUnknown, detail: "send_not_settled".into() };
        let update = ConditionalUpdate::on(keys::message(account, id))
            .set("#status = :sent")
            .set("account_status = :account_status")
            .set("reason = :reason")
            .set("sent_at = send_started_at")
            .set("notice = :notice")
            .remove(keys::DUE_SHARD)
            .remove(keys::DUE_MS)
            .condition("#status = :claimed AND attribute_exists(send_started_at) AND due_ms <= :now")
            .name("#status", "status")
            .value(":claimed", status(MessageStatus::Claimed))
            .value(":sent", status(MessageStatus::Sent))
            .value(":account_status", s(keys::account_status(account, MessageStatus::Sent)))
            .value(":reason", to_attribute("message", &StatusReason::OutcomeUnknown)?)
            .value(":notice", to_attribute("message", &notice)?)
            .value(":now", n(now.timestamp_millis()));
        match update.apply(self, ReturnValue::AllNew).await? {
            Some(item) => Ok(Some(from_item("message", item)?)),
            None => Ok(None),
        }
    }

    /// Gives a send back after the provider refused it for now, refunding
    /// its reservation in the same transaction: a retry of the same event
    /// may send, and otherwise a sweep reclaims the message at `retry_at`.
    pub async fn release_send(
        &self,
        account: &AccountId,
        id: &MessageId,
        claim_token: &str,
        retry_at: DateTime<Utc>,
        refund: Option<Refund>,
    ) -> Result<bool, StoreError> {
        let key = keys::message(account, id);
        let update = ConditionalUpdate::on(key.clone())
            .set("due_shard = :shard")
            .set("due_ms = :retry_at")
            .remove("send_started_at")
            .condition("#status = :claimed AND claim_token = :token")
            .name("#status", "status")
            .value(":claimed", status(MessageStatus::Claimed))
            .value(":token", s(claim_token))
            .value(":shard", s(keys::due_shard(&key)))
            .value(":retry_at", n(retry_at.timestamp_millis()));
        self.move_with_refund(account, id, claim_token, update, refund).await
    }

    /// Records how a claimed message ended and takes it out of the due
    /// index, with its refund (if any) in the same transaction.
    pub async fn settle(
        &self,
        account: &AccountId,
        id: &MessageId,
        claim_token: &str,
        settlement: &Settlement,
    ) -> Result<bool, StoreError> {
        let mut update = ConditionalUpdate::on(keys::message(account, id))
            .set("#status = :status")
            .set("account_status = :account_status")
            .set("reason = :reason")
            .remove(keys::DUE_SHARD)
            .remove(keys::DUE_MS)
            .condition("#status = :claimed AND claim_token = :token")
            .name("#status", "status")
            .value(":claimed", status(MessageStatus::Claimed))
            .value(":token", s(claim_token))
            .value(":status", status(settlement.status))
            .value(":account_status", s(keys::account_status(account, settlement.status)))
            .value(":reason", to_attribute("message", &settlement.reason)?);
        if let Some(sent_at) = settlement.sent_at {
            update = update.set("sent_at = :sent_at").value(":sent_at", to_attribute("message", &sent_at)?);
        }
        if let Some((channel, provider_id)) = &settlement.provider {
            // Into the lookup index, where the provider's callbacks find it.
            update = update
                .set("provider_message_id = :provider_id")
                .set("lookup_key = :provider_ref")
                .set("lookup_ms = :sent_ms")
                .value(":provider_id", s(provider_id))
                .value(":provider_ref", s(keys::provider_ref(*channel, provider_id)))
                .value(":sent_ms", n(settlement.sent_at.unwrap_or_default().timestamp_millis()));
        }
        if let Some(notice) = &settlement.notice {
            update = update.set("notice = :notice").value(":notice", to_attribute("message", notice)?);
        }
        self.move_with_refund(account, id, claim_token, update, settlement.refund).await
    }

    /// Tells staff about a message, once per message and kind: a handler
    /// run again (a retried event, a redelivered report) finds the mark and
    /// adds nothing. Whether this call told them.
    pub async fn notify_once(
        &self,
        account: &AccountId,
        message: &Message,
        notice: &MessageNotice,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let notification = Notification::new(notice.kind, now)
            .about(&message.recipient_id, &message.id, message.channel)
            .detail(notice.detail.clone());
        let mut mark = key_item(&keys::message_notice(account, &message.id, notice.kind.as_str()));
        if let Some(expires) = now.checked_add_signed(Duration::days(MESSAGE_RETENTION_DAYS)) {
            mark.insert(keys::EXPIRES_AT.to_owned(), n(expires.timestamp()));
        }
        let mark = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.table)
            .set_item(Some(mark))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(|_| StoreError::Corrupt("notice"))?;
        let key = keys::notification(account, notification.at.timestamp_millis(), &notification.id);
        let notification = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.table)
            .set_item(Some(with_key(to_item("notification", &notification)?, &key)))
            .build()
            .map_err(|_| StoreError::Corrupt("notification"))?;
        let request = self
            .client
            .transact_write_items()
            .transact_items(aws_sdk_dynamodb::types::TransactWriteItem::builder().put(mark).build())
            .transact_items(aws_sdk_dynamodb::types::TransactWriteItem::builder().put(notification).build());
        Ok(matches!(self.transact(request).await?, Transacted::Applied))
    }
}
