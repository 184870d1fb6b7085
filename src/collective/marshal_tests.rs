use super::*;

/// A discovery ping request captured from Debian's `mco ping` (tests/fixtures).
pub(crate) const PING_REQUEST: &[u8] = b"\x04\x08{\x0f:\x09body\x22\x13\x04\x08I\x22\x09ping\x06:\x06ET:\x0dsenderidI\x22\x10client-9044\x06:\x06ET:\x0erequestidI\x22%3eebe5bfa9f75a97ab53a03361e45f94\x06;\x07F:\x0bfilter{\x0aI\x22\x09fact\x06;\x07T[\x00I\x22\x0dcf_class\x06;\x07T[\x00I\x22\x0aagent\x06;\x07T[\x00I\x22\x0didentity\x06;\x07T[\x00I\x22\x0dcompound\x06;\x07T[\x00:\x0fcollectiveI\x22\x10mcollective\x06;\x07T:\x0aagentI\x22\x0ediscovery\x06;\x07T:\x0dcalleridI\x22\x0auid=0\x06;\x07T:\x08ttliA:\x0cmsgtimel+\x076\xbf\x05k:\x09hashI\x22%a8c1d3260d9626991ecb6d2c04a56389\x06;\x07F";

/// Its reply from a real mcollectived.
pub(crate) const PONG_REPLY: &[u8] = b"\x04\x08{\x0b:\x0dsenderidI\x22\x0anode2\x06:\x06ET:\x0erequestidI\x22%3eebe5bfa9f75a97ab53a03361e45f94\x06;\x06F:\x10senderagentI\x22\x0ediscovery\x06;\x06T:\x0cmsgtimel+\x076\xbf\x05k:\x09body\x22\x13\x04\x08I\x22\x09pong\x06:\x06ET:\x09hashI\x22%6c6927c1d8b788966ca6a69de9afc62e\x06;\x06F";

/// A directed `mco rpc rpcutil ping`: the `:agent` value is an object link (`@\x10`).
pub(crate) const RPC_REQUEST: &[u8] = b"\x04\x08{\x0f:\x09body\x22`\x04\x08{\x09:\x0aagentI\x22\x0crpcutil\x06:\x06ET:\x0bactionI\x22\x09ping\x06;\x06F:\x0bcallerI\x22\x0auid=0\x06;\x06T:\x09data{\x06:\x14process_resultsT:\x0dsenderidI\x22\x10client-9044\x06:\x06ET:\x0erequestidI\x22%daa417083e935e6a8c532ceffe6bb285\x06;\x07F:\x0bfilter{\x0aI\x22\x09fact\x06;\x07T[\x00I\x22\x0dcf_class\x06;\x07T[\x00I\x22\x0aagent\x06;\x07T[\x06I\x22\x0crpcutil\x06;\x07TI\x22\x0didentity\x06;\x07T[\x00I\x22\x0dcompound\x06;\x07T[\x00:\x0fcollectiveI\x22\x10mcollective\x06;\x07T:\x0aagent@\x10:\x0dcalleridI\x22\x0auid=0\x06;\x07T:\x08ttliA:\x0cmsgtimel+\x07P\xbf\x05k:\x09hashI\x22%e3286ee9c43aa48ca471984659827a6c\x06;\x07F";

/// The rpcutil ping reply: `:pong` is a Bignum.
pub(crate) const RPC_REPLY: &[u8] = b"\x04\x08{\x0b:\x0dsenderidI\x22\x0anode1\x06:\x06ET:\x0erequestidI\x22%daa417083e935e6a8c532ceffe6bb285\x06;\x06F:\x10senderagentI\x22\x0crpcutil\x06;\x06T:\x0cmsgtimel+\x07P\xbf\x05k:\x09body\x22A\x04\x08{\x08:\x0fstatuscodei\x00:\x0estatusmsgI\x22\x07OK\x06:\x06ET:\x09data{\x06:\x09pongl+\x07P\xbf\x05k:\x09hashI\x22%421c74086549bd9aaead3a17a3bd7f0b\x06;\x06F";

#[test]
fn captured_request_decodes_and_encodes_back_byte_for_byte() {
    let v = load(PING_REQUEST).unwrap();
    assert_eq!(v.get("senderid").unwrap().as_str(), Some("client-9044"));
    assert_eq!(v.get("ttl").unwrap().as_int(), Some(60));
    assert_eq!(v.get("msgtime").unwrap().as_int(), Some(1_795_538_742));
    assert_eq!(
        v.get("requestid").unwrap(),
        &Value::Str(
            b"3eebe5bfa9f75a97ab53a03361e45f94".to_vec(),
            Encoding::UsAscii
        )
    );
    let filter = v.get("filter").unwrap();
    for key in ["fact", "cf_class", "agent", "identity", "compound"] {
        assert_eq!(filter.get_str_key(key), Some(&Value::Array(vec![])));
    }
    let body = load(v.get("body").unwrap().as_bytes().unwrap()).unwrap();
    assert_eq!(body, Value::str("ping"));
    assert_eq!(dump(&v), PING_REQUEST);
    assert_eq!(dump(&body), b"\x04\x08I\"\tping\x06:\x06ET");
}

#[test]
fn object_links_and_bignums_resolve() {
    let v = load(RPC_REQUEST).unwrap();
    assert_eq!(v.get("agent").unwrap().as_str(), Some("rpcutil"));
    let body = load(v.get("body").unwrap().as_bytes().unwrap()).unwrap();
    assert_eq!(body.get("action").unwrap().as_str(), Some("ping"));
    assert_eq!(
        body.get("data").unwrap().get("process_results"),
        Some(&Value::Bool(true))
    );
    let reply = load(RPC_REPLY).unwrap();
    let inner = load(reply.get("body").unwrap().as_bytes().unwrap()).unwrap();
    assert_eq!(inner.get("statuscode").unwrap().as_int(), Some(0));
    assert_eq!(
        inner.get("data").unwrap().get("pong").unwrap().as_int(),
        Some(1_795_538_768)
    );
    assert_eq!(dump(&load(PONG_REPLY).unwrap()), PONG_REPLY);
    assert_eq!(dump(&reply), RPC_REPLY);
}

#[test]
fn integers_round_trip_at_every_width() {
    for i in [
        0i64,
        1,
        -1,
        122,
        123,
        -123,
        -124,
        255,
        256,
        -256,
        -257,
        65_535,
        (1 << 30) - 1,
        1 << 30,
        -(1 << 30),
        -(1 << 30) - 1,
        1 << 40,
        -(1 << 40),
        i64::MAX,
        i64::MIN + 1,
    ] {
        let v = Value::Int(i);
        assert_eq!(load(&dump(&v)).unwrap(), v, "{i}");
    }
    // What Ruby writes for these (Marshal.dump(300), Marshal.dump(-300), 2**30).
    assert_eq!(dump(&Value::Int(300)), b"\x04\x08i\x02,\x01");
    assert_eq!(dump(&Value::Int(-300)), b"\x04\x08i\xfe\xd4\xfe");
    assert_eq!(dump(&Value::Int(1 << 30)), b"\x04\x08l+\x07\x00\x00\x00@");
}

#[test]
fn nested_values_round_trip() {
    let v = Value::sym_hash([
        ("name", Value::str("wörld")),
        ("n", Value::Float(1.5)),
        ("none", Value::Nil),
        (
            "list",
            Value::Array(vec![Value::Bool(false), Value::sym("name"), Value::Int(-7)]),
        ),
        ("bin", Value::Str(vec![0, 255, 10], Encoding::Binary)),
    ]);
    assert_eq!(load(&dump(&v)).unwrap(), v);
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    assert_eq!(load(b"\x04\x07i\x00"), Err(MarshalError::BadVersion));
    assert_eq!(load(b"\x04\x08[\x07i"), Err(MarshalError::Truncated));
    assert!(matches!(
        load(b"\x04\x08o:\x08Foo\x00"),
        Err(MarshalError::Unsupported('o', 2))
    ));
    assert_eq!(
        load(b"\x04\x08;\x00"),
        Err(MarshalError::BadLink("symbol", 0))
    );
    assert_eq!(
        load(b"\x04\x08@\x00"),
        Err(MarshalError::BadLink("object", 0))
    );
    assert_eq!(load(b"\x04\x080T"), Err(MarshalError::Trailing(1)));
    let deep: Vec<u8> = [4u8, 8]
        .into_iter()
        .chain(std::iter::repeat_n([b'[', 6], 100).flatten())
        .collect();
    assert_eq!(load(&deep), Err(MarshalError::TooDeep));
    // Every prefix of a real message fails cleanly.
    for n in 0..PING_REQUEST.len() {
        assert!(load(&PING_REQUEST[..n]).is_err());
    }
}

#[test]
fn a_link_bomb_is_refused_not_expanded() {
    // [[[…"x"…, @3], @2], @1]: each level links the one inside it, doubling the value; 40
    // levels are 2^40 strings from 135 bytes.
    let levels = 40u8;
    let mut b = vec![4u8, 8];
    for _ in 0..levels {
        b.extend_from_slice(b"[\x07");
    }
    b.extend_from_slice(b"\"\x06x");
    for k in (0..levels).rev() {
        b.push(b'@');
        b.push(k + 1 + 5);
    }
    assert!(
        matches!(load(&b), Err(MarshalError::TooLarge(_))),
        "{:?}",
        load(&b).err()
    );
    // A few levels decode as they should.
    let mut b = vec![4u8, 8];
    b.extend_from_slice(b"[\x07[\x07\"\x06x@\x07@\x06");
    let v = load(&b).unwrap();
    let inner = Value::Array(vec![Value::Str(b"x".to_vec(), Encoding::Binary); 2]);
    assert_eq!(v, Value::Array(vec![inner.clone(), inner]));
}
