//! PLACEHOLDER: Chime sender being written.
