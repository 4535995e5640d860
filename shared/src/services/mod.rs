//! Use-case services: what the functions do, independent of how they are
//! invoked.

pub mod ad_hoc;
pub mod consent;
pub mod credit;
pub mod delivery;
pub mod digests;
pub mod forms;
pub mod opt_in;
pub mod outcomes;
pub mod records;
#[cfg(feature = "replies")]
pub mod replies;
pub mod staff;
pub mod sweep;
#[cfg(test)]
mod testing;
pub mod voice_call;

pub use ad_hoc::{AdHocError, AdHocService, Written};
pub use consent::{CapturedConsent, ConsentError, ConsentPage, ConsentService};
pub use credit::{CreditError, CreditService, CreditView, IdempotencyKey, PurchaseReceipt};
pub use delivery::{Delivery, DeliveryConfig, DeliveryError, DeliveryOutcome, Price, RetryPolicy};
pub use digests::{DigestError, DigestReport, StaffDigests};
pub use forms::{FormError, FormPage, FormService};
pub use opt_in::{OptInOutcome, OptInService};
pub use outcomes::{OutcomeService, ReportOutcome};
pub use records::{ClientAnswer, MessagesAbout, RecordsError, RecordsService, ReminderChanges, TemplatePreview};
#[cfg(feature = "replies")]
pub use replies::{
    AttachmentDownload, Inbound, InboundConfig, InboundRoute, ReplyError, ReplyReceipt, ReplyService, Routed,
};
pub use staff::{StaffError, StaffService};
pub use sweep::{ReminderSweep, SweepConfig, SweepError, SweepReport};
pub use voice_call::{VoiceCall, VoiceCallError};
