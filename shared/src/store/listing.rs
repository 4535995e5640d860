//! Listings of messages in due order, by appointment, invoice, recipient or
//! status, paged by cursors that are checked before they reach the store.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::DateTime;

use super::{dynamo_error, from_item, keys, s, status, Item, Store, StoreError};
use crate::domain::{AccountId, AppointmentId, InvoiceId, Message, MessageStatus, RecipientId};

/// Which messages to list.
#[derive(Debug, Clone)]
pub enum MessageListing {
    Appointment(AccountId, AppointmentId),
    Invoice(AccountId, InvoiceId),
    Recipient(AccountId, RecipientId),
    Status(AccountId, MessageStatus),
}

/// The sort key of every message listing index.
const DUE_AT: &str = "due_at";

/// Longer than any cursor a listing gives out (its key attributes: two
/// keys of an account and an id each, and a time, encoded).
pub const MAX_CURSOR_CHARS: usize = 2048;

/// Messages a filtered listing reads per query.
const FILTERED_READ: usize = 100;

/// A cursor that is not one the listing asked for gave out: malformed,
/// too long, or from another listing (another account's, another record's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cursor is not one this listing gave out")]
pub struct InvalidCursor;

impl MessageListing {
    fn account(&self) -> &AccountId {
        match self {
            Self::Appointment(account, _)
            | Self::Invoice(account, _)
            | Self::Recipient(account, _)
            | Self::Status(account, _) => account,
        }
    }

    /// The index, its partition attribute and this listing's partition.
    fn index_key(&self) -> (&'static str, &'static str, String) {
        match self {
            Self::Appointment(account, id) => {
                (keys::SUBJECT_INDEX, keys::SUBJECT, keys::appointment_subject(account, id))
            }
            Self::Invoice(account, id) => (keys::SUBJECT_INDEX, keys::SUBJECT, keys::invoice_subject(account, id)),
            Self::Recipient(account, recipient) => {
                (keys::RECIPIENT_INDEX, keys::RECIPIENT_KEY, keys::recipient_messages(account, recipient))
            }
            Self::Status(account, status) => {
                (keys::STATUS_INDEX, keys::ACCOUNT_STATUS, keys::account_status(account, *status))
            }
        }
    }

    /// The listing from its first message.
    pub fn from_start(self) -> ListingFrom {
        ListingFrom { listing: self, after: None }
    }

    /// The listing after the last message of a page it gave `cursor` for.
    /// A cursor is checked before it reaches the store: it must name this
    /// listing's partition and a message of this account, so no cursor
    /// reads another listing's messages.
    pub fn resume(self, cursor: &str) -> Result<ListingFrom, InvalidCursor> {
        if cursor.len() > MAX_CURSOR_CHARS {
            return Err(InvalidCursor);
        }
        use base64::Engine as _;
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).map_err(|_| InvalidCursor)?;
        let attributes: std::collections::BTreeMap<String, String> =
            serde_json::from_slice(&json).map_err(|_| InvalidCursor)?;
        let (_, partition_attribute, partition) = self.index_key();
        let value = |name: &str| attributes.get(name).map(String::as_str);
        let ours = attributes.len() == 4
            && value(partition_attribute) == Some(partition.as_str())
            && value(keys::SK) == Some(keys::MESSAGE_SK)
            && value(DUE_AT).is_some_and(|at| DateTime::parse_from_rfc3339(at).is_ok())
            && value(keys::PK)
                .and_then(keys::account_of_message)
                .is_some_and(|(account, _)| &account == self.account());
        if !ours {
            return Err(InvalidCursor);
        }
        let after = attributes.into_iter().map(|(name, value)| (name, s(value))).collect();
        Ok(ListingFrom { listing: self, after: Some(after) })
    }
}

/// A listing and where its page starts.
#[derive(Debug, Clone)]
pub struct ListingFrom {
    pub(super) listing: MessageListing,
    pub(super) after: Option<Item>,
}

/// Messages in due order, and the cursor of the next page if there may be
/// one (it may turn out empty).
#[derive(Debug, Clone, Default)]
pub struct MessagePage {
    pub messages: Vec<Message>,
    pub next_cursor: Option<String>,
}

/// The cursor that resumes a listing after `item`: its key attributes in
/// the listing's index.
fn cursor_after(partition_attribute: &str, item: &Item) -> Result<String, StoreError> {
    use base64::Engine as _;
    let mut attributes = std::collections::BTreeMap::new();
    for name in [partition_attribute, DUE_AT, keys::PK, keys::SK] {
        match item.get(name) {
            Some(AttributeValue::S(value)) => attributes.insert(name, value.as_str()),
            _ => return Err(StoreError::Corrupt("message")),
        };
    }
    let json = serde_json::to_vec(&attributes).map_err(|_| StoreError::Corrupt("message"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json))
}

impl Store {
    /// The messages about one appointment, in due order (`by_subject` index).
    pub async fn messages_for_appointment(
        &self,
        account: &AccountId,
        appointment: &AppointmentId,
    ) -> Result<Vec<Message>, StoreError> {
        self.list_messages(MessageListing::Appointment(account.clone(), appointment.clone())).await
    }

    /// The messages about one invoice, in due order (`by_subject` index).
    pub async fn messages_for_invoice(
        &self,
        account: &AccountId,
        invoice: &InvoiceId,
    ) -> Result<Vec<Message>, StoreError> {
        self.list_messages(MessageListing::Invoice(account.clone(), invoice.clone())).await
    }

    /// Every message of a listing, in due order: for listings bounded by
    /// their record (an appointment's, an invoice's messages).
    async fn list_messages(&self, listing: MessageListing) -> Result<Vec<Message>, StoreError> {
        let (index, partition_attribute, partition) = listing.index_key();
        let mut messages = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let (items, last) = self.query_messages(index, partition_attribute, &partition, None, start, None).await?;
            for item in items {
                messages.push(from_item("message", item)?);
            }
            start = last;
            if start.is_none() {
                return Ok(messages);
            }
        }
    }

    /// Up to `limit` (at least 1) messages of a listing in due order, from
    /// where `from` says; `status` narrows a listing about a record or a
    /// recipient.
    pub async fn list_messages_page(
        &self,
        from: ListingFrom,
        status_filter: Option<MessageStatus>,
        limit: usize,
    ) -> Result<MessagePage, StoreError> {
        let limit = limit.max(1);
        let (index, partition_attribute, partition) = from.listing.index_key();
        let mut kept: Vec<Item> = Vec::new();
        let mut start = from.after;
        loop {
            let wanted = limit - kept.len();
            // DynamoDB filters after its limit applies: a filtered query may
            // keep few of what it reads, so it reads more than it wants.
            let read = if status_filter.is_some() { wanted.max(FILTERED_READ) } else { wanted };
            let (items, last) =
                self.query_messages(index, partition_attribute, &partition, status_filter, start, Some(read)).await?;
            kept.extend(items);
            if kept.len() >= limit || last.is_none() {
                let more = kept.len() > limit || last.is_some();
                kept.truncate(limit);
                let next_cursor = match kept.last() {
                    Some(item) if more => Some(cursor_after(partition_attribute, item)?),
                    _ => None,
                };
                let messages = kept.into_iter().map(|item| from_item("message", item)).collect::<Result<_, _>>()?;
                return Ok(MessagePage { messages, next_cursor });
            }
            start = last;
        }
    }

    /// One query of a listing's index: the items, and where the next
    /// query starts if the index holds more.
    async fn query_messages(
        &self,
        index: &str,
        partition_attribute: &str,
        partition: &str,
        status_filter: Option<MessageStatus>,
        start: Option<Item>,
        limit: Option<usize>,
    ) -> Result<(Vec<Item>, Option<Item>), StoreError> {
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#key = :key")
            .expression_attribute_names("#key", partition_attribute)
            .expression_attribute_values(":key", s(partition))
            .set_exclusive_start_key(start)
            .set_limit(limit.map(|n| i32::try_from(n).unwrap_or(i32::MAX)));
        if let Some(wanted) = status_filter {
            request = request
                .filter_expression("#status = :status")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":status", status(wanted));
        }
        let output = request.send().await.map_err(|e| dynamo_error("Query", e))?;
        Ok((output.items.unwrap_or_default(), output.last_evaluated_key))
    }
}
