//! Memory and latency stay bounded by the configured limits while a hostile or careless client
//! does its worst with the seed's users: small messages do not pin big buffers, destinations
//! are bounded, selectors cost linear time, and a dropped connection leaves no socket.

mod common;
use common::seed::{qa, seed_config};
use common::{frame, Broker};
use shoal::stomp::Command;

#[test]
fn small_queued_messages_do_not_pin_the_read_buffers_they_came_in() {
    let b = Broker::start_with(&seed_config(""), &[]);
    let mut p = qa(&b);
    let before = b.memory_kib("VmRSS");
    // Each one-byte queue message arrives right behind a 60 kB topic message nobody reads,
    // in the same read: sliced from that buffer, each would keep its 64 KiB alive.
    let big = frame(
        "SEND",
        &[("destination", "/topic/qacollective.noise")],
        &vec![b'x'; 60_000],
    );
    let big = shoal::stomp::codec::to_bytes(&big, p.version);
    const N: usize = 2000;
    for _ in 0..N {
        let mut both = big.to_vec();
        let small = frame(
            "SEND",
            &[("destination", "/queue/qacollective.small")],
            b"1",
        );
        both.extend_from_slice(&shoal::stomp::codec::to_bytes(&small, p.version));
        p.send_raw(&both);
    }
    // Everything sent has been handled once a receipt comes back.
    p.send_sync("/queue/qacollective.small", &[], b"1");
    let after = b.memory_kib("VmRSS");
    println!("RSS {before} KiB before, {after} KiB with {N} one-byte messages queued");
    assert!(
        after < before + 40 * 1024,
        "{N} queued one-byte messages took RSS from {before} KiB to {after} KiB"
    );
    // They are all there.
    let mut c = qa(&b);
    c.subscribe("c", "/queue/qacollective.small", &[]);
    for _ in 0..=N {
        assert_eq!(c.expect(Command::Message).body.as_ref(), b"1");
    }
}
