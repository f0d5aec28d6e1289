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

#[test]
fn play_prompts_are_checked_against_the_prompt_library() {
    let dir = Scratch::new("validate-prompts");
    let flow = dir.0.join("p.yaml");
    std::fs::write(&flow, "flow: p\nlanguage: en-US\nstart: a\nnodes:\n  a:\n    play: welcome\n    hangup: true\n").expect("write");
    let lib = dir.0.join("prompts");
    std::fs::create_dir_all(&lib).expect("dir");
    let run = || Command::new(gateway_binary()).arg("validate").arg(&flow).arg("--prompts").arg(&lib).output().expect("run");
    let out = run();
    assert_eq!(out.status.code(), Some(1), "missing prompt must fail");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:6:", flow.display())) && err.contains("welcome"), "{err}");
    // A 16-bit mono WAV (header only is enough for the existence check).
    let mut wav = b"RIFF\x24\0\0\0WAVEfmt \x10\0\0\0\x01\0\x01\0\x40\x1f\0\0\x80\x3e\0\0\x02\0\x10\0data\0\0\0\0".to_vec();
    wav.truncate(44);
    std::fs::write(lib.join("welcome.wav"), wav).expect("wav");
    let out = run();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
