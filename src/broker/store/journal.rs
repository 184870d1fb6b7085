//! The journal's files: numbered segments, recovery from them, appends and compaction.
//!
//! Only the store's writer thread touches a `Journal` after `open`, so nothing here locks.
//! A segment is `journal-NNNNNNNN.log`: an 8-byte format header, then records (see `record`).
//! Segments are dropped from the oldest end once nothing in them is live; an old segment that
//! is mostly dead has its live messages copied forward and is then dropped (compaction), so
//! the disk holds roughly what is still waiting, not everything ever sent.

use super::record::{self, AddRef, Record, StoredMessage};
use rustc_hash::FxHashMap as HashMap;
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The first bytes of every segment: the format and its version.
pub const SEGMENT_HEADER: &[u8; 8] = b"SHOALJ1\n";

/// A segment whose live bytes fall below this fraction of its size is compacted.
const COMPACT_BELOW: f64 = 0.25;

#[derive(Debug)]
struct Segment {
    path: PathBuf,
    bytes: u64,
    live: usize,
    live_bytes: u64,
}

#[derive(Debug, Clone, Copy)]
struct Live {
    segment: u32,
    bytes: u32,
    delivered: bool,
}

/// What recovery found.
#[derive(Debug, Default, Clone)]
pub struct RecoveryReport {
    pub segments: usize,
    pub records: u64,
    /// Damaged regions skipped: (segment file, byte offset, bytes skipped).
    pub skipped: Vec<(String, u64, u64)>,
    /// Bytes cut from the end of the newest segment (a write torn by a crash).
    pub torn_tail: u64,
}

/// A recovered message and whether it had been handed to a consumer before the restart.
#[derive(Debug)]
pub struct Recovered {
    pub message: StoredMessage,
    pub delivered: bool,
}

pub struct Journal {
    dir: PathBuf,
    segments: BTreeMap<u32, Segment>,
    current: u32,
    file: File,
    live: HashMap<u64, Live>,
    segment_bytes: u64,
}

impl Journal {
    /// Reads every segment, cuts a torn tail, and opens the newest segment for appending.
    /// Returns the live messages in store-id order (the order they were first enqueued).
    pub fn open(
        dir: &Path,
        segment_bytes: u64,
    ) -> io::Result<(Journal, Vec<Recovered>, RecoveryReport)> {
        let mut numbers: Vec<u32> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| segment_number(&e.file_name().to_string_lossy()))
            .collect();
        numbers.sort_unstable();
        let mut report = RecoveryReport {
            segments: numbers.len(),
            ..RecoveryReport::default()
        };
        let mut messages: BTreeMap<u64, (u32, StoredMessage, u32, bool)> = BTreeMap::new();
        let mut segments = BTreeMap::new();
        for (i, &n) in numbers.iter().enumerate() {
            let path = segment_path(dir, n);
            let data = std::fs::read(&path)?;
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            let newest = i + 1 == numbers.len();
            if data.len() >= SEGMENT_HEADER.len() && &data[..8] != SEGMENT_HEADER {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{} is not a shoal journal segment of format 1 (header {:?}); move the store aside or use the shoal version that wrote it",
                        path.display(),
                        String::from_utf8_lossy(&data[..8])
                    ),
                ));
            }
            let mut end = data.len().min(8);
            let mut pos = SEGMENT_HEADER.len();
            while pos < data.len() {
                match record::decode(&data[pos..]) {
                    Ok((r, used)) => {
                        report.records += 1;
                        match r {
                            Record::Add(m) => {
                                messages.insert(m.store_id, (n, *m, used as u32, false));
                            }
                            Record::Remove(id) => {
                                messages.remove(&id);
                            }
                            Record::Delivered(id) => {
                                if let Some(e) = messages.get_mut(&id) {
                                    e.3 = true;
                                }
                            }
                        }
                        pos += used;
                        end = pos;
                    }
                    Err(_) if newest && next_record(&data, pos + 1).is_none() => {
                        // Nothing valid follows in the newest segment: a write torn by a crash.
                        report.torn_tail = (data.len() - pos) as u64;
                        break;
                    }
                    Err(_) => {
                        // Damage: resume at the next place a whole, valid record starts.
                        let next = next_record(&data, pos + 1).unwrap_or(data.len());
                        report
                            .skipped
                            .push((name.clone(), pos as u64, (next - pos) as u64));
                        pos = next;
                        end = pos;
                    }
                }
            }
            if newest && (end as u64) < data.len() as u64 {
                let f = OpenOptions::new().write(true).open(&path)?;
                f.set_len(end as u64)?;
                f.sync_all()?;
            }
            segments.insert(
                n,
                Segment {
                    path,
                    bytes: end.max(8) as u64,
                    live: 0,
                    live_bytes: 0,
                },
            );
        }
        let mut live = HashMap::default();
        let mut recovered = Vec::with_capacity(messages.len());
        for (id, (seg, m, bytes, delivered)) in messages {
            live.insert(
                id,
                Live {
                    segment: seg,
                    bytes,
                    delivered,
                },
            );
            if let Some(s) = segments.get_mut(&seg) {
                s.live += 1;
                s.live_bytes += bytes as u64;
            }
            recovered.push(Recovered {
                message: m,
                delivered,
            });
        }
        let current = match segments.last_key_value() {
            Some((&n, s)) if s.bytes < segment_bytes => n,
            Some((&n, _)) => n + 1,
            None => 1,
        };
        let file = open_segment(dir, current)?;
        segments.entry(current).or_insert_with(|| Segment {
            path: segment_path(dir, current),
            bytes: SEGMENT_HEADER.len() as u64,
            live: 0,
            live_bytes: 0,
        });
        let journal = Journal {
            dir: dir.to_path_buf(),
            segments,
            current,
            file,
            live,
            segment_bytes,
        };
        Ok((journal, recovered, report))
    }

    /// Notes an `Add` just encoded (`bytes` long) into the current segment.
    pub fn added(&mut self, store_id: u64, bytes: usize) {
        self.live.insert(
            store_id,
            Live {
                segment: self.current,
                bytes: bytes as u32,
                delivered: false,
            },
        );
        let s = self.segments.get_mut(&self.current).expect("current");
        s.live += 1;
        s.live_bytes += bytes as u64;
    }

    pub fn removed(&mut self, store_id: u64) {
        if let Some(l) = self.live.remove(&store_id) {
            if let Some(s) = self.segments.get_mut(&l.segment) {
                s.live -= 1;
                s.live_bytes -= l.bytes as u64;
            }
        }
    }

    /// Returns whether the message is live (a `Delivered` for a gone message is not written).
    pub fn delivered(&mut self, store_id: u64) -> bool {
        match self.live.get_mut(&store_id) {
            Some(l) => {
                l.delivered = true;
                true
            }
            None => false,
        }
    }

    pub fn is_live(&self, store_id: u64) -> bool {
        self.live.contains_key(&store_id)
    }

    /// Writes a batch of encoded records to the current segment; `sync` makes it durable.
    pub fn write(&mut self, buf: &[u8], sync: bool) -> io::Result<()> {
        if !buf.is_empty() {
            self.file.write_all(buf)?;
            self.segments.get_mut(&self.current).expect("current").bytes += buf.len() as u64;
        }
        if sync {
            self.file.sync_data()?;
        }
        Ok(())
    }

    pub fn live_messages(&self) -> usize {
        self.live.len()
    }

    pub fn disk_bytes(&self) -> u64 {
        self.segments.values().map(|s| s.bytes).sum()
    }

    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// After a batch: start a new segment when the current one is full, drop old segments
    /// nothing lives in, and compact the oldest one when it is mostly dead. Runs on the writer
    /// thread between batches, so records appended meanwhile simply wait for the next batch.
    pub fn maintain(&mut self) -> io::Result<()> {
        if self.segments[&self.current].bytes >= self.segment_bytes {
            self.file.sync_data()?;
            self.current += 1;
            self.file = open_segment(&self.dir, self.current)?;
            self.segments.insert(
                self.current,
                Segment {
                    path: segment_path(&self.dir, self.current),
                    bytes: SEGMENT_HEADER.len() as u64,
                    live: 0,
                    live_bytes: 0,
                },
            );
        }
        // Dropping must go oldest first: a newer segment may hold the Remove of a message
        // added in an older one, and must outlive it.
        while let Some((&oldest, s)) = self.segments.first_key_value() {
            if oldest == self.current {
                break;
            }
            if s.live == 0 {
                let path = s.path.clone();
                self.segments.remove(&oldest);
                std::fs::remove_file(&path)?;
                continue;
            }
            if (s.live_bytes as f64) < s.bytes as f64 * COMPACT_BELOW {
                self.compact(oldest)?;
                continue;
            }
            break;
        }
        Ok(())
    }

    /// Copies the live messages of segment `n` into the current one, then deletes `n`.
    fn compact(&mut self, n: u32) -> io::Result<()> {
        let path = self.segments[&n].path.clone();
        let data = std::fs::read(&path)?;
        let mut out = Vec::new();
        let mut moved = Vec::new();
        let mut pos = SEGMENT_HEADER.len();
        while pos < data.len() {
            match record::decode(&data[pos..]) {
                Ok((Record::Add(m), used)) => {
                    if self.live.get(&m.store_id).is_some_and(|l| l.segment == n) {
                        let start = out.len();
                        record::encode_add(&mut out, &AddRef::of(&m));
                        if self.live[&m.store_id].delivered {
                            record::encode_delivered(&mut out, m.store_id);
                        }
                        moved.push((m.store_id, out.len() - start));
                    }
                    pos += used;
                }
                Ok((_, used)) => pos += used,
                Err(_) => pos = next_record(&data, pos + 1).unwrap_or(data.len()),
            }
        }
        self.write(&out, true)?;
        for (id, bytes) in moved {
            let delivered = self.live.get(&id).is_some_and(|l| l.delivered);
            self.removed(id);
            self.added(id, bytes);
            if delivered {
                self.delivered(id);
            }
        }
        let s = self.segments.remove(&n).expect("segment");
        if s.live > 0 {
            // Live messages whose Add could not be read back (damage since recovery): keep
            // the file rather than lose them.
            self.segments.insert(n, s);
            return Ok(());
        }
        std::fs::remove_file(&path)?;
        Ok(())
    }
}

fn segment_number(name: &str) -> Option<u32> {
    name.strip_prefix("journal-")?
        .strip_suffix(".log")?
        .parse()
        .ok()
}

fn segment_path(dir: &Path, n: u32) -> PathBuf {
    dir.join(format!("journal-{n:08}.log"))
}

fn open_segment(dir: &Path, n: u32) -> io::Result<File> {
    let path = segment_path(dir, n);
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&path)?;
    if f.metadata()?.len() == 0 {
        f.write_all(SEGMENT_HEADER)?;
        f.sync_all()?;
        // The new file's directory entry must be durable too, or a crash could lose the file.
        File::open(dir)?.sync_all()?;
    }
    Ok(f)
}

/// The offset of the next whole, valid record at or after `from`.
fn next_record(data: &[u8], from: usize) -> Option<usize> {
    let magic = record::MAGIC.to_le_bytes();
    let mut i = from;
    while i + record::HEADER <= data.len() {
        let at = data[i..].windows(4).position(|w| w == magic)? + i;
        if record::decode(&data[at..]).is_ok() {
            return Some(at);
        }
        i = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("shoal-journal-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn add(j: &mut Journal, id: u64, body: &[u8]) {
        let m = StoredMessage {
            store_id: id,
            queue: "q".into(),
            message_id: format!("ID:{id}"),
            destination: "/queue/q".into(),
            headers: Default::default(),
            body: Bytes::copy_from_slice(body),
            expires: 0,
            priority: 4,
            redeliveries: 0,
        };
        let mut buf = Vec::new();
        record::encode_add(&mut buf, &AddRef::of(&m));
        j.added(id, buf.len());
        j.write(&buf, false).unwrap();
    }

    fn remove(j: &mut Journal, id: u64) {
        let mut buf = Vec::new();
        record::encode_remove(&mut buf, id);
        j.removed(id);
        j.write(&buf, false).unwrap();
    }

    fn ids(r: &[Recovered]) -> Vec<u64> {
        r.iter().map(|m| m.message.store_id).collect()
    }

    #[test]
    fn removes_and_deliveries_survive_reopening() {
        let d = dir("reopen");
        let (mut j, r, _) = Journal::open(&d, 1 << 20).unwrap();
        assert!(r.is_empty());
        for id in 1..=5 {
            add(&mut j, id, b"x");
        }
        remove(&mut j, 2);
        let mut buf = Vec::new();
        record::encode_delivered(&mut buf, 4);
        j.delivered(4);
        j.write(&buf, true).unwrap();
        drop(j);
        let (_, r, report) = Journal::open(&d, 1 << 20).unwrap();
        assert_eq!(ids(&r), vec![1, 3, 4, 5]);
        assert!(r.iter().all(|m| m.delivered == (m.message.store_id == 4)));
        assert_eq!(report.records, 7);
        assert!(report.skipped.is_empty() && report.torn_tail == 0);
    }

    #[test]
    fn consumed_segments_are_deleted_and_sparse_ones_compacted() {
        let d = dir("compact");
        let body = vec![7u8; 1000];
        let (mut j, _, _) = Journal::open(&d, 8 * 1024).unwrap();
        // ~8 records per segment; 40 messages spread over several segments.
        for id in 1..=40 {
            add(&mut j, id, &body);
            j.maintain().unwrap();
        }
        let before = j.segment_count();
        assert!(before >= 4, "{before} segments");
        // Consume everything but one message in the first segment and one later on.
        for id in 2..=40 {
            if id != 30 {
                remove(&mut j, id);
            }
        }
        j.maintain().unwrap();
        assert!(
            j.segment_count() <= 2,
            "{} segments left",
            j.segment_count()
        );
        assert_eq!(j.live_messages(), 2);
        drop(j);
        let (j, r, _) = Journal::open(&d, 8 * 1024).unwrap();
        assert_eq!(ids(&r), vec![1, 30]);
        assert!(r.iter().all(|m| m.message.body[..] == body[..]));
        assert!(j.disk_bytes() < 8 * 1024 * 2);
    }

    #[test]
    fn a_torn_tail_is_cut_and_appends_continue_after_it() {
        let d = dir("torn");
        let (mut j, _, _) = Journal::open(&d, 1 << 20).unwrap();
        add(&mut j, 1, b"one");
        add(&mut j, 2, b"two");
        drop(j);
        let seg = segment_path(&d, 1);
        let len = std::fs::metadata(&seg).unwrap().len();
        let f = OpenOptions::new().write(true).open(&seg).unwrap();
        f.set_len(len - 3).unwrap();
        let (mut j, r, report) = Journal::open(&d, 1 << 20).unwrap();
        assert_eq!(ids(&r), vec![1]);
        assert!(report.torn_tail > 0);
        add(&mut j, 3, b"three");
        drop(j);
        let (_, r, report) = Journal::open(&d, 1 << 20).unwrap();
        assert_eq!(ids(&r), vec![1, 3]);
        assert_eq!(report.torn_tail, 0);
    }

    #[test]
    fn a_segment_of_another_format_is_refused() {
        let d = dir("format");
        std::fs::write(segment_path(&d, 1), b"SHOALJ9\nwhatever").unwrap();
        let err = Journal::open(&d, 1 << 20).err().expect("refused");
        assert!(err.to_string().contains("format 1"), "{err}");
    }
}
