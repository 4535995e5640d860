//! The simulated clock of `--clock manual`: time moves only when told.

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use tidings::domain::Clock;

#[derive(Debug, Clone)]
pub struct ManualClock(Arc<RwLock<DateTime<Utc>>>);

impl ManualClock {
    pub fn starting_at(now: DateTime<Utc>) -> Self {
        Self(Arc::new(RwLock::new(now)))
    }

    pub fn set(&self, now: DateTime<Utc>) {
        // A poisoned lock only means a panic elsewhere; the time is still valid.
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = now;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.read().unwrap_or_else(|e| e.into_inner())
    }
}
