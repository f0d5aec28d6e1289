//! `centralita validate`: the demo flow is clean; a broken flow exits 1
//! with `file:line:col: message`.

use std::process::Command;

use centralita_e2e::{gateway_binary, repo_root, Scratch};

#[test]
fn demo_flow_validates_and_a_broken_one_names_file_and_line() {
    let ok = Command::new(gateway_binary()).arg("validate").arg(repo_root().join("flows/demo.yaml")).output().expect("run");
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));

    let dir = Scratch::new("validate");
    let bad = dir.0.join("bad.yaml");
    std::fs::write(&bad, "flow: bad\nstart: a\nnodes:\n  a:\n    say: hi\n    on: { done: nowhere }\n").expect("write");
    let out = Command::new(gateway_binary()).arg("validate").arg(&bad).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:6:", bad.display())), "file:line expected: {err}");
    assert!(err.contains("nowhere"), "{err}");
}
