//! Validation of the later verbs, hours and prompt files: one bad flow per
//! diagnostic kind, each checked for its exact `file:line:col` and message.

use dialogs::{parse_flow, validate_with, ValidateOptions};

fn diagnostics(name: &str) -> Vec<String> {
    let dir = format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(format!("{dir}/{name}")).expect("fixture exists");
    let options = ValidateOptions { prompt_dir: Some(format!("{dir}/prompts").into()), ..ValidateOptions::default() };
    match parse_flow(&source, &format!("fixtures/{name}")) {
        Ok(flow) => validate_with(&flow, &options).iter().map(|d| d.to_string().replace(&format!("{dir}/"), "DIR/")).collect(),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn unknown_time_zone() {
    assert_eq!(
        diagnostics("bad_timezone.yaml"),
        ["fixtures/bad_timezone.yaml:4:3: hours: unknown time zone `America/Cordoba_Nope` (expected an IANA name such as America/Argentina/Cordoba)"]
    );
}

#[test]
fn missing_prompt_file() {
    // `hola` exists as prompts/es/hola.wav (primary language); `chau` nowhere.
    assert_eq!(
        diagnostics("missing_prompt.yaml"),
        ["fixtures/missing_prompt.yaml:9:5: node `b`: prompt `chau` not found in DIR/prompts (no chau.wav for es-AR)"]
    );
}

#[test]
fn bad_condition_is_a_parse_error() {
    assert_eq!(
        diagnostics("bad_condition.yaml"),
        ["fixtures/bad_condition.yaml:7:11: nodes.a.branch.when[0]: invalid condition `vip is true`: expected `VAR OP VALUE` with OP one of ==, !=, <, >, contains, or `VAR exists`"]
    );
}

#[test]
fn branch_targets_weights_and_condition_variables() {
    assert_eq!(
        diagnostics("branch_targets.yaml"),
        [
            "fixtures/branch_targets.yaml:7:13: warning: node `a`: unknown variable `crm.vip` in condition `crm.vip == yes`",
            "fixtures/branch_targets.yaml:7:35: node `a`: a branch case goes to `vip`, which is not defined",
            "fixtures/branch_targets.yaml:8:7: node `a`: the A/B split has no variant with a weight above 0",
            "fixtures/branch_targets.yaml:10:25: node `a`: variant `y` goes to `nowhere`, which is not defined",
            "fixtures/branch_targets.yaml:11:7: node `a`: `else` goes to `gone`, which is not defined",
        ]
    );
}

#[test]
fn webhook_url_map_and_unknown_template_variables() {
    // `{{crm.name}}` is known (the webhook maps it); `{{crm.nombre}}` is not.
    assert_eq!(
        diagnostics("webhook_url.yaml"),
        [
            "fixtures/webhook_url.yaml:5:5: warning: node `a`: webhook without `failed` in `on`; the call will hang up when the service fails",
            "fixtures/webhook_url.yaml:6:7: node `a`: webhook URL `ftp://crm.example.com/{{caller}}` is not an http:// or https:// URL",
            "fixtures/webhook_url.yaml:7:14: node `a`: webhook map `crm.name` has an empty path",
            "fixtures/webhook_url.yaml:10:5: warning: node `b`: unknown variable `{{crm.nombre}}`",
        ]
    );
}

#[test]
fn consent_answers_should_be_mapped() {
    assert_eq!(
        diagnostics("consent_unmapped.yaml"),
        ["fixtures/consent_unmapped.yaml:6:5: warning: node `a`: consent answer `no` is not mapped in `on`; the call will hang up"]
    );
}

#[test]
fn one_step_verb_per_node() {
    assert_eq!(
        diagnostics("verbs_together.yaml"),
        [
            "fixtures/verbs_together.yaml:4:3: node `a`: `consent` and `survey` cannot be used together; use one per node",
            "fixtures/verbs_together.yaml:4:3: node `a`: `consent` and `webhook` cannot be used together; use one per node",
            "fixtures/verbs_together.yaml:4:3: warning: node `a`: gather has no way out when the caller is silent (map `no_input` or `exhausted` to another node); the caller will be hung up",
        ]
    );
}

#[test]
fn example_flows_are_clean_with_a_prompt_dir() {
    let dir = format!("{}/../flows", env!("CARGO_MANIFEST_DIR"));
    for name in ["demo.yaml", "ventas.yaml", "soporte.yaml"] {
        let source = std::fs::read_to_string(format!("{dir}/{name}")).expect("example flow");
        let flow = parse_flow(&source, name).expect("parses");
        let options = ValidateOptions { prompt_dir: Some("/nonexistent".into()), ..ValidateOptions::default() };
        assert_eq!(validate_with(&flow, &options), vec![], "{name} (no play: nodes, so no prompt files needed)");
    }
}

#[test]
fn schema_lists_every_node_key_the_examples_use() {
    let schema = dialogs::flow_schema();
    let keys = schema["$defs"]["node"]["properties"].as_object().expect("node properties");
    let dir = format!("{}/../flows", env!("CARGO_MANIFEST_DIR"));
    for name in ["demo.yaml", "ventas.yaml", "soporte.yaml"] {
        let source = std::fs::read_to_string(format!("{dir}/{name}")).expect("example flow");
        let value: serde_json::Value = serde_yaml::from_str(&source).expect("yaml");
        for node in value["nodes"].as_object().expect("nodes").values() {
            for key in node.as_object().expect("node").keys() {
                assert!(keys.contains_key(key), "{name}: `{key}` missing from the schema");
            }
        }
    }
}

/// Every property at any depth has a `description` (editors show it on hover).
fn undescribed(value: &serde_json::Value, path: &str, out: &mut Vec<String>) {
    let Some(map) = value.as_object() else {
        return;
    };
    if let Some(props) = map.get("properties").and_then(|p| p.as_object()) {
        for (key, prop) in props {
            if prop.get("description").is_none() {
                out.push(format!("{path}.{key}"));
            }
            undescribed(prop, &format!("{path}.{key}"), out);
        }
    }
    for (key, child) in map.iter().filter(|(k, _)| *k != "properties") {
        match child {
            serde_json::Value::Object(_) => undescribed(child, &format!("{path}/{key}"), out),
            serde_json::Value::Array(items) => items.iter().for_each(|i| undescribed(i, &format!("{path}/{key}"), out)),
            _ => {}
        }
    }
}

#[test]
fn schema_has_an_id_and_describes_every_key_and_the_examples_point_at_it() {
    let schema = dialogs::flow_schema();
    assert_eq!(schema["$id"], dialogs::FLOW_SCHEMA_ID);
    let mut missing = Vec::new();
    undescribed(&schema, "", &mut missing);
    assert_eq!(missing, Vec::<String>::new(), "keys without a description");
    let dir = format!("{}/../flows", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        let text = serde_json::to_string_pretty(&schema).expect("JSON") + "\n";
        std::fs::write(format!("{dir}/flow.schema.json"), text).expect("write flows/flow.schema.json");
    }
    let checked_in: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}/flow.schema.json")).expect("flows/flow.schema.json")).expect("JSON");
    assert_eq!(
        checked_in, schema,
        "flows/flow.schema.json is stale: run `centralita schema > flows/flow.schema.json` (or this test with UPDATE_SCHEMA=1)"
    );
    for name in ["demo.yaml", "ventas.yaml", "soporte.yaml"] {
        let source = std::fs::read_to_string(format!("{dir}/{name}")).expect("example flow");
        assert!(source.lines().any(|l| l == "# yaml-language-server: $schema=flow.schema.json"), "{name}: no $schema line");
    }
}

#[test]
fn doubtful_speech_thresholds_and_prompts() {
    assert_eq!(
        diagnostics("doubtful_speech.yaml"),
        [
            "fixtures/doubtful_speech.yaml:2:1: warning: flow: unknown variable `{{nobody}}`",
            "fixtures/doubtful_speech.yaml:7:50: node `menu`: gather.confirm_below (0.4) must be at least min_confidence (0.6): speech below min_confidence is rejected, speech from min_confidence up to confirm_below is confirmed",
            "fixtures/doubtful_speech.yaml:16:7: node `keys`: gather.min_confidence must be between 0 and 1 (it is 1.5)",
            "fixtures/doubtful_speech.yaml:17:7: node `keys`: gather.confirm_below must be between 0 and 1 (it is 1.5)",
            "fixtures/doubtful_speech.yaml:23:5: warning: node `bye`: `no_match_say` applies to a node that listens; ignored",
            "fixtures/doubtful_speech.yaml:25:3: warning: node `plain` cannot be reached from start `menu`",
            "fixtures/doubtful_speech.yaml:27:29: warning: node `plain`: gather.confirm_say is never said without `confirm_below`; ignored",
            "fixtures/doubtful_speech.yaml:29:3: warning: node `quiet` cannot be reached from start `menu`",
            "fixtures/doubtful_speech.yaml:31:26: warning: node `quiet`: gather.confirm_below applies to speech (`speech: true`); ignored",
            "fixtures/doubtful_speech.yaml:35:3: warning: node `free` cannot be reached from start `menu`",
            "fixtures/doubtful_speech.yaml:37:29: warning: node `free`: gather.confirm_below confirms intents; this node has none, so it is ignored",
        ]
    );
    // Equal thresholds confirm nothing: a warning; the right order is clean.
    let equal = "flow: t\nstart: m\nnodes:\n  m:\n    say: Hi\n    gather: { speech: true, min_confidence: 0.5, confirm_below: 0.5 }\n    intents:\n      a: { phrases: [agent] }\n    on: { a: m, no_input: m, exhausted: b }\n  b:\n    hangup: true\n";
    let flow = parse_flow(equal, "e.yaml").expect("parses");
    let out: Vec<String> = validate_with(&flow, &ValidateOptions::default()).iter().map(ToString::to_string).collect();
    assert_eq!(out, ["e.yaml:6:50: warning: node `m`: gather.confirm_below equals min_confidence (0.5), so nothing is ever confirmed"]);
    let ok = equal.replace("confirm_below: 0.5", "confirm_below: 0.7, confirm_say: \"{{choice}}?\"");
    let flow = parse_flow(&ok, "ok.yaml").expect("parses");
    assert_eq!(validate_with(&flow, &ValidateOptions::default()), vec![]);
}
