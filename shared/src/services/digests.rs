//! Telling staff (the `notification-digest` function, run every minute):
//! each new notification is put on the bus and emailed at once to the
//! users who hear of it at once; each user with hourly or daily digests
//! gets one email per window with the rest. Every staff email is claimed
//! before it is sent, so a run repeated or retried sends nothing twice, and
//! none carries PHI (`domain::digest::StaffEmail`).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use tracing::Instrument;

use crate::channels::staff_mail::{StaffMail, StaffMailer};
use crate::channels::SendError;
use crate::domain::digest::{AppLinks, DigestWindow, StaffEmail, SETTLE};
use crate::domain::{AccountId, AccountSettings, Clock, Notification, PracticeUser};
use crate::events::{BusEvent, EventPublisher, NotificationRaised, PublishError};
use crate::store::{StaffEmailClaim, StaffMember, Store, StoreError};

/// Notifications and digests read per page of the due index.
const PAGE: i32 = 100;
/// At most this many of each per run: the next run goes on.
const NOTICES_PER_RUN: usize = 1_000;
const DIGESTS_PER_RUN: usize = 500;
/// The most notifications one digest lists.
pub const MAX_DIGEST_ITEMS: usize = 500;
/// When an email could not go yet (the provider throttled), it is tried
/// again this much later.
const RETRY_AFTER: Duration = Duration::minutes(1);

#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Publish(#[from] PublishError),
}

impl DigestError {
    /// Whether running again may help: the store or the bus failing is
    /// passing (every step is idempotent); a corrupt record is not.
    pub fn is_retryable(&self) -> bool {
        match self {
            DigestError::Store(err) => err.is_retryable(),
            DigestError::Publish(_) => true,
        }
    }
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DigestReport {
    /// Notifications put on the bus.
    pub raised: usize,
    /// Emails about one notification, sent at once.
    pub emailed_at_once: usize,
    /// Digests sent.
    pub digests: usize,
    /// Emails the provider refused, or whose outcome is unknown: not sent
    /// again.
    pub not_sent: usize,
    /// Emails that could not go yet and are tried again next run.
    pub retrying: usize,
}

/// How one claimed email went.
enum Mailed {
    Now,
    /// Claimed before: sent, or its outcome unknown.
    Before,
    Refused,
    /// Could not go yet; the claim is given back.
    Later,
}

/// What an account's staff emails need: its users, practice name, zone and
/// links, read once per run.
struct AccountStaff {
    users: Vec<PracticeUser>,
    settings: Option<AccountSettings>,
}

impl AccountStaff {
    fn practice(&self) -> &str {
        self.settings.as_ref().map_or("Tidings", |s| s.practice_name.as_str())
    }

    fn links(&self) -> AppLinks {
        self.settings.as_ref().map(|s| s.app_links.clone()).unwrap_or_default()
    }
}

pub struct StaffDigests {
    store: Store,
    mailer: Arc<dyn StaffMailer>,
    bus: Arc<dyn EventPublisher>,
    clock: Arc<dyn Clock>,
}

impl StaffDigests {
    pub fn new(
        store: Store,
        mailer: Arc<dyn StaffMailer>,
        bus: Arc<dyn EventPublisher>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { store, mailer, bus, clock }
    }

    /// One run: new notifications raised and sent at once, then the
    /// digests whose windows have ended.
    pub async fn run(&self) -> Result<DigestReport, DigestError> {
        let mut report = DigestReport::default();
        let mut staff = HashMap::new();
        self.raise_notices(&mut staff, &mut report).await?;
        self.send_digests(&mut staff, &mut report).await?;
        Ok(report)
    }

    async fn staff<'a>(
        &self,
        cache: &'a mut HashMap<AccountId, AccountStaff>,
        account: &AccountId,
    ) -> Result<&'a AccountStaff, StoreError> {
        if !cache.contains_key(account) {
            let users = self.store.all_users(account).await?;
            let settings = self.store.get_settings(account).await?;
            cache.insert(account.clone(), AccountStaff { users, settings });
        }
        cache.get(account).ok_or(StoreError::Corrupt("staff"))
    }

    async fn raise_notices(
        &self,
        cache: &mut HashMap<AccountId, AccountStaff>,
        report: &mut DigestReport,
    ) -> Result<(), DigestError> {
        let mut handled = 0;
        while handled < NOTICES_PER_RUN {
            let now = self.clock.now();
            let due = self.store.due_notices(now, PAGE).await?;
            if due.is_empty() {
                break;
            }
            handled += due.len();
            for (account, notification) in due {
                let staff = self.staff(cache, &account).await?;
                let span = tracing::info_span!("notice", account_id = %account, kind = notification.kind.as_str());
                self.raise(&account, staff, &notification, now, report).instrument(span).await?;
            }
        }
        Ok(())
    }

    /// One notification: on the bus, then emailed to each user who hears
    /// of it at once; raised again later if an email could not go yet.
    async fn raise(
        &self,
        account: &AccountId,
        staff: &AccountStaff,
        notification: &Notification,
        now: DateTime<Utc>,
        report: &mut DigestReport,
    ) -> Result<(), DigestError> {
        let event = NotificationRaised { account_id: account.clone(), notification: notification.clone() };
        self.bus.publish(vec![BusEvent::from(&event)]).await?;
        report.raised += 1;
        let mut retry = false;
        let hearing = staff
            .users
            .iter()
            .filter(|user| user.notifications.at_once(notification.kind) && user.email_bounced_at.is_none());
        for user in hearing {
            let claim = StaffEmailClaim::AtOnce { user: &user.id, notification: &notification.id };
            match self.send_once(account, staff, user, claim, std::slice::from_ref(notification)).await? {
                Mailed::Now => report.emailed_at_once += 1,
                Mailed::Before => {}
                Mailed::Refused => report.not_sent += 1,
                Mailed::Later => {
                    report.retrying += 1;
                    retry = true;
                }
            }
        }
        if retry {
            self.store.postpone_notice(account, notification, now + RETRY_AFTER).await?;
        } else {
            self.store.notice_raised(account, notification).await?;
        }
        Ok(())
    }

    async fn send_digests(
        &self,
        cache: &mut HashMap<AccountId, AccountStaff>,
        report: &mut DigestReport,
    ) -> Result<(), DigestError> {
        let mut handled = 0;
        while handled < DIGESTS_PER_RUN {
            let now = self.clock.now();
            let due = self.store.due_digests(now, PAGE).await?;
            if due.is_empty() {
                break;
            }
            handled += due.len();
            for (account, member) in due {
                let staff = self.staff(cache, &account).await?;
                let span = tracing::info_span!("digest", account_id = %account, user_id = %member.user.id);
                self.digest(&account, staff, &member, now, report).instrument(span).await?;
            }
        }
        Ok(())
    }

    /// One user's digest of everything since their last, if a window has
    /// ended: sent when there is something in it, and the window closed
    /// either way.
    async fn digest(
        &self,
        account: &AccountId,
        staff: &AccountStaff,
        member: &StaffMember,
        now: DateTime<Utc>,
        report: &mut DigestReport,
    ) -> Result<(), DigestError> {
        let user = &member.user;
        let zone = user.zone(staff.settings.as_ref());
        let Some(window) = DigestWindow::due(&user.notifications, zone, member.digest_until, now) else {
            // Not due after all (the practice's zone moved): look again
            // when it is; a user with no digests leaves the index.
            let next = DigestWindow::next_end(&user.notifications, zone, member.digest_until);
            self.store
                .postpone_digest(account, &user.id, next.map_or(now + Duration::days(1), |end| end + SETTLE))
                .await?;
            return Ok(());
        };
        let items: Vec<Notification> = self
            .store
            .notifications_between(account, window.from, window.until, MAX_DIGEST_ITEMS)
            .await?
            .into_iter()
            .filter(|n| user.notifications.hears(n.kind) && !user.notifications.at_once(n.kind))
            .collect();
        if !items.is_empty() && user.email_bounced_at.is_none() {
            let claim = StaffEmailClaim::Digest { user: &user.id, until: window.until };
            match self.send_once(account, staff, user, claim, &items).await? {
                Mailed::Now => report.digests += 1,
                Mailed::Before => {}
                Mailed::Refused => report.not_sent += 1,
                Mailed::Later => {
                    report.retrying += 1;
                    self.store.postpone_digest(account, &user.id, now + RETRY_AFTER).await?;
                    return Ok(());
                }
            }
        }
        let next = DigestWindow::next_end(&user.notifications, zone, window.until).map_or(now, |end| end + SETTLE);
        self.store.advance_digest(account, &user.id, window.from, window.until, next).await?;
        Ok(())
    }

    /// Claims the email, then sends it: sent once, whatever happens after.
    async fn send_once(
        &self,
        account: &AccountId,
        staff: &AccountStaff,
        user: &PracticeUser,
        claim: StaffEmailClaim<'_>,
        items: &[Notification],
    ) -> Result<Mailed, DigestError> {
        if !self.store.claim_staff_email(account, claim, self.clock.now()).await? {
            return Ok(Mailed::Before);
        }
        let email = StaffEmail::compose(staff.practice(), items, user.zone(staff.settings.as_ref()), &staff.links());
        let mail = StaffMail { account_id: account, user_id: &user.id, to: &user.email, email: &email };
        match self.mailer.send(mail).await {
            Ok(_) => Ok(Mailed::Now),
            Err(SendError::Transient(code) | SendError::Throttled(code)) => {
                tracing::warn!(code, "staff email not sent yet");
                self.store.release_staff_email(account, claim).await?;
                Ok(Mailed::Later)
            }
            Err(err @ (SendError::Permanent(_) | SendError::Unknown(_))) => {
                tracing::warn!(error = %err, "staff email not sent");
                Ok(Mailed::Refused)
            }
        }
    }
}
