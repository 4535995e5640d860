//! The practice's users (`USER#{id}` in the account's partition), read a
//! page at a time in id order.

use super::keys;
use super::{from_item, key_item, s, to_item, with_key, Store, StoreError};
use crate::domain::{AccountId, PracticeUser, UserId};

/// The most users one page holds.
pub const MAX_USERS_PAGE: i32 = 100;

/// A page of an account's users, and the last one's id to go on from.
#[derive(Debug, Clone, Default)]
pub struct UserPage {
    pub users: Vec<PracticeUser>,
    pub next: Option<UserId>,
}

impl Store {
    pub async fn put_user(&self, account: &AccountId, user: &PracticeUser) -> Result<(), StoreError> {
        self.put(with_key(to_item("user", user)?, &keys::user(account, &user.id))).await
    }

    pub async fn get_user(&self, account: &AccountId, id: &UserId) -> Result<Option<PracticeUser>, StoreError> {
        Ok(self.get("user", &keys::user(account, id)).await?.map(|(user, _)| user))
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
