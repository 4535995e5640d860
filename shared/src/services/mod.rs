//! Use-case services: what the functions do, independent of how they are
//! invoked.

pub mod delivery;
pub mod records;
pub mod sweep;

pub use delivery::{Delivery, DeliveryError, DeliveryOutcome};
pub use records::{RecordsError, RecordsService, ReminderChanges, TemplatePreview};
pub use sweep::{ReminderSweep, SweepConfig, SweepError, SweepReport};
