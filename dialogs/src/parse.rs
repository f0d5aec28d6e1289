//! Reading a flow: text to [`Flow`] with serde_yaml (JSON is YAML too), and
//! [`load_flow`], the one function of this crate that does IO.

use std::path::Path;

use crate::diagnostic::{Diagnostic, FlowError, Severity};
use crate::locate::SourceMap;
use crate::model::Flow;
use crate::validate::validate;

/// Parses a flow from YAML or JSON text. `file` names it in diagnostics.
///
/// Returns the syntax or shape error (with its line) if the text is not a
/// flow; semantic checks are [`validate`]'s.
pub fn parse_flow(source: &str, file: &str) -> Result<Flow, Vec<Diagnostic>> {
    match serde_yaml::from_str::<Flow>(source) {
        Ok(mut flow) => {
            flow.source = SourceMap::scan(file, source);
            Ok(flow)
        }
        Err(e) => Err(vec![yaml_diagnostic(&e, file)]),
    }
}

fn yaml_diagnostic(e: &serde_yaml::Error, file: &str) -> Diagnostic {
    let mut message = e.to_string();
    let (line, column) = match e.location() {
        Some(loc) => {
            let suffix = format!(" at line {} column {}", loc.line(), loc.column());
            if let Some(i) = message.find(&suffix) {
                message.replace_range(i..i + suffix.len(), "");
            }
            (loc.line(), loc.column())
        }
        None => (1, 1),
    };
    Diagnostic { file: file.to_owned(), line, column, severity: Severity::Error, message }
}

/// Reads, parses and validates the flow file at `path`.
///
/// On success returns the flow and its warnings; a flow with any error is
/// refused with every diagnostic (errors and warnings, in file order).
pub fn load_flow(path: &Path) -> Result<(Flow, Vec<Diagnostic>), FlowError> {
    let source = std::fs::read_to_string(path).map_err(|source| FlowError::Read { path: path.to_owned(), source })?;
    let flow = parse_flow(&source, &path.display().to_string()).map_err(FlowError::Invalid)?;
    let diagnostics = validate(&flow);
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Err(FlowError::Invalid(diagnostics));
    }
    Ok((flow, diagnostics))
}
