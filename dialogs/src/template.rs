//! Templates in flow text: `{{var}}` (a call variable: caller, digits, a
//! `set` variable) and `${name}` (a gateway setting such as
//! `${transfer.agent_uri}`). Both are looked up in the runner's variables;
//! a name with no value renders as nothing.
//!
//! A variable may carry a say-as filter, `{{phone|digits}}` or
//! `{{amount|currency:ARS}}` (see `sayas.rs`), so that TTS reads it
//! naturally. In webhook URLs ([`render_url`]) every `{{var}}` value is
//! percent-encoded (RFC 3986 §2: everything but the unreserved characters)
//! for the component it lands in: a path segment, a query value or the
//! fragment. Only a variable that starts the URL (before `://`, a base
//! URL) and `${settings}` (configured by the operator) are left as they are.

use crate::sayas;

/// One part of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    Text(&'a str),
    /// `{{name}}` or `{{name|filter}}` (the whole inside; see [`split_filter`]).
    Var(&'a str),
    /// `${name}`
    Setting(&'a str),
}

/// Splits the inside of `{{…}}` into the variable name and its filter.
pub(crate) fn split_filter(inner: &str) -> (&str, Option<&str>) {
    match inner.split_once('|') {
        Some((name, filter)) => (name.trim(), Some(filter.trim())),
        None => (inner.trim(), None),
    }
}

/// Splits a template into text and placeholders. An opener without its
/// closer is plain text.
pub(crate) fn pieces(template: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = template;
    loop {
        let var = rest.find("{{").map(|i| (i, "{{", "}}"));
        let setting = rest.find("${").map(|i| (i, "${", "}"));
        let next = match (var, setting) {
            (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
            (a, b) => a.or(b),
        };
        let Some((start, open, close)) = next else {
            break;
        };
        let inner_start = start + open.len();
        let Some(len) = rest[inner_start..].find(close) else {
            break;
        };
        if start > 0 {
            out.push(Piece::Text(&rest[..start]));
        }
        let name = rest[inner_start..inner_start + len].trim();
        out.push(if open == "{{" { Piece::Var(name) } else { Piece::Setting(name) });
        rest = &rest[inner_start + len + close.len()..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    out
}

/// The value of `{{inner}}`: the variable, through its filter if any.
fn var_value<'a>(inner: &str, language: &str, lookup: &impl Fn(&str) -> Option<&'a str>) -> String {
    let (name, filter) = split_filter(inner);
    let value = lookup(name).unwrap_or("");
    match filter {
        Some(f) => sayas::apply(f, value, language),
        None => value.to_owned(),
    }
}

/// Renders a template, looking placeholders up with `lookup`; filters
/// speak in `language`.
pub(crate) fn render<'a>(template: &str, language: &str, lookup: impl Fn(&str) -> Option<&'a str>) -> String {
    let mut out = String::with_capacity(template.len());
    for piece in pieces(template) {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Var(inner) => out.push_str(&var_value(inner, language, &lookup)),
            Piece::Setting(name) => out.push_str(lookup(name).unwrap_or("")),
        }
    }
    out
}

/// Renders a webhook URL: `{{var}}` values are percent-encoded for the
/// component they land in (see the module doc).
pub(crate) fn render_url<'a>(template: &str, language: &str, lookup: impl Fn(&str) -> Option<&'a str>) -> String {
    let mut out = String::with_capacity(template.len());
    for piece in pieces(template) {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Setting(name) => out.push_str(lookup(name).unwrap_or("")),
            Piece::Var(inner) => {
                let value = var_value(inner, language, &lookup);
                if out.contains("://") {
                    percent_encode(&value, &mut out);
                } else {
                    out.push_str(&value); // a base URL
                }
            }
        }
    }
    out
}

/// Appends `value` with every byte outside RFC 3986's unreserved set
/// (`A-Z a-z 0-9 - . _ ~`) written as `%XX`: safe in a path segment, a
/// query name or value and a fragment alike (`+`, `&`, `=`, `/`, `#`, `?`
/// and spaces cannot change the URL's shape).
pub(crate) fn percent_encode(value: &str, out: &mut String) {
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_renders() {
        assert_eq!(
            pieces("Hi {{ caller }}, see ${transfer.agent_uri}!"),
            vec![Piece::Text("Hi "), Piece::Var("caller"), Piece::Text(", see "), Piece::Setting("transfer.agent_uri"), Piece::Text("!"),]
        );
        assert_eq!(pieces("a {{b"), vec![Piece::Text("a {{b")]);
        let lookup = |n: &str| (n == "caller").then_some("555");
        assert_eq!(render("{{caller}}/{{x}}/${y}", "en-US", lookup), "555//");
        assert_eq!(split_filter(" phone | digits "), ("phone", Some("digits")));
        assert_eq!(render("{{caller|digits}}", "en-US", lookup), "5 5 5");
    }

    #[test]
    fn url_values_are_encoded_per_component() {
        let vars = |n: &str| match n {
            "caller" => Some("+54 9 351 555-0000"),
            "q" => Some("a&b=c#d/e?f"),
            "base" => Some("https://crm.example.com/api"),
            "id" => Some("x/../y z"),
            _ => None,
        };
        assert_eq!(
            render_url("https://crm.example.com/c?phone={{caller}}&q={{q}}", "en-US", vars),
            "https://crm.example.com/c?phone=%2B54%209%20351%20555-0000&q=a%26b%3Dc%23d%2Fe%3Ff"
        );
        assert_eq!(render_url("{{base}}/contacts/{{id}}", "en-US", vars), "https://crm.example.com/api/contacts/x%2F..%2Fy%20z");
        assert_eq!(render_url("https://h/${s}", "en-US", |n| (n == "s").then_some("a/b")), "https://h/a/b");
        let mut out = String::new();
        percent_encode("ñ", &mut out);
        assert_eq!(out, "%C3%B1");
    }
}
