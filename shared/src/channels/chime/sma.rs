//! PLACEHOLDER: SIP media application events being written.
