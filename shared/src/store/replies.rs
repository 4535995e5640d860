//! Replies and the routes they arrive by.
//!
//! A reply is written once (its id is the provider's): a redelivery finds it
//! and is not applied again. It sits in its recipient's thread (`thread`
//! index), in the account's replies (`by_status`, `ACCOUNT#{a}#REPLIES`)
//! and, until read, in its unread inbox (`lookup`, `UNREAD#{a}`).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::messages::MESSAGE_RETENTION_DAYS;
use super::{from_item, keys, n, s, to_attribute, to_item, with_key, ConditionalUpdate};
use super::{Item, Store, StoreError};
use crate::domain::{AccountId, MessageId, RecipientId, Reply, ReplyId, ReplyRoute};

/// How long a route stays usable after the last message sent on it: a
/// reply to a months-old email still finds its practice.
pub const ROUTE_RETENTION_DAYS: i64 = 90;

/// Where a route's replies go: the practice, the recipient and the message
/// last sent on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteTarget {
    pub account_id: AccountId,
    pub recipient_id: RecipientId,
    pub message_id: MessageId,
    pub at: DateTime<Utc>,
}

/// When a record written at `at` may go.
fn expiry(at: DateTime<Utc>, days: i64) -> Option<i64> {
    at.checked_add_signed(Duration::days(days)).map(|t| t.timestamp())
}

impl Store {
    /// The route item a message sent on `route` writes with its content,
    /// in the same transaction.
    pub(crate) fn route_item(&self, route: &ReplyRoute, target: &RouteTarget) -> Result<Item, StoreError> {
        let mut item = with_key(to_item("route", target)?, &keys::reply_route(&route.key()));
        if let Some(expires) = expiry(target.at, ROUTE_RETENTION_DAYS) {
            item.insert(keys::EXPIRES_AT.to_owned(), n(expires));
        }
        Ok(item)
    }

    /// Where replies on `route` go, if anything was sent on it lately.
    pub async fn reply_route(&self, route: &ReplyRoute) -> Result<Option<RouteTarget>, StoreError> {
        Ok(self.get("route", &keys::reply_route(&route.key())).await?.map(|(target, _)| target))
    }

    /// Writes a reply the first time it arrives. `false`: it was written
    /// before (a redelivery), and nothing changed.
    pub async fn add_reply(&self, account: &AccountId, reply: &Reply) -> Result<bool, StoreError> {
        let mut item = with_key(to_item("reply", reply)?, &keys::reply(account, &reply.id));
        let at_ms = reply.received_at.timestamp_millis();
        if let Some(recipient) = &reply.recipient_id {
            item.insert(keys::THREAD_KEY.to_owned(), s(keys::thread(account, recipient)));
            item.insert(keys::THREAD_AT.to_owned(), n(at_ms));
        }
        item.insert(keys::ACCOUNT_STATUS.to_owned(), s(keys::account_replies(account)));
        item.insert("due_at".to_owned(), to_attribute("reply", &reply.received_at)?);
        if !reply.read {
            item.insert(keys::LOOKUP_KEY.to_owned(), s(keys::unread_replies(account)));
            item.insert(keys::LOOKUP_MS.to_owned(), n(at_ms));
        }
        if let Some(expires) = expiry(reply.received_at, MESSAGE_RETENTION_DAYS) {
            item.insert(keys::EXPIRES_AT.to_owned(), n(expires));
        }
        self.put_new(item).await
    }

    pub async fn get_reply(&self, account: &AccountId, id: &ReplyId) -> Result<Option<Reply>, StoreError> {
        Ok(self.get("reply", &keys::reply(account, id)).await?.map(|(reply, _)| reply))
    }

    /// Marks a reply read: out of the unread inbox. `false`: no such reply.
    pub async fn mark_reply_read(&self, account: &AccountId, id: &ReplyId) -> Result<bool, StoreError> {
        let update = ConditionalUpdate::on(keys::reply(account, id))
            .set("#read = :read")
            .remove("lookup_key")
            .remove("lookup_ms")
            .condition("attribute_exists(PK)")
            .name("#read", "read")
            .value(":read", aws_sdk_dynamodb::types::AttributeValue::Bool(true));
        Ok(update.apply(self, aws_sdk_dynamodb::types::ReturnValue::None).await?.is_some())
    }
}

/// Read back a reply from a listing's item.
pub(crate) fn reply_of(item: Item) -> Result<Reply, StoreError> {
    from_item("reply", item)
}

/// The key of an item, for a BatchGetItem of a page read from an index.
pub(crate) fn item_key(item: &Item) -> Option<keys::ItemKey> {
    match (item.get(keys::PK), item.get(keys::SK)) {
        (
            Some(aws_sdk_dynamodb::types::AttributeValue::S(pk)),
            Some(aws_sdk_dynamodb::types::AttributeValue::S(sk)),
        ) => Some(keys::ItemKey { pk: pk.clone(), sk: sk.clone() }),
        _ => None,
    }
}
