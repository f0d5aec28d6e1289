//! `centralita validate`: the demo flow is clean; a broken flow exits 1
//! with `file:line:col: message`; `--format json` and `--strict`; node
//! names defined twice; languages the recogniser cannot serve.

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

fn validate(args: &[&std::ffi::OsStr]) -> (Option<i32>, String, String) {
    let out = Command::new(gateway_binary()).arg("validate").args(args).output().expect("run");
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn json_format_strict_mode_and_duplicate_nodes() {
    let dir = Scratch::new("validate-json");
    let dup = dir.0.join("dup.yaml");
    std::fs::write(&dup, "flow: dup\nstart: a\nnodes:\n  a:\n    say: hi\n    hangup: true\n  a:\n    say: again\n    hangup: true\n")
        .expect("write");
    let (code, stdout, stderr) = validate(&[dup.as_os_str(), "--format".as_ref(), "json".as_ref()]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON document on stdout");
    assert_eq!(doc["ok"], false);
    let d = &doc["files"][0]["diagnostics"][0];
    assert_eq!((d["line"].as_u64(), d["column"].as_u64(), d["severity"].as_str()), (Some(7), Some(3), Some("error")), "{doc:#}");
    assert!(d["message"].as_str().is_some_and(|m| m.contains("duplicate node `a`")), "{doc:#}");

    // A warning (an unreachable node): ok, unless --strict.
    let warn = dir.0.join("warn.yaml");
    std::fs::write(&warn, "flow: w\nstart: a\nnodes:\n  a:\n    hangup: true\n  lost:\n    hangup: true\n").expect("write");
    let (code, stdout, _) = validate(&[warn.as_os_str(), "--format".as_ref(), "json".as_ref()]);
    assert_eq!(code, Some(0), "{stdout}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!((doc["ok"].as_bool(), doc["files"][0]["diagnostics"][0]["severity"].as_str()), (Some(true), Some("warning")), "{doc:#}");
    let (code, stdout, stderr) = validate(&[warn.as_os_str(), "--strict".as_ref()]);
    assert_eq!(code, Some(1), "--strict fails on warnings: {stdout}{stderr}");
    assert!(stdout.contains(&format!("{}:6:3: warning:", warn.display())), "{stdout}");
}

#[test]
fn languages_the_recogniser_cannot_serve_are_named_per_flow() {
    let soporte = repo_root().join("flows/soporte.yaml");
    let (code, stdout, stderr) = validate(&[soporte.as_os_str()]);
    assert_eq!(code, Some(0), "a warning, not an error: {stderr}");
    assert!(
        stdout.contains("flow `soporte`: speech in es-AR cannot be recognised by [speech].asr = \"builtin\" (it serves en-US)"),
        "{stdout}"
    );
    let (_, stdout, _) = validate(&[repo_root().join("flows/demo.yaml").as_os_str()]);
    assert!(!stdout.contains("cannot be recognised"), "the demo is en-US: {stdout}");
    // A recogniser that serves every language: no warning.
    let dir = Scratch::new("validate-asr");
    let cfg = dir.0.join("c.toml");
    std::fs::write(&cfg, "[speech]\nasr = \"openai\"\n[speech.openai]\nurl = \"http://127.0.0.1:9\"\n").expect("write");
    let (code, stdout, stderr) = validate(&[soporte.as_os_str(), "--config".as_ref(), cfg.as_os_str()]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stdout.contains("cannot be recognised"), "{stdout}");
}
