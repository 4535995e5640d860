//! Online forms and paperwork (`/v1/forms` and the public `/f/{token}`
//! page): a link and an access code go out in a `form_request` message;
//! the page asks for the code and, when it is right, sends the recipient
//! on to the practice's form with a short-lived signed access token.

use std::sync::Arc;

use crate::domain::form::{
    AccessTokenError, Form, FormAccessClaims, FormAsked, FormStatus, FormTokens, InvalidForm, MAX_WRONG_CODES,
};
use crate::domain::{AccountId, Channel, Clock, FormId, Message, MessageKind, Notification, NotificationKind};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum FormError {
    #[error(transparent)]
    Invalid(#[from] InvalidForm),
    #[error("no recipient with this id exists in the account")]
    UnknownRecipient,
    #[error("the recipient has no address on {0}")]
    MissingAddress(&'static str),
    #[error("no form with this id exists in the account")]
    UnknownForm,
    #[error("the form's link has already ended ({})", .0.as_str())]
    Ended(FormStatus),
    #[error("the API's public address is not known, so no link can be made")]
    NoOrigin,
    #[error(transparent)]
    AccessToken(#[from] AccessTokenError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the public page shows for a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormPage {
    /// Asks for the code.
    AskCode { practice_name: String, title: String, tries_left: u32 },
    /// The code was wrong; it asks again.
    WrongCode { practice_name: String, title: String, tries_left: u32 },
    /// The code was right: on to the form.
    Continue { url: String },
    /// The link no longer opens anything.
    Ended { practice_name: String, status: FormStatus },
    /// No such link.
    Unknown,
}

pub struct FormService {
    store: Store,
    clock: Arc<dyn Clock>,
    tokens: FormTokens,
}

impl FormService {
    pub fn new(store: Store, clock: Arc<dyn Clock>, tokens: FormTokens) -> Self {
        Self { store, clock, tokens }
    }

    /// A form's link and code, sent now in a `form_request` message on the
    /// recipient's channel (or `asked.channel`). `request_origin` is the
    /// API's address as the request reached it, used when the deployment
    /// names none.
    pub async fn create(
        &self,
        account: &AccountId,
        asked: &FormAsked,
        request_origin: Option<&str>,
    ) -> Result<Form, FormError> {
        let recipient =
            self.store.get_recipient(account, &asked.recipient_id).await?.ok_or(FormError::UnknownRecipient)?;
        let channel = asked.channel.unwrap_or(recipient.channel);
        if channel == Channel::Voice {
            return Err(InvalidForm::Voice.into());
        }
        if recipient.address_on(channel).is_none() {
            return Err(FormError::MissingAddress(channel.as_str()));
        }
        let origin = self.tokens.origin().or(request_origin).ok_or(FormError::NoOrigin)?;
        let now = self.clock.now();
        let form = Form::new(asked, channel, origin, now);
        let mut message =
            Message::new(form.message_id.clone(), MessageKind::FormRequest, channel, recipient.id, now, now);
        message.form_id = Some(form.id.clone());
        message.not_after = Some(form.expires_at);
        self.store.create_form(account, &form, &message).await?;
        tracing::info!(channel = channel.as_str(), "form link made");
        Ok(form)
    }

    pub async fn get(&self, account: &AccountId, id: &FormId) -> Result<Form, FormError> {
        self.store.get_form(account, id).await?.ok_or(FormError::UnknownForm)
    }

    /// Ends the link as submitted (staff hear `form_submitted`) or revoked;
    /// the same again is the form as it is.
    pub async fn end(&self, account: &AccountId, id: &FormId, status: FormStatus) -> Result<Form, FormError> {
        let now = self.clock.now();
        let current = self.get(account, id).await?;
        if current.status == status {
            // Told again, once: a first call may have died before it told.
            self.tell(account, &current).await?;
            return Ok(current);
        }
        if !current.status(now).is_live() {
            return Err(FormError::Ended(current.status(now)));
        }
        let Some(ended) = self.store.end_form(account, id, status, now).await? else {
            // It ended meanwhile: say how.
            let now_is = self.get(account, id).await?;
            return if now_is.status == status { Ok(now_is) } else { Err(FormError::Ended(now_is.status)) };
        };
        self.tell(account, &ended).await?;
        Ok(ended)
    }

    /// Tells staff a form was submitted or locked: named by the form and
    /// timed by its end, so telling again adds nothing.
    async fn tell(&self, account: &AccountId, form: &Form) -> Result<(), StoreError> {
        let (kind, at) = match form.status {
            FormStatus::Submitted => (NotificationKind::FormSubmitted, form.submitted_at),
            FormStatus::Locked => (NotificationKind::FormLocked, form.locked_at),
            _ => return Ok(()),
        };
        let Some(at) = at else { return Ok(()) };
        let notification = Notification {
            id: format!("{}~{}", kind.as_str(), form.id),
            ..Notification::new(kind, at)
                .about(&form.recipient_id, &form.message_id, form.channel)
                .detail(form.id.as_str())
        };
        self.store.add_notification_once(account, &notification).await?;
        Ok(())
    }

    /// Whether `token` is a live access token to this form.
    pub async fn verify(&self, account: &AccountId, id: &FormId, token: &str) -> Result<FormAccessClaims, FormError> {
        let claims = self.tokens.verify(token, self.clock.now())?;
        if &claims.account != account || &claims.form != id {
            return Err(AccessTokenError::Invalid.into());
        }
        Ok(claims)
    }

    /// The page a link opens (changes nothing: mail scanners open links).
    pub async fn page(&self, token: &str) -> Result<FormPage, FormError> {
        let Some((account, form)) = self.store.form_by_link(token).await? else { return Ok(FormPage::Unknown) };
        let practice_name = self.practice_name(&account).await?;
        let status = form.status(self.clock.now());
        if !status.is_live() {
            return Ok(FormPage::Ended { practice_name, status });
        }
        let tries_left = MAX_WRONG_CODES.saturating_sub(form.wrong_codes);
        Ok(FormPage::AskCode { practice_name, title: form.title, tries_left })
    }

    /// A code entered on the page: on to the form if right; counted if
    /// wrong, and the link locked at the fifth (staff told).
    pub async fn enter_code(&self, token: &str, code: &str) -> Result<FormPage, FormError> {
        let Some((account, form)) = self.store.form_by_link(token).await? else { return Ok(FormPage::Unknown) };
        let practice_name = self.practice_name(&account).await?;
        let now = self.clock.now();
        let status = form.status(now);
        if !status.is_live() {
            return Ok(FormPage::Ended { practice_name, status });
        }
        if form.code_matches(code) {
            self.store.form_opened(&account, &form.id, now).await?;
            let token = self.tokens.access_token(&account, &form, now).ok_or(FormError::NoOrigin)?;
            tracing::info!("form opened");
            return Ok(FormPage::Continue { url: form.continue_url(&token) });
        }
        let Some(wrong) = self.store.form_wrong_code(&account, &form.id).await? else {
            let status = self.get(&account, &form.id).await?.status(now);
            return Ok(FormPage::Ended { practice_name, status });
        };
        tracing::info!(wrong, "wrong access code");
        if wrong < MAX_WRONG_CODES {
            return Ok(FormPage::WrongCode { practice_name, title: form.title, tries_left: MAX_WRONG_CODES - wrong });
        }
        if let Some(locked) = self.store.end_form(&account, &form.id, FormStatus::Locked, now).await? {
            self.tell(&account, &locked).await?;
        }
        Ok(FormPage::Ended { practice_name, status: FormStatus::Locked })
    }

    async fn practice_name(&self, account: &AccountId) -> Result<String, StoreError> {
        Ok(self.store.get_settings(account).await?.map(|s| s.practice_name).unwrap_or_default())
    }
}
