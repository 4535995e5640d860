//! The DynamoDB store: the same code against AWS, moto and the embedded
//! local DynamoDB. Key design and access patterns: [`keys`].

pub mod calls;
mod consent;
mod contacts;
pub mod credit;
mod due;
mod forms;
pub mod keys;
mod listing;
#[cfg(test)]
pub(crate) mod memory;
mod messages;
pub mod notifications;
pub mod ports;
mod records;
mod replies;
pub mod reports;
mod sending;
mod settings;
mod threads;
mod users;

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_dynamodb::Client;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::domain::MessageStatus;
pub use consent::{ConsentRecord, PlannedRequest, MAX_CONSENT_HISTORY};
pub use credit::Refund;
pub use due::{DueCursor, DuePage};
use keys::ItemKey;
pub use listing::{InvalidCursor, ListingFrom, MessageListing, MessagePage, MAX_CURSOR_CHARS};
pub use messages::MESSAGE_RETENTION_DAYS;
pub use records::AppointmentLinks;
pub use replies::{RouteTarget, ROUTE_RETENTION_DAYS};
pub use sending::{
    Attempt, CapSlot, ClaimedMessage, ContextKeys, DueMessage, RenderContext, Rendered, Settlement, UnwrittenClaim,
};
pub use threads::{ConversationEntry, ConversationFrom, ConversationListing, ConversationPage};
pub use users::{StaffEmailClaim, StaffMember, UserPage, MAX_USERS_PAGE};

type Item = HashMap<String, AttributeValue>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// Only the operation and DynamoDB's error code: its message text may
    /// quote key or attribute values, which can be PHI.
    #[error("DynamoDB {operation} failed ({code})")]
    Dynamo { operation: &'static str, code: String, retryable: bool },
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
fn conditional<T, E, R>(operation: &'static str, result: Result<T, SdkError<E, R>>) -> Result<Option<T>, StoreError>
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

/// The error of an update whose condition failed, where the caller holds
/// that for a fault (the record it must find is not there).
fn condition_failed() -> StoreError {
    StoreError::Dynamo { operation: "UpdateItem", code: "ConditionalCheckFailedException".into(), retryable: false }
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

/// One update of a record on its conditions (if any), written alone
/// (`UpdateItem`) or as one item of a transaction (a message's move
/// together with the credit it gives back), from the same expression.
#[derive(Debug, Clone)]
struct ConditionalUpdate {
    key: ItemKey,
    set: Vec<String>,
    remove: Vec<&'static str>,
    add: Vec<&'static str>,
    conditions: Vec<String>,
    names: HashMap<String, String>,
    values: Item,
}

impl ConditionalUpdate {
    fn on(key: ItemKey) -> Self {
        Self {
            key,
            set: Vec::new(),
            remove: Vec::new(),
            add: Vec::new(),
            conditions: Vec::new(),
            names: HashMap::new(),
            values: Item::new(),
        }
    }

    fn set(mut self, assignment: impl Into<String>) -> Self {
        self.set.push(assignment.into());
        self
    }

    fn remove(mut self, attribute: &'static str) -> Self {
        self.remove.push(attribute);
        self
    }

    /// Adds to a number (`balance_cents :delta`), creating it at zero.
    fn add(mut self, addition: &'static str) -> Self {
        self.add.push(addition);
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
        let clauses = [("SET", self.set.join(", ")), ("REMOVE", self.remove.join(", ")), ("ADD", self.add.join(", "))];
        let written = clauses.iter().filter(|(_, actions)| !actions.is_empty());
        written.map(|(clause, actions)| format!("{clause} {actions}")).collect::<Vec<_>>().join(" ")
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

#[derive(Clone)]
pub struct Store {
    client: Client,
    table: String,
    due_shards: keys::DueShards,
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into(), due_shards: keys::DueShards::default() }
    }

    /// Spreads due messages over `shards` (the deployment's `DUE_SHARDS`).
    pub fn with_due_shards(mut self, shards: keys::DueShards) -> Self {
        self.due_shards = shards;
        self
    }

    /// How many shards the due index's messages are spread over.
    pub async fn due_shards(&self) -> keys::DueShards {
        self.due_shards
    }

    async fn get<T: DeserializeOwned>(
        &self,
        record: &'static str,
        key: &ItemKey,
    ) -> Result<Option<(T, Item)>, StoreError> {
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

    /// Writes a record that does not exist yet; `false` when it did (a
    /// repeat), and nothing changed.
    async fn put_new(&self, item: Item) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        Ok(conditional("PutItem", result)?.is_some())
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
                Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                    cancelled.cancellation_reasons().iter().map(|r| r.code().map(str::to_owned)).collect()
                }
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

    /// The record the `lookup` index names by `reference` (its keys), if any.
    async fn looked_up(&self, reference: &str) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::LOOKUP_INDEX)
            .key_condition_expression("lookup_key = :ref")
            .expression_attribute_values(":ref", s(reference))
            .limit(1)
            .send()
            .await
            .map_err(|e| dynamo_error("Query", e))?;
        Ok(output.items.unwrap_or_default().into_iter().next())
    }

    /// Sets one attribute of a record that exists (and never creates one):
    /// a record that does not is an error.
    async fn set_on_existing(&self, key: &ItemKey, attribute: &str, value: AttributeValue) -> Result<(), StoreError> {
        let update = ConditionalUpdate::on(key.clone())
            .set("#attribute = :value")
            .condition("attribute_exists(PK)")
            .name("#attribute", attribute)
            .value(":value", value);
        match update.apply(self, ReturnValue::None).await? {
            Some(_) => Ok(()),
            None => Err(condition_failed()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_writes_the_clauses_it_has_and_all_its_conditions() {
        let key = ItemKey { pk: "ACCOUNT#a#CREDIT".into(), sk: "BALANCE".into() };
        let add = ConditionalUpdate::on(key.clone()).add("balance_cents :delta");
        assert_eq!(add.expression(), "ADD balance_cents :delta");
        assert_eq!(add.condition_expression(), None);

        let all = ConditionalUpdate::on(key)
            .set("a = :a")
            .set("b = :b")
            .remove("c")
            .add("d :d")
            .condition("a <> :a")
            .condition("attribute_exists(PK)");
        assert_eq!(all.expression(), "SET a = :a, b = :b REMOVE c ADD d :d");
        assert_eq!(all.condition_expression().as_deref(), Some("(a <> :a) AND (attribute_exists(PK))"));
    }
}
