-- Issue #12: each transfer attempt's outcome, ring time and, once bridged,
-- how long the caller and the agent talked through the gateway.
ALTER TABLE transfers ADD COLUMN outcome TEXT;
ALTER TABLE transfers ADD COLUMN ring_ms BIGINT;
ALTER TABLE transfers ADD COLUMN bridge_ms BIGINT;
