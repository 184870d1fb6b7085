//! Property-based fuzzing of everything that parses untrusted input: the STOMP frame decoder
//! (random bytes, mutated real frames, any split into TCP pieces) and the selector parser and
//! evaluator. The property is "no panic, and a clean error or a frame" — never a crash, never
//! a hang. CI runs a bounded number of cases; run longer with e.g.
//! `SHOAL_FUZZ_CASES=1000000 cargo test --release --test fuzz_parsers`.

use bytes::BytesMut;
use proptest::prelude::*;
use shoal::broker::selector::Selector;
use shoal::stomp::{Decoder, FrameLimits, Version};

fn cases() -> u32 {
    std::env::var("SHOAL_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

const SEEDS: &[&[u8]] = &[
    b"CONNECT\naccept-version:1.0,1.1,1.2\nhost:/\nheart-beat:10000,10000\nlogin:a\npasscode:b:c\n\n\0",
    b"SEND\ndestination:/topic/mcollective.discovery.agent\ncontent-length:5\nreply-to:/queue/mcollective.reply.x_1.1\n\na\0b\0c\0",
    b"SUBSCRIBE\nid:1\ndestination:/queue/mcollective.nodes\nselector:mc_identity = 'node1'\nack:client-individual\n\n\0",
    b"MESSAGE\r\nsubscription:1\r\nx:a\\cb\\\\c\\n\r\n\r\nbody\0\n\n\n",
    b"ACK\nid:7:ID:x-1\ntransaction:t\n\n\0BEGIN\ntransaction:t\n\n\0",
];

/// Feeds `bytes` to a decoder in pieces of the given sizes; returns how many frames came out.
fn decode_in_pieces(bytes: &[u8], cuts: &[usize], version: Version) -> usize {
    let mut d = Decoder::new(FrameLimits {
        max_frame_bytes: 64 * 1024,
        max_body_bytes: 32 * 1024,
        max_headers: 32,
        max_header_line: 4096,
    });
    d.version = version;
    let mut buf = BytesMut::new();
    let mut frames = 0;
    let mut pos = 0;
    let mut pieces = cuts.iter().cycle();
    while pos < bytes.len() {
        let n = (*pieces.next().unwrap_or(&1)).clamp(1, bytes.len() - pos);
        buf.extend_from_slice(&bytes[pos..pos + n]);
        pos += n;
        loop {
            match d.decode(&mut buf) {
                Ok(Some(_)) => frames += 1,
                Ok(None) => break,
                Err(_) => return frames, // the session would send ERROR and close here
            }
        }
    }
    frames
}

fn versions() -> impl Strategy<Value = Version> {
    prop_oneof![
        Just(Version::V1_0),
        Just(Version::V1_1),
        Just(Version::V1_2)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn random_bytes_never_panic_the_decoder(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
        cuts in proptest::collection::vec(1usize..64, 1..8),
        v in versions(),
    ) {
        decode_in_pieces(&bytes, &cuts, v);
    }

    #[test]
    fn mutated_real_frames_never_panic_the_decoder(
        seed in 0..SEEDS.len(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 0..12),
        cuts in proptest::collection::vec(1usize..32, 1..6),
        v in versions(),
    ) {
        let mut bytes = SEEDS[seed].to_vec();
        for (at, byte, op) in edits {
            if bytes.is_empty() { bytes.push(byte); continue; }
            let i = at.index(bytes.len());
            match op {
                0 => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                _ => { bytes.remove(i); }
            }
        }
        decode_in_pieces(&bytes, &cuts, v);
    }

    #[test]
    fn unmutated_seeds_decode_whatever_the_pieces(seed in 0..SEEDS.len(), cuts in proptest::collection::vec(1usize..16, 1..6)) {
        prop_assert!(decode_in_pieces(SEEDS[seed], &cuts, Version::V1_2) >= 1);
    }

    #[test]
    fn selectors_never_panic(src in "[a-z_ ()'=<>!%,.0-9\\-+*/]{0,60}|(NOT |AND |OR |IN |LIKE |ESCAPE |IS |NULL |BETWEEN |TRUE |FALSE |[a-z]{1,3} |'[a-z%_]{0,4}' |[0-9.eE+-]{1,6} |[=<>(),] ){0,14}") {
        if let Ok(sel) = Selector::parse(&src) {
            let headers = [("a", "1"), ("b", "x"), ("mc_identity", "node1"), ("n", "2.5e3")];
            let lookup = |name: &str| headers.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
            let _ = sel.matches(&lookup);
        }
    }
}
