//! Call recordings at the edge (issue #19): `[recording]`, the writer task
//! of one call, the start-up repair of recordings a crash left open, and
//! the daily retention sweep.
//!
//! The call's core decides *whether* to record (the flow's `recording:`
//! policy, its nodes' `record:`, the caller's consent:
//! [`dialogs::RecordingGate`]); the call task performs it with a
//! [`CallRecording`]: a WAV file named by the call id in `[recording].dir`,
//! written by a tokio task from a bounded queue the media legs feed
//! (`media::recorder`: a full queue drops frames and counts them, RTP never
//! waits). The file is finished (header, fsync) before the call's end is
//! committed; the call record gets its path, length, size and channels, or
//! why there is none.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use media::recorder::{RecordChannel, RecordError, RecordInput, RecordMode, RecordSpec, RecordSummary, RecordTap, StereoWav};
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::metrics::metrics;
use crate::store::{RecordingUpdate, Store};

/// `[recording]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordingConfig {
    /// Where the WAV files go (`CALL_ID.wav`); created if missing.
    pub dir: PathBuf,
    /// Recordings of calls older than this many days are deleted by a
    /// daily sweep (and their records marked); 0 keeps them for ever.
    pub retention_days: u32,
    /// 20 ms frames that may wait for the writer per call (both channels:
    /// 100 a second); beyond, frames are dropped and counted.
    pub queue_frames: usize,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        RecordingConfig { dir: "recordings".into(), retention_days: 0, queue_frames: 500 }
    }
}

impl RecordingConfig {
    /// The file of call `call_id` (its characters outside `[A-Za-z0-9._@-]`
    /// replaced, so a Call-ID cannot leave the directory).
    pub fn path_for(&self, call_id: &str) -> PathBuf {
        let safe: String =
            call_id.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-') { c } else { '_' }).collect();
        let safe = safe.trim_start_matches('.');
        self.dir.join(format!("{safe}.wav"))
    }
}

/// One call's recording: the tap the media legs feed and its writer task.
#[derive(Debug)]
pub struct CallRecording {
    tap: RecordTap,
    path: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    writer: JoinHandle<Result<RecordSummary, RecordError>>,
}

impl CallRecording {
    /// Creates the file and starts its writer.
    pub fn start(config: &RecordingConfig, call_id: &str) -> Result<Self, RecordError> {
        std::fs::create_dir_all(&config.dir)?;
        let path = config.path_for(call_id);
        let wav = StereoWav::create(&path)?;
        let (tap, rx) = RecordTap::channel(config.queue_frames);
        let (stop, stopped) = oneshot::channel();
        let writer = tokio::spawn(write(wav, rx, stopped));
        metrics().recordings_started.inc();
        Ok(CallRecording { tap, path, stop: Some(stop), writer })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the caller's leg records: the caller (received) left, the bot
    /// (what it sends) right.
    pub fn caller_spec(&self) -> RecordSpec {
        RecordSpec { tap: self.tap.clone(), received: RecordChannel::Caller, sent: Some(RecordChannel::Bot) }
    }

    /// What the agent's leg records once bridged: the agent on the right.
    pub fn agent_spec(&self) -> RecordSpec {
        RecordSpec { tap: self.tap.clone(), received: RecordChannel::Bot, sent: None }
    }

    /// On, paused (silence) or off, from `at`.
    pub async fn set_mode(&self, mode: RecordMode, at: Instant) {
        self.tap.set_mode(mode, at).await;
    }

    /// Ends the writer: what is queued is written, the header fixed, the
    /// file fsynced and closed.
    pub async fn finish(mut self) -> Result<RecordSummary, RecordError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let dropped = self.tap.dropped();
        metrics().recording_queue_drops.inc_by(dropped);
        if dropped > 0 {
            tracing::warn!(dropped, path = %self.path.display(), "recording frames dropped (writer queue full)");
        }
        let result = match self.writer.await {
            Ok(r) => r,
            Err(e) => Err(RecordError::Io(std::io::Error::other(e.to_string()))),
        };
        match &result {
            Ok(summary) => {
                metrics().recordings_completed.inc();
                metrics().recording_bytes.inc_by(summary.bytes);
            }
            Err(e) => {
                metrics().recordings_failed.inc();
                tracing::error!(error = %e, path = %self.path.display(), "recording not closed");
            }
        }
        result
    }
}

/// The writer task: frames and state changes until told to stop, then the
/// rest of the queue, then the file is finished off the runtime's threads.
async fn write(
    mut wav: StereoWav,
    mut rx: mpsc::Receiver<RecordInput>,
    mut stopped: oneshot::Receiver<()>,
) -> Result<RecordSummary, RecordError> {
    let mut failed: Option<RecordError> = None;
    loop {
        tokio::select! {
            input = rx.recv() => match input {
                Some(input) => {
                    if failed.is_none() {
                        if let Err(e) = wav.handle(input) {
                            failed = Some(e);
                        }
                    }
                }
                None => break,
            },
            _ = &mut stopped => break,
        }
    }
    while let Ok(input) = rx.try_recv() {
        if failed.is_none() {
            if let Err(e) = wav.handle(input) {
                failed = Some(e);
            }
        }
    }
    if let Some(e) = failed {
        return Err(e);
    }
    match tokio::task::spawn_blocking(move || wav.finish()).await {
        Ok(r) => r,
        Err(e) => Err(RecordError::Io(std::io::Error::other(e.to_string()))),
    }
}

/// The record of a finished recording.
pub fn recorded(call_id: &str, path: &Path, summary: &RecordSummary) -> RecordingUpdate {
    RecordingUpdate {
        call_id: call_id.to_owned(),
        status: "recorded".into(),
        reason: None,
        path: Some(path.display().to_string()),
        duration_ms: Some(summary.duration_ms() as i64),
        bytes: Some(summary.bytes as i64),
        channels: Some(i64::from(summary.channels)),
    }
}

/// At start-up, before open calls are marked interrupted: the WAV of each
/// call the gateway stopped under gets its header fixed and its record
/// filled in. Returns how many were repaired.
pub async fn repair_open(store: &Store) -> usize {
    let open = match store.open_recordings().await {
        Ok(open) => open,
        Err(e) => {
            tracing::error!(error = %e, "open recordings not listed");
            return 0;
        }
    };
    let mut repaired = 0;
    for rec in open {
        let path = PathBuf::from(&rec.path);
        let result = tokio::task::spawn_blocking({
            let path = path.clone();
            move || media::recorder::repair_wav(&path)
        })
        .await;
        let update = match result {
            Ok(Ok(Some(summary))) => {
                repaired += 1;
                tracing::info!(call_id = %rec.call_id, path = %rec.path, samples = summary.samples, "recording repaired after a restart");
                RecordingUpdate { reason: Some("repaired after a gateway restart".into()), ..recorded(&rec.call_id, &path, &summary) }
            }
            other => {
                tracing::warn!(call_id = %rec.call_id, path = %rec.path, result = ?other.map(|r| r.map(|_| ())), "recording could not be repaired");
                RecordingUpdate {
                    call_id: rec.call_id.clone(),
                    status: "failed".into(),
                    reason: Some("the gateway stopped and the file could not be repaired".into()),
                    path: None,
                    duration_ms: None,
                    bytes: None,
                    channels: None,
                }
            }
        };
        if let Err(e) = store.recording_update(update).await {
            tracing::error!(error = %e, "repaired recording not recorded");
        }
    }
    repaired
}

/// Deletes call `id`'s recording file and marks its record (`why`: `api`
/// or `retention`). Ok(false): the call has no recording to delete.
pub async fn delete(store: &Store, id: &str, path: &str, why: &str, now: i64) -> Result<bool, crate::store::StoreError> {
    match tokio::fs::remove_file(path).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(error = %e, %path, "recording file not removed"),
    }
    let marked = store.recording_deleted(id, now, why).await?;
    tracing::info!(call_id = %id, %path, why, "recording deleted");
    Ok(marked)
}

/// One retention pass: recordings of calls started more than
/// `retention_days` before `now` (Unix ms) are deleted. Returns how many.
pub async fn sweep(store: &Store, retention_days: u32, now: i64) -> usize {
    if retention_days == 0 {
        return 0;
    }
    let before = now - i64::from(retention_days) * 86_400_000;
    let expired = match store.expired_recordings(before).await {
        Ok(expired) => expired,
        Err(e) => {
            tracing::error!(error = %e, "expired recordings not listed");
            return 0;
        }
    };
    let mut deleted = 0;
    for rec in expired {
        if matches!(delete(store, &rec.call_id, &rec.path, "retention", now).await, Ok(true)) {
            deleted += 1;
        }
    }
    deleted
}

/// The daily retention sweep (first pass at start-up).
pub fn spawn_sweeper(store: Store, retention_days: u32) -> Option<JoinHandle<()>> {
    (retention_days > 0).then(|| {
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(86_400));
            loop {
                every.tick().await;
                let n = sweep(&store, retention_days, crate::call::unix_ms()).await;
                tracing::info!(deleted = n, retention_days, "recording retention sweep");
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_stay_in_the_directory() {
        let c = RecordingConfig::default();
        assert_eq!(c.path_for("a1b2@127.0.0.1"), PathBuf::from("recordings/a1b2@127.0.0.1.wav"));
        assert_eq!(c.path_for("../../etc/passwd"), PathBuf::from("recordings/_.._etc_passwd.wav"));
    }

    #[tokio::test]
    async fn a_recording_is_written_closed_and_counted() {
        let dir = std::env::temp_dir().join(format!("centralita-rec-edge-{}", std::process::id()));
        let config = RecordingConfig { dir: dir.clone(), ..RecordingConfig::default() };
        let rec = CallRecording::start(&config, "call-1").expect("starts");
        let t0 = Instant::now();
        rec.set_mode(RecordMode::On, t0).await;
        let spec = rec.caller_spec();
        for i in 0..50u64 {
            let at = t0 + Duration::from_millis(i * 20);
            spec.tap.push(RecordChannel::Caller, at, &[100; 160]);
            spec.tap.push(RecordChannel::Bot, at, &[200; 160]);
            tokio::task::yield_now().await;
        }
        let path = rec.path().to_owned();
        let summary = rec.finish().await.expect("finished");
        assert_eq!(summary.duration_ms(), 1000);
        let bytes = std::fs::read(&path).expect("the file");
        assert_eq!(&bytes[..4], b"RIFF");
        assert_eq!(u16::from_le_bytes([bytes[22], bytes[23]]), 2, "stereo");
        assert_eq!(bytes.len() as u64, summary.bytes);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[tokio::test]
    async fn the_retention_sweep_deletes_old_files_and_marks_them() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open(&format!("sqlite://{}", dir.path().join("c.db").display())).await.expect("store");
        let day = 86_400_000i64;
        for (id, started_at) in [("old", 0), ("new", 9 * day)] {
            let call = crate::store::NewCall {
                id: id.into(),
                sip_call_id: id.into(),
                caller: "+1".into(),
                called: "2".into(),
                flow: "f".into(),
                flow_version: "1".into(),
                direction: crate::store::Direction::Inbound,
                started_at,
                ab_variant: None,
            };
            store.insert_call(call).await.expect("call");
            let path = dir.path().join(format!("{id}.wav"));
            std::fs::write(&path, b"RIFF").expect("file");
            let summary = RecordSummary { samples: 8000, bytes: 4, channels: 2 };
            store.recording_update(recorded(id, &path, &summary)).await.expect("recording");
        }
        assert_eq!(sweep(&store, 0, 10 * day).await, 0, "0 keeps everything");
        assert_eq!(sweep(&store, 5, 10 * day).await, 1);
        assert!(!dir.path().join("old.wav").exists() && dir.path().join("new.wav").exists());
        let old = store.recording("old").await.expect("read").expect("call").expect("recording");
        assert_eq!((old.status.as_str(), old.reason.as_deref()), ("deleted", Some("deleted (retention)")));
        assert_eq!(sweep(&store, 5, 10 * day).await, 0, "once");
    }
}
