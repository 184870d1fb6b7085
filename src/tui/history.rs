//! Rates over time, for sparklines: one sample per stats report (about one a second), kept
//! for the last two minutes, per broker, destination and bridge.

use crate::stats::StatsReport;
use std::collections::{HashMap, VecDeque};

pub const SAMPLES: usize = 120;

#[derive(Debug, Default)]
pub struct Histories {
    /// The newest report, even while the display is frozen.
    pub latest: Option<StatsReport>,
    pub broker_in: VecDeque<u64>,
    pub broker_out: VecDeque<u64>,
    pub destinations: HashMap<String, VecDeque<u64>>,
    pub bridges_in: HashMap<String, VecDeque<u64>>,
    pub bridges_out: HashMap<String, VecDeque<u64>>,
}

fn push(q: &mut VecDeque<u64>, v: f64) {
    if q.len() >= SAMPLES {
        q.pop_front();
    }
    q.push_back(v.max(0.0).round() as u64);
}

impl Histories {
    pub fn record(&mut self, r: &StatsReport) {
        push(&mut self.broker_in, r.broker.rate_in);
        push(&mut self.broker_out, r.broker.rate_out);
        self.destinations
            .retain(|k, _| r.destinations.iter().any(|d| &d.destination == k));
        for d in &r.destinations {
            push(
                self.destinations.entry(d.destination.clone()).or_default(),
                d.rate_in,
            );
        }
        self.bridges_in
            .retain(|k, _| r.bridges.iter().any(|b| &b.name == k));
        self.bridges_out
            .retain(|k, _| r.bridges.iter().any(|b| &b.name == k));
        for b in &r.bridges {
            push(
                self.bridges_in.entry(b.name.clone()).or_default(),
                b.in_per_sec,
            );
            push(
                self.bridges_out.entry(b.name.clone()).or_default(),
                b.out_per_sec,
            );
        }
        self.latest = Some(r.clone());
    }
}

/// The last `width` samples of `q` (the newest at the right).
pub fn tail(q: Option<&VecDeque<u64>>, width: usize) -> Vec<u64> {
    match q {
        Some(q) => q
            .iter()
            .skip(q.len().saturating_sub(width))
            .copied()
            .collect(),
        None => Vec::new(),
    }
}

/// A one-line sparkline; ASCII when `ascii` (for terminals without braille/blocks).
pub fn sparkline(samples: &[u64], ascii: bool) -> String {
    const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    const ASCII: [char; 8] = ['_', '_', '.', '.', '-', '-', '=', '#'];
    let max = samples.iter().copied().max().unwrap_or(0);
    samples
        .iter()
        .map(|&v| {
            if v == 0 || max == 0 {
                ' '
            } else {
                let i = ((v as f64 / max as f64) * 7.0).round() as usize;
                if ascii {
                    ASCII[i.min(7)]
                } else {
                    BLOCKS[i.min(7)]
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_scale_to_the_maximum() {
        assert_eq!(sparkline(&[0, 1, 2, 4, 8], false), " ▂▃▅█");
        assert_eq!(sparkline(&[0, 8, 4], true), " #-");
        assert_eq!(sparkline(&[], false), "");
        let q: VecDeque<u64> = (0..10).collect();
        assert_eq!(tail(Some(&q), 3), [7, 8, 9]);
    }
}
