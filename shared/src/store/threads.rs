//! A recipient's conversation (the messages sent to them and their
//! replies, newest first) and an account's replies, paged by cursors that
//! are checked before they reach the store.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use chrono::DateTime;

use super::listing::{InvalidCursor, MAX_CURSOR_CHARS};
use super::replies::reply_of;
use super::{dynamo_error, from_item, key_item, keys, s, Item, Store, StoreError};
use crate::domain::{AccountId, Message, RecipientId, Reply};

/// Which conversation to list.
#[derive(Debug, Clone)]
pub enum ConversationListing {
    /// A recipient's messages and replies.
    Thread(AccountId, RecipientId),
    /// An account's replies: the unread ones only, or all.
    Replies { account: AccountId, unread_only: bool },
}

/// How a listing's index is keyed.
struct IndexKeys {
    index: &'static str,
    partition_attribute: &'static str,
    sort_attribute: &'static str,
    /// The sort key is epoch milliseconds (else an RFC 3339 time).
    sort_is_number: bool,
    partition: String,
}

/// One entry of a conversation.
#[derive(Debug, Clone)]
pub enum ConversationEntry {
    /// Boxed: a message with its content is far larger than a reply.
    Outbound(Box<Message>),
    Inbound(Reply),
}

/// Entries newest first, and the cursor of the next page if there may be one.
#[derive(Debug, Clone, Default)]
pub struct ConversationPage {
    pub entries: Vec<ConversationEntry>,
    pub next_cursor: Option<String>,
}

/// A page of a listing and where it starts.
#[derive(Debug, Clone)]
pub struct ConversationFrom {
    listing: ConversationListing,
    after: Option<Item>,
}

impl ConversationListing {
    fn account(&self) -> &AccountId {
        match self {
            Self::Thread(account, _) | Self::Replies { account, .. } => account,
        }
    }

    fn index_keys(&self) -> IndexKeys {
        match self {
            Self::Thread(account, recipient) => IndexKeys {
                index: keys::THREAD_INDEX,
                partition_attribute: keys::THREAD_KEY,
                sort_attribute: keys::THREAD_AT,
                sort_is_number: true,
                partition: keys::thread(account, recipient),
            },
            Self::Replies { account, unread_only: true } => IndexKeys {
                index: keys::LOOKUP_INDEX,
                partition_attribute: keys::LOOKUP_KEY,
                sort_attribute: keys::LOOKUP_MS,
                sort_is_number: true,
                partition: keys::unread_replies(account),
            },
            Self::Replies { account, unread_only: false } => IndexKeys {
                index: keys::STATUS_INDEX,
                partition_attribute: keys::ACCOUNT_STATUS,
                sort_attribute: "due_at",
                sort_is_number: false,
                partition: keys::account_replies(account),
            },
        }
    }

    pub fn from_start(self) -> ConversationFrom {
        ConversationFrom { listing: self, after: None }
    }

    /// The listing after the last entry of a page it gave `cursor` for: the
    /// cursor must name this listing's partition and a message or reply of
    /// this account, so no cursor reads another listing.
    pub fn resume(self, cursor: &str) -> Result<ConversationFrom, InvalidCursor> {
        use base64::Engine as _;
        if cursor.len() > MAX_CURSOR_CHARS {
            return Err(InvalidCursor);
        }
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).map_err(|_| InvalidCursor)?;
        let attributes: BTreeMap<String, String> = serde_json::from_slice(&json).map_err(|_| InvalidCursor)?;
        let index = self.index_keys();
        let value = |name: &str| attributes.get(name).map(String::as_str);
        let entry_of_account = match (value(keys::PK), value(keys::SK)) {
            (Some(pk), Some(keys::MESSAGE_SK)) => keys::account_of_message(pk).map(|(account, _)| account),
            (Some(pk), Some(keys::REPLY_SK)) => keys::account_of_reply(pk).map(|(account, _)| account),
            _ => None,
        };
        let sort_ok = value(index.sort_attribute).is_some_and(|sort| {
            if index.sort_is_number {
                sort.parse::<i64>().is_ok()
            } else {
                DateTime::parse_from_rfc3339(sort).is_ok()
            }
        });
        let ours = attributes.len() == 4
            && value(index.partition_attribute) == Some(index.partition.as_str())
            && sort_ok
            && entry_of_account.as_ref() == Some(self.account());
        if !ours {
            return Err(InvalidCursor);
        }
        let after = attributes
            .into_iter()
            .map(|(name, value)| {
                let attribute = if name == index.sort_attribute && index.sort_is_number {
                    AttributeValue::N(value)
                } else {
                    AttributeValue::S(value)
                };
                (name, attribute)
            })
            .collect();
        Ok(ConversationFrom { listing: self, after: Some(after) })
    }
}

/// The cursor that resumes after `item`: its key attributes in the index.
fn cursor_after(index: &IndexKeys, item: &Item) -> Result<String, StoreError> {
    use base64::Engine as _;
    let mut attributes = BTreeMap::new();
    for name in [index.partition_attribute, index.sort_attribute, keys::PK, keys::SK] {
        match item.get(name) {
            Some(AttributeValue::S(value) | AttributeValue::N(value)) => attributes.insert(name, value.as_str()),
            _ => return Err(StoreError::Corrupt("conversation")),
        };
    }
    let json = serde_json::to_vec(&attributes).map_err(|_| StoreError::Corrupt("conversation"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json))
}

impl Store {
    /// Up to `limit` (at least 1) entries of a conversation, newest first:
    /// one query of its index, then the entries themselves in one
    /// BatchGetItem (the index keeps keys only).
    pub async fn conversation_page(
        &self,
        from: ConversationFrom,
        limit: usize,
    ) -> Result<ConversationPage, StoreError> {
        let index = from.listing.index_keys();
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index.index)
            .key_condition_expression("#key = :key")
            .expression_attribute_names("#key", index.partition_attribute)
            .expression_attribute_values(":key", s(&index.partition))
            .scan_index_forward(false)
            .set_exclusive_start_key(from.after)
            .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| dynamo_error("Query", e))?;
        let found = output.items.unwrap_or_default();
        let next_cursor = match (found.last(), output.last_evaluated_key.is_some()) {
            (Some(last), true) => Some(cursor_after(&index, last)?),
            _ => None,
        };
        let wanted: Vec<keys::ItemKey> = found.iter().filter_map(super::replies::item_key).collect();
        let mut items: HashMap<(String, String), Item> = HashMap::new();
        for item in self.batch_get(&wanted).await? {
            if let Some(key) = super::replies::item_key(&item) {
                items.insert((key.pk, key.sk), item);
            }
        }
        let mut entries = Vec::with_capacity(wanted.len());
        // In the index's order; an entry gone since (its TTL) is left out.
        for key in wanted {
            let Some(item) = items.remove(&(key.pk, key.sk.clone())) else { continue };
            entries.push(if key.sk == keys::REPLY_SK {
                ConversationEntry::Inbound(reply_of(item)?)
            } else {
                ConversationEntry::Outbound(Box::new(from_item("message", item)?))
            });
        }
        Ok(ConversationPage { entries, next_cursor })
    }

    /// Reads records by key (at most 100, BatchGetItem's limit), strongly
    /// consistent, asking again for keys DynamoDB left unprocessed.
    pub(crate) async fn batch_get(&self, wanted: &[keys::ItemKey]) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::with_capacity(wanted.len());
        if wanted.is_empty() {
            return Ok(found);
        }
        let mut request = KeysAndAttributes::builder().consistent_read(true);
        for key in wanted {
            request = request.keys(key_item(key));
        }
        let mut pending =
            HashMap::from([(self.table.clone(), request.build().map_err(|_| StoreError::Corrupt("request"))?)]);
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
            found.extend(output.responses.unwrap_or_default().remove(&self.table).unwrap_or_default());
            pending = output.unprocessed_keys.unwrap_or_default();
            if pending.is_empty() {
                return Ok(found);
            }
        }
        Err(StoreError::Dynamo { operation: "BatchGetItem", code: "UnprocessedKeys".into(), retryable: true })
    }
}
