//! The loaded flows (DESIGN.md §4), by file path, replaceable while the
//! gateway runs (`PUT /v1/flows/{name}`, issue #6).
//!
//! A new version is parsed and validated exactly as at start-up (the same
//! `file:line:col` diagnostics, the same `play:` prompt check) before it is
//! taken; a rejected one changes nothing. Taking it swaps the table under a
//! short write lock and writes the file (temp file + rename, so a crash
//! never leaves half a flow). A call holds the `Arc<Flow>` it started with,
//! so running calls keep their version; only calls that start their flow
//! afterwards see the new one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use dialogs::{Diagnostic, Flow, ValidateOptions};

/// A flow that failed to load or validate: one `file:line:col: message`
/// per diagnostic.
#[derive(Debug, thiserror::Error)]
pub enum FlowLoadError {
    #[error("{path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{}", Lines(.0))]
    Invalid(Vec<Diagnostic>),
    #[error("the flow's `flow:` key is {found:?}, the URL names {expected:?}")]
    NameMismatch { expected: String, found: String },
    #[error("flow names are letters, digits, `_` and `-` (1 to 64)")]
    BadName,
    #[error("{path}: flow valid but not saved: {source}")]
    Write { path: String, source: std::io::Error },
}

/// Diagnostics, one `file:line:col: message` per line.
struct Lines<'a>(&'a [Diagnostic]);

impl std::fmt::Display for Lines<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

/// What `[speech].asr` understands, for the flows' language check
/// (issue #13): the built-in Whisper the languages it has a model for
/// (`[speech.builtin] models`, English by default); PocketSphinx en-US
/// only; `none` nothing. `None` for vendor engines (Deepgram, an OpenAI
/// server's or a Vosk server's model) and for `discard` (load tests).
pub fn recogniser_languages(cfg: &crate::config::Config) -> Option<dialogs::RecogniserLanguages> {
    let languages = match cfg.speech.asr.as_str() {
        "builtin" | "whisper" => cfg
            .speech
            .builtin
            .clone()
            .unwrap_or_default()
            .model_dirs()
            .into_keys()
            .map(|lang| if lang == "en" { "en-US".to_owned() } else { lang })
            .collect(),
        "pocketsphinx" => vec!["en-US".to_owned()],
        "none" => Vec::new(),
        _ => return None,
    };
    Some(dialogs::RecogniserLanguages { engine: cfg.speech.asr.clone(), languages })
}

type Table = BTreeMap<PathBuf, Arc<Flow>>;

/// Loaded, validated flows by path.
#[derive(Debug)]
pub struct FlowStore {
    table: RwLock<Arc<Table>>,
    options: ValidateOptions,
    /// Where a flow PUT under a new name is written.
    new_flow_dir: PathBuf,
}

/// What `replace` did.
#[derive(Debug)]
pub struct Replaced {
    pub path: PathBuf,
    pub flow: Arc<Flow>,
    pub created: bool,
    pub warnings: Vec<Diagnostic>,
}

/// Parses and validates one flow source; warnings on success.
pub fn check_flow(source: &str, file: &str, options: &ValidateOptions) -> Result<(Flow, Vec<Diagnostic>), FlowLoadError> {
    let flow = dialogs::parse_flow(source, file).map_err(FlowLoadError::Invalid)?;
    let diagnostics = dialogs::validate_with(&flow, options);
    if diagnostics.iter().any(Diagnostic::is_error) {
        // Errors and warnings, in file order: a client fixes them in one go.
        Err(FlowLoadError::Invalid(diagnostics))
    } else {
        Ok((flow, diagnostics))
    }
}

/// Reads and checks a flow file.
pub fn load_flow_file(path: &Path, options: &ValidateOptions) -> Result<(Flow, Vec<Diagnostic>), FlowLoadError> {
    let source = std::fs::read_to_string(path).map_err(|e| FlowLoadError::Read { path: path.display().to_string(), source: e })?;
    check_flow(&source, &path.display().to_string(), options)
}

impl FlowStore {
    /// Loads every path (duplicates once); the first failure stops it.
    pub fn load<'a>(
        paths: impl IntoIterator<Item = &'a PathBuf>,
        options: ValidateOptions,
        new_flow_dir: PathBuf,
    ) -> Result<(Self, Vec<Diagnostic>), FlowLoadError> {
        let mut table = Table::new();
        let mut all_warnings = Vec::new();
        for p in paths {
            if table.contains_key(p) {
                continue;
            }
            let (flow, warnings) = load_flow_file(p, &options)?;
            all_warnings.extend(warnings);
            table.insert(p.clone(), Arc::new(flow));
        }
        Ok((FlowStore { table: RwLock::new(Arc::new(table)), options, new_flow_dir }, all_warnings))
    }

    /// A store of already-parsed flows (tests, benches).
    pub fn from_flows(flows: impl IntoIterator<Item = (PathBuf, Arc<Flow>)>) -> Self {
        FlowStore {
            table: RwLock::new(Arc::new(flows.into_iter().collect())),
            options: ValidateOptions::default(),
            new_flow_dir: ".".into(),
        }
    }

    fn snapshot(&self) -> Arc<Table> {
        // A poisoned lock still holds a consistent table: it is only ever swapped whole.
        self.table.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn get(&self, path: &Path) -> Option<Arc<Flow>> {
        self.snapshot().get(path).cloned()
    }

    pub fn contains(&self, path: &Path) -> bool {
        self.snapshot().contains_key(path)
    }

    /// By the `flow:` name or the file path.
    pub fn find(&self, name_or_path: &str) -> Option<(PathBuf, Arc<Flow>)> {
        self.snapshot()
            .iter()
            .find(|(p, f)| f.name == name_or_path || p.to_string_lossy() == name_or_path)
            .map(|(p, f)| (p.clone(), f.clone()))
    }

    pub fn list(&self) -> Vec<(PathBuf, Arc<Flow>)> {
        self.snapshot().iter().map(|(p, f)| (p.clone(), f.clone())).collect()
    }

    /// By name or path like [`find`](Self::find); a name nothing loaded
    /// answers to is looked for in the flows directory (where `PUT` writes:
    /// the default flow's), as `NAME.yaml`, `NAME.yml` or `NAME.json`, or
    /// any flow file there whose `flow:` is NAME. A file found is validated
    /// as at start-up and kept loaded (issue #13: `POST /v1/calls` with
    /// `"flow": "ventas"`). `Ok(None)`: no such flow; `Err`: its file does
    /// not load (diagnostics name the file).
    pub fn find_or_load(&self, name: &str) -> Result<Option<(PathBuf, Arc<Flow>)>, FlowLoadError> {
        if let Some(found) = self.find(name) {
            return Ok(Some(found));
        }
        let Some(path) = self.file_in_dir(name) else { return Ok(None) };
        let (flow, warnings) = load_flow_file(&path, &self.options)?;
        if flow.name != name {
            return Err(FlowLoadError::NameMismatch { expected: name.to_string(), found: flow.name });
        }
        for w in warnings {
            tracing::warn!("{w}");
        }
        tracing::info!(flow = name, path = %path.display(), "flow loaded from the flows directory");
        let flow = Arc::new(flow);
        let mut guard = self.table.write().unwrap_or_else(|e| e.into_inner());
        let mut table = Table::clone(&guard);
        // Loaded meanwhile by another request: keep that one.
        let flow = table.entry(path.clone()).or_insert(flow).clone();
        *guard = Arc::new(table);
        Ok(Some((path, flow)))
    }

    /// The file of flow `name` in the flows directory: `NAME.yaml` (`.yml`,
    /// `.json`), else the first flow file there (by name) whose `flow:` key
    /// says NAME. Names outside `[A-Za-z0-9_-]` never leave the directory.
    fn file_in_dir(&self, name: &str) -> Option<PathBuf> {
        if name.is_empty() || name.len() > 64 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return None;
        }
        let exact = ["yaml", "yml", "json"].iter().map(|ext| self.new_flow_dir.join(format!("{name}.{ext}"))).find(|p| p.is_file());
        if exact.is_some() {
            return exact;
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.new_flow_dir)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().and_then(|e| e.to_str()).is_some_and(|e| matches!(e, "yaml" | "yml" | "json")))
            .collect();
        files.sort();
        files.into_iter().find(|p| {
            let source = std::fs::read_to_string(p).unwrap_or_default();
            dialogs::parse_flow(&source, &p.display().to_string()).is_ok_and(|f| f.name == name)
        })
    }

    /// Validates `source` as flow `name` and, when it holds, takes it and
    /// writes it to its file (the loaded one, or `<dir>/<name>.yaml`).
    pub fn replace(&self, name: &str, source: &str) -> Result<Replaced, FlowLoadError> {
        let taken = self.replace_gated(name, source, &|| true)?;
        Ok(taken.expect("an open gate takes the flow"))
    }

    /// [`replace`](Self::replace), asking `commit` right before writing:
    /// `Ok(None)`, nothing written or taken, when it says no (the admin
    /// API's time bound passed meanwhile, [`crate::flow_guard::run_bounded`]).
    pub fn replace_gated(&self, name: &str, source: &str, commit: &dyn Fn() -> bool) -> Result<Option<Replaced>, FlowLoadError> {
        if name.is_empty() || name.len() > 64 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err(FlowLoadError::BadName);
        }
        let existing = self.find(name).map(|(p, _)| p);
        let path = existing.clone().unwrap_or_else(|| self.new_flow_dir.join(format!("{name}.yaml")));
        let (flow, warnings) = check_flow(source, &path.display().to_string(), &self.options)?;
        if flow.name != name {
            return Err(FlowLoadError::NameMismatch { expected: name.to_string(), found: flow.name });
        }
        if !commit() {
            return Ok(None);
        }
        let tmp = path.with_extension("yaml.tmp");
        let write = std::fs::write(&tmp, source).and_then(|()| std::fs::rename(&tmp, &path));
        write.map_err(|e| FlowLoadError::Write { path: path.display().to_string(), source: e })?;
        let flow = Arc::new(flow);
        let mut guard = self.table.write().unwrap_or_else(|e| e.into_inner());
        let mut table = Table::clone(&guard);
        table.insert(path.clone(), flow.clone());
        *guard = Arc::new(table);
        drop(guard);
        Ok(Some(Replaced { path, flow, created: existing.is_none(), warnings }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MENU: &str = "flow: menu\nversion: 1\nstart: hi\nnodes:\n  hi:\n    say: \"Hi.\"\n    hangup: true\n";

    fn store(dir: &Path) -> FlowStore {
        let path = dir.join("menu.yaml");
        std::fs::write(&path, MENU).unwrap();
        FlowStore::load([&path], ValidateOptions::default(), dir.to_path_buf()).unwrap().0
    }

    #[test]
    fn a_valid_version_replaces_and_running_holders_keep_theirs() {
        let dir = tempfile::tempdir().unwrap();
        let flows = store(dir.path());
        let running = flows.find("menu").unwrap().1;
        let r = flows.replace("menu", &MENU.replace("version: 1", "version: 2")).unwrap();
        assert!(!r.created);
        assert_eq!(running.version, "1", "a call's Arc keeps its version");
        assert_eq!(flows.find("menu").unwrap().1.version, "2");
        assert!(std::fs::read_to_string(dir.path().join("menu.yaml")).unwrap().contains("version: 2"));
        let new = flows.replace("other", &MENU.replace("flow: menu", "flow: other")).unwrap();
        assert!(new.created && new.path.ends_with("other.yaml"));
    }

    #[test]
    fn a_flow_by_name_is_found_in_the_flows_directory_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let flows = store(dir.path());
        std::fs::write(dir.path().join("ventas.yaml"), MENU.replace("flow: menu", "flow: ventas")).unwrap();
        std::fs::write(dir.path().join("other-file.yml"), MENU.replace("flow: menu", "flow: soporte")).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "flow: nope").unwrap();
        assert!(flows.find("ventas").is_none(), "not loaded at start");
        let (path, flow) = flows.find_or_load("ventas").unwrap().expect("ventas.yaml");
        assert!(path.ends_with("ventas.yaml") && flow.name == "ventas");
        assert!(flows.find("ventas").is_some(), "kept loaded");
        let (path, _) = flows.find_or_load("soporte").unwrap().expect("by its flow: key");
        assert!(path.ends_with("other-file.yml"));
        assert!(flows.find_or_load("menu").unwrap().is_some(), "loaded ones still by name");
        for unknown in ["nope", "notes", "../menu", ""] {
            assert!(flows.find_or_load(unknown).unwrap().is_none(), "{unknown}");
        }
        std::fs::write(dir.path().join("broken.yaml"), MENU.replace("flow: menu", "flow: broken").replace("start: hi", "start: nowhere"))
            .unwrap();
        let err = flows.find_or_load("broken").unwrap_err();
        assert!(err.to_string().contains("broken.yaml:3:1: start node `nowhere`"), "{err}");
        std::fs::write(dir.path().join("misnamed.yaml"), MENU).unwrap();
        assert!(matches!(flows.find_or_load("misnamed").unwrap_err(), FlowLoadError::NameMismatch { .. }));
    }

    #[test]
    fn invalid_or_misnamed_versions_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let flows = store(dir.path());
        let err = flows.replace("menu", &MENU.replace("start: hi", "start: nowhere")).unwrap_err();
        assert!(matches!(err, FlowLoadError::Invalid(ref d) if d[0].file.ends_with("menu.yaml")), "{err}");
        assert!(err.to_string().contains("menu.yaml:3:1: start node `nowhere`"), "{err}");
        let twice = format!("{MENU}  hi:\n    hangup: true\n");
        let err = flows.replace("menu", &twice).unwrap_err();
        assert!(err.to_string().contains("menu.yaml:8:3: duplicate node `hi`"), "{err}");
        assert!(matches!(flows.replace("menu", "flow: [").unwrap_err(), FlowLoadError::Invalid(_)));
        assert!(matches!(flows.replace("other", MENU).unwrap_err(), FlowLoadError::NameMismatch { .. }));
        assert!(matches!(flows.replace("../etc", MENU).unwrap_err(), FlowLoadError::BadName));
        assert_eq!(flows.find("menu").unwrap().1.version, "1");
        assert_eq!(std::fs::read_to_string(dir.path().join("menu.yaml")).unwrap(), MENU);
    }
}
