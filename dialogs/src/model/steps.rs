//! Shapes of the verbs that decide and record: `webhook`, `branch` (with
//! its conditions and A/B split), `consent`, `survey` and business events.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

use super::{de as helpers, NodeId};

/// An HTTP call made by the gateway for the flow (`webhook:`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// A name for logs and metrics (default: the node's id).
    #[serde(default)]
    pub name: Option<String>,
    /// The URL, a template (`https://crm.example/lookup?phone={{caller}}`).
    pub url: String,
    /// GET or POST (default POST).
    #[serde(default)]
    pub method: HttpMethod,
    /// Body fields (sent as a JSON object of strings); values are templates.
    #[serde(default, deserialize_with = "helpers::scalar_map")]
    pub body: BTreeMap<String, String>,
    /// How long to wait before `failed` (default 5s).
    #[serde(default = "default_webhook_timeout", deserialize_with = "helpers::duration")]
    pub timeout: Duration,
    /// Variables to set from the JSON response: variable → dotted path
    /// (`crm.name: customer.first_name`, `first: items.0.sku`).
    #[serde(default)]
    pub map: BTreeMap<String, String>,
}

fn default_webhook_timeout() -> Duration {
    Duration::from_secs(5)
}

/// The HTTP method of a webhook.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// GET (no body).
    Get,
    /// POST with a JSON body.
    #[default]
    Post,
}

/// `branch:`: the first `when` case that holds, else the A/B `split`, else
/// `else`, else the node's `done`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Branch {
    /// Cases tried in order.
    #[serde(default)]
    pub when: Vec<Case>,
    /// A/B variants by name, each with a weight; the choice is sticky per
    /// caller (a stable FNV-1a hash of node and caller).
    #[serde(default)]
    pub split: BTreeMap<String, Variant>,
    /// Where to go when no case holds and there is no split.
    #[serde(default, rename = "else")]
    pub otherwise: Option<NodeId>,
}

/// One case of a branch: `{ if: "crm.vip == yes", goto: vip }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// The condition.
    #[serde(rename = "if")]
    pub condition: Condition,
    /// The node to enter when it holds.
    pub goto: NodeId,
}

/// One A/B variant: `{ weight: 50, goto: greet_a }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// Relative weight (0 disables the variant).
    pub weight: u32,
    /// The node to enter.
    pub goto: NodeId,
}

/// A comparison of a variable: `var OP value` or `var exists`. Values
/// compare as numbers when both sides are numbers, else as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// The variable (`crm.name`, `vars.tries` = `tries`, `caller`).
    pub var: String,
    /// The comparison.
    pub op: CompareOp,
    /// The right-hand side (quotes removed; empty for `exists`).
    pub value: String,
}

/// The operators of a [`Condition`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `>`
    Gt,
    /// `contains` (text, case-insensitive)
    Contains,
    /// `exists` (set and not empty)
    Exists,
}

impl Condition {
    /// Parses `crm.vip == yes`, `tries > 2`, `name contains "ana"`, `crm.id exists`.
    pub fn parse(text: &str) -> Result<Condition, String> {
        let bad = || format!("invalid condition `{text}`: expected `VAR OP VALUE` with OP one of ==, !=, <, >, contains, or `VAR exists`");
        let text = text.trim();
        let (var, rest) = text.split_once(char::is_whitespace).ok_or_else(bad)?;
        let rest = rest.trim_start();
        if rest == "exists" {
            return Ok(Condition { var: var.to_owned(), op: CompareOp::Exists, value: String::new() });
        }
        let (op, value) = rest.split_once(char::is_whitespace).ok_or_else(bad)?;
        let op = match op {
            "==" => CompareOp::Eq,
            "!=" => CompareOp::Ne,
            "<" => CompareOp::Lt,
            ">" => CompareOp::Gt,
            "contains" => CompareOp::Contains,
            _ => return Err(bad()),
        };
        let value = value.trim();
        let unquoted = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(value);
        if var.is_empty() || value.is_empty() {
            return Err(bad());
        }
        Ok(Condition { var: var.to_owned(), op, value: unquoted.to_owned() })
    }

    /// The variable name as the runner stores it (`vars.x` is `x`).
    pub(crate) fn name(&self) -> &str {
        self.var.strip_prefix("vars.").unwrap_or(&self.var)
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            CompareOp::Eq => "==",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Gt => ">",
            CompareOp::Contains => "contains",
            CompareOp::Exists => return write!(f, "{} exists", self.var),
        };
        write!(f, "{} {op} {}", self.var, self.value)
    }
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Condition::parse(&text).map_err(de::Error::custom)
    }
}

/// `consent:`: the node's prompt asks; DTMF 1 or a spoken yes is `yes`,
/// DTMF 2 or a spoken no is `no`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consent {
    /// What is consented to (`recording`, `marketing`).
    #[serde(default = "default_topic")]
    pub topic: String,
}

fn default_topic() -> String {
    "consent".to_owned()
}

/// `survey:`: the node's prompt asks; the answer is a score, then `done`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Survey {
    /// CSAT (1-5) or NPS (0-10).
    pub scale: SurveyScale,
    /// A name for reports (default: the scale).
    #[serde(default)]
    pub name: Option<String>,
}

/// The scale of a survey question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SurveyScale {
    /// Customer satisfaction, 1-5: one key.
    Csat,
    /// Net promoter score, 0-10: keys `0`-`9`; 10 is `1` `0`, or `*`. A lone
    /// `1` waits for the inter-digit timeout (or `#`) before it counts as 1.
    Nps,
}

impl SurveyScale {
    /// The name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            SurveyScale::Csat => "csat",
            SurveyScale::Nps => "nps",
        }
    }

    pub(crate) fn range(self) -> (u8, u8) {
        match self {
            SurveyScale::Csat => (1, 5),
            SurveyScale::Nps => (0, 10),
        }
    }
}

/// `event:`: a business event emitted on entry, for KPIs (DESIGN.md §6).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusinessEvent {
    /// `lead`, `order` or `recontact`.
    pub kind: EventKind,
    /// The order's value, a template (`{{cart.total}}`).
    #[serde(default, deserialize_with = "helpers::opt_scalar")]
    pub value: Option<String>,
    /// ISO 4217 currency of the value (`ARS`).
    #[serde(default)]
    pub currency: Option<String>,
    /// More fields; values are templates.
    #[serde(default, deserialize_with = "helpers::scalar_map")]
    pub data: BTreeMap<String, String>,
}

/// The kinds of business event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// A sales lead.
    Lead,
    /// An order (counts as a conversion).
    Order,
    /// A callback or recontact request.
    Recontact,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions() {
        let c = Condition::parse("crm.vip == \"yes\"").expect("parses");
        assert_eq!((c.var.as_str(), c.op, c.value.as_str()), ("crm.vip", CompareOp::Eq, "yes"));
        assert_eq!(Condition::parse("vars.n exists").map(|c| c.name().to_owned()), Ok("n".into()));
        assert_eq!(Condition::parse("x contains  a b").map(|c| c.value), Ok("a b".into()));
        assert!(Condition::parse("x").is_err());
        assert!(Condition::parse("x ~= 3").is_err());
        assert!(Condition::parse("").is_err());
    }
}
