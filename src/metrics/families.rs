//! The metric families, encoded at scrape time from the broker's own numbers (a
//! `prometheus-client` `Collector`: nothing is registered or kept between scrapes).
//!
//! Broker: `shoal_info{name,version}`, `shoal_uptime_seconds`, `shoal_connections`,
//! `shoal_subscriptions`, `shoal_destinations`, `shoal_messages_{received,delivered}_total`,
//! `shoal_{received,delivered}_bytes_total`, `shoal_queued_{messages,bytes}`,
//! `shoal_memory_limit_bytes`, `shoal_store_*` (with a store), `shoal_logins_failed_total`,
//! `shoal_connections_refused_total`, `shoal_access_denied_total`,
//! `shoal_sends_refused_total{limit}`, `shoal_login_throttled_{addresses,users}`,
//! `shoal_config_last_reload_{successful,timestamp_seconds}` (after a reload).
//! Destinations (`destination`, `kind` labels; the busiest and the deepest only):
//! `shoal_destination_{depth,in_flight,consumers,producers}` and
//! `shoal_destination_{enqueued,acked,delivered,expired,dropped}_total`.
//! Bridges (`bridge`, `peer`): `shoal_bridge_{up,paused,standby,in_flight,rtt_seconds}`,
//! `shoal_bridge_demand{direction}`, `shoal_bridge_forwarded_{messages,bytes}_total{direction}`,
//! `shoal_bridge_duplicates_dropped_total`, `shoal_bridge_reconnects_total`.
//! Collectives (`collective`): `shoal_collective_{members,remote_members,stale_members}`.

use crate::broker::counters::LimitKind;
use crate::stats::StatsSources;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::metrics::MetricType;
use std::fmt::Error;

/// What `/metrics` shows: a collector over the broker's sources.
pub struct Families {
    pub sources: StatsSources,
    pub top_destinations: usize,
}

impl std::fmt::Debug for Families {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Families")
            .field("top_destinations", &self.top_destinations)
            .finish()
    }
}

impl Families {
    /// The exposition text of one scrape.
    pub fn render(self: &std::sync::Arc<Self>) -> String {
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(self.clone()));
        let mut text = String::new();
        // Writing to a String cannot fail; a collector error would leave a truncated text.
        if prometheus_client::encoding::text::encode(&mut text, &registry).is_err() {
            tracing::warn!("metrics: encoding failed");
        }
        text
    }
}

fn gauge(v: impl Into<f64>) -> ConstGauge<f64> {
    ConstGauge::new(v.into())
}

fn gauge_n(v: usize) -> ConstGauge<f64> {
    ConstGauge::new(v as f64)
}

fn counter(v: u64) -> ConstCounter<u64> {
    ConstCounter::new(v)
}

/// One family with a single unlabelled sample.
fn one(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    m: impl EncodeMetric,
) -> Result<(), Error> {
    let e = enc.encode_descriptor(name, help, None, m.metric_type())?;
    m.encode(e)
}

/// One family with a sample per label set.
fn each<L: EncodeLabelSet, M: EncodeMetric>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    ty: MetricType,
    rows: impl IntoIterator<Item = (L, M)>,
) -> Result<(), Error> {
    let mut e = enc.encode_descriptor(name, help, None, ty)?;
    for (labels, m) in rows {
        m.encode(e.encode_family(&labels)?)?;
    }
    Ok(())
}

impl Collector for Families {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), Error> {
        self.broker(&mut enc)?;
        self.destinations(&mut enc)?;
        self.bridges(&mut enc)?;
        self.collectives(&mut enc)
    }
}

impl Families {
    fn broker(&self, enc: &mut DescriptorEncoder) -> Result<(), Error> {
        let h = &self.sources.handle;
        let s = h.overview(0);
        let info = Info::new([("name", s.name.clone()), ("version", s.version.to_string())]);
        one(enc, "shoal", "The broker's name and shoal's version.", info)?;
        let mut gauges = vec![
            (
                "shoal_uptime_seconds",
                "Seconds since the broker started.",
                s.uptime.as_secs_f64(),
            ),
            (
                "shoal_connections",
                "Open connections (clients, bridges, the broker's own).",
                s.connection_count as f64,
            ),
            (
                "shoal_subscriptions",
                "Subscriptions of all connections.",
                s.subscription_count as f64,
            ),
            (
                "shoal_destinations",
                "Destinations the broker knows.",
                s.destination_count as f64,
            ),
            (
                "shoal_queued_messages",
                "Messages waiting in all queues.",
                s.queued_messages as f64,
            ),
            (
                "shoal_queued_bytes",
                "Body bytes waiting in all queues.",
                s.queued_bytes as f64,
            ),
            (
                "shoal_memory_limit_bytes",
                "max_memory_bytes: what all queues may hold.",
                s.max_memory_bytes as f64,
            ),
        ];
        let (addresses, logins) = h.throttled();
        gauges.extend([
            (
                "shoal_login_throttled_addresses",
                "Client addresses whose logins are being spaced after failures.",
                addresses as f64,
            ),
            (
                "shoal_login_throttled_users",
                "Login names whose logins are being spaced after failures.",
                logins as f64,
            ),
        ]);
        if let Some(r) = self.sources.last_reload.load_full() {
            gauges.extend([
                (
                    "shoal_config_last_reload_successful",
                    "1 when the last config reload was applied, 0 when it was refused.",
                    f64::from(u8::from(r.ok)),
                ),
                (
                    "shoal_config_last_reload_timestamp_seconds",
                    "When the config was last reloaded (or a reload refused).",
                    r.at_ms as f64 / 1000.0,
                ),
            ]);
        }
        let c = h.counters();
        let mut counters = vec![
            (
                "shoal_messages_received",
                "Messages received from producers.",
                s.msgs_in,
            ),
            (
                "shoal_messages_delivered",
                "Messages delivered to subscribers.",
                s.msgs_out,
            ),
            ("shoal_received_bytes", "Body bytes received.", s.bytes_in),
            (
                "shoal_delivered_bytes",
                "Body bytes delivered.",
                s.bytes_out,
            ),
            (
                "shoal_logins_failed",
                "CONNECTs refused for their credentials.",
                c.logins_failed,
            ),
            (
                "shoal_connections_refused",
                "Connections turned away at accept (max_connections, per address).",
                c.connections_refused,
            ),
            (
                "shoal_access_denied",
                "Frames refused by an ACL.",
                c.access_denied,
            ),
        ];
        if let Some(st) = &s.store {
            gauges.extend([
                (
                    "shoal_store_disk_bytes",
                    "The message store's size on disk.",
                    st.disk_bytes as f64,
                ),
                (
                    "shoal_store_disk_limit_bytes",
                    "max_disk_bytes.",
                    st.max_disk_bytes as f64,
                ),
                (
                    "shoal_store_live_messages",
                    "Messages on disk not yet consumed.",
                    st.live_messages as f64,
                ),
                (
                    "shoal_store_segments",
                    "Journal segment files.",
                    st.segments as f64,
                ),
                (
                    "shoal_store_failing",
                    "1 when the last write or fsync failed.",
                    f64::from(u8::from(st.error.is_some())),
                ),
            ]);
            counters.push((
                "shoal_store_fsyncs",
                "fsync calls of the journal.",
                st.fsyncs,
            ));
        }
        for (name, help, v) in gauges {
            one(enc, name, help, gauge(v))?;
        }
        for (name, help, v) in counters {
            one(enc, name, help, counter(v))?;
        }
        each(
            enc,
            "shoal_sends_refused",
            "SENDs refused for a full queue, memory or store, by limit.",
            MetricType::Counter,
            LimitKind::ALL
                .iter()
                .map(|k| ([("limit", k.name())], counter(c.sends_refused[*k as usize]))),
        )
    }

    fn destinations(&self, enc: &mut DescriptorEncoder) -> Result<(), Error> {
        let s = self
            .sources
            .handle
            .overview_busiest_and_deepest(self.top_destinations);
        let labels = |d: &crate::broker::DestinationSnapshot| {
            let kind = if d.is_queue { "queue" } else { "topic" };
            [
                ("destination", d.destination.clone()),
                ("kind", kind.to_string()),
            ]
        };
        type Pick = fn(&crate::broker::DestinationSnapshot) -> u64;
        let gauges: [(&str, &str, Pick); 4] = [
            (
                "shoal_destination_depth",
                "Messages waiting in the queue.",
                |d| d.pending as u64,
            ),
            (
                "shoal_destination_in_flight",
                "Messages delivered and not yet acknowledged.",
                |d| d.in_flight as u64,
            ),
            (
                "shoal_destination_consumers",
                "Subscriptions on the destination.",
                |d| d.consumers as u64,
            ),
            (
                "shoal_destination_producers",
                "Connections that sent to it.",
                |d| d.producers as u64,
            ),
        ];
        for (name, help, pick) in gauges {
            let rows = s
                .destinations
                .iter()
                .map(|d| (labels(d), gauge(pick(d) as f64)));
            each(enc, name, help, MetricType::Gauge, rows)?;
        }
        let counters: [(&str, &str, Pick); 5] = [
            ("shoal_destination_enqueued", "Messages sent to it.", |d| {
                d.enqueued
            }),
            ("shoal_destination_acked", "Queue messages consumed.", |d| {
                d.dequeued
            }),
            (
                "shoal_destination_delivered",
                "Messages handed to subscribers.",
                |d| d.dispatched,
            ),
            (
                "shoal_destination_expired",
                "Messages that expired before delivery.",
                |d| d.expired,
            ),
            (
                "shoal_destination_dropped",
                "Messages dropped for slow consumers.",
                |d| d.dropped,
            ),
        ];
        for (name, help, pick) in counters {
            let rows = s.destinations.iter().map(|d| (labels(d), counter(pick(d))));
            each(enc, name, help, MetricType::Counter, rows)?;
        }
        Ok(())
    }

    fn bridges(&self, enc: &mut DescriptorEncoder) -> Result<(), Error> {
        let bridges = self
            .sources
            .network()
            .map(|n| n.snapshot())
            .unwrap_or_default();
        // A peer may hold two links of one name (one on standby): the peer tells them apart.
        let mut seen = std::collections::HashSet::new();
        let rows: Vec<_> = bridges
            .iter()
            .map(|b| {
                let peer = b.remote_broker.clone().unwrap_or_default();
                let mut labels = vec![("bridge", b.name.clone()), ("peer", peer)];
                if !seen.insert(labels.clone()) {
                    labels.push(("link", seen.len().to_string()));
                }
                (labels, b)
            })
            .collect();
        type Pick = fn(&crate::bridge::status::BridgeSnapshot) -> f64;
        let gauges: [(&str, &str, Pick); 4] = [
            ("shoal_bridge_up", "1 when the bridge is connected.", |b| {
                f64::from(u8::from(
                    b.state == crate::bridge::status::BridgeState::Connected,
                ))
            }),
            (
                "shoal_bridge_paused",
                "1 when an operator paused it.",
                |b| f64::from(u8::from(b.paused)),
            ),
            (
                "shoal_bridge_standby",
                "1 for a second link kept idle.",
                |b| f64::from(u8::from(b.standby)),
            ),
            (
                "shoal_bridge_in_flight",
                "Messages forwarded and not yet confirmed (the backlog).",
                |b| b.in_flight as f64,
            ),
        ];
        for (name, help, pick) in gauges {
            let r = rows.iter().map(|(l, b)| (l.clone(), gauge(pick(b))));
            each(enc, name, help, MetricType::Gauge, r)?;
        }
        let r = rows
            .iter()
            .filter_map(|(l, b)| Some((l.clone(), gauge(b.rtt_ms? / 1000.0))));
        each(
            enc,
            "shoal_bridge_rtt_seconds",
            "Round trip to the peer.",
            MetricType::Gauge,
            r,
        )?;
        let dir = |l: &Vec<(&'static str, String)>, d: &str| {
            let mut l = l.clone();
            l.push(("direction", d.to_string()));
            l
        };
        let r = rows.iter().flat_map(|(l, b)| {
            [
                (dir(l, "in"), gauge_n(b.demand_in)),
                (dir(l, "out"), gauge_n(b.demand_out)),
            ]
        });
        each(
            enc,
            "shoal_bridge_demand",
            "Destinations with subscribers, each way.",
            MetricType::Gauge,
            r,
        )?;
        let t = |b: &crate::bridge::status::BridgeSnapshot| b.traffic;
        let r = rows.iter().flat_map(|(l, b)| {
            [
                (dir(l, "in"), counter(t(b).msgs_in)),
                (dir(l, "out"), counter(t(b).msgs_out)),
            ]
        });
        each(
            enc,
            "shoal_bridge_forwarded_messages",
            "Messages forwarded, each way.",
            MetricType::Counter,
            r,
        )?;
        let r = rows.iter().flat_map(|(l, b)| {
            [
                (dir(l, "in"), counter(t(b).bytes_in)),
                (dir(l, "out"), counter(t(b).bytes_out)),
            ]
        });
        each(
            enc,
            "shoal_bridge_forwarded_bytes",
            "Body bytes forwarded, each way.",
            MetricType::Counter,
            r,
        )?;
        let r = rows
            .iter()
            .map(|(l, b)| (l.clone(), counter(t(b).duplicates_dropped)));
        each(
            enc,
            "shoal_bridge_duplicates_dropped",
            "Messages that came back around a loop, dropped.",
            MetricType::Counter,
            r,
        )?;
        let r = rows.iter().map(|(l, b)| (l.clone(), counter(b.reconnects)));
        each(
            enc,
            "shoal_bridge_reconnects",
            "Times the bridge connected again.",
            MetricType::Counter,
            r,
        )
    }

    fn collectives(&self, enc: &mut DescriptorEncoder) -> Result<(), Error> {
        let all = self.sources.members.summary();
        type Pick = fn(&crate::collective::membership::CollectiveSummary) -> usize;
        let families: [(&str, &str, Pick); 3] = [
            (
                "shoal_collective_members",
                "Nodes subscribed to the collective.",
                |c| c.members,
            ),
            (
                "shoal_collective_remote_members",
                "Members reached through a bridge.",
                |c| c.remote,
            ),
            (
                "shoal_collective_stale_members",
                "Members not seen answering lately.",
                |c| c.stale,
            ),
        ];
        for (name, help, pick) in families {
            let r = all
                .iter()
                .map(|(n, c)| ([("collective", n.clone())], gauge_n(pick(c))));
            each(enc, name, help, MetricType::Gauge, r)?;
        }
        Ok(())
    }
}
