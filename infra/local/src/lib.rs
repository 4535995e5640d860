//! The local runner: everything Tidings needs on a developer's machine, with
//! nothing to install. DynamoDB is dynoxide in-process; SES and SNS are local
//! sinks; EventBridge and the Scheduler are an in-process bus and clock wired
//! as `template.yaml` declares; stored files are a folder ([`blobs`]). No
//! Lambda binary links this crate.

pub mod auth;
pub mod bench;
pub mod bench_mixed;
pub mod blobs;
pub mod bus;
pub mod clock;
pub mod cold_start;
pub mod demo;
pub mod embedded;
pub mod fax;
pub mod runtime;
pub mod server;
pub mod sinks;
pub mod template;
pub mod voice;

pub use runtime::{LocalError, LocalOptions, LocalRuntime};
