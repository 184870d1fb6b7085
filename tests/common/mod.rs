//! Test harness: runs the real `shoal` binary on a loopback port and talks STOMP to it over
//! real TCP sockets. Blocking I/O with timeouts keeps each test short and linear to read.
#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod mco;
pub mod net;
pub mod pki;
pub mod seed;

use bytes::BytesMut;
use shoal::stomp::{Command, Decoder, Frame, FrameLimits, Version};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Config text that lets clients in without credentials.
pub const OPEN: &str = "[auth]\nanonymous = true\n";

/// How long a test waits for something that should happen promptly.
pub const WAIT: Duration = Duration::from_secs(5);
/// How long a test waits to be sure that something does *not* happen.
pub const QUIET: Duration = Duration::from_millis(300);

/// A scratch directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("shoal-test-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `shoal broker` process on an ephemeral loopback port.
pub struct Broker {
    child: Child,
    pub addr: String,
    pub addrs: Vec<String>,
    /// Cluster (bridge) listener addresses, when the config has `[cluster]`.
    pub cluster: Vec<String>,
    log: Arc<Mutex<String>>,
    pub dir: TempDir,
}

impl Broker {
    /// A broker with the built-in defaults plus anonymous access (so the test needs no
    /// credentials), from its own config file: nothing on this machine leaks into the test.
    pub fn start() -> Broker {
        Broker::open_with("")
    }

    /// Like `start`, with more config text after `[auth] anonymous = true`.
    pub fn open_with(config: &str) -> Broker {
        Broker::start_with(&format!("{OPEN}{config}"), &[])
    }

    /// A broker with this config file text and extra command-line arguments. Without a
    /// `--listen` among them it listens on `127.0.0.1:0`; `addrs` has every bound address in
    /// the order given, `addr` the first.
    pub fn start_with(config: &str, args: &[&str]) -> Broker {
        let dir = TempDir::new("broker");
        let cfg = dir.write("broker.toml", config);
        Broker::start_in(dir, &cfg, args)
    }

    /// Like `start_with`, for a config file the test wrote itself into `dir`.
    pub fn start_in(dir: TempDir, cfg: &Path, args: &[&str]) -> Broker {
        let listeners = args.iter().filter(|a| **a == "--listen").count().max(1);
        let default_listen: &[&str] = if listeners == 1 && !args.contains(&"--listen") {
            &["--listen", "127.0.0.1:0"]
        } else {
            &[]
        };
        let mut child = Process::new(env!("CARGO_BIN_EXE_shoal"))
            .arg("broker")
            .arg("--config")
            .arg(cfg)
            .args(default_listen)
            .args(if args.contains(&"--name") {
                &[][..]
            } else {
                &["--name", "testbroker"][..]
            })
            .args(args)
            .env("RUST_LOG", "info")
            .env("HOME", dir.path())
            .env("XDG_DATA_HOME", dir.path().join(".local/share"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn shoal");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(a) = line.split("listening for STOMP on ").nth(1) {
                    let _ = tx.send(a.split_whitespace().next().unwrap_or("").to_string());
                }
                if let Some(a) = line.split("listening for bridges on ").nth(1) {
                    let _ = tx.send(format!(
                        "cluster {}",
                        a.split_whitespace().next().unwrap_or("")
                    ));
                }
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let wants_cluster = std::fs::read_to_string(cfg)
            .unwrap_or_default()
            .contains("[cluster]");
        let (mut addrs, mut cluster) = (Vec::new(), Vec::new());
        while addrs.len() < listeners || (wants_cluster && cluster.is_empty()) {
            match rx.recv_timeout(Duration::from_secs(20)) {
                Ok(a) => match a.strip_prefix("cluster ") {
                    Some(c) => cluster.push(c.to_string()),
                    None => addrs.push(a),
                },
                Err(_) => {
                    let _ = child.kill();
                    panic!("broker did not start; log:\n{}", log.lock().unwrap());
                }
            }
        }
        Broker {
            child,
            addr: addrs[0].clone(),
            addrs,
            cluster,
            log,
            dir,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.rsplit(':').next().unwrap().parse().unwrap()
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// A `/proc/<pid>/status` figure in KiB: `VmRSS` (now) or `VmHWM` (the peak).
    pub fn memory_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the broker's /proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
            .unwrap_or_else(|| panic!("no {field} in {status}"))
    }

    /// The sockets the broker process holds open (listeners included).
    pub fn sockets(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .expect("the broker's fds")
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter(|t| t.to_string_lossy().starts_with("socket:"))
            .count()
    }

    /// Sends SIGHUP (re-read the config).
    pub fn hangup(&self) {
        let _ = Process::new("kill")
            .arg("-HUP")
            .arg(self.child.id().to_string())
            .status();
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills the broker (SIGKILL) and hands back its directory, to start it again there.
    pub fn crash_keep_dir(mut self) -> TempDir {
        self.kill();
        std::mem::replace(&mut self.dir, TempDir::new("spent"))
    }

    /// Stops the broker gracefully (SIGTERM) and hands back its directory.
    pub fn stop_keep_dir(mut self) -> TempDir {
        assert!(self.terminate().success(), "broker did not exit cleanly");
        std::mem::replace(&mut self.dir, TempDir::new("spent"))
    }

    /// Sends SIGTERM and waits (bounded) for the process to exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let _ = Process::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("broker ignored SIGTERM; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the broker's log contains `needle`.
    pub fn wait_log(&self, needle: &str) -> bool {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if self.log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Builds a frame from a command name, headers and a body.
pub fn frame(command: &str, headers: &[(&str, &str)], body: &[u8]) -> Frame {
    let mut f = Frame::new(Command::parse(command.as_bytes()).expect("known command"));
    for (k, v) in headers {
        f = f.header(*k, *v);
    }
    f.with_body(body.to_vec())
}

/// One STOMP connection over a blocking socket.
pub struct Stomp {
    pub stream: TcpStream,
    decoder: Decoder,
    buf: BytesMut,
    pub version: Version,
    /// Bare EOLs (heart-beats) seen from the broker.
    pub heartbeats: usize,
    /// Frames that arrived while `request` waited for its RECEIPT.
    pending: std::collections::VecDeque<Frame>,
}

impl Stomp {
    /// A TCP connection with nothing sent yet.
    pub fn open(addr: &str) -> Stomp {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_nodelay(true).unwrap();
        Stomp {
            stream,
            decoder: Decoder::new(FrameLimits {
                max_frame_bytes: 64 << 20,
                max_body_bytes: 64 << 20,
                max_headers: 10_000,
                max_header_line: 1 << 20,
            }),
            buf: BytesMut::new(),
            version: Version::V1_0,
            heartbeats: 0,
            pending: Default::default(),
        }
    }

    /// Connects with `accept-version: 1.2` and returns the session.
    pub fn connect(addr: &str) -> Stomp {
        Stomp::connect_version(addr, Some("1.2"))
    }

    /// Connects, offering `accept` (None: no accept-version header, i.e. STOMP 1.0).
    pub fn connect_version(addr: &str, accept: Option<&str>) -> Stomp {
        Stomp::connect_offering(addr, accept, &[])
    }

    /// Connects offering `accept` (None: STOMP 1.0), with a login and passcode.
    pub fn connect_version_login(
        addr: &str,
        accept: Option<&str>,
        login: &str,
        passcode: &str,
    ) -> Stomp {
        Stomp::connect_offering(addr, accept, &[("login", login), ("passcode", passcode)])
    }

    /// CONNECT offering `accept`, with `extra` headers; the version is the one agreed.
    fn connect_offering(addr: &str, accept: Option<&str>, extra: &[(&str, &str)]) -> Stomp {
        let mut s = Stomp::open(addr);
        let mut h = vec![("host", "/")];
        h.extend_from_slice(extra);
        if let Some(a) = accept {
            h.push(("accept-version", a));
        }
        s.send(&frame("CONNECT", &h, b""));
        let c = s.expect(Command::Connected);
        s.version = match c.get("version") {
            Some("1.2") => Version::V1_2,
            Some("1.1") => Version::V1_1,
            _ => Version::V1_0,
        };
        s.decoder.version = s.version;
        s
    }

    /// Connects (1.2) with extra CONNECT headers (a `client-id`, say).
    pub fn connect_with(addr: &str, headers: &[(&str, &str)]) -> Stomp {
        let mut s = Stomp::open(addr);
        let mut h = vec![("accept-version", "1.2"), ("host", "/")];
        h.extend_from_slice(headers);
        s.send(&frame("CONNECT", &h, b""));
        s.expect(Command::Connected);
        s.version = Version::V1_2;
        s.decoder.version = Version::V1_2;
        s
    }

    /// Connects (1.2) with a login and passcode; `Err` carries the broker's ERROR frame.
    #[allow(clippy::result_large_err)] // a test helper: the ERROR frame is the point
    pub fn login(addr: &str, login: &str, passcode: &str) -> Result<Stomp, Frame> {
        let mut s = Stomp::open(addr);
        s.send(&frame(
            "CONNECT",
            &[
                ("accept-version", "1.2"),
                ("host", "/"),
                ("login", login),
                ("passcode", passcode),
            ],
            b"",
        ));
        match s.recv_within(Duration::from_secs(30)) {
            Some(f) if f.command == Command::Connected => {
                s.version = Version::V1_2;
                s.decoder.version = Version::V1_2;
                Ok(s)
            }
            Some(f) => Err(f),
            None => panic!("no answer to CONNECT"),
        }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    pub fn send(&mut self, f: &Frame) {
        let b = shoal::stomp::codec::to_bytes(f, self.version);
        self.send_raw(&b);
    }

    /// SEND with a receipt, waiting for the RECEIPT (so the effect is done when this returns).
    pub fn send_sync(&mut self, dest: &str, headers: &[(&str, &str)], body: &[u8]) {
        let mut h = vec![("destination", dest)];
        h.extend_from_slice(headers);
        self.request(frame("SEND", &h, body));
    }

    /// Sends `f` with a `receipt` header and waits for the matching RECEIPT; MESSAGEs that
    /// arrive first (the effect may deliver some) are kept for the next `recv`.
    pub fn request(&mut self, f: Frame) {
        let f = f.header("receipt", "sync");
        self.send(&f);
        let mut early = Vec::new();
        loop {
            let r = self.read_frame(WAIT).expect("no RECEIPT");
            match r.command {
                Command::Receipt => {
                    assert_eq!(r.get("receipt-id"), Some("sync"));
                    break;
                }
                Command::Message => early.push(r),
                c => panic!(
                    "expected RECEIPT, got {c} {:?} {:?}",
                    r.headers,
                    String::from_utf8_lossy(&r.body)
                ),
            }
        }
        self.pending.extend(early);
    }

    /// SUBSCRIBE with id `id` (plus extra headers), confirmed by a receipt.
    pub fn subscribe(&mut self, id: &str, dest: &str, headers: &[(&str, &str)]) {
        let mut h = vec![("id", id), ("destination", dest)];
        h.extend_from_slice(headers);
        self.request(frame("SUBSCRIBE", &h, b""));
    }

    /// The next frame within `timeout`; `None` on timeout or when the socket closed.
    pub fn recv_within(&mut self, timeout: Duration) -> Option<Frame> {
        if let Some(f) = self.pending.pop_front() {
            return Some(f);
        }
        self.read_frame(timeout)
    }

    fn read_frame(&mut self, timeout: Duration) -> Option<Frame> {
        let deadline = Instant::now() + timeout;
        loop {
            let before = self.buf.len();
            match self.decoder.decode(&mut self.buf) {
                Ok(Some(f)) => return Some(f),
                Ok(None) => {}
                Err(e) => panic!("broker sent a malformed frame: {e}"),
            }
            if self.buf.len() < before {
                self.heartbeats += 1;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            let mut chunk = [0u8; 64 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => {
                    // Count bare EOLs between frames as heart-beats.
                    if self.buf.is_empty() && chunk[..n].iter().all(|b| *b == b'\n' || *b == b'\r')
                    {
                        self.heartbeats += chunk[..n].iter().filter(|b| **b == b'\n').count();
                        continue;
                    }
                    self.buf.extend_from_slice(&chunk[..n])
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return None
                }
                Err(_) => return None,
            }
        }
    }

    pub fn recv(&mut self) -> Option<Frame> {
        self.recv_within(WAIT)
    }

    /// The next frame, which must be a `command`.
    pub fn expect(&mut self, command: Command) -> Frame {
        match self.recv() {
            Some(f) if f.command == command => f,
            Some(f) => panic!(
                "expected {command}, got {} {:?} body {:?}",
                f.command,
                f.headers,
                String::from_utf8_lossy(&f.body)
            ),
            None => panic!("expected {command}, got nothing within {WAIT:?}"),
        }
    }

    /// The next MESSAGE's body as text.
    pub fn expect_body(&mut self) -> String {
        String::from_utf8_lossy(&self.expect(Command::Message).body).into_owned()
    }

    /// Asserts that nothing arrives for a short while.
    pub fn expect_nothing(&mut self) {
        if let Some(f) = self.recv_within(QUIET) {
            panic!(
                "expected nothing, got {} {:?} {:?}",
                f.command,
                f.headers,
                String::from_utf8_lossy(&f.body)
            );
        }
    }

    /// Expects an ERROR whose `message` contains `needle`, then the socket closing.
    pub fn expect_error(&mut self, needle: &str) -> Frame {
        let e = self.expect(Command::Error);
        let msg = e.get("message").unwrap_or("");
        assert!(
            msg.contains(needle),
            "ERROR message {msg:?} lacks {needle:?}; body {:?}",
            String::from_utf8_lossy(&e.body)
        );
        assert!(self.closed(), "connection not closed after ERROR");
        e
    }

    /// Whether the broker closes the socket within `WAIT` (frames before the close are skipped).
    pub fn closed(&mut self) -> bool {
        let deadline = Instant::now() + WAIT;
        let mut chunk = [0u8; 4096];
        while Instant::now() < deadline {
            self.stream
                .set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return true,
            }
        }
        false
    }
}

/// Polls `f` until it returns true or `WAIT` passes.
pub fn eventually(f: impl FnMut() -> bool) -> bool {
    eventually_within(WAIT, f)
}

/// Polls `f` until it returns true or `limit` passes.
pub fn eventually_within(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Whether an external interop tool is here. In CI (`CI` set) a missing tool is a failure —
/// `.ci/run` installs them all — elsewhere the test says loudly that it skipped.
pub fn require_tool(program: &str, probe: &[&str], install_hint: &str) -> bool {
    let found = Process::new(program)
        .args(probe)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return true;
    }
    if std::env::var_os("CI").is_some() || std::env::var_os("SHOAL_REQUIRE_INTEROP").is_some() {
        panic!("{program} is required here ({install_hint}); .ci/run installs it");
    }
    eprintln!(
        "SKIPPED: {program} not found ({install_hint}); run .ci/run or install it to test interop"
    );
    false
}

/// A child process killed (SIGTERM, then SIGKILL) when dropped.
pub struct Daemon(pub Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Process::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A TCP proxy the tests own, between a bridge and its peer, that can cut, stall, delay and
/// partition the link on command.
pub struct FaultProxy {
    pub addr: String,
    state: Arc<Mutex<ProxyState>>,
}

#[derive(Default)]
struct ProxyState {
    /// New connections are dropped at once (a partition) while set.
    partitioned: bool,
    /// Bytes are held back while set (a stalled link: connected, silent).
    stalled: bool,
    delay: Duration,
    /// Bytes per second each direction may carry (0: no cap), like a WAN link's bandwidth.
    rate: u64,
    /// Bytes carried so far from the dialing side to the target.
    carried: u64,
    open: Vec<TcpStream>,
}

impl FaultProxy {
    pub fn start(target: &str) -> FaultProxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let state = Arc::new(Mutex::new(ProxyState::default()));
        let (st, target) = (state.clone(), target.to_string());
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                if st.lock().unwrap().partitioned {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                {
                    let mut s = st.lock().unwrap();
                    s.open.push(client.try_clone().unwrap());
                    s.open.push(server.try_clone().unwrap());
                }
                for (from, to, outward) in [
                    (
                        client.try_clone().unwrap(),
                        server.try_clone().unwrap(),
                        true,
                    ),
                    (server, client, false),
                ] {
                    let st = st.clone();
                    std::thread::spawn(move || pump(from, to, st, outward));
                }
            }
        });
        FaultProxy { addr, state }
    }

    /// Closes every connection through the proxy (the link is cut).
    pub fn cut(&self) {
        for s in self.state.lock().unwrap().open.drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Cuts and refuses new connections until `heal`.
    pub fn partition(&self) {
        self.state.lock().unwrap().partitioned = true;
        self.cut();
    }

    pub fn heal(&self) {
        let mut s = self.state.lock().unwrap();
        s.partitioned = false;
        s.stalled = false;
        s.delay = Duration::ZERO;
    }

    pub fn stall(&self, on: bool) {
        self.state.lock().unwrap().stalled = on;
    }

    pub fn delay(&self, d: Duration) {
        self.state.lock().unwrap().delay = d;
    }

    /// Bytes carried so far from the dialing side towards the target.
    pub fn carried(&self) -> u64 {
        self.state.lock().unwrap().carried
    }

    /// Caps each direction at `bytes_per_sec` (0 lifts the cap).
    pub fn rate(&self, bytes_per_sec: u64) {
        self.state.lock().unwrap().rate = bytes_per_sec;
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, st: Arc<Mutex<ProxyState>>, outward: bool) {
    let mut buf = [0u8; 16 * 1024];
    // Under a rate cap: bytes carried since `since`, paced so that they never run ahead.
    let (mut since, mut carried) = (Instant::now(), 0u64);
    loop {
        let rate = st.lock().unwrap().rate;
        // Reads of at most 16 KiB (or a 50th of a second's worth under a cap) keep the pacing smooth.
        let room = if rate == 0 {
            buf.len()
        } else {
            ((rate / 50) as usize).clamp(1, buf.len())
        };
        let n = match from.read(&mut buf[..room]) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        loop {
            let (stalled, delay) = {
                let s = st.lock().unwrap();
                (s.stalled, s.delay)
            };
            if !stalled {
                if !delay.is_zero() {
                    std::thread::sleep(delay);
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if rate == 0 {
            (since, carried) = (Instant::now(), 0);
        } else {
            carried += n as u64;
            let due = since + Duration::from_secs_f64(carried as f64 / rate as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait); // pacing a byte stream, not synchronising a test
            }
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        if outward {
            st.lock().unwrap().carried += n as u64;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
}

/// A free loopback port below the kernel's ephemeral range, for a server that must come back
/// on the same port: a port from `free_port` may be handed to another socket (a proxy of a
/// test running alongside) the moment its server stops.
pub fn stable_port() -> u16 {
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let base = 20_000 + (std::process::id() % 5_000) as u16 * 2;
    loop {
        let p = base + NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 2_000;
        if std::net::TcpListener::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
}

/// A loopback port that was free a moment ago (for configs that must name their port).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
