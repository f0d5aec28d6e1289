//! Issue #19 end to end: recording that honours consent. SIPp answers the
//! consent question of `tests/scenarios/recording_flow.yaml` with a SIP
//! INFO key, then streams a 1 kHz tone until the gateway hangs up. A yes
//! leaves a stereo WAV whose left (caller) channel is the tone and whose
//! right (bot) channel is the prompts; the API serves it whole and by
//! Range, to admin and agent tokens, and DELETE erases it. A no leaves no
//! file and a record that says why.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use centralita_e2e::{free_udp_port, repo_root, sipp_ok, sipp_spawn, Gateway, Scratch};
use serde_json::Value;

fn scenario(name: &str) -> String {
    std::fs::read_to_string(repo_root().join("tests/scenarios").join(name)).expect("scenario")
}

/// 12 s of a 1 kHz tone as raw µ-law at 8 kHz (what rtp_stream plays as PCMU).
fn tone(dir: &Path) -> String {
    let out = dir.join("tone.ulaw");
    let sox = std::process::Command::new("sox")
        .args(["-n", "-r", "8000", "-c", "1", "-e", "u-law", "-t", "raw"])
        .arg(&out)
        .args(["synth", "12", "sine", "1000", "vol", "0.5"])
        .output()
        .expect("sox (make deps)");
    assert!(sox.status.success(), "sox: {}", String::from_utf8_lossy(&sox.stderr));
    out.display().to_string()
}

fn gateway(rec_dir: &Path) -> Gateway {
    gateway_for(rec_dir, &repo_root().join("tests/scenarios/recording_flow.yaml"))
}

fn gateway_for(rec_dir: &Path, flow: &Path) -> Gateway {
    let tables = format!(
        "[speech]\nasr = \"none\"\n[recording]\ndir = \"{}\"\n[[api.tokens]]\ntoken = \"agent-token\"\nrole = \"agent\"\n",
        rec_dir.display()
    );
    Gateway::start_with_tables("", 30, flow, &tables)
}

/// Calls with SIPp answering the consent question with `key`; returns the stored call.
fn call(gw: &Gateway, key: &str) -> Value {
    let dir = Scratch::new("rec-caller");
    let vars = [("RTP_PORT", free_udp_port().to_string()), ("SIGNAL", key.to_string()), ("AUDIO", tone(&dir.0))];
    sipp_ok(&scenario("recording_caller.xml"), &vars, gw.sip_udp, &["-m", "1"], &dir.0);
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, page) = gw.api_get("/v1/calls", Some(&gw.token));
        let first = &page["calls"][0];
        if let Some(id) = first["id"].as_str().filter(|_| first["ended_at"].is_string() && first["recording"]["status"] != "recording") {
            return gw.api_get(&format!("/v1/calls/{id}"), Some(&gw.token)).1;
        }
        assert!(Instant::now() < until, "no ended call: {page}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A raw HTTP/1.1 request: (status, headers in lower case, body bytes).
fn http(addr: SocketAddr, method: &str, path: &str, token: &str, extra: &str) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).expect("connect api");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    write!(s, "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n{extra}Connection: close\r\n\r\n")
        .expect("write");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("read");
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").expect("a head");
    let head = String::from_utf8_lossy(&buf[..split]).to_lowercase();
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, head, buf[split + 4..].to_vec())
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| l.strip_prefix(&format!("{name}:")).map(str::trim))
}

/// The interleaved 16-bit samples of a WAV's `data` chunk, and its channel count.
fn wav_samples(bytes: &[u8]) -> (u16, Vec<i16>) {
    assert_eq!(&bytes[..4], b"RIFF");
    assert_eq!(&bytes[8..12], b"WAVE");
    let mut at = 12;
    let mut channels = 0;
    while at + 8 <= bytes.len() {
        let size = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        match &bytes[at..at + 4] {
            b"fmt " => {
                channels = u16::from_le_bytes([bytes[at + 10], bytes[at + 11]]);
                assert_eq!(u32::from_le_bytes(bytes[at + 12..at + 16].try_into().unwrap()), 8000, "8 kHz");
                assert_eq!(u16::from_le_bytes([bytes[at + 22], bytes[at + 23]]), 16, "16-bit");
            }
            b"data" => {
                assert_eq!(at + 8 + size, bytes.len(), "the header's data size matches the file");
                let samples = bytes[at + 8..at + 8 + size].chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
                return (channels, samples);
            }
            _ => {}
        }
        at += 8 + size + (size & 1);
    }
    panic!("no data chunk");
}

/// (RMS, share of the energy at 1 kHz) of one channel (Goertzel, 20 ms blocks).
fn analyse(samples: &[i16]) -> (f64, f64) {
    let (mut total, mut tone) = (0.0f64, 0.0f64);
    let coeff = 2.0 * (2.0 * std::f64::consts::PI * 1000.0 / 8000.0).cos();
    for block in samples.chunks_exact(160) {
        let (mut s1, mut s2) = (0.0f64, 0.0f64);
        let mut energy = 0.0;
        for &x in block {
            let x = f64::from(x);
            energy += x * x;
            let s0 = x + coeff * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        // |X(k)|² × 2/N is the power of the bin's sinusoid times N/2.
        tone += (s1 * s1 + s2 * s2 - coeff * s1 * s2) * 2.0 / 160.0;
        total += energy;
    }
    let rms = (total / samples.len().max(1) as f64).sqrt();
    (rms, if total > 0.0 { tone / total } else { 0.0 })
}

#[test]
fn a_consenting_caller_is_recorded_in_stereo_served_by_range_and_deleted() {
    let rec_dir = Scratch::new("recordings");
    let gw = gateway(&rec_dir.0);
    let call = call(&gw, "1");
    let id = call["id"].as_str().expect("id").to_string();
    let rec = &call["recording"];
    assert_eq!(rec["status"], "recorded", "{call:#}");
    assert_eq!(rec["channels"], 2, "{call:#}");
    let path = PathBuf::from(rec["path"].as_str().expect("a path"));
    assert!(path.starts_with(&rec_dir.0), "{path:?} in [recording].dir");
    assert!(path.file_name().is_some_and(|n| n.to_string_lossy().contains(&id) || n.to_string_lossy().ends_with(".wav")));
    let bytes = std::fs::read(&path).expect("the WAV exists");
    assert_eq!(rec["bytes"], bytes.len() as u64, "{call:#}");

    let (channels, samples) = wav_samples(&bytes);
    assert_eq!(channels, 2);
    let frames = samples.len() / 2;
    let duration_ms = frames as u64 * 1000 / 8000;
    assert_eq!(rec["duration_ms"], duration_ms, "{call:#}");
    assert!(duration_ms > 3_000, "the thank-you prompt and the goodbye were recorded: {duration_ms} ms");
    // The recording starts at the consent and ends with the call.
    let ended = call["ended_at"].as_str().unwrap().to_string();
    let answered = call["answered_at"].as_str().unwrap().to_string();
    let call_ms = ms_between(&answered, &ended);
    assert!(duration_ms <= call_ms + 100, "recording {duration_ms} ms within a call of {call_ms} ms");
    assert!(call_ms - duration_ms < 3_000, "recording {duration_ms} ms starts at the consent (call {call_ms} ms)");

    let left: Vec<i16> = samples.iter().step_by(2).copied().collect();
    let right: Vec<i16> = samples.iter().skip(1).step_by(2).copied().collect();
    let (left_rms, left_tone) = analyse(&left);
    let (right_rms, right_tone) = analyse(&right);
    eprintln!("caller: rms {left_rms:.0}, 1 kHz {left_tone:.2}; bot: rms {right_rms:.0}, 1 kHz {right_tone:.2}");
    assert!(left_rms > 1_000.0, "the caller's tone is on the left: rms {left_rms:.0}");
    assert!(left_tone > 0.8, "the left channel is the caller's 1 kHz tone: {left_tone:.2}");
    assert!(right_rms > 300.0, "the prompts are on the right: rms {right_rms:.0}");
    assert!(right_tone < 0.3, "the right channel is speech, not the caller's tone: {right_tone:.2}");

    // GET: whole (admin), a Range (agent), an unsatisfiable Range.
    let url = format!("/v1/calls/{id}/recording");
    let (status, head, body) = http(gw.api, "GET", &url, &gw.token, "");
    assert_eq!(status, 200, "{head}");
    assert_eq!(header(&head, "content-type"), Some("audio/wav"));
    assert_eq!(header(&head, "accept-ranges"), Some("bytes"));
    assert_eq!(body, bytes);
    let (status, head, body) = http(gw.api, "GET", &url, "agent-token", "Range: bytes=100-1099\r\n");
    assert_eq!(status, 206, "{head}");
    assert_eq!(header(&head, "content-range"), Some(format!("bytes 100-1099/{}", bytes.len()).as_str()));
    assert_eq!(header(&head, "content-length"), Some("1000"));
    assert_eq!(body, &bytes[100..1100]);
    let (status, _, body) = http(gw.api, "GET", &url, &gw.token, "Range: bytes=-44\r\n");
    assert_eq!((status, body.as_slice()), (206, &bytes[bytes.len() - 44..]));
    let (status, head, _) = http(gw.api, "GET", &url, &gw.token, &format!("Range: bytes={}-\r\n", bytes.len()));
    assert_eq!(status, 416, "{head}");
    assert_eq!(header(&head, "content-range"), Some(format!("bytes */{}", bytes.len()).as_str()));

    // DELETE: not for agents; an admin erases it, the record says so.
    let (status, _, _) = http(gw.api, "DELETE", &url, "agent-token", "");
    assert_eq!(status, 403);
    let (status, head, body) = http(gw.api, "DELETE", &url, &gw.token, "");
    assert_eq!(status, 200, "{head} {}", String::from_utf8_lossy(&body));
    assert!(!path.exists(), "the file is gone");
    let (_, after) = gw.api_get(&format!("/v1/calls/{id}"), Some(&gw.token));
    assert_eq!(after["recording"]["status"], "deleted", "{after:#}");
    assert!(after["recording"]["deleted_at"].is_string(), "{after:#}");
    let (status, _, _) = http(gw.api, "GET", &url, &gw.token, "");
    assert_eq!(status, 404);
    assert!(gw.log_text().contains("recording deleted"), "the erasure is logged");
}

#[test]
fn a_refusing_caller_is_never_recorded_and_the_record_says_why() {
    let rec_dir = Scratch::new("recordings-no");
    let gw = gateway(&rec_dir.0);
    let call = call(&gw, "2");
    let rec = &call["recording"];
    assert_eq!(rec["status"], "refused", "{call:#}");
    assert_eq!(rec["reason"], "the caller refused consent `recording`", "{call:#}");
    assert!(rec["path"].is_null(), "{call:#}");
    let files: Vec<_> = std::fs::read_dir(&rec_dir.0).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    assert!(files.is_empty(), "no recording file: {files:?}");
    let id = call["id"].as_str().unwrap();
    let (status, _, body) = http(gw.api, "GET", &format!("/v1/calls/{id}/recording"), &gw.token, "");
    assert_eq!(status, 404);
    assert!(String::from_utf8_lossy(&body).contains("refused"), "{}", String::from_utf8_lossy(&body));
}

#[test]
fn a_crash_mid_call_leaves_a_wav_repaired_at_start_up() {
    let rec_dir = Scratch::new("recordings-crash");
    let gw = gateway(&rec_dir.0);
    let dir = Scratch::new("rec-crash");
    let vars = [("RTP_PORT", free_udp_port().to_string()), ("SIGNAL", "1".to_string()), ("AUDIO", tone(&dir.0))];
    let mut sipp = sipp_spawn(&scenario("recording_caller.xml"), &vars, gw.sip_udp, &["-m", "1"], &dir.0);
    // Wait until the WAV holds a second or more of audio (the writer
    // flushes data and header about every second), then kill -9.
    let until = Instant::now() + Duration::from_secs(15);
    let path = loop {
        let wav = std::fs::read_dir(&rec_dir.0)
            .ok()
            .and_then(|d| d.flatten().map(|e| e.path()).find(|p| p.extension().is_some_and(|e| e == "wav")));
        if let Some(p) = wav.filter(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 40_000)) {
            break p;
        }
        assert!(Instant::now() < until, "no recording grew in {:?}", rec_dir.0);
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_millis(700)); // some audio after the last flush
    let gw = gw.kill_and_restart();
    let _ = sipp.kill();
    let _ = sipp.wait();
    let (_, page) = gw.api_get("/v1/calls", Some(&gw.token));
    let call = &page["calls"][0];
    assert_eq!(call["outcome"], "interrupted", "{page:#}");
    let rec = &call["recording"];
    assert_eq!(rec["status"], "recorded", "{page:#}");
    assert_eq!(rec["reason"], "repaired after a gateway restart", "{page:#}");
    let bytes = std::fs::read(&path).expect("the WAV survives");
    let (channels, samples) = wav_samples(&bytes); // checks the header's sizes against the file
    assert_eq!(channels, 2);
    assert!(samples.len() / 2 >= 8_000, "at least a second of audio: {} frames", samples.len() / 2);
    assert_eq!(rec["bytes"], bytes.len() as u64, "{page:#}");
    assert!(gw.log_text().contains("recording repaired after a restart"), "{}", gw.log_text());
}

#[test]
fn a_sensitive_gather_is_silence_in_the_recording() {
    let rec_dir = Scratch::new("recordings-pin");
    let flow_dir = Scratch::new("pin-flow");
    let flow = flow_dir.0.join("pin.yaml");
    std::fs::write(
        &flow,
        "flow: pin\nrecording: always\nstart: pin\nnodes:\n  pin:\n    say: \"Type your PIN.\"\n    \
         gather: { max_digits: 4, timeout: 5s, inter_digit_timeout: 3s, retries: 0, sensitive: true }\n    \
         on: { done: bye, no_input: bye, no_match: bye, exhausted: bye }\n  bye:\n    say: \"Thank you. Goodbye.\"\n    hangup: true\n",
    )
    .unwrap();
    let gw = gateway_for(&rec_dir.0, &flow);
    // The caller presses 1 (INFO) and streams the tone from then on.
    let call = call(&gw, "1");
    assert_eq!(call["recording"]["status"], "recorded", "{call:#}");
    let bytes = std::fs::read(call["recording"]["path"].as_str().expect("a path")).expect("the WAV");
    let (_, samples) = wav_samples(&bytes);
    let left: Vec<i16> = samples.iter().step_by(2).copied().collect();
    let right: Vec<i16> = samples.iter().skip(1).step_by(2).copied().collect();
    // At the PIN node (answer + 3 s after the key): silence on both sides,
    // though the prompt played and the caller's tone was streaming.
    let pin = 8_000 * 3;
    assert!(left.len() > pin + 8_000, "the goodbye was recorded too: {} samples", left.len());
    let (pin_left, _) = analyse(&left[..pin]);
    let (pin_right, _) = analyse(&right[..pin]);
    assert!(pin_left < 1.0 && pin_right < 1.0, "silence at the sensitive node: rms {pin_left:.1} / {pin_right:.1}");
    // Then the goodbye: the caller's tone on the left, the prompt on the right.
    let (after_left, after_tone) = analyse(&left[pin..]);
    let (after_right, _) = analyse(&right[pin..]);
    assert!(after_left > 1_000.0 && after_tone > 0.5, "the tone after the PIN node: rms {after_left:.0}, 1 kHz {after_tone:.2}");
    assert!(after_right > 300.0, "the goodbye prompt: rms {after_right:.0}");
}

/// Milliseconds between two RFC 3339 UTC times of the API (`…Z`, optional fraction).
fn ms_between(a: &str, b: &str) -> u64 {
    fn ms(t: &str) -> u64 {
        // 2026-12-02T08:00:00.123Z: only the time of day matters within one call.
        let time = t.split('T').nth(1).expect("a time").trim_end_matches('Z');
        let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
        let mut parts = hms.split(':').map(|p| p.parse::<u64>().expect("a number"));
        let (h, m, s) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
        let frac_ms = format!("{frac:0<3}")[..3].parse::<u64>().unwrap();
        ((h * 60 + m) * 60 + s) * 1000 + frac_ms
    }
    ms(b).saturating_sub(ms(a))
}
