//! The flow loader and validator: YAML/JSON text to a `Flow`
//! (`dialogs::parse_flow`, serde_yaml) and its semantic checks
//! (`dialogs::validate`), behind the admin API's limits
//! (`flow_guard::prescan`, which runs first on every PUT): what the guard
//! lets through is parsed and validated here.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sip_gateway::flow_guard;

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else { return };
    if flow_guard::prescan(source, &flow_guard::Limits::default()).is_err() {
        return;
    }
    if let Ok(flow) = dialogs::parse_flow(source, "fuzz.yaml") {
        let _ = dialogs::validate(&flow);
    }
});
