//! `centralita run` start-up (issue #13): the default `change-me` token on
//! a non-loopback API address is refused with a clear message, a busy SIP
//! address is named, and a started gateway logs a summary of what it
//! loaded.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use centralita_e2e::{gateway_binary, repo_root, Gateway, Scratch};

/// Runs the gateway on `toml` and expects it to exit at once; its stderr.
fn refused(tag: &str, toml: &str) -> String {
    let dir = Scratch::new(tag);
    let cfg = dir.0.join("c.toml");
    let flow = repo_root().join("flows/demo.yaml");
    std::fs::write(
        &cfg,
        format!("{toml}\n[flows]\ndefault = \"{}\"\n[store]\nurl = \"sqlite://{}\"\n", flow.display(), dir.0.join("c.db").display()),
    )
    .expect("write config");
    let mut child = Command::new(gateway_binary())
        .args(["run", "--config"])
        .arg(&cfg)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run");
    // A gateway that starts prints its `listening` line; one that refuses
    // closes stdout by exiting.
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut first).expect("read stdout");
    if !first.is_empty() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the gateway started but must not: {first}");
    }
    let out = child.wait_with_output().expect("exit");
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn the_default_token_on_a_public_address_is_refused() {
    let err = refused("token", "[sip]\nlisten = [\"udp:127.0.0.1:0\"]\n[api]\nlisten = \"0.0.0.0:0\"\n");
    assert!(err.contains("refusing to start") && err.contains("change-me") && err.contains("0.0.0.0:0"), "{err}");
}

#[test]
fn a_busy_sip_address_is_named() {
    let busy = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = busy.local_addr().expect("addr");
    let err = refused("busy", &format!("[sip]\nlisten = [\"tcp:127.0.0.1:0\", \"udp:{addr}\"]\n[api]\nlisten = \"127.0.0.1:0\"\n"));
    assert!(err.contains(&format!("cannot listen on udp:{addr} from [sip].listen")), "{err}");
}

#[test]
fn a_started_gateway_logs_what_it_loaded() {
    // soporte.yaml listens for speech in es-AR: the built-in recogniser
    // cannot serve it, and start-up says so for that flow.
    let gw = Gateway::start_full("", 20, &repo_root().join("flows/soporte.yaml"));
    let log = gw.log_text();
    for want in [
        "flows loaded",
        "soporte (",
        "routes: 0 numbers routed",
        "trunks",
        "speech engines",
        "asr=builtin",
        "tts=builtin",
        "flow `soporte`: speech in es-AR cannot be recognised by [speech].asr = \"builtin\"",
    ] {
        assert!(log.contains(want), "start-up summary lacks {want:?}:\n{log}");
    }
}
