//! The recogniser stream's channels (media::asr::stream_pair): batching
//! into 100 ms chunks, buffer recycling, drop-and-count on a full queue,
//! end of speech never lost, the event contract, cancellation.

use media::asr::vosk::{VoskConfig, VoskRecognizer};
use media::asr::{chunk_samples, stream_pair, AsrError, AsrEvent, AsrInput, Grammar, Recognizer, QUEUE_CHUNKS};

const RATE: u32 = 16_000;
const PACKET: usize = 320; // 20 ms at 16 kHz

#[tokio::test]
async fn packets_are_batched_into_100ms_chunks_in_order() {
    let (mut stream, mut engine) = stream_pair(RATE);
    assert_eq!(chunk_samples(RATE), 1600);
    let samples: Vec<i16> = (0..16_100).map(|i| (i % 30_000) as i16).collect();
    for packet in samples.chunks(PACKET) {
        stream.push(packet).unwrap();
    }
    stream.end_of_speech().unwrap();
    let mut received = Vec::new();
    let mut sizes = Vec::new();
    while let AsrInput::Audio(chunk) = engine.recv().await.unwrap() {
        sizes.push(chunk.len());
        received.extend_from_slice(&chunk);
        engine.recycle(chunk);
    }
    assert_eq!(sizes, [1600, 1600, 1600, 1600, 1600, 1600, 1600, 1600, 1600, 1600, 100]);
    assert_eq!(received, samples);
    assert_eq!(stream.dropped_samples(), 0);
}

#[tokio::test]
async fn chunk_buffers_are_recycled() {
    let (mut stream, mut engine) = stream_pair(RATE);
    let chunk = vec![7i16; 1600];
    let mut pointers = Vec::new();
    for _ in 0..3 {
        stream.push(&chunk).unwrap();
        let Some(AsrInput::Audio(buf)) = engine.recv().await else { panic!("expected audio") };
        pointers.push(buf.as_ptr() as usize);
        engine.recycle(buf);
    }
    // The first buffer came back and was filled again for the third chunk.
    assert_eq!(pointers[0], pointers[2]);
    assert_ne!(pointers[0], pointers[1]);
}

#[tokio::test]
async fn a_full_queue_drops_and_counts_without_blocking_and_keeps_end_of_speech() {
    let (mut stream, mut engine) = stream_pair(RATE);
    let chunk = vec![1i16; 1600];
    for _ in 0..QUEUE_CHUNKS + 10 {
        stream.push(&chunk).unwrap(); // never blocks: nobody reads yet
    }
    assert_eq!(stream.dropped_samples(), 10 * 1600);
    stream.end_of_speech().unwrap();
    let mut chunks = 0;
    while let Some(AsrInput::Audio(_)) = engine.recv().await {
        chunks += 1;
    }
    assert_eq!(chunks, QUEUE_CHUNKS, "the audio before the overflow arrives, then end of speech");
}

#[tokio::test]
async fn events_are_partials_then_one_final_then_none() {
    let (mut stream, engine) = stream_pair(RATE);
    engine.partial("sa".into());
    engine.partial("sales".into());
    engine.finish(AsrEvent::Final { text: "sales".into(), confidence: 0.9 }).await;
    assert!(matches!(stream.next_event().await, Some(AsrEvent::Partial { text }) if text == "sa"));
    assert!(matches!(stream.next_event().await, Some(AsrEvent::Partial { text }) if text == "sales"));
    assert!(matches!(stream.next_event().await, Some(AsrEvent::Final { text, .. }) if text == "sales"));
    assert!(stream.next_event().await.is_none());
    // The worker is gone: pushing says so instead of queueing into nowhere.
    assert!(matches!(stream.push(&[0; PACKET]), Err(AsrError::Closed)));
}

#[tokio::test]
async fn push_after_end_of_speech_is_refused_and_end_is_idempotent() {
    let (mut stream, _engine) = stream_pair(RATE);
    stream.push(&[0; PACKET]).unwrap();
    stream.end_of_speech().unwrap();
    stream.end_of_speech().unwrap();
    assert!(matches!(stream.push(&[0; PACKET]), Err(AsrError::Ended)));
}

#[tokio::test]
async fn dropping_the_stream_cancels_the_engine() {
    let (mut stream, mut engine) = stream_pair(RATE);
    stream.push(&[0; 2000]).unwrap();
    drop(stream);
    assert!(matches!(engine.recv().await, Some(AsrInput::Audio(_))));
    assert!(engine.recv().await.is_none(), "no end of speech: cancelled");
    engine.cancelled().await;
    assert!(engine.is_cancelled());
}

#[tokio::test]
async fn split_halves_work_from_a_plain_thread() {
    let (stream, mut engine) = stream_pair(RATE);
    let (mut sink, mut events) = stream.split();
    let pusher = std::thread::spawn(move || {
        for _ in 0..10 {
            sink.push(&[3; PACKET]).unwrap();
        }
        sink.end_of_speech().unwrap();
    });
    let mut total = 0;
    while let Some(AsrInput::Audio(chunk)) = engine.recv().await {
        total += chunk.len();
    }
    pusher.join().unwrap();
    assert_eq!(total, 10 * PACKET);
    engine.finish(AsrEvent::Final { text: String::new(), confidence: 0.0 }).await;
    assert!(matches!(events.next().await, Some(AsrEvent::Final { .. })));
}

#[test]
fn start_outside_a_runtime_is_an_error() {
    let recognizer = VoskRecognizer::new(VoskConfig::default()).unwrap();
    assert!(matches!(recognizer.start(&Grammar::default(), "en-US"), Err(AsrError::NoRuntime)));
}
