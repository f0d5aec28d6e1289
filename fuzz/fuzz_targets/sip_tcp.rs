//! A TCP byte stream through the connection's receive side
//! (`transport::StreamFramer`: CRLF keep-alives, Content-Length framing,
//! parsing, the answer to what does not parse), delivered in chunks whose
//! sizes the input chooses (its first byte seeds them), as reads from a
//! socket would split it. Framing must not depend on how the stream is cut:
//! the same bytes in one piece give the same messages.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sip_gateway::sip::transport::{StreamFrame, StreamFramer};

/// What a stream produced: each message's printed form or the reply to it,
/// and whether the stream broke.
fn run(data: &[u8], chunks: impl Iterator<Item = usize>) -> (Vec<Result<String, Option<Vec<u8>>>>, bool) {
    let mut framer = StreamFramer::default();
    let mut out = Vec::new();
    let mut rest = data;
    let mut chunks = chunks;
    while !rest.is_empty() {
        let n = chunks.next().unwrap_or(rest.len()).clamp(1, rest.len());
        framer.push(&rest[..n]);
        rest = &rest[n..];
        loop {
            match framer.next_frame() {
                StreamFrame::NeedMore => break,
                StreamFrame::Message(m) => out.push(m.map(|m| m.to_string())),
                StreamFrame::Broken { .. } => return (out, true),
            }
        }
    }
    (out, false)
}

fuzz_target!(|input: &[u8]| {
    let Some((&seed, data)) = input.split_first() else { return };
    let mut state = u32::from(seed) | 1;
    let chunked = run(
        data,
        std::iter::from_fn(|| {
            // xorshift: reads of 1..=1024 bytes
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            Some(1 + (state % 1024) as usize)
        }),
    );
    let whole = run(data, std::iter::empty());
    assert_eq!(chunked, whole, "framing depends on how the stream was read");
});
