//! Forms' links (`ACCOUNT#{a}#FORM#{id}`), found by id or by their link's
//! token (`lookup` `FORMLINK#{token}`), each move a conditional write so
//! that a link that ended stays ended.

use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem};
use chrono::{DateTime, Utc};

use super::keys::{self, ItemKey};
use super::{from_item, n, s, to_attribute, to_item, with_key, ConditionalUpdate, Item, Store, StoreError, Transacted};
use crate::domain::form::{Form, FormStatus};
use crate::domain::{AccountId, FormId, Message};

fn form_status(status: FormStatus) -> AttributeValue {
    s(status.as_str())
}

/// Only a live link moves.
fn live(update: ConditionalUpdate) -> ConditionalUpdate {
    update
        .condition("#status IN (:sent, :opened)")
        .name("#status", "status")
        .value(":sent", form_status(FormStatus::Sent))
        .value(":opened", form_status(FormStatus::Opened))
}

impl Store {
    /// Writes a form and the message that carries its link, together.
    pub async fn create_form(&self, account: &AccountId, form: &Form, message: &Message) -> Result<(), StoreError> {
        let mut item = with_key(to_item("form", form)?, &keys::form(account, &form.id));
        item.insert(keys::LOOKUP_KEY.to_owned(), s(keys::form_link_ref(&form.link_token)));
        item.insert(keys::LOOKUP_MS.to_owned(), n(form.sent_at.timestamp_millis()));
        let put = |item: Item, record: &'static str| {
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(PK)")
                .build()
                .map(|put| TransactWriteItem::builder().put(put).build())
                .map_err(|_| StoreError::Corrupt(record))
        };
        let request = self
            .client
            .transact_write_items()
            .transact_items(put(item, "form")?)
            .transact_items(put(self.message_item(account, message)?, "message")?);
        match self.transact(request).await? {
            Transacted::Applied => Ok(()),
            // Ids are random: a clash is not a repeat to ignore.
            Transacted::ConditionFailed(_) => Err(StoreError::Corrupt("form id taken")),
        }
    }

    pub async fn get_form(&self, account: &AccountId, id: &FormId) -> Result<Option<Form>, StoreError> {
        Ok(self.get("form", &keys::form(account, id)).await?.map(|(form, _)| form))
    }

    /// The form a link's token opens, and its account.
    pub async fn form_by_link(&self, token: &str) -> Result<Option<(AccountId, Form)>, StoreError> {
        let Some(found) = self.looked_up(&keys::form_link_ref(token)).await? else { return Ok(None) };
        let (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) = (found.get(keys::PK), found.get(keys::SK))
        else {
            return Err(StoreError::Corrupt("form"));
        };
        let account = keys::account_of_form(pk).ok_or(StoreError::Corrupt("form"))?;
        let key = ItemKey { pk: pk.clone(), sk: sk.clone() };
        Ok(self.get::<Form>("form", &key).await?.map(|(form, _)| (account, form)))
    }

    /// The right code was entered: a link sent becomes opened (once).
    pub async fn form_opened(&self, account: &AccountId, id: &FormId, now: DateTime<Utc>) -> Result<(), StoreError> {
        let update = ConditionalUpdate::on(keys::form(account, id))
            .set("#status = :opened, opened_at = :now")
            .condition("#status = :sent")
            .name("#status", "status")
            .value(":sent", form_status(FormStatus::Sent))
            .value(":opened", form_status(FormStatus::Opened))
            .value(":now", to_attribute("form", &now)?);
        update.apply(self, ReturnValue::None).await?;
        Ok(())
    }

    /// Counts a wrong code against a live link: how many there have been
    /// (`None`: the link is not live).
    pub async fn form_wrong_code(&self, account: &AccountId, id: &FormId) -> Result<Option<u32>, StoreError> {
        let update = live(ConditionalUpdate::on(keys::form(account, id)).add("wrong_codes :one")).value(":one", n(1));
        let Some(item) = update.apply(self, ReturnValue::UpdatedNew).await? else { return Ok(None) };
        match item.get("wrong_codes") {
            Some(AttributeValue::N(count)) => Ok(count.parse().ok()),
            _ => Err(StoreError::Corrupt("form")),
        }
    }

    /// Ends a live link as `status` (`submitted`, `locked` or `revoked`),
    /// stamped `{status}_at`; the form as it now is, or `None` when it had
    /// already ended.
    pub async fn end_form(
        &self,
        account: &AccountId,
        id: &FormId,
        status: FormStatus,
        now: DateTime<Utc>,
    ) -> Result<Option<Form>, StoreError> {
        let update = live(ConditionalUpdate::on(keys::form(account, id)))
            .set(format!("#status = :ended, {}_at = :now", status.as_str()))
            .value(":ended", form_status(status))
            .value(":now", to_attribute("form", &now)?);
        match update.apply(self, ReturnValue::AllNew).await? {
            Some(item) => Ok(Some(from_item("form", item)?)),
            None => Ok(None),
        }
    }
}
