//! A connection's read buffer: small while the connection is quiet, 64 KiB while it streams.
//!
//! A fleet is thousands of connections that sit idle for hours (an MCollective node waits for
//! requests); a 64 KiB buffer each is 640 MiB for 10 000 nodes once an allocator touches it.
//! A connection starts with 4 KiB, reads 64 KiB at a time once a read fills what it had, and
//! goes back to 4 KiB when a read leaves it empty and not busy.
//!
//! Bodies under 64 KiB are copied out of the buffer (`stomp::codec::COPY_BODIES_BELOW`), so
//! a queued message holds only its own bytes; larger ones are sliced from it, and a buffer
//! grown for such a frame is not kept for the small frames after it.

use bytes::BytesMut;

const SMALL: usize = 4 * 1024;
const LARGE: usize = 64 * 1024;

pub(super) struct ReadBuf {
    pub buf: BytesMut,
    /// The last read filled all the room it had: more is probably waiting.
    busy: bool,
}

impl ReadBuf {
    pub fn new() -> ReadBuf {
        ReadBuf {
            buf: BytesMut::with_capacity(SMALL),
            busy: false,
        }
    }

    /// Makes room for the next read, and returns how much there is.
    pub fn fit(&mut self) -> usize {
        let buf = &mut self.buf;
        if buf.is_empty() && !self.busy && buf.capacity() > 2 * SMALL {
            *buf = BytesMut::with_capacity(SMALL);
        } else if buf.capacity() > 2 * LARGE && buf.len() < LARGE / 4 {
            let mut fresh = BytesMut::with_capacity(if self.busy { LARGE } else { SMALL });
            fresh.extend_from_slice(buf);
            *buf = fresh;
        } else {
            let want = if self.busy { LARGE } else { SMALL };
            if buf.capacity() - buf.len() < want / 4 {
                buf.reserve(want);
            }
        }
        buf.capacity() - buf.len()
    }

    /// A read of `n` bytes into `room` (what `fit` returned).
    pub fn filled(&mut self, n: usize, room: usize) {
        self.busy = n >= room;
    }
}
