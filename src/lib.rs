//! shoal: a STOMP broker engine, network of brokers, MCollective-compatible collectives and a
//! bastion TUI, in one crate. Data flows one way: `stomp` → `broker` → (bridge, collective, tui),
//! with `config` and `cli` at the edge.

pub mod bench;
pub mod bridge;
pub mod broker;
pub mod cli;
pub mod client;
pub mod collective;
pub mod config;
pub mod doctor;
pub mod import;
pub mod metrics;
pub mod stats;
pub mod stomp;
pub mod tui;
