//! The practice's users (`USER#{id}` in the account's partition), read a
//! page at a time in id order, with where their digests have got to and
//! the claims on the emails they are sent.

use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::keys::{self, ItemKey};
use super::{from_item, key_item, n, s, to_attribute, to_item, with_key, ConditionalUpdate, Store, StoreError};
use crate::domain::{AccountId, PracticeUser, UserId};

/// The most users of one account the digest function reads.
pub const MAX_ACCOUNT_USERS: usize = 1_000;

/// How long a claim on a staff email is kept: past any retry of the run
/// that made it.
const STAFF_EMAIL_CLAIM_DAYS: i64 = 30;

/// A user as stored: what the API shows, and where their digests have got
/// to (the end of the last window digested; their first starts when they
/// were put).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffMember {
    #[serde(flatten)]
    pub user: PracticeUser,
    pub digest_until: DateTime<Utc>,
}

/// One staff email, claimed before it is sent so that it is sent once
/// however often the function runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffEmailClaim<'a> {
    /// One notification, to one user, at once.
    AtOnce { user: &'a UserId, notification: &'a str },
    /// One user's digest of the window ending at `until`.
    Digest { user: &'a UserId, until: DateTime<Utc> },
}

impl StaffEmailClaim<'_> {
    fn key(&self, account: &AccountId) -> ItemKey {
        match self {
            StaffEmailClaim::AtOnce { user, notification } => keys::staff_mail(account, user, notification),
            StaffEmailClaim::Digest { user, until } => keys::digest(account, user, until.timestamp_millis()),
        }
    }
}

/// The most users one page holds.
pub const MAX_USERS_PAGE: i32 = 100;

/// A page of an account's users, and the last one's id to go on from.
#[derive(Debug, Clone, Default)]
pub struct UserPage {
    pub users: Vec<PracticeUser>,
    pub next: Option<UserId>,
}

impl Store {
    /// Writes a user, on condition that their record is still as read
    /// (`previous`: where its digests had got to; `None`, that there was
    /// none). A user who gets digests waits in the due index until
    /// `next_digest_at`. `false` when the record changed meanwhile.
    pub async fn put_staff_member(
        &self,
        account: &AccountId,
        member: &StaffMember,
        next_digest_at: Option<DateTime<Utc>>,
        previous: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError> {
        let mut item = with_key(to_item("user", member)?, &keys::user(account, &member.user.id));
        if let Some(at) = next_digest_at {
            item.insert(keys::DUE_SHARD.to_owned(), s(keys::DIGESTS_SHARD));
            item.insert(keys::DUE_MS.to_owned(), n(at.timestamp_millis()));
        }
        let mut request = self.client.put_item().table_name(&self.table).set_item(Some(item));
        request = match previous {
            None => request.condition_expression("attribute_not_exists(PK)"),
            Some(until) => request
                .condition_expression("digest_until = :previous")
                .expression_attribute_values(":previous", to_attribute("user", &until)?),
        };
        Ok(super::conditional("PutItem", request.send().await)?.is_some())
    }

    pub async fn get_staff_member(&self, account: &AccountId, id: &UserId) -> Result<Option<StaffMember>, StoreError> {
        Ok(self.get("user", &keys::user(account, id)).await?.map(|(member, _)| member))
    }

    /// Every user of an account (up to [`MAX_ACCOUNT_USERS`]), in id order.
    pub async fn all_users(&self, account: &AccountId) -> Result<Vec<PracticeUser>, StoreError> {
        let mut users = Vec::new();
        let mut after = None;
        loop {
            let page = self.users_page(account, MAX_USERS_PAGE, after.as_ref()).await?;
            users.extend(page.users);
            match page.next {
                Some(next) if users.len() < MAX_ACCOUNT_USERS => after = Some(next),
                _ => return Ok(users),
            }
        }
    }

    /// Up to `limit` users whose digest window has ended by `now`, with
    /// their accounts.
    pub async fn due_digests(
        &self,
        now: DateTime<Utc>,
        limit: i32,
    ) -> Result<Vec<(AccountId, StaffMember)>, StoreError> {
        let due = self.due_in_partition::<StaffMember>(keys::DIGESTS_SHARD, "user", now, limit).await?;
        Ok(due.into_iter().filter_map(|(key, member)| Some((keys::user_of(&key)?.0, member))).collect())
    }

    /// Moves a user's digests on from `from` to `until`, next due at
    /// `next_at`; `false` (and nothing changed) when someone moved them
    /// or rewrote the user meanwhile.
    pub async fn advance_digest(
        &self,
        account: &AccountId,
        user: &UserId,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        next_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let update = ConditionalUpdate::on(keys::user(account, user))
            .set("digest_until = :until")
            .set("due_ms = :next")
            .condition("digest_until = :from")
            .value(":until", to_attribute("user", &until)?)
            .value(":from", to_attribute("user", &from)?)
            .value(":next", n(next_at.timestamp_millis()));
        Ok(update.apply(self, ReturnValue::None).await?.is_some())
    }

    /// Looks at a user's digest again at `retry_at`.
    pub async fn postpone_digest(
        &self,
        account: &AccountId,
        user: &UserId,
        retry_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.postpone_in_partition(&keys::user(account, user), retry_at).await
    }

    /// Notes that mail to a user's `address` bounced for good, if that is
    /// still their address; whether this call noted it.
    pub async fn mark_user_bounced(
        &self,
        account: &AccountId,
        user: &UserId,
        address: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let update = ConditionalUpdate::on(keys::user(account, user))
            .set("email_bounced_at = :at")
            .condition("email = :address")
            .condition("attribute_not_exists(email_bounced_at)")
            .value(":at", to_attribute("user", &at)?)
            .value(":address", s(address));
        Ok(update.apply(self, ReturnValue::None).await?.is_some())
    }

    /// Claims a staff email; `false` when it was claimed before (sent, or
    /// its outcome unknown).
    pub async fn claim_staff_email(
        &self,
        account: &AccountId,
        claim: StaffEmailClaim<'_>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut item = key_item(&claim.key(account));
        item.insert(keys::EXPIRES_AT.to_owned(), n((now + Duration::days(STAFF_EMAIL_CLAIM_DAYS)).timestamp()));
        self.put_new(item).await
    }

    /// Gives a claim back: its email did not go, and may be tried again.
    pub async fn release_staff_email(&self, account: &AccountId, claim: StaffEmailClaim<'_>) -> Result<(), StoreError> {
        self.delete_in_partition(&claim.key(account)).await
    }

    /// Removes a user; `false` when there was none.
    pub async fn delete_user(&self, account: &AccountId, id: &UserId) -> Result<bool, StoreError> {
        let output = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_item(&keys::user(account, id))))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| super::dynamo_error("DeleteItem", e))?;
        Ok(output.attributes.is_some_and(|old| !old.is_empty()))
    }

    /// Up to `limit` users after `after` (by id).
    pub async fn users_page(
        &self,
        account: &AccountId,
        limit: i32,
        after: Option<&UserId>,
    ) -> Result<UserPage, StoreError> {
        let start = after.map(|id| key_item(&keys::user(account, id)));
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :user)")
            .expression_attribute_values(":pk", s(keys::settings(account).pk))
            .expression_attribute_values(":user", s(keys::USER_PREFIX))
            .set_exclusive_start_key(start)
            .limit(limit.clamp(1, MAX_USERS_PAGE))
            .send()
            .await
            .map_err(|e| super::dynamo_error("Query", e))?;
        let users = output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| from_item("user", item))
            .collect::<Result<Vec<PracticeUser>, _>>()?;
        let more = output.last_evaluated_key.is_some();
        let next = users.last().filter(|_| more).map(|user| user.id.clone());
        Ok(UserPage { users, next })
    }
}
