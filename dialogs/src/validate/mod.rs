//! Semantic checks of a parsed flow, each pointing at the line of the key it
//! is about: missing nodes, unknown events, clashing DTMF keys, callers left
//! with no way out, unreachable nodes, traps, transfer loops, unknown
//! placeholders and keys defined twice (node names, intents). The
//! checks of the later verbs (webhook, branch, consent, survey), hours and
//! prompt files are in `steps.rs`.

mod languages;
mod steps;

pub use languages::{speech_languages, RecogniserLanguages};

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;

use crate::diagnostic::{Diagnostic, Severity};
use crate::model::{Flow, Node, NodeId};

/// Events every node may map in `on`, besides its intents' names.
pub(crate) const BUILTIN_EVENTS: [&str; 5] = ["no_input", "no_match", "exhausted", "failed", "done"];
/// Events a transfer node may map besides `failed` (a warm transfer's
/// agent did not take the call).
pub(crate) const TRANSFER_EVENTS: [&str; 3] = ["no_answer", "busy", "declined"];
/// Gateway settings a flow may use as `${name}`.
const SETTINGS: [&str; 1] = ["transfer.agent_uri"];

/// Options of [`validate_with`].
#[derive(Debug, Clone, Default)]
pub struct ValidateOptions {
    /// The prompt library (`[prompts].dir`); when given, every `play:`
    /// must have a WAV file there (`DIR/LANG/ID.wav`, `DIR/PRIMARY/ID.wav`
    /// or `DIR/ID.wav`, as the gateway looks them up).
    pub prompt_dir: Option<PathBuf>,
    /// The configured speech recogniser; when given, a flow listening for
    /// speech in a language it does not serve gets a warning.
    pub recogniser: Option<RecogniserLanguages>,
}

/// Checks a flow; returns its errors and warnings in file order.
pub fn validate(flow: &Flow) -> Vec<Diagnostic> {
    validate_with(flow, &ValidateOptions::default())
}

/// [`validate`] with options (a prompt directory to check `play:` against).
pub fn validate_with(flow: &Flow, options: &ValidateOptions) -> Vec<Diagnostic> {
    let mut check = Check { flow, out: Vec::new() };
    check.duplicates();
    check.start_and_hours();
    check.recording();
    let known_vars = steps::known_vars(flow);
    check.flow_templates(&known_vars);
    for (id, node) in &flow.nodes {
        check.verbs(id, node);
        check.events(id, node);
        check.dtmf(id, node);
        check.gather_exit(id, node);
        check.templates(id, node, &known_vars);
        check.speech_answers(id, node);
        check.steps(id, node, &known_vars);
        if let Some(dir) = &options.prompt_dir {
            check.prompt_file(id, node, dir);
        }
    }
    check.reachability();
    check.traps();
    check.transfer_loops();
    if let Some(recogniser) = &options.recogniser {
        check.languages(recogniser);
    }
    let mut out = check.out;
    out.sort_by_key(|d| (d.line, d.column, d.severity));
    out
}

fn is_dtmf_key(c: char) -> bool {
    c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D')
}

struct Check<'a> {
    flow: &'a Flow,
    out: Vec<Diagnostic>,
}

impl Check<'_> {
    fn report(&mut self, path: &[&str], severity: Severity, message: String) {
        let pos = self.flow.source.locate(path);
        self.out.push(Diagnostic::at(&self.flow.source, pos, severity, message));
    }

    fn error(&mut self, path: &[&str], message: String) {
        self.report(path, Severity::Error, message);
    }

    fn warning(&mut self, path: &[&str], message: String) {
        self.report(path, Severity::Warning, message);
    }

    /// Keys defined twice in one mapping: serde keeps the last one, so the
    /// first would be silently lost. Reported at the second definition.
    fn duplicates(&mut self) {
        let flow = self.flow;
        let source = &flow.source;
        for (path, pos) in source.duplicates() {
            let parts: Vec<&str> = path.iter().map(String::as_str).collect();
            let first = source.locate(&parts);
            let message = match parts.as_slice() {
                ["nodes", node] => format!("duplicate node `{node}` (first defined at line {}); node names must be unique", first.line),
                ["nodes", node, "intents", intent] => {
                    format!("node `{node}`: duplicate intent `{intent}` (first defined at line {})", first.line)
                }
                _ => format!(
                    "duplicate key `{}` in `{}` (first defined at line {}); the later one would silently replace it",
                    parts.last().copied().unwrap_or(""),
                    parts[..parts.len().saturating_sub(1)].join("."),
                    first.line
                ),
            };
            self.out.push(Diagnostic::at(source, pos, Severity::Error, message));
        }
    }

    fn start_and_hours(&mut self) {
        let flow = self.flow;
        self.hours();
        if !flow.nodes.contains_key(&flow.start) {
            self.error(&["start"], format!("start node `{}` is not defined", flow.start));
        }
        if let Some(closed) = flow.hours.as_ref().and_then(|h| h.closed.as_ref()) {
            if !flow.nodes.contains_key(closed) {
                self.error(&["hours", "closed"], format!("hours: closed node `{closed}` is not defined"));
            }
        }
        if let Some(problem) = flow.status_callback.as_ref().and_then(|cb| cb.problem()) {
            self.error(&["status_callback"], problem);
        }
    }

    fn verbs(&mut self, id: &NodeId, node: &Node) {
        let at = ["nodes", id.as_str()];
        if node.say.is_some() && node.play.is_some() {
            self.error(&at, format!("node `{id}`: use either `say` or `play`, not both"));
        }
        let listen = if node.consent.is_some() {
            "consent"
        } else if node.survey.is_some() {
            "survey"
        } else {
            "gather"
        };
        let verbs: Vec<&str> = [
            (listen, node.gather.is_some() || node.consent.is_some() || node.survey.is_some()),
            ("transfer", node.transfer.is_some()),
            ("hangup", node.hangup),
            ("webhook", node.webhook.is_some()),
            ("branch", node.branch.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, used)| used.then_some(name))
        .collect();
        if node.consent.is_some() && node.survey.is_some() {
            self.error(&at, format!("node `{id}`: `consent` and `survey` cannot be used together; use one per node"));
        }
        if verbs.len() > 1 {
            self.error(&at, format!("node `{id}`: `{}` cannot be used together; use one per node", verbs.join("` and `")));
        }
        if let Some(t) = &node.transfer {
            let to = t.to.trim();
            let lower = to.to_ascii_lowercase();
            let uri = ["sip:", "sips:", "${", "{{"].iter().any(|p| lower.starts_with(p));
            if lower.starts_with("tel:") {
                // The gateway REFERs to, or dials, SIP URIs only: say so
                // here rather than fail the caller's transfer at run time.
                self.error(
                    &["nodes", id.as_str(), "transfer", "to"],
                    format!("node `{id}`: transfer target `{to}` is a tel: URI; write it as a SIP URI at your PBX or trunk (`sip:+5411…@pbx.example.com`)"),
                );
            } else if !uri {
                self.error(
                    &["nodes", id.as_str(), "transfer", "to"],
                    format!("node `{id}`: transfer target `{to}` is not a sip: or sips: URI"),
                );
            }
            self.transfer_keys(id, t);
        }
        if node.transfer.as_ref().is_some_and(|t| t.max_attempts == 0) {
            self.error(
                &["nodes", id.as_str(), "transfer", "max_attempts"],
                format!("node `{id}`: transfer.max_attempts must be at least 1"),
            );
        }
        if !node.intents.is_empty() && node.gather.is_none() {
            self.warning(&["nodes", id.as_str(), "intents"], format!("node `{id}`: intents are never matched without `gather`"));
        }
    }

    /// `recording:` and the nodes' `record:` (issue #19).
    fn recording(&mut self) {
        use crate::model::RecordingPolicy;
        let flow = self.flow;
        match &flow.recording {
            RecordingPolicy::OnConsent(topic) if topic.trim().is_empty() => {
                self.error(&["recording", "on_consent"], "recording: on_consent needs a consent topic".to_owned());
            }
            RecordingPolicy::OnConsent(topic) => {
                let asked = flow.nodes.values().any(|n| n.consent.as_ref().is_some_and(|c| &c.topic == topic));
                if !asked {
                    self.error(
                        &["recording", "on_consent"],
                        format!("recording: no node asks for consent `{topic}` (`consent: {{ topic: {topic} }}`), so no call would ever be recorded"),
                    );
                }
            }
            RecordingPolicy::Never => {
                for (id, node) in &flow.nodes {
                    if let Some(op) = node.record {
                        let op = format!("{op:?}").to_lowercase();
                        self.warning(
                            &["nodes", id.as_str(), "record"],
                            format!("node `{id}`: `record: {op}` has no effect: the flow's `recording:` policy is `never` (the default)"),
                        );
                    }
                }
            }
            RecordingPolicy::Always => {}
        }
    }

    /// Keys that only mean something in one transfer mode are warnings in
    /// the other (the flow still runs; the key is ignored).
    fn transfer_keys(&mut self, id: &NodeId, t: &crate::model::Transfer) {
        use crate::model::TransferMode;
        let warm_only = [
            ("whisper", t.whisper.is_some()),
            ("accept", t.accept != crate::model::AcceptMode::default()),
            ("hold", t.hold.is_some()),
            ("release", t.release.is_some()),
            ("caller_id", t.caller_id.is_some()),
        ];
        for (key, set) in warm_only {
            if set && t.mode == TransferMode::Blind {
                self.warning(
                    &["nodes", id.as_str(), "transfer", key],
                    format!("node `{id}`: `{key}` applies to `mode: warm` only; ignored"),
                );
            }
        }
        if t.fallback.is_some() && t.mode == TransferMode::Warm {
            self.warning(
                &["nodes", id.as_str(), "transfer", "fallback"],
                format!("node `{id}`: `fallback` applies to `mode: blind` only; ignored"),
            );
        }
        // A From user part (RFC 3261 §25.1, the characters a phone number
        // or extension needs), `caller`, `gateway`, or a template.
        if let Some(c) = t.caller_id.as_deref().map(str::trim) {
            let user_part = !c.is_empty() && c.chars().all(|ch| ch.is_ascii_alphanumeric() || "+-_.*#".contains(ch));
            if !(user_part || c.contains("{{")) {
                self.error(
                    &["nodes", id.as_str(), "transfer", "caller_id"],
                    format!("node `{id}`: transfer.caller_id `{c}` is not `caller`, `gateway`, a number or a {{{{template}}}}"),
                );
            }
        }
    }

    fn events(&mut self, id: &NodeId, node: &Node) {
        for (event, target) in &node.on {
            let path = ["nodes", id.as_str(), "on", event.as_str()];
            let answer = node.consent.is_some() && matches!(event.as_str(), "yes" | "no");
            let agent = node.transfer.is_some() && TRANSFER_EVENTS.contains(&event.as_str());
            if !BUILTIN_EVENTS.contains(&event.as_str()) && !node.intents.contains_key(event) && !answer && !agent {
                self.error(
                    &path,
                    format!("node `{id}`: unknown event `{event}` (expected an intent of this node, {})", BUILTIN_EVENTS.join(", ")),
                );
            }
            if !self.flow.nodes.contains_key(target) {
                self.error(&path, format!("node `{id}`: `{event}` goes to `{target}`, which is not defined"));
            }
        }
    }

    fn dtmf(&mut self, id: &NodeId, node: &Node) {
        let gather = node.gather.as_ref();
        if let Some(g) = gather {
            if g.digits == Some(0) {
                self.error(&["nodes", id.as_str(), "gather", "digits"], format!("node `{id}`: gather.digits must be at least 1"));
            }
            if let Some(t) = g.terminator.filter(|t| !is_dtmf_key(*t)) {
                self.error(
                    &["nodes", id.as_str(), "gather", "terminator"],
                    format!("node `{id}`: terminator `{t}` is not a DTMF key (0-9, *, #, A-D)"),
                );
            }
        }
        let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
        // Report clashes at the later intent in the file.
        let mut intents: Vec<(&String, _)> = node.intents.iter().collect();
        intents.sort_by_key(|(name, _)| {
            let p = self.flow.source.locate(&["nodes", id.as_str(), "intents", name.as_str()]);
            (p.line, p.column)
        });
        for (name, intent) in intents {
            let Some(keys) = intent.dtmf.as_deref() else {
                continue;
            };
            let path = ["nodes", id.as_str(), "intents", name.as_str(), "dtmf"];
            if keys.is_empty() || !keys.chars().all(is_dtmf_key) {
                self.error(&path, format!("node `{id}`: intent `{name}`: `{keys}` is not a DTMF key sequence (0-9, *, #, A-D)"));
                continue;
            }
            if let Some(max) = gather.and_then(|g| g.digits).filter(|&m| m > 0) {
                if keys.chars().count() > max as usize {
                    self.error(
                        &path,
                        format!("node `{id}`: intent `{name}`: DTMF `{keys}` is longer than gather.digits ({max}) and can never match"),
                    );
                }
            }
            if let Some(first) = seen.get(keys) {
                self.error(&path, format!("node `{id}`: DTMF `{keys}` is used by both `{first}` and `{name}`"));
            } else {
                seen.insert(keys, name);
            }
        }
    }

    fn gather_exit(&mut self, id: &NodeId, node: &Node) {
        let retries = match &node.gather {
            Some(g) => g.retries,
            None if node.consent.is_some() || node.survey.is_some() => crate::model::Gather::default().retries,
            None => return,
        };
        let leaves = |event: &str| node.on.get(event).map(|t| t != id);
        let way_out = if retries == 0 {
            leaves("exhausted") == Some(true)
        } else {
            match leaves("no_input") {
                None => false,
                Some(true) => true,
                Some(false) => leaves("exhausted") == Some(true),
            }
        };
        if !way_out {
            self.warning(
                &["nodes", id.as_str(), "gather"],
                format!("node `{id}`: gather has no way out when the caller is silent (map `no_input` or `exhausted` to another node); the caller will be hung up"),
            );
        }
    }

    fn reachability(&mut self) {
        let flow = self.flow;
        let mut roots = vec![&flow.start];
        roots.extend(flow.hours.as_ref().and_then(|h| h.closed.as_ref()));
        let reached = reach(flow, roots);
        for id in flow.nodes.keys().filter(|id| !reached.contains(id)) {
            self.warning(&["nodes", id.as_str()], format!("node `{id}` cannot be reached from start `{}`", flow.start));
        }
    }

    fn traps(&mut self) {
        let flow = self.flow;
        // Nodes from which a transfer or a hangup can be reached.
        let mut can_exit: BTreeSet<&NodeId> =
            flow.nodes.iter().filter(|(_, n)| n.transfer.is_some() || n.hangup).map(|(id, _)| id).collect();
        loop {
            let before = can_exit.len();
            for (id, node) in &flow.nodes {
                if edges(node).any(|t| can_exit.contains(t)) {
                    can_exit.insert(id);
                }
            }
            if can_exit.len() == before {
                break;
            }
        }
        let mut reported: BTreeSet<&NodeId> = BTreeSet::new();
        for id in flow.nodes.keys() {
            if can_exit.contains(id) || reported.contains(id) {
                continue;
            }
            let from_here = reach_by_edges(flow, id);
            if !from_here.contains(id) {
                continue; // not on a cycle
            }
            let mut cycle: Vec<&NodeId> = from_here.into_iter().filter(|m| reach_by_edges(flow, m).contains(id)).collect();
            cycle.sort_by_key(|m| {
                let p = flow.source.locate(&["nodes", m.as_str()]);
                (p.line, p.column)
            });
            reported.extend(cycle.iter().copied());
            let names: Vec<String> = cycle.iter().map(|m| format!("`{m}`")).collect();
            let what =
                if names.len() == 1 { format!("{} loops back to itself", names[0]) } else { format!("{} form a loop", names.join(", ")) };
            self.warning(&["nodes", cycle[0].as_str()], format!("trap: {what} with no way to a transfer or a hangup"));
        }
    }
}

impl Check<'_> {
    /// A transfer whose `failed` leads back to it loops while agents are
    /// down, unless `exhausted` takes the caller elsewhere after the
    /// node's `max_attempts`.
    fn transfer_loops(&mut self) {
        let flow = self.flow;
        for (id, node) in &flow.nodes {
            let Some(t) = &node.transfer else {
                continue;
            };
            let Some(failed) = node.on.get("failed") else {
                continue;
            };
            if node.on.contains_key("exhausted") || !reach(flow, vec![failed]).contains(id) {
                continue;
            }
            let via = if failed == id { String::new() } else { format!(" through `{failed}`") };
            self.warning(
                &["nodes", id.as_str(), "on", "failed"],
                format!(
                    "node `{id}`: transfer loop: when the transfer fails, `failed` leads back to `{id}`{via} with no other exit; map `exhausted` to a node that ends the call (without it the call hangs up after {} failed attempts)",
                    t.max_attempts
                ),
            );
        }
    }
}

/// Nodes reachable from `roots` (included) through `on` targets.
fn reach<'a>(flow: &'a Flow, roots: Vec<&'a NodeId>) -> BTreeSet<&'a NodeId> {
    let mut seen: BTreeSet<&NodeId> = BTreeSet::new();
    let mut queue: VecDeque<&NodeId> = roots.into();
    while let Some(id) = queue.pop_front() {
        let Some((key, node)) = flow.nodes.get_key_value(id) else {
            continue;
        };
        if seen.insert(key) {
            queue.extend(edges(node));
        }
    }
    seen
}

/// Nodes reachable from `id` by at least one `on` edge.
fn reach_by_edges<'a>(flow: &'a Flow, id: &NodeId) -> BTreeSet<&'a NodeId> {
    let first: Vec<&NodeId> = flow.nodes.get(id).map(|n| edges(n).collect()).unwrap_or_default();
    reach(flow, first)
}

/// Every node a node can lead to: its `on` targets and its branch targets.
fn edges(node: &Node) -> impl Iterator<Item = &NodeId> {
    let branch =
        node.branch.iter().flat_map(|b| b.when.iter().map(|c| &c.goto).chain(b.split.values().map(|v| &v.goto)).chain(b.otherwise.iter()));
    node.on.values().chain(branch)
}
