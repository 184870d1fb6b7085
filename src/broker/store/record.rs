//! The journal's on-disk records: what one line of the log says, and how it is framed so that a
//! torn or damaged record is recognised and skipped without losing its neighbours.
//!
//! Every record is `magic (u32) | length (u32) | crc32 (u32) | kind (u8) | payload`, little
//! endian, the CRC covering kind and payload. The magic lets recovery find the next record after
//! damage (it scans for the magic and accepts only a record whose CRC holds), the length bounds
//! the read, and the CRC catches flipped bits and torn writes.

use crate::broker::message::Message;
use crate::stomp::Headers;
use bytes::Bytes;
use thiserror::Error;

/// "SHRC": the start of every record.
pub const MAGIC: u32 = 0x4352_4853;
/// Bytes before the payload: magic, length, crc, kind.
pub const HEADER: usize = 13;
/// Larger than any frame the broker accepts; a length beyond it is damage, not a record.
pub const MAX_PAYLOAD: usize = 256 * 1024 * 1024;

const KIND_ADD: u8 = 1;
const KIND_REMOVE: u8 = 2;
const KIND_DELIVERED: u8 = 3;

/// One entry of the journal.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// A persistent message entered `queue` (a queue name, or a durable subscription's queue).
    Add(Box<StoredMessage>),
    /// The message with this store id was consumed (acknowledged, expired, moved).
    Remove(u64),
    /// The message was handed to a consumer at least once: after a restart it is redelivered.
    Delivered(u64),
}

/// A message as the store keeps it: enough to rebuild the engine's `Message`.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMessage {
    pub store_id: u64,
    /// The internal queue name (`Destination::name` of a queue).
    pub queue: String,
    pub message_id: String,
    /// The destination written in MESSAGE frames (a durable subscriber's topic, say).
    pub destination: String,
    pub headers: Headers,
    pub body: Bytes,
    pub expires: u64,
    pub priority: u8,
    pub redeliveries: u32,
}

impl StoredMessage {
    pub fn of(store_id: u64, queue: &str, m: &Message, redeliveries: u32) -> StoredMessage {
        StoredMessage {
            store_id,
            queue: queue.to_string(),
            message_id: m.id.clone(),
            destination: m.destination_header.clone(),
            headers: m.headers.clone(),
            body: m.body.clone(),
            expires: m.expires,
            priority: m.priority,
            redeliveries,
        }
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than the record needs: the end of the file, or a torn write.
    #[error("record incomplete")]
    Incomplete,
    #[error("no record magic")]
    BadMagic,
    #[error("record length {0} out of range")]
    BadLength(usize),
    #[error("checksum mismatch")]
    BadChecksum,
    #[error("malformed record payload")]
    BadPayload,
}

/// Appends `record` to `out`, framed.
pub fn encode(record: &Record, out: &mut Vec<u8>) {
    match record {
        Record::Add(m) => encode_add(out, &AddRef::of(m)),
        Record::Remove(id) => encode_id(out, KIND_REMOVE, *id),
        Record::Delivered(id) => encode_id(out, KIND_DELIVERED, *id),
    }
}

/// The fields of an `Add`, borrowed: the writer thread encodes straight from the engine's
/// shared `Message`, so the hot path copies nothing into an intermediate record.
pub struct AddRef<'a> {
    pub store_id: u64,
    pub queue: &'a str,
    pub message_id: &'a str,
    pub destination: &'a str,
    pub headers: &'a Headers,
    pub body: &'a [u8],
    pub expires: u64,
    pub priority: u8,
    pub redeliveries: u32,
}

impl<'a> AddRef<'a> {
    pub fn of(m: &'a StoredMessage) -> AddRef<'a> {
        AddRef {
            store_id: m.store_id,
            queue: &m.queue,
            message_id: &m.message_id,
            destination: &m.destination,
            headers: &m.headers,
            body: &m.body,
            expires: m.expires,
            priority: m.priority,
            redeliveries: m.redeliveries,
        }
    }

    pub fn message(store_id: u64, queue: &'a str, m: &'a Message, redeliveries: u32) -> Self {
        AddRef {
            store_id,
            queue,
            message_id: &m.id,
            destination: &m.destination_header,
            headers: &m.headers,
            body: &m.body,
            expires: m.expires,
            priority: m.priority,
            redeliveries,
        }
    }
}

pub fn encode_add(out: &mut Vec<u8>, m: &AddRef) {
    let start = begin(out, KIND_ADD);
    out.extend_from_slice(&m.store_id.to_le_bytes());
    out.extend_from_slice(&m.expires.to_le_bytes());
    out.extend_from_slice(&m.redeliveries.to_le_bytes());
    out.push(m.priority);
    put_str(out, m.queue);
    put_str(out, m.message_id);
    put_str(out, m.destination);
    out.extend_from_slice(&(m.headers.len() as u32).to_le_bytes());
    for (k, v) in m.headers {
        put_str(out, k);
        put_str(out, v);
    }
    put_bytes(out, m.body);
    finish(out, start);
}

fn encode_id(out: &mut Vec<u8>, kind: u8, id: u64) {
    let start = begin(out, kind);
    out.extend_from_slice(&id.to_le_bytes());
    finish(out, start);
}

pub fn encode_remove(out: &mut Vec<u8>, id: u64) {
    encode_id(out, KIND_REMOVE, id)
}

pub fn encode_delivered(out: &mut Vec<u8>, id: u64) {
    encode_id(out, KIND_DELIVERED, id)
}

fn begin(out: &mut Vec<u8>, kind: u8) -> usize {
    let start = out.len();
    out.extend_from_slice(&MAGIC.to_le_bytes());
    out.extend_from_slice(&[0; 8]); // length and crc, filled in by `finish`
    out.push(kind);
    start
}

fn finish(out: &mut [u8], start: usize) {
    let payload_len = (out.len() - start - HEADER) as u32;
    let crc = crc32fast::hash(&out[start + 12..]);
    out[start + 4..start + 8].copy_from_slice(&payload_len.to_le_bytes());
    out[start + 8..start + 12].copy_from_slice(&crc.to_le_bytes());
}

/// Decodes the record at the start of `buf`; returns it and the bytes it took.
pub fn decode(buf: &[u8]) -> Result<(Record, usize), DecodeError> {
    if buf.len() < HEADER {
        return Err(DecodeError::Incomplete);
    }
    if u32_at(buf, 0) != MAGIC {
        return Err(DecodeError::BadMagic);
    }
    let len = u32_at(buf, 4) as usize;
    if len > MAX_PAYLOAD {
        return Err(DecodeError::BadLength(len));
    }
    let total = HEADER + len;
    if buf.len() < total {
        return Err(DecodeError::Incomplete);
    }
    if crc32fast::hash(&buf[12..total]) != u32_at(buf, 8) {
        return Err(DecodeError::BadChecksum);
    }
    let mut r = Reader {
        buf: &buf[13..total],
    };
    let record = match buf[12] {
        KIND_ADD => {
            let store_id = r.u64()?;
            let expires = r.u64()?;
            let redeliveries = r.u32()?;
            let priority = r.u8()?;
            let queue = r.string()?;
            let message_id = r.string()?;
            let destination = r.string()?;
            let n = r.u32()? as usize;
            let mut headers = Headers::with_capacity(n.min(1024), 0);
            for _ in 0..n {
                let (k, v) = (r.string()?, r.string()?);
                headers.push(&k, &v);
            }
            let body = Bytes::copy_from_slice(r.bytes()?);
            Record::Add(Box::new(StoredMessage {
                store_id,
                queue,
                message_id,
                destination,
                headers,
                body,
                expires,
                priority,
                redeliveries,
            }))
        }
        KIND_REMOVE => Record::Remove(r.u64()?),
        KIND_DELIVERED => Record::Delivered(r.u64()?),
        _ => return Err(DecodeError::BadPayload),
    };
    if !r.buf.is_empty() {
        return Err(DecodeError::BadPayload);
    }
    Ok((record, total))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::BadPayload);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }

    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    fn string(&mut self) -> Result<String, DecodeError> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| DecodeError::BadPayload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Record {
        Record::Add(Box::new(StoredMessage {
            store_id: 42,
            queue: "orders".into(),
            message_id: "ID:b-1-7".into(),
            destination: "/queue/orders".into(),
            headers: vec![("persistent", "true"), ("k", "ü")].into(),
            body: Bytes::from_static(b"hello\0world"),
            expires: 123,
            priority: 7,
            redeliveries: 2,
        }))
    }

    #[test]
    fn records_round_trip() {
        let mut buf = Vec::new();
        for r in [sample(), Record::Remove(42), Record::Delivered(9)] {
            buf.clear();
            encode(&r, &mut buf);
            assert_eq!(decode(&buf), Ok((r, buf.len())));
        }
    }

    #[test]
    fn every_truncation_is_incomplete_and_every_flip_is_caught() {
        let mut buf = Vec::new();
        encode(&sample(), &mut buf);
        for cut in 0..buf.len() {
            assert_eq!(decode(&buf[..cut]).unwrap_err(), DecodeError::Incomplete);
        }
        for i in 0..buf.len() {
            let mut bad = buf.clone();
            bad[i] ^= 0x10;
            assert!(decode(&bad).is_err(), "flip at byte {i} went unnoticed");
        }
    }
}
