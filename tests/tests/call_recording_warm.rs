//! Issue #19 with a warm transfer: a flow with `recording: always` dials
//! an agent (SIPp) who accepts with 1; once bridged, the caller's audio
//! (a 1 kHz tone) is on the recording's left channel and the agent's (a
//! 400 Hz tone) on its right, next to the bot's prompts and hold music.

#[path = "support/two_way.rs"]
mod two_way;

use std::time::{Duration, Instant};

use centralita_e2e::{free_udp_port, sipp_spawn, sipp_uas, Gateway, Scratch};
use media::Codec;
use two_way::{scenario, sipp_errors, tone, urlencode, wait, Rtp};

/// 20 ms of a 1 kHz tone (the caller's voice here), frame `n`.
fn caller_tone(n: u32) -> Vec<u8> {
    let pcm: Vec<i16> =
        (0..160).map(|i| ((((n * 160 + i) as f32 / 8000.0) * 1000.0 * std::f32::consts::TAU).sin() * 8000.0) as i16).collect();
    let mut out = vec![0u8; 160];
    Codec::Pcmu.encode(&pcm, &mut out);
    out
}

/// 20 ms blocks of `samples` whose energy is mostly (> 80 %) at `freq` Hz.
fn tone_blocks(samples: &[i16], freq: f64) -> usize {
    let coeff = 2.0 * (2.0 * std::f64::consts::PI * freq / 8000.0).cos();
    samples
        .chunks_exact(160)
        .filter(|block| {
            let (mut s1, mut s2, mut energy) = (0.0f64, 0.0f64, 0.0f64);
            for &x in *block {
                let x = f64::from(x);
                energy += x * x;
                let s0 = x + coeff * s1 - s2;
                s2 = s1;
                s1 = s0;
            }
            let power = (s1 * s1 + s2 * s2 - coeff * s1 * s2) * 2.0 / 160.0;
            energy > 160.0 * 1_000.0 * 1_000.0 && power / energy > 0.8
        })
        .count()
}

#[test]
fn a_bridged_agent_is_recorded_on_the_right_channel() {
    let dir = Scratch::new("rec-warm");
    let rec_dir = Scratch::new("rec-warm-files");
    let agent_port = free_udp_port();
    let yaml = scenario("warm_flow.yaml")
        .replace("@AGENT@", &format!("sip:agent@127.0.0.1:{agent_port}"))
        .replace("language: en-US\n", "language: en-US\nrecording: always\n");
    let flow = dir.0.join("warm_flow.yaml");
    std::fs::write(&flow, yaml).unwrap();
    let tables = format!("[recording]\ndir = \"{}\"\n", rec_dir.0.display());
    let gw = Gateway::start_with_tables("", 20, &flow, &tables);
    let mut caller = Rtp::new(0x1111_1111);
    let mut agent = Rtp::new(0x2222_2222);
    let agent_vars = [("RTP_PORT", agent.port().to_string()), ("TALK_MS", "4000".to_string()), ("CODEC_PT", "8".to_string())];
    let mut agent_sipp = sipp_uas(&scenario("warm_agent.xml"), &agent_vars, agent_port, &["-m", "1"], &dir.0);
    let mut caller_sipp =
        sipp_spawn(&scenario("warm_caller.xml"), &[("RTP_PORT", caller.port().to_string())], gw.sip_udp, &["-m", "1"], &dir.0);

    let gw_caller_rtp = caller.until_loud(Duration::from_secs(15)).expect("the menu prompt reaches the caller");
    caller.key(gw_caller_rtp, 0);
    let gw_agent_rtp = agent
        .until_loud(Duration::from_secs(15))
        .unwrap_or_else(|| panic!("the whisper reaches the agent; SIPp: {}\ngateway log:\n{}", sipp_errors(&dir), gw.log_text()));
    agent.key(gw_agent_rtp, 1);
    std::thread::sleep(Duration::from_millis(300));

    // Bridged: one second of the caller, then one second of the agent.
    for n in 0..50 {
        caller.send(gw_caller_rtp, 0, n == 0, &caller_tone(n), 160);
        std::thread::sleep(Duration::from_millis(20));
    }
    for n in 0..50u32 {
        agent.send(gw_agent_rtp, 8, n == 0, &tone(Codec::Pcma, n), 160);
        std::thread::sleep(Duration::from_millis(20));
    }
    let caller_status = wait(&mut caller_sipp, Duration::from_secs(30));
    let agent_status = wait(&mut agent_sipp, Duration::from_secs(30));
    assert!(agent_status.success() && caller_status.success(), "SIPp: {agent_status:?} {caller_status:?}\n{}", gw.log_text());

    let until = Instant::now() + Duration::from_secs(10);
    let detail = loop {
        let (_, calls) = gw.api_get("/v1/calls", Some(&gw.token));
        let call = &calls["calls"][0];
        if call["recording"]["status"] == "recorded" {
            let id = call["id"].as_str().unwrap();
            break gw.api_get(&format!("/v1/calls/{}", urlencode(id)), Some(&gw.token)).1;
        }
        assert!(Instant::now() < until, "no recorded call: {calls:#}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(detail["outcome"], "transferred", "{detail:#}");
    let path = detail["recording"]["path"].as_str().expect("a path");
    let bytes = std::fs::read(path).expect("the WAV");
    assert_eq!(u16::from_le_bytes([bytes[22], bytes[23]]), 2, "stereo");
    let samples: Vec<i16> = bytes[44..].chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
    let left: Vec<i16> = samples.iter().step_by(2).copied().collect();
    let right: Vec<i16> = samples.iter().skip(1).step_by(2).copied().collect();
    let (caller_left, caller_right) = (tone_blocks(&left, 1000.0), tone_blocks(&right, 1000.0));
    let (agent_left, agent_right) = (tone_blocks(&left, 400.0), tone_blocks(&right, 400.0));
    eprintln!("1 kHz blocks: left {caller_left}, right {caller_right}; 400 Hz blocks: left {agent_left}, right {agent_right}");
    assert!(caller_left >= 40, "the caller's second of 1 kHz is on the left: {caller_left} blocks");
    assert!(caller_right <= 2, "and not on the right: {caller_right}");
    assert!(agent_right >= 40, "the bridged agent's second of 400 Hz is on the right: {agent_right} blocks");
    assert!(agent_left <= 2, "and not on the left: {agent_left}");
}
