//! An account's settings and its own templates.

use super::{keys, to_item, with_key, Store, StoreError};
use crate::domain::{AccountId, AccountSettings, Channel, MessageKind, TemplateSource};

impl Store {
    pub async fn put_settings(&self, account: &AccountId, settings: &AccountSettings) -> Result<(), StoreError> {
        let item = to_item("settings", settings)?;
        self.put(with_key(item, &keys::settings(account))).await
    }

    pub async fn get_settings(&self, account: &AccountId) -> Result<Option<AccountSettings>, StoreError> {
        Ok(self.get("settings", &keys::settings(account)).await?.map(|(v, _)| v))
    }

    pub async fn put_template(
        &self,
        account: &AccountId,
        kind: MessageKind,
        channel: Channel,
        template: &TemplateSource,
    ) -> Result<(), StoreError> {
        let item = to_item("template", template)?;
        self.put(with_key(item, &keys::template(account, kind, channel))).await
    }

    pub async fn get_template(
        &self,
        account: &AccountId,
        kind: MessageKind,
        channel: Channel,
    ) -> Result<Option<TemplateSource>, StoreError> {
        Ok(self.get("template", &keys::template(account, kind, channel)).await?.map(|(v, _)| v))
    }
}
