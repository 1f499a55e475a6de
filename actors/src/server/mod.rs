//! STUB
pub mod hub;
pub mod listener;
