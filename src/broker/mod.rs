//! The broker engine: destinations, subscriptions, sessions and the handle others use.
//!
//! Data flows one way: `session` (one per connection) parses and validates frames and calls the
//! `engine`, which routes through `state` into per-connection `outbox`es drained by `writer`s.

pub mod access;
pub mod ack;
pub mod auth;
pub mod counters;
pub mod destination;
pub mod dests;
pub mod dispatch;
pub mod drain;
pub mod durable;
pub mod engine;
pub mod error;
pub mod events;
pub mod flow;
pub mod handle;
pub mod inspect;
pub mod local;
pub mod login;
pub mod message;
pub mod outbox;
pub mod publish;
pub mod queue;
pub mod readbuf;
pub mod receipts;
pub mod redelivery;
pub mod reload;
pub mod selector;
pub mod server;
pub mod session;
pub mod settings;
pub mod snapshot;
pub mod state;
pub mod store;
pub mod subscribers;
pub mod subscription;
pub mod tls;
pub mod watch;
pub mod wildcards;
pub mod writer;

pub use handle::{Broker, BrokerHandle};
pub use settings::{BrokerSettings, DeliveryPolicy, ExpiredPolicy, Limits, SlowConsumerPolicy};
pub use snapshot::{BrokerSnapshot, DestinationSnapshot};
