//! PLACEHOLDER: Telnyx provider being written.
