//! The local runtime: the embedded store, the functions `template.yaml`
//! declares wired to local sinks, the bus, the clock and the schedules.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use lambda_runtime::{Context, LambdaEvent};
use serde::Serialize;
use tidings::domain::{Channel, Clock, SystemClock, Templates};
use tidings::services::{Delivery, RecordsService, ReminderSweep, SweepConfig, SweepReport};
use tidings::store::Store;

use crate::auth::TokenKey;
use crate::bus::{BusOptions, DeliveryFunction, LocalBus, LocalFunction};
use crate::clock::ManualClock;
use crate::embedded::{EmbeddedDynamo, EmbeddedError};
use crate::sinks::{LocalSink, Outbox};
use crate::template::{Template, TemplateError};

/// The logical id of the table in `template.yaml`; locally, also its name.
pub const TABLE: &str = "TidingsTable";
pub const SWEEP_FUNCTION: &str = "reminder-sweep";
pub const DEFAULT_DATA_PATH: &str = ".tidings/local.db";

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error(transparent)]
    Embedded(#[from] EmbeddedError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("local files: {0}")]
    Io(#[from] std::io::Error),
    #[error("creating tables: {0}")]
    Tables(String),
    #[error("wiring: {0}")]
    Wiring(String),
    #[error("{function} failed: {error_type}: {message}")]
    Invocation { function: &'static str, error_type: String, message: String },
    #[error(transparent)]
    Store(#[from] tidings::store::StoreError),
    #[error("the clock is not manual: start with --clock manual")]
    ClockNotManual,
    #[error("the clock only moves forward")]
    ClockBackwards,
}

#[derive(Debug, Clone, Default)]
pub struct LocalOptions {
    /// The SQLite file; `None` keeps everything in memory.
    pub data: Option<PathBuf>,
    /// Start a manual clock at this time; `None` uses the system clock.
    pub manual_clock: Option<DateTime<Utc>>,
    pub bus: BusOptions,
    pub sweep: SweepConfig,
}

/// What moving the manual clock did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Advance {
    pub now: DateTime<Utc>,
    /// Schedule ticks that ran (idle ticks are skipped: they find nothing).
    pub ticks: usize,
    pub published: usize,
    pub skipped: usize,
    pub expired: usize,
}

/// The first multiple of `step` at or after `value`.
fn ceil_to_multiple(value: i64, step: i64) -> i64 {
    -((-value).div_euclid(step)) * step
}

pub struct LocalRuntime {
    pub dynamo: EmbeddedDynamo,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    manual_clock: Option<ManualClock>,
    pub bus: LocalBus,
    pub outbox: Outbox,
    pub records: Arc<RecordsService>,
    sweep: Arc<ReminderSweep>,
    pub sweep_every: Duration,
    pub token_key: TokenKey,
}

impl LocalRuntime {
    pub async fn start(options: LocalOptions) -> Result<Self, LocalError> {
        let template = Template::deployed()?;
        let dynamo = EmbeddedDynamo::start(options.data.as_deref()).await?;
        let client = dynamo.client();
        template.table(TABLE)?.create(&client, TABLE).await.map_err(LocalError::Tables)?;
        let store = Store::new(client, TABLE);

        let manual_clock = options.manual_clock.map(ManualClock::starting_at);
        let clock: Arc<dyn Clock> = match &manual_clock {
            Some(manual) => Arc::new(manual.clone()),
            None => Arc::new(SystemClock),
        };
        let (outbox, token_key) = match &options.data {
            Some(path) => (
                Outbox::persisted(path.with_extension("outbox.jsonl"))?,
                TokenKey::load_or_create(&path.with_extension("key"))?,
            ),
            None => (Outbox::default(), TokenKey::ephemeral()),
        };

        let mut functions: HashMap<String, Arc<dyn LocalFunction>> = HashMap::new();
        for (name, channel) in [("deliver-email", Channel::Email), ("deliver-sms", Channel::Sms)] {
            let sink = LocalSink::new(channel, outbox.clone(), clock.clone());
            let delivery = Delivery::new(store.clone(), Arc::new(sink), clock.clone(), options.sweep.lease);
            functions.insert(name.to_owned(), Arc::new(DeliveryFunction(Arc::new(delivery))));
        }
        let bus = LocalBus::new(template.routes.clone(), functions, clock.clone(), options.bus)
            .map_err(LocalError::Wiring)?;

        let schedule = template
            .schedules
            .iter()
            .find(|s| s.function == SWEEP_FUNCTION)
            .ok_or_else(|| LocalError::Wiring(format!("template.yaml schedules no {SWEEP_FUNCTION}")))?;
        let templates = Arc::new(Templates::default());
        let sweep = ReminderSweep::new(
            store.clone(),
            Arc::new(bus.clone()),
            templates.clone(),
            clock.clone(),
            options.sweep.clone(),
        );
        Ok(Self {
            dynamo,
            records: Arc::new(RecordsService::new(store.clone(), clock.clone(), templates)),
            store,
            clock,
            manual_clock,
            bus,
            outbox,
            sweep: Arc::new(sweep),
            sweep_every: schedule.every,
            token_key,
        })
    }

    pub fn is_manual(&self) -> bool {
        self.manual_clock.is_some()
    }

    /// One scheduled invocation of `reminder-sweep`, through its Lambda
    /// handler, and everything it set off.
    pub async fn run_sweep(&self) -> Result<SweepReport, LocalError> {
        // The schedule's Input, as template.yaml writes it.
        let event = LambdaEvent::new(serde_json::json!({}), Context::default());
        let report = tidings_reminder_sweep::handler(&self.sweep, event).await.map_err(|d| {
            LocalError::Invocation { function: SWEEP_FUNCTION, error_type: d.error_type, message: d.error_message }
        });
        self.bus.idle().await;
        report
    }

    /// Moves the manual clock to `target`, running each schedule tick on the
    /// way that finds something due, and returns when all resulting work is
    /// done. Ticks with nothing due are skipped: they would find nothing.
    pub async fn advance_to(&self, target: DateTime<Utc>) -> Result<Advance, LocalError> {
        let manual = self.manual_clock.as_ref().ok_or(LocalError::ClockNotManual)?;
        if target < manual.now() {
            return Err(LocalError::ClockBackwards);
        }
        let every = i64::try_from(self.sweep_every.as_millis()).unwrap_or(60_000).max(1);
        let mut advance = Advance::default();
        loop {
            let now = manual.now().timestamp_millis();
            let first_tick_after_now = (now.div_euclid(every) + 1) * every;
            let next_tick = match self.store.next_due().await? {
                Some(due) => first_tick_after_now.max(ceil_to_multiple(due.timestamp_millis(), every)),
                None => i64::MAX,
            };
            if next_tick > target.timestamp_millis() {
                break;
            }
            let tick = DateTime::from_timestamp_millis(next_tick).ok_or(LocalError::ClockBackwards)?;
            manual.set(tick);
            let report = self.run_sweep().await?;
            advance.ticks += 1;
            advance.published += report.published;
            advance.skipped += report.skipped;
            advance.expired += report.expired;
        }
        manual.set(target);
        advance.now = target;
        Ok(advance)
    }

    /// Sets the manual clock without running the ticks in between, as after
    /// an outage of the schedule.
    pub fn advance_clock_without_ticks(&self, target: DateTime<Utc>) -> Result<(), LocalError> {
        let manual = self.manual_clock.as_ref().ok_or(LocalError::ClockNotManual)?;
        if target < manual.now() {
            return Err(LocalError::ClockBackwards);
        }
        manual.set(target);
        Ok(())
    }

    /// Fires the sweep at its rate on the system clock, for `serve` without
    /// a manual clock.
    pub async fn run_schedules(self: Arc<Self>) {
        let mut interval = tokio::time::interval(self.sweep_every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            if let Err(err) = self.run_sweep().await {
                tracing::warn!(error = %err, "scheduled sweep failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ceil_to_multiple;

    #[test]
    fn ticks_round_up_to_the_schedule_grid() {
        assert_eq!(ceil_to_multiple(120_000, 60_000), 120_000);
        assert_eq!(ceil_to_multiple(120_001, 60_000), 180_000);
        assert_eq!(ceil_to_multiple(-1, 60_000), 0);
    }
}
