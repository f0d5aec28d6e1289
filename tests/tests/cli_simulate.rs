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
