//! `shoal bench relay`: the practical ceiling of this machine and this load generator — a
//! minimal STOMP relay with no ACLs, no bookkeeping, no limits, no flow control. Topics go
//! to every subscriber, queues round-robin to one (dropped when nobody listens). It reuses
//! shoal's codec and nothing of its engine, so the gap between a scenario run against it and
//! against `shoal broker` is what the broker's own work costs. Not for anything but benches.

use crate::stomp::codec::encode;
use crate::stomp::{Command, Decoder, Frame, FrameLimits, Version};
use bytes::{Bytes, BytesMut};
use clap::Args;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

#[derive(Debug, Args)]
pub struct RelayArgs {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:16199")]
    pub listen: String,
}

type Subscriber = (u64, String, UnboundedSender<Bytes>);

#[derive(Default)]
struct Relay {
    /// destination → subscribers (connection, subscription id, its writer), and the next
    /// one a queue message goes to.
    dests: Mutex<HashMap<String, (Vec<Subscriber>, usize)>>,
}

impl Relay {
    fn send(&self, f: &Frame) {
        let Some(dest) = f.get("destination") else {
            return;
        };
        let mut dests = self.dests.lock();
        let Some((subs, next)) = dests.get_mut(dest) else {
            return;
        };
        let to: Vec<&Subscriber> = if dest.starts_with("/queue/") && !subs.is_empty() {
            *next = (*next + 1) % subs.len();
            vec![&subs[*next]]
        } else {
            subs.iter().collect()
        };
        for (_, id, tx) in to {
            let mut m = Frame::new(Command::Message)
                .header("destination", dest)
                .header("subscription", id.as_str())
                .header("message-id", "0");
            if let Some(r) = f.get("reply-to") {
                m = m.header("reply-to", r);
            }
            let mut out = BytesMut::new();
            encode(&m.with_body(f.body.clone()), Version::V1_2, &mut out);
            let _ = tx.send(out.freeze());
        }
    }
}

async fn serve(relay: Arc<Relay>, conn: u64, stream: tokio::net::TcpStream) {
    let _ = stream.set_nodelay(true);
    let (mut read, mut write) = stream.into_split();
    let (tx, mut rx) = unbounded_channel::<Bytes>();
    tokio::spawn(async move {
        while let Some(b) = rx.recv().await {
            if write.write_all(&b).await.is_err() {
                return;
            }
        }
    });
    let mut dec = Decoder::new(FrameLimits::default());
    let mut buf = BytesMut::with_capacity(16 * 1024);
    let reply = |f: Frame| {
        let mut out = BytesMut::new();
        encode(&f, Version::V1_2, &mut out);
        let _ = tx.send(out.freeze());
    };
    'read: while matches!(read.read_buf(&mut buf).await, Ok(n) if n > 0) {
        while let Ok(Some(f)) = dec.decode(&mut buf) {
            match f.command {
                Command::Connect | Command::Stomp => {
                    reply(Frame::new(Command::Connected).header("version", "1.2"))
                }
                Command::Subscribe => {
                    let dest = f.get("destination").unwrap_or("").to_string();
                    let id = f.get("id").unwrap_or("0").to_string();
                    let mut dests = relay.dests.lock();
                    dests
                        .entry(dest)
                        .or_default()
                        .0
                        .push((conn, id, tx.clone()));
                }
                Command::Send => relay.send(&f),
                Command::Disconnect => break 'read,
                _ => {}
            }
            if let Some(r) = f.get("receipt") {
                reply(Frame::new(Command::Receipt).header("receipt-id", r));
            }
        }
    }
    for (subs, _) in relay.dests.lock().values_mut() {
        subs.retain(|s| s.0 != conn);
    }
}

pub async fn run(a: &RelayArgs) -> anyhow::Result<bool> {
    let listener = tokio::net::TcpListener::bind(&a.listen).await?;
    eprintln!("minimal relay listening on {}", a.listen);
    let relay = Arc::new(Relay::default());
    let mut next = 0;
    loop {
        let (s, _) = listener.accept().await?;
        next += 1;
        tokio::spawn(serve(relay.clone(), next, s));
    }
}
