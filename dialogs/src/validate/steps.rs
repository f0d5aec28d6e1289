//! Checks of templates, the later verbs (webhook, branch, consent, survey,
//! business events), business hours and prompt files.

use std::collections::BTreeSet;
use std::path::Path;

use super::{Check, SETTINGS};
use crate::clock;
use crate::model::{Flow, Node, NodeId};
use crate::template::{pieces, split_filter, Piece};

/// Variables the runner always knows, besides those the flow sets.
const BUILTIN_VARS: [&str; 11] =
    ["caller", "called", "call_id", "digits", "intent", "speech", "choice", "language", "hours", "webhook.status", "webhook.error"];

/// Every variable a flow may read: built-ins, `set` keys, webhook `map`
/// keys, `consent.TOPIC`, `survey.NAME` and `ab.NODE`.
pub(super) fn known_vars(flow: &Flow) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = BUILTIN_VARS.iter().map(|s| (*s).to_owned()).collect();
    for (id, node) in &flow.nodes {
        out.extend(node.set.keys().cloned());
        if let Some(hook) = &node.webhook {
            out.extend(hook.map.keys().cloned());
        }
        if let Some(c) = &node.consent {
            out.insert(format!("consent.{}", c.topic));
        }
        if let Some(s) = &node.survey {
            out.insert(format!("survey.{}", s.name.as_deref().unwrap_or(s.scale.as_str())));
        }
        if node.branch.as_ref().is_some_and(|b| !b.split.is_empty()) {
            out.insert(format!("ab.{id}"));
        }
    }
    out
}

fn var_name(name: &str) -> &str {
    name.strip_prefix("vars.").unwrap_or(name)
}

impl Check<'_> {
    pub(super) fn templates(&mut self, id: &NodeId, node: &Node, known: &BTreeSet<String>) {
        let n = id.as_str();
        let mut texts: Vec<(Vec<String>, &str)> = Vec::new();
        let path = |parts: &[&str]| -> Vec<String> { ["nodes", n].iter().chain(parts).map(|s| (*s).to_owned()).collect() };
        if let Some(say) = &node.say {
            texts.extend(say.all().into_iter().map(|t| (path(&["say"]), t)));
        }
        if let Some(reprompt) = node.gather.as_ref().and_then(|g| g.reprompt.as_ref()) {
            texts.extend(reprompt.all().into_iter().map(|t| (path(&["gather", "reprompt"]), t)));
        }
        if let Some(sorry) = &node.no_match_say {
            texts.extend(sorry.all().into_iter().map(|t| (path(&["no_match_say"]), t)));
        }
        if let Some(question) = node.gather.as_ref().and_then(|g| g.confirm_say.as_ref()) {
            texts.extend(question.all().into_iter().map(|t| (path(&["gather", "confirm_say"]), t)));
        }
        for (var, value) in &node.set {
            texts.push((path(&["set", var]), value));
        }
        if let Some(t) = &node.transfer {
            texts.push((path(&["transfer", "to"]), &t.to));
        }
        if let Some(hook) = &node.webhook {
            texts.push((path(&["webhook", "url"]), &hook.url));
            texts.extend(hook.body.iter().map(|(k, v)| (path(&["webhook", "body", k]), v.as_str())));
        }
        if let Some(event) = &node.event {
            texts.extend(event.value.iter().map(|v| (path(&["event", "value"]), v.as_str())));
            texts.extend(event.data.iter().map(|(k, v)| (path(&["event", "data", k]), v.as_str())));
        }
        self.template_texts(&format!("node `{id}`"), texts, known);
    }

    /// The flow-level texts: `no_match_say` and `confirm_say`.
    pub(super) fn flow_templates(&mut self, known: &BTreeSet<String>) {
        let flow = self.flow;
        let mut texts: Vec<(Vec<String>, &str)> = Vec::new();
        for (key, text) in [("no_match_say", &flow.no_match_say), ("confirm_say", &flow.confirm_say)] {
            texts.extend(text.iter().flat_map(|t| t.all()).map(|t| (vec![key.to_owned()], t)));
        }
        self.template_texts("flow", texts, known);
    }

    /// Unknown variables, filters and settings in `texts` (path, text).
    fn template_texts(&mut self, what: &str, texts: Vec<(Vec<String>, &str)>, known: &BTreeSet<String>) {
        for (path, text) in texts {
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            for piece in pieces(text) {
                match piece {
                    Piece::Var(inner) => {
                        let (name, filter) = split_filter(inner);
                        if !known.contains(var_name(name)) {
                            self.warning(&path, format!("{what}: unknown variable `{{{{{name}}}}}`"));
                        }
                        if let Some(f) = filter.filter(|f| !crate::sayas::is_known(f)) {
                            self.warning(
                                &path,
                                format!("{what}: unknown filter `{f}` in `{{{{{inner}}}}}` (known: {})", crate::sayas::FILTERS.join(", ")),
                            );
                        }
                    }
                    Piece::Setting(name) if !SETTINGS.contains(&name) => {
                        self.warning(
                            &path,
                            format!("{what}: unknown setting `${{{name}}}` (known: {})", SETTINGS.map(|s| format!("${{{s}}}")).join(", ")),
                        );
                    }
                    _ => {}
                }
            }
        }
    }

    /// Confidence thresholds and the keys of doubtful speech: `min_confidence`
    /// and `confirm_below` between 0 and 1, `confirm_below` not under
    /// `min_confidence` (errors); keys that can never apply (warnings).
    pub(super) fn speech_answers(&mut self, id: &NodeId, node: &Node) {
        let n = id.as_str();
        let listens = node.gather.is_some() || node.consent.is_some() || node.survey.is_some();
        if node.no_match_say.is_some() && !listens {
            self.warning(&["nodes", n, "no_match_say"], format!("node `{id}`: `no_match_say` applies to a node that listens; ignored"));
        }
        let Some(g) = &node.gather else {
            return;
        };
        let in_range = |c: f32| (0.0..=1.0).contains(&c);
        if !in_range(g.min_confidence) {
            self.error(
                &["nodes", n, "gather", "min_confidence"],
                format!("node `{id}`: gather.min_confidence must be between 0 and 1 (it is {})", g.min_confidence),
            );
        }
        let path = ["nodes", n, "gather", "confirm_below"];
        match g.confirm_below {
            Some(c) if !in_range(c) => {
                self.error(&path, format!("node `{id}`: gather.confirm_below must be between 0 and 1 (it is {c})"));
            }
            Some(c) if c < g.min_confidence => self.error(
                &path,
                format!(
                    "node `{id}`: gather.confirm_below ({c}) must be at least min_confidence ({}): speech below min_confidence is rejected, speech from min_confidence up to confirm_below is confirmed",
                    g.min_confidence
                ),
            ),
            Some(c) if c == g.min_confidence => self.warning(
                &path,
                format!("node `{id}`: gather.confirm_below equals min_confidence ({c}), so nothing is ever confirmed"),
            ),
            Some(_) if !g.speech => {
                self.warning(&path, format!("node `{id}`: gather.confirm_below applies to speech (`speech: true`); ignored"));
            }
            Some(_) if node.intents.is_empty() || node.consent.is_some() || node.survey.is_some() => {
                self.warning(&path, format!("node `{id}`: gather.confirm_below confirms intents; this node has none, so it is ignored"));
            }
            _ => {}
        }
        if g.confirm_say.is_some() && g.confirm_below.is_none() {
            self.warning(
                &["nodes", n, "gather", "confirm_say"],
                format!("node `{id}`: gather.confirm_say is never said without `confirm_below`; ignored"),
            );
        }
    }

    fn target(&mut self, id: &NodeId, path: &[&str], what: &str, target: &NodeId) {
        if !self.flow.nodes.contains_key(target) {
            self.error(path, format!("node `{id}`: {what} goes to `{target}`, which is not defined"));
        }
    }

    pub(super) fn steps(&mut self, id: &NodeId, node: &Node, known: &BTreeSet<String>) {
        let n = id.as_str();
        if let Some(hook) = &node.webhook {
            let url = hook.url.trim();
            if !["http://", "https://", "{{", "${"].iter().any(|p| url.starts_with(p)) {
                self.error(&["nodes", n, "webhook", "url"], format!("node `{id}`: webhook URL `{url}` is not an http:// or https:// URL"));
            }
            for (var, path) in &hook.map {
                if path.trim().is_empty() {
                    self.error(&["nodes", n, "webhook", "map", var], format!("node `{id}`: webhook map `{var}` has an empty path"));
                }
            }
            if !node.on.contains_key("failed") {
                self.warning(
                    &["nodes", n, "webhook"],
                    format!("node `{id}`: webhook without `failed` in `on`; the call will hang up when the service fails"),
                );
            }
        }
        if let Some(branch) = &node.branch {
            for (i, case) in branch.when.iter().enumerate() {
                let i = i.to_string();
                self.target(id, &["nodes", n, "branch", "when", &i, "goto"], "a branch case", &case.goto);
                let var = case.condition.name();
                if !known.contains(var) {
                    self.warning(
                        &["nodes", n, "branch", "when", &i, "if"],
                        format!("node `{id}`: unknown variable `{var}` in condition `{}`", case.condition),
                    );
                }
            }
            for (name, variant) in &branch.split {
                self.target(id, &["nodes", n, "branch", "split", name, "goto"], &format!("variant `{name}`"), &variant.goto);
            }
            if !branch.split.is_empty() && branch.split.values().all(|v| v.weight == 0) {
                self.error(&["nodes", n, "branch", "split"], format!("node `{id}`: the A/B split has no variant with a weight above 0"));
            }
            if let Some(other) = &branch.otherwise {
                self.target(id, &["nodes", n, "branch", "else"], "`else`", other);
            }
        }
        if node.consent.is_some() {
            for answer in ["yes", "no"] {
                if !node.on.contains_key(answer) {
                    self.warning(
                        &["nodes", n, "consent"],
                        format!("node `{id}`: consent answer `{answer}` is not mapped in `on`; the call will hang up"),
                    );
                }
            }
        }
    }

    pub(super) fn hours(&mut self) {
        let Some(hours) = &self.flow.hours else {
            return;
        };
        if let Some(tz) = &hours.timezone {
            if !clock::zone_exists(tz) {
                self.error(
                    &["hours", "timezone"],
                    format!("hours: unknown time zone `{tz}` (expected an IANA name such as America/Argentina/Cordoba)"),
                );
            }
        } else {
            self.warning(&["hours"], "hours: no `timezone`; hours are read in UTC".to_owned());
        }
        if hours.closed.is_none() {
            self.warning(&["hours"], "hours: no `closed` node; calls are taken when closed too".to_owned());
        }
    }

    pub(super) fn prompt_file(&mut self, id: &NodeId, node: &Node, dir: &Path) {
        let Some(prompt) = &node.play else {
            return;
        };
        let file = format!("{prompt}.wav");
        let language = &self.flow.language;
        let mut candidates = vec![dir.join(language).join(&file)];
        if let Some((primary, _)) = language.split_once('-') {
            candidates.push(dir.join(primary).join(&file));
        }
        candidates.push(dir.join(&file));
        let bad_id = prompt.as_str().is_empty() || prompt.as_str().contains(['/', '\\']) || prompt.as_str().starts_with('.');
        if bad_id || !candidates.iter().any(|p| p.is_file()) {
            self.error(
                &["nodes", id.as_str(), "play"],
                format!("node `{id}`: prompt `{prompt}` not found in {} (no {file} for {language})", dir.display()),
            );
        }
    }
}
