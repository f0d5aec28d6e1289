//! `centralita simulate` and `centralita schema`: a scripted call through
//! the example flows on stdin, and the flow JSON Schema on stdout.

use std::io::Write;
use std::process::{Command, Stdio};

use centralita_e2e::{gateway_binary, repo_root};

fn simulate(flow: &str, args: &[&str], script: &str) -> (bool, String) {
    let mut child = Command::new(gateway_binary())
        .arg("simulate")
        .arg(repo_root().join("flows").join(flow))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run centralita simulate");
    child.stdin.take().expect("stdin").write_all(script.as_bytes()).expect("write script");
    let out = child.wait_with_output().expect("simulate ends");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

#[test]
fn demo_by_keys_and_speech_ends_in_a_transfer() {
    let (ok, out) =
        simulate("demo.yaml", &["--at", "2026-11-24T10:00:00-03:00", "--caller", "+15550001111"], "5\n:silence\nagent please\n");
    assert!(ok, "{out}");
    assert!(out.contains("bot: Welcome to Acme."), "{out}");
    assert!(out.contains("intent: agent (agent please)"), "{out}");
    assert!(out.contains("transfer: sip:agents@127.0.0.1:5070 (blind) context: {\"flow\":\"demo\",\"caller\":\"+15550001111\""), "{out}");
    assert!(out.contains("result: transferred after 5.0s"), "{out}");
}

#[test]
fn closed_hours_and_language() {
    let (ok, out) = simulate("soporte.yaml", &["--at", "2026-11-29T10:00:00-03:00", "--lang", "en-US"], "");
    assert!(ok, "{out}");
    assert!(out.contains("[fuera_de_horario]\nbot: We are open Monday to Friday"), "{out}");
    let (ok, out) = simulate("demo.yaml", &["--at", "not a time"], "");
    assert!(!ok, "a bad --at is refused: {out}");
}

#[test]
fn without_at_business_hours_follow_the_real_clock() {
    // Closed yesterday, today and tomorrow (in any zone): whatever the
    // hour, the gateway would answer with `shut`, and so must simulate.
    let dir = centralita_e2e::Scratch::new("simulate-hours");
    let day = |offset: i64| {
        let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64 + offset * 86_400;
        let days = secs.div_euclid(86_400);
        // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        format!("\"{y:04}-{m:02}-{d:02}\"")
    };
    let flow = dir.0.join("h.yaml");
    let yaml = format!(
        "flow: h\nstart: open\nhours:\n  timezone: UTC\n  holidays: [{}, {}, {}]\n  closed: shut\nnodes:\n  open:\n    say: We are open.\n    hangup: true\n  shut:\n    say: We are closed.\n    hangup: true\n",
        day(-1),
        day(0),
        day(1)
    );
    std::fs::write(&flow, yaml).expect("write flow");
    let out = Command::new(gateway_binary()).arg("simulate").arg(&flow).stdin(Stdio::null()).output().expect("simulate");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("[shut]\nbot: We are closed."), "simulate without --at must use the real clock: {text}");
}

#[test]
fn ventas_order_and_csat() {
    let script = ":webhook 200 {\"contact\":{\"first_name\":\"Ana\"}}\n1\n2\n:webhook 201 {\"id\":\"P-1\"}\n5\n";
    let (ok, out) = simulate("ventas.yaml", &[], script);
    assert!(ok, "{out}");
    assert!(out.contains("bot: ¡Hola Ana!"), "{out}");
    assert!(out.contains("event: order value=19900 currency=ARS"), "{out}");
    assert!(out.contains("survey: csat_ventas (csat) = 5"), "{out}");
    assert!(out.contains("result: hung up"), "{out}");
}

#[test]
fn schema_is_json() {
    let out = Command::new(gateway_binary()).arg("schema").output().expect("run centralita schema");
    assert!(out.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(schema["title"], "Centralita flow");
    assert!(schema["$defs"]["node"]["properties"]["webhook"].is_object());
}

#[test]
fn words_with_a_confidence_are_rejected_or_confirmed() {
    // demo.yaml: min_confidence 0.5, so "human" at 0.49 is rejected and
    // the menu is said again after the built-in "sorry".
    let (ok, out) = simulate("demo.yaml", &["--at", "2026-11-24T10:00:00-03:00"], "human@0.49\nagent@2\nagent please@0.8\n");
    assert!(ok, "{out}");
    assert!(out.contains("> human@0.49\nrejected: \"human\" at 0.49 (heard as agent; below min_confidence 0.50)\n[welcome]\nbot: Sorry, I didn't get that. Welcome to Acme."), "{out}");
    assert!(out.contains("(bad confidence `2`"), "{out}");
    assert!(out.contains("intent: agent (agent please)"), "{out}");
    // soporte.yaml: confirm_below 0.65 confirms "técnico" at 0.55; keys 1/2 answer.
    let (ok, out) = simulate("soporte.yaml", &["--at", "2026-11-24T10:00:00-03:00"], "1\ntécnico@0.55\n2\ntécnico@0.6\n1\n");
    assert!(ok, "{out}");
    assert!(out.contains("confirm: tecnico? (\"técnico\" at 0.55)\nbot: ¿Dijiste técnico?"), "{out}");
    assert!(out.contains("> 2\nrejected: \"técnico\" at 0.55 (heard as tecnico; the caller said no)"), "{out}");
    assert!(out.contains("> 1\nintent: tecnico (técnico)\n[a_tecnico]"), "{out}");
}

#[test]
fn a_reader_that_stops_early_ends_the_session_quietly() {
    // `centralita simulate flows/demo.yaml | head -1`: the pipe closes while
    // the simulator still writes; it must end without a panic.
    let mut child = Command::new(gateway_binary())
        .args(["simulate"])
        .arg(repo_root().join("flows/demo.yaml"))
        .args(["--at", "2026-11-24T12:00:00-03:00"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("simulate");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 16];
    std::io::Read::read_exact(&mut stdout, &mut first).expect("the first prompt");
    drop(stdout);
    let mut stdin = child.stdin.take().expect("stdin");
    // Keep typing until the simulator notices the closed pipe (or the pipe to it closes).
    for _ in 0..200 {
        if std::io::Write::write_all(&mut stdin, b"9\n").is_err() {
            break;
        }
    }
    drop(stdin);
    let out = child.wait_with_output().expect("exit");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
}
