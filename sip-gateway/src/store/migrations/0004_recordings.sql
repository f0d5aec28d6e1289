-- Issue #19: call recordings. A call's WAV (RECORDING_PATH, set when the
-- recording starts, so a crash leaves it findable), why it was or was not
-- recorded (RECORDING_STATUS: recording, recorded, never, refused,
-- no_consent, not_started, failed, deleted; RECORDING_REASON in words), its
-- length, size and channels once closed, and when it was deleted
-- (DELETE /v1/calls/{id}/recording or the retention sweep).
ALTER TABLE calls ADD COLUMN recording_status TEXT;
ALTER TABLE calls ADD COLUMN recording_reason TEXT;
ALTER TABLE calls ADD COLUMN recording_path TEXT;
ALTER TABLE calls ADD COLUMN recording_duration_ms BIGINT;
ALTER TABLE calls ADD COLUMN recording_bytes BIGINT;
ALTER TABLE calls ADD COLUMN recording_channels BIGINT;
ALTER TABLE calls ADD COLUMN recording_deleted_at BIGINT;
