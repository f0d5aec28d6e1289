//! baresip as a test caller: a config directory with the caller's audio
//! from a WAV of silence (the gateway's prompts are what the test listens
//! to), G.711 only, and a run that dials and quits after a while.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::free_udp_port;

/// baresip's output after dialing `target` from the config in `dir`
/// (see [`baresip_config`]) and quitting after `seconds`.
pub fn baresip_dial(dir: &Path, target: &str, seconds: u32) -> String {
    let out = Command::new("baresip")
        .arg("-f")
        .arg(dir)
        .args(["-e", &format!("/dial {target}"), "-t", &seconds.to_string()])
        .stdin(Stdio::null())
        .output()
        .expect("baresip (scripts/install-deps.sh installs it)");
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

/// Writes a baresip config into `dir` (and 15 s of silence as the caller's
/// audio). `record`: also dump the decoded audio it hears (`sndfile`) there.
pub fn baresip_config(dir: &Path, record: bool) {
    let silence = dir.join("silence.wav");
    let ok = Command::new("sox").args(["-n", "-r", "8000", "-c", "1", "-b", "16"]).arg(&silence).args(["trim", "0", "15"]).status();
    assert!(ok.is_ok_and(|s| s.success()), "sox (scripts/install-deps.sh installs it)");
    let rtp = free_udp_port();
    let sndfile = if record { format!("module sndfile.so\nsnd_path {}\n", dir.display()) } else { String::new() };
    let config = format!(
        "poll_method epoll\nsip_listen 127.0.0.1:{sip}\naudio_player aubridge,x\naudio_source aufile,{src}\naudio_alert aubridge,x\n\
         audio_srate 8000\naudio_channels 1\nrtp_ports {rtp}-{rtp_hi}\nmodule_path /usr/lib/baresip/modules\n\
         module g711.so\nmodule aufile.so\nmodule aubridge.so\nmodule menu.so\n{sndfile}\
         module_app account.so\nmodule_app contact.so\n",
        sip = free_udp_port(),
        src = silence.display(),
        rtp_hi = rtp + 10,
    );
    std::fs::write(dir.join("config"), config).expect("config");
    std::fs::write(dir.join("accounts"), "<sip:tester@127.0.0.1>;regint=0\n").expect("accounts");
    std::fs::write(dir.join("contacts"), "").expect("contacts");
}
