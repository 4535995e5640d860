//! Staff emails (notifications and digests): sent from the deployment's own
//! sender, not the practice's, and paid by no one's credit. Tagged with the
//! account and user so that a bounce marks the user. The SES sender is
//! [`super::ses::SesStaffMailer`].

use async_trait::async_trait;

use super::{ProviderMessageId, SendError};
use crate::domain::digest::StaffEmail;
use crate::domain::{AccountId, EmailAddress, UserId};

/// One staff email and whom it is for.
#[derive(Debug, Clone, Copy)]
pub struct StaffMail<'a> {
    pub account_id: &'a AccountId,
    pub user_id: &'a UserId,
    pub to: &'a EmailAddress,
    pub email: &'a StaffEmail,
}

/// Sends staff emails; sent once (no retry of its own: a retry could send
/// twice).
#[async_trait]
pub trait StaffMailer: Send + Sync {
    async fn send(&self, mail: StaffMail<'_>) -> Result<ProviderMessageId, SendError>;
}
