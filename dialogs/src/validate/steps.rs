//! Checks of templates, the later verbs (webhook, branch, consent, survey,
//! business events), business hours and prompt files.

use std::collections::BTreeSet;
use std::path::Path;

use super::{Check, SETTINGS};
use crate::clock;
use crate::model::{Flow, Node, NodeId};
use crate::template::{pieces, split_filter, Piece};

/// Variables the runner always knows, besides those the flow sets.
const BUILTIN_VARS: [&str; 10] =
    ["caller", "called", "call_id", "digits", "intent", "speech", "language", "hours", "webhook.status", "webhook.error"];

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
        for (path, text) in texts {
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            for piece in pieces(text) {
                match piece {
                    Piece::Var(inner) => {
                        let (name, filter) = split_filter(inner);
                        if !known.contains(var_name(name)) {
                            self.warning(&path, format!("node `{id}`: unknown variable `{{{{{name}}}}}`"));
                        }
                        if let Some(f) = filter.filter(|f| !crate::sayas::is_known(f)) {
                            self.warning(
                                &path,
                                format!(
                                    "node `{id}`: unknown filter `{f}` in `{{{{{inner}}}}}` (known: {})",
                                    crate::sayas::FILTERS.join(", ")
                                ),
                            );
                        }
                    }
                    Piece::Setting(name) if !SETTINGS.contains(&name) => {
                        self.warning(
                            &path,
                            format!(
                                "node `{id}`: unknown setting `${{{name}}}` (known: {})",
                                SETTINGS.map(|s| format!("${{{s}}}")).join(", ")
                            ),
                        );
                    }
                    _ => {}
                }
            }
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
