//! The flow author's guide (`docs/flow-authors-guide.md`) cannot rot: every
//! fenced block in it that claims something about the gateway is checked
//! against the real `centralita` binary.
//!
//! - ```` ```yaml flow FILE ````: a complete flow; `centralita validate FILE`
//!   must print `FILE: ok` and nothing else (no errors, no warnings).
//! - ```` ```yaml warns FILE ````: a valid flow shown for its warnings;
//!   `validate` must exit 0 and print at least one `warning:`.
//! - ```` ```yaml invalid FILE ````: a flow that `validate` must refuse (exit 1).
//! - ```` ```text validate ```` / ```` ```text simulate ````: a terminal
//!   session. Its first line is `$ centralita …` (run in the directory the
//!   guide's FILEs are written to); for `simulate` the lines starting with
//!   `> ` are the input, piped to stdin. The session's lines must be the
//!   output's lines, in order and consecutive; a line `…` skips any number
//!   of output lines, and the output may go on after the session ends.
//!
//! A ```` ```yaml ```` block with none of these marks fails the test, so an example
//! cannot be added unchecked.
//!
//! The README's configuration reference cannot rot either: every table and
//! key the config parser accepts (found by asking the parser itself, whose
//! unknown-key errors list the keys it expects) must have a row in it.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use centralita_e2e::{gateway_binary, repo_root, Scratch};

const GUIDE: &str = "docs/flow-authors-guide.md";
/// A key no table of the config has.
const PROBE: &str = "__probe";

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
            ["yaml", kind @ ("flow" | "warns" | "invalid"), file] => {
                let path = dir.0.join(file);
                assert!(!path.exists(), "{GUIDE}:{}: {file} is used by two blocks", b.line);
                std::fs::write(&path, b.lines.join("\n") + "\n").expect("write flow");
                flows.push((b.line, *kind, (*file).to_owned()));
            }
            ["yaml", ..] => {
                panic!("{GUIDE}:{}: a yaml block must be marked `yaml flow FILE`, `yaml warns FILE` or `yaml invalid FILE`", b.line)
            }
            ["text", "validate" | "simulate"] => sessions.push(b),
            _ => {}
        }
    }
    for (line, kind, file) in &flows {
        let (code, stdout, stderr) = run(&dir.0, &format!("centralita validate {file}"), "");
        let ok_line = stdout.lines().last() == Some(&format!("{file}: ok")) && stderr.trim().is_empty();
        let warned = stdout.lines().any(|l| l.starts_with(&format!("{file}:")) && l.contains(": warning: "));
        let holds = match *kind {
            "flow" => code == Some(0) && ok_line && stdout.lines().count() == 1,
            "warns" => code == Some(0) && ok_line && warned,
            _ => code == Some(1),
        };
        if !holds {
            failures.push(format!("{GUIDE}:{line}: {file} (`{kind}`): validate exited {code:?}:\n{stdout}{stderr}"));
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

/// The keys a config table expects, from the parser's error for an unknown
/// key in it (`unknown field `__probe`, expected one of `a`, `b``); `None`
/// when `header` does not open a table with named keys (a value, a list,
/// a map of free names).
fn table_keys(header: &str) -> Option<Vec<String>> {
    let toml = format!("{header}\n{PROBE} = 1\n");
    let err = match sip_gateway::config::Config::from_toml(&toml, "probe.toml") {
        Ok(_) => return None,
        Err(e) => e.to_string(),
    };
    let rest = err.split_once(&format!("unknown field `{PROBE}`"))?.1;
    if rest.contains("there are no fields") {
        return Some(Vec::new());
    }
    Some(rest.split('`').skip(1).step_by(2).map(str::to_owned).collect())
}

/// Every leaf key of the config under `path` (parts, each marked whether
/// it is an array of tables), as dotted paths.
fn config_leaves(path: &[(String, bool)], header: &str, out: &mut Vec<Vec<String>>) {
    let keys = table_keys(header).expect("the config root is a table");
    for key in keys {
        let mut parts = path.to_vec();
        let dotted: Vec<String> = path.iter().map(|(p, _)| p.clone()).chain(std::iter::once(key.clone())).collect();
        // A sub-table header after an array of tables opens it in the last element.
        let prefix = |array: bool| -> String {
            let mut h = String::new();
            for (i, (_, is_array)) in path.iter().enumerate() {
                if *is_array {
                    h.push_str(&format!("[[{}]]\n", dotted[..=i].join(".")));
                }
            }
            let me = dotted.join(".");
            h + &if array { format!("[[{me}]]") } else { format!("[{me}]") }
        };
        if let Some(header) = [false, true].into_iter().map(|a| (a, prefix(a))).find(|(_, h)| table_keys(h).is_some()) {
            parts.push((key, header.0));
            config_leaves(&parts, &header.1, out);
        } else {
            out.push(dotted);
        }
    }
}

#[test]
fn the_readme_lists_every_config_table_and_key() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("read the README");
    // Rows of the reference table: first cell (`[sip].listen`, `[[trunks]]`) and the whole row.
    let rows: Vec<(String, &str)> =
        readme.lines().filter(|l| l.starts_with("| `[")).filter_map(|l| Some((l.split('`').nth(1)?.to_owned(), l))).collect();
    let mut leaves = Vec::new();
    config_leaves(&[], "", &mut leaves);
    assert!(leaves.len() > 40, "the config probe found only {} keys: {leaves:?}", leaves.len());
    let mut missing = Vec::new();
    for leaf in &leaves {
        let (table, key) = leaf.split_at(leaf.len() - 1);
        let table = table.join(".");
        let own_row = rows.iter().any(|(cell, _)| *cell == format!("[{table}].{}", key[0]) || *cell == format!("[[{table}]].{}", key[0]));
        // Or a row for an enclosing table that names the rest of the path.
        let in_table_row = (1..=leaf.len()).rev().any(|i| {
            let t = leaf[..i].join(".");
            rows.iter()
                .filter(|(cell, _)| *cell == format!("[{t}]") || *cell == format!("[[{t}]]"))
                .any(|(_, row)| leaf[i..].iter().all(|k| row.contains(&format!("`{k}`"))))
        });
        if !own_row && !in_table_row {
            missing.push(leaf.join("."));
        }
    }
    assert!(missing.is_empty(), "README.md's configuration reference has no row for: {}", missing.join(", "));
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces
/// as `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn links_in_the_docs_lead_somewhere() {
    let mut broken = Vec::new();
    let anchors_of =
        |text: &str| -> Vec<String> { text.lines().filter_map(|l| l.strip_prefix('#')).map(|h| slug(h.trim_start_matches('#'))).collect() };
    for doc in ["docs/flow-authors-guide.md", "docs/README.md", "prompts/assets/README.md", "README.md", "dialogs/FLOWS.md"] {
        let path = repo_root().join(doc);
        let text = std::fs::read_to_string(&path).expect("read doc");
        let anchors = anchors_of(&text);
        for (i, line) in text.lines().enumerate() {
            for target in line.split("](").skip(1).filter_map(|rest| rest.split(')').next()) {
                if target.starts_with("http") {
                    continue;
                }
                let (file, anchor) = target.split_once('#').unwrap_or((target, ""));
                let target_path = path.parent().expect("doc dir").join(file);
                let ok = match (file.is_empty(), anchor.is_empty()) {
                    (true, _) => anchors.iter().any(|a| a == anchor),
                    (false, true) => target_path.exists(),
                    (false, false) => std::fs::read_to_string(&target_path).is_ok_and(|t| anchors_of(&t).iter().any(|a| a == anchor)),
                };
                if !ok {
                    broken.push(format!("{doc}:{}: {target}", i + 1));
                }
            }
        }
    }
    assert!(broken.is_empty(), "links to nothing:\n{}", broken.join("\n"));
}
