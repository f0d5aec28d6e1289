//! Call recording (issue #19): a tap on the media path and the WAV writer
//! it feeds.
//!
//! The tap ([`RecordTap`]) lives in an [`crate::RtpSession`] on a media
//! shard: each 20 ms of decoded caller audio it receives, and each frame of
//! prompt audio it sends, goes as one fixed-size [`RecordFrame`] (no
//! allocation) into a bounded channel with `try_send`. A full queue drops
//! the frame and counts it ([`RecordTap::dropped`]); RTP never waits for
//! the disk.
//!
//! The writer ([`StereoWav`]) takes the frames (on a task of the call's
//! edge), places each at its instant on the call's timeline (8 kHz
//! samples since the recording began), and writes one 8 kHz 16-bit stereo
//! WAV: the caller on the left channel, the bot (prompts, hold music, the
//! whisper is not sent to the caller) or, once bridged, the agent on the
//! right. Gaps (a caller who sends nothing, a pause) are silence, so the
//! two channels stay aligned and the file's length is the call's. It never
//! reads a clock: instants come with the frames and the state changes.
//!
//! A crash leaves a file whose header sizes are stale; [`repair_wav`]
//! rewrites them from the file's length (the gateway runs it at start-up
//! on recordings of calls left open).

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use crate::codec::FRAME_SAMPLES;

/// The recording's rate (the call's G.711 rate).
pub const RECORD_RATE: u32 = 8_000;
/// A channel may start this far (60 ms) after where the other left it and
/// still be appended without a gap: RTP arrival jitter.
const JITTER_SAMPLES: u64 = 480;
/// The written part of the file may trail the faster channel by this
/// much (200 ms); beyond it the slower channel is filled with silence.
const MAX_LAG: usize = 1_600;
/// A channel more than this (1 s) ahead of its instant drops its frames
/// (a burst faster than real time).
const MAX_AHEAD: u64 = 8_000;

/// Which side of the stereo file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordChannel {
    /// Left: the caller.
    Caller = 0,
    /// Right: the bot's prompts, or the agent once bridged.
    Bot = 1,
}

/// 20 ms of one channel at its instant. Fixed size: no allocation.
#[derive(Debug, Clone)]
pub struct RecordFrame {
    pub channel: RecordChannel,
    pub at: Instant,
    pub len: u16,
    pub samples: [i16; FRAME_SAMPLES],
}

impl RecordFrame {
    /// The frame's samples.
    pub fn audio(&self) -> &[i16] {
        &self.samples[..usize::from(self.len).min(FRAME_SAMPLES)]
    }
}

/// What the writer is told: a frame from the media path, or a change of
/// the recorder's state from the call (sent with an awaited `send`).
#[derive(Debug, Clone)]
pub enum RecordInput {
    Frame(Box<RecordFrame>),
    /// Writing (`On`), writing silence (`Paused`) or not writing (`Off`:
    /// the span until the next `On` is left out of the file).
    State(RecordMode, Instant),
}

/// The writer's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordMode {
    Off,
    On,
    Paused,
}

/// The sending side of a recording, cloned into each leg that records.
#[derive(Debug, Clone)]
pub struct RecordTap {
    tx: mpsc::Sender<RecordInput>,
    dropped: Arc<AtomicU64>,
}

impl RecordTap {
    /// A tap and the writer's receiving end; `capacity` frames (50 a second
    /// per channel) may wait before frames are dropped.
    pub fn channel(capacity: usize) -> (RecordTap, mpsc::Receiver<RecordInput>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (RecordTap { tx, dropped: Arc::new(AtomicU64::new(0)) }, rx)
    }

    /// Offers one frame; never waits. A full queue drops it and counts.
    pub fn push(&self, channel: RecordChannel, at: Instant, audio: &[i16]) {
        for chunk in audio.chunks(FRAME_SAMPLES) {
            let mut samples = [0i16; FRAME_SAMPLES];
            samples[..chunk.len()].copy_from_slice(chunk);
            let frame = RecordFrame { channel, at, len: chunk.len() as u16, samples };
            match self.tx.try_send(RecordInput::Frame(Box::new(frame))) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
    }

    /// Frames dropped because the writer's queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Tells the writer about a state change (awaited: never dropped).
    pub async fn set_mode(&self, mode: RecordMode, at: Instant) -> bool {
        self.tx.send(RecordInput::State(mode, at)).await.is_ok()
    }
}

/// What a session records: its received audio on one channel and,
/// optionally, what it sends on another.
#[derive(Debug, Clone)]
pub struct RecordSpec {
    pub tap: RecordTap,
    pub received: RecordChannel,
    pub sent: Option<RecordChannel>,
}

/// Errors of the writer.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("recording file: {0}")]
    Io(#[from] std::io::Error),
    #[error("recording WAV: {0}")]
    Wav(#[from] hound::Error),
}

/// What a finished recording holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecordSummary {
    /// Stereo sample frames written (8 kHz).
    pub samples: u64,
    /// The file's size in bytes.
    pub bytes: u64,
    pub channels: u16,
}

impl RecordSummary {
    /// The recording's length in milliseconds.
    pub fn duration_ms(&self) -> u64 {
        self.samples * 1000 / u64::from(RECORD_RATE)
    }
}

/// The two channels placed on one timeline, ready to interleave. Pure: the
/// writer and the tests drive it.
#[derive(Debug, Default)]
pub struct StereoTimeline {
    /// Samples already handed out.
    base: u64,
    channels: [VecDeque<i16>; 2],
    mode: Option<RecordMode>,
    /// Samples of the timeline left out (spans when `Off`).
    cut: u64,
    off_since: Option<u64>,
    origin: Option<Instant>,
}

impl StereoTimeline {
    fn position(&self, at: Instant) -> u64 {
        let origin = self.origin.unwrap_or(at);
        let micros = at.saturating_duration_since(origin).as_micros() as u64;
        (micros * u64::from(RECORD_RATE) / 1_000_000).saturating_sub(self.cut)
    }

    /// A state change at `at`.
    pub fn set_mode(&mut self, mode: RecordMode, at: Instant) {
        if self.origin.is_none() {
            if mode == RecordMode::Off {
                return;
            }
            self.origin = Some(at);
        }
        let raw = self.position(at) + self.cut;
        match (self.mode, mode) {
            (Some(RecordMode::Off), RecordMode::On | RecordMode::Paused) => {
                if let Some(since) = self.off_since.take() {
                    self.cut += raw.saturating_sub(since);
                }
            }
            (_, RecordMode::Off) => self.off_since = Some(raw),
            _ => {}
        }
        self.mode = Some(mode);
    }

    /// One frame; silence instead while paused, nothing while off.
    pub fn push(&mut self, channel: RecordChannel, at: Instant, audio: &[i16]) {
        let mode = match self.mode {
            Some(m @ (RecordMode::On | RecordMode::Paused)) => m,
            _ => return,
        };
        let pos = self.position(at);
        let ch = &mut self.channels[channel as usize];
        let end = self.base + ch.len() as u64;
        if end > pos + MAX_AHEAD {
            return;
        }
        if pos > end + JITTER_SAMPLES {
            ch.extend(std::iter::repeat_n(0, (pos - end) as usize));
        }
        if mode == RecordMode::Paused {
            ch.extend(std::iter::repeat_n(0, audio.len()));
        } else {
            ch.extend(audio.iter().copied());
        }
    }

    /// Interleaved stereo samples ready to write (both channels known, or
    /// the slower one more than 200 ms behind: filled with silence); with
    /// `all`, everything (the end of the call).
    pub fn drain(&mut self, all: bool, mut write: impl FnMut(i16, i16)) -> u64 {
        let [l, r] = &mut self.channels;
        let longest = l.len().max(r.len());
        let ready = if all { longest } else { l.len().min(r.len()).max(longest.saturating_sub(MAX_LAG)) };
        for ch in [&mut *l, &mut *r] {
            if ch.len() < ready {
                ch.resize(ready, 0);
            }
        }
        for (a, b) in l.drain(..ready).zip(r.drain(..ready)) {
            write(a, b);
        }
        self.base += ready as u64;
        ready as u64
    }
}

/// The WAV file of one call. See the module doc.
pub struct StereoWav {
    writer: hound::WavWriter<BufWriter<File>>,
    timeline: StereoTimeline,
    samples: u64,
    unflushed: u64,
    path: std::path::PathBuf,
}

impl std::fmt::Debug for StereoWav {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StereoWav").field("samples", &self.samples).finish()
    }
}

/// The recordings' WAV format.
pub fn wav_spec() -> hound::WavSpec {
    hound::WavSpec { channels: 2, sample_rate: RECORD_RATE, bits_per_sample: 16, sample_format: hound::SampleFormat::Int }
}

impl StereoWav {
    /// Creates (truncates) the file.
    pub fn create(path: &Path) -> Result<Self, RecordError> {
        let file = File::create(path)?;
        let writer = hound::WavWriter::new(BufWriter::with_capacity(64 * 1024, file), wav_spec())?;
        Ok(StereoWav { writer, timeline: StereoTimeline::default(), samples: 0, unflushed: 0, path: path.to_owned() })
    }

    /// One input from the tap or the call.
    pub fn handle(&mut self, input: RecordInput) -> Result<(), RecordError> {
        match input {
            RecordInput::Frame(f) => self.timeline.push(f.channel, f.at, f.audio()),
            RecordInput::State(mode, at) => self.timeline.set_mode(mode, at),
        }
        self.write(false)
    }

    fn write(&mut self, all: bool) -> Result<(), RecordError> {
        let mut result = Ok(());
        let writer = &mut self.writer;
        let n = self.timeline.drain(all, |l, r| {
            if result.is_ok() {
                result = writer.write_sample(l).and_then(|()| writer.write_sample(r));
            }
        });
        result?;
        self.samples += n;
        self.unflushed += n;
        // The header follows the data about every second: a crash loses at
        // most that much (and `repair_wav` recovers even that).
        if self.unflushed >= u64::from(RECORD_RATE) {
            self.unflushed = 0;
            self.writer.flush()?;
        }
        Ok(())
    }

    /// Stereo sample frames written so far.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Writes what is left, fixes the header, fsyncs and closes.
    pub fn finish(mut self) -> Result<RecordSummary, RecordError> {
        self.write(true)?;
        let samples = self.samples;
        self.writer.finalize()?;
        // hound's writer flushed and closed its descriptor; fsync the file
        // through a new one (fsync is per file, not per descriptor).
        let file = File::open(&self.path)?;
        file.sync_all()?;
        let bytes = file.metadata()?.len();
        Ok(RecordSummary { samples, bytes, channels: 2 })
    }
}

/// Fixes the RIFF and `data` sizes of a WAV left by a crash (their values
/// are those of the last flush) from the file's length, dropping a partial
/// sample frame at the end. Returns the repaired summary, or `None` when
/// the file is not a WAV this module wrote.
pub fn repair_wav(path: &Path) -> Result<Option<RecordSummary>, RecordError> {
    let mut file = OpenOptions::new().read(true).write(true).open(path)?;
    let len = file.metadata()?.len();
    let mut head = [0u8; 12];
    if len < 12 || file.read_exact(&mut head).is_err() || &head[0..4] != b"RIFF" || &head[8..12] != b"WAVE" {
        return Ok(None);
    }
    let mut at = 12u64;
    let mut block_align = 4u64;
    let mut channels = 2u16;
    while at + 8 <= len {
        let mut chunk = [0u8; 8];
        file.seek(SeekFrom::Start(at))?;
        file.read_exact(&mut chunk)?;
        let size = u64::from(u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]));
        if &chunk[0..4] == b"fmt " {
            let mut fmt = [0u8; 16];
            file.read_exact(&mut fmt)?;
            channels = u16::from_le_bytes([fmt[2], fmt[3]]);
            block_align = u64::from(u16::from_le_bytes([fmt[12], fmt[13]])).max(1);
        }
        if &chunk[0..4] == b"data" {
            let data_start = at + 8;
            let data = (len - data_start) / block_align * block_align;
            file.set_len(data_start + data)?;
            file.seek(SeekFrom::Start(at + 4))?;
            file.write_all(&(data as u32).to_le_bytes())?;
            file.seek(SeekFrom::Start(4))?;
            file.write_all(&((data_start + data - 8) as u32).to_le_bytes())?;
            file.sync_all()?;
            return Ok(Some(RecordSummary { samples: data / block_align, bytes: data_start + data, channels }));
        }
        at += 8 + size + (size & 1);
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ms(t0: Instant, n: u64) -> Instant {
        t0 + Duration::from_millis(n)
    }

    #[test]
    fn channels_line_up_and_gaps_are_silence() {
        let t0 = Instant::now();
        let mut t = StereoTimeline::default();
        t.set_mode(RecordMode::On, t0);
        let mut out = Vec::new();
        // The bot sends every 20 ms; the caller only in the second 100 ms.
        for i in 0..10 {
            t.push(RecordChannel::Bot, ms(t0, i * 20), &[1000; 160]);
            if i >= 5 {
                t.push(RecordChannel::Caller, ms(t0, i * 20), &[-500; 160]);
            }
        }
        t.drain(true, |l, r| out.push((l, r)));
        assert_eq!(out.len(), 1600);
        assert!(out[..800].iter().all(|&(l, r)| l == 0 && r == 1000));
        assert!(out[800..].iter().all(|&(l, r)| l == -500 && r == 1000));
    }

    #[test]
    fn pause_writes_silence_and_off_cuts() {
        let t0 = Instant::now();
        let mut t = StereoTimeline::default();
        t.set_mode(RecordMode::On, t0);
        let frame = |t: &mut StereoTimeline, n: u64| {
            t.push(RecordChannel::Caller, ms(t0, n), &[7; 160]);
            t.push(RecordChannel::Bot, ms(t0, n), &[9; 160]);
        };
        frame(&mut t, 0);
        t.set_mode(RecordMode::Paused, ms(t0, 20));
        frame(&mut t, 20);
        t.set_mode(RecordMode::On, ms(t0, 40));
        t.set_mode(RecordMode::Off, ms(t0, 40));
        frame(&mut t, 40); // not recorded
        frame(&mut t, 60);
        t.set_mode(RecordMode::On, ms(t0, 80));
        frame(&mut t, 80);
        let mut out = Vec::new();
        t.drain(true, |l, r| out.push((l, r)));
        assert_eq!(out.len(), 480, "the off span is cut, not silent");
        assert!(out[..160].iter().all(|&s| s == (7, 9)));
        assert!(out[160..320].iter().all(|&s| s == (0, 0)));
        assert!(out[320..].iter().all(|&s| s == (7, 9)));
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        let (tap, mut rx) = RecordTap::channel(2);
        let t0 = Instant::now();
        for _ in 0..5 {
            tap.push(RecordChannel::Caller, t0, &[0; 160]);
        }
        assert_eq!(tap.dropped(), 3);
        assert!(rx.try_recv().is_ok());
    }

    #[test]
    fn a_wav_is_written_and_a_torn_one_repaired() {
        let dir = std::env::temp_dir().join(format!("centralita-rec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("call.wav");
        let t0 = Instant::now();
        let mut wav = StereoWav::create(&path).expect("create");
        wav.handle(RecordInput::State(RecordMode::On, t0)).expect("on");
        for i in 0..100 {
            for ch in [RecordChannel::Caller, RecordChannel::Bot] {
                let frame = RecordFrame { channel: ch, at: ms(t0, i * 20), len: 160, samples: [ch as i16 + 1; 160] };
                wav.handle(RecordInput::Frame(Box::new(frame))).expect("frame");
            }
        }
        let summary = wav.finish().expect("finish");
        assert_eq!(summary.samples, 16_000);
        assert_eq!(summary.duration_ms(), 2000);
        assert_eq!(summary.bytes, 44 + 16_000 * 4);
        let reader = hound::WavReader::open(&path).expect("open");
        assert_eq!(reader.spec(), wav_spec());
        let samples: Vec<i16> = reader.into_samples::<i16>().map(|s| s.expect("sample")).collect();
        assert_eq!(&samples[..4], &[1, 2, 1, 2]);

        // A crash: the header says less than the file holds, plus half a frame.
        let mut bytes = std::fs::read(&path).expect("read");
        bytes[4..8].copy_from_slice(&36u32.to_le_bytes());
        bytes[40..44].copy_from_slice(&0u32.to_le_bytes());
        bytes.extend_from_slice(&[1, 0]);
        std::fs::write(&path, &bytes).expect("write");
        let repaired = repair_wav(&path).expect("repair").expect("a wav");
        assert_eq!(repaired.samples, 16_000);
        let reader = hound::WavReader::open(&path).expect("open");
        assert_eq!(reader.len(), 32_000);
        std::fs::remove_dir_all(&dir).ok();
    }
}
