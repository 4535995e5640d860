//! The practice's records that messages are about: recipients,
//! appointments and invoices, each with the messages it owns.

use serde::{Deserialize, Serialize};

use super::{conditional, from_item, keys, to_attribute, to_item, with_key, Store, StoreError};
use crate::domain::{
    AccountId, Appointment, AppointmentId, Invoice, InvoiceId, MessageId, NoticeState, Recipient, RecipientId,
};

/// The messages an invoice record owns.
#[derive(Debug, Default, Serialize, Deserialize)]
struct InvoiceLinks {
    #[serde(default)]
    message_ids: Vec<MessageId>,
}

/// What an appointment record keeps besides the appointment: the messages
/// it owns, so that an upsert knows what to withdraw or postpone without a
/// query, and what its last notice told.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppointmentLinks {
    #[serde(default)]
    pub reminder_ids: Vec<MessageId>,
    #[serde(default)]
    pub pending_notice: Option<MessageId>,
    /// Written only by the sweep ([`Store::set_notified`]) and carried over
    /// by upserts, which check it is unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notified: Option<NoticeState>,
}

impl Store {
    pub async fn put_recipient(&self, account: &AccountId, recipient: &Recipient) -> Result<(), StoreError> {
        let item = to_item("recipient", recipient)?;
        self.put(with_key(item, &keys::recipient(account, &recipient.id))).await
    }

    pub async fn get_recipient(&self, account: &AccountId, id: &RecipientId) -> Result<Option<Recipient>, StoreError> {
        Ok(self.get("recipient", &keys::recipient(account, id)).await?.map(|(v, _)| v))
    }

    /// The appointment and what its record links to.
    pub async fn get_appointment(
        &self,
        account: &AccountId,
        id: &AppointmentId,
    ) -> Result<Option<(Appointment, AppointmentLinks)>, StoreError> {
        match self.get::<Appointment>("appointment", &keys::appointment(account, id)).await? {
            Some((appointment, item)) => Ok(Some((appointment, from_item("appointment", item)?))),
            None => Ok(None),
        }
    }

    /// Writes the appointment unless its `notified` is no longer
    /// `told_when_read` (a notice went out meanwhile). Returns whether it wrote.
    pub async fn put_appointment(
        &self,
        account: &AccountId,
        appointment: &Appointment,
        links: &AppointmentLinks,
        told_when_read: Option<&NoticeState>,
    ) -> Result<bool, StoreError> {
        let mut item = to_item("appointment", appointment)?;
        item.extend(to_item("appointment", links)?);
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(with_key(item, &keys::appointment(account, &appointment.id))));
        request = match told_when_read {
            Some(told) => request
                .condition_expression("notified = :told")
                .expression_attribute_values(":told", to_attribute("appointment", told)?),
            None => request.condition_expression("attribute_not_exists(notified)"),
        };
        Ok(conditional("PutItem", request.send().await)?.is_some())
    }

    /// Records what a notice about the appointment told.
    pub async fn set_notified(
        &self,
        account: &AccountId,
        appointment: &AppointmentId,
        state: &NoticeState,
    ) -> Result<(), StoreError> {
        let state = to_attribute("appointment", state)?;
        self.set_on_existing(&keys::appointment(account, appointment), "notified", state).await
    }

    /// The invoice and the ids of the messages it owns.
    pub async fn get_invoice(
        &self,
        account: &AccountId,
        id: &InvoiceId,
    ) -> Result<Option<(Invoice, Vec<MessageId>)>, StoreError> {
        match self.get::<Invoice>("invoice", &keys::invoice(account, id)).await? {
            Some((invoice, item)) => {
                let links: InvoiceLinks = from_item("invoice", item)?;
                Ok(Some((invoice, links.message_ids)))
            }
            None => Ok(None),
        }
    }

    pub async fn put_invoice(
        &self,
        account: &AccountId,
        invoice: &Invoice,
        message_ids: Vec<MessageId>,
    ) -> Result<(), StoreError> {
        let mut item = to_item("invoice", invoice)?;
        item.extend(to_item("invoice", &InvoiceLinks { message_ids })?);
        self.put(with_key(item, &keys::invoice(account, &invoice.id))).await
    }
}
