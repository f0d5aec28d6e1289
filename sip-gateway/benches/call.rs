//! Per-call engine micro-benchmarks: the flow engine (FlowRunner) and
//! streaming 8 -> 16 kHz resampling of one 20 ms frame (the ASR feed).
//! See BENCHMARKS.md.

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use dialogs::{load_flow, FlowEvent, FlowRunner, Variables};
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

fn flow_benches(c: &mut Criterion) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../flows/demo.yaml");
    let (flow, _) = load_flow(&path).expect("flows/demo.yaml loads");
    let flow = Arc::new(flow);
    let mut vars = Variables::new();
    vars.insert("caller".into(), "+15551234567".into());
    vars.insert("called".into(), "5550100".into());
    vars.insert("call_id".into(), "3848276298220188511@198.51.100.7".into());
    vars.insert("transfer.agent_uri".into(), "sip:agents@127.0.0.1:5070".into());
    let mut group = c.benchmark_group("flow_runner");
    // A whole short call: start at `welcome`, prompt done, press 1 (sales).
    group.bench_function("new+prompt_done+digit+drain", |b| {
        b.iter(|| {
            let now = Instant::now();
            let mut runner = FlowRunner::new(flow.clone(), vars.clone(), now);
            while let Some(a) = runner.poll_action() {
                black_box(a);
            }
            runner.handle_event(FlowEvent::PromptFinished, now);
            runner.handle_event(FlowEvent::Digit('1'), now);
            while let Some(a) = runner.poll_action() {
                black_box(a);
            }
            runner
        })
    });
    // Only the step: a digit into a runner waiting at `welcome`.
    group.bench_function("digit+drain", |b| {
        b.iter_batched(
            || {
                let now = Instant::now();
                let mut runner = FlowRunner::new(flow.clone(), vars.clone(), now);
                while runner.poll_action().is_some() {}
                runner.handle_event(FlowEvent::PromptFinished, now);
                while runner.poll_action().is_some() {}
                (runner, now)
            },
            |(mut runner, now)| {
                runner.handle_event(FlowEvent::Digit(black_box('1')), now);
                while let Some(a) = runner.poll_action() {
                    black_box(a);
                }
                runner
            },
            criterion::BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn resample_benches(c: &mut Criterion) {
    const FRAME: usize = 160;
    // One resampler per call, built once: synchronous FFT, fixed 160-frame input.
    let mut resampler = Fft::<f32>::new(8000, 16000, FRAME, 1, FixedSync::Input).expect("resampler");
    let audio: Vec<i16> = (0..8000).map(|i| ((i as f32 * 2.0 * std::f32::consts::PI * 440.0 / 8000.0).sin() * 10000.0) as i16).collect();
    let mut input = vec![0f32; FRAME];
    let mut output = vec![0f32; resampler.output_frames_max()];
    let mut pos = 0;
    c.bench_function("resample_8k_16k_frame_160", |b| {
        b.iter(|| {
            for (dst, &s) in input.iter_mut().zip(&audio[pos..pos + FRAME]) {
                *dst = f32::from(s) / 32768.0;
            }
            pos = (pos + FRAME) % audio.len();
            let frames_out = resampler.output_frames_next();
            let inp = InterleavedSlice::new(&input[..], 1, FRAME).unwrap();
            let mut out = InterleavedSlice::new_mut(&mut output[..], 1, frames_out).unwrap();
            let (_, written) = resampler.process_into_buffer(&inp, &mut out, None).unwrap();
            black_box(written)
        })
    });
}

criterion_group!(benches, flow_benches, resample_benches);
criterion_main!(benches);
