//! The CONNECT a shoal client sends and what it learns from CONNECTED, written once for the
//! collective tools, the TUI's attach, the benchmarks and the `kind = "stomp"` bridges.

use super::{ClientError, ConnectOptions};
use crate::stomp::{Command, Frame, Version};

/// CONNECT accepting STOMP 1.0–1.2, with the options' host, heart-beats and credentials.
pub fn connect_frame(opts: &ConnectOptions) -> Frame {
    let mut f = Frame::new(Command::Connect)
        .header("accept-version", "1.0,1.1,1.2")
        .header("host", opts.host.clone().unwrap_or_else(|| "/".to_string()))
        .header(
            "heart-beat",
            format!("{},{}", opts.heartbeat.0, opts.heartbeat.1),
        );
    if let Some(l) = &opts.login {
        f = f.header("login", l.clone());
    }
    if let Some(p) = &opts.passcode {
        f = f.header("passcode", p.clone());
    }
    f
}

/// What the broker agreed to.
#[derive(Debug)]
pub struct Connected {
    pub version: Version,
    /// The broker's `heart-beat: sx,sy` (ms it sends at / wants from us; 0,0 when absent).
    pub heartbeat: (u64, u64),
    pub frame: Frame,
}

impl Connected {
    /// `server` of CONNECTED (ActiveMQ, RabbitMQ and shoal name themselves there).
    pub fn server(&self) -> Option<&str> {
        self.frame.get("server")
    }
}

/// The broker's answer to CONNECT: CONNECTED, or its ERROR as an error.
pub fn connected(reply: Frame) -> Result<Connected, ClientError> {
    match reply.command {
        Command::Connected => {
            let version = match reply.get("version") {
                Some("1.2") => Version::V1_2,
                Some("1.1") => Version::V1_1,
                _ => Version::V1_0,
            };
            let heartbeat = reply
                .get("heart-beat")
                .and_then(|h| {
                    let (x, y) = h.split_once(',')?;
                    Some((x.trim().parse().ok()?, y.trim().parse().ok()?))
                })
                .unwrap_or((0, 0));
            Ok(Connected {
                version,
                heartbeat,
                frame: reply,
            })
        }
        Command::Error => Err(super::broker_error(&reply)),
        c => Err(ClientError::Unexpected(c)),
    }
}
