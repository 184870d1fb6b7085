//! Header value escaping, which differs per version: 1.0 has none, 1.1 escapes `\n`, `:` and
//! `\`, 1.2 adds `\r`. An undefined escape is a fatal protocol error in 1.1 and 1.2.

use super::version::Version;
use bytes::{BufMut, BytesMut};

/// Undoes escaping; `None` on an undefined escape sequence. Copies the runs between
/// backslashes whole (found with `memchr`): header values such as `ID\cbroker-…` arrive
/// with an escape in nearly every message, and a char-by-char loop cost more than the rest of
/// the decoding.
pub fn unescape(s: &str, version: Version) -> Option<String> {
    let bytes = s.as_bytes();
    let Some(first) = (version != Version::V1_0)
        .then(|| memchr::memchr(b'\\', bytes))
        .flatten()
    else {
        return Some(s.to_string());
    };
    let mut out = String::with_capacity(s.len());
    let mut at = first;
    out.push_str(&s[..at]);
    loop {
        let c = match bytes.get(at + 1)? {
            b'n' => '\n',
            b'c' => ':',
            b'\\' => '\\',
            b'r' if version == Version::V1_2 => '\r',
            _ => return None,
        };
        out.push(c);
        let from = at + 2;
        match memchr::memchr(b'\\', &bytes[from..]) {
            Some(i) => {
                out.push_str(&s[from..from + i]);
                at = from + i;
            }
            None => {
                out.push_str(&s[from..]);
                return Some(out);
            }
        }
    }
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

/// Appends `s` escaped for `version`. Runs without special bytes are copied whole: every
/// header of every MESSAGE passes here, and the broker's own message ids (`ID:…`) always
/// hold one colon, so a byte-at-a-time slow path would be the common path.
pub fn escape_into(out: &mut BytesMut, s: &str, version: Version) {
    if version == Version::V1_0 {
        return put_unescaped(out, s);
    }
    let bytes = s.as_bytes();
    let mut from = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'\n' => b"\\n",
            b':' => b"\\c",
            b'\\' => b"\\\\",
            b'\r' if version == Version::V1_2 => b"\\r",
            _ => continue,
        };
        out.put_slice(&bytes[from..i]);
        out.put_slice(esc);
        from = i + 1;
    }
    out.put_slice(&bytes[from..]);
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
