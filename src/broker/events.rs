//! What the engine tells observers (the TUI's event line, logs, tests) as it happens.
//! Sent on a `broadcast` channel: a slow observer lags and skips, the engine never waits.

use super::subscription::ConnId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerEvent {
    ConnectionOpened {
        conn: ConnId,
        peer: String,
    },
    ConnectionClosed {
        conn: ConnId,
        reason: String,
    },
    SubscriptionAdded {
        conn: ConnId,
        id: Option<String>,
        destination: String,
        selector: Option<String>,
        /// A bridge's subscription (demand from this peer broker), not a client's.
        network: Option<String>,
    },
    SubscriptionRemoved {
        conn: ConnId,
        id: Option<String>,
        destination: String,
    },
    DestinationCreated {
        destination: String,
    },
    /// A client was sent an ERROR.
    ClientError {
        conn: ConnId,
        message: String,
    },
}
