//! A client's contacts (`CONTACT#{contact}` beside the client): who is
//! copied on which of the client's messages.

use aws_sdk_dynamodb::types::ReturnValue;

use super::keys;
use super::{dynamo_error, from_item, key_item, s, to_item, with_key, Store, StoreError};
use crate::domain::copies::ContactLink;
use crate::domain::{AccountId, RecipientId};

/// The most contacts a client has.
pub const MAX_CONTACTS: i32 = 50;

impl Store {
    pub async fn put_contact_link(&self, account: &AccountId, link: &ContactLink) -> Result<(), StoreError> {
        let key = keys::contact_link(account, &link.client_id, &link.contact_id);
        self.put(with_key(to_item("contact", link)?, &key)).await
    }

    /// A client's contacts, in id order.
    pub async fn contact_links(
        &self,
        account: &AccountId,
        client: &RecipientId,
    ) -> Result<Vec<ContactLink>, StoreError> {
        let partition = keys::contact_link(account, client, client).pk;
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :contact)")
            .expression_attribute_values(":pk", s(partition))
            .expression_attribute_values(":contact", s(keys::CONTACT_PREFIX))
            .limit(MAX_CONTACTS)
            .send()
            .await
            .map_err(|e| dynamo_error("Query", e))?;
        output.items.unwrap_or_default().into_iter().map(|item| from_item("contact", item)).collect()
    }

    /// Removes a contact from a client; `false` when there was none.
    pub async fn delete_contact_link(
        &self,
        account: &AccountId,
        client: &RecipientId,
        contact: &RecipientId,
    ) -> Result<bool, StoreError> {
        let output = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_item(&keys::contact_link(account, client, contact))))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| dynamo_error("DeleteItem", e))?;
        Ok(output.attributes.is_some_and(|old| !old.is_empty()))
    }
}
