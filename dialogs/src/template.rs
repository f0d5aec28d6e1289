//! Templates in flow text: `{{var}}` (a call variable: caller, digits, a
//! `set` variable) and `${name}` (a gateway setting such as
//! `${transfer.agent_uri}`). Both are looked up in the runner's variables;
//! a name with no value renders as nothing.

/// One part of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    Text(&'a str),
    /// `{{name}}`
    Var(&'a str),
    /// `${name}`
    Setting(&'a str),
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

/// Renders a template, looking placeholders up with `lookup`.
pub(crate) fn render<'a>(template: &str, lookup: impl Fn(&str) -> Option<&'a str>) -> String {
    let mut out = String::with_capacity(template.len());
    for piece in pieces(template) {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Var(name) | Piece::Setting(name) => out.push_str(lookup(name).unwrap_or("")),
        }
    }
    out
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
        assert_eq!(render("{{caller}}/{{x}}/${y}", lookup), "555//");
    }
}
