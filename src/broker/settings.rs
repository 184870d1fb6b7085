//! Engine settings. They deserialize straight from the `[broker]` and `[limits]` tables of the
//! config file, with defaults for everything, so an empty file is a working broker.

use crate::stomp::FrameLimits;
use serde::{Deserialize, Serialize};

/// What happens to a topic subscriber whose outgoing queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SlowConsumerPolicy {
    /// Drop the topic messages it cannot take, and count them (ActiveMQ's default for
    /// non-durable topics is to block the producer; shoal never lets one reader stall others).
    #[default]
    Drop,
    /// Send it an ERROR and close its connection.
    Disconnect,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerSettings {
    /// Name shown in CONNECTED's `server`, message ids, logs and the TUI.
    pub name: String,
    /// The shortest heart-beat interval this broker sends at, in ms: a client asking for
    /// heart-beats every `cy` ms gets them every max(cy, this), as STOMP 1.1 negotiates
    /// (0: the broker sends none).
    pub heartbeat_send_ms: u64,
    /// The shortest interval the broker expects a client's heart-beats at: a client offering
    /// `cx` must send every max(cx, this) ms (0: the broker asks for none).
    pub heartbeat_receive_ms: u64,
    /// How many missed heart-beat periods before a silent client is dropped.
    pub heartbeat_grace: f64,
    /// Prefetch when SUBSCRIBE has no `activemq.prefetchSize` (ActiveMQ: 1000 for queues, 32766
    /// for topics).
    pub queue_prefetch: usize,
    pub topic_prefetch: usize,
    pub slow_consumer: SlowConsumerPolicy,
    /// Destinations with no subscribers, no messages and no traffic for this long are forgotten.
    pub idle_destination_secs: u64,
}

impl Default for BrokerSettings {
    fn default() -> Self {
        BrokerSettings {
            name: default_name(),
            heartbeat_send_ms: 100,
            heartbeat_receive_ms: 100,
            heartbeat_grace: 2.0,
            queue_prefetch: 1000,
            topic_prefetch: 32766,
            slow_consumer: SlowConsumerPolicy::Drop,
            idle_destination_secs: 300,
        }
    }
}

fn default_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "shoal".to_string())
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    pub max_frame_bytes: usize,
    pub max_body_bytes: usize,
    pub max_headers: usize,
    pub max_header_line: usize,
    /// Time a new connection has to send CONNECT.
    pub connect_timeout_ms: u64,
    /// Messages and bytes waiting to be written to one connection.
    pub outbox_messages: usize,
    pub outbox_bytes: usize,
    /// Messages and bytes (bodies, headers and `MESSAGE_OVERHEAD` a message) one queue may hold. A producer sending to a full queue waits
    /// (its connection stops being read) up to `producer_wait_ms`, then gets an ERROR.
    pub max_queue_messages: usize,
    pub max_queue_bytes: usize,
    /// Bytes (bodies, headers and `MESSAGE_OVERHEAD` a message) waiting in all queues together (the broker's memory limit); a SEND that
    /// would pass it waits and is refused like one to a full queue.
    pub max_memory_bytes: usize,
    /// How long a producer to a full queue (or a full broker or store) waits before its
    /// ERROR; 0 refuses at once.
    pub producer_wait_ms: u64,
    /// Bytes (bodies, headers and `MESSAGE_OVERHEAD` a message) delivered to one connection and not yet acknowledged (client ack modes);
    /// beyond it, queue messages wait for other consumers or for ACKs.
    pub max_unacked_bytes: usize,
    pub max_subscriptions_per_connection: usize,
    /// Demand one bridge link may hold here: a subscription per node behind the peer (each
    /// directed queue has its own selector), so far more than one client makes.
    pub max_bridge_subscriptions: usize,
    /// Destinations that may exist at once, and that one user's SENDs and SUBSCRIBEs may
    /// have created (idle ones are forgotten after `idle_destination_secs`).
    pub max_destinations: usize,
    pub max_destinations_per_user: usize,
    /// A SUBSCRIBE's `selector` (MCollective's `mc_identity = '…'` needs a few dozen).
    pub max_selector_bytes: usize,
    pub max_connections: usize,
    /// Connections from one source address (a runaway script, or one host hogging the broker).
    pub max_connections_per_address: usize,
    /// Connections the kernel queues for each listener before the broker accepts them (capped
    /// by `net.core.somaxconn`): a fleet reconnecting at once after a restart must fit, or
    /// the kernel drops SYNs that come back only 1, 3, 7 s later.
    pub listen_backlog: u32,
    /// Drop a connection that sends nothing for this long when it negotiated no heart-beats
    /// (0: never). Off by default: MCollective nodes speak STOMP 1.0 without heart-beats and
    /// legitimately sit silent for hours waiting for requests.
    pub idle_timeout_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        let f = FrameLimits::default();
        Limits {
            max_frame_bytes: f.max_frame_bytes,
            max_body_bytes: f.max_body_bytes,
            max_headers: f.max_headers,
            max_header_line: f.max_header_line,
            connect_timeout_ms: 10_000,
            outbox_messages: 8192,
            outbox_bytes: 32 * 1024 * 1024,
            max_queue_messages: 1_000_000,
            max_queue_bytes: 256 * 1024 * 1024,
            max_memory_bytes: 1024 * 1024 * 1024,
            producer_wait_ms: 10_000,
            max_unacked_bytes: 64 * 1024 * 1024,
            max_subscriptions_per_connection: 10_000,
            max_bridge_subscriptions: 1_000_000,
            max_selector_bytes: 4096,
            max_destinations: 100_000,
            max_destinations_per_user: 10_000,
            max_connections: 20_000,
            max_connections_per_address: 4096,
            listen_backlog: 4096,
            idle_timeout_secs: 0,
        }
    }
}

impl Limits {
    pub fn frame_limits(&self) -> FrameLimits {
        FrameLimits {
            max_frame_bytes: self.max_frame_bytes,
            max_body_bytes: self.max_body_bytes,
            max_headers: self.max_headers,
            max_header_line: self.max_header_line,
        }
    }
}

/// What happens to queue messages that cannot be delivered: the `[delivery]` table.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryPolicy {
    /// Returns to the queue (NACK, or a consumer that went without acknowledging) before a
    /// message is moved to its dead-letter queue; -1: never (ActiveMQ's default is 6).
    pub max_redeliveries: i64,
    /// Dead letters of `/queue/NAME` go to `/queue/<prefix>NAME`.
    pub dead_letter_prefix: String,
    /// Expired queue messages: "drop" them, or move them to `expiry_queue`.
    pub expired: ExpiredPolicy,
    pub expiry_queue: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ExpiredPolicy {
    #[default]
    Drop,
    Queue,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        DeliveryPolicy {
            max_redeliveries: 6,
            dead_letter_prefix: "DLQ.".into(),
            expired: ExpiredPolicy::Drop,
            expiry_queue: "ExpiryQueue".into(),
        }
    }
}
