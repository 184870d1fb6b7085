//! Durable topic subscriptions on disk: one small JSON file, rewritten whole (write a temporary
//! file, fsync, rename) whenever a durable subscription is made or removed — rare events, so
//! the simplest format that cannot be half-written wins. Their messages live in the journal,
//! under the subscription's internal queue.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

const FILE: &str = "durables.json";

/// One durable subscription: ActiveMQ's `client-id` + `activemq.subscriptionName`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DurableRecord {
    pub client_id: String,
    pub name: String,
    /// The topic (pattern) subscribed to, e.g. `/topic/orders.>`.
    pub destination: String,
    pub selector: Option<String>,
    /// The user that made it: what it may read is checked as this user, also while offline.
    #[serde(default)]
    pub user: Option<String>,
}

pub fn load(dir: &Path) -> std::io::Result<Vec<DurableRecord>> {
    match std::fs::read(dir.join(FILE)) {
        Ok(data) => serde_json::from_slice(&data).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {e}", dir.join(FILE).display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

pub fn save(dir: &Path, all: &[DurableRecord]) -> std::io::Result<()> {
    let tmp = dir.join(format!("{FILE}.tmp"));
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::File::options()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(&serde_json::to_vec_pretty(all).map_err(std::io::Error::other)?)?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(FILE))?;
    std::fs::File::open(dir)?.sync_all()
}
