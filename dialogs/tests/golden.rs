//! Golden transcripts: scripted `simulate` runs of the example flows
//! (`golden/NAME.in`) compared with checked-in output (`golden/NAME.out`).
//! Run with `UPDATE_GOLDEN=1` to rewrite the expected files after a
//! deliberate change, and review the diff.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use dialogs::{load_flow, parse_timestamp, SimOptions, Simulator};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// Runs `golden/NAME.in` on `flows/FLOW.yaml` the way `centralita simulate` does.
fn transcript(flow: &str, name: &str, caller: &str, at: Option<&str>, lang: Option<&str>) -> String {
    let (flow, warnings) = load_flow(&root().join("../flows").join(format!("{flow}.yaml"))).expect("example flow loads");
    assert!(warnings.is_empty(), "{warnings:?}");
    let options = SimOptions {
        caller: caller.to_owned(),
        at: at.map(|t| parse_timestamp(t).expect("valid --at")),
        language: lang.map(str::to_owned),
        ..SimOptions::default()
    };
    let script = std::fs::read_to_string(root().join("tests/golden").join(format!("{name}.in"))).expect("script");
    let mut sim = Simulator::new(Arc::new(flow), options, Instant::now());
    let mut out = sim.output();
    for line in script.lines() {
        sim.input(line);
        out.extend(sim.output());
        if sim.is_finished() {
            break;
        }
    }
    sim.finish();
    out.extend(sim.output());
    out.join("\n") + "\n"
}

fn check(name: &str, got: &str) {
    let path = root().join("tests/golden").join(format!("{name}.out"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, got).expect("write golden");
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    if want != got {
        let first = want.lines().zip(got.lines()).position(|(a, b)| a != b);
        panic!("{name}: transcript differs from {} (first differing line: {first:?})\n--- got ---\n{got}", path.display());
    }
}

#[test]
fn demo_menu_retries_and_agent_by_speech() {
    check("demo", &transcript("demo", "demo", "+15550001111", Some("2026-11-24T10:00:00-03:00"), None));
}

#[test]
fn soporte_after_hours() {
    check("soporte_closed", &transcript("soporte", "soporte_closed", "+14155550123", Some("2026-11-29T10:00:00-03:00"), Some("en-US")));
}

#[test]
fn ventas_known_customer_orders_and_rates() {
    check("ventas", &transcript("ventas", "ventas", "+5493511234567", None, None));
}

#[test]
fn ventas_cart_recovery_callback() {
    check("ventas_carrito", &transcript("ventas", "ventas_carrito", "+5493519990000", None, None));
}

#[test]
fn ventas_unknown_caller_and_failing_services() {
    check("ventas_fallas", &transcript("ventas", "ventas_fallas", "+5493517654321", None, None));
}

#[test]
fn soporte_consent_ab_and_warm_transfer_failure() {
    check("soporte", &transcript("soporte", "soporte", "+5491155550000", Some("2026-11-24T10:00:00-03:00"), None));
}

#[test]
fn soporte_doubtful_speech_rejected_then_confirmed() {
    check("soporte_dudas", &transcript("soporte", "soporte_dudas", "+5491155550000", Some("2026-11-24T10:00:00-03:00"), None));
}

#[test]
fn demo_low_confidence_is_rejected_and_reasked_with_sorry() {
    check("demo_dudas", &transcript("demo", "demo_dudas", "+15550001111", None, None));
}

#[test]
fn soporte_in_english_resolved_with_nps() {
    check("soporte_en", &transcript("soporte", "soporte_en", "+14155550123", Some("2026-11-28T10:30:00-03:00"), Some("en-US")));
}
