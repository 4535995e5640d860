//! Tidings: the library every function links. Pure domain in [`domain`];
//! DynamoDB in [`store`]; channel ports and adapters in [`channels`]; bus
//! events in [`events`]; use cases in [`services`].

pub mod channels;
pub mod config;
pub mod domain;
pub mod events;
pub mod lambda;
pub mod services;
pub mod store;
