//! The runner's non-listening steps: webhooks (request, result mapping,
//! timeout), branches (conditions and the sticky A/B split) and business
//! events.

use std::time::Instant;

use super::{later, Action, FlowRunner, Phase};
use crate::model::{BusinessEvent, CompareOp, Condition, Node};

/// 64-bit FNV-1a: stable across runs, platforms and versions (unlike
/// `std`'s hasher), so a caller always gets the same A/B variant.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Looks a dotted path (`customer.name`, `items.0.sku`) up in JSON.
fn json_path<'a>(value: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    path.split('.').filter(|p| !p.is_empty()).try_fold(value, |v, part| match v {
        serde_json::Value::Object(map) => map.get(part),
        serde_json::Value::Array(items) => part.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

fn json_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn holds(condition: &Condition, value: Option<&str>) -> bool {
    let v = value.unwrap_or("");
    let numbers = v.trim().parse::<f64>().ok().zip(condition.value.trim().parse::<f64>().ok());
    match condition.op {
        CompareOp::Exists => !v.is_empty(),
        CompareOp::Eq => numbers.map_or(v == condition.value, |(a, b)| a == b),
        CompareOp::Ne => numbers.map_or(v != condition.value, |(a, b)| a != b),
        CompareOp::Lt => value.is_some() && numbers.map_or(v < condition.value.as_str(), |(a, b)| a < b),
        CompareOp::Gt => value.is_some() && numbers.map_or(v > condition.value.as_str(), |(a, b)| a > b),
        CompareOp::Contains => v.to_lowercase().contains(&condition.value.to_lowercase()),
    }
}

/// What the caller hears when a transfer fails and the node has no
/// `transfer.apology`, by the call's primary language (English otherwise).
pub(crate) fn transfer_apology(language: &str) -> &'static str {
    match language.split(['-', '_']).next().unwrap_or("").to_ascii_lowercase().as_str() {
        "es" => "Lo sentimos, no pudimos comunicarte en este momento.",
        "pt" => "Desculpe, não conseguimos transferir sua chamada agora.",
        _ => "Sorry, we could not connect your call right now.",
    }
}

impl FlowRunner {
    fn node_now(&self) -> Option<(crate::model::NodeId, std::sync::Arc<crate::model::Flow>)> {
        self.current()
    }

    pub(super) fn business_event(&mut self, event: &BusinessEvent) {
        let value = event.value.as_deref().map(|v| self.render(v));
        let data = event.data.iter().map(|(k, v)| (k.clone(), self.render(v))).collect();
        self.actions.push_back(Action::BusinessEvent { kind: event.kind, value, currency: event.currency.clone(), data });
    }

    pub(super) fn start_webhook(&mut self, now: Instant) {
        let Some((id, flow)) = self.node_now() else {
            self.hang_up();
            return;
        };
        let Some(hook) = flow.nodes.get(&id).and_then(|n: &Node| n.webhook.as_ref()) else {
            self.hang_up();
            return;
        };
        let url = self.render_url(&hook.url).trim().to_owned();
        let body = hook.body.iter().map(|(k, v)| (k.clone(), self.render(v))).collect();
        let name = hook.name.clone().unwrap_or_else(|| id.to_string());
        self.phase = Phase::Webhook { deadline: later(now, hook.timeout) };
        self.actions.push_back(Action::Webhook { name, url, method: hook.method, body, timeout: hook.timeout });
    }

    pub(super) fn webhook_result(&mut self, status: u16, body: &serde_json::Value, now: Instant) {
        if !matches!(self.phase, Phase::Webhook { .. }) {
            return;
        }
        self.phase = Phase::Listening;
        self.set_var("webhook.status", status.to_string());
        if let Some((id, flow)) = self.node_now() {
            if let Some(hook) = flow.nodes.get(&id).and_then(|n| n.webhook.as_ref()) {
                for (var, path) in &hook.map {
                    if let Some(text) = json_path(body, path).and_then(json_text) {
                        self.set_var(var, text);
                    }
                }
            }
        }
        self.fire(if (200..300).contains(&status) { "done" } else { "failed" }, now);
    }

    pub(super) fn webhook_failed(&mut self, reason: &str, now: Instant) {
        if !matches!(self.phase, Phase::Webhook { .. }) {
            return;
        }
        self.phase = Phase::Listening;
        self.set_var("webhook.error", reason.to_owned());
        self.fire("failed", now);
    }

    pub(super) fn branch(&mut self, now: Instant) {
        let Some((id, flow)) = self.node_now() else {
            self.hang_up();
            return;
        };
        let Some(branch) = flow.nodes.get(&id).and_then(|n| n.branch.as_ref()) else {
            self.hang_up();
            return;
        };
        for case in &branch.when {
            if holds(&case.condition, self.vars.get(case.condition.name()).map(String::as_str)) {
                self.enter(case.goto.clone(), now);
                return;
            }
        }
        let total: u64 = branch.split.values().map(|v| u64::from(v.weight)).sum();
        if total > 0 {
            let key = format!("{}\u{0}{}", id, self.context.caller);
            let mut pick = fnv1a(key.as_bytes()) % total;
            for (name, variant) in &branch.split {
                let weight = u64::from(variant.weight);
                if pick < weight {
                    self.context.variants.insert(id.to_string(), name.clone());
                    self.vars.insert(format!("ab.{id}"), name.clone());
                    self.actions.push_back(Action::VariantChosen { branch: id.clone(), variant: name.clone() });
                    self.enter(variant.goto.clone(), now);
                    return;
                }
                pick -= weight;
            }
        }
        match &branch.otherwise {
            Some(next) => self.enter(next.clone(), now),
            None => self.fire("done", now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_is_the_reference_fnv1a() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn paths_and_conditions() {
        let body = serde_json::json!({"customer": {"name": "Ana", "vip": true}, "items": [{"sku": "X1"}]});
        assert_eq!(json_path(&body, "customer.name").and_then(json_text).as_deref(), Some("Ana"));
        assert_eq!(json_path(&body, "customer.vip").and_then(json_text).as_deref(), Some("true"));
        assert_eq!(json_path(&body, "items.0.sku").and_then(json_text).as_deref(), Some("X1"));
        assert_eq!(json_path(&body, "items.9.sku"), None);
        let c = |s: &str| Condition::parse(s).expect("condition");
        assert!(holds(&c("n > 9"), Some("10")), "numbers compare as numbers");
        assert!(!holds(&c("n > 9"), None));
        assert!(holds(&c("n == 3"), Some("3.0")));
        assert!(holds(&c("name contains ANA"), Some("Mariana")));
        assert!(!holds(&c("name exists"), Some("")));
        assert!(holds(&c("name != x"), None));
    }
}
