//! The flow author's guide (`docs/flow-authors-guide.md`) cannot rot: every
//! fenced block in it that claims something about the gateway is checked
//! against the real `centralita` binary.
//!
//! - ```` ```yaml flow FILE ````: a complete flow; `centralita validate FILE`
//!   must print `FILE: ok` and nothing else (no errors, no warnings).
//! - ```` ```yaml invalid FILE ````: a flow that `validate` must refuse (exit 1).
//! - ```` ```text validate ```` / ```` ```text simulate ````: a terminal
//!   session. Its first line is `$ centralita …` (run in the directory the
//!   guide's FILEs are written to); for `simulate` the lines starting with
//!   `> ` are the input, piped to stdin. The session's lines must be the
//!   output's lines, in order and consecutive; a line `…` skips any number
//!   of output lines, and the output may go on after the session ends.
//!
//! A ```` ```yaml ```` block with neither mark fails the test, so an example
//! cannot be added unchecked.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use centralita_e2e::{gateway_binary, repo_root, Scratch};

const GUIDE: &str = "docs/flow-authors-guide.md";

/// One fenced block: its info string, body lines and the line it opens on.
struct Block {
    info: String,
    lines: Vec<String>,
    line: usize,
}

fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in text.lines().enumerate() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => open = Some(Block { info: info.trim().to_owned(), lines: Vec::new(), line: i + 1 }),
            (Some(_), Some(rest)) if rest.trim().is_empty() => out.extend(open.take()),
            (Some(b), _) => b.lines.push(line.to_owned()),
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "{GUIDE}: a fenced block is not closed");
    out
}

/// Checks `session` (expected lines, `…` = skip) against `actual`.
fn matches(session: &[String], actual: &[&str]) -> Result<(), String> {
    fn go(exp: &[String], act: &[&str]) -> bool {
        match exp.split_first() {
            None => true,
            Some((e, rest)) if e.trim() == "…" => (0..=act.len()).any(|skip| go(rest, &act[skip..])),
            Some((e, rest)) => act.first().is_some_and(|a| a == e) && go(rest, &act[1..]),
        }
    }
    if go(session, actual) {
        return Ok(());
    }
    // Point at the first expected line that is not where it should be.
    let mut at = 0;
    for e in session.iter().filter(|e| e.trim() != "…") {
        match actual[at..].iter().position(|a| a == e) {
            Some(p) => at += p + 1,
            None => return Err(format!("expected line not found (in order): {e:?}")),
        }
    }
    Err("the lines are there but not consecutive (add `…` where output is skipped on purpose)".to_owned())
}

fn run(dir: &Path, command: &str, stdin: &str) -> (Option<i32>, String, String) {
    let args: Vec<&str> = command.split_whitespace().collect();
    assert_eq!(args.first(), Some(&"centralita"), "a session starts with `$ centralita …`: {command}");
    let mut child = Command::new(gateway_binary())
        .args(&args[1..])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run centralita");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write stdin");
    let out = child.wait_with_output().expect("wait for centralita");
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn every_flow_and_session_in_the_guide_holds() {
    let text = std::fs::read_to_string(repo_root().join(GUIDE)).expect("read the guide");
    let blocks = blocks(&text);
    let dir = Scratch::new("guide");
    let mut flows = Vec::new();
    let mut sessions = Vec::new();
    let mut failures = Vec::new();
    for b in &blocks {
        let words: Vec<&str> = b.info.split_whitespace().collect();
        match words.as_slice() {
            ["yaml", kind @ ("flow" | "invalid"), file] => {
                let path = dir.0.join(file);
                assert!(!path.exists(), "{GUIDE}:{}: {file} is used by two blocks", b.line);
                std::fs::write(&path, b.lines.join("\n") + "\n").expect("write flow");
                flows.push((b.line, *kind == "flow", (*file).to_owned()));
            }
            ["yaml", ..] => panic!("{GUIDE}:{}: a yaml block must be marked `yaml flow FILE` or `yaml invalid FILE`", b.line),
            ["text", "validate" | "simulate"] => sessions.push(b),
            _ => {}
        }
    }
    for (line, valid, file) in &flows {
        let (code, stdout, stderr) = run(&dir.0, &format!("centralita validate {file}"), "");
        let clean = code == Some(0) && stdout.trim() == format!("{file}: ok") && stderr.trim().is_empty();
        if *valid && !clean {
            failures.push(format!("{GUIDE}:{line}: {file} does not validate cleanly:\n{stdout}{stderr}"));
        }
        if !*valid && code != Some(1) {
            failures.push(format!("{GUIDE}:{line}: {file} is marked invalid but validate exited {code:?}:\n{stdout}{stderr}"));
        }
    }
    for b in &sessions {
        let (first, session) = b.lines.split_first().unwrap_or_else(|| panic!("{GUIDE}:{}: empty session", b.line));
        let command = first.strip_prefix("$ ").unwrap_or_else(|| panic!("{GUIDE}:{}: a session starts with `$ `", b.line));
        let input: String = session.iter().filter_map(|l| l.strip_prefix("> ")).map(|l| format!("{l}\n")).collect();
        let (_, stdout, stderr) = run(&dir.0, command, &input);
        let all = format!("{stdout}{stderr}");
        let actual: Vec<&str> = all.lines().collect();
        if let Err(why) = matches(session, &actual) {
            failures.push(format!("{GUIDE}:{}: `{command}`: {why}\n--- output ---\n{all}", b.line));
        }
    }
    // The guide's examples are all found (a change of fence syntax must not
    // make this test pass on nothing).
    assert!(flows.len() >= 15 && sessions.len() >= 5, "only {} flows and {} sessions found in {GUIDE}", flows.len(), sessions.len());
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn sessions_are_compared_line_by_line() {
    let s = |v: &[&str]| v.iter().map(|l| (*l).to_owned()).collect::<Vec<_>>();
    assert!(matches(&s(&["a", "b"]), &["a", "b", "c"]).is_ok());
    assert!(matches(&s(&["a", "c"]), &["a", "b", "c"]).is_err(), "a skipped line needs …");
    assert!(matches(&s(&["a", "…", "c"]), &["a", "b", "c"]).is_ok());
    assert!(matches(&s(&["b"]), &["a", "b"]).is_err(), "sessions start at the first line");
    assert!(matches(&s(&["a", "x"]), &["a", "b"]).unwrap_err().contains("\"x\""));
}
