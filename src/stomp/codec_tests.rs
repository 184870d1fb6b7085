use super::codec::{encode, to_bytes, Decoder, FrameError, FrameLimits};
use super::frame::{Command, Frame};
use super::version::Version;
use bytes::BytesMut;

fn decode_all(input: &[u8], version: Version) -> Result<Vec<Frame>, FrameError> {
    let mut d = Decoder::new(FrameLimits::default());
    d.version = version;
    let mut buf = BytesMut::from(input);
    let mut out = vec![];
    while let Some(f) = d.decode(&mut buf)? {
        out.push(f);
    }
    Ok(out)
}

#[test]
fn decodes_a_simple_frame_with_cr_lf_and_heartbeats() {
    let frames = decode_all(
        b"\n\r\nSEND\r\ndestination:/queue/a\r\n\r\nhello\0\n\nSEND\ndestination:/topic/b\n\nx\0",
        Version::V1_2,
    )
    .unwrap();
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0].command, Command::Send);
    assert_eq!(frames[0].get("destination"), Some("/queue/a"));
    assert_eq!(&frames[0].body[..], b"hello");
    assert_eq!(frames[1].get("destination"), Some("/topic/b"));
}

#[test]
fn content_length_body_may_contain_nul() {
    let frames = decode_all(
        b"SEND\ndestination:/q\ncontent-length:5\n\na\0b\0c\0",
        Version::V1_2,
    )
    .unwrap();
    assert_eq!(&frames[0].body[..], b"a\0b\0c");
}

#[test]
fn content_length_must_be_followed_by_nul() {
    let err = decode_all(b"SEND\ncontent-length:2\n\nabc\0", Version::V1_2).unwrap_err();
    assert_eq!(err, FrameError::MissingNul(2));
}

#[test]
fn first_repeated_header_wins() {
    let frames = decode_all(b"SEND\nfoo:1\nfoo:2\n\n\0", Version::V1_2).unwrap();
    assert_eq!(frames[0].get("foo"), Some("1"));
    assert_eq!(frames[0].headers.len(), 2);
}

#[test]
fn escapes_follow_version_but_not_on_connect() {
    let f = decode_all(b"SEND\nk\\cx:a\\nb\\\\c\n\n\0", Version::V1_2).unwrap();
    assert_eq!(f[0].get("k:x"), Some("a\nb\\c"));
    let f = decode_all(b"SEND\nk:a\\nb\n\n\0", Version::V1_0).unwrap();
    assert_eq!(f[0].get("k"), Some("a\\nb"));
    let f = decode_all(b"CONNECT\npasscode:a\\cb\n\n\0", Version::V1_2).unwrap();
    assert_eq!(f[0].get("passcode"), Some("a\\cb"));
    let err = decode_all(b"SEND\nk:a\\tb\n\n\0", Version::V1_2).unwrap_err();
    assert!(matches!(err, FrameError::BadEscape(_)));
}

#[test]
fn every_split_point_yields_the_same_frame() {
    let wire = b"MESSAGE\nsubscription:0\nmessage-id:7\ndestination:/topic/x\ncontent-length:3\n\na\0b\0\n";
    let whole = decode_all(wire, Version::V1_2).unwrap();
    for cut in 1..wire.len() {
        let mut d = Decoder::new(FrameLimits::default());
        d.version = Version::V1_2;
        let mut buf = BytesMut::from(&wire[..cut]);
        let mut got = vec![];
        while let Some(f) = d.decode(&mut buf).unwrap() {
            got.push(f);
        }
        buf.extend_from_slice(&wire[cut..]);
        while let Some(f) = d.decode(&mut buf).unwrap() {
            got.push(f);
        }
        assert_eq!(got, whole, "split at {cut}");
    }
}

#[test]
fn limits_are_enforced_before_the_frame_completes() {
    let limits = FrameLimits {
        max_frame_bytes: 1000,
        max_body_bytes: 100,
        max_headers: 3,
        max_header_line: 50,
    };
    let mut d = Decoder::new(limits);
    let mut buf = BytesMut::from(&[b'A'; 60][..]);
    assert_eq!(
        d.decode(&mut buf),
        Err(FrameError::HeaderLineTooLong { limit: 50 })
    );

    let mut d = Decoder::new(limits);
    let mut buf = BytesMut::from(&b"SEND\na:1\nb:2\nc:3\nd:4\n"[..]);
    assert_eq!(
        d.decode(&mut buf),
        Err(FrameError::TooManyHeaders { limit: 3 })
    );

    let mut d = Decoder::new(limits);
    let mut buf = BytesMut::from(&b"SEND\ncontent-length:101\n\n"[..]);
    assert_eq!(
        d.decode(&mut buf),
        Err(FrameError::BodyTooLarge { limit: 100 })
    );

    let mut d = Decoder::new(limits);
    let mut buf = BytesMut::from(&b"SEND\n\n"[..]);
    buf.extend_from_slice(&[b'x'; 101]);
    assert_eq!(
        d.decode(&mut buf),
        Err(FrameError::BodyTooLarge { limit: 100 })
    );

    let mut d = Decoder::new(limits);
    let mut buf = BytesMut::from(&b"SEND\ncontent-length:zz\n\n\0"[..]);
    assert!(matches!(
        d.decode(&mut buf),
        Err(FrameError::BadContentLength(_))
    ));

    let mut d = Decoder::new(limits);
    let mut buf = BytesMut::from(&b"FROB\n\n\0"[..]);
    assert_eq!(
        d.decode(&mut buf),
        Err(FrameError::UnknownCommand("FROB".into()))
    );

    let mut d = Decoder::new(limits);
    let mut buf = BytesMut::from(&b"SEND\nnocolon\n\n\0"[..]);
    assert!(matches!(
        d.decode(&mut buf),
        Err(FrameError::MalformedHeader(_))
    ));
}

#[test]
fn encode_then_decode_round_trips_for_each_version() {
    for v in [Version::V1_0, Version::V1_1, Version::V1_2] {
        let f = Frame::new(Command::Message)
            .header("destination", "/queue/a")
            .header(
                "custom",
                if v == Version::V1_0 {
                    "plain"
                } else {
                    "a:b\nc"
                },
            )
            .with_body(&b"x\0y"[..]);
        let mut out = BytesMut::new();
        encode(&f, v, &mut out);
        let got = decode_all(&out, v).unwrap();
        assert_eq!(got[0].get("custom"), f.get("custom"));
        assert_eq!(&got[0].body[..], b"x\0y");
        assert_eq!(got[0].get("content-length"), Some("3"));
    }
    assert_eq!(
        &to_bytes(
            &Frame::new(Command::Receipt).header("receipt-id", "1"),
            Version::V1_2
        )[..],
        b"RECEIPT\nreceipt-id:1\n\n\0"
    );
}

/// The frames real mcollective 2.12 clients and servers sent to ActiveMQ parse, with their
/// Ruby Marshal bodies intact.
#[test]
fn real_mcollective_frames_parse() {
    let text = include_str!("../../tests/fixtures/mcollective-frames.txt");
    let mut n = 0;
    for block in text.split("===== ").skip(1) {
        let (_, rest) = block.split_once('\n').unwrap();
        let (head, body) = match rest.split_once("BODY ") {
            Some((h, b)) => (h, Some(b.trim())),
            None => (rest, None),
        };
        let head = head.trim_end_matches('\n');
        let mut wire = head.as_bytes().to_vec();
        wire.extend_from_slice(b"\n\n");
        let body_bytes = body.map(python_bytes).unwrap_or_default();
        wire.extend_from_slice(&body_bytes);
        wire.push(0);
        let frames = decode_all(&wire, Version::V1_0).unwrap();
        assert_eq!(frames.len(), 1);
        let f = &frames[0];
        if let Some(len) = f.get("content-length") {
            assert_eq!(len.parse::<usize>().unwrap(), f.body.len(), "{head}");
        }
        n += 1;
    }
    assert!(n > 20, "only {n} frames in fixture");
}

/// Decodes a Python bytes literal `b'...'` as printed by repr().
fn python_bytes(lit: &str) -> Vec<u8> {
    let inner = &lit[2..lit.len() - 1];
    let b = inner.as_bytes();
    let mut out = vec![];
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            match b[i + 1] {
                b'x' => {
                    out.push(u8::from_str_radix(&inner[i + 2..i + 4], 16).unwrap());
                    i += 4;
                }
                b'n' => {
                    out.push(b'\n');
                    i += 2;
                }
                b'r' => {
                    out.push(b'\r');
                    i += 2;
                }
                b't' => {
                    out.push(b'\t');
                    i += 2;
                }
                b'0' => {
                    out.push(0);
                    i += 2;
                }
                c => {
                    out.push(c);
                    i += 2;
                }
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}
