//! Prepaid credit: purchases, the alerts a balance sets off, and the
//! release of messages held for lack of credit.

use std::sync::Arc;

use serde::Serialize;

use crate::domain::{AccountId, Clock, LedgerEntry, Notification, NotificationKind, PriceTable, PurchaseAmount};
use crate::events::{BusEvent, EventPublisher, PublishError, TopUpRequested};
use crate::store::credit::{Balance, BalanceAlert, HeldForCredit};
use crate::store::{Store, StoreError};

/// The most ledger entries the credit view shows.
pub const LEDGER_PAGE: i32 = 50;
/// The most held messages one purchase looks at; later ones go with the next.
pub const RELEASE_PAGE: i32 = 1_000;

#[derive(Debug, thiserror::Error)]
pub enum CreditError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error("idempotency_key must be 1 to 100 printable ASCII characters")]
    InvalidIdempotencyKey,
    #[error("this idempotency_key was recorded with another amount")]
    IdempotencyKeyReused,
}

impl CreditError {
    pub fn is_retryable(&self) -> bool {
        match self {
            CreditError::Store(err) => err.is_retryable(),
            CreditError::Publish(_) => true,
            CreditError::InvalidIdempotencyKey | CreditError::IdempotencyKeyReused => false,
        }
    }
}

/// A purchase's idempotency key: what makes a repeated request record nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl std::str::FromStr for IdempotencyKey {
    type Err = CreditError;
    fn from_str(key: &str) -> Result<Self, Self::Err> {
        if key.is_empty() || key.len() > 100 || !key.chars().all(|c| c.is_ascii_graphic()) {
            return Err(CreditError::InvalidIdempotencyKey);
        }
        Ok(Self(key.to_owned()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PurchaseReceipt {
    /// `false` when the key was recorded before: nothing changed.
    pub recorded: bool,
    pub balance_cents: i64,
    /// Messages held for credit that go out now, oldest first.
    pub released: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreditView {
    pub balance_cents: i64,
    pub prices: PriceTable,
    /// Newest first.
    pub ledger: Vec<LedgerEntry>,
}

#[derive(Clone)]
pub struct CreditService {
    store: Store,
    publisher: Arc<dyn EventPublisher>,
    clock: Arc<dyn Clock>,
    prices: PriceTable,
}

impl CreditService {
    pub fn new(store: Store, publisher: Arc<dyn EventPublisher>, clock: Arc<dyn Clock>, prices: PriceTable) -> Self {
        Self { store, publisher, clock, prices }
    }

    pub fn prices(&self) -> &PriceTable {
        &self.prices
    }

    pub async fn view(&self, account: &AccountId) -> Result<CreditView, CreditError> {
        let balance = self.store.balance(account).await?;
        Ok(CreditView {
            balance_cents: balance.balance_cents,
            prices: self.prices.clone(),
            ledger: self.store.ledger(account, LEDGER_PAGE).await?,
        })
    }

    /// Records a purchase once per key, re-arms the alerts it lifts the
    /// balance over, and releases held messages it pays for, oldest first.
    pub async fn purchase(
        &self,
        account: &AccountId,
        amount: PurchaseAmount,
        key: &IdempotencyKey,
    ) -> Result<PurchaseReceipt, CreditError> {
        let now = self.clock.now();
        let recorded = self.store.purchase_credit(account, amount.cents(), &key.0, now).await?;
        if !recorded {
            let before = self.store.purchase_amount(account, &key.0).await?;
            if before.is_some_and(|cents| u64::try_from(cents).ok() != Some(amount.cents())) {
                return Err(CreditError::IdempotencyKeyReused);
            }
        }
        // Repeated too: a first attempt may have failed before releasing.
        let (balance, released) = self.credit_returned(account).await?;
        Ok(PurchaseReceipt { recorded, balance_cents: balance.balance_cents, released })
    }

    /// After a refund: the balance grew, so alerts it lifted are armed again
    /// and held messages it now pays for go.
    pub async fn after_refund(&self, account: &AccountId) -> Result<(), CreditError> {
        self.credit_returned(account).await.map(|_| ())
    }

    /// Re-arms the alerts the balance is back over and releases what it pays for.
    async fn credit_returned(&self, account: &AccountId) -> Result<(Balance, usize), CreditError> {
        let balance = self.store.balance(account).await?;
        self.store.rearm_balance_alert(account, BalanceAlert::Low, balance.low_balance_alert_cents).await?;
        self.store.rearm_balance_alert(account, BalanceAlert::Empty, 1).await?;
        if let Some(top_up) = balance.top_up {
            self.store.rearm_balance_alert(account, BalanceAlert::TopUp, top_up.trigger_cents).await?;
        }
        let released = self.release_held(account, balance.balance_cents).await?;
        Ok((balance, released))
    }

    /// Puts held messages back in the due index, oldest first, while the
    /// balance covers them; the first that does not fit stops the release,
    /// so that no newer message overtakes an older one.
    async fn release_held(&self, account: &AccountId, balance_cents: i64) -> Result<usize, CreditError> {
        let mut budget = u64::try_from(balance_cents).unwrap_or(0);
        let mut released = 0;
        let now = self.clock.now();
        for held in self.store.held_for_credit(account, RELEASE_PAGE).await? {
            if held.cost_cents > budget {
                break;
            }
            if self.store.release_held(account, &held.message_id, now).await? {
                budget -= held.cost_cents;
                released += 1;
            }
        }
        if released > 0 {
            tracing::info!(released, "messages held for credit released");
        }
        Ok(released)
    }

    /// After credit was taken near a threshold: the low-balance and empty
    /// alerts and the auto top-up request, each once per crossing of its
    /// threshold. The headroom read here lets the sends after it skip this
    /// while the balance stays clear of every threshold.
    pub async fn after_spend(&self, account: &AccountId) -> Result<(), CreditError> {
        let balance = self.store.balance(account).await?;
        self.store.set_headroom(account, &balance).await?;
        let low = balance.low_balance_alert_cents;
        if below(&balance, low)
            && !balance.low_alerted
            && self.store.raise_balance_alert(account, BalanceAlert::Low, low).await?
        {
            self.notify(account, NotificationKind::LowBalance, &balance).await?;
        }
        if balance.balance_cents <= 0 {
            self.exhausted(account, &balance).await?;
        }
        if let Some(top_up) = balance.top_up {
            let wanted = below(&balance, top_up.trigger_cents) && !balance.top_up_requested;
            if wanted && self.store.raise_balance_alert(account, BalanceAlert::TopUp, top_up.trigger_cents).await? {
                let request = TopUpRequested {
                    account_id: account.clone(),
                    balance_cents: balance.balance_cents,
                    amount_cents: top_up.amount_cents,
                    idempotency_key: format!("top-up-{}", uuid::Uuid::new_v4()),
                };
                if let Err(err) = self.publisher.publish(vec![BusEvent::from(&request)]).await {
                    // Let the next send ask again.
                    self.store.rearm_balance_alert(account, BalanceAlert::TopUp, 0).await?;
                    return Err(err.into());
                }
                tracing::info!("auto top-up requested");
            }
        }
        Ok(())
    }

    /// A send found too little credit and its message is now held: the
    /// practice hears once that paid messages are waiting. A purchase that
    /// landed between the failed reservation and the hold did not see the
    /// message in the queue, so the balance is read after the hold and the
    /// message released if it is paid for now; one side always sees the other.
    pub async fn shortfall(&self, account: &AccountId, held: &HeldForCredit) -> Result<(), CreditError> {
        let balance = self.store.balance(account).await?;
        if u64::try_from(balance.balance_cents).unwrap_or(0) >= held.cost_cents {
            self.store.release_held(account, &held.message_id, self.clock.now()).await?;
            return Ok(());
        }
        self.exhausted(account, &balance).await
    }

    async fn exhausted(&self, account: &AccountId, balance: &Balance) -> Result<(), CreditError> {
        if !balance.empty_alerted && self.store.raise_balance_alert(account, BalanceAlert::Empty, u64::MAX).await? {
            self.notify(account, NotificationKind::CreditExhausted, balance).await?;
        }
        Ok(())
    }

    async fn notify(&self, account: &AccountId, kind: NotificationKind, balance: &Balance) -> Result<(), CreditError> {
        let notification =
            Notification::new(kind, self.clock.now()).detail(format!("balance_cents={}", balance.balance_cents));
        self.store.add_notification(account, &notification).await?;
        Ok(())
    }
}

fn below(balance: &Balance, threshold: u64) -> bool {
    balance.balance_cents < i64::try_from(threshold).unwrap_or(i64::MAX)
}
