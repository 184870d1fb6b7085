use super::*;
use crate::collective::marshal::tests as vectors;
use crate::collective::security::Psk;

fn request(msgtime: i64) -> Request {
    Request {
        request_id: new_request_id(),
        sender_id: "bastion".into(),
        caller_id: "uid=0".into(),
        collective: "qacollective".into(),
        agent: "discovery".into(),
        filter: Filter {
            identities: vec!["node1".into()],
            ..Filter::default()
        },
        ttl: 60,
        msgtime,
        payload: Value::str("ping"),
    }
}

#[test]
fn captured_request_is_authentic_but_expired_now() {
    // Captured on 2026-11-24 with ttl 60: the signature checks out, the age does not.
    match Request::decode(vectors::PING_REQUEST, &Psk::new("interop-psk")) {
        Err(ProtocolError::Expired { sender, ttl, .. }) => {
            assert_eq!(sender, "client-9044");
            assert_eq!(ttl, 60);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        Request::decode(vectors::PING_REQUEST, &Psk::new("wrong")),
        Err(ProtocolError::Security(SecurityError::BadSignature))
    ));
    let reply = Reply::decode(vectors::PONG_REPLY, &Psk::new("interop-psk")).unwrap();
    assert_eq!(reply.sender_id, "node2");
    assert_eq!(reply.sender_agent, "discovery");
    assert_eq!(reply.payload, Value::str("pong"));
}

#[test]
fn requests_and_replies_round_trip_sealed() {
    let psk = Psk::new("s3cret");
    let req = request(now_secs());
    assert_eq!(req.request_id.len(), 32);
    let back = Request::decode(&req.encode(&psk), &psk).unwrap();
    assert_eq!(back, req);
    assert!(matches!(
        Request::decode(&req.encode(&psk), &Psk::new("other")),
        Err(ProtocolError::Security(SecurityError::BadSignature))
    ));
    assert!(matches!(
        Request::decode(&request(now_secs() - 61).encode(&psk), &psk),
        Err(ProtocolError::Expired { age: 61.., .. })
    ));
    let reply = Reply {
        request_id: req.request_id.clone(),
        sender_id: "node1".into(),
        sender_agent: "discovery".into(),
        msgtime: now_secs(),
        payload: Value::str("pong"),
    };
    assert_eq!(Reply::decode(&reply.encode(&psk), &psk).unwrap(), reply);
}

#[test]
fn describe_reads_requests_and_replies_without_the_key() {
    let d = describe(vectors::RPC_REQUEST).unwrap();
    assert!(
        d.contains("from client-9044 (uid=0) to mcollective.rpcutil action \"ping\"")
            && d.contains("data {process_results: true}")
            && d.contains("filter -A rpcutil"),
        "{d}"
    );
    let d = describe(vectors::RPC_REPLY).unwrap();
    assert!(
        d.contains("reply from node1 agent rpcutil")
            && d.contains("status 0 \"OK\" data {pong: 1795538768}"),
        "{d}"
    );
    assert_eq!(describe(b"hello"), None);
}
