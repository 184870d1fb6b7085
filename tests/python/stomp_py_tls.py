#!/usr/bin/env python3
"""stomp-py over TLS (Python's ssl module) with a client certificate.

Usage: stomp_py_tls.py HOST:PORT CA_PEM CLIENT_CERT CLIENT_KEY
"""
import queue
import sys

import stomp


class Collector(stomp.ConnectionListener):
    def __init__(self):
        self.messages = queue.Queue()

    def on_message(self, frame):
        self.messages.put(frame)


def main():
    addr, ca, cert, key = sys.argv[1:5]
    host, port = addr.rsplit(":", 1)
    conn = stomp.Connection12([(host, int(port))])
    conn.set_ssl(for_hosts=[(host, int(port))], ca_certs=ca, cert_file=cert, key_file=key)
    listener = Collector()
    conn.set_listener("c", listener)
    conn.connect(wait=True)  # no login: the certificate is the credential
    conn.subscribe(destination="/queue/tls.check", id="1")
    conn.send(destination="/queue/tls.check", body="over tls")
    frame = listener.messages.get(timeout=5)
    assert frame.body == "over tls", frame.body
    conn.disconnect()
    print("tls round trip ok")


if __name__ == "__main__":
    main()
