//! The practice's users and their choice of notification emails.

use std::sync::Arc;

use crate::domain::digest::{DigestWindow, SETTLE};
use crate::domain::text::{self, InvalidText};
use crate::domain::{AccountId, Clock, PracticeUser, UserId};
use crate::store::{StaffMember, Store, StoreError, UserPage};

/// Writes that lose a race with the digest function are tried again this
/// often before the caller is told to.
const PUT_ATTEMPTS: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    #[error(transparent)]
    InvalidText(#[from] InvalidText),
    #[error("no user with this id exists in the account")]
    UnknownUser,
    #[error("the user changed while being written; try again")]
    Conflict,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct StaffService {
    store: Store,
    clock: Arc<dyn Clock>,
}

impl StaffService {
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// Creates or replaces a user, as written. Their digests go on from
    /// where the last ended while they keep getting digests; otherwise the
    /// first covers what comes from now (so nothing sent at once comes
    /// again). A bounced address stays marked until the email changes.
    pub async fn put_user(&self, account: &AccountId, user: &PracticeUser) -> Result<PracticeUser, StaffError> {
        text::check("display_name", &user.display_name)?;
        let settings = self.store.get_settings(account).await?;
        for _ in 0..PUT_ATTEMPTS {
            let previous = self.store.get_staff_member(account, &user.id).await?;
            let now = self.clock.now();
            let mut member = StaffMember { user: user.clone(), digest_until: now };
            if let Some(previous) = &previous {
                if previous.user.digests() && user.digests() {
                    member.digest_until = previous.digest_until;
                }
                if previous.user.email == user.email {
                    member.user.email_bounced_at = previous.user.email_bounced_at;
                }
            }
            let zone = user.zone(settings.as_ref());
            let next_digest_at =
                DigestWindow::next_end(&user.notifications, zone, member.digest_until).map(|end| end + SETTLE);
            let read = previous.map(|p| p.digest_until);
            if self.store.put_staff_member(account, &member, next_digest_at, read).await? {
                return Ok(member.user);
            }
        }
        Err(StaffError::Conflict)
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
