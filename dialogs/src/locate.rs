//! Where each key of a flow file is: a small scanner that maps key paths
//! (`nodes.welcome.on.sales`) to their line and column.
//!
//! serde_yaml reports where a parse fails but keeps no positions for values
//! that parse fine, and the semantic checks in [`crate::validate`] need them.
//! The scanner understands the part of YAML that flows use: block mappings
//! and sequences by indentation, flow mappings and sequences (`{ a: b }`,
//! `[a, b]`, and so whole JSON documents), quoted keys, comments and block
//! scalars (`|`, `>`). A path it did not see falls back to its nearest parent.

use std::collections::HashMap;

/// A 1-based position in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pos {
    pub(crate) line: usize,
    pub(crate) column: usize,
}

impl Default for Pos {
    fn default() -> Self {
        Pos { line: 1, column: 1 }
    }
}

/// The file name of a flow and the position of each of its keys.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct SourceMap {
    file: String,
    keys: HashMap<Vec<String>, Pos>,
    /// Keys defined again in the same mapping (a later one silently wins
    /// in serde), in file order: the path and where it is defined again.
    duplicates: Vec<(Vec<String>, Pos)>,
}

impl SourceMap {
    /// Scans `source` once.
    pub(crate) fn scan(file: &str, source: &str) -> SourceMap {
        let mut scanner = Scanner::default();
        for (n, line) in source.lines().enumerate() {
            scanner.line(n + 1, line);
        }
        SourceMap { file: file.to_owned(), keys: scanner.keys, duplicates: scanner.duplicates }
    }

    /// Keys defined twice in one mapping: the path and the second place
    /// (keys inside a duplicated key are left out: the parent says it).
    pub(crate) fn duplicates(&self) -> Vec<(Vec<String>, Pos)> {
        let mut out: Vec<(Vec<String>, Pos)> = Vec::new();
        for (path, pos) in &self.duplicates {
            if !out.iter().any(|(p, _)| p.len() < path.len() && path.starts_with(p)) {
                out.push((path.clone(), *pos));
            }
        }
        out
    }

    pub(crate) fn file(&self) -> &str {
        &self.file
    }

    /// The position of the key at `path`, or of its nearest known parent.
    pub(crate) fn locate(&self, path: &[&str]) -> Pos {
        let mut path: Vec<String> = path.iter().map(|s| (*s).to_owned()).collect();
        while !path.is_empty() {
            if let Some(pos) = self.keys.get(&path) {
                return *pos;
            }
            path.pop();
        }
        Pos::default()
    }
}

/// A block-context parent: a key (or sequence item) and its indentation.
struct Block {
    indent: usize,
    segment: String,
    item: bool,
    next_index: usize,
}

enum Frame {
    Map { path: Vec<String>, key: MapState },
    Seq { path: Vec<String>, index: usize },
}

enum MapState {
    Key,
    AfterKey(String),
    Value(String),
    Done,
}

#[derive(Default)]
struct Scanner {
    keys: HashMap<Vec<String>, Pos>,
    duplicates: Vec<(Vec<String>, Pos)>,
    blocks: Vec<Block>,
    root_index: usize,
    /// Inside a block scalar whose key sits at this indentation.
    block_scalar: Option<usize>,
    /// Inside a flow collection (possibly spanning lines).
    frames: Vec<Frame>,
    /// Path of the value that the flow collection being opened belongs to.
    flow_prefix: Vec<String>,
}

fn column(line: &str, byte: usize) -> usize {
    line[..byte].chars().count() + 1
}

/// Reads a quoted scalar starting at `start` (on the quote); returns the
/// text and the byte just past the closing quote.
fn quoted(line: &str, start: usize) -> (String, usize) {
    let bytes = line.as_bytes();
    let quote = bytes[start];
    let mut out = String::new();
    let mut i = start + 1;
    while i < bytes.len() {
        let b = bytes[i];
        if b == quote {
            if quote == b'\'' && bytes.get(i + 1) == Some(&b'\'') {
                out.push('\'');
                i += 2;
                continue;
            }
            return (out, i + 1);
        }
        if quote == b'"' && b == b'\\' && i + 1 < bytes.len() {
            i += 1;
        }
        let ch_len = line[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&line[i..i + ch_len]);
        i += ch_len;
    }
    (out, bytes.len())
}

impl Scanner {
    fn record(&mut self, path: Vec<String>, line_no: usize, line: &str, byte: usize) {
        let pos = Pos { line: line_no, column: column(line, byte) };
        match self.keys.entry(path) {
            std::collections::hash_map::Entry::Occupied(e) => self.duplicates.push((e.key().clone(), pos)),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(pos);
            }
        }
    }

    fn block_path(&self) -> Vec<String> {
        self.blocks.iter().map(|b| b.segment.clone()).collect()
    }

    fn line(&mut self, line_no: usize, line: &str) {
        if !self.frames.is_empty() {
            self.flow(line_no, line, 0);
            return;
        }
        let indent = line.len() - line.trim_start_matches(' ').len();
        let content = line[indent..].trim_end();
        if let Some(parent) = self.block_scalar {
            if content.is_empty() || indent > parent {
                return;
            }
            self.block_scalar = None;
        }
        if content.is_empty()
            || content.starts_with('#')
            || content.starts_with("---")
            || content.starts_with("...")
            || content.starts_with('%')
        {
            return;
        }
        let mut at = indent;
        // Sequence items: `- value`, `- key: value`, `- - nested`.
        while line[at..].starts_with("- ") || line[at..].trim_end() == "-" {
            self.blocks.retain(|b| b.indent < at || (b.indent == at && !b.item));
            let index = match self.blocks.last_mut() {
                Some(parent) => {
                    parent.next_index += 1;
                    parent.next_index - 1
                }
                None => {
                    self.root_index += 1;
                    self.root_index - 1
                }
            };
            self.blocks.push(Block { indent: at, segment: index.to_string(), item: true, next_index: 0 });
            at += 1;
            at += line[at..].len() - line[at..].trim_start_matches(' ').len();
        }
        let rest = line[at..].trim_end();
        if rest.is_empty() || rest.starts_with('#') {
            return;
        }
        if rest.starts_with('{') || rest.starts_with('[') {
            self.blocks.retain(|b| b.indent < at || b.item);
            self.flow_prefix = self.block_path();
            self.flow(line_no, line, at);
            return;
        }
        let Some((key, value_at)) = Self::block_key(line, at) else {
            return; // a scalar item or a continuation line
        };
        self.blocks.retain(|b| b.indent < at);
        let mut path = self.block_path();
        path.push(key.clone());
        self.record(path.clone(), line_no, line, at);
        let mut value = line[value_at..].trim_start();
        // Skip anchors and tags before the value.
        while value.starts_with('&') || value.starts_with('!') {
            value = value.split_once(' ').map_or("", |(_, v)| v.trim_start());
        }
        if value.trim_end().is_empty() || value.starts_with('#') {
            self.blocks.push(Block { indent: at, segment: key, item: false, next_index: 0 });
        } else if value.starts_with('|') || value.starts_with('>') {
            self.block_scalar = Some(at);
        } else if value.starts_with('{') || value.starts_with('[') {
            self.flow_prefix = path;
            self.flow(line_no, line, line.len() - value.len());
        }
    }

    /// A `key:` at byte `at` of `line`: the key and the byte after the colon.
    fn block_key(line: &str, at: usize) -> Option<(String, usize)> {
        let bytes = line.as_bytes();
        if bytes[at] == b'"' || bytes[at] == b'\'' {
            let (key, end) = quoted(line, at);
            let after = line[end..].trim_start();
            let colon = line.len() - after.len();
            return after.starts_with(':').then(|| (key, colon + 1));
        }
        let mut search = at;
        while let Some(offset) = line[search..].find(':') {
            let colon = search + offset;
            let next = bytes.get(colon + 1);
            if next.is_none() || next == Some(&b' ') || next == Some(&b'\t') {
                let key = line[at..colon].trim_end();
                if key.contains(" #") {
                    return None;
                }
                return Some((key.to_owned(), colon + 1));
            }
            search = colon + 1;
        }
        None
    }

    /// The path that a value opening now (a `{` or `[`) belongs to.
    fn value_path(&self) -> Vec<String> {
        match self.frames.last() {
            None => self.flow_prefix.clone(),
            Some(Frame::Seq { path, index }) => {
                let mut p = path.clone();
                p.push(index.to_string());
                p
            }
            Some(Frame::Map { path, key }) => {
                let mut p = path.clone();
                if let MapState::Value(k) | MapState::AfterKey(k) = key {
                    p.push(k.clone());
                }
                p
            }
        }
    }

    fn scalar(&mut self, text: String, line_no: usize, line: &str, byte: usize) {
        let mut key_path = None;
        if let Some(Frame::Map { path, key }) = self.frames.last_mut() {
            match key {
                MapState::Key => {
                    let mut p = path.clone();
                    p.push(text.clone());
                    key_path = Some(p);
                    *key = MapState::AfterKey(text);
                }
                MapState::Value(_) => *key = MapState::Done,
                MapState::AfterKey(_) | MapState::Done => {}
            }
        }
        if let Some(p) = key_path {
            self.record(p, line_no, line, byte);
        }
    }

    /// Scans flow-style content of `line` from byte `from`.
    fn flow(&mut self, line_no: usize, line: &str, from: usize) {
        let bytes = line.as_bytes();
        let mut i = from;
        while i < bytes.len() {
            let b = bytes[i];
            match b {
                b' ' | b'\t' | b'\r' => i += 1,
                b'#' if i == 0 || bytes[i - 1] == b' ' || bytes[i - 1] == b'\t' => return,
                b'{' | b'[' => {
                    let path = self.value_path();
                    self.frames.push(if b == b'{' { Frame::Map { path, key: MapState::Key } } else { Frame::Seq { path, index: 0 } });
                    i += 1;
                }
                b'}' | b']' => {
                    self.frames.pop();
                    if let Some(Frame::Map { key, .. }) = self.frames.last_mut() {
                        *key = MapState::Done;
                    }
                    i += 1;
                    if self.frames.is_empty() {
                        return;
                    }
                }
                b',' => {
                    match self.frames.last_mut() {
                        Some(Frame::Map { key, .. }) => *key = MapState::Key,
                        Some(Frame::Seq { index, .. }) => *index += 1,
                        None => {}
                    }
                    i += 1;
                }
                b':' => {
                    if let Some(Frame::Map { key, .. }) = self.frames.last_mut() {
                        if let MapState::AfterKey(k) = key {
                            *key = MapState::Value(std::mem::take(k));
                        }
                    }
                    i += 1;
                }
                b'"' | b'\'' => {
                    let (text, end) = quoted(line, i);
                    self.scalar(text, line_no, line, i);
                    i = end;
                }
                _ => {
                    let start = i;
                    while i < bytes.len() {
                        let c = bytes[i];
                        let next = bytes.get(i + 1).copied();
                        let ends_colon = c == b':' && matches!(next, None | Some(b' ' | b',' | b'}' | b']' | b'\t'));
                        if matches!(c, b',' | b'{' | b'}' | b'[' | b']') || ends_colon {
                            break;
                        }
                        if c == b'#' && matches!(bytes[i - 1], b' ' | b'\t') {
                            break;
                        }
                        i += 1;
                    }
                    let text = line[start..i].trim_end().to_owned();
                    self.scalar(text, line_no, line, start);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(map: &SourceMap, path: &str) -> (usize, usize) {
        let parts: Vec<&str> = path.split('.').collect();
        let p = map.locate(&parts);
        (p.line, p.column)
    }

    #[test]
    fn block_and_flow_yaml() {
        let src = "flow: x # name\nnodes:\n  a:\n    say: |\n      text: not a key\n    on: { done: b, \"no_input\": c }\n  b:\n    transfer:\n      context:\n        - caller\n        - intent\n    list:\n    - k: v\n      j: w\n    - k: v2\n";
        let map = SourceMap::scan("f.yaml", src);
        assert_eq!(at(&map, "flow"), (1, 1));
        assert_eq!(at(&map, "nodes.a"), (3, 3));
        assert_eq!(at(&map, "nodes.a.say"), (4, 5));
        assert_eq!(at(&map, "nodes.a.say.text"), (4, 5));
        assert_eq!(at(&map, "nodes.a.on.done"), (6, 11));
        assert_eq!(at(&map, "nodes.a.on.no_input"), (6, 20));
        assert_eq!(at(&map, "nodes.b"), (7, 3));
        assert_eq!(at(&map, "nodes.b.transfer.context"), (9, 7));
        assert_eq!(at(&map, "nodes.b.list.0.j"), (14, 7));
        assert_eq!(at(&map, "nodes.b.list.1.k"), (15, 7));
        assert_eq!(at(&map, "nodes.zzz"), (2, 1));
        assert_eq!(at(&map, "nope"), (1, 1));
        assert!(map.duplicates().is_empty(), "{:?}", map.duplicates());
    }

    #[test]
    fn keys_defined_twice() {
        let src = "nodes:\n  a:\n    on: { done: b, done: c }\n  b:\n    hangup: true\n  a:\n    hangup: true\n";
        let map = SourceMap::scan("f.yaml", src);
        let dups: Vec<(String, usize, usize)> = map.duplicates().iter().map(|(p, pos)| (p.join("."), pos.line, pos.column)).collect();
        assert_eq!(dups, vec![("nodes.a.on.done".to_owned(), 3, 20), ("nodes.a".to_owned(), 6, 3)]);
    }

    #[test]
    fn json() {
        let src = "{\n  \"flow\": \"x\",\n  \"nodes\": {\n    \"a\": {\"on\": {\"done\": \"b\"},\n      \"say\": \"hi: there, {{caller}}\"},\n    \"b\": {\"hangup\": true}\n  }\n}\n";
        let map = SourceMap::scan("f.json", src);
        assert_eq!(at(&map, "flow"), (2, 3));
        assert_eq!(at(&map, "nodes.a.on.done"), (4, 18));
        assert_eq!(at(&map, "nodes.a.say"), (5, 7));
        assert_eq!(at(&map, "nodes.b.hangup"), (6, 11));
    }
}
