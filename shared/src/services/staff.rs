//! The practice's users and their choice of notification emails.

use crate::domain::text::{self, InvalidText};
use crate::domain::{AccountId, PracticeUser, UserId};
use crate::store::{Store, StoreError, UserPage};

#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    #[error(transparent)]
    InvalidText(#[from] InvalidText),
    #[error("no user with this id exists in the account")]
    UnknownUser,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct StaffService {
    store: Store,
}

impl StaffService {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Creates or replaces a user.
    pub async fn put_user(&self, account: &AccountId, user: &PracticeUser) -> Result<(), StaffError> {
        text::check("display_name", &user.display_name)?;
        Ok(self.store.put_user(account, user).await?)
    }

    pub async fn users(&self, account: &AccountId, limit: i32, after: Option<&UserId>) -> Result<UserPage, StaffError> {
        Ok(self.store.users_page(account, limit, after).await?)
    }

    pub async fn delete_user(&self, account: &AccountId, id: &UserId) -> Result<(), StaffError> {
        match self.store.delete_user(account, id).await? {
            true => Ok(()),
            false => Err(StaffError::UnknownUser),
        }
    }
}
