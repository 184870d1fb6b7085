#!/usr/bin/env python3
"""A second user's round trips while a first one abuses the broker.

Starts a release `shoal broker` with the seed's users (qaadmin: qacollective.> only,
prodadmin: prodcollective.> only) and `[limits]` set, then runs each abuse from issue 15 for
SECONDS while prodadmin, in its own process, does a round trip (SEND to a topic it subscribes
to, MESSAGE back) every 20 ms. Prints, per abuse, the bystander's p50/p99/max and failed round
trips (no answer within 5 s), and the broker's RSS before and its peak during the abuse.

Usage: cargo build --release && python3 benches/abuse.py [--seconds 20] [--only NAME ...]
Randomness (the fuzzer) is seeded: --seed N (printed).
"""
import argparse, multiprocessing as mp, os, random, socket, subprocess, sys, tempfile, threading, time

BIN = os.environ.get("SHOAL_BIN", os.path.join(os.path.dirname(__file__), "..", "target", "release", "shoal"))
USERS = {"qaadmin": ("muppetsfromspace", "qa"), "prodadmin": ("poobatron", "prod")}
LIMITS = "[limits]\nmax_memory_bytes = 268435456\nmax_queue_bytes = 67108864\nproducer_wait_ms = 0\n"


def frame(cmd, headers, body=b""):
    h = "".join(f"{k}:{v}\n" for k, v in headers)
    return f"{cmd}\n{h}\n".encode() + body + b"\0"


def connect(port, user=None, extra=(), timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    h = [("accept-version", "1.2"), ("host", "/")] + list(extra)
    if user:
        h += [("login", user), ("passcode", USERS[user][0])]
    s.sendall(frame("CONNECT", h))
    data = read_frame(s, bytearray())
    if not data.startswith(b"CONNECTED"):
        raise ConnectionError(data[:200])
    return s


def read_frame(s, buf):
    """The next frame's bytes (heart-beat EOLs skipped), reading into `buf` as needed."""
    while True:
        while buf[:1] in (b"\n", b"\r"):
            del buf[:1]
        end = buf.find(b"\0")
        if end >= 0:
            f = bytes(buf[:end])
            del buf[: end + 1]
            return f
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        buf.extend(chunk)


def bystander(port, seconds, out):
    """Connected before the abuse starts (it answers "ready"); reconnects after a failure."""
    lat, failed = [], 0
    buf = bytearray()
    s = connect(port, "prodadmin", timeout=5)
    s.sendall(frame("SUBSCRIBE", [("id", "rt"), ("destination", "/topic/prodcollective.rt"), ("receipt", "r")]))
    read_frame(s, buf)
    out.put("ready")
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if s is None:
                buf.clear()
                s = connect(port, "prodadmin", timeout=5)
                s.sendall(frame("SUBSCRIBE", [("id", "rt"), ("destination", "/topic/prodcollective.rt")]))
            t0 = time.time()
            s.sendall(frame("SEND", [("destination", "/topic/prodcollective.rt")], b"ping"))
            while not read_frame(s, buf).startswith(b"MESSAGE"):
                pass
            lat.append((time.time() - t0) * 1000)
        except (OSError, ConnectionError):
            failed += 1
            s = None
        time.sleep(0.02)
    out.put((lat, failed))


def rss(pid, field="VmRSS"):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) // 1024
    return 0


def quietly(f):
    def run(*a):
        try:
            f(*a)
        except (OSError, ConnectionError):
            pass
    return run


def until(stop, f):
    """Runs f (reconnecting after an ERROR or a refusal closed its connection) until stop."""
    while not stop.is_set():
        quietly(f)(stop)


# --- the abuses: each runs until `stop` is set --------------------------------------------

def login_storm(port, stop):
    def guess(stop):
        while not stop.is_set():
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            s.sendall(frame("CONNECT", [("accept-version", "1.2"), ("login", "prodadmin"), ("passcode", "wrong")]))
            s.recv(4096)
            s.close()
    return [quietly(guess)] * 200


def slowloris(port, stop):
    def trickle(stop):
        while not stop.is_set():
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            for b in frame("CONNECT", [("accept-version", "1.2"), ("login", "qaadmin")]):
                if stop.is_set():
                    break
                s.sendall(bytes([b]))
                time.sleep(1)
            s.close()
    return [quietly(trickle)] * 1000


def header_flood(port, stop):
    pad = "h" * 15000
    def flood(stop):
        s = connect(port, "qaadmin")
        h = [(f"x-pad-{i}", pad) for i in range(15)] + [("destination", "/queue/qacollective.heavy")]
        while not stop.is_set():
            s.sendall(frame("SEND", h))
    return [lambda stop: until(stop, flood)]


def pinned_buffers(port, stop):
    big = frame("SEND", [("destination", "/topic/qacollective.noise")], b"x" * 60000)
    small = frame("SEND", [("destination", "/queue/qacollective.small")], b"1")
    def flood(stop):
        s = connect(port, "qaadmin")
        while not stop.is_set():
            s.sendall(big + small)
    return [lambda stop: until(stop, flood)]


def destination_flood(port, stop):
    n = [0]
    def flood(stop):
        s = connect(port, "qaadmin")
        while not stop.is_set():
            n[0] += 1
            s.sendall(frame("SEND", [("destination", f"/topic/qacollective.d{n[0]}")], b"x"))
    return [lambda stop: until(stop, flood)] * 2


def like_selector(port, stop):
    def flood(stop):
        c = connect(port, "qaadmin")
        sel = "h LIKE '%" + "a" * 4000 + "b'"
        c.sendall(frame("SUBSCRIBE", [("id", "l"), ("destination", "/topic/qacollective.like"), ("selector", sel)]))
        s = connect(port, "qaadmin")
        msg = frame("SEND", [("destination", "/topic/qacollective.like"), ("h", "a" * 16000)])
        while not stop.is_set():
            s.sendall(msg)
    return [lambda stop: until(stop, flood)]


def wildcards(port, stop):
    def flood(stop):
        c = connect(port, "qaadmin")
        for i in range(10000):
            c.sendall(frame("SUBSCRIBE", [("id", f"w{i}"), ("destination", f"/topic/qacollective.w{i}.>")]))
        s = connect(port, "qaadmin")
        n = 0
        while not stop.is_set():
            n += 1
            s.sendall(frame("SEND", [("destination", f"/topic/qacollective.w{n % 10000}.x{n}")], b"x"))
    return [lambda stop: until(stop, flood)]


def absent_identity(port, stop):
    def flood(stop):
        node = connect(port, "qaadmin")
        node.sendall(frame("SUBSCRIBE", [("id", "n"), ("destination", "/queue/qacollective.nodes"), ("selector", "mc_identity = 'here'")]))
        s = connect(port, "qaadmin")
        msg = frame("SEND", [("destination", "/queue/qacollective.nodes"), ("mc_identity", "gone")], b"req")
        while not stop.is_set():
            s.sendall(msg * 100)
    return [lambda stop: until(stop, flood)]


def silent_readers(port, stop):
    def silent(stop):
        s = connect(port, "qaadmin", extra=[("heart-beat", "1000,0")])
        s.sendall(frame("SUBSCRIBE", [("id", "f"), ("destination", "/topic/qacollective.flood")]))
        stop.wait(30)  # neither reads nor sends: dropped after the heart-beat grace
    def flood(stop):
        s = connect(port, "qaadmin")
        mb = frame("SEND", [("destination", "/topic/qacollective.flood")], b"x" * (1 << 20))
        while not stop.is_set():
            s.sendall(mb)
    return [lambda stop: until(stop, silent)] * 100 + [lambda stop: until(stop, flood)]


SEED = 0


def fuzz(port, stop):
    rng = random.Random(SEED)
    seeds = [
        frame("SEND", [("destination", "/topic/qacollective.f"), ("content-length", "3")], b"abc"),
        frame("SUBSCRIBE", [("id", "1"), ("destination", "/queue/qacollective.>"), ("selector", "a LIKE '%b%'")]),
        frame("ACK", [("id", "x")]),
        frame("BEGIN", [("transaction", "t")]),
    ]
    def flood(stop):
        s = connect(port, "qaadmin")
        while not stop.is_set():
            f = bytearray(rng.choice(seeds))
            for _ in range(rng.randrange(4)):
                i = rng.randrange(len(f))
                f[i:i + 1] = bytes([rng.randrange(256)]) * rng.choice([1, 1, 2, 1000, 60000])
            s.sendall(bytes(f))
    return [lambda stop: until(stop, flood)] * 4


ABUSES = {f.__name__.replace("_", "-"): f for f in [
    login_storm, slowloris, header_flood, pinned_buffers, destination_flood,
    like_selector, wildcards, absent_identity, silent_readers, fuzz]}


def config(dir):
    def hashed(p):
        return subprocess.run([BIN, "passwd"], input=p + "\n", capture_output=True, text=True, check=True).stdout.strip()
    c = ""
    for name, (pw, group) in USERS.items():
        c += f'[[user]]\nname = "{name}"\npassword_hash = "{hashed(pw)}"\ngroups = ["{group}"]\n'
    for scope, group in [("qacollective", "qa"), ("prodcollective", "prod")]:
        for kind in ["topic", "queue"]:
            c += f'[[acl]]\ndestination = "{kind}://{scope}.>"\nread = ["{group}"]\nwrite = ["{group}"]\nadmin = ["{group}"]\n'
    c += "[broker]\nheartbeat_receive_ms = 1000\n" + LIMITS + "[store]\nenabled = false\n"
    path = os.path.join(dir, "shoal.toml")
    open(path, "w").write(c)
    return path


def run(abuse, seconds):
    with tempfile.TemporaryDirectory() as dir:
        port = 17400 + list(ABUSES).index(abuse)
        log = open(os.path.join(dir, "log"), "w")
        b = subprocess.Popen([BIN, "broker", "--config", config(dir), "--listen", f"127.0.0.1:{port}"],
                             stdout=log, stderr=log, env=dict(os.environ, HOME=dir))
        try:
            for _ in range(100):
                try:
                    connect(port, "prodadmin").close()
                    break
                except OSError:
                    time.sleep(0.1)
            before = rss(b.pid)
            out = mp.Queue()
            by = mp.Process(target=bystander, args=(port, seconds, out))
            by.start()
            assert out.get() == "ready"
            stop = threading.Event()
            workers = [threading.Thread(target=w, args=(stop,), daemon=True) for w in ABUSES[abuse](port, stop)]
            for w in workers:
                w.start()
            lat, failed = out.get()
            by.join()
            peak = rss(b.pid, "VmHWM")
            stop.set()
            lat.sort()
            pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("nan")
            print(f"{abuse:18} round_trips={len(lat):5} failed={failed:3} p50_ms={pct(0.5):7.2f} "
                  f"p99_ms={pct(0.99):8.2f} max_ms={(lat[-1] if lat else float('nan')):8.1f} "
                  f"rss_before_mib={before} rss_peak_mib={peak} broker_alive={b.poll() is None}", flush=True)
        finally:
            b.kill()
            b.wait()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--only", nargs="*", choices=list(ABUSES))
    ap.add_argument("--seed", type=int, default=random.randrange(1 << 30))
    a = ap.parse_args()
    SEED = a.seed
    print(f"# {time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())} {os.cpu_count()} cores, {a.seconds:.0f} s per abuse, seed {a.seed}")
    for abuse in a.only or ABUSES:
        run(abuse, a.seconds)
