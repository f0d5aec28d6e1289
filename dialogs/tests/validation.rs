//! Validation: one small bad flow per diagnostic kind, each checked for its
//! exact `file:line:col` and message; the demo flow validates clean.

use std::path::Path;

use dialogs::{load_flow, parse_flow, validate, FlowError, Severity};

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// All diagnostics of a fixture, as `centralita validate` prints them.
fn diagnostics(name: &str) -> Vec<String> {
    let source = std::fs::read_to_string(fixture(name)).expect("fixture exists");
    let file = format!("fixtures/{name}");
    match parse_flow(&source, &file) {
        Ok(flow) => validate(&flow).iter().map(ToString::to_string).collect(),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn demo_flow_is_clean() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../flows/demo.yaml");
    let (flow, warnings) = load_flow(&path).expect("demo flow loads");
    assert_eq!(warnings, vec![]);
    assert_eq!(flow.name, "demo");
    assert_eq!(flow.nodes.len(), 6);
    assert!(flow.hours.is_none(), "the demo answers at any hour (soporte.yaml shows `hours:`)");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../flows/soporte.yaml");
    let hours = load_flow(&path).expect("soporte loads").0.hours.expect("soporte has hours");
    assert_eq!(hours.open.len(), 2);
    assert_eq!(hours.holidays[0].to_string(), "2026-12-25");
}

#[test]
fn duplicate_nodes_and_intents_are_errors_at_the_second_definition() {
    assert_eq!(
        diagnostics("duplicates.yaml"),
        vec![
            "fixtures/duplicates.yaml:9:7: node `menu`: duplicate intent `sales` (first defined at line 8)",
            // serde keeps the second `menu`, which never goes to `bye`.
            "fixtures/duplicates.yaml:11:3: warning: node `bye` cannot be reached from start `menu`",
            "fixtures/duplicates.yaml:14:3: duplicate node `menu` (first defined at line 4); node names must be unique",
        ]
    );
    let err = load_flow(Path::new(&fixture("duplicates.yaml"))).expect_err("a duplicate is an error");
    assert!(matches!(err, FlowError::Invalid(_)), "{err}");
}

#[test]
fn a_transfer_whose_failure_loops_back_warns() {
    assert_eq!(
        diagnostics("transfer_loop.yaml"),
        vec![
            "fixtures/transfer_loop.yaml:12:11: warning: node `to_agent`: transfer loop: when the transfer fails, `failed` leads back to `to_agent` through `menu` with no other exit; map `exhausted` to a node that ends the call (without it the call hangs up after 2 failed attempts)",
        ]
    );
    let fixed = std::fs::read_to_string(fixture("transfer_loop.yaml"))
        .expect("fixture")
        .replace("on: { failed: menu }", "on: { failed: menu, exhausted: sorry }\n  sorry:\n    say: Sorry.\n    hangup: true");
    let flow = parse_flow(&fixed, "fixed.yaml").expect("parses");
    assert_eq!(validate(&flow), vec![]);
}

#[test]
fn unknown_template_filters_warn() {
    let src = "flow: f\nstart: a\nnodes:\n  a:\n    say: \"{{caller|digits}} {{caller|shout}}\"\n    hangup: true\n";
    let out: Vec<String> = validate(&parse_flow(src, "f.yaml").expect("parses")).iter().map(ToString::to_string).collect();
    assert_eq!(
        out,
        vec!["f.yaml:5:5: warning: node `a`: unknown filter `shout` in `{{caller|shout}}` (known: digits, phone, currency, url, email, spell)"]
    );
}

#[test]
fn json_flow_parses_and_points_at_lines() {
    assert_eq!(diagnostics("flow.json"), Vec::<String>::new());
    let bad =
        "{\n  \"flow\": \"j\",\n  \"start\": \"a\",\n  \"nodes\": {\n    \"a\": {\"say\": \"Hi\", \"on\": {\"done\": \"zz\"}}\n  }\n}\n";
    let flow = parse_flow(bad, "bad.json").expect("shape is fine");
    let out: Vec<String> = validate(&flow).iter().map(ToString::to_string).collect();
    assert_eq!(out, vec!["bad.json:5:31: node `a`: `done` goes to `zz`, which is not defined"]);
}

#[test]
fn unknown_key_is_a_parse_error() {
    assert_eq!(
        diagnostics("unknown_key.yaml"),
        vec!["fixtures/unknown_key.yaml:6:5: nodes.a: unknown field `hangups`, expected one of `say`, `play`, `gather`, `no_match_say`, `intents`, `on`, `transfer`, `hangup`, `set`, `webhook`, `branch`, `consent`, `survey`, `event`, `record`"]
    );
}

#[test]
fn bad_duration_is_a_parse_error() {
    assert_eq!(
        diagnostics("bad_duration.yaml"),
        vec!["fixtures/bad_duration.yaml:6:35: nodes.a.gather.timeout: invalid duration `5 minutes`: expected a number followed by ms, s or m (e.g. 5s)"]
    );
}

#[test]
fn bad_hours_shape_is_a_parse_error() {
    assert_eq!(
        diagnostics("bad_hours.yaml"),
        vec!["fixtures/bad_hours.yaml:4:9: hours.open: invalid time range `9-18`: expected HH:MM-HH:MM (09:00-18:00)"]
    );
}

#[test]
fn missing_start() {
    assert_eq!(
        diagnostics("missing_start.yaml"),
        vec![
            "fixtures/missing_start.yaml:2:1: start node `welcom` is not defined",
            "fixtures/missing_start.yaml:4:3: warning: node `welcome` cannot be reached from start `welcom`",
        ]
    );
}

#[test]
fn missing_target() {
    assert_eq!(
        diagnostics("missing_target.yaml"),
        vec!["fixtures/missing_target.yaml:7:7: node `a`: `done` goes to `bye`, which is not defined"]
    );
}

#[test]
fn missing_closed_node() {
    assert_eq!(diagnostics("bad_closed.yaml"), vec!["fixtures/bad_closed.yaml:5:3: hours: closed node `closed_msg` is not defined"]);
}

#[test]
fn unknown_event() {
    assert_eq!(
        diagnostics("unknown_event.yaml"),
        vec!["fixtures/unknown_event.yaml:9:32: node `a`: unknown event `timeout` (expected an intent of this node, no_input, no_match, exhausted, failed, done)"]
    );
}

#[test]
fn duplicate_dtmf() {
    assert_eq!(
        diagnostics("duplicate_dtmf.yaml"),
        vec!["fixtures/duplicate_dtmf.yaml:10:9: node `a`: DTMF `1` is used by both `sales` and `support`"]
    );
}

#[test]
fn gather_without_way_out() {
    assert_eq!(
        diagnostics("no_way_out.yaml"),
        vec!["fixtures/no_way_out.yaml:6:5: warning: node `menu`: gather has no way out when the caller is silent (map `no_input` or `exhausted` to another node); the caller will be hung up"]
    );
}

#[test]
fn unreachable_node() {
    assert_eq!(
        diagnostics("unreachable.yaml"),
        vec!["fixtures/unreachable.yaml:6:3: warning: node `orphan` cannot be reached from start `a`"]
    );
}

#[test]
fn trap() {
    assert_eq!(
        diagnostics("trap.yaml"),
        vec!["fixtures/trap.yaml:4:3: warning: trap: `a`, `b` form a loop with no way to a transfer or a hangup"]
    );
}

#[test]
fn unknown_placeholders() {
    assert_eq!(
        diagnostics("placeholders.yaml"),
        vec![
            "fixtures/placeholders.yaml:6:5: warning: node `a`: unknown variable `{{order_id}}`",
            "fixtures/placeholders.yaml:9:17: warning: node `b`: unknown setting `${transfer.agents_uri}` (known: ${transfer.agent_uri})",
        ]
    );
}

#[test]
fn conflicting_verbs_and_bad_target() {
    assert_eq!(
        diagnostics("conflicting_verbs.yaml"),
        vec![
            "fixtures/conflicting_verbs.yaml:4:3: node `a`: use either `say` or `play`, not both",
            "fixtures/conflicting_verbs.yaml:4:3: node `a`: `transfer` and `hangup` cannot be used together; use one per node",
            "fixtures/conflicting_verbs.yaml:7:17: node `a`: transfer target `agent@example.com` is not a sip: or sips: URI",
        ]
    );
}

#[test]
fn bad_dtmf_keys() {
    let src = "flow: t\nstart: a\nnodes:\n  a:\n    gather: { digits: 1, terminator: x }\n    intents:\n      one: { dtmf: \"12\" }\n      two: { dtmf: \"2x\" }\n    on: { one: b, no_input: b }\n  b:\n    hangup: true\n";
    let flow = parse_flow(src, "k.yaml").expect("shape is fine");
    let out: Vec<String> = validate(&flow).iter().map(ToString::to_string).collect();
    assert_eq!(
        out,
        vec![
            "k.yaml:5:26: node `a`: terminator `x` is not a DTMF key (0-9, *, #, A-D)",
            "k.yaml:7:14: node `a`: intent `one`: DTMF `12` is longer than gather.digits (1) and can never match",
            "k.yaml:8:14: node `a`: intent `two`: `2x` is not a DTMF key sequence (0-9, *, #, A-D)",
        ]
    );
}

#[test]
fn load_flow_lists_every_diagnostic() {
    let err = load_flow(Path::new(&fixture("missing_start.yaml"))).expect_err("has an error");
    let FlowError::Invalid(diags) = &err else {
        panic!("expected Invalid, got {err:?}");
    };
    assert_eq!(diags[0].severity, Severity::Error);
    assert_eq!(diags[1].severity, Severity::Warning);
    let path = fixture("missing_start.yaml");
    assert_eq!(
        err.to_string(),
        format!(
            "{path}:2:1: start node `welcom` is not defined\n{path}:4:3: warning: node `welcome` cannot be reached from start `welcom`"
        )
    );
}

#[test]
fn load_flow_returns_warnings_with_the_flow() {
    let (flow, warnings) = load_flow(Path::new(&fixture("trap.yaml"))).expect("warnings only");
    assert_eq!(flow.start.as_str(), "a");
    assert_eq!(warnings.len(), 1);
    assert!(!warnings[0].is_error());
}

#[test]
fn load_flow_reports_a_missing_file() {
    let err = load_flow(Path::new("/nonexistent/flow.yaml")).expect_err("no file");
    assert!(matches!(err, FlowError::Read { .. }));
    assert!(err.to_string().starts_with("/nonexistent/flow.yaml: cannot read flow: "));
}

#[test]
fn garbage_never_panics() {
    for text in ["", "- a\n- b", "flow: [", "{", "nodes: 3", "\t\tflow: x", "flow: x\nstart: a\nnodes: {}\n"] {
        if let Ok(flow) = parse_flow(text, "g.yaml") {
            let _ = validate(&flow);
        }
    }
}

#[test]
fn a_tel_transfer_target_is_refused_with_the_sip_form_to_use() {
    let yaml = "flow: t\nstart: a\nnodes:\n  a:\n    transfer: { to: \"tel:+541143210000\" }\n";
    let flow = parse_flow(yaml, "t.yaml").expect("shape is fine");
    let out: Vec<String> = validate(&flow).iter().map(ToString::to_string).collect();
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(out[0].starts_with("t.yaml:5:") && out[0].contains("is a tel: URI") && out[0].contains("sip:+5411"), "{out:?}");
}

#[test]
fn a_transfer_caller_id_is_a_number_a_choice_or_a_template() {
    for (value, ok) in [("caller", true), ("gateway", true), ("+541143210000", true), ("{{crm.did}}", true), ("Juan Pérez", false)] {
        let yaml =
            format!("flow: t\nstart: a\nnodes:\n  a:\n    transfer: {{ to: \"sip:a@10.0.0.1\", mode: warm, caller_id: \"{value}\" }}\n");
        let flow = parse_flow(&yaml, "t.yaml").expect("shape is fine");
        let out: Vec<String> = validate(&flow).iter().map(ToString::to_string).filter(|d| d.contains("caller_id")).collect();
        assert_eq!(out.is_empty(), ok, "{value}: {out:?}");
    }
}
