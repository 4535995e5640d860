//! The store's capabilities as ports, one trait each, so that a service
//! depends on what it uses and its rules can be tested without DynamoDB.
//! [`Store`] implements every port with its own method of the same name and
//! signature (documented there), so call sites read the same whichever
//! they hold.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use super::calls::CallDeadline;
use super::{
    AppointmentLinks, CapSlot, ClaimedMessage, ContextKeys, DueCursor, DueMessage, DuePage, ListingFrom, MessagePage,
    RenderContext, Rendered, Settlement, Store, StoreError,
};
use crate::domain::copies::ContactLink;
use crate::domain::form::Form;
use crate::domain::{
    AccountId, AccountSettings, Appointment, AppointmentId, Channel, Consent, CreditSettings, FormId, Invoice,
    InvoiceId, Message, MessageId, MessageKind, MessageNotice, MessageStatus, NoticeState, Notification, Recipient,
    RecipientId, StatusReason, TemplateSource,
};

/// Declares a port and implements it for [`Store`] by calling the inherent
/// method of the same name, so that each signature is written once here.
macro_rules! port {
    (
        $(#[$meta:meta])*
        pub trait $port:ident {
            $(async fn $method:ident(&self $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty;)*
        }
    ) => {
        $(#[$meta])*
        #[async_trait]
        pub trait $port: Send + Sync {
            $(async fn $method(&self $(, $arg: $ty)*) -> $ret;)*
        }

        #[async_trait]
        impl $port for Store {
            $(async fn $method(&self $(, $arg: $ty)*) -> $ret {
                Store::$method(self $(, $arg)*).await
            })*
        }
    };
}

port! {
    /// Who is copied on a client's messages.
    pub trait ContactLinks {
        async fn put_contact_link(&self, account: &AccountId, link: &ContactLink) -> Result<(), StoreError>;
        async fn contact_links(
            &self,
            account: &AccountId,
            client: &RecipientId,
        ) -> Result<Vec<ContactLink>, StoreError>;
        async fn delete_contact_link(
            &self,
            account: &AccountId,
            client: &RecipientId,
            contact: &RecipientId,
        ) -> Result<bool, StoreError>;
    }
}

port! {
    /// Reading a form's link (a form request renders it while it is live).
    pub trait FormRecords {
        async fn get_form(&self, account: &AccountId, id: &FormId) -> Result<Option<Form>, StoreError>;
    }
}

port! {
    /// Finding the messages that are due, shard by shard.
    pub trait DueWork {
        async fn due_shards(&self) -> super::keys::DueShards;
        async fn due_messages(
            &self,
            shard: u32,
            now: DateTime<Utc>,
            limit: i32,
            after: Option<&DueCursor>,
        ) -> Result<DuePage, StoreError>;
    }
}

port! {
    /// A claim and how it ends short of a send: held for quiet hours,
    /// settled, or recovered once its send never settled.
    pub trait Claims {
        async fn read_due(
            &self,
            due: &[(AccountId, MessageId)],
            now: DateTime<Utc>,
            lease: Duration,
        ) -> Result<Vec<DueMessage>, StoreError>;
        async fn write_claim(&self, claimed: &ClaimedMessage) -> Result<Option<ClaimedMessage>, StoreError>;
        async fn hold_claimed(
            &self,
            claimed: &ClaimedMessage,
            due: DateTime<Utc>,
            reason: StatusReason,
        ) -> Result<bool, StoreError>;
        async fn end_claimed(&self, claimed: &ClaimedMessage, settlement: &Settlement) -> Result<bool, StoreError>;
        async fn recover_stuck_send(
            &self,
            account: &AccountId,
            id: &MessageId,
            now: DateTime<Utc>,
        ) -> Result<Option<Message>, StoreError>;
    }
}

port! {
    /// What a claimed message is rendered from, and what rendering it
    /// records: its content, and for a notice what it told.
    pub trait Rendering {
        async fn render_contexts(&self, messages: &[ContextKeys]) -> Result<Vec<RenderContext>, StoreError>;
        async fn store_rendered(&self, rendered: &[Rendered], now: DateTime<Utc>) -> Result<Vec<bool>, StoreError>;
        async fn set_notified(
            &self,
            account: &AccountId,
            appointment: &AppointmentId,
            state: &NoticeState,
        ) -> Result<(), StoreError>;
    }
}

port! {
    /// A recipient's daily and weekly message limits.
    pub trait Caps {
        async fn take_cap_slot(
            &self,
            claimed: &ClaimedMessage,
            limits: [(String, Option<u32>); 2],
            expires: DateTime<Utc>,
        ) -> Result<CapSlot, StoreError>;
    }
}

port! {
    /// A recipient's consent on a channel.
    pub trait Consents {
        async fn consent(
            &self,
            account: &AccountId,
            recipient: &RecipientId,
            channel: Channel,
        ) -> Result<Option<Consent>, StoreError>;
        async fn change_consent(
            &self,
            account: &AccountId,
            recipient: &RecipientId,
            consent: &Consent,
        ) -> Result<bool, StoreError>;
        async fn mark_consent_requested(
            &self,
            account: &AccountId,
            recipient: &RecipientId,
            requested: &Consent,
        ) -> Result<bool, StoreError>;
    }
}

port! {
    /// Telling staff.
    pub trait Notifying {
        async fn add_notification(&self, account: &AccountId, notification: &Notification) -> Result<(), StoreError>;
        async fn notify_once(
            &self,
            account: &AccountId,
            message: &Message,
            notice: &MessageNotice,
            now: DateTime<Utc>,
        ) -> Result<bool, StoreError>;
    }
}

port! {
    /// Calls in progress that are ended at their deadline.
    pub trait CallDeadlines {
        async fn due_call_deadlines(&self, now: DateTime<Utc>, limit: i32) -> Result<Vec<CallDeadline>, StoreError>;
        async fn postpone_call_deadline(
            &self,
            deadline: &CallDeadline,
            retry_at: DateTime<Utc>,
        ) -> Result<(), StoreError>;
        async fn clear_call_deadline(
            &self,
            account: &AccountId,
            message_id: &MessageId,
            transaction_id: &str,
        ) -> Result<(), StoreError>;
    }
}

port! {
    /// An account's settings.
    pub trait SettingsRecords {
        async fn get_settings(&self, account: &AccountId) -> Result<Option<AccountSettings>, StoreError>;
        async fn put_settings(&self, account: &AccountId, settings: &AccountSettings) -> Result<(), StoreError>;
    }
}

port! {
    /// An account's own templates.
    pub trait TemplateRecords {
        async fn get_template(
            &self,
            account: &AccountId,
            kind: MessageKind,
            channel: Channel,
        ) -> Result<Option<TemplateSource>, StoreError>;
        async fn put_template(
            &self,
            account: &AccountId,
            kind: MessageKind,
            channel: Channel,
            template: &TemplateSource,
        ) -> Result<(), StoreError>;
    }
}

port! {
    /// Which account the operator assigned a sender to.
    pub trait SenderRegistry {
        async fn sender_owner(&self, channel: Channel, sender: &str) -> Result<Option<AccountId>, StoreError>;
    }
}

port! {
    /// The credit settings a balance carries.
    pub trait BalanceSettings {
        async fn set_credit_settings(&self, account: &AccountId, settings: &CreditSettings) -> Result<(), StoreError>;
    }
}

port! {
    /// The people messages go to.
    pub trait RecipientRecords {
        async fn get_recipient(&self, account: &AccountId, id: &RecipientId) -> Result<Option<Recipient>, StoreError>;
        async fn put_recipient(&self, account: &AccountId, recipient: &Recipient) -> Result<(), StoreError>;
    }
}

port! {
    /// Appointments and the messages they own.
    pub trait AppointmentRecords {
        async fn get_appointment(
            &self,
            account: &AccountId,
            id: &AppointmentId,
        ) -> Result<Option<(Appointment, AppointmentLinks)>, StoreError>;
        async fn put_appointment(
            &self,
            account: &AccountId,
            appointment: &Appointment,
            links: &AppointmentLinks,
            told_when_read: Option<&NoticeState>,
        ) -> Result<bool, StoreError>;
    }
}

port! {
    /// Invoices and the messages they own.
    pub trait InvoiceRecords {
        async fn get_invoice(
            &self,
            account: &AccountId,
            id: &InvoiceId,
        ) -> Result<Option<(Invoice, Vec<MessageId>)>, StoreError>;
        async fn put_invoice(
            &self,
            account: &AccountId,
            invoice: &Invoice,
            message_ids: Vec<MessageId>,
        ) -> Result<(), StoreError>;
    }
}

port! {
    /// Messages as their records plan them: created, withdrawn, postponed.
    pub trait MessagePlanning {
        async fn create_message(&self, account: &AccountId, message: &Message) -> Result<bool, StoreError>;
        async fn get_message(&self, account: &AccountId, id: &MessageId) -> Result<Option<Message>, StoreError>;
        async fn withdraw_message(
            &self,
            account: &AccountId,
            id: &MessageId,
            reason: StatusReason,
        ) -> Result<bool, StoreError>;
        async fn postpone_message(
            &self,
            account: &AccountId,
            id: &MessageId,
            due: DateTime<Utc>,
        ) -> Result<bool, StoreError>;
    }
}

port! {
    /// Pages of messages.
    pub trait MessageListings {
        async fn list_messages_page(
            &self,
            from: ListingFrom,
            status_filter: Option<MessageStatus>,
            limit: usize,
        ) -> Result<MessagePage, StoreError>;
    }
}

/// What the reminder sweep uses.
pub trait SweepStore:
    DueWork
    + Claims
    + Rendering
    + Caps
    + Consents
    + TemplateRecords
    + Notifying
    + CallDeadlines
    + FormRecords
    + ContactLinks
    + RecipientRecords
    + MessagePlanning
{
}

impl<T> SweepStore for T where
    T: DueWork
        + Claims
        + Rendering
        + Caps
        + Consents
        + TemplateRecords
        + Notifying
        + CallDeadlines
        + FormRecords
        + ContactLinks
        + RecipientRecords
        + MessagePlanning
        + ?Sized
{
}

/// What the records service uses.
pub trait RecordsStore:
    Consents
    + ContactLinks
    + SettingsRecords
    + TemplateRecords
    + SenderRegistry
    + BalanceSettings
    + RecipientRecords
    + AppointmentRecords
    + InvoiceRecords
    + MessagePlanning
    + MessageListings
{
}

impl<T> RecordsStore for T where
    T: Consents
        + ContactLinks
        + SettingsRecords
        + TemplateRecords
        + SenderRegistry
        + BalanceSettings
        + RecipientRecords
        + AppointmentRecords
        + InvoiceRecords
        + MessagePlanning
        + MessageListings
        + ?Sized
{
}
