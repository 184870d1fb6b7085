//! Incremental STOMP frame decoding and encoding.
//!
//! Like mini-redis' `Frame::check`, decoding first asks "is a whole frame in the buffer?";
//! "not yet" is a normal answer (`Ok(None)`), not an error. The Ruby stomp gem that MCollective
//! uses writes the command line in its own TCP segment, so a frame arriving in pieces is the
//! common case, not an edge case. Limits are checked *while* scanning, so a peer can never make
//! us buffer more than `max_frame_bytes` waiting for a terminator that never comes.

pub use super::escape::put_header;
use super::escape::unescape;
use super::frame::{Command, Frame};
use super::headers::Headers;
use super::version::Version;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use smallvec::SmallVec;
use thiserror::Error;

/// Bodies shorter than this are copied out of the read buffer; longer ones are sliced from it
/// (no copy), and so pin at most the buffer that was grown to hold them. Copying 64 KiB costs a
/// few microseconds; what it saves is a queued small message pinning a whole read buffer.
pub const COPY_BODIES_BELOW: usize = 64 * 1024;

/// Hard limits on what a peer may send. The defaults suit MCollective traffic with room to spare.
#[derive(Debug, Clone, Copy)]
pub struct FrameLimits {
    /// Whole frame: command, headers and body.
    pub max_frame_bytes: usize,
    pub max_body_bytes: usize,
    pub max_headers: usize,
    pub max_header_line: usize,
}

impl Default for FrameLimits {
    fn default() -> Self {
        FrameLimits {
            max_frame_bytes: 4 * 1024 * 1024 + 64 * 1024,
            max_body_bytes: 4 * 1024 * 1024,
            max_headers: 128,
            max_header_line: 16 * 1024,
        }
    }
}

/// Why a frame was rejected. Every variant becomes the `message` of an ERROR frame, so each
/// says precisely what was wrong and which limit applied.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum FrameError {
    #[error("unknown command {0:?}")]
    UnknownCommand(String),
    #[error("header line longer than {limit} bytes")]
    HeaderLineTooLong { limit: usize },
    #[error("more than {limit} headers")]
    TooManyHeaders { limit: usize },
    #[error("frame larger than {limit} bytes")]
    FrameTooLarge { limit: usize },
    #[error("body larger than {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("invalid content-length {0:?}")]
    BadContentLength(String),
    #[error("body of content-length {0} not followed by a NUL octet")]
    MissingNul(usize),
    #[error("header line without ':' : {0:?}")]
    MalformedHeader(String),
    #[error("undefined escape sequence in header {0:?}")]
    BadEscape(String),
    #[error("frame is not valid UTF-8 in its command or headers")]
    NotUtf8,
    /// A NUL ends a frame: one inside a header would reach subscribers as a frame boundary.
    #[error("NUL octet in the headers")]
    NulInHeaders,
}

/// Decodes frames from a byte buffer, remembering how far it has already looked so that a large
/// body arriving in many pieces is scanned once, not once per piece.
#[derive(Debug)]
pub struct Decoder {
    pub limits: FrameLimits,
    /// Escaping rules follow the negotiated version; 1.0 until CONNECTED.
    pub version: Version,
    /// Bytes of the pending frame already known to contain no NUL (body scan resume point).
    scanned: usize,
    /// Where each line of the pending frame starts and ends; kept to spare an allocation per
    /// frame.
    lines: Vec<(usize, usize)>,
}

impl Decoder {
    pub fn new(limits: FrameLimits) -> Decoder {
        Decoder {
            limits,
            version: Version::V1_0,
            scanned: 0,
            lines: Vec::with_capacity(16),
        }
    }

    /// Skips heart-beat EOLs. Returns true when at least one was consumed, so a session can
    /// count them as signs of life.
    pub fn skip_heartbeats(&mut self, buf: &mut BytesMut) -> bool {
        let mut n = 0;
        while n < buf.len() {
            match buf[n] {
                b'\n' => n += 1,
                b'\r' if buf.get(n + 1) == Some(&b'\n') => n += 2,
                _ => break,
            }
        }
        if n > 0 {
            buf.advance(n);
            self.scanned = 0;
        }
        n > 0
    }

    /// Takes one whole frame off the front of `buf`, or returns `Ok(None)` when more bytes are
    /// needed. After an `Err` the stream is out of sync and the connection must be closed.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        self.skip_heartbeats(buf);
        if buf.is_empty() {
            return Ok(None);
        }
        // Command and header lines.
        let mut lines = std::mem::take(&mut self.lines);
        lines.clear();
        let r = self.decode_lines(buf, &mut lines);
        self.lines = lines;
        r
    }

    fn decode_lines(
        &mut self,
        buf: &mut BytesMut,
        lines: &mut Vec<(usize, usize)>,
    ) -> Result<Option<Frame>, FrameError> {
        let limits = self.limits;
        let mut pos = 0;
        // One search over the buffer yields every line end in turn (a search per line cost
        // more, on frames with many short header lines).
        let mut newlines = memchr::memchr_iter(b'\n', &buf[..]);
        loop {
            let Some(at) = newlines.next() else {
                if buf.len() - pos > limits.max_header_line {
                    return Err(FrameError::HeaderLineTooLong {
                        limit: limits.max_header_line,
                    });
                }
                if buf.len() > limits.max_frame_bytes {
                    return Err(FrameError::FrameTooLarge {
                        limit: limits.max_frame_bytes,
                    });
                }
                return Ok(None);
            };
            if at - pos > limits.max_header_line {
                return Err(FrameError::HeaderLineTooLong {
                    limit: limits.max_header_line,
                });
            }
            let mut end = at;
            if end > pos && buf[end - 1] == b'\r' {
                end -= 1;
            }
            let next = at + 1;
            if end == pos && !lines.is_empty() {
                pos = next;
                break; // blank line: end of headers
            }
            lines.push((pos, end));
            if lines.len() > limits.max_headers + 1 {
                return Err(FrameError::TooManyHeaders {
                    limit: limits.max_headers,
                });
            }
            pos = next;
            if pos > limits.max_frame_bytes {
                return Err(FrameError::FrameTooLarge {
                    limit: limits.max_frame_bytes,
                });
            }
        }
        let header_end = pos;
        let (cs, ce) = lines[0];
        let command = Command::parse(&buf[cs..ce]).ok_or_else(|| {
            FrameError::UnknownCommand(String::from_utf8_lossy(&buf[cs..ce]).into_owned())
        })?;
        // The header lines as one string, validated once (lines split at ASCII bytes stay
        // valid UTF-8). Empty when the frame has no headers.
        let first = lines.get(1).map_or(header_end, |l| l.0);
        let block =
            std::str::from_utf8(&buf[first..header_end]).map_err(|_| FrameError::NotUtf8)?;
        if memchr(0, block.as_bytes()).is_some() {
            return Err(FrameError::NulInHeaders);
        }
        let line_of = |&(s, e): &(usize, usize)| &block[s - first..e - first];
        // The body's length first, from the raw lines ("content-length" has nothing to
        // unescape; the first one wins): a frame whose body has not all arrived yet is
        // left for later before any header is copied out.
        let content_length = lines[1..]
            .iter()
            .find_map(|l| line_of(l).strip_prefix("content-length:"))
            .map(|v| {
                v.trim()
                    .parse::<usize>()
                    .map_err(|_| FrameError::BadContentLength(v.to_string()))
            })
            .transpose()?;
        let body_len = match content_length {
            Some(len) => {
                if len > limits.max_body_bytes {
                    return Err(FrameError::BodyTooLarge {
                        limit: limits.max_body_bytes,
                    });
                }
                if header_end + len > limits.max_frame_bytes {
                    return Err(FrameError::FrameTooLarge {
                        limit: limits.max_frame_bytes,
                    });
                }
                if buf.len() < header_end + len + 1 {
                    return Ok(None);
                }
                if buf[header_end + len] != 0 {
                    return Err(FrameError::MissingNul(len));
                }
                len
            }
            None => {
                let from = self.scanned.max(header_end);
                match memchr(0, &buf[from..]) {
                    Some(i) => from + i - header_end,
                    None => {
                        self.scanned = buf.len();
                        let body_so_far = buf.len() - header_end;
                        if body_so_far > limits.max_body_bytes {
                            return Err(FrameError::BodyTooLarge {
                                limit: limits.max_body_bytes,
                            });
                        }
                        if buf.len() > limits.max_frame_bytes {
                            return Err(FrameError::FrameTooLarge {
                                limit: limits.max_frame_bytes,
                            });
                        }
                        return Ok(None);
                    }
                }
            }
        };
        if body_len > limits.max_body_bytes {
            return Err(FrameError::BodyTooLarge {
                limit: limits.max_body_bytes,
            });
        }
        if header_end + body_len > limits.max_frame_bytes {
            return Err(FrameError::FrameTooLarge {
                limit: limits.max_frame_bytes,
            });
        }
        let headers = self.headers(command, &lines[1..], block, first)?;
        buf.advance(header_end);
        let body = if body_len < COPY_BODIES_BELOW {
            // A slice would keep the whole read buffer alive for as long as the message is
            // queued: 3 000 one-byte messages held 252 MiB that way.
            let body = Bytes::copy_from_slice(&buf[..body_len]);
            buf.advance(body_len);
            body
        } else {
            buf.split_to(body_len).freeze()
        };
        buf.advance(1); // the NUL
        self.scanned = 0;
        Ok(Some(Frame {
            command,
            headers,
            body,
        }))
    }
}

impl Decoder {
    /// Copies out the header lines of a complete frame (`lines`, offsets into the buffer;
    /// `block` holds them from offset `first`), unescaped as the version requires.
    fn headers(
        &self,
        command: Command,
        lines: &[(usize, usize)],
        block: &str,
        first: usize,
    ) -> Result<Headers, FrameError> {
        // One scan of the whole block: most frames have nothing to unescape at all, and
        // then, unless the lines end in CRLF, the block *is* the headers' text (one copy).
        let escaped = command.escapes_headers()
            && self.version > Version::V1_0
            && memchr(b'\\', block.as_bytes()).is_some();
        let Some(&(_, last)) = lines.last() else {
            return Ok(Headers::new());
        };
        // Room for the two headers a broker adds to a message (priority, timestamp).
        const SPARE: usize = 32;
        let text = &block[..last - first + 1];
        if !escaped && memchr(b'\r', text.as_bytes()).is_none() {
            let spans: SmallVec<[(usize, usize); 16]> =
                lines.iter().map(|&(s, e)| (s - first, e - first)).collect();
            return Headers::from_wire(text, &spans, SPARE)
                .map_err(|(s, e)| FrameError::MalformedHeader(text[s..e].to_string()));
        }
        let mut headers = Headers::with_capacity(lines.len() + 2, block.len() + SPARE);
        for &(s, e) in lines {
            let line = &block[s - first..e - first];
            let Some(colon) = memchr(b':', line.as_bytes()) else {
                return Err(FrameError::MalformedHeader(line.to_string()));
            };
            let (k, v) = (&line[..colon], &line[colon + 1..]);
            if escaped && line.contains('\\') {
                let k =
                    unescape(k, self.version).ok_or_else(|| FrameError::BadEscape(line.into()))?;
                let v =
                    unescape(v, self.version).ok_or_else(|| FrameError::BadEscape(line.into()))?;
                headers.push(&k, &v);
            } else {
                headers.push(k, v);
            }
        }
        Ok(headers)
    }
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    memchr::memchr(needle, hay)
}

/// Appends `frame` to `out` in wire form for `version`. A `content-length` header is added when
/// the frame has a body and none was given, so bodies with NULs survive.
pub fn encode(frame: &Frame, version: Version, out: &mut BytesMut) {
    let escaped = frame.command.escapes_headers();
    out.reserve(64 + frame.body.len());
    out.put_slice(frame.command.as_str().as_bytes());
    out.put_u8(b'\n');
    frame.headers.encode_into(out, version, escaped, &[]);
    if !frame.body.is_empty() && !frame.headers.contains("content-length") {
        put_header_num(out, "content-length", frame.body.len() as u64);
    }
    out.put_u8(b'\n');
    out.put_slice(&frame.body);
    out.put_u8(0);
}

/// Writes `name:number` without going through a `String`.
pub fn put_header_num(out: &mut BytesMut, k: &str, n: u64) {
    out.put_slice(k.as_bytes());
    out.put_u8(b':');
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.put_slice(&digits[i..]);
    out.put_u8(b'\n');
}

/// Encodes into a fresh buffer; convenient for clients and tests.
pub fn to_bytes(frame: &Frame, version: Version) -> Bytes {
    let mut out = BytesMut::new();
    encode(frame, version, &mut out);
    out.freeze()
}
