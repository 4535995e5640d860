//! Text-to-voice through Amazon Chime SDK PSTN Audio: [`sender`] places the
//! call (CreateSipMediaApplicationCall); the SIP media application then
//! invokes the `voice-call` function with the events and actions of [`sma`].

pub mod sender;
pub mod sma;
