//! Limits on a flow source taken from the admin API (`PUT /v1/flows/{name}`,
//! issue #15 item 1), checked before the YAML parser sees it.
//!
//! libyaml (behind `serde_yaml`) is quadratic in the nesting depth: 100,000
//! nested `[` (200 KB) took 38 s to parse, on the async workers that also
//! answer SIP. So a source is first measured by [`prescan`], a linear,
//! conservative scan (it may over-count a depth, never under-count it):
//! its size, its nesting depth (block indentation levels, compact `- - x`
//! sequences and flow brackets together) and its node count. Then the real
//! parse and validation run off the async runtime ([`run_bounded`]: the
//! blocking pool, one at a time) within a time bound. A source over a limit
//! is refused with a message naming the limit; nothing the API does can
//! delay a SIP response.

use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Bytes of flow source accepted (the flows shipped are under 10 KB).
pub const MAX_BYTES: usize = 1024 * 1024;
/// Nesting levels (a flow needs about 6: nodes, a node, intents, an intent, phrases).
pub const MAX_DEPTH: usize = 64;
/// Scalars and collections, approximately.
pub const MAX_NODES: usize = 100_000;
/// Parsing and validating one flow.
pub const MAX_TIME: Duration = Duration::from_secs(5);

/// Which limit a source exceeded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitExceeded {
    #[error("the flow source is {bytes} bytes; the limit is {limit} bytes")]
    Size { bytes: usize, limit: usize },
    #[error("line {line}: nested deeper than {limit} levels")]
    Depth { line: usize, limit: usize },
    #[error("line {line}: more than {limit} YAML nodes")]
    Nodes { line: usize, limit: usize },
    #[error("parsing and validating took longer than {} s", limit.as_secs())]
    Time { limit: Duration },
    #[error("another flow is being validated; try again")]
    Busy,
}

impl LimitExceeded {
    /// The limit's name, for clients (`size`, `depth`, `nodes`, `time`, `busy`).
    pub fn name(&self) -> &'static str {
        match self {
            LimitExceeded::Size { .. } => "size",
            LimitExceeded::Depth { .. } => "depth",
            LimitExceeded::Nodes { .. } => "nodes",
            LimitExceeded::Time { .. } => "time",
            LimitExceeded::Busy => "busy",
        }
    }

    /// The limit's value (bytes, levels, nodes, seconds).
    pub fn limit(&self) -> u64 {
        match self {
            LimitExceeded::Size { limit, .. } | LimitExceeded::Depth { limit, .. } | LimitExceeded::Nodes { limit, .. } => *limit as u64,
            LimitExceeded::Time { limit } => limit.as_secs(),
            LimitExceeded::Busy => 1,
        }
    }
}

/// Size, depth and node limits of [`prescan`].
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_bytes: usize,
    pub max_depth: usize,
    pub max_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_bytes: MAX_BYTES, max_depth: MAX_DEPTH, max_nodes: MAX_NODES }
    }
}

/// Measures a YAML (or JSON) source against `limits` in one linear pass.
pub fn prescan(source: &str, limits: &Limits) -> Result<(), LimitExceeded> {
    if source.len() > limits.max_bytes {
        return Err(LimitExceeded::Size { bytes: source.len(), limit: limits.max_bytes });
    }
    let mut s = Scan::default();
    for (i, line) in source.lines().enumerate() {
        let line_no = i + 1;
        s.line(line);
        if s.max_depth > limits.max_depth {
            return Err(LimitExceeded::Depth { line: line_no, limit: limits.max_depth });
        }
        if s.nodes > limits.max_nodes {
            return Err(LimitExceeded::Nodes { line: line_no, limit: limits.max_nodes });
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quote {
    None,
    Single,
    Double,
}

/// The scanner's state across lines.
#[derive(Debug)]
struct Scan {
    /// Indentation of the enclosing block collections.
    indents: Vec<usize>,
    /// Open `[` and `{`.
    flow: usize,
    quote: Quote,
    /// Inside a block scalar (`|`, `>`) whose parent line was indented this much.
    block_scalar: Option<usize>,
    max_depth: usize,
    nodes: usize,
}

impl Default for Scan {
    fn default() -> Self {
        Scan { indents: Vec::new(), flow: 0, quote: Quote::None, block_scalar: None, max_depth: 0, nodes: 0 }
    }
}

impl Scan {
    fn line(&mut self, line: &str) {
        let indent = line.bytes().take_while(|&b| b == b' ').count();
        let rest = &line[indent..];
        if let Some(parent) = self.block_scalar {
            if rest.trim().is_empty() || indent > parent {
                return; // text of the block scalar
            }
            self.block_scalar = None;
        }
        if self.quote == Quote::None && (rest.trim().is_empty() || rest.starts_with('#')) {
            return;
        }
        let mut depth = 0;
        let mut body = rest;
        if self.flow == 0 && self.quote == Quote::None {
            while self.indents.last().is_some_and(|&top| top >= indent) {
                self.indents.pop();
            }
            self.indents.push(indent);
            // Compact nested sequences and complex keys: `- - - x`, `? - x`.
            loop {
                let b = body.as_bytes();
                if b.len() >= 2 && (b[0] == b'-' || b[0] == b'?') && (b[1] == b' ' || b[1] == b'\t') {
                    depth += 1;
                    body = body[2..].trim_start();
                } else if b == b"-" || b == b"?" {
                    depth += 1;
                    body = "";
                } else {
                    break;
                }
            }
            self.nodes += 1 + depth;
        }
        let mut at_scalar_start = true;
        let mut last_significant = None;
        let bytes = body.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let c = bytes[i];
            match self.quote {
                Quote::Double => {
                    if c == b'\\' {
                        i += 1;
                    } else if c == b'"' {
                        self.quote = Quote::None;
                        at_scalar_start = false;
                    }
                }
                Quote::Single => {
                    if c == b'\'' {
                        if bytes.get(i + 1) == Some(&b'\'') {
                            i += 1;
                        } else {
                            self.quote = Quote::None;
                            at_scalar_start = false;
                        }
                    }
                }
                Quote::None => match c {
                    b'#' if i == 0 || bytes[i - 1] == b' ' || bytes[i - 1] == b'\t' => break,
                    b'"' if at_scalar_start => self.quote = Quote::Double,
                    b'\'' if at_scalar_start => self.quote = Quote::Single,
                    b'[' | b'{' => {
                        self.flow += 1;
                        self.nodes += 1;
                        at_scalar_start = true;
                    }
                    b']' | b'}' => {
                        self.flow = self.flow.saturating_sub(1);
                        at_scalar_start = false;
                    }
                    b',' => {
                        self.nodes += 1;
                        at_scalar_start = true;
                    }
                    b':' if bytes.get(i + 1).is_none_or(|n| *n == b' ' || *n == b'\t') => {
                        self.nodes += 1;
                        at_scalar_start = true;
                    }
                    b' ' | b'\t' => {}
                    _ => at_scalar_start = false,
                },
            }
            if !matches!(c, b' ' | b'\t') {
                last_significant = Some(i);
            }
            self.max_depth = self.max_depth.max(self.indents.len() + depth + self.flow);
            i += 1;
        }
        self.max_depth = self.max_depth.max(self.indents.len() + depth + self.flow);
        // `key: |`, `- >-`, `|2`: the lines that follow are text.
        if self.quote == Quote::None && self.flow == 0 {
            let text = body[..last_significant.map_or(0, |i| i + 1)].trim_end();
            let text = text.split(" #").next().unwrap_or(text).trim_end();
            let indicator = text.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-' || c == '+');
            if (indicator.ends_with('|') || indicator.ends_with('>'))
                && (indicator.len() == 1 || indicator[..indicator.len() - 1].ends_with(' '))
            {
                self.block_scalar = Some(indent);
            }
        }
    }
}

/// Runs `work` on the blocking pool, one at a time, within `limit`. `work`
/// gets a `commit` gate: it calls it right before any side effect (writing
/// the flow's file), and gets `false` when the caller has given up on it by
/// then (the time bound passed), in which case it must not act. Waiting for
/// a turn counts against the same `limit` ([`LimitExceeded::Busy`]).
pub async fn run_bounded<T: Send + 'static>(
    limit: Duration,
    work: impl FnOnce(&dyn Fn() -> bool) -> T + Send + 'static,
) -> Result<T, LimitExceeded> {
    static TURN: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);
    let deadline = tokio::time::Instant::now() + limit;
    let permit = tokio::time::timeout_at(deadline, TURN.acquire()).await.map_err(|_| LimitExceeded::Busy)?;
    let permit = permit.map_err(|_| LimitExceeded::Busy)?;
    let phase = Arc::new(Mutex::new(Phase::Running));
    let gate = phase.clone();
    let task = tokio::task::spawn_blocking(move || {
        // The turn is held until the work really ends, even when abandoned.
        let _permit = permit;
        let commit = || {
            let mut p = gate.lock().unwrap_or_else(|e| e.into_inner());
            if *p == Phase::Abandoned {
                return false;
            }
            *p = Phase::Committing;
            true
        };
        work(&commit)
    });
    tokio::pin!(task);
    match tokio::time::timeout_at(deadline, &mut task).await {
        Ok(r) => r.map_err(|_| LimitExceeded::Time { limit }),
        Err(_) => {
            let committing = {
                let mut p = phase.lock().unwrap_or_else(|e| e.into_inner());
                if *p != Phase::Committing {
                    *p = Phase::Abandoned;
                }
                *p == Phase::Committing
            };
            if committing {
                // Past the gate: it is writing; its result stands.
                return task.await.map_err(|_| LimitExceeded::Time { limit });
            }
            Err(LimitExceeded::Time { limit })
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    Committing,
    Abandoned,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth_of(source: &str) -> usize {
        let mut s = Scan::default();
        source.lines().for_each(|l| s.line(l));
        s.max_depth
    }

    #[test]
    fn the_shipped_flows_pass() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../flows");
        for entry in std::fs::read_dir(&root).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                let source = std::fs::read_to_string(&path).unwrap();
                assert_eq!(prescan(&source, &Limits::default()), Ok(()), "{}", path.display());
                assert!(depth_of(&source) <= 12, "{}: depth {}", path.display(), depth_of(&source));
            }
        }
    }

    #[test]
    fn depth_counts_block_flow_and_compact_nesting() {
        assert_eq!(depth_of("a: 1\n"), 1);
        assert_eq!(depth_of("a:\n  b:\n    c: 1\n"), 3);
        assert_eq!(depth_of("a: [1, [2, {b: 3}]]\n"), 4);
        assert_eq!(depth_of("- - - x\n"), 4);
        // Brackets and quotes inside text are not nesting.
        assert_eq!(depth_of("say: \"[[[[ {{ \"\nb: 'it''s [[['\n"), 1);
        assert_eq!(depth_of("say: don't [stop]\n"), 2, "a plain scalar's brackets over-count, never under-count");
        assert_eq!(depth_of("say: |\n  [[[[[[\n  {{{{\nnext: 1\n"), 1);
        assert_eq!(depth_of("say: >-\n    a: b: c:\n      - - -\nnext: [1]\n"), 2);
        assert_eq!(depth_of("a: 1 # [[[[[\n"), 1);
        // JSON is YAML.
        assert_eq!(
            depth_of("{\"flow\": \"x\", \"nodes\": {\"a\": {\"say\": \"[hi]\"}}}\n"),
            4,
            "the line's block level and its brace: one too many, never too few"
        );
    }

    #[test]
    fn deep_sources_are_refused_fast_with_the_line() {
        let limits = Limits::default();
        let flow_style = format!("flow: x\nnodes: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(prescan(&flow_style, &limits), Err(LimitExceeded::Depth { line: 2, limit: MAX_DEPTH }));
        let compact = format!("flow: x\nnodes:\n  {}x\n", "- ".repeat(100_000));
        assert_eq!(prescan(&compact, &limits), Err(LimitExceeded::Depth { line: 3, limit: MAX_DEPTH }));
        let block: String = (0..200).map(|i| format!("{}k{i}:\n", " ".repeat(i))).collect();
        assert_eq!(prescan(&block, &limits), Err(LimitExceeded::Depth { line: MAX_DEPTH + 1, limit: MAX_DEPTH }));
        let wide = format!("a: [{}]\n", "1,".repeat(200_000));
        assert!(matches!(prescan(&wide, &limits), Err(LimitExceeded::Nodes { line: 1, .. })));
        let big = "#".repeat(MAX_BYTES + 1);
        assert_eq!(prescan(&big, &limits), Err(LimitExceeded::Size { bytes: MAX_BYTES + 1, limit: MAX_BYTES }));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn work_over_the_time_bound_is_abandoned_before_its_side_effect() {
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = done.clone();
        let r = run_bounded(Duration::from_millis(50), move |commit| {
            std::thread::sleep(Duration::from_millis(300));
            if commit() {
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        })
        .await;
        assert_eq!(r, Err(LimitExceeded::Time { limit: Duration::from_millis(50) }));
        // The next one waits for its turn (the abandoned work still runs), then runs.
        let r = run_bounded(Duration::from_secs(5), |commit| commit()).await;
        assert_eq!(r, Ok(true));
        assert!(!done.load(std::sync::atomic::Ordering::SeqCst), "abandoned work wrote nothing");
        assert_eq!(run_bounded(Duration::from_secs(5), |_| 7).await, Ok(7));
    }
}
