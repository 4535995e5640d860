//! Text-to-voice through Amazon Chime SDK PSTN Audio: [`sender`] places the
//! call (CreateSipMediaApplicationCall); the SIP media application then
//! invokes the `voice-call` function with the events and actions of [`sma`];
//! [`control`] ends a call that reaches the longest allowed.

#[cfg(feature = "chime")]
pub mod control;
#[cfg(feature = "chime")]
pub mod sender;
pub mod sma;
