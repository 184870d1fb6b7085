//! The message store: persistent queue messages (and durable subscribers' messages) survive a
//! crash of the broker, and a SEND's receipt means the message is on disk.
//!
//! ## Why an append-only journal, and not an embedded database
//! What a broker writes is a log: a message arrives (append), is consumed (append a remove),
//! and almost always within seconds. A B-tree store (redb) pays a copy-on-write page update and
//! at least one fsync per committed transaction for each of those; an LSM (fjall) writes the
//! data twice (its own WAL, then its tables) and then compacts keys that are already dead.
//! A journal writes each message once, sequentially, and forgets whole segments once
//! everything in them is consumed; the index is the engine's in-memory queues, which hold every
//! waiting message anyway. What decided it is the cost of durability on this machine (2 cores,
//! virtio disk): one `fdatasync` after a 4 KiB append takes about 175 µs (strace, and
//! `dd oflag=dsync`: 2 000 writes in 0.30 s), so any store that syncs per message tops out
//! near 5 700 msg/s. Group commit — one writer thread takes every record appended while the
//! previous fsync ran and makes them all durable with one more — measured 974 fdatasyncs for
//! 100 000 receipted persistent messages (one producer, window 1 000: about 100 messages per
//! fsync) and 280 000 msg/s end to end (BENCHMARKS.md). An embedded database would need the
//! same batching on top of it to get there, and would still write more bytes per message.
//!
//! ## How it fits the engine
//! The engine appends records under its lock (`add`, `remove`, `delivered`): that only pushes
//! onto a vector and returns a sequence number. The writer thread encodes, writes and fsyncs
//! in batches, then publishes the highest durable sequence on a watch channel. A session holds
//! a frame's RECEIPT until the sequence of everything that frame did is durable, and keeps
//! reading and handling frames meanwhile, so a producer that pipelines SENDs with receipts
//! fills every batch. Messages that arrive over a bridge are not journaled here: the upstream
//! broker keeps them (on its disk) until they are consumed on this side.

pub mod durable;
pub mod journal;
pub mod record;

use crate::broker::destination::Destination;
use crate::broker::message::Message;
use journal::{Journal, Recovered, RecoveryReport};
use parking_lot::{Condvar, Mutex};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use thiserror::Error;
use tokio::sync::watch;

/// The `[store]` table.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    /// Keep persistent messages on disk. Off: `persistent:true` is accepted and ignored.
    pub enabled: bool,
    /// Where the journal lives; default `<data dir>/store` (`~/.local/share/shoal/store`).
    pub dir: Option<PathBuf>,
    /// fsync each batch before its receipts go out. Off trades durability for speed: a crash
    /// of the machine (not of the broker) can lose receipted messages.
    pub fsync: bool,
    /// A segment file is closed and a new one begun at this size.
    pub segment_bytes: u64,
    /// The journal may grow to this many bytes; then persistent SENDs wait or are refused like
    /// SENDs to a full queue (see `[limits] producer_wait_ms`).
    pub max_disk_bytes: u64,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            enabled: true,
            dir: None,
            fsync: true,
            segment_bytes: 64 * 1024 * 1024,
            max_disk_bytes: 10 * 1024 * 1024 * 1024,
        }
    }
}

impl StoreSettings {
    /// The platform data dir's `store` folder.
    pub fn default_dir() -> Option<PathBuf> {
        directories::ProjectDirs::from("", "", "shoal").map(|d| d.data_dir().join("store"))
    }
}

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("cannot use store directory {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("store directory {0} is in use by another running broker (its lock file is held)")]
    Locked(PathBuf),
}

/// How full the store is, for the broker handle (TUI, stats stream, tests).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StoreUsage {
    pub dir: String,
    pub segments: usize,
    pub disk_bytes: u64,
    pub max_disk_bytes: u64,
    /// Messages on disk and not yet consumed.
    pub live_messages: u64,
    pub appended_bytes: u64,
    pub fsyncs: u64,
    /// Last write or fsync error, if the store is failing.
    pub error: Option<String>,
}

/// One change the engine asks the store to make durable.
enum Op {
    Add {
        store_id: u64,
        queue: Destination,
        message: Arc<Message>,
        redeliveries: u32,
    },
    Remove(u64),
    Delivered(u64),
}

struct Pending {
    ops: Vec<Op>,
    /// Sequence number of the last op appended.
    seq: u64,
    closing: bool,
}

struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
    durable: watch::Sender<u64>,
    next_id: AtomicU64,
    disk_bytes: AtomicU64,
    live: AtomicU64,
    segments: AtomicU64,
    fsyncs: AtomicU64,
    appended: AtomicU64,
    full: AtomicBool,
    error: Mutex<Option<String>>,
    /// Held by the writer while it writes a batch; `hold_writer` lets a test stop it there.
    gate: Mutex<()>,
}

/// The broker's message store; see the module docs.
pub struct Store {
    shared: Arc<Shared>,
    settings: StoreSettings,
    dir: PathBuf,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Held for the store's lifetime: one broker per store directory.
    _lock: File,
}

/// What `Store::open` found on disk.
pub struct Recovery {
    pub messages: Vec<Recovered>,
    pub report: RecoveryReport,
    pub durables: Vec<durable::DurableRecord>,
    /// The last run did not shut down cleanly.
    pub crashed: bool,
}

const CLEAN_MARK: &str = "clean-shutdown";

impl Store {
    /// Locks the directory, recovers what is there, and starts the writer thread.
    pub fn open(
        settings: &StoreSettings,
        dir: &Path,
    ) -> Result<(Arc<Store>, Recovery), StoreError> {
        let io = |source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        };
        // Message bodies are the fleet's traffic: the store is the broker user's alone.
        {
            use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(io)?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
        }
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("lock"))
            .map_err(io)?;
        if lock.try_lock().is_err() {
            return Err(StoreError::Locked(dir.to_path_buf()));
        }
        let clean = dir.join(CLEAN_MARK);
        let crashed = !clean.exists() && has_segments(dir);
        let _ = std::fs::remove_file(&clean);
        let (journal, messages, report) =
            Journal::open(dir, settings.segment_bytes.max(4096)).map_err(io)?;
        let durables = durable::load(dir).map_err(io)?;
        let max_id = messages
            .iter()
            .map(|m| m.message.store_id)
            .max()
            .unwrap_or(0);
        let (durable_tx, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending {
                ops: Vec::new(),
                seq: 0,
                closing: false,
            }),
            wake: Condvar::new(),
            durable: durable_tx,
            next_id: AtomicU64::new(max_id + 1),
            disk_bytes: AtomicU64::new(journal.disk_bytes()),
            live: AtomicU64::new(journal.live_messages() as u64),
            segments: AtomicU64::new(journal.segment_count() as u64),
            fsyncs: AtomicU64::new(0),
            appended: AtomicU64::new(0),
            full: AtomicBool::new(false),
            error: Mutex::new(None),
            gate: Mutex::new(()),
        });
        let (s, fsync, max) = (shared.clone(), settings.fsync, settings.max_disk_bytes);
        let thread = std::thread::Builder::new()
            .name("shoal-store".into())
            .spawn(move || writer(journal, s, fsync, max))
            .map_err(io)?;
        let store = Arc::new(Store {
            shared,
            settings: settings.clone(),
            dir: dir.to_path_buf(),
            thread: Mutex::new(Some(thread)),
            _lock: lock,
        });
        Ok((
            store,
            Recovery {
                messages,
                report,
                durables,
                crashed,
            },
        ))
    }

    fn push(&self, op: Op) -> u64 {
        let mut p = self.shared.pending.lock();
        p.seq += 1;
        p.ops.push(op);
        if p.ops.len() == 1 {
            self.shared.wake.notify_one();
        }
        p.seq
    }

    /// Journals a message entering `queue`; returns its store id and the sequence to wait for.
    pub fn add(
        &self,
        queue: &Destination,
        message: &Arc<Message>,
        redeliveries: u32,
    ) -> (u64, u64) {
        let store_id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let seq = self.push(Op::Add {
            store_id,
            queue: queue.clone(),
            message: message.clone(),
            redeliveries,
        });
        (store_id, seq)
    }

    /// Journals that a message was consumed; returns the sequence to wait for.
    pub fn remove(&self, store_id: u64) -> u64 {
        self.push(Op::Remove(store_id))
    }

    /// Journals that a message was handed to a consumer (its redelivered flag after a restart).
    pub fn delivered(&self, store_id: u64) {
        self.push(Op::Delivered(store_id));
    }

    /// Stops the writer before its next write until the guard is dropped: appends go on,
    /// nothing becomes durable. For tests of what waits for durability.
    #[doc(hidden)]
    pub fn hold_writer(&self) -> parking_lot::MutexGuard<'_, ()> {
        self.shared.gate.lock()
    }

    /// The highest sequence that is durable.
    pub fn durable_seq(&self) -> u64 {
        *self.shared.durable.borrow()
    }

    /// Follows `durable_seq`.
    pub fn watch_durable(&self) -> watch::Receiver<u64> {
        self.shared.durable.subscribe()
    }

    /// Whether the journal reached `max_disk_bytes` (persistent SENDs must wait).
    pub fn is_full(&self) -> bool {
        self.shared.full.load(Ordering::Relaxed)
    }

    pub fn usage(&self) -> StoreUsage {
        let s = &self.shared;
        StoreUsage {
            dir: self.dir.display().to_string(),
            segments: s.segments.load(Ordering::Relaxed) as usize,
            disk_bytes: s.disk_bytes.load(Ordering::Relaxed),
            max_disk_bytes: self.settings.max_disk_bytes,
            live_messages: s.live.load(Ordering::Relaxed),
            appended_bytes: s.appended.load(Ordering::Relaxed),
            fsyncs: s.fsyncs.load(Ordering::Relaxed),
            error: s.error.lock().clone(),
        }
    }

    /// Rewrites the durable subscriptions' file (rare: a durable subscription made or removed).
    pub fn save_durables(&self, all: &[durable::DurableRecord]) -> std::io::Result<()> {
        durable::save(&self.dir, all)
    }

    /// Flushes everything appended, stops the writer and marks the shutdown clean. Messages
    /// still waiting are recovered at the next start, not marked redelivered unless delivered.
    pub fn close(&self) {
        self.shared.pending.lock().closing = true;
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
            if self.shared.error.lock().is_none() {
                let _ = File::create(self.dir.join(CLEAN_MARK)).and_then(|f| f.sync_all());
            }
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.close();
    }
}

fn has_segments(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .filter_map(|e| e.ok())
            .any(|e| e.file_name().to_string_lossy().starts_with("journal-"))
    })
}

/// The writer thread: takes every op appended since the last batch, encodes and writes them,
/// fsyncs once, publishes the batch's last sequence as durable, and tidies the segments.
fn writer(mut journal: Journal, shared: Arc<Shared>, fsync: bool, max_disk: u64) {
    let mut ops = Vec::new();
    let mut buf = Vec::with_capacity(1 << 20);
    loop {
        let (seq, closing) = {
            let mut p = shared.pending.lock();
            while p.ops.is_empty() && !p.closing {
                shared.wake.wait(&mut p);
            }
            std::mem::swap(&mut ops, &mut p.ops);
            (p.seq, p.closing)
        };
        let _gate = shared.gate.lock();
        buf.clear();
        for op in ops.drain(..) {
            match op {
                Op::Add {
                    store_id,
                    queue,
                    message,
                    redeliveries,
                } => {
                    let start = buf.len();
                    record::encode_add(
                        &mut buf,
                        &record::AddRef::message(store_id, &queue.name, &message, redeliveries),
                    );
                    journal.added(store_id, buf.len() - start);
                }
                Op::Remove(id) => {
                    if journal.is_live(id) {
                        record::encode_remove(&mut buf, id);
                        journal.removed(id);
                    }
                }
                Op::Delivered(id) => {
                    if journal.delivered(id) {
                        record::encode_delivered(&mut buf, id);
                    }
                }
            }
        }
        let result = journal
            .write(&buf, fsync && !buf.is_empty())
            .and_then(|_| journal.maintain());
        match result {
            Ok(()) => {
                if fsync && !buf.is_empty() {
                    shared.fsyncs.fetch_add(1, Ordering::Relaxed);
                }
                shared.durable.send_replace(seq);
            }
            Err(e) => {
                // Receipts for this batch are never sent: producers see no confirmation (and
                // time out or reconnect) rather than a false one.
                tracing::error!(error = %e, "message store write failed; persistent messages are not being confirmed");
                *shared.error.lock() = Some(e.to_string());
            }
        }
        shared
            .appended
            .fetch_add(buf.len() as u64, Ordering::Relaxed);
        let disk = journal.disk_bytes();
        shared.disk_bytes.store(disk, Ordering::Relaxed);
        shared.full.store(disk >= max_disk, Ordering::Relaxed);
        shared
            .live
            .store(journal.live_messages() as u64, Ordering::Relaxed);
        shared
            .segments
            .store(journal.segment_count() as u64, Ordering::Relaxed);
        if closing {
            let p = shared.pending.lock();
            if p.ops.is_empty() {
                return;
            }
        }
    }
}
