-- Centralita store, version 1. Portable SQL: valid for SQLite and PostgreSQL
-- alike (see store/mod.rs): TEXT ids, BIGINT Unix milliseconds, BIGINT 0/1
-- for booleans (sqlx's Any driver cannot decode SQLite BOOLEAN columns),
-- DOUBLE PRECISION for money, JSON as TEXT.

-- One row per call leg handled by a Call task: the CDR.
CREATE TABLE calls (
    id              TEXT PRIMARY KEY,
    sip_call_id     TEXT NOT NULL,
    caller          TEXT NOT NULL,
    called          TEXT NOT NULL,
    flow            TEXT NOT NULL,
    flow_version    TEXT NOT NULL,
    direction       TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    started_at      BIGINT NOT NULL,
    answered_at     BIGINT,
    first_prompt_at BIGINT,
    ended_at        BIGINT,
    outcome         TEXT,
    hangup_side     TEXT,
    hangup_cause    TEXT,
    ab_variant      TEXT
);
CREATE INDEX calls_started ON calls (started_at, id);
CREATE INDEX calls_caller ON calls (caller, started_at);
CREATE INDEX calls_open ON calls (started_at) WHERE ended_at IS NULL;

-- What happened inside the flow, in order (seq is the Call task's counter).
CREATE TABLE call_steps (
    call_id     TEXT NOT NULL REFERENCES calls (id),
    seq         BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    node        TEXT NOT NULL,
    detail      TEXT NOT NULL,
    confidence  DOUBLE PRECISION,
    duration_ms BIGINT,
    PRIMARY KEY (call_id, seq)
);

-- One row per REFER / B2BUA attempt, written when its result is known.
CREATE TABLE transfers (
    id          TEXT PRIMARY KEY,
    call_id     TEXT NOT NULL REFERENCES calls (id),
    target      TEXT NOT NULL,
    mode        TEXT NOT NULL,
    result_code BIGINT,
    tried_at    BIGINT NOT NULL,
    answered_ms BIGINT,
    ok          BIGINT NOT NULL CHECK (ok IN (0, 1))
);
CREATE INDEX transfers_call ON transfers (call_id);

CREATE TABLE consents (
    id      TEXT PRIMARY KEY,
    call_id TEXT NOT NULL REFERENCES calls (id),
    caller  TEXT NOT NULL,
    purpose TEXT NOT NULL,
    granted BIGINT NOT NULL CHECK (granted IN (0, 1)),
    at      BIGINT NOT NULL
);
CREATE INDEX consents_call ON consents (call_id);
CREATE INDEX consents_caller ON consents (caller, at);

CREATE TABLE survey_answers (
    id      TEXT PRIMARY KEY,
    call_id TEXT NOT NULL REFERENCES calls (id),
    kind    TEXT NOT NULL CHECK (kind IN ('csat', 'nps')),
    score   BIGINT NOT NULL,
    at      BIGINT NOT NULL,
    CHECK ((kind = 'csat' AND score BETWEEN 1 AND 5) OR (kind = 'nps' AND score BETWEEN 0 AND 10))
);
CREATE INDEX survey_answers_call ON survey_answers (call_id);

-- Leads, orders, re-contact requests: what the CRM must hear about.
CREATE TABLE business_events (
    id              TEXT PRIMARY KEY,
    call_id         TEXT REFERENCES calls (id),
    caller          TEXT NOT NULL,
    kind            TEXT NOT NULL,
    value           DOUBLE PRECISION,
    currency        TEXT,
    payload         TEXT NOT NULL,
    at              BIGINT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE
);
CREATE INDEX business_events_call ON business_events (call_id);

CREATE TABLE ab_assignments (
    call_id    TEXT NOT NULL REFERENCES calls (id),
    experiment TEXT NOT NULL,
    variant    TEXT NOT NULL,
    PRIMARY KEY (call_id, experiment)
);

-- Transactional outbox: deliveries to the outside world, retried with
-- back-off; dead_at is set (and the row kept) after the last attempt.
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    payload         TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    delivered_at    BIGINT,
    dead_at         BIGINT,
    last_error      TEXT,
    idempotency_key TEXT NOT NULL,
    UNIQUE (kind, idempotency_key)
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE delivered_at IS NULL AND dead_at IS NULL;

CREATE TABLE do_not_call (
    number   TEXT PRIMARY KEY,
    added_at BIGINT NOT NULL,
    reason   TEXT NOT NULL
);
