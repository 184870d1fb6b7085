//! Importers from other brokers' configs.

pub mod activemq;
pub mod placeholders;
