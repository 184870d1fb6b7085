//! The broker engine.
pub mod destination;
pub mod selector;
