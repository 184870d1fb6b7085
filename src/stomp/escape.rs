//! Header value escaping, which differs per version: 1.0 has none, 1.1 escapes `\n`, `:` and
//! `\`, 1.2 adds `\r`. An undefined escape is a fatal protocol error in 1.1 and 1.2.

use super::version::Version;
use bytes::{BufMut, BytesMut};

/// Undoes escaping; `None` on an undefined escape sequence.
pub fn unescape(s: &str, version: Version) -> Option<String> {
    if version == Version::V1_0 || !s.contains('\\') {
        return Some(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'n' => out.push('\n'),
            'c' => out.push(':'),
            '\\' => out.push('\\'),
            'r' if version == Version::V1_2 => out.push('\r'),
            _ => return None,
        }
    }
    Some(out)
}

/// Appends `s` with no escaping (STOMP 1.0, CONNECT/CONNECTED headers). A line break cannot be
/// represented there and would end the header line early, corrupting the frame, so it is sent as
/// a space.
pub fn put_unescaped(out: &mut BytesMut, s: &str) {
    if !s.bytes().any(|b| b == b'\n' || b == b'\r') {
        out.put_slice(s.as_bytes());
        return;
    }
    out.extend(
        s.bytes()
            .map(|b| if b == b'\n' || b == b'\r' { b' ' } else { b }),
    );
}

/// Whether `s` holds a byte that `version` escapes. Every header of every MESSAGE passes
/// here, nearly always with nothing to escape: the loop has no early exit and no branches, so
/// the compiler turns it into SIMD compares (a short-circuiting `any` ran byte by byte, ~7 %
/// of a broker's profile on the bridge path).
fn needs_escape(s: &[u8], version: Version) -> bool {
    let (mut special, mut cr) = (false, false);
    for &b in s {
        special |= (b == b'\n') | (b == b':') | (b == b'\\');
        cr |= b == b'\r';
    }
    special || (cr && version == Version::V1_2)
}

/// Appends `s` escaped for `version`.
pub fn escape_into(out: &mut BytesMut, s: &str, version: Version) {
    if version == Version::V1_0 {
        return put_unescaped(out, s);
    }
    if !needs_escape(s.as_bytes(), version) {
        out.put_slice(s.as_bytes());
        return;
    }
    for b in s.bytes() {
        match b {
            b'\n' => out.put_slice(b"\\n"),
            b':' => out.put_slice(b"\\c"),
            b'\\' => out.put_slice(b"\\\\"),
            b'\r' if version == Version::V1_2 => out.put_slice(b"\\r"),
            _ => out.put_u8(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_per_version() {
        let raw = "a:b\nc\\d\re";
        let mut out = BytesMut::new();
        escape_into(&mut out, raw, Version::V1_2);
        assert_eq!(&out[..], b"a\\cb\\nc\\\\d\\re");
        let s = std::str::from_utf8(&out).unwrap();
        assert_eq!(unescape(s, Version::V1_2).unwrap(), raw);

        let mut out = BytesMut::new();
        escape_into(&mut out, raw, Version::V1_1);
        assert_eq!(&out[..], b"a\\cb\\nc\\\\d\re");

        let mut out = BytesMut::new();
        escape_into(&mut out, raw, Version::V1_0);
        assert_eq!(&out[..], b"a:b c\\d e", "1.0 cannot carry line breaks");
    }

    #[test]
    fn undefined_escapes_are_rejected() {
        assert_eq!(unescape("a\\tb", Version::V1_2), None);
        assert_eq!(unescape("a\\rb", Version::V1_1), None);
        assert_eq!(unescape("trailing\\", Version::V1_2), None);
        assert_eq!(unescape("a\\tb", Version::V1_0).unwrap(), "a\\tb");
    }
}
