//! Message bodies that identify themselves: producer, sequence number and send time, padded
//! to the requested size, so receivers can detect loss, duplicates and latency.

use std::time::{SystemTime, UNIX_EPOCH};

pub const HEADER: usize = 24;

pub fn make(producer: u64, seq: u64, size: usize) -> Vec<u8> {
    let mut b = vec![b'x'; size.max(HEADER)];
    b[0..8].copy_from_slice(&producer.to_le_bytes());
    b[8..16].copy_from_slice(&seq.to_le_bytes());
    b[16..24].copy_from_slice(&now_us().to_le_bytes());
    b
}

/// (producer, seq, sent_at_us) of a body made by `make`.
pub fn read(b: &[u8]) -> Option<(u64, u64, u64)> {
    if b.len() < HEADER {
        return None;
    }
    let n = |r: std::ops::Range<usize>| u64::from_le_bytes(b[r].try_into().unwrap());
    Some((n(0..8), n(8..16), n(16..24)))
}

pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Tracks which sequence numbers of each producer arrived.
pub struct Tally {
    seen: Vec<Vec<u64>>,
    pub received: u64,
    pub duplicates: u64,
    pub foreign: u64,
}

impl Tally {
    pub fn new(producers: usize, per_producer: u64) -> Tally {
        Tally {
            seen: (0..producers)
                .map(|_| vec![0u64; (per_producer as usize).div_ceil(64)])
                .collect(),
            received: 0,
            duplicates: 0,
            foreign: 0,
        }
    }

    pub fn record(&mut self, body: &[u8]) {
        let Some((p, s, _)) = read(body) else {
            self.foreign += 1;
            return;
        };
        let Some(bits) = self.seen.get_mut(p as usize) else {
            self.foreign += 1;
            return;
        };
        let (w, bit) = ((s / 64) as usize, s % 64);
        let Some(word) = bits.get_mut(w) else {
            self.foreign += 1;
            return;
        };
        if *word & (1 << bit) != 0 {
            self.duplicates += 1;
        } else {
            *word |= 1 << bit;
            self.received += 1;
        }
    }
}
