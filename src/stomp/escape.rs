//! Header value escaping, which differs per version: 1.0 has none, 1.1 escapes `\n`, `:` and
//! `\`, 1.2 adds `\r`. What a version cannot carry (a line break in 1.0, a CR in 1.1) goes
//! out as a space, so no subscriber is fed a header line its sender did not write. An undefined escape is a fatal protocol error in 1.1 and 1.2.

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

/// Appends `s` escaped for `version`. Runs without special bytes are copied whole, found
/// eight bytes at a time: every header of a frame whose headers are not plain (see
/// `Headers::encode_into`) passes here, and a byte-by-byte scan was once the largest item in
/// a bridged broker's profile.
pub fn escape_into(out: &mut BytesMut, s: &str, version: Version) {
    if version == Version::V1_0 {
        return put_unescaped(out, s);
    }
    // 1.1 has no escape for a CR, and a raw one before the line's end reads as CRLF there
    // (a value cut short): it goes out as a space, as 1.0 sends line breaks.
    let cr = if version == Version::V1_2 {
        &b"\\r"[..]
    } else {
        &b" "[..]
    };
    let mut rest = s.as_bytes();
    while let Some(i) = find_special(rest, true) {
        out.put_slice(&rest[..i]);
        out.put_slice(match rest[i] {
            b'\n' => b"\\n",
            b':' => b"\\c",
            b'\\' => b"\\\\",
            _ => cr,
        });
        rest = &rest[i + 1..];
    }
    out.put_slice(rest);
}

/// Writes one `name:value` line, escaped as `version` requires (`escaped`: false for CONNECT
/// and CONNECTED, whose headers are never escaped).
pub fn put_header(out: &mut BytesMut, k: &str, v: &str, version: Version, escaped: bool) {
    if escaped {
        escape_into(out, k, version);
        out.put_u8(b':');
        escape_into(out, v, version);
    } else {
        put_unescaped(out, k);
        out.put_u8(b':');
        put_unescaped(out, v);
    }
    out.put_u8(b'\n');
}

/// The first byte of `b` that must be escaped (`\n`, `:`, `\\`, and `\r` when `cr`).
pub(crate) fn find_special(b: &[u8], cr: bool) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Nonzero when some byte of `x` equals `byte` (the classic "has zero byte" test on the
    // xor; it can flag a neighbour of a real match, never miss one: the byte loop decides).
    let has = |x: u64, byte: u8| {
        let v = x ^ (ONES * byte as u64);
        v.wrapping_sub(ONES) & !v & HIGH
    };
    let mut at = 0;
    while at + 8 <= b.len() {
        let x = u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
        let mut hit = has(x, b'\n') | has(x, b':') | has(x, b'\\');
        if cr {
            hit |= has(x, b'\r');
        }
        if hit != 0 {
            break;
        }
        at += 8;
    }
    b[at..]
        .iter()
        .position(|&c| c == b'\n' || c == b':' || c == b'\\' || (cr && c == b'\r'))
        .map(|i| at + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specials_are_found_wherever_they_sit() {
        for len in 0..40 {
            for at in 0..len {
                for special in [b'\n', b':', b'\\', b'\r'] {
                    let mut v = vec![b'a'; len];
                    v[at] = special;
                    let expect = (special != b'\r').then_some(at);
                    assert_eq!(find_special(&v, false), expect, "1.1 {len} {at} {special}");
                    assert_eq!(find_special(&v, true), Some(at), "1.2 {len} {at} {special}");
                }
            }
            // Bytes one off a special (0x3b, 0x5d, 0x0b, 0x0c…) are not specials.
            let near: Vec<u8> = (0..len)
                .map(|i| [b';', b']', 0x0b, 0x0c, b'9', 0xff][i % 6])
                .collect();
            assert_eq!(find_special(&near, true), None);
        }
    }

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
        assert_eq!(&out[..], b"a\\cb\\nc\\\\d e", "1.1 cannot carry a CR");

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
