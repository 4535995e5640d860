//! Key design of the one Tidings table (declared in `template.yaml` as
//! `TidingsTable`).
//!
//! Every record has its own partition, so that no account, however large,
//! concentrates its writes on one key. `SK` names the record type, leaving
//! room for child records under the same partition (a thread's replies, an
//! account's ledger).
//!
//! | record      | PK                                   | SK            |
//! |-------------|--------------------------------------|---------------|
//! | settings    | `ACCOUNT#{account}`                  | `SETTINGS`    |
//! | recipient   | `ACCOUNT#{account}#RECIPIENT#{id}`   | `RECIPIENT`   |
//! | appointment | `ACCOUNT#{account}#APPOINTMENT#{id}` | `APPOINTMENT` |
//! | message     | `ACCOUNT#{account}#MESSAGE#{id}`     | `MESSAGE`     |
//! | template    | `ACCOUNT#{account}`                  | `TEMPLATE#{kind}#{channel}` |
//! | user        | `ACCOUNT#{account}`                  | `USER#{id}`                 |
//! | staff mailed | `ACCOUNT#{account}`                 | `STAFFMAIL#{user}#{notification}` |
//! | digest sent | `ACCOUNT#{account}`                  | `DIGEST#{user}#{window end, epoch ms}` |
//! | form        | `ACCOUNT#{account}#FORM#{id}`        | `FORM`        |
//! | contact of a client | `ACCOUNT#{account}#RECIPIENT#{client}` | `CONTACT#{contact}` |
//! | invoice     | `ACCOUNT#{account}#INVOICE#{id}`     | `INVOICE`     |
//! | message cap | `ACCOUNT#{account}#RECIPIENT#{id}`   | `CAP#{period}` |
//! | suppression | `ACCOUNT#{account}#RECIPIENT#{id}`   | `SUPPRESSED#{channel}` |
//! | balance     | `ACCOUNT#{account}#CREDIT`           | `BALANCE`     |
//! | ledger entry| `ACCOUNT#{account}#CREDIT`           | `LEDGER#{epoch ms, 13 digits}#{uuid}` |
//! | purchase    | `ACCOUNT#{account}#CREDIT`           | `PURCHASE#{idempotency key}` |
//! | notification| `ACCOUNT#{account}#NOTIFICATIONS`    | `AT#{epoch ms, 13 digits}#{uuid}` |
//! | webhook seen| `WEBHOOK#{provider}#{event id}`      | `WEBHOOK`     |
//! | staff told  | `ACCOUNT#{account}#MESSAGE#{id}`     | `NOTICE#{kind}` |
//! | parked report | `PARKED#{channel}#{provider id}#{outcome}` | `REPORT` |
//! | call deadline | `ACCOUNT#{account}#MESSAGE#{id}`   | `CALL_DEADLINE#{transaction}` |
//! | sender      | `SENDER#{channel}#{sender, lowercase}` | `SENDER`    |
//! | bridge      | `SENDER#bridge#{E.164 number}`          | `SENDER`    |
//! | consent     | `ACCOUNT#{account}#RECIPIENT#{id}`   | `CONSENT#{channel}` |
//! | consent history | `ACCOUNT#{account}#RECIPIENT#{id}` | `CONSENT#{channel}#AT#{epoch ms}#{reply or uuid}` |
//! | reply       | `ACCOUNT#{account}#REPLY#{id}`       | `REPLY`       |
//! | reply route | `ROUTE#{email#token \| channel#ours#theirs}` | `ROUTE` |
//!
//! An account's credit records share one partition: the balance is one item
//! whatever the layout, and its ledger moves at the balance's own rate (a
//! partition takes about 1,000 writes a second, so about 150 paid sends a
//! second per account, each a three-item transaction).
//!
//! Indexes:
//! - `due` (sparse, keys only): partition `due_shard` (`DUE#00`..`DUE#15` by default, [`DueShards`]),
//!   sort `due_ms` (epoch milliseconds, a number). Only live messages
//!   (scheduled or claimed) carry these attributes; a final status removes
//!   them, so the index holds exactly the work still to do. A claimed
//!   message's `due_ms` is its lease expiry, so an abandoned claim falls due
//!   again by itself; a send that started and was never settled falls due
//!   at its own lease's end, for the sweep's recovery pass. Provider
//!   reports that came before their message could be found wait in a
//!   partition of their own (`DUE#REPORTS`), due when they should be tried
//!   again; calls in progress wait in `DUE#CALLS` until their deadline, when
//!   the sweep ends them. Notifications wait in `DUE#NOTICES` until the
//!   digest function raises them, and users with digests in `DUE#DIGESTS`
//!   until their next window ends. Messages spread over the shards by a hash of their
//!   key, so each shard takes 1/16 of the writes.
//! - `by_subject` (include): partition `subject`
//!   (`ACCOUNT#{account}#APPOINTMENT#{id}` or `…#INVOICE#{id}`), sort
//!   `due_at` (RFC 3339): the messages about one record, in due order.
//!
//! - `by_recipient` (include): partition `recipient_key`
//!   (`ACCOUNT#{account}#RECIPIENT#{id}`), sort `due_at`: a recipient's messages.
//! - `by_status` (include): partition `account_status`
//!   (`ACCOUNT#{account}#STATUS#{status}#{shard}`), rewritten with every
//!   change of status, sort `due_at`: an account's messages in one status
//!   (failed, skipped…), spread over [`STATUS_SHARDS`] partitions by the
//!   message's key so that one account's burst (claims, then `sent`) is
//!   not held to one partition's write rate; a listing reads every shard
//!   and merges them in due order.
//! - `lookup` (sparse, include `cost_cents`): partition `lookup_key`, sort
//!   `lookup_ms`. A message is in it in one of two roles, never both: held
//!   for credit (`CREDIT#{account}`, sorted by when it was due: released
//!   oldest first), or sent and awaiting its provider's callbacks
//!   (`PROVIDER#{channel}#{provider message id}`). One index for both,
//!   because CloudFormation adds one index per stack update. A reply not
//!   yet read is in it under `UNREAD#{account}`, by when it came.
//! - `thread` (sparse, keys only): partition `thread_key`
//!   (`ACCOUNT#{account}#RECIPIENT#{id}`), sort `thread_at` (epoch ms): a
//!   recipient's messages (from when their content is written) and replies.
//!   Replies also sit in `by_status` under `ACCOUNT#{account}#REPLIES`.
//!
//! Access patterns:
//! | use                                   | operation                                   |
//! |---------------------------------------|---------------------------------------------|
//! | read / write settings, recipient, appointment | GetItem / PutItem on its key        |
//! | schedule a reminder (idempotent)      | PutItem, condition: absent or withdrawn     |
//! | withdraw a reminder                   | UpdateItem, condition: live and not sending |
//! | find due work                         | Query `due` per shard, `due_ms <= now`      |
//! | claim a due message exactly once      | UpdateItem, condition: live and due         |
//! | context to render a message           | BatchGetItem: settings, recipient, appointment, template |
//! | save / read an account's template     | PutItem / GetItem on its key                |
//! | count a message against the caps      | TransactWriteItems: conditional ADD per period |
//! | start a send exactly once per claim   | UpdateItem, condition: claim token, not started |
//! | record the outcome                    | UpdateItem, condition: claim token          |
//! | messages of an appointment or invoice | Query `by_subject` (status as a filter)     |
//! | messages to a recipient               | Query `by_recipient` (status as a filter)   |
//! | an account's messages in one status   | Query `by_status`, each shard, merged       |
//! | reserve credit for a send             | TransactWriteItems: balance >= cost, message not reserved, ledger put |
//! | refund a reservation                  | TransactWriteItems: message reserved and not refunded, balance, ledger |
//! | record a purchase once per key        | TransactWriteItems: purchase absent, balance, ledger |
//! | messages held for credit, oldest first| Query `lookup` on `CREDIT#{account}`        |
//! | the message of a provider callback    | Query `lookup` on `PROVIDER#…`, then GetItem |
//! | recent ledger, notifications          | Query, newest first                         |
//! | where a reply goes                    | GetItem `ROUTE#…` (written with the message's content) |
//! | keep a reply once                     | PutItem, condition: absent                  |
//! | a thread or the inbox, a page         | Query `thread` / `lookup` / `by_status`, newest first, then BatchGetItem |

use crate::domain::{
    AccountId, AppointmentId, Channel, FormId, InvoiceId, MessageId, MessageKind, MessageStatus, RecipientId, ReplyId,
    UserId,
};

pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const DUE_INDEX: &str = "due";
pub const DUE_SHARD: &str = "due_shard";
pub const DUE_MS: &str = "due_ms";
pub const SUBJECT_INDEX: &str = "by_subject";
pub const SUBJECT: &str = "subject";
pub const RECIPIENT_INDEX: &str = "by_recipient";
pub const RECIPIENT_KEY: &str = "recipient_key";
pub const STATUS_INDEX: &str = "by_status";
pub const ACCOUNT_STATUS: &str = "account_status";
/// DynamoDB's TTL attribute: epoch seconds after which a record may go.
pub const EXPIRES_AT: &str = "expires_at";
pub const LOOKUP_INDEX: &str = "lookup";
pub const LOOKUP_KEY: &str = "lookup_key";
pub const LOOKUP_MS: &str = "lookup_ms";
pub const THREAD_INDEX: &str = "thread";
pub const THREAD_KEY: &str = "thread_key";
pub const THREAD_AT: &str = "thread_at";

/// How many partitions the due index spreads messages over. A deployment
/// may raise it (`DueShards` in template.yaml) but never lower it: messages
/// already due stay in the shards they were written to, all of which a
/// higher count still reads; a lower count would stop reading some.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueShards(u32);

impl DueShards {
    /// Enough that 100,000 messages a minute stay under a partition's write
    /// limit (docs/scale.md).
    pub const DEFAULT: DueShards = DueShards(16);
    /// A sweep queries every shard each round: past this, the empty ones
    /// cost more than the partitions they spare.
    pub const MAX: u32 = 256;

    pub fn count(self) -> u32 {
        self.0
    }

    /// Every shard, as the sweep reads them.
    pub fn all(self) -> impl Iterator<Item = u32> {
        0..self.0
    }

    /// The shard a message's key belongs to.
    pub fn of(self, key: &ItemKey) -> String {
        due_shard_name((spread(&key.pk) % u64::from(self.0)) as u32)
    }
}

impl Default for DueShards {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl std::str::FromStr for DueShards {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let count: u32 = value.parse().map_err(|_| format!("{value:?} is not a whole number"))?;
        if !(Self::DEFAULT.0..=Self::MAX).contains(&count) {
            return Err(format!("{count}: between {} and {}", Self::DEFAULT.0, Self::MAX));
        }
        Ok(Self(count))
    }
}

/// A partition key's hash, stable across builds and platforms (which
/// `std`'s hasher does not promise), for spreading items over shards.
/// FNV-1a alone leaves the low bits of its hash depending on the low bits
/// of each byte only (ids that differ in their high bits landed on half the
/// shards), so it is finished with MurmurHash3's mixer, in which every bit
/// of the input moves every bit of the output.
fn spread(pk: &str) -> u64 {
    let fnv = pk
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3));
    let mut mixed = fnv ^ (fnv >> 33);
    mixed = mixed.wrapping_mul(0xff51_afd7_ed55_8ccd);
    mixed ^= mixed >> 33;
    mixed = mixed.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    mixed ^ (mixed >> 33)
}

/// How many `by_status` partitions an account's messages in one status are
/// spread over: a burst of one account's messages changing status together
/// (a sweep's claims, then the deliveries' `sent`) writes all of them, each
/// good for 1,000 write units a second. A listing by status reads them all
/// and merges them in due order. Fixed: items already written stay where
/// they are, and listings read exactly these.
pub const STATUS_SHARDS: u32 = 8;

/// The primary key of one record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ItemKey {
    pub pk: String,
    pub sk: String,
}

pub fn settings(account: &AccountId) -> ItemKey {
    ItemKey { pk: format!("ACCOUNT#{account}"), sk: "SETTINGS".into() }
}

pub fn recipient(account: &AccountId, id: &RecipientId) -> ItemKey {
    ItemKey { pk: format!("ACCOUNT#{account}#RECIPIENT#{id}"), sk: "RECIPIENT".into() }
}

pub fn appointment(account: &AccountId, id: &AppointmentId) -> ItemKey {
    ItemKey { pk: format!("ACCOUNT#{account}#APPOINTMENT#{id}"), sk: "APPOINTMENT".into() }
}

pub fn invoice(account: &AccountId, id: &InvoiceId) -> ItemKey {
    ItemKey { pk: format!("ACCOUNT#{account}#INVOICE#{id}"), sk: "INVOICE".into() }
}

pub fn invoice_subject(account: &AccountId, id: &InvoiceId) -> String {
    format!("ACCOUNT#{account}#INVOICE#{id}")
}

pub const MESSAGE_SK: &str = "MESSAGE";

pub fn message(account: &AccountId, id: &MessageId) -> ItemKey {
    ItemKey { pk: format!("ACCOUNT#{account}#MESSAGE#{id}"), sk: MESSAGE_SK.into() }
}

pub const USER_PREFIX: &str = "USER#";

/// A practice user, in the account's partition.
pub fn user(account: &AccountId, id: &UserId) -> ItemKey {
    ItemKey { pk: format!("ACCOUNT#{account}"), sk: format!("{USER_PREFIX}{id}") }
}

pub fn template(account: &AccountId, kind: MessageKind, channel: Channel) -> ItemKey {
    ItemKey { pk: format!("ACCOUNT#{account}"), sk: format!("TEMPLATE#{}#{}", kind.as_str(), channel.as_str()) }
}

/// A recipient's count of automated messages in one period (`D2026-12-02`,
/// `W2026-49`), kept beside the recipient and expiring after the period.
pub fn cap(account: &AccountId, recipient: &RecipientId, period: &str) -> ItemKey {
    ItemKey { pk: format!("ACCOUNT#{account}#RECIPIENT#{recipient}"), sk: format!("CAP#{period}") }
}

pub fn suppression(account: &AccountId, recipient: &RecipientId, channel: Channel) -> ItemKey {
    ItemKey { pk: format!("ACCOUNT#{account}#RECIPIENT#{recipient}"), sk: format!("SUPPRESSED#{}", channel.as_str()) }
}

pub const CONSENT_PREFIX: &str = "CONSENT#";

/// A recipient's consent on one channel, beside the recipient.
pub fn consent(account: &AccountId, recipient: &RecipientId, channel: Channel) -> ItemKey {
    ItemKey {
        pk: format!("ACCOUNT#{account}#RECIPIENT#{recipient}"),
        sk: format!("{CONSENT_PREFIX}{}", channel.as_str()),
    }
}

/// One change of a recipient's consent on a channel, kept for audit.
pub fn consent_history(
    account: &AccountId,
    recipient: &RecipientId,
    channel: Channel,
    at_ms: i64,
    id: &str,
) -> ItemKey {
    ItemKey {
        pk: format!("ACCOUNT#{account}#RECIPIENT#{recipient}"),
        sk: format!("{CONSENT_PREFIX}{}#AT#{at_ms:013}#{id}", channel.as_str()),
    }
}

/// The opt-in request planned for a recipient on a channel, beside the
/// recipient: one at a time, and none again within the re-ask window.
pub fn opt_in_request(account: &AccountId, recipient: &RecipientId, channel: Channel) -> ItemKey {
    ItemKey { pk: format!("ACCOUNT#{account}#RECIPIENT#{recipient}"), sk: format!("OPTIN#{}", channel.as_str()) }
}

pub const REPLY_SK: &str = "REPLY";

pub fn reply(account: &AccountId, id: &ReplyId) -> ItemKey {
    ItemKey { pk: format!("ACCOUNT#{account}#REPLY#{id}"), sk: REPLY_SK.into() }
}

/// The account a reply key belongs to, read back from its PK.
pub fn account_of_reply(pk: &str) -> Option<(AccountId, ReplyId)> {
    let rest = pk.strip_prefix("ACCOUNT#")?;
    let (account, reply) = rest.split_once("#REPLY#")?;
    Some((account.parse().ok()?, reply.parse().ok()?))
}

/// Where replies on `route` go: the account, recipient and message last
/// sent on it. Rewritten by each message sent on the route.
pub fn reply_route(route: &str) -> ItemKey {
    ItemKey { pk: format!("ROUTE#{route}"), sk: "ROUTE".into() }
}

/// `thread_key` of a recipient's messages and replies.
pub fn thread(account: &AccountId, recipient: &RecipientId) -> String {
    format!("ACCOUNT#{account}#RECIPIENT#{recipient}")
}

/// `account_status` of an account's replies: all of them, newest first,
/// in the `by_status` index beside its messages' statuses.
pub fn account_replies(account: &AccountId) -> String {
    format!("ACCOUNT#{account}#REPLIES")
}

/// `lookup_key` of an account's unread replies.
pub fn unread_replies(account: &AccountId) -> String {
    format!("UNREAD#{account}")
}

pub fn credit_partition(account: &AccountId) -> String {
    format!("ACCOUNT#{account}#CREDIT")
}

pub fn balance(account: &AccountId) -> ItemKey {
    ItemKey { pk: credit_partition(account), sk: "BALANCE".into() }
}

pub const LEDGER_PREFIX: &str = "LEDGER#";

/// Sorted by time, unique by the uuid.
pub fn ledger_entry(account: &AccountId, at_ms: i64) -> ItemKey {
    ItemKey { pk: credit_partition(account), sk: format!("{LEDGER_PREFIX}{at_ms:013}#{}", uuid::Uuid::new_v4()) }
}

pub fn purchase(account: &AccountId, idempotency_key: &str) -> ItemKey {
    ItemKey { pk: credit_partition(account), sk: format!("PURCHASE#{idempotency_key}") }
}

pub fn notifications_partition(account: &AccountId) -> String {
    format!("ACCOUNT#{account}#NOTIFICATIONS")
}

/// A notification's `lookup` key: found by its id to be marked read.
pub fn notification_ref(account: &AccountId, id: &str) -> String {
    format!("NOTICE#{account}#{id}")
}

pub fn notification(account: &AccountId, at_ms: i64, id: &str) -> ItemKey {
    ItemKey { pk: notifications_partition(account), sk: format!("AT#{at_ms:013}#{id}") }
}

/// An email identity, number or sender id the operator assigned to one
/// account: only that account may send as it.
pub fn sender(channel: Channel, sender: &str) -> ItemKey {
    ItemKey { pk: format!("SENDER#{}#{}", channel.as_str(), sender.to_lowercase()), sk: "SENDER".into() }
}

/// Marks that staff were told `kind` about a message, so that a handler
/// re-run after a crash tells them once. Kept beside the message.
pub fn message_notice(account: &AccountId, id: &MessageId, kind: &str) -> ItemKey {
    ItemKey { pk: format!("ACCOUNT#{account}#MESSAGE#{id}"), sk: format!("NOTICE#{kind}") }
}

/// A provider's report that came before its message could be found (the
/// `lookup` index lags its table, or the send is not settled yet): kept in
/// the due index until the sweep can apply it. One per report.
pub fn parked_report(report_id: &str) -> ItemKey {
    ItemKey { pk: format!("PARKED#{report_id}"), sk: "REPORT".into() }
}

/// The due index's partition of parked reports, apart from the messages'
/// shards.
pub const REPORTS_SHARD: &str = "DUE#REPORTS";

/// When the sweep ends a call in progress (its length cap). Kept beside
/// the message, one per call: a call of an earlier attempt may still be on
/// the line when the next is placed.
pub fn call_deadline(account: &AccountId, id: &MessageId, transaction_id: &str) -> ItemKey {
    ItemKey { pk: format!("ACCOUNT#{account}#MESSAGE#{id}"), sk: format!("CALL_DEADLINE#{transaction_id}") }
}

/// The due index's partition of calls' deadlines.
pub const CALLS_SHARD: &str = "DUE#CALLS";

/// The due index's partition of notifications not yet raised: each is
/// written there, and leaves once the digest function has put it on the
/// bus and emailed those who hear of it at once.
pub const NOTICES_SHARD: &str = "DUE#NOTICES";

/// The due index's partition of users who get digests, each due when
/// their next window ends.
pub const DIGESTS_SHARD: &str = "DUE#DIGESTS";

/// The claim on emailing one notification to one user at once, beside the
/// account's users: a run that claims it sends; a run that finds it
/// claimed does not.
pub fn staff_mail(account: &AccountId, user: &UserId, notification: &str) -> ItemKey {
    ItemKey { pk: format!("ACCOUNT#{account}"), sk: format!("STAFFMAIL#{user}#{notification}") }
}

/// The claim on one user's digest for the window ending at `until_ms`.
pub fn digest(account: &AccountId, user: &UserId, until_ms: i64) -> ItemKey {
    ItemKey { pk: format!("ACCOUNT#{account}"), sk: format!("DIGEST#{user}#{until_ms:013}") }
}

pub const CONTACT_PREFIX: &str = "CONTACT#";

/// A contact of a client, beside the client.
pub fn contact_link(account: &AccountId, client: &RecipientId, contact: &RecipientId) -> ItemKey {
    ItemKey { pk: format!("ACCOUNT#{account}#RECIPIENT#{client}"), sk: format!("{CONTACT_PREFIX}{contact}") }
}

/// A form's link: what it opens and where it stands.
pub fn form(account: &AccountId, id: &FormId) -> ItemKey {
    ItemKey { pk: format!("ACCOUNT#{account}#FORM#{id}"), sk: "FORM".into() }
}

/// A form found by its link's token (`lookup`).
pub fn form_link_ref(token: &str) -> String {
    format!("FORMLINK#{token}")
}

/// The account of a form's key.
pub fn account_of_form(pk: &str) -> Option<AccountId> {
    pk.strip_prefix("ACCOUNT#")?.split_once("#FORM#")?.0.parse().ok()
}

/// The account a notification's partition belongs to.
pub fn account_of_notification(pk: &str) -> Option<AccountId> {
    pk.strip_prefix("ACCOUNT#")?.strip_suffix("#NOTIFICATIONS")?.parse().ok()
}

/// The account and user of a user record's key.
pub fn user_of(key: &ItemKey) -> Option<(AccountId, UserId)> {
    let account = key.pk.strip_prefix("ACCOUNT#")?;
    let user = key.sk.strip_prefix(USER_PREFIX)?;
    Some((account.parse().ok()?, user.parse().ok()?))
}

/// A number the operator lets one account's calls connect recipients to
/// (a call's "0"): only that account's calls may bridge to it.
pub fn bridge_number(number: &str) -> ItemKey {
    ItemKey { pk: format!("SENDER#bridge#{number}"), sk: "SENDER".into() }
}

pub fn webhook_seen(provider: &str, event_id: &str) -> ItemKey {
    ItemKey { pk: format!("WEBHOOK#{provider}#{event_id}"), sk: "WEBHOOK".into() }
}

/// `lookup_key` of the messages an account holds for lack of credit.
pub fn credit_queue(account: &AccountId) -> String {
    format!("CREDIT#{account}")
}

/// `lookup_key` of a sent message, by its provider's id.
pub fn provider_ref(channel: Channel, provider_message_id: &str) -> String {
    format!("PROVIDER#{}#{provider_message_id}", channel.as_str())
}

pub fn recipient_messages(account: &AccountId, recipient: &RecipientId) -> String {
    format!("ACCOUNT#{account}#RECIPIENT#{recipient}")
}

/// Rewritten with every change of status, so the `by_status` index lists an
/// account's messages in one status: the message's own shard of them (of
/// [`STATUS_SHARDS`]).
pub fn account_status(account: &AccountId, status: MessageStatus, message: &MessageId) -> String {
    status_shard(account, status, (spread(&self::message(account, message).pk) % u64::from(STATUS_SHARDS)) as u32)
}

/// Where messages that last changed status before `by_status` was sharded
/// still are (until they expire, `MESSAGE_RETENTION_DAYS` after they were
/// due): listings read it beside the shards. Nothing is written to it.
pub fn unsharded_status(account: &AccountId, status: MessageStatus) -> String {
    format!("ACCOUNT#{account}#STATUS#{}", status.as_str())
}

/// One of the [`STATUS_SHARDS`] partitions of an account's messages in one
/// status.
pub fn status_shard(account: &AccountId, status: MessageStatus, shard: u32) -> String {
    format!("ACCOUNT#{account}#STATUS#{}#{shard}", status.as_str())
}

pub fn appointment_subject(account: &AccountId, id: &AppointmentId) -> String {
    format!("ACCOUNT#{account}#APPOINTMENT#{id}")
}

/// The partition key of one due-index shard.
pub fn due_shard_name(shard: u32) -> String {
    format!("DUE#{shard:02}")
}

/// The account a message key belongs to, read back from its PK.
pub fn account_of_message(pk: &str) -> Option<(AccountId, MessageId)> {
    let rest = pk.strip_prefix("ACCOUNT#")?;
    let (account, message) = rest.split_once("#MESSAGE#")?;
    Some((account.parse().ok()?, message.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn message_keys_round_trip() {
        let account: AccountId = "acct-1".parse().unwrap();
        let id: MessageId = "a1~reminder~1440~100".parse().unwrap();
        let key = message(&account, &id);
        assert_eq!(account_of_message(&key.pk), Some((account, id)));
    }

    /// No shard takes more than 1.25x its fair share of `ids`' writes.
    fn assert_even(shards: DueShards, ids: impl Iterator<Item = (AccountId, MessageId)>) {
        let mut counts: HashMap<String, u32> = HashMap::new();
        let mut total = 0;
        for (account, id) in ids {
            *counts.entry(shards.of(&message(&account, &id))).or_default() += 1;
            total += 1;
        }
        assert_eq!(counts.len(), shards.count() as usize, "{counts:?}");
        let fair = total / shards.count();
        assert!(counts.values().all(|&n| n < fair * 5 / 4), "{counts:?}");
    }

    #[test]
    fn an_accounts_messages_in_one_status_spread_over_every_status_shard() {
        let account: AccountId = "acct".parse().unwrap();
        let mut counts: HashMap<String, u32> = HashMap::new();
        for i in 0..8_000 {
            let id: MessageId = format!("appt-{i}~reminder~1440~1796220000").parse().unwrap();
            *counts.entry(account_status(&account, MessageStatus::Sent, &id)).or_default() += 1;
        }
        let shards: Vec<String> = (0..STATUS_SHARDS).map(|n| status_shard(&account, MessageStatus::Sent, n)).collect();
        assert!(counts.keys().all(|key| shards.contains(key)), "{counts:?}");
        assert_eq!(counts.len(), STATUS_SHARDS as usize);
        assert!(counts.values().all(|&n| n < 1_000 * 5 / 4), "{counts:?}");
    }

    #[test]
    fn shards_spread_evenly() {
        let account: AccountId = "acct".parse().unwrap();
        assert_even(DueShards::DEFAULT, (0..16_000).map(|i| (account.clone(), format!("m{i}").parse().unwrap())));
    }

    /// Keys that differ only in the high bits of their bytes (`a`, `q`:
    /// 0x61, 0x71), as the bench's ids do: once they all fell on half the
    /// shards.
    #[test]
    fn keys_differing_in_high_bits_spread_over_every_shard() {
        let ids = (0..32_000).map(|i| {
            let account: AccountId = format!("{}{}", if i % 2 == 0 { 'a' } else { 'q' }, i % 200).parse().unwrap();
            (account, format!("r{}~reminder~1440~{}", i % 50, i / 2).parse().unwrap())
        });
        assert_even(DueShards::DEFAULT, ids);
    }

    #[test]
    fn a_raised_shard_count_spreads_over_every_shard() {
        let shards: DueShards = "64".parse().unwrap();
        let account: AccountId = "acct".parse().unwrap();
        assert_even(shards, (0..64_000).map(|i| (account.clone(), format!("m{i}").parse().unwrap())));
    }

    #[test]
    fn a_shard_count_is_at_least_the_default_and_bounded() {
        assert!("8".parse::<DueShards>().is_err());
        assert!("257".parse::<DueShards>().is_err());
        assert!("sixteen".parse::<DueShards>().is_err());
        assert_eq!("32".parse::<DueShards>().map(DueShards::count), Ok(32));
    }
}
