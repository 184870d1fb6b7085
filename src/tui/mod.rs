//! The bastion TUI: state and update (`app`), rendering (`ui`), keymaps, and the runtime that
//! connects them to a broker — hosted in this process or attached over STOMP (`runtime`).

pub mod action;
pub mod app;
pub mod conn_view;
pub mod history;
pub mod keymap;
pub mod ping_view;
pub mod rows;
pub mod runtime;
pub mod source;
pub mod source_conns;
pub mod table;
pub mod terminal;
pub mod ui;

#[cfg(test)]
mod snapshot_tests;
