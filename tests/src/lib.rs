//! Helpers for the end-to-end tests in `tests/tests/`: start the real
//! `centralita` binary on loopback with OS-chosen ports, run SIPp
//! scenarios against it, capture the RTP it sends, ask its admin API.
//! Plain std (threads, sockets, processes): no async runtime needed here.
//! RTP capture is in `rtp.rs`, SIPp's message log in `sipp_trace.rs`.

mod baresip;
mod rtp;
mod sipp_trace;

pub use baresip::{baresip_config, baresip_dial};
pub use rtp::{capture_rtp, record_rtp, ulaw_rms, ulaw_to_linear, RtpCapture, RtpRecorder};
pub use sipp_trace::{sipp_messages, SippMessage};

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

/// Repository root (the workspace).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// The gateway binary, next to the test executable's deps dir. The first
/// call in a test process runs `cargo build -p sip-gateway --bin centralita`
/// into that same target dir and profile, so `cargo test -p centralita-e2e`
/// never drives a binary older than the sources (cargo has released its
/// build lock by the time tests run; an up-to-date binary costs a second).
pub fn gateway_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(build_gateway).clone()
}

fn build_gateway() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target profile dir");
    let target_dir = profile_dir.parent().expect("target dir");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--quiet", "-p", "sip-gateway", "--bin", "centralita", "--manifest-path"])
        .arg(repo_root().join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir);
    match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => {}
        Some("release") => {
            cmd.arg("--release");
        }
        Some(other) => {
            cmd.args(["--profile", other]);
        }
        None => panic!("no profile dir above {}", exe.display()),
    }
    let out = cmd.stdin(Stdio::null()).output().expect("run cargo to build the gateway");
    assert!(out.status.success(), "building the gateway failed ({cmd:?}):\n{}", String::from_utf8_lossy(&out.stderr));
    let bin = profile_dir.join("centralita");
    assert!(bin.exists(), "{} missing after {cmd:?}", bin.display());
    bin
}

/// A fresh scratch directory under target/, removed on drop.
pub struct Scratch(pub PathBuf);
impl Scratch {
    pub fn new(tag: &str) -> Self {
        let base = repo_root().join("target").join("e2e");
        let p = base.join(format!("{tag}-{}-{}", std::process::id(), rand_suffix()));
        std::fs::create_dir_all(&p).expect("scratch dir");
        Self(p)
    }
}
impl Drop for Scratch {
    fn drop(&mut self) {
        if self.0.as_os_str().is_empty() {
            return; // moved out (Gateway::kill_and_restart)
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rand_suffix() -> u64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut h = RandomState::new().build_hasher();
    h.write_u64(Instant::now().elapsed().as_nanos() as u64);
    h.finish() & 0xffff_ffff
}

/// A running gateway; killed on drop.
pub struct Gateway {
    child: Child,
    pub sip_udp: SocketAddr,
    pub sip_tcp: SocketAddr,
    pub api: SocketAddr,
    pub token: String,
    pub log: PathBuf,
    _dir: Scratch,
}

pub const AGENT_URI: &str = "sip:agent@127.0.0.1:5070";

/// A Tuesday at noon in Córdoba: inside the demo flow's business hours, so
/// the tests do not depend on when they run.
pub const PINNED_TIME: &str = "2026-11-24T15:00:00Z";

impl Gateway {
    /// Starts the gateway with the demo flow; `extra` is appended to the
    /// generated TOML (e.g. "[sip]\nanswer_delay_ms = 3000" is NOT allowed
    /// twice; use `start_with` to replace sections).
    pub fn start() -> Self {
        Self::start_with("")
    }

    /// `sip_extra` lines go into the [sip] table.
    pub fn start_with(sip_extra: &str) -> Self {
        Self::start_custom(sip_extra, 20)
    }

    /// `sip_extra` lines go into [sip]; `inactivity_s` is [rtp].inactivity_timeout.
    pub fn start_custom(sip_extra: &str, inactivity_s: u64) -> Self {
        Self::start_full(sip_extra, inactivity_s, &repo_root().join("flows/demo.yaml"))
    }

    /// Like `start_custom`, with another default flow.
    pub fn start_full(sip_extra: &str, inactivity_s: u64, flow: &Path) -> Self {
        Self::start_with_tables(sip_extra, inactivity_s, flow, "")
    }

    /// `tables` is TOML appended to the config (e.g. `[[trunks]]` entries).
    pub fn start_with_tables(sip_extra: &str, inactivity_s: u64, flow: &Path, tables: &str) -> Self {
        Self::start_rtp_tables(sip_extra, inactivity_s, flow, tables, "0")
    }

    /// Like `start_with_tables`, with `[rtp].ports` = `rtp_ports` (e.g. a
    /// range the test holds itself, to exhaust the port pool).
    pub fn start_rtp_tables(sip_extra: &str, inactivity_s: u64, flow: &Path, tables: &str, rtp_ports: &str) -> Self {
        let dir = Scratch::new("gw");
        let root = repo_root();
        let cache = root.join("target").join("e2e-prompt-cache");
        let cfg = format!(
            "[sip]\nlisten = [\"udp:127.0.0.1:0\", \"tcp:127.0.0.1:0\"]\n{sip_extra}\n\
             [rtp]\naddress = \"127.0.0.1\"\nports = \"{rtp_ports}\"\ninactivity_timeout = {inactivity_s}\n\
             [api]\nlisten = \"127.0.0.1:0\"\ntoken = \"test-token\"\n\
             [flows]\ndefault = \"{flow}\"\npinned_time = \"{PINNED_TIME}\"\n\
             [transfer]\nagent_uri = \"{AGENT_URI}\"\nnotify_timeout = 10\n\
             [prompts]\ndir = \"{prompts}\"\ncache_dir = \"{cache}\"\n\
             [store]\nurl = \"sqlite://{db}\"\n{tables}",
            db = dir.0.join("centralita.db").display(),
            flow = flow.display(),
            prompts = root.join("prompts/assets").display(),
            cache = cache.display(),
        );
        let cfg_path = dir.0.join("centralita.toml");
        std::fs::write(&cfg_path, cfg).expect("write config");
        Self::launch(dir)
    }

    /// Runs the binary on `dir/centralita.toml` (the store lives in `dir`).
    fn launch(dir: Scratch) -> Self {
        let cfg_path = dir.0.join("centralita.toml");
        let log = dir.0.join(format!("gateway-{}.log", rand_suffix()));
        let mut child = Command::new(gateway_binary())
            .args(["run", "--config"])
            .arg(&cfg_path)
            .env("RUST_LOG", "info,sip_gateway=debug")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("spawn centralita");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(l)) = lines.next() {
                let _ = tx.send(l);
            }
            for _ in lines {}
        });
        let line = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                panic!("gateway did not start; log:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
            }
        };
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad ready line {line:?}: {e}"));
        let sip: Vec<String> = v["sip"].as_array().expect("sip").iter().map(|s| s.as_str().unwrap_or_default().to_string()).collect();
        let find = |p: &str| -> SocketAddr {
            sip.iter().find_map(|s| s.strip_prefix(p)).and_then(|a| a.parse().ok()).unwrap_or_else(|| panic!("no {p} listener in {sip:?}"))
        };
        Self {
            sip_udp: find("udp:"),
            sip_tcp: find("tcp:"),
            api: v["api"].as_str().and_then(|a| a.parse().ok()).expect("api addr"),
            token: "test-token".into(),
            log,
            child,
            _dir: dir,
        }
    }

    /// `kill -9`, then a new gateway on the same config and store (a crash
    /// and restart). The old process's log stays in the scratch dir.
    pub fn kill_and_restart(mut self) -> Self {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
        let dir = std::mem::replace(&mut self._dir, Scratch(PathBuf::new()));
        drop(self);
        Self::launch(dir)
    }

    /// The scratch dir holding the config, the logs and the SQLite store.
    pub fn dir(&self) -> &Path {
        &self._dir.0
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// GET on the admin API with the bearer token: (status, JSON body).
    pub fn api_get(&self, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
        http_get(self.api, path, token)
    }

    /// Waits (polling the API) until no call is active.
    pub fn wait_idle(&self, within: Duration) -> bool {
        let until = Instant::now() + within;
        while Instant::now() < until {
            let (_, v) = self.api_get("/v1/calls/live", Some(&self.token));
            if v["calls"].as_array().is_some_and(|a| a.is_empty()) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// Sends SIGTERM and waits (bounded) for the gateway to exit.
    pub fn terminate(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill").args(["-TERM", &self.pid().to_string()]).status();
        let until = Instant::now() + within;
        while Instant::now() < until {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Open file descriptors of the gateway process (sockets included).
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).map(|d| d.count()).unwrap_or(0)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- gateway log ----\n{}", self.log_text());
        }
    }
}

/// GET returning the raw body text (for /metrics).
pub fn http_get_text(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect api");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").expect("write");
    let mut buf = String::new();
    s.read_to_string(&mut buf).expect("read");
    let status = buf.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, buf.split("\r\n\r\n").nth(1).unwrap_or("").to_string())
}

pub fn http_get(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    let mut s = TcpStream::connect(addr).expect("connect api");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n").expect("write");
    let mut buf = String::new();
    s.read_to_string(&mut buf).expect("read");
    let status = buf.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = buf.split("\r\n\r\n").nth(1).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(serde_json::Value::Null))
}

/// A free UDP port on loopback (bound by the OS, then released) for SIPp's
/// media port, which SIPp cannot let the OS choose.
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr()).map(|a| a.port()).expect("free port")
}

/// Writes `scenario` with its `@NAME@` placeholders replaced into `dir`.
fn write_scenario(scenario: &str, vars: &[(&str, String)], dir: &Path) -> PathBuf {
    let mut text = scenario.to_string();
    for (k, v) in vars {
        text = text.replace(&format!("@{k}@"), v);
    }
    let sf = dir.join(format!("scenario-{}.xml", rand_suffix()));
    std::fs::write(&sf, text).expect("write scenario");
    sf
}

/// Runs a SIPp scenario (text with `@NAME@` placeholders replaced) against
/// `target` in the foreground; fails the test with SIPp's own messages when
/// it exits non-zero. Statistics and error logs go to `dir`.
pub fn sipp_ok(scenario: &str, vars: &[(&str, String)], target: SocketAddr, args: &[&str], dir: &Path) -> Output {
    let sf = write_scenario(scenario, vars, dir);
    let mp = free_udp_port().to_string();
    // An explicit local port: SIPp's default is 5060 when free, which is
    // where gateways answer Via headers without a port (e.g. RFC 4475's).
    let local = free_udp_port().to_string();
    let out = Command::new("sipp")
        .env("TZ", "UTC") // -trace_msg times are local: make them UTC (sipp_trace.rs)
        .arg(target.to_string())
        .args(["-sf"])
        .arg(&sf)
        .args([
            "-i",
            "127.0.0.1",
            "-p",
            &local,
            "-mi",
            "127.0.0.1",
            "-mp",
            &mp,
            "-nostdin",
            "-trace_err",
            "-timeout",
            "60s",
            "-timeout_error",
        ])
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run sipp (install it with scripts/install-deps.sh)");
    if !out.status.success() {
        let errs: String = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with("_errors.log"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect();
        panic!(
            "sipp failed ({}):\nstdout:\n{}\nstderr:\n{}\nerrors:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            errs
        );
    }
    out
}

/// Starts a SIPp scenario in the background (like [`sipp_ok`], not waited
/// for); the caller kills or waits for the child.
pub fn sipp_spawn(scenario: &str, vars: &[(&str, String)], target: SocketAddr, args: &[&str], dir: &Path) -> Child {
    let sf = write_scenario(scenario, vars, dir);
    let (mp, local) = (free_udp_port().to_string(), free_udp_port().to_string());
    Command::new("sipp")
        .env("TZ", "UTC") // -trace_msg times are local: make them UTC (sipp_trace.rs)
        .arg(target.to_string())
        .arg("-sf")
        .arg(&sf)
        .args(["-i", "127.0.0.1", "-p", &local, "-mi", "127.0.0.1", "-mp", &mp, "-nostdin", "-timeout", "120s"])
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run sipp (install it with scripts/install-deps.sh)")
}

/// SIPp as a UAS (a callee or a trunk) listening on 127.0.0.1:`port`, in
/// the background, for `-m` calls given in `args`.
pub fn sipp_uas(scenario: &str, vars: &[(&str, String)], port: u16, args: &[&str], dir: &Path) -> Child {
    let sf = write_scenario(scenario, vars, dir);
    let mp = free_udp_port().to_string();
    Command::new("sipp")
        .env("TZ", "UTC") // -trace_msg times are local: make them UTC (sipp_trace.rs)
        .arg("-sf")
        .arg(&sf)
        .args(["-i", "127.0.0.1", "-p", &port.to_string(), "-mi", "127.0.0.1", "-mp", &mp, "-nostdin", "-trace_err"])
        .args(["-timeout", "60s", "-timeout_error"])
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sipp (install it with scripts/install-deps.sh)")
}

/// PUT with a text body and the bearer token: (status, JSON body).
pub fn http_put(addr: SocketAddr, path: &str, token: Option<&str>, content_type: &str, body: &str) -> (u16, serde_json::Value) {
    http_with_body(addr, "PUT", path, token, content_type, body)
}

/// POST with a JSON body and the bearer token: (status, JSON body).
pub fn http_post(addr: SocketAddr, path: &str, token: Option<&str>, body: &serde_json::Value) -> (u16, serde_json::Value) {
    http_with_body(addr, "POST", path, token, "application/json", &body.to_string())
}

fn http_with_body(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    content_type: &str,
    body: &str,
) -> (u16, serde_json::Value) {
    let mut s = TcpStream::connect(addr).expect("connect api");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut buf = String::new();
    s.read_to_string(&mut buf).expect("read");
    let status = buf.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = buf.split("\r\n\r\n").nth(1).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(serde_json::Value::Null))
}

/// Sends one raw datagram and collects every datagram that comes back
/// until a final (>= 200) response or `wait` passes.
pub fn udp_until_final(to: SocketAddr, msg: &[u8], wait: Duration) -> Vec<String> {
    let Ok(s) = UdpSocket::bind("127.0.0.1:0") else { return Vec::new() };
    s.set_read_timeout(Some(Duration::from_millis(200))).ok();
    if s.send_to(msg, to).is_err() {
        return Vec::new();
    }
    let (until, mut got, mut buf) = (Instant::now() + wait, Vec::new(), [0u8; 65536]);
    while Instant::now() < until {
        let Ok(n) = s.recv(&mut buf) else { continue };
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        let code: u16 = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        got.push(text);
        if code >= 200 {
            break;
        }
    }
    got
}

/// Sends one raw datagram to `to` and returns the first response line, if
/// any arrives within `wait`.
pub fn udp_exchange(to: SocketAddr, msg: &[u8], wait: Duration) -> Option<String> {
    let s = UdpSocket::bind("127.0.0.1:0").ok()?;
    s.set_read_timeout(Some(wait)).ok()?;
    s.send_to(msg, to).ok()?;
    let mut buf = [0u8; 65536];
    let n = s.recv(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).to_string())
}

/// `text` spoken by the Piper neural voice (scripts/piper_say.py: test
/// audio only, installed by scripts/install-whisper.sh), then 1 s of
/// silence, as raw µ-law at 8 kHz in `dir/name.ulaw` (what SIPp's
/// rtp_stream plays as PCMU); returns that path. Natural speech for the
/// built-in Whisper recogniser: espeak-ng's robotic words through G.711
/// are misheard by every model here (BENCHMARKS.md, issue #14).
pub fn speak_natural(dir: &Path, name: &str, text: &str) -> String {
    let wav = dir.join(format!("{name}.wav"));
    let out = dir.join(format!("{name}.ulaw"));
    let venv = std::env::var_os("WHISPER_VENV").map(PathBuf::from).unwrap_or_else(|| repo_root().join("target/whisper-venv"));
    let piper = Command::new(venv.join("bin/python"))
        .arg(repo_root().join("scripts/piper_say.py"))
        .arg(&wav)
        .arg(text)
        .output()
        .expect("the test venv's python (scripts/install-whisper.sh, make deps)");
    assert!(piper.status.success(), "piper_say.py: {}", String::from_utf8_lossy(&piper.stderr));
    let sox = Command::new("sox")
        .arg(&wav)
        .args(["-r", "8000", "-c", "1", "-e", "u-law", "-t", "raw"])
        .arg(&out)
        .args(["pad", "0", "1"])
        .output()
        .expect("sox (make deps)");
    assert!(sox.status.success(), "sox: {}", String::from_utf8_lossy(&sox.stderr));
    out.display().to_string()
}

/// scripts/whisper_server.py (faster-whisper, Whisper tiny.en: an
/// OpenAI-compatible transcription server over a real model), killed on drop.
pub struct WhisperServer {
    child: std::process::Child,
    pub addr: SocketAddr,
}

impl WhisperServer {
    pub fn start() -> Self {
        let venv = std::env::var_os("WHISPER_VENV").map(PathBuf::from).unwrap_or_else(|| repo_root().join("target/whisper-venv"));
        let python = venv.join("bin/python");
        assert!(python.is_file(), "{} missing: run scripts/install-whisper.sh (make deps)", python.display());
        let mut child = Command::new(python)
            .arg(repo_root().join("scripts/whisper_server.py"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start whisper_server.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("ready line");
        let ready: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("whisper_server ready line {line:?}: {e}"));
        let addr = ready["listen"].as_str().and_then(|a| a.parse().ok()).expect("listen address");
        Self { child, addr }
    }
}

impl Drop for WhisperServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a benchmark harness (`scripts/<script>`) with `args`, the debug
/// gateway binary and a scratch output dir; asserts it succeeded and
/// returns the JSON report it printed.
pub fn run_bench_harness(script: &str, args: &[&str]) -> serde_json::Value {
    let dir = Scratch::new(script.trim_end_matches(".py"));
    let out = Command::new("python3")
        .arg(repo_root().join("scripts").join(script))
        .args(args)
        .arg("--bin")
        .arg(gateway_binary())
        .arg("--out")
        .arg(&dir.0)
        .output()
        .expect("python3");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "harness failed:\n{stderr}");
    serde_json::from_slice(&out.stdout).expect("JSON report on stdout")
}

/// Waits until a SIPp UAS has bound its UDP `port` (binding it ourselves
/// then fails).
pub fn wait_bound(port: u16) {
    let until = Instant::now() + Duration::from_secs(10);
    while UdpSocket::bind(("127.0.0.1", port)).is_ok() {
        assert!(Instant::now() < until, "SIPp never bound 127.0.0.1:{port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits (at most `within`) for a SIPp UAS to finish, and asserts that its
/// scenario passed.
pub fn sipp_done(mut sipp: Child, within: Duration) {
    let until = Instant::now() + within;
    while Instant::now() < until {
        if let Ok(Some(status)) = sipp.try_wait() {
            let out = sipp.wait_with_output().expect("sipp output");
            assert!(status.success(), "sipp UAS failed ({status}): {}", String::from_utf8_lossy(&out.stdout));
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = sipp.kill();
    panic!("sipp UAS did not finish");
}
