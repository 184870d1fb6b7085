//! In-process clients: the same engine paths as a network session, minus the socket.
//! Used for embedding (the TUI's ping tool, bridges' local side, tests).

use super::auth::Principal;
use super::destination::{DestPattern, Destination};
use super::engine::{Engine, EngineError, SubscribeRequest};
use super::outbox::{Outbox, Outgoing};
use super::publish::Publish;
use super::selector::Selector;
use super::state::ConnInfo;
use super::subscription::{AckMode, AckToken, ConnId, NetworkSub};
use crate::broker::message::{ConsumedHook, Message};
use crate::stomp::Headers;
use bytes::Bytes;
use smallvec::SmallVec;
use std::collections::VecDeque;
use std::sync::Arc;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum LocalError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Destination(#[from] super::destination::DestinationError),
    #[error(transparent)]
    Selector(#[from] super::selector::SelectorError),
}

pub struct LocalClient {
    engine: Arc<Engine>,
    outbox: Arc<Outbox>,
    conn: ConnId,
    pending: VecDeque<Outgoing>,
}

/// A message received by a local client, with the subscription it came through.
#[derive(Debug, Clone)]
pub struct Received {
    pub subscription: Option<Arc<str>>,
    pub message: Arc<Message>,
    /// Token for `ack` in client ack modes.
    pub ack: Option<AckToken>,
    pub redelivered: bool,
}

/// Everything a SUBSCRIBE can say, for in-process clients.
pub struct SubscribeOptions<'a> {
    pub id: &'a str,
    pub destination: &'a str,
    pub selector: Option<&'a str>,
    pub ack: AckMode,
    pub prefetch: Option<usize>,
    pub priority: i32,
    pub network: Option<NetworkSub>,
}

impl LocalClient {
    pub(super) fn open(engine: Arc<Engine>, name: &str) -> LocalClient {
        let outbox = Outbox::new(
            engine.limits().outbox_messages,
            engine.limits().outbox_bytes,
        );
        let conn =
            engine.open_connection(ConnInfo::new(format!("in-process:{name}")), outbox.clone());
        LocalClient {
            engine,
            outbox,
            conn,
            pending: VecDeque::new(),
        }
    }

    pub fn id(&self) -> ConnId {
        self.conn
    }

    pub fn send(
        &self,
        destination: &str,
        headers: impl Into<Headers>,
        body: impl Into<Bytes>,
    ) -> Result<(), LocalError> {
        self.send_hooked(destination, headers, body, None)
    }

    /// `send`, with a hook run once the (queue) message has been consumed here.
    pub fn send_hooked(
        &self,
        destination: &str,
        headers: impl Into<Headers>,
        body: impl Into<Bytes>,
        on_consumed: Option<ConsumedHook>,
    ) -> Result<(), LocalError> {
        let d = Destination::parse(destination)?;
        self.send_to(d, headers, body, on_consumed)
    }

    /// `send_hooked` to a destination already parsed.
    pub fn send_to(
        &self,
        destination: Destination,
        headers: impl Into<Headers>,
        body: impl Into<Bytes>,
        on_consumed: Option<ConsumedHook>,
    ) -> Result<(), LocalError> {
        let d = Engine::internal(self.conn, destination);
        self.engine
            .send_hooked(self.conn, d, headers.into(), body.into(), on_consumed)?;
        Ok(())
    }

    /// Publishes several messages at once (see `Engine::send_batch`); returns the refused
    /// ones by index, with why.
    pub fn send_batch(&self, batch: Vec<Publish>) -> SmallVec<[(usize, EngineError); 1]> {
        let batch = batch
            .into_iter()
            .map(|p| Publish {
                destination: Engine::internal(self.conn, p.destination),
                ..p
            })
            .collect();
        self.engine.send_batch(self.conn, batch)
    }

    pub fn subscribe(
        &self,
        id: &str,
        destination: &str,
        selector: Option<&str>,
    ) -> Result<(), LocalError> {
        self.subscribe_with(SubscribeOptions {
            id,
            destination,
            selector,
            ack: AckMode::Auto,
            prefetch: None,
            priority: 0,
            network: None,
        })
    }

    /// Acts on behalf of `principal` from now on: the ACL applies to what this client sends
    /// and subscribes to (bridges carrying a peer's traffic use the peer's user).
    pub fn set_principal(&self, principal: Arc<Principal>) {
        self.engine
            .set_principal(self.conn, principal, crate::stomp::Version::V1_2);
    }

    /// ACK (or NACK) a delivery by its `ack` token (client ack modes).
    pub fn ack(&self, token: AckToken, nack: bool) -> Result<(), LocalError> {
        match self.engine.ack_tokens(self.conn, &[token], nack)[..] {
            [] => Ok(()),
            _ => Err(EngineError::UnknownAck(token.to_string()).into()),
        }
    }

    /// ACKs several deliveries under one engine lock; returns the tokens that were not held.
    pub fn ack_many(&self, tokens: &[AckToken]) -> Vec<AckToken> {
        self.engine.ack_tokens(self.conn, tokens, false)
    }

    pub fn subscribe_with(&self, o: SubscribeOptions<'_>) -> Result<(), LocalError> {
        let (id, destination, selector) = (o.id, o.destination, o.selector);
        let mut pattern = DestPattern::parse(destination)?;
        if pattern.kind.is_temp() {
            pattern = DestPattern::parse(&format!(
                "{}{}",
                pattern.kind.prefix(),
                Engine::temp_name(self.conn, pattern.kind, &pattern.pattern)
            ))?;
        }
        let selector = selector.map(Selector::parse).transpose()?;
        Ok(self.engine.subscribe(
            self.conn,
            SubscribeRequest {
                durable: None,
                id: Some(id.to_string()),
                pattern,
                selector,
                ack: o.ack,
                prefetch: o.prefetch,
                priority: o.priority,
                network: o.network,
            },
        )?)
    }

    pub fn unsubscribe(&self, id: &str) -> Result<(), LocalError> {
        Ok(self.engine.unsubscribe(self.conn, id)?)
    }

    /// Ends a queue subscription once what it has in flight is settled (see `drain`).
    pub fn drain(&self, id: &str) -> Result<(), LocalError> {
        Ok(self.engine.drain(self.conn, id)?)
    }

    /// The next message, waiting for one.
    pub async fn recv(&mut self) -> Option<Received> {
        loop {
            if let Some(r) = self.try_recv() {
                return Some(r);
            }
            if self.outbox.is_closed() && self.outbox.is_empty() {
                return None;
            }
            self.outbox.notified().await;
        }
    }

    /// The next message if one is already here.
    pub fn try_recv(&mut self) -> Option<Received> {
        loop {
            if self.pending.is_empty() {
                let drained = self.outbox.drain(&mut self.pending);
                if drained.starved {
                    self.engine.outbox_ready(self.conn);
                }
            }
            match self.pending.pop_front()? {
                Outgoing::Message(d) => {
                    return Some(Received {
                        subscription: d.subscription,
                        message: d.message,
                        ack: d.ack,
                        redelivered: d.redelivered,
                    })
                }
                Outgoing::Frame(_) | Outgoing::Close => continue,
            }
        }
    }
}

impl Drop for LocalClient {
    fn drop(&mut self) {
        self.engine
            .close_connection(self.conn, "local client dropped");
    }
}
