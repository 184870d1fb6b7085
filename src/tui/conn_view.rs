//! The connections pane's state: the latest list (the busiest connections), message rates
//! from the last two lists, and the connection whose detail is open. nats-top's questions —
//! who floods the broker, which consumer is slow — answered by sorting on `in/s`, `pending`
//! or `drops`.

use super::rows::{human_count, human_secs};
use super::table::{Cell, Row, Tone};
use crate::broker::inspect::ConnectionDetail;
use crate::broker::snapshot::ConnectionSnapshot;
use crate::broker::subscription::ConnId;
use crate::stats::ConnectionsReply;
use std::collections::HashMap;

pub const CONNECTION_COLUMNS: [&str; 16] = [
    "id",
    "peer",
    "user",
    "ver",
    "subs",
    "in/s",
    "out/s",
    "msgs in",
    "msgs out",
    "bytes in",
    "bytes out",
    "pending",
    "unacked",
    "drops",
    "hb",
    "since",
];
/// The pane sorts by messages in per second, busiest first.
pub const CONNECTION_SORT_DEFAULT: usize = 5;

/// Messages (in, out) by connection.
type Counters = HashMap<ConnId, (u64, u64)>;

#[derive(Debug, Default, Clone)]
pub struct ConnView {
    pub reply: ConnectionsReply,
    /// Messages per second (in, out) by connection, from the last two lists.
    pub rates: HashMap<ConnId, (f64, f64)>,
    /// When the last list arrived (Unix ms) and its counters.
    prev: Option<(u64, Counters)>,
    /// The connection whose detail is open, and the detail once it arrived.
    pub open: Option<ConnId>,
    pub detail: Option<ConnectionDetail>,
}

impl ConnView {
    /// A new list, taken at `now_ms`.
    pub fn on_list(&mut self, reply: ConnectionsReply, now_ms: u64) {
        let counters: Counters = reply
            .connections
            .iter()
            .map(|c| (c.id, (c.msgs_in, c.msgs_out)))
            .collect();
        self.rates.clear();
        if let Some((at, before)) = &self.prev {
            let secs = now_ms.saturating_sub(*at) as f64 / 1000.0;
            // Lists a while apart (the pane was hidden) would average over the gap.
            if secs > 0.0 && secs <= 3.0 {
                for (id, (i, o)) in &counters {
                    if let Some((bi, bo)) = before.get(id) {
                        let rate = |now: u64, then: u64| now.saturating_sub(then) as f64 / secs;
                        self.rates.insert(*id, (rate(*i, *bi), rate(*o, *bo)));
                    }
                }
            }
        }
        self.prev = Some((now_ms, counters));
        self.reply = reply;
    }

    pub fn rows(&self, now_secs: u64) -> Vec<Row> {
        self.reply
            .connections
            .iter()
            .map(|c| self.row(c, now_secs))
            .collect()
    }

    fn row(&self, c: &ConnectionSnapshot, now_secs: u64) -> Row {
        let (rin, rout) = self.rates.get(&c.id).copied().unwrap_or((0.0, 0.0));
        let n = |v: u64| Cell::num(human_count(v as f64), v as f64);
        let flagged = |v: u64, tone: Tone| {
            let cell = n(v);
            if v > 0 {
                cell.tone(tone)
            } else {
                cell
            }
        };
        Row {
            id: c.id.to_string(),
            cells: vec![
                Cell::num(c.id.to_string(), c.id as f64),
                Cell::text(c.peer.clone()),
                Cell::text(c.login.clone().unwrap_or_else(|| "-".into())),
                Cell::text(c.version.clone().unwrap_or_else(|| "-".into())),
                Cell::num(c.subscriptions.to_string(), c.subscriptions as f64),
                Cell::num(human_count(rin), rin),
                Cell::num(human_count(rout), rout),
                n(c.msgs_in),
                n(c.msgs_out),
                n(c.bytes_in),
                n(c.bytes_out),
                flagged(c.pending as u64, Tone::Warn),
                n(c.unacked_bytes as u64),
                flagged(c.dropped, Tone::Bad),
                Cell::num(heartbeat(c.heartbeat_ms), c.heartbeat_ms as f64),
                Cell::num(
                    human_secs(now_secs.saturating_sub(c.since)),
                    -(c.since as f64),
                ),
            ],
        }
    }
}

pub fn heartbeat(ms: u64) -> String {
    match ms {
        0 => "-".into(),
        ms if ms % 1000 == 0 => format!("{}s", ms / 1000),
        ms => format!("{ms}ms"),
    }
}
