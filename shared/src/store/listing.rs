//! Listings of messages in due order, by appointment, invoice, recipient or
//! status, paged by cursors that are checked before they reach the store.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::DateTime;

use serde::{Deserialize, Serialize};

use super::{dynamo_error, from_item, keys, s, status, Item, Store, StoreError};
use crate::domain::{AccountId, AppointmentId, InvoiceId, Message, MessageId, MessageStatus, RecipientId};

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

/// Longer than any cursor a listing gives out (a position in each of a
/// status's partitions: a time and a message id, encoded), within what API
/// Gateway takes in a request line.
pub const MAX_CURSOR_CHARS: usize = 8192;

/// Messages a filtered listing reads per query.
const FILTERED_READ: usize = 100;

/// A cursor that is not one the listing asked for gave out: malformed,
/// too long, or from another listing (another account's, another record's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cursor is not one this listing gave out")]
pub struct InvalidCursor;

/// What a cursor holds: the listing it was given out by (its first
/// partition's key, which names the account and what is listed) and a
/// position in each of its partitions.
#[derive(Debug, Serialize, Deserialize)]
struct Cursor {
    of: String,
    at: Vec<Position>,
}

/// Where a listing stands in one of its partitions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
enum Position {
    /// Nothing read yet (`null`).
    Start,
    /// After the message with this due time and id.
    After(String, MessageId),
}

impl MessageListing {
    fn account(&self) -> &AccountId {
        match self {
            Self::Appointment(account, _)
            | Self::Invoice(account, _)
            | Self::Recipient(account, _)
            | Self::Status(account, _) => account,
        }
    }

    /// The index, its partition attribute and this listing's partitions:
    /// one, or a status's shards and where it was before them.
    fn index_key(&self) -> (&'static str, &'static str, Vec<String>) {
        match self {
            Self::Appointment(account, id) => {
                (keys::SUBJECT_INDEX, keys::SUBJECT, vec![keys::appointment_subject(account, id)])
            }
            Self::Invoice(account, id) => {
                (keys::SUBJECT_INDEX, keys::SUBJECT, vec![keys::invoice_subject(account, id)])
            }
            Self::Recipient(account, recipient) => {
                (keys::RECIPIENT_INDEX, keys::RECIPIENT_KEY, vec![keys::recipient_messages(account, recipient)])
            }
            Self::Status(account, status) => (
                keys::STATUS_INDEX,
                keys::ACCOUNT_STATUS,
                (0..keys::STATUS_SHARDS)
                    .map(|shard| keys::status_shard(account, *status, shard))
                    .chain([keys::unsharded_status(account, *status)])
                    .collect(),
            ),
        }
    }

    /// The listing from its first message.
    pub fn from_start(self) -> ListingFrom {
        let partitions = self.index_key().2.len();
        ListingFrom { listing: self, positions: vec![Position::Start; partitions] }
    }

    /// The listing after the last message of a page it gave `cursor` for.
    /// A cursor is checked before it reaches the store: it must name this
    /// listing and hold a position in each of its partitions; positions
    /// name message ids, read as this account's messages, so no cursor
    /// reads another listing's messages.
    pub fn resume(self, cursor: &str) -> Result<ListingFrom, InvalidCursor> {
        if cursor.len() > MAX_CURSOR_CHARS {
            return Err(InvalidCursor);
        }
        use base64::Engine as _;
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).map_err(|_| InvalidCursor)?;
        let Cursor { of, at: positions } = serde_json::from_slice(&json).map_err(|_| InvalidCursor)?;
        let times_ok = positions.iter().all(|position| match position {
            Position::After(at, _) => DateTime::parse_from_rfc3339(at).is_ok(),
            Position::Start => true,
        });
        let partitions = self.index_key().2;
        if partitions.first() != Some(&of) || positions.len() != partitions.len() || !times_ok {
            return Err(InvalidCursor);
        }
        Ok(ListingFrom { listing: self, positions })
    }
}

/// A listing and where its page starts in each of its partitions.
#[derive(Debug, Clone)]
pub struct ListingFrom {
    pub(super) listing: MessageListing,
    positions: Vec<Position>,
}

#[cfg(test)]
impl ListingFrom {
    /// Whether this is the listing's first page (the memory store's only).
    pub(super) fn is_first_page(&self) -> bool {
        self.positions.iter().all(|position| *position == Position::Start)
    }
}

/// Messages in due order, and the cursor of the next page if there may be
/// one (it may turn out empty).
#[derive(Debug, Clone, Default)]
pub struct MessagePage {
    pub messages: Vec<Message>,
    pub next_cursor: Option<String>,
}

/// The cursor that resumes the listing of `partitions` at `positions`.
fn cursor_of(partitions: &[String], positions: Vec<Position>) -> Result<String, StoreError> {
    use base64::Engine as _;
    let cursor = Cursor { of: partitions.first().cloned().unwrap_or_default(), at: positions };
    let json = serde_json::to_vec(&cursor).map_err(|_| StoreError::Corrupt("message"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json))
}

/// A message's due time in a listing index (its sort key).
fn due_at(item: &Item) -> Result<&str, StoreError> {
    match item.get(DUE_AT) {
        Some(AttributeValue::S(at)) => Ok(at),
        _ => Err(StoreError::Corrupt("message")),
    }
}

/// One partition's part of a page: what was read from its position, and
/// whether it holds more after that.
struct PartitionRead {
    items: Vec<Item>,
    more: bool,
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
        let (index, partition_attribute, partitions) = listing.index_key();
        let mut messages: Vec<Message> = Vec::new();
        for partition in &partitions {
            let mut start: Option<Item> = None;
            loop {
                let (items, last) =
                    self.query_messages(index, partition_attribute, partition, None, start, None).await?;
                for item in items {
                    messages.push(from_item("message", item)?);
                }
                start = last;
                if start.is_none() {
                    break;
                }
            }
        }
        // Each partition is in due order; several are merged (stably).
        messages.sort_by_key(|message| message.due_at);
        Ok(messages)
    }

    /// Up to `limit` (at least 1) messages of a listing in due order, from
    /// where `from` says; `status` narrows a listing about a record or a
    /// recipient. A listing over several partitions reads a share of the
    /// page from each at once, merges them by due time, and reads more of a
    /// partition only when the merge has used what it read: a page reads
    /// about its own length, not its length in each partition.
    pub async fn list_messages_page(
        &self,
        from: ListingFrom,
        status_filter: Option<MessageStatus>,
        limit: usize,
    ) -> Result<MessagePage, StoreError> {
        let limit = limit.max(1);
        let account = from.listing.account().clone();
        let (index, partition_attribute, partitions) = from.listing.index_key();
        let share = (limit.div_ceil(partitions.len()) + 1).min(limit);
        let mut positions = from.positions;
        let mut read: Vec<std::collections::VecDeque<Item>> = vec![Default::default(); partitions.len()];
        let mut more = vec![true; partitions.len()];
        let mut messages = Vec::new();
        while messages.len() < limit {
            // The merge may take a partition's next message only when every
            // partition that may hold an earlier one has one read.
            let dry: Vec<usize> = (0..partitions.len()).filter(|&at| read[at].is_empty() && more[at]).collect();
            let reads = futures::future::try_join_all(dry.iter().map(|&at| {
                let start = match &positions[at] {
                    Position::Start => None,
                    Position::After(due, id) => {
                        let key = keys::message(&account, id);
                        Some(Item::from([
                            (partition_attribute.to_owned(), s(&partitions[at])),
                            (DUE_AT.to_owned(), s(due)),
                            (keys::PK.to_owned(), s(key.pk)),
                            (keys::SK.to_owned(), s(key.sk)),
                        ]))
                    }
                };
                self.read_partition(index, partition_attribute, &partitions[at], status_filter, start, share)
            }))
            .await?;
            for (at, partition_read) in dry.into_iter().zip(reads) {
                read[at] = partition_read.items.into();
                more[at] = partition_read.more;
            }
            // Equal times in partition order, each partition's own order kept.
            let mut next: Option<(usize, &str)> = None;
            for (at, items) in read.iter().enumerate() {
                if let Some(item) = items.front() {
                    let due = due_at(item)?;
                    if next.is_none_or(|(_, earliest)| due < earliest) {
                        next = Some((at, due));
                    }
                }
            }
            let Some((at, _)) = next else { break };
            let Some(item) = read[at].pop_front() else { break };
            let id = match item.get(keys::PK) {
                Some(AttributeValue::S(pk)) => keys::account_of_message(pk).map(|(_, id)| id),
                _ => None,
            };
            positions[at] = Position::After(due_at(&item)?.to_owned(), id.ok_or(StoreError::Corrupt("message"))?);
            messages.push(from_item("message", item)?);
        }
        // A partition read to its end keeps its position: a message written
        // there later, due after it, is on a later page.
        let ended = read.iter().zip(&more).all(|(items, more)| items.is_empty() && !more);
        let next_cursor = if ended { None } else { Some(cursor_of(&partitions, positions)?) };
        Ok(MessagePage { messages, next_cursor })
    }

    /// Up to `limit` messages of one partition from `start`, in due order
    /// (read until it has them or the partition ends).
    async fn read_partition(
        &self,
        index: &str,
        partition_attribute: &str,
        partition: &str,
        status_filter: Option<MessageStatus>,
        mut start: Option<Item>,
        limit: usize,
    ) -> Result<PartitionRead, StoreError> {
        let mut kept: Vec<Item> = Vec::new();
        loop {
            let wanted = limit - kept.len();
            // DynamoDB filters after its limit applies: a filtered query may
            // keep few of what it reads, so it reads more than it wants.
            let read = if status_filter.is_some() { wanted.max(FILTERED_READ) } else { wanted };
            let (items, last) =
                self.query_messages(index, partition_attribute, partition, status_filter, start, Some(read)).await?;
            kept.extend(items);
            if kept.len() >= limit || last.is_none() {
                let more = kept.len() > limit || last.is_some();
                kept.truncate(limit);
                return Ok(PartitionRead { items: kept, more });
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

#[cfg(test)]
mod tests {
    use super::*;

    fn status_listing(account: &str) -> MessageListing {
        MessageListing::Status(account.parse().unwrap(), MessageStatus::Sent)
    }

    fn appointment_listing(account: &str, appointment: &str) -> MessageListing {
        MessageListing::Appointment(account.parse().unwrap(), appointment.parse().unwrap())
    }

    #[test]
    fn a_cursor_holds_a_position_in_each_partition_and_reads_back() {
        let positions = vec![
            Position::Start,
            Position::After("2026-12-04T09:00:00Z".into(), "appt-1~reminder~1440".parse().unwrap()),
            Position::After("2026-12-05T09:00:00Z".into(), "appt-2~reminder~60".parse().unwrap()),
            Position::Start,
            Position::Start,
            Position::Start,
            Position::Start,
            Position::Start,
            Position::Start,
        ];
        let listing = status_listing("acct-1");
        let cursor = cursor_of(&listing.index_key().2, positions.clone()).unwrap();
        assert!(cursor.len() < MAX_CURSOR_CHARS);
        assert_eq!(listing.resume(&cursor).unwrap().positions, positions);
        assert_eq!(status_listing("acct-1").from_start().positions.len(), keys::STATUS_SHARDS as usize + 1);
    }

    #[test]
    fn a_cursor_at_the_longest_ids_in_every_partition_is_taken() {
        let account = "a".repeat(128);
        let id: MessageId = "m".repeat(512).parse().unwrap();
        let partitions = keys::STATUS_SHARDS as usize + 1;
        let positions = vec![Position::After("2026-12-04T09:00:00.123456789+00:00".into(), id); partitions];
        let listing = status_listing(&account);
        let cursor = cursor_of(&listing.index_key().2, positions).unwrap();
        assert!(cursor.len() <= MAX_CURSOR_CHARS, "{} chars", cursor.len());
        assert!(listing.resume(&cursor).is_ok());
    }

    #[test]
    fn a_cursor_of_another_listing_or_malformed_is_refused() {
        use base64::Engine as _;
        let encode = |json: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
        let a1 = appointment_listing("acct-1", "a1");
        let cursor = cursor_of(&a1.index_key().2, vec![Position::Start]).unwrap();
        assert!(a1.clone().resume(&cursor).is_ok());
        for other in
            [appointment_listing("acct-1", "a2"), appointment_listing("acct-2", "a1"), status_listing("acct-1")]
        {
            assert_eq!(other.resume(&cursor).unwrap_err(), InvalidCursor);
        }
        let of = &a1.index_key().2[0];
        for at in
            [r#"[["yesterday","m1"]]"#, r#"[["2026-12-04T09:00:00Z","no spaces"]]"#, r#"["later"]"#, "[null,null]"]
        {
            let forged = encode(&format!(r#"{{"of":"{of}","at":{at}}}"#));
            assert_eq!(a1.clone().resume(&forged).unwrap_err(), InvalidCursor, "{at}");
        }
        assert_eq!(a1.resume(&"A".repeat(MAX_CURSOR_CHARS + 1)).unwrap_err(), InvalidCursor);
    }
}
