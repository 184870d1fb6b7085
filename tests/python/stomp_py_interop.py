#!/usr/bin/env python3
"""PyPI's stomp-py against a running shoal broker, for STOMP 1.0, 1.1 and 1.2.

Usage: stomp_py_interop.py HOST:PORT
Prints one line per check and ends with 'N passed, N failed'; exits non-zero on any failure.
Driven by tests/interop_stomp_py.rs, which starts the broker.
"""
import queue
import sys
import time
import uuid

import stomp

WAIT = 5.0


class Collector(stomp.ConnectionListener):
    """Keeps every frame the broker sends, by kind."""

    def __init__(self):
        self.messages = queue.Queue()
        self.receipts = queue.Queue()
        self.errors = queue.Queue()

    def on_message(self, frame):
        self.messages.put(frame)

    def on_receipt(self, frame):
        self.receipts.put(frame.headers.get("receipt-id"))

    def on_error(self, frame):
        self.errors.put(frame)


def connect(addr, version, heartbeats=(0, 0)):
    host, port = addr.rsplit(":", 1)
    cls = {"1.0": stomp.Connection10, "1.1": stomp.Connection11, "1.2": stomp.Connection12}[version]
    kwargs = {} if version == "1.0" else {"heartbeats": heartbeats}
    conn = cls([(host, int(port))], **kwargs)
    listener = Collector()
    conn.set_listener("c", listener)
    conn.connect(wait=True)
    return conn, listener


def message(listener, timeout=WAIT):
    return listener.messages.get(timeout=timeout)


def nothing(listener, timeout=0.3):
    try:
        f = listener.messages.get(timeout=timeout)
    except queue.Empty:
        return True
    raise AssertionError(f"unexpected message {f.headers} {f.body!r}")


def sync(conn, listener, fn, **kw):
    """Runs a stomp-py call with a receipt and waits for it."""
    rid = uuid.uuid4().hex
    fn(receipt=rid, **kw)
    got = listener.receipts.get(timeout=WAIT)
    assert got == rid, (got, rid)


def unique(name):
    return f"{name}.{uuid.uuid4().hex[:8]}"


def check_topic_and_queue(addr, version):
    c, l = connect(addr, version)
    topic, q = "/topic/" + unique("t"), "/queue/" + unique("q")
    sync(c, l, c.subscribe, destination=topic, id="t")
    p, pl = connect(addr, version)
    sync(p, pl, p.send, destination=topic, body="to-topic", headers={"x-custom": "v1"})
    m = message(l)
    assert m.body == "to-topic" and m.headers["x-custom"] == "v1", m
    sync(p, pl, p.send, destination=q, body="queued")
    sync(c, l, c.subscribe, destination=q, id="q")
    assert message(l).body == "queued"
    c.disconnect()
    p.disconnect()


def check_client_ack_and_redelivery(addr, version):
    q = "/queue/" + unique("ack")
    p, pl = connect(addr, version)
    for i in range(3):
        sync(p, pl, p.send, destination=q, body=str(i))
    c, l = connect(addr, version)
    sync(c, l, c.subscribe, destination=q, id="s", ack="client-individual" if version != "1.0" else "client")
    frames = [message(l) for _ in range(3)]
    assert [f.body for f in frames] == ["0", "1", "2"]
    first = frames[0]
    if version == "1.2":
        sync(c, l, c.ack, id=first.headers["ack"])
    elif version == "1.1":
        sync(c, l, c.ack, id=first.headers["message-id"], subscription="s")
    else:
        sync(c, l, c.ack, id=first.headers["message-id"])
    c.disconnect()  # the two unacked come back
    c2, l2 = connect(addr, version)
    sync(c2, l2, c2.subscribe, destination=q, id="s2")
    again = [message(l2) for _ in range(2)]
    assert [f.body for f in again] == ["1", "2"], [f.body for f in again]
    assert all(f.headers.get("redelivered") == "true" for f in again)
    nothing(l2)
    c2.disconnect()
    p.disconnect()


def check_nack(addr, version):
    q = "/queue/" + unique("nack")
    c, l = connect(addr, version)
    sync(c, l, c.subscribe, destination=q, id="n", ack="client-individual")
    sync(c, l, c.send, destination=q, body="once")
    m = message(l)
    if version == "1.2":
        sync(c, l, c.nack, id=m.headers["ack"])
    else:
        sync(c, l, c.nack, id=m.headers["message-id"], subscription="n")
    again = message(l)
    assert again.body == "once" and again.headers.get("redelivered") == "true"
    c.disconnect()


def check_transactions(addr, version):
    q = "/queue/" + unique("tx")
    c, l = connect(addr, version)
    sync(c, l, c.subscribe, destination=q, id="x")
    p, pl = connect(addr, version)
    tx = p.begin()
    p.send(destination=q, body="in-tx", transaction=tx)
    nothing(l)
    sync(p, pl, p.commit, transaction=tx)
    assert message(l).body == "in-tx"
    tx = p.begin()
    p.send(destination=q, body="aborted", transaction=tx)
    sync(p, pl, p.abort, transaction=tx)
    nothing(l)
    c.disconnect()
    p.disconnect()


def check_selector_and_wildcard(addr, version):
    base = unique("mc")
    c, l = connect(addr, version)
    sync(c, l, c.subscribe, destination=f"/queue/{base}.nodes", id="d", headers={"selector": "mc_identity = 'node1'"})
    sync(c, l, c.subscribe, destination=f"/topic/{base}.>", id="w")
    p, pl = connect(addr, version)
    sync(p, pl, p.send, destination=f"/queue/{base}.nodes", body="for-node2", headers={"mc_identity": "node2"})
    sync(p, pl, p.send, destination=f"/queue/{base}.nodes", body="for-node1", headers={"mc_identity": "node1"})
    sync(p, pl, p.send, destination=f"/topic/{base}.discovery.agent", body="broadcast")
    got = sorted([message(l).body, message(l).body])
    assert got == ["broadcast", "for-node1"], got
    nothing(l)
    c.disconnect()
    p.disconnect()


def check_heartbeats(addr):
    c, l = connect(addr, "1.2", heartbeats=(500, 500))
    time.sleep(2.5)  # several periods: both sides must keep the link alive
    assert c.is_connected(), "connection dropped despite heart-beats"
    sync(c, l, c.send, destination="/queue/" + unique("hb"), body="alive")
    c.disconnect()


def check_error_frame(addr):
    c, l = connect(addr, "1.2")
    c.subscribe(destination="/queue/x", id="bad", headers={"selector": "a = = 1"})
    err = l.errors.get(timeout=WAIT)
    assert "selector" in err.headers.get("message", ""), err.headers


def main():
    addr = sys.argv[1]
    checks = []
    for v in ("1.0", "1.1", "1.2"):
        checks += [
            (f"topic and queue, STOMP {v}", lambda v=v: check_topic_and_queue(addr, v)),
            (f"client ack and redelivery, STOMP {v}", lambda v=v: check_client_ack_and_redelivery(addr, v)),
            (f"transactions, STOMP {v}", lambda v=v: check_transactions(addr, v)),
            (f"selector and wildcard, STOMP {v}", lambda v=v: check_selector_and_wildcard(addr, v)),
        ]
    for v in ("1.1", "1.2"):
        checks.append((f"nack, STOMP {v}", lambda v=v: check_nack(addr, v)))
    checks.append(("heart-beats, STOMP 1.2", lambda: check_heartbeats(addr)))
    checks.append(("bad selector gets an ERROR", lambda: check_error_frame(addr)))
    passed = failed = 0
    for name, fn in checks:
        try:
            fn()
            passed += 1
            print(f"ok   {name}")
        except Exception as e:  # report every failure, then fail the run
            failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}")
    print(f"stomp-py: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
